//! Forbidden: recording an engineer action on a request the customer has not granted.
//! Legal path: `pending.grant(..)?` returns `GrantOutcome`; in its `Granted` arm the
//! `Request<Granted>` has `record_action`.
use chrono::{DateTime, Utc};
use customer_lockbox::{EngineerAction, EngineerId, PendingCustomer, Request};

fn act_without_access(
    pending: Request<PendingCustomer>,
    engineer: &EngineerId,
    action: EngineerAction,
    now: DateTime<Utc>,
) {
    let _ = pending.record_action(engineer, action, now);
}

fn main() {}
