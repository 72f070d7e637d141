//! Detection and the first notification.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_dispute_notifies_every_solver() {
    let world = World::new().await;
    let (reader, writer) = (world.solver().await, world.solver().await);
    let daemon = Daemon::start(world.config(&[&reader, &writer])).await;

    let event = world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();

    for inbox in [&reader, &writer] {
        let dm = inbox.next_after(0, WAIT).await.expect("initial DM");
        assert_eq!(dm.sender, world.serbero.public_key());
        assert_eq!(
            dm.text,
            format!(
                "New Mostro dispute requires attention.\ndispute_id: {}\ninitiator: buyer\nevent_timestamp: {}\nstatus: initiated",
                dispute_id(1),
                event.created_at.as_secs()
            )
        );
    }
    let db = world.db_path();
    assert!(wait_for_scalar(&db, "SELECT COUNT(*) FROM notifications WHERE status = 'sent' AND notif_type = 'initial'", 2, WAIT).await);
    assert!(wait_for_scalar(&db, "SELECT COUNT(*) FROM disputes WHERE lifecycle_state = 'notified'", 1, WAIT).await);
    daemon.stop().await;
}
