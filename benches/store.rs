//! The SQLite store against raw rusqlite and raw sha2 doing the equivalent minimal work, in the
//! same run, printed as ratios. See BENCHMARKS.md for how to read them.
//!
//! `cargo bench --bench store`. The 1,000,000-record databases (ten tenants; one tenant) are
//! built once under `$CARGO_TARGET_TMPDIR/bench-data/` (inside the target directory, wherever
//! `CARGO_TARGET_DIR` puts it) and reused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use criterion::Criterion;
use customer_lockbox::*;
use rusqlite::{Connection, TransactionBehavior, params};
use sha2::{Digest, Sha256};

/// A fresh database path under `$CARGO_TARGET_TMPDIR/bench-data/scratch/`, unique within the run.
fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data/scratch");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)));
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

/// One precomputed audit row: what the raw baselines write per record, hashes zeroed.
struct RawRow<'a> {
    tenant: &'a str,
    request: &'a str,
    sequence: u64,
    at: &'a str,
    actor_role: &'a str,
    actor_id: &'a str,
    kind: &'a str,
    record: &'a str,
}

impl RawRow<'_> {
    fn insert(&self, tx: &rusqlite::Transaction<'_>, position: u64) {
        tx.prepare_cached(
            "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .unwrap()
        .execute(params![
            self.tenant,
            position,
            self.request,
            self.sequence,
            self.at,
            self.actor_role,
            self.actor_id,
            self.kind,
            self.record,
            [0u8; 32].as_slice(),
            [0u8; 32].as_slice(),
        ])
        .unwrap();
    }
}

// ---- 1. durable transitions ----------------------------------------------------------------

/// A store on a fresh file, migrated, and the runtime that drives it.
fn fresh_store(name: &str) -> (tokio::runtime::Runtime, SqliteStore, PathBuf) {
    let rt = runtime();
    let path = scratch(name);
    let store = rt.block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        store
    });
    (rt, store, path)
}

/// `store.approve` on drafts (drafted untimed). With `load`, the approvals go through a second
/// handle on the same file, whose cache is empty: each loads and replays the draft first.
fn transition(load: bool) -> Op {
    let (rt, store, path) = fresh_store("transitions.db");
    let stepper = if load {
        rt.block_on(SqliteStore::open(&path)).unwrap()
    } else {
        store.clone()
    };
    let mut clock = Ticking(t0());
    Box::new(move |iters| {
        rt.block_on(async {
            let mut drafts = Vec::new();
            for _ in 0..iters {
                drafts.push(drafted_in(&store, tenant(1), clock.next()).await);
            }
            let start = Instant::now();
            for id in drafts {
                stepper.approve(id, &sam(), clock.next()).await.unwrap();
            }
            start.elapsed()
        })
    })
}

/// One row into a table with a one-column key, committed durably.
fn raw_single_row() -> Op {
    let raw = raw_connection(&scratch("raw-transitions.db"));
    raw.execute_batch("CREATE TABLE requests (id TEXT PRIMARY KEY, state TEXT NOT NULL) STRICT")
        .unwrap();
    let mut raw = raw;
    let mut n = 0u64;
    Box::new(move |iters| {
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
    })
}

/// One audit row, precomputed, into the store's own indexed audit schema, committed durably:
/// the minimal durable write of one searchable record.
fn raw_audit_row() -> Op {
    let mut raw = raw_connection(&scratch("raw-transition-audit.db"));
    raw.execute_batch(RAW_AUDIT).unwrap();
    let sample = draft(tenant(1), t0()).approve(&sam(), t0()).unwrap();
    let json = serde_json::to_string(sample.audit_trail().last().unwrap()).unwrap();
    let tenant_text = tenant(1).to_string();
    let mut position = 0u64;
    Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            position += 1;
            let tx = raw
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            let request = uuid::Uuid::from_u128(u128::from(position)).to_string();
            RawRow {
                tenant: &tenant_text,
                request: &request,
                sequence: 2,
                at: "2026-11-24T08:00:00.000000000Z",
                actor_role: "support_manager",
                actor_id: "sam",
                kind: "manager_approved",
                record: &json,
            }
            .insert(&tx, position);
            tx.commit().unwrap();
        }
        start.elapsed()
    })
}

