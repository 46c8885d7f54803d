//! The embedded backend: SQLite (bundled, so a fresh machine needs nothing installed).
//!
//! Each connection lives on a thread of its own (tokio-rusqlite), so no query runs on an async
//! worker thread: one writer, since SQLite writes one transaction at a time, and a few readers,
//! which WAL lets read while the writer commits. Dropping a store closes its connections
//! without a runtime, so nothing panics wherever it is dropped.

mod chain;
mod log;
mod migrate;
mod outbox;
mod read;
mod write;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::OpenFlags;
use rusqlite::types::{ToSql, ToSqlOutput};

use super::StoreError;
use super::backend::{
    Claimed, ClaimedPolicy, ClaimedRow, Finished, OutboxUpdate, PolicyWrite, Primitives, StepWrite,
    Written,
};
use super::chain::ChainBatch;
use super::columns::uuid_text;
use super::columns::{CheckpointRow, PolicyRow, Value};
use super::handle::Store;
use super::queries::Sql;
use super::select::Row;
use crate::clock::{Clock, SystemClock};
use crate::values::{RequestId, TenantId};

/// How many reader connections a store opens.
const READERS: usize = 4;

/// The page cache, in KiB as SQLite's negative `cache_size` counts it: 64 MiB, so the hot pages
/// of every audit index stay in memory (the default 2 MiB makes each step re-read them).
const CACHE_KIB: i64 = -64 * 1024;

/// How many WAL frames accumulate before a commit copies them into the database file: 10,000
/// (40 MiB), not SQLite's 1,000. Each step rewrites the same few hot index pages; a longer
/// interval copies each of them once per checkpoint instead of once per thousand frames.
const CHECKPOINT_FRAMES: i64 = 10_000;

/// How long a write waits for another connection's (another process's) write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite backend of a [`Store`]: a database file (or memory), one writer connection and a
/// few readers.
///
/// - **Durability.** WAL journal with `synchronous = FULL`: a step whose save returned `Ok`
///   survives a crash or power loss (NORMAL would be faster, and can lose the last commits on
///   power loss, which an audit store must not). Foreign keys are enforced.
/// - **The store's clock** is the system clock: an embedded database has no clock of its own.
/// - **Many processes** may open one file: each step is a transaction guarded by the request's
///   revision, so a process that loses a race retries on the request as it now is.
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub struct Sqlite {
    writer: Option<tokio_rusqlite::Connection>,
    readers: Vec<tokio_rusqlite::Connection>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("read_only", &self.writer.is_none())
            .field("readers", &self.readers.len())
            .finish()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
impl Store<Sqlite> {
    /// Opens the store in the file at `path` (created if missing), without changing it: a new
    /// or older database needs [`migrate`](Store::migrate) once before use.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), customer_lockbox::StoreError> {
    /// # let dir = tempfile::tempdir().map_err(customer_lockbox::StoreError::Export)?;
    /// # let path = dir.path().join("lockbox.db");
    /// use customer_lockbox::SqliteStore;
    ///
    /// let store = SqliteStore::open(&path).await?;
    /// store.migrate().await?; // once per deployment
    /// assert!(store.tenants().await?.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::NewerSchema`] for a database written by a newer build (left untouched);
    /// [`StoreError::Database`] when the file cannot be opened.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let writer = connect(&path, flags).await?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(connect(&path, flags).await?);
        }
        Store::over(Sqlite {
            writer: Some(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
        .await
    }

    /// Opens the store in the file at `path` for reading only: every read works, and every
    /// step, sweep, delivery and migration is refused with [`StoreError::ReadOnly`]. For an
    /// auditor's copy, or a replica.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); the file must exist.
    pub async fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(connect(&path, flags).await?);
        }
        Store::over(Sqlite {
            writer: None,
            readers,
            next_reader: AtomicUsize::new(0),
        })
        .await
    }

    /// A store in memory, gone when its last clone is dropped: for tests and examples. One
    /// connection serves its reads and writes, and its schema is migrated.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if SQLite cannot allocate it.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = connect(Path::new(":memory:"), flags).await?;
        let store = Store::over(Sqlite {
            writer: Some(connection.clone()),
            readers: vec![connection],
            next_reader: AtomicUsize::new(0),
        })
        .await?;
        store.migrate().await?;
        Ok(store)
    }
}

/// Opens one connection on a thread of its own and sets what every connection needs. Nothing
/// here writes to the database file: the WAL journal is set by [`migrate`](Store::migrate).
async fn connect(path: &Path, flags: OpenFlags) -> Result<tokio_rusqlite::Connection, StoreError> {
    let connection = tokio_rusqlite::Connection::open_with_flags(path, flags)
        .await
        .map_err(StoreError::db("opening the database"))?;
    call(&connection, "configuring a connection", |conn| {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_FRAMES)?;
        Ok(())
    })
    .await?;
    Ok(connection)
}

/// Runs `f` on `connection`'s thread; an SQLite error becomes a [`StoreError::Database`]
/// naming `context`.
async fn call<T: Send + 'static>(
    connection: &tokio_rusqlite::Connection,
    context: &'static str,
    f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    try_call(connection, context, move |conn| {
        f(conn).map_err(StoreError::db(context))
    })
    .await
}

