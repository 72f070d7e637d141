//! Scripts for the Dispute actor. A probe stands in for Relay, the database is a temp file, the
//! clock is paused. Each script casts what Relay would send, answers Relay's publish requests
//! itself, and checks the requests (down to the decrypted DM text), the rows and the report.

use serbero_core::delivery::OutboxStatus;
use serbero_core::lifecycle::LifecycleState;
use std::time::Duration;

use nostr_sdk::{Keys, Timestamp};
use serbero::base::Base;
use serbero::clock::Clock;
use serbero::dispute::{self, Dispute, DisputeReport};
use serbero::harness::{
    accept_all, published_ids, refuse_all, Probe, Publish, Recorder, Spawned, TempDb, SCRIPT_RELAY_URL, WAIT,
};
use serbero::relay::{self, DisputesObserved};
use serbero_core::config::{OutboxSettings, Permission, Solver, Timeouts};
use serbero_core::dispute::{DisputeEvent, DisputeStatus, Initiator};
use tokio::time::sleep;

// Every period is longer than the harness's guarded wait, so a `next()` cannot drift into one.
const RETRY_INITIAL: u64 = 30;
const RETRY_MAX: u64 = 60;
const MAX_ATTEMPTS: u32 = 3;
const CLAIM_TTL: u64 = 120;
const RENOTIFY_AFTER: u64 = 600;
const RENOTIFY_CHECK: u64 = 60;
const _: () = assert!(RETRY_INITIAL > WAIT.as_secs());

