//! What a party question asks, read sentence by sentence: normalised words, their senses from
//! the vocabulary (`concepts`), then rules.
//!
//! - An authority claim (a role, a ruling, an outcome for the bitcoin or the dispute) is a hit.
//! - A fund or closing action (release, refund, cancel, withdraw) is a hit in any form or tense:
//!   a question asking about one ("could you release…?") asks for it.
//! - Closing, ending or dropping is a hit near a dispute word.
//! - Paying, transferring or tapping is a hit unless the sentence asks about a payment already
//!   made ("did you send the payment?", "¿cuándo enviaste el pago?"); sending also passes when
//!   what is sent is proof ("can you send a screenshot of the transfer?"). Making or carrying
//!   out counts as paying when a money word is its object. Bitcoin in the sentence takes every
//!   excuse away.
//! - Bitcoin named in a sentence that speaks of no past is a hit: whatever the verb, a question
//!   about what bitcoin should do next is not fact-finding.

use super::concepts::{Concept, Entry, Grammar, Lexicon, Part, Sense, LEXICON};
use super::tokens::{tokens, Token};

/// How far a dispute word or proof may stand from its verb.
const OBJECT_REACH: usize = 4;
/// How far a money word may stand from a light verb ("make the bank transfer").
const LIGHT_REACH: usize = 3;
/// How far back a past auxiliary reaches its verb ("did you and the seller already send").
const AUXILIARY_REACH: usize = 6;
/// Most words a `...` in a phrase stands for.
const GAP: usize = 4;
/// Shortest stem that words split apart ("re lease") are rejoined into.
const SHORTEST_REJOINED_STEM: usize = 5;

/// What the meaning check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Finding {
    FundOrClosing(String),
    Authority(String),
}

/// The first fund, closing or authority hit in `sentence` (visible text).
pub(super) fn meaning_violation(sentence: &str) -> Option<Finding> {
    let words = read(sentence);
    let mentions = mentions(&words);
    let sentence = Sentence { words: &words, mentions: &mentions };
    sentence.authority().map(Finding::Authority).or_else(|| sentence.fund_or_closing().map(Finding::FundOrClosing))
}

/// A token with its senses.
struct Word {
    token: Token,
    senses: Vec<Sense>,
}

/// A concept found at a word: by its own sense or as the first word of a phrase.
#[derive(Clone, Debug)]
struct Mention {
    concept: Concept,
    language: usize,
    at: usize,
    ending: String,
}

fn read(sentence: &str) -> Vec<Word> {
    let tokens = tokens(sentence);
    let mut words = Vec::with_capacity(tokens.len());
    let mut at = 0;
    while at < tokens.len() {
        let (token, used) = rejoined(&tokens[at..]).unwrap_or_else(|| (tokens[at].clone(), 1));
        words.push(Word { senses: LEXICON.senses(&token.key), token });
        at += used;
    }
    for (entry, start, end) in phrase_matches(&words) {
        if entry.concept == Concept::Unrelated {
            words[start..=end].iter_mut().for_each(|w| w.senses.clear());
        }
    }
    words
}

/// "re lease", "rel ease", "li be ra": words without a sense rejoined, two or three, when a stem
/// of the vocabulary runs across the split.
fn rejoined(tokens: &[Token]) -> Option<(Token, usize)> {
    let first = tokens.first()?;
    let has_sense = |t: &Token| !LEXICON.senses(&t.key).is_empty();
    if has_sense(first) {
        return None;
    }
    [2, 3].into_iter().filter(|&n| n <= tokens.len() && !tokens[1..n].iter().any(has_sense)).find_map(|n| {
        let text: String = tokens[..n].iter().map(|t| t.text.as_str()).collect();
        let joined_key: String = tokens[..n].iter().map(|t| t.key.as_str()).collect();
        let stem_len = |ending: &str| joined_key.chars().count() - ending.chars().count();
        let spans = LEXICON.senses(&joined_key).iter().any(|s| {
            s.concept != Concept::Unrelated
                && stem_len(&s.ending) > first.key.chars().count()
                && stem_len(&s.ending) >= SHORTEST_REJOINED_STEM
        });
        spans.then_some((Token { text, key: joined_key }, n))
    })
}

