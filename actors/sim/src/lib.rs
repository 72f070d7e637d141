//! Stand-ins for the outside world, used by `serbero demo` (its `demo` feature), the end-to-end
//! tests and the benchmarks, never by the daemon itself: an in-process relay, a bare Mostro key
//! that publishes dispute events, a simulated mostrod ([`FakeNode`]), dispute parties, a model
//! endpoint, and solvers whose inboxes unwrap the DMs they receive: as a generic NIP-17 client
//! ([`SolverInbox`]) or as Mostrix's SERBERO pane ([`MostrixInbox`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use nostr_relay_builder::prelude::{LocalRelay, RateLimit, RelayBuilder};
use nostr_sdk::nips::nip59::UnwrappedGift;
use nostr_sdk::prelude::*;
use serbero_core::dispute::DISPUTE_EVENT_KIND;
use serbero_core::node_info::NODE_INFO_KIND;
use tokio::sync::broadcast::error::RecvError;
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
    connected_client_with(keys, relay, ClientOptions::new()).await
}

async fn connected_client_with(keys: &Keys, relay: &RelayUrl, options: ClientOptions) -> anyhow::Result<Client> {
    let client = Client::builder().signer(keys.clone()).opts(options).build();
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
        // It unwraps every DM while sharing the cores with the daemon under test: room to fall
        // behind in a burst (each slot costs memory, so only the inboxes get this many).
        let options = ClientOptions::new().pool(RelayPoolOptions::new().notification_channel_size(16_384));
        let client = connected_client_with(&keys, relay, options).await?;
        let mut notifications = client.notifications();
        // No `since`: wraps are back-dated by up to two days.
        client.subscribe(Filter::new().kind(Kind::GiftWrap).pubkey(keys.public_key()), None).await?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (sink, bell, me) = (received.clone(), arrived.clone(), keys.clone());
        let reader = tokio::spawn(async move {
            loop {
                let notification = match notifications.recv().await {
                    Ok(notification) => notification,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "solver inbox fell behind; the DMs it missed will be counted lost");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
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

    /// How many gift wraps to this inbox the relay stores: more than [`Self::count`] means its
    /// live feed dropped some (the in-process relay's broadcast of new events holds 1,024 and
    /// skips what a lagging connection missed), not that they were never published.
    pub async fn held_by_relay(&self, timeout: Duration) -> anyhow::Result<usize> {
        let filter = Filter::new().kind(Kind::GiftWrap).pubkey(self.keys.public_key());
        Ok(self.client.fetch_events(filter, timeout).await?.len())
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
/// Stopping an in-process relay is not enough: a connection mid-handshake survives it. Its
/// [`LinkShape`] can put the relay far away, or make it mute.
pub struct Link {
    port: u16,
    relay_port: u16,
    shape: LinkShape,
    forwarding: Option<JoinHandle<()>>,
}

/// How a [`Link`] carries traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkShape {
    /// Added to every round trip, half on the way there and half on the way back.
    pub round_trip: Duration,
    /// Lets the relay's websocket handshake through, then drops everything the relay says: a
    /// relay that takes every event and never answers, not even a ping.
    pub mute: bool,
}

impl Link {
    pub async fn open(relay: &TestRelay) -> Self {
        Self::open_shaped(relay, LinkShape::default()).await
    }

    pub async fn open_shaped(relay: &TestRelay, shape: LinkShape) -> Self {
        let mut link = Self { port: free_port(), relay_port: relay.port(), shape, forwarding: None };
        link.restore().await;
        link
    }

    pub fn url(&self) -> RelayUrl {
        RelayUrl::parse(&format!("ws://127.0.0.1:{}", self.port)).expect("a loopback URL parses")
    }

    /// Carries the connections made after the next [`Link::restore`] so.
    pub fn reshape(&mut self, shape: LinkShape) {
        self.shape = shape;
    }

    /// Closes the listener and every forwarded connection.
    pub fn cut(&mut self) {
        if let Some(forwarding) = self.forwarding.take() {
            forwarding.abort();
        }
    }

    pub async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("the link port is free");
        let (relay_port, shape) = (self.relay_port, self.shape);
        self.forwarding = Some(tokio::spawn(async move {
            // Dropped with this task, which aborts every connection in it.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", relay_port)).await {
                        forward(inbound, outbound, shape).await;
                    }
                });
            }
        }));
    }
}

async fn forward(mut inbound: tokio::net::TcpStream, mut outbound: tokio::net::TcpStream, shape: LinkShape) {
    if shape == LinkShape::default() {
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        return;
    }
    let (from_client, to_client) = inbound.into_split();
    let (from_relay, to_relay) = outbound.into_split();
    let one_way = shape.round_trip / 2;
    let speaking = if shape.mute { Speech::HandshakeOnly } else { Speech::All };
    tokio::join!(carry(from_client, to_relay, one_way, Speech::All), carry(from_relay, to_client, one_way, speaking));
}

/// What of one direction's bytes a [`Link`] lets through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Speech {
    All,
    /// Up to the end of the HTTP response headers (the websocket upgrade).
    HandshakeOnly,
}

/// Copies `from` to `to`, each chunk `delay` after it was read, in order.
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    speech: Speech,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (chunks, mut due) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
    };
    let reader = async move {
        let (mut buffer, mut heard) = (vec![0u8; 64 * 1024], Vec::new());
        let mut speaking = true;
        while let Ok(n) = from.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            let mut chunk = buffer[..n].to_vec();
            if speech == Speech::HandshakeOnly && speaking {
                heard.extend_from_slice(&chunk);
                if let Some(end) = heard.windows(4).position(|w| w == b"\r\n\r\n") {
                    let handshake = end + 4 - (heard.len() - n);
                    chunk.truncate(handshake.min(n));
                    speaking = false;
                }
            } else if speech == Speech::HandshakeOnly {
                continue;
            }
            if chunks.send((tokio::time::Instant::now() + delay, chunk)).is_err() {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
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
