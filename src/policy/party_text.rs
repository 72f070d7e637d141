//! Questions the model writes for a party, in the opt-in mode where the model's words reach the
//! parties (by default they get reviewed catalog texts). Fail closed, in layers: the text must
//! be one or two short questions (`shape`), carry no payment data (`payment`), and ask for no
//! fund or closing action nor claim authority (`meaning`), all read after one normalisation
//! (`normalise`). Any hit suppresses the text.

use super::meaning::{meaning_violation, Finding};
use super::normalise::visible;
use super::payment::payment_data;
use super::shape::{sentences, shape_violation};

/// Which layer stopped a party question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartyTextLayer {
    /// Not one or two short questions.
    Shape,
    /// A link, invoice, address, key or bitcoin amount.
    PaymentData,
    /// Asks for a fund or closing action (release, pay, refund, cancel, withdraw, close).
    FundOrClosing,
    /// Claims or names the authority of a solver, admin or judge, or rules.
    Authority,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("party question stopped ({layer:?}): {evidence}")]
pub struct PartyTextViolation {
    pub layer: PartyTextLayer,
    /// What hit, in normalised words, for the audit trail.
    pub evidence: String,
}

/// Whether `text`, written by the model, may be sent to a party as a question.
pub fn check_model_question(text: &str) -> Result<(), PartyTextViolation> {
    let stopped = |layer, evidence| Err(PartyTextViolation { layer, evidence });
    let visible = visible(text);
    if let Some(evidence) = shape_violation(&visible, text.chars().count()) {
        return stopped(PartyTextLayer::Shape, evidence);
    }
    if let Some(evidence) = payment_data(&visible) {
        return stopped(PartyTextLayer::PaymentData, evidence);
    }
    match sentences(&visible).into_iter().find_map(meaning_violation) {
        Some(Finding::FundOrClosing(evidence)) => stopped(PartyTextLayer::FundOrClosing, evidence),
        Some(Finding::Authority(evidence)) => stopped(PartyTextLayer::Authority, evidence),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PartyTextLayer::*;

    fn layer(text: &str) -> Option<PartyTextLayer> {
        check_model_question(text).err().map(|v| v.layer)
    }

    #[test]
    fn each_layer_names_itself() {
        assert_eq!(layer("Release the sats."), Some(Shape));
        assert_eq!(layer("Did you pay to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?"), Some(PaymentData));
        assert_eq!(layer("Could you release the sats?"), Some(FundOrClosing));
        assert_eq!(layer("As the judge, may I ask when you paid?"), Some(Authority));
        assert_eq!(layer("When did you send the payment, and from which bank?"), None);
    }

    #[test]
    fn the_evidence_shows_what_hit() {
        let violation = check_model_question("Could you please rеlеаsе the sats today?").unwrap_err();
        assert_eq!(violation.evidence, "you please release the sats (FundAction, en)");
    }
}
