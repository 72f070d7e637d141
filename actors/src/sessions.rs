//! Sessions: supervises one MediationSession per dispute Serbero mediates, and decides when one
//! starts: at once when a new dispute is stored, and on a periodic scan as a safety net, for
//! every eligible dispute, after AuthRetry says a take may be tried. At start it resumes every
//! session the database holds as having work. It routes the node's messages (by request id, else
//! dispute id) and dispute revisions to their session, and tells every session when Serbero loses
//! its standing as a solver. A session that fails is restarted alone from the database, within
//! its own budget; the others and the core are untouched. Writes no table, but prunes (at
//! start and daily) what sessions that ended for good left past the retention period.
//! Calls: auth_retry (take claims). Casts: relay (node watch, sleeping sessions' chat watches),
//! dispute (revision watch), auth_retry (subscription), sessions (node messages, revisions, chat,
//! lost standing).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nostr_sdk::{Keys, PublicKey};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serbero_core::auth_retry::{AuthState, Takes};
use serbero_core::chat::{Channel, Party};
use serbero_core::config::RetentionSettings;
use serbero_core::dispute::{DisputeEvent, DisputeStatus};
use serbero_core::mediation::{chat_resumes_at, eligible, wakes_at};
use serbero_core::retention::{self, Pruned, Pruner};
use serbero_core::supervision::RestartBudget;
use serbero_core::take::{revision_meaning, RevisionMeaning};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::auth_retry::{self, AuthChanged, AuthRetryRef};
use crate::base::Base;
use crate::db::Db;
use crate::dispute::{self, DisputeRef};
use crate::outbox;
use crate::prometheus;
use crate::pruning;
use crate::relay::ChatEvent;
use crate::relay::{self, DisputesObserved, NodeMessage};
use crate::session::{self, record, store, Bedroom, Hibernating, MediationSession, Mediator, SessionRef, StopReason};
use crate::tasks::{self, TaskGuard, Ticker};
use sleepers::Sleepers;

mod bring_up;
mod sleepers;

pub use bring_up::{bring_up_in_background, BroughtUp};

pub type SessionsRef = ActorRef<Msg>;

const MAX_SESSION_RESTARTS: usize = 3;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// The safety-net scan for eligible disputes.
const SCAN_PERIOD: Duration = Duration::from_secs(30);
/// Sessions started by one scan at most: each begins with a call to the model.
const STARTS_PER_SCAN: usize = 32;

/// What the supervisor prunes past the retention period for the sessions that ended for good,
/// table by table (`serbero prune` too).
pub(crate) const PRUNERS: [(&str, Pruner); 3] = [
    ("outbox", |conn, cutoff, how| outbox::store::prune(conn, outbox::EVERY_SESSION, cutoff, how)),
    ("notifications", record::prune_notifications),
    ("party_messages", store::prune_party_messages),
];

pub enum Msg {
    /// A message from the node, routed to the session it answers.
    Node(NodeMessage),
    /// Dispute revisions from the Dispute actor: new disputes may start sessions, the others
    /// go to their session.
    Revisions(DisputesObserved),
    /// Serbero's standing as a solver changed.
    Auth(AuthChanged),
    /// Start sessions for eligible disputes.
    Scan,
    /// A session left memory until a party writes or its timer falls due.
    Asleep(Hibernating),
    /// A chat event for a hibernating session.
    Chat(ChatEvent),
    /// A hibernating session's timer may be due.
    Wake,
    /// The running session of a dispute, if any; also a barrier.
    Session { dispute_id: String, reply: RpcReplyPort<Option<SessionRef>> },
    /// Prune what the retention period lets go; carries the counts of this run's earlier rounds.
    Prune(Pruned),
}

crate::derived_message!(Msg::Node(NodeMessage));
crate::derived_message!(Msg::Revisions(DisputesObserved));
crate::derived_message!(Msg::Auth(AuthChanged));
crate::derived_message!(Msg::Asleep(Hibernating));
crate::derived_message!(Msg::Chat(ChatEvent));

#[derive(Clone)]
pub struct Args {
    pub base: Base,
    pub mostro: PublicKey,
    pub dispute: DisputeRef,
    pub auth_retry: AuthRetryRef,
    pub mediator: Arc<Mediator>,
    pub take_timeout: Duration,
    pub retention: RetentionSettings,
}

