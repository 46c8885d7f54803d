use std::collections::{BTreeMap, HashMap};

use crate::audit::{AuditCursor, AuditPage, AuditQuery, AuditRecord};
use crate::request::Request;
use crate::state::State;
use crate::values::RequestId;

/// An in-memory collection of audit records, searchable with an [`AuditQuery`].
///
/// Records are taken from requests with [`capture`](AuditLog::capture), which is idempotent:
/// capturing a request again adds only the records it gained since.
///
/// ```
/// use customer_lockbox::{AuditLog, AuditQuery};
/// # let (drafted, _policy, _now) = customer_lockbox::doc_support::drafted()?;
///
/// let mut log = AuditLog::new();
/// assert_eq!(log.capture(&drafted), 1);
/// assert_eq!(log.capture(&drafted), 0);
/// let page = log.search(&AuditQuery::new().request(drafted.id()));
/// assert_eq!(page.records.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    records: BTreeMap<AuditCursor, AuditRecord>,
    captured: HashMap<RequestId, u64>,
}

impl AuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the records of `request` not captured yet; returns how many were added.
    pub fn capture<S: State>(&mut self, request: &Request<S>) -> usize {
        let seen = self.captured.get(&request.id()).copied().unwrap_or(0);
        let mut added = 0;
        for record in request.audit_trail().iter().filter(|r| r.sequence() > seen) {
            self.captured.insert(record.request(), record.sequence());
            self.records.insert(record.cursor(), record.clone());
            added += 1;
        }
        added
    }

    /// How many records the log holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// One page of the records matching `query`, in search order.
    pub fn search(&self, query: &AuditQuery) -> AuditPage {
        let size = query.page_size_value().get() as usize;
        let start = match query.after_cursor() {
            Some(cursor) => std::ops::Bound::Excluded(cursor),
            None => std::ops::Bound::Unbounded,
        };
        let mut matching = self
            .records
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, record)| record)
            .filter(|record| query.matches(record));
        let records: Vec<AuditRecord> = matching.by_ref().take(size).cloned().collect();
        let next = match (matching.next(), records.last()) {
            (Some(_), Some(last)) => Some(last.cursor()),
            _ => None,
        };
        AuditPage { records, next }
    }
}
