//! What a store reads, written once for every backend: loads, listings, audit searches and
//! exports, outbox views, and the tenant's chain.

use std::io::Write;

use tracing::Instrument;
use tracing::field::Empty;

use super::StoreError;
use super::backend::{Backend, OutboxRow, StoredRequest};
use super::chain::{self, ChainBatch, Conclusion};
use super::columns::uuid_text;
use super::handle::Store;
use super::queries;
use super::reports::{
    OutboxAt, OutboxCursor, OutboxEntry, OutboxPage, OutboxQuery, OutboxStatus, RequestsVerdict,
};
use super::requests::{RequestPage, RequestQuery, RequestSummary};
use crate::audit::{
    AuditPage, AuditQuery, AuditRecord, ChainHash, ChainHead, ChainVerdict, PageSize,
};
use crate::delivery::Topic;
use crate::record::{BrokenRule, RecordError, RequestRecord};
use crate::request::AnyRequest;
use crate::values::DeliveryFailure;
use crate::values::NotificationKind;
use crate::values::{RequestId, TenantId};

/// A read whose plan [`Store::explain`] shows.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Explain<'a> {
    /// An audit search.
    Search(&'a AuditQuery),
    /// A request listing.
    Requests(&'a RequestQuery),
    /// An outbox view.
    Outbox(&'a OutboxQuery),
}

impl<B: Backend> Store<B> {
    /// Loads request `id`, checked by replaying its trail through the workflow and comparing
    /// its row with what the trail leads to.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::InvalidRecord`] when the stored request breaks a
    /// workflow rule or its rows disagree with its records (naming the record and the rule);
    /// [`StoreError::Database`].
    pub async fn load(&self, id: RequestId) -> Result<AnyRequest, StoreError> {
        let span =
            tracing::info_span!("lockbox.load", backend = B::NAME, request = %id, revision = Empty);
        async move {
            self.ready().await?;
            let loaded = self.load_checked(id).await?;
            tracing::Span::current().record("revision", loaded.saved_records());
            Ok(loaded)
        }
        .instrument(span)
        .await
    }

    /// Loads and checks request `id` (without checking the schema first).
    pub(super) async fn load_checked(&self, id: RequestId) -> Result<AnyRequest, StoreError> {
        let stored = super::select::request(self.backend(), id)
            .await?
            .ok_or(StoreError::NotFound { request: id })?;
        decode(stored)
    }

    /// One page of a request listing, each request as a list page shows it.
    ///
    /// ```no_run
    /// # async fn page(store: customer_lockbox::SqliteStore, tenant: customer_lockbox::TenantId) -> Result<(), customer_lockbox::StoreError> {
    /// use customer_lockbox::{RequestQuery, StateKind};
    ///
    /// let query = RequestQuery::tenant(tenant).state(StateKind::PendingCustomer);
    /// let page = store.requests(&query).await?;
    /// for request in &page.requests {
    ///     println!("{} {} decide by {:?}", request.id, request.service_request, request.due_at);
    /// }
    /// if let Some(next) = page.next {
    ///     let _second = store.requests(&query.after(next)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidRecord`] for a row the store never writes; [`StoreError::Database`].
    #[tracing::instrument(name = "lockbox.requests", skip_all, fields(backend = B::NAME, returned = tracing::field::Empty))]
    pub async fn requests(&self, query: &RequestQuery) -> Result<RequestPage, StoreError> {
        self.ready().await?;
        let rows = super::select::request_rows(
            self.backend(),
            queries::request_listing(query, &B::placeholder),
        )
        .await?;
        let size = page_len(query.page_size);
        let mut requests = Vec::with_capacity(size.min(rows.len()));
        for row in rows.iter().take(size) {
            requests.push(RequestSummary::of(row)?);
        }
        let next = (rows.len() > size)
            .then(|| requests.last().map(|last| last.cursor(&query.filter)))
            .flatten();
        tracing::Span::current().record("returned", requests.len());
        Ok(RequestPage { requests, next })
    }

    /// What a list page shows of request `id`, from its row alone: no trail is read or
    /// replayed, so it costs one indexed read however long the trail (a load replays it all).
    /// The row is written with every step, in the step's transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::InvalidRecord`] for a row the store never
    /// writes; [`StoreError::Database`].
    #[tracing::instrument(name = "lockbox.summary", skip_all, fields(backend = B::NAME, request = %id))]
    pub async fn summary(&self, id: RequestId) -> Result<RequestSummary, StoreError> {
        self.ready().await?;
        let rows =
            super::select::request_rows(self.backend(), queries::request_row(id, &B::placeholder))
                .await?;
        let row = rows.first().ok_or(StoreError::NotFound { request: id })?;
        Ok(RequestSummary::of(row)?)
    }

    /// The notifications in the outbox for `request`, in the order of the steps that caused
    /// them.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidRecord`] when a row holds a value the store never writes;
    /// [`StoreError::Database`].
    #[tracing::instrument(name = "lockbox.outbox", skip_all, fields(backend = B::NAME, request = %request))]
    pub async fn outbox(&self, request: RequestId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.ready().await?;
        let sql = queries::request_outbox(&uuid_text(request.as_uuid()), &B::placeholder);
        let rows = super::select::outbox_rows(self.backend(), sql).await?;
        rows.iter().map(outbox_entry).collect()
    }

    /// One page of an outbox view across all requests: the notifications not sent yet, or
    /// those whose last attempt failed, with the error.
    ///
    /// # Errors
    ///
    /// As [`outbox`](Self::outbox).
    #[tracing::instrument(name = "lockbox.outbox_view", skip_all, fields(backend = B::NAME, returned = tracing::field::Empty))]
    pub async fn outbox_view(&self, query: &OutboxQuery) -> Result<OutboxPage, StoreError> {
        self.ready().await?;
        let (requests, policies) = super::select::outbox_view(
            self.backend(),
            queries::outbox_view(query, &B::placeholder),
            queries::policy_outbox_view(query, &B::placeholder),
        )
        .await?;
        let size = page_len(query.page_size);
        let mut entries = Vec::with_capacity(size + 1);
        for row in &requests {
            entries.push((outbox_entry(row)?, OutboxAt::Request(row.id)));
        }
        for row in &policies {
            let entry = policy_outbox_entry(row)?;
            let Topic::Policy { tenant, version } = entry.topic else {
                continue;
            };
            entries.push((entry, OutboxAt::Policy { tenant, version }));
        }
        let next = (entries.len() > size)
            .then(|| {
                entries
                    .get(size - 1)
                    .map(|(_, at)| OutboxCursor(at.clone()))
            })
            .flatten();
        entries.truncate(size);
        let entries: Vec<OutboxEntry> = entries.into_iter().map(|(entry, _)| entry).collect();
        tracing::Span::current().record("returned", entries.len());
        Ok(OutboxPage { entries, next })
    }

    /// One page of the audit records matching `query`, in search order, from the indexes.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidRecord`] when a row disagrees with its record;
    /// [`StoreError::Database`].
    #[tracing::instrument(name = "lockbox.search", skip_all, fields(backend = B::NAME, returned = tracing::field::Empty))]
    pub async fn search(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        self.ready().await?;
        let mut records = super::select::audit_records(
            self.backend(),
            queries::audit_search(query, &B::placeholder),
        )
        .await?;
        // The query asks for one more than a page: whether it came says whether there is a next.
        let size = page_len(query.page_size_value());
        let more = records.len() > size;
        records.truncate(size);
        let next = more
            .then(|| records.last().map(AuditRecord::cursor))
            .flatten();
        tracing::Span::current().record("returned", records.len());
        Ok(AuditPage { records, next })
    }

    /// Writes every record matching `query` (all pages, from its cursor on) as JSON Lines:
    /// one record per line, in search order. Returns how many were written. `out` is written
    /// from the calling task: give it a buffer or a file, not a slow network stream.
    ///
    /// # Errors
    ///
    /// As [`search`](Self::search), and [`StoreError::Export`] when `out` fails.
    #[tracing::instrument(name = "lockbox.export", skip_all, fields(backend = B::NAME, written = tracing::field::Empty))]
    pub async fn export_jsonl(
        &self,
        query: &AuditQuery,
        mut out: impl Write + Send,
    ) -> Result<u64, StoreError> {
        let mut query = query.clone().page_size(PageSize::MAX);
        let mut written = 0;
        loop {
            let page = self.search(&query).await?;
            for record in &page.records {
                let line =
                    serde_json::to_string(record).map_err(StoreError::db("encoding a record"))?;
                writeln!(out, "{line}").map_err(StoreError::Export)?;
                written += 1;
            }
            match page.next {
                Some(cursor) => query = query.after(cursor),
                None => break,
            }
        }
        out.flush().map_err(StoreError::Export)?;
        tracing::Span::current().record("written", written);
        Ok(written)
    }

    /// The engine's plan for a read, one line per step: shows which index serves it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the engine cannot plan it.
    #[tracing::instrument(name = "lockbox.explain", skip_all, fields(backend = B::NAME))]
    pub async fn explain(&self, read: Explain<'_>) -> Result<Vec<String>, StoreError> {
        let sql = match read {
            Explain::Search(query) => queries::audit_search(query, &B::placeholder),
            Explain::Requests(query) => queries::request_listing(query, &B::placeholder),
            Explain::Outbox(query) => queries::outbox_view(query, &B::placeholder),
        };
        self.backend().plan(sql).await
    }

    /// The end of `tenant`'s hash chain, to keep a copy of somewhere the database's writers
    /// cannot reach.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails or the stored head is not a hash.
    #[tracing::instrument(name = "lockbox.chain_head", skip_all, fields(backend = B::NAME, tenant = %tenant))]
    pub async fn chain_head(&self, tenant: TenantId) -> Result<Option<ChainHead>, StoreError> {
        self.ready().await?;
        let head = super::select::chain_head(self.backend(), tenant).await?;
        head.map(|(position, hash)| match ChainHash::from_slice(&hash) {
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

    /// Walks `tenant`'s hash chain from the first record, in one snapshot, and reports the
    /// first one that was edited, removed, reordered or inserted, or that the chain is intact.
    /// Rows are hashed on a blocking thread as the backend reads them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the read fails.
    pub async fn verify_chain(&self, tenant: TenantId) -> Result<ChainVerdict, StoreError> {
        let span = tracing::info_span!("lockbox.verify", backend = B::NAME, tenant = %tenant, outcome = Empty);
        async move {
            self.ready().await?;
            let (sink, batches) = tokio::sync::mpsc::channel::<ChainBatch>(4);
            let hashing = tokio::task::spawn_blocking(move || chain::walk(batches));
            let read = self.backend().chain(tenant, sink).await;
            let walked = hashing.await.map_err(chain::hashing_failed)?;
            let revisions = read?;
            let verdict = match chain::conclude(tenant, walked, revisions) {
                Conclusion::Verdict(verdict) => verdict,
                Conclusion::Unlinked {
                    position,
                    record,
                    hash,
                } => {
                    let target = super::select::link_target(self.backend(), tenant, hash).await?;
                    chain::classify(tenant, position, record, target)
                }
            };
            tracing::Span::current().record(
                "outcome",
                if verdict.is_intact() {
                    "intact"
                } else {
                    "broken"
                },
            );
            Ok(verdict)
        }
        .instrument(span)
        .await
    }

    /// Loads every request of `tenant` as [`load`](Self::load) does (replayed through the
    /// workflow, checked against its row and against the tenant's policy history), and reports
    /// each one refused. Every request the store lists is loaded, and so is every request whose
    /// audit records are in the tenant's log without a row (an insider who deleted the row, to
    /// hide the request from listings, is named: [`BrokenRule::RequestRowMissing`]).
    ///
    /// What an auditor runs with [`verify_chain`](Self::verify_chain) and
    /// [`verify_log`](Self::verify_log): those show the log is what was written and signed;
    /// this shows that what was written is what the workflow, under the tenant's own policy,
    /// could have produced.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidPolicy`] when the tenant's policy history does not read (every
    /// request would be refused for it); [`StoreError::InvalidRecord`] for a request row that
    /// does not read as one; [`StoreError::Database`].
    pub async fn verify_requests(&self, tenant: TenantId) -> Result<RequestsVerdict, StoreError> {
        let span = tracing::info_span!(
            "lockbox.verify_requests",
            backend = B::NAME,
            tenant = %tenant,
            loaded = Empty,
            refused = Empty
        );
        async move {
            self.ready().await?;
            // A history that does not read refuses every request: say so once.
            self.policy_history(tenant).await?;
            let mut verdict = RequestsVerdict::default();
            let mut ids = std::collections::BTreeSet::new();
            let mut query = RequestQuery::tenant(tenant).page_size(PageSize::MAX);
            loop {
                let page = self.requests(&query).await?;
                ids.extend(page.requests.iter().map(|summary| summary.id));
                match page.next {
                    Some(next) => query = query.after(next),
                    None => break,
                }
            }
            // The log's requests without a row: at most a page of their records is read (a
            // request's records are few), which names them.
            let orphans = super::select::audit_records(
                self.backend(),
                queries::rows_of_missing_requests(tenant, PageSize::MAX.get(), &B::placeholder),
            )
            .await?;
            let mut missing = std::collections::BTreeSet::new();
            for record in &orphans {
                if !ids.contains(&record.request()) && missing.insert(record.request()) {
                    let rule = BrokenRule::RequestRowMissing;
                    let err = RecordError::new(Some(record.request()), None, rule);
                    verdict.refused.push((record.request(), err.into()));
                }
            }
            for id in ids {
                match self.load_checked(id).await {
                    Ok(_) => verdict.loaded += 1,
                    Err(err @ (StoreError::InvalidRecord(_) | StoreError::InvalidPolicy(_))) => {
                        verdict.refused.push((id, err));
                    }
                    // Deleted since it was listed: nothing to check.
                    Err(StoreError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            verdict.refused.sort_by_key(|(id, _)| *id);
            let span = tracing::Span::current();
            span.record("loaded", verdict.loaded);
            span.record("refused", verdict.refused.len());
            Ok(verdict)
        }
        .instrument(span)
        .await
    }

    /// Every tenant with requests or a policy: each tenant whose log holds anything.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidRecord`] for a tenant column that is no tenant id;
    /// [`StoreError::Database`].
    #[tracing::instrument(name = "lockbox.tenants", skip_all, fields(backend = B::NAME))]
    pub async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.ready().await?;
        super::select::tenants(self.backend())
            .await?
            .iter()
            .map(|text| {
                TenantId::parse(text).map_err(|_| {
                    StoreError::InvalidRecord(RecordError::new(
                        None,
                        None,
                        BrokenRule::StoredColumnDisagrees { column: "tenant" },
                    ))
                })
            })
            .collect()
    }
}

/// A page's length as a count.
fn page_len(size: PageSize) -> usize {
    usize::try_from(size.get()).unwrap_or(usize::MAX)
}

/// A stored request, replayed and checked against its row.
pub(super) fn decode(stored: StoredRequest) -> Result<AnyRequest, StoreError> {
    let refuse = |column| {
        StoreError::InvalidRecord(RecordError::new(
            RequestId::parse(&stored.row.id).ok(),
            None,
            BrokenRule::StoredColumnDisagrees { column },
        ))
    };
    let (id, tenant) = stored.row.ids().ok_or_else(|| refuse("id"))?;
    let state = stored.row.state_kind().ok_or_else(|| refuse("state"))?;
    let history = super::columns::policy_history(tenant, &stored.policies)?;
    // A request notified in format 1 reads as format 2, and its decisions, taken when the
    // store kept no policies, are checked by replay alone.
    let version = if stored.findings.format_1 {
        1
    } else {
        stored.row.record_version
    };
    let loaded =
        RequestRecord::from_parts(version, id, tenant, state, stored.trail).load_under(&history)?;
    stored.row.check(&loaded)?;
    if let Some(unlinked) = stored.findings.unlinked {
        return Err(unlinked.into());
    }
    Ok(loaded)
}

/// An outbox entry from its row, each column checked.
fn outbox_entry(row: &OutboxRow) -> Result<OutboxEntry, StoreError> {
    let request = RequestId::parse(&row.request_id).ok();
    let column = |column| {
        StoreError::InvalidRecord(RecordError::new(
            request,
            Some(row.sequence),
            BrokenRule::StoredColumnDisagrees { column },
        ))
    };
    let kind = NotificationKind::parse(&row.kind).ok_or_else(|| column("outbox.kind"))?;
    let topic = Topic::Request {
        request: request.ok_or_else(|| column("outbox.request_id"))?,
        cause: row.sequence,
    };
    let state = OutboxState {
        status: &row.status,
        attempts: row.attempts,
        last_error: row.last_error.as_deref(),
        lease_until: &row.lease_until,
    };
    state.entry(
        topic,
        kind,
        ["outbox.status", "outbox.last_error", "outbox.lease_until"],
        column,
    )
}

/// A policy change's outbox entry from its row, each column checked.
fn policy_outbox_entry(row: &super::select::PolicyOutboxRow) -> Result<OutboxEntry, StoreError> {
    let column = |column| {
        StoreError::InvalidRecord(RecordError::new(
            None,
            None,
            BrokenRule::StoredColumnDisagrees { column },
        ))
    };
    let topic = Topic::Policy {
        tenant: TenantId::parse(&row.tenant).map_err(|_| column("policy_outbox.tenant"))?,
        version: u32::try_from(row.version).map_err(|_| column("policy_outbox.version"))?,
    };
    let state = OutboxState {
        status: &row.status,
        attempts: row.attempts,
        last_error: row.last_error.as_deref(),
        lease_until: &row.lease_until,
    };
    let names = [
        "policy_outbox.status",
        "policy_outbox.last_error",
        "policy_outbox.lease_until",
    ];
    state.entry(topic, NotificationKind::PolicyChanged, names, column)
}

/// The columns of a message's delivery that both outbox tables keep, as read.
struct OutboxState<'a> {
    status: &'a str,
    attempts: u32,
    last_error: Option<&'a str>,
    lease_until: &'a str,
}

impl OutboxState<'_> {
    /// The entry about `topic`, each column checked; a column that does not read is refused
    /// by its name in `names` (status, last error, lease end) through `column`.
    fn entry(
        &self,
        topic: Topic,
        kind: NotificationKind,
        names: [&'static str; 3],
        column: impl Fn(&'static str) -> StoreError,
    ) -> Result<OutboxEntry, StoreError> {
        Ok(OutboxEntry {
            topic,
            kind,
            status: OutboxStatus::parse(self.status).ok_or_else(|| column(names[0]))?,
            attempts: self.attempts,
            last_error: self
                .last_error
                .map(|text| DeliveryFailure::new(text.to_owned()))
                .transpose()
                .map_err(|_| column(names[1]))?,
            next_attempt_at: stored_instant(self.lease_until).ok_or_else(|| column(names[2]))?,
        })
    }
}

/// An instant as a stored text column holds it.
fn stored_instant(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&chrono::Utc))
}

/// A query read a page at a time: an audit search ([`AuditQuery`]), a request listing
/// ([`RequestQuery`]) or an outbox view ([`OutboxQuery`]). [`Store::pages`] reads any of them
/// page by page, to the end or until told to stop. Sealed: its methods are the store's.
pub trait Paged: Clone + Send + Sync + sealed::Sealed {
    /// What a page holds.
    type Item: Send;
    /// Where a page starts.
    type Cursor: Clone + Send;

    /// One page from `store`: its items and the next page's cursor.
    #[doc(hidden)]
    fn read_page<B: Backend>(
        &self,
        store: &Store<B>,
    ) -> impl Future<Output = PageRead<Self::Item, Self::Cursor>> + Send;

    /// The query from `cursor` on.
    #[doc(hidden)]
    fn starting_at(self, cursor: Self::Cursor) -> Self;
}

/// A page's items and the next page's cursor, or why it was not read.
type PageRead<I, C> = Result<(Vec<I>, Option<C>), StoreError>;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::audit::AuditQuery {}
    impl Sealed for super::RequestQuery {}
    impl Sealed for super::OutboxQuery {}
}

impl Paged for AuditQuery {
    type Item = AuditRecord;
    type Cursor = crate::audit::AuditCursor;

    async fn read_page<B: Backend>(
        &self,
        store: &Store<B>,
    ) -> Result<(Vec<AuditRecord>, Option<crate::audit::AuditCursor>), StoreError> {
        let page = store.search(self).await?;
        Ok((page.records, page.next))
    }

    fn starting_at(self, cursor: crate::audit::AuditCursor) -> Self {
        self.after(cursor)
    }
}

impl Paged for RequestQuery {
    type Item = RequestSummary;
    type Cursor = super::requests::RequestCursor;

    async fn read_page<B: Backend>(
        &self,
        store: &Store<B>,
    ) -> Result<(Vec<RequestSummary>, Option<super::requests::RequestCursor>), StoreError> {
        let page = store.requests(self).await?;
        Ok((page.requests, page.next))
    }

    fn starting_at(self, cursor: super::requests::RequestCursor) -> Self {
        self.after(cursor)
    }
}

impl Paged for OutboxQuery {
    type Item = OutboxEntry;
    type Cursor = OutboxCursor;

    async fn read_page<B: Backend>(
        &self,
        store: &Store<B>,
    ) -> Result<(Vec<OutboxEntry>, Option<OutboxCursor>), StoreError> {
        let page = store.outbox_view(self).await?;
        Ok((page.entries, page.next))
    }

    fn starting_at(self, cursor: OutboxCursor) -> Self {
        self.after(cursor)
    }
}

impl<B: Backend> Store<B> {
    /// Reads `query` page by page from where it starts, handing each page's items to `each`,
    /// until the last page or until `each` answers `false`: the cursor of the page after the
    /// last one read (`None` when it read to the end). Each page is its own read, so a long
    /// listing never holds a transaction open, and what changes between pages may show (as
    /// with any cursor).
    ///
    /// ```no_run
    /// # async fn run(store: customer_lockbox::SqliteStore) -> Result<(), customer_lockbox::StoreError> {
    /// use customer_lockbox::{OutboxQuery, OutboxView};
    ///
    /// let mut failed = Vec::new();
    /// store
    ///     .pages(OutboxQuery::new(OutboxView::Failed), |page| {
    ///         failed.extend(page);
    ///         true
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As the query's own read ([`search`](Self::search), [`requests`](Self::requests),
    /// [`outbox_view`](Self::outbox_view)); the pages read before it were handed to `each`.
    pub async fn pages<Q: Paged>(
        &self,
        mut query: Q,
        mut each: impl FnMut(Vec<Q::Item>) -> bool,
    ) -> Result<Option<Q::Cursor>, StoreError> {
        loop {
            let (items, next) = query.read_page(self).await?;
            let go_on = each(items);
            match next {
                Some(cursor) if go_on => query = query.starting_at(cursor),
                next => return Ok(next),
            }
        }
    }
}
