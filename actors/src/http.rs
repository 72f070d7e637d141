//! The operator's HTTP endpoint (`[http]`, off by default): `GET /health` and `GET /metrics`.
//! Serves what the actors report and what the database holds; writes nothing and changes
//! nothing, so it needs no authentication beyond where it listens (loopback by default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serbero_core::health;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::health::{observe, TreeView};
use crate::prometheus::{self, Scraper};

/// The Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// A client must send its request headers within this long, or the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection lives longer (a keep-alive scraper reconnects).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections served at once; one more is closed on arrival.
pub const MAX_CONNECTIONS: usize = 32;

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
    Some(tokio::spawn(accept(listener, app)))
}

/// Serves each connection on its own task, at most [`MAX_CONNECTIONS`] at once: a client that
/// is slow to send its headers, or opens many connections, cannot hold the endpoint.
async fn accept(listener: TcpListener, app: Router) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                warn!(error = %e, "the /health and /metrics endpoint cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(serve_connection(stream, app.clone(), permit));
            }
            Err(_) => debug!("the /health and /metrics endpoint is at its connection cap; closing a new one"),
        }
    }
}

async fn serve_connection(stream: TcpStream, app: Router, _permit: tokio::sync::OwnedSemaphorePermit) {
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    // A connection past its lifetime is simply dropped.
    if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
        debug!(error = %e, "an /health or /metrics connection ended with an error");
    }
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
