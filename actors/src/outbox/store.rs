//! SQL of the `outbox` table. Rows are partitioned by `owner`: every statement here is scoped to
//! the calling actor's owner name, so each actor writes only its own rows, inside its own
//! transactions (the decision and its outbox rows commit together).

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serbero_core::config::Format;
use serbero_core::delivery::{AfterFailure, OutboxStatus};

use super::{Ledger, NewMessage, Settled, SettledAs};

/// Adds a row unless its idempotency key exists already. Returns whether it was added.
pub(crate) fn insert(tx: &Transaction<'_>, l: &Ledger, msg: &NewMessage, now: i64) -> rusqlite::Result<bool> {
    let added = tx
        .prepare_cached(
            "INSERT INTO outbox (owner, idempotency_key, dispute_id, recipient, notif_type, format, body,
                                 event_id, event_json, status, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?10, ?10)
             ON CONFLICT(idempotency_key) DO NOTHING",
        )?
        .execute(params![
            l.owner,
            msg.idempotency_key,
            msg.dispute_id,
            msg.recipient,
            msg.notif_type,
            msg.format.map(Format::as_str),
            msg.body,
            msg.event_id,
            msg.event_json,
            now
        ])?;
    Ok(added == 1)
}

/// A row claimed for publishing.
pub(crate) struct Claimed {
    pub id: i64,
    pub event_json: String,
}

