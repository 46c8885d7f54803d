//! Forbidden: using a request again after a transition consumed it (here: approving a draft, then
//! rejecting the same draft). Each step takes the request by value and returns the next state.
//! Legal path: keep working with the value the step returned.
use chrono::{DateTime, Utc};
use customer_lockbox::{Drafted, Request, SupportManagerId};

fn decide_twice(drafted: Request<Drafted>, manager: &SupportManagerId, now: DateTime<Utc>) {
    let _approved = drafted.approve(manager, now);
    let _rejected = drafted.reject(manager, now);
}

fn main() {}
