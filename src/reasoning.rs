//! What mediation asks of a language model and what it accepts back, independent of any
//! provider: the transcript, the classification and summary the model must return, and the
//! errors a call can end in. Providers (actors/src/reasoning) only move these over HTTP.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dispute::Initiator;

pub mod guard;
pub mod parse;
pub mod prompt;
pub mod window;
pub mod wire;

/// Who said a line of the transcript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Buyer,
    Seller,
    Serbero,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::Serbero => "serbero",
        }
    }
}

/// One line of the conversation, oldest first in a transcript. Party text is untrusted input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptEntry {
    pub speaker: Speaker,
    /// The inner event's time, by the writer's clock.
    pub at: i64,
    pub content: String,
}

/// The model's reading of the dispute (wire names, snake_case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    CoordinationFailureResolvable,
    ConflictingClaims,
    SuspectedFraud,
    Unclear,
    NotSuitableForMediation,
}

impl Label {
    pub const ALL: [Label; 5] = [
        Self::CoordinationFailureResolvable,
        Self::ConflictingClaims,
        Self::SuspectedFraud,
        Self::Unclear,
        Self::NotSuitableForMediation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CoordinationFailureResolvable => "coordination_failure_resolvable",
            Self::ConflictingClaims => "conflicting_claims",
            Self::SuspectedFraud => "suspected_fraud",
            Self::Unclear => "unclear",
            Self::NotSuitableForMediation => "not_suitable_for_mediation",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == value)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Risk markers the model may raise (wire names, snake_case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    FraudRisk,
    ConflictingClaims,
    LowInfo,
    UnresponsiveParty,
    AuthorityBoundaryAttempt,
}

impl Flag {
    pub const ALL: [Flag; 5] = [
        Self::FraudRisk,
        Self::ConflictingClaims,
        Self::LowInfo,
        Self::UnresponsiveParty,
        Self::AuthorityBoundaryAttempt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FraudRisk => "fraud_risk",
            Self::ConflictingClaims => "conflicting_claims",
            Self::LowInfo => "low_info",
            Self::UnresponsiveParty => "unresponsive_party",
            Self::AuthorityBoundaryAttempt => "authority_boundary_attempt",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == value)
    }
}

/// What the model proposes to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SuggestedAction {
    /// One question for each party, each self-contained, without role prefixes.
    AskClarification {
        buyer_text: String,
        seller_text: String,
    },
    Summarize,
    /// The model's own reason, kept for the audit only: it is never propagated as a trigger.
    Escalate(String),
}

/// The model's free-text reasoning. Stored only in the content-addressed rationale store;
/// logs, events and DMs carry its id. Its `Debug` form never shows the text.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Rationale(pub String);

impl fmt::Debug for Rationale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rationale(<{} bytes redacted>)", self.0.len())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    pub label: Label,
    /// Clamped to 0..=1.
    pub confidence: f64,
    pub action: SuggestedAction,
    pub rationale: Rationale,
    pub flags: Vec<Flag>,
}

/// Which reviewed catalog questions the model would have each party asked (the optional
/// `catalog_questions` of the reasoning contract); empty lists leave the choice to Serbero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogChoice {
    pub buyer: Vec<String>,
    pub seller: Vec<String>,
}

/// A classification with the catalog questions the model chose.
#[derive(Clone, Debug, PartialEq)]
pub struct Classified {
    pub classification: Classification,
    pub catalog: CatalogChoice,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub text: String,
    pub next_step: String,
    pub rationale: Rationale,
}

/// What a classification call is about.
#[derive(Clone, Debug)]
pub struct ClassifyRequest<'a> {
    pub dispute_id: &'a str,
    /// `None` for the opening verdict, before any session exists.
    pub session_id: Option<&'a str>,
    pub initiator: Initiator,
    pub round_count: u32,
    pub transcript: &'a [TranscriptEntry],
}

/// What a summary call is about.
#[derive(Clone, Debug)]
pub struct SummaryRequest<'a> {
    pub dispute_id: &'a str,
    pub session_id: &'a str,
    pub label: Label,
    pub confidence: f64,
    pub transcript: &'a [TranscriptEntry],
}

/// How a call to the model failed. Malformed output is a failure, never read as `unclear`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReasoningError {
    #[error("reasoning endpoint unreachable: {0}")]
    Unreachable(String),
    #[error("reasoning call timed out")]
    Timeout,
    #[error("the model's output is not what was asked for: {0}")]
    MalformedResponse(String),
}

impl ReasoningError {
    /// The audit category; payloads carry this, never the raw error text.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Timeout => "timeout",
            Self::MalformedResponse(_) => "malformed_response",
        }
    }
}
