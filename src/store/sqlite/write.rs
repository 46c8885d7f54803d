//! Writes on SQLite: a step in one transaction, the request row guarded by its revision, the
//! audit rows linked into the tenant's chain, the outbox rows.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::audit::ChainHash;
use crate::clock::{Clock, MAX_CLOCK_SKEW, SystemClock};
use crate::store::StoreError;
use crate::store::backend::{NewMessage, StepWrite, Written};
use crate::store::columns::{AUDIT_COLUMNS, REQUEST_COLUMNS, list};

/// `count` placeholders, `?1, ?2, …`.
fn placeholders(count: usize) -> String {
    (1..=count)
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `step` in one immediate transaction, unless a record is too far ahead of the system
/// clock or the request is not at the expected revision.
pub(super) fn step(conn: &mut Connection, step: &StepWrite) -> Result<Written, StoreError> {
    let store_clock = SystemClock.now();
    if store_clock
        .checked_add_signed(MAX_CLOCK_SKEW)
        .is_some_and(|limit| step.latest_at > limit)
    {
        return Ok(Written::Ahead { store_clock });
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting a write transaction"))?;
    if let Some(found) = move_request(&tx, step)? {
        return Ok(Written::Stale { found });
    }
    write_in(&tx, step)?;
    tx.commit().map_err(StoreError::db("committing a step"))?;
    Ok(Written::Saved)
}

/// Writes the audit rows and outbox rows of `step` inside `tx`, after its request row.
pub(super) fn write_in(tx: &Transaction<'_>, step: &StepWrite) -> Result<(), StoreError> {
    append_records(tx, step)?;
    for message in &step.messages {
        add_message(tx, &step.row.id, message)?;
    }
    Ok(())
}

/// Inserts a new request's row, or moves a stored one to the step's state if its revision is
/// still the expected one. `Some(found)` when it was not (`None` inside: no such request).
pub(super) fn move_request(
    tx: &Transaction<'_>,
    step: &StepWrite,
) -> Result<Option<Option<u64>>, StoreError> {
    let row = &step.row;
    let changed = if step.expected == 0 {
        tx.prepare_cached(&format!(
            "INSERT INTO requests ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
            list(&REQUEST_COLUMNS),
            placeholders(REQUEST_COLUMNS.len())
        ))
        .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(row.values().iter())))
    } else {
        tx.prepare_cached(
            "UPDATE requests SET state = ?2, revision = ?3, due_at = ?4 WHERE id = ?1 AND revision = ?5",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![row.id, row.state, row.revision, row.due_at, step.expected])
        })
    }
    .map_err(StoreError::db("writing the request"))?;
    if changed == 1 {
        return Ok(None);
    }
    let found: Option<u64> = tx
        .query_row(
            "SELECT revision FROM requests WHERE id = ?1",
            [&row.id],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::db("reading the request's revision"))?;
    Ok(Some(found))
}

/// Appends the step's records to the audit table, linked onto its tenant's chain.
fn append_records(tx: &Transaction<'_>, step: &StepWrite) -> Result<(), StoreError> {
    let (mut position, mut previous) = match super::chain::head(tx, &step.row.tenant)
        .map_err(StoreError::db("reading the chain head"))?
    {
        Some((position, hash)) => (
            position,
            ChainHash::from_slice(&hash).ok_or_else(|| {
                StoreError::database("reading the chain head")(
                    format!(
                        "the stored head of tenant {} is {} bytes, not a SHA-256 hash",
                        step.row.tenant,
                        hash.len()
                    )
                    .into(),
                )
            })?,
        ),
        None => (0, ChainHash::GENESIS),
    };
    let mut insert = tx
        .prepare_cached(&format!(
            "INSERT INTO audit ({}) VALUES ({})",
            list(&AUDIT_COLUMNS),
            placeholders(AUDIT_COLUMNS.len())
        ))
        .map_err(StoreError::db("appending audit records"))?;
    for record in &step.records {
        let mut row = record.clone();
        position += 1;
        previous = row.link(previous, position);
        insert
            .execute(rusqlite::params_from_iter(row.values().iter()))
            .map_err(StoreError::db("appending audit records"))?;
    }
    Ok(())
}

/// Adds a notification to the outbox, available from the instant of its cause.
fn add_message(
    tx: &Transaction<'_>,
    request: &str,
    message: &NewMessage,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts, \
         lease_until) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?4)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            request,
            message.sequence,
            message.kind,
            message.created_at,
            message.message
        ])
    })
    .map_err(StoreError::db("adding to the outbox"))?;
    Ok(())
}
