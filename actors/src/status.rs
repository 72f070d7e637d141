//! `serbero status`: what the database says about disputes, notifications and the outbox.
//! Read-only. `--json` prints the same report as one JSON object (counts as `{state: n}` maps,
//! times as Unix seconds).

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context};
use nostr_sdk::Timestamp;
use rusqlite::{Connection, OpenFlags};
use serbero_core::lifecycle::LifecycleState;
use serbero_core::storage;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

const RECENT: i64 = 10;
const DEAD_LETTERS_SHOWN: i64 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub sent_at: i64,
    pub dispute_id: String,
    pub notif_type: String,
    /// `nip17` or `mostrix`.
    pub format: Option<String>,
    pub status: String,
    pub solver: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub notif_type: String,
    pub dispute_id: Option<String>,
    pub recipient: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dispatch {
    pub dispatch_id: String,
    pub dispute_id: String,
    pub status: String,
    pub recipients: usize,
    pub fallback: bool,
    pub dispatched_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unroutable {
    pub handoff_event_id: i64,
    pub dispute_id: String,
    pub decided_at: i64,
}

/// A take that did not end in a conversation, or whose conversation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndedTake {
    pub dispute_id: String,
    pub state: String,
    pub reason: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub db_path: String,
    pub schema_version: u32,
    #[serde(serialize_with = "as_map")]
    pub disputes_by_state: Vec<(String, u64)>,
    pub recent_notifications: Vec<Notification>,
    #[serde(serialize_with = "as_map")]
    pub outbox_by_status: Vec<(String, u64)>,
    pub dead_letters: Vec<DeadLetter>,
    pub recent_dispatches: Vec<Dispatch>,
    pub unroutable_handoffs: Vec<Unroutable>,
    /// Serbero's takes as a read-only solver, by state.
    #[serde(serialize_with = "as_map")]
    pub takes_by_state: Vec<(String, u64)>,
    #[serde(serialize_with = "as_map")]
    pub sessions_by_state: Vec<(String, u64)>,
    pub recent_ended_takes: Vec<EndedTake>,
}

impl StatusReport {
    pub fn read(db_path: &Path) -> anyhow::Result<Self> {
        if !db_path.exists() {
            bail!("no database at {} (the daemon creates it on first start)", db_path.display());
        }
        let conn = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", db_path.display()))?;
        let schema_version = storage::schema_version(&conn)?;
        if schema_version < storage::SCHEMA_VERSION {
            bail!(
                "{} is at schema version {schema_version}; start the daemon once to upgrade it to {}",
                db_path.display(),
                storage::SCHEMA_VERSION
            );
        }
        Ok(Self {
            db_path: db_path.display().to_string(),
            schema_version,
            disputes_by_state: disputes_by_state(&conn)?,
            recent_notifications: recent_notifications(&conn)?,
            outbox_by_status: counts(&conn, "SELECT status, COUNT(*) FROM outbox GROUP BY 1 ORDER BY 1")?,
            dead_letters: dead_letters(&conn)?,
            recent_dispatches: recent_dispatches(&conn)?,
            unroutable_handoffs: unroutable_handoffs(&conn)?,
            takes_by_state: counts(&conn, "SELECT state, COUNT(*) FROM solver_takes GROUP BY 1 ORDER BY 1")?,
            sessions_by_state: counts(&conn, "SELECT state, COUNT(*) FROM mediation_sessions GROUP BY 1 ORDER BY 1")?,
            recent_ended_takes: recent_ended_takes(&conn)?,
        })
    }
}

/// Counts as a JSON object, keys in the report's order.
fn as_map<S: Serializer>(counts: &[(String, u64)], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(counts.len()))?;
    for (key, n) in counts {
        map.serialize_entry(key, n)?;
    }
    map.end()
}

