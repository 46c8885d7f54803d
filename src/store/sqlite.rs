//! The embedded store on SQLite.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};

mod outbox;

use super::rows::{self, AUDIT_COLUMNS, AuditRow, ChainBatch, Columns};

use super::ops::{self, Backend, Claimed};
use super::{AppendReport, DeliveryReport, OutboxEntry, StoreError, SweepReport, instant_text};
use crate::audit::{AuditPage, AuditQuery, AuditRecord, ChainHash, ChainHead, ChainVerdict};
use crate::clock::{Clock, MAX_CLOCK_SKEW, SystemClock};
use crate::delivery::{Directory, Sender};
use crate::record::{BrokenRule, RECORD_VERSION, RecordError};
use crate::request::DeliveryStep;
use crate::request::{AnyRequest, Request};
use crate::state::{State, StateKind};
use crate::values::{EngineerAction, EngineerId, RequestId, TenantId};

/// The schema, one migration per version, applied in order and recorded in SQLite's
/// `user_version`. Never edit or remove one: add the next.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/sqlite/0001_initial.sql")),
    M::up(include_str!("migrations/sqlite/0002_outbox_delivery.sql")),
];

/// The page cache, in KiB as SQLite's negative `cache_size` counts it: 64 MiB, so the hot pages
/// of every audit index stay in memory (the default 2 MiB makes each step re-read them).
const CACHE_KIB: i64 = -64 * 1024;

/// How many WAL frames accumulate before a commit copies them into the database file: 10,000
/// (40 MiB), not SQLite's 1,000. Each step rewrites the same few hot index pages; a longer
/// interval copies each of them once per checkpoint instead of once per thousand frames.
const CHECKPOINT_FRAMES: i64 = 10_000;

/// How long a write waits for another connection's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The embedded store: requests and their audit trails in one SQLite database file.
///
/// - **Durability.** WAL journal with `synchronous = FULL`: a step whose save returned `Ok`
///   survives a crash or power loss (NORMAL would be faster, and can lose the last commits on
///   power loss, which an audit store must not). Foreign keys are enforced.
/// - **Atomic steps.** Each save is one transaction: the request's new state, its new audit
///   records with their hash-chain links, and any outbox entry. All or nothing.
/// - **Optimistic concurrency.** Saving a request that someone else saved since it was loaded
///   fails with [`StoreError::Conflict`] and writes nothing. Any number of connections (each a
///   `SqliteStore`, in one process or several) may share a file.
/// - **Schema.** Migrations are recorded in `user_version`; a database newer than this build is
///   refused before anything is written to it.
///
/// ```
/// use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// # let drafted = Request::draft(draft, &policy, now)?;
/// # let approved = drafted.approve(&SupportManagerId::new("sam")?, now)?;
/// # let (pending, _message) = approved.notify(&policy, now)?;
///
/// let mut store = SqliteStore::open_in_memory()?;
/// let mut pending = pending;
/// store.save(&mut pending)?;
/// match store.load(pending.id())? {
///     AnyRequest::PendingCustomer(loaded) => assert_eq!(loaded.decision_deadline(), pending.decision_deadline()),
///     other => panic!("stored as pending, loaded as {}", other.state()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

