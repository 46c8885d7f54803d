//! Bad input at every public constructor: one table of hostile strings run through every
//! constructor that takes text, and the durations, sizes and lists the others take. Every
//! refusal is a typed error whose message says what was wrong and what to do; the messages are
//! snapshotted, so a change to any of them is reviewed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fmt::Write as _;

use chrono::TimeDelta;
use common::*;
use customer_lockbox::*;

/// Hostile strings, each with the name it is shown under (the huge one would swamp the
/// snapshot).
fn hostile() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("blank", " \u{a0}\u{3000} ".into()),
        ("huge: 100,000 characters", "x".repeat(100_000)),
        ("NUL", "alex\0@contoso.com".into()),
        ("bell", "alex\u{7}".into()),
        ("escape sequence", "\u{1b}[31mred".into()),
        ("line break", "first\nsecond".into()),
        ("carriage return", "first\rsecond".into()),
        ("tab", "first\tsecond".into()),
        ("DEL", "alex\u{7f}".into()),
        ("C1 control", "alex\u{85}".into()),
        ("bidi override", "evil\u{202e}moc.osotnoc".into()),
        ("bidi isolate", "x\u{2066}y\u{2069}".into()),
        ("left-to-right mark", "x\u{200e}y".into()),
        ("leading space", " alex".into()),
        ("trailing space", "alex ".into()),
        ("link", "https://evil.example/reset".into()),
        (
            "tenant id: nil GUID",
            "00000000-0000-0000-0000-000000000000".into(),
        ),
        ("tenant id: domain", "contoso.onmicrosoft.com".into()),
        (
            "tenant id: one digit short",
            "8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a9".into(),
        ),
        (
            "tenant id: braces",
            "{8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90}".into(),
        ),
        ("plausible", "alex@support.vendor.example".into()),
    ]
}

/// One line per input: its name, then `ok` or the error message.
fn table<T, E: std::fmt::Display>(
    out: &mut String,
    constructor: &str,
    make: impl Fn(&str) -> Result<T, E>,
) {
    writeln!(out, "## {constructor}").unwrap();
    for (name, input) in hostile() {
        let result = match make(&input) {
            Ok(_) => "ok".to_owned(),
            Err(err) => says_what_to_do(err.to_string()),
        };
        writeln!(out, "{name} => {result}").unwrap();
    }
}

/// Checks that `message` says what was wrong, then (after a colon) what to do, and that it does
/// not echo a huge input back.
fn says_what_to_do(message: String) -> String {
    let (what, advice) = message
        .split_once(": ")
        .unwrap_or_else(|| panic!("no advice in: {message}"));
    assert!(!what.is_empty() && advice.len() >= 5, "{message}");
    assert!(
        message.len() < 400,
        "a message echoing its input: {} bytes",
        message.len()
    );
    message
}

#[test]
fn every_constructor_refuses_hostile_strings_and_says_what_to_do() {
    let mut out = String::new();
    table(&mut out, "TenantId::parse", TenantId::parse);
    table(&mut out, "RequestId::parse", RequestId::parse);
    table(&mut out, "ServiceRequestNumber::new", |s| {
        ServiceRequestNumber::new(s)
    });
    table(&mut out, "Justification::new", |s| Justification::new(s));
    table(&mut out, "EngineerId::new", |s| EngineerId::new(s));
    table(&mut out, "SupportManagerId::new", |s| {
        SupportManagerId::new(s)
    });
    table(&mut out, "ApproverId::new", |s| ApproverId::new(s));
    table(&mut out, "EmailAddress::new", |s| EmailAddress::new(s));
    table(&mut out, "Operation::new", |s| Operation::new(s));
    table(&mut out, "Target::new", |s| Target::new(s));
    table(
        &mut out,
        "RequestRecord::from_json",
        RequestRecord::from_json,
    );
    insta::assert_snapshot!("hostile_strings", out);
}

#[test]
fn durations_sizes_and_lists_say_what_to_do() {
    let mut out = String::new();
    writeln!(out, "## AccessDuration::new").unwrap();
    for delta in [
        TimeDelta::zero(),
        TimeDelta::minutes(-30),
        TimeDelta::seconds(-1),
        TimeDelta::MIN,
        TimeDelta::seconds(59),
        TimeDelta::seconds(61),
        TimeDelta::hours(24) + TimeDelta::minutes(1),
        TimeDelta::MAX,
    ] {
        let err = AccessDuration::new(delta).unwrap_err();
        writeln!(out, "{delta} => {}", says_what_to_do(err.to_string())).unwrap();
    }
    writeln!(out, "## AccessDuration::from_minutes, from_hours").unwrap();
    for err in [
        AccessDuration::from_minutes(0).unwrap_err(),
        AccessDuration::from_minutes(u32::MAX).unwrap_err(),
        AccessDuration::from_hours(0).unwrap_err(),
        AccessDuration::from_hours(25).unwrap_err(),
        AccessDuration::from_hours(u32::MAX).unwrap_err(),
    ] {
        writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    }
    writeln!(
        out,
        "## Request::draft: over the policy's maximum, wrong tenant"
    )
    .unwrap();
    let strict = policy().with_max_access_duration(AccessDuration::from_hours(2).unwrap());
    let over = Draft {
        access_duration: AccessDuration::from_hours(8).unwrap(),
        ..draft()
    };
    let err = Request::draft(over, &strict, t0()).unwrap_err();
    assert!(err.is_over_policy_maximum());
    writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    let elsewhere = Draft {
        tenant: fabrikam(),
        ..draft()
    };
    let err = Request::draft(elsewhere, &policy(), t0()).unwrap_err();
    writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    writeln!(out, "## PageSize::new").unwrap();
    for size in [0, 1001, u32::MAX] {
        let err = PageSize::new(size).unwrap_err();
        writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    }
    writeln!(out, "## Services::new, TenantPolicy::new").unwrap();
    let err = Services::new([]).unwrap_err();
    writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    let megan_twice = vec![
        DesignatedApprover::new(megan(), EmailAddress::new("megan@contoso.com").unwrap()),
        DesignatedApprover::new(
            megan(),
            EmailAddress::new("megan.smith@contoso.com").unwrap(),
        ),
    ];
    let err = TenantPolicy::new(contoso(), megan_twice).unwrap_err();
    writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    writeln!(out, "## TenantId::from_uuid, RequestId::from_uuid").unwrap();
    let err = TenantId::from_uuid(uuid::Uuid::nil()).unwrap_err();
    writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    let v4 = uuid::Uuid::parse_str("6f1c0c2a-9d3e-4b7a-8c11-2e5f7a901b3c").unwrap();
    let err = RequestId::from_uuid(v4).unwrap_err();
    writeln!(out, "{}", says_what_to_do(err.to_string())).unwrap();
    insta::assert_snapshot!("durations_sizes_lists", out);
}
