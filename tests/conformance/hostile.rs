//! What a hostile or careless caller tries against a store, and what the store does instead:
//! clocks pushed into the future, actions racing a revocation, requests the store did not
//! produce. These run on the store's real clock (the database server's, or the system clock
//! for SQLite), so the requests here live in the present, not at the fixtures' fixed instants.

use std::sync::Arc;

use tokio::sync::Barrier;

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::*;

use crate::common::*;
use crate::harness::Db;

/// The present, by the machine's clock, which the test servers share.
fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A request of id `n`, drafted an hour ago, notified half an hour ago: pending.
async fn live_pending<B: Backend>(store: &Store<B>, n: u128) -> RequestId {
    let start = now() - TimeDelta::hours(1);
    let fresh = Draft {
        id: request_id(n),
        ..draft()
    };
    let id = store.draft(fresh, start).await.unwrap().id();
    let _ = store
        .approve(id, &sam(), start + minutes(10))
        .await
        .unwrap();
    let _ = store.notify(id, start + minutes(30)).await.unwrap();
    id
}

/// [`live_pending`], granted by megan 20 minutes ago (4 hours of access).
async fn live_granted<B: Backend>(store: &Store<B>, n: u128) -> RequestId {
    let id = live_pending(store, n).await;
    let GrantOutcome::Granted(_) = store
        .grant(id, &megan(), now() - minutes(20))
        .await
        .unwrap()
    else {
        panic!("granted in time")
    };
    id
}

async fn revoke_now<B: Backend>(store: &Store<B>, id: RequestId) -> Request<Closed> {
    store.revoke(id, &megan(), now()).await.unwrap()
}

fn assert_clock_ahead(err: &StoreError, request: Option<RequestId>, recorded: bool) {
    assert!(
        matches!(
            err,
            StoreError::ClockAhead { request: r, recorded: w, .. } if *r == request && *w == recorded
        ),
        "{err}"
    );
    assert!(err.is_clock_ahead());
}

/// The loaded request's trail starts with `before`, every record kept in order, and the
/// tenant's chain is intact.
async fn assert_kept<B: Backend>(
    store: &Store<B>,
    id: RequestId,
    before: &[AuditRecord],
) -> AnyRequest {
    let loaded = store.load(id).await.unwrap();
    assert!(
        loaded.audit_trail().starts_with(before),
        "a record was lost"
    );
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
    loaded
}

pub async fn an_action_stamped_far_ahead_is_refused_and_recorded_then_a_revocation_takes_effect<
    D: Db,
>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_granted(&store, 1).await;
    let before = store.load(id).await.unwrap().audit_trail().to_vec();
    // The engineer's clock runs 10 minutes fast.
    let err = store
        .record_actions(id, &alex(), [mailbox_read()], now() + minutes(10))
        .await
        .unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let loaded = assert_kept(&store, id, &before).await;
    let last = loaded.audit_trail().last().unwrap();
    assert_eq!(
        last.event(),
        &AuditEvent::ActionRefused {
            action: mailbox_read(),
            refusal: Refusal::AheadOfStoreClock
        }
    );
    assert_eq!(last.actor(), &Actor::Engineer(alex()));
    assert!(
        last.at() <= now(),
        "recorded at the store's clock, not the engineer's"
    );
    // The customer's revocation, at the true time, takes effect.
    let refused_at = last.at();
    let closed = revoke_now(&store, id).await;
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    assert!(closed.closed_at() >= refused_at);
    let AnyRequest::Closed(loaded) = assert_kept(&store, id, &before).await else {
        panic!("revoked")
    };
    assert_eq!(loaded.reason(), ClosureReason::RevokedByCustomer);
    assert_eq!(loaded.audit_trail().len(), before.len() + 2);
}

