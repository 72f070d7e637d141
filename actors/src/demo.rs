//! `serbero demo`: the README's first command. It runs the real daemon (the whole actor tree, a
//! SQLite database in a temporary directory, a configuration parsed from TOML) against an
//! embedded relay, plays Mostro and two solvers, and walks one dispute through its life:
//! opened, re-notified, taken, resolved. Every DM the solvers receive is printed as it arrives;
//! a DM that does not come within [`STEP_TIMEOUT`] fails the demo. `serbero demo --mediation`
//! plays [`mediation`] on the same stage.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use nostr_sdk::prelude::*;
use ractor::rpc::CallResult;
use rusqlite::{Connection, OpenFlags};
use serbero_core::config::{Config, LogFormat};
use serbero_core::lifecycle::LifecycleState;
use serbero_sim::{free_port, MostrixInbox, SimMostro, SolverInbox, TestRelay};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::daemon;
use crate::root::{self, RootRef};
use crate::status::StatusReport;

pub mod mediation;
mod monitor;

/// How long each expected DM or state change may take before the demo gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The demo tears its own relay down at the end; the relay pool's complaints about that are noise.
const LOG_FILTER: &str = "warn,nostr_relay_pool=off";

const INITIAL: &str = "New Mostro dispute requires attention.";
const STILL_UNATTENDED: &str = "Mostro dispute is still unattended.";
const TAKEN: &str = "Mostro dispute has been taken.";

/// Timeouts short enough to watch a re-notification happen.
const LIFECYCLE_SETTINGS: &str = r#"
[timeouts]
renotification_seconds = 3
renotification_check_interval_seconds = 1
"#;

pub async fn run() -> anyhow::Result<()> {
    daemon::init_logging(LOG_FILTER, LogFormat::Text);
    let mut stage = Stage::set_up().await?;
    let outcome = lifecycle(&mut stage).await;
    stage.close().await;
    outcome
}

async fn lifecycle(stage: &mut Stage) -> anyhow::Result<()> {
    let mostro =
        SimMostro::connect(Keys::generate(), &stage.relay.url()).await.context("connecting the simulated Mostro")?;
    let serbero = Keys::generate();
    let config = demo_config(stage, &serbero, &mostro.keys.public_key(), LIFECYCLE_SETTINGS)?;
    stage.introduce(
        "Serbero demo: the real daemon against an embedded relay, a simulated Mostro and two simulated solvers.",
        &[("serbero", serbero.public_key()), ("mostro", mostro.keys.public_key())],
    );
    let daemon = RunningDaemon::start(config).await?;
    // Solver 2 also runs Mostrix, trusting Serbero: the same messages appear in its SERBERO pane.
    let keys = stage.solvers[1].inbox.keys.clone();
    let pane = MostrixInbox::start(keys, vec![serbero.public_key()], &stage.relay.url()).await?;
    let played = play(stage, &mostro, &pane).await;
    let outcome = stage.finish(daemon, played).await;
    pane.stop().await;
    mostro.disconnect().await;
    outcome
}

/// The scenario: one dispute from `initiated` to `settled`.
async fn play(stage: &mut Stage, mostro: &SimMostro, pane: &MostrixInbox) -> anyhow::Result<()> {
    let id = fresh_dispute_id();
    stage.say("mostro", format!("opens dispute {id} (initiator: buyer)"));
    mostro.publish(&id, "initiated", "buyer", &[]).await?;
    stage.expect_everyone(INITIAL).await?;

    stage.say("demo", "nobody takes it; the re-notification timeout is 3 s, checked every second");
    stage.expect_everyone(STILL_UNATTENDED).await?;

    let taker = stage.solvers[1].inbox.pubkey();
    stage.say("mostro", format!("{} takes the dispute (in-progress)", stage.solvers[1].label));
    mostro.publish(&id, "in-progress", "buyer", &[Tag::public_key(taker)]).await?;
    stage.expect_everyone(TAKEN).await?;

    stage.say("mostro", "settles the dispute (settled); Serbero sends no DM for that");
    mostro.publish(&id, "settled", "buyer", &[]).await?;
    let lifecycle = wait_until_resolved(&stage.db_path(), &id).await?;
    stage.say("serbero", "dispute resolved; its lifecycle in dispute_state_transitions:");
    for step in lifecycle {
        println!("            {step}");
    }
    show_pane(stage, pane, &id).await
}

