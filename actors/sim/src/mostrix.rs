//! A solver's Mostrix, as far as its SERBERO pane goes: what it subscribes to, which events it
//! accepts from a trusted assistant, how it links a message to a dispute, what subject it shows
//! and which messages ring an alert. Behaviour by behaviour after MostroP2P/mostrix
//! `src/util/solver_dms/mod.rs` (0ff5de10: `parse_solver_dm`, `dispute_id_from_text`,
//! `subject_from_text`, `needs_action`, `capped_created_at`), `src/util/solver_dms/listener.rs`
//! (7d32235e: one subscription, kind 14 from the trusted senders to the admin key, live first
//! with `limit 0`, then history from 7 days back) and `src/util/solver_dms/store.rs` (029e3e73:
//! stored once per event id; only a newly stored message reaches the pane or rings).
//! Opening uses mostro-core's own `unwrap_message_nip44`, as Mostrix does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mostro_core::message::{Action, Payload};
use mostro_core::transport::unwrap_message_nip44;
use nostr_sdk::prelude::*;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::connected_client;

/// Mostrix's first backfill reaches this far back (`listener.rs`, first run).
const FIRST_BACKFILL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One message as the SERBERO pane holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneMessage {
    pub event_id: EventId,
    pub sender: PublicKey,
    /// `None`: stored, never shown (the pane is indexed by dispute).
    pub dispute_id: Option<String>,
    pub subject: String,
    pub text: String,
    pub created_at: i64,
}

impl PaneMessage {
    /// Handoffs and failed openings: the pane marks them and the terminal rings.
    pub fn needs_action(&self) -> bool {
        self.subject.starts_with("handed off") || self.subject.starts_with("mediation could not start")
    }
}

/// A solver running Mostrix with `admin_privkey` = `admin` and `trusted_dm_senders` = `trusted`.
pub struct MostrixInbox {
    pub admin: Keys,
    stored: Arc<Mutex<Vec<PaneMessage>>>,
    arrived: Arc<Notify>,
    client: Client,
    reader: JoinHandle<()>,
}

impl MostrixInbox {
    pub async fn start(admin: Keys, trusted: Vec<PublicKey>, relay: &RelayUrl) -> anyhow::Result<Self> {
        let client = connected_client(&admin, relay).await?;
        let stored = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let filter = Filter::new().kind(Kind::PrivateDirectMessage).authors(trusted.clone()).pubkey(admin.public_key());
        let mut notifications = client.notifications();
        if !trusted.is_empty() {
            client.subscribe(filter.clone().limit(0), None).await?;
            let since = Timestamp::now() - FIRST_BACKFILL;
            for event in client.fetch_events(filter.since(since), Duration::from_secs(5)).await? {
                store(&stored, &arrived, &event, &admin, &trusted);
            }
        }
        let (sink, bell, me) = (stored.clone(), arrived.clone(), admin.clone());
        let reader = tokio::spawn(async move {
            while let Ok(notification) = notifications.recv().await {
                if let RelayPoolNotification::Event { event, .. } = notification {
                    store(&sink, &bell, &event, &me, &trusted);
                }
            }
        });
        Ok(Self { admin, stored, arrived, client, reader })
    }

    pub fn pubkey(&self) -> PublicKey {
        self.admin.public_key()
    }

    /// Everything stored, oldest first by arrival.
    pub fn messages(&self) -> Vec<PaneMessage> {
        self.stored.lock().expect("pane lock").clone()
    }

    /// The pane of one dispute, as a solver sees it under Disputes in Progress.
    pub fn pane(&self, dispute_id: &str) -> Vec<PaneMessage> {
        self.messages().into_iter().filter(|m| m.dispute_id.as_deref() == Some(dispute_id)).collect()
    }

    /// How many times the terminal rang: once per newly stored message that needs action.
    pub fn alerts(&self) -> usize {
        self.messages().iter().filter(|m| m.needs_action()).count()
    }

    /// Waits until at least `n` messages are stored; false on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.arrived.notified();
                if self.messages().len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }

    pub async fn stop(self) {
        self.reader.abort();
        self.client.shutdown().await;
    }
}

/// Insert-or-ignore by event id, as the `solver_dms` table does.
fn store(stored: &Mutex<Vec<PaneMessage>>, arrived: &Notify, event: &Event, admin: &Keys, trusted: &[PublicKey]) {
    let Some(message) = parse(event, admin, trusted) else { return };
    let mut stored = stored.lock().expect("pane lock");
    if stored.iter().any(|m| m.event_id == message.event_id) {
        return;
    }
    stored.push(message);
    arrived.notify_waiters();
}

/// `parse_solver_dm`: kind 14 from a trusted author, opened with the admin key, action `send-dm`
/// with a text payload; anything else is dropped.
fn parse(event: &Event, admin: &Keys, trusted: &[PublicKey]) -> Option<PaneMessage> {
    if event.kind != Kind::PrivateDirectMessage || !trusted.contains(&event.pubkey) {
        return None;
    }
    let unwrapped = unwrap_message_nip44(event, admin).ok()??;
    let kind = unwrapped.message.get_inner_message_kind();
    let (Action::SendDm, Some(Payload::TextMessage(text))) = (&kind.action, &kind.payload) else {
        return None;
    };
    let dispute_id = kind.id.or_else(|| dispute_id_from_text(text));
    Some(PaneMessage {
        event_id: event.id,
        sender: event.pubkey,
        dispute_id: dispute_id.map(|id| id.to_string()),
        subject: subject_from_text(text),
        text: text.clone(),
        created_at: (unwrapped.created_at.as_secs() as i64).min(Timestamp::now().as_secs() as i64),
    })
}

/// A UUID in the first two lines, tokens cut at anything but hex digits and `-`.
fn dispute_id_from_text(text: &str) -> Option<Uuid> {
    text.lines()
        .take(2)
        .flat_map(|line| line.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')))
        .filter(|token| token.len() == 36)
        .find_map(|token| Uuid::parse_str(token).ok())
}

/// What follows `Dispute <id> · ` on the first line, or the whole first line without it.
fn subject_from_text(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim();
    match first.split_once(" · ") {
        Some((head, subject)) if head.starts_with("Dispute ") => subject.trim().to_string(),
        _ => first.to_string(),
    }
}
