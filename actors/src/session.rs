//! MediationSession: Serbero's conversation about one dispute, as a read-only solver. It takes
//! the dispute (one `admin-take-dispute`, on the node's transport, with the proof of work it
//! demands, signed fresh on every attempt), and once the node hands it over, opens a chat channel
//! with each party, takes in their messages after every receive check, and writes to them through
//! the outbox. A human solver taking the dispute over, or its resolution, ends the conversation
//! and withdraws whatever was not yet delivered. Restart is reload: the take and the parties'
//! trade keys are in the database, and the channel keys are derived again from them.
//! Writes: solver_takes, party_messages and its own outbox rows (see `store`).
//! Calls: relay (node info). Casts: relay (publish, chat watches), auth_retry (take outcome).

pub mod store;

use std::path::PathBuf;
use std::time::Duration;

use mostro_core::chat::{chat_filter, giftwrap_chat_filter, unwrap_chat_message, wrap_chat_message};
use mostro_core::transport::wrap_message_with;
use nostr_sdk::{Event, JsonUtil, Keys, PublicKey, Timestamp};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serbero_core::auth_retry::TakeOutcome;
use serbero_core::chat::{receive, Channel, Gate, Inbound, Party, Received, Rejected};
use serbero_core::config::OutboxSettings;
use serbero_core::dispute::{DisputeEvent, DisputeStatus};
use serbero_core::take::{ensure_read_only, match_answer, taken_over, TakeAnswer, TakeRequest, TakenDispute};
use tokio::runtime::Handle;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use crate::auth_retry::{self, AuthRetryRef};
use crate::clock::Clock;
use crate::db::Db;
use crate::outbox::{self, NewMessage, Outbox, Settled, Wiring};
use crate::relay::{self, ChatEvent, NodeMessage, PublishOutcome, RelayRef};
use crate::tasks::TaskGuard;
use store::{Outbound, Parties, Take, TakeState};

pub type SessionRef = ActorRef<Msg>;

/// Publish ticket of take requests; outbox row ids start at 1.
const TAKE_TICKET: i64 = 0;
/// Wait before publishing a take again when no relay acknowledged it.
const TAKE_RESEND_DELAY: Duration = Duration::from_secs(1);
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);
/// How far before the newest message a reopened channel asks relays to begin.
const CHAT_RESUME_SKEW_SECS: i64 = 60;
/// Notification type of our messages to parties, in the outbox.
pub const PARTY_MESSAGE: &str = "party_message";

pub enum Msg {
    /// A message from the node that may answer our take.
    Node(NodeMessage),
    /// Publish the take request (again).
    SendTake,
    /// The node did not answer in time.
    TakeDeadline,
    /// An event on one of our chat channels.
    Chat(ChatEvent),
    /// Checked revisions of disputes (ours among them, perhaps), in arrival order.
    Revisions(Vec<DisputeEvent>),
    /// Write `text` to `party`; refused unless the dispute is ours.
    Say {
        party: Party,
        text: String,
        reply: RpcReplyPort<Result<(), String>>,
    },
    Published(PublishOutcome),
    DeliveryDue,
    /// Where the take stands; also a FIFO barrier for earlier casts.
    Status(RpcReplyPort<SessionStatus>),
}

crate::outbox_messages!(Msg);

crate::derived_message!(Msg::Chat(ChatEvent));

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    pub state: TakeState,
    pub cant_do_reason: Option<String>,
    pub parties: Option<Parties>,
    /// Party messages taken in so far.
    pub received: u64,
}

pub struct Args {
    pub dispute_id: String,
    /// Used when the dispute has no take yet; a stored take keeps its own.
    pub request_id: u64,
    pub db_path: PathBuf,
    pub keys: Keys,
    pub mostro: PublicKey,
    pub relay: RelayRef,
    pub auth_retry: Option<AuthRetryRef>,
    pub take_timeout: Duration,
    pub outbox: OutboxSettings,
    pub clock: Clock,
}

pub struct State {
    db: Db,
    me: SessionRef,
    take: Take,
    keys: Keys,
    mostro: PublicKey,
    relay: RelayRef,
    auth_retry: Option<AuthRetryRef>,
    outbox: Outbox,
    channels: Vec<(Channel, Gate)>,
    received: u64,
    /// A take request went out in this incarnation.
    take_sent: bool,
    deadline: Option<TaskGuard>,
    resend: Option<TaskGuard>,
    clock: Clock,
}

