//! A database of the earlier Serbero (schema versions 1–5) upgraded in place by the daemon:
//! no row lost, its notified dispute reminded again, and the one it stranded in `new` (every
//! initial send failed) reminded instead of left `new` forever.

mod support;

use std::path::Path;

use serbero_core::storage::{now_unix, MIGRATIONS, SCHEMA_VERSION};
use support::*;

const NOTIFIED: &str = "upstream-notified";
const STRANDED: &str = "upstream-stranded";

/// Builds the schema the way the earlier Serbero did, one recorded version at a time, and the
/// rows it would have left: a notified dispute and one whose every initial send failed.
fn upstream_database(db: &Path, solver_hex: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)").unwrap();
    for migration in &MIGRATIONS[..5] {
        conn.execute_batch(migration.sql).unwrap();
        conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [migration.version]).unwrap();
    }
    let t = now_unix() - 600;
    conn.execute_batch(&format!(
        "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at,
                               lifecycle_state, last_notified_at, last_state_change)
             VALUES ('{NOTIFIED}', '{e1}', 'mostro', 'buyer', {t}, {t}, 'notified', {t}, {t}),
                    ('{STRANDED}', '{e2}', 'mostro', 'seller', {t}, {t}, 'new', NULL, NULL);
         INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, error_message, notif_type)
             VALUES ('{NOTIFIED}', '{solver_hex}', {t}, 'sent', NULL, 'initial'),
                    ('{STRANDED}', '{solver_hex}', {t}, 'failed', 'notification error: gift-wrap send failed: timeout', 'initial');
         INSERT INTO dispute_state_transitions (dispute_id, from_state, to_state, transitioned_at, trigger)
             VALUES ('{NOTIFIED}', 'new', 'notified', {t}, 'initial_notification');",
        e1 = "e1".repeat(32),
        e2 = "e2".repeat(32),
    ))
    .unwrap();
}

/// The upstream columns, which keep their values (later versions only add columns).
const OLD_NOTIFICATIONS: &str =
    "SELECT id, dispute_id, solver_pubkey, sent_at, status, error_message, notif_type FROM notifications ORDER BY id LIMIT 2";
const OLD_TRANSITIONS: &str = "SELECT * FROM dispute_state_transitions ORDER BY id LIMIT 1";
const DISPUTE_FACTS: &str =
    "SELECT dispute_id, event_id, mostro_pubkey, initiator_role, dispute_status, event_timestamp, detected_at FROM disputes ORDER BY dispute_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_database_is_upgraded_in_place_and_unattended_disputes_reminded() {
    let world = World::new().await;
    let solver = world.solver().await;
    let db = world.db_path();
    upstream_database(&db, &solver.pubkey().to_hex());
    let before = [rows(&db, OLD_NOTIFICATIONS), rows(&db, OLD_TRANSITIONS), rows(&db, DISPUTE_FACTS)];
    let mut config = world.config(&[&solver]);
    config.timeouts.renotification_seconds = 1;
    config.timeouts.renotification_check_interval_seconds = 1;

    let daemon = Daemon::start(config).await;

    assert!(wait_for_state(&db, STRANDED, "notified").await, "stranded dispute reminded");
    assert_eq!(scalar(&db, "SELECT MAX(version) FROM schema_version"), i64::from(SCHEMA_VERSION));
    assert_eq!([rows(&db, OLD_NOTIFICATIONS), rows(&db, OLD_TRANSITIONS), rows(&db, DISPUTE_FACTS)], before);
    assert_eq!(
        rows(&db, "SELECT dispute_id, status FROM dispute_observations ORDER BY dispute_id"),
        [format!("{NOTIFIED}|initiated"), format!("{STRANDED}|initiated")]
    );
    assert_eq!(transitions(&db, STRANDED), ["new|notified|re_notification"]);
    for (dispute, state) in [(STRANDED, "new"), (NOTIFIED, "notified")] {
        let reminder = dm_containing(&solver, &format!("dispute_id: {dispute}\n")).await.expect("reminder").text;
        let prefix = format!("Mostro dispute is still unattended.\ndispute_id: {dispute}\nlifecycle_state: {state}\ntime_elapsed_seconds: ");
        let elapsed: i64 = reminder.strip_prefix(&prefix).expect(&reminder).parse().expect("seconds");
        assert!((600..700).contains(&elapsed), "{reminder}");
    }
    daemon.stop().await;
}
