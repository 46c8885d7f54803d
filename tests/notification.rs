//! The approvers' notification: what it says, and that nothing in it becomes a link, whatever
//! the engineer or the tenant typed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use common::*;
use customer_lockbox::*;
use proptest::prelude::*;

fn assert_link_free(notification: &Notification) {
    let finder = eager_finder();
    for (part, text) in [
        ("subject", notification.subject()),
        ("body", notification.body()),
    ] {
        for line in text.lines() {
            let links: Vec<_> = finder.links(line).map(|l| l.as_str().to_owned()).collect();
            assert!(links.is_empty(), "{part} line {line:?} has links {links:?}");
        }
    }
}

fn notify_with(
    engineer: &str,
    manager: &str,
    justification: &str,
    service_request: &str,
) -> Notification {
    let d = Draft {
        engineer: EngineerId::new(engineer).unwrap(),
        justification: Justification::new(justification).unwrap(),
        service_request: ServiceRequestNumber::new(service_request).unwrap(),
        ..draft()
    };
    let drafted = Request::draft(d, &policy(), t0()).unwrap();
    let approved = drafted
        .approve(&SupportManagerId::new(manager).unwrap(), t0())
        .unwrap();
    approved
        .notify(&policy(), t0() + TimeDelta::minutes(20))
        .unwrap()
        .1
}

#[test]
fn the_contoso_notification_reads_as_expected() {
    let notification = approved()
        .notify(&policy(), at(TimeDelta::minutes(20)))
        .unwrap()
        .1;
    let addresses: Vec<&str> = notification
        .recipients()
        .iter()
        .map(EmailAddress::as_str)
        .collect();
    assert_eq!(addresses, ["megan@contoso.com", "lee.admin@contoso.com"]);
    insta::assert_snapshot!(
        "contoso_notification",
        format!(
            "Subject: {}\n\n{}",
            notification.subject(),
            notification.body()
        )
    );
    assert_link_free(&notification);
}

/// The detector is real: it finds the links the notification would otherwise carry.
#[test]
fn the_detector_finds_what_it_must() {
    let finder = eager_finder();
    for text in [
        "https://evil.example/x",
        "evil.example",
        "www.evil.example",
        "bob@evil.example",
        "bob@intranet",
        "mailto:bob@evil.example",
    ] {
        assert!(
            finder.links(text).next().is_some(),
            "{text:?} was not detected"
        );
    }
}

const HOSTILE_TEXT: &[&str] = &[
    "see https://evil.example/reset?user=cfo",
    "go to www.evil.example now",
    "evil.example",
    "mail bob@evil.example",
    "mailto:bob@evil.example",
    "ftp://files.evil.example",
    "file:///etc/passwd",
    r"\\fileserver\share\payroll.xlsx",
    "javascript:alert(1)",
    "data:text/html,<a href=x>",
    "evil\u{FF0E}example and evil\u{3002}example and evil\u{FF61}example",
    "bob\u{FF20}evil\u{FF0E}example",
    "http\u{FF1A}//evil.example",
    "xn--80ak6aa92e.com",
    "192.168.0.1:8080/admin",
    "[link](https://evil.example)",
    "<https://evil.example>",
    "https://evil.example.",
    "(https://evil.example)",
    "user:password@evil.example",
    "tel:+15555550100",
    "evil.example\u{200B}.com",
    "ex\u{00AD}ample.com",
    "https://\u{0435}vil.example",
];

#[test]
fn hostile_justifications_never_become_links() {
    for text in HOSTILE_TEXT {
        let notification = notify_with("alex", "sam", text, "2611240010001234");
        assert_link_free(&notification);
    }
}

#[test]
fn hostile_people_ids_never_become_links() {
    for id in [
        "bob@evil.example",
        "www.evil.example",
        "evil.example",
        "a@b",
        "x.y@z.w+tag",
    ] {
        assert_link_free(&notify_with(id, "sam", "needed", "2611240010001234"));
        assert_link_free(&notify_with("alex", id, "needed", "2611240010001234"));
    }
}

#[test]
fn hostile_text_is_still_legible() {
    let notification = notify_with("alex", "sam", "see https://evil.example/reset", "1");
    assert!(
        notification
            .body()
            .contains("see https[:][/][/]evil[.]example[/]reset")
    );
}

const LINK_PIECES: &[&str] = &[
    "http", "https", "://", "www", ".", "@", "evil", "example", "com", "/", ":", " ", "\u{FF0E}",
    "\u{FF20}", "\u{3002}", "mailto", "\\", "-", "1",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any justification the crate accepts, built from link-prone pieces, renders link-free.
    #[test]
    fn any_accepted_justification_renders_link_free(
        pieces in prop::collection::vec(
            prop_oneof![
                prop::sample::select(LINK_PIECES).prop_map(str::to_owned),
                "[a-z]{1,6}",
                "\\PC{1,3}",
            ],
            1..24,
        )
    ) {
        let text: String = pieces.concat();
        if let Ok(justification) = Justification::new(text.trim()) {
            let notification = notify_with("alex", "sam", justification.as_str(), "2611240010001234");
            assert_link_free(&notification);
        }
    }
}

