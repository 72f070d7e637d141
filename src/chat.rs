//! Dispute chat between Serbero and one party (spec/mostro-protocol.md §5): the channel's keys,
//! derived from Serbero's key and the party's trade key, and the receive checks every inbound
//! event passes. The cryptography is mostro-core's; what it leaves to its caller (outer-id
//! memory, the per-channel rate limit, the allowed signers, our own echoes, the legacy envelope's
//! bounds) is here. The durable inner-id dedup is the storage's unique index.

use std::collections::{HashSet, VecDeque};
use std::fmt;

use mostro_core::chat::{
    derive_chat_keys, unwrap_chat_message, unwrap_giftwrap_chat_message, SharedKey, CHAT_MAX_CLOCK_SKEW_SECS,
    CHAT_MAX_CONTENT_BYTES,
};
use nostr_sdk::{Event, EventId, Keys, Kind, PublicKey, TagKind, Timestamp};

/// Inbound events a channel takes per minute once its burst is spent.
pub const RATE_PER_MINUTE: u32 = 30;
/// Inbound events a quiet channel takes at once.
pub const RATE_BURST: u32 = 60;
/// Outer event ids remembered per channel to drop relay duplicates before any cryptography.
pub const RECENT_OUTER_IDS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    Buyer,
    Seller,
}

impl Party {
    pub const BOTH: [Party; 2] = [Party::Buyer, Party::Seller];

    pub fn as_str(self) -> &'static str {
        match self {
            Party::Buyer => "buyer",
            Party::Seller => "seller",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::BOTH.into_iter().find(|p| p.as_str() == value)
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys of Serbero's channel with one party. Nothing secret is stored: they are derived
/// again from Serbero's key and the party's trade key whenever the channel is reopened.
#[derive(Clone, Debug)]
pub struct Channel {
    pub party: Party,
    pub trade_pubkey: PublicKey,
    /// `K_conv`: NIP-44 self-encryption and the outer `p` tag.
    pub conv: Keys,
    /// `K_sign`: signs the outer events of both sides; the subscription is by its pubkey.
    pub sign: Keys,
    /// The raw ECDH key of the legacy gift-wrap chat, read while a node's clients still use it.
    pub legacy: Keys,
}

impl Channel {
    pub fn derive(us: &Keys, party: Party, trade_pubkey: PublicKey) -> Result<Self, String> {
        let (conv, sign) = derive_chat_keys(us, &trade_pubkey).map_err(|e| e.to_string())?;
        let legacy = SharedKey::derive(us.secret_key(), &trade_pubkey).map_err(|e| e.to_string())?.keys().clone();
        Ok(Self { party, trade_pubkey, conv, sign, legacy })
    }
}

/// A party's message that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub party: Party,
    pub content: String,
    pub inner_event_id: EventId,
    pub outer_event_id: EventId,
    pub inner_created_at: i64,
    /// Read from the legacy gift-wrap envelope.
    pub legacy: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Message(Inbound),
    /// One of our own messages, signed by us inside: nothing to take in.
    Echo,
}

/// Why an inbound event was dropped; logged, never stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("not on this channel")]
    OtherChannel,
    #[error("outer event already seen")]
    Duplicate,
    #[error("rate limit of the channel exceeded")]
    RateLimited,
    #[error("encrypted payload of {0} bytes exceeds the accepted size")]
    Oversized(usize),
    #[error("dated too far in the future")]
    FromTheFuture,
    #[error("signed by a key that is not a party to this channel")]
    ForeignSigner,
    #[error("{0}")]
    Envelope(String),
}

/// Per-channel memory of the receive checks: recent outer ids and the rate limit.
#[derive(Debug)]
pub struct Gate {
    recent: RecentIds,
    bucket: TokenBucket,
}

impl Gate {
    /// Remembers an event Serbero itself published on the channel, so its echo is dropped before
    /// any cryptography and never spends the party's rate limit.
    pub fn sent(&mut self, outer_id: EventId) {
        self.recent.insert(outer_id);
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self { recent: RecentIds::new(RECENT_OUTER_IDS), bucket: TokenBucket::new(RATE_BURST, RATE_PER_MINUTE) }
    }
}

