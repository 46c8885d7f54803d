//! The outbox on SQLite: notifications written in the transaction of the step that caused
//! them, and delivered under leases so that two delivery runs never hold one message at once.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{db, load, read_error, save_in};
use crate::request::{AnyRequest, DeliveryStep, Request, with_request};
use crate::state::State;
use crate::store::ops::{CLAIM_BATCH, Claimed, finish_request, new_messages, outbox_update};
use crate::store::rows::outbox_entry;
use crate::store::{OutboxEntry, StoreError, instant_text};
use crate::values::RequestId;

/// Writes the notifications caused by `request`'s unsaved records to the outbox, without
/// addresses, each available from the instant of its cause.
pub(super) fn write_outbox<S: State>(
    tx: &Transaction<'_>,
    request: &Request<S>,
) -> Result<(), StoreError> {
    for (cause, kind, created, message) in new_messages(request)? {
        tx.prepare_cached(
            "INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts, \
             lease_until) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?4)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![request.id(), cause, kind.as_str(), created, message])
        })
        .map_err(db("adding to the outbox"))?;
    }
    Ok(())
}

/// The outbox entries of `request`, in the order of their causes.
pub(super) fn entries(
    conn: &Connection,
    request: RequestId,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let read = read_error(Some(request), "reading the outbox");
    let mut stmt = conn
        .prepare_cached(
            "SELECT sequence, kind, status, attempts, last_error, lease_until FROM outbox \
             WHERE request_id = ?1 ORDER BY sequence",
        )
        .map_err(&read)?;
    let rows = stmt
        .query_map([request], |row| {
            Ok((
                row.get::<_, u64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, u32>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .map_err(&read)?;
    let mut entries = Vec::new();
    for row in rows {
        let (cause, kind, status, attempts, last_error, next) = row.map_err(&read)?;
        entries.push(outbox_entry(
            request, cause, &kind, &status, attempts, last_error, &next,
        )?);
    }
    Ok(entries)
}

/// Claims up to a batch of due messages for this run, in one write transaction: no other run
/// can claim them until `lease_until`.
pub(super) fn claim(
    conn: &mut Connection,
    now: DateTime<Utc>,
    lease_until: &str,
    token: &str,
) -> Result<Vec<Claimed>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a write transaction"))?;
    let read = read_error(None, "claiming outbox messages");
    let claimed = {
        let mut select = tx
            .prepare_cached(
                "SELECT id, request_id, sequence, message, attempts, kind FROM outbox \
                 WHERE status = 'pending' AND lease_until <= ?1 ORDER BY lease_until, id LIMIT ?2",
            )
            .map_err(&read)?;
        let rows = select
            .query_map(params![instant_text(now), CLAIM_BATCH], |row| {
                Ok(Claimed {
                    row: row.get(0)?,
                    request: row.get(1)?,
                    cause: row.get(2)?,
                    message: row.get(3)?,
                    attempt: row.get::<_, u32>(4)?.saturating_add(1),
                    kind: row.get(5)?,
                })
            })
            .map_err(&read)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&read)?
    };
    for message in &claimed {
        tx.prepare_cached(
            "UPDATE outbox SET attempts = ?2, claim = ?3, lease_until = ?4 WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![message.row, message.attempt, token, lease_until])
        })
        .map_err(db("claiming outbox messages"))?;
    }
    tx.commit().map_err(db("committing a claim"))?;
    Ok(claimed)
}

/// Records the attempt's outcome in the request's trail and the outbox, in one write
/// transaction, if this run still holds the message. Returns whether it did.
pub(super) fn finish(
    conn: &mut Connection,
    message: &Claimed,
    token: &str,
    step: Option<DeliveryStep>,
    now: DateTime<Utc>,
    retry_at: &str,
) -> Result<bool, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a write transaction"))?;
    let holder: Option<(Option<String>, String)> = tx
        .query_row(
            "SELECT claim, status FROM outbox WHERE id = ?1",
            [message.row],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(db("checking an outbox claim"))?;
    if !matches!(&holder, Some((Some(claim), status)) if claim == token && status == "pending") {
        return Ok(false);
    }
    let now_text = instant_text(now);
    let (status, last_error, lease_until) = outbox_update(&step, &now_text, retry_at);
    if let Some(step) = step.clone() {
        let mut request = finish_request(load(&tx, message.request)?, now, message.cause, step)?;
        with_request!(&mut request, r => save_in(&tx, r))?;
    }
    let finished = (status != "pending").then_some(now_text.as_str());
    tx.prepare_cached(
        "UPDATE outbox SET status = ?2, claim = NULL, last_error = coalesce(?3, last_error), \
         lease_until = ?4, finished_at = ?5 WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            message.row,
            status,
            last_error,
            lease_until,
            finished
        ])
    })
    .map_err(db("updating the outbox"))?;
    tx.commit().map_err(db("committing a delivery"))?;
    Ok(true)
}
