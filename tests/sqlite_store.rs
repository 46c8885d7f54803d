//! What only the SQLite store has: a file left untouched when its schema is newer, its pragmas,
//! and its query plans (snapshotted: a changed plan is reviewed). Every store behaviour is in
//! the conformance suite (`tests/conformance/`), run against SQLite and PostgreSQL alike.
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

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let (_dir, path) = store_file();
    {
        let conn = raw(&path);
        conn.execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                supported: 2
            }
        ),
        "{err}"
    );
    insta::assert_snapshot!("newer_schema", err.to_string());
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    let siblings: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        siblings.len(),
        1,
        "no WAL or journal was created: {siblings:?}"
    );
}

#[test]
fn the_schema_is_migrated_once_and_pragmas_are_set() {
    let (_dir, path) = store_file();
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let conn = raw(&path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version() as i64);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn every_search_shape_uses_an_index() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let cursor = {
        let mut log = AuditLog::new();
        log.capture(&drafted());
        log.search(&AuditQuery::new()).records[0].cursor()
    };
    let shapes = search_shapes(cursor);
    let mut plans = String::new();
    for (name, query) in shapes {
        let plan = store.search_plan(&query).unwrap();
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
