//! Relay: owns the nostr-sdk client. Watches the Mostro node's dispute events and casts them,
//! checked and parsed, to the actor that asked; keeps the node's newest info event (transport,
//! proof of work, announced Serbero); unwraps the node's messages to us for their owner; hands
//! each party chat channel's events to the session watching it; publishes signed events on
//! request and casts back which relays accepted them (`OK` true). Writes no table; calls no actor.

mod chats;
mod conversations;
mod inbound;
mod sends;

use std::sync::Arc;
use std::time::Duration;

use nostr_sdk::{Client, ClientOptions, Event, EventId, Keys, PublicKey, RelayPoolOptions, RelayUrl, Timestamp};
use ractor::{Actor, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort};
use serbero_core::delivery::relay_reason;
use serbero_core::dispute::DisputeEvent;
use serbero_core::node_info::NodeInfo;
use tracing::{info, warn};

use crate::tasks::{self, TaskGuard};

pub use conversations::{ChatEvent, NodeMessage};
pub use sends::SendLimits;

pub type RelayRef = ActorRef<Msg>;

/// Relay messages a reader of the client's notifications may fall behind by (nostr-sdk's default
/// is 4,096; a burst sends thousands of events, each answered by every relay).
const NOTIFICATION_BACKLOG: usize = 16_384;
/// How long the relays get to return an order's public event.
pub const ORDER_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long chat watch changes gather before they are sent.
const CHAT_FLUSH_DELAY: Duration = Duration::from_millis(50);

pub enum Msg {
    /// Subscribe (again, if already watching) to dispute events newer than `since`; parsed
    /// batches go to `sink`.
    WatchDisputes {
        since: Timestamp,
        sink: DerivedActorRef<DisputesObserved>,
    },
    /// Publish a signed event to every relay; how it goes, tagged with `ticket`, is cast to
    /// `reply_to` (see [`Stage`]).
    Publish {
        ticket: Ticket,
        event: Box<Event>,
        reply_to: DerivedActorRef<PublishOutcome>,
    },
    /// The node's info event, read by our own subscription.
    NodeInfoObserved(NodeInfo),
    /// Tell `sink` the node's info event now (if known) and each newer one.
    WatchNodeInfo {
        sink: DerivedActorRef<NodeInfoChanged>,
    },
    /// Forward every message the node sends us (either transport), unwrapped, to `sink`.
    WatchNode {
        sink: DerivedActorRef<NodeMessage>,
    },
    /// Watch the chat channel whose outer events `sign` signs (and its legacy envelope to
    /// `legacy`) from `since`; its events go to `sink`. Watching a channel again replaces the sink.
    WatchChat {
        sign: PublicKey,
        legacy: PublicKey,
        since: Timestamp,
        sink: DerivedActorRef<ChatEvent>,
    },
    UnwatchChat {
        sign: PublicKey,
    },
    /// Send the chat subscriptions that changed (batched: many channels start at once).
    FlushChats,
    /// An event on a chat subscription, from our own reader.
    ChatArrived(Box<Event>),
    /// Connection state of every relay and the node's info; also a FIFO barrier for earlier casts.
    Status(RpcReplyPort<RelayStatus>),
    /// The fiat code of `order_id` from the node's public order event, if the relays hold one;
    /// answered within [`ORDER_FETCH_TIMEOUT`], without holding up other messages.
    FetchFiatCode {
        order_id: String,
        reply: RpcReplyPort<Option<String>>,
    },
}

/// Dispute events that passed author, signature and tag checks, in arrival order.
#[derive(Debug, Clone)]
pub struct DisputesObserved(pub Vec<DisputeEvent>);

/// What a publish request's outcomes are matched to by whoever asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ticket {
    /// An outbox row, by its id.
    Outbox(i64),
    /// A session's take request (there is one at a time per session).
    Take,
}

