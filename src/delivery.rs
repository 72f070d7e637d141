//! The outbox's delivery policy: row statuses and what a failed attempt leads to. The SQL lives
//! with the actors; this is the part worth testing on its own.

use std::fmt;
use std::time::Duration;

use crate::backoff::Backoff;

/// `outbox.status`: `pending → claimed → sent`, or `failed` (retried later) and finally
/// `dead_lettered`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    Pending,
    Claimed,
    Sent,
    Failed,
    DeadLettered,
    /// Given up on purpose: what it said may no longer be said (a human took the dispute over).
    Withdrawn,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 6] =
        [Self::Pending, Self::Claimed, Self::Sent, Self::Failed, Self::DeadLettered, Self::Withdrawn];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::DeadLettered => "dead_lettered",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Still on its way: will be (re)published without anyone's help.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Claimed | Self::Failed)
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff: Backoff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    DeadLetter,
}

impl RetryPolicy {
    /// `attempts` counts the attempt that just failed.
    pub fn after_failure(&self, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts {
            AfterFailure::DeadLetter
        } else {
            AfterFailure::RetryIn(self.backoff.delay(attempts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_then_dead_letter() {
        let policy =
            RetryPolicy { max_attempts: 4, backoff: Backoff::new(Duration::from_secs(2), Duration::from_secs(5)) };
        let got: Vec<AfterFailure> = (1..=5).map(|n| policy.after_failure(n)).collect();
        let secs = |s| AfterFailure::RetryIn(Duration::from_secs(s));
        assert_eq!(got, [secs(2), secs(4), secs(5), AfterFailure::DeadLetter, AfterFailure::DeadLetter]);
    }

    #[test]
    fn statuses_round_trip_and_liveness() {
        for s in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::parse(s.as_str()), Some(s));
        }
        let live: Vec<_> = OutboxStatus::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, [OutboxStatus::Pending, OutboxStatus::Claimed, OutboxStatus::Failed]);
    }
}
