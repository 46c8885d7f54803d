//! Each tenant's verifiable log, on each store: trees written with every step, checkpoints
//! signed after every step that sends a message, proofs that verify offline against the public
//! key alone, and the insider who rewrites the database without the key caught by a checkpoint
//! the customer holds.

use customer_lockbox::evidence::{LogVerdict, SignerKey, TlogProof, VerifierKey, merkle};
use customer_lockbox::store::log_origin;
use customer_lockbox::*;

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
    store
        .record_actions(id, &alex(), [mailbox_read(), mailbox_read()], at(hours(2)))
        .await
        .unwrap();
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
    assert_eq!(latest.checkpoint().root(), &merkle::root(&leaves));
    let held = [latest.note()];
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
    store.set_checkpoint_signer(signer());
    let signed = store
        .sign_checkpoint(contoso(), at(hours(2)))
        .await
        .unwrap()
        .unwrap();
    let entries = store.log_entries(contoso()).await.unwrap();
    assert_eq!(signed.checkpoint().size(), entries.len() as u64);
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
        .verify_log(contoso(), &key(), &[held.note()])
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
        .verify_log(contoso(), &key(), &[held.note()])
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
        assert_eq!(loaded.to_record(), record, "{name}");
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
        assert_eq!(signed.checkpoint().root(), &merkle::root(&leaves));
        assert!(
            store
                .verify_log(tenant, &key(), &[signed.note()])
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
