//! Retention (`[retention]`): on a real database file seeded with rows of every status and age,
//! exactly what the retention period lets go is pruned, and nothing dedup or a restart needs.
//! Through the `serbero` binary (`prune --dry-run` counts and changes nothing, `prune` deletes,
//! table by table, a backlog beyond one batch included) and by the daemon's own actors at start
//! (the Dispute actor and the EscalationDispatcher, each only its own rows; the Sessions
//! supervisor's part is tested in `sessions.rs`).
//!
//! Every seeded row says what must become of it: the outbox's idempotency keys, the
//! notifications' `solver_pubkey` and the party messages' `content` start with `goes` or `stays`.

use std::path::Path;
use std::process::{Command, Output};

use nostr_sdk::Keys;
use rusqlite::{params, Connection};
use serbero::base::Base;
use serbero::clock::Clock;
use serbero::dispute::{self, Dispute};
use serbero::escalation::{self, EscalationDispatcher};
use serbero::harness::{Probe, Spawned, TempDb};
use serbero::relay;
use serbero_core::config::{EscalationSettings, OutboxSettings, RetentionSettings, Timeouts};
use serbero_core::retention::BATCH;
use serbero_core::storage;

const DAY: i64 = 24 * 60 * 60;
/// The retention every case configures: rows finished 40 days ago go, 20 days ago stay.
const DAYS: u32 = 30;

/// Seeds rows the way the daemon leaves them, with `old` and `recent` times around the cutoff.
struct Seed {
    conn: Connection,
    old: i64,
    recent: i64,
}

impl Seed {
    fn new(db: &Path) -> Self {
        let now = storage::now_unix();
        Self { conn: storage::open(db).expect("open the database"), old: now - 40 * DAY, recent: now - 20 * DAY }
    }

    fn dispute(&self, id: &str, state: &str, changed_at: i64) {
        self.conn
            .execute(
                "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp,
                                       detected_at, lifecycle_state, last_state_change)
                 VALUES (?1, 'event-' || ?1, 'mostro', 'buyer', ?2, ?2, ?3, ?4)",
                params![id, self.old - DAY, state, changed_at],
            )
            .expect("seed a dispute");
    }

    fn take(&self, dispute: &str, state: &str, handed_off_at: Option<i64>) {
        self.conn
            .execute(
                "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, updated_at,
                                           handed_off_at)
                 VALUES (?1, ?2, 7, ?3, ?3, ?3, ?4)",
                params![dispute, state, self.old - DAY, handed_off_at],
            )
            .expect("seed a take");
    }

    fn session(&self, dispute: &str, state: &str) {
        self.conn
            .execute(
                "INSERT INTO mediation_sessions (session_id, dispute_id, state, prompt_bundle_id, policy_hash,
                                                 started_at, last_transition_at)
                 VALUES ('session-' || ?1, ?1, ?2, 'bundle', 'policy', ?3, ?3)",
                params![dispute, state, self.old - DAY],
            )
            .expect("seed a session");
    }

    /// An outbox row of `owner` last changed at `at`, keyed `key`.
    fn outbox(&self, owner: &str, dispute: &str, status: &str, at: i64, key: &str) {
        self.conn
            .execute(
                "INSERT INTO outbox (owner, idempotency_key, dispute_id, recipient, notif_type, body, event_id,
                                     event_json, status, attempts, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'recipient', 'initial', 'body', 'id-' || ?2, '{}', ?4, 1, ?5, ?5, ?5)",
                params![owner, key, dispute, status, at],
            )
            .expect("seed an outbox row");
    }

    fn notification(&self, notif_type: &str, at: i64, label: &str) {
        self.conn
            .execute(
                "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, notif_type)
                 VALUES ('d-notified', ?1, ?2, 'sent', ?3)",
                params![label, at, notif_type],
            )
            .expect("seed a notification");
    }

    fn party_message(&self, dispute: &str, at: i64, label: &str) {
        self.conn
            .execute(
                "INSERT INTO party_messages (dispute_id, party, direction, inner_event_id, inner_created_at,
                                             content, persisted_at)
                 VALUES (?1, 'buyer', 'inbound', ?2, ?3, ?2, ?3)",
                params![dispute, label, at],
            )
            .expect("seed a party message");
    }

    /// `n` more old audit rows of the Dispute actor's own type: a backlog beyond one batch.
    fn backlog(&self, n: usize) {
        self.conn
            .execute(
                "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
                 INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, notif_type)
                 SELECT 'd-notified', 'goes: backlog', ?2, 'sent', 'initial' FROM k",
                params![n as i64, self.old],
            )
            .expect("seed a backlog");
    }
}