/// What solver 2's Mostrix shows in the dispute's SERBERO tab: the same three messages, each
/// under its header line.
async fn show_pane(stage: &Stage, pane: &MostrixInbox, id: &str) -> anyhow::Result<()> {
    if !pane.wait_for(3, STEP_TIMEOUT).await {
        bail!("solver 2's Mostrix pane holds {} messages, not 3", pane.messages().len());
    }
    stage.say(stage.solvers[1].label, "in Mostrix, the dispute's SERBERO tab lists (subject, alert):");
    for message in pane.pane(id) {
        let alert = if message.needs_action() { "alerts" } else { "-" };
        println!("            {:<28} {alert}", message.subject);
    }
    Ok(())
}

/// The relay, the two solvers, the temporary directory holding the database, and where the
/// daemon's `[http]` endpoint listens.
struct Stage {
    relay: TestRelay,
    dir: tempfile::TempDir,
    solvers: [DemoSolver; 2],
    monitor: SocketAddr,
    started: Instant,
}

impl Stage {
    async fn set_up() -> anyhow::Result<Self> {
        let started = Instant::now();
        let relay = TestRelay::start().await?;
        let url = relay.url();
        let solvers =
            [DemoSolver::start("solver 1 (read)", &url).await?, DemoSolver::start("solver 2 (write)", &url).await?];
        let dir =
            tempfile::Builder::new().prefix("serbero-demo-").tempdir().context("creating a temporary directory")?;
        let monitor = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Ok(Self { relay, dir, solvers, monitor, started })
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("serbero.db")
    }

    /// Prints `headline`, then where everything runs and who everyone is.
    fn introduce(&self, headline: &str, cast: &[(&str, PublicKey)]) {
        println!("{headline}");
        println!("  relay     {}", self.relay.url());
        println!("  database  {}", self.db_path().display());
        for (who, key) in cast {
            println!("  {who:<9} {}", npub(key));
        }
        for solver in &self.solvers {
            println!("  {:<17} {}", solver.label, npub(&solver.inbox.pubkey()));
        }
        println!();
    }

    /// One narration line, stamped with the time since the demo started.
    fn say(&self, who: &str, what: impl Display) {
        println!("[{:>5.1}s] [{who}] {what}", self.started.elapsed().as_secs_f64());
    }

    /// A narration line followed by `text`, indented under it.
    fn show(&self, who: &str, what: impl Display, text: &str) {
        self.say(who, what);
        for line in text.lines() {
            println!("            {line}");
        }
    }

    /// Waits for the next DM of every solver and checks its first line.
    async fn expect_everyone(&mut self, headline: &str) -> anyhow::Result<()> {
        for index in 0..self.solvers.len() {
            self.expect(index, headline).await?;
        }
        Ok(())
    }

    /// Waits for the next DM of solver `index`, checks its first line and prints it.
    async fn expect(&mut self, index: usize, headline: &str) -> anyhow::Result<()> {
        let text = self.solvers[index].next_dm(headline).await?;
        self.show(self.solvers[index].label, "received:", &text);
        Ok(())
    }

    /// Stops the daemon after `played`, once the relay confirmed every DM and the operator's view
    /// is shown, then checks and prints the outcome.
    async fn finish(&self, daemon: RunningDaemon, played: anyhow::Result<()>) -> anyhow::Result<()> {
        let played = match played {
            Ok(()) => match wait_until_delivered(&self.db_path()).await {
                Ok(()) => monitor::show(self, self.monitor).await,
                failed => failed,
            },
            failed => failed,
        };
        let stopped = daemon.stop().await;
        played.and(stopped).and_then(|()| self.summarize())
    }

