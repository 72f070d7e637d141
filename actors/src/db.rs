//! Each actor's own SQLite connection. The connection travels to the blocking pool for every
//! piece of work and comes back, so it is never shared, never borrowed across an `.await`, and
//! never stalls the async runtime. Writes run in `BEGIN IMMEDIATE` transactions: in WAL mode a
//! read-then-write transaction could otherwise fail at once with SQLITE_BUSY.

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
}

impl Db {
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let conn = connect(path.to_path_buf()).await?;
        Ok(Self { path: path.to_path_buf(), conn: Some(conn) })
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
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = work(&tx)?;
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

async fn connect(path: PathBuf) -> Result<Connection, DbError> {
    Ok(tokio::task::spawn_blocking(move || storage::open(&path)).await.map_err(|_| DbError::Lost)??)
}
