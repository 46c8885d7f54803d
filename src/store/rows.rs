//! What both stores share about audit rows: the columns a chain link covers, decoding a row
//! against its record, and walking a tenant's chain.

use chrono::{DateTime, Datelike, Utc};
use std::collections::HashMap;

use crate::audit::{
    AuditEventKind, AuditQuery, AuditRecord, ChainBreak, ChainHash, ChainHead, ChainVerdict,
    Tampering,
};
use crate::delivery::DeliveryFailure;
use crate::notification::NotificationKind;
use crate::record::RequestRecord;
use crate::record::{BrokenRule, RecordError};
use crate::request::AnyRequest;
use crate::state::StateKind;
use crate::store::{OutboxEntry, OutboxStatus, StoreError, instant_text};
use crate::values::{RequestId, TenantId};

/// An audit row's stored columns, borrowed as bytes: what a chain link covers, besides the
/// chain's own columns.
pub(crate) struct Columns<'a> {
    pub(crate) request: &'a [u8],
    pub(crate) sequence: u64,
    pub(crate) tenant: &'a [u8],
    pub(crate) at: &'a [u8],
    pub(crate) actor_role: &'a [u8],
    pub(crate) actor_id: &'a [u8],
    pub(crate) kind: &'a [u8],
    pub(crate) record: &'a [u8],
}

impl Columns<'_> {
    /// The link for these columns at `position`, after `previous`.
    pub(crate) fn link(&self, previous: &ChainHash, position: u64) -> ChainHash {
        let sequence = self.sequence.to_be_bytes();
        ChainHash::link(
            previous,
            position,
            &[
                self.request,
                &sequence,
                self.tenant,
                self.at,
                self.actor_role,
                self.actor_id,
                self.kind,
                self.record,
            ],
        )
    }
}

/// An audit row's searchable columns, next to the record they must agree with.
pub(crate) struct AuditRow {
    pub(crate) request: String,
    pub(crate) sequence: u64,
    pub(crate) tenant: String,
    pub(crate) at: String,
    pub(crate) actor_role: String,
    pub(crate) actor_id: String,
    pub(crate) kind: String,
    pub(crate) record: String,
}

pub(crate) const AUDIT_COLUMNS: &str =
    "request_id, sequence, tenant, at, actor_role, actor_id, kind, record";

impl AuditRow {
    /// The record, if its JSON decodes and every column agrees with it.
    pub(crate) fn decode(&self) -> Result<AuditRecord, RecordError> {
        let refuse = |rule| {
            RecordError::new(
                RequestId::parse(&self.request).ok(),
                Some(self.sequence),
                rule,
            )
        };
        let record: AuditRecord = serde_json::from_str(&self.record).map_err(|err| {
            refuse(BrokenRule::Malformed {
                reason: err.to_string(),
            })
        })?;
        let mut buffer = uuid::Uuid::encode_buffer();
        let disagrees = [
            (
                "request_id",
                uuid_text(record.request().as_uuid(), &mut buffer) == self.request,
            ),
            ("sequence", record.sequence() == self.sequence),
            (
                "tenant",
                uuid_text(record.tenant().as_uuid(), &mut buffer) == self.tenant,
            ),
            ("at", instant_text(record.at()) == self.at),
            ("actor_role", record.actor().role() == self.actor_role),
            ("actor_id", record.actor().id() == self.actor_id),
            ("kind", record.event().kind().as_str() == self.kind),
        ]
        .into_iter()
        .find(|(_, agrees)| !agrees);
        match disagrees {
            Some((column, _)) => Err(refuse(BrokenRule::StoredColumnDisagrees { column })),
            None => Ok(record),
        }
    }
}

/// A UUID in its stored text form (lowercase, hyphenated), without allocating.
pub(crate) fn uuid_text(uuid: uuid::Uuid, buffer: &mut [u8; 45]) -> &str {
    uuid.hyphenated().encode_lower(buffer)
}

/// Rows handed from the reading thread to the hashing thread per batch.
pub(crate) const CHAIN_BATCH: usize = 512;

/// A batch of audit rows for the chain walk: every column's bytes in one buffer, and per row
/// where each lies. A column that did not read as bytes (a value of the wrong type) is `None`.
#[derive(Default)]
pub(crate) struct ChainBatch {
    bytes: Vec<u8>,
    rows: Vec<ChainRow>,
}

/// One row of a [`ChainBatch`]: its position and sequence, and the byte ranges of request,
/// tenant, at, actor role, actor id, kind, record, previous hash and hash, in that order.
struct ChainRow {
    position: Option<u64>,
    sequence: Option<u64>,
    fields: [Option<std::ops::Range<usize>>; 9],
}

