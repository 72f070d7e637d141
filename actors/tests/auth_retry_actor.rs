//! Scripts for the AuthRetry actor: a probe plays Relay and answers its status calls with the
//! node's info event (or none); the clock is paused, so the schedule runs in virtual time.

use std::time::Duration;

use nostr_sdk::{Keys, PublicKey};
use serbero::auth_retry::{self, AuthChanged, AuthRetry, AuthStatus};
use serbero::clock::Clock;
use serbero::harness::{Probe, Recorder, Spawned, TempDb};
use serbero::relay::{self, RelayStatus};
use serbero_core::auth_retry::{AuthSchedule, AuthState, TakeOutcome};
use serbero_core::backoff::Backoff;
use serbero_core::node_info::NodeInfo;
use tokio::time::sleep;

fn schedule(initial: u64, max_interval: u64, max_total: u64, max_attempts: u32) -> AuthSchedule {
    AuthSchedule {
        backoff: Backoff::new(Duration::from_secs(initial), Duration::from_secs(max_interval)),
        max_total: Duration::from_secs(max_total),
        max_attempts,
    }
}

struct Script {
    db: TempDb,
    us: PublicKey,
    relay: Recorder<relay::Msg>,
    relay_ref: ractor::ActorRef<relay::Msg>,
}

impl Script {
    async fn new() -> Self {
        let (relay_ref, relay) = Probe::<relay::Msg>::spawn().await;
        Self { db: TempDb::migrated(), us: Keys::generate().public_key(), relay, relay_ref }
    }

    async fn start(&self, schedule: AuthSchedule, run: &str) -> Spawned<auth_retry::Msg> {
        let args = auth_retry::Args {
            db_path: self.db.path().to_path_buf(),
            us: self.us,
            schedule,
            relay: self.relay_ref.clone(),
            daemon_run: run.to_string(),
            clock: Clock::tokio(),
        };
        Spawned::start(AuthRetry, args).await
    }

    /// Answers the next check with this node info (`None`: no info event seen).
    async fn answer_check(&mut self, node_info: Option<NodeInfo>) {
        let relay::Msg::Status(reply) = self.relay.next().await else { panic!("expected a status call") };
        let _ = reply.send(RelayStatus { relays: Vec::new(), chat_channels: 0, node_info });
    }

    fn registering_us(&self) -> Option<NodeInfo> {
        Some(NodeInfo { protocol_version: 2, pow: 0, pow_first_contact: 0, serbero: Some(self.us), created_at: 1 })
    }

    fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        self.db
            .column::<String>("SELECT payload_json FROM mediation_events WHERE kind = ?1 ORDER BY id", &[&kind])
            .iter()
            .map(|p| serde_json::from_str(p).expect("json payload"))
            .collect()
    }
}

async fn status(actor: &Spawned<auth_retry::Msg>) -> AuthStatus {
    actor.ask(auth_retry::Msg::Status).await
}

#[tokio::test(start_paused = true)]
async fn recovers_after_three_failed_checks() {
    let mut s = Script::new().await;
    let actor = s.start(schedule(1, 4, 1_000, 10), "run-1").await;
    let (subscriber, mut changes) = Probe::<AuthChanged>::spawn().await;
    actor.cast(auth_retry::Msg::Subscribe(subscriber.get_derived())).unwrap();

    for _ in 0..3 {
        s.answer_check(None).await;
    }
    s.answer_check(s.registering_us()).await;

    let now = status(&actor).await;
    assert_eq!((now.state, now.attempts, now.may_take), (AuthState::Authorized, 0, true));
    assert_eq!(s.events("auth_retry_attempt").len(), 3);
    assert_eq!(s.events("auth_retry_recovered"), [serde_json::json!({"attempt": 4})]);
    assert!(s.events("auth_retry_terminated").is_empty());
    assert_eq!(changes.next().await, AuthChanged(AuthState::Unauthorized), "told the state at subscription");
    assert_eq!(changes.next().await, AuthChanged(AuthState::Authorized));
    sleep(Duration::from_secs(3_600)).await;
    s.relay.assert_idle().await;
    actor.stop().await;
}

