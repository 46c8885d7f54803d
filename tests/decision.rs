//! Signed decisions' keys and signatures against OpenSSH: signatures the real `ssh-keygen` made
//! (`tests/vectors/sshsig/`, and one made here when `ssh-keygen` is installed), the ways a
//! stranger damages or replays one, and security-key signatures with and without the user's
//! touch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

mod common;

use common::links;
use customer_lockbox::{
    Answered, ApproverId, ChainHash, CustomerKey, Decision, DecisionSignature, DecisionStatement,
    SignatureError, StatementFacts,
};

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/sshsig")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(vector(name)).unwrap()
}

/// The key of `principal` and `algorithm` in the vectors' `allowed_signers`.
fn key(principal: &str, algorithm: &str) -> CustomerKey {
    let line = read("allowed_signers")
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(principal)?.trim_start();
            rest.starts_with(algorithm).then(|| rest.to_owned())
        })
        .unwrap();
    CustomerKey::parse(&line).unwrap()
}

fn megans_keys() -> Vec<CustomerKey> {
    vec![
        key("megan@contoso.com", "ssh-ed25519"),
        key("megan@contoso.com", "ecdsa-sha2-nistp256"),
    ]
}

#[test]
fn signatures_ssh_keygen_made_verify_by_the_signers_key() {
    let msg = read("msg");
    for (file, index) in [
        ("msg.megan-ed25519.sig", 0),
        ("msg.megan-ed25519.hashalg-sha256.sig", 0),
        ("msg.megan-ecdsa-p256.sig", 1),
        ("msg.megan-ecdsa-p256.hashalg-sha256.sig", 1),
    ] {
        let signature = DecisionSignature::parse(&read(file)).unwrap();
        assert_eq!(
            signature.verify(msg.as_bytes(), &megans_keys()),
            Ok(index),
            "{file}"
        );
    }
}

#[test]
fn fingerprints_are_those_ssh_keygen_prints() {
    let keys = megans_keys();
    assert_eq!(
        keys[0].fingerprint(),
        "SHA256:s3ojWkE3MvxKouXWVNMdxt6hEStxwEU0oUmKxXWqxyM"
    );
    assert_eq!(
        keys[1].fingerprint(),
        "SHA256:8b25mjL7KEpGXQoMbXl2pMkfso33F9wzXRpHaCtFjRI"
    );
    let oscar = DecisionSignature::parse(&read("msg.oscar-ed25519.sig")).unwrap();
    assert_eq!(
        oscar.signer_fingerprint(),
        "SHA256:yEOQnccp10eSWE9R6/1yEWTb4TgIKtuCjocOITdEURw"
    );
}

#[test]
fn another_text_another_signer_or_another_namespace_is_refused_by_name() {
    let msg = read("msg");
    let megans = DecisionSignature::parse(&read("msg.megan-ed25519.sig")).unwrap();
    assert_eq!(
        megans.verify(read("msg-other").as_bytes(), &megans_keys()),
        Err(SignatureError::Invalid)
    );
    // Oscar signed: his signature is no grant of Megan's.
    let oscars = DecisionSignature::parse(&read("msg.oscar-ed25519.sig")).unwrap();
    assert!(matches!(
        oscars.verify(msg.as_bytes(), &megans_keys()),
        Err(SignatureError::UnknownKey { fingerprint }) if fingerprint.starts_with("SHA256:yEOQ")
    ));
    let stranger = DecisionSignature::parse(&read("msg.stranger-ed25519.sig")).unwrap();
    assert!(matches!(
        stranger.verify(msg.as_bytes(), &megans_keys()),
        Err(SignatureError::UnknownKey { .. })
    ));
    // Made for files, not decisions.
    assert_eq!(
        DecisionSignature::parse(&read("msg.megan-ed25519.ns-file.sig")).unwrap_err(),
        SignatureError::WrongNamespace {
            found: "file".into()
        }
    );
}

