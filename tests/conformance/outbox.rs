//! The outbox: every notification written with its step, delivered through a caller-supplied
//! sender under leases, each attempt an audit record.

use std::process::Command;

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

use crate::common::runs::{play_as, run_strategy};
use crate::common::*;
use crate::harness::Db;

const LEASE: TimeDelta = TimeDelta::minutes(5);

/// A sender that runs `during` while it holds its message, then accepts it.
struct Holding<F: FnMut(&Delivery)> {
    during: F,
    sent: usize,
}

impl<F: FnMut(&Delivery)> Sender for Holding<F> {
    type Error = std::convert::Infallible;

    fn send(&mut self, delivery: &Delivery) -> Result<(), Self::Error> {
        (self.during)(delivery);
        self.sent += 1;
        Ok(())
    }
}

fn grant_in<S: Store>(store: &mut S, id: RequestId, now: DateTime<Utc>) {
    let AnyRequest::PendingCustomer(pending) = store.load(id).unwrap() else {
        panic!("pending")
    };
    let GrantOutcome::Granted(mut granted) = pending.grant(&megan(), &policy(), now).unwrap()
    else {
        panic!("in time")
    };
    store.save(&mut granted).unwrap();
}

fn trail<S: Store>(store: &mut S, id: RequestId) -> Vec<AuditRecord> {
    store.load(id).unwrap().audit_trail().to_vec()
}

fn delivery_records<S: Store>(store: &mut S, id: RequestId) -> Vec<AuditRecord> {
    trail(store, id)
        .into_iter()
        .filter(|r| {
            matches!(
                r.event().kind(),
                K::NotificationSent | K::DeliveryFailed | K::NotificationDropped
            )
        })
        .collect()
}

fn addresses(delivery: &Delivery) -> Vec<String> {
    delivery
        .notification()
        .recipients()
        .iter()
        .map(ToString::to_string)
        .collect()
}

pub fn a_full_run_sends_each_message_once_and_records_it<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
    let mut sender = Recorder::default();

    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .unwrap();
    assert_eq!(report.sent, vec![(id, 3)], "{report}");
    assert_eq!(sender.sent.len(), 1);
    let decision = &sender.sent[0];
    assert_eq!(
        decision.notification().kind(),
        NotificationKind::DecisionNeeded
    );
    assert_eq!(
        addresses(decision),
        ["megan@contoso.com", "lee.admin@contoso.com"]
    );
    assert_eq!(decision.attempt(), 1);
    assert_eq!(decision.key(), format!("{id}.3"));
    assert!(
        decision
            .notification()
            .body()
            .contains("sign in to your admin center")
    );

    // Nothing is handed out twice.
    let again = store
        .deliver(&directory(), &mut sender, at(hours(1)), LEASE)
        .unwrap();
    assert!(again.sent.is_empty(), "{again}");

    grant_in(&mut store, id, at(hours(1)));
    let report = store
        .append_actions(id, &alex(), [mailbox_read()], at(hours(2)))
        .unwrap();
    assert_eq!(report.recorded, 1);
    let AnyRequest::Granted(granted) = store.load(id).unwrap() else {
        panic!("granted")
    };
    let mut closed = granted.close(&alex(), at(hours(3))).unwrap();
    store.save(&mut closed).unwrap();

    let report = store
        .deliver(&directory(), &mut sender, at(hours(3)), LEASE)
        .unwrap();
    assert_eq!(report.sent.len(), 2, "{report}");
    let kinds: Vec<_> = sender
        .sent
        .iter()
        .map(|d| d.notification().kind())
        .collect();
    assert_eq!(
        kinds,
        [
            NotificationKind::DecisionNeeded,
            NotificationKind::AccessGranted,
            NotificationKind::AccessEnded
        ]
    );
    assert_eq!(addresses(&sender.sent[1]), [alex_mail().to_string()]);
    let report_body = sender.sent[2].notification().body();
    assert!(
        report_body.contains("Actions recorded (1):"),
        "{report_body}"
    );
    assert!(report_body.contains("Get-MailboxFolderStatistics  on  cfo[at]contoso[.]com"));
    assert!(report_body.contains("the engineer closed the request after the fix"));

    // Every attempt is an audit record in the request's trail, searchable like any other.
    let records = delivery_records(&mut store, id);
    let summary: Vec<_> = records.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!("delivery_records", summary.join("\n"));
    let sent = store
        .search(&AuditQuery::new().kind(K::NotificationSent))
        .unwrap();
    assert_eq!(sent.records.len(), 3);
    assert!(store.verify_chain(contoso()).unwrap().is_intact());
    let outbox = store.outbox(id).unwrap();
    assert_eq!(outbox.len(), 3);
    assert!(
        outbox
            .iter()
            .all(|e| e.status == OutboxStatus::Sent && e.attempts == 1)
    );
}

