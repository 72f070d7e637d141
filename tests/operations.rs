//! What an operator's tools see: the real `serbero` binary with `[http]` on a free loopback
//! port, JSON logs and a systemd notify socket. Health and metrics follow a relay going down and
//! coming back; a full mediation run logs no secret at the most verbose level; `status --json`
//! reports the same database as `status`; a failed bring-up and a lost solver standing each
//! make `/health` answer 503 with the reason; an actor restart is counted.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nostr_sdk::prelude::*;
use serbero_core::config::{Config, HttpSettings, LogFormat};
use serbero_core::storage;
use serbero_sim::{free_port, Brain, FakeModel, FakeNode, Link, NodeScript, SimParty, SolverCategory, Trade};
use serde_json::{json, Value};
use support::scene::mediation_config;
use support::*;
use uuid::Uuid;

/// nostr-sdk retries a lost relay after 10 s (plus jitter); the wait covers two retries.
const RECONNECT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_follow_a_relay_going_down_and_coming_back() {
    let binary = tokio::task::spawn_blocking(serbero_executable).await.expect("build task");
    let world = World::new().await;
    let inbox = world.solver().await;
    let mut link = Link::open(&world.relay).await;
    let mut config = world.config(&[&inbox]);
    config.relays = vec![link.url()];
    let endpoint = Endpoint::enable(&mut config);
    let relay = link.url().to_string();
    config.serbero.log_format = LogFormat::Json;
    let notify = NotifySocket::bind(world.dir.path());
    let env = [("SERBERO_LOG", "debug"), ("NOTIFY_SOCKET", notify.path()), ("WATCHDOG_USEC", "400000")];
    let daemon = DaemonProcess::start_with(&binary, &write_config(&world, &config), log_path(&world), &env).await;

    let ready = notify.wait_for("READY=1").await;
    assert_eq!(ready[0], "READY=1\nSTATUS=watching disputes on 1 relay(s)", "readiness comes first");
    let health = endpoint.wait_for_health(200, WAIT).await;
    assert_eq!(health["relays"], json!([{"url": relay, "connected": true}]), "{health}");
    assert_eq!((&health["mediation"], &health["solver_standing"]), (&json!("off"), &Value::Null));

    world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    assert!(inbox.wait_for(1, WAIT).await, "the first dispute is notified");
    let metrics =
        endpoint.metrics_once(|m| m.sample("serbero_notifications_total", &[("type", "initial")]) == Some(1.0)).await;
    let expected = [
        ("serbero_disputes", vec![("state", "notified")], 1.0),
        ("serbero_disputes", vec![("state", "new")], 0.0),
        ("serbero_notifications_total", vec![("type", "initial"), ("outcome", "sent")], 1.0),
        ("serbero_outbox_messages", vec![("status", "sent")], 1.0),
        ("serbero_outbox_messages", vec![("status", "pending")], 0.0),
        ("serbero_outbox_oldest_pending_age_seconds", vec![], 0.0),
        ("serbero_dead_letters", vec![], 0.0),
        ("serbero_relays_connected", vec![], 1.0),
        ("serbero_relay_connected", vec![("relay", relay.as_str())], 1.0),
        ("serbero_actor_restarts_total", vec![("actor", "relay")], 0.0),
        ("serbero_actor_restarts_total", vec![("actor", "dispute")], 0.0),
        ("serbero_mediation_sessions_open", vec![], 0.0),
        ("serbero_escalation_handoffs", vec![("outcome", "dispatched")], 0.0),
        ("serbero_healthy", vec![], 1.0),
        ("serbero_build_info", vec![("version", env!("CARGO_PKG_VERSION"))], 1.0),
    ];
    for (name, labels, value) in &expected {
        assert_eq!(metrics.value(name, labels), *value, "{name}{labels:?}\n{}", metrics.text);
    }

    link.cut();
    let told_before_the_outage = notify.received().len();
    let down = endpoint.wait_for_health(503, WAIT).await;
    assert_eq!(down["reasons"], json!([format!("no relay connected (down: {relay})")]), "{down}");
    assert_eq!(down["relays"], json!([{"url": relay, "connected": false}]));
    let metrics = endpoint.metrics().await;
    assert_eq!((metrics.value("serbero_relays_connected", &[]), metrics.value("serbero_healthy", &[])), (0.0, 0.0));
    world.mostro.publish(&dispute_id(2), "initiated", "seller", &[]).await.unwrap();

    notify.wait_for_more_than(told_before_the_outage).await;
    link.restore().await;
    let up = endpoint.wait_for_health(200, RECONNECT).await;
    assert_eq!(up["reasons"], json!([]), "{up}");
    assert!(inbox.wait_for(2, WAIT).await, "the dispute published while the relay was down is notified");
    let metrics = endpoint.metrics_once(|m| m.sample("serbero_disputes", &[("state", "notified")]) == Some(2.0)).await;
    assert_eq!(metrics.value("serbero_notifications_total", &[("type", "initial"), ("outcome", "sent")]), 2.0);
    assert_eq!((metrics.value("serbero_relays_connected", &[]), metrics.value("serbero_healthy", &[])), (1.0, 1.0));

    let log = daemon.log();
    daemon.terminate().await;
    let told = notify.wait_for("STOPPING=1").await;
    let during_the_outage = &told[told_before_the_outage..];
    assert_eq!(during_the_outage[0], "WATCHDOG=1", "a relay being down is not a wedge: {told:?}");
    assert_every_line_is_json(&log);
    assert_no_secret(&log, &secrets_of(&config));
    assert_status_json_matches(&binary, &world.db_path(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mediation_run_logs_no_secret_at_any_level() {
    const KEY_VARIABLE: &str = "SERBERO_OPERATIONS_TEST_KEY";
    const API_KEY: &str = "sk-operations-test-3f9a27c1e4b84d0e9a61";
    let binary = tokio::task::spawn_blocking(serbero_executable).await.expect("build task");
    let world = World::new().await;
    let solver = world.solver().await;
    let node = FakeNode::start(world.mostro.keys.clone(), &world.relay.url(), NodeScript::default()).await.unwrap();
    let model = FakeModel::start().await.unwrap();
    let brain = Brain::cooperative();
    let script = brain.clone();
    model.respond_with(move |request| script.answer(request));
    let (dispute, buyer, seller) = (Uuid::new_v4(), Keys::generate(), Keys::generate());
    node.register_solver(world.serbero.public_key(), SolverCategory::Read);
    let mut config = mediation_config(&world, &solver, &model);
    config.reasoning.api_key_env = KEY_VARIABLE.to_owned();
    let endpoint = Endpoint::enable(&mut config);
    let env = [("SERBERO_LOG", "trace"), ("SERBERO_LOG_FORMAT", "json"), (KEY_VARIABLE, API_KEY)];
    let daemon = DaemonProcess::start_with(&binary, &write_config(&world, &config), log_path(&world), &env).await;

    let running = endpoint.wait_for(WAIT, |h| h["mediation"] == "running").await;
    assert_eq!(running["status"], "ok", "{running}");
    node.open_dispute(dispute, Trade::opened_by_buyer(buyer.public_key(), seller.public_key())).await.unwrap();
    let relay_url = world.relay.url();
    let connect = |keys: &Keys| SimParty::connect(keys.clone(), &relay_url, world.serbero.public_key());
    let (buyer, seller) = (connect(&buyer).await.unwrap(), connect(&seller).await.unwrap());
    let asked = "SELECT COUNT(*) FROM mediation_sessions WHERE state = 'awaiting_response'";
    assert!(wait_for_scalar(&world.db_path(), asked, 1, WAIT).await, "the parties are asked");
    buyer.say("I paid on Monday, reference 4711").await.unwrap();
    seller.say("I will check my bank app now").await.unwrap();
    let closed = "SELECT COUNT(*) FROM mediation_sessions WHERE state = 'closed'";
    assert!(wait_for_scalar(&world.db_path(), closed, 1, WAIT).await, "the session ends in a summary");
    assert!(dm_containing(&solver, "mediation_summary/v1").await.is_some(), "the solver gets the summary");

    let health = endpoint.health().await.1;
    assert_eq!((&health["mediation"], &health["solver_standing"]), (&json!("running"), &json!("authorized")));
    let metrics =
        endpoint.metrics_once(|m| m.sample("serbero_mediation_sessions", &[("state", "closed")]) == Some(1.0)).await;
    let calls = |call: &str| {
        metrics.value(
            "serbero_reasoning_request_duration_seconds_count",
            &[("provider", "openai-compatible"), ("call", call)],
        )
    };
    assert_eq!((calls("health"), calls("classify"), calls("summarize")), (1.0, 2.0, 1.0), "{}", metrics.text);
    assert_eq!(metrics.value("serbero_mediation_sessions_open", &[]), 0.0);
    let used_key =
        model.requests().iter().all(|r| r.headers.get("authorization") == Some(&format!("Bearer {API_KEY}")));
    assert!(used_key, "every model request carried the key, so its absence from the log means something");

    let log = daemon.log();
    daemon.terminate().await;
    assert_every_line_is_json(&log);
    let mut secrets = secrets_of(&config);
    secrets.push(API_KEY.to_owned());
    let rationales = rows(&world.db_path(), "SELECT rationale_text FROM reasoning_rationales");
    assert!(rationales.len() >= 2, "the opening and the round's rationales were stored: {rationales:?}");
    secrets.extend(rationales);
    // Not secrets, but private: what the parties said and what the model wrote stay out too.
    secrets.extend(["I paid on Monday, reference 4711".to_owned(), "I will check my bank app now".to_owned()]);
    secrets.extend([brain.summary.clone(), "Did the fiat payment leave your account".to_owned()]);
    assert_no_secret(&log, &secrets);
}

/// In-process: the model endpoint is down, so mediation's bring-up fails; `/health` says so
/// without the provider's internals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_mediation_bring_up_is_a_503_with_the_reason() {
    let world = World::new().await;
    let solver = world.solver().await;
    let model = FakeModel::start().await.unwrap();
    let mut config = mediation_config(&world, &solver, &model);
    config.reasoning.api_base = format!("http://127.0.0.1:{}", free_port());
    config.reasoning.followup_retry_count = 0;
    let endpoint = Endpoint::enable(&mut config);
    let daemon = Daemon::start(config.clone()).await;
    let health = endpoint.wait_for(WAIT, |h| h["mediation"] == "failed").await;
    let reasons = health["reasons"].as_array().expect("reasons");
    assert_eq!(reasons, &[json!(serbero_core::health::MEDIATION_FAILED)], "{health}");
    // The cause stays in the log: the provider's endpoint and model are not for the endpoint.
    let body = health.to_string();
    assert!(!body.contains(&config.reasoning.api_base) && !body.contains(&config.reasoning.model), "{body}");
    assert_eq!(endpoint.health().await.0, 503);
    let metrics = endpoint.metrics().await;
    let failed = [("provider", "openai-compatible"), ("call", "health"), ("error", "unreachable")];
    assert_eq!(metrics.value("serbero_reasoning_failures_total", &failed), 1.0, "the only failing model call here");
    assert_eq!(metrics.value("serbero_healthy", &[]), 0.0);
    daemon.stop().await;
}

/// In-process: the node announces another Serbero key and the only check allowed fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_solver_authorization_is_a_503_with_the_reason() {
    let world = World::new().await;
    let solver = world.solver().await;
    let model = FakeModel::start().await.unwrap();
    model.respond_with(|request| Brain::cooperative().answer(request));
    let someone_else = Keys::generate().public_key().to_hex();
    world.mostro.publish_node_info(&[&["protocol_version", "2"], &["serbero", &someone_else]]).await.unwrap();
    let mut config = mediation_config(&world, &solver, &model);
    config.mediation.solver_auth_retry_max_attempts = 1;
    let endpoint = Endpoint::enable(&mut config);
    let daemon = Daemon::start(config).await;
    let health = endpoint.wait_for(WAIT, |h| h["solver_standing"] == "terminated" && h["mediation"] == "running").await;
    let reasons = health["reasons"].as_array().expect("reasons");
    let named = reasons.iter().filter_map(Value::as_str).any(|r| r.starts_with("Serbero is not a registered solver"));
    assert!(reasons.len() == 1 && named, "{health}");
    assert_eq!(endpoint.health().await.0, 503);
    daemon.stop().await;
}

/// In-process: Root restarts a killed relay actor; the restart is counted for that actor only
/// and `/health` asks the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_actor_is_counted_and_health_follows_its_successor() {
    let world = World::new().await;
    let solver = world.solver().await;
    let mut config = world.config(&[&solver]);
    let endpoint = Endpoint::enable(&mut config);
    let daemon = Daemon::start(config).await;
    endpoint.wait_for_health(200, WAIT).await;

    daemon.children().relay.kill();
    let restarts = |m: &Metrics, actor: &str| m.value("serbero_actor_restarts_total", &[("actor", actor)]);
    let metrics = endpoint.metrics_once(|m| restarts(m, "relay") == 1.0).await;
    assert_eq!(restarts(&metrics, "dispute"), 0.0, "the dispute actor restarted with it is not counted");
    let health = endpoint.wait_for_health(200, WAIT).await;
    assert_eq!(health["relays"][0]["connected"], true, "{health}");
    assert_ne!(daemon.current_children().await.relay.get_id(), daemon.children().relay.get_id());
    world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    assert!(solver.wait_for(1, WAIT).await, "notified through the new relay actor");
    daemon.stop().await;
}

