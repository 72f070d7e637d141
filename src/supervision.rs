//! The supervisor's restart budget: at most `max_restarts` within any `window`. Past it, a
//! crash loop is not healed by restarting again; the daemon stops and the service manager
//! (with its own backoff) takes over.

use std::collections::VecDeque;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RestartBudget {
    max_restarts: usize,
    window: Duration,
    recent: VecDeque<Duration>,
}

impl RestartBudget {
    pub fn new(max_restarts: usize, window: Duration) -> Self {
        Self { max_restarts, window, recent: VecDeque::new() }
    }

    /// Records a restart at `now` (time since any fixed origin) if the budget allows it.
    pub fn allow(&mut self, now: Duration) -> bool {
        while self.recent.front().is_some_and(|t| now.saturating_sub(*t) >= self.window) {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max_restarts {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_limit_within_the_window() {
        let mut budget = RestartBudget::new(3, Duration::from_secs(60));
        let s = Duration::from_secs;
        let script = [
            (0, true),
            (10, true),
            (20, true),
            (30, false),
            (59, false),
            (60, true),
            (71, true),
            (75, false),
            (81, true),
        ];
        for (at, want) in script {
            assert_eq!(budget.allow(s(at)), want, "restart at {at}s");
        }
    }

    #[test]
    fn zero_budget_never_restarts() {
        assert!(!RestartBudget::new(0, Duration::from_secs(1)).allow(Duration::ZERO));
    }
}
