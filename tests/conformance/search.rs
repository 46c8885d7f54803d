//! Audit search over SQL (keyset pages equal to the in-memory log's, indexes for every
//! shape), JSON Lines export, and the request listings and outbox views pages are built from.

use chrono::TimeDelta;
use customer_lockbox::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::common::runs::{Try, play_in, run_strategy};
use crate::common::*;
use crate::harness::Db;

/// Plays `runs` through a fresh store (request `n` for the `n`th run), and captures the stored
/// requests in an in-memory log.
async fn both<D: Db>(runs: &[Vec<(Try, i64)>]) -> (D, Store<D::Backend>, AuditLog) {
    let db = D::create().await;
    let store = db.open().await;
    for (n, run) in runs.iter().enumerate() {
        let _ = play_in(&store, n as u128 + 1, run).await;
    }
    (db, store.clone(), log_of(&store, runs.len()).await)
}

/// The requests 1 to `count` of `store`, in an in-memory log.
async fn log_of<B: Backend>(store: &Store<B>, count: usize) -> AuditLog {
    let mut log = AuditLog::new();
    for n in 1..=count as u128 {
        log.capture(store.load(request_id(n)).await.unwrap().audit_trail());
    }
    log
}

fn query_strategy() -> impl Strategy<Value = AuditQuery> {
    let kinds = prop::sample::subsequence(AuditEventKind::ALL.to_vec(), 0..3);
    let actors = prop::sample::select(vec![
        None,
        Some(Actor::Engineer(alex())),
        Some(Actor::System),
        Some(Actor::Approver(megan())),
        Some(Actor::SupportManager(sam())),
    ]);
    (
        any::<bool>(),
        prop::option::of(1..4u128),
        actors,
        kinds,
        prop::option::of(0..48i64),
        prop::option::of(0..48i64),
        1..7u32,
    )
        .prop_map(|(tenant, request, actor, kinds, since, before, size)| {
            let mut q = AuditQuery::new().page_size(PageSize::new(size).unwrap());
            if tenant {
                q = q.tenant(contoso());
            }
            if let Some(n) = request {
                q = q.request(request_id(n));
            }
            if let Some(actor) = actor {
                q = q.actor(actor);
            }
            for kind in kinds {
                q = q.kind(kind);
            }
            if let Some(h) = since {
                q = q.since(at(TimeDelta::minutes(h * 30)));
            }
            if let Some(h) = before {
                q = q.before(at(TimeDelta::minutes(h * 30)));
            }
            q
        })
}

/// Every page of `query` from the store, following cursors.
async fn store_pages<B: Backend>(store: &Store<B>, query: &AuditQuery) -> Vec<Vec<AuditRecord>> {
    let mut pages = Vec::new();
    let mut query = query.clone();
    loop {
        let page = store.search(&query).await.unwrap();
        pages.push(page.records);
        match page.next {
            // Through the cursor's text form, as a client (or `lockbox audit search`) hands
            // it back: it must resume exactly where the page ended.
            Some(cursor) => query = query.after(cursor.to_string().parse().unwrap()),
            None => return pages,
        }
    }
}

/// Every page of `query` from the in-memory log, following cursors.
fn log_pages(log: &AuditLog, query: &AuditQuery) -> Vec<Vec<AuditRecord>> {
    let mut pages = Vec::new();
    let mut query = query.clone();
    loop {
        let page = log.search(&query);
        pages.push(page.records);
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return pages,
        }
    }
}

/// The SQL search returns exactly the pages the in-memory log returns, for any three random
/// runs and any queries: 24 random cases (deterministic), each on a fresh database.
pub async fn search_pages_match_the_in_memory_log<D: Db>() {
    let mut runner = TestRunner::deterministic();
    let cases = (
        run_strategy(),
        run_strategy(),
        run_strategy(),
        prop::collection::vec(query_strategy(), 1..6),
    );
    for case in 0..24 {
        let (a, b, c, queries) = cases.new_tree(&mut runner).unwrap().current();
        let (_db, store, log) = both::<D>(&[a, b, c]).await;
        for query in queries {
            let sql = store_pages(&store, &query).await;
            let memory = log_pages(&log, &query);
            assert_eq!(sql, memory, "case {case}, query {query:?}");
        }
    }
}

/// Every shape of query reads the audit table through an index, on a database with enough
/// rows that the planner would rather scan if no index served.
pub async fn every_search_shape_uses_an_index<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    pending_as(&store, 1).await;
    let cursor = store.search(&AuditQuery::new()).await.unwrap().records[0].cursor();
    db.fill_for_planner().await;
    for (name, query) in search_shapes(cursor) {
        let plan = store.explain(Explain::Search(&query)).await.unwrap();
        assert!(D::plan_uses_index(&plan, "audit"), "{name}: {plan:#?}");
    }
}

