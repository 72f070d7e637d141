//! Publishing. An event goes to every write relay as one `EVENT` message, and one reader of the
//! pool's notifications hands each `OK` to the send waiting for it: a send costs the same however
//! many are in flight (nostr-sdk's own send subscribes each waiting send to the relay's
//! notifications, so every relay message wakes all of them). A send holds one of a bounded number
//! of slots only until the first relay accepts its event; the other relays are waited for in the
//! background, only to record their answers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nostr_sdk::prelude::{RelayMessage, RelayNotification, RelayPoolNotification, RelayStatus};
use nostr_sdk::{Client, ClientMessage, Event, EventId, Relay, RelayUrl};
use ractor::DerivedActorRef;
use serbero_core::delivery::relay_reason;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, warn};

use super::{PublishOutcome, Stage, Ticket};

/// How many sends may wait for their first `OK` at once, and how long a relay gets to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendLimits {
    pub awaiting_first_ok: usize,
    pub answer_timeout: Duration,
}

impl Default for SendLimits {
    /// 256 sends in flight let a relay 100 ms away take 2,500 events a second, more than signing
    /// produces on two cores; a relay gets as long to answer as nostr-sdk's own send waits.
    fn default() -> Self {
        Self { awaiting_first_ok: 256, answer_timeout: Duration::from_secs(10) }
    }
}
/// How long a relay that asked us to authenticate gets to confirm it before the event is sent
/// again anyway.
const AUTH_WAIT: Duration = Duration::from_secs(3);

/// A relay's answer to one event: accepted, or its reason for refusing.
type Answer = Result<(), String>;

/// A relay's `OK`: accepted, and its message.
type RelayOk = (bool, String);
type Waiting = HashMap<(EventId, RelayUrl), Vec<oneshot::Sender<RelayOk>>>;

/// Sends waiting for a relay's `OK`, by event and relay. The same event may be waited for twice
/// (a retry while the first send still waits): one `OK` answers both.
#[derive(Default)]
pub(super) struct Acks(Mutex<Waiting>);

impl Acks {
    fn expect(&self, id: EventId, relay: &RelayUrl) -> oneshot::Receiver<RelayOk> {
        let (tx, rx) = oneshot::channel();
        self.lock().entry((id, relay.clone())).or_default().push(tx);
        rx
    }

    fn answer(&self, id: EventId, relay: RelayUrl, accepted: bool, message: String) {
        let Some(waiting) = self.lock().remove(&(id, relay)) else { return };
        for send in waiting {
            let _ = send.send((accepted, message.clone()));
        }
    }

