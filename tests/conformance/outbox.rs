//! The outbox: every notification written with its step, delivered through a caller-supplied
//! sender under leases, each attempt an audit record.

use std::process::Command;

use chrono::{DateTime, TimeDelta, Utc};
use customer_lockbox::AuditEventKind as K;
use customer_lockbox::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::common::runs::{play_in, run_strategy};
use crate::common::*;
use crate::harness::Db;

const LEASE: TimeDelta = TimeDelta::minutes(5);

/// A sender that dies while it holds its message: the crash test's child.
struct Dies;

impl Sender for Dies {
    type Error = std::convert::Infallible;

    async fn send(&mut self, _delivery: &Delivery) -> Result<(), Self::Error> {
        std::process::abort()
    }
}

/// A sender that, while it holds its message, lets another store deliver (at one minute, then
/// after the lease has run out), then accepts the message.
struct Hangs<B: Backend> {
    other: Store<B>,
    other_sender: Recorder,
    now: DateTime<Utc>,
    while_held: Vec<usize>,
    sent: usize,
}

impl<B: Backend> Sender for Hangs<B> {
    type Error = std::convert::Infallible;

    async fn send(&mut self, _delivery: &Delivery) -> Result<(), Self::Error> {
        // Another process runs while the first attempt holds the message.
        let report = self
            .other
            .deliver(
                &directory(),
                &mut self.other_sender,
                self.now + minutes(1),
                LEASE,
            )
            .await
            .unwrap();
        self.while_held.push(report.sent().len());
        // The first attempt hangs past its lease: the message is taken over.
        let report = self
            .other
            .deliver(
                &directory(),
                &mut self.other_sender,
                self.now + LEASE,
                LEASE,
            )
            .await
            .unwrap();
        self.while_held.push(report.sent().len());
        self.sent += 1;
        Ok(())
    }
}

async fn trail<B: Backend>(store: &Store<B>, id: RequestId) -> Vec<AuditRecord> {
    store.load(id).await.unwrap().audit_trail().to_vec()
}

async fn delivery_records<B: Backend>(store: &Store<B>, id: RequestId) -> Vec<AuditRecord> {
    trail(store, id)
        .await
        .into_iter()
        .filter(|r| {
            matches!(
                r.event().kind(),
                K::NotificationSent | K::DeliveryFailed | K::NotificationDropped
            )
        })
        .collect()
}

async fn grant_in<B: Backend>(store: &Store<B>, id: RequestId, now: DateTime<Utc>) {
    let GrantOutcome::Granted(_) = store.grant(id, &megan(), now).await.unwrap() else {
        panic!("in time")
    };
}

fn addresses(delivery: &Delivery) -> Vec<String> {
    delivery
        .notification()
        .recipients()
        .iter()
        .map(ToString::to_string)
        .collect()
}

pub async fn a_full_run_sends_each_message_once_and_records_it<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let mut sender = Recorder::default();

    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .await
        .unwrap();
    assert_eq!(report.sent(), vec![message(id, 3)], "{report}");
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
        .await
        .unwrap();
    assert!(again.sent().is_empty(), "{again}");

    grant_in(&store, id, at(hours(1))).await;
    let report = store
        .record_actions(id, &alex(), [mailbox_read()], at(hours(2)))
        .await
        .unwrap();
    assert_eq!(report.recorded(), 1);
    let _ = store.close(id, &alex(), at(hours(3))).await.unwrap();

    let report = store
        .deliver(&directory(), &mut sender, at(hours(3)), LEASE)
        .await
        .unwrap();
    assert_eq!(report.sent().len(), 2, "{report}");
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
    let records = delivery_records(&store, id).await;
    let summary: Vec<_> = records.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!("delivery_records", summary.join("\n"));
    let sent = store
        .search(&AuditQuery::new().kind(K::NotificationSent))
        .await
        .unwrap();
    assert_eq!(sent.records.len(), 3);
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
    let outbox = store.outbox(id).await.unwrap();
    assert_eq!(outbox.len(), 3);
    assert!(
        outbox
            .iter()
            .all(|e| e.status == OutboxStatus::Sent && e.attempts == 1)
    );
}

