//! The Contoso case through the store's outbox, printing every email as the transport gets it:
//! RFC 5322 messages built with lettre (feature `email`).
//!
//! Each step is saved; the notifications it causes are written to the outbox in the same
//! transaction. A delivery run hands them to a sender (here, one that prints the formatted
//! message) and records each attempt in the request's audit trail. The first run fails, to
//! show a retry.
//!
//! Run with `cargo run --example outbox --features email`.

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

    fn send(&mut self, delivery: &Delivery) -> std::result::Result<(), String> {
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
            print!("{}", String::from_utf8_lossy(&message.formatted()));
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let clock = ManualClock::new("2026-11-24T08:00:00Z".parse()?);
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
    let mut store = SqliteStore::open_in_memory()?;
    let deliver = |store: &mut SqliteStore, sender: &mut PrintingSender, now| -> Result<()> {
        sender.now = now;
        let report = store.deliver(&directory, sender, now, lease)?;
        println!("\n[delivery run at {}: {report}]", now.format("%H:%M"));
        Ok(())
    };

    let mut drafted = Request::draft(
        Draft {
            id: RequestId::new(clock.now()),
            tenant: contoso,
            service_request: ServiceRequestNumber::new("2611240010001234")?,
            services: Services::one(Service::ExchangeOnline),
            access_duration: AccessDuration::from_hours(4)?,
            justification: Justification::new(
                "CFO mailbox stopped syncing after migration; need folder statistics",
            )?,
            engineer: alex.clone(),
        },
        &policy,
        clock.now(),
    )?;
    store.save(&mut drafted)?;
    let id = drafted.id();
    clock.advance(TimeDelta::minutes(10));
    let mut approved = drafted.approve(
        &SupportManagerId::new("sam@support.vendor.example")?,
        clock.now(),
    )?;
    store.save(&mut approved)?;

    // Saving the notified request writes the approvers' message to the outbox.
    let (mut pending, _message) = approved.notify(&policy, clock.now())?;
    store.save(&mut pending)?;
    deliver(&mut store, &mut sender, clock.now())?; // the relay is down: kept for a retry
    sender.relay_down = false;
    clock.advance(lease);
    deliver(&mut store, &mut sender, clock.now())?;

    // Megan signs in to her admin center, which loads the request as stored now (the
    // delivery records included), and grants it.
    clock.advance(TimeDelta::minutes(35));
    let AnyRequest::PendingCustomer(pending) = store.load(id)? else {
        return Err("still pending".into());
    };
    let mut granted = match pending.grant(&megan, &policy, clock.now())? {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::Expired(_) => return Err("granted within 12 hours".into()),
    };
    store.save(&mut granted)?;
    deliver(&mut store, &mut sender, clock.now())?;

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
    store.append_actions(id, &alex, actions, clock.now())?;

    clock.advance(TimeDelta::minutes(30));
    let AnyRequest::Granted(granted) = store.load(id)? else {
        return Err("still granted".into());
    };
    let mut closed = granted.close(&alex, clock.now())?;
    store.save(&mut closed)?;
    deliver(&mut store, &mut sender, clock.now())?;

    println!("\n===== audit trail =====");
    for record in store.load(id)?.audit_trail() {
        println!("{record}");
    }
    Ok(())
}
