//! Taking the dispute: `admin-take-dispute` on the node's transport, with the proof of work it
//! demands, signed fresh on every try (the node drops messages older than 10 s and reads only
//! live events), matched to the node's answers by its request id, which every try shares.
//! Each try waits `take_timeout` from the moment a relay holds it; an unanswered take is tried
//! again, then handed to the human solvers. An answer that comes late is still honoured, and a
//! refusal counts against Serbero's registration only when no revision explains it.
//! A try is stored before it is published, and a restart never signs a second one while the
//! first may still be answered: mostrod runs a second take again (a second revision, the
//! solver and the parties told again). What the take came to goes back to the actor as a
//! [`TakeOutcome`]; a take that ended finishes the session here.

use std::time::Duration;

use mostro_core::transport::wrap_message_with;
use nostr_sdk::{Event, JsonUtil};
use ractor::rpc::CallResult;
use ractor::ActorProcessingErr;
use serbero_core::auth_retry::TakeOutcome as TakeAnswered;
use serbero_core::notification::NotifType;
use serbero_core::take::{
    after_unanswered, ensure_read_only, judge_refusal, match_answer, Refusal, TakeAnswer, TakeRequest, TakenDispute,
    Unanswered,
};
use tokio::runtime::Handle;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::state::{ended_in_memory, finish, State};
use super::store::{self, Evidence, Parties, TakeState};
use super::{record, Msg};
use crate::relay::{self, NodeMessage, PublishOutcome, Stage, Ticket};
use crate::tasks;
use crate::{auth_retry, outbox};

/// What the take came to, for the actor to act on.
pub(super) enum TakeOutcome {
    /// Nothing for the mediation: the take waits, or it ended and the session finishes.
    Nothing,
    /// The node handed us the dispute: the mediation opens.
    Took,
    /// A further acceptance of the dispute we hold: whose it is must be judged again.
    AcceptedAgain,
    /// Every try went unanswered: the dispute goes to the human solvers.
    Unanswered,
}

/// Wait before publishing a take again when no relay acknowledged it.
const TAKE_RESEND_DELAY: Duration = Duration::from_secs(1);
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// Records the take request (asking again after a refused, unanswered or unusable one), then
/// sends it. Until a relay holds it, its deadline bounds the wait for the node's info event.
pub(super) async fn start(st: &mut State) -> Result<TakeOutcome, ActorProcessingErr> {
    let (id, request_id, now) = (st.dispute_id.clone(), st.request_id, st.clock.now());
    let deadline = now + st.take_timeout.as_secs() as i64;
    let take = st.db.write(move |tx| store::request(tx, &id, request_id, deadline, now)).await?;
    st.take = Some(take);
    resume(st).await
}

/// Goes on with the stored request until its deadline, or acts on its passed deadline. A try a
/// relay acknowledged is only waited for: the node's answer, if it came while we were down,
/// comes again through Relay's lookback on node messages. One that may not have reached a relay
/// goes out again as the same event, which a relay that has it already drops.
pub(super) async fn resume(st: &mut State) -> Result<TakeOutcome, ActorProcessingErr> {
    let Some(take) = st.take.as_ref().filter(|t| t.state == TakeState::Requested) else {
        return Ok(TakeOutcome::Nothing);
    };
    let left = take.deadline_at - st.clock.now();
    if left <= 0 {
        return on_deadline(st).await;
    }
    arm_deadline(st, left);
    let id = st.dispute_id.clone();
    let stored = st.db.read(move |conn| store::current_try(conn, &id)).await?;
    let event = stored.as_ref().and_then(|t| Event::from_json(&t.event_json).ok());
    match (stored.map(|t| t.acknowledged), event) {
        (Some(true), _) => {
            debug!(dispute = %st.dispute_id, "a relay holds the take request; waiting for the node's answer");
            st.take_sent = true;
        }
        (Some(false), Some(event)) => publish(st, event)?,
        _ => send(st).await?,
    }
    Ok(TakeOutcome::Nothing)
}

fn arm_deadline(st: &mut State, seconds: i64) {
    let wait = Duration::from_secs(seconds.max(0) as u64);
    st.timers.take_deadline = Some(tasks::after(wait, st.me.clone(), Msg::TakeDeadline));
}