fn transitions(c: &mut Criterion) {
    compare(
        c,
        "durable transition (store.approve)",
        ("transition: store.approve", &|| transition(false)),
        ("raw: single-row durable commit", &raw_single_row),
        true,
        "(context)",
    );
    compare(
        c,
        "durable transition vs one audit row in the same schema",
        ("transition: store.approve", &|| transition(false)),
        ("raw: one audit row, durable commit", &raw_audit_row),
        true,
        ">= 0.85x",
    );
    compare(
        c,
        "durable transition incl. load (replay)",
        ("transition: load + store.approve", &|| transition(true)),
        ("raw: single-row durable commit", &raw_single_row),
        true,
        "(context)",
    );
}

/// Requests walked from draft to close (see [`walk`]) on `nodes` store handles of one file, in
/// turn, each with its request cache on or off.
fn walks(nodes: usize, cache: RequestCache) -> Op {
    let (rt, store, path) = fresh_store(&format!("walks-{nodes}-{cache:?}.db"));
    let mut handles = vec![store];
    for _ in 1..nodes {
        handles.push(rt.block_on(SqliteStore::open(&path)).unwrap());
    }
    for handle in &handles {
        handle.set_request_cache(cache);
    }
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
        ("walk: one node, cache on", &|| walks(1, RequestCache::On)),
        ("walk: one node, cache off", &|| walks(1, RequestCache::Off)),
        true,
        "(decides the cache)",
    );
    compare(
        c,
        "request cache: steps alternating over two nodes, cache on vs off",
        ("walk: two nodes in turn, cache on", &|| {
            walks(2, RequestCache::On)
        }),
        ("walk: two nodes in turn, cache off", &|| {
            walks(2, RequestCache::Off)
        }),
        true,
        "(decides the cache)",
    );
}

// ---- 2. batched engineer-action appends ------------------------------------------------------

const BATCH: u64 = 100;

/// `store.record_actions` with 100 actions: one call, one transaction. One granted request
/// takes 20 batches, then a fresh one (granted untimed) takes over, which keeps trails bounded.
fn append_batch() -> Op {
    let (rt, store, _) = fresh_store("appends.db");
    let now = t0() + TimeDelta::minutes(1);
    let mut clock = Ticking(t0() - TimeDelta::hours(1));
    let mut current: Option<RequestId> = None;
    let mut batches = 0u64;
    Box::new(move |iters| {
        rt.block_on(async {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let id = match current.take() {
                    Some(id) if !batches.is_multiple_of(20) => id,
                    _ => granted_in(&store, tenant(2), clock.next()).await,
                };
                let actions: Vec<EngineerAction> = (0..BATCH).map(action).collect();
                let start = Instant::now();
                let report = store
                    .record_actions(id, &alex(), actions, now)
                    .await
                    .unwrap();
                elapsed += start.elapsed();
                assert_eq!(report.recorded(), BATCH as usize);
                current = Some(id);
                batches += 1;
            }
            elapsed
        })
    })
}

/// The same rows, already encoded, into an identical table: what rusqlite alone must do.
fn raw_batch() -> Op {
    let mut raw = raw_connection(&scratch("raw-appends.db"));
    raw.execute_batch(RAW_AUDIT).unwrap();
    let now = t0() + TimeDelta::minutes(1);
    let sample = act(granted(tenant(2), t0()), 0, now);
    let json = serde_json::to_string(sample.audit_trail().last().unwrap()).unwrap();
    let request = sample.id().to_string();
    let tenant_text = tenant(2).to_string();
    let mut position = 0u64;
    Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let tx = raw
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            for _ in 0..BATCH {
                position += 1;
                RawRow {
                    tenant: &tenant_text,
                    request: &request,
                    sequence: position,
                    at: "2026-11-24T08:01:00.000000000Z",
                    actor_role: "engineer",
                    actor_id: "alex@support.vendor.example",
                    kind: "engineer_acted",
                    record: &json,
                }
                .insert(&tx, position);
            }
            tx.commit().unwrap();
        }
        start.elapsed()
    })
}

