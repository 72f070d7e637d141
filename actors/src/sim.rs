//! Stand-ins for the outside world, used by `serbero demo`, the end-to-end tests and the
//! benchmark: an in-process relay, a bare Mostro key that publishes dispute events, a simulated
//! mostrod ([`FakeNode`]), dispute parties, a model endpoint, and solvers whose inboxes unwrap
//! the DMs they receive: as a generic NIP-17 client ([`SolverInbox`]) or as Mostrix's SERBERO
//! pane ([`MostrixInbox`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use nostr_relay_builder::prelude::{LocalRelay, RateLimit, RelayBuilder};
use nostr_sdk::nips::nip59::UnwrappedGift;
use nostr_sdk::prelude::*;
use serbero_core::dispute::DISPUTE_EVENT_KIND;
use serbero_core::node_info::NODE_INFO_KIND;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

mod brain;
mod fake_node;
mod model;
mod mostrix;
mod party;
mod reader;

pub use brain::*;
pub use fake_node::*;
pub use model::*;
pub use mostrix::*;
pub use party::*;

/// A real websocket relay on loopback, with limits raised for bursts of test traffic.
pub struct TestRelay {
    relay: LocalRelay,
    url: RelayUrl,
}

impl TestRelay {
    /// On a free loopback port. To take it away from a client and bring it back, put a
    /// [`Link`] in between: stopping the relay itself can miss a connection mid-handshake.
    pub async fn start() -> anyhow::Result<Self> {
        // The builder picks a random port that is free, then binds it a moment later; a port
        // taken in between by another test is retried on another port.
        const ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            let builder = RelayBuilder::default()
                .addr("127.0.0.1".parse()?)
                .rate_limit(RateLimit { max_reqs: 1_000, notes_per_minute: 1_000_000 })
                .max_filter_limit(100_000)
                .default_filter_limit(100_000);
            let relay = LocalRelay::new(builder);
            match relay.run().await {
                Ok(()) => {
                    let url = relay.url().await;
                    return Ok(Self { relay, url });
                }
                Err(nostr_relay_builder::Error::IO(e))
                    if e.kind() == std::io::ErrorKind::AddrInUse && attempt < ATTEMPTS =>
                {
                    attempt += 1
                }
                Err(e) => return Err(e).context("starting the in-process relay"),
            }
        }
    }

    pub fn url(&self) -> RelayUrl {
        self.url.clone()
    }

    pub fn port(&self) -> u16 {
        self.url.as_str().rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).unwrap_or(0)
    }

    pub fn shutdown(&self) {
        self.relay.shutdown();
    }
}

/// A client signing with `keys`, connected to `relay` (waits up to 5 s for the connection).
async fn connected_client(keys: &Keys, relay: &RelayUrl) -> anyhow::Result<Client> {
    let client = Client::new(keys.clone());
    client.add_relay(relay.clone()).await?;
    client.try_connect(Duration::from_secs(5)).await;
    Ok(client)
}

/// A Mostro node that publishes dispute events with its own key.
pub struct SimMostro {
    pub keys: Keys,
    client: Client,
}

impl SimMostro {
    pub async fn connect(keys: Keys, relay: &RelayUrl) -> anyhow::Result<Self> {
        let client = connected_client(&keys, relay).await?;
        Ok(Self { keys, client })
    }

    pub fn dispute_event(
        &self,
        dispute_id: &str,
        status: &str,
        initiator: &str,
        extra: &[Tag],
    ) -> anyhow::Result<Event> {
        let mut tags = vec![
            Tag::identifier(dispute_id),
            Tag::parse(["s", status])?,
            Tag::parse(["initiator", initiator])?,
            Tag::parse(["y", "mostro"])?,
            Tag::parse(["z", "dispute"])?,
        ];
        tags.extend_from_slice(extra);
        Ok(EventBuilder::new(Kind::Custom(DISPUTE_EVENT_KIND), "").tags(tags).sign_with_keys(&self.keys)?)
    }

    /// Publishes a dispute revision and waits for the relay's `OK`.
    pub async fn publish(
        &self,
        dispute_id: &str,
        status: &str,
        initiator: &str,
        extra: &[Tag],
    ) -> anyhow::Result<Event> {
        let event = self.dispute_event(dispute_id, status, initiator, extra)?;
        self.send(&event).await?;
        Ok(event)
    }

