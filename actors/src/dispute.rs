//! Dispute: detection, dedup on (dispute id, status), the lifecycle, solver notifications and
//! the re-notification timer. Writes: disputes, dispute_state_transitions,
//! dispute_observations, the audit event of each final mediation report, its notifications
//! rows and its outbox rows (see `store`), and prunes
//! the last two past the retention period, at start and daily. Casts: relay (watch, publish);
//! the revisions it records to the one subscriber that asked (Sessions).

mod report;
mod store;

use std::collections::HashMap;
use std::time::Duration;

use nostr_sdk::{Keys, Timestamp};
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort};
use serbero_core::config::{Observer, RetentionSettings, Solver, Timeouts};
use serbero_core::delivery::OutboxStatus;
use serbero_core::dispute::{DisputeEvent, DisputeStatus};
use serbero_core::lifecycle::{intake, Effects, Intake, LifecycleState};
use serbero_core::notification::{self as text, NotifType};
use serbero_core::retention::{self, Pruned, Pruner};
use serbero_core::solver_dm::Subject;
use tracing::{debug, info, warn};

use crate::base::Base;
use crate::clock::Clock;
use crate::db::Db;
use crate::outbox::{self, Directory, Draft, Outbox, Owner};
use crate::pruning;
use crate::relay::{self, DisputesObserved, PublishOutcome};
use crate::tasks::Ticker;

pub type DisputeRef = ActorRef<Msg>;

/// How far before the newest stored event a restarted subscription begins, for clock skew
/// between Mostro, relays and us around the previous stop.
pub const RESUME_SKEW_SECONDS: i64 = 60;

/// What this actor prunes past the retention period, table by table (`serbero prune` too).
pub(crate) const PRUNERS: [(&str, Pruner); 2] = [
    ("outbox", |conn, cutoff, how| outbox::store::prune(conn, &Owner::Dispute.key(), cutoff, how)),
    ("notifications", store::prune_notifications),
];

pub enum Msg {
    /// Checked dispute events from Relay, in arrival order.
    Observed(DisputesObserved),
    /// Relay's answer to one of our publish requests.
    Published(PublishOutcome),
    /// Outbox rows are coming due (a retry or an expiring claim).
    DeliveryDue,
    /// The re-notification check period elapsed.
    RenotifyTick,
    /// Prune what the retention period lets go; carries the counts of this run's earlier rounds.
    Prune(Pruned),
    /// Disputes by state and outbox rows by status; also a FIFO barrier for earlier casts.
    Status(RpcReplyPort<DisputeReport>),
    /// Also hand every checked batch, once stored, to `sink` (the conversations' supervisor,
    /// which learns of takeovers and resolutions from it); replaces an earlier watcher.
    WatchRevisions(DerivedActorRef<DisputesObserved>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisputeReport {
    pub by_state: Vec<(String, u64)>,
    pub outbox: Vec<(String, u64)>,
}

impl DisputeReport {
    pub fn in_state(&self, state: LifecycleState) -> u64 {
        self.by_state.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n)
    }

    pub fn outbox_in(&self, status: OutboxStatus) -> u64 {
        self.outbox.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n)
    }
}

pub struct Args {
    pub base: Base,
    pub solvers: Vec<Solver>,
    /// Told when a dispute Serbero mediated is resolved.
    pub observers: Vec<Observer>,
    pub timeouts: Timeouts,
    pub retention: RetentionSettings,
}

pub struct State {
    db: Db,
    outbox: Outbox,
    keys: Keys,
    solvers: Vec<Solver>,
    observers: Vec<Observer>,
    directory: Directory,
    renotify_after: i64,
    revisions: Option<DerivedActorRef<DisputesObserved>>,
    clock: Clock,
    retention: RetentionSettings,
    _renotify: Ticker,
    _prune: Ticker,
}

pub struct Dispute;

