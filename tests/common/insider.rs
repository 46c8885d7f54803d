//! What an insider with write access to the database, and no key, does to a tenant's log:
//! rewrites its entries and leaves a log that is consistent in itself. Shared by the store's
//! conformance suite and the CLI's tests.

use customer_lockbox::Backend;
use customer_lockbox::evidence::LogEntry;
use customer_lockbox::tlog::{self, TreeHash};
use customer_lockbox::{ChainHash, Store, TenantId};

/// An SQL literal of `bytes` for PostgreSQL or SQLite.
fn bytes_sql(postgres: bool, bytes: &[u8]) -> String {
    if postgres {
        format!("'\\x{}'::bytea", hex::encode(bytes))
    } else {
        format!("X'{}'", hex::encode(bytes))
    }
}

/// An SQL literal of `text`.
pub fn text_sql(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQL that rewrites `tenant`'s entries with `edit` (as JSON objects, every column),
/// relinks the whole chain, rebuilds the tree, fixes each request's revision, and deletes the
/// checkpoints the rewrite broke (the ones it cannot sign again), leaving a log that is
/// consistent in itself. For PostgreSQL (`postgres`) or SQLite; the caller runs it.
pub async fn rewrite_sql<B: Backend>(
    store: &Store<B>,
    tenant: TenantId,
    postgres: bool,
    edit: impl FnOnce(&mut Vec<serde_json::Value>),
) -> String {
    let before = store.log_entries(tenant).await.unwrap();
    let mut values: Vec<serde_json::Value> = before
        .iter()
        .map(|entry| serde_json::to_value(entry).unwrap())
        .collect();
    edit(&mut values);
    let mut previous = ChainHash::GENESIS;
    let mut entries = Vec::new();
    for (n, value) in values.iter_mut().enumerate() {
        value["position"] = serde_json::json!(n + 1);
        value["previous_hash"] = serde_json::json!(previous.to_string());
        let entry: LogEntry = serde_json::from_value(value.clone()).unwrap();
        previous = entry.link_hash();
        value["hash"] = serde_json::json!(previous.to_string());
        entries.push(serde_json::from_value::<LogEntry>(value.clone()).unwrap());
    }
    let changed = before
        .iter()
        .zip(&entries)
        .position(|(a, b)| a.hash() != b.hash())
        .unwrap_or(before.len().min(entries.len())) as u64
        + 1;
    let mut sql = format!(
        "DELETE FROM audit WHERE tenant = '{tenant}';
         DELETE FROM policy_changes WHERE tenant = '{tenant}';
         DELETE FROM log_nodes WHERE tenant = '{tenant}';
         DELETE FROM checkpoints WHERE tenant = '{tenant}' AND size >= {changed};"
    );
    let mut leaves = Vec::new();
    let mut revisions: std::collections::BTreeMap<String, u64> = Default::default();
    for entry in &entries {
        let (role, actor) = entry.actor();
        let (previous, hash) = (
            bytes_sql(postgres, entry.previous_hash().as_bytes()),
            bytes_sql(postgres, entry.hash().as_bytes()),
        );
        match entry.request() {
            None => sql.push_str(&format!(
                "INSERT INTO policy_changes (tenant, version, at, changed_by, record, \
                 chain_position, previous_hash, hash) VALUES ({}, {}, {}, {}, {}, {}, {previous}, {hash});\n",
                text_sql(entry.tenant()),
                entry.sequence(),
                text_sql(entry.at()),
                text_sql(actor),
                text_sql(entry.record()),
                entry.position(),
            )),
            Some(request) => {
                *revisions.entry(request.to_string()).or_default() += 1;
                sql.push_str(&format!(
                    "INSERT INTO audit (tenant, chain_position, request_id, sequence, at, \
                     actor_role, actor_id, kind, record, previous_hash, hash) VALUES \
                     ({}, {}, '{request}', {}, {}, {}, {}, {}, {}, {previous}, {hash});\n",
                    text_sql(entry.tenant()),
                    entry.position(),
                    entry.sequence(),
                    text_sql(entry.at()),
                    text_sql(role),
                    text_sql(actor),
                    text_sql(entry.kind()),
                    text_sql(entry.record()),
                ))
            }
        }
        leaves.push(entry.leaf_hash());
    }
    for (last, level, hash) in subtrees(&leaves) {
        sql.push_str(&format!(
            "INSERT INTO log_nodes (tenant, last, level, hash) VALUES ('{tenant}', {last}, {level}, {});\n",
            bytes_sql(postgres, hash.as_bytes())
        ));
    }
    for (request, revision) in &revisions {
        sql.push_str(&format!(
            "UPDATE requests SET revision = {revision} WHERE id = '{request}';\n"
        ));
    }
    if postgres {
        // The tree's edge: its largest perfect subtrees, left to right (one per bit of its size).
        let (mut edge, mut start) = (Vec::new(), 0);
        for level in (0..usize::BITS).rev() {
            let width = 1usize << level;
            if leaves.len() & width != 0 {
                edge.extend_from_slice(tlog::root(&leaves[start..start + width]).as_bytes());
                start += width;
            }
        }
        sql.push_str(&format!(
            "UPDATE chains SET position = {}, hash = {}, frontier = {} WHERE tenant = '{tenant}';",
            entries.len(),
            bytes_sql(postgres, previous.as_bytes()),
            bytes_sql(postgres, &edge)
        ));
    }
    sql
}

/// The index of the entry of record `sequence` of request `id` among `values`.
pub fn index_of(
    values: &[serde_json::Value],
    id: customer_lockbox::RequestId,
    sequence: u64,
) -> usize {
    values
        .iter()
        .position(|v| v["request_id"] == id.to_string() && v["sequence"] == sequence)
        .unwrap()
}

/// The perfect subtrees of the tree over `leaves`, as the stores keep them (by last leaf and
/// level): what an insider computes to rewrite a log, with the public Merkle code alone.
fn subtrees(leaves: &[TreeHash]) -> Vec<(usize, u32, TreeHash)> {
    let mut nodes = Vec::new();
    for level in 0..usize::BITS {
        let width = 1usize << level;
        if width > leaves.len() {
            break;
        }
        for (index, chunk) in leaves.chunks_exact(width).enumerate() {
            nodes.push(((index + 1) * width - 1, level, tlog::root(chunk)));
        }
    }
    nodes
}
