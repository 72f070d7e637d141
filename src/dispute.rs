//! The Mostro dispute event (kind 38386) as Serbero reads it: author and signature re-checked,
//! tags parsed into a typed [`DisputeEvent`]. Anything malformed is rejected with a reason the
//! caller logs; nothing here touches storage.

use std::fmt;

use nostr_sdk::{Event, Kind, PublicKey, TagKind};

/// Kind of Mostro's addressable dispute event.
pub const DISPUTE_EVENT_KIND: u16 = 38386;

/// Longest tag value we accept. Dispute ids are UUIDs and statuses are short words; a longer
/// value is not something Mostro publishes and would only bloat logs and rows.
pub const MAX_TAG_VALUE_LEN: usize = 128;

/// Mostro's dispute status (`s` tag). Unknown values are kept, not rejected: newer nodes may add
/// statuses, and a consumer must treat them as "other".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisputeStatus {
    Initiated,
    InProgress,
    Settled,
    SellerRefunded,
    Released,
    CooperativelyCanceled,
    Other(String),
}

impl DisputeStatus {
    pub fn parse(value: &str) -> Self {
        match value {
            "initiated" => Self::Initiated,
            "in-progress" => Self::InProgress,
            "settled" => Self::Settled,
            "seller-refunded" => Self::SellerRefunded,
            "released" => Self::Released,
            "cooperatively-canceled" => Self::CooperativelyCanceled,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Initiated => "initiated",
            Self::InProgress => "in-progress",
            Self::Settled => "settled",
            Self::SellerRefunded => "seller-refunded",
            Self::Released => "released",
            Self::CooperativelyCanceled => "cooperatively-canceled",
            Self::Other(value) => value,
        }
    }

    /// Statuses that close the dispute on Mostro's side.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Settled | Self::SellerRefunded | Self::Released | Self::CooperativelyCanceled)
    }
}

impl fmt::Display for DisputeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Trade role of the party that opened the dispute. Mostro writes `unknown` on some auto-close
/// revisions; an `initiated` event must name a real role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    Buyer,
    Seller,
    Unknown,
}

impl Initiator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::Unknown => "unknown",
        }
    }

    /// As stored in `disputes.initiator_role`.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Buyer, Self::Seller, Self::Unknown].into_iter().find(|i| i.as_str() == value)
    }
}

/// A dispute event that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeEvent {
    pub dispute_id: String,
    pub status: DisputeStatus,
    pub initiator: Initiator,
    /// Lowercase hex of a `p` tag, if one names a key. Real Mostro never sends one.
    pub assigned_solver: Option<String>,
    pub event_id: String,
    pub mostro_pubkey: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("kind {0} is not a dispute event")]
    WrongKind(u16),
    #[error("author {0} is not the configured Mostro key")]
    WrongAuthor(String),
    #[error("bad id or signature")]
    BadSignature,
    #[error("missing `{0}` tag")]
    MissingTag(&'static str),
    #[error("`{tag}` tag value is {len} bytes, over the {MAX_TAG_VALUE_LEN}-byte limit")]
    TagTooLong { tag: &'static str, len: usize },
    #[error("invalid initiator role `{0}`")]
    InvalidInitiator(String),
    #[error("`{tag}` tag value `{value}` is not valid")]
    InvalidTag { tag: &'static str, value: String },
}

/// Checks that `event` is a genuine dispute event from `mostro` and parses its tags.
/// The relay filter already asks for this author; we do not trust relays to honour it.
pub fn parse_dispute_event(event: &Event, mostro: &PublicKey) -> Result<DisputeEvent, Rejection> {
    if event.kind != Kind::Custom(DISPUTE_EVENT_KIND) {
        return Err(Rejection::WrongKind(event.kind.as_u16()));
    }
    if event.pubkey != *mostro {
        return Err(Rejection::WrongAuthor(event.pubkey.to_hex()));
    }
    event.verify().map_err(|_| Rejection::BadSignature)?;

    let dispute_id = bounded("d", first_value(event, "d"))?.ok_or(Rejection::MissingTag("d"))?;
    let status = bounded("s", first_value(event, "s"))?.ok_or(Rejection::MissingTag("s"))?;
    let status = DisputeStatus::parse(status);
    let initiator = parse_initiator(bounded("initiator", first_value(event, "initiator"))?, &status)?;
    let assigned_solver = first_value(event, "p")
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase);

    Ok(DisputeEvent {
        dispute_id: dispute_id.to_string(),
        status,
        initiator,
        assigned_solver,
        event_id: event.id.to_hex(),
        mostro_pubkey: event.pubkey.to_hex(),
        created_at: event.created_at.as_secs() as i64,
    })
}

/// An `initiated` event must say who opened the dispute; later revisions may not know.
fn parse_initiator(value: Option<&str>, status: &DisputeStatus) -> Result<Initiator, Rejection> {
    let opening = *status == DisputeStatus::Initiated;
    match (value, opening) {
        (Some("buyer"), _) => Ok(Initiator::Buyer),
        (Some("seller"), _) => Ok(Initiator::Seller),
        (None, true) => Err(Rejection::MissingTag("initiator")),
        (None | Some("unknown"), false) => Ok(Initiator::Unknown),
        (Some(other), _) => Err(Rejection::InvalidInitiator(other.to_string())),
    }
}

/// First value of the first tag named exactly `name` (case-sensitive: `S` is not `s`).
fn first_value<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event.tags.iter().find(|tag| tag.kind() == TagKind::from(name)).and_then(|tag| tag.content())
}