/// The Contoso request under id `n`, granted, with `actions` engineer actions.
async fn with_actions<B: Backend>(store: &Store<B>, n: u128, actions: usize) {
    let id = granted_as(store, n).await;
    let report = store
        .record_actions(id, &alex(), vec![mailbox_read(); actions], at(hours(2)))
        .await
        .unwrap();
    assert_eq!(report.recorded(), actions);
}

pub async fn export_writes_every_matching_record_as_json_lines<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    for n in 1..=3 {
        with_actions(&store, n, 400).await;
    }
    let log = log_of(&store, 3).await;
    let query = AuditQuery::new().tenant(contoso());
    let mut out = Vec::new();
    let written = store.export_jsonl(&query, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written as usize, lines.len());
    assert_eq!(lines, log_pages(&log, &query).concat());
    assert!(lines.len() > 1000, "more than one page: {}", lines.len());
    // One record per line, whatever the page size.
    let mut one_by_one = Vec::new();
    let written = store
        .export_jsonl(
            &AuditQuery::new()
                .request(request_id(2))
                .page_size(PageSize::new(1).unwrap()),
            &mut one_by_one,
        )
        .await
        .unwrap();
    assert_eq!(written, 404);
    assert_eq!(String::from_utf8(one_by_one).unwrap().lines().count(), 404);
}

/// Bounds outside the years records can hold (1970 to 9999) give what the in-memory log gives:
/// their RFC 3339 text ("+10000-…", "-0005-…") would not sort among stored instants.
pub async fn bounds_outside_the_storable_years_match_the_log<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    with_actions(&store, 1, 3).await;
    let log = log_of(&store, 1).await;
    let year = |y: i32| {
        chrono::NaiveDate::from_ymd_opt(y, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    };
    let far_cursor = |y: i32| -> AuditCursor {
        serde_json::from_value(serde_json::json!({
            "at": year(y), "request": request_id(1), "sequence": u64::MAX
        }))
        .unwrap()
    };
    let queries = [
        AuditQuery::new().since(year(10_000)),
        AuditQuery::new().since(year(-5)),
        AuditQuery::new().before(year(1969)),
        AuditQuery::new().before(year(200_000)),
        AuditQuery::new().since(year(1)).before(year(12_000)),
        AuditQuery::new().after(far_cursor(10_000)),
        AuditQuery::new().after(far_cursor(-3)),
        AuditQuery::new().after(far_cursor(2026)),
    ];
    for query in queries {
        let sql = store_pages(&store, &query).await;
        let memory = log_pages(&log, &query);
        assert_eq!(sql, memory, "{query:?}");
    }
}

/// Every page of a listing, following cursors.
async fn listing<B: Backend>(store: &Store<B>, query: RequestQuery) -> Vec<Vec<RequestId>> {
    let mut pages = Vec::new();
    let mut query = query.page_size(PageSize::new(2).unwrap());
    loop {
        let page = store.requests(&query).await.unwrap();
        pages.push(page.requests.iter().map(|r| r.id).collect());
        match page.next {
            // The cursor's text form round-trips, as a client would hand it back.
            Some(cursor) => query = query.after(cursor.to_string().parse().unwrap()),
            None => return pages,
        }
    }
}