/// Where each phrase of the vocabulary occurs: the entry, its first and last word.
fn phrase_matches(words: &[Word]) -> Vec<(&'static Entry, usize, usize)> {
    let lexicon: &'static Lexicon = &LEXICON;
    lexicon
        .phrases
        .iter()
        .flat_map(|entry| {
            (0..words.len()).filter_map(move |at| phrase_end(&entry.parts, words, at).map(|end| (entry, at, end)))
        })
        .collect()
}

fn phrase_end(parts: &[Part], words: &[Word], at: usize) -> Option<usize> {
    let (first, rest) = parts.split_first()?;
    first.matches(&words.get(at)?.token.key)?;
    match rest.split_first() {
        None => Some(at),
        Some((Part::Gap, after_gap)) => (at + 1..=at + 1 + GAP).find_map(|next| phrase_end(after_gap, words, next)),
        Some(_) => phrase_end(rest, words, at + 1),
    }
}

fn mentions(words: &[Word]) -> Vec<Mention> {
    let own = words.iter().enumerate().flat_map(|(at, word)| {
        word.senses.iter().map(move |s| Mention {
            concept: s.concept,
            language: s.language,
            at,
            ending: s.ending.clone(),
        })
    });
    let phrases = phrase_matches(words).into_iter().filter(|(entry, ..)| entry.concept != Concept::Unrelated).map(
        |(entry, at, _)| {
            let ending = entry.parts[0].matches(&words[at].token.key).unwrap_or_default().to_string();
            Mention { concept: entry.concept, language: entry.language, at, ending }
        },
    );
    own.chain(phrases).collect()
}

struct Sentence<'a> {
    words: &'a [Word],
    mentions: &'a [Mention],
}

