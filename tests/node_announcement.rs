//! The Mostro node's info event names the Serbero it vouches for (`serbero` tag). The real binary,
//! notifying only (mediation off), checks it at boot and again whenever the announced key
//! changes: a warning for another key, an info line for ours. Only its log shows this.

mod support;

use std::time::Duration;

use support::*;

const FOREIGN: &str = "the Mostro node announces another key as its Serbero";
const VOUCHES: &str = "the Mostro node vouches for us";

fn count(log: &str, text: &str) -> usize {
    log.lines().filter(|line| line.contains(text)).count()
}

async fn wait_for_lines(daemon: &DaemonProcess, text: &str, lines: usize) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let log = daemon.log();
        if count(&log, text) >= lines {
            return log;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {lines} line(s) with `{text}`:\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_announced_serbero_is_checked_at_boot_and_when_it_changes() {
    let binary = tokio::task::spawn_blocking(serbero_executable).await.expect("build task");
    let world = World::new().await;
    let config = world.config(&[]);
    assert!(!config.mediation.enabled, "a notification-only Serbero is told too");
    let path = world.dir.path().join("serbero.toml");
    std::fs::write(&path, config_toml(&config)).expect("write config");
    let (us, someone_else) = (world.serbero.public_key().to_hex(), nostr_sdk::Keys::generate().public_key());
    world.mostro.publish_node_info(&[&["protocol_version", "2"], &["serbero", &someone_else.to_hex()]]).await.unwrap();

    let daemon = DaemonProcess::start(&binary, &path, world.dir.path().join("serbero.log")).await;
    let log = wait_for_lines(&daemon, FOREIGN, 1).await;
    let warning = log.lines().find(|line| line.contains(FOREIGN)).unwrap();
    assert!(warning.contains("WARN") && warning.contains(&someone_else.to_hex()) && warning.contains(&us), "{warning}");

    // Addressable: each newer revision needs a later second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    world.mostro.publish_node_info(&[&["protocol_version", "2"], &["serbero", &us]]).await.unwrap();
    let log = wait_for_lines(&daemon, VOUCHES, 1).await;
    assert!(log.lines().any(|line| line.contains(VOUCHES) && line.contains("INFO")), "{log}");

    // A revision that changes something else logs the info, not the check again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    world.mostro.publish_node_info(&[&["protocol_version", "2"], &["pow", "1"], &["serbero", &us]]).await.unwrap();
    let log = wait_for_lines(&daemon, "mostro node info", 3).await;
    assert_eq!((count(&log, FOREIGN), count(&log, VOUCHES)), (1, 1), "{log}");
    daemon.terminate().await;
}
