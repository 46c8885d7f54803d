//! The crash loop: a child process runs the workflow against a SQLite store file with a
//! checkpoint signer (every step, both decisions and every ending, delivery, the sweep and
//! checkpoint signing), printing each call before it starts and each commit the store
//! acknowledged. The parent picks a kind of step, waits until the child starts one, kills it
//! with SIGKILL a random moment later, reopens the store, and checks that nothing acknowledged
//! was lost and nothing was half-applied. Then again, on the same file, with the next kind.
//!
//! A child that dies of anything but the parent's SIGKILL (a panic, a refused step) fails the
//! test, with its stderr shown: a crash loop whose child dies on its own tests nothing.
//!
//! `cargo test --test crash` kills twice per kind, and on until every kind of call has been
//! killed while in flight at least once. `LOCKBOX_CRASH_ITERATIONS=130 cargo test --release --test crash -- --nocapture`
//! runs that many kills and prints the figures (RELIABILITY.md).
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use customer_lockbox::tlog::SignerKey;
use customer_lockbox::*;

/// The kinds of call the child makes, each a transaction (or several) of its own.
const KINDS: [&str; 13] = [
    "draft", "approve", "reject", "withdraw", "notify", "grant", "deny", "act", "revoke", "close",
    "sweep", "deliver", "sign",
];

/// The default run kills at least twice per kind, and more until every kind was killed while
/// in flight, up to this many kills.
const DEFAULT_MIN_ITERATIONS: usize = 2 * KINDS.len();
const DEFAULT_MAX_ITERATIONS: usize = 8 * KINDS.len();

/// The longest a kill waits after the parent reads that a call began, in microseconds: a step
/// takes a millisecond or so here (most of it waiting for `fsync`), so most kills land inside
/// it.
const KILL_WITHIN_MICROS: u64 = 400;

/// The log's signer, in the child and (its public key) in the parent.
fn signer() -> SignerKey {
    SignerKey::from_seed("lockbox.vendor.example", &[7; 32]).unwrap()
}

/// Prints one line for the parent, whole or not at all: one write, flushed, ending in " .".
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line} .\n").as_bytes());
    let _ = out.flush();
}

/// The child prints this before each call.
fn begin(kind: &str) {
    say(&format!("begin {kind}"));
}

/// The child prints this after a call the store acknowledged: request `id` now has `records`
/// audit records saved.
fn acknowledge(kind: &str, id: RequestId, records: usize) {
    say(&format!("ack {kind} {id} {records}"));
}

/// Acknowledges the latest checkpoint kept: the signer signs at once, so a step that sends a
/// message keeps one in its own transaction.
async fn acknowledge_checkpoint(store: &SqliteStore) {
    if let Some(kept) = store.latest_checkpoint(contoso()).await.unwrap() {
        say(&format!("ack checkpoint {}", kept.checkpoint().size()));
    }
}

/// Acknowledges every request in `ids` with the records it has now (after a sweep or a
/// delivery run, which commit one step per request).
async fn acknowledge_all(
    store: &SqliteStore,
    kind: &str,
    ids: impl IntoIterator<Item = RequestId>,
) {
    for id in ids {
        let records = store.load(id).await.unwrap().audit_trail().len();
        acknowledge(kind, id, records);
    }
}

/// A sender that accepts every message.
struct Accepts;

impl Sender for Accepts {
    type Error = std::convert::Infallible;

