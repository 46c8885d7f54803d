//! Checking a replayed trail against the tenant's policy history: what replay alone cannot
//! show, because a trail records what the policy answered, not what the policy was.

use std::collections::BTreeSet;

use super::{BrokenRule, RecordError};
use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::policy::{PolicyHistory, TenantPolicy};
use crate::values::{AccessDuration, ApproverId, Person, RequestId};

/// Checks each step of a trail that depended on the tenant's policy against the version in
/// force at its instant:
///
/// - a draft asked for no more than that version's maximum;
/// - a notification notified exactly its designated approvers, requires its number of
///   approvals, and set its decision window (and the requested access was within its maximum
///   then too);
/// - an approver who granted, approved, denied or revoked was designated at that instant, and
///   was either notified or designated only since the notification (an approver added later
///   was told by the policy change's own message).
///
/// Steps before the tenant's first stored policy are checked by replay alone: they come from a
/// store that kept no policies (record format 1).
pub(super) fn check(
    id: RequestId,
    history: &PolicyHistory,
    trail: &[AuditRecord],
) -> Result<(), RecordError> {
    let fail =
        |record: &AuditRecord, rule| Err(RecordError::new(Some(id), Some(record.sequence()), rule));
    let mut requested: Option<AccessDuration> = None;
    let mut notified: Option<(BTreeSet<&ApproverId>, Option<&TenantPolicy>)> = None;
    for record in trail {
        let in_force = history.in_force_at(record.at()).map(|c| c.after());
        match (record.event(), record.actor()) {
            (
                AuditEvent::Drafted {
                    access_duration, ..
                },
                _,
            ) => {
                requested = Some(*access_duration);
                if let Some(policy) = in_force
                    && *access_duration > policy.max_access_duration()
                {
                    return fail(record, BrokenRule::DraftOverPolicyMaximum);
                }
            }
            (
                AuditEvent::ApproversNotified {
                    approvers,
                    decision_deadline,
                    approvals_required,
                },
                _,
            ) => {
                if let Some(policy) = in_force {
                    let designated: Vec<&ApproverId> =
                        policy.approvers().iter().map(|a| a.id()).collect();
                    let agrees = approvers.iter().collect::<Vec<_>>() == designated
                        && *approvals_required == policy.approvals_required()
                        && decision_deadline.signed_duration_since(record.at())
                            == policy.decision_window().as_time_delta()
                        && requested.is_none_or(|d| d <= policy.max_access_duration());
                    if !agrees {
                        return fail(record, BrokenRule::NotificationDisagreesWithPolicy);
                    }
                }
                notified = Some((approvers.iter().collect(), in_force));
            }
            (
                AuditEvent::Approved { .. }
                | AuditEvent::Granted { .. }
                | AuditEvent::Denied
                | AuditEvent::Revoked,
                Actor::Approver(approver),
            ) => {
                let Some(policy) = in_force else {
                    // Before the first stored policy: nothing to check against.
                    continue;
                };
                let was_told = notified.as_ref().is_none_or(|(told, then)| {
                    told.iter().any(|t| t.is_same_person_as(approver))
                        || then.is_none_or(|p| !p.designates(approver))
                });
                if !policy.designates(approver) || !was_told {
                    return fail(record, BrokenRule::NotDesignatedAtDecision);
                }
            }
            _ => {}
        }
    }
    Ok(())
}
