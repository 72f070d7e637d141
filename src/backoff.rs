//! Truncated exponential backoff: the delay doubles from `initial` and never exceeds `max`.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max: max.max(initial) }
    }

    /// Delay before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(32);
        self.initial.saturating_mul(1u32 << doublings.min(31)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let got: Vec<u64> = (1..=7).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(b.delay(0).as_secs(), 5);
        assert_eq!(b.delay(u32::MAX).as_secs(), 60);
    }

    #[test]
    fn max_below_initial_is_raised_to_initial() {
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(b.delay(3), Duration::from_secs(10));
    }
}
