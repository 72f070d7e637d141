//! A Mostro node on the relay that behaves like mostrod 0.18.5 (commit 848ee3b) towards a solver
//! (spec/mostro-protocol.md §2, §3, §13, §14). It keeps a model of its disputes and solver rows,
//! listens live only, accepts or drops each inbound event by mostrod's checks in mostrod's order,
//! judges `admin-take-dispute` by `pubkey_event_can_solve`, answers and publishes revisions in
//! mostrod's order with strictly increasing timestamps, and records every request it could open
//! with why it dropped it and what it answered. Only the take is implemented: other actions are
//! recorded and left unanswered. Each behaviour names the mostrod source it mirrors.
//!
//! A test drives the rest of the world through it: disputes opened by a party, humans taking a
//! dispute at the node, resolutions, solver rows added and deleted by the operator, a node that
//! is slow or stops listening.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mostro_core::dispute::Status as DisputeStatus;
use mostro_core::error::CantDoReason;
use mostro_core::message::Action;
use nostr_sdk::prelude::*;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::reader::{spawn_reader, Collected};
use super::SimMostro;

mod inbound;
mod model;
mod outbound;

use model::Model;
use outbound::Requester;

/// mostrod src/config/types.rs default_active_pubkeys_refresh_interval: how often the
/// first-contact gate's set of known keys is rebuilt.
const KNOWN_KEYS_REFRESH: Duration = Duration::from_secs(60);

/// How the node is configured: what it announces in its info event (kind 38385) and enforces.
#[derive(Clone, Debug)]
pub struct NodeScript {
    /// 1: NIP-59 gift wrap (kind 1059); 2: NIP-44 direct (kind 14).
    pub protocol_version: u8,
    /// `[mostro] pow`: demanded of every event.
    pub pow: u8,
    /// `[mostro] pow_first_contact` (0: unset): demanded on kind 14 of a sender the node does not
    /// know yet.
    pub pow_first_contact: u8,
    /// A node of 0.18.0 (spec §14.6): demands this first-contact proof of work on kind 14 but
    /// announces no `pow_first_contact` tag; 0: none.
    pub unannounced_pow_first_contact: u8,
    /// `[mostro] serbero_pubkey` of mostrod 0.19.x: registered as a read solver at start and
    /// announced in a `serbero` tag (spec/solver-clients.md §3.2); 0.18.5 has neither.
    pub serbero: Option<PublicKey>,
}

impl Default for NodeScript {
    /// mostrod 0.18.5 defaults: protocol v2, no proof of work, no Serbero.
    fn default() -> Self {
        Self { protocol_version: 2, pow: 0, pow_first_contact: 0, unannounced_pow_first_contact: 0, serbero: None }
    }
}

/// Which party opened the dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    Buyer,
    Seller,
}

impl Initiator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
        }
    }
}

/// The disputed order: its id and the parties' trade keys.
#[derive(Clone, Copy, Debug)]
pub struct Trade {
    pub order_id: Uuid,
    pub buyer: PublicKey,
    pub seller: PublicKey,
    pub initiator: Initiator,
}

impl Trade {
    /// A new order, disputed by its buyer.
    pub fn opened_by_buyer(buyer: PublicKey, seller: PublicKey) -> Self {
        Self { order_id: Uuid::new_v4(), buyer, seller, initiator: Initiator::Buyer }
    }
}

/// A solver's `users.category` (mostrod src/app/admin_add_solver.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SolverCategory {
    /// 1: may take disputes and talk to the parties.
    Read,
    /// 2: may also settle and cancel.
    ReadWrite,
}

/// A dispute as the node's database holds it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeState {
    pub status: DisputeStatus,
    pub solver: Option<PublicKey>,
}

/// What the node sent back for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeAnswer {
    /// `admin-took-dispute`.
    Took,
    CantDo(CantDoReason),
    /// Nothing: dropped, an unknown dispute, or an action this node does not implement.
    Silent,
}

/// A message the node could open, whether it acted on it, and what it answered.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub action: Action,
    pub id: Option<Uuid>,
    pub request_id: Option<u64>,
    pub identity: PublicKey,
    pub kind: Kind,
    /// Leading zero bits of the (outer) event id.
    pub pow_bits: u8,
    /// Seconds between the inner timestamp and its arrival.
    pub age_secs: i64,
    /// Why mostrod would have ignored it; `None` when the node processed it.
    pub dropped: Option<String>,
    pub answer: NodeAnswer,
}

/// How long the node takes to send what it decided.
#[derive(Clone, Copy, Debug, Default)]
struct Latency {
    replies: Duration,
    revisions: Duration,
}

/// A simulated mostrod; it listens from `start` until dropped.
pub struct FakeNode {
    node: Arc<Node>,
    reader: JoinHandle<()>,
    refresher: JoinHandle<()>,
}

struct Node {
    mostro: SimMostro,
    script: NodeScript,
    model: Mutex<Model>,
    latency: Mutex<Latency>,
    /// The live inbound subscription; `None` while offline.
    listening: Mutex<Option<SubscriptionId>>,
    /// The first-contact gate's snapshot of active trade keys.
    known_keys: Mutex<HashSet<PublicKey>>,
    requests: Collected<ReceivedRequest>,
}

