//! Verifying a tenant's hash chain, written once: a backend streams the tenant's audit rows in
//! chain order as raw bytes; they are hashed on a blocking thread as they arrive, so reading
//! never waits for hashing; then every request's revision must match the records the chain
//! holds for it.

use std::collections::HashMap;
use std::ops::Range;

use super::StoreError;
use super::columns::{AUDIT_COLUMNS, PolicyRow, audit_at};
use crate::audit::{ChainBreak, ChainHash, ChainHead, ChainVerdict, Tampering};
use crate::evidence::entry::Entry;
use crate::values::{RequestId, TenantId};

/// Rows handed from the reading side to the hashing side per batch.
pub(crate) const CHAIN_BATCH: usize = 512;

/// The bytes a batch reserves per row: a stored audit row is 500 to 700 bytes.
#[cfg(feature = "sqlite")]
const BATCH_ROW_BYTES: usize = 768;

/// A batch of audit rows for the chain walk: every column's bytes in one buffer, and per row
/// where each lies. A value that did not read as bytes (of the wrong type) is `None`.
#[derive(Debug, Default)]
pub struct ChainBatch {
    bytes: Vec<u8>,
    rows: Vec<ChainRow>,
    /// Where the batch's buffers go back to once the hashing side is done with it, for the
    /// reading side to fill again: fresh buffers each time cost a page fault per 4 KiB.
    home: Option<std::sync::mpsc::Sender<ChainBatch>>,
}

impl Drop for ChainBatch {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            self.bytes.clear();
            self.rows.clear();
            let _ = home.send(ChainBatch {
                bytes: std::mem::take(&mut self.bytes),
                rows: std::mem::take(&mut self.rows),
                home: None,
            });
        }
    }
}

/// One row of a [`ChainBatch`]: its position and sequence (if they read as integers), and the
/// byte ranges of its columns, in [`AUDIT_COLUMNS`] order.
#[derive(Debug)]
struct ChainRow {
    position: Option<u64>,
    sequence: Option<u64>,
    fields: [Option<Range<usize>>; AUDIT_COLUMNS.len()],
}

impl ChainBatch {
    /// Adds a row: its position and sequence, and its columns' bytes in [`AUDIT_COLUMNS`] order.
    pub(crate) fn push(
        &mut self,
        position: Option<u64>,
        sequence: Option<u64>,
        values: [Option<&[u8]>; AUDIT_COLUMNS.len()],
    ) {
        let mut fields: [Option<Range<usize>>; AUDIT_COLUMNS.len()] = Default::default();
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

    /// Adds a policy change's row, in the chain's audit-row shape.
    pub(crate) fn push_policy(&mut self, row: &PolicyRow) {
        let columns = row.chain_columns();
        let mut values: [Option<&[u8]>; AUDIT_COLUMNS.len()] = [None; AUDIT_COLUMNS.len()];
        for (i, value) in [
            (audit_at::TENANT, columns.tenant.as_bytes()),
            (audit_at::REQUEST_ID, columns.request_id.as_bytes()),
            (audit_at::AT, columns.at.as_bytes()),
            (audit_at::ACTOR_ROLE, columns.actor_role.as_bytes()),
            (audit_at::ACTOR_ID, columns.actor_id.as_bytes()),
            (audit_at::KIND, columns.kind.as_bytes()),
            (audit_at::RECORD, columns.record.as_bytes()),
            (audit_at::PREVIOUS_HASH, row.previous_hash.as_slice()),
            (audit_at::HASH, row.hash.as_slice()),
        ] {
            if let Some(slot) = values.get_mut(i) {
                *slot = Some(value);
            }
        }
        self.push(Some(row.chain_position), Some(row.version), values);
    }

    /// An empty batch with room for a full batch of typical rows, so that filling it neither
    /// copies what it holds again as it grows nor faults in fresh pages at each doubling.
    #[cfg(feature = "sqlite")]
    pub(crate) fn sized() -> Self {
        ChainBatch {
            bytes: Vec::with_capacity(CHAIN_BATCH * BATCH_ROW_BYTES),
            rows: Vec::with_capacity(CHAIN_BATCH),
            home: None,
        }
    }

    /// An empty batch to fill: one the hashing side gave back to `spares`, or a new one;
    /// either goes back to `home` when dropped.
    #[cfg(feature = "sqlite")]
    pub(crate) fn recycled(
        spares: &std::sync::mpsc::Receiver<ChainBatch>,
        home: &std::sync::mpsc::Sender<ChainBatch>,
    ) -> Self {
        let mut batch = spares.try_recv().unwrap_or_else(|_| Self::sized());
        batch.home = Some(home.clone());
        batch
    }

    /// Whether the batch is full.
    #[cfg(feature = "sqlite")]
    pub(crate) fn is_full(&self) -> bool {
        self.rows.len() >= CHAIN_BATCH
    }

    /// Whether the batch holds no row.
    #[cfg(feature = "sqlite")]
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A tenant's policy changes, placed among its audit rows by chain position as a walk reads
/// them: the one interleave both backends' walks use.
pub(crate) struct Interleave<'a> {
    policies: std::iter::Peekable<std::slice::Iter<'a, PolicyRow>>,
}

impl<'a> Interleave<'a> {
    /// The tenant's policy changes, in chain order.
    pub(crate) fn new(policies: &'a [PolicyRow]) -> Self {
        Interleave {
            policies: policies.iter().peekable(),
        }
    }

