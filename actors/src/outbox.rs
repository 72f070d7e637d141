//! Delivery through the outbox, used by every actor that sends DMs. A DM is built and signed
//! first, then stored as a row in the same transaction as the decision that causes it, keyed by a
//! deterministic idempotency key. The owner then claims due rows, asks Relay to publish them, and
//! records each outcome: `sent` at the first relay's `OK` (from any attempt, however late),
//! otherwise `failed` with a capped backoff and finally `dead_lettered`. A claim expires a while
//! after its send started, not after it was claimed: rows waiting for Relay's send slots are not
//! failing. A retry re-publishes the stored event, so a crash at any point neither loses a DM nor
//! makes a second one.

pub(crate) mod store;

use std::collections::HashMap;
use std::time::Duration;

use nostr_sdk::{Event, JsonUtil, Keys, PublicKey};
use ractor::DerivedActorRef;
use serbero_core::backoff::Backoff;
use serbero_core::config::{Format, Formats, Observer, OutboxSettings, Solver};
use serbero_core::delivery::{RetryPolicy, SendProgress};
use serbero_core::dm::{gift_wrapped_dm, mostrix_dm};
use serbero_core::milestone::Milestone;
use serbero_core::notification::{AttemptStatus, NotifType};
use serbero_core::solver_dm::{dispute_uuid, mostrix_text, Subject};
use tracing::{debug, error, warn};

use crate::clock::Clock;
use crate::db::{Db, DbError};
use crate::relay::{self, PublishOutcome, RelayRef, Stage, Ticket};
use crate::tasks::{self, TaskGuard};

/// Rows claimed per dispatch; more due rows are taken on the next wake-up, at once.
const CLAIM_BATCH: usize = 1000;

/// A DM to build: who gets what, and under which key. `subject` heads its Mostrix form.
#[derive(Debug, Clone)]
pub struct Draft {
    pub idempotency_key: String,
    pub dispute_id: Option<String>,
    pub recipient: PublicKey,
    pub notif_type: NotifType,
    pub subject: Subject,
    pub body: String,
}

impl Draft {
    /// The same message for every one of `recipients`, each under the key `key` gives it.
    pub fn to_each(
        recipients: &[PublicKey],
        dispute_id: &str,
        notif_type: NotifType,
        subject: &Subject,
        body: &str,
        key: impl Fn(&PublicKey) -> String,
    ) -> Vec<Draft> {
        recipients
            .iter()
            .map(|recipient| Draft {
                idempotency_key: key(recipient),
                dispute_id: Some(dispute_id.to_string()),
                recipient: *recipient,
                notif_type,
                subject: subject.clone(),
                body: body.to_string(),
            })
            .collect()
    }
}

/// Each observer's line for `milestone` of `dispute_id` in `scope` (a session id, or `dispute`).
pub fn to_observers(observers: &[Observer], dispute_id: &str, milestone: &Milestone, scope: &str) -> Vec<Draft> {
    let to: Vec<PublicKey> = observers.iter().map(|o| o.pubkey).collect();
    let (subject, line) = (milestone.subject(), milestone.line(dispute_id));
    Draft::to_each(&to, dispute_id, NotifType::Milestone, &subject, &line, |observer| {
        milestone.idempotency_key(dispute_id, scope, &observer.to_hex())
    })
}

/// The forms each configured recipient takes (`formats` of `[[solvers]]` and `[[observers]]`).
#[derive(Debug, Clone, Default)]
pub struct Directory(HashMap<PublicKey, Formats>);

impl Directory {
    pub fn new(solvers: &[Solver], observers: &[Observer]) -> Self {
        let solvers = solvers.iter().map(|s| (s.pubkey, s.formats));
        Self(solvers.chain(observers.iter().map(|o| (o.pubkey, o.formats))).collect())
    }

    /// A key the configuration does not list takes both forms.
    pub fn formats(&self, recipient: &PublicKey) -> Formats {
        self.0.get(recipient).copied().unwrap_or_default()
    }
}

