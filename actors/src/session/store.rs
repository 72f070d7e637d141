//! The only writer of `solver_takes` and `party_messages`; each session writes only its own
//! dispute's rows, and the Sessions supervisor prunes the chat of sessions that ended for good.

use rusqlite::{named_params, params, Connection, OptionalExtension, Transaction};
use serbero_core::brief::Quote;
use serbero_core::catalog::TradeFacts;
use serbero_core::chat::{Inbound, Party};
use serbero_core::dispute::DisputeStatus;
use serbero_core::mediation::is_stale;
use serbero_core::retention::Prune;
use serbero_core::take::{TakeLedger, TakenDispute};

/// Where a take stands, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeState {
    Requested,
    Took,
    Refused,
    TimedOut,
    Malformed,
    Superseded,
    Closed,
}

impl TakeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Took => "took",
            Self::Refused => "refused",
            Self::TimedOut => "timed_out",
            Self::Malformed => "malformed",
            Self::Superseded => "superseded",
            Self::Closed => "closed",
        }
    }

    pub(crate) fn parse(value: &str) -> Option<Self> {
        [Self::Requested, Self::Took, Self::Refused, Self::TimedOut, Self::Malformed, Self::Superseded, Self::Closed]
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    /// A conversation in this state still needs its actor.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Requested | Self::Took)
    }

    /// Taken over or resolved: never taken again. A refused, unanswered or unusable take may be
    /// asked again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Superseded | Self::Closed)
    }

    /// A take on its way, held or final keeps the dispute from another one.
    pub fn blocks_a_new_take(self) -> bool {
        self.is_live() || self.is_final()
    }
}

/// One dispute's take, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Take {
    pub dispute_id: String,
    pub state: TakeState,
    pub request_id: u64,
    /// When the current try gives up waiting: a relay's acknowledgement plus the take timeout.
    pub deadline_at: i64,
    /// Tries whose deadline passed without an answer.
    pub tries_unanswered: u32,
    pub answered_at: Option<i64>,
    pub cant_do_reason: Option<String>,
    pub parties: Option<Parties>,
    pub ended_reason: Option<String>,
    /// When the session handed the dispute off; from then on the parties' words are forwarded.
    pub handed_off_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parties {
    pub order_id: String,
    pub buyer: String,
    pub seller: String,
}

const COLUMNS: &str = "dispute_id, state, request_id, deadline_at, answered_at, cant_do_reason, order_id, \
                       buyer_pubkey, seller_pubkey, ended_reason, tries_unanswered, handed_off_at";

fn take_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Take> {
    let state: String = r.get(1)?;
    let parties = match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?, r.get::<_, Option<String>>(8)?)
    {
        (Some(order_id), Some(buyer), Some(seller)) => Some(Parties { order_id, buyer, seller }),
        _ => None,
    };
    Ok(Take {
        dispute_id: r.get(0)?,
        state: TakeState::parse(&state).unwrap_or(TakeState::Closed),
        request_id: r.get::<_, i64>(2)? as u64,
        deadline_at: r.get(3)?,
        answered_at: r.get(4)?,
        cant_do_reason: r.get(5)?,
        parties,
        ended_reason: r.get(9)?,
        tries_unanswered: r.get(10)?,
        handed_off_at: r.get(11)?,
    })
}

pub fn load(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Option<Take>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM solver_takes WHERE dispute_id = ?1"), [dispute_id], take_row)
        .optional()
}

/// Every dispute whose session still has work, with its stored take request id: a live take, a
/// live mediation, or solver DMs and party messages the outbox has not delivered yet. Restarted
/// by the Sessions supervisor at start.
pub fn needing_actor(conn: &Connection) -> rusqlite::Result<Vec<(String, Option<u64>)>> {
    conn.prepare(
        "SELECT d.dispute_id, t.request_id FROM (
             SELECT dispute_id FROM solver_takes WHERE state IN ('requested', 'took')
             UNION SELECT dispute_id FROM mediation_sessions
                    WHERE state IN ('opening', 'awaiting_response', 'classified', 'follow_up_pending', 'summary_pending')
             UNION SELECT dispute_id FROM outbox
                    WHERE owner LIKE 'session:%' AND status IN ('pending', 'claimed', 'failed')
         ) d LEFT JOIN solver_takes t ON t.dispute_id = d.dispute_id
         WHERE d.dispute_id IS NOT NULL ORDER BY d.dispute_id",
    )?
    .query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.map(|id| id as u64))))?
    .collect()
}