fn appends(c: &mut Criterion) {
    compare(
        c,
        "batched append (100 actions)",
        ("append: store.record_actions, 100", &append_batch),
        ("raw: 100-row batched insert", &raw_batch),
        true,
        ">= 0.5x",
    );
}

// ---- 3 and 4. search and verification on 1,000,000 records -----------------------------------

/// The shape of the audit store searched and verified.
struct Scale {
    name: &'static str,
    tenants: u128,
    requests_per_tenant: u64,
    /// Calls of `record_actions` per request, each with `actions_per_call` actions.
    action_calls: u64,
    actions_per_call: u64,
    /// Whether the tenants' policies list keys, so each grant is signed by Megan's key.
    signed: bool,
}

/// The million-record store: 10 tenants × 100 granted requests × 1,000 records (4 workflow
/// records and 996 actions, in 12 calls a second apart), one request per minute per tenant.
const MILLION: Scale = Scale {
    name: "audit-1m",
    tenants: 10,
    requests_per_tenant: 100,
    action_calls: 12,
    actions_per_call: 83,
    signed: false,
};

/// Under `cargo test`, where each benchmark only runs once to show it works: the same shape,
/// 24,400 records (4 tenants × 61 requests × 100 records, the searched hour included).
const CHECK: Scale = Scale {
    name: "audit-check",
    tenants: 4,
    requests_per_tenant: 61,
    action_calls: 1,
    actions_per_call: 96,
    signed: false,
};

/// One tenant of 1,000,000 records (1,000 granted requests of 1,000 records), for inclusion
/// proofs; its log is signed once built.
const ONE_TENANT: Scale = Scale {
    name: "tenant-1m",
    tenants: 1,
    requests_per_tenant: 1000,
    action_calls: 12,
    actions_per_call: 83,
    signed: false,
};

/// [`ONE_TENANT`]'s shape under `cargo test`: 10,000 records.
const ONE_TENANT_CHECK: Scale = Scale {
    name: "tenant-check",
    tenants: 1,
    requests_per_tenant: 100,
    action_calls: 1,
    actions_per_call: 96,
    signed: false,
};

/// One tenant's log of 100,000 entries, 10,000 of them signed grants: 10,000 requests of 10
/// records (4 workflow records and 6 actions, in one call).
const SIGNED_100K: Scale = Scale {
    name: "signed-100k",
    tenants: 1,
    requests_per_tenant: 10_000,
    action_calls: 1,
    actions_per_call: 6,
    signed: true,
};

/// [`SIGNED_100K`] unsigned: the same entries, its policy without keys.
const UNSIGNED_100K: Scale = Scale {
    name: "unsigned-100k",
    signed: false,
    ..SIGNED_100K
};

/// [`SIGNED_100K`] under `cargo test`: 100 requests.
const SIGNED_CHECK: Scale = Scale {
    name: "signed-check",
    requests_per_tenant: 100,
    ..SIGNED_100K
};

/// [`UNSIGNED_100K`] under `cargo test`.
const UNSIGNED_CHECK: Scale = Scale {
    name: "unsigned-check",
    requests_per_tenant: 100,
    ..UNSIGNED_100K
};

/// The signer of the benchmark stores' checkpoints.
fn signer() -> customer_lockbox::tlog::SignerKey {
    customer_lockbox::tlog::SignerKey::from_seed("lockbox.bench.example", &[9; 32]).unwrap()
}

/// The audit store for searches and verification ([`MILLION`] when measuring), built once
/// under `$CARGO_TARGET_TMPDIR/bench-data/` (inside the target directory) through the store's
/// own steps and reused.
fn million() -> PathBuf {
    built(if measuring() { MILLION } else { CHECK })
}

