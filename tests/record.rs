//! The stored form: each state's record pinned by snapshots, every legal run round-trips, and a
//! record the workflow could not have produced is refused with the rule it breaks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use chrono::TimeDelta;
use common::runs::{play, run_strategy};
use common::*;
use customer_lockbox::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

fn pretty(record: &RequestRecord) -> String {
    serde_json::to_string_pretty(record).unwrap()
}

fn closed_completed() -> Request<Closed> {
    let ActionOutcome::Recorded(granted) = granted()
        .record_action(&alex(), mailbox_read(), at(TimeDelta::hours(2)))
        .unwrap()
    else {
        panic!("inside the window")
    };
    granted.close(&alex(), at(TimeDelta::hours(3))).unwrap()
}

#[test]
fn each_states_record_is_pinned() {
    insta::assert_snapshot!("record_drafted", pretty(&drafted().to_record()));
    insta::assert_snapshot!("record_manager_approved", pretty(&approved().to_record()));
    insta::assert_snapshot!("record_pending_customer", pretty(&pending().to_record()));
    insta::assert_snapshot!("record_granted", pretty(&granted().to_record()));
    insta::assert_snapshot!("record_closed", pretty(&closed_completed().to_record()));
}

#[test]
fn a_record_loads_back_into_its_state() {
    let record = closed_completed().to_record();
    let json = record.to_json().unwrap();
    let back = RequestRecord::from_json(&json).unwrap();
    assert_eq!(back, record);
    let AnyRequest::Closed(closed) = back.load().unwrap() else {
        panic!("a closed record")
    };
    assert_eq!(closed.reason(), ClosureReason::Completed);
    assert_eq!(closed.audit_trail(), record.trail());
    assert!(
        closed.unsaved_records().is_empty(),
        "a loaded request counts as saved"
    );
    let AnyRequest::PendingCustomer(pending) = pending().to_record().load().unwrap() else {
        panic!("a pending record")
    };
    assert_eq!(
        pending.decision_deadline(),
        at(TimeDelta::minutes(20)) + DecisionWindow::DEFAULT.as_time_delta()
    );
    // The loaded request goes on through the workflow.
    assert!(matches!(
        pending.grant(&megan(), &policy(), at(TimeDelta::hours(1))),
        Ok(GrantOutcome::Granted(_))
    ));
}

fn trail_mut(value: &mut Value) -> &mut Vec<Value> {
    value["trail"].as_array_mut().unwrap()
}

/// Renumbers the trail 1, 2, 3, ... after records were removed.
fn renumber(value: &mut Value) {
    for (i, record) in trail_mut(value).iter_mut().enumerate() {
        record["sequence"] = json!(i + 1);
    }
}

fn refused_rule(result: Result<AnyRequest, RecordError>) -> (Option<u64>, BrokenRule) {
    match result {
        Ok(loaded) => panic!("loaded a {} request it must refuse", loaded.state()),
        Err(err) => (err.sequence(), err.rule().clone()),
    }
}

#[test]
fn a_grant_without_manager_approval_is_refused() {
    let record = granted().to_record();
    let result = load_edited(&record, |v| {
        trail_mut(v).remove(1); // the manager's approval
        renumber(v);
    });
    let (sequence, rule) = refused_rule(result);
    assert_eq!(sequence, Some(2));
    assert_eq!(
        rule,
        BrokenRule::StepNotLegal {
            state: StateKind::Drafted,
            event: AuditEventKind::ApproversNotified
        }
    );
}

#[test]
fn a_manager_who_is_the_engineer_is_refused() {
    let record = approved().to_record();
    let result = load_edited(&record, |v| {
        v["trail"][1]["actor"]["id"] = json!(alex().as_str())
    });
    assert_eq!(
        refused_rule(result),
        (Some(2), BrokenRule::StepRefused(Refusal::ManagerIsEngineer))
    );
}

#[test]
fn a_grant_at_the_deadline_is_refused() {
    let record = granted().to_record();
    let deadline = at(TimeDelta::minutes(20)) + DecisionWindow::DEFAULT.as_time_delta();
    let result = load_edited(&record, |v| {
        v["trail"][3]["at"] = json!(deadline);
        v["trail"][3]["event"]["details"]["access_ends_at"] = json!(deadline + TimeDelta::hours(4));
    });
    assert_eq!(
        refused_rule(result),
        (Some(4), BrokenRule::DecisionAtOrAfterDeadline)
    );
}

