//! Serbero as a read-only solver in the running daemon, against a simulated Mostro node, a
//! scripted model and simulated parties on a real relay: taking a dispute on either transport
//! with the node's proof of work, refusals and silence, party chat with every receive check, a
//! restart mid-conversation, a killed session, and losing the dispute to a human.

mod support;

use std::time::Duration;

use mostro_core::message::Action;
use nostr_sdk::prelude::*;
use serbero::auth_retry;
use serbero::session::store::TakeState;
use serbero_core::auth_retry::{AuthState, Takes};
use serbero_core::mediation::SessionState;
use serbero_sim::{FakeNode, NodeScript, SolverCategory};
use support::scene::{mediation_config, Scene, Setup};
use support::*;

fn no_forbidden_action_reached(node: &FakeNode) {
    let actions: Vec<Action> = node.requests().into_iter().map(|r| r.action).collect();
    assert!(actions.iter().all(|a| *a == Action::AdminTakeDispute), "the node received {actions:?}");
}

/// Take requests Serbero published to the node (one key is its identity and trade key).
async fn takes_on_relay(s: &Scene) -> usize {
    let client = Client::default();
    client.add_relay(s.world.relay.url()).await.unwrap();
    client.try_connect(WAIT).await;
    let to_the_node =
        Filter::new().kind(Kind::PrivateDirectMessage).author(s.world.serbero.public_key()).pubkey(s.node.pubkey());
    client.fetch_events(to_the_node, WAIT).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_on_protocol_v2_meets_the_first_contact_proof_of_work_and_persists_the_parties() {
    let node = NodeScript { protocol_version: 2, pow: 2, pow_first_contact: 8, ..NodeScript::default() };
    let s = Scene::start(Setup { node, ..Setup::default() }).await;
    s.wait_for_take(TakeState::Took).await;

    let requests = s.node.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let take = &requests[0];
    assert_eq!((take.kind, take.dropped.as_deref()), (Kind::PrivateDirectMessage, None));
    assert!(take.pow_bits >= 8, "mined {} bits", take.pow_bits);
    assert!(take.age_secs <= 10, "the node drops messages older than 10 s");
    assert_eq!((take.id, take.identity), (Some(s.dispute), s.world.serbero.public_key()));

    let status = s.status().await;
    let parties = status.parties.expect("parties stored");
    assert_eq!((parties.buyer, parties.seller), (s.buyer.public_key().to_hex(), s.seller.public_key().to_hex()));
    assert_eq!(status.take, Some(TakeState::Took));

    // No serbero tag: the successful take is what proves Serbero a solver.
    let auth = s.daemon.children().auth_retry.clone().unwrap();
    let standing = auth.call(auth_retry::Msg::Status, Some(WAIT)).await.unwrap().unwrap();
    assert_eq!(standing.state, AuthState::Authorized);
    no_forbidden_action_reached(&s.node);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_on_protocol_v1_goes_as_a_gift_wrap() {
    let node = NodeScript { protocol_version: 1, pow: 4, ..NodeScript::default() };
    let s = Scene::start(Setup { node, ..Setup::default() }).await;
    s.wait_for_take(TakeState::Took).await;
    let take = &s.node.requests()[0];
    assert_eq!((take.kind, take.dropped.as_deref()), (Kind::GiftWrap, None));
    assert!(take.pow_bits >= 4);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_no_revision_explains_counts_against_serbero_and_stops_further_takes() {
    let s = Scene::start(Setup { serbero_registered: None, ..Setup::default() }).await;
    s.wait_for_take(TakeState::Refused).await;
    let (_, cant_do, ended) = s.take().unwrap();
    assert_eq!(cant_do.as_deref(), Some("invalid_pubkey"));
    assert_eq!(ended.as_deref(), Some("cant-do: invalid_pubkey"));
    assert_eq!(s.session_state(), None, "no session without a take");
    let report = serbero::status::StatusReport::read(&s.db()).unwrap();
    assert_eq!(report.takes_by_state, [("refused".to_string(), 1)]);
    assert!(report.to_string().contains("cant-do: invalid_pubkey"), "with the node's reason:\n{report}");

    // No revision shows the dispute claimed within the grace period: evidence against Serbero.
    let auth = s.daemon.children().auth_retry.clone().unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let standing = auth.call(auth_retry::Msg::Status, Some(WAIT)).await.unwrap().unwrap();
        if standing.state != AuthState::Unconfirmed {
            assert_eq!((standing.state, standing.takes), (AuthState::Unauthorized, Takes::None));
            assert!(standing.against.is_some_and(|why| why.contains("invalid_pubkey")), "{standing:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "AuthRetry never learned of the refusal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_take_is_tried_three_times_then_handed_to_the_human_solvers() {
    let s = Scene::start(Setup { node_offline: true, ..Setup::default() }).await;
    assert_eq!(s.wait_for_escalation().await, "take_unanswered");
    let (state, _, ended) = s.take().unwrap();
    assert_eq!((state.as_str(), ended.as_deref()), ("timed_out", Some("no answer from the node to any try")));
    assert!(s.node.requests().is_empty(), "the node heard nothing");
    assert_eq!(takes_on_relay(&s).await, 3, "three tries, each signed anew");
    let alert = dm_containing(&s.solver, "take_unanswered").await.expect("the solvers are told");
    assert!(alert.text.contains(&s.dispute.to_string()), "{}", alert.text);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_read_their_own_question_and_their_replies_are_taken_in_including_legacy_chat() {
    let s = Scene::start(Setup::default()).await;
    let (buyer, seller) = (s.party(&s.buyer).await, s.party(&s.seller).await);
    s.wait_for_session(SessionState::AwaitingResponse).await;
    assert!(buyer.wait_received(1, WAIT).await && seller.wait_received(1, WAIT).await, "both got a question");
    assert_ne!(buyer.received()[0], seller.received()[0], "each party reads the questions meant for it");

    buyer.say("I paid by SEPA on Monday, reference 4711").await.unwrap();
    seller.say_legacy("nothing arrived on my account yet").await.unwrap();
    s.wait_for_inbound(2).await;
    assert_eq!(s.inbound("buyer"), ["I paid by SEPA on Monday, reference 4711"]);
    assert_eq!(s.inbound("seller"), ["nothing arrived on my account yet"]);
    let sent = "SELECT COUNT(*) FROM outbox WHERE notif_type = 'party_message' AND status = 'sent'";
    assert!(wait_for_scalar(&s.db(), sent, 2, WAIT).await, "questions delivered through the outbox");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_chat_events_are_rejected_and_a_replay_is_stored_once() {
    let s = Scene::start(Setup::default()).await;
    let buyer = s.party(&s.buyer).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;

    let genuine = buyer.say("genuine").await.unwrap();
    buyer.replay(&genuine).await.unwrap();
    buyer.say_forged_signer("I am the buyer, release now").await.unwrap();
    buyer.say_stale("stale re-wrap").await.unwrap();
    buyer.say_from_future("from the future").await.unwrap();
    buyer.say_oversized().await.unwrap();
    buyer.say_inner_kind(4, "wrong inner kind").await.unwrap();
    buyer.say_with_extra_p("two p tags").await.unwrap();
    // Sent after all of them: once it is stored, every earlier one was judged.
    buyer.say("last").await.unwrap();
    s.wait_for_inbound(2).await;
    assert_eq!(s.inbound("buyer"), ["genuine", "last"]);
    assert_eq!(s.status().await.received, 2);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_party_is_rate_limited() {
    let s = Scene::start(Setup::default()).await;
    let seller = s.party(&s.seller).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    seller.flood(80).await.unwrap();
    s.wait_for_inbound(60).await;
    // The burst is 60; a token comes back every 2 s, so a few more may pass while the flood lasts.
    let stored = s.inbound("seller").len();
    assert!((60..70).contains(&stored), "{stored} of 80 stored");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_conversation_continues_with_keys_derived_again() {
    let s = Scene::start(Setup::default()).await;
    let (buyer, seller) = (s.party(&s.buyer).await, s.party(&s.seller).await);
    s.wait_for_session(SessionState::AwaitingResponse).await;
    buyer.say("before the restart").await.unwrap();
    s.wait_for_inbound(1).await;
    let Scene { world, node, model, daemon, solver, dispute, buyer: buyer_keys, seller: seller_keys } = s;
    daemon.stop().await;

    let daemon = Daemon::start(mediation_config(&world, &solver, &model)).await;
    let s = Scene { world, node, model, daemon, solver, dispute, buyer: buyer_keys, seller: seller_keys };
    // Waiting for the parties, it resumes asleep: its channels watched, no actor until news.
    s.daemon.sessions().await;
    let watched = |status: serbero::relay::RelayStatus| status.chat_channels;
    let relay = &s.daemon.children().relay;
    let deadline = tokio::time::Instant::now() + WAIT;
    while watched(relay.call(serbero::relay::Msg::Status, Some(WAIT)).await.unwrap().unwrap()) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the live session's channels were not watched again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.session().await.is_none(), "no actor for a session only waiting");
    seller.say("after the restart").await.unwrap();
    s.wait_for_inbound(2).await;
    assert_eq!(s.inbound("buyer"), ["before the restart"], "no duplicate on resume");
    // The round completed after the restart: the model's summary reaches the solver.
    s.wait_for_session(SessionState::Closed).await;
    assert!(dm_containing(&s.solver, "mediation_summary/v1").await.is_some());
    assert_eq!(s.node.requests().len(), 1, "a resumed session does not take the dispute again");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_taking_over_supersedes_the_session() {
    let s = Scene::start(Setup::default()).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    let human = Keys::generate().public_key();
    s.node.register_solver(human, SolverCategory::ReadWrite);
    assert!(s.node.take_by(s.dispute, human).await.unwrap(), "a write solver takes over from Serbero");
    s.wait_for_take(TakeState::Superseded).await;
    assert_eq!(s.take().unwrap().2.as_deref(), Some("taken over by a human solver"));
    s.wait_for_session(SessionState::Closed).await;
    assert_eq!((s.events("superseded_by_human"), s.events("session_closed")), (1, 1));
    assert!(s.session().await.is_none(), "Serbero no longer writes to the parties");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_is_restarted_alone_from_the_database() {
    let s = Scene::start(Setup::default()).await;
    let buyer = s.party(&s.buyer).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    let first = s.session().await.unwrap();
    first.kill();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match s.session().await {
            Some(session) if session.get_id() != first.get_id() => break,
            _ => assert!(tokio::time::Instant::now() < deadline, "the session was not restarted"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    buyer.say("are you still there?").await.unwrap();
    s.wait_for_inbound(1).await;
    assert!(s.daemon.is_running(), "the daemon and its other actors ran on");
    assert_eq!(s.node.requests().len(), 1, "restarted from the database, not taken again");
    s.daemon.stop().await;
}
