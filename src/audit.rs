//! The kinds of `mediation_events`, the audit log that mediation, the escalation dispatcher,
//! AuthRetry and the Dispute actor append to and read each other's rows from.

/// What one `mediation_events` row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    SessionOpened,
    /// The model's classification of a round (its rationale in `reasoning_rationales`).
    ClassificationProduced,
    /// The model's opening assessment of a dispute, before any session.
    ReasoningVerdict,
    ReasoningCallFailed,
    SummaryGenerated,
    SessionClosed,
    SupersededByHuman,
    /// A recommendation to escalate, paired with its `HandoffPrepared`.
    EscalationRecommended,
    /// The handoff package the escalation dispatcher routes.
    HandoffPrepared,
    EscalationDispatched,
    EscalationSuperseded,
    EscalationDispatchUnroutable,
    EscalationDispatchParseFailed,
    AuthRetryAttempt,
    AuthRetryRecovered,
    AuthRetryTerminated,
    /// The final report on a mediated dispute someone else resolved.
    ResolvedExternallyReported,
}

impl EventKind {
    pub const ALL: [EventKind; 17] = [
        Self::SessionOpened,
        Self::ClassificationProduced,
        Self::ReasoningVerdict,
        Self::ReasoningCallFailed,
        Self::SummaryGenerated,
        Self::SessionClosed,
        Self::SupersededByHuman,
        Self::EscalationRecommended,
        Self::HandoffPrepared,
        Self::EscalationDispatched,
        Self::EscalationSuperseded,
        Self::EscalationDispatchUnroutable,
        Self::EscalationDispatchParseFailed,
        Self::AuthRetryAttempt,
        Self::AuthRetryRecovered,
        Self::AuthRetryTerminated,
        Self::ResolvedExternallyReported,
    ];

    /// The `kind` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionOpened => "session_opened",
            Self::ClassificationProduced => "classification_produced",
            Self::ReasoningVerdict => "reasoning_verdict",
            Self::ReasoningCallFailed => "reasoning_call_failed",
            Self::SummaryGenerated => "summary_generated",
            Self::SessionClosed => "session_closed",
            Self::SupersededByHuman => "superseded_by_human",
            Self::EscalationRecommended => "escalation_recommended",
            Self::HandoffPrepared => "handoff_prepared",
            Self::EscalationDispatched => "escalation_dispatched",
            Self::EscalationSuperseded => "escalation_superseded",
            Self::EscalationDispatchUnroutable => "escalation_dispatch_unroutable",
            Self::EscalationDispatchParseFailed => "escalation_dispatch_parse_failed",
            Self::AuthRetryAttempt => "auth_retry_attempt",
            Self::AuthRetryRecovered => "auth_retry_recovered",
            Self::AuthRetryTerminated => "auth_retry_terminated",
            Self::ResolvedExternallyReported => "resolved_externally_reported",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_stored_names() {
        let cases = [
            (EventKind::ClassificationProduced, "classification_produced"),
            (EventKind::HandoffPrepared, "handoff_prepared"),
            (EventKind::EscalationRecommended, "escalation_recommended"),
            (EventKind::AuthRetryTerminated, "auth_retry_terminated"),
            (EventKind::ResolvedExternallyReported, "resolved_externally_reported"),
        ];
        for (kind, stored) in cases {
            assert_eq!(kind.as_str(), stored);
        }
        let names: std::collections::HashSet<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len(), "every kind has its own name");
    }
}
