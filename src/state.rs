//! The five states of a request, the closed (sealed) trait over them, and why a request closed.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::{ApproverId, SupportManagerId};

pub(crate) mod sealed {
    /// Keeps [`State`](super::State) closed: only this crate can add a state.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a request state: the states are defined by customer-lockbox alone",
        label = "cannot be a request state",
        note = "a request is always one of Drafted, ManagerApproved, PendingCustomer, Granted or Closed, and moves between them only through its transitions"
    )]
    pub trait Sealed {
        /// When time alone moves a request in this state on: the decision deadline of a
        /// pending request, the end of a granted request's window.
        fn due(&self) -> Option<chrono::DateTime<chrono::Utc>> {
            None
        }

        /// What this state holds, for a request's view.
        fn stage(&self) -> super::Stage;
    }

    /// The crate-internal part of [`Withdrawable`](super::Withdrawable).
    pub trait Withdraw {
        /// When a request in this state expires unanswered, if it can.
        fn decision_deadline(&self) -> Option<chrono::DateTime<chrono::Utc>>;
    }
}

/// A state a [`Request`](crate::Request) can be in.
///
/// This trait is sealed: it is implemented by the five state types of this module and cannot be
/// implemented outside this crate, so a request can never be in a state the workflow does not
/// know.
///
/// A request's state is part of its type: `Request<Drafted>`, `Request<ManagerApproved>`,
/// `Request<PendingCustomer>`, `Request<Granted>` and `Request<Closed>`. Data that only one state
/// has lives in that state's marker (only a pending request has a decision deadline, only a
/// granted one has an access window), and each state's `impl` block holds only its legal steps.
pub trait State: sealed::Sealed + fmt::Debug + Clone + Send + Sync + 'static {
    /// The state as a value, for code that handles requests of any state; its one name is
    /// [`StateKind::as_str`].
    const KIND: StateKind;
}

/// The five states as a value: what a stored record says its request is in, and what
/// [`AnyRequest`](crate::AnyRequest) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// [`Drafted`].
    Drafted,
    /// [`ManagerApproved`].
    ManagerApproved,
    /// [`PendingCustomer`].
    PendingCustomer,
    /// [`Granted`].
    Granted,
    /// [`Closed`].
    Closed,
}

impl StateKind {
    /// Every state, in the workflow's order.
    pub const ALL: [StateKind; 5] = [
        StateKind::Drafted,
        StateKind::ManagerApproved,
        StateKind::PendingCustomer,
        StateKind::Granted,
        StateKind::Closed,
    ];

    /// The kind named by its stored text (`pending_customer`, ...).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn parse(text: &str) -> Option<StateKind> {
        text.parse().ok()
    }

    /// The state's one name, as stored records, SQL, JSON, messages and queries spell it:
    /// `drafted`, `manager_approved`, `pending_customer`, `granted`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Drafted => "drafted",
            StateKind::ManagerApproved => "manager_approved",
            StateKind::PendingCustomer => "pending_customer",
            StateKind::Granted => "granted",
            StateKind::Closed => "closed",
        }
    }
}

/// A state by its stored name ([`StateKind::as_str`]), as a query string carries it.
///
/// ```
/// use customer_lockbox::StateKind;
///
/// assert_eq!("pending_customer".parse::<StateKind>()?, StateKind::PendingCustomer);
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
impl std::str::FromStr for StateKind {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        crate::error::by_name("a state", text, &StateKind::ALL, StateKind::as_str)
    }
}

/// Its one name, [`StateKind::as_str`].
impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// States from which the engineer may withdraw the request: before the customer has granted
/// it. ([`Drafted`], [`ManagerApproved`], [`PendingCustomer`].)
///
/// Sealed, like [`State`].
#[diagnostic::on_unimplemented(
    message = "a request in state `{Self}` cannot be withdrawn",
    label = "`withdraw` needs a request that the customer has not granted yet",
    note = "withdraw a Drafted, ManagerApproved or PendingCustomer request; a Granted request is ended with `close` (engineer) or `revoke` (customer), and a Closed request is final"
)]
pub trait Withdrawable: State + sealed::Withdraw {}

