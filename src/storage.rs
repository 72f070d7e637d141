//! The SQLite schema and its migration runner.
//!
//! `migrations/` holds one SQL file per schema version, embedded here and applied in order.
//! Versions 1–5 are the earlier Serbero's schema, so its `serbero.db` (which recorded versions
//! 1..=5 in `schema_version`) is upgraded in place; later versions are ours. Every stored
//! timestamp is Unix seconds ([`now_unix`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// One schema version: the SQL of `migrations/<version>_<name>.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Embeds `migrations/<file_stem>_<name>.sql`; a test checks the listing against the folder.
macro_rules! migration {
    ($version:literal, $file_stem:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $file_stem, "_", $name, ".sql")),
        }
    };
}

/// Every migration, oldest first; versions run 1, 2, 3… without gaps.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001", "disputes_and_notifications"),
    migration!(2, "0002", "lifecycle"),
    migration!(3, "0003", "mediation"),
    migration!(4, "0004", "mediation_followup"),
    migration!(5, "0005", "escalation_dispatches"),
    migration!(6, "0006", "outbox"),
    migration!(7, "0007", "dispute_observations"),
    migration!(8, "0008", "dispute_watch"),
    migration!(9, "0009", "escalation_handoffs"),
    migration!(10, "0010", "solver_auth"),
    migration!(11, "0011", "solver_takes"),
    migration!(12, "0012", "take_evidence"),
    migration!(13, "0013", "trade_facts"),
    migration!(14, "0014", "message_formats"),
    migration!(15, "0015", "handoff_forwarding"),
    migration!(16, "0016", "scrape_index"),
    migration!(17, "0017", "take_try"),
];

/// The newest schema version this build understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open database at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create database file {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database at {path} cannot use WAL journaling (journal_mode stays {mode})")]
    WalUnavailable { path: PathBuf, mode: String },
    #[error("database at {path} is at schema version {found}, newer than this Serbero understands ({supported})")]
    TooNew { path: String, found: u32, supported: u32 },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Opens a connection with the pragmas every actor uses: journal_mode=WAL, synchronous=NORMAL,
/// busy_timeout=5000 ms, foreign_keys=ON.
///
/// A database file that does not exist yet is created first, empty and readable by its owner
/// only (0600 on Unix), so the parties' messages it will hold are never world-readable, whatever
/// the process umask; SQLite gives its `-wal` and `-shm` files the same mode. An existing file's
/// mode is left alone (see [`readable_by_others`]).
pub fn open(path: &Path) -> Result<Connection, StorageError> {
    let open_error = |source| StorageError::Open { path: path.to_path_buf(), source };
    create_private(path).map_err(|source| StorageError::Create { path: path.to_path_buf(), source })?;
    let conn = Connection::open(path).map_err(open_error)?;
    // First, so that switching to WAL waits for a daemon already holding the file instead of failing.
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::WalUnavailable { path: path.to_path_buf(), mode });
    }
    // NORMAL is durable against a process crash under WAL; only power loss can drop the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_error)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(open_error)?;
    Ok(conn)
}

