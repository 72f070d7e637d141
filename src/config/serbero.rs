//! Section `[serbero]`: Serbero's own key, its database and how it logs, each with an
//! environment override.

use std::path::PathBuf;
use std::str::FromStr;

use nostr_sdk::Keys;
use serde::Deserialize;

use super::error::{invalid, missing, ConfigError};
use super::{env_override, samples, secrets, EnvLookup};

pub(super) const ENV_PRIVATE_KEY: &str = "SERBERO_PRIVATE_KEY";
pub(super) const ENV_DB_PATH: &str = "SERBERO_DB_PATH";
pub(super) const ENV_LOG: &str = "SERBERO_LOG";
const ENV_LOG_FORMAT: &str = "SERBERO_LOG_FORMAT";

const DEFAULT_DB_PATH: &str = "serbero.db";
pub(super) const DEFAULT_LOG_LEVEL: &str = "info";

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

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawSerbero {
    private_key: Option<String>,
    db_path: Option<PathBuf>,
    log_level: Option<String>,
    log_format: Option<String>,
}

impl RawSerbero {
    pub(super) fn validate(self, env: EnvLookup, warnings: &mut Vec<String>) -> Result<SerberoSettings, ConfigError> {
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
