//! The customer's decisions are the customer's: Contoso's policy lists the keys its people
//! hold (OpenSSH public keys, as in `~/.ssh/id_ed25519.pub`), so access needs the approver's own
//! signature, which nobody at the vendor can make.
//!
//! Adele, Contoso's administrator, signs the first policy with her key; its message shows each
//! key's fingerprint, and Contoso pins hers. A vendor-side caller then grants "as Megan"
//! without her key: refused, and the attempt is on record. Megan signs the statement the store
//! prints (in real life with `ssh-keygen -Y sign -n customer-lockbox -f ~/.ssh/id_ed25519
//! statement.txt`; here with an in-process key), and the grant goes ahead. Offline, from an
//! export and the pinned fingerprint, Contoso checks every signature again.
//!
//! Run with `cargo run --example signed_grant`.

use std::sync::Arc;

use chrono::TimeDelta;
use customer_lockbox::evidence::{Evidence, LogVerdict, log_origin, verify_export};
use customer_lockbox::tlog::SignerKey;
use customer_lockbox::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A person's SSH key. Made here from a fixed seed so the example needs no files; a real
/// person's key is made by `ssh-keygen -t ed25519` (or on a security key, `-t ed25519-sk`),
/// and never leaves them.
struct PersonsKey(ssh_key::PrivateKey);

impl PersonsKey {
    fn from_seed(seed: u8) -> Self {
        let pair = ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]);
        PersonsKey(ssh_key::PrivateKey::from(pair))
    }

    /// The public key line, as the person's `.pub` file holds it.
    fn public(&self) -> Result<CustomerKey> {
        Ok(CustomerKey::parse(&self.0.public_key().to_openssh()?)?)
    }

    /// What `ssh-keygen -Y sign -n customer-lockbox` writes for `text`.
    fn sign(&self, text: &[u8]) -> Result<String> {
        let signature =
            ssh_key::SshSig::sign(&self.0, SIGNATURE_NAMESPACE, ssh_key::HashAlg::Sha512, text)?;
        Ok(signature.to_pem(ssh_key::LineEnding::LF)?)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // ---- The vendor's store, with its log's signing key (an HSM or a KMS in production).
    let signer = SignerKey::from_seed("lockbox.vendor.example", &[42; 32])?;
    let log_key = signer.verifier();
    let store = SqliteStore::open_in_memory().await?;
    store.migrate().await?;
    store.set_checkpoint_signer(signer);
    let clock = Arc::new(ManualClock::new("2026-11-24T08:00:00Z".parse()?));
    store.set_clock(clock.clone());

    // ---- Contoso's people and their keys.
    let contoso = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90")?;
    let adele = TenantAdminId::new("adele@contoso.com")?;
    let megan = ApproverId::new("megan@contoso.com")?;
    let adeles_key = PersonsKey::from_seed(1);
    let megans_key = PersonsKey::from_seed(2);
    let policy = TenantPolicy::new(
        contoso,
        vec![
            DesignatedApprover::new(megan.clone(), EmailAddress::new("megan@contoso.com")?)
                .with_keys(vec![megans_key.public()?]),
        ],
    )?
    .with_administrators(vec![TenantAdministrator::new(
        adele.clone(),
        vec![adeles_key.public()?],
    )]);

    // ---- The first policy with keys is Contoso's root of trust: Adele signs it with her own
    // key, proving she holds it.
    let statement = store.policy_statement(&adele, &policy).await?;
    println!("Adele signs:\n{}", statement.text());
    let signature = adeles_key.sign(statement.as_bytes())?;
    let change = store
        .set_policy_signed(&adele, policy, &signature, clock.now())
        .await?;
    let pinned = adeles_key.public()?.fingerprint();
    println!(
        "Policy version {} is in force. Its message lists each key's fingerprint; Contoso checks \
         Adele's with her (ssh-keygen -l) and pins it: {pinned}\n",
        change.version()
    );

    // ---- A request, approved by the vendor's support manager and notified.
    let alex = EngineerId::new("alex@support.vendor.example")?;
    let sam = SupportManagerId::new("sam@support.vendor.example")?;
    let draft = Draft {
        id: RequestId::new(clock.now()),
        tenant: contoso,
        service_request: ServiceRequestNumber::new("2611240010001234")?,
        services: Services::one(Service::ExchangeOnline),
        access_duration: AccessDuration::from_hours(4)?,
        justification: Justification::new("CFO mailbox stopped syncing after migration")?,
        engineer: alex,
    };
    let id = store.draft(draft, clock.now()).await?.id();
    clock.advance(TimeDelta::minutes(10));
    store.approve(id, &sam, clock.now()).await?;
    store.notify(id, clock.now()).await?;

    // ---- A vendor-side caller grants "as Megan", without her key: refused, on record.
    clock.advance(TimeDelta::minutes(5));
    match store.grant(id, &megan, clock.now()).await {
        Err(StoreError::Refused { refusal, .. }) => {
            println!("The vendor's grant as Megan is refused: {refusal}\n")
        }
        other => return Err(format!("a forged grant was not refused: {other:?}").into()),
    }

    // ---- Megan signs this grant's statement: it names the request, all it asks for, the
    // notification it answers (with its link in the log), and until when it holds.
    let statement = store
        .decision_statement(id, &megan, Decision::Grant)
        .await?;
    println!("Megan signs:\n{}", statement.text());
    let signature = megans_key.sign(statement.as_bytes())?;
    let GrantOutcome::Granted(granted) = store
        .grant_signed(id, &megan, &signature, clock.now())
        .await?
    else {
        return Err("Megan's grant came in time".into());
    };
    for record in granted.audit_trail() {
        println!("  {record}");
    }

    // ---- Offline, at Contoso: the export, the log's public key, a checkpoint from a
    // message, and the pinned fingerprint. Every signature is checked again.
    store.sign_checkpoint(contoso, clock.now()).await?;
    let checkpoint = store
        .latest_checkpoint(contoso)
        .await?
        .ok_or("the log has a checkpoint")?;
    let mut export = Vec::new();
    store.export_log(contoso, &mut export).await?;
    let verdict = verify_export(
        export.as_slice(),
        &log_origin(log_key.name(), contoso),
        std::slice::from_ref(&log_key),
        &[Evidence::new(checkpoint.note().to_owned(), Vec::new())],
        &[pinned.as_str()],
    )?;
    match verdict {
        LogVerdict::Verified {
            size, decisions, ..
        } => println!(
            "\nContoso's check holds: {size} entries, {} decision signed and verified, {} unsigned, \
             the root of trust is the pinned key's.",
            decisions.signed, decisions.unsigned
        ),
        LogVerdict::Broken(broken) => return Err(format!("an honest log failed: {broken}").into()),
    }
    Ok(())
}
