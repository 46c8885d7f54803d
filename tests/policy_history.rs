//! A tenant's policy history, and loading a request against it: the attacks of a vendor-side
//! caller who passes the workflow a policy of their own, each refused by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use customer_lockbox::*;

fn adele() -> TenantAdminId {
    TenantAdminId::new("adele@contoso.com").unwrap()
}

/// Contoso's history: `policy()` (megan and lee) from an hour before t0.
fn history() -> PolicyHistory {
    let mut history = PolicyHistory::new(contoso());
    history.change(&adele(), policy(), at(hours(-1))).unwrap();
    history
}

fn approver(id: &str) -> DesignatedApprover {
    DesignatedApprover::new(ApproverId::new(id).unwrap(), EmailAddress::new(id).unwrap())
}

/// A request run with `caller_policy` at each step (as a vendor-side caller passing its own
/// policy could), granted by `granter`: loaded against Contoso's real history.
fn run_with(
    caller_policy: &TenantPolicy,
    granter: &ApproverId,
    hours_asked: u32,
) -> Result<AnyRequest, RecordError> {
    let draft = Draft {
        access_duration: AccessDuration::from_hours(hours_asked).unwrap(),
        ..draft()
    };
    let drafted = Request::draft(draft, caller_policy, t0()).unwrap();
    let approved = drafted.approve(&sam(), at(minutes(10))).unwrap();
    let (pending, _) = approved.notify(caller_policy, at(minutes(20))).unwrap();
    let GrantOutcome::Granted(granted) =
        pending.grant(granter, caller_policy, at(hours(1))).unwrap()
    else {
        panic!("granted")
    };
    granted.to_record().load_under(&history())
}

#[test]
fn the_lawful_run_loads_under_the_history() {
    run_with(&policy(), &megan(), 4).unwrap();
}

#[test]
fn a_vendor_person_as_the_only_approver_is_refused() {
    let vendor = ApproverId::new("vic@support.vendor.example").unwrap();
    let hostile =
        TenantPolicy::new(contoso(), vec![approver("vic@support.vendor.example")]).unwrap();
    let err = run_with(&hostile, &vendor, 4).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NotificationDisagreesWithPolicy);
    assert_eq!(err.sequence(), Some(3));
}

#[test]
fn a_policy_naming_the_engineer_is_refused() {
    let hostile = TenantPolicy::new(
        contoso(),
        vec![
            approver("megan@contoso.com"),
            approver("alex@support.vendor.example"),
        ],
    )
    .unwrap();
    let err = run_with(&hostile, &megan(), 4).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NotificationDisagreesWithPolicy);
}

#[test]
fn a_maximum_raised_to_24_hours_is_refused() {
    let hostile = policy().with_max_access_duration(AccessDuration::CEILING);
    let err = run_with(&hostile, &megan(), 24).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::DraftOverPolicyMaximum);
    assert_eq!(err.sequence(), Some(1));
}

#[test]
fn a_grant_by_someone_never_notified_is_refused() {
    // megan and lee were notified (the real policy), then mallory granted under a policy that
    // named her.
    let mallory = ApproverId::new("mallory@contoso.com").unwrap();
    let drafted = Request::draft(draft(), &policy(), t0()).unwrap();
    let approved = drafted.approve(&sam(), at(minutes(10))).unwrap();
    let (pending, _) = approved.notify(&policy(), at(minutes(20))).unwrap();
    let with_mallory = TenantPolicy::new(
        contoso(),
        vec![
            approver("megan@contoso.com"),
            approver("lee@contoso.com"),
            approver("mallory@contoso.com"),
        ],
    )
    .unwrap();
    let GrantOutcome::Granted(granted) = pending
        .grant(&mallory, &with_mallory, at(hours(1)))
        .unwrap()
    else {
        panic!("granted")
    };
    let err = granted.to_record().load_under(&history()).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NotDesignatedAtDecision);
    assert_eq!(err.sequence(), Some(4));
    // Once an administrator designates her (after the notification), her grant is lawful: the
    // policy change told the approvers.
    let mut later = history();
    later
        .change(&adele(), with_mallory, at(minutes(30)))
        .unwrap();
    granted.to_record().load_under(&later).unwrap();
}

#[test]
fn an_approver_removed_before_deciding_is_refused() {
    let mut history = history();
    let megan_only = TenantPolicy::new(contoso(), vec![approver("megan@contoso.com")]).unwrap();
    history
        .change(&adele(), megan_only, at(minutes(30)))
        .unwrap();
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    let (pending, _) = approved().notify(&policy(), at(minutes(20))).unwrap();
    let GrantOutcome::Granted(granted) = pending.grant(&lee, &policy(), at(hours(1))).unwrap()
    else {
        panic!("granted")
    };
    let err = granted.to_record().load_under(&history).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NotDesignatedAtDecision);
}

#[test]
fn another_tenants_history_is_refused() {
    let record = granted().to_record();
    let err = record
        .load_under(&PolicyHistory::new(fabrikam()))
        .unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::ForeignRecord);
}

#[test]
fn steps_before_the_first_stored_policy_are_checked_by_replay_alone() {
    // A format-1 store kept no policies: its requests load against an empty history, or one
    // that starts after them.
    granted()
        .to_record()
        .load_under(&PolicyHistory::new(contoso()))
        .unwrap();
    let mut late = PolicyHistory::new(contoso());
    late.change(&adele(), policy(), at(hours(30))).unwrap();
    granted().to_record().load_under(&late).unwrap();
}

#[test]
fn a_history_that_does_not_follow_is_refused() {
    let history = history();
    let first = history.changes()[0].clone();
    // Versions must run 1, 2, ...: the first change twice is not a history.
    let err =
        PolicyHistory::from_changes(contoso(), vec![first.clone(), first.clone()]).unwrap_err();
    assert!(err.is_broken_policy_history(), "{err}");
    assert!(
        PolicyHistory::from_changes(fabrikam(), vec![first.clone()])
            .unwrap_err()
            .is_broken_policy_history()
    );
    assert_eq!(
        PolicyHistory::from_changes(contoso(), vec![first]).unwrap(),
        history
    );
    // A change may not be dated before the last one.
    let mut history = history;
    assert!(
        history
            .change(&adele(), policy(), at(hours(-2)))
            .unwrap_err()
            .is_broken_policy_history()
    );
    assert!(
        history
            .change(&adele(), fabrikam_policy(), t0())
            .unwrap_err()
            .is_policy_for_other_tenant()
    );
}
