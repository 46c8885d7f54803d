//! Reads on SQLite: a request with its trail from one snapshot, listings, searches, plans.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::audit::AuditRecord;
use crate::record::{BrokenRule, RecordError};
use crate::store::StoreError;
use crate::store::backend::{OutboxRow, StoredRequest, TrailFindings};
use crate::store::columns::{
    AUDIT_COLUMNS, AuditColumns, POLICY_COLUMNS, PolicyRow, REQUEST_COLUMNS, RequestRow, audit_at,
    instant_text, list, uuid_text,
};
use crate::store::queries::Sql;
use crate::values::RequestId;

/// Turns a value that does not read as its column's type into a refusal of the stored
/// request, any other failure into a database error.
pub(super) fn read_error(
    request: Option<RequestId>,
    context: &'static str,
) -> impl Fn(rusqlite::Error) -> StoreError {
    move |err| match err {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..) => StoreError::InvalidRecord(RecordError::new(
            request,
            None,
            BrokenRule::Malformed {
                reason: err.to_string(),
            },
        )),
        other => StoreError::db(context)(other),
    }
}

/// Text column `i` of `row`, borrowed.
fn text<'r>(row: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    let value = row.get_ref(i)?;
    value.as_str().map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(err))
    })
}

/// The record of an audit row read in [`AUDIT_COLUMNS`] order, decoded from the borrowed
/// columns and checked against them; with `unlinked`, its chain link too, the first failure
/// kept there.
fn audit_record(
    row: &Row<'_>,
    request: Option<RequestId>,
    findings: Option<&mut TrailFindings>,
) -> Result<AuditRecord, StoreError> {
    let read = read_error(request, "reading audit records");
    let columns = AuditColumns {
        tenant: text(row, audit_at::TENANT).map_err(&read)?,
        request_id: text(row, audit_at::REQUEST_ID).map_err(&read)?,
        sequence: row.get(audit_at::SEQUENCE).map_err(&read)?,
        at: text(row, audit_at::AT).map_err(&read)?,
        actor_role: text(row, audit_at::ACTOR_ROLE).map_err(&read)?,
        actor_id: text(row, audit_at::ACTOR_ID).map_err(&read)?,
        kind: text(row, audit_at::KIND).map_err(&read)?,
        record: text(row, audit_at::RECORD).map_err(&read)?,
    };
    let record = columns.decode()?;
    if let Some(findings) = findings {
        findings.note(&columns, || {
            let bytes = |i| row.get_ref(i).and_then(|v| Ok(v.as_bytes()?));
            Ok::<_, StoreError>(columns.check_link(
                row.get(audit_at::CHAIN_POSITION).map_err(&read)?,
                bytes(audit_at::PREVIOUS_HASH).map_err(&read)?,
                bytes(audit_at::HASH).map_err(&read)?,
            ))
        })?;
    }
    Ok(record)
}

/// A request row read in [`REQUEST_COLUMNS`] order.
fn request_row(row: &Row<'_>) -> rusqlite::Result<RequestRow> {
    Ok(RequestRow {
        id: row.get(0)?,
        tenant: row.get(1)?,
        state: row.get(2)?,
        revision: row.get(3)?,
        due_at: row.get(4)?,
        record_version: row.get(5)?,
        service_request: row.get(6)?,
        services: row.get(7)?,
        engineer: row.get(8)?,
        drafted_at: row.get(9)?,
    })
}

/// Request `id`'s row and audit rows, from one read transaction: one snapshot, even while
/// another connection saves the request.
pub(super) fn request(
    conn: &mut Connection,
    id: RequestId,
) -> Result<Option<StoredRequest>, StoreError> {
    let read = read_error(Some(id), "reading a request");
    let tx = conn.transaction().map_err(&read)?;
    let id_text = uuid_text(id.as_uuid());
    let row = tx
        .prepare_cached(&format!(
            "SELECT {} FROM requests WHERE id = ?1",
            list(&REQUEST_COLUMNS)
        ))
        .and_then(|mut stmt| stmt.query_row([&id_text], request_row).optional())
        .map_err(&read)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {} FROM audit WHERE request_id = ?1 ORDER BY sequence",
            list(&AUDIT_COLUMNS)
        ))
        .map_err(&read)?;
    let mut rows = stmt.query([&id_text]).map_err(&read)?;
    let (mut trail, mut findings) = (Vec::new(), TrailFindings::default());
    while let Some(row) = rows.next().map_err(&read)? {
        trail.push(audit_record(row, Some(id), Some(&mut findings))?);
    }
    drop(rows);
    drop(stmt);
    let policies = policies_in(&tx, &row.tenant)?;
    Ok(Some(StoredRequest {
        row,
        trail,
        findings,
        policies,
    }))
}

