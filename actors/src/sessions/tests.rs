//! The supervisor's handlers driven directly on a State the test holds (as ractor's own
//! `node_session` tests do), so supervision events can be delivered in the order a race would
//! deliver them; the sessions it starts are real MediationSession actors on a temp database.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nostr_sdk::Keys;
use ractor::{Actor, ActorProcessingErr, SupervisionEvent};
use serbero_core::config::{MediationSettings, OutboxSettings, PromptSettings, ReasoningSettings, RetentionSettings};
use serbero_core::dispute::{DisputeEvent, DisputeStatus, Initiator};
use serbero_core::mediation::SessionState;
use serbero_core::prompts::PromptBundle;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::*;
use crate::harness::{Probe, TempDb, WAIT};
use crate::reasoning::Reasoner;

const REQUEST_ID: u64 = 42;

/// Stands where the Sessions actor would: sessions are linked to it, and the test hands their
/// supervision events to `Sessions::handle_supervisor_evt` itself, in the order it chooses.
/// It only reports sessions that failed.
struct Parent;

impl Actor for Parent {
    type Msg = Msg;
    type State = mpsc::UnboundedSender<String>;
    type Arguments = mpsc::UnboundedSender<String>;

    async fn pre_start(&self, _me: SessionsRef, failures: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        Ok(failures)
    }

    async fn handle_supervisor_evt(
        &self,
        _me: SessionsRef,
        event: SupervisionEvent,
        failures: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, why) = event {
            let _ = failures.send(why.to_string());
        }
        Ok(())
    }
}

fn mediator() -> Arc<Mediator> {
    let reasoning = ReasoningSettings {
        enabled: true,
        provider: "openai-compatible".into(),
        model: "unused".into(),
        // Resumed sessions waiting for the parties ask the model nothing.
        api_base: "http://127.0.0.1:9".into(),
        api_key: Some("test-key".into()),
        ..ReasoningSettings::default()
    };
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("prompts");
    Arc::new(Mediator {
        reasoner: Reasoner::build(&reasoning).unwrap(),
        bundle: Arc::new(PromptBundle::load(&PromptSettings::in_dir(&prompts)).unwrap()),
        settings: MediationSettings::default(),
        solvers: Vec::new(),
        observers: Vec::new(),
        directory: Default::default(),
        escalation: None,
        evaluation_retry: Duration::from_secs(60),
        hibernate_after: Duration::from_secs(3600),
    })
}

/// A dispute Serbero took, its session waiting for the parties: what a hibernated session
/// leaves in the database.
fn taken_and_waiting(db: &TempDb, dispute: &str, mediator: &Mediator, now: i64) {
    let (buyer, seller) = (Keys::generate().public_key().to_hex(), Keys::generate().public_key().to_hex());
    let conn = rusqlite::Connection::open(db.path()).unwrap();
    conn.execute(
        "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
         VALUES (?1, 'e1', 'node', 'buyer', 1, 1)",
        [dispute],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, answered_at,
                                   order_id, buyer_pubkey, seller_pubkey, updated_at)
         VALUES (?1, 'took', ?2, ?3, ?3, ?3, ?4, ?5, ?6, ?3)",
        rusqlite::params![dispute, REQUEST_ID as i64, now - 120, Uuid::new_v4().to_string(), buyer, seller],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO mediation_sessions (session_id, dispute_id, state, prompt_bundle_id, policy_hash,
                                         started_at, last_transition_at)
         VALUES (?1, ?2, 'awaiting_response', ?3, ?4, ?5, ?5)",
        rusqlite::params![
            Uuid::new_v4().to_string(),
            dispute,
            mediator.bundle.id,
            mediator.bundle.policy_hash,
            now - 60
        ],
    )
    .unwrap();
}

/// The dispute's running session, as `Msg::Session` answers.
async fn route(me: &SessionsRef, st: &mut State, dispute_id: &str) -> Option<SessionRef> {
    let (reply, answer) = oneshot::channel();
    let msg = Msg::Session { dispute_id: dispute_id.to_string(), reply: reply.into() };
    Sessions.handle(me.clone(), msg, st).await.unwrap();
    answer.await.unwrap()
}