#[test]
fn an_access_window_of_another_length_is_refused() {
    let record = granted().to_record();
    let result = load_edited(&record, |v| {
        v["trail"][3]["event"]["details"]["access_ends_at"] = json!(at(TimeDelta::hours(9)));
    });
    assert_eq!(
        refused_rule(result),
        (Some(4), BrokenRule::AccessWindowNotRequestedDuration)
    );
}

#[test]
fn a_deadline_no_policy_could_set_is_refused() {
    // Notified at 08:20: a deadline must be a decision window (1 hour to 14 days, whole
    // minutes) later. Which window the tenant's policy set at the time, a record alone cannot
    // say: a store checks that against the policy history.
    let record = pending().to_record();
    let notified = at(TimeDelta::minutes(20));
    for deadline in [
        notified + TimeDelta::minutes(59),
        notified + TimeDelta::days(14) + TimeDelta::minutes(1),
        notified + TimeDelta::hours(12) + TimeDelta::seconds(1),
        notified,
        notified - TimeDelta::hours(12),
    ] {
        let result = load_edited(&record, |v| {
            v["trail"][2]["event"]["details"]["decision_deadline"] = json!(deadline);
        });
        assert_eq!(
            refused_rule(result),
            (Some(3), BrokenRule::DeadlineNotDecisionWindow),
            "{deadline}"
        );
    }
}

/// A notification must name its approvers, each once: none, or one twice (who could then give
/// two of a two-person rule's approvals), is refused on load.
#[test]
fn a_notification_naming_nobody_or_someone_twice_is_refused() {
    let record = pending().to_record();
    let notified = pending().audit_trail()[2].clone();
    let AuditEvent::ApproversNotified { approvers, .. } = notified.event() else {
        panic!("the third record notifies")
    };
    let first = approvers[0].clone();
    for listed in [json!([]), json!([first, first])] {
        let result = load_edited(&record, |v| {
            v["trail"][2]["event"]["details"]["approvers"] = listed.clone();
            v["trail"][2]["event"]["details"]["approvals_required"] = json!(1);
        });
        assert_eq!(
            refused_rule(result),
            (Some(3), BrokenRule::InvalidNotifiedApprovers),
            "{listed}"
        );
    }
}

#[test]
fn a_notification_requiring_no_approvals_or_more_than_it_notified_is_refused() {
    let record = pending().to_record();
    for required in [0, 3, u32::MAX] {
        let result = load_edited(&record, |v| {
            v["trail"][2]["event"]["details"]["approvals_required"] = json!(required);
        });
        assert_eq!(
            refused_rule(result),
            (Some(3), BrokenRule::InvalidApprovalsRequired),
            "{required}"
        );
    }
}

#[test]
fn a_closure_that_does_not_match_its_timestamps_is_refused() {
    // An expiry recorded an hour before the deadline.
    let PendingStatus::Expired(expired) = pending().check_expiry(at(TimeDelta::hours(13))) else {
        panic!("past the deadline")
    };
    let record = expired.to_record();
    let result = load_edited(&record, |v| {
        v["trail"][3]["at"] = json!(at(TimeDelta::hours(11)))
    });
    assert_eq!(refused_rule(result).0, Some(4));
    // The end of access recorded after the window's end.
    let Access::Ended(ended) = granted().access(at(TimeDelta::hours(6))) else {
        panic!("past the window")
    };
    let record = ended.to_record();
    let result = load_edited(&record, |v| {
        v["trail"][4]["at"] = json!(at(TimeDelta::hours(6)))
    });
    assert_eq!(
        refused_rule(result),
        (Some(5), BrokenRule::ClosureAtWrongInstant)
    );
    // A completed request whose record claims it expired.
    let result = load_edited(&closed_completed().to_record(), |v| {
        v["trail"][5]["event"] = json!({"kind": "expired"});
        v["trail"][5]["actor"] = json!({"role": "system"});
    });
    assert_eq!(refused_rule(result).0, Some(6));
}