/// Checks `event` on `channel`, cheapest first: author (kind 14) or `p` (legacy), outer-id
/// memory, then mostro-core's checks (single `p`, future skew, size, outer signature,
/// decryption, inner signature, inner kind 1, inner/outer skew) with the allowed signers: the
/// party's trade key and ours. Only then, for the party's own messages, the rate limit: whoever
/// merely knows the channel's keys cannot spend the party's tokens, and a message the limit
/// turns away is not remembered, so the same event is taken in when a relay hands it over again.
pub async fn receive(
    channel: &Channel,
    us: &PublicKey,
    gate: &mut Gate,
    event: &Event,
    now: Timestamp,
) -> Result<Received, Rejected> {
    let legacy = event.kind == Kind::GiftWrap;
    let addressed = if legacy {
        single_p(event) == Some(channel.legacy.public_key())
    } else {
        event.pubkey == channel.sign.public_key()
    };
    if !addressed {
        return Err(Rejected::OtherChannel);
    }
    if gate.recent.contains(&event.id) {
        return Err(Rejected::Duplicate);
    }
    let allowed = [channel.trade_pubkey, *us];
    let opened = if legacy {
        open_legacy(channel, &allowed, event, now).await
    } else {
        unwrap_chat_message(&channel.conv, &channel.sign.public_key(), &allowed, event, now)
            .map_err(|e| Rejected::Envelope(e.to_string()))
    };
    let message = match opened {
        Ok(message) if message.sender != *us && !gate.bucket.try_take(now.as_secs()) => {
            return Err(Rejected::RateLimited);
        }
        other => {
            gate.recent.insert(event.id);
            other?
        }
    };
    if message.sender == *us {
        return Ok(Received::Echo);
    }
    Ok(Received::Message(Inbound {
        party: channel.party,
        content: message.content,
        inner_event_id: message.inner_event_id,
        outer_event_id: message.outer_event_id,
        inner_created_at: message.created_at.as_secs() as i64,
        legacy,
    }))
}

/// mostro-core's legacy unwrap checks only the cryptography; the bounds are ours. The outer
/// timestamp is blurred by design, so only the inner one is judged.
async fn open_legacy(
    channel: &Channel,
    allowed: &[PublicKey],
    event: &Event,
    now: Timestamp,
) -> Result<mostro_core::chat::ChatMessage, Rejected> {
    if event.content.len() > CHAT_MAX_CONTENT_BYTES {
        return Err(Rejected::Oversized(event.content.len()));
    }
    event.verify().map_err(|e| Rejected::Envelope(format!("invalid outer signature: {e}")))?;
    let message =
        unwrap_giftwrap_chat_message(&channel.legacy, event).await.map_err(|e| Rejected::Envelope(e.to_string()))?;
    if !allowed.contains(&message.sender) {
        return Err(Rejected::ForeignSigner);
    }
    if message.created_at.as_secs() > now.as_secs().saturating_add(CHAT_MAX_CLOCK_SKEW_SECS) {
        return Err(Rejected::FromTheFuture);
    }
    Ok(message)
}

fn single_p(event: &Event) -> Option<PublicKey> {
    let mut p_tags = event.tags.iter().filter(|t| t.kind() == TagKind::p());
    match (p_tags.next().and_then(|t| t.content()), p_tags.next()) {
        (Some(value), None) => PublicKey::from_hex(value).ok(),
        _ => None,
    }
}

/// A bounded set of recently seen ids; the oldest is forgotten first.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<EventId>,
    seen: HashSet<EventId>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        // Grown as ids arrive: most channels see a handful, and sessions are many.
        Self { capacity, order: VecDeque::new(), seen: HashSet::new() }
    }

    pub fn contains(&self, id: &EventId) -> bool {
        self.seen.contains(id)
    }

    /// False when `id` is already remembered.
    pub fn insert(&mut self, id: EventId) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        true
    }
}

