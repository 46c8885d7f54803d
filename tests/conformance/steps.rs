//! Steps, loads, conflicts, the sweeper and engineer-action appends.

use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;

use crate::common::*;
use crate::harness::Db;

pub fn load_pending<S: Store>(store: &mut S, id: RequestId) -> Request<PendingCustomer> {
    match store.load(id).unwrap() {
        AnyRequest::PendingCustomer(pending) => pending,
        other => panic!("expected pending, got {}", other.state()),
    }
}

pub fn load_granted<S: Store>(store: &mut S, id: RequestId) -> Request<Granted> {
    match store.load(id).unwrap() {
        AnyRequest::Granted(granted) => granted,
        other => panic!("expected granted, got {}", other.state()),
    }
}

pub fn each_step_is_saved_and_loads_back<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_in_any(&mut store);
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
    // A second store on the same database (another node or process) sees the same request.
    let mut other = db.open();
    let AnyRequest::Closed(loaded) = other.load(id).unwrap() else {
        panic!("closed")
    };
    assert_eq!(loaded.audit_trail(), closed.audit_trail());
    assert_eq!(loaded.reason(), ClosureReason::Completed);
    assert!(other.verify_chain(contoso()).unwrap().is_intact());
    assert_eq!(other.tenants().unwrap(), [contoso()]);
    let head = other.chain_head(contoso()).unwrap().unwrap();
    assert_eq!(
        head.position, 7,
        "drafted, approved, notified, granted, two actions, completed"
    );
}

/// The Contoso request, pending, under the fixtures' own id.
pub fn pending_in_any<S: Store>(store: &mut S) -> RequestId {
    pending_as(store, 1)
}

pub fn saving_nothing_new_writes_nothing<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_in_any(&mut store);
    let mut pending = load_pending(&mut store, id);
    store.save(&mut pending).unwrap();
    assert_eq!(store.load(id).unwrap().audit_trail().len(), 3);
    assert_eq!(db.count("SELECT count(*) FROM audit"), 3);
}

pub fn a_taken_id_is_a_conflict_and_a_missing_one_not_found<D: Db>() {
    let db = D::create();
    let mut store = db.open();
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
    let err = store.load(request_id(99)).unwrap_err();
    assert!(err.is_not_found());
    insta::assert_snapshot!("not_found", err.to_string());
}

pub fn grant_and_deny_at_once_exactly_one_wins<D: Db>() {
    let db = D::create();
    let (mut first, mut second) = (db.open(), db.open());
    let id = pending_in_any(&mut first);
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
    assert_eq!(
        db.count("SELECT count(*) FROM audit WHERE kind IN ('granted', 'denied')"),
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM audit"), 4);
    assert!(matches!(second.load(id).unwrap(), AnyRequest::Granted(_)));
    assert!(second.verify_chain(contoso()).unwrap().is_intact());
}

pub fn racing_threads_on_separate_connections_exactly_one_wins<D: Db>() {
    let db = D::create();
    let place = db.place();
    for round in 0..5 {
        let id = pending_as(&mut db.open(), 100 + round);
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Result<(), bool>> = std::thread::scope(|scope| {
            let runs: Vec<_> = [true, false]
                .into_iter()
                .map(|grant| {
                    let (place, barrier) = (&place, &barrier);
                    scope.spawn(move || {
                        let mut store = D::open_at(place).unwrap();
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
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
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
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM audit WHERE request_id = '{id}' AND kind IN ('granted', 'denied')"
            )),
            1
        );
    }
    assert!(db.open().verify_chain(contoso()).unwrap().is_intact());
}

pub fn a_newer_database_is_refused<D: Db>() {
    let db = D::create();
    let id = pending_in_any(&mut db.open());
    db.sql(D::FUTURE_SCHEMA).unwrap();
    let err = D::open_at(&db.place()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("version 99"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM audit"), 3);
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM requests WHERE id = '{id}' AND state = 'pending_customer'"
        )),
        1
    );
}

/// Three pending requests (deadlines at 12 h 20, 12 h 30, 12 h 40) and two granted ones
/// (windows ending at 5 h and 6 h).
pub fn due_requests<S: Store>(store: &mut S) -> (Vec<RequestId>, Vec<RequestId>) {
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

pub fn the_sweeper_moves_exactly_the_overdue_requests<D: Db>() {
    let db = D::create();
    let mut store = db.open();
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

pub fn two_sweepers_at_once_handle_each_request_once<D: Db>() {
    let db = D::create();
    let (pending, granted) = due_requests(&mut db.open());
    let now = at(hours(13));
    let place = db.place();
    let reports: Vec<SweepReport> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| D::open_at(&place).unwrap().sweep(now).unwrap()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
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
    assert_eq!(
        db.count("SELECT count(*) FROM audit WHERE kind IN ('expired', 'access_elapsed')"),
        5
    );
}

pub fn actions_through_the_store_are_refused_outside_the_window<D: Db>() {
    let db = D::create();
    let mut store = db.open();
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
    // Reported after the close: kept, as refused.
    let report = store
        .append_actions(id, &alex(), [mailbox_read()], at(hours(6)))
        .unwrap();
    assert_eq!(report.recorded, 0);
    assert_eq!(report.refused, [(0, Refusal::RequestClosed)]);
    assert_eq!(
        report.access_ended,
        Some(ClosureReason::AccessDurationElapsed)
    );
    let last = last_record(&mut store, id);
    assert_eq!(
        last.event(),
        &AuditEvent::ActionRefused {
            action: mailbox_read(),
            refusal: Refusal::RequestClosed
        }
    );
    // Before the grant there was never access to act under.
    let pending = pending_as(&mut store, 2);
    let err = store
        .append_actions(pending, &alex(), [mailbox_read()], at(hours(1)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongState {
                state: StateKind::PendingCustomer,
                ..
            }
        ),
        "{err}"
    );
}

pub fn chains_are_per_tenant<D: Db>() {
    let db = D::create();
    let mut store = db.open();
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

/// A node's next step after another node extended the same tenant's chain: the first node's
/// idea of the chain's head is stale, and its step must still land on the real head.
pub fn nodes_taking_turns_on_one_tenant_keep_one_chain<D: Db>() {
    let db = D::create();
    let (mut first, mut second) = (db.open(), db.open());
    for n in 0..6u128 {
        let store = if n % 2 == 0 { &mut first } else { &mut second };
        pending_as(store, 10 + n);
    }
    let head = first.chain_head(contoso()).unwrap().unwrap();
    assert_eq!(head.position, 18, "six requests, three records each");
    assert!(first.verify_chain(contoso()).unwrap().is_intact());
}
