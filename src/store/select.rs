//! The store's reads, each written once for both engines: its SQL (only the placeholders
//! differ, `?1` or `$1`) and the decoder of its rows. A backend runs a read through its one read
//! primitive ([`Primitives::read`](super::backend::Primitives::read)) and hands each row back
//! as a [`Row`] of values, whichever driver read it; a value of the wrong type, or a negative
//! count, refuses the stored row here, the same way on both engines.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::backend::{
    Backend, ClaimedPolicy, ClaimedRow, Kept, KeptRow, LogHead, OutboxRow, StoredRequest,
    TrailFindings,
};
use super::columns::{
    AUDIT_COLUMNS, AuditColumns, CHECKPOINT_COLUMNS, CheckpointRow, POLICY_COLUMNS, PolicyRow,
    REQUEST_COLUMNS, RequestRow, Value, audit_at, instant_text, list, uuid_text,
};
use super::queries::Sql;
use crate::audit::AuditRecord;
use crate::record::{BrokenRule, RecordError};
use crate::tlog::{Frontier, NodeId};
use crate::values::{RequestId, TenantId};

/// A row as a backend read it: its columns, in the statement's order, as values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    fn value(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    /// The refusal of column `column` (at `i`), which does not hold a `wanted`.
    fn wrong(&self, i: usize, column: &str, wanted: &str) -> BrokenRule {
        let found = match self.value(i) {
            Value::Text(_) => "text",
            Value::Int(_) => "an integer",
            Value::Bytes(_) => "bytes",
            Value::Null => "null",
        };
        BrokenRule::Malformed {
            reason: format!("column {column} holds {found}, not {wanted}"),
        }
    }

    /// Text column `i`, named `column`.
    pub(crate) fn text(&self, i: usize, column: &str) -> Result<&str, BrokenRule> {
        match self.value(i) {
            Value::Text(text) => Ok(text),
            _ => Err(self.wrong(i, column, "text")),
        }
    }

    /// Text column `i` that may be null.
    pub(crate) fn optional_text(&self, i: usize, column: &str) -> Result<Option<&str>, BrokenRule> {
        match self.value(i) {
            Value::Null => Ok(None),
            _ => self.text(i, column).map(Some),
        }
    }

    /// Bytes column `i`.
    pub(crate) fn bytes(&self, i: usize, column: &str) -> Result<&[u8], BrokenRule> {
        match self.value(i) {
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(self.wrong(i, column, "bytes")),
        }
    }

    /// Integer column `i`.
    pub(crate) fn int(&self, i: usize, column: &str) -> Result<i64, BrokenRule> {
        match self.value(i) {
            Value::Int(n) => Ok(*n),
            _ => Err(self.wrong(i, column, "an integer")),
        }
    }

    /// Integer column `i` that stores a count or position: a negative one is refused.
    pub(crate) fn unsigned(&self, i: usize, column: &'static str) -> Result<u64, BrokenRule> {
        u64::try_from(self.int(i, column)?)
            .map_err(|_| BrokenRule::StoredColumnDisagrees { column })
    }

    /// Integer column `i` that stores a small count or version.
    pub(crate) fn small(&self, i: usize, column: &'static str) -> Result<u32, BrokenRule> {
        u32::try_from(self.unsigned(i, column)?)
            .map_err(|_| BrokenRule::StoredColumnDisagrees { column })
    }
}

/// A stored value that refuses its row, as a refusal of `request` (if known).
fn refused(request: Option<RequestId>) -> impl Fn(BrokenRule) -> StoreError {
    move |rule| StoreError::InvalidRecord(RecordError::new(request, None, rule))
}

/// A statement written with PostgreSQL's placeholders (`$1`, `$2`, ...), in the placeholders of
/// `B`'s engine.
pub(crate) fn statement<B: Backend>(text: &str, args: Vec<Value>) -> Sql {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&B::placeholder(n)),
            Err(_) => out.push('$'),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    Sql { text: out, args }
}

/// Runs one read.
async fn one<B: Backend>(
    backend: &B,
    what: &'static str,
    sql: Sql,
) -> Result<Vec<Row>, StoreError> {
    Ok(backend
        .read(what, vec![sql])
        .await?
        .into_iter()
        .next()
        .unwrap_or_default())
}

