//! The SQLite store against raw rusqlite and raw sha2 doing the equivalent minimal work, in the
//! same run, printed as ratios. See BENCHMARKS.md for how to read them.
//!
//! `cargo bench --bench store` (add `-- --quick` for a shorter run). The 1,000,000-record
//! database is built once under `target/bench-data/` and reused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use criterion::Criterion;
use customer_lockbox::*;
use rusqlite::{Connection, TransactionBehavior, params};
use sha2::{Digest, Sha256};

/// One measured operation: given a count, runs it that many times and returns the time taken.
type Op<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// Benchmarks criterion has already run (an operation may take part in two comparisons).
static BENCHED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Whether criterion has yet to run `name` (and records that it now will).
fn first_time(name: &'static str) -> bool {
    let mut benched = BENCHED.lock().unwrap();
    let first = !benched.contains(&name);
    benched.push(name);
    first
}

/// Ratios measured by [`compare`], for the summary table.
static RESULTS: Mutex<Vec<Comparison>> = Mutex::new(Vec::new());

struct Comparison {
    label: &'static str,
    ours: f64,
    raw: f64,
    throughput: bool,
    goal: &'static str,
}

/// Measures `ours` and `raw` in alternating blocks over the same seconds, so that the machine's
/// drift (it is shared) falls on both alike, and records the ratio of those paired means; then
/// runs each under criterion for its own report.
#[allow(clippy::too_many_arguments)]
fn compare(
    c: &mut Criterion,
    label: &'static str,
    (ours_name, ours): (&'static str, &mut Op<'_>),
    (raw_name, raw): (&'static str, &mut Op<'_>),
    throughput: bool,
    goal: &'static str,
) {
    // The paired measurement runs first, on fresh databases; criterion's runs follow.
    // Blocks of about 100 ms each, alternating which goes first, for PAIRED_SECONDS.
    let probe = ours(1).max(Duration::from_micros(1));
    let block = (Duration::from_millis(100).as_nanos() / probe.as_nanos()).clamp(1, 10_000) as u64;
    let (mut ours_total, mut raw_total, mut done) = (Duration::ZERO, Duration::ZERO, 0u64);
    let started = Instant::now();
    // Each block starts with the page cache flushed (untimed): otherwise an fsync on one side
    // pays for the other side's buffered writes (ext4 commits its journal for all files).
    let flush = || {
        let _ = std::process::Command::new("sync").status();
    };
    while started.elapsed() < Duration::from_secs(PAIRED_SECONDS) {
        if done % 2 == 0 {
            flush();
            ours_total += ours(block);
            flush();
            raw_total += raw(block);
        } else {
            flush();
            raw_total += raw(block);
            flush();
            ours_total += ours(block);
        }
        done += 1;
    }
    let per = |total: Duration| total.as_secs_f64() / (done * block) as f64;
    if first_time(ours_name) {
        c.bench_function(ours_name, |b| b.iter_custom(&mut *ours));
    }
    if first_time(raw_name) {
        c.bench_function(raw_name, |b| b.iter_custom(&mut *raw));
    }
    RESULTS.lock().unwrap().push(Comparison {
        label,
        ours: per(ours_total),
        raw: per(raw_total),
        throughput,
        goal,
    });
}

/// How long each paired measurement runs.
const PAIRED_SECONDS: u64 = 8;

// ---- fixtures ----------------------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    "2026-11-24T08:00:00Z".parse().unwrap()
}

fn tenant(n: u128) -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0x8b5a_0c4e_2f7d_4e4b_9a51_0000_0000_0000 | n,
    ))
    .unwrap()
}

fn megan() -> ApproverId {
    ApproverId::new("megan@contoso.com").unwrap()
}

fn alex() -> EngineerId {
    EngineerId::new("alex@support.vendor.example").unwrap()
}

fn policy(tenant: TenantId) -> TenantPolicy {
    TenantPolicy::new(
        tenant,
        vec![DesignatedApprover::new(
            megan(),
            EmailAddress::new("megan@contoso.com").unwrap(),
        )],
    )
    .unwrap()
}

