//! A scripted language model for the demo and the tests, served by [`FakeModel`]: it answers the
//! health probe, classifies by how far the conversation got, and writes summaries, in the shapes
//! a real model is asked for.

use serbero_core::reasoning::guard::CANDIDATE_OPEN;
use serde_json::json;

use super::model::{RecordedRequest, Reply};

/// What the model answers a classification with.
#[derive(Clone, Debug)]
pub enum Turn {
    /// One question for each party.
    Ask { buyer: String, seller: String },
    /// The parties' coordination problem looks resolvable: summarize.
    Summarize,
    /// The model itself proposes to escalate.
    Escalate,
    /// A risk flag (e.g. `fraud_risk`) with a question each, which the policy escalates.
    Flag(&'static str),
    /// Catalog questions by id for each party (with plain questions beside them, as the
    /// contract still asks for).
    Choose { buyer: Vec<String>, seller: Vec<String> },
    /// Exactly this reply, e.g. malformed output or a fooled model's text.
    Raw(String),
}

/// How the scripted model answers the guard's second-opinion call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardScript {
    /// Lets everything through: a fooled or careless guard, so the deterministic checks must
    /// hold on their own (the default, as unkind as a real guard can be).
    AllowAll,
    BlockAll,
    /// Answers prose instead of a verdict.
    Unclear,
}

impl Turn {
    pub fn ask(buyer: &str, seller: &str) -> Self {
        Self::Ask { buyer: buyer.to_string(), seller: seller.to_string() }
    }
}

/// The model's script: its opening verdict, what it says after each completed round (the last
/// one repeats), and the summary it writes.
#[derive(Clone, Debug)]
pub struct Brain {
    pub opening: Turn,
    pub after_rounds: Vec<Turn>,
    pub summary: String,
    pub guard: GuardScript,
}

impl Brain {
    /// Asks both parties, then summarizes once both answered.
    pub fn cooperative() -> Self {
        Self {
            opening: Turn::ask(
                "Did the fiat payment leave your account, and on which date and with which bank reference?",
                "Has the fiat payment reached your account according to your bank statement?",
            ),
            after_rounds: vec![Turn::Summarize],
            summary: "The buyer says the SEPA transfer left on Monday with reference 4711; the seller had not \
                      checked the account since Sunday and now confirms an incoming transfer with that reference."
                .to_string(),
            guard: GuardScript::AllowAll,
        }
    }

    /// Answers `request` as the script says.
    pub fn answer(&self, request: &RecordedRequest) -> Reply {
        let user = request.user().unwrap_or_default();
        if user == "ping" {
            return Reply::content("pong");
        }
        if user.starts_with(CANDIDATE_OPEN) {
            return Reply::content(match self.guard {
                GuardScript::AllowAll => r#"{"verdict": "allow"}"#,
                GuardScript::BlockAll => r#"{"verdict": "block"}"#,
                GuardScript::Unclear => "This question looks fine to me.",
            });
        }
        if !user.contains("\"suggested_action\"") {
            return Reply::content(format!(
                "{}\nSUGGESTED_NEXT_STEP: Ask the seller to confirm the transfer in their bank app, then decide.\nRATIONALE: Both accounts agree on the reference.",
                self.summary
            ));
        }
        let rounds = completed_rounds(user);
        let turn = match rounds {
            0 => &self.opening,
            n => self.after_rounds.get(n - 1).or(self.after_rounds.last()).unwrap_or(&self.opening),
        };
        Reply::content(classification(turn))
    }
}

/// Rounds both parties answered, from the transcript lines of the prompt.
fn completed_rounds(user: &str) -> usize {
    let count = |who: &str| user.lines().filter(|l| l.starts_with('[') && l.contains(&format!("] {who}: "))).count();
    count("buyer").min(count("seller"))
}

fn classification(turn: &Turn) -> String {
    let (label, action, flags, buyer, seller) = match turn {
        Turn::Raw(text) => return text.clone(),
        Turn::Ask { buyer, seller } => {
            ("coordination_failure_resolvable", "ask_clarification", vec![], buyer.as_str(), seller.as_str())
        }
        Turn::Summarize => ("coordination_failure_resolvable", "summarize", vec![], "", ""),
        Turn::Escalate => ("not_suitable_for_mediation", "escalate", vec![], "", ""),
        Turn::Choose { buyer, seller } => {
            let mut reply: serde_json::Value = serde_json::from_str(&classification(&Turn::ask(
                "Did you send the fiat payment?",
                "Did you receive the fiat payment?",
            )))
            .expect("our own JSON");
            reply["catalog_questions"] = json!({ "buyer": buyer, "seller": seller });
            return reply.to_string();
        }
        Turn::Flag(flag) => (
            "unclear",
            "ask_clarification",
            vec![*flag],
            "Can you describe what happened?",
            "Can you describe what happened?",
        ),
    };
    json!({
        "classification": label,
        "confidence": 0.9,
        "suggested_action": action,
        "rationale": format!("scripted {action}"),
        "flags": flags,
        "buyer_clarification": buyer,
        "seller_clarification": seller,
    })
    .to_string()
}
