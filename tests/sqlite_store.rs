//! The SQLite store: atomic steps, optimistic concurrency, schema versions, the sweeper,
//! engineer actions, audit search over SQL, export, and the hash chain.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use common::runs::{play_as, run_strategy};
use common::*;
use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;
use proptest::prelude::*;
use rusqlite::{Connection, params};

fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

fn load_pending(store: &mut SqliteStore, id: RequestId) -> Request<PendingCustomer> {
    match store.load(id).unwrap() {
        AnyRequest::PendingCustomer(pending) => pending,
        other => panic!("expected pending, got {}", other.state()),
    }
}

fn load_granted(store: &mut SqliteStore, id: RequestId) -> Request<Granted> {
    match store.load(id).unwrap() {
        AnyRequest::Granted(granted) => granted,
        other => panic!("expected granted, got {}", other.state()),
    }
}

#[test]
fn each_step_is_saved_and_loads_back() {
    let (_dir, path) = store_file();
    let mut store = SqliteStore::open(&path).unwrap();
    let id = pending_in(&mut store);
    let outbox = store.outbox(id).unwrap();
    assert_eq!(outbox.len(), 1, "the notification is in the outbox");
    assert_eq!(outbox[0].kind, NotificationKind::DecisionNeeded);
    assert_eq!(outbox[0].status, OutboxStatus::Pending);
    let pending = load_pending(&mut store, id);
    assert!(pending.unsaved_records().is_empty());
    let GrantOutcome::Granted(mut granted) =
        pending.grant(&megan(), &policy(), at(hours(1))).unwrap()
    else {
        panic!("in time")
    };
    assert_eq!(granted.unsaved_records().len(), 1);
    store.save(&mut granted).unwrap();
    assert!(granted.unsaved_records().is_empty());
    let report = store
        .append_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
        .unwrap();
    assert_eq!(report.recorded, 2);
    let mut closed = load_granted(&mut store, id)
        .close(&alex(), at(hours(3)))
        .unwrap();
    store.save(&mut closed).unwrap();
    // A second handle on the same file (another process, say) sees the same request.
    let mut other = SqliteStore::open(&path).unwrap();
    let AnyRequest::Closed(loaded) = other.load(id).unwrap() else {
        panic!("closed")
    };
    assert_eq!(loaded.audit_trail(), closed.audit_trail());
    assert_eq!(loaded.reason(), ClosureReason::Completed);
    assert!(other.verify_chain(contoso()).unwrap().is_intact());
}

#[test]
fn saving_nothing_new_writes_nothing() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let id = pending_in(&mut store);
    let mut pending = load_pending(&mut store, id);
    store.save(&mut pending).unwrap();
    assert_eq!(store.load(id).unwrap().audit_trail().len(), 3);
}

#[test]
fn a_taken_id_is_a_conflict() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut first = drafted();
    store.save(&mut first).unwrap();
    let mut again = drafted();
    let err = store.save(&mut again).unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        again.unsaved_records().len(),
        1,
        "the refused save left the request unsaved"
    );
}

#[test]
fn a_missing_request_is_not_found() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let err = store.load(request_id(99)).unwrap_err();
    assert!(err.is_not_found());
    insta::assert_snapshot!("not_found", err.to_string());
}

#[test]
fn grant_and_deny_at_once_exactly_one_wins() {
    let (_dir, path) = store_file();
    let mut first = SqliteStore::open(&path).unwrap();
    let mut second = SqliteStore::open(&path).unwrap();
    let id = pending_in(&mut first);
    let for_grant = load_pending(&mut first, id);
    let for_deny = load_pending(&mut second, id);
    let GrantOutcome::Granted(mut granted) =
        for_grant.grant(&megan(), &policy(), at(hours(1))).unwrap()
    else {
        panic!("in time")
    };
    let DenyOutcome::Denied(mut denied) = for_deny
        .deny(
            &ApproverId::new("lee@contoso.com").unwrap(),
            &policy(),
            at(hours(1)),
        )
        .unwrap()
    else {
        panic!("in time")
    };
    first.save(&mut granted).unwrap();
    let err = second.save(&mut denied).unwrap_err();
    let StoreError::Conflict {
        expected, found, ..
    } = err
    else {
        panic!("a conflict, got {err}")
    };
    assert_eq!((expected, found), (3, 4));
    insta::assert_snapshot!("conflict", err.to_string());
    // The loser wrote nothing: one decision in the audit, the request granted.
    let conn = raw(&path);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM audit WHERE kind IN ('granted', 'denied')"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM audit"), 4);
    assert!(matches!(second.load(id).unwrap(), AnyRequest::Granted(_)));
}

