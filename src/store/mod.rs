//! Persistence: stores that keep requests and their audit records, and refuse anything the
//! workflow could not have produced.
//!
//! A store saves a request's [unsaved records](crate::Request::unsaved_records) in one
//! transaction with its new state (and, for a notification, an outbox entry), guarded by
//! optimistic concurrency: if someone else saved the request since it was loaded, the save fails
//! with a conflict and writes nothing. Loading goes through
//! [`RequestRecord::load`](crate::RequestRecord::load), so a stored request that breaks a
//! workflow rule is refused, naming the rule.
//!
//! A save is checked as a load would check the result: the request's trail is replayed, and the
//! records it counts as saved must be the stored ones ([`StoreError::SaveRefused`] otherwise,
//! with nothing written). No new record may be further ahead of the store's own clock than
//! [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW): such steps are recorded as refused attempts at
//! the store's clock instead, a customer's revocation or denial among them taking effect there
//! ([`StoreError::ClockAhead`]).
//!
//! `SqliteStore` is the embedded store (feature `sqlite`, on by default).

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod ops;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
store_api!(SqliteStore);
#[cfg(feature = "postgres")]
store_api!(PostgresStore);
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::delivery::DeliveryFailure;
use crate::notification::NotificationKind;
use crate::record::RecordError;
use crate::refusal::Refusal;
use crate::state::{ClosureReason, StateKind};
use crate::values::RequestId;

/// What every store does: the API [`SqliteStore`] and
/// [`PostgresStore`] share, for code that works with either. Each
/// method is documented on the stores' inherent methods of the same name.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[allow(missing_docs)] // each method is the inherent method of the same name
pub trait Store {
    fn save<S: crate::State>(&mut self, request: &mut crate::Request<S>) -> Result<(), StoreError>;
    fn load(&mut self, id: RequestId) -> Result<crate::AnyRequest, StoreError>;
    fn outbox(&mut self, request: RequestId) -> Result<Vec<OutboxEntry>, StoreError>;
    fn deliver(
        &mut self,
        directory: &(impl crate::Directory + ?Sized),
        sender: &mut (impl crate::Sender + ?Sized),
        now: DateTime<Utc>,
        lease: chrono::TimeDelta,
    ) -> Result<DeliveryReport, StoreError>;
    fn append_actions(
        &mut self,
        id: RequestId,
        engineer: &crate::EngineerId,
        actions: impl IntoIterator<Item = crate::EngineerAction>,
        now: DateTime<Utc>,
    ) -> Result<AppendReport, StoreError>;
    fn sweep(&mut self, now: DateTime<Utc>) -> Result<SweepReport, StoreError>;
    fn search(&mut self, query: &crate::AuditQuery) -> Result<crate::AuditPage, StoreError>;
    fn export_jsonl(
        &mut self,
        query: &crate::AuditQuery,
        out: impl std::io::Write,
    ) -> Result<u64, StoreError>;
    fn search_plan(&mut self, query: &crate::AuditQuery) -> Result<Vec<String>, StoreError>;
    fn chain_head(
        &mut self,
        tenant: crate::TenantId,
    ) -> Result<Option<crate::ChainHead>, StoreError>;
    fn verify_chain(&mut self, tenant: crate::TenantId) -> Result<crate::ChainVerdict, StoreError>;
    fn tenants(&mut self) -> Result<Vec<crate::TenantId>, StoreError>;
}

