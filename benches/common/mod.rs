//! What the benchmarks share: the paired measurement against a raw baseline, the summary table,
//! and the workflow fixtures. See BENCHMARKS.md for how to read the ratios.
#![allow(dead_code)] // each benchmark uses its own part

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use criterion::Criterion;
use customer_lockbox::*;

/// One measured operation: given a count, runs it that many times and returns the time taken
/// (setup excluded). It owns its databases.
pub type Op = Box<dyn FnMut(u64) -> Duration>;

/// Makes an operation on fresh databases.
pub type Factory<'a> = &'a dyn Fn() -> Op;

/// Ratios measured by [`compare`], for the summary table.
pub static RESULTS: Mutex<Vec<Comparison>> = Mutex::new(Vec::new());

pub struct Comparison {
    pub label: &'static str,
    pub ours: f64,
    pub raw: f64,
    pub throughput: bool,
    pub goal: &'static str,
}

/// How long each half of a paired measurement runs.
pub const HALF_SECONDS: u64 = 5;

/// Measures ours against raw in alternating blocks of about 100 ms over the same seconds, so
/// that the machine's drift (it is shared) falls on both alike, with the page cache flushed
/// (untimed) before each block. Whichever side leads each round was measured slower, even
/// between two identical stores, so the measurement runs in two halves on fresh databases, one
/// led by each side, and their totals are combined. Then criterion runs each side on its own.
pub fn compare(
    c: &mut Criterion,
    label: &'static str,
    (ours_name, ours): (&'static str, Factory<'_>),
    (raw_name, raw): (&'static str, Factory<'_>),
    throughput: bool,
    goal: &'static str,
) {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    // `cargo bench --bench store -- search` runs only the comparisons whose names contain
    // "search", as criterion filters its own runs.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    if filter.is_some_and(|f| ![label, ours_name, raw_name].iter().any(|n| n.contains(&f))) {
        return;
    }
    if measuring() {
        paired(label, ours, raw, throughput, goal);
    }
    for (name, factory) in [(ours_name, ours), (raw_name, raw)] {
        if first_time(name) {
            let mut op = factory();
            c.bench_function(name, |b| b.iter_custom(&mut op));
        }
    }
}

/// Whether this is `cargo bench` measuring, rather than `cargo test` checking that each
/// benchmark runs (criterion then runs each operation once, and nothing is paired).
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// The paired measurement of [`compare`], its result added to [`RESULTS`].
fn paired(
    label: &'static str,
    ours: Factory<'_>,
    raw: Factory<'_>,
    throughput: bool,
    goal: &'static str,
) {
    let flush = || {
        let _ = std::process::Command::new("sync").status();
    };
    let (mut ours_total, mut raw_total, mut count) = (Duration::ZERO, Duration::ZERO, 0u64);
    for ours_leads in [true, false] {
        let (mut ours_op, mut raw_op) = (ours(), raw());
        let probe = ours_op(1).max(Duration::from_micros(1));
        let block =
            (Duration::from_millis(100).as_nanos() / probe.as_nanos()).clamp(1, 10_000) as u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(HALF_SECONDS) {
            flush();
            let (o, r) = if ours_leads {
                let o = ours_op(block);
                flush();
                (o, raw_op(block))
            } else {
                let r = raw_op(block);
                flush();
                (ours_op(block), r)
            };
            ours_total += o;
            raw_total += r;
            count += block;
        }
    }
    let per = |total: Duration| total.as_secs_f64() / count as f64;
    RESULTS.lock().unwrap().push(Comparison {
        label,
        ours: per(ours_total),
        raw: per(raw_total),
        throughput,
        goal,
    });
}

/// Benchmarks criterion has already run (an operation may take part in two comparisons).
pub static BENCHED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Whether criterion has yet to run `name` (and records that it now will).
pub fn first_time(name: &'static str) -> bool {
    let mut benched = BENCHED.lock().unwrap();
    let first = !benched.contains(&name);
    benched.push(name);
    first
}

// ---- fixtures ----------------------------------------------------------------------------

pub fn t0() -> DateTime<Utc> {
    "2026-11-24T08:00:00Z".parse().unwrap()
}

pub fn tenant(n: u128) -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0x8b5a_0c4e_2f7d_4e4b_9a51_0000_0000_0000 | n,
    ))
    .unwrap()
}

pub fn megan() -> ApproverId {
    ApproverId::new("megan@contoso.com").unwrap()
}

pub fn alex() -> EngineerId {
    EngineerId::new("alex@support.vendor.example").unwrap()
}

pub fn policy(tenant: TenantId) -> TenantPolicy {
    TenantPolicy::new(
        tenant,
        vec![DesignatedApprover::new(
            megan(),
            EmailAddress::new("megan@contoso.com").unwrap(),
        )],
    )
    .unwrap()
}