/// In-process: the endpoint's port is taken; the daemon says so and notifies all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_leaves_the_daemon_running_without_the_endpoint() {
    let world = World::new().await;
    let solver = world.solver().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let mut config = world.config(&[&solver]);
    config.http = HttpSettings { enabled: true, listen: taken.local_addr().unwrap() };
    let daemon = Daemon::start(config).await;
    world.mostro.publish(&dispute_id(1), "initiated", "buyer", &[]).await.unwrap();
    assert!(solver.wait_for(1, WAIT).await, "the core runs without the endpoint");
    daemon.stop().await;
}

#[test]
fn the_test_config_writer_round_trips() {
    let keys = Keys::generate();
    let relay = RelayUrl::parse("ws://127.0.0.1:7000").unwrap();
    let mut config =
        test_config(&keys, &Keys::generate(), vec![relay], &[Keys::generate().public_key()], "x.db".into());
    config.http = HttpSettings { enabled: true, listen: "127.0.0.1:9999".parse().unwrap() };
    config.serbero.log_format = LogFormat::Json;
    config.mediation.take_timeout_seconds = 3;
    let read = Config::from_toml_str(&config_toml(&config)).expect("parses").config;
    assert_eq!(format!("{read:?}"), format!("{config:?}"));
}

/// The `[http]` endpoint of a daemon under test.
struct Endpoint {
    base: String,
    http: reqwest::Client,
}

