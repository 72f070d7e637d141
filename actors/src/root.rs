//! Root: supervises its children in boot order (Relay, Dispute, then the EscalationDispatcher
//! when escalation is enabled, AuthRetry when mediation is, and Sessions once mediation's
//! bring-up — prompt bundle, model endpoint health — succeeded in the background). Boot and restart take one path,
//! [`start_child`]: a failed child is started again together with every child started after it
//! (they hold its ref), within a restart budget. Past the budget Root fails, the daemon exits
//! non-zero and the service manager restarts it; every actor reloads from the database.
//! Publishes its view of the tree (starting, running, stopped; children being restarted; where
//! mediation stands) on a watch channel for the health endpoint, and counts restarts for
//! `/metrics`. Writes no table.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serbero_core::auth_retry::AuthSchedule;
use serbero_core::config::{Config, Permission};
use serbero_core::health::{Mediation, Tree};
use serbero_core::supervision::RestartBudget;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::auth_retry::{self, AuthRetry, AuthRetryRef};
use crate::base::Base;
use crate::clock::Clock;
use crate::dispute::{self, Dispute, DisputeRef};
use crate::escalation::{self, EscalationDispatcher, EscalationRef};
use crate::health::TreeView;
use crate::outbox::Directory;
use crate::prometheus;
use crate::relay::{self, Relay, RelayRef};
use crate::session::Mediator;
use crate::sessions::{self, BroughtUp, Sessions, SessionsRef};

pub type RootRef = ActorRef<Msg>;

const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// How long a child may take to finish its current message when stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub enum Msg {
    /// The running children; also a barrier.
    Children(RpcReplyPort<Children>),
    /// Mediation's bring-up succeeded: start the sessions.
    MediationReady(BroughtUp),
    /// Mediation's bring-up failed; mediation stays off for this run.
    MediationFailed(String),
}

#[derive(Clone)]
pub struct Children {
    pub relay: RelayRef,
    pub dispute: DisputeRef,
    /// Present when `[escalation].enabled`.
    pub escalation: Option<EscalationRef>,
    /// Present when `[mediation].enabled`.
    pub auth_retry: Option<AuthRetryRef>,
    /// Present once mediation's bring-up succeeded.
    pub sessions: Option<SessionsRef>,
}

pub struct Args {
    pub config: Arc<Config>,
    pub clock: Clock,
    /// Where the tree's state is published for the health endpoint.
    pub view: watch::Sender<TreeView>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Child {
    Relay,
    Dispute,
    Escalation,
    AuthRetry,
    Sessions,
}

impl Child {
    fn name(self) -> &'static str {
        match self {
            Child::Relay => "relay",
            Child::Dispute => "dispute",
            Child::Escalation => "escalation",
            Child::AuthRetry => "auth_retry",
            Child::Sessions => "sessions",
        }
    }
}

/// Mediation before its bring-up reported.
pub fn initial_mediation(config: &Config) -> Mediation {
    match (config.mediation.enabled, config.reasoning.enabled) {
        (false, _) => Mediation::Off,
        (true, false) => Mediation::WithoutReasoning,
        (true, true) => Mediation::Starting,
    }
}

/// Children in the order they start: each may hold refs to the ones before it.
fn boot_order(config: &Config) -> Vec<Child> {
    let mut order = vec![Child::Relay, Child::Dispute];
    if config.escalation.enabled {
        order.push(Child::Escalation);
    }
    if config.mediation.enabled {
        order.push(Child::AuthRetry);
    }
    order
}

pub struct State {
    config: Arc<Config>,
    clock: Clock,
    boot_order: Vec<Child>,
    relay: Option<RelayRef>,
    dispute: Option<DisputeRef>,
    escalation: Option<EscalationRef>,
    auth_retry: Option<AuthRetryRef>,
    sessions: Option<SessionsRef>,
    /// The model and bundle, once mediation's bring-up succeeded.
    brought_up: Option<BroughtUp>,
    /// This daemon run, as AuthRetry records it: its `terminated` holds until the next run.
    daemon_run: String,
    by_id: HashMap<ActorId, Child>,
    budget: RestartBudget,
    started: Instant,
    view: watch::Sender<TreeView>,
    tree: Tree,
    mediation: Mediation,
    /// Children being restarted now.
    restarting: Vec<Child>,
}

