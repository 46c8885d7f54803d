//! What a backend is: a small set of primitives, each one transaction of its database, and the
//! rows that cross between them and the [`Store`](super::Store), which does everything else
//! once for every backend.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::chain::ChainBatch;
use super::columns::{AuditRow, CheckpointRow, PolicyRow, RequestRow};
use super::queries::Sql;
use super::reports::OutboxStatus;
use super::select::Row;
use crate::audit::AuditRecord;
use crate::values::RequestId;

/// A request as stored: its row and its audit records, in sequence order, read in one snapshot,
/// each decoded and checked against its columns ([`AuditColumns::decode`](super::columns::AuditColumns::decode)).
#[derive(Debug)]
pub struct StoredRequest {
    pub(crate) row: RequestRow,
    pub(crate) trail: Vec<AuditRecord>,
    /// What reading the audit rows found besides their records.
    pub(crate) findings: TrailFindings,
    /// The tenant's policy history, from the same snapshot.
    pub(crate) policies: Vec<PolicyRow>,
}

/// What reading a request's audit rows finds besides their records.
#[derive(Debug, Default)]
pub struct TrailFindings {
    /// The first record whose stored hash does not link its columns
    /// ([`AuditColumns::check_link`](super::columns::AuditColumns::check_link)), reported after
    /// replay, whose finding names the workflow rule an edit breaks when it breaks one.
    pub(crate) unlinked: Option<crate::record::RecordError>,
    /// Whether the request was notified in record format 1
    /// ([`AuditColumns::is_format_1_notification`](super::columns::AuditColumns::is_format_1_notification)).
    pub(crate) format_1: bool,
}

impl TrailFindings {
    /// Notes one row: whether it is a format-1 notification, and, until one fails, its chain
    /// link, checked by `link` (which reads the row's link columns).
    pub(crate) fn note<E>(
        &mut self,
        columns: &super::columns::AuditColumns<'_>,
        link: impl FnOnce() -> Result<Result<(), crate::record::RecordError>, E>,
    ) -> Result<(), E> {
        self.format_1 |= columns.is_format_1_notification();
        if self.unlinked.is_none() {
            self.unlinked = link()?.err();
        }
        Ok(())
    }
}

/// A tenant's log as signing reads it, from one snapshot: its size, the stored subtrees of its
/// edge (in [`Frontier::ids`](crate::evidence::Frontier::ids) order, `None` for one missing),
/// and its latest checkpoint.
#[derive(Debug, Default)]
pub struct LogHead {
    pub(crate) size: u64,
    pub(crate) frontier: Vec<Option<Vec<u8>>>,
    pub(crate) latest: Option<CheckpointRow>,
}

/// A notification a step causes, for the outbox.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub(crate) sequence: u64,
    pub(crate) kind: crate::values::NotificationKind,
    pub(crate) created_at: String,
    pub(crate) message: String,
}

/// What one step writes, in one transaction: the request's row as the step leaves it, the new
/// audit rows (the backend links them into the tenant's chain), and the notifications they
/// cause.
#[derive(Debug)]
pub struct StepWrite {
    pub(crate) row: RequestRow,
    /// The revision the step was taken at: the write happens only if it is still the stored
    /// one. 0 for a new request, which is inserted only if its id is free.
    pub(crate) expected: u64,
    pub(crate) records: Vec<AuditRow>,
    pub(crate) messages: Vec<NewMessage>,
    /// The latest instant among the new records: refused when further ahead of the store's
    /// clock than [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW).
    pub(crate) latest_at: DateTime<Utc>,
    /// The version of the tenant's policy the step was decided under (0: none stored yet), or
    /// `None` for a step that does not depend on the policy. The write is refused
    /// ([`Written::PolicyChanged`]) when the tenant's latest version is another one.
    pub(crate) policy_version: Option<u32>,
    /// For a step that sends a message, on a store whose signer signs at once: sign the
    /// tenant's checkpoint inside the step's transaction (see [`StepSigning`]). A backend that
    /// does not (PostgreSQL) leaves it to the store, after the commit.
    pub(crate) signing: Option<super::checkpoints::StepSigning>,
    /// The clock the store was given ([`Store::set_clock`](super::Store::set_clock)), read when
    /// the write was made: the instant the backend checks `latest_at` against instead of its
    /// own clock. `None`: the backend's own (the system's, the server's).
    pub(crate) store_clock: Option<DateTime<Utc>>,
    /// For a step taken with an idempotency key: the row that keeps what it answered, written
    /// in the step's transaction, which fails ([`Written::KeyTaken`]) if the request has the
    /// key already. Its revision is the row's.
    pub(crate) key: Option<KeptStep>,
}

