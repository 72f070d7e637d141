//! The authority boundary. Serbero assists a human solver: it never tells anyone to move,
//! release, pay, refund or cancel, never tells anyone to close or drop the dispute, never names
//! an admin command and never rules or claims a solver's authority. Party messages reach the
//! model, and a model can be talked into echoing an instruction, so every outbound text is
//! checked here, whatever the model flagged.
//!
//! Matching runs on normalised words (`normalise`: NFKC, default-ignorable code points removed,
//! words compared by their confusable-skeleton key), so spelling tricks (accents, zero-width
//! characters, variation selectors, "r e l e a s e", leetspeak, look-alike letters from other
//! scripts, full-width or mathematical letters) do not hide a word. Questions about facts ("did
//! you send the payment?", "can you share proof of the transfer?") are not instructions and pass.

use std::ops::Range;

use super::lexicon::{
    ClaimSlot, Words, ADMIN_ACTIONS, CLOSE_VERBS, DETERMINERS, DIRECTIVE_MARKERS, DISPUTE_NOUNS, ENGLISH_BASE_FORMS,
    ENGLISH_PAST_AUXILIARIES, FRENCH_PARTICIPLE_LOOKALIKES, FRENCH_PAST_AUXILIARIES, FUND_NOUNS, FUND_VERBS, GENITIVES,
    KEYED_CLAIMS, NOUN_DIRECTIVES, PROOF_NOUNS, QUESTION_BREAKERS, SEPARABLE_VERBS, SOLVER_NOUNS, TRANSFER_VERBS,
};
use super::normalise::{compatible, is_default_ignorable, key, readable};
use unicode_normalization::char::is_combining_mark;

/// What an outbound text tried to do beyond Serbero's authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// Names an admin command of the Mostro node.
    AdminCommand,
    /// Tells someone to move, release, pay, refund or cancel, or says funds will move.
    FundInstruction,
    /// Tells someone to close, resolve or drop the dispute, or says it is over.
    DisputeClosure,
    /// Rules on the dispute or claims the authority of a solver, admin or judge.
    AuthorityClaim,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The normalised words around the match, for the audit trail.
    pub evidence: String,
}

/// The first way `text` crosses the authority boundary, if any.
pub fn boundary_violation(text: &str) -> Option<Violation> {
    let words = normalise(text);
    admin_command(&words).or_else(|| glued_text(&words)).or_else(|| claim(&words)).or_else(|| directive(&words))
}

/// How far back `did` may stand from its verb ("did you already send the payment").
const QUESTION_REACH: usize = 5;
/// How far an object may stand from its verb, numbers not counted ("give the buyer back their sats").
const OBJECT_REACH: usize = 5;
/// Fewest letters written one by one that we read as a spelled-out word.
const SPELLED_RUN: usize = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Word {
    /// Readable: lowercase, without accents, for the evidence.
    text: String,
    /// What the lexicon is compared with (`normalise::key`).
    key: String,
    /// First word of a sentence or clause: look-backs and objects stop at clause edges.
    clause_start: bool,
    /// Joined from letters written one by one or across invisible characters: read strictly.
    glued: bool,
}

impl Word {
    fn new(text: String, clause_start: bool, glued: bool) -> Word {
        Word { key: key(&text), text, clause_start, glued }
    }
}

/// Readable, keyed words without invisible characters or masking, fragments rejoined.
fn normalise(text: &str) -> Vec<Word> {
    merge_fragments(unmask_all(join_spelled_out(split_words(text))))
}

