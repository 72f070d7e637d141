//! What the HTTP endpoint learns about the running daemon: the view Root publishes of its tree
//! (read without a call, so it is there even while Root is busy restarting children), and the
//! answers of the Relay and AuthRetry actors, each asked with a short timeout.

use std::time::Duration;

use ractor::rpc::CallResult;
use serbero_core::health::{Answer, Mediation, Observed, RelayLink, Tree};
use tokio::sync::watch;

use crate::auth_retry::{self, AuthRetryRef};
use crate::relay::{self, RelayRef};

/// A healthy actor answers at once; a probe must answer well within a monitor's own timeout.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Root's tree as published to observers that are not actors. Root is its only writer.
#[derive(Clone)]
pub struct TreeView {
    pub tree: Tree,
    /// Children being restarted right now, in boot order.
    pub restarting: Vec<&'static str>,
    pub relay: Option<RelayRef>,
    pub auth_retry: Option<AuthRetryRef>,
    pub mediation: Mediation,
}

impl TreeView {
    pub fn starting(mediation: Mediation) -> Self {
        Self { tree: Tree::Starting, restarting: Vec::new(), relay: None, auth_retry: None, mediation }
    }
}

/// The view and the actors' answers now. A dropped publisher means Root is gone.
pub async fn observe(view: &watch::Receiver<TreeView>) -> Observed {
    let published = view.borrow().clone();
    let tree = if view.has_changed().is_err() { Tree::Stopped } else { published.tree };
    let (relays, solver_standing) = tokio::join!(relay_links(published.relay), solver_standing(published.auth_retry));
    Observed {
        tree,
        restarting: published.restarting.iter().map(|child| (*child).to_owned()).collect(),
        relays,
        mediation: published.mediation,
        solver_standing,
    }
}

async fn relay_links(relay: Option<RelayRef>) -> Answer<Vec<RelayLink>> {
    let Some(relay) = relay else { return Answer::Absent };
    match relay.call(relay::Msg::Status, Some(ASK_TIMEOUT)).await {
        Ok(CallResult::Success(status)) => {
            Answer::Said(status.relays.into_iter().map(|(url, connected)| RelayLink { url, connected }).collect())
        }
        _ => Answer::Silent,
    }
}

async fn solver_standing(auth_retry: Option<AuthRetryRef>) -> Answer<serbero_core::auth_retry::AuthState> {
    let Some(auth_retry) = auth_retry else { return Answer::Absent };
    match auth_retry.call(auth_retry::Msg::Status, Some(ASK_TIMEOUT)).await {
        Ok(CallResult::Success(status)) => Answer::Said(status.state),
        _ => Answer::Silent,
    }
}
