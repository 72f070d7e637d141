//! The metrics the database holds, read on a read-only connection at scrape time. Every known
//! state is published, zeros included, so a state that empties drops to 0 instead of keeping
//! its last value.

use std::collections::BTreeMap;
use std::path::Path;

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use rusqlite::{Connection, OpenFlags};
use serbero_core::delivery::OutboxStatus;
use serbero_core::mediation::SessionState;

use crate::status::{counts, disputes_by_state, with_zeros};

/// The handoff decisions of the escalation dispatcher's ledger.
const HANDOFF_OUTCOMES: [&str; 4] = ["dispatched", "superseded", "unroutable", "parse_failed"];
/// How long SQLite waits for a writer before a scrape gives up on the database.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub disputes_by_state: Vec<(String, u64)>,
    /// `(notif_type, status, form)` with the number of notification rows.
    pub notifications: Vec<(String, String, String, u64)>,
    pub outbox_by_status: Vec<(String, u64)>,
    /// Seconds since the oldest row still on its way was queued; 0 when none is.
    pub outbox_oldest_pending_age: u64,
    pub sessions_by_state: Vec<(String, u64)>,
    pub handoffs_by_outcome: Vec<(String, u64)>,
}

pub fn describe() {
    describe_gauge!("serbero_disputes", "Disputes stored, by lifecycle state.");
    describe_counter!(
        "serbero_notifications_total",
        "Notification attempts recorded, by type, outcome (sent or failed) and form (nip17 or mostrix)."
    );
    describe_gauge!("serbero_outbox_messages", "Outbox rows, by status.");
    describe_gauge!(
        "serbero_outbox_oldest_pending_age_seconds",
        Unit::Seconds,
        "Age of the oldest outbox row still on its way (pending, claimed or failed); 0 when none."
    );
    describe_gauge!("serbero_dead_letters", "Outbox rows Serbero gave up on after every attempt.");
    describe_gauge!("serbero_mediation_sessions", "Mediation sessions, by state.");
    describe_gauge!("serbero_mediation_sessions_open", "Mediation sessions still mediating.");
    describe_gauge!("serbero_escalation_handoffs", "Escalation handoffs the dispatcher decided, by outcome.");
}

/// Notification rows by `(notif_type, status, format)`, counted once: the table is append-only and its
/// ids grow with each commit, so each scrape reads only the rows added since the last one (a
/// full count of a million rows takes most of a second).
#[derive(Debug, Default)]
pub struct NotificationTally {
    last_id: i64,
    counts: BTreeMap<(String, String, String), u64>,
}

impl NotificationTally {
    fn catch_up(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut query = conn.prepare(
            "SELECT notif_type, status, COALESCE(format, 'nip17'), COUNT(*), MAX(id) FROM notifications
                  WHERE id > ?1 GROUP BY 1, 2, 3",
        )?;
        let added = query.query_map([self.last_id], |r| {
            let key = (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?);
            Ok((key, r.get::<_, i64>(3)? as u64, r.get::<_, i64>(4)?))
        })?;
        let mut newest = self.last_id;
        for row in added {
            let (key, n, max_id) = row?;
            *self.counts.entry(key).or_default() += n;
            newest = newest.max(max_id);
        }
        self.last_id = newest;
        Ok(())
    }
}

impl Figures {
    pub fn read(db_path: &Path, tally: &mut NotificationTally) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        tally.catch_up(&conn)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let live: Vec<&str> = OutboxStatus::ALL.iter().filter(|s| s.is_live()).map(|s| s.as_str()).collect();
        let oldest: Option<i64> = conn.query_row(
            &format!("SELECT MIN(created_at) FROM outbox WHERE status IN ('{}')", live.join("','")),
            [],
            |row| row.get(0),
        )?;
        let notifications = tally.counts.iter().map(|((t, s, f), n)| (t.clone(), s.clone(), f.clone(), *n)).collect();
        Ok(Self {
            disputes_by_state: disputes_by_state(&conn)?,
            notifications,
            outbox_by_status: with_zeros(
                OutboxStatus::ALL.map(OutboxStatus::as_str),
                counts(&conn, "SELECT status, COUNT(*) FROM outbox GROUP BY 1")?,
            ),
            outbox_oldest_pending_age: oldest.map_or(0, |at| (now - at).max(0) as u64),
            sessions_by_state: with_zeros(
                SessionState::ALL.map(SessionState::as_str),
                counts(&conn, "SELECT state, COUNT(*) FROM mediation_sessions GROUP BY 1")?,
            ),
            handoffs_by_outcome: with_zeros(
                HANDOFF_OUTCOMES,
                counts(&conn, "SELECT outcome, COUNT(*) FROM escalation_handoffs GROUP BY 1")?,
            ),
        })
    }

    pub fn publish(&self) {
        for (state, n) in &self.disputes_by_state {
            gauge!("serbero_disputes", "state" => state.clone()).set(*n as f64);
        }
        for (notif_type, status, form, n) in &self.notifications {
            let labels = [("type", notif_type.clone()), ("outcome", status.clone()), ("form", form.clone())];
            counter!("serbero_notifications_total", &labels).absolute(*n);
        }
        for (status, n) in &self.outbox_by_status {
            gauge!("serbero_outbox_messages", "status" => status.clone()).set(*n as f64);
        }
        gauge!("serbero_outbox_oldest_pending_age_seconds").set(self.outbox_oldest_pending_age as f64);
        gauge!("serbero_dead_letters").set(count_of(&self.outbox_by_status, OutboxStatus::DeadLettered.as_str()));
        for (state, n) in &self.sessions_by_state {
            gauge!("serbero_mediation_sessions", "state" => state.clone()).set(*n as f64);
        }
        let open: u64 = self
            .sessions_by_state
            .iter()
            .filter(|(state, _)| SessionState::parse(state).is_some_and(SessionState::is_live))
            .map(|(_, n)| n)
            .sum();
        gauge!("serbero_mediation_sessions_open").set(open as f64);
        for (outcome, n) in &self.handoffs_by_outcome {
            gauge!("serbero_escalation_handoffs", "outcome" => outcome.clone()).set(*n as f64);
        }
    }
}

