//! Replaying a step of a request that awaits the customer: an approver's grant, approval or
//! denial, the engineer's withdrawal, or its expiry (with the late step that found it).

use super::{
    Answer, BrokenRule, decision_answer, deny_outcome, grant_outcome, moved_by_time, not_legal,
    settle,
};
use crate::audit::{Actor, AuditEvent as E, AuditRecord};
use crate::refusal::{Refusal, Step};
use crate::request::PendingStatus;
use crate::request::{AnyRequest, Request};
use crate::state::{PendingCustomer, StateKind};

pub(super) fn apply(
    r: Request<PendingCustomer>,
    stored: &AuditRecord,
    after: Option<&AuditRecord>,
) -> Result<AnyRequest, BrokenRule> {
    let at = stored.at();
    match (stored.event(), stored.actor()) {
        (
            E::Granted { .. }
            | E::Approved { .. }
            | E::Refused {
                step: Step::Grant, ..
            },
            Actor::Approver(a),
        ) => settle(
            r.grant_under(a, stored.signature(), &decision_answer(stored), at),
            grant_outcome,
        ),
        (
            E::Denied
            | E::Refused {
                step: Step::Deny, ..
            },
            Actor::Approver(a),
        ) => settle(
            r.deny_under(a, stored.signature(), &decision_answer(stored), at),
            deny_outcome,
        ),
        (
            E::Withdrawn
            | E::Refused {
                step: Step::Withdraw,
                ..
            },
            Actor::Engineer(e),
        ) => settle(r.withdraw(e, at), AnyRequest::from),
        (E::Expired, Actor::System) => {
            moved_by_time(r, after, Refusal::DecisionDeadlinePassed, late, |r| match r
                .check_expiry(at)
            {
                PendingStatus::Pending(pending) => pending.into(),
                PendingStatus::Expired(closed) => closed.into(),
            })
        }
        _ => Err(not_legal(StateKind::PendingCustomer, stored)),
    }
}

/// The late grant, denial or withdrawal that found the request expired, taken again at its
/// own instant.
fn late(
    r: Request<PendingCustomer>,
    next: &AuditRecord,
) -> Result<Result<AnyRequest, BrokenRule>, Box<Request<PendingCustomer>>> {
    let late_at = next.at();
    let designated = Answer::designated();
    match (next.event(), next.actor()) {
        (
            E::Refused {
                step: Step::Grant, ..
            },
            Actor::Approver(a),
        ) => Ok(settle(
            r.grant_under(a, None, &designated, late_at),
            grant_outcome,
        )),
        (
            E::Refused {
                step: Step::Deny, ..
            },
            Actor::Approver(a),
        ) => Ok(settle(
            r.deny_under(a, None, &designated, late_at),
            deny_outcome,
        )),
        (
            E::Refused {
                step: Step::Withdraw,
                ..
            },
            Actor::Engineer(e),
        ) => Ok(settle(r.withdraw(e, late_at), AnyRequest::from)),
        _ => Err(Box::new(r)),
    }
}
