//! The one error type of the store boundary.

use chrono::{DateTime, Utc};

use super::columns::instant_text;
use crate::record::RecordError;
use crate::refusal::{Refusal, Step};
use crate::state::StateKind;
use crate::values::RequestId;

/// Why a store could not do what was asked.
///
/// Messages say what was wrong and what to do; an underlying error (the database's, the
/// writer's) is never repeated in the message but is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The workflow refused the step. The refusal is in the request's trail (unless it is about
    /// the instant itself: see [`Refusal::is_recorded`]), so a caller that propagates this
    /// error with `?` loses no evidence.
    #[error("the {step} of request {request} was refused: {refusal}")]
    Refused {
        /// The request.
        request: RequestId,
        /// The step refused.
        step: Step,
        /// The rule that refused it.
        refusal: Refusal,
    },
    /// The request is not in a state the step applies to (say, a grant of a request that was
    /// decided meanwhile). Nothing was written.
    #[error("request {request} is {state}, so its {step} cannot be taken: {}", needs(.expected))]
    WrongState {
        /// The request.
        request: RequestId,
        /// The step asked for.
        step: Step,
        /// The request's state.
        state: StateKind,
        /// The states the step applies to.
        expected: &'static [StateKind],
    },
    /// Other writers moved the request every time the step was about to be saved, as many
    /// times as the store retries. Nothing was written for this step.
    #[error(
        "request {request} was moved by other writers on each of {attempts} attempts at its {step}: nothing was written for it; take the step again"
    )]
    Conflict {
        /// The request.
        request: RequestId,
        /// The step.
        step: Step,
        /// How many times it was tried.
        attempts: u32,
    },
    /// Another request already has the draft's id: nothing was saved. A platform that retries
    /// a draft gives it the same id, so this also answers a retry whose first try was saved:
    /// load the request to see whether it is the one meant.
    #[error(
        "request id {request} is taken by another request: nothing was saved; draft with a new id (RequestId::new), or load {request} if this was a retry"
    )]
    IdTaken {
        /// The id asked for.
        request: RequestId,
    },
    /// The idempotency key was given to another kind of step on this request before: nothing
    /// was taken. Give each action of a client its own key.
    #[error(
        "idempotency key {key} of request {request} was given to its `{kept_step}` step, not to `{}`: nothing was taken; give each action its own key", .step.as_str()
    )]
    KeyReused {
        /// The request.
        request: RequestId,
        /// The key.
        key: crate::values::IdempotencyKey,
        /// The step the key was first given to, as stored (`grant`, `record_action`, ...).
        kept_step: String,
        /// The step asked for now.
        step: Step,
    },
    /// The draft breaks the tenant's policy, the tenant has no policy yet, or its instant is out
    /// of range: nothing was saved.
    #[error(transparent)]
    InvalidDraft(crate::Error),
    /// A policy change is not allowed (another tenant's policy, an instant before the last
    /// change), or a tenant's stored policy history does not follow: nothing was written.
    #[error(transparent)]
    InvalidPolicy(crate::Error),
    /// Other writers changed the tenant's policy every time this change was about to be saved:
    /// nothing was written; read the policy again and decide whether to change it.
    #[error(
        "tenant {tenant}'s policy was changed by someone else while this change was saved: nothing was written; read the policy again and decide again"
    )]
    PolicyConflict {
        /// The tenant.
        tenant: crate::TenantId,
    },
    /// No request with this id is stored.
    #[error("no request {request} is stored: check the id, or draft the request first")]
    NotFound {
        /// The id asked for.
        request: RequestId,
    },
    /// A stored request breaks a workflow rule, or its rows disagree with its records: the
    /// workflow could not have produced it.
    #[error(transparent)]
    InvalidRecord(#[from] RecordError),
    /// An instant given to the store is further ahead of its own clock than
    /// [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW).
    ///
    /// For a step, the store recorded the attempt as refused at its own clock instead (a
    /// customer's revocation or denial took effect there), unless the request was new, with
    /// nowhere to record it. For a sweep or a delivery run, nothing was done.
    #[error("{}", clock_ahead(*.request, *.given, *.store_clock, *.recorded))]
    ClockAhead {
        /// The request stepped, if this was a step.
        request: Option<RequestId>,
        /// The instant given (for a step, the first record's beyond the bound).
        given: DateTime<Utc>,
        /// The store's clock when it checked.
        store_clock: DateTime<Utc>,
        /// Whether the attempt was recorded in the request's trail.
        recorded: bool,
    },
    /// A policy change's instant is further behind the store's clock than
    /// [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW): a change happens now, never in the past, so
    /// nothing was written.
    #[error(
        "the instant {} is more than {} minutes behind the store's clock ({}): a policy change takes effect now, so nothing was written; synchronize this node's clock (NTP) and make the change again",
        instant_text(*.given),
        crate::clock::MAX_CLOCK_SKEW.num_minutes(),
        instant_text(*.store_clock)
    )]
    ClockBehind {
        /// The instant given.
        given: DateTime<Utc>,
        /// The store's clock when it checked.
        store_clock: DateTime<Utc>,
    },
    /// The database was written by a newer version of this crate. It was left untouched.
    #[error(
        "the database schema is version {found}, newer than the {supported} this build knows: it was left untouched; use a newer build of customer-lockbox"
    )]
    NewerSchema {
        /// The schema version found.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// The database's schema is older than this build's: nothing was read or written.
    #[error(
        "the database schema is version {found}, older than the {supported} this build needs: call `migrate` on a store that may write, then retry"
    )]
    SchemaBehind {
        /// The schema version found (0 for an empty database).
        found: u32,
        /// The schema version this build needs.
        supported: u32,
    },
    /// The store was opened read-only, and this would write.
    #[error("this store is read-only, so it cannot {what}: open it for writing")]
    ReadOnly {
        /// What was asked.
        what: &'static str,
    },
    /// The database could not be reached, or was too busy, for now (a refused or dropped
    /// connection, a pool with no connection free in time, a lock held too long, a server
    /// shutting down): nothing was written. The same call may succeed later.
    #[error(
        "{context} failed: the database could not be reached or was too busy; nothing was written; try again shortly"
    )]
    Unavailable {
        /// What the store was doing.
        context: &'static str,
        /// The database's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The connection failed after a write was sent and before the database said whether it
    /// committed: the step may or may not have been saved. Take it again with the same
    /// idempotency key (which records nothing twice), or load the request to see.
    #[error(
        "{context} failed after it was sent: it may or may not have been saved; take the step again with the same idempotency key, or load the request to see"
    )]
    OutcomeUnknown {
        /// What the store was doing.
        context: &'static str,
        /// The database's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database failed in a way trying again will not mend; the source says how.
    #[error("{context} failed")]
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
    /// A tenant's log is not what the store wrote: its Merkle tree lacks a subtree, disagrees
    /// with its records, or does not extend a checkpoint the store signed. Nothing was written
    /// or signed: the store never extends or signs over a log it cannot prove.
    #[error(
        "the log of tenant {tenant} is broken: {reason}; nothing was written or signed: verify the log (Store::verify_log) and restore the store from a verified backup"
    )]
    LogBroken {
        /// The tenant, as stored.
        tenant: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store has no checkpoint signer ([`Store::set_checkpoint_signer`](crate::store::Store::set_checkpoint_signer)).
    #[error(
        "this store has no checkpoint signer: give it one (Store::set_checkpoint_signer) before signing checkpoints"
    )]
    NoSigner,
    /// The checkpoint signer failed: nothing was signed or kept.
    #[error(transparent)]
    Signer(crate::evidence::SignerError),
    /// No checkpoint covers the entry or size asked for yet.
    #[error(
        "no checkpoint covers entry {position} of this log yet: sign one (Store::sign_checkpoint), then ask again"
    )]
    NoCheckpoint {
        /// The entry's position, or the size asked for.
        position: u64,
    },
    /// A checkpoint does not open for the log with the key given, or two disagree.
    #[error(transparent)]
    Checkpoint(crate::tlog::TlogError),
    /// Writing an export failed; the source says how.
    #[error("writing the export failed: check where it was going, then export again")]
    Export(#[source] std::io::Error),
}

