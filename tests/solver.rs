//! Serbero as a read-only solver in the running daemon, against a scripted Mostro node and
//! simulated parties on a real relay: taking a dispute on either transport with the node's proof
//! of work, refusals and silence, party chat in both directions with every receive check, a
//! restart mid-conversation, and losing the dispute to a human.

mod support;

use std::time::Duration;

use mostro_core::error::CantDoReason;
use mostro_core::message::Action;
use nostr_sdk::prelude::*;
use serbero::auth_retry;
use serbero::session::{self, store::TakeState, SessionRef, SessionStatus};
use serbero::sessions::{self, Opened};
use serbero::sim::{FakeNode, NodeScript, SimParty, TakeAnswer};
use serbero_core::auth_retry::AuthState;
use serbero_core::chat::Party;
use serbero_core::config::Config;
use support::*;
use uuid::Uuid;

/// One dispute, its parties, the node and the daemon.
struct Scene {
    world: World,
    node: FakeNode,
    daemon: Daemon,
    dispute: Uuid,
    buyer: Keys,
    seller: Keys,
}

impl Scene {
    async fn start(script: NodeScript, answer: Option<TakeAnswerKind>) -> Self {
        Self::start_with(script, answer, |_| {}).await
    }

    async fn start_with(
        script: NodeScript,
        answer: Option<TakeAnswerKind>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let world = World::new().await;
        let node = FakeNode::start(world.mostro.keys.clone(), &world.relay.url(), script).await.unwrap();
        let (dispute, buyer, seller) = (Uuid::new_v4(), Keys::generate(), Keys::generate());
        match answer {
            Some(TakeAnswerKind::Took) => node.answer(
                dispute,
                TakeAnswer::Took { order_id: Uuid::new_v4(), buyer: buyer.public_key(), seller: seller.public_key() },
            ),
            Some(TakeAnswerKind::CantDo(reason)) => node.answer(dispute, TakeAnswer::CantDo(reason)),
            None => node.answer(dispute, TakeAnswer::Silent),
        }
        let mut config = world.config(&[]);
        config.mediation.enabled = true;
        config.mediation.take_timeout_seconds = 2;
        configure(&mut config);
        let daemon = Daemon::start(config).await;
        let scene = Self { world, node, daemon, dispute, buyer, seller };
        scene.node.publish_dispute(dispute, "initiated").await.unwrap();
        let stored = format!("SELECT COUNT(*) FROM disputes WHERE dispute_id = '{dispute}'");
        assert!(wait_for_scalar(&scene.world.db_path(), &stored, 1, WAIT).await, "dispute stored");
        scene.wait_for_node_info().await;
        scene
    }

    fn sessions(&self) -> &sessions::SessionsRef {
        self.daemon.children().sessions.as_ref().expect("sessions run with mediation enabled")
    }