fn text_arg(text: &str) -> Value {
    Value::Text(text.to_owned())
}

fn tenant_arg(tenant: TenantId) -> Value {
    Value::Text(uuid_text(tenant.as_uuid()))
}

/// The record of an audit row read in [`AUDIT_COLUMNS`] order, decoded from the row's columns
/// and checked against them; with `findings`, its chain link too (the first failure kept
/// there).
pub(crate) fn audit_record(
    row: &Row,
    request: Option<RequestId>,
    findings: Option<&mut TrailFindings>,
) -> Result<AuditRecord, StoreError> {
    let refuse = refused(request);
    let columns = AuditColumns {
        tenant: row.text(audit_at::TENANT, "tenant").map_err(&refuse)?,
        request_id: row
            .text(audit_at::REQUEST_ID, "request_id")
            .map_err(&refuse)?,
        sequence: row
            .unsigned(audit_at::SEQUENCE, "sequence")
            .map_err(&refuse)?,
        at: row.text(audit_at::AT, "at").map_err(&refuse)?,
        actor_role: row
            .text(audit_at::ACTOR_ROLE, "actor_role")
            .map_err(&refuse)?,
        actor_id: row.text(audit_at::ACTOR_ID, "actor_id").map_err(&refuse)?,
        kind: row.text(audit_at::KIND, "kind").map_err(&refuse)?,
        record: row.text(audit_at::RECORD, "record").map_err(&refuse)?,
    };
    let record = columns.decode()?;
    if let Some(findings) = findings {
        findings.note(&columns, || {
            Ok::<_, StoreError>(
                columns.check_link(
                    row.unsigned(audit_at::CHAIN_POSITION, "chain_position")
                        .map_err(&refuse)?,
                    row.bytes(audit_at::PREVIOUS_HASH, "previous_hash")
                        .map_err(&refuse)?,
                    row.bytes(audit_at::HASH, "hash").map_err(&refuse)?,
                ),
            )
        })?;
    }
    Ok(record)
}

/// A request row read in [`REQUEST_COLUMNS`] order.
pub(crate) fn request_row(row: &Row) -> Result<RequestRow, StoreError> {
    let read = || -> Result<RequestRow, BrokenRule> {
        Ok(RequestRow {
            id: row.text(0, "id")?.to_owned(),
            tenant: row.text(1, "tenant")?.to_owned(),
            state: row.text(2, "state")?.to_owned(),
            revision: row.unsigned(3, "revision")?,
            due_at: row.optional_text(4, "due_at")?.map(str::to_owned),
            record_version: row.small(5, "record_version")?,
            service_request: row.text(6, "service_request")?.to_owned(),
            services: row.text(7, "services")?.to_owned(),
            engineer: row.text(8, "engineer")?.to_owned(),
            drafted_at: row.text(9, "drafted_at")?.to_owned(),
        })
    };
    read().map_err(refused(None))
}

/// An outbox row read in [`OUTBOX_COLUMNS`](super::queries::OUTBOX_COLUMNS) order.
pub(crate) fn outbox_row(row: &Row) -> Result<OutboxRow, StoreError> {
    let read = || -> Result<OutboxRow, BrokenRule> {
        Ok(OutboxRow {
            id: row.int(0, "id")?,
            request_id: row.text(1, "request_id")?.to_owned(),
            sequence: row.unsigned(2, "sequence")?,
            kind: row.text(3, "kind")?.to_owned(),
            status: row.text(4, "status")?.to_owned(),
            attempts: row.small(5, "attempts")?,
            last_error: row.optional_text(6, "last_error")?.map(str::to_owned),
            lease_until: row.text(7, "lease_until")?.to_owned(),
        })
    };
    read().map_err(refused(None))
}

