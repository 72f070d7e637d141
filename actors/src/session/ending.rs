//! How a session ends: a summary delivered to the solver(s), an escalation through the shared
//! handoff producer (with the solvers' alert and a word to the dispatcher), a human taking the
//! dispute over, or its resolution. Afterwards Serbero never writes to the parties again.
//! Each path ends the session itself (it finishes, or forwards the parties' words): nothing
//! goes back to the mediation.

use std::time::Duration;

use ractor::ActorProcessingErr;
use serbero_core::audit::EventKind;
use serbero_core::dispute::{DisputeEvent, DisputeStatus};
use serbero_core::escalation::Trigger;
use serbero_core::handoff::{self, Recommendation, Recorded};
use serbero_core::mediation::{escalation_alert, recipients, summary_dm, SessionState};
use serbero_core::milestone::Milestone;
use serbero_core::notification::NotifType;
use serbero_core::policy;
use serbero_core::reasoning::{Label, ReasoningError, SummaryRequest};
use serbero_core::solver_dm::{HandoffReason, Subject};
use serbero_core::take::{holder, revision_meaning, Holder, RevisionMeaning};
use serde_json::json;
use tracing::{error, info, warn};

use super::record::{self, SummaryRow};
use super::state::{advance, ended_in_memory, finish, set_state, State};
use super::store::{self, Evidence, TakeState};
use super::take::{end_take, lost_race};
use super::{brief, forward, Msg};
use crate::outbox::{self, to_observers, Draft};
use crate::{escalation, tasks};

/// Writes the summary for the solver(s) and sends it; the session closes once one of them has
/// it. A model failure, a summary crossing the authority boundary, or nobody to send it to
/// escalates instead.
pub(super) async fn summarize(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(session) = st.session.clone().filter(|s| s.state.is_live()) else { return Ok(()) };
    let ledger = st.outbox.ledger().clone();
    if st.db.read(move |conn| outbox::store::outcomes(conn, &ledger, NotifType::MediationSummary)).await?.total > 0 {
        // Written and queued before a restart: only its delivery is awaited.
        return Ok(());
    }
    if session.state == SessionState::Classified {
        advance(st, &session, &[SessionState::Classified], SessionState::SummaryPending).await?;
    }
    let (id, sid) = (st.dispute_id.clone(), session.session_id.clone());
    let (transcript, last, assigned, brief) = st
        .db
        .read(move |conn| {
            let last = record::last_classification(conn, &sid)?;
            let brief = brief::load(conn, &id, Some(&sid))?;
            Ok((record::transcript(conn, &id)?, last, record::assigned_solver(conn, &id)?, brief))
        })
        .await?;
    let brief = brief::with_currency(&st.relay, brief).await;
    let (label, confidence) = last
        .and_then(|(label, confidence)| Label::parse(&label).map(|l| (l, confidence)))
        .unwrap_or((Label::CoordinationFailureResolvable, 0.0));
    let request = SummaryRequest {
        dispute_id: &st.dispute_id,
        session_id: &session.session_id,
        label,
        confidence,
        transcript: &transcript,
    };
    let summary = match st.mediator.reasoner.summarize(&st.mediator.bundle, &request).await {
        Ok(summary) => summary,
        Err(e) => {
            warn!(dispute = %st.dispute_id, category = e.category(), "the model could not write the summary");
            return escalate(st, failure_trigger(&e), Vec::new(), Vec::new()).await;
        }
    };
    if let Err(trigger) = policy::check_summary(&summary) {
        warn!(dispute = %st.dispute_id, %trigger, "the summary was suppressed");
        return escalate(st, trigger, Vec::new(), Vec::new()).await;
    }
    let to = recipients(assigned.as_deref(), &st.mediator.solvers);
    if to.is_empty() {
        warn!(dispute = %st.dispute_id, "no solver to send the summary to");
        return escalate(st, Trigger::NotificationFailed, Vec::new(), Vec::new()).await;
    }
    let body = summary_dm(&st.dispute_id, &session.session_id, label, confidence, &summary.text, &summary.next_step)
        + &brief.render();
    let subject = Subject::HandedOff(HandoffReason::SummaryReady);
    let drafts = Draft::to_each(&to, &st.dispute_id, NotifType::MediationSummary, &subject, &body, |solver| {
        format!("summary:{}:{}", session.session_id, solver.to_hex())
    });
    let built = outbox::build_all(&st.keys, &st.mediator.directory, drafts).await?;
    let (bundle, now, ledger) = (st.mediator.bundle.clone(), st.clock.now(), st.outbox.ledger().clone());
    let (reasoner, dispute_id, sid) = (st.mediator.reasoner.clone(), st.dispute_id.clone(), session.session_id.clone());
    st.db
        .write(move |tx| {
            let rid = record::rationale(tx, &summary.rationale.0, reasoner.provider(), reasoner.model(), &bundle, now)?;
            let row = SummaryRow {
                session_id: &sid,
                dispute_id: &dispute_id,
                classification: label.as_str(),
                confidence,
                next_step: &summary.next_step,
                text: &summary.text,
                rationale_id: &rid,
            };
            record::summary(tx, &row, &bundle, now)?;
            let payload = json!({ "rationale_id": rid, "classification": label.as_str(), "confidence": confidence });
            record::event(tx, Some(&sid), EventKind::SummaryGenerated, &payload, Some(&rid), &bundle, now)?;
            for message in &built {
                outbox::store::insert(tx, &ledger, message, now)?;
            }
            Ok(())
        })
        .await?;
    info!(dispute = %st.dispute_id, solvers = to.len(), "mediation summary sent to the solver(s)");
    st.outbox.dispatch_due(&mut st.db, record::audit).await?;
    Ok(())
}