/// Implements [`Store`] for a store type by calling its inherent methods.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! store_api {
    ($store:ty) => {
        impl $crate::store::Store for $store {
            fn save<S: $crate::State>(
                &mut self,
                request: &mut $crate::Request<S>,
            ) -> Result<(), StoreError> {
                <$store>::save(self, request)
            }
            fn load(&mut self, id: $crate::RequestId) -> Result<$crate::AnyRequest, StoreError> {
                <$store>::load(self, id)
            }
            fn outbox(
                &mut self,
                request: $crate::RequestId,
            ) -> Result<Vec<$crate::OutboxEntry>, StoreError> {
                <$store>::outbox(self, request)
            }
            fn deliver(
                &mut self,
                directory: &(impl $crate::Directory + ?Sized),
                sender: &mut (impl $crate::Sender + ?Sized),
                now: chrono::DateTime<chrono::Utc>,
                lease: chrono::TimeDelta,
            ) -> Result<$crate::DeliveryReport, StoreError> {
                <$store>::deliver(self, directory, sender, now, lease)
            }
            fn append_actions(
                &mut self,
                id: $crate::RequestId,
                engineer: &$crate::EngineerId,
                actions: impl IntoIterator<Item = $crate::EngineerAction>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::AppendReport, StoreError> {
                <$store>::append_actions(self, id, engineer, actions, now)
            }
            fn sweep(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::SweepReport, StoreError> {
                <$store>::sweep(self, now)
            }
            fn search(
                &mut self,
                query: &$crate::AuditQuery,
            ) -> Result<$crate::AuditPage, StoreError> {
                <$store>::search(self, query)
            }
            fn export_jsonl(
                &mut self,
                query: &$crate::AuditQuery,
                out: impl std::io::Write,
            ) -> Result<u64, StoreError> {
                <$store>::export_jsonl(self, query, out)
            }
            fn search_plan(
                &mut self,
                query: &$crate::AuditQuery,
            ) -> Result<Vec<String>, StoreError> {
                <$store>::search_plan(self, query)
            }
            fn chain_head(
                &mut self,
                tenant: $crate::TenantId,
            ) -> Result<Option<$crate::ChainHead>, StoreError> {
                <$store>::chain_head(self, tenant)
            }
            fn verify_chain(
                &mut self,
                tenant: $crate::TenantId,
            ) -> Result<$crate::ChainVerdict, StoreError> {
                <$store>::verify_chain(self, tenant)
            }
            fn tenants(&mut self) -> Result<Vec<$crate::TenantId>, StoreError> {
                <$store>::tenants(self)
            }
        }
    };
}
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use store_api;

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Someone else saved the request since it was loaded: nothing was written. Load it again,
    /// look at what changed, and decide again.
    #[error(
        "request {request} was saved by someone else since it was loaded (expected revision {expected}, found {found}): nothing was written; load it again and decide again"
    )]
    Conflict {
        /// The request.
        request: RequestId,
        /// The revision (saved record count) the save expected.
        expected: u64,
        /// The revision found.
        found: u64,
    },
    /// No request with this id is stored.
    #[error("no request {request} is stored: check the id, or save the draft first")]
    NotFound {
        /// The id asked for.
        request: RequestId,
    },
    /// The request is not in the state the operation needs.
    #[error("request {request} is {state}, but this needs a {expected} request")]
    WrongState {
        /// The request.
        request: RequestId,
        /// Its state.
        state: StateKind,
        /// The state needed.
        expected: StateKind,
    },
    /// A stored request breaks a workflow rule, or its rows disagree with its record.
    #[error(transparent)]
    Refused(#[from] RecordError),
    /// The request to save is not one the store would load back: its trail breaks a workflow
    /// rule, or the records it says are saved are not the ones this store holds (it was loaded
    /// elsewhere, or built from an edited record). Nothing was written.
    #[error("request {request} was not saved, because the store would refuse to load it: {}; nothing was written: load the request from this store and take the step again", .refusal.rule())]
    SaveRefused {
        /// The request.
        request: RequestId,
        /// The record and the rule, as a load would name them.
        refusal: RecordError,
    },
    /// An instant given to the store is further ahead of its own clock than
    /// [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW).
    ///
    /// For a save, the store recorded what the steps tried as refused attempts at its own clock
    /// instead (a customer's revocation or denial among them took effect there), unless the
    /// request was new, with nowhere to record them. For a sweep or a delivery run, nothing was
    /// done.
    #[error("{}", clock_ahead_message(*.request, *.given, *.store_clock, *.recorded))]
    ClockAhead {
        /// The request saved, if this was a save.
        request: Option<RequestId>,
        /// The instant given (for a save, the first step's instant beyond the bound).
        given: DateTime<Utc>,
        /// The store's clock when it checked.
        store_clock: DateTime<Utc>,
        /// Whether the steps' attempts were recorded in the request's trail.
        recorded: bool,
    },
    /// The database was written by a newer version of this crate. It was left untouched.
    #[error(
        "the database schema is version {found}, newer than the {supported} this build knows: it was left untouched; use a newer build of customer-lockbox"
    )]
    NewerSchema {
        /// The schema version found.
        found: i64,
        /// The newest schema version this build knows.
        supported: usize,
    },
    /// The database failed.
    #[error("{context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The database's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A delivery lease must be longer than zero.
    #[error(
        "a delivery lease of {lease} is too short: give a lease longer than zero, longer than a send takes"
    )]
    InvalidLease {
        /// The lease given.
        lease: chrono::TimeDelta,
    },
    /// Writing an export failed.
    #[error("writing the export failed: {0}")]
    Export(#[source] std::io::Error),
}

impl StoreError {
    /// Whether this is a [`StoreError::Conflict`]: load again and retry the decision.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether this is a [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Whether a request was refused for breaking a workflow rule: a stored one on load
    /// ([`StoreError::Refused`]) or one not saved ([`StoreError::SaveRefused`]).
    pub fn is_refused(&self) -> bool {
        matches!(
            self,
            StoreError::Refused(_) | StoreError::SaveRefused { .. }
        )
    }

