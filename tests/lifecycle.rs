//! The dispute lifecycle end to end: notified, taken, reminded, resolved (spec/core.md §5, §6 and
//! §7.1 #5–#8), and disputes first seen past `initiated`.

mod support;

use std::time::Duration;

use support::*;

/// A solver key as a test `p` tag carries it.
const ASSIGNED: &str = "0000000000000000000000000000000000000000000000000000000000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispute_walks_through_new_notified_taken() {
    let world = World::new().await;
    let solver = world.solver().await;
    let daemon = Daemon::start(world.config(&[&solver])).await;
    let (db, d) = (world.db_path(), dispute_id(1));

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await);
    let take = world.mostro.publish(&d, "in-progress", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "taken").await);

    let want = vec![
        "NULL|new|dispute_detected".to_string(),
        "new|notified|initial_notification".to_string(),
        format!("notified|taken|{}", take.id.to_hex()),
    ];
    assert_eq!(transitions(&db, &d), want);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_takes_the_dispute_and_tells_every_solver() {
    let world = World::new().await;
    let solvers = [world.solver().await, world.solver().await];
    let daemon = Daemon::start(world.config(&[&solvers[0], &solvers[1]])).await;
    let (db, d) = (world.db_path(), dispute_id(1));

    world.mostro.publish(&d, "initiated", "seller", &[]).await.unwrap();
    for inbox in &solvers {
        assert!(inbox.wait_for(1, WAIT).await, "initial DM");
    }
    world.mostro.publish(&d, "in-progress", "seller", &[tag("p", ASSIGNED)]).await.unwrap();

    for inbox in &solvers {
        let dm = inbox.next_after(1, WAIT).await.expect("assignment DM");
        assert_eq!(dm.text, assignment_dm(&d, ASSIGNED));
    }
    assert!(wait_for_state(&db, &d, "taken").await);
    assert_eq!(rows(&db, "SELECT assigned_solver FROM disputes"), [ASSIGNED]);
    let assignment_rows = "SELECT COUNT(*) FROM notifications WHERE notif_type = 'assignment'";
    assert!(wait_for_scalar(&db, assignment_rows, 2, WAIT).await);
    for inbox in &solvers {
        assert_quiet(inbox, 2, Duration::from_secs(2)).await;
    }
    assert_eq!(scalar(&db, assignment_rows), 2);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_without_p_tag_names_an_unknown_solver() {
    let world = World::new().await;
    let solver = world.solver().await;
    let daemon = Daemon::start(world.config(&[&solver])).await;
    let d = dispute_id(1);

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(solver.wait_for(1, WAIT).await, "initial DM");
    world.mostro.publish(&d, "in-progress", "buyer", &[]).await.unwrap();

    let dm = solver.next_after(1, WAIT).await.expect("assignment DM");
    assert_eq!(dm.text, assignment_dm(&d, "unknown"));
    assert_eq!(rows(&world.db_path(), "SELECT assigned_solver FROM disputes"), ["NULL"]);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unattended_dispute_is_re_notified_after_the_timeout() {
    let world = World::new().await;
    let solver = world.solver().await;
    let mut config = world.config(&[&solver]);
    config.timeouts.renotification_seconds = 2;
    config.timeouts.renotification_check_interval_seconds = 1;
    let daemon = Daemon::start(config).await;
    let (db, d) = (world.db_path(), dispute_id(1));

    let event = world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(wait_for_state(&db, &d, "notified").await);
    let first_notified_at = scalar(&db, "SELECT last_notified_at FROM disputes");

    let reminder = solver.next_after(1, Duration::from_secs(15)).await.expect("re-notification");
    let lines: Vec<&str> = reminder.text.split('\n').collect();
    assert_eq!(
        lines[..3],
        ["Mostro dispute is still unattended.", &format!("dispute_id: {d}"), "lifecycle_state: notified"]
    );
    assert_eq!(lines.len(), 4, "{}", reminder.text);
    let elapsed: i64 = lines[3].strip_prefix("time_elapsed_seconds: ").expect("elapsed line").parse().expect("seconds");
    let since_event = serbero_core::storage::now_unix() - event.created_at.as_secs() as i64;
    assert!((2..=since_event).contains(&elapsed), "elapsed {elapsed}, {since_event} s since the event");

    let later = format!("SELECT COUNT(*) FROM disputes WHERE last_notified_at > {first_notified_at}");
    assert!(wait_for_scalar(&db, &later, 1, WAIT).await, "last_notified_at moves on");
    assert!(scalar(&db, "SELECT COUNT(*) FROM notifications WHERE notif_type = 're-notification'") >= 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_dispute_is_not_re_notified() {
    let world = World::new().await;
    let solver = world.solver().await;
    let mut config = world.config(&[&solver]);
    config.timeouts.renotification_seconds = 30;
    config.timeouts.renotification_check_interval_seconds = 1;
    let daemon = Daemon::start(config).await;
    let d = dispute_id(1);

    world.mostro.publish(&d, "initiated", "buyer", &[]).await.unwrap();
    assert!(solver.wait_for(1, WAIT).await, "initial DM");
    world.mostro.publish(&d, "in-progress", "buyer", &[]).await.unwrap();
    assert!(solver.wait_for(2, WAIT).await, "assignment DM");

    assert_quiet(&solver, 2, Duration::from_secs(3)).await;
    assert_eq!(scalar(&world.db_path(), "SELECT COUNT(*) FROM notifications WHERE notif_type = 're-notification'"), 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_statuses_resolve_and_unknown_ones_are_only_recorded() {
    let world = World::new().await;
    let solver = world.solver().await;
    let daemon = Daemon::start(world.config(&[&solver])).await;
    let db = world.db_path();
    let closing = ["settled", "seller-refunded", "released", "cooperatively-canceled"];
    let paused = dispute_id(5);

    for n in 1..=5 {
        world.mostro.publish(&dispute_id(n), "initiated", "buyer", &[]).await.unwrap();
    }
    for n in 1..=5 {
        assert!(wait_for_state(&db, &dispute_id(n), "notified").await);
    }
    for (n, status) in (1..).zip(closing) {
        world.mostro.publish(&dispute_id(n), status, "buyer", &[]).await.unwrap();
    }
    world.mostro.publish(&paused, "paused", "buyer", &[]).await.unwrap();

    for n in 1..=4 {
        let d = dispute_id(n);
        assert!(wait_for_state(&db, &d, "resolved").await, "{d}");
        assert_eq!(transitions(&db, &d).last().unwrap(), "notified|resolved|dispute_resolved_externally");
    }
    let observed =
        format!("SELECT COUNT(*) FROM dispute_observations WHERE dispute_id = '{paused}' AND status = 'paused'");
    assert!(wait_for_scalar(&db, &observed, 1, WAIT).await);
    let stored = format!("SELECT lifecycle_state, dispute_status FROM disputes WHERE dispute_id = '{paused}'");
    assert_eq!(rows(&db, &stored), ["notified|paused"]);
    assert_eq!(transitions(&db, &paused).len(), 2);

    // Still working: the next dispute is notified, and nothing was sent for the closures.
    world.mostro.publish(&dispute_id(6), "initiated", "seller", &[]).await.unwrap();
    let next = solver.next_after(5, WAIT).await.expect("DM for the next dispute");
    assert!(next.text.contains(&dispute_id(6)), "{}", next.text);
    assert_quiet(&solver, 6, Duration::from_secs(1)).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispute_first_seen_in_progress_is_taken_without_an_initial_dm() {
    let world = World::new().await;
    let solver = world.solver().await;
    let daemon = Daemon::start(world.config(&[&solver])).await;
    let (db, d) = (world.db_path(), dispute_id(1));

    let take = world.mostro.publish(&d, "in-progress", "seller", &[tag("p", ASSIGNED)]).await.unwrap();

    let dm = solver.next_after(0, WAIT).await.expect("assignment DM");
    assert_eq!(dm.text, assignment_dm(&d, ASSIGNED));
    assert!(wait_for_state(&db, &d, "taken").await);
    let want = vec!["NULL|new|dispute_detected".to_string(), format!("new|taken|{}", take.id.to_hex())];
    assert_eq!(transitions(&db, &d), want);
    assert_eq!(rows(&db, "SELECT assigned_solver FROM disputes"), [ASSIGNED]);
    assert_quiet(&solver, 1, Duration::from_secs(1)).await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM notifications WHERE notif_type = 'initial'"), 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispute_first_seen_settled_is_recorded_resolved_silently() {
    let world = World::new().await;
    let solver = world.solver().await;
    let daemon = Daemon::start(world.config(&[&solver])).await;
    let (db, d) = (world.db_path(), dispute_id(1));

    world.mostro.publish(&d, "settled", "buyer", &[]).await.unwrap();

    assert!(wait_for_state(&db, &d, "resolved").await);
    assert_eq!(transitions(&db, &d), ["NULL|new|dispute_detected", "new|resolved|dispute_resolved_externally"]);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outbox"), 0);
    assert_quiet(&solver, 0, Duration::from_secs(1)).await;
    daemon.stop().await;
}