#[test]
fn an_action_outside_the_requested_services_is_refused() {
    let ActionOutcome::Recorded(granted) = granted()
        .record_action(&alex(), mailbox_read(), at(TimeDelta::hours(2)))
        .unwrap()
    else {
        panic!("inside the window")
    };
    let result = load_edited(&granted.to_record(), |v| {
        v["trail"][4]["event"]["details"]["action"]["service"] = json!("share_point_online");
    });
    assert_eq!(
        refused_rule(result),
        (
            Some(5),
            BrokenRule::StepRefused(Refusal::ServiceNotRequested {
                service: Service::SharePointOnline
            })
        )
    );
    let result = load_edited(&granted.to_record(), |v| {
        v["trail"][4]["at"] = json!(at(TimeDelta::hours(5)))
    });
    assert_eq!(
        refused_rule(result),
        (Some(5), BrokenRule::ActionOutsideAccessWindow)
    );
}

#[test]
fn sequence_numbers_must_run_without_gaps() {
    let record = granted().to_record();
    let missing = load_edited(&record, |v| {
        trail_mut(v).remove(2);
    });
    assert_eq!(
        refused_rule(missing),
        (
            Some(3),
            BrokenRule::SequenceOutOfOrder {
                expected: 3,
                found: 4
            }
        )
    );
    let swapped = load_edited(&record, |v| trail_mut(v).swap(1, 2));
    assert_eq!(
        refused_rule(swapped),
        (
            Some(2),
            BrokenRule::SequenceOutOfOrder {
                expected: 2,
                found: 3
            }
        )
    );
    let reordered = load_edited(&record, |v| {
        trail_mut(v).swap(1, 2);
        renumber(v);
    });
    assert_eq!(refused_rule(reordered).0, Some(2));
}

#[test]
fn header_and_trail_must_agree() {
    let record = granted().to_record();
    let state = load_edited(&record, |v| v["state"] = json!("closed"));
    assert_eq!(
        refused_rule(state),
        (
            None,
            BrokenRule::StateMismatch {
                stored: StateKind::Closed,
                replayed: StateKind::Granted
            }
        )
    );
    let tenant = load_edited(&record, |v| v["tenant"] = json!(fabrikam()));
    assert_eq!(refused_rule(tenant), (Some(1), BrokenRule::ForeignRecord));
    let empty = load_edited(&record, |v| trail_mut(v).clear());
    assert_eq!(refused_rule(empty), (None, BrokenRule::EmptyTrail));
    let after_close = load_edited(&closed_completed().to_record(), |v| {
        let mut extra = v["trail"][4].clone();
        extra["at"] = v["trail"][5]["at"].clone();
        trail_mut(v).push(extra);
        renumber(v);
    });
    assert_eq!(
        refused_rule(after_close),
        (Some(7), BrokenRule::RecordAfterClose)
    );
}

#[test]
fn unknown_versions_and_bad_json_are_refused() {
    let json = drafted().to_record().to_json().unwrap();
    let v4 = json.replacen("\"version\":3", "\"version\":4", 1);
    let err = RequestRecord::from_json(&v4).unwrap_err();
    assert_eq!(err.rule(), &BrokenRule::UnsupportedVersion { found: 4 });
    let v0 = json.replacen("\"version\":3", "\"version\":0", 1);
    let err0 = RequestRecord::from_json(&v0).unwrap_err();
    assert_eq!(err0.rule(), &BrokenRule::UnsupportedVersion { found: 0 });
    insta::assert_snapshot!("unsupported_version", err.to_string());
    for bad in [
        "",
        "{}",
        "null",
        "[]",
        "{\"version\":\"1\"}",
        &json[..json.len() / 2],
    ] {
        assert!(matches!(
            RequestRecord::from_json(bad).unwrap_err().rule(),
            BrokenRule::Malformed { .. }
        ));
    }
    let empty_justification = json.replace("CFO mailbox stopped syncing after migration", "");
    assert!(matches!(
        RequestRecord::from_json(&empty_justification)
            .unwrap_err()
            .rule(),
        BrokenRule::Malformed { .. }
    ));
}

