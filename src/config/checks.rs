//! Checks across the assembled configuration: the largest value each duration and count may
//! take, the intervals that must not be zero, and handoffs that could reach nobody.

use super::error::{invalid, ConfigError};
use super::{retention, Config, Permission};

/// Ten years, the longest any `*_seconds` value may be: far beyond any sensible timeout, and
/// small enough that adding it to a Unix time (`now + seconds as i64`) or doubling it in a
/// backoff can never overflow.
pub const MAX_SECONDS: u64 = 315_360_000;

/// The most attempts or rounds a count may ask for: more than any operator means, and far from
/// the end of the `u32` counters they are compared with and incremented in.
pub const MAX_ATTEMPTS: u64 = 10_000;

/// The most extra attempts of one model call; each may wait `request_timeout_seconds`.
pub const MAX_MODEL_RETRIES: u64 = 100;

/// The largest value `key` may take, and that value in words (or empty): [`MAX_SECONDS`] for
/// every `*_seconds` key, a limit of its own for each count.
pub fn limit_of(key: &str) -> Option<(u64, &'static str)> {
    match key {
        "outbox.max_attempts" | "mediation.solver_auth_retry_max_attempts" | "mediation.max_rounds" => {
            Some((MAX_ATTEMPTS, ""))
        }
        "reasoning.followup_retry_count" => Some((MAX_MODEL_RETRIES, "")),
        "retention.days" => Some((retention::MAX_DAYS, "ten years")),
        key if key.ends_with("_seconds") => Some((MAX_SECONDS, "ten years")),
        _ => None,
    }
}