    /// Publishes the node's info event (kind 38385) with these tags, e.g.
    /// `[["protocol_version", "2"], ["pow", "0"]]`.
    pub async fn publish_node_info(&self, tags: &[&[&str]]) -> anyhow::Result<Event> {
        let tags = tags.iter().map(|t| Tag::parse(t.iter().copied())).collect::<Result<Vec<_>, _>>()?;
        let event = EventBuilder::new(Kind::Custom(NODE_INFO_KIND), "")
            .tags(std::iter::once(Tag::identifier(self.keys.public_key().to_hex())).chain(tags))
            .sign_with_keys(&self.keys)?;
        self.send(&event).await?;
        Ok(event)
    }

    pub async fn send(&self, event: &Event) -> anyhow::Result<()> {
        let out = self.client.send_event(event).await?;
        anyhow::ensure!(!out.success.is_empty(), "relay refused the event: {:?}", out.failed);
        Ok(())
    }

    pub async fn disconnect(&self) {
        self.client.shutdown().await;
    }
}

/// A DM as the solver's client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedDm {
    pub wrap_id: EventId,
    pub sender: PublicKey,
    pub text: String,
    /// When the inbox had it unwrapped, for latency measurements.
    pub at: std::time::Instant,
}

/// A solver's inbox: subscribes to gift wraps addressed to it and unwraps each one.
pub struct SolverInbox {
    pub keys: Keys,
    received: Arc<Mutex<Vec<ReceivedDm>>>,
    arrived: Arc<Notify>,
    client: Client,
    reader: JoinHandle<()>,
}

impl SolverInbox {
    pub async fn start(relay: &RelayUrl) -> anyhow::Result<Self> {
        Self::start_with(Keys::generate(), relay).await
    }

    pub async fn start_with(keys: Keys, relay: &RelayUrl) -> anyhow::Result<Self> {
        let client = connected_client(&keys, relay).await?;
        let mut notifications = client.notifications();
        // No `since`: wraps are back-dated by up to two days.
        client.subscribe(Filter::new().kind(Kind::GiftWrap).pubkey(keys.public_key()), None).await?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (sink, bell, me) = (received.clone(), arrived.clone(), keys.clone());
        let reader = tokio::spawn(async move {
            while let Ok(notification) = notifications.recv().await {
                let RelayPoolNotification::Event { event, .. } = notification else { continue };
                let Ok(gift) = UnwrappedGift::from_gift_wrap(&me, &event).await else { continue };
                let dm = ReceivedDm {
                    wrap_id: event.id,
                    sender: gift.sender,
                    text: gift.rumor.content,
                    at: std::time::Instant::now(),
                };
                sink.lock().expect("inbox lock").push(dm);
                bell.notify_waiters();
            }
        });
        Ok(Self { keys, received, arrived, client, reader })
    }

    pub fn pubkey(&self) -> PublicKey {
        self.keys.public_key()
    }

    pub fn messages(&self) -> Vec<ReceivedDm> {
        self.received.lock().expect("inbox lock").clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().expect("inbox lock").len()
    }

    /// Waits until at least `n` DMs arrived; false on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.arrived.notified();
                if self.count() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }

    /// Waits for the next DM after the first `seen`, and returns it.
    pub async fn next_after(&self, seen: usize, timeout: Duration) -> Option<ReceivedDm> {
        if self.wait_for(seen + 1, timeout).await {
            self.messages().get(seen).cloned()
        } else {
            None
        }
    }

    pub async fn stop(self) {
        self.reader.abort();
        self.client.shutdown().await;
    }
}

/// A TCP forwarder in front of a relay: the daemon connects through it, and the test can cut
/// every connection (the relay is down for the daemon) and restore it (the relay came back).
/// Stopping an in-process relay is not enough: a connection mid-handshake survives it.
pub struct Link {
    port: u16,
    relay_port: u16,
    forwarding: Option<JoinHandle<()>>,
}

impl Link {
    pub async fn open(relay: &TestRelay) -> Self {
        let mut link = Self { port: free_port(), relay_port: relay.port(), forwarding: None };
        link.restore().await;
        link
    }

    pub fn url(&self) -> RelayUrl {
        RelayUrl::parse(&format!("ws://127.0.0.1:{}", self.port)).expect("a loopback URL parses")
    }

    /// Closes the listener and every forwarded connection.
    pub fn cut(&mut self) {
        if let Some(forwarding) = self.forwarding.take() {
            forwarding.abort();
        }
    }

    pub async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("the link port is free");
        let relay_port = self.relay_port;
        self.forwarding = Some(tokio::spawn(async move {
            // Dropped with this task, which aborts every connection in it.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", relay_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound socket has an address").port()
}
