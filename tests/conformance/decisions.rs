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

/// Makes Contoso's policy (unkeyed, from a day before t0: the harness sets it) keyed, signed
/// by Adele's key (the first keyed version signs itself: proof that its administrator holds
/// the key), 23 hours before t0.
pub(crate) async fn keyed_policy_in<B: Backend>(store: &Store<B>) -> PolicyChange {
    set_signed_policy(
        store,
        &signing::adeles_key(),
        signing::keyed_policy(),
        at(hours(-23)),
    )
    .await
    .unwrap()
}

/// `policy` made the next version as Adele, signed by `key` over its statement, at `when`.
pub(crate) async fn set_signed_policy<B: Backend>(
    store: &Store<B>,
    key: &signing::TestKey,
    policy: TenantPolicy,
    when: chrono::DateTime<chrono::Utc>,
) -> Result<PolicyChange, StoreError> {
    let statement = store.policy_statement(&adele(), &policy).await.unwrap();
    let armor = key.sign(statement.as_bytes());
    store.set_clock(ManualClock::new(when));
    let change = store
        .set_policy_signed(&adele(), policy, &armor, when)
        .await;
    store.use_own_clock();
    change
}

/// A store with a signer and Contoso's keyed policy, and request `n` pending.
pub(crate) async fn keyed_pending<B: Backend>(store: &Store<B>, n: u128) -> RequestId {
    store.set_checkpoint_signer(signer());
    let keyed = store
        .policy(contoso())
        .await
        .unwrap()
        .is_some_and(|p| p.requires_signatures());
    if !keyed {
        keyed_policy_in(store).await;
    }
    pending_as(store, n).await
}

/// `decision` on request `id` by `approver`, signed by `key` over the store's statement.
pub(crate) async fn signed<B: Backend>(
    store: &Store<B>,
    id: RequestId,
    approver: &ApproverId,
    decision: Decision,
    key: &signing::TestKey,
) -> String {
    let statement = store
        .decision_statement(id, approver, decision)
        .await
        .unwrap();
    key.sign(statement.as_bytes())
}

/// The refusal a grant with `armor` gets at one hour, recorded as the request's last record.
async fn refused_grant<B: Backend>(
    store: &Store<B>,
    id: RequestId,
    armor: Option<&str>,
) -> Refusal {
    store.set_clock(ManualClock::new(at(hours(1))));
    let result = match armor {
        Some(armor) => store.grant_signed(id, &megan(), armor, at(hours(1))).await,
        None => store.grant(id, &megan(), at(hours(1))).await,
    };
    store.use_own_clock();
    let Err(StoreError::Refused { refusal, step, .. }) = result else {
        panic!("a grant the customer did not sign went ahead: {result:?}");
    };
    assert_eq!(step, Step::Grant);
    let request = store.load(id).await.unwrap();
    assert_eq!(
        request.state(),
        StateKind::PendingCustomer,
        "nothing granted"
    );
    let last = request.audit_trail().last().unwrap();
    assert_eq!(
        last.event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal
        },
        "the refused attempt is on record"
    );
    assert!(
        last.signature().is_none(),
        "a refused signature is not kept"
    );
    refusal
}

fn fault(refusal: Refusal) -> SignatureFault {
    match refusal {
        Refusal::DecisionSignatureRefused { fault } => fault,
        other => panic!("refused for {other:?}, not for its signature"),
    }
}

/// Megan signs her grant with her own key: the store verifies it against the policy in force,
/// the grant's record keeps it, and every load (another node's too) verifies it again.
pub async fn a_grant_signed_by_the_approver_is_taken_and_kept<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = keyed_pending(&store, 1).await;
    let armor = signed(
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
    let GrantOutcome::Granted(granted) = outcome else {
        panic!("not granted: {outcome:?}");
    };
    let record = granted.audit_trail().last().unwrap();
    let kept = record.signature().unwrap();
    assert_eq!(kept.armor(), armor.trim());
    assert_eq!(kept.answers().sequence, 3, "it answers the notification");
    let other_node = db.open().await;
    let loaded = other_node.load(id).await.unwrap();
    assert_eq!(loaded.audit_trail(), granted.audit_trail());
    let verdict = store
        .verify_log(contoso(), &signer().verifier(), &[])
        .await
        .unwrap();
    assert!(verdict.is_verified(), "{verdict:?}");
}

