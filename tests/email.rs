//! Notifications as RFC 5322 messages: one per recipient, plain text in UTF-8, and no links in
//! any header or body line once parsed back, whatever the inputs.
#![cfg(feature = "email")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use common::*;
use customer_lockbox::*;
use lettre::message::Mailbox;
use linkify::LinkKind;
use mail_parser::MessageParser;

fn from() -> Mailbox {
    "Customer Lockbox <lockbox@support.vendor.example>"
        .parse()
        .unwrap()
}

/// Formats each message, parses it back, and checks every header and body line.
fn check(notification: &Notification) -> Vec<String> {
    let (formatted, lines) = format_and_parse(notification);
    links::assert_link_free(&lines);
    formatted
}

/// Formats each message and parses it back, checking what must hold of its form; returns the
/// messages and every line a renderer may see (for the link detectors).
fn format_and_parse(notification: &Notification) -> (Vec<String>, Vec<(String, String)>) {
    let messages = notification
        .to_messages(&from(), at(TimeDelta::hours(3)))
        .unwrap();
    assert_eq!(
        messages.len(),
        notification.recipients().len(),
        "one message per recipient"
    );
    let finder = eager_finder();
    let mut formatted = Vec::new();
    // Every line a renderer may see, for every link detector the tests run.
    let mut lines: Vec<(String, String)> = Vec::new();
    for (message, recipient) in messages.iter().zip(notification.recipients()) {
        let bytes = message.formatted();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let (head, raw_body) = text.split_once("\r\n\r\n").unwrap();
        // The body as transmitted (quoted-printable lines) must not link either.
        lines.push((
            format!("{recipient}: encoded body"),
            raw_body.replace("\r\n", "\n"),
        ));
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        for line in unfolded.split("\r\n") {
            let (name, value) = line.split_once(": ").unwrap();
            let links: Vec<_> = finder.links(value).collect();
            if !matches!(name, "From" | "To") {
                lines.push((format!("{recipient}: header {name}"), value.to_owned()));
            }
            match name {
                // An address header holds its own address, and nothing else that links.
                "From" => assert!(
                    links.iter().all(|l| l.kind() == &LinkKind::Email
                        && l.as_str() == "lockbox@support.vendor.example"),
                    "{line}"
                ),
                "To" => assert!(
                    links
                        .iter()
                        .all(|l| l.kind() == &LinkKind::Email && l.as_str() == recipient.as_str()),
                    "{line}"
                ),
                _ => assert!(links.is_empty(), "header {line:?} links {links:?}"),
            }
            assert_ne!(name, "Bcc");
        }
        assert!(
            unfolded.contains("Content-Type: text/plain; charset=utf-8"),
            "{unfolded}"
        );
        let parsed = MessageParser::default()
            .parse(&bytes)
            .expect("an RFC 5322 message");
        assert_eq!(parsed.subject(), Some(notification.subject()));
        let to: Vec<String> = parsed
            .to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address().map(str::to_owned))
            .collect();
        assert_eq!(to, [recipient.as_str()]);
        let body = parsed.body_text(0).unwrap().replace("\r\n", "\n");
        assert_eq!(body, notification.body(), "the body survives encoding");
        lines.push((format!("{recipient}: body"), body));
        lines.push((
            format!("{recipient}: subject"),
            notification.subject().to_owned(),
        ));
        formatted.push(text);
    }
    (formatted, lines)
}

#[test]
fn the_approvers_message_is_one_per_approver_and_link_free() {
    let hostile = Draft {
        justification: Justification::new(
            "Café: see https://evil.example/reset or mail bob@evil.example — naïve",
        )
        .unwrap(),
        engineer: EngineerId::new("bob@evil.example").unwrap(),
        ..draft()
    };
    let drafted = Request::draft(hostile, &policy(), t0()).unwrap();
    let approved = drafted
        .approve(&SupportManagerId::new("www.evil.example").unwrap(), t0())
        .unwrap();
    let (_, notification) = approved
        .notify(&policy(), at(TimeDelta::minutes(20)))
        .unwrap();
    let formatted = check(&notification);
    assert_eq!(formatted.len(), 2);
    assert!(formatted[0].contains("To: megan@contoso.com\r\n"));
    assert!(
        !formatted[0].contains("lee.admin@contoso.com"),
        "one recipient per message"
    );
}

