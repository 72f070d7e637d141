//! The Relay actor's background readers: the dispute-event subscription and relay status logs.

use nostr_sdk::prelude::*;
use ractor::DerivedActorRef;
use serbero_core::dispute::{parse_dispute_event, DISPUTE_EVENT_KIND};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use serbero_core::node_info::{announcement_to_log, parse_node_info, LogLevel, NodeInfo, NODE_INFO_KIND};
use serbero_core::order_event::{self, ORDER_EVENT_KIND};

use super::{DisputesObserved, Msg, RelayRef, ORDER_FETCH_TIMEOUT};

/// Largest batch handed to the dispute actor at once; bursts are stored in one transaction.
const MAX_BATCH: usize = 256;

/// Subscribes to `kind 38386` by the Mostro key from `since` and starts the task that forwards
/// every checked event to `sink`. The notification receiver is taken before the subscription so
/// nothing the relays send in between is missed.
pub(super) async fn watch_disputes(
    client: &Client,
    mostro: PublicKey,
    since: Timestamp,
    sink: DerivedActorRef<DisputesObserved>,
) -> JoinHandle<()> {
    let notifications = client.notifications();
    let filter = Filter::new().kind(Kind::Custom(DISPUTE_EVENT_KIND)).author(mostro).since(since);
    let sub_id = SubscriptionId::new("serbero-disputes");
    subscribe(client, &sub_id, &filter).await;
    let client = client.clone();
    tokio::spawn(async move { forward(client, notifications, sub_id, filter, mostro, sink).await })
}

async fn subscribe(client: &Client, sub_id: &SubscriptionId, filter: &Filter) {
    info!(
        kind = DISPUTE_EVENT_KIND,
        since = filter.since.map(|t| t.as_secs()).unwrap_or_default(),
        "subscribing to dispute events"
    );
    match client.subscribe_with_id(sub_id.clone(), filter.clone(), None).await {
        Ok(out) => info!(accepted = out.success.len(), failed = out.failed.len(), "dispute subscription sent"),
        // Kept by the client and re-sent to each relay when it connects.
        Err(e) => warn!(error = %e, "dispute subscription not sent yet"),
    }
}

async fn forward(
    client: Client,
    mut notifications: Receiver<RelayPoolNotification>,
    sub_id: SubscriptionId,
    filter: Filter,
    mostro: PublicKey,
    sink: DerivedActorRef<DisputesObserved>,
) {
    loop {
        let mut batch = Vec::new();
        let mut received = Some(notifications.recv().await);
        // Take whatever else is already waiting, so a burst becomes one batch.
        while let Some(next) = received.take() {
            match next {
                Ok(notification) => accept(notification, &sub_id, &mostro, &mut batch),
                Err(RecvError::Lagged(missed)) => {
                    // Missed notifications may hold disputes: ask the relays to replay.
                    warn!(missed, "dispute reader fell behind; re-requesting events");
                    subscribe(&client, &sub_id, &filter).await;
                }
                Err(RecvError::Closed) => {
                    forward_batch(&sink, batch);
                    return;
                }
            }
            if batch.len() < MAX_BATCH {
                received = already_waiting(&mut notifications);
            }
        }
        if !forward_batch(&sink, batch) {
            return;
        }
    }
}

fn already_waiting(rx: &mut Receiver<RelayPoolNotification>) -> Option<Result<RelayPoolNotification, RecvError>> {
    match rx.try_recv() {
        Ok(notification) => Some(Ok(notification)),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Lagged(missed)) => Some(Err(RecvError::Lagged(missed))),
        Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
    }
}

fn accept(
    notification: RelayPoolNotification,
    sub_id: &SubscriptionId,
    mostro: &PublicKey,
    batch: &mut Vec<serbero_core::dispute::DisputeEvent>,
) {
    // `Message` carries every copy, not only the first the client ever saw: after the dispute
    // actor restarts, a replay must reach it again. Storage deduplicates; within one batch the
    // copies (several relays, or one relay's stored and live copy) are dropped here.
    let RelayPoolNotification::Message { relay_url, message: RelayMessage::Event { subscription_id, event } } =
        notification
    else {
        return;
    };
    if subscription_id.as_ref() != sub_id {
        return;
    }
    match parse_dispute_event(&event, mostro) {
        Ok(parsed) if batch.iter().any(|seen| seen.event_id == parsed.event_id) => {}
        Ok(parsed) => {
            debug!(relay = %relay_url, event = %event.id, dispute = %parsed.dispute_id, status = %parsed.status, "dispute event received");
            batch.push(parsed);
        }
        Err(reason) => warn!(relay = %relay_url, event = %event.id, %reason, "skipping dispute event"),
    }
}