/// A request the engineer has drafted; a support manager has not decided yet.
///
/// Legal steps: [`approve`](crate::Request::approve), [`reject`](crate::Request::reject),
/// [`withdraw`](crate::Request::withdraw).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Drafted;

/// A request a support manager approved; the customer's approvers have not been notified yet.
///
/// Legal steps: [`notify`](crate::Request::notify), [`withdraw`](crate::Request::withdraw).
#[derive(Clone, Debug)]
pub struct ManagerApproved {
    pub(crate) approved_by: SupportManagerId,
    pub(crate) approved_at: DateTime<Utc>,
}

/// A request waiting for the tenant's designated approvers to decide, until its decision
/// deadline (the policy's decision window after the notification, 12 hours unless the tenant
/// set another), with the approvals it has so far.
///
/// Legal steps: [`grant`](crate::Request::grant), [`deny`](crate::Request::deny),
/// [`check_expiry`](crate::Request::check_expiry), [`withdraw`](crate::Request::withdraw).
#[derive(Clone, Debug)]
pub struct PendingCustomer {
    pub(crate) approved_by: SupportManagerId,
    pub(crate) notified_at: DateTime<Utc>,
    pub(crate) decision_deadline: DateTime<Utc>,
    pub(crate) notified: Vec<ApproverId>,
    pub(crate) approvals_required: u32,
    pub(crate) approvals: Vec<ApproverId>,
    /// How many more approvals access needs, as the last approval's record states it: only
    /// approvers designated when an approval arrives count, so a removed approver's earlier
    /// approval is kept on record but no longer counts.
    pub(crate) remaining: u32,
}

/// A request the customer granted: the engineer has access until the window ends.
///
/// Legal steps: [`access`](crate::Request::access),
/// [`record_action`](crate::Request::record_action), [`close`](crate::Request::close),
/// [`revoke`](crate::Request::revoke).
#[derive(Clone, Debug)]
pub struct Granted {
    pub(crate) approved_by: SupportManagerId,
    /// The approver whose approval started access: the last one the request needed.
    pub(crate) granted_by: ApproverId,
    /// Everyone who granted, in order, ending with `granted_by`.
    pub(crate) approvals: Vec<ApproverId>,
    pub(crate) granted_at: DateTime<Utc>,
    pub(crate) access_ends_at: DateTime<Utc>,
}

/// A request that is over, for the [`ClosureReason`] it records. No step leads out of it.
#[derive(Clone, Debug)]
pub struct Closed {
    pub(crate) reason: ClosureReason,
    pub(crate) closed_at: DateTime<Utc>,
}

/// Why a request closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosureReason {
    /// A support manager rejected the draft; the customer never saw it.
    RejectedByManager,
    /// The engineer withdrew the request before the customer granted it.
    WithdrawnByEngineer,
    /// A designated approver denied it.
    DeniedByCustomer,
    /// Nobody granted it before its decision deadline.
    ExpiredUnanswered,
    /// The engineer closed it after the fix; access ended at once.
    Completed,
    /// The access window ran out.
    AccessDurationElapsed,
    /// A designated approver revoked access before the window ran out.
    RevokedByCustomer,
}

impl ClosureReason {
    /// Whether the engineer ever had access under this request.
    pub fn had_access(self) -> bool {
        matches!(
            self,
            ClosureReason::Completed
                | ClosureReason::AccessDurationElapsed
                | ClosureReason::RevokedByCustomer
        )
    }
}

impl fmt::Display for ClosureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosureReason::RejectedByManager => "rejected by the support manager",
            ClosureReason::WithdrawnByEngineer => "withdrawn by the engineer",
            ClosureReason::DeniedByCustomer => "denied by the customer",
            ClosureReason::ExpiredUnanswered => "expired unanswered",
            ClosureReason::Completed => "completed",
            ClosureReason::AccessDurationElapsed => "access duration elapsed",
            ClosureReason::RevokedByCustomer => "revoked by the customer",
        })
    }
}

