//! EscalationDispatcher: turns prepared handoffs into `escalation_handoff/v1` DMs to the right
//! human solvers, exactly once. Learns of handoffs from `HandoffPrepared` (cast by mediation
//! sessions) and, as a safety net, from a scan at start and every dispatch interval.
//! Writes: escalation_dispatches, escalation_handoffs, its audit events, its notifications rows
//! and its outbox rows (see `store`), and prunes the last two past the retention period, at
//! start and daily. Casts: relay (publish).

mod store;

use std::time::Duration;

use nostr_sdk::Keys;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serbero_core::config::{EscalationSettings, RetentionSettings, Solver};
use serbero_core::escalation::{decide, handoff_subject, handoff_text, Decision, HandoffOutcome, Route};
use serbero_core::notification::NotifType;
use serbero_core::retention::{self, Pruned, Pruner};
use tracing::{error, info};

use crate::base::Base;
use crate::clock::Clock;
use crate::db::Db;
use crate::outbox::{self, Directory, Draft, Outbox, Owner};
use crate::pruning;
use crate::relay::PublishOutcome;
use crate::tasks::Ticker;

pub type EscalationRef = ActorRef<Msg>;

/// Handoffs decided per scan; a fuller scan is followed by another at once.
const SCAN_BATCH: usize = 128;

/// What this actor prunes past the retention period, table by table (`serbero prune` too).
pub(crate) const PRUNERS: [(&str, Pruner); 2] = [
    ("outbox", |conn, cutoff, how| outbox::store::prune(conn, &Owner::Escalation.key(), cutoff, how)),
    ("notifications", store::prune_notifications),
];

pub enum Msg {
    /// A mediation session committed a `handoff_prepared` event.
    HandoffPrepared { handoff_event_id: i64 },
    /// The safety-net scan period elapsed.
    ScanTick,
    /// Relay's answer to one of our publish requests.
    Published(PublishOutcome),
    /// Outbox rows are coming due.
    DeliveryDue,
    /// Prune what the retention period lets go; carries the counts of this run's earlier rounds.
    Prune(Pruned),
    /// Handoffs by decision; also a FIFO barrier for earlier casts.
    Status(RpcReplyPort<EscalationReport>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationReport {
    pub outcomes: Vec<(String, u64)>,
}

impl EscalationReport {
    pub fn count(&self, outcome: HandoffOutcome) -> u64 {
        self.outcomes.iter().find(|(o, _)| o == outcome.as_str()).map_or(0, |(_, n)| *n)
    }
}

pub struct Args {
    pub base: Base,
    pub solvers: Vec<Solver>,
    pub settings: EscalationSettings,
    pub retention: RetentionSettings,
}

pub struct State {
    db: Db,
    outbox: Outbox,
    keys: Keys,
    solvers: Vec<Solver>,
    directory: Directory,
    fallback_to_all: bool,
    /// Unroutable handoffs above this id are looked at again; set low at start (the
    /// configuration may have been fixed) and raised as the re-check pages through them.
    recheck_after: i64,
    clock: Clock,
    retention: RetentionSettings,
    _scan: Ticker,
    _prune: Ticker,
}

pub struct EscalationDispatcher;

impl Actor for EscalationDispatcher {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: EscalationRef, args: Args) -> Result<State, ActorProcessingErr> {
        let base = args.base;
        let db = Db::open(&base.db_path).await?;
        let period = Duration::from_secs(args.settings.dispatch_interval_seconds.max(1));
        me.cast(Msg::Prune(Pruned::default()))?;
        Ok(State {
            db,
            outbox: base.outbox(Owner::Escalation, me.get_derived(), me.get_derived()),
            keys: base.keys,
            directory: Directory::new(&args.solvers, &[]),
            solvers: args.solvers,
            fallback_to_all: args.settings.fallback_to_all_solvers,
            recheck_after: -1,
            clock: base.clock,
            retention: args.retention,
            _prune: Ticker::every(retention::PERIOD, me.clone(), || Msg::Prune(Pruned::default())),
            _scan: Ticker::every(period, me, || Msg::ScanTick),
        })
    }

    /// Re-drives the outbox and decides whatever an earlier run left pending.
    async fn post_start(&self, _me: EscalationRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        on_delivery_due(st).await?;
        scan(st).await
    }

    async fn handle(&self, me: EscalationRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::HandoffPrepared { .. } | Msg::ScanTick => scan(st).await,
            Msg::Published(outcome) => on_published(st, outcome).await,
            Msg::DeliveryDue => on_delivery_due(st).await,
            Msg::Prune(so_far) => on_prune(&me, st, so_far).await,
            Msg::Status(reply) => {
                let outcomes = st.db.read(store::outcomes).await?;
                let _ = reply.send(EscalationReport { outcomes });
                Ok(())
            }
        }
    }
}

/// Decides pending handoffs a batch at a time until none is left.
async fn scan(st: &mut State) -> Result<(), ActorProcessingErr> {
    loop {
        let recheck_after = st.recheck_after;
        let batch = st.db.read(move |c| store::pending(c, recheck_after, SCAN_BATCH)).await?;
        let full = batch.len() == SCAN_BATCH;
        st.recheck_after = match (full, batch.last()) {
            (true, Some(last)) => last.handoff_event_id,
            _ => i64::MAX,
        };
        if !batch.is_empty() {
            decide_batch(st, batch).await?;
        }
        if !full {
            return on_delivery_due(st).await;
        }
    }
}

