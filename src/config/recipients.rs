//! Who receives Serbero's direct messages, and in which forms: `[[solvers]]` (notified of every
//! dispute, addressed by mediation and escalation) and `[[observers]]` (one short line per
//! mediation milestone, never a party's words).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use nostr_sdk::PublicKey;
use serde::Deserialize;

use super::error::{invalid, ConfigError};
use super::network::parse_public_key;
use super::samples;

/// One form a message travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A NIP-17 gift wrap: read by generic Nostr clients; the body is the bare text.
    Nip17,
    /// A Mostro protocol v2 `send-dm` (kind 14, signed by Serbero): read by Mostrix's SERBERO
    /// pane; the text starts with `Dispute <id> · <subject>`.
    Mostrix,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Nip17, Format::Mostrix];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Nip17 => "nip17",
            Format::Mostrix => "mostrix",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Format::ALL.into_iter().find(|f| f.as_str() == word).ok_or_else(|| format!("`{word}` is not nip17 or mostrix"))
    }
}

/// The forms one recipient receives; never empty. Both by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Formats {
    nip17: bool,
    mostrix: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Self { nip17: true, mostrix: true }
    }
}

impl Formats {
    pub fn only(format: Format) -> Self {
        Self { nip17: format == Format::Nip17, mostrix: format == Format::Mostrix }
    }

    pub fn contains(self, format: Format) -> bool {
        match format {
            Format::Nip17 => self.nip17,
            Format::Mostrix => self.mostrix,
        }
    }

    pub fn iter(self) -> impl Iterator<Item = Format> {
        Format::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// `["nip17", "mostrix"]` as written in the file: a known word at least once, no other word.
    fn parse(key: &str, words: &[String]) -> Result<Self, ConfigError> {
        let mut formats = Self { nip17: false, mostrix: false };
        for word in words {
            match word.trim().parse().map_err(|problem: String| invalid(key, problem))? {
                Format::Nip17 => formats.nip17 = true,
                Format::Mostrix => formats.mostrix = true,
            }
        }
        if !(formats.nip17 || formats.mostrix) {
            return Err(invalid(key, "names no format: list \"nip17\", \"mostrix\" or both (omit it for both)"));
        }
        Ok(formats)
    }
}

impl fmt::Display for Formats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.iter().map(Format::as_str).collect();
        f.write_str(&words.join(", "))
    }
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

/// One `[[solvers]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solver {
    pub pubkey: PublicKey,
    pub permission: Permission,
    pub formats: Formats,
}

impl Solver {
    /// A solver receiving both forms.
    pub fn new(pubkey: PublicKey, permission: Permission) -> Self {
        Self { pubkey, permission, formats: Formats::default() }
    }
}

/// One `[[observers]]` entry: a watchdog or a team channel's bot following mediation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observer {
    pub pubkey: PublicKey,
    pub formats: Formats,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawSolver {
    pubkey: Option<String>,
    permission: Option<String>,
    formats: Option<Vec<String>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawObserver {
    pubkey: Option<String>,
    formats: Option<Vec<String>>,
}

fn formats(key: String, words: Option<Vec<String>>) -> Result<Formats, ConfigError> {
    match words {
        Some(words) => Formats::parse(&key, &words),
        None => Ok(Formats::default()),
    }
}

/// No solvers is allowed (disputes are recorded, nobody is notified); a repeated pubkey is not.
pub(super) fn solvers(
    raw: Vec<RawSolver>,
    us: &PublicKey,
    warnings: &mut Vec<String>,
) -> Result<Vec<Solver>, ConfigError> {
    if raw.is_empty() {
        warnings.push("no solvers configured; disputes will be recorded but nobody is notified".to_owned());
    }
    let mut first_index: HashMap<PublicKey, usize> = HashMap::new();
    let mut solvers = Vec::with_capacity(raw.len());
    for (index, solver) in raw.into_iter().enumerate() {
        let key = format!("solvers[{index}].pubkey");
        let pubkey = recipient_key(&key, solver.pubkey, us, "a solver's")?;
        if let Some(first) = first_index.insert(pubkey, index) {
            return Err(invalid(key, format!("same public key as solvers[{first}].pubkey")));
        }
        let permission = match solver.permission {
            Some(word) => word.parse().map_err(|error: UnknownPermission| {
                invalid(format!("solvers[{index}].permission"), error.to_string())
            })?,
            None => Permission::Read,
        };
        let formats = formats(format!("solvers[{index}].formats"), solver.formats)?;
        solvers.push(Solver { pubkey, permission, formats });
    }
    Ok(solvers)
}

/// Each observer once, and none that is also a solver: a key gets one kind of message.
pub(super) fn observers(
    raw: Vec<RawObserver>,
    us: &PublicKey,
    solvers: &[Solver],
) -> Result<Vec<Observer>, ConfigError> {
    let mut first_index: HashMap<PublicKey, usize> = HashMap::new();
    let mut observers = Vec::with_capacity(raw.len());
    for (index, observer) in raw.into_iter().enumerate() {
        let key = format!("observers[{index}].pubkey");
        let pubkey = recipient_key(&key, observer.pubkey, us, "an observer's")?;
        if let Some(first) = first_index.insert(pubkey, index) {
            return Err(invalid(key, format!("same public key as observers[{first}].pubkey")));
        }
        if let Some(solver) = solvers.iter().position(|solver| solver.pubkey == pubkey) {
            let problem =
                format!("same public key as solvers[{solver}].pubkey; a key is a solver or an observer, not both");
            return Err(invalid(key, problem));
        }
        let formats = formats(format!("observers[{index}].formats"), observer.formats)?;
        observers.push(Observer { pubkey, formats });
    }
    Ok(observers)
}

/// A recipient's key: a valid public key, not a sample placeholder, not Serbero's own.
fn recipient_key(key: &str, text: Option<String>, us: &PublicKey, whose: &str) -> Result<PublicKey, ConfigError> {
    let pubkey = parse_public_key(key, text)?;
    samples::refuse_sample_public(key, &pubkey, whose)?;
    if pubkey == *us {
        return Err(invalid(
            key,
            "Serbero's own public key (serbero.private_key); Serbero would send messages to itself",
        ));
    }
    Ok(pubkey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_as_written() {
        let words = |list: &[&str]| list.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let cases: [(&[&str], Result<Formats, &str>); 6] = [
            (&["nip17", "mostrix"], Ok(Formats::default())),
            (&["mostrix"], Ok(Formats::only(Format::Mostrix))),
            (&[" nip17 ", "nip17"], Ok(Formats::only(Format::Nip17))),
            (&[], Err("k: names no format")),
            (&["NIP17"], Err("k: `NIP17` is not nip17 or mostrix")),
            (&["nip17", "email"], Err("k: `email` is not nip17 or mostrix")),
        ];
        for (list, want) in cases {
            match (formats("k".into(), Some(words(list))), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{list:?}"),
                (Err(got), Err(want)) => assert!(got.to_string().starts_with(want), "{list:?}: {got}"),
                (got, want) => panic!("{list:?}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(formats("k".into(), None).unwrap(), Formats::default());
        assert_eq!(Formats::default().to_string(), "nip17, mostrix");
    }

    #[test]
    fn permission_words_round_trip() {
        for permission in [Permission::Read, Permission::Write] {
            assert_eq!(permission.to_string().parse::<Permission>().unwrap(), permission);
        }
        assert_eq!(Permission::Write.as_str(), "write");
        assert!("READ".parse::<Permission>().is_err());
    }
}