macro_rules! states {
    ($($ty:ident),* $(,)?) => {$(
        impl State for $ty {
            const KIND: StateKind = StateKind::$ty;
        }
    )*};
}

states! {
    Drafted,
    ManagerApproved,
    PendingCustomer,
    Granted,
    Closed,
}

impl sealed::Sealed for Drafted {
    fn stage(&self) -> Stage {
        Stage::Drafted
    }
}
impl sealed::Sealed for ManagerApproved {
    fn stage(&self) -> Stage {
        Stage::ManagerApproved {
            approved_by: self.approved_by.clone(),
            approved_at: self.approved_at,
        }
    }
}
impl sealed::Sealed for Closed {
    fn stage(&self) -> Stage {
        Stage::Closed {
            reason: self.reason,
            closed_at: self.closed_at,
        }
    }
}
impl sealed::Sealed for PendingCustomer {
    fn due(&self) -> Option<DateTime<Utc>> {
        Some(self.decision_deadline)
    }

    fn stage(&self) -> Stage {
        Stage::PendingCustomer {
            approved_by: self.approved_by.clone(),
            notified_at: self.notified_at,
            decision_deadline: self.decision_deadline,
            notified_approvers: self.notified.clone(),
            approvals_required: self.approvals_required,
            approvals: self.approvals.clone(),
        }
    }
}
impl sealed::Sealed for Granted {
    fn due(&self) -> Option<DateTime<Utc>> {
        Some(self.access_ends_at)
    }

    fn stage(&self) -> Stage {
        Stage::Granted {
            approved_by: self.approved_by.clone(),
            granted_by: self.granted_by.clone(),
            approvals: self.approvals.clone(),
            granted_at: self.granted_at,
            access_ends_at: self.access_ends_at,
        }
    }
}

/// What a request's state holds, as values: the state-specific part of a
/// [`RequestView`](crate::RequestView). Serialized with a `state` field naming the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Drafted: a support manager has not decided yet.
    Drafted,
    /// Approved by a support manager; the approvers are not notified yet.
    ManagerApproved {
        /// The support manager.
        approved_by: SupportManagerId,
        /// When.
        approved_at: DateTime<Utc>,
    },
    /// Waiting for the customer's approvers.
    PendingCustomer {
        /// The support manager who approved it.
        approved_by: SupportManagerId,
        /// When the approvers were notified.
        notified_at: DateTime<Utc>,
        /// The decision deadline: at this instant it expires.
        decision_deadline: DateTime<Utc>,
        /// The approvers notified.
        notified_approvers: Vec<ApproverId>,
        /// How many must grant.
        approvals_required: u32,
        /// Who has granted so far.
        approvals: Vec<ApproverId>,
    },
    /// Granted: the engineer has access until `access_ends_at`.
    Granted {
        /// The support manager who approved it.
        approved_by: SupportManagerId,
        /// The approver whose approval started access.
        granted_by: ApproverId,
        /// Everyone who granted, in order.
        approvals: Vec<ApproverId>,
        /// When access started.
        granted_at: DateTime<Utc>,
        /// When access ends.
        access_ends_at: DateTime<Utc>,
    },
    /// Over.
    Closed {
        /// Why.
        reason: ClosureReason,
        /// When.
        closed_at: DateTime<Utc>,
    },
}

impl sealed::Withdraw for Drafted {
    fn decision_deadline(&self) -> Option<DateTime<Utc>> {
        None
    }
}
impl sealed::Withdraw for ManagerApproved {
    fn decision_deadline(&self) -> Option<DateTime<Utc>> {
        None
    }
}
impl sealed::Withdraw for PendingCustomer {
    fn decision_deadline(&self) -> Option<DateTime<Utc>> {
        Some(self.decision_deadline)
    }
}
impl Withdrawable for Drafted {}
impl Withdrawable for ManagerApproved {}
impl Withdrawable for PendingCustomer {}
