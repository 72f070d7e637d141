//! Serbero's configuration: find the TOML file, read it, apply the environment overrides and
//! validate every key before anything starts.
//!
//! Every key of the earlier Serbero keeps its meaning; `serbero.toml` at the repository root lists
//! them all. Unlike the earlier Serbero, an unknown key is reported as a warning (a misspelled key
//! must not fall back to its default unnoticed), and every failure is one line naming the key.
//! Secrets never appear in an error, a warning or the `Debug` output.

use std::path::{Path, PathBuf};

use nostr_sdk::{Keys, PublicKey, RelayUrl};
use serde::Deserialize;

mod checks;
mod delivery;
mod error;
mod file;
mod http;
mod mediation;
mod network;
mod reasoning;
mod recipients;
mod retention;
mod samples;
mod secrets;
mod serbero;

pub use checks::{limit_of, MAX_ATTEMPTS, MAX_MODEL_RETRIES, MAX_SECONDS};
pub use delivery::{OutboxSettings, Timeouts};
pub use error::ConfigError;
pub use http::HttpSettings;
pub use mediation::{ChatSettings, EscalationSettings, MediationSettings, PartyQuestions};
pub use network::MostroSettings;
pub use reasoning::{PromptSettings, ReasoningSettings};
pub use recipients::{Format, Formats, Observer, Permission, Solver, UnknownPermission};
pub use retention::RetentionSettings;
pub use serbero::{LogFormat, SerberoSettings};

use checks::{check_bounds, check_intervals, warn_if_handoffs_unroutable};
use file::{read_raw, resolve_config_path};
use http::RawHttp;
use network::{relay_urls, RawMostro, RawRelay};
use reasoning::resolve_reasoning;
use serbero::{RawSerbero, DEFAULT_LOG_LEVEL};

const ENV_CONFIG_PATH: &str = "SERBERO_CONFIG";

/// The `path` of a configuration that was not read from a file.
const INLINE_ORIGIN: &str = "<inline>";

#[derive(Clone, Debug)]
pub struct Config {
    pub serbero: SerberoSettings,
    pub mostro: MostroSettings,
    pub relays: Vec<RelayUrl>,
    pub solvers: Vec<Solver>,
    pub observers: Vec<Observer>,
    pub timeouts: Timeouts,
    pub outbox: OutboxSettings,
    pub mediation: MediationSettings,
    pub reasoning: ReasoningSettings,
    pub prompts: PromptSettings,
    pub chat: ChatSettings,
    pub escalation: EscalationSettings,
    pub http: HttpSettings,
    pub retention: RetentionSettings,
}

/// Where the configuration came from and what was noticed while reading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    pub warnings: Vec<String>,
}

impl Config {
    /// Resolves the file (explicit path, else $SERBERO_CONFIG, else ./serbero.toml, else
    /// ./config.toml), reads it, applies the env overrides and validates everything.
    pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
        // An absolute directory makes the "not found" message and `Loaded::path` unambiguous.
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let env_config = std::env::var_os(ENV_CONFIG_PATH);
        let path = resolve_config_path(explicit, env_config.as_deref(), &cwd)?;
        let text =
            std::fs::read_to_string(&path).map_err(|source| ConfigError::Unreadable { path: path.clone(), source })?;
        parse(&text, path, &process_env)
    }

    /// Same, from an in-memory TOML string (used by tests and the demo); env overrides applied too.
    pub fn from_toml_str(text: &str) -> Result<Loaded, ConfigError> {
        parse(text, PathBuf::from(INLINE_ORIGIN), &process_env)
    }

    /// A configuration with the given essentials and every other section at its default.
    pub fn minimal(
        keys: Keys,
        mostro: PublicKey,
        relays: Vec<RelayUrl>,
        solvers: Vec<Solver>,
        db_path: PathBuf,
    ) -> Config {
        Config {
            serbero: SerberoSettings {
                keys,
                db_path,
                log_level: DEFAULT_LOG_LEVEL.to_owned(),
                log_format: LogFormat::Text,
            },
            mostro: MostroSettings { pubkey: mostro },
            relays,
            solvers,
            observers: Vec::new(),
            timeouts: Timeouts::default(),
            outbox: OutboxSettings::default(),
            mediation: MediationSettings::default(),
            reasoning: ReasoningSettings::default(),
            prompts: PromptSettings::default(),
            chat: ChatSettings::default(),
            escalation: EscalationSettings::default(),
            http: HttpSettings::default(),
            retention: RetentionSettings::default(),
        }
    }
}

/// Reads one environment variable; passed in so that tests never touch the process environment.
type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The rule every override shares: the value is trimmed, and blank means "not set".
fn env_override(env: EnvLookup, name: &str) -> Option<String> {
    env(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

fn parse(text: &str, path: PathBuf, env: EnvLookup) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let raw = read_raw(text, &path, &mut warnings)?;
    let config = raw.validate(env, &mut warnings)?;
    Ok(Loaded { config, path, warnings })
}

/// The file as written: keys and URLs still strings, nothing validated yet.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    serbero: RawSerbero,
    mostro: RawMostro,
    relays: Vec<RawRelay>,
    solvers: Vec<recipients::RawSolver>,
    observers: Vec<recipients::RawObserver>,
    timeouts: Timeouts,
    outbox: OutboxSettings,
    mediation: MediationSettings,
    reasoning: ReasoningSettings,
    prompts: PromptSettings,
    chat: ChatSettings,
    escalation: EscalationSettings,
    http: RawHttp,
    retention: RetentionSettings,
}

impl RawConfig {
    fn validate(self, env: EnvLookup, warnings: &mut Vec<String>) -> Result<Config, ConfigError> {
        let serbero = self.serbero.validate(env, warnings)?;
        let us = serbero.keys.public_key();
        let mostro = self.mostro.validate(&us)?;
        let relays = relay_urls(self.relays, warnings)?;
        let solvers = recipients::solvers(self.solvers, &us, warnings)?;
        let observers = recipients::observers(self.observers, &us, &solvers)?;
        let config = Config {
            serbero,
            mostro,
            relays,
            solvers,
            observers,
            timeouts: self.timeouts,
            outbox: self.outbox,
            mediation: self.mediation,
            reasoning: resolve_reasoning(self.reasoning, env, warnings)?,
            prompts: self.prompts,
            chat: self.chat,
            escalation: self.escalation,
            http: self.http.validate(warnings)?,
            retention: self.retention,
        };
        check_bounds(&config)?;
        check_intervals(&config)?;
        warn_if_handoffs_unroutable(&config, warnings);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    //! Files in `config/tests/`, by concern; `loading` holds the shared fixtures.
    mod bounds;
    mod loading;
    mod protection;
}
