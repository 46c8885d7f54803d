//! The Contoso case persisted: every step saved to a SQLite file, then a second process opens
//! the file, loads the request (checked by replaying its trail), searches the audit records,
//! exports them as JSON Lines and verifies the tenant's hash chain.
//!
//! Run with `cargo run --example store`. The program starts its second process itself.

use std::sync::Arc;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::TimeDelta;
use customer_lockbox::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, flag, path, id] if flag == "--reopen" => {
            reopen(Path::new(path), RequestId::parse(id)?).await
        }
        _ => first_process().await,
    }
}

fn contoso() -> Result<TenantId> {
    Ok(TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?)
}

/// Runs the workflow through the store, then hands the file to a second process.
async fn first_process() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("customer-lockbox-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path: PathBuf = dir.join("lockbox.db");
    let result = run_and_reopen(&path).await;
    std::fs::remove_dir_all(&dir)?;
    result
}

async fn run_and_reopen(path: &Path) -> Result<()> {
    let clock = Arc::new(ManualClock::new("2026-11-24T08:00:00Z".parse()?));
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
    let store = SqliteStore::open(path).await?;
    // The store checks instants against the example's clock, not the system's: a policy
    // change, for one, must be at the store's time.
    store.set_clock(clock.clone());
    store.migrate().await?; // once per deployment: opening a store never changes the file
    println!("process 1: store at {}", path.display());

    // The tenant's policy is the customer's: its administrator sets it, and the store decides
    // every step against it. A caller never passes a policy to a step.
    let adele = TenantAdminId::new("adele@contoso.com")?;
    let change = store.set_policy(&adele, policy, clock.now()).await?;
    println!("process 1: Contoso's policy, version {}", change.version());

    // Each step is one call: the store loads the request, applies the step, saves the result.
    let draft = Draft {
        id: RequestId::new(clock.now()),
        tenant,
        service_request: ServiceRequestNumber::new("2611240010001234")?,
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(4)?,
        justification: Justification::new("CFO mailbox stopped syncing after migration")?,
        engineer: alex.clone(),
    };
    let id = store.draft(draft, clock.now()).await?.id();

    clock.advance(TimeDelta::minutes(10));
    let sam = SupportManagerId::new("sam@support.vendor.example")?;
    let _approved = store.approve(id, &sam, clock.now()).await?;

    // The approvers' message goes to the outbox in the same transaction as the notification.
    let _pending = store.notify(id, clock.now()).await?;
    println!(
        "process 1: notified; {} message(s) in the outbox",
        store.outbox(id).await?.len()
    );

    // An outsider's grant is refused, and the refusal is on record even though the error is
    // simply propagated.
    clock.advance(TimeDelta::minutes(40));
    let mallory = ApproverId::new("mallory@evil.example")?;
    if let Err(err) = store.grant(id, &mallory, clock.now()).await {
        println!("process 1: {err}");
    }
    match store.grant(id, &megan, clock.now()).await? {
        GrantOutcome::Granted(granted) => {
            println!("process 1: granted until {}", granted.access_ends_at());
        }
        GrantOutcome::AwaitingApprovals { .. } => return Err("one approval is enough".into()),
        GrantOutcome::Expired(_) => return Err("granted within the 12 hours".into()),
    }

    // Engineer actions: each batch is one transaction.
    clock.advance(TimeDelta::minutes(5));
    let actions = ["Get-MailboxFolderStatistics", "Test-MAPIConnectivity"]
        .map(|operation| {
            Ok::<_, Error>(EngineerAction::new(
                Service::ExchangeOnline,
                Operation::new(operation)?,
                Target::new("cfo mailbox")?,
            ))
        })
        .into_iter()
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let report = store
        .record_actions(id, &alex, actions, clock.now())
        .await?;
    println!("process 1: {} action(s) recorded", report.recorded());

    clock.advance(TimeDelta::minutes(30));
    let closed = store.close(id, &alex, clock.now()).await?;
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

/// Opens the file again, in a new process and for reading only: load, list, search, export,
/// verify.
async fn reopen(path: &Path, id: RequestId) -> Result<()> {
    let store = SqliteStore::open_read_only(path).await?;
    let loaded = store.load(id).await?;
    let AnyRequest::Closed(closed) = &loaded else {
        return Err(format!("expected a closed request, found {}", loaded.state()).into());
    };
    println!(
        "process 2: loaded {id}: {} at {}, {} audit records",
        closed.reason(),
        closed.closed_at(),
        closed.audit_trail().len()
    );

    let page = store.requests(&RequestQuery::tenant(contoso()?)).await?;
    for request in &page.requests {
        println!(
            "process 2: listed {} ({}, service request {}, drafted {})",
            request.id, request.state, request.service_request, request.drafted_at
        );
    }

    let actions = store
        .search(
            &AuditQuery::new()
                .tenant(contoso()?)
                .kind(AuditEventKind::EngineerActed),
        )
        .await?;
    println!("process 2: engineer actions on record:");
    for record in &actions.records {
        println!("  {record}");
    }

    println!("process 2: the request's trail as JSON Lines:");
    let written = store
        .export_jsonl(&AuditQuery::new().request(id), std::io::stdout())
        .await?;
    println!("process 2: exported {written} records");

    match store.verify_chain(contoso()?).await? {
        ChainVerdict::Intact { head: Some(head) } => {
            let policy_changes = store.policy_history(contoso()?).await?.changes().len();
            println!(
                "process 2: chain intact: {} entries (the request's {written} records and {policy_changes} policy change), head {}",
                head.position, head.hash
            );
            Ok(())
        }
        ChainVerdict::Intact { head: None } => Err("the chain is empty".into()),
        ChainVerdict::Broken(found) => Err(found.to_string().into()),
    }
}
