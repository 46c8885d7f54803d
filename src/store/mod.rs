//! Persistence: one store, [`Store<B>`], that executes the workflow's steps and keeps requests,
//! their audit trails and their notifications in a database, written once over a small
//! [`Backend`] of transaction-scoped primitives: [`Sqlite`] (embedded, feature `sqlite`, on by
//! default) or [`Postgres`] (many nodes, feature `postgres`).

/// Serde for an opaque value through its text form (`Display` and `FromStr`): a cursor a client
/// hands back as it got it.
macro_rules! serde_as_text {
    ($type:ty) => {
        /// Serialized as its text form.
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        /// Read from its text form, as a client hands it back.
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

mod append;
mod backend;
mod chain;
mod checkpoints;
mod columns;
mod decisions;
mod error;
mod keys;
mod log;
mod queries;
mod reports;
mod requests;
mod select;

mod outbox;
mod policies;
mod reads;
mod steps;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use backend::Backend;
pub use error::{ErrorClass, StoreError};
pub use reads::Paged;
pub use reports::{
    AppendReport, DeliveryOutcome, DeliveryReport, MessageReport, OutboxCursor, OutboxEntry,
    OutboxPage, OutboxQuery, OutboxStatus, OutboxView, RefusedAction, RequestsVerdict, SweepReport,
};
pub use requests::{RequestCursor, RequestPage, RequestQuery, RequestSummary};

#[cfg(feature = "postgres")]
pub use postgres::{PoolStatus, Postgres, PostgresBuilder};
#[cfg(feature = "sqlite")]
pub use sqlite::Sqlite;

pub use checkpoints::StoredCheckpoint;
pub use handle::{RequestCache, Store};
pub use keys::{StepCall, StepFuture};
pub use reads::Explain;

/// The embedded store: [`Store`] on [`Sqlite`].
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub type SqliteStore = Store<Sqlite>;

/// The store for many nodes: [`Store`] on [`Postgres`].
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub type PostgresStore = Store<Postgres>;

mod handle {
    use std::collections::HashMap;
    use std::fmt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};

    use super::StoreError;
    use super::backend::Backend;
    use crate::clock::Clock;
    use crate::policy::PolicyHistory;
    use crate::request::AnyRequest;
    use crate::values::{RequestId, TenantId};

    /// How many audit records one generation of the cache holds (a few hundred bytes each):
    /// two generations keep the requests stepped on most recently, about 40 MB at most.
    const GENERATION_RECORDS: usize = 65_536;

    /// The requests a store saved last, by id, in two generations: a request kept goes to the
    /// young one; when that is full it becomes the old one, and the previous old one is
    /// forgotten. A request stepped on within the last generation is always found, whatever
    /// the size of the others, and memory stays bounded by audit records, not requests.
    #[derive(Default)]
    struct Cache {
        young: HashMap<RequestId, AnyRequest>,
        young_records: usize,
        old: HashMap<RequestId, AnyRequest>,
        /// Off: nothing is kept.
        off: bool,
    }

    impl Cache {
        fn take(&mut self, id: RequestId) -> Option<AnyRequest> {
            match self.young.remove(&id) {
                Some(request) => {
                    self.young_records -= request.saved_records().min(self.young_records);
                    Some(request)
                }
                None => self.old.remove(&id),
            }
        }

        /// Keeps `request`, unless a newer copy of it (more records saved) is held already:
        /// two tasks of one node may finish steps on one request in either order, and the one
        /// that loses the race must not put back the request as it was before the winner's step.
        fn keep(&mut self, request: AnyRequest) {
            if self.off {
                return;
            }
            let id = request.id();
            let newer_held = [&self.young, &self.old].into_iter().any(|generation| {
                generation
                    .get(&id)
                    .is_some_and(|held| held.saved_records() > request.saved_records())
            });
            if newer_held {
                return;
            }
            // An older copy left in the old generation would be found once the young one is
            // taken.
            self.old.remove(&id);
            if self.young_records >= GENERATION_RECORDS {
                self.old = std::mem::take(&mut self.young);
                self.young_records = 0;
            }
            self.young_records += request.saved_records();
            if let Some(replaced) = self.young.insert(id, request) {
                self.young_records -= replaced.saved_records().min(self.young_records);
            }
        }
    }

    /// Whether a store keeps the requests it wrote in memory: see
    /// [`Store::set_request_cache`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum RequestCache {
        /// Keep the requests written last, up to two generations of 65,536 audit records
        /// (about 40 MB).
        #[default]
        On,
        /// Keep nothing: every step loads its request.
        Off,
    }

    /// The store: requests, their audit trails and their notifications, in the database of
    /// backend `B`.
    ///
    /// Cheap to clone: clones share one backend (one pool of connections) and one cache, so a
    /// platform hands a clone to each task or handler.
    ///
    /// - **The store executes steps.** [`Store::grant`] and its siblings load the request (or take
    ///   it from the store's cache), check it is in the state the step needs, apply the typed step
    ///   (the typestate API is the only way a request moves) and save the outcome in one
    ///   transaction, a refusal's record included: a caller that propagates the error with `?`
    ///   loses no evidence. A write that loses a race is retried on the request as it now is.
    /// - **Loads check.** A stored request is replayed through the workflow on every load, its row
    ///   is checked against its trail, and each record against its columns and its own chain link:
    ///   anything the workflow could not have produced, and any record edited after it was written
    ///   without its hash being recomputed, is refused, naming the rule
    ///   ([`StoreError::InvalidRecord`]). An editor who recomputes hashes breaks the links after
    ///   the record instead, which [`Store::verify_chain`] reports.
    /// - **No clock moves a request into the future.** A step stamped further ahead of the store's
    ///   own clock than [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW) is recorded as a refused attempt
    ///   at the store's clock instead; a customer's revocation or denial takes effect there.
    /// - **Async, pooled, shareable.** A store is `Clone + Send + Sync`; every method takes `&self`
    ///   and is `async`. Connecting never writes: [`Store::migrate`] is an explicit call.
    ///
    /// # Errors of every step
    ///
    /// Besides its own (a refusal, a request in another state), every step may fail with:
    ///
    /// - [`StoreError::NotFound`]: no request has the id;
    /// - [`StoreError::Conflict`]: other writers moved the request every time it was tried;
    /// - [`StoreError::ClockAhead`]: `now` is further ahead of the store's clock than
    ///   [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW) (the attempt is recorded as refused, at the
    ///   store's clock, where the request has a trail);
    /// - [`StoreError::InvalidRecord`]: the stored request is one the workflow could not have
    ///   produced;
    /// - [`StoreError::SchemaBehind`] / [`StoreError::NewerSchema`]: the database is not at this
    ///   build's schema ([`Store::migrate`]);
    /// - [`StoreError::ReadOnly`]: the store was opened for reading only;
    /// - [`StoreError::Unavailable`]: the database could not serve for now (nothing was written;
    ///   [`StoreError::is_retryable`]);
    /// - [`StoreError::OutcomeUnknown`]: the connection failed while a write was committing: retry
    ///   with the same idempotency key;
    /// - [`StoreError::Database`]: the database failed otherwise (its error is the `source()`).
    ///
    /// [`StoreError::class`] sorts every error into the few kinds a service answers differently
    /// ([`ErrorClass`](crate::ErrorClass)), with the HTTP status we recommend for each.
    ///
    /// # Tracing
    ///
    /// Every operation is a `tracing` span, and what a service's operators act on is an event. They
    /// carry ids (tenant, request), step names, classes and counts, never a request's free text (its
    /// justification, an action's operation or target), which may hold a customer's data.
    ///
    /// | span | fields |
    /// |---|---|
    /// | `lockbox.step` (each step) | `backend`, `step`, `request`, `tenant`, `revision` (records when read), `retries`, `outcome` (the state reached, `refused`, `wrong state`, `conflict`, `repeated`, `id taken`) |
    /// | `lockbox.sweep` | `backend`, `due` (requests found due); a `lockbox.step` per request |
    /// | `lockbox.deliver` | `backend`, `outcome` (the report's counts) |
    /// | `lockbox.set_policy` | `backend`, `tenant`, `version` |
    /// | `lockbox.load`, `lockbox.summary` | `backend`, `request` (and `revision` for a load) |
    /// | `lockbox.verify` | `backend`, `tenant`, `outcome` (`intact` or `broken`) |
    /// | `lockbox.requests`, `lockbox.search`, `lockbox.outbox_view` | `backend`, `returned` |
    /// | `lockbox.export` | `backend`, `written` |
    /// | `lockbox.open`, `lockbox.migrate`, `lockbox.schema_version`, `lockbox.outbox`, `lockbox.policy`, `lockbox.policy_history`, `lockbox.chain_head`, `lockbox.tenants`, `lockbox.explain` | `backend` (and `request` or `tenant` where there is one) |
    ///
    /// | event | level | fields |
    /// |---|---|---|
    /// | `step refused` | INFO | `request`, `step`, `refusal`, `recorded` |
    /// | `step does not apply to the stored request` | INFO | `request`, `step`, `state` |
    /// | `step repeated with its idempotency key: answered as first taken` | INFO | `request`, `step`, `key` |
    /// | `draft refused`, `draft refused: the id is taken` | INFO | `request`, `tenant`, `error` |
    /// | `another writer moved the request first: retrying ...` | DEBUG | `request`, `step`, `attempt` |
    /// | `the tenant's policy changed while the step was decided: deciding it again` | DEBUG | `request`, `step`, `tenant` |
    /// | `step gave up: other writers moved the request on every attempt` | WARN | `request`, `step`, `attempts` |
    /// | `saving a step failed` | WARN | `request`, `step`, `class`, `error` |
    /// | `no connection from the pool` (PostgreSQL) | WARN | `class`, `error` (with its source) |
    /// | `signing a checkpoint failed` | WARN | `tenant`, `error` |
    pub struct Store<B: Backend> {
        pub(super) inner: Arc<Inner<B>>,
    }

    pub(super) struct Inner<B> {
        pub(super) backend: B,
        /// Whether the schema was found at this build's version.
        pub(super) schema_ready: AtomicBool,
        /// The requests this store last loaded or saved, as saved. A step taken from here is
        /// written only if the stored revision is still the cached one, so a stale entry costs
        /// a reload, never a wrong write.
        cache: Mutex<Cache>,
        /// Tenants' policy histories as last read. A step decided under a cached history is
        /// written only if the tenant's policy is still at its version, so a stale entry costs
        /// a reread, never a step under an old policy.
        pub(super) policies: Mutex<HashMap<TenantId, Arc<PolicyHistory>>>,
        /// The signer of the tenants' checkpoints, if the store was given one.
        pub(super) signer: std::sync::RwLock<Option<Arc<dyn crate::evidence::CheckpointSigner>>>,
        /// The note of the checkpoint this store last kept for each tenant (at most 4,096).
        pub(super) known_checkpoints: Mutex<HashMap<TenantId, String>>,
        /// Whether a signature of the current signer was checked against its public key.
        pub(super) signer_checked: AtomicBool,
        /// The clock instants are checked against, if the store was given one
        /// ([`Store::set_clock`]); else the backend's own.
        pub(super) clock: std::sync::RwLock<Option<Arc<dyn Clock + Send + Sync>>>,
    }

    impl<B: Backend> Clone for Store<B> {
        fn clone(&self) -> Self {
            Store {
                inner: Arc::clone(&self.inner),
            }
        }
    }

    impl<B: Backend> fmt::Debug for Store<B> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Store")
                .field("backend", &B::NAME)
                .finish_non_exhaustive()
        }
    }

    impl<B: Backend> Store<B> {
        /// A store over `backend`, whose schema version is checked first: a newer one is refused
        /// (and left untouched); an older one is reported by every operation until
        /// [`migrate`](Self::migrate) runs.
        #[tracing::instrument(name = "lockbox.open", skip_all, fields(backend = B::NAME))]
        pub(crate) async fn over(backend: B) -> Result<Self, StoreError> {
            let (found, supported) = backend.schema_version().await?;
            if found > supported {
                return Err(StoreError::NewerSchema { found, supported });
            }
            Ok(Store {
                inner: Arc::new(Inner {
                    backend,
                    schema_ready: AtomicBool::new(found == supported),
                    cache: Mutex::new(Cache::default()),
                    policies: Mutex::new(HashMap::new()),
                    signer: std::sync::RwLock::new(None),
                    known_checkpoints: Mutex::new(HashMap::new()),
                    signer_checked: AtomicBool::new(false),
                    clock: std::sync::RwLock::new(None),
                }),
            })
        }

        pub(super) fn backend(&self) -> &B {
            &self.inner.backend
        }

        /// Brings the database's schema up to this build's version, in one transaction per
        /// migration, recording the version reached. Connecting never does this: run it once
        /// per deployment, with a connection that may change the schema.
        ///
        /// # Errors
        ///
        /// [`StoreError::NewerSchema`] for a database written by a newer build (left
        /// untouched); [`StoreError::Database`] when a migration fails (that migration is
        /// rolled back).
        #[tracing::instrument(name = "lockbox.migrate", skip_all, fields(backend = B::NAME))]
        pub async fn migrate(&self) -> Result<(), StoreError> {
            self.backend().migrate().await?;
            self.inner.schema_ready.store(true, Ordering::Release);
            Ok(())
        }

        /// The database's schema version and the one this build needs.
        ///
        /// # Errors
        ///
        /// [`StoreError::Database`] when it cannot be read.
        #[tracing::instrument(name = "lockbox.schema_version", skip_all, fields(backend = B::NAME))]
        pub async fn schema_version(&self) -> Result<(u32, u32), StoreError> {
            self.backend().schema_version().await
        }

        /// Refuses to go on with a database whose schema is not this build's.
        pub(super) async fn ready(&self) -> Result<(), StoreError> {
            if self.inner.schema_ready.load(Ordering::Acquire) {
                return Ok(());
            }
            // Another process may have migrated since this store was opened.
            let (found, supported) = self.backend().schema_version().await?;
            match found.cmp(&supported) {
                std::cmp::Ordering::Equal => {
                    self.inner.schema_ready.store(true, Ordering::Release);
                    Ok(())
                }
                std::cmp::Ordering::Greater => Err(StoreError::NewerSchema { found, supported }),
                std::cmp::Ordering::Less => Err(StoreError::SchemaBehind { found, supported }),
            }
        }

        /// Gives the store the clock it checks instants against, for every clone of it: how
        /// far ahead a step may be stamped, and how far from it a policy change may be (see
        /// [`MAX_CLOCK_SKEW`](crate::MAX_CLOCK_SKEW)). A store's own clock is the system's
        /// (SQLite) or the database server's (PostgreSQL), and that is what a deployment uses;
        /// a test or an example that runs at fixed instants gives its [`ManualClock`], shared
        /// through an `Arc`, so the store's clock is the one it moves.
        ///
        /// ```
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() -> Result<(), customer_lockbox::StoreError> {
        /// use std::sync::Arc;
        /// use customer_lockbox::{Clock, ManualClock, SqliteStore};
        ///
        /// let clock = Arc::new(ManualClock::new("2026-11-24T08:00:00Z".parse().unwrap()));
        /// let store = SqliteStore::open_in_memory().await?;
        /// store.set_clock(clock.clone());
        /// // Steps and policy changes at `clock.now()` are at the store's own time.
        /// # Ok(()) }
        /// ```
        ///
        /// [`ManualClock`]: crate::ManualClock
        pub fn set_clock(&self, clock: impl Clock + Send + Sync + 'static) {
            *self
                .inner
                .clock
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(clock));
        }

        /// Goes back to the store's own clock (the default): the system's, or the database
        /// server's.
        pub fn use_own_clock(&self) {
            *self
                .inner
                .clock
                .write()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }

        /// The instant of the clock the store was given, if it was given one.
        pub(super) fn given_clock(&self) -> Option<chrono::DateTime<chrono::Utc>> {
            self.inner
                .clock
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(|clock| clock.now())
        }

        /// The store's clock: the one it was given, or the backend's own.
        pub(super) async fn store_clock(
            &self,
        ) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
            match self.given_clock() {
                Some(now) => Ok(now),
                None => self.backend().store_clock().await,
            }
        }

        /// The cached request `id`, taken out of the cache.
        pub(super) fn take_cached(&self, id: RequestId) -> Option<AnyRequest> {
            self.cache().take(id)
        }

        /// Keeps `request` (as saved) for the next step on it.
        pub(super) fn keep(&self, request: AnyRequest) {
            self.cache().keep(request);
        }

        /// Turns the request cache on (the default) or off, for every clone of this store.
        ///
        /// With it on, a step on a request this store wrote last takes the request from memory
        /// instead of loading and replaying it. A copy another node has moved on since costs
        /// a write that finds the request moved, then the load it would have taken anyway:
        /// a platform that routes every step of a request to whichever node is free (not to
        /// the node that took the last one) gains nothing from the cache, and may turn it off.
        /// Either way, no answer is given from a cached copy (see DESIGN.md, "What is the
        /// request cache for?"). Turning it off forgets what it holds.
        pub fn set_request_cache(&self, cache: RequestCache) {
            let mut held = self.cache();
            *held = Cache {
                off: cache == RequestCache::Off,
                ..Cache::default()
            };
        }

        fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
            // A panic elsewhere while holding the lock leaves a map that is still a map.
            self.inner
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        }
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used)] // fixtures: a value that fails to build fails the test
    mod tests {
        use super::{Cache, GENERATION_RECORDS};
        use crate::*;

        fn drafted(n: u128) -> AnyRequest {
            let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90").unwrap();
            let megan = ApproverId::new("megan").unwrap();
            let email = EmailAddress::new("megan@contoso.com").unwrap();
            let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan, email)]);
            let now = "2026-11-24T08:00:00Z".parse().unwrap();
            let id = uuid::Uuid::from_u128(0x019a_b5c0_0000_7000_8000_0000_0000_0000 | n);
            let draft = Draft {
                id: RequestId::from_uuid(id).unwrap(),
                tenant,
                service_request: ServiceRequestNumber::new("2611240010001234").unwrap(),
                services: Services::one(Service::ExchangeOnline),
                access_duration: AccessDuration::from_hours(4).unwrap(),
                justification: Justification::new("CFO mailbox").unwrap(),
                engineer: EngineerId::new("alex").unwrap(),
            };
            let mut drafted = Request::draft(draft, &policy.unwrap(), now).unwrap();
            drafted.mark_saved();
            AnyRequest::Drafted(drafted)
        }

        /// The copy of request `n` after its manager's approval (two records saved).
        fn approved(n: u128) -> AnyRequest {
            let AnyRequest::Drafted(drafted) = drafted(n) else {
                unreachable!("a draft")
            };
            let sam = SupportManagerId::new("sam").unwrap();
            let mut approved = drafted
                .approve(&sam, "2026-11-24T08:10:00Z".parse().unwrap())
                .unwrap();
            approved.mark_saved();
            AnyRequest::ManagerApproved(approved)
        }

        #[test]
        fn an_older_copy_never_replaces_a_newer_one() {
            let mut cache = Cache::default();
            cache.keep(approved(1));
            cache.keep(drafted(1));
            let taken = cache.take(drafted(1).id()).unwrap();
            assert_eq!(taken.state(), StateKind::ManagerApproved);
            // Nor when the newer copy has moved to the old generation.
            cache.keep(approved(1));
            for n in 2..=GENERATION_RECORDS as u128 + 1 {
                cache.keep(drafted(n));
            }
            assert!(cache.old.contains_key(&drafted(1).id()));
            cache.keep(drafted(1));
            let taken = cache.take(drafted(1).id()).unwrap();
            assert_eq!(taken.state(), StateKind::ManagerApproved);
            // A newer copy kept after an older one replaces it, in either generation.
            cache.keep(drafted(1));
            cache.keep(approved(1));
            assert_eq!(
                cache.take(drafted(1).id()).unwrap().state(),
                StateKind::ManagerApproved
            );
            assert!(
                cache.take(drafted(1).id()).is_none(),
                "no older copy left behind"
            );
        }

        #[test]
        fn a_request_kept_within_the_last_generation_is_found() {
            let mut cache = Cache::default();
            let first = drafted(0);
            let first_id = first.id();
            cache.keep(first);
            // A whole generation of other requests (one record each) comes after it.
            for n in 1..=GENERATION_RECORDS as u128 {
                cache.keep(drafted(n));
            }
            assert!(cache.take(first_id).is_some(), "in the old generation");
            assert!(cache.take(first_id).is_none(), "taken once");
            // Another generation on, the oldest are forgotten and the newest are kept.
            for n in 1..=GENERATION_RECORDS as u128 {
                cache.keep(drafted(GENERATION_RECORDS as u128 + n));
            }
            assert!(cache.take(drafted(1).id()).is_none());
            assert!(
                cache
                    .take(drafted(2 * GENERATION_RECORDS as u128).id())
                    .is_some()
            );
            assert!(cache.young.len() + cache.old.len() <= 2 * GENERATION_RECORDS);
        }
    }
}