/// Every duration and count the configuration takes, so that no value near `u64::MAX` reaches
/// the arithmetic on times and counters; each is held to [`limit_of`] its key. A new
/// `*_seconds` key is one line here; a test checks that every one in the sample is.
pub(crate) fn bounded_values(config: &Config) -> [(&'static str, u64); 22] {
    let (timeouts, mediation, outbox, reasoning) =
        (&config.timeouts, &config.mediation, &config.outbox, &config.reasoning);
    [
        ("timeouts.renotification_seconds", timeouts.renotification_seconds),
        ("timeouts.renotification_check_interval_seconds", timeouts.renotification_check_interval_seconds),
        ("outbox.max_attempts", u64::from(outbox.max_attempts)),
        ("outbox.retry_initial_seconds", outbox.retry_initial_seconds),
        ("outbox.retry_max_seconds", outbox.retry_max_seconds),
        ("outbox.claim_ttl_seconds", outbox.claim_ttl_seconds),
        ("escalation.dispatch_interval_seconds", config.escalation.dispatch_interval_seconds),
        ("chat.inbound_fetch_interval_seconds", config.chat.inbound_fetch_interval_seconds),
        ("mediation.max_rounds", u64::from(mediation.max_rounds)),
        ("mediation.party_response_timeout_seconds", mediation.party_response_timeout_seconds),
        ("mediation.solver_auth_retry_initial_seconds", mediation.solver_auth_retry_initial_seconds),
        ("mediation.solver_auth_retry_max_interval_seconds", mediation.solver_auth_retry_max_interval_seconds),
        ("mediation.solver_auth_retry_max_total_seconds", mediation.solver_auth_retry_max_total_seconds),
        ("mediation.solver_auth_retry_max_attempts", u64::from(mediation.solver_auth_retry_max_attempts)),
        ("mediation.take_timeout_seconds", mediation.take_timeout_seconds),
        ("mediation.session_timeout_seconds", mediation.session_timeout_seconds),
        ("mediation.idle_hibernate_seconds", mediation.idle_hibernate_seconds),
        ("mediation.transcript_quiet_seconds", mediation.transcript_quiet_seconds),
        ("mediation.transcript_max_wait_seconds", mediation.transcript_max_wait_seconds),
        ("reasoning.request_timeout_seconds", reasoning.request_timeout_seconds),
        ("reasoning.followup_retry_count", u64::from(reasoning.followup_retry_count)),
        ("retention.days", u64::from(config.retention.days)),
    ]
}

/// A value above its key's limit is refused, naming the key.
pub(super) fn check_bounds(config: &Config) -> Result<(), ConfigError> {
    for (key, value) in bounded_values(config) {
        let (max, in_words) = limit_of(key).unwrap_or((u64::MAX, ""));
        if value > max {
            return Err(invalid(key, above_limit(&value.to_string(), max, in_words)));
        }
    }
    Ok(())
}

pub(super) fn above_limit(value: &str, max: u64, in_words: &str) -> String {
    let in_words = if in_words.is_empty() { String::new() } else { format!(" ({in_words})") };
    format!("{value} is more than the largest allowed, {max}{in_words}")
}

/// A zero interval would spin a timer or give up at once; `party_response_timeout_seconds` is
/// not here because 0 means "disabled".
pub(super) fn check_intervals(config: &Config) -> Result<(), ConfigError> {
    let (timeouts, mediation, outbox) = (&config.timeouts, &config.mediation, &config.outbox);
    let must_be_positive = [
        ("timeouts.renotification_seconds", timeouts.renotification_seconds),
        ("timeouts.renotification_check_interval_seconds", timeouts.renotification_check_interval_seconds),
        ("escalation.dispatch_interval_seconds", config.escalation.dispatch_interval_seconds),
        ("chat.inbound_fetch_interval_seconds", config.chat.inbound_fetch_interval_seconds),
        ("mediation.solver_auth_retry_initial_seconds", mediation.solver_auth_retry_initial_seconds),
        ("mediation.solver_auth_retry_max_interval_seconds", mediation.solver_auth_retry_max_interval_seconds),
        ("mediation.solver_auth_retry_max_total_seconds", mediation.solver_auth_retry_max_total_seconds),
        ("mediation.solver_auth_retry_max_attempts", u64::from(mediation.solver_auth_retry_max_attempts)),
        ("mediation.take_timeout_seconds", mediation.take_timeout_seconds),
        ("mediation.idle_hibernate_seconds", mediation.idle_hibernate_seconds),
        ("mediation.transcript_quiet_seconds", mediation.transcript_quiet_seconds),
        ("mediation.transcript_max_wait_seconds", mediation.transcript_max_wait_seconds),
        ("outbox.max_attempts", u64::from(outbox.max_attempts)),
        ("outbox.retry_initial_seconds", outbox.retry_initial_seconds),
        ("outbox.retry_max_seconds", outbox.retry_max_seconds),
        ("outbox.claim_ttl_seconds", outbox.claim_ttl_seconds),
    ];
    if let Some((key, _)) = must_be_positive.iter().find(|(_, value)| *value == 0) {
        return Err(invalid(*key, "must be greater than 0"));
    }
    if outbox.retry_initial_seconds > outbox.retry_max_seconds {
        let problem = format!(
            "{} is larger than outbox.retry_max_seconds ({})",
            outbox.retry_initial_seconds, outbox.retry_max_seconds
        );
        return Err(invalid("outbox.retry_initial_seconds", problem));
    }
    Ok(())
}

/// Handoffs go to `write` solvers, or to everyone with the fallback; with neither, none arrives.
pub(super) fn warn_if_handoffs_unroutable(config: &Config, warnings: &mut Vec<String>) {
    let escalation = &config.escalation;
    let has_write_solver = config.solvers.iter().any(|solver| solver.permission == Permission::Write);
    if escalation.enabled && !escalation.fallback_to_all_solvers && !has_write_solver {
        warnings.push(
            "escalation.enabled is true but no solver has permission = \"write\" and \
             escalation.fallback_to_all_solvers is false; handoffs cannot be delivered"
                .to_owned(),
        );
    }
}
