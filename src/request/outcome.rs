//! Typed outcomes of time-dependent steps.
//!
//! A step that may meet a deadline returns one of these enums instead of a request, so the
//! compiler makes the caller handle the case where time ran out: a grant that came too late is
//! [`GrantOutcome::Expired`], not a granted request.

use crate::request::Request;
use crate::state::{Closed, Granted, PendingCustomer};

/// The result of [`Request::grant`]: access granted, more approvals needed, or the request had
/// already expired.
#[must_use = "a grant may have come too late or need more approvals: match on Granted, AwaitingApprovals and Expired"]
#[derive(Debug)]
pub enum GrantOutcome {
    /// Granted: this was the last approval needed, and the engineer has access from its
    /// instant until [`Request::access_ends_at`].
    Granted(Request<Granted>),
    /// The approval is recorded, and the tenant's policy needs more from other designated
    /// approvers before access starts: no access yet.
    AwaitingApprovals {
        /// The request, still waiting for the customer.
        pending: Request<PendingCustomer>,
        /// How many more distinct designated approvers must grant (at least 1).
        remaining: u32,
    },
    /// The grant came at or after the decision deadline: the request expired unanswered and
    /// gives no access, ever.
    Expired(Request<Closed>),
}

/// The result of [`Request::deny`]: denied, or the request had already expired.
#[must_use = "a denial may have come too late: match on Denied and Expired"]
#[derive(Debug)]
pub enum DenyOutcome {
    /// Denied by the approver.
    Denied(Request<Closed>),
    /// The denial came at or after the decision deadline: the request had already expired.
    Expired(Request<Closed>),
}

/// The result of [`Request::check_expiry`]: still pending, or expired.
#[must_use = "a pending request may have expired: match on Pending and Expired"]
#[derive(Debug)]
pub enum PendingStatus {
    /// Still waiting for a decision, before [`Request::decision_deadline`].
    Pending(Request<PendingCustomer>),
    /// Expired unanswered at its decision deadline.
    Expired(Request<Closed>),
}

/// The result of [`Request::access`]: access active, or ended.
#[must_use = "access may have ended: match on Active and Ended"]
#[derive(Debug)]
pub enum Access {
    /// The engineer has access until [`Request::access_ends_at`].
    Active(Request<Granted>),
    /// The access window ran out; the request closed as
    /// [`AccessDurationElapsed`](crate::ClosureReason::AccessDurationElapsed).
    Ended(Request<Closed>),
}

/// The result of [`Request::record_action`]: recorded, or access had ended.
#[must_use = "access may have ended before the action: match on Recorded and AccessEnded"]
#[derive(Debug)]
pub enum ActionOutcome {
    /// Recorded; access continues.
    Recorded(Request<Granted>),
    /// The action came at or after the end of the access window: it was refused (and the
    /// refusal recorded), and the request closed as
    /// [`AccessDurationElapsed`](crate::ClosureReason::AccessDurationElapsed).
    AccessEnded(Request<Closed>),
}

/// How an outcome is serialized: its name, and the request as values.
#[derive(serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Shown {
    Granted {
        request: crate::RequestView,
    },
    AwaitingApprovals {
        remaining: u32,
        request: crate::RequestView,
    },
    Denied {
        request: crate::RequestView,
    },
    Expired {
        request: crate::RequestView,
    },
}

/// Serialized as `{"outcome": "granted" | "awaiting_approvals" | "expired", "request": ...}`
/// (with `remaining` while awaiting approvals), the request as a
/// [`RequestView`](crate::RequestView).
impl serde::Serialize for GrantOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            GrantOutcome::Granted(granted) => Shown::Granted {
                request: granted.view(),
            },
            GrantOutcome::AwaitingApprovals { pending, remaining } => Shown::AwaitingApprovals {
                remaining: *remaining,
                request: pending.view(),
            },
            GrantOutcome::Expired(closed) => Shown::Expired {
                request: closed.view(),
            },
        }
        .serialize(serializer)
    }
}

/// Serialized as `{"outcome": "denied" | "expired", "request": ...}`, the request as a
/// [`RequestView`](crate::RequestView).
impl serde::Serialize for DenyOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DenyOutcome::Denied(closed) => Shown::Denied {
                request: closed.view(),
            },
            DenyOutcome::Expired(closed) => Shown::Expired {
                request: closed.view(),
            },
        }
        .serialize(serializer)
    }
}
