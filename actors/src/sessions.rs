//! Sessions: supervises one MediationSession per dispute Serbero takes. At start it restarts
//! every conversation the database holds as live; it opens new ones when asked (after AuthRetry
//! says a take may be tried); it routes the node's messages by request id or dispute id, and
//! dispute revisions by dispute id. A session that fails is restarted alone from the database,
//! within its own budget; the others and the core are untouched. Writes no table.
//! Calls: auth_retry (status). Casts: relay (node watch), dispute (revision watch).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use nostr_sdk::{Keys, PublicKey};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serbero_core::auth_retry::AuthState;
use serbero_core::config::OutboxSettings;
use serbero_core::supervision::RestartBudget;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::auth_retry::{self, AuthRetryRef};
use crate::clock::Clock;
use crate::db::Db;
use crate::dispute::{self, DisputeRef};
use crate::relay::{self, DisputesObserved, NodeMessage, RelayRef};
use crate::session::store::{self, TakeState};
use crate::session::{self, MediationSession, SessionRef};

pub type SessionsRef = ActorRef<Msg>;

const MAX_SESSION_RESTARTS: usize = 3;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

pub enum Msg {
    /// Take `dispute_id` and open its conversation.
    Open { dispute_id: String, reply: RpcReplyPort<Opened> },
    /// A message from the node, routed to the session it answers.
    Node(NodeMessage),
    /// Dispute revisions from the Dispute actor, routed to their sessions.
    Revisions(DisputesObserved),
    /// The running session of a dispute, if any; also a barrier.
    Session { dispute_id: String, reply: RpcReplyPort<Option<SessionRef>> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Started,
    AlreadyOpen,
    /// AuthRetry's standing does not allow a take.
    NotAuthorized(AuthState),
    /// The conversation already ended for good (taken over by a human, or resolved).
    Ended(TakeState),
    Failed(String),
}

crate::derived_message!(Msg::Node(NodeMessage));

crate::derived_message!(Msg::Revisions(DisputesObserved));

#[derive(Clone)]
pub struct Args {
    pub db_path: PathBuf,
    pub keys: Keys,
    pub mostro: PublicKey,
    pub relay: RelayRef,
    pub dispute: DisputeRef,
    pub auth_retry: AuthRetryRef,
    pub take_timeout: Duration,
    pub outbox: OutboxSettings,
    pub clock: Clock,
}

struct Running {
    session: SessionRef,
    request_id: u64,
}

pub struct State {
    db: Db,
    args: Args,
    running: HashMap<String, Running>,
    by_actor: HashMap<ActorId, String>,
    budgets: HashMap<String, RestartBudget>,
    started: Instant,
}

pub struct Sessions;

impl Actor for Sessions {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: SessionsRef, args: Args) -> Result<State, ActorProcessingErr> {
        args.relay.cast(relay::Msg::WatchNode { sink: me.get_derived() })?;
        args.dispute.cast(dispute::Msg::WatchRevisions(me.get_derived()))?;
        Ok(State {
            db: Db::open(&args.db_path).await?,
            args,
            running: HashMap::new(),
            by_actor: HashMap::new(),
            budgets: HashMap::new(),
            started: Instant::now(),
        })
    }

    /// Every conversation the database holds as live resumes.
    async fn post_start(&self, me: SessionsRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        let live = st.db.read(store::live).await?;
        if !live.is_empty() {
            info!(sessions = live.len(), "resuming conversations");
        }
        for take in live {
            resume(&me, st, take.dispute_id, take.request_id).await;
        }
        Ok(())
    }

