//! Root's supervision: a crashed child is restarted from the database, and a crash loop stops
//! the daemon with an error instead of spinning.

mod support;

use serbero_core::lifecycle::LifecycleState;
use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dispute_actor_is_restarted_and_keeps_notifying() {
    let world = World::new().await;
    let solver = world.solver().await;
    let running = serbero::daemon::start(world.config(&[&solver])).await.unwrap();
    running.ready().await.unwrap();

    world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    assert!(solver.wait_for(1, WAIT).await);
    // The solver can see the DM before the relay's OK is recorded; kill only once it is.
    assert!(wait_for_state(&world.db_path(), &dispute_id(1), "notified").await);

    let first = running.children().await.unwrap().dispute;
    first.kill();
    let restarted = wait_for_new_dispute_actor(&running, &first).await;
    let report = restarted.call(serbero::dispute::Msg::Status, Some(WAIT)).await.unwrap();
    let report = report.success_or("no answer").expect("the restarted actor answers");
    assert_eq!(report.in_state(LifecycleState::Notified), 1, "it reloaded the dispute from the database");
    running.ready().await.unwrap();

    world.mostro.publish(&dispute_id(2), "initiated", "seller", &[]).await.unwrap();
    let dm = solver.next_after(1, WAIT).await.expect("the restarted actor notifies");
    assert!(dm.text.contains(&dispute_id(2)), "{}", dm.text);
    assert_quiet(&solver, 2, Duration::from_millis(500)).await;

    stop_running(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_relay_actor_restarts_with_the_actors_that_depend_on_it() {
    let world = World::new().await;
    let solver = world.solver().await;
    let running = serbero::daemon::start(world.config(&[&solver])).await.unwrap();
    running.ready().await.unwrap();
    let before = running.children().await.unwrap();

    before.relay.kill();
    let after = wait_for_new_dispute_actor(&running, &before.dispute).await;
    let children = running.children().await.unwrap();
    assert_ne!(children.relay.get_id(), before.relay.get_id(), "a new relay actor");
    assert_eq!(children.dispute.get_id(), after.get_id());
    running.ready().await.unwrap();

    world.mostro.publish(&dispute_id(3), "initiated", "buyer", &[]).await.unwrap();
    let dm = solver.next_after(0, WAIT).await.expect("notified through the new relay actor");
    assert!(dm.text.contains(&dispute_id(3)), "{}", dm.text);

    stop_running(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_stops_the_daemon_with_an_error() {
    let world = World::new().await;
    let solver = world.solver().await;
    let running = serbero::daemon::start(world.config(&[&solver])).await.unwrap();
    running.ready().await.unwrap();

    // The restart budget allows five restarts a minute; the sixth crash ends the tree.
    for _ in 0..5 {
        let current = running.children().await.unwrap().dispute;
        current.kill();
        wait_for_new_dispute_actor(&running, &current).await;
    }
    running.children().await.unwrap().dispute.kill();

    let never = std::future::pending::<()>();
    let outcome = tokio::time::timeout(WAIT, running.run_until(never)).await.expect("the daemon stops by itself");
    let error = outcome.expect_err("a crash loop is an error");
    assert!(error.to_string().contains("repeated failures"), "{error}");
}

async fn wait_for_new_dispute_actor(
    running: &serbero::daemon::Running,
    old: &serbero::dispute::DisputeRef,
) -> serbero::dispute::DisputeRef {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(children) = running.children().await {
            if children.dispute.get_id() != old.get_id() {
                return children.dispute;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the dispute actor was not restarted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
