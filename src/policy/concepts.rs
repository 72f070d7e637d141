//! The vocabulary of the meaning check, one file per language. Words are written as people
//! write them (accents and all) and keyed with `normalise::key` when first used, so look-alike
//! spellings match too.
//!
//! Stemming is by prefix: `liber*` matches "libera", "libérelos", "liberación", and the rest
//! of the word (its ending) says whether a verb speaks of the past ("liberaste"). Snowball
//! stemmers (`rust-stemmers`) were weighed and not used: they throw away exactly the tense
//! this check needs, strip no Spanish or Italian clitic from an imperative ("libérelos",
//! "rilasciali"), stem no Turkish verb, and have no Polish or Indonesian. Prefixes that
//! swallow unrelated words are shadowed by longer `unrelated` entries ("pagin*" for "pag*").
//!
//! Entries are separated by commas; `*` ends a prefix; `...` lets a few words stand between
//! two words of one entry ("free ... up", German "gib ... frei"); `-` is the empty ending.

mod de;
mod en;
mod es;
mod fr;
mod id;
mod it;
mod nl;
mod pl;
mod pt;
mod ru;
mod tr;

use std::sync::LazyLock;

use super::normalise::key;

/// What one language contributes; every list is entries as described above.
pub(super) struct Language {
    pub code: &'static str,
    /// Releasing, refunding, unlocking, paying out: forbidden in any form and tense.
    pub fund_actions: &'static str,
    /// Cancelling, withdrawing: forbidden in any form and tense.
    pub closing_actions: &'static str,
    /// Closing, ending, dropping: forbidden near a `dispute_nouns` word.
    pub closing_verbs: &'static str,
    pub dispute_nouns: &'static str,
    /// Paying, transferring, tapping: forbidden unless asking about a payment already made.
    pub transfer_verbs: &'static str,
    /// Past forms that share no prefix with their verb ("paid", "отправили").
    pub transfer_past: &'static str,
    /// Sending, forwarding, giving: as transfer verbs, but sending proof is fine.
    pub send_verbs: &'static str,
    pub send_past: &'static str,
    /// Making, carrying out: a transfer verb when a money word is near.
    pub light_verbs: &'static str,
    pub light_past: &'static str,
    pub money_nouns: &'static str,
    /// Bitcoin itself: moving it is what only the seller or a solver may do.
    pub crypto_nouns: &'static str,
    /// Proof and facts about a payment: asking to send these is what mediators do.
    pub evidence_nouns: &'static str,
    /// Words and phrases a prefix above would swallow ("paypal", "make sure").
    pub unrelated: &'static str,
    /// Endings after a transfer stem that make a past form ("-aste", "-di").
    pub past_endings: &'static str,
    /// Endings that make a past form only after a past auxiliary: the English base form after
    /// "did", the French participle that lost its accent ("envoyé" reads "envoye").
    pub aux_endings: &'static str,
    pub past_auxiliaries: &'static str,
    /// Modal, future and wish words: a past auxiliary before them does not reach the verb
    /// ("did you know you must send"), and a past form after them is not past ("will be sent").
    pub breakers: &'static str,
    pub negations: &'static str,
    pub conjunctions: &'static str,
    /// Words that are nouns unless the word before makes them verbs ("the transfer").
    pub noun_or_verb: &'static str,
    pub verb_licensors: &'static str,
    /// Solver, admin, judge: a party question never speaks in or of their name.
    pub roles: &'static str,
    /// Rulings and decisions taken ("we have decided", "in favour of").
    pub rulings: &'static str,
    /// Keeping, winning, losing: a ruling when bitcoin or the dispute is named.
    pub outcomes: &'static str,
}

