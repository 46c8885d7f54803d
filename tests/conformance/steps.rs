//! Steps the store executes, loads, races, schemas, the sweeper and engineer actions.

use std::sync::Arc;

use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;
use tokio::sync::Barrier;

use crate::common::*;
use crate::harness::Db;

pub async fn each_step_is_saved_and_loads_back<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let outbox = store.outbox(id).await.unwrap();
    assert_eq!(outbox.len(), 1, "the notification is in the outbox");
    assert_eq!(outbox[0].kind, NotificationKind::DecisionNeeded);
    assert_eq!(outbox[0].status, OutboxStatus::Pending);
    let GrantOutcome::Granted(granted) = store.grant(id, &megan(), at(hours(1))).await.unwrap()
    else {
        panic!("in time")
    };
    assert!(granted.unsaved_records().is_empty(), "the store saved it");
    let report = store
        .record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
        .await
        .unwrap();
    assert_eq!(report, AppendReport::Recorded { count: 2 });
    let closed = store.close(id, &alex(), at(hours(3))).await.unwrap();
    // A second store on the same database (another node or process) sees the same request.
    let other = db.open().await;
    let AnyRequest::Closed(loaded) = other.load(id).await.unwrap() else {
        panic!("closed")
    };
    assert_eq!(loaded.audit_trail(), closed.audit_trail());
    assert_eq!(loaded.reason(), ClosureReason::Completed);
    assert!(other.verify_chain(contoso()).await.unwrap().is_intact());
    assert_eq!(other.tenants().await.unwrap(), [contoso()]);
    let head = other.chain_head(contoso()).await.unwrap().unwrap();
    assert_eq!(
        head.position, 8,
        "Contoso's policy, then drafted, approved, notified, granted, two actions, completed"
    );
}

/// A platform's request handler, as an axum handler would be written: the store's error goes
/// up with `?`.
async fn grant_handler<B: Backend>(
    store: Store<B>,
    id: RequestId,
    approver: ApproverId,
) -> Result<&'static str, StoreError> {
    match store.grant(id, &approver, at(hours(1))).await? {
        GrantOutcome::Granted(_) => Ok("granted"),
        GrantOutcome::AwaitingApprovals { .. } => Ok("awaiting approvals"),
        GrantOutcome::Expired(_) => Ok("expired"),
    }
}

pub async fn a_refusal_propagated_with_a_question_mark_is_on_record<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let mallory = ApproverId::new("mallory@evil.example").unwrap();
    let err = grant_handler(store.clone(), id, mallory.clone())
        .await
        .unwrap_err();
    assert!(err.is_refused(), "{err}");
    assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover));
    insta::assert_snapshot!("refused", err.to_string());
    // The refusal is evidence, in the stored trail, seen by any other node.
    let last = last_record(&db.open().await, id).await;
    assert_eq!(last.actor(), &Actor::Approver(mallory));
    assert_eq!(
        last.event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal: Refusal::NotDesignatedApprover
        }
    );
    assert_eq!(grant_handler(store, id, megan()).await.unwrap(), "granted");
}

pub async fn a_refusal_that_loses_a_race_is_still_recorded<D: Db>() {
    let db = D::create().await;
    let (first, second) = (db.open().await, db.open().await);
    // The first node notified the request, so it holds it as it saved it.
    let id = pending_as(&first, 1).await;
    // Another node grants it meanwhile.
    let _granted = second.grant(id, &megan(), at(hours(1))).await.unwrap();
    // An outsider's grant on the first node is refused, and its save loses the race: the
    // refusal is recorded anyway, on the request as it now is.
    let mallory = ApproverId::new("mallory@evil.example").unwrap();
    let err = first
        .grant(id, &mallory, at(hours(1) + minutes(1)))
        .await
        .unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover), "{err}");
    let loaded = second.load(id).await.unwrap();
    assert_eq!(loaded.state(), StateKind::Granted);
    let last = loaded.audit_trail().last().unwrap();
    assert_eq!(last.actor(), &Actor::Approver(mallory));
    assert_eq!(
        last.event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal: Refusal::NotDesignatedApprover
        }
    );
    assert!(second.verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn a_taken_id_is_its_own_error_and_a_missing_one_not_found<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let _ = store.draft(draft(), t0()).await.unwrap();
    // Taken on this node, and on another (which never saw the first draft).
    for node in [store.clone(), db.open().await] {
        let err = node.draft(draft(), t0()).await.unwrap_err();
        assert!(
            matches!(err, StoreError::IdTaken { request } if request == draft().id),
            "{err}"
        );
        assert!(!err.is_conflict(), "not a lost race: retrying cannot help");
    }
    assert_eq!(db.count("SELECT count(*) FROM audit").await, 1);
    let err = store.load(request_id(99)).await.unwrap_err();
    assert!(err.is_not_found());
    insta::assert_snapshot!("not_found", err.to_string());
    let err = store
        .approve(request_id(99), &sam(), at(minutes(1)))
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

/// Grants and denials of one pending request, raced: exactly one decision lands, and the loser
/// learns the request is decided.
async fn race_decisions<B: Backend>(
    stores: [Store<B>; 2],
    id: RequestId,
) -> [Result<(), StoreError>; 2] {
    let barrier = Arc::new(Barrier::new(2));
    let [first, second] = stores;
    let grant = {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            first.grant(id, &megan(), at(hours(1))).await.map(|_| ())
        })
    };
    let deny = tokio::spawn(async move {
        barrier.wait().await;
        second
            .deny(
                id,
                &ApproverId::new("lee@contoso.com").unwrap(),
                at(hours(1)),
            )
            .await
            .map(|_| ())
    });
    [grant.await.unwrap(), deny.await.unwrap()]
}