/// The statement that reads `tenant`'s policy history, with the changes refused for their
/// signature, in chain order (the changes' order too), in [`POLICY_COLUMNS`] order and then
/// whether the row is a refusal (1) or a change (0).
pub(crate) fn policies_sql<B: Backend>(tenant: &str) -> Sql {
    let columns = list(&POLICY_COLUMNS);
    statement::<B>(
        &format!(
            "SELECT {columns}, CAST(0 AS BIGINT) AS refused FROM policy_changes WHERE tenant = $1 \
             UNION ALL SELECT {columns}, CAST(1 AS BIGINT) AS refused FROM policy_refusals WHERE tenant = $1 \
             ORDER BY chain_position"
        ),
        vec![text_arg(tenant)],
    )
}

/// A policy row read in [`POLICY_COLUMNS`] order.
pub(crate) fn policy_row(row: &Row) -> Result<PolicyRow, StoreError> {
    let read = || -> Result<PolicyRow, BrokenRule> {
        Ok(PolicyRow {
            tenant: row.text(0, "tenant")?.to_owned(),
            version: row.unsigned(1, "version")?,
            at: row.text(2, "at")?.to_owned(),
            changed_by: row.text(3, "changed_by")?.to_owned(),
            record: row.text(4, "record")?.to_owned(),
            chain_position: row.unsigned(5, "chain_position")?,
            previous_hash: row.bytes(6, "previous_hash")?.to_vec(),
            hash: row.bytes(7, "hash")?.to_vec(),
            // Absent from a read of the changes alone.
            refused: matches!(row.value(8), Value::Int(1)),
        })
    };
    read().map_err(refused(None))
}

/// The statement that reads `tenant`'s checkpoints in size order, in [`CHECKPOINT_COLUMNS`]
/// order: every one, or the latest only.
pub(crate) fn checkpoints_sql<B: Backend>(tenant: &str, which: Kept) -> Sql {
    let order = match which {
        Kept::All => "size",
        Kept::Latest => "size DESC LIMIT 1",
    };
    statement::<B>(
        &format!(
            "SELECT {} FROM checkpoints WHERE tenant = $1 ORDER BY {order}",
            list(&CHECKPOINT_COLUMNS)
        ),
        vec![text_arg(tenant)],
    )
}

/// A checkpoint row read in [`CHECKPOINT_COLUMNS`] order.
pub(crate) fn checkpoint_row(row: &Row) -> Result<CheckpointRow, StoreError> {
    let read = || -> Result<CheckpointRow, BrokenRule> {
        Ok(CheckpointRow {
            tenant: row.text(0, "tenant")?.to_owned(),
            size: row.unsigned(1, "size")?,
            root: row.bytes(2, "root")?.to_vec(),
            note: row.text(3, "note")?.to_owned(),
            signed_at: row.text(4, "signed_at")?.to_owned(),
        })
    };
    read().map_err(refused(None))
}

/// A message a claim took, read as `id, request_id, sequence, message, attempts, kind`
/// (`attempts` counting the claim's).
pub(crate) fn claimed_row(row: &Row) -> Result<ClaimedRow, StoreError> {
    let read = || -> Result<ClaimedRow, BrokenRule> {
        Ok(ClaimedRow {
            row: row.int(0, "id")?,
            request: row.text(1, "request_id")?.to_owned(),
            cause: row.int(2, "sequence")?,
            message: row.text(3, "message")?.to_owned(),
            attempt: row.small(4, "attempts")?,
            kind: row.text(5, "kind")?.to_owned(),
        })
    };
    read().map_err(refused(None))
}

/// A policy-change message a claim took, read as `tenant, version, message, attempts`
/// (`attempts` counting the claim's).
pub(crate) fn claimed_policy(row: &Row) -> Result<ClaimedPolicy, StoreError> {
    let read = || -> Result<ClaimedPolicy, BrokenRule> {
        Ok(ClaimedPolicy {
            tenant: row.text(0, "tenant")?.to_owned(),
            version: row.int(1, "version")?,
            message: row.text(2, "message")?.to_owned(),
            attempt: row.small(3, "attempts")?,
        })
    };
    read().map_err(refused(None))
}