/// After outbox attempts ended: a summary one solver has closes the session; a summary nobody
/// could receive escalates; a session with nothing left to do stops once its outbox is empty.
pub(super) async fn on_delivered(st: &mut State) -> Result<(), ActorProcessingErr> {
    if let Some(session) = st.session.clone().filter(|s| s.state == SessionState::SummaryPending) {
        let ledger = st.outbox.ledger().clone();
        let outcomes =
            st.db.read(move |conn| outbox::store::outcomes(conn, &ledger, NotifType::MediationSummary)).await?;
        if outcomes.sent > 0 {
            return close_with_summary(st, &session.session_id).await;
        }
        if outcomes.total > 0 && outcomes.open == 0 {
            warn!(dispute = %st.dispute_id, "no solver could receive the summary");
            return escalate(st, Trigger::NotificationFailed, Vec::new(), Vec::new()).await;
        }
    }
    if st.winding_down {
        return finish(st).await;
    }
    Ok(())
}

async fn close_with_summary(st: &mut State, session_id: &str) -> Result<(), ActorProcessingErr> {
    let told = to_observers(&st.mediator.observers, &st.dispute_id, &Milestone::SummaryDelivered, session_id);
    let told = outbox::build_all(&st.keys, &st.mediator.directory, told).await?;
    let (sid, bundle, now) = (session_id.to_string(), st.mediator.bundle.clone(), st.clock.now());
    let (ledger, id) = (st.outbox.ledger().clone(), st.dispute_id.clone());
    st.db
        .write(move |tx| {
            record::advance(tx, &sid, &[SessionState::SummaryPending], SessionState::SummaryDelivered, now)?;
            record::advance(tx, &sid, &[SessionState::SummaryDelivered], SessionState::Closed, now)?;
            let payload = json!({ "reason": "summary_delivered" });
            record::event(tx, Some(&sid), EventKind::SessionClosed, &payload, None, &bundle, now)?;
            for message in &told {
                outbox::store::insert(tx, &ledger, message, now)?;
            }
            settle_take(tx, &ledger, &id, AfterHandoff::Forward, "mediation ended with a summary", now)
        })
        .await?;
    set_state(st, SessionState::Closed);
    info!(dispute = %st.dispute_id, session = %session_id, "summary delivered; session closed");
    forward::began(st, now).await
}