fn bounded<'a>(tag: &'static str, value: Option<&'a str>) -> Result<Option<&'a str>, Rejection> {
    match value {
        Some(v) if v.len() > MAX_TAG_VALUE_LEN => Err(Rejection::TagTooLong { tag, len: v.len() }),
        Some("") => Ok(None),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::{EventBuilder, JsonUtil, Keys, Tag, Timestamp};

    fn event(keys: &Keys, tags: &[Vec<&str>]) -> Event {
        let tags = tags.iter().map(|t| Tag::parse(t.iter().copied()).unwrap());
        EventBuilder::new(Kind::Custom(DISPUTE_EVENT_KIND), "")
            .tags(tags)
            .custom_created_at(Timestamp::from(1_700_000_000))
            .sign_with_keys(keys)
            .unwrap()
    }

    const ID: &str = "8a1e4d3c-2b7f-4c9a-9e51-0f6d2a3b4c5d";

    #[test]
    fn statuses_parse_and_print_back() {
        for word in
            ["initiated", "in-progress", "settled", "seller-refunded", "released", "cooperatively-canceled", "paused"]
        {
            assert_eq!(DisputeStatus::parse(word).as_str(), word);
        }
        let terminal: Vec<_> = [
            "initiated",
            "in-progress",
            "settled",
            "seller-refunded",
            "released",
            "cooperatively-canceled",
            "canceled",
        ]
        .iter()
        .filter(|w| DisputeStatus::parse(w).is_terminal())
        .copied()
        .collect();
        assert_eq!(terminal, ["settled", "seller-refunded", "released", "cooperatively-canceled"]);
    }

    #[test]
    fn accepted_events() {
        let mostro = Keys::generate();
        let solver = "ab".repeat(32);
        type Case<'a> = (Vec<Vec<&'a str>>, DisputeStatus, Initiator, Option<&'a str>);
        let cases: Vec<Case> = vec![
            (
                vec![
                    vec!["d", ID],
                    vec!["s", "initiated"],
                    vec!["initiator", "buyer"],
                    vec!["y", "mostro"],
                    vec!["z", "dispute"],
                ],
                DisputeStatus::Initiated,
                Initiator::Buyer,
                None,
            ),
            (
                vec![vec!["d", ID], vec!["s", "in-progress"], vec!["initiator", "seller"], vec!["p", &solver]],
                DisputeStatus::InProgress,
                Initiator::Seller,
                Some(solver.as_str()),
            ),
            (
                vec![vec!["d", ID], vec!["s", "settled"], vec!["initiator", "unknown"]],
                DisputeStatus::Settled,
                Initiator::Unknown,
                None,
            ),
            (vec![vec!["d", ID], vec!["s", "released"]], DisputeStatus::Released, Initiator::Unknown, None),
            (
                vec![vec!["d", ID], vec!["s", "frozen"], vec!["initiator", "buyer"]],
                DisputeStatus::Other("frozen".into()),
                Initiator::Buyer,
                None,
            ),
            // Uppercase S is not the status; the first lowercase one wins.
            (
                vec![
                    vec!["d", ID],
                    vec!["S", "settled"],
                    vec!["s", "initiated"],
                    vec!["s", "settled"],
                    vec!["initiator", "seller"],
                ],
                DisputeStatus::Initiated,
                Initiator::Seller,
                None,
            ),
            // A `p` that is not a key is ignored rather than stored.
            (
                vec![vec!["d", ID], vec!["s", "in-progress"], vec!["initiator", "buyer"], vec!["p", "not-a-key"]],
                DisputeStatus::InProgress,
                Initiator::Buyer,
                None,
            ),
        ];
        for (tags, status, initiator, solver) in cases {
            let ev = event(&mostro, &tags);
            let parsed = parse_dispute_event(&ev, &mostro.public_key()).unwrap();
            assert_eq!(parsed.dispute_id, ID);
            assert_eq!(parsed.status, status, "{tags:?}");
            assert_eq!(parsed.initiator, initiator, "{tags:?}");
            assert_eq!(parsed.assigned_solver.as_deref(), solver, "{tags:?}");
            assert_eq!(parsed.created_at, 1_700_000_000);
            assert_eq!(parsed.event_id, ev.id.to_hex());
        }
    }

    #[test]
    fn rejected_events() {
        let mostro = Keys::generate();
        let huge = "x".repeat(10 * 1024);
        let cases: Vec<(Vec<Vec<&str>>, Rejection)> = vec![
            (vec![vec!["s", "initiated"], vec!["initiator", "buyer"]], Rejection::MissingTag("d")),
            (vec![vec!["d", ""], vec!["s", "initiated"], vec!["initiator", "buyer"]], Rejection::MissingTag("d")),
            (vec![vec!["d", ID], vec!["initiator", "buyer"]], Rejection::MissingTag("s")),
            (vec![vec!["d", ID], vec!["s", "initiated"]], Rejection::MissingTag("initiator")),
            (
                vec![vec!["d", ID], vec!["s", "initiated"], vec!["initiator", "unknown"]],
                Rejection::InvalidInitiator("unknown".into()),
            ),
            (
                vec![vec!["d", ID], vec!["s", "initiated"], vec!["initiator", "Buyer"]],
                Rejection::InvalidInitiator("Buyer".into()),
            ),
            (
                vec![vec!["d", ID], vec!["s", "settled"], vec!["initiator", "mallory"]],
                Rejection::InvalidInitiator("mallory".into()),
            ),
            (
                vec![vec!["d", &huge], vec!["s", "initiated"], vec!["initiator", "buyer"]],
                Rejection::TagTooLong { tag: "d", len: huge.len() },
            ),
            (
                vec![vec!["d", ID], vec!["s", &huge], vec!["initiator", "buyer"]],
                Rejection::TagTooLong { tag: "s", len: huge.len() },
            ),
            (
                vec![vec!["d", ID], vec!["s", "initiated"], vec!["initiator", &huge]],
                Rejection::TagTooLong { tag: "initiator", len: huge.len() },
            ),
        ];
        for (tags, want) in cases {
            let ev = event(&mostro, &tags);
            assert_eq!(parse_dispute_event(&ev, &mostro.public_key()), Err(want), "{tags:?}");
        }
    }

    #[test]
    fn forged_author_and_wrong_kind_are_rejected() {
        let mostro = Keys::generate();
        let forger = Keys::generate();
        let tags = &[vec!["d", ID], vec!["s", "initiated"], vec!["initiator", "buyer"]];
        let forged = event(&forger, tags);
        assert_eq!(
            parse_dispute_event(&forged, &mostro.public_key()),
            Err(Rejection::WrongAuthor(forger.public_key().to_hex()))
        );
        let note = EventBuilder::text_note("hi").sign_with_keys(&mostro).unwrap();
        assert_eq!(parse_dispute_event(&note, &mostro.public_key()), Err(Rejection::WrongKind(1)));
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let mostro = Keys::generate();
        let genuine = event(&mostro, &[vec!["d", ID], vec!["s", "initiated"], vec!["initiator", "buyer"]]);
        // Same id and signature, different content: the id no longer matches.
        let mut json: serde_json::Value = serde_json::from_str(&genuine.as_json()).unwrap();
        json["tags"][2][1] = "seller".into();
        let tampered = Event::from_json(json.to_string()).unwrap();
        assert_eq!(parse_dispute_event(&tampered, &mostro.public_key()), Err(Rejection::BadSignature));
    }
}