    async fn send(&mut self, _delivery: &Delivery) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The child: runs requests through every ending, with delivery, sweeps and signing between,
/// until it is killed. Any failure panics, which the parent reports.
#[tokio::test]
#[ignore = "run by the_store_survives_being_killed_at_random_moments in a child process"]
async fn crash_child() {
    let Ok(path) = std::env::var("LOCKBOX_CRASH_STORE") else {
        return;
    };
    let store = SqliteStore::open(path).await.unwrap();
    store.set_checkpoint_signer(signer());
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    let mut n: i64 = 0;
    loop {
        n += 1;
        let start = t0() + minutes(n % 600);
        let minute = |m: i64| start + minutes(m);
        let fresh = Draft {
            id: RequestId::new(start),
            ..draft()
        };
        begin("draft");
        let id = store.draft(fresh, start).await.unwrap().id();
        acknowledge("draft", id, 1);
        if n % 6 == 3 {
            begin("reject");
            let closed = store.reject(id, &sam(), minute(1)).await.unwrap();
            acknowledge("reject", id, closed.audit_trail().len());
            continue;
        }
        begin("approve");
        let approved = store.approve(id, &sam(), minute(1)).await.unwrap();
        acknowledge("approve", id, approved.audit_trail().len());
        if n % 6 == 4 {
            begin("withdraw");
            let closed = store.withdraw(id, &alex(), minute(2)).await.unwrap();
            acknowledge("withdraw", id, closed.audit_trail().len());
            continue;
        }
        begin("notify");
        let pending = store.notify(id, minute(2)).await.unwrap();
        let records = pending.audit_trail().len();
        acknowledge("notify", id, records);
        acknowledge_checkpoint(&store).await;
        match n % 6 {
            // Left pending: the next sweep expires it.
            5 => {}
            2 => {
                begin("deny");
                let denied = store.deny(id, &lee, minute(3)).await.unwrap();
                let DenyOutcome::Denied(closed) = denied else {
                    panic!("denied in time")
                };
                acknowledge("deny", id, closed.audit_trail().len());
            }
            _ => {
                begin("grant");
                let GrantOutcome::Granted(granted) =
                    store.grant(id, &megan(), minute(3)).await.unwrap()
                else {
                    panic!("granted in time")
                };
                let mut records = granted.audit_trail().len();
                acknowledge("grant", id, records);
                for batch in 0..3 {
                    begin("act");
                    let report = store
                        .record_actions(
                            id,
                            &alex(),
                            [mailbox_read(), mailbox_read()],
                            minute(4 + batch),
                        )
                        .await
                        .unwrap();
                    assert_eq!(report, AppendReport::Recorded { count: 2 });
                    records += 2;
                    acknowledge("act", id, records);
                }
                let (kind, closed) = if n % 6 == 1 {
                    begin("revoke");
                    ("revoke", store.revoke(id, &lee, minute(10)).await.unwrap())
                } else {
                    begin("close");
                    ("close", store.close(id, &alex(), minute(10)).await.unwrap())
                };
                acknowledge(kind, id, closed.audit_trail().len());
                acknowledge_checkpoint(&store).await;
            }
        }
        if n % 6 == 0 {
            // Time moves on: the request left pending expires; then its messages go out and
            // a checkpoint is signed.
            let later: DateTime<Utc> = start + hours(13);
            begin("sweep");
            let report = store.sweep(later).await.unwrap();
            assert!(report.failed.is_empty(), "{report}");
            acknowledge_all(&store, "sweep", report.expired).await;
            begin("deliver");
            let report = store
                .deliver(&directory(), &mut Accepts, later, minutes(5))
                .await
                .unwrap();
            assert!(
                report.errors().is_empty() && report.failed().is_empty(),
                "{report}"
            );
            let recorded = report.topics(|outcome| {
                matches!(
                    outcome,
                    DeliveryOutcome::Sent | DeliveryOutcome::AlreadyDone
                )
            });
            let requests = recorded.iter().filter_map(|topic| match topic {
                Topic::Request { request, .. } => Some(*request),
                Topic::Policy { .. } => None,
            });
            acknowledge_all(&store, "deliver", requests).await;
            begin("sign");
            let signed = store
                .sign_checkpoint(contoso(), later)
                .await
                .unwrap()
                .unwrap();
            say(&format!("ack checkpoint {}", signed.checkpoint().size()));
        }
    }
}

/// A random number, different on every call.
fn random(salt: u64) -> u64 {
    RandomState::new().hash_one(salt)
}

/// What one child run printed, in order.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Begin(String),
    /// A kind, and the request and records it acknowledged.
    Ack(String, String, usize),
    /// A checkpoint of this many entries, signed and kept.
    Checkpoint(u64),
}

