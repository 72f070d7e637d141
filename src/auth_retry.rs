//! Serbero's standing as a Mostro solver, decided from evidence, and the bounded schedule on
//! which it is checked again while not confirmed.

use std::fmt;
use std::time::Duration;

use nostr_sdk::PublicKey;

use crate::backoff::Backoff;
use crate::config::MediationSettings;
use crate::node_info::NodeInfo;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthState {
    /// Registered: mediation sessions may open.
    Authorized,
    /// Not confirmed yet; checks continue on the schedule.
    Unauthorized,
    /// The schedule ran out; nothing is retried until the operator restarts the daemon.
    Terminated,
}

impl AuthState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Unauthorized => "unauthorized",
            Self::Terminated => "terminated",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Authorized, Self::Unauthorized, Self::Terminated].into_iter().find(|s| s.as_str() == value)
    }
}

impl fmt::Display for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the node answered when Serbero tried to take a dispute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TakeOutcome {
    Took,
    /// A `cant-do` with its reason (snake_case, as Mostro sends it).
    CantDo(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Authorized,
    NotAuthorized(String),
    /// Nothing proves either way (an older node that announces no Serbero, no take yet).
    Inconclusive,
}

/// Judges the evidence: the node announcing our key proves registration; otherwise a take
/// decides (success, or a refusal that means "not a solver"). Other refusals, such as a dispute
/// someone else already took, say nothing about us.
pub fn judge(node: Option<&NodeInfo>, us: &PublicKey, take: Option<&TakeOutcome>) -> Verdict {
    if node.is_some_and(|n| n.registers(us)) {
        return Verdict::Authorized;
    }
    match take {
        Some(TakeOutcome::Took) => Verdict::Authorized,
        Some(TakeOutcome::CantDo(reason)) if matches!(reason.as_str(), "invalid_pubkey" | "not_authorized") => {
            Verdict::NotAuthorized(format!("the node refused our take: {reason}"))
        }
        _ if node.is_some_and(|n| n.serbero.is_some()) => {
            Verdict::NotAuthorized("the node announces a different Serbero key".to_string())
        }
        _ => Verdict::Inconclusive,
    }
}

/// The retry schedule from the four `[mediation].solver_auth_retry_*` keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthSchedule {
    pub backoff: Backoff,
    pub max_total: Duration,
    pub max_attempts: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    RetryIn(Duration),
    Terminate,
}

impl AuthSchedule {
    pub fn from_settings(m: &MediationSettings) -> Self {
        Self {
            backoff: Backoff::new(
                Duration::from_secs(m.solver_auth_retry_initial_seconds),
                Duration::from_secs(m.solver_auth_retry_max_interval_seconds),
            ),
            max_total: Duration::from_secs(m.solver_auth_retry_max_total_seconds),
            max_attempts: m.solver_auth_retry_max_attempts,
        }
    }

    /// After failed attempt number `attempt` (1 is the check at start), with `waited` spent
    /// sleeping so far: the next delay, or termination once either bound is reached. The bound is
    /// checked after the attempt, so no attempt is made past it and none is lost before it.
    pub fn after_failure(&self, attempt: u32, waited: Duration) -> Next {
        if attempt >= self.max_attempts || waited >= self.max_total {
            Next::Terminate
        } else {
            Next::RetryIn(self.backoff.delay(attempt))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::NodeInfo;
    use nostr_sdk::Keys;

    fn node(serbero: Option<PublicKey>) -> NodeInfo {
        NodeInfo { protocol_version: 2, pow: 0, pow_first_contact: 0, serbero, created_at: 1 }
    }

    #[test]
    fn evidence_table() {
        let (us, other) = (Keys::generate().public_key(), Keys::generate().public_key());
        let cant = |r: &str| Some(TakeOutcome::CantDo(r.to_string()));
        let not = |why: &str| Verdict::NotAuthorized(why.to_string());
        let cases = [
            (Some(node(Some(us))), None, Verdict::Authorized),
            (Some(node(Some(us))), cant("invalid_pubkey"), Verdict::Authorized),
            (Some(node(None)), Some(TakeOutcome::Took), Verdict::Authorized),
            (None, Some(TakeOutcome::Took), Verdict::Authorized),
            (None, cant("invalid_pubkey"), not("the node refused our take: invalid_pubkey")),
            (Some(node(None)), cant("not_authorized"), not("the node refused our take: not_authorized")),
            (Some(node(None)), cant("invalid_dispute_status"), Verdict::Inconclusive),
            (Some(node(Some(other))), None, not("the node announces a different Serbero key")),
            (Some(node(None)), None, Verdict::Inconclusive),
            (None, None, Verdict::Inconclusive),
        ];
        for (n, take, want) in cases {
            assert_eq!(judge(n.as_ref(), &us, take.as_ref()), want, "{n:?} {take:?}");
        }
    }

    fn schedule(max_total: u64, max_attempts: u32) -> AuthSchedule {
        AuthSchedule {
            backoff: Backoff::new(Duration::from_secs(60), Duration::from_secs(3600)),
            max_total: Duration::from_secs(max_total),
            max_attempts,
        }
    }

    /// Attempts made and seconds slept until termination.
    fn run_to_the_end(s: &AuthSchedule) -> (u32, Vec<u64>) {
        let (mut attempt, mut waited, mut sleeps) = (1, Duration::ZERO, Vec::new());
        while let Next::RetryIn(delay) = s.after_failure(attempt, waited) {
            sleeps.push(delay.as_secs());
            waited += delay;
            attempt += 1;
        }
        (attempt, sleeps)
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let (_, sleeps) = run_to_the_end(&schedule(u64::MAX, 10));
        assert_eq!(sleeps, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn ends_at_the_attempt_cap_with_no_extra_attempt() {
        let (attempts, sleeps) = run_to_the_end(&schedule(86_400, 24));
        assert_eq!(attempts, 24);
        assert_eq!(sleeps.len(), 23);
        assert_eq!(sleeps.iter().sum::<u64>(), 64_980 - 60 + 60, "the 24th attempt comes at 64,980 s");
    }

    #[test]
    fn ends_at_the_time_cap_with_no_extra_attempt() {
        // Sleeps 60, 120, 240: 420 s waited after the 4th attempt, past the 400 s cap.
        let (attempts, sleeps) = run_to_the_end(&schedule(400, 24));
        assert_eq!((attempts, sleeps), (4, vec![60, 120, 240]));
    }

    #[test]
    fn states_round_trip() {
        for s in [AuthState::Authorized, AuthState::Unauthorized, AuthState::Terminated] {
            assert_eq!(AuthState::parse(s.as_str()), Some(s));
        }
    }
}