/// What a vendor-side caller tries without Megan's key, each refused on record, the request
/// still pending: no signature at all; one by a key of its own; Megan's own signature over
/// another request's grant, over this request's denial, over Lee's grant; text that is no
/// signature (cut, another namespace, 1 MiB of garbage, trailing data). None panics.
pub async fn a_grant_the_approver_did_not_sign_is_refused_on_record<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = keyed_pending(&store, 1).await;
    let other = pending_as(&store, 2).await;
    assert_eq!(
        refused_grant(&store, id, None).await,
        Refusal::UnsignedDecision
    );
    let insiders = signed(
        &store,
        id,
        &megan(),
        Decision::Grant,
        &signing::insiders_key(),
    )
    .await;
    assert_eq!(
        fault(refused_grant(&store, id, Some(&insiders)).await),
        SignatureFault::UnknownKey
    );
    let megan_key = signing::megan_signs();
    let for_other = signed(&store, other, &megan(), Decision::Grant, &megan_key).await;
    let a_denial = signed(&store, id, &megan(), Decision::Deny, &megan_key).await;
    let for_lee = signed(&store, id, &lee(), Decision::Grant, &megan_key).await;
    for replayed in [&for_other, &a_denial, &for_lee] {
        assert_eq!(
            fault(refused_grant(&store, id, Some(replayed)).await),
            SignatureFault::Invalid
        );
    }
    let good = signed(&store, id, &megan(), Decision::Grant, &megan_key).await;
    let cut = &good[..good.len() / 2];
    let garbage = "A".repeat(1 << 20);
    let trailing = format!("{good}\nand more");
    for malformed in [cut, garbage.as_str(), trailing.as_str(), ""] {
        assert_eq!(
            fault(refused_grant(&store, id, Some(malformed)).await),
            SignatureFault::Malformed
        );
    }
    let statement = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    let git = megan_key.sign_in("git", statement.as_bytes());
    assert_eq!(
        fault(refused_grant(&store, id, Some(&git)).await),
        SignatureFault::WrongNamespace
    );
    // Every refusal above is on record, and the request still loads and verifies.
    let request = db.open().await.load(id).await.unwrap();
    let refused = request
        .audit_trail()
        .iter()
        .filter(|r| matches!(r.event(), AuditEvent::Refused { .. }))
        .count();
    assert_eq!(refused, 10);
    // Megan's own signature still works: the refusals changed nothing it answers.
    store.set_clock(ManualClock::new(at(hours(2))));
    let outcome = store
        .grant_signed(id, &megan(), &good, at(hours(2)))
        .await
        .unwrap();
    store.use_own_clock();
    assert!(matches!(outcome, GrantOutcome::Granted(_)), "{outcome:?}");
}

/// A signature counts once: a second grant by the same approver is refused, and a grant
/// signed in another store's log (another name: another vendor, another tenant's log) is
/// over another statement.
pub async fn a_signature_counts_once_and_in_one_log<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    keyed_policy_in(&store).await;
    let two_of_two = signing::keyed_policy().with_approvals_required(2).unwrap();
    set_signed_policy(&store, &signing::adeles_key(), two_of_two, at(hours(-1)))
        .await
        .unwrap();
    let second = pending_as(&store, 2).await;
    let armor = signed(
        &store,
        second,
        &megan(),
        Decision::Grant,
        &signing::megan_signs(),
    )
    .await;
    store.set_clock(ManualClock::new(at(hours(1))));
    let once = store
        .grant_signed(second, &megan(), &armor, at(hours(1)))
        .await
        .unwrap();
    assert!(matches!(once, GrantOutcome::AwaitingApprovals { .. }));
    let twice = store
        .grant_signed(second, &megan(), &armor, at(hours(1)))
        .await;
    store.use_own_clock();
    assert!(
        matches!(
            twice,
            Err(StoreError::Refused {
                refusal: Refusal::AlreadyApproved,
                ..
            })
        ),
        "{twice:?}"
    );
    // Another log's name: the same store under another signer signs another statement.
    let other_log = db.open().await;
    other_log.set_checkpoint_signer(
        customer_lockbox::tlog::SignerKey::from_seed("lockbox.other.example", &[9; 32]).unwrap(),
    );
    let third = pending_as(&store, 3).await;
    let elsewhere = signed(
        &other_log,
        third,
        &megan(),
        Decision::Grant,
        &signing::megan_signs(),
    )
    .await;
    assert_eq!(
        fault(refused_grant(&store, third, Some(&elsewhere)).await),
        SignatureFault::Invalid
    );
}