fn split_words(text: &str) -> Vec<Word> {
    let chars: Vec<char> = compatible(text).chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    let (mut clause_start, mut glued) = (true, false);
    let mut push = |raw: &mut String, clause_start: bool, glued: bool| {
        words.push(Word::new(readable(&std::mem::take(raw)), clause_start, glued));
    };
    for (at, &c) in chars.iter().enumerate() {
        if is_invisible(c) {
            glued |= !current.is_empty();
            continue;
        }
        if c.is_alphanumeric() || c == '@' || c == '$' || is_combining_mark(c) {
            current.push(c);
            continue;
        }
        if !current.is_empty() {
            push(&mut current, clause_start, glued);
            (clause_start, glued) = (false, false);
        }
        let in_number = at > 0 && chars[at - 1].is_ascii_digit() && chars.get(at + 1).is_some_and(char::is_ascii_digit);
        clause_start |= ends_clause(c) && !in_number;
    }
    if !current.is_empty() {
        push(&mut current, clause_start, glued);
    }
    words
}

/// Characters that render as nothing (the Unicode default-ignorable code points): they split
/// nothing, and whatever they joined is read strictly (see `glued_text`).
pub(crate) fn is_invisible(c: char) -> bool {
    is_default_ignorable(c)
}

fn ends_clause(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | ';' | ':' | ',' | '¿' | '¡' | '…' | '\n' | '\r' | '。' | '、')
}

/// Runs of single letters ("r e l e a s e", "r.e.l.e.a.s.e") become one word.
fn join_spelled_out(words: Vec<Word>) -> Vec<Word> {
    let mut out = Vec::with_capacity(words.len());
    let mut run: Vec<Word> = Vec::new();
    for word in words {
        if word.text.chars().count() == 1 {
            run.push(word);
        } else {
            flush_run(&mut out, &mut run);
            out.push(word);
        }
    }
    flush_run(&mut out, &mut run);
    out
}

fn flush_run(out: &mut Vec<Word>, run: &mut Vec<Word>) {
    if run.len() < SPELLED_RUN {
        out.append(run);
        return;
    }
    let text = run.iter().map(|w| w.text.as_str()).collect();
    out.push(Word::new(text, run[0].clause_start, true));
    run.clear();
}

/// Undoes masking inside each word; words of symbols only are dropped, their clause break kept.
fn unmask_all(words: Vec<Word>) -> Vec<Word> {
    let mut out = Vec::with_capacity(words.len());
    let mut pending_break = false;
    for word in words {
        match unmask(&word.text) {
            Some(text) => {
                out.push(Word::new(text, word.clause_start || pending_break, word.glued));
                pending_break = false;
            }
            None => pending_break |= word.clause_start,
        }
    }
    out
}

fn unmask(word: &str) -> Option<String> {
    if !word.chars().any(char::is_alphabetic) {
        let digits: String = word.chars().filter(char::is_ascii_digit).collect();
        return (!digits.is_empty()).then_some(digits);
    }
    if !word.chars().any(|c| c.is_ascii_digit() || c == '@' || c == '$') {
        return Some(word.into());
    }
    let (as_i, as_l) = (deleet(word, 'i'), deleet(word, 'l'));
    Some(if is_vocabulary(&key(&as_l)) && !is_vocabulary(&key(&as_i)) { as_l } else { as_i })
}

/// Leetspeak-lite; `1` stands for `i` or `l`, whichever the caller finds in the vocabulary.
fn deleet(word: &str, one: char) -> String {
    word.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => one,
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            '8' => 'b',
            c => c,
        })
        .collect()
}

/// Whether a word, by its key, is a verb of the lexicon.
fn is_verb(word_key: &str) -> bool {
    FUND_VERBS.contains(word_key) || TRANSFER_VERBS.contains(word_key) || CLOSE_VERBS.contains(word_key)
}

fn is_vocabulary(word_key: &str) -> bool {
    is_verb(word_key) || FUND_NOUNS.contains(word_key) || DISPUTE_NOUNS.contains(word_key) || word_key == "admin"
}