/// The one-tenant store for inclusion proofs ([`ONE_TENANT`] when measuring).
fn one_tenant() -> PathBuf {
    built(if measuring() {
        ONE_TENANT
    } else {
        ONE_TENANT_CHECK
    })
}

/// A store of `scale`, built once under `$CARGO_TARGET_TMPDIR/bench-data/` (inside the target
/// directory) through the store's own steps (and
/// each tenant's log signed at the end), and reused.
fn built(scale: Scale) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let rt = runtime();
    let version = rt.block_on(async {
        let memory = SqliteStore::open_in_memory().await.unwrap();
        memory.schema_version().await.unwrap().1
    });
    let path = dir.join(format!("{}-v{version}.db", scale.name));
    let done = dir.join(format!("{}-v{version}.done", scale.name));
    if done.exists() {
        return path;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    eprintln!("building the audit store at {} (once)", path.display());
    let started = Instant::now();
    rt.block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        if scale.signed {
            // Statements name the log: the signer is set before the first step.
            store.set_checkpoint_signer(signer());
            for t in 0..scale.tenants {
                keyed_policy_in(&store, tenant(t)).await;
            }
        }
        for r in 0..scale.requests_per_tenant {
            for t in 0..scale.tenants {
                let start = t0() + TimeDelta::minutes(r as i64);
                let id = if scale.signed {
                    signed_granted_in(&store, tenant(t), start).await
                } else {
                    granted_in(&store, tenant(t), start).await
                };
                for call in 0..scale.action_calls {
                    let first = call * scale.actions_per_call;
                    let actions: Vec<EngineerAction> = (first..first + scale.actions_per_call)
                        .map(action)
                        .collect();
                    let at = start + TimeDelta::seconds(call as i64 + 1);
                    let report = store
                        .record_actions(id, &alex(), actions, at)
                        .await
                        .unwrap();
                    assert!(report.is_all_recorded(), "{report:?}");
                }
            }
        }
        store.set_checkpoint_signer(signer());
        for t in 0..scale.tenants {
            store
                .sign_checkpoint(tenant(t), t0() + TimeDelta::days(1))
                .await
                .unwrap();
        }
    });
    if scale.signed {
        // Its signer signed a checkpoint after every step that sent a message; its unsigned
        // twin's, only the last. Keep only the latest, so the two logs differ by their
        // decisions' signatures alone (a verifier opens every kept checkpoint's signature).
        Connection::open(&path)
            .unwrap()
            .execute(
                "DELETE FROM checkpoints WHERE size < (SELECT max(size) FROM checkpoints)",
                [],
            )
            .unwrap();
    }
    eprintln!("built in {:.0?}", started.elapsed());
    std::fs::write(&done, b"").unwrap();
    path
}

/// The search both sides run: tenant 3, a 20-minute range, pages of 100.
fn search_query() -> AuditQuery {
    AuditQuery::new()
        .tenant(tenant(3))
        .since(t0() + TimeDelta::minutes(40))
        .before(t0() + TimeDelta::minutes(60))
        .page_size(PageSize::new(100).unwrap())
}

fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The store's search, alternating the first page and the second (keyset) page.
fn search_page() -> Op {
    let rt = runtime();
    let store = rt.block_on(SqliteStore::open(million())).unwrap();
    let query = search_query();
    let first = rt.block_on(store.search(&query)).unwrap();
    assert_eq!(first.records.len(), 100);
    let next_page = query.clone().after(first.next.unwrap());
    Box::new(move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for i in 0..iters {
                let q = if i % 2 == 0 { &query } else { &next_page };
                std::hint::black_box(store.search(q).await.unwrap());
            }
            start.elapsed()
        })
    })
}

