//! What a party reads from Serbero: reviewed texts shipped in `messages/<lang>.toml` (English,
//! Spanish, Portuguese, the same ids in each), filled only with facts Serbero checked itself.
//! The model's verdict may choose which catalog questions to ask, never their words; the party's
//! language is read from what they wrote. The catalogs are parsed and checked once (`rules`):
//! no fund, closing or authority wording, bounded lengths, every placeholder fillable.

mod facts;
mod language;
mod rules;
mod template;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

pub use facts::{
    validated, TradeFacts, ValidFacts, MAX_AMOUNT_SATS, MAX_FIAT_AMOUNT, MAX_NUMBER_DIGITS, MAX_PAYMENT_METHOD_CHARS,
};
pub use language::detect_language;

use crate::chat::Party;
use crate::reasoning::Label;
use template::Template;

/// The longest one catalog text may be once filled in.
pub const MAX_TEXT_CHARS: usize = 280;
/// The longest one message to a party may be: an introduction and its questions.
pub const MAX_MESSAGE_CHARS: usize = 700;
/// Questions in one message: more overwhelms a party in a stressful moment.
pub const MAX_QUESTIONS: usize = 2;
/// The id suffix of a question's plainer wording, for a second try.
pub const SIMPLE: &str = ".simple";

const SHIPPED: [&str; 3] =
    [include_str!("../messages/en.toml"), include_str!("../messages/es.toml"), include_str!("../messages/pt.toml")];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Es,
    Pt,
}

impl Lang {
    /// In the order of `SHIPPED`.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Es, Lang::Pt];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Pt => "pt",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|lang| lang.as_str() == value)
    }
}

/// The texts that are not questions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notice {
    /// Who Serbero is: an assistant to the human solver, deciding nothing, moving nothing.
    Introduction,
    WaitingForOtherParty,
    Reminder,
    ThankYou,
    HandedToHuman,
    Resolved,
}

impl Notice {
    pub const ALL: [Notice; 6] = [
        Notice::Introduction,
        Notice::WaitingForOtherParty,
        Notice::Reminder,
        Notice::ThankYou,
        Notice::HandedToHuman,
        Notice::Resolved,
    ];

    /// The key in the catalog files' `[notice]` table.
    pub fn id(self) -> &'static str {
        match self {
            Notice::Introduction => "intro",
            Notice::WaitingForOtherParty => "waiting_other_party",
            Notice::Reminder => "reminder",
            Notice::ThankYou => "thank_you",
            Notice::HandedToHuman => "handed_to_human",
            Notice::Resolved => "resolved",
        }
    }
}

/// Every language's texts, checked.
#[derive(Debug)]
pub struct Catalog {
    /// In `Lang::ALL` order.
    languages: Vec<Messages>,
}

#[derive(Debug)]
struct Messages {
    /// In `Notice::ALL` order.
    notices: Vec<Template>,
    /// By id (`buyer.payment_sent`, `seller.payment_received.simple`, …).
    questions: BTreeMap<String, Template>,
}

/// A catalog file as written: a text is one string or a list of variants.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    notice: BTreeMap<String, Texts>,
    question: BTreeMap<String, Texts>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Texts {
    One(String),
    Variants(Vec<String>),
}

