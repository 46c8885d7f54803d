//! Refused transitions: which step, which rule, and the request handed back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decision::SignatureFault;
use crate::values::Service;

/// A workflow step, as named in refusals and in the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// An engineer drafts a request.
    Draft,
    /// A support manager approves a draft.
    Approve,
    /// A support manager rejects a draft.
    Reject,
    /// The engineer withdraws the request.
    Withdraw,
    /// The tenant's designated approvers are notified.
    Notify,
    /// A designated approver grants access.
    Grant,
    /// A designated approver denies access.
    Deny,
    /// The engineer records an action on the customer's data.
    RecordAction,
    /// The engineer closes the request after the fix.
    Close,
    /// A designated approver revokes access early.
    Revoke,
    /// Time moves a request on: an expiry, the end of an access window.
    Sweep,
}

impl Step {
    /// The step's name in the stored form (and in the store's `tracing` spans):
    /// `"approve"`, `"record_action"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Draft => "draft",
            Step::Approve => "approve",
            Step::Reject => "reject",
            Step::Withdraw => "withdraw",
            Step::Notify => "notify",
            Step::Grant => "grant",
            Step::Deny => "deny",
            Step::RecordAction => "record_action",
            Step::Close => "close",
            Step::Revoke => "revoke",
            Step::Sweep => "sweep",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Draft => "draft",
            Step::Approve => "approval",
            Step::Reject => "rejection",
            Step::Withdraw => "withdrawal",
            Step::Notify => "notification",
            Step::Grant => "grant",
            Step::Deny => "denial",
            Step::RecordAction => "engineer action",
            Step::Close => "closing",
            Step::Revoke => "revocation",
            Step::Sweep => "time check",
        })
    }
}

/// The workflow rule that refused a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// The support manager is the engineer who drafted the request (separation of duties).
    ManagerIsEngineer,
    /// The approver deciding or revoking is the engineer who drafted the request, whatever a
    /// tenant policy says (separation of duties).
    ApproverIsEngineer,
    /// The approver deciding or revoking is the support manager who approved the request,
    /// whatever a tenant policy says (separation of duties).
    ApproverIsSupportManager,
    /// Someone other than the engineer who drafted the request tried an engineer's step.
    NotTheEngineer,
    /// The approver is not designated by the request's tenant.
    NotDesignatedApprover,
    /// The approver already granted this request: under a policy requiring several approvals,
    /// each must come from a different designated approver.
    AlreadyApproved,
    /// The tenant policy passed in belongs to another tenant.
    PolicyForOtherTenant,
    /// The tenant policy designates nobody, so nobody could decide.
    NoDesignatedApprovers,
    /// The engineer acted in a service the request does not cover.
    ServiceNotRequested {
        /// The service acted in.
        service: Service,
    },
    /// The step came at or after the decision deadline; the request expired instead.
    DecisionDeadlinePassed,
    /// The step came at or after the end of the access window; access ended instead.
    AccessWindowEnded,
    /// An engineer action was reported for a request that is closed (revoked, completed, its
    /// window elapsed, denied, expired, withdrawn or rejected): it is kept as a refused attempt.
    RequestClosed,
    /// The instant given is further ahead of the store's clock than
    /// [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW): the store recorded the attempt as refused, at
    /// its own clock, instead of letting a fast clock move the request into the future.
    AheadOfStoreClock,
    /// The instant passed in is earlier than the request's last recorded step. Not recorded in
    /// the audit trail, which must stay in time order.
    InstantBeforeLastStep,
    /// The instant passed in is outside the years 1970 to 9999. Not recorded in the audit
    /// trail.
    InstantOutOfRange,
    /// The tenant's policy requires every grant signed with the approver's own key
    /// (`ssh-keygen -Y sign`), and the grant came unsigned: whoever called the store is not
    /// taken for the approver.
    UnsignedDecision,
    /// The decision's signature was refused: what was wrong with it. The signature itself is
    /// not kept.
    DecisionSignatureRefused {
        /// What was wrong.
        fault: SignatureFault,
    },
}

impl Refusal {
    /// Whether the refusal is about who asked (their role, their identity, or what the policy
    /// says of them), not about the request's state or the time: the same person asking again
    /// is refused again.
    pub fn is_about_who_asked(self) -> bool {
        match self {
            Refusal::ManagerIsEngineer
            | Refusal::ApproverIsEngineer
            | Refusal::ApproverIsSupportManager
            | Refusal::NotTheEngineer
            | Refusal::NotDesignatedApprover
            | Refusal::PolicyForOtherTenant
            | Refusal::ServiceNotRequested { .. }
            | Refusal::UnsignedDecision
            | Refusal::DecisionSignatureRefused { .. } => true,
            Refusal::AlreadyApproved
            | Refusal::NoDesignatedApprovers
            | Refusal::DecisionDeadlinePassed
            | Refusal::AccessWindowEnded
            | Refusal::RequestClosed
            | Refusal::AheadOfStoreClock
            | Refusal::InstantBeforeLastStep
            | Refusal::InstantOutOfRange => false,
        }
    }