/// A token bucket on whole seconds: `burst` tokens, refilled at `per_minute`.
#[derive(Debug)]
pub struct TokenBucket {
    burst: u32,
    per_minute: u32,
    /// Tokens times 60, so a refill of `per_minute` a minute is `per_minute` a second.
    sixtieths: u64,
    last: Option<u64>,
}

impl TokenBucket {
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self { burst, per_minute, sixtieths: u64::from(burst) * 60, last: None }
    }

    pub fn try_take(&mut self, now_secs: u64) -> bool {
        let elapsed = self.last.map_or(0, |last| now_secs.saturating_sub(last));
        self.last = Some(now_secs.max(self.last.unwrap_or(0)));
        let refill = elapsed.saturating_mul(u64::from(self.per_minute));
        self.sixtieths = self.sixtieths.saturating_add(refill).min(u64::from(self.burst) * 60);
        if self.sixtieths < 60 {
            return false;
        }
        self.sixtieths -= 60;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mostro_core::chat::{wrap_chat_message, wrap_giftwrap_chat_message};

    struct Pair {
        us: Keys,
        party: Keys,
        ours: Channel,
    }

    fn pair() -> Pair {
        let (us, party) = (Keys::generate(), Keys::generate());
        let ours = Channel::derive(&us, Party::Buyer, party.public_key()).unwrap();
        Pair { us, party, ours }
    }

    async fn check(p: &Pair, gate: &mut Gate, event: &Event) -> Result<Received, Rejected> {
        receive(&p.ours, &p.us.public_key(), gate, event, Timestamp::now()).await
    }

    #[tokio::test]
    async fn both_sides_derive_the_same_channel_and_a_party_message_passes() {
        let p = pair();
        let (conv, sign) = derive_chat_keys(&p.party, &p.us.public_key()).unwrap();
        assert_eq!((conv.public_key(), sign.public_key()), (p.ours.conv.public_key(), p.ours.sign.public_key()));
        let event = wrap_chat_message(&p.party, &conv, &sign, "the seller never paid").await.unwrap();
        let Received::Message(inbound) = check(&p, &mut Gate::default(), &event).await.unwrap() else {
            panic!("a party message is not an echo");
        };
        assert_eq!(
            (inbound.party, inbound.content.as_str(), inbound.legacy),
            (Party::Buyer, "the seller never paid", false)
        );
        assert_eq!(inbound.outer_event_id, event.id);
    }

    #[tokio::test]
    async fn every_check_rejects_what_it_must() {
        let p = pair();
        let (ch, us) = (&p.ours, &p.us);
        let stranger = Keys::generate();
        let other = Channel::derive(us, Party::Seller, stranger.public_key()).unwrap();
        let ours = wrap_chat_message(us, &ch.conv, &ch.sign, "round 1").await.unwrap();
        let foreign = wrap_chat_message(&stranger, &ch.conv, &ch.sign, "I am the buyer").await.unwrap();
        let elsewhere = wrap_chat_message(&stranger, &other.conv, &other.sign, "hi").await.unwrap();
        let legacy_foreign = wrap_giftwrap_chat_message(&stranger, &ch.legacy.public_key(), "hi").await.unwrap();
        // (case, event, what the outcome's debug form must contain)
        let cases = [
            ("our own echo", &ours, "Ok(Echo)"),
            ("inner signer is nobody's", &foreign, "not a party to this conversation"),
            ("another channel's author", &elsewhere, "Err(OtherChannel)"),
            ("legacy, foreign signer", &legacy_foreign, "Err(ForeignSigner)"),
        ];
        for (name, event, expected) in cases {
            let got = format!("{:?}", check(&p, &mut Gate::default(), event).await);
            assert!(got.contains(expected), "{name}: {got}");
        }
    }

    #[tokio::test]
    async fn the_legacy_envelope_is_read_and_bounded() {
        let p = pair();
        let shared = p.ours.legacy.public_key();
        let event = wrap_giftwrap_chat_message(&p.party, &shared, "old client here").await.unwrap();
        let Ok(Received::Message(inbound)) = check(&p, &mut Gate::default(), &event).await else {
            panic!("legacy message from the party must pass");
        };
        assert!(inbound.legacy);
        assert_eq!(inbound.content, "old client here");
        let huge = wrap_giftwrap_chat_message(&p.party, &shared, &"x".repeat(60_000)).await.unwrap();
        assert!(matches!(check(&p, &mut Gate::default(), &huge).await, Err(Rejected::Oversized(_))));
    }

    #[tokio::test]
    async fn a_relay_duplicate_is_dropped_before_any_cryptography() {
        let p = pair();
        let (conv, sign) = derive_chat_keys(&p.party, &p.us.public_key()).unwrap();
        let event = wrap_chat_message(&p.party, &conv, &sign, "again").await.unwrap();
        let mut gate = Gate::default();
        assert!(check(&p, &mut gate, &event).await.is_ok());
        assert_eq!(check(&p, &mut gate, &event).await, Err(Rejected::Duplicate));
    }

    #[tokio::test]
    async fn a_stranger_with_the_channel_keys_cannot_spend_the_party_tokens() {
        let p = pair();
        let stranger = Keys::generate();
        let mut gate = Gate::default();
        for n in 0..RATE_BURST * 2 {
            let forged = wrap_chat_message(&stranger, &p.ours.conv, &p.ours.sign, &format!("{n}")).await.unwrap();
            assert!(matches!(check(&p, &mut gate, &forged).await, Err(Rejected::Envelope(_))));
        }
        let (conv, sign) = derive_chat_keys(&p.party, &p.us.public_key()).unwrap();
        let genuine = wrap_chat_message(&p.party, &conv, &sign, "still here").await.unwrap();
        assert!(matches!(check(&p, &mut gate, &genuine).await, Ok(Received::Message(_))));
    }

    #[tokio::test]
    async fn a_message_the_limit_turns_away_is_taken_in_when_handed_over_again() {
        let p = pair();
        let (conv, sign) = derive_chat_keys(&p.party, &p.us.public_key()).unwrap();
        let (mut gate, now) = (Gate::default(), Timestamp::now());
        for n in 0..RATE_BURST {
            let event = wrap_chat_message(&p.party, &conv, &sign, &format!("{n}")).await.unwrap();
            assert!(receive(&p.ours, &p.us.public_key(), &mut gate, &event, now).await.is_ok());
        }
        let late = wrap_chat_message(&p.party, &conv, &sign, "one too many").await.unwrap();
        assert_eq!(receive(&p.ours, &p.us.public_key(), &mut gate, &late, now).await, Err(Rejected::RateLimited));
        let later = Timestamp::from_secs(now.as_secs() + 10);
        let again = receive(&p.ours, &p.us.public_key(), &mut gate, &late, later).await;
        assert!(matches!(&again, Ok(Received::Message(m)) if m.content == "one too many"), "{again:?}");
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_refill_rate() {
        let mut bucket = TokenBucket::new(3, 30);
        // (second, allowed)
        let steps = [(0, true), (0, true), (0, true), (0, false), (1, false), (2, true), (2, false), (100, true)];
        for (i, (at, allowed)) in steps.into_iter().enumerate() {
            assert_eq!(bucket.try_take(at), allowed, "step {i} at {at}s");
        }
        let mut refilled = TokenBucket::new(3, 30);
        for _ in 0..3 {
            assert!(refilled.try_take(0));
        }
        assert_eq!((0..10).filter(|_| refilled.try_take(3_600)).count(), 3, "refill stops at the burst");
    }

    #[test]
    fn recent_ids_forget_the_oldest_first() {
        let ids: Vec<EventId> = (0..3u8).map(|i| EventId::from_byte_array([i; 32])).collect();
        let mut recent = RecentIds::new(2);
        assert!(recent.insert(ids[0]) && recent.insert(ids[1]));
        assert!(!recent.insert(ids[0]));
        assert!(recent.insert(ids[2]));
        assert!(recent.insert(ids[0]), "the oldest was forgotten");
        assert!(!recent.insert(ids[2]));
    }

    #[test]
    fn parties_read_back_from_storage() {
        for party in Party::BOTH {
            assert_eq!(Party::parse(party.as_str()), Some(party));
        }
        assert_eq!(Party::parse("admin"), None);
    }
}