    async fn handle(&self, me: SessionsRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Open { dispute_id, reply } => {
                let opened = open(&me, st, dispute_id).await;
                let _ = reply.send(opened);
            }
            Msg::Node(message) => route_node_message(st, message),
            Msg::Revisions(DisputesObserved(events)) => {
                let mut by_dispute: HashMap<&str, Vec<_>> = HashMap::new();
                for event in &events {
                    if st.running.contains_key(&event.dispute_id) {
                        by_dispute.entry(event.dispute_id.as_str()).or_default().push(event.clone());
                    }
                }
                for (dispute_id, events) in by_dispute {
                    let _ = st.running[dispute_id].session.cast(session::Msg::Revisions(events));
                }
            }
            Msg::Session { dispute_id, reply } => {
                let _ = reply.send(st.running.get(&dispute_id).map(|r| r.session.clone()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: SessionsRef,
        event: SupervisionEvent,
        st: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason.unwrap_or_else(|| "stopped".into())),
            _ => return Ok(()),
        };
        let Some(dispute_id) = forget(st, cell.get_id()) else { return Ok(()) };
        restart_if_live(&me, st, dispute_id, &why).await?;
        Ok(())
    }
}

/// A session that ends its conversation records so before it stops; one that stops with its
/// conversation still live in the database failed or was killed, and resumes from there.
async fn restart_if_live(
    me: &SessionsRef,
    st: &mut State,
    dispute_id: String,
    why: &str,
) -> Result<(), ActorProcessingErr> {
    let id = dispute_id.clone();
    let take = st.db.read(move |c| store::load(c, &id)).await?;
    let Some(take) = take.filter(|t| t.state.is_live()) else { return Ok(()) };
    let budget = st
        .budgets
        .entry(dispute_id.clone())
        .or_insert_with(|| RestartBudget::new(MAX_SESSION_RESTARTS, RESTART_WINDOW));
    if !budget.allow(st.started.elapsed()) {
        let dispute = &dispute_id;
        error!(%dispute, reason = %why, "session failed too often; it stays stopped until the daemon restarts");
        return Ok(());
    }
    warn!(dispute = %dispute_id, reason = %why, "session stopped mid-conversation; restarting it from the database");
    resume(me, st, take.dispute_id, take.request_id).await;
    Ok(())
}

/// A conversation that cannot start again is left alone, logged: the others and the core go on.
async fn resume(me: &SessionsRef, st: &mut State, dispute_id: String, request_id: u64) {
    if let Err(e) = spawn(me, st, dispute_id.clone(), request_id).await {
        error!(dispute = %dispute_id, error = %e, "conversation could not be resumed");
    }
}

async fn open(me: &SessionsRef, st: &mut State, dispute_id: String) -> Opened {
    if st.running.contains_key(&dispute_id) {
        return Opened::AlreadyOpen;
    }
    let id = dispute_id.clone();
    match st.db.read(move |c| store::load(c, &id)).await {
        Ok(Some(take)) if take.state.is_final() => return Opened::Ended(take.state),
        Ok(_) => {}
        Err(e) => return Opened::Failed(e.to_string()),
    }
    match st.args.auth_retry.call(auth_retry::Msg::Status, Some(AUTH_TIMEOUT)).await {
        Ok(CallResult::Success(status)) if status.may_take => {}
        Ok(CallResult::Success(status)) => return Opened::NotAuthorized(status.state),
        _ => return Opened::Failed("auth retry did not answer".to_string()),
    }
    let request_id = fresh_request_id();
    match spawn(me, st, dispute_id, request_id).await {
        Ok(()) => Opened::Started,
        Err(e) => Opened::Failed(e.to_string()),
    }
}

async fn spawn(
    me: &SessionsRef,
    st: &mut State,
    dispute_id: String,
    request_id: u64,
) -> Result<(), ActorProcessingErr> {
    let a = &st.args;
    let args = session::Args {
        dispute_id: dispute_id.clone(),
        request_id,
        db_path: a.db_path.clone(),
        keys: a.keys.clone(),
        mostro: a.mostro,
        relay: a.relay.clone(),
        auth_retry: Some(a.auth_retry.clone()),
        take_timeout: a.take_timeout,
        outbox: a.outbox.clone(),
        clock: a.clock,
    };
    let (session, _) = Actor::spawn_linked(None, MediationSession, args, me.get_cell()).await?;
    st.by_actor.insert(session.get_id(), dispute_id.clone());
    st.running.insert(dispute_id, Running { session, request_id });
    Ok(())
}

fn forget(st: &mut State, actor: ActorId) -> Option<String> {
    let dispute_id = st.by_actor.remove(&actor)?;
    st.running.remove(&dispute_id);
    Some(dispute_id)
}

/// By the echoed request id; a reply without one, by the dispute id it names.
fn route_node_message(st: &State, message: NodeMessage) {
    let inner = message.message.get_inner_message_kind();
    let by_request = inner.request_id.and_then(|id| st.running.values().find(|r| r.request_id == id));
    let by_dispute = || inner.id.and_then(|id| st.running.get(&id.to_string()));
    match by_request.or_else(by_dispute) {
        Some(running) => {
            let _ = running.session.cast(session::Msg::Node(message));
        }
        None => info!(action = %inner.action, "message from the node for no open conversation"),
    }
}

/// Request ids are stored as SQLite integers.
fn fresh_request_id() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0 & i64::MAX as u64
}
