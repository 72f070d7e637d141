//! The only writer of `escalation_dispatches`, `escalation_handoffs`, the dispatcher's audit
//! events in `mediation_events` (kinds escalation_dispatched, escalation_superseded,
//! escalation_dispatch_unroutable, escalation_dispatch_parse_failed) and its `notifications`
//! rows (type mediation_escalation_recommended), which it prunes past the retention period.

use rusqlite::{named_params, params, Connection, OptionalExtension, Transaction};
use serbero_core::audit::EventKind;
use serbero_core::config::Format;
use serbero_core::escalation::{DisputeFacts, HandoffOutcome, HandoffPackage, Trigger};
use serbero_core::handoff::alert_key;
use serbero_core::lifecycle::LifecycleState;
use serbero_core::notification::NotifType;
use serbero_core::retention::Prune;
use serde_json::json;

use crate::outbox::{form_key, Owner, Settled, SettledAs};

/// A `handoff_prepared` event not yet decided (or unroutable, when re-checked after a start).
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub handoff_event_id: i64,
    pub session_id: Option<String>,
    pub payload: String,
    pub prompt_bundle_id: Option<String>,
    pub policy_hash: Option<String>,
    pub was_unroutable: bool,
}

/// Undecided handoffs, oldest first, plus unroutable ones with an id above `recheck_after`.
pub(super) fn pending(conn: &Connection, recheck_after: i64, limit: usize) -> rusqlite::Result<Vec<Pending>> {
    conn.prepare_cached(
        "SELECT me.id, me.session_id, me.payload_json, me.prompt_bundle_id, me.policy_hash, h.outcome IS NOT NULL
           FROM mediation_events me
           LEFT JOIN escalation_handoffs h ON h.handoff_event_id = me.id
          WHERE me.kind = ?3
            AND (h.handoff_event_id IS NULL OR (h.outcome = ?4 AND me.id > ?1))
          ORDER BY me.id LIMIT ?2",
    )?
    .query_map(
        params![recheck_after, limit as i64, EventKind::HandoffPrepared.as_str(), HandoffOutcome::Unroutable.as_str()],
        |r| {
            Ok(Pending {
                handoff_event_id: r.get(0)?,
                session_id: r.get(1)?,
                payload: r.get(2)?,
                prompt_bundle_id: r.get(3)?,
                policy_hash: r.get(4)?,
                was_unroutable: r.get(5)?,
            })
        },
    )?
    .collect()
}

pub(super) fn dispute_facts(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Option<DisputeFacts>> {
    conn.prepare_cached("SELECT lifecycle_state, assigned_solver FROM disputes WHERE dispute_id = ?1")?
        .query_row([dispute_id], |r| {
            let state = LifecycleState::parse(&r.get::<_, String>(0)?);
            Ok(DisputeFacts { resolved: state == Some(LifecycleState::Resolved), assigned_solver: r.get(1)? })
        })
        .optional()
}

/// Whether `solver_hex` has, or will have, the session's alert for this handoff in the form
/// Mostrix alerts on (the session wrote it, in the same transaction as the handoff).
pub(super) fn alerted(conn: &Connection, package: &HandoffPackage, solver_hex: &str) -> rusqlite::Result<bool> {
    let Some(trigger) = Trigger::parse(&package.trigger) else { return Ok(false) };
    let scope = package.session_id.as_deref().unwrap_or("dispute");
    let key = form_key(&alert_key(&package.dispute_id, scope, trigger, solver_hex), Format::Mostrix);
    conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM outbox WHERE idempotency_key = ?1 AND status NOT IN ('dead_lettered', 'withdrawn'))",
    )?
    .query_row([key], |r| r.get(0))
}

fn audit(
    tx: &Transaction<'_>,
    p: &Pending,
    kind: EventKind,
    payload: serde_json::Value,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO mediation_events (session_id, kind, payload_json, prompt_bundle_id, policy_hash, occurred_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![p.session_id, kind.as_str(), payload.to_string(), p.prompt_bundle_id, p.policy_hash, now])?;
    Ok(())
}

fn decide(tx: &Transaction<'_>, p: &Pending, outcome: HandoffOutcome, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO escalation_handoffs (handoff_event_id, outcome, decided_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(handoff_event_id) DO UPDATE SET outcome = excluded.outcome, decided_at = excluded.decided_at",
    )?
    .execute(params![p.handoff_event_id, outcome.as_str(), now])?;
    Ok(())
}

pub(super) fn parse_failed(
    tx: &Transaction<'_>,
    p: &Pending,
    dispute_id: &str,
    reason: &str,
    detail: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let payload =
        json!({"dispute_id": dispute_id, "handoff_event_id": p.handoff_event_id, "reason": reason, "detail": detail});
    audit(tx, p, EventKind::EscalationDispatchParseFailed, payload, now)?;
    decide(tx, p, HandoffOutcome::ParseFailed, now)
}

pub(super) fn superseded(tx: &Transaction<'_>, p: &Pending, dispute_id: &str, now: i64) -> rusqlite::Result<()> {
    let payload =
        json!({"dispute_id": dispute_id, "handoff_event_id": p.handoff_event_id, "reason": "dispute_already_resolved"});
    audit(tx, p, EventKind::EscalationSuperseded, payload, now)?;
    decide(tx, p, HandoffOutcome::Superseded, now)
}

