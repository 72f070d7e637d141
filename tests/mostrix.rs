//! Where solvers already are: every solver-facing message also reaches Mostrix's SERBERO pane
//! as a Mostro protocol v2 `send-dm` (read here by `MostrixInbox`, which mirrors Mostrix's own
//! reader and opens the events with mostro-core's unwrapping), linked to its dispute, under the
//! subject the README's table gives, with exactly one alerting message per handoff per solver.
//! The brief quotes the parties verbatim; observers get one line per milestone and never a
//! party's words. The gift wrap keeps its body: the Mostrix text is the header, then that body.

mod support;

use std::time::Duration;

use mostro_core::dispute::Status as DisputeStatus;
use nostr_sdk::prelude::*;
use serbero::session::store::TakeState;
use serbero_core::config::{Config, Format, Formats, Observer, Permission};
use serbero_core::mediation::SessionState;
use serbero_sim::{Brain, MostrixInbox, PaneMessage, SolverInbox, Turn};
use support::scene::{Scene, Setup};
use support::*;

/// Mostrix on the solver's own key, trusting Serbero.
async fn mostrix(world: &World, solver: &SolverInbox) -> MostrixInbox {
    MostrixInbox::start(solver.keys.clone(), vec![world.serbero.public_key()], &world.relay.url()).await.unwrap()
}

/// Waits until the pane holds a message with `subject` about `dispute`, and returns it.
async fn wait_subject(pane: &MostrixInbox, dispute: &str, subject: &str) -> PaneMessage {
    let mut seen = 0;
    loop {
        if let Some(found) = pane.messages().into_iter().find(|m| m.subject == subject) {
            assert_eq!(found.dispute_id.as_deref(), Some(dispute), "{subject}");
            return found;
        }
        seen = pane.messages().len().max(seen) + 1;
        assert!(pane.wait_for(seen, WAIT).await, "no `{subject}` in {:?}", subjects(&pane.messages()));
    }
}

fn subjects(messages: &[PaneMessage]) -> Vec<String> {
    messages.iter().map(|m| m.subject.clone()).collect()
}

/// Subjects in the pane, sorted (two actors send them, so arrival order is not theirs).
fn sorted_subjects(pane: &MostrixInbox) -> Vec<String> {
    let mut all = subjects(&pane.messages());
    all.sort();
    all
}