/// False when the sink is gone for good.
fn forward_batch(sink: &DerivedActorRef<DisputesObserved>, batch: Vec<serbero_core::dispute::DisputeEvent>) -> bool {
    if batch.is_empty() {
        return true;
    }
    if sink.send_message(DisputesObserved(batch)).is_err() {
        warn!("dispute actor is gone; stopping the dispute reader until it watches again");
        return false;
    }
    true
}

/// Subscribes to the node's info event and casts each valid one to the relay actor itself.
/// Addressable: relays keep only the newest, and send it again after every reconnect.
pub(super) async fn watch_node_info(client: &Client, mostro: PublicKey, relay: RelayRef) -> JoinHandle<()> {
    let mut notifications = client.notifications();
    let sub_id = SubscriptionId::new("serbero-node-info");
    let filter = Filter::new().kind(Kind::Custom(NODE_INFO_KIND)).author(mostro);
    if let Err(e) = client.subscribe_with_id(sub_id.clone(), filter, None).await {
        warn!(error = %e, "node info subscription not sent yet");
    }
    tokio::spawn(async move {
        loop {
            let notification = match notifications.recv().await {
                Ok(notification) => notification,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let RelayPoolNotification::Message { message: RelayMessage::Event { subscription_id, event }, .. } =
                notification
            else {
                continue;
            };
            if subscription_id.as_ref() != &sub_id {
                continue;
            }
            match parse_node_info(&event, &mostro) {
                Ok(info) => {
                    if relay.cast(Msg::NodeInfoObserved(info)).is_err() {
                        return;
                    }
                }
                Err(reason) => warn!(event = %event.id, %reason, "skipping node info event"),
            }
        }
    })
}

/// One line an operator can act on when the node's info changes, and the check of its
/// `serbero` tag on the first info event and whenever the announced key changes.
pub(super) fn log_node_info(previous: Option<&NodeInfo>, info: &NodeInfo, us: &PublicKey) {
    info!(
        protocol_version = info.protocol_version,
        pow = info.pow,
        pow_first_contact = info.pow_first_contact,
        serbero_registered = info.registers(us),
        "mostro node info"
    );
    if let Some(announcement) = announcement_to_log(previous, info, us) {
        match announcement.log_line(us) {
            (LogLevel::Debug, line) => debug!("{line}"),
            (LogLevel::Info, line) => info!("{line}"),
            (LogLevel::Warn, line) => warn!("{line}"),
        }
    }
}

pub(super) fn log_status_changes(mut changes: Receiver<MonitorNotification>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(MonitorNotification::StatusChanged { relay_url, status }) => match status {
                    RelayStatus::Connected => info!(relay = %relay_url, "relay connected"),
                    RelayStatus::Disconnected => warn!(relay = %relay_url, %status, "relay disconnected"),
                    // Only our own shutdown terminates a relay connection.
                    RelayStatus::Terminated => info!(relay = %relay_url, "relay connection closed"),
                    other => debug!(relay = %relay_url, status = %other, "relay status"),
                },
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// The fiat code the node's order event for `order_id` states; `None` when no relay has
/// one in time, or it names none (a failing lookup never stops anything: the brief says so).
pub(super) async fn fiat_code(client: &Client, mostro: PublicKey, order_id: &str) -> Option<String> {
    let filter = Filter::new().kind(Kind::Custom(ORDER_EVENT_KIND)).author(mostro).identifier(order_id);
    // The first relay that holds the event answers: an order's currency never changes, and a
    // relay that never answers must not hold the session up for the whole timeout.
    let mut events = match client.stream_events(filter, ORDER_FETCH_TIMEOUT).await {
        Ok(events) => events,
        Err(e) => {
            debug!(order = order_id, error = %e, "the order's public event could not be fetched");
            return None;
        }
    };
    while let Some(event) = events.next().await {
        if let Some(code) = order_event::fiat_code(&event, &mostro, order_id) {
            return Some(code);
        }
    }
    None
}
