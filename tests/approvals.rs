//! The tenant's settings in the pure workflow: N-of-M approvals (the two-person rule), decision
//! windows, access maximums and the presets; what a request keeps from its notification; and
//! the edits of a stored record an attacker would try first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use common::*;
use customer_lockbox::*;
use serde_json::{Value, json};

fn lee() -> ApproverId {
    ApproverId::new("lee@contoso.com").unwrap()
}

/// Contoso's policy with the two-person rule: megan and lee must both grant.
fn two_person() -> TenantPolicy {
    policy().with_approvals_required(2).unwrap()
}

/// Notified at t0 + 20 min under the two-person rule.
fn pending_two() -> Request<PendingCustomer> {
    approved().notify(&two_person(), at(minutes(20))).unwrap().0
}

fn awaiting(outcome: GrantOutcome) -> (Request<PendingCustomer>, u32) {
    match outcome {
        GrantOutcome::AwaitingApprovals { pending, remaining } => (pending, remaining),
        GrantOutcome::Granted(_) => panic!("granted with approvals missing"),
        GrantOutcome::Expired(_) => panic!("expired before the deadline"),
    }
}

fn granted_by_both() -> Request<Granted> {
    let (pending, _) = awaiting(
        pending_two()
            .grant(&megan(), &policy(), at(hours(1)))
            .unwrap(),
    );
    match pending.grant(&lee(), &policy(), at(hours(2))).unwrap() {
        GrantOutcome::Granted(granted) => granted,
        GrantOutcome::AwaitingApprovals { .. } => panic!("two of two approved"),
        GrantOutcome::Expired(_) => panic!("expired before the deadline"),
    }
}

#[test]
fn the_second_approval_starts_access_and_each_is_its_own_record() {
    let pending = pending_two();
    assert_eq!(pending.approvals_required(), 2);
    let (pending, remaining) = awaiting(
        pending
            .grant(&megan(), &two_person(), at(hours(1)))
            .unwrap(),
    );
    assert_eq!(remaining, 1);
    assert_eq!(pending.approvals(), [megan()]);
    assert_eq!(pending.approvals_remaining(), 1);
    let last = pending.audit_trail().last().unwrap();
    assert_eq!(last.event(), &AuditEvent::Approved { remaining: 1 });
    assert_eq!(last.actor(), &Actor::Approver(megan()));

    let GrantOutcome::Granted(granted) =
        pending.grant(&lee(), &two_person(), at(hours(2))).unwrap()
    else {
        panic!("two of two approved")
    };
    // Access starts at the Nth approval, for exactly the requested duration.
    assert_eq!(granted.granted_at(), at(hours(2)));
    assert_eq!(granted.access_ends_at(), at(hours(6)));
    assert_eq!(granted.granted_by(), &lee());
    assert_eq!(granted.approvals(), [megan(), lee()]);
    assert_eq!(
        kinds(&granted),
        [
            AuditEventKind::Drafted,
            AuditEventKind::ManagerApproved,
            AuditEventKind::ApproversNotified,
            AuditEventKind::Approved,
            AuditEventKind::Granted,
        ]
    );
    assert_trail_well_formed(&granted);
    // The trail replays to the same request.
    let loaded = granted.to_record().load().unwrap();
    assert_eq!(loaded.to_record(), granted.to_record());
}

#[test]
fn one_approver_twice_is_refused_and_recorded() {
    // The same person, spelled differently, is still the same approver.
    for spelling in [
        "megan@contoso.com",
        "MEGAN@Contoso.com",
        " megan@contoso.com",
    ] {
        let (pending, _) = awaiting(
            pending_two()
                .grant(&megan(), &policy(), at(hours(1)))
                .unwrap(),
        );
        let again = ApproverId::new(spelling).unwrap();
        let refused = pending.grant(&again, &policy(), at(hours(2))).unwrap_err();
        assert_eq!(refused.refusal(), Refusal::AlreadyApproved, "{spelling}");
        let pending = refused.into_request();
        assert_eq!(pending.approvals(), [megan()]);
        assert_eq!(
            pending.audit_trail().last().unwrap().event(),
            &AuditEvent::Refused {
                step: Step::Grant,
                refusal: Refusal::AlreadyApproved
            }
        );
        pending.to_record().load().unwrap();
    }
}

