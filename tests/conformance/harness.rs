//! The databases the suite runs against, and what a test does behind a store's back: raw SQL
//! edits (as an attacker with database access would make them), counts, and child processes.

use customer_lockbox::*;

/// A throwaway database of one kind, and the store that runs on it.
pub trait Db: Sized + 'static {
    type Store: Store + std::fmt::Debug + Send;
    /// The name of the test module of this kind, for running one test in a child process.
    const NAME: &'static str;
    /// SQL that marks the database as written by a newer build (schema version 99).
    const FUTURE_SCHEMA: &'static str;
    /// A fresh, empty database.
    fn create() -> Self;
    /// A new store (another node, another process's connection) on the database.
    fn open(&self) -> Self::Store {
        Self::open_at(&self.place()).unwrap()
    }
    /// Where the database is, for [`Db::open_at`] in another process.
    fn place(&self) -> String;
    /// A store on the database at `place`.
    fn open_at(place: &str) -> Result<Self::Store, StoreError>;
    /// Runs `statements` behind the store's back, with foreign keys not enforced. `Err` when the
    /// database itself refuses the edit (a type or a constraint), with its message.
    fn sql(&self, statements: &str) -> Result<(), String>;
    /// The integer `query` returns.
    fn count(&self, query: &str) -> i64;
    /// Adds filler rows (20,000 audit rows over 10 tenants) and refreshes the planner's
    /// statistics, so a plan shows what the store does on a busy database.
    fn fill_for_planner(&self);
    /// Whether a query plan reads the audit table through an index only (never a full scan).
    fn plan_uses_index(plan: &[String]) -> bool;
}

/// A store file in a temporary directory, removed with it.
pub struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Db for Sqlite {
    type Store = SqliteStore;
    const NAME: &'static str = "sqlite";
    const FUTURE_SCHEMA: &'static str = "PRAGMA user_version = 99";

    fn create() -> Self {
        let (dir, path) = crate::common::store_file();
        Sqlite { _dir: dir, path }
    }

    fn place(&self) -> String {
        self.path.display().to_string()
    }

    fn open_at(place: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(place)
    }

    fn sql(&self, statements: &str) -> Result<(), String> {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute_batch(statements).map_err(|e| e.to_string())
    }

    fn count(&self, query: &str) -> i64 {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .query_row(query, [], |row| row.get(0))
            .unwrap()
    }

    fn fill_for_planner(&self) {
        self.sql(&filler("CAST(n AS TEXT)", "x'00'")).unwrap();
        self.sql("ANALYZE").unwrap();
    }

    fn plan_uses_index(plan: &[String]) -> bool {
        plan.iter().any(|line| line.contains("USING"))
            && !plan.iter().any(|line| line == "SCAN audit")
    }
}

/// A database of its own on the test server (`LOCKBOX_POSTGRES_URL`).
#[cfg(feature = "postgres")]
pub struct Postgres {
    url: String,
}

#[cfg(feature = "postgres")]
impl Db for Postgres {
    type Store = PostgresStore;
    const NAME: &'static str = "postgres";
    const FUTURE_SCHEMA: &'static str = "UPDATE lockbox_schema SET version = 99";

    fn create() -> Self {
        Postgres {
            url: crate::common::pg::fresh_database(),
        }
    }

    fn place(&self) -> String {
        self.url.clone()
    }

    fn open_at(place: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect(place)
    }

    fn sql(&self, statements: &str) -> Result<(), String> {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        // Replica mode skips the triggers that enforce foreign keys.
        client
            .batch_execute("SET session_replication_role = replica")
            .unwrap();
        client.batch_execute(statements).map_err(|e| {
            e.as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned())
        })
    }

    fn count(&self, query: &str) -> i64 {
        postgres::Client::connect(&self.url, postgres::NoTls)
            .unwrap()
            .query_one(query, &[])
            .unwrap()
            .get(0)
    }

    fn fill_for_planner(&self) {
        self.sql(&filler("CAST(n AS TEXT)", "'\\x00'::bytea"))
            .unwrap();
        self.sql("ANALYZE").unwrap();
    }

    fn plan_uses_index(plan: &[String]) -> bool {
        plan.iter().any(|line| line.contains("Index"))
            && !plan.iter().any(|line| line.contains("Seq Scan on audit"))
    }
}

/// 20,000 filler audit rows and their 200 requests, in SQL both databases run; `text` casts
/// the row number `n` to text, `blob` is a one-byte binary literal.
fn filler(text: &str, blob: &str) -> String {
    format!(
        "INSERT INTO requests (id, tenant, state, revision, due_at, record_version) \
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 200) \
         SELECT 'filler-' || {text}, 'tenant-' || CAST(n % 10 AS TEXT), 'closed', 100, NULL, 1 FROM s; \
         INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, \
                            kind, record, previous_hash, hash) \
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 20000) \
         SELECT 'tenant-' || CAST((n / 100) % 10 AS TEXT), n, 'filler-' || CAST(n / 100 AS TEXT), \
                n % 100 + 1, '2026-10-01T00:00:00.' || {text} || 'Z', \
                CASE n % 3 WHEN 0 THEN 'engineer' WHEN 1 THEN 'system' ELSE 'approver' END, \
                'someone-' || CAST(n % 50 AS TEXT), \
                CASE WHEN n % 100 < 90 THEN 'engineer_acted' ELSE 'drafted' END, '{{}}', {blob}, {blob} \
         FROM s"
    )
}