pub async fn an_action_stamped_ahead_within_the_bound_is_kept_and_a_revocation_follows_it<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_granted(&store, 1).await;
    let ahead = now() + minutes(1);
    let report = store
        .record_actions(id, &alex(), [mailbox_read()], ahead)
        .await
        .unwrap();
    assert_eq!(report.recorded(), 1);
    // The approver's clock is right, and behind the action: the revocation is not blocked.
    let closed = revoke_now(&store, id).await;
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    assert_eq!(
        closed.closed_at(),
        ahead,
        "recorded at the last record's instant"
    );
    let kinds: Vec<AuditEventKind> = closed
        .audit_trail()
        .iter()
        .map(|r| r.event().kind())
        .collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        [AuditEventKind::EngineerActed, AuditEventKind::Revoked]
    );
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn a_delivery_run_on_a_fast_node_is_refused_and_a_revocation_follows<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_granted(&store, 1).await;
    let before = store.load(id).await.unwrap().audit_trail().to_vec();
    // A node whose clock runs 10 minutes fast tries to deliver.
    let mut sender = Recorder::default();
    let err = store
        .deliver(&directory(), &mut sender, now() + minutes(10), minutes(5))
        .await
        .unwrap_err();
    assert_clock_ahead(&err, None, false);
    assert!(sender.sent.is_empty(), "nothing is sent by a refused run");
    assert!(
        store
            .outbox(id)
            .await
            .unwrap()
            .iter()
            .all(|entry| entry.status == OutboxStatus::Pending && entry.attempts == 0)
    );
    let closed = revoke_now(&store, id).await;
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    let _revoked = assert_kept(&store, id, &before).await;
    // A node with a right clock delivers everything, the post-access report included.
    let report = store
        .deliver(&directory(), &mut sender, now(), minutes(5))
        .await
        .unwrap();
    assert!(report.errors().is_empty(), "{report}");
    assert!(
        store
            .outbox(id)
            .await
            .unwrap()
            .iter()
            .all(|entry| entry.status != OutboxStatus::Pending)
    );
}

pub async fn a_delivery_run_on_a_node_fast_within_the_bound_does_not_block_a_revocation<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_granted(&store, 1).await;
    let ahead = now() + minutes(1);
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, ahead, minutes(5))
        .await
        .unwrap();
    // The grant's message to the engineer went out; the approvers' request to decide was
    // dropped, since the request no longer awaits a decision. Both are records stamped ahead.
    assert_eq!(
        (report.sent().len(), report.dropped().len()),
        (1, 1),
        "{report}"
    );
    let closed = revoke_now(&store, id).await;
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    assert_eq!(closed.closed_at(), ahead);
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn a_revocation_stamped_far_ahead_takes_effect_at_the_store_clock<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_granted(&store, 1).await;
    let err = store
        .revoke(id, &megan(), now() + minutes(10))
        .await
        .unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let AnyRequest::Closed(loaded) = store.load(id).await.unwrap() else {
        panic!("the revocation took effect")
    };
    assert_eq!(loaded.reason(), ClosureReason::RevokedByCustomer);
    assert!(loaded.closed_at() <= now());
    assert_eq!(
        loaded.audit_trail().last().unwrap().actor(),
        &Actor::Approver(megan())
    );
}

pub async fn a_denial_stamped_far_ahead_takes_effect_at_the_store_clock<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_pending(&store, 1).await;
    let err = store
        .deny(id, &megan(), now() + minutes(10))
        .await
        .unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let AnyRequest::Closed(loaded) = store.load(id).await.unwrap() else {
        panic!("the denial took effect")
    };
    assert_eq!(loaded.reason(), ClosureReason::DeniedByCustomer);
    assert!(loaded.closed_at() <= now());
}

pub async fn a_grant_stamped_far_ahead_is_refused_and_recorded<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_pending(&store, 1).await;
    let err = store
        .grant(id, &megan(), now() + minutes(10))
        .await
        .unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let StoreError::ClockAhead {
        given, store_clock, ..
    } = &err
    else {
        panic!("{err}")
    };
    let text = |at: &chrono::DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    insta::assert_snapshot!(
        "clock_ahead",
        err.to_string()
            .replace(&text(given), "<given>")
            .replace(&text(store_clock), "<store clock>")
            .replace(&id.to_string(), "<request>")
    );
    let loaded = store.load(id).await.unwrap();
    assert_eq!(loaded.state(), StateKind::PendingCustomer);
    assert_eq!(
        loaded.audit_trail().last().unwrap().event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal: Refusal::AheadOfStoreClock
        }
    );
}

pub async fn a_new_request_stamped_far_ahead_is_not_saved<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let err = store.draft(draft(), now() + minutes(10)).await.unwrap_err();
    assert_clock_ahead(&err, Some(draft().id), false);
    assert!(store.load(draft().id).await.unwrap_err().is_not_found());
    assert_eq!(db.count("SELECT count(*) FROM audit").await, 0);
}

pub async fn a_sweep_on_a_fast_node_moves_nothing<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = live_pending(&store, 1).await;
    let err = store.sweep(now() + TimeDelta::hours(13)).await.unwrap_err();
    assert_clock_ahead(&err, None, false);
    assert_eq!(
        store.load(id).await.unwrap().state(),
        StateKind::PendingCustomer
    );
}

