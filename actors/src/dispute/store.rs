//! The only writer of `disputes`, `dispute_state_transitions`, `dispute_observations`, of the
//! `notifications` rows of its DMs (initial, re-notification, assignment and the mediation
//! resolution report) and of the `resolved_externally_reported` event. Prunes the audit rows of
//! its types, and of the milestone lines, past the retention period.

use std::collections::{HashMap, HashSet};

use rusqlite::{named_params, params, Connection, OptionalExtension, Transaction};
use serbero_core::audit::EventKind;
use serbero_core::dispute::DisputeEvent;
use serbero_core::lifecycle::{trigger, Effects, LifecycleState};
use serbero_core::notification::{AttemptStatus, NotifType};
use serbero_core::retention::Prune;

use crate::outbox::{Owner, Settled};

/// What storage knows of a dispute, enough to decide on a new event.
#[derive(Debug, Clone)]
pub(super) struct Known {
    pub state: LifecycleState,
    pub seen: HashSet<String>,
}

/// Where the dispute subscription resumes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resume {
    /// The newest event stored.
    NewestEvent(i64),
    /// No event stored yet, but an earlier run subscribed from this time.
    FirstStart(i64),
    /// The very first start: nothing before `now` is asked for.
    Now(i64),
}

/// Finds the resume point; on the very first start, records `now` as the first start.
pub(super) fn resume_point(tx: &Transaction<'_>, now: i64) -> rusqlite::Result<Resume> {
    let newest: Option<i64> = tx.query_row(
        "SELECT MAX(t) FROM (SELECT MAX(event_created_at) AS t FROM dispute_observations
                             UNION ALL SELECT MAX(event_timestamp) FROM disputes)",
        [],
        |r| r.get(0),
    )?;
    if let Some(newest) = newest {
        return Ok(Resume::NewestEvent(newest));
    }
    let first: Option<i64> =
        tx.query_row("SELECT first_started_at FROM dispute_watch WHERE id = 1", [], |r| r.get(0)).optional()?;
    if let Some(first) = first {
        return Ok(Resume::FirstStart(first));
    }
    tx.execute("INSERT INTO dispute_watch (id, first_started_at) VALUES (1, ?1)", [now])?;
    Ok(Resume::Now(now))
}

pub(super) fn load_known(conn: &Connection, ids: &[String]) -> rusqlite::Result<HashMap<String, Known>> {
    let mut known = HashMap::new();
    let mut by_id = conn.prepare_cached("SELECT lifecycle_state FROM disputes WHERE dispute_id = ?1")?;
    let mut statuses = conn.prepare_cached("SELECT status FROM dispute_observations WHERE dispute_id = ?1")?;
    for id in ids.iter().collect::<HashSet<_>>() {
        let Some(state) = by_id.query_row([id], |r| r.get::<_, String>(0)).optional()? else { continue };
        let seen = statuses.query_map([id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        // A state this build does not know can only come from a newer Serbero; leave it alone.
        let state = LifecycleState::parse(&state).unwrap_or(LifecycleState::Resolved);
        known.insert(id.clone(), Known { state, seen });
    }
    Ok(known)
}

/// Records one observation and its effects.
pub(super) fn apply(tx: &Transaction<'_>, ev: &DisputeEvent, effects: &Effects, now: i64) -> rusqlite::Result<()> {
    if effects.create {
        tx.prepare_cached(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, dispute_status,
                                   event_timestamp, detected_at, lifecycle_state, last_state_change)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'new', ?7)",
        )?
        .execute(params![
            ev.dispute_id,
            ev.event_id,
            ev.mostro_pubkey,
            ev.initiator.as_str(),
            ev.status.as_str(),
            ev.created_at,
            now
        ])?;
        insert_transition(tx, &ev.dispute_id, None, LifecycleState::New, trigger::DETECTED, now)?;
    } else {
        tx.prepare_cached("UPDATE disputes SET dispute_status = ?2 WHERE dispute_id = ?1")?
            .execute(params![ev.dispute_id, ev.status.as_str()])?;
    }
    tx.prepare_cached(
        "INSERT INTO dispute_observations (dispute_id, status, event_id, event_created_at, observed_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    )?
    .execute(params![ev.dispute_id, ev.status.as_str(), ev.event_id, ev.created_at, now])?;
    if effects.assign_solver {
        tx.prepare_cached("UPDATE disputes SET assigned_solver = ?2 WHERE dispute_id = ?1")?
            .execute(params![ev.dispute_id, ev.assigned_solver])?;
    }
    if let Some(t) = &effects.transition {
        set_state(tx, &ev.dispute_id, Some(t.from), t.to, &t.trigger, now)?;
    }
    Ok(())
}

fn set_state(
    tx: &Transaction<'_>,
    dispute_id: &str,
    from: Option<LifecycleState>,
    to: LifecycleState,
    why: &str,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE disputes SET lifecycle_state = ?2, last_state_change = ?3 WHERE dispute_id = ?1")?
        .execute(params![dispute_id, to.as_str(), now])?;
    insert_transition(tx, dispute_id, from, to, why, now)
}

fn insert_transition(
    tx: &Transaction<'_>,
    dispute_id: &str,
    from: Option<LifecycleState>,
    to: LifecycleState,
    why: &str,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO dispute_state_transitions (dispute_id, from_state, to_state, transitioned_at, trigger)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![dispute_id, from.map(LifecycleState::as_str), to.as_str(), now, why])?;
    Ok(())
}

