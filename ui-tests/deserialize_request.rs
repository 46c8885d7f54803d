//! Forbidden: deserializing straight into a request, which would skip every workflow rule.
//! Stored requests are loaded by the store, which checks that the workflow could have produced
//! them.
use customer_lockbox::{Granted, Request};

fn load(json: &str) -> Request<Granted> {
    serde_json::from_str::<Request<Granted>>(json).unwrap()
}

fn main() {}
