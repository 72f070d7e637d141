//! The mediation itself: the opening verdict, the session row once the dispute is ours, questions
//! to the parties, replies and rounds, the model's next step, and its timers running out. How a
//! session ends (summary, escalation, takeover, resolution) is in `ending`.

use ractor::ActorProcessingErr;
use serbero_core::audit::EventKind;
use serbero_core::chat::Inbound;
use serbero_core::dispute::Initiator;
use serbero_core::escalation::Trigger;
use serbero_core::mediation::{after_reply, opening, unresponsive_at, AfterReply, Opening, SessionState};
use serbero_core::milestone::Milestone;
use serbero_core::policy::{self, Decision, Stage};
use serbero_core::reasoning::{CatalogChoice, Classified, ClassifyRequest, Label, ReasoningError};
use serde_json::json;
use tracing::{info, warn};

use super::ending::{self, escalate, failure_trigger, on_delivered};
use super::record::{self, SessionRow};
use super::state::{arm_timers, set_state, Asked, State, Verdict};
use super::{chat, questions, store, Msg};
use crate::outbox::{self, to_observers};
use crate::tasks;

/// Failed evaluations in a row before the session escalates with `reasoning_unavailable`.
const MAX_EVALUATION_FAILURES: u32 = 3;

/// A live session goes on where it stopped.
pub(super) async fn resume(st: &mut State, session: &SessionRow) -> Result<(), ActorProcessingErr> {
    if session.policy_hash != st.mediator.bundle.policy_hash {
        warn!(dispute = %st.dispute_id, pinned = %session.policy_hash, loaded = %st.mediator.bundle.policy_hash,
            "the session's prompt bundle is no longer loaded");
        return escalate(st, Trigger::PolicyBundleMissing, Vec::new(), Vec::new()).await;
    }
    chat::open_channels(st).await?;
    on_delivered(st).await?;
    if st.winding_down {
        return Ok(());
    }
    arm_timers(st).await?;
    match session.state {
        SessionState::Opening | SessionState::FollowUpPending => evaluate(st).await,
        SessionState::Classified | SessionState::SummaryPending => ending::summarize(st).await,
        // Replies counted before a stop and not yet acted on: the round limit, or the model.
        _ if session.round_count > session.rounds_evaluated => {
            let max_rounds = st.mediator.settings.max_rounds;
            match after_reply(session.rounds_evaluated, session.round_count, max_rounds) {
                AfterReply::EscalateRoundLimit => escalate(st, Trigger::RoundLimit, Vec::new(), Vec::new()).await,
                _ => evaluate(st).await,
            }
        }
        _ => Ok(()),
    }
}

/// What the opening verdict came to.
pub(super) enum AfterVerdict {
    /// Mediation may go on: the dispute is to be taken.
    Take,
    /// It rules mediation out: escalated before any take.
    Escalated,
}

/// The opening verdict, before any take: a negative one escalates dispute-scoped.
pub(super) async fn verdict(st: &mut State) -> Result<AfterVerdict, ActorProcessingErr> {
    let id = st.dispute_id.clone();
    let initiator = st.db.read(move |conn| record::initiator(conn, &id)).await?;
    let request = ClassifyRequest {
        dispute_id: &st.dispute_id,
        session_id: None,
        initiator: initiator.unwrap_or(Initiator::Buyer),
        round_count: 0,
        transcript: &[],
    };
    let answer = st.mediator.reasoner.classify(&st.mediator.bundle, &request).await;
    let Judged { decision, summary: classification, rationale_id, label, catalog } =
        judge(st, None, answer, Stage::Opening).await?;
    let id = st.dispute_id.clone();
    let payload = json!({ "dispute_id": id, "decision": decision_name(&decision), "classification": classification });
    let (bundle, now, rid) = (st.mediator.bundle.clone(), st.clock.now(), rationale_id.clone());
    st.db
        .write(move |tx| record::event(tx, None, EventKind::ReasoningVerdict, &payload, rid.as_deref(), &bundle, now))
        .await?;
    match opening(decision) {
        Opening::EscalateBeforeTake(trigger) => {
            info!(dispute = %st.dispute_id, %trigger, "the opening verdict rules mediation out; escalating before any take");
            escalate(st, trigger, Vec::new(), rationale_id.into_iter().collect()).await?;
            Ok(AfterVerdict::Escalated)
        }
        Opening::Take { buyer_text, seller_text } => {
            let asked = Asked { buyer_text, seller_text, label, catalog };
            st.verdict = Some(Verdict { asked, classification, rationale_id });
            Ok(AfterVerdict::Take)
        }
    }
}

