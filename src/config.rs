//! Serbero's configuration: find the TOML file, read it, apply the environment overrides and
//! validate every key before anything starts.
//!
//! Every key of the earlier Serbero keeps its meaning; `serbero.toml` at the repository root lists
//! them all. Unlike the earlier Serbero, an unknown key is reported as a warning (a misspelled key
//! must not fall back to its default unnoticed), and every failure is one line naming the key.
//! Secrets never appear in an error, a warning or the `Debug` output.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nostr_sdk::{Keys, PublicKey, RelayUrl};
use serde::Deserialize;

mod recipients;
mod retention;
mod samples;
mod secrets;

pub use recipients::{Format, Formats, Observer, Solver};
pub use retention::RetentionSettings;

const ENV_CONFIG_PATH: &str = "SERBERO_CONFIG";
const ENV_PRIVATE_KEY: &str = "SERBERO_PRIVATE_KEY";
const ENV_DB_PATH: &str = "SERBERO_DB_PATH";
const ENV_LOG: &str = "SERBERO_LOG";
const ENV_LOG_FORMAT: &str = "SERBERO_LOG_FORMAT";

/// Looked for in the working directory, in this order, when no path is given.
const DEFAULT_FILE_NAMES: [&str; 2] = ["serbero.toml", "config.toml"];
/// The `path` of a configuration that was not read from a file.
const INLINE_ORIGIN: &str = "<inline>";
const DEFAULT_DB_PATH: &str = "serbero.db";
const DEFAULT_LOG_LEVEL: &str = "info";
const REASONING_PROVIDERS: [&str; 3] = ["openai", "openai-compatible", "anthropic"];
const DEFAULT_HTTP_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9797));

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

/// Section `[serbero]`.
#[derive(Clone, Debug)]
pub struct SerberoSettings {
    pub keys: Keys,
    /// Relative paths stay relative to the working directory, as in the earlier Serbero.
    pub db_path: PathBuf,
    /// A level (`info`) or tracing directives (`serbero=debug,nostr_sdk=warn`).
    pub log_level: String,
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, with the same fields.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not text or json")),
        }
    }
}

/// Section `[http]`: the health and metrics endpoint, off unless enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { enabled: false, listen: DEFAULT_HTTP_LISTEN }
    }
}

/// Section `[mostro]`.
#[derive(Clone, Debug)]
pub struct MostroSettings {
    pub pubkey: PublicKey,
}

/// What a solver may do with a dispute; escalation handoffs go to `Write` solvers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission word other than `read` or `write` (matched exactly, lowercase).
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not read or write")]
pub struct UnknownPermission(String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            other => Err(UnknownPermission(other.to_owned())),
        }
    }
}

/// Section `[timeouts]`: re-notification of disputes nobody has picked up.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    pub renotification_seconds: u64,
    pub renotification_check_interval_seconds: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { renotification_seconds: 300, renotification_check_interval_seconds: 60 }
    }
}

/// Delivery policy of the outbox (our addition; section `[outbox]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct OutboxSettings {
    /// After this many failed attempts a row is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; it doubles on every further failure.
    pub retry_initial_seconds: u64,
    /// Cap of the retry delay.
    pub retry_max_seconds: u64,
    /// A claimed row not resolved within this time is retried.
    pub claim_ttl_seconds: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { max_attempts: 10, retry_initial_seconds: 5, retry_max_seconds: 300, claim_ttl_seconds: 60 }
    }
}

/// Section `[mediation]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MediationSettings {
    pub enabled: bool,
    pub max_rounds: u32,
    /// 0 disables the party-response timeout.
    pub party_response_timeout_seconds: u64,
    pub solver_auth_retry_initial_seconds: u64,
    pub solver_auth_retry_max_interval_seconds: u64,
    pub solver_auth_retry_max_total_seconds: u64,
    pub solver_auth_retry_max_attempts: u32,
    /// How long a take request waits for the node's answer before it is recorded as unanswered.
    pub take_timeout_seconds: u64,
    /// A session still open this long after it started escalates (`mediation_timeout`); 0
    /// disables it.
    pub session_timeout_seconds: u64,
    /// A session waiting this long for the parties leaves memory until one of them writes or
    /// one of its timers comes due.
    pub idle_hibernate_seconds: u64,
    /// Where the questions parties read come from.
    pub party_questions: PartyQuestions,
    /// With `party_questions = "model"`: a separate model call with a fixed guard prompt judges
    /// each question too; a failed or unclear answer suppresses it.
    pub question_guard: bool,
    /// After a handoff, what the parties write is forwarded once they were silent this long...
    pub transcript_quiet_seconds: u64,
    /// ...or this long after the first unforwarded message, whichever comes first.
    pub transcript_max_wait_seconds: u64,
}

/// `[mediation].party_questions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyQuestions {
    /// Reviewed templates shipped with Serbero (`messages/`); the model only chooses which.
    #[default]
    Catalog,
    /// The model writes them, behind layered checks that fail closed.
    Model,
}

impl Default for MediationSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            max_rounds: 2,
            party_response_timeout_seconds: 1800,
            solver_auth_retry_initial_seconds: 60,
            solver_auth_retry_max_interval_seconds: 3600,
            solver_auth_retry_max_total_seconds: 86_400,
            solver_auth_retry_max_attempts: 24,
            take_timeout_seconds: 15,
            session_timeout_seconds: 259_200,
            idle_hibernate_seconds: 60,
            party_questions: PartyQuestions::Catalog,
            question_guard: true,
            transcript_quiet_seconds: 60,
            transcript_max_wait_seconds: 300,
        }
    }
}

/// Section `[reasoning]`: the language model used by mediation.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct ReasoningSettings {
    /// Turned off at load (with a warning) when the key variable is unset, so the core runs on.
    pub enabled: bool,
    /// One of `openai`, `openai-compatible`, `anthropic`.
    pub provider: String,
    pub model: String,
    /// Without a trailing `/`.
    pub api_base: String,
    /// Name of the environment variable holding the key.
    pub api_key_env: String,
    pub request_timeout_seconds: u64,
    /// Extra attempts after the first.
    pub followup_retry_count: u32,
    /// resolved from the env var named by api_key_env, or the file its `_FILE` variant names;
    /// never from TOML, never logged
    #[serde(skip)]
    pub api_key: Option<String>,
}

impl Default for ReasoningSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            provider: "openai".to_owned(),
            model: "gpt-4o-mini".to_owned(),
            api_base: "https://api.openai.com/v1".to_owned(),
            api_key_env: "SERBERO_REASONING_API_KEY".to_owned(),
            request_timeout_seconds: 30,
            followup_retry_count: 1,
            api_key: None,
        }
    }
}

// Written by hand so that printing the configuration can never print the key.
impl fmt::Debug for ReasoningSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReasoningSettings")
            .field("enabled", &self.enabled)
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("api_base", &self.api_base)
            .field("api_key_env", &self.api_key_env)
            .field("request_timeout_seconds", &self.request_timeout_seconds)
            .field("followup_retry_count", &self.followup_retry_count)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Section `[prompts]`: the files of the mediation prompt bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PromptSettings {
    pub system_instructions_path: PathBuf,
    pub classification_policy_path: PathBuf,
    pub escalation_policy_path: PathBuf,
    pub mediation_style_path: PathBuf,
    pub message_templates_path: PathBuf,
}

