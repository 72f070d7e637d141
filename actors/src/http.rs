//! The operator's HTTP endpoint (`[http]`, off by default): `GET /health` and `GET /metrics`.
//! Serves what the actors report and what the database holds; writes nothing and changes
//! nothing, so it needs no authentication beyond where it listens (loopback by default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serbero_core::health;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::health::{observe, TreeView};
use crate::prometheus::{self, Scraper};

/// The Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Endpoint {
    view: watch::Receiver<TreeView>,
    metrics: Scraper,
}

/// Binds `listen` and serves until the returned task is aborted. A failure to bind is logged and
/// the daemon runs on without the endpoint: monitoring then sees the endpoint missing, while
/// solvers still get their notifications.
pub async fn serve(listen: SocketAddr, view: watch::Receiver<TreeView>, db_path: PathBuf) -> Option<JoinHandle<()>> {
    let listener = match TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            error!(%listen, error = %e, "cannot listen for /health and /metrics ([http].listen); running without them");
            return None;
        }
    };
    prometheus::recorder();
    let address = listener.local_addr().unwrap_or(listen);
    info!(listen = %address, "serving /health and /metrics");
    let app = Router::new()
        .route("/health", get(health_route))
        .route("/metrics", get(metrics_route))
        .with_state(Arc::new(Endpoint { view, metrics: Scraper::new(db_path) }));
    Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            error!(error = %e, "the /health and /metrics endpoint stopped");
        }
    }))
}

async fn health_route(State(endpoint): State<Arc<Endpoint>>) -> Response {
    let health = health::judge(&observe(&endpoint.view).await);
    let status = if health.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health)).into_response()
}

async fn metrics_route(State(endpoint): State<Arc<Endpoint>>) -> Response {
    let observed = observe(&endpoint.view).await;
    let health = health::judge(&observed);
    let text = endpoint.metrics.render(&observed, &health).await;
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
}