struct Running {
    session: SessionRef,
    request_id: u64,
}

pub struct State {
    db: Db,
    args: Args,
    running: HashMap<String, Running>,
    by_actor: HashMap<ActorId, String>,
    budgets: HashMap<String, RestartBudget>,
    standing: Option<AuthState>,
    sleepers: Sleepers,
    wake_timer: Option<TaskGuard>,
    started: Instant,
    _scan: Ticker,
    _prune: Ticker,
}

pub struct Sessions;

impl Actor for Sessions {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: SessionsRef, args: Args) -> Result<State, ActorProcessingErr> {
        args.base.relay.cast(relay::Msg::WatchNode { sink: me.get_derived() })?;
        args.dispute.cast(dispute::Msg::WatchRevisions(me.get_derived()))?;
        args.auth_retry.cast(auth_retry::Msg::Subscribe(me.get_derived()))?;
        me.cast(Msg::Prune(Pruned::default()))?;
        Ok(State {
            db: Db::open(&args.base.db_path).await?,
            args,
            running: HashMap::new(),
            by_actor: HashMap::new(),
            budgets: HashMap::new(),
            standing: None,
            sleepers: Sleepers::default(),
            wake_timer: None,
            started: Instant::now(),
            _prune: Ticker::every(retention::PERIOD, me.clone(), || Msg::Prune(Pruned::default())),
            _scan: Ticker::every(SCAN_PERIOD, me, || Msg::Scan),
        })
    }

    /// Every session the database holds as having work resumes; then a first scan.
    async fn post_start(&self, me: SessionsRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        let asleep = put_waiting_to_sleep(&me, st).await?;
        let unfinished: Vec<_> =
            st.db.read(store::needing_actor).await?.into_iter().filter(|(id, _)| !st.sleepers.is_asleep(id)).collect();
        if asleep + unfinished.len() > 0 {
            info!(waiting = asleep, working = unfinished.len(), "resuming mediation sessions");
        }
        for (dispute_id, request_id) in unfinished {
            resume(&me, st, dispute_id, request_id).await;
        }
        arm_wake(&me, st);
        me.cast(Msg::Scan)?;
        Ok(())
    }

    async fn handle(&self, me: SessionsRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Node(message) => route_node_message(&me, st, message).await,
            Msg::Revisions(DisputesObserved(events)) => {
                let mut new_disputes = false;
                for event in events {
                    if st.sleepers.is_asleep(&event.dispute_id) && concerns_the_take(st, &event).await? {
                        wake(&me, st, event.dispute_id.clone(), None).await;
                    }
                    match st.running.get(&event.dispute_id) {
                        Some(running) => {
                            let _ = running.session.cast(session::Msg::Revisions(vec![event]));
                        }
                        None => new_disputes |= event.status == DisputeStatus::Initiated,
                    }
                }
                if new_disputes {
                    scan(&me, st).await?;
                }
            }
            Msg::Auth(AuthChanged(now)) => on_standing(&me, st, now).await,
            Msg::Scan => scan(&me, st).await?,
            Msg::Asleep(asleep) => {
                // The route goes now, not at the actor's stop: what comes in between (a party
                // writing, a revision) wakes a new session instead of reaching the leaving one.
                let leaving = |running: &Running| Some(running.session.get_id()) == asleep.actor;
                if st.running.get(&asleep.dispute_id).is_some_and(leaving) {
                    st.running.remove(&asleep.dispute_id);
                }
                st.sleepers.add(asleep);
                arm_wake(&me, st);
            }
            Msg::Chat(ChatEvent(event)) => on_chat(&me, st, event).await,
            Msg::Wake => {
                for dispute_id in st.sleepers.due(st.args.base.clock.now()) {
                    wake(&me, st, dispute_id, None).await;
                }
                arm_wake(&me, st);
            }
            Msg::Session { dispute_id, reply } => {
                let _ = reply.send(st.running.get(&dispute_id).map(|r| r.session.clone()));
            }
            Msg::Prune(so_far) => on_prune(&me, st, so_far).await?,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: SessionsRef,
        event: SupervisionEvent,
        st: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        // A stop for a reason the session gave; anything else (a failure, a kill) is why it stopped.
        let (cell, stopped) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, Err(err.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let why = reason.unwrap_or_else(|| "stopped".into());
                (cell, StopReason::parse(&why).ok_or(why))
            }
            _ => return Ok(()),
        };
        // Only the dispute's running session is forgotten, restarted or finished: not a stale one.
        let Some(dispute_id) = forget(st, cell.get_id()) else { return Ok(()) };
        match stopped {
            Ok(StopReason::Hibernating) => {}
            Ok(StopReason::Finished) => st.sleepers.forget(&dispute_id),
            Err(why) => restart_if_unfinished(&me, st, dispute_id, &why).await?,
        }
        Ok(())
    }
}

