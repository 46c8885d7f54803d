//! The PostgreSQL store against the raw `tokio-postgres` client doing the equivalent minimal
//! work, in the same run, printed as ratios; and the speed-up of 8 concurrent writers on one
//! store handle against the speed-up of 8 raw connections (the machine's ceiling). See
//! BENCHMARKS.md for how to read them.
//!
//! `bash .ci/bench-postgres` starts a throwaway server and runs this benchmark against it; or set
//! `LOCKBOX_POSTGRES_URL` to libpq parameters of a server you started and run
//! `cargo bench --features postgres --bench postgres`. Each operation gets a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use criterion::Criterion;
use customer_lockbox::*;
use tokio_postgres::{Client, NoTls};

/// The server: `LOCKBOX_POSTGRES_URL`.
fn server() -> String {
    std::env::var("LOCKBOX_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "LOCKBOX_POSTGRES_URL is not set: run `bash .ci/bench-postgres`, which starts a \
             PostgreSQL server for the benchmark, or set it to libpq parameters of a server"
        )
    })
}

/// A raw client, its connection driven by a task of the current runtime.
async fn client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Creates an empty database on the server and returns parameters that connect to it.
async fn fresh_database() -> String {
    let server = server();
    let name = format!("lockbox_bench_{}", uuid::Uuid::now_v7().simple());
    client(&server)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{server} dbname={name}")
}

/// Drops the databases earlier runs created.
fn drop_bench_databases() {
    runtime().block_on(async {
        let admin = client(&server()).await;
        let names: Vec<String> = admin
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'lockbox_bench_%'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        for name in names {
            admin
                .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    });
}

/// How `iters` operations are shared among `writers`.
fn share(iters: u64, writers: usize, n: usize) -> u64 {
    iters / writers as u64 + u64::from((n as u64) < iters % writers as u64)
}

// ---- 1. durable transitions ----------------------------------------------------------------

/// `writers` tasks on one store handle (its pool), each approving drafts of its own tenant (or
/// all of one tenant, `one_tenant`), at once. With one writer: a durable transition.
fn transitions(writers: usize, one_tenant: bool) -> Op {
    let rt = runtime();
    let store = rt.block_on(async {
        let store = PostgresStore::connect(&fresh_database().await)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    });
    let tenants: Vec<TenantId> = (0..writers)
        .map(|n| tenant(if one_tenant { 1 } else { n as u128 + 1 }))
        .collect();
    let mut clock = Ticking(t0());
    Box::new(move |iters| {
        rt.block_on(async {
            let mut work = Vec::new();
            for (n, tenant) in tenants.iter().enumerate() {
                let mut drafts = Vec::new();
                for _ in 0..share(iters, writers, n) {
                    drafts.push(drafted_in(&store, *tenant, clock.next()).await);
                }
                work.push(drafts);
            }
            let now = clock.next();
            let start = Instant::now();
            let tasks: Vec<_> = work
                .into_iter()
                .map(|drafts| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        for id in drafts {
                            store.approve(id, &sam(), now).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            start.elapsed()
        })
    })
}

/// How a raw single-row write is committed.
#[derive(Clone, Copy)]
enum Commit {
    /// `BEGIN`, one prepared `INSERT`, `COMMIT`: what a store's transaction does.
    Transaction,
    /// One prepared `INSERT` in autocommit mode: the fewest round trips a durable write takes.
    Autocommit,
}

/// `writers` connections, each a task inserting single rows into a table with a one-column key
/// and committing each durably, at once.
fn raw_single_row(writers: usize, commit: Commit) -> Op {
    let rt = runtime();
    let clients: Vec<(Client, tokio_postgres::Statement)> = rt.block_on(async {
        let url = fresh_database().await;
        client(&url)
            .await
            .batch_execute("CREATE TABLE requests (id TEXT PRIMARY KEY, state TEXT NOT NULL)")
            .await
            .unwrap();
        let mut clients = Vec::new();
        for _ in 0..writers {
            let client = client(&url).await;
            let insert = client
                .prepare("INSERT INTO requests (id, state) VALUES ($1, $2)")
                .await
                .unwrap();
            clients.push((client, insert));
        }
        clients
    });
    let mut clients: Vec<Option<(Client, tokio_postgres::Statement)>> =
        clients.into_iter().map(Some).collect();
    let mut next = 0u64;
    Box::new(move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = clients
                .iter_mut()
                .enumerate()
                .map(|(n, slot)| {
                    let (mut client, insert) = slot.take().unwrap();
                    let count = share(iters, writers, n);
                    let first = next;
                    next += count;
                    tokio::spawn(async move {
                        for k in first..first + count {
                            let id = format!("{n}-{k}");
                            match commit {
                                Commit::Transaction => {
                                    let tx = client.transaction().await.unwrap();
                                    tx.execute(&insert, &[&id, &"manager_approved"])
                                        .await
                                        .unwrap();
                                    tx.commit().await.unwrap();
                                }
                                Commit::Autocommit => {
                                    client
                                        .execute(&insert, &[&id, &"manager_approved"])
                                        .await
                                        .unwrap();
                                }
                            }
                        }
                        (client, insert)
                    })
                })
                .collect();
            let mut elapsed = Duration::ZERO;
            for (slot, task) in clients.iter_mut().zip(tasks) {
                *slot = Some(task.await.unwrap());
                elapsed = start.elapsed();
            }
            elapsed
        })
    })
}

