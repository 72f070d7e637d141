//! The session's chat with each party: channels derived from the stored trade keys, inbound
//! events through every receive check into the transcript, and outbound texts built as signed
//! kind-14 events for the outbox. A party's message is stored here; what it means for the
//! mediation goes back to the actor as a [`ChatOutcome`].

use std::future::Future;

use mostro_core::chat::{unwrap_chat_message, wrap_chat_message};
use nostr_sdk::{Event, JsonUtil, Keys, PublicKey, Timestamp};
use ractor::ActorProcessingErr;
use serbero_core::chat::{receive, Channel, Gate, Inbound, Party, Received, Rejected};
use serbero_core::mediation::{chat_resumes_at, SessionState};
use serbero_core::notification::NotifType;
use tracing::{debug, info, warn};

use super::record;
use super::state::{forwarding, State};
use super::store::{self, Outbound};
use crate::outbox::NewMessage;
use crate::relay;

/// What a chat event came to, for the actor to act on.
pub(super) enum ChatOutcome {
    /// Nothing more to do.
    Nothing,
    /// A fresh reply while the session waits for the parties, and the rounds now complete.
    Replied { inbound: Inbound, rounds: u32 },
    /// A party wrote after the handoff: the burst to forward goes on.
    WordsToForward,
}

/// Derives both channels from the stored trade keys and watches them.
pub(super) async fn open_channels(st: &mut State) -> Result<(), ActorProcessingErr> {
    let Some(parties) = st.take.as_ref().and_then(|t| t.parties.clone()) else {
        return Err("took the dispute but stored no parties".into());
    };
    let mut channels = Vec::with_capacity(2);
    for (party, key) in [(Party::Buyer, &parties.buyer), (Party::Seller, &parties.seller)] {
        let trade_key = PublicKey::from_hex(key)?;
        channels.push((Channel::derive(&st.keys, party, trade_key)?, Gate::default()));
    }
    let since = resume_points(st).await?;
    for ((channel, _), since) in channels.iter().zip(since) {
        let (sign, legacy, sink) = (channel.sign.public_key(), channel.legacy.public_key(), st.me.get_derived());
        st.relay.cast(relay::Msg::WatchChat { sign, legacy, since, sink })?;
    }
    st.channels = channels;
    Ok(())
}