/// Starts a session for every eligible dispute without one, while AuthRetry allows takes.
async fn scan(me: &SessionsRef, st: &mut State) -> Result<(), ActorProcessingErr> {
    let now = st.args.base.clock.now();
    let candidates = st.db.read(move |conn| record::candidates(conn, now, STARTS_PER_SCAN)).await?;
    let starting: Vec<String> = candidates
        .into_iter()
        .filter(|(id, candidate)| eligible(candidate) && !st.running.contains_key(id))
        .map(|(id, _)| id)
        .collect();
    if starting.is_empty() {
        return Ok(());
    }
    let allowed = match st.args.auth_retry.call(auth_retry::Msg::ClaimTakes, Some(AUTH_TIMEOUT)).await {
        Ok(CallResult::Success(Takes::All)) => starting.len(),
        Ok(CallResult::Success(Takes::One)) => 1,
        Ok(CallResult::Success(Takes::None)) => {
            debug!(waiting = starting.len(), "evidence stands against Serbero's registration; no session starts");
            return Ok(());
        }
        _ => {
            warn!("auth retry did not answer; sessions start on the next scan");
            return Ok(());
        }
    };
    for dispute_id in starting.into_iter().take(allowed) {
        info!(dispute = %dispute_id, "starting mediation");
        resume(me, st, dispute_id, None).await;
    }
    Ok(())
}

/// After a standing that allowed takes, losing it ends every live session's mediation
/// (hibernating ones are woken for it).
async fn on_standing(me: &SessionsRef, st: &mut State, now: AuthState) {
    let lost = st.standing == Some(AuthState::Authorized) && now != AuthState::Authorized;
    st.standing = Some(now);
    if lost {
        let sessions = st.running.len() + st.sleepers.len();
        warn!(sessions, "Serbero lost its standing as a solver; escalating live sessions");
        for dispute_id in st.sleepers.all() {
            wake(me, st, dispute_id, None).await;
        }
        for running in st.running.values() {
            let _ = running.session.cast(session::Msg::AuthorizationLost);
        }
    }
}

/// Sessions only waiting for the parties go straight back to sleep, without an actor: their
/// channels are derived again and watched for the supervisor. A session pinned to another
/// bundle, with an unassessed round or a timer already due gets an actor (it has work).
async fn put_waiting_to_sleep(me: &SessionsRef, st: &mut State) -> Result<usize, ActorProcessingErr> {
    let waiting = st.db.read(store::waiting).await?;
    let (now, settings, pinned) =
        (st.args.base.clock.now(), &st.args.mediator.settings, &st.args.mediator.bundle.policy_hash);
    let mut asleep = 0;
    let (party_timeout, session_limit) = (settings.party_response_timeout_seconds, settings.session_timeout_seconds);
    for w in waiting {
        let wake_at = wakes_at(w.started_at, w.newest_reply, now, party_timeout, session_limit);
        if w.policy_hash != *pinned || w.unassessed_round || wake_at.is_some_and(|at| at <= now) {
            continue;
        }
        let Some(keys) = channel_keys(&st.args.base.keys, &w) else { continue };
        let since = chat_resumes_at(w.newest_reply, w.started_at);
        for pair in keys.chunks(2) {
            let (sign, legacy, sink) = (pair[0], pair[1], me.get_derived());
            st.args.base.relay.cast(relay::Msg::WatchChat { sign, legacy, since, sink })?;
        }
        st.sleepers.add(Hibernating { dispute_id: w.dispute_id, keys, wake_at, actor: None });
        asleep += 1;
    }
    Ok(asleep)
}

