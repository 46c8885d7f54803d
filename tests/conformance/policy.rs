//! Tenants' policies in the store: set by a tenant administrator, versioned, and the only
//! policy any step is decided against.

use std::sync::Arc;

use customer_lockbox::*;
use tokio::sync::Barrier;

use crate::common::*;
use crate::harness::Db;

fn lee() -> ApproverId {
    ApproverId::new("lee@contoso.com").unwrap()
}

/// Contoso's policy designating one approver, reached at `email`.
fn only(approver: ApproverId, email: &str) -> TenantPolicy {
    TenantPolicy::new(
        contoso(),
        vec![DesignatedApprover::new(
            approver,
            EmailAddress::new(email).unwrap(),
        )],
    )
    .unwrap()
}

fn megan_only() -> TenantPolicy {
    only(megan(), "megan@contoso.com")
}

fn lee_only() -> TenantPolicy {
    only(lee(), "lee.admin@contoso.com")
}

pub async fn each_change_is_a_version_with_who_when_before_and_after<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    // The harness set version 1 a day before t0.
    let second = set_policy_at(&store, megan_only(), at(hours(-2)))
        .await
        .unwrap();
    assert_eq!(second.version(), 2);
    assert_eq!(second.at(), at(hours(-2)));
    assert_eq!(second.changed_by(), &adele());
    assert_eq!(second.before(), Some(&policy()));
    assert_eq!(second.after(), &megan_only());
    let history = store.policy_history(contoso()).await.unwrap();
    assert_eq!(history.changes().len(), 2);
    assert_eq!(history.changes()[1], second);
    assert_eq!(store.policy(contoso()).await.unwrap(), Some(megan_only()));
    assert_eq!(store.policy(fabrikam()).await.unwrap(), None);
    // Another store on the same database reads the same history.
    assert_eq!(
        db.open().await.policy_history(contoso()).await.unwrap(),
        history
    );
}

pub async fn a_change_never_reaches_back_over_recorded_steps<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await; // notified at t0 + 20 min
    // Stamped at t0 - 1 h, it would cover the notification: it takes effect just after it.
    let change = set_policy_at(&store, lee_only(), at(hours(-1)))
        .await
        .unwrap();
    assert!(change.at() > at(minutes(20)), "{}", change.at());
    // The request notified under version 1 loads; who decides follows version 2.
    store.load(id).await.unwrap();
    let err = store.grant(id, &megan(), at(hours(1))).await.unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover));
    assert!(matches!(
        store.grant(id, &lee(), at(hours(1))).await.unwrap(),
        GrantOutcome::Granted(_)
    ));
    store.load(id).await.unwrap();
}

pub async fn a_pending_request_keeps_its_window_and_approvals<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let two_person = policy()
        .with_approvals_required(2)
        .unwrap()
        .with_decision_window(DecisionWindow::from_hours(24).unwrap());
    set_policy_at(&store, two_person, at(hours(-1)))
        .await
        .unwrap();
    let id = pending_as(&store, 1).await;
    set_policy_at(&store, policy(), at(minutes(30)))
        .await
        .unwrap();
    // Still two approvals, and the 24-hour deadline: a grant after 12 hours is in time.
    match store.grant(id, &megan(), at(hours(13))).await.unwrap() {
        GrantOutcome::AwaitingApprovals { pending, remaining } => {
            assert_eq!(remaining, 1);
            assert_eq!(pending.decision_deadline(), at(minutes(20) + hours(24)));
        }
        GrantOutcome::Granted(_) => panic!("two approvals were required at the notification"),
        GrantOutcome::Expired(_) => panic!("the 24-hour window had not run out"),
    }
    store.load(id).await.unwrap();
}

/// The race an attacker would time: an administrator removes an approver (on one node) while
/// that approver's grant is decided (on another, which read the policy before the change). The
/// grant decided under the old version is not saved under it: the write sees the newer version,
/// and the step is decided again, refused, and recorded.
pub async fn a_grant_decided_under_a_replaced_policy_is_decided_again<D: Db>() {
    let db = D::create().await;
    let node_a = db.open().await;
    let node_b = db.open().await;
    let id = pending_as(&node_a, 1).await; // node A has read Contoso's version 1
    set_policy_at(&node_b, lee_only(), at(minutes(30)))
        .await
        .unwrap();
    let err = node_a.grant(id, &megan(), at(hours(1))).await.unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover), "{err}");
    let AnyRequest::PendingCustomer(pending) = db.open().await.load(id).await.unwrap() else {
        panic!("still pending")
    };
    assert_eq!(
        pending.audit_trail().last().unwrap().event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal: Refusal::NotDesignatedApprover
        }
    );
    // And the approver the new version designates decides on that node without further ado.
    assert!(matches!(
        node_a.grant(id, &lee(), at(hours(1))).await.unwrap(),
        GrantOutcome::Granted(_)
    ));
}

