//! Many idle mediation sessions: N disputes taken and awaiting the parties' replies, seeded
//! straight into the database. The real daemon restores them at start: sessions only waiting go
//! straight to sleep (the Sessions supervisor derives their two chat channels from the stored
//! trade keys, watches them and keeps their next deadline); the memory left is what N open idle
//! sessions cost.
//! Measures the time until every session watches its channels, on a first start and again after
//! a restart on the same database, and the memory the idle sessions hold.
//! Not a test: it prints figures. Run with `cargo bench -p serbero --bench sessions -- [--sessions N]`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nostr_sdk::Keys;
use ractor::rpc::CallResult;
use serbero::daemon::{self, Running};
use serbero::relay::{self, RelayRef};
use serbero_core::config::{Config, Permission, PromptSettings, Solver};
use serbero_core::prompts::PromptBundle;
use serbero_sim::{Brain, FakeModel, FakeNode, NodeScript, TestRelay};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Far beyond the run: no session times out while it is measured.
const NEVER_SECONDS: u64 = 30 * 24 * 60 * 60;
/// Idle time before memory is read, so that start-up work has settled.
const SETTLE: Duration = Duration::from_secs(2);
/// Sessions waiting for the parties hibernate after this long (the daemon's default is 60 s).
const HIBERNATE_AFTER_SECONDS: u64 = 1;
const RESUME_TIMEOUT: Duration = Duration::from_secs(600);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

fn sessions_option() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == "--sessions")
        .map(|pair| pair[1].parse().expect("a number of sessions"))
        .unwrap_or(10_000)
}

fn main() -> anyhow::Result<()> {
    let n = sessions_option();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        daemon::init_logging("error,nostr_relay_pool=off", serbero_core::config::LogFormat::Text);
        let relay = TestRelay::start().await?;
        let mostro = Keys::generate();
        let _node = FakeNode::start(mostro.clone(), &relay.url(), NodeScript::default()).await?;
        let model = FakeModel::start().await?;
        let brain = Brain::cooperative();
        model.respond_with(move |request| brain.answer(request));
        let dir = tempfile::tempdir()?;
        let config = mediation_config(&relay, &mostro, &model, dir.path().join("sessions.db"));

        daemon::prepare_database(&config.serbero.db_path).await?;
        let bundle = PromptBundle::load(&config.prompts)?;
        let seeding = Instant::now();
        let db_path = config.serbero.db_path.clone();
        tokio::task::spawn_blocking(move || seed(&db_path, n, &bundle)).await??;
        println!("seeded {n} idle sessions in {:.2} s", seeding.elapsed().as_secs_f64());

        let baseline = Memory::now();
        let first = measure(&config, n, &baseline).await?;
        let restart = measure(&config, n, &baseline).await?;
        print_table(n, &baseline, &[("first start", first), ("restart", restart)]);
        println!("peak RSS (VmHWM) of the whole run: {:.1} MiB", Memory::now().peak_kib as f64 / 1024.0);
        relay.shutdown();
        Ok(())
    })
}

/// Mediation and reasoning on against `model`, with the repository's prompts; the parties'
/// silence and the session's age never run out during the benchmark.
fn mediation_config(relay: &TestRelay, mostro: &Keys, model: &FakeModel, db: PathBuf) -> Config {
    let solver = Solver::new(Keys::generate().public_key(), Permission::Read);
    let mut config = Config::minimal(Keys::generate(), mostro.public_key(), vec![relay.url()], vec![solver], db);
    config.mediation.enabled = true;
    config.mediation.party_response_timeout_seconds = NEVER_SECONDS;
    config.mediation.session_timeout_seconds = NEVER_SECONDS;
    config.mediation.idle_hibernate_seconds = HIBERNATE_AFTER_SECONDS;
    config.reasoning.enabled = true;
    config.reasoning.provider = "openai-compatible".into();
    config.reasoning.model = "scripted".into();
    config.reasoning.api_base = model.url();
    config.reasoning.api_key = Some("bench-key".into());
    config.prompts = PromptSettings::in_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts"));
    config
}

