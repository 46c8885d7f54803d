//! Many nodes over one PostgreSQL database: each node a store of its own (a pool of
//! connections), racing on the same requests and the same tenant's chain, against a real
//! server (`LOCKBOX_POSTGRES_URL`); and connections the server kills under the store.
#![cfg(all(feature = "postgres", feature = "sqlite"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use customer_lockbox::*;
use tokio::sync::Barrier;

const NODES: usize = 8;
const ROUNDS: u128 = 25;

async fn node(url: &str) -> PostgresStore {
    PostgresStore::connect(url).await.unwrap()
}

async fn migrated() -> (pg::Database, PostgresStore) {
    let url = pg::Database::fresh().await;
    let store = node(&url).await;
    store.migrate().await.unwrap();
    (url, store)
}

/// What one node tries on the pending request.
#[derive(Clone, Copy, Debug)]
enum Move {
    Grant,
    Deny,
    Expire,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_nodes_racing_grant_deny_and_expiry_leave_exactly_one_decision() {
    let (url, setup) = migrated().await;
    let deadline = at(minutes(20)) + DecisionWindow::DEFAULT.as_time_delta();
    let moves = [
        Move::Grant,
        Move::Deny,
        Move::Expire,
        Move::Grant,
        Move::Deny,
        Move::Expire,
        Move::Grant,
        Move::Deny,
    ];
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(node(&url).await);
    }
    let mut wins = [0usize; 3];
    for round in 0..ROUNDS {
        let id = pending_as(&setup, 1000 + round).await;
        let barrier = Arc::new(Barrier::new(NODES));
        let tasks: Vec<_> = nodes
            .iter()
            .cloned()
            .zip(moves)
            .map(|(store, step)| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let won = match step {
                        Move::Grant => store
                            .grant(id, &megan(), deadline - minutes(1))
                            .await
                            .map(|outcome| matches!(outcome, GrantOutcome::Granted(_))),
                        Move::Deny => store
                            .deny(id, &megan(), deadline - minutes(1))
                            .await
                            .map(|outcome| matches!(outcome, DenyOutcome::Denied(_))),
                        Move::Expire => store
                            .sweep(deadline)
                            .await
                            .map(|report| report.expired.contains(&id)),
                    };
                    (step, won)
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let winners: Vec<Move> = results
            .iter()
            .filter(|(_, r)| matches!(r, Ok(true)))
            .map(|(m, _)| *m)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (step, result) in &results {
            if let Err(err) = result {
                assert!(
                    err.is_wrong_state(),
                    "round {round}: {step:?} lost with {err}"
                );
            }
        }
        wins[winners[0] as usize] += 1;
        let trail = setup.load(id).await.unwrap().audit_trail().to_vec();
        let decisions = trail
            .iter()
            .filter(|r| {
                matches!(
                    r.event().kind(),
                    AuditEventKind::Granted | AuditEventKind::Denied | AuditEventKind::Expired
                )
            })
            .count();
        assert_eq!(decisions, 1, "round {round}: one decision in the audit");
    }
    assert!(setup.verify_chain(contoso()).await.unwrap().is_intact());
    eprintln!(
        "{ROUNDS} rounds of {NODES} nodes: grant won {}, deny {}, expiry {}",
        wins[0], wins[1], wins[2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_on_one_tenant_keep_its_chain_valid() {
    let (url, setup) = migrated().await;
    let mut ids = Vec::new();
    for n in 0..NODES as u128 {
        ids.push(granted_as(&setup, 3000 + n).await);
    }
    let before = setup.chain_head(contoso()).await.unwrap().unwrap().position;
    let barrier = Arc::new(Barrier::new(NODES));
    let batches = 20usize;
    let mut tasks = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        // Two nodes share each request's work half the time: the store retries their races.
        let target = if i % 2 == 0 { id } else { ids[i - 1] };
        let (store, barrier) = (node(&url).await, barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut recorded = 0;
            // One instant for every batch: nodes sharing a request never step back in time.
            for _ in 0..batches {
                // A step that kept losing its race is reported, and taken again.
                loop {
                    match store
                        .record_actions(
                            target,
                            &alex(),
                            [mailbox_read(), mailbox_read()],
                            at(hours(2)),
                        )
                        .await
                    {
                        Ok(report) => {
                            recorded += report.recorded();
                            break;
                        }
                        Err(err) if err.is_conflict() => continue,
                        Err(err) => panic!("{err}"),
                    }
                }
            }
            recorded
        }));
    }
    let mut recorded = 0;
    for task in tasks {
        recorded += task.await.unwrap();
    }
    assert_eq!(recorded, NODES * batches * 2);
    let verdict = setup.verify_chain(contoso()).await.unwrap();
    assert!(verdict.is_intact(), "{verdict:?}");
    let head = setup.chain_head(contoso()).await.unwrap().unwrap();
    assert_eq!(
        head.position,
        before + recorded as u64,
        "every action is one link"
    );
}

#[tokio::test]
async fn connecting_to_an_empty_database_creates_nothing() {
    let url = pg::Database::fresh().await;
    let store = node(&url).await;
    let raw = pg::client(&url).await;
    let tables: i64 = raw
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "connecting wrote nothing");
    let err = store.load(request_id(1)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaBehind { found: 0, .. }),
        "{err}"
    );
    store.migrate().await.unwrap();
    assert!(store.load(request_id(1)).await.unwrap_err().is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_cost_at_most_the_call_in_flight() {
    let (url, store) = migrated().await;
    let mut acknowledged = Vec::new();
    for n in 0..6u128 {
        acknowledged.push(pending_as(&store, 5000 + n).await);
    }
    // The server kills every connection of this database but the killer's.
    let raw = pg::client(&url).await;
    raw.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await
    .unwrap();
    // Every later call succeeds: the pool finds the dead connections and opens new ones.
    let mut failures = 0;
    for n in 0..6u128 {
        match store.load(acknowledged[n as usize]).await {
            Ok(_) => {}
            Err(_) => failures += 1,
        }
        let _ = pending_as(&store, 6000 + n).await;
    }
    assert_eq!(failures, 0, "a checked-out connection is verified first");
    for id in &acknowledged {
        assert_eq!(
            store.load(*id).await.unwrap().state(),
            StateKind::PendingCustomer
        );
    }
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
}

/// A store made in one runtime, used from another, and dropped where no runtime runs.
#[test]
fn a_store_outlives_its_runtime_and_drops_anywhere() {
    common::a_store_outlives_its_runtime_and_drops_anywhere(migrated);
}

/// The connection dies while a step commits: the server has the step and commits it, the client
/// never hears so, and the store says the outcome is unknown. Taken again with the same
/// idempotency key, the step records nothing more and answers as the first call would have;
/// taken again without one, a batch of actions is recorded twice (which is what the key is for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_retried_with_its_key_after_the_connection_died_during_its_commit_is_taken_once() {
    let url = pg::Database::fresh().await;
    let proxy = proxy::Proxy::start(&url).await;
    let store = PostgresStore::connect(&proxy.url(&url)).await.unwrap();
    store.migrate().await.unwrap();
    let direct = pg::client(&url).await;
    let count = async |marker: &str| -> i64 {
        direct
            .query_one(
                "SELECT count(*) FROM audit WHERE strpos(record, $1) > 0",
                &[&marker],
            )
            .await
            .unwrap()
            .get(0)
    };
    // A granted request this node stepped itself: it knows the chain's head, so its next step
    // is one statement that commits on its own.
    let id = granted_as(&store, 1).await;
    let action = |marker: &str| {
        EngineerAction::new(
            Service::ExchangeOnline,
            Operation::new("Get-MailboxFolderStatistics").unwrap(),
            Target::new(format!("{marker} mailbox")).unwrap(),
        )
    };
    let key = IdempotencyKey::new("batch-7f3a").unwrap();

    proxy.cut_after(b"cut-marker-1");
    let err = store
        .record_actions(id, &alex(), [action("cut-marker-1")], at(hours(2)))
        .idempotency_key(key.clone())
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown);
    assert_eq!(proxy.cuts(), 1);
    // The server committed it, though the client never heard.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(count("cut-marker-1").await, 1);
    let report = store
        .record_actions(id, &alex(), [action("cut-marker-1")], at(hours(2)))
        .idempotency_key(key)
        .await
        .unwrap();
    // (The first node's cached copy and chain head were left behind by the cut: the repeat
    // answers from the kept key, not from them.)
    assert_eq!(report, AppendReport::Recorded { count: 1 });
    assert_eq!(count("cut-marker-1").await, 1, "recorded once");

    // Without a key, the retry cannot know: the batch is recorded twice. (A node that has just
    // written the tenant commits a step in one statement; the first node's idea of the chain
    // was left behind by the cut, so another node takes this one.)
    let second = PostgresStore::connect(&proxy.url(&url)).await.unwrap();
    let warm = second
        .record_actions(id, &alex(), [action("warm-2")], at(hours(2)))
        .await
        .unwrap();
    assert!(warm.is_all_recorded());
    proxy.cut_after(b"cut-marker-2");
    let err = second
        .record_actions(id, &alex(), [action("cut-marker-2")], at(hours(2)))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(count("cut-marker-2").await, 1, "committed");
    let report = second
        .record_actions(id, &alex(), [action("cut-marker-2")], at(hours(2)))
        .await
        .unwrap();
    assert!(report.is_all_recorded());
    assert_eq!(count("cut-marker-2").await, 2);

    // A step, too: the revocation commits, the client hears nothing; repeated with its key it
    // answers revoked, where without the key the repeat would say the request is closed.
    let third = PostgresStore::connect(&proxy.url(&url)).await.unwrap();
    let warm = third
        .record_actions(id, &alex(), [action("warm-3")], at(hours(2)))
        .await
        .unwrap();
    assert!(warm.is_all_recorded());
    let lee = ApproverId::new("lee@contoso.com").unwrap();
    let revocations = async || -> i64 {
        direct
            .query_one(
                "SELECT count(*) FROM audit WHERE request_id = $1 AND kind = 'revoked'",
                &[&id.to_string()],
            )
            .await
            .unwrap()
            .get(0)
    };
    proxy.cut_after(br#""revoked""#);
    let key = IdempotencyKey::new("revoke-1").unwrap();
    let err = third
        .revoke(id, &lee, at(hours(3)))
        .idempotency_key(key.clone())
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(revocations().await, 1, "committed");
    let revoked = third
        .revoke(id, &lee, at(hours(3)))
        .idempotency_key(key)
        .await
        .unwrap();
    assert_eq!(revoked.reason(), ClosureReason::RevokedByCustomer);
    let err = third.revoke(id, &lee, at(hours(3))).await.unwrap_err();
    assert!(err.is_wrong_state(), "{err}");
    assert_eq!(revocations().await, 1);
    assert_eq!(proxy.cuts(), 3);
    assert!(store.verify_chain(contoso()).await.unwrap().is_intact());
}

