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

/// Contoso's policy designating only Megan.
fn megan_only() -> TenantPolicy {
    TenantPolicy::new(contoso(), vec![approver("megan@contoso.com")]).unwrap()
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
    history
        .change(&adele(), megan_only(), at(minutes(30)))
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
fn an_empty_history_designates_nobody() {
    // A vendor-side caller runs a request under a policy of its own naming mallory, and hands
    // the record to a loader with no policy at all for the tenant: nobody was designated, so
    // the notification is refused by name (and so would the grant be).
    let mallory = ApproverId::new("mallory@vendor.example").unwrap();
    let hostile = TenantPolicy::new(contoso(), vec![approver("mallory@vendor.example")]).unwrap();
    let drafted = Request::draft(draft(), &hostile, t0()).unwrap();
    let approved = drafted.approve(&sam(), at(minutes(10))).unwrap();
    let (pending, _) = approved.notify(&hostile, at(minutes(20))).unwrap();
    let GrantOutcome::Granted(by_mallory) =
        pending.grant(&mallory, &hostile, at(hours(1))).unwrap()
    else {
        panic!("granted")
    };
    let record = by_mallory.to_record();
    for history in [
        PolicyHistory::new(contoso()),
        // A history that starts only after the request is no better.
        {
            let mut late = PolicyHistory::new(contoso());
            late.change(&adele(), policy(), at(hours(30))).unwrap();
            late
        },
    ] {
        let err = record.load_under(&history).unwrap_err();
        assert_eq!(err.rule(), &BrokenRule::NoPolicyInForce, "{err}");
        assert_eq!(err.sequence(), Some(3), "{err}");
    }
    // A lawful request is refused the same way without its history: the policy is what
    // designates, not the record.
    let err = granted()
        .to_record()
        .load_under(&PolicyHistory::new(contoso()))
        .unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NoPolicyInForce, "{err}");
}

#[test]
fn a_format_1_record_is_checked_by_replay_alone_before_the_first_policy() {
    // Record format 1 was written by stores that kept no policies: its decisions, taken with
    // no stored policy, are checked by replay alone (the format-1 build checked who decided
    // against the policy of its day, which nobody stored). Its file says `"version": 1`; a
    // store tells it by its notification, which format 1 wrote without `approvals_required`.
    for (name, record) in record_v1_fixtures() {
        assert_eq!(record.version(), 1, "{name}");
        record
            .load_under(&PolicyHistory::new(record.tenant()))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let mut late = PolicyHistory::new(record.tenant());
        let later = TenantPolicy::new(record.tenant(), vec![approver("lee@contoso.com")]).unwrap();
        late.change(&adele(), later, at(hours(24 * 30))).unwrap();
        record
            .load_under(&late)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        // Written again, it is format 2, and no longer says it came before policies.
        let again = RequestRecord::from_json(&record.to_json().unwrap()).unwrap();
        assert_eq!(again.version(), RECORD_VERSION, "{name}");
    }
}

#[test]
fn a_revocation_is_never_blocked_by_a_policy_change() {
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    let kim = ApproverId::new("kim@contoso.com").unwrap();
    let lee_only = TenantPolicy::new(contoso(), vec![approver("lee@contoso.com")]).unwrap();
    let lee_and_kim = TenantPolicy::new(
        contoso(),
        vec![approver("lee@contoso.com"), approver("kim@contoso.com")],
    )
    .unwrap();
    let with_everyone = TenantPolicy::new(
        contoso(),
        vec![
            approver("megan@contoso.com"),
            approver("lee@contoso.com"),
            approver("kim@contoso.com"),
        ],
    )
    .unwrap();
    let revoked_by = |who: &ApproverId| {
        granted()
            .revoke(who, &with_everyone, at(hours(3)))
            .unwrap()
            .to_record()
    };
    // Megan granted at 1 h; at 2 h an administrator leaves only Lee. Megan, designated at the
    // grant, still takes access away at 3 h.
    let mut history = history();
    history
        .change(&adele(), lee_only.clone(), at(hours(2)))
        .unwrap();
    revoked_by(&megan()).load_under(&history).unwrap();
    // Kim, designated only for a while during the access (1 h 30 to 2 h), may revoke too.
    let mut during = self::history();
    during
        .change(&adele(), lee_and_kim, at(minutes(90)))
        .unwrap();
    during.change(&adele(), lee_only, at(hours(2))).unwrap();
    revoked_by(&kim).load_under(&during).unwrap();
    // Someone never designated is refused, as is one whose designation ended before the grant.
    let err = revoked_by(&kim).load_under(&history).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NotDesignatedAtDecision, "{err}");
    assert_eq!(err.sequence(), Some(5), "{err}");
    let mut lee_left = self::history();
    lee_left
        .change(&adele(), megan_only(), at(minutes(50)))
        .unwrap();
    let err = revoked_by(&lee).load_under(&lee_left).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NotDesignatedAtDecision, "{err}");
}

#[test]
fn a_denial_is_never_blocked_by_a_policy_change() {
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    let denied_by_lee = || match pending().deny(&lee, &policy(), at(hours(1))).unwrap() {
        DenyOutcome::Denied(denied) => denied.to_record(),
        DenyOutcome::Expired(_) => panic!("denied before the deadline"),
    };
    // Notified at 20 min under Megan and Lee; Lee removed at 30 min; Lee's denial at 1 h
    // stands: he was designated while the request was pending.
    let mut history = history();
    history
        .change(&adele(), megan_only(), at(minutes(30)))
        .unwrap();
    denied_by_lee().load_under(&history).unwrap();
    // Removed before the notification (which told Megan alone), he never was: refused.
    let mut before = self::history();
    before
        .change(&adele(), megan_only(), at(minutes(15)))
        .unwrap();
    let (pending, _) = approved().notify(&megan_only(), at(minutes(20))).unwrap();
    let DenyOutcome::Denied(denied) = pending.deny(&lee, &policy(), at(hours(1))).unwrap() else {
        panic!("denied before the deadline")
    };
    let err = denied.to_record().load_under(&before).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::NotDesignatedAtDecision, "{err}");
    assert_eq!(err.sequence(), Some(4), "{err}");
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
    // A change may not be dated before the last one; at the same instant, it may (the later
    // one is in force from then).
    let mut history = history;
    history
        .change(&adele(), megan_only(), at(hours(-1)))
        .unwrap();
    assert_eq!(history.changes().len(), 2);
    assert_eq!(history.current(), Some(&megan_only()));
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
