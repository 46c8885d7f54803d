use chrono::{DateTime, Utc};

use super::{Request, storable_after};
use crate::audit::{Actor, AuditEvent};
use crate::notification::Notification;
use crate::policy::{Authority, TenantPolicy};
use crate::refusal::{Refusal, Refused, Step};
use crate::state::{ManagerApproved, PendingCustomer};
use crate::values::SupportManagerId;

/// A request a support manager approved: next, the tenant's designated approvers are notified.
///
/// ```
/// use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// # let drafted = Request::draft(draft, &policy, now)?;
/// # let approved = drafted.approve(&SupportManagerId::new("sam")?, now)?;
///
/// let (pending, notification) = approved.notify(&policy, now)?;
/// assert_eq!(pending.decision_deadline(), now + policy.decision_window().as_time_delta());
/// assert_eq!(notification.recipients().len(), policy.approvers().len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Request<ManagerApproved> {
    /// The support manager who approved it.
    pub fn approved_by(&self) -> &SupportManagerId {
        &self.state.approved_by
    }

    /// When they approved it.
    pub fn approved_at(&self) -> DateTime<Utc> {
        self.state.approved_at
    }

    /// Notifies the tenant's designated approvers: the request now waits for their decision
    /// until `now +` the policy's [`decision_window`](TenantPolicy::decision_window), and
    /// needs the policy's [`approvals_required`](TenantPolicy::approvals_required); it keeps
    /// both whatever the policy later says. Returns the [`Notification`] to send; it contains no
    /// links. With a store, drop it: saving the pending request writes the same message to the
    /// store's outbox, which delivers it.
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `policy` is another tenant's
    /// ([`Refusal::PolicyForOtherTenant`]) or designates nobody
    /// ([`Refusal::NoDesignatedApprovers`]); refused unrecorded when `now` is before the last
    /// step, or when it or the decision deadline it sets is outside the years 1970 to 9999.
    pub fn notify(
        self,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<(Request<PendingCustomer>, Notification), Refused<Self>> {
        let pending = self.notify_under(policy, now)?;
        let notification = Notification::decision_needed(&pending, policy);
        Ok((pending, notification))
    }

    /// [`notify`](Request::notify) with the policy's answers given by `authority`.
    pub(crate) fn notify_under(
        self,
        authority: &(impl Authority + ?Sized),
        now: DateTime<Utc>,
    ) -> Result<Request<PendingCustomer>, Refused<Self>> {
        let mut this = self.admit(Step::Notify, now)?;
        let notice = match authority.notice(this.tenant) {
            Ok(notice) => notice,
            Err(refusal) => return Err(this.refuse(now, Actor::System, Step::Notify, refusal)),
        };
        let Some(decision_deadline) = storable_after(now, notice.window) else {
            return Err(Refused::new(this, Step::Notify, Refusal::InstantOutOfRange));
        };
        this.record(
            now,
            Actor::System,
            AuditEvent::ApproversNotified {
                approvers: notice.approvers.clone(),
                decision_deadline,
                approvals_required: notice.approvals_required,
            },
        );
        let approved_by = this.state.approved_by.clone();
        Ok(this.into_state(PendingCustomer {
            approved_by,
            notified_at: now,
            decision_deadline,
            notified: notice.approvers,
            approvals_required: notice.approvals_required,
            approvals: Vec::new(),
            remaining: notice.approvals_required,
        }))
    }
}
