//! Scripts for one MediationSession: a probe plays Relay (its status calls, publishes and chat
//! watches), the script plays the node by casting its answers, and a scripted model endpoint on
//! loopback answers the session's reasoning calls.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mostro_core::message::{Action, Message, Payload};
use mostro_core::transport::{unwrap_incoming, wrap_message_nip44};
use nostr_sdk::{Keys, Kind, PublicKey, Timestamp};
use serbero::base::Base;
use serbero::clock::Clock;
use serbero::harness::{accept_all, published_ids, Probe, Publish, Recorder, Spawned, TempDb, SCRIPT_RELAY_URL};
use serbero::reasoning::Reasoner;
use serbero::relay::{self, NodeMessage, RelayStatus};
use serbero::session::{self, store::TakeState, MediationSession, Mediator};
use serbero_core::config::{MediationSettings, OutboxSettings, PromptSettings, ReasoningSettings};
use serbero_core::dispute::{DisputeEvent, DisputeStatus, Initiator};
use serbero_core::mediation::SessionState;
use serbero_core::node_info::NodeInfo;
use serbero_core::prompts::PromptBundle;
use serbero_sim::{Brain, FakeModel, Turn};
use uuid::Uuid;

const REQUEST_ID: u64 = 42;

struct Script {
    db: TempDb,
    model: FakeModel,
    serbero: Keys,
    node: Keys,
    dispute: Uuid,
    relay: Recorder<relay::Msg>,
    relay_ref: ractor::ActorRef<relay::Msg>,
}

