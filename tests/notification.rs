//! The approvers' notification: what it says, and that nothing in it becomes a link, whatever
//! the engineer or the tenant typed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use common::*;
use customer_lockbox::*;
use linkify::{LinkFinder, LinkKind};
use proptest::prelude::*;

/// The most eager detector linkify offers: URLs without a scheme (`evil.example`), IRIs, and
/// email addresses whose domain has no dot.
fn eager_finder() -> LinkFinder {
    let mut finder = LinkFinder::new();
    finder
        .kinds(&[LinkKind::Url, LinkKind::Email])
        .url_must_have_scheme(false)
        .url_can_be_iri(true)
        .email_domain_must_have_dot(false);
    finder
}

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
        .map(|r| r.email().as_str())
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