    /// Whether an instant was too far ahead of the store's clock ([`StoreError::ClockAhead`]).
    pub fn is_clock_ahead(&self) -> bool {
        matches!(self, StoreError::ClockAhead { .. })
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn database(
        context: &'static str,
    ) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> StoreError {
        move |source| StoreError::Database { context, source }
    }
}

fn clock_ahead_message(
    request: Option<RequestId>,
    given: DateTime<Utc>,
    store_clock: DateTime<Utc>,
    recorded: bool,
) -> String {
    let what = match (request, recorded) {
        (Some(request), true) => format!(
            "request {request} records its steps as refused attempts at the store's clock (a customer's revocation or denial among them took effect there); load it again"
        ),
        (Some(request), false) => format!("request {request} was not saved"),
        (None, _) => "nothing was done".to_owned(),
    };
    format!(
        "the instant {} is more than {} minutes ahead of the store's clock ({}): {what}; synchronize this node's clock (NTP) and try again",
        instant_text(given),
        crate::clock::MAX_CLOCK_SKEW.num_minutes(),
        instant_text(store_clock),
    )
}

/// What a sweep did: each overdue request handled as its own audited step.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SweepReport {
    /// Pending requests that expired unanswered.
    pub expired: Vec<RequestId>,
    /// Granted requests whose access window ended.
    pub access_ended: Vec<RequestId>,
    /// Requests someone else moved while the sweep ran (conflicts): left to them.
    pub skipped: Vec<RequestId>,
    /// Requests that could not be handled, with the reason (a refused record, a failed write).
    pub failed: Vec<(RequestId, StoreError)>,
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} expired, {} access ended, {} skipped, {} failed",
            self.expired.len(),
            self.access_ended.len(),
            self.skipped.len(),
            self.failed.len()
        )
    }
}

/// What appending engineer actions did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendReport {
    /// How many actions were recorded as taken.
    pub recorded: usize,
    /// Actions refused (and recorded as refused), by their index in the batch.
    pub refused: Vec<(usize, Refusal)>,
    /// Set when access had ended: the request closed for this reason, and the actions from the
    /// first late one on were not taken.
    pub access_ended: Option<ClosureReason>,
}

/// Where a notification stands in a store's outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutboxStatus {
    /// Not sent yet: waiting for its first attempt, for a retry, or held by an attempt.
    Pending,
    /// The sender accepted it.
    Sent,
    /// Not sent, and never will be: it asked for a decision the request no longer awaits.
    Dropped,
}

impl OutboxStatus {
    /// The status as stored: `pending`, `sent` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Dropped => "dropped",
        }
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            OutboxStatus::Pending,
            OutboxStatus::Sent,
            OutboxStatus::Dropped,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification in a store's outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// The request it is about.
    pub request: RequestId,
    /// The sequence of the audit record whose step caused it.
    pub cause: u64,
    /// What it is about.
    pub kind: NotificationKind,
    /// Where it stands.
    pub status: OutboxStatus,
    /// How many attempts claimed it, including any that crashed before recording an outcome.
    pub attempts: u32,
    /// Why the last failed attempt failed.
    pub last_error: Option<DeliveryFailure>,
    /// A pending entry's earliest next attempt (the end of a lease or of the retry delay).
    pub next_attempt_at: DateTime<Utc>,
}

/// What a delivery run did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Notifications the sender accepted: (request, cause).
    pub sent: Vec<(RequestId, u64)>,
    /// Notifications whose attempt failed, kept for a retry after the lease: (request, cause,
    /// why).
    pub failed: Vec<(RequestId, u64, DeliveryFailure)>,
    /// Decision messages dropped because the request no longer awaits a decision.
    pub dropped: Vec<(RequestId, u64)>,
    /// Attempts whose lease ran out before they finished, so another run took the message
    /// over: their outcome was not recorded.
    pub lost: Vec<(RequestId, u64)>,
    /// Notifications that could not be handled (a refused record, a failed write), kept for a
    /// retry after the lease.
    pub errors: Vec<(RequestId, u64, StoreError)>,
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sent, {} failed, {} dropped, {} lost lease, {} errors",
            self.sent.len(),
            self.failed.len(),
            self.dropped.len(),
            self.lost.len(),
            self.errors.len()
        )
    }
}

/// An instant as stored in indexed text columns: RFC 3339 in UTC with nine fractional digits,
/// so that text order is time order for the years 1970 to 9999 the workflow accepts.
pub(crate) fn instant_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}
