//! The outbox on PostgreSQL: claims with `FOR UPDATE SKIP LOCKED` under a lease, so runs on
//! many nodes share the work, and outcomes recorded only by the run that still holds the
//! message.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::read::select_in;
use super::{Postgres, write};
use crate::store::StoreError;
use crate::store::backend::{
    Claimed, ClaimedPolicy, ClaimedRow, Finished, OutboxUpdate, StepWrite,
};
use crate::store::columns::{Value, instant_text};
use crate::store::queries::Sql;
use crate::store::select;

/// Claims up to `limit` due messages for this run until `lease_until`.
pub(super) async fn claim(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    lease_until: &str,
    token: &str,
    limit: usize,
) -> Result<Vec<ClaimedRow>, StoreError> {
    let sql = Sql {
        text: "UPDATE outbox SET attempts = attempts + 1, claim = $1, lease_until = $2 \
               WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND lease_until <= $3 \
                            ORDER BY lease_until, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
               RETURNING id, request_id, sequence, message, attempts, kind"
            .to_owned(),
        args: claim_args(token, lease_until, now, limit),
    };
    let mut claimed = select_in(client, "claiming outbox messages", &sql)
        .await?
        .iter()
        .map(select::claimed_row)
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort_by_key(|message| message.row);
    Ok(claimed)
}

/// A claim's arguments, in its statements' order: `$1` the run's token, `$2` the lease's end,
/// `$3` the instant messages are due by, `$4` how many at most.
fn claim_args(token: &str, lease_until: &str, now: DateTime<Utc>, limit: usize) -> Vec<Value> {
    vec![
        Value::Text(token.to_owned()),
        Value::Text(lease_until.to_owned()),
        Value::Text(instant_text(now)),
        Value::int(limit as u64),
    ]
}

/// Records an attempt's outcome (the delivery step, if any, and the outbox row) in one
/// transaction, if this run still holds the message and the request is still at the step's
/// revision.
pub(super) async fn finish(
    backend: &Postgres,
    client: &mut deadpool_postgres::Object,
    message: &Claimed,
    token: &str,
    step: Option<&StepWrite>,
    update: &OutboxUpdate,
) -> Result<Finished, StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(StoreError::db("starting a write transaction"))?;
    let holder = tx
        .query_opt(
            "SELECT claim, status FROM outbox WHERE id = $1 FOR UPDATE",
            &[&message.row],
        )
        .await
        .map_err(StoreError::db("checking an outbox claim"))?;
    let held = holder.is_some_and(|row| {
        matches!(
            (row.try_get::<_, Option<String>>(0), row.try_get::<_, String>(1)),
            (Ok(Some(claim)), Ok(status)) if claim == token && status == "pending"
        )
    });
    if !held {
        return Ok(Finished::Lost);
    }
    if let Some(step) = step
        && !write::step_in(backend, &tx, step).await?
    {
        return Ok(Finished::Stale);
    }
    tx.execute(
        "UPDATE outbox SET status = $2, claim = NULL, last_error = coalesce($3, last_error), \
         lease_until = $4, finished_at = $5 WHERE id = $1",
        &[
            &message.row,
            &update.status.as_str(),
            &update.last_error,
            &update.lease_until,
            &update.finished_at,
        ],
    )
    .await
    .map_err(StoreError::db("updating the outbox"))?;
    tx.commit()
        .await
        .map_err(StoreError::committing("committing a delivery"))?;
    Ok(Finished::Done)
}

/// Claims up to `limit` due policy-change messages for this run until `lease_until`.
pub(super) async fn claim_policy(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    lease_until: &str,
    token: &str,
    limit: usize,
) -> Result<Vec<ClaimedPolicy>, StoreError> {
    let sql = Sql {
        text: "UPDATE policy_outbox SET attempts = attempts + 1, claim = $1, lease_until = $2 \
               WHERE (tenant, version) IN (SELECT tenant, version FROM policy_outbox \
                   WHERE status = 'pending' AND lease_until <= $3 \
                   ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED) \
               RETURNING tenant, version, message, attempts"
            .to_owned(),
        args: claim_args(token, lease_until, now, limit),
    };
    select_in(client, "claiming policy messages", &sql)
        .await?
        .iter()
        .map(select::claimed_policy)
        .collect()
}

/// Records a policy-change message's attempt, if this run still holds it.
pub(super) async fn finish_policy(
    client: &impl GenericClient,
    message: &ClaimedPolicy,
    token: &str,
    update: &OutboxUpdate,
) -> Result<Finished, StoreError> {
    let version = message.version;
    let changed = client
        .execute(
            "UPDATE policy_outbox SET status = $4, claim = NULL, \
             last_error = coalesce($5, last_error), lease_until = $6, finished_at = $7 \
             WHERE tenant = $1 AND version = $2 AND claim = $3 AND status = 'pending'",
            &[
                &message.tenant,
                &version,
                &token,
                &update.status.as_str(),
                &update.last_error,
                &update.lease_until,
                &update.finished_at,
            ],
        )
        .await
        .map_err(StoreError::db("recording a policy message"))?;
    Ok(if changed == 1 {
        Finished::Done
    } else {
        Finished::Lost
    })
}
