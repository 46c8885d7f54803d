//! Forbidden: the customer granting a draft (skipping manager approval and the notification).
//! Legal path: `approve`, then `notify`, then `grant` on `Request<PendingCustomer>`.
use chrono::{DateTime, Utc};
use customer_lockbox::{ApproverId, Drafted, Request, TenantPolicy};

fn skip_the_manager(
    drafted: Request<Drafted>,
    approver: &ApproverId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) {
    let _ = drafted.grant(approver, policy, now);
}

fn main() {}