pub fn a_failed_attempt_is_kept_with_its_error_and_retried_after_the_lease<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
    let mut sender = Recorder {
        failing: Some("421 4.3.2 relay busy,\r\n try later".into()),
        ..Recorder::default()
    };
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .unwrap();
    assert_eq!(report.failed.len(), 1, "{report}");
    assert_eq!(
        report.failed[0].2.as_str(),
        "421 4.3.2 relay busy, try later"
    );
    let entry = &store.outbox(id).unwrap()[0];
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.attempts, 1);
    assert_eq!(
        entry.last_error.as_ref().map(DeliveryFailure::as_str),
        Some("421 4.3.2 relay busy, try later")
    );
    assert_eq!(entry.next_attempt_at, at(minutes(21)) + LEASE);

    // Not again before the retry delay, even though the sender works now.
    sender.failing = None;
    let early = store
        .deliver(&directory(), &mut sender, at(minutes(22)), LEASE)
        .unwrap();
    assert!(early.sent.is_empty() && early.failed.is_empty(), "{early}");

    let report = store
        .deliver(&directory(), &mut sender, at(minutes(26)), LEASE)
        .unwrap();
    assert_eq!(report.sent, vec![(id, 3)], "{report}");
    assert_eq!(sender.sent[0].attempt(), 2);
    let entry = &store.outbox(id).unwrap()[0];
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 2));
    let kinds: Vec<_> = delivery_records(&mut store, id)
        .iter()
        .map(|r| r.event().kind())
        .collect();
    assert_eq!(kinds, [K::DeliveryFailed, K::NotificationSent]);
}

pub fn a_missing_address_is_a_recorded_failure_until_the_directory_has_it<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
    grant_in(&mut store, id, at(hours(1)));
    let mut sender = Recorder::default();
    let no_engineer = AddressBook::new().with_policy(&policy());
    let report = store
        .deliver(&no_engineer, &mut sender, at(hours(1)), LEASE)
        .unwrap();
    // Granted before any delivery: the approvers' decision message is dropped, not sent.
    assert_eq!(report.dropped, vec![(id, 3)], "{report}");
    assert_eq!(report.failed.len(), 1);
    insta::assert_snapshot!("missing_engineer_address", report.failed[0].2.as_str());

    let report = store
        .deliver(&directory(), &mut sender, at(hours(1)) + LEASE, LEASE)
        .unwrap();
    assert_eq!(report.sent, vec![(id, 4)], "{report}");
    assert_eq!(addresses(&sender.sent[0]), [alex_mail().to_string()]);
}

pub fn an_expired_request_drops_its_decision_message_and_tells_the_engineer<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
    // Nobody delivered in 12 hours; the sweeper expires it and writes the engineer's message.
    let deadline = at(hours(12) + minutes(20));
    let swept = store.sweep(deadline).unwrap();
    assert_eq!(swept.expired, vec![id]);
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, deadline + minutes(1), LEASE)
        .unwrap();
    assert_eq!(report.dropped, vec![(id, 3)], "{report}");
    assert_eq!(report.sent, vec![(id, 4)]);
    assert_eq!(sender.sent.len(), 1);
    assert_eq!(
        sender.sent[0].notification().kind(),
        NotificationKind::NoAccess
    );
    assert!(sender.sent[0].notification().body().contains("expired"));
    let entries = store.outbox(id).unwrap();
    assert_eq!(entries[0].status, OutboxStatus::Dropped);
    assert_eq!(entries[1].status, OutboxStatus::Sent);
}

