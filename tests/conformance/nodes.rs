//! Many nodes, one truth: a platform routes each call to whichever node is free, so every step
//! of one request may be taken on a node that saw the request earlier, in another state, or
//! never. Each node here is a store handle of its own on one database (its own connections and
//! its own memory of what it wrote), as two service processes would be.

use std::sync::Arc;

use customer_lockbox::*;
use tokio::sync::Barrier;

use crate::common::*;
use crate::harness::Db;

/// One step of the Contoso request, on whichever node the test routes it to.
#[derive(Clone, Debug)]
enum Do {
    Draft,
    Approve,
    Reject,
    Withdraw,
    Notify,
    Grant(&'static str),
    Deny,
    Act,
    Revoke,
    Close,
    Sweep,
}

fn lee() -> ApproverId {
    ApproverId::new("lee@contoso.com").unwrap()
}

/// Takes `step` on `store` at `now`, and says what the request is afterwards: its state, or the
/// error the store gave.
async fn take<B: Backend>(
    store: &Store<B>,
    id: RequestId,
    step: &Do,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<StateKind, StoreError> {
    let state = match step {
        Do::Draft => {
            let draft = Draft { id, ..draft() };
            store.draft(draft, now).await?;
            StateKind::Drafted
        }
        Do::Approve => store
            .approve(id, &sam(), now)
            .await
            .map(|_| StateKind::ManagerApproved)?,
        Do::Reject => store
            .reject(id, &sam(), now)
            .await
            .map(|_| StateKind::Closed)?,
        Do::Withdraw => store
            .withdraw(id, &alex(), now)
            .await
            .map(|_| StateKind::Closed)?,
        Do::Notify => store
            .notify(id, now)
            .await
            .map(|_| StateKind::PendingCustomer)?,
        Do::Grant(who) => match store
            .grant(id, &ApproverId::new(*who).unwrap(), now)
            .await?
        {
            GrantOutcome::Granted(_) => StateKind::Granted,
            GrantOutcome::AwaitingApprovals { .. } => StateKind::PendingCustomer,
            GrantOutcome::Expired(_) => StateKind::Closed,
        },
        Do::Deny => store
            .deny(id, &lee(), now)
            .await
            .map(|_| StateKind::Closed)?,
        Do::Act => {
            let report = store
                .record_actions(id, &alex(), [mailbox_read()], now)
                .await?;
            if report.access_ended().is_some() {
                StateKind::Closed
            } else {
                StateKind::Granted
            }
        }
        Do::Revoke => store
            .revoke(id, &lee(), now)
            .await
            .map(|_| StateKind::Closed)?,
        Do::Close => store
            .close(id, &alex(), now)
            .await
            .map(|_| StateKind::Closed)?,
        Do::Sweep => {
            let report = store.sweep(now).await?;
            assert!(report.failed.is_empty(), "{report}");
            store.load(id).await?.state()
        }
    };
    Ok(state)
}

/// A step, the minutes after t0 it is taken at, and the state it must leave the request in.
type Taken = (Do, i64, StateKind);

/// Each ending of a request, its steps taken on nodes A and B in turn (A first).
fn endings() -> Vec<(&'static str, ClosureReason, Vec<Taken>)> {
    use StateKind as S;
    let megan = "megan@contoso.com";
    let to_pending = || {
        vec![
            (Do::Draft, 0, S::Drafted),
            (Do::Approve, 10, S::ManagerApproved),
            (Do::Notify, 20, S::PendingCustomer),
        ]
    };
    let then = |mut steps: Vec<Taken>, more: Vec<Taken>| {
        steps.extend(more);
        steps
    };
    vec![
        (
            "rejected",
            ClosureReason::RejectedByManager,
            vec![(Do::Draft, 0, S::Drafted), (Do::Reject, 10, S::Closed)],
        ),
        (
            "withdrawn",
            ClosureReason::WithdrawnByEngineer,
            then(to_pending(), vec![(Do::Withdraw, 30, S::Closed)]),
        ),
        (
            "denied",
            ClosureReason::DeniedByCustomer,
            then(to_pending(), vec![(Do::Deny, 60, S::Closed)]),
        ),
        (
            "expired",
            ClosureReason::ExpiredUnanswered,
            then(to_pending(), vec![(Do::Sweep, 13 * 60, S::Closed)]),
        ),
        (
            "revoked",
            ClosureReason::RevokedByCustomer,
            then(
                to_pending(),
                vec![
                    (Do::Grant(megan), 60, S::Granted),
                    (Do::Act, 90, S::Granted),
                    (Do::Revoke, 120, S::Closed),
                    // A late action on the node that last saw the request granted: kept, as a
                    // refused attempt on the revoked request.
                    (Do::Act, 121, S::Closed),
                ],
            ),
        ),
        (
            "completed",
            ClosureReason::Completed,
            then(
                to_pending(),
                vec![
                    (Do::Grant(megan), 60, S::Granted),
                    (Do::Act, 90, S::Granted),
                    (Do::Act, 100, S::Granted),
                    (Do::Close, 120, S::Closed),
                ],
            ),
        ),
        (
            "access elapsed",
            ClosureReason::AccessDurationElapsed,
            then(
                to_pending(),
                vec![
                    (Do::Grant(megan), 60, S::Granted),
                    (Do::Act, 90, S::Granted),
                    (Do::Sweep, 6 * 60, S::Closed),
                    (Do::Act, 6 * 60 + 1, S::Closed),
                ],
            ),
        ),
    ]
}

pub async fn every_ending_stepped_on_alternating_nodes<D: Db>() {
    let db = D::create().await;
    let nodes = [db.open().await, db.open().await];
    for (n, (name, reason, steps)) in endings().into_iter().enumerate() {
        let id = request_id(100 + n as u128);
        for (i, (step, minute, expected)) in steps.iter().enumerate() {
            let node = &nodes[i % 2];
            let state = take(node, id, step, at(minutes(*minute))).await;
            assert_eq!(
                state.as_ref().ok(),
                Some(expected),
                "{name}: {step:?} on node {} gave {state:?}",
                ["A", "B"][i % 2]
            );
        }
        // Both nodes see the one request every step left.
        let [a, b] = [
            nodes[0].load(id).await.unwrap(),
            nodes[1].load(id).await.unwrap(),
        ];
        assert_eq!(a.audit_trail(), b.audit_trail(), "{name}");
        let AnyRequest::Closed(closed) = a else {
            panic!("{name}: closed")
        };
        assert_eq!(closed.reason(), reason, "{name}");
    }
    // Each step once, nothing refused for a state the request was no longer in.
    assert_eq!(
        db.count("SELECT count(*) FROM audit WHERE kind IN ('refused', 'action_refused')")
            .await,
        2,
        "the two late actions, and nothing else"
    );
    assert!(nodes[0].verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn two_approvals_on_two_nodes_and_the_rest_alternating<D: Db>() {
    let db = D::create().await;
    let [a, b] = [db.open().await, db.open().await];
    set_policy_at(
        &a,
        policy().with_approvals_required(2).unwrap(),
        at(minutes(-60)),
    )
    .await
    .unwrap();
    let id = request_id(1);
    let steps = [
        (Do::Draft, 0, StateKind::Drafted),
        (Do::Approve, 10, StateKind::ManagerApproved),
        (Do::Notify, 20, StateKind::PendingCustomer),
        (
            Do::Grant("megan@contoso.com"),
            30,
            StateKind::PendingCustomer,
        ),
        (Do::Grant("lee@contoso.com"), 40, StateKind::Granted),
        (Do::Act, 50, StateKind::Granted),
        (Do::Close, 60, StateKind::Closed),
    ];
    for (i, (step, minute, expected)) in steps.iter().enumerate() {
        // B first this time: A set the policy.
        let node = if i % 2 == 0 { &b } else { &a };
        let state = take(node, id, step, at(minutes(*minute))).await;
        assert_eq!(state.as_ref().ok(), Some(expected), "{step:?}: {state:?}");
    }
    let AnyRequest::Closed(closed) = a.load(id).await.unwrap() else {
        panic!("closed")
    };
    assert_eq!(closed.reason(), ClosureReason::Completed);
}

/// What a node that saw the request pending must still do once another node granted it: take
/// the customer's revocation.
pub async fn a_revocation_on_the_node_that_saw_the_request_pending<D: Db>() {
    let db = D::create().await;
    let [a, b] = [db.open().await, db.open().await];
    // B notified the approvers: the last it saw of the request, it was pending.
    let id = pending_as(&b, 1).await;
    let GrantOutcome::Granted(_) = a.grant(id, &megan(), at(hours(1))).await.unwrap() else {
        panic!("granted")
    };
    let revoked = b.revoke(id, &lee(), at(hours(2))).await.unwrap();
    assert_eq!(revoked.reason(), ClosureReason::RevokedByCustomer);
    // The engineer's actions on A, which saw it granted, are kept as refused attempts.
    let report = a
        .record_actions(id, &alex(), [mailbox_read()], at(hours(2) + minutes(1)))
        .await
        .unwrap();
    assert_eq!(
        report,
        AppendReport::AccessEnded {
            recorded: 0,
            refused: vec![RefusedAction::new(0, Refusal::RequestClosed)],
            reason: ClosureReason::RevokedByCustomer,
        }
    );
    // And a grant on B, which last saw it pending, learns it is closed.
    let err = b.grant(id, &megan(), at(hours(3))).await.unwrap_err();
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

/// A grant on A races a revocation on B, which last saw the request pending; whoever wins, the
/// node that lost then takes the revocation again, and it takes effect.
pub async fn a_race_then_a_step_on_the_losing_node<D: Db>() {
    let db = D::create().await;
    let [a, b] = [db.open().await, db.open().await];
    for round in 0..6u128 {
        let id = pending_as(&b, 10 + round).await;
        let barrier = Arc::new(Barrier::new(2));
        let grant = {
            let (a, barrier) = (a.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                a.grant(id, &megan(), at(hours(1))).await.map(|_| ())
            })
        };
        let revoke = {
            let (b, barrier) = (b.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                b.revoke(id, &lee(), at(hours(1) + minutes(1))).await
            })
        };
        grant.await.unwrap().unwrap();
        match revoke.await.unwrap() {
            // The revocation came after the grant: it took effect.
            Ok(revoked) => assert_eq!(revoked.reason(), ClosureReason::RevokedByCustomer),
            // It came before: the request was pending then, and B says so.
            Err(StoreError::WrongState {
                state: StateKind::PendingCustomer,
                ..
            }) => {
                let revoked = b
                    .revoke(id, &lee(), at(hours(1) + minutes(2)))
                    .await
                    .unwrap_or_else(|err| panic!("round {round}: the second revocation: {err}"));
                assert_eq!(revoked.reason(), ClosureReason::RevokedByCustomer);
            }
            Err(err) => panic!("round {round}: {err}"),
        }
        assert_eq!(
            a.load(id).await.unwrap().state(),
            StateKind::Closed,
            "round {round}"
        );
    }
}

/// One node's tasks racing: a step that loses must never leave the node holding the request
/// as it was before the winner's step.
pub async fn a_lost_race_on_one_node_leaves_no_older_copy<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    for round in 0..8u128 {
        let id = pending_as(&store, 10 + round).await;
        let barrier = Arc::new(Barrier::new(2));
        let grant = {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.grant(id, &megan(), at(hours(1))).await.map(|_| ())
            })
        };
        // The engineer closes at once: refused while pending, a race the grant wins or loses.
        let close = {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.close(id, &alex(), at(hours(1))).await.map(|_| ())
            })
        };
        grant.await.unwrap().unwrap();
        if let Err(err) = close.await.unwrap() {
            assert!(err.is_wrong_state(), "round {round}: {err}");
            // Then the engineer closes again, on the same node: the request is granted.
            store
                .close(id, &alex(), at(hours(1) + minutes(1)))
                .await
                .unwrap_or_else(|err| panic!("round {round}: closing after the grant: {err}"));
        }
        assert_eq!(
            store.load(id).await.unwrap().state(),
            StateKind::Closed,
            "round {round}"
        );
    }
}