/// One audit row per handoff, however often it is found unroutable.
pub(super) fn unroutable(
    tx: &Transaction<'_>,
    p: &Pending,
    dispute_id: &str,
    solvers: usize,
    now: i64,
) -> rusqlite::Result<()> {
    if p.was_unroutable {
        return Ok(());
    }
    let payload = json!({
        "dispute_id": dispute_id,
        "handoff_event_id": p.handoff_event_id,
        "configured_solver_count": solvers,
        "fallback_to_all_solvers": false,
    });
    audit(tx, p, EventKind::EscalationDispatchUnroutable, payload, now)?;
    decide(tx, p, HandoffOutcome::Unroutable, now)
}

/// A dispatch about to go out through the outbox.
pub(super) struct NewDispatch {
    pub dispatch_id: String,
    pub dispute_id: String,
    pub target_solver: String,
    pub fallback: bool,
}

/// The dispatch row and its paired `escalation_dispatched` audit row, together.
pub(super) fn dispatched(tx: &Transaction<'_>, p: &Pending, d: &NewDispatch, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO escalation_dispatches (dispatch_id, dispute_id, session_id, handoff_event_id, target_solver,
                                            dispatched_at, created_at, status, fallback_broadcast)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'dispatched', ?7)",
    )?
    .execute(params![
        d.dispatch_id,
        d.dispute_id,
        p.session_id,
        p.handoff_event_id,
        d.target_solver,
        now,
        d.fallback
    ])?;
    let payload = json!({
        "dispatch_id": d.dispatch_id,
        "dispute_id": d.dispute_id,
        "handoff_event_id": p.handoff_event_id,
        "target_solver": d.target_solver,
        "status": "dispatched",
        "fallback_broadcast": d.fallback,
    });
    audit(tx, p, EventKind::EscalationDispatched, payload, now)?;
    decide(tx, p, HandoffOutcome::Dispatched, now)
}

/// The outbox key of one recipient's copy of a handoff.
pub(super) fn idempotency_key(handoff_event_id: i64, recipient_hex: &str) -> String {
    format!("escalation:{handoff_event_id}:{recipient_hex}")
}

fn handoff_of(key: &str) -> Option<i64> {
    key.strip_prefix("escalation:")?.split(':').next()?.parse().ok()
}

/// Writes the audit row of an attempt that ended. When it was the last live recipient of its
/// dispatch and every recipient is dead-lettered, the dispatch becomes `send_failed` (row and
/// paired audit row alike); returns its id then.
pub(super) fn record_attempt(tx: &Transaction<'_>, settled: &Settled, now: i64) -> rusqlite::Result<Option<String>> {
    let (status, error) = settled.audit_status();
    tx.prepare_cached(
        "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, error_message, notif_type, format)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        settled.dispute_id,
        settled.recipient,
        now,
        status.as_str(),
        error,
        NotifType::EscalationRecommended.as_str(),
        settled.format
    ])?;
    let (SettledAs::DeadLettered { .. }, Some(handoff)) = (&settled.result, handoff_of(&settled.idempotency_key))
    else {
        return Ok(None);
    };
    let prefix = format!("escalation:{handoff}:%");
    let not_dead: i64 = tx.query_row(
        "SELECT COUNT(*) FROM outbox WHERE owner = ?1 AND idempotency_key LIKE ?2 AND status <> 'dead_lettered'",
        params![Owner::Escalation.key(), prefix],
        |r| r.get(0),
    )?;
    if not_dead > 0 {
        return Ok(None);
    }
    let dispatch_id: Option<String> = tx
        .query_row(
            "UPDATE escalation_dispatches SET status = 'send_failed' WHERE handoff_event_id = ?1 RETURNING dispatch_id",
            [handoff],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = &dispatch_id {
        tx.execute(
            "UPDATE mediation_events SET payload_json = json_set(payload_json, '$.status', 'send_failed')
              WHERE kind = ?2 AND json_extract(payload_json, '$.dispatch_id') = ?1",
            [id, EventKind::EscalationDispatched.as_str()],
        )?;
    }
    Ok(dispatch_id)
}

/// Handoffs by decision, for `Status`.
pub(super) fn outcomes(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    conn.prepare_cached("SELECT outcome, COUNT(*) FROM escalation_handoffs GROUP BY 1 ORDER BY 1")?
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect()
}

/// The audit rows of type mediation_escalation_recommended written before `cutoff`: the
/// handoff DMs' and the sessions' escalation alerts', which share the type (pruning splits
/// `notifications` by type, each type to one owner). Nothing decides anything from them.
pub(super) fn prune_notifications(conn: &Connection, cutoff: i64, how: Prune) -> rusqlite::Result<usize> {
    const PAST: &str = "sent_at < :cutoff AND notif_type = :type";
    match how {
        Prune::Count => conn
            .query_row(
                &format!("SELECT COUNT(*) FROM notifications WHERE {PAST}"),
                named_params! {":cutoff": cutoff, ":type": NotifType::EscalationRecommended.as_str()},
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize),
        Prune::Delete(limit) => conn.execute(
            &format!("DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE {PAST} ORDER BY id LIMIT :limit)"),
            named_params! {":cutoff": cutoff, ":type": NotifType::EscalationRecommended.as_str(), ":limit": limit as i64},
        ),
    }
}
