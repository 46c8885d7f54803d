//! The SQL of every read a page is built from, written once for both backends: audit searches,
//! request listings and outbox views. Each is keyset-paginated over an index and asks for one
//! row more than the page, to know whether another page follows. Only the placeholders differ
//! between the engines (`?1` or `$1`).

use chrono::{DateTime, Datelike, Utc};

use super::columns::{AUDIT_COLUMNS, REQUEST_COLUMNS, Value, instant_text, list, uuid_text};
use super::reports::{OutboxAt, OutboxCursor, OutboxQuery, OutboxView};
use super::requests::{RequestFilter, RequestQuery};
use crate::audit::{AuditEventKind, AuditQuery};
use crate::values::{RequestId, TenantId};

/// A statement and its arguments.
#[derive(Clone, Debug)]
pub struct Sql {
    pub(crate) text: String,
    pub(crate) args: Vec<Value>,
}

/// The outbox columns a view or a request's outbox reads, in order.
pub(crate) const OUTBOX_COLUMNS: [&str; 8] = [
    "id",
    "request_id",
    "sequence",
    "kind",
    "status",
    "attempts",
    "last_error",
    "lease_until",
];

/// Builds the terms of a statement, numbering its placeholders.
struct Builder<'p> {
    placeholder: &'p dyn Fn(usize) -> String,
    terms: Vec<String>,
    args: Vec<Value>,
}

impl<'p> Builder<'p> {
    fn new(placeholder: &'p dyn Fn(usize) -> String) -> Self {
        Builder {
            placeholder,
            terms: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Binds `value`, returning its placeholder.
    fn arg(&mut self, value: Value) -> String {
        self.args.push(value);
        (self.placeholder)(self.args.len())
    }

    fn term(&mut self, term: String) {
        self.terms.push(term);
    }

    /// A condition no row meets.
    fn nothing(&mut self) {
        self.terms.push("1 = 0".to_owned());
    }

    fn filter(&self) -> String {
        if self.terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.terms.join(" AND "))
        }
    }

    fn limit(&mut self, page: u32) -> String {
        self.arg(Value::Int(i64::from(page) + 1))
    }
}

/// Where an instant falls against the years stored records can have (1970 to 9999): stored
/// instants' RFC 3339 text sorts in time order only within them, so a bound outside them is
/// decided here rather than compared as text.
enum Storable {
    Earlier,
    Within(String),
    Later,
}

fn storable(at: DateTime<Utc>) -> Storable {
    match at.year() {
        ..1970 => Storable::Earlier,
        1970..=9999 => Storable::Within(instant_text(at)),
        _ => Storable::Later,
    }
}