fn requested(st: &State) -> Option<TakeRequest> {
    let take = st.take.as_ref().filter(|t| t.state == TakeState::Requested)?;
    request_of(take)
}

fn request_of(take: &store::Take) -> Option<TakeRequest> {
    let dispute_id = Uuid::parse_str(&take.dispute_id).ok()?;
    Some(TakeRequest { dispute_id, request_id: take.request_id })
}

/// Builds the take request now on the transport the node announces, mines its proof of work
/// (more on later tries where the node's demand is unknown) off the runtime's workers, stores
/// it as the current try and publishes it.
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
        st.timers.take_resend = Some(tasks::after(TAKE_RESEND_DELAY, st.me.clone(), Msg::SendTake));
        if st.timers.take_deadline.is_none() {
            arm_deadline(st, st.take_timeout.as_secs() as i64);
        }
        return Ok(());
    };
    let message = request.message();
    ensure_read_only(&message)?;
    let attempt = st.take.as_ref().map_or(0, |t| t.tries_unanswered) + 1;
    let (keys, mostro, transport) = (st.keys.clone(), st.mostro, node.transport());
    let options = node.wrap_options_for_attempt(attempt);
    let pow = options.pow;
    let event = tokio::task::spawn_blocking(move || {
        Handle::current().block_on(wrap_message_with(transport, &message, &keys, &keys, mostro, options))
    })
    .await??;
    let (id, json, now) = (st.dispute_id.clone(), event.as_json(), st.clock.now());
    st.db.write(move |tx| store::try_signed(tx, &id, &json, now)).await?;
    info!(dispute = %st.dispute_id, request_id = request.request_id, attempt, %transport, pow, "taking the dispute");
    publish(st, event)?;
    // Mining may take long: the try's wait starts once it is out (and again at a relay's OK).
    arm_deadline(st, st.take_timeout.as_secs() as i64);
    Ok(())
}

fn publish(st: &mut State, event: Event) -> Result<(), ActorProcessingErr> {
    let publish = relay::Msg::Publish { ticket: Ticket::Take, event: Box::new(event), reply_to: st.me.get_derived() };
    st.relay.cast(publish)?;
    st.take_sent = true;
    Ok(())
}

/// A relay holds the try: its deadline starts now. None did: it is signed and sent again.
pub(super) async fn on_published(st: &mut State, outcome: PublishOutcome) -> Result<(), ActorProcessingErr> {
    if outcome.stage != Stage::Answered || requested(st).is_none() {
        return Ok(());
    }
    if !outcome.is_acknowledged() {
        let error = outcome.failure_summary();
        warn!(dispute = %st.dispute_id, %error, "no relay accepted the take request; sending it again");
        st.timers.take_resend = Some(tasks::after(TAKE_RESEND_DELAY, st.me.clone(), Msg::SendTake));
        return Ok(());
    }
    let (id, event, now, timeout) = (st.dispute_id.clone(), outcome.event_id.to_hex(), st.clock.now(), st.take_timeout);
    let deadline = now + timeout.as_secs() as i64;
    st.db.write(move |tx| store::try_sent(tx, &id, &event, deadline, now)).await?;
    if let Some(take) = st.take.as_mut() {
        take.deadline_at = deadline;
    }
    arm_deadline(st, timeout.as_secs() as i64);
    Ok(())
}

