//! Many nodes over one PostgreSQL database: each node a connection of its own, racing on the
//! same requests and the same tenant's chain, against a real server (`LOCKBOX_POSTGRES_URL`).
#![cfg(all(feature = "postgres", feature = "sqlite"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use customer_lockbox::*;

const NODES: usize = 8;
const ROUNDS: u128 = 25;

fn node(url: &str) -> PostgresStore {
    PostgresStore::connect(url).unwrap()
}

/// What one node tries on the pending request it loaded.
#[derive(Clone, Copy, Debug)]
enum Move {
    Grant,
    Deny,
    Expire,
}

#[test]
fn eight_nodes_racing_grant_deny_and_expiry_leave_exactly_one_decision() {
    let url = pg::fresh_database();
    let mut setup = node(&url);
    let deadline = at(minutes(20)) + DECISION_WINDOW;
    let moves = [
        Move::Grant,
        Move::Deny,
        Move::Expire,
        Move::Grant,
        Move::Deny,
        Move::Expire,
        Move::Grant,
        Move::Deny,
    ];
    let mut nodes: Vec<PostgresStore> = (0..NODES).map(|_| node(&url)).collect();
    let mut wins = [0usize; 3];
    for round in 0..ROUNDS {
        let id = pending_as(&mut setup, 1000 + round);
        let barrier = Arc::new(Barrier::new(NODES));
        let results: Vec<(Move, Result<(), StoreError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = nodes
                .iter_mut()
                .zip(moves)
                .map(|(store, step)| {
                    let barrier = barrier.clone();
                    scope.spawn(move || {
                        let AnyRequest::PendingCustomer(pending) = store.load(id).unwrap() else {
                            panic!("pending")
                        };
                        // Everyone has loaded the same revision before anyone saves.
                        barrier.wait();
                        let saved = match step {
                            Move::Grant => match pending
                                .grant(&megan(), &policy(), deadline - minutes(1))
                                .unwrap()
                            {
                                GrantOutcome::Granted(mut granted) => store.save(&mut granted),
                                GrantOutcome::Expired(_) => panic!("before the deadline"),
                            },
                            Move::Deny => match pending
                                .deny(&megan(), &policy(), deadline - minutes(1))
                                .unwrap()
                            {
                                DenyOutcome::Denied(mut closed) => store.save(&mut closed),
                                DenyOutcome::Expired(_) => panic!("before the deadline"),
                            },
                            Move::Expire => match pending.check_expiry(deadline) {
                                PendingStatus::Expired(mut closed) => store.save(&mut closed),
                                PendingStatus::Pending(_) => panic!("at the deadline"),
                            },
                        };
                        (step, saved)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<Move> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(m, _)| *m)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (step, result) in &results {
            if let Err(err) = result {
                assert!(err.is_conflict(), "round {round}: {step:?} lost with {err}");
            }
        }
        wins[winners[0] as usize] += 1;
        let trail = setup.load(id).unwrap().audit_trail().to_vec();
        let decisions = trail
            .iter()
            .filter(|r| {
                matches!(
                    r.event().kind(),
                    AuditEventKind::Granted | AuditEventKind::Denied | AuditEventKind::Expired
                )
            })
            .count();
        assert_eq!(decisions, 1, "round {round}: one decision in the audit");
    }
    assert!(setup.verify_chain(contoso()).unwrap().is_intact());
    eprintln!(
        "{ROUNDS} rounds of {NODES} nodes: grant won {}, deny {}, expiry {}",
        wins[0], wins[1], wins[2]
    );
}

#[test]
fn two_sweepers_on_two_nodes_handle_each_due_request_once() {
    let url = pg::fresh_database();
    let mut setup = node(&url);
    let due: Vec<RequestId> = (0..40).map(|n| pending_as(&mut setup, 2000 + n)).collect();
    let barrier = Arc::new(Barrier::new(2));
    let reports: Vec<SweepReport> = (0..2)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut store = node(&url);
                barrier.wait();
                store.sweep(at(hours(13))).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let mut handled: Vec<RequestId> = reports.iter().flat_map(|r| r.expired.clone()).collect();
    handled.sort();
    let mut expected = due.clone();
    expected.sort();
    assert_eq!(
        handled, expected,
        "each due request expired by exactly one sweeper"
    );
    assert!(reports.iter().all(|r| r.failed.is_empty()), "{reports:?}");
    for id in due {
        let expiries = setup
            .load(id)
            .unwrap()
            .audit_trail()
            .iter()
            .filter(|r| r.event().kind() == AuditEventKind::Expired)
            .count();
        assert_eq!(expiries, 1);
    }
    eprintln!(
        "sweepers: {} and {} expired, {} and {} skipped",
        reports[0].expired.len(),
        reports[1].expired.len(),
        reports[0].skipped.len(),
        reports[1].skipped.len()
    );
}

#[test]
fn concurrent_appends_on_one_tenant_keep_its_chain_valid() {
    let url = pg::fresh_database();
    let mut setup = node(&url);
    let ids: Vec<RequestId> = (0..NODES as u128)
        .map(|n| {
            let id = pending_as(&mut setup, 3000 + n);
            let AnyRequest::PendingCustomer(pending) = setup.load(id).unwrap() else {
                panic!()
            };
            let GrantOutcome::Granted(mut granted) =
                pending.grant(&megan(), &policy(), at(hours(1))).unwrap()
            else {
                panic!()
            };
            setup.save(&mut granted).unwrap();
            id
        })
        .collect();
    let before = setup.chain_head(contoso()).unwrap().unwrap().position;
    let barrier = Arc::new(Barrier::new(NODES));
    let batches = 20usize;
    let recorded: usize = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let (url, barrier) = (url.clone(), barrier.clone());
            // Two nodes share each request's work half the time: conflicts are retried.
            let target = if i % 2 == 0 { id } else { ids[i - 1] };
            std::thread::spawn(move || {
                let mut store = node(&url);
                barrier.wait();
                let mut recorded = 0;
                // One instant for every batch: nodes sharing a request never step back in time.
                let now = at(hours(2));
                for _ in 0..batches {
                    loop {
                        match store.append_actions(
                            target,
                            &alex(),
                            [mailbox_read(), mailbox_read()],
                            now,
                        ) {
                            Ok(report) => {
                                recorded += report.recorded;
                                break;
                            }
                            Err(err) if err.is_conflict() => continue,
                            Err(err) => panic!("{err}"),
                        }
                    }
                }
                recorded
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(recorded, NODES * batches * 2);
    let verdict = setup.verify_chain(contoso()).unwrap();
    assert!(verdict.is_intact(), "{verdict:?}");
    let head = setup.chain_head(contoso()).unwrap().unwrap();
    assert_eq!(
        head.position,
        before + recorded as u64,
        "every action is one link"
    );
}

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let url = pg::fresh_database();
    drop(node(&url));
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.execute("UPDATE lockbox_schema SET version = 99", &[])
        .unwrap();
    let err = PostgresStore::connect(&url).unwrap_err();
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
    let version: i32 = raw
        .query_one("SELECT version FROM lockbox_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 99);
}

#[test]
fn tampering_with_a_row_is_caught_by_the_chain() {
    let url = pg::fresh_database();
    let mut store = node(&url);
    for n in 0..3 {
        pending_as(&mut store, 4000 + n);
    }
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.execute(
        "UPDATE audit SET at = '2026-11-24T08:00:00.000000001Z' WHERE chain_position = 5",
        &[],
    )
    .unwrap();
    let ChainVerdict::Broken(broken) = store.verify_chain(contoso()).unwrap() else {
        panic!("an edited row must break the chain")
    };
    assert_eq!((broken.position, broken.tampering), (5, Tampering::Edited));
    // A removed tail record, on a fresh database: the request's revision says it is missing.
    let url = pg::fresh_database();
    let mut store = node(&url);
    pending_as(&mut store, 4100);
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.batch_execute(
        "DELETE FROM outbox; DELETE FROM audit WHERE chain_position = 3; \
         UPDATE chains SET position = 2",
    )
    .unwrap();
    let ChainVerdict::Broken(broken) = store.verify_chain(contoso()).unwrap() else {
        panic!("a removed tail record must break the chain")
    };
    assert_eq!(broken.tampering, Tampering::Removed, "{broken:?}");
    assert_eq!(broken.record.map(|(_, sequence)| sequence), Some(3));
}