#[test]
fn vendor_staff_never_count_as_an_approval() {
    let staff_policy = TenantPolicy::new(
        contoso(),
        vec![
            DesignatedApprover::new(megan(), EmailAddress::new("megan@contoso.com").unwrap()),
            DesignatedApprover::new(
                ApproverId::new(alex().as_str()).unwrap(),
                EmailAddress::new("alex@contoso.com").unwrap(),
            ),
        ],
    )
    .unwrap()
    .with_approvals_required(2)
    .unwrap();
    let pending = approved().notify(&staff_policy, at(minutes(20))).unwrap().0;
    let (pending, _) = awaiting(
        pending
            .grant(&megan(), &staff_policy, at(hours(1)))
            .unwrap(),
    );
    let engineer = ApproverId::new("ALEX@support.vendor.example").unwrap();
    let refused = pending
        .grant(&engineer, &staff_policy, at(hours(2)))
        .unwrap_err();
    assert_eq!(refused.refusal(), Refusal::ApproverIsEngineer);
    assert_eq!(refused.request().approvals(), [megan()]);
}

#[test]
fn one_denial_closes_it_whatever_was_approved() {
    let (pending, _) = awaiting(
        pending_two()
            .grant(&megan(), &policy(), at(hours(1)))
            .unwrap(),
    );
    let DenyOutcome::Denied(closed) = pending.deny(&lee(), &policy(), at(hours(2))).unwrap() else {
        panic!("denied before the deadline")
    };
    assert_eq!(closed.reason(), ClosureReason::DeniedByCustomer);
    closed.to_record().load().unwrap();
}