/// Two sweeps at the end of an access window, on the node that granted and on one that last
/// saw the request pending: the window is closed, once.
pub async fn two_sweeps_on_two_nodes_one_of_which_saw_the_request_pending<D: Db>() {
    let db = D::create().await;
    let [a, b] = [db.open().await, db.open().await];
    // One after the other: B first.
    let first = pending_as(&b, 1).await;
    let _ = a.grant(first, &megan(), at(hours(1))).await.unwrap();
    let report = b.sweep(at(hours(6))).await.unwrap();
    assert_eq!(report.access_ended, [first], "{report}");
    let report = a.sweep(at(hours(6))).await.unwrap();
    assert!(report.access_ended.is_empty(), "{report}");
    // At once.
    let second = pending_as(&b, 2).await;
    let _ = a.grant(second, &megan(), at(hours(1))).await.unwrap();
    let sweeps: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|node| tokio::spawn(async move { node.sweep(at(hours(7))).await.unwrap() }))
        .collect();
    let mut ended = Vec::new();
    for sweep in sweeps {
        let report = sweep.await.unwrap();
        assert!(report.failed.is_empty(), "{report}");
        ended.extend(report.access_ended);
    }
    assert_eq!(ended, [second]);
    for id in [first, second] {
        let AnyRequest::Closed(closed) = a.load(id).await.unwrap() else {
            panic!("closed")
        };
        assert_eq!(closed.reason(), ClosureReason::AccessDurationElapsed);
    }
    assert_eq!(
        db.count("SELECT count(*) FROM audit WHERE kind = 'access_elapsed'")
            .await,
        2
    );
}

/// A node that read the tenant's policy before another node changed it decides a draft under
/// the change, not under what it read.
pub async fn a_draft_is_decided_under_a_policy_another_node_changed<D: Db>() {
    let db = D::create().await;
    let [a, b] = [db.open().await, db.open().await];
    // A reads Contoso's policy (at most 4 hours of access) for a draft.
    let _ = a.draft(draft(), t0()).await.unwrap();
    // B raises the maximum to 8 hours.
    set_policy_at(
        &b,
        policy().with_max_access_duration(AccessDuration::from_hours(8).unwrap()),
        t0() + minutes(1),
    )
    .await
    .unwrap();
    let eight_hours = Draft {
        id: request_id(2),
        access_duration: AccessDuration::from_hours(8).unwrap(),
        ..draft()
    };
    let drafted = a.draft(eight_hours, t0() + minutes(2)).await.unwrap();
    assert_eq!(
        drafted.access_duration(),
        AccessDuration::from_hours(8).unwrap()
    );
}
