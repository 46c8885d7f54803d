//! Rows edited behind the store's back: refused on load, naming the rule or the column, and
//! caught by chain verification, naming the position and the kind of tampering.

use customer_lockbox::*;

use crate::common::*;
use crate::harness::Db;

pub async fn a_tampered_row_is_refused_on_load<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let id = pending_as(&store, 1).await;
    let (manager, engineer) = (sam(), alex());
    let (manager, engineer) = (manager.as_str(), engineer.as_str());
    // The approval rewritten as the engineer's own, JSON and columns alike.
    let forge = format!(
        "UPDATE audit SET record = replace(record, '\"{manager}\"', '\"{engineer}\"'), \
         actor_id = '{engineer}' WHERE sequence = 2"
    );
    let undo = format!(
        "UPDATE audit SET record = replace(record, '\"{engineer}\"', '\"{manager}\"') \
         WHERE sequence = 2"
    );
    db.sql(&forge).await.unwrap();
    let err = store.load(id).await.unwrap_err();
    let StoreError::InvalidRecord(refusal) = &err else {
        panic!("refused, got {err}")
    };
    assert_eq!(
        refusal.rule(),
        &BrokenRule::StepRefused(Refusal::ManagerIsEngineer)
    );
    assert_eq!(refusal.sequence(), Some(2));
    // The chain sees the edit too.
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).await.unwrap() else {
        panic!("broken")
    };
    assert_eq!(
        (found.position, found.record, found.tampering),
        (3, Some((id, 2)), Tampering::Edited)
    );
    // Only a column changed: the row disagrees with its record.
    db.sql(&undo).await.unwrap();
    let err = store.load(id).await.unwrap_err();
    assert!(err.to_string().contains("`actor_id` disagrees"), "{err}");
    // The chain covers the columns, so it sees a column-only edit as well.
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).await.unwrap() else {
        panic!("broken")
    };
    assert_eq!((found.position, found.tampering), (3, Tampering::Edited));
}

pub async fn garbage_in_any_column_is_refused_not_a_panic<D: Db>() {
    let edits = [
        "UPDATE requests SET tenant = 'not-a-guid'",
        "UPDATE requests SET state = 'granted'",
        "UPDATE requests SET revision = 7",
        "UPDATE requests SET due_at = '2026-11-24T09:00:00.000000000Z'",
        "UPDATE requests SET record_version = 4",
        "UPDATE requests SET record_version = 0",
        "UPDATE audit SET sequence = 99 WHERE sequence = 3",
        "UPDATE audit SET record = 'garbage' WHERE sequence = 1",
        "UPDATE audit SET record = '{}' WHERE sequence = 1",
        "UPDATE audit SET tenant = 'x' WHERE sequence = 1",
        "UPDATE audit SET at = '2026' WHERE sequence = 1",
        "UPDATE audit SET kind = 'granted' WHERE sequence = 3",
        "DELETE FROM audit WHERE sequence = 2",
    ];
    for edit in edits {
        let db = D::create().await;
        let store = db.open().await;
        let id = pending_as(&store, 1).await;
        db.sql(edit).await.unwrap();
        let err = store.load(id).await.unwrap_err();
        assert!(err.is_invalid_record(), "{edit}: {err}");
    }
}

/// A store holding one granted request with five actions: nine records in Contoso's chain.
async fn chained<D: Db>() -> (D, Store<D::Backend>) {
    let db = D::create().await;
    let store = db.open().await;
    let id = granted_as(&store, 1).await;
    let actions = (1..=5).map(|_| {
        EngineerAction::new(
            Service::ExchangeOnline,
            Operation::new("read").unwrap(),
            Target::new("item 1").unwrap(),
        )
    });
    let report = store
        .record_actions(id, &alex(), actions, at(hours(2)))
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    (db, store)
}

