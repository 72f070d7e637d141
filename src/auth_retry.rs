//! Serbero's standing as a Mostro solver, judged only from evidence the node gives, and the
//! bounded schedule on which evidence against it is checked again.
//!
//! mostrod says little: its info event names Serbero only on 0.19.x nodes configured with
//! `serbero_pubkey`, and it refuses a take with the same `invalid_pubkey` whether the key is not
//! a solver or someone else got the dispute first (spec/mostro-protocol.md §14.1, §14.4). So
//! silence is its own state (`Unconfirmed`), a refusal counts against Serbero only when no
//! revision explains it, and only evidence against that outlives the schedule ends the standing.

use std::fmt;
use std::time::Duration;

use nostr_sdk::PublicKey;

use crate::backoff::Backoff;
use crate::config::MediationSettings;
use crate::node_info::NodeInfo;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthState {
    /// Proven a solver: the node announces our key, or accepted a take.
    Authorized,
    /// Nothing proves it either way (a node that announces no Serbero, no take yet): takes may
    /// go ahead, and time alone never ends it.
    Unconfirmed,
    /// Evidence against (another announced key, an unexplained refusal): checked again on the
    /// schedule; one take may probe at each check.
    Unauthorized,
    /// Evidence against outlived the schedule; nothing is retried until the daemon restarts.
    Terminated,
}

impl AuthState {
    pub const ALL: [AuthState; 4] = [Self::Authorized, Self::Unconfirmed, Self::Unauthorized, Self::Terminated];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Unconfirmed => "unconfirmed",
            Self::Unauthorized => "unauthorized",
            Self::Terminated => "terminated",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl fmt::Display for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a session learned from the node about one of its takes. Only outcomes that say
/// something about Serbero's registration are reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TakeOutcome {
    /// `admin-took-dispute`.
    Took,
    /// `invalid_pubkey` for a dispute that was `initiated` when asked and that no revision
    /// claimed within the grace period afterwards.
    RefusedUnexplained,
}

/// Where evidence against Serbero came from: a retracted tag withdraws only its own evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    /// The node's info event announces another key as its Serbero.
    OtherKeyAnnounced,
    /// The node refused a take that nothing but our registration explains.
    Refused,
}

impl Against {
    pub fn reason(self) -> &'static str {
        match self {
            Self::OtherKeyAnnounced => "the node announces a different Serbero key",
            Self::Refused => "the node refused a take of an unclaimed dispute (invalid_pubkey)",
        }
    }
}

/// One piece of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    For,
    Against(Against),
    /// The node's info event announces no Serbero: nothing either way, and a tag naming another
    /// key before is withdrawn.
    NoAnnouncement,
}

impl Evidence {
    pub fn of_node_info(node: &NodeInfo, us: &PublicKey) -> Self {
        match node.serbero {
            Some(key) if key == *us => Self::For,
            Some(_) => Self::Against(Against::OtherKeyAnnounced),
            None => Self::NoAnnouncement,
        }
    }

    pub fn of_take(outcome: &TakeOutcome) -> Self {
        match outcome {
            TakeOutcome::Took => Self::For,
            TakeOutcome::RefusedUnexplained => Self::Against(Against::Refused),
        }
    }
}

/// The standing and the schedule's progress, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub state: AuthState,
    pub against: Option<Against>,
    /// Failed checks in the current schedule (the evidence itself is the first).
    pub attempts: u32,
    pub waited_seconds: u64,
}

impl Standing {
    pub const START: Standing =
        Standing { state: AuthState::Unconfirmed, against: None, attempts: 0, waited_seconds: 0 };
}

/// What the actor does after a judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing to schedule or cancel.
    Keep,
    /// Check again after this long (replacing any pending check).
    RetryIn(Duration),
    /// No more checks.
    Cancel,
}

/// The retry schedule from the four `[mediation].solver_auth_retry_*` keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthSchedule {
    pub backoff: Backoff,
    pub max_total: Duration,
    pub max_attempts: u32,
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

    /// New evidence. Evidence for ends any schedule; new evidence against starts one (failed
    /// check number 1) unless one runs already; a retracted tag withdraws its own evidence.
    pub fn on_evidence(&self, s: &Standing, evidence: Evidence) -> (Standing, Effect) {
        if s.state == AuthState::Terminated {
            return (s.clone(), Effect::Keep);
        }
        match evidence {
            Evidence::For => (Standing { state: AuthState::Authorized, ..Standing::START }, Effect::Cancel),
            Evidence::Against(why) if s.state == AuthState::Unauthorized => {
                (Standing { against: Some(why), ..s.clone() }, Effect::Keep)
            }
            Evidence::Against(why) => {
                let started = Standing { state: AuthState::Unauthorized, against: Some(why), ..Standing::START };
                self.failed_check(&started)
            }
            Evidence::NoAnnouncement if s.against == Some(Against::OtherKeyAnnounced) => {
                (Standing::START, Effect::Cancel)
            }
            Evidence::NoAnnouncement => (s.clone(), Effect::Keep),
        }
    }

    /// A scheduled check found nothing that refutes the evidence against.
    pub fn failed_check(&self, s: &Standing) -> (Standing, Effect) {
        let attempts = s.attempts + 1;
        if attempts >= self.max_attempts || Duration::from_secs(s.waited_seconds) >= self.max_total {
            let ended = Standing { state: AuthState::Terminated, attempts, ..s.clone() };
            return (ended, Effect::Cancel);
        }
        let delay = self.backoff.delay(attempts);
        let waiting = Standing { attempts, waited_seconds: s.waited_seconds + delay.as_secs(), ..s.clone() };
        (waiting, Effect::RetryIn(delay))
    }
}

