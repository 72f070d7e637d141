//! Where Serbero talks: the Mostro node it serves (`[mostro]`) and the relays (`[[relays]]`);
//! also the public-key reading every keyed entry shares.

use std::collections::HashMap;

use nostr_sdk::{PublicKey, RelayUrl};
use serde::Deserialize;

use super::error::{invalid, missing, ConfigError};
use super::samples;

/// Section `[mostro]`.
#[derive(Clone, Debug)]
pub struct MostroSettings {
    pub pubkey: PublicKey,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawMostro {
    pubkey: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRelay {
    url: Option<String>,
}

impl RawMostro {
    /// The node's key must be the operator's node's: neither the sample's nor Serbero's own.
    pub(super) fn validate(self, us: &PublicKey) -> Result<MostroSettings, ConfigError> {
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

/// The value is not quoted back: an operator who pasted a secret key here must not see it echoed.
pub(super) fn parse_public_key(key: &str, text: Option<String>) -> Result<PublicKey, ConfigError> {
    let text = text
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| missing(key, "set a public key (64 hex characters or npub1…)"))?;
    PublicKey::parse(text.trim())
        .map_err(|_| invalid(key, "not a valid public key (expected 64 hex characters or npub1…)"))
}

/// At least one relay is required; a repeated URL is dropped with a warning.
pub(super) fn relay_urls(raw: Vec<RawRelay>, warnings: &mut Vec<String>) -> Result<Vec<RelayUrl>, ConfigError> {
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