/// One page of an audit search: filters as `WHERE` terms, keyset pagination on
/// (at, request_id, sequence).
pub(crate) fn audit_search(query: &AuditQuery, placeholder: &dyn Fn(usize) -> String) -> Sql {
    let mut b = Builder::new(placeholder);
    if let Some(tenant) = query.tenant_filter() {
        let tenant = b.arg(Value::Text(uuid_text(tenant.as_uuid())));
        b.term(format!("tenant = {tenant}"));
    }
    if let Some(request) = query.request_filter() {
        let request = b.arg(Value::Text(uuid_text(request.as_uuid())));
        b.term(format!("request_id = {request}"));
    }
    if let Some(actor) = query.actor_filter() {
        let role = b.arg(Value::Text(actor.role().to_owned()));
        let id = b.arg(Value::Text(actor.id().to_owned()));
        b.term(format!("actor_role = {role} AND actor_id = {id}"));
    }
    if !query.kind_filter().is_empty() {
        let kinds: Vec<String> = query
            .kind_filter()
            .iter()
            .map(|kind: &AuditEventKind| b.arg(Value::Text(kind.as_str().to_owned())))
            .collect();
        b.term(format!("kind IN ({})", kinds.join(", ")));
    }
    if let Some(since) = query.since_filter() {
        match storable(since) {
            Storable::Earlier => {}
            Storable::Within(text) => {
                let at = b.arg(Value::Text(text));
                b.term(format!("at >= {at}"));
            }
            Storable::Later => b.nothing(),
        }
    }
    if let Some(before) = query.before_filter() {
        match storable(before) {
            Storable::Earlier => b.nothing(),
            Storable::Within(text) => {
                let at = b.arg(Value::Text(text));
                b.term(format!("at < {at}"));
            }
            Storable::Later => {}
        }
    }
    if let Some(cursor) = query.after_cursor() {
        match storable(cursor.at()) {
            Storable::Earlier => {}
            Storable::Within(text) => {
                let at = b.arg(Value::Text(text));
                let request = b.arg(Value::Text(uuid_text(cursor.request().as_uuid())));
                let sequence = b.arg(Value::int(cursor.sequence()));
                b.term(format!(
                    "(at, request_id, sequence) > ({at}, {request}, {sequence})"
                ));
            }
            Storable::Later => b.nothing(),
        }
    }
    let limit = b.limit(query.page_size_value().get());
    Sql {
        text: format!(
            "SELECT {} FROM audit {} ORDER BY at, request_id, sequence LIMIT {limit}",
            list(&AUDIT_COLUMNS),
            b.filter()
        ),
        args: b.args,
    }
}

/// The audit rows of `tenant` whose request has no row (at most `limit` of them, by request and
/// sequence): what is left in the log of a request whose row was deleted.
pub(crate) fn rows_of_missing_requests(
    tenant: TenantId,
    limit: u32,
    placeholder: &dyn Fn(usize) -> String,
) -> Sql {
    let mut b = Builder::new(placeholder);
    let tenant = b.arg(Value::Text(uuid_text(tenant.as_uuid())));
    b.term(format!("tenant = {tenant}"));
    b.term("NOT EXISTS (SELECT 1 FROM requests WHERE requests.id = audit.request_id)".to_owned());
    let limit = b.arg(Value::Int(i64::from(limit)));
    Sql {
        text: format!(
            "SELECT {} FROM audit {} ORDER BY request_id, sequence LIMIT {limit}",
            list(&AUDIT_COLUMNS),
            b.filter()
        ),
        args: b.args,
    }
}

/// One page of a request listing: newest first by when drafted, or soonest first by when due.
pub(crate) fn request_listing(query: &RequestQuery, placeholder: &dyn Fn(usize) -> String) -> Sql {
    let mut b = Builder::new(placeholder);
    let due = matches!(query.filter, RequestFilter::DueBefore(_));
    match &query.filter {
        RequestFilter::Tenant(tenant, state) => {
            let tenant = b.arg(Value::Text(uuid_text(tenant.as_uuid())));
            b.term(format!("tenant = {tenant}"));
            if let Some(state) = state {
                let state = b.arg(Value::Text(state.as_str().to_owned()));
                b.term(format!("state = {state}"));
            }
        }
        RequestFilter::Engineer(engineer) => {
            let engineer = b.arg(Value::Text(engineer.as_str().to_owned()));
            b.term(format!("engineer = {engineer}"));
        }
        RequestFilter::ServiceRequest(service_request) => {
            let sr = b.arg(Value::Text(service_request.as_str().to_owned()));
            b.term(format!("service_request = {sr}"));
        }
        RequestFilter::DueBefore(bound) => {
            b.term("due_at IS NOT NULL".to_owned());
            match storable(*bound) {
                Storable::Earlier => b.nothing(),
                Storable::Within(text) => {
                    let at = b.arg(Value::Text(text));
                    b.term(format!("due_at < {at}"));
                }
                Storable::Later => {}
            }
        }
    }
    let (key, order, after) = if due {
        ("due_at", "due_at, id", ">")
    } else {
        ("drafted_at", "drafted_at DESC, id DESC", "<")
    };
    if let Some(cursor) = &query.after {
        match storable(cursor.key) {
            Storable::Within(text) => {
                let at = b.arg(Value::Text(text));
                let id = b.arg(Value::Text(uuid_text(cursor.id.as_uuid())));
                b.term(format!("({key}, id) {after} ({at}, {id})"));
            }
            // A cursor outside the storable years comes from no page.
            Storable::Earlier | Storable::Later => b.nothing(),
        }
    }
    let limit = b.limit(query.page_size.get());
    Sql {
        text: format!(
            "SELECT {} FROM requests {} ORDER BY {order} LIMIT {limit}",
            list(&REQUEST_COLUMNS),
            b.filter()
        ),
        args: b.args,
    }
}

