//! A request as values: what a service returns for it, whatever its state.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AnyRequest, Request, with_request};
use crate::state::{Stage, State};
use crate::values::{
    AccessDuration, EngineerId, Justification, RequestId, ServiceRequestNumber, Services, TenantId,
};

/// A request as values, for a page or an API response: what was drafted, the state and what
/// it holds ([`Stage`]), and the revision. Not the trail, which can be long: see
/// [`Request::audit_trail`].
///
/// Serialized flat, with a `state` field naming the state and the state's own fields beside
/// the request's.
///
/// ```
/// # use customer_lockbox::*;
/// # let now: chrono::DateTime<chrono::Utc> = "2026-11-24T08:00:00Z".parse()?;
/// # let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
/// # let policy = TenantPolicy::new(tenant, vec![DesignatedApprover::new(ApproverId::new("megan")?, EmailAddress::new("megan@contoso.com")?)])?;
/// # let draft = Draft { id: RequestId::new(now), tenant, service_request: ServiceRequestNumber::new("2611240010001234")?, services: Services::one(Service::ExchangeOnline), access_duration: AccessDuration::from_hours(4)?, justification: Justification::new("CFO mailbox stopped syncing after migration")?, engineer: EngineerId::new("alex")? };
/// let drafted = Request::draft(draft, &policy, now)?;
/// let view = drafted.view();
/// assert_eq!(view.stage, Stage::Drafted);
/// let json = serde_json::to_value(&view)?;
/// assert_eq!(json["state"], "drafted");
/// assert_eq!(json["access_duration"], 240);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestView {
    /// The request.
    pub id: RequestId,
    /// The customer's tenant.
    pub tenant: TenantId,
    /// The support case.
    pub service_request: ServiceRequestNumber,
    /// The services requested.
    pub services: Services,
    /// How long access was asked for.
    pub access_duration: AccessDuration,
    /// Why.
    pub justification: Justification,
    /// The engineer who drafted it.
    pub engineer: EngineerId,
    /// When it was drafted.
    pub drafted_at: DateTime<Utc>,
    /// How many records it has: changes with every step (an `ETag` for a response).
    pub revision: usize,
    /// When time alone moves it on: a pending request's deadline, a granted one's end of
    /// access.
    pub due_at: Option<DateTime<Utc>>,
    /// Its state, and what the state holds.
    #[serde(flatten)]
    pub stage: Stage,
}

impl<S: State> Request<S> {
    /// The request as values (see [`RequestView`]).
    pub fn view(&self) -> RequestView {
        RequestView {
            id: self.id(),
            tenant: self.tenant(),
            service_request: self.service_request().clone(),
            services: self.services().clone(),
            access_duration: self.access_duration(),
            justification: self.justification().clone(),
            engineer: self.engineer().clone(),
            drafted_at: self.drafted_at(),
            revision: self.audit_trail().len(),
            due_at: self.due_at(),
            stage: crate::state::sealed::Sealed::stage(&self.state),
        }
    }
}

impl AnyRequest {
    /// The request as values (see [`RequestView`]).
    pub fn view(&self) -> RequestView {
        with_request!(self, r => r.view())
    }
}
