//! Validated values: what each constructor refuses, the message it gives, and serde that checks
//! on the way in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use chrono::TimeDelta;
use customer_lockbox::*;

/// Runs `make` over each input and writes one line per input: the input, then the error
/// message or "ok" and the value made.
fn table<T: std::fmt::Display, E: std::fmt::Display>(
    inputs: &[&str],
    make: impl Fn(&str) -> Result<T, E>,
) -> String {
    let mut out = String::new();
    for input in inputs {
        let shown: String = if input.chars().count() > 40 {
            format!("<{} chars>", input.chars().count())
        } else {
            format!("{input:?}")
        };
        let result = match make(input) {
            Ok(value) => format!("ok: {value}"),
            Err(err) => err.to_string(),
        };
        writeln!(out, "{shown} => {result}").unwrap();
    }
    out
}

fn hostile() -> Vec<String> {
    vec![
        String::new(),
        "   ".into(),
        "x".repeat(1001),
        "nul\0byte".into(),
        "line\nbreak".into(),
        "tab\there".into(),
        "bidi \u{202E}override".into(),
        "isolate \u{2066}x".into(),
        " padded".into(),
        "https://evil.example".into(),
    ]
}

#[test]
fn text_values_refuse_hostile_strings() {
    let inputs = hostile();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut out = String::new();
    writeln!(out, "## justification").unwrap();
    out += &table(&inputs, |s| Justification::new(s));
    writeln!(out, "## service request number").unwrap();
    out += &table(&inputs, |s| ServiceRequestNumber::new(s));
    writeln!(out, "## engineer id").unwrap();
    out += &table(&inputs, |s| EngineerId::new(s));
    writeln!(out, "## operation").unwrap();
    out += &table(&inputs, |s| Operation::new(s));
    writeln!(out, "## target").unwrap();
    out += &table(&inputs, |s| Target::new(s));
    insta::assert_snapshot!("text_value_errors", out);
}

#[test]
fn every_text_error_is_invalid_text() {
    for input in hostile().iter().filter(|s| !s.starts_with("https")) {
        assert!(
            Justification::new(input.as_str())
                .unwrap_err()
                .is_invalid_text(),
            "{input:?}"
        );
    }
}

#[test]
fn people_ids_and_addresses() {
    let ids = [
        "megan@contoso.com",
        "",
        "megan smith",
        "m\u{0}",
        &"a".repeat(129),
        "o'brien",
        // One person, however spelled: case, width, surrounding space, compatibility forms.
        "MEGAN@Contoso.COM",
        " megan@contoso.com\t",
        "\u{FF4D}\u{FF45}\u{FF47}\u{FF41}\u{FF4E}\u{FF20}contoso\u{FF0E}com",
        "\u{212A}elvin",
        "Stra\u{DF}e",
        // Not folded into the alphabet: refused, never guessed.
        "m\u{E9}gan",
        "\u{43C}egan",
    ];
    let mut out = String::from("## approver id\n");
    out += &table(&ids, |s| ApproverId::new(s));
    out += "## support manager id\n";
    out += &table(&ids, |s| SupportManagerId::new(s));
    out += "## email address\n";
    out += &table(
        &[
            "megan@contoso.com",
            "megan",
            "",
            "Megan <megan@contoso.com>",
            "megan@contoso.com\n",
            "a@b",
        ],
        |s| EmailAddress::new(s),
    );
    insta::assert_snapshot!("people_errors", out);
}

/// Addresses compare by the identity rule: case and a `+tag` set aside, so one mailbox is one
/// person however it is spelled.
#[test]
fn an_address_is_one_person_however_spelled() {
    let megan = EmailAddress::new("megan@contoso.com").unwrap();
    for spelling in [
        "MEGAN@contoso.com",
        "megan+2@contoso.com",
        "Megan@Contoso.com",
    ] {
        let other = EmailAddress::new(spelling).unwrap();
        assert!(megan.is_same_person_as(&other), "{spelling}");
        assert!(other.is_same_person_as(&megan), "{spelling}");
    }
    for other in [
        "lee@contoso.com",
        "megan@fabrikam.com",
        "megan2@contoso.com",
    ] {
        let other = EmailAddress::new(other).unwrap();
        assert!(!megan.is_same_person_as(&other), "{other}");
    }
}

#[test]
fn tenant_ids() {
    let out = table(
        &[
            "8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90",
            "8B5A0C4E2F7D4E4B9A513C1F6D2E7A90",
            "00000000-0000-0000-0000-000000000000",
            "contoso.onmicrosoft.com",
            "",
            "8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a9",
            "8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90\0",
        ],
        TenantId::parse,
    );
    insta::assert_snapshot!("tenant_id_errors", out);
}

