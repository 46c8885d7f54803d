//! The scale-out store on PostgreSQL: many service nodes over one database.

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Statement, Transaction};

use super::ops::{
    self, Backend, CLAIM_BATCH, Claimed, finish_request, new_messages, outbox_update,
};
use super::rows::{self, AUDIT_COLUMNS, AuditRow, ChainBatch, Columns, SqlArg};
use super::{AppendReport, DeliveryReport, OutboxEntry, StoreError, SweepReport, instant_text};
use crate::audit::{AuditPage, AuditQuery, AuditRecord, ChainHash, ChainHead, ChainVerdict};
use crate::clock::MAX_CLOCK_SKEW;
use crate::delivery::{Directory, Sender};
use crate::record::{BrokenRule, RECORD_VERSION, RecordError};
use crate::request::{AnyRequest, DeliveryStep, Request, with_request};
use crate::state::{State, StateKind};
use crate::values::{EngineerAction, EngineerId, RequestId, TenantId};

/// The schema, one migration per version, applied in order and recorded in `lockbox_schema`.
/// Never edit or remove one: add the next.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_initial.sql"),
    include_str!("migrations/postgres/0002_checked_steps.sql"),
];

/// The advisory lock nodes take while migrating, so two starting at once migrate in turn.
const MIGRATION_LOCK: i64 = 0x006c_6f63_6b62_6f78;

fn db<E: std::error::Error + Send + Sync + 'static>(
    context: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |err| StoreError::database(context)(Box::new(err))
}

/// A stored value that does not read as its column's type: the stored request is refused.
fn column_error(request: Option<RequestId>) -> impl Fn(postgres::Error) -> StoreError {
    move |err| {
        StoreError::Refused(RecordError::new(
            request,
            None,
            BrokenRule::Malformed {
                reason: err.to_string(),
            },
        ))
    }
}