/// The statement that reads the stored subtrees `ids` of `tenant`'s tree, as `last`, `level`,
/// `hash`, in any order ([`nodes_in_order`] puts them in the order of `ids`).
pub(crate) fn nodes_sql<B: Backend>(tenant: &str, ids: &[NodeId]) -> Sql {
    let mut args = vec![text_arg(tenant)];
    let mut terms = Vec::with_capacity(ids.len());
    for id in ids {
        args.push(Value::int(id.last_leaf()));
        args.push(Value::Int(i64::from(id.level)));
        terms.push(format!(
            "(last = ${} AND level = ${})",
            args.len() - 1,
            args.len()
        ));
    }
    statement::<B>(
        &format!(
            "SELECT last, level, hash FROM log_nodes WHERE tenant = $1 AND ({})",
            terms.join(" OR ")
        ),
        args,
    )
}

/// The subtrees `rows` hold, in the order of `ids` (`None` where none is stored).
pub(crate) fn nodes_in_order(
    ids: &[NodeId],
    rows: &[Row],
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let read = || -> Result<_, BrokenRule> {
            Ok((
                (row.unsigned(0, "last")?, row.int(1, "level")?),
                row.bytes(2, "hash")?,
            ))
        };
        let (at, hash) = read().map_err(refused(None))?;
        found.insert(at, hash);
    }
    Ok(ids
        .iter()
        .map(|id| {
            found
                .get(&(id.last_leaf(), i64::from(id.level)))
                .map(|hash| hash.to_vec())
        })
        .collect())
}

/// The statement that reads the last record of `tenant`'s chain from each of its three tables
/// (an audit row, a policy change, a refused policy change), as `chain_position`, `hash`:
/// [`chain_head_of`] takes the latest.
pub(crate) fn chain_head_sql<B: Backend>(tenant: &str) -> Sql {
    let last = |table: &str| {
        format!(
            "SELECT chain_position, hash FROM {table} WHERE tenant = $1 AND chain_position = \
             (SELECT max(chain_position) FROM {table} WHERE tenant = $1)"
        )
    };
    statement::<B>(
        &format!(
            "{} UNION ALL {} UNION ALL {}",
            last("audit"),
            last("policy_changes"),
            last("policy_refusals")
        ),
        vec![text_arg(tenant)],
    )
}

/// The chain head `rows` (of [`chain_head_sql`]) hold: its position and hash.
pub(crate) fn chain_head_of(rows: &[Row]) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let mut head: Option<(u64, Vec<u8>)> = None;
    for row in rows {
        let read = || -> Result<_, BrokenRule> {
            Ok((
                row.unsigned(0, "chain_position")?,
                row.bytes(1, "hash")?.to_vec(),
            ))
        };
        let (position, hash) = read().map_err(refused(None))?;
        if head.as_ref().is_none_or(|(at, _)| position > *at) {
            head = Some((position, hash));
        }
    }
    Ok(head)
}

/// Request `id`'s row, its audit rows and its tenant's policy history, from one snapshot.
pub(crate) async fn request<B: Backend>(
    backend: &B,
    id: RequestId,
) -> Result<Option<StoredRequest>, StoreError> {
    let arg = || vec![Value::Text(uuid_text(id.as_uuid()))];
    let reads = vec![
        statement::<B>(
            &format!(
                "SELECT {} FROM requests WHERE id = $1",
                list(&REQUEST_COLUMNS)
            ),
            arg(),
        ),
        statement::<B>(
            &format!(
                "SELECT {} FROM audit WHERE request_id = $1 ORDER BY sequence",
                list(&AUDIT_COLUMNS)
            ),
            arg(),
        ),
        statement::<B>(
            &format!(
                "SELECT {} FROM policy_changes \
                 WHERE tenant = (SELECT tenant FROM requests WHERE id = $1) ORDER BY version",
                list(&POLICY_COLUMNS)
            ),
            arg(),
        ),
    ];
    let mut read = backend.read("reading a request", reads).await?.into_iter();
    let (row, trail, policies) = (
        read.next().unwrap_or_default(),
        read.next().unwrap_or_default(),
        read.next().unwrap_or_default(),
    );
    let Some(row) = row.first() else {
        return Ok(None);
    };
    let row = request_row(row).map_err(|err| with_request(err, id))?;
    let mut findings = TrailFindings::default();
    let trail = trail
        .iter()
        .map(|row| audit_record(row, Some(id), Some(&mut findings)))
        .collect::<Result<Vec<_>, _>>()?;
    let policies = policies.iter().map(policy_row).collect::<Result<_, _>>()?;
    Ok(Some(StoredRequest {
        row,
        trail,
        findings,
        policies,
    }))
}

