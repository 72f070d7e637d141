//! One catalog text: its variants, most specific first, each literal text and `{fact}`
//! placeholders. The first variant whose facts are all known is sent, so a dropped fact only
//! makes the text plainer; the last variant names no fact and can always be sent.

use super::facts::{Fact, ValidFacts};
use super::Lang;
use crate::policy::boundary_violation;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Template {
    variants: Vec<Variant>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Variant(Vec<Piece>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Fact(Fact),
}

impl Template {
    pub fn parse(variants: &[String]) -> Result<Self, String> {
        let variants = variants.iter().map(|text| Variant::parse(text)).collect::<Result<Vec<_>, _>>()?;
        match variants.last() {
            None => Err("no text".into()),
            Some(last) if last.facts().next().is_some() => Err("its last variant needs a fact".into()),
            Some(_) => Ok(Template { variants }),
        }
    }

    /// The first variant whose facts are known and which, filled in, stays within the authority
    /// boundary (the facts were checked alone; this checks them in their sentence).
    pub fn render(&self, facts: &ValidFacts, lang: Lang) -> String {
        self.variants
            .iter()
            .filter_map(|variant| variant.fill(facts, lang))
            .find(|text| boundary_violation(text).is_none())
            .expect("the last variant names no fact and passed the boundary when the catalog loaded")
    }

    /// Every variant that `facts` can fill, filled: what the catalog rules check.
    pub fn fillings<'a>(&'a self, facts: &'a ValidFacts, lang: Lang) -> impl Iterator<Item = String> + 'a {
        self.variants.iter().filter_map(move |variant| variant.fill(facts, lang))
    }

    /// The reviewed words of every variant, placeholders left out.
    pub fn literal_texts(&self) -> impl Iterator<Item = &str> {
        self.variants.iter().flat_map(|variant| variant.0.iter()).filter_map(|piece| match piece {
            Piece::Text(text) => Some(text.as_str()),
            Piece::Fact(_) => None,
        })
    }
}

impl Variant {
    fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            let close = match rest[open..].find('}') {
                Some(close) if rest[open..].starts_with('{') => open + close,
                _ => return Err(format!("a stray brace in {text:?}")),
            };
            let name = &rest[open + 1..close];
            let fact = Fact::parse(name).ok_or_else(|| format!("unknown placeholder {{{name}}} in {text:?}"))?;
            pieces.push(Piece::Text(rest[..open].to_string()));
            pieces.push(Piece::Fact(fact));
            rest = &rest[close + 1..];
        }
        pieces.push(Piece::Text(rest.to_string()));
        pieces.retain(|piece| piece != &Piece::Text(String::new()));
        Ok(Variant(pieces))
    }

    fn facts(&self) -> impl Iterator<Item = Fact> + '_ {
        self.0.iter().filter_map(|piece| match piece {
            Piece::Fact(fact) => Some(*fact),
            Piece::Text(_) => None,
        })
    }

    fn fill(&self, facts: &ValidFacts, lang: Lang) -> Option<String> {
        self.0
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => Some(text.clone()),
                Piece::Fact(fact) => facts.value(*fact, lang),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::facts::{validated, TradeFacts};

    fn template(variants: &[&str]) -> Result<Template, String> {
        Template::parse(&variants.iter().map(|v| v.to_string()).collect::<Vec<_>>())
    }

    fn facts(method: &str) -> ValidFacts {
        validated(TradeFacts {
            dispute_id: "6f1c2a9e-4b7d-4e21-9a3f-0c5d8e7b1a24".into(),
            fiat_amount: Some(1_500),
            payment_method: Some(method.into()),
            ..TradeFacts::default()
        })
    }

    #[test]
    fn the_first_variant_with_every_fact_known_is_sent() {
        let text =
            template(&["Paid {fiat_amount} by {payment_method}?", "Paid by {payment_method}?", "Paid?"]).unwrap();
        assert_eq!(text.render(&facts("SEPA"), Lang::En), "Paid 1,500 by SEPA?");
        assert_eq!(text.render(&facts("SEPA"), Lang::Pt), "Paid 1.500 by SEPA?");
        assert_eq!(text.render(&facts("https://x.example"), Lang::En), "Paid?");
        assert_eq!(text.render(&ValidFacts::default(), Lang::En), "Paid?");
        let without_amount = validated(TradeFacts { payment_method: Some("Pix".into()), ..TradeFacts::default() });
        assert_eq!(text.render(&without_amount, Lang::En), "Paid by Pix?");
    }

    #[test]
    fn a_fact_that_crosses_the_boundary_in_its_sentence_is_left_out() {
        // "sats" is a harmless payment method alone, and an instruction after this verb.
        let text = template(&["When can you send {payment_method}?", "When can you reply?"]).unwrap();
        assert_eq!(text.render(&facts("SEPA"), Lang::En), "When can you send SEPA?");
        assert_eq!(text.render(&facts("sats"), Lang::En), "When can you reply?");
    }

    #[test]
    fn malformed_texts_are_rejected() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "no text"),
            (&["Paid {fiat_amount}?"], "its last variant needs a fact"),
            (&["Paid {amount}?", "Paid?"], "unknown placeholder {amount}"),
            (&["Paid {{fiat_amount}}?", "Paid?"], "unknown placeholder {{fiat_amount}"),
            (&["Paid {fiat_amount?", "Paid?"], "a stray brace"),
            (&["Paid fiat_amount}?"], "a stray brace"),
            (&["Paid { }?"], "unknown placeholder { }"),
        ];
        for (variants, error) in cases {
            let rejected = template(variants).unwrap_err();
            assert!(rejected.contains(error), "{variants:?}: {rejected}");
        }
    }

    #[test]
    fn literal_texts_leave_placeholders_out() {
        let text = template(&["Dispute {dispute_id}: paid?", "Paid?"]).unwrap();
        assert_eq!(text.literal_texts().collect::<Vec<_>>(), ["Dispute ", ": paid?", "Paid?"]);
    }
}
