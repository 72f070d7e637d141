//! Reads the database figures for `/metrics` off the runtime: one OS thread of its own (never
//! tokio's blocking pool, where every actor's transaction runs) reads on request. Scrapes that
//! arrive while a read is in progress wait for that read, a read younger than [`FRESH_FOR`]
//! serves every scrape, and no scrape waits longer than its bound for a slow read.

use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, warn};

use super::figures::Figures;

/// How long one read serves every scrape. Prometheus scrapes every 15 s or more, so a single
/// scraper still gets new figures each time; several scrapers, or one polling in a loop, cost
/// one read per 5 s between them.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// How long a scrape waits for a read in progress before it answers with the figures it has
/// (Prometheus gives a scrape 10 s by default; a locked or slow database must not use them up).
pub const READ_WAIT: Duration = Duration::from_secs(1);

/// The outcome of the reader thread's newest read; `serial` counts the reads.
#[derive(Default)]
struct Published {
    serial: u64,
    outcome: Option<Result<Arc<Figures>, String>>,
}

/// What the scrapes know: the last figures read, and which read they came from.
#[derive(Default)]
struct Cache {
    figures: Option<Arc<Figures>>,
    /// The newest read taken in.
    serial: u64,
    /// When the read in progress was asked for; `None` when none is.
    asked_at: Option<Instant>,
    /// When the newest read taken in was asked for: its figures are at least that recent.
    read_at: Option<Instant>,
}

impl Cache {
    /// Takes in the reader's newest outcome, once: a failed read is logged by one scrape only.
    fn take_in(&mut self, published: &Published) {
        if published.serial == self.serial {
            return;
        }
        self.serial = published.serial;
        self.read_at = self.asked_at.take();
        match &published.outcome {
            Some(Ok(figures)) => self.figures = Some(figures.clone()),
            Some(Err(e)) => {
                warn!(error = %e, "metrics: cannot read the database; its figures are from the last scrape")
            }
            None => {}
        }
    }

    /// A failed read counts too: a broken database is tried once per [`FRESH_FOR`], not per scrape.
    fn is_fresh(&self, now: Instant) -> bool {
        self.read_at.is_some_and(|at| now < at + FRESH_FOR)
    }
}

pub struct Reader {
    /// Wakes the thread for one read; it stops when this is dropped.
    wake: mpsc::Sender<()>,
    done: watch::Receiver<Published>,
    cache: Mutex<Cache>,
    /// How long a scrape waits for a read ([`READ_WAIT`] outside tests).
    wait: Duration,
}

impl Reader {
    /// Starts the thread that runs `read` whenever a scrape asks for new figures.
    pub fn spawn<R>(mut read: R, wait: Duration) -> Self
    where
        R: FnMut() -> rusqlite::Result<Figures> + Send + 'static,
    {
        let (wake, woken) = mpsc::channel::<()>();
        let (publish, done) = watch::channel(Published::default());
        let thread = std::thread::Builder::new().name("serbero-metrics".into()).spawn(move || {
            for serial in 1.. {
                if woken.recv().is_err() {
                    break;
                }
                let outcome = read().map(Arc::new).map_err(|e| e.to_string());
                publish.send_replace(Published { serial, outcome: Some(outcome) });
            }
        });
        if let Err(e) = thread {
            error!(error = %e, "metrics: cannot start the database reader; /metrics goes without the database figures");
        }
        Self { wake, done, cache: Mutex::default(), wait }
    }

    /// The newest figures: reused while fresh, else from a read this scrape asks for (or one
    /// already in progress), else, when the read takes longer than the wait, the last ones.
    pub async fn figures(&self) -> Option<Arc<Figures>> {
        let mut done = self.done.clone();
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.take_in(&done.borrow_and_update());
            let now = Instant::now();
            if cache.is_fresh(now) {
                return cache.figures.clone();
            }
            if cache.asked_at.is_none() {
                cache.asked_at = Some(now);
                // A reader that is gone shows below, as `changed` failing.
                let _ = self.wake.send(());
            }
        }
        match tokio::time::timeout(self.wait, done.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => warn!("metrics: the database reader has stopped; its figures are from the last scrape"),
            Err(_) => {
                warn!(waited = ?self.wait, "metrics: the database read is slow; its figures are from the last scrape")
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.take_in(&done.borrow());
        cache.figures.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::path::PathBuf;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Poll;

    use rusqlite::Connection;
    use serbero_core::storage;

    use super::*;
    use crate::prometheus::figures::Database;

    /// Far longer than a read of a small database takes, so a test never sees a timeout it did
    /// not arrange.
    const PATIENT: Duration = Duration::from_secs(30);

    /// A migrated database file in `dir`, and a connection to write it.
    fn database(dir: &tempfile::TempDir) -> (PathBuf, Connection) {
        let path = dir.path().join("serbero.db");
        let mut conn = storage::open(&path).unwrap();
        storage::migrate(&mut conn).unwrap();
        (path, conn)
    }

    fn add_dispute(conn: &Connection, id: &str) {
        conn.execute(
            "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
             VALUES (?1, ?1, 'm', 'buyer', 1, 1)",
            [id],
        )
        .unwrap();
    }

    fn new_disputes(figures: &Figures) -> u64 {
        figures.disputes_by_state.iter().find(|(state, _)| state == "new").map_or(0, |(_, n)| *n)
    }

    /// Polls every future once; each must still be waiting.
    async fn all_waiting<F: Future>(futures: &mut [Pin<Box<F>>]) {
        std::future::poll_fn(|cx| {
            for future in futures.iter_mut() {
                assert!(future.as_mut().poll(cx).is_pending(), "a scrape did not wait for the read");
            }
            Poll::Ready(())
        })
        .await;
    }

    /// Polls every future until all are done.
    async fn join_all<F: Future>(futures: Vec<Pin<Box<F>>>) -> Vec<F::Output> {
        let mut pending: Vec<_> = futures.into_iter().map(Some).collect();
        let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
                if let Some(Poll::Ready(out)) = future.as_mut().map(|f| f.as_mut().poll(cx)) {
                    *output = Some(out);
                    *future = None;
                }
            }
            if pending.iter().all(Option::is_none) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        outputs.into_iter().map(|out| out.expect("every scrape finished")).collect()
    }

    /// A reader of the database at `path` whose every read waits for a message on the returned
    /// sender, so the test decides when a read ends; and the number of reads begun.
    fn gated(path: PathBuf, wait: Duration) -> (Reader, mpsc::Sender<()>, Arc<AtomicUsize>) {
        let reads = Arc::new(AtomicUsize::new(0));
        let (go, gate) = mpsc::channel::<()>();
        let mut db = Database::new(path);
        let counted = reads.clone();
        let read = move || {
            counted.fetch_add(1, Ordering::SeqCst);
            // A test that ends drops the sender, which ends the wait.
            let _ = gate.recv();
            db.read()
        };
        (Reader::spawn(read, wait), go, reads)
    }

    /// Moves the clock past the interval in which a read is reused; it runs on from there.
    async fn let_the_figures_age() {
        tokio::time::pause();
        tokio::time::advance(FRESH_FOR).await;
        tokio::time::resume();
    }

    #[tokio::test]
    async fn concurrent_scrapes_share_one_read_and_reuse_it_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        add_dispute(&conn, "d1");
        let (reader, go, reads) = gated(path, PATIENT);

        let mut scrapes: Vec<_> = (0..32).map(|_| Box::pin(reader.figures())).collect();
        all_waiting(&mut scrapes).await;
        go.send(()).unwrap();
        let answers = join_all(scrapes).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1, "32 scrapes, one read");
        assert!(answers.iter().all(|figures| figures.as_deref().map(new_disputes) == Some(1)));