/// `err`, naming `id` when it refuses a stored row of no named request.
fn with_request(err: StoreError, id: RequestId) -> StoreError {
    match err {
        StoreError::InvalidRecord(record) if record.request().is_none() => {
            StoreError::InvalidRecord(RecordError::new(
                Some(id),
                record.sequence(),
                record.rule().clone(),
            ))
        }
        other => other,
    }
}

/// `tenant`'s policy history, oldest first.
pub(crate) async fn policies<B: Backend>(
    backend: &B,
    tenant: TenantId,
) -> Result<Vec<PolicyRow>, StoreError> {
    let sql = policies_sql::<B>(&uuid_text(tenant.as_uuid()));
    one(backend, "reading the tenant's policy", sql)
        .await?
        .iter()
        .map(policy_row)
        .collect()
}

/// What the step taken on `request` with idempotency key `key` kept, if one was.
pub(crate) async fn kept_step<B: Backend>(
    backend: &B,
    request: RequestId,
    key: &str,
) -> Result<Option<KeptRow>, StoreError> {
    let sql = statement::<B>(
        "SELECT step, revision, result FROM step_keys WHERE request_id = $1 AND key = $2",
        vec![Value::Text(uuid_text(request.as_uuid())), text_arg(key)],
    );
    let rows = one(backend, "reading an idempotency key", sql).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let read = || -> Result<KeptRow, BrokenRule> {
        Ok(KeptRow {
            step: row.text(0, "step")?.to_owned(),
            revision: row.unsigned(1, "revision")?,
            result: row.text(2, "result")?.to_owned(),
        })
    };
    read().map(Some).map_err(refused(Some(request)))
}

/// The requests past their due instant: pending ones past their deadline, granted ones past
/// their window (no other state has one).
pub(crate) async fn due<B: Backend>(
    backend: &B,
    now: DateTime<Utc>,
) -> Result<Vec<RequestId>, StoreError> {
    let sql = statement::<B>(
        "SELECT id FROM requests WHERE due_at <= $1 ORDER BY due_at, id",
        vec![Value::Text(instant_text(now))],
    );
    one(backend, "listing due requests", sql)
        .await?
        .iter()
        .map(|row| {
            let id = row.text(0, "id").map_err(refused(None))?;
            RequestId::parse(id).map_err(|err| {
                refused(None)(BrokenRule::Malformed {
                    reason: err.to_string(),
                })
            })
        })
        .collect()
}

/// The records a search selects (in [`AUDIT_COLUMNS`] order), each decoded and checked
/// against its columns.
pub(crate) async fn audit_records<B: Backend>(
    backend: &B,
    sql: Sql,
) -> Result<Vec<AuditRecord>, StoreError> {
    one(backend, "searching audit records", sql)
        .await?
        .iter()
        .map(|row| audit_record(row, None, None))
        .collect()
}

/// The request rows a listing selects.
pub(crate) async fn request_rows<B: Backend>(
    backend: &B,
    sql: Sql,
) -> Result<Vec<RequestRow>, StoreError> {
    one(backend, "listing requests", sql)
        .await?
        .iter()
        .map(request_row)
        .collect()
}

/// The outbox rows a view selects.
pub(crate) async fn outbox_rows<B: Backend>(
    backend: &B,
    sql: Sql,
) -> Result<Vec<OutboxRow>, StoreError> {
    one(backend, "reading the outbox", sql)
        .await?
        .iter()
        .map(outbox_row)
        .collect()
}

/// A policy-change message of an outbox view, as read.
#[derive(Clone, Debug)]
pub(crate) struct PolicyOutboxRow {
    pub(crate) tenant: String,
    pub(crate) version: u64,
    pub(crate) status: String,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) lease_until: String,
}

