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
    /// # let (drafted, _policy, now) = customer_lockbox::doc_support::drafted()?;
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