/// Exactly one of `results` won; the other found the request decided.
fn assert_one_winner(results: &[Result<(), StoreError>], round: u128) {
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "round {round}: {results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(StoreError::is_wrong_state),
        "round {round}: {results:?}"
    );
}

pub async fn grant_and_deny_at_once_exactly_one_wins<D: Db>() {
    let db = D::create().await;
    let setup = db.open().await;
    for round in 0..5 {
        let id = pending_as(&setup, 100 + round).await;
        let results = race_decisions([db.open().await, db.open().await], id).await;
        assert_one_winner(&results, round);
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM audit WHERE request_id = '{id}' AND kind IN ('granted', 'denied')"
            ))
            .await,
            1
        );
    }
    assert!(setup.verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn many_tasks_on_one_store_handle_exactly_one_wins<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    for round in 0..8 {
        let id = pending_as(&store, 200 + round).await;
        let results = race_decisions([store.clone(), store.clone()], id).await;
        assert_one_winner(&results, round);
    }
    // Eight approvals of eight requests at once, from eight tasks sharing one handle.
    let mut tasks = Vec::new();
    for n in 0..8u128 {
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { pending_as(&store, 300 + n).await },
        ));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        db.count("SELECT count(*) FROM requests WHERE state = 'pending_customer'")
            .await,
        8
    );
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn a_newer_database_is_refused<D: Db>() {
    let db = D::create().await;
    let id = pending_as(&db.open().await, 1).await;
    db.sql(D::FUTURE_SCHEMA).await.unwrap();
    let err = D::open_at(&db.place()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("version 99"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM audit").await, 3);
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM requests WHERE id = '{id}' AND state = 'pending_customer'"
        ))
        .await,
        1
    );
}

pub async fn connecting_never_writes_and_a_read_only_store_reads<D: Db>() {
    let db = D::create().await;
    let writer = db.open().await;
    let id = granted_as(&writer, 1).await;
    let before = db.count("SELECT count(*) FROM audit").await;
    let reader = db.open_read_only().await.unwrap();
    let AnyRequest::Granted(granted) = reader.load(id).await.unwrap() else {
        panic!("granted")
    };
    assert_eq!(granted.granted_by(), &megan());
    assert_eq!(
        reader
            .search(&AuditQuery::new())
            .await
            .unwrap()
            .records
            .len() as i64,
        before
    );
    let page = reader
        .requests(&RequestQuery::tenant(contoso()))
        .await
        .unwrap();
    assert_eq!(page.requests.len(), 1);
    assert!(reader.verify_chain(contoso()).await.unwrap().is_intact());
    // Nothing it is asked to do writes.
    assert!(reader.close(id, &alex(), at(hours(2))).await.is_err());
    assert!(reader.migrate().await.is_err());
    assert!(
        reader
            .sweep(at(hours(6)))
            .await
            .map_or(true, |report| report.access_ended.is_empty()
                && !report.failed.is_empty())
    );
    assert_eq!(db.count("SELECT count(*) FROM audit").await, before);
}