/// What a handoff does to the take.
#[derive(Clone, Copy, Debug)]
enum AfterHandoff {
    /// The parties were written to: the take stays open to forward their words.
    Forward,
    /// The take ends (no session yet).
    End,
    /// There is no take.
    Nothing,
}

/// In the handoff's own transaction, so a crash cannot separate them: the take is kept for
/// forwarding or ended, and party messages not yet delivered are withdrawn (after a handoff
/// Serbero never writes to the parties).
fn settle_take(
    tx: &rusqlite::Transaction<'_>,
    ledger: &outbox::Ledger,
    dispute_id: &str,
    after: AfterHandoff,
    reason: &str,
    now: i64,
) -> rusqlite::Result<()> {
    match after {
        AfterHandoff::Forward => store::handed_off(tx, dispute_id, now)?,
        AfterHandoff::End => store::end(tx, dispute_id, TakeState::Closed, reason, None, now)?,
        AfterHandoff::Nothing => return Ok(()),
    }
    outbox::store::withdraw(tx, ledger, NotifType::PartyMessage, &format!("withdrawn: {reason}"), now)?;
    Ok(())
}

/// Records the escalation through the shared producer (session-scoped when a live session
/// exists, else dispute-scoped), alerts the solvers, ends the conversation with the parties,
/// and tells the dispatcher. Exactly once: a second call finds nothing to escalate.
pub(super) async fn escalate(
    st: &mut State,
    trigger: Trigger,
    evidence_refs: Vec<String>,
    rationale_refs: Vec<String>,
) -> Result<(), ActorProcessingErr> {
    let session = st.session.clone().filter(|s| s.state.is_live());
    let session_id = session.as_ref().map(|s| s.session_id.clone());
    let drafts = alert_drafts(st, session_id.as_deref(), trigger).await?;
    let built = outbox::build_all(&st.keys, &st.mediator.directory, drafts).await?;
    let recommendation = Recommendation {
        session_id: session_id.clone(),
        dispute_id: st.dispute_id.clone(),
        trigger,
        evidence_refs,
        rationale_refs,
        prompt_bundle_id: st.mediator.bundle.id.clone(),
        policy_hash: st.mediator.bundle.policy_hash.clone(),
    };
    let took = st.take.as_ref().is_some_and(|t| t.state == TakeState::Took);
    let after = match (took, &session_id) {
        (true, Some(_)) => AfterHandoff::Forward,
        (true, None) => AfterHandoff::End,
        (false, _) => AfterHandoff::Nothing,
    };
    let (ledger, now, id) = (st.outbox.ledger().clone(), st.clock.now(), st.dispute_id.clone());
    let ended = format!("mediation escalated: {trigger}");
    let recorded = st
        .db
        .write(move |tx| {
            let recorded = match handoff::recommend(tx, &recommendation, now) {
                Ok(recorded) => Ok(recorded),
                Err(handoff::HandoffError::Db(e)) => return Err(e),
                Err(other) => Err(other.to_string()),
            };
            if matches!(recorded, Ok(Recorded::Prepared { .. })) {
                for message in &built {
                    outbox::store::insert(tx, &ledger, message, now)?;
                }
            }
            // Even when nothing new was recorded, the conversation with the parties is over.
            settle_take(tx, &ledger, &id, after, &ended, now)?;
            Ok(recorded)
        })
        .await?;
    match recorded {
        Ok(Recorded::Prepared { handoff_event_id }) => {
            warn!(dispute = %st.dispute_id, session = ?session_id, %trigger, handoff_event_id, "mediation escalated");
            if let Some(dispatcher) = &st.mediator.escalation {
                let _ = dispatcher.cast(escalation::Msg::HandoffPrepared { handoff_event_id });
            }
        }
        Ok(Recorded::AlreadyPrepared) => info!(dispute = %st.dispute_id, %trigger, "already escalated"),
        Err(why) => error!(dispute = %st.dispute_id, %trigger, %why, "escalation not recorded"),
    }
    if session_id.is_some() {
        set_state(st, SessionState::EscalationRecommended);
    }
    match after {
        AfterHandoff::Forward => return forward::began(st, now).await,
        AfterHandoff::End => ended_in_memory(st, TakeState::Closed, &format!("mediation escalated: {trigger}")),
        AfterHandoff::Nothing => {}
    }
    st.outbox.dispatch_due(&mut st.db, record::audit).await?;
    finish(st).await
}