/// A tenant's policy history, oldest first.
pub(super) fn policies(conn: &mut Connection, tenant: &str) -> Result<Vec<PolicyRow>, StoreError> {
    policies_in(conn, tenant)
}

/// A tenant's policy history, oldest first (chain order too), inside `conn`'s transaction.
pub(super) fn policies_in(conn: &Connection, tenant: &str) -> Result<Vec<PolicyRow>, StoreError> {
    let read = read_error(None, "reading the tenant's policy");
    conn.prepare_cached(&format!(
        "SELECT {} FROM policy_changes WHERE tenant = ?1 ORDER BY version",
        list(&POLICY_COLUMNS)
    ))
    .and_then(|mut stmt| {
        stmt.query_map([tenant], |row| {
            Ok(PolicyRow {
                tenant: row.get(0)?,
                version: row.get(1)?,
                at: row.get(2)?,
                changed_by: row.get(3)?,
                record: row.get(4)?,
                chain_position: row.get(5)?,
                previous_hash: row.get(6)?,
                hash: row.get(7)?,
            })
        })?
        .collect()
    })
    .map_err(read)
}

/// The requests past their due instant: pending ones past their deadline, granted ones past
/// their window (no other state has one).
pub(super) fn due(conn: &mut Connection, now: DateTime<Utc>) -> Result<Vec<RequestId>, StoreError> {
    let read = read_error(None, "listing due requests");
    let mut stmt = conn
        .prepare_cached("SELECT id FROM requests WHERE due_at <= ?1 ORDER BY due_at, id")
        .map_err(&read)?;
    let ids: Vec<String> = stmt
        .query_map([instant_text(now)], |row| row.get(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(&read)?;
    ids.iter()
        .map(|id| {
            RequestId::parse(id).map_err(|err| {
                StoreError::InvalidRecord(RecordError::new(
                    None,
                    None,
                    BrokenRule::Malformed {
                        reason: err.to_string(),
                    },
                ))
            })
        })
        .collect()
}

/// The rows `sql` selects, each read by `read_row`.
fn rows<T>(
    conn: &Connection,
    sql: &Sql,
    context: &'static str,
    read_row: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let read = read_error(None, context);
    let mut stmt = conn.prepare_cached(&sql.text).map_err(&read)?;
    stmt.query_map(rusqlite::params_from_iter(sql.args.iter()), read_row)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(&read)
}

pub(super) fn audit_records(
    conn: &mut Connection,
    sql: &Sql,
) -> Result<Vec<AuditRecord>, StoreError> {
    let read = read_error(None, "searching audit records");
    let mut stmt = conn.prepare_cached(&sql.text).map_err(&read)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(sql.args.iter()))
        .map_err(&read)?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().map_err(&read)? {
        records.push(audit_record(row, None, None)?);
    }
    Ok(records)
}

pub(super) fn request_rows(
    conn: &mut Connection,
    sql: &Sql,
) -> Result<Vec<RequestRow>, StoreError> {
    rows(conn, sql, "listing requests", request_row)
}

/// An outbox row read in [`OUTBOX_COLUMNS`](crate::store::queries::OUTBOX_COLUMNS) order.
fn outbox_row(row: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: row.get(0)?,
        request_id: row.get(1)?,
        sequence: row.get(2)?,
        kind: row.get(3)?,
        status: row.get(4)?,
        attempts: row.get(5)?,
        last_error: row.get(6)?,
        lease_until: row.get(7)?,
    })
}

pub(super) fn outbox_rows(conn: &mut Connection, sql: &Sql) -> Result<Vec<OutboxRow>, StoreError> {
    rows(conn, sql, "reading the outbox", outbox_row)
}

/// SQLite's plan for `sql`, one line per step.
pub(super) fn plan(conn: &mut Connection, sql: &Sql) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))?;
    stmt.query_map(rusqlite::params_from_iter(sql.args.iter()), |row| {
        row.get(3)
    })?
    .collect()
}

/// Every tenant with requests.
pub(super) fn tenants(conn: &mut Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT tenant FROM requests ORDER BY tenant")?;
    stmt.query_map([], |row| row.get(0))?.collect()
}