/// An answer to our request, whenever it comes: each one is evidence (counted once), and the
/// first acceptance makes the dispute ours, even after the take's deadline. An acceptance known
/// already is acted on all the same (a restart may have come between recording and acting on
/// it; acting moves only a take that still waits); a known refusal may be an earlier ask's.
pub(super) async fn on_node_message(st: &mut State, message: NodeMessage) -> Result<TakeOutcome, ActorProcessingErr> {
    let Some(request) = st.take.as_ref().and_then(request_of) else { return Ok(TakeOutcome::Nothing) };
    let Some(answer) = match_answer(&request, &message.message) else { return Ok(TakeOutcome::Nothing) };
    let kind = match &answer {
        TakeAnswer::Took(_) => Evidence::Accepted,
        TakeAnswer::CantDo(_) => Evidence::Refused,
        TakeAnswer::Malformed(_) => Evidence::Refused,
    };
    let (id, event, at, now) = (st.dispute_id.clone(), message.event_id.to_hex(), message.created_at, st.clock.now());
    let fresh = st.db.write(move |tx| store::evidence(tx, &id, &event, kind, at, now)).await?;
    if !fresh && kind != Evidence::Accepted {
        return Ok(TakeOutcome::Nothing);
    }
    let state = st.take.as_ref().map(|t| t.state);
    match (state, answer) {
        (Some(TakeState::Requested | TakeState::TimedOut), TakeAnswer::Took(taken)) => {
            (st.timers.take_deadline, st.timers.take_resend) = (None, None);
            on_took(st, taken, message.created_at).await
        }
        (Some(TakeState::Requested), TakeAnswer::CantDo(reason)) => {
            (st.timers.take_deadline, st.timers.take_resend) = (None, None);
            on_refused(st, reason).await?;
            Ok(TakeOutcome::Nothing)
        }
        (Some(TakeState::Requested), TakeAnswer::Malformed(why)) => {
            (st.timers.take_deadline, st.timers.take_resend) = (None, None);
            error!(dispute = %st.dispute_id, %why, "the node's answer to our take is unusable");
            failed(st, TakeState::Malformed, &why, None).await?;
            Ok(TakeOutcome::Nothing)
        }
        // A second acceptance (an earlier try answered late) only counts towards our revisions.
        (Some(TakeState::Took), _) => Ok(TakeOutcome::AcceptedAgain),
        _ => {
            debug!(dispute = %st.dispute_id, "an answer to a take that already ended");
            Ok(TakeOutcome::Nothing)
        }
    }
}

async fn on_took(st: &mut State, taken: TakenDispute, answered_at: i64) -> Result<TakeOutcome, ActorProcessingErr> {
    let late = st.take.as_ref().is_some_and(|t| t.state == TakeState::TimedOut);
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
    info!(dispute = %st.dispute_id, order = %taken.order_id, late, "the node handed us the dispute");
    tell_auth_retry(st, TakeAnswered::Took);
    let id = st.dispute_id.clone();
    if st.db.read(move |conn| record::escalated_before_take(conn, &id)).await? {
        // The human solvers were told already; a write solver takes it over from us (Ctrl+T).
        warn!(dispute = %st.dispute_id, "the node answered after the dispute was handed to the human solvers; \
              Serbero holds it at the node and leaves it to them");
        let reason = "answered after the take was handed to the human solvers";
        end_take(st, TakeState::Closed, reason, None).await?;
        finish(st).await?;
        return Ok(TakeOutcome::Nothing);
    }
    Ok(TakeOutcome::Took)
}

/// `invalid_pubkey` is ambiguous (spec/mostro-protocol.md §14.1): a revision showing the
/// dispute claimed or resolved explains it (a lost race); otherwise a revision may still be on
/// its way, and only one that never comes makes it evidence against Serbero.
async fn on_refused(st: &mut State, reason: String) -> Result<(), ActorProcessingErr> {
    let id = st.dispute_id.clone();
    let (claimed, _) = st.db.read(move |conn| store::seen_beyond_initiated(conn, &id)).await?;
    match judge_refusal(&reason, claimed) {
        Refusal::LostRace => {
            info!(dispute = %st.dispute_id, %reason, "the node refused our take: someone else was first");
            lost_race(st).await
        }
        Refusal::AwaitRevision => {
            warn!(dispute = %st.dispute_id, %reason, wait_seconds = st.take_timeout.as_secs(),
                "the node refused our take; waiting for a revision that would explain it");
            end_take(st, TakeState::Refused, &format!("cant-do: {reason}"), Some(reason)).await?;
            st.timers.refusal_grace = Some(tasks::after(st.take_timeout, st.me.clone(), Msg::RefusalGrace));
            Ok(())
        }
        Refusal::ThisDisputeOnly => {
            warn!(dispute = %st.dispute_id, %reason, "the node refused our take (cant-do)");
            failed(st, TakeState::Refused, &format!("cant-do: {reason}"), Some(reason)).await
        }
    }
}

/// Someone else took the dispute, or the parties settled it, before our take arrived.
pub(super) async fn lost_race(st: &mut State) -> Result<(), ActorProcessingErr> {
    st.timers.refusal_grace = None;
    end_take(st, TakeState::Superseded, "someone else took or resolved the dispute first", None).await?;
    finish(st).await
}