impl Catalog {
    /// The catalogs shipped in `messages/`. They are checked by the tests, so the panic here
    /// only fires for a build whose files were edited without running them.
    pub fn shipped() -> &'static Catalog {
        static SHIPPED_CATALOG: OnceLock<Catalog> = OnceLock::new();
        SHIPPED_CATALOG.get_or_init(|| Catalog::load(SHIPPED).unwrap_or_else(|error| panic!("{error}")))
    }

    /// Sources in `Lang::ALL` order.
    fn load(sources: [&str; 3]) -> Result<Catalog, String> {
        let languages = Lang::ALL
            .into_iter()
            .zip(sources)
            .map(|(lang, source)| {
                Messages::parse(source).map_err(|error| format!("messages/{}.toml: {error}", lang.as_str()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let catalog = Catalog { languages };
        rules::check(&catalog)?;
        Ok(catalog)
    }

    /// The question `id` in `lang`, or None if the catalog has no such question.
    pub fn question(&self, lang: Lang, id: &str, facts: &ValidFacts) -> Option<String> {
        self.messages(lang).questions.get(id).map(|template| template.render(facts, lang))
    }

    pub fn notice(&self, lang: Lang, notice: Notice, facts: &ValidFacts) -> String {
        self.messages(lang).notices[notice as usize].render(facts, lang)
    }

    /// The ids of a party's questions, plain and simple variants, sorted.
    pub fn ids(&self, party: Party) -> Vec<&str> {
        let prefix = format!("{}.", party.as_str());
        self.messages(Lang::En).questions.keys().map(String::as_str).filter(|id| id.starts_with(&prefix)).collect()
    }

    /// Which questions to ask a party: those the model requested that exist for this party (at
    /// most `MAX_QUESTIONS`; others ignored), else the defaults for the label, in their simpler
    /// wording from round 1 on (the first exchange went unanswered or unclear). Never empty.
    pub fn pick_questions(&self, party: Party, label: Option<Label>, round: u32, requested: &[String]) -> Vec<String> {
        let known = self.known_questions(party, requested);
        if !known.is_empty() {
            return known;
        }
        let suffix = if round >= 1 { SIMPLE } else { "" };
        default_questions(party, label).iter().map(|id| format!("{id}{suffix}")).collect()
    }

    /// One message for a party: the introduction on first contact, then each question on its
    /// own line. Unknown or foreign ids are ignored, falling back to the defaults; the catalog
    /// rules bound the result to `MAX_MESSAGE_CHARS`.
    pub fn compose(
        &self,
        lang: Lang,
        party: Party,
        question_ids: &[String],
        facts: &ValidFacts,
        first_contact: bool,
    ) -> String {
        let introduction = first_contact.then(|| self.notice(lang, Notice::Introduction, facts));
        let questions = self.pick_questions(party, None, 0, question_ids);
        let questions = questions.iter().filter_map(|id| self.question(lang, id, facts));
        introduction.into_iter().chain(questions).collect::<Vec<_>>().join("\n")
    }

    fn known_questions(&self, party: Party, requested: &[String]) -> Vec<String> {
        let ids = self.ids(party);
        let mut known: Vec<String> = Vec::new();
        for id in requested {
            if ids.contains(&id.as_str()) && !known.contains(id) && known.len() < MAX_QUESTIONS {
                known.push(id.clone());
            }
        }
        known
    }

    fn messages(&self, lang: Lang) -> &Messages {
        &self.languages[lang as usize]
    }
}

impl Messages {
    fn parse(source: &str) -> Result<Messages, String> {
        let file: CatalogFile = toml::from_str(source).map_err(|error| error.to_string())?;
        let mut notices = file.notice;
        let ordered = Notice::ALL
            .into_iter()
            .map(|notice| {
                let texts = notices.remove(notice.id()).ok_or_else(|| format!("notice {} is missing", notice.id()))?;
                parse_texts(notice.id(), texts)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(unknown) = notices.keys().next() {
            return Err(format!("unknown notice {unknown}"));
        }
        let questions = file
            .question
            .into_iter()
            .map(|(id, texts)| parse_texts(&id, texts).map(|template| (id, template)))
            .collect::<Result<_, _>>()?;
        Ok(Messages { notices: ordered, questions })
    }

    /// Every text with its id, notices first.
    fn templates(&self) -> impl Iterator<Item = (&str, &Template)> {
        let notices = Notice::ALL.into_iter().zip(&self.notices).map(|(notice, template)| (notice.id(), template));
        notices.chain(self.questions.iter().map(|(id, template)| (id.as_str(), template)))
    }
}

fn parse_texts(id: &str, texts: Texts) -> Result<Template, String> {
    let variants = match texts {
        Texts::One(text) => vec![text],
        Texts::Variants(variants) => variants,
    };
    Template::parse(&variants).map_err(|error| format!("{id}: {error}"))
}

/// What to ask when the model named nothing usable: first when and how the fiat payment went,
/// with proof; when the parties' claims conflict, the details each can check against the other
/// (references, accounts, statements); when fraud is suspected, whose accounts the money left
/// and reached.
fn default_questions(party: Party, label: Option<Label>) -> [&'static str; MAX_QUESTIONS] {
    match (party, label) {
        (Party::Buyer, Some(Label::ConflictingClaims)) => ["buyer.payment_reference", "buyer.paid_account"],
        (Party::Seller, Some(Label::ConflictingClaims)) => ["seller.sender_details", "seller.account_proof"],
        (Party::Buyer, Some(Label::SuspectedFraud)) => ["buyer.paid_account", "buyer.payment_proof"],
        (Party::Seller, Some(Label::SuspectedFraud)) => ["seller.account_checked", "seller.sender_details"],
        (Party::Buyer, _) => ["buyer.payment_sent", "buyer.payment_proof"],
        (Party::Seller, _) => ["seller.payment_received", "seller.account_checked"],
    }
}

#[cfg(test)]
mod tests {
    //! Rule tests over every shipped catalog and language, and the choice and composition of
    //! questions.

    use super::*;
    use crate::policy::boundary_violation;

    const DISPUTE: &str = "6f1c2a9e-4b7d-4e21-9a3f-0c5d8e7b1a24";

    fn full_facts() -> ValidFacts {
        validated(TradeFacts {
            dispute_id: DISPUTE.into(),
            amount_sats: Some(150_000),
            fiat_amount: Some(50_000),
            payment_method: Some("Transferencia bancaria".into()),
        })
    }

    /// No facts, ordinary ones, and the longest the checks let through.
    fn fact_sets() -> [ValidFacts; 3] {
        [ValidFacts::default(), ValidFacts::typical(), ValidFacts::longest()]
    }

    /// Every text of every language, rendered with each set of facts.
    fn every_rendering() -> Vec<(Lang, String, String)> {
        let catalog = Catalog::shipped();
        let mut out = Vec::new();
        for lang in Lang::ALL {
            for facts in fact_sets() {
                for notice in Notice::ALL {
                    out.push((lang, notice.id().to_string(), catalog.notice(lang, notice, &facts)));
                }
                for id in Party::BOTH.into_iter().flat_map(|party| catalog.ids(party)) {
                    out.push((lang, id.to_string(), catalog.question(lang, id, &facts).unwrap()));
                }
            }
        }
        out
    }

    /// Every first message `compose` can build with `facts`: the introduction and each pair of
    /// questions, plain with plain and simple with simple (boundary checks are slow in debug builds,
    /// and a line break ends a clause, so a mixed pair holds nothing its lines' own checks miss).
    fn every_composition(facts: &ValidFacts) -> Vec<String> {
        let catalog = Catalog::shipped();
        let mut out = Vec::new();
        for (lang, party) in Lang::ALL.into_iter().flat_map(|lang| Party::BOTH.map(|party| (lang, party))) {
            let (simple, plain): (Vec<&str>, Vec<&str>) =
                catalog.ids(party).into_iter().partition(|id| id.ends_with(SIMPLE));
            for ids in [plain, simple] {
                for (at, first) in ids.iter().enumerate() {
                    for second in &ids[at + 1..] {
                        let pair = [first.to_string(), second.to_string()];
                        out.push(catalog.compose(lang, party, &pair, facts, true));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_shipped_catalogs_load() {
        assert!(Catalog::load(SHIPPED).is_ok(), "{:?}", Catalog::load(SHIPPED).err());
    }

    #[test]
    fn every_language_has_every_question() {
        let catalog = Catalog::shipped();
        for party in Party::BOTH {
            assert!(catalog.ids(party).len() >= 2 * rules::MIN_QUESTIONS_PER_PARTY, "{party}");
            for (lang, id) in
                Lang::ALL.into_iter().flat_map(|lang| catalog.ids(party).into_iter().map(move |id| (lang, id)))
            {
                assert!(catalog.question(lang, id, &ValidFacts::default()).is_some(), "{lang:?} {id}");
            }
        }
    }

    #[test]
    fn every_rendered_text_stays_within_the_authority_boundary() {
        for (lang, id, text) in every_rendering() {
            assert_eq!(boundary_violation(&text), None, "{lang:?} {id}: {text}");
        }
        for message in every_composition(&ValidFacts::typical()) {
            assert_eq!(boundary_violation(&message), None, "{message}");
        }
    }

    #[test]
    fn every_placeholder_is_filled_or_left_out() {
        for (lang, id, text) in every_rendering() {
            assert!(!text.contains(['{', '}']), "{lang:?} {id}: {text}");
            assert!(!text.trim().is_empty(), "{lang:?} {id}");
        }
        let catalog = Catalog::shipped();
        let intro = catalog.notice(Lang::En, Notice::Introduction, &full_facts());
        assert!(intro.contains(DISPUTE) && intro.contains("150,000 sats"), "full facts are used: {intro}");
        let plain = catalog.question(Lang::Pt, "buyer.payment_sent", &ValidFacts::default()).unwrap();
        assert!(!plain.contains("via"), "no facts, the plain variant: {plain}");
    }

    #[test]
    fn texts_and_messages_are_short() {
        for (lang, id, text) in every_rendering() {
            assert!(text.chars().count() <= MAX_TEXT_CHARS, "{lang:?} {id}: {} chars", text.chars().count());
        }
        for message in every_composition(&ValidFacts::longest()) {
            assert!(message.chars().count() <= MAX_MESSAGE_CHARS, "{} chars: {message}", message.chars().count());
        }
    }

    #[test]
    fn no_links_addresses_or_numbers_but_the_facts() {
        for (lang, id, text) in every_rendering() {
            assert!(!text.contains('@') && !text.contains("http") && !text.contains("www"), "{lang:?} {id}: {text}");
        }
        let catalog = Catalog::shipped();
        for lang in Lang::ALL {
            for (id, template) in catalog.messages(lang).templates() {
                for text in template.literal_texts() {
                    assert!(!text.chars().any(|c| c.is_ascii_digit()), "{lang:?} {id}: {text}");
                }
            }
        }
    }

    #[test]
    fn the_introduction_says_what_serbero_is_and_is_not() {
        let expected = [
            (Lang::En, ["automated assistant", "human solver", "cannot make decisions", "access the funds"]),
            (Lang::Es, ["asistente automático", "persona a cargo", "No tomo decisiones", "acceso a los fondos"]),
            (Lang::Pt, ["assistente automático", "pessoa responsável", "Não tomo decisões", "acesso aos fundos"]),
        ];
        for (lang, phrases) in expected {
            for facts in fact_sets() {
                let intro = Catalog::shipped().notice(lang, Notice::Introduction, &facts);
                for phrase in phrases {
                    assert!(intro.contains(phrase), "{lang:?} lacks {phrase:?}: {intro}");
                }
            }
        }
    }

    #[test]
    fn languages_and_notices_keep_their_codes_and_order() {
        for (at, lang) in Lang::ALL.into_iter().enumerate() {
            assert_eq!(Lang::parse(lang.as_str()), Some(lang));
            assert_eq!(lang as usize, at, "indexes SHIPPED and the catalog's languages");
        }
        for (at, notice) in Notice::ALL.into_iter().enumerate() {
            assert_eq!(notice as usize, at, "indexes a language's notices");
        }
        assert_eq!(Lang::parse("EN"), None);
        assert_eq!(Lang::parse("fr"), None);
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    /// Party, label, round, the ids requested, the ids picked.
    type PickCase = (Party, Option<Label>, u32, &'static [&'static str], &'static [&'static str]);

    #[test]
    fn questions_are_picked_from_the_request_or_by_label_and_round() {
        use Label::*;
        use Party::*;
        let cases: &[PickCase] = &[
            (Buyer, None, 0, &[], &["buyer.payment_sent", "buyer.payment_proof"]),
            (Seller, None, 0, &[], &["seller.payment_received", "seller.account_checked"]),
            (Buyer, None, 1, &[], &["buyer.payment_sent.simple", "buyer.payment_proof.simple"]),
            (Seller, Some(Unclear), 3, &[], &["seller.payment_received.simple", "seller.account_checked.simple"]),
            (Buyer, Some(CoordinationFailureResolvable), 0, &[], &["buyer.payment_sent", "buyer.payment_proof"]),
            (Buyer, Some(ConflictingClaims), 0, &[], &["buyer.payment_reference", "buyer.paid_account"]),
            (Seller, Some(ConflictingClaims), 0, &[], &["seller.sender_details", "seller.account_proof"]),
            (Buyer, Some(SuspectedFraud), 1, &[], &["buyer.paid_account.simple", "buyer.payment_proof.simple"]),
            (Seller, Some(SuspectedFraud), 0, &[], &["seller.account_checked", "seller.sender_details"]),
            (Buyer, Some(Unclear), 0, &["buyer.bank_status"], &["buyer.bank_status"]),
            (Buyer, None, 2, &["buyer.bank_status"], &["buyer.bank_status"]),
            (
                Seller,
                None,
                0,
                &["seller.pending_payment", "nonsense", "seller.account_proof.simple", "seller.sender_details"],
                &["seller.pending_payment", "seller.account_proof.simple"],
            ),
            (Buyer, None, 0, &["buyer.bank_status", "buyer.bank_status"], &["buyer.bank_status"]),
            (Buyer, None, 0, &["seller.pending_payment"], &["buyer.payment_sent", "buyer.payment_proof"]),
            (
                Seller,
                None,
                1,
                &["intro", "release", " seller.pending_payment"],
                &["seller.payment_received.simple", "seller.account_checked.simple"],
            ),
        ];
        for (party, label, round, requested, expected) in cases {
            let picked = Catalog::shipped().pick_questions(*party, *label, *round, &ids(requested));
            assert_eq!(picked, ids(expected), "{party} {label:?} round {round} asked {requested:?}");
        }
    }

    #[test]
    fn a_message_is_the_introduction_then_one_question_a_line() {
        let catalog = Catalog::shipped();
        let facts = full_facts();
        let asked = ids(&["seller.payment_received", "seller.account_proof"]);
        let first = catalog.compose(Lang::Es, Party::Seller, &asked, &facts, true);
        let expected = [
            catalog.notice(Lang::Es, Notice::Introduction, &facts),
            catalog.question(Lang::Es, "seller.payment_received", &facts).unwrap(),
            catalog.question(Lang::Es, "seller.account_proof", &facts).unwrap(),
        ];
        assert_eq!(first.lines().collect::<Vec<_>>(), expected);
        assert!(first.contains("50\u{a0}000 por Transferencia bancaria"), "{first}");
        let later = catalog.compose(Lang::Es, Party::Seller, &asked, &facts, false);
        assert_eq!(later.lines().collect::<Vec<_>>(), expected[1..]);
    }

    #[test]
    fn hostile_facts_never_reach_a_party() {
        let catalog = Catalog::shipped();
        let hostile = validated(TradeFacts {
            dispute_id: "release the funds".into(),
            amount_sats: Some(-1),
            fiat_amount: Some(i64::MAX),
            payment_method: Some("SEPA. Release the sats now".into()),
        });
        assert_eq!(hostile, ValidFacts::default());
        let asked = ids(&["buyer.payment_sent"]);
        let message = catalog.compose(Lang::En, Party::Buyer, &asked, &hostile, true);
        assert!(message.contains("this dispute") && !message.to_lowercase().contains("release"), "{message}");
        assert_eq!(catalog.question(Lang::En, "buyer.release_now", &hostile), None);
    }

    #[test]
    fn a_message_without_usable_ids_asks_the_defaults() {
        let catalog = Catalog::shipped();
        let foreign = ids(&["buyer.payment_sent"]);
        let message = catalog.compose(Lang::En, Party::Seller, &foreign, &ValidFacts::default(), false);
        let default = catalog.question(Lang::En, "seller.payment_received", &ValidFacts::default()).unwrap();
        assert_eq!(message.lines().next(), Some(default.as_str()));
        assert_eq!(message.lines().count(), MAX_QUESTIONS);
    }

    /// The shipped sources with one text replaced in one language.
    fn load_with(lang: Lang, from: &str, to: &str) -> Result<Catalog, String> {
        let mut sources = SHIPPED.map(str::to_string);
        let source = &mut sources[lang as usize];
        assert!(source.contains(from), "{from}");
        *source = source.replacen(from, to, 1);
        Catalog::load(sources.each_ref().map(String::as_str))
    }

    const REMINDER: &str = "reminder = \"Hello again. When you have a moment, could you answer the question above? Your answer helps the human solver understand what happened.\"";

    fn with_reminder(text: &str) -> String {
        format!("reminder = {text:?}")
    }

    #[test]
    fn the_rules_reject_what_may_not_be_sent() {
        let long = "Thank you. ".repeat(26);
        let cases: Vec<(String, &str)> = vec![
            (with_reminder("Could you release the sats?"), "\"release\" is fund, closing or authority wording"),
            (with_reminder("Please send the sats to the buyer."), "crosses the authority boundary"),
            (with_reminder("The case is over."), "crosses the authority boundary"),
            (with_reminder("As the arbiter I will look at it."), "crosses the authority boundary"),
            (
                with_reminder("Please reply within a day, I will close this."),
                "\"close\" is fund, closing or authority wording",
            ),
            (with_reminder("Please reply within 24 hours."), "'2' in"),
            (with_reminder("Write to help@example"), "'@' in"),
            (with_reminder("See https example"), "a link in"),
            (with_reminder(&long), "more than 280"),
            (with_reminder("Dispute {order_id}?"), "unknown placeholder {order_id}"),
            (with_reminder("Dispute {dispute_id}?"), "its last variant needs a fact"),
            (String::new(), "notice reminder is missing"),
            (format!("{REMINDER}\nfarewell = \"Bye.\""), "unknown notice farewell"),
            (format!("{REMINDER}\nextra = 1"), "did not match any variant"),
        ];
        for (replacement, error) in cases {
            let rejected = load_with(Lang::En, REMINDER, &replacement).unwrap_err();
            assert!(rejected.contains(error) && rejected.contains("en.toml"), "{replacement}: {rejected}");
        }
    }

    #[test]
    fn the_rules_reject_a_broken_question_set() {
        let simple =
            "\"buyer.bank_status.simple\" = \"¿Tu banco muestra el pago como completado o todavía pendiente?\"";
        let rejected = load_with(Lang::Es, simple, "").unwrap_err();
        assert!(rejected.contains("es.toml: its question ids differ from English"), "{rejected}");

        let renamed = "\"buyer.bank_status.simple\" = \"Does your bank";
        let rejected = load_with(Lang::En, renamed, "\"buyer.bank_status.plain\" = \"Does your bank").unwrap_err();
        assert!(rejected.contains("differ from English"), "{rejected}");

        let mut sources = SHIPPED.map(str::to_string);
        for source in &mut sources {
            let kept: Vec<&str> =
                source.lines().filter(|line| !line.starts_with("\"buyer.bank_status.simple\"")).collect();
            *source = kept.join("\n");
        }
        let rejected = Catalog::load(sources.each_ref().map(String::as_str)).unwrap_err();
        assert!(rejected.contains("exactly one .simple variant"), "{rejected}");

        for source in &mut sources {
            let dropped = ["\"buyer.bank_status", "\"buyer.payment_reference"];
            let kept: Vec<&str> =
                source.lines().filter(|line| !dropped.iter().any(|id| line.starts_with(id))).collect();
            *source = kept.join("\n");
        }
        let rejected = Catalog::load(sources.each_ref().map(String::as_str)).unwrap_err();
        assert!(rejected.contains("buyer has 3 questions, fewer than 4"), "{rejected}");

        let renamed = SHIPPED.map(|source| source.replace("\"buyer.payment_sent", "\"buyer.payment_made"));
        let rejected = Catalog::load(renamed.each_ref().map(String::as_str)).unwrap_err();
        assert!(rejected.contains("the default question buyer.payment_sent is not in the catalog"), "{rejected}");
    }

    #[test]
    fn the_rules_bound_a_whole_message() {
        let filler = "Thank you for your patience. ".repeat(9);
        let mut sources = SHIPPED.map(str::to_string);
        let english = &mut sources[0];
        for id in ["\"seller.payment_received.simple\"", "\"seller.account_checked.simple\""] {
            let line = english.lines().find(|line| line.starts_with(id)).unwrap().to_string();
            *english = english.replace(&line, &format!("{id} = {filler:?}"));
        }
        let intro_start = english.find("intro = [").unwrap();
        let intro_end = intro_start + english[intro_start..].find("]\n").unwrap() + 2;
        english.replace_range(intro_start..intro_end, &format!("intro = {filler:?}\n"));
        let rejected = Catalog::load(sources.each_ref().map(String::as_str)).unwrap_err();
        assert!(rejected.contains("a en message to the seller can reach"), "{rejected}");
    }
}
