//! Replaying a step of a closed request: only an engineer's action, refused as late.

use super::{BrokenRule, settle};
use crate::audit::{Actor, AuditEvent as E, AuditRecord};
use crate::request::{AnyRequest, Request};
use crate::state::Closed;

pub(super) fn apply(r: Request<Closed>, stored: &AuditRecord) -> Result<AnyRequest, BrokenRule> {
    match (stored.event(), stored.actor()) {
        (E::ActionRefused { action, .. }, Actor::Engineer(e)) => settle(
            Err::<AnyRequest, _>(r.refuse_late_action(e, action.clone(), stored.at())),
            |request| request,
        ),
        _ => Err(BrokenRule::RecordAfterClose),
    }
}
