//! AuthRetry: Serbero's standing as a Mostro solver — authorized, unconfirmed, unauthorized
//! (evidence against, checked again on the bounded schedule of the
//! `[mediation].solver_auth_retry_*` keys) or terminated (until the operator restarts the
//! daemon). The evidence is the node's info event (watched through Relay) and what sessions
//! learn from their takes; only evidence moves the standing (`serbero_core::auth_retry`).
//! Sessions claim takes from it and may subscribe to changes. Core notification never depends on it.
//! Writes: solver_auth and the auth_retry_* events (see `store`). Casts: relay (node info watch);
//! standing changes to its subscribers (sessions).

mod store;

use std::path::PathBuf;

use nostr_sdk::PublicKey;
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort};
use serbero_core::audit::EventKind;
use serbero_core::auth_retry::{
    takes_allowed, AuthSchedule, AuthState, Effect, Evidence, Standing, TakeOutcome, Takes,
};
use serbero_core::node_info::NodeInfo;
use serde_json::json;
use tracing::{error, info, warn};

use crate::clock::Clock;
use crate::db::Db;
use crate::relay::{self, NodeInfoChanged, RelayRef};
use crate::tasks::{self, TaskGuard};

pub type AuthRetryRef = ActorRef<Msg>;

pub enum Msg {
    /// What a session learned about Serbero from one of its takes.
    TakeAnswered(TakeOutcome),
    /// The node's newest info event.
    NodeInfo(NodeInfoChanged),
    /// A scheduled re-check; ignored unless `generation` is current.
    RetryDue { generation: u64 },
    /// How many sessions may try a take now; a probe allowed at a check is used up by asking.
    ClaimTakes(RpcReplyPort<Takes>),
    /// Tell `to` of every change of standing; it is told the current one at once.
    Subscribe(DerivedActorRef<AuthChanged>),
    /// The current standing; also a FIFO barrier for earlier casts.
    Status(RpcReplyPort<AuthStatus>),
}

crate::derived_message!(Msg::NodeInfo(NodeInfoChanged));

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStatus {
    pub state: AuthState,
    /// Why the standing is in doubt, when evidence stands against Serbero.
    pub against: Option<&'static str>,
    /// Failed checks in the current schedule.
    pub attempts: u32,
    /// What a claim would be given now (without using up a probe).
    pub takes: Takes,
}

/// Told to subscribers when the standing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthChanged(pub AuthState);

pub struct Args {
    pub db_path: PathBuf,
    pub us: PublicKey,
    pub schedule: AuthSchedule,
    pub relay: RelayRef,
    /// Distinguishes this daemon run: a `terminated` standing from an earlier run is not kept.
    pub daemon_run: String,
    pub clock: Clock,
}

pub struct State {
    db: Db,
    me: AuthRetryRef,
    us: PublicKey,
    schedule: AuthSchedule,
    daemon_run: String,
    standing: Standing,
    node_info: Option<NodeInfo>,
    /// A scheduled check happened: one take may probe the node.
    probe_due: bool,
    generation: u64,
    timer: Option<TaskGuard>,
    subscribers: Vec<DerivedActorRef<AuthChanged>>,
    clock: Clock,
}

pub struct AuthRetry;

impl Actor for AuthRetry {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: AuthRetryRef, args: Args) -> Result<State, ActorProcessingErr> {
        let mut db = Db::open(&args.db_path).await?;
        let run = args.daemon_run.clone();
        let stored = db.read(store::load).await?.filter(|(stored_run, _)| *stored_run == run);
        args.relay.cast(relay::Msg::WatchNodeInfo { sink: me.get_derived() })?;
        Ok(State {
            db,
            me,
            us: args.us,
            schedule: args.schedule,
            daemon_run: run,
            standing: stored.map_or(Standing::START, |(_, standing)| standing),
            node_info: None,
            probe_due: false,
            generation: 0,
            timer: None,
            subscribers: Vec::new(),
            clock: args.clock,
        })
    }

    /// A schedule an earlier incarnation of this run was following goes on from a check.
    async fn post_start(&self, _me: AuthRetryRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        match st.standing.state {
            AuthState::Terminated => {
                warn!("solver authorization checks ended earlier in this run; restart the daemon to try again")
            }
            AuthState::Unauthorized => arm(st, st.schedule.backoff.delay(st.standing.attempts)),
            AuthState::Authorized | AuthState::Unconfirmed => {}
        }
        Ok(())
    }

    async fn handle(&self, _me: AuthRetryRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::TakeAnswered(outcome) => {
                let evidence = Evidence::of_take(&outcome);
                judge(st, evidence, "a take").await
            }
            Msg::NodeInfo(NodeInfoChanged(info)) => {
                let evidence = Evidence::of_node_info(&info, &st.us);
                st.node_info = Some(info);
                judge(st, evidence, "the node's info event").await
            }
            Msg::RetryDue { generation } if generation == st.generation => recheck(st).await,
            Msg::RetryDue { .. } => Ok(()),
            Msg::ClaimTakes(reply) => {
                let takes = takes_allowed(st.standing.state, st.probe_due);
                if takes == Takes::One {
                    st.probe_due = false;
                }
                let _ = reply.send(takes);
                Ok(())
            }
            Msg::Subscribe(to) => {
                let _ = to.send_message(AuthChanged(st.standing.state));
                st.subscribers.push(to);
                Ok(())
            }
            Msg::Status(reply) => {
                let _ = reply.send(status(st));
                Ok(())
            }
        }
    }
}

