//! The handoff producer: the one way an escalation is recorded. In the caller's transaction it
//! flips a session to `escalation_recommended` (session-scoped) or checks that the dispute has
//! no dispute-scoped escalation yet, then appends the `escalation_recommended` and
//! `handoff_prepared` events. Exactly once: a second call writes nothing. It sends nothing; the
//! caller tells the escalation dispatcher about the returned handoff id.
//!
//! Writes: mediation_sessions.state (that one flip) and the two event kinds above. The
//! mediation session actor calls this inside its own transaction.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::json;

use crate::audit::EventKind;
use crate::escalation::{HandoffPackage, Trigger};
use crate::mediation::SessionState;

/// Everything an escalation records. Evidence and rationale ids are kept apart by the caller:
/// both are 64-hex strings and cannot be told apart later.
#[derive(Clone, Debug)]
pub struct Recommendation {
    /// `None` for a dispute-scoped handoff (escalated before any session existed).
    pub session_id: Option<String>,
    pub dispute_id: String,
    pub trigger: Trigger,
    pub evidence_refs: Vec<String>,
    pub rationale_refs: Vec<String>,
    pub prompt_bundle_id: String,
    pub policy_hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Both events were appended; the id is the `handoff_prepared` event's.
    Prepared { handoff_event_id: i64 },
    /// The dispute already has its dispute-scoped escalation; nothing was written.
    AlreadyPrepared,
}

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("no mediation session {0}")]
    UnknownSession(String),
    #[error("session {session} belongs to dispute {stored}, not {given}")]
    WrongDispute { session: String, stored: String, given: String },
    #[error("invalid state transition: {from} -> escalation_recommended")]
    NotEscalatable { from: String },
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
}

/// The outbox key of a solver's escalation alert (`scope`: the session id, or `dispute`). The
/// dispatcher looks up its Mostrix copy: a solver who has that alert gets the handoff package
/// without a second alert.
pub fn alert_key(dispute_id: &str, scope: &str, trigger: Trigger, solver_hex: &str) -> String {
    format!("alert:{dispute_id}:{scope}:{trigger}:{solver_hex}")
}

/// Records the escalation in `tx`; see the module docs.
pub fn recommend(tx: &Transaction<'_>, r: &Recommendation, now: i64) -> Result<Recorded, HandoffError> {
    match &r.session_id {
        Some(session) => flip_session(tx, session, &r.dispute_id, now)?,
        None if has_dispute_scoped_escalation(tx, &r.dispute_id)? => return Ok(Recorded::AlreadyPrepared),
        None => {}
    }
    let package = HandoffPackage {
        dispute_id: r.dispute_id.clone(),
        session_id: r.session_id.clone(),
        trigger: r.trigger.to_string(),
        evidence_refs: r.evidence_refs.clone(),
        prompt_bundle_id: r.prompt_bundle_id.clone(),
        policy_hash: r.policy_hash.clone(),
        rationale_refs: r.rationale_refs.clone(),
        assembled_at: now,
    };
    let recommended = json!({
        "dispute_id": r.dispute_id,
        "trigger": package.trigger,
        "evidence_refs": r.evidence_refs,
        "rationale_refs": r.rationale_refs,
    });
    append_event(tx, r, EventKind::EscalationRecommended, &recommended.to_string(), now)?;
    let handoff = serde_json::to_string(&package).expect("a handoff package always serializes");
    let handoff_event_id = append_event(tx, r, EventKind::HandoffPrepared, &handoff, now)?;
    Ok(Recorded::Prepared { handoff_event_id })
}

fn flip_session(tx: &Transaction<'_>, session: &str, dispute_id: &str, now: i64) -> Result<(), HandoffError> {
    let row: Option<(String, String)> = tx
        .query_row("SELECT dispute_id, state FROM mediation_sessions WHERE session_id = ?1", [session], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((stored, state)) = row else { return Err(HandoffError::UnknownSession(session.to_string())) };
    if stored != dispute_id {
        return Err(HandoffError::WrongDispute { session: session.into(), stored, given: dispute_id.into() });
    }
    let live: Vec<&str> = SessionState::ALL.into_iter().filter(|s| s.is_live()).map(SessionState::as_str).collect();
    let flipped = tx.execute(
        "UPDATE mediation_sessions SET state = ?3, last_transition_at = ?2
          WHERE session_id = ?1 AND state IN (SELECT value FROM json_each(?4))",
        params![session, now, SessionState::EscalationRecommended.as_str(), json!(live).to_string()],
    )?;
    if flipped == 0 {
        return Err(HandoffError::NotEscalatable { from: state });
    }
    Ok(())
}

fn has_dispute_scoped_escalation(tx: &Transaction<'_>, dispute_id: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM mediation_events
                         WHERE kind = ?1 AND session_id IS NULL AND json_extract(payload_json, '$.dispute_id') = ?2)",
        params![EventKind::EscalationRecommended.as_str(), dispute_id],
        |r| r.get(0),
    )
}

