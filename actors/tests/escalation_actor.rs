//! Scripts for the EscalationDispatcher actor. A probe stands in for Relay, the database is a
//! temp file, the clock is paused. Each script seeds disputes and handoffs the way the rest of
//! Serbero would (SQL for disputes, the shared handoff producer for handoffs), tells the
//! dispatcher about them, answers its publish requests as Relay would, and checks who can open
//! each gift wrap, the exact DM text, the rows and the audit payloads.

use serbero_core::escalation::HandoffOutcome;
use std::time::Duration;

use nostr_sdk::Keys;
use rusqlite::{params, Transaction, TransactionBehavior};
use serbero::base::Base;
use serbero::clock::Clock;
use serbero::escalation::{self, EscalationDispatcher, EscalationReport};
use serbero::harness::{accept_all, published_ids, refuse_all, Probe, Publish, Recorder, Spawned, TempDb, WAIT};
use serbero::relay;
use serbero_core::config::{EscalationSettings, OutboxSettings, Permission, Solver};
use serbero_core::escalation::Trigger;
use serbero_core::handoff::{recommend, Recommendation, Recorded};
use serbero_core::storage;
use serde_json::{json, Value};
use tokio::time::sleep;

use Permission::{Read, Write};

// Every period is longer than the harness's guarded wait, so a `next()` cannot drift into one.
const DISPATCH_INTERVAL: u64 = 45;
const RETRY_INITIAL: u64 = 30;
const RETRY_MAX: u64 = 60;
const MAX_ATTEMPTS: u32 = 3;
const CLAIM_TTL: u64 = 300;
const _: () = assert!(RETRY_INITIAL > WAIT.as_secs() && DISPATCH_INTERVAL > WAIT.as_secs());
/// The `now` every seeded handoff is prepared at, so the package JSON is known in advance.
const ASSEMBLED_AT: i64 = 1_745_000_000;
const NOTIF_TYPE: &str = "mediation_escalation_recommended";

