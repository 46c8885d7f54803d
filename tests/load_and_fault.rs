//! Load and faults on two nodes: client tasks walk requests through every ending over two store
//! handles of one database, each call routed to either node at random, as a platform's load
//! balancer would, and retried with its idempotency key when the store says the database is
//! unavailable or the outcome unknown. Midway the database misbehaves: on PostgreSQL every
//! backend of the database is terminated, then the server is restarted; on SQLite each node is
//! restarted (its handle dropped and opened again). Afterwards:
//!
//! - every acknowledged step is stored, exactly as the store handed it back;
//! - no step was taken twice: each request has exactly the engineer actions acknowledged;
//! - no step is half-applied: every request's row agrees with its records, every outbox row has
//!   its record, and every request loads (replay checks the rest);
//! - every chain verifies;
//! - every revocation of a granted request took effect;
//!
//! and the counts are printed (RELIABILITY.md). `cargo test --test load_and_fault` runs a short
//! load; `LOCKBOX_LOAD_REQUESTS=50 cargo test --release --test load_and_fault -- --nocapture`
//! has each task walk 50 requests. Its own test binary, since it restarts the PostgreSQL server:
//! cargo runs test binaries one after another.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(async_fn_in_trait)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use customer_lockbox::*;

/// Client tasks.
const TASKS: usize = 6;
/// Requests each task walks by default; `LOCKBOX_LOAD_REQUESTS` sets another number.
const DEFAULT_REQUESTS: usize = 5;
/// How many times a client retries one call before the test fails it.
const RETRIES: usize = 400;

/// A database two nodes share, and the faults it can suffer.
trait Deployment: Sized + Send + Sync + 'static {
    type Backend: Backend;
    /// A new node: a store handle of its own.
    async fn node(&self) -> Store<Self::Backend>;
    /// The `n`th fault (0, then 1), on `fleet`.
    async fn fault(&self, n: usize, fleet: &Fleet<Self::Backend>) -> &'static str;
    /// Requests whose row disagrees with their records, plus records or outbox rows without
    /// their request or record.
    async fn half_applied(&self) -> i64;
}

/// The two nodes, each replaceable (a restarted node is a new handle).
struct Fleet<B: Backend> {
    nodes: [RwLock<Store<B>>; 2],
}

impl<B: Backend> Fleet<B> {
    fn node(&self, n: usize) -> Store<B> {
        self.nodes[n % 2].read().unwrap().clone()
    }

    fn restart(&self, n: usize, node: Store<B>) {
        *self.nodes[n % 2].write().unwrap() = node;
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Each acknowledged step that returned a request: the request and its last record then.
    steps: Vec<(RequestId, AuditRecord)>,
    /// Engineer actions acknowledged, by request.
    actions: BTreeMap<RequestId, usize>,
    /// Requests whose customer revoked access while it was granted (acknowledged).
    revoked: Vec<RequestId>,
    /// Every request drafted.
    requests: Vec<RequestId>,
    /// Calls that failed and were retried, by the class of their error.
    retried: BTreeMap<&'static str, usize>,
    /// Calls that failed and could not be retried: must stay empty.
    failed: Vec<String>,
}

/// A small random source for the routing and the workflows (xorshift).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// Makes a call on a random node until the store acknowledges it, retrying what the store
/// says may be retried (with the call's idempotency key, so nothing is taken twice): the
/// outcome, or `None` when the call failed for good (noted for the test).
macro_rules! call {
    ($client:expr, $what:expr, |$node:ident| $call:expr) => {{
        let mut outcome = None;
        for attempt in 0..RETRIES {
            let $node = $client.pick();
            match $call.await {
                Ok(done) => {
                    $client.acknowledged();
                    outcome = Some(done);
                    break;
                }
                Err(err) => {
                    if !$client.retry($what, attempt, err).await {
                        break;
                    }
                }
            }
        }
        outcome
    }};
}

/// One client: walks its requests, each call on a node picked at random and retried with its
/// key while the store says it may be.
struct Client<D: Deployment> {
    fleet: Arc<Fleet<D::Backend>>,
    seen: Arc<Mutex<Seen>>,
    acknowledged: Arc<AtomicUsize>,
    dice: Dice,
    task: usize,
}

impl<D: Deployment> Client<D> {
    /// A node picked at random, as a load balancer would.
    fn pick(&mut self) -> Store<D::Backend> {
        self.fleet.node(self.dice.roll(2) as usize)
    }

