//! Durations and counts near `u64::MAX` would overflow the arithmetic on Unix times
//! (`now + seconds as i64`) and counters: every one has a largest allowed value, checked at load.

use super::super::checks::bounded_values;
use super::super::*;
use super::loading::{base, full_document, parse_with_env};

/// `[section]` with `name = value` for `key` (`section.name`); a retry's first delay at its
/// limit needs the longest delay raised with it.
fn with_value(key: &str, value: &str) -> String {
    let (section, name) = key.split_once('.').unwrap();
    let companion =
        if key == "outbox.retry_initial_seconds" { format!("retry_max_seconds = {value}\n") } else { String::new() };
    base() + &format!("[{section}]\n{name} = {value}\n{companion}")
}

fn refusal(text: &str) -> String {
    match parse_with_env(text, &[]) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(error) => error.to_string(),
    }
}

fn keys() -> Vec<&'static str> {
    let defaults = parse_with_env(&base(), &[]).unwrap().config;
    bounded_values(&defaults).into_iter().map(|(key, _)| key).collect()
}

#[test]
fn every_duration_and_count_is_accepted_at_its_limit_and_refused_above_it() {
    for key in keys() {
        let (max, in_words) = limit_of(key).unwrap_or_else(|| panic!("{key} has no limit"));
        let loaded = parse_with_env(&with_value(key, &max.to_string()), &[])
            .unwrap_or_else(|e| panic!("{key} = {max} refused: {e}"));
        let value = bounded_values(&loaded.config).into_iter().find(|(k, _)| *k == key).unwrap().1;
        assert_eq!(value, max, "{key}");

        let in_words = if in_words.is_empty() { String::new() } else { format!(" ({in_words})") };
        let is_count = !key.ends_with("_seconds");
        // Just above; for durations also the largest integer TOML has and beyond it (a count
        // beyond u32 is already a type error naming the key).
        let mut above = vec![(max + 1).to_string()];
        if !is_count {
            above.extend([i64::MAX.to_string(), u64::MAX.to_string(), "99_999_999_999_999_999_999".to_owned()]);
        }
        for value in above {
            assert_eq!(
                refusal(&with_value(key, &value)),
                format!("{key}: {value} is more than the largest allowed, {max}{in_words}")
            );
        }
    }
}

#[test]
fn the_issue_s_example_reads_as_promised() {
    assert_eq!(MAX_SECONDS, 10 * 365 * 24 * 60 * 60);
    assert_eq!(
        refusal(&with_value("mediation.take_timeout_seconds", "18446744073709551615")),
        "mediation.take_timeout_seconds: 18446744073709551615 is more than the largest allowed, 315360000 (ten years)"
    );
    // A Unix time in 2100 plus the limit is far from the end of i64.
    assert!(4_102_444_800_i64.checked_add(MAX_SECONDS as i64).is_some());
}

#[test]
fn a_huge_number_elsewhere_names_its_key_without_echoing_it() {
    let text = base().replace("[mostro]\n", "[mostro]\nsomething = 123456789012345678901234567890\n");
    assert_eq!(refusal(&text), format!("mostro.something: a number larger than TOML allows ({})", i64::MAX));
    // Other syntax errors keep the parser's own message.
    assert!(refusal(&(base() + "[outbox]\nmax_attempts = 01\n")).starts_with("<inline>: "));
}

/// A new `*_seconds` key (or count, or `retention.days`) cannot be forgotten: every one in the
/// complete sample document is in the table.
#[test]
fn the_table_names_every_seconds_key_and_count() {
    let keys = keys();
    let mut section = String::new();
    let mut seen = 0;
    for line in full_document().lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim_matches(['[', ']']).to_owned();
            continue;
        }
        let Some((name, _)) = line.split_once(" = ") else { continue };
        let is_count = name.ends_with("_attempts") || name.ends_with("_count") || name == "max_rounds";
        if name.ends_with("_seconds") || name == "days" || is_count {
            let key = format!("{section}.{name}");
            assert!(keys.contains(&key.as_str()), "{key} has no limit in bounded_values");
            seen += 1;
        }
    }
    assert_eq!(seen, keys.len(), "every key of the table is in the sample document");
}
