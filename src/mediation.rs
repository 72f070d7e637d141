//! A mediation session's life (spec/mediation.md §3) as plain decisions the session actor acts
//! on: which disputes may be mediated, the session states and their legal moves, what the opening
//! verdict leads to, round counting, the timers, and the texts parties and solvers receive.

use std::fmt;

use nostr_sdk::{PublicKey, Timestamp};

use crate::chat::Party;
use crate::config::Solver;
use crate::escalation::Trigger;
use crate::lifecycle::LifecycleState;
use crate::policy::Decision;
use crate::reasoning::Label;

/// `mediation_sessions.state`. A row exists only once Serbero took the dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Taken; the first questions are not queued yet.
    Opening,
    /// Questions are out; waiting for the parties.
    AwaitingResponse,
    /// The model proposed a summary; it is not requested yet.
    Classified,
    /// The model proposed more questions mid-session; they are not queued yet.
    FollowUpPending,
    /// The summary is being written by the model.
    SummaryPending,
    /// The summary reached the solver(s).
    SummaryDelivered,
    EscalationRecommended,
    SupersededByHuman,
    Closed,
}

impl SessionState {
    pub const ALL: [SessionState; 9] = [
        Self::Opening,
        Self::AwaitingResponse,
        Self::Classified,
        Self::FollowUpPending,
        Self::SummaryPending,
        Self::SummaryDelivered,
        Self::EscalationRecommended,
        Self::SupersededByHuman,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opening => "opening",
            Self::AwaitingResponse => "awaiting_response",
            Self::Classified => "classified",
            Self::FollowUpPending => "follow_up_pending",
            Self::SummaryPending => "summary_pending",
            Self::SummaryDelivered => "summary_delivered",
            Self::EscalationRecommended => "escalation_recommended",
            Self::SupersededByHuman => "superseded_by_human",
            Self::Closed => "closed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Still mediating: the five states an escalation or a takeover may leave from.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Opening | Self::AwaitingResponse | Self::Classified | Self::FollowUpPending | Self::SummaryPending
        )
    }

    /// Whether the session may move from `self` to `to` (spec §3.2; never to itself).
    pub fn can_become(self, to: SessionState) -> bool {
        use SessionState::*;
        match (self, to) {
            (from, EscalationRecommended | SupersededByHuman) => from.is_live(),
            (Opening, AwaitingResponse)
            | (AwaitingResponse, Classified | FollowUpPending)
            | (Classified, SummaryPending | FollowUpPending)
            | (FollowUpPending, AwaitingResponse)
            | (SummaryPending, SummaryDelivered)
            | (SummaryDelivered | EscalationRecommended | SupersededByHuman, Closed) => true,
            _ => false,
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about a dispute when deciding whether to mediate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub lifecycle: LifecycleState,
    /// A session that is not closed or superseded (a summary or escalation also blocks).
    pub has_blocking_session: bool,
    /// An escalation recorded before any session (the opening verdict ruled mediation out).
    pub escalated_before_take: bool,
    /// A take that is live, or ended for good (taken over, resolved).
    pub take_blocks: bool,
    /// Seconds since a refused, unanswered or unusable take ended; `None` when there was none.
    pub since_failed_take: Option<i64>,
}

/// How long after a failed take the dispute is tried again.
pub const TAKE_RETRY_AFTER_SECS: i64 = 300;

/// A read solver can take only a dispute nobody has taken (`initiated`): `new` or `notified`.
pub fn eligible(c: &Candidate) -> bool {
    matches!(c.lifecycle, LifecycleState::New | LifecycleState::Notified)
        && !c.has_blocking_session
        && !c.escalated_before_take
        && !c.take_blocks
        && c.since_failed_take.is_none_or(|since| since >= TAKE_RETRY_AFTER_SECS)
}

/// What the opening verdict leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opening {
    /// No take: a dispute-scoped handoff, broadcast to every solver.
    EscalateBeforeTake(Trigger),
    /// Take the dispute, then ask each party its question.
    Take { buyer_text: String, seller_text: String },
}