/// The model's answer through the policy: the decision, the classification summary for the
/// audit, the rationale id, and what the model chose of the catalog.
struct Judged {
    decision: Decision,
    summary: serde_json::Value,
    rationale_id: Option<String>,
    label: Option<Label>,
    catalog: CatalogChoice,
}

/// The model's answer through the policy, with its rationale stored and a failure audited.
async fn judge(
    st: &mut State,
    session_id: Option<String>,
    answer: Result<Classified, ReasoningError>,
    stage: Stage,
) -> Result<Judged, ActorProcessingErr> {
    let (bundle, now, reasoner) = (st.mediator.bundle.clone(), st.clock.now(), st.mediator.reasoner.clone());
    let (provider, model) = (reasoner.provider().to_string(), reasoner.model().to_string());
    match answer {
        Err(e) => {
            warn!(dispute = %st.dispute_id, category = e.category(), "reasoning call failed");
            let payload = json!({ "dispute_id": st.dispute_id, "provider": provider, "model": model,
                                   "error_category": e.category() });
            let session = session_id.clone();
            st.db
                .write(move |tx| {
                    record::event(tx, session.as_deref(), EventKind::ReasoningCallFailed, &payload, None, &bundle, now)
                })
                .await?;
            let decision = Decision::Escalate(failure_trigger(&e));
            Ok(Judged { decision, summary: json!(null), rationale_id: None, label: None, catalog: Default::default() })
        }
        Ok(Classified { classification: c, catalog }) => {
            let decision = policy::decide(&c, stage);
            let text = c.rationale.0.clone();
            let rid = st.db.write(move |tx| record::rationale(tx, &text, &provider, &model, &bundle, now)).await?;
            let summary = json!({ "classification": c.label.as_str(), "confidence": c.confidence });
            info!(dispute = %st.dispute_id, label = %c.label, confidence = c.confidence, rationale = %rid,
                decision = decision_name(&decision), "model classified the dispute");
            Ok(Judged { decision, summary, rationale_id: Some(rid), label: Some(c.label), catalog })
        }
    }
}

fn decision_name(decision: &Decision) -> String {
    match decision {
        Decision::Ask { .. } => "ask_clarification".to_string(),
        Decision::Summarize => "summarize".to_string(),
        Decision::Escalate(trigger) => format!("escalate:{trigger}"),
    }
}

/// The dispute is ours: the session row at `opening`, the channels, then the verdict's
/// questions (or, after a restart lost them, the model asked again).
pub(super) async fn after_took(st: &mut State) -> Result<(), ActorProcessingErr> {
    chat::open_channels(st).await?;
    let session_id = uuid::Uuid::new_v4().to_string();
    let (id, sid, bundle, now) =
        (st.dispute_id.clone(), session_id.clone(), st.mediator.bundle.clone(), st.clock.now());
    let conv = chat::conv_pubkeys(st);
    let verdict = st.verdict.take();
    let produced = verdict.as_ref().map(|v| (v.classification.clone(), v.rationale_id.clone()));
    let session = st
        .db
        .write(move |tx| {
            record::open(tx, &sid, &id, &bundle, (&conv.0, &conv.1), now)?;
            if let Some((classification, rid)) = produced {
                record::event(
                    tx,
                    Some(&sid),
                    EventKind::ClassificationProduced,
                    &classification,
                    rid.as_deref(),
                    &bundle,
                    now,
                )?;
            }
            record::load(tx, &id)
        })
        .await?;
    st.session = session;
    info!(dispute = %st.dispute_id, session = %session_id, "mediation session opened");
    arm_timers(st).await?;
    match verdict {
        Some(v) => send_questions(st, v.asked, None, SessionState::Opening).await,
        None => evaluate(st).await,
    }
}

