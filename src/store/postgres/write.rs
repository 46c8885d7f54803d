//! Writes on PostgreSQL: a step in one round trip (`lockbox_save_step`), linked from the chain
//! head this node last wrote for the tenant, or redone under the chain's lock when another node
//! moved it.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use super::Postgres;
use crate::audit::ChainHash;
use crate::clock::MAX_CLOCK_SKEW;
use crate::store::StoreError;
use crate::store::append::{Appended, LogTip, append};
use crate::store::backend::{PolicyWrite, Stamped, StepWrite, Written};
use crate::store::columns::{
    AUDIT_COLUMNS, POLICY_COLUMNS, PolicyRow, REQUEST_COLUMNS, Value, instant_text, list, uuid_text,
};

/// A node's knowledge of a tenant's chain: the head it last wrote, where its next step's links
/// start. If another node has moved the chain since, that step writes nothing and is redone
/// under the chain's lock, and the next few steps of that tenant take the lock straight away
/// (guessing is only worth it while the node writes the tenant alone, which is the common case:
/// one node handles a tenant's case at a time).
#[derive(Clone)]
pub(super) struct Known {
    head: LogTip,
    /// Steps of this tenant left to take under the lock before guessing again.
    locked_steps: u8,
}

/// How many steps of a tenant a node takes under the lock after a wrong guess.
const LOCKED_AFTER_MISS: u8 = 16;

/// How many tenants' chain heads a node remembers before it forgets them all (each a few dozen
/// bytes; a forgotten head costs one locked step).
const REMEMBERED_HEADS: usize = 4096;

/// The SQLSTATE `lockbox_save_step` raises when the chain is not at the head the node expected.
const CHAIN_MOVED: &str = "LB001";
/// The SQLSTATE it raises when a record is later than the server's clock plus the skew allowed.
const AHEAD_OF_CLOCK: &str = "LB002";
/// The SQLSTATE it raises when the tenant's policy changed since the step read it.
const POLICY_CHANGED: &str = "LB004";
/// The SQLSTATE it raises when the request already has a step with the write's idempotency key.
const KEY_TAKEN: &str = "LB005";

/// How one call of `lockbox_save_step` ended.
enum Outcome {
    Saved(LogTip),
    /// The request row was not at the expected revision: nothing was written.
    Stale,
    /// Another node moved the chain from the head the step started at: nothing was written.
    ChainMoved,
    /// A record is too far ahead of the server's clock: nothing was written.
    Ahead,
    /// The tenant's policy changed since the step read it: nothing was written.
    PolicyChanged,
    /// The request has the step's idempotency key already: nothing was written.
    KeyTaken,
}

impl Postgres {
    fn known(&self, tenant: &str) -> Option<Known> {
        self.heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }

    fn remember(&self, tenant: &str, head: LogTip, locked_steps: u8) {
        let mut heads = self
            .heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if heads.len() >= REMEMBERED_HEADS {
            heads.clear();
        }
        heads.insert(tenant.to_owned(), Known { head, locked_steps });
    }
}

/// Writes `step`: first by guessing the chain head (one round trip), then, if the guess was
/// wrong or the tenant is busy, under the request's and the chain's locks.
pub(super) async fn step(
    backend: &Postgres,
    client: &mut deadpool_postgres::Object,
    step: &StepWrite,
) -> Result<Written, StoreError> {
    let tenant = &step.row.tenant;
    let mut locked_steps = 0;
    match backend.known(tenant) {
        Some(known) if known.locked_steps == 0 => match call(&*client, step, &known.head).await? {
            Outcome::Saved(head) => {
                backend.remember(tenant, head, 0);
                return Ok(Written::Saved);
            }
            Outcome::Stale => return Ok(Written::Stale),
            Outcome::Ahead => return ahead(&*client, step).await,
            Outcome::PolicyChanged => return Ok(Written::PolicyChanged),
            Outcome::KeyTaken => return Ok(Written::KeyTaken),
            Outcome::ChainMoved => locked_steps = LOCKED_AFTER_MISS,
        },
        Some(known) => locked_steps = known.locked_steps - 1,
        None => {}
    }
    let tx = client
        .transaction()
        .await
        .map_err(StoreError::db("starting a write transaction"))?;
    match locked(&tx, step).await.map_err(StoreError::before_commit)? {
        Outcome::Saved(head) => {
            tx.commit()
                .await
                .map_err(StoreError::committing("committing a step"))?;
            backend.remember(tenant, head, locked_steps);
            Ok(Written::Saved)
        }
        Outcome::Stale => Ok(Written::Stale),
        Outcome::Ahead => {
            drop(tx);
            ahead(&*client, step).await
        }
        Outcome::PolicyChanged => Ok(Written::PolicyChanged),
        Outcome::KeyTaken => Ok(Written::KeyTaken),
        Outcome::ChainMoved => Err(StoreError::database("saving a step")(
            format!("the chain of tenant {tenant} moved while locked").into(),
        )),
    }
}

