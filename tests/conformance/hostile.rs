//! What a hostile or careless caller tries against a store, and what the store does instead:
//! clocks pushed into the future, actions racing a revocation, requests the store did not
//! produce. These run on the store's real clock (the database server's, or the system clock
//! for SQLite), so the requests here live in the present, not at the fixtures' fixed instants.

use std::sync::{Arc, Barrier};

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::*;

use crate::common::*;
use crate::harness::Db;
use crate::steps::{load_granted, load_pending};

/// The present, by the machine's clock, which the test servers share.
fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A request of id `n`, drafted an hour ago, notified half an hour ago, and saved: pending.
fn live_pending<S: Store>(store: &mut S, n: u128) -> RequestId {
    let start = now() - TimeDelta::hours(1);
    let fresh = Draft {
        id: request_id(n),
        ..draft()
    };
    let mut drafted = Request::draft(fresh, &policy(), start).unwrap();
    store.save(&mut drafted).unwrap();
    let mut approved = drafted.approve(&sam(), start + minutes(10)).unwrap();
    store.save(&mut approved).unwrap();
    let (mut pending, _message) = approved.notify(&policy(), start + minutes(30)).unwrap();
    store.save(&mut pending).unwrap();
    pending.id()
}

/// [`live_pending`], granted by megan 20 minutes ago (4 hours of access) and saved.
fn live_granted<S: Store>(store: &mut S, n: u128) -> RequestId {
    let id = live_pending(store, n);
    let GrantOutcome::Granted(mut granted) = load_pending(store, id)
        .grant(&megan(), &policy(), now() - minutes(20))
        .unwrap()
    else {
        panic!("granted in time")
    };
    store.save(&mut granted).unwrap();
    id
}

fn revoke_now<S: Store>(store: &mut S, id: RequestId) -> Request<Closed> {
    let mut closed = load_granted(store, id)
        .revoke(&megan(), &policy(), now())
        .unwrap();
    store.save(&mut closed).unwrap();
    closed
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

/// The loaded request's trail is the stored one, every record kept in order, and the tenant's
/// chain is intact.
fn assert_kept<S: Store>(store: &mut S, id: RequestId, before: &[AuditRecord]) -> AnyRequest {
    let loaded = store.load(id).unwrap();
    assert!(
        loaded.audit_trail().starts_with(before),
        "a record was lost"
    );
    assert!(store.verify_chain(contoso()).unwrap().is_intact());
    loaded
}

pub fn an_action_stamped_far_ahead_is_refused_and_recorded_then_a_revocation_takes_effect<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_granted(&mut store, 1);
    let before = store.load(id).unwrap().audit_trail().to_vec();
    // The engineer's clock runs 10 minutes fast.
    let ActionOutcome::Recorded(mut acted) = load_granted(&mut store, id)
        .record_action(&alex(), mailbox_read(), now() + minutes(10))
        .unwrap()
    else {
        panic!("inside the window")
    };
    let err = store.save(&mut acted).unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let loaded = assert_kept(&mut store, id, &before);
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
    let closed = revoke_now(&mut store, id);
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    assert!(closed.closed_at() >= refused_at);
    let AnyRequest::Closed(loaded) = assert_kept(&mut store, id, &before) else {
        panic!("revoked")
    };
    assert_eq!(loaded.reason(), ClosureReason::RevokedByCustomer);
    assert_eq!(loaded.audit_trail().len(), before.len() + 2);
}

pub fn an_action_stamped_ahead_within_the_bound_is_kept_and_a_revocation_follows_it<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_granted(&mut store, 1);
    let ahead = now() + minutes(1);
    let report = store
        .append_actions(id, &alex(), [mailbox_read()], ahead)
        .unwrap();
    assert_eq!(report.recorded, 1);
    // The approver's clock is right, and behind the action: the revocation is not blocked.
    let closed = revoke_now(&mut store, id);
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
    assert!(store.verify_chain(contoso()).unwrap().is_intact());
}

pub fn a_delivery_run_on_a_fast_node_is_refused_and_a_revocation_follows<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_granted(&mut store, 1);
    let before = store.load(id).unwrap().audit_trail().to_vec();
    // A node whose clock runs 10 minutes fast tries to deliver.
    let mut sender = Recorder::default();
    let err = store
        .deliver(&directory(), &mut sender, now() + minutes(10), minutes(5))
        .unwrap_err();
    assert_clock_ahead(&err, None, false);
    assert!(sender.sent.is_empty(), "nothing is sent by a refused run");
    assert!(
        store
            .outbox(id)
            .unwrap()
            .iter()
            .all(|entry| entry.status == OutboxStatus::Pending && entry.attempts == 0)
    );
    let closed = revoke_now(&mut store, id);
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    let _revoked = assert_kept(&mut store, id, &before);
    // A node with a right clock delivers everything, the post-access report included.
    let report = store
        .deliver(&directory(), &mut sender, now(), minutes(5))
        .unwrap();
    assert!(report.errors.is_empty(), "{report}");
    assert!(
        store
            .outbox(id)
            .unwrap()
            .iter()
            .all(|entry| entry.status != OutboxStatus::Pending)
    );
}

