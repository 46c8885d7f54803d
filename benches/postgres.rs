//! The PostgreSQL store against the raw `postgres` client doing the equivalent minimal work, in
//! the same run, printed as ratios; and the store's throughput with 8 concurrent writers against
//! one. See BENCHMARKS.md for how to read them.
//!
//! `bash .ci/bench-postgres` starts a throwaway server and runs this benchmark against it; or set
//! `LOCKBOX_POSTGRES_URL` to libpq parameters of a server you started and run
//! `cargo bench --features postgres --bench postgres`. Each operation gets a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Instant;

use common::*;
use criterion::Criterion;
use customer_lockbox::*;
use postgres::{Client, NoTls};

/// The server: `LOCKBOX_POSTGRES_URL`.
fn server() -> String {
    std::env::var("LOCKBOX_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "LOCKBOX_POSTGRES_URL is not set: run `bash .ci/bench-postgres`, which starts a \
             PostgreSQL server for the benchmark, or set it to libpq parameters of a server"
        )
    })
}

/// Creates an empty database on the server and returns parameters that connect to it.
fn fresh_database() -> String {
    let server = server();
    let name = format!("lockbox_bench_{}", uuid::Uuid::now_v7().simple());
    Client::connect(&server, NoTls)
        .unwrap()
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("{server} dbname={name}")
}

/// Drops the databases earlier runs created.
fn drop_bench_databases() {
    let mut admin = Client::connect(&server(), NoTls).unwrap();
    let names: Vec<String> = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'lockbox_bench_%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for name in names {
        admin
            .batch_execute(&format!("DROP DATABASE {name}"))
            .unwrap();
    }
}

// ---- 1. durable transitions ----------------------------------------------------------------

/// `writers` nodes, each a connection of its own approving and saving drafts of its own tenant
/// (or all of one tenant, `one_tenant`), at once. With one writer: a durable transition.
fn transitions(writers: usize, one_tenant: bool) -> Op {
    let url = fresh_database();
    let mut nodes: Vec<(PostgresStore, Ticking, TenantId)> = (0..writers)
        .map(|n| {
            let tenant = tenant(if one_tenant { 1 } else { n as u128 + 1 });
            (PostgresStore::connect(&url).unwrap(), Ticking(t0()), tenant)
        })
        .collect();
    Box::new(move |iters| {
        let share =
            |n: usize| iters / writers as u64 + u64::from((n as u64) < iters % writers as u64);
        let mut work: Vec<_> = nodes
            .iter_mut()
            .enumerate()
            .map(|(n, (store, clock, tenant))| {
                let drafts: Vec<Request<Drafted>> = (0..share(n))
                    .map(|_| {
                        let mut d = draft(*tenant, clock.next());
                        store.save(&mut d).unwrap();
                        d
                    })
                    .collect();
                (store, clock, drafts)
            })
            .collect();
        let start = Instant::now();
        std::thread::scope(|scope| {
            for (store, clock, drafts) in work.iter_mut() {
                scope.spawn(move || {
                    for drafted in drafts.drain(..) {
                        let mut approved = drafted.approve(&sam(), clock.next()).unwrap();
                        store.save(&mut approved).unwrap();
                    }
                });
            }
        });
        start.elapsed()
    })
}

/// How a raw single-row write is committed.
#[derive(Clone, Copy)]
enum Commit {
    /// `BEGIN`, one prepared `INSERT`, `COMMIT`: what a store's transaction API does.
    Transaction,
    /// One prepared `INSERT` in autocommit mode: the fewest round trips a durable write takes.
    Autocommit,
}

/// `writers` connections, each inserting single rows into a table with a one-column key and
/// committing each durably, at once.
fn raw_single_row(writers: usize, commit: Commit) -> Op {
    let url = fresh_database();
    Client::connect(&url, NoTls)
        .unwrap()
        .batch_execute("CREATE TABLE requests (id TEXT PRIMARY KEY, state TEXT NOT NULL)")
        .unwrap();
    let mut nodes: Vec<(Client, postgres::Statement, u64)> = (0..writers)
        .map(|_| {
            let mut client = Client::connect(&url, NoTls).unwrap();
            let insert = client
                .prepare("INSERT INTO requests (id, state) VALUES ($1, $2)")
                .unwrap();
            (client, insert, 0)
        })
        .collect();
    Box::new(move |iters| {
        let share =
            |n: usize| iters / writers as u64 + u64::from((n as u64) < iters % writers as u64);
        let start = Instant::now();
        std::thread::scope(|scope| {
            for (n, (client, insert, next)) in nodes.iter_mut().enumerate() {
                let count = share(n);
                scope.spawn(move || {
                    for _ in 0..count {
                        *next += 1;
                        let id = format!("{n}-{next}");
                        match commit {
                            Commit::Transaction => {
                                let mut tx = client.transaction().unwrap();
                                tx.execute(&*insert, &[&id, &"manager_approved"]).unwrap();
                                tx.commit().unwrap();
                            }
                            Commit::Autocommit => {
                                client
                                    .execute(&*insert, &[&id, &"manager_approved"])
                                    .unwrap();
                            }
                        }
                    }
                });
            }
        });
        start.elapsed()
    })
}

fn durable_transitions(c: &mut Criterion) {
    compare(
        c,
        "durable transition (approve + save)",
        ("pg transition: approve + save", &|| transitions(1, false)),
        ("pg raw: single-row commit (BEGIN, INSERT, COMMIT)", &|| {
            raw_single_row(1, Commit::Transaction)
        }),
        true,
        ">= 0.7x",
    );
    compare(
        c,
        "durable transition vs an autocommit INSERT",
        ("pg transition: approve + save", &|| transitions(1, false)),
        ("pg raw: single-row autocommit INSERT", &|| {
            raw_single_row(1, Commit::Autocommit)
        }),
        true,
        "(context)",
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
        ">= 4x",
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

fn main() {
    if !std::env::args().any(|arg| arg == "--list") {
        drop_bench_databases();
    }
    let mut c = criterion();
    durable_transitions(&mut c);
    concurrent_writers(&mut c);
    c.final_summary();
    print_summary();
    if !std::env::args().any(|arg| arg == "--list") {
        drop_bench_databases();
    }
}
