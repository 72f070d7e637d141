//! Scripting one actor in a test (feature `test-harness`).
//!
//! Spawn the real actor with [`Spawned::start`], give it [`Probe`] refs where its peers would go
//! and a [`TempDb`] path, then drive it top to bottom: cast what its peers would send, use
//! [`Spawned::ask`] with a status query as a barrier, read what it sent from each [`Recorder`]
//! and answer reply ports or `reply_to` refs yourself, check rows with [`TempDb::count`], and
//! finish with [`Spawned::stop`], which fails the test if the actor crashed.
//!
//! ```text
//! #[tokio::test(start_paused = true)]
//! async fn a_batch_is_published() {
//!     let db = TempDb::migrated();
//!     let (relay, mut sent) = Probe::<relay::Msg>::spawn().await;
//!     let dispute = Spawned::start(Dispute, args(db.path(), relay, Clock::tokio())).await;
//!
//!     dispute.cast(dispute::Msg::Observed(batch)).expect("dispute is running");
//!     dispute.ask(dispute::Msg::Status).await;         // barrier: the batch was handled
//!     let relay::Msg::Publish { .. } = sent.next().await else { panic!("want Publish") };
//!     tokio::time::sleep(Duration::from_secs(30)).await; // paused clock: no real wait
//!     sent.assert_idle().await;
//!     dispute.stop().await;
//! }
//! ```
//!
//! Rules of thumb:
//! - Use `#[tokio::test(start_paused = true)]` for anything with timers, and give the actor
//!   `serbero::clock::Clock::tokio()` so the times it stores follow the paused clock. The clock
//!   moves only when every task is idle, so `sleep` jumps straight to the next timer.
//! - Messages are FIFO per sender only: an `ask` after casts from the test orders after those
//!   casts, not after messages from the actor's own timers or from other actors.
//! - Actors here are unnamed: ractor's registry is process-global and tests run in parallel.

use std::any::type_name;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort, SupervisionEvent};
use rusqlite::types::FromSql;
use rusqlite::{Connection, Params};
use serbero_core::storage;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long every guarded wait lasts before it fails the test: longer than nostr-sdk's 10 s
/// wait for a relay's answer. Under a paused clock this is virtual time, so waiting for
/// something that never comes fails almost at once.
pub const WAIT: Duration = Duration::from_secs(20);

/// A stand-in peer: an actor with the same `Msg` type as the real one, so its ref goes wherever
/// the real peer's would. It records every message; the test reads them from its [`Recorder`].
pub struct Probe<M>(PhantomData<fn() -> M>);

impl<M: Message> Probe<M> {
    /// Spawns an unnamed probe and returns its ref and the recorder of what it receives.
    pub async fn spawn() -> (ActorRef<M>, Recorder<M>) {
        let (record, recorded) = mpsc::unbounded_channel();
        let (probe, _) = <Self as Actor>::spawn(None, Probe(PhantomData), record)
            .await
            .unwrap_or_else(|e| panic!("probe for {} did not start: {e}", type_name::<M>()));
        (probe, Recorder { recorded })
    }
}

impl<M: Message> Actor for Probe<M> {
    type Msg = M;
    type State = mpsc::UnboundedSender<M>;
    type Arguments = mpsc::UnboundedSender<M>;

    async fn pre_start(&self, _me: ActorRef<M>, record: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        Ok(record)
    }

    async fn handle(&self, _me: ActorRef<M>, msg: M, record: &mut Self::State) -> Result<(), ActorProcessingErr> {
        // The recorder is dropped when the test ends; then there is nobody left to tell.
        let _ = record.send(msg);
        Ok(())
    }
}

/// The messages one [`Probe`] received, in arrival order.
pub struct Recorder<M> {
    recorded: mpsc::UnboundedReceiver<M>,
}

impl<M> Recorder<M> {
    /// The next message; fails the test if none arrives within [`WAIT`].
    pub async fn next(&mut self) -> M {
        match tokio::time::timeout(WAIT, self.recorded.recv()).await {
            Ok(Some(msg)) => msg,
            Ok(None) => panic!("the {} probe stopped", type_name::<M>()),
            Err(_) => panic!("no {} message arrived within {WAIT:?}", type_name::<M>()),
        }
    }

    /// Fails the test if anything was recorded and not taken yet. Under a paused clock it first
    /// lets the runtime run until idle (a 1 ms virtual sleep ends only then), so a message still
    /// in the probe's mailbox is caught too; with a real clock it checks what already arrived.
    pub async fn assert_idle(&mut self) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let pending = self.drain().len();
        assert_eq!(pending, 0, "expected no {} message, found {pending}", type_name::<M>());
    }

    /// Every message recorded and not taken yet, without waiting.
    pub fn drain(&mut self) -> Vec<M> {
        std::iter::from_fn(|| self.recorded.try_recv().ok()).collect()
    }
}

