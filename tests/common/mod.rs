//! Fixed people, ids and instants for the integration tests: the Contoso case.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod insider;
pub mod links;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(feature = "postgres")]
pub mod proxy;
pub mod runs;
pub mod signing;

#[allow(unused_imports)]
pub use links::eager_finder;

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::*;
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    "2026-11-24T08:00:00Z".parse().unwrap()
}

pub fn at(offset: TimeDelta) -> DateTime<Utc> {
    t0() + offset
}

pub fn contoso() -> TenantId {
    TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90").unwrap()
}

pub fn fabrikam() -> TenantId {
    TenantId::parse("3f9e2d1c-7b6a-4c5d-8e9f-0a1b2c3d4e5f").unwrap()
}

pub fn request_id(n: u128) -> RequestId {
    RequestId::from_uuid(Uuid::from_u128(
        0x019a_b5c0_0000_7000_8000_0000_0000_0000 | n,
    ))
    .unwrap()
}

pub fn alex() -> EngineerId {
    EngineerId::new("alex@support.vendor.example").unwrap()
}

pub fn sam() -> SupportManagerId {
    SupportManagerId::new("sam@support.vendor.example").unwrap()
}

pub fn megan() -> ApproverId {
    ApproverId::new("megan@contoso.com").unwrap()
}

pub fn lee() -> ApproverId {
    ApproverId::new("lee@contoso.com").unwrap()
}

pub fn policy() -> TenantPolicy {
    TenantPolicy::new(
        contoso(),
        vec![
            DesignatedApprover::new(megan(), EmailAddress::new("megan@contoso.com").unwrap()),
            DesignatedApprover::new(
                ApproverId::new("lee@contoso.com").unwrap(),
                EmailAddress::new("lee.admin@contoso.com").unwrap(),
            ),
        ],
    )
    .unwrap()
}

/// Contoso's tenant administrator, who sets its policy in the stores.
pub fn adele() -> TenantAdminId {
    TenantAdminId::new("adele@contoso.com").unwrap()
}

pub fn draft() -> Draft {
    Draft {
        id: request_id(1),
        tenant: contoso(),
        service_request: ServiceRequestNumber::new("2611240010001234").unwrap(),
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(4).unwrap(),
        justification: Justification::new("CFO mailbox stopped syncing after migration").unwrap(),
        engineer: alex(),
    }
}

pub fn drafted() -> Request<Drafted> {
    Request::draft(draft(), &policy(), t0()).unwrap()
}

pub fn approved() -> Request<ManagerApproved> {
    drafted()
        .approve(&sam(), at(TimeDelta::minutes(10)))
        .unwrap()
}

/// Notified at t0 + 20 min; the deadline is t0 + 12 h 20 min.
pub fn pending() -> Request<PendingCustomer> {
    pending_under(&policy())
}

/// Notified under `policy` at t0 + 20 min.
pub fn pending_under(policy: &TenantPolicy) -> Request<PendingCustomer> {
    approved()
        .notify(policy, at(TimeDelta::minutes(20)))
        .unwrap()
        .0
}

/// Granted at t0 + 1 h; access ends at t0 + 5 h.
pub fn granted() -> Request<Granted> {
    match pending()
        .grant(&megan(), &policy(), at(TimeDelta::hours(1)))
        .unwrap()
    {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::AwaitingApprovals { .. } => panic!("one approval is enough"),
        GrantOutcome::Expired(_) => panic!("granted before the deadline"),
    }
}

pub fn mailbox_read() -> EngineerAction {
    EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new("Get-MailboxFolderStatistics").unwrap(),
        Target::new("cfo@contoso.com").unwrap(),
    )
}

