//! Forbidden: adding a state. `State` is sealed: a request is always in one of the crate's five
//! states, so no foreign type can stand in for one, even one that claims to be `Granted`.
use customer_lockbox::{State, StateKind};

#[derive(Clone, Debug)]
struct SecretlyGranted;

impl State for SecretlyGranted {
    const KIND: StateKind = StateKind::Granted;
}

fn main() {}
