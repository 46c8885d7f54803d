//! The Contoso case persisted: every step saved to a SQLite file, then a second process opens
//! the file, loads the request (checked by replaying its trail), searches the audit records,
//! exports them as JSON Lines and verifies the tenant's hash chain.
//!
//! Run with `cargo run --example store`. The program starts its second process itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::TimeDelta;
use customer_lockbox::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, flag, path, id] if flag == "--reopen" => reopen(Path::new(path), RequestId::parse(id)?),
        _ => first_process(),
    }
}

fn contoso() -> Result<TenantId> {
    Ok(TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?)
}

/// Runs the workflow, saving each step, then hands the file to a second process.
fn first_process() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("customer-lockbox-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path: PathBuf = dir.join("lockbox.db");
    let result = run_and_reopen(&path);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run_and_reopen(path: &Path) -> Result<()> {
    let clock = ManualClock::new("2026-11-24T08:00:00Z".parse()?);
    let tenant = contoso()?;
    let megan = ApproverId::new("megan@contoso.com")?;
    let policy = TenantPolicy::new(
        tenant,
        vec![DesignatedApprover::new(
            megan.clone(),
            EmailAddress::new("megan@contoso.com")?,
        )],
    )?;
    let alex = EngineerId::new("alex@support.vendor.example")?;
    let mut store = SqliteStore::open(path)?;
    println!("process 1: store at {}", path.display());

    let mut drafted = Request::draft(
        Draft {
            id: RequestId::new(clock.now()),
            tenant,
            service_request: ServiceRequestNumber::new("2611240010001234")?,
            services: Services::one(Service::ExchangeOnline),
            access_duration: AccessDuration::from_hours(4)?,
            justification: Justification::new("CFO mailbox stopped syncing after migration")?,
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

    // The notification goes into the outbox in the same transaction as the step.
    // The store writes the approvers' message to its outbox in the same transaction as the
    // step, so the message `notify` returns is not needed here.
    let (mut pending, _message) = approved.notify(&policy, clock.now())?;
    store.save(&mut pending)?;
    println!(
        "process 1: notified; {} message(s) in the outbox",
        store.outbox(id)?.len()
    );

    clock.advance(TimeDelta::minutes(40));
    let mut granted = match pending.grant(&megan, &policy, clock.now())? {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::Expired(_) => return Err("granted within the 12 hours".into()),
    };
    store.save(&mut granted)?;

    // Engineer actions go through the store: each batch is one transaction.
    clock.advance(TimeDelta::minutes(5));
    let actions = ["Get-MailboxFolderStatistics", "Test-MAPIConnectivity"].map(|operation| {
        Operation::new(operation).and_then(|operation| {
            Ok(EngineerAction::new(
                Service::ExchangeOnline,
                operation,
                Target::new("cfo mailbox")?,
            ))
        })
    });
    let report = store.append_actions(
        id,
        &alex,
        actions
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()?,
        clock.now(),
    )?;
    println!("process 1: {} action(s) recorded", report.recorded);

    clock.advance(TimeDelta::minutes(30));
    let AnyRequest::Granted(granted) = store.load(id)? else {
        return Err("still granted".into());
    };
    let mut closed = granted.close(&alex, clock.now())?;
    store.save(&mut closed)?;
    println!(
        "process 1: closed ({}); handing over to a second process",
        closed.reason()
    );
    drop(store);

    let status = Command::new(std::env::current_exe()?)
        .arg("--reopen")
        .arg(path)
        .arg(id.to_string())
        .status()?;
    if !status.success() {
        return Err(format!("the second process failed: {status}").into());
    }
    Ok(())
}

/// Opens the file again, in a new process: load, search, export, verify.
fn reopen(path: &Path, id: RequestId) -> Result<()> {
    let mut store = SqliteStore::open(path)?;
    let loaded = store.load(id)?;
    let AnyRequest::Closed(closed) = &loaded else {
        return Err(format!("expected a closed request, found {}", loaded.state()).into());
    };
    println!(
        "process 2: loaded {id}: {} at {}, {} audit records",
        closed.reason(),
        closed.closed_at(),
        closed.audit_trail().len()
    );

    let actions = store.search(
        &AuditQuery::new()
            .tenant(contoso()?)
            .kind(AuditEventKind::EngineerActed),
    )?;
    println!("process 2: engineer actions on record:");
    for record in &actions.records {
        println!("  {record}");
    }

    println!("process 2: the request's trail as JSON Lines:");
    let written = store.export_jsonl(&AuditQuery::new().request(id), std::io::stdout().lock())?;
    println!("process 2: exported {written} records");

    match store.verify_chain(contoso()?)? {
        ChainVerdict::Intact { head: Some(head) } => {
            println!(
                "process 2: chain intact: {} records, head {}",
                head.position, head.hash
            );
            Ok(())
        }
        ChainVerdict::Intact { head: None } => Err("the chain is empty".into()),
        ChainVerdict::Broken(found) => Err(found.to_string().into()),
    }
}