/// What kind of failure a [`StoreError`] is: what a service tells its caller, and whether it
/// may try again. [`StoreError::class`] gives it; [`http_status`](Self::http_status) is the
/// mapping we recommend for an HTTP API.
///
/// ```
/// use customer_lockbox::{ErrorClass, RequestId, StoreError};
///
/// let err = StoreError::NotFound { request: RequestId::new("2026-11-24T08:00:00Z".parse()?) };
/// assert_eq!(err.class(), ErrorClass::NotFound);
/// assert_eq!(err.class().http_status(), 404);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// No such request, or no checkpoint covers what was asked.
    NotFound,
    /// The workflow refused who asked: the engineer approving their own request, someone not
    /// designated deciding, an action in a service the customer did not approve. Recorded as a
    /// refused attempt.
    Forbidden,
    /// The request is not in a state the step applies to, another writer won every time, the
    /// id is taken, or the tenant's policy changed meanwhile. Read the request again.
    Conflict,
    /// A window has closed: the decision deadline passed (the request expired), access ended,
    /// or the request is closed. Nothing more can happen under this request.
    TooLate,
    /// The input cannot be taken: a draft over the policy's maximum, a tenant without a
    /// policy, an instant out of range or further ahead than the store's clock allows.
    Invalid,
    /// The database (or the checkpoint signer) cannot serve now, or is not at this build's
    /// schema: see [`StoreError::is_retryable`].
    Unavailable,
    /// A write may or may not have been saved: take it again with the same idempotency key.
    OutcomeUnknown,
    /// Stored data or evidence fails its checks: a record the workflow could not have
    /// produced, a broken log. Nothing was written; the store needs an operator.
    Corrupt,
}

