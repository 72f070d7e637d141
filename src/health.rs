//! Whether the daemon is healthy, judged from what its actor tree reports. Pure, so every reason
//! `GET /health` can give is a line of a table test.
//!
//! Healthy means: the tree runs and no child is being restarted, at least one relay is
//! connected, and each optional part the operator enabled is doing its job (mediation brought up,
//! Serbero still standing as a solver).

use serde::Serialize;

use crate::auth_retry::AuthState;

/// What became of a question put to an actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<T> {
    /// The actor does not run in this configuration.
    Absent,
    /// The actor runs but did not answer in time.
    Silent,
    Said(T),
}

/// The supervisor's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    /// Its children are starting for the first time.
    Starting,
    Running,
    Stopped,
}

/// Mediation as far as the supervisor knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mediation {
    /// `[mediation].enabled` is false.
    Off,
    /// `[mediation]` is enabled but `[reasoning]` is not (or its API key is missing).
    WithoutReasoning,
    /// The prompt bundle and the model endpoint are being checked.
    Starting,
    Running,
    /// The bring-up failed; mediation is off until the daemon restarts. The cause is for the log
    /// only: it may name the provider's endpoint, model or error text, which `/health` never shows.
    Failed(String),
}

impl Mediation {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mediation::Off => "off",
            Mediation::WithoutReasoning => "without_reasoning",
            Mediation::Starting => "starting",
            Mediation::Running => "running",
            Mediation::Failed(_) => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RelayLink {
    pub url: String,
    pub connected: bool,
}

/// Everything the judgement looks at.
#[derive(Clone, Debug)]
pub struct Observed {
    pub tree: Tree,
    /// Children the supervisor is restarting right now.
    pub restarting: Vec<String>,
    pub relays: Answer<Vec<RelayLink>>,
    pub mediation: Mediation,
    pub solver_standing: Answer<AuthState>,
}

/// The body of `GET /health`; `status` is `ok` (HTTP 200) or `unavailable` (HTTP 503).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    pub status: &'static str,
    /// Why it is unavailable, one sentence each; empty when `ok`.
    pub reasons: Vec<String>,
    pub relays: Vec<RelayLink>,
    pub restarting: Vec<String>,
    pub mediation: &'static str,
    /// Serbero's standing as a solver on the node, when mediation runs.
    pub solver_standing: Option<&'static str>,
}

