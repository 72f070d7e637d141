//! How the node hears: its live subscription, mostrod's checks on each inbound event, and the
//! dispatch of a take.

use std::sync::Arc;
use std::time::Duration;

use mostro_core::message::Action;
use mostro_core::nip59::UnwrappedMessage;
use mostro_core::transport::{unwrap_incoming, Transport};
use nostr_sdk::nips::nip13::get_leading_zero_bits;
use nostr_sdk::prelude::*;
use serbero_core::node_info::NODE_INFO_KIND;

use super::model::Judgement;
use super::outbound::Requester;
use super::{Node, NodeAnswer, NodeScript, ReceivedRequest};

/// mostrod src/app.rs accept_event: a request whose inner timestamp is older than this is a
/// replay.
const MAX_REQUEST_AGE_SECS: i64 = 10;
/// How long the relay may take to confirm the inbound subscription.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

impl NodeScript {
    /// mostrod src/app.rs accept_event with src/config/types.rs effective_pow_first_contact: the
    /// base `pow` is checked first, then the first-contact demand (unset: `pow` again).
    fn first_contact_pow(&self) -> u8 {
        self.pow.max(self.pow_first_contact).max(self.unannounced_pow_first_contact)
    }
}

impl Node {
    /// Subscribes to what is addressed to the node, live only, and waits until the relay has it.
    pub(super) async fn listen(&self) -> anyhow::Result<()> {
        let me = self.mostro.keys.public_key();
        // mostrod src/main.rs: its transport's kind, addressed to it, `limit(0)`: no stored event,
        // so a request published while the node was not listening is never seen. Both kinds here,
        // so that a request on the wrong transport is recorded as dropped.
        let inbound = Filter::new().kinds([Kind::GiftWrap, Kind::PrivateDirectMessage]).pubkey(me).limit(0);
        let id = SubscriptionId::generate();
        *self.listening.lock().expect("listening lock") = Some(id.clone());
        self.mostro.client.subscribe_with_id(id, inbound, None).await?;
        // A relay handles one connection's messages in order: once this query is answered, the
        // subscription sent before it is in place.
        let anything = Filter::new().kind(Kind::Custom(NODE_INFO_KIND)).author(me).limit(1);
        self.mostro.client.fetch_events(anything, LISTEN_TIMEOUT).await?;
        Ok(())
    }

    pub(super) async fn receive(self: &Arc<Self>, subscription: &SubscriptionId, event: &Event) {
        if self.listening.lock().expect("listening lock").as_ref() != Some(subscription) {
            return;
        }
        // What the node cannot open is not addressed to it, or broken: mostrod drops both.
        let Ok(Some(unwrapped)) = unwrap_incoming(event, &self.mostro.keys).await else { return };
        let message = unwrapped.message.get_inner_message_kind().clone();
        let pow_bits = get_leading_zero_bits(event.id);
        let age_secs = Timestamp::now().as_secs() as i64 - unwrapped.created_at.as_secs() as i64;
        let mut request = ReceivedRequest {
            action: message.action.clone(),
            id: message.id,
            request_id: message.request_id,
            identity: unwrapped.identity,
            kind: event.kind,
            pow_bits,
            age_secs,
            dropped: self.drop_reason(event, &unwrapped, pow_bits, age_secs),
            answer: NodeAnswer::Silent,
        };
        // mostrod src/app.rs handle_message_action: only the take is implemented here.
        if request.dropped.is_some() || request.action != Action::AdminTakeDispute {
            self.requests.push(request);
            return;
        }
        let judgement = self.lock_model().take(message.id, unwrapped.identity);
        request.answer = answer_to(&judgement);
        self.requests.push(request);
        let requester = Requester {
            identity: unwrapped.identity,
            trade_key: unwrapped.sender,
            dispute_id: message.id,
            request_id: message.request_id,
        };
        if let Err(error) = self.carry_out(judgement, requester).await {
            tracing::warn!(%error, "fake node could not answer a take");
        }
    }

    /// mostrod src/app.rs accept_event, check by check in its order. The spam gate's replay
    /// guard is left out: the client hands each event over once.
    fn drop_reason(&self, event: &Event, unwrapped: &UnwrappedMessage, pow_bits: u8, age_secs: i64) -> Option<String> {
        let transport = self.script.transport();
        if pow_bits < self.script.pow {
            return Some(format!("proof of work of {pow_bits} bits, {} required", self.script.pow));
        }
        if event.kind != transport.event_kind() {
            return Some(format!("kind {} is not this node's transport (kind {})", event.kind, transport.event_kind()));
        }
        if event.verify().is_err() {
            return Some("invalid event signature".to_string());
        }
        // mostrod src/spam_gate.rs (kind 14 only): a trade key the gate does not know pays the
        // first-contact toll.
        let first_contact = self.script.first_contact_pow();
        let known = self.known_keys.lock().expect("known keys lock").contains(&event.pubkey);
        if transport == Transport::Nip44Direct && pow_bits < first_contact && !known {
            return Some(format!("first contact with a proof of work of {pow_bits} bits, {first_contact} required"));
        }
        if age_secs > MAX_REQUEST_AGE_SECS {
            return Some(format!("stale: sent {age_secs} s ago"));
        }
        if unwrapped.identity != unwrapped.sender && unwrapped.signature.is_none() {
            return Some("unsigned message from an identity other than its trade key".to_string());
        }
        // check_trade_index comes here; it concerns new orders and order takes only.
        if !unwrapped.message.verify() {
            return Some("malformed message".to_string());
        }
        None
    }
}

fn answer_to(judgement: &Judgement) -> NodeAnswer {
    match judgement {
        Judgement::UnknownDispute => NodeAnswer::Silent,
        Judgement::Refused(reason) => NodeAnswer::CantDo(reason.clone()),
        Judgement::Took(_) => NodeAnswer::Took,
    }
}
