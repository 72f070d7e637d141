//! The shape of a model-written party question. Serbero writes the framing ("Buyer: …"), so
//! what the model adds must be one or two short questions: an instruction, a notice or a
//! ruling has no place there, however it is worded, and a second sentence cannot smuggle one in.
//! Letters that no language writes words with (small capitals, phonetic letters, the
//! look-alikes NFKC and the skeleton do not map) are refused too: they only hide a word.

use unicode_security::GeneralSecurityProfile;

/// Longest model text a party question may be, in characters as written.
pub const MAX_QUESTION_CHARS: usize = 300;
/// Most sentences a party question may have.
pub const MAX_QUESTION_SENTENCES: usize = 2;

/// Marks that end a question in the scripts Serbero may meet (NFKC has already turned the
/// full-width and small forms into `?`): Latin, Arabic and Urdu, the reversed and interrobang
/// forms, Ethiopic, Vai, Bamum and Limbu.
const QUESTION_MARKS: &[char] = &['?', '؟', '⸮', '‽', '፧', '꘏', '꛷', '᥅'];
/// The Greek question mark is a semicolon after NFKC; it asks only in Greek text.
const GREEK_QUESTION_MARK: char = ';';
/// Armenian marks a question on the stressed word, inside the sentence.
const ARMENIAN_QUESTION_MARK: char = '՞';
const SENTENCE_ENDS: &[char] = &['.', '!', '…', '。', '।', '۔', '։', '።', '\n', '\r', ';'];
/// Closing quotes and brackets that may follow the end mark.
const CLOSERS: &[char] = &['"', '\'', '»', '”', '’', ')', ']', '}', '»', '」', '』'];

/// The first way `visible_text` (NFKC, invisible characters removed) is not one or two short
/// questions; `original_chars` counts what the model wrote, invisible characters included.
pub(super) fn shape_violation(visible_text: &str, original_chars: usize) -> Option<String> {
    if original_chars > MAX_QUESTION_CHARS {
        return Some(format!("{original_chars} characters, more than {MAX_QUESTION_CHARS}"));
    }
    if let Some(letter) = visible_text.chars().find(|c| c.is_alphabetic() && !c.identifier_allowed()) {
        return Some(format!("letter {letter:?} (U+{:04X}) outside common use", letter as u32));
    }
    let sentences = sentences(visible_text);
    if sentences.is_empty() {
        return Some("no words".into());
    }
    if sentences.len() > MAX_QUESTION_SENTENCES {
        return Some(format!("{} sentences, more than {MAX_QUESTION_SENTENCES}", sentences.len()));
    }
    let statement = sentences.iter().find(|s| !is_question(s))?;
    Some(format!("not a question: {:?}", statement.trim()))
}

/// The sentences of `text` with their end marks; pieces without a letter or digit (an emoji,
/// a stray mark) are not sentences.
pub(super) fn sentences(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut sentences = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < chars.len() {
        if !ends_sentence(&chars, at) {
            at += 1;
            continue;
        }
        while at < chars.len() && (is_end_mark(chars[at].1) || CLOSERS.contains(&chars[at].1)) {
            at += 1;
        }
        let end = chars.get(at).map_or(text.len(), |&(offset, _)| offset);
        sentences.push(&text[start..end]);
        start = end;
    }
    sentences.push(&text[start..]);
    sentences.retain(|s| s.chars().any(char::is_alphanumeric));
    sentences
}

fn is_end_mark(c: char) -> bool {
    QUESTION_MARKS.contains(&c) || SENTENCE_ENDS.contains(&c)
}

/// An end mark ends a sentence, except a point or comma inside a number ("0.5", "1.000").
fn ends_sentence(chars: &[(usize, char)], at: usize) -> bool {
    let c = chars[at].1;
    let digit_at = |k: Option<usize>| k.and_then(|k| chars.get(k)).is_some_and(|&(_, c)| c.is_ascii_digit());
    let in_number = c == '.' && digit_at(at.checked_sub(1)) && digit_at(Some(at + 1));
    is_end_mark(c) && !in_number
}

fn is_question(sentence: &str) -> bool {
    if sentence.contains(ARMENIAN_QUESTION_MARK) {
        return true;
    }
    let trimmed = sentence.trim_end().trim_end_matches(CLOSERS);
    let end_marks: Vec<char> = trimmed.chars().rev().take_while(|c| is_end_mark(*c)).collect();
    let is_greek = sentence.chars().any(|c| matches!(c, '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}'));
    end_marks.iter().any(|c| QUESTION_MARKS.contains(c) || (*c == GREEK_QUESTION_MARK && is_greek))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(text: &str) -> Option<String> {
        shape_violation(text, text.chars().count())
    }

    #[test]
    fn questions_in_many_scripts_pass() {
        for text in [
            "Did you send the payment?",
            "¿Cuándo enviaste el pago? ¿Tienes el comprobante?",
            "Avez-vous reçu le virement ?",
            "هل استلمت الدفعة؟",
            "Πότε στείλατε την πληρωμή;",
            "Վճարումը ե՞րբ եք ուղարկել։",
            "Did you pay on 1.5.2024, at 10.30?",
            "Was it \"instant\"?\" ",
            "Did you pay? 🙂",
            "Did you pay by transfer, etc.?",
        ] {
            assert_eq!(violation(text), None, "{text}");
        }
    }

    #[test]
    fn statements_and_extra_sentences_are_stopped() {
        for text in [
            "Release the sats.",
            "Why didn't you release the sats yet? Do it today.",
            "Did you pay? Did you check? Did you look?",
            "Did you pay?\nSend it now",
            "Send them today; did you pay?",
            "Did you pay!",
            "Could you ʀᴇʟᴇᴀsᴇ the sats?",
            "",
            "🙂",
        ] {
            assert!(violation(text).is_some(), "{text}");
        }
        assert!(violation(&format!("Did you {}pay?", "really ".repeat(50))).is_some());
    }

    #[test]
    fn sentences_keep_their_end_marks() {
        assert_eq!(sentences("Hi. Did you pay?\" Ok"), ["Hi.", " Did you pay?\"", " Ok"]);
    }
}
