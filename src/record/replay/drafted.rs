//! Replaying a step of a drafted request: the manager's approval or rejection, or the
//! engineer's withdrawal.

use super::{BrokenRule, not_legal, settle};
use crate::audit::{Actor, AuditEvent as E, AuditRecord};
use crate::refusal::Step;
use crate::request::{AnyRequest, Request};
use crate::state::{Drafted, StateKind};

pub(super) fn apply(r: Request<Drafted>, stored: &AuditRecord) -> Result<AnyRequest, BrokenRule> {
    let at = stored.at();
    match (stored.event(), stored.actor()) {
        (
            E::ManagerApproved
            | E::Refused {
                step: Step::Approve,
                ..
            },
            Actor::SupportManager(m),
        ) => settle(r.approve(m, at), AnyRequest::from),
        (
            E::ManagerRejected
            | E::Refused {
                step: Step::Reject, ..
            },
            Actor::SupportManager(m),
        ) => settle(r.reject(m, at), AnyRequest::from),
        (
            E::Withdrawn
            | E::Refused {
                step: Step::Withdraw,
                ..
            },
            Actor::Engineer(e),
        ) => settle(r.withdraw(e, at), AnyRequest::from),
        _ => Err(not_legal(StateKind::Drafted, stored)),
    }
}