/// "re lease", "rel-ease" and "li be ra" rejoined when that makes a verb of the lexicon.
fn merge_fragments(words: Vec<Word>) -> Vec<Word> {
    let mut out = Vec::with_capacity(words.len());
    let mut at = 0;
    while at < words.len() {
        let joins_into_verb = |n: usize| {
            let group = &words[at..at + n];
            let joined: String = group.iter().map(|w| w.key.as_str()).collect();
            group.iter().all(|w| !is_verb(&w.key)) && joined.chars().count() >= 5 && is_verb(&joined)
        };
        let n = [3, 2].into_iter().find(|&n| at + n <= words.len() && joins_into_verb(n)).unwrap_or(1);
        let text = words[at..at + n].iter().map(|w| w.text.as_str()).collect();
        out.push(Word::new(text, words[at].clause_start, words[at].glued));
        at += n;
    }
    out
}

fn violation(kind: ViolationKind, words: &[Word], at: Range<usize>) -> Violation {
    let context = at.start.saturating_sub(2)..(at.end + 2).min(words.len());
    let evidence = words[context].iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
    Violation { kind, evidence }
}

/// `admin settle`, `adminsettle` and the like, written any way.
fn admin_command(words: &[Word]) -> Option<Violation> {
    words.iter().enumerate().find_map(|(at, word)| {
        let glued =
            word.key.strip_prefix("admin").is_some_and(|rest| ADMIN_ACTIONS.keys().iter().any(|a| rest.starts_with(a)));
        let split = word.key == "admin" && words.get(at + 1).is_some_and(|next| ADMIN_ACTIONS.contains(&next.key));
        (glued || split).then(|| violation(ViolationKind::AdminCommand, words, at..at + 1))
    })
}

/// Glued text is read strictly: a forbidden verb anywhere in it is enough.
fn glued_text(words: &[Word]) -> Option<Violation> {
    words.iter().enumerate().filter(|(_, w)| w.glued).find_map(|(at, word)| {
        let glued = word.key.as_str();
        let kind = if FUND_VERBS.keys().iter().any(|verb| verb.chars().count() >= 4 && glued.contains(verb.as_str()))
            || verb_before_noun(glued, &TRANSFER_VERBS, &FUND_NOUNS)
        {
            ViolationKind::FundInstruction
        } else if verb_before_noun(glued, &CLOSE_VERBS, &DISPUTE_NOUNS) {
            ViolationKind::DisputeClosure
        } else {
            return None;
        };
        Some(violation(kind, words, at..at + 1))
    })
}

/// In glued text, one of `verbs` followed within a short article by one of `nouns`.
fn verb_before_noun(glued: &str, verbs: &Words, nouns: &Words) -> bool {
    verbs.keys().iter().any(|verb| {
        glued.match_indices(verb.as_str()).any(|(at, _)| {
            let rest = &glued[at + verb.len()..];
            rest.char_indices()
                .take(7)
                .any(|(k, _)| nouns.keys().iter().any(|noun| rest[k..].starts_with(noun.as_str())))
        })
    })
}

fn claim(words: &[Word]) -> Option<Violation> {
    KEYED_CLAIMS.iter().find_map(|(kind, slots)| {
        (0..words.len()).find_map(|at| matches_at(slots, words, at).map(|end| violation(*kind, words, at..end)))
    })
}

/// Where a match of `slots` (keyed alternatives, optional or not) starting at `at` ends.
fn matches_at(slots: &[ClaimSlot], words: &[Word], at: usize) -> Option<usize> {
    let Some(((alternatives, optional), rest)) = slots.split_first() else { return Some(at) };
    let optional = *optional;
    let here = words.get(at).is_some_and(|w| alternatives.contains(&w.key));
    here.then(|| matches_at(rest, words, at + 1))
        .flatten()
        .or_else(|| optional.then(|| matches_at(rest, words, at)).flatten())
}

fn directive(words: &[Word]) -> Option<Violation> {
    (0..words.len()).find_map(|at| {
        let clause = clause_of(words, at);
        let kind = instruction_at(words, at, &clause)?;
        let excused = reads_as_past_question(words, at, &clause) || reads_as_noun(words, at, &clause);
        (!excused).then(|| violation(kind, words, at..at + 1))
    })
}

fn clause_of(words: &[Word], at: usize) -> Range<usize> {
    let start = (0..=at).rev().find(|&k| words[k].clause_start).unwrap_or(0);
    let end = (at + 1..words.len()).find(|&k| words[k].clause_start).unwrap_or(words.len());
    start..end
}