/// Checks `condition` every 10 ms until it holds; fails the test, naming `what`, after
/// `timeout`. Only for what no barrier can wait for, such as a real connection coming up.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let held = tokio::time::timeout(timeout, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    held.await.unwrap_or_else(|_| panic!("{what}: not within {timeout:?}"));
}

/// How an actor under test ended: `Ok(stop reason)` or `Err(failure)`.
pub type Exit = Result<Option<String>, String>;

/// An actor under test, spawned unnamed under a watcher that records how it ends. Derefs to its
/// `ActorRef`, so a script casts to it directly.
pub struct Spawned<M: Message> {
    actor: ActorRef<M>,
    task: JoinHandle<()>,
    watcher: ActorRef<()>,
    exit: watch::Receiver<Option<Exit>>,
}

impl<M: Message> Spawned<M> {
    /// Spawns `actor` with `args`; fails the test if it does not start.
    pub async fn start<A: Actor<Msg = M>>(actor: A, args: A::Arguments) -> Self {
        let (report, exit) = watch::channel(None);
        let (watcher, _) = Actor::spawn(None, Watcher, report).await.expect("watcher starts");
        let (actor, task) = Actor::spawn_linked(None, actor, args, watcher.get_cell())
            .await
            .unwrap_or_else(|e| panic!("{} did not start: {e}", type_name::<A>()));
        Self { actor, task, watcher, exit }
    }

    /// Calls the actor and returns its answer; fails the test if none comes within [`WAIT`].
    /// After casts from the test it is also a barrier: the actor has handled them.
    pub async fn ask<R: Send + 'static>(&self, request: impl FnOnce(RpcReplyPort<R>) -> M) -> R {
        match self.actor.call(request, Some(WAIT)).await {
            Ok(CallResult::Success(answer)) => answer,
            Ok(CallResult::Timeout) => panic!("{} gave no answer within {WAIT:?}", type_name::<M>()),
            Ok(CallResult::SenderError) | Err(_) => {
                panic!("{} did not answer; it ended with {:?}", type_name::<M>(), *self.exit.borrow())
            }
        }
    }

    /// Waits until the actor ends by itself: `Ok(stop reason)` or `Err(failure)`; fails the test
    /// if it is still running after [`WAIT`].
    pub async fn ended(&mut self) -> Exit {
        match tokio::time::timeout(WAIT, self.exit.wait_for(Option::is_some)).await {
            Ok(Ok(exit)) => exit.clone().expect("waited for an exit"),
            _ => panic!("{} did not end within {WAIT:?}", type_name::<M>()),
        }
    }

    /// Stops the actor, waits until it has ended, and fails the test if it had failed.
    pub async fn stop(mut self) {
        self.actor.stop(None);
        let ended = tokio::time::timeout(WAIT, self.exit.wait_for(Option::is_some)).await;
        let exit = ended.ok().and_then(|seen| seen.ok().and_then(|exit| exit.clone()));
        match exit {
            Some(Ok(_)) => {}
            Some(Err(failure)) => panic!("{} had failed: {failure}", type_name::<M>()),
            None => panic!("{} did not stop within {WAIT:?}", type_name::<M>()),
        }
        tokio::time::timeout(WAIT, self.task).await.expect("actor task ends").expect("actor task joins");
        self.watcher.stop(None);
    }
}

impl<M: Message> Deref for Spawned<M> {
    type Target = ActorRef<M>;

    fn deref(&self) -> &ActorRef<M> {
        &self.actor
    }
}

/// Supervises one actor under test only to record how it ended (ractor reports a failure to
/// the supervisor, not through the join handle).
struct Watcher;

impl Actor for Watcher {
    type Msg = ();
    type State = watch::Sender<Option<Exit>>;
    type Arguments = watch::Sender<Option<Exit>>;

    async fn pre_start(&self, _me: ActorRef<()>, report: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        Ok(report)
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<()>,
        event: SupervisionEvent,
        report: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let exit = match event {
            SupervisionEvent::ActorTerminated(_, _, reason) => Ok(reason),
            SupervisionEvent::ActorFailed(_, failure) => Err(failure.to_string()),
            _ => return Ok(()),
        };
        report.send_replace(Some(exit));
        Ok(())
    }
}

