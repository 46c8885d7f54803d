//! Forbidden: adding a state. `State` is sealed: a request is always in one of the crate's five
//! states, so no foreign type can stand in for one.
use customer_lockbox::State;

#[derive(Debug)]
struct SecretlyGranted;

impl State for SecretlyGranted {
    const NAME: &'static str = "secretly granted";
}

fn main() {}