pub struct MediationSession;

impl Actor for MediationSession {
    type Msg = Msg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, me: SessionRef, args: Args) -> Result<State, ActorProcessingErr> {
        Uuid::parse_str(&args.dispute_id).map_err(|_| format!("dispute id {} is not a UUID", args.dispute_id))?;
        let mut db = Db::open(&args.db_path).await?;
        let (id, request_id, now) = (args.dispute_id.clone(), args.request_id, args.clock.now());
        let deadline = now + args.take_timeout.as_secs() as i64;
        let take = db.write(move |tx| store::request(tx, &id, request_id, deadline, now)).await?;
        let id = args.dispute_id.clone();
        let received = db.read(move |conn| store::inbound_count(conn, &id)).await?;
        let wiring =
            Wiring { relay: args.relay.clone(), published: me.get_derived(), due: me.get_derived(), clock: args.clock };
        let outbox = Outbox::new(outbox_owner(&args.dispute_id), &args.outbox, wiring);
        Ok(State {
            db,
            me,
            take,
            keys: args.keys,
            mostro: args.mostro,
            relay: args.relay,
            auth_retry: args.auth_retry,
            outbox,
            channels: Vec::new(),
            received,
            take_sent: false,
            deadline: None,
            resend: None,
            clock: args.clock,
        })
    }

    /// Resumes wherever the take stood.
    async fn post_start(&self, me: SessionRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        match st.take.state {
            TakeState::Requested if st.clock.now() >= st.take.deadline_at => on_deadline(st).await,
            TakeState::Requested => {
                let left = Duration::from_secs((st.take.deadline_at - st.clock.now()).max(0) as u64);
                st.deadline = Some(later(&st.me, left, || Msg::TakeDeadline));
                send_take(st).await
            }
            TakeState::Took => open_channels(st).await,
            ended => {
                debug!(dispute = %st.take.dispute_id, state = ended.as_str(), "conversation already ended");
                me.stop(None);
                Ok(())
            }
        }
    }

    async fn handle(&self, _me: SessionRef, msg: Msg, st: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Node(message) => on_node_message(st, message).await,
            Msg::SendTake => send_take(st).await,
            Msg::TakeDeadline => on_deadline(st).await,
            Msg::Chat(ChatEvent(event)) => on_chat(st, &event).await,
            Msg::Revisions(events) => on_revisions(st, events).await,
            Msg::Say { party, text, reply } => {
                let result = say(st, party, text).await?;
                let _ = reply.send(result);
                Ok(())
            }
            Msg::Published(outcome) if outcome.ticket == TAKE_TICKET => on_take_published(st, outcome),
            Msg::Published(outcome) => {
                st.outbox.settle(&mut st.db, outcome, no_audit).await?;
                Ok(())
            }
            Msg::DeliveryDue => {
                st.outbox.dispatch_due(&mut st.db, no_audit).await?;
                Ok(())
            }
            Msg::Status(reply) => {
                let status = SessionStatus {
                    state: st.take.state,
                    cant_do_reason: st.take.cant_do_reason.clone(),
                    parties: st.take.parties.clone(),
                    received: st.received,
                };
                let _ = reply.send(status);
                Ok(())
            }
        }
    }

    async fn post_stop(&self, _me: SessionRef, st: &mut State) -> Result<(), ActorProcessingErr> {
        for (channel, _) in &st.channels {
            let _ = st.relay.cast(relay::Msg::UnwatchChat { key: channel.sign.public_key().to_hex() });
        }
        Ok(())
    }
}

pub fn outbox_owner(dispute_id: &str) -> String {
    format!("session:{dispute_id}")
}

/// Party messages leave no audit row of their own: `party_messages` holds them.
fn no_audit(_: &rusqlite::Transaction<'_>, _: &Settled, _: i64) -> rusqlite::Result<()> {
    Ok(())
}

fn request(st: &State) -> TakeRequest {
    let dispute_id = Uuid::parse_str(&st.take.dispute_id).unwrap_or_default();
    TakeRequest { dispute_id, request_id: st.take.request_id }
}

