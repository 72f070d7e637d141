//! A buyer or seller of a disputed trade, chatting with the solver over the kind-14 chat envelope
//! (spec/mostro-protocol.md §5), and able to send the malformed and hostile messages a solver
//! must refuse. Those are built by hand the way mostro-core's `chat/wrap.rs` builds a valid one,
//! each with a single defect.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mostro_core::chat::{
    chat_filter, derive_chat_keys, unwrap_chat_message, wrap_chat_message, wrap_giftwrap_chat_message, SharedKey,
    CHAT_MAX_CONTENT_BYTES,
};
use nostr_sdk::nips::nip44;
use nostr_sdk::prelude::*;
use tokio::task::{JoinHandle, JoinSet};

use super::connected_client;
use super::reader::{spawn_reader, Collected};

/// Encrypts to more than 64 KiB (NIP-44 pads, base64 adds a third) while the inner event stays
/// under the 65,535 bytes NIP-44 can carry.
const OVERSIZED_TEXT_LEN: usize = 50_000;
/// How far `say_stale` back-dates the inner event.
const STALE_BY: Duration = Duration::from_secs(10 * 60);
/// How far `say_from_future` dates the message ahead.
const AHEAD_BY: Duration = Duration::from_secs(60 * 60);

/// One party's chat channel with the solver; it collects the solver's messages until dropped.
pub struct SimParty {
    trade_keys: Keys,
    solver: PublicKey,
    /// `K_conv`: encrypts the content; its pubkey is the single `p` tag.
    conv: Keys,
    /// `K_sign`: signs every outer event of the channel, in both directions.
    sign: Keys,
    client: Client,
    from_solver: Arc<Collected<String>>,
    reader: JoinHandle<()>,
}

impl SimParty {
    pub async fn connect(trade_keys: Keys, relay: &RelayUrl, solver: PublicKey) -> anyhow::Result<Self> {
        let (conv, sign) = derive_chat_keys(&trade_keys, &solver)?;
        let client = connected_client(&trade_keys, relay).await?;
        let notifications = client.notifications();
        client.subscribe(chat_filter(sign.public_key()), None).await?;
        let from_solver = Arc::new(Collected::default());
        let (sink, channel_conv, sign_pubkey) = (from_solver.clone(), conv.clone(), sign.public_key());
        let allowed = [solver, trade_keys.public_key()];
        let reader = spawn_reader(notifications, move |_, event| {
            let chat = unwrap_chat_message(&channel_conv, &sign_pubkey, &allowed, &event, Timestamp::now());
            // The channel also returns our own messages: the inner signer tells who wrote.
            if let Some(chat) = chat.ok().filter(|chat| chat.sender == solver) {
                sink.push(chat.content);
            }
            std::future::ready(())
        });
        Ok(Self { trade_keys, solver, conv, sign, client, from_solver, reader })
    }

    /// The party's trade pubkey.
    pub fn pubkey(&self) -> PublicKey {
        self.trade_keys.public_key()
    }

    /// A valid chat message. Two calls with the same text in the same second produce the same
    /// inner event, which a receiver deduplicates.
    pub async fn say(&self, text: &str) -> anyhow::Result<Event> {
        let event = wrap_chat_message(&self.trade_keys, &self.conv, &self.sign, text).await?;
        self.publish(event).await
    }

    /// The retired format: a gift wrap to the pubkey of the raw ECDH shared key.
    pub async fn say_legacy(&self, text: &str) -> anyhow::Result<Event> {
        let shared = SharedKey::derive(self.trade_keys.secret_key(), &self.solver)?;
        let event = wrap_giftwrap_chat_message(&self.trade_keys, &shared.public_key(), text).await?;
        self.publish(event).await
    }

    pub async fn send_raw(&self, event: &Event) -> anyhow::Result<()> {
        let sent = self.client.send_event(event).await?;
        anyhow::ensure!(!sent.success.is_empty(), "relay refused the event: {:?}", sent.failed);
        Ok(())
    }

    /// The inner note is signed by a stranger instead of the trade key.
    pub async fn say_forged_signer(&self, text: &str) -> anyhow::Result<Event> {
        let now = Timestamp::now();
        let inner = note(&Keys::generate(), Kind::TextNote, text, now)?;
        self.publish(self.envelope(&inner, now, &[])?).await
    }