/// No revision explained the refusal: Serbero may not be a solver of this node.
pub(super) async fn on_refusal_grace(st: &mut State) -> Result<(), ActorProcessingErr> {
    if st.take.as_ref().is_some_and(|t| t.state == TakeState::Refused) {
        warn!(dispute = %st.dispute_id, "no revision explains the node's refusal of an unclaimed dispute");
        tell_auth_retry(st, TakeAnswered::RefusedUnexplained);
    }
    finish(st).await
}

fn tell_auth_retry(st: &State, outcome: TakeAnswered) {
    if let Some(auth) = &st.auth_retry {
        let _ = auth.cast(auth_retry::Msg::TakeAnswered(outcome));
    }
}

/// A try got no answer in time: try again while tries are left and the dispute is open, else
/// hand it to the human solvers with a clear trigger rather than go quiet.
pub(super) async fn on_deadline(st: &mut State) -> Result<TakeOutcome, ActorProcessingErr> {
    let Some(take) = st.take.clone().filter(|t| t.state == TakeState::Requested) else {
        return Ok(TakeOutcome::Nothing);
    };
    let id = st.dispute_id.clone();
    let (_, resolved) = st.db.read(move |conn| store::seen_beyond_initiated(conn, &id)).await?;
    let why = if st.take_sent { "no answer from the node in time" } else { "no take could be sent in time" };
    match after_unanswered(take.tries_unanswered + 1, resolved) {
        Unanswered::TryAgain { attempt } => {
            warn!(dispute = %st.dispute_id, reason = why, attempt, "trying the take again");
            let (id, now) = (st.dispute_id.clone(), st.clock.now());
            let deadline = now + st.take_timeout.as_secs() as i64;
            st.db.write(move |tx| store::try_unanswered(tx, &id, deadline, now)).await?;
            if let Some(take) = st.take.as_mut() {
                take.tries_unanswered += 1;
                take.deadline_at = deadline;
            }
            st.timers.take_deadline = None;
            send(st).await?;
            Ok(TakeOutcome::Nothing)
        }
        Unanswered::Resolved => {
            failed(st, TakeState::Closed, "dispute resolved", None).await?;
            Ok(TakeOutcome::Nothing)
        }
        Unanswered::GiveUp => {
            let id = st.dispute_id.clone();
            let reached_a_relay = st.db.read(move |conn| store::ledger(conn, &id)).await?.sent > 0;
            let reason = match (reached_a_relay, st.take_sent) {
                (true, _) => "no answer from the node to any try",
                (false, true) => "no relay accepted any try",
                (false, false) => "the node's info event (kind 38385) never arrived, so no take was sent",
            };
            warn!(dispute = %st.dispute_id, reason, "take unanswered; handing the dispute to the human solvers");
            end_take(st, TakeState::TimedOut, reason, None).await?;
            Ok(TakeOutcome::Unanswered)
        }
    }
}

/// A take that did not succeed ends this attempt; the dispute may be tried again later.
async fn failed(
    st: &mut State,
    state: TakeState,
    reason: &str,
    cant_do: Option<String>,
) -> Result<(), ActorProcessingErr> {
    end_take(st, state, reason, cant_do).await?;
    finish(st).await
}

/// Ends the take's conversation in `state` and withdraws party messages not yet delivered.
pub(super) async fn end_take(
    st: &mut State,
    state: TakeState,
    reason: &str,
    cant_do: Option<String>,
) -> Result<(), ActorProcessingErr> {
    let (id, now, ledger) = (st.dispute_id.clone(), st.clock.now(), st.outbox.ledger().clone());
    let (why, withdrawn_as, stored) = (reason.to_string(), format!("withdrawn: {reason}"), cant_do.clone());
    let withdrawn = st
        .db
        .write(move |tx| {
            store::end(tx, &id, state, &why, stored.as_deref(), now)?;
            outbox::store::withdraw(tx, &ledger, NotifType::PartyMessage, &withdrawn_as, now)
        })
        .await?;
    if withdrawn > 0 {
        info!(dispute = %st.dispute_id, withdrawn, "undelivered party messages withdrawn");
    }
    ended_in_memory(st, state, reason);
    if let Some(take) = st.take.as_mut() {
        take.cant_do_reason = cant_do.or(take.cant_do_reason.take());
    }
    Ok(())
}
