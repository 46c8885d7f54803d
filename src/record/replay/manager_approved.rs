//! Replaying a step of a request its manager approved: notifying the approvers (under the
//! answer the record gives), or the engineer's withdrawal.

use super::{BrokenRule, not_legal, notify_answer, settle};
use crate::audit::{Actor, AuditEvent as E, AuditRecord};
use crate::refusal::Step;
use crate::request::{AnyRequest, Request};
use crate::state::{ManagerApproved, StateKind};

pub(super) fn apply(
    r: Request<ManagerApproved>,
    stored: &AuditRecord,
) -> Result<AnyRequest, BrokenRule> {
    let at = stored.at();
    match (stored.event(), stored.actor()) {
        (
            E::ApproversNotified { .. }
            | E::Refused {
                step: Step::Notify, ..
            },
            Actor::System,
        ) => {
            let answer = notify_answer(stored.event(), at)?;
            settle(r.notify_under(&answer, at), AnyRequest::from)
        }
        (
            E::Withdrawn
            | E::Refused {
                step: Step::Withdraw,
                ..
            },
            Actor::Engineer(e),
        ) => settle(r.withdraw(e, at), AnyRequest::from),
        _ => Err(not_legal(StateKind::ManagerApproved, stored)),
    }
}