#[test]
fn access_durations() {
    let cases = [
        TimeDelta::zero(),
        TimeDelta::minutes(-30),
        TimeDelta::seconds(1),
        TimeDelta::seconds(90),
        TimeDelta::minutes(1),
        TimeDelta::hours(24),
        TimeDelta::hours(24) + TimeDelta::minutes(1),
        TimeDelta::days(365),
        TimeDelta::MAX,
        TimeDelta::MIN,
    ];
    let mut out = String::new();
    for case in cases {
        let result = match AccessDuration::new(case) {
            Ok(d) => format!("ok: {d}"),
            Err(err) => {
                assert!(err.is_invalid_duration());
                err.to_string()
            }
        };
        writeln!(out, "{}s => {result}", case.num_seconds()).unwrap();
    }
    insta::assert_snapshot!("duration_errors", out);
}

#[test]
fn services_page_sizes_request_ids_and_policies() {
    let mut out = String::new();
    writeln!(out, "{}", Services::new([]).unwrap_err()).unwrap();
    writeln!(out, "{}", PageSize::new(0).unwrap_err()).unwrap();
    writeln!(out, "{}", PageSize::new(1001).unwrap_err()).unwrap();
    let v4 = uuid::Uuid::from_u128(0x6f1c_0c2a_9d3e_4b7a_8c11_2e5f_7a90_1b3c);
    writeln!(out, "{}", RequestId::from_uuid(v4).unwrap_err()).unwrap();
    let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90").unwrap();
    let megan = DesignatedApprover::new(
        ApproverId::new("megan").unwrap(),
        EmailAddress::new("megan@contoso.com").unwrap(),
    );
    writeln!(
        out,
        "{}",
        TenantPolicy::new(tenant, vec![megan.clone(), megan]).unwrap_err()
    )
    .unwrap();
    insta::assert_snapshot!("other_value_errors", out);
}

