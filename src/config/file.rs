//! The configuration file: which one is read, and its TOML parsed into the raw sections with
//! unknown keys as warnings and parse errors as one line that quotes no secret.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::checks::{above_limit, limit_of};
use super::error::{invalid, ConfigError};
use super::RawConfig;

/// Looked for in the working directory, in this order, when no path is given.
const DEFAULT_FILE_NAMES: [&str; 2] = ["serbero.toml", "config.toml"];

/// Picks the configuration file: the explicit path, else `$SERBERO_CONFIG` (verbatim), else the
/// first of `serbero.toml`, `config.toml` that exists in `cwd`.
pub(super) fn resolve_config_path(
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

/// Parses the TOML through the `config` crate, turning every unknown key into a warning.
pub(super) fn read_raw(text: &str, path: &Path, warnings: &mut Vec<String>) -> Result<RawConfig, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