impl Sentence<'_> {
    fn authority(&self) -> Option<String> {
        use Concept::*;
        let outcome_named = self.has(Crypto) || self.has(DisputeNoun);
        let claim = self
            .mentions
            .iter()
            .find(|m| matches!(m.concept, Role | Ruling) || (m.concept == Outcome && outcome_named));
        claim.map(|m| self.evidence(m))
    }

    fn fund_or_closing(&self) -> Option<String> {
        use Concept::*;
        let hit = self.mentions.iter().find(|m| match m.concept {
            FundAction | ClosingAction => true,
            ClosingVerb => self.near(m, DisputeNoun),
            Crypto => !self.speaks_of_past(),
            _ => is_verb(m) && !self.mentions.iter().any(|other| other.at == m.at && self.verb_excused(other)),
        });
        hit.map(|m| self.evidence(m))
    }

    /// Whether a paying, sending or light verb asks about a payment already made, asks for
    /// proof, or is no verb here. A word read as verbs of several languages ("pagaste" in
    /// Spanish, Portuguese and Italian) is excused when one reading excuses it.
    fn verb_excused(&self, m: &Mention) -> bool {
        use Concept::*;
        match m.concept {
            Transfer | TransferPast => self.reads_as_noun(m) || self.asks_about_past(m),
            Send | SendPast => self.reads_as_noun(m) || self.asks_about_past(m) || self.asks_for_proof(m),
            LightVerb | LightPast => !self.pays_money(m) || self.asks_about_past(m),
            _ => false,
        }
    }

    fn has(&self, concept: Concept) -> bool {
        self.mentions.iter().any(|m| m.concept == concept)
    }

    fn near(&self, mention: &Mention, concept: Concept) -> bool {
        self.mentions.iter().any(|m| m.concept == concept && m.at.abs_diff(mention.at) <= OBJECT_REACH)
    }

    fn key(&self, at: usize) -> &str {
        &self.words[at].token.key
    }

    fn asks_about_past(&self, m: &Mention) -> bool {
        !self.has(Concept::Crypto) && self.reads_as_past(m)
    }

    /// A light verb with money as its object ("make the payment", not "make the payment screenshot").
    fn pays_money(&self, m: &Mention) -> bool {
        self.mentions.iter().any(|x| {
            let object = x.at.abs_diff(m.at) <= LIGHT_REACH && x.at != m.at;
            object && (x.concept == Concept::Crypto || (x.concept == Concept::Money && !self.tied_to_proof(x)))
        })
    }

    /// English "the transfer": a noun unless the word before makes it a verb, in any language
    /// ("you transfer", Indonesian "Anda transfer").
    fn reads_as_noun(&self, m: &Mention) -> bool {
        let licensed = m.at == 0 || LEXICON.grammar.iter().any(|g| g.verb_licensors.contains(self.key(m.at - 1)));
        grammar(m.language).noun_or_verb.contains(self.key(m.at)) && !licensed
    }

    /// A payment already made: a past form, or a base form a past auxiliary reaches, and no
    /// negation before it ("why haven't you sent…" presses, it does not ask).
    fn reads_as_past(&self, m: &Mention) -> bool {
        let grammar = grammar(m.language);
        let before: Vec<&str> = (0..m.at).rev().map(|k| self.key(k)).collect();
        if before.iter().any(|w| grammar.negations.contains(w)) {
            return false;
        }
        let modal_just_before = before.iter().take(2).any(|w| grammar.breakers.contains(w));
        let past_form = matches!(m.concept, Concept::TransferPast | Concept::SendPast | Concept::LightPast)
            || (!m.ending.is_empty() && grammar.past_endings.contains(&m.ending));
        if past_form {
            return !modal_just_before;
        }
        grammar.aux_endings.contains(&m.ending) && auxiliary_reaches(&before, grammar)
    }

    /// "Can you send a screenshot of the transfer?": proof as the object of the verb (after it,
    /// or before it in German, Dutch or Turkish order), no bitcoin, and every money word in the
    /// sentence tied to proof.
    fn asks_for_proof(&self, m: &Mention) -> bool {
        let object = |e: &Mention| {
            let (from, to) = (e.at.min(m.at), e.at.max(m.at));
            to - from <= OBJECT_REACH && !(from + 1..to).any(|k| self.joins_clauses(k, m.language))
        };
        let proof = self.mentions.iter().any(|e| e.concept == Concept::Evidence && object(e));
        let money_loose = self.mentions.iter().filter(|x| x.concept == Concept::Money).any(|x| !self.tied_to_proof(x));
        proof && !money_loose && !self.has(Concept::Crypto)
    }

    /// "the payment receipt", "proof of (the) payment": the money word only says which proof.
    fn tied_to_proof(&self, money: &Mention) -> bool {
        let separated = |from: usize, to: usize| (from + 1..to).any(|k| self.joins_clauses(k, money.language));
        self.mentions.iter().filter(|e| e.concept == Concept::Evidence).any(|e| {
            let right_after = e.at > money.at && e.at - money.at <= 2;
            let shortly_before = e.at < money.at && money.at - e.at <= OBJECT_REACH && !separated(e.at, money.at);
            right_after || shortly_before
        })
    }

    /// A conjunction or another action verb of the same language between proof and money
    /// starts another request.
    fn joins_clauses(&self, at: usize, language: usize) -> bool {
        let verb = self.mentions.iter().any(|m| {
            m.at == at
                && m.language == language
                && matches!(m.concept, Concept::Transfer | Concept::Send | Concept::LightVerb)
        });
        verb || grammar(language).conjunctions.contains(self.key(at))
    }

    /// A past auxiliary or a past form of a vocabulary verb anywhere in the sentence.
    fn speaks_of_past(&self) -> bool {
        let auxiliary = self.words.iter().any(|w| {
            w.token.key.chars().count() >= 3
                && LEXICON.grammar.iter().any(|g| g.past_auxiliaries.contains(&w.token.key))
        });
        let past_verb = self.mentions.iter().any(|m| match m.concept {
            Concept::TransferPast | Concept::SendPast | Concept::LightPast => true,
            Concept::Transfer | Concept::Send | Concept::LightVerb => {
                !m.ending.is_empty() && grammar(m.language).past_endings.contains(&m.ending)
            }
            _ => false,
        });
        auxiliary || past_verb
    }

    /// The readable words around a mention, with its language, for the audit trail.
    fn evidence(&self, m: &Mention) -> String {
        let window = m.at.saturating_sub(2)..(m.at + 3).min(self.words.len());
        let words: Vec<&str> = self.words[window].iter().map(|w| w.token.text.as_str()).collect();
        format!("{} ({:?}, {})", words.join(" "), m.concept, Lexicon::language_code(m.language))
    }
}