impl ErrorClass {
    /// The HTTP status we recommend for the class: 404, 403, 409, 410 (gone: the window
    /// closed), 422, 503 (with `Retry-After` when [`StoreError::is_retryable`]), 500 for an
    /// outcome unknown (the client retries with its idempotency key) and for corruption.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::NotFound => 404,
            ErrorClass::Forbidden => 403,
            ErrorClass::Conflict => 409,
            ErrorClass::TooLate => 410,
            ErrorClass::Invalid => 422,
            ErrorClass::Unavailable => 503,
            ErrorClass::OutcomeUnknown | ErrorClass::Corrupt => 500,
        }
    }

    /// The class's name, in snake case: `not_found`, `too_late`, `outcome_unknown`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::NotFound => "not_found",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::Conflict => "conflict",
            ErrorClass::TooLate => "too_late",
            ErrorClass::Invalid => "invalid",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::OutcomeUnknown => "outcome_unknown",
            ErrorClass::Corrupt => "corrupt",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialized as `{"class": ..., "message": ...}`: what a service puts in an error response.
/// The source (a database's error) is left out, as it may name hosts and tables.
impl serde::Serialize for StoreError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut shown = serializer.serialize_struct("StoreError", 2)?;
        shown.serialize_field("class", &self.class())?;
        shown.serialize_field("message", &self.to_string())?;
        shown.end()
    }
}

/// The class of a refusal: who asked, or when.
fn refusal_class(refusal: Refusal) -> ErrorClass {
    if refusal.is_about_who_asked() {
        return ErrorClass::Forbidden;
    }
    match refusal {
        Refusal::AlreadyApproved => ErrorClass::Conflict,
        Refusal::DecisionDeadlinePassed | Refusal::AccessWindowEnded | Refusal::RequestClosed => {
            ErrorClass::TooLate
        }
        // The rest: an instant the store cannot take, or a policy designating nobody.
        _ => ErrorClass::Invalid,
    }
}

/// What a database error says: whether trying again may help, and whether it settles that
/// nothing was applied (the database answered with an error, or nothing was sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Diagnosis {
    pub(crate) transient: bool,
    pub(crate) nothing_applied: bool,
}

