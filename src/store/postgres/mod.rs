//! The backend for many nodes: PostgreSQL through `tokio-postgres`, with a `deadpool` pool.
//!
//! Connections are checked out of the pool for each primitive and verified before reuse, so a
//! restarted server or a terminated backend costs at most the call in flight: the next
//! checkout finds the connection dead, drops it and opens another.

mod chain;
mod log;
mod migrate;
mod outbox;
mod read;
mod write;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;

use super::PostgresStore;
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
use crate::values::{RequestId, TenantId};

/// How many connections the store's own pool opens at most.
const POOL_SIZE: usize = 16;

/// The PostgreSQL backend of a [`Store`]: a pool of connections to one database that any number
/// of service nodes share.
///
/// - **Atomic steps in one round trip.** A step is one call of the schema's
///   `lockbox_save_step` function: the request row (guarded by its revision), the audit rows
///   linked into the tenant's chain from the head this node last wrote, and the outbox rows.
///   If another node moved the chain meanwhile, nothing is written and the step is redone with
///   the request row and the chain head locked.
/// - **The store's clock** is the server's (`clock_timestamp()`), checked inside the same call.
/// - **Consistent reads.** A load or a chain verification reads one repeatable-read snapshot.
/// - **The pool** verifies a connection before handing it out again (deadpool's
///   `RecyclingMethod::Verified`).
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub struct Postgres {
    pool: Pool,
    /// What this node knows of each tenant's chain: see [`write::Known`].
    heads: Mutex<HashMap<String, write::Known>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl Store<Postgres> {
    /// Connects with libpq-style `params` (such as `host=127.0.0.1 port=5432 user=lockbox
    /// dbname=lockbox`, or a `postgresql://` URL) without TLS, through a pool with the
    /// [`PostgresBuilder`]'s defaults. Nothing is written: a new or older database needs
    /// [`migrate`](Store::migrate) once. For TLS, another pool size or other timeouts, use
    /// [`builder`](Self::builder).
    ///
    /// # Errors
    ///
    /// [`StoreError::NewerSchema`] for a database written by a newer build (left untouched);
    /// [`StoreError::Unavailable`] when the server cannot be reached; [`StoreError::Database`]
    /// when the parameters do not parse.
    pub async fn connect(params: &str) -> Result<Self, StoreError> {
        Self::builder(params).connect().await
    }

    /// A store on a pool built to the platform's needs: its size, how long a call waits for a
    /// connection, TLS.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), customer_lockbox::StoreError> {
    /// use std::time::Duration;
    /// use customer_lockbox::PostgresStore;
    ///
    /// let store = PostgresStore::builder("host=db.internal user=lockbox dbname=lockbox")
    ///     .max_size(32)
    ///     .wait_timeout(Duration::from_secs(2))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(params: &str) -> PostgresBuilder {
        PostgresBuilder {
            params: params.to_owned(),
            max_size: POOL_SIZE,
            wait: Some(std::time::Duration::from_secs(10)),
            create: Some(std::time::Duration::from_secs(10)),
            recycle: Some(std::time::Duration::from_secs(5)),
            tls: tokio_postgres::NoTls,
        }
    }

    /// Uses a platform's own pool. Configure it with `RecyclingMethod::Verified` (or
    /// `Clean`), so that a connection the server dropped is not handed out again.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect), but for the parameters.
    pub async fn from_pool(pool: Pool) -> Result<Self, StoreError> {
        Store::over(Postgres {
            pool,
            heads: Mutex::new(HashMap::new()),
        })
        .await
    }

    /// The pool's state, for a health check: its size, how many connections are idle, how
    /// many calls wait for one. Reads nothing from the server (for that, any read, such as
    /// [`schema_version`](Store::schema_version)).
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.backend().pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }
}

/// The state of a [`PostgresStore`]'s pool ([`Store::pool_status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[non_exhaustive]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// The connections open now.
    pub size: usize,
    /// Of those, how many are idle.
    pub available: usize,
    /// How many calls wait for a connection.
    pub waiting: usize,
}

/// How a [`PostgresStore`]'s pool is built ([`Store::builder`]): up to 16 connections, each
/// verified with a round trip before it is handed out again; a call waits at most 10 s for a
/// free connection, opening one may take at most 10 s and verifying one 5 s (past each, the
/// call fails as [`StoreError::Unavailable`], which may be retried); no TLS unless given one.
#[must_use = "a builder connects nothing until `connect` is awaited"]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub struct PostgresBuilder<T = tokio_postgres::NoTls> {
    params: String,
    max_size: usize,
    wait: Option<std::time::Duration>,
    create: Option<std::time::Duration>,
    recycle: Option<std::time::Duration>,
    tls: T,
}

