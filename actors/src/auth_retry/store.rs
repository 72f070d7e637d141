//! The only writer of `solver_auth` and of the `auth_retry_*` events in `mediation_events`.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serbero_core::auth_retry::AuthState;
use serde_json::Value;

/// The standing stored by an earlier incarnation of the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    pub daemon_run: String,
    pub state: AuthState,
    pub attempts: u32,
    pub waited_seconds: u64,
}

pub(super) fn load(conn: &Connection) -> rusqlite::Result<Option<Stored>> {
    conn.query_row("SELECT daemon_run, state, attempts, waited_seconds FROM solver_auth WHERE id = 1", [], |r| {
        let state: String = r.get(1)?;
        Ok(Stored {
            daemon_run: r.get(0)?,
            state: AuthState::parse(&state).unwrap_or(AuthState::Unauthorized),
            attempts: r.get(2)?,
            waited_seconds: r.get::<_, i64>(3)? as u64,
        })
    })
    .optional()
}

pub(super) fn save(tx: &Transaction<'_>, s: &Stored, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO solver_auth (id, daemon_run, state, attempts, waited_seconds, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET daemon_run = excluded.daemon_run, state = excluded.state,
             attempts = excluded.attempts, waited_seconds = excluded.waited_seconds, updated_at = excluded.updated_at",
        params![s.daemon_run, s.state.as_str(), s.attempts, s.waited_seconds as i64, now],
    )?;
    Ok(())
}

/// Appends `auth_retry_attempt`, `auth_retry_recovered` or `auth_retry_terminated`.
pub(super) fn event(tx: &Transaction<'_>, kind: &str, payload: &Value, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO mediation_events (session_id, kind, payload_json, occurred_at) VALUES (NULL, ?1, ?2, ?3)",
        params![kind, payload.to_string(), now],
    )?;
    Ok(())
}
