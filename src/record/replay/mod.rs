//! Loading by replay: each stored step runs through the same transition function the live
//! workflow ran, and must produce exactly the stored records.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{BrokenRule, RecordError, RequestRecord, readable};
use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::decision::{DecisionContext, SignedDecision};
use crate::policy::{Authority, Notice};
use crate::refusal::{Refusal, Refused, Step};
use crate::request::{ActionOutcome, DenyOutcome, GrantOutcome};

mod closed;
mod drafted;
mod granted;
mod manager_approved;
mod pending_customer;
use crate::request::{AnyRequest, Attempt, DeliveryStep, Draft, Request};
use crate::state::{State, StateKind};
use crate::values::{ApproverId, DecisionWindow, RequestId, TenantId};

/// The policy's answers, as the trail recorded them.
enum Answer {
    /// The approver was designated; for an approval short of access, how many approvals the
    /// record says remain (from which the approvals that counted follow); the signature the
    /// decision's record keeps.
    Designated {
        remaining: Option<u32>,
        signature: Option<SignedDecision>,
    },
    /// The policy refused, for this rule.
    Refused(Refusal),
    /// The policy refused the decision's signature (or its lack), for this rule.
    SignatureRefused(Refusal),
    /// These approvers were notified, needing this many approvals, with this window.
    Notified(Notice),
}

impl Authority for Answer {
    fn decision_refusal(&self, _tenant: TenantId, _approver: &ApproverId) -> Option<Refusal> {
        match self {
            Answer::Refused(refusal) => Some(*refusal),
            Answer::Designated { .. } | Answer::Notified(_) | Answer::SignatureRefused(_) => None,
        }
    }

    /// As recorded: whether the signature verifies by a key the policy then listed is checked
    /// against the history when one is given (`designation::check`).
    fn signature_verdict(
        &self,
        _signed: Option<&SignedDecision>,
        _context: &DecisionContext<'_>,
    ) -> Result<Option<SignedDecision>, Refusal> {
        match self {
            Answer::SignatureRefused(refusal) => Err(*refusal),
            Answer::Designated { signature, .. } => Ok(signature.clone()),
            Answer::Refused(_) | Answer::Notified(_) => Ok(None),
        }
    }

    fn notice(&self, _tenant: TenantId) -> Result<Notice, Refusal> {
        match self {
            Answer::Notified(notice) => Ok(notice.clone()),
            Answer::Refused(refusal) => Err(*refusal),
            Answer::Designated { .. } | Answer::SignatureRefused(_) => {
                Err(Refusal::NoDesignatedApprovers)
            }
        }
    }

    /// As recorded: an approval short of access counted what its `remaining` says; a grant
    /// counted enough (every earlier one). Whether the policy in force then agrees is checked
    /// against the history when one is given (`designation::check`).
    fn counted(&self, required: u32, earlier: &[ApproverId]) -> usize {
        match self {
            Answer::Designated {
                remaining: Some(remaining),
                ..
            } => {
                let counted = required.saturating_sub(1).saturating_sub(*remaining);
                usize::try_from(counted)
                    .unwrap_or(usize::MAX)
                    .min(earlier.len())
            }
            _ => earlier.len(),
        }
    }
}

/// The answer a decision step (grant, deny, revoke) got, as recorded. Only the policy's own
/// refusals are taken from the record; any other recorded refusal must come out of the step.
fn decision_answer(record: &AuditRecord) -> Answer {
    let signature = record.signature().cloned();
    match record.event() {
        AuditEvent::Refused {
            refusal: refusal @ (Refusal::NotDesignatedApprover | Refusal::PolicyForOtherTenant),
            ..
        } => Answer::Refused(*refusal),
        AuditEvent::Refused {
            refusal:
                refusal @ (Refusal::UnsignedDecision | Refusal::DecisionSignatureRefused { .. }),
            ..
        } => Answer::SignatureRefused(*refusal),
        AuditEvent::Approved { remaining } => Answer::Designated {
            remaining: Some(*remaining),
            signature,
        },
        _ => Answer::Designated {
            remaining: None,
            signature,
        },
    }
}

impl Answer {
    /// The answer of a policy that designated the approver, as a late step that found the
    /// request moved on by time needs it.
    fn designated() -> Answer {
        Answer::Designated {
            remaining: None,
            signature: None,
        }
    }
}

