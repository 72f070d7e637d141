//! SQL of the `outbox` table. Rows are partitioned by `owner`: every statement here is scoped to
//! the calling actor's owner name, so each actor writes only its own rows, inside its own
//! transactions (the decision and its outbox rows commit together).

use rusqlite::types::Type;
use rusqlite::Row;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serbero_core::config::Format;
use serbero_core::delivery::{expired_claim, AfterFailure, ExpiredClaim, OutboxStatus, SendProgress};
use serbero_core::notification::NotifType;

use super::{Ledger, NewMessage, Settled, SettledAs};
use crate::relay::{PublishOutcome, Ticket};

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
            msg.notif_type.as_str(),
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
/// same id, so publishing it again cannot make a second message). A claim of ours whose expiry
/// came runs on while `progress` says its send is still under way, else counts as a failed
/// attempt. Returns the claimed rows and those failed attempts.
pub(crate) fn claim_due(
    tx: &Transaction<'_>,
    l: &Ledger,
    now: i64,
    limit: usize,
    progress: impl Fn(i64) -> SendProgress,
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
        match expired_claim(progress(id), now, l.claim_ttl) {
            ExpiredClaim::Fail => {
                let error = "no relay answered before the claim expired";
                failed.extend(fail(tx, l, id, error, now)?);
            }
            ExpiredClaim::ExtendTo(at) => {
                tx.prepare_cached("UPDATE outbox SET claim_expires_at = ?3 WHERE id = ?1 AND owner = ?2")?
                    .execute(params![id, l.owner, at])?;
            }
        }
    }
    let claimed = tx
        .prepare_cached(&format!(
            "UPDATE outbox
                SET status = 'claimed', claim_token = ?2, claim_expires_at = ?3 + ?4,
                    attempts = attempts + 1, updated_at = ?3
              WHERE id IN ({CLAIMABLE})
              RETURNING id, event_json"
        ))?
        .query_map(params![l.owner, l.token, now, l.claim_ttl, limit as i64], |r| {
            Ok(Claimed { id: r.get(0)?, event_json: r.get(1)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok((claimed, failed))
}

/// The ids of an owner's (`?1`) rows to claim now (`?3`) for incarnation `?2`, at most `?5`. The
/// status list lets the lookup skip the owner's sent rows, however many there are.
const CLAIMABLE: &str = "SELECT id FROM outbox
                          WHERE owner = ?1 AND status IN ('pending', 'failed', 'claimed')
                            AND (status = 'pending'
                                 OR (status = 'failed' AND next_attempt_at <= ?3)
                                 OR (status = 'claimed' AND claim_token IS NOT ?2))
                          ORDER BY id LIMIT ?5";

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

/// Records what Relay said of a row's send. An acceptance is never lost: it makes the row `sent`
/// whichever attempt it answers and whatever became of the row meanwhile (a claim that expired, a
/// retry under way, a dead letter, a withdrawal while it was on its way: it was said all the
/// same); on a row already sent it records the relays that answered since. A failure settles only
/// a claim this incarnation holds.
/// Returns the row when its status changed.
pub(crate) fn settle(
    tx: &Transaction<'_>,
    l: &Ledger,
    outcome: &PublishOutcome,
    now: i64,
) -> rusqlite::Result<Option<Settled>> {
    let Ticket::Outbox(id) = outcome.ticket else { return Ok(None) };
    let found: Option<(String, Option<String>, Option<String>)> = tx
        .prepare_cached("SELECT status, claim_token, accepted_relays FROM outbox WHERE id = ?1 AND owner = ?2")?
        .query_row(params![id, l.owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((status, token, earlier)) = found else { return Ok(None) };
    let status = OutboxStatus::parse(&status);
    if !outcome.is_acknowledged() {
        let ours = status == Some(OutboxStatus::Claimed) && token.as_deref() == Some(l.token.as_str());
        return if ours { fail(tx, l, id, &outcome.failure_summary(), now) } else { Ok(None) };
    }
    let relays = outcome.accepted.join(",");
    let unheard = (!outcome.failed.is_empty()).then(|| outcome.failure_summary());
    match status {
        Some(OutboxStatus::Claimed | OutboxStatus::Failed | OutboxStatus::DeadLettered | OutboxStatus::Withdrawn) => {
            tx.prepare_cached(
                "UPDATE outbox SET status = 'sent', accepted_relays = ?3, sent_at = ?4, updated_at = ?4,
                                   last_error = ?5, claim_token = NULL, claim_expires_at = NULL
                  WHERE id = ?1 AND owner = ?2",
            )?
            .execute(params![id, l.owner, relays, now, unheard])?;
            row(tx, id, SettledAs::Sent { relays })
        }
        Some(OutboxStatus::Sent) => {
            let mut all: Vec<&str> =
                earlier.as_deref().unwrap_or_default().split(',').filter(|r| !r.is_empty()).collect();
            all.extend(outcome.accepted.iter().map(String::as_str));
            all.sort_unstable();
            all.dedup();
            let relays = all.join(",");
            tx.prepare_cached(
                "UPDATE outbox SET accepted_relays = ?3, last_error = COALESCE(?4, last_error), updated_at = ?5
                  WHERE id = ?1 AND owner = ?2",
            )?
            .execute(params![id, l.owner, relays, unheard, now])?;
            Ok(None)
        }
        // Never published: nothing can have accepted it.
        Some(OutboxStatus::Pending) | None => Ok(None),
    }
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
            notif_type: notif_type(r, 2)?,
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
    notif_type: NotifType,
    reason: &str,
    now: i64,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE outbox SET status = 'withdrawn', last_error = ?3, updated_at = ?4,
                           claim_token = NULL, claim_expires_at = NULL
          WHERE owner = ?1 AND notif_type = ?2 AND status IN ('pending', 'claimed', 'failed')",
    )?
    .execute(params![l.owner, notif_type.as_str(), reason, now])
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

pub(crate) fn outcomes(conn: &Connection, l: &Ledger, notif_type: NotifType) -> rusqlite::Result<Outcomes> {
    conn.prepare_cached(
        "SELECT COUNT(*), COALESCE(SUM(status = 'sent'), 0), COALESCE(SUM(status IN ('pending', 'claimed', 'failed')), 0)
           FROM outbox WHERE owner = ?1 AND notif_type = ?2",
    )?
    .query_row(params![l.owner, notif_type.as_str()], |r| {
        Ok(Outcomes {
            total: r.get::<_, i64>(0)? as usize,
            sent: r.get::<_, i64>(1)? as usize,
            open: r.get::<_, i64>(2)? as usize,
        })
    })
}

/// Counts or deletes the rows of the owners `owner` matches (a `LIKE` pattern: `dispute`,
/// `escalation`, or `session:%` for every session's) finished before `cutoff`, for the
/// retention period (`serbero_core::retention`).
///
/// A row goes only once it is final (`sent`, `withdrawn`, `dead_lettered`; never `pending`,
/// `claimed` or `failed`) and nothing of its dispute is still on its way; a session's rows wait,
/// besides, until its dispute's mediation is over for good
/// ([`crate::session::store::CONVERSATIONS_OVER`]). No tombstone is kept, because a pruned row
/// is never sent again: the idempotency key only stops a decision from queueing its DM twice,
/// and every decision is recorded in its owner's tables first (a dispute's state and reminder
/// round, a handoff's `escalation_handoffs` row, a session's state), which are never pruned.
/// Nor does a reader of finished rows miss one: the dispatcher counting a handoff's copies still
/// on their way looks at a dispute with one on its way; a session asking whether its summary
/// went out is live; the dispatcher asking whether a solver has a session's alert does so only
/// for a dispute not yet resolved.
pub(crate) fn prune(
    conn: &Connection,
    owner: &str,
    cutoff: i64,
    how: serbero_core::retention::Prune,
) -> rusqlite::Result<usize> {
    use rusqlite::named_params;
    use serbero_core::retention::Prune;
    let past = format!(
        "owner LIKE :owner AND status IN ('sent', 'withdrawn', 'dead_lettered') AND updated_at < :cutoff
         AND COALESCE(dispute_id, '') NOT IN (SELECT dispute_id FROM outbox WHERE dispute_id IS NOT NULL
                                                 AND status IN ('pending', 'claimed', 'failed'))
         AND (owner NOT LIKE 'session:%' OR substr(owner, 9) IN ({}))",
        crate::session::store::CONVERSATIONS_OVER
    );
    match how {
        Prune::Count => conn
            .query_row(
                &format!("SELECT COUNT(*) FROM outbox WHERE {past}"),
                named_params! {":owner": owner, ":cutoff": cutoff},
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize),
        Prune::Delete(limit) => conn.execute(
            // Unordered: in the order of the index on status, which finds a batch without a sort.
            &format!("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE {past} LIMIT :limit)"),
            named_params! {":owner": owner, ":cutoff": cutoff, ":limit": limit as i64},
        ),
    }
}

/// The `notif_type` in column `at` of a row; only this daemon writes the column, so a value it
/// does not know is a corrupt row.
fn notif_type(r: &Row<'_>, at: usize) -> rusqlite::Result<NotifType> {
    let value: String = r.get(at)?;
    NotifType::parse(&value).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(at, Type::Text, format!("unknown notif_type {value}").into())
    })
}

#[cfg(test)]
mod tests {
    use nostr_sdk::EventId;
    use serbero_core::backoff::Backoff;
    use serbero_core::delivery::RetryPolicy;
    use std::time::Duration;

    use super::*;
    use crate::harness::TempDb;
    use crate::relay::Stage;

    fn ledger() -> Ledger {
        let backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(60));
        Ledger {
            owner: "session:d-1".into(),
            token: "run-1".into(),
            policy: RetryPolicy { max_attempts: 3, backoff },
            claim_ttl: 60,
        }
    }

    fn message(key: &str) -> NewMessage {
        NewMessage {
            idempotency_key: key.into(),
            dispute_id: Some("d-1".into()),
            recipient: "ab".repeat(32),
            notif_type: NotifType::PartyMessage,
            format: None,
            body: "a question".into(),
            event_id: "cd".repeat(32),
            event_json: "{}".into(),
        }
    }

    fn accepted(id: i64) -> PublishOutcome {
        PublishOutcome {
            ticket: Ticket::Outbox(id),
            event_id: EventId::all_zeros(),
            stage: Stage::Answered,
            accepted: vec!["ws://r".into()],
            failed: Vec::new(),
        }
    }

    #[test]
    fn a_message_withdrawn_while_on_its_way_and_then_accepted_was_sent() {
        let db = TempDb::migrated();
        let mut conn = rusqlite::Connection::open(db.path()).expect("open");
        let l = ledger();
        let tx = conn.transaction().expect("tx");
        insert(&tx, &l, &message("q-1"), 100).expect("insert");
        let (claimed, _) = claim_due(&tx, &l, 100, 10, |_| SendProgress::Queued).expect("claim");
        withdraw(&tx, &l, NotifType::PartyMessage, "the conversation ended", 101).expect("withdraw");

        let settled = settle(&tx, &l, &accepted(claimed[0].id), 102).expect("settle").expect("a change");

        assert_eq!(settled.result, SettledAs::Sent { relays: "ws://r".into() });
        let status: String = tx.query_row("SELECT status FROM outbox", [], |r| r.get(0)).expect("row");
        assert_eq!(status, "sent");
    }

    #[test]
    fn claiming_reads_only_the_rows_still_on_their_way() {
        let db = TempDb::migrated();
        let conn = rusqlite::Connection::open(db.path()).expect("open");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {CLAIMABLE}"))
            .expect("plan")
            .query_map(params!["o", "t", 1, 60, 10], |r| r.get(3))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(plan.iter().any(|step| step.contains("idx_outbox_owner_status (owner=? AND status=?)")), "{plan:?}");
    }
}
