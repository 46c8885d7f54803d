//! The workflow's steps, executed by the store, written once for every backend.
//!
//! Each step is one call: the store takes the request (from its cache, or loaded and checked),
//! checks its state, applies the typed step, and saves what the step recorded in one
//! transaction that happens only if nobody moved the request meanwhile. A write that loses that
//! race is retried on the request as it now is, a bounded number of times. A refusal is saved
//! like any step, and a refusal that loses its race is still recorded, on the request as it
//! now is. The caller gets the typed outcome unchanged, or the refusal as
//! [`StoreError::Refused`].

use chrono::{DateTime, Utc};
use tracing::Instrument;
use tracing::field::Empty;

use super::StoreError;
use super::backend::Backend;
use super::backend::{KeptRow, KeptStep, NewMessage, StepWrite, Written};
use super::columns::{AuditRow, RequestRow, instant_text};
use super::handle::Store;
use super::keys::{self, Kept, StepCall};
use super::reports::{AppendReport, RefusedAction, SweepReport};
use crate::audit::AuditRecord;
use crate::clock::MAX_CLOCK_SKEW;
use crate::notification::Notification;
use crate::policy::{PolicyHistory, TenantPolicy};
use crate::record::{BrokenRule, RecordError, decide_again, replay_trail};
use crate::refusal::{Refusal, Refused, Step};
use crate::request::{ActionOutcome, DenyOutcome, GrantOutcome};
use crate::request::{AnyRequest, Attempt, Draft, Request, with_request};
use crate::state::{
    Closed, ClosureReason, Drafted, Granted, ManagerApproved, PendingCustomer, State, StateKind,
};
use crate::values::{
    ApproverId, EngineerAction, EngineerId, IdempotencyKey, RequestId, SupportManagerId,
};

/// How many times a step is tried before a lost race is reported as a conflict.
const ATTEMPTS: u32 = 16;

/// What applying a step to the request gave.
pub(crate) enum Applied<T> {
    /// The step went ahead (or found nothing to do): `T` holds the request to save.
    Done(T),
    /// The workflow refused it; the request comes back with the refusal recorded (if it is
    /// recorded at all).
    Refused(Refused<AnyRequest>),
    /// The request is in a state the step does not apply to.
    WrongState(Box<AnyRequest>),
}

/// A step's outcome, holding the request the step moved: the store saves it through here
/// before handing the outcome back.
pub(crate) trait Outcome: Send + Sized {
    /// The request inside.
    fn request(&mut self) -> RequestMut<'_>;

    /// What a step taken with an idempotency key keeps of this outcome.
    fn kept(&self) -> Kept {
        Kept::Done
    }

    /// The outcome again, from what was kept and the request as the step left it; `None` when
    /// they are not what this step gives.
    fn replay(kept: Kept, request: AnyRequest) -> Option<Self>;
}

/// A request inside an outcome, in whatever state.
pub(crate) enum RequestMut<'a> {
    Drafted(&'a mut Request<Drafted>),
    ManagerApproved(&'a mut Request<ManagerApproved>),
    PendingCustomer(&'a mut Request<PendingCustomer>),
    Granted(&'a mut Request<Granted>),
    Closed(&'a mut Request<Closed>),
}

impl RequestMut<'_> {
    /// Whether every record of the request is saved: the step has nothing to write.
    fn is_saved(&self) -> bool {
        match self {
            RequestMut::Drafted(r) => r.unsaved_records().is_empty(),
            RequestMut::ManagerApproved(r) => r.unsaved_records().is_empty(),
            RequestMut::PendingCustomer(r) => r.unsaved_records().is_empty(),
            RequestMut::Granted(r) => r.unsaved_records().is_empty(),
            RequestMut::Closed(r) => r.unsaved_records().is_empty(),
        }
    }

    /// The request's state.
    fn state(&self) -> StateKind {
        match self {
            RequestMut::Drafted(_) => StateKind::Drafted,
            RequestMut::ManagerApproved(_) => StateKind::ManagerApproved,
            RequestMut::PendingCustomer(_) => StateKind::PendingCustomer,
            RequestMut::Granted(_) => StateKind::Granted,
            RequestMut::Closed(_) => StateKind::Closed,
        }
    }

    /// A copy of the request, for the store's cache.
    fn duplicate(&self) -> AnyRequest {
        match self {
            RequestMut::Drafted(r) => AnyRequest::Drafted(r.duplicate()),
            RequestMut::ManagerApproved(r) => AnyRequest::ManagerApproved(r.duplicate()),
            RequestMut::PendingCustomer(r) => AnyRequest::PendingCustomer(r.duplicate()),
            RequestMut::Granted(r) => AnyRequest::Granted(r.duplicate()),
            RequestMut::Closed(r) => AnyRequest::Closed(r.duplicate()),
        }
    }
}

macro_rules! outcome_for_states {
    ($($state:ident),*) => {$(
        impl Outcome for Request<$state> {
            fn request(&mut self) -> RequestMut<'_> {
                RequestMut::$state(self)
            }

            fn replay(_kept: Kept, request: AnyRequest) -> Option<Self> {
                match request {
                    AnyRequest::$state(request) => Some(request),
                    _ => None,
                }
            }
        }
    )*};
}

outcome_for_states!(Drafted, ManagerApproved, PendingCustomer, Granted, Closed);

impl Outcome for AnyRequest {
    fn request(&mut self) -> RequestMut<'_> {
        match self {
            AnyRequest::Drafted(r) => RequestMut::Drafted(r),
            AnyRequest::ManagerApproved(r) => RequestMut::ManagerApproved(r),
            AnyRequest::PendingCustomer(r) => RequestMut::PendingCustomer(r),
            AnyRequest::Granted(r) => RequestMut::Granted(r),
            AnyRequest::Closed(r) => RequestMut::Closed(r),
        }
    }

    fn replay(_kept: Kept, request: AnyRequest) -> Option<Self> {
        Some(request)
    }
}

impl Outcome for GrantOutcome {
    fn request(&mut self) -> RequestMut<'_> {
        match self {
            GrantOutcome::Granted(r) => RequestMut::Granted(r),
            GrantOutcome::AwaitingApprovals { pending, .. } => RequestMut::PendingCustomer(pending),
            GrantOutcome::Expired(r) => RequestMut::Closed(r),
        }
    }

    fn replay(_kept: Kept, request: AnyRequest) -> Option<Self> {
        match request {
            AnyRequest::Granted(granted) => Some(GrantOutcome::Granted(granted)),
            AnyRequest::PendingCustomer(pending) => Some(GrantOutcome::AwaitingApprovals {
                remaining: pending.approvals_remaining(),
                pending,
            }),
            AnyRequest::Closed(closed) if closed.reason() == ClosureReason::ExpiredUnanswered => {
                Some(GrantOutcome::Expired(closed))
            }
            _ => None,
        }
    }
}

