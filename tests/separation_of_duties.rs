//! Separation of duties on people, not on spellings: the engineer of a request is never its
//! support manager, nor an approver who grants, denies or revokes it, and neither is its support
//! manager an approver, however their sign-in names are spelled and whatever a tenant policy
//! says. Each refusal is recorded, and loads back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::runs::staff_policy;
use common::*;
use customer_lockbox::*;

/// Spellings of one sign-in name that a hostile caller might try: case, surrounding space, the
/// fullwidth forms a Unicode keyboard produces.
fn spellings(name: &str) -> Vec<String> {
    let fullwidth: String = name
        .chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(u32::from(c) - 0x21 + 0xFF01).unwrap(),
            other => other,
        })
        .collect();
    let mut capitalized = name.to_owned();
    capitalized[..1].make_ascii_uppercase();
    let (local, domain) = name.split_once('@').unwrap();
    vec![
        name.to_owned(),
        name.to_uppercase(),
        capitalized,
        format!("  {name}\t"),
        fullwidth,
        // One identity rule: a trailing dot of the domain and a +tag of the local part are
        // spellings of the same person.
        format!("{name}."),
        format!("{local}+mgr@{domain}"),
    ]
}

#[test]
fn the_engineer_never_approves_their_own_draft_however_spelled() {
    for spelling in spellings(alex().as_str()) {
        let manager = SupportManagerId::new(&spelling).unwrap();
        assert!(manager.is_same_person_as(&alex()), "{spelling:?}");
        for step in [Step::Approve, Step::Reject] {
            let refused = match step {
                Step::Approve => drafted().approve(&manager, at(minutes(5))).map(|_| ()),
                _ => drafted().reject(&manager, at(minutes(5))).map(|_| ()),
            }
            .unwrap_err();
            assert_eq!(
                refused.refusal(),
                Refusal::ManagerIsEngineer,
                "{spelling:?}"
            );
            let back = refused.into_request();
            let last = back.audit_trail().last().unwrap();
            assert_eq!(
                last.event(),
                &AuditEvent::Refused {
                    step,
                    refusal: Refusal::ManagerIsEngineer
                }
            );
            assert_eq!(last.actor(), &Actor::SupportManager(manager.clone()));
            assert!(back.to_record().load().is_ok());
        }
    }
}

/// Who of the vendor's staff tries to decide for the customer, and the rule that refuses them.
fn vendor_staff() -> Vec<(String, Refusal)> {
    let mut staff = Vec::new();
    for spelling in spellings(alex().as_str()) {
        staff.push((spelling, Refusal::ApproverIsEngineer));
    }
    for spelling in spellings(sam().as_str()) {
        staff.push((spelling, Refusal::ApproverIsSupportManager));
    }
    staff
}

#[test]
fn vendor_staff_never_grant_or_deny_even_when_a_policy_names_them() {
    for (spelling, rule) in vendor_staff() {
        let approver = ApproverId::new(&spelling).unwrap();
        // The tenant's policy designates them: separation of duties holds regardless.
        let policy = staff_policy(&approver);
        assert!(policy.designates(&approver));
        let actor = Actor::Approver(approver.clone());

        let refused = pending()
            .grant(&approver, &policy, at(minutes(30)))
            .unwrap_err();
        assert_eq!(
            (refused.step(), refused.refusal()),
            (Step::Grant, rule),
            "{spelling:?}"
        );
        let back = refused.into_request();
        assert_last_refusal(&back, Step::Grant, rule, &actor);

        let refused = pending()
            .deny(&approver, &policy, at(minutes(30)))
            .unwrap_err();
        assert_eq!(
            (refused.step(), refused.refusal()),
            (Step::Deny, rule),
            "{spelling:?}"
        );
        assert_last_refusal(&refused.into_request(), Step::Deny, rule, &actor);
    }
}

#[test]
fn vendor_staff_never_revoke_for_the_customer_even_when_a_policy_names_them() {
    for (spelling, rule) in vendor_staff() {
        let approver = ApproverId::new(&spelling).unwrap();
        let policy = staff_policy(&approver);
        let refused = granted()
            .revoke(&approver, &policy, at(hours(2)))
            .unwrap_err();
        assert_eq!(
            (refused.step(), refused.refusal()),
            (Step::Revoke, rule),
            "{spelling:?}"
        );
        let back = refused.into_request();
        assert_last_refusal(&back, Step::Revoke, rule, &Actor::Approver(approver));
        // Still granted: a real designated approver can still revoke.
        let closed = back.revoke(&megan(), &policy, at(hours(2))).unwrap();
        assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    }
}

