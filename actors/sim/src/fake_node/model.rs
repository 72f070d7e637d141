//! What mostrod keeps in its database about disputes and solvers, and how it judges and commits
//! a take against it.

use std::collections::{HashMap, HashSet};

use mostro_core::dispute::Status as DisputeStatus;
use mostro_core::error::CantDoReason;
use nostr_sdk::prelude::*;
use uuid::Uuid;

use super::{DisputeState, Initiator, SolverCategory, Trade};

/// A kind-38386 revision, stamped when the transition it announces was committed.
#[derive(Clone, Debug)]
pub(super) struct Revision {
    pub dispute_id: Uuid,
    pub status: DisputeStatus,
    pub initiator: Initiator,
    /// The dispute's open time, carried in the `created_at` tag.
    pub opened_at: Timestamp,
    /// The event's own `created_at`.
    pub stamped_at: Timestamp,
}

/// How mostrod dealt with a take.
#[derive(Debug)]
pub(super) enum Judgement {
    /// mostrod src/util.rs get_dispute: no id, or an id without a dispute row, is an internal
    /// error (`InvalidDisputeId`), which src/app.rs manage_errors only logs: no reply.
    UnknownDispute,
    Refused(CantDoReason),
    Took(Taken),
}

/// A committed take: what the answer and the notices carry, and the revision to publish.
#[derive(Debug)]
pub(super) struct Taken {
    pub trade: Trade,
    pub revision: Revision,
}

struct Dispute {
    status: DisputeStatus,
    solver: Option<PublicKey>,
    initiator: Initiator,
    /// `None` once the order row is gone.
    trade: Option<Trade>,
    opened_at: Timestamp,
    last_stamp: Timestamp,
}

/// The node's disputes and its `users` rows that are solvers; the node's own key is the admin.
pub(super) struct Model {
    admin: PublicKey,
    disputes: HashMap<Uuid, Dispute>,
    solvers: HashMap<PublicKey, SolverCategory>,
}

impl Model {
    pub fn new(admin: PublicKey) -> Self {
        Self { admin, disputes: HashMap::new(), solvers: HashMap::new() }
    }

    pub fn open(&mut self, dispute_id: Uuid, trade: Trade) -> anyhow::Result<Revision> {
        anyhow::ensure!(!self.disputes.contains_key(&dispute_id), "dispute {dispute_id} is already open");
        let now = Timestamp::now();
        let dispute = Dispute {
            status: DisputeStatus::Initiated,
            solver: None,
            initiator: trade.initiator,
            trade: Some(trade),
            opened_at: now,
            last_stamp: Timestamp::from(0),
        };
        self.disputes.insert(dispute_id, dispute);
        Ok(self.stamp(dispute_id, DisputeStatus::Initiated))
    }

    pub fn register(&mut self, solver: PublicKey, category: SolverCategory) {
        self.solvers.insert(solver, category);
    }

    pub fn unregister(&mut self, solver: &PublicKey) {
        self.solvers.remove(solver);
    }

    pub fn delete_order(&mut self, dispute_id: Uuid) -> anyhow::Result<()> {
        self.dispute_mut(dispute_id)?.trade = None;
        Ok(())
    }

    pub fn state(&self, dispute_id: Uuid) -> Option<DisputeState> {
        self.disputes.get(&dispute_id).map(|d| DisputeState { status: d.status.clone(), solver: d.solver })
    }

    /// mostrod src/app/admin_take_dispute.rs admin_take_dispute_action: find the dispute, judge
    /// the requester's identity, find the order, then commit and stamp the revision at once.
    pub fn take(&mut self, dispute_id: Option<Uuid>, identity: PublicKey) -> Judgement {
        let Some((dispute_id, dispute)) = dispute_id.and_then(|id| self.disputes.get(&id).map(|d| (id, d))) else {
            return Judgement::UnknownDispute;
        };
        if !self.may_take(&identity, dispute) {
            return Judgement::Refused(CantDoReason::InvalidPubkey);
        }
        let Some(trade) = dispute.trade else { return Judgement::Refused(CantDoReason::NotFound) };
        let dispute = self.disputes.get_mut(&dispute_id).expect("found above");
        dispute.status = DisputeStatus::InProgress;
        dispute.solver = Some(identity);
        // The revision is stamped at the committed transition, before any notice goes out, so
        // that a concurrent settlement can never be stamped earlier than this take.
        let revision = self.stamp(dispute_id, DisputeStatus::InProgress);
        Judgement::Took(Taken { trade, revision })
    }

    /// mostrod src/app/admin_take_dispute.rs pubkey_event_can_solve.
    fn may_take(&self, identity: &PublicKey, dispute: &Dispute) -> bool {
        let open = matches!(dispute.status, DisputeStatus::Initiated | DisputeStatus::InProgress);
        // The admin may always take, and take over.
        if *identity == self.admin && open {
            return true;
        }
        let Some(category) = self.solvers.get(identity) else { return false };
        match (&dispute.status, dispute.solver) {
            // Any solver may take a dispute nobody took yet.
            (DisputeStatus::Initiated, _) => true,
            // The assigned solver may take it again.
            (DisputeStatus::InProgress, Some(current)) if current == *identity => true,
            // A write solver may take over from a read solver, never from another write solver.
            (DisputeStatus::InProgress, Some(current)) => {
                *category == SolverCategory::ReadWrite && self.solvers.get(&current) == Some(&SolverCategory::Read)
            }
            _ => false,
        }
    }

    /// Settled, refunded or released: the dispute's final revision (mostrod src/app/admin_settle.rs
    /// admin_settle_action and its siblings update the row, then stamp and publish).
    pub fn resolve(&mut self, dispute_id: Uuid, status: DisputeStatus) -> anyhow::Result<Revision> {
        let resolved = !matches!(status, DisputeStatus::Initiated | DisputeStatus::InProgress);
        anyhow::ensure!(resolved, "{status} does not resolve a dispute");
        self.dispute_mut(dispute_id)?.status = status.clone();
        Ok(self.stamp(dispute_id, status))
    }

    /// mostrod src/db.rs find_active_trade_pubkeys: the trade keys of orders still open (a
    /// disputed order is open until the dispute is resolved) and the solvers of open disputes.
    pub fn active_trade_keys(&self) -> HashSet<PublicKey> {
        let open =
            self.disputes.values().filter(|d| matches!(d.status, DisputeStatus::Initiated | DisputeStatus::InProgress));
        open.flat_map(|d| d.trade.iter().flat_map(|t| [t.buyer, t.seller]).chain(d.solver)).collect()
    }

    /// mostrod src/util.rs monotonic_dispute_event_timestamp: now, or one second after the
    /// dispute's previous revision when that is not earlier (relays keep the newest by
    /// `created_at` and break ties by event id).
    fn stamp(&mut self, dispute_id: Uuid, status: DisputeStatus) -> Revision {
        let dispute = self.disputes.get_mut(&dispute_id).expect("stamping a known dispute");
        let stamped_at = Timestamp::now().max(dispute.last_stamp + 1_u64);
        dispute.last_stamp = stamped_at;
        Revision { dispute_id, status, initiator: dispute.initiator, opened_at: dispute.opened_at, stamped_at }
    }

    fn dispute_mut(&mut self, dispute_id: Uuid) -> anyhow::Result<&mut Dispute> {
        self.disputes.get_mut(&dispute_id).ok_or_else(|| anyhow::anyhow!("no dispute {dispute_id} at the node"))
    }
}
