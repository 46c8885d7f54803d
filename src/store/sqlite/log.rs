//! Each tenant's Merkle tree on SQLite: the perfect subtrees a step completes, written in its
//! transaction; the tree's edge read back for the next one; the trees of a version-4 store built
//! by its migration.

use rusqlite::{Connection, Transaction, params};

use super::Sqlite;
use super::read::select_in;

use crate::store::StoreError;
use crate::store::backend::Kept;
use crate::store::columns::{AuditColumns, CHECKPOINT_COLUMNS, CheckpointRow, list};
use crate::store::select;
use crate::tlog::{Frontier, NodeId, TreeHash};

/// The edge of `tenant`'s tree of `size` leaves, from its stored subtrees.
pub(super) fn frontier(conn: &Connection, tenant: &str, size: u64) -> Result<Frontier, StoreError> {
    let ids = Frontier::ids(size);
    let nodes = if ids.is_empty() {
        Vec::new()
    } else {
        let rows = select_in(conn, &select::nodes_sql::<Sqlite>(tenant, &ids))
            .map_err(StoreError::db("reading the tenant's tree"))?;
        select::nodes_in_order(&ids, &rows)?
    };
    crate::store::log::frontier_of(tenant, size, nodes)
}

/// Stores subtrees of `tenant`'s tree.
pub(super) fn insert_nodes(
    tx: &Transaction<'_>,
    tenant: &str,
    nodes: &[(NodeId, TreeHash)],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO log_nodes (tenant, last, level, hash) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (id, hash) in nodes {
        insert.execute(params![
            tenant,
            id.last_leaf(),
            id.level,
            hash.as_bytes().as_slice()
        ])?;
    }
    Ok(())
}

/// Builds the tree of every tenant's stored entries, in chain order (the migration to schema
/// version 5). A tree is built over the entries as stored, whatever they are: verification,
/// not the migration, judges them.
pub(super) fn build_trees(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let tenants: Vec<String> = tx
        .prepare("SELECT tenant FROM audit UNION SELECT tenant FROM policy_changes ORDER BY 1")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for tenant in tenants {
        let mut frontier = Frontier::empty();
        let mut nodes = Vec::new();
        let mut stmt = tx.prepare(
            "SELECT chain_position, previous_hash, request_id, sequence, at, actor_role, actor_id, \
                    kind, record FROM audit WHERE tenant = ?1 \
             UNION ALL \
             SELECT chain_position, previous_hash, '', version, at, 'tenant_admin', changed_by, \
                    'policy_changed', record FROM policy_changes WHERE tenant = ?1 \
             ORDER BY 1",
        )?;
        let mut rows = stmt.query([&tenant])?;
        while let Some(row) = rows.next()? {
            let text = |i: usize| {
                row.get_ref(i)
                    .ok()
                    .and_then(|v| v.as_str().ok())
                    .unwrap_or("")
            };
            let columns = AuditColumns {
                tenant: &tenant,
                request_id: text(2),
                sequence: row.get(3)?,
                at: text(4),
                actor_role: text(5),
                actor_id: text(6),
                kind: text(7),
                record: text(8),
            };
            let previous = row.get_ref(1)?.as_bytes().unwrap_or_default();
            frontier.push(columns.leaf_hash(previous, row.get(0)?), &mut nodes);
        }
        insert_nodes(tx, &tenant, &nodes)?;
    }
    Ok(())
}

/// Keeps a checkpoint unless one of its size is kept: whether it was added. Committed without
/// waiting for the disk (see [`Primitives::add_checkpoint`](crate::store::backend::Primitives::add_checkpoint)).
pub(super) fn add_checkpoint(conn: &Connection, row: &CheckpointRow) -> rusqlite::Result<bool> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let added = conn
        .prepare_cached(&format!(
            "INSERT INTO checkpoints ({}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            list(&CHECKPOINT_COLUMNS)
        ))
        .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(row.values().iter())));
    // Back to FULL whatever happened: every other write waits for the disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    added.map(|added| added == 1)
}

/// Signs `tenant`'s checkpoint inside a step's transaction `tx` (see
/// [`StepSigning`](crate::store::checkpoints::StepSigning)) and keeps it there: its note, or `None` when
/// the store is to sign after the commit instead.
pub(super) fn sign_in(
    tx: &Transaction<'_>,
    tenant: &str,
    frontier: &Frontier,
    signing: &crate::store::checkpoints::StepSigning,
) -> Result<Option<String>, StoreError> {
    let latest = select_in(tx, &select::checkpoints_sql::<Sqlite>(tenant, Kept::Latest))
        .map_err(StoreError::db("reading the tenant's checkpoints"))?
        .first()
        .map(select::checkpoint_row)
        .transpose()?;
    let row = signing.checkpoint(frontier.size(), frontier.root(), latest, |id| {
        let sql = select::nodes_sql::<Sqlite>(tenant, &[id]);
        let rows = select_in(tx, &sql).ok()?;
        select::nodes_in_order(&[id], &rows)
            .ok()?
            .pop()
            .flatten()
            .and_then(|bytes| TreeHash::from_slice(&bytes))
    });
    let Some(row) = row else {
        return Ok(None);
    };
    tx.prepare_cached(&format!(
        "INSERT INTO checkpoints ({}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        list(&CHECKPOINT_COLUMNS)
    ))
    .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(row.values().iter())))
    .map_err(StoreError::db("keeping a checkpoint"))?;
    Ok(Some(row.note))
}