/// The solvers' alert of an escalation (with the brief) and the observers' line: to the
/// dispute's solver(s) as summaries go when a session exists, else to every solver.
async fn alert_drafts(
    st: &mut State,
    session_id: Option<&str>,
    trigger: Trigger,
) -> Result<Vec<Draft>, ActorProcessingErr> {
    let (id, sid) = (st.dispute_id.clone(), session_id.map(str::to_string));
    let (assigned, brief) = st
        .db
        .read(move |conn| Ok((record::assigned_solver(conn, &id)?, brief::load(conn, &id, sid.as_deref())?)))
        .await?;
    let brief = brief::with_currency(&st.relay, brief).await;
    let to = match session_id {
        Some(_) => recipients(assigned.as_deref(), &st.mediator.solvers),
        None => st.mediator.solvers.iter().map(|s| s.pubkey).collect(),
    };
    let body = escalation_alert(&st.dispute_id, session_id, trigger) + &brief.render();
    let scope = session_id.unwrap_or("dispute");
    let (subject, milestone) = match session_id {
        Some(_) => (Subject::HandedOff(HandoffReason::Escalated(trigger)), Milestone::HandedOff(trigger)),
        None => (Subject::CouldNotStart, Milestone::CouldNotStart(trigger)),
    };
    let mut drafts = Draft::to_each(&to, &st.dispute_id, NotifType::EscalationRecommended, &subject, &body, |solver| {
        handoff::alert_key(&st.dispute_id, scope, trigger, &solver.to_hex())
    });
    drafts.extend(to_observers(&st.mediator.observers, &st.dispute_id, &milestone, scope));
    Ok(drafts)
}

/// Revisions of our dispute: each `in-progress` one is counted once (relays deliver them again)
/// and judged by count (`serbero_core::take::holder`); one that explains a refusal makes it a
/// lost race; a resolution ends the dispute. Either way a live session is superseded and
/// closed, and Serbero stops writing.
pub(super) async fn on_revisions(st: &mut State, events: Vec<DisputeEvent>) -> Result<(), ActorProcessingErr> {
    let ours: Vec<DisputeEvent> = events.into_iter().filter(|e| e.dispute_id == st.dispute_id).collect();
    for event in ours {
        let state = st.take.as_ref().map(|t| t.state);
        match revision_meaning(&event.status) {
            RevisionMeaning::Ends => return on_resolved(st, &event.status).await,
            RevisionMeaning::MayBeTheTake if record_revision(st, &event).await? => {}
            RevisionMeaning::MayBeTheTake | RevisionMeaning::Nothing => continue,
        }
        match state {
            Some(TakeState::Refused) => return lost_race(st).await,
            Some(TakeState::Took) => judge_holder(st).await?,
            // Ours or not, the next try asks the node: it accepts its current solver again.
            _ => {}
        }
        if st.winding_down {
            return Ok(());
        }
    }
    Ok(())
}

/// Counts an `in-progress` revision once; false when it was counted already.
async fn record_revision(st: &mut State, event: &DisputeEvent) -> Result<bool, ActorProcessingErr> {
    let (id, event_id, at, now) = (st.dispute_id.clone(), event.event_id.clone(), event.created_at, st.clock.now());
    Ok(st.db.write(move |tx| store::evidence(tx, &id, &event_id, Evidence::InProgress, at, now)).await?)
}

