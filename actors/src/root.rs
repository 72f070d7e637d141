//! Root: supervises the core children in boot order. Boot and restart take one path,
//! [`start_child`]: a failed child is started again together with every child started after it
//! (they hold its ref), within a restart budget. Past the budget Root fails, the daemon exits
//! non-zero and the service manager restarts it; every actor reloads from the database.
//! Writes no table.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serbero_core::config::Config;
use serbero_core::supervision::RestartBudget;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::clock::Clock;
use crate::dispute::{self, Dispute, DisputeRef};
use crate::relay::{self, Relay, RelayRef};

pub type RootRef = ActorRef<Msg>;

const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// How long a child may take to finish its current message when stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub enum Msg {
    /// The running children; also a barrier.
    Children(RpcReplyPort<Children>),
}

#[derive(Clone)]
pub struct Children {
    pub relay: RelayRef,
    pub dispute: DisputeRef,
}

pub struct Args {
    pub config: Arc<Config>,
    pub clock: Clock,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Child {
    Relay,
    Dispute,
}

const BOOT_ORDER: [Child; 2] = [Child::Relay, Child::Dispute];

pub struct State {
    config: Arc<Config>,
    clock: Clock,
    relay: Option<RelayRef>,
    dispute: Option<DisputeRef>,
    by_id: HashMap<ActorId, Child>,
    budget: RestartBudget,
    started: Instant,
}

pub struct Root;

impl Actor for Root {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: RootRef, args: Args) -> Result<State, ActorProcessingErr> {
        let mut st = State {
            config: args.config,
            clock: args.clock,
            relay: None,
            dispute: None,
            by_id: HashMap::new(),
            budget: RestartBudget::new(MAX_RESTARTS, RESTART_WINDOW),
            started: Instant::now(),
        };
        for child in BOOT_ORDER {
            start_child(&me, child, &mut st).await?;
        }
        info!("actor tree started");
        Ok(st)
    }

    async fn handle(&self, _me: RootRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Children(reply) => {
                if let (Some(relay), Some(dispute)) = (&st.relay, &st.dispute) {
                    let _ = reply.send(Children { relay: relay.clone(), dispute: dispute.clone() });
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: RootRef,
        event: SupervisionEvent,
        st: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match &event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.clone().unwrap_or_else(|| "stopped".to_string()))
            }
            _ => return Ok(()),
        };
        // Children we stopped ourselves for a restart are no longer in the map.
        let Some(child) = st.by_id.remove(&cell.get_id()) else { return Ok(()) };
        if !st.budget.allow(st.started.elapsed()) {
            error!(?child, %reason, "child exited too often; stopping the daemon");
            return Err(format!("{child:?} exited too often (last: {reason})").into());
        }
        warn!(?child, %reason, "child exited; restarting it and the children that depend on it");
        let from = BOOT_ORDER.iter().position(|c| *c == child).unwrap_or(0);
        for later in BOOT_ORDER[from + 1..].iter().rev() {
            stop_child(*later, st).await;
        }
        for kind in &BOOT_ORDER[from..] {
            start_child(&me, *kind, st).await?;
        }
        Ok(())
    }

    /// Stops children in reverse boot order, each after the message it is handling commits.
    async fn post_stop(&self, _me: RootRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        for child in BOOT_ORDER.iter().rev() {
            stop_child(*child, st).await;
        }
        info!("actor tree stopped");
        Ok(())
    }
}

/// The one way a child starts, at boot and on restart: its arguments are rebuilt from the
/// configuration and the refs of the children started before it.
async fn start_child(me: &RootRef, child: Child, st: &mut State) -> Result<(), ActorProcessingErr> {
    let cfg = &st.config;
    let cell = match child {
        Child::Relay => {
            let args =
                relay::Args { keys: cfg.serbero.keys.clone(), mostro: cfg.mostro.pubkey, relays: cfg.relays.clone() };
            let (relay, _) = Actor::spawn_linked(None, Relay, args, me.get_cell()).await?;
            st.relay = Some(relay.clone());
            relay.get_cell()
        }
        Child::Dispute => {
            let relay = st.relay.clone().ok_or("relay must start before dispute")?;
            let args = dispute::Args {
                db_path: PathBuf::from(&cfg.serbero.db_path),
                keys: cfg.serbero.keys.clone(),
                solvers: cfg.solvers.clone(),
                timeouts: cfg.timeouts.clone(),
                outbox: cfg.outbox.clone(),
                relay,
                clock: st.clock,
            };
            let (dispute, _) = Actor::spawn_linked(None, Dispute, args, me.get_cell()).await?;
            st.dispute = Some(dispute.clone());
            dispute.get_cell()
        }
    };
    st.by_id.insert(cell.get_id(), child);
    Ok(())
}

async fn stop_child(child: Child, st: &mut State) {
    let cell = match child {
        Child::Relay => st.relay.take().map(|r| r.get_cell()),
        Child::Dispute => st.dispute.take().map(|d| d.get_cell()),
    };
    let Some(cell) = cell else { return };
    st.by_id.remove(&cell.get_id());
    if let Err(e) = cell.stop_and_wait(None, Some(STOP_TIMEOUT)).await {
        warn!(?child, error = %e, "child did not stop in time");
    }
}
