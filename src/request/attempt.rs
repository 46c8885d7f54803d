//! Attempts kept on the record in whatever state the request is: an engineer action reported
//! after the request closed, and a step a store refused because its instant was further ahead
//! of the store's clock than [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW).
//!
//! Neither moves the request anywhere; both are evidence, so neither may be lost. Each is
//! recorded at the later of its instant and the last record, after time has moved the request
//! on (an expiry or the end of access that was due by then is recorded first, at its own
//! instant, as every step records it).

use chrono::{DateTime, Utc};

use super::{AnyRequest, Request, instant_in_range, with_request};
use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::refusal::{Refusal, Refused, Step};
use crate::request::{Access, PendingStatus};
use crate::state::{Closed, StateKind};
use crate::values::{EngineerAction, EngineerId};

/// What a person tried, as a refused record names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// A workflow step.
    Step(Step),
    /// An engineer action on the customer's data.
    Action(EngineerAction),
}

impl Attempt {
    /// The person and the attempt behind `record`, if a person took it (the system's own
    /// records, expiries and deliveries, are nobody's attempt).
    pub(crate) fn behind(record: &AuditRecord) -> Option<(Actor, Attempt)> {
        use AuditEvent as E;
        let attempt = match record.event() {
            E::EngineerActed { action } | E::ActionRefused { action, .. } => {
                Attempt::Action(action.clone())
            }
            E::Refused { step, .. } => Attempt::Step(*step),
            E::ManagerApproved => Attempt::Step(Step::Approve),
            E::ManagerRejected => Attempt::Step(Step::Reject),
            E::Withdrawn => Attempt::Step(Step::Withdraw),
            E::ApproversNotified { .. } => Attempt::Step(Step::Notify),
            E::Granted { .. } => Attempt::Step(Step::Grant),
            E::Denied => Attempt::Step(Step::Deny),
            E::Completed => Attempt::Step(Step::Close),
            E::Revoked => Attempt::Step(Step::Revoke),
            _ => return None,
        };
        Some((record.actor().clone(), attempt))
    }

    /// Whether `actor`'s role may make this attempt: an engineer acts, approves nothing; a
    /// support manager approves or rejects; an approver grants, denies or revokes; the system
    /// notifies.
    pub(crate) fn fits(&self, actor: &Actor) -> bool {
        match (self, actor) {
            (Attempt::Action(_), Actor::Engineer(_)) => true,
            (Attempt::Action(_), _) => false,
            (Attempt::Step(step), actor) => matches!(
                (step, actor),
                (Step::Approve | Step::Reject, Actor::SupportManager(_))
                    | (
                        Step::Withdraw | Step::Close | Step::RecordAction,
                        Actor::Engineer(_)
                    )
                    | (Step::Grant | Step::Deny | Step::Revoke, Actor::Approver(_))
                    | (Step::Notify, Actor::System)
            ),
        }
    }

    /// Whether the attempt is a step of a request in `state` (an action is, once granted, and
    /// after the close as a late report).
    pub(crate) fn applies_in(&self, state: StateKind) -> bool {
        use StateKind as K;
        match self {
            Attempt::Action(_) => matches!(state, K::Granted | K::Closed),
            Attempt::Step(step) => matches!(
                (step, state),
                (Step::Approve | Step::Reject, K::Drafted)
                    | (Step::Notify, K::ManagerApproved)
                    | (Step::Grant | Step::Deny, K::PendingCustomer)
                    | (
                        Step::Withdraw,
                        K::Drafted | K::ManagerApproved | K::PendingCustomer
                    )
                    | (Step::RecordAction | Step::Close | Step::Revoke, K::Granted)
            ),
        }
    }

    /// The record of this attempt refused for `refusal`.
    fn refused(self, refusal: Refusal) -> AuditEvent {
        match self {
            Attempt::Step(step) => AuditEvent::Refused { step, refusal },
            Attempt::Action(action) => AuditEvent::ActionRefused { action, refusal },
        }
    }
}

