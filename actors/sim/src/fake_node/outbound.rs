//! What the node sends: answers to a take and the notices that follow it, dispute revisions and
//! its info event, each when and in the order mostrod sends them.

use std::sync::Arc;
use std::time::Duration;

use mostro_core::dispute::SolverDisputeInfo;
use mostro_core::message::{Action, Message, Payload, Peer};
use mostro_core::nip59::WrapOptions;
use mostro_core::transport::{wrap_message_with, Transport};
use nostr_sdk::prelude::*;
use serbero_core::dispute::DISPUTE_EVENT_KIND;
use serbero_core::order_event::ORDER_EVENT_KIND;
use uuid::Uuid;

use super::model::{Judgement, Revision};
use super::{Initiator, Latency, Node, NodeScript, Trade};

/// mostrod src/util.rs send_dm: kind-14 replies expire after `dm_days` (30 by default).
const REPLY_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Who asked for a take, and how to address the answers.
pub(super) struct Requester {
    pub identity: PublicKey,
    pub trade_key: PublicKey,
    pub dispute_id: Option<Uuid>,
    pub request_id: Option<u64>,
}

impl NodeScript {
    #[allow(deprecated)] // v1 is deprecated upstream, but nodes before 0.18.5 speak nothing else.
    pub(super) fn transport(&self) -> Transport {
        if self.protocol_version >= 2 {
            Transport::Nip44Direct
        } else {
            Transport::GiftWrap
        }
    }

    /// mostrod src/nip33.rs advertised_first_contact_pow: on kind 14 the higher of the two
    /// demands, since both are checked; on gift wraps, which skip the gate, the base `pow`.
    fn advertised_first_contact_pow(&self) -> u8 {
        match self.transport() {
            Transport::Nip44Direct => self.pow.max(self.pow_first_contact),
            _ => self.pow,
        }
    }
}

impl Node {
    /// mostrod src/nip33.rs info_to_tags: the tags a solver reads, plus 0.19.x's `serbero` tag.
    pub(super) async fn announce(&self) -> anyhow::Result<()> {
        let script = &self.script;
        let mut tags = vec![
            vec!["protocol_version".to_string(), script.protocol_version.to_string()],
            vec!["pow".to_string(), script.pow.to_string()],
        ];
        if script.unannounced_pow_first_contact == 0 {
            tags.push(vec!["pow_first_contact".to_string(), script.advertised_first_contact_pow().to_string()]);
        }
        if let Some(serbero) = script.serbero {
            tags.push(vec!["serbero".to_string(), serbero.to_hex()]);
        }
        tags.push(vec!["y".to_string(), "mostro".to_string()]);
        tags.push(vec!["z".to_string(), "info".to_string()]);
        let tags: Vec<Vec<&str>> = tags.iter().map(|tag| tag.iter().map(String::as_str).collect()).collect();
        let tags: Vec<&[&str]> = tags.iter().map(Vec::as_slice).collect();
        self.mostro.publish_node_info(&tags).await?;
        Ok(())
    }

    /// Answers a judged take; true when it was taken.
    pub(super) async fn carry_out(self: &Arc<Self>, judgement: Judgement, by: Requester) -> anyhow::Result<bool> {
        match judgement {
            Judgement::UnknownDispute => Ok(false),
            Judgement::Refused(reason) => {
                // mostrod src/app.rs manage_errors and src/util.rs enqueue_cant_do_msg: to the
                // trade key, through a queue src/scheduler.rs job_flush_messages_queue drains.
                let refusal = Message::cant_do(by.dispute_id, by.request_id, Some(Payload::CantDo(Some(reason))));
                self.clone().send_later(self.latency(), vec![(refusal, by.trade_key)], None);
                Ok(false)
            }
            Judgement::Took(taken) => {
                // mostrod src/app/admin_take_dispute.rs admin_take_dispute_action: the details to the
                // requester's identity, who took it to both parties, then the revision.
                let dispute_id = taken.revision.dispute_id;
                let trade = taken.trade;
                let details = Payload::Dispute(dispute_id, Some(solver_dispute_info(&trade)));
                let took = Message::new_dispute(
                    Some(dispute_id),
                    by.request_id,
                    None,
                    Action::AdminTookDispute,
                    Some(details),
                );
                let solver = Payload::Peer(Peer { pubkey: by.identity.to_hex(), reputation: None });
                let notice = Message::new_order(
                    Some(trade.order_id),
                    by.request_id,
                    None,
                    Action::AdminTookDispute,
                    Some(solver),
                );
                let replies = vec![(took, by.identity), (notice.clone(), trade.buyer), (notice, trade.seller)];
                let revision = self.revision_event(&taken.revision)?;
                self.deliver(replies, Some(revision)).await?;
                Ok(true)
            }
        }
    }

    /// Signs the revision and publishes it.
    pub(super) async fn publish_revision(self: &Arc<Self>, revision: &Revision) -> anyhow::Result<Event> {
        let event = self.revision_event(revision)?;
        self.deliver(Vec::new(), Some(event.clone())).await?;
        Ok(event)
    }