/// An outbox view's two parts, from one snapshot: the requests' messages `requests` selects
/// (in [`OUTBOX_COLUMNS`](super::queries::OUTBOX_COLUMNS) order), then the policy changes'
/// messages `policies` selects.
pub(crate) async fn outbox_view<B: Backend>(
    backend: &B,
    requests: Sql,
    policies: Sql,
) -> Result<(Vec<OutboxRow>, Vec<PolicyOutboxRow>), StoreError> {
    let mut read = backend
        .read("reading the outbox", vec![requests, policies])
        .await?
        .into_iter();
    let (requests, policies) = (
        read.next().unwrap_or_default(),
        read.next().unwrap_or_default(),
    );
    let requests = requests.iter().map(outbox_row).collect::<Result<_, _>>()?;
    let policies = policies
        .iter()
        .map(|row| {
            let read = || -> Result<PolicyOutboxRow, BrokenRule> {
                Ok(PolicyOutboxRow {
                    tenant: row.text(0, "tenant")?.to_owned(),
                    version: row.unsigned(1, "version")?,
                    status: row.text(2, "status")?.to_owned(),
                    attempts: row.small(3, "attempts")?,
                    last_error: row.optional_text(4, "last_error")?.map(str::to_owned),
                    lease_until: row.text(5, "lease_until")?.to_owned(),
                })
            };
            read().map_err(refused(None))
        })
        .collect::<Result<_, _>>()?;
    Ok((requests, policies))
}

/// The chain position of the record of `tenant` whose hash is `hash`, if one has it.
pub(crate) async fn link_target<B: Backend>(
    backend: &B,
    tenant: TenantId,
    hash: Vec<u8>,
) -> Result<Option<u64>, StoreError> {
    let sql = statement::<B>(
        "SELECT chain_position FROM audit WHERE tenant = $1 AND hash = $2 \
         UNION ALL SELECT chain_position FROM policy_changes WHERE tenant = $1 AND hash = $2 \
         UNION ALL SELECT chain_position FROM policy_refusals WHERE tenant = $1 AND hash = $2",
        vec![tenant_arg(tenant), Value::Bytes(hash)],
    );
    let rows = one(backend, "following a broken chain link", sql).await?;
    rows.first()
        .map(|row| row.unsigned(0, "chain_position").map_err(refused(None)))
        .transpose()
}

/// The last record of `tenant`'s chain: its position and hash.
pub(crate) async fn chain_head<B: Backend>(
    backend: &B,
    tenant: TenantId,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let sql = chain_head_sql::<B>(&uuid_text(tenant.as_uuid()));
    chain_head_of(&one(backend, "reading the chain head", sql).await?)
}

/// Every tenant with requests or a policy, as stored (the store parses them).
pub(crate) async fn tenants<B: Backend>(backend: &B) -> Result<Vec<String>, StoreError> {
    let sql = statement::<B>(
        "SELECT tenant FROM requests UNION SELECT tenant FROM policy_changes \
         UNION SELECT tenant FROM policy_refusals ORDER BY 1",
        Vec::new(),
    );
    one(backend, "listing tenants", sql)
        .await?
        .iter()
        .map(|row| {
            row.text(0, "tenant")
                .map(str::to_owned)
                .map_err(refused(None))
        })
        .collect()
}

/// The stored subtrees `ids` of `tenant`'s tree, in the order of `ids` (`None` where none is
/// stored), in one read.
pub(crate) async fn log_nodes<B: Backend>(
    backend: &B,
    tenant: TenantId,
    ids: &[NodeId],
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = nodes_sql::<B>(&uuid_text(tenant.as_uuid()), ids);
    nodes_in_order(ids, &one(backend, "reading the tenant's tree", sql).await?)
}

/// `tenant`'s log head: its size from the entries themselves (not a cached head, which an edit
/// of the entries leaves behind) and its latest checkpoint, from one snapshot; then its edge's
/// subtrees, which no later write changes (a stored subtree is complete, so it is final).
pub(crate) async fn log_head<B: Backend>(
    backend: &B,
    tenant: TenantId,
) -> Result<LogHead, StoreError> {
    let stored = uuid_text(tenant.as_uuid());
    let reads = vec![
        chain_head_sql::<B>(&stored),
        checkpoints_sql::<B>(&stored, Kept::Latest),
    ];
    let mut read = backend
        .read("reading the tenant's log", reads)
        .await?
        .into_iter();
    let (head, latest) = (
        read.next().unwrap_or_default(),
        read.next().unwrap_or_default(),
    );
    let size = chain_head_of(&head)?.map_or(0, |(position, _)| position);
    let latest = latest.first().map(checkpoint_row).transpose()?;
    let frontier = log_nodes(backend, tenant, &Frontier::ids(size)).await?;
    Ok(LogHead {
        size,
        frontier,
        latest,
    })
}

