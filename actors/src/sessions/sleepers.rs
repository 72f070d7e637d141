//! The sessions that hibernate: what wakes each (a party writing on one of its channels, or its
//! next timer), kept by the Sessions supervisor in a few hundred bytes per dispute.

use std::collections::HashMap;

use nostr_sdk::{Event, Kind, PublicKey, TagKind};

use crate::session::Hibernating;

#[derive(Default)]
pub struct Sleepers {
    wake_at: HashMap<String, Option<i64>>,
    /// Channel keys (signing and legacy) of sessions asleep or woken and not yet watching again.
    by_key: HashMap<PublicKey, String>,
}

impl Sleepers {
    pub fn add(&mut self, asleep: Hibernating) {
        for key in asleep.keys {
            self.by_key.insert(key, asleep.dispute_id.clone());
        }
        self.wake_at.insert(asleep.dispute_id, asleep.wake_at);
    }

    /// Takes `dispute_id` out of the sleepers; false when it was not asleep. Its keys stay known
    /// until it finishes, for events the relay still hands over while it wakes.
    pub fn wake(&mut self, dispute_id: &str) -> bool {
        self.wake_at.remove(dispute_id).is_some()
    }

    pub fn is_asleep(&self, dispute_id: &str) -> bool {
        self.wake_at.contains_key(dispute_id)
    }

    /// Forgets a session that finished.
    pub fn forget(&mut self, dispute_id: &str) {
        self.wake_at.remove(dispute_id);
        self.by_key.retain(|_, d| d != dispute_id);
    }

    /// The dispute a chat event belongs to: by its author (kind 14) or `p` tag (legacy).
    pub fn dispute_of(&self, event: &Event) -> Option<&String> {
        let key = match event.kind {
            Kind::GiftWrap => {
                let p = event.tags.iter().find(|t| t.kind() == TagKind::p()).and_then(|t| t.content())?;
                PublicKey::from_hex(p).ok()?
            }
            _ => event.pubkey,
        };
        self.by_key.get(&key)
    }

    /// Sessions whose timer is due at `now`.
    pub fn due(&self, now: i64) -> Vec<String> {
        self.wake_at.iter().filter(|(_, at)| at.is_some_and(|at| at <= now)).map(|(d, _)| d.clone()).collect()
    }

    pub fn next_wake(&self) -> Option<i64> {
        self.wake_at.values().flatten().min().copied()
    }

    pub fn all(&self) -> Vec<String> {
        self.wake_at.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.wake_at.len()
    }
}
