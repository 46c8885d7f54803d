//! Forbidden: building a request outside the crate. A request exists only through
//! `Request::draft` and the workflow's steps (or a validated load in the store), so its fields
//! are private.
use chrono::{DateTime, Utc};
use customer_lockbox::{Draft, Request, State};

fn forge<S: State>(draft: Draft, now: DateTime<Utc>, state: S) -> Request<S> {
    Request {
        id: draft.id,
        tenant: draft.tenant,
        service_request: draft.service_request,
        services: draft.services,
        access_duration: draft.access_duration,
        justification: draft.justification,
        engineer: draft.engineer,
        drafted_at: now,
        trail: Vec::new(),
        state,
    }
}

fn main() {}
