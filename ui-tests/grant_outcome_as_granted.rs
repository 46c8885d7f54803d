//! Forbidden: treating a grant as certain. `grant` returns a `GrantOutcome`, which is `Expired`
//! when the decision came at or after the deadline; the caller must match on it.
//! Legal path: `match pending.grant(..)? { GrantOutcome::Granted(g) => .., GrantOutcome::AwaitingApprovals { .. } => .., GrantOutcome::Expired(c) => .. }`
use chrono::{DateTime, Utc};
use customer_lockbox::{ApproverId, Granted, PendingCustomer, Refused, Request, TenantPolicy};

fn assume_granted(
    pending: Request<PendingCustomer>,
    approver: &ApproverId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) -> Result<Request<Granted>, Refused<Request<PendingCustomer>>> {
    let granted: Request<Granted> = pending.grant(approver, policy, now)?;
    Ok(granted)
}

fn main() {}