/// Builds the take request now (the node drops messages older than 10 s) on the transport the
/// node announces, mines its proof of work off the actor, and publishes it.
async fn send_take(st: &mut State) -> Result<(), ActorProcessingErr> {
    if st.take.state != TakeState::Requested {
        return Ok(());
    }
    // Without the node's info event its transport is unknown, and a take on the wrong one is
    // silently dropped: wait for it (until the deadline).
    let node = match st.relay.call(relay::Msg::Status, Some(RELAY_TIMEOUT)).await {
        Ok(CallResult::Success(status)) => status.node_info,
        _ => None,
    };
    let Some(node) = node else {
        debug!(dispute = %st.take.dispute_id, "node info not known yet; the take waits for it");
        st.resend = Some(later(&st.me, TAKE_RESEND_DELAY, || Msg::SendTake));
        return Ok(());
    };
    let message = request(st).message();
    ensure_read_only(&message)?;
    let (keys, mostro, transport, options) = (st.keys.clone(), st.mostro, node.transport(), node.wrap_options());
    let pow = options.pow;
    // Mining the proof of work is CPU work: keep it off the runtime's workers.
    let event = tokio::task::spawn_blocking(move || {
        Handle::current().block_on(wrap_message_with(transport, &message, &keys, &keys, mostro, options))
    })
    .await??;
    info!(dispute = %st.take.dispute_id, request_id = st.take.request_id, %transport, pow, "taking the dispute");
    let request = relay::Msg::Publish { ticket: TAKE_TICKET, event: Box::new(event), reply_to: st.me.get_derived() };
    st.relay.cast(request)?;
    st.take_sent = true;
    Ok(())
}

fn on_take_published(st: &mut State, outcome: PublishOutcome) -> Result<(), ActorProcessingErr> {
    if st.take.state == TakeState::Requested && !outcome.is_acknowledged() {
        let error = outcome.failure_summary();
        warn!(dispute = %st.take.dispute_id, %error, "no relay accepted the take request; sending it again");
        st.resend = Some(later(&st.me, TAKE_RESEND_DELAY, || Msg::SendTake));
    }
    Ok(())
}

async fn on_node_message(st: &mut State, message: NodeMessage) -> Result<(), ActorProcessingErr> {
    if st.take.state != TakeState::Requested {
        return Ok(());
    }
    let Some(answer) = match_answer(&request(st), &message.message) else { return Ok(()) };
    (st.deadline, st.resend) = (None, None);
    match answer {
        TakeAnswer::Took(taken) => on_took(st, taken, message.created_at).await,
        TakeAnswer::CantDo(reason) => {
            warn!(dispute = %st.take.dispute_id, %reason, "the node refused our take (cant-do)");
            tell_auth_retry(st, TakeOutcome::CantDo(reason.clone()));
            end(st, TakeState::Refused, &format!("cant-do: {reason}"), Some(reason)).await
        }
        TakeAnswer::Malformed(why) => {
            error!(dispute = %st.take.dispute_id, %why, "the node's answer to our take is unusable");
            end(st, TakeState::Malformed, &why, None).await
        }
    }
}

async fn on_took(st: &mut State, taken: TakenDispute, answered_at: i64) -> Result<(), ActorProcessingErr> {
    let (id, now, stored) = (st.take.dispute_id.clone(), st.clock.now(), taken.clone());
    st.db.write(move |tx| store::took(tx, &id, &stored, answered_at, now)).await?;
    st.take.state = TakeState::Took;
    st.take.answered_at = Some(answered_at);
    st.take.parties = Some(Parties {
        order_id: taken.order_id.to_string(),
        buyer: taken.buyer.to_hex(),
        seller: taken.seller.to_hex(),
    });
    info!(dispute = %st.take.dispute_id, order = %taken.order_id, "the node handed us the dispute");
    tell_auth_retry(st, TakeOutcome::Took);
    open_channels(st).await
}

fn tell_auth_retry(st: &State, outcome: TakeOutcome) {
    if let Some(auth) = &st.auth_retry {
        let _ = auth.cast(auth_retry::Msg::TakeAnswered(outcome));
    }
}

