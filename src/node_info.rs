//! The Mostro node's info event (kind 38385): which transport it speaks, the proof of work it
//! demands, and whether it announces Serbero as its registered assistant solver.

use mostro_core::nip59::WrapOptions;
use mostro_core::transport::Transport;
use nostr_sdk::{Event, Kind, PublicKey, TagKind};

use crate::dispute::Rejection;

/// Kind of Mostro's addressable node information event.
pub const NODE_INFO_KIND: u16 = 38385;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// `protocol_version` tag; an old node without one speaks version 1.
    pub protocol_version: u8,
    /// Proof-of-work difficulty the node demands of every message (`pow`).
    pub pow: u8,
    /// Difficulty demanded of senders the node does not know yet (`pow_first_contact`); `None`
    /// when not announced (nodes from 0.18.0 enforced it before 0.18.1 announced it).
    pub pow_first_contact: Option<u8>,
    /// The key the node announces as its Serbero (`serbero` tag), registered as a read solver.
    pub serbero: Option<PublicKey>,
    pub created_at: i64,
}

/// Guesses at an unannounced first-contact demand, for the take's second and later attempts:
/// mostrod's sample settings suggest 16 bits; 20 is the last step before mining gets slow.
const UNANNOUNCED_FIRST_CONTACT_GUESSES: [u8; 2] = [16, 20];

impl Default for NodeInfo {
    /// mostrod 0.18.5's defaults: protocol v2, no proof of work, no Serbero announced.
    fn default() -> Self {
        Self { protocol_version: 2, pow: 0, pow_first_contact: None, serbero: None, created_at: 0 }
    }
}

impl NodeInfo {
    /// Protocol v2 (signed kind 14, the default since Mostro 0.18.5) or, for older nodes, v1
    /// (NIP-59 gift wrap). mostro-core's own default is v1, so the choice is always explicit.
    #[allow(deprecated)] // v1 is deprecated upstream, but nodes before 0.18.5 speak nothing else.
    pub fn transport(&self) -> Transport {
        if self.protocol_version >= 2 {
            Transport::Nip44Direct
        } else {
            Transport::GiftWrap
        }
    }

    /// How the take's `attempt`-th try (1 is the first) is wrapped: signed, with the proof of
    /// work the node demands.
    pub fn wrap_options_for_attempt(&self, attempt: u32) -> WrapOptions {
        WrapOptions { pow: self.pow_for_attempt(attempt), expiration: None, signed: true }
    }

    /// The difficulty to mine: the higher demand, since the node may not know us yet.
    pub fn required_pow(&self) -> u8 {
        self.pow.max(self.pow_first_contact.unwrap_or(0))
    }

    /// The difficulty for a take's `attempt`-th try. A v2 node that announces no first-contact
    /// demand may still enforce one it does not announce (spec/mostro-protocol.md §14.6): a try
    /// that went unanswered is followed by one with more work.
    pub fn pow_for_attempt(&self, attempt: u32) -> u8 {
        let guess = match (self.protocol_version >= 2, self.pow_first_contact, attempt) {
            (true, None, 2..) => {
                let step = (attempt as usize - 2).min(UNANNOUNCED_FIRST_CONTACT_GUESSES.len() - 1);
                UNANNOUNCED_FIRST_CONTACT_GUESSES[step]
            }
            _ => 0,
        };
        self.required_pow().max(guess)
    }

    /// Whether the node announces `us` as its registered Serbero.
    pub fn registers(&self, us: &PublicKey) -> bool {
        self.serbero.as_ref() == Some(us)
    }
}

/// What the node's `serbero` tag says about us, as the operator should hear it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// The node announces our key: it vouches for us as its assistant.
    Ours,
    /// The node announces another key as its Serbero.
    Foreign(PublicKey),
    /// The node announces no Serbero (mostrod before 0.19.1, or `serbero_pubkey` unset).
    Absent,
}

/// How loud a log line is; the daemon maps it onto its logger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
}

impl Announcement {
    pub fn of(info: &NodeInfo, us: &PublicKey) -> Self {
        match info.serbero {
            None => Announcement::Absent,
            Some(key) if key == *us => Announcement::Ours,
            Some(key) => Announcement::Foreign(key),
        }
    }