pub fn a_delivery_run_on_a_node_fast_within_the_bound_does_not_block_a_revocation<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_granted(&mut store, 1);
    let ahead = now() + minutes(1);
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, ahead, minutes(5))
        .unwrap();
    // The grant's message to the engineer went out; the approvers' request to decide was
    // dropped, since the request no longer awaits a decision. Both are records stamped ahead.
    assert_eq!(
        (report.sent.len(), report.dropped.len()),
        (1, 1),
        "{report}"
    );
    let closed = revoke_now(&mut store, id);
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    assert_eq!(closed.closed_at(), ahead);
    assert!(store.verify_chain(contoso()).unwrap().is_intact());
}

pub fn a_revocation_stamped_far_ahead_takes_effect_at_the_store_clock<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_granted(&mut store, 1);
    let mut closed = load_granted(&mut store, id)
        .revoke(&megan(), &policy(), now() + minutes(10))
        .unwrap();
    let err = store.save(&mut closed).unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let AnyRequest::Closed(loaded) = store.load(id).unwrap() else {
        panic!("the revocation took effect")
    };
    assert_eq!(loaded.reason(), ClosureReason::RevokedByCustomer);
    assert!(loaded.closed_at() <= now());
    assert_eq!(
        loaded.audit_trail().last().unwrap().actor(),
        &Actor::Approver(megan())
    );
}

pub fn a_denial_stamped_far_ahead_takes_effect_at_the_store_clock<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_pending(&mut store, 1);
    let DenyOutcome::Denied(mut closed) = load_pending(&mut store, id)
        .deny(&megan(), &policy(), now() + minutes(10))
        .unwrap()
    else {
        panic!("denied in time")
    };
    let err = store.save(&mut closed).unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let AnyRequest::Closed(loaded) = store.load(id).unwrap() else {
        panic!("the denial took effect")
    };
    assert_eq!(loaded.reason(), ClosureReason::DeniedByCustomer);
    assert!(loaded.closed_at() <= now());
}

pub fn a_grant_stamped_far_ahead_is_refused_and_recorded<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_pending(&mut store, 1);
    let GrantOutcome::Granted(mut granted) = load_pending(&mut store, id)
        .grant(&megan(), &policy(), now() + minutes(10))
        .unwrap()
    else {
        panic!("granted in time")
    };
    let err = store.save(&mut granted).unwrap_err();
    assert_clock_ahead(&err, Some(id), true);
    let pending = load_pending(&mut store, id);
    assert_eq!(
        pending.audit_trail().last().unwrap().event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal: Refusal::AheadOfStoreClock
        }
    );
}

pub fn a_new_request_stamped_far_ahead_is_not_saved<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let mut drafted = Request::draft(draft(), &policy(), now() + minutes(10)).unwrap();
    let err = store.save(&mut drafted).unwrap_err();
    assert_clock_ahead(&err, Some(drafted.id()), false);
    assert!(store.load(drafted.id()).unwrap_err().is_not_found());
    assert_eq!(db.count("SELECT count(*) FROM audit"), 0);
}

pub fn a_sweep_on_a_fast_node_moves_nothing<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_pending(&mut store, 1);
    let err = store.sweep(now() + TimeDelta::hours(13)).unwrap_err();
    assert_clock_ahead(&err, None, false);
    let _still_pending = load_pending(&mut store, id);
}

pub fn an_action_that_loses_a_race_with_a_revocation_is_kept<D: Db>() {
    let db = D::create();
    let mut engineer_node = db.open();
    let mut approver_node = db.open();
    let id = live_granted(&mut engineer_node, 1);
    // The engineer's node loaded the request; the approver revokes meanwhile.
    let granted = load_granted(&mut engineer_node, id);
    let _revoked = revoke_now(&mut approver_node, id);
    let acted_at = now();
    let ActionOutcome::Recorded(mut acted) = granted
        .record_action(&alex(), mailbox_read(), acted_at)
        .unwrap()
    else {
        panic!("inside the window")
    };
    assert!(engineer_node.save(&mut acted).unwrap_err().is_conflict());
    // Loaded again, the request is closed, and the action is kept as a refused attempt.
    let AnyRequest::Closed(closed) = engineer_node.load(id).unwrap() else {
        panic!("revoked")
    };
    let mut closed = closed
        .refuse_late_action(&alex(), mailbox_read(), acted_at)
        .into_request();
    engineer_node.save(&mut closed).unwrap();
    let last = last_record(&mut engineer_node, id);
    assert_eq!(
        last.event(),
        &AuditEvent::ActionRefused {
            action: mailbox_read(),
            refusal: Refusal::RequestClosed
        }
    );
}

