//! Escalation dispatch end to end (spec/escalation.md §3, §4, §7): the whole daemon against the
//! in-process relay, handoffs prepared by `handoff::recommend` on its database, and solver
//! inboxes that unwrap the `escalation_handoff/v1` DMs. Relay failures and restarts while a
//! handoff is on its way are in `escalation_delivery.rs`.

mod support;

use serbero_core::escalation::HandoffOutcome;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serbero::status::{StatusReport, Unroutable};
use serbero_core::escalation::{handoff_text, HandoffPackage, Trigger, NO_SESSION_MARKER};
use serbero_core::handoff::{recommend, Recommendation};
use serbero_core::storage::{self, MIGRATIONS, SCHEMA_VERSION};
use serbero_sim::SolverInbox;
use support::*;

/// A handoff announced with `HandoffPrepared` must reach its solver within this.
const PROMPTLY: Duration = Duration::from_secs(5);
/// Long enough for two safety-net scans at one per second.
const TWO_SCANS: Duration = Duration::from_millis(2500);

const DISPATCH_ROWS: &str = "SELECT COUNT(*) FROM escalation_dispatches";

fn hex(inbox: &SolverInbox) -> String {
    inbox.pubkey().to_hex()
}

/// Rows the dispatcher writes, by table; all zero until it decides a handoff.
fn escalation_footprint(db: &Path) -> Vec<String> {
    rows(
        db,
        "SELECT 'dispatches', COUNT(*) FROM escalation_dispatches
         UNION ALL SELECT 'ledger', COUNT(*) FROM escalation_handoffs
         UNION ALL SELECT 'outbox', COUNT(*) FROM outbox WHERE owner = 'escalation'
         UNION ALL SELECT 'notifications', COUNT(*) FROM notifications WHERE notif_type = 'mediation_escalation_recommended'
         UNION ALL SELECT 'audit', COUNT(*) FROM mediation_events WHERE kind LIKE 'escalation_%' AND kind <> 'escalation_recommended'",
    )
}