/// Writes the audit row of an attempt that ended and, for a delivered initial or
/// re-notification, marks the dispute notified.
pub(super) fn record_attempt(tx: &Transaction<'_>, settled: &Settled, now: i64) -> rusqlite::Result<()> {
    let Some(dispute_id) = &settled.dispute_id else { return Ok(()) };
    let (status, error) = settled.audit_status();
    tx.prepare_cached(
        "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, error_message, notif_type, format)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        dispute_id,
        settled.recipient,
        now,
        status.as_str(),
        error,
        settled.notif_type.as_str(),
        settled.format
    ])?;
    if status == AttemptStatus::Sent && settled.notif_type.reaches_solver_unattended() {
        mark_notified(tx, dispute_id, settled.notif_type, now)?;
    }
    Ok(())
}

fn mark_notified(tx: &Transaction<'_>, dispute_id: &str, notif_type: NotifType, now: i64) -> rusqlite::Result<()> {
    let state: Option<String> = tx
        .prepare_cached("SELECT lifecycle_state FROM disputes WHERE dispute_id = ?1")?
        .query_row([dispute_id], |r| r.get(0))
        .optional()?;
    let Some(state) = state.as_deref().and_then(LifecycleState::parse) else { return Ok(()) };
    if !state.is_unattended() {
        return Ok(());
    }
    tx.prepare_cached("UPDATE disputes SET last_notified_at = ?2 WHERE dispute_id = ?1")?
        .execute(params![dispute_id, now])?;
    if state == LifecycleState::New {
        let why =
            if notif_type == NotifType::Initial { trigger::INITIAL_NOTIFICATION } else { trigger::RE_NOTIFICATION };
        set_state(tx, dispute_id, Some(state), LifecycleState::Notified, why, now)?;
    }
    Ok(())
}

/// A dispute nobody has taken, due for a reminder.
#[derive(Debug, Clone)]
pub(super) struct Unattended {
    pub dispute_id: String,
    pub state: LifecycleState,
    pub event_timestamp: i64,
    pub next_round: u32,
}

/// Disputes still `new` or `notified` whose last reminder (or detection) is older than
/// `cutoff`, and that have no DM still on its way.
pub(super) fn unattended(conn: &Connection, cutoff: i64) -> rusqlite::Result<Vec<Unattended>> {
    conn.prepare_cached(
        "SELECT d.dispute_id, d.lifecycle_state, d.event_timestamp, d.renotification_round + 1
           FROM disputes d
          WHERE d.lifecycle_state IN (SELECT value FROM json_each(?2))
            AND COALESCE(d.last_notified_at, d.detected_at) < ?1
            AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dispute_id = d.dispute_id
                               AND o.status IN ('pending', 'claimed', 'failed'))
          ORDER BY d.detected_at",
    )?
    .query_map(params![cutoff, LifecycleState::unattended_json()], |r| {
        let state: String = r.get(1)?;
        Ok(Unattended {
            dispute_id: r.get(0)?,
            state: LifecycleState::parse(&state).unwrap_or(LifecycleState::Notified),
            event_timestamp: r.get(2)?,
            next_round: r.get(3)?,
        })
    })?
    .collect()
}

pub(super) fn start_round(tx: &Transaction<'_>, dispute_id: &str, round: u32) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE disputes SET renotification_round = ?2 WHERE dispute_id = ?1")?
        .execute(params![dispute_id, round])?;
    Ok(())
}

/// Row counts by a label.
pub(super) type Counts = Vec<(String, u64)>;

/// Disputes by lifecycle state and this actor's outbox rows by status.
pub(super) fn counts(conn: &Connection) -> rusqlite::Result<(Counts, Counts)> {
    let group = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<Counts> {
        conn.prepare_cached(sql)?.query_map(params, |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?.collect()
    };
    Ok((
        group("SELECT lifecycle_state, COUNT(*) FROM disputes GROUP BY 1 ORDER BY 1", &[])?,
        group("SELECT status, COUNT(*) FROM outbox WHERE owner = ?1 GROUP BY 1 ORDER BY 1", &[&Owner::Dispute.key()])?,
    ))
}

/// The audit event of a final mediation report, with the resolution it reports.
pub(super) fn reported(tx: &Transaction<'_>, payload: &serde_json::Value, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO mediation_events (session_id, kind, payload_json, occurred_at)
         VALUES (json_extract(?1, '$.session_id'), ?3, ?1, ?2)",
    )?
    .execute(params![payload.to_string(), now, EventKind::ResolvedExternallyReported.as_str()])?;
    Ok(())
}

/// The audit rows of this actor's DMs and of the observers' milestone lines, written before
/// `cutoff`. Pruning splits `notifications` by type, each type to one owner; the milestone lines,
/// which sessions send too, come here, to the one owner that always runs. Nothing decides
/// anything from these rows: they are the delivery history `serbero status` shows.
pub(super) fn prune_notifications(conn: &Connection, cutoff: i64, how: Prune) -> rusqlite::Result<usize> {
    const PAST: &str = "sent_at < :cutoff AND notif_type IN (SELECT value FROM json_each(:types))";
    let types = serde_json::json!([
        NotifType::Initial.as_str(),
        NotifType::ReNotification.as_str(),
        NotifType::Assignment.as_str(),
        NotifType::ResolutionReport.as_str(),
        NotifType::Milestone.as_str(),
    ])
    .to_string();
    match how {
        Prune::Count => conn
            .query_row(
                &format!("SELECT COUNT(*) FROM notifications WHERE {PAST}"),
                named_params! {":cutoff": cutoff, ":types": types},
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize),
        Prune::Delete(limit) => conn.execute(
            &format!("DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE {PAST} ORDER BY id LIMIT :limit)"),
            named_params! {":cutoff": cutoff, ":types": types, ":limit": limit as i64},
        ),
    }
}
