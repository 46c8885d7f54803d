//! Random runs through the workflow: whatever a caller might try, in any order, at any pace.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::*;
use proptest::prelude::*;

use super::*;

/// What a random run may try next. `honest` picks the right person; otherwise an outsider.
#[derive(Clone, Copy, Debug)]
pub enum Try {
    Approve {
        honest: bool,
    },
    Reject {
        honest: bool,
    },
    Withdraw {
        honest: bool,
    },
    Notify {
        honest: bool,
    },
    Grant {
        honest: bool,
    },
    Deny {
        honest: bool,
    },
    CheckExpiry,
    Act {
        honest: bool,
        service: usize,
    },
    CheckAccess,
    Close {
        honest: bool,
    },
    Revoke {
        honest: bool,
    },
    /// The engineer (spelled in capitals) or the support manager decides for the customer:
    /// grants, denies or revokes, whatever the state allows.
    StaffDecides {
        manager: bool,
    },
}

pub fn try_strategy() -> impl Strategy<Value = Try> {
    prop_oneof![
        any::<bool>().prop_map(|honest| Try::Approve { honest }),
        any::<bool>().prop_map(|honest| Try::Reject { honest }),
        any::<bool>().prop_map(|honest| Try::Withdraw { honest }),
        any::<bool>().prop_map(|honest| Try::Notify { honest }),
        any::<bool>().prop_map(|honest| Try::Grant { honest }),
        any::<bool>().prop_map(|honest| Try::Deny { honest }),
        Just(Try::CheckExpiry),
        (any::<bool>(), 0..3usize).prop_map(|(honest, service)| Try::Act { honest, service }),
        Just(Try::CheckAccess),
        any::<bool>().prop_map(|honest| Try::Close { honest }),
        any::<bool>().prop_map(|honest| Try::Revoke { honest }),
        any::<bool>().prop_map(|manager| Try::StaffDecides { manager }),
    ]
}

/// A run: steps, each after a pause of up to 105 minutes (so deadlines and windows are reached),
/// or a clock that went back up to 20 minutes (which steps towards access refuse, and steps that
/// end a request or keep evidence record at the last record's instant).
pub fn run_strategy() -> impl Strategy<Value = Vec<(Try, i64)>> {
    prop::collection::vec((try_strategy(), -20..105i64), 0..40)
}

pub fn outsider_engineer() -> EngineerId {
    EngineerId::new("jordan").unwrap()
}

pub fn outsider_approver() -> ApproverId {
    ApproverId::new("mallory").unwrap()
}

pub fn action(service: usize) -> EngineerAction {
    EngineerAction::new(
        Service::ALL[service],
        Operation::new("read").unwrap(),
        Target::new("item 1").unwrap(),
    )
}

