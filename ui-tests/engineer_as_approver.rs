//! Forbidden: passing an engineer's id where a designated approver is required. The roles have
//! distinct id types; only an `ApproverId` can grant.
use chrono::{DateTime, Utc};
use customer_lockbox::{EngineerId, PendingCustomer, Request, TenantPolicy};

fn self_grant(
    pending: Request<PendingCustomer>,
    engineer: &EngineerId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) {
    let _ = pending.grant(engineer, policy, now);
}

fn main() {}
