//! Customer Lockbox: a vendor's support engineer reaches a customer's data only after a support
//! manager and the customer approve, for exactly the approved time, with every step audited.
//!
//! # The workflow
//!
//! 1. An engineer [drafts](Request::draft) a request: tenant, service request number, services,
//!    access duration, justification.
//! 2. A support manager (never the engineer) [approves](Request::approve) or
//!    [rejects](Request::reject) it. The customer sees nothing before approval.
//! 3. The tenant's designated approvers are [notified](Request::notify) by a [`Notification`]
//!    that contains no links.
//! 4. A designated approver [grants](Request::grant) or [denies](Request::deny) it; a tenant
//!    may require two or more distinct approvers to grant (the two-person rule). A request not
//!    granted within the tenant's [`DecisionWindow`] (12 hours unless the tenant set another)
//!    of the notification expires.
//! 5. Once granted, the engineer has access for exactly the requested duration, and each
//!    [action](Request::record_action) is recorded. The engineer [closes](Request::close) the
//!    request after the fix, an approver may [revoke](Request::revoke) access early, and it
//!    ends by itself when the window runs out.
//! 6. Every step, every refused attempt and every action is an [`AuditRecord`] in the request's
//!    [audit trail](Request::audit_trail), searchable through an [`AuditLog`].
//!
//! Each state is a type: [`Request<Drafted>`](Drafted), [`Request<ManagerApproved>`](ManagerApproved),
//! [`Request<PendingCustomer>`](PendingCustomer), [`Request<Granted>`](Granted),
//! [`Request<Closed>`](Closed). Steps consume the request and return the next state, so skipping
//! the manager, granting before the notification, or acting after the close does not compile.
//! Steps that meet a deadline return an outcome enum ([`GrantOutcome`], [`Access`], ...), so the
//! caller must handle "expired" and "access ended". No step reads the system clock: each takes
//! `now`, from a [`Clock`] of the caller's choosing.
//!
//! # Example
//!
//! ```
//! use chrono::TimeDelta;
//! use customer_lockbox::*;
//!
//! let clock = ManualClock::new("2026-11-24T08:00:00Z".parse()?);
//! let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
//! let megan = ApproverId::new("megan")?;
//! let policy = TenantPolicy::new(
//!     tenant,
//!     vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)],
//! )?;
//! let alex = EngineerId::new("alex")?;
//!
//! // 1. The engineer drafts.
//! let drafted = Request::draft(
//!     Draft {
//!         id: RequestId::new(clock.now()),
//!         tenant,
//!         service_request: ServiceRequestNumber::new("2611240010001234")?,
//!         services: Services::one(Service::ExchangeOnline),
//!         access_duration: AccessDuration::from_hours(4)?,
//!         justification: Justification::new("CFO mailbox stopped syncing after migration")?,
//!         engineer: alex.clone(),
//!     },
//!     &policy,
//!     clock.now(),
//! )?;
//!
//! // 2. A support manager approves; 3. the approvers are notified.
//! let approved = drafted.approve(&SupportManagerId::new("sam")?, clock.now())?;
//! let (pending, notification) = approved.notify(&policy, clock.now())?;
//! assert!(notification.body().contains("sign in to your admin center"));
//!
//! // 4. The customer grants, an hour later.
//! clock.advance(TimeDelta::hours(1));
//! let granted = match pending.grant(&megan, &policy, clock.now())? {
//!     GrantOutcome::Granted(granted) => granted,
//!     GrantOutcome::AwaitingApprovals { .. } => unreachable!("Contoso needs one approval"),
//!     GrantOutcome::Expired(_) => unreachable!("granted within 12 hours"),
//! };
//!
//! // 5. The engineer acts, then closes.
//! clock.advance(TimeDelta::minutes(20));
//! let action = EngineerAction::new(
//!     Service::ExchangeOnline,
//!     Operation::new("Get-MailboxFolderStatistics")?,
//!     Target::new("cfo mailbox")?,
//! );
//! let granted = match granted.record_action(&alex, action, clock.now())? {
//!     ActionOutcome::Recorded(granted) => granted,
//!     ActionOutcome::AccessEnded(_) => unreachable!("inside the 4-hour window"),
//! };
//! let closed = granted.close(&alex, clock.now())?;
//! assert_eq!(closed.reason(), ClosureReason::Completed);
//!
//! // 6. Every step is on the record.
//! let mut log = AuditLog::new();
//! log.capture(closed.audit_trail());
//! let actions = log.search(&AuditQuery::new().kind(AuditEventKind::EngineerActed));
//! assert_eq!(actions.records.len(), 1);
//! assert_eq!(closed.audit_trail().len(), 6); // drafted, approved, notified, granted, acted, completed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where things are
//!
//! Every item has one path. The workflow's vocabulary is at the crate root: the request and its
//! states, the validated values (each with private fields and a constructor that checks its
//! rules, so a value that exists is a valid one; deserializing runs the same checks), tenant
//! policies, audit records, refusals, clocks, notifications and their delivery, and the
//! [`Store`]. Two modules hold the verifiable log: [`tlog`], a generic transparency log (Merkle
//! trees, signed notes, checkpoints and proofs in their C2SP forms), and [`evidence`], the
//! lockbox's log built on it (its entries, the evidence messages carry, offline verification,
//! the checkpoint signer).
//!
//! # Persistence: the store
//!
//! A request's stored form is a versioned [`RequestRecord`]; loading it replays the trail
//! through the same steps and refuses anything the workflow could not have produced, returning an
//! [`AnyRequest`] to match back into the typed states.
//!
//! A [`Store`] owns the workflow's steps: one `async` call such as [`Store::grant`] loads the
//! request, applies the typed step and saves the outcome in one transaction, a refused attempt's
//! record included, so a caller that propagates the error with `?` loses no evidence. The
//! handle is `Clone + Send + Sync` and its methods take `&self`, for tokio services. It also
//! lists requests for a platform's pages ([`Store::requests`]), searches and exports the audit
//! records, keeps a SHA-256 hash chain per tenant, expires overdue requests
//! ([`Store::sweep`]) and delivers notifications through an outbox ([`Store::deliver`])
//! to your [`Sender`], addressed through your [`Directory`]. Two backends:
//!
//! - `SqliteStore` (feature `sqlite`, on by default): one file, SQLite bundled, for a single
//!   node; the connections run on their own threads, never on the async workers.
//! - `PostgresStore` (feature `postgres`): several nodes over one database, through a pool
//!   of `tokio-postgres` connections verified on checkout; a platform may hand it its own pool.
//!
//! Opening a store never writes: [`Store::migrate`] is an explicit, once-per-deployment call.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use customer_lockbox::*;
//! # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
//! # let megan = ApproverId::new("megan")?;
//! # let policy = TenantPolicy::new(
//! #     TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?,
//! #     vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)],
//! # )?;
//! # let draft = Draft {
//! #     id: RequestId::new(now),
//! #     tenant: policy.tenant(),
//! #     service_request: ServiceRequestNumber::new("2611240010001234")?,
//! #     services: Services::one(Service::ExchangeOnline),
//! #     access_duration: AccessDuration::from_hours(4)?,
//! #     justification: Justification::new("CFO mailbox stopped syncing after migration")?,
//! #     engineer: EngineerId::new("alex")?,
//! # };
//! let store = SqliteStore::open_in_memory().await?;
//! # store.set_clock(ManualClock::new(now)); // this example runs at a fixed instant
//! // The tenant's administrator sets its policy; every step is decided against it.
//! store.set_policy(&TenantAdminId::new("adele")?, policy, now).await?;
//! let id = store.draft(draft, now).await?.id();
//! store.approve(id, &SupportManagerId::new("sam")?, now).await?;
//! store.notify(id, now).await?; // the approvers' message joins the outbox
//!
//! // An outsider's grant is refused, and the refusal stays on record.
//! let outsider = ApproverId::new("mallory")?;
//! let refused = store.grant(id, &outsider, now).await.unwrap_err();
//! assert!(matches!(refused.refusal(), Some(Refusal::NotDesignatedApprover)));
//! assert_eq!(store.load(id).await?.audit_trail().len(), 4);
//!
//! match store.grant(id, &megan, now).await? {
//!     GrantOutcome::Granted(granted) => println!("access until {}", granted.access_ends_at()),
//!     GrantOutcome::AwaitingApprovals { remaining, .. } => println!("{remaining} more to grant"),
//!     GrantOutcome::Expired(closed) => println!("no access, ever: {}", closed.reason()),
//! }
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
//!
//! # Evidence the customer checks alone
//!
//! Each tenant's records form a Merkle log (RFC 6962) whose checkpoints the store signs with the
//! vendor's key ([`Store::set_checkpoint_signer`] with a [`tlog::SignerKey`], or your own
//! [`evidence::CheckpointSigner`] such as a KMS; `lockbox keygen` makes a key). Every message to
//! the customer carries the latest signed checkpoint, and the post-access report an inclusion
//! proof for each record of the request, in the C2SP text forms. With the vendor's export of the
//! log ([`Store::export_log`]) and the log's public key ([`tlog::VerifierKey`]), the customer's
//! auditor runs [`evidence::verify_export`] (or `lockbox verify-offline`) without a database:
//! it names the first record an insider edited, removed, reordered or inserted. [`tlog`] is
//! the generic transparency log underneath; [`evidence`] is the lockbox's use of it.
//!
//! # Email and the command line
//!
//! - Feature `email`: `Notification::to_messages` builds each notification as RFC 5322
//!   messages (lettre's builder; the platform brings its transport).
//! - Feature `cli`: the `lockbox` command line, for operators and customers' auditors: `demo`
//!   (a store to look at), `keygen`, `requests`, `show`, `audit`, `policy`, `sweep`, `deliver`,
//!   `verify`, `export-log`, `verify-offline`, `proof`, `migrate`. README's "Operating a store"
//!   walks through it.
//!
//! # Examples
//!
//! `cargo run --example NAME`:
//!
//! | example | shows |
//! |---|---|
//! | `contoso` | the whole workflow in memory: the approvers' email and the audit trail |
//! | `expiry`, `revocation` | the other endings: a request nobody answers, access revoked |
//! | `two_person` | two of the designated approvers must grant |
//! | `store` | the workflow through a SQLite store, reopened by a second process |
//! | `outbox` (feature `email`) | delivery through the outbox, a failed attempt retried |
//! | `policy_change` | a policy changed while a request is pending, and the approvers' message |
//! | `verify` | the customer checking the vendor's log offline, and catching a rewrite |
//! | `signed_grant` | a policy with SSH keys: the vendor's forged grant refused, the approver's signed one taken, every signature checked offline from a pinned key |
//! | `axum_service` | a platform's HTTP service over the store |
//!
//! See `DESIGN.md` for why the crate is built this way.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod audit;
mod clock;
mod decision;
mod delivery;
#[cfg(feature = "email")]
mod email;
mod error;
pub mod evidence;
mod notification;
mod policy;
mod record;
mod refusal;
mod request;
mod state;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod store;
pub mod tlog;
mod values;