impl Health {
    pub fn is_ok(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// The reason `/health` gives for a failed bring-up: fixed, since the cause may carry the model
/// provider's internals (its URL, model, error text); the daemon's ERROR line says which it was.
pub const MEDIATION_FAILED: &str =
    "mediation disabled for this run: its bring-up failed (the ERROR line `mediation disabled for this run` in the log says why)";

pub fn judge(seen: &Observed) -> Health {
    let mut reasons = Vec::new();
    match seen.tree {
        Tree::Starting => reasons.push("the actor tree is starting".to_owned()),
        Tree::Stopped => reasons.push("the actor tree stopped".to_owned()),
        Tree::Running => {}
    }
    if !seen.restarting.is_empty() {
        reasons.push(format!("restarting: {}", seen.restarting.join(", ")));
    }
    let relays = match &seen.relays {
        Answer::Said(relays) => relays.clone(),
        Answer::Silent => {
            reasons.push("the relay actor did not answer".to_owned());
            Vec::new()
        }
        Answer::Absent => {
            reasons.push("the relay actor is not running".to_owned());
            Vec::new()
        }
    };
    if matches!(seen.relays, Answer::Said(_)) && !relays.iter().any(|relay| relay.connected) {
        let down: Vec<&str> = relays.iter().map(|relay| relay.url.as_str()).collect();
        reasons.push(format!("no relay connected (down: {})", down.join(", ")));
    }
    match &seen.mediation {
        Mediation::WithoutReasoning => {
            reasons.push("mediation is enabled but [reasoning] is not (or its API key is missing)".to_owned())
        }
        Mediation::Failed(_) => reasons.push(MEDIATION_FAILED.to_owned()),
        Mediation::Off | Mediation::Starting | Mediation::Running => {}
    }
    match &seen.solver_standing {
        Answer::Said(AuthState::Terminated) => reasons.push(
            "Serbero is not a registered solver of the Mostro node: the evidence outlived the retry schedule \
             (AuthRetry terminated); register its key and restart"
                .to_owned(),
        ),
        Answer::Silent => reasons.push("the solver-authorization actor did not answer".to_owned()),
        Answer::Said(_) | Answer::Absent => {}
    }
    Health {
        status: if reasons.is_empty() { "ok" } else { "unavailable" },
        reasons,
        relays,
        restarting: seen.restarting.clone(),
        mediation: seen.mediation.as_str(),
        solver_standing: match seen.solver_standing {
            Answer::Said(state) => Some(state.as_str()),
            Answer::Absent | Answer::Silent => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(url: &str, connected: bool) -> RelayLink {
        RelayLink { url: url.to_owned(), connected }
    }

    fn all_well() -> Observed {
        Observed {
            tree: Tree::Running,
            restarting: Vec::new(),
            relays: Answer::Said(vec![link("wss://a", true), link("wss://b", false)]),
            mediation: Mediation::Running,
            solver_standing: Answer::Said(AuthState::Authorized),
        }
    }

    #[test]
    fn each_fault_is_named_and_everything_else_is_ok() {
        type Change = fn(&mut Observed);
        let cases: &[(&str, Change, Option<&str>)] = &[
            ("all well, one relay of two down", |_| {}, None),
            ("core only", |o| (o.mediation, o.solver_standing) = (Mediation::Off, Answer::Absent), None),
            ("mediation starting", |o| o.mediation = Mediation::Starting, None),
            ("still checking standing", |o| o.solver_standing = Answer::Said(AuthState::Unauthorized), None),
            ("tree starting", |o| o.tree = Tree::Starting, Some("the actor tree is starting")),
            ("tree stopped", |o| o.tree = Tree::Stopped, Some("the actor tree stopped")),
            (
                "restarting",
                |o| o.restarting = vec!["relay".into(), "dispute".into()],
                Some("restarting: relay, dispute"),
            ),
            ("relay actor silent", |o| o.relays = Answer::Silent, Some("the relay actor did not answer")),
            ("relay actor gone", |o| o.relays = Answer::Absent, Some("the relay actor is not running")),
            (
                "every relay down",
                |o| o.relays = Answer::Said(vec![link("wss://a", false), link("wss://b", false)]),
                Some("no relay connected (down: wss://a, wss://b)"),
            ),
            ("no relay at all", |o| o.relays = Answer::Said(vec![]), Some("no relay connected (down: )")),
            (
                "bring-up failed",
                |o| o.mediation = Mediation::Failed("the openai endpoint at http://x failed".into()),
                Some(MEDIATION_FAILED),
            ),
            (
                "no reasoning",
                |o| o.mediation = Mediation::WithoutReasoning,
                Some("mediation is enabled but [reasoning]"),
            ),
            (
                "auth terminated",
                |o| o.solver_standing = Answer::Said(AuthState::Terminated),
                Some("Serbero is not a registered solver"),
            ),
            (
                "auth silent",
                |o| o.solver_standing = Answer::Silent,
                Some("the solver-authorization actor did not answer"),
            ),
        ];
        for (name, change, reason) in cases {
            let mut seen = all_well();
            change(&mut seen);
            let health = judge(&seen);
            match reason {
                None => assert!(health.is_ok() && health.status == "ok", "{name}: {:?}", health.reasons),
                Some(reason) => {
                    assert_eq!(health.status, "unavailable", "{name}");
                    assert_eq!(health.reasons.len(), 1, "{name}: {:?}", health.reasons);
                    assert!(health.reasons[0].starts_with(reason), "{name}: {}", health.reasons[0]);
                }
            }
        }
    }

    #[test]
    fn the_body_shows_relays_mediation_and_standing() {
        let body = serde_json::to_value(judge(&all_well())).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "status": "ok",
                "reasons": [],
                "relays": [{"url": "wss://a", "connected": true}, {"url": "wss://b", "connected": false}],
                "restarting": [],
                "mediation": "running",
                "solver_standing": "authorized",
            })
        );
    }

    #[test]
    fn several_faults_are_all_reported() {
        let mut seen = all_well();
        seen.relays = Answer::Said(vec![link("wss://a", false)]);
        seen.mediation = Mediation::Failed("bundle missing".into());
        let health = judge(&seen);
        assert_eq!(health.reasons, ["no relay connected (down: wss://a)", MEDIATION_FAILED]);
    }

    /// A failed bring-up's cause names the provider's endpoint, model and error text (an internal
    /// host, a key an error body quoted): none of it reaches the body, only a fixed reason.
    #[test]
    fn a_failed_bring_up_shows_no_provider_internals() {
        let internals =
            ["http://10.1.2.3:8000/v1", "llm.internal.example", "my-private-model", "sk-live-4f9a", "401 Unauthorized"];
        let mut seen = all_well();
        seen.mediation = Mediation::Failed(format!(
            "the openai-compatible endpoint at {} (llm.internal.example) failed its health check \
             (unauthorized: 401 Unauthorized: invalid key sk-live-4f9a); model {}",
            internals[0], internals[2]
        ));
        let health = judge(&seen);
        let body = serde_json::to_string(&health).unwrap();
        for internal in internals {
            assert!(!body.contains(internal), "{internal} in {body}");
        }
        assert_eq!(health.reasons, [MEDIATION_FAILED]);
        assert_eq!(health.mediation, "failed");
    }
}