#[test]
fn the_engineers_messages_and_the_report_are_link_free() {
    let engineer = EmailAddress::new("alex@support.vendor.example").unwrap();
    check(&Notification::access_granted(&granted(), engineer.clone()));
    let DenyOutcome::Denied(denied) = pending()
        .deny(&megan(), &policy(), at(TimeDelta::hours(1)))
        .unwrap()
    else {
        panic!("in time")
    };
    check(&Notification::no_access(&denied, engineer).unwrap());
    let hostile = EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new("GET https://evil.example/api?x=1").unwrap(),
        Target::new(r"\\fileserver\share and bob@evil.example").unwrap(),
    );
    let ActionOutcome::Recorded(granted) = granted()
        .record_action(&alex(), hostile, at(TimeDelta::hours(2)))
        .unwrap()
    else {
        panic!("inside the window")
    };
    let closed = granted.close(&alex(), at(TimeDelta::hours(3))).unwrap();
    let formatted = check(&Notification::access_report(&closed, &policy()).unwrap());
    insta::assert_snapshot!("report_message", formatted[0].replace("\r\n", "\n"));
}

#[test]
fn every_kind_of_message_is_link_free_with_hostile_text_in_every_free_text_field() {
    let engineer = EmailAddress::new("alex@support.vendor.example").unwrap();
    let mut lines = Vec::new();
    for (n, text) in links::HOSTILE_TEXT.iter().enumerate() {
        let hostile = Draft {
            id: request_id(100 + n as u128),
            justification: Justification::new(*text).unwrap(),
            ..draft()
        };
        let drafted = Request::draft(hostile, &policy(), t0()).unwrap();
        let approved = drafted.approve(&sam(), t0()).unwrap();
        let (pending, decision) = approved.notify(&policy(), t0()).unwrap();
        let mut notifications = vec![decision];
        let DenyOutcome::Denied(denied) = pending
            .deny(&megan(), &policy(), at(TimeDelta::hours(1)))
            .unwrap()
        else {
            panic!("in time")
        };
        notifications.push(Notification::no_access(&denied, engineer.clone()).unwrap());
        let action = EngineerAction::new(
            Service::ExchangeOnline,
            Operation::new(*text).unwrap(),
            Target::new(*text).unwrap(),
        );
        let granted = granted();
        notifications.push(Notification::access_granted(&granted, engineer.clone()));
        let ActionOutcome::Recorded(acted) = granted
            .record_action(&alex(), action, at(TimeDelta::hours(2)))
            .unwrap()
        else {
            panic!("inside the window")
        };
        let revoked = acted
            .revoke(&megan(), &policy(), at(TimeDelta::hours(3)))
            .unwrap();
        notifications.push(Notification::access_report(&revoked, &policy()).unwrap());
        for notification in &notifications {
            lines.extend(format_and_parse(notification).1);
        }
    }
    links::assert_link_free(&lines);
}

/// Checks every message a delivery run hands over.
struct Checking(Vec<NotificationKind>);

impl Sender for Checking {
    type Error = std::convert::Infallible;

