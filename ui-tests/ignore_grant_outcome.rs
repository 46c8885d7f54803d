//! Forbidden (with `deny(unused_must_use)`): dropping a grant's outcome. Whether access was
//! granted or the request expired, the outcome holds the request and its audit trail.
#![deny(unused_must_use)]

use chrono::{DateTime, Utc};
use customer_lockbox::{ApproverId, PendingCustomer, Refused, Request, TenantPolicy};

fn grant_and_forget(
    pending: Request<PendingCustomer>,
    approver: &ApproverId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) -> Result<(), Refused<Request<PendingCustomer>>> {
    pending.grant(approver, policy, now)?;
    Ok(())
}

fn main() {}