pub fn delivery_moves_on_a_request_that_time_has_moved_on<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
    // Past the deadline, no sweep ran: the delivery run expires the request first.
    let mut sender = Recorder::default();
    let late = at(hours(13));
    let report = store
        .deliver(&directory(), &mut sender, late, LEASE)
        .unwrap();
    assert_eq!(report.dropped, vec![(id, 3)], "{report}");
    assert_eq!(
        report.sent,
        vec![(id, 4)],
        "the expiry's message went out in the same run"
    );
    let AnyRequest::Closed(closed) = store.load(id).unwrap() else {
        panic!("closed")
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
    assert_trail_well_formed(&closed);
    assert!(store.verify_chain(contoso()).unwrap().is_intact());
}

pub fn two_runs_never_hold_one_message_and_a_lapsed_lease_is_taken_over<D: Db>() {
    let db = D::create();
    let mut first = db.open();
    let id = pending_as(&mut first, 1);
    let now = at(minutes(21));
    let mut second = db.open();
    let mut second_sender = Recorder::default();
    let mut while_held = Vec::new();
    let mut holder = Holding {
        during: |_: &Delivery| {
            // Another process runs while the first attempt holds the message.
            let report = second
                .deliver(&directory(), &mut second_sender, now + minutes(1), LEASE)
                .unwrap();
            while_held.push(report.sent.len());
            // The first attempt hangs past its lease: the message is taken over.
            let report = second
                .deliver(&directory(), &mut second_sender, now + LEASE, LEASE)
                .unwrap();
            while_held.push(report.sent.len());
        },
        sent: 0,
    };
    let report = first
        .deliver(&directory(), &mut holder, now, LEASE)
        .unwrap();
    assert_eq!(holder.sent, 1);
    assert_eq!(
        while_held,
        [0, 1],
        "not handed out while held; taken over after the lease"
    );
    assert_eq!(
        report.lost,
        vec![(id, 3)],
        "the late first attempt recorded nothing: {report}"
    );
    assert_eq!(second_sender.sent[0].attempt(), 2);
    let kinds: Vec<_> = delivery_records(&mut first, id)
        .iter()
        .map(|r| r.event().kind())
        .collect();
    assert_eq!(kinds, [K::NotificationSent], "exactly one outcome recorded");
}

pub fn two_processes_delivering_at_once_send_each_message_exactly_once<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let mut ids = Vec::new();
    for n in 0..20 {
        let mut drafted = Request::draft(
            Draft {
                id: request_id(500 + n),
                ..draft()
            },
            &policy(),
            t0(),
        )
        .unwrap();
        store.save(&mut drafted).unwrap();
        let mut approved = drafted.approve(&sam(), t0()).unwrap();
        store.save(&mut approved).unwrap();
        let (mut pending, _message) = approved.notify(&policy(), t0()).unwrap();
        store.save(&mut pending).unwrap();
        ids.push(pending.id());
    }
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (place, barrier) = (db.place(), barrier.clone());
            std::thread::spawn(move || {
                let mut store = D::open_at(&place).unwrap();
                let mut sender = Recorder::default();
                barrier.wait();
                let report = store
                    .deliver(&directory(), &mut sender, at(minutes(1)), LEASE)
                    .unwrap();
                assert!(
                    report.errors.is_empty() && report.lost.is_empty(),
                    "{report}"
                );
                sender.sent.iter().map(Delivery::key).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut keys: Vec<String> = runs.into_iter().flat_map(|r| r.join().unwrap()).collect();
    keys.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}.3")).collect();
    expected.sort();
    assert_eq!(
        keys, expected,
        "each message sent once, by one of the two runs"
    );
}