/// A built DM, ready to be stored. `body` is the text as sent.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub idempotency_key: String,
    pub dispute_id: Option<String>,
    pub recipient: String,
    pub notif_type: NotifType,
    /// `None` for a message that is not a DM to a solver or an observer (a party's chat).
    pub format: Option<Format>,
    pub body: String,
    pub event_id: String,
    pub event_json: String,
}

/// The outbox key of one form of a message keyed `key`: the gift wrap keeps the key the
/// earlier versions gave it (so an upgrade re-sends nothing), the other form adds its name.
pub fn form_key(key: &str, format: Format) -> String {
    match format {
        Format::Nip17 => key.to_string(),
        Format::Mostrix => format!("{key}:{format}"),
    }
}

/// One form of one draft, to sign.
struct Copy {
    draft: Draft,
    format: Format,
}

/// Builds every draft in each form its recipient takes, each form its own row under its own key
/// (so each is retried on its own), spread over the runtime's worker threads (each costs NIP-44
/// encryptions and signatures). A dispute id Mostrix cannot link (not a UUID) gets the gift
/// wrap only, whatever the recipient's formats.
pub async fn build_all(
    sender: &Keys,
    directory: &Directory,
    drafts: Vec<Draft>,
) -> Result<Vec<NewMessage>, anyhow::Error> {
    let tasks: Vec<_> = copies(directory, drafts)
        .into_iter()
        .map(|copy| {
            let sender = sender.clone();
            tokio::spawn(async move { sign(&sender, copy).await })
        })
        .collect();
    let mut built = Vec::with_capacity(tasks.len());
    for task in tasks {
        built.push(task.await??);
    }
    Ok(built)
}

fn copies(directory: &Directory, drafts: Vec<Draft>) -> Vec<Copy> {
    let mut copies = Vec::with_capacity(drafts.len() * 2);
    for draft in drafts {
        let linkable = draft.dispute_id.as_deref().and_then(dispute_uuid).is_some();
        let formats: Vec<Format> = if linkable {
            directory.formats(&draft.recipient).iter().collect()
        } else {
            debug!(dispute = ?draft.dispute_id, kind = %draft.notif_type, "dispute id is not a UUID: gift wrap only");
            vec![Format::Nip17]
        };
        copies.extend(formats.into_iter().map(|format| Copy { draft: draft.clone(), format }));
    }
    copies
}

async fn sign(sender: &Keys, copy: Copy) -> Result<NewMessage, anyhow::Error> {
    let Copy { draft, format } = copy;
    let (idempotency_key, body, event) = match format {
        Format::Nip17 => {
            let event = gift_wrapped_dm(sender, &draft.recipient, &draft.body).await?;
            (draft.idempotency_key, draft.body, event)
        }
        Format::Mostrix => {
            let dispute = draft
                .dispute_id
                .as_deref()
                .and_then(dispute_uuid)
                .ok_or_else(|| anyhow::anyhow!("a send-dm needs a UUID dispute id"))?;
            let text = mostrix_text(dispute, &draft.subject, &draft.body);
            let event = mostrix_dm(sender, &draft.recipient, dispute, &text)?;
            (form_key(&draft.idempotency_key, format), text, event)
        }
    };
    Ok(NewMessage {
        idempotency_key,
        dispute_id: draft.dispute_id,
        recipient: draft.recipient.to_hex(),
        notif_type: draft.notif_type,
        format: Some(format),
        body,
        event_id: event.id.to_hex(),
        event_json: event.as_json(),
    })
}

/// Whose rows these are: each actor writes only its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Dispute,
    Escalation,
    /// The session of this dispute.
    Session(String),
}

/// A `LIKE` pattern for every session's rows (the `owner` of [`Owner::Session`]).
pub const EVERY_SESSION: &str = "session:%";

impl Owner {
    /// The `owner` column's value.
    pub fn key(&self) -> String {
        match self {
            Self::Dispute => "dispute".to_string(),
            Self::Escalation => "escalation".to_string(),
            Self::Session(dispute_id) => format!("session:{dispute_id}"),
        }
    }
}

/// Who owns the rows, which incarnation holds the claims, and the retry rules.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// [`Owner::key`].
    pub owner: String,
    pub token: String,
    pub policy: RetryPolicy,
    pub claim_ttl: i64,
}

