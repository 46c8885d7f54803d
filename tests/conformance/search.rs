//! Audit search over SQL (keyset pages equal to the in-memory log's, indexes for every
//! shape) and JSON Lines export.

use chrono::TimeDelta;
use customer_lockbox::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

use crate::common::runs::{Try, play_as, run_strategy};
use crate::common::*;
use crate::harness::Db;

/// Saves `requests` into a fresh store and into an in-memory log.
fn both<D: Db>(requests: &mut [AnyRequest]) -> (D, D::Store, AuditLog) {
    let db = D::create();
    let mut store = db.open();
    let mut log = AuditLog::new();
    for request in requests.iter_mut() {
        save_any(&mut store, request);
        match request {
            AnyRequest::Drafted(r) => log.capture(r),
            AnyRequest::ManagerApproved(r) => log.capture(r),
            AnyRequest::PendingCustomer(r) => log.capture(r),
            AnyRequest::Granted(r) => log.capture(r),
            AnyRequest::Closed(r) => log.capture(r),
        };
    }
    (db, store, log)
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

/// Every page of `query`, following cursors.
fn all_pages(
    mut search: impl FnMut(&AuditQuery) -> AuditPage,
    query: &AuditQuery,
) -> Vec<Vec<AuditRecord>> {
    let mut pages = Vec::new();
    let mut query = query.clone();
    loop {
        let page = search(&query);
        pages.push(page.records);
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return pages,
        }
    }
}

/// The SQL search returns exactly the pages the in-memory log returns, for any three random
/// runs and any queries: 32 random cases, each on a fresh database.
pub fn search_pages_match_the_in_memory_log<D: Db>() {
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/conformance/search.proptest-regressions"
        )))),
        ..Config::default()
    });
    let cases = (
        run_strategy(),
        run_strategy(),
        run_strategy(),
        prop::collection::vec(query_strategy(), 1..6),
    );
    runner
        .run(&cases, |(a, b, c, queries)| {
            let mut requests = [play_as(1, &a), play_as(2, &b), play_as(3, &c)];
            let (_db, mut store, log) = both::<D>(&mut requests);
            for query in queries {
                let sql = all_pages(|q| store.search(q).unwrap(), &query);
                let memory = all_pages(|q| log.search(q), &query);
                prop_assert_eq!(sql, memory, "query {:?}", query);
            }
            Ok(())
        })
        .unwrap();
}

/// Every shape of query reads the audit table through an index, on a database with enough
/// rows that the planner would rather scan if no index served.
pub fn every_search_shape_uses_an_index<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    pending_as(&mut store, 1);
    let cursor = store.search(&AuditQuery::new()).unwrap().records[0].cursor();
    db.fill_for_planner();
    let shapes = search_shapes(cursor);
    for (name, query) in shapes {
        let plan = store.search_plan(&query).unwrap();
        assert!(D::plan_uses_index(&plan), "{name}: {plan:#?}");
    }
}

/// Approve, notify, grant, then many actions.
pub fn contoso_steps() -> Vec<(Try, i64)> {
    let mut steps = vec![
        (Try::Approve { honest: true }, 1),
        (Try::Notify { honest: true }, 1),
        (Try::Grant { honest: true }, 1),
    ];
    steps.extend((0..400).map(|_| {
        (
            Try::Act {
                honest: true,
                service: 0,
            },
            0,
        )
    }));
    steps
}

pub fn export_writes_every_matching_record_as_json_lines<D: Db>() {
    let mut requests: Vec<AnyRequest> = (1..=3).map(|n| play_as(n, &contoso_steps())).collect();
    let (_db, mut store, log) = both::<D>(&mut requests);
    let query = AuditQuery::new().tenant(contoso());
    let mut out = Vec::new();
    let written = store.export_jsonl(&query, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written as usize, lines.len());
    assert_eq!(lines, all_pages(|q| log.search(q), &query).concat());
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
        .unwrap();
    assert_eq!(written, 404);
    assert_eq!(String::from_utf8(one_by_one).unwrap().lines().count(), 404);
}

/// Bounds outside the years records can hold (1970 to 9999) give what the in-memory log gives:
/// their RFC 3339 text ("+10000-…", "-0005-…") would not sort among stored instants.
pub fn bounds_outside_the_storable_years_match_the_log<D: Db>() {
    let mut requests = [play_as(1, &contoso_steps()[..6])];
    let (_db, mut store, log) = both::<D>(&mut requests);
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
        let sql = all_pages(|q| store.search(q).unwrap(), &query);
        let memory = all_pages(|q| log.search(q), &query);
        assert_eq!(sql, memory, "{query:?}");
    }
}
