//! The simulated Mostro node and dispute parties are faithful: a solver built on mostro-core
//! alone, on a real in-process relay, gets from them what it would get from mostrod 0.18.5 and
//! from a party's client, and mostro-core refuses each hostile chat message. One test per
//! behaviour of the node, each named after what mostrod does.

use std::time::{Duration, Instant};

use mostro_core::chat::{derive_chat_keys, unwrap_chat_message, unwrap_giftwrap_chat_message, wrap_chat_message};
use mostro_core::chat::{ChatMessage, SharedKey};
use mostro_core::dispute::Status as DisputeStatus;
use mostro_core::error::{CantDoReason, MostroError};
use mostro_core::message::{Action, Message, Payload};
use mostro_core::nip59::{UnwrappedMessage, WrapOptions};
use mostro_core::transport::{unwrap_incoming, wrap_message_with, Transport};
use nostr_sdk::nips::nip13::get_leading_zero_bits;
use nostr_sdk::prelude::*;
use serbero_core::dispute::DISPUTE_EVENT_KIND;
use serbero_core::node_info::{parse_node_info, NodeInfo, NODE_INFO_KIND};
use serbero_sim::{DisputeState, FakeNode, NodeAnswer, NodeScript, SimParty, SolverCategory, TestRelay, Trade};
use tokio::sync::broadcast;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);
/// How long a reply that should never come is waited for.
const QUIET: Duration = Duration::from_millis(1_500);
const READ: Option<SolverCategory> = Some(SolverCategory::Read);
const WRITE: Option<SolverCategory> = Some(SolverCategory::ReadWrite);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_published_while_the_node_is_offline_is_never_seen() {
    let w = World::start(NodeScript::default()).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;

    w.node.go_offline().await;
    solver.send_take(dispute.id, 1, 0).await;
    w.node.come_online().await.expect("back online");

    assert!(solver.next_reply_within(QUIET).await.is_none(), "the node never saw the take");
    assert!(w.node.requests().is_empty());
    solver.send_take(dispute.id, 2, 0).await;
    let (_, reply) = solver.next_reply().await.expect("a take sent once online is answered");
    assert_eq!(reply.message.get_inner_message_kind().request_id, Some(2));
    assert_eq!(w.node.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_dispute_publishes_its_initiated_revision_tagged_as_mostrod_tags_it() {
    let w = World::start(NodeScript::default()).await;

    let dispute = w.open().await;

    let revision = &dispute.revision;
    assert_eq!(revision.pubkey, w.node.pubkey());
    let tags: Vec<(&str, Option<&str>)> =
        ["d", "s", "initiator", "y", "z"].map(|name| (name, tag(revision, name))).into();
    let id = dispute.id.to_string();
    assert_eq!(
        tags,
        [
            ("d", Some(id.as_str())),
            ("s", Some("initiated")),
            ("initiator", Some("buyer")),
            ("y", Some("mostro")),
            ("z", Some("dispute"))
        ]
    );
    let opened_at: u64 = tag(revision, "created_at").expect("the open time").parse().expect("seconds");
    assert!(opened_at <= revision.created_at.as_secs());
    assert_eq!(w.node.dispute_state(dispute.id), Some(DisputeState { status: DisputeStatus::Initiated, solver: None }));
    assert_eq!(w.revisions_on_relay(dispute.id).await, vec![revision.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solver_s_take_on_v2_is_answered_then_the_parties_told_then_one_revision_published() {
    assert_take_is_answered(2, Kind::PrivateDirectMessage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solver_s_take_on_v1_is_answered_in_a_gift_wrap_stamped_version_1() {
    assert_take_is_answered(1, Kind::GiftWrap).await;
}

async fn assert_take_is_answered(protocol_version: u8, transport_kind: Kind) {
    let script = NodeScript { protocol_version, pow: 1, pow_first_contact: 4, ..NodeScript::default() };
    let w = World::start(script).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;
    let mut buyer = w.user_with(dispute.buyer.clone()).await;

    solver.send_take(dispute.id, 7, 4).await;

    let first = solver.next_event(WAIT, |e| is_reply(e) || is_revision(e)).await.expect("an answer");
    assert!(is_reply(&first), "the answer comes before the revision");
    let reply = unwrap_incoming(&first, &solver.keys).await.unwrap().unwrap();
    assert_eq!((first.kind, reply.identity, reply.signature), (transport_kind, w.node.pubkey(), None));
    assert_took(&reply, protocol_version, dispute.id, Some(7), &dispute.trade);
    let revision = solver.next_revision().await.expect("the in-progress revision");
    assert_eq!((tag(&revision, "s"), tag(&revision, "initiator")), (Some("in-progress"), Some("buyer")));
    assert!(revision.created_at > dispute.revision.created_at);
    let (_, notice) = buyer.next_reply().await.expect("the buyer learns who took it");
    let Message::Order(notice) = notice.message else { panic!("an order message: {:?}", notice.message) };
    let Some(Payload::Peer(peer)) = notice.payload else { panic!("the solver as peer") };
    assert_eq!(
        (notice.action, notice.id, peer.pubkey),
        (Action::AdminTookDispute, Some(dispute.trade.order_id), solver.pubkey().to_hex())
    );
    let state = DisputeState { status: DisputeStatus::InProgress, solver: Some(solver.pubkey()) };
    assert_eq!(w.node.dispute_state(dispute.id), Some(state));
    let requests = w.node.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].action.clone(), requests[0].dropped.clone()), (Action::AdminTakeDispute, None));
    assert_eq!(
        (requests[0].identity, requests[0].kind, requests[0].answer.clone()),
        (solver.pubkey(), transport_kind, NodeAnswer::Took)
    );
    assert!(requests[0].pow_bits >= 4);
    assert!(solver.next_revision_within(QUIET).await.is_none(), "exactly one revision per take");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assigned_solver_taking_again_is_answered_again_with_a_newer_revision() {
    let w = World::start(NodeScript::default()).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;
    let first = solver.take_and_expect_revision(dispute.id, 1).await;

    solver.send_take(dispute.id, 2, 0).await;

    let (_, reply) = solver.next_reply().await.expect("answered again");
    assert_took(&reply, 2, dispute.id, Some(2), &dispute.trade);
    let again = solver.next_revision().await.expect("a new revision");
    assert!(again.created_at > first.created_at, "strictly later: {} after {}", again.created_at, first.created_at);
    let answers: Vec<NodeAnswer> = w.node.requests().into_iter().map(|r| r.answer).collect();
    assert_eq!(answers, [NodeAnswer::Took, NodeAnswer::Took]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_solver_takes_over_from_a_read_solver_but_not_from_another_write_solver() {
    let w = World::start(NodeScript::default()).await;
    let (mut assistant, mut human, mut other_human) = (w.user(READ).await, w.user(WRITE).await, w.user(WRITE).await);
    let dispute = w.open().await;
    assistant.take_and_expect_revision(dispute.id, 1).await;

    human.send_take(dispute.id, 2, 0).await;
    let (_, reply) = human.next_reply().await.expect("the takeover is answered");
    assert_took(&reply, 2, dispute.id, Some(2), &dispute.trade);
    other_human.send_take(dispute.id, 3, 0).await;

    assert_eq!(other_human.next_refusal().await, (Some(dispute.id), Some(3), CantDoReason::InvalidPubkey));
    assert_eq!(w.node.dispute_state(dispute.id).unwrap().solver, Some(human.pubkey()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_takes_an_open_dispute_even_from_a_write_solver_but_not_a_resolved_one() {
    let w = World::start(NodeScript::default()).await;
    let mut human = w.user(WRITE).await;
    let (held, resolved) = (w.open().await, w.open().await);
    human.take_and_expect_revision(held.id, 1).await;
    w.node.resolve(resolved.id, DisputeStatus::SellerRefunded).await.expect("resolve");

    assert!(w.node.take_by(held.id, w.node.pubkey()).await.expect("take"));
    assert!(!w.node.take_by(resolved.id, w.node.pubkey()).await.expect("take"));

    assert_eq!(w.node.dispute_state(held.id).unwrap().solver, Some(w.node.pubkey()));
    assert_eq!(w.node.dispute_state(resolved.id).unwrap().status, DisputeStatus::SellerRefunded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anyone_else_gets_cant_do_invalid_pubkey_never_not_authorized() {
    let w = World::start(NodeScript::default()).await;
    let (mut stranger, mut holder, mut other, mut gone) =
        (w.user(None).await, w.user(READ).await, w.user(READ).await, w.user(READ).await);
    let (open, held, resolved, dropped) = (w.open().await, w.open().await, w.open().await, w.open().await);
    holder.take_and_expect_revision(held.id, 1).await;
    w.node.resolve(resolved.id, DisputeStatus::Settled).await.expect("resolve");
    gone.take_and_expect_revision(dropped.id, 1).await;
    w.node.unregister_solver(gone.pubkey());

    let cases = [
        (&mut stranger, open.id, "not a solver"),
        (&mut other, held.id, "a read solver cannot take over from another"),
        (&mut holder, resolved.id, "no longer open"),
        (&mut gone, dropped.id, "its solver row was deleted since it took the dispute"),
    ];
    for (request_id, (user, dispute, case)) in (10..).zip(cases) {
        user.send_take(dispute, request_id, 0).await;
        assert_eq!(user.next_refusal().await, (Some(dispute), Some(request_id), CantDoReason::InvalidPubkey), "{case}");
    }
    let answers: Vec<NodeAnswer> = w.node.requests().into_iter().skip(2).map(|r| r.answer).collect();
    assert_eq!(answers, vec![NodeAnswer::CantDo(CantDoReason::InvalidPubkey); 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_of_an_unknown_dispute_gets_no_reply() {
    let w = World::start(NodeScript::default()).await;
    let mut solver = w.user(READ).await;

    solver.send_take(Uuid::new_v4(), 1, 0).await;

    assert!(solver.next_reply_within(QUIET).await.is_none());
    let request = &w.node.requests()[0];
    assert_eq!((request.dropped.clone(), request.answer.clone()), (None, NodeAnswer::Silent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_whose_order_is_gone_gets_not_found_once_the_requester_may_take_it() {
    let w = World::start(NodeScript::default()).await;
    let (mut solver, mut stranger) = (w.user(READ).await, w.user(None).await);
    let dispute = w.open().await;
    w.node.delete_order(dispute.id).expect("delete the order");

    stranger.send_take(dispute.id, 1, 0).await;
    solver.send_take(dispute.id, 2, 0).await;

    assert_eq!(stranger.next_refusal().await.2, CantDoReason::InvalidPubkey, "the requester is judged first");
    assert_eq!(solver.next_refusal().await, (Some(dispute.id), Some(2), CantDoReason::NotFound));
    assert_eq!(w.node.dispute_state(dispute.id).unwrap().status, DisputeStatus::Initiated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_taking_at_the_node_is_judged_alike_and_dated_by_the_node_s_clock() {
    let w = World::start(NodeScript::default()).await;
    let mut assistant = w.user(READ).await;
    let (human, reader, stranger) = (Keys::generate(), Keys::generate(), Keys::generate());
    w.node.register_solver(human.public_key(), SolverCategory::ReadWrite);
    w.node.register_solver(reader.public_key(), SolverCategory::Read);
    let dispute = w.open().await;
    let taken = assistant.take_and_expect_revision(dispute.id, 1).await;

    assert!(!w.node.take_by(dispute.id, stranger.public_key()).await.expect("take"));
    assert!(!w.node.take_by(dispute.id, reader.public_key()).await.expect("take"));
    assert!(w.node.take_by(dispute.id, human.public_key()).await.expect("take"));

    let taken_over = assistant.next_revision().await.expect("the takeover's revision");
    assert_eq!(tag(&taken_over, "s"), Some("in-progress"));
    let no_later_than = Timestamp::now().max(taken.created_at + 1_u64);
    assert!(
        taken.created_at < taken_over.created_at && taken_over.created_at <= no_later_than,
        "not back- or forward-dated"
    );
    assert_eq!(w.node.dispute_state(dispute.id).unwrap().solver, Some(human.public_key()));
    assert!(w.node.requests().iter().all(|r| r.identity == assistant.pubkey()), "takes at the node are not requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_revision_reaches_the_relay_after_the_state_changed() {
    let w = World::start(NodeScript::default()).await;
    let mut assistant = w.user(READ).await;
    let human = Keys::generate();
    w.node.register_solver(human.public_key(), SolverCategory::ReadWrite);
    let dispute = w.open().await;
    w.node.delay_revisions(Duration::from_secs(2));

    let taking = Instant::now();
    assert!(w.node.take_by(dispute.id, human.public_key()).await.expect("take"));
    let committed = Timestamp::now().max(dispute.revision.created_at + 1_u64);
    assistant.send_take(dispute.id, 1, 0).await;

    let first = assistant.next_event(WAIT, |e| is_reply(e) || is_revision(e)).await.expect("something");
    assert!(is_reply(&first), "the refusal comes while the revision is still on its way");
    let revision = assistant.next_revision().await.expect("the revision, late");
    assert!(taking.elapsed() >= Duration::from_secs(2), "published after {:?}", taking.elapsed());
    assert!(revision.created_at <= committed, "stamped when the take was committed");
    assert_eq!(w.node.requests()[0].answer, NodeAnswer::CantDo(CantDoReason::InvalidPubkey));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_answer_comes_late_while_the_node_goes_on_with_other_requests() {
    const DELAY: Duration = Duration::from_secs(2);
    let w = World::start(NodeScript::default()).await;
    let (mut slow, other) = (w.user(READ).await, w.user(READ).await);
    let dispute = w.open().await;
    w.node.delay_replies(DELAY);

    let sent = Instant::now();
    slow.send_take(dispute.id, 1, 0).await;
    other.send_take(Uuid::new_v4(), 2, 0).await;

    assert!(w.node.wait_for_requests(2, WAIT).await, "the second request is handled meanwhile");
    assert!(sent.elapsed() < DELAY);
    let first = slow.next_event(WAIT, |e| is_reply(e) || is_revision(e)).await.expect("the answer");
    assert!(is_reply(&first) && sent.elapsed() >= DELAY, "answered after {:?}", sent.elapsed());
    assert!(slow.next_revision().await.is_some(), "then the revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_info_event_carries_mostrod_s_tags_and_a_serbero_tag_only_when_configured() {
    let v2 = World::start(NodeScript { pow: 2, pow_first_contact: 9, ..NodeScript::default() }).await;
    let serbero = Keys::generate().public_key();
    let v1 = NodeScript {
        protocol_version: 1,
        pow: 2,
        pow_first_contact: 9,
        serbero: Some(serbero),
        ..NodeScript::default()
    };
    let v1 = World::start(v1).await;

    let (new, old) = (v2.node_info().await, v1.node_info().await);

    let announced = |info: &Event| {
        ["protocol_version", "pow", "pow_first_contact", "serbero", "y", "z"]
            .map(|name| tag(info, name).map(str::to_owned))
    };
    let some = |value: &str| Some(value.to_owned());
    assert_eq!(announced(&new), [some("2"), some("2"), some("9"), None, some("mostro"), some("info")]);
    // A gift-wrap node skips the first-contact gate, so it announces its base `pow` there.
    assert_eq!(
        announced(&old),
        [some("1"), some("2"), some("2"), some(&serbero.to_hex()), some("mostro"), some("info")]
    );
    assert_eq!(parse_node_info(&old, &v1.node.pubkey()).expect("Serbero parses it").serbero, Some(serbero));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_announced_serbero_is_registered_as_a_read_solver() {
    let serbero = Keys::generate();
    let w = World::start(NodeScript { serbero: Some(serbero.public_key()), ..NodeScript::default() }).await;
    let mut serbero = w.user_with(serbero).await;
    let dispute = w.open().await;

    serbero.take_and_expect_revision(dispute.id, 1).await;

    let human = w.user(WRITE).await.pubkey();
    assert!(w.node.take_by(dispute.id, human).await.expect("take"), "a write solver takes over from a read one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_contact_below_the_demand_is_dropped_on_kind_14_only() {
    let v2 = World::start(NodeScript { pow_first_contact: 8, ..NodeScript::default() }).await;
    let v1 = World::start(NodeScript { protocol_version: 1, pow_first_contact: 8, ..NodeScript::default() }).await;
    let (mut on_v2, mut on_v1) = (v2.user(READ).await, v1.user(READ).await);
    let (dispute_v2, dispute_v1) = (v2.open().await, v1.open().await);

    on_v2.send(&on_v2.unmined_take(dispute_v2.id, 8).await).await;
    on_v1.send(&on_v1.unmined_take(dispute_v1.id, 8).await).await;

    assert!(v2.node.wait_for_requests(1, WAIT).await);
    let request = &v2.node.requests()[0];
    assert!(request.dropped.as_deref().is_some_and(|why| why.starts_with("first contact")), "{request:?}");
    assert!(on_v1.next_reply().await.is_some(), "a gift wrap needs the base pow only");
    assert!(on_v2.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_enforcing_an_unannounced_first_contact_demand_drops_a_take_below_it_silently() {
    let w = World::start(NodeScript { unannounced_pow_first_contact: 8, ..NodeScript::default() }).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;
    assert_eq!(tag(&w.node_info().await, "pow_first_contact"), None, "nothing announced");

    solver.send(&solver.unmined_take(dispute.id, 8).await).await;
    assert!(solver.next_reply_within(QUIET).await.is_none());
    solver.send_take(dispute.id, 2, 8).await;

    assert!(solver.next_reply().await.is_some(), "answered with enough work");
    let dropped: Vec<bool> = w.node.requests().iter().map(|r| r.dropped.is_some()).collect();
    assert_eq!(dropped, [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_publishes_the_final_revision_after_every_earlier_one() {
    let w = World::start(NodeScript::default()).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;
    let taken = solver.take_and_expect_revision(dispute.id, 1).await;

    let settled = w.node.resolve(dispute.id, DisputeStatus::Settled).await.expect("resolve");

    assert_eq!(tag(&settled, "s"), Some("settled"));
    assert!(settled.created_at > taken.created_at);
    assert_eq!(w.revisions_on_relay(dispute.id).await, vec![settled.id]);
    assert_eq!(w.node.dispute_state(dispute.id).unwrap().status, DisputeStatus::Settled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_request_is_dropped_and_recorded() {
    let w = World::start(NodeScript::default()).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;
    let take = solver.take_event(dispute.id, 1, 0).await;
    let thirty_seconds_ago = Timestamp::now() - Duration::from_secs(30);
    let stale = EventBuilder::new(take.kind, take.content.clone())
        .tags(take.tags.clone())
        .custom_created_at(thirty_seconds_ago)
        .sign_with_keys(&solver.keys)
        .expect("sign");

    solver.send(&stale).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert!(request.age_secs >= 30, "{request:?}");
    assert!(request.dropped.as_deref().is_some_and(|why| why.starts_with("stale")), "{request:?}");
    assert_eq!(request.answer, NodeAnswer::Silent);
    assert!(solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_below_the_base_pow_is_dropped_and_recorded() {
    let w = World::start(NodeScript { pow: 8, ..NodeScript::default() }).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;

    solver.send(&solver.unmined_take(dispute.id, 8).await).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert!(request.dropped.as_deref().is_some_and(|why| why.starts_with("proof of work")), "{request:?}");
    assert!(solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_node_drops_a_v2_message() {
    let w = World::start(NodeScript { protocol_version: 1, ..NodeScript::default() }).await;
    let mut solver = w.user(READ).await;
    let dispute = w.open().await;
    let take = Message::new_dispute(Some(dispute.id), Some(1), None, Action::AdminTakeDispute, None);
    let v2 = wrap_message_with(Transport::Nip44Direct, &take, &solver.keys, &solver.keys, w.node.pubkey(), signed(0))
        .await
        .expect("wrap");

    solver.send(&v2).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert_eq!(request.kind, Kind::PrivateDirectMessage);
    assert!(request.dropped.as_deref().is_some_and(|why| why.contains("transport")), "{request:?}");
    assert!(solver.next_reply_within(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_actions_are_recorded_and_never_answered() {
    let w = World::start(NodeScript::default()).await;
    let mut solver = w.user(WRITE).await;
    let order = Uuid::new_v4();
    let settle = Message::new_dispute(Some(order), Some(3), None, Action::AdminSettle, None);
    let event =
        wrap_message_with(Transport::Nip44Direct, &settle, &solver.keys, &solver.keys, w.node.pubkey(), signed(0))
            .await
            .expect("wrap");

    solver.send(&event).await;

    assert!(w.node.wait_for_requests(1, WAIT).await);
    let request = &w.node.requests()[0];
    assert_eq!((request.action.clone(), request.id, request.request_id), (Action::AdminSettle, Some(order), Some(3)));
    assert_eq!(request.answer, NodeAnswer::Silent);
    assert!(solver.next_reply_within(QUIET).await.is_none());
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

/// A relay and a simulated node on it.
struct World {
    relay: TestRelay,
    node: FakeNode,
}

/// A dispute the node opened: the parties' trade keys and its `initiated` revision.
struct Opened {
    id: Uuid,
    trade: Trade,
    buyer: Keys,
    revision: Event,
}

impl World {
    async fn start(script: NodeScript) -> Self {
        let relay = TestRelay::start().await.expect("relay");
        let node = FakeNode::start(Keys::generate(), &relay.url(), script).await.expect("node");
        Self { relay, node }
    }

    /// A new user of the node, registered as a solver of `category`.
    async fn user(&self, category: Option<SolverCategory>) -> User {
        let keys = Keys::generate();
        if let Some(category) = category {
            self.node.register_solver(keys.public_key(), category);
        }
        self.user_with(keys).await
    }

    async fn user_with(&self, keys: Keys) -> User {
        User::connect(keys, &self.relay, &self.node).await
    }

    async fn open(&self) -> Opened {
        let (id, buyer, seller) = (Uuid::new_v4(), Keys::generate(), Keys::generate());
        let trade = Trade::opened_by_buyer(buyer.public_key(), seller.public_key());
        let revision = self.node.open_dispute(id, trade).await.expect("open the dispute");
        Opened { id, trade, buyer, revision }
    }

    async fn node_info(&self) -> Event {
        let client = connected(&Keys::generate(), &self.relay).await;
        let filter = Filter::new().kind(Kind::Custom(NODE_INFO_KIND)).author(self.node.pubkey());
        client.fetch_events(filter, WAIT).await.expect("fetch").first_owned().expect("the node info")
    }

    /// The ids of the dispute's revisions the relay keeps (only the newest).
    async fn revisions_on_relay(&self, dispute: Uuid) -> Vec<EventId> {
        let client = connected(&Keys::generate(), &self.relay).await;
        let filter = Filter::new()
            .kind(Kind::Custom(DISPUTE_EVENT_KIND))
            .author(self.node.pubkey())
            .identifier(dispute.to_string());
        client.fetch_events(filter, WAIT).await.expect("fetch").into_iter().map(|e| e.id).collect()
    }
}

/// A user of the node built on mostro-core alone, one key as identity and trade key: it hears
/// what is addressed to it and the node's dispute revisions from now on.
struct User {
    keys: Keys,
    node: PublicKey,
    client: Client,
    /// Read back from the relay, the way a solver learns the node's transport.
    node_info: NodeInfo,
    notifications: broadcast::Receiver<RelayPoolNotification>,
}

impl User {
    async fn connect(keys: Keys, relay: &TestRelay, node: &FakeNode) -> Self {
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
        Self { keys, node: node.pubkey(), client, node_info, notifications }
    }

    fn pubkey(&self) -> PublicKey {
        self.keys.public_key()
    }

    async fn take_event(&self, dispute: Uuid, request_id: u64, pow: u8) -> Event {
        let take = Message::new_dispute(Some(dispute), Some(request_id), None, Action::AdminTakeDispute, None);
        wrap_message_with(self.node_info.transport(), &take, &self.keys, &self.keys, self.node, signed(pow))
            .await
            .expect("wrap")
    }

    /// A take whose event id has fewer than `bits` leading zero bits.
    async fn unmined_take(&self, dispute: Uuid, bits: u8) -> Event {
        loop {
            let take = self.take_event(dispute, 1, 0).await;
            if get_leading_zero_bits(take.id) < bits {
                return take;
            }
        }
    }

    async fn send_take(&self, dispute: Uuid, request_id: u64, pow: u8) {
        let take = self.take_event(dispute, request_id, pow).await;
        self.send(&take).await;
    }

    /// Takes the dispute and returns the revision that follows the answer.
    async fn take_and_expect_revision(&mut self, dispute: Uuid, request_id: u64) -> Event {
        self.send_take(dispute, request_id, 0).await;
        let (_, reply) = self.next_reply().await.expect("admin-took-dispute");
        assert_eq!(reply.message.get_inner_message_kind().action, Action::AdminTookDispute);
        self.next_revision().await.expect("the in-progress revision")
    }

    async fn send(&self, event: &Event) {
        let sent = self.client.send_event(event).await.expect("send");
        assert!(!sent.success.is_empty(), "relay refused: {:?}", sent.failed);
    }

    async fn next_reply(&mut self) -> Option<(Event, UnwrappedMessage)> {
        self.next_reply_within(WAIT).await
    }

    async fn next_reply_within(&mut self, timeout: Duration) -> Option<(Event, UnwrappedMessage)> {
        let event = self.next_event(timeout, is_reply).await?;
        let reply = unwrap_incoming(&event, &self.keys).await.expect("a well-formed reply").expect("addressed to us");
        Some((event, reply))
    }

    /// The next reply, which must be a `cant-do`: (id, request id, reason).
    async fn next_refusal(&mut self) -> (Option<Uuid>, Option<u64>, CantDoReason) {
        let (_, reply) = self.next_reply().await.expect("a reply");
        let Message::CantDo(refusal) = reply.message else { panic!("a cant-do: {:?}", reply.message) };
        let Some(Payload::CantDo(Some(reason))) = refusal.payload else { panic!("a reason: {refusal:?}") };
        (refusal.id, refusal.request_id, reason)
    }

    async fn next_revision(&mut self) -> Option<Event> {
        self.next_revision_within(WAIT).await
    }

    async fn next_revision_within(&mut self, timeout: Duration) -> Option<Event> {
        self.next_event(timeout, is_revision).await
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

fn is_reply(event: &Event) -> bool {
    [Kind::GiftWrap, Kind::PrivateDirectMessage].contains(&event.kind)
}

/// A revision after the opening one.
fn is_revision(event: &Event) -> bool {
    event.kind == Kind::Custom(DISPUTE_EVENT_KIND) && tag(event, "s") != Some("initiated")
}

/// `reply` is `admin-took-dispute` for `dispute`, with the trade's details.
fn assert_took(reply: &UnwrappedMessage, version: u8, dispute: Uuid, request_id: Option<u64>, trade: &Trade) {
    let Message::Dispute(took) = &reply.message else { panic!("a dispute message: {:?}", reply.message) };
    assert_eq!(
        (took.version, took.action.clone(), took.id, took.request_id),
        (version, Action::AdminTookDispute, Some(dispute), request_id)
    );
    let Some(Payload::Dispute(id, Some(details))) = &took.payload else { panic!("dispute details") };
    assert_eq!((*id, details.id, details.initiator_pubkey.clone()), (dispute, trade.order_id, trade.buyer.to_hex()));
    assert_eq!(
        (details.buyer_pubkey.clone(), details.seller_pubkey.clone()),
        (Some(trade.buyer.to_hex()), Some(trade.seller.to_hex()))
    );
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