impl Actor for Dispute {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: DisputeRef, args: Args) -> Result<State, ActorProcessingErr> {
        let base = args.base;
        let mut db = Db::open(&base.db_path).await?;
        let since = resume_point(&mut db, &base.clock).await?;
        base.relay.cast(relay::Msg::WatchDisputes { since, sink: me.get_derived() })?;
        if args.solvers.is_empty() {
            warn!("no solvers configured; disputes will be recorded but nobody is notified");
        }
        let period = Duration::from_secs(args.timeouts.renotification_check_interval_seconds.max(1));
        me.cast(Msg::Prune(Pruned::default()))?;
        Ok(State {
            db,
            outbox: base.outbox(Owner::Dispute, me.get_derived(), me.get_derived()),
            keys: base.keys,
            directory: Directory::new(&args.solvers, &args.observers),
            solvers: args.solvers,
            observers: args.observers,
            renotify_after: args.timeouts.renotification_seconds as i64,
            revisions: None,
            clock: base.clock,
            retention: args.retention,
            _prune: Ticker::every(retention::PERIOD, me.clone(), || Msg::Prune(Pruned::default())),
            _renotify: Ticker::every(period, me, || Msg::RenotifyTick),
        })
    }

    /// Re-drives whatever an earlier run left in the outbox.
    async fn post_start(&self, _me: DisputeRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        on_delivery_due(st).await
    }

    async fn handle(&self, me: DisputeRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Observed(DisputesObserved(events)) => {
                let forwarded = st.revisions.is_some().then(|| events.clone());
                on_observed(st, events).await?;
                if let (Some(sink), Some(events)) = (&st.revisions, forwarded) {
                    let _ = sink.send_message(DisputesObserved(events));
                }
                Ok(())
            }
            Msg::WatchRevisions(sink) => {
                st.revisions = Some(sink);
                Ok(())
            }
            Msg::Published(outcome) => on_published(st, outcome).await,
            Msg::DeliveryDue => on_delivery_due(st).await,
            Msg::RenotifyTick => on_renotify_tick(st).await,
            Msg::Prune(so_far) => on_prune(&me, st, so_far).await,
            Msg::Status(reply) => {
                let (by_state, outbox) = st.db.read(store::counts).await?;
                let _ = reply.send(DisputeReport { by_state, outbox });
                Ok(())
            }
        }
    }
}

async fn resume_point(db: &mut Db, clock: &Clock) -> Result<Timestamp, ActorProcessingErr> {
    let now = clock.now();
    let since = match db.write(move |tx| store::resume_point(tx, now)).await? {
        store::Resume::NewestEvent(newest) => {
            let since = (newest - RESUME_SKEW_SECONDS).max(0);
            info!(
                last_seen_event_ts = newest,
                resume_since_ts = since,
                skew_seconds = RESUME_SKEW_SECONDS,
                "resuming dispute subscription"
            );
            since
        }
        store::Resume::FirstStart(first) => {
            let since = (first - RESUME_SKEW_SECONDS).max(0);
            info!(
                first_started_at = first,
                resume_since_ts = since,
                "no dispute recorded yet; resuming from the first start"
            );
            since
        }
        store::Resume::Now(now) => {
            info!("first start: subscribing to dispute events from the current time");
            now
        }
    };
    Ok(Timestamp::from(since as u64))
}

/// Decides every event against storage (and the events before it in the batch), builds the DMs
/// the decisions call for, then stores decisions and DMs in one transaction.
async fn on_observed(st: &mut State, events: Vec<DisputeEvent>) -> Result<(), ActorProcessingErr> {
    let ids: Vec<String> = events.iter().map(|e| e.dispute_id.clone()).collect();
    let mut known = st.db.read(move |c| store::load_known(c, &ids)).await?;
    let mut applied: Vec<(DisputeEvent, Effects)> = Vec::new();
    let mut drafts = Vec::new();
    for event in events {
        let entry = known.get(&event.dispute_id);
        let current = entry.map(|k| k.state);
        let seen = entry.is_some_and(|k| k.seen.contains(event.status.as_str()));
        match intake(current, seen, &event) {
            Intake::Duplicate => debug!(dispute = %event.dispute_id, status = %event.status, "duplicate_skip"),
            Intake::Skip(why) => {
                warn!(dispute = %event.dispute_id, status = %event.status, why, "dispute event not recorded")
            }
            Intake::Apply(effects) => {
                log_effects(&event, &effects);
                remember(&mut known, &event, &effects);
                drafts.extend(notification_drafts(&st.solvers, &event, &effects));
                applied.push((event, effects));
            }
        }
    }
    if applied.is_empty() {
        return Ok(());
    }
    let resolved = applied
        .iter()
        .filter(|(_, effects)| effects.transition.as_ref().is_some_and(|t| t.to == LifecycleState::Resolved))
        .map(|(event, _)| (event.dispute_id.clone(), event.status.to_string()))
        .collect();
    let reports = report::reports(&mut st.db, &st.solvers, &st.observers, resolved).await?;
    drafts.extend(reports.iter().flat_map(|r| r.drafts.clone()));
    for r in &reports {
        info!(dispute = %r.dispute_id, recipients = r.drafts.len(), "mediation resolution report sent");
    }
    let messages = outbox::build_all(&st.keys, &st.directory, drafts).await?;
    let (ledger, now) = (st.outbox.ledger().clone(), st.clock.now());
    st.db
        .write(move |tx| {
            for (event, effects) in &applied {
                store::apply(tx, event, effects, now)?;
            }
            for r in &reports {
                store::reported(tx, &r.payload, now)?;
            }
            for message in &messages {
                outbox::store::insert(tx, &ledger, message, now)?;
            }
            Ok(())
        })
        .await?;
    on_delivery_due(st).await
}