#[tokio::test(start_paused = true)]
async fn gives_up_at_the_attempt_cap_with_no_extra_attempt() {
    let mut s = Script::new().await;
    let actor = s.start(schedule(1, 4, 1_000_000, 4), "run-1").await;
    for _ in 0..4 {
        s.answer_check(None).await;
    }
    assert_eq!(status(&actor).await.state, AuthState::Terminated);
    assert_eq!(s.events("auth_retry_attempt").len(), 4);
    // Sleeps 1, 2, 4 before attempts 2, 3 and 4.
    assert_eq!(s.events("auth_retry_terminated"), [serde_json::json!({"attempt": 4, "cumulative_secs": 7})]);
    sleep(Duration::from_secs(86_400)).await;
    s.relay.assert_idle().await;
    actor.stop().await;
}

#[tokio::test(start_paused = true)]
async fn gives_up_at_the_time_cap_with_no_extra_attempt() {
    let mut s = Script::new().await;
    let started = tokio::time::Instant::now();
    let actor = s.start(schedule(60, 3_600, 400, 24), "run-1").await;
    let mut at = Vec::new();
    // The probe waits 20 s at most for a message; sleep through most of each delay first.
    for wait in [0, 50, 110, 230] {
        sleep(Duration::from_secs(wait)).await;
        s.answer_check(None).await;
        at.push(started.elapsed().as_secs());
    }
    assert_eq!(at, [0, 60, 180, 420], "checks at the start, then after 60, 120 and 240 s");
    assert_eq!(status(&actor).await.state, AuthState::Terminated);
    assert_eq!(s.events("auth_retry_terminated"), [serde_json::json!({"attempt": 4, "cumulative_secs": 420})]);
    sleep(Duration::from_secs(86_400)).await;
    s.relay.assert_idle().await;
    actor.stop().await;
}

#[tokio::test(start_paused = true)]
async fn terminated_holds_across_an_actor_restart_until_the_daemon_restarts() {
    let mut s = Script::new().await;
    let first = s.start(schedule(1, 1, 100, 2), "run-1").await;
    s.answer_check(None).await;
    s.answer_check(None).await;
    assert_eq!(status(&first).await.state, AuthState::Terminated);
    first.stop().await;

    let restarted = s.start(schedule(1, 1, 100, 2), "run-1").await;
    let now = status(&restarted).await;
    assert_eq!((now.state, now.may_take), (AuthState::Terminated, false));
    s.relay.assert_idle().await;
    restarted.stop().await;

    let next_run = s.start(schedule(1, 1, 100, 2), "run-2").await;
    s.answer_check(s.registering_us()).await;
    assert_eq!(status(&next_run).await.state, AuthState::Authorized);
    next_run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn takes_decide_when_the_node_announces_no_serbero() {
    let mut s = Script::new().await;
    let actor = s.start(schedule(60, 3_600, 86_400, 24), "run-1").await;
    s.answer_check(None).await;
    let undecided = status(&actor).await;
    assert_eq!((undecided.state, undecided.may_take), (AuthState::Unauthorized, true), "a first take may be tried");

    actor.cast(auth_retry::Msg::TakeAnswered(TakeOutcome::Took)).unwrap();
    s.answer_check(None).await;
    assert_eq!(status(&actor).await.state, AuthState::Authorized);

    actor.cast(auth_retry::Msg::TakeAnswered(TakeOutcome::CantDo("invalid_pubkey".into()))).unwrap();
    s.answer_check(None).await;
    let lost = status(&actor).await;
    assert_eq!((lost.state, lost.attempts, lost.may_take), (AuthState::Unauthorized, 1, false));
    assert_eq!(
        s.events("auth_retry_attempt").last(),
        Some(&serde_json::json!({"attempt": 1, "error": "the node refused our take: invalid_pubkey"}))
    );
    actor.stop().await;
}
