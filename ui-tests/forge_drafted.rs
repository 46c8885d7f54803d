//! Forbidden: making even the simplest state, `Drafted`, outside the crate. A state value on its
//! own is useless, but it would let code pretend a draft exists; the marker is non-exhaustive.
use customer_lockbox::Drafted;

fn forge() -> Drafted {
    Drafted
}

fn main() {}