/// The last of `request`'s records of `kind` (its sequence), its stored link and its tenant,
/// if one is stored: the record a customer's decision answers.
pub(crate) async fn answered_record<B: Backend>(
    backend: &B,
    request: RequestId,
    kind: crate::audit::AuditEventKind,
) -> Result<Option<(u64, Vec<u8>, TenantId)>, StoreError> {
    let sql = statement::<B>(
        "SELECT sequence, hash, tenant FROM audit WHERE request_id = $1 AND kind = $2 \
         ORDER BY sequence DESC LIMIT 1",
        vec![
            Value::Text(uuid_text(request.as_uuid())),
            Value::Text(kind.as_str().to_owned()),
        ],
    );
    let rows = one(backend, "reading the record a decision answers", sql).await?;
    rows.first()
        .map(|row| {
            Ok((
                row.unsigned(0, "sequence")
                    .map_err(refused(Some(request)))?,
                row.bytes(1, "hash")
                    .map(<[u8]>::to_vec)
                    .map_err(refused(Some(request)))?,
                row.text(2, "tenant")
                    .ok()
                    .and_then(|text| TenantId::parse(text).ok())
                    .ok_or_else(|| {
                        refused(Some(request))(BrokenRule::StoredColumnDisagrees {
                            column: "tenant",
                        })
                    })?,
            ))
        })
        .transpose()
}

/// The sequence and log position of each of `request`'s audit records.
pub(crate) async fn record_positions<B: Backend>(
    backend: &B,
    request: RequestId,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let sql = statement::<B>(
        "SELECT sequence, chain_position FROM audit WHERE request_id = $1 ORDER BY sequence",
        vec![Value::Text(uuid_text(request.as_uuid()))],
    );
    one(backend, "reading the request's log positions", sql)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.unsigned(0, "sequence")
                    .map_err(refused(Some(request)))?,
                row.unsigned(1, "chain_position")
                    .map_err(refused(Some(request)))?,
            ))
        })
        .collect()
}

/// `tenant`'s checkpoints in size order: every one, or the latest only.
pub(crate) async fn checkpoints<B: Backend>(
    backend: &B,
    tenant: TenantId,
    which: Kept,
) -> Result<Vec<CheckpointRow>, StoreError> {
    let sql = checkpoints_sql::<B>(&uuid_text(tenant.as_uuid()), which);
    one(backend, "reading the tenant's checkpoints", sql)
        .await?
        .iter()
        .map(checkpoint_row)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_refuses_a_value_of_the_wrong_type_by_column() {
        let row = Row(vec![
            Value::Int(-1),
            Value::Bytes(vec![1]),
            Value::Null,
            Value::Text("t".into()),
        ]);
        assert_eq!(
            row.unsigned(0, "revision"),
            Err(BrokenRule::StoredColumnDisagrees { column: "revision" })
        );
        assert_eq!(
            row.text(1, "tenant"),
            Err(BrokenRule::Malformed {
                reason: "column tenant holds bytes, not text".into()
            })
        );
        assert_eq!(row.optional_text(2, "due_at"), Ok(None));
        assert!(row.text(2, "id").is_err());
        assert!(row.bytes(3, "hash").is_err());
        assert!(row.int(9, "missing").is_err());
        assert_eq!(row.text(3, "state"), Ok("t"));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn a_statement_takes_its_engines_placeholders() {
        let sql = statement::<crate::store::Sqlite>(
            "SELECT $1, $12 FROM t WHERE a = $1 AND b = '$' AND c = $",
            Vec::new(),
        );
        assert_eq!(
            sql.text,
            "SELECT ?1, ?12 FROM t WHERE a = ?1 AND b = '$' AND c = $"
        );
    }
}