#[tokio::test(start_paused = true)]
async fn cold_start_watches_from_now() {
    let s = Script::start().await;

    assert_eq!(s.watched_since, Timestamp::from(s.clock.now() as u64));
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn warm_start_watches_from_newest_event_minus_60_seconds() {
    let mut s = Script::start().await;
    let newest = s.clock.now() - 1_000;
    s.observe(vec![initiated("d-old", 1, newest - 500), initiated("d-new", 2, newest)]);
    accept_all(&s.publishes(4).await);
    assert_eq!(s.report().await.in_state(LifecycleState::Notified), 2);

    let s = s.restart().await;

    assert_eq!(s.watched_since, Timestamp::from((newest - 60) as u64));
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn initiated_event_sends_one_dm_per_solver_and_an_ok_marks_them_sent() {
    let mut s = Script::start().await;
    let created_at = s.clock.now() - 5;

    s.observe(vec![initiated("d-1", 1, created_at)]);
    let sent = s.publishes(2).await;

    let text = format!(
        "New Mostro dispute requires attention.\ndispute_id: d-1\ninitiator: buyer\nevent_timestamp: {created_at}\nstatus: initiated"
    );
    assert_eq!(s.read_all(&sent).await, [(0, text.clone()), (1, text)]);
    assert_eq!(s.report().await.outbox_in(OutboxStatus::Claimed), 2);

    accept_all(&sent);
    let report = s.report().await;
    assert_eq!((report.outbox_in(OutboxStatus::Sent), report.in_state(LifecycleState::Notified)), (2, 1));
    assert_eq!(s.db.column::<String>("SELECT accepted_relays FROM outbox", []), [SCRIPT_RELAY_URL, SCRIPT_RELAY_URL]);
    assert_eq!(
        s.db.count("SELECT COUNT(*) FROM notifications WHERE status = 'sent' AND notif_type = 'initial'", []),
        2
    );
    s.relay.assert_idle().await;
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn refused_dm_is_published_again_with_the_same_event_after_the_backoff() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    let first = s.publishes(2).await;

    refuse_all(&first);
    let report = s.report().await;
    assert_eq!((report.outbox_in(OutboxStatus::Failed), report.in_state(LifecycleState::New)), (2, 1));
    assert_eq!(
        s.db.column::<String>("SELECT error_message FROM notifications WHERE status = 'failed'", []),
        ["ws://r: blocked: test relay says no"; 2]
    );

    sleep(secs(RETRY_INITIAL - 1)).await;
    s.relay.assert_idle().await;
    sleep(secs(2)).await;
    let again = s.publishes(2).await;
    assert_eq!(published_ids(&again), published_ids(&first));

    accept_all(&again);
    let report = s.report().await;
    assert_eq!((report.outbox_in(OutboxStatus::Sent), report.in_state(LifecycleState::Notified)), (2, 1));
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn dm_is_dead_lettered_after_max_attempts_and_not_published_again() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    let first = s.publishes(2).await;

    refuse_all(&first);
    sleep(secs(RETRY_INITIAL + 1)).await;
    let second = s.publishes(2).await;
    refuse_all(&second);
    sleep(secs(2 * RETRY_INITIAL + 1)).await;
    let third = s.publishes(2).await;
    refuse_all(&third);

    assert_eq!(published_ids(&third), published_ids(&first));
    assert_eq!(s.report().await.outbox_in(OutboxStatus::DeadLettered), 2);
    assert_eq!(s.db.column::<i64>("SELECT attempts FROM outbox", []), [MAX_ATTEMPTS as i64; 2]);
    assert_eq!(s.db.count("SELECT COUNT(*) FROM notifications WHERE status = 'failed'", []), 6);
    // Well past every backoff, yet before the re-notification timer would remind anyone.
    sleep(secs(RENOTIFY_AFTER / 2)).await;
    s.relay.assert_idle().await;
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn claim_without_an_answer_is_published_again_after_claim_ttl() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    let unanswered = s.publishes(2).await;
    for publish in &unanswered {
        publish.start();
    }

    sleep(secs(CLAIM_TTL - 1)).await;
    s.relay.assert_idle().await;
    sleep(secs(RETRY_INITIAL + 2)).await;
    let again = s.publishes(2).await;

    assert_eq!(published_ids(&again), published_ids(&unanswered));
    assert_eq!(s.db.column::<i64>("SELECT attempts FROM outbox", []), [2, 2]);
    accept_all(&again);
    assert_eq!(s.report().await.outbox_in(OutboxStatus::Sent), 2);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_claim_waiting_for_a_send_slot_does_not_expire_and_counts_from_its_start() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    let queued = s.publishes(2).await;

    // Relay's slots are all taken for three claim periods: the rows are not failing.
    sleep(secs(3 * CLAIM_TTL)).await;
    s.relay.assert_idle().await;
    assert_eq!((s.report().await.outbox_in(OutboxStatus::Claimed), s.attempts()), (2, vec![1, 1]));

    for publish in &queued {
        publish.start();
    }
    s.report().await;
    sleep(secs(CLAIM_TTL - 1)).await;
    s.relay.assert_idle().await;
    sleep(secs(RETRY_INITIAL + 2)).await;
    let again = s.publishes(2).await;
    assert_eq!(published_ids(&again), published_ids(&queued));
    assert_eq!(s.attempts(), [2, 2]);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_acceptance_after_the_claim_expired_is_kept_and_nothing_is_sent_again() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    let slow = s.publishes(2).await;
    for publish in &slow {
        publish.start();
    }
    sleep(secs(CLAIM_TTL + 1)).await;
    assert_eq!(s.report().await.outbox_in(OutboxStatus::Failed), 2);

    accept_all(&slow);
    let report = s.report().await;
    assert_eq!((report.outbox_in(OutboxStatus::Sent), report.in_state(LifecycleState::Notified)), (2, 1));
    sleep(secs(RETRY_MAX * 4)).await;
    s.relay.assert_idle().await;
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_delivered_message_is_never_left_dead_lettered() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    refuse_all(&s.publishes(2).await);
    sleep(secs(RETRY_INITIAL + 1)).await;
    refuse_all(&s.publishes(2).await);
    sleep(secs(2 * RETRY_INITIAL + 1)).await;
    let last = s.publishes(2).await;
    for publish in &last {
        publish.start();
    }
    sleep(secs(CLAIM_TTL + 1)).await;
    assert_eq!(s.report().await.outbox_in(OutboxStatus::DeadLettered), 2);

    accept_all(&last);
    assert_eq!(s.report().await.outbox_in(OutboxStatus::Sent), 2);
    assert_eq!(s.db.count("SELECT COUNT(*) FROM notifications WHERE status = 'sent'", []), 2);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn relays_answering_after_the_first_acceptance_are_recorded() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    let sent = s.publishes(2).await;
    accept_all(&sent);
    s.report().await;

    let mute = ("ws://mute".to_string(), "no answer within 10000 ms".to_string());
    for publish in &sent {
        publish.complete(vec![SCRIPT_RELAY_URL.to_string(), "ws://s".to_string()], vec![mute.clone()]);
    }
    let report = s.report().await;
    assert_eq!(report.outbox_in(OutboxStatus::Sent), 2);
    let relays = format!("{SCRIPT_RELAY_URL},ws://s");
    assert_eq!(s.db.column::<String>("SELECT accepted_relays FROM outbox", []), [relays.clone(), relays]);
    assert_eq!(s.db.column::<String>("SELECT last_error FROM outbox", []), ["ws://mute: no answer within 10000 ms"; 2]);
    assert_eq!(s.db.count("SELECT COUNT(*) FROM notifications", []), 2, "recorded, not audited again");
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn initiated_and_in_progress_in_one_batch_send_initial_and_assignment() {
    let mut s = Script::start().await;
    let created_at = s.clock.now();
    let assignee = s.solvers[1].public_key().to_hex();
    let mut taken = event("d-1", DisputeStatus::InProgress, 2, created_at + 1);
    taken.assigned_solver = Some(assignee.clone());

    s.observe(vec![initiated("d-1", 1, created_at), taken]);
    let sent = s.publishes(4).await;

    let initial = format!(
        "New Mostro dispute requires attention.\ndispute_id: d-1\ninitiator: buyer\nevent_timestamp: {created_at}\nstatus: initiated"
    );
    let assignment =
        format!("Mostro dispute has been taken.\ndispute_id: d-1\nassigned_solver: {assignee}\nlifecycle_state: taken");
    assert_eq!(s.read_all(&sent).await, [(0, assignment.clone()), (0, initial.clone()), (1, assignment), (1, initial)]);
    accept_all(&sent);
    assert_eq!(s.report().await.in_state(LifecycleState::Taken), 1);
    assert_eq!(s.db.column::<String>("SELECT assigned_solver FROM disputes", []), [assignee]);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn duplicates_in_a_batch_make_one_set_of_dms() {
    let mut s = Script::start().await;
    let first = initiated("d-1", 1, s.clock.now());
    let republished = initiated("d-1", 2, s.clock.now() + 1);

    s.observe(vec![first.clone(), first, republished]);
    let sent = s.publishes(2).await;

    assert_eq!(s.read_all(&sent).await.iter().map(|(solver, _)| *solver).collect::<Vec<_>>(), [0, 1]);
    s.report().await; // barrier: the whole batch was handled
    s.relay.assert_idle().await;
    assert_eq!(s.db.count("SELECT COUNT(*) FROM dispute_observations", []), 1);
    assert_eq!(s.db.count("SELECT COUNT(*) FROM outbox", []), 2);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn notified_dispute_nobody_takes_is_renotified_with_the_exact_text() {
    let mut s = Script::start().await;
    let created_at = s.clock.now() - 5;
    s.observe(vec![initiated("d-1", 1, created_at)]);
    accept_all(&s.publishes(2).await);
    assert_eq!(s.report().await.in_state(LifecycleState::Notified), 1);

    // Ticks every 60 s; the first one that finds the DM older than 600 s is at 660 s.
    let due = RENOTIFY_AFTER + RENOTIFY_CHECK;
    sleep(secs(due - 1)).await;
    s.relay.assert_idle().await;
    sleep(secs(2)).await;
    let reminders = s.publishes(2).await;

    let elapsed = due as i64 + 5;
    let text = format!(
        "Mostro dispute is still unattended.\ndispute_id: d-1\nlifecycle_state: notified\ntime_elapsed_seconds: {elapsed}"
    );
    assert_eq!(s.read_all(&reminders).await, [(0, text.clone()), (1, text)]);
    accept_all(&reminders);
    s.report().await;
    assert_eq!(
        s.db.count("SELECT COUNT(*) FROM outbox WHERE notif_type = 're-notification' AND status = 'sent'", []),
        2
    );
    assert_eq!(s.db.count("SELECT renotification_round FROM disputes", []), 1);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn taken_dispute_is_not_renotified() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    accept_all(&s.publishes(2).await);
    s.observe(vec![event("d-1", DisputeStatus::InProgress, 2, s.clock.now())]);
    accept_all(&s.publishes(2).await);
    assert_eq!(s.report().await.in_state(LifecycleState::Taken), 1);

    sleep(secs(RENOTIFY_AFTER + 3 * RENOTIFY_CHECK)).await;

    s.relay.assert_idle().await;
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn restart_publishes_unanswered_claims_again_with_the_same_events() {
    let mut s = Script::start().await;
    s.observe(vec![initiated("d-1", 1, s.clock.now())]);
    let before = s.publishes(2).await;

    let mut s = s.restart().await;
    let after = s.publishes(2).await;

    assert_eq!(published_ids(&after), published_ids(&before));
    accept_all(&after);
    let report = s.report().await;
    assert_eq!((report.outbox_in(OutboxStatus::Sent), report.in_state(LifecycleState::Notified)), (2, 1));
    s.relay.assert_idle().await;
    s.stop().await;
}

/// One script's world: Dispute with a probe as its Relay, a temp database, two solvers.
struct Script {
    db: TempDb,
    clock: Clock,
    serbero: Keys,
    solvers: [Keys; 2],
    relay: Recorder<relay::Msg>,
    dispute: Spawned<dispute::Msg>,
    /// The `since` of the `WatchDisputes` Dispute cast when it started.
    watched_since: Timestamp,
}

impl Script {
    async fn start() -> Self {
        let (db, clock) = (TempDb::migrated(), Clock::tokio());
        let (serbero, solvers) = (Keys::generate(), [Keys::generate(), Keys::generate()]);
        let (dispute, relay, watched_since) = spawn_dispute(&db, &serbero, &solvers, clock).await;
        Self { db, clock, serbero, solvers, relay, dispute, watched_since }
    }

    /// Stops Dispute and starts a new one on the same database with a fresh relay probe.
    async fn restart(self) -> Self {
        self.dispute.stop().await;
        let (dispute, relay, watched_since) = spawn_dispute(&self.db, &self.serbero, &self.solvers, self.clock).await;
        Self { dispute, relay, watched_since, ..self }
    }

    async fn stop(self) {
        self.dispute.stop().await;
    }

    fn observe(&self, events: Vec<DisputeEvent>) {
        self.dispute.cast(dispute::Msg::Observed(DisputesObserved(events))).expect("dispute is running");
    }

    /// Also a barrier for everything the script cast before.
    async fn report(&self) -> DisputeReport {
        self.dispute.ask(dispute::Msg::Status).await
    }

    /// The next `n` requests to Relay, each of which must be a `Publish`.
    async fn publishes(&mut self, n: usize) -> Vec<Publish> {
        Publish::next_n(&mut self.relay, n).await
    }

    /// (solver index, DM text) of every gift wrap, sorted; a wrap no solver can open fails.
    async fn read_all(&self, publishes: &[Publish]) -> Vec<(usize, String)> {
        let mut read = Vec::new();
        for publish in publishes {
            read.push(self.read(publish).await);
        }
        read.sort();
        read
    }

    fn attempts(&self) -> Vec<i64> {
        self.db.column("SELECT attempts FROM outbox ORDER BY id", [])
    }

    async fn read(&self, publish: &Publish) -> (usize, String) {
        publish.open(&self.solvers, &self.serbero.public_key()).await
    }
}

async fn spawn_dispute(
    db: &TempDb,
    serbero: &Keys,
    solvers: &[Keys; 2],
    clock: Clock,
) -> (Spawned<dispute::Msg>, Recorder<relay::Msg>, Timestamp) {
    let (relay, mut requests) = Probe::<relay::Msg>::spawn().await;
    let args = dispute::Args {
        base: Base {
            db_path: db.path().to_path_buf(),
            keys: serbero.clone(),
            outbox: OutboxSettings {
                max_attempts: MAX_ATTEMPTS,
                retry_initial_seconds: RETRY_INITIAL,
                retry_max_seconds: RETRY_MAX,
                claim_ttl_seconds: CLAIM_TTL,
            },
            relay,
            clock,
        },
        solvers: solvers.iter().map(|k| Solver::new(k.public_key(), Permission::Read)).collect(),
        observers: Vec::new(),
        timeouts: Timeouts {
            renotification_seconds: RENOTIFY_AFTER,
            renotification_check_interval_seconds: RENOTIFY_CHECK,
        },
        retention: serbero_core::config::RetentionSettings::default(),
    };
    let dispute = Spawned::start(Dispute, args).await;
    let relay::Msg::WatchDisputes { since, .. } = requests.next().await else {
        panic!("Dispute must first ask Relay to watch disputes");
    };
    (dispute, requests, since)
}

fn initiated(dispute_id: &str, serial: u64, created_at: i64) -> DisputeEvent {
    event(dispute_id, DisputeStatus::Initiated, serial, created_at)
}

/// A dispute event as Relay hands it over (already checked); `serial` makes its event id.
fn event(dispute_id: &str, status: DisputeStatus, serial: u64, created_at: i64) -> DisputeEvent {
    DisputeEvent {
        dispute_id: dispute_id.to_string(),
        status,
        initiator: Initiator::Buyer,
        assigned_solver: None,
        event_id: format!("{dispute_id}-{serial:060}"),
        mostro_pubkey: "ab".repeat(32),
        created_at,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
