//! Forbidden: granting a request whose approvers were never notified.
//! Legal path: `approved.notify(&policy, now)?` returns `(Request<PendingCustomer>, Notification)`;
//! send the notification, then a designated approver grants the pending request.
use chrono::{DateTime, Utc};
use customer_lockbox::{ApproverId, ManagerApproved, Request, TenantPolicy};

fn skip_the_notification(
    approved: Request<ManagerApproved>,
    approver: &ApproverId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) {
    let _ = approved.grant(approver, policy, now);
}

fn main() {}