#[test]
fn damaged_or_hostile_armor_is_refused_without_a_panic() {
    let good = read("msg.megan-ed25519.sig");
    for file in [
        "msg.megan-ed25519.truncated-half.sig",
        "msg.megan-ed25519.truncated-no-end-line.sig",
    ] {
        assert!(
            matches!(
                DecisionSignature::parse(&read(file)),
                Err(SignatureError::Malformed { .. })
            ),
            "{file}"
        );
    }
    // A flipped byte: refused when parsed, or when verified.
    let flipped = DecisionSignature::parse(&read("msg.megan-ed25519.tampered-last-byte.sig"))
        .and_then(|signature| signature.verify(read("msg").as_bytes(), &megans_keys()));
    assert!(flipped.is_err(), "{flipped:?}");
    let garbage = "A".repeat(1024 * 1024);
    let armored_garbage = format!(
        "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----",
        "QUFB".repeat(64)
    );
    let trailing = format!("{good}\ntrailing text after the armor");
    let inside = good.replacen("U1NIU0lH", "U1NIU0lI", 1);
    for hostile in [
        "",
        garbage.as_str(),
        armored_garbage.as_str(),
        trailing.as_str(),
        inside.as_str(),
        "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----",
    ] {
        assert!(
            matches!(
                DecisionSignature::parse(hostile),
                Err(SignatureError::Malformed { .. })
            ),
            "{}",
            hostile.chars().take(80).collect::<String>()
        );
    }
}

#[test]
fn only_the_four_key_types_are_taken() {
    let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDD5N2AuAqMhTcR5HdSLdDeFTJRWJl9zh+6v6mB3JiFy8hrvMQS+2AVvrv9d84jmZBkhNLBc2LEwAW/BnzEiKcuNKn2Nle1sETjlu/RmzOVb/cbswRX/W7fQ0ga51NqWJOgD6HpTgBFiKe3uhvwIZNXPzgYDdE9+pzQfQjyE6cVIw== rsa";
    assert_eq!(
        CustomerKey::parse(rsa).unwrap_err(),
        SignatureError::UnsupportedKey {
            algorithm: "ssh-rsa".into()
        }
    );
    for bad in ["", "ssh-ed25519", "ssh-ed25519 !!!", &"x".repeat(100_000)] {
        assert!(
            matches!(
                CustomerKey::parse(bad),
                Err(SignatureError::MalformedKey { .. })
            ),
            "{}",
            bad.chars().take(40).collect::<String>()
        );
    }
    // A key reads back from its serialized line, comment dropped.
    let key = &megans_keys()[0];
    let json = serde_json::to_string(key).unwrap();
    assert!(!json.contains("megan"), "{json}");
    assert_eq!(&serde_json::from_str::<CustomerKey>(&json).unwrap(), key);
}

/// A security key's signature over `msg` with `flags`, parsed.
fn security_key_signature(msg: &[u8], flags: u8) -> (CustomerKey, DecisionSignature) {
    let (key, armor) = common::signing::security_key_signs(msg, flags);
    (key, DecisionSignature::parse(&armor).unwrap())
}

#[test]
fn a_security_keys_signature_counts_only_with_its_users_touch() {
    let msg = b"customer-lockbox decision";
    let (key, touched) = security_key_signature(msg, 0x01);
    assert!(key.is_security_key());
    assert_eq!(key.algorithm(), "sk-ssh-ed25519@openssh.com");
    assert_eq!(touched.verify(msg, std::slice::from_ref(&key)), Ok(0));
    // The same key, the user absent: ssh-keygen -Y verify would accept it; the lockbox does not.
    let (key, untouched) = security_key_signature(msg, 0x00);
    assert_eq!(
        untouched.verify(msg, std::slice::from_ref(&key)),
        Err(SignatureError::NoUserPresence)
    );
    // User verification alone (a PIN) without presence: still no touch.
    let (key, pin_only) = security_key_signature(msg, 0x04);
    assert_eq!(
        pin_only.verify(msg, std::slice::from_ref(&key)),
        Err(SignatureError::NoUserPresence)
    );
    assert_eq!(
        touched.verify(b"another decision", std::slice::from_ref(&key)),
        Err(SignatureError::Invalid)
    );
}