fn parse(line: &str) -> Option<Line> {
    let line = line.strip_suffix(" .")?;
    let mut words = line.split(' ');
    match (words.next()?, words.next()?, words.next(), words.next()) {
        ("begin", kind, None, None) => Some(Line::Begin(kind.to_owned())),
        ("ack", "checkpoint", Some(size), None) => Some(Line::Checkpoint(size.parse().ok()?)),
        ("ack", kind, Some(id), Some(records)) => Some(Line::Ack(
            kind.to_owned(),
            id.to_owned(),
            records.parse().ok()?,
        )),
        _ => None,
    }
}

/// What the kills found, for the figures.
#[derive(Default)]
struct Figures {
    kills: usize,
    /// Kills that landed while a call of each kind was in flight (begun, not acknowledged).
    in_flight: BTreeMap<String, usize>,
    acks: usize,
    checkpoints: usize,
}

#[tokio::test]
async fn the_store_survives_being_killed_at_random_moments() {
    let full_run: Option<usize> = std::env::var("LOCKBOX_CRASH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok());
    let (_dir, path) = store_file();
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    contoso_policy_in(&store).await;
    drop(store);
    // Every acknowledged commit: the request's id, and the records it had saved by then.
    let mut acknowledged: BTreeMap<String, usize> = BTreeMap::new();
    let mut largest_checkpoint = 0;
    // Each request's revision when it last loaded whole.
    let mut loaded: BTreeMap<String, u64> = BTreeMap::new();
    let mut figures = Figures::default();
    let started = std::time::Instant::now();
    for iteration in 0.. {
        let every_kind_hit = KINDS
            .iter()
            .all(|kind| figures.in_flight.contains_key(*kind));
        let done = match full_run {
            Some(iterations) => iteration >= iterations,
            None => {
                (every_kind_hit && iteration >= DEFAULT_MIN_ITERATIONS)
                    || iteration >= DEFAULT_MAX_ITERATIONS
            }
        };
        if done {
            break;
        }
        // Which kind of call to kill, and which occurrence of it in the child's run (a later
        // one lets the child acknowledge more first).
        let target = KINDS[iteration % KINDS.len()];
        let occurrence = 1 + random(iteration as u64 + 1) % 3;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LOCKBOX_CRASH_STORE", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(line) = parse(&line) {
                    let _ = lines_tx.send(line);
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        // Wait for the child to begin that call, then kill it a moment later.
        let mut lines = Vec::new();
        let mut begun = 0;
        loop {
            match lines_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if line == Line::Begin(target.to_owned()) {
                        begun += 1;
                    }
                    lines.push(line);
                    if begun == occurrence {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "iteration {iteration}: the child never began {target} call \
                         {occurrence} (it printed {lines:?}); its stderr:\n{}",
                        errors.join().unwrap()
                    );
                }
            }
        }
        std::thread::sleep(Duration::from_micros(
            random(iteration as u64) % KILL_WITHIN_MICROS,
        ));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(lines_rx.try_iter());
        let stderr = errors.join().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "iteration {iteration}: the child died of something other than the parent's \
             SIGKILL ({status}); its stderr:\n{stderr}"
        );
        figures.kills += 1;
        if let Some(Line::Begin(kind)) = lines.last() {
            *figures.in_flight.entry(kind.clone()).or_default() += 1;
        }
        for line in lines {
            match line {
                Line::Ack(_, id, records) => {
                    figures.acks += 1;
                    let known = acknowledged.entry(id).or_default();
                    *known = (*known).max(records);
                }
                Line::Checkpoint(size) => {
                    figures.checkpoints += 1;
                    largest_checkpoint = largest_checkpoint.max(size);
                }
                Line::Begin(_) => {}
            }
        }
        check(
            &path,
            &acknowledged,
            largest_checkpoint,
            &mut loaded,
            iteration,
        )
        .await;
    }
    eprintln!(
        "crash loop: {} SIGKILLs in {:.0?}, in flight at the kill: {:?}; {} acknowledged \
         commits over {} requests and {} acknowledged checkpoints, all present; no \
         half-applied step, every request loaded, the chain and the signed log intact",
        figures.kills,
        started.elapsed(),
        figures.in_flight,
        figures.acks,
        acknowledged.len(),
        figures.checkpoints,
    );
    let missed: Vec<&str> = KINDS
        .iter()
        .copied()
        .filter(|kind| !figures.in_flight.contains_key(*kind))
        .collect();
    assert!(
        missed.is_empty(),
        "no kill landed while a call of these kinds was in flight: {missed:?}"
    );
}