/// How many sessions may try a take now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    All,
    /// One probe at a scheduled check while evidence stands against Serbero.
    One,
    None,
}

pub fn takes_allowed(state: AuthState, probe_due: bool) -> Takes {
    match state {
        AuthState::Authorized | AuthState::Unconfirmed => Takes::All,
        AuthState::Unauthorized if probe_due => Takes::One,
        AuthState::Unauthorized | AuthState::Terminated => Takes::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::Keys;

    fn schedule(max_total: u64, max_attempts: u32) -> AuthSchedule {
        AuthSchedule {
            backoff: Backoff::new(Duration::from_secs(60), Duration::from_secs(3600)),
            max_total: Duration::from_secs(max_total),
            max_attempts,
        }
    }

    fn standing(state: AuthState, against: Option<Against>, attempts: u32) -> Standing {
        Standing { state, against, attempts, waited_seconds: 0 }
    }

    #[test]
    fn node_info_and_takes_as_evidence() {
        let (us, other) = (Keys::generate().public_key(), Keys::generate().public_key());
        let info = |serbero| NodeInfo { serbero, ..NodeInfo::default() };
        assert_eq!(Evidence::of_node_info(&info(Some(us)), &us), Evidence::For);
        assert_eq!(Evidence::of_node_info(&info(Some(other)), &us), Evidence::Against(Against::OtherKeyAnnounced));
        assert_eq!(Evidence::of_node_info(&info(None), &us), Evidence::NoAnnouncement);
        assert_eq!(Evidence::of_take(&TakeOutcome::Took), Evidence::For);
        assert_eq!(Evidence::of_take(&TakeOutcome::RefusedUnexplained), Evidence::Against(Against::Refused));
    }

    #[test]
    fn evidence_table() {
        use AuthState::*;
        let s = schedule(86_400, 24);
        let tag = Some(Against::OtherKeyAnnounced);
        let refused = Some(Against::Refused);
        let first_retry = Effect::RetryIn(Duration::from_secs(60));
        #[rustfmt::skip]
        let cases = [
            // (before, evidence, after, effect)
            (Standing::START, Evidence::NoAnnouncement, Standing::START, Effect::Keep),
            (Standing::START, Evidence::For, standing(Authorized, None, 0), Effect::Cancel),
            (Standing::START, Evidence::Against(Against::Refused), Standing { waited_seconds: 60, ..standing(Unauthorized, refused, 1) }, first_retry),
            (standing(Authorized, None, 0), Evidence::Against(Against::OtherKeyAnnounced), Standing { waited_seconds: 60, ..standing(Unauthorized, tag, 1) }, first_retry),
            (standing(Authorized, None, 0), Evidence::NoAnnouncement, standing(Authorized, None, 0), Effect::Keep),
            (standing(Unauthorized, refused, 3), Evidence::Against(Against::OtherKeyAnnounced), standing(Unauthorized, tag, 3), Effect::Keep),
            (standing(Unauthorized, refused, 3), Evidence::NoAnnouncement, standing(Unauthorized, refused, 3), Effect::Keep),
            (standing(Unauthorized, tag, 3), Evidence::NoAnnouncement, Standing::START, Effect::Cancel),
            (standing(Unauthorized, refused, 3), Evidence::For, standing(Authorized, None, 0), Effect::Cancel),
            (standing(Terminated, refused, 24), Evidence::For, standing(Terminated, refused, 24), Effect::Keep),
        ];
        for (before, evidence, after, effect) in cases {
            assert_eq!(s.on_evidence(&before, evidence), (after, effect), "{before:?} + {evidence:?}");
        }
    }

    /// Attempts made and seconds slept from the first evidence against until termination.
    fn run_to_the_end(s: &AuthSchedule) -> (u32, Vec<u64>) {
        let (mut standing, mut effect) = s.on_evidence(&Standing::START, Evidence::Against(Against::Refused));
        let mut sleeps = Vec::new();
        while let Effect::RetryIn(delay) = effect {
            sleeps.push(delay.as_secs());
            (standing, effect) = s.failed_check(&standing);
        }
        assert_eq!(standing.state, AuthState::Terminated);
        (standing.attempts, sleeps)
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
        assert_eq!(sleeps.iter().sum::<u64>(), 64_980, "the 24th check comes 64,980 s after the evidence");
    }

    #[test]
    fn ends_at_the_time_cap_with_no_extra_attempt() {
        // Sleeps 60, 120, 240: 420 s waited after the 4th check, past the 400 s cap.
        let (attempts, sleeps) = run_to_the_end(&schedule(400, 24));
        assert_eq!((attempts, sleeps), (4, vec![60, 120, 240]));
    }

    #[test]
    fn who_may_take() {
        use AuthState::*;
        let cases = [
            (Authorized, false, Takes::All),
            (Unconfirmed, false, Takes::All),
            (Unauthorized, true, Takes::One),
            (Unauthorized, false, Takes::None),
            (Terminated, true, Takes::None),
        ];
        for (state, probe, takes) in cases {
            assert_eq!(takes_allowed(state, probe), takes, "{state} probe={probe}");
        }
    }

    #[test]
    fn states_round_trip() {
        for s in AuthState::ALL {
            assert_eq!(AuthState::parse(s.as_str()), Some(s));
        }
    }
}