    /// Notes a call the store acknowledged.
    fn acknowledged(&self) {
        self.acknowledged.fetch_add(1, Ordering::SeqCst);
    }

    /// Handles a failed attempt of call `what`: whether to try again (after a pause), as the
    /// store says it may be; otherwise the failure is noted for the test to report.
    async fn retry(&mut self, what: &str, attempt: usize, err: StoreError) -> bool {
        if (err.is_retryable() || err.is_outcome_unknown()) && attempt + 1 < RETRIES {
            let class = err.class().as_str();
            *self.seen.lock().unwrap().retried.entry(class).or_default() += 1;
            let pause = (10 * (attempt as u64 + 1)).min(200);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            return true;
        }
        self.seen.lock().unwrap().failed.push(format!(
            "task {} {what} (attempt {attempt}): {err}",
            self.task
        ));
        false
    }

    fn acknowledge<S: State>(&self, request: &Request<S>) {
        let last = request.audit_trail().last().cloned().unwrap();
        self.seen.lock().unwrap().steps.push((request.id(), last));
    }

    /// Walks request `n` of this task from draft to one of its endings.
    async fn walk(&mut self, n: usize) {
        let tenant = if n.is_multiple_of(2) {
            contoso()
        } else {
            fabrikam()
        };
        let base: DateTime<Utc> = t0() + seconds((self.task * 10_000 + n) as i64);
        let id = RequestId::new(base);
        let key = |step: &str| IdempotencyKey::new(format!("{id}-{step}")).unwrap();
        let lee = ApproverId::new("lee@contoso.com").unwrap();
        let draft = Draft {
            id,
            tenant,
            ..draft()
        };
        let ending = self.dice.roll(4);
        let Some(drafted) = call!(self, "draft", |node| node
            .draft(draft.clone(), base)
            .idempotency_key(key("draft")))
        else {
            return;
        };
        self.acknowledge(&drafted);
        self.seen.lock().unwrap().requests.push(id);
        let Some(approved) = call!(self, "approve", |node| node
            .approve(id, &sam(), base + minutes(1))
            .idempotency_key(key("approve")))
        else {
            return;
        };
        self.acknowledge(&approved);
        let Some(pending) = call!(self, "notify", |node| node
            .notify(id, base + minutes(2))
            .idempotency_key(key("notify")))
        else {
            return;
        };
        self.acknowledge(&pending);
        if ending == 0 {
            let Some(denied) = call!(self, "deny", |node| node
                .deny(id, &lee, base + minutes(3))
                .idempotency_key(key("deny")))
            else {
                return;
            };
            let DenyOutcome::Denied(denied) = denied else {
                panic!("denied in time")
            };
            self.acknowledge(&denied);
            return;
        }
        let Some(granted) = call!(self, "grant", |node| node
            .grant(id, &megan(), base + minutes(3))
            .idempotency_key(key("grant")))
        else {
            return;
        };
        let GrantOutcome::Granted(granted) = granted else {
            panic!("granted in time")
        };
        self.acknowledge(&granted);
        for batch in 0..1 + self.dice.roll(3) as i64 {
            let actions = vec![mailbox_read(); 1 + batch as usize];
            let count = actions.len();
            let Some(report) = call!(self, "record actions", |node| node
                .record_actions(id, &alex(), actions.clone(), base + minutes(4 + batch))
                .idempotency_key(key(&format!("actions-{batch}"))))
            else {
                return;
            };
            assert_eq!(report, AppendReport::Recorded { count });
            *self.seen.lock().unwrap().actions.entry(id).or_default() += count;
        }
        // The customer revokes, or the engineer closes.
        let closed = if ending == 1 {
            let revoked = call!(self, "revoke", |node| node
                .revoke(id, &lee, base + minutes(10))
                .idempotency_key(key("revoke")));
            if revoked.is_some() {
                self.seen.lock().unwrap().revoked.push(id);
            }
            revoked
        } else {
            call!(self, "close", |node| node
                .close(id, &alex(), base + minutes(10))
                .idempotency_key(key("close")))
        };
        if let Some(closed) = closed {
            self.acknowledge(&closed);
        }
    }
}

/// Runs the load with faults on `deployment`, checks everything, and prints the figures.
async fn run<D: Deployment>(deployment: D, name: &str) {
    let deployment = Arc::new(deployment);
    let first = deployment.node().await;
    first.migrate().await.unwrap();
    contoso_policy_in(&first).await;
    fabrikam_policy_in(&first).await;
    let fleet = Arc::new(Fleet {
        nodes: [RwLock::new(first), RwLock::new(deployment.node().await)],
    });
    let requests: usize = std::env::var("LOCKBOX_LOAD_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut clients = Vec::new();
    for task in 0..TASKS {
        let mut client = Client::<D> {
            fleet: fleet.clone(),
            seen: seen.clone(),
            acknowledged: acknowledged.clone(),
            dice: Dice(0x9E37_79B9_7F4A_7C15 ^ (task as u64 + 1)),
            task,
        };
        clients.push(tokio::spawn(async move {
            for n in 0..requests {
                client.walk(n).await;
            }
        }));
    }
    // The faults, at a third and at two thirds of the expected steps, while the clients run.
    let expected = TASKS * requests * 8;
    let mut faults = Vec::new();
    for (n, share) in [(0, 3), (1, 3 * 2)] {
        while acknowledged.load(Ordering::SeqCst) < expected * share / 9
            && !clients.iter().all(|client| client.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        faults.push(deployment.fault(n, &fleet).await);
    }
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = started.elapsed();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.failed.is_empty(), "calls failed: {:#?}", seen.failed);
    let checker = deployment.node().await;
    // Every acknowledged step is stored, as handed back; and every request loads.
    let mut lost = 0;
    let mut loaded = BTreeMap::new();
    for id in &seen.requests {
        loaded.insert(*id, checker.load(*id).await.unwrap());
    }
    for (id, record) in &seen.steps {
        if !loaded[id].audit_trail().contains(record) {
            lost += 1;
        }
    }
    // Nothing twice: the actions stored are the actions acknowledged.
    let mut twice = 0;
    for (id, request) in &loaded {
        let stored = request
            .audit_trail()
            .iter()
            .filter(|r| r.event().kind() == AuditEventKind::EngineerActed)
            .count();
        if stored != seen.actions.get(id).copied().unwrap_or(0) {
            twice += 1;
        }
    }
    let half_applied = deployment.half_applied().await;
    let revocations_in_effect = seen
        .revoked
        .iter()
        .filter(|id| {
            matches!(&loaded[*id], AnyRequest::Closed(closed)
                if closed.reason() == ClosureReason::RevokedByCustomer)
        })
        .count();
    let mut intact = true;
    for tenant in [contoso(), fabrikam()] {
        intact &= checker.verify_chain(tenant).await.unwrap().is_intact();
    }
    let retried: usize = seen.retried.values().sum();
    println!(
        "{name}: {} tasks over two nodes, {} requests, {} acknowledged steps in {elapsed:.1?} \
         with faults {faults:?}; {retried} calls retried {:?}; lost {lost}, taken twice {twice}, \
         half-applied {half_applied}; revocations of granted requests {} acknowledged, {} in \
         effect; chains {}",
        TASKS,
        seen.requests.len(),
        acknowledged.load(Ordering::SeqCst),
        seen.retried,
        seen.revoked.len(),
        revocations_in_effect,
        if intact { "intact" } else { "BROKEN" },
    );
    assert_eq!(faults.len(), 2, "both faults landed midway");
    assert_eq!(lost, 0, "acknowledged steps missing");
    assert_eq!(twice, 0, "steps taken twice");
    assert_eq!(half_applied, 0, "half-applied steps");
    assert_eq!(revocations_in_effect, seen.revoked.len());
    assert!(!seen.revoked.is_empty(), "the load revoked some access");
    assert!(intact, "a chain is broken");
    assert_eq!(loaded.len(), TASKS * requests, "every request was drafted");
}

/// The SQL both stores run for half-applied steps.
const HALF_APPLIED: &str = "SELECT \
     (SELECT count(*) FROM requests r \
      WHERE r.revision <> (SELECT count(*) FROM audit a WHERE a.request_id = r.id)) \
   + (SELECT count(*) FROM audit a WHERE NOT EXISTS \
      (SELECT 1 FROM requests r WHERE r.id = a.request_id)) \
   + (SELECT count(*) FROM outbox o WHERE NOT EXISTS \
      (SELECT 1 FROM audit a WHERE a.request_id = o.request_id AND a.sequence = o.sequence))";

struct SqliteFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Deployment for SqliteFile {
    type Backend = customer_lockbox::Sqlite;

    async fn node(&self) -> SqliteStore {
        SqliteStore::open(&self.path).await.unwrap()
    }

    async fn fault(&self, n: usize, fleet: &Fleet<Self::Backend>) -> &'static str {
        fleet.restart(n, self.node().await);
        ["node A restarted", "node B restarted"][n % 2]
    }

    async fn half_applied(&self) -> i64 {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .query_row(HALF_APPLIED, [], |row| row.get(0))
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_nodes_under_load_and_restarts_lose_nothing() {
    let (dir, path) = store_file();
    run(SqliteFile { _dir: dir, path }, "sqlite").await;
}

#[cfg(feature = "postgres")]
struct PostgresServer {
    database: pg::Database,
}

#[cfg(feature = "postgres")]
impl Deployment for PostgresServer {
    type Backend = customer_lockbox::Postgres;

    async fn node(&self) -> PostgresStore {
        PostgresStore::connect(&self.database).await.unwrap()
    }

    async fn fault(&self, n: usize, _fleet: &Fleet<Self::Backend>) -> &'static str {
        if n == 0 {
            pg::client(&pg::server())
                .await
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&database_name(&self.database)],
                )
                .await
                .unwrap();
            "every backend terminated"
        } else {
            let script = std::env::var("LOCKBOX_POSTGRES_RESTART").unwrap_or_else(|_| {
                panic!(
                    "LOCKBOX_POSTGRES_RESTART is not set: run `bash .ci/test`, which starts a \
                     throwaway PostgreSQL server and writes the script that restarts it"
                )
            });
            let status =
                tokio::task::spawn_blocking(move || std::process::Command::new(&script).status())
                    .await
                    .unwrap()
                    .unwrap();
            assert!(status.success(), "the restart script failed: {status}");
            "server restarted"
        }
    }

    async fn half_applied(&self) -> i64 {
        pg::client(&self.database)
            .await
            .query_one(HALF_APPLIED, &[])
            .await
            .unwrap()
            .get(0)
    }
}

/// The database name in libpq parameters.
#[cfg(feature = "postgres")]
fn database_name(params: &str) -> String {
    params
        .split_whitespace()
        .filter_map(|part| part.strip_prefix("dbname="))
        .next_back()
        .unwrap()
        .to_owned()
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_under_load_terminations_and_a_restart_lose_nothing() {
    let database = pg::Database::fresh().await;
    run(PostgresServer { database }, "postgres").await;
}
