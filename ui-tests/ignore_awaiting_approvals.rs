//! Forbidden: forgetting the two-person rule. Under a tenant policy that requires several
//! approvals, a grant that is not the last one needed is `AwaitingApprovals`: the approval is
//! recorded, but nobody has access yet. A match that only knows `Granted` and `Expired` does
//! not compile.
//! Legal path: handle `GrantOutcome::AwaitingApprovals { pending, remaining }` too (tell the
//! approver how many more must grant, and keep the pending request).
use chrono::{DateTime, Utc};
use customer_lockbox::{
    ApproverId, GrantOutcome, PendingCustomer, Refused, Request, TenantPolicy,
};

fn grant(
    pending: Request<PendingCustomer>,
    approver: &ApproverId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) -> Result<(), Refused<Request<PendingCustomer>>> {
    match pending.grant(approver, policy, now)? {
        GrantOutcome::Granted(granted) => println!("access until {}", granted.access_ends_at()),
        GrantOutcome::Expired(closed) => println!("no access: {}", closed.reason()),
    }
    Ok(())
}

fn main() {}