async fn on_deadline(st: &mut State) -> Result<(), ActorProcessingErr> {
    if st.take.state != TakeState::Requested {
        return Ok(());
    }
    let reason = if st.take_sent {
        "no answer from the node in time"
    } else {
        "the node's info event (kind 38385) never arrived, so no take was sent"
    };
    warn!(dispute = %st.take.dispute_id, %reason, "take timed out");
    end(st, TakeState::TimedOut, reason, None).await
}

/// Derives both channels from the stored trade keys, watches them, and re-drives the outbox.
async fn open_channels(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(parties) = st.take.parties.clone() else {
        return Err("took the dispute but stored no parties".into());
    };
    let mut channels = Vec::with_capacity(2);
    for (party, key) in [(Party::Buyer, &parties.buyer), (Party::Seller, &parties.seller)] {
        let trade_key = PublicKey::from_hex(key)?;
        channels.push((Channel::derive(&st.keys, party, trade_key)?, Gate::default()));
    }
    let since = chat_resume_points(st).await?;
    for ((channel, _), since) in channels.iter().zip(since) {
        let filters = vec![
            chat_filter(channel.sign.public_key()).since(since),
            giftwrap_chat_filter(channel.legacy.public_key()),
        ];
        let sink = st.me.get_derived();
        st.relay.cast(relay::Msg::WatchChat { key: channel.sign.public_key().to_hex(), filters, sink })?;
    }
    st.channels = channels;
    st.outbox.dispatch_due(&mut st.db, no_audit).await?;
    Ok(())
}

