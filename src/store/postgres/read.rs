//! Reads on PostgreSQL: a request with its trail from one snapshot, listings, searches.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::{IsolationLevel, Row};

use super::{Params, column_error, unsigned};
use crate::audit::AuditRecord;
use crate::store::StoreError;
use crate::store::backend::{OutboxRow, StoredRequest, TrailFindings};
use crate::store::columns::{
    AUDIT_COLUMNS, AuditColumns, POLICY_COLUMNS, PolicyRow, REQUEST_COLUMNS, RequestRow, audit_at,
    instant_text, list, uuid_text,
};
use crate::store::queries::Sql;
use crate::values::RequestId;

/// Starts a read-only repeatable-read transaction: one snapshot, whatever other nodes commit.
pub(super) async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(StoreError::db("starting a read transaction"))
}

/// The record of an audit row read in [`AUDIT_COLUMNS`] order, decoded from the borrowed
/// columns and checked against them; with `unlinked`, its chain link too, the first failure
/// kept there.
pub(super) fn audit_record(
    row: &Row,
    request: Option<RequestId>,
    findings: Option<&mut TrailFindings>,
) -> Result<AuditRecord, StoreError> {
    let read = column_error(request);
    let columns = AuditColumns {
        tenant: row.try_get(audit_at::TENANT).map_err(&read)?,
        request_id: row.try_get(audit_at::REQUEST_ID).map_err(&read)?,
        sequence: unsigned(row.try_get(audit_at::SEQUENCE).map_err(&read)?, "sequence")?,
        at: row.try_get(audit_at::AT).map_err(&read)?,
        actor_role: row.try_get(audit_at::ACTOR_ROLE).map_err(&read)?,
        actor_id: row.try_get(audit_at::ACTOR_ID).map_err(&read)?,
        kind: row.try_get(audit_at::KIND).map_err(&read)?,
        record: row.try_get(audit_at::RECORD).map_err(&read)?,
    };
    let record = columns.decode()?;
    if let Some(findings) = findings {
        findings.note(&columns, || {
            Ok::<_, StoreError>(columns.check_link(
                unsigned(
                    row.try_get(audit_at::CHAIN_POSITION).map_err(&read)?,
                    "chain_position",
                )?,
                row.try_get(audit_at::PREVIOUS_HASH).map_err(&read)?,
                row.try_get(audit_at::HASH).map_err(&read)?,
            ))
        })?;
    }
    Ok(record)
}

/// A request row read in [`REQUEST_COLUMNS`] order.
pub(super) fn request_row(row: &Row) -> Result<RequestRow, StoreError> {
    let read = column_error(None);
    let version: i32 = row.try_get(5).map_err(&read)?;
    Ok(RequestRow {
        id: row.try_get(0).map_err(&read)?,
        tenant: row.try_get(1).map_err(&read)?,
        state: row.try_get(2).map_err(&read)?,
        revision: unsigned(row.try_get(3).map_err(&read)?, "revision")?,
        due_at: row.try_get(4).map_err(&read)?,
        record_version: u32::try_from(version).map_err(|_| {
            StoreError::InvalidRecord(crate::record::RecordError::new(
                None,
                None,
                crate::record::BrokenRule::StoredColumnDisagrees {
                    column: "record_version",
                },
            ))
        })?,
        service_request: row.try_get(6).map_err(&read)?,
        services: row.try_get(7).map_err(&read)?,
        engineer: row.try_get(8).map_err(&read)?,
        drafted_at: row.try_get(9).map_err(&read)?,
    })
}

/// An outbox row read in [`OUTBOX_COLUMNS`](crate::store::queries::OUTBOX_COLUMNS) order.
pub(super) fn outbox_row(row: &Row) -> Result<OutboxRow, StoreError> {
    let read = column_error(None);
    let attempts: i32 = row.try_get(5).map_err(&read)?;
    Ok(OutboxRow {
        id: row.try_get(0).map_err(&read)?,
        request_id: row.try_get(1).map_err(&read)?,
        sequence: unsigned(row.try_get(2).map_err(&read)?, "outbox.sequence")?,
        kind: row.try_get(3).map_err(&read)?,
        status: row.try_get(4).map_err(&read)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        last_error: row.try_get(6).map_err(&read)?,
        lease_until: row.try_get(7).map_err(&read)?,
    })
}

