//! The words of a party question, each readable (for evidence and grammatical endings) and
//! keyed (for the vocabulary), with the masks people put on words undone: leetspeak ("r3l3ase",
//! "l1berar") and letters written one by one ("r e l e a s e", "r.e.l.e.a.s.e").

use unicode_normalization::char::is_combining_mark;

use super::concepts::LEXICON;
use super::normalise::{key, readable};

/// Fewest letters written one by one that we read as a spelled-out word.
const SPELLED_RUN: usize = 3;

/// A word, as read and as keyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub text: String,
    pub key: String,
}

/// The words of `text` (visible text); numbers keep their digits only.
pub(super) fn tokens(text: &str) -> Vec<Token> {
    let is_word_char = |c: char| c.is_alphanumeric() || is_combining_mark(c) || "@$".contains(c);
    let raw = text.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty());
    join_spelled_out(raw.filter_map(token).collect())
}

fn token(raw: &str) -> Option<Token> {
    let text = readable(raw);
    if !text.chars().any(char::is_alphabetic) {
        let digits: String = text.chars().filter(|c| c.is_numeric()).collect();
        return (!digits.is_empty()).then(|| Token { key: digits.clone(), text: digits });
    }
    if !text.chars().any(|c| "01345678@$".contains(c)) {
        // Keyed as written, so that a capital `I` standing for `l` ("reIease") still counts.
        return Some(Token { key: key(raw), text });
    }
    let known = |one| !LEXICON.senses(&key(&unleet(raw, one))).is_empty();
    let one = if known('l') || !known('i') { 'l' } else { 'i' };
    Some(Token { key: key(&unleet(raw, one)), text: unleet(&text, one) })
}

/// Digits and signs standing for letters; `1` stands for `one`, `i` or `l`, whichever makes a
/// word of the vocabulary.
fn unleet(word: &str, one: char) -> String {
    let letter = |c| match c {
        '0' => 'o',
        '1' => one,
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        c => c,
    };
    word.chars().map(letter).collect()
}

fn join_spelled_out(tokens: Vec<Token>) -> Vec<Token> {
    let is_letter = |t: &Token| t.text.chars().count() == 1 && t.text.chars().all(char::is_alphabetic);
    let mut out = Vec::with_capacity(tokens.len());
    let mut run: Vec<Token> = Vec::new();
    for token in tokens.into_iter().map(Some).chain([None]) {
        match token {
            Some(token) if is_letter(&token) => run.push(token),
            other => {
                if run.len() >= SPELLED_RUN {
                    let text: String = run.drain(..).map(|t| t.text).collect();
                    out.push(Token { key: key(&text), text });
                }
                out.append(&mut run);
                out.extend(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn words_are_read_through_masks() {
        assert_eq!(texts("r e l e a s e now, r.e.l.e.a.s.e"), ["release", "now", "release"]);
        assert_eq!(texts("r3l3as3 th3 fund$ 50.000"), ["release", "the", "funds", "50", "000"]);
        assert_eq!(texts("re1ease l1berar"), ["release", "liberar"], "1 as l or i, whichever is a word");
        assert_eq!(texts("rеlеаsе libérelos"), ["release", "liberelos"]);
        assert_eq!(texts("y a la"), ["y", "a", "la"], "two single letters stay apart");
    }

    #[test]
    fn a_capital_i_between_small_letters_keys_as_l() {
        assert_eq!(tokens("reIease")[0].key, "release");
        assert_eq!(tokens("Iban")[0].key, "iban");
    }
}