fn status(st: &State) -> AuthStatus {
    AuthStatus {
        state: st.standing.state,
        against: st.standing.against.map(|a| a.reason()),
        attempts: st.standing.attempts,
        takes: takes_allowed(st.standing.state, st.probe_due),
    }
}

/// New evidence, from a take or the node's info event.
async fn judge(st: &mut State, evidence: Evidence, from: &str) -> Result<(), ActorProcessingErr> {
    let (standing, effect) = st.schedule.on_evidence(&st.standing, evidence);
    apply(st, standing, effect, from).await
}

/// A scheduled check: the node's info event is judged again; evidence against that nothing
/// refutes counts as a failed check, and one take may probe before the next.
async fn recheck(st: &mut State) -> Result<(), ActorProcessingErr> {
    if st.standing.state != AuthState::Unauthorized {
        return Ok(());
    }
    if let Some(Evidence::For) = st.node_info.as_ref().map(|info| Evidence::of_node_info(info, &st.us)) {
        return judge(st, Evidence::For, "the node's info event").await;
    }
    st.probe_due = true;
    let (standing, effect) = st.schedule.failed_check(&st.standing);
    apply(st, standing, effect, "a scheduled check").await
}

async fn apply(st: &mut State, after: Standing, effect: Effect, from: &str) -> Result<(), ActorProcessingErr> {
    let before = std::mem::replace(&mut st.standing, after.clone());
    match effect {
        Effect::Keep => {}
        Effect::RetryIn(delay) => arm(st, delay),
        Effect::Cancel => st.timer = None,
    }
    if after == before {
        return Ok(());
    }
    let events = log_change(&before, &after, from);
    let (now, run) = (st.clock.now(), st.daemon_run.clone());
    st.db
        .write(move |tx| {
            for (kind, payload) in &events {
                store::event(tx, *kind, payload, now)?;
            }
            store::save(tx, &run, &after, now)
        })
        .await?;
    if st.standing.state != before.state {
        let state = st.standing.state;
        st.subscribers.retain(|s| s.send_message(AuthChanged(state)).is_ok());
    }
    Ok(())
}

/// One log line an operator can act on, and the audit events of the change.
fn log_change(before: &Standing, after: &Standing, from: &str) -> Vec<(EventKind, serde_json::Value)> {
    let why = after.against.map(|a| a.reason()).unwrap_or("no evidence either way");
    match after.state {
        AuthState::Authorized if before.state != AuthState::Authorized => {
            info!(evidence = from, "Serbero is a registered solver of the Mostro node");
            if before.state == AuthState::Unauthorized {
                return vec![(EventKind::AuthRetryRecovered, json!({ "attempt": before.attempts + 1 }))];
            }
        }
        AuthState::Unconfirmed if before.state == AuthState::Unauthorized => {
            info!("the node withdrew the evidence against Serbero's registration; takes go ahead")
        }
        AuthState::Unauthorized => {
            warn!(
                attempt = after.attempts,
                reason = why,
                evidence = from,
                "Serbero's registration as a solver is in doubt; checking again on the retry schedule"
            );
            return vec![(EventKind::AuthRetryAttempt, json!({ "attempt": after.attempts, "error": why }))];
        }
        AuthState::Terminated if before.state != AuthState::Terminated => {
            error!(
                attempt = after.attempts,
                waited_seconds = after.waited_seconds,
                reason = why,
                "giving up on Serbero's solver registration: register its key with the Mostro node \
                 (admin-add-solver npub…:read, or serbero_pubkey), then restart Serbero"
            );
            return vec![(
                EventKind::AuthRetryTerminated,
                json!({ "attempt": after.attempts, "cumulative_secs": after.waited_seconds, "error": why }),
            )];
        }
        _ => {}
    }
    Vec::new()
}

fn arm(st: &mut State, delay: std::time::Duration) {
    st.generation += 1;
    st.timer = Some(tasks::after(delay, st.me.clone(), Msg::RetryDue { generation: st.generation }));
}