/// The diagnosis of `source` from the first error in its chain a backend recognizes: a
/// driver's error, or an I/O error (transient, and it settles nothing). An error of the store's
/// own (an encoding, a check) is permanent, and nothing was sent.
fn diagnose(source: &(dyn std::error::Error + 'static)) -> Diagnosis {
    let mut next = Some(source);
    while let Some(err) = next {
        #[cfg(feature = "postgres")]
        if let Some(diagnosis) = super::postgres::diagnose(err) {
            return diagnosis;
        }
        #[cfg(feature = "sqlite")]
        if let Some(diagnosis) = super::sqlite::diagnose(err) {
            return diagnosis;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Diagnosis {
                transient: transient_io(io.kind()),
                nothing_applied: false,
            };
        }
        next = err.source();
    }
    Diagnosis {
        transient: false,
        nothing_applied: true,
    }
}

/// Whether an I/O error of `kind` is the network's or the server's passing state (refused,
/// reset, timed out, unreachable), not a fault that stays (a certificate, a protocol error).
pub(crate) fn transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::TimedOut
            | K::UnexpectedEof
            | K::Interrupted
            | K::WouldBlock
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrNotAvailable
    )
}

impl StoreError {
    /// The error for a tree that lacks a subtree it must have: the database was edited (or a
    /// migration is missing).
    pub(crate) fn missing_node(tenant: &str, size: u64, id: crate::tlog::NodeId) -> StoreError {
        StoreError::LogBroken {
            tenant: tenant.to_owned(),
            reason: format!(
                "its tree of {size} entries lacks its subtree at level {} index {}",
                id.level, id.index
            ),
        }
    }