/// A key the customer removed signs nothing after the change; a change removing keys, or
/// stopping signatures, must itself be signed by an administrator of the version before it,
/// and a made-up administrator's change is refused. Nothing refused is written.
pub async fn policy_changes_are_signed_by_the_version_before<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    // The first keyed version, unsigned or signed by a key it does not list: refused.
    let unsigned = set_policy_at(&store, signing::keyed_policy(), at(hours(-23))).await;
    assert!(
        matches!(&unsigned, Err(StoreError::InvalidPolicy(e)) if e.policy_signature_fault() == Some(None)),
        "{unsigned:?}"
    );
    let not_its_own = set_signed_policy(
        &store,
        &signing::insiders_key(),
        signing::keyed_policy(),
        at(hours(-23)),
    )
    .await;
    assert!(
        matches!(&not_its_own, Err(StoreError::InvalidPolicy(e)) if e.policy_signature_fault() == Some(Some(SignatureFault::UnknownKey))),
        "{not_its_own:?}"
    );
    assert_eq!(store.policy(contoso()).await.unwrap(), Some(policy()));
    let first = keyed_policy_in(&store).await;
    assert_eq!(
        first.version(),
        2,
        "the first version with keys roots the tenant's trust"
    );
    assert!(first.signature().is_some());
    // The vendor's tries: unsigned changes that drop the keys or add its own approver; a
    // made-up administrator with a key of its own.
    let without_keys = policy();
    let unsigned = set_policy_at(&store, without_keys.clone(), at(hours(-22))).await;
    assert!(
        matches!(&unsigned, Err(StoreError::InvalidPolicy(e)) if e.is_policy_change_unsigned()),
        "{unsigned:?}"
    );
    let mallory = TenantAdminId::new("mallory@vendor.example").unwrap();
    let with_mallory = signing::keyed_policy().with_administrators(vec![TenantAdministrator::new(
        mallory.clone(),
        vec![signing::insiders_key().public()],
    )]);
    let statement = store
        .policy_statement(&mallory, &with_mallory)
        .await
        .unwrap();
    let armor = signing::insiders_key().sign(statement.as_bytes());
    store.set_clock(ManualClock::new(at(hours(-22))));
    let made_up = store
        .set_policy_signed(&mallory, with_mallory, &armor, at(hours(-22)))
        .await;
    store.use_own_clock();
    assert!(
        matches!(&made_up, Err(StoreError::InvalidPolicy(e)) if e.policy_signature_fault() == Some(Some(SignatureFault::UnknownKey))),
        "{made_up:?}"
    );
    // Adele's signature over one change does not carry another.
    let statement = store
        .policy_statement(
            &adele(),
            &signing::keyed_policy()
                .with_max_access_duration(AccessDuration::from_hours(2).unwrap()),
        )
        .await
        .unwrap();
    let armor = signing::adeles_key().sign(statement.as_bytes());
    store.set_clock(ManualClock::new(at(hours(-22))));
    let other_change = store
        .set_policy_signed(&adele(), without_keys.clone(), &armor, at(hours(-22)))
        .await;
    store.use_own_clock();
    assert!(
        matches!(&other_change, Err(StoreError::InvalidPolicy(e)) if e.policy_signature_fault() == Some(Some(SignatureFault::Invalid))),
        "{other_change:?}"
    );
    assert_eq!(
        store
            .policy_history(contoso())
            .await
            .unwrap()
            .changes()
            .len(),
        2
    );
    // Megan's key replaced by another: her old key signs nothing after the change.
    let replaced = {
        let mut approvers = signing::keyed_policy().approvers().to_vec();
        approvers[0] = approvers[0]
            .clone()
            .with_keys(vec![signing::TestKey::ed25519(0x42).public()]);
        TenantPolicy::new(contoso(), approvers)
            .unwrap()
            .with_administrators(signing::keyed_policy().administrators().to_vec())
    };
    set_signed_policy(&store, &signing::adeles_key(), replaced, at(hours(-22)))
        .await
        .unwrap();
    let id = pending_as(&store, 1).await;
    let old_key = signed(
        &store,
        id,
        &megan(),
        Decision::Grant,
        &signing::megan_signs(),
    )
    .await;
    assert_eq!(
        fault(refused_grant(&store, id, Some(&old_key)).await),
        SignatureFault::UnknownKey
    );
    // Adele may drop the keys, signing with her key of the version before.
    let dropped = set_signed_policy(&store, &signing::adeles_key(), without_keys, at(hours(2)))
        .await
        .unwrap();
    assert!(!dropped.after().requires_signatures());
    let history = db.open().await.policy_history(contoso()).await.unwrap();
    assert_eq!(history.changes().len(), 4);
}