    /// The line the operator reads; `us` is named so a foreign announcement can be fixed.
    pub fn log_line(&self, us: &PublicKey) -> (LogLevel, String) {
        match self {
            Announcement::Ours => (
                LogLevel::Info,
                "the Mostro node vouches for us: its info event announces our key as its Serbero".to_owned(),
            ),
            Announcement::Foreign(announced) => (
                LogLevel::Warn,
                format!(
                    "the Mostro node announces another key as its Serbero ({}), not ours ({}): apps will label \
                     this Serbero as a human solver, and on mostrod 0.19.1 or later the node registered that key \
                     as its assistant; if this Serbero is meant to be it, set the node's serbero_pubkey to our key",
                    announced.to_hex(),
                    us.to_hex()
                ),
            ),
            Announcement::Absent => (
                LogLevel::Debug,
                "the Mostro node announces no Serbero key (mostrod before 0.19.1, or serbero_pubkey unset)".to_owned(),
            ),
        }
    }
}

/// Whether the info event `info` calls for the announcement check's log line: the first one
/// seen (`previous` is `None`), then only one that changes the announced key.
pub fn announcement_to_log(previous: Option<&NodeInfo>, info: &NodeInfo, us: &PublicKey) -> Option<Announcement> {
    match previous {
        Some(previous) if previous.serbero == info.serbero => None,
        _ => Some(Announcement::of(info, us)),
    }
}

/// Checks that `event` is the node's own info event and reads its tags. A tag with a value that
/// does not parse is an error rather than a silent default: a wrong transport or difficulty would
/// make every message to the node vanish.
pub fn parse_node_info(event: &Event, mostro: &PublicKey) -> Result<NodeInfo, Rejection> {
    if event.kind != Kind::Custom(NODE_INFO_KIND) {
        return Err(Rejection::WrongKind(event.kind.as_u16()));
    }
    if event.pubkey != *mostro {
        return Err(Rejection::WrongAuthor(event.pubkey.to_hex()));
    }
    event.verify().map_err(|_| Rejection::BadSignature)?;
    let number = |name: &'static str| -> Result<Option<u8>, Rejection> {
        match value(event, name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| Rejection::InvalidTag { tag: name, value: clip(v) }),
        }
    };
    let serbero = match value(event, "serbero") {
        None => None,
        Some(v) => Some(PublicKey::parse(v).map_err(|_| Rejection::InvalidTag { tag: "serbero", value: clip(v) })?),
    };
    Ok(NodeInfo {
        protocol_version: number("protocol_version")?.unwrap_or(1),
        pow: number("pow")?.unwrap_or(0),
        pow_first_contact: number("pow_first_contact")?,
        serbero,
        created_at: event.created_at.as_secs() as i64,
    })
}

fn value<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event.tags.iter().find(|t| t.kind() == TagKind::from(name)).and_then(|t| t.content())
}