pub fn actions_racing_a_revocation_are_each_recorded_once<D: Db>() {
    const ROUNDS: u128 = 12;
    const ACTIONS: usize = 3;
    let db = D::create();
    let mut setup = db.open();
    let mut nodes = (db.open(), db.open());
    for round in 0..ROUNDS {
        let id = live_granted(&mut setup, 100 + round);
        let barrier = Arc::new(Barrier::new(2));
        std::thread::scope(|scope| {
            let (engineer_node, approver_node) = (&mut nodes.0, &mut nodes.1);
            let b = barrier.clone();
            scope.spawn(move || {
                b.wait();
                for _ in 0..ACTIONS {
                    engineer_node
                        .append_actions(id, &alex(), [mailbox_read()], now())
                        .unwrap();
                }
            });
            scope.spawn(move || {
                barrier.wait();
                while let AnyRequest::Granted(granted) = approver_node.load(id).unwrap() {
                    let mut closed = granted.revoke(&megan(), &policy(), now()).unwrap();
                    match approver_node.save(&mut closed) {
                        Ok(()) => break,
                        Err(err) if err.is_conflict() => continue,
                        Err(err) => panic!("{err}"),
                    }
                }
            });
        });
        let loaded = setup.load(id).unwrap();
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

pub fn a_request_built_from_an_edited_record_is_refused_unsaved<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = live_granted(&mut store, 1);
    // The services widened in the stored form, loaded outside the store: a legal request on its
    // own, but not the one stored.
    let mut json: serde_json::Value =
        serde_json::from_str(&store.load(id).unwrap().to_record().to_json().unwrap()).unwrap();
    json["trail"][0]["event"]["details"]["services"] =
        serde_json::json!(["exchange_online", "share_point_online"]);
    let forged = RequestRecord::from_json(&json.to_string())
        .unwrap()
        .load()
        .unwrap();
    let AnyRequest::Granted(forged) = forged else {
        panic!("granted")
    };
    let sharepoint = EngineerAction::new(
        Service::SharePointOnline,
        Operation::new("Get-SPOSite").unwrap(),
        Target::new("finance site").unwrap(),
    );
    let ActionOutcome::Recorded(mut acted) =
        forged.record_action(&alex(), sharepoint, now()).unwrap()
    else {
        panic!("inside the window")
    };
    let rows = db.count("SELECT count(*) FROM audit");
    let err = store.save(&mut acted).unwrap_err();
    assert!(err.is_refused(), "{err}");
    match &err {
        StoreError::SaveRefused { request, refusal } => {
            assert_eq!(*request, id);
            assert_eq!(refusal.rule(), &BrokenRule::SavedRecordsDiffer);
        }
        other => panic!("expected SaveRefused, got {other}"),
    }
    assert_eq!(
        db.count("SELECT count(*) FROM audit"),
        rows,
        "nothing written"
    );
    // The stored request still loads, and still ends by time.
    let _still_granted = load_granted(&mut store, id);
    let swept = store.sweep(now()).unwrap();
    assert!(swept.failed.is_empty());
}

pub fn a_request_loaded_from_another_store_is_refused_unsaved<D: Db>() {
    let ours = D::create();
    let theirs = D::create();
    let (mut ours_store, mut theirs_store) = (ours.open(), theirs.open());
    let id = live_granted(&mut ours_store, 1);
    // Another store holds a request of the same id with another justification.
    let start = now() - TimeDelta::hours(1);
    let other = Draft {
        justification: Justification::new("something else entirely").unwrap(),
        ..draft()
    };
    let mut drafted = Request::draft(other, &policy(), start).unwrap();
    theirs_store.save(&mut drafted).unwrap();
    let mut approved = drafted.approve(&sam(), start + minutes(10)).unwrap();
    theirs_store.save(&mut approved).unwrap();
    let (mut pending, _) = approved.notify(&policy(), start + minutes(30)).unwrap();
    theirs_store.save(&mut pending).unwrap();
    let GrantOutcome::Granted(mut granted) = pending
        .grant(&megan(), &policy(), now() - minutes(20))
        .unwrap()
    else {
        panic!("in time")
    };
    theirs_store.save(&mut granted).unwrap();
    assert_eq!(granted.id(), id);
    let mut closed = granted.close(&alex(), now()).unwrap();
    let err = ours_store.save(&mut closed).unwrap_err();
    assert!(
        matches!(&err, StoreError::SaveRefused { refusal, .. } if refusal.rule() == &BrokenRule::SavedRecordsDiffer),
        "{err}"
    );
    let _still_granted = load_granted(&mut ours_store, id);
}