impl State {
    fn publish(&self) {
        self.view.send_replace(TreeView {
            tree: self.tree,
            restarting: self.restarting.iter().map(|child| child.name()).collect(),
            relay: self.relay.clone(),
            auth_retry: self.auth_retry.clone(),
            mediation: self.mediation.clone(),
        });
    }
}

pub struct Root;

impl Actor for Root {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: RootRef, args: Args) -> Result<State, ActorProcessingErr> {
        let escalation = &args.config.escalation;
        if escalation.enabled {
            let writers = args.config.solvers.iter().filter(|s| s.permission == Permission::Write).count();
            info!(
                dispatch_interval_seconds = escalation.dispatch_interval_seconds,
                fallback_to_all_solvers = escalation.fallback_to_all_solvers,
                write_solvers = writers,
                "escalation dispatcher enabled"
            );
        } else {
            info!("escalation dispatcher disabled ([escalation].enabled = false)");
        }
        let mut st = State {
            mediation: initial_mediation(&args.config),
            boot_order: boot_order(&args.config),
            config: args.config,
            clock: args.clock,
            relay: None,
            dispute: None,
            escalation: None,
            auth_retry: None,
            sessions: None,
            brought_up: None,
            daemon_run: uuid::Uuid::new_v4().to_string(),
            by_id: HashMap::new(),
            budget: RestartBudget::new(MAX_RESTARTS, RESTART_WINDOW),
            started: Instant::now(),
            view: args.view,
            tree: Tree::Starting,
            restarting: Vec::new(),
        };
        for child in st.boot_order.clone() {
            start_child(&me, child, &mut st).await?;
        }
        st.tree = Tree::Running;
        st.publish();
        info!("actor tree started");
        sessions::bring_up_in_background(&st.config, me.clone());
        Ok(st)
    }

    async fn handle(&self, me: RootRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Children(reply) => {
                if let (Some(relay), Some(dispute)) = (&st.relay, &st.dispute) {
                    let _ = reply.send(Children {
                        relay: relay.clone(),
                        dispute: dispute.clone(),
                        escalation: st.escalation.clone(),
                        auth_retry: st.auth_retry.clone(),
                        sessions: st.sessions.clone(),
                    });
                }
            }
            Msg::MediationReady(brought_up) => {
                st.brought_up = Some(brought_up);
                st.boot_order.push(Child::Sessions);
                start_child(&me, Child::Sessions, st).await?;
                st.mediation = Mediation::Running;
                st.publish();
            }
            Msg::MediationFailed(why) => {
                st.mediation = Mediation::Failed(why);
                st.publish();
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
        prometheus::actor_restarted(child.name());
        let order = st.boot_order.clone();
        let from = order.iter().position(|c| *c == child).unwrap_or(0);
        st.restarting = order[from..].to_vec();
        st.publish();
        for later in order[from + 1..].iter().rev() {
            stop_child(*later, st).await;
        }
        for kind in &order[from..] {
            start_child(&me, *kind, st).await?;
        }
        st.restarting.clear();
        st.publish();
        Ok(())
    }

    /// Stops children in reverse boot order, each after the message it is handling commits.
    async fn post_stop(&self, _me: RootRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        st.tree = Tree::Stopped;
        st.publish();
        for child in st.boot_order.clone().iter().rev() {
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
            let args = relay::Args {
                keys: cfg.serbero.keys.clone(),
                mostro: cfg.mostro.pubkey,
                relays: cfg.relays.clone(),
                sends: relay::SendLimits::default(),
            };
            let (relay, _) = Actor::spawn_linked(None, Relay, args, me.get_cell()).await?;
            st.relay = Some(relay.clone());
            relay.get_cell()
        }
        Child::Dispute => {
            let args = dispute::Args {
                base: base(st, child)?,
                solvers: cfg.solvers.clone(),
                observers: cfg.observers.clone(),
                timeouts: cfg.timeouts.clone(),
                retention: cfg.retention,
            };
            let (dispute, _) = Actor::spawn_linked(None, Dispute, args, me.get_cell()).await?;
            st.dispute = Some(dispute.clone());
            dispute.get_cell()
        }
        Child::Escalation => {
            let args = escalation::Args {
                base: base(st, child)?,
                solvers: cfg.solvers.clone(),
                settings: cfg.escalation.clone(),
                retention: cfg.retention,
            };
            let (dispatcher, _) = Actor::spawn_linked(None, EscalationDispatcher, args, me.get_cell()).await?;
            st.escalation = Some(dispatcher.clone());
            dispatcher.get_cell()
        }
        Child::AuthRetry => {
            let relay = st.relay.clone().ok_or("relay must start before auth retry")?;
            let args = auth_retry::Args {
                db_path: PathBuf::from(&cfg.serbero.db_path),
                us: cfg.serbero.keys.public_key(),
                schedule: AuthSchedule::from_settings(&cfg.mediation),
                relay,
                daemon_run: st.daemon_run.clone(),
                clock: st.clock,
            };
            let (auth, _) = Actor::spawn_linked(None, AuthRetry, args, me.get_cell()).await?;
            st.auth_retry = Some(auth.clone());
            auth.get_cell()
        }
        Child::Sessions => {
            let (Some(dispute), Some(auth_retry), Some(up)) =
                (st.dispute.clone(), st.auth_retry.clone(), st.brought_up.clone())
            else {
                return Err("dispute, auth retry and a brought-up mediation must precede the sessions".into());
            };
            let mediator = Arc::new(Mediator {
                reasoner: up.reasoner,
                bundle: up.bundle,
                settings: cfg.mediation.clone(),
                solvers: cfg.solvers.clone(),
                observers: cfg.observers.clone(),
                directory: Directory::new(&cfg.solvers, &cfg.observers),
                escalation: st.escalation.clone(),
                evaluation_retry: Duration::from_secs(cfg.reasoning.request_timeout_seconds.max(1)),
                hibernate_after: Duration::from_secs(cfg.mediation.idle_hibernate_seconds),
            });
            let args = sessions::Args {
                base: base(st, child)?,
                mostro: cfg.mostro.pubkey,
                dispute,
                auth_retry,
                mediator,
                take_timeout: Duration::from_secs(cfg.mediation.take_timeout_seconds),
                retention: cfg.retention,
            };
            let (sessions, _) = Actor::spawn_linked(None, Sessions, args, me.get_cell()).await?;
            st.sessions = Some(sessions.clone());
            sessions.get_cell()
        }
    };
    st.by_id.insert(cell.get_id(), child);
    prometheus::actor_started(child.name());
    Ok(())
}

/// The arguments `child` shares with the other actors that store state and send DMs; Relay
/// must be running.
fn base(st: &State, child: Child) -> Result<Base, ActorProcessingErr> {
    let relay = st.relay.clone().ok_or_else(|| format!("relay must start before {}", child.name()))?;
    let cfg = &st.config;
    let db_path = PathBuf::from(&cfg.serbero.db_path);
    Ok(Base { db_path, keys: cfg.serbero.keys.clone(), outbox: cfg.outbox.clone(), relay, clock: st.clock })
}

async fn stop_child(child: Child, st: &mut State) {
    let cell = match child {
        Child::Relay => st.relay.take().map(|r| r.get_cell()),
        Child::Dispute => st.dispute.take().map(|d| d.get_cell()),
        Child::Escalation => st.escalation.take().map(|e| e.get_cell()),
        Child::AuthRetry => st.auth_retry.take().map(|a| a.get_cell()),
        Child::Sessions => st.sessions.take().map(|s| s.get_cell()),
    };
    let Some(cell) = cell else { return };
    st.by_id.remove(&cell.get_id());
    if let Err(e) = cell.stop_and_wait(None, Some(STOP_TIMEOUT)).await {
        warn!(?child, error = %e, "child did not stop in time");
    }
}