pub async fn a_failed_attempt_is_kept_with_its_error_and_retried_after_the_lease<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let mut sender = Recorder {
        failing: Some("421 4.3.2 relay busy,\r\n try later".into()),
        ..Recorder::default()
    };
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .await
        .unwrap();
    assert_eq!(report.failed().len(), 1, "{report}");
    assert_eq!(
        report.failed()[0].1.as_str(),
        "421 4.3.2 relay busy, try later"
    );
    let entry = &store.outbox(id).await.unwrap()[0];
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
        .await
        .unwrap();
    assert!(
        early.sent().is_empty() && early.failed().is_empty(),
        "{early}"
    );

    let report = store
        .deliver(&directory(), &mut sender, at(minutes(26)), LEASE)
        .await
        .unwrap();
    assert_eq!(report.sent(), vec![message(id, 3)], "{report}");
    assert_eq!(sender.sent[0].attempt(), 2);
    let entry = &store.outbox(id).await.unwrap()[0];
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 2));
    let kinds: Vec<_> = delivery_records(&store, id)
        .await
        .iter()
        .map(|r| r.event().kind())
        .collect();
    assert_eq!(kinds, [K::DeliveryFailed, K::NotificationSent]);
}

pub async fn a_missing_address_is_a_recorded_failure_until_the_directory_has_it<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    grant_in(&store, id, at(hours(1))).await;
    let mut sender = Recorder::default();
    let no_engineer = AddressBook::new().with_policy(&policy());
    let report = store
        .deliver(&no_engineer, &mut sender, at(hours(1)), LEASE)
        .await
        .unwrap();
    // Granted before any delivery: the approvers' decision message is dropped, not sent.
    assert_eq!(report.dropped(), vec![message(id, 3)], "{report}");
    assert_eq!(report.failed().len(), 1);
    insta::assert_snapshot!("missing_engineer_address", report.failed()[0].1.as_str());

    let report = store
        .deliver(&directory(), &mut sender, at(hours(1)) + LEASE, LEASE)
        .await
        .unwrap();
    assert_eq!(report.sent(), vec![message(id, 4)], "{report}");
    assert_eq!(addresses(&sender.sent[0]), [alex_mail().to_string()]);
}

/// A directory of the vendor's engineers is enough: the approvers' addresses are the ones the
/// tenant's policy in the store gives, as it is when the message goes out.
pub async fn approvers_are_addressed_from_the_tenants_policy<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    // The tenant's administrator corrects Lee's address on another node before delivery.
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    let corrected = TenantPolicy::new(
        contoso(),
        vec![
            DesignatedApprover::new(megan(), EmailAddress::new("megan@contoso.com").unwrap()),
            DesignatedApprover::new(lee, EmailAddress::new("lee@contoso.com").unwrap()),
        ],
    )
    .unwrap();
    set_policy_at(&db.open().await, corrected, at(minutes(21)))
        .await
        .unwrap();
    let engineers_only = AddressBook::new().with_engineer(alex(), alex_mail());
    let mut sender = Recorder::default();
    let report = store
        .deliver(&engineers_only, &mut sender, at(minutes(22)), LEASE)
        .await
        .unwrap();
    assert!(report.failed().is_empty(), "{report}");
    let decision = sender
        .sent
        .iter()
        .find(|delivery| delivery.request() == Some(id))
        .unwrap();
    assert_eq!(
        addresses(decision),
        ["megan@contoso.com", "lee@contoso.com"]
    );
}

pub async fn an_expired_request_drops_its_decision_message_and_tells_the_engineer<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    // Nobody delivered in 12 hours; the sweeper expires it and writes the engineer's message.
    let deadline = at(hours(12) + minutes(20));
    let swept = store.sweep(deadline).await.unwrap();
    assert_eq!(swept.expired, vec![id]);
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, deadline + minutes(1), LEASE)
        .await
        .unwrap();
    assert_eq!(report.dropped(), vec![message(id, 3)], "{report}");
    assert_eq!(report.sent(), vec![message(id, 4)]);
    assert_eq!(sender.sent.len(), 1);
    assert_eq!(
        sender.sent[0].notification().kind(),
        NotificationKind::NoAccess
    );
    assert!(sender.sent[0].notification().body().contains("expired"));
    let entries = store.outbox(id).await.unwrap();
    assert_eq!(entries[0].status, OutboxStatus::Dropped);
    assert_eq!(entries[1].status, OutboxStatus::Sent);
}

