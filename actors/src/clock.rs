//! Unix-seconds time for stored timestamps. Production reads the system clock; tests that pause
//! tokio's clock use [`Clock::tokio`], so stored times move with the virtual clock that drives
//! the timers and a retry due "in 30 s" is due after a 30 s `sleep`.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug)]
pub enum Clock {
    System,
    Tokio { base_unix: i64, base: tokio::time::Instant },
}

impl Clock {
    pub fn tokio() -> Self {
        Clock::Tokio { base_unix: system_now(), base: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> i64 {
        match self {
            Clock::System => system_now(),
            Clock::Tokio { base_unix, base } => *base_unix + base.elapsed().as_secs() as i64,
        }
    }
}

fn system_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}