#[test]
fn racing_threads_on_separate_connections_exactly_one_wins() {
    let (_dir, path) = store_file();
    let id = pending_in(&mut SqliteStore::open(&path).unwrap());
    for round in 0..5 {
        let id = if round == 0 {
            id
        } else {
            let mut store = SqliteStore::open(&path).unwrap();
            let draft = Draft {
                id: request_id(100 + round),
                ..draft()
            };
            let mut drafted = Request::draft(draft, &policy(), t0()).unwrap();
            store.save(&mut drafted).unwrap();
            let mut approved = drafted.approve(&sam(), t0()).unwrap();
            store.save(&mut approved).unwrap();
            let (mut pending, _message) = approved.notify(&policy(), t0()).unwrap();
            store.save(&mut pending).unwrap();
            pending.id()
        };
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = [true, false]
            .into_iter()
            .map(|grant| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut store = SqliteStore::open(&path).unwrap();
                    let pending = load_pending(&mut store, id);
                    barrier.wait();
                    let result = if grant {
                        match pending.grant(&megan(), &policy(), at(hours(1))).unwrap() {
                            GrantOutcome::Granted(mut g) => store.save(&mut g),
                            GrantOutcome::Expired(_) => panic!("in time"),
                        }
                    } else {
                        match pending.deny(&megan(), &policy(), at(hours(1))).unwrap() {
                            DenyOutcome::Denied(mut c) => store.save(&mut c),
                            DenyOutcome::Expired(_) => panic!("in time"),
                        }
                    };
                    result.map_err(|e| e.is_conflict())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {results:?}"
        );
        assert_eq!(
            results.iter().filter(|r| **r == Err(true)).count(),
            1,
            "round {round}: {results:?}"
        );
        let conn = raw(&path);
        let decisions: i64 = conn
            .query_row(
                "SELECT count(*) FROM audit WHERE request_id = ?1 AND kind IN ('granted', 'denied')",
                [id.to_string()],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(decisions, 1);
    }
}

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let (_dir, path) = store_file();
    {
        let conn = raw(&path);
        conn.execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                supported: 2
            }
        ),
        "{err}"
    );
    insta::assert_snapshot!("newer_schema", err.to_string());
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    let siblings: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        siblings.len(),
        1,
        "no WAL or journal was created: {siblings:?}"
    );
}

#[test]
fn the_schema_is_migrated_once_and_pragmas_are_set() {
    let (_dir, path) = store_file();
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let conn = raw(&path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version() as i64);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Three pending requests (deadlines at 12 h 20, 12 h 30, 12 h 40) and two granted ones
/// (windows ending at 5 h and 6 h).
fn due_requests(store: &mut SqliteStore) -> (Vec<RequestId>, Vec<RequestId>) {
    let mut pending_ids = Vec::new();
    let mut granted_ids = Vec::new();
    for n in 0..5i64 {
        let fresh = Draft {
            id: request_id(200 + n as u128),
            ..draft()
        };
        let drafted = Request::draft(fresh, &policy(), t0()).unwrap();
        let approved = drafted.approve(&sam(), at(minutes(1))).unwrap();
        let (pending, _notification) = approved
            .notify(&policy(), at(minutes(20 + 10 * n.min(2))))
            .unwrap();
        if n < 3 {
            let mut pending = pending;
            store.save(&mut pending).unwrap();
            pending_ids.push(pending.id());
        } else {
            let GrantOutcome::Granted(mut granted) = pending
                .grant(&megan(), &policy(), at(hours(n - 2)))
                .unwrap()
            else {
                panic!("in time")
            };
            store.save(&mut granted).unwrap();
            granted_ids.push(granted.id());
        }
        // A request time alone never moves.
        let never_due = Draft {
            id: request_id(300 + n as u128),
            ..draft()
        };
        store
            .save(&mut Request::draft(never_due, &policy(), t0()).unwrap())
            .unwrap();
    }
    (pending_ids, granted_ids)
}

#[test]
fn the_sweeper_moves_exactly_the_overdue_requests() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let (pending, granted) = due_requests(&mut store);
    // At 5 h: the first window has ended (at 5 h exactly), nothing has expired.
    let report = store.sweep(at(hours(5))).unwrap();
    assert_eq!(report.access_ended, [granted[0]]);
    assert!(report.expired.is_empty() && report.skipped.is_empty() && report.failed.is_empty());
    // At the second deadline exactly: two expire, and the second window has ended too.
    let report = store.sweep(at(hours(12) + minutes(30))).unwrap();
    assert_eq!(report.expired, pending[..2]);
    assert_eq!(report.access_ended, [granted[1]]);
    insta::assert_snapshot!("sweep_report", report.to_string());
    let AnyRequest::Closed(closed) = store.load(pending[0]).unwrap() else {
        panic!("expired")
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
    assert_eq!(closed.closed_at(), at(hours(12) + minutes(20)));
    assert!(matches!(
        store.load(pending[2]).unwrap(),
        AnyRequest::PendingCustomer(_)
    ));
    // Nothing is done twice.
    let again = store.sweep(at(hours(12) + minutes(30))).unwrap();
    assert!(again.expired.is_empty() && again.access_ended.is_empty());
}

#[test]
fn two_sweepers_at_once_handle_each_request_once() {
    let (_dir, path) = store_file();
    let (pending, granted) = due_requests(&mut SqliteStore::open(&path).unwrap());
    let now = at(hours(13));
    let reports: Vec<SweepReport> = (0..2)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).unwrap().sweep(now).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let mut handled: Vec<RequestId> = reports
        .iter()
        .flat_map(|r| r.expired.iter().chain(&r.access_ended))
        .copied()
        .collect();
    handled.sort();
    let mut due: Vec<RequestId> = pending.iter().chain(&granted).copied().collect();
    due.sort();
    assert_eq!(handled, due, "each due request handled exactly once");
    assert!(
        reports.iter().all(|r| r.failed.is_empty()),
        "{:?}",
        reports.iter().map(|r| &r.failed).collect::<Vec<_>>()
    );
    let conn = raw(&path);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM audit WHERE kind IN ('expired', 'access_elapsed')"
        ),
        5
    );
}

