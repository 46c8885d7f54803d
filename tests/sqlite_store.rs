//! What only the SQLite store has: a file left untouched when its schema is newer or when it is
//! only opened, its pragmas, its query plans (snapshotted: a changed plan is reviewed), and its
//! connections living on threads of their own, so a store is dropped anywhere without a panic.
//! Every store behaviour is in the conformance suite (`tests/conformance/`), run against
//! SQLite and PostgreSQL alike.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use customer_lockbox::*;
use rusqlite::Connection;

fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

/// The files in the store file's directory.
fn files_beside(path: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

#[tokio::test]
async fn a_newer_database_is_refused_and_left_untouched() {
    let (_dir, path) = store_file();
    {
        let conn = raw(&path);
        conn.execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                supported: 7
            }
        ),
        "{err}"
    );
    insta::assert_snapshot!("newer_schema", err.to_string());
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    assert_eq!(
        files_beside(&path).len(),
        1,
        "no WAL or journal was created: {:?}",
        files_beside(&path)
    );
}

#[tokio::test]
async fn opening_writes_nothing_and_migrating_sets_the_schema_and_pragmas() {
    let (_dir, path) = store_file();
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "an empty file");
    assert_eq!(store.schema_version().await.unwrap(), (0, 7));
    let err = store.load(request_id(1)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaBehind { found: 0, .. }),
        "{err}"
    );
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let conn = raw(&path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 7);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(store.load(request_id(1)).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn every_search_shape_uses_an_index() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let cursor = {
        let mut log = AuditLog::new();
        log.capture(drafted().audit_trail());
        log.search(&AuditQuery::new()).records[0].cursor()
    };
    let mut plans = String::new();
    for (name, query) in search_shapes(cursor) {
        let plan = store.explain(Explain::Search(&query)).await.unwrap();
        for line in &plan {
            if line.contains("audit") && line.starts_with("SCAN") || line.starts_with("SEARCH") {
                assert!(
                    line.contains("USING INDEX") || line.contains("USING COVERING INDEX"),
                    "{name}: {plan:?}"
                );
            }
        }
        assert!(
            plan.iter().any(|l| l.contains("USING INDEX")),
            "{name}: {plan:?}"
        );
        plans.push_str(&format!("{name}: {}\n", plan.join(" | ")));
    }
    insta::assert_snapshot!("search_plans", plans);
}

/// A store made in one runtime, used from another, and dropped where no runtime runs.
#[test]
fn a_store_outlives_its_runtime_and_drops_anywhere() {
    common::a_store_outlives_its_runtime_and_drops_anywhere(|| async {
        let (dir, path) = store_file();
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    });
}

/// What a service returns, as JSON: a request's view (and the grant's outcome around it), a
/// listing's summary and page with its cursor, a batch's report, a sweep's report, an error.
#[tokio::test]
async fn read_models_reports_and_errors_serialize_for_a_service() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    contoso_policy_in(&store).await;
    let id = pending_as(&store, 1).await;
    let outcome = store.grant(id, &megan(), at(hours(1))).await.unwrap();
    let report = store
        .record_actions(id, &alex(), [mailbox_read()], at(hours(2)))
        .await
        .unwrap();
    let summary = store.summary(id).await.unwrap();
    let loaded = store.load(id).await.unwrap();
    let page = store
        .requests(&RequestQuery::tenant(contoso()).page_size(PageSize::new(1).unwrap()))
        .await
        .unwrap();
    let sweep = store.sweep(at(hours(6))).await.unwrap();
    let missing = store.load(request_id(99)).await.unwrap_err();
    let json = |value: serde_json::Value| serde_json::to_string_pretty(&value).unwrap();
    insta::assert_snapshot!(
        "service_json",
        [
            json(serde_json::json!({ "grant": outcome })),
            json(serde_json::json!({ "actions": report })),
            json(serde_json::json!({ "summary": summary })),
            json(serde_json::json!({ "page": page })),
            json(serde_json::json!({ "sweep": sweep })),
            json(serde_json::json!({ "error": missing })),
        ]
        .join("\n")
    );
    // The summary is the row's, without a replay: it agrees with the loaded request.
    assert_eq!(summary.revision, loaded.audit_trail().len() as u64);
    assert_eq!(summary.state, loaded.state());
    assert!(
        store
            .summary(request_id(99))
            .await
            .unwrap_err()
            .is_not_found()
    );
}