/// The rustls client configuration that trusts only the certificate at `ca` (PEM), or nothing.
fn rustls_trusting(ca: Option<&str>) -> tokio_postgres_rustls::MakeRustlsConnect {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        roots
            .add(CertificateDer::from_pem_file(ca).unwrap())
            .unwrap();
    }
    // The crate's one provider (ring, the only one its features enable).
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// A platform's pool, built with TLS: every connection of the store is encrypted and checks
/// the server's certificate; a server it does not trust, or a connector without TLS where the
/// parameters require it, is refused. The pool's status is there for a health check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_built_with_tls_encrypts_every_connection_and_checks_the_server() {
    let ca = std::env::var("LOCKBOX_POSTGRES_CA").unwrap_or_else(|_| {
        panic!(
            "LOCKBOX_POSTGRES_CA is not set: run `bash .ci/test`, which starts the test server \
             with a certificate of its own and sets it"
        )
    });
    let url = pg::Database::fresh().await;
    let required = format!("{url} sslmode=require");
    let store = PostgresStore::builder(&required)
        .tls(rustls_trusting(Some(&ca)))
        .max_size(4)
        .wait_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let _ = pending_as(&store, 1).await;
    let status = store.pool_status();
    assert_eq!(status.max_size, 4);
    assert!(status.size >= 1 && status.available >= 1, "{status:?}");
    assert_eq!(status.waiting, 0);
    let (encrypted, plain): (i64, i64) = {
        let row = pg::client(&url)
            .await
            .query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
                 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(encrypted >= 1, "the store's connections are encrypted");
    assert_eq!(plain, 0, "and none is in the clear");

    // A client that does not trust the server's certificate does not connect.
    let err = PostgresStore::builder(&required)
        .tls(rustls_trusting(None))
        .connect()
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("UnknownIssuer"),
        "refused for the certificate: {err:?}"
    );
    assert!(
        !err.is_retryable(),
        "a certificate does not mend itself: {err:?}"
    );
    // Nor one without TLS, where the parameters require it.
    let err = PostgresStore::connect(&required).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
}

/// A server that cannot be reached is unavailable, for now: the call may be made again.
#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_may_be_retried() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let err = PostgresStore::builder("host=127.0.0.1 port=1 user=lockbox dbname=lockbox")
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.class(), ErrorClass::Unavailable);
    assert_eq!(err.class().http_status(), 503);
}

/// Nodes of a new deployment start at once, each migrating: they take turns, and every one
/// finds the schema at this build's version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_migrating_at_once_take_turns() {
    for _ in 0..5 {
        let url = pg::Database::fresh().await;
        let mut nodes = Vec::new();
        for _ in 0..4 {
            nodes.push(PostgresStore::connect(&url).await.unwrap());
        }
        let barrier = Arc::new(Barrier::new(nodes.len()));
        let migrations: Vec<_> = nodes
            .into_iter()
            .map(|node| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    node.migrate().await?;
                    node.schema_version().await
                })
            })
            .collect();
        for migration in migrations {
            let (found, supported) = migration.await.unwrap().unwrap();
            assert_eq!(found, supported);
        }
    }
}