fn draft(tenant: TenantId, now: DateTime<Utc>) -> Request<Drafted> {
    let d = Draft {
        id: RequestId::new(now),
        tenant,
        service_request: ServiceRequestNumber::new("2611240010001234").unwrap(),
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(4).unwrap(),
        justification: Justification::new("CFO mailbox stopped syncing after migration").unwrap(),
        engineer: alex(),
    };
    Request::draft(d, &policy(tenant), now).unwrap()
}

fn granted(tenant: TenantId, now: DateTime<Utc>) -> Request<Granted> {
    let approved = draft(tenant, now)
        .approve(&SupportManagerId::new("sam").unwrap(), now)
        .unwrap();
    let (pending, _notification) = approved.notify(&policy(tenant), now).unwrap();
    match pending.grant(&megan(), &policy(tenant), now).unwrap() {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::Expired(_) => panic!("granted at once"),
    }
}

fn action(n: u64) -> EngineerAction {
    EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new("Get-MailboxFolderStatistics").unwrap(),
        Target::new(format!("mailbox {n}")).unwrap(),
    )
}

fn act(granted: Request<Granted>, n: u64, now: DateTime<Utc>) -> Request<Granted> {
    match granted.record_action(&alex(), action(n), now) {
        Ok(ActionOutcome::Recorded(granted)) => granted,
        _ => panic!("inside the window"),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/scratch");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// A raw connection with the store's settings: durability, page cache, checkpoint interval.
fn raw_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "cache_size", -64 * 1024).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)
        .unwrap();
    conn
}

/// The store's audit table, for raw inserts that maintain the same indexes.
const RAW_AUDIT: &str = "
CREATE TABLE audit (
    tenant TEXT NOT NULL, chain_position INTEGER NOT NULL, request_id TEXT NOT NULL,
    sequence INTEGER NOT NULL, at TEXT NOT NULL, actor_role TEXT NOT NULL, actor_id TEXT NOT NULL,
    kind TEXT NOT NULL, record TEXT NOT NULL, previous_hash BLOB NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (tenant, chain_position)) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX audit_by_request ON audit (request_id, sequence);
CREATE INDEX audit_by_time ON audit (at, request_id, sequence);
CREATE INDEX audit_by_tenant ON audit (tenant, at, request_id, sequence);
CREATE INDEX audit_by_actor ON audit (actor_role, actor_id, at, request_id, sequence);
CREATE INDEX audit_by_kind ON audit (kind, at, request_id, sequence);";

// ---- 1. durable transitions ----------------------------------------------------------------

/// A clock for the benchmarks that moves one millisecond per reading, as a busy service's
/// would: request ids (UUID v7) and instants then arrive in order, as they do in production.
struct Ticking(DateTime<Utc>);

impl Ticking {
    fn next(&mut self) -> DateTime<Utc> {
        self.0 += TimeDelta::milliseconds(1);
        self.0
    }
}

