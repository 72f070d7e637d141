//! Which chat channels the Relay actor watches, in few subscriptions: relays cap subscriptions
//! per connection, so channels are grouped into chunks of [`CHUNK`], each one subscription for
//! the kind-14 channel (by the channels' `K_sign` authors) and one for the legacy envelope (by
//! their raw shared keys in `#p`). A changed chunk is subscribed again under the same id, which
//! replaces the relay's earlier filter. Events are routed back by author or `p` tag.

use std::collections::{BTreeSet, HashMap};

use mostro_core::chat::CHAT_DEFAULT_LOOKBACK_SECS;
use nostr_sdk::{Event, Filter, Kind, PublicKey, SubscriptionId, TagKind, Timestamp};

/// Channels per subscription: keeps each REQ a few tens of kilobytes.
pub const CHUNK: usize = 256;
pub const CHAT_PREFIX: &str = "serbero-chat-";

struct Watch<S> {
    legacy: PublicKey,
    since: Timestamp,
    chunk: usize,
    sink: S,
    /// An event could not be handed to the sink (its session had stopped): the next watch asks
    /// the relays again.
    missed: bool,
}

/// The watched channels, each with `S`, where its events go.
pub struct ChatWatches<S> {
    by_sign: HashMap<PublicKey, Watch<S>>,
    by_legacy: HashMap<PublicKey, PublicKey>,
    chunks: Vec<BTreeSet<PublicKey>>,
    dirty: BTreeSet<usize>,
}

/// What to send for one changed chunk: its two subscriptions, or their end when it is empty.
pub enum Change {
    Subscribe(Vec<(SubscriptionId, Filter)>),
    Unsubscribe(Vec<SubscriptionId>),
}

impl<S> Default for ChatWatches<S> {
    fn default() -> Self {
        Self { by_sign: HashMap::new(), by_legacy: HashMap::new(), chunks: Vec::new(), dirty: BTreeSet::new() }
    }
}

impl<S> ChatWatches<S> {
    /// Watches the channel signed by `sign` (legacy envelope to `legacy`) from `since`. A channel
    /// watched again gets the new sink; if an event was missed meanwhile (its session restarted,
    /// its old sink gone), its chunk is asked again from `since` and storage drops what it has.
    pub fn watch(&mut self, sign: PublicKey, legacy: PublicKey, since: Timestamp, sink: S) {
        if let Some(watch) = self.by_sign.get_mut(&sign) {
            watch.sink = sink;
            if std::mem::take(&mut watch.missed) || since < watch.since {
                watch.since = watch.since.min(since);
                self.dirty.insert(watch.chunk);
            }
            return;
        }
        let chunk = match self.chunks.iter().position(|c| c.len() < CHUNK) {
            Some(free) => free,
            None => {
                self.chunks.push(BTreeSet::new());
                self.chunks.len() - 1
            }
        };
        self.chunks[chunk].insert(sign);
        self.by_legacy.insert(legacy, sign);
        self.by_sign.insert(sign, Watch { legacy, since, chunk, sink, missed: false });
        self.dirty.insert(chunk);
    }

    pub fn unwatch(&mut self, sign: &PublicKey) {
        if let Some(watch) = self.by_sign.remove(sign) {
            self.by_legacy.remove(&watch.legacy);
            self.chunks[watch.chunk].remove(sign);
            self.dirty.insert(watch.chunk);
        }
    }

    /// Whether changes wait to be sent.
    pub fn pending(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The subscriptions to send for every chunk changed since the last call.
    pub fn changes(&mut self) -> Vec<Change> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty.into_iter().map(|chunk| self.change(chunk)).collect()
    }

    fn change(&self, chunk: usize) -> Change {
        let ids = [subscription_id("14", chunk), subscription_id("1059", chunk)];
        let members = &self.chunks[chunk];
        if members.is_empty() {
            return Change::Unsubscribe(ids.to_vec());
        }
        let watches: Vec<&Watch<S>> = members.iter().filter_map(|sign| self.by_sign.get(sign)).collect();
        let since = watches.iter().map(|w| w.since).min().unwrap_or_else(Timestamp::now);
        let direct = Filter::new().kind(Kind::PrivateDirectMessage).authors(members.iter().copied()).since(since);
        let lookback = Timestamp::now().as_secs().saturating_sub(CHAT_DEFAULT_LOOKBACK_SECS);
        let legacy = Filter::new()
            .kind(Kind::GiftWrap)
            .pubkeys(watches.iter().map(|w| w.legacy))
            .since(Timestamp::from_secs(lookback));
        let [direct_id, legacy_id] = ids;
        Change::Subscribe(vec![(direct_id, direct), (legacy_id, legacy)])
    }

