//! The only writer of a session's mediation rows: `mediation_sessions` (but the escalation flip,
//! which is the handoff producer's), `mediation_summaries`, `reasoning_rationales`, the
//! session's own `mediation_events` kinds, and the `notifications` rows of its solver DMs
//! (`mediation_summary`, and the alerts of its escalations, `mediation_escalation_recommended`, a type the dispatcher writes for its handoff DMs too: each writes the rows of its own outbox). Reads for the transcript and rounds.
//! Prunes the audit rows of summaries and transcripts past the retention period.

use rusqlite::{named_params, params, Connection, OptionalExtension, Transaction};
use serbero_core::audit::EventKind;
use serbero_core::chat::Party;
use serbero_core::dispute::Initiator;
use serbero_core::lifecycle::LifecycleState;
use serbero_core::mediation::{round_count, Candidate, SessionState, TAKE_RETRY_AFTER_SECS};
use serbero_core::notification::NotifType;
use serbero_core::prompts::PromptBundle;
use serbero_core::reasoning::window::{window, CANDIDATE_LINES};
use serbero_core::reasoning::{Speaker, TranscriptEntry};
use serbero_core::retention::Prune;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::store::TakeState;
use crate::outbox::Settled;

/// The dispute's mediation session, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub session_id: String,
    pub state: SessionState,
    pub round_count: u32,
    /// The round count when the model last classified the session.
    pub rounds_evaluated: u32,
    pub policy_hash: String,
    pub started_at: i64,
    pub consecutive_eval_failures: u32,
}

/// The dispute's newest session.
pub fn load(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        "SELECT session_id, state, round_count, policy_hash, started_at, consecutive_eval_failures,
                round_count_last_evaluated
           FROM mediation_sessions WHERE dispute_id = ?1 ORDER BY started_at DESC, rowid DESC LIMIT 1",
        [dispute_id],
        |r| {
            let state: String = r.get(1)?;
            Ok(SessionRow {
                session_id: r.get(0)?,
                state: SessionState::parse(&state).unwrap_or(SessionState::Closed),
                round_count: r.get(2)?,
                policy_hash: r.get(3)?,
                started_at: r.get(4)?,
                consecutive_eval_failures: r.get(5)?,
                rounds_evaluated: r.get(6)?,
            })
        },
    )
    .optional()
}

/// A new session at `opening`, with the bundle pinned and each party's chat address.
pub(super) fn open(
    tx: &Transaction<'_>,
    session_id: &str,
    dispute_id: &str,
    bundle: &PromptBundle,
    conv_pubkeys: (&str, &str),
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO mediation_sessions (session_id, dispute_id, state, round_count, prompt_bundle_id, policy_hash,
                                         buyer_shared_pubkey, seller_shared_pubkey, started_at, last_transition_at)
         VALUES (?1, ?2, 'opening', 0, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![session_id, dispute_id, bundle.id, bundle.policy_hash, conv_pubkeys.0, conv_pubkeys.1, now],
    )?;
    event(
        tx,
        Some(session_id),
        EventKind::SessionOpened,
        &serde_json::json!({ "dispute_id": dispute_id }),
        None,
        bundle,
        now,
    )?;
    Ok(())
}

/// Moves the session from one of `from` to `to`; false when it was in none of them.
pub(super) fn advance(
    tx: &Transaction<'_>,
    session_id: &str,
    from: &[SessionState],
    to: SessionState,
    now: i64,
) -> rusqlite::Result<bool> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let moved = tx.execute(
        "UPDATE mediation_sessions SET state = ?2, last_transition_at = ?3
          WHERE session_id = ?1 AND state IN (SELECT value FROM json_each(?4))",
        params![session_id, to.as_str(), now, serde_json::to_string(&from).unwrap_or_default()],
    )?;
    Ok(moved == 1)
}

