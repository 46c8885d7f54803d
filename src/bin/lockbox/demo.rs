//! `lockbox demo`: a store to look at, made through the library's public API as a platform
//! would make one, with the keys and the engineers' addresses written beside it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::tlog::SignerKey;
use customer_lockbox::{
    AccessDuration, ApproverId, DesignatedApprover, Draft, EmailAddress, EngineerAction,
    EngineerId, GrantOutcome, Justification, ManualClock, Operation, RequestId, Service,
    ServiceRequestNumber, Services, SqliteStore, SupportManagerId, Target, TenantAdminId, TenantId,
    TenantPolicy,
};

use crate::cli::DemoArgs;
use crate::failure::{Code, Failure};
use crate::print::{Output, instant};

/// Contoso, the demo's tenant (the README's).
pub const CONTOSO: &str = "8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90";
/// The log's name: each tenant's log is `NAME/TENANT_ID`.
const LOG_NAME: &str = "lockbox.demo.example";

/// The demo's three requests: closed after access, pending, expired.
const CLOSED: &str = "019ab5c0-0000-7000-8000-000000000001";
const PENDING: &str = "019ab5c0-0000-7000-8000-000000000002";
const EXPIRED: &str = "019ab5c0-0000-7000-8000-000000000003";

/// Writes the demo store at `store` (a new SQLite file), its signing key and the engineers'
/// addresses beside it, and says what to try.
pub async fn run(store: Option<String>, args: DemoArgs, out: &Output) -> Result<ExitCode, Failure> {
    let path = PathBuf::from(store.ok_or_else(|| {
        Failure::usage("say where to write the demo store: lockbox demo --store demo.db")
    })?);
    if path.to_string_lossy().contains("://") {
        return Err(Failure::usage(
            "the demo writes a SQLite file: give --store a path such as demo.db",
        ));
    }
    if path.exists() {
        return Err(Failure::usage(format!(
            "{} exists: the demo writes a new store; remove it or give another path",
            path.display()
        )));
    }
    let beside = |suffix: &str| {
        let stem = path
            .file_stem()
            .map_or("demo".into(), |s| s.to_string_lossy());
        path.with_file_name(format!("{stem}{suffix}"))
    };
    let (key_file, vkey_file, engineers_file) =
        (beside(".key"), beside(".vkey"), beside("-engineers.csv"));
    for file in [&key_file, &vkey_file, &engineers_file] {
        if file.exists() {
            return Err(Failure::usage(format!(
                "{} exists: the demo never overwrites a file; remove it or give another --store",
                file.display()
            )));
        }
    }
    let now = args.now.unwrap_or_else(Utc::now);
    let key = crate::evidence::new_key(LOG_NAME)?;
    let ids = populate(&path, &key, now).await.inspect_err(|_| {
        // Leave nothing half made.
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    })?;
    write(&key_file, &key.to_secret_text())?;
    write(&vkey_file, &key.verifier().to_string())?;
    write(
        &engineers_file,
        "# ENGINEER_ID,ADDRESS: where the engineers' notifications go\n\
         alex@support.vendor.example,alex@support.vendor.example",
    )?;
    if out.json() {
        out.json_of(&Written {
            store: &path,
            tenant: CONTOSO,
            closed: ids[0],
            pending: ids[1],
            expired: ids[2],
            signer_key_file: &key_file,
            verifier_key_file: &vkey_file,
            engineers_file: &engineers_file,
        });
    } else {
        out.line(&format!(
            "wrote the demo store {} (tenant Contoso, {CONTOSO}), as of {}:",
            path.display(),
            instant(now)
        ));
        out.line(&format!(
            "  request {CLOSED}: granted, two engineer actions, closed"
        ));
        out.line(&format!(
            "  request {PENDING}: waiting for Contoso's approvers"
        ));
        out.line(&format!("  request {EXPIRED}: expired unanswered"));
        out.line(&format!(
            "and beside it {} (the log's signing key: --signer-key), {} (its public key: --key) and {} (--engineers)",
            key_file.display(),
            vkey_file.display(),
            engineers_file.display()
        ));
        out.line(&format!(
            "next: export LOCKBOX_STORE={}; lockbox requests --tenant {CONTOSO}",
            path.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `demo --json` prints: the files written and the requests to look at.
#[derive(serde::Serialize)]
struct Written<'a> {
    store: &'a Path,
    tenant: &'a str,
    closed: RequestId,
    pending: RequestId,
    expired: RequestId,
    signer_key_file: &'a Path,
    verifier_key_file: &'a Path,
    engineers_file: &'a Path,
}

/// Writes `text` and a newline to `path`.
fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, format!("{text}\n"))
        .map_err(|err| Failure::io(&format!("writing {}", path.display()), err))
}

/// A parsed fixed value of the demo (a constant, so it parses).
fn fixed<T, E: std::fmt::Display>(value: Result<T, E>) -> Result<T, Failure> {
    value.map_err(|err| Failure::new(Code::Failed, format!("the demo's own data: {err}")))
}

/// The demo's history, each step at its instant before `now`, through the store: Contoso's
/// policy; a request that expired unanswered; one granted, acted on and closed; one pending.
async fn populate(
    path: &Path,
    key: &SignerKey,
    now: DateTime<Utc>,
) -> Result<[RequestId; 3], Failure> {
    let store = SqliteStore::open(path).await?;
    store.migrate().await?;
    store.set_checkpoint_signer(fixed(SignerKey::parse(&key.to_secret_text()))?);
    let at = |hours: i64, minutes: i64| now - TimeDelta::hours(hours) - TimeDelta::minutes(minutes);
    let step = |instant: DateTime<Utc>| {
        store.set_clock(ManualClock::new(instant));
        instant
    };
    let tenant = fixed(TenantId::parse(CONTOSO))?;
    let megan = fixed(ApproverId::new("megan@contoso.com"))?;
    let alex = fixed(EngineerId::new("alex@support.vendor.example"))?;
    let sam = fixed(SupportManagerId::new("sam@support.vendor.example"))?;
    let adele = fixed(TenantAdminId::new("adele@contoso.com"))?;
    let policy = fixed(TenantPolicy::new(
        tenant,
        vec![DesignatedApprover::new(
            megan.clone(),
            fixed(EmailAddress::new("megan@contoso.com"))?,
        )],
    ))?;
    store.set_policy(&adele, policy, step(at(48, 0))).await?;
    let ids = [
        fixed(RequestId::parse(CLOSED))?,
        fixed(RequestId::parse(PENDING))?,
        fixed(RequestId::parse(EXPIRED))?,
    ];
    let draft = |id: RequestId, number: &str, why: &str| -> Result<Draft, Failure> {
        Ok(Draft {
            id,
            tenant,
            service_request: fixed(ServiceRequestNumber::new(number))?,
            services: Services::one(Service::ExchangeOnline),
            access_duration: fixed(AccessDuration::from_hours(4))?,
            justification: fixed(Justification::new(why))?,
            engineer: alex.clone(),
        })
    };
    // Expired: nobody at Contoso answered within the 12-hour window.
    let expired = ids[2];
    let drafted = draft(
        expired,
        "2611230010000042",
        "Calendar sharing fails for one room",
    )?;
    store.draft(drafted, step(at(26, 0))).await?;
    store.approve(expired, &sam, step(at(25, 50))).await?;
    store.notify(expired, step(at(25, 40))).await?;
    store.sweep(step(at(13, 40))).await?;
    // Closed: granted by Megan, two reads of the mailbox, closed by the engineer.
    let closed = ids[0];
    let drafted = draft(
        closed,
        "2611240010001234",
        "CFO mailbox stopped syncing after migration",
    )?;
    store.draft(drafted, step(at(6, 0))).await?;
    store.approve(closed, &sam, step(at(5, 50))).await?;
    store.notify(closed, step(at(5, 40))).await?;
    let granted = store.grant(closed, &megan, step(at(5, 0))).await?;
    if !matches!(granted, GrantOutcome::Granted(_)) {
        return Err(Failure::new(
            Code::Failed,
            "the demo's grant did not grant access",
        ));
    }
    let action = |operation: &str| -> Result<EngineerAction, Failure> {
        Ok(EngineerAction::new(
            Service::ExchangeOnline,
            fixed(Operation::new(operation))?,
            fixed(Target::new("cfo@contoso.com"))?,
        ))
    };
    for (operation, instant) in [
        ("Get-MailboxFolderStatistics", at(4, 30)),
        ("Get-MobileDeviceStatistics", at(4, 0)),
    ] {
        let report = store
            .record_actions(closed, &alex, [action(operation)?], step(instant))
            .await?;
        if !report.is_all_recorded() {
            return Err(Failure::new(
                Code::Failed,
                format!("the demo's engineer action was not recorded: {report:?}"),
            ));
        }
    }
    store.close(closed, &alex, step(at(3, 0))).await?;
    // Pending: Contoso's approvers have until 12 hours after the notification.
    let pending = ids[1];
    let drafted = draft(
        pending,
        "2611240010001299",
        "Shared mailbox rules run twice",
    )?;
    store.draft(drafted, step(at(1, 0))).await?;
    store.approve(pending, &sam, step(at(0, 50))).await?;
    store.notify(pending, step(at(0, 40))).await?;
    store.use_own_clock();
    Ok(ids)
}