    /// The inner event of `earlier_outer` again, in a fresh envelope: a new outer id, the same
    /// inner id.
    pub async fn replay(&self, earlier_outer: &Event) -> anyhow::Result<Event> {
        let inner_json = nip44::decrypt(self.conv.secret_key(), &self.conv.public_key(), &earlier_outer.content)
            .context("the earlier message is not on this channel")?;
        let inner = Event::from_json(inner_json)?;
        self.publish(self.envelope(&inner, inner.created_at, &[])?).await
    }

    /// The inner note is ten minutes older than its envelope.
    pub async fn say_stale(&self, text: &str) -> anyhow::Result<Event> {
        let now = Timestamp::now();
        let inner = note(&self.trade_keys, Kind::TextNote, text, now - STALE_BY)?;
        self.publish(self.envelope(&inner, now, &[])?).await
    }

    /// Note and envelope both dated an hour ahead.
    pub async fn say_from_future(&self, text: &str) -> anyhow::Result<Event> {
        let ahead = Timestamp::now() + AHEAD_BY;
        let inner = note(&self.trade_keys, Kind::TextNote, text, ahead)?;
        self.publish(self.envelope(&inner, ahead, &[])?).await
    }

    /// Encrypted content over `CHAT_MAX_CONTENT_BYTES`.
    pub async fn say_oversized(&self) -> anyhow::Result<Event> {
        let now = Timestamp::now();
        let inner = note(&self.trade_keys, Kind::TextNote, &"x".repeat(OVERSIZED_TEXT_LEN), now)?;
        let event = self.envelope(&inner, now, &[])?;
        anyhow::ensure!(event.content.len() > CHAT_MAX_CONTENT_BYTES, "only {} bytes encrypted", event.content.len());
        self.publish(event).await
    }

    /// The inner event is of `kind` instead of a text note.
    pub async fn say_inner_kind(&self, kind: u16, text: &str) -> anyhow::Result<Event> {
        let now = Timestamp::now();
        let inner = note(&self.trade_keys, Kind::from(kind), text, now)?;
        self.publish(self.envelope(&inner, now, &[])?).await
    }

    /// The envelope also tags the solver.
    pub async fn say_with_extra_p(&self, text: &str) -> anyhow::Result<Event> {
        let now = Timestamp::now();
        let inner = note(&self.trade_keys, Kind::TextNote, text, now)?;
        self.publish(self.envelope(&inner, now, &[Tag::public_key(self.solver)])?).await
    }

    /// `n` valid messages ("flood 0", "flood 1", …), all sent at once.
    pub async fn flood(&self, n: usize) -> anyhow::Result<Vec<Event>> {
        let mut messages = Vec::with_capacity(n);
        for i in 0..n {
            messages.push(wrap_chat_message(&self.trade_keys, &self.conv, &self.sign, &format!("flood {i}")).await?);
        }
        let mut sends = JoinSet::new();
        for event in &messages {
            let (client, event) = (self.client.clone(), event.clone());
            sends.spawn(async move { client.send_event(&event).await });
        }
        while let Some(sent) = sends.join_next().await {
            let sent = sent??;
            anyhow::ensure!(!sent.success.is_empty(), "relay refused a flood message: {:?}", sent.failed);
        }
        Ok(messages)
    }

    /// What the solver wrote, in arrival order.
    pub fn received(&self) -> Vec<String> {
        self.from_solver.snapshot()
    }

    /// Waits until the solver wrote at least `n` messages; false on timeout.
    pub async fn wait_received(&self, n: usize, timeout: Duration) -> bool {
        self.from_solver.wait_for(n, timeout).await
    }

    async fn publish(&self, event: Event) -> anyhow::Result<Event> {
        self.send_raw(&event).await?;
        Ok(event)
    }

    /// mostro-core's chat envelope around any inner event: self-encrypted under `K_conv`, tagged
    /// with its pubkey (plus `extra_tags`), signed by `K_sign`.
    fn envelope(&self, inner: &Event, created_at: Timestamp, extra_tags: &[Tag]) -> anyhow::Result<Event> {
        let content =
            nip44::encrypt(self.conv.secret_key(), &self.conv.public_key(), inner.as_json(), nip44::Version::V2)?;
        let event = EventBuilder::new(Kind::PrivateDirectMessage, content)
            .tag(Tag::public_key(self.conv.public_key()))
            .tags(extra_tags.iter().cloned())
            .custom_created_at(created_at)
            .sign_with_keys(&self.sign)?;
        Ok(event)
    }
}

impl Drop for SimParty {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn note(signer: &Keys, kind: Kind, text: &str, created_at: Timestamp) -> anyhow::Result<Event> {
    Ok(EventBuilder::new(kind, text).custom_created_at(created_at).sign_with_keys(signer)?)
}
