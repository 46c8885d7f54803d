//! Forbidden: recording an engineer action after the request closed. Access ended with the
//! close; a new need means a new request.
use chrono::{DateTime, Utc};
use customer_lockbox::{Closed, EngineerAction, EngineerId, Request};

fn act_after_close(
    closed: Request<Closed>,
    engineer: &EngineerId,
    action: EngineerAction,
    now: DateTime<Utc>,
) {
    let _ = closed.record_action(engineer, action, now);
}

fn main() {}