#[test]
fn actions_through_the_store_are_refused_outside_the_window() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut granted = granted();
    store.save(&mut granted).unwrap();
    let id = granted.id();
    let sharepoint = EngineerAction::new(
        Service::SharePointOnline,
        Operation::new("read").unwrap(),
        Target::new("site").unwrap(),
    );
    let report = store
        .append_actions(
            id,
            &alex(),
            [mailbox_read(), sharepoint, mailbox_read()],
            at(hours(2)),
        )
        .unwrap();
    assert_eq!(report.recorded, 2);
    assert_eq!(
        report.refused,
        [(
            1,
            Refusal::ServiceNotRequested {
                service: Service::SharePointOnline
            }
        )]
    );
    let report = store
        .append_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(5)))
        .unwrap();
    assert_eq!(report.recorded, 0);
    assert_eq!(
        report.access_ended,
        Some(ClosureReason::AccessDurationElapsed)
    );
    let closed = store.load(id).unwrap();
    let kinds: Vec<K> = closed
        .audit_trail()
        .iter()
        .map(|r| r.event().kind())
        .collect();
    assert_eq!(
        kinds[4..],
        [
            K::EngineerActed,
            K::ActionRefused,
            K::EngineerActed,
            K::AccessElapsed,
            K::ActionRefused
        ]
    );
    let err = store
        .append_actions(id, &alex(), [mailbox_read()], at(hours(6)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongState {
                state: StateKind::Closed,
                ..
            }
        ),
        "{err}"
    );
}

/// Saves `requests` into a fresh store and into an in-memory log.
fn both(requests: &mut [AnyRequest]) -> (SqliteStore, AuditLog) {
    let mut store = SqliteStore::open_in_memory().unwrap();
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
    (store, log)
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The SQL search returns exactly the pages the in-memory log returns, for any query.
    #[test]
    fn sql_search_pages_match_the_in_memory_log(
        a in run_strategy(), b in run_strategy(), c in run_strategy(),
        queries in prop::collection::vec(query_strategy(), 1..6),
    ) {
        let mut requests = [play_as(1, &a), play_as(2, &b), play_as(3, &c)];
        let (mut store, log) = both(&mut requests);
        for query in queries {
            let sql = all_pages(|q| store.search(q).unwrap(), &query);
            let memory = all_pages(|q| log.search(q), &query);
            prop_assert_eq!(sql, memory, "query {:?}", query);
        }
    }
}

