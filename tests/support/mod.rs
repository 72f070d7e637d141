//! Shared by the end-to-end tests: a daemon on a temp database against an in-process relay.
#![allow(dead_code)] // each test file uses a different part of this module

pub mod halting;
pub mod scene;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use nostr_relay_builder::prelude::{LocalRelay, PolicyResult, RateLimit, RelayBuilder, WritePolicy};
use nostr_sdk::prelude::*;
use rusqlite::types::ValueRef;
use serbero::escalation::{self, EscalationRef, EscalationReport};
use serbero::root::{Children, Msg, RootRef};
use serbero::sessions::SessionsRef;
use serbero_core::config::{Config, Format, Formats, Permission, Solver};
use serbero_core::dispute::DISPUTE_EVENT_KIND;
use serbero_core::escalation::{HandoffPackage, Trigger};
use serbero_core::handoff::{recommend, Recommendation, Recorded};
use serbero_core::storage;
use serbero_sim::{ReceivedDm, SimMostro, SolverInbox, TestRelay};
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
    // Gift wraps only: these solvers read NIP-17 (`SolverInbox`); the Mostrix form has its own
    // tests (tests/mostrix.rs), which configure both forms.
    let gift_wraps = Formats::only(Format::Nip17);
    let solvers = solvers
        .iter()
        .map(|pubkey| Solver { pubkey: *pubkey, permission: Permission::Read, formats: gift_wraps })
        .collect();
    let mut config = Config::minimal(serbero.clone(), mostro.public_key(), relays, solvers, db);
    config.outbox.retry_initial_seconds = 1;
    config.outbox.retry_max_seconds = 2;
    config
}

/// The whole daemon, run in-process until told to stop.
pub struct Daemon {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
    children: Children,
    root: RootRef,
}

impl Daemon {
    /// Starts the daemon and waits until its dispute subscription reached the relay.
    pub async fn start(config: Config) -> Self {
        let running = serbero::daemon::start(config).await.expect("daemon starts");
        running.ready().await.expect("daemon ready");
        let children = running.children().await.expect("actor tree children");
        let root = running.root();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(running.run_until(async move {
            let _ = stopped.await;
        }));
        Self { stop, task, children, root }
    }

    /// The actor tree's children now (sessions start later than the rest).
    pub async fn current_children(&self) -> Children {
        self.root.call(Msg::Children, Some(WAIT)).await.expect("root alive").expect("root answers")
    }

    /// The Sessions supervisor, once mediation's bring-up (in the background) started it.
    pub async fn sessions(&self) -> SessionsRef {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(sessions) = self.current_children().await.sessions {
                return sessions;
            }
            assert!(tokio::time::Instant::now() < deadline, "mediation never started (bring-up failed?)");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The actor tree's children as they were when the daemon became ready.
    pub fn children(&self) -> &Children {
        &self.children
    }

    fn dispatcher(&self) -> &EscalationRef {
        self.children.escalation.as_ref().expect("the escalation dispatcher runs ([escalation].enabled)")
    }

    /// Tells the escalation dispatcher about a prepared handoff, as a mediation session does.
    pub fn announce_handoff(&self, handoff_event_id: i64) {
        self.dispatcher().cast(escalation::Msg::HandoffPrepared { handoff_event_id }).expect("dispatcher alive");
    }

    /// The dispatcher's handoffs by decision; answered after every message cast to it before.
    pub async fn escalation_report(&self) -> EscalationReport {
        let answer = self.dispatcher().call(escalation::Msg::Status, Some(WAIT)).await;
        answer.expect("dispatcher alive").expect("dispatcher answers")
    }

    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Signals shutdown and asserts a clean stop within a few seconds.
    pub async fn stop(self) {
        self.stop_within(Duration::from_secs(5)).await;
    }

    /// Signals shutdown and asserts a clean stop within `limit`.
    pub async fn stop_within(self, limit: Duration) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(limit, self.task).await.expect("daemon stops in time");
        result.expect("daemon task").expect("daemon exits cleanly");
    }
}

