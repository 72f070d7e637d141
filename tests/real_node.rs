//! Mediation against a node that behaves like today's mostrod (`serbero_sim::FakeNode`, each
//! behaviour citing the mostrod source it mirrors), through the real actor tree and relay: a lost
//! race, a node that never announces Serbero, a real non-solver, a late answer, a take published
//! while the node was away, and a restart in the middle of a take.

mod support;

use std::time::Duration;

use mostro_core::error::CantDoReason;
use serbero::auth_retry::{self, AuthStatus};
use serbero::session::store::TakeState;
use serbero_core::auth_retry::{AuthState, Takes};
use serbero_core::config::Config;
use serbero_core::mediation::SessionState;
use serbero_sim::{NodeAnswer, NodeScript, SolverCategory, Trade};
use support::scene::{mediation_config, Scene, Setup};
use support::*;
use uuid::Uuid;

/// A schedule that runs out within seconds.
fn short_schedule(config: &mut Config) {
    config.mediation.solver_auth_retry_initial_seconds = 1;
    config.mediation.solver_auth_retry_max_interval_seconds = 1;
    config.mediation.solver_auth_retry_max_total_seconds = 3;
    config.mediation.solver_auth_retry_max_attempts = 3;
}

async fn standing(s: &Scene) -> AuthStatus {
    let auth = s.daemon.children().auth_retry.clone().expect("mediation runs AuthRetry");
    auth.call(auth_retry::Msg::Status, Some(WAIT)).await.unwrap().unwrap()
}

