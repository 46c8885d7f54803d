//! Forbidden: making a state value outside the crate, such as a `Granted` with an access window
//! of one's own choosing. Only the workflow's steps create states.
use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::{ApproverId, Granted};

fn forge(approver: ApproverId, now: DateTime<Utc>) -> Granted {
    Granted {
        granted_by: approver,
        granted_at: now,
        access_ends_at: now + TimeDelta::days(365),
    }
}

fn main() {}