const UNTOUCHED: [&str; 5] = ["dispatches|0", "ledger|0", "outbox|0", "notifications|0", "audit|0"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_dispatcher_leaves_a_prepared_handoff_undecided_and_the_core_works() {
    let world = World::new().await;
    let solver = world.solver().await;
    let (db, d) = (world.db_path(), dispute_id(1));
    let mut config = world.config(&[&solver]);
    grant_write(&mut config, &[&solver]);
    config.escalation.dispatch_interval_seconds = 1; // it would scan every second, were it running
    let daemon = Daemon::start(config).await;
    assert!(daemon.children().escalation.is_none(), "a dispatcher was spawned while disabled");

    let event = world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    let dm = solver.next_after(0, WAIT).await.expect("initial DM");
    assert_eq!(dm.text, initial_dm(&d, "buyer", &event));
    prepare_handoff(&db, None, &d, Trigger::FraudIndicator);

    let second = world.mostro.publish(&dispute_id(2), "initiated", "seller", &[]).await.unwrap();
    let dm = solver.next_after(1, WAIT).await.expect("initial DM of a dispute opened after the handoff");
    assert_eq!(dm.text, initial_dm(&dispute_id(2), "seller", &second));
    assert_no_more_handoffs(&solver, 0, TWO_SCANS).await;
    assert_eq!(escalation_footprint(&db), UNTOUCHED);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM mediation_events"), 2, "only the producer's two events");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_dispatcher_without_handoffs_touches_no_escalation_table() {
    let world = World::new().await;
    let solver = world.solver().await;
    let (db, d) = (world.db_path(), dispute_id(1));
    let mut config = world.config(&[&solver]);
    grant_write(&mut config, &[&solver]);
    enable_escalation(&mut config, 1);
    let daemon = Daemon::start(config).await;

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await, "the core notifies as usual");
    assert_quiet(&solver, 1, TWO_SCANS).await;

    assert_eq!(daemon.escalation_report().await.outcomes, Vec::<(String, u64)>::new());
    assert_eq!(escalation_footprint(&db), UNTOUCHED);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM mediation_events"), 0);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM mediation_sessions"), 0);
    assert_eq!(scalar(&db, "SELECT MAX(version) FROM schema_version"), i64::from(SCHEMA_VERSION));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_write_solver_alone_gets_the_byte_exact_handoff_on_the_message_path() {
    let world = World::new().await;
    let (other, assigned, reader) = (world.solver().await, world.solver().await, world.solver().await);
    let (db, d) = (world.db_path(), dispute_id(1));
    let mut config = world.config(&[&other, &assigned, &reader]);
    grant_write(&mut config, &[&other, &assigned]);
    enable_escalation(&mut config, 3600);
    let daemon = Daemon::start(config).await;
    daemon.escalation_report().await; // the start-up scan is over: only the message is left

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    world.mostro.publish(&d, "in-progress", "buyer", &[tag("p", &hex(&assigned))]).await.unwrap();
    assert!(wait_for_state(&db, &d, "taken").await);
    open_session(&db, "session-1", &d);
    let handoff = prepare_handoff(&db, Some("session-1"), &d, Trigger::ConflictingClaims);
    let announced = Instant::now();
    daemon.announce_handoff(handoff);

    let got = wait_for_handoffs(&assigned, 1, WAIT).await;
    assert_eq!(got.len(), 1, "the assigned write solver got no handoff");
    let latency = got[0].at.duration_since(announced);
    eprintln!("handoff delivered {latency:?} after HandoffPrepared");
    assert!(latency < PROMPTLY, "took {latency:?} with a scan interval of an hour");
    assert_eq!(got[0].sender, world.serbero.public_key());
    assert_eq!(got[0].text, handoff_text(&stored_package(&db, handoff)));
    assert_eq!(got[0].text.lines().nth(2), Some("Session: session-1"));

    let dispatch = "SELECT dispute_id, session_id, handoff_event_id, target_solver, status, fallback_broadcast FROM escalation_dispatches";
    assert_eq!(rows(&db, dispatch), [format!("{d}|session-1|{handoff}|{}|dispatched|0", hex(&assigned))]);
    tokio::join!(
        assert_no_more_handoffs(&assigned, 1, Duration::from_secs(1)),
        assert_no_more_handoffs(&other, 0, Duration::from_secs(1)),
        assert_no_more_handoffs(&reader, 0, Duration::from_secs(1)),
    );
    assert_escalation_audit_invariants(&db);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_is_broadcast_to_every_write_solver_and_never_to_a_read_solver() {
    let world = World::new().await;
    let (first, reader, second) = (world.solver().await, world.solver().await, world.solver().await);
    let (db, d) = (world.db_path(), dispute_id(1));
    let mut config = world.config(&[&first, &reader, &second]);
    grant_write(&mut config, &[&first, &second]);
    enable_escalation(&mut config, 3600);
    let daemon = Daemon::start(config).await;
    daemon.escalation_report().await;

    world.mostro.publish(&d, "initiated", "seller", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await);
    let handoff = prepare_handoff(&db, None, &d, Trigger::LowConfidence);
    daemon.announce_handoff(handoff);

    let want = handoff_text(&stored_package(&db, handoff));
    let (got_first, got_second) = tokio::join!(wait_for_handoffs(&first, 1, WAIT), wait_for_handoffs(&second, 1, WAIT));
    for got in [&got_first, &got_second] {
        assert_eq!(got.len(), 1, "a write solver got no handoff");
        assert_eq!(got[0].text, want);
    }
    assert_ne!(got_first[0].wrap_id, got_second[0].wrap_id, "one gift wrap per recipient");
    let lines: Vec<&str> = want.lines().collect();
    assert_eq!(lines[2], format!("Session: {NO_SESSION_MARKER}"));
    assert_eq!(lines[7], "Handoff payload (JSON):");
    assert!(!lines[8].contains("session_id"), "{}", lines[8]);

    let dispatch = "SELECT target_solver, status, fallback_broadcast, session_id FROM escalation_dispatches";
    assert_eq!(rows(&db, dispatch), [format!("{},{}|dispatched|0|NULL", hex(&first), hex(&second))]);
    tokio::join!(
        assert_no_more_handoffs(&reader, 0, Duration::from_secs(1)),
        assert_no_more_handoffs(&first, 1, Duration::from_secs(1)),
        assert_no_more_handoffs(&second, 1, Duration::from_secs(1)),
    );
    assert_escalation_audit_invariants(&db);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_scan_delivers_a_handoff_nobody_announced() {
    let world = World::new().await;
    let writer = world.solver().await;
    let (db, d) = (world.db_path(), dispute_id(1));
    let mut config = world.config(&[&writer]);
    grant_write(&mut config, &[&writer]);
    enable_escalation(&mut config, 1);
    let daemon = Daemon::start(config).await;
    daemon.escalation_report().await;

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await);
    let handoff = prepare_handoff(&db, None, &d, Trigger::PartyUnresponsive);

    let got = wait_for_handoffs(&writer, 1, WAIT).await;
    assert_eq!(got.len(), 1, "the scan did not deliver the handoff");
    assert_eq!(got[0].text, handoff_text(&stored_package(&db, handoff)));
    assert_no_more_handoffs(&writer, 1, TWO_SCANS).await;
    assert_eq!(daemon.escalation_report().await.count(HandoffOutcome::Dispatched), 1);
    assert_eq!(scalar(&db, DISPATCH_ROWS), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_write_solver_the_fallback_reaches_every_solver() {
    let world = World::new().await;
    let (first, second) = (world.solver().await, world.solver().await);
    let (db, d) = (world.db_path(), dispute_id(1));
    let mut config = world.config(&[&first, &second]);
    enable_escalation(&mut config, 3600);
    config.escalation.fallback_to_all_solvers = true;
    let daemon = Daemon::start(config).await;

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await);
    let handoff = prepare_handoff(&db, None, &d, Trigger::PolicyBundleMissing);
    daemon.announce_handoff(handoff);

    let want = handoff_text(&stored_package(&db, handoff));
    let (got_first, got_second) = tokio::join!(wait_for_handoffs(&first, 1, WAIT), wait_for_handoffs(&second, 1, WAIT));
    for got in [&got_first, &got_second] {
        assert_eq!(got.len(), 1, "a read solver got no handoff despite the fallback");
        assert_eq!(got[0].text, want);
    }
    let dispatch = "SELECT target_solver, fallback_broadcast FROM escalation_dispatches";
    assert_eq!(rows(&db, dispatch), [format!("{},{}|1", hex(&first), hex(&second))]);
    let audit = "SELECT json_extract(payload_json, '$.fallback_broadcast') FROM mediation_events WHERE kind = 'escalation_dispatched'";
    assert_eq!(rows(&db, audit), ["1"]);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM mediation_events WHERE kind = 'escalation_dispatch_unroutable'"), 0);
    assert_escalation_audit_invariants(&db);
    daemon.stop().await;
}

const STUCK: u32 = 500;

/// `STUCK` disputes already resolved, each with a dispute-scoped handoff: all superseded.
fn stuck_handoffs(db: &Path) {
    let mut conn = storage::open(db).expect("open db");
    let tx = conn.transaction().expect("begin");
    let t = storage::now_unix() - 3600;
    for n in 1..=STUCK {
        let dispute = format!("resolved-{n}");
        tx.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at, lifecycle_state)
             VALUES (?1, ?2, 'mostro', 'buyer', ?3, ?3, 'resolved')",
            rusqlite::params![dispute, format!("{n:064}"), t],
        )
        .expect("insert resolved dispute");
        let recommendation = Recommendation {
            session_id: None,
            dispute_id: dispute,
            trigger: Trigger::MediationTimeout,
            evidence_refs: Vec::new(),
            rationale_refs: Vec::new(),
            prompt_bundle_id: "bundle-1".into(),
            policy_hash: "policy-1".into(),
        };
        recommend(&tx, &recommendation, t).expect("recommend");
    }
    tx.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_superseded_handoffs_do_not_delay_a_new_one() {
    let world = World::new().await;
    let writer = world.solver().await;
    let (db, d) = (world.db_path(), dispute_id(1));
    serbero::daemon::prepare_database(&db).await.unwrap();
    stuck_handoffs(&db);
    let mut config = world.config(&[&writer]);
    grant_write(&mut config, &[&writer]);
    enable_escalation(&mut config, 1);
    let started = Instant::now();
    let daemon = Daemon::start(config).await;

    let superseded = "SELECT COUNT(*) FROM escalation_handoffs WHERE outcome = 'superseded'";
    assert!(wait_for_scalar(&db, superseded, i64::from(STUCK), WAIT).await, "the stuck handoffs were not decided");
    eprintln!("{STUCK} superseded handoffs decided {:?} after start", started.elapsed());
    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await);
    let handoff = prepare_handoff(&db, None, &d, Trigger::FraudIndicator);
    let announced = Instant::now();
    daemon.announce_handoff(handoff);

    let got = wait_for_handoffs(&writer, 1, WAIT).await;
    assert_eq!(got.len(), 1, "the new handoff was starved");
    let latency = got[0].at.duration_since(announced);
    eprintln!("new handoff delivered {latency:?} after HandoffPrepared");
    assert!(latency < PROMPTLY, "took {latency:?}");
    assert_eq!(got[0].text, handoff_text(&stored_package(&db, handoff)));
    assert_no_more_handoffs(&writer, 1, TWO_SCANS).await;

    let audit_per_handoff = "SELECT json_extract(payload_json, '$.handoff_event_id') h, COUNT(*) FROM mediation_events
                              WHERE kind = 'escalation_superseded' GROUP BY h HAVING COUNT(*) <> 1";
    assert_eq!(rows(&db, audit_per_handoff), Vec::<String>::new());
    let audited = "SELECT COUNT(*) FROM mediation_events WHERE kind = 'escalation_superseded'
                      AND json_extract(payload_json, '$.reason') = 'dispute_already_resolved'";
    assert_eq!(scalar(&db, audited), i64::from(STUCK));
    assert_eq!(scalar(&db, DISPATCH_ROWS), 1);
    assert_escalation_audit_invariants(&db);
    daemon.stop().await;
}