pub async fn delivery_moves_on_a_request_that_time_has_moved_on<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    // Past the deadline, no sweep ran: the delivery run expires the request first.
    let mut sender = Recorder::default();
    let late = at(hours(13));
    let report = store
        .deliver(&directory(), &mut sender, late, LEASE)
        .await
        .unwrap();
    assert_eq!(report.dropped(), vec![message(id, 3)], "{report}");
    assert_eq!(
        report.sent(),
        vec![message(id, 4)],
        "the expiry's message went out in the same run"
    );
    let AnyRequest::Closed(closed) = store.load(id).await.unwrap() else {
        panic!("closed")
    };
    assert_eq!(closed.reason(), ClosureReason::ExpiredUnanswered);
    assert_trail_well_formed(&closed);
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
}

pub async fn two_runs_never_hold_one_message_and_a_lapsed_lease_is_taken_over<D: Db>() {
    let db = D::create().await;
    let first = db.open().await;
    let id = pending_as(&first, 1).await;
    let now = at(minutes(21));
    let mut holder = Hangs {
        other: db.open().await,
        other_sender: Recorder::default(),
        now,
        while_held: Vec::new(),
        sent: 0,
    };
    let report = first
        .deliver(&directory(), &mut holder, now, LEASE)
        .await
        .unwrap();
    assert_eq!(holder.sent, 1);
    assert_eq!(
        holder.while_held,
        [0, 1],
        "not handed out while held; taken over after the lease"
    );
    assert_eq!(
        report.lost(),
        vec![message(id, 3)],
        "the late first attempt recorded nothing: {report}"
    );
    assert_eq!(holder.other_sender.sent[0].attempt(), 2);
    let kinds: Vec<_> = delivery_records(&first, id)
        .await
        .iter()
        .map(|r| r.event().kind())
        .collect();
    assert_eq!(kinds, [K::NotificationSent], "exactly one outcome recorded");
}

pub async fn two_processes_delivering_at_once_send_each_message_exactly_once<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(pending_as(&store, 500 + n).await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (store, barrier) = (db.open().await, barrier.clone());
        runs.push(tokio::spawn(async move {
            let mut sender = Recorder::default();
            barrier.wait().await;
            let report = store
                .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
                .await
                .unwrap();
            assert!(
                report.errors().is_empty() && report.lost().is_empty(),
                "{report}"
            );
            sender.sent.iter().map(Delivery::key).collect::<Vec<_>>()
        }));
    }
    let mut keys: Vec<String> = Vec::new();
    for run in runs {
        keys.extend(run.await.unwrap());
    }
    keys.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}.3")).collect();
    expected.sort();
    assert_eq!(
        keys, expected,
        "each message sent once, by one of the two runs"
    );
}

/// The child side of the crash test: claims the message, then dies inside the sender.
pub async fn crashing_delivery_child<D: Db>() {
    let Ok(place) = std::env::var("LOCKBOX_CRASH_STORE") else {
        return;
    };
    let store = D::open_at(&place).await.unwrap();
    let _ = store
        .deliver(&directory(), &mut Dies, at(minutes(21)), LEASE)
        .await;
    unreachable!("the sender aborts the process");
}

pub async fn a_crashed_attempt_is_retried_after_its_lease<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!("{}::outbox::crashing_delivery_child", D::NAME),
            "--ignored",
            "--test-threads=1",
        ])
        .env("LOCKBOX_CRASH_STORE", db.place())
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    // Only the sender's abort counts: a child that fails before it holds the message (a panic
    // exits with 101) tests nothing.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&child.status),
        Some(6),
        "the child must die of SIGABRT in its sender, not {}; its stderr:\n{}",
        child.status,
        String::from_utf8_lossy(&child.stderr)
    );
    let entry = &store.outbox(id).await.unwrap()[0];
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    assert_eq!(
        entry.next_attempt_at,
        at(minutes(21)) + LEASE,
        "held by the dead attempt"
    );

    let mut sender = Recorder::default();
    let held = store
        .deliver(&directory(), &mut sender, at(minutes(22)), LEASE)
        .await
        .unwrap();
    assert!(held.sent().is_empty(), "still held: {held}");
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)) + LEASE, LEASE)
        .await
        .unwrap();
    assert_eq!(report.sent(), vec![message(id, 3)], "{report}");
    assert_eq!(sender.sent[0].attempt(), 2, "the crashed attempt counts");
}

