//! The policy layer: what Serbero does with a model's classification, before any side effect.
//! The model proposes; these ordered rules decide, and every text Serbero would send passes the
//! authority boundary (`boundary_violation`) first. A question the model writes for a party, in
//! the opt-in mode that sends the model's own words, must also pass `check_model_question`:
//! one or two short questions, no payment data, no fund or closing action, no authority.
//!
//! Rules, first match wins (spec/mediation.md §4.8, with gaps 11 and 12 of §10 closed):
//! 1. flag `fraud_risk` or label `suspected_fraud` → `fraud_indicator`;
//! 2. flag or label `conflicting_claims` → `conflicting_claims`;
//! 3. flag `authority_boundary_attempt` → `authority_boundary_attempt`;
//! 4. confidence below 0.5 → `low_confidence`, except a question in the bypass window (the
//!    opening verdict and follow-ups 1 to 3), where asking is how confidence is gained;
//! 5. the model proposes to escalate, or labels the dispute `not_suitable_for_mediation` →
//!    `reasoning_unavailable`;
//! 6. a question: a blank text → `reasoning_unavailable`; a template placeholder left in →
//!    `invalid_model_output`; label `unclear` past the bypass window → `low_confidence`;
//! 7. a summary with any label but `coordination_failure_resolvable` → `invalid_model_output`;
//! 8. a question whose text crosses the authority boundary → `authority_boundary_attempt`.
//!
//! Labels that mean "a human must look" escalate by themselves (the prompts promise they do).
//! Fraud and conflicting claims come first, with their flags, because they name the most
//! specific trigger and no confidence level or bypass should mask them. `not_suitable` shares
//! the model-escalation rule: both are the model declining to mediate, and the model's own
//! reasons never become triggers. `unclear` is what asking questions is for, so it keeps asking
//! in the window and then escalates as `low_confidence`; summarising an unclear case is an
//! inconsistent output (rule 7).

mod boundary;
mod concepts;
mod lexicon;
mod meaning;
mod normalise;
mod party_text;
mod payment;
mod shape;
mod tokens;

/// Also what an attachment's file name is cleaned of.
pub(crate) use boundary::is_invisible;
pub use boundary::{boundary_violation, Violation, ViolationKind};
pub use party_text::{check_model_question, PartyTextLayer, PartyTextViolation};
pub use shape::{MAX_QUESTION_CHARS, MAX_QUESTION_SENTENCES};

use crate::escalation::Trigger;
use crate::reasoning::{Classification, Flag, Label, SuggestedAction, Summary};

/// Below this the model is not sure enough to act on.
pub const MIN_CONFIDENCE: f64 = 0.5;
/// Follow-ups (after the opening verdict) that may still ask while unsure.
pub const UNSURE_FOLLOW_UPS: u32 = 3;

/// Which classification of a session this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The verdict before taking the dispute.
    Opening,
    /// The n-th re-classification after a party replied, from 1.
    FollowUp(u32),
}

impl Stage {
    /// The bypass window: an unsure model may still ask.
    fn may_ask_unsure(self) -> bool {
        match self {
            Stage::Opening => true,
            Stage::FollowUp(n) => n <= UNSURE_FOLLOW_UPS,
        }
    }
}

/// What Serbero does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send each party its question.
    Ask { buyer_text: String, seller_text: String },
    /// Ask the model for a summary for the solver.
    Summarize,
    /// Hand the dispute to a human.
    Escalate(Trigger),
}

/// The ordered rules above, then the authority boundary on the texts to send.
pub fn decide(classification: &Classification, stage: Stage) -> Decision {
    check_outbound(&apply_rules(classification, stage))
}

/// An `Ask` whose text crosses the authority boundary becomes an escalation; other decisions
/// pass unchanged. Run it again on any text changed after `decide`.
pub fn check_outbound(decision: &Decision) -> Decision {
    match decision {
        Decision::Ask { buyer_text, seller_text }
            if boundary_violation(buyer_text).is_some() || boundary_violation(seller_text).is_some() =>
        {
            Decision::Escalate(Trigger::AuthorityBoundaryAttempt)
        }
        other => other.clone(),
    }
}

