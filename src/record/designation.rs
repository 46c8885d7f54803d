//! Checking a replayed trail against the tenant's policy history: what replay alone cannot
//! show, because a trail records what the policy answered, not what the policy was.

use chrono::{DateTime, Utc};

use super::signatures::SignedTrail;
use super::{BrokenRule, RecordError};
use crate::audit::{Actor, AuditEvent, AuditRecord};
use crate::policy::{PolicyHistory, TenantPolicy};
use crate::values::{AccessDuration, ApproverId, Person, RequestId};

/// What becomes of steps taken when the tenant had no policy at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BeforePolicies {
    /// Refused: nobody was designated (a record of this build's format).
    Refused,
    /// Checked by replay alone: a record of format 1, written by a store that kept no policies.
    Replayed,
}

/// What the check has seen of the request so far.
#[derive(Default)]
struct Seen<'a> {
    /// The access asked for.
    requested: Option<AccessDuration>,
    /// The last notification: when, whom it told, how many approvals it asked for, and the
    /// policy in force then.
    notified: Option<Notified<'a>>,
    /// The approvals given since that notification, in order.
    approvals: Vec<&'a ApproverId>,
    /// When access was granted.
    granted_at: Option<DateTime<Utc>>,
}

struct Notified<'a> {
    at: DateTime<Utc>,
    told: &'a [ApproverId],
    required: u32,
    under: Option<&'a TenantPolicy>,
}

/// Checks each step of a trail that depended on the tenant's policy against the history:
///
/// - a draft asked for no more than the maximum of the version in force then;
/// - a notification notified exactly that version's designated approvers, requires its number
///   of approvals, and set its decision window (and the requested access was within its
///   maximum then too);
/// - an approver who approved or granted was designated at that instant, and was either
///   notified or designated only since the notification (an approver added later was told by
///   the policy change's own message); and the approvals it counted were exactly the earlier
///   ones of approvers designated at that instant (a removed approver's approval no longer
///   counts);
/// - an approver who revoked was designated at the grant or at some time during the access
///   (taking access away never waits for a policy), and one who denied at some time while the
///   request was pending;
/// - nothing was notified or decided when the tenant had no policy at all: nobody was
///   designated (`before_policies` says how a record of format 1, from a store that kept no
///   policies, is read instead);
/// - a grant or an approval under a version that lists keys is signed, and every signature a
///   decision keeps verifies over its statement by a key of its approver: for a grant or an
///   approval, in the version in force at that instant; for a denial or a revocation, in any
///   version that lets them take it.
pub(super) fn check(
    id: RequestId,
    history: &PolicyHistory,
    trail: &[AuditRecord],
    before_policies: BeforePolicies,
) -> Result<(), RecordError> {
    let fail =
        |record: &AuditRecord, rule| Err(RecordError::new(Some(id), Some(record.sequence()), rule));
    let mut seen = Seen::default();
    let mut signed = SignedTrail::default();
    for record in trail {
        if let Err(rule) = signed.next(record, None, history, None) {
            return fail(record, rule);
        }
        let in_force = history.in_force_at(record.at()).map(|c| c.after());
        let decision = matches!(
            record.event(),
            AuditEvent::ApproversNotified { .. }
                | AuditEvent::Approved { .. }
                | AuditEvent::Granted { .. }
                | AuditEvent::Denied
                | AuditEvent::Revoked
        );
        // With no version in force at a decision, none was in force before it either (a
        // history only grows): not even a revocation or a denial, which may rest on an
        // earlier version (below), has one to rest on.
        if decision && in_force.is_none() && before_policies == BeforePolicies::Refused {
            return fail(record, BrokenRule::NoPolicyInForce);
        }
        match (record.event(), record.actor()) {
            (
                AuditEvent::Drafted {
                    access_duration, ..
                },
                _,
            ) => {
                seen.requested = Some(*access_duration);
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
                        && seen
                            .requested
                            .is_none_or(|d| d <= policy.max_access_duration());
                    if !agrees {
                        return fail(record, BrokenRule::NotificationDisagreesWithPolicy);
                    }
                }
                seen.notified = Some(Notified {
                    at: record.at(),
                    told: approvers,
                    required: *approvals_required,
                    under: in_force,
                });
                seen.approvals.clear();
            }
            (
                event @ (AuditEvent::Approved { .. } | AuditEvent::Granted { .. }),
                Actor::Approver(approver),
            ) => {
                if let Some(policy) = in_force {
                    let was_told = seen.notified.as_ref().is_none_or(|notified| {
                        notified.told.iter().any(|t| t.is_same_person_as(approver))
                            || notified.under.is_none_or(|then| !then.designates(approver))
                    });
                    if !policy.designates(approver) || !was_told {
                        return fail(record, BrokenRule::NotDesignatedAtDecision);
                    }
                    // Only the approvals of approvers designated now count, this one included.
                    let required = seen.notified.as_ref().map_or(1, |n| n.required);
                    let counted = seen
                        .approvals
                        .iter()
                        .filter(|earlier| policy.designates(earlier))
                        .count();
                    let left = u32::try_from(counted + 1)
                        .map_or(0, |counted| required.saturating_sub(counted));
                    let agrees = match event {
                        AuditEvent::Approved { remaining } => *remaining == left && left > 0,
                        _ => left == 0,
                    };
                    if !agrees {
                        return fail(record, BrokenRule::ApprovalsMiscounted);
                    }
                }
                if matches!(event, AuditEvent::Granted { .. }) {
                    seen.granted_at = Some(record.at());
                }
                seen.approvals.push(approver);
            }
            (event @ (AuditEvent::Denied | AuditEvent::Revoked), Actor::Approver(approver)) => {
                // Taking access away never waits for a policy: anyone designated at some time
                // since the grant (a revocation) or the notification (a denial) may.
                let since = match event {
                    AuditEvent::Revoked => seen.granted_at,
                    _ => seen.notified.as_ref().map(|n| n.at),
                }
                .unwrap_or(record.at());
                let mut versions = history.in_force_during(since, record.at()).peekable();
                if versions.peek().is_none() {
                    // Before the first stored policy (format 1): replay alone.
                    continue;
                }
                if !versions.any(|change| change.after().designates(approver)) {
                    return fail(record, BrokenRule::NotDesignatedAtDecision);
                }
            }
            _ => {}
        }
    }
    Ok(())
}
