//! Idempotency keys: a call repeated with its key takes nothing and answers what the first call
//! did, on any node, in a race, and after the request moved on.

use std::sync::Arc;

use customer_lockbox::*;
use tokio::sync::Barrier;

use crate::common::*;
use crate::harness::Db;

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).unwrap()
}

/// How many audit records request `id` has in the database.
async fn records<D: Db>(db: &D, id: RequestId) -> i64 {
    db.count(&format!(
        "SELECT count(*) FROM audit WHERE request_id = '{id}'"
    ))
    .await
}

/// Every step of a request taken with a key, then each repeated with its key on another node
/// (after the request moved on): nothing is taken twice, and each answer is the first one's.
pub async fn each_step_repeated_with_its_key_takes_nothing<D: Db>() {
    let db = D::create().await;
    let [a, b] = [db.open().await, db.open().await];
    let id = draft().id;
    let drafted = a
        .draft(draft(), t0())
        .idempotency_key(key("d"))
        .await
        .unwrap();
    let approved = a
        .approve(id, &sam(), at(minutes(10)))
        .idempotency_key(key("a"))
        .await
        .unwrap();
    let pending = a
        .notify(id, at(minutes(20)))
        .idempotency_key(key("n"))
        .await
        .unwrap();
    let GrantOutcome::Granted(granted) = a
        .grant(id, &megan(), at(hours(1)))
        .idempotency_key(key("g"))
        .await
        .unwrap()
    else {
        panic!("granted")
    };
    let report = a
        .record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
        .idempotency_key(key("r"))
        .await
        .unwrap();
    assert_eq!(report, AppendReport::Recorded { count: 2 });
    let closed = a
        .close(id, &alex(), at(hours(3)))
        .idempotency_key(key("c"))
        .await
        .unwrap();
    let stored = records(&db, id).await;
    assert_eq!(stored, 7);

    // Each call again, on the other node, with later instants: the first answers.
    let again = b
        .draft(draft(), t0())
        .idempotency_key(key("d"))
        .await
        .unwrap();
    assert_eq!(again.audit_trail(), drafted.audit_trail());
    let again = b
        .approve(id, &sam(), at(hours(4)))
        .idempotency_key(key("a"))
        .await
        .unwrap();
    assert_eq!(again.audit_trail(), approved.audit_trail());
    let again = b
        .notify(id, at(hours(4)))
        .idempotency_key(key("n"))
        .await
        .unwrap();
    assert_eq!(again.audit_trail(), pending.audit_trail());
    let GrantOutcome::Granted(again) = b
        .grant(id, &megan(), at(hours(4)))
        .idempotency_key(key("g"))
        .await
        .unwrap()
    else {
        panic!("answered as granted")
    };
    assert_eq!(again.audit_trail(), granted.audit_trail());
    assert_eq!(again.access_ends_at(), granted.access_ends_at());
    let again = b
        .record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(4)))
        .idempotency_key(key("r"))
        .await
        .unwrap();
    assert_eq!(again, report);
    let again = b
        .close(id, &alex(), at(hours(4)))
        .idempotency_key(key("c"))
        .await
        .unwrap();
    assert_eq!(again.audit_trail(), closed.audit_trail());
    assert_eq!(records(&db, id).await, stored, "nothing taken twice");
    assert!(b.verify_chain(contoso()).await.unwrap().is_intact());
}

/// A refused step's key answers with the refusal, which is on record once.
pub async fn a_refusal_repeated_with_its_key_is_recorded_once<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let mallory = ApproverId::new("mallory@evil.example").unwrap();
    for node in [store.clone(), db.open().await] {
        let err = node
            .grant(id, &mallory, at(hours(1)))
            .idempotency_key(key("mallory-1"))
            .await
            .unwrap_err();
        assert_eq!(err.refusal(), Some(Refusal::NotDesignatedApprover), "{err}");
    }
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM audit WHERE request_id = '{id}' AND kind = 'refused'"
        ))
        .await,
        1
    );
    // The same attempt with another key is another attempt.
    let err = store
        .grant(id, &mallory, at(hours(1)))
        .idempotency_key(key("mallory-2"))
        .await
        .unwrap_err();
    assert!(err.is_refused());
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM audit WHERE request_id = '{id}' AND kind = 'refused'"
        ))
        .await,
        2
    );
}

/// The same batch sent twice at once, on two nodes, with one key: recorded once, and both
/// answered with its report.
pub async fn actions_raced_with_one_key_are_recorded_once<D: Db>() {
    let db = D::create().await;
    let setup = db.open().await;
    for round in 0..6u128 {
        let id = granted_as(&setup, 10 + round).await;
        let before = records(&db, id).await;
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for node in [db.open().await, db.open().await] {
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                node.record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
                    .idempotency_key(key("batch-1"))
                    .await
            }));
        }
        for task in tasks {
            let report = task.await.unwrap().unwrap();
            assert_eq!(report, AppendReport::Recorded { count: 2 }, "round {round}");
        }
        assert_eq!(records(&db, id).await, before + 2, "round {round}");
    }
}

/// A key names one action of a client: given to another step of the request, it is refused,
/// and nothing is taken; on another request it is another key.
pub async fn a_key_is_one_step_of_one_request<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = store.draft(draft(), t0()).await.unwrap().id();
    store
        .approve(id, &sam(), at(minutes(10)))
        .idempotency_key(key("k"))
        .await
        .unwrap();
    let err = store
        .notify(id, at(minutes(20)))
        .idempotency_key(key("k"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::KeyReused { kept_step, step: Step::Notify, .. } if kept_step == "approve"),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Invalid);
    insta::assert_snapshot!("key_reused", err.to_string());
    assert_eq!(records(&db, id).await, 2, "nothing taken");
    // The same key on another request.
    let other = Draft {
        id: request_id(2),
        ..draft()
    };
    store.draft(other, t0()).await.unwrap();
    store
        .approve(request_id(2), &sam(), at(minutes(10)))
        .idempotency_key(key("k"))
        .await
        .unwrap();
    assert_eq!(records(&db, request_id(2)).await, 2);
}

/// A draft repeated with its key answers the draft; without it, the id is taken.
pub async fn a_draft_repeated_with_its_key_answers_the_draft<D: Db>() {
    let db = D::create().await;
    let [a, b] = [db.open().await, db.open().await];
    let first = a
        .draft(draft(), t0())
        .idempotency_key(key("draft"))
        .await
        .unwrap();
    let again = b
        .draft(draft(), t0())
        .idempotency_key(key("draft"))
        .await
        .unwrap();
    assert_eq!(again.audit_trail(), first.audit_trail());
    let err = b.draft(draft(), t0()).await.unwrap_err();
    assert!(err.is_id_taken(), "{err}");
    let err = b
        .draft(draft(), t0())
        .idempotency_key(key("another"))
        .await
        .unwrap_err();
    assert!(err.is_id_taken(), "{err}");
    assert_eq!(records(&db, first.id()).await, 1);
}

/// A step whose instant was too far ahead of the store's clock, repeated with its key, answers
/// as it did, and its refused attempt is on record once.
pub async fn a_step_ahead_of_the_clock_repeated_with_its_key_is_recorded_once<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = granted_as(&store, 1).await;
    let far = chrono::Utc::now() + hours(1);
    for _ in 0..2 {
        let err = store
            .record_actions(id, &alex(), [mailbox_read()], far)
            .idempotency_key(key("fast"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ClockAhead { recorded: true, .. }),
            "{err}"
        );
    }
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM audit WHERE request_id = '{id}' AND kind = 'action_refused'"
        ))
        .await,
        1
    );
}