fn to_u64(value: i64, request: Option<RequestId>, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        StoreError::Refused(RecordError::new(
            request,
            None,
            BrokenRule::StoredColumnDisagrees { column },
        ))
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The scale-out store: requests, audit trails and the outbox in one PostgreSQL database
/// shared by any number of service nodes, each with its own `PostgresStore`.
///
/// The same behaviour as [`SqliteStore`](crate::SqliteStore), with what many nodes need:
///
/// - **Atomic steps.** Each save is one transaction: the request row (checked against the
///   revision it was loaded at), its audit records with their chain links, and its outbox
///   entries. A node that loses a race gets [`StoreError::Conflict`] and writes nothing.
/// - **One chain per tenant, many writers.** The `chains` table holds each tenant's chain
///   head. A step is one call of the schema's `lockbox_save_step` function (one round trip),
///   with links the node computed from the head it last wrote for that tenant; the function
///   moves the head only from that head, so if another node has extended the chain meanwhile,
///   nothing is written and the node redoes the step with the request row and the head locked.
///   Steps of one tenant from many nodes extend the chain in turn; other tenants' steps go on
///   in parallel.
/// - **Consistent reads.** A load or a chain verification reads one snapshot (repeatable
///   read), whatever other nodes commit meanwhile.
/// - **Schema.** Migrations are recorded in `lockbox_schema`, applied under an advisory lock;
///   a database newer than this build is refused before anything is written.
/// - **Outbox.** Delivery runs claim messages with `FOR UPDATE SKIP LOCKED` under a lease.
pub struct PostgresStore {
    client: Client,
    statements: Statements,
    /// What this node knows of each tenant's chain: see [`Known`].
    heads: HashMap<TenantId, Known>,
}

/// A node's knowledge of a tenant's chain: the head it last wrote, where its next step's links
/// start. If another node has moved the chain since, that step writes nothing and is redone
/// under the chain's lock, and the next few steps of that tenant take the lock straight away
/// (guessing is only worth it while the node writes the tenant alone, which is the common case:
/// one node handles a tenant's case at a time).
#[derive(Clone, Copy)]
struct Known {
    head: Head,
    /// Steps of this tenant left to take under the lock before guessing again.
    locked_steps: u8,
}

/// How many steps of a tenant a node takes under the lock after a wrong guess.
const LOCKED_AFTER_MISS: u8 = 16;

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with libpq-style `params` (such as `host=127.0.0.1 port=5432 user=lockbox
    /// dbname=lockbox`, or a `postgresql://` URL) without TLS, and brings the schema up to
    /// date. For TLS, connect yourself and use [`PostgresStore::from_client`].
    ///
    /// # Errors
    ///
    /// [`StoreError::NewerSchema`] for a database written by a newer build (left untouched);
    /// [`StoreError::Database`] when the server cannot be reached or migrated.
    pub fn connect(params: &str) -> Result<Self, StoreError> {
        let client = Client::connect(params, NoTls).map_err(db("connecting to PostgreSQL"))?;
        Self::from_client(client)
    }

    /// Uses a connected client, and brings the schema up to date.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect), but for connecting.
    pub fn from_client(mut client: Client) -> Result<Self, StoreError> {
        migrate(&mut client)?;
        let statements = Statements::prepare(&mut client)?;
        Ok(PostgresStore {
            client,
            statements,
            heads: HashMap::new(),
        })
    }

    /// The error for a step the server found stamped too far ahead of its clock.
    fn ahead<S: State>(&mut self, request: &Request<S>) -> StoreError {
        let store_clock = match server_clock(&mut self.client) {
            Ok(clock) => clock,
            Err(err) => return err,
        };
        let given = request
            .unsaved_records()
            .iter()
            .map(AuditRecord::at)
            .max()
            .unwrap_or(store_clock);
        StoreError::ClockAhead {
            request: Some(request.id()),
            given,
            store_clock,
            recorded: false,
        }
    }

    /// Records a saved step: its request's records are saved, and its tenant's chain ends at
    /// `head`; the next `locked_steps` steps of that tenant take the lock.
    fn saved<S: State>(&mut self, request: &mut Request<S>, head: Head, locked_steps: u8) {
        self.remember(request.tenant(), head, locked_steps);
        request.mark_saved();
    }

    fn remember(&mut self, tenant: TenantId, head: Head, locked_steps: u8) {
        if self.heads.len() >= REMEMBERED_HEADS {
            self.heads.clear();
        }
        self.heads.insert(tenant, Known { head, locked_steps });
    }

    /// The schema version this build writes.
    pub fn schema_version() -> usize {
        MIGRATIONS.len()
    }

    /// Saves the request's [unsaved records](Request::unsaved_records), its new state and the
    /// notifications its steps cause, in one transaction; see [`SqliteStore::save`](crate::SqliteStore::save).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when another node saved the request since it was loaded;
    /// [`StoreError::SaveRefused`] and [`StoreError::ClockAhead`] as for SQLite, against the
    /// server's clock; [`StoreError::NotFound`]; [`StoreError::Database`].
    pub fn save<S: State>(&mut self, request: &mut Request<S>) -> Result<(), StoreError> {
        ops::save(self, request)
    }

    /// Loads a request, checked by replaying its trail, from one snapshot.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Refused`] naming the broken rule;
    /// [`StoreError::Database`].
    pub fn load(&mut self, id: RequestId) -> Result<AnyRequest, StoreError> {
        self.load_request(id)
    }

    /// The notifications in the outbox for `request`, in the order of their causes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] for a row the store never writes; [`StoreError::Database`].
    pub fn outbox(&mut self, request: RequestId) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT sequence, kind, status, attempts, last_error, lease_until FROM outbox \
                 WHERE request_id = $1 ORDER BY sequence",
                &[&request.to_string()],
            )
            .map_err(db("reading the outbox"))?;
        let read = column_error(Some(request));
        rows.iter()
            .map(|row| {
                let cause: i64 = row.try_get(0).map_err(&read)?;
                let attempts: i32 = row.try_get(3).map_err(&read)?;
                rows::outbox_entry(
                    request,
                    to_u64(cause, Some(request), "outbox.sequence")?,
                    row.try_get(1).map_err(&read)?,
                    row.try_get(2).map_err(&read)?,
                    u32::try_from(attempts).unwrap_or(0),
                    row.try_get(4).map_err(&read)?,
                    row.try_get(5).map_err(&read)?,
                )
            })
            .collect()
    }

    /// Hands every notification due at `now` to `sender` under a lease, and records each
    /// attempt; see [`SqliteStore::deliver`](crate::SqliteStore::deliver). Nodes claim
    /// messages with `FOR UPDATE SKIP LOCKED`, so runs on many nodes share the work.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidLease`]; [`StoreError::ClockAhead`] (nothing claimed) when `now` is
    /// more than [`MAX_CLOCK_SKEW`] ahead of the server's clock; [`StoreError::Database`] when
    /// messages cannot be claimed.
    pub fn deliver(
        &mut self,
        directory: &(impl Directory + ?Sized),
        sender: &mut (impl Sender + ?Sized),
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<DeliveryReport, StoreError> {
        ops::deliver(self, directory, sender, now, lease)
    }

    /// Records engineer actions on a granted request at `now`, in one transaction; see
    /// [`SqliteStore::append_actions`](crate::SqliteStore::append_actions).
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongState`] when the request is not granted; otherwise as
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

    /// Moves on every request that time alone moves at `now`, each as its own step; see
    /// [`SqliteStore::sweep`](crate::SqliteStore::sweep). Sweepers on several nodes may run at
    /// once: each due request is moved by exactly one of them.
    ///
    /// # Errors
    ///
    /// [`StoreError::ClockAhead`] (nothing moved) when `now` is more than [`MAX_CLOCK_SKEW`]
    /// ahead of the server's clock; [`StoreError::Database`] when the due requests cannot be
    /// listed.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> Result<SweepReport, StoreError> {
        ops::sweep(self, now)
    }

    /// One page of the audit records matching `query`, from the indexes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] when a row disagrees with its record; [`StoreError::Database`].
    pub fn search(&mut self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        self.search_page(query)
    }

    /// Writes every record matching `query` as JSON Lines; returns how many.
    ///
    /// # Errors
    ///
    /// As [`search`](Self::search), and [`StoreError::Export`] when `out` fails.
    pub fn export_jsonl(&mut self, query: &AuditQuery, out: impl Write) -> Result<u64, StoreError> {
        ops::export_jsonl(self, query, out)
    }

    /// PostgreSQL's plan for [`search`](Self::search)ing `query`, one line per line of
    /// `EXPLAIN`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the server cannot plan it.
    pub fn search_plan(&mut self, query: &AuditQuery) -> Result<Vec<String>, StoreError> {
        let (sql, args) = rows::search_sql(query, |n| format!("${n}"));
        let params = sql_params(&args);
        let rows = self
            .client
            .query(&format!("EXPLAIN {sql}"), &params)
            .map_err(db("planning a search"))?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(db("planning a search")))
            .collect()
    }

    /// The end of `tenant`'s hash chain.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails or the stored head is not a hash.
    pub fn chain_head(&mut self, tenant: TenantId) -> Result<Option<ChainHead>, StoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT chain_position, hash FROM audit WHERE tenant = $1 \
                 ORDER BY chain_position DESC LIMIT 1",
                &[&tenant.to_string()],
            )
            .map_err(db("reading the chain head"))?;
        let Some(row) = row else { return Ok(None) };
        let position: i64 = row.try_get(0).map_err(db("reading the chain head"))?;
        let hash: Vec<u8> = row.try_get(1).map_err(db("reading the chain head"))?;
        match ChainHash::from_slice(&hash) {
            Some(hash) => Ok(Some(ChainHead {
                tenant,
                position: to_u64(position, None, "chain_position")?,
                hash,
            })),
            None => Err(StoreError::database("reading the chain head")(
                format!("the stored head of tenant {tenant} is not a SHA-256 hash").into(),
            )),
        }
    }

    /// Walks `tenant`'s hash chain from one snapshot and reports the first record edited,
    /// removed, reordered or inserted, or that the chain is intact.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails.
    pub fn verify_chain(&mut self, tenant: TenantId) -> Result<ChainVerdict, StoreError> {
        let mut tx = read_snapshot(&mut self.client)?;
        let verdict = verify_chain(&mut tx, tenant);
        let _ = tx.commit();
        verdict
    }

    /// Every tenant with requests.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails.
    pub fn tenants(&mut self) -> Result<Vec<TenantId>, StoreError> {
        let rows = self
            .client
            .query("SELECT DISTINCT tenant FROM requests ORDER BY tenant", &[])
            .map_err(db("listing tenants"))?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get(0).map_err(column_error(None))?;
                TenantId::parse(&text).map_err(|err| {
                    StoreError::Refused(RecordError::new(
                        None,
                        None,
                        BrokenRule::Malformed {
                            reason: err.to_string(),
                        },
                    ))
                })
            })
            .collect()
    }
}

fn read_snapshot(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(db("starting a read transaction"))
}

fn sql_params(args: &[SqlArg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|arg| match arg {
            SqlArg::Text(text) => text as &(dyn ToSql + Sync),
            SqlArg::Int(int) => int as &(dyn ToSql + Sync),
        })
        .collect()
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(db("starting the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db("locking for the migration"))?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('lockbox_schema') IS NOT NULL", &[])
        .and_then(|row| row.try_get(0))
        .map_err(db("reading the schema version"))?;
    let found: i64 = if exists {
        tx.query_one("SELECT version FROM lockbox_schema", &[])
            .and_then(|row| row.try_get::<_, i32>(0))
            .map(i64::from)
            .map_err(db("reading the schema version"))?
    } else {
        0
    };
    if found > MIGRATIONS.len() as i64 {
        return Err(StoreError::NewerSchema {
            found,
            supported: MIGRATIONS.len(),
        });
    }
    if !exists {
        tx.batch_execute("CREATE TABLE lockbox_schema (version INTEGER NOT NULL); INSERT INTO lockbox_schema VALUES (0);")
            .map_err(db("creating the schema version table"))?;
    }
    let done = usize::try_from(found).unwrap_or(0);
    for migration in MIGRATIONS.iter().skip(done) {
        tx.batch_execute(migration)
            .map_err(db("migrating the schema"))?;
    }
    let version = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    tx.execute("UPDATE lockbox_schema SET version = $1", &[&version])
        .map_err(db("recording the schema version"))?;
    tx.commit().map_err(db("committing the migration"))
}

impl Backend for PostgresStore {
    fn save_step<S: State>(&mut self, request: &mut Request<S>) -> Result<(), StoreError> {
        if request.unsaved_records().is_empty() {
            return Ok(());
        }
        let tenant = request.tenant();
        let mut locked_steps = 0;
        match self.heads.get(&tenant).copied() {
            // The head this node last wrote: right unless another node has written this tenant
            // since, and then nothing is written and the step is redone under the lock.
            Some(known) if known.locked_steps == 0 => {
                match write_step(&mut self.client, &self.statements, request, known.head)? {
                    Written::Saved(head) => {
                        self.saved(request, head, 0);
                        return Ok(());
                    }
                    Written::Stale => return Err(stale(&mut self.client, request)),
                    Written::Ahead => return Err(self.ahead(request)),
                    Written::ChainMoved => locked_steps = LOCKED_AFTER_MISS,
                }
            }
            Some(known) => locked_steps = known.locked_steps - 1,
            None => {}
        }
        let mut tx = self
            .client
            .transaction()
            .map_err(db("starting a write transaction"))?;
        let head = match save_locked(&mut tx, &self.statements, request) {
            Ok(head) => head,
            Err(Locked::Failed(err)) => return Err(err),
            Err(Locked::Ahead) => {
                drop(tx);
                return Err(self.ahead(request));
            }
        };
        tx.commit().map_err(db("committing a step"))?;
        self.saved(request, head, locked_steps);
        Ok(())
    }

    fn store_clock(&mut self) -> Result<DateTime<Utc>, StoreError> {
        server_clock(&mut self.client)
    }

    fn load_request(&mut self, id: RequestId) -> Result<AnyRequest, StoreError> {
        let mut tx = read_snapshot(&mut self.client)?;
        let loaded = load(&mut tx, &self.statements, id, false);
        let _ = tx.commit();
        loaded
    }

    fn due_requests(&mut self, now: DateTime<Utc>) -> Result<Vec<RequestId>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT id FROM requests WHERE state = 'pending_customer' AND due_at <= $1 \
                 UNION ALL \
                 SELECT id FROM requests WHERE state = 'granted' AND due_at <= $1",
                &[&instant_text(now)],
            )
            .map_err(db("listing due requests"))?;
        rows.iter().map(|row| request_id(row, 0)).collect()
    }

    fn search_page(&mut self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let (sql, args) = rows::search_sql(query, |n| format!("${n}"));
        let params = sql_params(&args);
        let rows = self
            .client
            .query(&sql, &params)
            .map_err(db("searching audit records"))?;
        let size = query.page_size_value().get() as usize;
        let mut records = Vec::with_capacity(size);
        for row in rows.iter().take(size) {
            records.push(audit_row(row)?.decode()?);
        }
        let next = if rows.len() > size {
            records.last().map(AuditRecord::cursor)
        } else {
            None
        };
        Ok(AuditPage { records, next })
    }

    fn claim(
        &mut self,
        now: DateTime<Utc>,
        lease_until: &str,
        token: &str,
    ) -> Result<Vec<Claimed>, StoreError> {
        let limit = CLAIM_BATCH as i64;
        let rows = self
            .client
            .query(
                "UPDATE outbox SET attempts = attempts + 1, claim = $1, lease_until = $2 \
                 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND lease_until <= $3 \
                              ORDER BY lease_until, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, request_id, sequence, message, attempts, kind",
                &[&token, &lease_until, &instant_text(now), &limit],
            )
            .map_err(db("claiming outbox messages"))?;
        let read = column_error(None);
        let mut claimed: Vec<Claimed> = rows
            .iter()
            .map(|row| {
                let sequence: i64 = row.try_get(2).map_err(&read)?;
                let attempts: i32 = row.try_get(4).map_err(&read)?;
                Ok(Claimed {
                    row: row.try_get(0).map_err(&read)?,
                    request: request_id(row, 1)?,
                    cause: to_u64(sequence, None, "outbox.sequence")?,
                    message: row.try_get(3).map_err(&read)?,
                    attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
                    kind: row.try_get(5).map_err(&read)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        claimed.sort_by_key(|message| message.row);
        Ok(claimed)
    }

    fn finish(
        &mut self,
        message: &Claimed,
        token: &str,
        step: Option<DeliveryStep>,
        now: DateTime<Utc>,
        retry_at: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .client
            .transaction()
            .map_err(db("starting a write transaction"))?;
        let holder = tx
            .query_opt(
                "SELECT claim, status FROM outbox WHERE id = $1 FOR UPDATE",
                &[&message.row],
            )
            .map_err(db("checking an outbox claim"))?;
        let held = holder.is_some_and(|row| {
            matches!(
                (row.try_get::<_, Option<String>>(0), row.try_get::<_, String>(1)),
                (Ok(Some(claim)), Ok(status)) if claim == token && status == "pending"
            )
        });
        if !held {
            return Ok(false);
        }
        let now_text = instant_text(now);
        let (status, last_error, lease_until) = outbox_update(&step, &now_text, retry_at);
        let mut written = None;
        if let Some(step) = step.clone() {
            let loaded = load(&mut tx, &self.statements, message.request, true)?;
            let mut request = finish_request(loaded, now, message.cause, step)?;
            let head = match with_request!(&mut request, r => save_locked(&mut tx, &self.statements, r))
            {
                Ok(head) => head,
                Err(Locked::Failed(err)) => return Err(err),
                // The run's instant was checked against the server's clock before it claimed
                // anything; a record this late is the server's clock going backwards.
                Err(Locked::Ahead) => {
                    drop(tx);
                    return Err(StoreError::ClockAhead {
                        request: Some(message.request),
                        given: now,
                        store_clock: server_clock(&mut self.client)?,
                        recorded: false,
                    });
                }
            };
            written = Some((request.tenant(), head));
        }
        let finished = (status != "pending").then_some(now_text.as_str());
        tx.execute(
            "UPDATE outbox SET status = $2, claim = NULL, last_error = coalesce($3, last_error), \
             lease_until = $4, finished_at = $5 WHERE id = $1",
            &[&message.row, &status, &last_error, &lease_until, &finished],
        )
        .map_err(db("updating the outbox"))?;
        tx.commit().map_err(db("committing a delivery"))?;
        if let Some((tenant, head)) = written {
            self.remember(tenant, head, 0);
        }
        Ok(true)
    }
}

fn request_id(row: &postgres::Row, index: usize) -> Result<RequestId, StoreError> {
    let text: String = row.try_get(index).map_err(column_error(None))?;
    RequestId::parse(&text).map_err(|err| {
        StoreError::Refused(RecordError::new(
            None,
            None,
            BrokenRule::Malformed {
                reason: err.to_string(),
            },
        ))
    })
}

/// Statements every node runs often, prepared once per connection: each then costs one round
/// trip instead of two (parse, then execute).
struct Statements {
    save_step: Statement,
    /// Locks the request's row (if it has one), then the tenant's chain head (starting the
    /// chain if the tenant has none), in the order every step takes them, and reads the head.
    lock_chain: Statement,
    load_header: Statement,
    load_header_locked: Statement,
    load_trail: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, StoreError> {
        let mut prepare = |sql: &str| client.prepare(sql).map_err(db("preparing statements"));
        Ok(Statements {
            save_step: prepare(
                "SELECT lockbox_save_step($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)",
            )?,
            lock_chain: prepare(
                "WITH locked AS (SELECT id FROM requests WHERE id = $1 FOR UPDATE) \
                 INSERT INTO chains (tenant, position, hash) \
                 SELECT $2, 0, $3 FROM (SELECT count(*) FROM locked) AS request \
                 ON CONFLICT (tenant) DO UPDATE SET tenant = EXCLUDED.tenant \
                 RETURNING position, hash",
            )?,
            load_header: prepare(
                "SELECT tenant, state, revision, due_at, record_version FROM requests WHERE id = $1",
            )?,
            load_header_locked: prepare(
                "SELECT tenant, state, revision, due_at, record_version FROM requests \
                 WHERE id = $1 FOR UPDATE",
            )?,
            load_trail: prepare(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit WHERE request_id = $1 ORDER BY sequence"
            ))?,
        })
    }
}

/// A tenant's chain head: its position and hash.
type Head = (u64, ChainHash);

/// How many tenants' chain heads a node remembers before it forgets them all (each is 40
/// bytes; a forgotten head costs one locked step).
const REMEMBERED_HEADS: usize = 4096;

/// The SQLSTATE `lockbox_save_step` raises when the chain is not at the head the node expected.
const CHAIN_MOVED: &str = "LB001";
/// The SQLSTATE it raises when a record is later than the server's clock plus the skew allowed.
const AHEAD_OF_CLOCK: &str = "LB002";
/// The SQLSTATE it raises when the records the node counts as saved are not the stored ones.
const SAVED_RECORDS_DIFFER: &str = "LB003";

/// The server's clock, to the microsecond.
fn server_clock(client: &mut impl GenericClient) -> Result<DateTime<Utc>, StoreError> {
    let micros: i64 = client
        .query_one(
            "SELECT CAST(floor(extract(epoch FROM clock_timestamp()) * 1000000) AS BIGINT)",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(db("reading the server's clock"))?;
    DateTime::from_timestamp_micros(micros).ok_or_else(|| {
        StoreError::database("reading the server's clock")(
            format!(
                "the server's clock reads {micros} microseconds since 1970, which is no instant"
            )
            .into(),
        )
    })
}

/// SHA-256 over each record's JSON followed by a newline, in order: what the server computes
/// over the stored records of a request to check the node's.
fn saved_digest(records: &[AuditRecord]) -> Result<Vec<u8>, StoreError> {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for record in records {
        let json = serde_json::to_string(record).map_err(db("encoding an audit record"))?;
        digest.update(json.as_bytes());
        digest.update(b"\n");
    }
    Ok(digest.finalize().to_vec())
}

/// How a step's write ended.
enum Written {
    /// Saved; the tenant's chain now ends at this head.
    Saved(Head),
    /// The request row was not at the revision the step expected: nothing was written.
    Stale,
    /// Another node moved the chain from the head the step started at: nothing was written.
    ChainMoved,
    /// A record is later than the server's clock plus [`MAX_CLOCK_SKEW`]: nothing was written.
    Ahead,
}

/// Why a step under the chain's lock was not written.
enum Locked {
    /// A record is stamped too far ahead of the server's clock (the transaction is aborted).
    Ahead,
    /// Anything else.
    Failed(StoreError),
}

impl From<StoreError> for Locked {
    fn from(err: StoreError) -> Self {
        Locked::Failed(err)
    }
}

/// Writes `request`'s unsaved steps with one call of `lockbox_save_step` (one round trip): the
/// request row, the audit records linked onto the chain from `head`, and the outbox entries.
fn write_step<S: State>(
    client: &mut impl GenericClient,
    statements: &Statements,
    request: &Request<S>,
    head: Head,
) -> Result<Written, StoreError> {
    let tenant_text = request.tenant().to_string();
    let request_text = request.id().to_string();
    let records = request.unsaved_records();
    let mut rows = StepRows::with_capacity(records.len());
    let (mut position, mut previous) = head;
    for record in records {
        let json = serde_json::to_string(record).map_err(db("encoding an audit record"))?;
        let at = instant_text(record.at());
        let (role, id, kind) = (
            record.actor().role(),
            record.actor().id(),
            record.event().kind().as_str(),
        );
        position += 1;
        let hash = Columns {
            request: request_text.as_bytes(),
            sequence: record.sequence(),
            tenant: tenant_text.as_bytes(),
            at: at.as_bytes(),
            actor_role: role.as_bytes(),
            actor_id: id.as_bytes(),
            kind: kind.as_bytes(),
            record: json.as_bytes(),
        }
        .link(&previous, position);
        rows.positions.push(to_i64(position));
        rows.sequences.push(to_i64(record.sequence()));
        rows.ats.push(at);
        rows.roles.push(role);
        rows.ids.push(id);
        rows.kinds.push(kind);
        rows.records.push(json);
        rows.previous_hashes.push(previous.as_bytes().to_vec());
        rows.hashes.push(hash.as_bytes().to_vec());
        previous = hash;
    }
    let (mut causes, mut kinds, mut created, mut messages) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (cause, kind, at, message) in new_messages(request)? {
        causes.push(to_i64(cause));
        kinds.push(kind.as_str());
        created.push(at);
        messages.push(message);
    }

    let saved_digest = saved_digest(
        request
            .audit_trail()
            .get(..request.saved_records())
            .unwrap_or_default(),
    )?;
    let latest_at = records.last().map_or_else(
        || instant_text(request.last_step_at()),
        |r| instant_text(r.at()),
    );
    let max_skew_micros = MAX_CLOCK_SKEW.num_microseconds().unwrap_or(i64::MAX);
    let result = client.query_one(
        &statements.save_step,
        &[
            &request_text,
            &tenant_text,
            &S::KIND.as_str(),
            &to_i64(request.audit_trail().len() as u64),
            &request.due_at().map(instant_text),
            &to_i64(request.saved_records() as u64),
            &i32::try_from(RECORD_VERSION).unwrap_or(i32::MAX),
            &to_i64(head.0),
            &head.1.as_bytes().as_slice(),
            &to_i64(position),
            &previous.as_bytes().as_slice(),
            &rows.positions,
            &rows.sequences,
            &rows.ats,
            &rows.roles,
            &rows.ids,
            &rows.kinds,
            &rows.records,
            &rows.previous_hashes,
            &rows.hashes,
            &causes,
            &kinds,
            &created,
            &messages,
            &saved_digest,
            &latest_at,
            &max_skew_micros,
        ],
    );
    match result {
        Ok(row) => match row.try_get::<_, bool>(0) {
            Ok(true) => Ok(Written::Saved((position, previous))),
            Ok(false) => Ok(Written::Stale),
            Err(err) => Err(StoreError::database("saving a step")(Box::new(err))),
        },
        Err(err) => match err.code().map(SqlState::code) {
            Some(CHAIN_MOVED) => Ok(Written::ChainMoved),
            Some(AHEAD_OF_CLOCK) => Ok(Written::Ahead),
            Some(SAVED_RECORDS_DIFFER) => Err(StoreError::SaveRefused {
                request: request.id(),
                refusal: RecordError::new(Some(request.id()), None, BrokenRule::SavedRecordsDiffer),
            }),
            _ => Err(StoreError::database("saving a step")(Box::new(err))),
        },
    }
}

/// The audit columns of a step's records, one array per column.
struct StepRows<'a> {
    positions: Vec<i64>,
    sequences: Vec<i64>,
    ats: Vec<String>,
    roles: Vec<&'static str>,
    ids: Vec<&'a str>,
    kinds: Vec<&'static str>,
    records: Vec<String>,
    previous_hashes: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
}

impl StepRows<'_> {
    fn with_capacity(n: usize) -> Self {
        StepRows {
            positions: Vec::with_capacity(n),
            sequences: Vec::with_capacity(n),
            ats: Vec::with_capacity(n),
            roles: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            records: Vec::with_capacity(n),
            previous_hashes: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
        }
    }
}

/// Writes `request`'s unsaved steps inside `tx` with the request row and then the tenant's
/// chain head locked (the order every step takes them in), so the write cannot miss the head.
/// Returns the new head.
fn save_locked<S: State>(
    tx: &mut Transaction<'_>,
    statements: &Statements,
    request: &Request<S>,
) -> Result<Head, Locked> {
    let head = lock_chain(tx, statements, request)?;
    match write_step(tx, statements, request, head)? {
        Written::Saved(head) => Ok(head),
        Written::Stale => Err(stale(tx, request).into()),
        Written::Ahead => Err(Locked::Ahead),
        Written::ChainMoved => Err(StoreError::database("saving a step")(
            format!(
                "the chain of tenant {} moved while locked",
                request.tenant()
            )
            .into(),
        )
        .into()),
    }
}

/// Locks `request`'s row and then its tenant's chain head until `tx` ends (starting the chain
/// if the tenant has none), and reads the head.
fn lock_chain<S: State>(
    tx: &mut Transaction<'_>,
    statements: &Statements,
    request: &Request<S>,
) -> Result<Head, StoreError> {
    let tenant = request.tenant();
    let head = tx
        .query_one(
            &statements.lock_chain,
            &[
                &request.id().to_string(),
                &tenant.to_string(),
                &ChainHash::GENESIS.as_bytes().as_slice(),
            ],
        )
        .map_err(db("locking the tenant's chain"))?;
    let position: i64 = head.try_get(0).map_err(db("reading the chain head"))?;
    let hash: Vec<u8> = head.try_get(1).map_err(db("reading the chain head"))?;
    let position = to_u64(position, None, "chains.position")?;
    let hash = ChainHash::from_slice(&hash).ok_or_else(|| {
        StoreError::database("reading the chain head")(
            format!("the chain head of tenant {tenant} is not a SHA-256 hash").into(),
        )
    })?;
    Ok((position, hash))
}

/// The error for a save whose request row was not where the request expected it: a conflict
/// (another node moved it, or took its id) or, for a request never saved here, not found.
fn stale<S: State>(client: &mut impl GenericClient, request: &Request<S>) -> StoreError {
    let found = client.query_opt(
        "SELECT revision FROM requests WHERE id = $1",
        &[&request.id().to_string()],
    );
    match found {
        Ok(Some(row)) => StoreError::Conflict {
            request: request.id(),
            expected: request.saved_records() as u64,
            found: row
                .try_get::<_, i64>(0)
                .ok()
                .and_then(|r| u64::try_from(r).ok())
                .unwrap_or(0),
        },
        Ok(None) => StoreError::NotFound {
            request: request.id(),
        },
        Err(err) => StoreError::database("reading the request's revision")(Box::new(err)),
    }
}

fn audit_row(row: &postgres::Row) -> Result<AuditRow, StoreError> {
    let read = column_error(None);
    let sequence: i64 = row.try_get(1).map_err(&read)?;
    Ok(AuditRow {
        request: row.try_get(0).map_err(&read)?,
        sequence: to_u64(sequence, None, "sequence")?,
        tenant: row.try_get(2).map_err(&read)?,
        at: row.try_get(3).map_err(&read)?,
        actor_role: row.try_get(4).map_err(&read)?,
        actor_id: row.try_get(5).map_err(&read)?,
        kind: row.try_get(6).map_err(&read)?,
        record: row.try_get(7).map_err(&read)?,
    })
}

/// Loads a request inside `tx`; `lock` holds its row until `tx` ends (in a write transaction,
/// so no other node moves it between this read and the write).
fn load(
    tx: &mut Transaction<'_>,
    statements: &Statements,
    id: RequestId,
    lock: bool,
) -> Result<AnyRequest, StoreError> {
    let read = column_error(Some(id));
    let id_text = id.to_string();
    let header = tx
        .query_opt(
            if lock {
                &statements.load_header_locked
            } else {
                &statements.load_header
            },
            &[&id_text],
        )
        .map_err(db("reading a request"))?;
    let Some(header) = header else {
        return Err(StoreError::NotFound { request: id });
    };
    let tenant: String = header.try_get(0).map_err(&read)?;
    let state: String = header.try_get(1).map_err(&read)?;
    let revision: i64 = header.try_get(2).map_err(&read)?;
    let due_at: Option<String> = header.try_get(3).map_err(&read)?;
    let version: i32 = header.try_get(4).map_err(&read)?;
    let refuse = |column| {
        StoreError::Refused(RecordError::new(
            Some(id),
            None,
            BrokenRule::StoredColumnDisagrees { column },
        ))
    };
    let tenant = TenantId::parse(&tenant).map_err(|_| refuse("tenant"))?;
    let state = StateKind::parse(&state).ok_or_else(|| refuse("state"))?;
    let rows = tx
        .query(&statements.load_trail, &[&id_text])
        .map_err(db("reading a request's audit records"))?;
    let mut trail = Vec::with_capacity(rows.len());
    for row in &rows {
        trail.push(audit_row(row)?.decode()?);
    }
    rows::assemble(
        id,
        tenant,
        state,
        to_u64(revision, Some(id), "revision")?,
        due_at,
        u32::try_from(version).map_err(|_| refuse("record_version"))?,
        trail,
    )
}

fn verify_chain(tx: &mut Transaction<'_>, tenant: TenantId) -> Result<ChainVerdict, StoreError> {
    let tenant_text = tenant.to_string();
    let params: [&(dyn ToSql + Sync); 1] = [&tenant_text];
    let mut rows = tx
        .query_raw(
            "SELECT chain_position, request_id, sequence, tenant, at, actor_role, actor_id, kind, \
             record, previous_hash, hash FROM audit WHERE tenant = $1 ORDER BY chain_position",
            params,
        )
        .map_err(db("verifying the audit chain"))?;
    let next_row = |batch: &mut ChainBatch| {
        let Some(row) = rows.next().map_err(db("verifying the audit chain"))? else {
            return Ok(false);
        };
        let int = |i| {
            row.try_get::<_, i64>(i)
                .ok()
                .and_then(|v| u64::try_from(v).ok())
        };
        let text = |i| row.try_get::<_, &str>(i).ok().map(str::as_bytes);
        let bytes = |i| row.try_get::<_, &[u8]>(i).ok();
        batch.push(
            int(0),
            int(2),
            [
                text(1),
                text(3),
                text(4),
                text(5),
                text(6),
                text(7),
                text(8),
                bytes(9),
                bytes(10),
            ],
        );
        Ok(true)
    };
    let walked = rows::walk_rows(next_row)?;
    drop(rows);
    let revisions = {
        let rows = tx
            .query(
                "SELECT id, revision FROM requests WHERE tenant = $1 ORDER BY id",
                &[&tenant_text],
            )
            .map_err(db("verifying the audit chain"))?;
        rows.iter()
            .map(|row| {
                let id = row
                    .try_get::<_, &str>(0)
                    .ok()
                    .and_then(|id| RequestId::parse(id).ok());
                let revision = row
                    .try_get::<_, i64>(1)
                    .ok()
                    .and_then(|r| u64::try_from(r).ok());
                id.zip(revision)
            })
            .collect()
    };
    rows::conclude(
        tenant,
        walked,
        || Ok(revisions),
        |hash| {
            let row = tx
                .query_opt(
                    "SELECT chain_position FROM audit WHERE tenant = $1 AND hash = $2",
                    &[&tenant_text, &hash],
                )
                .map_err(db("following a broken chain link"))?;
            Ok(row
                .and_then(|row| row.try_get::<_, i64>(0).ok())
                .and_then(|p| u64::try_from(p).ok()))
        },
    )
}