pub async fn the_sweeper_moves_exactly_the_overdue_requests<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let (pending, granted) = due_requests(&store).await;
    // At 5 h: the first window has ended (at 5 h exactly), nothing has expired.
    let report = store.sweep(at(hours(5))).await.unwrap();
    assert_eq!(report.access_ended, [granted[0]]);
    assert!(report.expired.is_empty() && report.skipped.is_empty() && report.failed.is_empty());
    // At the second deadline exactly: two expire, and the second window has ended too.
    let report = store.sweep(at(hours(12) + minutes(30))).await.unwrap();
    assert_eq!(report.expired, pending[..2]);
    assert_eq!(report.access_ended, [granted[1]]);
    insta::assert_snapshot!("sweep_report", report.to_string());
    let AnyRequest::Closed(closed) = store.load(pending[0]).await.unwrap() else {
        panic!("expired")
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
    assert_eq!(closed.closed_at(), at(hours(12) + minutes(20)));
    assert!(matches!(
        store.load(pending[2]).await.unwrap(),
        AnyRequest::PendingCustomer(_)
    ));
    // Nothing is done twice.
    let again = store.sweep(at(hours(12) + minutes(30))).await.unwrap();
    assert!(again.expired.is_empty() && again.access_ended.is_empty());
}

/// Three pending requests (deadlines at 12 h 20, 12 h 30, 12 h 40) and two granted ones
/// (windows ending at 5 h and 6 h), and five drafts time never moves.
pub async fn due_requests<B: Backend>(store: &Store<B>) -> (Vec<RequestId>, Vec<RequestId>) {
    let mut pending_ids = Vec::new();
    let mut granted_ids = Vec::new();
    for n in 0..5i64 {
        let fresh = Draft {
            id: request_id(200 + n as u128),
            ..draft()
        };
        let id = store.draft(fresh, t0()).await.unwrap().id();
        let _ = store.approve(id, &sam(), at(minutes(1))).await.unwrap();
        let _ = store
            .notify(id, at(minutes(20 + 10 * n.min(2))))
            .await
            .unwrap();
        if n < 3 {
            pending_ids.push(id);
        } else {
            let GrantOutcome::Granted(_) =
                store.grant(id, &megan(), at(hours(n - 2))).await.unwrap()
            else {
                panic!("in time")
            };
            granted_ids.push(id);
        }
        let never_due = Draft {
            id: request_id(300 + n as u128),
            ..draft()
        };
        let _ = store.draft(never_due, t0()).await.unwrap();
    }
    (pending_ids, granted_ids)
}

pub async fn two_sweepers_at_once_handle_each_request_once<D: Db>() {
    let db = D::create().await;
    let (pending, granted) = due_requests(&db.open().await).await;
    let now = at(hours(13));
    let sweepers = [db.open().await, db.open().await];
    let tasks: Vec<_> = sweepers
        .into_iter()
        .map(|store| tokio::spawn(async move { store.sweep(now).await.unwrap() }))
        .collect();
    let mut reports = Vec::new();
    for task in tasks {
        reports.push(task.await.unwrap());
    }
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
        db.count("SELECT count(*) FROM audit WHERE kind IN ('expired', 'access_elapsed')")
            .await,
        5
    );
}

pub async fn actions_through_the_store_are_refused_outside_the_window<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = granted_as(&store, 1).await;
    let sharepoint = EngineerAction::new(
        Service::SharePointOnline,
        Operation::new("read").unwrap(),
        Target::new("site").unwrap(),
    );
    let report = store
        .record_actions(
            id,
            &alex(),
            [mailbox_read(), sharepoint, mailbox_read()],
            at(hours(2)),
        )
        .await
        .unwrap();
    assert_eq!(
        report,
        AppendReport::Refused {
            recorded: 2,
            refused: vec![RefusedAction::new(
                1,
                Refusal::ServiceNotRequested {
                    service: Service::SharePointOnline
                }
            )]
        }
    );
    // A batch at the end of the window: the first action ends access, and every one of them is
    // kept as refused (the second finds the request closed).
    let report = store
        .record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(5)))
        .await
        .unwrap();
    assert_eq!(
        report,
        AppendReport::AccessEnded {
            recorded: 0,
            refused: vec![
                RefusedAction::new(0, Refusal::AccessWindowEnded),
                RefusedAction::new(1, Refusal::RequestClosed),
            ],
            reason: ClosureReason::AccessDurationElapsed,
        }
    );
    let closed = store.load(id).await.unwrap();
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
            K::ActionRefused,
            K::ActionRefused
        ]
    );
    // Reported after the close: kept, as refused.
    let report = store
        .record_actions(id, &alex(), [mailbox_read()], at(hours(6)))
        .await
        .unwrap();
    assert_eq!(
        report,
        AppendReport::AccessEnded {
            recorded: 0,
            refused: vec![RefusedAction::new(0, Refusal::RequestClosed)],
            reason: ClosureReason::AccessDurationElapsed,
        }
    );
    let last = last_record(&store, id).await;
    assert_eq!(
        last.event(),
        &AuditEvent::ActionRefused {
            action: mailbox_read(),
            refusal: Refusal::RequestClosed
        }
    );
    // Before the grant there was never access to act under.
    let pending = pending_as(&store, 2).await;
    let err = store
        .record_actions(pending, &alex(), [mailbox_read()], at(hours(1)))
        .await
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
    insta::assert_snapshot!("wrong_state", err.to_string());
}