/// `(key, count)` rows of a `SELECT key, COUNT(*) … GROUP BY 1`.
pub(crate) fn counts(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<(String, u64)>> {
    conn.prepare(sql)?.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?.collect()
}

/// Every lifecycle state, in lifecycle order, zero counts included.
pub(crate) fn disputes_by_state(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let found = counts(conn, "SELECT lifecycle_state, COUNT(*) FROM disputes GROUP BY 1")?;
    Ok(with_zeros(LifecycleState::ALL.map(LifecycleState::as_str), found))
}

/// Every known key in its order with its count (0 when absent), then any unknown ones found.
pub(crate) fn with_zeros<const N: usize>(known: [&str; N], found: Vec<(String, u64)>) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = known
        .iter()
        .map(|key| (key.to_string(), found.iter().find(|(f, _)| f == key).map_or(0, |(_, n)| *n)))
        .collect();
    all.extend(found.into_iter().filter(|(f, _)| !known.contains(&f.as_str())));
    all
}

fn recent_notifications(conn: &Connection) -> rusqlite::Result<Vec<Notification>> {
    conn.prepare(
        "SELECT sent_at, dispute_id, notif_type, status, solver_pubkey, error_message, format
           FROM notifications ORDER BY id DESC LIMIT ?1",
    )?
    .query_map([RECENT], |r| {
        Ok(Notification {
            sent_at: r.get(0)?,
            dispute_id: r.get(1)?,
            notif_type: r.get(2)?,
            format: r.get(6)?,
            status: r.get(3)?,
            solver: r.get(4)?,
            error: r.get(5)?,
        })
    })?
    .collect()
}

fn dead_letters(conn: &Connection) -> rusqlite::Result<Vec<DeadLetter>> {
    conn.prepare(
        "SELECT id, notif_type, dispute_id, recipient, attempts, last_error
           FROM outbox WHERE status = 'dead_lettered' ORDER BY id DESC LIMIT ?1",
    )?
    .query_map([DEAD_LETTERS_SHOWN], |r| {
        Ok(DeadLetter {
            id: r.get(0)?,
            notif_type: r.get(1)?,
            dispute_id: r.get(2)?,
            recipient: r.get(3)?,
            attempts: r.get(4)?,
            last_error: r.get(5)?,
        })
    })?
    .collect()
}

fn recent_dispatches(conn: &Connection) -> rusqlite::Result<Vec<Dispatch>> {
    conn.prepare(
        "SELECT dispatch_id, dispute_id, status, target_solver, fallback_broadcast, dispatched_at
           FROM escalation_dispatches ORDER BY dispatched_at DESC, rowid DESC LIMIT ?1",
    )?
    .query_map([RECENT], |r| {
        Ok(Dispatch {
            dispatch_id: r.get(0)?,
            dispute_id: r.get(1)?,
            status: r.get(2)?,
            recipients: r.get::<_, String>(3)?.split(',').filter(|s| !s.is_empty()).count(),
            fallback: r.get(4)?,
            dispatched_at: r.get(5)?,
        })
    })?
    .collect()
}

fn unroutable_handoffs(conn: &Connection) -> rusqlite::Result<Vec<Unroutable>> {
    conn.prepare(
        "SELECT h.handoff_event_id, COALESCE(json_extract(me.payload_json, '$.dispute_id'), 'unknown'), h.decided_at
           FROM escalation_handoffs h JOIN mediation_events me ON me.id = h.handoff_event_id
          WHERE h.outcome = 'unroutable' ORDER BY h.handoff_event_id DESC LIMIT ?1",
    )?
    .query_map([DEAD_LETTERS_SHOWN], |r| {
        Ok(Unroutable { handoff_event_id: r.get(0)?, dispute_id: r.get(1)?, decided_at: r.get(2)? })
    })?
    .collect()
}

fn recent_ended_takes(conn: &Connection) -> rusqlite::Result<Vec<EndedTake>> {
    conn.prepare(
        "SELECT dispute_id, state, COALESCE(ended_reason, ''), updated_at FROM solver_takes
          WHERE state NOT IN ('requested', 'took') ORDER BY updated_at DESC, rowid DESC LIMIT ?1",
    )?
    .query_map([RECENT], |r| {
        Ok(EndedTake { dispute_id: r.get(0)?, state: r.get(1)?, reason: r.get(2)?, at: r.get(3)? })
    })?
    .collect()
}