/// The same SQL through rusqlite, the same pages, the columns read as strings.
fn raw_query() -> Op {
    let path = million();
    let cursor = runtime()
        .block_on(async {
            let store = SqliteStore::open(&path).await.unwrap();
            store.search(&search_query()).await.unwrap().next
        })
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    let sql = "SELECT request_id, sequence, tenant, at, actor_role, actor_id, kind, record FROM audit \
               WHERE tenant = ?1 AND at >= ?2 AND at < ?3 AND (at, request_id, sequence) > (?4, ?5, ?6) \
               ORDER BY at, request_id, sequence LIMIT 101";
    let (since, before) = (
        text(t0() + TimeDelta::minutes(40)),
        text(t0() + TimeDelta::minutes(60)),
    );
    // The first page starts before everything; the second after the first page's cursor.
    let pages = [
        (String::new(), String::new(), 0u64),
        (
            text(cursor.at()),
            cursor.request().to_string(),
            cursor.sequence(),
        ),
    ];
    let tenant_text = tenant(3).to_string();
    Box::new(move |iters| {
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
                    params![tenant_text, since, before, at, request, sequence],
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
    })
}

/// The store walks tenant 3's chain: 100,000 records read from SQLite and hashed.
fn verify_chain() -> Op {
    let rt = runtime();
    let store = rt.block_on(SqliteStore::open(million())).unwrap();
    Box::new(move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                assert!(store.verify_chain(tenant(3)).await.unwrap().is_intact());
            }
            start.elapsed()
        })
    })
}

/// SHA-256 chained over the same length-prefixed bytes, already in memory.
fn raw_sha2() -> Op {
    let conn = Connection::open(million()).unwrap();
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
    Box::new(move |iters| {
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
    })
}

/// The store verifies tenant 3's log: 100,000 entries read, each hashed into its link and its
/// leaf, the tree's roots checked against the signed checkpoint and the stored tree.
fn verify_log() -> Op {
    let rt = runtime();
    let store = rt.block_on(SqliteStore::open(million())).unwrap();
    let key = signer().verifier();
    Box::new(move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                assert!(
                    store
                        .verify_log(tenant(3), &key, &[])
                        .await
                        .unwrap()
                        .is_verified()
                );
            }
            start.elapsed()
        })
    })
}

/// The store's inclusion proof of a record of the one-tenant store, at positions spread over
/// the log, in the tree of its checkpoint.
fn inclusion_proof() -> Op {
    let rt = runtime();
    let store = rt.block_on(SqliteStore::open(one_tenant())).unwrap();
    let size = rt
        .block_on(store.latest_checkpoint(tenant(0)))
        .unwrap()
        .unwrap()
        .checkpoint()
        .size();
    let mut position = 0u64;
    Box::new(move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                position = (position + 7_919) % size + 1;
                std::hint::black_box(store.inclusion_proof(tenant(0), position).await.unwrap());
            }
            start.elapsed()
        })
    })
}

/// One audit row of the same store read by its (tenant, position) key through rusqlite.
fn raw_row_read() -> Op {
    let conn = Connection::open(one_tenant()).unwrap();
    let size: u64 = conn
        .query_row("SELECT count(*) FROM audit", [], |row| row.get(0))
        .unwrap();
    let tenant_text = tenant(0).to_string();
    let mut position = 0u64;
    Box::new(move |iters| {
        let mut stmt = conn
            .prepare_cached("SELECT record FROM audit WHERE tenant = ?1 AND chain_position = ?2")
            .unwrap();
        let start = Instant::now();
        for _ in 0..iters {
            position = (position + 7_919) % size + 1;
            let record: String = stmt
                .query_row(params![tenant_text, position], |row| row.get(0))
                .unwrap();
            std::hint::black_box(record);
        }
        start.elapsed()
    })
}