/// Writes `step` inside `tx` with the request row and then the tenant's chain head locked (the
/// order every step takes them in), so the write cannot miss the head.
async fn locked(
    tx: &deadpool_postgres::Transaction<'_>,
    step: &StepWrite,
) -> Result<Outcome, StoreError> {
    let head = lock_chain(tx, &step.row.id, &step.row.tenant).await?;
    call(tx, step, &head).await
}

/// Writes `step` inside `tx`, which the caller commits, after locking the chain; `Ok(false)`
/// when the request moved since the step was computed (nothing is written). For delivery runs,
/// which record their attempt in the same transaction as the outbox row.
pub(super) async fn step_in(
    backend: &Postgres,
    tx: &deadpool_postgres::Transaction<'_>,
    step: &StepWrite,
) -> Result<bool, StoreError> {
    match locked(tx, step).await.map_err(StoreError::before_commit)? {
        Outcome::Saved(head) => {
            backend.remember(&step.row.tenant, head, 0);
            Ok(true)
        }
        Outcome::Stale | Outcome::PolicyChanged | Outcome::KeyTaken => Ok(false),
        Outcome::Ahead => Err(StoreError::ClockAhead {
            request: None,
            given: step.latest_at,
            store_clock: match step.store_clock {
                Some(given) => given,
                None => server_clock(tx).await?,
            },
            recorded: false,
        }),
        Outcome::ChainMoved => Err(StoreError::database("recording a delivery")(
            format!("the chain of tenant {} moved while locked", step.row.tenant).into(),
        )),
    }
}

/// Writes a policy change in one transaction under the tenant's chain lock, which steps take
/// too, so no step commits under a version older than one committed before it: `None` when the
/// version it replaces is no longer the latest.
pub(super) async fn policy(
    client: &mut deadpool_postgres::Object,
    change: &PolicyWrite,
) -> Result<Option<PolicyRow>, StoreError> {
    let fail = |err: tokio_postgres::Error| StoreError::db("writing a policy change")(err);
    let tenant = uuid_text(change.tenant.as_uuid());
    let tx = client.transaction().await.map_err(&fail)?;
    let tip = lock_chain(&tx, "", &tenant).await?;
    let latest = tx
        .query_opt(
            "SELECT version, at FROM policy_changes WHERE tenant = $1 ORDER BY version DESC LIMIT 1",
            &[&tenant],
        )
        .await
        .map_err(&fail)?;
    let (version, last_change_at): (i64, Option<String>) = match latest {
        Some(row) => (
            row.try_get(0).map_err(&fail)?,
            Some(row.try_get(1).map_err(&fail)?),
        ),
        None => (0, None),
    };
    if version != i64::from(change.replaces) {
        return Ok(None);
    }
    let last_record_at: Option<String> = tx
        .query_one("SELECT max(at) FROM audit WHERE tenant = $1", &[&tenant])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(&fail)?;
    let Stamped { row, message } =
        change.stamp(last_record_at.as_deref(), last_change_at.as_deref())?;
    let Appended { rows, nodes, tip } = append(&tip, std::slice::from_ref(&row));
    let row = rows.into_iter().next().unwrap_or(row);
    super::log::insert_nodes(&tx, &tenant, &nodes)
        .await
        .map_err(&fail)?;
    insert(&tx, row.table(), &POLICY_COLUMNS, &row.values())
        .await
        .map_err(&fail)?;
    tx.execute(
        "UPDATE chains SET position = $2, hash = $3, frontier = $4 WHERE tenant = $1",
        &[
            &tenant,
            &i64::try_from(tip.position).unwrap_or(i64::MAX),
            &tip.hash.as_bytes().to_vec(),
            &super::log::frontier_bytes(&tip.frontier),
        ],
    )
    .await
    .map_err(&fail)?;
    if let Some(message) = &message {
        let version = i64::try_from(row.version).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO policy_outbox (tenant, version, message, status, attempts, lease_until) \
             VALUES ($1, $2, $3, 'pending', 0, $4)",
            &[&row.tenant, &version, message, &row.at],
        )
        .await
        .map_err(&fail)?;
    }
    tx.commit()
        .await
        .map_err(StoreError::committing("committing a policy change"))?;
    Ok(Some(row))
}

