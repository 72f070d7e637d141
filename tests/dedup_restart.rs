//! Dedup across replays and restarts (spec/core.md §7.1 #2) and the warm-restart resume rule
//! (§2.3): a restart re-notifies nothing, and a dispute opened while Serbero was down is notified.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_event_is_not_renotified_within_a_run_or_after_restart() {
    let world = World::new().await;
    let solver = world.solver().await;
    let (db, d) = (world.db_path(), dispute_id(1));

    let daemon = Daemon::start(world.config(&[&solver])).await;
    // Two distinct events (different ids) for the same (dispute, status).
    world.mostro.publish(&d, "initiated", "buyer", &[tag("revision", "1")]).await.unwrap();
    world.mostro.publish(&d, "initiated", "buyer", &[tag("revision", "2")]).await.unwrap();
    assert!(solver.wait_for(1, WAIT).await, "initial DM");
    assert_quiet(&solver, 1, Duration::from_secs(1)).await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM disputes"), 1);
    daemon.stop().await;

    let daemon = Daemon::start(world.config(&[&solver])).await;
    world.mostro.publish(&d, "initiated", "buyer", &[tag("revision", "3")]).await.unwrap();
    // Events are handled in order: once the next dispute is notified, the replay was handled.
    world.mostro.publish(&dispute_id(2), "initiated", "seller", &[]).await.unwrap();
    let next = solver.next_after(1, WAIT).await.expect("DM for the next dispute");
    assert!(next.text.contains(&dispute_id(2)), "{}", next.text);
    assert_quiet(&solver, 2, Duration::from_secs(2)).await;
    assert_eq!(scalar(&db, &format!("SELECT COUNT(*) FROM outbox WHERE dispute_id = '{d}'")), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_notifies_what_arrived_while_down_and_nothing_twice() {
    let world = World::new().await;
    let solver = world.solver().await;
    let db = world.db_path();

    let daemon = Daemon::start(world.config(&[&solver])).await;
    world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &dispute_id(1), "notified").await);
    daemon.stop().await;

    let opened_while_down = world.mostro.publish(&dispute_id(2), "initiated", "seller", &[]).await.unwrap();
    let daemon = Daemon::start(world.config(&[&solver])).await;

    let dm = solver.next_after(1, WAIT).await.expect("DM for the dispute opened while down");
    assert_eq!(dm.text, initial_dm(&dispute_id(2), "seller", &opened_while_down));
    assert_quiet(&solver, 2, Duration::from_secs(2)).await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM notifications WHERE notif_type = 'initial'"), 2);
    daemon.stop().await;
}