/// A migrated SQLite file in its own temp directory, with a read connection for assertions.
pub struct TempDb {
    _dir: tempfile::TempDir,
    path: PathBuf,
    reader: Connection,
}

impl TempDb {
    /// Creates the file and applies every migration, as the daemon does before the tree starts.
    pub fn migrated() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("serbero.db");
        let mut reader = storage::open(&path).expect("open temp database");
        storage::migrate(&mut reader).expect("migrate temp database");
        Self { _dir: dir, path, reader }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The single integer `sql` returns, e.g. a `COUNT(*)`.
    pub fn count(&self, sql: &str, params: impl Params) -> i64 {
        self.reader.query_row(sql, params, |row| row.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of every row `sql` returns.
    pub fn column<T: FromSql>(&self, sql: &str, params: impl Params) -> Vec<T> {
        let rows = self.reader.prepare(sql).and_then(|mut stmt| stmt.query_map(params, |row| row.get(0))?.collect());
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// The relay URL a script reports in its answers to publish requests.
pub const SCRIPT_RELAY_URL: &str = "ws://r";

/// A publish request an actor under test sent to its (probe) Relay; the script answers it as
/// Relay would.
pub struct Publish {
    pub ticket: crate::relay::Ticket,
    pub event: nostr_sdk::Event,
    reply_to: ractor::DerivedActorRef<crate::relay::PublishOutcome>,
}

impl Publish {
    /// Takes the next `n` messages to the relay probe; each must be a `Publish`.
    pub async fn next_n(relay: &mut Recorder<crate::relay::Msg>, n: usize) -> Vec<Publish> {
        let mut publishes = Vec::with_capacity(n);
        for _ in 0..n {
            let crate::relay::Msg::Publish { ticket, event, reply_to } = relay.next().await else {
                panic!("expected a Publish request, got another relay message");
            };
            publishes.push(Publish { ticket, event: *event, reply_to });
        }
        publishes
    }

    /// Tells the actor its send took one of Relay's slots: the event goes out now.
    pub fn start(&self) {
        self.report(crate::relay::Stage::Started, Vec::new(), Vec::new());
    }

    /// Relay's answer that settles the request: the first acceptance, or every relay's failure.
    pub fn answer(&self, accepted: Vec<String>, failed: Vec<(String, String)>) {
        self.report(crate::relay::Stage::Answered, accepted, failed);
    }

    /// Relay's last report, once every relay answered after an acceptance.
    pub fn complete(&self, accepted: Vec<String>, failed: Vec<(String, String)>) {
        self.report(crate::relay::Stage::Completed, accepted, failed);
    }

    fn report(&self, stage: crate::relay::Stage, accepted: Vec<String>, failed: Vec<(String, String)>) {
        let outcome =
            crate::relay::PublishOutcome { ticket: self.ticket, event_id: self.event.id, stage, accepted, failed };
        self.reply_to.send_message(outcome).expect("the actor under test is running");
    }

    /// Opens the gift wrap with the first of `readers` that can: (reader index, DM text). Fails
    /// when the seal is not signed by `sender`, the wrap is not addressed to its reader, or no
    /// reader can open it.
    pub async fn open(&self, readers: &[nostr_sdk::Keys], sender: &nostr_sdk::PublicKey) -> (usize, String) {
        use nostr_sdk::nips::nip59::UnwrappedGift;
        for (index, reader) in readers.iter().enumerate() {
            if let Ok(gift) = UnwrappedGift::from_gift_wrap(reader, &self.event).await {
                assert_eq!(gift.sender, *sender, "the seal is signed by Serbero");
                assert!(self.event.tags.public_keys().any(|p| *p == reader.public_key()), "addressed to its reader");
                return (index, gift.rumor.content);
            }
        }
        panic!("no reader can unwrap {}", self.event.id);
    }
}

/// Answers every request: accepted by [`SCRIPT_RELAY_URL`].
pub fn accept_all(publishes: &[Publish]) {
    for p in publishes {
        p.answer(vec![SCRIPT_RELAY_URL.to_string()], Vec::new());
    }
}

/// Answers every request: refused by [`SCRIPT_RELAY_URL`].
pub fn refuse_all(publishes: &[Publish]) {
    for p in publishes {
        p.answer(Vec::new(), vec![(SCRIPT_RELAY_URL.to_string(), "blocked: test relay says no".to_string())]);
    }
}

/// The published event ids, sorted.
pub fn published_ids(publishes: &[Publish]) -> Vec<nostr_sdk::EventId> {
    let mut ids: Vec<_> = publishes.iter().map(|p| p.event.id).collect();
    ids.sort();
    ids
}
