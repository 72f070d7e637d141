//! Solver DMs on the wire: NIP-17 private messages (kind 14 rumor, kind 13 seal signed by
//! Serbero, kind 1059 wrap signed by a one-time key), with no extra rumor tags.

use nostr_sdk::{Event, EventBuilder, Keys, PublicKey};

/// Builds and signs one gift-wrapped DM. CPU-bound (two NIP-44 encryptions, two signatures):
/// callers run many of these in parallel. The event is stored before it is first published, so
/// a retry re-publishes the same event id and receivers see one message.
pub async fn gift_wrapped_dm(
    sender: &Keys,
    recipient: &PublicKey,
    text: &str,
) -> Result<Event, nostr_sdk::event::builder::Error> {
    EventBuilder::private_msg(sender, *recipient, text, []).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::nips::nip59::UnwrappedGift;
    use nostr_sdk::Kind;

    #[tokio::test]
    async fn recipient_unwraps_the_exact_text() {
        let (serbero, solver) = (Keys::generate(), Keys::generate());
        let text = "New Mostro dispute requires attention.\ndispute_id: d";
        let wrap = gift_wrapped_dm(&serbero, &solver.public_key(), text).await.unwrap();
        assert_eq!(wrap.kind, Kind::GiftWrap);
        assert_ne!(wrap.pubkey, serbero.public_key(), "the wrap is signed by a one-time key");
        let gift = UnwrappedGift::from_gift_wrap(&solver, &wrap).await.unwrap();
        assert_eq!(gift.sender, serbero.public_key());
        assert_eq!(gift.rumor.kind, Kind::PrivateDirectMessage);
        assert_eq!(gift.rumor.content, text);
    }
}