/// What a step taken with an idempotency key keeps: the key, the step, and what it answered
/// (the JSON of [`Kept`](super::keys::Kept)).
#[derive(Clone, Debug)]
pub struct KeptStep {
    pub(crate) key: String,
    pub(crate) step: crate::refusal::Step,
    pub(crate) result: String,
}

/// A kept step as stored: its step, the revision it left the request at, and what it answered.
#[derive(Clone, Debug)]
pub struct KeptRow {
    pub(crate) step: String,
    pub(crate) revision: u64,
    pub(crate) result: String,
}

/// A change of a tenant's policy, to write in one transaction: the store stamps it there, at
/// `now` or just after the tenant's latest record and change, whichever is later, so that no
/// record already in the tenant's log falls under it.
#[derive(Debug)]
pub struct PolicyWrite {
    pub(crate) tenant: crate::values::TenantId,
    /// The version the change replaces (0 for the first): written only if still the latest.
    pub(crate) replaces: u32,
    pub(crate) changed_by: crate::values::TenantAdminId,
    pub(crate) before: Option<crate::policy::TenantPolicy>,
    pub(crate) after: crate::policy::TenantPolicy,
    pub(crate) signature: Option<crate::decision::SignedChange>,
    /// The change is refused for its signature (`Some(None)`: it had none): its attempt is
    /// written to the tenant's log instead, and the policy stays as it is.
    pub(crate) refused: Option<Option<crate::decision::SignatureFault>>,
    pub(crate) now: DateTime<Utc>,
}

impl PolicyWrite {
    /// The change, once the transaction knows the tenant's latest record instant and latest
    /// change instant (as stored text).
    pub(crate) fn stamp(
        &self,
        last_record_at: Option<&str>,
        last_change_at: Option<&str>,
    ) -> Result<Stamped, StoreError> {
        let after_text = |text: Option<&str>| -> Result<Option<DateTime<Utc>>, StoreError> {
            text.map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|at| at.with_timezone(&Utc) + chrono::TimeDelta::nanoseconds(1))
                    .map_err(|err| {
                        StoreError::database("reading the tenant's last instant")(err.into())
                    })
            })
            .transpose()
        };
        let at = [after_text(last_record_at)?, after_text(last_change_at)?]
            .into_iter()
            .flatten()
            .fold(self.now, DateTime::max);
        let version = self.replaces.saturating_add(1);
        let encode =
            |err: serde_json::Error| StoreError::database("writing a policy change")(err.into());
        if let Some(fault) = self.refused {
            let refusal = crate::policy::PolicyRefusal::assemble(
                version,
                at,
                self.changed_by.clone(),
                self.after.clone(),
                fault,
            );
            return Ok(Stamped {
                row: PolicyRow::refusal(&refusal).map_err(encode)?,
                message: None,
            });
        }
        let change = crate::policy::PolicyChange::assemble(
            version,
            at,
            self.changed_by.clone(),
            self.before.clone(),
            self.after.clone(),
            self.signature.clone(),
        );
        let message =
            serde_json::to_string(&crate::notification::Notification::policy_changed(&change))
                .map_err(encode)?;
        Ok(Stamped {
            row: PolicyRow::of(&change).map_err(encode)?,
            message: Some(message),
        })
    }
}

/// A policy change as its transaction writes it: the row, and its message for the outbox
/// (available at once: `lease_until` is the change's instant).
#[derive(Debug)]
pub struct Stamped {
    pub(crate) row: PolicyRow,
    /// The message to the approvers; none for a refused change, which changed nothing.
    pub(crate) message: Option<String>,
}

/// A policy change's message claimed by a delivery run.
#[derive(Clone, Debug)]
pub struct ClaimedPolicy {
    pub(crate) tenant: String,
    /// As stored: the store checks it ([`topic`](Self::topic)).
    pub(crate) version: i64,
    pub(crate) message: String,
    pub(crate) attempt: u32,
}