#[test]
fn every_search_shape_uses_an_index() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let cursor = {
        let mut log = AuditLog::new();
        log.capture(&drafted());
        log.search(&AuditQuery::new()).records[0].cursor()
    };
    let shapes = [
        ("everything", AuditQuery::new()),
        ("tenant", AuditQuery::new().tenant(contoso())),
        ("request", AuditQuery::new().request(request_id(1))),
        ("actor", AuditQuery::new().actor(Actor::Engineer(alex()))),
        ("kind", AuditQuery::new().kind(K::EngineerActed)),
        ("kinds", AuditQuery::new().kind(K::Granted).kind(K::Denied)),
        (
            "time range",
            AuditQuery::new().since(t0()).before(at(hours(1))),
        ),
        (
            "tenant and time, next page",
            AuditQuery::new()
                .tenant(contoso())
                .since(t0())
                .after(cursor),
        ),
        (
            "actor and kind",
            AuditQuery::new().actor(Actor::System).kind(K::Expired),
        ),
    ];
    let mut plans = String::new();
    for (name, query) in shapes {
        let plan = store.search_plan(&query).unwrap();
        for line in &plan {
            if line.contains("audit") && line.starts_with("SCAN") || line.starts_with("SEARCH") {
                assert!(
                    line.contains("USING INDEX") || line.contains("USING COVERING INDEX"),
                    "{name}: {plan:?}"
                );
            }
        }
        assert!(
            plan.iter().any(|l| l.contains("USING INDEX")),
            "{name}: {plan:?}"
        );
        plans.push_str(&format!("{name}: {}\n", plan.join(" | ")));
    }
    insta::assert_snapshot!("search_plans", plans);
}

#[test]
fn export_writes_every_matching_record_as_json_lines() {
    let mut requests: Vec<AnyRequest> = (1..=3).map(|n| play_as(n, &contoso_steps())).collect();
    let (mut store, log) = both(&mut requests);
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
}

/// Approve, notify, grant, then many actions.
fn contoso_steps() -> Vec<(common::runs::Try, i64)> {
    use common::runs::Try;
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

#[test]
fn a_tampered_row_is_refused_on_load() {
    let (_dir, path) = store_file();
    let mut store = SqliteStore::open(&path).unwrap();
    let id = pending_in(&mut store);
    let conn = raw(&path);
    // The approval rewritten as the engineer's own, JSON and columns alike.
    let json: String = conn
        .query_row("SELECT record FROM audit WHERE sequence = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    let forged = json.replace(sam().as_str(), alex().as_str());
    conn.execute(
        "UPDATE audit SET record = ?1, actor_id = ?2 WHERE sequence = 2",
        params![forged, alex().as_str()],
    )
    .unwrap();
    let err = store.load(id).unwrap_err();
    let StoreError::Refused(refusal) = &err else {
        panic!("refused, got {err}")
    };
    assert_eq!(
        refusal.rule(),
        &BrokenRule::StepRefused(Refusal::ManagerIsEngineer)
    );
    assert_eq!(refusal.sequence(), Some(2));
    // Only a column changed: the row disagrees with its record.
    conn.execute(
        "UPDATE audit SET record = ?1, actor_id = ?2 WHERE sequence = 2",
        params![json, alex().as_str()],
    )
    .unwrap();
    let err = store.load(id).unwrap_err();
    assert!(err.to_string().contains("`actor_id` disagrees"), "{err}");
    // The chain covers the columns, so it sees a column-only edit as well.
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
        panic!("broken")
    };
    assert_eq!((found.position, found.tampering), (2, Tampering::Edited));
    // The chain sees the first edit too.
    conn.execute(
        "UPDATE audit SET record = ?1, actor_id = ?2 WHERE sequence = 2",
        params![forged, alex().as_str()],
    )
    .unwrap();
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
        panic!("broken")
    };
    assert_eq!(
        (found.position, found.record, found.tampering),
        (2, Some((id, 2)), Tampering::Edited)
    );
}