/// Locks the request's row (if it has one), then its tenant's chain head (starting the chain
/// if the tenant has none), and reads the head.
async fn lock_chain(
    tx: &deadpool_postgres::Transaction<'_>,
    request: &str,
    tenant: &str,
) -> Result<LogTip, StoreError> {
    let stmt = tx
        .prepare_cached(
            "WITH locked AS (SELECT id FROM requests WHERE id = $1 FOR UPDATE) \
             INSERT INTO chains (tenant, position, hash, frontier) \
             SELECT $2, 0, $3, '' FROM (SELECT count(*) FROM locked) AS request \
             ON CONFLICT (tenant) DO UPDATE SET tenant = EXCLUDED.tenant \
             RETURNING position, hash, frontier",
        )
        .await
        .map_err(StoreError::db("locking the tenant's chain"))?;
    let genesis = ChainHash::GENESIS.as_bytes().to_vec();
    let row = tx
        .query_one(&stmt, &[&request, &tenant, &genesis])
        .await
        .map_err(StoreError::db("locking the tenant's chain"))?;
    let (position, hash) = super::chain::head_row(&row)?;
    let hash = ChainHash::from_slice(&hash).ok_or_else(|| {
        StoreError::database("reading the chain head")(
            format!("the chain head of tenant {tenant} is not a SHA-256 hash").into(),
        )
    })?;
    let frontier: &[u8] = row
        .try_get(2)
        .map_err(StoreError::db("reading the chain head"))?;
    Ok(LogTip {
        position,
        hash,
        frontier: super::log::frontier(tenant, position, frontier)?,
    })
}

