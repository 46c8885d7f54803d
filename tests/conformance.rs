//! One suite, two stores: every store behaviour, run against SQLite and, with the `postgres`
//! feature, against a real PostgreSQL server (`LOCKBOX_POSTGRES_URL`, which `bash .ci/test`
//! sets after starting a throwaway cluster). Each test gets a fresh database.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::runs::{play_as, run_strategy};
use common::*;
use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;
use proptest::strategy::{Strategy, ValueTree};

const LEASE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// A fresh store of each kind.
trait Fresh: Store + Sized {
    fn fresh() -> Self;
}

impl Fresh for SqliteStore {
    fn fresh() -> Self {
        SqliteStore::open_in_memory().unwrap()
    }
}

#[cfg(feature = "postgres")]
impl Fresh for PostgresStore {
    fn fresh() -> Self {
        PostgresStore::connect(&common::pg::fresh_database()).unwrap()
    }
}

#[derive(Default)]
struct Recorder {
    sent: Vec<Delivery>,
    failing: bool,
}

impl Sender for Recorder {
    type Error = &'static str;

    fn send(&mut self, delivery: &Delivery) -> Result<(), &'static str> {
        if self.failing {
            return Err("relay down");
        }
        self.sent.push(delivery.clone());
        Ok(())
    }
}

fn directory() -> AddressBook {
    AddressBook::new()
        .with_engineer(
            alex(),
            EmailAddress::new("alex@support.vendor.example").unwrap(),
        )
        .with_policy(&policy())
}

fn grant_in<S: Store>(store: &mut S, id: RequestId) {
    let AnyRequest::PendingCustomer(pending) = store.load(id).unwrap() else {
        panic!("pending")
    };
    let GrantOutcome::Granted(mut granted) =
        pending.grant(&megan(), &policy(), at(hours(1))).unwrap()
    else {
        panic!("in time")
    };
    store.save(&mut granted).unwrap();
}

fn each_step_is_saved_and_loads_back<S: Fresh>() {
    let mut store = S::fresh();
    let id = pending_as(&mut store, 1);
    grant_in(&mut store, id);
    let report = store
        .append_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
        .unwrap();
    assert_eq!(report.recorded, 2);
    let AnyRequest::Granted(granted) = store.load(id).unwrap() else {
        panic!("granted")
    };
    let mut closed = granted.close(&alex(), at(hours(3))).unwrap();
    store.save(&mut closed).unwrap();
    let AnyRequest::Closed(loaded) = store.load(id).unwrap() else {
        panic!("closed")
    };
    assert_eq!(loaded.audit_trail(), closed.audit_trail());
    assert!(store.verify_chain(contoso()).unwrap().is_intact());
    assert_eq!(store.tenants().unwrap(), [contoso()]);
    let head = store.chain_head(contoso()).unwrap().unwrap();
    assert_eq!(
        head.position, 7,
        "drafted, approved, notified, granted, two actions, completed"
    );
}

fn a_stale_save_is_a_conflict_and_writes_nothing<S: Fresh>() {
    let mut store = S::fresh();
    let id = pending_as(&mut store, 1);
    let AnyRequest::PendingCustomer(first) = store.load(id).unwrap() else {
        panic!()
    };
    let AnyRequest::PendingCustomer(second) = store.load(id).unwrap() else {
        panic!()
    };
    let GrantOutcome::Granted(mut granted) =
        first.grant(&megan(), &policy(), at(hours(1))).unwrap()
    else {
        panic!()
    };
    store.save(&mut granted).unwrap();
    let DenyOutcome::Denied(mut denied) = second.deny(&megan(), &policy(), at(hours(1))).unwrap()
    else {
        panic!()
    };
    let err = store.save(&mut denied).unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(matches!(store.load(id).unwrap(), AnyRequest::Granted(_)));
    let unknown = Request::draft(
        Draft {
            id: request_id(9),
            ..draft()
        },
        &policy(),
        t0(),
    )
    .unwrap();
    assert!(store.load(unknown.id()).unwrap_err().is_not_found());
    // A new request whose id is taken is a conflict too.
    let mut again = drafted();
    let err = store.save(&mut again).unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

fn the_sweeper_expires_and_ends_access<S: Fresh>() {
    let mut store = S::fresh();
    let expiring = pending_as(&mut store, 1);
    let ending = pending_as(&mut store, 2);
    grant_in(&mut store, ending);
    let report = store.sweep(at(hours(13))).unwrap();
    assert_eq!(report.expired, [expiring]);
    assert_eq!(report.access_ended, [ending]);
    let again = store.sweep(at(hours(14))).unwrap();
    assert!(again.expired.is_empty() && again.access_ended.is_empty());
    let AnyRequest::Closed(closed) = store.load(expiring).unwrap() else {
        panic!()
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
}

fn appends_refuse_outside_the_window_and_close<S: Fresh>() {
    let mut store = S::fresh();
    let id = pending_as(&mut store, 1);
    grant_in(&mut store, id);
    let report = store
        .append_actions(id, &alex(), [mailbox_read()], at(hours(6)))
        .unwrap();
    assert_eq!(report.recorded, 0);
    assert_eq!(
        report.access_ended,
        Some(ClosureReason::AccessDurationElapsed)
    );
    let err = store
        .append_actions(id, &alex(), [mailbox_read()], at(hours(6)))
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongState { .. }), "{err}");
}