/// Many rounds of the same race with real concurrency: whichever commits first, the stored
/// request is one its load accepts.
pub async fn policy_changes_racing_grants_leave_lawful_requests<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let rounds = 12u128;
    let mut ids = Vec::new();
    for n in 1..=rounds {
        ids.push(pending_as(&store, n).await);
    }
    for (round, id) in ids.into_iter().enumerate() {
        let barrier = Arc::new(Barrier::new(2));
        let (a, b) = (db.open().await, db.open().await);
        let (ba, bb) = (Arc::clone(&barrier), Arc::clone(&barrier));
        let next = if round % 2 == 0 { lee_only() } else { policy() };
        let change = tokio::spawn(async move {
            ba.wait().await;
            set_policy_at(&a, next, at(minutes(30))).await
        });
        let grant = tokio::spawn(async move {
            bb.wait().await;
            b.grant(id, &megan(), at(hours(1))).await
        });
        change.await.unwrap().unwrap();
        if let Err(err) = grant.await.unwrap() {
            assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover), "{err}");
        }
        db.open().await.load(id).await.unwrap();
    }
}

/// An insider edits the stored history (to designate someone, or to hide who was): the history
/// no longer reads, and no request of that tenant loads or steps until it is restored.
pub async fn an_edited_policy_history_is_refused<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    db.sql("UPDATE policy_changes SET changed_by = 'mallory@contoso.com'")
        .await
        .unwrap();
    let fresh = db.open().await;
    let err = fresh.policy_history(contoso()).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidPolicy(_)), "{err}");
    assert!(fresh.load(id).await.is_err());
    assert!(fresh.grant(id, &megan(), at(hours(1))).await.is_err());
}

/// A decision the stored history does not allow is refused on load by name, even if every
/// other record is lawful: an insider who inserts mallory's grant into the database is caught
/// by the history (and by the chain).
pub async fn a_grant_by_someone_never_designated_does_not_load<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = granted_as(&store, 1).await;
    db.sql(
        "UPDATE audit SET actor_id = 'mallory@contoso.com', \
         record = replace(record, 'megan@contoso.com', 'mallory@contoso.com') \
         WHERE kind = 'granted'",
    )
    .await
    .unwrap();
    let err = db.open().await.load(id).await.unwrap_err();
    let StoreError::InvalidRecord(err) = err else {
        panic!("{err}")
    };
    assert_eq!(err.rule(), &BrokenRule::NotDesignatedAtDecision, "{err}");
}

/// An insider with administrator rights swaps an approver for themselves: the approvers
/// designated before the change (the one removed included) and after it are told, in a
/// link-free message naming who changed what and when.
pub async fn a_policy_change_reaches_the_approvers_before_and_after<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let mallory = ApproverId::new("mallory@contoso.com").unwrap();
    let insider = TenantPolicy::new(
        contoso(),
        vec![
            DesignatedApprover::new(lee(), EmailAddress::new("lee.admin@contoso.com").unwrap()),
            DesignatedApprover::new(
                mallory.clone(),
                EmailAddress::new("mallory@contoso.com").unwrap(),
            ),
        ],
    )
    .unwrap()
    .with_max_access_duration(AccessDuration::CEILING);
    let change = set_policy_at(&store, insider, at(hours(-1))).await.unwrap();
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, at(hours(-1)), minutes(5))
        .await
        .unwrap();
    assert_eq!(
        report.sent(),
        vec![Topic::Policy {
            tenant: contoso(),
            version: 2
        }],
        "{report}"
    );
    let [delivery] = sender.sent.as_slice() else {
        panic!("one message: {:?}", sender.sent)
    };
    assert_eq!(delivery.policy_change(), Some((contoso(), 2)));
    assert_eq!(delivery.request(), None);
    assert_eq!(delivery.key(), format!("policy.{}.2", contoso()));
    let message = delivery.notification();
    assert_eq!(message.kind(), NotificationKind::PolicyChanged);
    let to: Vec<&str> = message
        .recipients()
        .iter()
        .map(EmailAddress::as_str)
        .collect();
    assert_eq!(
        to,
        [
            "megan@contoso.com",
            "lee.admin@contoso.com",
            "mallory@contoso.com"
        ]
    );
    let body = message.body();
    for line in [
        "Version:           2",
        "Changed by:        adele[at]contoso[.]com (tenant administrator)",
        &format!(
            "Changed at:        {}",
            change.at().format("%Y-%m-%d %H:%M:%S UTC")
        ),
        "Designated approvers before: megan[at]contoso[.]com, lee[at]contoso[.]com",
        "Designated approvers after:  lee[at]contoso[.]com, mallory[at]contoso[.]com",
        "Longest access:    4 hours -> 24 hours",
        "Approvals needed:  1 (unchanged)",
    ] {
        assert!(body.contains(line), "{line:?} not in:\n{body}");
    }
    crate::common::links::assert_link_free(&[
        ("subject".into(), message.subject().to_owned()),
        ("body".into(), body.to_owned()),
    ]);
    // Sent once: the next run has nothing to send.
    let again = store
        .deliver(&directory(), &mut sender, at(hours(1)), minutes(5))
        .await
        .unwrap();
    assert!(again.sent().is_empty(), "{again}");
}

