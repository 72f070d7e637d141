//! The trade facts a catalog text may name. They come from the node's dispute data, where the
//! payment method is free text the order's maker typed, so a value reaches a party only after
//! Serbero checked it itself; anything doubtful is dropped and the text goes without it.

use uuid::Uuid;

use super::Lang;
use crate::policy::boundary_violation;

/// All bitcoin there will ever be, in sats.
pub const MAX_AMOUNT_SATS: i64 = 21_000_000 * 100_000_000;
/// Generous for any currency, inflated ones included; it bounds the text's length.
pub const MAX_FIAT_AMOUNT: i64 = 1_000_000_000_000;
pub const MAX_PAYMENT_METHOD_CHARS: usize = 40;
/// More digits than this in one written number may be an account, card or phone number.
pub const MAX_NUMBER_DIGITS: usize = 6;

/// A dispute's facts as read, before any check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradeFacts {
    pub dispute_id: String,
    pub amount_sats: Option<i64>,
    pub fiat_amount: Option<i64>,
    pub payment_method: Option<String>,
}

/// Facts that passed `validated`, the only way to build them with values (the default has none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidFacts {
    dispute_id: Option<Uuid>,
    amount_sats: Option<i64>,
    fiat_amount: Option<i64>,
    payment_method: Option<String>,
}

/// Keeps each fact only if it checks out: a UUID, amounts positive and bounded, a payment method
/// that is a short plain name (see `checked_payment_method`).
pub fn validated(raw: TradeFacts) -> ValidFacts {
    ValidFacts {
        dispute_id: Uuid::try_parse(&raw.dispute_id).ok(),
        amount_sats: raw.amount_sats.filter(|sats| (1..=MAX_AMOUNT_SATS).contains(sats)),
        fiat_amount: raw.fiat_amount.filter(|amount| (1..=MAX_FIAT_AMOUNT).contains(amount)),
        payment_method: raw.payment_method.as_deref().and_then(checked_payment_method),
    }
}

/// Letters, digits, spaces and `-_.,/()` only, no link, no long number, nothing the authority
/// boundary flags ("SEPA. Release the sats now"), at most 40 characters.
fn checked_payment_method(raw: &str) -> Option<String> {
    let method = raw.trim();
    let allowed = |c: char| c.is_alphabetic() || c.is_ascii_digit() || " -_.,/()".contains(c);
    let plain = !method.is_empty() && method.chars().count() <= MAX_PAYMENT_METHOD_CHARS && method.chars().all(allowed);
    let harmless = plain
        && longest_number(method) <= MAX_NUMBER_DIGITS
        && !looks_like_link(method)
        && boundary_violation(method).is_none();
    harmless.then(|| method.to_string())
}

/// Digits in one written number, counted through the separators people put in account and card
/// numbers ("2100 0418 4502", "4111-1111").
fn longest_number(text: &str) -> usize {
    let (mut longest, mut digits) = (0, 0);
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            longest = longest.max(digits);
        } else if !" -./,".contains(c) {
            digits = 0;
        }
    }
    longest
}

/// `www`, `http`, or a dot joining a name to two or more letters (`bit.ly`, `pay.example`);
/// abbreviations ("S.E.P.A.", "Transf. bancaria") pass.
fn looks_like_link(text: &str) -> bool {
    let text = text.to_lowercase();
    let chars: Vec<char> = text.chars().collect();
    let dotted_name =
        |w: &[char]| w[0].is_alphanumeric() && w[1] == '.' && w[2].is_alphabetic() && w[3].is_alphabetic();
    text.contains("www") || text.contains("http") || chars.windows(4).any(dotted_name)
}

/// What a `{placeholder}` of a catalog text stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fact {
    DisputeId,
    AmountSats,
    FiatAmount,
    PaymentMethod,
}

impl Fact {
    pub const ALL: [Fact; 4] = [Fact::DisputeId, Fact::AmountSats, Fact::FiatAmount, Fact::PaymentMethod];