fn remember(known: &mut HashMap<String, store::Known>, event: &DisputeEvent, effects: &Effects) {
    let entry = known.entry(event.dispute_id.clone()).or_insert_with(|| store::Known {
        state: serbero_core::lifecycle::LifecycleState::New,
        seen: Default::default(),
    });
    entry.seen.insert(event.status.as_str().to_string());
    if let Some(t) = &effects.transition {
        entry.state = t.to;
    }
}

fn log_effects(event: &DisputeEvent, effects: &Effects) {
    let (dispute, status) = (&event.dispute_id, &event.status);
    if effects.create {
        info!(%dispute, %status, initiator = event.initiator.as_str(), event = %event.event_id, "detected new dispute");
    }
    match &effects.transition {
        Some(t) => info!(%dispute, %status, from = %t.from, to = %t.to, "state_transition"),
        None if matches!(status, DisputeStatus::Other(_)) => {
            warn!(%dispute, %status, "unrecognised dispute status; recorded, lifecycle unchanged")
        }
        None if !effects.create => info!(%dispute, %status, "dispute status recorded"),
        None => {}
    }
}

fn notification_drafts(solvers: &[Solver], event: &DisputeEvent, effects: &Effects) -> Vec<Draft> {
    let Some(kind) = effects.notify else { return Vec::new() };
    let (subject, body) = match kind {
        NotifType::Initial => (Subject::New, text::initial_text(&event.dispute_id, event.initiator, event.created_at)),
        NotifType::Assignment => {
            (Subject::Taken, text::assignment_text(&event.dispute_id, event.assigned_solver.as_deref()))
        }
        // A lifecycle step notifies only of a new or a taken dispute; reminders have their timer.
        _ => return Vec::new(),
    };
    drafts_for_all(solvers, &event.dispute_id, kind, 0, &subject, &body)
}

fn drafts_for_all(
    solvers: &[Solver],
    dispute_id: &str,
    kind: NotifType,
    round: u32,
    subject: &Subject,
    body: &str,
) -> Vec<Draft> {
    let to: Vec<_> = solvers.iter().map(|s| s.pubkey).collect();
    Draft::to_each(&to, dispute_id, kind, subject, body, |solver| {
        kind.idempotency_key(dispute_id, &solver.to_hex(), round)
    })
}

async fn on_published(st: &mut State, outcome: PublishOutcome) -> Result<(), ActorProcessingErr> {
    st.outbox.settle(&mut st.db, outcome, store::record_attempt).await?;
    Ok(())
}

async fn on_delivery_due(st: &mut State) -> Result<(), ActorProcessingErr> {
    st.outbox.dispatch_due(&mut st.db, store::record_attempt).await?;
    Ok(())
}

async fn on_renotify_tick(st: &mut State) -> Result<(), ActorProcessingErr> {
    if st.solvers.is_empty() {
        return Ok(());
    }
    let now = st.clock.now();
    let cutoff = now - st.renotify_after;
    let due = st.db.read(move |c| store::unattended(c, cutoff)).await?;
    if due.is_empty() {
        debug!("renotification_tick: nothing unattended");
        return Ok(());
    }
    info!(count = due.len(), "renotification_tick: reminding solvers");
    let drafts = due
        .iter()
        .flat_map(|d| {
            let elapsed = now - d.event_timestamp;
            let body = text::re_notification_text(&d.dispute_id, d.state, elapsed);
            let subject = Subject::Unattended { minutes: elapsed / 60 };
            drafts_for_all(&st.solvers, &d.dispute_id, NotifType::ReNotification, d.next_round, &subject, &body)
        })
        .collect();
    let messages = outbox::build_all(&st.keys, &st.directory, drafts).await?;
    let ledger = st.outbox.ledger().clone();
    st.db
        .write(move |tx| {
            for d in &due {
                store::start_round(tx, &d.dispute_id, d.next_round)?;
            }
            for message in &messages {
                outbox::store::insert(tx, &ledger, message, now)?;
            }
            Ok(())
        })
        .await?;
    on_delivery_due(st).await
}

/// One round of pruning; the rest of a backlog in further rounds, between other work.
async fn on_prune(me: &DisputeRef, st: &mut State, mut pruned: Pruned) -> Result<(), ActorProcessingErr> {
    let now = st.clock.now();
    if pruning::round(&mut st.db, &PRUNERS, &st.retention, now, &mut pruned).await {
        me.cast(Msg::Prune(pruned))?;
    }
    Ok(())
}

crate::outbox_messages!(Msg);

crate::derived_message!(Msg::Observed(DisputesObserved));