pub async fn chain_verification_names_each_kind_of_tampering<D: Db>() {
    let (_db, store) = chained::<D>().await;
    let head = store.chain_head(contoso()).await.unwrap().unwrap();
    // Contoso's policy at position 1, then the request's nine records.
    assert_eq!(head.position, 10);
    assert_eq!(
        store.verify_chain(contoso()).await.unwrap(),
        ChainVerdict::Intact { head: Some(head) }
    );
    let id = request_id(1);
    type Case<'a> = (&'a str, u64, Option<(RequestId, u64)>, Tampering);
    let cases: [Case; 5] = [
        (
            "UPDATE audit SET record = replace(record, 'item 1', 'item 2') WHERE sequence = 6",
            7,
            Some((id, 6)),
            Tampering::Edited,
        ),
        (
            "DELETE FROM audit WHERE sequence = 5",
            6,
            Some((id, 6)),
            Tampering::Removed,
        ),
        (
            "UPDATE audit SET chain_position = chain_position + 1000 WHERE sequence IN (5, 6); \
             UPDATE audit SET chain_position = 7 WHERE chain_position = 1006; \
             UPDATE audit SET chain_position = 6 WHERE chain_position = 1007",
            6,
            Some((id, 6)),
            Tampering::Reordered,
        ),
        (
            "UPDATE audit SET chain_position = chain_position + 100 WHERE chain_position >= 8; \
             UPDATE audit SET chain_position = chain_position - 99 WHERE chain_position >= 108; \
             INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, kind, \
             record, previous_hash, hash) SELECT tenant, 8, request_id, 100, at, actor_role, actor_id, kind, \
             record, substr(hash, 1, 1), hash FROM audit WHERE sequence = 6;",
            8,
            Some((id, 100)),
            Tampering::Inserted,
        ),
        (
            "DELETE FROM audit WHERE sequence = 9",
            10,
            Some((id, 9)),
            Tampering::Removed,
        ),
    ];
    for (edit, position, record, tampering) in cases {
        let (db, store) = chained::<D>().await;
        db.sql(edit).await.unwrap();
        let ChainVerdict::Broken(found) = store.verify_chain(contoso()).await.unwrap() else {
            panic!("{edit}: intact")
        };
        assert_eq!(
            (found.position, found.record, found.tampering),
            (position, record, tampering),
            "{edit}"
        );
    }
    let (db, store) = chained::<D>().await;
    db.sql("DELETE FROM audit WHERE sequence = 5")
        .await
        .unwrap();
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).await.unwrap() else {
        panic!("broken")
    };
    insta::assert_snapshot!("chain_break", found.to_string());
}

/// What a gauntlet edit is expected to meet.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Refused on load or caught by chain verification, naming the record.
    Caught,
    /// Refused at delivery: the message is never sent.
    RefusedAtDelivery,
    /// Legal, for the reason given: the edit changes no evidence.
    Legal(&'static str),
}

