//! Forbidden: cloning a request. A copy could be granted while the original is closed, or two
//! copies could each record half of the audit trail. There is exactly one of each request.
use customer_lockbox::{Granted, Request};

fn duplicate(granted: Request<Granted>) -> (Request<Granted>, Request<Granted>) {
    let copy: Request<Granted> = Clone::clone(&granted);
    (granted, copy)
}

fn main() {}
