//! `lockbox requests` and `lockbox show`.

use std::collections::HashMap;
use std::process::ExitCode;

use customer_lockbox::{AnyRequest, PageSize, RequestId, RequestQuery, RequestSummary};
use customer_lockbox::{Backend, Store};
use serde_json::{Value, json};

use crate::cli::RequestsArgs;
use crate::failure::Failure;
use crate::print::{Output, instant, or_dash, rfc3339};

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
        out.json_value(&json!({
            "requests": requests.iter().map(summary_json).collect::<Vec<_>>(),
            "next": next.map(|cursor| cursor.to_string()),
        }));
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

fn summary_json(r: &RequestSummary) -> Value {
    json!({
        "id": r.id.to_string(),
        "tenant": r.tenant.to_string(),
        "service_request": r.service_request.to_string(),
        "services": r.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "engineer": r.engineer.to_string(),
        "state": r.state.as_str(),
        "drafted_at": rfc3339(r.drafted_at),
        "due_at": r.due_at.map(rfc3339),
    })
}

/// Shows one request and its trail.
pub async fn show<B: Backend>(
    store: &Store<B>,
    id: RequestId,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let request = store.load(id).await?;
    let positions: HashMap<u64, u64> = store.log_positions(id).await?.into_iter().collect();
    let (service_request, services, duration, justification, engineer, drafted_at) = (
        request.service_request().to_string(),
        request.services().clone(),
        request.access_duration(),
        request.justification().to_string(),
        request.engineer().to_string(),
        request.drafted_at(),
    );
    // What time does to it next, or did last.
    let mut timing: Vec<(&str, String, Value)> = Vec::new();
    match &request {
        AnyRequest::PendingCustomer(pending) => {
            let deadline = pending.decision_deadline();
            timing.push((
                "Decide by",
                instant(deadline),
                json!({ "decide_by": rfc3339(deadline) }),
            ));
        }
        AnyRequest::Granted(granted) => {
            let (from, until) = (granted.granted_at(), granted.access_ends_at());
            timing.push((
                "Access",
                format!("{} until {} (granted by {})", instant(from), instant(until), granted.granted_by()),
                json!({ "access": { "from": rfc3339(from), "until": rfc3339(until), "granted_by": granted.granted_by().to_string() } }),
            ));
        }
        AnyRequest::Closed(closed) => {
            if let Some((from, until, by)) = closed.had_access() {
                timing.push((
                    "Access",
                    format!("{} until {} (granted by {by})", instant(from), instant(until)),
                    json!({ "access": { "from": rfc3339(from), "until": rfc3339(until), "granted_by": by.to_string() } }),
                ));
            }
            timing.push((
                "Closed",
                format!("{} ({})", instant(closed.closed_at()), closed.reason()),
                json!({ "closed": { "at": rfc3339(closed.closed_at()), "reason": closed.reason().to_string() } }),
            ));
        }
        _ => {}
    }
    let trail = request.audit_trail();
    if out.json() {
        let mut value = json!({
            "id": request.id().to_string(),
            "tenant": request.tenant().to_string(),
            "state": request.state().as_str(),
            "service_request": service_request,
            "services": services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "engineer": engineer,
            "access_duration_minutes": duration.minutes(),
            "justification": justification,
            "drafted_at": rfc3339(drafted_at),
            "trail": trail.iter().map(|record| json!({
                "sequence": record.sequence(),
                "log_position": positions.get(&record.sequence()),
                "text": record.to_string(),
                "record": record,
            })).collect::<Vec<_>>(),
        });
        for (_, _, extra) in timing {
            if let (Some(object), Value::Object(extra)) = (value.as_object_mut(), extra) {
                object.extend(extra);
            }
        }
        out.json_value(&value);
        return Ok(ExitCode::SUCCESS);
    }
    let mut fields = vec![
        ("Request", request.id().to_string()),
        ("Tenant", request.tenant().to_string()),
        ("State", request.state().to_string()),
        ("Service request", service_request),
        ("Services", services.to_string()),
        ("Engineer", engineer),
        ("Access asked", duration.to_string()),
        ("Justification", justification),
        ("Drafted", instant(drafted_at)),
    ];
    fields.extend(timing.into_iter().map(|(label, text, _)| (label, text)));
    out.fields(&fields);
    out.line("");
    out.line(&format!(
        "Audit trail ({} records; log entry in brackets):",
        trail.len()
    ));
    for record in trail {
        let position = or_dash(positions.get(&record.sequence()).map(u64::to_string));
        out.line(&format!("  [{position}] {record}"));
    }
    Ok(ExitCode::SUCCESS)
}