/// Where one publish request stands, and which relays answered so far.
#[derive(Debug, Clone)]
pub struct PublishOutcome {
    pub ticket: Ticket,
    pub event_id: EventId,
    pub stage: Stage,
    /// Relays that answered `OK` true (including "duplicate": they hold the event).
    pub accepted: Vec<String>,
    /// Relays that refused or failed, with their reason as [`relay_reason`] leaves it.
    pub failed: Vec<(String, String)>,
}

/// The reports of one publish request, in this order; `Started` and `Completed` may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The send took a slot: the event goes out now.
    Started,
    /// A relay accepted the event (others may still answer), or every relay failed. The only
    /// report that settles the request.
    Answered,
    /// Every relay answered or gave up, after an acceptance was reported; sent only when relays
    /// answered after that report.
    Completed,
}

impl PublishOutcome {
    pub fn started(ticket: Ticket, event_id: EventId) -> Self {
        Self { ticket, event_id, stage: Stage::Started, accepted: Vec::new(), failed: Vec::new() }
    }

    pub fn is_acknowledged(&self) -> bool {
        !self.accepted.is_empty()
    }

    /// One line for logs and `last_error` columns; each reason a relay gave is bounded and on
    /// one line whoever built the outcome.
    pub fn failure_summary(&self) -> String {
        if self.failed.is_empty() {
            return "no relay acknowledged the event".to_string();
        }
        let parts: Vec<String> =
            self.failed.iter().map(|(url, why)| format!("{}: {}", relay_reason(url), relay_reason(why))).collect();
        parts.join("; ")
    }
}

/// The node's newest info event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfoChanged(pub NodeInfo);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStatus {
    pub relays: Vec<(String, bool)>,
    /// Party chat channels watched.
    pub chat_channels: usize,
    /// The newest info event of the Mostro node, once one arrived.
    pub node_info: Option<NodeInfo>,
}

impl RelayStatus {
    pub fn connected(&self) -> usize {
        self.relays.iter().filter(|(_, up)| *up).count()
    }
}

pub struct Args {
    pub keys: Keys,
    pub mostro: PublicKey,
    pub relays: Vec<RelayUrl>,
    pub sends: SendLimits,
}

pub struct State {
    client: Client,
    keys: Keys,
    mostro: PublicKey,
    us: PublicKey,
    node_info: Option<NodeInfo>,
    node_info_sinks: Vec<DerivedActorRef<NodeInfoChanged>>,
    _node_info_reader: TaskGuard,
    watcher: Option<TaskGuard>,
    node_messages: Option<TaskGuard>,
    chats: chats::ChatWatches<DerivedActorRef<ChatEvent>>,
    _chat_reader: TaskGuard,
    chat_flush: Option<TaskGuard>,
    _monitor: TaskGuard,
    sender: sends::Sender,
    _ack_reader: TaskGuard,
}

pub struct Relay;

