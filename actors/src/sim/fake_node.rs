//! A Mostro node on the relay that treats a solver the way mostrod 0.18.5 does
//! (spec/mostro-protocol.md §2.2, §3, §4, §13): it announces its transport and proof-of-work
//! demands, answers `admin-take-dispute` as each test scripts it, publishes dispute revisions with
//! strictly increasing timestamps, and records every request it receives, including the ones it
//! drops the way mostrod would.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mostro_core::dispute::SolverDisputeInfo;
use mostro_core::error::CantDoReason;
use mostro_core::message::{Action, Message, Payload};
use mostro_core::nip59::{UnwrappedMessage, WrapOptions};
use mostro_core::transport::{unwrap_incoming, wrap_message_with, Transport};
use nostr_sdk::nips::nip13::get_leading_zero_bits;
use nostr_sdk::prelude::*;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::SimMostro;

/// mostrod drops a request whose inner timestamp is more than this many seconds old.
const MAX_REQUEST_AGE_SECS: i64 = 10;
/// Gift wraps are dated up to two days back, so the node looks a week back.
const LOOKBACK: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// mostrod's replies expire after its `dm_days` (30).
const REPLY_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How long after Serbero's take a human takes the dispute over.
pub const HUMAN_DELAY: u64 = 60;
/// Every scripted dispute was opened by the buyer.
const INITIATOR: &str = "buyer";

/// What the node announces in its info event (kind 38385).
#[derive(Clone, Debug)]
pub struct NodeScript {
    /// 1: NIP-59 gift wrap (kind 1059); 2: NIP-44 direct (kind 14).
    pub protocol_version: u8,
    pub pow: u8,
    pub pow_first_contact: u8,
    /// The key announced in the `serbero` tag.
    pub serbero: Option<PublicKey>,
}

impl Default for NodeScript {
    /// mostrod 0.18.5 defaults: protocol v2, no proof of work, no Serbero announced.
    fn default() -> Self {
        Self { protocol_version: 2, pow: 0, pow_first_contact: 0, serbero: None }
    }
}

impl NodeScript {
    #[allow(deprecated)] // v1 is deprecated upstream, but nodes before 0.18.5 speak nothing else.
    fn transport(&self) -> Transport {
        if self.protocol_version >= 2 {
            Transport::Nip44Direct
        } else {
            Transport::GiftWrap
        }
    }

    /// A solver that has not taken a dispute yet is a first contact.
    fn required_pow(&self) -> u8 {
        self.pow.max(self.pow_first_contact)
    }
}

/// How the node answers an `admin-take-dispute` for one dispute.
#[derive(Clone, Debug)]
pub enum TakeAnswer {
    /// `admin-took-dispute` with the trade's details, then the `in-progress` revision.
    Took {
        order_id: Uuid,
        buyer: PublicKey,
        seller: PublicKey,
    },
    CantDo(CantDoReason),
    /// No reply at all, as for a dispute id the node does not know (§13.4).
    Silent,
}

/// A message the node could open, and whether it acted on it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub action: Action,
    pub id: Option<Uuid>,
    pub request_id: Option<u64>,
    pub identity: PublicKey,
    pub kind: Kind,
    /// Leading zero bits of the (outer) event id.
    pub pow_bits: u8,
    /// Seconds between the inner timestamp and its arrival.
    pub age_secs: i64,
    /// Why mostrod would have ignored it; `None` when the node processed it.
    pub dropped: Option<String>,
}

/// A scripted Mostro node; it listens from `start` until dropped.
pub struct FakeNode {
    node: Arc<Node>,
    reader: JoinHandle<()>,
}

impl FakeNode {
    /// Connects, subscribes to messages addressed to the node, then announces the node.
    pub async fn start(keys: Keys, relay: &RelayUrl, script: NodeScript) -> anyhow::Result<Self> {
        let mostro = SimMostro::connect(keys, relay).await?;
        let notifications = mostro.client.notifications();
        // Both transports' kinds, so that a message on the wrong one is recorded as dropped
        // (mostrod subscribes to its own kind only and never sees the other).
        let addressed_to_node = Filter::new()
            .kinds([Kind::GiftWrap, Kind::PrivateDirectMessage])
            .pubkey(mostro.keys.public_key())
            .since(Timestamp::now() - LOOKBACK);
        mostro.client.subscribe(addressed_to_node, None).await?;
        announce(&mostro, &script).await?;
        let node = Arc::new(Node {
            mostro,
            script,
            answers: Mutex::default(),
            latest_revisions: Mutex::default(),
            requests: Collected::default(),
        });
        let receiving = node.clone();
        let reader = spawn_reader(notifications, move |event| {
            let node = receiving.clone();
            async move { node.receive(&event).await }
        });
        Ok(Self { node, reader })
    }

    /// Scripts the answer to every later take of `dispute_id`; unscripted disputes get no reply.
    pub fn answer(&self, dispute_id: Uuid, answer: TakeAnswer) {
        self.node.answers.lock().expect("answers lock").insert(dispute_id, answer);
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.node.requests.snapshot()
    }