impl AnyRequest {
    /// The request as time leaves it at `at`: a pending request past its deadline has expired,
    /// a granted one past its window has ended, each recorded at that deadline or window end.
    pub(crate) fn settle(self, at: DateTime<Utc>) -> AnyRequest {
        match self {
            AnyRequest::PendingCustomer(pending) => match pending.check_expiry(at) {
                PendingStatus::Pending(pending) => pending.into(),
                PendingStatus::Expired(closed) => closed.into(),
            },
            AnyRequest::Granted(granted) => match granted.access(at) {
                Access::Active(granted) => granted.into(),
                Access::Ended(closed) => closed.into(),
            },
            other => other,
        }
    }

    /// Records `attempt` by `actor` as refused for `refusal`, at the later of `now` and the last
    /// record, after time has moved the request on to that instant. `None` when that instant is
    /// outside the years 1970 to 9999.
    pub(crate) fn refuse_attempt(
        self,
        actor: Actor,
        attempt: Attempt,
        refusal: Refusal,
        now: DateTime<Utc>,
    ) -> Option<AnyRequest> {
        let at = now.max(with_request!(&self, r => r.last_step_at()));
        if !instant_in_range(at) {
            return None;
        }
        let mut request = self.settle(at);
        with_request!(&mut request, r => r.record(at, actor, attempt.refused(refusal)));
        Some(request)
    }
}

/// An engineer action reported after the request closed.
///
/// ```
/// use chrono::TimeDelta;
/// use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan@contoso.com")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let alex = EngineerId::new("alex@support.vendor.example")?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing")?, engineer: alex.clone() };
/// # let approved = Request::draft(draft, &policy, now)?.approve(&SupportManagerId::new("sam@support.vendor.example")?, now)?;
/// # let (pending, _message) = approved.notify(&policy, now)?;
/// # let GrantOutcome::Granted(granted) = pending.grant(&megan, &policy, now)? else { return Ok(()) };
/// let closed = granted.revoke(&megan, &policy, now + TimeDelta::minutes(5))?;
/// // The engineer's client reports an action it took a moment before it learned of the revocation.
/// let action = EngineerAction::new(
///     Service::ExchangeOnline,
///     Operation::new("Get-MailboxFolderStatistics")?,
///     Target::new("cfo mailbox")?,
/// );
/// let refused = closed.refuse_late_action(&alex, action, now + TimeDelta::minutes(4));
/// assert_eq!(refused.refusal(), Refusal::RequestClosed);
/// let closed = refused.into_request(); // the attempt is on the record, after the revocation
/// assert_eq!(closed.audit_trail().last().map(|r| r.at()), Some(now + TimeDelta::minutes(5)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Request<Closed> {
    /// Records an action the engineer reports after the request closed, as refused: no access
    /// remains, but the attempt is evidence and is kept, at the later of `now` and the last
    /// record (an action that raced a revocation and lost is recorded right after it).
    ///
    /// The refusal is [`Refusal::RequestClosed`], or [`Refusal::NotTheEngineer`] when
    /// `engineer` is not the request's; either is recorded. It is unrecorded only when the
    /// instant is outside the years 1970 to 9999
    /// ([`Refusal::InstantOutOfRange`]).
    pub fn refuse_late_action(
        self,
        engineer: &EngineerId,
        action: EngineerAction,
        now: DateTime<Utc>,
    ) -> Refused<Self> {
        let (mut this, at) = match self.admit_at_latest(Step::RecordAction, now) {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        let refusal = if engineer == this.engineer() {
            Refusal::RequestClosed
        } else {
            Refusal::NotTheEngineer
        };
        let actor = Actor::Engineer(engineer.clone());
        this.record(at, actor, AuditEvent::ActionRefused { action, refusal });
        Refused::new(this, Step::RecordAction, refusal)
    }
}