        add_dispute(&conn, "d2");
        let again = join_all((0..32).map(|_| Box::pin(reader.figures())).collect()).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1, "a fresh read serves later scrapes too");
        assert!(again.iter().all(|figures| figures.as_deref().map(new_disputes) == Some(1)));

        let_the_figures_age().await;
        go.send(()).unwrap();
        let later = join_all((0..32).map(|_| Box::pin(reader.figures())).collect()).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2, "one more read once the last is stale");
        assert!(later.iter().all(|figures| figures.as_deref().map(new_disputes) == Some(2)));
    }

    #[tokio::test]
    async fn a_long_write_in_progress_leaves_the_scrape_the_figures_from_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        add_dispute(&conn, "d1");
        let mut db = Database::new(path.clone());
        let reader = Reader::spawn(move || db.read(), PATIENT);
        let before = reader.figures().await.expect("the first read");

        // The write lock, held as an actor's transaction holds it (BEGIN IMMEDIATE), for longer
        // than any scrape may wait. In WAL mode it does not stop the read.
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        add_dispute(&writer, "d2");
        let_the_figures_age().await;
        assert_eq!(reader.figures().await.as_deref(), Some(&*before), "read again, the write not in it");
        writer.execute_batch("COMMIT").unwrap();
    }

    #[tokio::test]
    async fn a_stalled_read_holds_a_scrape_no_longer_than_the_wait_and_leaves_it_the_last_figures() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        add_dispute(&conn, "d1");
        let (reader, go, _) = gated(path, PATIENT);
        go.send(()).unwrap();
        let before = reader.figures().await.expect("the first read");

        add_dispute(&conn, "d2");
        // The next read does not end until the test says so, as if the database kept it
        // waiting. Paused, the clock jumps to a scrape's deadline as soon as the scrape waits.
        tokio::time::pause();
        tokio::time::advance(FRESH_FOR).await;
        for _ in 0..2 {
            let asked = Instant::now();
            assert_eq!(reader.figures().await.as_deref(), Some(&*before));
            // Tokio's timers tick in milliseconds.
            let waited = asked.elapsed();
            assert!(waited >= PATIENT && waited <= PATIENT + Duration::from_millis(1), "waited {waited:?}");
        }

        tokio::time::resume();
        // The stalled read ends; the next scrape has its figures (from it, or from one more
        // read if the stall outlasted the interval).
        go.send(()).unwrap();
        go.send(()).unwrap();
        assert_eq!(reader.figures().await.as_deref().map(new_disputes), Some(2));
    }

    #[tokio::test]
    async fn a_failed_read_leaves_the_last_figures_and_is_not_retried_by_every_scrape() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = database(&dir);
        add_dispute(&conn, "d1");
        let reads = Arc::new(AtomicUsize::new(0));
        let mut db = Database::new(path);
        let counted = reads.clone();
        let read = move || match counted.fetch_add(1, Ordering::SeqCst) {
            0 => db.read(),
            _ => Err(rusqlite::Error::InvalidQuery),
        };
        let reader = Reader::spawn(read, PATIENT);
        let before = reader.figures().await.expect("the first read");

        add_dispute(&conn, "d2");
        let_the_figures_age().await;
        assert_eq!(reader.figures().await.as_deref(), Some(&*before), "the read failed");
        assert_eq!(reader.figures().await.as_deref(), Some(&*before));
        assert_eq!(reads.load(Ordering::SeqCst), 2, "the failure holds until the interval ends");
    }
}