/// A row whose attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub id: i64,
    pub dispute_id: Option<String>,
    pub recipient: String,
    pub notif_type: NotifType,
    pub format: Option<String>,
    pub attempts: u32,
    pub idempotency_key: String,
    pub result: SettledAs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettledAs {
    Sent { relays: String },
    Retry { at: i64, error: String },
    DeadLettered { error: String },
}

impl Settled {
    pub fn log(&self) {
        let (id, kind, to) = (self.id, &self.notif_type, &self.recipient);
        let format = self.format.as_deref().unwrap_or("-");
        let dispute = self.dispute_id.as_deref().unwrap_or("-");
        match &self.result {
            SettledAs::Sent { relays } => debug!(id, %kind, %format, %dispute, %to, %relays, "dm delivered"),
            SettledAs::Retry { at, error } => {
                warn!(id, %kind, %format, %dispute, %to, attempts = self.attempts, retry_at = at, %error, "dm not delivered; will retry")
            }
            SettledAs::DeadLettered { error } => {
                error!(id, %kind, %format, %dispute, %to, attempts = self.attempts, %error, "dm dead-lettered: giving up")
            }
        }
    }
}

/// The owner's audit of an attempt that ended (its `notifications` row and whatever follows),
/// written in the outbox's transaction.
pub type Audit<R> = fn(&rusqlite::Transaction<'_>, &Settled, i64) -> rusqlite::Result<R>;

impl Settled {
    /// `notifications.status` and `error_message` of this attempt.
    pub fn audit_status(&self) -> (AttemptStatus, Option<&str>) {
        match &self.result {
            SettledAs::Sent { .. } => (AttemptStatus::Sent, None),
            SettledAs::Retry { error, .. } | SettledAs::DeadLettered { error } => {
                (AttemptStatus::Failed, Some(error.as_str()))
            }
        }
    }
}

/// Told to the owner when its outbox has rows coming due.
#[derive(Debug, Clone)]
pub struct DeliveryDue;

pub struct Outbox {
    ledger: Ledger,
    relay: RelayRef,
    published: DerivedActorRef<PublishOutcome>,
    due: DerivedActorRef<DeliveryDue>,
    clock: Clock,
    wake: Option<TaskGuard>,
    /// Rows of ours Relay holds, and whether their send started.
    with_relay: HashMap<i64, SendProgress>,
}

pub struct Wiring {
    pub relay: RelayRef,
    pub published: DerivedActorRef<PublishOutcome>,
    pub due: DerivedActorRef<DeliveryDue>,
    pub clock: Clock,
}

impl Outbox {
    pub fn new(owner: Owner, settings: &OutboxSettings, wiring: Wiring) -> Self {
        let backoff = Backoff::new(
            Duration::from_secs(settings.retry_initial_seconds),
            Duration::from_secs(settings.retry_max_seconds),
        );
        let ledger = Ledger {
            owner: owner.key(),
            token: incarnation_token(),
            policy: RetryPolicy { max_attempts: settings.max_attempts, backoff },
            claim_ttl: settings.claim_ttl_seconds as i64,
        };
        Self {
            ledger,
            relay: wiring.relay,
            published: wiring.published,
            due: wiring.due,
            clock: wiring.clock,
            wake: None,
            with_relay: HashMap::new(),
        }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Claims every due row, asks Relay to publish each, and sets the next wake-up. Claims of
    /// ours that expired without an answer are failed attempts: they are settled with the
    /// owner's `audit` rows in the same transaction; what `audit` returns for them is returned.
    pub async fn dispatch_due<R: Send + 'static>(&mut self, db: &mut Db, audit: Audit<R>) -> Result<Vec<R>, DbError> {
        let ledger = self.ledger.clone();
        let now = self.clock.now();
        let with_relay = self.with_relay.clone();
        let progress = move |id| with_relay.get(&id).copied().unwrap_or(SendProgress::Unknown);
        let (claimed, audited, next, expired) = db
            .write(move |tx| {
                let (claimed, expired) = store::claim_due(tx, &ledger, now, CLAIM_BATCH, progress)?;
                let mut audited = Vec::with_capacity(expired.len());
                for settled in &expired {
                    settled.log();
                    audited.push(audit(tx, settled, now)?);
                }
                let expired: Vec<i64> = expired.iter().map(|settled| settled.id).collect();
                let next = if claimed.len() == CLAIM_BATCH { Some(now) } else { store::next_wake(tx, &ledger)? };
                Ok((claimed, audited, next, expired))
            })
            .await?;
        for id in &expired {
            self.with_relay.remove(id);
        }
        for row in claimed {
            self.publish(row);
        }
        self.arm(next);
        Ok(audited)
    }

    /// Records what Relay said of a send, with the owner's `audit` rows in one transaction when
    /// it settles a row; after a failure, sets the wake-up for the retry. Returns what `audit`
    /// returned for every row settled.
    pub async fn settle<R: Send + 'static>(
        &mut self,
        db: &mut Db,
        outcome: PublishOutcome,
        audit: Audit<R>,
    ) -> Result<Vec<R>, DbError> {
        let Ticket::Outbox(id) = outcome.ticket else { return Ok(Vec::new()) };
        let (ledger, now) = (self.ledger.clone(), self.clock.now());
        match outcome.stage {
            Stage::Started => {
                if let Some(progress) = self.with_relay.get_mut(&id) {
                    *progress = SendProgress::Started(now);
                }
                return Ok(Vec::new());
            }
            Stage::Answered => {
                self.with_relay.remove(&id);
            }
            Stage::Completed => {}
        }
        let settled = db
            .write(move |tx| {
                let Some(settled) = store::settle(tx, &ledger, &outcome, now)? else { return Ok(None) };
                let audited = audit(tx, &settled, now)?;
                Ok(Some((settled, audited)))
            })
            .await?;
        let Some((settled, audited)) = settled else { return Ok(Vec::new()) };
        settled.log();
        let mut all = vec![audited];
        if !matches!(settled.result, SettledAs::Sent { .. }) {
            all.extend(self.dispatch_due(db, audit).await?);
        }
        Ok(all)
    }

    fn publish(&mut self, row: store::Claimed) {
        match Event::from_json(&row.event_json) {
            Ok(event) => {
                let request = relay::Msg::Publish {
                    ticket: Ticket::Outbox(row.id),
                    event: Box::new(event),
                    reply_to: self.published.clone(),
                };
                if self.relay.cast(request).is_err() {
                    warn!(id = row.id, "relay actor unavailable; the claim will expire and be retried");
                } else {
                    self.with_relay.insert(row.id, SendProgress::Queued);
                }
            }
            Err(e) => error!(id = row.id, error = %e, "stored event does not parse; its claim will expire"),
        }
    }

    fn arm(&mut self, at: Option<i64>) {
        self.wake = at.map(|at| {
            let wait = Duration::from_secs(at.saturating_sub(self.clock.now()).max(0) as u64);
            tasks::after(wait, self.due.clone(), DeliveryDue)
        });
    }
}

/// Implements the conversions an owner's `Msg` needs so the outbox can reach it: the enum must
/// have the variants `Published(PublishOutcome)` and `DeliveryDue`.
#[macro_export]
macro_rules! outbox_messages {
    ($msg:ident) => {
        $crate::derived_message!($msg::Published($crate::relay::PublishOutcome));

        impl From<$crate::outbox::DeliveryDue> for $msg {
            fn from(_: $crate::outbox::DeliveryDue) -> Self {
                Self::DeliveryDue
            }
        }

        impl TryFrom<$msg> for $crate::outbox::DeliveryDue {
            type Error = $msg;
            fn try_from(msg: $msg) -> Result<Self, $msg> {
                match msg {
                    $msg::DeliveryDue => Ok($crate::outbox::DeliveryDue),
                    other => Err(other),
                }
            }
        }
    };
}

/// Distinguishes this run's claims from those a crashed run left behind.
fn incarnation_token() -> String {
    format!("{}-{}", std::process::id(), Keys::generate().public_key().to_hex().get(..16).unwrap_or_default())
}
