//! What every actor that stores state and sends DMs starts from (Dispute, EscalationDispatcher,
//! Sessions and each MediationSession): Root builds it once from the configuration.

use std::path::PathBuf;

use nostr_sdk::Keys;
use ractor::DerivedActorRef;
use serbero_core::config::OutboxSettings;

use crate::clock::Clock;
use crate::outbox::{DeliveryDue, Outbox, Owner, Wiring};
use crate::relay::{PublishOutcome, RelayRef};

#[derive(Clone)]
pub struct Base {
    /// The actor opens its own connection to this database.
    pub db_path: PathBuf,
    /// Serbero's keys: every DM is signed with them.
    pub keys: Keys,
    pub outbox: OutboxSettings,
    pub relay: RelayRef,
    pub clock: Clock,
}

impl Base {
    /// `owner`'s outbox, publishing through Relay and reporting to the owner's `published` and
    /// `due` refs.
    pub fn outbox(
        &self,
        owner: Owner,
        published: DerivedActorRef<PublishOutcome>,
        due: DerivedActorRef<DeliveryDue>,
    ) -> Outbox {
        let wiring = Wiring { relay: self.relay.clone(), published, due, clock: self.clock };
        Outbox::new(owner, &self.outbox, wiring)
    }
}
