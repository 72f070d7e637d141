//! The dispute lifecycle (`disputes.lifecycle_state`) and the pure decision of what an observed
//! dispute event does to it. The Dispute actor stores and sends what [`intake`] decides.

use std::fmt;

use crate::dispute::{DisputeEvent, DisputeStatus};
use crate::notification::NotifType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    New,
    Notified,
    Taken,
    Waiting,
    Escalated,
    Resolved,
}

impl LifecycleState {
    pub const ALL: [LifecycleState; 6] =
        [Self::New, Self::Notified, Self::Taken, Self::Waiting, Self::Escalated, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Notified => "notified",
            Self::Taken => "taken",
            Self::Waiting => "waiting",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The allow-list of the earlier Serbero, kept so its databases stay meaningful.
    pub fn can_become(self, to: LifecycleState) -> bool {
        use LifecycleState::*;
        matches!(
            (self, to),
            (New, Notified | Taken | Resolved)
                | (Notified, Notified | Taken | Escalated | Resolved)
                | (Taken, Waiting | Escalated | Resolved)
                | (Waiting, Taken | Escalated | Resolved)
                | (Escalated, Resolved)
        )
    }

    /// Unattended disputes are the ones the re-notification timer looks after.
    pub const UNATTENDED: [LifecycleState; 2] = [Self::New, Self::Notified];

    pub fn is_unattended(self) -> bool {
        Self::UNATTENDED.contains(&self)
    }

    /// [`Self::UNATTENDED`] as a JSON array of stored names, for `IN (SELECT value FROM json_each(?))`.
    pub fn unattended_json() -> String {
        serde_json::json!(Self::UNATTENDED.map(Self::as_str)).to_string()
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `dispute_state_transitions.trigger` values written by the core.
pub mod trigger {
    pub const DETECTED: &str = "dispute_detected";
    pub const INITIAL_NOTIFICATION: &str = "initial_notification";
    pub const RE_NOTIFICATION: &str = "re_notification";
    pub const RESOLVED_EXTERNALLY: &str = "dispute_resolved_externally";
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: LifecycleState,
    pub to: LifecycleState,
    /// For a take, the id of the `in-progress` event, as the earlier Serbero wrote it.
    pub trigger: String,
}

/// What one new (dispute, status) observation does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effects {
    /// Insert the `disputes` row (first sighting); it starts in `new`.
    pub create: bool,
    pub transition: Option<Transition>,
    /// Record the `p` tag as the assigned solver.
    pub assign_solver: bool,
    /// Fan a notification of this type out to every configured solver.
    pub notify: Option<NotifType>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// This (dispute, status) was observed before: replays, other relays, restarts.
    Duplicate,
    /// Nothing to record; the reason is logged.
    Skip(&'static str),
    /// Record the observation and apply these effects.
    Apply(Effects),
}

/// Decides what an event does, given the dispute's stored state (`None` if never seen) and
/// whether this status was already observed for it.
pub fn intake(current: Option<LifecycleState>, status_seen: bool, event: &DisputeEvent) -> Intake {
    use LifecycleState::*;
    if status_seen {
        return Intake::Duplicate;
    }
    let status = &event.status;
    let from = current.unwrap_or(New);
    let target = match status {
        DisputeStatus::InProgress => Some(Taken),
        s if s.is_terminal() => Some(Resolved),
        _ => None,
    };
    if current.is_none() && matches!(status, DisputeStatus::Other(_)) {
        return Intake::Skip("unknown status for a dispute never seen before");
    }
    let transition = target.filter(|to| from.can_become(*to)).map(|to| Transition {
        from,
        to,
        trigger: match to {
            Taken => event.event_id.clone(),
            _ => trigger::RESOLVED_EXTERNALLY.to_string(),
        },
    });
    let notify = match (&transition, status) {
        (None, DisputeStatus::Initiated) if current.is_none() => Some(NotifType::Initial),
        (Some(t), _) if t.to == Taken => Some(NotifType::Assignment),
        _ => None,
    };
    Intake::Apply(Effects {
        create: current.is_none(),
        assign_solver: transition.as_ref().is_some_and(|t| t.to == Taken) && event.assigned_solver.is_some(),
        transition,
        notify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unattended_states_bind_by_their_stored_names() {
        assert_eq!(LifecycleState::unattended_json(), r#"["new","notified"]"#);
        for state in LifecycleState::ALL {
            assert_eq!(
                state.is_unattended(),
                matches!(state, LifecycleState::New | LifecycleState::Notified),
                "{state}"
            );
        }
    }
    use crate::dispute::Initiator;
    use LifecycleState::*;

    #[test]
    fn transition_allow_list() {
        let allowed = [
            (New, Notified),
            (New, Taken),
            (New, Resolved),
            (Notified, Notified),
            (Notified, Taken),
            (Notified, Escalated),
            (Notified, Resolved),
            (Taken, Waiting),
            (Taken, Escalated),
            (Taken, Resolved),
            (Waiting, Taken),
            (Waiting, Escalated),
            (Waiting, Resolved),
            (Escalated, Resolved),
        ];
        for from in LifecycleState::ALL {
            for to in LifecycleState::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in LifecycleState::ALL {
            assert_eq!(LifecycleState::parse(s.as_str()), Some(s));
        }
        assert_eq!(LifecycleState::parse("NEW"), None);
    }

    fn event(status: &str, solver: Option<&str>) -> DisputeEvent {
        DisputeEvent {
            dispute_id: "d1".into(),
            status: DisputeStatus::parse(status),
            initiator: Initiator::Buyer,
            assigned_solver: solver.map(str::to_string),
            event_id: "ev".into(),
            mostro_pubkey: "mostro".into(),
            created_at: 1,
        }
    }

    fn apply(
        create: bool,
        t: Option<(LifecycleState, LifecycleState, &str)>,
        assign: bool,
        notify: Option<NotifType>,
    ) -> Intake {
        Intake::Apply(Effects {
            create,
            transition: t.map(|(from, to, trigger)| Transition { from, to, trigger: trigger.into() }),
            assign_solver: assign,
            notify,
        })
    }

    #[test]
    fn intake_table() {
        let resolved = trigger::RESOLVED_EXTERNALLY;
        // (stored state, status seen before, status, p tag, expected)
        type Case = (Option<LifecycleState>, bool, &'static str, Option<&'static str>, Intake);
        let cases: Vec<Case> = vec![
            (None, false, "initiated", None, apply(true, None, false, Some(NotifType::Initial))),
            (
                None,
                false,
                "in-progress",
                None,
                apply(true, Some((New, Taken, "ev")), false, Some(NotifType::Assignment)),
            ),
            (
                None,
                false,
                "in-progress",
                Some("p"),
                apply(true, Some((New, Taken, "ev")), true, Some(NotifType::Assignment)),
            ),
            (None, false, "settled", None, apply(true, Some((New, Resolved, resolved)), false, None)),
            (None, false, "cooperatively-canceled", None, apply(true, Some((New, Resolved, resolved)), false, None)),
            (None, false, "paused", None, Intake::Skip("unknown status for a dispute never seen before")),
            (Some(New), true, "initiated", None, Intake::Duplicate),
            (Some(Notified), true, "in-progress", None, Intake::Duplicate),
            (
                Some(Notified),
                false,
                "in-progress",
                Some("p"),
                apply(false, Some((Notified, Taken, "ev")), true, Some(NotifType::Assignment)),
            ),
            (
                Some(New),
                false,
                "in-progress",
                None,
                apply(false, Some((New, Taken, "ev")), false, Some(NotifType::Assignment)),
            ),
            (Some(Taken), false, "initiated", None, apply(false, None, false, None)),
            (Some(Notified), false, "released", None, apply(false, Some((Notified, Resolved, resolved)), false, None)),
            (Some(Taken), false, "seller-refunded", None, apply(false, Some((Taken, Resolved, resolved)), false, None)),
            (Some(Escalated), false, "settled", None, apply(false, Some((Escalated, Resolved, resolved)), false, None)),
            (Some(Resolved), false, "settled", None, apply(false, None, false, None)),
            (Some(Resolved), false, "in-progress", None, apply(false, None, false, None)),
            (Some(Taken), false, "paused", None, apply(false, None, false, None)),
            (Some(Escalated), false, "in-progress", Some("p"), apply(false, None, false, None)),
        ];
        for (current, seen, status, solver, want) in cases {
            assert_eq!(intake(current, seen, &event(status, solver)), want, "{current:?} seen={seen} {status}");
        }
    }
}