/// Takes again, at `at`, the customer's revocation or denial that `record` records, with the
/// policy's answer as recorded: how a store makes such a decision take effect at its own clock
/// when the instant it was given was too far ahead. `Err` hands the request back when `record`
/// is no such decision, or the request is not in the state it was taken in.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn decide_again(
    current: AnyRequest,
    record: &AuditRecord,
    at: DateTime<Utc>,
) -> Result<Result<AnyRequest, BrokenRule>, Box<AnyRequest>> {
    use AuditEvent as E;
    let answer = decision_answer(record);
    match (current, record.event(), record.actor()) {
        (
            AnyRequest::Granted(r),
            E::Revoked
            | E::Refused {
                step: Step::Revoke, ..
            },
            Actor::Approver(a),
        ) => Ok(settle(
            r.revoke_under(a, record.signature(), &answer, at),
            AnyRequest::from,
        )),
        (
            AnyRequest::PendingCustomer(r),
            E::Denied
            | E::Refused {
                step: Step::Deny, ..
            },
            Actor::Approver(a),
        ) => Ok(settle(
            r.deny_under(a, record.signature(), &answer, at),
            deny_outcome,
        )),
        (current, ..) => Err(Box::new(current)),
    }
}

/// The answer a notification at `at` got, as recorded: the approvers, the approvals needed and
/// the window must be ones a policy could have given.
fn notify_answer(event: &AuditEvent, at: DateTime<Utc>) -> Result<Answer, BrokenRule> {
    match event {
        AuditEvent::ApproversNotified {
            approvers,
            decision_deadline,
            approvals_required,
        } => {
            let distinct: BTreeSet<&ApproverId> = approvers.iter().collect();
            if approvers.is_empty() || distinct.len() != approvers.len() {
                return Err(BrokenRule::InvalidNotifiedApprovers);
            }
            let window = decision_deadline.signed_duration_since(at);
            if DecisionWindow::new(window).is_err() {
                return Err(BrokenRule::DeadlineNotDecisionWindow);
            }
            if *approvals_required == 0
                || usize::try_from(*approvals_required).map_or(true, |n| n > approvers.len())
            {
                return Err(BrokenRule::InvalidApprovalsRequired);
            }
            Ok(Answer::Notified(Notice {
                approvers: approvers.clone(),
                approvals_required: *approvals_required,
                window,
            }))
        }
        AuditEvent::Refused {
            refusal: refusal @ (Refusal::PolicyForOtherTenant | Refusal::NoDesignatedApprovers),
            ..
        } => Ok(Answer::Refused(*refusal)),
        _ => Ok(Answer::designated()),
    }
}

pub(super) fn replay(record: &RequestRecord) -> Result<AnyRequest, RecordError> {
    if !readable(record.version) {
        return Err(RecordError::new(
            Some(record.id),
            None,
            BrokenRule::UnsupportedVersion {
                found: record.version,
            },
        ));
    }
    let current = replay_trail(record.id, record.tenant, &record.trail)?;
    if current.state() != record.state {
        return Err(RecordError::new(
            Some(record.id),
            None,
            BrokenRule::StateMismatch {
                stored: record.state,
                replayed: current.state(),
            },
        ));
    }
    Ok(current)
}

/// Replays the trail of request `id` of `tenant` and returns the request it leads to, its whole
/// trail counted as saved, whatever state that is.
pub(crate) fn replay_trail(
    id: RequestId,
    tenant: TenantId,
    trail: &[AuditRecord],
) -> Result<AnyRequest, RecordError> {
    let fail = |sequence: Option<u64>, rule| Err(RecordError::new(Some(id), sequence, rule));
    for (i, stored) in trail.iter().enumerate() {
        let expected = i as u64 + 1;
        if stored.sequence() != expected {
            return fail(
                Some(expected),
                BrokenRule::SequenceOutOfOrder {
                    expected,
                    found: stored.sequence(),
                },
            );
        }
        if stored.tenant() != tenant || stored.request() != id {
            return fail(Some(expected), BrokenRule::ForeignRecord);
        }
    }
    let Some(first) = trail.first() else {
        return fail(None, BrokenRule::EmptyTrail);
    };
    let (
        AuditEvent::Drafted {
            service_request,
            services,
            access_duration,
            justification,
        },
        Actor::Engineer(engineer),
    ) = (first.event(), first.actor())
    else {
        return fail(Some(1), BrokenRule::NotStartedByDraft);
    };
    let draft = Draft {
        id,
        tenant,
        service_request: service_request.clone(),
        services: services.clone(),
        access_duration: *access_duration,
        justification: justification.clone(),
        engineer: engineer.clone(),
    };
    let Ok(drafted) = Request::start(draft, first.at()) else {
        return fail(Some(1), BrokenRule::InstantOutOfRange);
    };
    if drafted.audit_trail() != &trail[..1] {
        return fail(Some(1), BrokenRule::RecordDiffers);
    }
    let mut current = AnyRequest::Drafted(drafted);
    let mut done = 1;
    while let Some(stored) = trail.get(done) {
        let sequence = Some(stored.sequence());
        // Steps that end a request are recorded no earlier than the last record, whatever
        // instant they were given; no record may be earlier than the one before it.
        if stored.at() < current.last_step_at() {
            return fail(sequence, BrokenRule::TimeWentBackwards);
        }
        let next = apply(current, stored, trail.get(done + 1));
        current = match next {
            Ok(next) => next,
            Err(rule) => return fail(sequence, rule),
        };
        let produced = current.audit_trail().get(done..).unwrap_or_default();
        if produced.is_empty() {
            return fail(sequence, BrokenRule::RecordDiffers);
        }
        for (made, kept) in produced.iter().zip(trail.get(done..).unwrap_or_default()) {
            if made != kept {
                return fail(Some(kept.sequence()), mismatch(made, kept));
            }
        }
        if produced.len() > trail.len() - done {
            return fail(sequence, BrokenRule::RecordDiffers);
        }
        done += produced.len();
    }
    mark_saved(&mut current);
    Ok(current)
}

