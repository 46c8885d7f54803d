//! Forbidden: passing a support manager's id where a designated approver is required (here, to
//! deny). The manager decides for the vendor; only the customer's approvers decide for the
//! customer.
use chrono::{DateTime, Utc};
use customer_lockbox::{PendingCustomer, Request, SupportManagerId, TenantPolicy};

fn vendor_decides_for_customer(
    pending: Request<PendingCustomer>,
    manager: &SupportManagerId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) {
    let _ = pending.deny(manager, policy, now);
}

fn main() {}