fn durable_transitions(c: &mut Criterion) {
    compare(
        c,
        "durable transition (store.approve)",
        ("pg transition: store.approve", &|| transitions(1, false)),
        ("pg raw: single-row commit (BEGIN, INSERT, COMMIT)", &|| {
            raw_single_row(1, Commit::Transaction)
        }),
        true,
        ">= 0.7x",
    );
    compare(
        c,
        "durable transition vs an autocommit INSERT",
        ("pg transition: store.approve", &|| transitions(1, false)),
        ("pg raw: single-row autocommit INSERT", &|| {
            raw_single_row(1, Commit::Autocommit)
        }),
        true,
        "(context)",
    );
}

/// Requests walked from draft to close (see [`walk`]) on `nodes` store handles of one
/// database (each its own pool), in turn, each with its request cache on or off.
fn walks(nodes: usize, cache: RequestCache) -> Op {
    let rt = runtime();
    let handles: Vec<PostgresStore> = rt.block_on(async {
        let url = fresh_database().await;
        let mut handles = Vec::new();
        for _ in 0..nodes {
            let store = PostgresStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            store.set_request_cache(cache);
            handles.push(store);
        }
        handles
    });
    let mut clock = Ticking(t0());
    Box::new(move |iters| {
        rt.block_on(async {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                elapsed += walk(&handles, tenant(1), &mut clock).await;
            }
            elapsed
        })
    })
}

fn request_cache(c: &mut Criterion) {
    compare(
        c,
        "request cache: workflow on one node, cache on vs off",
        ("pg walk: one node, cache on", &|| {
            walks(1, RequestCache::On)
        }),
        ("pg walk: one node, cache off", &|| {
            walks(1, RequestCache::Off)
        }),
        true,
        "(decides the cache)",
    );
    compare(
        c,
        "request cache: steps alternating over two nodes, cache on vs off",
        ("pg walk: two nodes in turn, cache on", &|| {
            walks(2, RequestCache::On)
        }),
        ("pg walk: two nodes in turn, cache off", &|| {
            walks(2, RequestCache::Off)
        }),
        true,
        "(decides the cache)",
    );
}

// ---- 2. concurrent writers -------------------------------------------------------------------

const WRITERS: usize = 8;

fn concurrent_writers(c: &mut Criterion) {
    // "ours" is 8 writers, "raw" one: the printed throughput ratio is the speed-up.
    compare(
        c,
        "8 concurrent writers vs one, 8 tenants (speed-up)",
        ("pg transitions: 8 writers, 8 tenants", &|| {
            transitions(WRITERS, false)
        }),
        ("pg transitions: 1 writer", &|| transitions(1, false)),
        true,
        "(see below)",
    );
    compare(
        c,
        "raw: 8 concurrent writers vs one (the machine's ceiling)",
        ("pg raw: 8 writers, single-row commits", &|| {
            raw_single_row(WRITERS, Commit::Transaction)
        }),
        ("pg raw: single-row commit (BEGIN, INSERT, COMMIT)", &|| {
            raw_single_row(1, Commit::Transaction)
        }),
        true,
        "(context)",
    );
    compare(
        c,
        "8 concurrent writers vs one, all on one tenant (speed-up)",
        ("pg transitions: 8 writers, one tenant", &|| {
            transitions(WRITERS, true)
        }),
        ("pg transitions: 1 writer", &|| transitions(1, false)),
        true,
        "(context: one chain)",
    );
}

/// The store's 8-writer speed-up as a share of the raw one, both measured above.
fn print_ceiling_share() {
    let results = RESULTS.lock().unwrap();
    let speed_up = |label: &str| {
        results
            .iter()
            .find(|r| r.label == label)
            .map(|r| r.raw / r.ours)
    };
    if let (Some(ours), Some(raw)) = (
        speed_up("8 concurrent writers vs one, 8 tenants (speed-up)"),
        speed_up("raw: 8 concurrent writers vs one (the machine's ceiling)"),
    ) {
        println!(
            "\n8-writer speed-up: store {ours:.2}x, raw {raw:.2}x: the store reaches {:.2}x of \
             the machine's ceiling (goal >= 0.9x)",
            ours / raw
        );
    }
}

fn main() {
    if !std::env::args().any(|arg| arg == "--list") {
        drop_bench_databases();
    }
    let mut c = criterion();
    durable_transitions(&mut c);
    request_cache(&mut c);
    concurrent_writers(&mut c);
    c.final_summary();
    print_summary();
    print_ceiling_share();
    if !std::env::args().any(|arg| arg == "--list") {
        drop_bench_databases();
    }
}