    async fn send(&mut self, delivery: &Delivery) -> Result<(), Self::Error> {
        check(delivery.notification());
        self.0.push(delivery.notification().kind());
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn messages_delivered_from_the_outbox_are_link_free_under_hostile_inputs() {
    let hostile = Draft {
        justification: Justification::new(
            "urgent: http://evil.example/login \u{FF0E} evil\u{3002}example",
        )
        .unwrap(),
        engineer: EngineerId::new("bob@evil.example").unwrap(),
        service_request: ServiceRequestNumber::new("evil-example-com").unwrap(),
        ..draft()
    };
    let store = SqliteStore::open_in_memory().await.unwrap();
    contoso_policy_in(&store).await;
    let id = store.draft(hostile, t0()).await.unwrap().id();
    let _approved = store
        .approve(
            id,
            &SupportManagerId::new("www.evil.example").unwrap(),
            t0(),
        )
        .await
        .unwrap();
    let _pending = store.notify(id, t0()).await.unwrap();
    let GrantOutcome::Granted(_) = store
        .grant(
            id,
            &ApproverId::new("lee@contoso.com").unwrap(),
            at(hours(1)),
        )
        .await
        .unwrap()
    else {
        panic!("in time")
    };
    let hostile_action = EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new("GET https://evil.example/api?x=1").unwrap(),
        Target::new(r"\\fileserver\share and bob@evil.example").unwrap(),
    );
    let report = store
        .record_actions(
            id,
            &EngineerId::new("bob@evil.example").unwrap(),
            [hostile_action],
            at(hours(2)),
        )
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    assert_eq!(
        store.sweep(at(hours(6))).await.unwrap().access_ended,
        vec![id]
    );
    let directory = AddressBook::new()
        .with_engineer(
            EngineerId::new("bob@evil.example").unwrap(),
            EmailAddress::new("bob@support.vendor.example").unwrap(),
        )
        .with_policy(&policy());
    let mut sender = Checking(Vec::new());
    let report = store
        .deliver(&directory, &mut sender, at(hours(6)), TimeDelta::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        report.dropped().len(),
        1,
        "granted before the decision message went: {report}"
    );
    assert_eq!(
        sender.0,
        [
            NotificationKind::AccessGranted,
            NotificationKind::AccessEnded
        ]
    );
}

/// Every kind of message to a tenant's approvers, delivered by a store with a checkpoint
/// signer, ends with the tenant's latest signed checkpoint, and the post-access report with a
/// proof of each record of the request it states, every action it lists included: read back from the message as received, each proof verifies
/// against the log's entry with nothing but the log's public key, and every message stays free
/// of links for every detector (the log is named like a domain, and base64 has `/` and `+`).
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn approvers_messages_carry_the_checkpoint_and_the_report_its_proofs_link_free() {
    use customer_lockbox::evidence::Evidence;
    use customer_lockbox::evidence::log_origin;
    use customer_lockbox::tlog::{SignerKey, TlogProof};

    #[derive(Default)]
    struct Keeping(Vec<Delivery>);
    impl Sender for Keeping {
        type Error = std::convert::Infallible;
        async fn send(&mut self, delivery: &Delivery) -> Result<(), Self::Error> {
            check(delivery.notification());
            self.0.push(delivery.clone());
            Ok(())
        }
    }

    let signer = SignerKey::from_seed("lockbox.evil.example", &[7; 32]).unwrap();
    let key = signer.verifier();
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.migrate().await.unwrap();
    store.set_checkpoint_signer(signer);
    contoso_policy_in(&store).await;
    let id = pending_as(&store, 1).await;
    let directory = directory();
    let mut sender = Keeping::default();
    let lease = TimeDelta::minutes(5);
    store
        .deliver(&directory, &mut sender, at(minutes(20)), lease)
        .await
        .unwrap();
    let GrantOutcome::Granted(_) = store.grant(id, &megan(), at(hours(1))).await.unwrap() else {
        panic!("in time")
    };
    let hostile = EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new("GET https://evil.example/api?x=1").unwrap(),
        Target::new("www.evil.example and bob@evil.example").unwrap(),
    );
    let report = store
        .record_actions(id, &alex(), [mailbox_read(), hostile], at(hours(2)))
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    store.revoke(id, &megan(), at(hours(3))).await.unwrap();
    store
        .deliver(&directory, &mut sender, at(hours(3)), lease)
        .await
        .unwrap();

    let origin = log_origin("lockbox.evil.example", contoso());
    let entries = store.log_entries(contoso()).await.unwrap();
    let to_approvers: Vec<&Delivery> = sender
        .0
        .iter()
        .filter(|d| {
            matches!(
                d.notification().kind(),
                NotificationKind::DecisionNeeded | NotificationKind::AccessEnded
            )
        })
        .collect();
    assert_eq!(to_approvers.len(), 2, "the decision message and the report");
    for delivery in &to_approvers {
        let evidence = delivery.evidence().expect("a message to the approvers");
        let read = Evidence::from_message(delivery.notification().body()).unwrap();
        assert_eq!(&read, evidence, "the evidence reads back from the message");
        customer_lockbox::tlog::Checkpoint::open(
            read.checkpoint(),
            &origin,
            std::slice::from_ref(&key),
        )
        .unwrap();
    }
    let report = to_approvers
        .iter()
        .find(|d| d.notification().kind() == NotificationKind::AccessEnded)
        .unwrap();
    let proofs = Evidence::from_message(report.notification().body())
        .unwrap()
        .proofs()
        .to_vec();
    // Every record of the request up to the revocation: both actions, and the grant.
    let revoked = entries.iter().find(|e| e.kind() == "revoked").unwrap();
    assert_eq!(
        proofs.len() as u64,
        revoked.sequence(),
        "one proof per record"
    );
    let kinds: Vec<&str> = proofs
        .iter()
        .map(|p| entries[usize::try_from(p.proof.index()).unwrap()].kind())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "engineer_acted").count(),
        2,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"granted") && kinds.contains(&"revoked"),
        "{kinds:?}"
    );
    for action in &proofs {
        assert_eq!(action.record.0, id);
        let entry = &entries[usize::try_from(action.proof.index()).unwrap()];
        assert_eq!(entry.request(), Some(id));
        assert_eq!(entry.sequence(), action.record.1);
        TlogProof::parse(&action.proof.to_text())
            .unwrap()
            .verify(&entry.leaf_hash(), &origin, std::slice::from_ref(&key))
            .unwrap();
    }
    // The engineer's messages carry none.
    assert!(
        sender
            .0
            .iter()
            .filter(|d| d.notification().kind() == NotificationKind::AccessGranted)
            .all(|d| d.evidence().is_none())
    );
    insta::assert_snapshot!("report_with_evidence", report.notification().body());
}
