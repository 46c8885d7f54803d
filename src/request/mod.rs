//! [`Request<S>`]: an access request in state `S`, with what every state shares.
//!
//! Each state's legal steps live in that state's file: `drafted.rs`, `manager_approved.rs`,
//! `pending_customer.rs`, `granted.rs`, `closed.rs`; `withdraw.rs` holds the one step several
//! states share.

mod any;
mod attempt;
mod closed;
mod deliver;
mod drafted;
mod granted;
mod manager_approved;
mod outcome;
mod pending_customer;
mod view;
mod withdraw;

use chrono::{DateTime, Datelike, Utc};

use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::refusal::{Refusal, Refused, Step};
use crate::state::{Closed, ClosureReason, State};
use crate::values::{
    AccessDuration, EngineerId, Justification, RequestId, ServiceRequestNumber, Services, TenantId,
};

pub use any::AnyRequest;
pub(crate) use any::with_request;
pub(crate) use attempt::Attempt;
pub(crate) use deliver::{DeliveryRefused, DeliveryStep};
pub use drafted::Draft;
pub use outcome::{Access, ActionOutcome, DenyOutcome, GrantOutcome, PendingStatus};
pub use view::RequestView;

/// A Customer Lockbox access request in state `S`.
///
/// The state is part of the type, and each state offers only its legal steps. A step consumes
/// the request and returns it in its next state, so a request cannot be used twice, and a step
/// that is not legal in the current state does not compile:
///
/// | state | legal steps |
/// |---|---|
/// | [`Drafted`](crate::Drafted) | [`approve`](Request::approve), [`reject`](Request::reject), [`withdraw`](Request::withdraw) |
/// | [`ManagerApproved`](crate::ManagerApproved) | [`notify`](Request::notify), [`withdraw`](Request::withdraw) |
/// | [`PendingCustomer`](crate::PendingCustomer) | [`grant`](Request::grant), [`deny`](Request::deny), [`check_expiry`](Request::check_expiry), [`withdraw`](Request::withdraw) |
/// | [`Granted`](crate::Granted) | [`access`](Request::access), [`record_action`](Request::record_action), [`close`](Request::close), [`revoke`](Request::revoke) |
/// | [`Closed`](crate::Closed) | none: [`reason`](Request::reason) and [`closed_at`](Request::closed_at) tell why and when |
///
/// A request is created only by [`Request::draft`] (or, in the store, by a validated load):
/// its fields are private, it is not `Clone`, and it is never `Deserialize`.
///
/// Every step takes `now`, and records itself in the request's [`audit_trail`](Request::audit_trail)
/// at that instant. A step refused by a workflow rule gives the request back inside
/// [`Refused`], with the refusal recorded too.
#[derive(Debug)]
pub struct Request<S: State> {
    id: RequestId,
    tenant: TenantId,
    service_request: ServiceRequestNumber,
    services: Services,
    access_duration: AccessDuration,
    justification: Justification,
    engineer: EngineerId,
    drafted_at: DateTime<Utc>,
    trail: Vec<AuditRecord>,
    /// How many records of `trail` a store has saved (see [`Request::unsaved_records`]).
    saved: usize,
    state: S,
}

/// What every state shares.
impl<S: State> Request<S> {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The customer's tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The support case.
    pub fn service_request(&self) -> &ServiceRequestNumber {
        &self.service_request
    }

    /// The services the engineer may act in once granted.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// How long access lasts once granted.
    pub fn access_duration(&self) -> AccessDuration {
        self.access_duration
    }

    /// Why the engineer needs access.
    pub fn justification(&self) -> &Justification {
        &self.justification
    }

    /// The engineer who drafted the request.
    pub fn engineer(&self) -> &EngineerId {
        &self.engineer
    }

    /// When it was drafted.
    pub fn drafted_at(&self) -> DateTime<Utc> {
        self.drafted_at
    }

    /// Every record of this request so far, in order: sequence numbers 1, 2, 3, ...
    pub fn audit_trail(&self) -> &[AuditRecord] {
        &self.trail
    }

    /// The records a store has not saved yet: the whole trail for a new request, the steps
    /// taken since it was loaded or last saved otherwise. A store saves exactly these, and
    /// refuses the save if someone else saved the request in the meantime.
    pub fn unsaved_records(&self) -> &[AuditRecord] {
        self.trail.get(self.saved..).unwrap_or_default()
    }

    /// How many records a store has saved: the revision the next save expects to find.
    pub fn saved_records(&self) -> usize {
        self.saved
    }

    /// Marks the whole trail as saved. Only a store calls this, inside the transaction that
    /// saved the records.
    pub(crate) fn mark_saved(&mut self) {
        self.saved = self.trail.len();
    }