    /// Adds an audit row to `batch` (see [`ChainBatch::push`]), after the policy changes that
    /// come before it in the chain.
    pub(crate) fn push(
        &mut self,
        batch: &mut ChainBatch,
        position: Option<u64>,
        sequence: Option<u64>,
        values: [Option<&[u8]>; AUDIT_COLUMNS.len()],
    ) {
        while let Some(policy) = self
            .policies
            .next_if(|p| position.is_none_or(|at| p.chain_position < at))
        {
            batch.push_policy(policy);
        }
        batch.push(position, sequence, values);
    }

    /// A batch of the policy changes after the last audit row, if any.
    pub(crate) fn rest(self) -> Option<ChainBatch> {
        let mut batch = ChainBatch::default();
        for policy in self.policies {
            batch.push_policy(policy);
        }
        (!batch.rows.is_empty()).then_some(batch)
    }
}

impl ChainBatch {
    /// Column `i` of `row`, one of its rows, as stored (`None` for a value that did not read as
    /// bytes).
    fn field(&self, row: &ChainRow, i: usize) -> Option<&[u8]> {
        row.fields
            .get(i)
            .cloned()
            .flatten()
            .and_then(|range| self.bytes.get(range))
    }

    /// Hands its rows to `verifier`, hashing each row's stored bytes once into its link.
    pub(crate) fn verify_into(&self, verifier: &mut crate::evidence::LogVerifier) {
        use audit_at::*;
        for row in &self.rows {
            let field = |i: usize| self.field(row, i).unwrap_or_default();
            let (position, sequence) = (
                row.position.unwrap_or_default(),
                row.sequence.unwrap_or_default(),
            );
            let previous = field(PREVIOUS_HASH);
            let columns = Entry::<[u8]> {
                request_id: field(REQUEST_ID),
                sequence,
                tenant: field(TENANT),
                at: field(AT),
                actor_role: field(ACTOR_ROLE),
                actor_id: field(ACTOR_ID),
                kind: field(KIND),
                record: field(RECORD),
            };
            verifier.push_linked(position, previous, field(HASH), &columns);
        }
    }

