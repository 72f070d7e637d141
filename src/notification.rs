//! Solver notifications: their types, their plain-text bodies (a wire contract: solvers' tools
//! parse the `key: value` lines) and their idempotency keys.

use std::fmt;

use crate::dispute::Initiator;
use crate::lifecycle::LifecycleState;

/// What a DM is, as `outbox.notif_type` and `notifications.notif_type` record it. Every writer
/// of either table names its rows with one of these; owners select, withdraw and prune by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotifType {
    /// A new dispute, to every solver.
    Initial,
    /// Still nobody took it.
    ReNotification,
    /// Somebody took it.
    Assignment,
    /// A session's summary for the human solver.
    MediationSummary,
    /// A recommendation to escalate, from a session or the dispatcher.
    EscalationRecommended,
    /// The party chat forwarded after a handoff.
    MediationTranscript,
    /// Serbero's words to a trade party.
    PartyMessage,
    /// An observer's line about a milestone.
    Milestone,
    /// The final report on a mediated dispute someone else resolved.
    ResolutionReport,
}

impl NotifType {
    pub const ALL: [NotifType; 9] = [
        Self::Initial,
        Self::ReNotification,
        Self::Assignment,
        Self::MediationSummary,
        Self::EscalationRecommended,
        Self::MediationTranscript,
        Self::PartyMessage,
        Self::Milestone,
        Self::ResolutionReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::ReNotification => "re-notification",
            Self::Assignment => "assignment",
            Self::MediationSummary => "mediation_summary",
            Self::EscalationRecommended => "mediation_escalation_recommended",
            Self::MediationTranscript => "mediation_transcript",
            Self::PartyMessage => "party_message",
            Self::Milestone => "mediation_milestone",
            Self::ResolutionReport => "mediation_resolution_report",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// The notifications that tell solvers a dispute is waiting for one of them.
    pub fn reaches_solver_unattended(self) -> bool {
        matches!(self, Self::Initial | Self::ReNotification)
    }

    /// Deterministic outbox key: one DM per (type, dispute, solver[, re-notification round]).
    pub fn idempotency_key(self, dispute_id: &str, solver_hex: &str, round: u32) -> String {
        match self {
            Self::ReNotification => format!("{}:{dispute_id}:{solver_hex}:{round}", self.as_str()),
            _ => format!("{}:{dispute_id}:{solver_hex}", self.as_str()),
        }
    }
}

/// `notifications.status`: how one attempt at a DM ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    Sent,
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for NotifType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub fn initial_text(dispute_id: &str, initiator: Initiator, event_timestamp: i64) -> String {
    format!(
        "New Mostro dispute requires attention.\ndispute_id: {dispute_id}\ninitiator: {}\nevent_timestamp: {event_timestamp}\nstatus: initiated",
        initiator.as_str()
    )
}

pub fn re_notification_text(dispute_id: &str, state: LifecycleState, elapsed_seconds: i64) -> String {
    format!(
        "Mostro dispute is still unattended.\ndispute_id: {dispute_id}\nlifecycle_state: {state}\ntime_elapsed_seconds: {elapsed_seconds}"
    )
}

pub fn assignment_text(dispute_id: &str, assigned_solver: Option<&str>) -> String {
    format!(
        "Mostro dispute has been taken.\ndispute_id: {dispute_id}\nassigned_solver: {}\nlifecycle_state: taken",
        assigned_solver.unwrap_or("unknown")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_byte_exact() {
        let cases = [
            (
                initial_text("d-1", Initiator::Buyer, 1_700_000_000),
                "New Mostro dispute requires attention.\ndispute_id: d-1\ninitiator: buyer\nevent_timestamp: 1700000000\nstatus: initiated",
            ),
            (
                initial_text("d-2", Initiator::Seller, 5),
                "New Mostro dispute requires attention.\ndispute_id: d-2\ninitiator: seller\nevent_timestamp: 5\nstatus: initiated",
            ),
            (
                re_notification_text("d-1", LifecycleState::Notified, 301),
                "Mostro dispute is still unattended.\ndispute_id: d-1\nlifecycle_state: notified\ntime_elapsed_seconds: 301",
            ),
            (
                assignment_text("d-1", Some("00ff")),
                "Mostro dispute has been taken.\ndispute_id: d-1\nassigned_solver: 00ff\nlifecycle_state: taken",
            ),
            (
                assignment_text("d-1", None),
                "Mostro dispute has been taken.\ndispute_id: d-1\nassigned_solver: unknown\nlifecycle_state: taken",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn idempotency_keys_are_deterministic_and_distinct() {
        let keys = [
            NotifType::Initial.idempotency_key("d", "s", 0),
            NotifType::Assignment.idempotency_key("d", "s", 0),
            NotifType::ReNotification.idempotency_key("d", "s", 1),
            NotifType::ReNotification.idempotency_key("d", "s", 2),
            NotifType::Initial.idempotency_key("d", "t", 0),
        ];
        assert_eq!(keys[0], "initial:d:s");
        assert_eq!(keys[2], "re-notification:d:s:1");
        assert_eq!(NotifType::Initial.idempotency_key("d", "s", 9), keys[0]);
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }

    #[test]
    fn types_round_trip() {
        for t in NotifType::ALL {
            assert_eq!(NotifType::parse(t.as_str()), Some(t));
        }
        assert_eq!(NotifType::parse("mediation_milestone"), Some(NotifType::Milestone));
        assert_eq!(NotifType::parse("party_question"), None);
    }
}
