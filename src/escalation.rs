//! Escalation handoffs: the package a mediation session prepares for a human solver, the
//! triggers that cause one, who receives it (routing rules 1–4) and the `escalation_handoff/v1`
//! DM text, a wire contract that solvers' tools parse.

use std::fmt;

use nostr_sdk::PublicKey;
use serde::{Deserialize, Serialize};

use crate::config::{Permission, Solver};
use crate::solver_dm::{HandoffReason, Subject};

/// Why a dispute needs a human. The snake_case names are stored and sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    ConflictingClaims,
    FraudIndicator,
    LowConfidence,
    PartyUnresponsive,
    RoundLimit,
    ReasoningUnavailable,
    AuthorizationLost,
    AuthorityBoundaryAttempt,
    MediationTimeout,
    PolicyBundleMissing,
    InvalidModelOutput,
    NotificationFailed,
    /// Every try to take the dispute went unanswered by the node.
    TakeUnanswered,
}

impl Trigger {
    pub const ALL: [Trigger; 13] = [
        Self::ConflictingClaims,
        Self::FraudIndicator,
        Self::LowConfidence,
        Self::PartyUnresponsive,
        Self::RoundLimit,
        Self::ReasoningUnavailable,
        Self::AuthorizationLost,
        Self::AuthorityBoundaryAttempt,
        Self::MediationTimeout,
        Self::PolicyBundleMissing,
        Self::InvalidModelOutput,
        Self::NotificationFailed,
        Self::TakeUnanswered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConflictingClaims => "conflicting_claims",
            Self::FraudIndicator => "fraud_indicator",
            Self::LowConfidence => "low_confidence",
            Self::PartyUnresponsive => "party_unresponsive",
            Self::RoundLimit => "round_limit",
            Self::ReasoningUnavailable => "reasoning_unavailable",
            Self::AuthorizationLost => "authorization_lost",
            Self::AuthorityBoundaryAttempt => "authority_boundary_attempt",
            Self::MediationTimeout => "mediation_timeout",
            Self::PolicyBundleMissing => "policy_bundle_missing",
            Self::InvalidModelOutput => "invalid_model_output",
            Self::NotificationFailed => "notification_failed",
            Self::TakeUnanswered => "take_unanswered",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a human solver needs to pick the dispute up: ids only, never rationale text.
/// Serialized with its fields in this order; `session_id` is omitted (never `null`) for a
/// dispute-scoped handoff, and a `null` one reads back as absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffPackage {
    pub dispute_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub trigger: String,
    pub evidence_refs: Vec<String>,
    pub prompt_bundle_id: String,
    pub policy_hash: String,
    pub rationale_refs: Vec<String>,
    pub assembled_at: i64,
}

/// Who receives a handoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The dispute's assigned solver is a configured write solver: it alone.
    Targeted(PublicKey),
    /// Every write solver, or (`fallback`) every solver when there is no write solver.
    Broadcast { recipients: Vec<PublicKey>, fallback: bool },
    /// Nobody may receive it: no write solver and no fallback (or no solver at all).
    Unroutable,
}

impl Route {
    pub fn recipients(&self) -> Vec<PublicKey> {
        match self {
            Route::Targeted(one) => vec![*one],
            Route::Broadcast { recipients, .. } => recipients.clone(),
            Route::Unroutable => Vec::new(),
        }
    }

    pub fn is_fallback(&self) -> bool {
        matches!(self, Route::Broadcast { fallback: true, .. })
    }
}

/// Routing rules, in order: (1) an assigned solver that is a configured write solver gets it
/// alone; (2) otherwise every write solver (a read-permission assignee is ignored); (3) with no
/// write solver and `fallback_to_all`, every solver; (4) otherwise nobody. Config order is kept.
pub fn route(solvers: &[Solver], assigned: Option<&str>, fallback_to_all: bool) -> Route {
    let writers: Vec<PublicKey> =
        solvers.iter().filter(|s| s.permission == Permission::Write).map(|s| s.pubkey).collect();
    if let Some(assigned) = assigned.and_then(|a| writers.iter().find(|w| w.to_hex() == a)) {
        return Route::Targeted(*assigned);
    }
    if !writers.is_empty() {
        return Route::Broadcast { recipients: writers, fallback: false };
    }
    if fallback_to_all && !solvers.is_empty() {
        return Route::Broadcast { recipients: solvers.iter().map(|s| s.pubkey).collect(), fallback: true };
    }
    Route::Unroutable
}