impl ChainBatch {
    /// Adds a row: its position and sequence (if they read as integers), and the bytes of
    /// request, tenant, at, actor role, actor id, kind, record, previous hash and hash (each
    /// `None` if it did not read as bytes).
    pub(crate) fn push(
        &mut self,
        position: Option<u64>,
        sequence: Option<u64>,
        values: [Option<&[u8]>; 9],
    ) {
        let mut fields: [Option<std::ops::Range<usize>>; 9] = Default::default();
        for (slot, value) in fields.iter_mut().zip(values) {
            if let Some(value) = value {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(value);
                *slot = Some(start..self.bytes.len());
            }
        }
        self.rows.push(ChainRow {
            position,
            sequence,
            fields,
        });
    }
}

/// How a chain walk ended, as far as the hashing thread can tell without the database.
pub(crate) enum Walk {
    /// Every row linked; the per-request counts are for the revision check.
    Linked {
        last: u64,
        previous: ChainHash,
        held: HashMap<Vec<u8>, u64>,
    },
    /// The chain breaks at `position`, at the row of `request`/`sequence` when known.
    Broken {
        position: u64,
        request: Option<Vec<u8>>,
        sequence: Option<u64>,
        cause: BreakCause,
    },
}

pub(crate) enum BreakCause {
    Tampered(Tampering),
    /// The row links to a hash other than its predecessor's; which one tells the kind.
    Unlinked(Vec<u8>),
}

/// Hashes the rows in chain order as they arrive, stopping at the first break.
fn walk(batches: std::sync::mpsc::Receiver<ChainBatch>) -> Walk {
    let mut expected: u64 = 1;
    let mut previous = ChainHash::GENESIS;
    let mut held: HashMap<Vec<u8>, u64> = HashMap::new();
    // Consecutive records mostly belong to one request: count runs, and hash ids only per run.
    let mut run: (Vec<u8>, u64) = (Vec::new(), 0);
    for batch in batches {
        for row in &batch.rows {
            let field = |i: usize| row.fields[i].clone().and_then(|r| batch.bytes.get(r));
            let broken = |position, cause| Walk::Broken {
                position,
                request: field(0).map(<[u8]>::to_vec),
                sequence: row.sequence,
                cause,
            };
            let (
                Some(position),
                Some(sequence),
                Some(request),
                Some(tenant),
                Some(at),
                Some(actor_role),
                Some(actor_id),
                Some(kind),
                Some(record),
                Some(stored_previous),
                Some(stored_hash),
            ) = (
                row.position,
                row.sequence,
                field(0),
                field(1),
                field(2),
                field(3),
                field(4),
                field(5),
                field(6),
                field(7),
                field(8),
            )
            else {
                return broken(expected, BreakCause::Tampered(Tampering::Edited));
            };
            if position != expected {
                return broken(expected, BreakCause::Tampered(Tampering::Removed));
            }
            if stored_previous != previous.as_bytes() {
                return broken(position, BreakCause::Unlinked(stored_previous.to_vec()));
            }
            let columns = Columns {
                request,
                sequence,
                tenant,
                at,
                actor_role,
                actor_id,
                kind,
                record,
            };
            let hash = columns.link(&previous, position);
            if stored_hash != hash.as_bytes() {
                return broken(position, BreakCause::Tampered(Tampering::Edited));
            }
            if run.0 != request {
                count_run(&mut held, &mut run);
                run.0.extend_from_slice(request);
            }
            run.1 += 1;
            previous = hash;
            expected += 1;
        }
    }
    count_run(&mut held, &mut run);
    Walk::Linked {
        last: expected - 1,
        previous,
        held,
    }
}

/// Adds a run of records of one request to the per-request counts, and empties the run.
fn count_run(held: &mut HashMap<Vec<u8>, u64>, run: &mut (Vec<u8>, u64)) {
    if run.1 > 0 {
        *held.entry(std::mem::take(&mut run.0)).or_insert(0) += run.1;
    }
    run.0.clear();
    run.1 = 0;
}

/// Walks a tenant's chain: `next_row` adds the next row in chain order to a batch and says
/// whether there was one. Rows are read on this thread and hashed on a second one, so reading
/// does not wait for hashing. Then every request's revision (`revisions`, `None` for a row that
/// did not decode) must match the records the chain holds for it; `link_target` finds the
/// position of a record by its hash, to tell a reordering from a removal or an insertion.
pub(crate) fn verify(
    tenant: TenantId,
    next_row: impl FnMut(&mut ChainBatch) -> Result<bool, StoreError>,
    revisions: impl FnOnce() -> Result<Vec<Option<(RequestId, u64)>>, StoreError>,
    link_target: impl FnOnce(&[u8]) -> Result<Option<u64>, StoreError>,
) -> Result<ChainVerdict, StoreError> {
    let walked = walk_rows(next_row)?;
    conclude(tenant, walked, revisions, link_target)
}