impl Actor for Relay {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: RelayRef, args: Args) -> Result<State, ActorProcessingErr> {
        let monitor = nostr_sdk::prelude::Monitor::new(256);
        let status_changes = monitor.subscribe();
        let us = args.keys.public_key();
        // Room for a burst's worth of relay messages: a reader that falls further behind misses
        // some (an `OK` missed makes its send wait out the timeout and be retried).
        let pool = RelayPoolOptions::new().notification_channel_size(NOTIFICATION_BACKLOG);
        let options = ClientOptions::new().pool(pool);
        let client = Client::builder().signer(args.keys.clone()).monitor(monitor).opts(options).build();
        for url in &args.relays {
            if !client.add_relay(url.clone()).await? {
                warn!(relay = %url, "relay listed twice; using it once");
            }
        }
        client.connect().await;
        info!(relays = args.relays.len(), "connecting to relays");
        let node_info_reader = inbound::watch_node_info(&client, args.mostro, me.clone()).await.into();
        let chat_reader = conversations::forward_chat_events(&client, me).into();
        let acks = Arc::new(sends::Acks::default());
        let ack_reader = sends::read_acks(&client, acks.clone()).into();
        let sender = sends::Sender::new(client.clone(), acks, args.sends);
        Ok(State {
            client,
            keys: args.keys,
            mostro: args.mostro,
            us,
            node_info: None,
            node_info_sinks: Vec::new(),
            _node_info_reader: node_info_reader,
            watcher: None,
            node_messages: None,
            chats: chats::ChatWatches::default(),
            _chat_reader: chat_reader,
            chat_flush: None,
            _monitor: inbound::log_status_changes(status_changes).into(),
            sender,
            _ack_reader: ack_reader,
        })
    }

    async fn handle(&self, me: RelayRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::WatchDisputes { since, sink } => {
                // Replacing the guard stops the previous reader.
                st.watcher = Some(inbound::watch_disputes(&st.client, st.mostro, since, sink).await.into());
            }
            Msg::Publish { ticket, event, reply_to } => st.sender.publish(ticket, event, reply_to),
            Msg::NodeInfoObserved(info) => {
                let newer = st.node_info.as_ref().is_none_or(|known| info.created_at > known.created_at);
                if newer && st.node_info.as_ref() != Some(&info) {
                    inbound::log_node_info(st.node_info.as_ref(), &info, &st.us);
                    st.node_info_sinks.retain(|sink| sink.send_message(NodeInfoChanged(info.clone())).is_ok());
                    st.node_info = Some(info);
                }
            }
            Msg::WatchNodeInfo { sink } => {
                let told = st.node_info.clone().is_none_or(|info| sink.send_message(NodeInfoChanged(info)).is_ok());
                if told {
                    st.node_info_sinks.push(sink);
                }
            }
            Msg::WatchNode { sink } => {
                let reader = conversations::watch_node_messages(&st.client, st.keys.clone(), st.mostro, sink).await;
                st.node_messages = Some(reader.into());
            }
            Msg::WatchChat { sign, legacy, since, sink } => {
                schedule_flush(st, &me);
                st.chats.watch(sign, legacy, since, sink);
            }
            Msg::UnwatchChat { sign } => {
                schedule_flush(st, &me);
                st.chats.unwatch(&sign);
            }
            Msg::FlushChats => flush_chats(st).await,
            Msg::ChatArrived(event) => {
                if let Some((sign, sink)) = st.chats.route(&event) {
                    if sink.send_message(ChatEvent(event)).is_err() {
                        st.chats.missed(&sign);
                    }
                }
            }
            Msg::Status(reply) => {
                let relays = relay_status(&st.client).await;
                let status = RelayStatus { relays, chat_channels: st.chats.len(), node_info: st.node_info.clone() };
                let _ = reply.send(status);
            }
            Msg::FetchFiatCode { order_id, reply } => {
                let (client, mostro) = (st.client.clone(), st.mostro);
                tokio::spawn(async move {
                    let _ = reply.send(inbound::fiat_code(&client, mostro, &order_id).await);
                });
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _me: RelayRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        st.watcher = None;
        st.node_messages = None;
        st.client.shutdown().await;
        Ok(())
    }
}

/// Chat watches change in bursts (every session at start): one flush shortly after the first.
fn schedule_flush(st: &mut State, me: &RelayRef) {
    if !st.chats.pending() {
        st.chat_flush = Some(tasks::after(CHAT_FLUSH_DELAY, me.clone(), Msg::FlushChats));
    }
}

async fn flush_chats(st: &mut State) {
    for change in st.chats.changes() {
        match change {
            chats::Change::Subscribe(subscriptions) => {
                for (id, filter) in subscriptions {
                    // Kept by the client and re-sent to each relay when it connects.
                    if let Err(e) = st.client.subscribe_with_id(id, filter, None).await {
                        warn!(error = %e, "chat subscription not sent yet");
                    }
                }
            }
            chats::Change::Unsubscribe(ids) => {
                for id in ids {
                    st.client.unsubscribe(&id).await;
                }
            }
        }
    }
}

async fn relay_status(client: &Client) -> Vec<(String, bool)> {
    let mut relays: Vec<(String, bool)> =
        client.relays().await.into_iter().map(|(url, relay)| (url.to_string(), relay.is_connected())).collect();
    relays.sort();
    relays
}
