//! Scripts for the AuthRetry actor: a probe plays Relay (AuthRetry asks it to watch the node's
//! info event), the script hands it info events and take outcomes, and the clock is paused, so
//! the schedule runs in virtual time.

use std::time::Duration;

use nostr_sdk::{Keys, PublicKey};
use serbero::auth_retry::{self, AuthChanged, AuthRetry, AuthStatus};
use serbero::clock::Clock;
use serbero::harness::{Probe, Recorder, Spawned, TempDb};
use serbero::relay::{self, NodeInfoChanged};
use serbero_core::auth_retry::{AuthSchedule, AuthState, TakeOutcome, Takes};
use serbero_core::backoff::Backoff;
use serbero_core::node_info::NodeInfo;
use serde_json::json;
use tokio::time::sleep;

const DAY: Duration = Duration::from_secs(86_400);

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

    /// Starts the actor; it asks Relay to watch the node's info event and nothing else.
    async fn start(&mut self, schedule: AuthSchedule, run: &str) -> Spawned<auth_retry::Msg> {
        let args = auth_retry::Args {
            db_path: self.db.path().to_path_buf(),
            us: self.us,
            schedule,
            relay: self.relay_ref.clone(),
            daemon_run: run.to_string(),
            clock: Clock::tokio(),
        };
        let actor = Spawned::start(AuthRetry, args).await;
        let relay::Msg::WatchNodeInfo { .. } = self.relay.next().await else { panic!("expected a node info watch") };
        actor
    }

    fn node_info(&self, serbero: Option<PublicKey>) -> auth_retry::Msg {
        auth_retry::Msg::NodeInfo(NodeInfoChanged(NodeInfo { serbero, ..NodeInfo::default() }))
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

async fn claim(actor: &Spawned<auth_retry::Msg>) -> Takes {
    actor.ask(auth_retry::Msg::ClaimTakes).await
}

fn refused() -> auth_retry::Msg {
    auth_retry::Msg::TakeAnswered(TakeOutcome::RefusedUnexplained)
}

#[tokio::test(start_paused = true)]
async fn a_quiet_node_leaves_serbero_unconfirmed_for_ever_and_takes_go_ahead() {
    let mut s = Script::new().await;
    let actor = s.start(schedule(1, 4, 100, 3), "run-1").await;
    assert_eq!(status(&actor).await.state, AuthState::Unconfirmed);
    actor.cast(s.node_info(None)).unwrap();
    sleep(30 * DAY).await;

    let now = status(&actor).await;
    assert_eq!((now.state, now.attempts, now.takes), (AuthState::Unconfirmed, 0, Takes::All));
    assert_eq!(claim(&actor).await, Takes::All);
    assert!(s.events("auth_retry_attempt").is_empty() && s.events("auth_retry_terminated").is_empty());
    s.relay.assert_idle().await;
    actor.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_node_announcing_our_key_or_accepting_a_take_proves_registration() {
    let mut s = Script::new().await;
    let actor = s.start(schedule(1, 4, 100, 3), "run-1").await;
    let (subscriber, mut changes) = Probe::<AuthChanged>::spawn().await;
    actor.cast(auth_retry::Msg::Subscribe(subscriber.get_derived())).unwrap();
    actor.cast(s.node_info(Some(s.us))).unwrap();
    assert_eq!(status(&actor).await.state, AuthState::Authorized);
    assert_eq!(changes.next().await, AuthChanged(AuthState::Unconfirmed), "told the state at subscription");
    assert_eq!(changes.next().await, AuthChanged(AuthState::Authorized));
    actor.stop().await;

    let other_run = s.start(schedule(1, 4, 100, 3), "run-2").await;
    other_run.cast(auth_retry::Msg::TakeAnswered(TakeOutcome::Took)).unwrap();
    assert_eq!(status(&other_run).await.state, AuthState::Authorized);
    other_run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn evidence_against_runs_the_schedule_with_one_probe_per_check_then_terminates() {
    let mut s = Script::new().await;
    let started = tokio::time::Instant::now();
    let actor = s.start(schedule(60, 3_600, 1_000_000, 4), "run-1").await;
    actor.cast(refused()).unwrap();
    let now = status(&actor).await;
    assert_eq!((now.state, now.attempts, now.takes), (AuthState::Unauthorized, 1, Takes::None));
    assert_eq!(now.against, Some("the node refused a take of an unclaimed dispute (invalid_pubkey)"));

    // Checks 2, 3 and 4 come after 60, 120 and 240 s; each allows one probing take.
    for (check, after) in [(2, 60), (3, 180)] {
        sleep(Duration::from_secs(after) - started.elapsed() + Duration::from_millis(1)).await;
        assert_eq!(status(&actor).await.attempts, check);
        assert_eq!(claim(&actor).await, Takes::One);
        assert_eq!(claim(&actor).await, Takes::None, "the probe is used up");
    }
    sleep(Duration::from_secs(240)).await;
    assert_eq!(status(&actor).await.state, AuthState::Terminated);
    assert_eq!(claim(&actor).await, Takes::None);
    let attempts: Vec<_> = s.events("auth_retry_attempt").iter().map(|e| e["attempt"].clone()).collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)], "the evidence, then each failed check");
    let terminated = s.events("auth_retry_terminated");
    assert_eq!(terminated.len(), 1);
    assert_eq!((&terminated[0]["attempt"], &terminated[0]["cumulative_secs"]), (&json!(4), &json!(420)));
    sleep(DAY).await;
    s.relay.assert_idle().await;
    actor.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_accepted_probe_recovers_and_a_withdrawn_tag_unconfirms() {
    let mut s = Script::new().await;
    let actor = s.start(schedule(60, 3_600, 86_400, 24), "run-1").await;
    actor.cast(refused()).unwrap();
    actor.cast(auth_retry::Msg::TakeAnswered(TakeOutcome::Took)).unwrap();
    let now = status(&actor).await;
    assert_eq!((now.state, now.attempts, now.against), (AuthState::Authorized, 0, None));
    assert_eq!(s.events("auth_retry_recovered"), [json!({"attempt": 2})]);

    actor.cast(s.node_info(Some(Keys::generate().public_key()))).unwrap();
    let now = status(&actor).await;
    assert_eq!((now.state, now.against), (AuthState::Unauthorized, Some("the node announces a different Serbero key")));
    actor.cast(s.node_info(None)).unwrap();
    assert_eq!(status(&actor).await.state, AuthState::Unconfirmed, "the only evidence against was withdrawn");
    sleep(DAY).await;
    assert_eq!(status(&actor).await.state, AuthState::Unconfirmed);
    actor.stop().await;
}

#[tokio::test(start_paused = true)]
async fn terminated_holds_across_an_actor_restart_until_the_daemon_restarts() {
    let mut s = Script::new().await;
    let first = s.start(schedule(1, 1, 100, 2), "run-1").await;
    first.cast(refused()).unwrap();
    sleep(Duration::from_secs(5)).await;
    assert_eq!(status(&first).await.state, AuthState::Terminated);
    first.stop().await;

    let restarted = s.start(schedule(1, 1, 100, 2), "run-1").await;
    let now = status(&restarted).await;
    assert_eq!((now.state, now.takes), (AuthState::Terminated, Takes::None));
    restarted.cast(auth_retry::Msg::TakeAnswered(TakeOutcome::Took)).unwrap();
    assert_eq!(status(&restarted).await.state, AuthState::Terminated, "only a restart of the daemon tries again");
    restarted.stop().await;

    let next_run = s.start(schedule(1, 1, 100, 2), "run-2").await;
    assert_eq!(status(&next_run).await.state, AuthState::Unconfirmed);
    next_run.stop().await;
}
