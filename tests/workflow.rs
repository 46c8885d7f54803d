//! Every path through the workflow, its boundaries, and what each refusal leaves behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use common::*;
use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;

fn minutes(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

#[test]
fn the_contoso_path_from_draft_to_completed() {
    let granted = granted();
    assert_eq!(granted.granted_at(), at(hours(1)));
    assert_eq!(granted.access_ends_at(), at(hours(5)));
    assert_eq!(granted.granted_by(), &megan());
    let granted = match granted
        .record_action(&alex(), mailbox_read(), at(hours(2)))
        .unwrap()
    {
        ActionOutcome::Recorded(granted) => granted,
        ActionOutcome::AccessEnded(_) => panic!("inside the window"),
    };
    let closed = granted.close(&alex(), at(hours(3))).unwrap();
    assert_eq!(closed.reason(), ClosureReason::Completed);
    assert_eq!(closed.closed_at(), at(hours(3)));
    assert_trail_well_formed(&closed);
    assert_eq!(
        kinds(&closed),
        [
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Granted,
            K::EngineerActed,
            K::Completed
        ]
    );
    let actors: Vec<Actor> = closed
        .audit_trail()
        .iter()
        .map(|r| r.actor().clone())
        .collect();
    assert_eq!(
        actors,
        [
            Actor::Engineer(alex()),
            Actor::SupportManager(sam()),
            Actor::System,
            Actor::Approver(megan()),
            Actor::Engineer(alex()),
            Actor::Engineer(alex()),
        ]
    );
}

#[test]
fn the_draft_record_holds_everything_drafted() {
    let drafted = drafted();
    let d = draft();
    assert_eq!(
        drafted.audit_trail()[0].event(),
        &AuditEvent::Drafted {
            service_request: d.service_request.clone(),
            services: d.services.clone(),
            access_duration: d.access_duration,
            justification: d.justification.clone(),
        }
    );
    assert_eq!(drafted.id(), d.id);
    assert_eq!(drafted.drafted_at(), t0());
    assert_eq!(drafted.state(), StateKind::Drafted);
}

#[test]
fn drafting_checks_the_policy() {
    let long = Draft {
        access_duration: AccessDuration::from_hours(5).unwrap(),
        ..draft()
    };
    assert!(
        Request::draft(long.clone(), &policy(), t0())
            .unwrap_err()
            .is_over_policy_maximum()
    );
    let generous = policy().with_max_access_duration(AccessDuration::from_hours(8).unwrap());
    assert!(Request::draft(long, &generous, t0()).is_ok());
    let other = fabrikam_policy();
    assert!(
        Request::draft(draft(), &other, t0())
            .unwrap_err()
            .is_policy_for_other_tenant()
    );
    let ancient = "1969-12-31T23:59:59Z".parse().unwrap();
    assert!(Request::draft(draft(), &policy(), ancient).is_err());
}

#[test]
fn a_manager_who_is_the_engineer_is_refused_and_the_draft_comes_back() {
    let same_person = SupportManagerId::new(alex().as_str()).unwrap();
    for step in [Step::Approve, Step::Reject] {
        let drafted = drafted();
        let refused = match step {
            Step::Approve => drafted
                .approve(&same_person, at(minutes(5)))
                .map(|_| ())
                .unwrap_err_request(),
            _ => drafted
                .reject(&same_person, at(minutes(5)))
                .map(|_| ())
                .unwrap_err_request(),
        };
        assert_eq!(refused.0, Refusal::ManagerIsEngineer);
        assert_eq!(refused.1, step);
        let back = refused.2;
        assert_eq!(kinds(&back), [K::Drafted, K::Refused]);
        assert_eq!(
            back.audit_trail()[1].event(),
            &AuditEvent::Refused {
                step,
                refusal: Refusal::ManagerIsEngineer
            }
        );
        assert_eq!(
            back.audit_trail()[1].actor(),
            &Actor::SupportManager(same_person.clone())
        );
        // Nothing else changed: another manager can still approve it.
        let approved = back.approve(&sam(), at(minutes(6))).unwrap();
        assert_trail_well_formed(&approved);
    }
}

trait UnwrapErrRequest<R> {
    fn unwrap_err_request(self) -> (Refusal, Step, R);
}

impl<T: std::fmt::Debug, R> UnwrapErrRequest<R> for Result<T, Refused<R>> {
    fn unwrap_err_request(self) -> (Refusal, Step, R) {
        match self {
            Ok(value) => panic!("expected a refusal, got {value:?}"),
            Err(refused) => (refused.refusal(), refused.step(), refused.into_request()),
        }
    }
}

#[test]
fn rejection_closes_before_the_customer_hears_of_it() {
    let closed = drafted().reject(&sam(), at(minutes(5))).unwrap();
    assert_eq!(closed.reason(), ClosureReason::RejectedByManager);
    assert!(!closed.reason().had_access());
    assert_eq!(kinds(&closed), [K::Drafted, K::ManagerRejected]);
}

#[test]
fn the_engineer_withdraws_from_each_state_before_the_grant() {
    let from_draft = drafted().withdraw(&alex(), at(minutes(1))).unwrap();
    let from_approved = approved().withdraw(&alex(), at(minutes(15))).unwrap();
    let from_pending = pending().withdraw(&alex(), at(hours(2))).unwrap();
    for closed in [from_draft, from_approved, from_pending] {
        assert_eq!(closed.reason(), ClosureReason::WithdrawnByEngineer);
        assert_eq!(
            closed.audit_trail().last().unwrap().event(),
            &AuditEvent::Withdrawn
        );
        assert_trail_well_formed(&closed);
    }
}

#[test]
fn only_the_drafting_engineer_may_withdraw() {
    let other = EngineerId::new("jordan").unwrap();
    let (refusal, _, back) = pending()
        .withdraw(&other, at(hours(2)))
        .unwrap_err_request();
    assert_eq!(refusal, Refusal::NotTheEngineer);
    assert_eq!(
        back.audit_trail().last().unwrap().actor(),
        &Actor::Engineer(other)
    );
}

#[test]
fn a_withdrawal_after_the_deadline_finds_the_request_expired() {
    let pending = pending();
    let deadline = pending.decision_deadline();
    let closed = pending.withdraw(&alex(), deadline + minutes(1)).unwrap();
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
    assert_eq!(closed.closed_at(), deadline);
    assert_eq!(kinds(&closed)[3..], [K::Expired, K::Refused]);
    assert_trail_well_formed(&closed);
}

#[test]
fn notification_needs_the_tenants_policy_with_approvers() {
    let other = TenantPolicy::new(fabrikam(), policy().approvers().to_vec()).unwrap();
    let (refusal, step, back) = approved()
        .notify(&other, at(minutes(20)))
        .unwrap_err_request();
    assert_eq!(
        (refusal, step),
        (Refusal::PolicyForOtherTenant, Step::Notify)
    );
    let empty = policy_designating_nobody(contoso());
    let (refusal, _, back) = back.notify(&empty, at(minutes(21))).unwrap_err_request();
    assert_eq!(refusal, Refusal::NoDesignatedApprovers);
    assert_eq!(
        kinds(&back),
        [K::Drafted, K::ManagerApproved, K::Refused, K::Refused]
    );
    let (pending, notification) = back.notify(&policy(), at(minutes(22))).unwrap();
    assert_eq!(pending.notified_at(), at(minutes(22)));
    assert_eq!(
        pending.decision_deadline(),
        at(minutes(22)) + DecisionWindow::DEFAULT.as_time_delta()
    );
    assert_eq!(
        pending.notified_approvers(),
        [megan(), ApproverId::new("lee@contoso.com").unwrap()]
    );
    let addresses: Vec<EmailAddress> = policy()
        .approvers()
        .iter()
        .map(|a| a.email().clone())
        .collect();
    assert_eq!(notification.recipients(), addresses);
    assert_eq!(pending.approved_by(), &sam());
}

#[test]
fn a_grant_one_instant_before_the_deadline_is_granted() {
    let pending = pending();
    let last_moment = pending.decision_deadline() - TimeDelta::nanoseconds(1);
    match pending.grant(&megan(), &policy(), last_moment).unwrap() {
        GrantOutcome::Granted(granted) => {
            assert_eq!(granted.access_ends_at(), last_moment + hours(4));
        }
        GrantOutcome::AwaitingApprovals { .. } => panic!("one approval is enough"),
        GrantOutcome::Expired(_) => panic!("the deadline had not come"),
    }
}

#[test]
fn a_grant_at_the_deadline_instant_is_expired_and_recorded_as_refused() {
    let pending = pending();
    let deadline = pending.decision_deadline();
    let GrantOutcome::Expired(closed) = pending.grant(&megan(), &policy(), deadline).unwrap()
    else {
        panic!("at the deadline the request has expired");
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
    assert_eq!(closed.closed_at(), deadline);
    let trail = closed.audit_trail();
    assert_eq!(trail[3].event(), &AuditEvent::Expired);
    assert_eq!(trail[3].actor(), &Actor::System);
    assert_eq!(
        trail[4].event(),
        &AuditEvent::Refused {
            step: Step::Grant,
            refusal: Refusal::DecisionDeadlinePassed
        }
    );
    assert_trail_well_formed(&closed);
}

#[test]
fn a_late_grant_by_an_outsider_also_finds_the_request_expired() {
    let pending = pending();
    let late = pending.decision_deadline() + hours(1);
    let outsider = ApproverId::new("mallory").unwrap();
    assert!(matches!(
        pending.grant(&outsider, &policy(), late),
        Ok(GrantOutcome::Expired(_))
    ));
}

#[test]
fn denial_before_and_after_the_deadline() {
    let DenyOutcome::Denied(closed) = pending().deny(&megan(), &policy(), at(hours(3))).unwrap()
    else {
        panic!("denied in time");
    };
    assert_eq!(closed.reason(), ClosureReason::DeniedByCustomer);
    assert_eq!(closed.closed_at(), at(hours(3)));
    let pending = pending();
    let deadline = pending.decision_deadline();
    let DenyOutcome::Expired(closed) = pending.deny(&megan(), &policy(), deadline).unwrap() else {
        panic!("a denial at the deadline is an expiry");
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
}

#[test]
fn only_a_designated_approver_of_the_tenant_decides() {
    let outsider = ApproverId::new("mallory").unwrap();
    let (refusal, step, back) = pending()
        .grant(&outsider, &policy(), at(hours(1)))
        .unwrap_err_request();
    assert_eq!(
        (refusal, step),
        (Refusal::NotDesignatedApprover, Step::Grant)
    );
    let fabrikam_policy = TenantPolicy::new(fabrikam(), policy().approvers().to_vec()).unwrap();
    let (refusal, _, back) = back
        .deny(&megan(), &fabrikam_policy, at(hours(1)))
        .unwrap_err_request();
    assert_eq!(refusal, Refusal::PolicyForOtherTenant);
    // A policy that no longer lists megan refuses her at once.
    let without_megan = TenantPolicy::new(contoso(), policy().approvers()[1..].to_vec()).unwrap();
    let (refusal, _, back) = back
        .grant(&megan(), &without_megan, at(hours(1)))
        .unwrap_err_request();
    assert_eq!(refusal, Refusal::NotDesignatedApprover);
    assert_eq!(kinds(&back)[3..], [K::Refused, K::Refused, K::Refused]);
    assert!(matches!(
        back.grant(&megan(), &policy(), at(hours(1))),
        Ok(GrantOutcome::Granted(_))
    ));
}

#[test]
fn check_expiry_at_and_before_the_deadline() {
    let pending = pending();
    let deadline = pending.decision_deadline();
    let PendingStatus::Pending(pending) =
        pending.check_expiry(deadline - TimeDelta::nanoseconds(1))
    else {
        panic!("not yet expired");
    };
    assert_eq!(pending.audit_trail().len(), 3, "checking records nothing");
    let PendingStatus::Expired(closed) = pending.check_expiry(deadline) else {
        panic!("expired at the deadline");
    };
    assert_eq!(closed.closed_at(), deadline);
    assert_eq!(kinds(&closed).last(), Some(&K::Expired));
}

#[test]
fn access_is_active_until_the_window_ends_exactly() {
    let granted = granted();
    let ends = granted.access_ends_at();
    let Access::Active(granted) = granted.access(ends - TimeDelta::nanoseconds(1)) else {
        panic!("still inside the window");
    };
    let Access::Ended(closed) = granted.access(ends) else {
        panic!("ended at the window's end");
    };
    assert_eq!(closed.reason(), ClosureReason::AccessDurationElapsed);
    assert_eq!(closed.closed_at(), ends);
    assert_eq!(closed.audit_trail().last().unwrap().actor(), &Actor::System);
}

#[test]
fn an_action_past_the_window_ends_access_instead_of_being_recorded() {
    let granted = granted();
    let ends = granted.access_ends_at();
    let ActionOutcome::AccessEnded(closed) = granted
        .record_action(&alex(), mailbox_read(), ends)
        .unwrap()
    else {
        panic!("the window had ended");
    };
    assert_eq!(closed.reason(), ClosureReason::AccessDurationElapsed);
    let last = closed.audit_trail().last().unwrap();
    assert_eq!(
        last.event(),
        &AuditEvent::ActionRefused {
            action: mailbox_read(),
            refusal: Refusal::AccessWindowEnded
        }
    );
    assert!(!kinds(&closed).contains(&K::EngineerActed));
    assert_trail_well_formed(&closed);
}

#[test]
fn actions_only_by_the_engineer_and_only_in_requested_services() {
    let sharepoint = EngineerAction::new(
        Service::SharePointOnline,
        Operation::new("read list").unwrap(),
        Target::new("finance site").unwrap(),
    );
    let (refusal, _, back) = granted()
        .record_action(&alex(), sharepoint.clone(), at(hours(2)))
        .unwrap_err_request();
    assert_eq!(
        refusal,
        Refusal::ServiceNotRequested {
            service: Service::SharePointOnline
        }
    );
    let other = EngineerId::new("jordan").unwrap();
    let (refusal, _, back) = back
        .record_action(&other, mailbox_read(), at(hours(2)))
        .unwrap_err_request();
    assert_eq!(refusal, Refusal::NotTheEngineer);
    let trail = back.audit_trail();
    assert_eq!(
        trail[trail.len() - 2].event(),
        &AuditEvent::ActionRefused {
            action: sharepoint,
            refusal: Refusal::ServiceNotRequested {
                service: Service::SharePointOnline
            }
        }
    );
    assert_eq!(trail.last().unwrap().actor(), &Actor::Engineer(other));
}

#[test]
fn closing_or_revoking_after_the_window_finds_it_elapsed() {
    let ends = granted().access_ends_at();
    let closed = granted().close(&alex(), ends + minutes(1)).unwrap();
    assert_eq!(closed.reason(), ClosureReason::AccessDurationElapsed);
    assert_eq!(kinds(&closed)[4..], [K::AccessElapsed, K::Refused]);
    let closed = granted().revoke(&megan(), &policy(), ends).unwrap();
    assert_eq!(closed.reason(), ClosureReason::AccessDurationElapsed);
}

#[test]
fn the_customer_revokes_early() {
    let outsider = ApproverId::new("mallory").unwrap();
    let (refusal, _, back) = granted()
        .revoke(&outsider, &policy(), at(hours(2)))
        .unwrap_err_request();
    assert_eq!(refusal, Refusal::NotDesignatedApprover);
    let closed = back.revoke(&megan(), &policy(), at(hours(2))).unwrap();
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    assert_eq!(closed.closed_at(), at(hours(2)));
    assert!(closed.reason().had_access());
    let other = EngineerId::new("jordan").unwrap();
    let (refusal, _, _) = granted().close(&other, at(hours(2))).unwrap_err_request();
    assert_eq!(refusal, Refusal::NotTheEngineer);
}

#[test]
fn a_step_towards_access_before_the_last_step_is_refused_without_a_record() {
    let pending = pending();
    let before = pending.audit_trail().len();
    let (refusal, step, back) = pending
        .grant(&megan(), &policy(), at(minutes(19)))
        .unwrap_err_request();
    assert_eq!(
        (refusal, step),
        (Refusal::InstantBeforeLastStep, Step::Grant)
    );
    assert!(!refusal.is_recorded());
    assert_eq!(back.audit_trail().len(), before);
    let granted = granted();
    let before = granted.audit_trail().len();
    let far = "+10000-01-01T00:00:00Z".parse().unwrap();
    let (refusal, _, back) = granted.close(&alex(), far).unwrap_err_request();
    assert_eq!(refusal, Refusal::InstantOutOfRange);
    assert_eq!(back.audit_trail().len(), before);
}

#[test]
fn refusals_say_what_was_wrong_and_what_to_do() {
    let same_person = SupportManagerId::new(alex().as_str()).unwrap();
    let refused = drafted().approve(&same_person, t0()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "approval refused: the support manager is the engineer who drafted the request: another support manager must decide (separation of duties)"
    );
    fn assert_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    assert_error(&refused);
}

#[test]
fn public_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Request<Drafted>>();
    send_sync::<Request<Granted>>();
    send_sync::<AnyRequest>();
    send_sync::<Refused<Request<PendingCustomer>>>();
    send_sync::<Error>();
    send_sync::<RecordError>();
    send_sync::<StoreError>();
    send_sync::<Notification>();
    send_sync::<AuditLog>();
    send_sync::<ManualClock>();
    #[cfg(feature = "sqlite")]
    {
        fn send<T: Send>() {}
        send::<SqliteStore>();
    }
}

#[test]
fn a_revocation_is_never_blocked_by_a_record_stamped_ahead() {
    // The engineer's clock runs 10 minutes fast: the action is stamped after the true time.
    let ActionOutcome::Recorded(acted) = granted()
        .record_action(&alex(), mailbox_read(), at(hours(2) + minutes(10)))
        .unwrap()
    else {
        panic!("inside the window")
    };
    let closed = acted.revoke(&megan(), &policy(), at(hours(2))).unwrap();
    assert_eq!(closed.reason(), ClosureReason::RevokedByCustomer);
    assert_eq!(closed.closed_at(), at(hours(2) + minutes(10)));
    assert_eq!(kinds(&closed)[4..], [K::EngineerActed, K::Revoked]);
    assert_trail_well_formed(&closed);
    let loaded = closed.to_record().load().unwrap();
    assert_eq!(loaded.audit_trail(), closed.audit_trail());
}

#[test]
fn a_denial_is_never_blocked_by_a_record_stamped_ahead() {
    // An outsider's refused grant, stamped an hour ahead of the approver's clock.
    let refused = pending()
        .grant(
            &ApproverId::new("mallory").unwrap(),
            &policy(),
            at(hours(2)),
        )
        .unwrap_err();
    let DenyOutcome::Denied(closed) = refused
        .into_request()
        .deny(&megan(), &policy(), at(hours(1)))
        .unwrap()
    else {
        panic!("before the deadline")
    };
    assert_eq!(closed.reason(), ClosureReason::DeniedByCustomer);
    assert_eq!(closed.closed_at(), at(hours(2)));
    assert!(closed.to_record().load().is_ok());
}

#[test]
fn an_action_reported_out_of_order_is_kept_not_lost() {
    let ActionOutcome::Recorded(acted) = granted()
        .record_action(&alex(), mailbox_read(), at(hours(3)))
        .unwrap()
    else {
        panic!("inside the window")
    };
    // Reported later, taken earlier: recorded after the last record, not refused.
    let ActionOutcome::Recorded(acted) = acted
        .record_action(&alex(), mailbox_read(), at(hours(2)))
        .unwrap()
    else {
        panic!("inside the window")
    };
    assert_eq!(kinds(&acted)[4..], [K::EngineerActed, K::EngineerActed]);
    assert_eq!(acted.last_step_at(), at(hours(3)));
    // After the close, an action is kept as a refused attempt, naming why.
    let closed = acted.close(&alex(), at(hours(4))).unwrap();
    let refused = closed.refuse_late_action(&alex(), mailbox_read(), at(hours(3) + minutes(59)));
    assert_eq!(refused.refusal(), Refusal::RequestClosed);
    assert!(refused.refusal().is_recorded());
    let closed = refused.into_request();
    assert_eq!(closed.last_step_at(), at(hours(4)));
    let refused = closed.refuse_late_action(&outsider(), mailbox_read(), at(hours(5)));
    assert_eq!(refused.refusal(), Refusal::NotTheEngineer);
    let closed = refused.into_request();
    assert_eq!(
        kinds(&closed)[6..],
        [K::Completed, K::ActionRefused, K::ActionRefused]
    );
    assert_eq!(closed.reason(), ClosureReason::Completed);
    assert!(closed.to_record().load().is_ok());
}

fn outsider() -> EngineerId {
    EngineerId::new("jordan@support.vendor.example").unwrap()
}

#[test]
fn steps_whose_consequences_fall_beyond_the_storable_years_are_refused() {
    let late = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let approved = Request::draft(draft(), &policy(), late("9999-12-31T10:00:00Z"))
        .unwrap()
        .approve(&sam(), late("9999-12-31T11:00:00Z"))
        .unwrap();
    // Notified at 13:00, the deadline would fall in year 10000.
    let refused = approved
        .notify(&policy(), late("9999-12-31T13:00:00Z"))
        .unwrap_err();
    assert_eq!(refused.refusal(), Refusal::InstantOutOfRange);
    assert!(!refused.refusal().is_recorded());
    let approved = refused.into_request();
    assert_eq!(approved.audit_trail().len(), 2);
    // Notified at 11:00 (deadline 23:00); granted at 22:00, 4 hours of access would end in 10000.
    let (pending, _) = approved
        .notify(&policy(), late("9999-12-31T11:00:00Z"))
        .unwrap();
    let refused = pending
        .grant(&megan(), &policy(), late("9999-12-31T22:00:00Z"))
        .unwrap_err();
    assert_eq!(refused.refusal(), Refusal::InstantOutOfRange);
    let pending = refused.into_request();
    assert_eq!(pending.audit_trail().len(), 3);
    // Granted at 19:00, access ends at 23:00 on the last storable day.
    let GrantOutcome::Granted(granted) = pending
        .grant(&megan(), &policy(), late("9999-12-31T19:00:00Z"))
        .unwrap()
    else {
        panic!("before the deadline")
    };
    assert_eq!(granted.access_ends_at(), late("9999-12-31T23:00:00Z"));
}

/// A closed request tells the access it had: from its grant to its close, and who granted it;
/// one never granted had none.
#[test]
fn a_closed_request_tells_the_access_it_had() {
    let granted = granted();
    let from = granted.granted_at();
    let closed = granted.close(&alex(), at(TimeDelta::hours(3))).unwrap();
    assert_eq!(
        closed.had_access(),
        Some((from, at(TimeDelta::hours(3)), &megan()))
    );
    let rejected = drafted().reject(&sam(), at(TimeDelta::minutes(5))).unwrap();
    assert_eq!(rejected.had_access(), None);
}
