//! The store's `tracing` spans: one per operation, carrying ids (tenant, request), the step,
//! the revision, the retries and the outcome, and never the free text of a request (its
//! justification, an action's operation or target), which may hold a customer's data.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use customer_lockbox::*;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt;

const SECRET_JUSTIFICATION: &str = "payroll of the CFO Jane Example leaked";
const SECRET_OPERATION: &str = "Search-Mailbox";
const SECRET_TARGET: &str = "jane.example salary folder";

/// Everything the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Runs `work` on a runtime of this thread with a subscriber that prints each span, with its
/// fields, when it closes; returns what was printed.
fn traced<F: Future<Output = ()>>(work: impl FnOnce() -> F) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .finish();
    let _guard = subscriber.set_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work());
    captured.text()
}

/// The closing lines of the spans named `name`.
fn spans<'a>(printed: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!("{name}{{");
    printed
        .lines()
        .filter(|line| line.contains(&needle) && line.contains("close"))
        .collect()
}

/// Every store operation of a whole run, with secrets in every free-text field.
async fn run<B: Backend>(store: &Store<B>) {
    let draft = Draft {
        id: request_id(1),
        justification: Justification::new(SECRET_JUSTIFICATION).unwrap(),
        ..draft()
    };
    contoso_policy_in(store).await;
    let id = store.draft(draft, t0()).await.unwrap().id();
    store.approve(id, &sam(), at(minutes(10))).await.unwrap();
    store.notify(id, at(minutes(20))).await.unwrap();
    // A refused grant, propagated: its span says so.
    let outsider = ApproverId::new("mallory@contoso.com").unwrap();
    let refused = store.grant(id, &outsider, at(minutes(30))).await;
    assert!(refused.unwrap_err().is_refused());
    let granted = store.grant(id, &megan(), at(hours(1))).await;
    assert!(matches!(granted, Ok(GrantOutcome::Granted(_))));
    let action = EngineerAction::new(
        Service::ExchangeOnline,
        Operation::new(SECRET_OPERATION).unwrap(),
        Target::new(SECRET_TARGET).unwrap(),
    );
    let report = store
        .record_actions(id, &alex(), [action], at(hours(2)))
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    let key = IdempotencyKey::new("close-1").unwrap();
    store
        .close(id, &alex(), at(hours(3)))
        .idempotency_key(key.clone())
        .await
        .unwrap();
    // Repeated with its key: answered as first taken, and said so.
    store
        .close(id, &alex(), at(hours(3)))
        .idempotency_key(key)
        .await
        .unwrap();
    // Without it: the request is closed, and said so.
    assert!(
        store
            .close(id, &alex(), at(hours(3)))
            .await
            .unwrap_err()
            .is_wrong_state()
    );
    store.summary(id).await.unwrap();
    store.sweep(at(hours(4))).await.unwrap();
    let mut sender = Recorder::default();
    store
        .deliver(&directory(), &mut sender, at(hours(4)), minutes(5))
        .await
        .unwrap();
    store.load(id).await.unwrap();
    store
        .requests(&RequestQuery::tenant(contoso()))
        .await
        .unwrap();
    store.outbox(id).await.unwrap();
    store
        .outbox_view(&OutboxQuery::new(OutboxView::Pending))
        .await
        .unwrap();
    store.search(&AuditQuery::new()).await.unwrap();
    store
        .export_jsonl(&AuditQuery::new(), std::io::sink())
        .await
        .unwrap();
    store.chain_head(contoso()).await.unwrap();
    store.verify_chain(contoso()).await.unwrap();
    store.tenants().await.unwrap();
}

fn check(printed: &str, id: RequestId) {
    for name in [
        "lockbox.open",
        "lockbox.migrate",
        "lockbox.step",
        "lockbox.sweep",
        "lockbox.deliver",
        "lockbox.load",
        "lockbox.summary",
        "lockbox.requests",
        "lockbox.outbox",
        "lockbox.outbox_view",
        "lockbox.search",
        "lockbox.export",
        "lockbox.chain_head",
        "lockbox.verify",
        "lockbox.tenants",
    ] {
        assert!(
            !spans(printed, name).is_empty(),
            "no {name} span in\n{printed}"
        );
    }
    let steps = spans(printed, "lockbox.step");
    let grants: Vec<&&str> = steps
        .iter()
        .filter(|line| line.contains("step=\"grant\""))
        .collect();
    assert_eq!(grants.len(), 2, "{steps:#?}");
    // The refused grant is recorded as the 4th record; the second grant finds 4.
    for (grant, revision) in grants.iter().zip([3, 4]) {
        assert!(grant.contains(&format!("request={id}")), "{grant}");
        assert!(grant.contains(&format!("tenant={}", contoso())), "{grant}");
        assert!(grant.contains(&format!("revision={revision}")), "{grant}");
        assert!(grant.contains("retries=0"), "{grant}");
    }
    assert!(grants[0].contains("outcome=\"refused\""), "{}", grants[0]);
    assert!(grants[1].contains("outcome=\"granted\""), "{}", grants[1]);
    let close = steps
        .iter()
        .find(|line| line.contains("step=\"close\""))
        .unwrap();
    assert!(close.contains("outcome=\"closed\""), "{close}");
    // Events, not only spans: a refusal, a wrong state and a repeated key each say so, with
    // the request and the step.
    for (message, what) in [
        ("step refused", "step=\"grant\""),
        (
            "step does not apply to the stored request",
            "step=\"close\"",
        ),
        ("step repeated with its idempotency key", "step=\"close\""),
    ] {
        let events: Vec<&str> = printed
            .lines()
            .filter(|line| line.contains(message) && !line.contains("close time"))
            .collect();
        assert_eq!(events.len(), 1, "one {message:?} event in\n{printed}");
        assert!(
            events[0].contains(&format!("request={id}")),
            "{}",
            events[0]
        );
        assert!(events[0].contains(what), "{}", events[0]);
    }
    for secret in [SECRET_JUSTIFICATION, SECRET_OPERATION, SECRET_TARGET] {
        assert!(
            !printed.contains(secret),
            "{secret:?} in the trace:\n{printed}"
        );
    }
}

#[test]
fn every_sqlite_operation_has_a_span_with_ids_and_no_free_text() {
    let printed = traced(|| async {
        let store = SqliteStore::open_in_memory().await.unwrap();
        store.migrate().await.unwrap();
        run(&store).await;
    });
    check(&printed, request_id(1));
}

#[cfg(feature = "postgres")]
#[test]
fn every_postgres_operation_has_a_span_with_ids_and_no_free_text() {
    let printed = traced(|| async {
        let url = pg::Database::fresh().await;
        let store = PostgresStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        run(&store).await;
    });
    check(&printed, request_id(1));
}