/// A summary may go to the solver only with a body, and with neither it nor the next step
/// crossing the authority boundary.
pub fn check_summary(summary: &Summary) -> Result<(), Trigger> {
    if summary.text.trim().is_empty() {
        return Err(Trigger::InvalidModelOutput);
    }
    if boundary_violation(&summary.text).is_some() || boundary_violation(&summary.next_step).is_some() {
        return Err(Trigger::AuthorityBoundaryAttempt);
    }
    Ok(())
}

fn apply_rules(c: &Classification, stage: Stage) -> Decision {
    let flagged = |flag: Flag| c.flags.contains(&flag);
    let asking = matches!(c.action, SuggestedAction::AskClarification { .. });
    if flagged(Flag::FraudRisk) || c.label == Label::SuspectedFraud {
        return Decision::Escalate(Trigger::FraudIndicator);
    }
    if flagged(Flag::ConflictingClaims) || c.label == Label::ConflictingClaims {
        return Decision::Escalate(Trigger::ConflictingClaims);
    }
    if flagged(Flag::AuthorityBoundaryAttempt) {
        return Decision::Escalate(Trigger::AuthorityBoundaryAttempt);
    }
    let sure_enough = c.confidence >= MIN_CONFIDENCE || (asking && stage.may_ask_unsure());
    if !sure_enough {
        return Decision::Escalate(Trigger::LowConfidence);
    }
    if c.label == Label::NotSuitableForMediation {
        return Decision::Escalate(Trigger::ReasoningUnavailable);
    }
    match &c.action {
        SuggestedAction::Escalate(_) => Decision::Escalate(Trigger::ReasoningUnavailable),
        SuggestedAction::AskClarification { buyer_text, seller_text } => {
            let texts = [buyer_text, seller_text];
            if texts.iter().any(|t| t.trim().is_empty()) {
                Decision::Escalate(Trigger::ReasoningUnavailable)
            } else if texts.iter().any(|t| has_placeholder(t)) {
                Decision::Escalate(Trigger::InvalidModelOutput)
            } else if c.label == Label::Unclear && !stage.may_ask_unsure() {
                Decision::Escalate(Trigger::LowConfidence)
            } else {
                Decision::Ask { buyer_text: buyer_text.trim().to_string(), seller_text: seller_text.trim().to_string() }
            }
        }
        SuggestedAction::Summarize if c.label == Label::CoordinationFailureResolvable => Decision::Summarize,
        SuggestedAction::Summarize => Decision::Escalate(Trigger::InvalidModelOutput),
    }
}

