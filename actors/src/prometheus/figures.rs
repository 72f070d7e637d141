//! The metrics the database holds, read on the scrape's own read-only connection. Every known
//! state is published, zeros included, so a state that empties drops to 0 instead of keeping
//! its last value. Each statement is answered from an index (a test checks the query plans), so
//! a read costs little even with millions of outbox and notification rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use rusqlite::{Connection, OpenFlags};
use serbero_core::delivery::OutboxStatus;
use serbero_core::lifecycle::LifecycleState;
use serbero_core::mediation::SessionState;

use crate::status::with_zeros;

/// The handoff decisions of the escalation dispatcher's ledger.
const HANDOFF_OUTCOMES: [&str; 4] = ["dispatched", "superseded", "unroutable", "parse_failed"];
/// How long SQLite waits for a writer before a read gives up on the database (the scrape itself
/// waits less: see `reader::READ_WAIT`).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Notification rows added since the last read, found by rowid.
const NOTIFICATIONS_SINCE: &str = "SELECT notif_type, status, COALESCE(format, 'nip17'), COUNT(*), MAX(id)
                                     FROM notifications WHERE id > ?1 GROUP BY 1, 2, 3";
/// Outbox rows of one status, counted on idx_outbox_status_created (a status per statement: the
/// outbox's CHECK admits only `OutboxStatus::ALL`).
const OUTBOX_WITH_STATUS: &str = "SELECT COUNT(*) FROM outbox WHERE status = ?1";
/// The oldest outbox row of one status: the first entry of that status in the same index.
const OLDEST_WITH_STATUS: &str = "SELECT MIN(created_at) FROM outbox WHERE status = ?1";
const DISPUTES_BY_STATE: &str = "SELECT lifecycle_state, COUNT(*) FROM disputes GROUP BY 1";
const SESSIONS_BY_STATE: &str = "SELECT state, COUNT(*) FROM mediation_sessions GROUP BY 1";
const HANDOFFS_BY_OUTCOME: &str = "SELECT outcome, COUNT(*) FROM escalation_handoffs GROUP BY 1";

#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub disputes_by_state: Vec<(String, u64)>,
    /// `(notif_type, status, form)` with the number of notification rows.
    pub notifications: Vec<(String, String, String, u64)>,
    pub outbox_by_status: Vec<(String, u64)>,
    /// Seconds since the oldest row still on its way was queued; 0 when none is.
    pub outbox_oldest_pending_age: u64,
    pub sessions_by_state: Vec<(String, u64)>,
    pub handoffs_by_outcome: Vec<(String, u64)>,
}

pub fn describe() {
    describe_gauge!("serbero_disputes", "Disputes stored, by lifecycle state.");
    describe_counter!(
        "serbero_notifications_total",
        "Notification attempts recorded, by type, outcome (sent or failed) and form (nip17 or mostrix)."
    );
    describe_gauge!("serbero_outbox_messages", "Outbox rows, by status.");
    describe_gauge!(
        "serbero_outbox_oldest_pending_age_seconds",
        Unit::Seconds,
        "Age of the oldest outbox row still on its way (pending, claimed or failed); 0 when none."
    );
    describe_gauge!("serbero_dead_letters", "Outbox rows Serbero gave up on after every attempt.");
    describe_gauge!("serbero_mediation_sessions", "Mediation sessions, by state.");
    describe_gauge!("serbero_mediation_sessions_open", "Mediation sessions still mediating.");
    describe_gauge!("serbero_escalation_handoffs", "Escalation handoffs the dispatcher decided, by outcome.");
}

/// The database as the scrapes see it: one read-only connection, opened on first use and again
/// after any failed read (the failure may have left it unusable), and the notification tally.
pub struct Database {
    path: PathBuf,
    conn: Option<Connection>,
    tally: NotificationTally,
}

impl Database {
    pub fn new(path: PathBuf) -> Self {
        Self { path, conn: None, tally: NotificationTally::default() }
    }

    pub fn read(&mut self) -> rusqlite::Result<Figures> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                conn
            }
        };
        let figures = Figures::read(&conn, &mut self.tally)?;
        self.conn = Some(conn);
        Ok(figures)
    }
}

/// Notification rows by `(notif_type, status, format)`, counted once: the table is append-only and its
/// ids grow with each commit, so each read takes only the rows added since the last one (a
/// full count of a million rows takes most of a second).
#[derive(Debug, Default)]
struct NotificationTally {
    last_id: i64,
    counts: BTreeMap<(String, String, String), u64>,
}

