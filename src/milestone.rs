//! What observers (`[[observers]]`: a watchdog, a team channel's bot) are told: one short line
//! per mediation milestone of a dispute, built from ids and tokens only, never a party's words,
//! a model's text or a rationale.

use crate::escalation::Trigger;
use crate::notification::NotifType;
use crate::solver_dm::{status_token, HandoffReason, Subject};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Milestone {
    /// Serbero took the dispute and wrote to the parties.
    Mediating,
    /// Serbero escalated before it could mediate.
    CouldNotStart(Trigger),
    /// A session escalated to the solvers.
    HandedOff(Trigger),
    /// A solver has Serbero's summary.
    SummaryDelivered,
    /// Mostro resolved the dispute, with the dispute event's status.
    Resolved(String),
}

impl Milestone {
    /// Stable name, part of the idempotency key: each milestone is told once per scope.
    pub fn tag(&self) -> &'static str {
        match self {
            Milestone::Mediating => "mediating",
            Milestone::CouldNotStart(_) => "could_not_start",
            Milestone::HandedOff(_) => "handed_off",
            Milestone::SummaryDelivered => "summary_delivered",
            Milestone::Resolved(_) => "resolved",
        }
    }

    pub fn subject(&self) -> Subject {
        match self {
            Milestone::Mediating => Subject::Mediating,
            Milestone::CouldNotStart(_) => Subject::CouldNotStart,
            Milestone::HandedOff(trigger) => Subject::HandedOff(HandoffReason::Escalated(*trigger)),
            Milestone::SummaryDelivered => Subject::SummaryDelivered,
            Milestone::Resolved(status) => Subject::Resolved { status: status.clone() },
        }
    }

    /// The observer's line.
    pub fn line(&self, dispute_id: &str) -> String {
        match self {
            Milestone::Mediating => format!("Serbero is mediating dispute {dispute_id}."),
            Milestone::CouldNotStart(trigger) => {
                format!("Serbero could not mediate dispute {dispute_id} (trigger: {trigger}); the solvers were told.")
            }
            Milestone::HandedOff(trigger) => {
                format!("Serbero handed dispute {dispute_id} off to the solvers (trigger: {trigger}).")
            }
            Milestone::SummaryDelivered => format!("Serbero's summary of dispute {dispute_id} reached a solver."),
            Milestone::Resolved(status) => format!("Dispute {dispute_id} was resolved ({}).", status_token(status)),
        }
    }

    /// One line per milestone, dispute, scope (a session id, or `dispute`) and observer.
    pub fn idempotency_key(&self, dispute_id: &str, scope: &str, observer_hex: &str) -> String {
        format!("{}:{}:{dispute_id}:{scope}:{observer_hex}", NotifType::Milestone.as_str(), self.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_milestone_is_one_line_with_its_subject() {
        let id = "58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a";
        let cases = [
            (Milestone::Mediating, "mediating", format!("Serbero is mediating dispute {id}.")),
            (
                Milestone::CouldNotStart(Trigger::TakeUnanswered),
                "mediation could not start",
                format!("Serbero could not mediate dispute {id} (trigger: take_unanswered); the solvers were told."),
            ),
            (
                Milestone::HandedOff(Trigger::FraudIndicator),
                "handed off: fraud_indicator",
                format!("Serbero handed dispute {id} off to the solvers (trigger: fraud_indicator)."),
            ),
            (
                Milestone::SummaryDelivered,
                "summary delivered",
                format!("Serbero's summary of dispute {id} reached a solver."),
            ),
            (
                Milestone::Resolved("settled\nhanded off: x".into()),
                "resolved: settled_handed_off__x",
                format!("Dispute {id} was resolved (settled_handed_off__x)."),
            ),
        ];
        for (milestone, subject, line) in cases {
            assert_eq!(milestone.subject().to_string(), subject);
            assert_eq!(milestone.line(id), line);
            assert!(!milestone.line(id).contains('\n'));
        }
        let keys: std::collections::HashSet<String> = [Milestone::Mediating, Milestone::SummaryDelivered]
            .iter()
            .flat_map(|m| ["s1", "s2"].map(|scope| m.idempotency_key(id, scope, "ob")))
            .collect();
        assert_eq!(keys.len(), 4);
    }
}
