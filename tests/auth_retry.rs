//! AuthRetry in the running daemon: spawned with mediation, it learns Serbero's registration
//! from the node's info event through the real relay, and core notification never waits on it.

mod support;

use std::time::Duration;

use serbero::auth_retry;
use serbero_core::auth_retry::AuthState;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_announcing_our_key_authorizes_serbero_and_notification_goes_on() {
    let world = World::new().await;
    let solver = world.solver().await;
    let us = world.serbero.public_key().to_hex();
    world.mostro.publish_node_info(&[&["protocol_version", "2"], &["serbero", &us]]).await.unwrap();
    let mut config = world.config(&[&solver]);
    config.mediation.enabled = true;
    config.mediation.solver_auth_retry_initial_seconds = 1;
    let running = serbero::daemon::start(config).await.unwrap();
    running.ready().await.unwrap();
    let auth = running.children().await.unwrap().auth_retry.expect("spawned with mediation enabled");

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = auth.call(auth_retry::Msg::Status, Some(WAIT)).await.unwrap().success_or("no answer").unwrap();
        if status.state == AuthState::Authorized {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {:?}", status.state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    assert!(solver.wait_for(1, WAIT).await, "core notification is unaffected");

    stop_running(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_mediation_there_is_no_auth_retry_actor() {
    let world = World::new().await;
    let solver = world.solver().await;
    let running = serbero::daemon::start(world.config(&[&solver])).await.unwrap();
    running.ready().await.unwrap();
    assert!(running.children().await.unwrap().auth_retry.is_none());
    stop_running(running).await;
}
