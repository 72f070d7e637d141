//! Reading the model's answers (spec/mediation.md §4.7). Anything but the asked-for shape is
//! `MalformedResponse`, never a guess. Error messages describe the defect without quoting the
//! model's text, so they are safe to log.
//!
//! JSON tolerance: the classification reply is one JSON object, alone, or the whole reply one
//! Markdown code fence (```` ```json ```` or ```` ``` ````) holding it; models without a JSON
//! mode often fence. Prose around the object is rejected rather than searched: a brace found in
//! prose may belong to party text the model quoted.

use serde_json::{Map, Value};

use super::{
    CatalogChoice, Classification, Classified, Flag, Label, Rationale, ReasoningError, SuggestedAction, Summary,
};

pub const NEXT_STEP_MARKER: &str = "SUGGESTED_NEXT_STEP:";
pub const RATIONALE_MARKER: &str = "RATIONALE:";

/// Catalog ids a model may name per party, and how long one may be.
/// The longest question one party may be asked, in characters: a question, not a letter (and
/// far below what one chat message can carry).
pub const MAX_QUESTION_CHARS: usize = 1_000;
/// The longest summary and suggested next step a solver's DM carries, in characters.
pub const MAX_SUMMARY_CHARS: usize = 6_000;
pub const MAX_NEXT_STEP_CHARS: usize = 600;
/// The longest rationale stored (it never leaves the database).
pub const MAX_RATIONALE_CHARS: usize = 20_000;
const MAX_CATALOG_IDS: usize = 4;
const MAX_CATALOG_ID_LEN: usize = 64;

/// The classification and the optional `catalog_questions` object (`{"buyer": [ids], "seller":
/// [ids]}`); ids are checked for shape here and against the shipped catalog by the caller.
pub fn classified(reply: &str) -> Result<Classified, ReasoningError> {
    let classification = classification(reply)?;
    let object = json_object(reply)?;
    let catalog = match object.get("catalog_questions") {
        None | Some(Value::Null) => CatalogChoice::default(),
        Some(Value::Object(choice)) => {
            CatalogChoice { buyer: catalog_ids(choice, "buyer")?, seller: catalog_ids(choice, "seller")? }
        }
        Some(_) => return Err(malformed("catalog_questions is not an object")),
    };
    Ok(Classified { classification, catalog })
}

fn catalog_ids(choice: &Map<String, Value>, party: &str) -> Result<Vec<String>, ReasoningError> {
    let values = match choice.get(party) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(values)) if values.len() <= MAX_CATALOG_IDS => values,
        Some(_) => return Err(malformed("catalog_questions holds more than a short list of ids")),
    };
    let id_shaped = |id: &&str| {
        !id.is_empty()
            && id.len() <= MAX_CATALOG_ID_LEN
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    };
    values
        .iter()
        .map(|value| value.as_str().filter(id_shaped).map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| malformed("catalog_questions holds something that is not a catalog id"))
}

pub fn classification(reply: &str) -> Result<Classification, ReasoningError> {
    let object = json_object(reply)?;
    let label = Label::parse(required_str(&object, "classification")?)
        .ok_or_else(|| malformed("classification is not a known label"))?;
    let confidence =
        object.get("confidence").and_then(Value::as_f64).ok_or_else(|| malformed("confidence is not a number"))?;
    let action = action(&object)?;
    let rationale = Rationale(optional_str(&object, "rationale")?.to_owned());
    let flags = flags(&object)?;
    Ok(Classification { label, confidence: confidence.clamp(0.0, 1.0), action, rationale, flags })
}