fn mark_saved(request: &mut AnyRequest) {
    crate::request::with_request!(request, r => r.mark_saved())
}

/// Names the rule behind a difference between what the workflow `made` and what was `kept`.
fn mismatch(made: &AuditRecord, kept: &AuditRecord) -> BrokenRule {
    use AuditEvent as E;
    match (kept.event(), made.event()) {
        (E::Granted { .. } | E::Denied, E::Expired) => BrokenRule::DecisionAtOrAfterDeadline,
        (E::EngineerActed { .. } | E::ActionRefused { .. }, E::AccessElapsed) => {
            BrokenRule::ActionOutsideAccessWindow
        }
        (E::Granted { access_ends_at: k }, E::Granted { access_ends_at: m }) if k != m => {
            BrokenRule::AccessWindowNotRequestedDuration
        }
        (
            E::ApproversNotified {
                decision_deadline: k,
                ..
            },
            E::ApproversNotified {
                decision_deadline: m,
                ..
            },
        ) if k != m => BrokenRule::DeadlineNotDecisionWindow,
        (E::Expired | E::AccessElapsed, _) if kept.at() != made.at() => {
            BrokenRule::ClosureAtWrongInstant
        }
        (E::Refused { .. } | E::ActionRefused { .. }, _) => BrokenRule::RecordDiffers,
        (_, E::Refused { refusal, .. } | E::ActionRefused { refusal, .. }) => {
            BrokenRule::StepRefused(*refusal)
        }
        _ => BrokenRule::RecordDiffers,
    }
}

/// The request after a step, whether the step went ahead or was refused and recorded; a
/// refusal the workflow does not record cannot be in a trail, and names its rule.
fn settle<S: State, T>(
    result: Result<T, Refused<Request<S>>>,
    ahead: impl FnOnce(T) -> AnyRequest,
) -> Result<AnyRequest, BrokenRule>
where
    AnyRequest: From<Request<S>>,
{
    match result {
        Ok(next) => Ok(ahead(next)),
        Err(refused) => match refused.refusal() {
            Refusal::InstantBeforeLastStep => Err(BrokenRule::TimeWentBackwards),
            Refusal::InstantOutOfRange => Err(BrokenRule::InstantOutOfRange),
            _ => Ok(AnyRequest::from(refused.into_request())),
        },
    }
}

fn grant_outcome(outcome: GrantOutcome) -> AnyRequest {
    match outcome {
        GrantOutcome::Granted(granted) => granted.into(),
        GrantOutcome::AwaitingApprovals { pending, .. } => pending.into(),
        GrantOutcome::Expired(closed) => closed.into(),
    }
}

fn deny_outcome(outcome: DenyOutcome) -> AnyRequest {
    match outcome {
        DenyOutcome::Denied(closed) | DenyOutcome::Expired(closed) => closed.into(),
    }
}

fn action_outcome(outcome: ActionOutcome) -> AnyRequest {
    match outcome {
        ActionOutcome::Recorded(granted) => granted.into(),
        ActionOutcome::AccessEnded(closed) => closed.into(),
    }
}