/// One message to each party (`questions`), stored with their outbox rows as the session moves
/// `from` → `awaiting_response`; a text that may not go out escalates instead.
async fn send_questions(
    st: &mut State,
    asked: Asked,
    followup: Option<u32>,
    from: SessionState,
) -> Result<(), ActorProcessingErr> {
    let texts = match questions::compose(st, asked, followup).await? {
        Ok(texts) => texts,
        Err(why) => {
            warn!(dispute = %st.dispute_id, %why, "a question to a party was suppressed at the authority boundary");
            return escalate(st, Trigger::AuthorityBoundaryAttempt, Vec::new(), Vec::new()).await;
        }
    };
    let mut prepared = Vec::with_capacity(2);
    for (party, text) in texts {
        prepared.push(chat::prepare(st, party, text)?.await?);
    }
    let Some(session_id) = st.session.as_ref().map(|s| s.session_id.clone()) else { return Ok(()) };
    let told = match followup {
        None => to_observers(&st.mediator.observers, &st.dispute_id, &Milestone::Mediating, &session_id),
        Some(_) => Vec::new(),
    };
    let told = outbox::build_all(&st.keys, &st.mediator.directory, told).await?;
    chat::remember_sent(st, &prepared);
    let (id, ledger, now) = (st.dispute_id.clone(), st.outbox.ledger().clone(), st.clock.now());
    st.db
        .write(move |tx| {
            for p in &prepared {
                outbox::store::insert(tx, &ledger, &p.message, now)?;
                store::outbound(tx, &id, &p.row, now)?;
            }
            for message in &told {
                outbox::store::insert(tx, &ledger, message, now)?;
            }
            record::advance(tx, &session_id, &[from], SessionState::AwaitingResponse, now)
        })
        .await?;
    set_state(st, SessionState::AwaitingResponse);
    st.outbox.dispatch_due(&mut st.db, record::audit).await?;
    arm_timers(st).await
}

/// A fresh reply: the round count, then the limit, the model, or waiting for the other party.
pub(super) async fn on_reply(st: &mut State, inbound: &Inbound, rounds: u32) -> Result<(), ActorProcessingErr> {
    let Some(session) = st.session.clone().filter(|s| s.state == SessionState::AwaitingResponse) else {
        return Ok(());
    };
    if let Some(s) = st.session.as_mut() {
        s.round_count = rounds;
    }
    arm_timers(st).await?;
    match after_reply(session.round_count, rounds, st.mediator.settings.max_rounds) {
        AfterReply::EscalateRoundLimit => {
            info!(dispute = %st.dispute_id, rounds, "round limit reached");
            escalate(st, Trigger::RoundLimit, vec![inbound.inner_event_id.to_hex()], Vec::new()).await
        }
        AfterReply::Evaluate => evaluate(st).await,
        AfterReply::Wait => Ok(()),
    }
}

/// Asks the model what next with the transcript so far, and acts on the policy's decision.
pub(super) async fn evaluate(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(session) = st.session.clone().filter(|s| s.state.is_live()) else { return Ok(()) };
    st.timers.evaluation_retry = None;
    let (id, sid) = (st.dispute_id.clone(), session.session_id.clone());
    let (transcript, produced, initiator) = st
        .db
        .read(move |conn| {
            Ok((record::transcript(conn, &id)?, record::classifications(conn, &sid)?, record::initiator(conn, &id)?))
        })
        .await?;
    // A session still `opening` never sent its first questions (the verdict's were lost to a
    // restart, though `after_took` stored its classification): this is the opening verdict again.
    let stage = match (session.state, produced) {
        (SessionState::Opening, _) | (_, 0) => Stage::Opening,
        _ => Stage::FollowUp(produced),
    };
    let request = ClassifyRequest {
        dispute_id: &st.dispute_id,
        session_id: Some(&session.session_id),
        initiator: initiator.unwrap_or(Initiator::Buyer),
        round_count: session.round_count,
        transcript: &transcript,
    };
    let answer = st.mediator.reasoner.classify(&st.mediator.bundle, &request).await;
    let unreachable = matches!(answer, Err(ReasoningError::Unreachable(_) | ReasoningError::Timeout));
    let judged = judge(st, Some(session.session_id.clone()), answer, stage).await?;
    let (classification, rationale_id) = (judged.summary.clone(), judged.rationale_id.clone());
    if unreachable {
        return evaluation_failed(st, &session).await;
    }
    let (sid, bundle, now, rid, rounds) = (
        session.session_id.clone(),
        st.mediator.bundle.clone(),
        st.clock.now(),
        rationale_id.clone(),
        session.round_count,
    );
    // The round counts as assessed only together with what the verdict leads to (a state
    // change, or the escalation): a crash in between leaves it unassessed, and the resumed
    // session asks again instead of waiting for nothing.
    st.db
        .write(move |tx| {
            record::event(
                tx,
                Some(&sid),
                EventKind::ClassificationProduced,
                &classification,
                rid.as_deref(),
                &bundle,
                now,
            )
        })
        .await?;
    act(st, &session, judged, stage, rounds).await
}