/// A failed attempt is kept and retried after the lease; a stored message an insider edited
/// (to hide who was added) is refused unsent.
pub async fn policy_messages_are_retried_and_checked_before_sending<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    set_policy_at(&store, lee_only(), at(hours(-1)))
        .await
        .unwrap();
    let mut sender = Recorder {
        failing: Some("421 4.3.2 relay busy".into()),
        ..Recorder::default()
    };
    let report = store
        .deliver(&directory(), &mut sender, at(hours(-1)), minutes(5))
        .await
        .unwrap();
    assert_eq!(report.failed().len(), 1, "{report}");
    assert!(report.failed()[0].1.as_str().contains("relay busy"));
    sender.failing = None;
    // Within the lease, nothing is handed out again; after it, the message goes.
    let early = store
        .deliver(
            &directory(),
            &mut sender,
            at(hours(-1) + minutes(1)),
            minutes(5),
        )
        .await
        .unwrap();
    assert!(early.sent().is_empty(), "{early}");
    let later = store
        .deliver(
            &directory(),
            &mut sender,
            at(hours(-1) + minutes(6)),
            minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(
        later.sent(),
        vec![Topic::Policy {
            tenant: contoso(),
            version: 2
        }],
        "{later}"
    );

    set_policy_at(&store, megan_only(), at(hours(-1) + minutes(7)))
        .await
        .unwrap();
    db.sql("UPDATE policy_outbox SET message = replace(message, 'megan', 'meg') WHERE version = 3")
        .await
        .unwrap();
    let mut watcher = Recorder::default();
    let refused = store
        .deliver(
            &directory(),
            &mut watcher,
            at(hours(-1) + minutes(8)),
            minutes(5),
        )
        .await
        .unwrap();
    assert!(watcher.sent.is_empty(), "{:?}", watcher.sent);
    assert_eq!(refused.errors().len(), 1, "{refused}");
}

/// Policy changes are records of the tenant's log: an insider who deletes the change that
/// designated someone breaks the tenant's chain at that change's position.
pub async fn a_removed_policy_change_breaks_the_tenants_chain<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let change = set_policy_at(&store, lee_only(), at(hours(-2)))
        .await
        .unwrap();
    let _id = pending_as(&store, 1).await;
    let before = store.verify_chain(contoso()).await.unwrap();
    assert!(before.is_intact(), "{before:?}");
    // Version 2 took the chain's next position, after version 1.
    assert_eq!(
        store
            .policy_history(contoso())
            .await
            .unwrap()
            .changes()
            .len(),
        2
    );
    db.sql(
        "DELETE FROM policy_outbox WHERE version = 2; DELETE FROM policy_changes WHERE version = 2",
    )
    .await
    .unwrap();
    let ChainVerdict::Broken(found) = db.open().await.verify_chain(contoso()).await.unwrap() else {
        panic!("intact after a policy change was removed")
    };
    assert_eq!(
        (found.position, found.tampering),
        (2, Tampering::Removed),
        "{found}"
    );
    assert_eq!(change.version(), 2);
}

