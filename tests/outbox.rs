//! What only the SQLite outbox has: a version-1 outbox migrated and delivered. And delivery
//! records forged in a stored trail, refused by their rule on load. Every outbox behaviour is in
//! the conformance suite (`tests/conformance/outbox.rs`), run against both stores.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use common::*;
use customer_lockbox::*;
use rusqlite::Connection;

const LEASE: TimeDelta = TimeDelta::minutes(5);

#[tokio::test]
async fn a_version_1_outbox_is_migrated_and_delivered() {
    // The audit table is the same in every version: copy a request saved by this build into a
    // database at schema version 1, its request row and its outbox row as version 1 wrote them
    // (addresses inside the message, no delivery columns, no listing columns).
    let (_dir, path) = store_file();
    let source = SqliteStore::open(&path).await.unwrap();
    source.migrate().await.unwrap();
    let id = pending_as(&source, 1).await;
    drop(source);
    let (_old_dir, old) = store_file();
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(include_str!(
            "../src/store/sqlite/migrations/0001_initial.sql"
        ))
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("ATTACH ?1 AS current", [path.to_str().unwrap()])
            .unwrap();
        conn.execute_batch(
            "INSERT INTO requests SELECT id, tenant, state, revision, due_at, record_version
                 FROM current.requests;
             INSERT INTO audit SELECT * FROM current.audit;
             INSERT INTO outbox (request_id, sequence, created_at, message)
                 SELECT request_id, sequence, created_at,
                        json_set(message, '$.recipients', json('[\"megan@contoso.com\"]'))
                 FROM current.outbox;
             DETACH current;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&old).await.unwrap();
    assert!(matches!(
        store.outbox(id).await.unwrap_err(),
        StoreError::SchemaBehind { found: 1, .. }
    ));
    store.migrate().await.unwrap();
    // The source store's chain starts with Contoso's policy change (position 1); once the
    // migration has made its table, the copy takes it too, so the chain is whole, and the
    // source's tree, which the migration built without that first entry.
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute("ATTACH ?1 AS current", [path.to_str().unwrap()])
            .unwrap();
        conn.execute_batch(
            "INSERT INTO policy_changes SELECT * FROM current.policy_changes;
             DELETE FROM log_nodes;
             INSERT INTO log_nodes SELECT * FROM current.log_nodes;
             DETACH current;",
        )
        .unwrap();
    }
    let entries = store.outbox(id).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].kind, entries[0].status, entries[0].attempts),
        (NotificationKind::DecisionNeeded, OutboxStatus::Pending, 0)
    );
    // The listing columns were filled in from the draft.
    let page = store
        .requests(&RequestQuery::tenant(contoso()))
        .await
        .unwrap();
    assert_eq!(page.requests[0].engineer, alex());
    let mut sender = Recorder::default();
    let report = store
        .deliver(&directory(), &mut sender, at(minutes(21)), LEASE)
        .await
        .unwrap();
    assert_eq!(report.sent(), vec![message(id, 3)], "{report}");
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
    let version: i64 = Connection::open(&old)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 7);
}

/// Loads `record` after `edit`ing its JSON form, and returns the rule it was refused for.
fn refused_after(
    record: &RequestRecord,
    edit: impl FnOnce(&mut Vec<serde_json::Value>),
) -> BrokenRule {
    let mut value = serde_json::to_value(record).unwrap();
    edit(value["trail"].as_array_mut().unwrap());
    match RequestRecord::from_json(&value.to_string()).and_then(|r| r.load()) {
        Ok(loaded) => panic!("loaded a forged {} request", loaded.state()),
        Err(err) => err.rule().clone(),
    }
}

fn renumbered(trail: &mut [serde_json::Value]) {
    for (i, record) in trail.iter_mut().enumerate() {
        record["sequence"] = serde_json::json!(i + 1);
    }
}

#[tokio::test]
async fn forged_delivery_records_are_refused_with_their_rule() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let id = pending_as(&store, 1).await;
    let mut failing = Recorder {
        failing: Some("relay down".into()),
        ..Recorder::default()
    };
    store
        .deliver(&directory(), &mut failing, at(minutes(21)), LEASE)
        .await
        .unwrap();
    store
        .deliver(
            &directory(),
            &mut Recorder::default(),
            at(minutes(30)),
            LEASE,
        )
        .await
        .unwrap();
    // Records: 1 drafted, 2 approved, 3 notified, 4 failed, 5 sent.
    let record = store.load(id).await.unwrap().to_record();
    assert!(record.load().is_ok());
    let event = |trail: &mut Vec<serde_json::Value>, i: usize| trail[i]["event"]["details"].clone();

    let rule = refused_after(&record, |t| t[4]["event"]["details"]["cause"] = 2.into());
    assert_eq!(rule, BrokenRule::DeliveryWithoutCause);
    let rule = refused_after(&record, |t| t[4]["event"]["details"]["cause"] = 9.into());
    assert_eq!(rule, BrokenRule::DeliveryWithoutCause);
    let rule = refused_after(&record, |t| {
        t.push(t[4].clone());
        renumbered(t);
    });
    assert_eq!(rule, BrokenRule::DeliveredTwice);
    let rule = refused_after(&record, |t| {
        t[4]["event"]["details"]["recipients"] = serde_json::json!([]);
    });
    assert_eq!(rule, BrokenRule::SentToNobody);
    let rule = refused_after(&record, |t| {
        let details = event(t, 3);
        t[3]["event"] = serde_json::json!({
            "kind": "notification_dropped",
            "details": {"notification": details["notification"], "cause": 3}
        });
    });
    assert_eq!(
        rule,
        BrokenRule::NeededMessageDropped,
        "still pending: needed"
    );
    let rule = refused_after(&record, |t| {
        t[4]["at"] = serde_json::json!("2026-11-24T20:20:00Z");
    });
    assert_eq!(
        rule,
        BrokenRule::DeliveryWhileDue,
        "at the deadline, unexpired"
    );
    let rule = refused_after(&record, |t| {
        t[4]["actor"] =
            serde_json::json!({"role": "engineer", "id": "alex@support.vendor.example"});
    });
    assert_eq!(rule, BrokenRule::RecordDiffers);
    let rule = refused_after(&record, |t| {
        t[4]["event"]["details"]["notification"] = "access_granted".into();
    });
    assert_eq!(rule, BrokenRule::RecordDiffers);
    let rule = refused_after(&record, |t| {
        t[3]["at"] = serde_json::json!("2026-11-24T08:19:00Z");
    });
    assert_eq!(rule, BrokenRule::TimeWentBackwards);
}
