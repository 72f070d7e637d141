//! Each actor's own SQLite connection. The connection travels to the blocking pool for every
//! piece of work and comes back, so it is never shared, never borrowed across an `.await`, and
//! never stalls the async runtime. Writes run in `BEGIN IMMEDIATE` transactions: in WAL mode a
//! read-then-write transaction could otherwise fail at once with SQLITE_BUSY.

use std::future::Future;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use serbero_core::storage;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Open(#[from] storage::StorageError),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database task lost (it panicked)")]
    Lost,
}

pub struct Db {
    path: PathBuf,
    conn: Option<Connection>,
    /// The source file that opened it (the owning actor's): names its writes for the
    /// fault-injection hook, so that a write is found again in another run.
    #[cfg(feature = "fault-injection")]
    opener: &'static str,
}

impl Db {
    /// Not an `async fn`: `#[track_caller]` needs a plain one to see the opener.
    #[track_caller]
    pub fn open(path: &Path) -> impl Future<Output = Result<Self, DbError>> + Send + 'static {
        let path = path.to_path_buf();
        #[cfg(feature = "fault-injection")]
        let opener = std::panic::Location::caller().file();
        async move {
            let conn = connect(path.clone()).await?;
            Ok(Self {
                path,
                conn: Some(conn),
                #[cfg(feature = "fault-injection")]
                opener,
            })
        }
    }

    /// Closes the connection until the next piece of work opens it again: for actors that are
    /// idle most of the time and many at once (a connection holds a file and its caches).
    pub fn release(&mut self) {
        self.conn = None;
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction, committed when it returns `Ok`.
    pub async fn write<T, F>(&mut self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        #[cfg(feature = "fault-injection")]
        let opener = self.opener;
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = work(&tx)?;
            #[cfg(feature = "fault-injection")]
            halt::before_commit(opener, std::any::type_name::<F>());
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs read-only `work` on the connection.
    pub async fn read<T, F>(&mut self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.with_conn(move |conn| work(conn)).await
    }

    async fn with_conn<T, F>(&mut self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => connect(self.path.clone()).await?,
        };
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = work(&mut conn);
            (conn, out)
        })
        .await
        .map_err(|_| DbError::Lost)?;
        self.conn = Some(conn);
        Ok(out?)
    }
}

/// Stops the process at a chosen write, for the kill-at-every-step test (tests/kill_every_step.rs).
/// With `SERBERO_HALT_AT_WRITE` set, every write transaction is numbered at the moment it is
/// about to commit and logged on stderr as `fault-injection: write #k: <step>`, where the step
/// `<opener> <function> #<n>` names the n-th write of that function through a connection opened
/// by that source file: unlike k, which depends on how concurrent actors interleave, a step
/// names the same write in every run that takes the same path. At the chosen write the line says
/// `fault-injection: halted before committing write #k: <step>` and the thread blocks for good;
/// the test then SIGKILLs the process. What survives is exactly the writes before it, since this
/// one still holds SQLite's write lock (`BEGIN IMMEDIATE`) and no other write can commit after
/// it. The value chooses: `0` numbers and logs only, `N` halts at write #N, a step halts there.
/// Unset, nothing happens. Migrations (`storage::migrate`, before any actor starts) are not
/// actor writes and do not come here.
#[cfg(feature = "fault-injection")]
mod halt {
    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::{Mutex, OnceLock};

    const VARIABLE: &str = "SERBERO_HALT_AT_WRITE";

    enum HaltAt {
        Nowhere,
        Number(u64),
        Step(String),
    }

    /// Writes so far, and per (opener, function).
    #[derive(Default)]
    struct Counts {
        all: u64,
        by_step: HashMap<(&'static str, &'static str), u64>,
    }

    /// Called with the write lock held, so numbers follow the commit order across connections.
    pub(super) fn before_commit(opener: &'static str, closure: &'static str) {
        static HALT_AT: OnceLock<Option<HaltAt>> = OnceLock::new();
        static COUNTS: OnceLock<Mutex<Counts>> = OnceLock::new();
        let Some(halt_at) = HALT_AT.get_or_init(|| {
            let value = std::env::var(VARIABLE).ok()?;
            Some(match value.trim().parse() {
                Ok(0) => HaltAt::Nowhere,
                Ok(n) => HaltAt::Number(n),
                Err(_) => HaltAt::Step(value.trim().to_string()),
            })
        }) else {
            return;
        };
        // The closure's type names the function that wrote: `serbero::session::take::on_took`
        // for `serbero::session::take::on_took::{{closure}}::{{closure}}`.
        let function = closure.trim_end_matches("::{{closure}}");
        let (k, step) = {
            let mut counts = COUNTS.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
            counts.all += 1;
            let n = counts.by_step.entry((opener, function)).or_default();
            *n += 1;
            let n = *n;
            (counts.all, format!("{opener} {function} #{n}"))
        };
        let halt = match halt_at {
            HaltAt::Nowhere => false,
            HaltAt::Number(n) => k == *n,
            HaltAt::Step(chosen) => step == *chosen,
        };
        let what = if halt { "halted before committing write" } else { "write" };
        // One `write_all` of the whole line: the log file is shared with stdout's tracing lines.
        let _ = std::io::stderr().lock().write_all(format!("fault-injection: {what} #{k}: {step}\n").as_bytes());
        if halt {
            loop {
                std::thread::park();
            }
        }
    }
}

async fn connect(path: PathBuf) -> Result<Connection, DbError> {
    Ok(tokio::task::spawn_blocking(move || storage::open(&path)).await.map_err(|_| DbError::Lost)??)
}
