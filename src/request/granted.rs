use chrono::{DateTime, Utc};

use super::pending_customer::vendor_staff;
use super::{Draft, Request};
use crate::audit::{Actor, AuditEvent, AuditEventKind, ChainHash};
use crate::decision::{Decision, DecisionContext, DecisionStatement, SignedDecision};
use crate::policy::{Authority, TenantPolicy};
use crate::refusal::{Refusal, Refused, Step};
use crate::request::{Access, ActionOutcome};
use crate::state::{Closed, ClosureReason, Granted};
use crate::values::{ApproverId, EngineerAction, EngineerId, SupportManagerId};

/// A granted request: the engineer has access from [`granted_at`](Request::granted_at) until
/// [`access_ends_at`](Request::access_ends_at), exactly the requested duration, and every
/// action is recorded. It ends when the engineer closes it, when an approver revokes it, or when
/// the window runs out.
///
/// Every step here first looks at the clock: at or after the end of the window, access has
/// ended (recorded at that instant by the system) and the step is refused and recorded.
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
/// # let GrantOutcome::Granted(granted) = pending.grant(&megan, &policy, now)? else { return Err("granted before the deadline".into()) };
/// # let engineer = granted.engineer().clone();
///
/// let action = EngineerAction::new(
///     Service::ExchangeOnline,
///     Operation::new("Get-MailboxFolderStatistics")?,
///     Target::new("cfo mailbox")?,
/// );
/// let granted = match granted.record_action(&engineer, action, now + TimeDelta::minutes(5))? {
///     ActionOutcome::Recorded(granted) => granted,
///     ActionOutcome::AccessEnded(closed) => return Ok(()),
/// };
/// let closed = granted.close(&engineer, now + TimeDelta::minutes(30))?;
/// assert_eq!(closed.reason(), ClosureReason::Completed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Request<Granted> {
    /// The support manager who approved the request.
    pub fn approved_by(&self) -> &SupportManagerId {
        &self.state.approved_by
    }

    /// The designated approver whose approval started access: the last one the request
    /// needed.
    pub fn granted_by(&self) -> &ApproverId {
        &self.state.granted_by
    }

    /// Every designated approver who granted, in order, ending with
    /// [`granted_by`](Request::granted_by): one, unless the tenant requires more.
    pub fn approvals(&self) -> &[ApproverId] {
        &self.state.approvals
    }

    /// When access began.
    pub fn granted_at(&self) -> DateTime<Utc> {
        self.state.granted_at
    }

    /// When access ends: `granted_at + access_duration`. At that instant access has ended.
    pub fn access_ends_at(&self) -> DateTime<Utc> {
        self.state.access_ends_at
    }

    /// Whether access is still active at `now`, or has ended (at
    /// [`access_ends_at`](Request::access_ends_at) itself, it has). The end is recorded at that
    /// instant, by the system.
    pub fn access(self, now: DateTime<Utc>) -> Access {
        let ends = self.state.access_ends_at;
        if now >= ends {
            Access::Ended(self.close_with(
                ends,
                Actor::System,
                AuditEvent::AccessElapsed,
                ClosureReason::AccessDurationElapsed,
            ))
        } else {
            Access::Active(self)
        }
    }

    /// Records an action the engineer took on the customer's data at `now`.
    ///
    /// An action is never lost: one reported with an instant before the last record is recorded
    /// at that record's instant. At or after the end of the window the action is not recorded
    /// as taken: it is recorded as refused ([`Refusal::AccessWindowEnded`]) and the outcome is
    /// [`ActionOutcome::AccessEnded`].
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `engineer` is not the engineer of the request
    /// ([`Refusal::NotTheEngineer`]) or the action's service was not requested
    /// ([`Refusal::ServiceNotRequested`]); refused unrecorded only when the instant is outside
    /// the years 1970 to 9999.
    pub fn record_action(
        self,
        engineer: &EngineerId,
        action: EngineerAction,
        now: DateTime<Utc>,
    ) -> Result<ActionOutcome, Refused<Self>> {
        let actor = Actor::Engineer(engineer.clone());
        let (this, at) = self.admit_at_latest(Step::RecordAction, now)?;
        let mut this = match this.access(at) {
            Access::Active(this) => this,
            Access::Ended(mut closed) => {
                let refusal = Refusal::AccessWindowEnded;
                closed.record(at, actor, AuditEvent::ActionRefused { action, refusal });
                return Ok(ActionOutcome::AccessEnded(closed));
            }
        };
        let refusal = if engineer != &this.engineer {
            Some(Refusal::NotTheEngineer)
        } else if !this.services.contains(action.service()) {
            Some(Refusal::ServiceNotRequested {
                service: action.service(),
            })
        } else {
            None
        };
        match refusal {
            Some(refusal) => {
                this.record(at, actor, AuditEvent::ActionRefused { action, refusal });
                Err(Refused::new(this, Step::RecordAction, refusal))
            }
            None => {
                this.record(at, actor, AuditEvent::EngineerActed { action });
                Ok(ActionOutcome::Recorded(this))
            }
        }
    }

    /// The engineer closes the request after the fix: access ends at `now` (or at the last
    /// record's instant, if `now` is earlier: closing is never refused for its instant).
    ///
    /// At or after the end of the window, access has already ended: the result is closed as
    /// [`AccessDurationElapsed`](ClosureReason::AccessDurationElapsed) and the late close is
    /// recorded as refused.
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `engineer` is not the engineer of the request; refused
    /// unrecorded only when the instant is outside the years 1970 to 9999.
    pub fn close(
        self,
        engineer: &EngineerId,
        now: DateTime<Utc>,
    ) -> Result<Request<Closed>, Refused<Self>> {
        let actor = Actor::Engineer(engineer.clone());
        let (this, at) = match self.active(&actor, Step::Close, now)? {
            Ok(active) => active,
            Err(closed) => return Ok(closed),
        };
        if engineer != &this.engineer {
            return Err(this.refuse(at, actor, Step::Close, Refusal::NotTheEngineer));
        }
        Ok(this.close_with(at, actor, AuditEvent::Completed, ClosureReason::Completed))
    }

    /// A designated approver revokes access early: it ends at `now`.
    ///
    /// A revocation always takes effect. No record can block it: one stamped ahead of the
    /// approver's clock (an engineer action, a delivery on a node whose clock runs fast) only
    /// moves the revocation to that record's instant, which a store keeps within
    /// [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW) of its own clock. At or after the end of the
    /// window, access has already ended, as for [`close`](Request::close).
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `approver` is the request's engineer or support manager
    /// (normalized identities), or when `policy` is another tenant's or does not designate
    /// `approver`; refused unrecorded only when the instant is outside the years 1970 to 9999.
    pub fn revoke(
        self,
        approver: &ApproverId,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<Request<Closed>, Refused<Self>> {
        self.revoke_under(approver, None, policy, now)
    }

    /// [`revoke`](Request::revoke), signed by the approver over this revocation's
    /// [`decision_statement`](Request::decision_statement). The revocation takes effect
    /// whatever the signature: its record keeps the signature when it verifies by one of the
    /// approver's keys, and is unsigned otherwise.
    ///
    /// # Errors
    ///
    /// As [`revoke`](Request::revoke).
    pub fn revoke_signed(
        self,
        approver: &ApproverId,
        signed: &SignedDecision,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<Request<Closed>, Refused<Self>> {
        self.revoke_under(approver, Some(signed), policy, now)
    }

    /// The statement `approver` signs to revoke this access
    /// (`ssh-keygen -Y sign -n customer-lockbox`), in the log `log` where the grant has the
    /// link `grant_link`.
    pub fn decision_statement(
        &self,
        approver: &ApproverId,
        log: &str,
        grant_link: ChainHash,
    ) -> DecisionStatement {
        let draft = self.as_draft();
        self.decision_context(&draft, approver)
            .statement(log, grant_link)
    }

    /// What a revocation of this access is: it answers the grant, until access ends.
    pub(crate) fn decision_context<'a>(
        &'a self,
        draft: &'a Draft,
        approver: &'a ApproverId,
    ) -> DecisionContext<'a> {
        DecisionContext {
            request: draft,
            approved_by: &self.state.approved_by,
            answers: self.last_sequence_of(AuditEventKind::Granted),
            decision: Decision::Revoke,
            approver,
            valid_until: self.state.access_ends_at,
        }
    }

    /// [`revoke`](Request::revoke) with the policy's answers given by `authority`.
    pub(crate) fn revoke_under(
        self,
        approver: &ApproverId,
        signed: Option<&SignedDecision>,
        authority: &(impl Authority + ?Sized),
        now: DateTime<Utc>,
    ) -> Result<Request<Closed>, Refused<Self>> {
        let actor = Actor::Approver(approver.clone());
        let (this, at) = match self.active(&actor, Step::Revoke, now)? {
            Ok(active) => active,
            Err(closed) => return Ok(closed),
        };
        let refusal = vendor_staff(approver, &this.engineer, &this.state.approved_by)
            .or_else(|| authority.decision_refusal(this.tenant, approver));
        if let Some(refusal) = refusal {
            return Err(this.refuse(at, actor, Step::Revoke, refusal));
        }
        let draft = this.as_draft();
        // A revocation is never refused for its signature: one that does not verify is not
        // kept.
        let signature = authority
            .signature_verdict(signed, &this.decision_context(&draft, approver))
            .ok()
            .flatten();
        Ok(this.close_signed(
            at,
            actor,
            AuditEvent::Revoked,
            ClosureReason::RevokedByCustomer,
            signature,
        ))
    }

    /// Admits `step` at the later of `now` and the last record, then ends access if the window
    /// has run out by then (recording the late step as refused): `Ok(Err(closed))` in that case.
    #[allow(clippy::type_complexity)] // two layers: refused, or ended-by-time
    fn active(
        self,
        actor: &Actor,
        step: Step,
        now: DateTime<Utc>,
    ) -> Result<Result<(Self, DateTime<Utc>), Request<Closed>>, Refused<Self>> {
        let (this, at) = self.admit_at_latest(step, now)?;
        Ok(match this.access(at) {
            Access::Active(this) => Ok((this, at)),
            Access::Ended(mut closed) => {
                closed.record_refusal(at, actor.clone(), step, Refusal::AccessWindowEnded);
                Err(closed)
            }
        })
    }
}