/// One decided handoff, ready to be stored.
enum Step {
    ParseFailed { dispute_id: String, reason: &'static str, detail: String },
    Superseded { dispute_id: String },
    Unroutable { dispute_id: String },
    Dispatch { dispatch: store::NewDispatch, messages: Vec<outbox::NewMessage> },
}

async fn decide_batch(st: &mut State, batch: Vec<store::Pending>) -> Result<(), ActorProcessingErr> {
    let (solvers, fallback) = (st.solvers.clone(), st.fallback_to_all);
    let batch_for_read = batch.clone();
    let decisions = st
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for p in &batch_for_read {
                let mut lookup_error = None;
                let decision = decide(
                    &p.payload,
                    |id| {
                        store::dispute_facts(c, id).unwrap_or_else(|e| {
                            lookup_error = Some(e);
                            None
                        })
                    },
                    &solvers,
                    fallback,
                );
                if let Some(e) = lookup_error {
                    return Err(e);
                }
                let alerted = match &decision {
                    Decision::Dispatch { package, route } => route
                        .recipients()
                        .iter()
                        .map(|to| store::alerted(c, package, &to.to_hex()))
                        .collect::<Result<_, _>>()?,
                    _ => Vec::new(),
                };
                out.push((decision, alerted));
            }
            Ok(out)
        })
        .await?;
    let mut steps = Vec::with_capacity(decisions.len());
    for (p, (decision, alerted)) in batch.iter().zip(decisions) {
        steps.push(step_for(&st.keys, &st.directory, st.solvers.len(), p, decision, alerted).await?);
    }
    let (ledger, now, solver_count) = (st.outbox.ledger().clone(), st.clock.now(), st.solvers.len());
    st.db
        .write(move |tx| {
            for (p, step) in batch.iter().zip(&steps) {
                match step {
                    Step::ParseFailed { dispute_id, reason, detail } => {
                        store::parse_failed(tx, p, dispute_id, reason, detail, now)?
                    }
                    Step::Superseded { dispute_id } => store::superseded(tx, p, dispute_id, now)?,
                    Step::Unroutable { dispute_id } => store::unroutable(tx, p, dispute_id, solver_count, now)?,
                    Step::Dispatch { dispatch, messages } => {
                        store::dispatched(tx, p, dispatch, now)?;
                        for message in messages {
                            outbox::store::insert(tx, &ledger, message, now)?;
                        }
                    }
                }
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// Logs the decision and, for a dispatch, builds each recipient's DM (`alerted`: whether each
/// recipient has the session's alert already).
async fn step_for(
    keys: &Keys,
    directory: &Directory,
    solvers: usize,
    p: &store::Pending,
    decision: Decision,
    alerted: Vec<bool>,
) -> Result<Step, ActorProcessingErr> {
    let handoff = p.handoff_event_id;
    Ok(match decision {
        Decision::ParseFailed { dispute_id, reason, detail } => {
            error!(handoff, %dispute_id, reason, %detail, "handoff cannot be dispatched");
            Step::ParseFailed { dispute_id, reason, detail }
        }
        Decision::Superseded { dispute_id } => {
            info!(handoff, %dispute_id, "dispute already resolved; handoff superseded");
            Step::Superseded { dispute_id }
        }
        Decision::Unroutable { dispute_id } => {
            if !p.was_unroutable {
                error!(handoff, %dispute_id, solvers, "no write solver and no fallback: handoff unroutable until the configuration is fixed");
            }
            Step::Unroutable { dispute_id }
        }
        Decision::Dispatch { package, route } => {
            let recipients = route.recipients();
            let body = handoff_text(&package);
            let drafts = recipients
                .iter()
                .zip(alerted.into_iter().chain(std::iter::repeat(false)))
                .map(|(to, alerted)| Draft {
                    idempotency_key: store::idempotency_key(handoff, &to.to_hex()),
                    dispute_id: Some(package.dispute_id.clone()),
                    recipient: *to,
                    notif_type: NotifType::EscalationRecommended,
                    subject: handoff_subject(&package, alerted),
                    body: body.clone(),
                })
                .collect();
            let messages = outbox::build_all(keys, directory, drafts).await?;
            let target_solver = recipients.iter().map(|r| r.to_hex()).collect::<Vec<_>>().join(",");
            info!(handoff, dispute_id = %package.dispute_id, recipients = recipients.len(), fallback = route.is_fallback(), targeted = matches!(route, Route::Targeted(_)), "dispatching handoff");
            let dispatch = store::NewDispatch {
                dispatch_id: uuid::Uuid::new_v4().to_string(),
                dispute_id: package.dispute_id,
                target_solver,
                fallback: route.is_fallback(),
            };
            Step::Dispatch { dispatch, messages }
        }
    })
}

async fn on_published(st: &mut State, outcome: PublishOutcome) -> Result<(), ActorProcessingErr> {
    let failed = st.outbox.settle(&mut st.db, outcome, store::record_attempt).await?;
    report_send_failed(failed);
    Ok(())
}

async fn on_delivery_due(st: &mut State) -> Result<(), ActorProcessingErr> {
    let failed = st.outbox.dispatch_due(&mut st.db, store::record_attempt).await?;
    report_send_failed(failed);
    Ok(())
}

fn report_send_failed(dispatches: Vec<Option<String>>) {
    for dispatch in dispatches.into_iter().flatten() {
        error!(%dispatch, "handoff reached no recipient: every copy was dead-lettered (status send_failed)");
    }
}

/// One round of pruning; the rest of a backlog in further rounds, between other work.
async fn on_prune(me: &EscalationRef, st: &mut State, mut pruned: Pruned) -> Result<(), ActorProcessingErr> {
    let now = st.clock.now();
    if pruning::round(&mut st.db, &PRUNERS, &st.retention, now, &mut pruned).await {
        me.cast(Msg::Prune(pruned))?;
    }
    Ok(())
}

crate::outbox_messages!(Msg);
