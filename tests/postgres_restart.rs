//! The PostgreSQL server restarted under a running store: tasks walk requests through the
//! workflow while the server is restarted in fast mode (every open session cut). Calls in
//! flight, or made while the server is down, may fail; every call begun after the restart
//! succeeds, and every step the store acknowledged is in the database afterwards.
//!
//! Its own test binary, so that restarting the server cannot disturb other tests: cargo runs
//! test binaries one after another. The restart script comes from `bash .ci/test`
//! (`LOCKBOX_POSTGRES_RESTART`, see `.ci/postgres.sh`).
#![cfg(all(feature = "postgres", feature = "sqlite"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use customer_lockbox::*;
use tokio::sync::Mutex;

const TASKS: u128 = 4;
/// Requests each task walks after the restart, every one of whose steps must succeed.
const AFTER_RESTART: usize = 5;

/// What the tasks saw.
#[derive(Default)]
struct Seen {
    /// Each acknowledged step: the request and the record the store handed back.
    acknowledged: Vec<(RequestId, AuditRecord)>,
    /// Calls that failed while the restart was under way, or in flight when it began.
    during: usize,
    /// Calls begun after the restart finished that failed: the pool handed out a dead
    /// connection.
    after: Vec<String>,
}

fn restart_script() -> String {
    std::env::var("LOCKBOX_POSTGRES_RESTART").unwrap_or_else(|_| {
        panic!(
            "LOCKBOX_POSTGRES_RESTART is not set: run `bash .ci/test`, which starts a throwaway \
             PostgreSQL server and writes the script that restarts it"
        )
    })
}

fn last<S: State>(request: &Request<S>) -> AuditRecord {
    request.audit_trail().last().cloned().unwrap()
}

/// Walks request `id` from draft to close, one store call per step, noting each outcome.
/// Stops at the first failure: the step may or may not have committed.
async fn walk(store: &PostgresStore, id: RequestId, restarted: &AtomicBool, seen: &Mutex<Seen>) {
    for step in 0..5 {
        let begun_after_restart = restarted.load(Ordering::SeqCst);
        let outcome: Result<AuditRecord, StoreError> = match step {
            0 => {
                let draft = Draft { id, ..draft() };
                store.draft(draft, t0()).await.map(|r| last(&r))
            }
            1 => store
                .approve(id, &sam(), at(minutes(10)))
                .await
                .map(|r| last(&r)),
            2 => store.notify(id, at(minutes(20))).await.map(|r| last(&r)),
            3 => match store.grant(id, &megan(), at(hours(1))).await {
                Ok(GrantOutcome::Granted(granted)) => Ok(last(&granted)),
                Ok(GrantOutcome::AwaitingApprovals { .. }) => panic!("one approval is enough"),
                Ok(GrantOutcome::Expired(_)) => panic!("granted before the deadline"),
                Err(err) => Err(err),
            },
            _ => store
                .close(id, &alex(), at(hours(2)))
                .await
                .map(|r| last(&r)),
        };
        let mut seen = seen.lock().await;
        match outcome {
            Ok(record) => seen.acknowledged.push((id, record)),
            Err(err) if begun_after_restart => {
                seen.after.push(format!("{id} step {step}: {err}"));
                return;
            }
            Err(_) => {
                seen.during += 1;
                drop(seen);
                // The server is down: try the next request a little later.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_costs_only_the_calls_it_interrupts_and_loses_no_acknowledged_step() {
    let script = restart_script();
    let url = pg::Database::fresh().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    contoso_policy_in(&store).await;

    let restarted = Arc::new(AtomicBool::new(false));
    let walked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (store, restarted, walked, seen) = (
            store.clone(),
            restarted.clone(),
            walked.clone(),
            seen.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut after = 0;
            let mut n = 0u128;
            while after < AFTER_RESTART {
                if restarted.load(Ordering::SeqCst) {
                    after += 1;
                }
                walk(&store, request_id(task * 10_000 + n), &restarted, &seen).await;
                walked.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        }));
    }
    // Restart once the tasks are well under way, while they keep calling.
    while walked.load(Ordering::SeqCst) < 8 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = tokio::task::spawn_blocking(move || std::process::Command::new(&script).status())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the restart script failed: {status}");
    restarted.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }

    let seen = seen.lock().await;
    assert!(
        seen.after.is_empty(),
        "calls begun after the restart failed: {:?}",
        seen.after
    );
    println!(
        "{} steps acknowledged, {} calls failed during the restart",
        seen.acknowledged.len(),
        seen.during
    );
    // Every acknowledged step is stored, exactly as the store handed it back.
    for (id, record) in &seen.acknowledged {
        let stored = store.load(*id).await.unwrap();
        assert!(
            stored.audit_trail().contains(record),
            "acknowledged step #{} of {id} is missing",
            record.sequence()
        );
    }
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
    // And the store carries on: a fresh walk succeeds end to end.
    let fresh = request_id(99_999);
    walk(
        &store,
        fresh,
        &AtomicBool::new(true),
        &Mutex::new(Seen::default()),
    )
    .await;
    assert_eq!(store.load(fresh).await.unwrap().state(), StateKind::Closed);
}