/// Each party channel's signing and legacy key, derived from the stored trade keys.
fn channel_keys(us: &Keys, w: &store::Waiting) -> Option<Vec<PublicKey>> {
    let mut keys = Vec::with_capacity(4);
    for (party, trade) in [(Party::Buyer, &w.buyer), (Party::Seller, &w.seller)] {
        let channel = Channel::derive(us, party, PublicKey::from_hex(trade).ok()?).ok()?;
        keys.extend([channel.sign.public_key(), channel.legacy.public_key()]);
    }
    Some(keys)
}

/// Whether a sleeping session must see a revision: a resolution, or an `in-progress` revision
/// its take has not counted yet (the session judges whose it is).
async fn concerns_the_take(st: &mut State, event: &DisputeEvent) -> Result<bool, ActorProcessingErr> {
    match revision_meaning(&event.status) {
        RevisionMeaning::Ends => Ok(true),
        RevisionMeaning::MayBeTheTake => {
            let (id, event_id) = (event.dispute_id.clone(), event.event_id.clone());
            Ok(st.db.read(move |conn| store::is_news(conn, &id, &event_id)).await?)
        }
        RevisionMeaning::Nothing => Ok(false),
    }
}

/// A party wrote to a hibernating session (or to one waking up): it is restored to read it.
async fn on_chat(me: &SessionsRef, st: &mut State, event: Box<nostr_sdk::Event>) {
    let Some(dispute_id) = st.sleepers.dispute_of(&event).cloned() else { return };
    if let Some(running) = st.running.get(&dispute_id) {
        let _ = running.session.cast(session::Msg::Chat(ChatEvent(event)));
        return;
    }
    // Relays send a channel's history again whenever its subscription is renewed: only news wakes.
    let (id, outer) = (dispute_id.clone(), event.id.to_hex());
    match st.db.read(move |conn| record::has_outer_event(conn, &id, &outer)).await {
        Ok(true) => {}
        Ok(false) => {
            debug!(dispute = %dispute_id, event = %event.id, kind = %event.kind, "news for a hibernating session");
            wake(me, st, dispute_id, Some(ChatEvent(event))).await
        }
        Err(e) => error!(dispute = %dispute_id, error = %e, "cannot tell whether a chat event is new"),
    }
}

async fn wake(me: &SessionsRef, st: &mut State, dispute_id: String, woken_by: Option<ChatEvent>) {
    if !st.sleepers.wake(&dispute_id) || st.running.contains_key(&dispute_id) {
        return;
    }
    debug!(dispute = %dispute_id, by_party = woken_by.is_some(), "waking a hibernating session");
    let id = dispute_id.clone();
    let request_id = match st.db.read(move |conn| store::load(conn, &id)).await {
        Ok(take) => take.map(|t| t.request_id),
        Err(e) => return error!(dispute = %dispute_id, error = %e, "cannot wake the session"),
    };
    if let Err(e) = spawn(me, st, dispute_id.clone(), request_id, Woken::ByParty(woken_by)).await {
        error!(dispute = %dispute_id, error = %e, "mediation session could not wake");
    }
}

/// One timer for every hibernating session: the earliest due.
fn arm_wake(me: &SessionsRef, st: &mut State) {
    let Some(at) = st.sleepers.next_wake() else {
        st.wake_timer = None;
        return;
    };
    let wait = Duration::from_secs((at - st.args.base.clock.now()).max(0) as u64);
    st.wake_timer = Some(tasks::after(wait, me.clone(), Msg::Wake));
}

/// A session that stops before it finished (it failed or was killed) resumes from the
/// database, within its budget.
async fn restart_if_unfinished(
    me: &SessionsRef,
    st: &mut State,
    dispute_id: String,
    why: &str,
) -> Result<(), ActorProcessingErr> {
    let budget = st
        .budgets
        .entry(dispute_id.clone())
        .or_insert_with(|| RestartBudget::new(MAX_SESSION_RESTARTS, RESTART_WINDOW));
    if !budget.allow(st.started.elapsed()) {
        let dispute = &dispute_id;
        error!(%dispute, reason = %why, "session failed too often; it stays stopped until the daemon restarts");
        return Ok(());
    }
    warn!(dispute = %dispute_id, reason = %why, "session stopped before it finished; restarting it from the database");
    prometheus::session_restarted();
    let id = dispute_id.clone();
    let request_id = st.db.read(move |conn| store::load(conn, &id)).await?.map(|t| t.request_id);
    resume(me, st, dispute_id, request_id).await;
    Ok(())
}

