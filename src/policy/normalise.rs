//! One normalisation for every outbound check, so that a word is the same word however it is
//! spelled: Unicode NFKC (full-width, mathematical, circled letters), without default-ignorable
//! code points (zero-width characters, variation selectors, soft hyphens, tag characters), then
//! the confusable skeleton of Unicode TR39 for matching (look-alike letters from other scripts).
//! The tables are the maintained ones of `unicode-normalization`, `icu_properties` and
//! `unicode-security`.

use icu_properties::props::DefaultIgnorableCodePoint;
use icu_properties::CodePointSetData;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{skeleton, MixedScript};

/// Characters that render as nothing: whatever they join or split is read as if they were not there.
pub(crate) fn is_default_ignorable(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// NFKC without default-ignorable code points.
pub(crate) fn visible(text: &str) -> String {
    compatible(text).chars().filter(|c| !is_default_ignorable(*c)).collect()
}

/// NFKC, invisible characters kept (for a reader that wants to know where they were).
pub(crate) fn compatible(text: &str) -> String {
    text.chars().map(enclosed_letter_as_letter).nfkc().collect()
}

/// Regional indicators (🇷 🇪) and negative circled or squared letters (🅡 🆁) are the letters
/// A–Z in order but have no compatibility decomposition, so NFKC leaves them; as spelled letters
/// they are plain letters.
fn enclosed_letter_as_letter(c: char) -> char {
    let first = match c {
        '\u{1F1E6}'..='\u{1F1FF}' => 0x1F1E6,
        '\u{1F150}'..='\u{1F169}' => 0x1F150,
        '\u{1F170}'..='\u{1F189}' => 0x1F170,
        _ => return c,
    };
    char::from_u32('a' as u32 + (c as u32 - first)).unwrap_or(c)
}

/// What a reader sees, compared loosely: `visible`, lowercase, without diacritics. Evidence is
/// shown in this form, and grammatical endings are read in it.
pub(crate) fn fold(text: &str) -> String {
    let lower = visible(text).to_lowercase();
    lower.nfd().filter(|c| !is_combining_mark(*c)).nfc().collect()
}

/// The matching key: `fold`, with every letter from outside Latin replaced by the Latin letter
/// it imitates according to the TR39 confusable skeleton ("rеlеаsе" with Cyrillic `е` and `а`,
/// a whole word in Cyrillic like "рау"). Latin letters stay as they are, because the skeleton
/// also merges some of them ("m" with "rn"), which would make "calm" match a stem "cair".
/// Letters with no Latin look-alike stay too, so a Russian word keys the same way as the
/// Russian entry it should match. A capital `I` between small letters is the `l` it imitates
/// ("reIease").
pub(crate) fn key(text: &str) -> String {
    let chars: Vec<char> = visible(text).chars().collect();
    let small_letter_at = |at: Option<usize>| at.and_then(|at| chars.get(at)).is_some_and(|c| c.is_lowercase());
    let mut key = String::with_capacity(text.len());
    for (at, &c) in chars.iter().enumerate() {
        match c {
            'I' if small_letter_at(at.checked_sub(1)) && small_letter_at(Some(at + 1)) => key.push('l'),
            c if c.is_ascii() => key.push(c.to_ascii_lowercase()),
            c => key.push_str(&latin_prototype(c)),
        }
    }
    key
}

/// The Latin letters a character imitates, tried in small and capital form (Cyrillic "к" has a
/// prototype only as "К", Latin "ɑ" only in small form), else the character folded.
fn latin_prototype(c: char) -> String {
    let folded = fold(&c.to_string());
    if folded.is_ascii() {
        return folded;
    }
    [folded.clone(), folded.to_uppercase()]
        .into_iter()
        .map(|form| skeleton(&form).filter(|c| !is_combining_mark(*c)).collect::<String>().to_lowercase())
        .find(|prototype| !prototype.is_empty() && prototype.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or(folded)
}

/// A word that mixes scripts ("rеlеаsе" with Cyrillic `е`, `а`), read as the Latin-looking word
/// it imitates; other words as `fold` leaves them.
pub(crate) fn readable(word: &str) -> String {
    if visible(word).is_single_script() {
        fold(word)
    } else {
        key(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_disappear() {
        let hidden = "re\u{FE0E}le\u{200D}as\u{00AD}e\u{E0041} \u{2060}the sats";
        assert_eq!(visible(hidden), "release the sats");
        for c in ['\u{200B}', '\u{200C}', '\u{200D}', '\u{FE0F}', '\u{E0100}', '\u{180B}', '\u{2066}', '\u{FEFF}'] {
            assert!(is_default_ignorable(c), "U+{:04X}", c as u32);
        }
        assert!(!is_default_ignorable('a') && !is_default_ignorable(' '));
    }

    #[test]
    fn compatibility_forms_and_accents_fold() {
        assert_eq!(fold("ｒｅｌｅａｓｅ 𝐫𝐞𝐥𝐞𝐚𝐬𝐞 ⓡⓔⓛⓔⓐⓢⓔ 🇷🇪🇱🇪🇦🇸🇪 🆁🅴🅻🅴🅰🆂🅴"), "release release release release release");
        assert_eq!(fold("Libérelos YA"), "liberelos ya");
        assert_eq!(fold("Überweisen"), "uberweisen");
        assert_eq!(fold("Пожалуйста"), "пожалуиста", "й loses its breve like any diacritic");
    }

    #[test]
    fn look_alikes_share_a_key() {
        for spelling in ["reℓease", "rеlеаsе", "reIease", "RELEASE", "ｒｅｌｅａｓｅ"] {
            assert_eq!(key(spelling), key("release"), "{spelling}");
        }
        assert_eq!(key("рау"), key("pay"), "a whole word in Cyrillic letters");
        assert_eq!(key("ОТПУСТИТЕ"), key("отпустите"));
        assert_eq!(key("schließen"), key("schliessen"));
        assert_eq!(key("Zwolnić"), "zwolnic");
        assert_eq!(key("ɑmount"), "amount");
        assert_ne!(key("calm"), key("cairn"), "Latin letters are not merged among themselves");
        assert_ne!(key("release"), key("relapse"));
    }

    #[test]
    fn mixed_script_words_read_as_latin() {
        assert_eq!(readable("rеlеаsе"), "release");
        assert_eq!(readable("отпустите"), "отпустите", "a Russian word stays Russian");
        assert_eq!(readable("Überweisen"), "uberweisen");
    }
}
