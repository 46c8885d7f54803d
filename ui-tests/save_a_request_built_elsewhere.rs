//! Forbidden: handing a store a request moved outside it. The store executes the steps itself,
//! on the request as it holds it (`store.grant(id, ...)`), so a request loaded from an edited
//! record, or from another store, can never be written onto a stored trail.
use customer_lockbox::{Granted, Request, SqliteStore};

async fn smuggle(store: &SqliteStore, mut forged: Request<Granted>) {
    let _ = store.save(&mut forged).await;
}

fn main() {}