/// A session that cannot start is logged and left alone: the others and the core go on.
async fn resume(me: &SessionsRef, st: &mut State, dispute_id: String, request_id: Option<u64>) {
    if let Err(e) = spawn(me, st, dispute_id.clone(), request_id, Woken::ByParty(None)).await {
        error!(dispute = %dispute_id, error = %e, "mediation session could not start");
    }
}

async fn spawn(
    me: &SessionsRef,
    st: &mut State,
    dispute_id: String,
    request_id: Option<u64>,
    woken: Woken,
) -> Result<(), ActorProcessingErr> {
    let a = &st.args;
    let (woken_by, late_answer) = match woken {
        Woken::ByParty(chat) => (chat, None),
        Woken::ByNode(answer) => (None, Some(answer)),
    };
    let bedroom = Bedroom { asleep: me.get_derived(), chat: me.get_derived() };
    let fresh = request_id.unwrap_or_else(fresh_request_id);
    let args = session::Args {
        dispute_id: dispute_id.clone(),
        request_id: fresh,
        base: a.base.clone(),
        mostro: a.mostro,
        auth_retry: Some(a.auth_retry.clone()),
        mediator: a.mediator.clone(),
        bedroom: Some(bedroom),
        woken_by,
        late_answer,
        take_timeout: a.take_timeout,
    };
    let (session, _) = Actor::spawn_linked(None, MediationSession, args, me.get_cell()).await?;
    st.by_actor.insert(session.get_id(), dispute_id.clone());
    st.running.insert(dispute_id, Running { session, request_id: fresh });
    Ok(())
}

/// Forgets a session that stopped; its dispute, if it was the dispute's running session.
/// A stop can be handled after a newer session for the same dispute started (woken from
/// hibernation, or restarted): that one keeps its route, or revisions (a human taking over) and
/// chat would no longer reach it and a further wake-up would start a second one.
fn forget(st: &mut State, actor: ActorId) -> Option<String> {
    let dispute_id = st.by_actor.remove(&actor)?;
    if st.running.get(&dispute_id).is_none_or(|running| running.session.get_id() != actor) {
        debug!(dispute = %dispute_id, "a replaced session's stop; the newer session keeps its route");
        return None;
    }
    st.running.remove(&dispute_id);
    Some(dispute_id)
}

/// What starts a session besides its own work: news on a party's channel, or the node
/// answering a take after the session had ended it.
enum Woken {
    ByParty(Option<ChatEvent>),
    ByNode(NodeMessage),
}

/// By the echoed request id; a reply without one, by the dispute id it names. An answer for no
/// running session may be a late one to a take that timed out: its session starts to honour it.
async fn route_node_message(me: &SessionsRef, st: &mut State, message: NodeMessage) {
    let inner = message.message.get_inner_message_kind();
    let by_request = inner.request_id.and_then(|id| st.running.values().find(|r| r.request_id == id));
    let by_dispute = || inner.id.and_then(|id| st.running.get(&id.to_string()));
    if let Some(running) = by_request.or_else(by_dispute) {
        let _ = running.session.cast(session::Msg::Node(message));
        return;
    }
    let (request_id, dispute_id) = (inner.request_id, inner.id.map(|id| id.to_string()));
    let take = st.db.read(move |conn| store::answerable(conn, request_id, dispute_id.as_deref())).await;
    match take {
        Ok(Some((dispute_id, request_id))) if !st.running.contains_key(&dispute_id) => {
            info!(dispute = %dispute_id, "the node answered a take that timed out; honouring it");
            if let Err(e) = spawn(me, st, dispute_id.clone(), Some(request_id), Woken::ByNode(message)).await {
                error!(dispute = %dispute_id, error = %e, "mediation session could not start for a late answer");
            }
        }
        Ok(_) => debug!(action = %inner.action, "message from the node for no running session"),
        Err(e) => error!(error = %e, "cannot look up the take a node message answers"),
    }
}

/// One round of pruning; the rest of a backlog in further rounds, between other work.
async fn on_prune(me: &SessionsRef, st: &mut State, mut pruned: Pruned) -> Result<(), ActorProcessingErr> {
    let now = st.args.base.clock.now();
    if pruning::round(&mut st.db, &PRUNERS, &st.args.retention, now, &mut pruned).await {
        me.cast(Msg::Prune(pruned))?;
    }
    Ok(())
}

