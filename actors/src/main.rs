//! The `serbero` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serbero::{cli, daemon};
use serbero_core::config::Config;

#[derive(Parser)]
#[command(name = "serbero", version, about = "Watches Mostro disputes and notifies human solvers")]
struct Cli {
    /// Configuration file (default: $SERBERO_CONFIG, else ./serbero.toml, else ./config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Validate the configuration and print a summary, including Serbero's own public key.
    CheckConfig,
    /// Show disputes, notifications and the outbox from the database.
    Status {
        /// Database file (default: the configured db_path).
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
        /// Print the report as one JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Delete now what the retention period ([retention] days) lets go, as the daemon does daily:
    /// finished outbox rows, old notification audit rows, the chat of mediations long over.
    Prune {
        /// Count what would be deleted, per table; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the real daemon against an embedded relay with a simulated Mostro and two solvers.
    #[cfg(feature = "demo")]
    Demo {
        /// Mediate one dispute and escalate another, against a scripted Mostro node and model.
        #[arg(long)]
        mediation: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serbero: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        #[cfg(feature = "demo")]
        Command::Demo { mediation: false } => report(runtime.block_on(serbero::demo::run())),
        #[cfg(feature = "demo")]
        Command::Demo { mediation: true } => report(runtime.block_on(serbero::demo::mediation::run())),
        Command::Status { db: Some(db), json } => report(cli::print_status(&db, json)),
        command => {
            let loaded = match Config::load(cli.config.as_deref()) {
                Ok(loaded) => loaded,
                Err(e) => {
                    eprintln!("serbero: {e}");
                    return ExitCode::from(2);
                }
            };
            match command {
                Command::CheckConfig => {
                    cli::print_check_config(&loaded);
                    ExitCode::SUCCESS
                }
                Command::Status { json, .. } => report(cli::print_status(&loaded.config.serbero.db_path, json)),
                Command::Prune { dry_run } => report(cli::prune(&loaded.config, dry_run)),
                _ => {
                    daemon::init_logging(&loaded.config.serbero.log_level, loaded.config.serbero.log_format);
                    for warning in &loaded.warnings {
                        tracing::warn!("{warning}");
                    }
                    report(runtime.block_on(daemon::run(loaded.config, daemon::shutdown_signal())))
                }
            }
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serbero: {e:#}");
            ExitCode::FAILURE
        }
    }
}
