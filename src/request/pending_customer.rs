use chrono::{DateTime, Utc};

use super::{Draft, Request, storable_after};
use crate::audit::{Actor, AuditEvent, AuditEventKind, ChainHash};
use crate::decision::{Decision, DecisionContext, DecisionStatement, SignedDecision};
use crate::policy::{Authority, TenantPolicy};
use crate::refusal::{Refusal, Refused, Step};
use crate::request::{DenyOutcome, GrantOutcome, PendingStatus};
use crate::state::{ClosureReason, Granted, PendingCustomer};
use crate::values::{ApproverId, EngineerId, Person, SupportManagerId};

/// A request waiting for the customer: a designated approver grants or denies it before its
/// decision deadline, or it expires.
///
/// Every step here first looks at the clock: at or after the deadline the request has expired,
/// whoever asks and whatever they ask, and the outcome says so.
///
/// ```
/// use chrono::TimeDelta;
/// use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// # let drafted = Request::draft(draft, &policy, now)?;
/// # let approved = drafted.approve(&SupportManagerId::new("sam")?, now)?;
/// # let (pending, _message) = approved.notify(&policy, now)?;
/// # let megan = ApproverId::new("megan")?;
///
/// match pending.grant(&megan, &policy, now + TimeDelta::hours(1))? {
///     GrantOutcome::Granted(granted) => println!("access until {}", granted.access_ends_at()),
///     GrantOutcome::AwaitingApprovals { remaining, .. } => println!("{remaining} more to grant"),
///     GrantOutcome::Expired(closed) => println!("too late: {}", closed.reason()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Request<PendingCustomer> {
    /// The support manager who approved it.
    pub fn approved_by(&self) -> &SupportManagerId {
        &self.state.approved_by
    }

    /// When the approvers were notified.
    pub fn notified_at(&self) -> DateTime<Utc> {
        self.state.notified_at
    }

    /// The instant the request expires unanswered. A decision must come strictly before it.
    pub fn decision_deadline(&self) -> DateTime<Utc> {
        self.state.decision_deadline
    }

    /// The approvers who were notified.
    pub fn notified_approvers(&self) -> &[ApproverId] {
        &self.state.notified
    }

    /// How many distinct designated approvers must grant before access starts: the tenant
    /// policy's at the notification, kept whatever the policy later says.
    pub fn approvals_required(&self) -> u32 {
        self.state.approvals_required
    }

    /// The approvers who have granted so far, in order.
    pub fn approvals(&self) -> &[ApproverId] {
        &self.state.approvals
    }

    /// How many more approvals are needed (at least 1: with none left it would be granted), as
    /// of the last approval: [`approvals_required`](Request::approvals_required) less the
    /// approvals that counted then (those by approvers designated at that instant).
    pub fn approvals_remaining(&self) -> u32 {
        self.state.remaining
    }

    /// Whether the request is still pending at `now`, or has expired (at the deadline instant
    /// itself, it has). Expiry is recorded at the deadline, by the system.
    pub fn check_expiry(self, now: DateTime<Utc>) -> PendingStatus {
        let deadline = self.state.decision_deadline;
        if now >= deadline {
            PendingStatus::Expired(self.close_with(
                deadline,
                Actor::System,
                AuditEvent::Expired,
                ClosureReason::ExpiredUnanswered,
            ))
        } else {
            PendingStatus::Pending(self)
        }
    }

    /// A designated approver grants access. When theirs is the last approval the request needs
    /// ([`approvals_required`](Request::approvals_required), 1 unless the tenant requires
    /// more), the engineer has access from `now` for exactly the requested duration
    /// ([`GrantOutcome::Granted`]); before that, the approval is recorded and the request waits
    /// for the others ([`GrantOutcome::AwaitingApprovals`]).
    ///
    /// At or after the deadline the outcome is [`GrantOutcome::Expired`], and the late grant is
    /// recorded as refused ([`Refusal::DecisionDeadlinePassed`]).
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `approver` is the request's engineer or its support manager
    /// ([`Refusal::ApproverIsEngineer`], [`Refusal::ApproverIsSupportManager`]: people compare
    /// by normalized identity, whatever the policy says), when `policy` is another tenant's or
    /// does not designate `approver`, or when `approver` already granted
    /// ([`Refusal::AlreadyApproved`]). Refused unrecorded when `now` is before the last step,
    /// or when it or the end of the access window is outside the years 1970 to 9999.
    ///
    /// Under a policy that lists keys ([`TenantPolicy::requires_signatures`]) an unsigned
    /// grant is refused, and recorded ([`Refusal::UnsignedDecision`]): use
    /// [`grant_signed`](Request::grant_signed).
    pub fn grant(
        self,
        approver: &ApproverId,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<GrantOutcome, Refused<Self>> {
        self.grant_under(approver, None, policy, now)
    }

    /// [`grant`](Request::grant), signed by the approver: `signed` holds their signature over
    /// this grant's [`decision_statement`](Request::decision_statement). The grant's record
    /// keeps it, so the customer can check it again offline.
    ///
    /// # Errors
    ///
    /// As [`grant`](Request::grant); and refused, and recorded
    /// ([`Refusal::DecisionSignatureRefused`]), when the signature does not verify over this
    /// grant's statement by one of the approver's keys in `policy`, or answers another record
    /// than this request's notification.
    pub fn grant_signed(
        self,
        approver: &ApproverId,
        signed: &SignedDecision,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<GrantOutcome, Refused<Self>> {
        self.grant_under(approver, Some(signed), policy, now)
    }

    /// The statement `approver` signs to take `decision` on this request
    /// (`ssh-keygen -Y sign -n customer-lockbox`), in the log `log` where this request's
    /// notification has the link `notification_link`; `None` for a revocation, which answers
    /// a grant.
    pub fn decision_statement(
        &self,
        approver: &ApproverId,
        decision: Decision,
        log: &str,
        notification_link: ChainHash,
    ) -> Option<DecisionStatement> {
        let draft = self.as_draft();
        let context = self.decision_context(&draft, approver, decision)?;
        Some(context.statement(log, notification_link))
    }

    /// What a decision on this request is: it answers the notification, until the deadline.
    /// `None` for a revocation.
    pub(crate) fn decision_context<'a>(
        &'a self,
        draft: &'a Draft,
        approver: &'a ApproverId,
        decision: Decision,
    ) -> Option<DecisionContext<'a>> {
        (decision != Decision::Revoke).then(|| DecisionContext {
            request: draft,
            approved_by: &self.state.approved_by,
            answers: self.last_sequence_of(AuditEventKind::ApproversNotified),
            decision,
            approver,
            valid_until: self.state.decision_deadline,
        })
    }

    /// [`grant`](Request::grant) with the policy's answers given by `authority`.
    pub(crate) fn grant_under(
        self,
        approver: &ApproverId,
        signed: Option<&SignedDecision>,
        authority: &(impl Authority + ?Sized),
        now: DateTime<Utc>,
    ) -> Result<GrantOutcome, Refused<Self>> {
        let this = self.admit(Step::Grant, now)?;
        let (mut this, signature) =
            match this.decision(approver, signed, authority, Step::Grant, now)? {
                (PendingStatus::Pending(this), signature) => (this, signature),
                (PendingStatus::Expired(closed), _) => return Ok(GrantOutcome::Expired(closed)),
            };
        let actor = Actor::Approver(approver.clone());
        // Each person counts once, however their id is spelled.
        if this
            .state
            .approvals
            .iter()
            .any(|earlier| earlier.is_same_person_as(approver))
        {
            return Err(this.refuse(now, actor, Step::Grant, Refusal::AlreadyApproved));
        }
        // Only approvals by people designated at this instant count: a removed approver's
        // earlier approval stays on record, and no longer counts towards access.
        let counted = authority.counted(this.state.approvals_required, &this.state.approvals);
        let left = remaining(this.state.approvals_required, counted + 1);
        if left > 0 {
            this.state.approvals.push(approver.clone());
            this.state.remaining = left;
            this.record_signed(
                now,
                actor,
                AuditEvent::Approved { remaining: left },
                signature,
            );
            return Ok(GrantOutcome::AwaitingApprovals {
                pending: this,
                remaining: left,
            });
        }
        let Some(access_ends_at) = storable_after(now, this.access_duration.as_time_delta()) else {
            return Err(Refused::new(this, Step::Grant, Refusal::InstantOutOfRange));
        };
        this.record_signed(
            now,
            actor,
            AuditEvent::Granted { access_ends_at },
            signature,
        );
        let approved_by = this.state.approved_by.clone();
        let mut approvals = std::mem::take(&mut this.state.approvals);
        approvals.push(approver.clone());
        Ok(GrantOutcome::Granted(this.into_state(Granted {
            approved_by,
            granted_by: approver.clone(),
            approvals,
            granted_at: now,
            access_ends_at,
        })))
    }

    /// A designated approver denies access; the request closes.
    ///
    /// A denial always takes effect: it is never refused for its instant coming before the last
    /// record (a record stamped ahead of the approver's clock), but recorded at that record's
    /// instant instead. At or after the deadline the outcome is [`DenyOutcome::Expired`], and
    /// the late denial is recorded as refused.
    ///
    /// # Errors
    ///
    /// Refused, and recorded, as [`grant`](Request::grant) for who decides; refused unrecorded
    /// only when the instant is outside the years 1970 to 9999.
    pub fn deny(
        self,
        approver: &ApproverId,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<DenyOutcome, Refused<Self>> {
        self.deny_under(approver, None, policy, now)
    }

    /// [`deny`](Request::deny), signed by the approver over this denial's
    /// [`decision_statement`](Request::decision_statement). The denial takes effect whatever
    /// the signature: its record keeps the signature when it verifies by one of the approver's
    /// keys, and is unsigned otherwise.
    ///
    /// # Errors
    ///
    /// As [`deny`](Request::deny).
    pub fn deny_signed(
        self,
        approver: &ApproverId,
        signed: &SignedDecision,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<DenyOutcome, Refused<Self>> {
        self.deny_under(approver, Some(signed), policy, now)
    }

    /// [`deny`](Request::deny) with the policy's answers given by `authority`.
    pub(crate) fn deny_under(
        self,
        approver: &ApproverId,
        signed: Option<&SignedDecision>,
        authority: &(impl Authority + ?Sized),
        now: DateTime<Utc>,
    ) -> Result<DenyOutcome, Refused<Self>> {
        let (this, at) = self.admit_at_latest(Step::Deny, now)?;
        Ok(
            match this.decision(approver, signed, authority, Step::Deny, at)? {
                (PendingStatus::Pending(this), signature) => {
                    DenyOutcome::Denied(this.close_signed(
                        at,
                        Actor::Approver(approver.clone()),
                        AuditEvent::Denied,
                        ClosureReason::DeniedByCustomer,
                        signature,
                    ))
                }
                (PendingStatus::Expired(closed), _) => DenyOutcome::Expired(closed),
            },
        )
    }

    /// The checks every customer decision makes once its instant `at` is admitted, in order:
    /// expiry, separation of duties, the approver's authority under the policy, then the
    /// decision's signature; with the signature its record keeps.
    fn decision(
        self,
        approver: &ApproverId,
        signed: Option<&SignedDecision>,
        authority: &(impl Authority + ?Sized),
        step: Step,
        at: DateTime<Utc>,
    ) -> Result<(PendingStatus, Option<SignedDecision>), Refused<Self>> {
        let actor = Actor::Approver(approver.clone());
        match self.check_expiry(at) {
            PendingStatus::Expired(mut closed) => {
                closed.record_refusal(at, actor, step, Refusal::DecisionDeadlinePassed);
                Ok((PendingStatus::Expired(closed), None))
            }
            PendingStatus::Pending(this) => {
                let refusal = vendor_staff(approver, &this.engineer, &this.state.approved_by)
                    .or_else(|| authority.decision_refusal(this.tenant, approver));
                if let Some(refusal) = refusal {
                    return Err(this.refuse(at, actor, step, refusal));
                }
                let decision = Decision::of_step(step).unwrap_or(Decision::Grant);
                let draft = this.as_draft();
                let verdict = match this.decision_context(&draft, approver, decision) {
                    Some(context) => authority.signature_verdict(signed, &context),
                    None => Ok(None),
                };
                match verdict {
                    Ok(signature) => Ok((PendingStatus::Pending(this), signature)),
                    Err(refusal) => Err(this.refuse(at, actor, step, refusal)),
                }
            }
        }
    }
}

/// How many of `required` approvals are still missing when `have` are given.
fn remaining(required: u32, have: usize) -> u32 {
    required.saturating_sub(u32::try_from(have).unwrap_or(u32::MAX))
}

/// Why `approver` may not act for the customer on a request drafted by `engineer` and approved
/// by `manager`, if they are one of them: separation of duties, whatever a policy says.
pub(super) fn vendor_staff(
    approver: &ApproverId,
    engineer: &EngineerId,
    manager: &SupportManagerId,
) -> Option<Refusal> {
    if approver.is_same_person_as(engineer) {
        Some(Refusal::ApproverIsEngineer)
    } else if approver.is_same_person_as(manager) {
        Some(Refusal::ApproverIsSupportManager)
    } else {
        None
    }
}
