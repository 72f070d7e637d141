//! The brief that follows a summary's or an escalation's existing lines: what a solver needs to
//! judge the case before taking the dispute. Trade facts as the Mostro node stated them, each
//! party's own words quoted verbatim with their times (newest kept, within bounds, every line
//! marked as a quote), and the model's assessment labelled as the model's. Built from stored
//! facts only: no rationale and no secret can reach it (attachments are described, never
//! linked).

use std::fmt::Write;

use crate::attachment::Attachment;
use crate::chat::Party;
use crate::dispute::Initiator;
use crate::reasoning::Label;

/// Messages quoted at most; the newest are kept.
pub const MAX_QUOTES: usize = 20;
/// Characters of one message quoted at most; a longer one is cut and says so.
pub const MAX_QUOTE_CHARS: usize = 1_000;
/// Characters of all quotes together at most, so the DM stays far below NIP-44's 64 KiB.
pub const MAX_QUOTED_CHARS: usize = 8_000;

/// What the node said about the trade when it handed Serbero the dispute, and who opened it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradeFacts {
    pub order_id: Option<String>,
    pub amount_sats: Option<i64>,
    pub fiat_amount: Option<i64>,
    pub fiat_code: Option<String>,
    pub payment_method: Option<String>,
    pub opened_by: Option<Initiator>,
}

/// One message a party wrote, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub party: Party,
    /// The message's own time (unix seconds).
    pub at: i64,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Brief {
    pub trade: TradeFacts,
    /// The model's last classification, if it made one.
    pub assessment: Option<(Label, f64)>,
    /// The newest messages the parties wrote, oldest first.
    pub quotes: Vec<Quote>,
    /// How many they wrote in all (more than `quotes` holds when older ones were left out).
    pub received: usize,
}

impl Brief {
    /// The lines appended after a message's existing body, starting with a blank line.
    pub fn render(&self) -> String {
        let mut out = String::from("\n\n-- Brief --\n");
        self.render_trade(&mut out);
        match self.assessment {
            Some((label, confidence)) => {
                let _ = writeln!(out, "Model's assessment (a language model's reading, not a finding): {label} (confidence {confidence:.2})");
            }
            None => out.push_str("Model's assessment: none recorded\n"),
        }
        render_quotes(&self.quotes, self.received.max(self.quotes.len()), &mut out);
        out.truncate(out.trim_end().len());
        out
    }

    fn render_trade(&self, out: &mut String) {
        let t = &self.trade;
        let unknown = || "not known".to_string();
        let _ = writeln!(out, "Order: {}", t.order_id.as_deref().map(one_line).unwrap_or_else(unknown));
        let _ = writeln!(out, "Amount: {}", t.amount_sats.map_or_else(unknown, |sats| format!("{sats} sats")));
        let fiat = match (t.fiat_amount, &t.fiat_code) {
            (Some(amount), Some(code)) => format!("{amount} {}", one_line(code)),
            (Some(amount), None) => format!("{amount} (currency not stated by the node)"),
            (None, _) => unknown(),
        };
        let _ = writeln!(out, "Fiat: {fiat}");
        let method = t.payment_method.as_deref().map(one_line);
        let _ = writeln!(out, "Payment method: {}", method.unwrap_or_else(unknown));
        let opened = t.opened_by.filter(|i| *i != Initiator::Unknown).map(|i| i.as_str().to_string());
        let _ = writeln!(out, "Opened by: {}", opened.unwrap_or_else(unknown));
    }
}

/// How many of `quotes`, from the first, one transcript carries whole (at least one).
pub fn transcript_batch(quotes: &[Quote]) -> usize {
    let mut used = 0;
    let fitting = quotes
        .iter()
        .take(MAX_QUOTES)
        .take_while(|quote| {
            used += quoted_body(&quote.text).chars().count();
            used <= MAX_QUOTED_CHARS
        })
        .count();
    fitting.max(1).min(quotes.len())
}

/// The DM that forwards what the parties wrote after a handoff (`quotes`, oldest first).
pub fn transcript_text(dispute_id: &str, quotes: &[Quote]) -> String {
    let mut out = format!(
        "The parties wrote after Serbero handed dispute {dispute_id} off. Serbero does not answer them; \
         take the dispute to reply.\ndispute_id: {dispute_id}\n"
    );
    render_quotes(quotes, quotes.len(), &mut out);
    out.truncate(out.trim_end().len());
    out
}

/// The newest quotes that fit the bounds, shown oldest first, each line behind `> `.
fn render_quotes(quotes: &[Quote], received: usize, out: &mut String) {
    if quotes.is_empty() {
        out.push_str("The parties' words: none received\n");
        return;
    }
    let mut kept: Vec<String> = Vec::new();
    let mut used = 0;
    for quote in quotes.iter().rev().take(MAX_QUOTES) {
        let body = quoted_body(&quote.text);
        if used + body.chars().count() > MAX_QUOTED_CHARS && !kept.is_empty() {
            break;
        }
        used += body.chars().count();
        kept.push(format!("[{}] {}:\n{body}", utc(quote.at), quote.party.as_str()));
    }
    let _ = write!(out, "The parties' words, quoted verbatim (times UTC");
    if received > kept.len() {
        let _ = write!(out, "; the {} newest of {received} messages", kept.len());
    }
    out.push_str("):\n");
    for block in kept.iter().rev() {
        out.push_str(block);
        out.push('\n');
    }
}