impl Endpoint {
    /// Turns the endpoint on, on a free loopback port.
    fn enable(config: &mut Config) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        config.http = HttpSettings { enabled: true, listen };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("http client");
        Self { base: format!("http://{listen}"), http }
    }

    /// Status code and body of `GET /health`; `(0, Null)` while nothing answers.
    async fn health(&self) -> (u16, Value) {
        match self.http.get(format!("{}/health", self.base)).send().await {
            Ok(response) => (response.status().as_u16(), response.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }

    async fn wait_for_health(&self, code: u16, timeout: Duration) -> Value {
        self.wait_until(timeout, |status, _| status == code).await
    }

    /// The first `/health` body that satisfies `wanted`.
    async fn wait_for(&self, timeout: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        self.wait_until(timeout, |_, body| wanted(body)).await
    }

    async fn wait_until(&self, timeout: Duration, wanted: impl Fn(u16, &Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (status, body) = self.health().await;
            if wanted(status, &body) {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "/health never got there; last {status} {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metrics(&self) -> Metrics {
        let response = self.http.get(format!("{}/metrics", self.base)).send().await.expect("GET /metrics");
        assert_eq!(response.status().as_u16(), 200);
        let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "content type {kind}");
        Metrics { text: response.text().await.expect("metrics body") }
    }

    /// The first scrape that satisfies `settled` (the outbox records a send just after the DM).
    async fn metrics_once(&self, settled: impl Fn(&Metrics) -> bool) -> Metrics {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let metrics = self.metrics().await;
            if settled(&metrics) {
                return metrics;
            }
            assert!(tokio::time::Instant::now() < deadline, "metrics never settled:\n{}", metrics.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One scrape in the Prometheus text format.
struct Metrics {
    text: String,
}

impl Metrics {
    /// The sample of `name` whose labels include `labels`; panics when there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sample(name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{}", self.text))
    }

    /// The same, `None` while the series does not exist yet.
    fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(series, _)| {
                let (series_name, series_labels) = parse_series(series);
                series_name == name && labels.iter().all(|(k, v)| series_labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, value)| value.parse().expect("a number"))
    }
}

/// `name{a="1",b="2"}` into its name and labels (our label values hold no `,` or `"`).
fn parse_series(series: &str) -> (&str, BTreeMap<String, String>) {
    let Some((name, rest)) = series.split_once('{') else { return (series, BTreeMap::new()) };
    let labels = rest.trim_end_matches('}').split(',').filter_map(|pair| pair.split_once('='));
    (name, labels.map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned())).collect())
}

/// A socket standing in for systemd's `$NOTIFY_SOCKET`, read as it fills like systemd does.
struct NotifySocket {
    path: PathBuf,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _reader: tokio::task::JoinHandle<()>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = tokio::net::UnixDatagram::bind(&path).expect("bind the notify socket");
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        let reader = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buffer).await {
                sink.lock().unwrap().push(String::from_utf8_lossy(&buffer[..n]).into_owned());
            }
        });
        Self { path, received, _reader: reader }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until more than `seen` messages arrived.
    async fn wait_for_more_than(&self, seen: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.received().len() <= seen {
            assert!(tokio::time::Instant::now() < deadline, "nothing more on the notify socket");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message so far, once one starts with `state`.
    async fn wait_for(&self, state: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let received = self.received();
            if received.iter().any(|message| message.starts_with(state)) {
                return received;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {state} on the notify socket: {received:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn write_config(world: &World, config: &Config) -> PathBuf {
    let path = world.dir.path().join("serbero.toml");
    std::fs::write(&path, config_toml(config)).expect("write config");
    path
}

fn log_path(world: &World) -> PathBuf {
    world.dir.path().join("serbero.log")
}

/// Serbero's private key, in both spellings.
fn secrets_of(config: &Config) -> Vec<String> {
    let secret = config.serbero.keys.secret_key();
    vec![secret.to_secret_hex(), secret.to_bech32().expect("nsec")]
}

fn assert_every_line_is_json(log: &str) {
    let lines: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
    assert!(lines.len() > 10, "a run logs more than that:\n{log}");
    for line in lines {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "target"] {
            assert!(object.get(field).is_some(), "no {field}: {line}");
        }
        assert!(object["fields"].is_object(), "no fields: {line}");
    }
}

fn assert_no_secret(log: &str, secrets: &[String]) {
    for secret in secrets {
        let found = log.lines().find(|line| line.contains(secret.as_str()));
        assert!(found.is_none(), "a secret reached the log: {}", found.unwrap_or_default());
    }
}

/// `serbero status --json` prints the database's report as JSON, and `status` still prints text.
fn assert_status_json_matches(binary: &Path, db: &Path, notified: u64) {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(binary).arg("status").arg("--db").arg(db).args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let report: Value = serde_json::from_str(&run(&["--json"])).expect("status --json prints JSON");
    assert_eq!(report["schema_version"], storage::SCHEMA_VERSION);
    assert_eq!(report["disputes_by_state"]["notified"], notified);
    assert_eq!(report["disputes_by_state"]["new"], 0);
    assert_eq!(report["outbox_by_status"]["sent"], notified);
    let notifications = report["recent_notifications"].as_array().expect("a list");
    assert_eq!(notifications.len() as u64, notified);
    assert!(notifications.iter().all(|n| n["status"] == "sent" && n["notif_type"] == "initial"), "{report}");
    assert_eq!(report["dead_letters"], json!([]));
    assert!(run(&[]).contains(&format!("notified   {notified}")), "the text report agrees");
}
