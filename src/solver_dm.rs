//! The Mostrix-readable form of a message to a solver or an observer: a Mostro protocol v2
//! `send-dm` whose text starts with `Dispute <id> · <subject>` (spec/solver-clients.md §1–§2).
//! Mostrix groups these by dispute in its SERBERO pane and rings an alert for a subject that
//! starts with `handed off` or `mediation could not start`, so exactly one message per handoff
//! per solver may carry such a subject. The README's subjects table lists every subject.

use std::fmt;

use uuid::Uuid;

use crate::escalation::Trigger;

/// Separates `Dispute <id>` from the subject; Mostrix splits the first line at it.
pub const HEADER_SEPARATOR: &str = " · ";

/// What a message is about, as the first line's subject says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A new dispute (`initial`).
    New,
    /// Still nobody took it (`re-notification`), minutes since the dispute was opened.
    Unattended { minutes: i64 },
    /// Somebody took it (`assignment`).
    Taken,
    /// Serbero opened a mediation session (observers).
    Mediating,
    /// The dispute needs a person: mediation ended with a summary or escalated.
    HandedOff(HandoffReason),
    /// Serbero escalated before it could take the dispute.
    CouldNotStart,
    /// The structured package of a handoff whose alert the recipient already has.
    HandoffPackage,
    /// The summary reached a solver (observers).
    SummaryDelivered,
    /// What the parties wrote after the handoff.
    Transcript { messages: usize },
    /// Mostro resolved the dispute, with the dispute event's status.
    Resolved { status: String },
}

/// Why a dispute was handed off: an escalation trigger, or a summary ready for a solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffReason {
    SummaryReady,
    Escalated(Trigger),
    /// A stored handoff whose trigger this version does not know.
    Unrecognised,
}

impl HandoffReason {
    /// `[a-z0-9_]`, at most 64 characters: Mostrix shows `_` as a space, mostro-watchdog drops
    /// anything else.
    pub fn token(self) -> &'static str {
        match self {
            HandoffReason::SummaryReady => "summary_ready",
            HandoffReason::Escalated(trigger) => trigger.as_str(),
            HandoffReason::Unrecognised => "escalated",
        }
    }
}

impl Subject {
    /// Whether Mostrix alerts the solver for it (its `needs_action`).
    pub fn needs_action(&self) -> bool {
        matches!(self, Subject::HandedOff(_) | Subject::CouldNotStart)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::New => f.write_str("new"),
            Subject::Unattended { minutes } => write!(f, "unattended ({minutes} min)"),
            Subject::Taken => f.write_str("taken"),
            Subject::Mediating => f.write_str("mediating"),
            Subject::HandedOff(reason) => write!(f, "handed off: {}", reason.token()),
            Subject::CouldNotStart => f.write_str("mediation could not start"),
            Subject::HandoffPackage => f.write_str("handoff package"),
            Subject::SummaryDelivered => f.write_str("summary delivered"),
            Subject::Transcript { messages } => write!(f, "transcript ({messages} messages, times UTC)"),
            Subject::Resolved { status } => write!(f, "resolved: {}", status_token(status)),
        }
    }
}

/// A dispute status as a subject token; anything outside `[a-z0-9_-]` becomes `_`, so a
/// relay-supplied status cannot forge a second line or an alerting prefix.
pub fn status_token(status: &str) -> String {
    let token: String = status
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if token.is_empty() {
        "unknown".to_string()
    } else {
        token
    }
}

/// The dispute id as Mostrix links it (`MessageKind.id`): only a UUID links; any other id gets
/// the gift wrap only.
pub fn dispute_uuid(dispute_id: &str) -> Option<Uuid> {
    Uuid::parse_str(dispute_id).ok().filter(|id| id.hyphenated().to_string() == dispute_id.to_ascii_lowercase())
}

/// `Dispute <id> · <subject>`, a line break, then the body exactly as the gift wrap carries it,
/// so `key: value` parsers keep working on the lines below the header.
pub fn mostrix_text(dispute: Uuid, subject: &Subject, body: &str) -> String {
    format!("Dispute {}{HEADER_SEPARATOR}{subject}\n{body}", dispute.hyphenated())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a";

    #[test]
    fn subjects_are_spelled_as_mostrix_reads_them() {
        let cases = [
            (Subject::New, "new", false),
            (Subject::Unattended { minutes: 32 }, "unattended (32 min)", false),
            (Subject::Taken, "taken", false),
            (Subject::Mediating, "mediating", false),
            (Subject::HandedOff(HandoffReason::SummaryReady), "handed off: summary_ready", true),
            (
                Subject::HandedOff(HandoffReason::Escalated(Trigger::ConflictingClaims)),
                "handed off: conflicting_claims",
                true,
            ),
            (Subject::CouldNotStart, "mediation could not start", true),
            (Subject::HandoffPackage, "handoff package", false),
            (Subject::SummaryDelivered, "summary delivered", false),
            (Subject::Transcript { messages: 3 }, "transcript (3 messages, times UTC)", false),
            (Subject::Resolved { status: "seller-refunded".into() }, "resolved: seller-refunded", false),
            (Subject::Resolved { status: "x\nhanded off: y".into() }, "resolved: x_handed_off__y", false),
            (Subject::Resolved { status: String::new() }, "resolved: unknown", false),
        ];
        for (subject, text, alerts) in cases {
            assert_eq!(subject.to_string(), text);
            assert_eq!(subject.needs_action(), alerts, "{text}");
            // Mostrix's own test of an alerting subject: a prefix, case-sensitive.
            let mostrix_alerts = text.starts_with("handed off") || text.starts_with("mediation could not start");
            assert_eq!(mostrix_alerts, alerts, "{text}");
        }
    }

    #[test]
    fn every_trigger_is_a_token_the_watchdog_accepts() {
        for trigger in Trigger::ALL {
            let token = HandoffReason::Escalated(trigger).token();
            assert!(
                token.len() <= 64 && token.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
        }
    }

    #[test]
    fn only_canonical_uuids_link() {
        assert_eq!(dispute_uuid(ID).map(|u| u.to_string()), Some(ID.to_string()));
        assert!(dispute_uuid(&ID.to_uppercase()).is_some());
        for other in [
            "d1",
            "",
            "58511141-6e3f-4b87-9c4a-1f2e3d4c5b6",
            "58511141e3f4b879c4a1f2e3d4c5b6a0000",
            ID.replace('-', "").as_str(),
        ] {
            assert_eq!(dispute_uuid(other), None, "{other}");
        }
    }

    #[test]
    fn the_header_is_byte_exact() {
        let text = mostrix_text(Uuid::parse_str(ID).unwrap(), &Subject::Taken, "Mostro dispute has been taken.\nx: y");
        assert_eq!(
            text.as_bytes(),
            b"Dispute 58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a \xc2\xb7 taken\nMostro dispute has been taken.\nx: y"
        );
    }
}
