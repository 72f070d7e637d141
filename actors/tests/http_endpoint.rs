//! The operator's endpoint holds up against clients that misbehave: one that never finishes its
//! request headers is cut off, and connections beyond the cap are closed on arrival while the
//! endpoint keeps answering once they are gone.

use std::net::SocketAddr;
use std::time::Duration;

use serbero::health::TreeView;
use serbero::http::{serve, HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
use serbero_core::health::Mediation;
use serbero_sim::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

async fn endpoint() -> (SocketAddr, tokio::task::JoinHandle<()>, watch::Sender<TreeView>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (tx, view) = watch::channel(TreeView::starting(Mediation::Off));
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let task = serve(listen, view, dir.path().join("serbero.db")).await.expect("listening");
    (listen, task, tx, dir)
}

/// Reads until the server closes the connection; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

async fn health_answers(listen: SocketAddr) -> bool {
    let mut stream = TcpStream::connect(listen).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await;
    answer.starts_with("HTTP/1.1 ")
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (listen, task, _tree, _dir) = endpoint().await;
    let mut slow = TcpStream::connect(listen).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let closed = closed_within(&mut slow, HEADER_READ_TIMEOUT * 3).await;
    assert!(closed.is_some_and(|after| after >= HEADER_READ_TIMEOUT / 2), "closed after {closed:?}");
    assert!(health_answers(listen).await, "the endpoint still answers");
    task.abort();
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_the_endpoint_recovers() {
    let (listen, task, _tree, _dir) = endpoint().await;
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(TcpStream::connect(listen).await.unwrap());
    }
    // The accept loop takes connections in order: once one more is closed, all of the idle
    // ones hold their permits.
    let mut extra = TcpStream::connect(listen).await.unwrap();
    let closed = closed_within(&mut extra, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "a connection over the cap is closed at once");
    drop(idle);
    let mut answered = false;
    for _ in 0..50 {
        if health_answers(listen).await {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered, "the endpoint answers again once the idle connections are gone");
    task.abort();
}
