//! Scripts for the Relay actor against a real in-process relay on loopback. Probes stand in for
//! the actors Relay answers: the sink of dispute batches and the `reply_to` of publish requests.
//! Real sockets, so these run on the multi-thread runtime with the real clock.

use std::time::Duration;

use nostr_sdk::{EventBuilder, Keys, Timestamp};
use serbero::harness::{wait_until, Probe, Spawned, WAIT};
use serbero::relay::{self, DisputesObserved, PublishOutcome, Relay, RelayStatus, SendLimits, Stage, Ticket};
use serbero_core::dispute::{DisputeEvent, DisputeStatus, Initiator};
use serbero_sim::{Link, LinkShape, SimMostro, TestRelay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_the_relay_connected() {
    let w = World::start().await;

    let status = w.status().await;

    assert_eq!(
        status,
        RelayStatus { relays: vec![(w.server.url().to_string(), true)], chat_channels: 0, node_info: None }
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_info_event_is_kept_and_a_newer_one_replaces_it() {
    let w = World::start().await;
    let us = w.us.to_hex();

    w.mostro.publish_node_info(&[&["protocol_version", "1"], &["pow", "4"]]).await.expect("publish info");
    wait_until(WAIT, "node info arrives", || async { w.status().await.node_info.is_some() }).await;
    let first = w.status().await.node_info.expect("node info");
    assert_eq!((first.transport().protocol_version(), first.required_pow(), first.registers(&w.us)), (1, 4, false));

    // Addressable: one second later the node announces v2 and registers us.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    w.mostro
        .publish_node_info(&[&["protocol_version", "2"], &["pow_first_contact", "8"], &["serbero", &us]])
        .await
        .expect("publish newer info");
    wait_until(WAIT, "the newer info replaces it", || async {
        w.status().await.node_info.is_some_and(|i| i.protocol_version == 2)
    })
    .await;
    let newer = w.status().await.node_info.expect("node info");
    assert_eq!((newer.transport().protocol_version(), newer.required_pow(), newer.registers(&w.us)), (2, 8, true));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_dispute_arrives_parsed() {
    let w = World::start().await;
    let (sink, mut batches) = Probe::<DisputesObserved>::spawn().await;
    w.relay
        .cast(relay::Msg::WatchDisputes { since: an_hour_ago(), sink: sink.get_derived() })
        .expect("relay is running");
    w.status().await;

    let published = w.mostro.publish("d-1", "initiated", "seller", &[]).await.expect("publish dispute");

    let DisputesObserved(batch) = batches.next().await;
    let expected = DisputeEvent {
        dispute_id: "d-1".to_string(),
        status: DisputeStatus::Initiated,
        initiator: Initiator::Seller,
        assigned_solver: None,
        event_id: published.id.to_hex(),
        mostro_pubkey: w.mostro.keys.public_key().to_hex(),
        created_at: published.created_at.as_secs() as i64,
    };
    assert_eq!(batch, [expected]);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_events_are_not_forwarded_but_the_next_good_one_is() {
    let w = World::start().await;
    let (sink, mut batches) = Probe::<DisputesObserved>::spawn().await;
    w.relay
        .cast(relay::Msg::WatchDisputes { since: an_hour_ago(), sink: sink.get_derived() })
        .expect("relay is running");
    w.status().await;
    let forger = SimMostro::connect(Keys::generate(), &w.server.url()).await.expect("forger connects");

    forger.publish("d-forged", "initiated", "buyer", &[]).await.expect("publish forged");
    w.mostro.publish("d-bad-initiator", "initiated", "judge", &[]).await.expect("publish malformed");
    w.mostro.publish(&"x".repeat(10_000), "initiated", "buyer", &[]).await.expect("publish 10 KB dispute id");
    let good = w.mostro.publish("d-good", "initiated", "buyer", &[]).await.expect("publish good");

    let DisputesObserved(batch) = batches.next().await;
    let ids: Vec<&str> = batch.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, [good.id.to_hex()]);
    forger.disconnect().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_event_is_reported_accepted_by_the_relay() {
    let w = World::start().await;
    let (requester, mut outcomes) = Probe::<PublishOutcome>::spawn().await;
    let note = EventBuilder::text_note("hello").sign_with_keys(&Keys::generate()).expect("sign");

    let request = relay::Msg::Publish {
        ticket: Ticket::Outbox(7),
        event: Box::new(note.clone()),
        reply_to: requester.get_derived(),
    };
    w.relay.cast(request).expect("relay is running");

    let started = outcomes.next().await;
    assert_eq!((started.ticket, started.event_id, started.stage), (Ticket::Outbox(7), note.id, Stage::Started));
    let outcome = outcomes.next().await;
    assert_eq!((outcome.ticket, outcome.event_id, outcome.stage), (Ticket::Outbox(7), note.id, Stage::Answered));
    assert_eq!(outcome.accepted, [w.server.url().to_string()]);
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    // One relay: its answer was the whole story.
    w.status().await;
    assert!(outcomes.drain().is_empty(), "no further report");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_while_the_relay_is_down_reports_nobody_accepted_and_why() {
    let mut w = World::start_through_link().await;
    let (requester, mut outcomes) = Probe::<PublishOutcome>::spawn().await;
    w.link.as_mut().expect("a link").cut();
    wait_until(WAIT, "Relay sees the relay down", || async { w.status().await.connected() == 0 }).await;
    let note = EventBuilder::text_note("hello").sign_with_keys(&Keys::generate()).expect("sign");

    let request = relay::Msg::Publish {
        ticket: Ticket::Outbox(8),
        event: Box::new(note.clone()),
        reply_to: requester.get_derived(),
    };
    w.relay.cast(request).expect("relay is running");

    assert_eq!(outcomes.next().await.stage, Stage::Started);
    let outcome = outcomes.next().await;
    assert_eq!((outcome.ticket, outcome.event_id, outcome.stage), (Ticket::Outbox(8), note.id, Stage::Answered));
    assert!(outcome.accepted.is_empty(), "{:?}", outcome.accepted);
    let [(url, reason)] = &outcome.failed[..] else { panic!("want one failed relay: {:?}", outcome.failed) };
    assert_eq!(url, &w.link.as_ref().expect("a link").url().to_string());
    assert!(!reason.is_empty());
    w.stop().await;
}

/// One send slot, a relay that answers and one that never does: each event is reported sent at
/// the first acceptance and frees the slot at once, so the next send does not wait for the mute
/// relay; the mute relay's silence is reported afterwards, to be recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_relay_neither_delays_the_answer_nor_holds_the_slot() {
    let server = TestRelay::start().await.expect("relay server");
    let mute = Link::open_shaped(&server, LinkShape { mute: true, ..LinkShape::default() }).await;
    let sends = SendLimits { awaiting_first_ok: 1, answer_timeout: Duration::from_secs(3) };
    let args = relay::Args {
        keys: Keys::generate(),
        mostro: Keys::generate().public_key(),
        relays: vec![server.url(), mute.url()],
        sends,
    };
    let relay = Spawned::start(Relay, args).await;
    wait_until(WAIT, "Relay connects to both", || async { relay.ask(relay::Msg::Status).await.connected() == 2 }).await;
    let (requester, mut outcomes) = Probe::<PublishOutcome>::spawn().await;
    let notes: Vec<_> = (0..3)
        .map(|n| EventBuilder::text_note(format!("note {n}")).sign_with_keys(&Keys::generate()).expect("sign"))
        .collect();

    for (ticket, note) in notes.iter().enumerate() {
        let request = relay::Msg::Publish {
            ticket: Ticket::Outbox(ticket as i64),
            event: Box::new(note.clone()),
            reply_to: requester.get_derived(),
        };
        relay.cast(request).expect("relay is running");
    }

    let mut reports = Vec::new();
    for _ in 0..9 {
        let report = outcomes.next().await;
        reports.push((report.ticket, report.stage, report.accepted, report.failed.len()));
    }
    let good = server.url().to_string();
    let mut answered: Vec<_> = reports.iter().filter(|r| r.1 == Stage::Answered).cloned().collect();
    answered.sort_by_key(|r| r.0);
    assert_eq!(answered, [0, 1, 2].map(|t| (Ticket::Outbox(t), Stage::Answered, vec![good.clone()], 0)), "{reports:?}");
    let first_completed = reports.iter().position(|r| r.1 == Stage::Completed).expect("completions");
    let last_answered = reports.iter().rposition(|r| r.1 == Stage::Answered).expect("answers");
    assert!(last_answered < first_completed, "every send was answered before the mute relay gave up: {reports:?}");
    for ticket in 0..3 {
        let completed =
            reports.iter().find(|r| r.0 == Ticket::Outbox(ticket) && r.1 == Stage::Completed).expect("a completion");
        assert_eq!((&completed.2, completed.3), (&vec![good.clone()], 1), "the mute relay's silence is reported");
    }
    relay.stop().await;
    server.shutdown();
}

/// A relay server, a Mostro publishing to it, and the Relay actor connected to it.
struct World {
    server: TestRelay,
    mostro: SimMostro,
    relay: Spawned<relay::Msg>,
    /// Serbero's public key as the relay actor knows it.
    us: nostr_sdk::PublicKey,
    /// Between the relay actor and the server, when a script needs to cut the connection.
    link: Option<Link>,
}

impl World {
    /// Returns once Relay reports its one relay connected.
    async fn start() -> Self {
        Self::start_with(false).await
    }

    /// The same, with the relay actor reaching the server through a [`Link`] it can cut.
    async fn start_through_link() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(linked: bool) -> Self {
        let server = TestRelay::start().await.expect("relay server");
        let mostro = SimMostro::connect(Keys::generate(), &server.url()).await.expect("mostro connects");
        let link = if linked { Some(Link::open(&server).await) } else { None };
        let url = link.as_ref().map_or_else(|| server.url(), Link::url);
        let keys = Keys::generate();
        let us = keys.public_key();
        let args =
            relay::Args { keys, mostro: mostro.keys.public_key(), relays: vec![url], sends: SendLimits::default() };
        let world = Self { server, mostro, relay: Spawned::start(Relay, args).await, us, link };
        wait_until(WAIT, "Relay connects", || async { world.status().await.connected() == 1 }).await;
        world
    }

    /// Also a barrier for everything the script cast before.
    async fn status(&self) -> RelayStatus {
        self.relay.ask(relay::Msg::Status).await
    }

    async fn stop(self) {
        self.relay.stop().await;
        self.mostro.disconnect().await;
        self.server.shutdown();
    }
}

fn an_hour_ago() -> Timestamp {
    Timestamp::now() - Duration::from_secs(3_600)
}
