//! Fixtures for this crate's documentation examples. Not part of the public API: hidden from the
//! docs, and built only through the public workflow, like any caller's requests.

#![allow(missing_docs)]

use chrono::{DateTime, Utc};

use crate::*;

type Fixture<S> = Result<(Request<S>, TenantPolicy, DateTime<Utc>), Box<dyn std::error::Error>>;

pub fn drafted() -> Fixture<Drafted> {
    let now: DateTime<Utc> = "2026-11-24T08:00:00Z".parse()?;
    let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let policy = TenantPolicy::new(
        tenant,
        vec![DesignatedApprover::new(
            ApproverId::new("megan")?,
            EmailAddress::new("megan@contoso.com")?,
        )],
    )?;
    let draft = Draft {
        id: RequestId::new(now),
        tenant,
        service_request: ServiceRequestNumber::new("2611240010001234")?,
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(4)?,
        justification: Justification::new("CFO mailbox stopped syncing after migration")?,
        engineer: EngineerId::new("alex")?,
    };
    let drafted = Request::draft(draft, &policy, now)?;
    Ok((drafted, policy, now))
}

pub fn manager_approved() -> Fixture<ManagerApproved> {
    let (drafted, policy, now) = drafted()?;
    Ok((
        drafted.approve(&SupportManagerId::new("sam")?, now)?,
        policy,
        now,
    ))
}

pub fn pending() -> Fixture<PendingCustomer> {
    let (approved, policy, now) = manager_approved()?;
    let (pending, _notification) = approved.notify(&policy, now)?;
    Ok((pending, policy, now))
}

pub fn granted() -> Fixture<Granted> {
    let (pending, policy, now) = pending()?;
    match pending.grant(&ApproverId::new("megan")?, &policy, now)? {
        GrantOutcome::Granted(granted) => Ok((granted, policy, now)),
        GrantOutcome::Expired(_) => Err("the fixture grants at once, before any deadline".into()),
    }
}
