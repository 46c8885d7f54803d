//! The databases the suite runs against, and what a test does behind a store's back: raw SQL
//! edits (as an attacker with database access would make them), counts, and child processes.
#![allow(async_fn_in_trait)]

use customer_lockbox::*;

/// A throwaway database of one kind, and the stores that run on it.
pub trait Db: Sized + Send + Sync + 'static {
    type Backend: Backend;
    /// The name of the test module of this kind, for running one test in a child process.
    const NAME: &'static str;
    /// SQL that marks the database as written by a newer build (schema version 99).
    const FUTURE_SCHEMA: &'static str;
    /// SQL that marks the database as at schema version 1.
    const PAST_SCHEMA: &'static str;
    /// SQL that marks the database as at this build's schema version.
    const CURRENT_SCHEMA: &'static str;
    /// SQL that takes a database at this build's schema back to version 2, as that
    /// build left it: no request summary columns, no listing indexes.
    const VERSION_2: &'static str;
    /// A fresh database, migrated.
    async fn create() -> Self;
    /// A database as an earlier build left it: the committed fixture in `tests/fixtures/<dir>/`
    /// (`record-v1`: record format 1, schema 3; `record-v2`: format 2, schema 4), not migrated.
    async fn fixture_database(dir: &str) -> Self;
    /// A new store (another node, another process's connection) on the database.
    async fn open(&self) -> Store<Self::Backend> {
        Self::open_at(&self.place()).await.unwrap()
    }
    /// Where the database is, for [`Db::open_at`] in another process.
    fn place(&self) -> String;
    /// A store on the database at `place`.
    async fn open_at(place: &str) -> Result<Store<Self::Backend>, StoreError>;
    /// A store that may only read the database.
    async fn open_read_only(&self) -> Result<Store<Self::Backend>, StoreError>;
    /// Runs `statements` behind the store's back, with foreign keys not enforced. `Err` when the
    /// database itself refuses the edit (a type or a constraint), with its message.
    async fn sql(&self, statements: &str) -> Result<(), String>;
    /// The integer `query` returns.
    async fn count(&self, query: &str) -> i64;
    /// Adds filler rows (20,000 audit rows over 10 tenants, 2,000 requests, 2,000 outbox rows)
    /// and refreshes the planner's statistics, so a plan shows what the store does on a busy
    /// database.
    async fn fill_for_planner(&self);
    /// Whether a query plan reads `table` through an index only (never a full scan).
    fn plan_uses_index(plan: &[String], table: &str) -> bool;
}

/// Migrates a fresh database and gives Contoso its policy (`policy()`, set by Adele a day
/// before t0, its message to the approvers delivered). Fabrikam has none.
async fn prepare<B: Backend>(store: &Store<B>) {
    store.migrate().await.unwrap();
    crate::common::contoso_policy_in(store).await;
}

/// A store file in a temporary directory, removed with it.
pub struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Sqlite {
    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }
}

impl Db for Sqlite {
    type Backend = customer_lockbox::Sqlite;
    const NAME: &'static str = "sqlite";
    const FUTURE_SCHEMA: &'static str = "PRAGMA user_version = 99";
    const PAST_SCHEMA: &'static str = "PRAGMA user_version = 1";
    const CURRENT_SCHEMA: &'static str = "PRAGMA user_version = 7";
    const VERSION_2: &'static str = "
        DROP INDEX requests_by_tenant; DROP INDEX requests_by_tenant_state;
        DROP INDEX requests_by_engineer; DROP INDEX requests_by_service_request;
        DROP INDEX requests_by_due; DROP INDEX outbox_pending; DROP INDEX outbox_failed;
        ALTER TABLE requests DROP COLUMN service_request;
        ALTER TABLE requests DROP COLUMN services;
        ALTER TABLE requests DROP COLUMN engineer;
        ALTER TABLE requests DROP COLUMN drafted_at;
        CREATE INDEX requests_by_tenant ON requests (tenant);
        CREATE INDEX requests_due ON requests (state, due_at) WHERE due_at IS NOT NULL;
        DROP TABLE policy_refusals; DROP TABLE step_keys;
        DROP TABLE policy_outbox; DROP TABLE policy_changes;
        DROP TABLE log_nodes; DROP TABLE checkpoints;
        PRAGMA user_version = 2;";

