//! Each tenant's verifiable log, on each store: trees written with every step, checkpoints
//! signed after every step that sends a message, proofs that verify offline against the public
//! key alone, and the insider who rewrites the database without the key caught by a checkpoint
//! the customer holds.

use chrono::TimeDelta;
use customer_lockbox::evidence::log_origin;
use customer_lockbox::evidence::{Evidence, LogVerdict};
use customer_lockbox::tlog::{self, SignerKey, TlogProof, VerifierKey};
use customer_lockbox::*;

use crate::common::insider::{self, index_of, text_sql};
use crate::common::*;
use crate::harness::Db;

/// The log's signer, in process (a deployment keeps it in an HSM or a KMS).
fn signer() -> SignerKey {
    SignerKey::from_seed("lockbox.vendor.example", &[7; 32]).unwrap()
}

fn key() -> VerifierKey {
    signer().verifier()
}

/// A store with the signer, on a fresh database: Contoso's policy, then a request granted,
/// two actions, and revoked.
async fn with_history<D: Db>() -> (D, Store<D::Backend>, RequestId) {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    let id = granted_as(&store, 1).await;
    let report = store
        .record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    store.revoke(id, &megan(), at(hours(3))).await.unwrap();
    (db, store, id)
}

/// Each step that sends a message is followed by a checkpoint; the last covers the whole log;
/// every entry's inclusion proof, and the consistency proof from every kept checkpoint to the
/// latest, verify with nothing but the public key; the log verifies.
pub async fn every_entry_is_proved_in_a_signed_checkpoint<D: Db>() {
    let (_db, store, _) = with_history::<D>().await;
    let entries = store.log_entries(contoso()).await.unwrap();
    let checkpoints = store.checkpoints(contoso()).await.unwrap();
    assert!(checkpoints.len() >= 3, "{} checkpoints", checkpoints.len());
    let latest = checkpoints.last().unwrap();
    assert_eq!(latest.checkpoint().size(), entries.len() as u64);
    let origin = log_origin("lockbox.vendor.example", contoso());
    assert_eq!(latest.checkpoint().origin(), origin);
    for entry in &entries {
        let proof = store
            .inclusion_proof(contoso(), entry.position())
            .await
            .unwrap();
        let text = proof.to_text();
        TlogProof::parse(&text)
            .unwrap()
            .verify(&entry.leaf_hash(), &origin, &[key()])
            .unwrap();
        // Another entry's leaf is not proved by it.
        let other = &entries[(entry.position() as usize) % entries.len()];
        if other.position() != entry.position() {
            assert!(
                TlogProof::parse(&text)
                    .unwrap()
                    .verify(&other.leaf_hash(), &origin, &[key()])
                    .is_err()
            );
        }
    }
    for kept in &checkpoints {
        let held = kept.checkpoint().clone();
        store
            .consistency_proof(contoso(), held.size())
            .await
            .unwrap()
            .verify(&held, &[key()])
            .unwrap();
    }
    // The roots are RFC 6962's over the entries' leaves.
    let leaves: Vec<_> = entries.iter().map(|e| e.leaf_hash()).collect();
    assert_eq!(latest.checkpoint().root(), &tlog::root(&leaves));
    let held = [Evidence::new(latest.note().to_owned(), Vec::new())];
    match store.verify_log(contoso(), &key(), &held).await.unwrap() {
        LogVerdict::Verified {
            size,
            checkpoints: n,
            ..
        } => {
            assert_eq!(size, entries.len() as u64);
            assert_eq!(n, checkpoints.len());
        }
        LogVerdict::Broken(broken) => panic!("{broken}"),
    }
    // Signing again with nothing new keeps the latest checkpoint.
    let again = store
        .sign_checkpoint(contoso(), at(hours(4)))
        .await
        .unwrap();
    assert_eq!(again.as_ref(), Some(latest));
}