/// The README's code, compiled as a doctest so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use audit::{
    Actor, AuditCursor, AuditEvent, AuditEventKind, AuditLog, AuditPage, AuditQuery, AuditRecord,
    ChainBreak, ChainHash, ChainHead, ChainVerdict, PageSize, Tampering,
};
pub use clock::{Clock, MAX_CLOCK_SKEW, ManualClock, SystemClock};
pub use decision::{
    Answered, CustomerKey, Decision, DecisionSignature, DecisionStatement, PolicyStatement,
    SIGNATURE_NAMESPACE, SignatureError, SignatureFault, SignedChange, SignedDecision,
    StatementFacts,
};
pub use delivery::{AddressBook, Delivery, Directory, Sender, Topic};
pub use error::Error;
pub use notification::Notification;
pub use policy::{
    DesignatedApprover, PolicyChange, PolicyHistory, PolicyRefusal, TenantAdministrator,
    TenantPolicy,
};
pub use record::{BrokenRule, RECORD_VERSION, RecordError, RequestRecord};
pub use refusal::{Refusal, Refused, Step};
pub use request::{Access, ActionOutcome, DenyOutcome, GrantOutcome, PendingStatus};
pub use request::{AnyRequest, Draft, Request, RequestView};
pub use state::{
    Closed, ClosureReason, Drafted, Granted, ManagerApproved, PendingCustomer, Stage, State,
    StateKind, Withdrawable,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use store::{
    AppendReport, Backend, DeliveryOutcome, DeliveryReport, ErrorClass, Explain, MessageReport,
    OutboxCursor, OutboxEntry, OutboxPage, OutboxQuery, OutboxStatus, OutboxView, Paged,
    RefusedAction, RequestCache, RequestCursor, RequestPage, RequestQuery, RequestSummary,
    RequestsVerdict, StepCall, StepFuture, Store, StoreError, StoredCheckpoint, SweepReport,
};
#[cfg(feature = "postgres")]
pub use store::{PoolStatus, Postgres, PostgresBuilder, PostgresStore};
#[cfg(feature = "sqlite")]
pub use store::{Sqlite, SqliteStore};
pub use values::{
    AccessDuration, ApproverId, DecisionWindow, DeliveryFailure, EmailAddress, EngineerAction,
    EngineerId, IdempotencyKey, Justification, NotificationKind, Operation, Person, RequestId,
    Service, ServiceRequestNumber, Services, SupportManagerId, Target, TenantAdminId, TenantId,
};
/// The PostgreSQL driver and pool the store is built on, at the versions it uses: for a
/// platform's own pool ([`PostgresStore::from_pool`]), a TLS connector, or an error's source.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use {deadpool_postgres, tokio_postgres};
