//! The Contoso case, end to end: an engineer needs four hours in a mailbox on Exchange Online.
//!
//! A support manager approves, Contoso's admin grants, the engineer works and closes. The
//! program prints the email the admins receive and the audit trail the run leaves.
//!
//! Run with `cargo run --example contoso`.

use chrono::TimeDelta;
use customer_lockbox::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Time is an argument everywhere; a manual clock makes the run repeatable.
    let clock = ManualClock::new("2026-11-24T08:00:00Z".parse()?);

    // Contoso's policy: who may decide, and the longest access they allow (4 hours by default).
    let contoso = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let megan = ApproverId::new("megan@contoso.com")?;
    let policy = TenantPolicy::new(
        contoso,
        vec![DesignatedApprover::new(
            megan.clone(),
            EmailAddress::new("megan@contoso.com")?,
        )],
    )?;

    // 1. The engineer drafts the request.
    let alex = EngineerId::new("alex@support.vendor.example")?;
    let drafted = Request::draft(
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
    println!("drafted request {} ({})", drafted.id(), drafted.state());

    // 2. A support manager, who is not the engineer, approves it.
    clock.advance(TimeDelta::minutes(10));
    let approved = drafted.approve(
        &SupportManagerId::new("sam@support.vendor.example")?,
        clock.now(),
    )?;

    // 3. Contoso's designated approvers are notified. The email contains no links.
    let (pending, email) = approved.notify(&policy, clock.now())?;
    println!("\n--- email to the designated approvers ---");
    for recipient in email.recipients() {
        println!("To: {recipient}");
    }
    println!("Subject: {}\n\n{}", email.subject(), email.body());

    // 4. Megan signs in to her admin center and grants it, 40 minutes later. The outcome says
    //    whether the grant came in time.
    clock.advance(TimeDelta::minutes(40));
    let granted = match pending.grant(&megan, &policy, clock.now())? {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::AwaitingApprovals { remaining, .. } => {
            return Err(format!("Contoso needs {remaining} more approval(s)").into());
        }
        GrantOutcome::Expired(closed) => {
            return Err(format!("too late: {}", closed.reason()).into());
        }
    };
    println!("granted until {}", granted.access_ends_at());

    // 5. The engineer works; each action is recorded while access lasts.
    let mut granted = granted;
    for (minutes, operation, target) in [
        (5, "Get-MailboxFolderStatistics", "cfo mailbox"),
        (25, "Test-MAPIConnectivity", "cfo mailbox"),
    ] {
        clock.advance(TimeDelta::minutes(minutes));
        let action = EngineerAction::new(
            Service::ExchangeOnline,
            Operation::new(operation)?,
            Target::new(target)?,
        );
        granted = match granted.record_action(&alex, action, clock.now())? {
            ActionOutcome::Recorded(granted) => granted,
            ActionOutcome::AccessEnded(closed) => {
                return Err(format!("access ended: {}", closed.reason()).into());
            }
        };
    }

    // The fix is done: the engineer closes the request and access ends at once.
    clock.advance(TimeDelta::minutes(15));
    let closed = granted.close(&alex, clock.now())?;
    println!("closed: {} at {}", closed.reason(), closed.closed_at());

    // 6. The audit trail, searchable.
    let mut log = AuditLog::new();
    log.capture(closed.audit_trail());
    println!("\n--- audit trail ---");
    for record in log.search(&AuditQuery::new().tenant(contoso)).records {
        println!("{record}");
    }
    Ok(())
}