fn assert_last_refusal<S: State>(
    request: &Request<S>,
    step: Step,
    refusal: Refusal,
    actor: &Actor,
) {
    let last = request.audit_trail().last().unwrap();
    assert_eq!(last.event(), &AuditEvent::Refused { step, refusal });
    assert_eq!(last.actor(), actor);
    let loaded = request.to_record().load().unwrap();
    assert_eq!(loaded.audit_trail(), request.audit_trail());
}

#[test]
fn a_designated_approver_is_one_person_however_spelled() {
    for spelling in spellings(megan().as_str()) {
        let approver = ApproverId::new(&spelling).unwrap();
        assert!(approver.is_same_person_as(&megan()), "{spelling:?}");
        assert!(policy().designates(&approver));
        match pending()
            .grant(&approver, &policy(), at(minutes(30)))
            .unwrap()
        {
            GrantOutcome::Granted(granted) => {
                assert!(granted.granted_by().is_same_person_as(&megan()));
            }
            GrantOutcome::AwaitingApprovals { .. } => panic!("one approval is enough"),
            GrantOutcome::Expired(_) => panic!("granted before the deadline"),
        }
    }
    // Two spellings of one person cannot be listed twice.
    let twice = TenantPolicy::new(
        contoso(),
        vec![
            DesignatedApprover::new(megan(), EmailAddress::new("megan@contoso.com").unwrap()),
            DesignatedApprover::new(
                ApproverId::new("Megan@Contoso.com").unwrap(),
                EmailAddress::new("megan.smith@contoso.com").unwrap(),
            ),
        ],
    );
    assert!(twice.unwrap_err().is_duplicate_approver());
}

#[test]
fn an_outsider_spelled_like_the_engineer_is_still_someone_else() {
    // Look-alikes from other scripts are not folded into the alphabet: refused outright.
    assert!(ApproverId::new("\u{430}lex@support.vendor.example").is_err());
    assert!(
        !ApproverId::new("alexa@support.vendor.example")
            .unwrap()
            .is_same_person_as(&alex())
    );
}

/// A designated approver, for the policy tests below.
fn designated(id: &str, email: &str) -> DesignatedApprover {
    DesignatedApprover::new(
        ApproverId::new(id).unwrap(),
        EmailAddress::new(email).unwrap(),
    )
}

/// One person, one approver: a policy that names Megan twice, by another spelling of her id or
/// by her mailbox under another id, is refused with both named, so she can never give two of a
/// two-person rule's approvals alone.
#[test]
fn a_policy_lists_each_person_once() {
    let megan = designated("megan@contoso.com", "megan@contoso.com");
    let lee = designated("lee@contoso.com", "lee@contoso.com");
    for (second, by) in [
        (
            designated("megan@contoso.com.", "megan.alt@contoso.com"),
            "their ids",
        ),
        (
            designated("megan+lockbox@contoso.com", "megan@contoso.com"),
            "their ids",
        ),
        (
            designated("rnegan@contoso.com", "megan@contoso.com"),
            "their addresses",
        ),
        (designated("megan", "megan@contoso.com"), "their addresses"),
        (
            designated("megan2@contoso.com", "megan+2@contoso.com"),
            "their addresses",
        ),
        (
            designated("megan3@contoso.com", "MEGAN@contoso.com"),
            "their addresses",
        ),
        (
            designated("ops@contoso.com", "ops.team@contoso.com.invalid"),
            "",
        ),
    ] {
        let approvers = vec![megan.clone(), second.clone(), lee.clone()];
        let built = TenantPolicy::new(contoso(), approvers)
            .and_then(|policy| policy.with_approvals_required(2));
        if by.is_empty() {
            assert!(built.is_ok(), "{second:?} is another person");
            continue;
        }
        let err = built.unwrap_err();
        assert!(err.is_duplicate_approver(), "{second:?}: {err}");
        let message = err.to_string();
        assert!(message.contains("megan@contoso.com"), "{message}");
        assert!(message.contains(second.id().as_str()), "{message}");
        assert!(message.contains(by), "{message}");
        assert_eq!(megan.is_same_person_as(&second), !by.is_empty());
    }
    assert!(!megan.is_same_person_as(&lee));
    // One's id naming the other's mailbox is one person too, in either order, and the message
    // names the mailbox they share.
    let megan_by_id = designated("megan@contoso.com", "megan.smith@contoso.com");
    let megan_by_mailbox = designated("m.b@contoso.com", "Megan+x@Contoso.com");
    for approvers in [
        vec![megan_by_id.clone(), megan_by_mailbox.clone()],
        vec![megan_by_mailbox.clone(), megan_by_id.clone()],
    ] {
        assert!(approvers[0].is_same_person_as(&approvers[1]));
        let err = TenantPolicy::new(contoso(), approvers).unwrap_err();
        assert!(err.is_duplicate_approver(), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("one's id and the other's address"),
            "{message}"
        );
        assert!(message.contains("both name megan@contoso.com"), "{message}");
    }
}