fn export_writes_every_record_as_json_lines<S: Fresh>() {
    let mut store = S::fresh();
    let id = pending_as(&mut store, 1);
    let mut out = Vec::new();
    let written = store
        .export_jsonl(
            &AuditQuery::new()
                .request(id)
                .page_size(PageSize::new(1).unwrap()),
            &mut out,
        )
        .unwrap();
    assert_eq!(written, 3);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        let record: AuditRecord = serde_json::from_str(line).unwrap();
        assert_eq!(record.request(), id);
    }
}

fn the_outbox_delivers_once_and_retries_failures<S: Fresh>() {
    let mut store = S::fresh();
    let id = pending_as(&mut store, 1);
    let mut sender = Recorder {
        failing: true,
        ..Recorder::default()
    };
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .unwrap();
    assert_eq!(report.failed.len(), 1, "{report}");
    sender.failing = false;
    let held = store
        .deliver(&directory(), &mut sender, at(minutes(22)), LEASE)
        .unwrap();
    assert!(held.sent.is_empty(), "{held}");
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(26)), LEASE)
        .unwrap();
    assert_eq!(report.sent, [(id, 3)], "{report}");
    assert_eq!(sender.sent[0].attempt(), 2);
    let entry = &store.outbox(id).unwrap()[0];
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 2));
    let kinds: Vec<K> = store
        .load(id)
        .unwrap()
        .audit_trail()
        .iter()
        .map(|r| r.event().kind())
        .filter(|k| matches!(k, K::DeliveryFailed | K::NotificationSent))
        .collect();
    assert_eq!(kinds, [K::DeliveryFailed, K::NotificationSent]);
    assert!(store.verify_chain(contoso()).unwrap().is_intact());
}

fn search_pages_match_the_in_memory_log<S: Fresh>() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut store = S::fresh();
    let mut log = AuditLog::new();
    for n in 1..=6 {
        let run = run_strategy().new_tree(&mut runner).unwrap().current();
        let mut request = play_as(n, &run);
        store_any(&mut store, &mut request);
        match &request {
            AnyRequest::Drafted(r) => log.capture(r),
            AnyRequest::ManagerApproved(r) => log.capture(r),
            AnyRequest::PendingCustomer(r) => log.capture(r),
            AnyRequest::Granted(r) => log.capture(r),
            AnyRequest::Closed(r) => log.capture(r),
        };
    }
    let page = |size| PageSize::new(size).unwrap();
    let queries = [
        AuditQuery::new().page_size(page(3)),
        AuditQuery::new().tenant(contoso()).page_size(page(2)),
        AuditQuery::new().request(request_id(2)),
        AuditQuery::new()
            .actor(Actor::Engineer(alex()))
            .page_size(page(4)),
        AuditQuery::new().kind(K::Granted).kind(K::Refused),
        AuditQuery::new()
            .since(at(hours(1)))
            .before(at(hours(9)))
            .page_size(page(5)),
    ];
    for query in queries {
        let mut sql = Vec::new();
        let mut memory = Vec::new();
        let (mut q, mut m) = (query.clone(), query.clone());
        loop {
            let page = store.search(&q).unwrap();
            sql.extend(page.records);
            match page.next {
                Some(cursor) => q = q.after(cursor),
                None => break,
            }
        }
        loop {
            let page = log.search(&m);
            memory.extend(page.records);
            match page.next {
                Some(cursor) => m = m.after(cursor),
                None => break,
            }
        }
        assert_eq!(sql, memory, "{query:?}");
    }
    assert!(
        !store
            .search_plan(&AuditQuery::new().kind(K::Granted))
            .unwrap()
            .is_empty()
    );
}

fn store_any<S: Store>(store: &mut S, request: &mut AnyRequest) {
    match request {
        AnyRequest::Drafted(r) => store.save(r).unwrap(),
        AnyRequest::ManagerApproved(r) => store.save(r).unwrap(),
        AnyRequest::PendingCustomer(r) => store.save(r).unwrap(),
        AnyRequest::Granted(r) => store.save(r).unwrap(),
        AnyRequest::Closed(r) => store.save(r).unwrap(),
    }
}

/// Runs each behaviour against each store.
macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $behaviour() { super::$behaviour::<customer_lockbox::SqliteStore>() })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[test] fn $behaviour() { super::$behaviour::<customer_lockbox::PostgresStore>() })*
        }
    };
}

conformance!(
    each_step_is_saved_and_loads_back,
    a_stale_save_is_a_conflict_and_writes_nothing,
    the_sweeper_expires_and_ends_access,
    appends_refuse_outside_the_window_and_close,
    export_writes_every_record_as_json_lines,
    the_outbox_delivers_once_and_retries_failures,
    search_pages_match_the_in_memory_log,
);
