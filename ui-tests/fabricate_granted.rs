//! Forbidden: a granted request that nobody granted. The crate's documentation once built its
//! examples' requests with a hidden public module that handed one out; nothing public does now.
//! A `Request<Granted>` comes from a grant, or from a load that replays one.
use customer_lockbox::{Granted, Request};

fn fabricate() -> Request<Granted> {
    let (granted, _policy, _now) = customer_lockbox::doc_support::granted().unwrap();
    granted
}

fn main() {}