impl NotificationTally {
    /// Adds the rows after `last_id`. Nothing is added unless every row was read, so a read that
    /// fails half-way is not counted twice by the next one.
    fn catch_up(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let added: Vec<_> = conn
            .prepare_cached(NOTIFICATIONS_SINCE)?
            .query_map([self.last_id], |r| {
                let key = (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?);
                Ok((key, r.get::<_, i64>(3)? as u64, r.get::<_, i64>(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (key, n, max_id) in added {
            *self.counts.entry(key).or_default() += n;
            self.last_id = self.last_id.max(max_id);
        }
        Ok(())
    }
}

impl Figures {
    /// Every figure from one snapshot of the database, so they agree with each other.
    fn read(conn: &Connection, tally: &mut NotificationTally) -> rusqlite::Result<Self> {
        let snapshot = conn.unchecked_transaction()?;
        tally.catch_up(&snapshot)?;
        let notifications = tally.counts.iter().map(|((t, s, f), n)| (t.clone(), s.clone(), f.clone(), *n)).collect();
        let figures = Self {
            disputes_by_state: by_key(&snapshot, DISPUTES_BY_STATE, LifecycleState::ALL.map(LifecycleState::as_str))?,
            notifications,
            outbox_by_status: outbox_by_status(&snapshot)?,
            outbox_oldest_pending_age: oldest_pending_age(&snapshot)?,
            sessions_by_state: by_key(&snapshot, SESSIONS_BY_STATE, SessionState::ALL.map(SessionState::as_str))?,
            handoffs_by_outcome: by_key(&snapshot, HANDOFFS_BY_OUTCOME, HANDOFF_OUTCOMES)?,
        };
        snapshot.commit()?;
        Ok(figures)
    }

    pub fn publish(&self) {
        for (state, n) in &self.disputes_by_state {
            gauge!("serbero_disputes", "state" => state.clone()).set(*n as f64);
        }
        for (notif_type, status, form, n) in &self.notifications {
            let labels = [("type", notif_type.clone()), ("outcome", status.clone()), ("form", form.clone())];
            counter!("serbero_notifications_total", &labels).absolute(*n);
        }
        for (status, n) in &self.outbox_by_status {
            gauge!("serbero_outbox_messages", "status" => status.clone()).set(*n as f64);
        }
        gauge!("serbero_outbox_oldest_pending_age_seconds").set(self.outbox_oldest_pending_age as f64);
        gauge!("serbero_dead_letters").set(count_of(&self.outbox_by_status, OutboxStatus::DeadLettered.as_str()));
        for (state, n) in &self.sessions_by_state {
            gauge!("serbero_mediation_sessions", "state" => state.clone()).set(*n as f64);
        }
        let open: u64 = self
            .sessions_by_state
            .iter()
            .filter(|(state, _)| SessionState::parse(state).is_some_and(SessionState::is_live))
            .map(|(_, n)| n)
            .sum();
        gauge!("serbero_mediation_sessions_open").set(open as f64);
        for (outcome, n) in &self.handoffs_by_outcome {
            gauge!("serbero_escalation_handoffs", "outcome" => outcome.clone()).set(*n as f64);
        }
    }
}

/// `(key, count)` rows of a `SELECT key, COUNT(*) … GROUP BY 1`, every known key included.
fn by_key<const N: usize>(conn: &Connection, sql: &str, known: [&str; N]) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut query = conn.prepare_cached(sql)?;
    let found = query.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(with_zeros(known, found.collect::<rusqlite::Result<_>>()?))
}

/// Every outbox status with its rows.
fn outbox_by_status(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut count = conn.prepare_cached(OUTBOX_WITH_STATUS)?;
    OutboxStatus::ALL
        .map(OutboxStatus::as_str)
        .into_iter()
        .map(|status| Ok((status.to_owned(), count.query_row([status], |r| r.get::<_, i64>(0))? as u64)))
        .collect()
}

/// Seconds since the oldest outbox row still on its way was queued, 0 when there is none.
fn oldest_pending_age(conn: &Connection) -> rusqlite::Result<u64> {
    let mut oldest_with = conn.prepare_cached(OLDEST_WITH_STATUS)?;
    let mut oldest: Option<i64> = None;
    for status in OutboxStatus::ALL.into_iter().filter(|s| s.is_live()) {
        let at: Option<i64> = oldest_with.query_row([status.as_str()], |r| r.get(0))?;
        oldest = oldest.into_iter().chain(at).min();
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Ok(oldest.map_or(0, |at| (now - at).max(0) as u64))
}

fn count_of(counted: &[(String, u64)], key: &str) -> f64 {
    counted.iter().find(|(k, _)| k == key).map_or(0.0, |(_, n)| *n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serbero_core::storage;

    /// A migrated database file in `dir`, and a connection to write it.
    fn database(dir: &tempfile::TempDir) -> (std::path::PathBuf, Connection) {
        let path = dir.path().join("serbero.db");
        let mut conn = storage::open(&path).unwrap();
        storage::migrate(&mut conn).unwrap();
        (path, conn)
    }

    fn add_dispute(conn: &Connection) {
        conn.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
             VALUES ('d', 'e', 'm', 'buyer', 1, 1)",
            [],
        )
        .unwrap();
    }

    fn notify(conn: &Connection, notif_type: &str, status: &str, format: &str) {
        conn.execute(
            "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, notif_type, format)
             VALUES ('d', 's', 1, ?1, ?2, ?3)",
            [status, notif_type, format],
        )
        .unwrap();
    }

    fn rows(expected: &[(&str, &str, &str, u64)]) -> Vec<(String, String, String, u64)> {
        expected.iter().map(|(t, s, f, n)| (t.to_string(), s.to_string(), f.to_string(), *n)).collect()
    }

    #[test]
    fn figures_come_from_the_database_and_notifications_are_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        add_dispute(&conn);
        notify(&conn, "initial", "sent", "nip17");
        notify(&conn, "initial", "failed", "nip17");
        let mut db = Database::new(path);
        let first = db.read().unwrap();
        assert_eq!(first.notifications, rows(&[("initial", "failed", "nip17", 1), ("initial", "sent", "nip17", 1)]));
        assert_eq!(first.disputes_by_state[0], ("new".into(), 1));
        assert_eq!(first.outbox_by_status.len(), OutboxStatus::ALL.len(), "every status, zeros included");
        assert_eq!(first.outbox_oldest_pending_age, 0);

        notify(&conn, "initial", "sent", "nip17");
        notify(&conn, "initial", "sent", "mostrix");
        notify(&conn, "assignment", "sent", "nip17");
        let second = db.read().unwrap();
        let expected = [
            ("assignment", "sent", "nip17", 1),
            ("initial", "failed", "nip17", 1),
            ("initial", "sent", "mostrix", 1),
            ("initial", "sent", "nip17", 2),
        ];
        assert_eq!(second.notifications, rows(&expected));
        assert_eq!(db.tally.last_id, 5, "the next read takes only rows after the fifth");
    }

    #[test]
    fn the_oldest_row_still_on_its_way_gives_the_age() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let queued = |key: &str, status: &str, age: i64| {
            conn.execute(
                "INSERT INTO outbox (owner, idempotency_key, recipient, notif_type, body, event_id, event_json, status,
                                     next_attempt_at, created_at, updated_at)
                 VALUES ('dispute', ?1, 'r', 'initial', 'b', 'e', '{}', ?2, 0, ?3, ?3)",
                rusqlite::params![key, status, now - age],
            )
            .unwrap();
        };
        queued("a", "sent", 900);
        queued("b", "dead_lettered", 800);
        queued("c", "failed", 100);
        queued("d", "pending", 5);
        let figures = Database::new(path).read().unwrap();
        assert!((100..=102).contains(&figures.outbox_oldest_pending_age), "{}", figures.outbox_oldest_pending_age);
        assert_eq!(count_of(&figures.outbox_by_status, "dead_lettered"), 1.0);
    }

    #[test]
    fn a_database_that_cannot_be_opened_is_opened_again_at_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Database::new(dir.path().join("serbero.db"));
        assert!(db.read().is_err(), "no file yet");
        let (_, conn) = database(&dir);
        add_dispute(&conn);
        notify(&conn, "initial", "sent", "nip17");
        assert_eq!(db.read().unwrap().notifications, rows(&[("initial", "sent", "nip17", 1)]));
    }

    /// The tables that grow with every dispute and message: no statement may walk them.
    const GROWING: [&str; 4] = ["outbox", "notifications", "party_messages", "mediation_events"];

    /// Every statement a read runs.
    const STATEMENTS: [&str; 6] = [
        NOTIFICATIONS_SINCE,
        OUTBOX_WITH_STATUS,
        OLDEST_WITH_STATUS,
        DISPUTES_BY_STATE,
        SESSIONS_BY_STATE,
        HANDOFFS_BY_OUTCOME,
    ];

    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let unbound = vec![rusqlite::types::Null; explain.parameter_count()];
        explain.query_map(rusqlite::params_from_iter(unbound), |r| r.get(3)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn every_statement_of_a_read_is_answered_from_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let (_, conn) = database(&dir);
        for sql in STATEMENTS {
            let plan = plan(&conn, sql);
            let table_steps: Vec<&String> =
                plan.iter().filter(|step| step.starts_with("SCAN ") || step.starts_with("SEARCH ")).collect();
            assert!(!table_steps.is_empty(), "{sql}: {plan:?}");
            for step in table_steps {
                let table = step.split_whitespace().nth(1).unwrap_or_default();
                let indexed = step.contains(" USING INTEGER PRIMARY KEY ") || step.contains(" USING COVERING INDEX ");
                assert!(indexed, "{sql}: {step} reads the table's rows");
                assert!(!(GROWING.contains(&table) && step.starts_with("SCAN ")), "{sql}: {step} walks all of {table}");
            }
        }
    }
}