/// A policy change happens now: an instant more than `MAX_CLOCK_SKEW` from the store's clock,
/// behind (a change backdated two weeks) or ahead, is refused by name and nothing is written;
/// one just inside either bound is taken.
pub async fn a_policy_change_happens_now<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let now = at(hours(1));
    let clock = Arc::new(ManualClock::new(now));
    store.set_clock(clock.clone());
    let before = store.policy_history(contoso()).await.unwrap();
    let nanosecond = chrono::TimeDelta::nanoseconds(1);

    let err = store
        .set_policy(&adele(), lee_only(), now - chrono::TimeDelta::days(14))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ClockBehind { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Invalid);
    insta::assert_snapshot!("backdated_policy_change", err.to_string());
    let err = store
        .set_policy(&adele(), lee_only(), now - MAX_CLOCK_SKEW - nanosecond)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ClockBehind { .. }), "{err}");
    let err = store
        .set_policy(&adele(), lee_only(), now + MAX_CLOCK_SKEW + nanosecond)
        .await
        .unwrap_err();
    assert!(err.is_clock_ahead(), "{err}");
    assert_eq!(store.policy_history(contoso()).await.unwrap(), before);

    // Just inside each bound.
    let behind = store
        .set_policy(&adele(), lee_only(), now - MAX_CLOCK_SKEW)
        .await
        .unwrap();
    assert_eq!(behind.at(), now - MAX_CLOCK_SKEW);
    let ahead = store
        .set_policy(&adele(), megan_only(), now + MAX_CLOCK_SKEW)
        .await
        .unwrap();
    assert_eq!(ahead.at(), now + MAX_CLOCK_SKEW);
    assert_eq!(
        store
            .policy_history(contoso())
            .await
            .unwrap()
            .changes()
            .len(),
        before.changes().len() + 2
    );
}

/// A policy is checked when it is set, however it was made: one deserialized from a client's
/// JSON skips `TenantPolicy::new`, and one naming a person twice, designating nobody, or a
/// thousand approvers all required is refused by name, with nothing written.
pub async fn a_policy_that_breaks_a_rule_is_never_set<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    store.set_clock(ManualClock::new(at(hours(1))));
    let before = store.policy_history(contoso()).await.unwrap();
    let approver = |n: usize| serde_json::json!({"id": format!("a{n}@contoso.com"), "email": format!("a{n}@contoso.com")});
    let thousand: Vec<_> = (0..1000).map(approver).collect();
    let cases = [
        (
            serde_json::json!([
                {"id": "megan@contoso.com", "email": "megan@contoso.com"},
                {"id": "megan+lockbox@contoso.com", "email": "megan@contoso.com"},
            ]),
            1,
        ),
        (serde_json::json!([]), 1),
        (serde_json::Value::Array(thousand), 1000),
        // More approvals required than the most a policy takes (none, or more than
        // designated, do not even deserialize: below).
        (
            serde_json::Value::Array((0..20).map(approver).collect()),
            11,
        ),
    ];
    for required in [0, 3] {
        let refused = serde_json::from_value::<TenantPolicy>(serde_json::json!({
            "tenant": contoso(),
            "approvers": [approver(1), approver(2)],
            "approvals_required": required,
            "max_access_duration": 240,
        }));
        assert!(refused.is_err(), "{required} of 2 deserialized");
    }
    let at_most = serde_json::Value::Array((0..20).map(approver).collect());
    for (approvers, required) in cases {
        let policy: TenantPolicy = serde_json::from_value(serde_json::json!({
            "tenant": contoso(),
            "approvers": approvers,
            "approvals_required": required,
            "max_access_duration": 240,
        }))
        .unwrap();
        let err = store
            .set_policy(&adele(), policy, at(hours(1)))
            .await
            .unwrap_err();
        let StoreError::InvalidPolicy(refused) = &err else {
            panic!("{err}")
        };
        assert!(
            refused.is_duplicate_approver()
                || refused.is_invalid_approver_count()
                || refused.is_invalid_approvals_required(),
            "{err}"
        );
        assert_eq!(
            refused.is_invalid_approvals_required(),
            required == 11,
            "{err}"
        );
        assert_eq!(err.class(), ErrorClass::Invalid);
    }
    assert_eq!(store.policy_history(contoso()).await.unwrap(), before);
    // The most a policy may require, of as many designated, is set.
    let policy: TenantPolicy = serde_json::from_value(serde_json::json!({
        "tenant": contoso(),
        "approvers": at_most,
        "approvals_required": TenantPolicy::MAX_APPROVALS_REQUIRED,
        "max_access_duration": 240,
    }))
    .unwrap();
    store
        .set_policy(&adele(), policy, at(hours(1)))
        .await
        .unwrap();
}