/// Stops a daemon started with `serbero::daemon::start` (tests that need its live children after
/// restarts) and asserts a clean exit.
pub async fn stop_running(running: serbero::daemon::Running) {
    let (stop, stopped) = oneshot::channel::<()>();
    let _ = stop.send(());
    let run = running.run_until(async move {
        let _ = stopped.await;
    });
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("daemon stops in time")
        .expect("daemon exits cleanly");
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

/// First line of every escalation handoff DM.
pub const HANDOFF_LINE: &str = "escalation_handoff/v1";

/// Turns the escalation dispatcher on, with its safety-net scan every `interval_seconds`.
pub fn enable_escalation(config: &mut Config, interval_seconds: u64) {
    config.escalation.enabled = true;
    config.escalation.dispatch_interval_seconds = interval_seconds;
}

/// Gives write permission to the configured solvers among `inboxes` (the others stay read).
pub fn grant_write(config: &mut Config, inboxes: &[&SolverInbox]) {
    for solver in &mut config.solvers {
        if inboxes.iter().any(|inbox| inbox.pubkey() == solver.pubkey) {
            solver.permission = Permission::Write;
        }
    }
}

/// Records a mediation session of `dispute`, so a session-scoped handoff can name it.
pub fn open_session(db: &Path, session: &str, dispute: &str) {
    let conn = storage::open(db).expect("open db");
    conn.execute(
        "INSERT INTO mediation_sessions (session_id, dispute_id, state, prompt_bundle_id, policy_hash, started_at, last_transition_at)
         VALUES (?1, ?2, 'awaiting_response', 'bundle-1', 'policy-1', ?3, ?3)",
        rusqlite::params![session, dispute, storage::now_unix()],
    )
    .expect("insert mediation session");
}

/// Prepares a handoff the way a mediation session does: `handoff::recommend` in a transaction
/// of its own on the daemon's database. `session` `None` makes it dispute-scoped. Returns the
/// handoff event id; the dispatcher is not told.
pub fn prepare_handoff(db: &Path, session: Option<&str>, dispute: &str, trigger: Trigger) -> i64 {
    let recommendation = Recommendation {
        session_id: session.map(str::to_string),
        dispute_id: dispute.to_string(),
        trigger,
        evidence_refs: vec![format!("inner-event-of-{dispute}")],
        rationale_refs: vec!["ab".repeat(32)],
        prompt_bundle_id: "bundle-1".to_string(),
        policy_hash: "policy-1".to_string(),
    };
    let mut conn = storage::open(db).expect("open db");
    // Immediate: the daemon writes concurrently, and a deferred read-then-write could not upgrade.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("begin");
    let recorded = recommend(&tx, &recommendation, storage::now_unix()).expect("recommend");
    tx.commit().expect("commit handoff");
    match recorded {
        Recorded::Prepared { handoff_event_id } => handoff_event_id,
        Recorded::AlreadyPrepared => panic!("dispute {dispute} already had a dispute-scoped handoff"),
    }
}

/// The package stored with a `handoff_prepared` event.
pub fn stored_package(db: &Path, handoff_event_id: i64) -> HandoffPackage {
    let sql = format!(
        "SELECT payload_json FROM mediation_events WHERE id = {handoff_event_id} AND kind = 'handoff_prepared'"
    );
    let payload = rows(db, &sql).pop().expect("handoff event");
    serde_json::from_str(&payload).expect("stored handoff package")
}

/// The escalation handoff DMs `inbox` received so far, in arrival order.
pub fn handoffs(inbox: &SolverInbox) -> Vec<ReceivedDm> {
    inbox.messages().into_iter().filter(|dm| dm.text.starts_with(HANDOFF_LINE)).collect()
}

/// Waits until `inbox` has at least `n` handoff DMs and returns them all (fewer on timeout).
pub async fn wait_for_handoffs(inbox: &SolverInbox, n: usize, timeout: Duration) -> Vec<ReceivedDm> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let seen = inbox.count();
        let found = handoffs(inbox);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if found.len() >= n || !inbox.wait_for(seen + 1, left).await {
            return handoffs(inbox);
        }
    }
}

/// Asserts that no handoff DM beyond the first `n` reaches `inbox` within `window`.
pub async fn assert_no_more_handoffs(inbox: &SolverInbox, n: usize, window: Duration) {
    let extra = wait_for_handoffs(inbox, n + 1, window).await;
    assert_eq!(extra.len(), n, "unexpected handoff DMs: {extra:#?}");
}

