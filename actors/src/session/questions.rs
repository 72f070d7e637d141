//! What the parties are asked. By default (`party_questions = "catalog"`) every text is a reviewed
//! template shipped with Serbero, in the language the party wrote in, filled only with trade
//! facts the code checked itself; the model's verdict only chooses which. With
//! `party_questions = "model"` the model's own questions are sent behind layered checks (shape,
//! normalisation, meaning, and a separate guard call) that fail closed. Either way each final
//! text passes the authority boundary once more before it is queued.

use ractor::ActorProcessingErr;
use serbero_core::attachment::Attachment;
use serbero_core::catalog::{self, Catalog};
use serbero_core::chat::Party;
use serbero_core::config::PartyQuestions;
use serbero_core::mediation::party_text;
use serbero_core::policy;
use serbero_core::reasoning::guard::GuardVerdict;
use serbero_core::reasoning::Speaker;
use tracing::warn;

use super::state::{Asked, State};
use super::{record, store};

/// The texts for buyer and seller, or why none may go out.
pub(super) type Composed = Result<[(Party, String); 2], String>;

/// The two texts of a round: the opening (`followup` none) or follow-up number `followup`.
pub(super) async fn compose(
    st: &mut State,
    asked: Asked,
    followup: Option<u32>,
) -> Result<Composed, ActorProcessingErr> {
    let texts = match st.mediator.settings.party_questions {
        PartyQuestions::Catalog => Ok(from_catalog(st, &asked, followup).await?),
        PartyQuestions::Model => from_model(st, &asked, followup).await,
    };
    Ok(texts.and_then(|texts| match texts.iter().find_map(|(_, text)| policy::boundary_violation(text)) {
        Some(violation) => Err(format!("{:?}: {}", violation.kind, violation.evidence)),
        None => Ok(texts),
    }))
}

async fn from_catalog(
    st: &mut State,
    asked: &Asked,
    followup: Option<u32>,
) -> Result<[(Party, String); 2], ActorProcessingErr> {
    let id = st.dispute_id.clone();
    let (facts, transcript) =
        st.db.read(move |conn| Ok((store::trade_facts(conn, &id)?, record::transcript(conn, &id)?))).await?;
    let facts = catalog::validated(facts);
    let shipped = Catalog::shipped();
    let text = |party: Party, requested: &[String]| {
        let speaker = match party {
            Party::Buyer => Speaker::Buyer,
            Party::Seller => Speaker::Seller,
        };
        // The party's own words, attachments aside: their language is the one to answer in.
        let words = transcript
            .iter()
            .filter(|line| line.speaker == speaker && Attachment::recognize(&line.content).is_none())
            .map(|line| line.content.as_str());
        let lang = catalog::detect_language(words);
        let ids = shipped.pick_questions(party, asked.label, followup.unwrap_or(0), requested);
        shipped.compose(lang, party, &ids, &facts, followup.is_none())
    };
    Ok([
        (Party::Buyer, text(Party::Buyer, &asked.catalog.buyer)),
        (Party::Seller, text(Party::Seller, &asked.catalog.seller)),
    ])
}

/// The model's questions, each through the deterministic layers, then (unless turned off) the
/// guard's independent verdict; any hit, a failed call or an unclear verdict suppresses both.
async fn from_model(st: &mut State, asked: &Asked, followup: Option<u32>) -> Composed {
    for (party, text) in [(Party::Buyer, &asked.buyer_text), (Party::Seller, &asked.seller_text)] {
        if let Err(violation) = policy::check_model_question(text) {
            return Err(format!("{} question: {violation:?}", party.as_str()));
        }
        if !st.mediator.settings.question_guard {
            continue;
        }
        match st.mediator.reasoner.guard(text).await {
            Ok(GuardVerdict::Allow) => {}
            Ok(GuardVerdict::Block) => return Err(format!("{} question: the guard blocked it", party.as_str())),
            Err(e) => {
                warn!(dispute = %st.dispute_id, category = e.category(), "the guard gave no usable verdict");
                return Err(format!("{} question: no usable guard verdict ({})", party.as_str(), e.category()));
            }
        }
    }
    Ok([
        (Party::Buyer, party_text(Party::Buyer, followup, &asked.buyer_text)),
        (Party::Seller, party_text(Party::Seller, followup, &asked.seller_text)),
    ])
}