impl Outcome for DenyOutcome {
    fn request(&mut self) -> RequestMut<'_> {
        match self {
            DenyOutcome::Denied(r) | DenyOutcome::Expired(r) => RequestMut::Closed(r),
        }
    }

    fn replay(_kept: Kept, request: AnyRequest) -> Option<Self> {
        match request {
            AnyRequest::Closed(closed) => match closed.reason() {
                ClosureReason::DeniedByCustomer => Some(DenyOutcome::Denied(closed)),
                ClosureReason::ExpiredUnanswered => Some(DenyOutcome::Expired(closed)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Engineer actions recorded on a request: the report, and the request to save.
pub(crate) struct Appended {
    report: AppendReport,
    request: AnyRequest,
}

impl Outcome for Appended {
    fn request(&mut self) -> RequestMut<'_> {
        self.request.request()
    }

    fn kept(&self) -> Kept {
        Kept::Appended {
            report: self.report.clone(),
        }
    }

    fn replay(kept: Kept, request: AnyRequest) -> Option<Self> {
        match kept {
            Kept::Appended { report } => Some(Appended { report, request }),
            _ => None,
        }
    }
}

/// A request as time left it: whether a sweep ended it, and why.
pub(crate) struct Settled {
    request: AnyRequest,
    ended: Option<ClosureReason>,
}

impl Outcome for Settled {
    fn request(&mut self) -> RequestMut<'_> {
        self.request.request()
    }

    /// A sweep takes no key: nothing to replay.
    fn replay(_kept: Kept, _request: AnyRequest) -> Option<Self> {
        None
    }
}

/// Where a step's copy of the request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The store's cache: what this store wrote last, possibly moved on since by another node.
    Cache,
    /// The database, read for this attempt.
    Store,
}

/// Reports a write that found the request moved since it was read.
fn lost_race(step: Step, id: RequestId, attempt: u32) {
    tracing::debug!(
        request = %id,
        step = step.as_str(),
        attempt,
        "another writer moved the request first: retrying on the request as it now is"
    );
}

/// Reports a write that found the tenant's policy changed since the step read it.
fn policy_changed(step: Step, id: RequestId, tenant: crate::values::TenantId) {
    tracing::debug!(
        request = %id,
        step = step.as_str(),
        tenant = %tenant,
        "the tenant's policy changed while the step was decided: deciding it again"
    );
}

/// How a save ended.
enum Persisted {
    Saved,
    /// Someone moved the request since it was read (or took a new request's id).
    Stale,
    /// The tenant's policy changed since the step read it.
    PolicyChanged,
    /// A call with the same idempotency key took its step meanwhile.
    KeyTaken,
}

/// The kept answer of a step taken under `key`, if it was.
fn keeping(
    key: Option<&IdempotencyKey>,
    step: Step,
    kept: Kept,
) -> Result<Option<KeptStep>, StoreError> {
    key.map(|key| kept.under(key, step)).transpose()
}

/// Whether `step` is decided under the tenant's policy.
fn uses_policy(step: Step) -> bool {
    matches!(
        step,
        Step::Draft | Step::Notify | Step::Grant | Step::Deny | Step::Revoke
    )
}

/// The policy in force at `at` in `history`; a tenant with none designates nobody.
fn policy_at(history: &PolicyHistory, at: DateTime<Utc>) -> TenantPolicy {
    history
        .in_force_at(at)
        .map(|change| change.after().clone())
        .unwrap_or_else(|| TenantPolicy::none(history.tenant()))
}

/// The policy `step` on `request` is decided under at `at`: the version in force then; for a
/// revocation, designating too everyone designated at any time since the grant, and for a
/// denial, since the notification (taking access away never waits for a policy change).
fn decision_policy(
    step: Step,
    request: &AnyRequest,
    history: &PolicyHistory,
    at: DateTime<Utc>,
) -> TenantPolicy {
    let now = policy_at(history, at);
    let since = match (step, request) {
        (Step::Revoke, AnyRequest::Granted(granted)) => granted.granted_at(),
        (Step::Deny, AnyRequest::PendingCustomer(pending)) => pending.notified_at(),
        _ => return now,
    };
    now.designating_too(
        history
            .in_force_during(since, at)
            .map(crate::policy::PolicyChange::after),
    )
}

/// The latest version in `history` (0 for none).
fn version_of(history: &PolicyHistory) -> u32 {
    u32::try_from(history.changes().len()).unwrap_or(u32::MAX)
}

/// The step's outcome or refusal as its result.
pub(super) fn refused_step<R, T>(result: Result<T, Refused<Request<R>>>) -> Applied<T>
where
    R: State,
    AnyRequest: From<Request<R>>,
{
    match result {
        Ok(outcome) => Applied::Done(outcome),
        Err(refused) => Applied::Refused(refused.map(AnyRequest::from)),
    }
}

impl<B: Backend> Store<B> {
    /// Executes a step on request `id`: see the [module documentation](self).
    pub(super) async fn execute<T: Outcome>(
        &self,
        id: RequestId,
        step: Step,
        now: DateTime<Utc>,
        key: Option<&IdempotencyKey>,
        apply: impl Fn(AnyRequest, &TenantPolicy) -> Applied<T> + Send + Sync,
    ) -> Result<T, StoreError> {
        let span = tracing::info_span!(
            "lockbox.step",
            backend = B::NAME,
            step = step.as_str(),
            request = %id,
            tenant = Empty,
            revision = Empty,
            retries = Empty,
            outcome = Empty,
        );
        async move {
            self.ready().await?;
            // The refusal of an attempt that lost a race, to record on the request as it is now.
            let mut lost: Option<(crate::audit::Actor, Attempt, Refusal)> = None;
            // Whether the next attempt must read the stored request, not the cache.
            let mut confirm = false;
            for attempt in 0..ATTEMPTS {
                let span = tracing::Span::current();
                span.record("retries", attempt);
                // After a lost race, let the other writers of this runtime go first: the
                // winner holds the request in its cache and would win again at once.
                if !confirm {
                    for _ in 0..attempt {
                        tokio::task::yield_now().await;
                    }
                }
                // A call repeated with its key takes nothing: it answers what the first took.
                if let Some(key) = key
                    && let Some(kept) =
                        super::select::kept_step(self.backend(), id, key.as_str()).await?
                {
                    span.record("outcome", "repeated");
                    return self.answer_kept(id, step, key, &kept).await;
                }
                let (loaded, source) = self.fetch(id, confirm).await?;
                confirm = false;
                // A write is checked against the stored revision, so a stale copy costs a
                // retry; an answer that writes nothing is checked by nothing, so one decided on
                // the cache is decided again on the stored request before it is given.
                let unconfirmed = source == Source::Cache;
                let tenant = loaded.tenant();
                span.record("tenant", tracing::field::display(tenant));
                span.record("revision", loaded.saved_records());
                // The policy in force at the instant the step's record will bear; the write is
                // refused if the tenant's policy changes before it commits.
                let (policy, version) = if uses_policy(step) {
                    let history = self.history(tenant).await?;
                    let at = now.max(loaded.last_step_at());
                    (
                        decision_policy(step, &loaded, &history, at),
                        Some(version_of(&history)),
                    )
                } else {
                    (TenantPolicy::none(tenant), None)
                };
                match apply(loaded, &policy) {
                    Applied::Done(mut outcome) => {
                        if outcome.request().is_saved() {
                            // Nothing to write: the step found nothing to do.
                            if unconfirmed {
                                confirm = true;
                                continue;
                            }
                            span.record("outcome", outcome.request().state().as_str());
                            return Ok(outcome);
                        }
                        let keeping = keeping(key, step, outcome.kept())?;
                        match self
                            .persist(step, outcome.request(), version, keeping)
                            .await?
                        {
                            Persisted::Saved => {
                                let kept = outcome.request().duplicate();
                                span.record("outcome", kept.state().as_str());
                                self.keep(kept);
                                return Ok(outcome);
                            }
                            Persisted::Stale => lost_race(step, id, attempt),
                            Persisted::PolicyChanged => {
                                policy_changed(step, id, tenant);
                                self.forget_history(tenant);
                            }
                            Persisted::KeyTaken => {}
                        }
                    }
                    Applied::Refused(refused) => {
                        let refusal = refused.refusal();
                        let mut request = refused.into_request();
                        if !refusal.is_recorded() && unconfirmed {
                            confirm = true;
                            continue;
                        }
                        if refusal.is_recorded() {
                            let keeping = keeping(key, step, Kept::Refused { refusal })?;
                            match self
                                .persist(step, request.request(), version, keeping)
                                .await?
                            {
                                Persisted::Saved => self.keep(request),
                                Persisted::PolicyChanged => {
                                    policy_changed(step, id, tenant);
                                    self.forget_history(tenant);
                                    continue;
                                }
                                Persisted::KeyTaken => continue,
                                Persisted::Stale => {
                                    lost_race(step, id, attempt);
                                    lost = request
                                        .audit_trail()
                                        .last()
                                        .and_then(Attempt::behind)
                                        .map(|(actor, attempt)| (actor, attempt, refusal));
                                    continue;
                                }
                            }
                        }
                        span.record("outcome", "refused");
                        tracing::info!(
                            request = %id,
                            step = step.as_str(),
                            refusal = %refusal,
                            recorded = refusal.is_recorded(),
                            "step refused"
                        );
                        return Err(StoreError::Refused {
                            request: id,
                            step,
                            refusal,
                        });
                    }
                    Applied::WrongState(current) => {
                        if unconfirmed {
                            confirm = true;
                            continue;
                        }
                        let current = *current;
                        let Some((actor, attempt, refusal)) = lost.clone() else {
                            let state = current.state();
                            span.record("outcome", "wrong state");
                            tracing::info!(
                                request = %id,
                                step = step.as_str(),
                                state = state.as_str(),
                                "step does not apply to the stored request"
                            );
                            return Err(StoreError::WrongState {
                                request: id,
                                step,
                                state,
                                expected: step_states(step),
                            });
                        };
                        // A refusal that lost its race is still evidence: record it on the
                        // request as it now is.
                        let Some(mut request) =
                            current.refuse_attempt(actor, attempt, refusal, now)
                        else {
                            return Err(StoreError::Refused {
                                request: id,
                                step,
                                refusal: Refusal::InstantOutOfRange,
                            });
                        };
                        let keeping = keeping(key, step, Kept::Refused { refusal })?;
                        match self.persist(step, request.request(), None, keeping).await? {
                            Persisted::Saved => {
                                span.record("outcome", "refused");
                                self.keep(request);
                                return Err(StoreError::Refused {
                                    request: id,
                                    step,
                                    refusal,
                                });
                            }
                            Persisted::Stale | Persisted::PolicyChanged | Persisted::KeyTaken => {
                                continue;
                            }
                        }
                    }
                }
            }
            tracing::Span::current().record("outcome", "conflict");
            tracing::warn!(
                request = %id,
                step = step.as_str(),
                attempts = ATTEMPTS,
                "step gave up: other writers moved the request on every attempt"
            );
            Err(StoreError::Conflict {
                request: id,
                step,
                attempts: ATTEMPTS,
            })
        }
        .instrument(span)
        .await
    }

    /// The request `id` as saved, and where it came from: the copy this store kept when it
    /// last wrote the request, or (without one, or to `confirm` an answer) loaded and checked.
    async fn fetch(
        &self,
        id: RequestId,
        confirm: bool,
    ) -> Result<(AnyRequest, Source), StoreError> {
        if !confirm && let Some(request) = self.take_cached(id) {
            return Ok((request, Source::Cache));
        }
        Ok((self.load_checked(id).await?, Source::Store))
    }

    /// A step on request `id` at `now`, to be awaited (with an idempotency key or without):
    /// [`execute`](Self::execute) once awaited.
    fn call<'a, T: Outcome + 'a>(
        &'a self,
        id: RequestId,
        step: Step,
        now: DateTime<Utc>,
        apply: impl Fn(AnyRequest, &TenantPolicy) -> Applied<T> + Send + Sync + 'a,
    ) -> StepCall<'a, T> {
        StepCall::new(move |key| {
            Box::pin(async move { self.execute(id, step, now, key.as_ref(), apply).await })
        })
    }

    /// Answers a call repeated with the key of a step already taken: what that step answered,
    /// with the request as the step left it.
    async fn answer_kept<T: Outcome>(
        &self,
        id: RequestId,
        step: Step,
        key: &IdempotencyKey,
        kept: &KeptRow,
    ) -> Result<T, StoreError> {
        let result = keys::read(id, step, key, kept)?;
        tracing::info!(request = %id, step = step.as_str(), key = %key, "step repeated with its idempotency key: answered as first taken");
        let current = self.load_checked(id).await?;
        let then = keys::as_of(&current, kept.revision)?;
        T::replay(result, then).ok_or_else(|| keys::unreadable(id))
    }

    /// Saves what `request` recorded since it was saved, if nobody moved it meanwhile (and,
    /// with `policy`, if the tenant's policy is still at that version), with the kept answer of
    /// a step taken with an idempotency key.
    async fn persist(
        &self,
        step: Step,
        request: RequestMut<'_>,
        policy: Option<u32>,
        key: Option<KeptStep>,
    ) -> Result<Persisted, StoreError> {
        match request {
            RequestMut::Drafted(r) => self.persist_request(step, r, policy, key).await,
            RequestMut::ManagerApproved(r) => self.persist_request(step, r, policy, key).await,
            RequestMut::PendingCustomer(r) => self.persist_request(step, r, policy, key).await,
            RequestMut::Granted(r) => self.persist_request(step, r, policy, key).await,
            RequestMut::Closed(r) => self.persist_request(step, r, policy, key).await,
        }
    }

    async fn persist_request<S: State>(
        &self,
        step: Step,
        request: &mut Request<S>,
        policy: Option<u32>,
        key: Option<KeptStep>,
    ) -> Result<Persisted, StoreError> {
        if request.unsaved_records().is_empty() {
            return Ok(Persisted::Saved);
        }
        let mut write = step_write(request)?;
        write.policy_version = policy;
        write.key = key.clone();
        write.store_clock = self.given_clock();
        // A step that sends a message is followed by a checkpoint, which the message carries:
        // in the step's own transaction when the signer signs at once and the backend can.
        let sends = (!write.messages.is_empty()).then_some(write.latest_at);
        write.signing = sends.and_then(|at| self.step_signing(request.tenant(), at));
        let written = self.backend().write(write).await.inspect_err(|err| {
            tracing::warn!(
                request = %request.id(),
                step = step.as_str(),
                class = %err.class(),
                error = %err,
                "saving a step failed"
            );
        })?;
        match written {
            Written::SavedAndSigned(note) => {
                request.mark_saved();
                self.remember_checkpoint(request.tenant(), note);
                Ok(Persisted::Saved)
            }
            Written::Saved => {
                request.mark_saved();
                if let Some(at) = sends {
                    self.sign_after_step(request.tenant(), at).await;
                }
                Ok(Persisted::Saved)
            }
            Written::Stale => Ok(Persisted::Stale),
            Written::PolicyChanged => Ok(Persisted::PolicyChanged),
            Written::KeyTaken => Ok(Persisted::KeyTaken),
            Written::Ahead { store_clock } => {
                Err(self.record_ahead(step, request, store_clock, key).await)
            }
        }
    }

    /// Handles a step whose records are stamped further ahead of the store's clock than
    /// [`MAX_CLOCK_SKEW`]: no party may move a request into the future, where every later step
    /// would have to wait for it. Returns the error to report.
    ///
    /// The records within the bound are kept. Of those beyond it, a customer's revocation or
    /// denial is taken again at the store's clock, so it takes effect; every other attempt by a
    /// person is recorded as refused ([`Refusal::AheadOfStoreClock`]) at the store's clock; the
    /// system's own records (an expiry or end of access the fast clock found early) are
    /// dropped, since their time has not come. A new request has no stored trail to record in:
    /// it is refused, unsaved.
    async fn record_ahead<S: State>(
        &self,
        step: Step,
        request: &Request<S>,
        store_clock: DateTime<Utc>,
        key: Option<KeptStep>,
    ) -> StoreError {
        let limit = store_clock
            .checked_add_signed(MAX_CLOCK_SKEW)
            .unwrap_or(store_clock);
        let given = request
            .unsaved_records()
            .iter()
            .map(AuditRecord::at)
            .find(|at| *at > limit)
            .unwrap_or(store_clock);
        let ahead = |recorded| StoreError::ClockAhead {
            request: Some(request.id()),
            given,
            store_clock,
            recorded,
        };
        let saved = request.saved_records();
        if saved == 0 {
            return ahead(false);
        }
        let trail = request.audit_trail();
        let within = trail
            .iter()
            .skip(saved)
            .take_while(|record| record.at() <= limit)
            .count();
        let kept = trail.get(..saved + within).unwrap_or(trail);
        let mut current = match replay_trail(request.id(), request.tenant(), kept) {
            Ok(current) => current,
            Err(err) => return StoreError::InvalidRecord(err),
        };
        with_request!(&mut current, r => r.count_saved(saved));
        for record in trail.get(saved + within..).unwrap_or_default() {
            current = match at_store_clock(current, record, store_clock) {
                Ok(current) => current,
                Err(rule) => {
                    return StoreError::InvalidRecord(RecordError::new(
                        Some(request.id()),
                        None,
                        rule,
                    ));
                }
            };
        }
        let mut write = match with_request!(&current, r => step_write(r)) {
            Ok(write) => write,
            Err(err) => return err,
        };
        write.store_clock = self.given_clock();
        // A call repeated with the key answers as this one does.
        write.key = match key.map(|kept| {
            let result = serde_json::to_string(&Kept::ClockAhead { given, store_clock })
                .map_err(StoreError::db("keeping the step's idempotency key"))?;
            Ok::<_, StoreError>(KeptStep { result, ..kept })
        }) {
            Some(Ok(kept)) => Some(kept),
            Some(Err(err)) => return err,
            None => None,
        };
        // A revocation or denial taking effect here sends a message: sign after it, as
        // `persist_request` does.
        let sends = (!write.messages.is_empty()).then_some(write.latest_at);
        match self.backend().write(write).await {
            Ok(Written::Saved | Written::SavedAndSigned(_)) => {
                let tenant = current.tenant();
                with_request!(&mut current, r => r.mark_saved());
                self.keep(current);
                if let Some(at) = sends {
                    self.sign_after_step(tenant, at).await;
                }
                ahead(true)
            }
            Ok(Written::Stale | Written::PolicyChanged | Written::KeyTaken) => {
                StoreError::Conflict {
                    request: request.id(),
                    step,
                    attempts: 1,
                }
            }
            Ok(Written::Ahead { .. }) => ahead(false),
            Err(err) => err,
        }
    }

    /// Refuses an operation given `now` further ahead of the store's clock than
    /// [`MAX_CLOCK_SKEW`], before it touches anything.
    pub(super) async fn check_clock(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let store_clock = self.store_clock().await?;
        if store_clock
            .checked_add_signed(MAX_CLOCK_SKEW)
            .is_some_and(|limit| now > limit)
        {
            return Err(StoreError::ClockAhead {
                request: None,
                given: now,
                store_clock,
                recorded: false,
            });
        }
        Ok(())
    }

    /// An engineer drafts a request at `now`, checked against the tenant's policy in force at
    /// `now`, and the store saves it.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidDraft`] when the draft breaks the policy, the tenant has no policy
    /// yet ([`Error::is_no_policy`](crate::Error::is_no_policy)) or `now` is out of range;
    /// [`StoreError::IdTaken`] when another request has the id; [`StoreError::ClockAhead`]
    /// (unsaved) when `now` is too far ahead of the store's clock; [`StoreError::Database`].
    pub fn draft(&self, draft: Draft, now: DateTime<Utc>) -> StepCall<'_, Request<Drafted>> {
        StepCall::new(move |key| Box::pin(self.draft_keyed(draft, now, key)))
    }

    async fn draft_keyed(
        &self,
        draft: Draft,
        now: DateTime<Utc>,
        key: Option<IdempotencyKey>,
    ) -> Result<Request<Drafted>, StoreError> {
        let span = tracing::info_span!(
            "lockbox.step",
            backend = B::NAME,
            step = "draft",
            request = %draft.id,
            tenant = %draft.tenant,
            outcome = Empty,
        );
        async move {
            self.ready().await?;
            let (id, tenant) = (draft.id, draft.tenant);
            // A draft repeated with its key takes nothing: it answers what the first took.
            let repeated = async || match &key {
                Some(key) => match super::select::kept_step(self.backend(), id, key.as_str()).await? {
                    Some(kept) => self.answer_kept(id, Step::Draft, key, &kept).await.map(Some),
                    None => Ok(None),
                },
                None => Ok(None),
            };
            if let Some(drafted) = repeated().await? {
                tracing::Span::current().record("outcome", "repeated");
                return Ok(drafted);
            }
            // A refusal is given only once decided on the policy as stored, never on a copy
            // another node may have changed since.
            let mut confirmed = false;
            for _ in 0..ATTEMPTS {
                if confirmed {
                    self.forget_history(tenant);
                }
                let history = self.history(tenant).await?;
                let decided = match history.in_force_at(now) {
                    Some(change) => Request::draft(draft.clone(), change.after(), now),
                    None => Err(crate::error::ErrorKind::NoPolicy { tenant }.into()),
                };
                let mut drafted = match decided {
                    Ok(drafted) => drafted,
                    Err(_) if !confirmed => {
                        confirmed = true;
                        continue;
                    }
                    Err(err) => {
                        tracing::Span::current().record("outcome", "refused");
                        tracing::info!(request = %id, tenant = %tenant, error = %err, "draft refused");
                        return Err(StoreError::InvalidDraft(err));
                    }
                };
                let keeping = keeping(key.as_ref(), Step::Draft, Kept::Done)?;
                let version = Some(version_of(&history));
                match self
                    .persist_request(Step::Draft, &mut drafted, version, keeping)
                    .await?
                {
                    Persisted::Saved => {
                        tracing::Span::current().record("outcome", "drafted");
                        self.keep(AnyRequest::Drafted(drafted.duplicate()));
                        return Ok(drafted);
                    }
                    Persisted::PolicyChanged => {
                        policy_changed(Step::Draft, id, tenant);
                        self.forget_history(tenant);
                    }
                    Persisted::Stale | Persisted::KeyTaken => {
                        // Taken meanwhile by a call with the same key, or by another request.
                        if let Some(drafted) = repeated().await? {
                            tracing::Span::current().record("outcome", "repeated");
                            return Ok(drafted);
                        }
                        tracing::Span::current().record("outcome", "id taken");
                        tracing::info!(request = %id, "draft refused: the id is taken");
                        return Err(StoreError::IdTaken { request: id });
                    }
                }
            }
            Err(StoreError::Conflict {
                request: id,
                step: Step::Draft,
                attempts: ATTEMPTS,
            })
        }
        .instrument(span)
        .await
    }

    /// A support manager approves request `id`, a draft.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`], recorded, as [`Request::approve`]; [`StoreError::WrongState`]
    /// when the request is no draft; otherwise as every step (see the
    /// [`Store` documentation](crate::Store#errors-of-every-step)).
    pub fn approve<'a>(
        &'a self,
        id: RequestId,
        manager: &'a SupportManagerId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, Request<ManagerApproved>> {
        self.call(id, Step::Approve, now, move |request, _| match request {
            AnyRequest::Drafted(r) => refused_step(r.approve(manager, now)),
            other => Applied::WrongState(Box::new(other)),
        })
    }

    /// A support manager rejects request `id`, a draft.
    ///
    /// # Errors
    ///
    /// As [`approve`](Self::approve).
    pub fn reject<'a>(
        &'a self,
        id: RequestId,
        manager: &'a SupportManagerId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, Request<Closed>> {
        self.call(id, Step::Reject, now, move |request, _| match request {
            AnyRequest::Drafted(r) => refused_step(r.reject(manager, now)),
            other => Applied::WrongState(Box::new(other)),
        })
    }

    /// The engineer withdraws request `id` before the customer grants it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`], recorded, as [`Request::withdraw`];
    /// [`StoreError::WrongState`] once granted or closed.
    pub fn withdraw<'a>(
        &'a self,
        id: RequestId,
        engineer: &'a EngineerId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, Request<Closed>> {
        self.call(id, Step::Withdraw, now, move |request, _| match request {
            AnyRequest::Drafted(r) => refused_step(r.withdraw(engineer, now)),
            AnyRequest::ManagerApproved(r) => refused_step(r.withdraw(engineer, now)),
            AnyRequest::PendingCustomer(r) => refused_step(r.withdraw(engineer, now)),
            other => Applied::WrongState(Box::new(other)),
        })
    }

    /// Notifies the tenant's designated approvers of request `id`, approved by a support
    /// manager. The approvers' message goes to the store's outbox in the same transaction (see
    /// [`deliver`](Self::deliver)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`], recorded, as [`Request::notify`];
    /// [`StoreError::WrongState`] when the request is not manager-approved.
    pub fn notify<'a>(
        &'a self,
        id: RequestId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, Request<PendingCustomer>> {
        self.call(
            id,
            Step::Notify,
            now,
            move |request, policy| match request {
                AnyRequest::ManagerApproved(r) => {
                    refused_step(r.notify(policy, now).map(|(pending, _message)| pending))
                }
                other => Applied::WrongState(Box::new(other)),
            },
        )
    }

    /// A designated approver grants request `id`; the outcome says granted or expired.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`], recorded, as [`Request::grant`] (an outsider, the engineer
    /// or the support manager, another tenant's policy); [`StoreError::WrongState`] when the
    /// request is not pending (decided, withdrawn or expired meanwhile).
    pub fn grant<'a>(
        &'a self,
        id: RequestId,
        approver: &'a ApproverId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, GrantOutcome> {
        self.call(id, Step::Grant, now, move |request, policy| match request {
            AnyRequest::PendingCustomer(r) => refused_step(r.grant(approver, policy, now)),
            other => Applied::WrongState(Box::new(other)),
        })
    }

    /// A designated approver denies request `id`; the outcome says denied or expired.
    ///
    /// # Errors
    ///
    /// As [`grant`](Self::grant).
    pub fn deny<'a>(
        &'a self,
        id: RequestId,
        approver: &'a ApproverId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, DenyOutcome> {
        self.call(id, Step::Deny, now, move |request, policy| match request {
            AnyRequest::PendingCustomer(r) => refused_step(r.deny(approver, policy, now)),
            other => Applied::WrongState(Box::new(other)),
        })
    }

    /// A designated approver revokes access under request `id`: it ends at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`], recorded, as [`Request::revoke`];
    /// [`StoreError::WrongState`] when the request is not granted.
    pub fn revoke<'a>(
        &'a self,
        id: RequestId,
        approver: &'a ApproverId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, Request<Closed>> {
        self.call(
            id,
            Step::Revoke,
            now,
            move |request, policy| match request {
                AnyRequest::Granted(r) => refused_step(r.revoke(approver, policy, now)),
                other => Applied::WrongState(Box::new(other)),
            },
        )
    }

    /// The engineer closes request `id` after the fix: access ends at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`], recorded, as [`Request::close`];
    /// [`StoreError::WrongState`] when the request is not granted.
    pub fn close<'a>(
        &'a self,
        id: RequestId,
        engineer: &'a EngineerId,
        now: DateTime<Utc>,
    ) -> StepCall<'a, Request<Closed>> {
        self.call(id, Step::Close, now, move |request, _| match request {
            AnyRequest::Granted(r) => refused_step(r.close(engineer, now)),
            other => Applied::WrongState(Box::new(other)),
        })
    }

    /// Records engineer actions on request `id` at `now`, in one transaction.
    ///
    /// On a granted request each goes through [`Request::record_action`]: refused actions are
    /// recorded as refused and listed in the report; at or after the end of the window the
    /// request closes and the rest are not taken. No action is lost: on a closed request (one
    /// revoked or closed meanwhile) each is recorded as a refused attempt
    /// ([`Request::refuse_late_action`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongState`] when the request was never granted; otherwise as every step.
    pub fn record_actions<'a>(
        &'a self,
        id: RequestId,
        engineer: &'a EngineerId,
        actions: impl IntoIterator<Item = EngineerAction>,
        now: DateTime<Utc>,
    ) -> StepCall<'a, AppendReport> {
        let actions: Vec<EngineerAction> = actions.into_iter().collect();
        StepCall::new(move |key| {
            Box::pin(async move {
                let appended = self
                    .execute(id, Step::RecordAction, now, key.as_ref(), |request, _| {
                        record_actions(request, engineer, &actions, now)
                    })
                    .await?;
                Ok(appended.report)
            })
        })
    }

    /// Moves on every request that time alone moves at `now`: pending requests past their
    /// decision deadline expire, granted requests past their window end. Each is its own
    /// audited step; one that someone else moved meanwhile is left to them.
    ///
    /// # Errors
    ///
    /// [`StoreError::ClockAhead`], with nothing moved, when `now` is more than
    /// [`MAX_CLOCK_SKEW`] ahead of the store's clock; [`StoreError::Database`] when the due
    /// requests cannot be listed. Failures on single requests are in the report instead, so
    /// one bad request does not stop the sweep.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, StoreError> {
        let span = tracing::info_span!("lockbox.sweep", backend = B::NAME, due = Empty);
        async move {
            self.ready().await?;
            self.check_clock(now).await?;
            let due = super::select::due(self.backend(), now).await?;
            tracing::Span::current().record("due", due.len());
            let mut report = SweepReport::default();
            for id in due {
                let settled = self
                    .execute(id, Step::Sweep, now, None, |request, _| {
                        let due = request.due_at().is_some_and(|due| due <= now);
                        let request = request.settle(now);
                        let ended = match &request {
                            AnyRequest::Closed(closed) if due => Some(closed.reason()),
                            _ => None,
                        };
                        Applied::Done(Settled { request, ended })
                    })
                    .await;
                match settled.map(|settled| settled.ended) {
                    Ok(Some(ClosureReason::ExpiredUnanswered)) => report.expired.push(id),
                    Ok(Some(ClosureReason::AccessDurationElapsed)) => {
                        report.access_ended.push(id);
                    }
                    // Not due any more: someone else moved it meanwhile.
                    Ok(_) => {}
                    Err(err) if err.is_conflict() => report.skipped.push(id),
                    Err(err) => report.failed.push((id, err)),
                }
            }
            Ok(report)
        }
        .instrument(span)
        .await
    }
}