#[test]
fn refusal_messages_name_the_record_and_the_rule() {
    let result = load_edited(&approved().to_record(), |v| {
        v["trail"][1]["actor"]["id"] = json!(alex().as_str())
    });
    insta::assert_snapshot!(
        "manager_is_engineer_message",
        result.unwrap_err().to_string()
    );
}

/// The random runs are worth testing with: they reach every ending.
#[test]
fn random_runs_reach_every_ending() {
    let mut runner = TestRunner::deterministic();
    let mut endings = BTreeSet::new();
    for _ in 0..3000 {
        let steps = run_strategy().new_tree(&mut runner).unwrap().current();
        if let AnyRequest::Closed(closed) = play(&steps) {
            endings.insert(format!("{:?}", closed.reason()));
        }
    }
    assert_eq!(endings.len(), 7, "reached only {endings:?}");
}

/// Mutations of a record's JSON: each picks a record by index and changes one thing.
#[derive(Clone, Debug)]
enum Mutation {
    ShiftInstant { index: usize, minutes: i64 },
    Remove { index: usize },
    Swap { index: usize },
    Duplicate { index: usize },
    Renumber { index: usize, sequence: u64 },
    ChangeActor { index: usize, actor: usize },
    ChangeEvent { index: usize, event: usize },
    ChangeState { state: usize },
    ChangeDuration { minutes: u32 },
    ChangeServices { services: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = 0..64usize;
    prop_oneof![
        (index.clone(), -600i64..600)
            .prop_map(|(index, minutes)| Mutation::ShiftInstant { index, minutes }),
        index.clone().prop_map(|index| Mutation::Remove { index }),
        index.clone().prop_map(|index| Mutation::Swap { index }),
        index
            .clone()
            .prop_map(|index| Mutation::Duplicate { index }),
        (index.clone(), 0..70u64)
            .prop_map(|(index, sequence)| Mutation::Renumber { index, sequence }),
        (index.clone(), 0..6usize)
            .prop_map(|(index, actor)| Mutation::ChangeActor { index, actor }),
        (index, 0..ALL_EVENTS.len())
            .prop_map(|(index, event)| Mutation::ChangeEvent { index, event }),
        (0..5usize).prop_map(|state| Mutation::ChangeState { state }),
        (1..600u32).prop_map(|minutes| Mutation::ChangeDuration { minutes }),
        (0..7usize).prop_map(|services| Mutation::ChangeServices { services }),
    ]
}

const ALL_EVENTS: &[&str] = &[
    r#"{"kind":"manager_approved"}"#,
    r#"{"kind":"manager_rejected"}"#,
    r#"{"kind":"withdrawn"}"#,
    r#"{"kind":"denied"}"#,
    r#"{"kind":"expired"}"#,
    r#"{"kind":"completed"}"#,
    r#"{"kind":"access_elapsed"}"#,
    r#"{"kind":"revoked"}"#,
    r#"{"kind":"granted","details":{"access_ends_at":"2026-11-24T13:00:00Z"}}"#,
    r#"{"kind":"approvers_notified","details":{"approvers":["megan@contoso.com"],"decision_deadline":"2026-11-24T20:20:00Z"}}"#,
    r#"{"kind":"engineer_acted","details":{"action":{"service":"exchange_online","operation":"read","target":"item 1"}}}"#,
    r#"{"kind":"refused","details":{"step":"grant","refusal":{"rule":"not_designated_approver"}}}"#,
];

fn actors() -> [Value; 6] {
    [
        json!({"role": "engineer", "id": alex().as_str()}),
        json!({"role": "engineer", "id": "jordan"}),
        json!({"role": "support_manager", "id": sam().as_str()}),
        json!({"role": "approver", "id": megan().as_str()}),
        json!({"role": "approver", "id": "mallory"}),
        json!({"role": "system"}),
    ]
}

fn mutate(value: &mut Value, mutation: &Mutation) {
    let len = trail_mut(value).len();
    if len == 0 {
        return; // an earlier mutation removed the last record
    }
    let pick = |index: usize| index % len;
    match *mutation {
        Mutation::ShiftInstant { index, minutes } => {
            let i = pick(index);
            let at: chrono::DateTime<chrono::Utc> =
                serde_json::from_value(value["trail"][i]["at"].clone()).unwrap();
            value["trail"][i]["at"] = json!(at + TimeDelta::minutes(minutes));
        }
        Mutation::Remove { index } => {
            trail_mut(value).remove(pick(index));
            renumber(value);
        }
        Mutation::Swap { index } => {
            let i = pick(index);
            trail_mut(value).swap(i, (i + 1) % len);
            renumber(value);
        }
        Mutation::Duplicate { index } => {
            let copy = value["trail"][pick(index)].clone();
            trail_mut(value).insert(pick(index), copy);
            renumber(value);
        }
        Mutation::Renumber { index, sequence } => {
            value["trail"][pick(index)]["sequence"] = json!(sequence)
        }
        Mutation::ChangeActor { index, actor } => {
            value["trail"][pick(index)]["actor"] = actors()[actor].clone()
        }
        Mutation::ChangeEvent { index, event } => {
            value["trail"][pick(index)]["event"] = serde_json::from_str(ALL_EVENTS[event]).unwrap();
        }
        Mutation::ChangeState { state } => {
            value["state"] = json!(
                [
                    "drafted",
                    "manager_approved",
                    "pending_customer",
                    "granted",
                    "closed"
                ][state]
            );
        }
        Mutation::ChangeDuration { minutes } => {
            value["trail"][0]["event"]["details"]["access_duration"] = json!(minutes)
        }
        Mutation::ChangeServices { services } => {
            let sets: [&[&str]; 7] = [
                &["exchange_online"],
                &["share_point_online"],
                &["one_drive_for_business"],
                &["exchange_online", "share_point_online"],
                &["exchange_online", "one_drive_for_business"],
                &["share_point_online", "one_drive_for_business"],
                &[
                    "exchange_online",
                    "share_point_online",
                    "one_drive_for_business",
                ],
            ];
            value["trail"][0]["event"]["details"]["services"] = json!(sets[services]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every record a legal run produces loads back as the same request, in the same state.
    #[test]
    fn every_legal_run_round_trips(steps in run_strategy()) {
        let request = play(&steps);
        let record = request.to_record();
        let json = record.to_json().unwrap();
        let loaded = RequestRecord::from_json(&json).unwrap().load().unwrap();
        prop_assert_eq!(loaded.state(), request.state());
        prop_assert_eq!(loaded.audit_trail(), request.audit_trail());
        prop_assert_eq!(loaded.to_record(), record);
    }

    /// A mutated record is refused, or loads as exactly what a legal run produces: the replay
    /// reproduces it record for record.
    #[test]
    fn no_tampered_record_loads_as_something_else(steps in run_strategy(), mutations in prop::collection::vec(mutation(), 1..3)) {
        let record = play(&steps).to_record();
        let mut value = serde_json::to_value(&record).unwrap();
        for mutation in &mutations {
            mutate(&mut value, mutation);
        }
        let json = value.to_string();
        if let Ok(read) = RequestRecord::from_json(&json) {
            // As read: a format-1 record (a version mutated to 1, a missing approvals_required)
            // reads as the format-2 record format 1 implied.
            let as_read = serde_json::to_value(&read).unwrap();
            if let Ok(loaded) = read.load() {
                let reloaded: Value = serde_json::to_value(loaded.to_record()).unwrap();
                prop_assert_eq!(reloaded, as_read, "a mutated record loaded as something else");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// No byte sequence makes the loader panic: it is a typed refusal or a request.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        loaded_or_typed_refusal(RequestRecord::from_json(&text).and_then(|record| record.load()))?;
    }

    /// Arbitrary JSON documents, and arbitrary values in place of a record's top-level fields.
    #[test]
    fn arbitrary_json_documents_never_panic(
        document in arbitrary_json(),
        field in prop::sample::select(vec!["version", "id", "tenant", "state", "trail", "extra"]),
        value in arbitrary_json(),
    ) {
        loaded_or_typed_refusal(
            RequestRecord::from_json(&document.to_string()).and_then(|record| record.load()),
        )?;
        let mut record = serde_json::to_value(granted().to_record()).unwrap();
        record[field] = value;
        loaded_or_typed_refusal(
            RequestRecord::from_json(&record.to_string()).and_then(|record| record.load()),
        )?;
    }

    /// Arbitrary JSON values where a record's parts belong never panic either.
    #[test]
    fn arbitrary_json_in_a_record_never_panics(
        index in 0..6usize,
        field in prop::sample::select(vec!["sequence", "at", "tenant", "request", "actor", "event"]),
        value in arbitrary_json(),
    ) {
        let mut record = serde_json::to_value(granted().to_record()).unwrap();
        let len = record["trail"].as_array().map_or(0, Vec::len);
        record["trail"][index % len][field] = value;
        loaded_or_typed_refusal(
            RequestRecord::from_json(&record.to_string()).and_then(|record| record.load()),
        )?;
    }
}

/// A load either gives a request whose own record loads again into the same trail, or a typed
/// refusal that names its rule in words.
fn loaded_or_typed_refusal(result: Result<AnyRequest, RecordError>) -> Result<(), TestCaseError> {
    match result {
        Ok(request) => match request.to_record().load() {
            Ok(again) => prop_assert_eq!(again.audit_trail(), request.audit_trail()),
            Err(err) => prop_assert!(false, "a loaded request's record is refused: {}", err),
        },
        Err(err) => {
            prop_assert!(!err.rule().to_string().is_empty());
            prop_assert!(err.to_string().contains("refused"), "{}", err);
        }
    }
    Ok(())
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".*".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every record the record-format-1 build wrote (committed in `tests/fixtures/record-v1/`)
/// loads, in the state its file is named after.
#[test]
fn record_format_1_fixtures_load() {
    for (name, record) in record_v1_fixtures() {
        let loaded = record.load().unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(name.starts_with(loaded.state().as_str()), "{name}");
    }
}

/// Every refusal the workflow records loads back as it was written, by replay: a notification
/// refused for another tenant's policy; a late denial, grant and withdrawal that found the
/// request expired (the expiry, then the refused step, taken again at its own instant); a
/// revocation after the access window ended.
#[test]
fn recorded_refusals_and_late_steps_load_back() {
    let refused = approved()
        .notify(&fabrikam_policy(), at(TimeDelta::minutes(20)))
        .unwrap_err();
    assert_eq!(refused.refusal(), Refusal::PolicyForOtherTenant);
    let request = refused.into_request();
    assert_eq!(
        request.to_record().load().unwrap().to_record(),
        request.to_record()
    );

    let late = pending().decision_deadline() + TimeDelta::hours(1);
    let closed: Vec<Request<Closed>> = vec![
        match pending().deny(&megan(), &policy(), late).unwrap() {
            DenyOutcome::Expired(closed) => closed,
            DenyOutcome::Denied(_) => panic!("denied after the deadline"),
        },
        match pending().grant(&megan(), &policy(), late).unwrap() {
            GrantOutcome::Expired(closed) => closed,
            other => panic!("granted after the deadline: {other:?}"),
        },
        pending().withdraw(&alex(), late).unwrap(),
    ];
    // A revocation after the access window ended: the window's end, then the late revocation.
    let granted = granted();
    let after_window = granted.access_ends_at() + TimeDelta::hours(1);
    let revoked_late = match granted.revoke(&megan(), &policy(), after_window) {
        Ok(closed) => closed,
        Err(refused) => panic!("a revocation is never refused: {}", refused.refusal()),
    };
    let kinds: Vec<_> = revoked_late
        .audit_trail()
        .iter()
        .map(|r| r.event().kind())
        .collect();
    assert!(kinds.contains(&AuditEventKind::AccessElapsed), "{kinds:?}");
    assert_eq!(
        revoked_late.to_record().load().unwrap().to_record(),
        revoked_late.to_record()
    );
    for request in closed {
        let kinds: Vec<_> = request
            .audit_trail()
            .iter()
            .map(|r| r.event().kind())
            .collect();
        assert!(kinds.contains(&AuditEventKind::Expired), "{kinds:?}");
        assert_eq!(
            request.to_record().load().unwrap().to_record(),
            request.to_record(),
            "{kinds:?}"
        );
    }
}