/// Plain text: the summary, then `SUGGESTED_NEXT_STEP:` and `RATIONALE:`, in that order. A
/// missing marker leaves its field empty; an empty summary is an error.
pub fn summary(reply: &str) -> Result<Summary, ReasoningError> {
    let next_at = reply.find(NEXT_STEP_MARKER);
    let rationale_at = reply.find(RATIONALE_MARKER);
    if let (Some(next), Some(rationale)) = (next_at, rationale_at) {
        if rationale < next {
            return Err(malformed("RATIONALE comes before SUGGESTED_NEXT_STEP (out of order)"));
        }
    }
    let body_end = next_at.or(rationale_at).unwrap_or(reply.len());
    let text = reply[..body_end].trim();
    if text.is_empty() {
        return Err(malformed("empty summary"));
    }
    let next_step = next_at.map_or("", |at| &reply[at + NEXT_STEP_MARKER.len()..rationale_at.unwrap_or(reply.len())]);
    let rationale = rationale_at.map_or("", |at| &reply[at + RATIONALE_MARKER.len()..]);
    within("the summary", text, MAX_SUMMARY_CHARS)?;
    within("the suggested next step", next_step.trim(), MAX_NEXT_STEP_CHARS)?;
    within("the rationale", rationale.trim(), MAX_RATIONALE_CHARS)?;
    Ok(Summary {
        text: text.to_owned(),
        next_step: next_step.trim().to_owned(),
        rationale: Rationale(rationale.trim().to_owned()),
    })
}

fn json_object(reply: &str) -> Result<Map<String, Value>, ReasoningError> {
    let trimmed = reply.trim();
    let json = unfenced(trimmed).unwrap_or(trimmed);
    match serde_json::from_str(json) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(malformed("the reply is JSON but not an object")),
        Err(_) => Err(malformed("the reply is not one JSON object")),
    }
}

/// The inside of a reply that is exactly one code fence, with or without a `json` tag.
fn unfenced(reply: &str) -> Option<&str> {
    let inner = reply.strip_prefix("```")?.strip_suffix("```")?;
    let (tag, body) = inner.split_once('\n')?;
    matches!(tag.trim(), "" | "json" | "JSON").then_some(body)
}

fn action(object: &Map<String, Value>) -> Result<SuggestedAction, ReasoningError> {
    match optional_str(object, "suggested_action")? {
        "ask_clarification" => Ok(SuggestedAction::AskClarification {
            buyer_text: clarification(object, "buyer_clarification")?,
            seller_text: clarification(object, "seller_clarification")?,
        }),
        "summarize" => Ok(SuggestedAction::Summarize),
        "escalate" => Ok(SuggestedAction::Escalate(optional_str(object, "suggested_action_detail")?.to_owned())),
        _ => Err(malformed("suggested_action is missing or unknown")),
    }
}

fn clarification(object: &Map<String, Value>, key: &str) -> Result<String, ReasoningError> {
    let text = optional_str(object, key)?.trim();
    if text.is_empty() {
        return Err(ReasoningError::MalformedResponse(format!("ask_clarification without {key}")));
    }
    within(key, text, MAX_QUESTION_CHARS)?;
    Ok(text.to_owned())
}

/// An oversized text is invalid output: it escalates instead of failing further down the line.
fn within(what: &str, text: &str, max_chars: usize) -> Result<(), ReasoningError> {
    if text.chars().count() > max_chars {
        return Err(ReasoningError::MalformedResponse(format!("{what} is longer than {max_chars} characters")));
    }
    Ok(())
}

/// Known flags in the model's order, each once.
fn flags(object: &Map<String, Value>) -> Result<Vec<Flag>, ReasoningError> {
    let values = match object.get("flags") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(values)) => values,
        Some(_) => return Err(malformed("flags is not an array")),
    };
    let mut flags = Vec::new();
    for value in values {
        let flag = value.as_str().and_then(Flag::parse).ok_or_else(|| malformed("flags holds an unknown flag"))?;
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    Ok(flags)
}

fn required_str<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, ReasoningError> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ReasoningError::MalformedResponse(format!("{key} is not a string")))
}

/// A string field where absence or `null` means empty.
fn optional_str<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, ReasoningError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(value) => {
            value.as_str().ok_or_else(|| ReasoningError::MalformedResponse(format!("{key} is not a string")))
        }
    }
}

