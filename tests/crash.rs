//! Crash safety of the real `serbero` binary: SIGKILLed several times during a burst of disputes
//! and restarted on the same database, it must still deliver every (dispute, solver, type)
//! exactly once — including the disputes published while it was dead.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serbero_sim::SolverInbox;
use support::*;

const DISPUTES: u32 = 60;
/// The process is SIGKILLed right after these many disputes are published …
const KILL_AFTER: [u32; 3] = [10, 25, 40];
/// … and restarted this many disputes later, so those were published while it was dead.
const PUBLISHED_WHILE_DEAD: u32 = 3;
const OUTBOX_ROWS: &str = "SELECT COUNT(*) FROM outbox";
/// No DM may follow once everything is delivered, for this long.
const QUIET: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_delivers_every_notification_exactly_once() {
    let started = std::time::Instant::now();
    let binary = tokio::task::spawn_blocking(serbero_executable).await.expect("build task");
    eprintln!("serbero built in {:?}", started.elapsed());
    let world = World::new().await;
    let inboxes = [world.solver().await, world.solver().await, world.solver().await];
    let mut daemon =
        Incarnations::new(binary, write_config(&world, &inboxes.each_ref()), world.dir.path(), world.db_path());

    let mut undelivered_at_kills = 0;
    daemon.start().await;
    for n in 1..=DISPUTES {
        world.mostro.publish(&dispute_id(n), "initiated", "buyer", &[]).await.expect("publish dispute");
        if KILL_AFTER.contains(&n) {
            daemon.wait_for_progress().await;
            undelivered_at_kills += daemon.kill().await;
        }
        if KILL_AFTER.iter().any(|k| k + PUBLISHED_WHILE_DEAD == n) {
            daemon.start().await;
        }
    }
    tokio::time::sleep(jitter(Duration::from_millis(300))).await;
    daemon.wait_for_progress().await;
    undelivered_at_kills += daemon.kill().await;
    daemon.start().await;
    assert!(undelivered_at_kills > 0, "no kill caught a DM on its way, so this run proved little");

    let db = world.db_path();
    let expected = i64::from(DISPUTES) * inboxes.len() as i64;
    let all_sent = "SELECT COUNT(*) FROM outbox WHERE notif_type = 'initial' AND status = 'sent'";
    assert!(
        wait_for_scalar(&db, all_sent, expected, WAIT).await,
        "not every initial DM was sent: {}",
        outbox_summary(&db)
    );
    for inbox in &inboxes {
        assert!(inbox.wait_for(DISPUTES as usize, WAIT).await, "a solver got {} of {DISPUTES} DMs", inbox.count());
    }
    let quiet = |i: usize| assert_quiet(&inboxes[i], DISPUTES as usize, QUIET);
    tokio::join!(quiet(0), quiet(1), quiet(2));

    assert_each_solver_got_each_dispute_once(&world, &inboxes);
    assert_outbox_has_one_sent_row_per_key(&db, &inboxes);
    assert_notifications_audited(&db, &inboxes);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM disputes WHERE lifecycle_state = 'notified'"), i64::from(DISPUTES));

    daemon.terminate().await;
}

/// Disputes published after the first ever start are owed a notification even when the process
/// died before it stored any dispute (only disputes older than the first start are out of scope).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_before_the_first_dispute_is_stored_loses_nothing() {
    let binary = tokio::task::spawn_blocking(serbero_executable).await.expect("build task");
    let world = World::new().await;
    let inbox = world.solver().await;
    let mut daemon = Incarnations::new(binary, write_config(&world, &[&inbox]), world.dir.path(), world.db_path());
    daemon.start().await;
    daemon.kill().await;
    world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.expect("publish dispute");
    // Restart in a later second than the event, so a subscription "from now" cannot catch it by luck.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    daemon.start().await;
    assert!(
        inbox.wait_for(1, Duration::from_secs(5)).await,
        "the dispute published while serbero was dead was never notified"
    );
    daemon.terminate().await;
}