    async fn create() -> Self {
        let (dir, path) = crate::common::store_file();
        let db = Sqlite { _dir: dir, path };
        crate::harness::prepare(&db.open().await).await;
        db
    }

    async fn fixture_database(fixture: &str) -> Self {
        let (dir, path) = crate::common::store_file();
        std::fs::copy(
            crate::common::fixture(&format!("{fixture}/store.sqlite3")),
            &path,
        )
        .unwrap();
        Sqlite { _dir: dir, path }
    }

    fn place(&self) -> String {
        self.path.display().to_string()
    }

    async fn open_at(place: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(place).await
    }

    async fn open_read_only(&self) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_read_only(&self.path).await
    }

    async fn sql(&self, statements: &str) -> Result<(), String> {
        let conn = self.raw();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute_batch(statements).map_err(|e| e.to_string())
    }

    async fn count(&self, query: &str) -> i64 {
        self.raw().query_row(query, [], |row| row.get(0)).unwrap()
    }

    async fn fill_for_planner(&self) {
        self.sql(&filler("CAST(n AS TEXT)", "x'00'")).await.unwrap();
        self.sql("ANALYZE").await.unwrap();
    }

    fn plan_uses_index(plan: &[String], table: &str) -> bool {
        plan.iter().any(|line| line.contains("USING"))
            && !plan.iter().any(|line| line == &format!("SCAN {table}"))
    }
}

/// A database of its own on the test server (`LOCKBOX_POSTGRES_URL`).
#[cfg(feature = "postgres")]
pub struct Postgres {
    url: String,
}

#[cfg(feature = "postgres")]
impl Drop for Postgres {
    fn drop(&mut self) {
        crate::common::pg::drop_database(&self.url);
    }
}

#[cfg(feature = "postgres")]
impl Postgres {
    async fn raw(&self) -> tokio_postgres::Client {
        crate::common::pg::client(&self.url).await
    }
}

#[cfg(feature = "postgres")]
impl Db for Postgres {
    type Backend = customer_lockbox::Postgres;
    const NAME: &'static str = "postgres";
    const FUTURE_SCHEMA: &'static str = "UPDATE lockbox_schema SET version = 99";
    const PAST_SCHEMA: &'static str = "UPDATE lockbox_schema SET version = 1";
    const CURRENT_SCHEMA: &'static str = "UPDATE lockbox_schema SET version = 7";
    const VERSION_2: &'static str = "
        DROP INDEX requests_by_tenant, requests_by_tenant_state, requests_by_engineer,
            requests_by_service_request, requests_by_due, outbox_pending, outbox_failed;
        ALTER TABLE requests DROP COLUMN service_request, DROP COLUMN services,
            DROP COLUMN engineer, DROP COLUMN drafted_at;
        CREATE INDEX requests_by_tenant ON requests (tenant);
        CREATE INDEX requests_due ON requests (state, due_at) WHERE due_at IS NOT NULL;
        DROP FUNCTION lockbox_save_step(JSONB, BIGINT, BIGINT, BYTEA, BIGINT, BYTEA, JSONB, JSONB,
            TEXT, BIGINT, BIGINT, JSONB, BYTEA, JSONB, TEXT);
        DROP TABLE policy_refusals, step_keys, policy_outbox, policy_changes, log_nodes,
            checkpoints;
        ALTER TABLE chains DROP COLUMN frontier;
        CREATE FUNCTION lockbox_save_step(
            TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, INTEGER, BIGINT, BYTEA, BIGINT, BYTEA,
            BIGINT[], BIGINT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BYTEA[], BYTEA[],
            BIGINT[], TEXT[], TEXT[], TEXT[], BYTEA, TEXT, BIGINT)
            RETURNS BOOLEAN LANGUAGE sql AS 'SELECT false';
        UPDATE lockbox_schema SET version = 2;";

