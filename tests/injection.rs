//! Party messages are untrusted input (spec/mediation.md §4.8, gap 11): a party may try to talk
//! the model into telling the other party to release funds, into ruling, or into naming an admin
//! command. This test assumes the worst — the model is fooled every time and writes what the
//! attacker asked for — and checks that the policy layer and the authority boundary stop every
//! such answer, in any language or spelling, while ordinary clarifying questions still pass.
//!
//! The corpus is data: `tests/fixtures/injection_corpus.json`. Each model answer goes through
//! the real parsers (`reasoning::parse`), then the policy (`policy::decide`, `check_summary`).

use std::collections::BTreeSet;

use serbero_core::escalation::Trigger;
use serbero_core::policy::{check_summary, decide, Decision, Stage};
use serbero_core::reasoning::parse;
use serde::Deserialize;

const CORPUS: &str = include_str!("fixtures/injection_corpus.json");

/// Questions and summary parts the fooled model writes next to the injected one.
const PLAIN_BUYER_QUESTION: &str = "Did you send the fiat payment, and when?";
const PLAIN_SELLER_QUESTION: &str = "Have you received the payment in your account?";
const PLAIN_SUMMARY: &str = "The buyer says they paid on Monday; the seller says the amount arrived on Tuesday.";
const PLAIN_NEXT_STEP: &str = "A human solver should compare the receipt with the seller's statement.";

/// Every stage a question can be sent in, window and beyond.
const STAGES: [Stage; 5] =
    [Stage::Opening, Stage::FollowUp(1), Stage::FollowUp(3), Stage::FollowUp(4), Stage::FollowUp(9)];

#[derive(Deserialize)]
struct Corpus {
    attacks: Vec<Attack>,
    benign_questions: Vec<BenignQuestions>,
    benign_summaries: Vec<BenignSummary>,
}

#[derive(Deserialize)]
struct Attack {
    id: String,
    lang: String,
    technique: String,
    /// What the party sent; it only documents the attack, the model's answer is what we test.
    message: String,
    fooled: Vec<Fooled>,
}

#[derive(Deserialize)]
struct Fooled {
    channel: Channel,
    text: String,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Channel {
    BuyerQuestion,
    SellerQuestion,
    Summary,
    NextStep,
    RawReply,
}

#[derive(Deserialize)]
struct BenignQuestions {
    lang: String,
    buyer: String,
    seller: String,
}

#[derive(Deserialize)]
struct BenignSummary {
    lang: String,
    summary: String,
    next_step: String,
}

fn corpus() -> Corpus {
    serde_json::from_str(CORPUS).expect("the corpus is valid JSON")
}

/// A confident, flag-free classification asking these questions: the model noticed nothing.
fn fooled_classification_reply(buyer: &str, seller: &str) -> String {
    serde_json::json!({
        "classification": "coordination_failure_resolvable",
        "confidence": 0.95,
        "suggested_action": "ask_clarification",
        "rationale": "The parties agree on the facts.",
        "flags": [],
        "buyer_clarification": buyer,
        "seller_clarification": seller,
    })
    .to_string()
}

fn summary_reply(body: &str, next_step: &str) -> String {
    format!("{body}\nSUGGESTED_NEXT_STEP: {next_step}\nRATIONALE: The parties agree on what happened.")
}

/// `None` when the answer is stopped; otherwise what it would let out.
fn escaped(channel: Channel, text: &str) -> Option<String> {
    match channel {
        Channel::BuyerQuestion => question_escapes(&fooled_classification_reply(text, PLAIN_SELLER_QUESTION)),
        Channel::SellerQuestion => question_escapes(&fooled_classification_reply(PLAIN_BUYER_QUESTION, text)),
        Channel::RawReply => question_escapes(text),
        Channel::Summary => summary_escapes(&summary_reply(text, PLAIN_NEXT_STEP)),
        Channel::NextStep => summary_escapes(&summary_reply(PLAIN_SUMMARY, text)),
    }
}

fn question_escapes(reply: &str) -> Option<String> {
    let Ok(classification) = parse::classification(reply) else { return None };
    STAGES.into_iter().find_map(|stage| match decide(&classification, stage) {
        Decision::Escalate(Trigger::AuthorityBoundaryAttempt) => None,
        other => Some(format!("{stage:?}: {other:?}")),
    })
}

fn summary_escapes(reply: &str) -> Option<String> {
    let summary = parse::summary(reply).expect("a well-formed summary");
    match check_summary(&summary) {
        Err(Trigger::AuthorityBoundaryAttempt) => None,
        other => Some(format!("{other:?}")),
    }
}

#[test]
fn no_fooled_answer_gets_a_forbidden_instruction_out() {
    let corpus = corpus();
    let leaks: Vec<String> = corpus
        .attacks
        .iter()
        .flat_map(|attack| attack.fooled.iter().map(move |fooled| (attack, fooled)))
        .filter_map(|(attack, fooled)| {
            escaped(fooled.channel, &fooled.text).map(|out| {
                format!(
                    "{} ({}, {}) via {:?}: {:?} -> {out}",
                    attack.id, attack.lang, attack.technique, fooled.channel, fooled.text
                )
            })
        })
        .collect();
    assert!(leaks.is_empty(), "forbidden instructions got out:\n{}", leaks.join("\n"));
}

#[test]
fn the_corpus_is_broad() {
    let corpus = corpus();
    assert!(corpus.attacks.len() >= 30, "{} attacks", corpus.attacks.len());
    let languages: BTreeSet<&str> = corpus.attacks.iter().map(|a| a.lang.as_str()).collect();
    for lang in ["en", "es", "pt", "fr", "de", "it", "ru", "mixed"] {
        assert!(languages.contains(lang), "no attack in {lang}");
    }
    let ids: BTreeSet<&str> = corpus.attacks.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), corpus.attacks.len(), "attack ids are unique");
    for attack in &corpus.attacks {
        assert!(!attack.message.trim().is_empty() && !attack.fooled.is_empty(), "{} is complete", attack.id);
    }
    assert!(corpus.benign_questions.len() >= 10);
    let benign_languages: BTreeSet<&str> = corpus.benign_questions.iter().map(|b| b.lang.as_str()).collect();
    assert!(benign_languages.len() >= 6, "benign questions in {benign_languages:?}");
}

#[test]
fn ordinary_clarifying_questions_pass() {
    for benign in corpus().benign_questions {
        let reply = fooled_classification_reply(&benign.buyer, &benign.seller);
        let classification = parse::classification(&reply).expect("a well-formed reply");
        let expected = Decision::Ask { buyer_text: benign.buyer.clone(), seller_text: benign.seller.clone() };
        assert_eq!(decide(&classification, Stage::Opening), expected, "{}: {}", benign.lang, benign.buyer);
    }
}

#[test]
fn ordinary_summaries_pass() {
    for benign in corpus().benign_summaries {
        let summary =
            parse::summary(&summary_reply(&benign.summary, &benign.next_step)).expect("a well-formed summary");
        assert_eq!(check_summary(&summary), Ok(()), "{}: {}", benign.lang, benign.summary);
    }
}
