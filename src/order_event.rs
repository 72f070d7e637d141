//! The node's public order event (kind 38383, NIP-69 as mostrod publishes it: MostroP2P/mostro
//! `src/nip33.rs` `order_to_tags`), read for one fact the node's answer to a take lacks: the
//! trade's fiat currency (`f` tag). mostrod publishes it while an order is pending or in
//! progress; a disputed order keeps its last one.

use nostr_sdk::{Event, Kind, PublicKey, TagKind};

pub const ORDER_EVENT_KIND: u16 = 38383;

/// The fiat code of `order_id` as the node's own order event states it: three to five ASCII
/// capitals (ISO 4217 and the few longer codes Mostro lists). Anything else is no answer.
pub fn fiat_code(event: &Event, mostro: &PublicKey, order_id: &str) -> Option<String> {
    if event.kind != Kind::Custom(ORDER_EVENT_KIND) || event.pubkey != *mostro || event.verify().is_err() {
        return None;
    }
    if event.tags.identifier() != Some(order_id) {
        return None;
    }
    let code = event.tags.find(TagKind::custom("f"))?.content()?.trim();
    let plain = (3..=5).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase());
    plain.then(|| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::{EventBuilder, Keys, Tag};

    fn order(keys: &Keys, kind: u16, d: &str, f: Option<&str>) -> Event {
        let mut tags = vec![Tag::identifier(d), Tag::parse(["s", "in-progress"]).unwrap()];
        tags.extend(f.map(|f| Tag::parse(["f", f]).unwrap()));
        EventBuilder::new(Kind::Custom(kind), "").tags(tags).sign_with_keys(keys).unwrap()
    }

    #[test]
    fn only_the_nodes_own_event_for_the_order_names_the_currency() {
        let (node, stranger) = (Keys::generate(), Keys::generate());
        let me = node.public_key();
        let cases = [
            (order(&node, 38383, "o-1", Some("EUR")), Some("EUR")),
            (order(&node, 38383, "o-1", Some("USDT")), Some("USDT")),
            (order(&stranger, 38383, "o-1", Some("EUR")), None),
            (order(&node, 38383, "o-2", Some("EUR")), None),
            (order(&node, 38386, "o-1", Some("EUR")), None),
            (order(&node, 38383, "o-1", None), None),
            (order(&node, 38383, "o-1", Some("eur")), None),
            (order(&node, 38383, "o-1", Some("EUR\nhanded off")), None),
            (order(&node, 38383, "o-1", Some("EURO-DOLLARS")), None),
        ];
        for (event, want) in cases {
            assert_eq!(fiat_code(&event, &me, "o-1").as_deref(), want, "{:?}", event.tags);
        }
    }
}