/// After a fresh reply: the party's newest reply time and the round count.
/// Counts a fresh reply of `party` (written at `inner_at`) in the session's rounds; returns the
/// round count now.
pub(super) fn count_reply(
    tx: &Transaction<'_>,
    dispute_id: &str,
    session_id: &str,
    party: Party,
    inner_at: i64,
) -> rusqlite::Result<u32> {
    let (buyer, seller) = fresh_replies(tx, dispute_id)?;
    let rounds = round_count(buyer, seller);
    replied(tx, session_id, party, inner_at, rounds)?;
    Ok(rounds)
}

fn replied(
    tx: &Transaction<'_>,
    session_id: &str,
    party: Party,
    inner_at: i64,
    round_count: u32,
) -> rusqlite::Result<()> {
    let column = match party {
        Party::Buyer => "buyer_last_seen_inner_ts",
        Party::Seller => "seller_last_seen_inner_ts",
    };
    tx.execute(
        &format!("UPDATE mediation_sessions SET {column} = ?2, round_count = ?3 WHERE session_id = ?1"),
        params![session_id, inner_at, round_count],
    )?;
    Ok(())
}

/// Counts a failed evaluation; returns the consecutive failures so far.
pub(super) fn evaluation_failed(tx: &Transaction<'_>, session_id: &str) -> rusqlite::Result<u32> {
    tx.query_row(
        "UPDATE mediation_sessions SET consecutive_eval_failures = consecutive_eval_failures + 1
          WHERE session_id = ?1 RETURNING consecutive_eval_failures",
        [session_id],
        |r| r.get(0),
    )
}

pub(super) fn evaluation_succeeded(tx: &Transaction<'_>, session_id: &str, round_count: u32) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE mediation_sessions SET consecutive_eval_failures = 0, round_count_last_evaluated = ?2
          WHERE session_id = ?1",
        params![session_id, round_count],
    )?;
    Ok(())
}

/// Stores the rationale under the SHA-256 of its text; the same text twice is one row, whoever
/// wrote it (the provenance is on the events that reference it). Returns its id.
pub(super) fn rationale(
    tx: &Transaction<'_>,
    text: &str,
    provider: &str,
    model: &str,
    bundle: &PromptBundle,
    now: i64,
) -> rusqlite::Result<String> {
    let id = hex(&Sha256::digest(text.as_bytes()));
    tx.execute(
        "INSERT INTO reasoning_rationales (rationale_id, provider, model, prompt_bundle_id, policy_hash, rationale_text,
                                           generated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(rationale_id) DO NOTHING",
        params![id, provider, model, bundle.id, bundle.policy_hash, text, now],
    )?;
    Ok(id)
}

/// Appends one of the session's audit events (a dispute-scoped one when `session_id` is none).
pub(super) fn event(
    tx: &Transaction<'_>,
    session_id: Option<&str>,
    kind: EventKind,
    payload: &Value,
    rationale_id: Option<&str>,
    bundle: &PromptBundle,
    now: i64,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO mediation_events (session_id, kind, payload_json, rationale_id, prompt_bundle_id, policy_hash,
                                       occurred_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![session_id, kind.as_str(), payload.to_string(), rationale_id, bundle.id, bundle.policy_hash, now],
    )?;
    Ok(tx.last_insert_rowid())
}

/// The summary row, pinned to the bundle, referencing its rationale.
pub(super) struct SummaryRow<'a> {
    pub session_id: &'a str,
    pub dispute_id: &'a str,
    pub classification: &'a str,
    pub confidence: f64,
    pub next_step: &'a str,
    pub text: &'a str,
    pub rationale_id: &'a str,
}

pub(super) fn summary(
    tx: &Transaction<'_>,
    s: &SummaryRow<'_>,
    bundle: &PromptBundle,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO mediation_summaries (session_id, dispute_id, classification, confidence, suggested_next_step,
                                          summary_text, prompt_bundle_id, policy_hash, rationale_id, generated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            s.session_id,
            s.dispute_id,
            s.classification,
            s.confidence,
            s.next_step,
            s.text,
            bundle.id,
            bundle.policy_hash,
            s.rationale_id,
            now
        ],
    )?;
    Ok(())
}