#[test]
fn approvals_short_of_the_number_at_the_deadline_expire() {
    let (pending, _) = awaiting(
        pending_two()
            .grant(&megan(), &policy(), at(hours(1)))
            .unwrap(),
    );
    let deadline = pending.decision_deadline();
    let GrantOutcome::Expired(closed) = pending.grant(&lee(), &policy(), deadline).unwrap() else {
        panic!("at the deadline the request has expired")
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
    assert!(!closed.reason().had_access());
    closed.to_record().load().unwrap();
}

#[test]
fn a_request_keeps_the_approvals_and_window_it_was_notified_under() {
    let pending = pending_two();
    let deadline = pending.decision_deadline();
    // The policy now says one approval and a day to decide: the request still needs two, and
    // its deadline stays.
    let relaxed = policy().with_decision_window(DecisionWindow::from_hours(24).unwrap());
    let (pending, remaining) = awaiting(pending.grant(&megan(), &relaxed, at(hours(1))).unwrap());
    assert_eq!(remaining, 1);
    assert_eq!(pending.decision_deadline(), deadline);
}

#[test]
fn the_decision_window_is_the_policys() {
    let window = DecisionWindow::from_hours(96).unwrap();
    let policy = policy().with_decision_window(window);
    let (pending, message) = approved().notify(&policy, at(minutes(20))).unwrap();
    assert_eq!(pending.decision_deadline(), at(minutes(20) + hours(96)));
    assert!(
        message
            .body()
            .contains("Decide by:         2026-11-28 08:20:00 UTC"),
        "{}",
        message.body()
    );
    // A grant after 12 hours but within the 96 is in time.
    assert!(matches!(
        pending.grant(&megan(), &policy, at(hours(50))).unwrap(),
        GrantOutcome::Granted(_)
    ));
}

#[test]
fn presets_match_their_products() {
    let approvers = policy().approvers().to_vec();
    let m365 = TenantPolicy::microsoft_365(contoso(), approvers.clone()).unwrap();
    assert_eq!(m365.decision_window().as_time_delta(), hours(12));
    assert_eq!(
        m365.max_access_duration(),
        AccessDuration::from_hours(4).unwrap()
    );
    assert_eq!(m365.approvals_required(), 1);
    assert_eq!(
        m365,
        TenantPolicy::new(contoso(), approvers.clone()).unwrap()
    );
    let azure = TenantPolicy::azure(contoso(), approvers).unwrap();
    assert_eq!(azure.decision_window().as_time_delta(), TimeDelta::days(4));
    assert_eq!(
        azure.max_access_duration(),
        AccessDuration::from_hours(8).unwrap()
    );
    // Eight hours of access: over Microsoft 365's maximum, within Azure's.
    let long = Draft {
        access_duration: AccessDuration::from_hours(8).unwrap(),
        ..draft()
    };
    assert!(
        Request::draft(long.clone(), &m365, t0())
            .unwrap_err()
            .is_over_policy_maximum()
    );
    Request::draft(long, &azure, t0()).unwrap();
}

#[test]
fn approvals_required_must_be_between_one_and_the_designated() {
    for required in [0, 3] {
        let err = policy().with_approvals_required(required).unwrap_err();
        assert!(err.is_invalid_approvals_required(), "{required}");
        assert!(err.to_string().contains("designates 2 approver"), "{err}");
    }
    // Past the cap, the cap is what the message names.
    let err = policy().with_approvals_required(u32::MAX).unwrap_err();
    assert!(err.is_invalid_approvals_required());
    assert!(err.to_string().contains("at most 10"), "{err}");
    assert_eq!(
        policy()
            .with_approvals_required(2)
            .unwrap()
            .approvals_required(),
        2
    );
    // A policy read from JSON is checked the same way.
    let mut json: Value = serde_json::to_value(policy()).unwrap();
    json["approvals_required"] = json!(3);
    assert!(serde_json::from_value::<TenantPolicy>(json).is_err());
    // A format-1 policy (no approvals, no window) reads with one approval and 12 hours.
    let v1 = json!({
        "tenant": contoso(),
        "approvers": [{"id": "megan@contoso.com", "email": "megan@contoso.com"}],
        "max_access_duration": 240
    });
    let read: TenantPolicy = serde_json::from_value(v1).unwrap();
    assert_eq!(read.approvals_required(), 1);
    assert_eq!(read.decision_window(), DecisionWindow::DEFAULT);
}

#[test]
fn the_approvers_message_says_how_many_must_grant() {
    let (_, message) = approved().notify(&two_person(), at(minutes(20))).unwrap();
    assert!(
        message
            .body()
            .contains("Approvals needed:  2 of the 2 approvers notified"),
        "{}",
        message.body()
    );
    assert!(
        message
            .body()
            .contains("only when 2 different designated approvers grant")
    );
    assert!(
        message
            .body()
            .contains("If fewer than 2 approvers have granted it by then")
    );
}

#[test]
fn a_record_lowering_the_approvals_needed_is_refused() {
    // The two-person grant, with the notification edited to need one approval: megan's
    // approval would then have been the grant, so the stored trail is not what the workflow
    // produces.
    let record = granted_by_both().to_record();
    let err = load_edited(&record, |v| {
        v["trail"][2]["event"]["details"]["approvals_required"] = json!(1);
    })
    .unwrap_err();
    assert_eq!(err.sequence(), Some(4), "{err}");
}

#[test]
fn a_record_where_one_approver_counts_twice_is_refused() {
    let record = granted_by_both().to_record();
    let err = load_edited(&record, |v| {
        v["trail"][4]["actor"]["id"] = json!("megan@contoso.com");
    })
    .unwrap_err();
    assert_eq!(err.sequence(), Some(5), "{err}");
}

#[test]
fn a_record_granting_with_approvals_missing_is_refused() {
    // Drop megan's approval and renumber: lee's grant alone would be one of two.
    let record = granted_by_both().to_record();
    let err = load_edited(&record, |v| {
        let trail = v["trail"].as_array_mut().unwrap();
        trail.remove(3);
        for (i, r) in trail.iter_mut().enumerate() {
            r["sequence"] = json!(i + 1);
        }
    })
    .unwrap_err();
    assert_eq!(err.sequence(), Some(4), "{err}");
}

#[test]
fn a_format_1_record_reads_as_one_approval_required() {
    let record = pending().to_record();
    let mut value = serde_json::to_value(&record).unwrap();
    value["version"] = json!(1);
    value["trail"][2]["event"]["details"]
        .as_object_mut()
        .unwrap()
        .remove("approvals_required");
    let read = RequestRecord::from_json(&value.to_string()).unwrap();
    let AnyRequest::PendingCustomer(loaded) = read.load().unwrap() else {
        panic!("pending")
    };
    assert_eq!(loaded.approvals_required(), 1);
    assert_eq!(loaded.to_record(), record);
}

/// Contoso's 3 approvers (megan, lee, kim), `required` of them needed.
fn three(required: u32) -> TenantPolicy {
    let kim = DesignatedApprover::new(
        ApproverId::new("kim@contoso.com").unwrap(),
        EmailAddress::new("kim@contoso.com").unwrap(),
    );
    let mut approvers = policy().approvers().to_vec();
    approvers.push(kim);
    TenantPolicy::new(contoso(), approvers)
        .unwrap()
        .with_approvals_required(required)
        .unwrap()
}

#[test]
fn approvals_remaining_counts_down_from_the_number_required() {
    let kim = ApproverId::new("kim@contoso.com").unwrap();
    assert_eq!(pending_two().approvals_remaining(), 2);
    let (pending, _) = approved().notify(&three(3), at(minutes(20))).unwrap();
    assert_eq!(pending.approvals_remaining(), 3);
    let (pending, remaining) = awaiting(pending.grant(&megan(), &three(3), at(hours(1))).unwrap());
    assert_eq!((remaining, pending.approvals_remaining()), (2, 2));
    let (pending, remaining) = awaiting(pending.grant(&lee(), &three(3), at(hours(2))).unwrap());
    assert_eq!((remaining, pending.approvals_remaining()), (1, 1));
    // A load counts the same way.
    let AnyRequest::PendingCustomer(loaded) = pending.to_record().load().unwrap() else {
        panic!("pending")
    };
    assert_eq!(loaded.approvals_remaining(), 1);
    assert!(matches!(
        loaded.grant(&kim, &three(3), at(hours(3))).unwrap(),
        GrantOutcome::Granted(_)
    ));
}

/// In a 2-of-3 policy Megan approves, then an administrator removes her: her approval stays on
/// record but no longer counts, so Lee's later grant is one of two, and Kim's completes it.
#[test]
fn a_removed_approvers_approval_no_longer_counts() {
    let kim = ApproverId::new("kim@contoso.com").unwrap();
    let (pending, _) = approved().notify(&three(2), at(minutes(20))).unwrap();
    let (pending, _) = awaiting(pending.grant(&megan(), &three(2), at(hours(1))).unwrap());
    // Megan removed at 1 h 30: Lee and Kim, both still needed.
    let without_megan = TenantPolicy::new(contoso(), three(2).approvers()[1..].to_vec())
        .unwrap()
        .with_approvals_required(2)
        .unwrap();
    let mut history = PolicyHistory::new(contoso());
    let adele = TenantAdminId::new("adele@contoso.com").unwrap();
    history.change(&adele, three(2), at(hours(-1))).unwrap();
    history
        .change(&adele, without_megan.clone(), at(minutes(90)))
        .unwrap();
    let (pending, remaining) =
        awaiting(pending.grant(&lee(), &without_megan, at(hours(2))).unwrap());
    assert_eq!((remaining, pending.approvals_remaining()), (1, 1));
    assert_eq!(pending.approvals(), [megan(), lee()]);
    assert_eq!(
        pending.audit_trail().last().unwrap().event(),
        &AuditEvent::Approved { remaining: 1 }
    );
    pending.to_record().load_under(&history).unwrap();
    let GrantOutcome::Granted(granted) = pending.grant(&kim, &without_megan, at(hours(3))).unwrap()
    else {
        panic!("two approvals by approvers designated now")
    };
    assert_eq!(granted.approvals(), [megan(), lee(), kim]);
    granted.to_record().load_under(&history).unwrap();
    assert_eq!(
        granted.to_record().load().unwrap().to_record(),
        granted.to_record()
    );

    // The old count, which a caller passing the policy from before the change would get
    // (Megan's approval counted), is refused against the history, by name.
    let (pending, _) = approved().notify(&three(2), at(minutes(20))).unwrap();
    let (pending, _) = awaiting(pending.grant(&megan(), &three(2), at(hours(1))).unwrap());
    let GrantOutcome::Granted(miscounted) = pending.grant(&lee(), &three(2), at(hours(2))).unwrap()
    else {
        panic!("two of the old policy's approvers")
    };
    let err = miscounted.to_record().load_under(&history).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::ApprovalsMiscounted, "{err}");
    assert_eq!(err.sequence(), Some(5), "{err}");
}