impl Default for PromptSettings {
    fn default() -> Self {
        Self {
            system_instructions_path: "./prompts/phase3-system.md".into(),
            classification_policy_path: "./prompts/phase3-classification.md".into(),
            escalation_policy_path: "./prompts/phase3-escalation-policy.md".into(),
            mediation_style_path: "./prompts/phase3-mediation-style.md".into(),
            message_templates_path: "./prompts/phase3-message-templates.md".into(),
        }
    }
}

impl PromptSettings {
    /// The five files under their default names in `dir`.
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            system_instructions_path: dir.join("phase3-system.md"),
            classification_policy_path: dir.join("phase3-classification.md"),
            escalation_policy_path: dir.join("phase3-escalation-policy.md"),
            mediation_style_path: dir.join("phase3-mediation-style.md"),
            message_templates_path: dir.join("phase3-message-templates.md"),
        }
    }
}

/// Section `[chat]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    pub inbound_fetch_interval_seconds: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self { inbound_fetch_interval_seconds: 10 }
    }
}

/// Section `[escalation]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct EscalationSettings {
    pub enabled: bool,
    pub dispatch_interval_seconds: u64,
    /// Send a handoff to every solver when no `write` solver can take it.
    pub fallback_to_all_solvers: bool,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self { enabled: false, dispatch_interval_seconds: 30, fallback_to_all_solvers: false }
    }
}

/// Where the configuration came from and what was noticed while reading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    pub warnings: Vec<String>,
}

/// One line for the operator: names the key and the problem. Displayed as-is on stderr, exit 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration file: pass --config <path>, set SERBERO_CONFIG, \
         or create serbero.toml or config.toml in {}",
        dir.display()
    )]
    NotFound { dir: PathBuf },
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    /// TOML syntax or type error, as worded by the `config` crate (it names the key).
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("{key}: missing; {hint}")]
    Missing { key: String, hint: &'static str },
    #[error("{key}: {problem}")]
    Invalid { key: String, problem: String },
    #[error(
        "reasoning.api_key: secrets are not read from the file; \
         set the variable named by reasoning.api_key_env, or that name with _FILE to a file holding it"
    )]
    SecretInFile,
}

fn missing(key: impl Into<String>, hint: &'static str) -> ConfigError {
    ConfigError::Missing { key: key.into(), hint }
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), problem: problem.into() }
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