fn append_event(
    tx: &Transaction<'_>,
    r: &Recommendation,
    kind: EventKind,
    payload: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO mediation_events (session_id, kind, payload_json, prompt_bundle_id, policy_hash, occurred_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![r.session_id, kind.as_str(), payload, r.prompt_bundle_id, r.policy_hash, now],
    )?;
    Ok(tx.last_insert_rowid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage;
    use rusqlite::Connection;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = storage::open(&dir.path().join("serbero.db")).unwrap();
        storage::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
             VALUES ('d1', 'e1', 'm', 'buyer', 1, 1), ('d2', 'e2', 'm', 'seller', 1, 1);
             INSERT INTO mediation_sessions (session_id, dispute_id, state, prompt_bundle_id, policy_hash, started_at, last_transition_at)
             VALUES ('s1', 'd1', 'awaiting_response', 'b', 'h', 1, 1), ('s2', 'd1', 'closed', 'b', 'h', 1, 1);",
        )
        .unwrap();
        (dir, conn)
    }

    fn rec(session: Option<&str>, dispute: &str) -> Recommendation {
        Recommendation {
            session_id: session.map(str::to_string),
            dispute_id: dispute.into(),
            trigger: Trigger::RoundLimit,
            evidence_refs: vec!["inner-1".into()],
            rationale_refs: vec!["cd".repeat(32)],
            prompt_bundle_id: "b".into(),
            policy_hash: "h".into(),
        }
    }

    fn run(conn: &mut Connection, r: &Recommendation) -> Result<Recorded, HandoffError> {
        let tx = conn.transaction().unwrap();
        let out = recommend(&tx, r, 42);
        if out.is_ok() {
            tx.commit().unwrap();
        }
        out
    }

    fn events(conn: &Connection) -> Vec<(Option<String>, String, String)> {
        let mut q = conn.prepare("SELECT session_id, kind, payload_json FROM mediation_events ORDER BY id").unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn session_scoped_flips_once_and_appends_both_events() {
        let (_dir, mut conn) = db();
        let Recorded::Prepared { handoff_event_id } = run(&mut conn, &rec(Some("s1"), "d1")).unwrap() else {
            panic!("expected a prepared handoff")
        };
        let state: String =
            conn.query_row("SELECT state FROM mediation_sessions WHERE session_id='s1'", [], |r| r.get(0)).unwrap();
        assert_eq!(state, "escalation_recommended");
        let rows = events(&conn);
        assert_eq!(
            rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
            [EventKind::EscalationRecommended.as_str(), EventKind::HandoffPrepared.as_str()]
        );
        let package: HandoffPackage = serde_json::from_str(&rows[1].2).unwrap();
        assert_eq!(package.session_id.as_deref(), Some("s1"));
        assert_eq!(package.rationale_refs, ["cd".repeat(32)]);
        assert_eq!(package.evidence_refs, ["inner-1"]);
        assert_eq!(package.assembled_at, 42);
        let last: i64 = conn.query_row("SELECT MAX(id) FROM mediation_events", [], |r| r.get(0)).unwrap();
        assert_eq!(handoff_event_id, last);

        let again = run(&mut conn, &rec(Some("s1"), "d1")).unwrap_err();
        assert_eq!(again.to_string(), "invalid state transition: escalation_recommended -> escalation_recommended");
        assert_eq!(events(&conn).len(), 2, "a second call writes nothing");
    }

    #[test]
    fn dispute_scoped_is_prepared_once_without_a_session_key() {
        let (_dir, mut conn) = db();
        assert!(matches!(run(&mut conn, &rec(None, "d2")).unwrap(), Recorded::Prepared { .. }));
        assert_eq!(run(&mut conn, &rec(None, "d2")).unwrap(), Recorded::AlreadyPrepared);
        let rows = events(&conn);
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.0.is_none()));
        assert!(!rows[1].2.contains("session_id"), "{}", rows[1].2);
        assert!(
            matches!(run(&mut conn, &rec(None, "d1")).unwrap(), Recorded::Prepared { .. }),
            "other disputes unaffected"
        );
    }

    #[test]
    fn refusals_write_nothing() {
        let (_dir, mut conn) = db();
        let cases = [
            (rec(Some("nope"), "d1"), "no mediation session nope"),
            (rec(Some("s1"), "d2"), "session s1 belongs to dispute d1, not d2"),
            (rec(Some("s2"), "d1"), "invalid state transition: closed -> escalation_recommended"),
        ];
        for (r, want) in cases {
            assert_eq!(run(&mut conn, &r).unwrap_err().to_string(), want);
        }
        assert!(events(&conn).is_empty());
    }
}