fn instruction_at(words: &[Word], at: usize, clause: &Range<usize>) -> Option<ViolationKind> {
    let word = words[at].key.as_str();
    if FUND_VERBS.contains(word) || separable_verb(words, at, clause) {
        return Some(ViolationKind::FundInstruction);
    }
    if TRANSFER_VERBS.contains(word) && has_fund_object(words, at, clause) {
        return Some(ViolationKind::FundInstruction);
    }
    let about_the_dispute = || around(words, at, clause).iter().any(|&k| DISPUTE_NOUNS.contains(&words[k].key));
    let the_solver_acts = (clause.start..at).rev().take(3).any(|k| SOLVER_NOUNS.contains(&words[k].key));
    (CLOSE_VERBS.contains(word) && about_the_dispute() && !the_solver_acts).then_some(ViolationKind::DisputeClosure)
}

/// "geben Sie die Sats frei": the verb and its particle in one clause.
fn separable_verb(words: &[Word], at: usize, clause: &Range<usize>) -> bool {
    SEPARABLE_VERBS.iter().any(|(forms, particle)| {
        forms.iter().any(|form| key(form) == words[at].key)
            && clause.clone().any(|k| k != at && k.abs_diff(at) <= 6 && words[k].key == key(particle))
    })
}

/// Content words near `at` in its clause, after it first; numbers do not count.
fn around(words: &[Word], at: usize, clause: &Range<usize>) -> Vec<usize> {
    let is_word = |k: &usize| !words[*k].text.chars().all(|c| c.is_ascii_digit());
    let after = (at + 1..clause.end).filter(is_word).take(OBJECT_REACH);
    let before = (clause.start..at).rev().filter(is_word).take(OBJECT_REACH);
    after.chain(before).collect()
}

fn has_fund_object(words: &[Word], at: usize, clause: &Range<usize>) -> bool {
    around(words, at, clause).into_iter().any(|k| FUND_NOUNS.contains(&words[k].key) && !names_proof(words, k, clause))
}

/// The money word only says which proof: "payment receipt", "proof of (the) payment".
fn names_proof(words: &[Word], noun: usize, clause: &Range<usize>) -> bool {
    let proof_follows = noun + 1 < clause.end && PROOF_NOUNS.contains(&words[noun + 1].key);
    let window = clause.start.max(noun.saturating_sub(4))..noun;
    let proof_of = window
        .clone()
        .any(|p| PROOF_NOUNS.contains(&words[p].key) && (p + 1..noun).any(|g| GENITIVES.contains(&words[g].key)));
    proof_follows || proof_of
}

fn has_directive_marker(words: &[Word], clause: &Range<usize>) -> bool {
    clause.clone().any(|k| DIRECTIVE_MARKERS.contains(&words[k].key))
}

/// "did you send the payment?", "avez-vous libéré les fonds ?": asking what happened.
fn reads_as_past_question(words: &[Word], at: usize, clause: &Range<usize>) -> bool {
    let word = words[at].key.as_str();
    let (auxiliaries, reach) = if ENGLISH_BASE_FORMS.contains(word) {
        (&ENGLISH_PAST_AUXILIARIES, QUESTION_REACH)
    } else if FRENCH_PARTICIPLE_LOOKALIKES.contains(word) {
        (&FRENCH_PAST_AUXILIARIES, 3)
    } else {
        return false;
    };
    let auxiliary = (clause.start..at).rev().take(reach).find(|&k| auxiliaries.contains(&words[k].key));
    let Some(auxiliary) = auxiliary else { return false };
    let one_clause = !(auxiliary + 1..at).any(|k| QUESTION_BREAKERS.contains(&words[k].key));
    one_clause && !has_directive_marker(words, clause)
}