#[test]
fn garbage_in_any_column_is_refused_not_a_panic() {
    let edits = [
        "UPDATE requests SET tenant = 'not-a-guid'",
        "UPDATE requests SET state = 'granted'",
        "UPDATE requests SET revision = 7",
        "UPDATE requests SET due_at = '2026-11-24T09:00:00.000000000Z'",
        "UPDATE requests SET record_version = 2",
        "UPDATE audit SET sequence = 99 WHERE sequence = 3",
        "UPDATE audit SET record = 'garbage' WHERE sequence = 1",
        "UPDATE audit SET record = '{}' WHERE sequence = 1",
        "UPDATE audit SET tenant = 'x' WHERE sequence = 1",
        "UPDATE audit SET at = '2026' WHERE sequence = 1",
        "UPDATE audit SET kind = 'granted' WHERE sequence = 3",
        "DELETE FROM audit WHERE sequence = 2",
    ];
    for edit in edits {
        let (_dir, path) = store_file();
        let mut store = SqliteStore::open(&path).unwrap();
        let id = pending_in(&mut store);
        let conn = raw(&path);
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute_batch(edit).unwrap();
        let err = store.load(id).unwrap_err();
        assert!(err.is_refused(), "{edit}: {err}");
    }
}

/// A store holding one granted request with five actions: nine records in Contoso's chain.
fn chained_store() -> (tempfile::TempDir, PathBuf, SqliteStore, RequestId) {
    let (dir, path) = store_file();
    let mut store = SqliteStore::open(&path).unwrap();
    let mut request = play_as(1, &contoso_steps()[..8]);
    let AnyRequest::Granted(granted) = &mut request else {
        panic!("granted")
    };
    store.save(granted).unwrap();
    let id = granted.id();
    (dir, path, store, id)
}

#[test]
fn chain_verification_names_each_kind_of_tampering() {
    let (_dir, _path, mut store, _id) = chained_store();
    let head = store.chain_head(contoso()).unwrap().unwrap();
    assert_eq!(head.position, 9);
    assert_eq!(
        store.verify_chain(contoso()).unwrap(),
        ChainVerdict::Intact { head: Some(head) }
    );
    let id = request_id(1);
    type Case<'a> = (&'a str, u64, Option<(RequestId, u64)>, Tampering);
    let cases: [Case; 5] = [
        (
            "UPDATE audit SET record = replace(record, 'item 1', 'item 2') WHERE sequence = 6",
            6,
            Some((id, 6)),
            Tampering::Edited,
        ),
        (
            "DELETE FROM audit WHERE sequence = 5",
            5,
            Some((id, 6)),
            Tampering::Removed,
        ),
        (
            "UPDATE audit SET chain_position = chain_position + 1000 WHERE sequence IN (5, 6); \
             UPDATE audit SET chain_position = 6 WHERE chain_position = 1005; \
             UPDATE audit SET chain_position = 5 WHERE chain_position = 1006",
            5,
            Some((id, 6)),
            Tampering::Reordered,
        ),
        (
            "UPDATE audit SET chain_position = chain_position + 100 WHERE chain_position >= 7; \
             UPDATE audit SET chain_position = chain_position - 99 WHERE chain_position >= 107; \
             INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, kind, \
             record, previous_hash, hash) SELECT tenant, 7, request_id, 100, at, actor_role, actor_id, kind, \
             record, x'00', hash FROM audit WHERE sequence = 6;",
            7,
            Some((id, 100)),
            Tampering::Inserted,
        ),
        (
            "DELETE FROM audit WHERE sequence = 9",
            9,
            Some((id, 9)),
            Tampering::Removed,
        ),
    ];
    for (edit, position, record, tampering) in cases {
        let (_dir, path, mut store, _id) = chained_store();
        raw(&path).execute_batch(edit).unwrap();
        let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
            panic!("{edit}: intact")
        };
        assert_eq!(
            (found.position, found.record, found.tampering),
            (position, record, tampering),
            "{edit}"
        );
    }
    let (_dir, path, mut store, _id) = chained_store();
    raw(&path)
        .execute_batch("DELETE FROM audit WHERE sequence = 5")
        .unwrap();
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
        panic!("broken")
    };
    insta::assert_snapshot!("chain_break", found.to_string());
}

#[test]
fn chains_are_per_tenant() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut contoso_request = drafted();
    store.save(&mut contoso_request).unwrap();
    let fabrikam_policy = TenantPolicy::new(fabrikam(), vec![]).unwrap();
    let mut fabrikam_request = Request::draft(
        Draft {
            id: request_id(2),
            tenant: fabrikam(),
            ..draft()
        },
        &fabrikam_policy,
        t0(),
    )
    .unwrap();
    store.save(&mut fabrikam_request).unwrap();
    let heads: Vec<u64> = store
        .tenants()
        .unwrap()
        .into_iter()
        .map(|t| store.chain_head(t).unwrap().unwrap().position)
        .collect();
    assert_eq!(heads, [1, 1]);
}

#[allow(dead_code)]
fn instant(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}