/// Handoffs an earlier Serbero (schema 1–5) left behind, one per decision it could record.
struct EarlierHandoffs {
    dispatched: i64,
    superseded: i64,
    parse_failed: i64,
    unroutable: i64,
}

const OPEN: &str = "upstream-open";
const RESOLVED: &str = "upstream-resolved";
const UNROUTED: &str = "upstream-unrouted";
const OLD_DISPATCH: &str = "0b6f5a57-3f1e-4b8e-9a55-2d1c0e7f4a10";

fn package(dispute: &str, t: i64) -> String {
    let package = HandoffPackage {
        dispute_id: dispute.into(),
        session_id: None,
        trigger: "low_confidence".into(),
        evidence_refs: vec!["ev".into()],
        prompt_bundle_id: "bundle-0".into(),
        policy_hash: "policy-0".into(),
        rationale_refs: vec!["cd".repeat(32)],
        assembled_at: t,
    };
    serde_json::to_string(&package).unwrap()
}

/// A database at schema 5, built the way the earlier Serbero built it: one recorded version at a time.
fn earlier_schema(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)").unwrap();
    for migration in &MIGRATIONS[..5] {
        conn.execute_batch(migration.sql).unwrap();
        conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [migration.version]).unwrap();
    }
    conn
}

/// A dispute-scoped `mediation_events` row the way the earlier Serbero wrote it.
fn earlier_event(conn: &rusqlite::Connection, kind: &str, payload: &str, t: i64) -> i64 {
    conn.execute(
        "INSERT INTO mediation_events (session_id, kind, payload_json, prompt_bundle_id, policy_hash, occurred_at)
         VALUES (NULL, ?1, ?2, 'bundle-0', 'policy-0', ?3)",
        rusqlite::params![kind, payload, t],
    )
    .unwrap();
    conn.last_insert_rowid()
}