/// First line of every handoff DM; an incompatible change becomes `escalation_handoff/v2`.
pub const HANDOFF_VERSION_LINE: &str = "escalation_handoff/v1";
/// The session line of a handoff prepared before any mediation session existed.
pub const NO_SESSION_MARKER: &str = "<none — dispute-scoped handoff>";

/// The `escalation_handoff/v1` DM: version line, headers, a one-line summary for the person,
/// and the package as one JSON line for their tools. Deterministic: no send time inside.
pub fn handoff_text(package: &HandoffPackage) -> String {
    let session = package.session_id.as_deref().unwrap_or(NO_SESSION_MARKER);
    let (dispute, trigger) = (&package.dispute_id, &package.trigger);
    let json = serde_json::to_string(package).expect("a handoff package always serializes");
    format!(
        "{HANDOFF_VERSION_LINE}\nDispute: {dispute}\nSession: {session}\nTrigger: {trigger}\n\n\
         Escalation required for dispute {dispute} (trigger: {trigger}). It was evaluated by \
         Serbero's mediation assistance system and needs human judgment. Please run TakeDispute \
         for dispute {dispute} on your Mostro instance to see the full context.\n\n\
         Handoff payload (JSON):\n{json}"
    )
}

/// The subject of a handoff DM's Mostrix form: a solver who has the session's alert already
/// (`alerted`) gets the package without a second alert; anyone else is alerted by this one.
pub fn handoff_subject(package: &HandoffPackage, alerted: bool) -> Subject {
    if alerted {
        return Subject::HandoffPackage;
    }
    match (&package.session_id, Trigger::parse(&package.trigger)) {
        (None, _) => Subject::CouldNotStart,
        (Some(_), Some(trigger)) => Subject::HandedOff(HandoffReason::Escalated(trigger)),
        (Some(_), None) => Subject::HandedOff(HandoffReason::Unrecognised),
    }
}

/// What the dispatcher knows of the dispute a handoff names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeFacts {
    pub resolved: bool,
    pub assigned_solver: Option<String>,
}

/// What becomes of one prepared handoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Unusable: recorded once and consumed. `reason` is `deserialize_failed` or
    /// `orphan_dispute_reference`.
    ParseFailed {
        dispute_id: String,
        reason: &'static str,
        detail: String,
    },
    /// The dispute is already resolved: nobody is asked to take it.
    Superseded {
        dispute_id: String,
    },
    /// Nobody may receive it under the current configuration.
    Unroutable {
        dispute_id: String,
    },
    Dispatch {
        package: HandoffPackage,
        route: Route,
    },
}

/// `escalation_handoffs.outcome`: how a handoff was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffOutcome {
    Dispatched,
    Superseded,
    Unroutable,
    ParseFailed,
}

impl HandoffOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispatched => "dispatched",
            Self::Superseded => "superseded",
            Self::Unroutable => "unroutable",
            Self::ParseFailed => "parse_failed",
        }
    }
}

/// Decides one handoff from its stored payload and the facts of the dispute it names
/// (`facts` is `None` when no such dispute exists).
pub fn decide(
    payload: &str,
    facts: impl FnOnce(&str) -> Option<DisputeFacts>,
    solvers: &[Solver],
    fallback_to_all: bool,
) -> Decision {
    let package: HandoffPackage = match serde_json::from_str(payload) {
        Ok(package) => package,
        Err(e) => {
            return Decision::ParseFailed {
                dispute_id: loose_dispute_id(payload),
                reason: "deserialize_failed",
                detail: e.to_string(),
            }
        }
    };
    let dispute_id = package.dispute_id.clone();
    let Some(facts) = facts(&dispute_id) else {
        return Decision::ParseFailed {
            dispute_id,
            reason: "orphan_dispute_reference",
            detail: "dispute_id not found".to_string(),
        };
    };
    if facts.resolved {
        return Decision::Superseded { dispute_id };
    }
    match route(solvers, facts.assigned_solver.as_deref(), fallback_to_all) {
        Route::Unroutable => Decision::Unroutable { dispute_id },
        route => Decision::Dispatch { package, route },
    }
}