async fn mediation(session: &SessionRef) -> Option<SessionState> {
    session.call(session::Msg::Status, Some(WAIT)).await.unwrap().unwrap().mediation
}

/// A human solver taking the dispute over, as the node publishes it.
fn takeover(dispute_id: &str, at: i64) -> DisputeEvent {
    DisputeEvent {
        dispute_id: dispute_id.to_string(),
        status: DisputeStatus::InProgress,
        initiator: Initiator::Buyer,
        assigned_solver: None,
        event_id: Keys::generate().public_key().to_hex(),
        mostro_pubkey: Keys::generate().public_key().to_hex(),
        created_at: at,
    }
}

/// Two disputes Serbero mediated, rows 40 days old: one resolved as long ago, its take
/// closed; one whose take stays open after a handoff to forward the parties' words. Each
/// has a summary's and a dispute notification's audit row, and a sent row in its session's
/// outbox and in the Dispute actor's.
fn over_and_forwarding(db: &TempDb, old: i64) {
    let conn = rusqlite::Connection::open(db.path()).unwrap();
    for (dispute, lifecycle, take, handed_off) in
        [("over", "resolved", "closed", None), ("fwd", "taken", "took", Some(old))]
    {
        conn.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at,
                                   lifecycle_state, last_state_change)
             VALUES (?1, 'e-' || ?1, 'node', 'buyer', ?2, ?2, ?3, ?2)",
            rusqlite::params![dispute, old, lifecycle],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, updated_at, handed_off_at)
             VALUES (?1, ?2, 1, ?3, ?3, ?3, ?4)",
            rusqlite::params![dispute, take, old, handed_off],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO party_messages (dispute_id, party, direction, inner_event_id, inner_created_at, content, persisted_at)
             VALUES (?1, 'buyer', 'inbound', 'inner-' || ?1, ?2, 'I paid', ?2)",
            rusqlite::params![dispute, old],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, notif_type)
             VALUES (?1, 'solver', ?2, 'sent', 'mediation_summary'), (?1, 'solver', ?2, 'sent', 'initial')",
            rusqlite::params![dispute, old],
        )
        .unwrap();
        for owner in [format!("session:{dispute}"), "dispute".to_string()] {
            conn.execute(
                "INSERT INTO outbox (owner, idempotency_key, dispute_id, recipient, notif_type, body, event_id,
                                     event_json, status, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?1 || ?2, ?2, 'r', 'mediation_summary', 'b', 'e', '{}', 'sent', ?3, ?3, ?3)",
                rusqlite::params![owner, dispute, old],
            )
            .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rows_of_a_mediation_over_for_good_are_pruned_and_a_forwarding_ones_kept() {
    let db = TempDb::migrated();
    over_and_forwarding(&db, Clock::System.now() - 40 * 24 * 60 * 60);
    let (relay, _) = Probe::<relay::Msg>::spawn().await;
    let (dispute_actor, _) = Probe::<dispute::Msg>::spawn().await;
    let (auth_retry, _) = Probe::<auth_retry::Msg>::spawn().await;
    let (failed, _) = mpsc::unbounded_channel();
    let (me, _) = Actor::spawn(None, Parent, failed).await.unwrap();
    let args = Args {
        db_path: db.path().to_path_buf(),
        keys: Keys::generate(),
        mostro: Keys::generate().public_key(),
        relay,
        dispute: dispute_actor,
        auth_retry,
        mediator: mediator(),
        take_timeout: Duration::from_secs(15),
        outbox: OutboxSettings::default(),
        retention: RetentionSettings { days: 30 },
        clock: Clock::System,
    };
    let mut st = Sessions.pre_start(me.clone(), args).await.unwrap();

    Sessions.handle(me.clone(), Msg::Prune(Pruned::default()), &mut st).await.unwrap();
    let left = |table: &str, column: &str| db.column::<String>(&format!("SELECT {column} FROM {table} ORDER BY 1"), []);
    assert_eq!(left("party_messages", "dispute_id"), ["fwd"]);
    assert_eq!(left("notifications", "notif_type"), ["initial", "initial"], "audit rows go by age and type");
    assert_eq!(left("outbox", "idempotency_key"), ["disputefwd", "disputeover", "session:fwdfwd"]);
    assert_eq!(left("solver_takes", "dispute_id"), ["fwd", "over"], "takes are never pruned");
    me.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_sessions_late_stop_leaves_the_new_session_its_route() {
    let db = TempDb::migrated();
    let dispute = Uuid::new_v4().to_string();
    let mediator = mediator();
    let now = Clock::tokio().now();
    taken_and_waiting(&db, &dispute, &mediator, now);
    let (relay, _relay_sent) = Probe::<relay::Msg>::spawn().await;
    let (dispute_actor, _) = Probe::<dispute::Msg>::spawn().await;
    let (auth_retry, _) = Probe::<auth_retry::Msg>::spawn().await;
    let (failed, mut failures) = mpsc::unbounded_channel();
    let (me, _) = Actor::spawn(None, Parent, failed).await.unwrap();
    let args = Args {
        db_path: db.path().to_path_buf(),
        keys: Keys::generate(),
        mostro: Keys::generate().public_key(),
        relay,
        dispute: dispute_actor,
        auth_retry,
        mediator,
        take_timeout: Duration::from_secs(15),
        outbox: OutboxSettings::default(),
        retention: RetentionSettings::default(),
        clock: Clock::tokio(),
    };
    let mut st = Sessions.pre_start(me.clone(), args).await.unwrap();

    // The old session runs, then leaves memory.
    spawn(&me, &mut st, dispute.clone(), Some(REQUEST_ID), Woken::ByParty(None)).await.unwrap();
    let old = route(&me, &mut st, &dispute).await.expect("the old session is routed");
    assert_eq!(mediation(&old).await, Some(SessionState::AwaitingResponse));
    old.stop_and_wait(Some(StopReason::Hibernating.as_str().into()), Some(WAIT)).await.unwrap();

    // A party writes: a new session starts before the old one's stop reaches the supervisor.
    spawn(&me, &mut st, dispute.clone(), Some(REQUEST_ID), Woken::ByParty(None)).await.unwrap();
    let new = route(&me, &mut st, &dispute).await.expect("the new session is routed");
    assert_ne!(new.get_id(), old.get_id());
    assert_eq!(mediation(&new).await, Some(SessionState::AwaitingResponse));
    let late = SupervisionEvent::ActorTerminated(old.get_cell(), None, Some(StopReason::Hibernating.as_str().into()));
    Sessions.handle_supervisor_evt(me.clone(), late, &mut st).await.unwrap();
    let routed = route(&me, &mut st, &dispute).await.map(|s| s.get_id());
    assert_eq!(routed, Some(new.get_id()), "the old session's late stop took the new session's route");

    // A human takes the dispute over: the revision reaches the new session, which stops writing.
    let revisions = DisputesObserved(vec![takeover(&dispute, now)]);
    Sessions.handle(me.clone(), Msg::Revisions(revisions), &mut st).await.unwrap();
    new.get_cell().wait(Some(WAIT)).await.expect("the new session ends on the takeover");
    let take = db.column::<String>("SELECT state FROM solver_takes WHERE dispute_id = ?1", [&dispute]);
    assert_eq!(take, ["superseded"]);
    let sessions = db.column::<String>("SELECT state FROM mediation_sessions WHERE dispute_id = ?1", [&dispute]);
    assert_eq!(sessions, ["closed"]);

    // Its own stop is the one that takes the route away.
    let finished = SupervisionEvent::ActorTerminated(new.get_cell(), None, Some("finished".into()));
    Sessions.handle_supervisor_evt(me.clone(), finished, &mut st).await.unwrap();
    assert!(route(&me, &mut st, &dispute).await.is_none());
    assert_eq!(failures.try_recv().ok(), None, "no session failed");
    me.stop(None);
}