/// The states a step applies to, for [`StoreError::WrongState`].
fn step_states(step: Step) -> &'static [StateKind] {
    use StateKind as K;
    match step {
        Step::Approve | Step::Reject => &[K::Drafted],
        Step::Withdraw => &[K::Drafted, K::ManagerApproved, K::PendingCustomer],
        Step::Notify => &[K::ManagerApproved],
        Step::Grant | Step::Deny => &[K::PendingCustomer],
        Step::RecordAction => &[K::Granted, K::Closed],
        Step::Close | Step::Revoke => &[K::Granted],
        Step::Draft | Step::Sweep => &[],
    }
}

/// Applies a batch of engineer actions to `request`. Every action is recorded: as taken while
/// access lasts, else as a refused attempt (the first late one ends access; those after it find
/// the request closed).
fn record_actions(
    request: AnyRequest,
    engineer: &EngineerId,
    actions: &[EngineerAction],
    now: DateTime<Utc>,
) -> Applied<Appended> {
    let (mut recorded, mut refused) = (0, Vec::new());
    let mut granted = match request {
        AnyRequest::Granted(granted) => granted,
        AnyRequest::Closed(closed) => {
            return Applied::Done(refuse_late_actions(
                closed, engineer, actions, 0, 0, refused, now,
            ));
        }
        other => return Applied::WrongState(Box::new(other)),
    };
    for (index, action) in actions.iter().enumerate() {
        granted = match granted.record_action(engineer, action.clone(), now) {
            Ok(ActionOutcome::Recorded(granted)) => {
                recorded += 1;
                granted
            }
            Ok(ActionOutcome::AccessEnded(closed)) => {
                refused.push(RefusedAction::new(index, Refusal::AccessWindowEnded));
                return Applied::Done(refuse_late_actions(
                    closed,
                    engineer,
                    actions,
                    index + 1,
                    recorded,
                    refused,
                    now,
                ));
            }
            Err(refusal) => {
                refused.push(RefusedAction::new(index, refusal.refusal()));
                refusal.into_request()
            }
        };
    }
    Applied::Done(Appended {
        report: AppendReport::of(recorded, refused, None),
        request: granted.into(),
    })
}