/// Every table and age the pruning rules tell apart. Returns how many rows of each table go:
/// (outbox, notifications, party_messages).
fn seed_every_case(db: &Path) -> (usize, usize, usize) {
    let s = Seed::new(db);
    let (old, recent) = (s.old, s.recent);
    for (id, state, changed_at) in [
        ("d-notified", "notified", old),
        ("d-failing", "notified", old),
        ("d-queued", "notified", old),
        ("d-escalated", "notified", old),
        ("d-over", "resolved", old),
        ("d-taken-over", "resolved", old),
        ("d-resolved-lately", "resolved", recent),
        ("d-forwarding", "taken", old),
        ("d-human", "taken", old),
        ("d-take-live", "resolved", old),
        ("d-session-live", "resolved", old),
    ] {
        s.dispute(id, state, changed_at);
    }
    for (dispute, take, handed_off, session) in [
        ("d-over", "closed", Some(old), "closed"),
        ("d-taken-over", "superseded", None, "superseded_by_human"),
        ("d-resolved-lately", "closed", Some(old), "closed"),
        ("d-forwarding", "took", Some(old), "closed"),
        ("d-human", "superseded", None, "superseded_by_human"),
        ("d-take-live", "took", None, "closed"),
        ("d-session-live", "closed", None, "awaiting_response"),
    ] {
        s.take(dispute, take, handed_off);
        s.session(dispute, session);
    }

    // The Dispute actor's rows: final ones go once old, unless their dispute still has a DM on its way.
    s.outbox("dispute", "d-notified", "sent", old, "goes: sent");
    s.outbox("dispute", "d-notified", "withdrawn", old, "goes: withdrawn");
    s.outbox("dispute", "d-notified", "dead_lettered", old, "goes: dead-lettered");
    s.outbox("dispute", "d-notified", "sent", recent, "stays: sent lately");
    s.outbox("dispute", "d-failing", "sent", old, "stays: a sibling is retried");
    s.outbox("dispute", "d-failing", "failed", old, "stays: failed, retried");
    s.outbox("dispute", "d-queued", "pending", old, "stays: pending");
    s.outbox("dispute", "d-queued", "claimed", old, "stays: claimed");
    s.outbox("dispute", "d-queued", "dead_lettered", old, "stays: a sibling is queued");
    s.outbox("escalation", "d-escalated", "sent", old, "goes: handoff sent");
    s.outbox("escalation", "d-escalated", "dead_lettered", old, "goes: handoff dead-lettered");
    s.outbox("escalation", "d-escalated", "sent", recent, "stays: handoff sent lately");
    // A session's rows go only once its dispute's mediation is over for good.
    s.outbox("session:d-over", "d-over", "sent", old, "goes: summary of an ended mediation");
    s.outbox("session:d-over", "d-over", "withdrawn", old, "goes: withdrawn party message");
    s.outbox("session:d-taken-over", "d-taken-over", "sent", old, "goes: question of a taken-over mediation");
    for dispute in ["d-resolved-lately", "d-forwarding", "d-human", "d-take-live", "d-session-live"] {
        s.outbox(&format!("session:{dispute}"), dispute, "sent", old, &format!("stays: {dispute}"));
    }

    // Audit rows go by age, whoever's type they are; a type no owner knows stays.
    for notif_type in [
        "initial",
        "re-notification",
        "assignment",
        "mediation_resolution_report",
        "mediation_milestone",
        "mediation_escalation_recommended",
        "mediation_summary",
        "mediation_transcript",
    ] {
        s.notification(notif_type, old, &format!("goes: {notif_type}"));
        s.notification(notif_type, recent, &format!("stays: {notif_type}"));
    }
    s.notification("from_a_newer_serbero", old, "stays: unknown type");
    s.backlog(BATCH);

    s.party_message("d-over", old, "goes: buyer");
    s.party_message("d-over", old + 60, "goes: seller");
    s.party_message("d-over", recent, "stays: written lately");
    s.party_message("d-taken-over", old, "goes: taken over, then resolved");
    for dispute in ["d-resolved-lately", "d-forwarding", "d-human", "d-take-live", "d-session-live"] {
        s.party_message(dispute, old, &format!("stays: {dispute}"));
    }
    (8, 8 + BATCH, 3)
}