fn transitions(c: &mut Criterion) {
    let path = scratch("transitions.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let sam = SupportManagerId::new("sam").unwrap();
    let mut clock = Ticking(t0());
    let mut other_store = SqliteStore::open(scratch("transitions-load.db")).unwrap();
    let mut other_clock = Ticking(t0());
    let mut approve_save: Op = Box::new(|iters| {
        let mut drafts: Vec<Request<Drafted>> = (0..iters)
            .map(|_| {
                let mut d = draft(tenant(1), clock.next());
                store.save(&mut d).unwrap();
                d
            })
            .collect();
        let start = Instant::now();
        for drafted in drafts.drain(..) {
            let mut approved = drafted.approve(&sam, clock.next()).unwrap();
            store.save(&mut approved).unwrap();
        }
        start.elapsed()
    });
    let mut load_approve_save: Op = Box::new(|iters| {
        let ids: Vec<RequestId> = (0..iters)
            .map(|_| {
                let mut d = draft(tenant(1), other_clock.next());
                other_store.save(&mut d).unwrap();
                d.id()
            })
            .collect();
        let start = Instant::now();
        for id in ids {
            let AnyRequest::Drafted(drafted) = other_store.load(id).unwrap() else {
                panic!("drafted")
            };
            let mut approved = drafted.approve(&sam, other_clock.next()).unwrap();
            other_store.save(&mut approved).unwrap();
        }
        start.elapsed()
    });
    let now = t0();
    // One audit row, committed alone, into the store's own indexed audit schema: the minimal
    // durable write of one searchable record.
    let mut raw_audit = raw_connection(&scratch("raw-transition-audit.db"));
    raw_audit.execute_batch(RAW_AUDIT).unwrap();
    let sample = draft(tenant(1), now).approve(&sam, now).unwrap();
    let json = serde_json::to_string(sample.audit_trail().last().unwrap()).unwrap();
    let tenant_text = tenant(1).to_string();
    let mut position = 0u64;
    let mut raw_audit_row: Op = Box::new(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            position += 1;
            let tx = raw_audit
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            tx.prepare_cached(
                "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .unwrap()
            .execute(params![
                tenant_text,
                position,
                uuid::Uuid::from_u128(u128::from(position)).to_string(),
                2u64,
                "2026-11-24T08:00:00.000000000Z",
                "support_manager",
                "sam",
                "manager_approved",
                json,
                [0u8; 32].as_slice(),
                [0u8; 32].as_slice(),
            ])
            .unwrap();
            tx.commit().unwrap();
        }
        start.elapsed()
    });
    let raw = raw_connection(&scratch("raw-transitions.db"));
    raw.execute_batch("CREATE TABLE requests (id TEXT PRIMARY KEY, state TEXT NOT NULL) STRICT")
        .unwrap();
    let mut raw = raw;
    let mut n = 0u64;
    let mut raw_single_row: Op = Box::new(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            n += 1;
            let tx = raw
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            tx.prepare_cached("INSERT INTO requests (id, state) VALUES (?1, ?2)")
                .unwrap()
                .execute(params![n.to_string(), "manager_approved"])
                .unwrap();
            tx.commit().unwrap();
        }
        start.elapsed()
    });
    compare(
        c,
        "durable transition (approve + save)",
        ("transition: approve + save", &mut approve_save),
        ("raw: single-row durable commit", &mut raw_single_row),
        true,
        ">= 0.7x",
    );
    compare(
        c,
        "durable transition vs one audit row in the same schema",
        ("transition: approve + save", &mut approve_save),
        ("raw: one audit row, durable commit", &mut raw_audit_row),
        true,
        ">= 0.7x",
    );
    compare(
        c,
        "durable transition incl. load (replay)",
        ("transition: load + approve + save", &mut load_approve_save),
        ("raw: single-row durable commit", &mut raw_single_row),
        true,
        "(context)",
    );
}

// ---- 2. batched engineer-action appends ------------------------------------------------------

const BATCH: u64 = 100;