/// The producer's two events; returns the handoff's id.
fn earlier_handoff(conn: &rusqlite::Connection, dispute: &str, payload: String, t: i64) -> i64 {
    let recommended = serde_json::json!({"dispute_id": dispute, "trigger": "low_confidence"});
    earlier_event(conn, "escalation_recommended", &recommended.to_string(), t);
    earlier_event(conn, "handoff_prepared", &payload, t)
}

/// The earlier Serbero's database holding three disputes and four dispute-scoped handoffs with
/// the audit rows it wrote (spec/escalation.md §3.9): one dispatched to `solver_hex`, one
/// superseded, one that failed to parse and one unroutable.
fn earlier_serbero_database(db: &Path, solver_hex: &str) -> EarlierHandoffs {
    let conn = earlier_schema(db);
    let t = storage::now_unix() - 3600;
    for (n, (dispute, state)) in [(OPEN, "notified"), (RESOLVED, "resolved"), (UNROUTED, "notified")].iter().enumerate()
    {
        conn.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at, lifecycle_state)
             VALUES (?1, ?2, 'mostro', 'buyer', ?3, ?3, ?4)",
            rusqlite::params![dispute, format!("{n:064}"), t, state],
        )
        .unwrap();
    }
    let dispatched = earlier_handoff(&conn, OPEN, package(OPEN, t), t);
    conn.execute(
        "INSERT INTO escalation_dispatches (dispatch_id, dispute_id, session_id, handoff_event_id, target_solver,
                                            dispatched_at, created_at, status, fallback_broadcast)
         VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?5, 'dispatched', 0)",
        rusqlite::params![OLD_DISPATCH, OPEN, dispatched, solver_hex, t],
    )
    .unwrap();
    let audit = serde_json::json!({"dispatch_id": OLD_DISPATCH, "dispute_id": OPEN, "handoff_event_id": dispatched,
                                   "target_solver": solver_hex, "status": "dispatched", "fallback_broadcast": false});
    earlier_event(&conn, "escalation_dispatched", &audit.to_string(), t);
    conn.execute(
        "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, notif_type)
         VALUES (?1, ?2, ?3, 'sent', 'mediation_escalation_recommended')",
        rusqlite::params![OPEN, solver_hex, t],
    )
    .unwrap();
    let superseded = earlier_handoff(&conn, RESOLVED, package(RESOLVED, t), t);
    let audit = serde_json::json!({"dispute_id": RESOLVED, "handoff_event_id": superseded, "reason": "dispute_already_resolved"});
    earlier_event(&conn, "escalation_superseded", &audit.to_string(), t);
    let parse_failed = earlier_handoff(&conn, OPEN, format!(r#"{{"dispute_id":"{OPEN}","trigger":7}}"#), t);
    let audit = serde_json::json!({"dispute_id": OPEN, "handoff_event_id": parse_failed, "reason": "deserialize_failed",
                                   "detail": "invalid type: integer `7`, expected a string"});
    earlier_event(&conn, "escalation_dispatch_parse_failed", &audit.to_string(), t);
    let unroutable = earlier_handoff(&conn, UNROUTED, package(UNROUTED, t), t);
    let audit = serde_json::json!({"dispute_id": UNROUTED, "handoff_event_id": unroutable,
                                   "configured_solver_count": 1, "fallback_to_all_solvers": false});
    earlier_event(&conn, "escalation_dispatch_unroutable", &audit.to_string(), t);
    EarlierHandoffs { dispatched, superseded, parse_failed, unroutable }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_database_sends_nothing_twice_and_rechecks_only_the_unroutable_handoff() {
    let world = World::new().await;
    let writer = world.solver().await;
    let db = world.db_path();
    let old = earlier_serbero_database(&db, &hex(&writer));
    let old_rows = ["SELECT * FROM mediation_events ORDER BY id", "SELECT * FROM escalation_dispatches"];
    let before = old_rows.map(|sql| rows(&db, sql));
    let mut config = world.config(&[&writer]);
    grant_write(&mut config, &[&writer]);
    enable_escalation(&mut config, 1);
    let daemon = Daemon::start(config).await;

    let got = wait_for_handoffs(&writer, 1, WAIT).await;
    assert_eq!(got.len(), 1, "the once unroutable handoff was not delivered");
    assert_eq!(got[0].text, handoff_text(&stored_package(&db, old.unroutable)));
    assert_no_more_handoffs(&writer, 1, TWO_SCANS).await;

    assert_eq!(scalar(&db, "SELECT MAX(version) FROM schema_version"), i64::from(SCHEMA_VERSION));
    let max_old = before[0].len();
    assert_eq!(rows(&db, old_rows[0])[..max_old], before[0], "the earlier audit rows changed");
    assert_eq!(
        rows(&db, "SELECT handoff_event_id, outcome FROM escalation_handoffs ORDER BY 1"),
        [
            format!("{}|dispatched", old.dispatched),
            format!("{}|superseded", old.superseded),
            format!("{}|parse_failed", old.parse_failed),
            format!("{}|dispatched", old.unroutable),
        ]
    );
    let kinds = "SELECT kind, COUNT(*) FROM mediation_events WHERE kind LIKE 'escalation_%' GROUP BY 1 ORDER BY 1";
    assert_eq!(
        rows(&db, kinds),
        [
            "escalation_dispatch_parse_failed|1",
            "escalation_dispatch_unroutable|1",
            "escalation_dispatched|2",
            "escalation_recommended|4",
            "escalation_superseded|1"
        ]
    );
    let old_dispatch = format!("SELECT * FROM escalation_dispatches WHERE dispatch_id = '{OLD_DISPATCH}'");
    assert_eq!(rows(&db, &old_dispatch), before[1], "the old dispatch row changed");
    let new_dispatch = format!("SELECT handoff_event_id, target_solver, status FROM escalation_dispatches WHERE dispatch_id <> '{OLD_DISPATCH}'");
    assert_eq!(rows(&db, &new_dispatch), [format!("{}|{}|dispatched", old.unroutable, hex(&writer))]);
    assert_eq!(
        rows(&db, "SELECT idempotency_key FROM outbox WHERE owner = 'escalation'"),
        [format!("escalation:{}:{}", old.unroutable, hex(&writer))],
        "only the unroutable handoff was sent"
    );
    assert_escalation_audit_invariants(&db);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_database_with_a_handoff_still_unroutable_keeps_its_one_audit_row() {
    let world = World::new().await;
    let reader = world.solver().await;
    let db = world.db_path();
    let old = earlier_serbero_database(&db, &hex(&reader));
    let mut config = world.config(&[&reader]);
    enable_escalation(&mut config, 1);
    let daemon = Daemon::start(config).await;

    let report = daemon.escalation_report().await;
    assert_eq!(report.count(HandoffOutcome::Unroutable), 1, "{report:?}");
    assert_no_more_handoffs(&reader, 0, TWO_SCANS).await;
    let unroutable_audit = "SELECT json_extract(payload_json, '$.handoff_event_id') FROM mediation_events
                             WHERE kind = 'escalation_dispatch_unroutable'";
    assert_eq!(rows(&db, unroutable_audit), [old.unroutable.to_string()], "one audit row per unroutable handoff");
    assert_eq!(scalar(&db, DISPATCH_ROWS), 1, "only the earlier dispatch");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_recent_dispatches_and_unroutable_handoffs() {
    let world = World::new().await;
    let (writer, reader) = (world.solver().await, world.solver().await);
    let (db, delivered, stranded) = (world.db_path(), dispute_id(1), dispute_id(2));
    let mut config = world.config(&[&writer, &reader]);
    grant_write(&mut config, &[&writer]);
    enable_escalation(&mut config, 3600);
    let daemon = Daemon::start(config).await;
    world.mostro.publish(&delivered, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &delivered, "notified").await);
    daemon.announce_handoff(prepare_handoff(&db, None, &delivered, Trigger::RoundLimit));
    assert_eq!(wait_for_handoffs(&writer, 1, WAIT).await.len(), 1);
    daemon.stop().await;

    // The write solver is gone from the configuration: the next handoff has nowhere to go.
    let mut config = world.config(&[&reader]);
    enable_escalation(&mut config, 3600);
    let daemon = Daemon::start(config).await;
    world.mostro.publish(&stranded, "initiated", "seller", &[]).await.unwrap();
    assert!(wait_for_state(&db, &stranded, "notified").await);
    let unroutable = prepare_handoff(&db, None, &stranded, Trigger::NotificationFailed);
    daemon.announce_handoff(unroutable);
    let report = daemon.escalation_report().await;
    assert_eq!(
        (report.count(HandoffOutcome::Dispatched), report.count(HandoffOutcome::Unroutable)),
        (1, 1),
        "{report:?}"
    );

    let status = StatusReport::read(&db).unwrap();
    let dispatch_id = rows(&db, "SELECT dispatch_id FROM escalation_dispatches").pop().unwrap();
    assert_eq!(status.recent_dispatches.len(), 1, "{status}");
    let listed = &status.recent_dispatches[0];
    assert_eq!(
        (
            listed.dispatch_id.as_str(),
            listed.dispute_id.as_str(),
            listed.status.as_str(),
            listed.recipients,
            listed.fallback
        ),
        (dispatch_id.as_str(), delivered.as_str(), "dispatched", 1, false)
    );
    let decided_at =
        scalar(&db, &format!("SELECT decided_at FROM escalation_handoffs WHERE handoff_event_id = {unroutable}"));
    let want = Unroutable { handoff_event_id: unroutable, dispute_id: stranded.clone(), decided_at };
    assert_eq!(status.unroutable_handoffs, [want]);
    let shown = status.to_string();
    assert!(shown.contains(&format!("dispute {delivered}  to 1 solver(s)  dispatch {dispatch_id}")), "{shown}");
    assert!(shown.contains(&format!("handoff {unroutable} dispute {stranded} since")), "{shown}");
    daemon.stop().await;
}

/// Stores a `handoff_prepared` event with `payload` as is, as a buggy producer might.
fn raw_handoff(db: &Path, payload: &str) -> i64 {
    let conn = storage::open(db).unwrap();
    conn.execute(
        "INSERT INTO mediation_events (session_id, kind, payload_json, occurred_at) VALUES (NULL, 'handoff_prepared', ?1, ?2)",
        rusqlite::params![payload, storage::now_unix()],
    )
    .unwrap();
    conn.last_insert_rowid()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_invariants_hold_after_a_mixed_run() {
    let world = World::new().await;
    let (first, second, reader) = (world.solver().await, world.solver().await, world.solver().await);
    let db = world.db_path();
    let (open, taken, resolved) = (dispute_id(1), dispute_id(2), dispute_id(3));
    let mut config = world.config(&[&first, &second, &reader]);
    grant_write(&mut config, &[&first, &second]);
    enable_escalation(&mut config, 1);
    let daemon = Daemon::start(config).await;

    for d in [&open, &taken, &resolved] {
        world.mostro.publish(d, "initiated", "buyer", &[]).await.unwrap();
    }
    world.mostro.publish(&taken, "in-progress", "buyer", &[tag("p", &hex(&second))]).await.unwrap();
    world.mostro.publish(&resolved, "settled", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &taken, "taken").await);
    assert!(wait_for_state(&db, &resolved, "resolved").await);
    assert!(wait_for_state(&db, &open, "notified").await);
    open_session(&db, "session-2", &taken);

    let broadcast = prepare_handoff(&db, None, &open, Trigger::FraudIndicator);
    let targeted = prepare_handoff(&db, Some("session-2"), &taken, Trigger::AuthorityBoundaryAttempt);
    let superseded = prepare_handoff(&db, None, &resolved, Trigger::LowConfidence);
    let orphan = prepare_handoff(&db, None, "no-such-dispute", Trigger::RoundLimit);
    let malformed = raw_handoff(&db, &format!(r#"{{"dispute_id":"{open}","trigger":5}}"#));
    let unparseable = raw_handoff(&db, "not json");
    let all = [broadcast, targeted, superseded, orphan, malformed, unparseable];
    for handoff in all.iter().chain(&all) {
        daemon.announce_handoff(*handoff);
    }

    let (got_first, got_second) = tokio::join!(wait_for_handoffs(&first, 1, WAIT), wait_for_handoffs(&second, 2, WAIT));
    assert_eq!((got_first.len(), got_second.len()), (1, 2));
    tokio::join!(
        assert_no_more_handoffs(&first, 1, TWO_SCANS),
        assert_no_more_handoffs(&second, 2, TWO_SCANS),
        assert_no_more_handoffs(&reader, 0, TWO_SCANS),
    );
    let report = daemon.escalation_report().await;
    let outcomes = [("dispatched", 2), ("parse_failed", 3), ("superseded", 1)].map(|(o, n)| (o.to_string(), n));
    assert_eq!(report.outcomes, outcomes);

    assert_escalation_audit_invariants(&db);
    let one_audit_row_each = "
        SELECT h.handoff_event_id FROM escalation_handoffs h
         WHERE (SELECT COUNT(*) FROM mediation_events e
                 WHERE e.kind IN ('escalation_dispatched', 'escalation_superseded',
                                  'escalation_dispatch_unroutable', 'escalation_dispatch_parse_failed')
                   AND json_extract(e.payload_json, '$.handoff_event_id') = h.handoff_event_id) <> 1";
    assert_eq!(rows(&db, one_audit_row_each), Vec::<String>::new());
    let failures =
        "SELECT json_extract(payload_json, '$.handoff_event_id'), json_extract(payload_json, '$.dispute_id'),
                           json_extract(payload_json, '$.reason') FROM mediation_events
                     WHERE kind = 'escalation_dispatch_parse_failed' ORDER BY 1";
    assert_eq!(
        rows(&db, failures),
        [
            format!("{orphan}|no-such-dispute|orphan_dispute_reference"),
            format!("{malformed}|{open}|deserialize_failed"),
            format!("{unparseable}|unknown|deserialize_failed"),
        ]
    );
    let targeted_audit = format!(
        "SELECT session_id, prompt_bundle_id, policy_hash, json_extract(payload_json, '$.target_solver')
           FROM mediation_events WHERE kind = 'escalation_dispatched' AND json_extract(payload_json, '$.handoff_event_id') = {targeted}"
    );
    assert_eq!(rows(&db, &targeted_audit), [format!("session-2|bundle-1|policy-1|{}", hex(&second))]);
    let superseded_audit = format!(
        "SELECT json_extract(payload_json, '$.dispute_id') || '|' || json_extract(payload_json, '$.reason')
           FROM mediation_events WHERE kind = 'escalation_superseded' AND json_extract(payload_json, '$.handoff_event_id') = {superseded}"
    );
    assert_eq!(rows(&db, &superseded_audit), [format!("{resolved}|dispute_already_resolved")]);
    daemon.stop().await;
}

/// A configuration file for `serbero run`: every solver with its permission, escalation on with a
/// scan every second and no fallback.
fn config_file(world: &World, solvers: &[(&SolverInbox, &str)], name: &str) -> PathBuf {
    let mut toml = format!(
        "[serbero]\nprivate_key = \"{}\"\ndb_path = {:?}\n\n[mostro]\npubkey = \"{}\"\n\n[[relays]]\nurl = \"{}\"\n\n\
         [outbox]\nretry_initial_seconds = 1\nretry_max_seconds = 2\n\n\
         [escalation]\nenabled = true\ndispatch_interval_seconds = 1\nfallback_to_all_solvers = false\n",
        world.serbero.secret_key().to_secret_hex(),
        world.db_path().to_str().expect("utf-8 temp path"),
        world.mostro.keys.public_key().to_hex(),
        world.relay.url(),
    );
    for (inbox, permission) in solvers {
        toml += &format!("\n[[solvers]]\npubkey = \"{}\"\npermission = \"{permission}\"\n", hex(inbox));
    }
    let path = world.dir.path().join(name);
    std::fs::write(&path, toml).expect("write config");
    path
}

fn unroutable_errors(log: &str) -> Vec<String> {
    log.lines().filter(|line| line.contains("ERROR") && line.contains("unroutable")).map(str::to_string).collect()
}

/// Runs the real binary: only its log shows how often the ERROR is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_handoff_is_reported_once_and_delivered_once_a_write_solver_is_configured() {
    let binary = tokio::task::spawn_blocking(serbero_executable).await.expect("build task");
    let world = World::new().await;
    let (reader, writer) = (world.solver().await, world.solver().await);
    let (db, d) = (world.db_path(), dispute_id(1));
    let read_only = config_file(&world, &[(&reader, "read")], "read-only.toml");
    let daemon = DaemonProcess::start(&binary, &read_only, world.dir.path().join("read-only.log")).await;

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await);
    let handoff = prepare_handoff(&db, None, &d, Trigger::ReasoningUnavailable);
    let unroutable = "SELECT COUNT(*) FROM escalation_handoffs WHERE outcome = 'unroutable'";
    assert!(wait_for_scalar(&db, unroutable, 1, WAIT).await, "handoff not found unroutable");
    assert_no_more_handoffs(&reader, 0, TWO_SCANS + Duration::from_secs(1)).await;

    let errors = unroutable_errors(&daemon.log());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains(&format!("handoff={handoff}")) && errors[0].contains(&d), "{}", errors[0]);
    let audit = "SELECT json_extract(payload_json, '$.handoff_event_id'), json_extract(payload_json, '$.dispute_id'),
                        json_extract(payload_json, '$.configured_solver_count'), json_extract(payload_json, '$.fallback_to_all_solvers')
                   FROM mediation_events WHERE kind = 'escalation_dispatch_unroutable'";
    let audited = [format!("{handoff}|{d}|1|0")];
    assert_eq!(rows(&db, audit), audited);
    assert_eq!(scalar(&db, DISPATCH_ROWS), 0);
    daemon.terminate().await;

    let fixed = config_file(&world, &[(&reader, "read"), (&writer, "write")], "fixed.toml");
    let daemon = DaemonProcess::start(&binary, &fixed, world.dir.path().join("fixed.log")).await;
    let got = wait_for_handoffs(&writer, 1, WAIT).await;
    assert_eq!(got.len(), 1, "the write solver added later got no handoff");
    assert_eq!(got[0].text, handoff_text(&stored_package(&db, handoff)));
    tokio::join!(assert_no_more_handoffs(&writer, 1, TWO_SCANS), assert_no_more_handoffs(&reader, 0, TWO_SCANS),);
    let dispatch = "SELECT target_solver, status, fallback_broadcast FROM escalation_dispatches";
    assert_eq!(rows(&db, dispatch), [format!("{}|dispatched|0", hex(&writer))]);
    assert_eq!(rows(&db, audit), audited, "the unroutable audit row is kept, not repeated");
    assert_eq!(unroutable_errors(&daemon.log()), Vec::<String>::new());
    assert_escalation_audit_invariants(&db);
    daemon.terminate().await;
}