/// The escalation audit invariants of spec/escalation.md §1.6: at most one dispatch row per
/// handoff, every dispatch row paired with exactly one `escalation_dispatched` audit row of the
/// same status and vice versa, and one ledger decision per decided handoff.
pub fn assert_escalation_audit_invariants(db: &Path) {
    let per_handoff = "SELECT handoff_event_id, COUNT(*) FROM escalation_dispatches GROUP BY 1 HAVING COUNT(*) > 1";
    assert_eq!(rows(db, per_handoff), Vec::<String>::new(), "a handoff dispatched twice");
    let reconciliation = "
        SELECT 'no audit row', d.dispatch_id FROM escalation_dispatches d
         WHERE (SELECT COUNT(*) FROM mediation_events e
                 WHERE e.kind = 'escalation_dispatched'
                   AND json_extract(e.payload_json, '$.dispatch_id') = d.dispatch_id
                   AND json_extract(e.payload_json, '$.status') = d.status
                   AND json_extract(e.payload_json, '$.handoff_event_id') = d.handoff_event_id) <> 1
        UNION ALL
        SELECT 'no dispatch row', json_extract(e.payload_json, '$.dispatch_id') FROM mediation_events e
         WHERE e.kind = 'escalation_dispatched'
           AND NOT EXISTS (SELECT 1 FROM escalation_dispatches d
                            WHERE d.dispatch_id = json_extract(e.payload_json, '$.dispatch_id'))";
    assert_eq!(rows(db, reconciliation), Vec::<String>::new(), "dispatch rows and audit rows disagree");
    let ledger_mismatch = "
        SELECT d.handoff_event_id FROM escalation_dispatches d
          LEFT JOIN escalation_handoffs h ON h.handoff_event_id = d.handoff_event_id
         WHERE h.outcome IS NOT 'dispatched'";
    assert_eq!(rows(db, ledger_mismatch), Vec::<String>::new(), "a dispatched handoff not recorded as such");
}

/// Variables cargo sets for a test process (besides CARGO_PKG_*), none of them configuration.
const SET_BY_CARGO_FOR_TESTS: [&str; 7] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// The `serbero` binary, built once per test process. The root package's tests cannot use
/// `CARGO_BIN_EXE_serbero` (the binary belongs to the `serbero` member), so cargo builds it and
/// reports its path; with the features `cargo test` unifies in, the test build's artifacts are
/// reused. Blocking: call it from `spawn_blocking`.
pub fn serbero_executable() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
            let mut build = std::process::Command::new(cargo);
            // What cargo sets for this test process would look like a changed environment to
            // build scripts (`ring` watches CARGO_MANIFEST_DIR) and rebuild the TLS stack.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if name.starts_with("CARGO_PKG_") || SET_BY_CARGO_FOR_TESTS.contains(&name.as_ref()) {
                    build.env_remove(name.as_ref());
                }
            }
            build
                .args([
                    "build",
                    "--package",
                    "serbero",
                    "--bin",
                    "serbero",
                    "--features",
                    "test-harness,tokio/test-util",
                ])
                .arg("--message-format=json-render-diagnostics")
                .arg("--manifest-path")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
            if !cfg!(debug_assertions) {
                build.arg("--release");
            }
            let output = build.stderr(Stdio::piped()).output().expect("run cargo build");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "cargo build of serbero failed:\n{stderr}");
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|m| {
                    m["reason"] == "compiler-artifact"
                        && m["target"]["name"] == "serbero"
                        && m["target"]["kind"][0] == "bin"
                })
                .and_then(|m| m["executable"].as_str().map(PathBuf::from))
                .unwrap_or_else(|| panic!("cargo did not report the serbero executable:\n{stderr}"))
        })
        .clone()
}

/// `serbero run` as a child process logging to a file, for what only its log shows.
pub struct DaemonProcess {
    child: tokio::process::Child,
    log: PathBuf,
}

impl DaemonProcess {
    /// Starts `serbero --config <config> run` and waits until its actor tree started.
    pub async fn start(binary: &Path, config: &Path, log: PathBuf) -> Self {
        Self::start_with(binary, config, log, &[("SERBERO_LOG", "info")]).await
    }