fn engineer_address() -> EmailAddress {
    EmailAddress::new("alex@support.vendor.example").unwrap()
}

fn shown(notification: &Notification) -> String {
    let to: Vec<&str> = notification
        .recipients()
        .iter()
        .map(EmailAddress::as_str)
        .collect();
    format!(
        "Kind: {:?}\nTo: {}\nSubject: {}\n\n{}",
        notification.kind(),
        to.join(", "),
        notification.subject(),
        notification.body()
    )
}

#[test]
fn the_engineer_hears_the_customers_decision() {
    let granted = granted();
    let message = Notification::access_granted(&granted, engineer_address());
    assert_link_free(&message);
    insta::assert_snapshot!("engineer_access_granted", shown(&message));

    let DenyOutcome::Denied(denied) = pending()
        .deny(&megan(), &policy(), at(TimeDelta::hours(2)))
        .unwrap()
    else {
        panic!("in time")
    };
    let message = Notification::no_access(&denied, engineer_address()).unwrap();
    assert_eq!(message.kind(), NotificationKind::NoAccess);
    assert_link_free(&message);
    insta::assert_snapshot!("engineer_denied", shown(&message));

    let PendingStatus::Expired(expired) = pending().check_expiry(at(TimeDelta::hours(13))) else {
        panic!("past the deadline")
    };
    let message = Notification::no_access(&expired, engineer_address()).unwrap();
    assert!(message.subject().ends_with("expired unanswered"));
    assert_link_free(&message);

    let completed = granted.close(&alex(), at(TimeDelta::hours(2))).unwrap();
    assert_eq!(
        Notification::no_access(&completed, engineer_address()),
        None
    );
}

fn hostile_action(n: usize) -> EngineerAction {
    EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new(HOSTILE_TEXT[n % HOSTILE_TEXT.len()]).unwrap(),
        Target::new(HOSTILE_TEXT[(n + 7) % HOSTILE_TEXT.len()]).unwrap(),
    )
}

#[test]
fn the_post_access_report_lists_every_action_and_how_access_ended() {
    let mut granted = granted();
    for (minutes, action) in [
        (10, mailbox_read()),
        (20, hostile_action(0)),
        (30, hostile_action(3)),
    ] {
        granted = match granted
            .record_action(
                &alex(),
                action,
                at(TimeDelta::hours(1) + TimeDelta::minutes(minutes)),
            )
            .unwrap()
        {
            ActionOutcome::Recorded(granted) => granted,
            ActionOutcome::AccessEnded(_) => panic!("inside the window"),
        };
    }
    let sharepoint = EngineerAction::new(
        Service::SharePointOnline,
        Operation::new("read list").unwrap(),
        Target::new("finance site").unwrap(),
    );
    let granted = granted
        .record_action(
            &alex(),
            sharepoint,
            at(TimeDelta::hours(1) + TimeDelta::minutes(40)),
        )
        .unwrap_err()
        .into_request();
    let revoked = granted
        .revoke(&megan(), &policy(), at(TimeDelta::hours(2)))
        .unwrap();
    let report = Notification::access_report(&revoked, &policy()).unwrap();
    assert_eq!(report.kind(), NotificationKind::AccessEnded);
    assert!(report.body().contains("Actions recorded (3):"));
    assert!(report.body().contains("Attempts refused (1):"));
    assert_link_free(&report);
    insta::assert_snapshot!("post_access_report", shown(&report));

    let Access::Ended(elapsed) = granted_again().access(at(TimeDelta::hours(5))) else {
        panic!("ended")
    };
    let report = Notification::access_report(&elapsed, &policy()).unwrap();
    assert!(report.body().contains("the access duration elapsed"));
    assert!(report.body().contains("Actions recorded (0):"));

    let rejected = drafted().reject(&sam(), at(TimeDelta::minutes(5))).unwrap();
    assert_eq!(Notification::access_report(&rejected, &policy()), None);
}

fn granted_again() -> Request<Granted> {
    granted()
}

#[test]
fn every_hostile_action_stays_unlinked_in_the_report() {
    let mut granted = granted();
    for n in 0..HOSTILE_TEXT.len() {
        let at_minute = at(TimeDelta::hours(1) + TimeDelta::minutes(n as i64));
        granted = match granted
            .record_action(&alex(), hostile_action(n), at_minute)
            .unwrap()
        {
            ActionOutcome::Recorded(granted) => granted,
            ActionOutcome::AccessEnded(_) => panic!("inside the window"),
        };
    }
    let outsider = ApproverId::new("bob@evil.example").unwrap();
    let with_outsider = TenantPolicy::new(
        contoso(),
        vec![DesignatedApprover::new(
            outsider.clone(),
            EmailAddress::new("bob@evil.example").unwrap(),
        )],
    )
    .unwrap();
    let revoked = granted
        .revoke(&outsider, &with_outsider, at(TimeDelta::hours(3)))
        .unwrap();
    let report = Notification::access_report(&revoked, &with_outsider).unwrap();
    assert!(
        report
            .body()
            .contains(&format!("Actions recorded ({}):", HOSTILE_TEXT.len()))
    );
    assert_link_free(&report);
}