/// Who opened the dispute, as Mostro said.
pub fn initiator(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Option<Initiator>> {
    let role: Option<String> = conn
        .query_row("SELECT initiator_role FROM disputes WHERE dispute_id = ?1", [dispute_id], |r| r.get(0))
        .optional()?;
    Ok(role.and_then(|r| Initiator::parse(&r)))
}

/// Whether the opening verdict already escalated the dispute (no session was opened).
pub fn escalated_before_take(conn: &Connection, dispute_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM mediation_events WHERE session_id IS NULL AND kind = ?2
                          AND json_extract(payload_json, '$.dispute_id') = ?1)",
        [dispute_id, EventKind::EscalationRecommended.as_str()],
        |r| r.get(0),
    )
}

/// The dispute's assigned solver, when something recorded one.
pub fn assigned_solver(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT assigned_solver FROM disputes WHERE dispute_id = ?1", [dispute_id], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// The newest classification of the session: (label, confidence).
pub fn last_classification(conn: &Connection, session_id: &str) -> rusqlite::Result<Option<(String, f64)>> {
    conn.query_row(
        "SELECT json_extract(payload_json, '$.classification'), json_extract(payload_json, '$.confidence')
           FROM mediation_events WHERE session_id = ?1 AND kind = ?2
          ORDER BY id DESC LIMIT 1",
        [session_id, EventKind::ClassificationProduced.as_str()],
        |r| Ok(r.get::<_, Option<String>>(0)?.zip(r.get::<_, Option<f64>>(1)?)),
    )
    .optional()
    .map(Option::flatten)
}

/// Disputes Serbero may mediate now, oldest first, at most `limit`, with the facts
/// [`serbero_core::mediation::eligible`] judges (the query leaves out what it would refuse, so
/// ineligible disputes never crowd out eligible ones).
pub fn candidates(conn: &Connection, now: i64, limit: usize) -> rusqlite::Result<Vec<(String, Candidate)>> {
    conn.prepare(
        "SELECT d.dispute_id, d.lifecycle_state,
                EXISTS (SELECT 1 FROM mediation_sessions s WHERE s.dispute_id = d.dispute_id
                          AND s.state NOT IN ('closed', 'superseded_by_human')),
                EXISTS (SELECT 1 FROM mediation_events e WHERE e.session_id IS NULL AND e.kind = ?3
                          AND json_extract(e.payload_json, '$.dispute_id') = d.dispute_id),
                t.state, t.updated_at
           FROM disputes d LEFT JOIN solver_takes t ON t.dispute_id = d.dispute_id
          WHERE d.lifecycle_state IN (SELECT value FROM json_each(?4))
            AND NOT EXISTS (SELECT 1 FROM mediation_sessions s WHERE s.dispute_id = d.dispute_id
                              AND s.state NOT IN ('closed', 'superseded_by_human'))
            AND NOT EXISTS (SELECT 1 FROM mediation_events e WHERE e.session_id IS NULL
                              AND e.kind = ?3
                              AND json_extract(e.payload_json, '$.dispute_id') = d.dispute_id)
            AND (t.state IS NULL OR (t.state IN ('refused', 'timed_out', 'malformed') AND t.updated_at <= ?2))
          ORDER BY d.event_timestamp, d.dispute_id LIMIT ?1",
    )?
    .query_map(
        params![
            limit as i64,
            now - TAKE_RETRY_AFTER_SECS,
            EventKind::EscalationRecommended.as_str(),
            LifecycleState::unattended_json()
        ],
        |r| {
            let lifecycle: String = r.get(1)?;
            let take = r.get::<_, Option<String>>(4)?.as_deref().and_then(TakeState::parse);
            let failed_at: Option<i64> = r.get(5)?;
            let take_blocks = take.is_some_and(TakeState::blocks_a_new_take);
            let failed = take.is_some_and(|t| !t.blocks_a_new_take());
            Ok((
                r.get(0)?,
                Candidate {
                    lifecycle: LifecycleState::parse(&lifecycle).unwrap_or(LifecycleState::Resolved),
                    has_blocking_session: r.get(2)?,
                    escalated_before_take: r.get(3)?,
                    take_blocks,
                    since_failed_take: failed.then(|| now - failed_at.unwrap_or(now)),
                },
            ))
        },
    )?
    .collect()
}

/// Whether the chat event with this outer id is in the transcript already (a party's message
/// or our own, echoed).
pub fn has_outer_event(conn: &Connection, dispute_id: &str, outer_event_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM party_messages WHERE dispute_id = ?1 AND outer_event_id = ?2)",
        params![dispute_id, outer_event_id],
        |r| r.get(0),
    )
}

