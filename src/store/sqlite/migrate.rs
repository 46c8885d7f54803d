//! The SQLite schema: one migration per version, applied in order and recorded in SQLite's
//! `user_version` (rusqlite_migration). Never edit or remove one: add the next.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::store::StoreError;

/// The migrations, in order.
fn migrations() -> [M<'static>; 7] {
    [
        M::up(include_str!("migrations/0001_initial.sql")),
        M::up(include_str!("migrations/0002_outbox_delivery.sql")),
        M::up(include_str!("migrations/0003_request_listings.sql")),
        M::up(include_str!("migrations/0004_tenant_policies.sql")),
        M::up_with_hook(include_str!("migrations/0005_merkle_log.sql"), |tx| {
            Ok(super::log::build_trees(tx)?)
        }),
        M::up(include_str!("migrations/0006_step_keys.sql")),
        M::up(include_str!("migrations/0007_policy_refusals.sql")),
    ]
}

/// The schema version this build writes.
fn supported() -> u32 {
    u32::try_from(migrations().len()).unwrap_or(u32::MAX)
}

/// The version the database has, and the one this build writes.
pub(super) fn version(conn: &mut Connection) -> rusqlite::Result<(u32, u32)> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    Ok((u32::try_from(found).unwrap_or(u32::MAX), supported()))
}

/// Brings the schema up to date. A newer database is refused before anything is written to it
/// (even switching the journal mode would rewrite its header).
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let (found, supported) = version(conn).map_err(StoreError::db("reading the schema version"))?;
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(StoreError::db("switching to the WAL journal"))?;
    Migrations::from_iter(migrations())
        .to_latest(conn)
        .map_err(StoreError::db("migrating the schema"))
}