pub async fn chains_are_per_tenant<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    fabrikam_policy_in(&store).await;
    let _ = store.draft(draft(), t0()).await.unwrap();
    let _ = store
        .draft(
            Draft {
                id: request_id(2),
                tenant: fabrikam(),
                ..draft()
            },
            t0(),
        )
        .await
        .unwrap();
    let mut heads = Vec::new();
    for tenant in store.tenants().await.unwrap() {
        heads.push(store.chain_head(tenant).await.unwrap().unwrap().position);
    }
    // Each tenant's policy, then its draft.
    assert_eq!(heads, [2, 2]);
}

/// A node's next step after another node extended the same tenant's chain: the first node's
/// idea of the chain's head is stale, and its step must still land on the real head.
pub async fn nodes_taking_turns_on_one_tenant_keep_one_chain<D: Db>() {
    let db = D::create().await;
    let (first, second) = (db.open().await, db.open().await);
    for n in 0..6u128 {
        let store = if n % 2 == 0 { &first } else { &second };
        pending_as(store, 10 + n).await;
    }
    let head = first.chain_head(contoso()).await.unwrap().unwrap();
    assert_eq!(
        head.position, 19,
        "Contoso's policy, then six requests, three records each"
    );
    assert!(first.verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn an_older_database_waits_for_its_migration<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    // Back to version 1, as an older build left it: every call says so until migrated.
    db.sql(D::PAST_SCHEMA).await.unwrap();
    let stale = D::open_at(&db.place()).await.unwrap();
    let err = stale.load(id).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaBehind { found: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("call `migrate`"), "{err}");
    db.sql(D::CURRENT_SCHEMA).await.unwrap();
    assert!(matches!(
        stale.load(id).await.unwrap(),
        AnyRequest::PendingCustomer(_)
    ));
}

/// A database the previous build left (schema version 2: no request summaries) gains them from
/// each request's draft record when migrated, and everything loads and lists as before.
pub async fn a_version_2_database_is_backfilled_by_its_migration<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let pending = pending_as(&store, 1).await;
    let granted = granted_as(&store, 2).await;
    fabrikam_policy_in(&store).await;
    let other = Draft {
        id: request_id(3),
        tenant: fabrikam(),
        services: Services::new(vec![
            Service::SharePointOnline,
            Service::OneDriveForBusiness,
        ])
        .unwrap(),
        ..draft()
    };
    let drafted = store.draft(other, t0()).await.unwrap().id();
    let listing = async |store: &Store<D::Backend>| {
        let mut all = Vec::new();
        for tenant in [contoso(), fabrikam()] {
            all.extend(
                store
                    .requests(&RequestQuery::tenant(tenant))
                    .await
                    .unwrap()
                    .requests,
            );
        }
        all
    };
    let before = listing(&store).await;
    assert_eq!(before.len(), 3);

    db.sql(D::VERSION_2).await.unwrap();
    let old = D::open_at(&db.place()).await.unwrap();
    assert!(matches!(
        old.load(pending).await.unwrap_err(),
        StoreError::SchemaBehind { found: 2, .. }
    ));
    old.migrate().await.unwrap();
    assert_eq!(listing(&old).await, before);
    old.load(drafted).await.unwrap();
    // The simulation dropped the policies Contoso's requests were notified and granted under,
    // as an insider deleting a tenant's policy history would: with no policy in force, nobody
    // was designated, and those requests are refused, by name (a real version-2 database holds
    // only record-format-1 requests, which load: `a_record_format_1_database_loads_and_migrates`).
    for id in [pending, granted] {
        let err = old.load(id).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidRecord(e) if e.rule() == &BrokenRule::NoPolicyInForce),
            "{err:?}"
        );
    }
    // Contoso's log began with a policy change, which this simulation of version 2 dropped: a
    // log with an entry missing, which no version-2 database has (the committed fixture's logs grow
    // on once migrated: `log::a_record_format_2_database_builds_its_trees_when_migrated`). Its
    // tree is built over the entries there are, so it does not reach the chain's head, and the
    // store refuses to extend it (as it would any log an entry was removed from) rather than
    // sign over a gap.
    let err = set_policy_at(&old, policy(), at(hours(2)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("lacks its subtree"), "{err}");
}