fn clip(value: &str) -> String {
    value.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::{EventBuilder, Keys, Tag};

    fn info(keys: &Keys, tags: &[&[&str]]) -> Event {
        let tags = tags.iter().map(|t| Tag::parse(t.iter().copied()).unwrap());
        EventBuilder::new(Kind::Custom(NODE_INFO_KIND), "").tags(tags).sign_with_keys(keys).unwrap()
    }

    #[test]
    fn reads_transport_pow_and_the_announced_serbero() {
        let (mostro, serbero) = (Keys::generate(), Keys::generate());
        let us = serbero.public_key().to_hex();
        let announced: [&str; 2] = ["serbero", &us];
        // (tags, protocol version, transport, required pow, registers us)
        type Case<'a> = (Vec<&'a [&'a str]>, u8, u8, bool);
        let cases: Vec<Case> = vec![
            (vec![], 1, 0, false),
            (vec![&["protocol_version", "1"], &["pow", "3"]], 1, 3, false),
            (vec![&["protocol_version", "2"], &["pow", "2"], &["pow_first_contact", "12"]], 2, 12, false),
            (vec![&["protocol_version", "2"], &announced], 2, 0, true),
        ];
        for (tags, version, pow, registered) in cases {
            let parsed = parse_node_info(&info(&mostro, &tags), &mostro.public_key()).unwrap();
            assert_eq!(parsed.protocol_version, version, "{tags:?}");
            assert_eq!(parsed.transport().protocol_version(), version, "{tags:?}");
            assert_eq!(parsed.wrap_options_for_attempt(1).pow, pow, "{tags:?}");
            assert_eq!(parsed.required_pow(), pow, "{tags:?}");
            assert_eq!(parsed.registers(&serbero.public_key()), registered, "{tags:?}");
        }
    }

    #[test]
    fn an_unanswered_take_is_tried_with_more_work_only_where_the_demand_is_unknown() {
        let v2 = |pow, first| NodeInfo { pow, pow_first_contact: first, ..NodeInfo::default() };
        let v1 = NodeInfo { protocol_version: 1, pow: 3, ..NodeInfo::default() };
        // (node, pow of attempts 1 to 4)
        let cases = [
            (v2(0, None), [0, 16, 20, 20]),
            (v2(18, None), [18, 18, 20, 20]),
            (v2(0, Some(0)), [0, 0, 0, 0]),
            (v2(2, Some(12)), [12, 12, 12, 12]),
            (v1, [3, 3, 3, 3]),
        ];
        for (node, want) in cases {
            let got: Vec<u8> = (1..=4).map(|attempt| node.wrap_options_for_attempt(attempt).pow).collect();
            assert_eq!(got, want, "{node:?}");
        }
    }

    #[test]
    fn the_announcement_is_logged_on_the_first_info_event_and_when_the_key_changes() {
        let (us, them, others) = (Keys::generate().public_key(), Keys::generate().public_key(), Keys::generate());
        let announcing = |serbero: Option<PublicKey>| NodeInfo { serbero, ..NodeInfo::default() };
        let (ours, foreign, absent) = (announcing(Some(us)), announcing(Some(them)), announcing(None));
        let other_foreign = announcing(Some(others.public_key()));
        let more_pow = NodeInfo { pow: 8, ..ours.clone() };
        // (info seen before this boot's current one, current one, what is logged)
        let cases: [(Option<&NodeInfo>, &NodeInfo, Option<Announcement>); 11] = [
            (None, &ours, Some(Announcement::Ours)),
            (None, &foreign, Some(Announcement::Foreign(them))),
            (None, &absent, Some(Announcement::Absent)),
            (Some(&ours), &more_pow, None),
            (Some(&ours), &ours, None),
            (Some(&foreign), &foreign, None),
            (Some(&absent), &absent, None),
            (Some(&absent), &foreign, Some(Announcement::Foreign(them))),
            (Some(&foreign), &ours, Some(Announcement::Ours)),
            (Some(&ours), &absent, Some(Announcement::Absent)),
            (Some(&foreign), &other_foreign, Some(Announcement::Foreign(others.public_key()))),
        ];
        for (previous, info, want) in cases {
            assert_eq!(announcement_to_log(previous, info, &us), want, "{previous:?} then {info:?}");
        }
        let levels: Vec<LogLevel> = [Announcement::Ours, Announcement::Foreign(them), Announcement::Absent]
            .iter()
            .map(|announcement| announcement.log_line(&us).0)
            .collect();
        assert_eq!(levels, [LogLevel::Info, LogLevel::Warn, LogLevel::Debug]);
        let (_, warning) = Announcement::Foreign(them).log_line(&us);
        assert!(warning.contains(&them.to_hex()) && warning.contains(&us.to_hex()), "{warning}");
        assert!(warning.contains("human solver") && warning.contains("serbero_pubkey"), "{warning}");
        assert!(Announcement::Ours.log_line(&us).1.contains("vouches for us"));
    }

    #[test]
    fn rejects_what_it_cannot_trust() {
        let mostro = Keys::generate();
        let other = Keys::generate();
        let forged = info(&other, &[&["protocol_version", "2"]]);
        assert_eq!(
            parse_node_info(&forged, &mostro.public_key()),
            Err(Rejection::WrongAuthor(other.public_key().to_hex()))
        );
        let bad = [
            (&["protocol_version", "two"][..], "protocol_version"),
            (&["pow", "-1"][..], "pow"),
            (&["serbero", "nobody"][..], "serbero"),
        ];
        for (tag, name) in bad {
            let err = parse_node_info(&info(&mostro, &[tag]), &mostro.public_key()).unwrap_err();
            assert!(matches!(err, Rejection::InvalidTag { tag, .. } if tag == name), "{err}");
        }
    }
}
