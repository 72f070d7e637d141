//! The error every configuration failure becomes, and shorthands for the two most common: a key
//! that is missing and a value that is invalid.

use std::io;
use std::path::PathBuf;

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

pub(super) fn missing(key: impl Into<String>, hint: &'static str) -> ConfigError {
    ConfigError::Missing { key: key.into(), hint }
}

pub(super) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), problem: problem.into() }
}
