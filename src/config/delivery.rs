//! How solvers' notifications get out: re-notification of disputes nobody picked up
//! (`[timeouts]`) and the outbox's retry policy (`[outbox]`).

use serde::Deserialize;

/// Section `[timeouts]`: re-notification of disputes nobody has picked up.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    pub renotification_seconds: u64,
    pub renotification_check_interval_seconds: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { renotification_seconds: 300, renotification_check_interval_seconds: 60 }
    }
}

/// Delivery policy of the outbox (our addition; section `[outbox]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct OutboxSettings {
    /// After this many failed attempts a row is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; it doubles on every further failure.
    pub retry_initial_seconds: u64,
    /// Cap of the retry delay.
    pub retry_max_seconds: u64,
    /// A claimed row not resolved within this time is retried.
    pub claim_ttl_seconds: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { max_attempts: 10, retry_initial_seconds: 5, retry_max_seconds: 300, claim_ttl_seconds: 60 }
    }
}