/// Runs `f` on `connection`'s thread, keeping its own errors.
async fn try_call<T: Send + 'static>(
    connection: &tokio_rusqlite::Connection,
    context: &'static str,
    f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    connection.call(f).await.map_err(|err| match err {
        tokio_rusqlite::Error::Error(err) => err,
        other => StoreError::db(context)(other),
    })
}

/// What an SQLite error says (see [`Diagnosis`](super::error::Diagnosis)): SQLite runs in
/// this process, so an error it returns is an answer (a failed `COMMIT` leaves nothing
/// applied), transient when another connection held the database longer than the busy timeout;
/// a connection whose thread is gone gives no answer.
pub(super) fn diagnose(err: &(dyn std::error::Error + 'static)) -> Option<super::error::Diagnosis> {
    use super::error::Diagnosis;
    if let Some(err) = err.downcast_ref::<rusqlite::Error>() {
        let busy = matches!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        return Some(Diagnosis {
            transient: busy,
            nothing_applied: true,
        });
    }
    match err.downcast_ref::<tokio_rusqlite::Error>()? {
        tokio_rusqlite::Error::Error(err) => diagnose(err),
        _ => Some(Diagnosis {
            transient: false,
            nothing_applied: false,
        }),
    }
}

impl Sqlite {
    fn reader(&self) -> Result<&tokio_rusqlite::Connection, StoreError> {
        let n = self.next_reader.fetch_add(1, Ordering::Relaxed);
        self.readers
            .get(n % self.readers.len().max(1))
            .ok_or_else(|| StoreError::database("reading")("the store has no reader".into()))
    }

    fn writer(&self, what: &'static str) -> Result<&tokio_rusqlite::Connection, StoreError> {
        self.writer.as_ref().ok_or(StoreError::ReadOnly { what })
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(text) => ToSqlOutput::from(text.as_str()),
            Value::Int(int) => ToSqlOutput::from(*int),
            Value::Bytes(bytes) => ToSqlOutput::from(bytes.as_slice()),
            Value::Null => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

impl Primitives for Sqlite {
    const NAME: &'static str = "sqlite";

    fn placeholder(n: usize) -> String {
        format!("?{n}")
    }

    async fn schema_version(&self) -> Result<(u32, u32), StoreError> {
        call(
            self.reader()?,
            "reading the schema version",
            migrate::version,
        )
        .await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        try_call(
            self.writer("migrate")?,
            "migrating the schema",
            migrate::migrate,
        )
        .await
    }

    async fn store_clock(&self) -> Result<DateTime<Utc>, StoreError> {
        Ok(SystemClock.now())
    }

    async fn read(&self, what: &'static str, reads: Vec<Sql>) -> Result<Vec<Vec<Row>>, StoreError> {
        call(self.reader()?, what, move |conn| read::select(conn, &reads)).await
    }

    async fn write_policy(&self, change: PolicyWrite) -> Result<Option<PolicyRow>, StoreError> {
        try_call(
            self.writer("change a policy")?,
            "writing a policy change",
            move |conn| write::policy(conn, &change),
        )
        .await
    }

    async fn write(&self, step: StepWrite) -> Result<Written, StoreError> {
        try_call(self.writer("save a step")?, "saving a step", move |conn| {
            write::step(conn, &step)
        })
        .await
    }

    async fn plan(&self, sql: Sql) -> Result<Vec<String>, StoreError> {
        call(self.reader()?, "planning a query", move |conn| {
            read::plan(conn, &sql)
        })
        .await
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: String,
        token: String,
        limit: usize,
    ) -> Result<Vec<ClaimedRow>, StoreError> {
        try_call(
            self.writer("deliver")?,
            "claiming outbox messages",
            move |conn| outbox::claim(conn, now, &lease_until, &token, limit),
        )
        .await
    }

    async fn finish(
        &self,
        message: Claimed,
        token: String,
        step: Option<StepWrite>,
        update: OutboxUpdate,
    ) -> Result<Finished, StoreError> {
        try_call(
            self.writer("deliver")?,
            "recording a delivery",
            move |conn| outbox::finish(conn, &message, &token, step.as_ref(), &update),
        )
        .await
    }

    async fn claim_policy(
        &self,
        now: DateTime<Utc>,
        lease_until: String,
        token: String,
        limit: usize,
    ) -> Result<Vec<ClaimedPolicy>, StoreError> {
        try_call(
            self.writer("deliver")?,
            "claiming policy messages",
            move |conn| outbox::claim_policy(conn, now, &lease_until, &token, limit),
        )
        .await
    }

    async fn finish_policy(
        &self,
        message: ClaimedPolicy,
        token: String,
        update: OutboxUpdate,
    ) -> Result<Finished, StoreError> {
        try_call(
            self.writer("deliver")?,
            "recording a policy message",
            move |conn| outbox::finish_policy(conn, &message, &token, &update),
        )
        .await
    }

    async fn chain(
        &self,
        tenant: TenantId,
        sink: tokio::sync::mpsc::Sender<ChainBatch>,
    ) -> Result<Vec<Option<(RequestId, u64)>>, StoreError> {
        let tenant = uuid_text(tenant.as_uuid());
        try_call(self.reader()?, "verifying the audit chain", move |conn| {
            chain::walk(conn, &tenant, &sink)
        })
        .await
    }

    async fn add_checkpoint(&self, row: CheckpointRow) -> Result<bool, StoreError> {
        call(
            self.writer("keep a checkpoint")?,
            "keeping a checkpoint",
            move |conn| log::add_checkpoint(conn, &row),
        )
        .await
    }
}
