//! Sections `[mediation]`, `[chat]` and `[escalation]`: how Serbero mediates a dispute, reads
//! the parties' chat and hands a dispute over to the solvers.

use serde::Deserialize;

/// Section `[mediation]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MediationSettings {
    pub enabled: bool,
    pub max_rounds: u32,
    /// 0 disables the party-response timeout.
    pub party_response_timeout_seconds: u64,
    pub solver_auth_retry_initial_seconds: u64,
    pub solver_auth_retry_max_interval_seconds: u64,
    pub solver_auth_retry_max_total_seconds: u64,
    pub solver_auth_retry_max_attempts: u32,
    /// How long a take request waits for the node's answer before it is recorded as unanswered.
    pub take_timeout_seconds: u64,
    /// A session still open this long after it started escalates (`mediation_timeout`); 0
    /// disables it.
    pub session_timeout_seconds: u64,
    /// A session waiting this long for the parties leaves memory until one of them writes or
    /// one of its timers comes due.
    pub idle_hibernate_seconds: u64,
    /// Where the questions parties read come from.
    pub party_questions: PartyQuestions,
    /// With `party_questions = "model"`: a separate model call with a fixed guard prompt judges
    /// each question too; a failed or unclear answer suppresses it.
    pub question_guard: bool,
    /// After a handoff, what the parties write is forwarded once they were silent this long...
    pub transcript_quiet_seconds: u64,
    /// ...or this long after the first unforwarded message, whichever comes first.
    pub transcript_max_wait_seconds: u64,
}

/// `[mediation].party_questions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyQuestions {
    /// Reviewed templates shipped with Serbero (`messages/`); the model only chooses which.
    #[default]
    Catalog,
    /// The model writes them, behind layered checks that fail closed.
    Model,
}

impl Default for MediationSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            max_rounds: 2,
            party_response_timeout_seconds: 1800,
            solver_auth_retry_initial_seconds: 60,
            solver_auth_retry_max_interval_seconds: 3600,
            solver_auth_retry_max_total_seconds: 86_400,
            solver_auth_retry_max_attempts: 24,
            take_timeout_seconds: 15,
            session_timeout_seconds: 259_200,
            idle_hibernate_seconds: 60,
            party_questions: PartyQuestions::Catalog,
            question_guard: true,
            transcript_quiet_seconds: 60,
            transcript_max_wait_seconds: 300,
        }
    }
}

/// Section `[chat]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    pub inbound_fetch_interval_seconds: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self { inbound_fetch_interval_seconds: 10 }
    }
}

/// Section `[escalation]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct EscalationSettings {
    pub enabled: bool,
    pub dispatch_interval_seconds: u64,
    /// Send a handoff to every solver when no `write` solver can take it.
    pub fallback_to_all_solvers: bool,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self { enabled: false, dispatch_interval_seconds: 30, fallback_to_all_solvers: false }
    }
}