fn appends(c: &mut Criterion) {
    let path = scratch("appends.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let now = t0() + TimeDelta::minutes(1);
    let mut clock = Ticking(t0() - TimeDelta::hours(1));
    // One granted request takes 20 batches, then a fresh one (granted and saved untimed) takes
    // over, which keeps trails (and memory) bounded.
    let mut current: Option<Request<Granted>> = None;
    let mut batches = 0u64;
    let mut append_batch: Op = Box::new(|iters| {
        let mut elapsed = Duration::ZERO;
        for _ in 0..iters {
            let mut granted = match current.take() {
                Some(granted) if !batches.is_multiple_of(20) => granted,
                _ => {
                    let mut fresh = granted(tenant(2), clock.next());
                    store.save(&mut fresh).unwrap();
                    fresh
                }
            };
            let start = Instant::now();
            for n in 0..BATCH {
                granted = act(granted, n, now);
            }
            store.save(&mut granted).unwrap();
            elapsed += start.elapsed();
            current = Some(granted);
            batches += 1;
        }
        elapsed
    });
    // The same rows, already encoded, into an identical table: what rusqlite alone must do.
    let mut raw = raw_connection(&scratch("raw-appends.db"));
    raw.execute_batch(RAW_AUDIT).unwrap();
    let sample = granted(tenant(2), t0());
    let sample = act(sample, 0, now);
    let json = serde_json::to_string(sample.audit_trail().last().unwrap()).unwrap();
    let request = sample.id().to_string();
    let tenant_text = tenant(2).to_string();
    let mut position = 0u64;
    let mut raw_batch: Op = Box::new(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let tx = raw
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .unwrap();
                for _ in 0..BATCH {
                    position += 1;
                    insert
                        .execute(params![
                            tenant_text,
                            position,
                            request,
                            position,
                            "2026-11-24T08:01:00.000000000Z",
                            "engineer",
                            "alex@support.vendor.example",
                            "engineer_acted",
                            json,
                            [0u8; 32].as_slice(),
                            [0u8; 32].as_slice(),
                        ])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        }
        start.elapsed()
    });
    compare(
        c,
        "batched append (100 actions)",
        ("append: 100 actions + save", &mut append_batch),
        ("raw: 100-row batched insert", &mut raw_batch),
        true,
        ">= 0.5x",
    );
}

// ---- 3 and 4. search and verification on 1,000,000 records -----------------------------------

const TENANTS: u128 = 10;
const REQUESTS_PER_TENANT: u64 = 100;
const ACTIONS_PER_REQUEST: u64 = 996; // plus 4 workflow records: 1,000 per request

/// The million-record store: 10 tenants × 100 granted requests × 1,000 records, one request
/// per minute per tenant, actions a second apart.
fn million() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("audit-1m-v{}.db", SqliteStore::schema_version()));
    let done = dir.join(format!("audit-1m-v{}.done", SqliteStore::schema_version()));
    if done.exists() {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    eprintln!(
        "building the 1,000,000-record store at {} (once)",
        path.display()
    );
    let started = Instant::now();
    let mut store = SqliteStore::open(&path).unwrap();
    for r in 0..REQUESTS_PER_TENANT {
        for t in 0..TENANTS {
            let start = t0() + TimeDelta::minutes(r as i64);
            let mut g = granted(tenant(t), start);
            for n in 0..ACTIONS_PER_REQUEST {
                g = act(g, n, start + TimeDelta::milliseconds(n as i64 * 10));
            }
            store.save(&mut g).unwrap();
        }
    }
    eprintln!("built in {:.0?}", started.elapsed());
    std::fs::write(&done, b"").unwrap();
    path
}

