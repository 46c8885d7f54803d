//! Forbidden: notifying the customer about a draft no support manager has approved.
//! Legal path: `drafted.approve(&manager, now)?` returns `Request<ManagerApproved>`, which has
//! `notify`.
use chrono::{DateTime, Utc};
use customer_lockbox::{Drafted, Request, TenantPolicy};

fn skip_the_manager(drafted: Request<Drafted>, policy: &TenantPolicy, now: DateTime<Utc>) {
    let _ = drafted.notify(policy, now);
}

fn main() {}
