//! MediationSession: Serbero's mediation of one dispute, as a read-only solver. It asks the model
//! for an opening verdict; a negative one escalates before any take. Otherwise it takes the
//! dispute (`take`), opens a chat channel with each party (`chat`), asks each its first question,
//! takes in their replies, counts rounds, asks the model what next after every round, and ends in
//! a summary for the solver or an escalation (`mediate`). A human taking the dispute over, its
//! resolution, a silent party or an overlong session end it too. Every text to a party or a
//! solver goes through the outbox, and the actor stops once its outbox is drained.
//! Restart is reload: the take, the parties' trade keys (channel keys are derived again), the
//! transcript, the session state and its timers all come back from the database.
//! The state and its small changes are in `state`; the steps (`take`, `chat`, `mediate`,
//! `ending`, `forward`, `idle`) return what happened, and only `on_message` here chains one
//! into the next.
//! Writes: solver_takes, party_messages (`store`), its mediation rows (`record`), its outbox rows.
//! Calls: relay (node info, an order's fiat code). Casts: relay (publish, chat watches),
//! auth_retry (take outcomes), escalation dispatcher (prepared handoffs), the Sessions
//! supervisor (hibernation, through `Bedroom`).

mod brief;
mod chat;
mod ending;
mod forward;
mod idle;
mod mediate;
mod questions;
pub mod record;
mod state;
pub mod store;
mod take;

use std::sync::Arc;
use std::time::Duration;

use nostr_sdk::{Event, PublicKey};
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort};
use serbero_core::config::{MediationSettings, Observer, Solver};
use serbero_core::dispute::DisputeEvent;
use serbero_core::escalation::Trigger;
use serbero_core::mediation::SessionState;
use serbero_core::prompts::PromptBundle;
use uuid::Uuid;

use crate::auth_retry::AuthRetryRef;
use crate::base::Base;
use crate::db::Db;
use crate::escalation::EscalationRef;
use crate::outbox::{Directory, Owner};
use crate::reasoning::Reasoner;
use crate::relay::{ChatEvent, NodeMessage, PublishOutcome, Ticket};
use chat::ChatOutcome;
use mediate::AfterVerdict;
use state::{finish, forwarding, State, Timers};
use store::{Parties, TakeState};
use take::TakeOutcome;

pub use state::StopReason;

pub type SessionRef = ActorRef<Msg>;

pub enum Msg {
    /// Do what the stored state calls for (sent to itself once started).
    Begin,
    /// A message from the node that may answer our take.
    Node(NodeMessage),
    /// Publish the take request (again).
    SendTake,
    /// The node did not answer the current try in time.
    TakeDeadline,
    /// No revision explained the node's refusal in time.
    RefusalGrace,
    /// A possible takeover waited for an unanswered try: judge it now.
    HolderCheck,
    /// An event on one of our chat channels.
    Chat(ChatEvent),
    /// Checked revisions of our dispute, in arrival order.
    Revisions(Vec<DisputeEvent>),
    /// Ask the model what next (again, after a failed evaluation).
    Evaluate,
    /// Nobody replied for `party_response_timeout_seconds`.
    Unresponsive,
    /// The session ran past `session_timeout_seconds`.
    SessionTimeout,
    /// Serbero lost its standing as a solver.
    AuthorizationLost,
    /// Nothing happened for `idle_hibernate_seconds`: leave memory if still idle.
    Idle,
    /// The parties stopped writing after a handoff: forward what they wrote.
    BurstEnd,
    Published(PublishOutcome),
    DeliveryDue,
    /// Where the take and the mediation stand; also a FIFO barrier for earlier casts.
    Status(RpcReplyPort<SessionStatus>),
}

crate::outbox_messages!(Msg);
crate::derived_message!(Msg::Chat(ChatEvent));

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    pub take: Option<TakeState>,
    pub cant_do_reason: Option<String>,
    pub parties: Option<Parties>,
    /// Party messages taken in so far.
    pub received: u64,
    pub session_id: Option<String>,
    pub mediation: Option<SessionState>,
}

/// What every session shares: the model, the bundle the daemon loaded, the rules and whom to tell.
#[derive(Clone)]
pub struct Mediator {
    pub reasoner: Reasoner,
    pub bundle: Arc<PromptBundle>,
    pub settings: MediationSettings,
    pub solvers: Vec<Solver>,
    /// Told of each milestone of each session.
    pub observers: Vec<Observer>,
    /// The forms solvers and observers take.
    pub directory: Directory,
    pub escalation: Option<EscalationRef>,
    /// Wait before asking the model again after a failed evaluation: as long as one call may
    /// take (`[reasoning].request_timeout_seconds`).
    pub evaluation_retry: Duration,
    /// How long a session waits idle before it hibernates.
    pub hibernate_after: Duration,
}