impl Script {
    async fn new() -> Self {
        let (relay_ref, relay) = Probe::<relay::Msg>::spawn().await;
        let db = TempDb::migrated();
        let dispute = Uuid::new_v4();
        let conn = rusqlite::Connection::open(db.path()).unwrap();
        conn.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
             VALUES (?1, 'e1', 'node', 'buyer', 1, 1)",
            [dispute.to_string()],
        )
        .unwrap();
        let model = FakeModel::start().await.unwrap();
        let brain = Brain::cooperative();
        model.respond_with(move |request| brain.answer(request));
        Self { db, model, serbero: Keys::generate(), node: Keys::generate(), dispute, relay, relay_ref }
    }

    fn mediator(&self) -> Arc<Mediator> {
        let settings = ReasoningSettings {
            enabled: true,
            provider: "openai-compatible".into(),
            model: "scripted".into(),
            api_base: self.model.url(),
            api_key: Some("test-key".into()),
            ..ReasoningSettings::default()
        };
        let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("prompts");
        let paths = PromptSettings::in_dir(&prompts);
        Arc::new(Mediator {
            reasoner: Reasoner::build(&settings).unwrap(),
            bundle: Arc::new(PromptBundle::load(&paths).unwrap()),
            settings: MediationSettings::default(),
            solvers: Vec::new(),
            observers: Vec::new(),
            directory: Default::default(),
            escalation: None,
            evaluation_retry: Duration::from_millis(100),
            hibernate_after: Duration::from_secs(60),
        })
    }

    async fn start(&self, take_timeout: u64) -> Spawned<session::Msg> {
        let args = session::Args {
            dispute_id: self.dispute.to_string(),
            request_id: REQUEST_ID,
            base: Base {
                db_path: self.db.path().to_path_buf(),
                keys: self.serbero.clone(),
                outbox: OutboxSettings::default(),
                relay: self.relay_ref.clone(),
                clock: Clock::tokio(),
            },
            mostro: self.node.public_key(),
            auth_retry: None,
            mediator: self.mediator(),
            bedroom: None,
            woken_by: None,
            late_answer: None,
            take_timeout: Duration::from_secs(take_timeout),
        };
        Spawned::start(MediationSession, args).await
    }

    fn node_info(&self, protocol_version: u8, pow_first_contact: u8) -> NodeInfo {
        NodeInfo { protocol_version, pow: 0, pow_first_contact: Some(pow_first_contact), serbero: None, created_at: 1 }
    }

    async fn answer_status(&mut self, node_info: Option<NodeInfo>) {
        let relay::Msg::Status(reply) = self.relay.next().await else { panic!("expected a status call") };
        let _ = reply.send(RelayStatus { relays: Vec::new(), chat_channels: 0, node_info });
    }

    /// The take request as the node opens it: (message, event kind, PoW bits).
    async fn take_request(&mut self) -> (Publish, Message) {
        let publish = Publish::next_n(&mut self.relay, 1).await.remove(0);
        let opened = unwrap_incoming(&publish.event, &self.node).await.unwrap().expect("addressed to the node");
        assert_eq!(opened.identity, self.serbero.public_key());
        (publish, opened.message)
    }

    /// The node's `admin-took-dispute` as the Relay actor would hand it over.
    fn took(&self, buyer: PublicKey, seller: PublicKey, at: i64) -> NodeMessage {
        let info = serde_json::from_value(serde_json::json!({
            "id": Uuid::new_v4(), "kind": "sell", "status": "dispute", "hash": null, "preimage": null,
            "order_previous_status": "active", "initiator_pubkey": buyer.to_hex(), "buyer_pubkey": buyer.to_hex(),
            "seller_pubkey": seller.to_hex(), "initiator_full_privacy": true, "counterpart_full_privacy": true,
            "initiator_info": null, "counterpart_info": null, "premium": 0, "payment_method": "SEPA",
            "amount": 1, "fiat_amount": 1, "fee": 0, "routing_fee": 0, "buyer_invoice": null,
            "invoice_held_at": 0, "taken_at": 0, "created_at": 0
        }))
        .unwrap();
        let payload = Payload::Dispute(self.dispute, Some(info));
        let message =
            Message::new_dispute(Some(self.dispute), Some(REQUEST_ID), None, Action::AdminTookDispute, Some(payload));
        let event = wrap_message_nip44(&message, &self.node, &self.node, self.serbero.public_key(), Default::default())
            .unwrap();
        NodeMessage { message: Box::new(message), created_at: at, event_id: event.id }
    }

    fn revision(&self, status: DisputeStatus, created_at: i64) -> DisputeEvent {
        DisputeEvent {
            dispute_id: self.dispute.to_string(),
            status,
            initiator: Initiator::Buyer,
            assigned_solver: None,
            event_id: Keys::generate().public_key().to_hex(),
            mostro_pubkey: self.node.public_key().to_hex(),
            created_at,
        }
    }

    /// Takes the two `WatchChat` casts of an opened conversation: their signing keys.
    async fn chat_watches(&mut self) -> Vec<PublicKey> {
        let mut keys = Vec::new();
        for _ in 0..2 {
            let relay::Msg::WatchChat { sign, legacy, .. } = self.relay.next().await else {
                panic!("expected a chat watch")
            };
            assert_ne!(sign, legacy, "kind-14 channel and the legacy envelope have their own keys");
            keys.push(sign);
        }
        keys
    }

    /// What a restart between the session's opening and its first questions leaves: the take
    /// ours, the session `opening` with the opening verdict's classification stored, nothing
    /// asked yet.
    fn opened_but_not_asked(&self) {
        let bundle = self.mediator().bundle.clone();
        let (buyer, seller) = (Keys::generate().public_key().to_hex(), Keys::generate().public_key().to_hex());
        let (session, now) = (Uuid::new_v4().to_string(), Timestamp::now().as_secs() as i64);
        let (dispute, order) = (self.dispute.to_string(), Uuid::new_v4().to_string());
        let conn = rusqlite::Connection::open(self.db.path()).unwrap();
        conn.execute(
            "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, answered_at,
                                       order_id, buyer_pubkey, seller_pubkey, updated_at)
             VALUES (?1, 'took', ?2, ?3, ?3, ?3, ?4, ?5, ?6, ?3)",
            rusqlite::params![dispute, REQUEST_ID as i64, now, order, buyer, seller],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO mediation_sessions (session_id, dispute_id, state, prompt_bundle_id, policy_hash,
                                             started_at, last_transition_at)
             VALUES (?1, ?2, 'opening', ?3, ?4, ?5, ?5)",
            rusqlite::params![session, dispute, bundle.id, bundle.policy_hash, now],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO mediation_events (session_id, kind, payload_json, prompt_bundle_id, policy_hash, occurred_at)
             VALUES (?1, 'classification_produced', '{}', ?2, ?3, ?4)",
            rusqlite::params![session, bundle.id, bundle.policy_hash, now],
        )
        .unwrap();
    }

    fn take_row(&self) -> (String, Option<String>) {
        let sql = "SELECT state || '|' || COALESCE(ended_reason, '') FROM solver_takes WHERE dispute_id = ?1";
        let row = self.db.column::<String>(sql, [self.dispute.to_string()]).remove(0);
        let (state, reason) = row.split_once('|').unwrap();
        (state.to_string(), (!reason.is_empty()).then(|| reason.to_string()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_take_waits_for_the_node_info_and_says_so_when_its_tries_run_out() {
    let mut s = Script::new().await;
    let mut session = s.start(1).await;
    // Relay never knows the node's info event: every try waits for it until its deadline.
    let ended = {
        let ended = session.ended();
        tokio::pin!(ended);
        loop {
            tokio::select! {
                exit = &mut ended => break exit,
                message = s.relay.next() => match message {
                    relay::Msg::Status(reply) => {
                        let _ = reply.send(RelayStatus { relays: Vec::new(), chat_channels: 0, node_info: None });
                    }
                    relay::Msg::Publish { .. } => panic!("a take went out without the node's info event"),
                    _ => {}
                },
            }
        }
    };
    assert_eq!(ended, Ok(Some("finished".into())));
    assert_eq!(
        s.take_row(),
        ("timed_out".into(), Some("the node's info event (kind 38385) never arrived, so no take was sent".into()))
    );
    let trigger = s.db.column::<String>(
        "SELECT json_extract(payload_json, '$.trigger') FROM mediation_events WHERE kind = 'handoff_prepared'",
        [],
    );
    assert_eq!(trigger, ["take_unanswered"], "handed to the human solvers, not left silent");
    assert_eq!(s.db.count("SELECT tries_unanswered FROM solver_takes", []), 2, "three tries in all");
    assert_eq!(s.model.requests().len(), 1, "one opening verdict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_take_is_signed_again_fresh() {
    let mut s = Script::new().await;
    let session = s.start(15).await;
    s.answer_status(Some(s.node_info(2, 6))).await;
    let (first, message) = s.take_request().await;
    let inner = message.get_inner_message_kind();
    assert_eq!(
        (inner.action.clone(), inner.id, inner.request_id),
        (Action::AdminTakeDispute, Some(s.dispute), Some(REQUEST_ID))
    );
    assert_eq!(first.event.kind, Kind::PrivateDirectMessage);
    assert!(nostr_sdk::nips::nip13::get_leading_zero_bits(first.event.id) >= 6);
    first.answer(Vec::new(), vec![(SCRIPT_RELAY_URL.into(), "rate-limited".into())]);

    s.answer_status(Some(s.node_info(2, 6))).await;
    let (second, _) = s.take_request().await;
    assert_ne!(second.event.id, first.event.id, "a new event, not the stale one again");
    assert!(second.event.created_at >= first.event.created_at);
    assert!(Timestamp::now().as_secs() - second.event.created_at.as_secs() < 10, "the node drops what is 10 s old");
    assert_eq!(s.take_row().0, "requested");
    session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_withdraws_what_was_not_delivered_and_ends_the_conversation() {
    let mut s = Script::new().await;
    let mut session = s.start(15).await;
    s.answer_status(Some(s.node_info(2, 0))).await;
    let (take, _) = s.take_request().await;
    take.answer(vec![SCRIPT_RELAY_URL.into()], Vec::new());
    let (buyer, seller) = (Keys::generate().public_key(), Keys::generate().public_key());
    let took_at = Timestamp::now().as_secs() as i64;
    session.cast(session::Msg::Node(s.took(buyer, seller, took_at))).unwrap();
    let watched = s.chat_watches().await;
    let questions = Publish::next_n(&mut s.relay, 2).await;
    assert!(questions.iter().all(|q| q.event.kind == Kind::PrivateDirectMessage), "kind-14 chat envelopes");

    // Our own take's revision changes nothing; a human's later one ends the conversation.
    session.cast(session::Msg::Revisions(vec![s.revision(DisputeStatus::InProgress, took_at)])).unwrap();
    let status = session.ask(session::Msg::Status).await;
    assert_eq!((status.take, status.mediation), (Some(TakeState::Took), Some(SessionState::AwaitingResponse)));
    session.cast(session::Msg::Revisions(vec![s.revision(DisputeStatus::InProgress, took_at + 60)])).unwrap();
    assert_eq!(session.ended().await, Ok(Some("finished".into())));

    let mut unwatched = Vec::new();
    for _ in 0..2 {
        let relay::Msg::UnwatchChat { sign } = s.relay.next().await else { panic!("expected the channels closed") };
        unwatched.push(sign);
    }
    assert_eq!(unwatched, watched);
    assert_eq!(s.take_row(), ("superseded".into(), Some("taken over by a human solver".into())));
    let statuses = s.db.column::<String>("SELECT status FROM outbox", []);
    assert_eq!(statuses, ["withdrawn", "withdrawn"], "the undelivered questions are withdrawn, not sent later");
    let said = s.db.count("SELECT COUNT(*) FROM party_messages WHERE direction = 'outbound'", []);
    assert_eq!(said, 2, "what Serbero said stays in the transcript");
    let state = s.db.column::<String>("SELECT state FROM mediation_sessions", []);
    assert_eq!(state, ["closed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_session_resumes_its_channels_without_taking_again() {
    let mut s = Script::new().await;
    let session = s.start(15).await;
    s.answer_status(Some(s.node_info(2, 0))).await;
    let (take, _) = s.take_request().await;
    take.answer(vec![SCRIPT_RELAY_URL.into()], Vec::new());
    let (buyer, seller) = (Keys::generate().public_key(), Keys::generate().public_key());
    session.cast(session::Msg::Node(s.took(buyer, seller, Timestamp::now().as_secs() as i64))).unwrap();
    let first = s.chat_watches().await;
    accept_all(&Publish::next_n(&mut s.relay, 2).await);
    session.ask(session::Msg::Status).await;
    session.stop().await;
    for _ in 0..2 {
        assert!(matches!(s.relay.next().await, relay::Msg::UnwatchChat { .. }));
    }

    let resumed = s.start(15).await;
    assert_eq!(s.chat_watches().await, first, "the same channels, derived again from the stored trade keys");
    let status = resumed.ask(session::Msg::Status).await;
    assert_eq!((status.take, status.mediation), (Some(TakeState::Took), Some(SessionState::AwaitingResponse)));
    s.relay.assert_idle().await;
    assert_eq!(s.model.requests().len(), 1, "resuming asks the model nothing");
    resumed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_a_relay_holds_the_take_waits_for_the_answer_instead_of_taking_again() {
    let mut s = Script::new().await;
    let session = s.start(15).await;
    s.answer_status(Some(s.node_info(2, 0))).await;
    let (take, _) = s.take_request().await;
    take.answer(vec![SCRIPT_RELAY_URL.into()], Vec::new());
    session.ask(session::Msg::Status).await;
    session.stop().await;
    // The node accepted, and the stopped incarnation recorded its answer but never acted on it.
    let (buyer, seller) = (Keys::generate().public_key(), Keys::generate().public_key());
    let took = s.took(buyer, seller, Timestamp::now().as_secs() as i64);
    let conn = rusqlite::Connection::open(s.db.path()).unwrap();
    conn.execute(
        "INSERT INTO take_evidence (dispute_id, event_id, kind, created_at, recorded_at)
         VALUES (?1, ?2, 'accepted', ?3, ?3)",
        rusqlite::params![s.dispute.to_string(), took.event_id.to_hex(), took.created_at],
    )
    .unwrap();

    let resumed = s.start(15).await;
    assert_eq!(resumed.ask(session::Msg::Status).await.take, Some(TakeState::Requested));
    // mostrod would run a second take: a second revision, the parties told again.
    s.relay.assert_idle().await;
    // Relay's lookback on node messages hands the answer over again.
    resumed.cast(session::Msg::Node(took)).unwrap();
    s.chat_watches().await;
    accept_all(&Publish::next_n(&mut s.relay, 2).await);
    let status = resumed.ask(session::Msg::Status).await;
    assert_eq!((status.take, status.mediation), (Some(TakeState::Took), Some(SessionState::AwaitingResponse)));
    resumed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_before_a_relay_acknowledged_the_take_publishes_the_same_event_again() {
    let mut s = Script::new().await;
    let session = s.start(15).await;
    s.answer_status(Some(s.node_info(2, 0))).await;
    let (first, _) = s.take_request().await;
    session.ask(session::Msg::Status).await;
    // Stopped before the relay's OK was stored: the node may hold the request all the same.
    session.stop().await;

    let resumed = s.start(15).await;
    let (again, _) = s.take_request().await;
    assert_eq!(again.event.id, first.event.id, "the stored try, which a relay that has it drops");
    again.answer(vec![SCRIPT_RELAY_URL.into()], Vec::new());
    let (buyer, seller) = (Keys::generate().public_key(), Keys::generate().public_key());
    resumed.cast(session::Msg::Node(s.took(buyer, seller, Timestamp::now().as_secs() as i64))).unwrap();
    s.chat_watches().await;
    accept_all(&Publish::next_n(&mut s.relay, 2).await);
    assert_eq!(resumed.ask(session::Msg::Status).await.take, Some(TakeState::Took));
    assert_eq!(s.db.count("SELECT COUNT(*) FROM take_evidence WHERE kind = 'sent'", []), 1);
    resumed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_restarted_before_its_opening_questions_asks_them_and_leaves_opening() {
    let mut s = Script::new().await;
    s.opened_but_not_asked();
    let resumed = s.start(15).await;
    s.chat_watches().await;
    accept_all(&Publish::next_n(&mut s.relay, 2).await);
    assert_eq!(resumed.ask(session::Msg::Status).await.mediation, Some(SessionState::AwaitingResponse));
    let stored = s.db.column::<String>("SELECT state FROM mediation_sessions", []);
    assert_eq!(stored, ["awaiting_response"], "the stored row moves on, not only the actor's copy");
    let asked = s.db.column::<String>("SELECT content FROM party_messages WHERE direction = 'outbound'", []);
    assert_eq!(asked.len(), 2);
    assert!(asked.iter().all(|text| text.starts_with("Hello. I am Serbero")), "the opening questions: {asked:?}");
    resumed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_asked_for_at_the_opening_escalates_instead_of_leaving_the_session_opening() {
    let mut s = Script::new().await;
    let brain = Brain { opening: Turn::Summarize, ..Brain::cooperative() };
    s.model.respond_with(move |request| brain.answer(request));
    s.opened_but_not_asked();
    let resumed = s.start(15).await;
    s.chat_watches().await;
    let status = resumed.ask(session::Msg::Status).await;
    assert_eq!(status.mediation, Some(SessionState::EscalationRecommended));
    let trigger = s.db.column::<String>(
        "SELECT json_extract(payload_json, '$.trigger') FROM mediation_events WHERE kind = 'handoff_prepared'",
        [],
    );
    assert_eq!(trigger, ["invalid_model_output"], "nothing was asked, so there is nothing to summarize");
    resumed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_session_sends_again_what_its_outbox_still_held() {
    let mut s = Script::new().await;
    let session = s.start(15).await;
    s.answer_status(Some(s.node_info(2, 0))).await;
    let (take, _) = s.take_request().await;
    take.answer(vec![SCRIPT_RELAY_URL.into()], Vec::new());
    let (buyer, seller) = (Keys::generate().public_key(), Keys::generate().public_key());
    session.cast(session::Msg::Node(s.took(buyer, seller, Timestamp::now().as_secs() as i64))).unwrap();
    s.chat_watches().await;
    let questions = Publish::next_n(&mut s.relay, 2).await;
    session.ask(session::Msg::Status).await;
    // Stopped before a relay answered: the questions stay claimed by the stopped incarnation.
    session.stop().await;
    for _ in 0..2 {
        assert!(matches!(s.relay.next().await, relay::Msg::UnwatchChat { .. }));
    }

    let resumed = s.start(15).await;
    let again = Publish::next_n(&mut s.relay, 2).await;
    assert_eq!(published_ids(&again), published_ids(&questions), "the same events again, not new ones");
    s.chat_watches().await;
    accept_all(&again);
    resumed.ask(session::Msg::Status).await;
    assert_eq!(s.db.column::<String>("SELECT status FROM outbox", []), ["sent", "sent"]);
    resumed.stop().await;
}