/// The real `ssh-keygen` signs a text here, as an approver would; the signature verifies by the
/// key's `.pub` line. Skipped, saying so, where `ssh-keygen` is not installed and `CI` is unset
/// (`.ci/test` installs `openssh-client`).
#[test]
fn a_signature_ssh_keygen_makes_now_verifies() {
    let text = b"grant request 019ab5c0-... for 4 hours\n";
    let Some(armor) = common::signing::ssh_keygen_signs_as_megan(text) else {
        return;
    };
    let key = CustomerKey::parse(&read("megan-ed25519.pub")).unwrap();
    let signature = DecisionSignature::parse(&armor).unwrap();
    assert_eq!(signature.verify(text, std::slice::from_ref(&key)), Ok(0));
    assert_eq!(signature.signer_fingerprint(), key.fingerprint());
}

/// The grant statement of the common fixtures' pending request, answering its notification.
fn statement_with(change: impl FnOnce(&mut StatementFacts<'_>)) -> DecisionStatement {
    let view = common::draft();
    let approver = common::megan();
    let manager = common::sam();
    let mut facts = StatementFacts {
        log: "lockbox.vendor.example/8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90",
        request: &view,
        approved_by: &manager,
        answered: Answered {
            sequence: 3,
            link: ChainHash::from_slice(&[7; 32]).unwrap(),
        },
        decision: Decision::Grant,
        approver: &approver,
        valid_until: common::at(chrono::TimeDelta::hours(12)),
    };
    change(&mut facts);
    DecisionStatement::new(&facts)
}

#[test]
fn a_statement_names_every_fact_of_its_decision_and_is_link_free() {
    let grant = statement_with(|_| {});
    assert_eq!(
        grant,
        statement_with(|_| {}),
        "the same facts, the same text"
    );
    insta::assert_snapshot!("grant_statement", grant.text());
    links::assert_link_free(&[("statement".to_owned(), grant.text().to_owned())]);
    // Leaked: the facts borrow them for as long as any statement is made here.
    let other_approver: &'static ApproverId =
        Box::leak(Box::new(ApproverId::new("oscar@contoso.com").unwrap()));
    let other_request = |change: fn(&mut customer_lockbox::Draft)| {
        let mut draft = common::draft();
        change(&mut draft);
        let draft: &'static customer_lockbox::Draft = Box::leak(Box::new(draft));
        draft
    };
    let other_id = other_request(|v| v.id = common::request_id(9));
    let other_why = other_request(|v| {
        v.justification = customer_lockbox::Justification::new("Something else").unwrap()
    });
    let longer = other_request(|v| {
        v.access_duration = customer_lockbox::AccessDuration::from_hours(8).unwrap()
    });
    let others = [
        statement_with(|f| f.decision = Decision::Deny),
        statement_with(|f| f.decision = Decision::Revoke),
        statement_with(|f| f.approver = other_approver),
        statement_with(|f| f.log = "lockbox.vendor.example/7c0ffee0-2f7d-4e4b-9a51-3c1f6d2e7a90"),
        statement_with(|f| f.answered.sequence = 4),
        statement_with(|f| f.answered.link = ChainHash::from_slice(&[8; 32]).unwrap()),
        statement_with(|f| f.valid_until = common::at(chrono::TimeDelta::hours(13))),
        statement_with(|f| f.request = other_id),
        statement_with(|f| f.request = other_why),
        statement_with(|f| f.request = longer),
    ];
    for (n, other) in others.iter().enumerate() {
        assert_ne!(
            other.text(),
            grant.text(),
            "fact {n} is not in the statement"
        );
    }
}

#[test]
fn a_signature_over_one_statement_is_worth_nothing_for_another() {
    let public = common::signing::megans_key();
    let grant = statement_with(|_| {});
    let armor = common::signing::signed_by_megan(grant.as_bytes());
    let signature = DecisionSignature::parse(&armor).unwrap();
    assert_eq!(
        signature.verify(grant.as_bytes(), std::slice::from_ref(&public)),
        Ok(0)
    );
    let deny = statement_with(|f| f.decision = Decision::Deny);
    let another_record = statement_with(|f| f.answered.sequence = 9);
    for other in [deny, another_record] {
        assert_eq!(
            signature.verify(other.as_bytes(), std::slice::from_ref(&public)),
            Err(SignatureError::Invalid)
        );
    }
}

/// The pure workflow checks a signed grant as the store does: by the approver's key in the
/// policy passed, over this request's statement. The record keeps the signature (record format
/// 3, pinned here), loads back by replay, and an unsigned grant under a keyed policy is refused
/// and recorded.
#[test]
fn the_workflow_checks_a_signed_grant_and_its_record_keeps_it() {
    use customer_lockbox::{GrantOutcome, Refusal, RequestRecord, SignatureFault, SignedDecision};
    let policy = common::signing::keyed_policy();
    let log = "lockbox.vendor.example/8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90";
    let link = ChainHash::from_slice(&[7; 32]).unwrap();
    let pending = common::pending_under(&policy);
    let statement = pending
        .decision_statement(&common::megan(), Decision::Grant, log, link)
        .unwrap();
    let answers = Answered { sequence: 3, link };
    let signed = SignedDecision::new(
        log,
        answers,
        &common::signing::signed_by_megan(statement.as_bytes()),
    );
    // Unsigned: refused and recorded.
    let refused = pending
        .grant(&common::megan(), &policy, common::at(common::hours(1)))
        .unwrap_err();
    assert_eq!(refused.refusal(), Refusal::UnsignedDecision);
    let pending = refused.into_request();
    // By a key that is not Megan's: refused.
    let insiders = SignedDecision::new(
        log,
        answers,
        &common::signing::insiders_key().sign(statement.as_bytes()),
    );
    let refused = pending
        .grant_signed(
            &common::megan(),
            &insiders,
            &policy,
            common::at(common::hours(1)),
        )
        .unwrap_err();
    assert_eq!(
        refused.refusal(),
        Refusal::DecisionSignatureRefused {
            fault: SignatureFault::UnknownKey
        }
    );
    let pending = refused.into_request();
    // Megan's signature, as Lee's grant: over another statement.
    let refused = pending
        .grant_signed(
            &ApproverId::new("lee@contoso.com").unwrap(),
            &signed,
            &policy,
            common::at(common::hours(1)),
        )
        .unwrap_err();
    assert_eq!(
        refused.refusal(),
        Refusal::DecisionSignatureRefused {
            fault: SignatureFault::UnknownKey
        },
        "Lee's keys do not hold Megan's"
    );
    let pending = refused.into_request();
    let GrantOutcome::Granted(granted) = pending
        .grant_signed(
            &common::megan(),
            &signed,
            &policy,
            common::at(common::hours(1)),
        )
        .unwrap()
    else {
        panic!("in time");
    };
    let record = granted.audit_trail().last().unwrap();
    assert_eq!(record.signature(), Some(&signed));
    let json = granted.to_record().to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    insta::assert_snapshot!(
        "signed_grant_record",
        serde_json::to_string_pretty(&value["trail"][6]).unwrap()
    );
    let loaded = RequestRecord::from_json(&json).unwrap().load().unwrap();
    assert_eq!(loaded.audit_trail(), granted.audit_trail());
    assert!(record.to_string().ends_with(&format!(
        "(signed by {})",
        common::signing::megans_key().fingerprint()
    )));
}