/// Whether the dispute we took is still ours: more `in-progress` revisions than the node
/// accepted takes from us means a human took it over; while a try is unanswered, the judgement
/// waits for its answer, until a timeout past its deadline.
pub(super) async fn judge_holder(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(deadline_at) = st.take.as_ref().filter(|t| t.state == TakeState::Took).map(|t| t.deadline_at) else {
        return Ok(());
    };
    let id = st.dispute_id.clone();
    let ledger = st.db.read(move |conn| store::ledger(conn, &id)).await?;
    // A slow node's answer may come after its try's deadline: one more timeout of patience.
    let left = deadline_at + st.take_timeout.as_secs() as i64 - st.clock.now();
    match holder(&ledger, left > 0) {
        Holder::Us => Ok(()),
        Holder::Undecided => {
            st.timers.holder_check =
                Some(tasks::after(Duration::from_secs(left as u64), st.me.clone(), Msg::HolderCheck));
            Ok(())
        }
        Holder::SomeoneElse => {
            info!(dispute = %st.dispute_id, ?ledger, "taken over by a human solver; Serbero stops writing to the parties");
            supersede(st, "taken_over_by_human", "in-progress").await?;
            end_take(st, TakeState::Superseded, "taken over by a human solver", None).await?;
            finish(st).await
        }
    }
}

async fn on_resolved(st: &mut State, status: &DisputeStatus) -> Result<(), ActorProcessingErr> {
    let reason = format!("dispute resolved: {status}");
    info!(dispute = %st.dispute_id, %reason, "Serbero stops writing to the parties");
    supersede(st, "dispute_resolved_externally", &status.to_string()).await?;
    match st.take.as_ref().map(|t| t.state) {
        Some(TakeState::Refused) => return lost_race(st).await,
        Some(TakeState::Took | TakeState::Requested) => end_take(st, TakeState::Closed, &reason, None).await?,
        _ => {}
    }
    finish(st).await
}

/// A live session becomes `superseded_by_human`, then `closed`, each with its event.
async fn supersede(st: &mut State, cause: &str, status: &str) -> Result<(), ActorProcessingErr> {
    let Some(session) = st.session.clone().filter(|s| s.state.is_live()) else { return Ok(()) };
    let (sid, bundle, now, from) = (session.session_id, st.mediator.bundle.clone(), st.clock.now(), session.state);
    let (dispute, cause, status) = (st.dispute_id.clone(), cause.to_string(), status.to_string());
    st.db
        .write(move |tx| {
            record::advance(tx, &sid, &[from], SessionState::SupersededByHuman, now)?;
            let payload = json!({ "reason": cause, "dispute_id": dispute, "dispute_status": status });
            record::event(tx, Some(&sid), EventKind::SupersededByHuman, &payload, None, &bundle, now)?;
            record::advance(tx, &sid, &[SessionState::SupersededByHuman], SessionState::Closed, now)?;
            record::event(tx, Some(&sid), EventKind::SessionClosed, &json!({ "reason": cause }), None, &bundle, now)
        })
        .await?;
    set_state(st, SessionState::Closed);
    Ok(())
}

pub(super) async fn on_authorization_lost(st: &mut State) -> Result<(), ActorProcessingErr> {
    if st.session.as_ref().is_some_and(|s| s.state.is_live()) {
        return escalate(st, Trigger::AuthorizationLost, Vec::new(), Vec::new()).await;
    }
    Ok(())
}

/// Output the model gave but nobody can use is `invalid_model_output`; no answer at all is
/// `reasoning_unavailable`.
pub(super) fn failure_trigger(e: &ReasoningError) -> Trigger {
    match e {
        ReasoningError::MalformedResponse(_) => Trigger::InvalidModelOutput,
        ReasoningError::Unreachable(_) | ReasoningError::Timeout => Trigger::ReasoningUnavailable,
    }
}