/// Creates `path` empty with mode 0600 when it does not exist; SQLite then opens it as a new
/// database. Leaves an existing file (and in-memory or URI names) alone.
fn create_private(path: &Path) -> std::io::Result<()> {
    let name = path.as_os_str();
    if name.is_empty() || name == ":memory:" || path.to_str().is_some_and(|p| p.starts_with("file:")) {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// One warning line when the existing database file at `path` can be read or written by its
/// group or others (it holds the parties' messages); `None` when it is private or absent.
pub fn readable_by_others(path: &Path) -> Option<String> {
    let mode = crate::file_mode::open_to_others(path)?;
    let shown = path.display();
    Some(format!(
        "the database file {shown} is accessible to its group or others (mode {mode:04o}) and holds the \
         parties' messages; restrict it with `chmod 600 {shown}`"
    ))
}

/// Applies every missing migration; returns the versions applied (empty when up to date).
pub fn migrate(conn: &mut Connection) -> Result<Vec<u32>, StorageError> {
    let current = schema_version(conn)?;
    if current > SCHEMA_VERSION {
        // Refuse before writing anything: an older binary must not touch a newer schema.
        return Err(StorageError::TooNew {
            path: conn.path().unwrap_or_default().to_owned(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")?;
    let pending = MIGRATIONS.iter().filter(|m| m.version > current);
    let mut applied = Vec::new();
    for migration in pending {
        apply(conn, migration).map_err(|source| StorageError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        })?;
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
        applied.push(migration.version);
    }
    Ok(applied)
}

/// The newest recorded schema version; 0 for a database no Serbero has migrated yet.
pub fn schema_version(conn: &Connection) -> Result<u32, StorageError> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    // Errors propagate: a corrupt database must not pass for a fresh one.
    let newest: Option<u32> = conn.query_row("SELECT MAX(version) FROM schema_version", [], |row| row.get(0))?;
    Ok(newest.unwrap_or(0))
}

/// Seconds since the Unix epoch, the unit of every stored timestamp.
pub fn now_unix() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

/// Runs one migration and records its version in a single transaction, so a crash leaves
/// either all of it or none.
fn apply(conn: &mut Connection, migration: &Migration) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for statement in split_statements(migration.sql) {
        if !adds_existing_column(&tx, statement)? {
            tx.execute_batch(statement)?;
        }
    }
    tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [migration.version])?;
    tx.commit()
}

/// True for an `ALTER TABLE … ADD COLUMN` whose column is already there. The earlier Serbero
/// may have added v2's columns without recording the version, and SQLite has no
/// `ADD COLUMN IF NOT EXISTS`.
fn adds_existing_column(tx: &Transaction<'_>, statement: &str) -> rusqlite::Result<bool> {
    let Some((table, column)) = added_column(statement) else {
        return Ok(false);
    };
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE)",
        [table, column],
        |row| row.get(0),
    )
}

/// `(table, column)` when `statement` is `ALTER TABLE <table> ADD [COLUMN] <column> …`.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let mut words = statement.split_whitespace().map(|word| word.trim_matches('"'));
    let mut next_is = |keyword: &str| words.next().is_some_and(|w| w.eq_ignore_ascii_case(keyword));
    if !(next_is("ALTER") && next_is("TABLE")) {
        return None;
    }
    let table = words.next()?;
    if !words.next()?.eq_ignore_ascii_case("ADD") {
        return None;
    }
    let column = match words.next()? {
        word if word.eq_ignore_ascii_case("COLUMN") => words.next()?,
        word => word,
    };
    Some((table, column))
}

/// Splits SQL into statements at top-level semicolons. Comments and quoted text are skipped so a
/// `;` or `'` inside them is not taken for syntax; each statement starts at its first keyword.
/// Trigger bodies (which contain semicolons) are not supported; no migration needs one.
fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        i = if rest.starts_with(b"--") {
            end_of(bytes, i + 2, b"\n")
        } else if rest.starts_with(b"/*") {
            end_of(bytes, i + 2, b"*/")
        } else {
            let byte = bytes[i];
            match byte {
                b';' => {
                    statements.extend(start.take().map(|s| &sql[s..=i]));
                    i + 1
                }
                b'\'' | b'"' | b'`' => {
                    start.get_or_insert(i);
                    end_of(bytes, i + 1, &[byte])
                }
                _ => {
                    if !byte.is_ascii_whitespace() {
                        start.get_or_insert(i);
                    }
                    i + 1
                }
            }
        };
    }
    statements.extend(start.map(|s| &sql[s..]));
    statements
}