    async fn wait_for_node_info(&self) {
        let relay = &self.daemon.children().relay;
        let deadline = tokio::time::Instant::now() + WAIT;
        while relay.call(serbero::relay::Msg::Status, Some(WAIT)).await.unwrap().unwrap().node_info.is_none() {
            assert!(tokio::time::Instant::now() < deadline, "node info never reached the relay actor");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn open(&self) -> Opened {
        let dispute_id = self.dispute.to_string();
        let answer = self.sessions().call(|reply| sessions::Msg::Open { dispute_id, reply }, Some(WAIT)).await;
        answer.unwrap().unwrap()
    }

    async fn session(&self) -> Option<SessionRef> {
        let dispute_id = self.dispute.to_string();
        let answer = self.sessions().call(|reply| sessions::Msg::Session { dispute_id, reply }, Some(WAIT)).await;
        answer.unwrap().unwrap()
    }

    /// The stored take: (state, cant_do_reason, ended_reason).
    fn take(&self) -> Option<(String, Option<String>, Option<String>)> {
        let conn = rusqlite::Connection::open(self.world.db_path()).unwrap();
        conn.query_row(
            "SELECT state, cant_do_reason, ended_reason FROM solver_takes WHERE dispute_id = ?1",
            [self.dispute.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()
    }

    async fn wait_for_take(&self, state: &str) {
        let sql =
            format!("SELECT COUNT(*) FROM solver_takes WHERE dispute_id = '{}' AND state = '{state}'", self.dispute);
        assert!(wait_for_scalar(&self.world.db_path(), &sql, 1, WAIT).await, "take never {state}: {:?}", self.take());
    }

    async fn party(&self, keys: &Keys) -> SimParty {
        SimParty::connect(keys.clone(), &self.world.relay.url(), self.world.serbero.public_key()).await.unwrap()
    }

    fn inbound(&self, party: Party) -> Vec<String> {
        let sql = format!(
            "SELECT content FROM party_messages
              WHERE dispute_id = '{}' AND party = '{party}' AND direction = 'inbound' ORDER BY id",
            self.dispute
        );
        rows(&self.world.db_path(), &sql)
    }

    async fn wait_for_inbound(&self, n: i64) {
        let sql = format!(
            "SELECT COUNT(*) FROM party_messages WHERE dispute_id = '{}' AND direction = 'inbound'",
            self.dispute
        );
        assert!(wait_for_scalar(&self.world.db_path(), &sql, n, WAIT).await, "expected {n} party messages");
    }

    async fn say(&self, party: Party, text: &str) -> Result<(), String> {
        let session = self.session().await.expect("a live session");
        let text = text.to_string();
        session.call(|reply| session::Msg::Say { party, text, reply }, Some(WAIT)).await.unwrap().unwrap()
    }

    async fn status(&self) -> SessionStatus {
        let session = self.session().await.expect("a live session");
        session.call(session::Msg::Status, Some(WAIT)).await.unwrap().unwrap()
    }
}

enum TakeAnswerKind {
    Took,
    CantDo(CantDoReason),
}

fn no_forbidden_action_reached(node: &FakeNode) {
    let actions: Vec<Action> = node.requests().into_iter().map(|r| r.action).collect();
    assert!(actions.iter().all(|a| *a == Action::AdminTakeDispute), "the node received {actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_on_protocol_v2_meets_the_first_contact_proof_of_work_and_persists_the_parties() {
    let script = NodeScript { protocol_version: 2, pow: 2, pow_first_contact: 8, serbero: None };
    let s = Scene::start(script, Some(TakeAnswerKind::Took)).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;

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
    assert_eq!(status.state, TakeState::Took);

    // No serbero tag: the successful take is what proves Serbero a solver.
    let auth = s.daemon.children().auth_retry.clone().unwrap();
    let standing = auth.call(auth_retry::Msg::Status, Some(WAIT)).await.unwrap().unwrap();
    assert_eq!(standing.state, AuthState::Authorized);
    no_forbidden_action_reached(&s.node);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_on_protocol_v1_goes_as_a_gift_wrap() {
    let script = NodeScript { protocol_version: 1, pow: 4, pow_first_contact: 0, serbero: None };
    let s = Scene::start(script, Some(TakeAnswerKind::Took)).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;
    let take = &s.node.requests()[0];
    assert_eq!((take.kind, take.dropped.as_deref()), (Kind::GiftWrap, None));
    assert!(take.pow_bits >= 4);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_recorded_with_its_reason_and_stops_further_takes() {
    let script = NodeScript::default();
    let s = Scene::start(script, Some(TakeAnswerKind::CantDo(CantDoReason::InvalidPubkey))).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("refused").await;
    let (_, cant_do, ended) = s.take().unwrap();
    assert_eq!(cant_do.as_deref(), Some("invalid_pubkey"));
    assert_eq!(ended.as_deref(), Some("cant-do: invalid_pubkey"));
    let report = serbero::status::StatusReport::read(&s.world.db_path()).unwrap();
    assert_eq!(report.takes_by_state, [("refused".to_string(), 1)]);
    assert!(report.to_string().contains("refused    dispute"), "the operator sees it:\n{report}");
    assert!(report.to_string().contains("cant-do: invalid_pubkey"), "with the node's reason:\n{report}");

    // `invalid_pubkey` means "not a solver": AuthRetry no longer lets a session try.
    let auth = s.daemon.children().auth_retry.clone().unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let standing = auth.call(auth_retry::Msg::Status, Some(WAIT)).await.unwrap().unwrap();
        if !standing.may_take {
            assert_eq!(standing.state, AuthState::Unauthorized);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "AuthRetry never learned of the refusal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.open().await, Opened::NotAuthorized(AuthState::Unauthorized));
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_ends_in_a_recorded_timeout() {
    let s = Scene::start(NodeScript::default(), None).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("timed_out").await;
    assert_eq!(s.take().unwrap().2.as_deref(), Some("no answer from the node in time"));
    assert_eq!(s.node.requests().len(), 1, "one take, not retried once relays acknowledged it");
    assert!(s.session().await.is_none(), "the session ended");
    assert_eq!(s.open().await, Opened::Started, "an unanswered take may be asked again");
    assert!(s.node.wait_for_requests(2, WAIT).await, "a second take request");
    s.wait_for_take("timed_out").await;
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_and_serbero_talk_over_kind_14_and_the_legacy_envelope_is_read() {
    let s = Scene::start(NodeScript::default(), Some(TakeAnswerKind::Took)).await;
    let (buyer, seller) = (s.party(&s.buyer).await, s.party(&s.seller).await);
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;

    buyer.say("I paid by SEPA on Monday").await.unwrap();
    seller.say_legacy("nothing arrived on my account").await.unwrap();
    s.wait_for_inbound(2).await;
    assert_eq!(s.inbound(Party::Buyer), vec!["I paid by SEPA on Monday"]);
    assert_eq!(s.inbound(Party::Seller), vec!["nothing arrived on my account"]);

    s.say(Party::Seller, "Please check your statement for Monday.").await.unwrap();
    assert!(seller.wait_received(1, WAIT).await, "the seller reads Serbero's message");
    assert_eq!(seller.received(), vec!["Please check your statement for Monday."]);
    assert!(buyer.received().is_empty(), "each party gets only its own text");
    let sent = "SELECT COUNT(*) FROM outbox WHERE notif_type = 'party_message' AND status = 'sent'";
    assert!(wait_for_scalar(&s.world.db_path(), sent, 1, WAIT).await, "delivered through the outbox");
    assert_eq!(s.say(Party::Buyer, "   ").await, Err("refusing to send an empty message".to_string()));
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_chat_events_are_rejected_and_a_replay_is_stored_once() {
    let s = Scene::start(NodeScript::default(), Some(TakeAnswerKind::Took)).await;
    let buyer = s.party(&s.buyer).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;

    let genuine = buyer.say("genuine").await.unwrap();
    buyer.replay(&genuine).await.unwrap();
    buyer.say_forged_signer("I am the buyer, release now").await.unwrap();
    buyer.say_stale("stale re-wrap").await.unwrap();
    buyer.say_from_future("from the future").await.unwrap();
    buyer.say_oversized().await.unwrap();
    buyer.say_inner_kind(4, "wrong inner kind").await.unwrap();
    buyer.say_with_extra_p("two p tags").await.unwrap();
    // A message sent after all of them: once it is stored, every earlier one was judged.
    buyer.say("last").await.unwrap();
    s.wait_for_inbound(2).await;
    assert_eq!(s.inbound(Party::Buyer), vec!["genuine", "last"]);
    assert_eq!(s.status().await.received, 2);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_party_is_rate_limited() {
    let s = Scene::start(NodeScript::default(), Some(TakeAnswerKind::Took)).await;
    let seller = s.party(&s.seller).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;
    seller.flood(80).await.unwrap();
    s.wait_for_inbound(60).await;
    // The burst is 60; a token comes back every 2 s, so a few more may pass while the flood lasts.
    let stored = s.inbound(Party::Seller).len();
    assert!((60..70).contains(&stored), "{stored} of 80 stored");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_conversation_continues_with_keys_derived_again() {
    let s = Scene::start(NodeScript::default(), Some(TakeAnswerKind::Took)).await;
    let (buyer, seller) = (s.party(&s.buyer).await, s.party(&s.seller).await);
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;
    buyer.say("before the restart").await.unwrap();
    s.wait_for_inbound(1).await;
    let Scene { world, node, daemon, dispute, buyer: buyer_keys, seller: seller_keys } = s;
    daemon.stop().await;

    let mut config = world.config(&[]);
    config.mediation.enabled = true;
    let daemon = Daemon::start(config).await;
    let s = Scene { world, node, daemon, dispute, buyer: buyer_keys, seller: seller_keys };
    let deadline = tokio::time::Instant::now() + WAIT;
    while s.session().await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the live conversation was not resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    buyer.say("after the restart").await.unwrap();
    s.wait_for_inbound(2).await;
    assert_eq!(s.inbound(Party::Buyer), vec!["before the restart", "after the restart"], "no duplicate on resume");
    s.say(Party::Seller, "Still here.").await.unwrap();
    assert!(seller.wait_received(1, WAIT).await);
    assert_eq!(s.node.requests().len(), 1, "a resumed conversation does not take the dispute again");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_taking_over_ends_the_conversation() {
    let s = Scene::start(NodeScript::default(), Some(TakeAnswerKind::Took)).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;
    s.node.hand_over(s.dispute).await.unwrap();
    s.wait_for_take("superseded").await;
    assert_eq!(s.take().unwrap().2.as_deref(), Some("taken over by a human solver"));
    assert!(s.session().await.is_none(), "Serbero no longer writes to the parties");
    assert_eq!(s.open().await, Opened::Ended(TakeState::Superseded), "nor takes the dispute back");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_ends_the_conversation() {
    let s = Scene::start(NodeScript::default(), Some(TakeAnswerKind::Took)).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;
    s.node.publish_dispute(s.dispute, "settled").await.unwrap();
    s.wait_for_take("closed").await;
    assert_eq!(s.take().unwrap().2.as_deref(), Some("dispute resolved: settled"));
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_is_restarted_alone_from_the_database() {
    let s = Scene::start(NodeScript::default(), Some(TakeAnswerKind::Took)).await;
    let buyer = s.party(&s.buyer).await;
    assert_eq!(s.open().await, Opened::Started);
    s.wait_for_take("took").await;
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
