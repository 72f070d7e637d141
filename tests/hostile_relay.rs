//! A relay's `OK false` reason is its own text, of any size and with any characters: what
//! Serbero logs and stores in `outbox.last_error` is one bounded line.

mod support;

use std::net::SocketAddr;

use nostr_relay_builder::prelude::{LocalRelay, PolicyResult, RateLimit, RelayBuilder, WritePolicy};
use nostr_sdk::prelude::*;
use serbero_core::delivery::RELAY_REASON_MAX_CHARS;
use serbero_sim::SimMostro;
use support::*;

/// Stores the Mostro node's events and refuses every other with a reason of about 1 MB: many
/// lines, terminal escapes, a forged log line.
#[derive(Debug)]
struct RefuseWithAnEssay {
    mostro: PublicKey,
}

fn essay() -> String {
    let line = "refused: \u{1b}[31mno\u{1b}[0m\n2099-01-01T00:00:00Z ERROR serbero: forged line\r\n";
    line.repeat((1 << 20) / line.len() + 1)
}

impl WritePolicy for RefuseWithAnEssay {
    fn admit_event<'a>(&'a self, event: &'a Event, _addr: &'a SocketAddr) -> BoxedFuture<'a, PolicyResult> {
        let refused = event.pubkey != self.mostro;
        Box::pin(async move {
            if refused {
                PolicyResult::Reject(essay())
            } else {
                PolicyResult::Accept
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_multi_line_refusal_leaves_a_bounded_one_line_last_error() {
    let mostro_keys = Keys::generate();
    let builder = RelayBuilder::default()
        .addr("127.0.0.1".parse().expect("loopback"))
        .rate_limit(RateLimit { max_reqs: 1_000, notes_per_minute: 1_000_000 })
        .write_policy(RefuseWithAnEssay { mostro: mostro_keys.public_key() });
    let relay = LocalRelay::new(builder);
    relay.run().await.expect("refusing relay");
    let url = relay.url().await;
    let mostro = SimMostro::connect(mostro_keys, &url).await.expect("mostro");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("serbero.db");
    let solver = Keys::generate();
    let config = test_config(&Keys::generate(), &mostro.keys, vec![url.clone()], &[solver.public_key()], db.clone());
    let daemon = Daemon::start(config).await;

    mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    let failed = "SELECT COUNT(*) FROM outbox WHERE status = 'failed' AND last_error IS NOT NULL";
    assert!(wait_for_scalar(&db, failed, 1, WAIT).await, "a refused attempt");

    let errors = rows(&db, "SELECT last_error FROM outbox WHERE last_error IS NOT NULL");
    let audited = rows(&db, "SELECT error_message FROM notifications WHERE error_message IS NOT NULL");
    assert!(!errors.is_empty() && !audited.is_empty());
    let prefix = format!("{url}: ");
    for error in errors.iter().chain(&audited) {
        let reason = error.strip_prefix(&prefix).unwrap_or_else(|| panic!("names the relay: {error:.300}"));
        assert!(reason.chars().count() <= RELAY_REASON_MAX_CHARS, "bounded: {} chars", reason.chars().count());
        // The relay builder puts `blocked: ` before a policy's reason.
        let start = "blocked: refused: no 2099-01-01T00:00:00Z ERROR serbero: forged line refused: no";
        assert!(reason.starts_with(start), "{reason}");
        assert!(reason.ends_with('…'), "{reason}");
        assert!(!error.chars().any(char::is_control), "one line, no escapes: {error:?}");
    }
    assert!(daemon.is_running());
    daemon.stop().await;
}