/// Without a signer nothing is signed, and steps go on; a signer given later signs the whole
/// log at once.
pub async fn a_store_without_a_signer_signs_nothing_until_given_one<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    granted_as(&store, 1).await;
    assert!(store.checkpoints(contoso()).await.unwrap().is_empty());
    assert!(matches!(
        store.sign_checkpoint(contoso(), at(hours(2))).await,
        Err(StoreError::NoSigner)
    ));
    // Linked but unsigned: every entry is uncovered.
    let entries = store.log_entries(contoso()).await.unwrap();
    let verdict = store.verify_log(contoso(), &key(), &[]).await.unwrap();
    assert!(
        matches!(verdict, LogVerdict::Verified { covered: 0, .. }),
        "{verdict:?}"
    );
    assert_eq!(verdict.uncovered(), entries.len() as u64);
    store.set_checkpoint_signer(signer());
    let signed = store
        .sign_checkpoint(contoso(), at(hours(2)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signed.checkpoint().size(), entries.len() as u64);
    let verdict = store.verify_log(contoso(), &key(), &[]).await.unwrap();
    assert_eq!(verdict.uncovered(), 0, "{verdict:?}");
    // Steps through a handle without the signer: the new entries are uncovered.
    let unsigned = db.open().await;
    granted_as(&unsigned, 2).await;
    let size = store.log_entries(contoso()).await.unwrap().len() as u64;
    let verdict = store.verify_log(contoso(), &key(), &[]).await.unwrap();
    let covered = signed.checkpoint().size();
    assert!(size > covered);
    assert!(
        matches!(verdict, LogVerdict::Verified { covered: c, .. } if c == covered),
        "{verdict:?}"
    );
    assert_eq!(verdict.uncovered(), size - covered);
    assert!(matches!(
        store
            .inclusion_proof(contoso(), entries.len() as u64 + 1)
            .await,
        Err(StoreError::NoCheckpoint { .. })
    ));
}

/// An insider who edits a stored record without the key: the chain names the record at once;
/// one who also recomputes every later link and the tree is caught by the checkpoint the
/// customer holds, and the store refuses to sign over the rewritten log.
pub async fn an_insiders_rewrite_is_caught_by_a_held_checkpoint<D: Db>() {
    let (db, store, id) = with_history::<D>().await;
    let held = store.latest_checkpoint(contoso()).await.unwrap().unwrap();
    let entries = store.log_entries(contoso()).await.unwrap();
    let action = entries
        .iter()
        .find(|e| e.kind() == "engineer_acted")
        .unwrap()
        .clone();
    // Edit the action's target, leave the link: the entry no longer hashes to its link.
    let edited = action.record().replace("cfo", "ceo");
    assert_ne!(edited, action.record());
    db.sql(&format!(
        "UPDATE audit SET record = '{}' WHERE request_id = '{id}' AND sequence = {}",
        edited.replace('\'', "''"),
        action.sequence()
    ))
    .await
    .unwrap();
    let fresh = db.open().await;
    match fresh
        .verify_log(
            contoso(),
            &key(),
            &[Evidence::new(held.note().to_owned(), Vec::new())],
        )
        .await
        .unwrap()
    {
        LogVerdict::Broken(broken) => {
            assert_eq!(broken.position, action.position());
            assert_eq!(broken.record, Some((id, action.sequence())));
            assert_eq!(broken.tampering, Tampering::Edited);
        }
        LogVerdict::Verified { .. } => panic!("an edited record verified"),
    }
    // Truncate the tail: delete the last records and their leaves. The held checkpoint is
    // larger than the log now.
    let last = entries.last().unwrap();
    db.sql(&format!(
        "UPDATE audit SET record = '{}' WHERE request_id = '{id}' AND sequence = {};
         DELETE FROM audit WHERE tenant = '{}' AND chain_position >= {};
         DELETE FROM requests WHERE id = '{id}';",
        action.record().replace('\'', "''"),
        action.sequence(),
        contoso(),
        action.position(),
    ))
    .await
    .unwrap();
    let verdict = fresh
        .verify_log(
            contoso(),
            &key(),
            &[Evidence::new(held.note().to_owned(), Vec::new())],
        )
        .await
        .unwrap();
    match verdict {
        LogVerdict::Broken(broken) => {
            assert_eq!(broken.tampering, Tampering::Removed, "{broken}");
            assert_eq!(broken.position, action.position(), "{broken}");
        }
        LogVerdict::Verified { .. } => panic!("a truncated log verified"),
    }
    // The store does not sign over it.
    fresh.set_checkpoint_signer(signer());
    match fresh.sign_checkpoint(contoso(), at(hours(5))).await {
        Err(StoreError::LogBroken { reason, .. }) => {
            assert!(reason.contains("fewer than"), "{reason}");
        }
        other => panic!("signed over a truncated log: {other:?}"),
    }
    assert!(last.position() > action.position());
}