/// How many times the model classified this session (the opening verdict counts once).
pub fn classifications(conn: &Connection, session_id: &str) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM mediation_events WHERE session_id = ?1 AND kind = ?2",
        [session_id, EventKind::ClassificationProduced.as_str()],
        |r| r.get(0),
    )
}

/// Fresh replies per party: (buyer, seller).
pub fn fresh_replies(conn: &Connection, dispute_id: &str) -> rusqlite::Result<(u32, u32)> {
    conn.query_row(
        "SELECT COALESCE(SUM(party = 'buyer'), 0), COALESCE(SUM(party = 'seller'), 0) FROM party_messages
          WHERE dispute_id = ?1 AND direction = 'inbound' AND stale = 0",
        [dispute_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The newest fresh reply of any party.
pub fn newest_reply(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT MAX(inner_created_at) FROM party_messages WHERE dispute_id = ?1 AND direction = 'inbound' AND stale = 0",
        [dispute_id],
        |r| r.get(0),
    )
}

/// What the model sees of the conversation's fresh lines (`serbero_core::reasoning::window`),
/// in the order they arrived.
pub fn transcript(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Vec<TranscriptEntry>> {
    let mut lines: Vec<TranscriptEntry> = conn
        .prepare(
            "SELECT direction, party, inner_created_at, content FROM party_messages
              WHERE dispute_id = ?1 AND stale = 0 ORDER BY id DESC LIMIT ?2",
        )?
        .query_map(params![dispute_id, CANDIDATE_LINES as i64], |r| {
            let (direction, party): (String, String) = (r.get(0)?, r.get(1)?);
            let speaker = match (direction.as_str(), party.as_str()) {
                ("outbound", _) => Speaker::Serbero,
                (_, "buyer") => Speaker::Buyer,
                _ => Speaker::Seller,
            };
            Ok(TranscriptEntry { speaker, at: r.get(2)?, content: r.get(3)? })
        })?
        .collect::<Result<_, _>>()?;
    lines.reverse();
    Ok(window(lines))
}

/// The audit row of one attempt at a solver DM, written in the outbox's transaction. Party
/// messages have none: `party_messages` holds them.
pub(super) fn audit(tx: &Transaction<'_>, settled: &Settled, now: i64) -> rusqlite::Result<()> {
    let solver_facing = [
        NotifType::MediationSummary,
        NotifType::EscalationRecommended,
        NotifType::MediationTranscript,
        NotifType::Milestone,
    ];
    if solver_facing.contains(&settled.notif_type) {
        let (status, error) = settled.audit_status();
        tx.execute(
            "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, error_message, notif_type, format)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                settled.dispute_id,
                settled.recipient,
                now,
                status.as_str(),
                error,
                settled.notif_type.as_str(),
                settled.format
            ],
        )?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The audit rows of the DMs only sessions send (summaries and transcripts), written before
/// `cutoff`. Pruning splits `notifications` by type, each type to one owner: the escalation
/// alerts share their type with the dispatcher's handoffs and go with those, the milestone lines
/// (the Dispute actor sends one too) with the Dispute actor's types.
pub(crate) fn prune_notifications(conn: &Connection, cutoff: i64, how: Prune) -> rusqlite::Result<usize> {
    const PAST: &str = "sent_at < :cutoff AND notif_type IN (SELECT value FROM json_each(:types))";
    let types =
        serde_json::json!([NotifType::MediationSummary.as_str(), NotifType::MediationTranscript.as_str()]).to_string();
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
