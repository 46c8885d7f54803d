//! The outbox on SQLite: claims under a lease, and outcomes recorded only by the run that
//! still holds the message.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::Sqlite;
use super::read::select_in;
use super::write::{move_request, write_in};
use crate::store::StoreError;
use crate::store::backend::{
    Claimed, ClaimedPolicy, ClaimedRow, Finished, OutboxUpdate, StepWrite,
};
use crate::store::columns::{Value, instant_text};
use crate::store::select;

/// Claims up to `limit` due messages for this run, in one write transaction: no other run can
/// claim them until `lease_until`.
pub(super) fn claim(
    conn: &mut Connection,
    now: DateTime<Utc>,
    lease_until: &str,
    token: &str,
    limit: usize,
) -> Result<Vec<ClaimedRow>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting a write transaction"))?;
    let sql = select::statement::<Sqlite>(
        "SELECT id, request_id, sequence, message, attempts + 1, kind FROM outbox \
         WHERE status = 'pending' AND lease_until <= $1 ORDER BY lease_until, id LIMIT $2",
        vec![Value::Text(instant_text(now)), Value::int(limit as u64)],
    );
    let claimed = select_in(&tx, &sql)
        .map_err(StoreError::db("claiming outbox messages"))?
        .iter()
        .map(select::claimed_row)
        .collect::<Result<Vec<_>, _>>()?;
    for message in &claimed {
        tx.prepare_cached(
            "UPDATE outbox SET attempts = ?2, claim = ?3, lease_until = ?4 WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![message.row, message.attempt, token, lease_until])
        })
        .map_err(StoreError::db("claiming outbox messages"))?;
    }
    tx.commit().map_err(StoreError::db("committing a claim"))?;
    Ok(claimed)
}

/// Records an attempt's outcome (the delivery step, if any, and the outbox row) in one write
/// transaction, if this run still holds the message and the request is still at the step's
/// revision.
pub(super) fn finish(
    conn: &mut Connection,
    message: &Claimed,
    token: &str,
    step: Option<&StepWrite>,
    update: &OutboxUpdate,
) -> Result<Finished, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting a write transaction"))?;
    let holder: Option<(Option<String>, String)> = tx
        .query_row(
            "SELECT claim, status FROM outbox WHERE id = ?1",
            [message.row],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::db("checking an outbox claim"))?;
    if !matches!(&holder, Some((Some(claim), status)) if claim == token && status == "pending") {
        return Ok(Finished::Lost);
    }
    if let Some(step) = step {
        if !move_request(&tx, step)? {
            return Ok(Finished::Stale);
        }
        write_in(&tx, step)?;
    }
    tx.prepare_cached(
        "UPDATE outbox SET status = ?2, claim = NULL, last_error = coalesce(?3, last_error), \
         lease_until = ?4, finished_at = ?5 WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            message.row,
            update.status.as_str(),
            update.last_error,
            update.lease_until,
            update.finished_at
        ])
    })
    .map_err(StoreError::db("updating the outbox"))?;
    tx.commit()
        .map_err(StoreError::committing("committing a delivery"))?;
    Ok(Finished::Done)
}

/// Claims up to `limit` due policy-change messages for this run, in one write transaction.
pub(super) fn claim_policy(
    conn: &mut Connection,
    now: DateTime<Utc>,
    lease_until: &str,
    token: &str,
    limit: usize,
) -> Result<Vec<ClaimedPolicy>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting a write transaction"))?;
    let sql = select::statement::<Sqlite>(
        "SELECT tenant, version, message, attempts + 1 FROM policy_outbox \
         WHERE status = 'pending' AND lease_until <= $1 ORDER BY lease_until LIMIT $2",
        vec![Value::Text(instant_text(now)), Value::int(limit as u64)],
    );
    let claimed = select_in(&tx, &sql)
        .map_err(StoreError::db("claiming policy messages"))?
        .iter()
        .map(select::claimed_policy)
        .collect::<Result<Vec<_>, _>>()?;
    for message in &claimed {
        tx.prepare_cached(
            "UPDATE policy_outbox SET attempts = ?3, claim = ?4, lease_until = ?5 \
             WHERE tenant = ?1 AND version = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                message.tenant,
                message.version,
                message.attempt,
                token,
                lease_until
            ])
        })
        .map_err(StoreError::db("claiming policy messages"))?;
    }
    tx.commit().map_err(StoreError::db("committing a claim"))?;
    Ok(claimed)
}

/// Records a policy-change message's attempt, if this run still holds it.
pub(super) fn finish_policy(
    conn: &mut Connection,
    message: &ClaimedPolicy,
    token: &str,
    update: &OutboxUpdate,
) -> Result<Finished, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE policy_outbox SET status = ?4, claim = NULL, \
             last_error = coalesce(?5, last_error), lease_until = ?6, finished_at = ?7 \
             WHERE tenant = ?1 AND version = ?2 AND claim = ?3 AND status = 'pending'",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                message.tenant,
                message.version,
                token,
                update.status.as_str(),
                update.last_error,
                update.lease_until,
                update.finished_at
            ])
        })
        .map_err(StoreError::db("recording a policy message"))?;
    Ok(if changed == 1 {
        Finished::Done
    } else {
        Finished::Lost
    })
}
