//! Shared by the end-to-end tests: a daemon on a temp database against an in-process relay.
#![allow(dead_code)] // each test file uses a different part of this module

use std::path::{Path, PathBuf};
use std::time::Duration;

use nostr_sdk::prelude::*;
use serbero::sim::{SimMostro, SolverInbox, TestRelay};
use serbero_core::config::{Config, Permission, Solver};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(20);

/// One test's world: a relay, a temp directory with the database, Serbero's and Mostro's keys.
pub struct World {
    pub relay: TestRelay,
    pub dir: tempfile::TempDir,
    pub serbero: Keys,
    pub mostro: SimMostro,
}

impl World {
    pub async fn new() -> Self {
        let relay = TestRelay::start().await.expect("relay");
        let mostro = SimMostro::connect(Keys::generate(), &relay.url()).await.expect("mostro");
        Self { relay, dir: tempfile::tempdir().expect("tempdir"), serbero: Keys::generate(), mostro }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("serbero.db")
    }

    pub async fn solver(&self) -> SolverInbox {
        SolverInbox::start(&self.relay.url()).await.expect("solver inbox")
    }

    /// A configuration notifying `solvers`, with quick outbox retries for tests.
    pub fn config(&self, solvers: &[&SolverInbox]) -> Config {
        let solvers = solvers.iter().map(|s| Solver { pubkey: s.pubkey(), permission: Permission::Read }).collect();
        let mut config = Config::minimal(self.serbero.clone(), self.mostro.keys.public_key(), vec![self.relay.url()], solvers, self.db_path());
        config.outbox.retry_initial_seconds = 1;
        config.outbox.retry_max_seconds = 2;
        config
    }
}

/// The whole daemon, run in-process until told to stop.
pub struct Daemon {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Starts the daemon and waits until its dispute subscription reached the relay.
    pub async fn start(config: Config) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serbero::daemon::run(config, async move {
            let _ = stopped.await;
        }));
        // The subscription is sent right after connecting; give the relay a moment to register it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Self { stop, task }
    }

    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Signals shutdown and asserts a clean stop within a few seconds.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("daemon stops in time");
        result.expect("daemon task").expect("daemon exits cleanly");
    }
}

/// `SELECT COUNT(*)`-style scalar from a fresh connection.
pub fn scalar(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// Waits until `sql` yields at least `want`; false on timeout.
pub async fn wait_for_scalar(db: &Path, sql: &str, want: i64, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if db.exists() && scalar(db, sql) >= want {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that no further DM reaches `inbox` beyond `count` within `window`.
pub async fn assert_quiet(inbox: &SolverInbox, count: usize, window: Duration) {
    assert!(!inbox.wait_for(count + 1, window).await, "unexpected DM: {:?}", inbox.messages().last());
}

pub fn dispute_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