fn assert_each_solver_got_each_dispute_once(world: &World, inboxes: &[SolverInbox]) {
    let mut wraps = HashSet::new();
    for (solver, inbox) in inboxes.iter().enumerate() {
        let mut per_dispute: HashMap<String, u32> = HashMap::new();
        for dm in inbox.messages() {
            assert_eq!(dm.sender, world.serbero.public_key(), "DM from a stranger: {dm:?}");
            assert!(wraps.insert(dm.wrap_id), "wrap {} received twice", dm.wrap_id);
            *per_dispute.entry(dispute_of(&dm.text)).or_default() += 1;
        }
        for n in 1..=DISPUTES {
            let got = per_dispute.remove(&dispute_id(n)).unwrap_or(0);
            let dead = if published_while_dead(n) { " (published while the daemon was dead)" } else { "" };
            assert_eq!(got, 1, "solver {solver} got {got} DMs for dispute {n}{dead}");
        }
        assert!(per_dispute.is_empty(), "solver {solver} got DMs for unknown disputes: {per_dispute:?}");
    }
}

/// One row per idempotency key, all `sent`, and what the solvers received is the stored event.
fn assert_outbox_has_one_sent_row_per_key(db: &Path, inboxes: &[SolverInbox]) {
    let rows = query(db, "SELECT idempotency_key, status, event_id FROM outbox");
    // Each DM in both forms (a gift wrap and a Mostrix send-dm), each its own row.
    assert_eq!(rows.len(), DISPUTES as usize * inboxes.len() * 2, "outbox rows: {}", outbox_summary(db));
    let by_key: HashMap<&str, (&str, &str)> =
        rows.iter().map(|r| (r[0].as_str(), (r[1].as_str(), r[2].as_str()))).collect();
    assert_eq!(by_key.len(), rows.len(), "an idempotency key appears twice");
    assert!(rows.iter().all(|r| r[1] == "sent"), "every form delivered: {}", outbox_summary(db));
    for inbox in inboxes {
        for dm in inbox.messages() {
            let key = format!("initial:{}:{}", dispute_of(&dm.text), inbox.pubkey().to_hex());
            let Some((status, event_id)) = by_key.get(key.as_str()) else { panic!("no outbox row for {key}") };
            assert_eq!(*status, "sent", "{key}");
            assert_eq!(*event_id, dm.wrap_id.to_hex(), "{key}: the solver got a different event than the stored one");
        }
    }
}

fn assert_notifications_audited(db: &Path, inboxes: &[SolverInbox]) {
    let rows = query(
        db,
        "SELECT dispute_id, solver_pubkey FROM notifications WHERE notif_type = 'initial' AND status = 'sent' GROUP BY 1, 2",
    );
    let audited: HashSet<(String, String)> = rows.into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    for n in 1..=DISPUTES {
        for inbox in inboxes {
            let pair = (dispute_id(n), inbox.pubkey().to_hex());
            assert!(audited.contains(&pair), "no sent notifications row for {pair:?}");
        }
    }
}

fn published_while_dead(n: u32) -> bool {
    KILL_AFTER.iter().any(|k| n > *k && n <= k + PUBLISHED_WHILE_DEAD)
}

fn dispute_of(text: &str) -> String {
    let line = text.lines().find_map(|l| l.strip_prefix("dispute_id: "));
    line.unwrap_or_else(|| panic!("DM without a dispute_id line: {text:?}")).to_string()
}

/// A delay in `0..max` that differs from run to run, so the last kill lands at varying points.
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let delay = Duration::from_millis(u64::from(nanos) % max.as_millis().max(1) as u64);
    eprintln!("last kill after {delay:?}");
    delay
}