/// A session waiting for the parties, as it can be put to sleep without an actor at start.
#[derive(Clone, Debug)]
pub struct Waiting {
    pub dispute_id: String,
    pub buyer: String,
    pub seller: String,
    pub started_at: i64,
    pub policy_hash: String,
    /// A round completed that the model has not assessed yet (it stopped in between).
    pub unassessed_round: bool,
    pub newest_reply: Option<i64>,
}

/// Sessions in `awaiting_response` on a take that is ours, with nothing left in their outbox.
pub fn waiting(conn: &Connection) -> rusqlite::Result<Vec<Waiting>> {
    conn.prepare(
        "SELECT s.dispute_id, t.buyer_pubkey, t.seller_pubkey, s.started_at, s.policy_hash,
                s.round_count > s.round_count_last_evaluated,
                (SELECT MAX(inner_created_at) FROM party_messages p
                  WHERE p.dispute_id = s.dispute_id AND p.direction = 'inbound' AND p.stale = 0)
           FROM mediation_sessions s JOIN solver_takes t ON t.dispute_id = s.dispute_id
          WHERE s.state = 'awaiting_response' AND t.state = 'took'
            AND t.buyer_pubkey IS NOT NULL AND t.seller_pubkey IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.owner = 'session:' || s.dispute_id
                              AND o.status IN ('pending', 'claimed', 'failed'))",
    )?
    .query_map([], |r| {
        Ok(Waiting {
            dispute_id: r.get(0)?,
            buyer: r.get(1)?,
            seller: r.get(2)?,
            started_at: r.get(3)?,
            policy_hash: r.get(4)?,
            unassessed_round: r.get(5)?,
            newest_reply: r.get(6)?,
        })
    })?
    .collect()
}

/// Records a take request. A live take keeps its own request; one that was refused, timed out
/// or unusable is asked again; one taken over or resolved stays ended.
pub(super) fn request(
    tx: &Transaction<'_>,
    dispute_id: &str,
    request_id: u64,
    deadline_at: i64,
    now: i64,
) -> rusqlite::Result<Take> {
    tx.execute(
        "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, updated_at)
         VALUES (?1, 'requested', ?2, ?3, ?4, ?3)
         ON CONFLICT(dispute_id) DO UPDATE SET
             state = 'requested', request_id = excluded.request_id, requested_at = excluded.requested_at,
             deadline_at = excluded.deadline_at, answered_at = NULL, cant_do_reason = NULL, ended_reason = NULL,
             tries_unanswered = 0, current_try = NULL, updated_at = excluded.updated_at
           WHERE solver_takes.state IN ('refused', 'timed_out', 'malformed')",
        params![dispute_id, request_id as i64, now, deadline_at],
    )?;
    let take = load(tx, dispute_id)?;
    take.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

pub(super) fn took(
    tx: &Transaction<'_>,
    dispute_id: &str,
    taken: &TakenDispute,
    answered_at: i64,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE solver_takes SET state = 'took', answered_at = ?2, order_id = ?3, buyer_pubkey = ?4,
                                 seller_pubkey = ?5, updated_at = ?6, amount_sats = ?7, fiat_amount = ?8,
                                 payment_method = ?9
          WHERE dispute_id = ?1 AND state IN ('requested', 'timed_out')",
        params![
            dispute_id,
            answered_at,
            taken.order_id.to_string(),
            taken.buyer.to_hex(),
            taken.seller.to_hex(),
            now,
            taken.amount_sats,
            taken.fiat_amount,
            taken.payment_method
        ],
    )?;
    Ok(())
}

/// The current try, signed and about to be published (replacing an earlier one).
pub(super) fn try_signed(tx: &Transaction<'_>, dispute_id: &str, event_json: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE solver_takes SET current_try = ?2, updated_at = ?3 WHERE dispute_id = ?1 AND state = 'requested'",
        params![dispute_id, event_json, now],
    )?;
    Ok(())
}

/// The current try as stored, and whether a relay acknowledged it.
#[derive(Debug)]
pub(super) struct StoredTry {
    pub event_json: String,
    pub acknowledged: bool,
}

