//! AuthRetry: Serbero's standing as a Mostro solver — authorized, unauthorized (checked again
//! on the bounded schedule of the `[mediation].solver_auth_retry_*` keys) or terminated (until
//! the operator restarts the daemon). The evidence is the node's info event (asked of Relay)
//! and the outcome of takes (told by whoever takes a dispute). Other actors ask before opening a
//! session and may subscribe to changes. Core notification never depends on it.
//! Writes: solver_auth and the auth_retry_* events (see `store`). Calls: relay (status).

mod store;

use std::path::PathBuf;
use std::time::Duration;

use nostr_sdk::PublicKey;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort};
use serbero_core::auth_retry::{judge, AuthSchedule, AuthState, Next, TakeOutcome, Verdict};
use serbero_core::node_info::NodeInfo;
use serde_json::json;
use tracing::{error, info, warn};

use crate::clock::Clock;
use crate::db::Db;
use crate::relay::{self, RelayRef};
use crate::tasks::TaskGuard;

pub type AuthRetryRef = ActorRef<Msg>;

/// How long a check waits for Relay's answer.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

pub enum Msg {
    /// The node answered one of our takes.
    TakeAnswered(TakeOutcome),
    /// A scheduled re-check; ignored unless `generation` is current.
    RetryDue { generation: u64 },
    /// Tell `to` of every change of standing; it is told the current one at once.
    Subscribe(DerivedActorRef<AuthChanged>),
    /// The current standing; also a FIFO barrier for earlier casts.
    Status(RpcReplyPort<AuthStatus>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStatus {
    pub state: AuthState,
    /// Failed checks in the current schedule.
    pub attempts: u32,
    /// Whether a session may try a take: authorized, or nothing has proven otherwise yet (a
    /// node that announces no Serbero leaves the first take as the only evidence).
    pub may_take: bool,
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
    relay: RelayRef,
    stored: store::Stored,
    last_verdict: Verdict,
    last_take: Option<TakeOutcome>,
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
        let stored = db.read(store::load).await?.filter(|s| s.daemon_run == run).unwrap_or(store::Stored {
            daemon_run: run,
            state: AuthState::Unauthorized,
            attempts: 0,
            waited_seconds: 0,
        });
        Ok(State {
            db,
            me,
            us: args.us,
            schedule: args.schedule,
            relay: args.relay,
            stored,
            last_verdict: Verdict::Inconclusive,
            last_take: None,
            generation: 0,
            timer: None,
            subscribers: Vec::new(),
            clock: args.clock,
        })
    }

    /// Checks at once, unless this run already gave up.
    async fn post_start(&self, _me: AuthRetryRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        if st.stored.state == AuthState::Terminated {
            warn!("solver authorization checks ended earlier in this run; restart the daemon to try again");
            return Ok(());
        }
        check(st).await
    }

    async fn handle(&self, _me: AuthRetryRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::TakeAnswered(outcome) => on_take(st, outcome).await,
            Msg::RetryDue { generation } if generation == st.generation && st.stored.state != AuthState::Terminated => {
                check(st).await
            }
            Msg::RetryDue { .. } => Ok(()),
            Msg::Subscribe(to) => {
                let _ = to.send_message(AuthChanged(st.stored.state));
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
    let state = st.stored.state;
    let may_take = state == AuthState::Authorized
        || (state == AuthState::Unauthorized && st.last_verdict == Verdict::Inconclusive);
    AuthStatus { state, attempts: st.stored.attempts, may_take }
}

/// One check: judges the node's info event and the last take.
async fn check(st: &mut State) -> Result<(), ActorProcessingErr> {
    let node = node_info(&st.relay).await;
    let verdict = judge(node.as_ref(), &st.us, st.last_take.as_ref());
    apply(st, verdict).await
}

async fn node_info(relay: &RelayRef) -> Option<NodeInfo> {
    match relay.call(relay::Msg::Status, Some(RELAY_TIMEOUT)).await {
        Ok(CallResult::Success(status)) => status.node_info,
        _ => {
            warn!("relay did not answer; judging solver standing without the node's info event");
            None
        }
    }
}

async fn on_take(st: &mut State, outcome: TakeOutcome) -> Result<(), ActorProcessingErr> {
    st.last_take = Some(outcome);
    if st.stored.state == AuthState::Terminated {
        return Ok(());
    }
    let node = node_info(&st.relay).await;
    let verdict = judge(node.as_ref(), &st.us, st.last_take.as_ref());
    if st.stored.state == AuthState::Authorized && matches!(verdict, Verdict::NotAuthorized(_)) {
        error!("the node no longer accepts Serbero as a solver; checking again on the retry schedule");
        st.stored.attempts = 0;
        st.stored.waited_seconds = 0;
    }
    apply(st, verdict).await
}

async fn apply(st: &mut State, verdict: Verdict) -> Result<(), ActorProcessingErr> {
    let before = st.stored.state;
    st.last_verdict = verdict.clone();
    let now = st.clock.now();
    let mut events = Vec::new();
    match verdict {
        Verdict::Authorized => {
            if before != AuthState::Authorized {
                info!(attempts = st.stored.attempts, "Serbero is a registered solver of the Mostro node");
                if st.stored.attempts > 0 {
                    events.push(("auth_retry_recovered", json!({ "attempt": st.stored.attempts + 1 })));
                }
            }
            st.stored =
                store::Stored { state: AuthState::Authorized, attempts: 0, waited_seconds: 0, ..st.stored.clone() };
            st.timer = None;
        }
        Verdict::NotAuthorized(why) => events.extend(fail(st, &why)),
        Verdict::Inconclusive => events.extend(fail(st, "nothing proves registration yet (no serbero tag, no take)")),
    }
    let (stored, after) = (st.stored.clone(), st.stored.state);
    st.db
        .write(move |tx| {
            for (kind, payload) in &events {
                store::event(tx, kind, payload, now)?;
            }
            store::save(tx, &stored, now)
        })
        .await?;
    if after != before {
        st.subscribers.retain(|s| s.send_message(AuthChanged(after)).is_ok());
    }
    Ok(())
}

/// Counts a failed check and schedules the next one, or terminates.
fn fail(st: &mut State, why: &str) -> Vec<(&'static str, serde_json::Value)> {
    st.stored.attempts += 1;
    let attempt = st.stored.attempts;
    let mut events = vec![("auth_retry_attempt", json!({ "attempt": attempt, "error": why }))];
    match st.schedule.after_failure(attempt, Duration::from_secs(st.stored.waited_seconds)) {
        Next::RetryIn(delay) => {
            warn!(
                attempt,
                retry_in_seconds = delay.as_secs(),
                reason = why,
                "Serbero's solver registration not confirmed"
            );
            st.stored.state = AuthState::Unauthorized;
            st.stored.waited_seconds += delay.as_secs();
            arm(st, delay);
        }
        Next::Terminate => {
            error!(
                attempt,
                waited_seconds = st.stored.waited_seconds,
                "giving up on Serbero's solver registration: register its key with the Mostro node, then restart Serbero"
            );
            st.stored.state = AuthState::Terminated;
            st.timer = None;
            events.push((
                "auth_retry_terminated",
                json!({ "attempt": attempt, "cumulative_secs": st.stored.waited_seconds }),
            ));
        }
    }
    events
}

fn arm(st: &mut State, delay: Duration) {
    st.generation += 1;
    let (generation, me) = (st.generation, st.me.clone());
    st.timer = Some(
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = me.cast(Msg::RetryDue { generation });
        })
        .into(),
    );
}