/// The dispute id of a payload that is JSON but not a package, or `unknown`.
fn loose_dispute_id(payload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("dispute_id").and_then(|d| d.as_str()).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::Keys;

    #[test]
    fn a_handoff_alerts_only_whoever_the_alert_missed() {
        let package = |session: Option<&str>, trigger: &str| HandoffPackage {
            dispute_id: "d".into(),
            session_id: session.map(str::to_string),
            trigger: trigger.into(),
            evidence_refs: vec![],
            prompt_bundle_id: "b".into(),
            policy_hash: "h".into(),
            rationale_refs: vec![],
            assembled_at: 0,
        };
        let cases = [
            (package(Some("s"), "fraud_indicator"), true, "handoff package"),
            (package(None, "low_confidence"), true, "handoff package"),
            (package(Some("s"), "fraud_indicator"), false, "handed off: fraud_indicator"),
            (package(None, "low_confidence"), false, "mediation could not start"),
            (package(Some("s"), "from_the_future"), false, "handed off: escalated"),
        ];
        for (package, alerted, subject) in cases {
            assert_eq!(handoff_subject(&package, alerted).to_string(), subject);
        }
    }

    fn solver(permission: Permission) -> Solver {
        Solver::new(Keys::generate().public_key(), permission)
    }

    #[test]
    fn routing_table() {
        let (w1, w2, r1, r2) =
            (solver(Permission::Write), solver(Permission::Write), solver(Permission::Read), solver(Permission::Read));
        let hex = |s: &Solver| s.pubkey.to_hex();
        let unknown = Keys::generate().public_key().to_hex();
        let broadcast =
            |v: &[&Solver], fallback| Route::Broadcast { recipients: v.iter().map(|s| s.pubkey).collect(), fallback };
        let all = [w1.clone(), r1.clone(), w2.clone()];
        // (name, solvers, assigned solver, fallback, expected route)
        type Case = (&'static str, Vec<Solver>, Option<String>, bool, Route);
        let cases: Vec<Case> = vec![
            ("assigned write solver alone", all.to_vec(), Some(hex(&w2)), false, Route::Targeted(w2.pubkey)),
            (
                "assigned unknown key: write broadcast",
                all.to_vec(),
                Some(unknown),
                false,
                broadcast(&[&w1, &w2], false),
            ),
            ("assigned read solver ignored", all.to_vec(), Some(hex(&r1)), false, broadcast(&[&w1, &w2], false)),
            ("no assignment: write broadcast", all.to_vec(), None, true, broadcast(&[&w1, &w2], false)),
            ("no writer, fallback: everyone", vec![r1.clone(), r2.clone()], None, true, broadcast(&[&r1, &r2], true)),
            ("no writer, no fallback", vec![r1.clone(), r2.clone()], Some(hex(&r1)), false, Route::Unroutable),
            ("no solver, no fallback", vec![], None, false, Route::Unroutable),
            ("no solver, fallback", vec![], None, true, Route::Unroutable),
        ];
        for (name, solvers, assigned, fallback, want) in cases {
            assert_eq!(route(&solvers, assigned.as_deref(), fallback), want, "{name}");
        }
    }

    fn package(session: Option<&str>) -> HandoffPackage {
        HandoffPackage {
            dispute_id: "d-1".into(),
            session_id: session.map(str::to_string),
            trigger: Trigger::LowConfidence.to_string(),
            evidence_refs: vec!["ev1".into()],
            prompt_bundle_id: "bundle".into(),
            policy_hash: "hash".into(),
            rationale_refs: vec!["ab".repeat(32)],
            assembled_at: 1_700_000_000,
        }
    }

    #[test]
    fn handoff_text_is_byte_exact() {
        let want = "escalation_handoff/v1\nDispute: d-1\nSession: s-9\nTrigger: low_confidence\n\n\
             Escalation required for dispute d-1 (trigger: low_confidence). It was evaluated by Serbero's \
             mediation assistance system and needs human judgment. Please run TakeDispute for dispute d-1 \
             on your Mostro instance to see the full context.\n\nHandoff payload (JSON):\n\
             {\"dispute_id\":\"d-1\",\"session_id\":\"s-9\",\"trigger\":\"low_confidence\",\"evidence_refs\":[\"ev1\"],\
             \"prompt_bundle_id\":\"bundle\",\"policy_hash\":\"hash\",\"rationale_refs\":[\""
            .to_string()
            + &"ab".repeat(32)
            + "\"],\"assembled_at\":1700000000}";
        assert_eq!(handoff_text(&package(Some("s-9"))), want);
    }

    #[test]
    fn dispute_scoped_handoff_has_the_marker_and_no_session_key() {
        let text = handoff_text(&package(None));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "escalation_handoff/v1");
        assert_eq!(lines[2], "Session: <none \u{2014} dispute-scoped handoff>");
        assert_eq!(lines[7], "Handoff payload (JSON):");
        assert!(!lines[8].contains("session_id"));
        let back: HandoffPackage = serde_json::from_str(lines[8]).unwrap();
        assert_eq!(back, package(None));
        assert!(!text.ends_with('\n'));
    }

    #[test]
    fn null_session_reads_as_absent() {
        let json = r#"{"dispute_id":"d","session_id":null,"trigger":"round_limit","evidence_refs":[],
            "prompt_bundle_id":"b","policy_hash":"h","rationale_refs":[],"assembled_at":1}"#;
        let parsed: HandoffPackage = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.session_id, None);
    }

    #[test]
    fn triggers_round_trip() {
        for t in Trigger::ALL {
            assert_eq!(Trigger::parse(t.as_str()), Some(t));
        }
        assert_eq!(Trigger::parse("suspected_fraud"), None);
    }
    #[test]
    fn decisions() {
        let writer = solver(Permission::Write);
        let reader = solver(Permission::Read);
        let good = serde_json::to_string(&package(Some("s"))).unwrap();
        let open = |_: &str| Some(DisputeFacts { resolved: false, assigned_solver: None });
        let resolved = |_: &str| Some(DisputeFacts { resolved: true, assigned_solver: None });
        let missing = |_: &str| None;
        let parse_failed = |id: &str, reason| match decide(id, open, std::slice::from_ref(&writer), false) {
            Decision::ParseFailed { dispute_id, reason: r, detail } => {
                assert_eq!(r, reason);
                assert!(!detail.is_empty());
                dispute_id
            }
            other => panic!("expected a parse failure, got {other:?}"),
        };
        assert_eq!(parse_failed(r#"{"dispute_id":"d-7","trigger":1}"#, "deserialize_failed"), "d-7");
        assert_eq!(parse_failed("not json", "deserialize_failed"), "unknown");
        assert_eq!(
            decide(&good, missing, std::slice::from_ref(&writer), false),
            Decision::ParseFailed {
                dispute_id: "d-1".into(),
                reason: "orphan_dispute_reference",
                detail: "dispute_id not found".into()
            }
        );
        assert_eq!(
            decide(&good, resolved, std::slice::from_ref(&writer), false),
            Decision::Superseded { dispute_id: "d-1".into() }
        );
        assert_eq!(
            decide(&good, open, std::slice::from_ref(&reader), false),
            Decision::Unroutable { dispute_id: "d-1".into() }
        );
        assert_eq!(
            decide(&good, open, &[reader.clone(), writer.clone()], false),
            Decision::Dispatch {
                package: package(Some("s")),
                route: Route::Broadcast { recipients: vec![writer.pubkey], fallback: false }
            }
        );
    }
}