/// The child side of the crash test: claims the message, then dies inside the sender.
pub fn crashing_delivery_child<D: Db>() {
    let Ok(place) = std::env::var("LOCKBOX_CRASH_STORE") else {
        return;
    };
    let mut store = D::open_at(&place).unwrap();
    let mut dies = Holding {
        during: |_: &Delivery| std::process::abort(),
        sent: 0,
    };
    let _ = store.deliver(&directory(), &mut dies, at(minutes(21)), LEASE);
    unreachable!("the sender aborts the process");
}

pub fn a_crashed_attempt_is_retried_after_its_lease<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!("{}::outbox::crashing_delivery_child", D::NAME),
            "--ignored",
            "--test-threads=1",
        ])
        .env("LOCKBOX_CRASH_STORE", db.place())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child died in its sender");
    let entry = &store.outbox(id).unwrap()[0];
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    assert_eq!(
        entry.next_attempt_at,
        at(minutes(21)) + LEASE,
        "held by the dead attempt"
    );

    let mut sender = Recorder::default();
    let held = store
        .deliver(&directory(), &mut sender, at(minutes(22)), LEASE)
        .unwrap();
    assert!(held.sent.is_empty(), "still held: {held}");
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)) + LEASE, LEASE)
        .unwrap();
    assert_eq!(report.sent, vec![(id, 3)], "{report}");
    assert_eq!(sender.sent[0].attempt(), 2, "the crashed attempt counts");
}

pub fn a_tampered_message_is_refused_unsent<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
    db.sql(
        "UPDATE outbox SET message = replace(message, 'sign in to your admin center', 'open https://evil.example')",
    )
    .unwrap();
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .unwrap();
    assert!(sender.sent.is_empty());
    assert_eq!(report.errors.len(), 1, "{report}");
    assert_eq!((report.errors[0].0, report.errors[0].1), (id, 3));
    assert_eq!(store.outbox(id).unwrap()[0].status, OutboxStatus::Pending);
    insta::assert_snapshot!("tampered_message", report.errors[0].2.to_string());
}

pub fn a_lease_must_be_longer_than_zero<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let err = store
        .deliver(
            &directory(),
            &mut Recorder::default(),
            t0(),
            TimeDelta::zero(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidLease { .. }), "{err}");
}

pub fn every_step_that_notifies_writes_its_message_in_its_own_transaction<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let kinds = |store: &mut D::Store, id| -> Vec<NotificationKind> {
        store.outbox(id).unwrap().iter().map(|e| e.kind).collect()
    };
    // Denied.
    let id = pending_as(&mut store, 1);
    let AnyRequest::PendingCustomer(pending) = store.load(id).unwrap() else {
        panic!()
    };
    let DenyOutcome::Denied(mut closed) = pending.deny(&megan(), &policy(), at(hours(1))).unwrap()
    else {
        panic!()
    };
    store.save(&mut closed).unwrap();
    assert_eq!(
        kinds(&mut store, id),
        [NotificationKind::DecisionNeeded, NotificationKind::NoAccess]
    );
    // Revoked, and elapsed through the sweeper, on two more requests.
    for (n, revoke) in [(2, true), (3, false)] {
        let mut drafted = Request::draft(
            Draft {
                id: request_id(n),
                ..draft()
            },
            &policy(),
            t0(),
        )
        .unwrap();
        store.save(&mut drafted).unwrap();
        let id = drafted.id();
        let mut approved = drafted.approve(&sam(), t0()).unwrap();
        store.save(&mut approved).unwrap();
        let (mut pending, _message) = approved.notify(&policy(), t0()).unwrap();
        store.save(&mut pending).unwrap();
        grant_in(&mut store, id, at(hours(1)));
        if revoke {
            let AnyRequest::Granted(granted) = store.load(id).unwrap() else {
                panic!()
            };
            let mut closed = granted.revoke(&megan(), &policy(), at(hours(2))).unwrap();
            store.save(&mut closed).unwrap();
        } else {
            assert_eq!(store.sweep(at(hours(5))).unwrap().access_ended, vec![id]);
        }
        assert_eq!(
            kinds(&mut store, id),
            [
                NotificationKind::DecisionNeeded,
                NotificationKind::AccessGranted,
                NotificationKind::AccessEnded
            ]
        );
    }
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, at(hours(6)), LEASE)
        .unwrap();
    assert!(
        report.errors.is_empty() && report.failed.is_empty(),
        "{report}"
    );
    let ended: Vec<_> = sender
        .sent
        .iter()
        .filter(|d| d.notification().kind() == NotificationKind::AccessEnded)
        .map(|d| d.notification().body().to_owned())
        .collect();
    assert!(ended[0].contains("a designated approver revoked access (megan[at]contoso[.]com)"));
    assert!(ended[1].contains("the access duration elapsed"));
}

