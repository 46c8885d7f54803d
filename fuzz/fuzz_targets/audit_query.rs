//! Audit query parameters, arbitrary: every query the public API can build (any tenant,
//! request, actor, kinds, instants of any year, cursors from JSON, page sizes) runs against the
//! SQLite store and the in-memory audit log over the same records; the store never panics and
//! returns exactly the log's pages.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::*;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Params {
    tenant: Option<u8>,
    request: Option<u8>,
    actor: Option<(u8, String)>,
    kinds: Vec<u8>,
    since: Option<i64>,
    before: Option<i64>,
    after: Option<(i64, u8, u64)>,
    page_size: u32,
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn tenant(n: u8) -> Option<TenantId> {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0x8b5a_0c4e_2f7d_4e4b_9a51_0000_0000_0000 | u128::from(n % 3),
    ))
    .ok()
}

fn request_id(n: u8) -> RequestId {
    let uuid =
        uuid::Uuid::from_u128((0x019a_b5c0_0000_7000_8000_0000_0000_0000u128) | u128::from(n % 8));
    RequestId::from_uuid(uuid).expect("a version 7 UUID")
}

/// An instant from seconds relative to the fixtures' start: any year chrono can hold.
fn instant(seconds: i64) -> DateTime<Utc> {
    TimeDelta::try_seconds(seconds)
        .and_then(|d| t0().checked_add_signed(d))
        .unwrap_or(t0())
}

/// The same records in a SQLite store and an in-memory log: three requests of two tenants,
/// through approval, notification, grant, actions and close, each step one store call.
async fn fixtures() -> (SqliteStore, AuditLog) {
    let store = SqliteStore::open_in_memory().await.expect("an in-memory store");
    let mut log = AuditLog::new();
    for n in 0..3u8 {
        let Some(tenant) = tenant(n) else { continue };
        let megan = ApproverId::new("megan@contoso.com").expect("valid");
        let policy = TenantPolicy::new(
            tenant,
            vec![DesignatedApprover::new(
                megan.clone(),
                EmailAddress::new("megan@contoso.com").expect("valid"),
            )],
        )
        .expect("valid");
        let alex = EngineerId::new("alex@support.vendor.example").expect("valid");
        let start = t0() + TimeDelta::minutes(i64::from(n) * 7);
        if store.policy(tenant).await.expect("read").is_none() {
            let adele = TenantAdminId::new("adele@contoso.com").expect("valid");
            // A policy change is at the store's clock: the target's instants are fixed ones.
            let at = t0() - TimeDelta::days(1);
            store.set_clock(ManualClock::new(at));
            store
                .set_policy(&adele, policy, at)
                .await
                .expect("policy set");
            store.use_own_clock();
        }
        let draft = Draft {
            id: request_id(n),
            tenant,
            service_request: ServiceRequestNumber::new("2611240010001234").expect("valid"),
            services: Services::one(Service::ExchangeOnline),
            access_duration: AccessDuration::from_hours(4).expect("valid"),
            justification: Justification::new("CFO mailbox").expect("valid"),
            engineer: alex.clone(),
        };
        let id = store.draft(draft, start).await.expect("drafted").id();
        let sam = SupportManagerId::new("sam").expect("valid");
        store.approve(id, &sam, start).await.expect("approved");
        store.notify(id, start).await.expect("notified");
        let granted = store
            .grant(id, &megan, start + TimeDelta::minutes(1))
            .await;
        let Ok(GrantOutcome::Granted(_)) = granted else {
            continue;
        };
        for k in 0..4 {
            let action = EngineerAction::new(
                Service::ExchangeOnline,
                Operation::new("Get-Mailbox").expect("valid"),
                Target::new(format!("mailbox {k}")).expect("valid"),
            );
            let report = store
                .record_actions(id, &alex, [action], start + TimeDelta::minutes(2 + k))
                .await
                .expect("recorded");
            assert!(report.is_all_recorded(), "{report:?}");
        }
        let closed = store
            .close(id, &alex, start + TimeDelta::minutes(9))
            .await
            .expect("closed");
        log.capture(closed.audit_trail());
    }
    (store, log)
}

struct Fixtures {
    runtime: tokio::runtime::Runtime,
    store: SqliteStore,
    log: AuditLog,
}

fn setup() -> Fixtures {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let (store, log) = runtime.block_on(fixtures());
    Fixtures {
        runtime,
        store,
        log,
    }
}

thread_local! {
    static FIXTURES: Fixtures = setup();
}

fn query(params: &Params) -> Option<AuditQuery> {
    let mut query = AuditQuery::new().page_size(PageSize::new(params.page_size % 8 + 1).ok()?);
    if let Some(n) = params.tenant {
        query = query.tenant(tenant(n)?);
    }
    if let Some(n) = params.request {
        query = query.request(request_id(n));
    }
    if let Some((role, id)) = &params.actor {
        let actor = match role % 4 {
            0 => Actor::System,
            1 => Actor::Engineer(EngineerId::new(id.as_str()).ok()?),
            2 => Actor::Approver(ApproverId::new(id.as_str()).ok()?),
            _ => Actor::SupportManager(SupportManagerId::new(id.as_str()).ok()?),
        };
        query = query.actor(actor);
    }
    for kind in &params.kinds {
        let all = AuditEventKind::ALL;
        query = query.kind(all[usize::from(*kind) % all.len()]);
    }
    if let Some(s) = params.since {
        query = query.since(instant(s));
    }
    if let Some(s) = params.before {
        query = query.before(instant(s));
    }
    if let Some((s, request, sequence)) = params.after {
        let cursor: AuditCursor = serde_json::from_value(serde_json::json!({
            "at": instant(s), "request": request_id(request), "sequence": sequence,
        }))
        .ok()?;
        query = query.after(cursor);
    }
    Some(query)
}

fuzz_target!(|params: Params| {
    let Some(query) = query(&params) else {
        return;
    };
    FIXTURES.with(|Fixtures { runtime, store, log }| {
        let (mut sql, mut memory) = (query.clone(), query.clone());
        // Follow cursors for a few pages on each side, comparing page by page.
        for _ in 0..4 {
            let from_store = runtime
                .block_on(store.search(&sql))
                .expect("a search of valid records succeeds");
            let from_log = log.search(&memory);
            assert_eq!(from_store, from_log, "{query:?}");
            match from_store.next {
                Some(cursor) => {
                    sql = sql.after(cursor);
                    memory = memory.after(cursor);
                }
                None => break,
            }
        }
    });
});