    /// Same, with these environment variables set for the process.
    pub async fn start_with(binary: &Path, config: &Path, log: PathBuf, env: &[(&str, &str)]) -> Self {
        let file = std::fs::File::create(&log).expect("create log");
        let child = tokio::process::Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("NO_COLOR")
            .env_remove("SERBERO_CONFIG")
            .env_remove("SERBERO_PRIVATE_KEY")
            .env_remove("SERBERO_DB_PATH")
            .env_remove("SERBERO_LOG_FORMAT")
            .env_remove("NOTIFY_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn serbero");
        let daemon = Self { child, log };
        let deadline = tokio::time::Instant::now() + WAIT;
        while !daemon.log().contains("actor tree started") {
            assert!(tokio::time::Instant::now() < deadline, "serbero did not start:\n{}", daemon.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        daemon
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL; asserts the process was still alive and died of the signal.
    pub async fn kill(mut self) {
        use std::os::unix::process::ExitStatusExt;
        assert!(self.child.try_wait().expect("poll child").is_none(), "serbero died on its own before the kill");
        self.child.kill().await.expect("SIGKILL serbero");
        let status = self.child.wait().await.expect("reap serbero");
        assert_eq!(status.signal(), Some(9), "serbero ended with {status}, not by SIGKILL");
    }

    /// SIGTERM; asserts a clean exit.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("serbero still running").to_string();
        let sent = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("serbero stops in time")
            .expect("reap serbero");
        assert_eq!(status.code(), Some(0), "serbero exited with {status}:\n{}", self.log());
        assert!(self.log().contains("serbero exited cleanly"), "no clean-exit line:\n{}", self.log());
        assert!(!self.log().contains('\u{1b}'), "a log written to a file carries no colour codes");
    }
}

/// `config` as a TOML file `serbero --config` reads back to the same settings; the API key is
/// left to the environment variable named by `reasoning.api_key_env`, as the daemon requires.
pub fn config_toml(config: &Config) -> String {
    let path = |p: &Path| format!("{:?}", p.to_str().expect("utf-8 path"));
    let (m, r, p, o, t) = (&config.mediation, &config.reasoning, &config.prompts, &config.outbox, &config.timeouts);
    let mut toml = format!(
        "[serbero]\nprivate_key = \"{}\"\ndb_path = {}\nlog_level = \"{}\"\nlog_format = \"{}\"\n\n\
         [mostro]\npubkey = \"{}\"\n\n\
         [timeouts]\nrenotification_seconds = {}\nrenotification_check_interval_seconds = {}\n\n\
         [outbox]\nmax_attempts = {}\nretry_initial_seconds = {}\nretry_max_seconds = {}\nclaim_ttl_seconds = {}\n\n\
         [mediation]\nenabled = {}\nmax_rounds = {}\nparty_response_timeout_seconds = {}\n\
         solver_auth_retry_initial_seconds = {}\nsolver_auth_retry_max_interval_seconds = {}\n\
         solver_auth_retry_max_total_seconds = {}\nsolver_auth_retry_max_attempts = {}\ntake_timeout_seconds = {}\n\
         session_timeout_seconds = {}\nidle_hibernate_seconds = {}\ntranscript_quiet_seconds = {}\n\
         transcript_max_wait_seconds = {}\n\n\
         [reasoning]\nenabled = {}\nprovider = \"{}\"\nmodel = \"{}\"\napi_base = \"{}\"\napi_key_env = \"{}\"\n\
         request_timeout_seconds = {}\nfollowup_retry_count = {}\n\n\
         [prompts]\nsystem_instructions_path = {}\nclassification_policy_path = {}\nescalation_policy_path = {}\n\
         mediation_style_path = {}\nmessage_templates_path = {}\n\n\
         [escalation]\nenabled = {}\ndispatch_interval_seconds = {}\nfallback_to_all_solvers = {}\n\n\
         [http]\nenabled = {}\nlisten = \"{}\"\n",
        config.serbero.keys.secret_key().to_secret_hex(),
        path(&config.serbero.db_path),
        config.serbero.log_level,
        config.serbero.log_format.as_str(),
        config.mostro.pubkey.to_hex(),
        t.renotification_seconds,
        t.renotification_check_interval_seconds,
        o.max_attempts,
        o.retry_initial_seconds,
        o.retry_max_seconds,
        o.claim_ttl_seconds,
        m.enabled,
        m.max_rounds,
        m.party_response_timeout_seconds,
        m.solver_auth_retry_initial_seconds,
        m.solver_auth_retry_max_interval_seconds,
        m.solver_auth_retry_max_total_seconds,
        m.solver_auth_retry_max_attempts,
        m.take_timeout_seconds,
        m.session_timeout_seconds,
        m.idle_hibernate_seconds,
        m.transcript_quiet_seconds,
        m.transcript_max_wait_seconds,
        r.enabled,
        r.provider,
        r.model,
        r.api_base,
        r.api_key_env,
        r.request_timeout_seconds,
        r.followup_retry_count,
        path(&p.system_instructions_path),
        path(&p.classification_policy_path),
        path(&p.escalation_policy_path),
        path(&p.mediation_style_path),
        path(&p.message_templates_path),
        config.escalation.enabled,
        config.escalation.dispatch_interval_seconds,
        config.escalation.fallback_to_all_solvers,
        config.http.enabled,
        config.http.listen,
    );
    for url in &config.relays {
        toml += &format!("\n[[relays]]\nurl = \"{url}\"\n");
    }
    let formats = |f: Formats| f.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ");
    for solver in &config.solvers {
        toml += &format!(
            "\n[[solvers]]\npubkey = \"{}\"\npermission = \"{}\"\nformats = [{}]\n",
            solver.pubkey.to_hex(),
            solver.permission,
            formats(solver.formats)
        );
    }
    for observer in &config.observers {
        toml += &format!(
            "\n[[observers]]\npubkey = \"{}\"\nformats = [{}]\n",
            observer.pubkey.to_hex(),
            formats(observer.formats)
        );
    }
    toml
}