/// The index just past the first `pattern` at or after `from`, or the end of input.
fn end_of(bytes: &[u8], from: usize, pattern: &[u8]) -> usize {
    bytes[from..]
        .windows(pattern.len())
        .position(|window| window == pattern)
        .map_or(bytes.len(), |at| from + at + pattern.len())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rusqlite::types::Value;
    use tempfile::TempDir;

    use super::*;

    const EXPECTED_TABLES: &[&str] = &[
        "dispute_observations",
        "dispute_state_transitions",
        "dispute_watch",
        "disputes",
        "escalation_dispatches",
        "escalation_handoffs",
        "mediation_events",
        "mediation_messages",
        "mediation_sessions",
        "mediation_summaries",
        "notifications",
        "outbox",
        "party_messages",
        "reasoning_rationales",
        "schema_version",
        "solver_auth",
        "solver_takes",
        "take_evidence",
    ];

    fn fresh_db() -> (TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("serbero.db")).unwrap();
        (dir, conn)
    }

    fn migrated_db() -> (TempDir, Connection) {
        let (dir, mut conn) = fresh_db();
        migrate(&mut conn).unwrap();
        (dir, conn)
    }

    /// A database left at `version` the way the earlier Serbero built it: migrations 1..=version
    /// applied, each recorded as a row of `schema_version`.
    fn db_at_version(version: u32) -> (TempDir, Connection) {
        let (dir, mut conn) = fresh_db();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)").unwrap();
        for migration in MIGRATIONS.iter().take(version as usize) {
            apply(&mut conn, migration).unwrap();
        }
        (dir, conn)
    }

    /// Representative rows for every table that exists at `version`.
    fn insert_rows_present_at(conn: &Connection, version: u32) {
        conn.execute_batch(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
                 VALUES ('d1', 'e1', 'mostro', 'buyer', 1700000000, 1700000005),
                        ('d2', 'e2', 'mostro', 'seller', 1700000010, 1700000012);
             INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status)
                 VALUES ('d1', 'solver-a', 1700000006, 'sent');
             INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, error_message, notif_type)
                 VALUES ('d1', 'not-a-key', 1700000006, 'failed', 'invalid pubkey: bad hex', 'initial');",
        )
        .unwrap();
        if version >= 2 {
            conn.execute_batch(
                "UPDATE disputes SET lifecycle_state = 'notified', last_notified_at = 1700000006,
                                     last_state_change = 1700000006 WHERE dispute_id = 'd1';
                 INSERT INTO dispute_state_transitions (dispute_id, from_state, to_state, transitioned_at, trigger)
                     VALUES ('d1', 'new', 'notified', 1700000006, 'initial_notification');",
            )
            .unwrap();
        }
        if version >= 3 {
            conn.execute_batch(
                "INSERT INTO mediation_sessions (session_id, dispute_id, state, round_count, prompt_bundle_id,
                                                 policy_hash, started_at, last_transition_at)
                     VALUES ('s1', 'd1', 'awaiting_response', 1, 'bundle-1', 'hash-1', 1700000100, 1700000100);
                 INSERT INTO reasoning_rationales (rationale_id, session_id, provider, model, prompt_bundle_id,
                                                   policy_hash, rationale_text, generated_at)
                     VALUES ('r1', 's1', 'openai', 'model-x', 'bundle-1', 'hash-1', 'because', 1700000110);
                 INSERT INTO mediation_messages (session_id, direction, party, shared_pubkey, inner_event_id,
                                                 inner_event_created_at, content, persisted_at)
                     VALUES ('s1', 'inbound', 'buyer', 'shared-b', 'inner-1', 1700000120, 'I paid', 1700000121);
                 INSERT INTO mediation_summaries (session_id, dispute_id, classification, confidence,
                                                  suggested_next_step, summary_text, prompt_bundle_id,
                                                  policy_hash, rationale_id, generated_at)
                     VALUES ('s1', 'd1', 'payment_not_received', 0.8, 'check bank', 'summary', 'bundle-1',
                             'hash-1', 'r1', 1700000130);
                 INSERT INTO mediation_events (session_id, kind, payload_json, rationale_id, occurred_at)
                     VALUES ('s1', 'handoff_prepared', '{\"reason\":\"stuck\"}', 'r1', 1700000140);",
            )
            .unwrap();
        }
        if version >= 5 {
            conn.execute_batch(
                "INSERT INTO escalation_dispatches (dispatch_id, dispute_id, session_id, handoff_event_id,
                                                   target_solver, dispatched_at, created_at)
                     SELECT 'x1', 'd1', 's1', id, 'solver-a', 1700000150, 1700000150
                     FROM mediation_events WHERE kind = 'handoff_prepared';",
            )
            .unwrap();
        }
        if version >= 6 {
            insert_outbox_row(conn, "initial:d1:solver-a", "pending").unwrap();
        }
    }

    fn insert_outbox_row(conn: &Connection, key: &str, status: &str) -> rusqlite::Result<usize> {
        conn.execute(
            "INSERT INTO outbox (owner, idempotency_key, dispute_id, recipient, notif_type, body, event_id,
                                 event_json, status, next_attempt_at, created_at, updated_at)
             VALUES ('dispute', ?1, 'd1', 'solver-a', 'initial', 'body', 'wrap-id', '{}', ?2,
                     1700000200, 1700000200, 1700000200)",
            [key, status],
        )
    }

    /// Every row of every user table, columns in table order.
    fn all_rows(conn: &Connection) -> BTreeMap<String, Vec<Vec<Value>>> {
        let mut tables =
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").unwrap();
        let names: Vec<String> = tables.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        names
            .into_iter()
            .map(|table| {
                let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid")).unwrap();
                let width = stmt.column_count();
                let rows = stmt
                    .query_map([], |row| (0..width).map(|i| row.get(i)).collect())
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                (table, rows)
            })
            .collect()
    }

    /// Columns, foreign keys and indexes of every table, for comparing two databases.
    fn schema_description(conn: &Connection) -> Vec<String> {
        let describe = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            let lines = stmt
                .query_map([], |row| {
                    let values: Vec<Value> =
                        (0..row.as_ref().column_count()).map(|i| row.get(i)).collect::<Result<_, _>>()?;
                    Ok(format!("{values:?}"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            lines
        };
        [
            "SELECT m.name, c.name, c.type, c.\"notnull\", c.dflt_value, c.pk
             FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' ORDER BY m.name, c.cid",
            "SELECT m.name, f.\"from\", f.\"table\", f.\"to\"
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' ORDER BY 1, 2",
            "SELECT m.name, i.name, i.\"unique\"
             FROM sqlite_master m JOIN pragma_index_list(m.name) i WHERE m.type = 'table' ORDER BY 1, 2",
        ]
        .into_iter()
        .flat_map(describe)
        .collect()
    }

    fn table_names(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        let names = stmt.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        names
    }

    fn column_values(conn: &Connection, sql: &str) -> Vec<Value> {
        let mut stmt = conn.prepare(sql).unwrap();
        let values = stmt.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        values
    }

    fn assert_constraint_error(result: rusqlite::Result<usize>, expected: &str) {
        let message = result.expect_err("the insert must be rejected").to_string();
        assert!(message.contains(expected), "expected {expected:?}, got {message:?}");
    }

    #[test]
    fn fresh_database_migrates_to_the_newest_version_and_rerunning_is_a_no_op() {
        let (_dir, mut conn) = fresh_db();
        assert_eq!(schema_version(&conn).unwrap(), 0);

        let applied = migrate(&mut conn).unwrap();

        assert_eq!(applied, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(table_names(&conn), EXPECTED_TABLES);
        assert_eq!(migrate(&mut conn).unwrap(), Vec::<u32>::new());
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn open_sets_the_pragmas_every_actor_relies_on() {
        let (_dir, conn) = fresh_db();
        let pragma = |name: &str| -> Value { conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0)).unwrap() };
        assert_eq!(pragma("journal_mode"), Value::Text("wal".into()));
        assert_eq!(pragma("foreign_keys"), Value::Integer(1));
        assert_eq!(pragma("busy_timeout"), Value::Integer(5000));
        assert_eq!(pragma("synchronous"), Value::Integer(1), "1 is NORMAL");
    }

    /// The parties' messages live here: a new database and its WAL companions are the owner's
    /// alone whatever the umask; an existing file keeps its mode and is only warned about.
    #[cfg(unix)]
    #[test]
    fn a_new_database_and_its_wal_files_are_private_and_an_existing_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serbero.db");
        let mut conn = open(&path).unwrap();
        migrate(&mut conn).unwrap();
        for companion in ["serbero.db", "serbero.db-wal", "serbero.db-shm"] {
            let file = dir.path().join(companion);
            assert!(file.exists(), "{companion} exists while the connection is open in WAL mode");
            assert_eq!(mode(&file), 0o600, "{companion}");
        }
        assert_eq!(readable_by_others(&path), None);
        drop(conn);

        let shared = dir.path().join("shared.db");
        std::fs::write(&shared, b"").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(open(&shared).unwrap());
        assert_eq!(mode(&shared), 0o644, "an existing file's mode is the operator's");
        let shown = shared.display();
        assert_eq!(
            readable_by_others(&shared).as_deref(),
            Some(
                format!(
                    "the database file {shown} is accessible to its group or others (mode 0644) and holds the \
                     parties' messages; restrict it with `chmod 600 {shown}`"
                )
                .as_str()
            )
        );
        assert_eq!(readable_by_others(&dir.path().join("absent.db")), None);
    }

    #[test]
    fn every_earlier_version_upgrades_without_losing_a_row() {
        let (_fresh_dir, fresh) = migrated_db();
        for version in 1..SCHEMA_VERSION {
            let (_dir, mut conn) = db_at_version(version);
            insert_rows_present_at(&conn, version);
            let mut before = all_rows(&conn);
            before.remove("schema_version");

            let applied = migrate(&mut conn).unwrap();

            assert_eq!(applied, (version + 1..=SCHEMA_VERSION).collect::<Vec<_>>());
            let recorded = column_values(&conn, "SELECT version FROM schema_version ORDER BY version");
            let all_versions: Vec<Value> = (1..=SCHEMA_VERSION).map(|v| Value::Integer(v.into())).collect();
            assert_eq!(recorded, all_versions, "from version {version}");
            let after = all_rows(&conn);
            for (table, rows) in &before {
                let rows_after = &after[table];
                assert_eq!(rows_after.len(), rows.len(), "{table} from version {version}");
                for (old, new) in rows.iter().zip(rows_after) {
                    // Added columns come last, so the old values are a prefix of the new row.
                    assert_eq!(&new[..old.len()], old.as_slice(), "{table} from version {version}");
                }
            }
            assert_eq!(schema_description(&conn), schema_description(&fresh), "from version {version}");
            if version < 7 {
                // Version 7 introduced the observations and backfilled them from `disputes`.
                assert_backfilled_observations(&conn);
            }
        }
    }

    fn assert_backfilled_observations(conn: &Connection) {
        let observations = column_values(
            conn,
            "SELECT o.dispute_id || '|' || o.status || '|' || o.event_id || '|' || o.event_created_at
                    || '|' || o.observed_at FROM dispute_observations o ORDER BY o.dispute_id",
        );
        let expected = ["d1|initiated|e1|1700000000|1700000005", "d2|initiated|e2|1700000010|1700000012"];
        assert_eq!(observations, expected.map(|s| Value::Text(s.into())));
        let rounds = column_values(conn, "SELECT renotification_round FROM disputes");
        assert_eq!(rounds, [Value::Integer(0), Value::Integer(0)]);
    }

    #[test]
    fn version_2_columns_already_present_without_the_version_recorded_still_migrate() {
        let (_dir, mut conn) = db_at_version(1);
        conn.execute_batch(
            "ALTER TABLE disputes ADD COLUMN lifecycle_state TEXT NOT NULL DEFAULT 'new';
             ALTER TABLE disputes ADD COLUMN last_notified_at INTEGER;",
        )
        .unwrap();
        insert_rows_present_at(&conn, 1);
        conn.execute("UPDATE disputes SET lifecycle_state = 'notified' WHERE dispute_id = 'd1'", []).unwrap();

        assert_eq!(migrate(&mut conn).unwrap(), (2..=SCHEMA_VERSION).collect::<Vec<_>>());

        let columns = column_values(&conn, "SELECT name FROM pragma_table_info('disputes')");
        for column in ["lifecycle_state", "assigned_solver", "last_notified_at", "last_state_change"] {
            assert!(columns.contains(&Value::Text(column.into())), "missing {column}");
        }
        let states = column_values(&conn, "SELECT lifecycle_state FROM disputes ORDER BY dispute_id");
        assert_eq!(states, [Value::Text("notified".into()), Value::Text("new".into())]);
    }

    #[test]
    fn version_4_backfills_existing_sessions_with_zero() {
        let (_dir, mut conn) = db_at_version(3);
        insert_rows_present_at(&conn, 3);

        migrate(&mut conn).unwrap();

        let counters = column_values(
            &conn,
            "SELECT round_count_last_evaluated + consecutive_eval_failures FROM mediation_sessions",
        );
        assert_eq!(counters, [Value::Integer(0)]);
    }

    #[test]
    fn escalation_dispatches_enforce_status_values_and_one_dispatch_per_handoff() {
        let (_dir, conn) = migrated_db();
        insert_rows_present_at(&conn, SCHEMA_VERSION);
        let dispatch = |id: &str, status: &str| {
            conn.execute(
                "INSERT INTO escalation_dispatches (dispatch_id, dispute_id, handoff_event_id, target_solver,
                                                   dispatched_at, created_at, status)
                 SELECT ?1, 'd1', MAX(id), 'solver-a', 1, 1, ?2 FROM mediation_events",
                [id, status],
            )
        };

        assert_constraint_error(dispatch("x2", "dispatched"), "UNIQUE constraint failed");
        conn.execute("INSERT INTO mediation_events (kind, occurred_at) VALUES ('handoff_prepared', 2)", []).unwrap();
        assert_constraint_error(dispatch("x2", "bogus"), "CHECK constraint failed");
        assert_eq!(dispatch("x2", "send_failed").unwrap(), 1);
    }

    #[test]
    fn outbox_enforces_status_values_and_unique_idempotency_keys() {
        let (_dir, conn) = migrated_db();
        insert_rows_present_at(&conn, SCHEMA_VERSION);

        assert_constraint_error(insert_outbox_row(&conn, "initial:d1:solver-a", "pending"), "UNIQUE constraint failed");
        assert_constraint_error(insert_outbox_row(&conn, "initial:d1:solver-b", "bogus"), "CHECK constraint failed");
        assert_eq!(insert_outbox_row(&conn, "initial:d1:solver-b", "dead_lettered").unwrap(), 1);
    }

    #[test]
    fn foreign_keys_reject_an_orphan_notification() {
        let (_dir, conn) = migrated_db();
        let orphan = conn.execute(
            "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status) VALUES ('nope', 's', 1, 'sent')",
            [],
        );
        assert_constraint_error(orphan, "FOREIGN KEY constraint failed");
    }

    #[test]
    fn a_database_from_a_newer_serbero_is_refused_untouched() {
        let (dir, mut conn) = fresh_db();
        let newer = SCHEMA_VERSION + 1;
        conn.execute_batch(&format!(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY);
             INSERT INTO schema_version (version) VALUES ({newer});"
        ))
        .unwrap();

        let error = migrate(&mut conn).unwrap_err();

        assert!(matches!(error, StorageError::TooNew { found, supported: SCHEMA_VERSION, .. } if found == newer));
        let message = error.to_string();
        assert!(message.starts_with("database at "), "{message}");
        assert!(message.contains(&dir.path().join("serbero.db").display().to_string()), "{message}");
        assert!(
            message.ends_with(&format!(
                "is at schema version {newer}, newer than this Serbero understands ({SCHEMA_VERSION})"
            )),
            "{message}"
        );
        assert_eq!(table_names(&conn), ["schema_version"]);
    }

    #[test]
    fn every_file_in_migrations_is_listed_in_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
        assert_eq!(files, listed);
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    }

    #[test]
    fn statements_split_at_semicolons_outside_comments_and_quotes() {
        let sql = "-- header; it's a comment\nCREATE TABLE t (a TEXT DEFAULT 'x;y'); /* b; */\n\
                   ALTER TABLE t ADD COLUMN b INTEGER; -- trailing; note\n";
        assert_eq!(
            split_statements(sql),
            ["CREATE TABLE t (a TEXT DEFAULT 'x;y');", "ALTER TABLE t ADD COLUMN b INTEGER;"]
        );
    }

    #[test]
    fn added_column_recognises_only_add_column_statements() {
        assert_eq!(added_column("ALTER TABLE t ADD COLUMN c INTEGER;"), Some(("t", "c")));
        assert_eq!(added_column("alter table \"t\" add c TEXT"), Some(("t", "c")));
        assert_eq!(added_column("ALTER TABLE t RENAME TO u;"), None);
        assert_eq!(added_column("CREATE TABLE t (c TEXT);"), None);
    }
}
