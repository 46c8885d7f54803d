//! Listing requests for a platform's pages: by tenant and state, by engineer, by service
//! request, or due before an instant; one keyset page at a time, each row the summary a list
//! page shows.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::columns::RequestRow;
use crate::audit::PageSize;
use crate::error::{Error, ErrorKind};
use crate::record::{BrokenRule, RecordError};
use crate::state::StateKind;
use crate::values::{EngineerId, RequestId, Service, ServiceRequestNumber, Services, TenantId};

/// Which requests a listing returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RequestFilter {
    /// A tenant's requests, in one state or all; newest first.
    Tenant(TenantId, Option<StateKind>),
    /// An engineer's requests; newest first.
    Engineer(EngineerId),
    /// The requests of one support case; newest first.
    ServiceRequest(ServiceRequestNumber),
    /// Pending and granted requests whose deadline or access end falls before an instant;
    /// soonest first.
    DueBefore(DateTime<Utc>),
}

/// A listing of requests, one page at a time (keyset pagination: pass the previous page's
/// [`RequestPage::next`] to [`RequestQuery::after`]).
///
/// ```
/// use customer_lockbox::{RequestQuery, StateKind, TenantId};
///
/// let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// // The admin center's first page: the tenant's requests awaiting a decision.
/// let pending = RequestQuery::tenant(tenant).state(StateKind::PendingCustomer);
/// # Ok::<(), customer_lockbox::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestQuery {
    pub(crate) filter: RequestFilter,
    pub(crate) after: Option<RequestCursor>,
    pub(crate) page_size: PageSize,
}

impl RequestQuery {
    fn of(filter: RequestFilter) -> Self {
        RequestQuery {
            filter,
            after: None,
            page_size: PageSize::DEFAULT,
        }
    }

    /// The requests of `tenant`, newest first.
    pub fn tenant(tenant: TenantId) -> Self {
        Self::of(RequestFilter::Tenant(tenant, None))
    }

    /// Only those in `state` (for a tenant's listing; other listings ignore it).
    pub fn state(mut self, state: StateKind) -> Self {
        if let RequestFilter::Tenant(tenant, _) = self.filter {
            self.filter = RequestFilter::Tenant(tenant, Some(state));
        }
        self
    }

    /// The requests `engineer` drafted, newest first.
    pub fn engineer(engineer: EngineerId) -> Self {
        Self::of(RequestFilter::Engineer(engineer))
    }

    /// The requests of the support case `service_request`, newest first.
    pub fn service_request(service_request: ServiceRequestNumber) -> Self {
        Self::of(RequestFilter::ServiceRequest(service_request))
    }

    /// The pending and granted requests due strictly before `instant` (a decision deadline or
    /// the end of an access window), soonest first.
    pub fn due_before(instant: DateTime<Utc>) -> Self {
        Self::of(RequestFilter::DueBefore(instant))
    }

    /// The pending and granted requests due at or before `instant`: what a sweep at `instant`
    /// moves on (a deadline reached is passed), soonest first.
    pub fn due_by(instant: DateTime<Utc>) -> Self {
        Self::due_before(instant + chrono::TimeDelta::nanoseconds(1))
    }

    /// The page after `cursor`.
    pub fn after(mut self, cursor: RequestCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Pages of `size` requests.
    pub fn page_size(mut self, size: PageSize) -> Self {
        self.page_size = size;
        self
    }
}

/// Where the next page of a listing starts. Opaque: its text form (`Display`, `FromStr`) is
/// for handing it to a client and taking it back, not for reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestCursor {
    /// The sort key of the last request of the page: when it was drafted, or when it is due.
    pub(crate) key: DateTime<Utc>,
    pub(crate) id: RequestId,
}

impl fmt::Display for RequestCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "r{}.{}",
            self.key.timestamp_nanos_opt().unwrap_or_default(),
            self.id.as_uuid().simple()
        )
    }
}

serde_as_text!(RequestCursor);

impl FromStr for RequestCursor {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let parsed = (|| {
            let (nanos, id) = text.strip_prefix('r')?.split_once('.')?;
            let key = DateTime::from_timestamp_nanos(nanos.parse().ok()?);
            let id = RequestId::from_uuid(uuid::Uuid::try_parse(id).ok()?).ok()?;
            Some(RequestCursor { key, id })
        })();
        parsed.ok_or_else(|| {
            ErrorKind::InvalidCursor {
                input: text.chars().take(64).collect(),
            }
            .into()
        })
    }
}

/// What a list page shows of a request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RequestSummary {
    /// The request.
    pub id: RequestId,
    /// The customer's tenant.
    pub tenant: TenantId,
    /// The support case.
    pub service_request: ServiceRequestNumber,
    /// The services requested.
    pub services: Services,
    /// The engineer who drafted it.
    pub engineer: EngineerId,
    /// Its state.
    pub state: StateKind,
    /// When it was drafted.
    pub drafted_at: DateTime<Utc>,
    /// When time alone moves it on: a pending request's decision deadline, a granted
    /// request's end of access.
    pub due_at: Option<DateTime<Utc>>,
    /// How many records it has: changes with every step (an `ETag` for a response).
    pub revision: u64,
}

impl RequestSummary {
    /// The summary in `row`, every column checked.
    pub(crate) fn of(row: &RequestRow) -> Result<RequestSummary, RecordError> {
        let id = RequestId::parse(&row.id).ok();
        let refuse =
            |column| RecordError::new(id, None, BrokenRule::StoredColumnDisagrees { column });
        let instant = |text: &str, column| {
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| refuse(column))
        };
        let services: Option<Vec<Service>> = row.services.split(',').map(Service::parse).collect();
        Ok(RequestSummary {
            id: id.ok_or_else(|| refuse("id"))?,
            tenant: TenantId::parse(&row.tenant).map_err(|_| refuse("tenant"))?,
            service_request: ServiceRequestNumber::new(row.service_request.as_str())
                .map_err(|_| refuse("service_request"))?,
            services: services
                .and_then(|services| Services::new(services).ok())
                .ok_or_else(|| refuse("services"))?,
            engineer: EngineerId::new(row.engineer.as_str())
                .ok()
                .filter(|engineer| engineer.as_str() == row.engineer)
                .ok_or_else(|| refuse("engineer"))?,
            state: row.state_kind().ok_or_else(|| refuse("state"))?,
            drafted_at: instant(&row.drafted_at, "drafted_at")?,
            due_at: row
                .due_at
                .as_deref()
                .map(|due| instant(due, "due_at"))
                .transpose()?,
            revision: row.revision,
        })
    }

    /// The cursor after this request, in the order of `filter`.
    pub(crate) fn cursor(&self, filter: &RequestFilter) -> RequestCursor {
        let key = match filter {
            RequestFilter::DueBefore(_) => self.due_at.unwrap_or(self.drafted_at),
            _ => self.drafted_at,
        };
        RequestCursor { key, id: self.id }
    }
}

/// One page of a listing.
#[derive(Debug, serde::Serialize)]
#[non_exhaustive]
pub struct RequestPage {
    /// The requests, in the listing's order.
    pub requests: Vec<RequestSummary>,
    /// Where the next page starts, if there is one.
    pub next: Option<RequestCursor>,
}