/// The row of request `id`, for its summary.
pub(crate) fn request_row(id: RequestId, placeholder: &dyn Fn(usize) -> String) -> Sql {
    let mut b = Builder::new(placeholder);
    let id = b.arg(Value::Text(uuid_text(id.as_uuid())));
    b.term(format!("id = {id}"));
    Sql {
        text: format!(
            "SELECT {} FROM requests {}",
            list(&REQUEST_COLUMNS),
            b.filter()
        ),
        args: b.args,
    }
}

/// One page of an outbox view, oldest first.
pub(crate) fn outbox_view(query: &OutboxQuery, placeholder: &dyn Fn(usize) -> String) -> Sql {
    let mut b = Builder::new(placeholder);
    b.term("status = 'pending'".to_owned());
    if query.view == OutboxView::Failed {
        b.term("last_error IS NOT NULL".to_owned());
    }
    match &query.after {
        Some(OutboxCursor(OutboxAt::Request(row))) => {
            let id = b.arg(Value::Int(*row));
            b.term(format!("id > {id}"));
        }
        // Past every request message: this part of the view is done.
        Some(OutboxCursor(OutboxAt::Policy { .. })) => b.nothing(),
        None => {}
    }
    let limit = b.limit(query.page_size.get());
    Sql {
        text: format!(
            "SELECT {} FROM outbox {} ORDER BY id LIMIT {limit}",
            list(&OUTBOX_COLUMNS),
            b.filter()
        ),
        args: b.args,
    }
}

/// The policy-change messages of an outbox view, after the requests' (by tenant, then
/// version), as `tenant, version, status, attempts, last_error, lease_until`.
pub(crate) fn policy_outbox_view(
    query: &OutboxQuery,
    placeholder: &dyn Fn(usize) -> String,
) -> Sql {
    let mut b = Builder::new(placeholder);
    b.term("status = 'pending'".to_owned());
    if query.view == OutboxView::Failed {
        b.term("last_error IS NOT NULL".to_owned());
    }
    if let Some(OutboxCursor(OutboxAt::Policy { tenant, version })) = &query.after {
        // Numbered placeholders: the tenant's is bound once and used twice, on both engines.
        let tenant = b.arg(Value::Text(uuid_text(tenant.as_uuid())));
        let version = b.arg(Value::Int(i64::from(*version)));
        b.term(format!(
            "(tenant > {tenant} OR (tenant = {tenant} AND version > {version}))"
        ));
    }
    let limit = b.limit(query.page_size.get());
    Sql {
        text: format!(
            "SELECT tenant, version, status, attempts, last_error, lease_until FROM policy_outbox \
             {} ORDER BY tenant, version LIMIT {limit}",
            b.filter()
        ),
        args: b.args,
    }
}

/// The outbox entries of one request, in the order of their causes.
pub(crate) fn request_outbox(request: &str, placeholder: &dyn Fn(usize) -> String) -> Sql {
    let mut b = Builder::new(placeholder);
    let id = b.arg(Value::Text(request.to_owned()));
    Sql {
        text: format!(
            "SELECT {} FROM outbox WHERE request_id = {id} ORDER BY sequence",
            list(&OUTBOX_COLUMNS)
        ),
        args: b.args,
    }
}