    /// Its rows as log entries, appended to `entries`. A column that is not text (or a hash not
    /// 32 bytes) reads as empty (or zeros): the entry then fails verification where it stands.
    pub(crate) fn entries(&self, entries: &mut Vec<crate::evidence::LogEntry>) {
        use audit_at::*;
        for row in &self.rows {
            let field = |i: usize| self.field(row, i).unwrap_or_default();
            let text = |i: usize| std::str::from_utf8(field(i)).unwrap_or_default();
            let hash = |i: usize| ChainHash::from_slice(field(i)).unwrap_or(ChainHash::GENESIS);
            let columns = super::columns::AuditColumns {
                tenant: text(TENANT),
                request_id: text(REQUEST_ID),
                sequence: row.sequence.unwrap_or_default(),
                at: text(AT),
                actor_role: text(ACTOR_ROLE),
                actor_id: text(ACTOR_ID),
                kind: text(KIND),
                record: text(RECORD),
            };
            entries.push(columns.entry(
                row.position.unwrap_or_default(),
                hash(PREVIOUS_HASH),
                hash(HASH),
            ));
        }
    }
}

/// How a chain walk ended, as far as hashing can tell without the database.
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
pub(crate) fn walk(mut batches: tokio::sync::mpsc::Receiver<ChainBatch>) -> Walk {
    use audit_at::*;
    let mut expected: u64 = 1;
    let mut previous = ChainHash::GENESIS;
    let mut held: HashMap<Vec<u8>, u64> = HashMap::new();
    // Consecutive records mostly belong to one request: count runs, and hash ids only per run.
    let mut run: (Vec<u8>, u64) = (Vec::new(), 0);
    while let Some(batch) = batches.blocking_recv() {
        for row in &batch.rows {
            let field = |i: usize| batch.field(row, i);
            let broken = |position, cause| Walk::Broken {
                position,
                request: field(REQUEST_ID).map(<[u8]>::to_vec),
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
                field(REQUEST_ID),
                field(TENANT),
                field(AT),
                field(ACTOR_ROLE),
                field(ACTOR_ID),
                field(KIND),
                field(RECORD),
                field(PREVIOUS_HASH),
                field(HASH),
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
            let hash = Entry::<[u8]> {
                request_id: request,
                sequence,
                tenant,
                at,
                actor_role,
                actor_id,
                kind,
                record,
            }
            .link(&previous, position);
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

/// What a walk's break is, once the database has said where the broken link points.
pub(crate) enum Conclusion {
    /// The verdict.
    Verdict(ChainVerdict),
    /// The row at `position` links to `hash`: find which position has that hash, then
    /// [`classify`].
    Unlinked {
        position: u64,
        record: Option<(RequestId, u64)>,
        hash: Vec<u8>,
    },
}

/// Names the break, or checks every request's `revisions` against the records the chain holds.
pub(crate) fn conclude(
    tenant: TenantId,
    walked: Walk,
    revisions: Vec<Option<(RequestId, u64)>>,
) -> Conclusion {
    let broken = |position, record, tampering| {
        Conclusion::Verdict(ChainVerdict::Broken(ChainBreak {
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
            return match cause {
                BreakCause::Tampered(tampering) => broken(position, here, tampering),
                BreakCause::Unlinked(hash) => Conclusion::Unlinked {
                    position,
                    record: here,
                    hash,
                },
            };
        }
    };
    // Policy changes are in the chain too; their count has no row to check it against here
    // (their history is checked on every read of it).
    held.remove(super::columns::policy_link::REQUEST_ID.as_bytes());
    // Every request of the tenant must find exactly its revision's worth of records in the
    // chain: fewer means records were removed (the chain's tail included), more means inserted.
    for request in revisions {
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
    Conclusion::Verdict(ChainVerdict::Intact {
        head: (last > 0).then_some(ChainHead {
            tenant,
            position: last,
            hash: previous,
        }),
    })
}

/// The kind of break at `position` whose link points at the record at `target` (if any has
/// that hash): a later one means a reordering, an earlier one a removal, none an insertion.
pub(crate) fn classify(
    tenant: TenantId,
    position: u64,
    record: Option<(RequestId, u64)>,
    target: Option<u64>,
) -> ChainVerdict {
    let tampering = match target {
        Some(target) if target > position => Tampering::Reordered,
        Some(_) => Tampering::Removed,
        None => Tampering::Inserted,
    };
    ChainVerdict::Broken(ChainBreak {
        tenant,
        position,
        record,
        tampering,
    })
}

/// A failed hashing task, as a store error.
pub(crate) fn hashing_failed(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::db("hashing the audit chain")(err)
}