    /// Whether this refusal is written to the request's audit trail. Every refusal is, except
    /// those about the instant itself, which would break the trail's time order.
    pub fn is_recorded(self) -> bool {
        !matches!(
            self,
            Refusal::InstantBeforeLastStep | Refusal::InstantOutOfRange
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ManagerIsEngineer => f.write_str(
                "the support manager is the engineer who drafted the request: another support manager must decide (separation of duties)",
            ),
            Refusal::ApproverIsEngineer => f.write_str(
                "the approver is the engineer who drafted the request: a designated approver of the customer other than the engineer must decide (separation of duties)",
            ),
            Refusal::ApproverIsSupportManager => f.write_str(
                "the approver is the support manager who approved the request: a designated approver of the customer other than the vendor's staff must decide (separation of duties)",
            ),
            Refusal::NotTheEngineer => f.write_str(
                "only the engineer who drafted the request may take this step: act as that engineer, or draft a request of your own",
            ),
            Refusal::NotDesignatedApprover => f.write_str(
                "the approver is not designated by the request's tenant: a designated approver of that tenant must decide",
            ),
            Refusal::AlreadyApproved => f.write_str(
                "the approver already granted this request: another designated approver must grant it (each approval must come from a different person)",
            ),
            Refusal::PolicyForOtherTenant => f.write_str(
                "the tenant policy belongs to another tenant: pass the policy of the request's tenant",
            ),
            Refusal::NoDesignatedApprovers => f.write_str(
                "the tenant policy designates no approvers, so nobody could decide: add a designated approver to the policy, then notify again",
            ),
            Refusal::ServiceNotRequested { service } => write!(
                f,
                "{service} is not among the requested services: draft a new request that includes it",
            ),
            Refusal::DecisionDeadlinePassed => f.write_str(
                "the decision deadline has passed and the request expired unanswered: draft a new request",
            ),
            Refusal::AccessWindowEnded => f.write_str(
                "the access window has ended: draft a new request if more access is needed",
            ),
            Refusal::RequestClosed => f.write_str(
                "the request is closed, so no action can be taken under it: the attempt is kept on its record; draft a new request if access is still needed",
            ),
            Refusal::AheadOfStoreClock => f.write_str(
                "the instant given is ahead of the store's clock by more than the allowed skew: synchronize the clock that gave it (NTP) and take the step again",
            ),
            Refusal::InstantBeforeLastStep => f.write_str(
                "the instant given is earlier than the request's last recorded step: pass the current time from a clock that does not go backwards",
            ),
            Refusal::InstantOutOfRange => f.write_str(
                "the instant given is outside the years 1970 to 9999: pass the current time",
            ),
            Refusal::UnsignedDecision => f.write_str(
                "the tenant's policy requires the grant signed with the approver's own key, and it came unsigned: the approver signs the decision's statement (`lockbox decision`) with `ssh-keygen -Y sign -n customer-lockbox` and the signature is given with the grant",
            ),
            Refusal::DecisionSignatureRefused { fault } => write!(
                f,
                "the decision's signature was refused: {fault}; the approver signs this decision's own statement (`lockbox decision`) with the key the tenant's policy lists for them",
            ),
        }
    }
}

/// A refused step: the request it was tried on comes back inside, unchanged except for the
/// audit record of the refusal (see [`Refusal::is_recorded`]), so nothing is lost.
///
/// ```
/// # use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// # let drafted = Request::draft(draft, &policy, now)?;
/// // The engineer who drafted the request cannot approve it as a support manager.
/// let same_person = SupportManagerId::new(drafted.engineer().as_str())?;
/// let refused = drafted.approve(&same_person, now).unwrap_err();
/// assert_eq!(refused.refusal(), Refusal::ManagerIsEngineer);
/// let drafted: Request<Drafted> = refused.into_request(); // still a draft, refusal audited
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Refused<R> {
    // Boxed: refusals are rare, and a small `Err` keeps every step's `Result` small.
    request: Box<R>,
    step: Step,
    refusal: Refusal,
}

impl<R> Refused<R> {
    pub(crate) fn new(request: R, step: Step, refusal: Refusal) -> Self {
        Refused {
            request: Box::new(request),
            step,
            refusal,
        }
    }

    /// The same refusal, holding `f(request)`.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn map<T>(self, f: impl FnOnce(R) -> T) -> Refused<T> {
        Refused {
            request: Box::new(f(*self.request)),
            step: self.step,
            refusal: self.refusal,
        }
    }

    /// The rule that refused the step.
    pub fn refusal(&self) -> Refusal {
        self.refusal
    }

    /// The step that was refused.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The request, as it is now.
    pub fn request(&self) -> &R {
        &self.request
    }

    /// Takes the request back.
    pub fn into_request(self) -> R {
        *self.request
    }
}

impl<R> fmt::Display for Refused<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: {}", self.step, self.refusal)
    }
}

impl<R: fmt::Debug> std::error::Error for Refused<R> {}

#[cfg(test)]
mod tests {
    use super::Step;

    #[test]
    fn a_steps_name_is_its_stored_name() {
        for step in [
            Step::Draft,
            Step::Approve,
            Step::Reject,
            Step::Withdraw,
            Step::Notify,
            Step::Grant,
            Step::Deny,
            Step::RecordAction,
            Step::Close,
            Step::Revoke,
            Step::Sweep,
        ] {
            let stored = serde_json::to_string(&step).unwrap_or_default();
            assert_eq!(stored, format!("\"{}\"", step.as_str()));
        }
    }
}
