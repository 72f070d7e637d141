//! Taking the dispute: one `admin-take-dispute` on the node's transport, with the proof of work
//! it demands, signed fresh on every attempt (the node drops messages older than 10 s), matched
//! to the node's answer by its request id.

use std::time::Duration;

use mostro_core::transport::wrap_message_with;
use ractor::rpc::CallResult;
use ractor::ActorProcessingErr;
use serbero_core::auth_retry::TakeOutcome;
use serbero_core::take::{ensure_read_only, match_answer, TakeAnswer, TakeRequest, TakenDispute};
use tokio::runtime::Handle;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::store::{self, Parties, TakeState};
use super::{later, mediate, Msg, State};
use crate::auth_retry;
use crate::relay::{self, NodeMessage, PublishOutcome};

/// Publish ticket of take requests; outbox row ids start at 1.
pub(super) const TAKE_TICKET: i64 = 0;
/// Wait before publishing a take again when no relay acknowledged it.
const TAKE_RESEND_DELAY: Duration = Duration::from_secs(1);
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// Records the take request (asking again after a refused, unanswered or unusable one), then
/// sends it.
pub(super) async fn start(st: &mut State) -> Result<(), ActorProcessingErr> {
    let (id, request_id, now) = (st.dispute_id.clone(), st.request_id, st.clock.now());
    let deadline = now + st.take_timeout.as_secs() as i64;
    let take = st.db.write(move |tx| store::request(tx, &id, request_id, deadline, now)).await?;
    st.take = Some(take);
    resume(st).await
}

/// Sends the stored request, or records it as timed out when its deadline passed.
pub(super) async fn resume(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(deadline_at) = st.take.as_ref().map(|t| t.deadline_at) else { return Ok(()) };
    let left = deadline_at - st.clock.now();
    if left <= 0 {
        return on_deadline(st).await;
    }
    st.timers.take_deadline = Some(later(&st.me, Duration::from_secs(left as u64), || Msg::TakeDeadline));
    send(st).await
}

fn requested(st: &State) -> Option<TakeRequest> {
    let take = st.take.as_ref().filter(|t| t.state == TakeState::Requested)?;
    let dispute_id = Uuid::parse_str(&take.dispute_id).ok()?;
    Some(TakeRequest { dispute_id, request_id: take.request_id })
}

/// Builds the take request now on the transport the node announces, mines its proof of work
/// off the runtime's workers, and publishes it.
pub(super) async fn send(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(request) = requested(st) else { return Ok(()) };
    // Without the node's info event its transport is unknown, and a take on the wrong one is
    // silently dropped: wait for it (until the deadline).
    let node = match st.relay.call(relay::Msg::Status, Some(RELAY_TIMEOUT)).await {
        Ok(CallResult::Success(status)) => status.node_info,
        _ => None,
    };
    let Some(node) = node else {
        debug!(dispute = %st.dispute_id, "node info not known yet; the take waits for it");
        st.timers.take_resend = Some(later(&st.me, TAKE_RESEND_DELAY, || Msg::SendTake));
        return Ok(());
    };
    let message = request.message();
    ensure_read_only(&message)?;
    let (keys, mostro, transport, options) = (st.keys.clone(), st.mostro, node.transport(), node.wrap_options());
    let pow = options.pow;
    let event = tokio::task::spawn_blocking(move || {
        Handle::current().block_on(wrap_message_with(transport, &message, &keys, &keys, mostro, options))
    })
    .await??;
    info!(dispute = %st.dispute_id, request_id = request.request_id, %transport, pow, "taking the dispute");
    let publish = relay::Msg::Publish { ticket: TAKE_TICKET, event: Box::new(event), reply_to: st.me.get_derived() };
    st.relay.cast(publish)?;
    st.take_sent = true;
    Ok(())
}

pub(super) fn on_published(st: &mut State, outcome: PublishOutcome) -> Result<(), ActorProcessingErr> {
    if requested(st).is_some() && !outcome.is_acknowledged() {
        let error = outcome.failure_summary();
        warn!(dispute = %st.dispute_id, %error, "no relay accepted the take request; sending it again");
        st.timers.take_resend = Some(later(&st.me, TAKE_RESEND_DELAY, || Msg::SendTake));
    }
    Ok(())
}

pub(super) async fn on_node_message(st: &mut State, message: NodeMessage) -> Result<(), ActorProcessingErr> {
    let Some(request) = requested(st) else { return Ok(()) };
    let Some(answer) = match_answer(&request, &message.message) else { return Ok(()) };
    (st.timers.take_deadline, st.timers.take_resend) = (None, None);
    match answer {
        TakeAnswer::Took(taken) => on_took(st, taken, message.created_at).await,
        TakeAnswer::CantDo(reason) => {
            warn!(dispute = %st.dispute_id, %reason, "the node refused our take (cant-do)");
            tell_auth_retry(st, TakeOutcome::CantDo(reason.clone()));
            failed(st, TakeState::Refused, &format!("cant-do: {reason}"), Some(reason)).await
        }
        TakeAnswer::Malformed(why) => {
            error!(dispute = %st.dispute_id, %why, "the node's answer to our take is unusable");
            failed(st, TakeState::Malformed, &why, None).await
        }
    }
}

async fn on_took(st: &mut State, taken: TakenDispute, answered_at: i64) -> Result<(), ActorProcessingErr> {
    let (id, now, stored) = (st.dispute_id.clone(), st.clock.now(), taken.clone());
    st.db.write(move |tx| store::took(tx, &id, &stored, answered_at, now)).await?;
    if let Some(take) = st.take.as_mut() {
        take.state = TakeState::Took;
        take.answered_at = Some(answered_at);
        take.parties = Some(Parties {
            order_id: taken.order_id.to_string(),
            buyer: taken.buyer.to_hex(),
            seller: taken.seller.to_hex(),
        });
    }
    info!(dispute = %st.dispute_id, order = %taken.order_id, "the node handed us the dispute");
    tell_auth_retry(st, TakeOutcome::Took);
    mediate::after_took(st).await
}

fn tell_auth_retry(st: &State, outcome: TakeOutcome) {
    if let Some(auth) = &st.auth_retry {
        let _ = auth.cast(auth_retry::Msg::TakeAnswered(outcome));
    }
}

pub(super) async fn on_deadline(st: &mut State) -> Result<(), ActorProcessingErr> {
    if requested(st).is_none() {
        return Ok(());
    }
    let reason = if st.take_sent {
        "no answer from the node in time"
    } else {
        "the node's info event (kind 38385) never arrived, so no take was sent"
    };
    warn!(dispute = %st.dispute_id, %reason, "take timed out");
    failed(st, TakeState::TimedOut, reason, None).await
}

/// A take that did not succeed ends this attempt; the dispute may be tried again later.
async fn failed(
    st: &mut State,
    state: TakeState,
    reason: &str,
    cant_do: Option<String>,
) -> Result<(), ActorProcessingErr> {
    mediate::end_take(st, state, reason, cant_do).await?;
    super::finish(st).await
}