/// A database the record-format-2 build wrote (the committed fixture) gets each tenant's tree
/// built over its records, in chain order, when migrated: every request loads as committed,
/// a checkpoint signed over it proves every entry, and the log verifies.
pub async fn a_record_format_2_database_builds_its_trees_when_migrated<D: Db>() {
    let db = D::fixture_database("record-v2").await;
    let store = db.open().await;
    store.migrate().await.unwrap();
    for (name, record) in fixture_records("record-v2") {
        let loaded = store.load(record.id()).await.unwrap();
        // The same record, read as the current format (its decisions unsigned).
        assert_eq!(
            loaded.to_record().to_json().unwrap(),
            record.to_json().unwrap(),
            "{name}"
        );
        assert!(loaded.audit_trail().iter().all(|r| r.signature().is_none()));
    }
    store.set_checkpoint_signer(signer());
    for tenant in [contoso(), fabrikam()] {
        let entries = store.log_entries(tenant).await.unwrap();
        assert!(!entries.is_empty());
        let signed = store
            .sign_checkpoint(tenant, at(hours(20)))
            .await
            .unwrap()
            .unwrap();
        let leaves: Vec<_> = entries.iter().map(|e| e.leaf_hash()).collect();
        assert_eq!(signed.checkpoint().root(), &tlog::root(&leaves));
        assert!(
            store
                .verify_log(
                    tenant,
                    &key(),
                    &[Evidence::new(signed.note().to_owned(), Vec::new())]
                )
                .await
                .unwrap()
                .is_verified()
        );
    }
    // And the log grows on from the migrated tree.
    let id = granted_as(&store, 40).await;
    store.revoke(id, &megan(), at(hours(3))).await.unwrap();
    let latest = store.latest_checkpoint(contoso()).await.unwrap().unwrap();
    assert_eq!(
        latest.checkpoint().size(),
        store.log_entries(contoso()).await.unwrap().len() as u64
    );
}

/// A database the schema-5 build wrote (the committed fixture: the record-v2 run with a
/// checkpoint signer, 25 checkpoints kept) migrates to this build's schema; every request loads
/// as committed, every log it signed still verifies against every checkpoint it kept, and steps
/// go on, with idempotency keys, over the signed trees.
pub async fn a_schema_5_database_migrates_and_its_signed_logs_still_verify<D: Db>() {
    let db = D::fixture_database("schema-5").await;
    let store = db.open().await;
    assert!(matches!(
        store.tenants().await.unwrap_err(),
        StoreError::SchemaBehind { found: 5, .. }
    ));
    store.migrate().await.unwrap();
    for (name, record) in fixture_records("schema-5") {
        let loaded = store.load(record.id()).await.unwrap();
        // The same record, read as the current format (its decisions unsigned).
        assert_eq!(
            loaded.to_record().to_json().unwrap(),
            record.to_json().unwrap(),
            "{name}"
        );
        assert!(loaded.audit_trail().iter().all(|r| r.signature().is_none()));
    }
    assert_eq!(db.count("SELECT count(*) FROM checkpoints").await, 25);
    for tenant in [contoso(), fabrikam()] {
        assert!(store.verify_chain(tenant).await.unwrap().is_intact());
        let held: Vec<Evidence> = store
            .checkpoints(tenant)
            .await
            .unwrap()
            .iter()
            .map(|kept| Evidence::new(kept.note().to_owned(), Vec::new()))
            .collect();
        assert!(!held.is_empty());
        let verdict = store.verify_log(tenant, &key(), &held).await.unwrap();
        assert!(verdict.is_verified(), "{tenant}: {verdict:?}");
    }
    // The export is the one committed beside the fixture, byte for byte (written by the build
    // before the hashed entry became one type), and that export verifies offline.
    let committed = std::fs::read(fixture("schema-5/contoso.export.jsonl")).unwrap();
    let mut export = Vec::new();
    store.export_log(contoso(), &mut export).await.unwrap();
    assert!(export == committed, "the export format changed");
    let verdict = customer_lockbox::evidence::verify_export(
        committed.as_slice(),
        &log_origin("lockbox.vendor.example", contoso()),
        &[key()],
        &[Evidence::new(
            store
                .latest_checkpoint(contoso())
                .await
                .unwrap()
                .unwrap()
                .note()
                .to_owned(),
            Vec::new(),
        )],
        &[],
    )
    .unwrap();
    assert!(
        matches!(verdict, LogVerdict::Verified { size: 84, .. }),
        "{verdict:?}"
    );
    // Steps go on: the pending request (one of two approvals given) is granted by a second
    // approver, repeated with its key, and the log signed on from the kept checkpoints.
    store.set_checkpoint_signer(signer());
    let pending = fixture_records("schema-5")
        .into_iter()
        .find(|(name, _)| name == "pending_customer")
        .unwrap()
        .1
        .id();
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    for _ in 0..2 {
        let outcome = store
            .grant(pending, &lee, at(hours(15)))
            .idempotency_key(IdempotencyKey::new("grant-lee").unwrap())
            .await
            .unwrap();
        assert!(matches!(outcome, GrantOutcome::Granted(_)));
    }
    let latest = store.latest_checkpoint(contoso()).await.unwrap().unwrap();
    assert_eq!(
        latest.checkpoint().size(),
        store.log_entries(contoso()).await.unwrap().len() as u64
    );
    let verdict = store.verify_log(contoso(), &key(), &[]).await.unwrap();
    assert!(verdict.is_verified(), "{verdict:?}");
}