    async fn create() -> Self {
        let db = Postgres {
            url: crate::common::pg::fresh_database().await,
        };
        crate::harness::prepare(&db.open().await).await;
        db
    }

    async fn fixture_database(fixture: &str) -> Self {
        let db = Postgres {
            url: crate::common::pg::fresh_database().await,
        };
        let dump =
            std::fs::read_to_string(crate::common::fixture(&format!("{fixture}/postgres.sql")))
                .unwrap();
        db.raw().await.batch_execute(&dump).await.unwrap();
        db
    }

    fn place(&self) -> String {
        self.url.clone()
    }

    async fn open_at(place: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect(place).await
    }

    async fn open_read_only(&self) -> Result<PostgresStore, StoreError> {
        let reader = crate::common::pg::reader(&self.url).await;
        PostgresStore::connect(&reader).await
    }

    async fn sql(&self, statements: &str) -> Result<(), String> {
        let client = self.raw().await;
        // Replica mode skips the triggers that enforce foreign keys.
        client
            .batch_execute("SET session_replication_role = replica")
            .await
            .unwrap();
        client.batch_execute(statements).await.map_err(|e| {
            e.as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned())
        })
    }

    async fn count(&self, query: &str) -> i64 {
        self.raw().await.query_one(query, &[]).await.unwrap().get(0)
    }

    async fn fill_for_planner(&self) {
        self.sql(&filler("CAST(n AS TEXT)", "'\\x00'::bytea"))
            .await
            .unwrap();
        self.sql("ANALYZE").await.unwrap();
    }

    fn plan_uses_index(plan: &[String], table: &str) -> bool {
        plan.iter().any(|line| line.contains("Index"))
            && !plan
                .iter()
                .any(|line| line.contains(&format!("Seq Scan on {table}")))
    }
}

/// Filler rows in SQL both databases run: 20,000 audit rows and 2,000 requests over 10 tenants,
/// and 2,000 outbox rows; `text` casts the row number `n` to text, `blob` is a one-byte binary
/// literal.
fn filler(text: &str, blob: &str) -> String {
    format!(
        "INSERT INTO requests (id, tenant, state, revision, due_at, record_version, \
                               service_request, services, engineer, drafted_at) \
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 2000) \
         SELECT 'filler-' || {text}, 'tenant-' || CAST(n % 10 AS TEXT), \
                CASE n % 3 WHEN 0 THEN 'closed' WHEN 1 THEN 'pending_customer' ELSE 'granted' END, \
                100, CASE n % 3 WHEN 0 THEN NULL ELSE '2026-10-02T00:00:00.' || {text} || 'Z' END, 1, \
                'case-' || CAST(n % 500 AS TEXT), 'exchange_online', \
                'engineer-' || CAST(n % 40 AS TEXT), '2026-10-01T00:00:00.' || {text} || 'Z' FROM s; \
         INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, \
                            kind, record, previous_hash, hash) \
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 20000) \
         SELECT 'tenant-' || CAST((n / 100) % 10 AS TEXT), n, 'filler-' || CAST(n / 100 AS TEXT), \
                n % 100 + 1, '2026-10-01T00:00:00.' || {text} || 'Z', \
                CASE n % 3 WHEN 0 THEN 'engineer' WHEN 1 THEN 'system' ELSE 'approver' END, \
                'someone-' || CAST(n % 50 AS TEXT), \
                CASE WHEN n % 100 < 90 THEN 'engineer_acted' ELSE 'drafted' END, '{{}}', {blob}, {blob} \
         FROM s; \
         INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts, \
                             lease_until, last_error) \
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 2000) \
         SELECT 'filler-' || {text}, 1, 'decision_needed', '2026-10-01T00:00:00Z', '{{}}', \
                CASE WHEN n % 20 = 0 THEN 'pending' ELSE 'sent' END, 1, '2026-10-01T00:00:00Z', \
                CASE WHEN n % 40 = 0 THEN 'relay refused' END \
         FROM s"
    )
}