/// Calls `lockbox_save_step` once: the request row, the audit rows linked onto the chain from
/// `head`, the outbox rows, each row a JSON object keyed by its columns.
async fn call(
    client: &impl GenericClient,
    step: &StepWrite,
    head: &LogTip,
) -> Result<Outcome, StoreError> {
    let Appended { rows, nodes, tip } = append(head, &step.records);
    let audit = rows
        .iter()
        .map(|row| json_object(&AUDIT_COLUMNS, &row.values()))
        .collect();
    let outbox: Vec<serde_json::Value> = step
        .messages
        .iter()
        .map(|message| {
            serde_json::json!({
                "sequence": message.sequence,
                "kind": message.kind.as_str(),
                "created_at": message.created_at,
                "message": message.message,
            })
        })
        .collect();
    let request = json_object(&REQUEST_COLUMNS, &step.row.values()).to_string();
    let audit = serde_json::Value::Array(audit).to_string();
    let outbox = serde_json::Value::Array(outbox).to_string();
    let expected = i64::try_from(step.expected).unwrap_or(i64::MAX);
    let (from_position, from_hash) = (
        i64::try_from(head.position).unwrap_or(i64::MAX),
        head.hash.as_bytes().to_vec(),
    );
    let nodes = super::log::nodes_json(&nodes);
    let to_frontier = super::log::frontier_bytes(&tip.frontier);
    let to_position = i64::try_from(tip.position).unwrap_or(i64::MAX);
    let to_hash = tip.hash.as_bytes().to_vec();
    let latest_at = instant_text(step.latest_at);
    let max_skew = MAX_CLOCK_SKEW.num_microseconds().unwrap_or(i64::MAX);
    let key = step.key.as_ref().map(|kept| {
        serde_json::json!({"key": kept.key, "step": kept.step.as_str(), "result": kept.result})
            .to_string()
    });
    let store_clock = step.store_clock.map(instant_text);
    let stmt = client
        .prepare_cached(
            "SELECT lockbox_save_step($1::text::jsonb, $2, $3, $4, $5, $6, $7::text::jsonb, \
             $8::text::jsonb, $9, $10, $11, $12::text::jsonb, $13, $14::text::jsonb, $15)",
        )
        .await
        .map_err(StoreError::db("preparing a step"))?;
    let result = client
        .query_one(
            &stmt,
            &[
                &request,
                &expected,
                &from_position,
                &from_hash,
                &to_position,
                &to_hash,
                &audit,
                &outbox,
                &latest_at,
                &max_skew,
                &step.policy_version.map(i64::from),
                &nodes,
                &to_frontier,
                &key,
                &store_clock,
            ],
        )
        .await;
    match result {
        Ok(row) => match row.try_get::<_, bool>(0) {
            Ok(true) => Ok(Outcome::Saved(tip)),
            Ok(false) => Ok(Outcome::Stale),
            Err(err) => Err(StoreError::db("saving a step")(err)),
        },
        Err(err) => match err.code().map(SqlState::code) {
            Some(CHAIN_MOVED) => Ok(Outcome::ChainMoved),
            Some(AHEAD_OF_CLOCK) => Ok(Outcome::Ahead),
            Some(POLICY_CHANGED) => Ok(Outcome::PolicyChanged),
            Some(KEY_TAKEN) => Ok(Outcome::KeyTaken),
            // Outside a transaction the call commits on its own: a connection lost before
            // its answer leaves the outcome unknown (see `StoreError::before_commit` for the
            // transactions).
            _ => Err(StoreError::committing("saving a step")(err)),
        },
    }
}

/// Inserts one row into `table`, its `values` in `columns` order.
async fn insert(
    tx: &deadpool_postgres::Transaction<'_>,
    table: &str,
    columns: &[&str],
    values: &[Value],
) -> Result<u64, tokio_postgres::Error> {
    let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            list(columns),
            placeholders.join(", ")
        ))
        .await?;
    let params = super::Params::typed(values, stmt.params());
    tx.execute(&stmt, &params.refs()).await
}

/// A row as a JSON object keyed by its column names; bytes in PostgreSQL's hex form, which
/// `jsonb_populate_record` reads into `bytea`.
fn json_object(columns: &[&str], values: &[Value]) -> serde_json::Value {
    let object = columns
        .iter()
        .zip(values)
        .map(|(name, value)| {
            let value = match value {
                Value::Text(text) => serde_json::Value::String(text.clone()),
                Value::Int(int) => serde_json::Value::from(*int),
                Value::Bytes(bytes) => {
                    serde_json::Value::String(format!("\\x{}", hex::encode(bytes)))
                }
                Value::Null => serde_json::Value::Null,
            };
            ((*name).to_owned(), value)
        })
        .collect();
    serde_json::Value::Object(object)
}

/// The outcome of a write the server found stamped too far ahead of its clock.
async fn ahead(client: &impl GenericClient, step: &StepWrite) -> Result<Written, StoreError> {
    Ok(Written::Ahead {
        store_clock: match step.store_clock {
            Some(given) => given,
            None => server_clock(client).await?,
        },
    })
}

/// The server's clock, to the microsecond.
pub(super) async fn server_clock(client: &impl GenericClient) -> Result<DateTime<Utc>, StoreError> {
    let micros: i64 = client
        .query_one(
            "SELECT CAST(floor(extract(epoch FROM clock_timestamp()) * 1000000) AS BIGINT)",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(StoreError::db("reading the server's clock"))?;
    DateTime::from_timestamp_micros(micros).ok_or_else(|| {
        StoreError::database("reading the server's clock")(
            format!(
                "the server's clock reads {micros} microseconds since 1970, which is no instant"
            )
            .into(),
        )
    })
}