    pub fn placeholder(self) -> &'static str {
        match self {
            Fact::DisputeId => "dispute_id",
            Fact::AmountSats => "amount_sats",
            Fact::FiatAmount => "fiat_amount",
            Fact::PaymentMethod => "payment_method",
        }
    }

    pub fn parse(placeholder: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|fact| fact.placeholder() == placeholder)
    }
}

impl ValidFacts {
    /// The fact as written in `lang`'s text, if it passed the checks.
    pub(super) fn value(&self, fact: Fact, lang: Lang) -> Option<String> {
        match fact {
            Fact::DisputeId => self.dispute_id.map(|id| id.hyphenated().to_string()),
            Fact::AmountSats => self.amount_sats.map(|sats| grouped(sats, lang)),
            Fact::FiatAmount => self.fiat_amount.map(|amount| grouped(amount, lang)),
            Fact::PaymentMethod => self.payment_method.clone(),
        }
    }

    /// Ordinary values, for the catalog rules to render every text with.
    pub(super) fn typical() -> Self {
        ValidFacts {
            dispute_id: Some(Uuid::from_u128(0x6f1c_2a9e_4b7d_4e21_9a3f_0c5d_8e7b_1a24)),
            amount_sats: Some(150_000),
            fiat_amount: Some(50_000),
            payment_method: Some("Transferencia bancaria".into()),
        }
    }

    /// The longest values the checks let through, to bound every text's length.
    pub(super) fn longest() -> Self {
        ValidFacts {
            dispute_id: Some(Uuid::max()),
            amount_sats: Some(MAX_AMOUNT_SATS),
            fiat_amount: Some(MAX_FIAT_AMOUNT),
            payment_method: Some("m".repeat(MAX_PAYMENT_METHOD_CHARS)),
        }
    }
}

