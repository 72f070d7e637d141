//! Prometheus metrics through the `metrics` facade. Events are counted where they happen (actor
//! restarts, reasoning calls); what the database already knows (disputes, notifications, the
//! outbox, sessions, escalations) and what the actors report (relays, health) is read when
//! `/metrics` is scraped, so the figures survive restarts and match `serbero status`; the
//! database figures come from a reader of their own (`reader.rs`), at most once per few seconds.
//! The README lists every metric.

mod figures;
mod reader;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serbero_core::health::{Answer, Health, Observed};
use tracing::warn;

use figures::Database;
use reader::{Reader, READ_WAIT};

const ACTOR_RESTARTS: &str = "serbero_actor_restarts_total";
const SESSION_RESTARTS: &str = "serbero_session_restarts_total";
const REASONING_DURATION: &str = "serbero_reasoning_request_duration_seconds";
const REASONING_FAILURES: &str = "serbero_reasoning_failures_total";
const REASONING_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// The process-wide recorder, installed on first use (the endpoint is the only reader).
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REASONING_DURATION.to_owned()), &REASONING_BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            warn!("another metrics recorder is installed; /metrics shows only what is read at scrape time");
        }
        describe();
        gauge!("serbero_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

fn describe() {
    describe_counter!(ACTOR_RESTARTS, "Times Root restarted a child after it failed or stopped, by actor.");
    describe_counter!(SESSION_RESTARTS, "Times a mediation session was restarted after it failed.");
    describe_histogram!(REASONING_DURATION, Unit::Seconds, "Reasoning calls, retries included, by provider and call.");
    describe_counter!(REASONING_FAILURES, "Reasoning calls that failed, by provider, call and error.");
    figures::describe();
    describe_gauge!("serbero_healthy", "1 when GET /health answers 200, else 0.");
    describe_gauge!("serbero_relay_connected", "1 when the relay is connected, by relay URL.");
    describe_gauge!("serbero_relays_connected", "Relays connected now.");
    describe_gauge!("serbero_build_info", "Always 1; the version is a label.");
}

/// Root restarted `actor` (children restarted with it because they depend on it are not counted).
pub fn actor_restarted(actor: &'static str) {
    counter!(ACTOR_RESTARTS, "actor" => actor).increment(1);
}

/// Makes a child's restart counter visible at zero.
pub fn actor_started(actor: &'static str) {
    counter!(ACTOR_RESTARTS, "actor" => actor).increment(0);
}

pub fn session_restarted() {
    counter!(SESSION_RESTARTS).increment(1);
}

/// One reasoning call, with its retries, ended after `took`; `error` is its category on failure.
pub fn reasoning_call(provider: &str, call: &'static str, took: Duration, error: Option<&'static str>) {
    let provider = provider.to_owned();
    histogram!(REASONING_DURATION, "provider" => provider.clone(), "call" => call).record(took.as_secs_f64());
    if let Some(error) = error {
        counter!(REASONING_FAILURES, "provider" => provider, "call" => call, "error" => error).increment(1);
    }
}

/// Renders `/metrics`, with the database figures of a recent read.
pub struct Scraper {
    reader: Reader,
}

impl Scraper {
    /// Starts the reader of `db_path` (its thread ends when the scraper is dropped).
    pub fn new(db_path: PathBuf) -> Self {
        let mut database = Database::new(db_path);
        Self { reader: Reader::spawn(move || database.read(), READ_WAIT) }
    }

    /// Sets the scrape-time gauges and renders every metric in the Prometheus text format.
    pub async fn render(&self, observed: &Observed, health: &Health) -> String {
        gauge!("serbero_healthy").set(if health.is_ok() { 1.0 } else { 0.0 });
        if let Answer::Said(relays) = &observed.relays {
            for relay in relays {
                let connected = f64::from(u8::from(relay.connected));
                gauge!("serbero_relay_connected", "relay" => relay.url.clone()).set(connected);
            }
            gauge!("serbero_relays_connected").set(relays.iter().filter(|relay| relay.connected).count() as f64);
        }
        if let Some(figures) = self.reader.figures().await {
            figures.publish();
        }
        let handle = recorder();
        handle.run_upkeep();
        handle.render()
    }
}
