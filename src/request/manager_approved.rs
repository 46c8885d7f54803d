use chrono::{DateTime, TimeDelta, Utc};

use super::Request;
use crate::audit::{Actor, AuditEvent};
use crate::notification::Notification;
use crate::policy::TenantPolicy;
use crate::refusal::{Refusal, Refused, Step};
use crate::state::{ManagerApproved, PendingCustomer};
use crate::values::{ApproverId, SupportManagerId};

/// How long the customer has to decide after the notification: 12 hours. At
/// `notified_at + DECISION_WINDOW` exactly, the request has expired.
pub const DECISION_WINDOW: TimeDelta = TimeDelta::hours(12);

/// A request a support manager approved: next, the tenant's designated approvers are notified.
///
/// ```
/// use customer_lockbox::*;
/// # let (approved, policy, now) = customer_lockbox::doc_support::manager_approved()?;
///
/// let (pending, notification) = approved.notify(&policy, now)?;
/// assert_eq!(pending.decision_deadline(), now + DECISION_WINDOW);
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
    /// until `now +` [`DECISION_WINDOW`]. Returns the [`Notification`] to send; it contains no
    /// links.
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `policy` is another tenant's
    /// ([`Refusal::PolicyForOtherTenant`]) or designates nobody
    /// ([`Refusal::NoDesignatedApprovers`]); refused unrecorded when `now` is before the last
    /// step or out of range.
    pub fn notify(
        self,
        policy: &TenantPolicy,
        now: DateTime<Utc>,
    ) -> Result<(Request<PendingCustomer>, Notification), Refused<Self>> {
        let mut this = self.admit(Step::Notify, now)?;
        let refusal = if policy.tenant() != this.tenant {
            Some(Refusal::PolicyForOtherTenant)
        } else if policy.approvers().is_empty() {
            Some(Refusal::NoDesignatedApprovers)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return Err(this.refuse(now, Actor::System, Step::Notify, refusal));
        }
        let Some(decision_deadline) = now.checked_add_signed(DECISION_WINDOW) else {
            return Err(Refused::new(this, Step::Notify, Refusal::InstantOutOfRange));
        };
        let notified: Vec<ApproverId> = policy.approvers().iter().map(|a| a.id().clone()).collect();
        this.record(
            now,
            Actor::System,
            AuditEvent::ApproversNotified {
                approvers: notified.clone(),
                decision_deadline,
            },
        );
        let approved_by = this.state.approved_by.clone();
        let pending = this.into_state(PendingCustomer {
            approved_by,
            notified_at: now,
            decision_deadline,
            notified,
        });
        let notification = Notification::decision_needed(&pending, policy);
        Ok((pending, notification))
    }
}