/// One delivery loop for requests' and policy changes' messages, one treatment of what it
/// cannot read: an insider who damages outbox rows (a request message's row naming no request,
/// a policy message's row naming no version) gets each reported by itself, and every other
/// message, of either kind, is still delivered in the same run; the damaged rows are reported
/// again by the next run, never dropped silently.
pub async fn damaged_outbox_rows_are_reported_and_the_rest_delivered<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let damaged = pending_as(&store, 1).await;
    let intact = pending_as(&store, 2).await;
    let two_person = policy().with_approvals_required(2).unwrap();
    set_policy_at(&store, two_person, at(minutes(20)))
        .await
        .unwrap();
    set_policy_at(&store, policy(), at(minutes(20) + TimeDelta::seconds(1)))
        .await
        .unwrap();
    db.sql(&format!(
        "UPDATE outbox SET request_id = 'no request' WHERE request_id = '{damaged}'; \
         UPDATE policy_outbox SET version = -3 WHERE version = 3"
    ))
    .await
    .unwrap();
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .await
        .unwrap();
    assert_eq!(
        report.sent(),
        vec![
            message(intact, 3),
            Topic::Policy {
                tenant: contoso(),
                version: 2
            }
        ],
        "{report}"
    );
    let errors = report.errors();
    assert_eq!(errors.len(), 2, "{report}");
    assert_eq!(
        errors[0].0, None,
        "a request row naming no request: {report}"
    );
    assert_eq!(
        errors[1].0, None,
        "a policy row naming no version: {report}"
    );
    assert!(report.has_trouble());
    // The report serializes, each message with its outcome.
    let json = serde_json::to_value(&report).unwrap();
    let messages = json["messages"].as_array().unwrap();
    let of = |key: &str, value: serde_json::Value| {
        messages
            .iter()
            .find(|message| message[key] == value)
            .unwrap_or_else(|| panic!("no message with {key} {value}: {json}"))
    };
    assert_eq!(of("request", intact.to_string().into())["outcome"], "sent");
    assert_eq!(of("version", 2.into())["outcome"], "sent");
    let errors: Vec<_> = messages
        .iter()
        .filter(|m| m["outcome"] == "error")
        .collect();
    assert_eq!(errors.len(), 2, "{json}");
    for error in errors {
        assert_eq!(error["error"]["class"], "corrupt", "{json}");
    }
    // Held for their lease, then reported again.
    let again = store
        .deliver(&directory(), &mut sender, at(minutes(21)) + LEASE, LEASE)
        .await
        .unwrap();
    assert_eq!(again.errors().len(), 2, "{again}");
    assert!(again.sent().is_empty(), "{again}");
}

/// A message the request's trail already records as sent, whose outbox row was left pending
/// (a row restored from an older copy): nothing is sent again, the row catches up, and the
/// report says so rather than counting it as sent.
pub async fn a_message_the_trail_records_is_not_sent_again<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let mut sender = Recorder::default();
    let first = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .await
        .unwrap();
    assert_eq!(first.sent().len(), 1, "{first}");
    db.sql(&format!(
        "UPDATE outbox SET status = 'pending', finished_at = NULL WHERE request_id = '{id}'"
    ))
    .await
    .unwrap();
    let again = store
        .deliver(&directory(), &mut sender, at(minutes(22)), LEASE)
        .await
        .unwrap();
    assert_eq!(sender.sent.len(), 1, "sent once only");
    assert!(again.sent().is_empty(), "{again}");
    assert!(
        matches!(
            again.messages.as_slice(),
            [MessageReport {
                topic: Some(Topic::Request { cause: 3, .. }),
                outcome: DeliveryOutcome::AlreadyDone,
                ..
            }]
        ),
        "{again:?}"
    );
    assert!(again.to_string().ends_with(", 1 already done"), "{again}");
    assert!(!again.has_trouble());
    assert_eq!(
        store.outbox(id).await.unwrap()[0].status,
        OutboxStatus::Sent
    );
}

pub async fn a_tampered_message_is_refused_unsent<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    db.sql(
        "UPDATE outbox SET message = replace(message, 'sign in to your admin center', 'open https://evil.example')",
    )
    .await
    .unwrap();
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .await
        .unwrap();
    assert!(sender.sent.is_empty());
    assert_eq!(report.errors().len(), 1, "{report}");
    assert_eq!(report.errors()[0].0, Some(message(id, 3)));
    assert_eq!(
        store.outbox(id).await.unwrap()[0].status,
        OutboxStatus::Pending
    );
    insta::assert_snapshot!("tampered_message", report.errors()[0].1.to_string());
}