/// How a step's write ended.
#[derive(Debug)]
pub enum Written {
    /// Committed.
    Saved,
    /// Committed, with the checkpoint [`StepWrite::signing`] asked for, kept in the same
    /// transaction: its signed note.
    SavedAndSigned(String),
    /// The request is not at the expected revision (or, for a new one, its id is taken):
    /// nothing was written.
    Stale,
    /// A record is further ahead of the store's clock than the skew allowed: nothing was
    /// written.
    Ahead {
        /// The store's clock.
        store_clock: DateTime<Utc>,
    },
    /// The tenant's policy changed since the step read it: nothing was written.
    PolicyChanged,
    /// The request already has a step with the write's idempotency key: nothing was written.
    KeyTaken,
}

/// An outbox row, as a view or a request's outbox reads it.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub(crate) id: i64,
    pub(crate) request_id: String,
    pub(crate) sequence: u64,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) lease_until: String,
}

/// A message claimed by a delivery run: held until the lease runs out, under the run's token.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub(crate) row: i64,
    pub(crate) request: RequestId,
    pub(crate) cause: u64,
    pub(crate) message: String,
    pub(crate) attempt: u32,
    /// The stored kind (`None`: no kind of message), checked against the kind of message its
    /// cause calls for.
    pub(crate) kind: Option<crate::values::NotificationKind>,
}

/// A request's message as a claim read it, before the store decodes it
/// ([`Claimed::decode`]): `attempt` is this attempt's number.
#[derive(Clone, Debug)]
pub struct ClaimedRow {
    pub(crate) row: i64,
    pub(crate) request: String,
    pub(crate) cause: i64,
    pub(crate) message: String,
    pub(crate) attempt: u32,
    pub(crate) kind: String,
}

impl Claimed {
    /// A claimed outbox row, decoded: the one decoder of both backends' rows. A request id
    /// that does not parse is refused by name; a kind that names no message is kept as `None`,
    /// for the delivery run to refuse that message.
    pub(crate) fn decode(row: ClaimedRow) -> Result<Claimed, StoreError> {
        let cause = u64::try_from(row.cause).ok();
        let refuse = |column| {
            StoreError::InvalidRecord(crate::record::RecordError::new(
                None,
                cause,
                crate::record::BrokenRule::StoredColumnDisagrees { column },
            ))
        };
        let request = RequestId::parse(&row.request).map_err(|_| refuse("outbox.request_id"))?;
        let cause = cause.ok_or_else(|| refuse("outbox.sequence"))?;
        Ok(Claimed {
            row: row.row,
            request,
            cause,
            message: row.message,
            attempt: row.attempt,
            kind: crate::values::NotificationKind::parse(&row.kind),
        })
    }
}

impl ClaimedPolicy {
    /// The tenant and version the message names; a row that names none is refused by name
    /// (an edited row: the columns are the policy change's key).
    pub(crate) fn topic(&self) -> Result<(crate::values::TenantId, u32), StoreError> {
        let refuse = |column| {
            StoreError::InvalidRecord(crate::record::RecordError::new(
                None,
                None,
                crate::record::BrokenRule::StoredColumnDisagrees { column },
            ))
        };
        let tenant = crate::values::TenantId::parse(&self.tenant)
            .map_err(|_| refuse("policy_outbox.tenant"))?;
        let version = u32::try_from(self.version).map_err(|_| refuse("policy_outbox.version"))?;
        Ok((tenant, version))
    }
}

/// What an attempt leaves in the outbox.
#[derive(Clone, Debug)]
pub struct OutboxUpdate {
    pub(crate) status: OutboxStatus,
    pub(crate) last_error: Option<String>,
    pub(crate) lease_until: String,
    pub(crate) finished_at: Option<String>,
}

/// Which of a tenant's kept checkpoints a read wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Every one, in size order.
    All,
    /// The latest (largest) only.
    Latest,
}

/// How recording an attempt ended.
#[derive(Debug)]
pub enum Finished {
    /// Recorded.
    Done,
    /// The run no longer holds the message (its lease ran out and another run took it).
    Lost,
    /// The request moved on since it was read: nothing was written; read it again.
    Stale,
}