/// A realistic run: request 1 granted, acted on, closed and its messages delivered; request 2
/// pending with its decision message undelivered; request 3 denied. Returns the ids.
async fn realistic<D: Db>() -> (D, Store<D::Backend>, [RequestId; 3]) {
    let db = D::create().await;
    let store = db.open().await;
    let first = granted_as(&store, 1).await;
    let report = store
        .record_actions(
            first,
            &alex(),
            [mailbox_read(), mailbox_read()],
            at(hours(2)),
        )
        .await
        .unwrap();
    assert!(report.is_all_recorded(), "{report:?}");
    let _ = store.close(first, &alex(), at(hours(3))).await.unwrap();
    let report = store
        .deliver(
            &directory(),
            &mut Recorder::default(),
            at(hours(3)),
            chrono::TimeDelta::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(
        (report.sent().len(), report.dropped().len()),
        (2, 1),
        "{report}"
    );
    let second = pending_as(&store, 2).await;
    let third = pending_as(&store, 3).await;
    let DenyOutcome::Denied(_) = store.deny(third, &megan(), at(hours(1))).await.unwrap() else {
        panic!("in time")
    };
    (db, store, [first, second, third])
}

/// Every column of every table, deletions, reorderings, inserted rows, a swapped tenant and a
/// shifted timestamp, each made with SQL on a fresh copy of a realistic run. Each edit is
/// refused on load or caught by chain verification, naming the record, or refused at
/// delivery, unless it is listed as legal, with the reason.
pub async fn every_edit_of_a_realistic_store_is_caught_or_legal<D: Db>() {
    let (_, _, [r1, r2, _r3]) = realistic::<D>().await;
    let other_tenant = fabrikam();
    // Request 1's records: 1 drafted, 2 approved, 3 notified, 4 granted, 5 and 6 acted,
    // 7 completed, 8 its decision message dropped, 9 and 10 its other messages sent.
    let a1 = format!("request_id = '{r1}'");
    let edits: Vec<(String, String, Expect)> = vec![
        // requests: every column.
        (
            "requests.id".into(),
            format!("UPDATE requests SET id = '{r2}x' WHERE id = '{r1}'"),
            Expect::Caught,
        ),
        (
            "requests.tenant".into(),
            format!("UPDATE requests SET tenant = '{other_tenant}' WHERE id = '{r1}'"),
            Expect::Caught,
        ),
        (
            "requests.state".into(),
            format!("UPDATE requests SET state = 'granted' WHERE id = '{r1}'"),
            Expect::Caught,
        ),
        (
            "requests.revision".into(),
            format!("UPDATE requests SET revision = revision - 1 WHERE id = '{r1}'"),
            Expect::Caught,
        ),
        (
            "requests.due_at".into(),
            format!(
                "UPDATE requests SET due_at = '2026-11-25T08:00:00.000000000Z' WHERE id = '{r2}'"
            ),
            Expect::Caught,
        ),
        (
            "requests.record_version".into(),
            format!("UPDATE requests SET record_version = 9 WHERE id = '{r1}'"),
            Expect::Caught,
        ),
        (
            "requests.service_request".into(),
            format!("UPDATE requests SET service_request = '1' WHERE id = '{r1}'"),
            Expect::Caught,
        ),
        (
            "requests.services".into(),
            format!(
                "UPDATE requests SET services = 'exchange_online,share_point_online' WHERE id = '{r1}'"
            ),
            Expect::Caught,
        ),
        (
            "requests.engineer".into(),
            format!(
                "UPDATE requests SET engineer = 'jordan@support.vendor.example' WHERE id = '{r1}'"
            ),
            Expect::Caught,
        ),
        (
            "requests.drafted_at".into(),
            format!(
                "UPDATE requests SET drafted_at = '2026-11-24T07:00:00.000000000Z' WHERE id = '{r1}'"
            ),
            Expect::Caught,
        ),
        // audit: every column.
        (
            "audit.tenant".into(),
            format!("UPDATE audit SET tenant = '{other_tenant}' WHERE {a1} AND sequence = 5"),
            Expect::Caught,
        ),
        (
            "audit.chain_position".into(),
            format!(
                "UPDATE audit SET chain_position = chain_position + 1000 WHERE {a1} AND sequence = 5"
            ),
            Expect::Caught,
        ),
        (
            "audit.request_id".into(),
            format!("UPDATE audit SET request_id = '{r2}' WHERE {a1} AND sequence = 7"),
            Expect::Caught,
        ),
        (
            "audit.sequence".into(),
            format!("UPDATE audit SET sequence = 99 WHERE {a1} AND sequence = 5"),
            Expect::Caught,
        ),
        (
            "audit.at".into(),
            format!(
                "UPDATE audit SET at = replace(at, 'T10:', 'T09:') WHERE {a1} AND sequence = 5"
            ),
            Expect::Caught,
        ),
        (
            "audit.actor_role".into(),
            format!("UPDATE audit SET actor_role = 'system' WHERE {a1} AND sequence = 5"),
            Expect::Caught,
        ),
        (
            "audit.actor_id".into(),
            format!(
                "UPDATE audit SET actor_id = 'mallory@support.vendor.example' WHERE {a1} AND sequence = 5"
            ),
            Expect::Caught,
        ),
        (
            "audit.kind".into(),
            format!("UPDATE audit SET kind = 'action_refused' WHERE {a1} AND sequence = 5"),
            Expect::Caught,
        ),
        (
            "audit.record".into(),
            format!(
                "UPDATE audit SET record = replace(record, 'cfo@contoso.com', 'ceo@contoso.com') WHERE {a1} AND sequence = 5"
            ),
            Expect::Caught,
        ),
        (
            "audit.previous_hash".into(),
            format!("UPDATE audit SET previous_hash = hash WHERE {a1} AND sequence = 5"),
            Expect::Caught,
        ),
        (
            "audit.hash".into(),
            format!("UPDATE audit SET hash = previous_hash WHERE {a1} AND sequence = 5"),
            Expect::Caught,
        ),
        // audit: a whole record forged consistently (JSON and columns), rehashing impossible.
        (
            "audit: actor forged in record and columns".into(),
            format!(
                "UPDATE audit SET record = replace(record, 'alex@support.vendor.example', 'mallory@support.vendor.example'), actor_id = 'mallory@support.vendor.example' WHERE {a1} AND sequence = 5"
            ),
            Expect::Caught,
        ),
        // Deletions.
        (
            "delete: an action record".into(),
            format!("DELETE FROM audit WHERE {a1} AND sequence = 5"),
            Expect::Caught,
        ),
        (
            "delete: the last record of the chain".into(),
            "DELETE FROM audit WHERE chain_position = (SELECT max(chain_position) FROM audit)"
                .into(),
            Expect::Caught,
        ),
        (
            "delete: a request's last record and its revision".into(),
            format!(
                "DELETE FROM audit WHERE {a1} AND sequence = (SELECT max(sequence) FROM audit WHERE {a1}); UPDATE requests SET revision = revision - 1 WHERE id = '{r1}'"
            ),
            Expect::Caught,
        ),
        (
            "delete: a request row".into(),
            format!("DELETE FROM requests WHERE id = '{r1}'"),
            Expect::Caught,
        ),
        (
            "delete: a whole request, rows and records".into(),
            format!(
                "DELETE FROM outbox WHERE {a1}; DELETE FROM audit WHERE {a1}; DELETE FROM requests WHERE id = '{r1}'"
            ),
            Expect::Caught,
        ),
        // Reorderings.
        (
            "reorder: two chain positions swapped".into(),
            format!(
                "UPDATE audit SET chain_position = chain_position + 1000 WHERE {a1} AND sequence IN (5, 6); UPDATE audit SET chain_position = chain_position - 999 WHERE {a1} AND sequence = 5; UPDATE audit SET chain_position = chain_position - 1001 WHERE {a1} AND sequence = 6"
            ),
            Expect::Caught,
        ),
        (
            "reorder: two sequences swapped".into(),
            format!(
                "UPDATE audit SET sequence = 100 WHERE {a1} AND sequence = 5; UPDATE audit SET sequence = 5 WHERE {a1} AND sequence = 6; UPDATE audit SET sequence = 6 WHERE {a1} AND sequence = 100"
            ),
            Expect::Caught,
        ),
        // Inserted rows.
        (
            "insert: a copy of an action at the chain's end".into(),
            format!(
                "INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, kind, record, previous_hash, hash) SELECT tenant, 1000, request_id, 1000, at, actor_role, actor_id, kind, record, previous_hash, hash FROM audit WHERE {a1} AND sequence = 5"
            ),
            Expect::Caught,
        ),
        (
            "insert: a request row with no records".into(),
            format!(
                "INSERT INTO requests (id, tenant, state, revision, due_at, record_version, service_request, services, engineer, drafted_at) SELECT '{r2}y', tenant, 'granted', 1, NULL, 1, service_request, services, engineer, drafted_at FROM requests WHERE id = '{r1}'"
            ),
            Expect::Caught,
        ),
        // A swapped tenant: the request and its records moved to another tenant, consistently.
        (
            "swap: request 1 moved to another tenant".into(),
            format!(
                "UPDATE requests SET tenant = '{other_tenant}' WHERE id = '{r1}'; UPDATE audit SET tenant = '{other_tenant}' WHERE {a1}"
            ),
            Expect::Caught,
        ),
        // A shifted timestamp, in the record and its column alike.
        (
            "shift: an action an hour earlier".into(),
            format!(
                "UPDATE audit SET record = replace(record, 'T10:00', 'T09:00'), at = replace(at, 'T10:00', 'T09:00') WHERE {a1} AND sequence = 5"
            ),
            Expect::Caught,
        ),
        // outbox: the message and what ties it to its cause are checked at delivery.
        (
            "outbox.message".into(),
            format!(
                "UPDATE outbox SET message = replace(message, 'sign in to your admin center', 'open https://evil.example') WHERE request_id = '{r2}'"
            ),
            Expect::RefusedAtDelivery,
        ),
        (
            "outbox.kind".into(),
            format!("UPDATE outbox SET kind = 'access_granted' WHERE request_id = '{r2}'"),
            Expect::RefusedAtDelivery,
        ),
        (
            "outbox.sequence".into(),
            format!("UPDATE outbox SET sequence = 1 WHERE request_id = '{r2}'"),
            Expect::RefusedAtDelivery,
        ),
        (
            "outbox.request_id".into(),
            format!(
                "UPDATE outbox SET request_id = '{r1}', sequence = 6 WHERE request_id = '{r2}'"
            ),
            Expect::RefusedAtDelivery,
        ),
        // outbox: delivery bookkeeping.
        (
            "outbox.status".into(),
            format!("UPDATE outbox SET status = 'sent' WHERE request_id = '{r2}'"),
            Expect::Legal(
                "bookkeeping, not evidence: a message marked sent is not sent, and the trail then has no notification_sent record for its cause, which any audit search shows",
            ),
        ),
        (
            "outbox.attempts".into(),
            "UPDATE outbox SET attempts = 7".into(),
            Expect::Legal(
                "a counter of tries; every try that ended is a record in the chained trail",
            ),
        ),
        (
            "outbox.claim".into(),
            "UPDATE outbox SET claim = 'someone'".into(),
            Expect::Legal(
                "the holder of a lease; a wrong one only makes the holder's outcome count as lost, and the message is tried again",
            ),
        ),
        (
            "outbox.lease_until".into(),
            "UPDATE outbox SET lease_until = '2030-01-01T00:00:00.000000000Z'".into(),
            Expect::Legal("when the next try may start; it only delays or hastens a delivery"),
        ),
        (
            "outbox.last_error".into(),
            "UPDATE outbox SET last_error = 'forged'".into(),
            Expect::Legal(
                "a convenience copy; each failure's text is in its chained delivery_failed record",
            ),
        ),
        (
            "outbox.finished_at".into(),
            "UPDATE outbox SET finished_at = NULL".into(),
            Expect::Legal("a convenience copy; the finishing record has the instant"),
        ),
        (
            "outbox.created_at".into(),
            "UPDATE outbox SET created_at = '2030-01-01T00:00:00.000000000Z'".into(),
            Expect::Legal("a copy of the cause's instant, which is in the chained record"),
        ),
        (
            "delete: an outbox row".into(),
            format!("DELETE FROM outbox WHERE request_id = '{r2}'"),
            Expect::Legal(
                "the message is not sent; its cause stays in the chained trail without a notification_sent record, which any audit search shows",
            ),
        ),
    ];
    let (mut caught, mut at_delivery, mut legal) = (0, 0, 0);
    for (name, sql, expect) in &edits {
        let (db, store, ids) = realistic::<D>().await;
        if let Err(refused) = db.sql(sql).await {
            // The database's own types and constraints refused the edit: nothing changed.
            panic!("{name}: the database refused the edit ({refused}); make it one it takes");
        }
        match expect {
            Expect::Caught => {
                let named = caught_and_named(&store, &ids).await;
                assert!(
                    named.is_some(),
                    "{name}: loaded and verified as if untouched"
                );
                caught += 1;
            }
            Expect::RefusedAtDelivery => {
                assert!(
                    caught_and_named(&store, &ids).await.is_none(),
                    "{name}: evidence changed"
                );
                let mut sender = Recorder::default();
                let report = store
                    .deliver(
                        &directory(),
                        &mut sender,
                        at(hours(4)),
                        chrono::TimeDelta::minutes(5),
                    )
                    .await
                    .unwrap();
                // Request 3's messages go out; the tampered entry (request 2's decision
                // message, wherever the edit moved it) does not, and is reported.
                let r3 = ids[2].to_string();
                let keys: Vec<String> = sender.sent.iter().map(Delivery::key).collect();
                assert!(
                    keys.iter().all(|key| key.starts_with(&r3)),
                    "{name}: sent {keys:?}; {report}"
                );
                assert_eq!(report.errors().len(), 1, "{name}: {report}");
                at_delivery += 1;
            }
            Expect::Legal(_) => {
                assert!(
                    caught_and_named(&store, &ids).await.is_none(),
                    "{name}: listed as legal but refused"
                );
                legal += 1;
            }
        }
    }
    eprintln!(
        "tamper gauntlet ({}): {} edits: {caught} caught on load or by the chain, \
         {at_delivery} refused at delivery, {legal} legal",
        D::NAME,
        edits.len()
    );
}

/// How the store noticed tampering, naming the record: the first request that is refused on
/// load (with the error, which names the request, and the record where it can), or the first
/// tenant whose chain is broken (with the position and the record there). `None` when every
/// request loads and every chain verifies.
async fn caught_and_named<B: Backend>(store: &Store<B>, ids: &[RequestId]) -> Option<String> {
    for id in ids {
        match store.load(*id).await {
            Ok(_) => {}
            Err(err) => {
                let text = err.to_string();
                assert!(
                    text.contains(&id.to_string()),
                    "a refusal that does not name its request: {text}"
                );
                return Some(text);
            }
        }
    }
    for tenant in [contoso(), fabrikam()] {
        if let ChainVerdict::Broken(found) = store.verify_chain(tenant).await.unwrap() {
            assert!(found.position > 0);
            return Some(found.to_string());
        }
    }
    None
}

/// `verify_requests` loads every request of a tenant as a load does, and names each one
/// refused: a grant an insider made mallory's, and a request whose row was deleted (to hide it
/// from listings) but whose records are still in the log. Other tenants are not its business.
pub async fn verify_requests_names_each_request_that_does_not_load<D: Db>() {
    let db = D::create().await;
    let store = db.open().await;
    let granted = granted_as(&store, 1).await;
    let pending = pending_as(&store, 2).await;
    pending_as(&store, 3).await;
    fabrikam_policy_in(&store).await;
    let verdict = store.verify_requests(contoso()).await.unwrap();
    assert!(verdict.all_load(), "{verdict}");
    assert_eq!(verdict.loaded, 3);
    assert_eq!(store.verify_requests(fabrikam()).await.unwrap().loaded, 0);

    db.sql(&format!(
        "UPDATE audit SET actor_id = 'mallory@contoso.com', \
         record = replace(record, 'megan@contoso.com', 'mallory@contoso.com') \
         WHERE kind = 'granted' AND request_id = '{granted}'; \
         DELETE FROM outbox WHERE request_id = '{pending}'; \
         DELETE FROM requests WHERE id = '{pending}';"
    ))
    .await
    .unwrap();
    let verdict = db.open().await.verify_requests(contoso()).await.unwrap();
    assert_eq!(verdict.loaded, 1, "{verdict}");
    let rules: Vec<(RequestId, BrokenRule)> = verdict
        .refused
        .iter()
        .map(|(id, err)| match err {
            StoreError::InvalidRecord(err) => (*id, err.rule().clone()),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(
        rules,
        [
            (granted, BrokenRule::NotDesignatedAtDecision),
            (pending, BrokenRule::RequestRowMissing),
        ]
    );
    // Serialized for a service or a script: by request, with the error's class and message.
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["refused"][1]["request"], pending.to_string());
    assert_eq!(json["refused"][1]["error"]["class"], "corrupt");
}