/// Applies `step` at `now`; steps that do not apply to the state leave it as it is.
pub fn apply(request: AnyRequest, step: Try, now: DateTime<Utc>) -> AnyRequest {
    let engineer = |honest| if honest { alex() } else { outsider_engineer() };
    let manager = |honest| {
        if honest {
            sam()
        } else {
            SupportManagerId::new(alex().as_str()).unwrap()
        }
    };
    let approver = |honest| if honest { megan() } else { outsider_approver() };
    let staff = |manager| {
        if manager {
            ApproverId::new(sam().as_str()).unwrap()
        } else {
            ApproverId::new(alex().as_str().to_uppercase()).unwrap()
        }
    };
    let notify_policy = |honest| {
        if honest {
            policy()
        } else {
            policy_designating_nobody(contoso())
        }
    };
    fn settle<T, S: State>(
        r: Result<T, Refused<Request<S>>>,
        ok: impl FnOnce(T) -> AnyRequest,
    ) -> AnyRequest
    where
        AnyRequest: From<Request<S>>,
    {
        r.map_or_else(|e| AnyRequest::from(e.into_request()), ok)
    }
    match (request, step) {
        (AnyRequest::Drafted(r), Try::Approve { honest }) => {
            settle(r.approve(&manager(honest), now), Into::into)
        }
        (AnyRequest::Drafted(r), Try::Reject { honest }) => {
            settle(r.reject(&manager(honest), now), Into::into)
        }
        (AnyRequest::Drafted(r), Try::Withdraw { honest }) => {
            settle(r.withdraw(&engineer(honest), now), Into::into)
        }
        (AnyRequest::ManagerApproved(r), Try::Notify { honest }) => {
            settle(r.notify(&notify_policy(honest), now), |(p, _)| p.into())
        }
        (AnyRequest::ManagerApproved(r), Try::Withdraw { honest }) => {
            settle(r.withdraw(&engineer(honest), now), Into::into)
        }
        (AnyRequest::PendingCustomer(r), Try::Grant { honest }) => {
            settle(r.grant(&approver(honest), &policy(), now), |o| match o {
                GrantOutcome::Granted(g) => g.into(),
                GrantOutcome::AwaitingApprovals { pending, .. } => pending.into(),
                GrantOutcome::Expired(c) => c.into(),
            })
        }
        (AnyRequest::PendingCustomer(r), Try::Deny { honest }) => {
            settle(r.deny(&approver(honest), &policy(), now), |o| match o {
                DenyOutcome::Denied(c) | DenyOutcome::Expired(c) => c.into(),
            })
        }
        (AnyRequest::PendingCustomer(r), Try::CheckExpiry) => match r.check_expiry(now) {
            PendingStatus::Pending(p) => p.into(),
            PendingStatus::Expired(c) => c.into(),
        },
        (AnyRequest::PendingCustomer(r), Try::Withdraw { honest }) => {
            settle(r.withdraw(&engineer(honest), now), Into::into)
        }
        (AnyRequest::Granted(r), Try::Act { honest, service }) => settle(
            r.record_action(&engineer(honest), action(service), now),
            |o| match o {
                ActionOutcome::Recorded(g) => g.into(),
                ActionOutcome::AccessEnded(c) => c.into(),
            },
        ),
        (AnyRequest::Granted(r), Try::CheckAccess) => match r.access(now) {
            Access::Active(g) => g.into(),
            Access::Ended(c) => c.into(),
        },
        (AnyRequest::Granted(r), Try::Close { honest }) => {
            settle(r.close(&engineer(honest), now), Into::into)
        }
        (AnyRequest::Granted(r), Try::Revoke { honest }) => {
            settle(r.revoke(&approver(honest), &policy(), now), Into::into)
        }
        (AnyRequest::Closed(r), Try::Act { honest, service }) => r
            .refuse_late_action(&engineer(honest), action(service), now)
            .into_request()
            .into(),
        (AnyRequest::PendingCustomer(r), Try::StaffDecides { manager }) => {
            let staff = staff(manager);
            if now.timestamp() % 2 == 0 {
                settle(r.grant(&staff, &staff_policy(&staff), now), |o| match o {
                    GrantOutcome::Granted(g) => g.into(),
                    GrantOutcome::AwaitingApprovals { pending, .. } => pending.into(),
                    GrantOutcome::Expired(c) => c.into(),
                })
            } else {
                settle(r.deny(&staff, &staff_policy(&staff), now), |o| match o {
                    DenyOutcome::Denied(c) | DenyOutcome::Expired(c) => c.into(),
                })
            }
        }
        (AnyRequest::Granted(r), Try::StaffDecides { manager }) => {
            let staff = staff(manager);
            settle(r.revoke(&staff, &staff_policy(&staff), now), Into::into)
        }
        (other, _) => other,
    }
}

/// The Contoso policy, naming `staff` as a designated approver too: separation of duties holds
/// whatever a policy says.
pub fn staff_policy(staff: &ApproverId) -> TenantPolicy {
    let mut approvers = policy().approvers().to_vec();
    approvers.push(DesignatedApprover::new(
        staff.clone(),
        EmailAddress::new("staff@vendor.example").unwrap(),
    ));
    TenantPolicy::new(contoso(), approvers).unwrap()
}

/// Plays `steps` from the Contoso draft.
pub fn play(steps: &[(Try, i64)]) -> AnyRequest {
    play_as(1, steps)
}

