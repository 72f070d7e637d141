//! Escalation handoffs when delivery fails: a restart while the DMs cannot go out yet, a relay
//! down then up, and every recipient dead-lettered (spec/escalation.md §3.8, issue 3 item 5).

mod support;

use serbero_core::escalation::HandoffOutcome;
use std::path::PathBuf;
use std::time::Duration;

use nostr_sdk::prelude::*;
use serbero::status::StatusReport;
use serbero_core::config::Config;
use serbero_core::escalation::{handoff_text, Trigger};
use serbero_sim::{free_port, Link, LinkShape, SimMostro, SolverInbox, TestRelay};
use support::*;

/// The client reconnects on its own schedule (10 s ± 3 s, longer after repeated failures).
const RECONNECT: Duration = Duration::from_secs(60);
/// How long Relay waits for a relay's `OK` to an event it sent.
const IN_FLIGHT_SEND: Duration = Duration::from_secs(10);

/// Mostro publishes on a relay that refuses gift wraps; the solvers read another relay, which
/// the daemon reaches only through `solver_relay_url`, so a handoff is delivered only when that
/// path is open.
struct Stage {
    dir: tempfile::TempDir,
    serbero: Keys,
    mostro_relay: GiftWrapRefusingRelay,
    mostro: SimMostro,
    solver_relay: TestRelay,
}

impl Stage {
    async fn new() -> Self {
        let mostro_relay = GiftWrapRefusingRelay::start().await;
        let mostro = SimMostro::connect(Keys::generate(), &mostro_relay.url()).await.expect("mostro");
        let solver_relay = TestRelay::start().await.expect("solver relay");
        let dir = tempfile::tempdir().expect("tempdir");
        Self { dir, serbero: Keys::generate(), mostro_relay, mostro, solver_relay }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("serbero.db")
    }

    async fn solver(&self) -> SolverInbox {
        SolverInbox::start(&self.solver_relay.url()).await.expect("solver inbox")
    }

    /// Every solver has write permission; the dispatcher scans every second.
    fn config(&self, solver_relay_url: RelayUrl, writers: &[&SolverInbox]) -> Config {
        let relays = vec![self.mostro_relay.url(), solver_relay_url];
        let pubkeys: Vec<PublicKey> = writers.iter().map(|w| w.pubkey()).collect();
        let mut config = test_config(&self.serbero, &self.mostro.keys, relays, &pubkeys, self.db());
        grant_write(&mut config, writers);
        enable_escalation(&mut config, 1);
        config
    }

    /// An open dispute with a dispute-scoped handoff, announced to the dispatcher.
    async fn handoff(&self, daemon: &Daemon, dispute: &str) -> i64 {
        self.mostro.publish(dispute, "initiated", "buyer", &[]).await.unwrap();
        assert!(wait_for_state(&self.db(), dispute, "new").await, "dispute stored");
        let handoff = prepare_handoff(&self.db(), None, dispute, Trigger::ConflictingClaims);
        daemon.announce_handoff(handoff);
        handoff
    }
}