/// Request ids are stored as SQLite integers.
fn fresh_request_id() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0 & i64::MAX as u64
}

#[cfg(test)]
mod tests {
    //! The supervisor's handlers driven directly on a State the test holds (as ractor's own
    //! `node_session` tests do), so supervision events can be delivered in the order a race would
    //! deliver them; the sessions it starts are real MediationSession actors on a temp database.

    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use nostr_sdk::Keys;
    use ractor::{Actor, ActorProcessingErr, SupervisionEvent};
    use serbero_core::config::{
        MediationSettings, OutboxSettings, PromptSettings, ReasoningSettings, RetentionSettings,
    };
    use serbero_core::dispute::{DisputeEvent, DisputeStatus, Initiator};
    use serbero_core::mediation::SessionState;
    use serbero_core::prompts::PromptBundle;
    use tokio::sync::{mpsc, oneshot};
    use uuid::Uuid;

    use super::*;
    use crate::clock::Clock;
    use crate::harness::{Probe, TempDb, WAIT};
    use crate::reasoning::Reasoner;

    const REQUEST_ID: u64 = 42;

    /// Stands where the Sessions actor would: sessions are linked to it, and the test hands their
    /// supervision events to `Sessions::handle_supervisor_evt` itself, in the order it chooses.
    /// It only reports sessions that failed.
    struct Parent;

    impl Actor for Parent {
        type Msg = Msg;
        type State = mpsc::UnboundedSender<String>;
        type Arguments = mpsc::UnboundedSender<String>;

        async fn pre_start(
            &self,
            _me: SessionsRef,
            failures: Self::Arguments,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(failures)
        }

        async fn handle_supervisor_evt(
            &self,
            _me: SessionsRef,
            event: SupervisionEvent,
            failures: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if let SupervisionEvent::ActorFailed(_, why) = event {
                let _ = failures.send(why.to_string());
            }
            Ok(())
        }
    }

    fn mediator() -> Arc<Mediator> {
        let reasoning = ReasoningSettings {
            enabled: true,
            provider: "openai-compatible".into(),
            model: "unused".into(),
            // Resumed sessions waiting for the parties ask the model nothing.
            api_base: "http://127.0.0.1:9".into(),
            api_key: Some("test-key".into()),
            ..ReasoningSettings::default()
        };
        let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("prompts");
        Arc::new(Mediator {
            reasoner: Reasoner::build(&reasoning).unwrap(),
            bundle: Arc::new(PromptBundle::load(&PromptSettings::in_dir(&prompts)).unwrap()),
            settings: MediationSettings::default(),
            solvers: Vec::new(),
            observers: Vec::new(),
            directory: Default::default(),
            escalation: None,
            evaluation_retry: Duration::from_secs(60),
            hibernate_after: Duration::from_secs(3600),
        })
    }

