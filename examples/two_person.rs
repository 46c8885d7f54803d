//! The two-person rule: Contoso's administrator requires two of its designated approvers to
//! grant before any engineer reaches its data. The first approval is recorded and the request
//! waits; the same approver cannot count twice; access starts at the second approval, for
//! exactly the requested duration. Prints the audit trail.
//!
//! Run with `cargo run --example two_person`.

use std::sync::Arc;

use chrono::TimeDelta;
use customer_lockbox::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let clock = Arc::new(ManualClock::new("2026-11-24T08:00:00Z".parse()?));
    let contoso = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let megan = ApproverId::new("megan@contoso.com")?;
    let lee = ApproverId::new("lee@contoso.com")?;
    let store = SqliteStore::open_in_memory().await?;
    // The store checks instants against the example's clock, not the system's: a policy
    // change, for one, must be at the store's time.
    store.set_clock(clock.clone());

    // The customer's administrator sets the policy: two of the two designated must grant.
    let adele = TenantAdminId::new("adele@contoso.com")?;
    let two_person = TenantPolicy::new(
        contoso,
        vec![
            DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?),
            DesignatedApprover::new(lee.clone(), EmailAddress::new("lee@contoso.com")?),
        ],
    )?
    .with_approvals_required(2)?;
    store.set_policy(&adele, two_person, clock.now()).await?;

    let draft = Draft {
        id: RequestId::new(clock.now()),
        tenant: contoso,
        service_request: ServiceRequestNumber::new("2611240010001234")?,
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(2)?,
        justification: Justification::new("CFO mailbox stopped syncing after migration")?,
        engineer: EngineerId::new("alex@support.vendor.example")?,
    };
    let id = store.draft(draft, clock.now()).await?.id();
    clock.advance(TimeDelta::minutes(10));
    store
        .approve(
            id,
            &SupportManagerId::new("sam@support.vendor.example")?,
            clock.now(),
        )
        .await?;
    let pending = store.notify(id, clock.now()).await?;
    println!(
        "notified {} approvers; {} must grant by {}",
        pending.notified_approvers().len(),
        pending.approvals_required(),
        pending.decision_deadline()
    );

    clock.advance(TimeDelta::minutes(30));
    match store.grant(id, &megan, clock.now()).await? {
        GrantOutcome::AwaitingApprovals { remaining, .. } => {
            println!("megan approved; {remaining} more approval needed, no access yet");
        }
        GrantOutcome::Granted(_) => return Err("one approval of two cannot grant".into()),
        GrantOutcome::Expired(_) => return Err("within the decision window".into()),
    }

    // Megan again (spelled differently) does not count twice; the refusal is on record.
    let again = ApproverId::new("MEGAN@contoso.com")?;
    if let Err(err) = store.grant(id, &again, clock.now()).await {
        println!("{err}");
    }

    clock.advance(TimeDelta::minutes(15));
    let granted = match store.grant(id, &lee, clock.now()).await? {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::AwaitingApprovals { remaining, .. } => {
            return Err(format!("{remaining} more needed after two of two").into());
        }
        GrantOutcome::Expired(_) => return Err("within the decision window".into()),
    };
    println!(
        "granted by {} at {}; access until {}",
        granted
            .approvals()
            .iter()
            .map(ApproverId::as_str)
            .collect::<Vec<_>>()
            .join(" and "),
        granted.granted_at(),
        granted.access_ends_at()
    );

    println!("\naudit trail:");
    for record in granted.audit_trail() {
        println!("  {record}");
    }
    Ok(())
}