#[tokio::test(start_paused = true)]
async fn assigned_write_solver_alone_gets_the_exact_handoff_dm() {
    let mut s = Script::start(&[Write, Write]).await;
    s.dispute("d-1", "taken", Some(&s.hex(1)));
    s.session("s-1", "d-1");
    let handoff = s.handoff("d-1", Some("s-1"));

    s.prepared(handoff);
    let sent = s.publishes(1).await;

    assert_eq!(s.read_all(&sent).await, [(1, handoff_dm("d-1", Some("s-1")))]);
    accept_all(&sent);
    assert_eq!(s.report().await.count(HandoffOutcome::Dispatched), 1);
    assert_eq!(
        s.dispatches(),
        [json!({"handoff_event_id": handoff, "dispute_id": "d-1", "session_id": "s-1",
                "target_solver": s.hex(1), "status": "dispatched", "fallback_broadcast": 0})]
    );
    assert_eq!(
        s.audits("escalation_dispatched"),
        [json!({"dispute_id": "d-1", "handoff_event_id": handoff, "target_solver": s.hex(1),
                "status": "dispatched", "fallback_broadcast": false})]
    );
    let envelope = "SELECT session_id || ' ' || prompt_bundle_id || ' ' || policy_hash FROM mediation_events
                     WHERE kind = 'escalation_dispatched'";
    assert_eq!(s.db.column::<String>(envelope, []), ["s-1 bundle-1 hash-1"], "copied from the handoff row");
    assert_eq!(s.notifications("sent"), 1);
    s.relay.assert_idle().await;
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_assignee_broadcasts_to_every_write_solver_in_config_order() {
    let mut s = Script::start(&[Write, Write]).await;
    s.dispute("d-1", "taken", Some(&Keys::generate().public_key().to_hex()));
    let handoff = s.handoff("d-1", None);

    s.prepared(handoff);
    let sent = s.publishes(2).await;

    let dm = handoff_dm("d-1", None);
    assert_eq!(s.read_all(&sent).await, [(0, dm.clone()), (1, dm)]);
    accept_all(&sent);
    s.report().await;
    let both = format!("{},{}", s.hex(0), s.hex(1));
    assert_eq!(
        s.dispatches(),
        [json!({"handoff_event_id": handoff, "dispute_id": "d-1", "session_id": null,
                "target_solver": both, "status": "dispatched", "fallback_broadcast": 0})]
    );
    assert_eq!(s.notifications("sent"), 2);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn read_permission_assignee_is_ignored_for_the_write_solvers() {
    let mut s = Script::start(&[Read, Write]).await;
    s.dispute("d-1", "taken", Some(&s.hex(0)));
    let handoff = s.handoff("d-1", None);

    s.prepared(handoff);
    let sent = s.publishes(1).await;

    assert_eq!(s.read_all(&sent).await, [(1, handoff_dm("d-1", None))]);
    s.report().await;
    s.relay.assert_idle().await;
    assert_eq!(s.db.column::<String>("SELECT target_solver FROM escalation_dispatches", []), [s.hex(1)]);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn dispute_scoped_handoff_has_the_none_marker_and_no_session_key() {
    let mut s = Script::start(&[Write]).await;
    s.dispute("d-1", "notified", None);
    let handoff = s.handoff("d-1", None);

    s.prepared(handoff);
    let sent = s.publishes(1).await;
    let (_, text) = s.read(&sent[0]).await;

    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[2], "Session: <none \u{2014} dispute-scoped handoff>");
    assert_eq!(lines[7], "Handoff payload (JSON):");
    assert!(!lines[8].contains("session_id"), "{}", lines[8]);
    assert_eq!(lines.len(), 9);
    assert_eq!(text, handoff_dm("d-1", None));
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn each_dispatch_row_has_one_paired_audit_row_and_one_row_per_handoff() {
    let mut s = Script::start(&[Write]).await;
    s.dispute("d-1", "notified", None);
    s.dispute("d-2", "taken", None);
    s.session("s-2", "d-2");
    let (first, second) = (s.handoff("d-1", None), s.handoff("d-2", Some("s-2")));

    s.prepared(second);
    accept_all(&s.publishes(2).await);

    assert_eq!(s.report().await.count(HandoffOutcome::Dispatched), 2);
    assert_eq!(s.unpaired(), (0, 0));
    let unique = "SELECT \"unique\" FROM pragma_index_list('escalation_dispatches')
                   WHERE name = 'idx_escalation_dispatches_handoff'";
    assert_eq!(s.db.count(unique, []), 1);
    let again = s.try_write(|tx| {
        tx.execute(
            "INSERT INTO escalation_dispatches (dispatch_id, dispute_id, handoff_event_id, target_solver,
                                                dispatched_at, created_at)
             VALUES ('another', 'd-1', ?1, 'x', 1, 1)",
            [first],
        )
    });
    assert!(again.unwrap_err().to_string().contains("UNIQUE constraint failed"));
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn duplicate_notices_and_scans_send_one_dm_per_recipient() {
    let mut s = Script::start(&[Write, Write]).await;
    s.dispute("d-1", "notified", None);
    let handoff = s.handoff("d-1", None);

    for _ in 0..3 {
        s.prepared(handoff);
    }
    s.dispatcher.cast(escalation::Msg::ScanTick).expect("dispatcher is running");
    let sent = s.publishes(2).await;
    assert_eq!(s.read_all(&sent).await.iter().map(|(solver, _)| *solver).collect::<Vec<_>>(), [0, 1]);
    s.report().await;
    s.relay.assert_idle().await;
    accept_all(&sent);
    sleep(secs(2 * DISPATCH_INTERVAL + 1)).await;
    s.prepared(handoff);

    assert_eq!(s.report().await.count(HandoffOutcome::Dispatched), 1);
    s.relay.assert_idle().await;
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 1);
    assert_eq!(s.audits("escalation_dispatched").len(), 1);
    assert_eq!(s.db.count("SELECT COUNT(*) FROM outbox", []), 2);
    assert_eq!(s.notifications("sent"), 2);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resolved_dispute_supersedes_the_handoff_once_and_sends_nothing() {
    let mut s = Script::start(&[Write]).await;
    s.dispute("d-1", "resolved", None);
    let handoff = s.handoff("d-1", None);

    s.prepared(handoff);
    assert_eq!(s.report().await.count(HandoffOutcome::Superseded), 1);
    sleep(secs(DISPATCH_INTERVAL + 1)).await;
    s.prepared(handoff);
    s.report().await;

    s.relay.assert_idle().await;
    assert_eq!(
        s.audits("escalation_superseded"),
        [json!({"dispute_id": "d-1", "handoff_event_id": handoff, "reason": "dispute_already_resolved"})]
    );
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 0);
    assert!(s.audits("escalation_dispatched").is_empty());
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resolving_the_dispute_after_the_dispatch_recalls_nothing() {
    let mut s = Script::start(&[Write]).await;
    s.dispute("d-1", "notified", None);
    let handoff = s.handoff("d-1", None);
    s.prepared(handoff);
    accept_all(&s.publishes(1).await);
    s.report().await;

    s.write(|tx| tx.execute("UPDATE disputes SET lifecycle_state = 'resolved' WHERE dispute_id = 'd-1'", []));
    sleep(secs(DISPATCH_INTERVAL + 1)).await;
    s.prepared(handoff);

    assert_eq!(s.report().await.count(HandoffOutcome::Dispatched), 1);
    s.relay.assert_idle().await;
    assert_eq!(s.db.column::<String>("SELECT status FROM escalation_dispatches", []), ["dispatched"]);
    assert!(s.audits("escalation_superseded").is_empty());
    assert_eq!(s.db.column::<String>("SELECT status FROM outbox", []), ["sent"]);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unroutable_handoff_is_recorded_once_and_sent_after_a_restart_with_a_write_solver() {
    let mut s = Script::start(&[Read]).await;
    s.dispute("d-1", "taken", Some(&s.hex(0)));
    let handoff = s.handoff("d-1", None);

    s.prepared(handoff);
    assert_eq!(s.report().await.count(HandoffOutcome::Unroutable), 1);
    sleep(secs(2 * DISPATCH_INTERVAL + 1)).await;
    s.prepared(handoff);
    s.report().await;

    s.relay.assert_idle().await;
    let unroutable = json!({"dispute_id": "d-1", "handoff_event_id": handoff,
                            "configured_solver_count": 1, "fallback_to_all_solvers": false});
    assert_eq!(s.audits("escalation_dispatch_unroutable"), std::slice::from_ref(&unroutable));
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 0);

    let fixed = vec![s.team[0].clone(), (Keys::generate(), Write)];
    let mut s = s.restart_with(fixed).await;
    let sent = s.publishes(1).await;

    assert_eq!(s.read_all(&sent).await, [(1, handoff_dm("d-1", None))]);
    accept_all(&sent);
    let report = s.report().await;
    assert_eq!((report.count(HandoffOutcome::Dispatched), report.count(HandoffOutcome::Unroutable)), (1, 0));
    assert_eq!(
        s.dispatches(),
        [json!({"handoff_event_id": handoff, "dispute_id": "d-1", "session_id": null,
                "target_solver": s.hex(1), "status": "dispatched", "fallback_broadcast": 0})]
    );
    assert_eq!(s.audits("escalation_dispatch_unroutable"), [unroutable], "the earlier record stays");
    assert_eq!(s.audits("escalation_dispatched").len(), 1);
    s.relay.assert_idle().await;
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn fallback_with_only_read_solvers_broadcasts_to_all_of_them() {
    let mut s = Script::with_fallback(&[Read, Read]).await;
    s.dispute("d-1", "notified", None);
    let handoff = s.handoff("d-1", None);

    s.prepared(handoff);
    let sent = s.publishes(2).await;

    let dm = handoff_dm("d-1", None);
    assert_eq!(s.read_all(&sent).await, [(0, dm.clone()), (1, dm)]);
    accept_all(&sent);
    s.report().await;
    let everyone = format!("{},{}", s.hex(0), s.hex(1));
    assert_eq!(
        s.dispatches(),
        [json!({"handoff_event_id": handoff, "dispute_id": "d-1", "session_id": null,
                "target_solver": everyone, "status": "dispatched", "fallback_broadcast": 1})]
    );
    assert_eq!(
        s.audits("escalation_dispatched"),
        [json!({"dispute_id": "d-1", "handoff_event_id": handoff, "target_solver": everyone,
                "status": "dispatched", "fallback_broadcast": true})]
    );
    assert!(s.audits("escalation_dispatch_unroutable").is_empty());
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn fallback_with_no_solver_at_all_is_unroutable() {
    let mut s = Script::with_fallback(&[]).await;
    s.dispute("d-1", "notified", None);
    let handoff = s.handoff("d-1", None);

    s.prepared(handoff);

    assert_eq!(s.report().await.count(HandoffOutcome::Unroutable), 1);
    s.relay.assert_idle().await;
    assert_eq!(
        s.audits("escalation_dispatch_unroutable"),
        [json!({"dispute_id": "d-1", "handoff_event_id": handoff,
                "configured_solver_count": 0, "fallback_to_all_solvers": false})]
    );
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 0);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn json_of_the_wrong_shape_fails_to_parse_with_the_dispute_id_recovered() {
    let mut s = Script::start(&[Write]).await;
    s.dispute("d-7", "notified", None);
    let handoff = s.raw_handoff(r#"{"dispute_id":"d-7","trigger":1}"#);

    s.prepared(handoff);
    assert_eq!(s.report().await.count(HandoffOutcome::ParseFailed), 1);
    sleep(secs(DISPATCH_INTERVAL + 1)).await;
    s.prepared(handoff);
    s.report().await;

    s.relay.assert_idle().await;
    let [failed] = &s.audits("escalation_dispatch_parse_failed")[..] else { panic!("want one parse failure") };
    assert_eq!((&failed["dispute_id"], &failed["handoff_event_id"]), (&json!("d-7"), &json!(handoff)));
    assert_eq!(failed["reason"], "deserialize_failed");
    assert!(!failed["detail"].as_str().unwrap_or_default().is_empty(), "{failed}");
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 0);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn payload_that_is_not_json_fails_to_parse_with_an_unknown_dispute() {
    let mut s = Script::start(&[Write]).await;
    let handoff = s.raw_handoff("escalate d-7, please");

    s.prepared(handoff);

    assert_eq!(s.report().await.count(HandoffOutcome::ParseFailed), 1);
    s.relay.assert_idle().await;
    let [failed] = &s.audits("escalation_dispatch_parse_failed")[..] else { panic!("want one parse failure") };
    assert_eq!((&failed["dispute_id"], &failed["reason"]), (&json!("unknown"), &json!("deserialize_failed")));
    assert_eq!(failed["handoff_event_id"], handoff);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn handoff_naming_a_missing_dispute_is_an_orphan_reference() {
    let mut s = Script::start(&[Write]).await;
    let handoff = s.handoff("d-gone", None);

    s.prepared(handoff);

    assert_eq!(s.report().await.count(HandoffOutcome::ParseFailed), 1);
    s.relay.assert_idle().await;
    assert_eq!(
        s.audits("escalation_dispatch_parse_failed"),
        [json!({"dispute_id": "d-gone", "handoff_event_id": handoff,
                "reason": "orphan_dispute_reference", "detail": "dispute_id not found"})]
    );
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 0);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_handoff_does_not_hold_back_a_good_one() {
    let mut s = Script::start(&[Write]).await;
    let bad = s.raw_handoff(r#"{"dispute_id":"d-bad"}"#);
    s.dispute("d-good", "notified", None);
    let good = s.handoff("d-good", None);

    s.prepared(good);
    let sent = s.publishes(1).await;

    assert_eq!(s.read_all(&sent).await, [(0, handoff_dm("d-good", None))]);
    accept_all(&sent);
    s.report().await;
    let handoffs_in = |kind| s.audits(kind).iter().map(|a| a["handoff_event_id"].as_i64()).collect::<Vec<_>>();
    assert_eq!(handoffs_in("escalation_dispatch_parse_failed"), [Some(bad)]);
    assert_eq!(handoffs_in("escalation_dispatched"), [Some(good)]);
    let events_before = s.db.count("SELECT COUNT(*) FROM mediation_events", []);

    sleep(secs(DISPATCH_INTERVAL + 1)).await;
    s.prepared(good);

    let report = s.report().await;
    assert_eq!((report.count(HandoffOutcome::Dispatched), report.count(HandoffOutcome::ParseFailed)), (1, 1));
    s.relay.assert_idle().await;
    assert_eq!(s.db.count("SELECT COUNT(*) FROM mediation_events", []), events_before);
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 1);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn refused_publish_is_retried_with_the_same_event_after_the_backoff() {
    let mut s = Script::start(&[Write]).await;
    s.dispute("d-1", "notified", None);
    s.prepared(s.handoff("d-1", None));
    let first = s.publishes(1).await;

    refuse_all(&first);
    s.report().await;
    assert_eq!(
        s.db.column::<String>("SELECT error_message FROM notifications WHERE status = 'failed'", []),
        ["ws://r: blocked: test relay says no"]
    );
    sleep(secs(RETRY_INITIAL - 1)).await;
    s.relay.assert_idle().await;
    sleep(secs(2)).await;
    let again = s.publishes(1).await;

    assert_eq!(published_ids(&again), published_ids(&first));
    accept_all(&again);
    s.report().await;
    assert_eq!(s.db.column::<String>("SELECT status FROM outbox", []), ["sent"]);
    assert_eq!((s.notifications("failed"), s.notifications("sent")), (1, 1));
    assert_eq!(s.db.column::<String>("SELECT status FROM escalation_dispatches", []), ["dispatched"]);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unanswered_publish_is_retried_after_the_claim_expires_and_each_attempt_is_recorded() {
    let mut s = Script::start(&[Write]).await;
    s.dispute("d-1", "notified", None);
    s.prepared(s.handoff("d-1", None));
    let unanswered = s.publishes(1).await;
    unanswered[0].start();

    sleep(secs(CLAIM_TTL - 1)).await;
    s.relay.assert_idle().await;
    sleep(secs(RETRY_INITIAL + 2)).await;
    let again = s.publishes(1).await;

    assert_eq!(published_ids(&again), published_ids(&unanswered));
    accept_all(&again);
    s.report().await;
    assert_eq!(s.db.column::<String>("SELECT status FROM outbox", []), ["sent"]);
    assert_eq!((s.notifications("failed"), s.notifications("sent")), (1, 1), "one notifications row per attempt");
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn every_recipient_dead_lettered_makes_the_dispatch_send_failed() {
    let mut s = Script::start(&[Write, Write]).await;
    s.dispute("d-1", "notified", None);
    let handoff = s.handoff("d-1", None);
    s.prepared(handoff);
    let first = s.publishes(2).await;

    refuse_all(&first);
    sleep(secs(RETRY_INITIAL + 1)).await;
    refuse_all(&s.publishes(2).await);
    sleep(secs(RETRY_MAX + 1)).await;
    let last = s.publishes(2).await;
    assert_eq!(published_ids(&last), published_ids(&first));
    refuse_all(&last);
    s.report().await;
    sleep(secs(CLAIM_TTL + 2 * DISPATCH_INTERVAL)).await;

    s.relay.assert_idle().await;
    assert_eq!(s.report().await.count(HandoffOutcome::Dispatched), 1, "the handoff stays consumed");
    let both = format!("{},{}", s.hex(0), s.hex(1));
    assert_eq!(
        s.dispatches(),
        [json!({"handoff_event_id": handoff, "dispute_id": "d-1", "session_id": null,
                "target_solver": both, "status": "send_failed", "fallback_broadcast": 0})]
    );
    assert_eq!(s.audits("escalation_dispatched")[0]["status"], "send_failed");
    assert_eq!(s.unpaired(), (0, 0));
    assert_eq!(s.db.column::<String>("SELECT status FROM outbox", []), ["dead_lettered"; 2]);
    assert_eq!(s.notifications("failed"), 2 * MAX_ATTEMPTS as i64);
    let per_solver = "SELECT COUNT(*) FROM notifications WHERE solver_pubkey = ?1 AND status = 'failed'";
    assert_eq!(s.db.count(per_solver, [s.hex(0)]), MAX_ATTEMPTS as i64);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn one_recipient_reached_keeps_the_dispatch_dispatched() {
    let mut s = Script::start(&[Write, Write]).await;
    s.dispute("d-1", "notified", None);
    s.prepared(s.handoff("d-1", None));
    let sent = s.publishes(2).await;
    let first = s.by_solver(sent).await;

    accept_all(&first[..1]);
    refuse_all(&first[1..]);
    sleep(secs(RETRY_INITIAL + 1)).await;
    refuse_all(&s.publishes(1).await);
    sleep(secs(RETRY_MAX + 1)).await;
    refuse_all(&s.publishes(1).await);

    s.report().await;
    assert_eq!([s.outbox_status(0), s.outbox_status(1)], ["sent", "dead_lettered"]);
    assert_eq!(s.db.column::<String>("SELECT status FROM escalation_dispatches", []), ["dispatched"]);
    assert_eq!(s.audits("escalation_dispatched")[0]["status"], "dispatched");
    assert_eq!((s.notifications("sent"), s.notifications("failed")), (1, MAX_ATTEMPTS as i64));
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn restart_mid_dispatch_publishes_the_same_events_and_dispatches_nothing_twice() {
    let mut s = Script::start(&[Write, Write]).await;
    s.dispute("d-1", "notified", None);
    s.prepared(s.handoff("d-1", None));
    let before = s.publishes(2).await;
    assert_eq!(s.report().await.count(HandoffOutcome::Dispatched), 1);

    let mut s = s.restart().await;
    let after = s.publishes(2).await;

    assert_eq!(published_ids(&after), published_ids(&before));
    accept_all(&after);
    assert_eq!(s.report().await.count(HandoffOutcome::Dispatched), 1);
    s.relay.assert_idle().await;
    assert_eq!(s.db.count("SELECT COUNT(*) FROM escalation_dispatches", []), 1);
    assert_eq!(s.unpaired(), (0, 0));
    assert_eq!(s.db.column::<String>("SELECT status FROM outbox", []), ["sent"; 2]);
    assert_eq!(s.notifications("sent"), 2);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn five_hundred_superseded_handoffs_do_not_starve_a_new_one() {
    let mut s = Script::start(&[Write]).await;
    let last_resolved = s.resolved_backlog(500);
    s.prepared(last_resolved);
    assert_eq!(s.report().await.count(HandoffOutcome::Superseded), 500);

    s.dispute("d-new", "notified", None);
    s.prepared(s.handoff("d-new", None));
    let sent = s.publishes(1).await;

    assert_eq!(s.read_all(&sent).await, [(0, handoff_dm("d-new", None))]);
    accept_all(&sent);
    s.report().await;
    let events_before = s.db.count("SELECT COUNT(*) FROM mediation_events", []);
    sleep(secs(DISPATCH_INTERVAL + 1)).await;
    s.prepared(last_resolved);
    let report = s.report().await;
    assert_eq!((report.count(HandoffOutcome::Superseded), report.count(HandoffOutcome::Dispatched)), (500, 1));
    assert_eq!(s.db.count("SELECT COUNT(*) FROM mediation_events", []), events_before, "a later scan adds nothing");
    assert_eq!(s.audits("escalation_superseded").len(), 500);
    s.relay.assert_idle().await;
    s.stop().await;
}

/// The `escalation_handoff/v1` DM of a handoff seeded by [`Script::handoff`].
fn handoff_dm(dispute: &str, session: Option<&str>) -> String {
    let session_line = session.unwrap_or("<none \u{2014} dispute-scoped handoff>");
    let session_key = session.map(|id| format!(r#""session_id":"{id}","#)).unwrap_or_default();
    let rationale = rationale_ref();
    format!(
        "escalation_handoff/v1\nDispute: {dispute}\nSession: {session_line}\nTrigger: conflicting_claims\n\n\
         Escalation required for dispute {dispute} (trigger: conflicting_claims). It was evaluated by Serbero's \
         mediation assistance system and needs human judgment. Please run TakeDispute for dispute {dispute} on \
         your Mostro instance to see the full context.\n\n\
         Handoff payload (JSON):\n\
         {{\"dispute_id\":\"{dispute}\",{session_key}\"trigger\":\"conflicting_claims\",\
         \"evidence_refs\":[\"inner-event-1\"],\"prompt_bundle_id\":\"bundle-1\",\"policy_hash\":\"hash-1\",\
         \"rationale_refs\":[\"{rationale}\"],\"assembled_at\":{ASSEMBLED_AT}}}"
    )
}

fn rationale_ref() -> String {
    "9f".repeat(32)
}

/// One script's world: the dispatcher with a probe as its Relay, a temp database, the solvers
/// it is configured with (keys kept so the script can open the gift wraps).
struct Script {
    db: TempDb,
    clock: Clock,
    serbero: Keys,
    team: Vec<(Keys, Permission)>,
    fallback_to_all: bool,
    relay: Recorder<relay::Msg>,
    dispatcher: Spawned<escalation::Msg>,
}

impl Script {
    async fn start(permissions: &[Permission]) -> Self {
        Self::launch(permissions, false).await
    }

    async fn with_fallback(permissions: &[Permission]) -> Self {
        Self::launch(permissions, true).await
    }

    async fn launch(permissions: &[Permission], fallback_to_all: bool) -> Self {
        let (db, clock, serbero) = (TempDb::migrated(), Clock::tokio(), Keys::generate());
        let team: Vec<(Keys, Permission)> = permissions.iter().map(|p| (Keys::generate(), *p)).collect();
        let (dispatcher, relay) = spawn_dispatcher(&db, &serbero, &team, fallback_to_all, clock).await;
        Self { db, clock, serbero, team, fallback_to_all, relay, dispatcher }
    }

    /// Stops the dispatcher and starts a new one on the same database with a fresh relay probe.
    async fn restart(self) -> Self {
        let team = self.team.clone();
        self.restart_with(team).await
    }

    /// As [`Script::restart`], with the solvers of a fixed configuration.
    async fn restart_with(self, team: Vec<(Keys, Permission)>) -> Self {
        self.dispatcher.stop().await;
        let (dispatcher, relay) =
            spawn_dispatcher(&self.db, &self.serbero, &team, self.fallback_to_all, self.clock).await;
        Self { team, dispatcher, relay, ..self }
    }

    async fn stop(self) {
        self.dispatcher.stop().await;
    }

    fn hex(&self, solver: usize) -> String {
        self.team[solver].0.public_key().to_hex()
    }

    /// A dispute as the Dispute actor would have stored it.
    fn dispute(&self, id: &str, lifecycle_state: &str, assigned_solver: Option<&str>) {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp,
                                       detected_at, lifecycle_state, assigned_solver)
                 VALUES (?1, 'event-' || ?1, 'mostro', 'buyer', 1, 1, ?2, ?3)",
                params![id, lifecycle_state, assigned_solver],
            )
        });
    }

    /// A mediation session that may still escalate.
    fn session(&self, id: &str, dispute_id: &str) {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO mediation_sessions (session_id, dispute_id, state, prompt_bundle_id, policy_hash,
                                                 started_at, last_transition_at)
                 VALUES (?1, ?2, 'awaiting_response', 'bundle-1', 'hash-1', 1, 1)",
                [id, dispute_id],
            )
        });
    }

    /// A handoff prepared by the shared producer, as a mediation session would; its event id.
    fn handoff(&self, dispute_id: &str, session_id: Option<&str>) -> i64 {
        self.write(|tx| Ok(prepare(tx, dispute_id, session_id)))
    }

    /// A `handoff_prepared` event with whatever payload the script wants; its event id.
    fn raw_handoff(&self, payload: &str) -> i64 {
        self.write(|tx| {
            tx.query_row(
                "INSERT INTO mediation_events (kind, payload_json, prompt_bundle_id, policy_hash, occurred_at)
                 VALUES ('handoff_prepared', ?1, 'bundle-1', 'hash-1', 1) RETURNING id",
                [payload],
                |r| r.get(0),
            )
        })
    }

    /// `n` resolved disputes, each with a dispute-scoped handoff; the last handoff's event id.
    fn resolved_backlog(&self, n: usize) -> i64 {
        self.write(|tx| {
            let mut last = 0;
            for i in 0..n {
                let id = format!("d-old-{i}");
                tx.execute(
                    "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp,
                                           detected_at, lifecycle_state)
                     VALUES (?1, 'event-' || ?1, 'mostro', 'seller', 1, 1, 'resolved')",
                    [&id],
                )?;
                last = prepare(tx, &id, None);
            }
            Ok(last)
        })
    }

    fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> T {
        self.try_write(work).expect("seeding the database")
    }

    /// Runs `work` in its own transaction on the dispatcher's database file.
    fn try_write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let mut conn = storage::open(self.db.path()).expect("open the database");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// What a mediation session casts after committing a handoff.
    fn prepared(&self, handoff_event_id: i64) {
        let notice = escalation::Msg::HandoffPrepared { handoff_event_id };
        self.dispatcher.cast(notice).expect("dispatcher is running");
    }

    /// Also a barrier for everything the script cast before.
    async fn report(&self) -> EscalationReport {
        self.dispatcher.ask(escalation::Msg::Status).await
    }

    /// The next `n` requests to Relay, each of which must be a `Publish`.
    async fn publishes(&mut self, n: usize) -> Vec<Publish> {
        Publish::next_n(&mut self.relay, n).await
    }

    /// `publishes` in solver order, one per solver.
    async fn by_solver(&self, publishes: Vec<Publish>) -> Vec<Publish> {
        let mut keyed = Vec::new();
        for publish in publishes {
            keyed.push((self.read(&publish).await.0, publish));
        }
        keyed.sort_by_key(|(solver, _)| *solver);
        assert_eq!(keyed.iter().map(|(solver, _)| *solver).collect::<Vec<_>>(), (0..keyed.len()).collect::<Vec<_>>());
        keyed.into_iter().map(|(_, publish)| publish).collect()
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

    async fn read(&self, publish: &Publish) -> (usize, String) {
        let readers: Vec<Keys> = self.team.iter().map(|(keys, _)| keys.clone()).collect();
        publish.open(&readers, &self.serbero.public_key()).await
    }

    /// Every dispatch row but its random id, by handoff.
    fn dispatches(&self) -> Vec<Value> {
        let rows = self.db.column::<String>(
            "SELECT json_object('handoff_event_id', handoff_event_id, 'dispute_id', dispute_id,
                                'session_id', session_id, 'target_solver', target_solver, 'status', status,
                                'fallback_broadcast', fallback_broadcast)
               FROM escalation_dispatches ORDER BY handoff_event_id",
            [],
        );
        rows.iter().map(|row| serde_json::from_str(row).expect("json_object")).collect()
    }

    /// Every audit payload of `kind`, oldest first, without `dispatch_id` (a random id whose
    /// pairing [`Script::unpaired`] checks).
    fn audits(&self, kind: &str) -> Vec<Value> {
        let payloads =
            self.db.column::<String>("SELECT payload_json FROM mediation_events WHERE kind = ?1 ORDER BY id", [kind]);
        let parse = |payload: &String| {
            let mut value: Value = serde_json::from_str(payload).expect("audit payloads are JSON");
            if let Some(fields) = value.as_object_mut() {
                fields.remove("dispatch_id");
            }
            value
        };
        payloads.iter().map(parse).collect()
    }

    /// (dispatch rows without exactly one matching `escalation_dispatched` row, such audit rows
    /// without their dispatch row); both zero when the reconciliation holds.
    fn unpaired(&self) -> (i64, i64) {
        let rows_without_one_audit = "SELECT COUNT(*) FROM escalation_dispatches d
             WHERE (SELECT COUNT(*) FROM mediation_events e WHERE e.kind = 'escalation_dispatched'
                       AND json_extract(e.payload_json, '$.dispatch_id') = d.dispatch_id
                       AND json_extract(e.payload_json, '$.handoff_event_id') = d.handoff_event_id
                       AND json_extract(e.payload_json, '$.status') = d.status) <> 1";
        let audits_without_row = "SELECT COUNT(*) FROM mediation_events e
             WHERE e.kind = 'escalation_dispatched'
               AND NOT EXISTS (SELECT 1 FROM escalation_dispatches d
                                WHERE d.dispatch_id = json_extract(e.payload_json, '$.dispatch_id'))";
        (self.db.count(rows_without_one_audit, []), self.db.count(audits_without_row, []))
    }

    /// Status of the outbox row of `solver`'s copy.
    fn outbox_status(&self, solver: usize) -> String {
        let status = self.db.column("SELECT status FROM outbox WHERE recipient = ?1", [self.hex(solver)]);
        status.into_iter().next().expect("one outbox row per recipient")
    }

    /// Handoff DM attempts recorded in `notifications` with `status`.
    fn notifications(&self, status: &str) -> i64 {
        self.db.count("SELECT COUNT(*) FROM notifications WHERE notif_type = ?1 AND status = ?2", [NOTIF_TYPE, status])
    }
}

/// Records one handoff with the shared producer at [`ASSEMBLED_AT`]; its event id.
fn prepare(tx: &Transaction<'_>, dispute_id: &str, session_id: Option<&str>) -> i64 {
    let recommendation = Recommendation {
        session_id: session_id.map(str::to_string),
        dispute_id: dispute_id.to_string(),
        trigger: Trigger::ConflictingClaims,
        evidence_refs: vec!["inner-event-1".to_string()],
        rationale_refs: vec![rationale_ref()],
        prompt_bundle_id: "bundle-1".to_string(),
        policy_hash: "hash-1".to_string(),
    };
    match recommend(tx, &recommendation, ASSEMBLED_AT) {
        Ok(Recorded::Prepared { handoff_event_id }) => handoff_event_id,
        other => panic!("no handoff prepared for {dispute_id}: {other:?}"),
    }
}

async fn spawn_dispatcher(
    db: &TempDb,
    serbero: &Keys,
    team: &[(Keys, Permission)],
    fallback_to_all_solvers: bool,
    clock: Clock,
) -> (Spawned<escalation::Msg>, Recorder<relay::Msg>) {
    let (relay, requests) = Probe::<relay::Msg>::spawn().await;
    let args = escalation::Args {
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
        solvers: team.iter().map(|(keys, permission)| Solver::new(keys.public_key(), *permission)).collect(),
        settings: EscalationSettings {
            enabled: true,
            dispatch_interval_seconds: DISPATCH_INTERVAL,
            fallback_to_all_solvers,
        },
        retention: serbero_core::config::RetentionSettings::default(),
    };
    (Spawned::start(EscalationDispatcher, args).await, requests)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
