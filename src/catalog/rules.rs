//! What every catalog must satisfy before Serbero sends a word of it. Checked when the catalogs
//! load; the tests load the shipped ones, so a slip in `messages/` fails the build's tests, not
//! a dispute.

use std::collections::BTreeSet;

use super::facts::ValidFacts;
use super::template::Template;
use super::{default_questions, Catalog, Lang, Notice, MAX_MESSAGE_CHARS, MAX_QUESTIONS, MAX_TEXT_CHARS, SIMPLE};
use crate::chat::Party;
use crate::policy::boundary_violation;
use crate::reasoning::Label;

/// Fact-finding questions each party must have, each with a simpler variant.
pub const MIN_QUESTIONS_PER_PARTY: usize = 4;

/// Word beginnings the catalogs never need. The authority boundary has to let fact-finding
/// questions through ("did you send the payment?"); reviewed text can keep much further away:
/// no releasing, settling, cancelling, closing, refunding, withdrawing, deciding or ruling at all.
fn forbidden_stems(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "releas settl cancel close refund reimburs withdraw resolv decid ruling verdict judge arbitr admin \
             moderat favor favour escrow unlock"
        }
        Lang::Es => {
            "liber liquid cancel anul cerr reembols retir resolv resuel resolu decid fallo veredict juez arbitr \
             árbitr admin moderad desbloque solt suelt"
        }
        Lang::Pt => {
            "liber liquid cancel anul fech encerr reembols estorn saque sacar resolv resolu decid veredit senten \
             juiz arbitr árbitr admin moderad desbloque solt"
        }
    }
}

pub(super) fn check(catalog: &Catalog) -> Result<(), String> {
    let english = catalog.messages(Lang::En);
    for lang in Lang::ALL {
        let messages = catalog.messages(lang);
        if !messages.questions.keys().eq(english.questions.keys()) {
            return Err(format!("messages/{}.toml: its question ids differ from English", lang.as_str()));
        }
        for (id, template) in messages.templates() {
            check_text(lang, template).map_err(|error| format!("messages/{}.toml: {id}: {error}", lang.as_str()))?;
        }
    }
    for party in Party::BOTH {
        check_questions(catalog, party)?;
        for lang in Lang::ALL {
            check_longest_message(catalog, lang, party)?;
        }
    }
    Ok(())
}

/// Reviewed words only (no digits, links or addresses), and every filling short, complete and
/// within the authority boundary.
fn check_text(lang: Lang, template: &Template) -> Result<(), String> {
    for text in template.literal_texts() {
        if let Some(bad) = text.chars().find(|c| c.is_ascii_digit() || *c == '@') {
            return Err(format!("{bad:?} in {text:?}: no digits or addresses outside placeholders"));
        }
        let lower = text.to_lowercase();
        if lower.contains("http") || lower.contains("www") || lower.contains("://") {
            return Err(format!("a link in {text:?}"));
        }
        let mut words = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty());
        if let Some(word) = words.find(|w| forbidden_stems(lang).split_whitespace().any(|s| w.starts_with(s))) {
            return Err(format!("{word:?} is fund, closing or authority wording"));
        }
    }
    for facts in [ValidFacts::default(), ValidFacts::typical(), ValidFacts::longest()] {
        for text in template.fillings(&facts, lang) {
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(format!("{} characters, more than {MAX_TEXT_CHARS}: {text:?}", text.chars().count()));
            }
            if text.contains(['{', '}']) {
                return Err(format!("a brace left in {text:?}"));
            }
            if let Some(violation) = boundary_violation(&text) {
                return Err(format!("crosses the authority boundary ({violation:?}): {text:?}"));
            }
        }
    }
    Ok(())
}

/// Enough questions, each with its simpler wording, and every default among them.
fn check_questions(catalog: &Catalog, party: Party) -> Result<(), String> {
    let ids: BTreeSet<&str> = catalog.ids(party).into_iter().collect();
    let plain: Vec<&str> = ids.iter().copied().filter(|id| !id.ends_with(SIMPLE)).collect();
    if plain.len() < MIN_QUESTIONS_PER_PARTY {
        return Err(format!("{party} has {} questions, fewer than {MIN_QUESTIONS_PER_PARTY}", plain.len()));
    }
    let twins_match = ids.len() == 2 * plain.len() && plain.iter().all(|id| ids.contains(&*format!("{id}{SIMPLE}")));
    if !twins_match {
        return Err(format!("every {party} question needs exactly one {SIMPLE} variant, and nothing else"));
    }
    let labels = Label::ALL.into_iter().map(Some).chain([None]);
    let defaults = labels.flat_map(|label| default_questions(party, label));
    match defaults.into_iter().find(|id| !ids.contains(id)) {
        Some(missing) => Err(format!("the default question {missing} is not in the catalog")),
        None => Ok(()),
    }
}

/// The introduction and the two longest questions, with the longest facts, fit one message.
fn check_longest_message(catalog: &Catalog, lang: Lang, party: Party) -> Result<(), String> {
    let longest = ValidFacts::longest();
    let length = |template: &Template| template.fillings(&longest, lang).map(|t| t.chars().count()).max();
    let messages = catalog.messages(lang);
    let mut questions: Vec<usize> =
        catalog.ids(party).iter().filter_map(|id| length(&messages.questions[*id])).collect();
    questions.sort_unstable_by(|a, b| b.cmp(a));
    let introduction = length(&messages.notices[Notice::Introduction as usize]).unwrap_or(0);
    let total = introduction + questions.iter().take(MAX_QUESTIONS).map(|q| q + 1).sum::<usize>();
    if total > MAX_MESSAGE_CHARS {
        return Err(format!("a {} message to the {party} can reach {total} characters", lang.as_str()));
    }
    Ok(())
}
