use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditEventKind, AuditRecord};
use crate::error::{Error, ErrorKind};
use crate::values::{RequestId, TenantId};

/// How many records one page of a search holds: 1 to [`PageSize::MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PageSize(u32);

impl PageSize {
    /// The largest page: 1,000 records.
    pub const MAX: PageSize = PageSize(1000);
    /// The page size of a new [`AuditQuery`]: 100 records.
    pub const DEFAULT: PageSize = PageSize(100);

    /// A page of `size` records.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`Error::is_invalid_page_size`] is true when `size` is 0 or
    /// over [`PageSize::MAX`].
    pub fn new(size: u32) -> Result<Self, Error> {
        if (1..=Self::MAX.0).contains(&size) {
            Ok(PageSize(size))
        } else {
            Err(ErrorKind::PageSize {
                size,
                max: Self::MAX.0,
            }
            .into())
        }
    }

    /// The number of records.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for PageSize {
    type Error = Error;
    fn try_from(size: u32) -> Result<Self, Error> {
        Self::new(size)
    }
}

impl From<PageSize> for u32 {
    fn from(size: PageSize) -> u32 {
        size.0
    }
}

/// A position in the search order (instant, request id, sequence): where the next page starts.
///
/// Serializable, so a caller can hand it to a client and take it back for the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuditCursor {
    at: DateTime<Utc>,
    request: RequestId,
    sequence: u64,
}

impl AuditCursor {
    pub(crate) fn new(at: DateTime<Utc>, request: RequestId, sequence: u64) -> Self {
        AuditCursor {
            at,
            request,
            sequence,
        }
    }

    /// The instant of the record the cursor points at.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The request of the record the cursor points at.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// The sequence number of the record the cursor points at.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

impl std::fmt::Display for AuditCursor {
    /// An opaque text form, for handing the cursor to a client (or a command line) and taking
    /// it back with [`FromStr`](std::str::FromStr).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a{}.{}.{}",
            self.at.timestamp_nanos_opt().unwrap_or_default(),
            self.request.as_uuid().simple(),
            self.sequence
        )
    }
}

impl std::str::FromStr for AuditCursor {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let parsed = (|| {
            let mut parts = text.strip_prefix('a')?.split('.');
            let at = DateTime::from_timestamp_nanos(parts.next()?.parse().ok()?);
            let request = RequestId::from_uuid(uuid::Uuid::try_parse(parts.next()?).ok()?).ok()?;
            let sequence = parts.next()?.parse().ok()?;
            parts
                .next()
                .is_none()
                .then_some(AuditCursor::new(at, request, sequence))
        })();
        parsed.ok_or_else(|| {
            ErrorKind::InvalidCursor {
                input: text.chars().take(64).collect(),
            }
            .into()
        })
    }
}

/// A search over audit records: every filter set must match; unset filters match anything.
///
/// Results come ordered by instant, then request id, then sequence, one page at a time
/// (keyset pagination: pass the previous page's [`AuditPage::next`] to [`AuditQuery::after`]).
///
/// ```
/// use customer_lockbox::{AuditEventKind, AuditQuery, PageSize, TenantId};
///
/// let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// let query = AuditQuery::new()
///     .tenant(tenant)
///     .kind(AuditEventKind::EngineerActed)
///     .since("2026-11-01T00:00:00Z".parse()?)
///     .page_size(PageSize::new(50)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    tenant: Option<TenantId>,
    request: Option<RequestId>,
    actor: Option<Actor>,
    kinds: BTreeSet<AuditEventKind>,
    since: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
    after: Option<AuditCursor>,
    page_size: Option<PageSize>,
}

impl AuditQuery {
    /// A query matching every record, first page, [`PageSize::DEFAULT`] records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only records of `tenant`.
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Only records of `request`.
    pub fn request(mut self, request: RequestId) -> Self {
        self.request = Some(request);
        self
    }

    /// Only records whose actor is `actor` (role and id).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Only records of this kind; call again to admit more kinds.
    pub fn kind(mut self, kind: AuditEventKind) -> Self {
        self.kinds.insert(kind);
        self
    }

    /// Only records at or after `instant`.
    pub fn since(mut self, instant: DateTime<Utc>) -> Self {
        self.since = Some(instant);
        self
    }

    /// Only records strictly before `instant`. With [`since`](Self::since) at or after it, no
    /// record matches.
    pub fn before(mut self, instant: DateTime<Utc>) -> Self {
        self.before = Some(instant);
        self
    }

    /// Start after `cursor`, the [`AuditPage::next`] of the previous page.
    pub fn after(mut self, cursor: AuditCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Records per page.
    pub fn page_size(mut self, size: PageSize) -> Self {
        self.page_size = Some(size);
        self
    }

    /// The tenant filter, if set.
    pub fn tenant_filter(&self) -> Option<TenantId> {
        self.tenant
    }

    /// The request filter, if set.
    pub fn request_filter(&self) -> Option<RequestId> {
        self.request
    }

    /// The actor filter, if set.
    pub fn actor_filter(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// The event kinds admitted; empty admits every kind.
    pub fn kind_filter(&self) -> &BTreeSet<AuditEventKind> {
        &self.kinds
    }

    /// The inclusive lower bound on instants, if set.
    pub fn since_filter(&self) -> Option<DateTime<Utc>> {
        self.since
    }

    /// The exclusive upper bound on instants, if set.
    pub fn before_filter(&self) -> Option<DateTime<Utc>> {
        self.before
    }

    /// Where the page starts (exclusive), if not at the beginning.
    pub fn after_cursor(&self) -> Option<AuditCursor> {
        self.after
    }

    /// Records per page.
    pub fn page_size_value(&self) -> PageSize {
        self.page_size.unwrap_or(PageSize::DEFAULT)
    }

    /// Whether `record` passes every filter (the cursor and page size aside).
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.tenant.is_none_or(|t| t == record.tenant())
            && self.request.is_none_or(|r| r == record.request())
            && self.actor.as_ref().is_none_or(|a| a == record.actor())
            && (self.kinds.is_empty() || self.kinds.contains(&record.event().kind()))
            && self.since.is_none_or(|s| record.at() >= s)
            && self.before.is_none_or(|b| record.at() < b)
    }
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The records, in search order.
    pub records: Vec<AuditRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<AuditCursor>,
}