/// The Contoso draft for `tenant`, its id taken at `now`.
pub fn draft_of(tenant: TenantId, now: DateTime<Utc>) -> Draft {
    Draft {
        id: RequestId::new(now),
        tenant,
        service_request: ServiceRequestNumber::new("2611240010001234").unwrap(),
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(4).unwrap(),
        justification: Justification::new("CFO mailbox stopped syncing after migration").unwrap(),
        engineer: alex(),
    }
}

/// A draft in memory (for the raw baselines' sample rows).
pub fn draft(tenant: TenantId, now: DateTime<Utc>) -> Request<Drafted> {
    Request::draft(draft_of(tenant, now), &policy(tenant), now).unwrap()
}

/// A request drafted in `store` at `now`; the tenant's policy is set first if it has none.
pub async fn drafted_in<B: Backend>(
    store: &Store<B>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> RequestId {
    if store.policy(tenant).await.unwrap().is_none() {
        let admin = TenantAdminId::new("adele@contoso.com").unwrap();
        // A policy change is at the store's clock: the benchmark's instants are fixed ones.
        let at = t0() - chrono::TimeDelta::days(1);
        store.set_clock(ManualClock::new(at));
        store.set_policy(&admin, policy(tenant), at).await.unwrap();
        store.use_own_clock();
    }
    store.draft(draft_of(tenant, now), now).await.unwrap().id()
}

/// A request drafted, approved, notified and granted in `store` at `now`.
pub async fn granted_in<B: Backend>(
    store: &Store<B>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> RequestId {
    let id = drafted_in(store, tenant, now).await;
    store.approve(id, &sam(), now).await.unwrap();
    store.notify(id, now).await.unwrap();
    match store.grant(id, &megan(), now).await.unwrap() {
        GrantOutcome::Granted(_) => id,
        GrantOutcome::AwaitingApprovals { .. } => panic!("one approval is enough"),
        GrantOutcome::Expired(_) => panic!("granted at once"),
    }
}

/// Walks a request of `tenant` from draft to close (draft, approve, notify, grant, one batch
/// of actions, close) with step k taken on `nodes[k % nodes.len()]`, as a platform that routes
/// each call to a node of its own choosing would; returns the time the six steps took.
pub async fn walk<B: Backend>(
    nodes: &[Store<B>],
    tenant: TenantId,
    clock: &mut Ticking,
) -> Duration {
    if nodes[0].policy(tenant).await.unwrap().is_none() {
        drafted_in(&nodes[0], tenant, clock.next()).await;
    }
    let node = |k: usize| &nodes[k % nodes.len()];
    let now = clock.next();
    let start = Instant::now();
    let id = node(0)
        .draft(draft_of(tenant, now), now)
        .await
        .unwrap()
        .id();
    node(1).approve(id, &sam(), now).await.unwrap();
    node(2).notify(id, now).await.unwrap();
    let GrantOutcome::Granted(_) = node(3).grant(id, &megan(), now).await.unwrap() else {
        panic!("granted at once")
    };
    let report = node(4)
        .record_actions(id, &alex(), [action(1), action(2)], now)
        .await
        .unwrap();
    assert_eq!(report, AppendReport::Recorded { count: 2 });
    node(5).close(id, &alex(), now).await.unwrap();
    start.elapsed()
}

/// The runtime an operation drives its store from: tokio's multi-threaded scheduler on the
/// machine's two cores, as a service would.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn granted(tenant: TenantId, now: DateTime<Utc>) -> Request<Granted> {
    let approved = draft(tenant, now)
        .approve(&SupportManagerId::new("sam").unwrap(), now)
        .unwrap();
    let (pending, _notification) = approved.notify(&policy(tenant), now).unwrap();
    match pending.grant(&megan(), &policy(tenant), now).unwrap() {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::AwaitingApprovals { .. } => panic!("one approval is enough"),
        GrantOutcome::Expired(_) => panic!("granted at once"),
    }
}

pub fn action(n: u64) -> EngineerAction {
    EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new("Get-MailboxFolderStatistics").unwrap(),
        Target::new(format!("mailbox {n}")).unwrap(),
    )
}

pub fn act(granted: Request<Granted>, n: u64, now: DateTime<Utc>) -> Request<Granted> {
    match granted.record_action(&alex(), action(n), now) {
        Ok(ActionOutcome::Recorded(granted)) => granted,
        _ => panic!("inside the window"),
    }
}

/// A clock for the benchmarks that moves one millisecond per reading, as a busy service's
/// would: request ids (UUID v7) and instants then arrive in order, as they do in production.
pub struct Ticking(pub DateTime<Utc>);

impl Ticking {
    pub fn next(&mut self) -> DateTime<Utc> {
        self.0 += TimeDelta::milliseconds(1);
        self.0
    }
}

pub fn sam() -> SupportManagerId {
    SupportManagerId::new("sam").unwrap()
}

/// Criterion as every benchmark configures it.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args()
}

/// Prints the paired ratios measured by [`compare`] as a Markdown table.
pub fn print_summary() {
    if RESULTS.lock().unwrap().is_empty() {
        return;
    }
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