fn db<E: std::error::Error + Send + Sync + 'static>(
    context: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |err| StoreError::database(context)(Box::new(err))
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`, and brings its schema up to
    /// date.
    ///
    /// # Errors
    ///
    /// [`StoreError::NewerSchema`] for a database written by a newer build (left untouched);
    /// [`StoreError::Database`] when the file cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(db("opening the database file"))?;
        Self::prepare(conn)
    }

    /// A store in memory, gone when dropped: for tests and examples.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(db("opening an in-memory database"))?;
        Self::prepare(conn)
    }

    fn prepare(mut conn: Connection) -> Result<Self, StoreError> {
        // Read the version before anything writes: a newer database must stay untouched (even
        // switching the journal mode would rewrite its header).
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(db("reading the schema version"))?;
        if found > MIGRATIONS.len() as i64 {
            return Err(StoreError::NewerSchema {
                found,
                supported: MIGRATIONS.len(),
            });
        }
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db("setting the busy timeout"))?;
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(db("switching to the WAL journal"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db("setting synchronous = FULL"))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(db("enabling foreign keys"))?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)
            .map_err(db("sizing the page cache"))?;
        conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_FRAMES)
            .map_err(db("setting the checkpoint interval"))?;
        Migrations::from_slice(MIGRATIONS)
            .to_latest(&mut conn)
            .map_err(db("migrating the schema"))?;
        Ok(SqliteStore { conn })
    }

    /// The schema version this build writes.
    pub fn schema_version() -> usize {
        MIGRATIONS.len()
    }

    /// Saves the request's [unsaved records](Request::unsaved_records) and its new state, in
    /// one transaction, with the notifications those steps cause written to the outbox (see
    /// [`deliver`](Self::deliver)): a notification is sent if and only if its step is stored. A
    /// new request (nothing saved yet) is inserted.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when someone else saved the request since it was loaded (or a
    /// new request's id is taken); nothing is written. [`StoreError::SaveRefused`] when the
    /// store would refuse to load the result (the trail breaks a rule, or the records the
    /// request counts as saved are not the stored ones); nothing is written.
    /// [`StoreError::ClockAhead`] when a step is stamped more than
    /// [`MAX_CLOCK_SKEW`] ahead of the system clock: the steps were recorded as refused
    /// attempts at the system clock instead (a customer's revocation or denial among them took
    /// effect there), unless the request is new. [`StoreError::NotFound`] when a loaded request
    /// is no longer stored. [`StoreError::Database`] when the write fails.
    pub fn save<S: State>(&mut self, request: &mut Request<S>) -> Result<(), StoreError> {
        ops::save(self, request)
    }

    /// Loads a request, checked by replaying its trail.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Refused`] when the stored request breaks a
    /// workflow rule or its rows disagree with its records (naming the record and the rule);
    /// [`StoreError::Database`] when the read fails.
    pub fn load(&mut self, id: RequestId) -> Result<AnyRequest, StoreError> {
        self.load_request(id)
    }

    /// The notifications in the outbox for `request`, in the order of the steps that caused
    /// them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] when a row holds a value the store never writes;
    /// [`StoreError::Database`] when the read fails.
    pub fn outbox(&mut self, request: RequestId) -> Result<Vec<OutboxEntry>, StoreError> {
        outbox::entries(&self.conn, request)
    }

    /// Hands every notification due at `now` to `sender`, addressed through `directory`, and
    /// records each attempt in the request's audit trail.
    ///
    /// - **Claims and leases.** Messages are claimed in a write transaction and held for
    ///   `lease`: no other delivery run (another connection or process) is handed a message
    ///   while an attempt holds it. An attempt that crashes is retried once its lease runs out,
    ///   so a message can be sent twice if a crash falls between the transport accepting it and
    ///   the outcome being recorded: [`Delivery::key`](crate::Delivery::key) lets a transport
    ///   deduplicate.
    /// - **Outcomes.** Accepted: marked sent, never handed out again. Failed: kept, with the
    ///   attempt count and the error, for another attempt once `lease` has passed again. A
    ///   decision message for a request that no longer awaits a decision is dropped unsent.
    ///   Each outcome is an audit record ([`AuditEvent::NotificationSent`],
    ///   [`AuditEvent::DeliveryFailed`], [`AuditEvent::NotificationDropped`]), written in one
    ///   transaction with the outbox row. A request that time has moved on (an expiry, the end
    ///   of access) is first moved on, as the sweeper would.
    /// - **Checked messages.** Each message is rendered again from the request's verified trail;
    ///   a stored message that differs is refused unsent.
    ///
    /// Sending happens outside any transaction, so a slow transport does not block the store.
    /// A lease should be well longer than a send takes.
    ///
    /// [`AuditEvent::NotificationSent`]: crate::AuditEvent::NotificationSent
    /// [`AuditEvent::DeliveryFailed`]: crate::AuditEvent::DeliveryFailed
    /// [`AuditEvent::NotificationDropped`]: crate::AuditEvent::NotificationDropped
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidLease`] for a lease of zero or less; [`StoreError::ClockAhead`],
    /// with nothing claimed or sent, when `now` is more than [`MAX_CLOCK_SKEW`] ahead of the
    /// system clock; [`StoreError::Database`] when messages cannot be claimed. Failures on
    /// single messages are in the report instead.
    pub fn deliver(
        &mut self,
        directory: &(impl Directory + ?Sized),
        sender: &mut (impl Sender + ?Sized),
        now: DateTime<Utc>,
        lease: chrono::TimeDelta,
    ) -> Result<DeliveryReport, StoreError> {
        ops::deliver(self, directory, sender, now, lease)
    }

    /// Records engineer actions on a granted request at `now`, in one transaction.
    ///
    /// Each action goes through [`Request::record_action`]: refused actions are recorded as
    /// refused and listed in the report; at or after the end of the window the request closes
    /// and the remaining actions are not taken. No action is lost: on a closed request (say,
    /// one revoked meanwhile) each is recorded as a refused attempt
    /// ([`Request::refuse_late_action`]), and a save that loses a race is retried on the
    /// request as it now is.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongState`] when the request was never granted; otherwise as
    /// [`load`](Self::load) and [`save`](Self::save).
    pub fn append_actions(
        &mut self,
        id: RequestId,
        engineer: &EngineerId,
        actions: impl IntoIterator<Item = EngineerAction>,
        now: DateTime<Utc>,
    ) -> Result<AppendReport, StoreError> {
        ops::append_actions(self, id, engineer, actions, now)
    }

    /// Moves on every request that time alone moves at `now`: pending requests past their
    /// decision deadline expire, granted requests past their window end. Each is its own
    /// audited, saved step; one that someone else moved meanwhile is skipped.
    ///
    /// # Errors
    ///
    /// [`StoreError::ClockAhead`], with nothing moved, when `now` is more than
    /// [`MAX_CLOCK_SKEW`] ahead of the system clock; [`StoreError::Database`] when the due
    /// requests cannot be listed. Failures on single requests are in the report instead, so
    /// one bad request does not stop the sweep.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> Result<SweepReport, StoreError> {
        ops::sweep(self, now)
    }

    /// One page of the audit records matching `query`, in search order, from the indexes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] when a row disagrees with its record; [`StoreError::Database`]
    /// when the read fails.
    pub fn search(&mut self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        search(&self.conn, query)
    }

    /// Writes every record matching `query` (all pages, from its cursor on) as JSON Lines:
    /// one record per line, in search order. Returns how many were written.
    ///
    /// # Errors
    ///
    /// As [`search`](Self::search), and [`StoreError::Export`] when `out` fails.
    pub fn export_jsonl(&mut self, query: &AuditQuery, out: impl Write) -> Result<u64, StoreError> {
        ops::export_jsonl(self, query, out)
    }

    /// SQLite's plan for [`search`](Self::search)ing `query`, one line per step: shows which
    /// index serves it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when SQLite cannot plan it.
    pub fn search_plan(&mut self, query: &AuditQuery) -> Result<Vec<String>, StoreError> {
        let (sql, args) = rows::search_sql(query, |n| format!("?{n}"));
        let mut stmt = self
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .map_err(db("planning a search"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |row| row.get(3))
            .map_err(db("planning a search"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("planning a search"))
    }

    /// The end of `tenant`'s hash chain, to keep a copy of somewhere the database's writers
    /// cannot reach.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails or the stored head is not a hash.
    pub fn chain_head(&mut self, tenant: TenantId) -> Result<Option<ChainHead>, StoreError> {
        chain_head(&self.conn, tenant)
    }

    /// Walks `tenant`'s hash chain from the first record and reports the first one that was
    /// edited, removed, reordered or inserted, or that the chain is intact.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails.
    pub fn verify_chain(&mut self, tenant: TenantId) -> Result<ChainVerdict, StoreError> {
        // One snapshot for the chain and the revisions, whatever other connections write.
        let tx = self
            .conn
            .transaction()
            .map_err(db("starting a read transaction"))?;
        verify_chain(&tx, tenant)
    }

    /// Every tenant with audit records.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails.
    pub fn tenants(&mut self) -> Result<Vec<TenantId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT tenant FROM requests ORDER BY tenant")
            .map_err(db("listing tenants"))?;
        let rows = stmt
            .query_map([], |row| row.get(0))
            .map_err(db("listing tenants"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing tenants"))
    }
}

impl Backend for SqliteStore {
    fn save_step<S: State>(&mut self, request: &mut Request<S>) -> Result<(), StoreError> {
        if request.unsaved_records().is_empty() {
            return Ok(());
        }
        let store_clock = self.store_clock()?;
        if let Some(ahead) = store_clock
            .checked_add_signed(MAX_CLOCK_SKEW)
            .and_then(|limit| request.first_unsaved_after(limit))
        {
            return Err(StoreError::ClockAhead {
                request: Some(request.id()),
                given: ahead.at(),
                store_clock,
                recorded: false,
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting a write transaction"))?;
        save_in(&tx, request)?;
        tx.commit().map_err(db("committing a step"))?;
        request.mark_saved();
        Ok(())
    }

    /// The system clock: an embedded store has no clock of its own.
    fn store_clock(&mut self) -> Result<DateTime<Utc>, StoreError> {
        Ok(SystemClock.now())
    }

    fn load_request(&mut self, id: RequestId) -> Result<AnyRequest, StoreError> {
        // One read transaction: the request row and its audit rows from one snapshot, even
        // while another connection saves the request.
        let tx = self
            .conn
            .transaction()
            .map_err(db("starting a read transaction"))?;
        load(&tx, id)
    }

    fn due_requests(&mut self, now: DateTime<Utc>) -> Result<Vec<RequestId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM requests WHERE state = 'pending_customer' AND due_at <= ?1 \
                 UNION ALL \
                 SELECT id FROM requests WHERE state = 'granted' AND due_at <= ?1",
            )
            .map_err(db("listing due requests"))?;
        let rows = stmt
            .query_map([instant_text(now)], |row| row.get(0))
            .map_err(db("listing due requests"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing due requests"))
    }

    fn search_page(&mut self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        search(&self.conn, query)
    }

    fn claim(
        &mut self,
        now: DateTime<Utc>,
        lease_until: &str,
        token: &str,
    ) -> Result<Vec<Claimed>, StoreError> {
        outbox::claim(&mut self.conn, now, lease_until, token)
    }

    fn finish(
        &mut self,
        message: &Claimed,
        token: &str,
        step: Option<DeliveryStep>,
        now: DateTime<Utc>,
        retry_at: &str,
    ) -> Result<bool, StoreError> {
        outbox::finish(&mut self.conn, message, token, step, now, retry_at)
    }
}

/// Writes `request`'s unsaved steps inside `tx`: the request row, the audit records with their
/// chain links, and the outbox entries for the notifications the steps cause.
fn save_in<S: State>(tx: &Transaction<'_>, request: &Request<S>) -> Result<(), StoreError> {
    write_request(tx, request)?;
    check_saved_records(tx, request)?;
    append_records(tx, request.tenant(), request.unsaved_records())?;
    outbox::write_outbox(tx, request)
}

/// Inserts a new request's row, or moves a stored one to the request's state if its revision is
/// still the one the request was loaded at.
fn write_request<S: State>(tx: &Transaction<'_>, request: &Request<S>) -> Result<(), StoreError> {
    let expected = request.saved_records() as u64;
    let revision = request.audit_trail().len() as u64;
    let due = request.due_at().map(instant_text);
    let changed = if expected == 0 {
        tx.prepare_cached(
            "INSERT INTO requests (id, tenant, state, revision, due_at, record_version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![request.id(), request.tenant(), S::KIND, revision, due, RECORD_VERSION])
        })
    } else {
        tx.prepare_cached(
            "UPDATE requests SET state = ?2, revision = ?3, due_at = ?4 WHERE id = ?1 AND revision = ?5",
        )
        .and_then(|mut stmt| stmt.execute(params![request.id(), S::KIND, revision, due, expected]))
    }
    .map_err(db("writing the request"))?;
    if changed == 1 {
        return Ok(());
    }
    let found: Option<u64> = tx
        .query_row(
            "SELECT revision FROM requests WHERE id = ?1",
            [request.id()],
            |row| row.get(0),
        )
        .optional()
        .map_err(db("reading the request's revision"))?;
    Err(match found {
        Some(found) => StoreError::Conflict {
            request: request.id(),
            expected,
            found,
        },
        None => StoreError::NotFound {
            request: request.id(),
        },
    })
}

/// Refuses a request whose saved records are not the stored ones: the records of a step must
/// follow the trail they were taken on.
fn check_saved_records<S: State>(
    tx: &Transaction<'_>,
    request: &Request<S>,
) -> Result<(), StoreError> {
    let saved = request.saved_records();
    if saved == 0 {
        return Ok(());
    }
    let mut stmt = tx
        .prepare_cached(
            "SELECT record FROM audit WHERE request_id = ?1 AND sequence <= ?2 ORDER BY sequence",
        )
        .map_err(db("reading the saved records"))?;
    let mut rows = stmt
        .query(params![request.id(), saved as u64])
        .map_err(db("reading the saved records"))?;
    let mut held = request.audit_trail().iter().take(saved);
    let mut same = true;
    while let Some(row) = rows.next().map_err(db("reading the saved records"))? {
        let stored = row.get_ref(0).ok().and_then(|v| v.as_str().ok());
        let ours = held
            .next()
            .and_then(|record| serde_json::to_string(record).ok());
        if stored.is_none() || stored != ours.as_deref() {
            same = false;
            break;
        }
    }
    if same && held.next().is_none() {
        return Ok(());
    }
    Err(StoreError::SaveRefused {
        request: request.id(),
        refusal: RecordError::new(Some(request.id()), None, BrokenRule::SavedRecordsDiffer),
    })
}

/// Appends `records` to the audit table, extending `tenant`'s hash chain.
fn append_records(
    tx: &Transaction<'_>,
    tenant: TenantId,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    let (mut position, mut previous) = match chain_head(tx, tenant)? {
        Some(head) => (head.position, head.hash),
        None => (0, ChainHash::GENESIS),
    };
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, \
             kind, record, previous_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(db("appending audit records"))?;
    let tenant_text = tenant.to_string();
    for record in records {
        let json = serde_json::to_string(record).map_err(db("encoding an audit record"))?;
        let request = record.request().to_string();
        let at = instant_text(record.at());
        let (role, id, kind) = (
            record.actor().role(),
            record.actor().id(),
            record.event().kind().as_str(),
        );
        let columns = Columns {
            request: request.as_bytes(),
            sequence: record.sequence(),
            tenant: tenant_text.as_bytes(),
            at: at.as_bytes(),
            actor_role: role.as_bytes(),
            actor_id: id.as_bytes(),
            kind: kind.as_bytes(),
            record: json.as_bytes(),
        };
        position += 1;
        let hash = columns.link(&previous, position);
        insert
            .execute(params![
                tenant_text,
                position,
                request,
                record.sequence(),
                at,
                role,
                id,
                kind,
                json,
                previous.as_bytes(),
                hash.as_bytes(),
            ])
            .map_err(db("appending audit records"))?;
        previous = hash;
    }
    Ok(())
}

fn chain_head(conn: &Connection, tenant: TenantId) -> Result<Option<ChainHead>, StoreError> {
    let row: Option<(u64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT chain_position, hash FROM audit WHERE tenant = ?1 ORDER BY chain_position DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([tenant], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(db("reading the chain head"))?;
    row.map(|(position, hash)| match ChainHash::from_slice(&hash) {
        Some(hash) => Ok(ChainHead {
            tenant,
            position,
            hash,
        }),
        None => Err(StoreError::database("reading the chain head")(
            format!(
                "the stored head of tenant {tenant} is {} bytes, not a SHA-256 hash",
                hash.len()
            )
            .into(),
        )),
    })
    .transpose()
}

fn read_audit_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        request: row.get(0)?,
        sequence: row.get(1)?,
        tenant: row.get(2)?,
        at: row.get(3)?,
        actor_role: row.get(4)?,
        actor_id: row.get(5)?,
        kind: row.get(6)?,
        record: row.get(7)?,
    })
}

/// Turns a row that fails to decode into a refusal of the stored request, other failures into
/// database errors.
fn read_error(
    request: Option<RequestId>,
    context: &'static str,
) -> impl Fn(rusqlite::Error) -> StoreError {
    move |err| match err {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..) => StoreError::Refused(RecordError::new(
            request,
            None,
            BrokenRule::Malformed {
                reason: err.to_string(),
            },
        )),
        other => StoreError::database(context)(Box::new(other)),
    }
}

fn load(conn: &Connection, id: RequestId) -> Result<AnyRequest, StoreError> {
    let read = read_error(Some(id), "reading a request");
    let header: Option<(TenantId, StateKind, u64, Option<String>, u32)> = conn
        .query_row(
            "SELECT tenant, state, revision, due_at, record_version FROM requests WHERE id = ?1",
            [id],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            },
        )
        .optional()
        .map_err(&read)?;
    let Some((tenant, state, revision, due_at, version)) = header else {
        return Err(StoreError::NotFound { request: id });
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE request_id = ?1 ORDER BY sequence"
        ))
        .map_err(&read)?;
    let rows = stmt.query_map([id], read_audit_row).map_err(&read)?;
    let mut trail = Vec::new();
    for row in rows {
        trail.push(row.map_err(&read)?.decode()?);
    }
    rows::assemble(id, tenant, state, revision, due_at, version, trail)
}