/// The labels left in each table, and the rows of the tables never pruned.
fn snapshot(db: &TempDb) -> [Vec<String>; 4] {
    [
        db.column("SELECT idempotency_key FROM outbox ORDER BY 1", []),
        db.column("SELECT DISTINCT solver_pubkey FROM notifications ORDER BY 1", []),
        db.column("SELECT content FROM party_messages ORDER BY 1", []),
        db.column(
            "SELECT dispute_id || ' ' || lifecycle_state FROM disputes
             UNION ALL SELECT dispute_id || ' ' || state FROM solver_takes
             UNION ALL SELECT session_id || ' ' || state FROM mediation_sessions ORDER BY 1",
            [],
        ),
    ]
}

fn staying(labels: &[String]) -> Vec<String> {
    labels.iter().filter(|label| label.starts_with("stays")).cloned().collect()
}

/// `serbero --config <file> prune [args]` with a configuration for `db` and `days`.
fn serbero_prune(db: &Path, days: u32, args: &[&str]) -> Output {
    let dir = db.parent().expect("database directory");
    let config = format!(
        "[serbero]\nprivate_key = \"{}\"\ndb_path = {:?}\n\n[mostro]\npubkey = \"{}\"\n\n\
         [[relays]]\nurl = \"ws://127.0.0.1:9\"\n\n[retention]\ndays = {days}\n",
        Keys::generate().secret_key().to_secret_hex(),
        db.to_str().expect("utf-8 path"),
        Keys::generate().public_key().to_hex(),
    );
    let path = dir.join("serbero.toml");
    std::fs::write(&path, config).expect("write the configuration");
    let mut command = Command::new(env!("CARGO_BIN_EXE_serbero"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SERBERO_") {
            command.env_remove(name);
        }
    }
    command.arg("--config").arg(&path).arg("prune").args(args).current_dir(dir).output().expect("run serbero")
}

/// The heading of `prune`'s report and its `table rows` lines.
fn report(output: &Output) -> (String, Vec<(String, usize)>) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "serbero prune failed: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    let mut lines = stdout.lines();
    let heading = lines.next().expect("a heading").to_string();
    assert!(heading.contains(" (retention.days = 30)") && heading.ends_with(':'), "{stdout}");
    let counts = lines
        .map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            [table, rows, "rows"] => (table.to_string(), rows.parse().expect("a row count")),
            _ => panic!("not a `table rows` line: {line}"),
        })
        .collect();
    (heading, counts)
}

fn counts(outbox: usize, notifications: usize, party_messages: usize) -> Vec<(String, usize)> {
    vec![
        ("outbox".to_string(), outbox),
        ("notifications".to_string(), notifications),
        ("party_messages".to_string(), party_messages),
    ]
}

#[test]
fn serbero_prune_counts_on_a_dry_run_then_deletes_exactly_what_the_retention_lets_go() {
    let db = TempDb::migrated();
    let (outbox, notifications, party_messages) = seed_every_case(db.path());
    let before = snapshot(&db);

    let (heading, dry) = report(&serbero_prune(db.path(), DAYS, &["--dry-run"]));
    assert!(heading.contains(": would delete what Serbero finished with before "), "{heading}");
    assert!(heading.ends_with("; dry run, nothing deleted:"), "{heading}");
    assert_eq!(dry, counts(outbox, notifications, party_messages));
    assert_eq!(snapshot(&db), before, "a dry run deletes nothing");
    let all_rows = db.count("SELECT COUNT(*) FROM notifications", []) as usize;

    let (heading, done) = report(&serbero_prune(db.path(), DAYS, &[]));
    assert!(heading.contains(": deleted what Serbero finished with before "), "{heading}");
    assert_eq!(done, counts(outbox, notifications, party_messages));
    let [kept_outbox, kept_notifications, kept_chat, never_pruned] = snapshot(&db);
    assert_eq!(kept_outbox, staying(&before[0]));
    assert_eq!(kept_notifications, staying(&before[1]));
    assert_eq!(kept_chat, staying(&before[2]));
    assert_eq!(never_pruned, before[3], "disputes, takes and sessions are never pruned");
    assert_eq!(db.count("SELECT COUNT(*) FROM notifications", []) as usize, all_rows - notifications);

    let (_, again) = report(&serbero_prune(db.path(), DAYS, &[]));
    assert_eq!(again, counts(0, 0, 0), "nothing left to prune");
}

