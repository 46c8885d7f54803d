//! `lockbox requests` and `lockbox show`.

use std::collections::HashMap;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use customer_lockbox::{
    AnyRequest, ApproverId, AuditRecord, Backend, EngineerId, Justification, PageSize,
    RequestCursor, RequestId, RequestQuery, RequestSummary, ServiceRequestNumber, Services,
    StateKind, Store, TenantId,
};
use serde::Serialize;

use crate::cli::RequestsArgs;
use crate::failure::Failure;
use crate::print::{Output, instant, or_dash};

/// Lists requests, a page (or every page) at a time.
pub async fn list<B: Backend>(
    store: &Store<B>,
    args: RequestsArgs,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let mut query = if let Some(tenant) = args.tenant {
        let query = RequestQuery::tenant(tenant);
        match args.state {
            Some(state) => query.state(state),
            None => query,
        }
    } else if let Some(engineer) = args.engineer {
        RequestQuery::engineer(engineer)
    } else if let Some(number) = args.service_request {
        RequestQuery::service_request(number)
    } else if let Some(instant) = args.due_before {
        RequestQuery::due_before(instant)
    } else {
        return Err(Failure::usage(
            "say which requests: --tenant, --engineer, --service-request or --due-before",
        ));
    };
    query = query.page_size(PageSize::new(args.pages.page_size).map_err(Failure::usage)?);
    if let Some(cursor) = args.after {
        query = query.after(cursor);
    }
    let mut requests = Vec::new();
    let next = store
        .pages(query, |page| {
            requests.extend(page);
            args.pages.all
        })
        .await?;
    if out.json() {
        out.json_of(&Listing {
            requests: &requests,
            next,
        });
    } else {
        out.table(
            &[
                "REQUEST",
                "TENANT",
                "SERVICE REQUEST",
                "SERVICES",
                "ENGINEER",
                "STATE",
                "DRAFTED",
                "DUE",
            ],
            requests.iter().map(|r| {
                [
                    r.id.to_string(),
                    r.tenant.to_string(),
                    r.service_request.to_string(),
                    r.services.to_string(),
                    r.engineer.to_string(),
                    r.state.to_string(),
                    instant(r.drafted_at),
                    or_dash(r.due_at.map(instant)),
                ]
            }),
            "no requests",
        );
        if let Some(cursor) = next {
            eprintln!("more requests: add --after {cursor} for the next page, or --all");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A list of requests, as `--json` prints it.
#[derive(Serialize)]
struct Listing<'a> {
    requests: &'a [RequestSummary],
    /// Where the next page starts, if one follows.
    next: Option<RequestCursor>,
}

/// A request and its trail, as `show --json` prints it: its content, what time does to it
/// next (or did last), and each record with its log position.
#[derive(Serialize)]
struct Shown<'a> {
    id: RequestId,
    tenant: TenantId,
    state: StateKind,
    service_request: &'a ServiceRequestNumber,
    services: &'a Services,
    engineer: &'a EngineerId,
    access_duration_minutes: u32,
    justification: &'a Justification,
    drafted_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decide_by: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access: Option<Window>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closed: Option<Closing>,
    trail: Vec<Entry<'a>>,
}

/// When a request had access, and who granted it.
#[derive(Serialize)]
struct Window {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    granted_by: ApproverId,
}

/// When a request closed, and why.
#[derive(Serialize)]
struct Closing {
    at: DateTime<Utc>,
    reason: String,
}

/// A record of the trail with its place in the tenant's log.
#[derive(Serialize)]
struct Entry<'a> {
    sequence: u64,
    log_position: Option<u64>,
    text: String,
    record: &'a AuditRecord,
}

/// Shows one request and its trail.
pub async fn show<B: Backend>(
    store: &Store<B>,
    id: RequestId,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let request = store.load(id).await?;
    let positions: HashMap<u64, u64> = store.log_positions(id).await?.into_iter().collect();
    let (decide_by, access, closed) = match &request {
        AnyRequest::PendingCustomer(pending) => (Some(pending.decision_deadline()), None, None),
        AnyRequest::Granted(granted) => {
            let window = Window {
                from: granted.granted_at(),
                until: granted.access_ends_at(),
                granted_by: granted.granted_by().clone(),
            };
            (None, Some(window), None)
        }
        AnyRequest::Closed(closed) => {
            let window = closed.had_access().map(|(from, until, by)| Window {
                from,
                until,
                granted_by: by.clone(),
            });
            let closing = Closing {
                at: closed.closed_at(),
                reason: closed.reason().to_string(),
            };
            (None, window, Some(closing))
        }
        _ => (None, None, None),
    };
    let trail = request.audit_trail();
    let shown = Shown {
        id: request.id(),
        tenant: request.tenant(),
        state: request.state(),
        service_request: request.service_request(),
        services: request.services(),
        engineer: request.engineer(),
        access_duration_minutes: request.access_duration().minutes(),
        justification: request.justification(),
        drafted_at: request.drafted_at(),
        decide_by,
        access,
        closed,
        trail: trail
            .iter()
            .map(|record| Entry {
                sequence: record.sequence(),
                log_position: positions.get(&record.sequence()).copied(),
                text: record.to_string(),
                record,
            })
            .collect(),
    };
    if out.json() {
        out.json_of(&shown);
        return Ok(ExitCode::SUCCESS);
    }
    let mut fields = vec![
        ("Request", shown.id.to_string()),
        ("Tenant", shown.tenant.to_string()),
        ("State", shown.state.to_string()),
        ("Service request", shown.service_request.to_string()),
        ("Services", shown.services.to_string()),
        ("Engineer", shown.engineer.to_string()),
        ("Access asked", request.access_duration().to_string()),
        ("Justification", shown.justification.to_string()),
        ("Drafted", instant(shown.drafted_at)),
    ];
    if let Some(deadline) = shown.decide_by {
        fields.push(("Decide by", instant(deadline)));
    }
    if let Some(window) = &shown.access {
        fields.push((
            "Access",
            format!(
                "{} until {} (granted by {})",
                instant(window.from),
                instant(window.until),
                window.granted_by
            ),
        ));
    }
    if let Some(closing) = &shown.closed {
        fields.push((
            "Closed",
            format!("{} ({})", instant(closing.at), closing.reason),
        ));
    }
    out.fields(&fields);
    out.line("");
    out.line(&format!(
        "Audit trail ({} records; log entry in brackets):",
        shown.trail.len()
    ));
    for entry in &shown.trail {
        let position = or_dash(entry.log_position.map(|p| p.to_string()));
        out.line(&format!("  [{position}] {}", entry.text));
    }
    Ok(ExitCode::SUCCESS)
}