    /// Where an event of a chat subscription goes: its channel (by author for kind 14, by `p`
    /// tag for the legacy envelope) and that channel's sink.
    pub fn route(&self, event: &Event) -> Option<(PublicKey, &S)> {
        let sign = self.channel_of(event)?;
        self.by_sign.get(&sign).map(|w| (sign, &w.sink))
    }

    /// Records that an event of the channel signed by `sign` could not reach its sink.
    pub fn missed(&mut self, sign: &PublicKey) {
        if let Some(watch) = self.by_sign.get_mut(sign) {
            watch.missed = true;
        }
    }

    fn channel_of(&self, event: &Event) -> Option<PublicKey> {
        match event.kind {
            Kind::GiftWrap => {
                let p = event.tags.iter().find(|t| t.kind() == TagKind::p()).and_then(|t| t.content())?;
                self.by_legacy.get(&PublicKey::from_hex(p).ok()?).copied()
            }
            _ => Some(event.pubkey),
        }
    }

    /// Channels watched now.
    pub fn len(&self) -> usize {
        self.by_sign.len()
    }
}

fn subscription_id(kind: &str, chunk: usize) -> SubscriptionId {
    SubscriptionId::new(format!("{CHAT_PREFIX}{kind}-{chunk}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::{EventBuilder, Keys, Tag};

    fn ids(changes: Vec<Change>) -> Vec<String> {
        changes
            .into_iter()
            .flat_map(|change| match change {
                Change::Subscribe(subs) => subs.into_iter().map(|(id, _)| format!("+{id}")).collect::<Vec<_>>(),
                Change::Unsubscribe(ids) => ids.into_iter().map(|id| format!("-{id}")).collect(),
            })
            .collect()
    }

    #[test]
    fn channels_share_chunked_subscriptions_and_route_by_author_or_p() {
        let mut watches = ChatWatches::default();
        let keys: Vec<(Keys, Keys)> = (0..CHUNK + 1).map(|_| (Keys::generate(), Keys::generate())).collect();
        for (n, (sign, legacy)) in keys.iter().enumerate() {
            watches.watch(sign.public_key(), legacy.public_key(), Timestamp::from(1_000), n);
        }
        assert_eq!(
            ids(watches.changes()),
            ["+serbero-chat-14-0", "+serbero-chat-1059-0", "+serbero-chat-14-1", "+serbero-chat-1059-1"]
        );
        assert!(!watches.pending());

        let (sign, legacy) = &keys[CHUNK];
        let direct = EventBuilder::text_note("x").sign_with_keys(sign).unwrap();
        let wrapped = EventBuilder::new(Kind::GiftWrap, "x")
            .tag(Tag::public_key(legacy.public_key()))
            .sign_with_keys(&Keys::generate())
            .unwrap();
        let sink = |event: &Event| watches.route(event).map(|(_, sink)| *sink);
        assert_eq!((sink(&direct), sink(&wrapped)), (Some(CHUNK), Some(CHUNK)));
        let stranger = EventBuilder::text_note("x").sign_with_keys(&Keys::generate()).unwrap();
        assert_eq!(sink(&stranger), None);

        watches.watch(sign.public_key(), legacy.public_key(), Timestamp::from(2_000), CHUNK + 7);
        assert!(ids(watches.changes()).is_empty(), "a new sink alone needs no new subscription");
        assert_eq!(watches.route(&direct).map(|(_, s)| *s), Some(CHUNK + 7), "to the new sink");
        watches.missed(&sign.public_key());
        watches.watch(sign.public_key(), legacy.public_key(), Timestamp::from(2_000), CHUNK + 8);
        assert_eq!(ids(watches.changes()), ["+serbero-chat-14-1", "+serbero-chat-1059-1"], "missed: asked again");
        watches.unwatch(&sign.public_key());
        assert_eq!(ids(watches.changes()), ["-serbero-chat-14-1", "-serbero-chat-1059-1"], "an empty chunk ends");
        assert_eq!((watches.route(&direct).is_none(), watches.len()), (true, CHUNK));
    }
}