fn kim() -> ApproverId {
    ApproverId::new("kim@contoso.com").unwrap()
}

/// Contoso's three approvers (megan, lee, kim), two of them needed.
fn two_of_three() -> TenantPolicy {
    let mut approvers = policy().approvers().to_vec();
    approvers.push(DesignatedApprover::new(
        kim(),
        EmailAddress::new("kim@contoso.com").unwrap(),
    ));
    TenantPolicy::new(contoso(), approvers)
        .unwrap()
        .with_approvals_required(2)
        .unwrap()
}

/// In a 2-of-3 policy Megan approves; an administrator removes her; Lee's grant is then one of
/// two (her approval stays on record and no longer counts), and Kim's completes the request.
/// Each step on a different handle, and the request loads from a third.
pub async fn a_removed_approvers_approval_no_longer_counts<D: Db>() {
    let db = D::create().await;
    let (node_a, node_b) = (db.open().await, db.open().await);
    set_policy_at(&node_a, two_of_three(), at(hours(-1)))
        .await
        .unwrap();
    let id = pending_as(&node_a, 1).await;
    let GrantOutcome::AwaitingApprovals { remaining, .. } =
        node_a.grant(id, &megan(), at(minutes(30))).await.unwrap()
    else {
        panic!("one of two")
    };
    assert_eq!(remaining, 1);
    let without_megan = TenantPolicy::new(contoso(), two_of_three().approvers()[1..].to_vec())
        .unwrap()
        .with_approvals_required(2)
        .unwrap();
    set_policy_at(&node_b, without_megan, at(minutes(40)))
        .await
        .unwrap();
    match node_a.grant(id, &lee(), at(hours(1))).await.unwrap() {
        GrantOutcome::AwaitingApprovals { pending, remaining } => {
            assert_eq!((remaining, pending.approvals_remaining()), (1, 1));
            assert_eq!(pending.approvals(), [megan(), lee()]);
        }
        GrantOutcome::Granted(_) => panic!("Megan's approval counted after her removal"),
        GrantOutcome::Expired(_) => panic!("expired before the deadline"),
    }
    let GrantOutcome::Granted(granted) = node_b.grant(id, &kim(), at(hours(2))).await.unwrap()
    else {
        panic!("two approvals by approvers designated now")
    };
    assert_eq!(granted.approvals(), [megan(), lee(), kim()]);
    assert_eq!(granted.granted_at(), at(hours(2)));
    assert!(matches!(
        db.open().await.load(id).await.unwrap(),
        AnyRequest::Granted(_)
    ));
}

/// Megan granted; an administrator then leaves only Lee designated. Megan still takes access
/// away (revoking never waits for a policy), and someone never designated is still refused.
/// Likewise an approver removed while a request is pending still denies it.
pub async fn a_revocation_or_denial_is_never_blocked_by_a_policy_change<D: Db>() {
    let db = D::create().await;
    let (node_a, node_b) = (db.open().await, db.open().await);
    let granted = granted_as(&node_a, 1).await; // by megan at 1 h
    let pending = pending_as(&node_a, 2).await; // notified at 20 min
    set_policy_at(&node_b, lee_only(), at(minutes(70)))
        .await
        .unwrap();
    let mallory = ApproverId::new("mallory@vendor.example").unwrap();
    let err = node_a
        .revoke(granted, &mallory, at(hours(2)))
        .await
        .unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover), "{err}");
    let revoked = node_a
        .revoke(granted, &megan(), at(hours(2)))
        .await
        .unwrap();
    assert_eq!(revoked.closed_at(), at(hours(2)));
    match node_b.deny(pending, &megan(), at(hours(2))).await.unwrap() {
        DenyOutcome::Denied(_) => {}
        DenyOutcome::Expired(_) => panic!("denied before the deadline"),
    }
    let fresh = db.open().await;
    for (id, reason) in [
        (granted, ClosureReason::RevokedByCustomer),
        (pending, ClosureReason::DeniedByCustomer),
    ] {
        let AnyRequest::Closed(closed) = fresh.load(id).await.unwrap() else {
            panic!("closed")
        };
        assert_eq!(closed.reason(), reason);
    }
    // Megan, no longer designated, grants nothing new.
    let third = pending_as(&node_a, 3).await;
    let err = node_a
        .grant(third, &megan(), at(hours(2)))
        .await
        .unwrap_err();
    assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover), "{err}");
}
