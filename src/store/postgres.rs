//! The scale-out store on PostgreSQL: many service nodes over one database.

use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::ops::{
    self, Backend, CLAIM_BATCH, Claimed, finish_request, new_messages, outbox_update,
};
use super::rows::{self, AUDIT_COLUMNS, AuditRow, ChainBatch, Columns, SqlArg};
use super::{AppendReport, DeliveryReport, OutboxEntry, StoreError, SweepReport, instant_text};
use crate::audit::{AuditPage, AuditQuery, AuditRecord, ChainHash, ChainHead, ChainVerdict};
use crate::delivery::{Directory, Sender};
use crate::record::{BrokenRule, RECORD_VERSION, RecordError};
use crate::request::{AnyRequest, DeliveryStep, Request, with_request};
use crate::state::{State, StateKind};
use crate::values::{EngineerAction, EngineerId, RequestId, TenantId};

/// The schema, one migration per version, applied in order and recorded in `lockbox_schema`.
/// Never edit or remove one: add the next.
const MIGRATIONS: &[&str] = &[include_str!("migrations/postgres/0001_initial.sql")];

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
/// - **One chain per tenant, many writers.** A step locks its tenant's row in `chains`, the
///   chain's head, so steps of one tenant from many nodes extend the chain in turn; other
///   tenants' steps go on in parallel.
/// - **Consistent reads.** A load or a chain verification reads one snapshot (repeatable
///   read), whatever other nodes commit meanwhile.
/// - **Schema.** Migrations are recorded in `lockbox_schema`, applied under an advisory lock;
///   a database newer than this build is refused before anything is written.
/// - **Outbox.** Delivery runs claim messages with `FOR UPDATE SKIP LOCKED` under a lease.
pub struct PostgresStore {
    client: Client,
}

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
        Ok(PostgresStore { client })
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
    /// [`StoreError::NotFound`]; [`StoreError::Database`].
    pub fn save<S: State>(&mut self, request: &mut Request<S>) -> Result<(), StoreError> {
        self.save_step(request)
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
    /// [`StoreError::InvalidLease`]; [`StoreError::Database`] when messages cannot be claimed.
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
    /// [`StoreError::Database`] when the due requests cannot be listed.
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
        let mut tx = self
            .client
            .transaction()
            .map_err(db("starting a write transaction"))?;
        save_in(&mut tx, request)?;
        tx.commit().map_err(db("committing a step"))?;
        request.mark_saved();
        Ok(())
    }

    fn load_request(&mut self, id: RequestId) -> Result<AnyRequest, StoreError> {
        let mut tx = read_snapshot(&mut self.client)?;
        let loaded = load(&mut tx, id, false);
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
                 RETURNING id, request_id, sequence, message, attempts",
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
        if let Some(step) = step.clone() {
            let loaded = load(&mut tx, message.request, true)?;
            let mut request = finish_request(loaded, now, message.cause, step)?;
            with_request!(&mut request, r => save_in(&mut tx, r))?;
        }
        let finished = (status != "pending").then_some(now_text.as_str());
        tx.execute(
            "UPDATE outbox SET status = $2, claim = NULL, last_error = coalesce($3, last_error), \
             lease_until = $4, finished_at = $5 WHERE id = $1",
            &[&message.row, &status, &last_error, &lease_until, &finished],
        )
        .map_err(db("updating the outbox"))?;
        tx.commit().map_err(db("committing a delivery"))?;
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

/// Writes `request`'s unsaved steps inside `tx`: the request row, the audit records with their
/// chain links, and the outbox entries.
fn save_in<S: State>(tx: &mut Transaction<'_>, request: &Request<S>) -> Result<(), StoreError> {
    write_request(tx, request)?;
    append_records(tx, request.tenant(), request.unsaved_records())?;
    for (cause, kind, created, message) in new_messages(request)? {
        tx.execute(
            "INSERT INTO outbox (request_id, sequence, kind, created_at, message, status, attempts, \
             lease_until) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $4)",
            &[
                &request.id().to_string(),
                &to_i64(cause),
                &kind.as_str(),
                &created,
                &message,
            ],
        )
        .map_err(db("adding to the outbox"))?;
    }
    Ok(())
}

/// Inserts a new request's row, or moves a stored one if its revision is still the one the
/// request was loaded at. A concurrent writer of the same row waits for this one, then finds
/// the revision moved on: a conflict.
fn write_request<S: State>(
    tx: &mut Transaction<'_>,
    request: &Request<S>,
) -> Result<(), StoreError> {
    let expected = request.saved_records() as u64;
    let revision = to_i64(request.audit_trail().len() as u64);
    let due = request.due_at().map(instant_text);
    let id = request.id().to_string();
    let changed = if expected == 0 {
        tx.execute(
            "INSERT INTO requests (id, tenant, state, revision, due_at, record_version) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            &[
                &id,
                &request.tenant().to_string(),
                &S::KIND.as_str(),
                &revision,
                &due,
                &i32::try_from(RECORD_VERSION).unwrap_or(i32::MAX),
            ],
        )
    } else {
        tx.execute(
            "UPDATE requests SET state = $2, revision = $3, due_at = $4 WHERE id = $1 AND revision = $5",
            &[&id, &S::KIND.as_str(), &revision, &due, &to_i64(expected)],
        )
    }
    .map_err(db("writing the request"))?;
    if changed == 1 {
        return Ok(());
    }
    let found = tx
        .query_opt("SELECT revision FROM requests WHERE id = $1", &[&id])
        .map_err(db("reading the request's revision"))?;
    Err(match found {
        Some(row) => StoreError::Conflict {
            request: request.id(),
            expected,
            found: row
                .try_get::<_, i64>(0)
                .ok()
                .and_then(|r| u64::try_from(r).ok())
                .unwrap_or(0),
        },
        None => StoreError::NotFound {
            request: request.id(),
        },
    })
}