/// "the transfer", "a refund": English nouns, unless something asks to carry them out.
fn reads_as_noun(words: &[Word], at: usize, clause: &Range<usize>) -> bool {
    if !ENGLISH_BASE_FORMS.contains(&words[at].key) || at == clause.start {
        return false;
    }
    let after_determiner = DETERMINERS.contains(&words[at - 1].key);
    let carried_out = (clause.start..at - 1).rev().take(3).any(|k| NOUN_DIRECTIVES.contains(&words[k].key));
    after_determiner && !carried_out && !has_directive_marker(words, clause)
}

#[cfg(test)]
mod tests {
    use super::super::lexicon::CLAIMS;
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        normalise(text).into_iter().map(|w| w.text).collect()
    }

    fn kind(text: &str) -> Option<ViolationKind> {
        boundary_violation(text).map(|v| v.kind)
    }

    #[test]
    fn normalising_strips_case_accents_and_masks() {
        assert_eq!(texts("Libérez LES fonds!"), ["liberez", "les", "fonds"]);
        assert_eq!(texts("r e l e a s e"), ["release"]);
        assert_eq!(texts("r.e.l.e.a.s.e"), ["release"]);
        assert_eq!(texts("rel\u{200B}ease the f\u{200D}unds"), ["release", "the", "funds"]);
        assert_eq!(texts("r3l34s3 th3 fund$"), ["release", "the", "funds"]);
        assert_eq!(texts("re1ease"), ["release"]);
        assert_eq!(texts("rеlеаsе"), ["release"], "Cyrillic е and а");
        assert_eq!(texts("ｒｅｌｅａｓｅ"), ["release"], "full-width letters");
        assert_eq!(texts("𝐫𝐞𝐥𝐞𝐚𝐬𝐞 𝟓𝟎"), ["release", "50"], "mathematical bold");
        assert_eq!(texts("ⓡⓔⓛⓔⓐⓢⓔ 🅁🄴🄻🄴🄰🅂🄴 🇷🇪🇱🇪🇦🇸🇪"), ["release", "release", "release"]);
        assert_eq!(texts("re lease"), ["release"]);
        assert_eq!(texts("Überweisen Sie 50.000 sats"), ["uberweisen", "sie", "50", "000", "sats"]);
        assert_eq!(texts("отпустите средства"), ["отпустите", "средства"], "Russian stays Russian");
    }

    #[test]
    fn clauses_break_at_punctuation_but_not_inside_numbers() {
        let words = normalise("Did you? Send 50.000 sats");
        let starts: Vec<bool> = words.iter().map(|w| w.clause_start).collect();
        assert_eq!(starts, [true, false, true, false, false, false]);
    }

    #[test]
    fn every_lexicon_entry_is_already_normalised() {
        let lists = [
            &FUND_VERBS,
            &TRANSFER_VERBS,
            &CLOSE_VERBS,
            &FUND_NOUNS,
            &DISPUTE_NOUNS,
            &PROOF_NOUNS,
            &GENITIVES,
            &SOLVER_NOUNS,
            &ENGLISH_BASE_FORMS,
            &FRENCH_PARTICIPLE_LOOKALIKES,
            &DIRECTIVE_MARKERS,
            &QUESTION_BREAKERS,
            &ENGLISH_PAST_AUXILIARIES,
            &FRENCH_PAST_AUXILIARIES,
            &DETERMINERS,
            &NOUN_DIRECTIVES,
            &ADMIN_ACTIONS,
        ];
        for entry in lists.iter().flat_map(|list| list.entries()) {
            assert_eq!(texts(entry), [entry], "{entry}");
        }
        for (_, pattern) in CLAIMS {
            for alternative in pattern.split([' ', '|']).map(|a| a.trim_end_matches('?')) {
                assert_eq!(texts(alternative), [alternative], "{pattern}");
            }
        }
    }

    #[test]
    fn english_base_forms_are_all_verbs() {
        for form in ENGLISH_BASE_FORMS.entries() {
            assert!(is_verb(&key(form)), "{form}");
        }
    }

    #[test]
    fn instructions_are_caught_in_every_language() {
        use ViolationKind::*;
        let cases = [
            ("Please release the funds to the buyer.", FundInstruction),
            ("Seller, you should release the sats now.", FundInstruction),
            ("Did you see my message? Release the funds.", FundInstruction),
            ("Did you know you must release the escrow?", FundInstruction),
            ("Did you know you can cancel the trade?", FundInstruction),
            ("Please give the buyer back their bitcoin.", FundInstruction),
            ("𝐫𝐞𝐥𝐞𝐚𝐬𝐞 the funds", FundInstruction),
            ("Proceed with the release of the sats.", FundInstruction),
            ("Send the bitcoin back to the seller.", FundInstruction),
            ("Run admin settle on this order.", AdminCommand),
            ("Use the adminCancel command.", AdminCommand),
            ("Close the dispute, everything is fine.", DisputeClosure),
            ("I have decided in favor of the buyer.", AuthorityClaim),
            ("As the solver, I confirm the payment.", AuthorityClaim),
            ("The dispute is now closed.", DisputeClosure),
            ("The funds will be released to you shortly.", FundInstruction),
            ("Por favor, libera los fondos al comprador.", FundInstruction),
            ("Vendedor, envía los sats ahora.", FundInstruction),
            ("La disputa queda cerrada.", DisputeClosure),
            ("Por favor, libere os fundos agora.", FundInstruction),
            ("Eu decidi a favor do comprador.", AuthorityClaim),
            ("Veuillez libérer les fonds.", FundInstruction),
            ("Libère les fonds maintenant.", FundInstruction),
            ("En tant que juge, je tranche pour l'acheteur.", AuthorityClaim),
            ("Bitte geben Sie die Sats frei.", FundInstruction),
            ("Können Sie das Geld überweisen?", FundInstruction),
            ("Schließen Sie den Streitfall.", DisputeClosure),
            ("Per favore, rilascia i fondi.", FundInstruction),
            ("Ho deciso a favore del venditore.", AuthorityClaim),
            ("Продавец, отпустите средства покупателю.", FundInstruction),
            ("Спор закрыт.", DisputeClosure),
            ("Pl3ase r e l e a s e th3 fund$", FundInstruction),
            ("rel\u{200B}ease the funds", FundInstruction),
        ];
        for (text, expected) in cases {
            assert_eq!(kind(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn clarifying_questions_pass() {
        let questions = [
            "Did you send the payment?",
            "¿Recibiste el pago en tu cuenta?",
            "Can you share proof of the transfer?",
            "Did you release the sats already?",
            "Have you released the funds yet?",
            "Could you send a screenshot of the payment confirmation?",
            "Can you send the payment receipt?",
            "When did you make the bank transfer, and from which bank?",
            "When did you send the payment, and which bank did you use to pay?",
            "Could you send us the date and amount of the payment?",
            "Could you send us the details of the payment?",
            "Пришли ли деньги на ваш счет?",
            "Pode enviar a data e o valor do pagamento?",
            "Did you ask the seller for a refund before opening the dispute?",
            "¿Enviaste el pago? ¿Puedes compartir el comprobante de la transferencia?",
            "¿Puedes enviar una captura del pago?",
            "Você já recebeu o pagamento? Pode enviar o comprovante?",
            "Avez-vous envoyé le paiement ? Pouvez-vous partager une preuve du virement ?",
            "Avez-vous libéré les fonds ?",
            "Haben Sie die Zahlung erhalten? Können Sie einen Beleg der Überweisung schicken?",
            "Hai ricevuto il pagamento? Puoi inviare la ricevuta?",
            "Вы отправили платеж? Можете прислать скриншот?",
            "I am an automated assistant helping the human solver; a human will review this case.",
        ];
        for question in questions {
            assert_eq!(boundary_violation(question), None, "{question}");
        }
    }

    #[test]
    fn evidence_shows_the_words_around_the_match() {
        let violation = boundary_violation("Hello seller. Please release the funds to the buyer today.").unwrap();
        assert_eq!(violation.evidence, "seller please release the funds");
    }
}