/// Keeps every message's evidence, as the customer's mailbox does.
#[derive(Default)]
struct Mailbox(Vec<Evidence>);

impl Sender for Mailbox {
    type Error = std::convert::Infallible;
    async fn send(&mut self, delivery: &Delivery) -> Result<(), Self::Error> {
        if let Some(evidence) = delivery.evidence() {
            self.0.push(evidence.clone());
        }
        Ok(())
    }
}

/// The customer's side of a request: Contoso's approvers get the decision message, grant,
/// the engineer records three actions, the approver revokes, and the report arrives. Returns
/// the request and the evidence the approvers hold.
async fn customer_holds<D: Db>() -> (D, Store<D::Backend>, RequestId, Vec<Evidence>) {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    let mut mailbox = Mailbox::default();
    let lease = TimeDelta::minutes(5);
    let id = pending_as(&store, 1).await;
    store
        .deliver(&directory(), &mut mailbox, at(minutes(25)), lease)
        .await
        .unwrap();
    let GrantOutcome::Granted(_) = store.grant(id, &megan(), at(hours(1))).await.unwrap() else {
        panic!("in time")
    };
    let target = |name: &str| {
        EngineerAction::new(
            Service::ExchangeOnline,
            Operation::new("Get-MailboxFolderStatistics").unwrap(),
            Target::new(format!("{name}@contoso.com")).unwrap(),
        )
    };
    let report = store
        .record_actions(
            id,
            &alex(),
            [target("cfo"), target("ceo"), target("cto")],
            at(hours(2)),
        )
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    store.revoke(id, &megan(), at(hours(3))).await.unwrap();
    store
        .deliver(&directory(), &mut mailbox, at(hours(3)), lease)
        .await
        .unwrap();
    assert_eq!(mailbox.0.len(), 2, "the decision message and the report");
    (db, store, id, mailbox.0)
}

/// What an insider with write access and no key does ([`insider::rewrite_sql`]), run on `db`.
async fn rewrite<D: Db>(
    db: &D,
    store: &Store<D::Backend>,
    edit: impl FnOnce(&mut Vec<serde_json::Value>),
) {
    let sql = insider::rewrite_sql(store, contoso(), D::NAME == "postgres", edit).await;
    db.sql(&sql).await.unwrap();
}

/// The sequence of `id`'s first record of `kind` in the store's log.
async fn sequence_of<B: Backend>(store: &Store<B>, id: RequestId, kind: &str, nth: usize) -> u64 {
    store
        .log_entries(contoso())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.request() == Some(id) && e.kind() == kind)
        .nth(nth)
        .unwrap()
        .sequence()
}

/// Verifies Contoso's log, on a fresh store and offline from its export, against what the
/// customer holds: both must name `record` as one of `tampering`.
async fn caught<D: Db>(
    db: &D,
    held: &[Evidence],
    record: (RequestId, u64),
    tampering: &[Tampering],
) {
    let fresh = db.open().await;
    let verdicts = [fresh.verify_log(contoso(), &key(), held).await.unwrap(), {
        let mut export = Vec::new();
        fresh.export_log(contoso(), &mut export).await.unwrap();
        customer_lockbox::evidence::verify_export(
            export.as_slice(),
            &log_origin("lockbox.vendor.example", contoso()),
            &[key()],
            held,
            &[],
        )
        .unwrap()
    }];
    for verdict in verdicts {
        match verdict {
            LogVerdict::Broken(broken) => {
                assert_eq!(broken.record, Some(record), "{broken}");
                assert!(tampering.contains(&broken.tampering), "{broken}");
            }
            LogVerdict::Verified { .. } => panic!("the rewritten log verified"),
        }
    }
}