/// The audit trail's invariants: sequences 1..=n without gaps, instants never decreasing, every
/// record of the request's tenant and id.
pub fn assert_trail_well_formed<S: State>(request: &Request<S>) {
    let trail = request.audit_trail();
    assert!(!trail.is_empty());
    for (i, record) in trail.iter().enumerate() {
        assert_eq!(record.sequence(), i as u64 + 1, "sequence gap at {record}");
        assert_eq!(record.tenant(), request.tenant());
        assert_eq!(record.request(), request.id());
    }
    for pair in trail.windows(2) {
        assert!(
            pair[0].at() <= pair[1].at(),
            "time went backwards: {} then {}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(trail[0].event().kind(), AuditEventKind::Drafted);
}

pub fn kinds<S: State>(request: &Request<S>) -> Vec<AuditEventKind> {
    request
        .audit_trail()
        .iter()
        .map(|r| r.event().kind())
        .collect()
}

pub fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

pub fn seconds(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

pub fn minutes(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

/// A store file in a fresh temporary directory (kept alive by the returned guard).
pub fn store_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lockbox.db");
    (dir, path)
}

/// Drafts the Contoso request under id `n` in `store`, and has it approved (at t0 + 10 min)
/// and notified (at t0 + 20 min; the store writes the approvers' message to its outbox). Returns
/// its id.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn pending_as<B: Backend>(store: &Store<B>, n: u128) -> RequestId {
    contoso_policy_in(store).await;
    let fresh = Draft {
        id: request_id(n),
        ..draft()
    };
    let id = store.draft(fresh, t0()).await.unwrap().id();
    let _approved = store.approve(id, &sam(), at(minutes(10))).await.unwrap();
    let _pending = store.notify(id, at(minutes(20))).await.unwrap();
    id
}

/// A policy of `tenant` that designates nobody: no constructor builds one any more, but a store
/// written by an earlier build may hold one, and it reads back.
pub fn policy_designating_nobody(tenant: TenantId) -> TenantPolicy {
    serde_json::from_value(serde_json::json!({
        "tenant": tenant,
        "approvers": [],
        "max_access_duration": 240,
    }))
    .unwrap()
}

/// Fabrikam's policy: the same two approvers as Contoso's.
pub fn fabrikam_policy() -> TenantPolicy {
    TenantPolicy::new(fabrikam(), policy().approvers().to_vec()).unwrap()
}

/// Gives Contoso its policy (`policy()`, set by Adele a day before t0) in `store`, unless it
/// has one (another task setting it at the same time is as good), and delivers the change's
/// message to the approvers, so that a test starts with nothing in the outbox.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn contoso_policy_in<B: Backend>(store: &Store<B>) {
    policy_in(store, policy()).await;
}

/// Gives Fabrikam its policy, as [`contoso_policy_in`] does Contoso.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn fabrikam_policy_in<B: Backend>(store: &Store<B>) {
    policy_in(store, fabrikam_policy()).await;
}

/// Sets `policy` on `store` as Adele decided at `at`, with the store's clock at `at` for the
/// call (the tests run at fixed 2026-11-24 instants; a policy change must be at the store's
/// clock): the handle's clock is `at` while the change is made, then its own again, so no other
/// task may step on this handle meanwhile (a test that races a change gives it a handle of its
/// own).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn set_policy_at<B: Backend>(
    store: &Store<B>,
    policy: TenantPolicy,
    at: DateTime<Utc>,
) -> Result<PolicyChange, StoreError> {
    store.set_clock(ManualClock::new(at));
    let change = store.set_policy(&adele(), policy, at).await;
    store.use_own_clock();
    change
}

/// Gives `policy`'s tenant that policy, set by its administrator a day before t0, unless it has
/// one, and delivers the change's message.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn policy_in<B: Backend>(store: &Store<B>, policy: TenantPolicy) {
    if store.policy(policy.tenant()).await.unwrap().is_none() {
        match set_policy_at(store, policy, at(hours(-24))).await {
            Ok(change) => {
                let report = store
                    .deliver(
                        &directory(),
                        &mut Recorder::default(),
                        change.at(),
                        TimeDelta::minutes(5),
                    )
                    .await
                    .unwrap();
                assert_eq!(report.sent().len(), 1, "{report}");
            }
            Err(StoreError::PolicyConflict { .. }) => {}
            Err(err) => panic!("setting a policy: {err}"),
        }
    }
}

/// [`pending_as`], then granted by megan at t0 + 1 h (access until t0 + 5 h).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn granted_as<B: Backend>(store: &Store<B>, n: u128) -> RequestId {
    let id = pending_as(store, n).await;
    match store.grant(id, &megan(), at(hours(1))).await.unwrap() {
        GrantOutcome::Granted(_) => id,
        GrantOutcome::AwaitingApprovals { .. } => panic!("one approval is enough"),
        GrantOutcome::Expired(_) => panic!("granted before the deadline"),
    }
}