    /// A copy, for a store's cache of the requests it last saved: the crate never hands out a
    /// second copy of a request, since one could then be moved on while the other is not.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn duplicate(&self) -> Self {
        Request {
            id: self.id,
            tenant: self.tenant,
            service_request: self.service_request.clone(),
            services: self.services.clone(),
            access_duration: self.access_duration,
            justification: self.justification.clone(),
            engineer: self.engineer.clone(),
            drafted_at: self.drafted_at,
            trail: self.trail.clone(),
            saved: self.saved,
            state: self.state.clone(),
        }
    }

    /// Counts the first `saved` records of the trail as saved, and the rest as not: for a store
    /// that rebuilt the request's unsaved steps.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn count_saved(&mut self, saved: usize) {
        self.saved = saved.min(self.trail.len());
    }

    /// The instant of the last record; no later step may be earlier.
    pub fn last_step_at(&self) -> DateTime<Utc> {
        self.trail.last().map_or(self.drafted_at, AuditRecord::at)
    }

    /// When time alone moves this request on, if it can: the decision deadline of a pending
    /// request, the end of a granted request's access window.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        crate::state::sealed::Sealed::due(&self.state)
    }

    /// The state the request is in, as a value (the type says it too: `S`).
    pub fn state(&self) -> crate::state::StateKind {
        S::KIND
    }

    /// Lets a step that moves the request towards access (approve, notify, grant) go ahead only
    /// at an instant the trail can record: within years 1970 to 9999 and not before the last
    /// step. Such refusals are not recorded: the caller's clock is wrong, and nothing is lost by
    /// taking the step again with the right time.
    fn admit(self, step: Step, now: DateTime<Utc>) -> Result<Self, Refused<Self>> {
        if !instant_in_range(now) {
            return Err(Refused::new(self, step, Refusal::InstantOutOfRange));
        }
        if now < self.last_step_at() {
            return Err(Refused::new(self, step, Refusal::InstantBeforeLastStep));
        }
        Ok(self)
    }

    /// The instant a step that ends the request or keeps evidence (reject, withdraw, deny,
    /// revoke, close, an engineer action) is recorded at: `now`, or the last record's instant
    /// when `now` is earlier. Such a step is never refused for coming too late in the trail: a
    /// record stamped ahead of the caller's clock must not block a customer's revocation, nor
    /// lose an engineer's action. Refused unrecorded only when that instant is outside the years
    /// 1970 to 9999.
    fn admit_at_latest(
        self,
        step: Step,
        now: DateTime<Utc>,
    ) -> Result<(Self, DateTime<Utc>), Refused<Self>> {
        let at = now.max(self.last_step_at());
        if !instant_in_range(at) {
            return Err(Refused::new(self, step, Refusal::InstantOutOfRange));
        }
        Ok((self, at))
    }

    fn record(&mut self, at: DateTime<Utc>, actor: Actor, event: AuditEvent) {
        self.record_signed(at, actor, event, None);
    }

    /// Records a customer's decision with the signature its person made over it, if any.
    fn record_signed(
        &mut self,
        at: DateTime<Utc>,
        actor: Actor,
        event: AuditEvent,
        signature: Option<crate::decision::SignedDecision>,
    ) {
        let sequence = self.trail.len() as u64 + 1;
        self.trail.push(
            AuditRecord::new(sequence, at, self.tenant, self.id, actor, event).signed(signature),
        );
    }

    /// What the engineer drafted, as a [`Draft`]: the facts a decision's statement names.
    pub(crate) fn as_draft(&self) -> Draft {
        Draft {
            id: self.id,
            tenant: self.tenant,
            service_request: self.service_request.clone(),
            services: self.services.clone(),
            access_duration: self.access_duration,
            justification: self.justification.clone(),
            engineer: self.engineer.clone(),
        }
    }

    /// The sequence of the last record of `kind` in the trail (0 if there is none, which no
    /// record has).
    fn last_sequence_of(&self, kind: crate::audit::AuditEventKind) -> u64 {
        self.trail
            .iter()
            .rev()
            .find(|record| record.event().kind() == kind)
            .map_or(0, AuditRecord::sequence)
    }

    fn record_refusal(&mut self, at: DateTime<Utc>, actor: Actor, step: Step, refusal: Refusal) {
        self.record(at, actor, AuditEvent::Refused { step, refusal });
    }

    /// Records a refused step and hands the request back inside the refusal.
    fn refuse(
        mut self,
        at: DateTime<Utc>,
        actor: Actor,
        step: Step,
        refusal: Refusal,
    ) -> Refused<Self> {
        self.record_refusal(at, actor, step, refusal);
        Refused::new(self, step, refusal)
    }

    fn into_state<T: State>(self, state: T) -> Request<T> {
        Request {
            id: self.id,
            tenant: self.tenant,
            service_request: self.service_request,
            services: self.services,
            access_duration: self.access_duration,
            justification: self.justification,
            engineer: self.engineer,
            drafted_at: self.drafted_at,
            trail: self.trail,
            saved: self.saved,
            state,
        }
    }

    /// Records `event` and closes the request for `reason` at `at`.
    fn close_with(
        self,
        at: DateTime<Utc>,
        actor: Actor,
        event: AuditEvent,
        reason: ClosureReason,
    ) -> Request<Closed> {
        self.close_signed(at, actor, event, reason, None)
    }

    /// [`close_with`](Self::close_with), for a customer's decision with the signature its
    /// person made, if any.
    fn close_signed(
        mut self,
        at: DateTime<Utc>,
        actor: Actor,
        event: AuditEvent,
        reason: ClosureReason,
        signature: Option<crate::decision::SignedDecision>,
    ) -> Request<Closed> {
        self.record_signed(at, actor, event, signature);
        self.into_state(Closed {
            reason,
            closed_at: at,
        })
    }
}

/// Whether `now` is in the years the audit trail and the stores can hold (1970 to 9999). A step
/// whose consequences (a decision deadline, the end of an access window) would fall outside
/// them is refused as well: a record in year 10000 no longer sorts in time order.
fn instant_in_range(now: DateTime<Utc>) -> bool {
    (1970..=9999).contains(&now.year())
}

/// `from + by`, if that instant is storable (see [`instant_in_range`]).
fn storable_after(from: DateTime<Utc>, by: chrono::TimeDelta) -> Option<DateTime<Utc>> {
    from.checked_add_signed(by)
        .filter(|at| instant_in_range(*at))
}