fn count_of(counted: &[(String, u64)], key: &str) -> f64 {
    counted.iter().find(|(k, _)| k == key).map_or(0.0, |(_, n)| *n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serbero_core::storage;

    /// A migrated database file in `dir`, and a connection to write it.
    fn database(dir: &tempfile::TempDir) -> (std::path::PathBuf, Connection) {
        let path = dir.path().join("serbero.db");
        let mut conn = storage::open(&path).unwrap();
        storage::migrate(&mut conn).unwrap();
        (path, conn)
    }

    fn notify(conn: &Connection, notif_type: &str, status: &str, format: &str) {
        conn.execute(
            "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, notif_type, format)
             VALUES ('d', 's', 1, ?1, ?2, ?3)",
            [status, notif_type, format],
        )
        .unwrap();
    }

    fn rows(expected: &[(&str, &str, &str, u64)]) -> Vec<(String, String, String, u64)> {
        expected.iter().map(|(t, s, f, n)| (t.to_string(), s.to_string(), f.to_string(), *n)).collect()
    }

    #[test]
    fn figures_come_from_the_database_and_notifications_are_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        conn.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
             VALUES ('d', 'e', 'm', 'buyer', 1, 1)",
            [],
        )
        .unwrap();
        notify(&conn, "initial", "sent", "nip17");
        notify(&conn, "initial", "failed", "nip17");
        let mut tally = NotificationTally::default();
        let first = Figures::read(&path, &mut tally).unwrap();
        assert_eq!(first.notifications, rows(&[("initial", "failed", "nip17", 1), ("initial", "sent", "nip17", 1)]));
        assert_eq!(first.disputes_by_state[0], ("new".into(), 1));
        assert_eq!(first.outbox_by_status.len(), OutboxStatus::ALL.len(), "every status, zeros included");
        assert_eq!(first.outbox_oldest_pending_age, 0);

        notify(&conn, "initial", "sent", "nip17");
        notify(&conn, "initial", "sent", "mostrix");
        notify(&conn, "assignment", "sent", "nip17");
        let second = Figures::read(&path, &mut tally).unwrap();
        let expected = [
            ("assignment", "sent", "nip17", 1),
            ("initial", "failed", "nip17", 1),
            ("initial", "sent", "mostrix", 1),
            ("initial", "sent", "nip17", 2),
        ];
        assert_eq!(second.notifications, rows(&expected));
        assert_eq!(tally.last_id, 5, "the next scrape reads only rows after the fifth");
    }

    #[test]
    fn the_oldest_row_still_on_its_way_gives_the_age() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let queued = |key: &str, status: &str, age: i64| {
            conn.execute(
                "INSERT INTO outbox (owner, idempotency_key, recipient, notif_type, body, event_id, event_json, status,
                                     next_attempt_at, created_at, updated_at)
                 VALUES ('dispute', ?1, 'r', 'initial', 'b', 'e', '{}', ?2, 0, ?3, ?3)",
                rusqlite::params![key, status, now - age],
            )
            .unwrap();
        };
        queued("a", "sent", 900);
        queued("b", "dead_lettered", 800);
        queued("c", "failed", 100);
        queued("d", "pending", 5);
        let figures = Figures::read(&path, &mut NotificationTally::default()).unwrap();
        assert!((100..=102).contains(&figures.outbox_oldest_pending_age), "{}", figures.outbox_oldest_pending_age);
        assert_eq!(count_of(&figures.outbox_by_status, "dead_lettered"), 1.0);
    }
}
