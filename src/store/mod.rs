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
//! `SqliteStore` is the embedded store (feature `sqlite`, on by default).

#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::record::RecordError;
use crate::refusal::Refusal;
use crate::state::{ClosureReason, StateKind};
use crate::values::RequestId;

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

    /// Whether a stored request was refused ([`StoreError::Refused`]).
    pub fn is_refused(&self) -> bool {
        matches!(self, StoreError::Refused(_))
    }

    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn database(
        context: &'static str,
    ) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> StoreError {
        move |source| StoreError::Database { context, source }
    }
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

/// An instant as stored in indexed text columns: RFC 3339 in UTC with nine fractional digits,
/// so that text order is time order for the years 1970 to 9999 the workflow accepts.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn instant_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}