async fn wait_for_standing(s: &Scene, state: AuthState) -> AuthStatus {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = standing(s).await;
        if now.state == state {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "standing still {now:?}, never {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn take_state(s: &Scene, dispute: Uuid) -> Option<String> {
    rows(&s.db(), &format!("SELECT state FROM solver_takes WHERE dispute_id = '{dispute}'")).pop()
}

async fn wait_for_take_of(s: &Scene, dispute: Uuid, state: TakeState) {
    let sql =
        format!("SELECT COUNT(*) FROM solver_takes WHERE dispute_id = '{dispute}' AND state = '{}'", state.as_str());
    let found = wait_for_scalar(&s.db(), &sql, 1, WAIT).await;
    assert!(found, "take of {dispute} never {}: {:?}", state.as_str(), take_state(s, dispute));
}

/// Waits until a relay holds `n` tries of the scene's take.
async fn wait_for_tries_sent(s: &Scene, n: i64) {
    let sql = format!("SELECT COUNT(*) FROM take_evidence WHERE dispute_id = '{}' AND kind = 'sent'", s.dispute);
    assert!(wait_for_scalar(&s.db(), &sql, n, WAIT).await, "{n} tries never reached a relay");
}

fn answers_to(s: &Scene, dispute: Uuid) -> Vec<NodeAnswer> {
    s.node.requests().into_iter().filter(|r| r.id == Some(dispute) && r.dropped.is_none()).map(|r| r.answer).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_race_ends_that_take_alone_and_the_next_dispute_is_still_taken_and_mediated() {
    let s = Scene::start(Setup::default()).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    let human = nostr_sdk::Keys::generate().public_key();
    s.node.register_solver(human, SolverCategory::ReadWrite);

    // A human takes the second dispute at the node the moment it opens; its revision is still on
    // the way to the relays when Serbero's take arrives.
    let raced = Uuid::new_v4();
    let trade =
        Trade::opened_by_buyer(nostr_sdk::Keys::generate().public_key(), nostr_sdk::Keys::generate().public_key());
    s.node.open_dispute(raced, trade).await.unwrap();
    s.node.delay_revisions(Duration::from_secs(1));
    assert!(s.node.take_by(raced, human).await.unwrap());
    wait_for_take_of(&s, raced, TakeState::Superseded).await;
    assert_eq!(answers_to(&s, raced), [NodeAnswer::CantDo(CantDoReason::InvalidPubkey)], "the race really was lost");

    let now = standing(&s).await;
    assert_eq!((now.state, now.takes), (AuthState::Authorized, Takes::All), "a lost race says nothing about Serbero");
    assert_eq!(s.session_state().as_deref(), Some("awaiting_response"), "the healthy session goes on");
    assert_eq!(s.events("handoff_prepared"), 0);

    s.node.delay_revisions(Duration::ZERO);
    let next = s.open_another_dispute().await;
    wait_for_take_of(&s, next, TakeState::Took).await;
    let sql =
        format!("SELECT COUNT(*) FROM mediation_sessions WHERE dispute_id = '{next}' AND state = 'awaiting_response'");
    assert!(wait_for_scalar(&s.db(), &sql, 1, WAIT).await, "the next dispute is mediated");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_never_announces_serbero_leaves_mediation_on_past_the_whole_schedule() {
    let s = Scene::start_idle(Setup::default(), short_schedule).await;
    // No `serbero` tag and no dispute for longer than the whole retry schedule (3 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let now = standing(&s).await;
    assert_eq!((now.state, now.attempts, now.takes), (AuthState::Unconfirmed, 0, Takes::All));
    assert_eq!(scalar(&s.db(), "SELECT COUNT(*) FROM mediation_events WHERE kind LIKE 'auth_retry_%'"), 0);

    s.open_dispute().await;
    s.wait_for_take(TakeState::Took).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    assert_eq!(wait_for_standing(&s, AuthState::Authorized).await.against, None);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_non_solver_is_terminated_by_evidence_and_notification_goes_on() {
    let s = Scene::start_with(Setup { serbero_registered: None, ..Setup::default() }, short_schedule).await;
    s.wait_for_take(TakeState::Refused).await;
    wait_for_standing(&s, AuthState::Unauthorized).await;
    let ended = wait_for_standing(&s, AuthState::Terminated).await;
    assert_eq!(
        (ended.takes, ended.against),
        (Takes::None, Some("the node refused a take of an unclaimed dispute (invalid_pubkey)"))
    );
    assert_eq!(scalar(&s.db(), "SELECT COUNT(*) FROM mediation_events WHERE kind = 'auth_retry_terminated'"), 1);

    // Core notification never depended on the standing; no take is tried any more.
    assert!(dm_containing(&s.solver, &s.dispute.to_string()).await.is_some(), "the first dispute was notified");
    let next = s.open_another_dispute().await;
    assert!(dm_containing(&s.solver, &next.to_string()).await.is_some(), "a later dispute is notified");
    assert_eq!(take_state(&s, next), None, "no take while terminated");
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_the_deadline_is_honoured_and_both_accepted_tries_are_ours() {
    let s = Scene::start_idle(Setup::default(), |_| {}).await;
    // The node answers 3 s after each take; a try waits 2 s, so the second try goes out first.
    s.node.delay_replies(Duration::from_secs(3));
    s.open_dispute().await;
    s.wait_for_take(TakeState::Took).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    assert!(s.node.wait_for_requests(2, WAIT).await, "the unanswered take was tried again");
    let answers_and_revisions = format!(
        "SELECT COUNT(*) FROM take_evidence WHERE dispute_id = '{}' AND kind IN ('accepted', 'in_progress')",
        s.dispute
    );
    assert!(wait_for_scalar(&s.db(), &answers_and_revisions, 4, WAIT).await, "both answers and both revisions seen");
    s.daemon.sessions().await;
    assert_eq!(s.take().unwrap().0, "took", "the second accepted try's revision is not a takeover");
    assert_eq!(s.session_state().as_deref(), Some("awaiting_response"));
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_published_while_the_node_was_away_is_tried_again() {
    let s = Scene::start(Setup { node_offline: true, ..Setup::default() }).await;
    wait_for_tries_sent(&s, 1).await;
    s.node.come_online().await.unwrap();
    s.wait_for_take(TakeState::Took).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    assert_eq!(answers_to(&s, s.dispute), [NodeAnswer::Took], "the node only ever saw the second try");
    assert_eq!(scalar(&s.db(), "SELECT tries_unanswered FROM solver_takes"), 1);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_take_resumes_it() {
    let s = Scene::start(Setup { node_offline: true, ..Setup::default() }).await;
    wait_for_tries_sent(&s, 1).await;
    let request_id = scalar(&s.db(), "SELECT request_id FROM solver_takes");
    let Scene { world, node, model, daemon, solver, dispute, buyer, seller } = s;
    daemon.stop().await;

    node.come_online().await.unwrap();
    let daemon = Daemon::start(mediation_config(&world, &solver, &model)).await;
    let s = Scene { world, node, model, daemon, solver, dispute, buyer, seller };
    s.wait_for_take(TakeState::Took).await;
    s.wait_for_session(SessionState::AwaitingResponse).await;
    assert_eq!(scalar(&s.db(), "SELECT request_id FROM solver_takes"), request_id, "the same take, resumed");
    assert_eq!(answers_to(&s, s.dispute), [NodeAnswer::Took]);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_contact_demand_the_node_does_not_announce_is_met_on_the_next_try() {
    let node = NodeScript { unannounced_pow_first_contact: 12, ..NodeScript::default() };
    let s = Scene::start(Setup { node, ..Setup::default() }).await;
    let sql = format!("SELECT COUNT(*) FROM solver_takes WHERE dispute_id = '{}' AND state = 'took'", s.dispute);
    let took = wait_for_scalar(&s.db(), &sql, 1, WAIT).await;
    assert!(took, "never taken; the node received {:#?}", s.node.requests());
    let requests = s.node.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].dropped.as_deref().is_some_and(|why| why.contains("first")), "{:?}", requests[0]);
    assert_eq!(requests[1].answer, NodeAnswer::Took);
    assert!(requests[1].pow_bits >= 16, "the second try carries more work: {} bits", requests[1].pow_bits);
    s.daemon.stop().await;
}