/// Handoff notification rows by status, as `status|count`.
fn handoff_notifications(db: &std::path::Path) -> Vec<String> {
    rows(
        db,
        "SELECT status, COUNT(*) FROM notifications WHERE notif_type = 'mediation_escalation_recommended' GROUP BY 1 ORDER BY 1",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_dispatch_delivers_each_copy_exactly_once() {
    let stage = Stage::new().await;
    let db = stage.db();
    let writers = [stage.solver().await, stage.solver().await];
    // The solvers' relay takes the handoffs and never answers: both copies stay in flight.
    let mut link = Link::open_shaped(&stage.solver_relay, LinkShape { mute: true, ..LinkShape::default() }).await;
    let mut config = stage.config(link.url(), &[&writers[0], &writers[1]]);
    config.outbox.max_attempts = 100;
    let daemon = Daemon::start(config.clone()).await;

    let handoff = stage.handoff(&daemon, &dispute_id(1)).await;
    let in_flight = "SELECT COUNT(*) FROM outbox WHERE owner = 'escalation' AND status = 'claimed'";
    assert!(wait_for_scalar(&db, in_flight, 2, WAIT).await, "both copies on their way");
    // Bounded by the sends' wait for an `OK`, which a stop must not outlast.
    daemon.stop_within(IN_FLIGHT_SEND + Duration::from_secs(5)).await;
    let left = "SELECT status, COUNT(*) FROM outbox WHERE owner = 'escalation' GROUP BY 1";
    assert_eq!(rows(&db, left), ["claimed|2"], "stopped while both sends were in flight");
    link.cut();
    link.reshape(LinkShape::default());

    let daemon = Daemon::start(config).await;
    link.restore().await;

    let want = handoff_text(&stored_package(&db, handoff));
    let (first, second) =
        tokio::join!(wait_for_handoffs(&writers[0], 1, RECONNECT), wait_for_handoffs(&writers[1], 1, RECONNECT));
    for (writer, got) in writers.iter().zip([&first, &second]) {
        assert_eq!(got.len(), 1, "a write solver got no handoff");
        assert_eq!(got[0].text, want);
        let stored = format!(
            "SELECT event_id FROM outbox WHERE idempotency_key = 'escalation:{handoff}:{}'",
            writer.pubkey().to_hex()
        );
        assert_eq!(rows(&db, &stored), [got[0].wrap_id.to_hex()], "not the gift wrap stored before the restart");
    }
    assert_ne!(first[0].wrap_id, second[0].wrap_id);
    tokio::join!(
        assert_no_more_handoffs(&writers[0], 1, Duration::from_secs(2)),
        assert_no_more_handoffs(&writers[1], 1, Duration::from_secs(2)),
    );
    let sent = "SELECT COUNT(*) FROM outbox WHERE owner = 'escalation' AND status = 'sent'";
    assert!(wait_for_scalar(&db, sent, 2, WAIT).await);
    assert_eq!(
        rows(&db, "SELECT handoff_event_id, status FROM escalation_dispatches"),
        [format!("{handoff}|dispatched")]
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM mediation_events WHERE kind = 'escalation_dispatched'"), 1);
    assert_escalation_audit_invariants(&db);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_that_failed_while_the_relay_was_down_is_delivered_when_it_comes_back() {
    let stage = Stage::new().await;
    let db = stage.db();
    let writer = stage.solver().await;
    let mut link = Link::open(&stage.solver_relay).await;
    let mut config = stage.config(link.url(), &[&writer]);
    config.outbox.max_attempts = 100;
    let daemon = Daemon::start(config).await;
    link.cut();

    let handoff = stage.handoff(&daemon, &dispute_id(1)).await;
    let failed = "SELECT COUNT(*) FROM notifications WHERE notif_type = 'mediation_escalation_recommended' AND status = 'failed'";
    assert!(wait_for_scalar(&db, failed, 1, WAIT).await, "a failed attempt");
    assert_eq!(handoffs(&writer).len(), 0);

    link.restore().await;
    let got = wait_for_handoffs(&writer, 1, RECONNECT).await;
    assert_eq!(got.len(), 1, "no handoff once the relay was back");
    assert_eq!(got[0].text, handoff_text(&stored_package(&db, handoff)));
    let sent =
        "SELECT COUNT(*) FROM notifications WHERE notif_type = 'mediation_escalation_recommended' AND status = 'sent'";
    assert!(wait_for_scalar(&db, sent, 1, WAIT).await, "the delivery is recorded");
    assert_no_more_handoffs(&writer, 1, Duration::from_secs(2)).await;

    let attempts = scalar(&db, "SELECT attempts FROM outbox WHERE owner = 'escalation' AND status = 'sent'");
    assert_eq!(handoff_notifications(&db), [format!("failed|{}", attempts - 1), "sent|1".to_string()]);
    let recipients =
        "SELECT DISTINCT solver_pubkey FROM notifications WHERE notif_type = 'mediation_escalation_recommended'";
    assert_eq!(rows(&db, recipients), [writer.pubkey().to_hex()]);
    assert_eq!(rows(&db, "SELECT status FROM escalation_dispatches"), ["dispatched"]);
    assert_escalation_audit_invariants(&db);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_dead_lettered_for_every_recipient_is_send_failed_and_the_daemon_keeps_running() {
    let stage = Stage::new().await;
    let db = stage.db();
    let writers = [stage.solver().await, stage.solver().await];
    let unreachable = RelayUrl::parse(&format!("ws://127.0.0.1:{}", free_port())).unwrap();
    let mut config = stage.config(unreachable, &[&writers[0], &writers[1]]);
    config.outbox.max_attempts = 2;
    let daemon = Daemon::start(config).await;

    let handoff = stage.handoff(&daemon, &dispute_id(1)).await;
    let send_failed = "SELECT COUNT(*) FROM escalation_dispatches WHERE status = 'send_failed'";
    assert!(wait_for_scalar(&db, send_failed, 1, Duration::from_secs(60)).await, "dispatch marked send_failed");

    let audit =
        "SELECT json_extract(payload_json, '$.status') FROM mediation_events WHERE kind = 'escalation_dispatched'";
    assert_eq!(rows(&db, audit), ["send_failed"]);
    assert_eq!(
        rows(&db, "SELECT status, COUNT(*) FROM outbox WHERE owner = 'escalation' GROUP BY 1"),
        ["dead_lettered|2"]
    );
    let mut per_recipient: Vec<String> = writers.iter().map(|w| format!("{}|failed|2", w.pubkey().to_hex())).collect();
    per_recipient.sort();
    let audited = "SELECT solver_pubkey, status, COUNT(*) FROM notifications
                    WHERE notif_type = 'mediation_escalation_recommended' GROUP BY 1, 2 ORDER BY 1, 2";
    assert_eq!(rows(&db, audited), per_recipient);
    let report = StatusReport::read(&db).unwrap();
    let dispatch = report.recent_dispatches.first().expect("dispatch listed");
    assert_eq!((dispatch.status.as_str(), dispatch.recipients), ("send_failed", 2), "{report}");
    assert_escalation_audit_invariants(&db);

    assert!(daemon.is_running());
    let later = dispute_id(2);
    stage.mostro.publish(&later, "initiated", "seller", &[]).await.unwrap();
    assert!(wait_for_state(&db, &later, "new").await, "still recording disputes");
    assert_eq!(
        daemon.escalation_report().await.count(HandoffOutcome::Dispatched),
        1,
        "the handoff is consumed, not retried"
    );
    assert_eq!(rows(&db, "SELECT handoff_event_id FROM escalation_dispatches"), [handoff.to_string()]);
    daemon.stop().await;
}