impl FakeNode {
    /// Connects, starts listening, then announces the node.
    pub async fn start(keys: Keys, relay: &RelayUrl, script: NodeScript) -> anyhow::Result<Self> {
        let mostro = SimMostro::connect(keys, relay).await?;
        let mut model = Model::new(mostro.keys.public_key());
        if let Some(serbero) = script.serbero {
            model.register(serbero, SolverCategory::Read);
        }
        let notifications = mostro.client.notifications();
        let node = Arc::new(Node {
            mostro,
            script,
            model: Mutex::new(model),
            latency: Mutex::default(),
            listening: Mutex::default(),
            known_keys: Mutex::default(),
            requests: Collected::default(),
        });
        let receiving = node.clone();
        let reader = spawn_reader(notifications, move |subscription, event| {
            let node = receiving.clone();
            async move { node.receive(&subscription, &event).await }
        });
        node.listen().await?;
        node.announce().await?;
        let refresher = tokio::spawn(refresh_known_keys(node.clone()));
        Ok(Self { node, reader, refresher })
    }

    pub fn pubkey(&self) -> PublicKey {
        self.node.mostro.keys.public_key()
    }

    /// A party opens a dispute (mostrod src/app/dispute.rs dispute_action): stored `initiated`,
    /// its revision published after the order's public event (which the node published while
    /// the trade was in progress). The parties' own notices are left out.
    pub async fn open_dispute(&self, dispute_id: Uuid, trade: Trade) -> anyhow::Result<Event> {
        self.node.publish_order(&trade).await?;
        let revision = self.node.lock_model().open(dispute_id, trade)?;
        self.node.publish_revision(&revision).await
    }

    /// The operator registers `solver` (mostrod src/app/admin_add_solver.rs).
    pub fn register_solver(&self, solver: PublicKey, category: SolverCategory) {
        self.node.lock_model().register(solver, category);
    }

    /// The operator deletes the solver's user row.
    pub fn unregister_solver(&self, solver: PublicKey) {
        self.node.lock_model().unregister(&solver);
    }

    /// The operator deletes the disputed order's row: a take then gets `cant-do` `not_found`.
    pub fn delete_order(&self, dispute_id: Uuid) -> anyhow::Result<()> {
        self.node.lock_model().delete_order(dispute_id)
    }

    pub fn dispute_state(&self, dispute_id: Uuid) -> Option<DisputeState> {
        self.node.lock_model().state(dispute_id)
    }

    /// `solver` (a human on Mostrix, or the node key as admin) takes the dispute at the node,
    /// judged like any take; false when refused or unknown. Its revision is dated by the node's
    /// clock, after every earlier revision of the dispute.
    pub async fn take_by(&self, dispute_id: Uuid, solver: PublicKey) -> anyhow::Result<bool> {
        let judgement = self.node.lock_model().take(Some(dispute_id), solver);
        let requester =
            Requester { identity: solver, trade_key: solver, dispute_id: Some(dispute_id), request_id: None };
        self.node.carry_out(judgement, requester).await
    }

    /// The dispute ends (`settled`, `seller-refunded`, `released`): its final revision.
    pub async fn resolve(&self, dispute_id: Uuid, status: DisputeStatus) -> anyhow::Result<Event> {
        let revision = self.node.lock_model().resolve(dispute_id, status)?;
        self.node.publish_revision(&revision).await
    }

    /// Later answers go out `delay` after the node decided them (a slow node); the rest of the
    /// node goes on meanwhile.
    pub fn delay_replies(&self, delay: Duration) {
        self.node.latency.lock().expect("latency lock").replies = delay;
    }

    /// Later revisions reach the relay `delay` after the change they announce (and after the
    /// answers that precede them), while the node's state has changed at once.
    pub fn delay_revisions(&self, delay: Duration) {
        self.node.latency.lock().expect("latency lock").revisions = delay;
    }

    /// Stops listening, as when the node loses its relay: nothing published from now on is ever
    /// processed, not even after [`Self::come_online`]. What the node itself publishes still
    /// goes out, so that a test can set the stage; a test wanting a node silent on the relay
    /// too publishes nothing meanwhile.
    pub async fn go_offline(&self) {
        self.node.listening.lock().expect("listening lock").take();
        self.node.mostro.client.unsubscribe_all().await;
    }

    /// Listens again, live only (mostrod src/main.rs: `limit(0)`), once the relay has the
    /// subscription.
    pub async fn come_online(&self) -> anyhow::Result<()> {
        self.node.mostro.client.unsubscribe_all().await;
        self.node.listen().await
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.node.requests.snapshot()
    }

    /// Waits until at least `n` requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.node.requests.wait_for(n, timeout).await
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.reader.abort();
        self.refresher.abort();
    }
}

impl Node {
    fn lock_model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().expect("model lock")
    }

    fn latency(&self) -> Latency {
        *self.latency.lock().expect("latency lock")
    }
}

/// mostrod src/scheduler.rs job_refresh_active_pubkeys: the gate's known keys are rebuilt from
/// the database at start and then periodically, so a key stays a first contact until the next
/// rebuild.
async fn refresh_known_keys(node: Arc<Node>) {
    let mut every = tokio::time::interval(KNOWN_KEYS_REFRESH);
    loop {
        every.tick().await;
        let keys = node.lock_model().active_trade_keys();
        *node.known_keys.lock().expect("known keys lock") = keys;
    }
}
