//! The hash chain on SQLite: its head, and its rows streamed in order for verification.

use rusqlite::Connection;

use super::Sqlite;
use crate::store::StoreError;
use crate::store::chain::{ChainBatch, Interleave};
use crate::store::columns::{AUDIT_COLUMNS, audit_at, list};
use crate::store::select;
use crate::values::RequestId;

/// The last record of `tenant`'s chain (an audit row or a policy change), inside `conn`'s
/// transaction: its position and hash.
pub(super) fn head(conn: &Connection, tenant: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let rows = super::read::select_in(conn, &select::chain_head_sql::<Sqlite>(tenant))
        .map_err(StoreError::db("reading the chain head"))?;
    select::chain_head_of(&rows)
}

/// Streams `tenant`'s audit rows in chain order into `sink`, as raw bytes, then reads every
/// request's revision, all in one read transaction (one snapshot, whatever other connections
/// write meanwhile).
pub(super) fn walk(
    conn: &mut Connection,
    tenant: &str,
    sink: &tokio::sync::mpsc::Sender<ChainBatch>,
) -> Result<Vec<Option<(RequestId, u64)>>, StoreError> {
    let read = || StoreError::db("verifying the audit chain");
    let tx = conn.transaction().map_err(read())?;
    let policies = super::read::select_in(&tx, &select::policies_sql::<Sqlite>(tenant))
        .map_err(read())?
        .iter()
        .map(select::policy_row)
        .collect::<Result<Vec<_>, _>>()?;
    let mut policies = Interleave::new(&policies);
    {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT {} FROM audit WHERE tenant = ?1 ORDER BY chain_position",
                list(&AUDIT_COLUMNS)
            ))
            .map_err(read())?;
        let mut rows = stmt.query([tenant]).map_err(read())?;
        let (home, spares) = std::sync::mpsc::channel();
        let mut batch = ChainBatch::recycled(&spares, &home);
        while let Some(row) = rows.next().map_err(read())? {
            let bytes = |i: usize| row.get_ref(i).ok().and_then(|v| v.as_bytes().ok());
            let int = |i: usize| row.get::<_, u64>(i).ok();
            policies.push(
                &mut batch,
                int(audit_at::CHAIN_POSITION),
                int(audit_at::SEQUENCE),
                std::array::from_fn(bytes),
            );
            // A closed channel means the walk found a break: stop reading.
            if batch.is_full()
                && sink
                    .blocking_send(std::mem::replace(
                        &mut batch,
                        ChainBatch::recycled(&spares, &home),
                    ))
                    .is_err()
            {
                break;
            }
        }
        if !batch.is_empty() {
            let _ = sink.blocking_send(batch);
        }
        if let Some(rest) = policies.rest() {
            let _ = sink.blocking_send(rest);
        }
    }
    let mut stmt = tx
        .prepare_cached("SELECT id, revision FROM requests WHERE tenant = ?1 ORDER BY id")
        .map_err(read())?;
    let revisions = stmt
        .query_map([tenant], |row| {
            Ok(row
                .get::<_, String>(0)
                .ok()
                .and_then(|id| RequestId::parse(&id).ok())
                .zip(row.get::<_, u64>(1).ok()))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(read())?;
    Ok(revisions)
}
