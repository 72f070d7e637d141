//! Payment data in a party question: a party must never be handed somewhere to pay or an amount
//! of bitcoin to move, so links, domains, Lightning invoices, offers and addresses, bitcoin
//! addresses, Nostr keys, hex keys and bitcoin amounts are refused outright, even truncated
//! ("bc1q…", "lnbc…").

use std::sync::LazyLock;

use regex::Regex;

use super::normalise::key;

/// What payment data looks like, by name; read on the visible text (NFKC, invisible characters
/// removed, case kept).
static PATTERNS: LazyLock<Vec<(&str, Regex)>> = LazyLock::new(|| {
    let patterns = [
        ("link", r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S*"),
        ("payment URI", r"(?i)\b(?:bitcoin|lightning|nostr|lnurl[a-z]*):\S"),
        ("Lightning address or e-mail", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
        ("domain", r"\b[\w-]+(?:\.[\w-]+)*\.\p{L}{2,24}\b"),
        ("bitcoin sign", "₿"),
    ];
    compile(&patterns)
});

/// Payment data that stays recognisable with its spaces taken out ("bc1 qar0 srrr…"), read on
/// the visible text both as written and without whitespace.
static CODES: LazyLock<Vec<(&str, Regex)>> = LazyLock::new(|| {
    let patterns = [
        ("Lightning invoice", r"(?i)\bln(?:bcrt|bc|tbs|tb|sb|sd)\w*"),
        ("Lightning offer or BOLT12 text", r"(?i)\bln[oir](?:1|\.\.\.)\w*"),
        ("LNURL", r"(?i)\blnurl\w*"),
        ("bech32 address", r"(?i)\b(?:bc|tb|bcrt)1[02-9ac-hj-np-z]\w*"),
        ("Nostr key or id", r"(?i)\b(?:npub|nsec|note|nprofile|nevent|naddr|nrelay|ncryptsec)1[02-9ac-hj-np-z]\w*"),
        ("hex key", r"(?i)\b[0-9a-f]{64,}\b"),
    ];
    compile(&patterns)
});

fn compile<'a>(patterns: &[(&'a str, &str)]) -> Vec<(&'a str, Regex)> {
    patterns.iter().map(|&(name, pattern)| (name, Regex::new(pattern).expect("a valid pattern"))).collect()
}

/// Base58 addresses are told from numbers by their letters: full length, or cut short with "...".
static BASE58_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[13][1-9A-HJ-NP-Za-km-z]{25,34}\b|\b[13][1-9A-HJ-NP-Za-km-z]{4,}\.\.\.").expect("a valid pattern")
});

/// Units an amount of bitcoin is written in, matched on their keys so that look-alike letters
/// and spaced-out letters ("B T C") count.
const BITCOIN_UNITS: &[&str] = &[
    "btc",
    "xbt",
    "mbtc",
    "ubtc",
    "μbtc",
    "msat",
    "msats",
    "sat",
    "sats",
    "satoshi",
    "satoshis",
    "bit",
    "bits",
    "bitcoin",
    "bitcoins",
    "сатоши",
    "сат",
    "саты",
    "сатс",
    "биткоин",
    "биткоина",
    "биткоинов",
    "биткойн",
];
/// Multipliers between a number and its unit ("50k sats", "1,5 mil sats").
const MULTIPLIERS: &[&str] =
    &["k", "m", "mil", "mio", "mln", "million", "thousand", "тыс", "bin", "ribu", "tys", "mille"];

/// A number next to a bitcoin unit, read on `latin_letters` of the text.
static BITCOIN_AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    let spaced =
        |word: &str| key(word).chars().map(|c| regex::escape(&c.to_string())).collect::<Vec<_>>().join(r"[\s._-]*");
    let units = BITCOIN_UNITS.iter().map(|u| spaced(u)).collect::<Vec<_>>().join("|");
    let multipliers = MULTIPLIERS.iter().map(|m| spaced(m)).collect::<Vec<_>>().join("|");
    let number = r"\d(?:[\d\s.,'’_]*\d)?";
    let pattern =
        format!(r"(?i){number}\s*(?:(?:{multipliers})\.?\s*)?(?:{units})(?:[^\p{{L}}]|$)|\b(?:{units})\s*{number}");
    Regex::new(&pattern).expect("a valid pattern")
});

/// The first piece of payment data in `visible_text`, named, with what matched.
pub(super) fn payment_data(visible_text: &str) -> Option<String> {
    let named = |name: &str, found: &str| format!("{name}: {found:?}");
    let unspaced: String = visible_text.chars().filter(|c| !c.is_whitespace()).collect();
    let texts = [visible_text, unspaced.as_str()];
    let codes = CODES.iter().flat_map(|code| texts.map(|text| (code, text)));
    let found = PATTERNS
        .iter()
        .map(|pattern| (pattern, visible_text))
        .chain(codes)
        .find_map(|((name, pattern), text)| pattern.find(text).map(|m| (name, m.as_str())));
    if let Some((name, found)) = found {
        return Some(named(name, found));
    }
    if let Some(found) = BASE58_ADDRESS.find_iter(visible_text).find(|m| m.as_str().chars().any(char::is_alphabetic)) {
        return Some(named("bitcoin address", found.as_str()));
    }
    let latin = latin_letters(visible_text);
    BITCOIN_AMOUNT.find(&latin).map(|m| named("bitcoin amount", m.as_str().trim()))
}

/// Letters replaced by their matching keys, digits and punctuation kept: "0.01 ВТС" reads
/// "0.01 btc", where a key of the whole text would also turn the digits into letters.
fn latin_letters(text: &str) -> String {
    text.chars().map(|c| if c.is_alphabetic() { key(&c.to_string()) } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_data_is_found_in_every_form() {
        for text in [
            "Send 0.01 ₿ to bc1q…",
            "Can you pay to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?",
            "Is 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa yours?",
            "Did you scan lnbc…?",
            "Did you pay LNBC2500U1PVJLUEZPP5QQQSYQCYQ5RQWZQFQQQSYQCYQ5RQWZQFQQQ?",
            "Could you use lno1qcp4256ypq?",
            "Did you open LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS?",
            "Is satoshi@getalby.com your address?",
            "Did you visit https://example.org/pay?",
            "Did you open mostro.network today?",
            "Is npub1sg6plzptd64u62a878hep2kev88swjh3tw00gjsfl8f237lmu63q0uf63m yours?",
            "Is 3f9a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff the hash?",
            "Transfer 0.5 mBTC to the buyer.",
            "Did you receive 50,000 sats?",
            "Did you get 50k sats?",
            "Was it 0,01 B T C?",
            "Was it 0.01 ВТС?",
            "Was it 100 satoshis?",
            "Was it sats 5000?",
            "Can you pay bc1q ar0s rrr7 xfkv y5l6 43ly?",
        ] {
            assert!(payment_data(text).is_some(), "{text}");
        }
    }

    #[test]
    fn ordinary_questions_carry_none() {
        for text in [
            "Did you pay 50.000 ARS on 1.5.2024 at 10.30?",
            "Did you send the payment, e.g. by SEPA?",
            "Which bank did you use, and was it 1999 or 2000 EUR?",
            "How many sats were locked in the order?",
            "Did the note on the transfer mention the order number 3?",
            "Did you pay €120 by bank transfer?",
        ] {
            assert_eq!(payment_data(text), None, "{text}");
        }
    }
}