pub async fn an_action_that_loses_a_race_with_a_revocation_is_kept<D: Db>() {
    let db = D::create().await;
    let (engineer_node, approver_node) = (db.open().await, db.open().await);
    // The engineer's node granted-and-holds the request; the approver revokes on another node.
    let id = live_granted(&engineer_node, 1).await;
    let _revoked = revoke_now(&approver_node, id).await;
    // The engineer's node reports an action it took: its write loses the race, and the action
    // is kept, as a refused attempt on the closed request.
    let report = engineer_node
        .record_actions(id, &alex(), [mailbox_read()], now())
        .await
        .unwrap();
    assert_eq!(
        report.refused(),
        [RefusedAction::new(0, Refusal::RequestClosed)]
    );
    let last = last_record(&approver_node, id).await;
    assert_eq!(
        last.event(),
        &AuditEvent::ActionRefused {
            action: mailbox_read(),
            refusal: Refusal::RequestClosed
        }
    );
}

pub async fn actions_racing_a_revocation_are_each_recorded_once<D: Db>() {
    const ROUNDS: u128 = 12;
    const ACTIONS: usize = 3;
    let db = D::create().await;
    let setup = db.open().await;
    let (engineer_node, approver_node) = (db.open().await, db.open().await);
    for round in 0..ROUNDS {
        let id = live_granted(&setup, 100 + round).await;
        let barrier = Arc::new(Barrier::new(2));
        let engineer = {
            let (store, barrier) = (engineer_node.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..ACTIONS {
                    // Taken or refused, each is kept: the test counts them in the trail.
                    let _report = store
                        .record_actions(id, &alex(), [mailbox_read()], now())
                        .await
                        .unwrap();
                }
            })
        };
        let approver = {
            let store = approver_node.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let _ = store.revoke(id, &megan(), now()).await.unwrap();
            })
        };
        engineer.await.unwrap();
        approver.await.unwrap();
        let loaded = setup.load(id).await.unwrap();
        let trail = loaded.audit_trail();
        let acted = trail
            .iter()
            .filter(|r| matches!(r.event(), AuditEvent::EngineerActed { .. }))
            .count();
        let kept = trail
            .iter()
            .filter(|r| {
                matches!(
                    r.event(),
                    AuditEvent::ActionRefused {
                        refusal: Refusal::RequestClosed,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(
            acted + kept,
            ACTIONS,
            "round {round}: every action is on the record once"
        );
        assert_eq!(loaded.state(), StateKind::Closed);
    }
}

/// An insider widens a stored request's services (its draft record and its summary column):
/// the store refuses to take any step on it, naming the rule, and writes nothing, so a step
/// never lands on a trail its own load refuses.
pub async fn a_request_edited_in_the_database_is_never_stepped<D: Db>() {
    let db = D::create().await;
    let id = live_granted(&db.open().await, 1).await;
    db.sql(
        "UPDATE audit SET record = replace(record, '[\"exchange_online\"]', \
         '[\"exchange_online\",\"share_point_online\"]') WHERE sequence = 1; \
         UPDATE requests SET services = 'exchange_online,share_point_online'",
    )
    .await
    .unwrap();
    let before = db.count("SELECT count(*) FROM audit").await;
    // Another node, whose cache has never seen the request.
    let node = db.open().await;
    let action = EngineerAction::new(
        Service::SharePointOnline,
        Operation::new("Get-SPOSite").unwrap(),
        Target::new("finance site").unwrap(),
    );
    let err = node
        .record_actions(id, &alex(), [action], now())
        .await
        .unwrap_err();
    // The widened draft is a lawful run on its own: its hash is what gives it away.
    let StoreError::InvalidRecord(refusal) = &err else {
        panic!("refused as edited, got {err}")
    };
    assert_eq!(
        (refusal.rule(), refusal.sequence()),
        (&BrokenRule::LinkDisagrees, Some(1))
    );
    let err = node.revoke(id, &megan(), now()).await.unwrap_err();
    assert!(err.is_invalid_record(), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM audit").await, before);
}

/// A store given a clock checks steps against it, not against the system's or the server's:
/// a grant stamped ten minutes ahead of it is recorded as refused at that clock's instant.
pub async fn a_store_given_a_clock_checks_steps_against_it<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let now = at(hours(1));
    store.set_clock(std::sync::Arc::new(ManualClock::new(now)));
    let err = store
        .grant(id, &megan(), now + minutes(10))
        .await
        .unwrap_err();
    match err {
        StoreError::ClockAhead {
            store_clock,
            recorded: true,
            ..
        } => assert_eq!(store_clock, now),
        other => panic!("{other}"),
    }
    let last = last_record(&store, id).await;
    assert_eq!(last.at(), now);
    assert_eq!(
        last.event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal: Refusal::AheadOfStoreClock
        }
    );
    // Within the bound, the grant is taken.
    let granted = store.grant(id, &megan(), now + minutes(1)).await.unwrap();
    assert!(matches!(granted, GrantOutcome::Granted(_)));
}
