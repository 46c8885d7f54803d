//! The audit trail every run leaves, and searching it: filters, order, keyset pagination.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use common::runs::{play, run_strategy};
use common::*;
use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;
use proptest::prelude::*;

fn check_run(request: &AnyRequest) {
    let trail = request.audit_trail();
    // Well formed: sequence 1..n, time order, one request and tenant, starts with the draft.
    for (i, record) in trail.iter().enumerate() {
        assert_eq!(record.sequence(), i as u64 + 1);
        assert_eq!(record.request(), request_id(1));
        assert_eq!(record.tenant(), contoso());
    }
    assert!(trail.windows(2).all(|w| w[0].at() <= w[1].at()));
    assert_eq!(trail[0].event().kind(), K::Drafted);
    // The steps that move the request happen in workflow order, each at most once.
    let moves: Vec<K> = trail
        .iter()
        .map(|r| r.event().kind())
        .filter(|k| !matches!(k, K::Refused | K::ActionRefused | K::EngineerActed))
        .collect();
    let legal_prefixes: &[&[K]] = &[
        &[K::Drafted],
        &[K::Drafted, K::ManagerRejected],
        &[K::Drafted, K::Withdrawn],
        &[K::Drafted, K::ManagerApproved],
        &[K::Drafted, K::ManagerApproved, K::Withdrawn],
        &[K::Drafted, K::ManagerApproved, K::ApproversNotified],
        &[
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Withdrawn,
        ],
        &[
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Denied,
        ],
        &[
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Expired,
        ],
        &[
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Granted,
        ],
        &[
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Granted,
            K::Completed,
        ],
        &[
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Granted,
            K::Revoked,
        ],
        &[
            K::Drafted,
            K::ManagerApproved,
            K::ApproversNotified,
            K::Granted,
            K::AccessElapsed,
        ],
    ];
    assert!(
        legal_prefixes.contains(&moves.as_slice()),
        "illegal order {moves:?}"
    );
    // Decisions only before the deadline; actions only inside the window, in requested services,
    // by the engineer.
    let deadline = trail.iter().find_map(|r| match r.event() {
        AuditEvent::ApproversNotified {
            decision_deadline, ..
        } => Some(*decision_deadline),
        _ => None,
    });
    let window = trail.iter().find_map(|r| match r.event() {
        AuditEvent::Granted { access_ends_at } => Some((r.at(), *access_ends_at)),
        _ => None,
    });
    for record in trail {
        match record.event() {
            AuditEvent::Granted { access_ends_at } => {
                assert!(record.at() < deadline.unwrap());
                assert_eq!(*access_ends_at - record.at(), TimeDelta::hours(4));
                assert_eq!(record.actor(), &Actor::Approver(megan()));
            }
            AuditEvent::Denied => assert!(record.at() < deadline.unwrap()),
            AuditEvent::Expired => assert_eq!(record.at(), deadline.unwrap()),
            AuditEvent::EngineerActed { action } => {
                let (from, until) = window.unwrap();
                assert!(from <= record.at() && record.at() < until);
                assert_eq!(action.service(), Service::ExchangeOnline);
                assert_eq!(record.actor(), &Actor::Engineer(alex()));
            }
            AuditEvent::AccessElapsed => assert_eq!(record.at(), window.unwrap().1),
            AuditEvent::ManagerApproved | AuditEvent::ManagerRejected => {
                assert_eq!(record.actor(), &Actor::SupportManager(sam()));
            }
            _ => {}
        }
    }
    if let AnyRequest::Closed(closed) = request {
        let closing = moves.last().unwrap();
        let expected = match closed.reason() {
            ClosureReason::RejectedByManager => K::ManagerRejected,
            ClosureReason::WithdrawnByEngineer => K::Withdrawn,
            ClosureReason::DeniedByCustomer => K::Denied,
            ClosureReason::ExpiredUnanswered => K::Expired,
            ClosureReason::Completed => K::Completed,
            ClosureReason::AccessDurationElapsed => K::AccessElapsed,
            ClosureReason::RevokedByCustomer => K::Revoked,
        };
        assert_eq!(*closing, expected);
        assert_eq!(closed.reason().had_access(), window.is_some());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever a run tries, in whatever order and at whatever pace, the trail it leaves obeys
    /// the workflow.
    #[test]
    fn every_run_leaves_a_lawful_trail(steps in run_strategy()) {
        check_run(&play(&steps));
    }
}

fn three_requests() -> AuditLog {
    let mut log = AuditLog::new();
    let closed = granted().close(&alex(), at(TimeDelta::hours(2))).unwrap();
    log.capture(closed.audit_trail());
    let second = Request::draft(
        Draft {
            id: request_id(2),
            ..draft()
        },
        &policy(),
        at(TimeDelta::minutes(30)),
    )
    .unwrap();
    log.capture(second.audit_trail());
    let fabrikam_policy = fabrikam_policy();
    let third = Request::draft(
        Draft {
            id: request_id(3),
            tenant: fabrikam(),
            ..draft()
        },
        &fabrikam_policy,
        t0(),
    )
    .unwrap();
    log.capture(third.audit_trail());
    log
}

#[test]
fn capture_is_idempotent_and_incremental() {
    let mut log = AuditLog::new();
    let drafted = drafted();
    assert_eq!(log.capture(drafted.audit_trail()), 1);
    assert_eq!(log.capture(drafted.audit_trail()), 0);
    let approved = drafted.approve(&sam(), at(TimeDelta::minutes(1))).unwrap();
    assert_eq!(log.capture(approved.audit_trail()), 1);
    assert_eq!(log.len(), 2);
}

#[test]
fn search_filters_combine() {
    let log = three_requests();
    assert_eq!(log.len(), 5 + 1 + 1);
    let by_tenant = log.search(&AuditQuery::new().tenant(fabrikam()));
    assert_eq!(by_tenant.records.len(), 1);
    let by_request = log.search(&AuditQuery::new().request(request_id(1)));
    assert_eq!(by_request.records.len(), 5);
    let by_actor = log.search(&AuditQuery::new().actor(Actor::Engineer(alex())));
    assert_eq!(by_actor.records.len(), 4); // three drafts and the close
    let by_kinds = log.search(&AuditQuery::new().kind(K::Granted).kind(K::Completed));
    let kinds: Vec<K> = by_kinds.records.iter().map(|r| r.event().kind()).collect();
    assert_eq!(kinds, [K::Granted, K::Completed]);
    let window = log.search(
        &AuditQuery::new()
            .since(at(TimeDelta::minutes(10)))
            .before(at(TimeDelta::hours(1))),
    );
    let instants: Vec<_> = window.records.iter().map(AuditRecord::at).collect();
    assert_eq!(
        instants,
        [
            at(TimeDelta::minutes(10)),
            at(TimeDelta::minutes(20)),
            at(TimeDelta::minutes(30))
        ]
    );
    let inverted = log.search(
        &AuditQuery::new()
            .since(at(TimeDelta::hours(1)))
            .before(t0()),
    );
    assert!(inverted.records.is_empty());
    let everything = log.search(
        &AuditQuery::new()
            .tenant(contoso())
            .actor(Actor::System)
            .kind(K::ApproversNotified),
    );
    assert_eq!(everything.records.len(), 1);
}

#[test]
fn results_are_ordered_by_instant_request_and_sequence() {
    let log = three_requests();
    let page = log.search(&AuditQuery::new());
    let keys: Vec<_> = page.records.iter().map(AuditRecord::cursor).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // Two drafts at t0: request 1 before request 3.
    assert_eq!(page.records[0].request(), request_id(1));
    assert_eq!(page.records[1].request(), request_id(3));
    assert_eq!(page.next, None);
}

#[test]
fn keyset_pages_cover_everything_once() {
    let log = three_requests();
    let mut seen = Vec::new();
    let mut query = AuditQuery::new().page_size(PageSize::new(2).unwrap());
    let mut pages = 0;
    loop {
        let page = log.search(&query);
        pages += 1;
        assert!(page.records.len() <= 2);
        seen.extend(page.records.iter().cloned());
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, log.search(&AuditQuery::new()).records);
    // A cursor survives serialization, for handing to a client.
    let first = log.search(&AuditQuery::new().page_size(PageSize::new(3).unwrap()));
    let json = serde_json::to_string(&first.next.unwrap()).unwrap();
    let cursor: AuditCursor = serde_json::from_str(&json).unwrap();
    let rest = log.search(&AuditQuery::new().after(cursor));
    assert_eq!(rest.records.len(), 4);
}

#[test]
fn a_record_serializes_in_a_stable_form() {
    let closed = granted()
        .record_action(&alex(), mailbox_read(), at(TimeDelta::hours(2)))
        .unwrap();
    let ActionOutcome::Recorded(granted) = closed else {
        panic!("inside the window")
    };
    let json = serde_json::to_string_pretty(granted.audit_trail()).unwrap();
    insta::assert_snapshot!("contoso_trail_json", json);
    let back: Vec<AuditRecord> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, granted.audit_trail());
    let text: Vec<String> = granted
        .audit_trail()
        .iter()
        .map(ToString::to_string)
        .collect();
    insta::assert_snapshot!("contoso_trail_text", text.join("\n"));
}

#[test]
fn stored_names_are_the_serde_names() {
    for kind in AuditEventKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    for state in [
        StateKind::Drafted,
        StateKind::ManagerApproved,
        StateKind::PendingCustomer,
        StateKind::Granted,
        StateKind::Closed,
    ] {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
    }
    for actor in [
        Actor::Engineer(alex()),
        Actor::SupportManager(sam()),
        Actor::Approver(megan()),
        Actor::System,
    ] {
        let value = serde_json::to_value(&actor).unwrap();
        assert_eq!(value["role"], actor.role());
        assert_eq!(
            value.get("id").and_then(|id| id.as_str()).unwrap_or(""),
            actor.id()
        );
    }
}
