//! The customer's side, offline: Contoso's approvers received a post-access report, which ends
//! with the vendor log's signed checkpoint and a proof of each record of the request. With the
//! log's public key and an export of the log (JSON Lines), they check that the export is the
//! history the vendor signed, with no database and without trusting the vendor. Then an insider
//! with write access to the vendor's database, and no key, rewrites one action, recomputing
//! every hash after it; the same check names the record.
//!
//! Run with `cargo run --example verify`.

use std::sync::Arc;

use chrono::TimeDelta;
use customer_lockbox::evidence::log_origin;
use customer_lockbox::evidence::{Evidence, LogEntry, LogVerdict, verify_export};
use customer_lockbox::tlog::SignerKey;
use customer_lockbox::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The approvers' mailbox: every report's text, as received.
#[derive(Default)]
struct Mailbox(Vec<String>);

impl Sender for Mailbox {
    type Error = std::convert::Infallible;
    async fn send(&mut self, delivery: &Delivery) -> std::result::Result<(), Self::Error> {
        if delivery.notification().kind() == NotificationKind::AccessEnded {
            self.0.push(delivery.notification().body().to_owned());
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // ---- At the vendor. The signing key lives in an HSM or a KMS behind the
    // CheckpointSigner trait; an in-process key serves this example.
    let signer = SignerKey::from_seed("lockbox.vendor.example", &[42; 32])?;
    let public_key = signer.verifier();
    let store = SqliteStore::open_in_memory().await?;
    store.migrate().await?;
    store.set_checkpoint_signer(signer);
    let clock = Arc::new(ManualClock::new("2026-11-24T08:00:00Z".parse()?));
    // The store checks instants against the example's clock, not the system's: a policy
    // change, for one, must be at the store's time.
    store.set_clock(clock.clone());
    let contoso = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let megan = ApproverId::new("megan@contoso.com")?;
    let policy = TenantPolicy::new(
        contoso,
        vec![DesignatedApprover::new(
            megan.clone(),
            EmailAddress::new("megan@contoso.com")?,
        )],
    )?;
    let adele = TenantAdminId::new("adele@contoso.com")?;
    store
        .set_policy(&adele, policy.clone(), clock.now())
        .await?;
    let alex = EngineerId::new("alex@support.vendor.example")?;
    let draft = Draft {
        id: RequestId::new(clock.now()),
        tenant: contoso,
        service_request: ServiceRequestNumber::new("2611240010001234")?,
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(2)?,
        justification: Justification::new("CFO mailbox stopped syncing after migration")?,
        engineer: alex.clone(),
    };
    let id = store.draft(draft, clock.now()).await?.id();
    let sam = SupportManagerId::new("sam@support.vendor.example")?;
    store.approve(id, &sam, clock.now()).await?;
    store.notify(id, clock.now()).await?;
    clock.advance(TimeDelta::minutes(20));
    let GrantOutcome::Granted(_) = store.grant(id, &megan, clock.now()).await? else {
        return Err("one approval is enough, in time".into());
    };
    clock.advance(TimeDelta::minutes(30));
    let read = |mailbox: &str| -> Result<EngineerAction> {
        Ok(EngineerAction::new(
            Service::ExchangeOnline,
            Operation::new("Get-MailboxFolderStatistics")?,
            Target::new(mailbox)?,
        ))
    };
    let report = store
        .record_actions(
            id,
            &alex,
            [read("cfo@contoso.com")?, read("ceo@contoso.com")?],
            clock.now(),
        )
        .await?;
    if !report.is_all_recorded() {
        return Err(format!("not every action was taken: {report:?}").into());
    }
    clock.advance(TimeDelta::minutes(10));
    store.revoke(id, &megan, clock.now()).await?;
    let directory = AddressBook::new()
        .with_engineer(alex, EmailAddress::new("alex@support.vendor.example")?)
        .with_policy(&policy);
    let mut mailbox = Mailbox::default();
    store
        .deliver(&directory, &mut mailbox, clock.now(), TimeDelta::minutes(5))
        .await?;
    let mut export = Vec::new();
    store.export_log(contoso, &mut export).await?;

    // ---- At the customer: the report as received, the export, the log's public key.
    let report = mailbox.0.first().ok_or("the report was delivered")?;
    let evidence = Evidence::from_message(report)?;
    let origin = log_origin(public_key.name(), contoso);
    println!("The log's public key (published by the vendor):\n  {public_key}\n");
    println!(
        "The checkpoint the report carries:\n{}",
        evidence.checkpoint()
    );
    println!("A proof as it appears in the report:");
    let first_proof = report
        .lines()
        .skip_while(|line| !line.starts_with("Record #"))
        .take_while(|line| !line.starts_with("-----END"))
        .collect::<Vec<_>>()
        .join("\n");
    println!("{first_proof}\n-----END CUSTOMER LOCKBOX PROOF-----\n");
    let verdict = verify_export(
        export.as_slice(),
        &origin,
        std::slice::from_ref(&public_key),
        std::slice::from_ref(&evidence),
        &[],
    )?;
    match &verdict {
        LogVerdict::Verified {
            size, checkpoints, ..
        } => println!(
            "The export verifies: {size} entries, {} record proofs, {checkpoints} checkpoint(s).\n",
            evidence.proofs().len()
        ),
        LogVerdict::Broken(broken) => return Err(format!("an honest log failed: {broken}").into()),
    }

    // ---- An insider with write access and no key: the CEO's mailbox read becomes the CFO's
    // again, every hash after it recomputed, the checkpoints that no longer match deleted.
    let rewritten = rewrite(&export, |entry| {
        if let Some(record) = entry["record"].as_str().filter(|r| r.contains("ceo@")) {
            entry["record"] = serde_json::json!(record.replace("ceo@", "cfo@"));
        }
    })?;
    match verify_export(
        rewritten.as_bytes(),
        &origin,
        std::slice::from_ref(&public_key),
        std::slice::from_ref(&evidence),
        &[],
    )? {
        LogVerdict::Broken(broken) => println!("After the insider's rewrite:\n  {broken}"),
        LogVerdict::Verified { .. } => return Err("the rewrite went unnoticed".into()),
    }
    Ok(())
}

/// What the insider can do without the key: edit entries, relink the whole chain (each entry's
/// hashes are public functions of its columns), and drop the signed checkpoints they cannot
/// sign again.
fn rewrite(export: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Result<String> {
    let mut previous = ChainHash::GENESIS;
    let mut out = String::new();
    for line in std::str::from_utf8(export)?.lines() {
        let mut value: serde_json::Value = serde_json::from_str(line)?;
        let Some(entry) = value.get_mut("entry") else {
            continue;
        };
        edit(entry);
        entry["previous_hash"] = serde_json::json!(previous.to_string());
        let relinked: LogEntry = serde_json::from_value(entry.clone())?;
        previous = relinked.link_hash();
        entry["hash"] = serde_json::json!(previous.to_string());
        out.push_str(&value.to_string());
        out.push('\n');
    }
    Ok(out)
}