/// The count is checked short of access too: in a 3-of-4 policy Megan approves and is then
/// removed; Lee's approval leaves two to go. A caller who passes the old policy gets one to go
/// recorded, which replay alone accepts (it takes the count from the record); the history
/// refuses it by name.
#[test]
fn an_approval_counted_under_a_policy_no_longer_in_force_is_refused() {
    let four = |required: u32| {
        let mut approvers = three(1).approvers().to_vec();
        approvers.push(DesignatedApprover::new(
            ApproverId::new("ann@contoso.com").unwrap(),
            EmailAddress::new("ann@contoso.com").unwrap(),
        ));
        TenantPolicy::new(contoso(), approvers)
            .unwrap()
            .with_approvals_required(required)
            .unwrap()
    };
    let without_megan = TenantPolicy::new(contoso(), four(3).approvers()[1..].to_vec())
        .unwrap()
        .with_approvals_required(3)
        .unwrap();
    let adele = TenantAdminId::new("adele@contoso.com").unwrap();
    let mut history = PolicyHistory::new(contoso());
    history.change(&adele, four(3), at(hours(-1))).unwrap();
    history
        .change(&adele, without_megan.clone(), at(minutes(90)))
        .unwrap();
    let (pending, _) = approved().notify(&four(3), at(minutes(20))).unwrap();
    let (pending, _) = awaiting(pending.grant(&megan(), &four(3), at(hours(1))).unwrap());
    // Under the policy in force: two to go.
    let AnyRequest::PendingCustomer(copy) = pending.to_record().load().unwrap() else {
        panic!("pending")
    };
    let (lawful, remaining) = awaiting(copy.grant(&lee(), &without_megan, at(hours(2))).unwrap());
    assert_eq!(remaining, 2);
    lawful.to_record().load_under(&history).unwrap();
    // Under the old one: one to go, on record.
    let (miscounted, remaining) = awaiting(pending.grant(&lee(), &four(3), at(hours(2))).unwrap());
    assert_eq!(remaining, 1);
    miscounted.to_record().load().unwrap();
    let err = miscounted.to_record().load_under(&history).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::ApprovalsMiscounted, "{err}");
    assert_eq!(err.sequence(), Some(5), "{err}");
}

#[test]
fn a_record_claiming_an_approval_counted_that_did_not_is_refused() {
    // The record says Megan's approval left 1 when 2 were needed: edited to say 0 more are
    // needed, or more than there can be, it no longer replays.
    let record = granted_by_both().to_record();
    let stored = serde_json::to_value(&record).unwrap();
    assert_eq!(
        stored["trail"][3]["event"],
        json!({"kind": "approved", "details": {"remaining": 1}})
    );
    for remaining in [0, 2, 7] {
        let err = load_edited(&record, |v| {
            v["trail"][3]["event"]["details"]["remaining"] = json!(remaining);
        })
        .unwrap_err();
        assert_eq!(err.sequence(), Some(4), "{remaining}: {err}");
    }
}