/// Deleting one engineer action (the second of three), and relinking everything after it.
pub async fn an_insider_deleting_an_action_is_named<D: Db>() {
    let (db, store, id, held) = customer_holds::<D>().await;
    let second = sequence_of(&store, id, "engineer_acted", 1).await;
    rewrite(&db, &store, |values| {
        values.remove(index_of(values, id, second));
        for v in values
            .iter_mut()
            .filter(|v| v["request_id"] == id.to_string())
        {
            if v["sequence"].as_u64().unwrap() > second {
                let sequence = v["sequence"].as_u64().unwrap() - 1;
                let record = v["record"].as_str().unwrap().replacen(
                    &format!("\"sequence\":{}", sequence + 1),
                    &format!("\"sequence\":{sequence}"),
                    1,
                );
                v["sequence"] = serde_json::json!(sequence);
                v["record"] = serde_json::json!(record);
            }
        }
    })
    .await;
    // The insider renumbered the later records to keep the request whole, so the record now
    // numbered #`second` is another one: removed and edited are the same bytes here.
    caught(
        &db,
        &held,
        (id, second),
        &[Tampering::Removed, Tampering::Edited],
    )
    .await;
}

/// Editing one action's target (the engineer read the CEO's mailbox, not the CFO's).
pub async fn an_insider_editing_an_action_is_named<D: Db>() {
    let (db, store, id, held) = customer_holds::<D>().await;
    let second = sequence_of(&store, id, "engineer_acted", 1).await;
    rewrite(&db, &store, |values| {
        let at = index_of(values, id, second);
        let v = &mut values[at];
        let record = v["record"].as_str().unwrap().replace("ceo@", "cfo@");
        v["record"] = serde_json::json!(record);
    })
    .await;
    caught(&db, &held, (id, second), &[Tampering::Edited]).await;
    // The insider deleted the checkpoints the rewrite broke, so the store, finding the last
    // kept one extended, signs the rewritten log at its next signing: that checkpoint and the
    // one the customer holds cannot both be true, and the log's own proof shows it.
    let fresh = db.open().await;
    fresh.set_checkpoint_signer(signer());
    fresh
        .sign_checkpoint(contoso(), at(hours(4)))
        .await
        .unwrap();
    let report = held.last().unwrap();
    let customers = customer_lockbox::tlog::Checkpoint::open(
        report.checkpoint(),
        &log_origin("lockbox.vendor.example", contoso()),
        &[key()],
    )
    .unwrap();
    let proof = fresh
        .consistency_proof(contoso(), customers.size())
        .await
        .unwrap();
    assert!(
        matches!(
            proof.verify(&customers, &[key()]),
            Err(customer_lockbox::tlog::TlogError::Forked { .. })
        ),
        "the rewritten log's checkpoint extends the customer's"
    );
}

/// Changing who granted (Megan's grant made Lee's).
pub async fn an_insider_changing_the_granter_is_named<D: Db>() {
    let (db, store, id, held) = customer_holds::<D>().await;
    let granted = sequence_of(&store, id, "granted", 0).await;
    rewrite(&db, &store, |values| {
        let at = index_of(values, id, granted);
        let v = &mut values[at];
        for column in ["record", "actor_id"] {
            let text = v[column].as_str().unwrap().replace("megan@", "lee@");
            v[column] = serde_json::json!(text);
        }
    })
    .await;
    caught(&db, &held, (id, granted), &[Tampering::Edited]).await;
}

/// Moving the grant earlier (to before the decision message went out).
pub async fn an_insider_moving_the_grant_earlier_is_named<D: Db>() {
    let (db, store, id, held) = customer_holds::<D>().await;
    let granted = sequence_of(&store, id, "granted", 0).await;
    rewrite(&db, &store, |values| {
        let at = index_of(values, id, granted);
        let v = &mut values[at];
        for column in ["record", "at"] {
            let text = v[column]
                .as_str()
                .unwrap()
                .replace("2026-11-24T09:00:00", "2026-11-24T08:21:00");
            v[column] = serde_json::json!(text);
        }
    })
    .await;
    caught(&db, &held, (id, granted), &[Tampering::Edited]).await;
}

