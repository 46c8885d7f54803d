//! Forbidden: withdrawing a request the customer already granted. Withdrawal is for requests
//! the customer has not granted yet; granted access ends with `close` (the engineer, after the
//! fix) or `revoke` (the customer).
use chrono::{DateTime, Utc};
use customer_lockbox::{EngineerId, Granted, Request};

fn withdraw_after_grant(granted: Request<Granted>, engineer: &EngineerId, now: DateTime<Utc>) {
    let _ = granted.withdraw(engineer, now);
}

fn main() {}