impl Language {
    /// For the lists a language does not need.
    const EMPTY: Language = Language {
        code: "",
        fund_actions: "",
        closing_actions: "",
        closing_verbs: "",
        dispute_nouns: "",
        transfer_verbs: "",
        transfer_past: "",
        send_verbs: "",
        send_past: "",
        light_verbs: "",
        light_past: "",
        money_nouns: "",
        crypto_nouns: "",
        evidence_nouns: "",
        unrelated: "",
        past_endings: "",
        aux_endings: "",
        past_auxiliaries: "",
        breakers: "",
        negations: "",
        conjunctions: "",
        noun_or_verb: "",
        verb_licensors: "",
        roles: "",
        rulings: "",
        outcomes: "",
    };
}

const LANGUAGES: [&Language; 11] = [
    &en::ENGLISH,
    &es::SPANISH,
    &pt::PORTUGUESE,
    &fr::FRENCH,
    &de::GERMAN,
    &it::ITALIAN,
    &ru::RUSSIAN,
    &nl::DUTCH,
    &tr::TURKISH,
    &pl::POLISH,
    &id::INDONESIAN,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Concept {
    FundAction,
    ClosingAction,
    ClosingVerb,
    DisputeNoun,
    Transfer,
    TransferPast,
    Send,
    SendPast,
    LightVerb,
    LightPast,
    Money,
    Crypto,
    Evidence,
    Unrelated,
    Role,
    Ruling,
    Outcome,
}

/// One word of an entry, or room for a few words between two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Part {
    Word { key: String, prefix: bool },
    Gap,
}

impl Part {
    /// Whether this word matches a token's key, and with which ending left over.
    pub fn matches<'t>(&self, token_key: &'t str) -> Option<&'t str> {
        match self {
            Part::Word { key, prefix: false } => (token_key == key).then_some(""),
            Part::Word { key, prefix: true } => token_key.strip_prefix(key.as_str()),
            Part::Gap => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            Part::Word { key, .. } => key.chars().count(),
            Part::Gap => 0,
        }
    }
}

pub(super) struct Entry {
    pub concept: Concept,
    pub language: usize,
    pub parts: Vec<Part>,
}

/// What a single word means: its longest matching entries (an exact entry beats a prefix of
/// the same length), with the ending the prefix left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Sense {
    pub concept: Concept,
    pub language: usize,
    pub ending: String,
}

/// Word lists that are only looked up, never given a sense.
pub(super) struct WordSet(Vec<Part>);

impl WordSet {
    pub fn contains(&self, token_key: &str) -> bool {
        self.0.iter().any(|part| part.matches(token_key).is_some())
    }
}

/// One language's grammar words and endings.
pub(super) struct Grammar {
    pub past_endings: WordSet,
    pub aux_endings: WordSet,
    pub past_auxiliaries: WordSet,
    pub breakers: WordSet,
    pub negations: WordSet,
    pub conjunctions: WordSet,
    pub noun_or_verb: WordSet,
    pub verb_licensors: WordSet,
}

pub(super) struct Lexicon {
    pub words: Vec<Entry>,
    pub phrases: Vec<Entry>,
    pub grammar: Vec<Grammar>,
}

pub(super) static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let mut lexicon = Lexicon { words: Vec::new(), phrases: Vec::new(), grammar: Vec::new() };
    for (index, language) in LANGUAGES.iter().enumerate() {
        for (concept, list) in concept_lists(language) {
            for parts in entries(list) {
                let entry = Entry { concept, language: index, parts };
                match entry.parts.len() {
                    1 => lexicon.words.push(entry),
                    _ => lexicon.phrases.push(entry),
                }
            }
        }
        lexicon.grammar.push(grammar(language));
    }
    lexicon
});