/// The Mostrix text is `Dispute <id> · <subject>`, a line break, then one of the gift wraps'
/// bodies, byte for byte.
fn assert_same_body(message: &PaneMessage, gift_wraps: &SolverInbox, dispute: &str) {
    let header = format!("Dispute {dispute} \u{b7} {}\n", message.subject);
    let body = message.text.strip_prefix(&header).unwrap_or_else(|| panic!("header of {:?}", message.text));
    let bodies: Vec<String> = gift_wraps.messages().into_iter().map(|dm| dm.text).collect();
    assert!(bodies.iter().any(|b| b == body), "{body:?} is none of the gift wraps {bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_mostrix_linked_to_their_dispute() {
    let world = World::new().await;
    let (both, gift_only) = (world.solver().await, world.solver().await);
    let (pane, other_pane) = (mostrix(&world, &both).await, mostrix(&world, &gift_only).await);
    let mut config = world.config(&[&both, &gift_only]);
    config.solvers[0].formats = Formats::default();
    config.timeouts.renotification_seconds = 1;
    config.timeouts.renotification_check_interval_seconds = 1;
    let daemon = Daemon::start(config).await;
    let d = dispute_id(1);

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    wait_subject(&pane, &d, "new").await;
    wait_subject(&pane, &d, "unattended (0 min)").await;
    world
        .mostro
        .publish(&d, "in-progress", "buyer", &[tag("p", &Keys::generate().public_key().to_hex())])
        .await
        .unwrap();
    wait_subject(&pane, &d, "taken").await;

    assert!(dm_containing(&both, "Mostro dispute has been taken.").await.is_some(), "the gift wraps arrive too");
    for message in pane.messages() {
        assert_same_body(&message, &both, &d);
        assert_eq!(message.sender, world.serbero.public_key());
    }
    assert_eq!(pane.alerts(), 0, "nothing here needs action");

    // A dispute id Mostrix cannot link gets the gift wrap only.
    world.mostro.publish("d-7", "initiated", "seller", &[]).await.unwrap();
    assert!(dm_containing(&both, "dispute_id: d-7").await.is_some());
    let rows = rows(&world.db_path(), "SELECT DISTINCT format FROM outbox WHERE dispute_id = 'd-7'");
    assert_eq!(rows, ["nip17"]);
    assert!(dm_containing(&gift_only, "dispute_id: d-7").await.is_some(), "a gift-wrap-only solver gets every DM");
    assert!(!other_pane.wait_for(1, Duration::from_millis(300)).await, "and nothing in Mostrix");
    daemon.stop().await;
}

/// Both forms for the scene's solver, and an observer reading both forms.
fn with_observer(config: &mut Config, observer: PublicKey) {
    config.solvers[0].formats = Formats::default();
    config.observers = vec![Observer { pubkey: observer, formats: Formats::default() }];
}

const BUYER_SAYS: &str = "I paid on Monday, reference 4711\n(bank: Sparkasse)";
const SELLER_SAYS: &str = "I will check my bank app now";

async fn answer_round(s: &Scene) {
    let (buyer, seller) = (s.party(&s.buyer).await, s.party(&s.seller).await);
    s.wait_for_session(SessionState::AwaitingResponse).await;
    buyer.say(BUYER_SAYS).await.unwrap();
    seller.say(SELLER_SAYS).await.unwrap();
}

/// The quoted form of a party's words in a brief or a transcript.
fn quoted(words: &str) -> String {
    words.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_hands_off_once_with_a_brief_then_forwards_what_the_parties_write() {
    let observer_keys = Keys::generate();
    let s = Scene::start_idle(Setup::default(), |c| {
        with_observer(c, observer_keys.public_key());
        c.mediation.transcript_quiet_seconds = 3;
    })
    .await;
    let observer = SolverInbox::start_with(observer_keys, &s.world.relay.url()).await.unwrap();
    let (pane, observer_pane) = (mostrix(&s.world, &s.solver).await, mostrix(&s.world, &observer).await);
    s.open_dispute().await;
    answer_round(&s).await;
    s.wait_for_session(SessionState::Closed).await;
    let d = s.dispute.to_string();

    let summary = dm_containing(&s.solver, "mediation_summary/v1").await.expect("summary");
    let handed_off = wait_subject(&pane, &d, "handed off: summary_ready").await;
    assert_same_body(&handed_off, &s.solver, &d);
    for words in [BUYER_SAYS, SELLER_SAYS] {
        assert!(summary.text.contains(&quoted(words)), "verbatim quote of {words:?} in {}", summary.text);
    }
    let assessment = "Model's assessment (a language model's reading, not a finding): coordination_failure_resolvable";
    assert!(summary.text.contains(assessment), "{}", summary.text);
    for fact in ["Opened by: buyer", "Amount: 100000 sats", "Fiat: 50 EUR", "Payment method: SEPA", "Order: "] {
        assert!(summary.text.contains(fact), "{fact} in {}", summary.text);
    }
    assert!(!summary.text.contains("Both accounts agree"), "no rationale in a DM");

    // After the handoff the parties write on: one transcript per burst.
    let buyer = s.party(&s.buyer).await;
    buyer.say("Any news?").await.unwrap();
    buyer.say("I can send a screenshot").await.unwrap();
    let transcript = dm_containing(&s.solver, "The parties wrote after Serbero handed").await.expect("transcript");
    assert!(transcript.text.contains("> Any news?\n") && transcript.text.ends_with("> I can send a screenshot"));
    let forwarded = wait_subject(&pane, &d, "transcript (2 messages, times UTC)").await;
    assert_same_body(&forwarded, &s.solver, &d);

    s.node.resolve(s.dispute, DisputeStatus::Settled).await.unwrap();
    s.wait_for_take(TakeState::Closed).await;
    wait_subject(&pane, &d, "resolved: settled").await;
    assert_eq!(pane.alerts(), 1, "one alert for the one handoff: {:?}", subjects(&pane.messages()));

    for subject in ["mediating", "summary delivered", "resolved: settled"] {
        wait_subject(&observer_pane, &d, subject).await;
    }
    assert!(observer.wait_for(3, WAIT).await);
    assert_quiet(&observer, 3, Duration::from_millis(500)).await;
    for dm in observer.messages() {
        assert_eq!(dm.text.lines().count(), 1, "one short line: {}", dm.text);
        for words in ["I paid on Monday", SELLER_SAYS, "Any news?", "screenshot"] {
            assert!(!dm.text.contains(words), "no party text to observers: {}", dm.text);
        }
    }
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_alerts_each_solver_once_and_the_package_follows_quietly() {
    let brain = Brain { after_rounds: vec![Turn::Flag("conflicting_claims")], ..Brain::cooperative() };
    let s = Scene::start_idle(Setup { brain, ..Setup::default() }, |c| {
        c.solvers[0].formats = Formats::default();
        c.solvers[0].permission = Permission::Write;
        c.escalation.enabled = true;
    })
    .await;
    let pane = mostrix(&s.world, &s.solver).await;
    s.open_dispute().await;
    answer_round(&s).await;
    assert_eq!(s.wait_for_escalation().await, "conflicting_claims");
    let d = s.dispute.to_string();

    assert!(dm_containing(&s.solver, "escalation_handoff/v1").await.is_some(), "the package");
    let alert = wait_subject(&pane, &d, "handed off: conflicting_claims").await;
    wait_subject(&pane, &d, "handoff package").await;
    assert!(alert.text.contains(&quoted(BUYER_SAYS)) && alert.text.contains(&quoted(SELLER_SAYS)), "{}", alert.text);
    assert_eq!(sorted_subjects(&pane), ["handed off: conflicting_claims", "handoff package", "new", "taken"]);
    assert_eq!(pane.alerts(), 1);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_before_the_take_says_mediation_could_not_start() {
    let brain = Brain { opening: Turn::Flag("fraud_risk"), ..Brain::cooperative() };
    let observer_keys = Keys::generate();
    let s = Scene::start_idle(Setup { brain, ..Setup::default() }, |c| {
        with_observer(c, observer_keys.public_key());
        c.observers[0].formats = Formats::only(Format::Nip17);
        c.escalation.enabled = true;
        c.escalation.fallback_to_all_solvers = true;
    })
    .await;
    let observer = SolverInbox::start_with(observer_keys, &s.world.relay.url()).await.unwrap();
    let pane = mostrix(&s.world, &s.solver).await;
    s.open_dispute().await;
    assert_eq!(s.wait_for_escalation().await, "fraud_indicator");
    let d = s.dispute.to_string();

    wait_subject(&pane, &d, "mediation could not start").await;
    wait_subject(&pane, &d, "handoff package").await;
    wait_subject(&pane, &d, "new").await;
    assert_eq!(sorted_subjects(&pane), ["handoff package", "mediation could not start", "new"]);
    assert_eq!(pane.alerts(), 1);
    let line = dm_containing(&observer, "could not mediate").await.expect("the observer's line");
    assert_eq!(
        line.text,
        format!("Serbero could not mediate dispute {d} (trigger: fraud_indicator); the solvers were told.")
    );
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_written_while_serbero_was_down_are_forwarded_once_after_the_restart() {
    let quiet = |c: &mut Config| c.mediation.transcript_quiet_seconds = 1;
    let s = Scene::start_with(Setup::default(), quiet).await;
    answer_round(&s).await;
    s.wait_for_session(SessionState::Closed).await;
    assert!(dm_containing(&s.solver, "mediation_summary/v1").await.is_some());
    let buyer = s.party(&s.buyer).await;
    let mut config = support::scene::mediation_config(&s.world, &s.solver, &s.model);
    quiet(&mut config);
    let Scene { world, node: _node, model: _model, daemon, solver, .. } = s;
    daemon.stop().await;

    buyer.say("Hello? Is anyone there?").await.unwrap();
    let daemon = Daemon::start(config).await;
    let first = dm_containing(&solver, "The parties wrote after Serbero handed").await.expect("a transcript");
    assert!(first.text.ends_with("> Hello? Is anyone there?"), "{}", first.text);
    assert!(first.text.contains("quoted verbatim (times UTC):\n["), "one message, all of it: {}", first.text);

    let seen = solver.count();
    buyer.say("I am still waiting").await.unwrap();
    let second = solver.next_after(seen, WAIT).await.expect("the next transcript");
    assert!(second.text.ends_with("> I am still waiting") && !second.text.contains("anyone there"), "{}", second.text);
    let transcripts = "SELECT COUNT(*) FROM outbox WHERE notif_type = 'mediation_transcript'";
    assert_eq!(scalar(&world.db_path(), transcripts), 2);
    daemon.stop().await;
}
