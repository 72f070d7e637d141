//! The Relay actor's readers for Serbero's own conversations: the node's messages to us (both
//! transports: a node speaks one, and we may not know which yet) and the party chat channels.

use mostro_core::message::Message;
use mostro_core::transport::unwrap_incoming;
use nostr_sdk::prelude::*;
use ractor::DerivedActorRef;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::chats::CHAT_PREFIX;
use super::{Msg, RelayRef};

/// Gift wraps are back-dated by up to two days (NIP-59).
const GIFT_WRAP_LOOKBACK_SECS: u64 = 2 * 24 * 60 * 60;
/// Kind-14 messages carry their real time; an answer to a take in flight is at most this old.
const DIRECT_LOOKBACK_SECS: u64 = 10 * 60;

/// A message from the node to us, unwrapped and checked to be signed by the node.
#[derive(Debug, Clone)]
pub struct NodeMessage {
    pub message: Box<Message>,
    /// When the node wrote it (the rumor's time on v1, the event's on v2).
    pub created_at: i64,
    pub event_id: EventId,
}

/// A raw event on one of the chat channels a session watches; the session holds the keys and
/// runs the receive checks.
#[derive(Debug, Clone)]
pub struct ChatEvent(pub Box<Event>);

/// Subscribes to the node's messages addressed to us and forwards each one it signed to `sink`.
pub(super) async fn watch_node_messages(
    client: &Client,
    keys: Keys,
    mostro: PublicKey,
    sink: DerivedActorRef<NodeMessage>,
) -> JoinHandle<()> {
    let mut notifications = client.notifications();
    let now = Timestamp::now().as_secs();
    let us = keys.public_key();
    let direct = Filter::new()
        .kind(Kind::PrivateDirectMessage)
        .author(mostro)
        .pubkey(us)
        .since(Timestamp::from_secs(now.saturating_sub(DIRECT_LOOKBACK_SECS)));
    let wrapped = Filter::new()
        .kind(Kind::GiftWrap)
        .pubkey(us)
        .since(Timestamp::from_secs(now.saturating_sub(GIFT_WRAP_LOOKBACK_SECS)));
    let ids = [SubscriptionId::new("serbero-node-v2"), SubscriptionId::new("serbero-node-v1")];
    for (id, filter) in ids.iter().zip([direct, wrapped]) {
        if let Err(e) = client.subscribe_with_id(id.clone(), filter, None).await {
            warn!(error = %e, "node message subscription not sent yet");
        }
    }
    tokio::spawn(async move {
        loop {
            let event = match notifications.recv().await {
                Ok(RelayPoolNotification::Event { subscription_id, event, .. }) if ids.contains(&subscription_id) => {
                    event
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let Some(message) = open_node_message(&event, &keys, &mostro).await else { continue };
            if sink.send_message(message).is_err() {
                debug!("node message owner is gone; dropping the node message");
            }
        }
    })
}

/// Unwraps with mostro-core; `None` for what is not a message from the node to us.
async fn open_node_message(event: &Event, keys: &Keys, mostro: &PublicKey) -> Option<NodeMessage> {
    match unwrap_incoming(event, keys).await {
        Ok(Some(unwrapped)) if unwrapped.identity == *mostro && unwrapped.sender == *mostro => Some(NodeMessage {
            message: Box::new(unwrapped.message),
            created_at: unwrapped.created_at.as_secs() as i64,
            event_id: event.id,
        }),
        Ok(Some(unwrapped)) => {
            debug!(event = %event.id, from = %unwrapped.identity, "message to us not from the node; skipped");
            None
        }
        Ok(None) => None,
        // Solvers' own DMs to us land here too (a kind-14 rumor is not a Mostro message).
        Err(e) => {
            debug!(event = %event.id, error = %e, "event addressed to us is not a Mostro message; skipped");
            None
        }
    }
}

/// Casts every event of any chat subscription back to the Relay actor, which knows its owner.
/// Every copy, not only the first the client saw: a restarted session subscribes again and must
/// be handed the backlog again (its checks and storage drop what it already has).
pub(super) fn forward_chat_events(client: &Client, relay: RelayRef) -> JoinHandle<()> {
    let mut notifications = client.notifications();
    tokio::spawn(async move {
        loop {
            match notifications.recv().await {
                Ok(RelayPoolNotification::Message {
                    message: RelayMessage::Event { subscription_id, event }, ..
                }) if subscription_id.as_str().starts_with(CHAT_PREFIX) => {
                    if relay.cast(Msg::ChatArrived(Box::new(event.into_owned()))).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    warn!(missed, "chat reader fell behind; parties' messages may be late")
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}