/// A database a [`Store`](super::Store) runs on: [`Sqlite`](super::Sqlite) or
/// `Postgres` (feature `postgres`).
///
/// Sealed: a backend is a small set of primitives, each one transaction of its database, and the
/// store writes every operation once over them; the store's guarantees are proved for the
/// backends this crate implements, by one conformance suite.
pub trait Backend: Primitives {}

impl<B: Primitives> Backend for B {}

/// The primitives of a [`Backend`], each one transaction. Crate-private in all but name.
pub trait Primitives: Send + Sync + 'static {
    /// The backend's name, for spans and errors.
    const NAME: &'static str;

    /// The text of placeholder `n` (from 1) in this engine's SQL.
    fn placeholder(n: usize) -> String;

    /// The schema version the database has (0 for an empty one), and the newest this build
    /// knows.
    fn schema_version(&self) -> impl Future<Output = Result<(u32, u32), StoreError>> + Send;

    /// Brings the schema up to this build's version; refuses a newer one, untouched.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The store's own clock: the database server's, or the system clock for SQLite.
    fn store_clock(&self) -> impl Future<Output = Result<DateTime<Utc>, StoreError>> + Send;

    /// Runs `reads` in one read transaction (one snapshot, whatever other connections commit)
    /// and returns each one's rows, their columns as values. `what` names the read in errors.
    /// Every read of the store is one of these, written once in [`select`](super::select).
    fn read(
        &self,
        what: &'static str,
        reads: Vec<Sql>,
    ) -> impl Future<Output = Result<Vec<Vec<Row>>, StoreError>> + Send;

    /// Writes a policy change in one transaction (see [`PolicyWrite`]): `None` when the version
    /// it replaces is no longer the latest (nothing was written).
    fn write_policy(
        &self,
        change: PolicyWrite,
    ) -> impl Future<Output = Result<Option<PolicyRow>, StoreError>> + Send;

    /// Claims up to `limit` policy-change messages due at `now` until `lease_until`, under
    /// `token`, in one transaction.
    fn claim_policy(
        &self,
        now: DateTime<Utc>,
        lease_until: String,
        token: String,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ClaimedPolicy>, StoreError>> + Send;

    /// Records a policy-change message's attempt, if `token` still holds it.
    fn finish_policy(
        &self,
        message: ClaimedPolicy,
        token: String,
        update: OutboxUpdate,
    ) -> impl Future<Output = Result<Finished, StoreError>> + Send;

    /// Writes a step in one transaction (see [`StepWrite`]).
    fn write(&self, step: StepWrite) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// The engine's plan for a statement, one line per step.
    fn plan(&self, sql: Sql) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Claims up to `limit` messages due at `now` until `lease_until`, under `token`, in one
    /// transaction; no other run is handed them before then.
    fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: String,
        token: String,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ClaimedRow>, StoreError>> + Send;

    /// Records an attempt in one transaction, if `token` still holds the message: the delivery
    /// step (if any, conditional on its revision) and the outbox row.
    fn finish(
        &self,
        message: Claimed,
        token: String,
        step: Option<StepWrite>,
        update: OutboxUpdate,
    ) -> impl Future<Output = Result<Finished, StoreError>> + Send;

    /// Streams a tenant's audit rows in chain order into `sink`, then reads every request's
    /// revision of that tenant from the same snapshot (`None` for a row that does not decode).
    fn chain(
        &self,
        tenant: crate::values::TenantId,
        sink: tokio::sync::mpsc::Sender<ChainBatch>,
    ) -> impl Future<Output = Result<Vec<Option<(RequestId, u64)>>, StoreError>> + Send;

    /// Keeps a checkpoint, unless one of its tenant and size is kept already: whether it was
    /// added. Its commit does not wait for the disk (SQLite `synchronous = NORMAL`, PostgreSQL
    /// `synchronous_commit = off`): a checkpoint is a deterministic signature over a tree that
    /// is durable already, so one lost to a power cut is signed again, byte for byte, and the
    /// next durable commit (the delivery run's claim, before any message carries it) makes it
    /// durable.
    fn add_checkpoint(
        &self,
        row: CheckpointRow,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