pub(super) fn current_try(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Option<StoredTry>> {
    conn.query_row(
        "SELECT t.current_try, EXISTS (SELECT 1 FROM take_evidence e
                                        WHERE e.dispute_id = t.dispute_id AND e.kind = 'sent'
                                          AND e.event_id = json_extract(t.current_try, '$.id'))
           FROM solver_takes t WHERE t.dispute_id = ?1 AND t.current_try IS NOT NULL",
        [dispute_id],
        |r| Ok(StoredTry { event_json: r.get(0)?, acknowledged: r.get(1)? }),
    )
    .optional()
}

/// A relay holds the current try: its deadline counts from now.
pub(super) fn try_sent(
    tx: &Transaction<'_>,
    dispute_id: &str,
    request_event: &str,
    deadline_at: i64,
    now: i64,
) -> rusqlite::Result<()> {
    evidence(tx, dispute_id, request_event, Evidence::Sent, now, now)?;
    tx.execute(
        "UPDATE solver_takes SET deadline_at = ?2, updated_at = ?3 WHERE dispute_id = ?1 AND state = 'requested'",
        params![dispute_id, deadline_at, now],
    )?;
    Ok(())
}

/// The current try went unanswered; the next one, signed afresh, waits for a relay until
/// `deadline_at`.
pub(super) fn try_unanswered(
    tx: &Transaction<'_>,
    dispute_id: &str,
    deadline_at: i64,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE solver_takes SET tries_unanswered = tries_unanswered + 1, deadline_at = ?2, current_try = NULL,
                                 updated_at = ?3
          WHERE dispute_id = ?1 AND state = 'requested'",
        params![dispute_id, deadline_at, now],
    )?;
    Ok(())
}

/// One thing the node said about a take (`take_evidence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    Sent,
    Accepted,
    Refused,
    InProgress,
}

impl Evidence {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::InProgress => "in_progress",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::Sent, Self::Accepted, Self::Refused, Self::InProgress].into_iter().find(|e| e.as_str() == value)
    }
}

/// Records `event_id` once; false when it was known already (relays deliver events again).
pub(super) fn evidence(
    tx: &Transaction<'_>,
    dispute_id: &str,
    event_id: &str,
    kind: Evidence,
    created_at: i64,
    now: i64,
) -> rusqlite::Result<bool> {
    let added = tx.execute(
        "INSERT INTO take_evidence (dispute_id, event_id, kind, created_at, recorded_at)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM solver_takes WHERE dispute_id = ?1)
         ON CONFLICT(dispute_id, event_id) DO NOTHING",
        params![dispute_id, event_id, kind.as_str(), created_at, now],
    )?;
    Ok(added > 0)
}

/// The take a node message may answer late: one that timed out, by the request id the message
/// echoes, else by the dispute it names. (dispute id, request id)
pub fn answerable(
    conn: &Connection,
    request_id: Option<u64>,
    dispute_id: Option<&str>,
) -> rusqlite::Result<Option<(String, u64)>> {
    conn.query_row(
        "SELECT dispute_id, request_id FROM solver_takes
          WHERE state = 'timed_out' AND (request_id = ?1 OR (?1 IS NULL AND dispute_id = ?2))",
        params![request_id.map(|id| id as i64), dispute_id],
        |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
    )
    .optional()
}

/// The trade's facts as the node stated them when it handed us the dispute, unchecked.
pub fn trade_facts(conn: &Connection, dispute_id: &str) -> rusqlite::Result<TradeFacts> {
    conn.query_row(
        "SELECT amount_sats, fiat_amount, payment_method FROM solver_takes WHERE dispute_id = ?1",
        [dispute_id],
        |r| {
            Ok(TradeFacts {
                dispute_id: dispute_id.to_owned(),
                amount_sats: r.get(0)?,
                fiat_amount: r.get(1)?,
                payment_method: r.get(2)?,
            })
        },
    )
}

/// Whether a dispute event is one this dispute's take has not recorded yet.
pub fn is_news(conn: &Connection, dispute_id: &str, event_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM take_evidence WHERE dispute_id = ?1 AND event_id = ?2)",
        params![dispute_id, event_id],
        |r| r.get(0),
    )
}

pub fn ledger(conn: &Connection, dispute_id: &str) -> rusqlite::Result<TakeLedger> {
    let mut ledger = TakeLedger::default();
    let mut rows =
        conn.prepare_cached("SELECT kind, COUNT(*) FROM take_evidence WHERE dispute_id = ?1 GROUP BY kind")?;
    for row in rows.query_map([dispute_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))? {
        let (kind, n) = row?;
        match Evidence::parse(&kind) {
            Some(Evidence::Sent) => ledger.sent = n,
            Some(Evidence::Accepted) => ledger.accepted = n,
            Some(Evidence::Refused) => ledger.refused = n,
            Some(Evidence::InProgress) => ledger.in_progress = n,
            None => {}
        }
    }
    Ok(ledger)
}