/// Claims up to `limit` due rows for this incarnation (`token`): pending rows, failed rows whose
/// retry time came, and claims left by an earlier incarnation (it is gone; the event carries the
/// same id, so publishing it again cannot make a second message). A claim of ours that expired
/// counts as a failed attempt. Returns the claimed rows and those failed attempts.
pub(crate) fn claim_due(
    tx: &Transaction<'_>,
    l: &Ledger,
    now: i64,
    limit: usize,
) -> rusqlite::Result<(Vec<Claimed>, Vec<Settled>)> {
    let expired: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM outbox WHERE owner = ?1 AND status = 'claimed'
               AND claim_token = ?2 AND claim_expires_at <= ?3",
        )?
        .query_map(params![l.owner, l.token, now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut failed = Vec::new();
    for id in expired {
        let error = "no relay answered before the claim expired";
        failed.extend(fail(tx, l, id, error, now)?);
    }
    let claimed = tx
        .prepare_cached(
            "UPDATE outbox
                SET status = 'claimed', claim_token = ?2, claim_expires_at = ?3 + ?4,
                    attempts = attempts + 1, updated_at = ?3
              WHERE id IN (SELECT id FROM outbox
                            WHERE owner = ?1
                              AND (status = 'pending'
                                   OR (status = 'failed' AND next_attempt_at <= ?3)
                                   OR (status = 'claimed' AND claim_token IS NOT ?2))
                            ORDER BY id LIMIT ?5)
              RETURNING id, event_json",
        )?
        .query_map(params![l.owner, l.token, now, l.claim_ttl, limit as i64], |r| {
            Ok(Claimed { id: r.get(0)?, event_json: r.get(1)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok((claimed, failed))
}

/// When something of ours next needs attention: a retry coming due or a claim expiring.
pub(crate) fn next_wake(conn: &Connection, l: &Ledger) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT MIN(t) FROM (
            SELECT MIN(next_attempt_at) AS t FROM outbox WHERE owner = ?1 AND status IN ('pending', 'failed')
            UNION ALL
            SELECT MIN(claim_expires_at) FROM outbox WHERE owner = ?1 AND status = 'claimed' AND claim_token = ?2)",
    )?
    .query_row(params![l.owner, l.token], |r| r.get(0))
}

/// Records a publish outcome for a row this incarnation claimed. `None` when the row is not
/// (or no longer) ours to settle, e.g. an answer that arrived after the claim expired.
pub(crate) fn settle(
    tx: &Transaction<'_>,
    l: &Ledger,
    id: i64,
    accepted: &[String],
    error: &str,
    now: i64,
) -> rusqlite::Result<Option<Settled>> {
    let ours: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM outbox WHERE id = ?1 AND owner = ?2 AND status = 'claimed' AND claim_token = ?3",
        )?
        .query_row(params![id, l.owner, l.token], |r| r.get(0))
        .optional()?;
    if ours.is_none() {
        return Ok(None);
    }
    if accepted.is_empty() {
        return fail(tx, l, id, error, now);
    }
    let relays = accepted.join(",");
    tx.prepare_cached(
        "UPDATE outbox SET status = 'sent', accepted_relays = ?3, sent_at = ?4, updated_at = ?4,
                           claim_token = NULL, claim_expires_at = NULL
          WHERE id = ?1 AND owner = ?2",
    )?
    .execute(params![id, l.owner, relays, now])?;
    row(tx, id, SettledAs::Sent { relays })
}

fn fail(tx: &Transaction<'_>, l: &Ledger, id: i64, error: &str, now: i64) -> rusqlite::Result<Option<Settled>> {
    let attempts: u32 = tx
        .prepare_cached("SELECT attempts FROM outbox WHERE id = ?1 AND owner = ?2")?
        .query_row(params![id, l.owner], |r| r.get(0))?;
    let (status, retry_at, result) = match l.policy.after_failure(attempts) {
        AfterFailure::RetryIn(delay) => {
            let at = now + delay.as_secs() as i64;
            (OutboxStatus::Failed, at, SettledAs::Retry { at, error: error.to_string() })
        }
        AfterFailure::DeadLetter => {
            (OutboxStatus::DeadLettered, now, SettledAs::DeadLettered { error: error.to_string() })
        }
    };
    tx.prepare_cached(
        "UPDATE outbox SET status = ?3, next_attempt_at = ?4, last_error = ?5, updated_at = ?6,
                           claim_token = NULL, claim_expires_at = NULL
          WHERE id = ?1 AND owner = ?2",
    )?
    .execute(params![id, l.owner, status.as_str(), retry_at, error, now])?;
    row(tx, id, result)
}

fn row(tx: &Transaction<'_>, id: i64, result: SettledAs) -> rusqlite::Result<Option<Settled>> {
    tx.prepare_cached(
        "SELECT dispute_id, recipient, notif_type, format, attempts, idempotency_key FROM outbox WHERE id = ?1",
    )?
    .query_row([id], |r| {
        Ok(Settled {
            id,
            dispute_id: r.get(0)?,
            recipient: r.get(1)?,
            notif_type: r.get(2)?,
            format: r.get(3)?,
            attempts: r.get(4)?,
            idempotency_key: r.get(5)?,
            result,
        })
    })
    .optional()
}

/// Withdraws this owner's undelivered rows of `notif_type`, with `reason`: what they had to say
/// may no longer be said (the conversation with the parties ended). Returns how many.
pub(crate) fn withdraw(
    tx: &Transaction<'_>,
    l: &Ledger,
    notif_type: &str,
    reason: &str,
    now: i64,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE outbox SET status = 'withdrawn', last_error = ?3, updated_at = ?4,
                           claim_token = NULL, claim_expires_at = NULL
          WHERE owner = ?1 AND notif_type = ?2 AND status IN ('pending', 'claimed', 'failed')",
    )?
    .execute(params![l.owner, notif_type, reason, now])
}

/// How many of this owner's rows are still on their way.
pub(crate) fn undelivered(conn: &Connection, l: &Ledger) -> rusqlite::Result<usize> {
    conn.prepare_cached("SELECT COUNT(*) FROM outbox WHERE owner = ?1 AND status IN ('pending', 'claimed', 'failed')")?
        .query_row([&l.owner], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}

/// How this owner's rows of one notification type fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcomes {
    pub total: usize,
    pub sent: usize,
    /// Still on their way.
    pub open: usize,
}

pub(crate) fn outcomes(conn: &Connection, l: &Ledger, notif_type: &str) -> rusqlite::Result<Outcomes> {
    conn.prepare_cached(
        "SELECT COUNT(*), COALESCE(SUM(status = 'sent'), 0), COALESCE(SUM(status IN ('pending', 'claimed', 'failed')), 0)
           FROM outbox WHERE owner = ?1 AND notif_type = ?2",
    )?
    .query_row(params![l.owner, notif_type], |r| {
        Ok(Outcomes {
            total: r.get::<_, i64>(0)? as usize,
            sent: r.get::<_, i64>(1)? as usize,
            open: r.get::<_, i64>(2)? as usize,
        })
    })
}