/// Request `id`'s row and audit rows, from one snapshot.
pub(super) async fn request(
    client: &mut deadpool_postgres::Object,
    id: RequestId,
) -> Result<Option<StoredRequest>, StoreError> {
    let tx = snapshot(client).await?;
    let id_text = uuid_text(id.as_uuid());
    let header = tx
        .prepare_cached(&format!(
            "SELECT {} FROM requests WHERE id = $1",
            list(&REQUEST_COLUMNS)
        ))
        .await
        .map_err(StoreError::db("reading a request"))?;
    let Some(row) = tx
        .query_opt(&header, &[&id_text])
        .await
        .map_err(StoreError::db("reading a request"))?
    else {
        return Ok(None);
    };
    let row = request_row(&row)?;
    let trail = tx
        .prepare_cached(&format!(
            "SELECT {} FROM audit WHERE request_id = $1 ORDER BY sequence",
            list(&AUDIT_COLUMNS)
        ))
        .await
        .map_err(StoreError::db("reading a request's audit records"))?;
    let rows = tx
        .query(&trail, &[&id_text])
        .await
        .map_err(StoreError::db("reading a request's audit records"))?;
    let mut findings = TrailFindings::default();
    let trail = rows
        .iter()
        .map(|row| audit_record(row, Some(id), Some(&mut findings)))
        .collect::<Result<Vec<_>, _>>()?;
    let policies = policies(&tx, &row.tenant).await?;
    tx.commit()
        .await
        .map_err(StoreError::db("ending a read transaction"))?;
    Ok(Some(StoredRequest {
        row,
        trail,
        findings,
        policies,
    }))
}

/// A tenant's policy history, oldest first.
pub(super) async fn policies(
    client: &impl GenericClient,
    tenant: &str,
) -> Result<Vec<PolicyRow>, StoreError> {
    let read = |err: tokio_postgres::Error| StoreError::db("reading the tenant's policy")(err);
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {} FROM policy_changes WHERE tenant = $1 ORDER BY version",
            list(&POLICY_COLUMNS)
        ))
        .await
        .map_err(&read)?;
    let rows = client.query(&stmt, &[&tenant]).await.map_err(&read)?;
    rows.iter()
        .map(|row| {
            Ok(PolicyRow {
                tenant: row.try_get(0).map_err(&read)?,
                version: unsigned(row.try_get(1).map_err(&read)?, "policy_changes.version")?,
                at: row.try_get(2).map_err(&read)?,
                changed_by: row.try_get(3).map_err(&read)?,
                record: row.try_get(4).map_err(&read)?,
                chain_position: unsigned(
                    row.try_get(5).map_err(&read)?,
                    "policy_changes.chain_position",
                )?,
                previous_hash: row.try_get(6).map_err(&read)?,
                hash: row.try_get(7).map_err(&read)?,
            })
        })
        .collect()
}

/// The requests past their due instant: pending ones past their deadline, granted ones past
/// their window (no other state has one).
pub(super) async fn due(
    client: &impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<RequestId>, StoreError> {
    let rows = client
        .query(
            "SELECT id FROM requests WHERE due_at <= $1 ORDER BY due_at, id",
            &[&instant_text(now)],
        )
        .await
        .map_err(StoreError::db("listing due requests"))?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0).map_err(column_error(None))?;
            RequestId::parse(&id).map_err(|err| {
                StoreError::InvalidRecord(crate::record::RecordError::new(
                    None,
                    None,
                    crate::record::BrokenRule::Malformed {
                        reason: err.to_string(),
                    },
                ))
            })
        })
        .collect()
}

/// The rows `sql` selects.
pub(super) async fn rows(
    client: &impl GenericClient,
    sql: &Sql,
    context: &'static str,
) -> Result<Vec<Row>, StoreError> {
    let params = Params::of(&sql.args);
    client
        .query(&sql.text, &params.refs())
        .await
        .map_err(StoreError::db(context))
}

/// Every tenant with requests.
pub(super) async fn tenants(client: &impl GenericClient) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query("SELECT DISTINCT tenant FROM requests ORDER BY tenant", &[])
        .await
        .map_err(StoreError::db("listing tenants"))?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(column_error(None)))
        .collect()
}