/// Appends `records` to `tenant`'s chain, holding the chain's head row locked until commit.
fn append_records(
    tx: &mut Transaction<'_>,
    tenant: TenantId,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    let tenant_text = tenant.to_string();
    tx.execute(
        "INSERT INTO chains (tenant, position, hash) VALUES ($1, 0, $2) ON CONFLICT (tenant) DO NOTHING",
        &[&tenant_text, &ChainHash::GENESIS.as_bytes().as_slice()],
    )
    .map_err(db("starting the tenant's chain"))?;
    let head = tx
        .query_one(
            "SELECT position, hash FROM chains WHERE tenant = $1 FOR UPDATE",
            &[&tenant_text],
        )
        .map_err(db("locking the tenant's chain"))?;
    let position: i64 = head.try_get(0).map_err(db("reading the chain head"))?;
    let hash: Vec<u8> = head.try_get(1).map_err(db("reading the chain head"))?;
    let mut position = to_u64(position, None, "chains.position")?;
    let mut previous = ChainHash::from_slice(&hash).ok_or_else(|| {
        StoreError::database("reading the chain head")(
            format!("the chain head of tenant {tenant} is not a SHA-256 hash").into(),
        )
    })?;
    let insert = tx
        .prepare(
            "INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, \
             kind, record, previous_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .map_err(db("appending audit records"))?;
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
        tx.execute(
            &insert,
            &[
                &tenant_text,
                &to_i64(position),
                &request,
                &to_i64(record.sequence()),
                &at,
                &role,
                &id,
                &kind,
                &json,
                &previous.as_bytes().as_slice(),
                &hash.as_bytes().as_slice(),
            ],
        )
        .map_err(db("appending audit records"))?;
        previous = hash;
    }
    tx.execute(
        "UPDATE chains SET position = $2, hash = $3 WHERE tenant = $1",
        &[
            &tenant_text,
            &to_i64(position),
            &previous.as_bytes().as_slice(),
        ],
    )
    .map_err(db("moving the chain head"))?;
    Ok(())
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
fn load(tx: &mut Transaction<'_>, id: RequestId, lock: bool) -> Result<AnyRequest, StoreError> {
    let read = column_error(Some(id));
    let id_text = id.to_string();
    let header = tx
        .query_opt(
            if lock {
                "SELECT tenant, state, revision, due_at, record_version FROM requests WHERE id = $1 FOR UPDATE"
            } else {
                "SELECT tenant, state, revision, due_at, record_version FROM requests WHERE id = $1"
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
        .query(
            &format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE request_id = $1 ORDER BY sequence"),
            &[&id_text],
        )
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
