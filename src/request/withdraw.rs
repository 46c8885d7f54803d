use chrono::{DateTime, Utc};

use super::Request;
use crate::audit::{Actor, AuditEvent};
use crate::refusal::{Refusal, Refused, Step};
use crate::state::{Closed, ClosureReason, State, Withdrawable};
use crate::values::EngineerId;

/// Steps shared by the states before the customer's grant.
// The bound sits on the method, not the impl block, so that calling `withdraw` on a granted or
// closed request shows `Withdrawable`'s own diagnostic instead of a generic E0599.
impl<S: State> Request<S> {
    /// The engineer withdraws the request before it is granted; it closes at `now` (or at the
    /// last record's instant, if `now` is earlier: a step that ends a request is never refused
    /// for its instant).
    ///
    /// A pending request whose decision deadline has passed has expired instead: the result is
    /// closed as [`ExpiredUnanswered`](ClosureReason::ExpiredUnanswered) and the late
    /// withdrawal is recorded as refused.
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
    /// let engineer = drafted.engineer().clone();
    /// let closed = drafted.withdraw(&engineer, now)?;
    /// assert_eq!(closed.reason(), ClosureReason::WithdrawnByEngineer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Refused, and recorded, when `engineer` is not the engineer who drafted the request;
    /// refused unrecorded only when the instant is outside the years 1970 to 9999.
    pub fn withdraw(
        self,
        engineer: &EngineerId,
        now: DateTime<Utc>,
    ) -> Result<Request<Closed>, Refused<Self>>
    where
        S: Withdrawable,
    {
        let actor = Actor::Engineer(engineer.clone());
        let (this, now) = self.admit_at_latest(Step::Withdraw, now)?;
        if let Some(deadline) = this.state.decision_deadline()
            && now >= deadline
        {
            let mut closed = this.close_with(
                deadline,
                Actor::System,
                AuditEvent::Expired,
                ClosureReason::ExpiredUnanswered,
            );
            closed.record_refusal(now, actor, Step::Withdraw, Refusal::DecisionDeadlinePassed);
            return Ok(closed);
        }
        if engineer != &this.engineer {
            return Err(this.refuse(now, actor, Step::Withdraw, Refusal::NotTheEngineer));
        }
        Ok(this.close_with(
            now,
            actor,
            AuditEvent::Withdrawn,
            ClosureReason::WithdrawnByEngineer,
        ))
    }
}
