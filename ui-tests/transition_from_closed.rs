//! Forbidden: any transition out of `Closed`. A closed request is final: it can tell why and
//! when it closed (`reason`, `closed_at`), and nothing else.
use chrono::{DateTime, Utc};
use customer_lockbox::{ApproverId, Closed, EngineerId, Request, SupportManagerId, TenantPolicy};

fn reopen(
    closed: Request<Closed>,
    engineer: &EngineerId,
    manager: &SupportManagerId,
    approver: &ApproverId,
    policy: &TenantPolicy,
    now: DateTime<Utc>,
) {
    let _ = closed.approve(manager, now);
    let _ = closed.notify(policy, now);
    let _ = closed.grant(approver, policy, now);
    let _ = closed.revoke(approver, policy, now);
    let _ = closed.close(engineer, now);
    let _ = closed.withdraw(engineer, now);
}

fn main() {}