    /// Checks nothing beyond the scripted DMs arrived, then prints what `serbero status` shows.
    fn summarize(&self) -> anyhow::Result<()> {
        for solver in &self.solvers {
            if let Some(extra) = solver.unexpected().first() {
                bail!("{} received an unexpected DM:\n{extra}", solver.label);
            }
        }
        let delivered: usize = self.solvers.iter().map(|s| s.expected.len()).sum();
        self.say(
            "demo",
            format!("daemon stopped cleanly after {delivered} DMs; `serbero status` of the demo database:"),
        );
        println!("\n{}\n", StatusReport::read(&self.db_path())?);
        println!("Demo finished in {:.1} s.", self.started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn close(self) {
        for solver in self.solvers {
            solver.inbox.stop().await;
        }
        self.relay.shutdown();
    }
}

struct DemoSolver {
    label: &'static str,
    inbox: SolverInbox,
    /// Indices of the DMs the demo expected and printed.
    expected: Vec<usize>,
}

impl DemoSolver {
    async fn start(label: &'static str, relay: &RelayUrl) -> anyhow::Result<Self> {
        let inbox = SolverInbox::start(relay).await.with_context(|| format!("starting the inbox of {label}"))?;
        Ok(Self { label, inbox, expected: Vec::new() })
    }

    /// The text of the first DM not expected yet that starts with `headline`. DMs queued by
    /// different actors at about the same time may arrive in either order.
    async fn next_dm(&mut self, headline: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let messages = self.inbox.messages();
            let found = messages
                .iter()
                .enumerate()
                .find(|(index, dm)| !self.expected.contains(index) && dm.text.starts_with(headline));
            if let Some((index, dm)) = found {
                self.expected.push(index);
                return Ok(dm.text.clone());
            }
            let arrived = self.inbox.wait_for(messages.len() + 1, deadline.saturating_duration_since(Instant::now()));
            if !arrived.await {
                let (secs, others) = (STEP_TIMEOUT.as_secs(), self.unexpected());
                let instead = if others.is_empty() { "none".to_owned() } else { others.join("\n---\n") };
                bail!("{} did not receive \"{headline}\" within {secs} s; received instead: {instead}", self.label);
            }
        }
    }

    /// The texts of the DMs the demo did not expect (so far).
    fn unexpected(&self) -> Vec<String> {
        let messages = self.inbox.messages().into_iter().enumerate();
        messages.filter(|(index, _)| !self.expected.contains(index)).map(|(_, dm)| dm.text).collect()
    }
}

/// The daemon in a task, stopped through its shutdown future.
struct RunningDaemon {
    root: RootRef,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningDaemon {
    /// Returns once the dispute subscription is on its way to the relay.
    async fn start(config: Config) -> anyhow::Result<Self> {
        let running = daemon::start(config).await?;
        running.ready().await?;
        let root = running.root();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(running.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(Self { root, stop, task })
    }

    /// The actor tree's children now: mediation sessions join it after their bring-up.
    async fn children(&self) -> anyhow::Result<root::Children> {
        match self.root.call(root::Msg::Children, Some(STEP_TIMEOUT)).await? {
            CallResult::Success(children) => Ok(children),
            _ => bail!("the actor tree did not answer"),
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let finished =
            tokio::time::timeout(STOP_TIMEOUT, self.task).await.context("the daemon did not stop in time")?;
        finished.context("the daemon task panicked")?.context("the daemon failed")
    }
}

/// The embedded configuration, parsed like an operator's file: fresh keys, the embedded relay,
/// quick outbox retries, and the scenario's own `sections`.
fn demo_config(stage: &Stage, serbero: &Keys, mostro: &PublicKey, sections: &str) -> anyhow::Result<Config> {
    let [reader, writer] = &stage.solvers;
    let text = format!(
        r#"
[serbero]
private_key = "{secret}"
db_path = '{db}'
log_level = "warn"

[mostro]
pubkey = "{mostro}"

[[relays]]
url = "{relay}"

[[solvers]]
pubkey = "{reader}"
permission = "read"

[[solvers]]
pubkey = "{writer}"
permission = "write"

[outbox]
retry_initial_seconds = 1
retry_max_seconds = 2
{http}{sections}"#,
        secret = serbero.secret_key().to_bech32()?,
        db = stage.db_path().display(),
        mostro = npub(mostro),
        relay = stage.relay.url(),
        reader = npub(&reader.inbox.pubkey()),
        writer = npub(&writer.inbox.pubkey()),
        http = monitor::http_section(stage.monitor),
    );
    let loaded = Config::from_toml_str(&text).context("the demo's embedded configuration")?;
    ensure!(loaded.warnings.is_empty(), "the demo's embedded configuration: {}", loaded.warnings.join("; "));
    let mut config = loaded.config;
    // Parsing applies SERBERO_* overrides: never let them point the demo at a real database or key.
    config.serbero.db_path = stage.db_path();
    config.serbero.keys = serbero.clone();
    Ok(config)
}

/// Polls the (read-only) transition history until the dispute is resolved; returns it.
async fn wait_until_resolved(db: &Path, dispute_id: &str) -> anyhow::Result<Vec<String>> {
    let waiting_for = format!("dispute {dispute_id} to be resolved");
    poll(db, &waiting_for, |conn| {
        let (lifecycle, resolved) = transitions(conn, dispute_id)?;
        Ok(resolved.then_some(lifecycle))
    })
    .await
}

/// Polls the outbox until no DM waits for the relay's confirmation: a solver may read a DM
/// before the daemon hears the relay's `OK` for it.
async fn wait_until_delivered(db: &Path) -> anyhow::Result<()> {
    poll(db, "the relay to confirm every DM", |conn| {
        let in_flight: i64 =
            conn.query_row("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'claimed', 'failed')", [], |r| {
                r.get(0)
            })?;
        Ok((in_flight == 0).then_some(()))
    })
    .await
}

/// Reads the database (read-only) until `read` finds what it waits for, within [`STEP_TIMEOUT`].
async fn poll<T>(
    db: &Path,
    waiting_for: &str,
    read: impl Fn(&Connection) -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        if let Some(found) = read(&conn)? {
            return Ok(found);
        }
        ensure!(Instant::now() < deadline, "waited {} s for {waiting_for} in vain", STEP_TIMEOUT.as_secs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The dispute's transitions as printable lines, and whether the last one reached `resolved`.
fn transitions(conn: &Connection, dispute_id: &str) -> anyhow::Result<(Vec<String>, bool)> {
    let mut query = conn.prepare(
        "SELECT COALESCE(from_state, ''), to_state, COALESCE(trigger, '')
           FROM dispute_state_transitions WHERE dispute_id = ?1 ORDER BY id",
    )?;
    let rows: Vec<(String, String, String)> =
        query.query_map([dispute_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
    let resolved = rows.last().is_some_and(|(_, to, _)| LifecycleState::parse(to) == Some(LifecycleState::Resolved));
    let lines = rows.iter().map(|(from, to, why)| format!("{from:>9} → {to:<9} {}", abbreviate(why))).collect();
    Ok((lines, resolved))
}

/// A random UUID v4, the form Mostro gives dispute ids.
fn fresh_dispute_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn npub(key: &PublicKey) -> String {
    key.to_bech32().unwrap_or_else(|_| key.to_hex())
}

/// An event id (the trigger of a take) cut to its first characters; other values unchanged.
fn abbreviate(value: &str) -> String {
    match value.get(..12) {
        Some(head) if value.len() == 64 => format!("event {head}…"),
        _ => value.to_string(),
    }
}
