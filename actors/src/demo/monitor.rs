//! What an operator's monitoring sees of the demo daemon: `GET /health` and the non-zero
//! samples of `GET /metrics`, fetched over HTTP like any monitor would.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use super::Stage;

/// The metric families printed; the rest are in the README.
const SHOWN: [&str; 7] = [
    "serbero_healthy",
    "serbero_relays_connected",
    "serbero_disputes{",
    "serbero_notifications_total",
    "serbero_outbox_messages",
    "serbero_mediation_sessions{",
    "serbero_reasoning_request_duration_seconds_count",
];

/// The demo configuration's `[http]` section.
pub(super) fn http_section(listen: SocketAddr) -> String {
    format!("\n[http]\nenabled = true\nlisten = \"{listen}\"\n")
}

pub(super) async fn show(stage: &Stage, listen: SocketAddr) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let health = http.get(format!("http://{listen}/health")).send().await.context("GET /health")?;
    let code = health.status().as_u16();
    stage.show("operator", format!("GET http://{listen}/health → {code}"), &health.text().await?);
    let metrics = http.get(format!("http://{listen}/metrics")).send().await.context("GET /metrics")?.text().await?;
    let mut lines: Vec<&str> = metrics
        .lines()
        .filter(|line| SHOWN.iter().any(|family| line.starts_with(family)))
        .filter(|line| !line.ends_with(" 0"))
        .collect();
    lines.sort_unstable();
    stage.show("operator", "GET /metrics (non-zero samples of a few families):", &lines.join("\n"));
    Ok(())
}
