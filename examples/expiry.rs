//! Nobody answers: 12 hours after the notification, the request expires and gives no access,
//! ever. A grant that arrives late is refused and recorded.
//!
//! Run with `cargo run --example expiry`.

use chrono::TimeDelta;
use customer_lockbox::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new("2026-11-24T08:00:00Z".parse()?);
    let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let megan = ApproverId::new("megan@contoso.com")?;
    let policy = TenantPolicy::new(
        tenant,
        vec![DesignatedApprover::new(
            megan.clone(),
            EmailAddress::new("megan@contoso.com")?,
        )],
    )?;
    let drafted = Request::draft(
        Draft {
            id: RequestId::new(clock.now()),
            tenant,
            service_request: ServiceRequestNumber::new("2611240010005678")?,
            services: Services::new([Service::SharePointOnline, Service::OneDriveForBusiness])?,
            access_duration: AccessDuration::from_hours(2)?,
            justification: Justification::new("files fail to sync to the finance site")?,
            engineer: EngineerId::new("alex@support.vendor.example")?,
        },
        &policy,
        clock.now(),
    )?;
    let approved = drafted.approve(
        &SupportManagerId::new("sam@support.vendor.example")?,
        clock.now(),
    )?;
    let (pending, _email) = approved.notify(&policy, clock.now())?;
    println!(
        "notified at {}; decide by {}",
        pending.notified_at(),
        pending.decision_deadline()
    );

    // Eleven hours later the request is still pending.
    clock.advance(TimeDelta::hours(11));
    let pending = match pending.check_expiry(clock.now()) {
        PendingStatus::Pending(pending) => {
            println!("{}: still pending", clock.now());
            pending
        }
        PendingStatus::Expired(_) => return Err("expired too early".into()),
    };

    // Megan answers 13 hours after the notification: too late. The outcome is Expired, not
    // Granted, and the compiler made us say what happens then.
    clock.advance(TimeDelta::hours(2));
    match pending.grant(&megan, &policy, clock.now())? {
        GrantOutcome::Granted(_) | GrantOutcome::AwaitingApprovals { .. } => {
            return Err("a late grant must not count".into());
        }
        GrantOutcome::Expired(closed) => {
            println!(
                "{}: {} at {}",
                clock.now(),
                closed.reason(),
                closed.closed_at()
            );
            println!("\n--- audit trail ---");
            for record in closed.audit_trail() {
                println!("{record}");
            }
        }
    }
    Ok(())
}
