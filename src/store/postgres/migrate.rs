//! The PostgreSQL schema: one migration per version, applied in order under an advisory lock
//! (so two nodes starting at once migrate in turn) and recorded in `lockbox_schema`. Never edit
//! or remove one: add the next.

use deadpool_postgres::GenericClient;

use crate::store::StoreError;

/// The migrations, in order.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_checked_steps.sql"),
    include_str!("migrations/0003_request_listings.sql"),
    include_str!("migrations/0004_tenant_policies.sql"),
    include_str!("migrations/0005_merkle_log.sql"),
    include_str!("migrations/0006_step_keys.sql"),
    include_str!("migrations/0007_policy_refusals.sql"),
];

/// The version whose migration builds the tenants' Merkle trees, in Rust, after its SQL.
const MERKLE_LOG: usize = 5;

/// The advisory lock nodes take while migrating.
const MIGRATION_LOCK: i64 = 0x006c_6f63_6b62_6f78;

/// The schema version this build writes.
fn supported() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// The version the database has (0 for none), and the one this build writes. Reads only.
pub(super) async fn version(client: &impl GenericClient) -> Result<(u32, u32), StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('lockbox_schema') IS NOT NULL", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(StoreError::db("reading the schema version"))?;
    if !exists {
        return Ok((0, supported()));
    }
    let found: i32 = client
        .query_one("SELECT version FROM lockbox_schema", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(StoreError::db("reading the schema version"))?;
    Ok((u32::try_from(found).unwrap_or(0), supported()))
}

/// Brings the schema up to date in one transaction; a newer one is refused, untouched.
///
/// Nodes migrating at once take turns under a session-level advisory lock taken before the
/// migration's transaction begins: a transaction that began before another node's migration
/// committed would look the schema up in a catalog cache that an advisory lock does not
/// refresh, find none, and create the tables again (`relation "requests" already exists`).
/// The lock is released however the migration ends; a connection that cannot release it is
/// closed rather than handed out again holding it.
pub(super) async fn migrate(mut client: deadpool_postgres::Object) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(StoreError::db("locking for the migration"))?;
    let migrated = migrate_locked(&mut client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    if unlocked.is_err() {
        drop(deadpool_postgres::Object::take(client));
    }
    migrated
}

/// The migration, in one transaction, with the lock held.
async fn migrate_locked(client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(StoreError::db("starting the migration"))?;
    let (found, supported) = version(&tx).await?;
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    if found == 0 {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS lockbox_schema (version INTEGER NOT NULL); \
             INSERT INTO lockbox_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM lockbox_schema);",
        )
        .await
        .map_err(StoreError::db("creating the schema version table"))?;
    }
    let done = usize::try_from(found).unwrap_or(0);
    for (version, migration) in (1..).zip(MIGRATIONS).skip(done) {
        tx.batch_execute(migration)
            .await
            .map_err(StoreError::db("migrating the schema"))?;
        if version == MERKLE_LOG {
            super::log::build_trees(&tx)
                .await
                .map_err(StoreError::db("building the tenants' Merkle trees"))?;
        }
    }
    let version = i32::try_from(supported).unwrap_or(i32::MAX);
    tx.execute("UPDATE lockbox_schema SET version = $1", &[&version])
        .await
        .map_err(StoreError::db("recording the schema version"))?;
    tx.commit()
        .await
        .map_err(StoreError::committing("committing the migration"))
}