/// What Serbero has seen of the dispute beyond `initiated`: (claimed or resolved, resolved).
pub fn seen_beyond_initiated(conn: &Connection, dispute_id: &str) -> rusqlite::Result<(bool, bool)> {
    let mut statuses = conn.prepare_cached("SELECT status FROM dispute_observations WHERE dispute_id = ?1")?;
    let (mut claimed, mut resolved) = (false, false);
    for status in statuses.query_map([dispute_id], |r| r.get::<_, String>(0))? {
        let status = DisputeStatus::parse(&status?);
        claimed |= status != DisputeStatus::Initiated;
        resolved |= status.is_terminal();
    }
    Ok((claimed, resolved))
}

/// Ends the take in `state` (refused, timed out, malformed, superseded, closed) with `reason`.
pub(super) fn end(
    tx: &Transaction<'_>,
    dispute_id: &str,
    state: TakeState,
    reason: &str,
    cant_do: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE solver_takes SET state = ?2, ended_reason = ?3, cant_do_reason = COALESCE(?4, cant_do_reason),
                                 updated_at = ?5
          WHERE dispute_id = ?1 AND state IN ('requested', 'took', 'refused')",
        params![dispute_id, state.as_str(), reason, cant_do, now],
    )?;
    Ok(())
}

/// The take is kept open after a handoff, to forward what the parties write from now on (the
/// handoff's brief quoted what came before).
pub(super) fn handed_off(tx: &Transaction<'_>, dispute_id: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE solver_takes SET handed_off_at = COALESCE(handed_off_at, ?2), updated_at = ?2,
                forwarded_through = MAX(forwarded_through, (SELECT COALESCE(MAX(id), 0) FROM party_messages
                                                             WHERE dispute_id = ?1 AND direction = 'inbound'))
          WHERE dispute_id = ?1 AND state = 'took' AND handed_off_at IS NULL",
        params![dispute_id, now],
    )?;
    Ok(())
}

/// The party messages a transcript has not carried yet, oldest first, at most `limit`, with
/// their row ids; and how many there are in all.
pub(super) fn unforwarded(
    conn: &Connection,
    dispute_id: &str,
    limit: usize,
) -> rusqlite::Result<(Vec<(i64, Quote)>, usize)> {
    let through: i64 =
        conn.query_row("SELECT forwarded_through FROM solver_takes WHERE dispute_id = ?1", [dispute_id], |r| r.get(0))?;
    let rows = conn
        .prepare_cached(
            "SELECT id, party, inner_created_at, content FROM party_messages
              WHERE dispute_id = ?1 AND direction = 'inbound' AND id > ?2 ORDER BY id LIMIT ?3",
        )?
        .query_map(params![dispute_id, through, limit as i64], quote_row)?
        .collect::<Result<_, _>>()?;
    let left: i64 = conn.query_row(
        "SELECT COUNT(*) FROM party_messages WHERE dispute_id = ?1 AND direction = 'inbound' AND id > ?2",
        params![dispute_id, through],
        |r| r.get(0),
    )?;
    Ok((rows, left as usize))
}

/// A party message selected as `id, party, inner_created_at, content`: its row id and the quote.
pub(super) fn quote_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Quote)> {
    let party = Party::parse(&r.get::<_, String>(1)?).unwrap_or(Party::Seller);
    Ok((r.get(0)?, Quote { party, at: r.get(2)?, text: r.get(3)? }))
}

/// A transcript carrying the messages up to row `through` is stored with its outbox rows.
pub(super) fn forwarded(tx: &Transaction<'_>, dispute_id: &str, through: i64, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE solver_takes SET forwarded_through = MAX(forwarded_through, ?2), updated_at = ?3 WHERE dispute_id = ?1",
        params![dispute_id, through, now],
    )?;
    Ok(())
}

/// What became of a party's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// New and the party's newest: it counts.
    Fresh,
    /// New but older than the party's newest reply: kept for the record, not counted.
    Stale,
    /// Its inner id is stored already (the durable dedup).
    Known,
}