async fn act(
    st: &mut State,
    session: &SessionRow,
    judged: Judged,
    stage: Stage,
    rounds: u32,
) -> Result<(), ActorProcessingErr> {
    let followup = match stage {
        Stage::Opening => None,
        Stage::FollowUp(n) => Some(n),
    };
    let Judged { decision, rationale_id, label, catalog, .. } = judged;
    match decision {
        Decision::Ask { buyer_text, seller_text } if followup.is_none() => {
            // Still `opening` until the questions are queued: a crash before them asks again.
            let sid = session.session_id.clone();
            st.db.write(move |tx| record::evaluation_succeeded(tx, &sid, rounds)).await?;
            send_questions(st, Asked { buyer_text, seller_text, label, catalog }, None, session.state).await
        }
        // Nothing was asked yet, so there is nothing to summarize: at the opening a summary is
        // no usable answer (`mediation::opening`), and the session could never leave `opening`.
        Decision::Summarize if followup.is_none() => {
            let rationale = rationale_id.into_iter().collect();
            escalate(st, Trigger::InvalidModelOutput, Vec::new(), rationale).await
        }
        Decision::Ask { buyer_text, seller_text } => {
            let from = [SessionState::AwaitingResponse, SessionState::Classified];
            advance_evaluated(st, session, &from, SessionState::FollowUpPending, rounds).await?;
            let asked = Asked { buyer_text, seller_text, label, catalog };
            send_questions(st, asked, followup, SessionState::FollowUpPending).await
        }
        Decision::Summarize => {
            // `follow_up_pending` here means its questions were never queued (a crash before
            // them): the round asked nothing, and the session can be summarized all the same.
            let from = [SessionState::AwaitingResponse, SessionState::FollowUpPending];
            advance_evaluated(st, session, &from, SessionState::Classified, rounds).await?;
            ending::summarize(st).await
        }
        Decision::Escalate(trigger) => escalate(st, trigger, Vec::new(), rationale_id.into_iter().collect()).await,
    }
}

/// [`advance`], recording in the same transaction that the session's `rounds` were assessed.
async fn advance_evaluated(
    st: &mut State,
    session: &SessionRow,
    from: &[SessionState],
    to: SessionState,
    rounds: u32,
) -> Result<(), ActorProcessingErr> {
    let (sid, from, now) = (session.session_id.clone(), from.to_vec(), st.clock.now());
    let moved = st
        .db
        .write(move |tx| {
            let moved = record::advance(tx, &sid, &from, to, now)?;
            record::evaluation_succeeded(tx, &sid, rounds)?;
            Ok(moved)
        })
        .await?;
    if moved {
        set_state(st, to);
    }
    Ok(())
}

async fn evaluation_failed(st: &mut State, session: &SessionRow) -> Result<(), ActorProcessingErr> {
    let sid = session.session_id.clone();
    let failures = st.db.write(move |tx| record::evaluation_failed(tx, &sid)).await?;
    if failures >= MAX_EVALUATION_FAILURES {
        return escalate(st, Trigger::ReasoningUnavailable, Vec::new(), Vec::new()).await;
    }
    st.timers.evaluation_retry = Some(tasks::after(st.mediator.evaluation_retry, st.me.clone(), Msg::Evaluate));
    Ok(())
}

pub(super) async fn on_unresponsive(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(session) = st.session.clone().filter(|s| s.state == SessionState::AwaitingResponse) else {
        return Ok(());
    };
    let id = st.dispute_id.clone();
    let newest = st.db.read(move |conn| record::newest_reply(conn, &id)).await?;
    let timeout = st.mediator.settings.party_response_timeout_seconds;
    match unresponsive_at(session.started_at, newest, st.clock.now(), timeout) {
        Some(at) if st.clock.now() >= at => escalate(st, Trigger::PartyUnresponsive, Vec::new(), Vec::new()).await,
        _ => arm_timers(st).await,
    }
}

pub(super) async fn on_session_timeout(st: &mut State) -> Result<(), ActorProcessingErr> {
    if st.session.as_ref().is_some_and(|s| s.state.is_live()) {
        return escalate(st, Trigger::MediationTimeout, Vec::new(), Vec::new()).await;
    }
    Ok(())
}