/// Where a hibernating session hands its wake-up conditions: the supervisor.
#[derive(Clone)]
pub struct Bedroom {
    pub asleep: DerivedActorRef<Hibernating>,
    pub chat: DerivedActorRef<ChatEvent>,
}

/// A session leaving memory: what wakes it (its channels' keys, and when its timers fall due).
#[derive(Debug, Clone)]
pub struct Hibernating {
    pub dispute_id: String,
    /// Each channel's signing key and legacy key.
    pub keys: Vec<PublicKey>,
    pub wake_at: Option<i64>,
    /// The actor leaving memory; `None` for a session put to sleep from the database at start.
    pub actor: Option<ractor::ActorId>,
}

pub struct Args {
    pub dispute_id: String,
    /// Used when the dispute is taken now; a stored take keeps its own.
    pub request_id: u64,
    pub base: Base,
    pub mostro: PublicKey,
    pub auth_retry: Option<AuthRetryRef>,
    pub mediator: Arc<Mediator>,
    /// Where to hibernate; `None` keeps the session in memory while it lives.
    pub bedroom: Option<Bedroom>,
    /// The chat event that woke it, handled once it resumed.
    pub woken_by: Option<ChatEvent>,
    /// A node answer that came after the session had ended its take (the reason it was started).
    pub late_answer: Option<NodeMessage>,
    pub take_timeout: Duration,
}

pub struct MediationSession;

impl Actor for MediationSession {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: SessionRef, args: Args) -> Result<State, ActorProcessingErr> {
        Uuid::parse_str(&args.dispute_id).map_err(|_| format!("dispute id {} is not a UUID", args.dispute_id))?;
        let base = args.base;
        let mut db = Db::open(&base.db_path).await?;
        let id = args.dispute_id.clone();
        let (take, session, received) = db
            .read(move |conn| Ok((store::load(conn, &id)?, record::load(conn, &id)?, store::inbound_count(conn, &id)?)))
            .await?;
        let outbox = base.outbox(Owner::Session(args.dispute_id.clone()), me.get_derived(), me.get_derived());
        Ok(State {
            db,
            me,
            dispute_id: args.dispute_id,
            request_id: args.request_id,
            take,
            session,
            verdict: None,
            keys: base.keys,
            mostro: args.mostro,
            relay: base.relay,
            auth_retry: args.auth_retry,
            mediator: args.mediator,
            bedroom: args.bedroom,
            early_chat: args.woken_by.map(|ChatEvent(event)| *event).into_iter().collect(),
            late_answer: args.late_answer,
            begun: false,
            take_timeout: args.take_timeout,
            outbox,
            channels: Vec::new(),
            received,
            take_sent: false,
            winding_down: false,
            burst_began: None,
            timers: Timers::default(),
            clock: base.clock,
        })
    }

    async fn post_start(&self, me: SessionRef, _st: &mut State) -> Result<(), ActorProcessingErr> {
        me.cast(Msg::Begin)?;
        Ok(())
    }

    /// Sessions are many and mostly idle: the database connection is closed after each message.
    async fn handle(&self, _me: SessionRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        // Boxed: ractor keeps this future allocated for the actor's whole life, sized for the
        // largest handler; an idle session should not carry that (measured: 10 KB a session).
        let handled = Box::pin(on_message(st, msg)).await;
        if handled.is_ok() {
            idle::rearm(st);
        }
        st.db.release();
        handled
    }

    async fn post_stop(&self, _me: SessionRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        state::close_channels(st);
        Ok(())
    }
}