impl<T> std::fmt::Debug for PostgresBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The parameters may hold a password: they are not shown.
        f.debug_struct("PostgresBuilder")
            .field("max_size", &self.max_size)
            .field("wait", &self.wait)
            .field("create", &self.create)
            .field("recycle", &self.recycle)
            .finish_non_exhaustive()
    }
}

impl<T> PostgresBuilder<T> {
    /// The most connections the pool opens (at least 1).
    pub fn max_size(mut self, connections: usize) -> Self {
        self.max_size = connections.max(1);
        self
    }

    /// How long a call waits for a free connection.
    pub fn wait_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// How long opening a connection (connecting, TLS, authenticating) may take.
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.create = Some(timeout);
        self
    }

    /// How long the round trip that verifies an idle connection may take.
    pub fn recycle_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.recycle = Some(timeout);
        self
    }

    /// Connects through `tls`, the driver's TLS connector (any
    /// [`MakeTlsConnect`](tokio_postgres::tls::MakeTlsConnect), such as
    /// `tokio-postgres-rustls`'s or `postgres-native-tls`'s). Give `sslmode=require` in the
    /// parameters so that a server without TLS is refused rather than used in the clear.
    pub fn tls<U>(self, tls: U) -> PostgresBuilder<U> {
        PostgresBuilder {
            params: self.params,
            max_size: self.max_size,
            wait: self.wait,
            create: self.create,
            recycle: self.recycle,
            tls,
        }
    }
}

impl<T> PostgresBuilder<T>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    /// Builds the pool and opens the store on it (see [`Store::connect`]).
    ///
    /// # Errors
    ///
    /// As [`Store::connect`].
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        let config = tokio_postgres::Config::from_str(&self.params)
            .map_err(StoreError::db("reading the connection parameters"))?;
        let manager = Manager::from_config(
            config,
            self.tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.max_size)
            .wait_timeout(self.wait)
            .create_timeout(self.create)
            .recycle_timeout(self.recycle)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(StoreError::db("building the connection pool"))?;
        Store::from_pool(pool).await
    }
}

impl Postgres {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|err| {
            let err = StoreError::db("getting a connection from the pool")(err);
            tracing::warn!(
                class = %err.class(),
                error = ?err,
                "no connection from the pool"
            );
            err
        })
    }
}

/// Values as `tokio-postgres` parameters.
pub(super) struct Params(Vec<Box<dyn ToSql + Sync + Send>>);

impl Params {
    /// `values` bound to the parameters of a statement the server typed `types`: an integer
    /// goes as the width the server expects (a `SMALLINT` column compares with an `int2`).
    pub(super) fn typed(values: &[Value], types: &[tokio_postgres::types::Type]) -> Params {
        use tokio_postgres::types::Type;
        Params(
            values
                .iter()
                .enumerate()
                .map(|(i, value)| -> Box<dyn ToSql + Sync + Send> {
                    match (value, types.get(i)) {
                        (Value::Int(int), Some(&Type::INT2)) => match i16::try_from(*int) {
                            Ok(small) => Box::new(small),
                            Err(_) => Box::new(*int),
                        },
                        (Value::Int(int), Some(&Type::INT4)) => match i32::try_from(*int) {
                            Ok(small) => Box::new(small),
                            Err(_) => Box::new(*int),
                        },
                        (Value::Text(text), _) => Box::new(text.clone()),
                        (Value::Int(int), _) => Box::new(*int),
                        (Value::Bytes(bytes), _) => Box::new(bytes.clone()),
                        (Value::Null, _) => Box::new(Option::<String>::None),
                    }
                })
                .collect(),
        )
    }