/// The message templates mark what the model must fill in as `{{...}}`.
fn has_placeholder(text: &str) -> bool {
    text.contains("{{") || text.contains("}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reasoning::Rationale;
    use Label::*;
    use Stage::*;

    const BUYER_Q: &str = "Did you send the fiat payment, and can you share proof of it?";
    const SELLER_Q: &str = "Have you received the payment in your account?";

    fn ask() -> SuggestedAction {
        SuggestedAction::AskClarification { buyer_text: BUYER_Q.into(), seller_text: SELLER_Q.into() }
    }

    fn classification(label: Label, confidence: f64, action: SuggestedAction, flags: &[Flag]) -> Classification {
        Classification { label, confidence, action, rationale: Rationale::default(), flags: flags.to_vec() }
    }

    fn asked() -> Decision {
        Decision::Ask { buyer_text: BUYER_Q.into(), seller_text: SELLER_Q.into() }
    }

    fn escalated(trigger: Trigger) -> Decision {
        Decision::Escalate(trigger)
    }

    #[test]
    fn the_rules_in_order() {
        let cases: Vec<(&str, Classification, Stage, Decision)> = vec![
            ("cooperative ask", classification(CoordinationFailureResolvable, 0.9, ask(), &[]), Opening, asked()),
            (
                "cooperative summary",
                classification(CoordinationFailureResolvable, 0.9, SuggestedAction::Summarize, &[]),
                FollowUp(2),
                Decision::Summarize,
            ),
            (
                "fraud flag dominates everything",
                classification(
                    ConflictingClaims,
                    0.1,
                    SuggestedAction::Escalate("x".into()),
                    &[Flag::ConflictingClaims, Flag::AuthorityBoundaryAttempt, Flag::FraudRisk],
                ),
                FollowUp(9),
                escalated(Trigger::FraudIndicator),
            ),
            (
                "fraud label alone",
                classification(SuspectedFraud, 0.95, ask(), &[]),
                Opening,
                escalated(Trigger::FraudIndicator),
            ),
            (
                "conflicting flag before authority flag",
                classification(
                    CoordinationFailureResolvable,
                    0.9,
                    ask(),
                    &[Flag::AuthorityBoundaryAttempt, Flag::ConflictingClaims],
                ),
                Opening,
                escalated(Trigger::ConflictingClaims),
            ),
            (
                "conflicting label alone",
                classification(Label::ConflictingClaims, 0.9, ask(), &[]),
                FollowUp(1),
                escalated(Trigger::ConflictingClaims),
            ),
            (
                "authority flag dominates low confidence",
                classification(
                    Unclear,
                    0.1,
                    SuggestedAction::Summarize,
                    &[Flag::AuthorityBoundaryAttempt, Flag::LowInfo],
                ),
                FollowUp(5),
                escalated(Trigger::AuthorityBoundaryAttempt),
            ),
            (
                "low confidence summary",
                classification(CoordinationFailureResolvable, 0.49, SuggestedAction::Summarize, &[]),
                Opening,
                escalated(Trigger::LowConfidence),
            ),
            (
                "low confidence escalation is low_confidence, not reasoning_unavailable",
                classification(CoordinationFailureResolvable, 0.2, SuggestedAction::Escalate("x".into()), &[]),
                Opening,
                escalated(Trigger::LowConfidence),
            ),
            (
                "not suitable, even when sure and asking",
                classification(NotSuitableForMediation, 0.9, ask(), &[]),
                Opening,
                escalated(Trigger::ReasoningUnavailable),
            ),
            (
                "not suitable, unsure, asking in the window",
                classification(NotSuitableForMediation, 0.3, ask(), &[]),
                FollowUp(1),
                escalated(Trigger::ReasoningUnavailable),
            ),
            (
                "model escalation never passes its reason on",
                classification(CoordinationFailureResolvable, 0.9, SuggestedAction::Escalate("fraud!".into()), &[]),
                Opening,
                escalated(Trigger::ReasoningUnavailable),
            ),
            (
                "summary of a non-cooperative label",
                classification(Unclear, 0.8, SuggestedAction::Summarize, &[]),
                Opening,
                escalated(Trigger::InvalidModelOutput),
            ),
            ("unclear keeps asking in the window", classification(Unclear, 0.8, ask(), &[]), FollowUp(3), asked()),
            (
                "unclear past the window",
                classification(Unclear, 0.8, ask(), &[]),
                FollowUp(4),
                escalated(Trigger::LowConfidence),
            ),
            (
                "informational flags do not escalate",
                classification(CoordinationFailureResolvable, 0.7, ask(), &[Flag::LowInfo, Flag::UnresponsiveParty]),
                FollowUp(1),
                asked(),
            ),
        ];
        for (name, classification, stage, expected) in cases {
            assert_eq!(decide(&classification, stage), expected, "{name}");
        }
    }

    #[test]
    fn an_unsure_question_passes_only_in_the_bypass_window() {
        let unsure = classification(CoordinationFailureResolvable, 0.3, ask(), &[]);
        for stage in [Opening, FollowUp(1), FollowUp(2), FollowUp(3)] {
            assert_eq!(decide(&unsure, stage), asked(), "{stage:?}");
        }
        for stage in [FollowUp(4), FollowUp(10)] {
            assert_eq!(decide(&unsure, stage), escalated(Trigger::LowConfidence), "{stage:?}");
        }
    }

    #[test]
    fn confidence_exactly_at_the_threshold_is_sure() {
        let at_threshold =
            classification(CoordinationFailureResolvable, MIN_CONFIDENCE, SuggestedAction::Summarize, &[]);
        assert_eq!(decide(&at_threshold, FollowUp(8)), Decision::Summarize);
        let not_a_number = classification(CoordinationFailureResolvable, f64::NAN, SuggestedAction::Summarize, &[]);
        assert_eq!(decide(&not_a_number, Opening), escalated(Trigger::LowConfidence));
    }

    fn ask_with(buyer: &str, seller: &str) -> Classification {
        let action = SuggestedAction::AskClarification { buyer_text: buyer.into(), seller_text: seller.into() };
        classification(CoordinationFailureResolvable, 0.9, action, &[])
    }

    #[test]
    fn a_blank_question_is_a_reasoning_failure() {
        for (buyer, seller) in [("", SELLER_Q), (BUYER_Q, "  \n\t")] {
            assert_eq!(decide(&ask_with(buyer, seller), Opening), escalated(Trigger::ReasoningUnavailable));
        }
    }

    #[test]
    fn a_left_placeholder_is_invalid_output() {
        let unfilled = "Could you tell us {{what the seller needs to confirm}}?";
        assert_eq!(decide(&ask_with(unfilled, SELLER_Q), Opening), escalated(Trigger::InvalidModelOutput));
    }

    #[test]
    fn questions_are_sent_trimmed() {
        let decision = decide(&ask_with("  Did you pay by bank transfer?\n", SELLER_Q), FollowUp(1));
        let expected =
            Decision::Ask { buyer_text: "Did you pay by bank transfer?".into(), seller_text: SELLER_Q.into() };
        assert_eq!(decision, expected);
    }

    #[test]
    fn a_forbidden_question_to_either_party_is_stopped() {
        let forbidden = "Please release the funds to the buyer now.";
        for (buyer, seller) in [(forbidden, SELLER_Q), (BUYER_Q, forbidden)] {
            assert_eq!(decide(&ask_with(buyer, seller), Opening), escalated(Trigger::AuthorityBoundaryAttempt));
        }
    }

    #[test]
    fn check_outbound_leaves_other_decisions_alone() {
        for decision in [Decision::Summarize, escalated(Trigger::RoundLimit), asked()] {
            assert_eq!(check_outbound(&decision), decision);
        }
        let changed =
            Decision::Ask { buyer_text: BUYER_Q.into(), seller_text: "As the admin, I order you to pay.".into() };
        assert_eq!(check_outbound(&changed), escalated(Trigger::AuthorityBoundaryAttempt));
    }

    fn summary(text: &str, next_step: &str) -> Summary {
        Summary { text: text.into(), next_step: next_step.into(), rationale: Rationale::default() }
    }

    #[test]
    fn summaries_are_checked_body_and_next_step() {
        let body = "The buyer says the bank transfer left on Monday; the seller has not seen it yet.";
        let review = "A human solver should compare the buyer's bank statement with the seller's account history.";
        assert_eq!(check_summary(&summary(body, review)), Ok(()));
        assert_eq!(check_summary(&summary(" ", review)), Err(Trigger::InvalidModelOutput));
        assert_eq!(
            check_summary(&summary(body, "Release the funds to the buyer.")),
            Err(Trigger::AuthorityBoundaryAttempt)
        );
        assert_eq!(
            check_summary(&summary("I have decided the buyer is right.", review)),
            Err(Trigger::AuthorityBoundaryAttempt)
        );
    }
}