fn when(unix: i64) -> String {
    Timestamp::from(unix.max(0) as u64).to_human_datetime()
}

fn short(key: &str) -> &str {
    key.get(..16).unwrap_or(key)
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Serbero status: {} (schema version {})", self.db_path, self.schema_version)?;
        writeln!(f, "\nDisputes by lifecycle state:")?;
        for (state, n) in &self.disputes_by_state {
            writeln!(f, "  {state:<10} {n}")?;
        }
        writeln!(f, "\nRecent notifications (newest first):")?;
        if self.recent_notifications.is_empty() {
            writeln!(f, "  none")?;
        }
        for n in &self.recent_notifications {
            let error = n.error.as_deref().map(|e| format!("  error: {e}")).unwrap_or_default();
            writeln!(
                f,
                "  {}  {:<15} {:<7} {:<6} dispute {}  solver {}…{error}",
                when(n.sent_at),
                n.notif_type,
                n.format.as_deref().unwrap_or("-"),
                n.status,
                n.dispute_id,
                short(&n.solver)
            )?;
        }
        writeln!(f, "\nOutbox by status:")?;
        if self.outbox_by_status.is_empty() {
            writeln!(f, "  empty")?;
        }
        for (status, n) in &self.outbox_by_status {
            writeln!(f, "  {status:<14} {n}")?;
        }
        writeln!(f, "\nDead letters (DMs Serbero gave up on):")?;
        if self.dead_letters.is_empty() {
            write!(f, "  none")?;
        }
        for d in &self.dead_letters {
            let dispute = d.dispute_id.as_deref().unwrap_or("-");
            let error = d.last_error.as_deref().unwrap_or("-");
            write!(
                f,
                "\n  #{} {} dispute {dispute} to {}… after {} attempts: {error}",
                d.id,
                d.notif_type,
                short(&d.recipient),
                d.attempts
            )?;
        }
        writeln!(f, "\n\nRecent escalation handoffs dispatched:")?;
        if self.recent_dispatches.is_empty() {
            writeln!(f, "  none")?;
        }
        for d in &self.recent_dispatches {
            let fallback = if d.fallback { " (fallback to every solver)" } else { "" };
            writeln!(
                f,
                "  {}  {:<11} dispute {}  to {} solver(s){fallback}  dispatch {}",
                when(d.dispatched_at),
                d.status,
                d.dispute_id,
                d.recipients,
                d.dispatch_id
            )?;
        }
        write!(f, "\nUnroutable handoffs (no write solver and no fallback; fix the configuration and restart):")?;
        if self.unroutable_handoffs.is_empty() {
            write!(f, "\n  none")?;
        }
        for u in &self.unroutable_handoffs {
            write!(f, "\n  handoff {} dispute {} since {}", u.handoff_event_id, u.dispute_id, when(u.decided_at))?;
        }
        write!(f, "\n\nDisputes taken as a read-only solver, by state:")?;
        if self.takes_by_state.is_empty() {
            write!(f, "\n  none")?;
        }
        for (state, n) in &self.takes_by_state {
            write!(f, "\n  {state:<10} {n}")?;
        }
        write!(f, "\n\nMediation sessions by state:")?;
        if self.sessions_by_state.is_empty() {
            write!(f, "\n  none")?;
        }
        for (state, n) in &self.sessions_by_state {
            write!(f, "\n  {state:<22} {n}")?;
        }
        if !self.recent_ended_takes.is_empty() {
            write!(f, "\n\nRecently ended takes (refusals carry the node's cant-do reason):")?;
        }
        for t in &self.recent_ended_takes {
            write!(f, "\n  {}  {:<10} dispute {}  {}", when(t.at), t.state, t.dispute_id, t.reason)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_come_first_with_zeros_and_unknown_ones_are_kept() {
        let found = vec![("b".to_owned(), 2), ("zz".to_owned(), 9)];
        let all = with_zeros(["a", "b", "c"], found);
        assert_eq!(all, [("a".into(), 0), ("b".into(), 2), ("c".into(), 0), ("zz".into(), 9)]);
    }
}
