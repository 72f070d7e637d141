//! Starting and stopping the daemon: migrations once, then the actor tree until a shutdown
//! signal or until the tree gives up.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use ractor::rpc::CallResult;
use ractor::Actor;
use serbero_core::config::{Config, LogFormat};
use serbero_core::storage;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::health::TreeView;
use crate::root::{self, Root, RootRef};
use crate::{http, relay, systemd};

/// Upper bound for the tree to stop after a signal; each child finishes its current message.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the daemon until `shutdown` resolves (clean stop, `Ok`) or the actor tree stops on its
/// own, which is always an error. Tells systemd it is ready once the dispute subscription is out.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let relays = config.relays.len();
    let running = start(config).await?;
    running.ready().await?;
    systemd::notify(&format!("READY=1\nSTATUS=watching disputes on {relays} relay(s)"));
    let keep_alive = systemd::watchdog_interval().map(|every| tokio::spawn(keep_alive(running.root(), every)));
    let outcome = running.run_until(shutdown).await;
    if let Some(keep_alive) = keep_alive {
        keep_alive.abort();
    }
    outcome
}

/// Tells systemd's watchdog that Serbero is alive as long as the supervisor answers, so that a
/// wedged daemon (a stuck runtime, a supervisor that no longer handles messages) is restarted.
/// A relay being down is not a wedge: the supervisor still answers.
async fn keep_alive(root: RootRef, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match root.call(root::Msg::Children, Some(every)).await {
            Ok(CallResult::Success(_)) => systemd::notify("WATCHDOG=1"),
            _ => warn!("the actor tree did not answer; not telling systemd's watchdog that Serbero is alive"),
        }
    }
}

/// A started actor tree.
pub struct Running {
    root: RootRef,
    tree: JoinHandle<()>,
    /// The `[http]` endpoint, when enabled and listening.
    endpoint: Option<JoinHandle<()>>,
}

/// Prepares the database, opens the HTTP endpoint when enabled (it reports "starting" until the
/// tree is up) and starts the actor tree.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    log_summary(&config);
    prepare_database(&config.serbero.db_path).await?;
    let (view, watching) = watch::channel(TreeView::starting(root::initial_mediation(&config)));
    let endpoint = match config.http.enabled {
        true => http::serve(config.http.listen, watching, config.serbero.db_path.clone()).await,
        false => None,
    };
    let args = root::Args { config: Arc::new(config), clock: Clock::System, view };
    let (root, tree) = Actor::spawn(None, Root, args).await.context("starting the actor tree")?;
    Ok(Running { root, tree, endpoint })
}

impl Running {
    /// The running children, e.g. to tell the escalation dispatcher about a new handoff.
    /// The supervisor of the tree, to ask it about children that start later (sessions).
    pub fn root(&self) -> RootRef {
        self.root.clone()
    }

    pub async fn children(&self) -> anyhow::Result<root::Children> {
        match self.root.call(root::Msg::Children, Some(READY_TIMEOUT)).await? {
            CallResult::Success(children) => Ok(children),
            _ => bail!("the actor tree did not answer"),
        }
    }

    /// Resolves once the relay actor has sent the dispute subscription (the dispute actor asks
    /// for it while starting, before Root finishes starting).
    pub async fn ready(&self) -> anyhow::Result<()> {
        match self.children().await?.relay.call(relay::Msg::Status, Some(READY_TIMEOUT)).await? {
            CallResult::Success(_) => Ok(()),
            _ => bail!("the relay actor did not answer"),
        }
    }

    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let outcome = tokio::select! {
            () = shutdown => {
                info!("shutdown signal received, stopping daemon");
                systemd::notify("STOPPING=1");
                if let Err(e) = self.root.stop_and_wait(None, Some(SHUTDOWN_TIMEOUT)).await {
                    warn!(error = %e, "actor tree did not stop in time");
                }
                let _ = (&mut self.tree).await;
                info!("serbero exited cleanly");
                Ok(())
            }
            _ = &mut self.tree => Err(anyhow::anyhow!("the actor tree stopped after repeated failures; see the errors above")),
        };
        if let Some(endpoint) = self.endpoint.take() {
            endpoint.abort();
        }
        outcome
    }
}

/// Opens the database and applies migrations before any actor touches it.
pub async fn prepare_database(path: &std::path::Path) -> anyhow::Result<()> {
    let path: PathBuf = path.to_path_buf();
    if let Some(warning) = storage::readable_by_others(&path) {
        warn!("{warning}");
    }
    let applied = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u32>> {
        let mut conn = storage::open(&path)?;
        Ok(storage::migrate(&mut conn)?)
    })
    .await??;
    info!(?applied, schema = storage::SCHEMA_VERSION, "database opened and migrations applied");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only SIGINT will stop the daemon");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("received SIGINT"),
        _ = sigterm.recv() => info!("received SIGTERM"),
    }
}

fn log_summary(config: &Config) {
    info!(
        serbero_pubkey = %config.serbero.keys.public_key().to_hex(),
        mostro_pubkey = %config.mostro.pubkey.to_hex(),
        db_path = %config.serbero.db_path.display(),
        relays = config.relays.len(),
        solvers = config.solvers.len(),
        renotification_seconds = config.timeouts.renotification_seconds,
        renotification_check_interval_seconds = config.timeouts.renotification_check_interval_seconds,
        "loaded config"
    );
    for url in &config.relays {
        info!(relay = %url, "configured relay");
    }
    for (index, solver) in config.solvers.iter().enumerate() {
        info!(index, pubkey = %solver.pubkey.to_hex(), permission = %solver.permission, "configured solver");
    }
}

/// Logging to stderr, as text or one JSON object per line; the filter is `SERBERO_LOG` when it
/// parses, else the configured level. Text is coloured only on a terminal (journald and log
/// files get plain lines) and never with `NO_COLOR` set.
pub fn init_logging(config_level: &str, format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("SERBERO_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v.trim()).ok())
        .or_else(|| EnvFilter::try_new(config_level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().with_span_list(false).try_init(),
    };
}