fn verifiable_log(c: &mut Criterion) {
    compare(
        c,
        "durable transition incl. checkpoint signing",
        ("transition: store.notify, signed", &|| {
            signed_transition(true)
        }),
        ("the same, no signer", &|| signed_transition(false)),
        true,
        ">= 0.8x",
    );
    compare(
        c,
        "inclusion proof, 1,000,000-record tenant",
        ("proof: store.inclusion_proof", &inclusion_proof),
        ("raw: one indexed row read", &raw_row_read),
        false,
        "<= 20x",
    );
    compare(
        c,
        "log verification, 100,000 entries",
        ("verify: store.verify_log, 100k", &verify_log),
        ("raw: sha2 over the same bytes", &raw_sha2),
        true,
        ">= 0.5x",
    );
}

fn signed_decisions(c: &mut Criterion) {
    compare(
        c,
        "grant signed by the approver's key vs unsigned",
        ("grant: store.grant_signed (SSH signature checked)", &|| {
            grant(true)
        }),
        ("the same grant, unsigned, policy without keys", &|| {
            grant(false)
        }),
        true,
        ">= 0.8x",
    );
    compare(
        c,
        "log verification, 100,000 entries, 10,000 signed grants",
        ("verify: store.verify_log, 10k signatures", &|| {
            verify_decisions(true)
        }),
        ("the same log unsigned", &|| verify_decisions(false)),
        true,
        ">= 0.8x",
    );
}

/// Megan's SSH key (an approver's `~/.ssh/id_ed25519`), and Adele's (the tenant's
/// administrator).
fn persons_key(seed: u8) -> ssh_key::PrivateKey {
    ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]))
}

/// What `ssh-keygen -Y sign -n customer-lockbox` makes with `key` over `text`.
fn ssh_sign(key: &ssh_key::PrivateKey, text: &[u8]) -> String {
    ssh_key::SshSig::sign(key, SIGNATURE_NAMESPACE, ssh_key::HashAlg::Sha512, text)
        .unwrap()
        .to_pem(ssh_key::LineEnding::LF)
        .unwrap()
}

fn public(key: &ssh_key::PrivateKey) -> CustomerKey {
    CustomerKey::parse(&key.public_key().to_openssh().unwrap()).unwrap()
}

/// Gives `tenant` a policy listing Megan's and Adele's keys, signed by Adele, a day before t0.
async fn keyed_policy_in(store: &SqliteStore, tenant: TenantId) {
    let adele = TenantAdminId::new("adele@contoso.com").unwrap();
    let keyed = TenantPolicy::new(
        tenant,
        vec![
            DesignatedApprover::new(megan(), EmailAddress::new("megan@contoso.com").unwrap())
                .with_keys(vec![public(&persons_key(2))]),
        ],
    )
    .unwrap()
    .with_administrators(vec![TenantAdministrator::new(
        adele.clone(),
        vec![public(&persons_key(1))],
    )]);
    let statement = store.policy_statement(&adele, &keyed).await.unwrap();
    let armor = ssh_sign(&persons_key(1), statement.as_bytes());
    let at = t0() - TimeDelta::days(1);
    store.set_clock(ManualClock::new(at));
    store
        .set_policy_signed(&adele, keyed, &armor, at)
        .await
        .unwrap();
    store.use_own_clock();
}