    /// Drops the waits nobody listens to any more (they timed out).
    fn forget(&self, id: EventId, relay: &RelayUrl) {
        let mut waiting = self.lock();
        let key = (id, relay.clone());
        if let Some(sends) = waiting.get_mut(&key) {
            sends.retain(|send| !send.is_closed());
            if sends.is_empty() {
                waiting.remove(&key);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads every relay's `OK` answers for the waiting sends.
pub(super) fn read_acks(client: &Client, acks: Arc<Acks>) -> JoinHandle<()> {
    let mut notifications = client.notifications();
    tokio::spawn(async move {
        loop {
            match notifications.recv().await {
                Ok(RelayPoolNotification::Message {
                    relay_url,
                    message: RelayMessage::Ok { event_id, status, message },
                }) => acks.answer(event_id, relay_url, status, message.into_owned()),
                Ok(RelayPoolNotification::Shutdown) | Err(RecvError::Closed) => break,
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    warn!(missed, "relay messages came faster than read; sends whose answer was missed will time out")
                }
            }
        }
    })
}

/// Everything a send needs, shared by all sends.
#[derive(Clone)]
pub(super) struct Sender {
    client: Client,
    acks: Arc<Acks>,
    slots: Arc<Semaphore>,
    answer_timeout: Duration,
}

impl Sender {
    pub(super) fn new(client: Client, acks: Arc<Acks>, limits: SendLimits) -> Self {
        let slots = Arc::new(Semaphore::new(limits.awaiting_first_ok));
        Self { client, acks, slots, answer_timeout: limits.answer_timeout }
    }

    /// Sends `event` on its own task, reporting to `reply_to`: `Started` when it takes a slot,
    /// `Answered` at the first acceptance (or once every relay failed), and `Completed` when
    /// relays answered after that.
    pub(super) fn publish(&self, ticket: Ticket, event: Box<Event>, reply_to: DerivedActorRef<PublishOutcome>) {
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(slot) = this.slots.clone().acquire_owned().await else { return };
            // The requester may have stopped; its rows are re-driven when it starts again.
            let _ = reply_to.send_message(PublishOutcome::started(ticket, event.id));
            let event = Arc::new(*event);
            let mut asks = JoinSet::new();
            for relay in this.write_relays().await {
                let (acks, event, wait) = (this.acks.clone(), event.clone(), this.answer_timeout);
                asks.spawn(async move { ask(&relay, &event, &acks, wait).await });
            }
            let mut tally = Tally::new(ticket, event.id);
            let mut slot = Some(slot);
            while let Some(answer) = asks.join_next().await {
                let Ok((relay, answer)) = answer else { continue };
                tally.add(relay, answer);
                if slot.is_some() && !tally.accepted.is_empty() {
                    slot = None;
                    let _ = reply_to.send_message(tally.report(Stage::Answered));
                }
            }
            match slot {
                Some(_) => {
                    let _ = reply_to.send_message(tally.report(Stage::Answered));
                }
                None if tally.answers() > tally.told => {
                    let _ = reply_to.send_message(tally.report(Stage::Completed));
                }
                None => {}
            }
        });
    }

    async fn write_relays(&self) -> Vec<Relay> {
        self.client.relays().await.into_values().filter(|relay| relay.flags().can_write()).collect()
    }
}

/// Sends `event` to `relay` and waits for its answer; a relay that asks us to authenticate first
/// gets the event again once we did.
async fn ask(relay: &Relay, event: &Event, acks: &Acks, wait: Duration) -> (String, Answer) {
    let url = relay.url().clone();
    let mut answer = ask_once(relay, event, acks, wait).await;
    if matches!(&answer, Err(why) if why.starts_with("auth-required:")) {
        debug!(relay = %url, "relay asks for authentication; sending the event again once authenticated");
        wait_for_authentication(relay).await;
        answer = ask_once(relay, event, acks, wait).await;
    }
    (url.to_string(), answer)
}

async fn ask_once(relay: &Relay, event: &Event, acks: &Acks, wait: Duration) -> Answer {
    let url = relay.url();
    // A relay still connecting gets its chance (the event waits in its queue); one that lost
    // its connection would only make the send wait out the timeout.
    let status = relay.status();
    if matches!(status, RelayStatus::Disconnected | RelayStatus::Terminated | RelayStatus::Banned) {
        return Err(format!("not connected ({status})"));
    }
    let answer = acks.expect(event.id, url);
    if let Err(e) = relay.send_msg(ClientMessage::Event(Cow::Borrowed(event))) {
        acks.forget(event.id, url);
        return Err(e.to_string());
    }
    match tokio::time::timeout(wait, answer).await {
        Ok(Ok((true, _))) => Ok(()),
        Ok(Ok((false, why))) => Err(why),
        Ok(Err(_)) => Err("the answer reader stopped".to_string()),
        Err(_) => {
            acks.forget(event.id, url);
            Err(format!("no answer within {} ms", wait.as_millis()))
        }
    }
}

async fn wait_for_authentication(relay: &Relay) {
    let mut notifications = relay.notifications();
    let authenticated = async {
        while let Ok(notification) = notifications.recv().await {
            if matches!(notification, RelayNotification::Authenticated | RelayNotification::AuthenticationFailed) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(AUTH_WAIT, authenticated).await;
}

/// The answers to one send so far.
struct Tally {
    ticket: Ticket,
    event_id: EventId,
    accepted: Vec<String>,
    failed: Vec<(String, String)>,
    /// How many answers the last report carried.
    told: usize,
}

impl Tally {
    fn new(ticket: Ticket, event_id: EventId) -> Self {
        Self { ticket, event_id, accepted: Vec::new(), failed: Vec::new(), told: 0 }
    }

    fn add(&mut self, relay: String, answer: Answer) {
        match answer {
            Ok(()) => self.accepted.push(relay),
            // What a relay says is its own: any size, any characters.
            Err(why) => self.failed.push((relay, relay_reason(&why))),
        }
    }

    fn answers(&self) -> usize {
        self.accepted.len() + self.failed.len()
    }

    fn report(&mut self, stage: Stage) -> PublishOutcome {
        self.told = self.answers();
        let (mut accepted, mut failed) = (self.accepted.clone(), self.failed.clone());
        accepted.sort();
        failed.sort();
        if stage == Stage::Answered && accepted.is_empty() && failed.is_empty() {
            failed.push(("*".to_string(), "no relay to send to".to_string()));
        }
        PublishOutcome { ticket: self.ticket, event_id: self.event_id, stage, accepted, failed }
    }
}