/// Records the actions of `actions` from `first` on as refused attempts on `closed`.
fn refuse_late_actions(
    mut closed: Request<Closed>,
    engineer: &EngineerId,
    actions: &[EngineerAction],
    first: usize,
    recorded: usize,
    mut refused: Vec<RefusedAction>,
    now: DateTime<Utc>,
) -> Appended {
    for (index, action) in actions.iter().enumerate().skip(first) {
        let refusal = closed.refuse_late_action(engineer, action.clone(), now);
        refused.push(RefusedAction::new(index, refusal.refusal()));
        closed = refusal.into_request();
    }
    let reason = closed.reason();
    Appended {
        report: AppendReport::of(recorded, refused, Some(reason)),
        request: closed.into(),
    }
}

/// What `record`, stamped too far ahead, becomes at the store's clock `at` (see
/// [`Store::record_ahead`]).
fn at_store_clock(
    current: AnyRequest,
    record: &AuditRecord,
    at: DateTime<Utc>,
) -> Result<AnyRequest, BrokenRule> {
    let Some((actor, attempt)) = Attempt::behind(record) else {
        return Ok(current);
    };
    match decide_again(current, record, at) {
        Ok(decided) => decided,
        Err(current) => (*current)
            .refuse_attempt(actor, attempt, Refusal::AheadOfStoreClock, at)
            .ok_or(BrokenRule::InstantOutOfRange),
    }
}