pub async fn request_listings_page_through_each_filter<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    // Requests 1 to 5 drafted a minute apart: 1 and 2 pending, 3 granted, 4 drafted, 5 by
    // another engineer on another case; 6 of another tenant.
    let jordan = EngineerId::new("jordan@support.vendor.example").unwrap();
    for n in 1..=5u128 {
        let d = Draft {
            id: request_id(n),
            engineer: if n == 5 { jordan.clone() } else { alex() },
            service_request: ServiceRequestNumber::new(if n == 5 {
                "2611240010009999"
            } else {
                "2611240010001234"
            })
            .unwrap(),
            ..draft()
        };
        let _ = store.draft(d, at(minutes(n as i64))).await.unwrap();
        if n <= 3 {
            let _ = store
                .approve(request_id(n), &sam(), at(minutes(10)))
                .await
                .unwrap();
            let _ = store
                .notify(request_id(n), at(minutes(10 + n as i64)))
                .await
                .unwrap();
        }
    }
    let _ = store
        .grant(request_id(3), &megan(), at(hours(1)))
        .await
        .unwrap();
    fabrikam_policy_in(&store).await;
    let _ = store
        .draft(
            Draft {
                id: request_id(6),
                tenant: fabrikam(),
                ..draft()
            },
            at(minutes(6)),
        )
        .await
        .unwrap();
    let ids = |ns: &[u128]| ns.iter().map(|n| request_id(*n)).collect::<Vec<_>>();
    // Newest first.
    assert_eq!(
        listing(&store, RequestQuery::tenant(contoso()))
            .await
            .concat(),
        ids(&[5, 4, 3, 2, 1])
    );
    assert_eq!(
        listing(
            &store,
            RequestQuery::tenant(contoso()).state(StateKind::PendingCustomer)
        )
        .await,
        [ids(&[2, 1])]
    );
    assert_eq!(
        listing(&store, RequestQuery::engineer(alex()))
            .await
            .concat(),
        ids(&[6, 4, 3, 2, 1])
    );
    assert_eq!(
        listing(
            &store,
            RequestQuery::service_request(ServiceRequestNumber::new("2611240010009999").unwrap())
        )
        .await
        .concat(),
        ids(&[5])
    );
    // Soonest due first: the grant's window (5 h), then the deadlines (12 h 11, 12 h 12).
    assert_eq!(
        listing(&store, RequestQuery::due_before(at(hours(13))))
            .await
            .concat(),
        ids(&[3, 1, 2])
    );
    assert_eq!(
        listing(&store, RequestQuery::due_before(at(hours(6))))
            .await
            .concat(),
        ids(&[3])
    );
    // The grant's window ends at 5 h: due by then, not before then.
    assert_eq!(
        listing(&store, RequestQuery::due_by(at(hours(5))))
            .await
            .concat(),
        ids(&[3])
    );
    assert!(
        listing(&store, RequestQuery::due_before(at(hours(5))))
            .await
            .concat()
            .is_empty()
    );
    // Store::pages reads the same pages, to the end or until told to stop: then it answers the
    // cursor where it stopped.
    let two = RequestQuery::tenant(contoso()).page_size(PageSize::new(2).unwrap());
    let mut seen = Vec::new();
    let end = store
        .pages(two.clone(), |page| {
            seen.push(page.iter().map(|r| r.id).collect::<Vec<_>>());
            true
        })
        .await
        .unwrap();
    assert!(end.is_none());
    assert_eq!(seen, listing(&store, RequestQuery::tenant(contoso())).await);
    let mut first = Vec::new();
    let stopped = store
        .pages(two.clone(), |page| {
            first.extend(page.into_iter().map(|r| r.id));
            false
        })
        .await
        .unwrap();
    assert_eq!(first, ids(&[5, 4]));
    let rest = store.requests(&two.after(stopped.unwrap())).await.unwrap();
    assert_eq!(rest.requests[0].id, request_id(3));
    // What a list page shows.
    let page = store
        .requests(&RequestQuery::tenant(contoso()).state(StateKind::Granted))
        .await
        .unwrap();
    let summary = &page.requests[0];
    assert_eq!(
        (
            summary.id,
            summary.tenant,
            summary.state,
            summary.engineer.clone(),
            summary.services.clone(),
            summary.drafted_at,
            summary.due_at
        ),
        (
            request_id(3),
            contoso(),
            StateKind::Granted,
            alex(),
            Services::one(Service::ExchangeOnline),
            at(minutes(3)),
            Some(at(hours(5)))
        )
    );
    assert!(page.next.is_none());
    assert!(
        "not a cursor"
            .parse::<RequestCursor>()
            .unwrap_err()
            .is_invalid_cursor()
    );
    for garbage in [
        "not a cursor",
        "a1.019ab5c000007000800000000000000a",
        "a1.019ab5c000007000800000000000000a.1.2",
        "ax.019ab5c000007000800000000000000a.1",
        "a1.00000000000000000000000000000000.1",
    ] {
        assert!(
            garbage
                .parse::<AuditCursor>()
                .unwrap_err()
                .is_invalid_cursor(),
            "{garbage}"
        );
    }
}

