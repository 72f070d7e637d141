//! Keys published in the shipped `serbero.toml`, refused wherever a configuration uses them.

use nostr_sdk::PublicKey;

use super::error::{invalid, ConfigError};

/// Every key written in the shipped `serbero.toml`, commented-out examples included, as public
/// keys (a test below keeps this list and the file in step). Anyone can read them there: with
/// the sample secret key anyone could read Serbero's messages and sign as Serbero, and the
/// public ones are placeholders marked REPLACE. Refused as Serbero's key, as `mostro.pubkey` and
/// as any solver or observer.
const SAMPLE_PUBLIC_KEYS: [&str; 5] = [
    // Public key of the sample `[serbero] private_key` (nsec10eg29u5ru6c2j4h8vnp5ntyf0y94jkpfn6l88ceg8ynx5chjwpgsar5ek5).
    "npub10445ffp83lsksk2cm8rgwuy4ej988p5c2tez40xsz9nvlgah092qnmu2wx",
    // `[mostro] pubkey`.
    "npub1epa3xjtdp964hz6r9hrsuxee3m4grzzmc4nm4naktrjt6kswdhxqxkzlyd",
    // The two `[[solvers]]` entries.
    "npub1zugth6a7mxtn42n7y3v3rf7373dchy6hz278q2kll5q5swjtngzs5vmecm",
    "npub1x4fsgr5yfl9kqdewwlrvrgw6e30kuwm3t6pfpsqcxq0cky7t6nqswx6zst",
    // The commented-out `[[observers]]` example.
    "npub14v7vcpzjllrzfvanhhvf96x6nxul7rq0guk6cekz633fwpwuwx7qke3kkm",
];

fn is_sample(pubkey: &PublicKey) -> bool {
    SAMPLE_PUBLIC_KEYS.iter().any(|sample| PublicKey::parse(sample).is_ok_and(|sample| sample == *pubkey))
}

/// Serbero's own key (by its public key): the sample one is known to everybody.
pub(super) fn refuse_sample_secret(key: &str, ours: &PublicKey) -> Result<(), ConfigError> {
    if is_sample(ours) {
        return Err(invalid(
            key,
            "the sample key published in serbero.toml, with which anyone can read Serbero's messages and \
             sign as Serbero; generate a key of your own (e.g. `openssl rand -hex 32`)",
        ));
    }
    Ok(())
}

/// A public key copied from the sample; `whose` says what belongs there instead.
pub(super) fn refuse_sample_public(key: &str, pubkey: &PublicKey, whose: &str) -> Result<(), ConfigError> {
    if is_sample(pubkey) {
        return Err(invalid(
            key,
            format!("a placeholder key from the shipped serbero.toml (marked REPLACE); put {whose} public key here"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::Keys;
    use std::collections::HashSet;

    #[test]
    fn every_listed_key_parses() {
        for sample in SAMPLE_PUBLIC_KEYS {
            assert!(PublicKey::parse(sample).is_ok(), "{sample}");
        }
    }

    /// Every quoted value of the shipped sample, comments included, that reads as a key (secret
    /// or public, hex or bech32) must be in the list: an edit of the sample cannot add a key
    /// that operators could leave in place unnoticed.
    #[test]
    fn every_key_in_the_shipped_sample_is_listed() {
        let sample = include_str!("../../serbero.toml");
        let quoted = sample.lines().flat_map(|line| line.split('"').skip(1).step_by(2));
        let mut found = HashSet::new();
        for value in quoted {
            let as_public = PublicKey::parse(value).ok();
            let as_secret = Keys::parse(value).ok().map(|keys| keys.public_key());
            if as_public.is_none() && as_secret.is_none() {
                continue;
            }
            let listed = as_public.into_iter().chain(as_secret).find(is_sample);
            found.insert(listed.unwrap_or_else(|| panic!("`{value}` in serbero.toml is not in SAMPLE_PUBLIC_KEYS")));
        }
        assert_eq!(found.len(), SAMPLE_PUBLIC_KEYS.len(), "a listed key is no longer in the sample: {found:?}");
    }

    #[test]
    fn refusals_name_the_entry_and_never_the_key() {
        let sample = PublicKey::parse(SAMPLE_PUBLIC_KEYS[2]).unwrap();
        let own = Keys::generate().public_key();
        assert!(refuse_sample_public("k", &own, "x").is_ok() && refuse_sample_secret("k", &own).is_ok());
        let error = refuse_sample_public("solvers[0].pubkey", &sample, "a solver's").unwrap_err().to_string();
        assert_eq!(
            error,
            "solvers[0].pubkey: a placeholder key from the shipped serbero.toml (marked REPLACE); \
             put a solver's public key here"
        );
        let ours = PublicKey::parse(SAMPLE_PUBLIC_KEYS[0]).unwrap();
        let error = refuse_sample_secret("serbero.private_key", &ours).unwrap_err().to_string();
        assert!(error.starts_with("serbero.private_key: the sample key published in serbero.toml"), "{error}");
    }
}