/// A run that is granted honestly first, then goes on at random: most plain random runs end
/// before a grant, and the post-access report needs one.
fn granted_then_random() -> impl Strategy<Value = Vec<(common_runs::Try, i64)>> {
    use common_runs::Try;
    run_strategy().prop_map(|rest| {
        let mut run = vec![
            (Try::Approve { honest: true }, 5),
            (Try::Notify { honest: true }, 5),
            (Try::Grant { honest: true }, 30),
        ];
        run.extend(rest);
        run
    })
}

use crate::common::runs as common_runs;

/// For any legal run and any pattern of failing delivery runs: every notification the run
/// causes gets exactly one outbox entry, is sent (or dropped) exactly once once the sender
/// works, has one failure record per failed attempt, and the trail still replays and the chain
/// still verifies. 48 random cases, each on a fresh database.
pub fn random_runs_deliver_every_message_exactly_once<D: Db>() {
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/conformance/outbox.proptest-regressions"
        )))),
        ..Config::default()
    });
    let cases = (
        prop_oneof![run_strategy(), granted_then_random()],
        prop::collection::vec(any::<bool>(), 0..6),
    );
    runner
        .run(&cases, |(run, failures)| {
            let mut request = play_as(1, &run);
            let db = D::create();
            let mut store = db.open();
            save_any(&mut store, &mut request);
            let id = request.id();
            let mut now = request.audit_trail().last().unwrap().at();
            let mut sender = Recorder::default();
            for fail in failures.iter().copied().chain([false]) {
                now += LEASE;
                sender.failing = fail.then(|| "relay down".to_owned());
                let report = store
                    .deliver(&directory(), &mut sender, now, LEASE)
                    .unwrap();
                prop_assert!(
                    report.errors.is_empty() && report.lost.is_empty(),
                    "{}",
                    report
                );
            }
            let entries = store.outbox(id).unwrap();
            let loaded = store.load(id).unwrap();
            let trail = loaded.audit_trail();
            let causes: Vec<u64> = trail
                .iter()
                .filter(|r| NotificationKind::caused_by(r.event()).is_some())
                .map(AuditRecord::sequence)
                .collect();
            prop_assert_eq!(entries.iter().map(|e| e.cause).collect::<Vec<_>>(), causes);
            for entry in &entries {
                prop_assert_ne!(entry.status, OutboxStatus::Pending);
                let outcomes = |kind: K| {
                    trail
                        .iter()
                        .filter(|r| {
                            r.event().kind() == kind
                                && match r.event() {
                                    AuditEvent::NotificationSent { cause, .. }
                                    | AuditEvent::DeliveryFailed { cause, .. }
                                    | AuditEvent::NotificationDropped { cause, .. } => {
                                        *cause == entry.cause
                                    }
                                    _ => false,
                                }
                        })
                        .count()
                };
                let done = outcomes(K::NotificationSent) + outcomes(K::NotificationDropped);
                prop_assert_eq!(done, 1, "cause #{}", entry.cause);
                prop_assert_eq!(outcomes(K::DeliveryFailed) as u32 + 1, entry.attempts);
            }
            let sent_keys: std::collections::BTreeSet<String> =
                sender.sent.iter().map(Delivery::key).collect();
            prop_assert_eq!(
                sent_keys.len(),
                sender.sent.len(),
                "nothing handed out twice"
            );
            prop_assert!(store.verify_chain(contoso()).unwrap().is_intact());
            Ok(())
        })
        .unwrap();
}