/// Runs the step that `stored` (and, for a step that first closes the request by time, the
/// record after it) describes: a delivery, or an attempt a store refused, the same in every
/// state; any other step by the request's state, each in its own file.
fn apply(
    current: AnyRequest,
    stored: &AuditRecord,
    after: Option<&AuditRecord>,
) -> Result<AnyRequest, BrokenRule> {
    use AuditEvent as E;
    let at: DateTime<Utc> = stored.at();
    let delivery = match stored.event() {
        E::NotificationSent {
            cause, recipients, ..
        } => Some((*cause, DeliveryStep::Sent(recipients.clone()))),
        E::DeliveryFailed { cause, failure, .. } => {
            Some((*cause, DeliveryStep::Failed(failure.clone())))
        }
        E::NotificationDropped { cause, .. } => Some((*cause, DeliveryStep::Dropped)),
        _ => None,
    };
    if let Some((cause, step)) = delivery {
        if *stored.actor() != Actor::System {
            return Err(BrokenRule::RecordDiffers);
        }
        let mut current = current;
        crate::request::with_request!(&mut current, r => r.record_delivery(at, cause, step))?;
        return Ok(current);
    }
    if let Some((actor, attempt)) = refused_by_store(stored) {
        return current
            .refuse_attempt(actor, attempt, Refusal::AheadOfStoreClock, at)
            .ok_or(BrokenRule::InstantOutOfRange);
    }
    if let Some((actor, attempt, refusal)) = refused_after_a_lost_race(stored, current.state()) {
        return current
            .refuse_attempt(actor, attempt, refusal, at)
            .ok_or(BrokenRule::InstantOutOfRange);
    }
    match current {
        AnyRequest::Drafted(r) => drafted::apply(r, stored),
        AnyRequest::ManagerApproved(r) => manager_approved::apply(r, stored),
        AnyRequest::PendingCustomer(r) => pending_customer::apply(r, stored, after),
        AnyRequest::Granted(r) => granted::apply(r, stored, after),
        AnyRequest::Closed(r) => closed::apply(r, stored),
    }
}

/// The rule a step broke when it is not legal in `state`.
fn not_legal(state: StateKind, stored: &AuditRecord) -> BrokenRule {
    BrokenRule::StepNotLegal {
        state,
        event: stored.event().kind(),
    }
}

/// A record of time moving the request on (its expiry, the end of its access window) is
/// written by the step that found it: a late step, recorded just after it as refused for
/// `ended`; an attempt a store refused, just after it; or a plain check (`check`). Written once
/// for both: `late` takes again the late step `after` records, or hands the request back when
/// `after` is no late step of its state.
fn moved_by_time<S: State>(
    request: Request<S>,
    after: Option<&AuditRecord>,
    ended: Refusal,
    late: impl FnOnce(
        Request<S>,
        &AuditRecord,
    ) -> Result<Result<AnyRequest, BrokenRule>, Box<Request<S>>>,
    check: impl FnOnce(Request<S>) -> AnyRequest,
) -> Result<AnyRequest, BrokenRule>
where
    AnyRequest: From<Request<S>>,
{
    let Some(next) = after else {
        return Ok(check(request));
    };
    if let Some((actor, attempt)) = refused_by_store(next) {
        return AnyRequest::from(request)
            .refuse_attempt(actor, attempt, Refusal::AheadOfStoreClock, next.at())
            .ok_or(BrokenRule::InstantOutOfRange);
    }
    let refused_for = match next.event() {
        AuditEvent::Refused { refusal, .. } | AuditEvent::ActionRefused { refusal, .. } => {
            Some(*refusal)
        }
        _ => None,
    };
    if refused_for != Some(ended) {
        return Ok(check(request));
    }
    match late(request, next) {
        Ok(taken) => taken,
        Err(request) => Ok(check(*request)),
    }
}

/// The person, attempt and refusal behind `record`, if it is a refusal a store recorded after
/// the attempt lost a race: the step was refused for who tried it, then someone else moved the
/// request to a state where that step does not apply, and the store kept the refusal anyway.
fn refused_after_a_lost_race(
    record: &AuditRecord,
    state: StateKind,
) -> Option<(Actor, Attempt, Refusal)> {
    let refusal = match record.event() {
        AuditEvent::Refused { refusal, .. } | AuditEvent::ActionRefused { refusal, .. } => *refusal,
        _ => return None,
    };
    // About the person, or a policy that designated nobody for them.
    let about_the_person =
        refusal.is_about_who_asked() || refusal == Refusal::NoDesignatedApprovers;
    let (actor, attempt) = Attempt::behind(record)?;
    (about_the_person && attempt.fits(&actor) && !attempt.applies_in(state))
        .then_some((actor, attempt, refusal))
}

/// The person and attempt behind `record`, if it is an attempt a store refused for being
/// stamped too far ahead of its clock, by someone whose role may take that step.
fn refused_by_store(record: &AuditRecord) -> Option<(Actor, Attempt)> {
    let refused = matches!(
        record.event(),
        AuditEvent::Refused {
            refusal: Refusal::AheadOfStoreClock,
            ..
        } | AuditEvent::ActionRefused {
            refusal: Refusal::AheadOfStoreClock,
            ..
        }
    );
    Attempt::behind(record).filter(|(actor, attempt)| refused && attempt.fits(actor))
}