    /// A dispute Serbero took, its session waiting for the parties: what a hibernated session
    /// leaves in the database.
    fn taken_and_waiting(db: &TempDb, dispute: &str, mediator: &Mediator, now: i64) {
        let (buyer, seller) = (Keys::generate().public_key().to_hex(), Keys::generate().public_key().to_hex());
        let conn = rusqlite::Connection::open(db.path()).unwrap();
        conn.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
             VALUES (?1, 'e1', 'node', 'buyer', 1, 1)",
            [dispute],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, answered_at,
                                       order_id, buyer_pubkey, seller_pubkey, updated_at)
             VALUES (?1, 'took', ?2, ?3, ?3, ?3, ?4, ?5, ?6, ?3)",
            rusqlite::params![dispute, REQUEST_ID as i64, now - 120, Uuid::new_v4().to_string(), buyer, seller],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO mediation_sessions (session_id, dispute_id, state, prompt_bundle_id, policy_hash,
                                             started_at, last_transition_at)
             VALUES (?1, ?2, 'awaiting_response', ?3, ?4, ?5, ?5)",
            rusqlite::params![
                Uuid::new_v4().to_string(),
                dispute,
                mediator.bundle.id,
                mediator.bundle.policy_hash,
                now - 60
            ],
        )
        .unwrap();
    }

    /// The dispute's running session, as `Msg::Session` answers.
    async fn route(me: &SessionsRef, st: &mut State, dispute_id: &str) -> Option<SessionRef> {
        let (reply, answer) = oneshot::channel();
        let msg = Msg::Session { dispute_id: dispute_id.to_string(), reply: reply.into() };
        Sessions.handle(me.clone(), msg, st).await.unwrap();
        answer.await.unwrap()
    }

    async fn mediation(session: &SessionRef) -> Option<SessionState> {
        session.call(session::Msg::Status, Some(WAIT)).await.unwrap().unwrap().mediation
    }

    /// A human solver taking the dispute over, as the node publishes it.
    fn takeover(dispute_id: &str, at: i64) -> DisputeEvent {
        DisputeEvent {
            dispute_id: dispute_id.to_string(),
            status: DisputeStatus::InProgress,
            initiator: Initiator::Buyer,
            assigned_solver: None,
            event_id: Keys::generate().public_key().to_hex(),
            mostro_pubkey: Keys::generate().public_key().to_hex(),
            created_at: at,
        }
    }

    /// Two disputes Serbero mediated, rows 40 days old: one resolved as long ago, its take
    /// closed; one whose take stays open after a handoff to forward the parties' words. Each
    /// has a summary's and a dispute notification's audit row, and a sent row in its session's
    /// outbox and in the Dispute actor's.
    fn over_and_forwarding(db: &TempDb, old: i64) {
        let conn = rusqlite::Connection::open(db.path()).unwrap();
        for (dispute, lifecycle, take, handed_off) in
            [("over", "resolved", "closed", None), ("fwd", "taken", "took", Some(old))]
        {
            conn.execute(
                "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at,
                                       lifecycle_state, last_state_change)
                 VALUES (?1, 'e-' || ?1, 'node', 'buyer', ?2, ?2, ?3, ?2)",
                rusqlite::params![dispute, old, lifecycle],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, updated_at, handed_off_at)
                 VALUES (?1, ?2, 1, ?3, ?3, ?3, ?4)",
                rusqlite::params![dispute, take, old, handed_off],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO party_messages (dispute_id, party, direction, inner_event_id, inner_created_at, content, persisted_at)
                 VALUES (?1, 'buyer', 'inbound', 'inner-' || ?1, ?2, 'I paid', ?2)",
                rusqlite::params![dispute, old],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO notifications (dispute_id, solver_pubkey, sent_at, status, notif_type)
                 VALUES (?1, 'solver', ?2, 'sent', 'mediation_summary'), (?1, 'solver', ?2, 'sent', 'initial')",
                rusqlite::params![dispute, old],
            )
            .unwrap();
            for owner in [format!("session:{dispute}"), "dispute".to_string()] {
                conn.execute(
                    "INSERT INTO outbox (owner, idempotency_key, dispute_id, recipient, notif_type, body, event_id,
                                         event_json, status, next_attempt_at, created_at, updated_at)
                     VALUES (?1, ?1 || ?2, ?2, 'r', 'mediation_summary', 'b', 'e', '{}', 'sent', ?3, ?3, ?3)",
                    rusqlite::params![owner, dispute, old],
                )
                .unwrap();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_rows_of_a_mediation_over_for_good_are_pruned_and_a_forwarding_ones_kept() {
        let db = TempDb::migrated();
        over_and_forwarding(&db, Clock::System.now() - 40 * 24 * 60 * 60);
        let (relay, _) = Probe::<relay::Msg>::spawn().await;
        let (dispute_actor, _) = Probe::<dispute::Msg>::spawn().await;
        let (auth_retry, _) = Probe::<auth_retry::Msg>::spawn().await;
        let (failed, _) = mpsc::unbounded_channel();
        let (me, _) = Actor::spawn(None, Parent, failed).await.unwrap();
        let args = Args {
            base: Base {
                db_path: db.path().to_path_buf(),
                keys: Keys::generate(),
                outbox: OutboxSettings::default(),
                relay,
                clock: Clock::System,
            },
            mostro: Keys::generate().public_key(),
            dispute: dispute_actor,
            auth_retry,
            mediator: mediator(),
            take_timeout: Duration::from_secs(15),
            retention: RetentionSettings { days: 30 },
        };
        let mut st = Sessions.pre_start(me.clone(), args).await.unwrap();

        Sessions.handle(me.clone(), Msg::Prune(Pruned::default()), &mut st).await.unwrap();
        let left =
            |table: &str, column: &str| db.column::<String>(&format!("SELECT {column} FROM {table} ORDER BY 1"), []);
        assert_eq!(left("party_messages", "dispute_id"), ["fwd"]);
        assert_eq!(left("notifications", "notif_type"), ["initial", "initial"], "audit rows go by age and type");
        assert_eq!(left("outbox", "idempotency_key"), ["disputefwd", "disputeover", "session:fwdfwd"]);
        assert_eq!(left("solver_takes", "dispute_id"), ["fwd", "over"], "takes are never pruned");
        me.stop(None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replaced_sessions_late_stop_leaves_the_new_session_its_route() {
        let db = TempDb::migrated();
        let dispute = Uuid::new_v4().to_string();
        let mediator = mediator();
        let now = Clock::tokio().now();
        taken_and_waiting(&db, &dispute, &mediator, now);
        let (relay, _relay_sent) = Probe::<relay::Msg>::spawn().await;
        let (dispute_actor, _) = Probe::<dispute::Msg>::spawn().await;
        let (auth_retry, _) = Probe::<auth_retry::Msg>::spawn().await;
        let (failed, mut failures) = mpsc::unbounded_channel();
        let (me, _) = Actor::spawn(None, Parent, failed).await.unwrap();
        let args = Args {
            base: Base {
                db_path: db.path().to_path_buf(),
                keys: Keys::generate(),
                outbox: OutboxSettings::default(),
                relay,
                clock: Clock::tokio(),
            },
            mostro: Keys::generate().public_key(),
            dispute: dispute_actor,
            auth_retry,
            mediator,
            take_timeout: Duration::from_secs(15),
            retention: RetentionSettings::default(),
        };
        let mut st = Sessions.pre_start(me.clone(), args).await.unwrap();

        // The old session runs, then leaves memory.
        spawn(&me, &mut st, dispute.clone(), Some(REQUEST_ID), Woken::ByParty(None)).await.unwrap();
        let old = route(&me, &mut st, &dispute).await.expect("the old session is routed");
        assert_eq!(mediation(&old).await, Some(SessionState::AwaitingResponse));
        old.stop_and_wait(Some(StopReason::Hibernating.as_str().into()), Some(WAIT)).await.unwrap();

        // A party writes: a new session starts before the old one's stop reaches the supervisor.
        spawn(&me, &mut st, dispute.clone(), Some(REQUEST_ID), Woken::ByParty(None)).await.unwrap();
        let new = route(&me, &mut st, &dispute).await.expect("the new session is routed");
        assert_ne!(new.get_id(), old.get_id());
        assert_eq!(mediation(&new).await, Some(SessionState::AwaitingResponse));
        let late =
            SupervisionEvent::ActorTerminated(old.get_cell(), None, Some(StopReason::Hibernating.as_str().into()));
        Sessions.handle_supervisor_evt(me.clone(), late, &mut st).await.unwrap();
        let routed = route(&me, &mut st, &dispute).await.map(|s| s.get_id());
        assert_eq!(routed, Some(new.get_id()), "the old session's late stop took the new session's route");

        // A human takes the dispute over: the revision reaches the new session, which stops writing.
        let revisions = DisputesObserved(vec![takeover(&dispute, now)]);
        Sessions.handle(me.clone(), Msg::Revisions(revisions), &mut st).await.unwrap();
        new.get_cell().wait(Some(WAIT)).await.expect("the new session ends on the takeover");
        let take = db.column::<String>("SELECT state FROM solver_takes WHERE dispute_id = ?1", [&dispute]);
        assert_eq!(take, ["superseded"]);
        let sessions = db.column::<String>("SELECT state FROM mediation_sessions WHERE dispute_id = ?1", [&dispute]);
        assert_eq!(sessions, ["closed"]);

        // Its own stop is the one that takes the route away.
        let finished = SupervisionEvent::ActorTerminated(new.get_cell(), None, Some("finished".into()));
        Sessions.handle_supervisor_evt(me.clone(), finished, &mut st).await.unwrap();
        assert!(route(&me, &mut st, &dispute).await.is_none());
        assert_eq!(failures.try_recv().ok(), None, "no session failed");
        me.stop(None);
    }
}
