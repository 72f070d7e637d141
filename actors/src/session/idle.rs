//! Hibernation: a session waiting for the parties, with nothing left to deliver, leaves memory
//! after `idle_hibernate_seconds`. Its channels keep being watched, for the supervisor, which
//! restores it from the database when a party writes or its next timer falls due. Thousands of
//! open disputes then cost a few hundred bytes each instead of an actor.

use ractor::ActorProcessingErr;
use serbero_core::mediation::{chat_resumes_at, wakes_at, SessionState};
use tracing::debug;

use super::state::{State, StopReason};
use super::{record, Hibernating, Msg};
use crate::{relay, tasks};

/// Whether the session has nothing to do until a party writes or a timer falls due.
fn resting(st: &State) -> bool {
    st.bedroom.is_some()
        && !st.winding_down
        && !st.channels.is_empty()
        && st.timers.evaluation_retry.is_none()
        && st.session.as_ref().is_some_and(|s| s.state == SessionState::AwaitingResponse)
}

/// After every message: (re)starts the idle countdown while the session rests.
pub(super) fn rearm(st: &mut State) {
    st.timers.idle = resting(st).then(|| tasks::after(st.mediator.hibernate_after, st.me.clone(), Msg::Idle));
}

pub(super) async fn on_idle(st: &mut State) -> Result<(), ActorProcessingErr> {
    if !resting(st) {
        return Ok(());
    }
    let ledger = st.outbox.ledger().clone();
    if st.db.read(move |conn| crate::outbox::store::undelivered(conn, &ledger)).await? > 0 {
        return Ok(());
    }
    let (Some(bedroom), Some(session)) = (st.bedroom.clone(), st.session.clone()) else { return Ok(()) };
    let id = st.dispute_id.clone();
    let newest = st.db.read(move |conn| record::newest_reply(conn, &id)).await?;
    let settings = &st.mediator.settings;
    let (party_timeout, session_limit) = (settings.party_response_timeout_seconds, settings.session_timeout_seconds);
    let wake_at = wakes_at(session.started_at, newest, st.clock.now(), party_timeout, session_limit);
    // From before the newest reply, not from now: a party writing while the watch changes hands
    // is read again by the supervisor, which wakes the session only for what it has not stored.
    let since = chat_resumes_at(newest, session.started_at);
    let mut keys = Vec::with_capacity(4);
    for (channel, _) in st.channels.drain(..) {
        let (sign, legacy) = (channel.sign.public_key(), channel.legacy.public_key());
        st.relay.cast(relay::Msg::WatchChat { sign, legacy, since, sink: bedroom.chat.clone() })?;
        keys.extend([sign, legacy]);
    }
    let asleep = Hibernating { dispute_id: st.dispute_id.clone(), keys, wake_at, actor: Some(st.me.get_id()) };
    bedroom.asleep.send_message(asleep)?;
    debug!(dispute = %st.dispute_id, ?wake_at, "session hibernates");
    st.timers = Default::default();
    st.me.stop(Some(StopReason::Hibernating.as_str().into()));
    Ok(())
}
