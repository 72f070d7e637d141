//! The simulated Mostro node and dispute parties are faithful: a solver built on mostro-core
//! alone, on a real in-process relay, gets from them what it would get from mostrod 0.18.5 and
//! from a party's client, and mostro-core refuses each hostile chat message.

use std::time::Duration;

use mostro_core::chat::{derive_chat_keys, unwrap_chat_message, unwrap_giftwrap_chat_message, wrap_chat_message};
use mostro_core::chat::{ChatMessage, SharedKey};
use mostro_core::error::{CantDoReason, MostroError};
use mostro_core::message::{Action, Message, Payload};
use mostro_core::nip59::{UnwrappedMessage, WrapOptions};
use mostro_core::transport::{unwrap_incoming, wrap_message_with, Transport};
use nostr_sdk::nips::nip13::get_leading_zero_bits;
use nostr_sdk::prelude::*;
use serbero::sim::{FakeNode, NodeScript, SimParty, TakeAnswer, TestRelay};
use serbero_core::dispute::DISPUTE_EVENT_KIND;
use serbero_core::node_info::{parse_node_info, NodeInfo, NODE_INFO_KIND};
use tokio::sync::broadcast;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);
/// How long a reply that should never come is waited for.
const QUIET: Duration = Duration::from_millis(1_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_take_is_answered_with_the_scripted_parties_then_an_in_progress_revision() {
    assert_take_is_answered(2, Kind::PrivateDirectMessage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_take_is_answered_in_a_gift_wrap_stamped_version_1() {
    assert_take_is_answered(1, Kind::GiftWrap).await;
}

async fn assert_take_is_answered(protocol_version: u8, transport_kind: Kind) {
    let script = NodeScript { protocol_version, pow: 1, pow_first_contact: 4, serbero: None };
    let mut w = World::start(script).await;
    let (dispute, order, buyer, seller) = (Uuid::new_v4(), Uuid::new_v4(), Keys::generate(), Keys::generate());
    let opened = w.node.publish_dispute(dispute, "initiated").await.expect("open the dispute");
    w.node
        .answer(dispute, TakeAnswer::Took { order_id: order, buyer: buyer.public_key(), seller: seller.public_key() });

    w.solver.send_take(&w.node, dispute, 7, 4).await;

    let (event, reply) = w.solver.next_reply().await.expect("admin-took-dispute");
    assert_eq!((event.kind, reply.identity, reply.signature), (transport_kind, w.node.pubkey(), None));
    let Message::Dispute(took) = reply.message else { panic!("a dispute message: {:?}", reply.message) };
    assert_eq!(
        (took.version, took.action, took.id, took.request_id),
        (protocol_version, Action::AdminTookDispute, Some(dispute), Some(7))
    );
    let Some(Payload::Dispute(id, Some(details))) = took.payload else { panic!("dispute details") };
    assert_eq!(id, dispute);
    assert_eq!((details.id, details.initiator_pubkey.clone()), (order, buyer.public_key().to_hex()));
    assert_eq!(
        (details.buyer_pubkey, details.seller_pubkey),
        (Some(buyer.public_key().to_hex()), Some(seller.public_key().to_hex()))
    );
    let revision = w.solver.next_revision().await.expect("the in-progress revision");
    assert_eq!(tag(&revision, "s"), Some("in-progress"));
    assert_eq!(tag(&revision, "d"), Some(dispute.to_string().as_str()));
    assert!(revision.created_at > opened.created_at);
    let requests = w.node.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].action.clone(), requests[0].dropped.clone()), (Action::AdminTakeDispute, None));
    assert_eq!((requests[0].identity, requests[0].kind), (w.solver.keys.public_key(), transport_kind));
    assert!(requests[0].pow_bits >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_take_gets_cant_do_with_the_reason() {
    let mut w = World::start(NodeScript::default()).await;
    let dispute = Uuid::new_v4();
    w.node.answer(dispute, TakeAnswer::CantDo(CantDoReason::NotFound));

    w.solver.send_take(&w.node, dispute, 8, 0).await;

    let (_, reply) = w.solver.next_reply().await.expect("cant-do");
    let Message::CantDo(refusal) = reply.message else { panic!("a cant-do: {:?}", reply.message) };
    assert_eq!((refusal.action, refusal.id, refusal.request_id), (Action::CantDo, Some(dispute), Some(8)));
    assert!(matches!(refusal.payload, Some(Payload::CantDo(Some(CantDoReason::NotFound)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_unscripted_disputes_get_no_reply() {
    let mut w = World::start(NodeScript::default()).await;
    let silent = Uuid::new_v4();
    w.node.answer(silent, TakeAnswer::Silent);

    w.solver.send_take(&w.node, silent, 1, 0).await;
    w.solver.send_take(&w.node, Uuid::new_v4(), 2, 0).await;

    assert!(w.node.wait_for_requests(2, WAIT).await);
    assert!(w.node.requests().iter().all(|r| r.dropped.is_none()));
    assert!(w.solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_request_is_dropped_and_recorded() {
    let mut w = World::start(NodeScript::default()).await;
    let dispute = Uuid::new_v4();
    w.node.answer(dispute, TakeAnswer::CantDo(CantDoReason::NotFound));
    let take = w.solver.take_event(&w.node, dispute, 1, 0).await;
    let thirty_seconds_ago = Timestamp::now() - Duration::from_secs(30);
    let stale = EventBuilder::new(take.kind, take.content.clone())
        .tags(take.tags.clone())
        .custom_created_at(thirty_seconds_ago)
        .sign_with_keys(&w.solver.keys)
        .expect("sign");

    w.solver.send(&stale).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert!(request.age_secs >= 30, "{request:?}");
    assert!(request.dropped.as_deref().is_some_and(|why| why.starts_with("stale")), "{request:?}");
    assert!(w.solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_below_the_first_contact_pow_is_dropped_and_recorded() {
    let mut w = World::start(NodeScript { pow_first_contact: 8, ..NodeScript::default() }).await;
    let dispute = Uuid::new_v4();
    w.node.answer(dispute, TakeAnswer::CantDo(CantDoReason::NotFound));
    let unmined = loop {
        let take = w.solver.take_event(&w.node, dispute, 1, 0).await;
        if get_leading_zero_bits(take.id) < 8 {
            break take;
        }
    };

    w.solver.send(&unmined).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert!(request.dropped.as_deref().is_some_and(|why| why.starts_with("proof of work")), "{request:?}");
    assert!(w.solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_node_drops_a_v2_message() {
    let mut w = World::start(NodeScript { protocol_version: 1, ..NodeScript::default() }).await;
    let dispute = Uuid::new_v4();
    w.node.answer(dispute, TakeAnswer::CantDo(CantDoReason::NotFound));
    let take = Message::new_dispute(Some(dispute), Some(1), None, Action::AdminTakeDispute, None);
    let v2 =
        wrap_message_with(Transport::Nip44Direct, &take, &w.solver.keys, &w.solver.keys, w.node.pubkey(), signed(0))
            .await
            .expect("wrap");

    w.solver.send(&v2).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert_eq!(request.kind, Kind::PrivateDirectMessage);
    assert!(request.dropped.as_deref().is_some_and(|why| why.contains("transport")), "{request:?}");
    assert!(w.solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_actions_are_recorded_and_never_answered() {
    let mut w = World::start(NodeScript::default()).await;
    let order = Uuid::new_v4();
    let settle = Message::new_dispute(Some(order), Some(3), None, Action::AdminSettle, None);
    let event =
        wrap_message_with(Transport::Nip44Direct, &settle, &w.solver.keys, &w.solver.keys, w.node.pubkey(), signed(0))
            .await
            .expect("wrap");

    w.solver.send(&event).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert_eq!((request.action.clone(), request.id, request.request_id), (Action::AdminSettle, Some(order), Some(3)));
    assert!(w.solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_over_publishes_a_newer_in_progress_revision() {
    let w = World::start(NodeScript::default()).await;
    let dispute = Uuid::new_v4();
    let opened = w.node.publish_dispute(dispute, "initiated").await.expect("open");
    let taken = w.node.publish_dispute(dispute, "in-progress").await.expect("take");

    let handed_over = w.node.hand_over(dispute).await.expect("hand over");

    assert!(opened.created_at < taken.created_at && taken.created_at < handed_over.created_at);
    assert_eq!(tag(&handed_over, "s"), Some("in-progress"));
    let on_relay = w
        .solver
        .client
        .fetch_events(
            Filter::new()
                .kind(Kind::Custom(DISPUTE_EVENT_KIND))
                .author(w.node.pubkey())
                .identifier(dispute.to_string()),
            WAIT,
        )
        .await
        .expect("fetch");
    assert_eq!(on_relay.into_iter().map(|e| e.id).collect::<Vec<_>>(), vec![handed_over.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_announces_its_script_in_a_form_serbero_parses() {
    let serbero = Keys::generate().public_key();
    let w =
        World::start(NodeScript { protocol_version: 1, pow: 2, pow_first_contact: 9, serbero: Some(serbero) }).await;

    let info = &w.solver.node_info;
    assert_eq!((info.protocol_version, info.pow, info.pow_first_contact, info.serbero), (1, 2, 9, Some(serbero)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_solver_s_message_reaches_the_party_but_the_party_s_own_does_not() {
    let relay = TestRelay::start().await.expect("relay");
    let solver = Keys::generate();
    let party = SimParty::connect(Keys::generate(), &relay.url(), solver.public_key()).await.expect("party");
    let client = connected(&solver, &relay).await;
    let (conv, sign) = derive_chat_keys(&solver, &party.pubkey()).expect("chat keys");
    party.say("from the party").await.expect("say");

    let from_solver = wrap_chat_message(&solver, &conv, &sign, "hello, I am the solver").await.expect("wrap");
    client.send_event(&from_solver).await.expect("send");

    assert!(party.wait_received(1, WAIT).await);
    assert_eq!(party.received(), vec!["hello, I am the solver".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_party_says_opens_on_the_solver_side() {
    let (_relay, solver, party) = chat().await;

    let said = party.say("the seller never paid").await.expect("say");
    let legacy = party.say_legacy("in the old format").await.expect("say legacy");

    let chat = open(&solver, &party, &said).expect("a valid chat message");
    assert_eq!((chat.content.as_str(), chat.sender), ("the seller never paid", party.pubkey()));
    let shared = SharedKey::derive(solver.secret_key(), &party.pubkey()).expect("shared key");
    let old = unwrap_giftwrap_chat_message(shared.keys(), &legacy).await.expect("a valid legacy message");
    assert_eq!((old.content.as_str(), old.sender), ("in the old format", party.pubkey()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_message_is_refused_for_its_own_defect() {
    let (_relay, solver, party) = chat().await;

    let hostile = [
        (party.say_forged_signer("forged").await, "not a party"),
        (party.say_stale("stale").await, "disagree"),
        (party.say_from_future("future").await, "future"),
        (party.say_oversized().await, "exceeds"),
        (party.say_inner_kind(7, "a reaction").await, "not a TextNote"),
        (party.say_with_extra_p("two recipients").await, "exactly one p tag"),
    ];

    for (sent, defect) in hostile {
        let event = sent.expect("the relay accepts it");
        let refusal = open(&solver, &party, &event).expect_err(defect).to_string();
        assert!(refusal.contains(defect), "{defect}: {refusal}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_carries_the_same_inner_event_in_a_new_envelope() {
    let (_relay, solver, party) = chat().await;
    let original = party.say("pay me").await.expect("say");

    let replayed = party.replay(&original).await.expect("replay");

    let (first, again) = (open(&solver, &party, &original).unwrap(), open(&solver, &party, &replayed).unwrap());
    assert_ne!(first.outer_event_id, again.outer_event_id);
    assert_eq!((first.inner_event_id, first.content), (again.inner_event_id, again.content));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_n_distinct_valid_messages() {
    let (_relay, solver, party) = chat().await;

    let flood = party.flood(40).await.expect("flood");

    let opened: Vec<ChatMessage> = flood.iter().map(|e| open(&solver, &party, e).expect("valid")).collect();
    let mut inner_ids: Vec<EventId> = opened.iter().map(|c| c.inner_event_id).collect();
    inner_ids.sort();
    inner_ids.dedup();
    assert_eq!(inner_ids.len(), 40);
}

/// A relay, a scripted node, and a solver talking to it.
struct World {
    _relay: TestRelay,
    node: FakeNode,
    solver: Solver,
}

impl World {
    async fn start(script: NodeScript) -> Self {
        let relay = TestRelay::start().await.expect("relay");
        let node = FakeNode::start(Keys::generate(), &relay.url(), script).await.expect("node");
        let solver = Solver::connect(&relay, &node).await;
        Self { _relay: relay, node, solver }
    }
}

/// A solver built on mostro-core alone, one key as identity and trade key.
struct Solver {
    keys: Keys,
    client: Client,
    /// Read back from the relay, the way a solver learns the node's transport.
    node_info: NodeInfo,
    notifications: broadcast::Receiver<RelayPoolNotification>,
}

impl Solver {
    /// Subscribed to messages addressed to it and to the node's dispute revisions.
    async fn connect(relay: &TestRelay, node: &FakeNode) -> Self {
        let keys = Keys::generate();
        let client = connected(&keys, relay).await;
        let notifications = client.notifications();
        let replies = Filter::new().kinds([Kind::GiftWrap, Kind::PrivateDirectMessage]).pubkey(keys.public_key());
        let revisions =
            Filter::new().kind(Kind::Custom(DISPUTE_EVENT_KIND)).author(node.pubkey()).since(Timestamp::now());
        client.subscribe(replies, None).await.expect("subscribe to replies");
        client.subscribe(revisions, None).await.expect("subscribe to revisions");
        let info_filter = Filter::new().kind(Kind::Custom(NODE_INFO_KIND)).author(node.pubkey());
        let infos = client.fetch_events(info_filter, WAIT).await.expect("fetch the node info");
        let node_info = parse_node_info(infos.first().expect("the node info"), &node.pubkey()).expect("parses");
        Self { keys, client, node_info, notifications }
    }

    async fn take_event(&self, node: &FakeNode, dispute: Uuid, request_id: u64, pow: u8) -> Event {
        let take = Message::new_dispute(Some(dispute), Some(request_id), None, Action::AdminTakeDispute, None);
        wrap_message_with(self.node_info.transport(), &take, &self.keys, &self.keys, node.pubkey(), signed(pow))
            .await
            .expect("wrap")
    }

    async fn send_take(&self, node: &FakeNode, dispute: Uuid, request_id: u64, pow: u8) {
        let take = self.take_event(node, dispute, request_id, pow).await;
        self.send(&take).await;
    }

    async fn send(&self, event: &Event) {
        let sent = self.client.send_event(event).await.expect("send");
        assert!(!sent.success.is_empty(), "relay refused: {:?}", sent.failed);
    }

    async fn next_reply(&mut self) -> Option<(Event, UnwrappedMessage)> {
        self.next_reply_within(WAIT).await
    }

    async fn next_reply_within(&mut self, timeout: Duration) -> Option<(Event, UnwrappedMessage)> {
        let event =
            self.next_event(timeout, |e| [Kind::GiftWrap, Kind::PrivateDirectMessage].contains(&e.kind)).await?;
        let reply = unwrap_incoming(&event, &self.keys).await.expect("a well-formed reply").expect("addressed to us");
        Some((event, reply))
    }

    async fn next_revision(&mut self) -> Option<Event> {
        self.next_event(WAIT, |e| e.kind == Kind::Custom(DISPUTE_EVENT_KIND) && tag(e, "s") != Some("initiated")).await
    }

    async fn next_event(&mut self, timeout: Duration, wanted: impl Fn(&Event) -> bool) -> Option<Event> {
        tokio::time::timeout(timeout, async {
            loop {
                if let RelayPoolNotification::Event { event, .. } =
                    self.notifications.recv().await.expect("notifications")
                {
                    if wanted(&event) {
                        return *event;
                    }
                }
            }
        })
        .await
        .ok()
    }
}

fn signed(pow: u8) -> WrapOptions {
    WrapOptions { pow, expiration: None, signed: true }
}

async fn chat() -> (TestRelay, Keys, SimParty) {
    let relay = TestRelay::start().await.expect("relay");
    let solver = Keys::generate();
    let party = SimParty::connect(Keys::generate(), &relay.url(), solver.public_key()).await.expect("party");
    (relay, solver, party)
}

/// Opens a chat event the way the solver does.
fn open(solver: &Keys, party: &SimParty, event: &Event) -> Result<ChatMessage, MostroError> {
    let (conv, sign) = derive_chat_keys(solver, &party.pubkey()).expect("chat keys");
    let allowed = [party.pubkey(), solver.public_key()];
    unwrap_chat_message(&conv, &sign.public_key(), &allowed, event, Timestamp::now())
}

async fn connected(keys: &Keys, relay: &TestRelay) -> Client {
    let client = Client::new(keys.clone());
    client.add_relay(relay.url()).await.expect("add relay");
    client.try_connect(WAIT).await;
    client
}

fn tag<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event.tags.iter().find(|t| t.kind().as_str() == name).and_then(|t| t.content())
}