/// Picks the configuration file: the explicit path, else `$SERBERO_CONFIG` (verbatim), else the
/// first of `serbero.toml`, `config.toml` that exists in `cwd`.
fn resolve_config_path(
    explicit: Option<&Path>,
    env_config: Option<&OsStr>,
    cwd: &Path,
) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = env_config.filter(|path| !path.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    DEFAULT_FILE_NAMES
        .iter()
        .map(|name| cwd.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ConfigError::NotFound { dir: cwd.to_path_buf() })
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

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawSerbero {
    private_key: Option<String>,
    db_path: Option<PathBuf>,
    log_level: Option<String>,
    log_format: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawHttp {
    enabled: bool,
    listen: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawMostro {
    pubkey: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawRelay {
    url: Option<String>,
}

/// Parses the TOML through the `config` crate, turning every unknown key into a warning.
fn read_raw(text: &str, path: &Path, warnings: &mut Vec<String>) -> Result<RawConfig, ConfigError> {
    let malformed = |error: config::ConfigError| ConfigError::Malformed {
        path: path.to_path_buf(),
        message: one_line(&error.to_string()),
    };
    let document = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .map_err(|error| integer_too_large(text).unwrap_or_else(|| malformed(error)))?;
    let mut unknown_keys = Vec::new();
    let raw: RawConfig =
        serde_ignored::deserialize(document, |key| unknown_keys.push(dotted_key(&key))).map_err(malformed)?;
    if unknown_keys.iter().any(|key| key == "reasoning.api_key") {
        return Err(ConfigError::SecretInFile);
    }
    warnings.extend(unknown_keys.into_iter().map(|key| format!("unknown configuration key `{key}` (ignored)")));
    Ok(raw)
}

/// An integer beyond TOML's range (such as `u64::MAX`) fails the parse with a message naming
/// no key; this names it, and for a key with a limit ([`limit_of`]) says the limit, as
/// for any other value above it. `None` when the document fails for another reason.
fn integer_too_large(text: &str) -> Option<ConfigError> {
    let error = toml::from_str::<toml::Table>(text).err()?;
    let span = error.span()?;
    let literal = text.get(span.clone())?.trim();
    let digits = literal.strip_prefix('+').unwrap_or(literal);
    // Its own reading rather than the parser's wording: digits (and `_`) beyond i64.
    let is_number =
        digits.starts_with(|c: char| c.is_ascii_digit()) && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !is_number || digits.replace('_', "").parse::<i64>().is_ok() {
        return None;
    }
    let line_start = text[..span.start].rfind('\n').map_or(0, |at| at + 1);
    let name = text[line_start..span.start].trim_end().strip_suffix('=')?.trim();
    let is_key = |key: &str| !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !is_key(name) {
        return None;
    }
    let section = text[..line_start].lines().rev().map(str::trim).find(|line| line.starts_with('['));
    let key = match section.map(|header| header.trim_matches(['[', ']', ' '])) {
        Some(section) if is_key(section) => format!("{section}.{name}"),
        Some(_) => return None,
        None => name.to_owned(),
    };
    Some(match limit_of(&key) {
        Some((max, in_words)) => invalid(key, above_limit(digits, max, in_words)),
        // Not echoed: a key without a limit is not a number Serbero reads, and could be a secret.
        None => invalid(key, format!("a number larger than TOML allows ({})", i64::MAX)),
    })
}

/// Spells a key the way the operator writes it in the file: `relays[0].url`.
fn dotted_key(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", dotted_key(parent)),
        Path::Map { parent, key } => match dotted_key(parent) {
            parent if parent.is_empty() => key.clone(),
            parent => format!("{parent}.{key}"),
        },
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => dotted_key(parent),
    }
}

/// The TOML parser quotes the offending source line under its message; that quote may hold a
/// secret and spans several lines, so it is dropped and the rest joined into one line.
fn one_line(message: &str) -> String {
    let kept: Vec<&str> =
        message.lines().map(str::trim).filter(|line| !line.is_empty() && !is_source_quote(line)).collect();
    with_dot_after_index(&kept.join(": "))
}

/// Lines like `|`, `2 | private_key = "…`, `|     ^`.
fn is_source_quote(line: &str) -> bool {
    match line.split_once('|') {
        Some((line_number, _)) => line_number.trim().chars().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// The `config` crate writes array keys as `relays[0]url`; the file spells them `relays[0].url`.
fn with_dot_after_index(message: &str) -> String {
    let mut fixed = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        fixed.push(c);
        if c == ']' && chars.peek().is_some_and(|next| next.is_ascii_alphabetic() || *next == '_') {
            fixed.push('.');
        }
    }
    fixed
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

impl RawSerbero {
    fn validate(self, env: EnvLookup, warnings: &mut Vec<String>) -> Result<SerberoSettings, ConfigError> {
        let (secret, key) = match secrets::from_env(env, "serbero.private_key", ENV_PRIVATE_KEY, warnings)? {
            Some(secret) => (Some(secret.value), format!("serbero.private_key (from {})", secret.variable)),
            None => (self.private_key, "serbero.private_key".to_owned()),
        };
        let secret = secret.filter(|secret| !secret.trim().is_empty()).ok_or_else(|| {
            missing(&key, "set it in the file, in SERBERO_PRIVATE_KEY or in a file named by SERBERO_PRIVATE_KEY_FILE")
        })?;
        // The parser's own error is not shown: it may quote part of the secret.
        let keys = Keys::parse(secret.trim())
            .map_err(|_| invalid(&key, "not a valid secret key (expected 64 hex characters or nsec1…)"))?;
        samples::refuse_sample_secret(&key, &keys.public_key())?;
        let db_path = env_override(env, ENV_DB_PATH)
            .map(PathBuf::from)
            .or(self.db_path)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DB_PATH));
        if db_path.as_os_str().is_empty() {
            return Err(invalid("serbero.db_path", "must not be empty"));
        }
        let log_level = env_override(env, ENV_LOG).or(self.log_level).unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned());
        let log_format = match env_override(env, ENV_LOG_FORMAT) {
            Some(word) => {
                word.parse().map_err(|problem| invalid("serbero.log_format (from SERBERO_LOG_FORMAT)", problem))?
            }
            None => match self.log_format {
                Some(word) => word.trim().parse().map_err(|problem| invalid("serbero.log_format", problem))?,
                None => LogFormat::Text,
            },
        };
        Ok(SerberoSettings { keys, db_path, log_level, log_format })
    }
}

impl RawMostro {
    /// The node's key must be the operator's node's: neither the sample's nor Serbero's own.
    fn validate(self, us: &PublicKey) -> Result<MostroSettings, ConfigError> {
        const KEY: &str = "mostro.pubkey";
        let pubkey = parse_public_key(KEY, self.pubkey)?;
        samples::refuse_sample_public(KEY, &pubkey, "your Mostro node's")?;
        if pubkey == *us {
            return Err(invalid(
                KEY,
                "same as Serbero's own public key (serbero.private_key); Serbero needs a key of its own, not the node's",
            ));
        }
        Ok(MostroSettings { pubkey })
    }
}

impl RawHttp {
    /// The endpoint shows counts and relay URLs, no secrets; still, an address other than
    /// loopback is something the operator must have meant.
    fn validate(self, warnings: &mut Vec<String>) -> Result<HttpSettings, ConfigError> {
        let listen = match self.listen {
            Some(text) => text.trim().parse::<SocketAddr>().map_err(|_| {
                invalid("http.listen", format!("`{}` is not an address and port (e.g. 127.0.0.1:9797)", text.trim()))
            })?,
            None => DEFAULT_HTTP_LISTEN,
        };
        if self.enabled && !listen.ip().is_loopback() {
            warnings.push(format!(
                "http.listen = {listen} is not a loopback address: /health and /metrics are reachable from the network"
            ));
        }
        Ok(HttpSettings { enabled: self.enabled, listen })
    }
}

/// The value is not quoted back: an operator who pasted a secret key here must not see it echoed.
fn parse_public_key(key: &str, text: Option<String>) -> Result<PublicKey, ConfigError> {
    let text = text
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| missing(key, "set a public key (64 hex characters or npub1…)"))?;
    PublicKey::parse(text.trim())
        .map_err(|_| invalid(key, "not a valid public key (expected 64 hex characters or npub1…)"))
}

/// At least one relay is required; a repeated URL is dropped with a warning.
fn relay_urls(raw: Vec<RawRelay>, warnings: &mut Vec<String>) -> Result<Vec<RelayUrl>, ConfigError> {
    if raw.is_empty() {
        return Err(missing("relays", "add at least one [[relays]] entry with a ws:// or wss:// url"));
    }
    let mut first_index: HashMap<RelayUrl, usize> = HashMap::new();
    let mut urls = Vec::with_capacity(raw.len());
    for (index, relay) in raw.into_iter().enumerate() {
        let key = format!("relays[{index}].url");
        let text = relay.url.ok_or_else(|| missing(&key, "every [[relays]] entry needs a url"))?;
        let url = parse_relay_url(&key, text.trim())?;
        match first_index.get(&url) {
            Some(first) => warnings.push(format!("{key}: `{url}` repeats relays[{first}].url (ignored)")),
            None => {
                first_index.insert(url.clone(), index);
                urls.push(url);
            }
        }
    }
    Ok(urls)
}

fn parse_relay_url(key: &str, text: &str) -> Result<RelayUrl, ConfigError> {
    let lowercase = text.to_ascii_lowercase();
    if !(lowercase.starts_with("ws://") || lowercase.starts_with("wss://")) {
        return Err(invalid(key, format!("`{text}` is not a ws:// or wss:// URL")));
    }
    RelayUrl::parse(text).map_err(|error| invalid(key, format!("`{text}` is not a valid relay URL: {error}")))
}

/// Checks the provider and picks up the key; without a key mediation is off for this run, but
/// the core still starts (a failing optional part never stops the core).
fn resolve_reasoning(
    mut reasoning: ReasoningSettings,
    env: EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<ReasoningSettings, ConfigError> {
    if !REASONING_PROVIDERS.contains(&reasoning.provider.as_str()) {
        let mut problem = format!("`{}` is not one of {}", reasoning.provider, REASONING_PROVIDERS.join(", "));
        if matches!(reasoning.provider.as_str(), "ppqai" | "openclaw") {
            problem.push_str("; use `openai-compatible` with the service's api_base (e.g. https://api.ppq.ai)");
        }
        return Err(invalid("reasoning.provider", problem));
    }
    reasoning.api_base = reasoning.api_base.trim_end_matches('/').to_owned();
    if !reasoning.enabled {
        return Ok(reasoning);
    }
    let variable = reasoning.api_key_env.trim();
    reasoning.api_key = match variable {
        "" => None,
        name => secrets::from_env(env, "reasoning.api_key", name, warnings)?.map(|secret| secret.value),
    };
    if reasoning.api_key.is_none() {
        let absence = match variable {
            "" => "reasoning.api_key_env is empty".to_owned(),
            name => format!("neither ${name} nor ${} is set", secrets::file_variable(name)),
        };
        warnings.push(format!("reasoning.enabled is true but {absence}; mediation will stay disabled this run"));
        reasoning.enabled = false;
    }
    Ok(reasoning)
}

/// Ten years, the longest any `*_seconds` value may be: far beyond any sensible timeout, and
/// small enough that adding it to a Unix time (`now + seconds as i64`) or doubling it in a
/// backoff can never overflow.
pub const MAX_SECONDS: u64 = 315_360_000;

/// The most attempts or rounds a count may ask for: more than any operator means, and far from
/// the end of the `u32` counters they are compared with and incremented in.
pub const MAX_ATTEMPTS: u64 = 10_000;

/// The most extra attempts of one model call; each may wait `request_timeout_seconds`.
pub const MAX_MODEL_RETRIES: u64 = 100;

/// The largest value `key` may take, and that value in words (or empty): [`MAX_SECONDS`] for
/// every `*_seconds` key, a limit of its own for each count.
pub fn limit_of(key: &str) -> Option<(u64, &'static str)> {
    match key {
        "outbox.max_attempts" | "mediation.solver_auth_retry_max_attempts" | "mediation.max_rounds" => {
            Some((MAX_ATTEMPTS, ""))
        }
        "reasoning.followup_retry_count" => Some((MAX_MODEL_RETRIES, "")),
        "retention.days" => Some((retention::MAX_DAYS, "ten years")),
        key if key.ends_with("_seconds") => Some((MAX_SECONDS, "ten years")),
        _ => None,
    }
}

/// Every duration and count the configuration takes, so that no value near `u64::MAX` reaches
/// the arithmetic on times and counters; each is held to [`limit_of`] its key. A new
/// `*_seconds` key is one line here; a test checks that every one in the sample is.
pub(crate) fn bounded_values(config: &Config) -> [(&'static str, u64); 22] {
    let (timeouts, mediation, outbox, reasoning) =
        (&config.timeouts, &config.mediation, &config.outbox, &config.reasoning);
    [
        ("timeouts.renotification_seconds", timeouts.renotification_seconds),
        ("timeouts.renotification_check_interval_seconds", timeouts.renotification_check_interval_seconds),
        ("outbox.max_attempts", u64::from(outbox.max_attempts)),
        ("outbox.retry_initial_seconds", outbox.retry_initial_seconds),
        ("outbox.retry_max_seconds", outbox.retry_max_seconds),
        ("outbox.claim_ttl_seconds", outbox.claim_ttl_seconds),
        ("escalation.dispatch_interval_seconds", config.escalation.dispatch_interval_seconds),
        ("chat.inbound_fetch_interval_seconds", config.chat.inbound_fetch_interval_seconds),
        ("mediation.max_rounds", u64::from(mediation.max_rounds)),
        ("mediation.party_response_timeout_seconds", mediation.party_response_timeout_seconds),
        ("mediation.solver_auth_retry_initial_seconds", mediation.solver_auth_retry_initial_seconds),
        ("mediation.solver_auth_retry_max_interval_seconds", mediation.solver_auth_retry_max_interval_seconds),
        ("mediation.solver_auth_retry_max_total_seconds", mediation.solver_auth_retry_max_total_seconds),
        ("mediation.solver_auth_retry_max_attempts", u64::from(mediation.solver_auth_retry_max_attempts)),
        ("mediation.take_timeout_seconds", mediation.take_timeout_seconds),
        ("mediation.session_timeout_seconds", mediation.session_timeout_seconds),
        ("mediation.idle_hibernate_seconds", mediation.idle_hibernate_seconds),
        ("mediation.transcript_quiet_seconds", mediation.transcript_quiet_seconds),
        ("mediation.transcript_max_wait_seconds", mediation.transcript_max_wait_seconds),
        ("reasoning.request_timeout_seconds", reasoning.request_timeout_seconds),
        ("reasoning.followup_retry_count", u64::from(reasoning.followup_retry_count)),
        ("retention.days", u64::from(config.retention.days)),
    ]
}

/// A value above its key's limit is refused, naming the key.
fn check_bounds(config: &Config) -> Result<(), ConfigError> {
    for (key, value) in bounded_values(config) {
        let (max, in_words) = limit_of(key).unwrap_or((u64::MAX, ""));
        if value > max {
            return Err(invalid(key, above_limit(&value.to_string(), max, in_words)));
        }
    }
    Ok(())
}

fn above_limit(value: &str, max: u64, in_words: &str) -> String {
    let in_words = if in_words.is_empty() { String::new() } else { format!(" ({in_words})") };
    format!("{value} is more than the largest allowed, {max}{in_words}")
}

/// A zero interval would spin a timer or give up at once; `party_response_timeout_seconds` is
/// not here because 0 means "disabled".
fn check_intervals(config: &Config) -> Result<(), ConfigError> {
    let (timeouts, mediation, outbox) = (&config.timeouts, &config.mediation, &config.outbox);
    let must_be_positive = [
        ("timeouts.renotification_seconds", timeouts.renotification_seconds),
        ("timeouts.renotification_check_interval_seconds", timeouts.renotification_check_interval_seconds),
        ("escalation.dispatch_interval_seconds", config.escalation.dispatch_interval_seconds),
        ("chat.inbound_fetch_interval_seconds", config.chat.inbound_fetch_interval_seconds),
        ("mediation.solver_auth_retry_initial_seconds", mediation.solver_auth_retry_initial_seconds),
        ("mediation.solver_auth_retry_max_interval_seconds", mediation.solver_auth_retry_max_interval_seconds),
        ("mediation.solver_auth_retry_max_total_seconds", mediation.solver_auth_retry_max_total_seconds),
        ("mediation.solver_auth_retry_max_attempts", u64::from(mediation.solver_auth_retry_max_attempts)),
        ("mediation.take_timeout_seconds", mediation.take_timeout_seconds),
        ("mediation.idle_hibernate_seconds", mediation.idle_hibernate_seconds),
        ("mediation.transcript_quiet_seconds", mediation.transcript_quiet_seconds),
        ("mediation.transcript_max_wait_seconds", mediation.transcript_max_wait_seconds),
        ("outbox.max_attempts", u64::from(outbox.max_attempts)),
        ("outbox.retry_initial_seconds", outbox.retry_initial_seconds),
        ("outbox.retry_max_seconds", outbox.retry_max_seconds),
        ("outbox.claim_ttl_seconds", outbox.claim_ttl_seconds),
    ];
    if let Some((key, _)) = must_be_positive.iter().find(|(_, value)| *value == 0) {
        return Err(invalid(*key, "must be greater than 0"));
    }
    if outbox.retry_initial_seconds > outbox.retry_max_seconds {
        let problem = format!(
            "{} is larger than outbox.retry_max_seconds ({})",
            outbox.retry_initial_seconds, outbox.retry_max_seconds
        );
        return Err(invalid("outbox.retry_initial_seconds", problem));
    }
    Ok(())
}

/// Handoffs go to `write` solvers, or to everyone with the fallback; with neither, none arrives.
fn warn_if_handoffs_unroutable(config: &Config, warnings: &mut Vec<String>) {
    let escalation = &config.escalation;
    let has_write_solver = config.solvers.iter().any(|solver| solver.permission == Permission::Write);
    if escalation.enabled && !escalation.fallback_to_all_solvers && !has_write_solver {
        warnings.push(
            "escalation.enabled is true but no solver has permission = \"write\" and \
             escalation.fallback_to_all_solvers is false; handoffs cannot be delivered"
                .to_owned(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest durations and counts it takes.
    mod bounds;
    /// What the configuration refuses, to protect the operator.
    mod protection;
    use nostr_sdk::ToBech32;

    // Throwaway keys, used only here (not the shipped sample's: those are refused).
    pub(super) const SECRET_HEX: &str = "77f501c954ef64c9565f382871017161421147cb8243af54708990de609194c4";
    pub(super) const SECRET_PUBKEY_HEX: &str = "b61eeceb40f034619096bb182d42429a1c8e6b8cd61cceee0cee858c6eb2585f";
    pub(super) const MOSTRO_HEX: &str = "1724a77bc001a73a715e289274f139961bf0ea0a86b86d9c5e48802aebf6b366";
    pub(super) const SOLVER_A_HEX: &str = "f8ac194bd211350f68f6b326cde9c5252f4803acdb1ffe44591b7febd2c16c07";
    pub(super) const SOLVER_B_HEX: &str = "7a480e912c31a947a2d5617bdefb85237e99b7ae51e9ebdfcd5d6fec393cb2db";

    /// The smallest valid file; cases break it with `replace` or extend it by appending sections.
    pub(super) fn base() -> String {
        format!(
            "[serbero]\nprivate_key = \"{SECRET_HEX}\"\n\n[mostro]\npubkey = \"{MOSTRO_HEX}\"\n\n\
             [[relays]]\nurl = \"wss://relay.example\"\n\n"
        )
    }

    pub(super) fn solver_section(pubkey: &str, extra: &str) -> String {
        format!("[[solvers]]\npubkey = \"{pubkey}\"\n{extra}\n")
    }

    /// Parses with the given environment instead of the process one.
    pub(super) fn parse_with_env(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let lookup = |name: &str| vars.iter().find(|(var, _)| *var == name).map(|(_, value)| value.to_string());
        parse(text, PathBuf::from(INLINE_ORIGIN), &lookup)
    }

    fn parse_ok(text: &str) -> Loaded {
        parse_with_env(text, &[]).unwrap_or_else(|error| panic!("expected a valid config: {error}"))
    }

    fn parse_err(text: &str) -> String {
        match parse_with_env(text, &[]) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(error) => error.to_string(),
        }
    }

    pub(super) fn public_key(hex: &str) -> PublicKey {
        PublicKey::parse(hex).unwrap()
    }

    /// Every section with a value different from its default.
    pub(super) fn full_document() -> String {
        base()
            + &solver_section(SOLVER_A_HEX, "permission = \"write\"")
            + &solver_section(SOLVER_B_HEX, "")
            + r#"
[[relays]]
url = "ws://127.0.0.1:7777"

[serbero.extra_never]

[timeouts]
renotification_seconds = 600
renotification_check_interval_seconds = 5

[outbox]
max_attempts = 3
retry_initial_seconds = 2
retry_max_seconds = 20
claim_ttl_seconds = 15

[mediation]
enabled = true
max_rounds = 0
party_response_timeout_seconds = 0
solver_auth_retry_initial_seconds = 7
solver_auth_retry_max_interval_seconds = 70
solver_auth_retry_max_total_seconds = 700
solver_auth_retry_max_attempts = 4
take_timeout_seconds = 9
session_timeout_seconds = 0
idle_hibernate_seconds = 5
party_questions = "model"
question_guard = false
transcript_quiet_seconds = 4
transcript_max_wait_seconds = 40

[reasoning]
provider = "anthropic"
model = "claude"
api_base = "https://llm.example/v1/"
api_key_env = "MY_KEY"
request_timeout_seconds = 9
followup_retry_count = 3

[prompts]
system_instructions_path = "p/a.md"
classification_policy_path = "p/b.md"
escalation_policy_path = "p/c.md"
mediation_style_path = "p/d.md"
message_templates_path = "p/e.md"

[chat]
inbound_fetch_interval_seconds = 4

[escalation]
enabled = true
dispatch_interval_seconds = 8
fallback_to_all_solvers = true

[retention]
days = 30
"#
    }

    #[test]
    fn full_file_parses_every_section() {
        let loaded = parse_ok(&full_document());
        let config = &loaded.config;
        assert_eq!(loaded.path, Path::new("<inline>"));
        assert_eq!(config.serbero.keys.public_key(), public_key(SECRET_PUBKEY_HEX));
        assert_eq!(config.serbero.db_path, Path::new("serbero.db"));
        assert_eq!(config.serbero.log_level, "info");
        assert_eq!(config.mostro.pubkey, public_key(MOSTRO_HEX));
        let relays: Vec<&str> = config.relays.iter().map(RelayUrl::as_str).collect();
        assert_eq!(relays, ["wss://relay.example", "ws://127.0.0.1:7777"]);
        let write = Solver::new(public_key(SOLVER_A_HEX), Permission::Write);
        let read = Solver::new(public_key(SOLVER_B_HEX), Permission::Read);
        assert_eq!(config.solvers, [write, read]);
        // Debug output lists every field, so one comparison per section covers them all.
        let expected_sections = [
            format!("{:?}", Timeouts { renotification_seconds: 600, renotification_check_interval_seconds: 5 }),
            format!(
                "{:?}",
                OutboxSettings {
                    max_attempts: 3,
                    retry_initial_seconds: 2,
                    retry_max_seconds: 20,
                    claim_ttl_seconds: 15
                }
            ),
            format!(
                "{:?}",
                MediationSettings {
                    enabled: true,
                    max_rounds: 0,
                    party_response_timeout_seconds: 0,
                    solver_auth_retry_initial_seconds: 7,
                    solver_auth_retry_max_interval_seconds: 70,
                    solver_auth_retry_max_total_seconds: 700,
                    solver_auth_retry_max_attempts: 4,
                    take_timeout_seconds: 9,
                    session_timeout_seconds: 0,
                    idle_hibernate_seconds: 5,
                    party_questions: PartyQuestions::Model,
                    question_guard: false,
                    transcript_quiet_seconds: 4,
                    transcript_max_wait_seconds: 40,
                }
            ),
            format!(
                "{:?}",
                ReasoningSettings {
                    enabled: false,
                    provider: "anthropic".into(),
                    model: "claude".into(),
                    api_base: "https://llm.example/v1".into(),
                    api_key_env: "MY_KEY".into(),
                    request_timeout_seconds: 9,
                    followup_retry_count: 3,
                    api_key: None,
                }
            ),
            format!(
                "{:?}",
                PromptSettings {
                    system_instructions_path: "p/a.md".into(),
                    classification_policy_path: "p/b.md".into(),
                    escalation_policy_path: "p/c.md".into(),
                    mediation_style_path: "p/d.md".into(),
                    message_templates_path: "p/e.md".into(),
                }
            ),
            format!("{:?}", ChatSettings { inbound_fetch_interval_seconds: 4 }),
            format!(
                "{:?}",
                EscalationSettings { enabled: true, dispatch_interval_seconds: 8, fallback_to_all_solvers: true }
            ),
            format!("{:?}", RetentionSettings { days: 30 }),
        ];
        let actual_sections = [
            format!("{:?}", config.timeouts),
            format!("{:?}", config.outbox),
            format!("{:?}", config.mediation),
            format!("{:?}", config.reasoning),
            format!("{:?}", config.prompts),
            format!("{:?}", config.chat),
            format!("{:?}", config.escalation),
            format!("{:?}", config.retention),
        ];
        assert_eq!(actual_sections, expected_sections);
        assert_eq!(loaded.warnings, ["unknown configuration key `serbero.extra_never` (ignored)"]);
    }

    #[test]
    fn optional_sections_take_their_defaults() {
        let loaded = parse_ok(&(base() + &solver_section(SOLVER_A_HEX, "")));
        let config = &loaded.config;
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(config.solvers[0].permission, Permission::Read);
        let debug = |value: &dyn fmt::Debug| format!("{value:?}");
        assert_eq!(debug(&config.timeouts), debug(&Timeouts::default()));
        assert_eq!(debug(&config.outbox), debug(&OutboxSettings::default()));
        assert_eq!(debug(&config.mediation), debug(&MediationSettings::default()));
        assert_eq!(debug(&config.reasoning), debug(&ReasoningSettings::default()));
        assert_eq!(debug(&config.prompts), debug(&PromptSettings::default()));
        assert_eq!(debug(&config.chat), debug(&ChatSettings::default()));
        assert_eq!(debug(&config.escalation), debug(&EscalationSettings::default()));
        assert_eq!(config.retention, RetentionSettings::default());
        assert_eq!(config.reasoning.model, "gpt-4o-mini");
        assert_eq!(config.timeouts.renotification_seconds, 300);
        assert_eq!(config.outbox.max_attempts, 10);
        assert_eq!(config.escalation.dispatch_interval_seconds, 30);
    }

    #[test]
    fn keys_are_accepted_as_hex_and_bech32() {
        let serbero = Keys::generate();
        let mostro = Keys::generate().public_key();
        let solver = Keys::generate().public_key();
        let secret_forms = [serbero.secret_key().to_secret_hex(), serbero.secret_key().to_bech32().unwrap()];
        let public_forms = |key: PublicKey| [key.to_hex(), key.to_bech32().unwrap()];
        for secret in &secret_forms {
            for (mostro_text, solver_text) in public_forms(mostro).iter().zip(public_forms(solver).iter().rev()) {
                let text = format!(
                    "[serbero]\nprivate_key = \"{secret}\"\n[mostro]\npubkey = \"{mostro_text}\"\n\
                     [[relays]]\nurl = \"wss://r.example\"\n[[solvers]]\npubkey = \"{solver_text}\"\n"
                );
                let config = parse_ok(&text).config;
                assert_eq!(config.serbero.keys.public_key(), serbero.public_key());
                assert_eq!(config.mostro.pubkey, mostro);
                assert_eq!(config.solvers[0].pubkey, solver);
            }
        }
    }

    #[test]
    fn every_invalid_value_is_one_line_naming_its_key() {
        let private_key_line = format!("private_key = \"{SECRET_HEX}\"\n");
        let mostro_line = format!("pubkey = \"{MOSTRO_HEX}\"\n");
        let relay_line = "url = \"wss://relay.example\"\n";
        let mut cases: Vec<(String, &str)> = vec![
            (base().replace(&private_key_line, ""), "serbero.private_key: missing"),
            (base().replace(SECRET_HEX, "   "), "serbero.private_key: missing"),
            (base().replace(SECRET_HEX, "nsec1notakey"), "serbero.private_key: not a valid secret key"),
            (base().replace(&mostro_line, ""), "mostro.pubkey: missing"),
            (base().replace(MOSTRO_HEX, &MOSTRO_HEX[2..]), "mostro.pubkey: not a valid public key"),
            (base().replace(&format!("[[relays]]\n{relay_line}"), ""), "relays: missing"),
            (
                base().replace("wss://relay.example", "http://x"),
                "relays[0].url: `http://x` is not a ws:// or wss:// URL",
            ),
            (base().replace("wss://relay.example", "wss://"), "relays[0].url: `wss://` is not a valid relay URL"),
            (base() + "[[relays]]\nname = \"second\"\n", "relays[1].url: missing"),
            (base().replace(relay_line, "url = [1]\n"), "relays[0].url"),
            (base() + &solver_section("npub1xyz", ""), "solvers[0].pubkey: not a valid public key"),
            (base() + "[[solvers]]\npermission = \"write\"\n", "solvers[0].pubkey: missing"),
            (
                base() + &solver_section(SOLVER_A_HEX, "permission = \"admin\""),
                "solvers[0].permission: `admin` is not read or write",
            ),
            (base() + &solver_section(SOLVER_A_HEX, "permission = \"Write\""), "solvers[0].permission"),
            (
                base()
                    + &solver_section(SOLVER_A_HEX, "")
                    + &solver_section(SOLVER_B_HEX, "")
                    + &solver_section(SOLVER_A_HEX, ""),
                "solvers[2].pubkey: same public key as solvers[0].pubkey",
            ),
            (base().replace(&private_key_line, &format!("{private_key_line}db_path = \"\"\n")), "serbero.db_path"),
            (base() + "[outbox]\nretry_initial_seconds = 30\nretry_max_seconds = 10\n", "outbox.retry_initial_seconds"),
            (base() + "[reasoning]\nprovider = \"ppqai\"\n", "reasoning.provider: `ppqai` is not one of"),
            (
                base() + "[reasoning]\nprovider = \"openclaw\"\n",
                "; use `openai-compatible` with the service's api_base",
            ),
            (base() + "[timeouts]\nrenotification_seconds = \"soon\"\n", "timeouts.renotification_seconds"),
            (base() + "[timeouts]\nrenotification_seconds = -1\n", "timeouts.renotification_seconds"),
            (base() + "[outbox]\nmax_attempts = 99999999999\n", "outbox.max_attempts"),
            (base() + "[timeouts\n", "<inline>: TOML parse error at line"),
            (base() + "[mediation]\nparty_questions = \"free\"\n", "mediation.party_questions"),
        ];
        let must_be_positive = [
            "timeouts.renotification_seconds",
            "timeouts.renotification_check_interval_seconds",
            "escalation.dispatch_interval_seconds",
            "chat.inbound_fetch_interval_seconds",
            "mediation.solver_auth_retry_initial_seconds",
            "mediation.solver_auth_retry_max_interval_seconds",
            "mediation.solver_auth_retry_max_total_seconds",
            "mediation.solver_auth_retry_max_attempts",
            "mediation.take_timeout_seconds",
            "mediation.idle_hibernate_seconds",
            "outbox.max_attempts",
            "outbox.retry_initial_seconds",
            "outbox.retry_max_seconds",
            "outbox.claim_ttl_seconds",
        ];
        for key in must_be_positive {
            let (section, name) = key.split_once('.').unwrap();
            cases.push((base() + &format!("[{section}]\n{name} = 0\n"), key));
        }
        for (text, expected) in cases {
            let message = parse_err(&text);
            assert!(message.contains(expected), "expected `{expected}` in `{message}`");
            assert!(!message.contains('\n'), "not one line: {message}");
        }
    }

    #[test]
    fn party_response_timeout_may_be_zero() {
        let config = parse_ok(&(base() + "[mediation]\nparty_response_timeout_seconds = 0\n")).config;
        assert_eq!(config.mediation.party_response_timeout_seconds, 0);
    }

    #[test]
    fn retention_zero_keeps_everything_and_a_value_that_is_no_day_count_names_the_key() {
        let kept = parse_ok(&(base() + "[retention]\ndays = 0\n")).config.retention;
        assert_eq!(kept.cutoff(1_767_225_600), None);
        for value in ["-1", "4294967296", "\"ninety\""] {
            let error = parse_err(&(base() + &format!("[retention]\ndays = {value}\n")));
            assert!(error.contains("retention.days"), "days = {value}: {error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }

    #[test]
    fn unknown_keys_are_warnings_naming_them() {
        let text = base()
            + &solver_section(SOLVER_A_HEX, "role = \"boss\"")
            + "[timeouts]\nrenotify = 5\n[extras]\nanything = 1\n";
        let warnings = parse_ok(&text).warnings;
        for key in ["timeouts.renotify", "solvers[0].role", "extras"] {
            let expected = format!("unknown configuration key `{key}` (ignored)");
            assert!(warnings.contains(&expected), "missing `{expected}` in {warnings:?}");
        }
        assert_eq!(warnings.len(), 3, "{warnings:?}");
    }

    #[test]
    fn missing_solvers_and_repeated_relays_are_warnings() {
        let text = base() + "[[relays]]\nurl = \"ws://other.example\"\n[[relays]]\nurl = \"wss://relay.example\"\n";
        let loaded = parse_ok(&text);
        assert_eq!(loaded.config.relays.len(), 2);
        assert_eq!(
            loaded.warnings,
            [
                "relays[2].url: `wss://relay.example` repeats relays[0].url (ignored)",
                "no solvers configured; disputes will be recorded but nobody is notified",
            ]
        );
    }

    #[test]
    fn escalation_without_a_write_solver_is_a_warning() {
        let text = base() + &solver_section(SOLVER_A_HEX, "") + "[escalation]\nenabled = true\n";
        let warnings = parse_ok(&text).warnings;
        assert!(warnings.iter().any(|w| w.contains("handoffs cannot be delivered")), "{warnings:?}");
    }

    #[test]
    fn api_key_in_the_file_is_rejected() {
        let error = parse_with_env(&(base() + "[reasoning]\napi_key = \"sk-live-123\"\n"), &[]).unwrap_err();
        assert!(matches!(error, ConfigError::SecretInFile));
        assert!(error.to_string().starts_with("reasoning.api_key: secrets are not read from the file"));
        assert!(!error.to_string().contains("sk-live-123"));
    }

    /// All environment behaviour in one test: the overrides through an injected environment, then
    /// one round trip through the real process environment under a variable name used nowhere
    /// else (changing `SERBERO_*` here would race with other tests that load configurations).
    #[test]
    fn environment_overrides() {
        let other = Keys::generate();
        let other_secret = other.secret_key().to_secret_hex();
        let overridden = parse_with_env(
            &base(),
            &[
                (ENV_PRIVATE_KEY, &format!("  {other_secret}\n")),
                (ENV_DB_PATH, " /var/lib/s.db "),
                (ENV_LOG, "\tdebug "),
            ],
        )
        .unwrap()
        .config;
        assert_eq!(overridden.serbero.keys.public_key(), other.public_key());
        assert_eq!(overridden.serbero.db_path, Path::new("/var/lib/s.db"));
        assert_eq!(overridden.serbero.log_level, "debug");

        let blank = [(ENV_PRIVATE_KEY, "  "), (ENV_DB_PATH, ""), (ENV_LOG, " \n")];
        let file_values =
            parse_with_env(&base().replace("\n\n[mostro]", "\ndb_path = \"file.db\"\n\n[mostro]"), &blank)
                .unwrap()
                .config;
        assert_eq!(file_values.serbero.keys.public_key(), public_key(SECRET_PUBKEY_HEX));
        assert_eq!(file_values.serbero.db_path, Path::new("file.db"));
        assert_eq!(file_values.serbero.log_level, "info");

        let without_file_key = base().replace(&format!("private_key = \"{SECRET_HEX}\"\n"), "");
        let from_env = parse_with_env(&without_file_key, &[(ENV_PRIVATE_KEY, SECRET_HEX)]).unwrap().config;
        assert_eq!(from_env.serbero.keys.public_key(), public_key(SECRET_PUBKEY_HEX));

        let enabled =
            base() + &solver_section(SOLVER_A_HEX, "") + "[reasoning]\nenabled = true\napi_key_env = \"LLM_KEY\"\n";
        let with_key = parse_with_env(&enabled, &[("LLM_KEY", " sk-abc \n")]).unwrap();
        assert_eq!(with_key.config.reasoning.api_key.as_deref(), Some("sk-abc"));
        assert!(with_key.config.reasoning.enabled && with_key.warnings.is_empty());
        for vars in [&[][..], &[("LLM_KEY", "   ")][..]] {
            let without_key = parse_with_env(&enabled, vars).unwrap();
            assert!(!without_key.config.reasoning.enabled && without_key.config.reasoning.api_key.is_none());
            assert_eq!(
                without_key.warnings,
                ["reasoning.enabled is true but neither $LLM_KEY nor $LLM_KEY_FILE is set; \
                     mediation will stay disabled this run"]
            );
        }
        let blank_name = parse_with_env(&enabled.replace("LLM_KEY", " "), &[]).unwrap();
        assert!(blank_name.warnings[0].contains("reasoning.api_key_env is empty"), "{:?}", blank_name.warnings);

        let variable = format!("SERBERO_CONFIG_TEST_KEY_{}", std::process::id());
        let previous = std::env::var_os(&variable);
        std::env::set_var(&variable, "  sk-process-env-7f3a  ");
        let loaded = Config::from_toml_str(&enabled.replace("LLM_KEY", &variable));
        match previous {
            Some(value) => std::env::set_var(&variable, value),
            None => std::env::remove_var(&variable),
        }
        assert_eq!(loaded.unwrap().config.reasoning.api_key.as_deref(), Some("sk-process-env-7f3a"));
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug_output() {
        let secret_line = format!("private_key = \"{SECRET_HEX}\"");
        let nearly_valid = format!("{}g", &SECRET_HEX[..63]);
        let secret_nsec = Keys::parse(SECRET_HEX).unwrap().secret_key().to_bech32().unwrap();
        let broken_documents = [
            base().replace(&secret_line, &format!("private_key = \"{SECRET_HEX}")),
            base().replace(&secret_line, &format!("private_key = {SECRET_HEX}")),
            base().replace(&secret_line, &format!("{secret_line} extra")),
            base().replace(SECRET_HEX, &nearly_valid),
            base().replace(MOSTRO_HEX, &secret_nsec),
            base() + "[timeouts]\nrenotification_seconds = 0\n",
        ];
        for text in &broken_documents {
            let message = parse_err(text);
            let leaked =
                [&SECRET_HEX[..16], &nearly_valid[..16], &secret_nsec[5..21]].iter().any(|part| message.contains(part));
            assert!(!leaked, "secret in `{message}`");
        }
        let from_env = parse_with_env(&base(), &[(ENV_PRIVATE_KEY, &nearly_valid)]).unwrap_err().to_string();
        assert!(from_env.starts_with("serbero.private_key (from SERBERO_PRIVATE_KEY): not a valid secret key"));
        assert!(!from_env.contains(&nearly_valid[..16]));

        let enabled = base() + "[reasoning]\nenabled = true\n";
        let loaded = parse_with_env(&enabled, &[("SERBERO_REASONING_API_KEY", "sk-very-secret")]).unwrap();
        assert!(!format!("{loaded:?}").contains("sk-very-secret"));
        assert!(!format!("{loaded:?}").contains(SECRET_HEX));
    }

    #[test]
    fn config_file_resolution_order() {
        let cwd = tempfile::tempdir().unwrap();
        let explicit = Path::new("/etc/serbero/explicit.toml");
        let from_env = OsStr::new("/etc/serbero/env.toml");
        let resolve = |explicit, env| resolve_config_path(explicit, env, cwd.path());

        assert!(matches!(resolve(None, None), Err(ConfigError::NotFound { dir }) if dir == cwd.path()));
        std::fs::write(cwd.path().join("config.toml"), "").unwrap();
        assert_eq!(resolve(None, None).unwrap(), cwd.path().join("config.toml"));
        std::fs::write(cwd.path().join("serbero.toml"), "").unwrap();
        assert_eq!(resolve(None, None).unwrap(), cwd.path().join("serbero.toml"));
        assert_eq!(resolve(None, Some(OsStr::new(""))).unwrap(), cwd.path().join("serbero.toml"));
        assert_eq!(resolve(None, Some(from_env)).unwrap(), Path::new(from_env));
        assert_eq!(resolve(Some(explicit), Some(from_env)).unwrap(), explicit);
    }

    #[test]
    fn load_reads_the_named_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, base()).unwrap();
        let loaded = Config::load(Some(&path)).unwrap();
        assert_eq!(loaded.path, path);
        assert_eq!(loaded.config.mostro.pubkey, public_key(MOSTRO_HEX));

        let absent = dir.path().join("absent.toml");
        let error = Config::load(Some(&absent)).unwrap_err();
        assert!(matches!(error, ConfigError::Unreadable { .. }));
        assert!(error.to_string().starts_with(&format!("{}: cannot read the configuration file", absent.display())));

        std::fs::write(&path, base() + "[chat]\ninbound_fetch_interval_seconds = \"x\"\n").unwrap();
        let message = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            message.starts_with(&path.display().to_string()) && message.contains("chat.inbound_fetch_interval_seconds"),
            "{message}"
        );
    }

    /// The sample's keys are public, so it loads only once the operator replaced them: a key of
    /// their own (here through the environment) and their node's and solvers' public keys.
    #[test]
    fn shipped_sample_loads_without_warnings_once_its_keys_are_replaced() {
        let sample = include_str!("../serbero.toml");
        let untouched = parse_with_env(sample, &[]).unwrap_err().to_string();
        assert!(untouched.starts_with("serbero.private_key: the sample key published in serbero.toml"), "{untouched}");
        let own_key = Keys::generate().secret_key().to_secret_hex();
        let env = [(ENV_PRIVATE_KEY, own_key.as_str())];
        let replacements = [
            ("npub1epa3xjtdp964hz6r9hrsuxee3m4grzzmc4nm4naktrjt6kswdhxqxkzlyd", MOSTRO_HEX, "mostro.pubkey"),
            ("npub1zugth6a7mxtn42n7y3v3rf7373dchy6hz278q2kll5q5swjtngzs5vmecm", SOLVER_A_HEX, "solvers[0].pubkey"),
            ("npub1x4fsgr5yfl9kqdewwlrvrgw6e30kuwm3t6pfpsqcxq0cky7t6nqswx6zst", SOLVER_B_HEX, "solvers[1].pubkey"),
        ];
        let mut edited = sample.to_owned();
        for (placeholder, real, key) in replacements {
            let message = parse_with_env(&edited, &env).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("{key}: a placeholder key from the shipped serbero.toml")),
                "{message}"
            );
            edited = edited.replace(placeholder, real);
        }
        let loaded = parse_with_env(&edited, &env).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.config.serbero.keys.secret_key().to_secret_hex(), own_key);
        assert!(loaded.config.observers.is_empty(), "the observer example is commented out");
        let permissions: Vec<Permission> = loaded.config.solvers.iter().map(|solver| solver.permission).collect();
        assert_eq!(permissions, [Permission::Read, Permission::Write]);
        assert_eq!(loaded.config.relays[0].as_str(), "wss://relay.mostro.network");
    }

    #[test]
    fn minimal_fills_every_other_section_with_defaults() {
        let keys = Keys::generate();
        let relay = RelayUrl::parse("ws://127.0.0.1:1").unwrap();
        let config = Config::minimal(keys.clone(), public_key(MOSTRO_HEX), vec![relay], vec![], "t.db".into());
        assert_eq!(config.serbero.keys.public_key(), keys.public_key());
        assert_eq!(config.serbero.log_level, "info");
        assert_eq!(config.outbox.claim_ttl_seconds, 60);
        assert!(!config.reasoning.enabled && !config.mediation.enabled && !config.escalation.enabled);
    }

    #[test]
    fn permission_words_round_trip() {
        for permission in [Permission::Read, Permission::Write] {
            assert_eq!(permission.to_string().parse::<Permission>().unwrap(), permission);
        }
        assert_eq!(Permission::Write.as_str(), "write");
        assert!("READ".parse::<Permission>().is_err());
    }

    #[test]
    fn log_format_from_the_file_or_the_environment() {
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(format.as_str().parse::<LogFormat>(), Ok(format));
        }
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Result<LogFormat, &'a str>);
        let cases: &[Case] = &[
            ("", &[], Ok(LogFormat::Text)),
            ("log_format = \"json\"\n", &[], Ok(LogFormat::Json)),
            ("log_format = \"text\"\n", &[("SERBERO_LOG_FORMAT", "json")], Ok(LogFormat::Json)),
            ("log_format = \"json\"\n", &[("SERBERO_LOG_FORMAT", " ")], Ok(LogFormat::Json)),
            ("log_format = \"xml\"\n", &[], Err("serbero.log_format: `xml` is not text or json")),
            ("", &[("SERBERO_LOG_FORMAT", "JSON")], Err("serbero.log_format (from SERBERO_LOG_FORMAT): `JSON`")),
        ];
        for (line, env, expected) in cases {
            let text = base().replace("[mostro]", &format!("{line}\n[mostro]"));
            match (parse_with_env(&text, env), expected) {
                (Ok(loaded), Ok(format)) => assert_eq!(loaded.config.serbero.log_format, *format, "{line} {env:?}"),
                (Err(error), Err(message)) => assert!(error.to_string().starts_with(message), "{error}"),
                (got, want) => {
                    panic!("{line} {env:?}: got {:?}, want {want:?}", got.map(|l| l.config.serbero.log_format))
                }
            }
        }
    }

    #[test]
    fn http_endpoint_is_off_and_on_loopback_by_default() {
        let http = parse_ok(&base()).config.http;
        assert_eq!(http, HttpSettings { enabled: false, listen: "127.0.0.1:9797".parse().unwrap() });
        let loaded = parse_ok(&(base() + "[http]\nenabled = true\nlisten = \"[::1]:9100\"\n"));
        assert_eq!(loaded.config.http.listen, "[::1]:9100".parse().unwrap());
        assert!(!loaded.warnings.iter().any(|w| w.contains("http")), "{:?}", loaded.warnings);
    }

    #[test]
    fn http_listen_must_be_an_address_and_a_public_one_is_warned_about() {
        let error = parse_err(&(base() + "[http]\nlisten = \"localhost\"\n"));
        assert_eq!(error, "http.listen: `localhost` is not an address and port (e.g. 127.0.0.1:9797)");
        let loaded = parse_ok(&(base() + "[http]\nenabled = true\nlisten = \"0.0.0.0:9797\"\n"));
        assert!(
            loaded.warnings.iter().any(|w| w.contains("0.0.0.0:9797 is not a loopback address")),
            "{:?}",
            loaded.warnings
        );
        let off = parse_ok(&(base() + "[http]\nlisten = \"0.0.0.0:9797\"\n"));
        assert!(
            !off.warnings.iter().any(|w| w.contains("http")),
            "a disabled endpoint listens nowhere: {:?}",
            off.warnings
        );
    }
}
