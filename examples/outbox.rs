//! The Contoso case through the store's outbox, printing every email as the transport gets it:
//! RFC 5322 messages built with lettre (feature `email`).
//!
//! Each step is one store call; the notifications it causes are written to the outbox in the
//! same transaction. A delivery run hands them to a sender (here, one that prints the formatted
//! message) and records each attempt in the request's audit trail. The first run fails, to
//! show a retry.
//!
//! Run with `cargo run --example outbox --features email`.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::*;
use lettre::message::Mailbox;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Formats each notification as the messages a transport would send, and prints them. Fails
/// while `relay_down` is set, as a relay that refuses connections would.
struct PrintingSender {
    from: Mailbox,
    now: DateTime<Utc>,
    relay_down: bool,
}

impl Sender for PrintingSender {
    type Error = String;

    async fn send(&mut self, delivery: &Delivery) -> std::result::Result<(), String> {
        if self.relay_down {
            return Err("connection to relay.vendor.example:587 refused".to_owned());
        }
        let messages = delivery
            .notification()
            .to_messages(&self.from, self.now)
            .map_err(|err| err.to_string())?;
        for message in messages {
            println!(
                "\n===== {} message, attempt {}, key {} =====",
                delivery.notification().kind(),
                delivery.attempt(),
                delivery.key()
            );
            // The headers as sent; the body as the reader sees it (on the wire it is
            // quoted-printable, which no person should have to read).
            let formatted = String::from_utf8_lossy(&message.formatted()).into_owned();
            let headers = formatted.split("\r\n\r\n").next().unwrap_or_default();
            print!(
                "{}\n\n{}",
                headers.replace("\r\n", "\n"),
                delivery.notification().body()
            );
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let clock = Arc::new(ManualClock::new("2026-11-24T08:00:00Z".parse()?));
    let lease = TimeDelta::minutes(5);
    let contoso = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let megan = ApproverId::new("megan@contoso.com")?;
    let policy = TenantPolicy::new(
        contoso,
        vec![DesignatedApprover::new(
            megan.clone(),
            EmailAddress::new("megan@contoso.com")?,
        )],
    )?;
    let alex = EngineerId::new("alex@support.vendor.example")?;
    // Addresses are looked up when a message is sent, not when it is written.
    let directory = AddressBook::new()
        .with_engineer(
            alex.clone(),
            EmailAddress::new("alex@support.vendor.example")?,
        )
        .with_policy(&policy);
    let mut sender = PrintingSender {
        from: "Customer Lockbox <lockbox@vendor.example>".parse()?,
        now: clock.now(),
        relay_down: true,
    };
    let store = SqliteStore::open_in_memory().await?;
    // The store checks instants against the example's clock, not the system's: a policy
    // change, for one, must be at the store's time.
    store.set_clock(clock.clone());
    let adele = TenantAdminId::new("adele@contoso.com")?;
    store.set_policy(&adele, policy, clock.now()).await?;
    let deliver = async |sender: &mut PrintingSender, now| -> Result<()> {
        sender.now = now;
        let report = store.deliver(&directory, sender, now, lease).await?;
        println!("\n[delivery run at {}: {report}]", now.format("%H:%M"));
        Ok(())
    };

    let draft = Draft {
        id: RequestId::new(clock.now()),
        tenant: contoso,
        service_request: ServiceRequestNumber::new("2611240010001234")?,
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(4)?,
        justification: Justification::new(
            "CFO mailbox stopped syncing after migration; need folder statistics",
        )?,
        engineer: alex.clone(),
    };
    let id = store.draft(draft, clock.now()).await?.id();
    clock.advance(TimeDelta::minutes(10));
    let sam = SupportManagerId::new("sam@support.vendor.example")?;
    store.approve(id, &sam, clock.now()).await?;

    // Notifying writes the approvers' message to the outbox in the same transaction.
    store.notify(id, clock.now()).await?;
    deliver(&mut sender, clock.now()).await?; // the relay is down: kept for a retry
    sender.relay_down = false;
    clock.advance(lease);
    deliver(&mut sender, clock.now()).await?;

    // Megan signs in to her admin center and grants the request.
    clock.advance(TimeDelta::minutes(35));
    match store.grant(id, &megan, clock.now()).await? {
        GrantOutcome::Granted(_) => {}
        GrantOutcome::AwaitingApprovals { .. } => return Err("one approval is enough".into()),
        GrantOutcome::Expired(_) => return Err("granted within 12 hours".into()),
    }
    deliver(&mut sender, clock.now()).await?;

    clock.advance(TimeDelta::minutes(5));
    let actions = [
        ("Get-MailboxFolderStatistics", "cfo mailbox"),
        ("Test-MAPIConnectivity", "cfo mailbox"),
    ]
    .map(|(operation, target)| -> Result<EngineerAction> {
        Ok(EngineerAction::new(
            Service::ExchangeOnline,
            Operation::new(operation)?,
            Target::new(target)?,
        ))
    });
    let actions = actions.into_iter().collect::<Result<Vec<_>>>()?;
    // The report is an enum: a batch with a refused action cannot pass for one recorded whole.
    match store
        .record_actions(id, &alex, actions, clock.now())
        .await?
    {
        AppendReport::Recorded { count } => println!("{count} actions recorded"),
        other => return Err(format!("not every action was taken: {other:?}").into()),
    }

    clock.advance(TimeDelta::minutes(30));
    store.close(id, &alex, clock.now()).await?;
    deliver(&mut sender, clock.now()).await?;

    println!("\n===== audit trail =====");
    for record in store.load(id).await?.audit_trail() {
        println!("{record}");
    }
    Ok(())
}