/// A request of a keyed tenant notified at `now`, and Megan's signature over its grant.
async fn signed_pending_in(
    store: &SqliteStore,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> (RequestId, String) {
    let id = drafted_in(store, tenant, now).await;
    store.approve(id, &sam(), now).await.unwrap();
    store.notify(id, now).await.unwrap();
    let statement = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    (id, ssh_sign(&persons_key(2), statement.as_bytes()))
}

/// A request of a keyed tenant granted at `now` with Megan's signature.
async fn signed_granted_in(store: &SqliteStore, tenant: TenantId, now: DateTime<Utc>) -> RequestId {
    let (id, armor) = signed_pending_in(store, tenant, now).await;
    match store.grant_signed(id, &megan(), &armor, now).await.unwrap() {
        GrantOutcome::Granted(_) => id,
        other => panic!("not granted: {other:?}"),
    }
}

/// Grants on notified requests of one tenant, each signed by Megan (`signed`) or not, on a
/// store with a signer; the requests are readied (and signed) untimed.
fn grant(signed: bool) -> Op {
    let (rt, store, _) = fresh_store(if signed {
        "signed-grants.db"
    } else {
        "grants.db"
    });
    store.set_checkpoint_signer(signer());
    if signed {
        rt.block_on(keyed_policy_in(&store, tenant(1)));
    }
    let mut clock = Ticking(t0());
    Box::new(move |iters| {
        rt.block_on(async {
            let mut ready = Vec::new();
            for _ in 0..iters {
                let now = clock.next();
                ready.push(if signed {
                    let (id, armor) = signed_pending_in(&store, tenant(1), now).await;
                    (id, Some(armor))
                } else {
                    let id = drafted_in(&store, tenant(1), now).await;
                    store.approve(id, &sam(), now).await.unwrap();
                    store.notify(id, now).await.unwrap();
                    (id, None)
                });
            }
            let now = clock.next();
            let start = Instant::now();
            for (id, armor) in ready {
                let outcome = match armor {
                    Some(armor) => store.grant_signed(id, &megan(), &armor, now).await,
                    None => store.grant(id, &megan(), now).await,
                };
                assert!(matches!(outcome, Ok(GrantOutcome::Granted(_))));
            }
            start.elapsed()
        })
    })
}

/// `store.verify_log` over the 100,000-entry log with 10,000 signed grants, or its unsigned
/// twin.
fn verify_decisions(signed: bool) -> Op {
    let scale = match (signed, measuring()) {
        (true, true) => SIGNED_100K,
        (true, false) => SIGNED_CHECK,
        (false, true) => UNSIGNED_100K,
        (false, false) => UNSIGNED_CHECK,
    };
    let rt = runtime();
    let store = rt.block_on(SqliteStore::open(built(scale))).unwrap();
    let key = signer().verifier();
    Box::new(move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let verdict = store.verify_log(tenant(0), &key, &[]).await.unwrap();
                let customer_lockbox::evidence::LogVerdict::Verified { decisions, .. } = verdict
                else {
                    panic!("the log verifies: {verdict:?}");
                };
                assert_eq!(decisions.signed > 0, signed);
            }
            start.elapsed()
        })
    })
}

/// `store.notify` on manager-approved requests: a step that sends a message, so with a signer
/// the store signs a checkpoint of the tenant's log after it commits.
fn signed_transition(signed: bool) -> Op {
    let (rt, store, _) = fresh_store("signed-transitions.db");
    if signed {
        store.set_checkpoint_signer(signer());
    }
    let mut clock = Ticking(t0());
    Box::new(move |iters| {
        rt.block_on(async {
            let mut approved = Vec::new();
            for _ in 0..iters {
                let id = drafted_in(&store, tenant(1), clock.next()).await;
                store.approve(id, &sam(), clock.next()).await.unwrap();
                approved.push(id);
            }
            let start = Instant::now();
            for id in approved {
                store.notify(id, clock.next()).await.unwrap();
            }
            start.elapsed()
        })
    })
}

fn search_and_verify(c: &mut Criterion) {
    compare(
        c,
        "audit search, 100 of 1,000,000",
        ("search: tenant + time, 100 of 1M", &search_page),
        ("raw: the same indexed query", &raw_query),
        false,
        "<= 2x",
    );
    compare(
        c,
        "chain verification, 100,000 records",
        ("verify: tenant chain, 100k records", &verify_chain),
        ("raw: sha2 over the same bytes", &raw_sha2),
        true,
        ">= 0.5x",
    );
}

fn main() {
    // Scratch databases of earlier runs (the million-record store is kept).
    let _ =
        std::fs::remove_dir_all(Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data/scratch"));
    let mut c = criterion();
    transitions(&mut c);
    request_cache(&mut c);
    appends(&mut c);
    search_and_verify(&mut c);
    verifiable_log(&mut c);
    signed_decisions(&mut c);
    c.final_summary();
    print_summary();
}
