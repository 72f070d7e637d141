//! The final report when a dispute Serbero mediated (or assessed) is resolved by someone else:
//! what mediation knew, read across the mediation tables, as `mediation_resolution_report/v1`
//! DMs to every solver (spec/mediation.md §6.4). Written once, with the resolution.

use rusqlite::{Connection, OptionalExtension};
use serbero_core::audit::EventKind;
use serbero_core::config::{Observer, Solver};
use serbero_core::mediation::{resolution_report, ReportFacts, SessionState};
use serbero_core::milestone::Milestone;
use serbero_core::notification::NotifType;
use serbero_core::reasoning::Label;
use serbero_core::solver_dm::Subject;
use serde_json::{json, Value};

use crate::db::{Db, DbError};
use crate::outbox::{to_observers, Draft};

/// One resolved dispute's report: its audit payload, a DM per solver and a line per observer.
pub(super) struct Report {
    pub dispute_id: String,
    pub payload: Value,
    pub drafts: Vec<Draft>,
}

/// Reports for the disputes in `resolved` (id, final status) that have mediation context: a
/// session, or the model's opening assessment.
pub(super) async fn reports(
    db: &mut Db,
    solvers: &[Solver],
    observers: &[Observer],
    resolved: Vec<(String, String)>,
) -> Result<Vec<Report>, DbError> {
    if resolved.is_empty() {
        return Ok(Vec::new());
    }
    let facts = db
        .read(move |conn| {
            let mut found = Vec::new();
            for (dispute_id, status) in resolved {
                found.extend(facts(conn, &dispute_id, &status)?);
            }
            Ok(found)
        })
        .await?;
    Ok(facts.into_iter().map(|f| report(solvers, observers, &f)).collect())
}

fn report(solvers: &[Solver], observers: &[Observer], f: &ReportFacts) -> Report {
    let body = resolution_report(f);
    let to: Vec<_> = solvers.iter().map(|s| s.pubkey).collect();
    let subject = Subject::Resolved { status: f.final_status.clone() };
    let kind = NotifType::ResolutionReport;
    let mut drafts = Draft::to_each(&to, &f.dispute_id, kind, &subject, &body, |solver| {
        format!("{kind}:{}:{}", f.dispute_id, solver.to_hex())
    });
    let resolved = Milestone::Resolved(f.final_status.clone());
    drafts.extend(to_observers(observers, &f.dispute_id, &resolved, "dispute"));
    let payload = json!({
        "dispute_id": f.dispute_id,
        "session_id": f.session_id,
        "classification": f.classification.map(|(label, _)| label.as_str()),
        "confidence": f.classification.map(|(_, confidence)| confidence),
        "outbound_party_messages_count": f.parties_written,
        "final_dispute_status": f.final_status,
    });
    Report { dispute_id: f.dispute_id.clone(), payload, drafts }
}

fn facts(conn: &Connection, dispute_id: &str, status: &str) -> rusqlite::Result<Option<ReportFacts>> {
    let session: Option<(String, String)> = conn
        .query_row(
            "SELECT session_id, state FROM mediation_sessions WHERE dispute_id = ?1
              ORDER BY started_at DESC, rowid DESC LIMIT 1",
            [dispute_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let verdict: Option<Value> = conn
        .query_row(
            "SELECT payload_json FROM mediation_events WHERE session_id IS NULL AND kind = ?2
               AND json_extract(payload_json, '$.dispute_id') = ?1 ORDER BY id DESC LIMIT 1",
            [dispute_id, EventKind::ReasoningVerdict.as_str()],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|p| serde_json::from_str(&p).ok());
    if session.is_none() && verdict.is_none() {
        return Ok(None);
    }
    let classification = match &session {
        Some((sid, _)) => latest_classification(conn, sid)?,
        None => None,
    }
    .or_else(|| verdict.as_ref().and_then(|v| label_of(&v["classification"])));
    let parties_written: u32 = conn.query_row(
        "SELECT COUNT(DISTINCT party) FROM party_messages WHERE dispute_id = ?1 AND direction = 'outbound'",
        [dispute_id],
        |r| r.get(0),
    )?;
    let no_session_reason = session.is_none().then(|| match verdict.as_ref().and_then(|v| v["decision"].as_str()) {
        Some(decision) if decision.starts_with("escalate") => "Serbero's opening assessment escalated it".to_string(),
        _ => "the dispute was not taken".to_string(),
    });
    Ok(Some(ReportFacts {
        dispute_id: dispute_id.to_string(),
        session_state: session.as_ref().and_then(|(_, state)| SessionState::parse(state)),
        session_id: session.map(|(sid, _)| sid),
        classification,
        parties_written,
        final_status: status.to_string(),
        no_session_reason,
    }))
}

fn latest_classification(conn: &Connection, session_id: &str) -> rusqlite::Result<Option<(Label, f64)>> {
    let payload: Option<String> = conn
        .query_row(
            "SELECT payload_json FROM mediation_events WHERE session_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
            [session_id, EventKind::ClassificationProduced.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(payload.and_then(|p| serde_json::from_str::<Value>(&p).ok()).and_then(|v| label_of(&v)))
}

/// `{"classification": <label>, "confidence": <x>}` as stored by the session.
fn label_of(value: &Value) -> Option<(Label, f64)> {
    let label = Label::parse(value.get("classification")?.as_str()?)?;
    Some((label, value.get("confidence")?.as_f64()?))
}
