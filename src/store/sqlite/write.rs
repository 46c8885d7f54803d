//! Writes on SQLite: a step in one transaction, the request row guarded by its revision, the
//! audit rows linked into the tenant's chain, the outbox rows.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::audit::ChainHash;
use crate::clock::{Clock, MAX_CLOCK_SKEW, SystemClock};
use crate::store::StoreError;
use crate::store::append::{Appended, LogTip, append};
use crate::store::backend::{KeptStep, NewMessage, PolicyWrite, Stamped, StepWrite, Written};
use crate::store::columns::{
    AUDIT_COLUMNS, POLICY_COLUMNS, PolicyRow, REQUEST_COLUMNS, Value, list, uuid_text,
};
use crate::tlog::Frontier;

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
    let store_clock = step.store_clock.unwrap_or_else(|| SystemClock.now());
    if store_clock
        .checked_add_signed(MAX_CLOCK_SKEW)
        .is_some_and(|limit| step.latest_at > limit)
    {
        return Ok(Written::Ahead { store_clock });
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting a write transaction"))?;
    if !move_request(&tx, step)? {
        return Ok(Written::Stale);
    }
    if let Some(kept) = &step.key
        && !keep_step(&tx, &step.row.id, step.row.revision, kept)?
    {
        return Ok(Written::KeyTaken);
    }
    if let Some(version) = step.policy_version
        && latest_policy(&tx, &step.row.tenant)?.0 != version
    {
        return Ok(Written::PolicyChanged);
    }
    let frontier = write_in(&tx, step)?;
    let signed = match &step.signing {
        Some(signing) => super::log::sign_in(&tx, &step.row.tenant, &frontier, signing)?,
        None => None,
    };
    tx.commit()
        .map_err(StoreError::committing("committing a step"))?;
    Ok(match signed {
        Some(note) => Written::SavedAndSigned(note),
        None => Written::Saved,
    })
}

/// The tenant's latest policy version (0 for none) and when it took effect.
fn latest_policy(tx: &Transaction<'_>, tenant: &str) -> Result<(u32, Option<String>), StoreError> {
    tx.prepare_cached(
        "SELECT version, at FROM policy_changes WHERE tenant = ?1 ORDER BY version DESC LIMIT 1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([tenant], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
    })
    .map(|latest| latest.map_or((0, None), |(version, at)| (version, Some(at))))
    .map_err(StoreError::db("reading the tenant's policy version"))
}

/// Writes a policy change in one immediate transaction, if the version it replaces is still
/// the latest, stamped after the tenant's latest record and change.
pub(super) fn policy(
    conn: &mut Connection,
    change: &PolicyWrite,
) -> Result<Option<PolicyRow>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting a write transaction"))?;
    let tenant = uuid_text(change.tenant.as_uuid());
    let (version, last_change_at) = latest_policy(&tx, &tenant)?;
    if version != change.replaces {
        return Ok(None);
    }
    let last_record_at: Option<String> = tx
        .query_row(
            "SELECT max(at) FROM audit WHERE tenant = ?1",
            [&tenant],
            |row| row.get(0),
        )
        .map_err(StoreError::db("reading the tenant's last record"))?;
    let Stamped { row, message } =
        change.stamp(last_record_at.as_deref(), last_change_at.as_deref())?;
    let Appended { rows, nodes, .. } = append(&tip(&tx, &tenant)?, std::slice::from_ref(&row));
    let row = rows.into_iter().next().unwrap_or(row);
    super::log::insert_nodes(&tx, &tenant, &nodes)
        .and_then(|()| insert(&tx, row.table(), &POLICY_COLUMNS, &row.values()))
        .and_then(|_| match &message {
            Some(message) => tx
                .prepare_cached(
                    "INSERT INTO policy_outbox (tenant, version, message, status, attempts, \
                     lease_until) VALUES (?1, ?2, ?3, 'pending', 0, ?4)",
                )?
                .execute(params![row.tenant, row.version, message, row.at]),
            None => Ok(0),
        })
        .map_err(StoreError::db("writing a policy change"))?;
    tx.commit()
        .map_err(StoreError::committing("committing a policy change"))?;
    Ok(Some(row))
}

/// Writes the audit rows and outbox rows of `step` inside `tx`, after its request row; returns
/// the edge of the tenant's tree after them.
pub(super) fn write_in(tx: &Transaction<'_>, step: &StepWrite) -> Result<Frontier, StoreError> {
    let frontier = append_records(tx, step)?;
    for message in &step.messages {
        add_message(tx, &step.row.id, message)?;
    }
    Ok(frontier)
}

/// Inserts a new request's row, or moves a stored one to the step's state if its revision is
/// still the expected one: whether it did (if not, another writer moved the request, or took the
/// new request's id).
pub(super) fn move_request(tx: &Transaction<'_>, step: &StepWrite) -> Result<bool, StoreError> {
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
    Ok(changed == 1)
}

/// Keeps what a step taken with an idempotency key answered, unless the request has the key
/// already: whether it did.
fn keep_step(
    tx: &Transaction<'_>,
    request: &str,
    revision: u64,
    kept: &KeptStep,
) -> Result<bool, StoreError> {
    tx.prepare_cached(
        "INSERT INTO step_keys (request_id, key, step, revision, result) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            request,
            kept.key,
            kept.step.as_str(),
            revision,
            kept.result
        ])
    })
    .map(|inserted| inserted == 1)
    .map_err(StoreError::db("keeping the step's idempotency key"))
}

/// The head of `tenant`'s log: its chain's last position and hash, and its tree's edge.
fn tip(tx: &Transaction<'_>, tenant: &str) -> Result<LogTip, StoreError> {
    let Some((position, hash)) = super::chain::head(tx, tenant)? else {
        return Ok(LogTip::empty());
    };
    let hash = ChainHash::from_slice(&hash).ok_or_else(|| {
        StoreError::database("reading the chain head")(
            format!(
                "the stored head of tenant {tenant} is {} bytes, not a SHA-256 hash",
                hash.len()
            )
            .into(),
        )
    })?;
    Ok(LogTip {
        position,
        hash,
        frontier: super::log::frontier(tx, tenant, position)?,
    })
}

/// Inserts one row into `table`, its `values` in `columns` order.
fn insert(
    tx: &Transaction<'_>,
    table: &str,
    columns: &[&str],
    values: &[Value],
) -> rusqlite::Result<usize> {
    tx.prepare_cached(&format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        list(columns),
        placeholders(columns.len())
    ))?
    .execute(rusqlite::params_from_iter(values.iter()))
}

/// Appends the step's records to the audit table, linked onto its tenant's chain, and their
/// leaves to its tree; returns the tree's edge after them.
fn append_records(tx: &Transaction<'_>, step: &StepWrite) -> Result<Frontier, StoreError> {
    let tenant = &step.row.tenant;
    let Appended { rows, nodes, tip } = append(&tip(tx, tenant)?, &step.records);
    for row in &rows {
        insert(tx, "audit", &AUDIT_COLUMNS, &row.values())
            .map_err(StoreError::db("appending audit records"))?;
    }
    super::log::insert_nodes(tx, tenant, &nodes)
        .map_err(StoreError::db("appending audit records"))?;
    Ok(tip.frontier)
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
            message.kind.as_str(),
            message.created_at,
            message.message
        ])
    })
    .map_err(StoreError::db("adding to the outbox"))?;
    Ok(())
}