/// A database the record-format-1 build wrote (the committed fixture: 12 requests in every
/// state, two tenants, messages sent, dropped and failed) migrates, and then every request
/// loads as its committed record does, every chain verifies, the failed messages are still
/// listed with their error, and steps go on.
pub async fn a_record_format_1_database_loads_and_migrates<D: Db>() {
    let db = D::fixture_database("record-v1").await;
    let store = db.open().await;
    store.migrate().await.unwrap();
    assert_eq!(store.policy(contoso()).await.unwrap(), None);
    let fixtures = record_v1_fixtures();
    assert_eq!(fixtures.len(), 12);
    // Every request is format 2 now; no row is left at format 1.
    assert_eq!(
        db.count("SELECT count(*) FROM requests WHERE record_version <> 2")
            .await,
        0
    );
    for (name, record) in &fixtures {
        let loaded = store.load(record.id()).await.unwrap();
        assert!(
            name.starts_with(loaded.state().as_str()),
            "{name} loaded as {}",
            loaded.state()
        );
        assert_eq!(
            loaded.to_record(),
            record.clone().load().unwrap().to_record(),
            "{name}"
        );
    }
    for tenant in [contoso(), fabrikam()] {
        let verdict = store.verify_chain(tenant).await.unwrap();
        assert!(verdict.is_intact(), "{tenant}: {verdict:?}");
    }
    let failed = store
        .outbox_view(&OutboxQuery::new(OutboxView::Failed))
        .await
        .unwrap();
    assert_eq!(failed.entries.len(), 3);
    let pending = fixtures
        .iter()
        .find(|(name, _)| name == "pending_customer")
        .unwrap()
        .1
        .id();
    // Format 1 stored no policies: once Contoso's administrator sets one, steps go on.
    contoso_policy_in(&store).await;
    match store.grant(pending, &megan(), at(hours(15))).await.unwrap() {
        GrantOutcome::Granted(_) => {}
        GrantOutcome::AwaitingApprovals { .. } => panic!("one approval is enough"),
        GrantOutcome::Expired(_) => panic!("granted before the deadline"),
    }
}

/// The two-person rule through the store: the first approval is saved and the request waits,
/// the same approver again is refused on record, the second starts access; everything loads
/// back, and the approvers' message in the outbox says two must grant.
pub async fn two_approvals_through_the_store<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    set_policy_at(
        &store,
        policy().with_approvals_required(2).unwrap(),
        at(hours(-1)),
    )
    .await
    .unwrap();
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    let id = store.draft(draft(), t0()).await.unwrap().id();
    store.approve(id, &sam(), at(minutes(10))).await.unwrap();
    store.notify(id, at(minutes(20))).await.unwrap();
    let mut sender = Recorder::default();
    store
        .deliver(&directory(), &mut sender, at(minutes(21)), minutes(5))
        .await
        .unwrap();
    let body = sender.sent[0].notification().body();
    assert!(body.contains("Approvals needed:  2 of the 2"), "{body}");
    match store.grant(id, &megan(), at(hours(1))).await.unwrap() {
        GrantOutcome::AwaitingApprovals { pending, remaining } => {
            assert_eq!(remaining, 1);
            assert_eq!(pending.approvals(), [megan()]);
        }
        GrantOutcome::Granted(_) => panic!("one of two approved"),
        GrantOutcome::Expired(_) => panic!("expired before the deadline"),
    }
    let err = store.grant(id, &megan(), at(hours(1))).await.unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::AlreadyApproved));
    let AnyRequest::PendingCustomer(pending) = store.load(id).await.unwrap() else {
        panic!("still pending")
    };
    assert_eq!(pending.approvals(), [megan()]);
    match store.grant(id, &lee, at(hours(2))).await.unwrap() {
        GrantOutcome::Granted(granted) => {
            assert_eq!(granted.access_ends_at(), at(hours(6)));
            assert_eq!(granted.approvals(), [megan(), lee.clone()]);
        }
        GrantOutcome::AwaitingApprovals { .. } => panic!("two of two approved"),
        GrantOutcome::Expired(_) => panic!("expired before the deadline"),
    }
    let AnyRequest::Granted(granted) = store.load(id).await.unwrap() else {
        panic!("granted")
    };
    assert_eq!(
        kinds(&granted)[3..],
        [K::NotificationSent, K::Approved, K::Refused, K::Granted]
    );
}