/// What saving `request` writes: its row as it now is, its unsaved records, and the
/// notifications they cause.
pub(crate) fn step_write<S: State>(request: &Request<S>) -> Result<StepWrite, StoreError> {
    let unsaved = request.unsaved_records();
    let records = unsaved
        .iter()
        .map(AuditRow::of)
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::db("encoding an audit record"))?;
    Ok(StepWrite {
        row: RequestRow::of(request),
        expected: request.saved_records() as u64,
        records,
        messages: new_messages(request)?,
        latest_at: unsaved
            .iter()
            .map(AuditRecord::at)
            .max()
            .unwrap_or_else(|| request.last_step_at()),
        policy_version: None,
        signing: None,
        store_clock: None,
        key: None,
    })
}

/// The outbox entries the unsaved steps of `request` cause, rendered without addresses.
fn new_messages<S: State>(request: &Request<S>) -> Result<Vec<NewMessage>, StoreError> {
    let mut messages = Vec::new();
    for index in request.saved_records()..request.audit_trail().len() {
        let (Some(notification), Some(cause)) = (
            Notification::caused_by(request, index, Vec::new()),
            request.audit_trail().get(index),
        ) else {
            continue;
        };
        let message = serde_json::to_string(&notification)
            .map_err(StoreError::db("encoding a notification"))?;
        messages.push(NewMessage {
            sequence: cause.sequence(),
            kind: notification.kind(),
            created_at: instant_text(cause.at()),
            message,
        });
    }
    Ok(messages)
}
