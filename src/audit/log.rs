use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use crate::audit::{AuditCursor, AuditPage, AuditQuery, AuditRecord};

/// An in-memory collection of audit records, searchable with an [`AuditQuery`].
///
/// Records are added with [`capture`](AuditLog::capture) (a request's trail, say), which is
/// idempotent: capturing a trail again adds only the records it gained since.
///
/// ```
/// use customer_lockbox::{AuditLog, AuditQuery};
/// # use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let megan = ApproverId::new("megan")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// # let drafted = Request::draft(draft, &policy, now)?;
///
/// let mut log = AuditLog::new();
/// assert_eq!(log.capture(drafted.audit_trail()), 1);
/// assert_eq!(log.capture(drafted.audit_trail()), 0);
/// let page = log.search(&AuditQuery::new().request(drafted.id()));
/// assert_eq!(page.records.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    records: BTreeMap<AuditCursor, AuditRecord>,
}

impl AuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the `records` it does not hold yet; returns how many were added.
    pub fn capture(&mut self, records: &[AuditRecord]) -> usize {
        let mut added = 0;
        for record in records {
            if let Entry::Vacant(slot) = self.records.entry(record.cursor()) {
                slot.insert(record.clone());
                added += 1;
            }
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