/// The last audit record of stored request `id`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn last_record<B: Backend>(store: &Store<B>, id: RequestId) -> AuditRecord {
    store
        .load(id)
        .await
        .unwrap()
        .audit_trail()
        .last()
        .cloned()
        .unwrap()
}

/// Edits the JSON form of `record` and loads the result, as an attacker editing a stored record
/// would have it loaded.
pub fn load_edited(
    record: &RequestRecord,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<AnyRequest, RecordError> {
    let mut value = serde_json::to_value(record).unwrap();
    edit(&mut value);
    RequestRecord::from_json(&value.to_string())?.load()
}

/// A file under `tests/fixtures/`.
pub fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The record-format-1 fixture records, by state name (the file's stem), read from JSON.
pub fn record_v1_fixtures() -> Vec<(String, RequestRecord)> {
    fixture_records("record-v1")
}

/// The records of the fixture in `tests/fixtures/<dir>/records`, by state name.
pub fn fixture_records(dir: &str) -> Vec<(String, RequestRecord)> {
    let mut records: Vec<_> = std::fs::read_dir(fixture(&format!("{dir}/records")))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let json = std::fs::read_to_string(&path).unwrap();
            (name, RequestRecord::from_json(&json).unwrap())
        })
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    records
}

/// The engineer's mail address in the fixtures' directory.
pub fn alex_mail() -> EmailAddress {
    EmailAddress::new("alex.mail@support.vendor.example").unwrap()
}

/// A directory with the engineer's address and the Contoso approvers'.
pub fn directory() -> AddressBook {
    AddressBook::new()
        .with_engineer(alex(), alex_mail())
        .with_policy(&policy())
}

/// A sender that records what it is handed, and fails while `failing` is set.
#[derive(Default)]
pub struct Recorder {
    pub sent: Vec<Delivery>,
    pub failing: Option<String>,
}

impl Sender for Recorder {
    type Error = String;

    async fn send(&mut self, delivery: &Delivery) -> Result<(), String> {
        if let Some(reason) = &self.failing {
            return Err(reason.clone());
        }
        self.sent.push(delivery.clone());
        Ok(())
    }
}

/// Every shape of audit query a store must serve through an index, by name; `cursor` is any
/// record's, for the next-page shape.
pub fn search_shapes(cursor: AuditCursor) -> Vec<(&'static str, AuditQuery)> {
    use AuditEventKind as K;
    vec![
        ("everything", AuditQuery::new()),
        ("tenant", AuditQuery::new().tenant(contoso())),
        ("request", AuditQuery::new().request(request_id(1))),
        ("actor", AuditQuery::new().actor(Actor::Engineer(alex()))),
        ("kind", AuditQuery::new().kind(K::EngineerActed)),
        ("kinds", AuditQuery::new().kind(K::Granted).kind(K::Denied)),
        (
            "time range",
            AuditQuery::new().since(t0()).before(at(hours(1))),
        ),
        (
            "tenant and time, next page",
            AuditQuery::new()
                .tenant(contoso())
                .since(t0())
                .after(cursor),
        ),
        (
            "actor and kind",
            AuditQuery::new().actor(Actor::System).kind(K::Expired),
        ),
    ]
}

/// A store made in one runtime (by `make`, with whatever must outlive it: a directory, a
/// database), used from another, and dropped where no runtime runs: nothing panics, and what
/// the first runtime wrote loads in the second (SQLite's connections live on threads of their
/// own; PostgreSQL's, whose tasks died with the first runtime, are found dead on checkout and
/// replaced, and dropping the pool needs no runtime).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[allow(dead_code)]
pub fn a_store_outlives_its_runtime_and_drops_anywhere<B, G, F>(make: impl FnOnce() -> F)
where
    B: Backend,
    F: std::future::Future<Output = (G, Store<B>)>,
{
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (guard, store) = first.block_on(async {
        let (guard, store) = make().await;
        pending_as(&store, 1).await;
        (guard, store)
    });
    drop(first);
    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clone = store.clone();
    second.block_on(async move {
        assert_eq!(
            clone.load(request_id(1)).await.unwrap().state(),
            StateKind::PendingCustomer
        );
    });
    drop(second);
    drop(store);
    drop(guard);
}

/// The delivery report's name for the message of request `request` caused by record `cause`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[allow(dead_code)]
pub fn message(request: RequestId, cause: u64) -> Topic {
    Topic::Request { request, cause }
}