fn search_and_verify(c: &mut Criterion) {
    let path = million();
    let mut store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let query = AuditQuery::new()
        .tenant(tenant(3))
        .since(t0() + TimeDelta::minutes(40))
        .before(t0() + TimeDelta::minutes(60))
        .page_size(PageSize::new(100).unwrap());
    let first = store.search(&query).unwrap();
    assert_eq!(first.records.len(), 100);
    let next_page = query.clone().after(first.next.unwrap());
    let mut search_page: Op = Box::new(|iters| {
        let start = Instant::now();
        for i in 0..iters {
            let q = if i % 2 == 0 { &query } else { &next_page };
            std::hint::black_box(store.search(q).unwrap());
        }
        start.elapsed()
    });
    let sql = "SELECT request_id, sequence, tenant, at, actor_role, actor_id, kind, record FROM audit \
               WHERE tenant = ?1 AND at >= ?2 AND at < ?3 AND (at, request_id, sequence) > (?4, ?5, ?6) \
               ORDER BY at, request_id, sequence LIMIT 101";
    let text = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (since, before) = (
        text(t0() + TimeDelta::minutes(40)),
        text(t0() + TimeDelta::minutes(60)),
    );
    let cursor = first.next.unwrap();
    // The first page starts before everything; the second after the first page's cursor.
    let pages = [
        (String::new(), String::new(), 0u64),
        (
            text(cursor.at()),
            cursor.request().to_string(),
            cursor.sequence(),
        ),
    ];
    let mut raw_query: Op = Box::new(|iters| {
        let mut stmt = conn.prepare_cached(sql).unwrap();
        let start = Instant::now();
        for i in 0..iters {
            let (at, request, sequence) = &pages[(i % 2) as usize];
            #[allow(clippy::type_complexity)] // the eight columns, as rusqlite returns them
            let rows: Vec<(
                String,
                u64,
                String,
                String,
                String,
                String,
                String,
                String,
            )> = stmt
                .query_map(
                    params![tenant(3).to_string(), since, before, at, request, sequence],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                            row.get(6)?,
                            row.get(7)?,
                        ))
                    },
                )
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            std::hint::black_box(rows);
        }
        start.elapsed()
    });

    compare(
        c,
        "audit search, 100 of 1,000,000",
        ("search: tenant + time, 100 of 1M", &mut search_page),
        ("raw: the same indexed query", &mut raw_query),
        false,
        "<= 2x",
    );
    drop((search_page, raw_query));

    // Verification: the store walks tenant 3's 100,000 records; raw sha2 hashes the same bytes
    // (the same length-prefixed fields), already in memory.
    assert!(store.verify_chain(tenant(3)).unwrap().is_intact());
    let rows: Vec<Vec<Vec<u8>>> = {
        let mut stmt = conn
            .prepare(
                "SELECT request_id, sequence, tenant, at, actor_role, actor_id, kind, record FROM audit \
                 WHERE tenant = ?1 ORDER BY chain_position",
            )
            .unwrap();
        stmt.query_map([tenant(3).to_string()], |row| {
            let mut fields = Vec::new();
            for i in 0..8 {
                fields.push(match i {
                    1 => row.get::<_, u64>(i)?.to_be_bytes().to_vec(),
                    _ => row.get::<_, String>(i)?.into_bytes(),
                });
            }
            Ok(fields)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let bytes: usize = rows.iter().flatten().map(Vec::len).sum();
    eprintln!(
        "verification covers {} records, {:.1} MB",
        rows.len(),
        bytes as f64 / 1e6
    );
    let mut verify_chain: Op = Box::new(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            assert!(store.verify_chain(tenant(3)).unwrap().is_intact());
        }
        start.elapsed()
    });
    let mut raw_sha2: Op = Box::new(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let mut previous = [0u8; 32];
            for (position, fields) in rows.iter().enumerate() {
                let mut hasher = Sha256::new();
                hasher.update(previous);
                hasher.update((position as u64 + 1).to_be_bytes());
                for field in fields {
                    hasher.update((field.len() as u32).to_be_bytes());
                    hasher.update(field);
                }
                previous = hasher.finalize().into();
            }
            std::hint::black_box(previous);
        }
        start.elapsed()
    });
    compare(
        c,
        "chain verification, 100,000 records",
        ("verify: tenant chain, 100k records", &mut verify_chain),
        ("raw: sha2 over the same bytes", &mut raw_sha2),
        true,
        ">= 0.5x",
    );
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    transitions(&mut c);
    appends(&mut c);
    search_and_verify(&mut c);
    c.final_summary();

    println!();
    println!("| benchmark | ours (ms/op) | raw (ms/op) | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    for r in RESULTS.lock().unwrap().iter() {
        let (ours, raw) = (r.ours * 1e3, r.raw * 1e3);
        let ratio = if r.throughput {
            format!("{:.2}x throughput", raw / ours)
        } else {
            format!("{:.2}x latency", ours / raw)
        };
        println!(
            "| {} | {ours:.3} | {raw:.3} | {ratio} | {} |",
            r.label, r.goal
        );
    }
}
