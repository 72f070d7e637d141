//! Detection and the first notification (spec/core.md §7.1 #1 and #4).

mod support;

use std::time::Duration;

use serbero_core::config::Permission;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_dispute_notifies_every_solver_once() {
    let world = World::new().await;
    let (reader, writer) = (world.solver().await, world.solver().await);
    let mut config = world.config(&[&reader, &writer]);
    config.solvers[1].permission = Permission::Write;
    let daemon = Daemon::start(config).await;

    let event = world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();

    for inbox in [&reader, &writer] {
        let dm = inbox.next_after(0, WAIT).await.expect("initial DM");
        assert_eq!(dm.sender, world.serbero.public_key());
        assert_eq!(dm.text, initial_dm(&dispute_id(1), "buyer", &event));
    }
    let db = world.db_path();
    assert!(
        wait_for_scalar(
            &db,
            "SELECT COUNT(*) FROM notifications WHERE status = 'sent' AND notif_type = 'initial'",
            2,
            WAIT
        )
        .await
    );
    assert!(wait_for_state(&db, &dispute_id(1), "notified").await);
    for inbox in [&reader, &writer] {
        assert_quiet(inbox, 1, Duration::from_secs(1)).await;
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispute_without_solvers_is_recorded_but_nobody_is_notified() {
    let world = World::new().await;
    let daemon = Daemon::start(world.config(&[])).await;

    world.mostro.publish(&dispute_id(1), "initiated", "seller", &[]).await.unwrap();

    let db = world.db_path();
    assert!(wait_for_state(&db, &dispute_id(1), "new").await);
    // The DMs a decision calls for are stored in the same transaction as the dispute row.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outbox"), 0);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM notifications"), 0);
    assert_eq!(rows(&db, "SELECT initiator_role FROM disputes"), ["seller"]);
    daemon.stop().await;
}