fn concept_lists(language: &Language) -> [(Concept, &'static str); 17] {
    use Concept::*;
    [
        (FundAction, language.fund_actions),
        (ClosingAction, language.closing_actions),
        (ClosingVerb, language.closing_verbs),
        (DisputeNoun, language.dispute_nouns),
        (Transfer, language.transfer_verbs),
        (TransferPast, language.transfer_past),
        (Send, language.send_verbs),
        (SendPast, language.send_past),
        (LightVerb, language.light_verbs),
        (LightPast, language.light_past),
        (Money, language.money_nouns),
        (Crypto, language.crypto_nouns),
        (Evidence, language.evidence_nouns),
        (Unrelated, language.unrelated),
        (Role, language.roles),
        (Ruling, language.rulings),
        (Outcome, language.outcomes),
    ]
}

fn grammar(language: &Language) -> Grammar {
    let set = |list: &str| WordSet(entries(list).flatten().collect());
    Grammar {
        past_endings: set(language.past_endings),
        aux_endings: set(language.aux_endings),
        past_auxiliaries: set(language.past_auxiliaries),
        breakers: set(language.breakers),
        negations: set(language.negations),
        conjunctions: set(language.conjunctions),
        noun_or_verb: set(language.noun_or_verb),
        verb_licensors: set(language.verb_licensors),
    }
}

fn entries(list: &str) -> impl Iterator<Item = Vec<Part>> + '_ {
    list.split(',').map(str::trim).filter(|entry| !entry.is_empty()).map(|entry| {
        entry
            .split_whitespace()
            .map(|word| match word {
                "..." => Part::Gap,
                "-" => Part::Word { key: String::new(), prefix: false },
                word => match word.strip_suffix('*') {
                    Some(stem) => Part::Word { key: key(stem), prefix: true },
                    None => Part::Word { key: key(word), prefix: false },
                },
            })
            .collect()
    })
}

impl Lexicon {
    /// The senses of one word, keyed.
    pub fn senses(&self, token_key: &str) -> Vec<Sense> {
        let mut best: Vec<(&Entry, usize, bool)> = Vec::new();
        for entry in &self.words {
            let part = &entry.parts[0];
            if part.matches(token_key).is_none() {
                continue;
            }
            let rank = (part.len(), matches!(part, Part::Word { prefix: false, .. }));
            match best.first().map(|&(_, len, exact)| rank.cmp(&(len, exact))) {
                Some(std::cmp::Ordering::Less) => {}
                Some(std::cmp::Ordering::Equal) => best.push((entry, rank.0, rank.1)),
                _ => best = vec![(entry, rank.0, rank.1)],
            }
        }
        best.into_iter()
            .map(|(entry, len, _)| Sense {
                concept: entry.concept,
                language: entry.language,
                ending: token_key.chars().skip(len).collect(),
            })
            .collect()
    }

    pub fn language_code(language: usize) -> &'static str {
        LANGUAGES[language].code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tokens::tokens;

    #[test]
    fn every_entry_word_is_one_word() {
        for language in LANGUAGES {
            let lists = concept_lists(language).map(|(_, list)| list);
            let grammar = [
                language.past_auxiliaries,
                language.breakers,
                language.negations,
                language.conjunctions,
                language.noun_or_verb,
                language.verb_licensors,
            ];
            for list in lists.into_iter().chain(grammar) {
                for entry in list.split(',') {
                    for word in entry.split_whitespace().filter(|w| *w != "...") {
                        let written = word.trim_end_matches('*');
                        assert_eq!(tokens(written).len(), 1, "{}: {word:?} in {entry:?}", language.code);
                    }
                }
            }
            for list in grammar {
                assert!(
                    list.split(',').all(|entry| entry.split_whitespace().count() <= 1),
                    "{}: {list}",
                    language.code
                );
            }
            // A gap in an unrelated phrase would silence the words it spans.
            assert!(!language.unrelated.contains("..."), "{}", language.code);
        }
    }

    #[test]
    fn the_longest_entry_wins_and_exact_beats_prefix() {
        let concepts = |word: &str| LEXICON.senses(&key(word)).into_iter().map(|s| s.concept).collect::<Vec<_>>();
        assert_eq!(concepts("pagaste"), [Concept::Transfer; 3], "Spanish, Portuguese and Italian");
        assert!(concepts("página").iter().all(|c| *c == Concept::Unrelated));
        assert_eq!(concepts("pagamento"), [Concept::Money], "Portuguese, longer than Italian");
        assert_eq!(LEXICON.senses(&key("liberaste"))[0].ending, key("aste"));
    }
}