/// The first half of [`verify`]: reads rows on this thread and hashes them on another.
pub(crate) fn walk_rows(
    mut next_row: impl FnMut(&mut ChainBatch) -> Result<bool, StoreError>,
) -> Result<Walk, StoreError> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<ChainBatch>(4);
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || walk(receiver));
        let mut batch = ChainBatch::default();
        let reading = loop {
            match next_row(&mut batch) {
                Err(err) => break Err(err),
                Ok(false) => break Ok(()),
                Ok(true) => {
                    // A closed channel means the walk found a break: stop reading.
                    if batch.rows.len() == CHAIN_BATCH
                        && sender.send(std::mem::take(&mut batch)).is_err()
                    {
                        break Ok(());
                    }
                }
            }
        };
        if !batch.rows.is_empty() {
            let _ = sender.send(batch);
        }
        drop(sender);
        let walked = hasher.join().map_err(|_| {
            StoreError::database("verifying the audit chain")("the hashing thread failed".into())
        });
        reading.and(walked)
    })
}

/// The second half of [`verify`]: names the break, or checks the revisions.
pub(crate) fn conclude(
    tenant: TenantId,
    walked: Walk,
    revisions: impl FnOnce() -> Result<Vec<Option<(RequestId, u64)>>, StoreError>,
    link_target: impl FnOnce(&[u8]) -> Result<Option<u64>, StoreError>,
) -> Result<ChainVerdict, StoreError> {
    let broken = |position, record, tampering| {
        Ok(ChainVerdict::Broken(ChainBreak {
            tenant,
            position,
            record,
            tampering,
        }))
    };
    let (last, previous, mut held) = match walked {
        Walk::Linked {
            last,
            previous,
            held,
        } => (last, previous, held),
        Walk::Broken {
            position,
            request,
            sequence,
            cause,
        } => {
            let here = request
                .and_then(|r| String::from_utf8(r).ok())
                .and_then(|r| RequestId::parse(&r).ok())
                .zip(sequence);
            let tampering = match cause {
                BreakCause::Tampered(tampering) => tampering,
                BreakCause::Unlinked(stored_previous) => match link_target(&stored_previous)? {
                    Some(target) if target > position => Tampering::Reordered,
                    Some(_) => Tampering::Removed,
                    None => Tampering::Inserted,
                },
            };
            return broken(position, here, tampering);
        }
    };
    // Every request of the tenant must find exactly its revision's worth of records in the
    // chain: fewer means records were removed (the chain's tail included), more means inserted.
    for request in revisions()? {
        let Some((id, revision)) = request else {
            return broken(last + 1, None, Tampering::Edited);
        };
        let count = held.remove(id.to_string().as_bytes()).unwrap_or(0);
        if count < revision {
            return broken(last + 1, Some((id, count + 1)), Tampering::Removed);
        }
        if count > revision {
            return broken(last + 1, Some((id, revision + 1)), Tampering::Inserted);
        }
    }
    if let Some(stray) = held.keys().next() {
        let stray = std::str::from_utf8(stray)
            .ok()
            .and_then(|id| RequestId::parse(id).ok());
        return broken(last + 1, stray.map(|id| (id, 1)), Tampering::Inserted);
    }
    Ok(ChainVerdict::Intact {
        head: (last > 0).then_some(ChainHead {
            tenant,
            position: last,
            hash: previous,
        }),
    })
}

/// A search argument, for either store's driver.
pub(crate) enum SqlArg {
    Text(String),
    Int(i64),
}

/// The SQL for a search and its arguments: filters as `WHERE` terms, keyset pagination on
/// (at, request_id, sequence), one row more than the page to know whether another follows.
/// A condition no row meets.
const NOTHING: &str = "1 = 0";

/// Where an instant falls against the years stored records can have (1970 to 9999).
enum Storable {
    Earlier,
    Within(String),
    Later,
}

fn storable(at: DateTime<Utc>) -> Storable {
    match at.year() {
        ..1970 => Storable::Earlier,
        1970..=9999 => Storable::Within(instant_text(at)),
        _ => Storable::Later,
    }
}

