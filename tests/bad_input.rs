//! Input Serbero must not act on: a bad solver key in the configuration, dispute events not
//! signed by the Mostro key, and malformed dispute events. The daemon keeps working after each.

mod support;

use std::time::Duration;

use nostr_sdk::prelude::*;
use serbero_core::config::Config;
use serbero_core::dispute::{parse_dispute_event, Rejection};
use serbero_sim::{SimMostro, SolverInbox};
use support::*;

#[test]
fn bad_solver_key_is_refused_by_configuration() {
    let toml = format!(
        "[serbero]\nprivate_key = \"{}\"\n[mostro]\npubkey = \"{}\"\n[[relays]]\nurl = \"wss://relay.example\"\n\
         [[solvers]]\npubkey = \"not-a-real-hex-pubkey\"\npermission = \"read\"\n",
        Keys::generate().secret_key().to_secret_hex(),
        Keys::generate().public_key().to_hex()
    );
    let error = Config::from_toml_str(&toml).expect_err("a bad solver key is refused").to_string();
    assert!(error.starts_with("solvers[0].pubkey"), "{error}");
}

/// Publishes a genuine dispute and waits for its DM: events are handled in arrival order, so
/// everything published before it has been handled too.
async fn barrier_dispute(world: &World, inbox: &SolverInbox, n: u32) {
    let event = world.mostro.publish(&dispute_id(n), "initiated", "buyer", &[]).await.unwrap();
    let dm = inbox.next_after(0, WAIT).await.expect("DM for the genuine dispute");
    assert_eq!(dm.text, initial_dm(&dispute_id(n), "buyer", &event));
}

/// `event` with its JSON changed after it was signed.
fn edited_after_signing(event: &Event, edit: impl FnOnce(&mut serde_json::Value)) -> Event {
    let mut json: serde_json::Value = serde_json::from_str(&event.as_json()).unwrap();
    edit(&mut json);
    Event::from_json(json.to_string()).unwrap()
}

fn assert_only_dispute_stored(world: &World, n: u32) {
    let db = world.db_path();
    assert_eq!(rows(&db, "SELECT dispute_id FROM disputes"), [dispute_id(n)]);
    assert_eq!(rows(&db, "SELECT DISTINCT dispute_id FROM dispute_observations"), [dispute_id(n)]);
    assert_eq!(rows(&db, "SELECT DISTINCT dispute_id FROM outbox"), [dispute_id(n)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_not_signed_by_mostro_are_never_notified() {
    let world = World::new().await;
    let solver = world.solver().await;
    let daemon = Daemon::start(world.config(&[&solver])).await;

    let mostro = world.mostro.keys.public_key();
    let forger = SimMostro::connect(Keys::generate(), &world.relay.url()).await.unwrap();
    let forged = forger.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    assert_eq!(parse_dispute_event(&forged, &mostro), Err(Rejection::WrongAuthor(forger.keys.public_key().to_hex())));

    let genuine = world.mostro.dispute_event(&dispute_id(2), "initiated", "buyer", &[]).unwrap();
    let other = world.mostro.dispute_event(&dispute_id(3), "initiated", "buyer", &[]).unwrap();
    let altered = edited_after_signing(&genuine, |json| json["tags"][2][1] = "seller".into());
    let wrong_sig = edited_after_signing(&genuine, |json| json["sig"] = other.sig.to_string().into());
    for tampered in [&altered, &wrong_sig] {
        assert_eq!(parse_dispute_event(tampered, &mostro), Err(Rejection::BadSignature));
        // The relay refuses it; if one ever relayed it, the daemon re-checks (above) and skips it.
        let refused = world.mostro.send(tampered).await.expect_err("relay refuses a bad signature");
        assert!(refused.to_string().contains("invalid"), "{refused}");
    }

    barrier_dispute(&world, &solver, 4).await;
    assert_only_dispute_stored(&world, 4);
    assert_quiet(&solver, 1, Duration::from_secs(1)).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_are_skipped_and_the_daemon_keeps_working() {
    let world = World::new().await;
    let solver = world.solver().await;
    let daemon = Daemon::start(world.config(&[&solver])).await;
    let (id, huge) = (dispute_id(1), "x".repeat(10 * 1024));
    // The in-process relay refuses an addressable event with no `d` at all, so that one is
    // checked at the parser; an empty `d` reaches the daemon and counts as missing.
    let no_d = signed_dispute(&world.mostro.keys, &[("s", "initiated"), ("initiator", "buyer")]);
    assert_eq!(parse_dispute_event(&no_d, &world.mostro.keys.public_key()), Err(Rejection::MissingTag("d")));
    let malformed: Vec<Vec<(&str, &str)>> = vec![
        vec![("d", ""), ("s", "initiated"), ("initiator", "buyer")],
        vec![("d", &id), ("s", "initiated"), ("initiator", "Buyer")],
        vec![("d", &id), ("s", "initiated"), ("initiator", "mallory")],
        vec![("d", &id), ("s", "paused"), ("initiator", "buyer")],
        vec![("d", &huge), ("s", "initiated"), ("initiator", "buyer")],
        vec![("d", &id), ("s", &huge), ("initiator", "buyer")],
        vec![("d", &id), ("s", "initiated"), ("initiator", &huge)],
    ];
    for tags in &malformed {
        world.mostro.send(&signed_dispute(&world.mostro.keys, tags)).await.unwrap();
    }

    barrier_dispute(&world, &solver, 2).await;
    assert_only_dispute_stored(&world, 2);
    assert_quiet(&solver, 1, Duration::from_secs(1)).await;
    daemon.stop().await;
}