/// The text as written, cut at [`MAX_QUOTE_CHARS`], every line behind `> ` so nothing a party
/// writes can pass for one of Serbero's lines. Characters that would steer a terminal (controls,
/// bidirectional overrides) show as U+FFFD; an attachment is described, not linked.
fn quoted_body(text: &str) -> String {
    let text = match Attachment::recognize(text) {
        Some(attachment) => format!("[{} — open it in the dispute chat]", attachment.solver_description()),
        None => text.to_string(),
    };
    let mut shown: String = text.chars().take(MAX_QUOTE_CHARS).map(visible).collect();
    if text.chars().count() > MAX_QUOTE_CHARS {
        shown.push_str(" […cut]");
    }
    shown.lines().map(|line| format!("> {line}")).collect::<Vec<_>>().join("\n")
}

/// A node-stated fact on its line, at most 100 characters (the maker chose the payment
/// method's words).
fn one_line(text: &str) -> String {
    crate::delivery::one_line(text, 100)
}

fn visible(c: char) -> char {
    let steers = (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if steers {
        '\u{FFFD}'
    } else {
        c
    }
}

/// `YYYY-MM-DD HH:MM` in UTC.
fn utc(at: i64) -> String {
    let (days, secs) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(party: Party, at: i64, text: &str) -> Quote {
        Quote { party, at, text: text.to_string() }
    }

    #[test]
    fn a_full_brief_reads_as_written() {
        let brief = Brief {
            trade: TradeFacts {
                order_id: Some("o-1".into()),
                amount_sats: Some(150_000),
                fiat_amount: Some(100),
                fiat_code: Some("EUR".into()),
                payment_method: Some("SEPA\nOpened by: seller".into()),
                opened_by: Some(Initiator::Buyer),
            },
            assessment: Some((Label::CoordinationFailureResolvable, 0.8)),
            quotes: vec![
                quote(Party::Buyer, 1_764_806_400, "I paid.\nHere is the reference: 42"),
                quote(Party::Seller, 1_764_806_460, "Nothing arrived"),
            ],
            received: 2,
        };
        assert_eq!(
            brief.render(),
            "\n\n-- Brief --\nOrder: o-1\nAmount: 150000 sats\nFiat: 100 EUR\nPayment method: SEPA Opened by: seller\nOpened by: buyer\n\
             Model's assessment (a language model's reading, not a finding): coordination_failure_resolvable (confidence 0.80)\n\
             The parties' words, quoted verbatim (times UTC):\n\
             [2025-12-04 00:00] buyer:\n> I paid.\n> Here is the reference: 42\n\
             [2025-12-04 00:01] seller:\n> Nothing arrived"
        );
    }

    #[test]
    fn what_is_unknown_says_so() {
        let brief = Brief {
            trade: TradeFacts { fiat_amount: Some(5), opened_by: Some(Initiator::Unknown), ..TradeFacts::default() },
            ..Brief::default()
        };
        let text = brief.render();
        for line in [
            "Order: not known",
            "Amount: not known",
            "Fiat: 5 (currency not stated by the node)",
            "Opened by: not known",
            "Model's assessment: none recorded",
            "The parties' words: none received",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn quotes_keep_the_newest_within_bounds() {
        let newest: Vec<Quote> = (10..30).map(|i| quote(Party::Seller, i * 60, &format!("m{i}"))).collect();
        let text = Brief { quotes: newest, received: 30, ..Brief::default() }.render();
        assert!(text.contains("the 20 newest of 30 messages"));
        assert!(text.contains("> m29") && text.contains("> m10") && !text.contains("> m9\n"));
        assert!(text.find("> m10").unwrap() < text.find("> m29").unwrap(), "oldest first");

        let long: Vec<Quote> = (0..12).map(|i| quote(Party::Buyer, i, &"x".repeat(2_000))).collect();
        let text = Brief { quotes: long, received: 12, ..Brief::default() }.render();
        assert_eq!(text.matches(" […cut]").count(), 7, "seven cut messages of ~1000 characters fill the budget");
        assert!(text.contains("the 7 newest of 12 messages"));
    }

    #[test]
    fn a_party_cannot_forge_a_line_or_steer_the_terminal() {
        let text = quoted_body("fine\nDispute x · handed off: fraud\n\u{1b}[2J\u{202E}gpj.exe");
        assert_eq!(text, "> fine\n> Dispute x · handed off: fraud\n> \u{FFFD}[2J\u{FFFD}gpj.exe");
        let attachment = r#"{"type":"image_encrypted","blossom_url":"https://b.example/x","nonce":"00","filename":"r.png","mime_type":"image/png","original_size":2048}"#;
        let shown = quoted_body(attachment);
        assert!(shown.starts_with("> [image attachment \"r.png\" (image/png,"), "{shown}");
        assert!(!shown.contains("blossom") && !shown.contains("nonce"));
    }

    #[test]
    fn a_transcript_carries_whole_bursts_that_fit() {
        let short: Vec<Quote> = (0..25).map(|i| quote(Party::Buyer, i, "ok")).collect();
        assert_eq!(transcript_batch(&short), MAX_QUOTES);
        let long: Vec<Quote> = (0..10).map(|i| quote(Party::Buyer, i, &"y".repeat(3_000))).collect();
        assert_eq!(transcript_batch(&long), MAX_QUOTED_CHARS / 1_009, "whole messages of ~1009 quoted characters");
        assert_eq!(transcript_batch(&[]), 0);
        let text = transcript_text("d-1", &short[..2]);
        assert_eq!(
            text,
            "The parties wrote after Serbero handed dispute d-1 off. Serbero does not answer them; take the dispute \
             to reply.\ndispute_id: d-1\nThe parties' words, quoted verbatim (times UTC):\n\
             [1970-01-01 00:00] buyer:\n> ok\n[1970-01-01 00:00] buyer:\n> ok"
        );
    }

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_764_806_399), "2025-12-03 23:59");
    }
}