/// Fabricating a whole granted request (a copy of this one under another id) and slipping it
/// into the history before the real grant.
pub async fn an_insider_fabricating_a_request_is_named<D: Db>() {
    let (db, store, id, held) = customer_holds::<D>().await;
    let fake = request_id(66);
    db.sql(&format!(
        "INSERT INTO requests SELECT '{fake}', tenant, state, revision, due_at, record_version, \
         service_request, services, engineer, drafted_at FROM requests WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    let granted = sequence_of(&store, id, "granted", 0).await;
    rewrite(&db, &store, |values| {
        let at = index_of(values, id, granted);
        let copies: Vec<serde_json::Value> = values
            .iter()
            .filter(|v| v["request_id"] == id.to_string())
            .map(|v| {
                let mut copy = v.clone();
                for column in ["request_id", "record"] {
                    let text = copy[column]
                        .as_str()
                        .unwrap()
                        .replace(&id.to_string(), &fake.to_string());
                    copy[column] = serde_json::json!(text);
                }
                copy
            })
            .collect();
        for (n, copy) in copies.into_iter().enumerate() {
            values.insert(at + n, copy);
        }
    })
    .await;
    caught(&db, &held, (fake, 1), &[Tampering::Inserted]).await;
}

/// Truncating the log's tail: the revocation and everything after it.
pub async fn an_insider_truncating_the_tail_is_named<D: Db>() {
    let (db, store, id, held) = customer_holds::<D>().await;
    let revoked = sequence_of(&store, id, "revoked", 0).await;
    rewrite(&db, &store, |values| {
        values.truncate(index_of(values, id, revoked));
    })
    .await;
    caught(&db, &held, (id, revoked), &[Tampering::Removed]).await;
}

/// A signer that is down, and one that signs with a key other than the one it publishes: the
/// steps go on (a revocation never waits for a signer), nothing is kept from either, and the
/// store says which failed.
pub async fn a_failing_or_lying_signer_never_blocks_a_step_or_gets_a_checkpoint_kept<D: Db>() {
    use customer_lockbox::evidence::{CheckpointSigner, SignFuture, SignerError};

    struct Down;
    impl CheckpointSigner for Down {
        fn verifier(&self) -> VerifierKey {
            key()
        }
        fn sign<'a>(&'a self, _message: &'a [u8]) -> SignFuture<'a> {
            Box::pin(async { Err(SignerError::new("the KMS did not answer in 2 s")) })
        }
    }
    /// Publishes the log's key, signs with another; at once too (the first at-once signature
    /// is checked).
    struct Lying(SignerKey);
    impl CheckpointSigner for Lying {
        fn verifier(&self) -> VerifierKey {
            key()
        }
        fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
            CheckpointSigner::sign(&self.0, message)
        }
        fn sign_at_once(&self, message: &[u8]) -> Option<Result<[u8; 64], SignerError>> {
            self.0.sign_at_once(message)
        }
    }

    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(Down);
    let id = granted_as(&store, 1).await;
    store.revoke(id, &megan(), at(hours(2))).await.unwrap();
    assert!(store.checkpoints(contoso()).await.unwrap().is_empty());
    match store.sign_checkpoint(contoso(), at(hours(2))).await {
        Err(err @ StoreError::Signer(_)) => {
            assert!(err.to_string().contains("did not answer"), "{err}")
        }
        other => panic!("{other:?}"),
    }
    let other = SignerKey::from_seed("lockbox.vendor.example", &[8; 32]).unwrap();
    store.set_checkpoint_signer(Lying(other));
    // A step that sends a message, signed at once inside its transaction: refused there, and
    // after the commit.
    pending_as(&store, 3).await;
    assert!(store.checkpoints(contoso()).await.unwrap().is_empty());
    assert!(matches!(
        store.sign_checkpoint(contoso(), at(hours(2))).await,
        Err(StoreError::Signer(_))
    ));
    assert!(store.checkpoints(contoso()).await.unwrap().is_empty());
    // A checkpoint an insider plants (signed by another key) is not taken for the log's: the
    // store refuses to extend what it cannot verify, and says so.
    store.set_checkpoint_signer(signer());
    let signed = store
        .sign_checkpoint(contoso(), at(hours(2)))
        .await
        .unwrap()
        .unwrap();
    let forged = signed.note().replace(
        signed.note().lines().last().unwrap(),
        "— lockbox.vendor.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    db.sql(&format!(
        "UPDATE checkpoints SET note = {} WHERE size = {}",
        text_sql(&forged),
        signed.checkpoint().size()
    ))
    .await
    .unwrap();
    store
        .record_actions(id, &alex(), [mailbox_read()], at(hours(2)))
        .await
        .ok();
    // A step that sends a message goes on, and signs nothing over the planted checkpoint,
    // inside its transaction or after it.
    let next = pending_as(&store, 2).await;
    assert_eq!(
        store
            .latest_checkpoint(contoso())
            .await
            .unwrap()
            .unwrap()
            .note(),
        forged
    );
    store.load(next).await.unwrap();
    match store.sign_checkpoint(contoso(), at(hours(3))).await {
        Err(StoreError::LogBroken { reason, .. }) => {
            assert!(reason.contains("does not open"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// A revocation stamped far ahead of the store's clock takes effect at the store's clock (the
/// clock-skew rule) and sends its report: that path signs a checkpoint after it too.
pub async fn a_revocation_taking_effect_at_the_store_clock_is_signed<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    let id = granted_as(&store, 1).await;
    let far_ahead = chrono::Utc::now() + TimeDelta::days(1);
    let err = store.revoke(id, &megan(), far_ahead).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ClockAhead { recorded: true, .. }),
        "{err}"
    );
    let entries = store.log_entries(contoso()).await.unwrap();
    let latest = store.latest_checkpoint(contoso()).await.unwrap().unwrap();
    assert_eq!(latest.checkpoint().size(), entries.len() as u64);
}

/// An insider with the database and the log's key fabricates a granted request at the end of
/// a keyed tenant's log, and signs a checkpoint over it: every held checkpoint still holds, but
/// the customer's grant is the customer's signature. Copied with Megan's signature, the grant
/// is over another request's statement; stripped of it, it is unsigned under a policy that
/// lists keys. Both are named, on the vendor's side and offline with the pinned key.
pub async fn an_insider_with_the_log_key_cannot_forge_a_grant<D: Db>() {
    for strip in [false, true] {
        let db = D::create().await;
        let store = db.open().await;
        let id = crate::decisions::keyed_pending(&store, 1).await;
        let armor = crate::decisions::signed(
            &store,
            id,
            &megan(),
            Decision::Grant,
            &signing::megan_signs(),
        )
        .await;
        store.set_clock(ManualClock::new(at(hours(1))));
        let outcome = store
            .grant_signed(id, &megan(), &armor, at(hours(1)))
            .await
            .unwrap();
        store.use_own_clock();
        assert!(matches!(outcome, GrantOutcome::Granted(_)));
        let held = vec![latest_held(&store, at(hours(2))).await];
        let fake = request_id(66);
        rewrite(&db, &store, |values| {
            let copies: Vec<serde_json::Value> = values
                .iter()
                .filter(|v| v["request_id"] == id.to_string())
                .map(|v| {
                    let mut copy = v.clone();
                    for column in ["request_id", "record"] {
                        let text = copy[column]
                            .as_str()
                            .unwrap()
                            .replace(&id.to_string(), &fake.to_string());
                        copy[column] = serde_json::json!(text);
                    }
                    if strip && copy["kind"] == "granted" {
                        let mut record: serde_json::Value =
                            serde_json::from_str(copy["record"].as_str().unwrap()).unwrap();
                        record.as_object_mut().unwrap().remove("signature");
                        copy["record"] = serde_json::json!(record.to_string());
                    }
                    copy
                })
                .collect();
            values.extend(copies);
        })
        .await;
        // The insider holds the key: the log is signed again, over the forgery.
        store
            .sign_checkpoint(contoso(), at(hours(3)))
            .await
            .unwrap();
        let fresh = db.open().await;
        let on_vendors_side = fresh.verify_log(contoso(), &key(), &held).await.unwrap();
        let mut export = Vec::new();
        fresh.export_log(contoso(), &mut export).await.unwrap();
        let pin = signing::adeles_key().public().fingerprint();
        let offline = customer_lockbox::evidence::verify_export(
            export.as_slice(),
            &log_origin("lockbox.vendor.example", contoso()),
            &[key()],
            &held,
            &[pin.as_str()],
        )
        .unwrap();
        for verdict in [on_vendors_side, offline] {
            let LogVerdict::Broken(broken) = verdict else {
                panic!("a forged grant verified (stripped: {strip})");
            };
            assert_eq!(broken.tampering, Tampering::Forged, "{broken}");
            assert_eq!(broken.record.map(|(r, _)| r), Some(fake), "{broken}");
            let expected = if strip {
                "unsigned"
            } else {
                "signature does not hold"
            };
            assert!(broken.reason.contains(expected), "{broken}");
        }
    }
}

/// The customer pins the fingerprint of their administrator's key from the first policy's
/// message: a log whose first keyed policy lists other administrator keys (a vendor that set
/// it up with keys of its own) is refused offline, naming that policy change.
pub async fn a_root_of_trust_without_the_pinned_key_is_refused<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    crate::decisions::keyed_pending(&store, 1).await;
    let held = vec![latest_held(&store, at(hours(2))).await];
    let mut export = Vec::new();
    store.export_log(contoso(), &mut export).await.unwrap();
    let verify = |pin: &str| {
        customer_lockbox::evidence::verify_export(
            export.as_slice(),
            &log_origin("lockbox.vendor.example", contoso()),
            &[key()],
            &held,
            &[pin],
        )
        .unwrap()
    };
    let adeles = signing::adeles_key().public().fingerprint();
    assert!(verify(&adeles).is_verified());
    let vendors = signing::insiders_key().public().fingerprint();
    let LogVerdict::Broken(broken) = verify(&vendors) else {
        panic!("a root of trust without the pinned key verified");
    };
    assert_eq!(broken.tampering, Tampering::Forged);
    assert_eq!(broken.position, 2, "the first keyed version: {broken}");
    assert!(broken.reason.contains("pinned"), "{broken}");
}

/// Contoso's latest checkpoint, signed at `now` if the log grew since the last one: what the
/// customer holds from their latest message.
async fn latest_held<B: Backend>(store: &Store<B>, now: chrono::DateTime<chrono::Utc>) -> Evidence {
    store.sign_checkpoint(contoso(), now).await.unwrap();
    let latest = store.latest_checkpoint(contoso()).await.unwrap().unwrap();
    Evidence::new(latest.note().to_owned(), Vec::new())
}

/// A database the last build before signed decisions wrote (record format 2, schema 6, the
/// committed fixture): every request loads as committed, every decision as unsigned, and the
/// signed logs verify, counting those decisions unsigned. Contoso's policy then gains keys: its
/// old unsigned decisions still load, and from that version on a grant must be signed.
pub async fn a_schema_6_database_loads_its_decisions_as_unsigned<D: Db>() {
    let db = D::fixture_database("schema-6").await;
    let store = db.open().await;
    store.migrate().await.unwrap();
    for (name, record) in fixture_records("schema-6") {
        assert_eq!(record.version(), 2, "{name}");
        let loaded = store.load(record.id()).await.unwrap();
        assert_eq!(
            loaded.to_record().to_json().unwrap(),
            record.to_json().unwrap(),
            "{name}"
        );
        assert!(loaded.audit_trail().iter().all(|r| r.signature().is_none()));
    }
    for tenant in [contoso(), fabrikam()] {
        let held = vec![Evidence::new(
            store
                .latest_checkpoint(tenant)
                .await
                .unwrap()
                .unwrap()
                .note()
                .to_owned(),
            Vec::new(),
        )];
        let verdict = store.verify_log(tenant, &key(), &held).await.unwrap();
        let LogVerdict::Verified { decisions, .. } = verdict else {
            panic!("{tenant}: {verdict:?}");
        };
        assert_eq!(decisions.signed, 0);
        assert!(
            decisions.unsigned > 0 || tenant == fabrikam(),
            "{decisions:?}"
        );
    }
    // Contoso's policy gains keys (signed by Adele's own key, its root of trust): request 5,
    // pending with one of two approvals, now needs Lee's grant signed.
    store.set_checkpoint_signer(signer());
    let mut approvers = signing::keyed_policy().approvers().to_vec();
    approvers.push(
        DesignatedApprover::new(
            ApproverId::new("nestor@contoso.com").unwrap(),
            EmailAddress::new("nestor.mail@contoso.com").unwrap(),
        )
        .with_keys(vec![signing::TestKey::ed25519(0x4e).public()]),
    );
    let keyed = TenantPolicy::new(contoso(), approvers)
        .unwrap()
        .with_approvals_required(2)
        .unwrap()
        .with_administrators(signing::keyed_policy().administrators().to_vec());
    let when = at(hours(14) + minutes(50));
    crate::decisions::set_signed_policy(&store, &signing::adeles_key(), keyed, when)
        .await
        .unwrap();
    let pending = request_id(5);
    store.set_clock(ManualClock::new(when + minutes(1)));
    let unsigned = store.grant(pending, &lee(), when + minutes(1)).await;
    store.use_own_clock();
    assert!(
        matches!(
            unsigned,
            Err(StoreError::Refused {
                refusal: Refusal::UnsignedDecision,
                ..
            })
        ),
        "{unsigned:?}"
    );
    for (name, record) in fixture_records("schema-6") {
        db.open()
            .await
            .load(record.id())
            .await
            .unwrap_or_else(|err| {
                panic!("{name}: {err}");
            });
    }
}
