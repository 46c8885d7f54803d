//! The hash chain on PostgreSQL: its head, and its rows streamed in order for verification.

use deadpool_postgres::GenericClient;

use super::read::snapshot;
use super::{Postgres, unsigned};
use crate::store::StoreError;
use crate::store::chain::{CHAIN_BATCH, ChainBatch, Interleave};
use crate::store::columns::{AUDIT_COLUMNS, audit_at, list};
use crate::store::select;
use crate::values::RequestId;

/// A chain head read as `(position, hash)`.
pub(super) fn head_row(row: &tokio_postgres::Row) -> Result<(u64, Vec<u8>), StoreError> {
    let position: i64 = row
        .try_get(0)
        .map_err(StoreError::db("reading the chain head"))?;
    let hash: Vec<u8> = row
        .try_get(1)
        .map_err(StoreError::db("reading the chain head"))?;
    Ok((unsigned(position, "chain_position")?, hash))
}

/// Streams `tenant`'s audit rows in chain order into `sink`, a batch per fetch from a portal,
/// then reads every request's revision, all from one snapshot.
pub(super) async fn walk(
    client: &mut deadpool_postgres::Object,
    tenant: &str,
    sink: &tokio::sync::mpsc::Sender<ChainBatch>,
) -> Result<Vec<Option<(RequestId, u64)>>, StoreError> {
    let tx = snapshot(client).await?;
    let policies = super::read::select_in(
        &tx,
        "reading the tenant's policy",
        &select::policies_sql::<Postgres>(tenant),
    )
    .await?
    .iter()
    .map(select::policy_row)
    .collect::<Result<Vec<_>, _>>()?;
    let mut policies = Interleave::new(&policies);
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {} FROM audit WHERE tenant = $1 ORDER BY chain_position",
            list(&AUDIT_COLUMNS)
        ))
        .await
        .map_err(StoreError::db("verifying the audit chain"))?;
    let portal = tx
        .bind(&stmt, &[&tenant])
        .await
        .map_err(StoreError::db("verifying the audit chain"))?;
    loop {
        let rows = tx
            .query_portal(&portal, i32::try_from(CHAIN_BATCH).unwrap_or(i32::MAX))
            .await
            .map_err(StoreError::db("verifying the audit chain"))?;
        if rows.is_empty() {
            break;
        }
        let mut batch = ChainBatch::default();
        for row in &rows {
            let int = |i: usize| {
                row.try_get::<_, i64>(i)
                    .ok()
                    .and_then(|v| u64::try_from(v).ok())
            };
            let bytes = |i: usize| {
                row.try_get::<_, &str>(i)
                    .map(str::as_bytes)
                    .or_else(|_| row.try_get::<_, &[u8]>(i))
                    .ok()
            };
            policies.push(
                &mut batch,
                int(audit_at::CHAIN_POSITION),
                int(audit_at::SEQUENCE),
                std::array::from_fn(bytes),
            );
        }
        // A closed channel means the walk found a break: stop reading.
        if sink.send(batch).await.is_err() {
            break;
        }
    }
    if let Some(rest) = policies.rest() {
        let _ = sink.send(rest).await;
    }
    let rows = tx
        .query(
            "SELECT id, revision FROM requests WHERE tenant = $1 ORDER BY id",
            &[&tenant],
        )
        .await
        .map_err(StoreError::db("verifying the audit chain"))?;
    let revisions = rows
        .iter()
        .map(|row| {
            let id = row
                .try_get::<_, &str>(0)
                .ok()
                .and_then(|id| RequestId::parse(id).ok());
            let revision = row
                .try_get::<_, i64>(1)
                .ok()
                .and_then(|r| u64::try_from(r).ok());
            id.zip(revision)
        })
        .collect();
    tx.commit()
        .await
        .map_err(StoreError::db("ending a read transaction"))?;
    Ok(revisions)
}
