use chrono::{DateTime, Utc};

use super::{Request, instant_in_range};
use crate::audit::{Actor, AuditEvent};
use crate::error::{Error, ErrorKind};
use crate::policy::TenantPolicy;
use crate::refusal::{Refusal, Refused, Step};
use crate::state::{Closed, ClosureReason, Drafted, ManagerApproved};
use crate::values::{
    AccessDuration, EngineerId, Justification, Person, RequestId, ServiceRequestNumber, Services,
    SupportManagerId, TenantId,
};

/// What an engineer fills in to draft a request. Every field is already a validated value;
/// [`Request::draft`] checks them against the tenant's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The new request's id, usually [`RequestId::new(now)`](RequestId::new).
    pub id: RequestId,
    /// The customer's tenant.
    pub tenant: TenantId,
    /// The support case.
    pub service_request: ServiceRequestNumber,
    /// The services the engineer needs.
    pub services: Services,
    /// How long access is needed, at most the tenant policy's maximum.
    pub access_duration: AccessDuration,
    /// Why.
    pub justification: Justification,
    /// The engineer drafting the request.
    pub engineer: EngineerId,
}

/// A drafted request: a support manager approves or rejects it, or the engineer withdraws it.
///
/// ```
/// use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// # let drafted = Request::draft(draft, &policy, now)?;
///
/// let manager = SupportManagerId::new("sam")?;
/// let approved: Request<ManagerApproved> = drafted.approve(&manager, now)?;
/// assert_eq!(approved.approved_by(), &manager);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Request<Drafted> {
    /// Drafts a request at `now`, checked against the tenant's `policy`.
    ///
    /// # Errors
    ///
    /// Returns an error when `policy` is another tenant's
    /// ([`Error::is_policy_for_other_tenant`]), when the access duration is over the policy's
    /// maximum ([`Error::is_over_policy_maximum`]), or when `now` is outside the years 1970 to
    /// 9999.
    pub fn draft(draft: Draft, policy: &TenantPolicy, now: DateTime<Utc>) -> Result<Self, Error> {
        if policy.tenant() != draft.tenant {
            return Err(ErrorKind::PolicyForOtherTenant {
                draft: draft.tenant,
                policy: policy.tenant(),
            }
            .into());
        }
        if draft.access_duration > policy.max_access_duration() {
            return Err(ErrorKind::DurationOverPolicy {
                tenant: draft.tenant,
                requested: draft.access_duration,
                maximum: policy.max_access_duration(),
            }
            .into());
        }
        Self::start(draft, now)
    }

    /// Drafts without the policy checks: the part replay shares with [`Request::draft`].
    pub(crate) fn start(draft: Draft, now: DateTime<Utc>) -> Result<Self, Error> {
        if !instant_in_range(now) {
            return Err(ErrorKind::InstantOutOfRange { at: now }.into());
        }
        let mut request = Request {
            id: draft.id,
            tenant: draft.tenant,
            service_request: draft.service_request.clone(),
            services: draft.services.clone(),
            access_duration: draft.access_duration,
            justification: draft.justification.clone(),
            engineer: draft.engineer.clone(),
            drafted_at: now,
            trail: Vec::new(),
            saved: 0,
            state: Drafted,
        };
        request.record(
            now,
            Actor::Engineer(draft.engineer),
            AuditEvent::Drafted {
                service_request: draft.service_request,
                services: draft.services,
                access_duration: draft.access_duration,
                justification: draft.justification,
            },
        );
        Ok(request)
    }

    /// A support manager approves the draft; next, the tenant's approvers are notified.
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `manager` is the engineer who drafted the request, compared
    /// by normalized identity ([`Refusal::ManagerIsEngineer`]); refused unrecorded when `now` is
    /// before the last step or out of range.
    pub fn approve(
        self,
        manager: &SupportManagerId,
        now: DateTime<Utc>,
    ) -> Result<Request<ManagerApproved>, Refused<Self>> {
        let mut this = self.admit(Step::Approve, now)?;
        this = this.separate_duties(manager, Step::Approve, now)?;
        this.record(
            now,
            Actor::SupportManager(manager.clone()),
            AuditEvent::ManagerApproved,
        );
        Ok(this.into_state(ManagerApproved {
            approved_by: manager.clone(),
            approved_at: now,
        }))
    }

    /// A support manager rejects the draft; the customer never sees it.
    ///
    /// Like every step that ends a request, a rejection is never refused for its instant coming
    /// before the last record: it is recorded at that record's instant instead.
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `manager` is the engineer who drafted the request
    /// ([`Refusal::ManagerIsEngineer`]); refused unrecorded when the instant is out of range.
    pub fn reject(
        self,
        manager: &SupportManagerId,
        now: DateTime<Utc>,
    ) -> Result<Request<Closed>, Refused<Self>> {
        let (this, at) = self.admit_at_latest(Step::Reject, now)?;
        let this = this.separate_duties(manager, Step::Reject, at)?;
        Ok(this.close_with(
            at,
            Actor::SupportManager(manager.clone()),
            AuditEvent::ManagerRejected,
            ClosureReason::RejectedByManager,
        ))
    }

    /// Refuses, and records at `at`, a manager decision by the engineer who drafted the request.
    fn separate_duties(
        self,
        manager: &SupportManagerId,
        step: Step,
        at: DateTime<Utc>,
    ) -> Result<Self, Refused<Self>> {
        if manager.is_same_person_as(&self.engineer) {
            let actor = Actor::SupportManager(manager.clone());
            return Err(self.refuse(at, actor, step, Refusal::ManagerIsEngineer));
        }
        Ok(self)
    }
}