/// Per party: just before its newest stored message, else just before we took the dispute.
async fn resume_points(st: &mut State) -> Result<Vec<Timestamp>, ActorProcessingErr> {
    let id = st.dispute_id.clone();
    let took_at = st.take.as_ref().and_then(|t| t.answered_at).unwrap_or_else(|| st.clock.now());
    let newest = st
        .db
        .read(move |conn| {
            Party::BOTH.iter().map(|p| store::last_inbound_at(conn, &id, *p)).collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(newest.into_iter().map(|at| chat_resumes_at(at, took_at)).collect())
}

pub(super) async fn on_event(st: &mut State, event: &Event) -> Result<ChatOutcome, ActorProcessingErr> {
    let now = Timestamp::from_secs(st.clock.now().max(0) as u64);
    let us = st.keys.public_key();
    let mut verdict = (None, Err(Rejected::OtherChannel));
    for (channel, gate) in st.channels.iter_mut() {
        verdict = (Some(channel.party), receive(channel, &us, gate, event, now).await);
        if verdict.1 != Err(Rejected::OtherChannel) {
            break;
        }
    }
    let dispute = &st.dispute_id;
    match verdict {
        (_, Ok(Received::Message(inbound))) => take_in(st, inbound).await,
        (_, Ok(Received::Echo) | Err(Rejected::Duplicate)) => Ok(ChatOutcome::Nothing),
        (_, Err(Rejected::OtherChannel)) => {
            debug!(%dispute, event = %event.id, "chat event on none of our channels");
            Ok(ChatOutcome::Nothing)
        }
        (party, Err(why)) => {
            let party = party.map(Party::as_str).unwrap_or("-");
            warn!(%dispute, party, event = %event.id, reason = %why, "party chat event rejected");
            Ok(ChatOutcome::Nothing)
        }
    }
}

/// Stores a party's message unless its inner id is known (the durable dedup); a fresh one
/// moves the mediation on.
async fn take_in(st: &mut State, inbound: Inbound) -> Result<ChatOutcome, ActorProcessingErr> {
    let (id, now, stored) = (st.dispute_id.clone(), st.clock.now(), inbound.clone());
    let (dispute, inner) = (&st.dispute_id, inbound.inner_event_id);
    let waiting =
        st.session.as_ref().filter(|s| s.state == SessionState::AwaitingResponse).map(|s| s.session_id.clone());
    // A reply and the round count it moves commit together: a crash cannot keep one without
    // the other.
    let (outcome, rounds) = st
        .db
        .write(move |tx| {
            let outcome = store::inbound(tx, &id, &stored, now)?;
            let rounds = match (outcome, waiting) {
                (store::Stored::Fresh, Some(sid)) => {
                    Some(record::count_reply(tx, &id, &sid, stored.party, stored.inner_created_at)?)
                }
                _ => None,
            };
            Ok((outcome, rounds))
        })
        .await?;
    match outcome {
        store::Stored::Fresh | store::Stored::Stale if forwarding(st) => {
            st.received += 1;
            info!(%dispute, party = %inbound.party, %inner, "party message received after the handoff; to be forwarded");
            Ok(ChatOutcome::WordsToForward)
        }
        store::Stored::Fresh => {
            st.received += 1;
            info!(%dispute, party = %inbound.party, %inner, legacy = inbound.legacy, "party message received");
            Ok(match rounds {
                Some(rounds) => ChatOutcome::Replied { inbound, rounds },
                None => ChatOutcome::Nothing,
            })
        }
        store::Stored::Stale => {
            st.received += 1;
            info!(%dispute, party = %inbound.party, %inner, "stale party message kept for the record");
            Ok(ChatOutcome::Nothing)
        }
        store::Stored::Known => {
            debug!(%dispute, %inner, "party message already stored");
            Ok(ChatOutcome::Nothing)
        }
    }
}

/// A text for `party`, built and signed now, ready to be stored with its outbox row.
pub(super) struct Prepared {
    pub message: NewMessage,
    pub row: Outbound,
}

/// The signing to await; it owns what it needs, so the actor's state is not held across it.
pub(super) fn prepare(
    st: &State,
    party: Party,
    text: String,
) -> Result<impl Future<Output = Result<Prepared, ActorProcessingErr>> + Send, ActorProcessingErr> {
    let Some((channel, _)) = st.channels.iter().find(|(c, _)| c.party == party) else {
        return Err(format!("no channel with the {party}").into());
    };
    Ok(build(channel.clone(), st.keys.clone(), st.dispute_id.clone(), text))
}

async fn build(channel: Channel, keys: Keys, dispute_id: String, text: String) -> Result<Prepared, ActorProcessingErr> {
    let event = wrap_chat_message(&keys, &channel.conv, &channel.sign, &text).await?;
    // Our inner id, as the parties will see it (and as our echo will carry it).
    let inner =
        unwrap_chat_message(&channel.conv, &channel.sign.public_key(), &[keys.public_key()], &event, event.created_at)?;
    let row = Outbound {
        party: channel.party,
        inner_event_id: inner.inner_event_id.to_hex(),
        outer_event_id: event.id.to_hex(),
        inner_created_at: event.created_at.as_secs() as i64,
        content: text.clone(),
    };
    let message = NewMessage {
        idempotency_key: format!("chat:{dispute_id}:{}", event.id),
        dispute_id: Some(dispute_id),
        recipient: channel.trade_pubkey.to_hex(),
        notif_type: NotifType::PartyMessage,
        format: None,
        body: text,
        event_id: event.id.to_hex(),
        event_json: event.as_json(),
    };
    Ok(Prepared { message, row })
}

/// Our own events' echoes are known before they come back.
pub(super) fn remember_sent(st: &mut State, prepared: &[Prepared]) {
    for p in prepared {
        let Ok(id) = nostr_sdk::EventId::from_hex(&p.row.outer_event_id) else { continue };
        if let Some((_, gate)) = st.channels.iter_mut().find(|(c, _)| c.party == p.row.party) {
            gate.sent(id);
        }
    }
}

/// The pubkey of each party's `K_conv`, the address recorded on the session row.
pub(super) fn conv_pubkeys(st: &State) -> (String, String) {
    let of = |party: Party| {
        st.channels
            .iter()
            .find(|(c, _)| c.party == party)
            .map(|(c, _)| c.conv.public_key().to_hex())
            .unwrap_or_default()
    };
    (of(Party::Buyer), of(Party::Seller))
}