/// `n` disputes taken by Serbero, each with a session awaiting the parties' first replies and
/// pinned to the loaded bundle, in one transaction.
fn seed(db: &Path, n: usize, bundle: &PromptBundle) -> anyhow::Result<()> {
    let mut conn = serbero_core::storage::open(db)?;
    let tx = conn.transaction()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let mostro = Keys::generate().public_key().to_hex();
    {
        let mut dispute = tx.prepare(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, dispute_status,
                                   event_timestamp, detected_at, lifecycle_state, last_state_change)
             VALUES (?1, ?2, ?3, 'buyer', 'in-progress', ?4, ?4, 'taken', ?4)",
        )?;
        let mut take = tx.prepare(
            "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, answered_at,
                                       order_id, buyer_pubkey, seller_pubkey, updated_at)
             VALUES (?1, 'took', ?2, ?3, ?3 + 30, ?3, ?4, ?5, ?6, ?3)",
        )?;
        let mut session = tx.prepare(
            "INSERT INTO mediation_sessions (session_id, dispute_id, state, round_count, prompt_bundle_id, policy_hash,
                                             started_at, last_transition_at)
             VALUES (?1, ?2, 'awaiting_response', 0, ?3, ?4, ?5, ?5)",
        )?;
        for i in 0..n {
            let dispute_id = uuid::Uuid::new_v4().to_string();
            let (buyer, seller) = (Keys::generate().public_key().to_hex(), Keys::generate().public_key().to_hex());
            dispute.execute(rusqlite::params![dispute_id, format!("{i:064x}"), mostro, now])?;
            let order_id = uuid::Uuid::new_v4().to_string();
            take.execute(rusqlite::params![dispute_id, i as i64 + 1, now, order_id, buyer, seller])?;
            let session_id = uuid::Uuid::new_v4().to_string();
            session.execute(rusqlite::params![session_id, dispute_id, bundle.id, bundle.policy_hash, now])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// One start of the daemon on the seeded database, measured, then stopped.
struct Run {
    /// From `daemon::start` until the Sessions supervisor exists (mediation brought up).
    sessions_up: Duration,
    /// From `daemon::start` until every session watches both its chat channels.
    resumed: Duration,
    idle: Memory,
    tasks: usize,
    stopped_in: Duration,
}

async fn measure(config: &Config, n: usize, baseline: &Memory) -> anyhow::Result<Run> {
    let start = Instant::now();
    let running = daemon::start(config.clone()).await?;
    let relay = running.children().await?.relay;
    wait_for_sessions_supervisor(&running).await?;
    let sessions_up = start.elapsed();
    wait_for_channels(&relay, 2 * n).await?;
    let resumed = start.elapsed();
    wait_for_hibernation(n).await?;
    tokio::time::sleep(SETTLE).await;
    let idle = Memory::now();
    let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    println!(
        "{n} sessions resumed in {:.2} s; idle: RSS {} MiB ({} MiB above the baseline), {tasks} tokio tasks",
        resumed.as_secs_f64(),
        idle.rss_kib / 1024,
        idle.rss_kib.saturating_sub(baseline.rss_kib) / 1024
    );
    let (stop, daemon) = run_in_background(running);
    let stopping = Instant::now();
    let _ = stop.send(());
    daemon.await??;
    Ok(Run { sessions_up, resumed, idle, tasks, stopped_in: stopping.elapsed() })
}

fn run_in_background(running: Running) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let daemon = tokio::spawn(running.run_until(async move {
        let _ = stopped.await;
    }));
    (stop, daemon)
}

async fn wait_for_sessions_supervisor(running: &Running) -> anyhow::Result<()> {
    let deadline = Instant::now() + RESUME_TIMEOUT;
    while running.children().await?.sessions.is_none() {
        anyhow::ensure!(Instant::now() < deadline, "mediation never came up");
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Until the idle sessions left memory: each running session is at least one tokio task.
async fn wait_for_hibernation(n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + RESUME_TIMEOUT;
    while tokio::runtime::Handle::current().metrics().num_alive_tasks() > n / 100 + 100 {
        anyhow::ensure!(Instant::now() < deadline, "the idle sessions never hibernated");
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Until the Relay actor watches `want` chat channels: every session resumed and watched its two.
async fn wait_for_channels(relay: &RelayRef, want: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + RESUME_TIMEOUT;
    loop {
        let watched = match relay.call(relay::Msg::Status, Some(CALL_TIMEOUT)).await? {
            CallResult::Success(status) => status.chat_channels,
            _ => anyhow::bail!("the relay actor did not answer"),
        };
        if watched >= want {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "only {watched} of {want} chat channels watched");
        tokio::time::sleep(POLL).await;
    }
}

/// The process's resident memory now and at its peak, from /proc/self/status.
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

impl Memory {
    fn now() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Self { rss_kib: field("VmRSS:"), peak_kib: field("VmHWM:") }
    }
}

fn print_table(n: usize, baseline: &Memory, runs: &[(&str, Run)]) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!();
    println!("baseline (relay, node, model, seeded db; no daemon): RSS {:.1} MiB", mib(baseline.rss_kib));
    println!(
        "{:<12} {:>8} {:>13} {:>10} {:>14} {:>14} {:>9} {:>9} {:>9}",
        "run", "sessions", "mediation up", "resumed", "RSS total MiB", "RSS delta MiB", "per sess.", "tasks", "stop"
    );
    for (name, run) in runs {
        let delta = run.idle.rss_kib.saturating_sub(baseline.rss_kib);
        println!(
            "{:<12} {:>8} {:>11.2} s {:>8.2} s {:>14.1} {:>14.1} {:>7.1} K {:>9} {:>7.2} s",
            name,
            n,
            run.sessions_up.as_secs_f64(),
            run.resumed.as_secs_f64(),
            mib(run.idle.rss_kib),
            mib(delta),
            delta as f64 / n.max(1) as f64,
            run.tasks,
            run.stopped_in.as_secs_f64()
        );
    }
}