pub(super) fn inbound(tx: &Transaction<'_>, dispute_id: &str, m: &Inbound, now: i64) -> rusqlite::Result<Stored> {
    let newest: Option<i64> = tx.query_row(
        "SELECT MAX(inner_created_at) FROM party_messages
          WHERE dispute_id = ?1 AND party = ?2 AND direction = 'inbound' AND stale = 0",
        params![dispute_id, m.party.as_str()],
        |r| r.get(0),
    )?;
    let stale = is_stale(newest, m.inner_created_at);
    let added = tx.execute(
        "INSERT INTO party_messages (dispute_id, party, direction, inner_event_id, outer_event_id,
                                     inner_created_at, content, legacy, stale, persisted_at)
         VALUES (?1, ?2, 'inbound', ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(dispute_id, inner_event_id) DO NOTHING",
        params![
            dispute_id,
            m.party.as_str(),
            m.inner_event_id.to_hex(),
            m.outer_event_id.to_hex(),
            m.inner_created_at,
            m.content,
            m.legacy,
            stale,
            now
        ],
    )?;
    Ok(match (added, stale) {
        (0, _) => Stored::Known,
        (_, true) => Stored::Stale,
        _ => Stored::Fresh,
    })
}

/// Our message to a party, in the transaction that queues it in the outbox.
pub(super) struct Outbound {
    pub party: Party,
    pub inner_event_id: String,
    pub outer_event_id: String,
    pub inner_created_at: i64,
    pub content: String,
}

pub(super) fn outbound(tx: &Transaction<'_>, dispute_id: &str, m: &Outbound, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO party_messages (dispute_id, party, direction, inner_event_id, outer_event_id,
                                     inner_created_at, content, persisted_at)
         VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, ?6, ?7)",
        params![dispute_id, m.party.as_str(), m.inner_event_id, m.outer_event_id, m.inner_created_at, m.content, now],
    )?;
    Ok(())
}

/// How many party messages were taken in.
pub fn inbound_count(conn: &Connection, dispute_id: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM party_messages WHERE dispute_id = ?1 AND direction = 'inbound'",
        [dispute_id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// The newest inbound message time of a party, to resume its chat subscription from.
pub fn last_inbound_at(conn: &Connection, dispute_id: &str, party: Party) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT MAX(inner_created_at) FROM party_messages
          WHERE dispute_id = ?1 AND party = ?2 AND direction = 'inbound'",
        params![dispute_id, party.as_str()],
        |r| r.get(0),
    )
}

/// Disputes whose mediation is over for good since before `:cutoff`: resolved by then, with no
/// take and no session still live (a take kept open after a handoff, to forward what the
/// parties write, is live). Nothing starts a session for such a dispute again (a resolved
/// dispute is never a candidate, an ended take is never taken again), so nothing reads its chat
/// or its session's outbox rows to decide anything: they may go. The outbox's pruning uses it too.
pub(crate) const CONVERSATIONS_OVER: &str = "
    SELECT d.dispute_id FROM disputes d
     WHERE d.lifecycle_state = 'resolved' AND COALESCE(d.last_state_change, d.detected_at) < :cutoff
       AND NOT EXISTS (SELECT 1 FROM solver_takes t
                        WHERE t.dispute_id = d.dispute_id AND t.state IN ('requested', 'took'))
       AND NOT EXISTS (SELECT 1 FROM mediation_sessions s WHERE s.dispute_id = d.dispute_id
                         AND s.state IN ('opening', 'awaiting_response', 'classified', 'follow_up_pending',
                                         'summary_pending'))";

/// The party chat, stored before `cutoff`, of disputes whose mediation is over for good
/// ([`CONVERSATIONS_OVER`]). Their sessions no longer run, so the Sessions supervisor prunes it
/// for them (and `serbero prune`); a dispute still open keeps its chat, as evidence for the
/// solver who has it.
pub(crate) fn prune_party_messages(conn: &Connection, cutoff: i64, how: Prune) -> rusqlite::Result<usize> {
    let past = format!("persisted_at < :cutoff AND dispute_id IN ({CONVERSATIONS_OVER})");
    match how {
        Prune::Count => conn
            .query_row(&format!("SELECT COUNT(*) FROM party_messages WHERE {past}"), named_params! {":cutoff": cutoff}, |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as usize),
        Prune::Delete(limit) => conn.execute(
            &format!(
                "DELETE FROM party_messages WHERE id IN (SELECT id FROM party_messages WHERE {past} ORDER BY id LIMIT :limit)"
            ),
            named_params! {":cutoff": cutoff, ":limit": limit as i64},
        ),
    }
}