pub async fn a_lease_must_be_longer_than_zero<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let err = store
        .deliver(
            &directory(),
            &mut Recorder::default(),
            t0(),
            TimeDelta::zero(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidLease { .. }), "{err}");
}

pub async fn every_step_that_notifies_writes_its_message_in_its_own_transaction<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    async fn kinds<B: Backend>(store: &Store<B>, id: RequestId) -> Vec<NotificationKind> {
        store
            .outbox(id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect()
    }
    // Denied.
    let id = pending_as(&store, 1).await;
    let _ = store.deny(id, &megan(), at(hours(1))).await.unwrap();
    assert_eq!(
        kinds(&store, id).await,
        [NotificationKind::DecisionNeeded, NotificationKind::NoAccess]
    );
    // Revoked, and elapsed through the sweeper, on two more requests.
    for (n, revoke) in [(2, true), (3, false)] {
        let id = granted_as(&store, n).await;
        if revoke {
            let _ = store.revoke(id, &megan(), at(hours(2))).await.unwrap();
        } else {
            assert_eq!(
                store.sweep(at(hours(5))).await.unwrap().access_ended,
                vec![id]
            );
        }
        assert_eq!(
            kinds(&store, id).await,
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
        .await
        .unwrap();
    assert!(
        report.errors().is_empty() && report.failed().is_empty(),
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
/// still verifies. 32 random cases (deterministic), each on a fresh database.
pub async fn random_runs_deliver_every_message_exactly_once<D: Db>() {
    let mut runner = TestRunner::deterministic();
    let cases = (
        prop_oneof![run_strategy(), granted_then_random()],
        prop::collection::vec(any::<bool>(), 0..6),
    );
    for case in 0..32 {
        let (run, failures) = cases.new_tree(&mut runner).unwrap().current();
        let db = D::create().await;
        let store = db.open().await;
        let request = play_in(&store, 1, &run).await;
        let id = request.id();
        let mut now = request.audit_trail().last().unwrap().at();
        let mut sender = Recorder::default();
        for fail in failures.iter().copied().chain([false]) {
            now += LEASE;
            sender.failing = fail.then(|| "relay down".to_owned());
            let report = store
                .deliver(&directory(), &mut sender, now, LEASE)
                .await
                .unwrap();
            assert!(
                report.errors().is_empty() && report.lost().is_empty(),
                "case {case}: {report}"
            );
        }
        let entries = store.outbox(id).await.unwrap();
        let loaded = store.load(id).await.unwrap();
        let trail = loaded.audit_trail();
        let causes: Vec<u64> = trail
            .iter()
            .filter(|r| r.event().notification().is_some())
            .map(AuditRecord::sequence)
            .collect();
        assert_eq!(
            entries
                .iter()
                .map(|e| e.cause().unwrap())
                .collect::<Vec<_>>(),
            causes,
            "case {case}"
        );
        for entry in &entries {
            assert_ne!(entry.status, OutboxStatus::Pending, "case {case}");
            let outcomes = |kind: K| {
                trail
                    .iter()
                    .filter(|r| {
                        r.event().kind() == kind
                            && match r.event() {
                                AuditEvent::NotificationSent { cause, .. }
                                | AuditEvent::DeliveryFailed { cause, .. }
                                | AuditEvent::NotificationDropped { cause, .. } => {
                                    Some(*cause) == entry.cause()
                                }
                                _ => false,
                            }
                    })
                    .count()
            };
            let done = outcomes(K::NotificationSent) + outcomes(K::NotificationDropped);
            assert_eq!(done, 1, "case {case}, cause {:?}", entry.cause());
            assert_eq!(
                outcomes(K::DeliveryFailed) as u32 + 1,
                entry.attempts,
                "case {case}"
            );
        }
        let sent_keys: std::collections::BTreeSet<String> =
            sender.sent.iter().map(Delivery::key).collect();
        assert_eq!(
            sent_keys.len(),
            sender.sent.len(),
            "nothing handed out twice"
        );
        assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
    }
}