/// Taking access away never waits for a key: a denial or a revocation is taken signed or
/// unsigned, and its record shows which; a signature that does not verify is not kept.
pub async fn denials_and_revocations_are_taken_signed_or_not<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = keyed_pending(&store, 1).await;
    store.set_clock(ManualClock::new(at(hours(1))));
    let denied = store.deny(id, &lee(), at(hours(1))).await.unwrap();
    store.use_own_clock();
    let DenyOutcome::Denied(denied) = denied else {
        panic!("not denied");
    };
    assert!(denied.audit_trail().last().unwrap().signature().is_none());
    let id = pending_as(&store, 2).await;
    let grant = signed(
        &store,
        id,
        &megan(),
        Decision::Grant,
        &signing::megan_signs(),
    )
    .await;
    store.set_clock(ManualClock::new(at(hours(1))));
    let granted = store
        .grant_signed(id, &megan(), &grant, at(hours(1)))
        .await
        .unwrap();
    assert!(matches!(granted, GrantOutcome::Granted(_)));
    store.use_own_clock();
    let revoke = signed(&store, id, &lee(), Decision::Revoke, &signing::lees_key()).await;
    store.set_clock(ManualClock::new(at(hours(2))));
    let revoked = store
        .revoke_signed(id, &lee(), &revoke, at(hours(2)))
        .await
        .unwrap();
    store.use_own_clock();
    let kept = revoked.audit_trail().last().unwrap();
    assert_eq!(kept.event(), &AuditEvent::Revoked);
    assert!(kept.signature().is_some(), "a signed revocation keeps it");
    let id = pending_as(&store, 3).await;
    let grant = signed(
        &store,
        id,
        &megan(),
        Decision::Grant,
        &signing::megan_signs(),
    )
    .await;
    store.set_clock(ManualClock::new(at(hours(1))));
    let granted = store
        .grant_signed(id, &megan(), &grant, at(hours(1)))
        .await
        .unwrap();
    assert!(matches!(granted, GrantOutcome::Granted(_)));
    store.set_clock(ManualClock::new(at(hours(2))));
    let revoked = store
        .revoke_signed(id, &lee(), "not a signature", at(hours(2)))
        .await
        .unwrap();
    store.use_own_clock();
    let kept = revoked.audit_trail().last().unwrap();
    assert_eq!(
        kept.event(),
        &AuditEvent::Revoked,
        "a revocation is never blocked"
    );
    assert!(kept.signature().is_none());
    for n in 1..=3 {
        db.open().await.load(request_id(n)).await.unwrap();
    }
}