fn write_config(world: &World, solvers: &[&SolverInbox]) -> PathBuf {
    let mut toml = format!(
        "[serbero]\nprivate_key = \"{}\"\ndb_path = {:?}\nlog_level = \"info\"\n\n\
         [mostro]\npubkey = \"{}\"\n\n[[relays]]\nurl = \"{}\"\n\n\
         [timeouts]\nrenotification_seconds = 86400\nrenotification_check_interval_seconds = 3600\n\n\
         [outbox]\nretry_initial_seconds = 1\nretry_max_seconds = 2\nclaim_ttl_seconds = 5\n",
        world.serbero.secret_key().to_secret_hex(),
        world.db_path().to_str().expect("utf-8 temp path"),
        world.mostro.keys.public_key().to_hex(),
        world.relay.url(),
    );
    for solver in solvers {
        toml += &format!("\n[[solvers]]\npubkey = \"{}\"\npermission = \"read\"\n", solver.pubkey().to_hex());
    }
    let path = world.dir.path().join("serbero.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

/// The successive `serbero run` processes on one database, each logging to its own file.
struct Incarnations {
    binary: PathBuf,
    config: PathBuf,
    dir: PathBuf,
    db: PathBuf,
    logs: Vec<PathBuf>,
    running: Option<DaemonProcess>,
    rows_at_start: i64,
}

impl Incarnations {
    fn new(binary: PathBuf, config: PathBuf, dir: &Path, db: PathBuf) -> Self {
        Self { binary, config, dir: dir.to_path_buf(), db, logs: Vec::new(), running: None, rows_at_start: 0 }
    }

    /// Starts a process and waits until its actor tree started (a cold start subscribes from
    /// the moment its dispute actor starts).
    async fn start(&mut self) {
        let log = self.dir.join(format!("serbero-{}.log", self.logs.len() + 1));
        self.logs.push(log.clone());
        self.running = Some(DaemonProcess::start(&self.binary, &self.config, log).await);
        self.rows_at_start = scalar(&self.db, OUTBOX_ROWS);
    }

    /// Waits until the running process stored DMs of its own, so a kill lands while it delivers
    /// rather than while it is still starting.
    async fn wait_for_progress(&self) {
        let progressed = wait_for_scalar(&self.db, OUTBOX_ROWS, self.rows_at_start + 1, WAIT).await;
        assert!(progressed, "serbero stored no DM since it started: {}", outbox_summary(&self.db));
    }

    /// SIGKILL; the process must still have been alive. Returns the outbox rows it left
    /// undelivered.
    async fn kill(&mut self) -> i64 {
        self.running.take().expect("a running serbero").kill().await;
        eprintln!("SIGKILLed incarnation {}, outbox left {}", self.logs.len(), outbox_summary(&self.db));
        scalar(&self.db, "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")
    }

    /// SIGTERM; the process must stop cleanly.
    async fn terminate(&mut self) {
        self.running.take().expect("a running serbero").terminate().await;
    }
}

impl Drop for Incarnations {
    /// On failure, shows the end of each process's log and keeps logs and database for a look.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for log in &self.logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("--- {} (last {} lines)", log.display(), tail.len());
            tail.iter().rev().for_each(|line| eprintln!("{line}"));
        }
        eprintln!("--- outbox {}", outbox_summary(&self.db));
        let kept = std::env::temp_dir().join(format!("serbero-crash-{}", std::process::id()));
        let copied = std::fs::create_dir_all(&kept).and_then(|()| {
            for entry in std::fs::read_dir(&self.dir)? {
                let path = entry?.path();
                std::fs::copy(&path, kept.join(path.file_name().unwrap_or_default()))?;
            }
            Ok(())
        });
        eprintln!("--- logs and database kept in {} ({copied:?})", kept.display());
    }
}

/// Outbox rows by status; never panics, as it also runs while a failed test unwinds.
fn outbox_summary(db: &Path) -> String {
    match try_query(db, "SELECT status, COUNT(*) FROM outbox GROUP BY 1 ORDER BY 1") {
        Ok(rows) => format!("[{}]", rows.iter().map(|r| r.join("=")).collect::<Vec<_>>().join(" ")),
        Err(e) => format!("(unreadable: {e})"),
    }
}

/// Every row of `sql`, each column as text.
fn query(db: &Path, sql: &str) -> Vec<Vec<String>> {
    try_query(db, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn try_query(db: &Path, sql: &str) -> rusqlite::Result<Vec<Vec<String>>> {
    let conn = rusqlite::Connection::open(db)?;
    let mut statement = conn.prepare(sql)?;
    let columns = statement.column_count();
    let rows = statement.query_map([], |row| {
        (0..columns).map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| text_of(&v))).collect()
    })?;
    rows.collect()
}

fn text_of(value: &rusqlite::types::Value) -> String {
    match value {
        rusqlite::types::Value::Text(text) => text.clone(),
        rusqlite::types::Value::Integer(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}