    pub(super) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// What a driver's or the pool's error says (see [`Diagnosis`](super::error::Diagnosis)):
/// an error the server sent (it has a SQLSTATE) means the statement was refused and its
/// transaction rolled back, and is transient for the states that say so (a connection lost, a
/// serialization failure or deadlock, the server shutting down or out of connections); a
/// connection that closed or failed without an answer is transient and settles nothing; a pool
/// that timed out waiting for a connection sent nothing.
pub(super) fn diagnose(err: &(dyn std::error::Error + 'static)) -> Option<super::error::Diagnosis> {
    use super::error::Diagnosis;
    if let Some(pool) = err.downcast_ref::<deadpool_postgres::PoolError>() {
        return match pool {
            deadpool_postgres::PoolError::Backend(err) => diagnose(err),
            deadpool_postgres::PoolError::Timeout(_) => Some(Diagnosis {
                transient: true,
                nothing_applied: true,
            }),
            _ => Some(Diagnosis {
                transient: false,
                nothing_applied: true,
            }),
        };
    }
    let err = err.downcast_ref::<tokio_postgres::Error>()?;
    Some(match err.code() {
        Some(state) => Diagnosis {
            transient: transient_state(state.code()),
            nothing_applied: true,
        },
        None if err.is_closed() => Diagnosis {
            transient: true,
            nothing_applied: false,
        },
        None if let Some(kind) = io_source(err) => Diagnosis {
            transient: super::error::transient_io(kind),
            nothing_applied: false,
        },
        None => Diagnosis {
            transient: false,
            nothing_applied: false,
        },
    })
}

/// Whether a SQLSTATE says that trying again may succeed.
fn transient_state(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, ...)
        || matches!(
            code,
            "40001" // serialization failure
                | "40P01" // deadlock detected
                | "55P03" // lock not available
                | "57014" // query canceled (a statement timeout)
                | "57P01" // admin shutdown
                | "57P02" // crash shutdown
                | "57P03" // cannot connect now
        )
}

/// The kind of the first I/O error among `err`'s sources.
fn io_source(err: &tokio_postgres::Error) -> Option<std::io::ErrorKind> {
    let mut next = std::error::Error::source(err);
    while let Some(source) = next {
        if let Some(io) = source.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = source.source();
    }
    None
}

/// An `i64` column read as the `u64` it stores.
pub(super) fn unsigned(value: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        StoreError::InvalidRecord(crate::record::RecordError::new(
            None,
            None,
            crate::record::BrokenRule::StoredColumnDisagrees { column },
        ))
    })
}

impl Primitives for Postgres {
    const NAME: &'static str = "postgres";

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    async fn schema_version(&self) -> Result<(u32, u32), StoreError> {
        migrate::version(&self.client().await?).await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::migrate(self.client().await?).await
    }

    async fn store_clock(&self) -> Result<DateTime<Utc>, StoreError> {
        write::server_clock(&self.client().await?).await
    }

    async fn read(&self, what: &'static str, reads: Vec<Sql>) -> Result<Vec<Vec<Row>>, StoreError> {
        read::select(&mut self.client().await?, what, &reads).await
    }

    async fn write_policy(&self, change: PolicyWrite) -> Result<Option<PolicyRow>, StoreError> {
        write::policy(&mut self.client().await?, &change).await
    }

    async fn write(&self, step: StepWrite) -> Result<Written, StoreError> {
        write::step(self, &mut self.client().await?, &step).await
    }

    async fn plan(&self, sql: Sql) -> Result<Vec<String>, StoreError> {
        let explain = Sql {
            text: format!("EXPLAIN {}", sql.text),
            args: sql.args,
        };
        let rows = read::select_in(&self.client().await?, "planning a query", &explain).await?;
        rows.iter()
            .map(|row| {
                row.text(0, "QUERY PLAN")
                    .map(str::to_owned)
                    .map_err(|rule| {
                        StoreError::database("planning a query")(rule.to_string().into())
                    })
            })
            .collect()
    }

    async fn claim_policy(
        &self,
        now: DateTime<Utc>,
        lease_until: String,
        token: String,
        limit: usize,
    ) -> Result<Vec<ClaimedPolicy>, StoreError> {
        outbox::claim_policy(&self.client().await?, now, &lease_until, &token, limit).await
    }

    async fn finish_policy(
        &self,
        message: ClaimedPolicy,
        token: String,
        update: OutboxUpdate,
    ) -> Result<Finished, StoreError> {
        outbox::finish_policy(&self.client().await?, &message, &token, &update).await
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: String,
        token: String,
        limit: usize,
    ) -> Result<Vec<ClaimedRow>, StoreError> {
        outbox::claim(&self.client().await?, now, &lease_until, &token, limit).await
    }

    async fn finish(
        &self,
        message: Claimed,
        token: String,
        step: Option<StepWrite>,
        update: OutboxUpdate,
    ) -> Result<Finished, StoreError> {
        outbox::finish(
            self,
            &mut self.client().await?,
            &message,
            &token,
            step.as_ref(),
            &update,
        )
        .await
    }

    async fn chain(
        &self,
        tenant: TenantId,
        sink: tokio::sync::mpsc::Sender<ChainBatch>,
    ) -> Result<Vec<Option<(RequestId, u64)>>, StoreError> {
        let tenant = uuid_text(tenant.as_uuid());
        chain::walk(&mut self.client().await?, &tenant, &sink).await
    }

    async fn add_checkpoint(&self, row: CheckpointRow) -> Result<bool, StoreError> {
        log::add_checkpoint(&mut self.client().await?, &row).await
    }
}
