use chrono::{DateTime, Utc};

use super::Request;
use crate::audit::{Actor, AuditEvent};
use crate::state::{Closed, ClosureReason};
use crate::values::ApproverId;

/// A closed request. It has no steps: it is the end of the workflow, and it only tells why and
/// when it closed. Its audit trail remains.
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
/// let closed = drafted.reject(&SupportManagerId::new("sam")?, now)?;
/// assert_eq!(closed.reason(), ClosureReason::RejectedByManager);
/// assert!(!closed.reason().had_access());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Request<Closed> {
    /// Why it closed.
    pub fn reason(&self) -> ClosureReason {
        self.state.reason
    }

    /// When it closed. For an expiry this is the decision deadline; for an elapsed window, the
    /// window's end; otherwise the instant of the closing step.
    pub fn closed_at(&self) -> DateTime<Utc> {
        self.state.closed_at
    }

    /// The access it had, if it was granted: from the grant until it closed (its window's
    /// end, a revocation or the engineer's closing), and who granted it.
    pub fn had_access(&self) -> Option<(DateTime<Utc>, DateTime<Utc>, &ApproverId)> {
        self.audit_trail()
            .iter()
            .find_map(|record| match (record.event(), record.actor()) {
                (AuditEvent::Granted { .. }, Actor::Approver(by)) => {
                    Some((record.at(), self.closed_at(), by))
                }
                _ => None,
            })
    }
}