    /// What kind of failure this is (see [`ErrorClass`]), for a service's answer.
    ///
    /// ```
    /// use customer_lockbox::{ErrorClass, Refusal, RequestId, Step, StoreError};
    ///
    /// let err = StoreError::Refused {
    ///     request: RequestId::new("2026-11-24T08:00:00Z".parse()?),
    ///     step: Step::Grant,
    ///     refusal: Refusal::DecisionDeadlinePassed,
    /// };
    /// assert_eq!(err.class(), ErrorClass::TooLate);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Refused { refusal, .. } => refusal_class(*refusal),
            StoreError::NotFound { .. } | StoreError::NoCheckpoint { .. } => ErrorClass::NotFound,
            StoreError::WrongState { .. }
            | StoreError::Conflict { .. }
            | StoreError::IdTaken { .. }
            | StoreError::PolicyConflict { .. } => ErrorClass::Conflict,
            StoreError::InvalidPolicy(err) if err.is_broken_policy_history() => ErrorClass::Corrupt,
            StoreError::InvalidDraft(_)
            | StoreError::InvalidPolicy(_)
            | StoreError::ClockAhead { .. }
            | StoreError::ClockBehind { .. }
            | StoreError::InvalidLease { .. }
            | StoreError::KeyReused { .. }
            | StoreError::NoSigner => ErrorClass::Invalid,
            StoreError::InvalidRecord(_)
            | StoreError::LogBroken { .. }
            | StoreError::Checkpoint(_) => ErrorClass::Corrupt,
            StoreError::NewerSchema { .. }
            | StoreError::SchemaBehind { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::Unavailable { .. }
            | StoreError::Database { .. }
            | StoreError::Signer(_)
            | StoreError::Export(_) => ErrorClass::Unavailable,
            StoreError::OutcomeUnknown { .. } => ErrorClass::OutcomeUnknown,
        }
    }

    /// Whether taking the same call again, unchanged, may succeed and cannot do anything
    /// twice: the database was unavailable for now ([`StoreError::Unavailable`]), other
    /// writers won every race ([`StoreError::Conflict`]), or the signer failed. Not for an
    /// outcome unknown, which is safe to retry only with the same idempotency key.
    ///
    /// ```
    /// use customer_lockbox::{RequestId, Step, StoreError};
    ///
    /// let err = StoreError::Conflict {
    ///     request: RequestId::new("2026-11-24T08:00:00Z".parse()?),
    ///     step: Step::Grant,
    ///     attempts: 16,
    /// };
    /// assert!(err.is_retryable());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Conflict { .. } | StoreError::Signer(_)
        )
    }

    /// Whether a write may or may not have been saved ([`StoreError::OutcomeUnknown`]): retry
    /// with the same idempotency key, or load the request to see.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, StoreError::OutcomeUnknown { .. })
    }

    /// Whether another request already has the id of a draft ([`StoreError::IdTaken`]).
    pub fn is_id_taken(&self) -> bool {
        matches!(self, StoreError::IdTaken { .. })
    }

    /// Whether the workflow refused the step ([`StoreError::Refused`]); see
    /// [`refusal`](Self::refusal) for the rule.
    ///
    /// ```
    /// use customer_lockbox::{Refusal, RequestId, Step, StoreError};
    ///
    /// let err = StoreError::Refused {
    ///     request: RequestId::new("2026-11-24T08:00:00Z".parse()?),
    ///     step: Step::Grant,
    ///     refusal: Refusal::NotDesignatedApprover,
    /// };
    /// assert!(err.is_refused());
    /// assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_refused(&self) -> bool {
        matches!(self, StoreError::Refused { .. })
    }

    /// The workflow's refusal, for a [`StoreError::Refused`].
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            StoreError::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        }
    }

    /// Whether other writers kept the step from being saved ([`StoreError::Conflict`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether no such request is stored ([`StoreError::NotFound`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Whether the request was not in a state the step applies to
    /// ([`StoreError::WrongState`]).
    pub fn is_wrong_state(&self) -> bool {
        matches!(self, StoreError::WrongState { .. })
    }

    /// Whether a stored request could not have been produced by the workflow
    /// ([`StoreError::InvalidRecord`]).
    pub fn is_invalid_record(&self) -> bool {
        matches!(self, StoreError::InvalidRecord(_))
    }

    /// Whether an instant was too far ahead of the store's clock ([`StoreError::ClockAhead`]).
    pub fn is_clock_ahead(&self) -> bool {
        matches!(self, StoreError::ClockAhead { .. })
    }

    /// A database failure while doing `context`: [`StoreError::Unavailable`] when trying again
    /// may help, else [`StoreError::Database`].
    pub(crate) fn database(
        context: &'static str,
    ) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> StoreError {
        move |source| {
            if diagnose(source.as_ref()).transient {
                StoreError::Unavailable { context, source }
            } else {
                StoreError::Database { context, source }
            }
        }
    }

    /// A database failure while doing `context`, from any error type (see
    /// [`database`](Self::database)).
    pub(crate) fn db<E: std::error::Error + Send + Sync + 'static>(
        context: &'static str,
    ) -> impl FnOnce(E) -> StoreError {
        move |err| StoreError::database(context)(Box::new(err))
    }

    /// A failure of a call that commits a write (a `COMMIT`, or a statement that commits on
    /// its own): [`StoreError::OutcomeUnknown`] unless the error settles that nothing was
    /// applied (the database answered with an error).
    pub(crate) fn committing<E: std::error::Error + Send + Sync + 'static>(
        context: &'static str,
    ) -> impl FnOnce(E) -> StoreError {
        move |err| {
            if diagnose(&err).nothing_applied {
                StoreError::db(context)(err)
            } else {
                StoreError::OutcomeUnknown {
                    context,
                    source: Box::new(err),
                }
            }
        }
    }

    /// This error, for a write inside a transaction that had not committed: a connection lost
    /// there rolls the transaction back, so an unknown outcome is a failure for now.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn before_commit(self) -> StoreError {
        match self {
            StoreError::OutcomeUnknown { context, source } => {
                StoreError::Unavailable { context, source }
            }
            other => other,
        }
    }
}

fn needs(states: &[StateKind]) -> String {
    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    match names.as_slice() {
        [] => "it applies to no stored request".to_owned(),
        [one] => format!("it needs a {one} request"),
        [init @ .., last] => format!("it needs a {} or {last} request", init.join(", ")),
    }
}

fn clock_ahead(
    request: Option<RequestId>,
    given: DateTime<Utc>,
    store_clock: DateTime<Utc>,
    recorded: bool,
) -> String {
    let what = match (request, recorded) {
        (Some(request), true) => format!(
            "request {request} records the attempt as refused at the store's clock (a customer's revocation or denial took effect there)"
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