    /// The order's public event as mostrod last published it before the dispute (src/nip33.rs
    /// order_to_tags; create_status_tags publishes a sell order waiting for the buyer's invoice
    /// as `in-progress`, and nothing for `active` or `dispute`, so this one stays the newest).
    pub(super) async fn publish_order(&self, trade: &Trade) -> anyhow::Result<()> {
        let facts = solver_dispute_info(trade);
        let expires_at = (Timestamp::now().as_secs() + 86_400).to_string();
        let tags = [
            Tag::identifier(trade.order_id.to_string()),
            Tag::parse(["k", &facts.kind])?,
            Tag::parse(["f", FIAT_CODE])?,
            Tag::parse(["s", "in-progress"])?,
            Tag::parse(["amt", &facts.amount.to_string()])?,
            Tag::parse(["fa", &facts.fiat_amount.to_string()])?,
            Tag::parse(["pm", &facts.payment_method])?,
            Tag::parse(["premium", &facts.premium.to_string()])?,
            Tag::parse(["network", "mainnet"])?,
            Tag::parse(["layer", "lightning"])?,
            Tag::parse(["expires_at", &expires_at])?,
            Tag::parse(["expiration", &(Timestamp::now().as_secs() + 30 * 86_400).to_string()])?,
            Tag::parse(["y", "mostro"])?,
            Tag::parse(["z", "order"])?,
        ];
        let event = EventBuilder::new(Kind::Custom(ORDER_EVENT_KIND), "")
            .tags(tags)
            .custom_created_at(Timestamp::from_secs(facts.taken_at as u64))
            .sign_with_keys(&self.mostro.keys)?;
        self.mostro.send(&event).await
    }

    /// mostrod src/nip33.rs create_dispute_event_tags and new_dispute_event.
    fn revision_event(&self, revision: &Revision) -> anyhow::Result<Event> {
        let tags = [
            Tag::identifier(revision.dispute_id.to_string()),
            Tag::parse(["s", &revision.status.to_string()])?,
            Tag::parse(["initiator", revision.initiator.as_str()])?,
            Tag::parse(["created_at", &revision.opened_at.as_secs().to_string()])?,
            Tag::parse(["y", "mostro"])?,
            Tag::parse(["z", "dispute"])?,
        ];
        let event = EventBuilder::new(Kind::Custom(DISPUTE_EVENT_KIND), "")
            .tags(tags)
            .custom_created_at(revision.stamped_at)
            .sign_with_keys(&self.mostro.keys)?;
        Ok(event)
    }

    /// Sends `replies`, then publishes `revision`: inline, as mostrod awaits each send in its
    /// handler, unless the test slowed the node down.
    async fn deliver(
        self: &Arc<Self>,
        replies: Vec<(Message, PublicKey)>,
        revision: Option<Event>,
    ) -> anyhow::Result<()> {
        let latency = self.latency();
        let slowed =
            (!replies.is_empty() && !latency.replies.is_zero()) || (revision.is_some() && !latency.revisions.is_zero());
        if slowed {
            self.clone().send_later(latency, replies, revision);
            Ok(())
        } else {
            self.send(Latency::default(), replies, revision).await
        }
    }

    fn send_later(self: Arc<Self>, latency: Latency, replies: Vec<(Message, PublicKey)>, revision: Option<Event>) {
        tokio::spawn(async move {
            if let Err(error) = self.send(latency, replies, revision).await {
                tracing::warn!(%error, "fake node could not send");
            }
        });
    }

    async fn send(
        &self,
        latency: Latency,
        replies: Vec<(Message, PublicKey)>,
        revision: Option<Event>,
    ) -> anyhow::Result<()> {
        if !replies.is_empty() {
            pause(latency.replies).await;
        }
        for (message, to) in replies {
            self.reply(message, to).await?;
        }
        if let Some(revision) = revision {
            pause(latency.revisions).await;
            self.mostro.send(&revision).await?;
        }
        Ok(())
    }

    /// mostrod src/util.rs send_dm: unsigned, from the node key as identity and trade key, on
    /// the node's transport, stamped with its protocol version; expiring when on kind 14.
    async fn reply(&self, mut message: Message, to: PublicKey) -> anyhow::Result<()> {
        let transport = self.script.transport();
        let (Message::Order(kind)
        | Message::Dispute(kind)
        | Message::CantDo(kind)
        | Message::Rate(kind)
        | Message::Dm(kind)
        | Message::Restore(kind)) = &mut message;
        kind.version = transport.protocol_version();
        let expiration = (transport == Transport::Nip44Direct).then(|| Timestamp::now() + REPLY_LIFETIME);
        let options = WrapOptions { pow: 0, expiration, signed: false };
        let keys = &self.mostro.keys;
        let event = wrap_message_with(transport, &message, keys, keys, to, options).await?;
        self.mostro.send(&event).await
    }
}

async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The trade's currency, on its public order event (the node's answer to a take has none).
const FIAT_CODE: &str = "EUR";

/// What mostrod src/app/admin_take_dispute.rs prepare_solver_info_message builds for a sell
/// order whose parties both trade in full privacy (no user rows, so no reputation).
fn solver_dispute_info(trade: &Trade) -> SolverDisputeInfo {
    let now = Timestamp::now().as_secs() as i64;
    let initiator = match trade.initiator {
        Initiator::Buyer => trade.buyer,
        Initiator::Seller => trade.seller,
    };
    SolverDisputeInfo {
        id: trade.order_id,
        kind: "sell".to_string(),
        status: "dispute".to_string(),
        hash: None,
        preimage: None,
        order_previous_status: "active".to_string(),
        initiator_pubkey: initiator.to_hex(),
        buyer_pubkey: Some(trade.buyer.to_hex()),
        seller_pubkey: Some(trade.seller.to_hex()),
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
