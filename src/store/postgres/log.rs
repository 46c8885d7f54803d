//! Each tenant's Merkle tree on PostgreSQL: the tree's edge kept with the chain head (read under
//! the chain's lock with it), the subtrees a step completes written by `lockbox_save_step`, and
//! the trees of a version-4 database built by its migration.

use deadpool_postgres::GenericClient;

use crate::store::StoreError;
use crate::store::columns::{AuditColumns, CHECKPOINT_COLUMNS, CheckpointRow, list};
use crate::tlog::{Frontier, NodeId, TreeHash};

/// The edge of `tenant`'s tree of `size` leaves from its stored bytes (`chains.frontier`).
pub(super) fn frontier(tenant: &str, size: u64, bytes: &[u8]) -> Result<Frontier, StoreError> {
    crate::store::log::frontier_of(tenant, size, edge_chunks(size, bytes))
}

/// `chains.frontier`'s bytes as the subtrees of the edge of a tree of `size` leaves: `None` for
/// each when their length is not that of the edge.
fn edge_chunks(size: u64, bytes: &[u8]) -> Vec<Option<Vec<u8>>> {
    let whole = bytes.len() == 32 * Frontier::ids(size).len();
    bytes
        .chunks(32)
        .map(|chunk| whole.then(|| chunk.to_vec()))
        .collect()
}

/// A frontier as `chains.frontier` stores it: its hashes, largest subtree first.
pub(super) fn frontier_bytes(frontier: &Frontier) -> Vec<u8> {
    frontier
        .nodes()
        .iter()
        .flat_map(|hash| hash.as_bytes().iter().copied())
        .collect()
}

/// Subtrees as `lockbox_save_step` takes them: JSON objects with `last`, `level` and `hash`.
pub(super) fn nodes_json(nodes: &[(NodeId, TreeHash)]) -> String {
    serde_json::Value::Array(
        nodes
            .iter()
            .map(|(id, hash)| {
                serde_json::json!({
                    "last": id.last_leaf(),
                    "level": id.level,
                    "hash": hex::encode(hash.as_bytes()),
                })
            })
            .collect(),
    )
    .to_string()
}

/// Stores subtrees of `tenant`'s tree.
pub(super) async fn insert_nodes(
    client: &impl GenericClient,
    tenant: &str,
    nodes: &[(NodeId, TreeHash)],
) -> Result<(), tokio_postgres::Error> {
    let levels: Vec<i16> = nodes.iter().map(|(id, _)| i16::from(id.level)).collect();
    let lasts: Vec<i64> = nodes
        .iter()
        .map(|(id, _)| i64::try_from(id.last_leaf()).unwrap_or(i64::MAX))
        .collect();
    let hashes: Vec<Vec<u8>> = nodes.iter().map(|(_, h)| h.as_bytes().to_vec()).collect();
    client
        .execute(
            "INSERT INTO log_nodes (tenant, last, level, hash) \
             SELECT $1, * FROM unnest($2::bigint[], $3::smallint[], $4::bytea[])",
            &[&tenant, &lasts, &levels, &hashes],
        )
        .await
        .map(|_| ())
}

/// Builds the tree of every tenant's stored entries, in chain order, and keeps each tree's edge
/// with its chain head (the migration to schema version 5). A tree is built over the entries as
/// stored, whatever they are: verification, not the migration, judges them.
pub(super) async fn build_trees(client: &impl GenericClient) -> Result<(), tokio_postgres::Error> {
    let tenants = client
        .query(
            "SELECT tenant FROM audit UNION SELECT tenant FROM policy_changes ORDER BY 1",
            &[],
        )
        .await?;
    for tenant in tenants {
        let tenant: String = tenant.try_get(0)?;
        let rows = client
            .query(
                "SELECT chain_position, previous_hash, request_id, sequence, at, actor_role, \
                        actor_id, kind, record FROM audit WHERE tenant = $1 \
                 UNION ALL \
                 SELECT chain_position, previous_hash, '', version, at, 'tenant_admin', \
                        changed_by, 'policy_changed', record FROM policy_changes WHERE tenant = $1 \
                 ORDER BY 1",
                &[&tenant],
            )
            .await?;
        let mut frontier = Frontier::empty();
        let mut nodes = Vec::new();
        for row in &rows {
            let position: i64 = row.try_get(0)?;
            let previous: &[u8] = row.try_get(1)?;
            let sequence: i64 = row.try_get(3)?;
            let columns = AuditColumns {
                tenant: &tenant,
                request_id: row.try_get(2)?,
                sequence: u64::try_from(sequence).unwrap_or(0),
                at: row.try_get(4)?,
                actor_role: row.try_get(5)?,
                actor_id: row.try_get(6)?,
                kind: row.try_get(7)?,
                record: row.try_get(8)?,
            };
            let leaf = columns.leaf_hash(previous, u64::try_from(position).unwrap_or(0));
            frontier.push(leaf, &mut nodes);
        }
        insert_nodes(client, &tenant, &nodes).await?;
        client
            .execute(
                "UPDATE chains SET frontier = $2 WHERE tenant = $1",
                &[&tenant, &frontier_bytes(&frontier)],
            )
            .await?;
    }
    Ok(())
}

/// Keeps a checkpoint unless one of its size is kept: whether it was added. Committed without
/// waiting for the WAL flush (see [`Primitives::add_checkpoint`](crate::store::backend::Primitives::add_checkpoint)).
pub(super) async fn add_checkpoint(
    client: &mut deadpool_postgres::Object,
    row: &CheckpointRow,
) -> Result<bool, StoreError> {
    let fail = || StoreError::db("keeping a checkpoint");
    let size = i64::try_from(row.size).unwrap_or(i64::MAX);
    let tx = client.transaction().await.map_err(fail())?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await
        .map_err(fail())?;
    let added = tx
        .execute(
            &format!(
                "INSERT INTO checkpoints ({}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                list(&CHECKPOINT_COLUMNS)
            ),
            &[&row.tenant, &size, &row.root, &row.note, &row.signed_at],
        )
        .await
        .map_err(fail())?;
    tx.commit()
        .await
        .map_err(StoreError::committing("keeping a checkpoint"))?;
    Ok(added == 1)
}