/// The approvers' message of a keyed tenant carries each approver's grant statement between
/// markers, link-free: Megan copies hers from the message alone, signs it, and the grant goes
/// ahead.
pub async fn an_approver_signs_from_the_message_alone<D: Db>() {
    #[derive(Default)]
    struct Mailbox(Vec<String>);
    impl Sender for Mailbox {
        type Error = std::convert::Infallible;
        async fn send(&mut self, delivery: &Delivery) -> Result<(), Self::Error> {
            self.0.push(delivery.notification().body().to_owned());
            Ok(())
        }
    }
    let db = D::create().await;
    let store = db.open().await;
    let id = keyed_pending(&store, 1).await;
    let mut mailbox = Mailbox::default();
    store
        .deliver(
            &directory(),
            &mut mailbox,
            at(minutes(25)),
            chrono::TimeDelta::minutes(5),
        )
        .await
        .unwrap();
    let body = mailbox
        .0
        .iter()
        .find(|body| body.contains("awaits your decision") || body.contains("Grant statement"))
        .unwrap();
    links::assert_link_free(&[("decision message".to_owned(), body.clone())]);
    let megans = body
        .split(
            "Grant statement of megan[at]contoso[.]com:\n-----BEGIN CUSTOMER LOCKBOX STATEMENT-----\n",
        )
        .nth(1)
        .and_then(|rest| {
            rest.split("-----END CUSTOMER LOCKBOX STATEMENT-----")
                .next()
        })
        .unwrap();
    let statement = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    assert_eq!(
        megans,
        statement.text(),
        "the bytes in the message are the bytes signed"
    );
    assert!(body.contains("Grant statement of lee[at]contoso[.]com:"));
    let armor = signing::megan_signs().sign(megans.as_bytes());
    store.set_clock(ManualClock::new(at(hours(1))));
    let outcome = store
        .grant_signed(id, &megan(), &armor, at(hours(1)))
        .await
        .unwrap();
    store.use_own_clock();
    assert!(matches!(outcome, GrantOutcome::Granted(_)), "{outcome:?}");
}

/// Megan signs the store's statement with the real `ssh-keygen`, as she would at her terminal:
/// the store takes it. (Skipped where `ssh-keygen` is missing and `CI` is unset.)
pub async fn a_grant_signed_by_ssh_keygen_is_taken<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = keyed_pending(&store, 1).await;
    let statement = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    let Some(armor) = signing::ssh_keygen_signs_as_megan(statement.as_bytes()) else {
        return;
    };
    store.set_clock(ManualClock::new(at(hours(1))));
    let outcome = store
        .grant_signed(id, &megan(), &armor, at(hours(1)))
        .await
        .unwrap();
    store.use_own_clock();
    assert!(matches!(outcome, GrantOutcome::Granted(_)), "{outcome:?}");
    db.open().await.load(id).await.unwrap();
}

/// Megan's key is on a security key: a signature it made without her touch (the user-presence
/// flag unset, which `ssh-keygen -Y verify` accepts) is refused on record; with her touch, the
/// grant goes ahead.
pub async fn a_security_keys_signature_without_its_touch_is_refused<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    let (sk_key, _) = signing::security_key_signs(b"", 0x01);
    let mut approvers = signing::keyed_policy().approvers().to_vec();
    approvers[0] = approvers[0].clone().with_keys(vec![sk_key]);
    let policy = TenantPolicy::new(contoso(), approvers)
        .unwrap()
        .with_administrators(signing::keyed_policy().administrators().to_vec());
    set_signed_policy(&store, &signing::adeles_key(), policy, at(hours(-23)))
        .await
        .unwrap();
    let id = pending_as(&store, 1).await;
    let statement = store
        .decision_statement(id, &megan(), Decision::Grant)
        .await
        .unwrap();
    let (_, untouched) = signing::security_key_signs(statement.as_bytes(), 0x00);
    assert_eq!(
        fault(refused_grant(&store, id, Some(&untouched)).await),
        SignatureFault::NoUserPresence
    );
    let (_, touched) = signing::security_key_signs(statement.as_bytes(), 0x01);
    store.set_clock(ManualClock::new(at(hours(2))));
    let outcome = store
        .grant_signed(id, &megan(), &touched, at(hours(2)))
        .await
        .unwrap();
    store.use_own_clock();
    assert!(matches!(outcome, GrantOutcome::Granted(_)), "{outcome:?}");
}