#[test]
fn serde_round_trips_and_validates_on_the_way_in() {
    let policy = TenantPolicy::new(
        TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90").unwrap(),
        vec![DesignatedApprover::new(
            ApproverId::new("megan").unwrap(),
            EmailAddress::new("megan@contoso.com").unwrap(),
        )],
    )
    .unwrap()
    .with_max_access_duration(AccessDuration::from_hours(8).unwrap());
    let json = serde_json::to_string(&policy).unwrap();
    insta::assert_snapshot!("policy_json", json);
    assert_eq!(serde_json::from_str::<TenantPolicy>(&json).unwrap(), policy);

    let refused = [(r#""""#, "justification"), (r#""a\nb""#, "justification")];
    for (json, _) in refused {
        assert!(serde_json::from_str::<Justification>(json).is_err());
    }
    assert!(serde_json::from_str::<Services>("[]").is_err());
    assert!(serde_json::from_str::<AccessDuration>("0").is_err());
    assert!(serde_json::from_str::<AccessDuration>("1441").is_err());
    assert!(serde_json::from_str::<TenantId>(r#""00000000-0000-0000-0000-000000000000""#).is_err());
    assert!(
        serde_json::from_str::<RequestId>(r#""6f1c0c2a-9d3e-4b7a-8c11-2e5f7a901b3c""#).is_err()
    );
    assert!(serde_json::from_str::<EmailAddress>(r#""nobody""#).is_err());
    assert!(serde_json::from_str::<PageSize>("0").is_err());
    let duplicated = json.replace(
        r#""approvers":["#,
        r#""approvers":[{"id":"megan","email":"megan@contoso.com"},"#,
    );
    let err = serde_json::from_str::<TenantPolicy>(&duplicated).unwrap_err();
    assert!(err.to_string().contains("the same person"), "{err}");
    let services: Services =
        serde_json::from_str(r#"["share_point_online","exchange_online","exchange_online"]"#)
            .unwrap();
    assert_eq!(services.to_string(), "Exchange Online, SharePoint Online");
}

#[test]
fn errors_are_send_sync_and_cheap() {
    fn assert_traits<T: std::error::Error + Send + Sync + Clone + 'static>() {}
    assert_traits::<Error>();
    assert!(std::mem::size_of::<Error>() <= std::mem::size_of::<usize>());
}

/// What a query string carries parses back: every state and event kind by its stored name, and
/// every actor as ROLE:ID (or `system`); anything else is refused naming what would do.
#[test]
fn states_kinds_and_actors_parse_from_their_names() {
    for state in StateKind::ALL {
        assert_eq!(state.as_str().parse::<StateKind>().unwrap(), state);
    }
    for kind in AuditEventKind::ALL {
        assert_eq!(kind.as_str().parse::<AuditEventKind>().unwrap(), kind);
    }
    for actor in [
        Actor::Engineer(EngineerId::new("alex@support.vendor.example").unwrap()),
        Actor::SupportManager(SupportManagerId::new("sam@support.vendor.example").unwrap()),
        Actor::Approver(ApproverId::new("megan@contoso.com").unwrap()),
    ] {
        let text = format!("{}:{}", actor.role(), actor.id());
        assert_eq!(text.parse::<Actor>().unwrap(), actor);
        assert_eq!(Actor::from_role(actor.role(), actor.id()).unwrap(), actor);
    }
    assert_eq!("system".parse::<Actor>().unwrap(), Actor::System);
    for bad in ["Pending", "pending customer", "", "closed "] {
        assert!(
            bad.parse::<StateKind>().unwrap_err().is_unknown_name(),
            "{bad:?}"
        );
    }
    assert!(
        "granted!"
            .parse::<AuditEventKind>()
            .unwrap_err()
            .is_unknown_name()
    );
    assert!("root".parse::<Actor>().unwrap_err().is_unknown_name());
    assert!(
        "manager:sam"
            .parse::<Actor>()
            .unwrap_err()
            .is_unknown_name()
    );
    assert!("engineer:".parse::<Actor>().unwrap_err().is_invalid_text());
    insta::assert_snapshot!(
        "unknown_names",
        [
            "pending".parse::<StateKind>().unwrap_err().to_string(),
            "root".parse::<Actor>().unwrap_err().to_string(),
        ]
        .join("\n")
    );
}

/// Cursors travel to a client and back as their text: serde writes and reads that text.
#[test]
fn cursors_serialize_as_their_text() {
    let request: RequestCursor = "r1764000000000000000.019ab5c0000070008000000000000001"
        .parse()
        .unwrap();
    let json = serde_json::to_string(&request).unwrap();
    assert_eq!(json, format!("\"{request}\""));
    assert_eq!(
        serde_json::from_str::<RequestCursor>(&json).unwrap(),
        request
    );
    let outbox: OutboxCursor = "o42".parse().unwrap();
    assert_eq!(serde_json::to_string(&outbox).unwrap(), "\"o42\"");
    assert_eq!(
        serde_json::from_str::<OutboxCursor>("\"o42\"").unwrap(),
        outbox
    );
    assert!(serde_json::from_str::<OutboxCursor>("\"42\"").is_err());
}

/// A policy is bounded when it is built: at least one approver and at most
/// `TenantPolicy::MAX_APPROVERS`, and at most `TenantPolicy::MAX_APPROVALS_REQUIRED` approvals.
#[test]
fn a_policy_is_bounded() {
    let tenant = TenantId::parse("8b5a0c4e-2f7d-4e4b-9a51-3c1f6d2e7a90").unwrap();
    let approvers = |n: usize| -> Vec<DesignatedApprover> {
        (0..n)
            .map(|i| {
                DesignatedApprover::new(
                    ApproverId::new(format!("a{i}@contoso.com")).unwrap(),
                    EmailAddress::new(format!("a{i}@contoso.com")).unwrap(),
                )
            })
            .collect()
    };
    assert!(
        TenantPolicy::new(tenant, approvers(0))
            .unwrap_err()
            .is_invalid_approver_count()
    );
    assert!(TenantPolicy::new(tenant, approvers(TenantPolicy::MAX_APPROVERS)).is_ok());
    let err = TenantPolicy::new(tenant, approvers(TenantPolicy::MAX_APPROVERS + 1)).unwrap_err();
    assert!(err.is_invalid_approver_count());
    insta::assert_snapshot!("too_many_approvers", err.to_string());
    let many = TenantPolicy::new(tenant, approvers(20)).unwrap();
    assert!(
        many.clone()
            .with_approvals_required(TenantPolicy::MAX_APPROVALS_REQUIRED)
            .is_ok()
    );
    let err = many
        .with_approvals_required(TenantPolicy::MAX_APPROVALS_REQUIRED + 1)
        .unwrap_err();
    assert!(err.is_invalid_approvals_required());
    assert!(!err.is_invalid_approver_count());
    insta::assert_snapshot!("too_many_approvals_required", err.to_string());
    // The most a policy may require, of fewer people than that: the message asks for people,
    // not for a lower bound than the one it has.
    let err = TenantPolicy::new(tenant, approvers(3))
        .unwrap()
        .with_approvals_required(TenantPolicy::MAX_APPROVALS_REQUIRED)
        .unwrap_err();
    assert!(err.is_invalid_approvals_required());
    assert!(
        err.to_string()
            .contains("but the policy designates 3 approver(s): require 1 to 3"),
        "{err}"
    );
}
