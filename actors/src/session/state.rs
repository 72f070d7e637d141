//! A session in memory and its small changes: the state the actor holds, its timers, the take's
//! and the session's state as the actor knows them, closing its channels and finishing. The
//! steps (`take`, `chat`, `mediate`, `ending`, `forward`, `idle`) all work on this state; only
//! the actor's handler chains them.

use std::sync::Arc;
use std::time::Duration;

use nostr_sdk::{Keys, PublicKey};
use ractor::ActorProcessingErr;
use serbero_core::chat::{Channel, Gate};
use serbero_core::mediation::{session_deadline, unresponsive_at, SessionState};
use serbero_core::reasoning::{CatalogChoice, Label};
use tracing::debug;

use super::record::{self, SessionRow};
use super::store::{Take, TakeState};
use super::{Bedroom, Mediator, Msg, SessionRef};
use crate::auth_retry::AuthRetryRef;
use crate::clock::Clock;
use crate::db::Db;
use crate::outbox::Outbox;
use crate::relay::{self, NodeMessage, RelayRef};
use crate::tasks::{self, TaskGuard};

pub struct State {
    pub(super) db: Db,
    pub(super) me: SessionRef,
    pub(super) dispute_id: String,
    pub(super) request_id: u64,
    pub(super) take: Option<Take>,
    pub(super) session: Option<SessionRow>,
    pub(super) verdict: Option<Verdict>,
    pub(super) keys: Keys,
    pub(super) mostro: PublicKey,
    pub(super) relay: RelayRef,
    pub(super) auth_retry: Option<AuthRetryRef>,
    pub(super) mediator: Arc<Mediator>,
    pub(super) bedroom: Option<Bedroom>,
    /// Chat events that came before the session resumed its channels (the one that woke it,
    /// or ones the supervisor passed on while it woke), handled right after.
    pub(super) early_chat: Vec<nostr_sdk::Event>,
    pub(super) late_answer: Option<NodeMessage>,
    pub(super) begun: bool,
    pub(super) take_timeout: Duration,
    pub(super) outbox: Outbox,
    pub(super) channels: Vec<(Channel, Gate)>,
    pub(super) received: u64,
    /// A take request went out in this incarnation, or a relay held one before a restart.
    pub(super) take_sent: bool,
    /// Nothing left to do but deliver what the outbox holds.
    pub(super) winding_down: bool,
    /// When the current burst of post-handoff party messages began.
    pub(super) burst_began: Option<i64>,
    pub(super) timers: Timers,
    pub(super) clock: Clock,
}

/// Each timer's task; dropping one cancels it.
#[derive(Default)]
pub(super) struct Timers {
    pub take_deadline: Option<TaskGuard>,
    pub take_resend: Option<TaskGuard>,
    pub refusal_grace: Option<TaskGuard>,
    pub holder_check: Option<TaskGuard>,
    pub unresponsive: Option<TaskGuard>,
    pub session_deadline: Option<TaskGuard>,
    pub evaluation_retry: Option<TaskGuard>,
    pub idle: Option<TaskGuard>,
    pub burst_end: Option<TaskGuard>,
}

/// The opening verdict, kept until the take succeeds.
#[derive(Clone, Debug)]
pub(super) struct Verdict {
    pub asked: Asked,
    pub classification: serde_json::Value,
    pub rationale_id: Option<String>,
}

/// What the model asked for in one verdict.
#[derive(Clone, Debug)]
pub(super) struct Asked {
    pub buyer_text: String,
    pub seller_text: String,
    pub label: Option<Label>,
    pub catalog: CatalogChoice,
}

/// Why a session stopped on its own; any other stop (or none given) is a failure to restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing left to do: its work is over for good.
    Finished,
    /// It left memory while it waits; the supervisor wakes it.
    Hibernating,
}

impl StopReason {
    /// As ractor carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Hibernating => "hibernating",
        }
    }

    pub fn parse(reason: &str) -> Option<Self> {
        [Self::Finished, Self::Hibernating].into_iter().find(|r| r.as_str() == reason)
    }
}

pub(super) fn set_state(st: &mut State, state: SessionState) {
    if let Some(session) = st.session.as_mut() {
        session.state = state;
    }
}

/// Moves the stored session from one of `from` to `to`, and the actor's copy with it.
pub(super) async fn advance(
    st: &mut State,
    session: &SessionRow,
    from: &[SessionState],
    to: SessionState,
) -> Result<bool, ActorProcessingErr> {
    let (sid, from, now) = (session.session_id.clone(), from.to_vec(), st.clock.now());
    let moved = st.db.write(move |tx| record::advance(tx, &sid, &from, to, now)).await?;
    if moved {
        set_state(st, to);
    }
    Ok(moved)
}

/// The actor's copy of a take that ended in `state`.
pub(super) fn ended_in_memory(st: &mut State, state: TakeState, reason: &str) {
    if let Some(take) = st.take.as_mut() {
        take.state = state;
        take.ended_reason = Some(reason.to_string());
    }
}

/// Whether the dispute was handed off and is still ours: its chat is forwarded.
pub(super) fn forwarding(st: &State) -> bool {
    st.take.as_ref().is_some_and(|t| t.state == TakeState::Took && t.handed_off_at.is_some())
}

pub(super) fn close_channels(st: &mut State) {
    for (channel, _) in st.channels.drain(..) {
        let _ = st.relay.cast(relay::Msg::UnwatchChat { sign: channel.sign.public_key() });
    }
}

/// Stops now, or once the outbox has delivered (or given up on) what it holds.
pub(super) async fn finish(st: &mut State) -> Result<(), ActorProcessingErr> {
    st.timers = Timers::default();
    close_channels(st);
    st.winding_down = true;
    let ledger = st.outbox.ledger().clone();
    let pending = st.db.read(move |conn| crate::outbox::store::undelivered(conn, &ledger)).await?;
    if pending == 0 {
        debug!(dispute = %st.dispute_id, "session finished");
        st.me.stop(Some(StopReason::Finished.as_str().into()));
    }
    Ok(())
}

/// The party-response and session timers, from the stored session and its newest reply.
pub(super) async fn arm_timers(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(session) = st.session.clone().filter(|s| s.state.is_live()) else { return Ok(()) };
    let id = st.dispute_id.clone();
    let newest = st.db.read(move |conn| record::newest_reply(conn, &id)).await?;
    let (now, settings) = (st.clock.now(), &st.mediator.settings);
    let wait = |at: i64| Duration::from_secs((at - now).max(0) as u64);
    st.timers.unresponsive = (session.state == SessionState::AwaitingResponse)
        .then(|| unresponsive_at(session.started_at, newest, now, settings.party_response_timeout_seconds))
        .flatten()
        .map(|at| tasks::after(wait(at), st.me.clone(), Msg::Unresponsive));
    st.timers.session_deadline = session_deadline(session.started_at, settings.session_timeout_seconds)
        .map(|at| tasks::after(wait(at), st.me.clone(), Msg::SessionTimeout));
    Ok(())
}