#[test]
fn serbero_prune_with_retention_off_or_without_a_database_deletes_nothing() {
    let db = TempDb::migrated();
    seed_every_case(db.path());
    let before = snapshot(&db);
    let off = serbero_prune(db.path(), 0, &[]);
    assert!(off.status.success());
    assert_eq!(
        String::from_utf8_lossy(&off.stdout),
        "retention.days = 0: Serbero keeps everything; nothing to prune\n"
    );
    assert_eq!(snapshot(&db), before);

    let missing = db.path().with_file_name("absent.db");
    let failed = serbero_prune(&missing, DAYS, &["--dry-run"]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.starts_with("serbero: no database at ") && stderr.contains("absent.db"), "{stderr}");
    assert!(!missing.exists(), "prune never creates a database");
}

async fn spawn_dispute(db: &TempDb, days: u32) -> Spawned<dispute::Msg> {
    let (relay, _) = Probe::<relay::Msg>::spawn().await;
    let args = dispute::Args {
        base: Base {
            db_path: db.path().to_path_buf(),
            keys: Keys::generate(),
            outbox: OutboxSettings::default(),
            relay,
            clock: Clock::System,
        },
        solvers: Vec::new(),
        observers: Vec::new(),
        timeouts: Timeouts::default(),
        retention: RetentionSettings { days },
    };
    Spawned::start(Dispute, args).await
}

async fn spawn_dispatcher(db: &TempDb) -> Spawned<escalation::Msg> {
    let (relay, _) = Probe::<relay::Msg>::spawn().await;
    let args = escalation::Args {
        base: Base {
            db_path: db.path().to_path_buf(),
            keys: Keys::generate(),
            outbox: OutboxSettings::default(),
            relay,
            clock: Clock::System,
        },
        solvers: Vec::new(),
        settings: EscalationSettings { enabled: true, ..EscalationSettings::default() },
        retention: RetentionSettings { days: DAYS },
    };
    Spawned::start(EscalationDispatcher, args).await
}

/// `labels` without those in `gone`.
fn without(labels: &[String], gone: &[String]) -> Vec<String> {
    labels.iter().filter(|label| !gone.contains(label)).cloned().collect()
}

fn goes(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|label| format!("goes: {label}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_actor_prunes_its_own_rows_at_start_a_backlog_in_rounds() {
    let db = TempDb::migrated();
    seed_every_case(db.path());
    let before = snapshot(&db);
    let backlog = || db.count("SELECT COUNT(*) FROM notifications WHERE solver_pubkey = 'goes: backlog'", []);

    // The Dispute actor prunes at start, a batch per table per round: its old audit rows are a
    // batch and five, so a second round, which the first casts before this first call is
    // answered, is queued before the second call.
    let dispute = spawn_dispute(&db, DAYS).await;
    dispute.ask(dispute::Msg::Status).await;
    dispute.ask(dispute::Msg::Status).await;
    assert_eq!(backlog(), 0, "the rounds went on until the backlog was gone");
    dispute.stop().await;
    let its_own = goes(&[
        "sent",
        "withdrawn",
        "dead-lettered",
        "backlog",
        "initial",
        "re-notification",
        "assignment",
        "mediation_resolution_report",
        "mediation_milestone",
    ]);
    let [outbox, audit, chat, never_pruned] = snapshot(&db);
    assert_eq!(outbox, without(&before[0], &its_own), "its own final rows go, nobody else's");
    assert_eq!(audit, without(&before[1], &its_own), "the audit rows of its types go, no others");
    assert_eq!([chat, never_pruned], [before[2].clone(), before[3].clone()]);

    // The dispatcher prunes its own at its start.
    let dispatcher = spawn_dispatcher(&db).await;
    dispatcher.ask(escalation::Msg::Status).await;
    dispatcher.stop().await;
    let theirs = goes(&["handoff sent", "handoff dead-lettered", "mediation_escalation_recommended"]);
    let [outbox, audit, ..] = snapshot(&db);
    assert_eq!(outbox, without(&without(&before[0], &its_own), &theirs));
    assert_eq!(audit, without(&without(&before[1], &its_own), &theirs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_prunes_nothing_with_retention_off() {
    let db = TempDb::migrated();
    seed_every_case(db.path());
    let before = snapshot(&db);
    let dispute = spawn_dispute(&db, 0).await;
    dispute.ask(dispute::Msg::Status).await;
    dispute.stop().await;
    assert_eq!(snapshot(&db), before);
}