fn search(conn: &Connection, query: &AuditQuery) -> Result<AuditPage, StoreError> {
    let read = read_error(None, "searching audit records");
    let (sql, args) = rows::search_sql(query, |n| format!("?{n}"));
    let mut stmt = conn.prepare_cached(&sql).map_err(&read)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), read_audit_row)
        .map_err(&read)?;
    let size = query.page_size_value().get() as usize;
    let mut records = Vec::with_capacity(size);
    let mut more = false;
    for row in rows {
        if records.len() == size {
            more = true;
            break;
        }
        records.push(row.map_err(&read)?.decode()?);
    }
    let next = if more {
        records.last().map(AuditRecord::cursor)
    } else {
        None
    };
    Ok(AuditPage { records, next })
}

fn verify_chain(conn: &Connection, tenant: TenantId) -> Result<ChainVerdict, StoreError> {
    let read = read_error(None, "verifying the audit chain");
    let mut stmt = conn
        .prepare_cached(
            "SELECT chain_position, request_id, sequence, tenant, at, actor_role, actor_id, kind, \
             record, previous_hash, hash FROM audit WHERE tenant = ?1 ORDER BY chain_position",
        )
        .map_err(&read)?;
    let mut rows = stmt.query([tenant]).map_err(&read)?;
    let next_row = |batch: &mut ChainBatch| {
        let Some(row) = rows.next().map_err(&read)? else {
            return Ok(false);
        };
        let bytes = |i| row.get_ref(i).ok().and_then(|v| v.as_bytes().ok());
        batch.push(
            row.get(0).ok(),
            row.get(2).ok(),
            [1, 3, 4, 5, 6, 7, 8, 9, 10].map(bytes),
        );
        Ok(true)
    };
    let revisions = || {
        let mut stmt = conn
            .prepare_cached("SELECT id, revision FROM requests WHERE tenant = ?1 ORDER BY id")
            .map_err(&read)?;
        let rows = stmt
            .query_map([tenant], |row| {
                Ok(row
                    .get::<_, RequestId>(0)
                    .ok()
                    .zip(row.get::<_, u64>(1).ok()))
            })
            .map_err(&read)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&read)
    };
    rows::verify(tenant, next_row, revisions, |hash| {
        link_target(conn, tenant, hash)
    })
}

/// The chain position of the record whose hash is `hash`, if one has it.
fn link_target(
    conn: &Connection,
    tenant: TenantId,
    hash: &[u8],
) -> Result<Option<u64>, StoreError> {
    conn.query_row(
        "SELECT chain_position FROM audit WHERE tenant = ?1 AND hash = ?2",
        params![tenant, hash],
        |row| row.get(0),
    )
    .optional()
    .map_err(db("following a broken chain link"))
}

/// Implements `ToSql` as text and a validating `FromSql` for a type with `Display` and a
/// fallible parser: a stored value that does not parse fails while decoding.
macro_rules! sql_text {
    ($ty:ty, $parse:expr) => {
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.to_string()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $parse(text).map_err(|err| FromSqlError::Other(Box::new(err)))
            }
        }
    };
}

sql_text!(TenantId, TenantId::parse);
sql_text!(RequestId, RequestId::parse);

impl ToSql for rows::SqlArg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            rows::SqlArg::Text(text) => ToSqlOutput::from(text.as_str()),
            rows::SqlArg::Int(int) => ToSqlOutput::from(*int),
        })
    }
}

impl ToSql for StateKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for StateKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        StateKind::parse(value.as_str()?).ok_or(FromSqlError::InvalidType)
    }
}