/// A policy change refused for its signature writes nothing to the policy, and its attempt is
/// kept in the tenant's log (who tried what, and what was wrong): the vendor's tries are on
/// record, the log still verifies, and every node reads the same history.
pub async fn a_refused_policy_change_is_kept_in_the_log<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    store.set_checkpoint_signer(signer());
    keyed_policy_in(&store).await;
    let unsigned = set_policy_at(&store, policy(), at(hours(-22))).await;
    assert!(
        matches!(unsigned, Err(StoreError::InvalidPolicy(_))),
        "{unsigned:?}"
    );
    let mallory = TenantAdminId::new("mallory@vendor.example").unwrap();
    let with_mallory = signing::keyed_policy().with_administrators(vec![TenantAdministrator::new(
        mallory.clone(),
        vec![signing::insiders_key().public()],
    )]);
    let statement = store
        .policy_statement(&mallory, &with_mallory)
        .await
        .unwrap();
    store.set_clock(ManualClock::new(at(hours(-21))));
    let made_up = store
        .set_policy_signed(
            &mallory,
            with_mallory,
            &signing::insiders_key().sign(statement.as_bytes()),
            at(hours(-21)),
        )
        .await;
    store.use_own_clock();
    assert!(
        matches!(made_up, Err(StoreError::InvalidPolicy(_))),
        "{made_up:?}"
    );
    let history = db.open().await.policy_history(contoso()).await.unwrap();
    assert_eq!(
        history.changes().len(),
        2,
        "nothing refused changed the policy"
    );
    let refused: Vec<PolicyRefusal> = store
        .log_entries(contoso())
        .await
        .unwrap()
        .iter()
        .filter(|entry| entry.kind() == "policy_change_refused")
        .map(|entry| serde_json::from_str(entry.record()).unwrap())
        .collect();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0].attempted_by(), &adele());
    assert_eq!(refused[0].fault(), None, "unsigned");
    assert_eq!(refused[0].version(), 3);
    assert_eq!(refused[1].attempted_by(), &mallory);
    assert_eq!(refused[1].fault(), Some(SignatureFault::UnknownKey));
    let verdict = store
        .verify_log(contoso(), &signer().verifier(), &[])
        .await
        .unwrap();
    assert!(verdict.is_verified(), "{verdict:?}");
    // A later change is version 3: a refusal takes no version.
    let change = set_signed_policy(&store, &signing::adeles_key(), policy(), at(hours(-20)))
        .await
        .unwrap();
    assert_eq!(change.version(), 3);
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
}

/// Signed decisions through two nodes: one makes the statements, the other takes the grants;
/// two approvers' signed grants of a two-person request race on the two nodes (the loser
/// retries on the stored request, its signature still answering the same notification), and
/// both are kept, each signed, and load on either node.
pub async fn signed_grants_race_on_two_nodes<D: Db>() {
    let db = D::create().await;
    let (one, two) = (db.open().await, db.open().await);
    one.set_checkpoint_signer(signer());
    two.set_checkpoint_signer(signer());
    keyed_policy_in(&one).await;
    let two_of_two = signing::keyed_policy().with_approvals_required(2).unwrap();
    set_signed_policy(&one, &signing::adeles_key(), two_of_two, at(hours(-1)))
        .await
        .unwrap();
    let id = pending_as(&one, 1).await;
    let megans = signed(&two, id, &megan(), Decision::Grant, &signing::megan_signs()).await;
    let lees = signed(&two, id, &lee(), Decision::Grant, &signing::lees_key()).await;
    one.set_clock(ManualClock::new(at(hours(1))));
    two.set_clock(ManualClock::new(at(hours(1))));
    let (megan, lee) = (megan(), lee());
    let (by_megan, by_lee) = tokio::join!(
        one.grant_signed(id, &megan, &megans, at(hours(1))),
        two.grant_signed(id, &lee, &lees, at(hours(1))),
    );
    one.use_own_clock();
    two.use_own_clock();
    let outcomes = [by_megan.unwrap(), by_lee.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, GrantOutcome::Granted(_)))
            .count(),
        1,
        "one of the two completes the request: {outcomes:?}"
    );
    for node in [&one, &two] {
        let loaded = node.load(id).await.unwrap();
        assert_eq!(loaded.state(), StateKind::Granted);
        let signed_decisions = loaded
            .audit_trail()
            .iter()
            .filter(|r| r.signature().is_some())
            .count();
        assert_eq!(signed_decisions, 2, "both approvals keep their signatures");
    }
    let verdict = two
        .verify_log(contoso(), &signer().verifier(), &[])
        .await
        .unwrap();
    assert!(verdict.is_verified(), "{verdict:?}");
}