pub async fn outbox_views_list_pending_and_failed_messages<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let first = pending_as(&store, 1).await;
    let second = pending_as(&store, 2).await;
    // Both messages fail: the relay refuses them.
    let mut refusing = Recorder {
        failing: Some("550 relay refused".to_owned()),
        ..Recorder::default()
    };
    let report = store
        .deliver(&directory(), &mut refusing, at(minutes(30)), minutes(5))
        .await
        .unwrap();
    assert_eq!(report.failed().len(), 2, "{report}");
    let pending = store
        .outbox_view(&OutboxQuery::new(OutboxView::Pending).page_size(PageSize::new(1).unwrap()))
        .await
        .unwrap();
    assert_eq!(pending.entries.len(), 1);
    assert_eq!(pending.entries[0].request(), Some(first));
    let rest = store
        .outbox_view(
            &OutboxQuery::new(OutboxView::Pending)
                .after(pending.next.unwrap().to_string().parse().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        rest.entries.iter().map(|e| e.request()).collect::<Vec<_>>(),
        [Some(second)]
    );
    assert!(rest.next.is_none());
    let failed = store
        .outbox_view(&OutboxQuery::new(OutboxView::Failed))
        .await
        .unwrap();
    assert_eq!(failed.entries.len(), 2);
    assert!(
        failed.entries[0]
            .last_error
            .as_ref()
            .unwrap()
            .as_str()
            .contains("relay refused")
    );
    // Once delivered, nothing is pending.
    store
        .deliver(
            &directory(),
            &mut Recorder::default(),
            at(minutes(40)),
            minutes(5),
        )
        .await
        .unwrap();
    assert!(
        store
            .outbox_view(&OutboxQuery::new(OutboxView::Pending))
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}

/// A policy change's message is in the outbox views, after the requests' messages, and pages
/// across from one to the other; a tenant with only a policy is among the store's tenants.
pub async fn outbox_views_list_policy_messages_after_the_requests<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let first = pending_as(&store, 1).await;
    // Fabrikam's policy is set and its message not delivered.
    set_policy_at(&store, fabrikam_policy(), at(hours(-24)))
        .await
        .unwrap();
    assert_eq!(store.tenants().await.unwrap().len(), 2);
    let mut seen = Vec::new();
    let mut query = OutboxQuery::new(OutboxView::Pending).page_size(PageSize::new(1).unwrap());
    loop {
        let page = store.outbox_view(&query).await.unwrap();
        assert!(page.entries.len() <= 1);
        seen.extend(page.entries.iter().map(|e| e.topic));
        match page.next {
            Some(next) => query = query.after(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    let requests: Vec<_> = seen
        .iter()
        .filter(|t| matches!(t, Topic::Request { .. }))
        .collect();
    assert!(!requests.is_empty(), "{seen:?}");
    assert!(
        requests
            .iter()
            .all(|t| matches!(t, Topic::Request { request, .. } if *request == first)),
        "{seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&Topic::Policy {
            tenant: fabrikam(),
            version: 1
        }),
        "{seen:?}"
    );
    let all = store
        .outbox_view(&OutboxQuery::new(OutboxView::Pending))
        .await
        .unwrap();
    assert_eq!(
        all.entries.iter().map(|e| e.topic).collect::<Vec<_>>(),
        seen
    );
    assert_eq!(
        all.entries.last().unwrap().kind,
        NotificationKind::PolicyChanged
    );
    assert_eq!(all.entries.last().unwrap().request(), None);
    // Delivered, it is gone from the view.
    store
        .deliver(
            &directory(),
            &mut Recorder::default(),
            at(minutes(30)),
            minutes(5),
        )
        .await
        .unwrap();
    let after = store
        .outbox_view(&OutboxQuery::new(OutboxView::Pending))
        .await
        .unwrap();
    assert!(after.entries.is_empty(), "{:?}", after.entries);
}

/// Every listing and outbox view reads its table through an index, on a busy database.
pub async fn every_listing_and_outbox_view_uses_an_index<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    pending_as(&store, 1).await;
    pending_as(&store, 2).await;
    let cursor = store
        .requests(&RequestQuery::tenant(contoso()).page_size(PageSize::new(1).unwrap()))
        .await
        .unwrap()
        .next
        .unwrap();
    db.fill_for_planner().await;
    let listings = [
        ("tenant", RequestQuery::tenant(contoso())),
        (
            "tenant and state",
            RequestQuery::tenant(contoso()).state(StateKind::PendingCustomer),
        ),
        ("engineer", RequestQuery::engineer(alex())),
        (
            "service request",
            RequestQuery::service_request(ServiceRequestNumber::new("2611240010001234").unwrap()),
        ),
        ("due before", RequestQuery::due_before(at(hours(13)))),
        (
            "tenant, next page",
            RequestQuery::tenant(contoso()).after(cursor),
        ),
    ];
    for (name, query) in listings {
        let plan = store.explain(Explain::Requests(&query)).await.unwrap();
        assert!(D::plan_uses_index(&plan, "requests"), "{name}: {plan:#?}");
    }
    for view in [OutboxView::Pending, OutboxView::Failed] {
        let plan = store
            .explain(Explain::Outbox(&OutboxQuery::new(view)))
            .await
            .unwrap();
        assert!(D::plan_uses_index(&plan, "outbox"), "{view:?}: {plan:#?}");
    }
}
