//! Section `[retention]`: how long Serbero keeps what it is done with. Delivered (or abandoned)
//! outbox rows, the `notifications` audit rows and the party chat of mediations whose dispute
//! was resolved would otherwise grow forever; what dedup and restarts rely on is never pruned
//! (see `serbero_core::retention`).

use serde::Deserialize;

/// Kept when the section or the key is absent: a quarter of a year of delivery history and
/// chat, long after any dispute a solver still works on.
pub const DEFAULT_DAYS: u32 = 90;

/// The longest retention, ten years: as long as the longest `*_seconds` value, so the cutoff
/// (`now - days`) is always a plain Unix time.
pub const MAX_DAYS: u64 = 3650;

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// Section `[retention]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Rows are pruned once they have been finished with for this many days; 0 keeps everything.
    pub days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self { days: DEFAULT_DAYS }
    }
}

impl RetentionSettings {
    /// The Unix time at `now` before which finished rows may go; `None` with `days = 0`, which
    /// prunes nothing.
    pub fn cutoff(&self, now: i64) -> Option<i64> {
        (self.days > 0).then(|| now.saturating_sub(i64::from(self.days) * SECONDS_PER_DAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_days_before_now_and_absent_when_everything_is_kept() {
        const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
        let cases: &[(u32, i64, Option<i64>)] = &[
            (0, NOW, None),
            (1, NOW, Some(NOW - 86_400)),
            (DEFAULT_DAYS, NOW, Some(1_759_449_600)), // 2025-10-03T00:00:00Z
            (MAX_DAYS as u32, NOW, Some(NOW - 315_360_000)),
            // A clock near the epoch (a test's) gives a cutoff before it: nothing is that old.
            (30, 0, Some(-2_592_000)),
            (u32::MAX, i64::MIN + 1, Some(i64::MIN)),
        ];
        for &(days, now, want) in cases {
            assert_eq!(RetentionSettings { days }.cutoff(now), want, "days = {days}, now = {now}");
        }
    }

    #[test]
    fn ninety_days_unless_told_otherwise() {
        assert_eq!(RetentionSettings::default(), RetentionSettings { days: 90 });
        assert_eq!(MAX_DAYS as i64 * SECONDS_PER_DAY, crate::config::MAX_SECONDS as i64);
    }
}