fn malformed(what: &str) -> ReasoningError {
    ReasoningError::MalformedResponse(what.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ask() -> Value {
        json!({
            "classification": "coordination_failure_resolvable",
            "confidence": 0.88,
            "suggested_action": "ask_clarification",
            "rationale": "both agree on the facts",
            "flags": ["low_info"],
            "buyer_clarification": " Did you send the payment? ",
            "seller_clarification": "Has the payment arrived?",
        })
    }

    fn with(mut value: Value, key: &str, field: Value) -> String {
        value[key] = field;
        value.to_string()
    }

    fn without(mut value: Value, key: &str) -> String {
        value.as_object_mut().unwrap().remove(key);
        value.to_string()
    }

    fn error(reply: &str) -> String {
        match classification(reply) {
            Err(ReasoningError::MalformedResponse(why)) => why,
            other => panic!("expected MalformedResponse for {reply}, got {other:?}"),
        }
    }

    #[test]
    fn catalog_questions_are_optional_and_read_strictly() {
        let with = |choice: serde_json::Value| {
            let mut reply = ask();
            reply["catalog_questions"] = choice;
            classified(&reply.to_string())
        };
        let none = classified(&ask().to_string()).unwrap();
        assert_eq!(none.catalog, CatalogChoice::default());
        let chosen = with(json!({"buyer": ["buyer.payment_sent"], "seller": []})).unwrap();
        assert_eq!(chosen.catalog.buyer, ["buyer.payment_sent"]);
        assert!(chosen.catalog.seller.is_empty());
        for bad in [
            json!("buyer.payment_sent"),
            json!({"buyer": "buyer.payment_sent"}),
            json!({"buyer": ["Release the sats now"]}),
            json!({"seller": ["a", "b", "c", "d", "e"]}),
            json!({"seller": [""]}),
        ] {
            assert!(matches!(with(bad.clone()), Err(ReasoningError::MalformedResponse(_))), "{bad}");
        }
    }

    #[test]
    fn happy_ask_clarification() {
        let parsed = classification(&ask().to_string()).unwrap();
        assert_eq!(
            parsed,
            Classification {
                label: Label::CoordinationFailureResolvable,
                confidence: 0.88,
                action: SuggestedAction::AskClarification {
                    buyer_text: "Did you send the payment?".into(),
                    seller_text: "Has the payment arrived?".into(),
                },
                rationale: Rationale("both agree on the facts".into()),
                flags: vec![Flag::LowInfo],
            }
        );
    }

    #[test]
    fn summarize_and_escalate_with_defaults() {
        let summarize = json!({"classification": "unclear", "confidence": 1, "suggested_action": "summarize"});
        let parsed = classification(&summarize.to_string()).unwrap();
        assert_eq!(
            (parsed.action, parsed.rationale, parsed.flags),
            (SuggestedAction::Summarize, Rationale::default(), vec![])
        );
        let escalate = json!({
            "classification": "suspected_fraud", "confidence": 0.7, "suggested_action": "escalate",
            "suggested_action_detail": "fake receipt", "flags": ["fraud_risk", "fraud_risk", "conflicting_claims"],
            "rationale": null,
        });
        let parsed = classification(&escalate.to_string()).unwrap();
        assert_eq!(parsed.action, SuggestedAction::Escalate("fake receipt".into()));
        assert_eq!(parsed.flags, [Flag::FraudRisk, Flag::ConflictingClaims]);
        let bare = json!({"classification": "unclear", "confidence": 0.1, "suggested_action": "escalate"});
        assert_eq!(classification(&bare.to_string()).unwrap().action, SuggestedAction::Escalate(String::new()));
    }

    #[test]
    fn confidence_is_clamped() {
        for (given, clamped) in [(json!(1.7), 1.0), (json!(-0.2), 0.0), (json!(0), 0.0), (json!(0.5), 0.5)] {
            assert_eq!(classification(&with(ask(), "confidence", given)).unwrap().confidence, clamped);
        }
    }

    #[test]
    fn a_fenced_object_is_accepted_and_prose_is_not() {
        let object = ask().to_string();
        for reply in [format!("```json\n{object}\n```"), format!("  ```\n{object}```\n"), format!("\n{object}\n")] {
            assert!(classification(&reply).is_ok(), "{reply}");
        }
        for reply in [
            format!("Here is my assessment:\n{object}"),
            format!("{object}\nHope this helps."),
            format!("Sure:\n```json\n{object}\n```"),
            format!("```python\n{object}\n```"),
            format!("```json {object}```"),
            format!("{object}{object}"),
        ] {
            assert_eq!(error(&reply), "the reply is not one JSON object", "{reply}");
        }
    }

    #[test]
    fn rejections() {
        let cases = [
            ("not json at all".to_owned(), "the reply is not one JSON object"),
            ("".to_owned(), "the reply is not one JSON object"),
            ("[1, 2]".to_owned(), "the reply is JSON but not an object"),
            (with(ask(), "classification", json!("mostly_fine")), "classification is not a known label"),
            (without(ask(), "classification"), "classification is not a string"),
            (with(ask(), "confidence", json!("0.9")), "confidence is not a number"),
            (without(ask(), "confidence"), "confidence is not a number"),
            (with(ask(), "suggested_action", json!("settle")), "suggested_action is missing or unknown"),
            (without(ask(), "suggested_action"), "suggested_action is missing or unknown"),
            (with(ask(), "suggested_action", json!(3)), "suggested_action is not a string"),
            (with(ask(), "flags", json!(["fraud_risk", "shady"])), "flags holds an unknown flag"),
            (with(ask(), "flags", json!([1])), "flags holds an unknown flag"),
            (with(ask(), "flags", json!("fraud_risk")), "flags is not an array"),
            (with(ask(), "rationale", json!({"why": 1})), "rationale is not a string"),
            (with(ask(), "buyer_clarification", json!("  \n")), "ask_clarification without buyer_clarification"),
            (without(ask(), "seller_clarification"), "ask_clarification without seller_clarification"),
            (
                with(ask(), "buyer_clarification", json!("?".repeat(1_001))),
                "buyer_clarification is longer than 1000 characters",
            ),
            (with(ask(), "seller_clarification", json!(["?"])), "seller_clarification is not a string"),
        ];
        for (reply, why) in cases {
            assert_eq!(error(&reply), why, "{reply}");
        }
    }

    #[test]
    fn summary_splits_on_the_markers() {
        let reply = "Both parties agree the payment was late.\n\nSUGGESTED_NEXT_STEP: confirm receipt\nRATIONALE: the seller acknowledged it\n";
        assert_eq!(
            summary(reply).unwrap(),
            Summary {
                text: "Both parties agree the payment was late.".into(),
                next_step: "confirm receipt".into(),
                rationale: Rationale("the seller acknowledged it".into()),
            }
        );
    }

    #[test]
    fn summary_markers_may_be_missing() {
        let only_text = summary("  Just a summary.  ").unwrap();
        assert_eq!((only_text.text.as_str(), only_text.next_step.as_str()), ("Just a summary.", ""));
        assert_eq!(only_text.rationale, Rationale::default());
        let no_next = summary("Text\nRATIONALE: because").unwrap();
        assert_eq!((no_next.text.as_str(), no_next.next_step.as_str()), ("Text", ""));
        assert_eq!(no_next.rationale, Rationale("because".into()));
        let no_rationale = summary("Text\nSUGGESTED_NEXT_STEP: wait").unwrap();
        assert_eq!((no_rationale.next_step.as_str(), no_rationale.rationale), ("wait", Rationale::default()));
    }

    #[test]
    fn summary_rejections() {
        for (reply, why) in [
            ("Text\nRATIONALE: r\nSUGGESTED_NEXT_STEP: s", "RATIONALE comes before SUGGESTED_NEXT_STEP (out of order)"),
            ("", "empty summary"),
            ("  \nSUGGESTED_NEXT_STEP: s\nRATIONALE: r", "empty summary"),
            (&format!("{}\nSUGGESTED_NEXT_STEP: s", "x".repeat(6_001)), "the summary is longer than 6000 characters"),
            (
                &format!("t\nSUGGESTED_NEXT_STEP: {}", "y".repeat(601)),
                "the suggested next step is longer than 600 characters",
            ),
            (&format!("t\nRATIONALE: {}", "z".repeat(20_001)), "the rationale is longer than 20000 characters"),
        ] {
            assert_eq!(summary(reply), Err(ReasoningError::MalformedResponse(why.into())), "{reply:?}");
        }
    }
}