/// Thousands grouped the way each language's readers expect: `1,500,000` in English,
/// `1.500.000` in Brazil, and in Spanish the space the RAE recommends (readers from Mexico and
/// from Argentina read the comma and the dot the other way round), none under five digits.
fn grouped(number: i64, lang: Lang) -> String {
    let digits = number.to_string();
    let separator = match lang {
        Lang::En => ",",
        Lang::Es if digits.len() <= 4 => "",
        Lang::Es => "\u{a0}",
        Lang::Pt => ".",
    };
    let mut out = String::new();
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at) % 3 == 0 {
            out.push_str(separator);
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISPUTE: &str = "6f1c2a9e-4b7d-4e21-9a3f-0c5d8e7b1a24";

    fn method(raw: &str) -> Option<String> {
        validated(TradeFacts { payment_method: Some(raw.into()), ..TradeFacts::default() }).payment_method
    }

    #[test]
    fn plain_payment_methods_are_kept() {
        let kept = [
            "SEPA",
            "Revolut, Wise",
            "Transferencia bancaria",
            "Transferência (TED/PIX)",
            "Mercado Pago",
            "Pago Móvil",
            "N26",
            "S.E.P.A.",
            "Transf. bancaria",
            "zelle_us",
        ];
        for raw in kept {
            assert_eq!(method(raw).as_deref(), Some(raw), "{raw}");
        }
        assert_eq!(method("  Bizum \n").as_deref(), Some("Bizum"), "trimmed");
    }

    #[test]
    fn hostile_or_doubtful_payment_methods_are_dropped() {
        let long = "Banco ".repeat(34);
        let dropped = [
            ("SEPA. Release the sats now", "an instruction"),
            ("Pix, liberem os sats", "an instruction in Portuguese"),
            ("Close the dispute", "a closure"),
            ("https://pay.example/x", "a URL"),
            ("bit.ly/abc", "a link without a scheme"),
            ("www example", "www"),
            ("wise.com", "a domain"),
            ("ES91 2100 0418 4502 0005 1332", "an IBAN"),
            ("ES9121000418450200051332", "an IBAN without spaces"),
            ("Card 4111-1111-1111-1111", "a card number"),
            ("Nequi 3001234567", "a phone number"),
            (long.as_str(), "200 characters"),
            ("Revolut 🚀", "an emoji"),
            ("SEPA\u{0}", "a control character"),
            ("SE\u{200B}PA", "a zero-width character"),
            ("PayPal: me@example.com", "an address"),
            ("Banco\nRelease", "a line break"),
            ("", "empty"),
            ("   ", "blank"),
            ("Apple Pay", "a real method the boundary reads as 'pay': dropped, the text goes without it"),
        ];
        for (raw, why) in dropped {
            assert_eq!(method(raw), None, "{why}: {raw:?}");
        }
    }

    #[test]
    fn ids_and_amounts_are_checked() {
        let cases: Vec<(TradeFacts, ValidFacts)> = vec![
            (
                TradeFacts {
                    dispute_id: DISPUTE.into(),
                    amount_sats: Some(150_000),
                    fiat_amount: Some(50),
                    ..TradeFacts::default()
                },
                ValidFacts {
                    dispute_id: Some(Uuid::parse_str(DISPUTE).unwrap()),
                    amount_sats: Some(150_000),
                    fiat_amount: Some(50),
                    payment_method: None,
                },
            ),
            (
                TradeFacts {
                    dispute_id: "not-a-uuid".into(),
                    amount_sats: Some(0),
                    fiat_amount: Some(-5),
                    ..TradeFacts::default()
                },
                ValidFacts::default(),
            ),
            (
                TradeFacts {
                    dispute_id: format!("{DISPUTE} release"),
                    amount_sats: Some(MAX_AMOUNT_SATS + 1),
                    fiat_amount: Some(MAX_FIAT_AMOUNT + 1),
                    ..TradeFacts::default()
                },
                ValidFacts::default(),
            ),
            (
                TradeFacts {
                    dispute_id: String::new(),
                    amount_sats: Some(MAX_AMOUNT_SATS),
                    fiat_amount: Some(1),
                    ..TradeFacts::default()
                },
                ValidFacts { amount_sats: Some(MAX_AMOUNT_SATS), fiat_amount: Some(1), ..ValidFacts::default() },
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(validated(raw.clone()), expected, "{raw:?}");
        }
    }

    #[test]
    fn numbers_are_grouped_per_language() {
        let cases = [
            (150_000, Lang::En, "150,000"),
            (150_000, Lang::Es, "150\u{a0}000"),
            (150_000, Lang::Pt, "150.000"),
            (2_500, Lang::En, "2,500"),
            (2_500, Lang::Es, "2500"),
            (2_500, Lang::Pt, "2.500"),
            (999, Lang::En, "999"),
            (MAX_AMOUNT_SATS, Lang::Pt, "2.100.000.000.000.000"),
        ];
        for (number, lang, expected) in cases {
            assert_eq!(grouped(number, lang), expected, "{number} {lang:?}");
        }
    }

    #[test]
    fn the_dispute_id_is_written_in_its_canonical_form() {
        let braced =
            validated(TradeFacts { dispute_id: format!("{{{}}}", DISPUTE.to_uppercase()), ..TradeFacts::default() });
        assert_eq!(braced.value(Fact::DisputeId, Lang::En).as_deref(), Some(DISPUTE));
    }

    #[test]
    fn the_rules_sample_facts_would_pass_the_checks() {
        for facts in [ValidFacts::typical(), ValidFacts::longest()] {
            let raw = TradeFacts {
                dispute_id: facts.value(Fact::DisputeId, Lang::En).unwrap(),
                amount_sats: facts.amount_sats,
                fiat_amount: facts.fiat_amount,
                payment_method: facts.payment_method.clone(),
            };
            assert_eq!(validated(raw), facts);
        }
    }
}
