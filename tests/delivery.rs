//! Delivery when relays fail: every send failing and then a relay coming back, and a DM that no
//! relay ever accepts ending as a dead letter.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use nostr_sdk::prelude::*;
use serbero::status::StatusReport;
use serbero_core::config::Config;
use serbero_sim::{free_port, Link, SimMostro, SolverInbox, TestRelay};
use support::*;

/// Mostro publishes on a relay that refuses gift wraps, so a DM is delivered only if the
/// solver's relay (the daemon's second relay) takes it.
struct Stage {
    dir: tempfile::TempDir,
    serbero: Keys,
    mostro_relay: GiftWrapRefusingRelay,
    mostro: SimMostro,
    solver: Keys,
}

impl Stage {
    async fn new() -> Self {
        let mostro_relay = GiftWrapRefusingRelay::start().await;
        let mostro = SimMostro::connect(Keys::generate(), &mostro_relay.url()).await.expect("mostro");
        let dir = tempfile::tempdir().expect("tempdir");
        Self { dir, serbero: Keys::generate(), mostro_relay, mostro, solver: Keys::generate() }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("serbero.db")
    }

    fn config(&self, solver_relay: RelayUrl) -> Config {
        let relays = vec![self.mostro_relay.url(), solver_relay];
        test_config(&self.serbero, &self.mostro.keys, relays, &[self.solver.public_key()], self.db())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_that_failed_everywhere_is_delivered_when_a_relay_comes_back() {
    let stage = Stage::new().await;
    let (db, d) = (stage.db(), dispute_id(1));
    let solver_relay = TestRelay::start().await.unwrap();
    let inbox = SolverInbox::start_with(stage.solver.clone(), &solver_relay.url()).await.unwrap();
    let mut link = Link::open(&solver_relay).await;
    let mut config = stage.config(link.url());
    // Retries every 1–2 s must not run out while the client waits to reconnect.
    config.outbox.max_attempts = 100;
    let daemon = Daemon::start(config).await;
    link.cut();

    let event = stage.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(
        wait_for_scalar(&db, "SELECT COUNT(*) FROM outbox WHERE status = 'failed'", 1, WAIT).await,
        "a failed attempt"
    );
    assert!(scalar(&db, "SELECT COUNT(*) FROM notifications WHERE status = 'failed'") >= 1);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM notifications WHERE status = 'sent'"), 0);
    assert_eq!(rows(&db, "SELECT lifecycle_state FROM disputes"), ["new"]);

    link.restore().await;
    // The client reconnects on its own schedule (10 s ± 3 s, longer after repeated failures).
    let dm = inbox.next_after(0, Duration::from_secs(60)).await.expect("DM once the relay is back");

    assert_eq!(dm.text, initial_dm(&d, "buyer", &event));
    assert!(wait_for_state(&db, &d, "notified").await);
    assert_eq!(rows(&db, "SELECT status FROM outbox"), ["sent"]);
    assert_quiet(&inbox, 1, Duration::from_secs(1)).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_no_relay_accepts_is_dead_lettered_and_the_daemon_keeps_running() {
    let stage = Stage::new().await;
    let db = stage.db();
    let unreachable = RelayUrl::parse(&format!("ws://127.0.0.1:{}", free_port())).unwrap();
    let mut config = stage.config(unreachable);
    config.outbox.max_attempts = 2;
    let daemon = Daemon::start(config).await;

    stage.mostro.publish(&dispute_id(1), "initiated", "seller", &[]).await.unwrap();

    let dead = "SELECT COUNT(*) FROM outbox WHERE status = 'dead_lettered'";
    assert!(wait_for_scalar(&db, dead, 1, Duration::from_secs(40)).await, "dead letter");
    assert!(scalar(&db, "SELECT COUNT(*) FROM notifications WHERE status = 'failed'") >= 2);
    let report = StatusReport::read(&db).unwrap();
    assert_eq!(report.dead_letters.len(), 1, "{report}");
    let letter = &report.dead_letters[0];
    assert_eq!(
        (letter.dispute_id.as_deref(), letter.recipient.as_str(), letter.attempts),
        (Some(dispute_id(1).as_str()), stage.solver.public_key().to_hex().as_str(), 2)
    );

    assert!(daemon.is_running());
    stage.mostro.publish(&dispute_id(2), "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &dispute_id(2), "new").await, "still recording disputes");
    daemon.stop().await;
}