/// Plays `steps` from the Contoso draft under request id `n`.
pub fn play_as(n: u128, steps: &[(Try, i64)]) -> AnyRequest {
    let mut now = t0();
    let fresh = Draft {
        id: request_id(n),
        ..draft()
    };
    let mut request = AnyRequest::Drafted(Request::draft(fresh, &policy(), now).unwrap());
    for &(step, minutes) in steps {
        now += TimeDelta::minutes(minutes);
        request = apply(request, step, now);
    }
    request
}

/// Plays `steps` through `store` from the Contoso draft under request id `n`, each step a call
/// of the store (a time check is a sweep); returns the request as stored. Refusals and steps
/// the state does not allow are part of a random run; anything else fails the test.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn play_in<B: Backend>(store: &Store<B>, n: u128, steps: &[(Try, i64)]) -> AnyRequest {
    let mut now = t0();
    let fresh = Draft {
        id: request_id(n),
        ..draft()
    };
    let id = store.draft(fresh, now).await.unwrap().id();
    let engineer = |honest| if honest { alex() } else { outsider_engineer() };
    let approver = |honest| if honest { megan() } else { outsider_approver() };
    let staff = |manager| {
        if manager {
            ApproverId::new(sam().as_str()).unwrap()
        } else {
            ApproverId::new(alex().as_str().to_uppercase()).unwrap()
        }
    };
    for &(step, minutes) in steps {
        now += TimeDelta::minutes(minutes);
        let state = store.load(id).await.unwrap().state();
        let result: Result<(), StoreError> = match (state, step) {
            (StateKind::Drafted, Try::Approve { honest }) => {
                let manager = if honest {
                    sam()
                } else {
                    SupportManagerId::new(alex().as_str()).unwrap()
                };
                store.approve(id, &manager, now).await.map(drop)
            }
            (StateKind::Drafted, Try::Reject { honest }) => {
                let manager = if honest {
                    sam()
                } else {
                    SupportManagerId::new(alex().as_str()).unwrap()
                };
                store.reject(id, &manager, now).await.map(drop)
            }
            (
                StateKind::Drafted | StateKind::ManagerApproved | StateKind::PendingCustomer,
                Try::Withdraw { honest },
            ) => store.withdraw(id, &engineer(honest), now).await.map(drop),
            // A store decides under the tenant's stored policy: a caller has no policy to pass,
            // honest or not.
            (StateKind::ManagerApproved, Try::Notify { .. }) => {
                store.notify(id, now).await.map(drop)
            }
            (StateKind::PendingCustomer, Try::Grant { honest }) => {
                store.grant(id, &approver(honest), now).await.map(drop)
            }
            (StateKind::PendingCustomer, Try::Deny { honest }) => {
                store.deny(id, &approver(honest), now).await.map(drop)
            }
            (
                StateKind::PendingCustomer | StateKind::Granted,
                Try::CheckExpiry | Try::CheckAccess,
            ) => store.sweep(now).await.map(drop),
            (StateKind::Granted | StateKind::Closed, Try::Act { honest, service }) => store
                .record_actions(id, &engineer(honest), [action(service)], now)
                .await
                .map(drop),
            (StateKind::Granted, Try::Close { honest }) => {
                store.close(id, &engineer(honest), now).await.map(drop)
            }
            (StateKind::Granted, Try::Revoke { honest }) => {
                store.revoke(id, &approver(honest), now).await.map(drop)
            }
            (StateKind::PendingCustomer, Try::StaffDecides { manager }) => {
                let staff = staff(manager);
                if now.timestamp() % 2 == 0 {
                    store.grant(id, &staff, now).await.map(drop)
                } else {
                    store.deny(id, &staff, now).await.map(drop)
                }
            }
            (StateKind::Granted, Try::StaffDecides { manager }) => {
                let staff = staff(manager);
                store.revoke(id, &staff, now).await.map(drop)
            }
            _ => Ok(()),
        };
        match result {
            Ok(()) => {}
            Err(err) if err.is_refused() || err.is_wrong_state() => {}
            Err(err) => panic!("step {step:?} at {now}: {err}"),
        }
    }
    store.load(id).await.unwrap()
}
