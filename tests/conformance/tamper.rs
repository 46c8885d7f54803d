//! Rows edited behind the store's back: refused on load, naming the rule or the column, and
//! caught by chain verification, naming the position and the kind of tampering.

use customer_lockbox::*;

use crate::common::runs::play_as;
use crate::common::*;
use crate::harness::Db;
use crate::search::contoso_steps;

pub fn a_tampered_row_is_refused_on_load<D: Db>() {
    let db = D::create();
    let mut store = db.open();
    let id = pending_as(&mut store, 1);
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
    db.sql(&forge).unwrap();
    let err = store.load(id).unwrap_err();
    let StoreError::Refused(refusal) = &err else {
        panic!("refused, got {err}")
    };
    assert_eq!(
        refusal.rule(),
        &BrokenRule::StepRefused(Refusal::ManagerIsEngineer)
    );
    assert_eq!(refusal.sequence(), Some(2));
    // The chain sees the edit too.
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
        panic!("broken")
    };
    assert_eq!(
        (found.position, found.record, found.tampering),
        (2, Some((id, 2)), Tampering::Edited)
    );
    // Only a column changed: the row disagrees with its record.
    db.sql(&undo).unwrap();
    let err = store.load(id).unwrap_err();
    assert!(err.to_string().contains("`actor_id` disagrees"), "{err}");
    // The chain covers the columns, so it sees a column-only edit as well.
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
        panic!("broken")
    };
    assert_eq!((found.position, found.tampering), (2, Tampering::Edited));
}

pub fn garbage_in_any_column_is_refused_not_a_panic<D: Db>() {
    let edits = [
        "UPDATE requests SET tenant = 'not-a-guid'",
        "UPDATE requests SET state = 'granted'",
        "UPDATE requests SET revision = 7",
        "UPDATE requests SET due_at = '2026-11-24T09:00:00.000000000Z'",
        "UPDATE requests SET record_version = 2",
        "UPDATE audit SET sequence = 99 WHERE sequence = 3",
        "UPDATE audit SET record = 'garbage' WHERE sequence = 1",
        "UPDATE audit SET record = '{}' WHERE sequence = 1",
        "UPDATE audit SET tenant = 'x' WHERE sequence = 1",
        "UPDATE audit SET at = '2026' WHERE sequence = 1",
        "UPDATE audit SET kind = 'granted' WHERE sequence = 3",
        "DELETE FROM audit WHERE sequence = 2",
    ];
    for edit in edits {
        let db = D::create();
        let mut store = db.open();
        let id = pending_as(&mut store, 1);
        db.sql(edit).unwrap();
        let err = store.load(id).unwrap_err();
        assert!(err.is_refused(), "{edit}: {err}");
    }
}

/// A store holding one granted request with five actions: nine records in Contoso's chain.
fn chained<D: Db>() -> (D, D::Store) {
    let db = D::create();
    let mut store = db.open();
    let mut request = play_as(1, &contoso_steps()[..8]);
    let AnyRequest::Granted(granted) = &mut request else {
        panic!("granted")
    };
    store.save(granted).unwrap();
    (db, store)
}

pub fn chain_verification_names_each_kind_of_tampering<D: Db>() {
    let (_db, mut store) = chained::<D>();
    let head = store.chain_head(contoso()).unwrap().unwrap();
    assert_eq!(head.position, 9);
    assert_eq!(
        store.verify_chain(contoso()).unwrap(),
        ChainVerdict::Intact { head: Some(head) }
    );
    let id = request_id(1);
    type Case<'a> = (&'a str, u64, Option<(RequestId, u64)>, Tampering);
    let cases: [Case; 5] = [
        (
            "UPDATE audit SET record = replace(record, 'item 1', 'item 2') WHERE sequence = 6",
            6,
            Some((id, 6)),
            Tampering::Edited,
        ),
        (
            "DELETE FROM audit WHERE sequence = 5",
            5,
            Some((id, 6)),
            Tampering::Removed,
        ),
        (
            "UPDATE audit SET chain_position = chain_position + 1000 WHERE sequence IN (5, 6); \
             UPDATE audit SET chain_position = 6 WHERE chain_position = 1005; \
             UPDATE audit SET chain_position = 5 WHERE chain_position = 1006",
            5,
            Some((id, 6)),
            Tampering::Reordered,
        ),
        (
            "UPDATE audit SET chain_position = chain_position + 100 WHERE chain_position >= 7; \
             UPDATE audit SET chain_position = chain_position - 99 WHERE chain_position >= 107; \
             INSERT INTO audit (tenant, chain_position, request_id, sequence, at, actor_role, actor_id, kind, \
             record, previous_hash, hash) SELECT tenant, 7, request_id, 100, at, actor_role, actor_id, kind, \
             record, substr(hash, 1, 1), hash FROM audit WHERE sequence = 6;",
            7,
            Some((id, 100)),
            Tampering::Inserted,
        ),
        (
            "DELETE FROM audit WHERE sequence = 9",
            9,
            Some((id, 9)),
            Tampering::Removed,
        ),
    ];
    for (edit, position, record, tampering) in cases {
        let (db, mut store) = chained::<D>();
        db.sql(edit).unwrap();
        let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
            panic!("{edit}: intact")
        };
        assert_eq!(
            (found.position, found.record, found.tampering),
            (position, record, tampering),
            "{edit}"
        );
    }
    let (db, mut store) = chained::<D>();
    db.sql("DELETE FROM audit WHERE sequence = 5").unwrap();
    let ChainVerdict::Broken(found) = store.verify_chain(contoso()).unwrap() else {
        panic!("broken")
    };
    insta::assert_snapshot!("chain_break", found.to_string());
}
