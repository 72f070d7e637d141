//! Shared by the end-to-end tests: a daemon on a temp database against an in-process relay.
#![allow(dead_code)] // each test file uses a different part of this module

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nostr_relay_builder::prelude::{LocalRelay, PolicyResult, RateLimit, RelayBuilder, WritePolicy};
use nostr_sdk::prelude::*;
use rusqlite::types::ValueRef;
use serbero::sim::{ReceivedDm, SimMostro, SolverInbox, TestRelay};
use serbero_core::config::{Config, Permission, Solver};
use serbero_core::dispute::DISPUTE_EVENT_KIND;
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
        let solvers: Vec<PublicKey> = solvers.iter().map(|s| s.pubkey()).collect();
        test_config(&self.serbero, &self.mostro.keys, vec![self.relay.url()], &solvers, self.db_path())
    }
}

/// Serbero on `relays` watching `mostro` and notifying `solvers` (read permission), with quick
/// outbox retries for tests.
pub fn test_config(serbero: &Keys, mostro: &Keys, relays: Vec<RelayUrl>, solvers: &[PublicKey], db: PathBuf) -> Config {
    let solvers = solvers.iter().map(|pubkey| Solver { pubkey: *pubkey, permission: Permission::Read }).collect();
    let mut config = Config::minimal(serbero.clone(), mostro.public_key(), relays, solvers, db);
    config.outbox.retry_initial_seconds = 1;
    config.outbox.retry_max_seconds = 2;
    config
}

/// The whole daemon, run in-process until told to stop.
pub struct Daemon {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Starts the daemon and waits until its dispute subscription reached the relay.
    pub async fn start(config: Config) -> Self {
        let running = serbero::daemon::start(config).await.expect("daemon starts");
        running.ready().await.expect("daemon ready");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(running.run_until(async move {
            let _ = stopped.await;
        }));
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

/// Waits for the first DM (among all received so far and to come) whose text contains `needle`.
pub async fn dm_containing(inbox: &SolverInbox, needle: &str) -> Option<ReceivedDm> {
    let mut seen = 0;
    while let Some(dm) = inbox.next_after(seen, WAIT).await {
        if dm.text.contains(needle) {
            return Some(dm);
        }
        seen += 1;
    }
    None
}

pub fn dispute_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Every row of `sql`, its columns joined by `|` (NULL shown as `NULL`), from a fresh connection.
pub fn rows(db: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut stmt = conn.prepare(sql).expect(sql);
    let width = stmt.column_count();
    stmt.query_map([], |r| {
        let cells: rusqlite::Result<Vec<String>> = (0..width)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => "NULL".to_string(),
                    ValueRef::Integer(n) => n.to_string(),
                    ValueRef::Real(x) => x.to_string(),
                    ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                })
            })
            .collect();
        Ok(cells?.join("|"))
    })
    .expect(sql)
    .collect::<rusqlite::Result<_>>()
    .expect(sql)
}

/// Waits until `dispute` is stored in lifecycle state `state`; false on timeout.
pub async fn wait_for_state(db: &Path, dispute: &str, state: &str) -> bool {
    let sql = format!("SELECT COUNT(*) FROM disputes WHERE dispute_id = '{dispute}' AND lifecycle_state = '{state}'");
    wait_for_scalar(db, &sql, 1, WAIT).await
}

/// The state transitions of `dispute` in order, as `from|to|trigger`.
pub fn transitions(db: &Path, dispute: &str) -> Vec<String> {
    rows(db, &format!("SELECT from_state, to_state, trigger FROM dispute_state_transitions WHERE dispute_id = '{dispute}' ORDER BY id"))
}

/// A tag from its name and value, e.g. `tag("p", &hex)`.
pub fn tag(name: &str, value: &str) -> Tag {
    Tag::parse([name, value]).expect("tag")
}

/// A kind 38386 event with exactly `tags`, signed by `author`: for events Mostro would never
/// publish (missing or oversized tags).
pub fn signed_dispute(author: &Keys, tags: &[(&str, &str)]) -> Event {
    let tags = tags.iter().map(|(name, value)| tag(name, value));
    EventBuilder::new(Kind::Custom(DISPUTE_EVENT_KIND), "").tags(tags).sign_with_keys(author).expect("sign")
}

/// The initial notification exactly as spec/core.md §2.6 words it.
pub fn initial_dm(dispute: &str, initiator: &str, event: &Event) -> String {
    format!(
        "New Mostro dispute requires attention.\ndispute_id: {dispute}\ninitiator: {initiator}\nevent_timestamp: {}\nstatus: initiated",
        event.created_at.as_secs()
    )
}

/// The assignment notification exactly as spec/core.md §2.6 words it.
pub fn assignment_dm(dispute: &str, assigned_solver: &str) -> String {
    format!("Mostro dispute has been taken.\ndispute_id: {dispute}\nassigned_solver: {assigned_solver}\nlifecycle_state: taken")
}

/// A loopback port nothing listens on (for a relay that is down, or started later).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A relay that stores everything except gift wraps, which it refuses with `OK false`: Mostro's
/// relay in tests where no relay may accept Serbero's DMs.
pub struct GiftWrapRefusingRelay {
    /// Runs until dropped.
    _relay: LocalRelay,
    url: RelayUrl,
}

#[derive(Debug)]
struct RefuseGiftWraps;

impl WritePolicy for RefuseGiftWraps {
    fn admit_event<'a>(&'a self, event: &'a Event, _addr: &'a SocketAddr) -> BoxedFuture<'a, PolicyResult> {
        let refused = event.kind == Kind::GiftWrap;
        Box::pin(async move {
            if refused {
                PolicyResult::Reject("gift wraps are not accepted here".to_string())
            } else {
                PolicyResult::Accept
            }
        })
    }
}

impl GiftWrapRefusingRelay {
    pub async fn start() -> Self {
        let builder = RelayBuilder::default()
            .addr("127.0.0.1".parse().expect("loopback"))
            .rate_limit(RateLimit { max_reqs: 1_000, notes_per_minute: 1_000_000 })
            .write_policy(RefuseGiftWraps);
        let relay = LocalRelay::new(builder);
        relay.run().await.expect("gift-wrap refusing relay");
        let url = relay.url().await;
        Self { _relay: relay, url }
    }

    pub fn url(&self) -> RelayUrl {
        self.url.clone()
    }
}

/// A TCP forwarder in front of a relay: the daemon connects through it, and the test can cut
/// every connection (the relay is down for the daemon) and restore it (the relay came back).
/// Stopping an in-process relay is not enough: a connection mid-handshake survives it.
pub struct Link {
    port: u16,
    relay_port: u16,
    forwarding: Option<JoinHandle<()>>,
}

impl Link {
    pub async fn open(relay: &TestRelay) -> Self {
        let mut link = Self { port: free_port(), relay_port: relay.port(), forwarding: None };
        link.restore().await;
        link
    }

    pub fn url(&self) -> RelayUrl {
        RelayUrl::parse(&format!("ws://127.0.0.1:{}", self.port)).expect("link url")
    }

    /// Closes the listener and every forwarded connection.
    pub fn cut(&mut self) {
        if let Some(forwarding) = self.forwarding.take() {
            forwarding.abort();
        }
    }

    pub async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("link port");
        let relay_port = self.relay_port;
        self.forwarding = Some(tokio::spawn(async move {
            // Dropped with this task, which aborts every connection in it.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", relay_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}
