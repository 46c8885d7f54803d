use super::Request;
use crate::audit::AuditRecord;
use crate::state::{Closed, Drafted, Granted, ManagerApproved, PendingCustomer, StateKind};
use crate::values::{RequestId, TenantId};

/// A request whose state is known only at run time, such as one loaded from a store.
///
/// Match on it to get back the typed request and its legal steps:
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
/// # let loaded = pending.to_record().load()?;
///
/// match loaded {
///     AnyRequest::PendingCustomer(pending) => println!("decide by {}", pending.decision_deadline()),
///     AnyRequest::Closed(closed) => println!("closed: {}", closed.reason()),
///     other => println!("{} is {}", other.id(), other.state()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum AnyRequest {
    /// A [`Drafted`] request.
    Drafted(Request<Drafted>),
    /// A [`ManagerApproved`] request.
    ManagerApproved(Request<ManagerApproved>),
    /// A [`PendingCustomer`] request.
    PendingCustomer(Request<PendingCustomer>),
    /// A [`Granted`] request.
    Granted(Request<Granted>),
    /// A [`Closed`] request.
    Closed(Request<Closed>),
}

/// Calls `$body` with `$r` bound to the typed request inside `$any`, whatever its state.
macro_rules! with_request {
    ($any:expr, $r:ident => $body:expr) => {
        match $any {
            AnyRequest::Drafted($r) => $body,
            AnyRequest::ManagerApproved($r) => $body,
            AnyRequest::PendingCustomer($r) => $body,
            AnyRequest::Granted($r) => $body,
            AnyRequest::Closed($r) => $body,
        }
    };
}
pub(crate) use with_request;

impl AnyRequest {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        with_request!(self, r => r.id())
    }

    /// The customer's tenant.
    pub fn tenant(&self) -> TenantId {
        with_request!(self, r => r.tenant())
    }

    /// The support case (see [`Request::service_request`]).
    pub fn service_request(&self) -> &crate::values::ServiceRequestNumber {
        with_request!(self, r => r.service_request())
    }

    /// The services requested (see [`Request::services`]).
    pub fn services(&self) -> &crate::values::Services {
        with_request!(self, r => r.services())
    }

    /// How long access was asked for (see [`Request::access_duration`]).
    pub fn access_duration(&self) -> crate::values::AccessDuration {
        with_request!(self, r => r.access_duration())
    }

    /// Why the engineer needs access (see [`Request::justification`]).
    pub fn justification(&self) -> &crate::values::Justification {
        with_request!(self, r => r.justification())
    }

    /// The engineer who drafted it (see [`Request::engineer`]).
    pub fn engineer(&self) -> &crate::values::EngineerId {
        with_request!(self, r => r.engineer())
    }

    /// When it was drafted (see [`Request::drafted_at`]).
    pub fn drafted_at(&self) -> chrono::DateTime<chrono::Utc> {
        with_request!(self, r => r.drafted_at())
    }

    /// Which state the request is in.
    pub fn state(&self) -> StateKind {
        match self {
            AnyRequest::Drafted(_) => StateKind::Drafted,
            AnyRequest::ManagerApproved(_) => StateKind::ManagerApproved,
            AnyRequest::PendingCustomer(_) => StateKind::PendingCustomer,
            AnyRequest::Granted(_) => StateKind::Granted,
            AnyRequest::Closed(_) => StateKind::Closed,
        }
    }

    /// When time alone moves this request on, if it can (see [`Request::due_at`]).
    pub fn due_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        with_request!(self, r => r.due_at())
    }

    /// The instant of the last record (see [`Request::last_step_at`]).
    pub fn last_step_at(&self) -> chrono::DateTime<chrono::Utc> {
        with_request!(self, r => r.last_step_at())
    }

    /// How many records a store has saved (see [`Request::saved_records`]).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn saved_records(&self) -> usize {
        with_request!(self, r => r.saved_records())
    }

    /// The request's audit trail.
    pub fn audit_trail(&self) -> &[AuditRecord] {
        with_request!(self, r => r.audit_trail())
    }
}

macro_rules! from_typed {
    ($($state:ident),*) => {$(
        impl From<Request<$state>> for AnyRequest {
            fn from(request: Request<$state>) -> Self {
                AnyRequest::$state(request)
            }
        }
    )*};
}

from_typed!(Drafted, ManagerApproved, PendingCustomer, Granted, Closed);
