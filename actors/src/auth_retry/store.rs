//! The only writer of `solver_auth` and of the `auth_retry_*` events in `mediation_events`.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serbero_core::audit::EventKind;
use serbero_core::auth_retry::{Against, AuthState, Standing};
use serde_json::Value;

/// The daemon run and the standing stored by an earlier incarnation of the actor.
pub(super) fn load(conn: &Connection) -> rusqlite::Result<Option<(String, Standing)>> {
    conn.query_row(
        "SELECT daemon_run, state, against, attempts, waited_seconds FROM solver_auth WHERE id = 1",
        [],
        |r| {
            let state: String = r.get(1)?;
            let against: Option<String> = r.get(2)?;
            let standing = Standing {
                state: AuthState::parse(&state).unwrap_or(AuthState::Unconfirmed),
                against: against.as_deref().and_then(parse_against),
                attempts: r.get(3)?,
                waited_seconds: r.get::<_, i64>(4)? as u64,
            };
            Ok((r.get(0)?, standing))
        },
    )
    .optional()
}

fn against_str(against: Against) -> &'static str {
    match against {
        Against::OtherKeyAnnounced => "other_key_announced",
        Against::Refused => "refused",
    }
}

fn parse_against(value: &str) -> Option<Against> {
    [Against::OtherKeyAnnounced, Against::Refused].into_iter().find(|a| against_str(*a) == value)
}

pub(super) fn save(tx: &Transaction<'_>, daemon_run: &str, s: &Standing, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO solver_auth (id, daemon_run, state, against, attempts, waited_seconds, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET daemon_run = excluded.daemon_run, state = excluded.state,
             against = excluded.against, attempts = excluded.attempts,
             waited_seconds = excluded.waited_seconds, updated_at = excluded.updated_at",
        params![daemon_run, s.state.as_str(), s.against.map(against_str), s.attempts, s.waited_seconds as i64, now],
    )?;
    Ok(())
}

/// Appends `auth_retry_attempt`, `auth_retry_recovered` or `auth_retry_terminated`.
pub(super) fn event(tx: &Transaction<'_>, kind: EventKind, payload: &Value, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO mediation_events (session_id, kind, payload_json, occurred_at) VALUES (NULL, ?1, ?2, ?3)",
        params![kind.as_str(), payload.to_string(), now],
    )?;
    Ok(())
}