async fn on_message(st: &mut State, msg: Msg) -> Result<(), ActorProcessingErr> {
    match msg {
        Msg::Begin if st.late_answer.is_some() => {
            st.begun = true;
            redrive_outbox(st).await?;
            let answer = st.late_answer.take().expect("checked above");
            let outcome = take::on_node_message(st, answer).await?;
            after_take(st, outcome).await?;
            if !st.winding_down && st.session.is_none() {
                // The answer changed nothing: there is nothing else to do.
                return finish(st).await;
            }
            Ok(())
        }
        Msg::Begin => {
            st.begun = true;
            redrive_outbox(st).await?;
            begin(st).await?;
            for event in std::mem::take(&mut st.early_chat) {
                on_chat(st, &event).await?;
            }
            Ok(())
        }
        Msg::Node(message) => {
            let outcome = take::on_node_message(st, message).await?;
            after_take(st, outcome).await
        }
        Msg::SendTake => take::send(st).await,
        Msg::TakeDeadline => {
            let outcome = take::on_deadline(st).await?;
            after_take(st, outcome).await
        }
        Msg::RefusalGrace => take::on_refusal_grace(st).await,
        Msg::HolderCheck => ending::judge_holder(st).await,
        Msg::Chat(ChatEvent(event)) if !st.begun => {
            st.early_chat.push(*event);
            Ok(())
        }
        Msg::Chat(ChatEvent(event)) => on_chat(st, &event).await,
        Msg::Revisions(events) => ending::on_revisions(st, events).await,
        Msg::Evaluate => mediate::evaluate(st).await,
        Msg::Unresponsive => mediate::on_unresponsive(st).await,
        Msg::SessionTimeout => mediate::on_session_timeout(st).await,
        Msg::AuthorizationLost => ending::on_authorization_lost(st).await,
        Msg::Idle => idle::on_idle(st).await,
        Msg::BurstEnd => forward::send_transcript(st).await,
        Msg::Published(outcome) if outcome.ticket == Ticket::Take => take::on_published(st, outcome).await,
        Msg::Published(outcome) => {
            st.outbox.settle(&mut st.db, outcome, record::audit).await?;
            ending::on_delivered(st).await
        }
        Msg::DeliveryDue => {
            st.outbox.dispatch_due(&mut st.db, record::audit).await?;
            ending::on_delivered(st).await
        }
        Msg::Status(reply) => {
            let _ = reply.send(status(st));
            Ok(())
        }
    }
}

/// Does what the stored state calls for: a live session resumes, a take in flight goes on, an
/// ended one delivers what is left, and a dispute with nothing yet starts with the verdict.
async fn begin(st: &mut State) -> Result<(), ActorProcessingErr> {
    let take = st.take.as_ref().map(|t| t.state);
    match (st.session.clone(), take) {
        (Some(session), _) if session.state.is_live() => mediate::resume(st, &session).await,
        (Some(_), _) if forwarding(st) => forward::resume(st).await,
        (Some(_), _) | (None, Some(TakeState::Superseded | TakeState::Closed)) => finish(st).await,
        (None, Some(TakeState::Requested)) => {
            let outcome = take::resume(st).await?;
            after_take(st, outcome).await
        }
        (None, Some(TakeState::Took)) => mediate::after_took(st).await,
        (None, _) => {
            let id = st.dispute_id.clone();
            if st.db.read(move |conn| record::escalated_before_take(conn, &id)).await? {
                return finish(st).await;
            }
            match mediate::verdict(st).await? {
                AfterVerdict::Take => {
                    let outcome = take::start(st).await?;
                    after_take(st, outcome).await
                }
                AfterVerdict::Escalated => Ok(()),
            }
        }
    }
}

/// What the take came to, into the mediation: it opens, the dispute's holder is judged again,
/// or an unanswered take goes to the human solvers.
async fn after_take(st: &mut State, outcome: TakeOutcome) -> Result<(), ActorProcessingErr> {
    match outcome {
        TakeOutcome::Nothing => Ok(()),
        TakeOutcome::Took => mediate::after_took(st).await,
        TakeOutcome::AcceptedAgain => ending::judge_holder(st).await,
        TakeOutcome::Unanswered => ending::escalate(st, Trigger::TakeUnanswered, Vec::new(), Vec::new()).await,
    }
}

/// A chat event, into the mediation (a reply) or the forwarding after a handoff.
async fn on_chat(st: &mut State, event: &Event) -> Result<(), ActorProcessingErr> {
    match chat::on_event(st, event).await? {
        ChatOutcome::Nothing => Ok(()),
        ChatOutcome::Replied { inbound, rounds } => mediate::on_reply(st, &inbound, rounds).await,
        ChatOutcome::WordsToForward => {
            forward::on_party_words(st);
            Ok(())
        }
    }
}

/// Rows an earlier incarnation left undelivered go out again (its claims are taken over, the
/// same events published again) and failed ones get their wake-up: nothing else drives them
/// after a restart. Their outcomes come back as `Published`, which settles them and acts on a
/// delivered summary.
async fn redrive_outbox(st: &mut State) -> Result<(), ActorProcessingErr> {
    let ledger = st.outbox.ledger().clone();
    if st.db.read(move |conn| crate::outbox::store::undelivered(conn, &ledger)).await? > 0 {
        st.outbox.dispatch_due(&mut st.db, record::audit).await?;
    }
    Ok(())
}

fn status(st: &State) -> SessionStatus {
    SessionStatus {
        take: st.take.as_ref().map(|t| t.state),
        cant_do_reason: st.take.as_ref().and_then(|t| t.cant_do_reason.clone()),
        parties: st.take.as_ref().and_then(|t| t.parties.clone()),
        received: st.received,
        session_id: st.session.as_ref().map(|s| s.session_id.clone()),
        mediation: st.session.as_ref().map(|s| s.state),
    }
}