pub(crate) fn search_sql(
    query: &AuditQuery,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<SqlArg>) {
    let mut terms: Vec<String> = Vec::new();
    let mut args: Vec<SqlArg> = Vec::new();
    let arg = |value: SqlArg, args: &mut Vec<SqlArg>| {
        args.push(value);
        placeholder(args.len())
    };
    if let Some(tenant) = query.tenant_filter() {
        terms.push(format!(
            "tenant = {}",
            arg(SqlArg::Text(tenant.to_string()), &mut args)
        ));
    }
    if let Some(request) = query.request_filter() {
        terms.push(format!(
            "request_id = {}",
            arg(SqlArg::Text(request.to_string()), &mut args)
        ));
    }
    if let Some(actor) = query.actor_filter() {
        let role = arg(SqlArg::Text(actor.role().to_owned()), &mut args);
        let id = arg(SqlArg::Text(actor.id().to_owned()), &mut args);
        terms.push(format!("actor_role = {role} AND actor_id = {id}"));
    }
    if !query.kind_filter().is_empty() {
        let kinds: Vec<String> = query
            .kind_filter()
            .iter()
            .map(|kind: &AuditEventKind| arg(SqlArg::Text(kind.as_str().to_owned()), &mut args))
            .collect();
        terms.push(format!("kind IN ({})", kinds.join(", ")));
    }
    // Stored instants are within the years 1970 to 9999, whose RFC 3339 text sorts in time
    // order; a bound outside them is decided here, since its text ("+10000-…") would not sort.
    if let Some(since) = query.since_filter() {
        match storable(since) {
            Storable::Earlier => {}
            Storable::Within(text) => {
                terms.push(format!("at >= {}", arg(SqlArg::Text(text), &mut args)));
            }
            Storable::Later => terms.push(NOTHING.to_owned()),
        }
    }
    if let Some(before) = query.before_filter() {
        match storable(before) {
            Storable::Earlier => terms.push(NOTHING.to_owned()),
            Storable::Within(text) => {
                terms.push(format!("at < {}", arg(SqlArg::Text(text), &mut args)));
            }
            Storable::Later => {}
        }
    }
    if let Some(cursor) = query.after_cursor() {
        match storable(cursor.at()) {
            Storable::Earlier => {}
            Storable::Within(text) => {
                let at = arg(SqlArg::Text(text), &mut args);
                let request = arg(SqlArg::Text(cursor.request().to_string()), &mut args);
                let sequence = arg(
                    SqlArg::Int(i64::try_from(cursor.sequence()).unwrap_or(i64::MAX)),
                    &mut args,
                );
                terms.push(format!(
                    "(at, request_id, sequence) > ({at}, {request}, {sequence})"
                ));
            }
            Storable::Later => terms.push(NOTHING.to_owned()),
        }
    }
    let limit = arg(
        SqlArg::Int(i64::from(query.page_size_value().get()) + 1),
        &mut args,
    );
    let filter = if terms.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", terms.join(" AND "))
    };
    (
        format!(
            "SELECT {AUDIT_COLUMNS} FROM audit {filter} ORDER BY at, request_id, sequence LIMIT {limit}"
        ),
        args,
    )
}

/// A loaded request from its row's columns and its audit rows: replayed, then checked against
/// the row's revision and due instant.
pub(crate) fn assemble(
    id: RequestId,
    tenant: TenantId,
    state: StateKind,
    revision: u64,
    due_at: Option<String>,
    version: u32,
    trail: Vec<AuditRecord>,
) -> Result<AnyRequest, StoreError> {
    let loaded = RequestRecord::from_parts(version, id, tenant, state, trail).load()?;
    let refuse = |column| {
        StoreError::Refused(RecordError::new(
            Some(id),
            None,
            BrokenRule::StoredColumnDisagrees { column },
        ))
    };
    if revision != loaded.audit_trail().len() as u64 {
        return Err(refuse("revision"));
    }
    if due_at != loaded.due_at().map(instant_text) {
        return Err(refuse("due_at"));
    }
    Ok(loaded)
}

/// An outbox entry from its stored columns, each checked.
pub(crate) fn outbox_entry(
    request: RequestId,
    cause: u64,
    kind: &str,
    status: &str,
    attempts: u32,
    last_error: Option<String>,
    next: &str,
) -> Result<OutboxEntry, StoreError> {
    let column = |column| {
        StoreError::Refused(RecordError::new(
            Some(request),
            Some(cause),
            BrokenRule::StoredColumnDisagrees { column },
        ))
    };
    let kind = [
        NotificationKind::DecisionNeeded,
        NotificationKind::AccessGranted,
        NotificationKind::NoAccess,
        NotificationKind::AccessEnded,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)
    .ok_or_else(|| column("outbox.kind"))?;
    Ok(OutboxEntry {
        request,
        cause,
        kind,
        status: OutboxStatus::parse(status).ok_or_else(|| column("outbox.status"))?,
        attempts,
        last_error: last_error
            .map(DeliveryFailure::new)
            .transpose()
            .map_err(|_| column("outbox.last_error"))?,
        next_attempt_at: chrono::DateTime::parse_from_rfc3339(next)
            .map_err(|_| column("outbox.lease_until"))?
            .with_timezone(&chrono::Utc),
    })
}
