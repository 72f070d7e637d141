//! Solver DMs on the wire, in two forms: NIP-17 private messages (kind 14 rumor, kind 13 seal
//! signed by Serbero, kind 1059 wrap signed by a one-time key, no extra rumor tags) for generic
//! Nostr clients, and Mostro protocol v2 `send-dm` messages (kind 14 signed by Serbero, built
//! with mostro-core's own wrapping) for Mostrix.

use mostro_core::message::{Action, Message, Payload};
use mostro_core::nip59::WrapOptions;
use mostro_core::transport::wrap_message_nip44;
use nostr_sdk::{Event, EventBuilder, Keys, PublicKey};
use uuid::Uuid;

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

/// Builds and signs one `send-dm`: `MessageKind.id` = the dispute, payload `text_message`,
/// signed tuple, Serbero's key as both identity and trade key (Mostrix checks the event author),
/// no proof of work, no expiration, the real time (never back-dated: Mostrix's 12-hour handoff
/// window and its one-hour resume overlap count from it).
pub fn mostrix_dm(
    sender: &Keys,
    recipient: &PublicKey,
    dispute: Uuid,
    text: &str,
) -> Result<Event, mostro_core::error::MostroError> {
    let message = Message::new_dm(Some(dispute), None, Action::SendDm, Some(Payload::TextMessage(text.to_string())));
    wrap_message_nip44(&message, sender, sender, *recipient, WrapOptions::default())
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

    /// Read without mostro-core: the NIP-44 plaintext is the documented tuple, byte for byte,
    /// and its signature is Schnorr over the SHA-256 of the message JSON by Serbero's key.
    #[test]
    fn the_send_dm_is_the_documented_signed_tuple() {
        use nostr_sdk::hashes::{sha256, Hash};
        use nostr_sdk::nips::nip44;
        use nostr_sdk::secp256k1::{schnorr::Signature, Message as Digest};
        let (serbero, solver) = (Keys::generate(), Keys::generate());
        let dispute = Uuid::parse_str("58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a").unwrap();
        let text = "Dispute 58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a \u{b7} taken\nline";
        let event = mostrix_dm(&serbero, &solver.public_key(), dispute, text).unwrap();
        event.verify().unwrap();
        assert_eq!(event.kind, Kind::PrivateDirectMessage);
        assert_eq!(event.pubkey, serbero.public_key());
        let tags: Vec<Vec<String>> = event.tags.iter().map(|t| t.as_slice().to_vec()).collect();
        assert_eq!(tags, [vec!["p".to_string(), solver.public_key().to_hex()]]);

        let plain = nip44::decrypt(solver.secret_key(), &serbero.public_key(), &event.content).unwrap();
        let message = "{\"dm\":{\"version\":2,\"request_id\":null,\"trade_index\":null,\
                       \"id\":\"58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a\",\"action\":\"send-dm\",\
                       \"payload\":{\"text_message\":\"Dispute 58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a \u{b7} taken\\nline\"}}}";
        let sig = plain
            .strip_prefix(&format!("[{message},\""))
            .and_then(|rest| rest.strip_suffix("\",null]"))
            .unwrap_or_else(|| panic!("not the documented tuple: {plain}"));
        let sig: Signature = sig.parse().unwrap();
        let digest = Digest::from_digest(sha256::Hash::hash(message.as_bytes()).to_byte_array());
        let author = serbero.public_key().xonly().unwrap();
        nostr_sdk::SECP256K1.verify_schnorr(&sig, &digest, &author).unwrap();
    }
}
