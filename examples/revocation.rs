//! How granted access ends without the engineer closing it: the access duration elapses, or the
//! customer revokes it early.
//!
//! Run with `cargo run --example revocation`.

use chrono::TimeDelta;
use customer_lockbox::*;

struct Case {
    policy: TenantPolicy,
    megan: ApproverId,
    alex: EngineerId,
}

/// Drafts, approves, notifies and grants a one-hour request at `clock`'s time.
fn granted_request(
    case: &Case,
    clock: &ManualClock,
    number: &str,
) -> Result<Request<Granted>, Box<dyn std::error::Error>> {
    let drafted = Request::draft(
        Draft {
            id: RequestId::new(clock.now()),
            tenant: case.policy.tenant(),
            service_request: ServiceRequestNumber::new(number)?,
            services: Services::one(Service::ExchangeOnline),
            access_duration: AccessDuration::from_hours(1)?,
            justification: Justification::new("transport rule drops external mail")?,
            engineer: case.alex.clone(),
        },
        &case.policy,
        clock.now(),
    )?;
    let approved = drafted.approve(
        &SupportManagerId::new("sam@support.vendor.example")?,
        clock.now(),
    )?;
    let (pending, _email) = approved.notify(&case.policy, clock.now())?;
    match pending.grant(&case.megan, &case.policy, clock.now())? {
        GrantOutcome::Granted(granted) => Ok(granted),
        GrantOutcome::AwaitingApprovals { .. } => Err("one approval is enough here".into()),
        GrantOutcome::Expired(_) => Err("granted at once, so it cannot have expired".into()),
    }
}

fn print_trail(closed: &Request<Closed>) {
    for record in closed.audit_trail() {
        println!("  {record}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new("2026-11-24T08:00:00Z".parse()?);
    let megan = ApproverId::new("megan@contoso.com")?;
    let case = Case {
        policy: TenantPolicy::new(
            TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?,
            vec![DesignatedApprover::new(
                megan.clone(),
                EmailAddress::new("megan@contoso.com")?,
            )],
        )?,
        megan,
        alex: EngineerId::new("alex@support.vendor.example")?,
    };

    // 1. The duration elapses. The engineer tries one more action after the hour: it is not
    //    recorded as taken; access ends instead, and the attempt is on the record.
    let granted = granted_request(&case, &clock, "2611240010000001")?;
    println!("first request: access until {}", granted.access_ends_at());
    clock.advance(TimeDelta::minutes(61));
    let action = EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new("Get-TransportRule")?,
        Target::new("organization transport rules")?,
    );
    match granted.record_action(&case.alex, action, clock.now())? {
        ActionOutcome::Recorded(_) => {
            return Err("an action after the window must not be recorded".into());
        }
        ActionOutcome::AccessEnded(closed) => {
            println!("{} at {}", closed.reason(), closed.closed_at());
            print_trail(&closed);
        }
    }

    // 2. The customer revokes early, twenty minutes in.
    let granted = granted_request(&case, &clock, "2611240010000002")?;
    clock.advance(TimeDelta::minutes(20));
    match granted.access(clock.now()) {
        Access::Active(granted) => {
            println!(
                "\nsecond request: active until {}",
                granted.access_ends_at()
            );
            let closed = granted.revoke(&case.megan, &case.policy, clock.now())?;
            println!("{} at {}", closed.reason(), closed.closed_at());
            print_trail(&closed);
        }
        Access::Ended(_) => return Err("twenty minutes into a one-hour window".into()),
    }
    Ok(())
}