/// Before anyone spoke there is nothing to summarize: an opening summary is unusable output.
pub fn opening(decision: Decision) -> Opening {
    match decision {
        Decision::Ask { buyer_text, seller_text } => Opening::Take { buyer_text, seller_text },
        Decision::Summarize => Opening::EscalateBeforeTake(Trigger::InvalidModelOutput),
        Decision::Escalate(trigger) => Opening::EscalateBeforeTake(trigger),
    }
}

/// A round is complete when both parties answered: the smaller count of fresh replies.
pub fn round_count(fresh_buyer: u32, fresh_seller: u32) -> u32 {
    fresh_buyer.min(fresh_seller)
}

/// A reply older than the newest one already taken from that party is stale: stored for the
/// audit, ignored for rounds and timers. Equal times are fresh (two messages in one second).
pub fn is_stale(newest_from_party: Option<i64>, inner_at: i64) -> bool {
    newest_from_party.is_some_and(|newest| inner_at < newest)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterReply {
    /// The round limit is reached: a human takes it from here.
    EscalateRoundLimit,
    /// Both parties answered a new round: ask the model what next.
    Evaluate,
    /// Waiting for the other party.
    Wait,
}

/// After a fresh reply moved the round count from `before` to `after`. The limit is checked
/// first, so `max_rounds = 0` escalates at the first reply.
pub fn after_reply(before: u32, after: u32, max_rounds: u32) -> AfterReply {
    if after >= max_rounds {
        AfterReply::EscalateRoundLimit
    } else if after > before {
        AfterReply::Evaluate
    } else {
        AfterReply::Wait
    }
}

/// When nobody having answered for `timeout` seconds escalates with `party_unresponsive`:
/// counted from the session start or the newest fresh reply (clamped to `now`, since a party's
/// clock may run ahead). `timeout = 0` disables it.
pub fn unresponsive_at(started_at: i64, newest_reply: Option<i64>, now: i64, timeout: u64) -> Option<i64> {
    if timeout == 0 {
        return None;
    }
    let reference = newest_reply.map_or(started_at, |at| at.min(now)).max(started_at);
    Some(reference + timeout as i64)
}

/// When the session as a whole has run too long (`mediation_timeout`); 0 disables it.
pub fn session_deadline(started_at: i64, limit: u64) -> Option<i64> {
    (limit > 0).then(|| started_at + limit as i64)
}

/// When a sleeping session must be back: its next timer, the earlier of the party-response
/// timeout ([`unresponsive_at`]) and the session deadline; `None` when both are disabled.
pub fn wakes_at(
    started_at: i64,
    newest_reply: Option<i64>,
    now: i64,
    party_timeout: u64,
    session_limit: u64,
) -> Option<i64> {
    [unresponsive_at(started_at, newest_reply, now, party_timeout), session_deadline(started_at, session_limit)]
        .into_iter()
        .flatten()
        .min()
}

/// How far before the newest message a re-watched chat channel asks relays to begin: the
/// parties' clocks may run behind ours.
pub const CHAT_RESUME_SKEW_SECS: i64 = 60;

/// Where a re-watched chat channel resumes: just before its newest stored message, else just
/// before `otherwise` (when the conversation began). Events read again are known and dropped;
/// resuming any later could miss a message sent while nobody watched.
pub fn chat_resumes_at(newest_message: Option<i64>, otherwise: i64) -> Timestamp {
    Timestamp::from_secs((newest_message.unwrap_or(otherwise) - CHAT_RESUME_SKEW_SECS).max(0) as u64)
}

/// The text a party receives: the role prefix keeps the two parties' messages distinct (and
/// tells each whom Serbero is addressing); follow-ups carry their round.
pub fn party_text(party: Party, followup: Option<u32>, text: &str) -> String {
    let role = match party {
        Party::Buyer => "Buyer",
        Party::Seller => "Seller",
    };
    match followup {
        Some(round) => format!("Round {round}. {role}: {}", text.trim()),
        None => format!("{role}: {}", text.trim()),
    }
}

/// Solver-facing DMs go to the dispute's assigned solver when it is a configured one, else to
/// every configured solver.
pub fn recipients(assigned: Option<&str>, solvers: &[Solver]) -> Vec<PublicKey> {
    let assigned = assigned.and_then(|hex| solvers.iter().find(|s| s.pubkey.to_hex() == hex));
    match assigned {
        Some(solver) => vec![solver.pubkey],
        None => solvers.iter().map(|s| s.pubkey).collect(),
    }
}

/// The summary a solver receives when the parties' coordination problem looks resolvable.
pub fn summary_dm(dispute_id: &str, session_id: &str, label: Label, confidence: f64, text: &str, next: &str) -> String {
    format!(
        "mediation_summary/v1\nDispute: {dispute_id}\nSession: {session_id}\nClassification: {label} (confidence {confidence:.2})\n\n{}\n\nSuggested next step: {}\n\nWritten by Serbero's mediation assistance system; the decision stays with you.",
        text.trim(),
        next.trim()
    )
}

/// The immediate alert of an escalation; the structured handoff follows from the dispatcher.
pub fn escalation_alert(dispute_id: &str, session_id: Option<&str>, trigger: Trigger) -> String {
    match session_id {
        Some(session) => format!(
            "Serbero mediation needs human judgment.\nDispute: {dispute_id}\nSession: {session}\nTrigger: {trigger}\nSerbero has stopped writing to the parties."
        ),
        None if trigger == Trigger::TakeUnanswered => format!(
            "Serbero mediation needs human judgment.\nDispute: {dispute_id}\nSession: <none — escalated before taking the dispute>\nTrigger: {trigger}\nThe Mostro node never answered Serbero's requests to take the dispute; take it yourself."
        ),
        None => format!(
            "Serbero mediation needs human judgment.\nDispute: {dispute_id}\nSession: <none — escalated before taking the dispute>\nTrigger: {trigger}\nSerbero's assessment ruled mediation out; it did not take the dispute."
        ),
    }
}

/// What the final report says about a dispute that resolved with mediation context.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportFacts {
    pub dispute_id: String,
    pub session_id: Option<String>,
    pub session_state: Option<SessionState>,
    pub classification: Option<(Label, f64)>,
    /// Distinct parties Serbero wrote to (0, 1 or 2).
    pub parties_written: u32,
    pub final_status: String,
    /// Why no session exists, when none does.
    pub no_session_reason: Option<String>,
}