/// Per party: just before its newest stored message, else just before we took the dispute.
async fn chat_resume_points(st: &mut State) -> Result<Vec<Timestamp>, ActorProcessingErr> {
    let id = st.take.dispute_id.clone();
    let took_at = st.take.answered_at.unwrap_or_else(|| st.clock.now());
    let newest = st
        .db
        .read(move |conn| {
            Party::BOTH.iter().map(|p| store::last_inbound_at(conn, &id, *p)).collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(newest
        .into_iter()
        .map(|at| Timestamp::from_secs((at.unwrap_or(took_at) - CHAT_RESUME_SKEW_SECS).max(0) as u64))
        .collect())
}

async fn on_chat(st: &mut State, event: &Event) -> Result<(), ActorProcessingErr> {
    let now = Timestamp::from_secs(st.clock.now().max(0) as u64);
    let us = st.keys.public_key();
    let mut verdict = (None, Err(Rejected::OtherChannel));
    for (channel, gate) in st.channels.iter_mut() {
        verdict = (Some(channel.party), receive(channel, &us, gate, event, now).await);
        if verdict.1 != Err(Rejected::OtherChannel) {
            break;
        }
    }
    let dispute = &st.take.dispute_id;
    match verdict {
        (_, Ok(Received::Message(inbound))) => take_in(st, inbound).await,
        (_, Ok(Received::Echo) | Err(Rejected::Duplicate)) => Ok(()),
        (_, Err(Rejected::OtherChannel)) => {
            debug!(%dispute, event = %event.id, "chat event on none of our channels");
            Ok(())
        }
        (party, Err(why)) => {
            let party = party.map(Party::as_str).unwrap_or("-");
            warn!(%dispute, party, event = %event.id, reason = %why, "party chat event rejected");
            Ok(())
        }
    }
}

/// Stores a party's message unless its inner id is known (the durable dedup).
async fn take_in(st: &mut State, inbound: Inbound) -> Result<(), ActorProcessingErr> {
    let (id, now, stored) = (st.take.dispute_id.clone(), st.clock.now(), inbound.clone());
    let (dispute, inner) = (&st.take.dispute_id, inbound.inner_event_id);
    if st.db.write(move |tx| store::inbound(tx, &id, &stored, now)).await? {
        st.received += 1;
        info!(%dispute, party = %inbound.party, %inner, legacy = inbound.legacy, "party message received");
    } else {
        debug!(%dispute, %inner, "party message already stored");
    }
    Ok(())
}

/// Builds and signs the kind-14 chat event, stores it with its outbox row, and sends it.
async fn say(st: &mut State, party: Party, text: String) -> Result<Result<(), String>, ActorProcessingErr> {
    if st.take.state != TakeState::Took {
        return Ok(Err(format!("the dispute is not ours to speak in ({})", st.take.state.as_str())));
    }
    if text.trim().is_empty() {
        return Ok(Err("refusing to send an empty message".to_string()));
    }
    let Some((channel, _)) = st.channels.iter().find(|(c, _)| c.party == party) else {
        return Ok(Err(format!("no channel with the {party}")));
    };
    let event = wrap_chat_message(&st.keys, &channel.conv, &channel.sign, &text).await?;
    // Our inner id, as the parties will see it (and as our echo will carry it).
    let inner = unwrap_chat_message(
        &channel.conv,
        &channel.sign.public_key(),
        &[st.keys.public_key()],
        &event,
        event.created_at,
    )?;
    let row = Outbound {
        party,
        inner_event_id: inner.inner_event_id.to_hex(),
        outer_event_id: event.id.to_hex(),
        inner_created_at: event.created_at.as_secs() as i64,
        content: text.clone(),
    };
    let message = NewMessage {
        idempotency_key: format!("chat:{}:{}", st.take.dispute_id, event.id),
        dispute_id: Some(st.take.dispute_id.clone()),
        recipient: channel.trade_pubkey.to_hex(),
        notif_type: PARTY_MESSAGE.to_string(),
        body: text,
        event_id: event.id.to_hex(),
        event_json: event.as_json(),
    };
    let (id, ledger, now) = (st.take.dispute_id.clone(), st.outbox.ledger().clone(), st.clock.now());
    st.db
        .write(move |tx| {
            outbox::store::insert(tx, &ledger, &message, now)?;
            store::outbound(tx, &id, &row, now)
        })
        .await?;
    st.outbox.dispatch_due(&mut st.db, no_audit).await?;
    Ok(Ok(()))
}

/// A newer `in-progress` revision after our take is a human taking over; a resolution ends the
/// dispute. Either way we stop writing to the parties.
async fn on_revisions(st: &mut State, events: Vec<DisputeEvent>) -> Result<(), ActorProcessingErr> {
    for event in events.iter().filter(|e| e.dispute_id == st.take.dispute_id) {
        let ended = match (&event.status, st.take.state, st.take.answered_at) {
            (DisputeStatus::InProgress, TakeState::Took, Some(took_at)) if taken_over(took_at, event.created_at) => {
                Some((TakeState::Superseded, "taken over by a human solver".to_string()))
            }
            (status, TakeState::Took | TakeState::Requested, _) if status.is_terminal() => {
                Some((TakeState::Closed, format!("dispute resolved: {status}")))
            }
            _ => None,
        };
        if let Some((state, reason)) = ended {
            info!(dispute = %st.take.dispute_id, %reason, "Serbero stops writing to the parties");
            return end(st, state, &reason, None).await;
        }
    }
    Ok(())
}

/// Records how the take ended, withdraws undelivered party messages, and stops.
async fn end(
    st: &mut State,
    state: TakeState,
    reason: &str,
    cant_do: Option<String>,
) -> Result<(), ActorProcessingErr> {
    let (id, now, ledger) = (st.take.dispute_id.clone(), st.clock.now(), st.outbox.ledger().clone());
    let (why, withdrawn_as) = (reason.to_string(), format!("withdrawn: {reason}"));
    let withdrawn = st
        .db
        .write(move |tx| {
            store::end(tx, &id, state, &why, cant_do.as_deref(), now)?;
            outbox::store::withdraw(tx, &ledger, &withdrawn_as, now)
        })
        .await?;
    if withdrawn > 0 {
        info!(dispute = %st.take.dispute_id, withdrawn, "undelivered party messages withdrawn");
    }
    st.take.state = state;
    st.take.ended_reason = Some(reason.to_string());
    (st.deadline, st.resend) = (None, None);
    st.me.stop(Some(state.as_str().to_string()));
    Ok(())
}

/// Casts `make()` to `me` after `after`, unless the guard is dropped first.
fn later(me: &SessionRef, after: Duration, make: fn() -> Msg) -> TaskGuard {
    let me = me.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let _ = me.cast(make());
    })
    .into()
}