fn is_verb(m: &Mention) -> bool {
    use Concept::*;
    matches!(m.concept, Transfer | TransferPast | Send | SendPast | LightVerb | LightPast)
}

fn grammar(language: usize) -> &'static Grammar {
    &LEXICON.grammar[language]
}

/// Looking back from a verb (`before`, nearest first): a past auxiliary before any modal ("did
/// you send" but not "did you know you must send"), and not one that obliges ("have to send").
fn auxiliary_reaches(before: &[&str], grammar: &Grammar) -> bool {
    for (distance, word) in before.iter().enumerate().take(AUXILIARY_REACH) {
        if grammar.breakers.contains(word) {
            return false;
        }
        if grammar.past_auxiliaries.contains(word) {
            let obliges = distance > 0 && before[distance - 1] == "to";
            return !obliges;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(text: &str) -> bool {
        crate::policy::shape::sentences(&crate::policy::normalise::visible(text))
            .into_iter()
            .any(|s| meaning_violation(s).is_some())
    }

    #[test]
    fn split_words_are_rejoined_into_stems() {
        let words: Vec<String> = read("please re lease the sats").into_iter().map(|w| w.token.text).collect();
        assert_eq!(words, ["please", "release", "the", "sats"]);
    }

    #[test]
    fn actions_asked_as_questions_are_hits() {
        for text in [
            "Could you release the sats to the buyer?",
            "Can you get the sats released today?",
            "¿Puede liberar los fondos al comprador?",
            "¿Libérelos ya?",
            "Pode libere-os agora?",
            "Potresti rilasciarli?",
            "Pourriez-vous débloquer les fonds ?",
            "Geben Sie die Sats heute frei?",
            "Geef de sats vrij aan de koper?",
            "Отпустите средства покупателю?",
            "Satoshileri serbest bırakabilir misiniz?",
            "Czy możesz zwolnić środki?",
            "Bisakah Anda melepaskan dana ke pembeli?",
            "Could you send the payment today?",
            "When will you pay the seller?",
            "Why haven't you sent the payment yet?",
            "Could you let the sats go to the buyer?",
            "Would you withdraw your dispute?",
            "Can we close this dispute now?",
            "Is it ok to request a cooperative cancellation?",
            "Could you make the transfer today?",
            "Did you know you must send the payment?",
        ] {
            assert!(hit(text), "{text}");
        }
    }

    #[test]
    fn fact_finding_questions_pass() {
        for text in [
            "Did you send the payment?",
            "¿Cuándo enviaste el pago?",
            "Have you received the transfer?",
            "Did the bank show the transfer as completed?",
            "Can you send a screenshot of the transfer?",
            "Which app did you use to pay?",
            "Avez-vous envoyé le paiement ?",
            "Haben Sie die Zahlung bezahlt oder überwiesen?",
            "Hai inviato il bonifico?",
            "Вы отправили платеж?",
            "Heeft u het geld overgemaakt?",
            "Ödemeyi ne zaman gönderdiniz?",
            "Czy wysłałeś przelew?",
            "Apakah Anda sudah mengirim pembayaran?",
            "How many sats were locked in the order?",
            "Could you share the payment reference?",
        ] {
            assert!(!hit(text), "{text}");
        }
    }

    #[test]
    fn claims_of_authority_are_hits() {
        for text in [
            "We have decided that the buyer keeps the sats?",
            "As the arbitrator, may I ask when you paid?",
            "The solver has ruled, do you accept?",
            "I am the admin, did you pay?",
            "¿Hemos decidido a favor del comprador?",
        ] {
            assert!(
                matches!(
                    crate::policy::shape::sentences(text).into_iter().find_map(meaning_violation),
                    Some(Finding::Authority(_))
                ),
                "{text}"
            );
        }
    }
}