/// `mediation_resolution_report/v1` (spec §6.4), broadcast to every solver.
pub fn resolution_report(f: &ReportFacts) -> String {
    let session = f.session_id.as_deref().unwrap_or("<none — dispute-scoped handoff>");
    let classification = match f.classification {
        Some((label, confidence)) => format!("{label} (confidence {confidence:.2})"),
        None => "<none recorded>".to_string(),
    };
    let session_clause = match (f.session_state, &f.no_session_reason) {
        (Some(state), _) => format!("Serbero's session ended in state {state}."),
        (None, Some(reason)) => format!("No session was opened: {reason}."),
        (None, None) => "No session was opened.".to_string(),
    };
    format!(
        "mediation_resolution_report/v1\nDispute: {}\nSession: {session}\nClassification: {classification}\nOutbound party messages: {}\nFinal dispute status: {}\n\nThe dispute was resolved ({}). {session_clause} Serbero wrote to {} of the two parties.",
        f.dispute_id, f.parties_written, f.final_status, f.final_status, f.parties_written
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Permission;
    use nostr_sdk::Keys;

    #[test]
    fn transitions_follow_the_spec_and_never_loop() {
        use SessionState::*;
        let allowed = [
            (Opening, AwaitingResponse),
            (AwaitingResponse, Classified),
            (AwaitingResponse, FollowUpPending),
            (Classified, SummaryPending),
            (Classified, FollowUpPending),
            (FollowUpPending, AwaitingResponse),
            (SummaryPending, SummaryDelivered),
            (SummaryDelivered, Closed),
            (EscalationRecommended, Closed),
            (SupersededByHuman, Closed),
        ];
        for from in SessionState::ALL {
            for to in SessionState::ALL {
                let expected = allowed.contains(&(from, to))
                    || (from.is_live() && matches!(to, EscalationRecommended | SupersededByHuman));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
            }
            assert_eq!(SessionState::parse(from.as_str()), Some(from));
        }
        let live: Vec<_> = SessionState::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, [Opening, AwaitingResponse, Classified, FollowUpPending, SummaryPending]);
    }

    #[test]
    fn only_an_untaken_unmediated_dispute_is_eligible() {
        let open = Candidate {
            lifecycle: LifecycleState::Notified,
            has_blocking_session: false,
            escalated_before_take: false,
            take_blocks: false,
            since_failed_take: None,
        };
        // (case, candidate, eligible)
        let cases = [
            ("notified, nothing recorded", open, true),
            ("new", Candidate { lifecycle: LifecycleState::New, ..open }, true),
            ("taken by someone", Candidate { lifecycle: LifecycleState::Taken, ..open }, false),
            ("resolved", Candidate { lifecycle: LifecycleState::Resolved, ..open }, false),
            ("a session blocks", Candidate { has_blocking_session: true, ..open }, false),
            ("escalated before take", Candidate { escalated_before_take: true, ..open }, false),
            ("a live or final take", Candidate { take_blocks: true, ..open }, false),
            ("a take failed a minute ago", Candidate { since_failed_take: Some(60), ..open }, false),
            ("a take failed long ago", Candidate { since_failed_take: Some(TAKE_RETRY_AFTER_SECS), ..open }, true),
        ];
        for (name, candidate, expected) in cases {
            assert_eq!(eligible(&candidate), expected, "{name}");
        }
    }

    #[test]
    fn the_opening_verdict_decides_whether_to_take() {
        let ask = Decision::Ask { buyer_text: "b".into(), seller_text: "s".into() };
        assert_eq!(opening(ask), Opening::Take { buyer_text: "b".into(), seller_text: "s".into() });
        assert_eq!(opening(Decision::Summarize), Opening::EscalateBeforeTake(Trigger::InvalidModelOutput));
        assert_eq!(
            opening(Decision::Escalate(Trigger::FraudIndicator)),
            Opening::EscalateBeforeTake(Trigger::FraudIndicator)
        );
    }

    #[test]
    fn rounds_stale_replies_and_the_limit() {
        assert_eq!((round_count(2, 1), round_count(0, 3), round_count(2, 2)), (1, 0, 2));
        assert_eq!((is_stale(None, 5), is_stale(Some(10), 9), is_stale(Some(10), 10)), (false, true, false));
        // (before, after, max_rounds, next)
        let cases = [
            (0, 0, 0, AfterReply::EscalateRoundLimit),
            (0, 0, 2, AfterReply::Wait),
            (0, 1, 2, AfterReply::Evaluate),
            (1, 1, 2, AfterReply::Wait),
            (1, 2, 2, AfterReply::EscalateRoundLimit),
            (2, 3, 5, AfterReply::Evaluate),
        ];
        for (before, after, max, next) in cases {
            assert_eq!(after_reply(before, after, max), next, "{before}->{after} of {max}");
        }
    }

    #[test]
    fn timers() {
        // (started, newest reply, now, timeout, escalate at)
        let cases = [
            (100, None, 150, 60, Some(160)),
            (100, Some(130), 150, 60, Some(190)),
            (100, Some(10_000), 150, 60, Some(210)),
            (100, Some(50), 150, 60, Some(160)),
            (100, Some(130), 150, 0, None),
        ];
        for (started, newest, now, timeout, at) in cases {
            assert_eq!(unresponsive_at(started, newest, now, timeout), at, "{started} {newest:?} {now}");
        }
        assert_eq!((session_deadline(100, 0), session_deadline(100, 50)), (None, Some(150)));
    }

    #[test]
    fn a_sleeping_session_wakes_at_its_earliest_timer() {
        // (started, newest reply, now, party timeout, session limit, expected)
        let cases = [
            (1_000, None, 1_500, 600, 3_600, Some(1_600)),
            (1_000, Some(1_200), 1_500, 600, 3_600, Some(1_800)),
            (1_000, Some(4_000), 1_500, 600, 1_000, Some(2_000)),
            (1_000, Some(1_200), 1_500, 0, 3_600, Some(4_600)),
            (1_000, None, 1_500, 600, 0, Some(1_600)),
            (1_000, None, 1_500, 0, 0, None),
        ];
        for (started, newest, now, party, limit, expected) in cases {
            assert_eq!(
                wakes_at(started, newest, now, party, limit),
                expected,
                "{started} {newest:?} {now} {party} {limit}"
            );
        }
    }

    #[test]
    fn a_rewatched_channel_resumes_just_before_its_newest_message() {
        // (newest message, otherwise, expected)
        let cases = [(Some(5_000), 1_000, 4_940), (None, 1_000, 940), (Some(30), 1_000, 0), (None, 0, 0)];
        for (newest, otherwise, expected) in cases {
            assert_eq!(chat_resumes_at(newest, otherwise).as_secs(), expected, "{newest:?} {otherwise}");
        }
    }

    #[test]
    fn texts_and_routing() {
        assert_eq!(party_text(Party::Buyer, None, " Did you pay? "), "Buyer: Did you pay?");
        assert_eq!(party_text(Party::Seller, Some(2), "Any news?"), "Round 2. Seller: Any news?");
        let (a, b) = (Keys::generate().public_key(), Keys::generate().public_key());
        let solvers = [Solver::new(a, Permission::Read), Solver::new(b, Permission::Write)];
        assert_eq!(recipients(Some(&b.to_hex()), &solvers), [b]);
        assert_eq!(recipients(Some(&Keys::generate().public_key().to_hex()), &solvers), [a, b]);
        assert_eq!(recipients(None, &solvers), [a, b]);
        let dm = summary_dm("d1", "s1", Label::CoordinationFailureResolvable, 0.876, "Paid late.", "Check bank.");
        assert!(dm.starts_with("mediation_summary/v1\nDispute: d1\nSession: s1\n"), "{dm}");
        assert!(
            dm.contains("coordination_failure_resolvable (confidence 0.88)")
                && dm.contains("Suggested next step: Check bank.")
        );
        assert!(escalation_alert("d1", None, Trigger::FraudIndicator).contains("did not take the dispute"));
        assert!(escalation_alert("d1", Some("s1"), Trigger::RoundLimit).contains("Trigger: round_limit"));
    }

    #[test]
    fn the_resolution_report_has_its_parseable_header() {
        let facts = ReportFacts {
            dispute_id: "d1".into(),
            session_id: Some("s1".into()),
            session_state: Some(SessionState::EscalationRecommended),
            classification: Some((Label::ConflictingClaims, 0.88)),
            parties_written: 2,
            final_status: "settled".into(),
            no_session_reason: None,
        };
        let report = resolution_report(&facts);
        let header: Vec<&str> = report.lines().take(6).collect();
        assert_eq!(
            header,
            [
                "mediation_resolution_report/v1",
                "Dispute: d1",
                "Session: s1",
                "Classification: conflicting_claims (confidence 0.88)",
                "Outbound party messages: 2",
                "Final dispute status: settled"
            ]
        );
        let none = ReportFacts {
            session_id: None,
            session_state: None,
            classification: None,
            parties_written: 0,
            no_session_reason: Some("the opening assessment escalated".into()),
            ..facts
        };
        let report = resolution_report(&none);
        assert!(
            report.contains("Session: <none — dispute-scoped handoff>")
                && report.contains("Classification: <none recorded>")
        );
        assert!(report.contains("No session was opened: the opening assessment escalated."));
    }
}
