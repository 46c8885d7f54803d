//! Replaying a step of a granted request: the engineer's action or closing, an approver's
//! revocation, or the end of its access window (with the late step that found it).

use super::{
    Answer, BrokenRule, action_outcome, decision_answer, moved_by_time, not_legal, settle,
};
use crate::audit::{Actor, AuditEvent as E, AuditRecord};
use crate::refusal::{Refusal, Step};
use crate::request::Access;
use crate::request::{AnyRequest, Request};
use crate::state::{Granted, StateKind};

pub(super) fn apply(
    r: Request<Granted>,
    stored: &AuditRecord,
    after: Option<&AuditRecord>,
) -> Result<AnyRequest, BrokenRule> {
    let at = stored.at();
    match (stored.event(), stored.actor()) {
        (E::EngineerActed { action } | E::ActionRefused { action, .. }, Actor::Engineer(e)) => {
            settle(r.record_action(e, action.clone(), at), action_outcome)
        }
        (
            E::Completed
            | E::Refused {
                step: Step::Close, ..
            },
            Actor::Engineer(e),
        ) => settle(r.close(e, at), AnyRequest::from),
        (
            E::Revoked
            | E::Refused {
                step: Step::Revoke, ..
            },
            Actor::Approver(a),
        ) => settle(
            r.revoke_under(a, stored.signature(), &decision_answer(stored), at),
            AnyRequest::from,
        ),
        (E::AccessElapsed, Actor::System) => {
            moved_by_time(r, after, Refusal::AccessWindowEnded, late, |r| {
                match r.access(at) {
                    Access::Active(granted) => granted.into(),
                    Access::Ended(closed) => closed.into(),
                }
            })
        }
        _ => Err(not_legal(StateKind::Granted, stored)),
    }
}

/// The late action, closing or revocation that found the access window ended, taken again at
/// its own instant.
fn late(
    r: Request<Granted>,
    next: &AuditRecord,
) -> Result<Result<AnyRequest, BrokenRule>, Box<Request<Granted>>> {
    let late_at = next.at();
    match (next.event(), next.actor()) {
        (E::ActionRefused { action, .. }, Actor::Engineer(e)) => Ok(settle(
            r.record_action(e, action.clone(), late_at),
            action_outcome,
        )),
        (
            E::Refused {
                step: Step::Close, ..
            },
            Actor::Engineer(e),
        ) => Ok(settle(r.close(e, late_at), AnyRequest::from)),
        (
            E::Refused {
                step: Step::Revoke, ..
            },
            Actor::Approver(a),
        ) => Ok(settle(
            r.revoke_under(a, None, &Answer::designated(), late_at),
            AnyRequest::from,
        )),
        _ => Err(Box::new(r)),
    }
}