    /// Waits until at least `n` requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.node.requests.wait_for(n, timeout).await
    }

    /// A human write solver takes the dispute over: a newer `in-progress` revision. People act
    /// well after Serbero's take, so it is dated [`HUMAN_DELAY`] after the previous revision
    /// (ahead of the clock: relays and Serbero accept that) rather than making the test wait.
    pub async fn hand_over(&self, dispute_id: Uuid) -> anyhow::Result<Event> {
        let revision = self.node.dispute_revision_after(dispute_id, "in-progress", HUMAN_DELAY)?;
        self.node.mostro.send(&revision).await?;
        Ok(revision)
    }

    /// Publishes a dispute revision dated after every earlier one of this dispute.
    pub async fn publish_dispute(&self, dispute_id: Uuid, status: &str) -> anyhow::Result<Event> {
        let revision = self.node.dispute_revision(dispute_id, status)?;
        self.node.mostro.send(&revision).await?;
        Ok(revision)
    }

    pub fn pubkey(&self) -> PublicKey {
        self.node.mostro.keys.public_key()
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn announce(mostro: &SimMostro, script: &NodeScript) -> anyhow::Result<()> {
    let version = script.protocol_version.to_string();
    let pow = script.pow.to_string();
    let first_contact = script.pow_first_contact.to_string();
    let serbero = script.serbero.map(|key| key.to_hex());
    let mut tags = vec![
        ["protocol_version", version.as_str()],
        ["pow", pow.as_str()],
        ["pow_first_contact", first_contact.as_str()],
    ];
    if let Some(serbero) = &serbero {
        tags.push(["serbero", serbero.as_str()]);
    }
    let tags: Vec<&[&str]> = tags.iter().map(|tag| tag.as_slice()).collect();
    mostro.publish_node_info(&tags).await?;
    Ok(())
}

struct Node {
    mostro: SimMostro,
    script: NodeScript,
    answers: Mutex<HashMap<Uuid, TakeAnswer>>,
    /// `created_at` of the newest revision published per dispute.
    latest_revisions: Mutex<HashMap<Uuid, Timestamp>>,
    requests: Collected<ReceivedRequest>,
}

impl Node {
    async fn receive(&self, event: &Event) {
        // What the node cannot open is not addressed to it, or broken: mostrod ignores both.
        let Ok(Some(unwrapped)) = unwrap_incoming(event, &self.mostro.keys).await else { return };
        let message = unwrapped.message.get_inner_message_kind();
        let pow_bits = get_leading_zero_bits(event.id);
        let age_secs = Timestamp::now().as_secs() as i64 - unwrapped.created_at.as_secs() as i64;
        let request = ReceivedRequest {
            action: message.action.clone(),
            id: message.id,
            request_id: message.request_id,
            identity: unwrapped.identity,
            kind: event.kind,
            pow_bits,
            age_secs,
            dropped: self.drop_reason(event, &unwrapped, pow_bits, age_secs),
        };
        let is_take = request.dropped.is_none() && request.action == Action::AdminTakeDispute;
        self.requests.push(request);
        if is_take {
            if let Err(error) = self.answer_take(&unwrapped).await {
                tracing::warn!(%error, "fake node could not answer a take");
            }
        }
    }

    /// mostrod's checks, in its order (`src/app.rs` `accept_event`).
    fn drop_reason(&self, event: &Event, unwrapped: &UnwrappedMessage, pow_bits: u8, age_secs: i64) -> Option<String> {
        let required_pow = self.script.required_pow();
        let transport_kind = self.script.transport().event_kind();
        if pow_bits < required_pow {
            return Some(format!("proof of work of {pow_bits} bits, {required_pow} required"));
        }
        if event.kind != transport_kind {
            return Some(format!("kind {} is not this node's transport (kind {transport_kind})", event.kind));
        }
        if event.verify().is_err() {
            return Some("invalid event signature".to_string());
        }
        if age_secs > MAX_REQUEST_AGE_SECS {
            return Some(format!("stale: sent {age_secs} s ago"));
        }
        if unwrapped.identity != unwrapped.sender && unwrapped.signature.is_none() {
            return Some("unsigned message from an identity other than its trade key".to_string());
        }
        if !unwrapped.message.verify() {
            return Some("malformed message".to_string());
        }
        None
    }

    async fn answer_take(&self, request: &UnwrappedMessage) -> anyhow::Result<()> {
        let take = request.message.get_inner_message_kind();
        let Some(dispute_id) = take.id else { return Ok(()) };
        let answer = self.answers.lock().expect("answers lock").get(&dispute_id).cloned();
        match answer {
            None | Some(TakeAnswer::Silent) => Ok(()),
            Some(TakeAnswer::CantDo(reason)) => {
                let refusal = Message::cant_do(Some(dispute_id), take.request_id, Some(Payload::CantDo(Some(reason))));
                self.reply(refusal, request.sender).await
            }
            Some(TakeAnswer::Took { order_id, buyer, seller }) => {
                // Signed when the take is committed, before the reply goes out, as mostrod does.
                let revision = self.dispute_revision(dispute_id, "in-progress")?;
                let details = solver_dispute_info(order_id, buyer, seller);
                let took = Message::new_dispute(
                    Some(dispute_id),
                    take.request_id,
                    None,
                    Action::AdminTookDispute,
                    Some(Payload::Dispute(dispute_id, Some(details))),
                );
                self.reply(took, request.identity).await?;
                self.mostro.send(&revision).await
            }
        }
    }

    /// Unsigned, from the node key as both identity and trade key, on the node's transport.
    async fn reply(&self, mut message: Message, to: PublicKey) -> anyhow::Result<()> {
        let transport = self.script.transport();
        // mostrod stamps the version of the transport it serves (§13.2).
        let (Message::Order(kind)
        | Message::Dispute(kind)
        | Message::CantDo(kind)
        | Message::Rate(kind)
        | Message::Dm(kind)
        | Message::Restore(kind)) = &mut message;
        kind.version = transport.protocol_version();
        let options = WrapOptions { pow: 0, expiration: Some(Timestamp::now() + REPLY_LIFETIME), signed: false };
        let keys = &self.mostro.keys;
        let event = wrap_message_with(transport, &message, keys, keys, to, options).await?;
        self.mostro.send(&event).await
    }

    /// SimMostro's dispute event, re-dated: mostrod makes `created_at` strictly increase per
    /// dispute, or a relay could keep an older revision published in the same second.
    fn dispute_revision(&self, dispute_id: Uuid, status: &str) -> anyhow::Result<Event> {
        self.dispute_revision_after(dispute_id, status, 1)
    }

    /// A revision dated at least `gap` seconds after the previous one of this dispute.
    fn dispute_revision_after(&self, dispute_id: Uuid, status: &str, gap: u64) -> anyhow::Result<Event> {
        let template = self.mostro.dispute_event(&dispute_id.to_string(), status, INITIATOR, &[])?;
        let event = EventBuilder::new(template.kind, template.content)
            .tags(template.tags)
            .custom_created_at(self.next_revision_time(dispute_id, gap))
            .sign_with_keys(&self.mostro.keys)?;
        Ok(event)
    }

    fn next_revision_time(&self, dispute_id: Uuid, gap: u64) -> Timestamp {
        let mut latest = self.latest_revisions.lock().expect("revisions lock");
        let now = Timestamp::now();
        let at = match latest.get(&dispute_id) {
            Some(previous) if *previous + gap > now => *previous + gap,
            _ => now,
        };
        latest.insert(dispute_id, at);
        at
    }
}

/// Plausible details of a sell order the buyer disputed, both parties in full privacy.
fn solver_dispute_info(order_id: Uuid, buyer: PublicKey, seller: PublicKey) -> SolverDisputeInfo {
    let now = Timestamp::now().as_secs() as i64;
    SolverDisputeInfo {
        id: order_id,
        kind: "sell".to_string(),
        status: "dispute".to_string(),
        hash: None,
        preimage: None,
        order_previous_status: "active".to_string(),
        initiator_pubkey: buyer.to_hex(),
        buyer_pubkey: Some(buyer.to_hex()),
        seller_pubkey: Some(seller.to_hex()),
        initiator_full_privacy: true,
        counterpart_full_privacy: true,
        initiator_info: None,
        counterpart_info: None,
        premium: 0,
        payment_method: "SEPA".to_string(),
        amount: 100_000,
        fiat_amount: 50,
        fee: 300,
        routing_fee: 0,
        buyer_invoice: None,
        invoice_held_at: now - 3_600,
        taken_at: now - 3_600,
        created_at: now - 7_200,
    }
}

/// Runs `on_event` on each event the client's subscriptions deliver, one at a time, in order.
pub(super) fn spawn_reader<F, Fut>(
    mut notifications: broadcast::Receiver<RelayPoolNotification>,
    on_event: F,
) -> JoinHandle<()>
where
    F: Fn(Box<Event>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            match notifications.recv().await {
                Ok(RelayPoolNotification::Event { event, .. }) => on_event(event).await,
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => tracing::warn!(missed, "simulator reader fell behind"),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// What a reader collected so far, with a wait for the n-th item.
pub(super) struct Collected<T> {
    items: Mutex<Vec<T>>,
    arrived: Notify,
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Self { items: Mutex::new(Vec::new()), arrived: Notify::new() }
    }
}

impl<T: Clone> Collected<T> {
    pub(super) fn push(&self, item: T) {
        self.items.lock().expect("collected lock").push(item);
        self.arrived.notify_waiters();
    }

    pub(super) fn snapshot(&self) -> Vec<T> {
        self.items.lock().expect("collected lock").clone()
    }

    /// Waits until at least `n` items arrived; false on timeout.
    pub(super) async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.arrived.notified();
                if self.items.lock().expect("collected lock").len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }
}
