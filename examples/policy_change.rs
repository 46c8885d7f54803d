//! A tenant administrator changes Contoso's policy while a request is pending: the request keeps
//! the decision window and the approvals it was notified under, who may decide follows the new
//! version at once, and the approvers designated before and after the change are told who
//! changed what and when (the message is printed as the sender gets it).
//!
//! Run with `cargo run --example policy_change`.

use std::sync::Arc;

use chrono::TimeDelta;
use customer_lockbox::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Prints each message it is handed.
struct Printer;

impl Sender for Printer {
    type Error = std::convert::Infallible;

    async fn send(&mut self, delivery: &Delivery) -> std::result::Result<(), Self::Error> {
        let message = delivery.notification();
        let to: Vec<&str> = message
            .recipients()
            .iter()
            .map(EmailAddress::as_str)
            .collect();
        println!(
            "\n===== {} ({}) to {} =====",
            message.kind(),
            delivery.key(),
            to.join(", ")
        );
        println!("Subject: {}\n\n{}", message.subject(), message.body());
        Ok(())
    }
}

fn approver(id: &str) -> Result<DesignatedApprover> {
    Ok(DesignatedApprover::new(
        ApproverId::new(id)?,
        EmailAddress::new(id)?,
    ))
}

#[tokio::main]
async fn main() -> Result<()> {
    let clock = Arc::new(ManualClock::new("2026-11-24T08:00:00Z".parse()?));
    let contoso = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let adele = TenantAdminId::new("adele@contoso.com")?;
    let store = SqliteStore::open_in_memory().await?;
    // The store checks instants against the example's clock, not the system's: a policy
    // change, for one, must be at the store's time.
    store.set_clock(clock.clone());
    let directory = AddressBook::new();
    let lease = TimeDelta::minutes(5);

    // Version 1: Megan and Lee, Azure's settings (4 days to decide, up to 8 hours of access).
    let first = TenantPolicy::azure(
        contoso,
        vec![approver("megan@contoso.com")?, approver("lee@contoso.com")?],
    )?;
    store.set_policy(&adele, first, clock.now()).await?;
    store
        .deliver(&directory, &mut Printer, clock.now(), lease)
        .await?;

    clock.advance(TimeDelta::minutes(5));
    let draft = Draft {
        id: RequestId::new(clock.now()),
        tenant: contoso,
        service_request: ServiceRequestNumber::new("2611240010001234")?,
        services: Services::one(Service::SharePointOnline),
        access_duration: AccessDuration::from_hours(8)?,
        justification: Justification::new("Site collection quota miscounted after migration")?,
        engineer: EngineerId::new("alex@support.vendor.example")?,
    };
    let id = store.draft(draft, clock.now()).await?.id();
    store
        .approve(
            id,
            &SupportManagerId::new("sam@support.vendor.example")?,
            clock.now(),
        )
        .await?;
    let pending = store.notify(id, clock.now()).await?;
    println!(
        "\nrequest pending; decide by {}",
        pending.decision_deadline()
    );

    // Version 2, while the request is pending: Lee leaves, Nestor joins, 12 hours to decide.
    clock.advance(TimeDelta::hours(1));
    let second = TenantPolicy::azure(
        contoso,
        vec![
            approver("megan@contoso.com")?,
            approver("nestor@contoso.com")?,
        ],
    )?
    .with_decision_window(DecisionWindow::from_hours(12)?);
    let change = store.set_policy(&adele, second, clock.now()).await?;
    println!("version {} in force from {}", change.version(), change.at());
    println!(
        "the pending request keeps its window: it was notified under version 1, so its approvers \
         still have until {} (4 days); version 2's 12 hours apply to requests notified from now on",
        pending.decision_deadline()
    );
    store
        .deliver(&directory, &mut Printer, clock.now(), lease)
        .await?;

    // The pending request keeps its 4-day deadline; Lee may no longer decide; Nestor may.
    clock.advance(TimeDelta::hours(20));
    let lee = ApproverId::new("lee@contoso.com")?;
    if let Err(err) = store.grant(id, &lee, clock.now()).await {
        println!("\nLee: {err}");
    }
    let nestor = ApproverId::new("nestor@contoso.com")?;
    match store.grant(id, &nestor, clock.now()).await? {
        GrantOutcome::Granted(granted) => {
            println!(
                "Nestor granted, 21 hours after the notification; access until {}",
                granted.access_ends_at()
            );
        }
        GrantOutcome::AwaitingApprovals { remaining, .. } => {
            return Err(format!("{remaining} more approvals needed").into());
        }
        GrantOutcome::Expired(_) => return Err("the request kept its 4-day window".into()),
    }

    println!("\npolicy history:");
    for change in store.policy_history(contoso).await?.changes() {
        let ids: Vec<&str> = change
            .after()
            .approvers()
            .iter()
            .map(|a| a.id().as_str())
            .collect();
        println!(
            "  version {} at {} by {}: {}",
            change.version(),
            change.at(),
            change.changed_by(),
            ids.join(", ")
        );
    }
    Ok(())
}