/// Reopens the store after a kill and checks it whole. `loaded` holds the revision each request
/// had when it last loaded: only those the child changed since are replayed again.
async fn check(
    path: &std::path::Path,
    acknowledged: &BTreeMap<String, usize>,
    largest_checkpoint: u64,
    loaded: &mut BTreeMap<String, u64>,
    iteration: usize,
) {
    let store = SqliteStore::open(path).await.unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    // Every acknowledged commit is there (a request's revision counts its records saved).
    for (id, records) in acknowledged {
        let revision: Option<usize> = conn
            .query_row("SELECT revision FROM requests WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .ok();
        assert!(
            revision.is_some_and(|revision| revision >= *records),
            "iteration {iteration}: {id} had {records} records acknowledged, {revision:?} stored"
        );
    }
    // No step is half-applied: each request row's revision is its number of audit rows, every
    // outbox row has its audit record, and every request loads (replay checks the rest).
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "iteration {iteration}");
    let mismatched: i64 = conn
        .query_row(
            "SELECT count(*) FROM requests r \
             WHERE r.revision != (SELECT count(*) FROM audit a WHERE a.request_id = r.id)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(mismatched, 0, "iteration {iteration}: half-applied steps");
    let orphans: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM audit a WHERE NOT EXISTS \
                     (SELECT 1 FROM requests r WHERE r.id = a.request_id)) \
                  + (SELECT count(*) FROM outbox o WHERE NOT EXISTS \
                     (SELECT 1 FROM audit a WHERE a.request_id = o.request_id AND a.sequence = o.sequence))",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "iteration {iteration}: rows without their step");
    let revisions: Vec<(String, u64)> = conn
        .prepare("SELECT id, revision FROM requests")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, revision) in revisions {
        if loaded.get(&id) == Some(&revision) {
            continue;
        }
        let _loaded = store
            .load(RequestId::parse(&id).unwrap())
            .await
            .unwrap_or_else(|err| panic!("iteration {iteration}: {id} does not load: {err}"));
        loaded.insert(id, revision);
    }
    for tenant in store.tenants().await.unwrap() {
        assert!(
            store.verify_chain(tenant).await.unwrap().is_intact(),
            "iteration {iteration}: the chain of {tenant} is broken"
        );
    }
    // The log: every acknowledged checkpoint kept, and the tree (each step's nodes written with
    // its records) proves every entry against every checkpoint kept.
    let kept = store.checkpoints(contoso()).await.unwrap();
    assert!(
        kept.iter()
            .any(|checkpoint| checkpoint.checkpoint().size() >= largest_checkpoint),
        "iteration {iteration}: the acknowledged checkpoint of {largest_checkpoint} entries is gone"
    );
    let verdict = store
        .verify_log(contoso(), &signer().verifier(), &[])
        .await
        .unwrap();
    assert!(
        verdict.is_verified(),
        "iteration {iteration}: the signed log does not verify: {verdict:?}"
    );
}
