//! After a handoff (a summary delivered, or an escalation with the parties already contacted)
//! the dispute stays Serbero's until a human takes it over or Mostro resolves it, and the parties
//! may go on writing. Serbero never answers them; it forwards their words to the solver(s) the
//! handoff went to, one `transcript` DM per burst: a burst ends once the parties were silent for
//! `[mediation].transcript_quiet_seconds`, or `transcript_max_wait_seconds` after its first
//! message. What a transcript carried is stored with its outbox rows, so a restart neither
//! repeats nor skips a message.

use std::time::Duration;

use ractor::ActorProcessingErr;
use serbero_core::brief::{transcript_batch, transcript_text, MAX_QUOTES};
use serbero_core::mediation::recipients;
use serbero_core::notification::NotifType;
use serbero_core::solver_dm::Subject;
use tracing::info;

use super::record;
use super::state::{forwarding, State};
use super::{chat, store, Msg};
use crate::outbox::{self, Draft};
use crate::tasks;

/// The handoff was just committed, the take kept for forwarding (`store::handed_off`, in the
/// handoff's transaction): the chat stays open to forward what follows.
pub(super) async fn began(st: &mut State, now: i64) -> Result<(), ActorProcessingErr> {
    if let Some(take) = st.take.as_mut() {
        take.handed_off_at.get_or_insert(now);
    }
    info!(dispute = %st.dispute_id, "handed off: the parties' words are forwarded to the solver(s) until the dispute is taken over or resolved");
    // Mediation's timers end here; a pending takeover check stays.
    let timers = &mut st.timers;
    (timers.unresponsive, timers.session_deadline, timers.evaluation_retry, timers.idle) = (None, None, None, None);
    st.outbox.dispatch_due(&mut st.db, record::audit).await?;
    Ok(())
}

/// A restart after the handoff: reopen the chat and forward what came while we were down (what
/// the outbox held is on its way again already: `Msg::Begin`).
pub(super) async fn resume(st: &mut State) -> Result<(), ActorProcessingErr> {
    chat::open_channels(st).await?;
    send_transcript(st).await
}

/// A party wrote: the burst goes on.
pub(super) fn on_party_words(st: &mut State) {
    let (now, settings) = (st.clock.now(), &st.mediator.settings);
    let first = *st.burst_began.get_or_insert(now);
    let left = (first + settings.transcript_max_wait_seconds as i64 - now).max(0) as u64;
    let wait = Duration::from_secs(settings.transcript_quiet_seconds.min(left));
    st.timers.burst_end = Some(tasks::after(wait, st.me.clone(), Msg::BurstEnd));
}

/// The burst ended: one transcript of what the parties wrote since the last one (more than one
/// transcript only when it would not fit one DM).
pub(super) async fn send_transcript(st: &mut State) -> Result<(), ActorProcessingErr> {
    st.burst_began = None;
    st.timers.burst_end = None;
    if !forwarding(st) {
        return Ok(());
    }
    let id = st.dispute_id.clone();
    let assigned = st.db.read(move |conn| record::assigned_solver(conn, &id)).await?;
    let to = recipients(assigned.as_deref(), &st.mediator.solvers);
    loop {
        let id = st.dispute_id.clone();
        let (rows, left) = st.db.read(move |conn| store::unforwarded(conn, &id, MAX_QUOTES)).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let quotes: Vec<_> = rows.iter().map(|(_, quote)| quote.clone()).collect();
        let carried = transcript_batch(&quotes);
        let through = rows[carried - 1].0;
        let (body, subject) =
            (transcript_text(&st.dispute_id, &quotes[..carried]), Subject::Transcript { messages: carried });
        let drafts = Draft::to_each(&to, &st.dispute_id, NotifType::MediationTranscript, &subject, &body, |solver| {
            format!("{}:{}:{through}:{}", NotifType::MediationTranscript, st.dispute_id, solver.to_hex())
        });
        let built = outbox::build_all(&st.keys, &st.mediator.directory, drafts).await?;
        let (id, ledger, now) = (st.dispute_id.clone(), st.outbox.ledger().clone(), st.clock.now());
        st.db
            .write(move |tx| {
                for message in &built {
                    outbox::store::insert(tx, &ledger, message, now)?;
                }
                store::forwarded(tx, &id, through, now)
            })
            .await?;
        info!(dispute = %st.dispute_id, messages = carried, solvers = to.len(), "parties' words forwarded after the handoff");
        st.outbox.dispatch_due(&mut st.db, record::audit).await?;
        if left <= carried {
            return Ok(());
        }
    }
}
