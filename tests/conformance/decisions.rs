//! The statements a tenant's people sign, made by the store from a stored request.

use customer_lockbox::tlog::SignerKey;
use customer_lockbox::*;

use crate::common::*;
use crate::harness::Db;

fn signer() -> SignerKey {
    SignerKey::from_seed("lockbox.vendor.example", &[7; 32]).unwrap()
}

/// The stored link of `request`'s record `sequence`, as the tenant's export carries it.
async fn exported_link<B: Backend>(store: &Store<B>, request: RequestId, sequence: u64) -> String {
    let mut export = Vec::new();
    store.export_log(contoso(), &mut export).await.unwrap();
    String::from_utf8(export)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|line| line["entry"].clone())
        .find(|entry| entry["request_id"] == request.to_string() && entry["sequence"] == sequence)
        .and_then(|entry| entry["hash"].as_str().map(str::to_owned))
        .unwrap()
}

/// A pending request's grant and denial statements answer its notification, named with the
/// link the log stores for it; a granted request's revocation answers its grant; each names
/// the log by the signer's name and holds until the deadline or the access end.
pub async fn a_statement_names_the_stored_record_it_answers<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    let id = pending_as(&store, 1).await;
    let grant = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    let notified = exported_link(&store, id, 3).await;
    assert!(
        grant.text().contains(&format!(
            "record #3, the notification to the approvers, link {notified}"
        )),
        "{}",
        grant.text()
    );
    assert!(
        grant
            .text()
            .contains("lockbox[.]vendor[.]example[/]8b5a0c4e"),
        "{}",
        grant.text()
    );
    assert!(grant.text().contains("Decision:          GRANT access"));
    let deny = store
        .decision_statement(id, &megan(), Decision::Deny)
        .await
        .unwrap();
    assert_eq!(
        deny.text().replace("DENY access", "GRANT access"),
        grant.text(),
        "a denial differs from the grant by its decision alone"
    );
    // Nothing to revoke yet.
    let err = store
        .decision_statement(id, &megan(), Decision::Revoke)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongState { .. }), "{err}");
    // Granted: the revocation answers the grant, until the end of access.
    store.set_clock(ManualClock::new(at(hours(1))));
    let granted = store.grant(id, &megan(), at(hours(1))).await.unwrap();
    assert!(matches!(granted, GrantOutcome::Granted(_)));
    store.use_own_clock();
    let revoke = store
        .decision_statement(id, &megan(), Decision::Revoke)
        .await
        .unwrap();
    let granted = exported_link(&store, id, 4).await;
    assert!(
        revoke
            .text()
            .contains(&format!("record #4, the grant, link {granted}")),
        "{}",
        revoke.text()
    );
    assert!(
        revoke
            .text()
            .contains("Valid until:       2026-11-24 13:00:00 UTC"),
        "{}",
        revoke.text()
    );
    let err = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongState { .. }), "{err}");
}

/// Without a signer the store knows no log name, so it makes no statement.
pub async fn no_statement_without_a_signer<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let err = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSigner), "{err}");
}

/// Two nodes make the same statement for the same decision: it is made from what is stored,
/// not from what one node cached, and a node that saw the request pending makes none for a
/// grant after another node granted it.
pub async fn two_nodes_make_the_same_statement<D: Db>() {
    let db = D::create().await;
    let (one, two) = (db.open().await, db.open().await);
    one.set_checkpoint_signer(signer());
    two.set_checkpoint_signer(signer());
    let id = pending_as(&one, 1).await;
    let from_one = one
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    let from_two = two
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    assert_eq!(from_one, from_two);
    one.set_clock(ManualClock::new(at(hours(1))));
    let granted = one.grant(id, &megan(), at(hours(1))).await.unwrap();
    assert!(matches!(granted, GrantOutcome::Granted(_)));
    let err = two
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongState { .. }), "{err}");
}