/// Approvals count people: under a policy stored before the identity rule (it listed Megan's
/// id twice, spelled apart), her second approval is refused as already given.
#[test]
fn approvals_count_people_not_spellings() {
    let stored: TenantPolicy = serde_json::from_value(serde_json::json!({
        "tenant": contoso(),
        "approvers": [
            {"id": "megan@contoso.com", "email": "megan@contoso.com"},
            {"id": "megan+lockbox@contoso.com", "email": "megan+lockbox@contoso.com"},
            {"id": "lee@contoso.com", "email": "lee@contoso.com"},
        ],
        "approvals_required": 2,
        "max_access_duration": 240,
    }))
    .unwrap();
    let (pending, _) = approved().notify(&stored, at(minutes(20))).unwrap();
    let GrantOutcome::AwaitingApprovals { pending, remaining } =
        pending.grant(&megan(), &stored, at(minutes(30))).unwrap()
    else {
        panic!("one of two")
    };
    assert_eq!(remaining, 1);
    let again = ApproverId::new("megan+lockbox@contoso.com").unwrap();
    let refused = pending.grant(&again, &stored, at(minutes(31))).unwrap_err();
    assert_eq!(refused.refusal(), Refusal::AlreadyApproved);
    let pending = refused.into_request();
    assert_eq!(pending.approvals_remaining(), 1);
    // Lee is another person: his approval grants.
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    assert!(matches!(
        pending.grant(&lee, &stored, at(minutes(32))).unwrap(),
        GrantOutcome::Granted(_)
    ));
}

/// One identity rule across all four roles: each role's id is the same person as every other
/// role's id spelled another way, and not the same person as anyone else. (The tenant
/// administrator is compared too: nothing else in the workflow does.)
#[test]
fn every_role_compares_people_by_one_rule() {
    let adele = TenantAdminId::new("Adele+lockbox@Contoso.com.").unwrap();
    let as_approver = ApproverId::new("adele@contoso.com").unwrap();
    let as_engineer = EngineerId::new("ＡＤＥＬＥ@contoso.com").unwrap();
    let as_manager = SupportManagerId::new("adele@contoso.com").unwrap();
    assert!(adele.is_same_person_as(&as_approver));
    assert!(adele.is_same_person_as(&as_engineer));
    assert!(adele.is_same_person_as(&as_manager));
    assert!(as_approver.is_same_person_as(&adele));
    assert!(as_engineer.is_same_person_as(&adele));
    assert!(as_manager.is_same_person_as(&adele));
    assert!(adele.is_same_person_as(&TenantAdminId::new("adele@contoso.com").unwrap()));
    for other in [megan(), ApproverId::new("adele@fabrikam.com").unwrap()] {
        assert!(!adele.is_same_person_as(&other), "{other}");
        assert!(!other.is_same_person_as(&adele), "{other}");
    }
    assert!(!adele.is_same_person_as(&alex()));
    assert!(!adele.is_same_person_as(&sam()));
    assert!(
        !TenantAdminId::new("eve@contoso.com")
            .unwrap()
            .is_same_person_as(&adele)
    );
}
