//! The example service (`examples/axum_service.rs`) driven over loopback as a platform's
//! clients would: two nodes (each its own store handle behind its own HTTP server, on one
//! database), every call routed to the other node than the one before, workflows through every
//! ending, and each error answered with the status its class calls for.
//!
//! `ignored::two_service_processes_complete_every_workflow` drives running example processes
//! instead (their URLs in `LOCKBOX_SERVICE_URLS`, comma-separated): the two-node run of the
//! closing note of issue 22.
#![cfg(all(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[allow(dead_code)]
#[path = "../examples/axum_service.rs"]
mod service;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use customer_lockbox::*;
use serde_json::{Value, json};

/// Serves the example over `store` on a free loopback port; its base URL.
async fn serve<B: Backend>(store: Store<B>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, service::app(store)).await });
    url
}

/// A client that sends each call to the next node in turn.
struct Clients {
    http: reqwest::Client,
    nodes: Vec<String>,
    next: AtomicUsize,
}

impl Clients {
    fn new(nodes: Vec<String>) -> Self {
        Clients {
            http: reqwest::Client::new(),
            nodes,
            next: AtomicUsize::new(0),
        }
    }

    fn node(&self) -> &str {
        &self.nodes[self.next.fetch_add(1, Ordering::SeqCst) % self.nodes.len()]
    }

    async fn answer(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value, key: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.node())).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        Self::answer(request.send().await.unwrap()).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self.http.put(format!("{}{path}", self.node())).json(&body);
        Self::answer(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let request = self.http.get(format!("{}{path}", self.node()));
        Self::answer(request.send().await.unwrap()).await
    }
}

/// Asserts `answer` has `status`, showing the body when not.
fn expect(answer: &(u16, Value), status: u16, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
}

/// Contoso's policy through the service (megan and lee, one approval).
async fn set_policy(clients: &Clients) {
    let answer = clients
        .put(
            &format!("/tenants/{}/policy", contoso()),
            json!({
                "admin": "adele@contoso.com",
                "approvers": [
                    {"id": "megan@contoso.com", "email": "megan@contoso.com"},
                    {"id": "lee@contoso.com", "email": "lee@contoso.com"},
                ],
            }),
        )
        .await;
    expect(&answer, 200, "set policy");
}

/// One workflow, each call on the next node: draft, approve, notify, then one of the endings
/// (`n % 4`: denied, revoked, closed, withdrawn). Whether it ended as it should.
async fn workflow(clients: &Clients, n: usize) -> bool {
    let id = RequestId::new(chrono::Utc::now()).to_string();
    let key = |step: &str| format!("{id}-{step}");
    let mut body = draft_body("CFO mailbox stopped syncing after migration");
    body["id"] = json!(id);
    let drafted = clients.post("/requests", body, Some(&key("draft"))).await;
    expect(&drafted, 201, "draft");
    let manager = json!({"manager": "sam@support.vendor.example"});
    let engineer = json!({"engineer": "alex@support.vendor.example"});
    let steps: Vec<(&str, Value, &str)> = vec![
        ("approve", manager, "manager_approved"),
        ("notify", json!({}), "pending_customer"),
    ];
    for (step, body, state) in steps {
        let answer = clients
            .post(&format!("/requests/{id}/{step}"), body, Some(&key(step)))
            .await;
        expect(&answer, 200, step);
        assert_eq!(answer.1["state"], state, "{step}: {}", answer.1);
    }
    let ended = match n % 4 {
        0 => {
            let denied = clients
                .post(
                    &format!("/requests/{id}/deny"),
                    json!({"approver": "lee@contoso.com"}),
                    Some(&key("deny")),
                )
                .await;
            expect(&denied, 200, "deny");
            denied.1["outcome"] == "denied"
        }
        3 => {
            let withdrawn = clients
                .post(
                    &format!("/requests/{id}/withdraw"),
                    engineer.clone(),
                    Some(&key("withdraw")),
                )
                .await;
            expect(&withdrawn, 200, "withdraw");
            withdrawn.1["reason"] == "withdrawn_by_engineer"
        }
        ending => {
            let granted = clients
                .post(
                    &format!("/requests/{id}/grant"),
                    json!({"approver": "megan@contoso.com"}),
                    Some(&key("grant")),
                )
                .await;
            expect(&granted, 200, "grant");
            assert_eq!(granted.1["outcome"], "granted", "{}", granted.1);
            let actions = json!({
                "engineer": "alex@support.vendor.example",
                "actions": [{"service": "exchange_online", "operation": "Get-Mailbox", "target": "cfo mailbox"}],
            });
            for _ in 0..2 {
                // Sent twice with one key (a retry): taken once.
                let report = clients
                    .post(
                        &format!("/requests/{id}/actions"),
                        actions.clone(),
                        Some(&key("actions")),
                    )
                    .await;
                expect(&report, 200, "actions");
                assert_eq!(report.1, json!({"outcome": "recorded", "count": 1}));
            }
            let (step, body, reason) = if ending == 1 {
                (
                    "revoke",
                    json!({"approver": "lee@contoso.com"}),
                    "revoked_by_customer",
                )
            } else {
                ("close", engineer, "completed")
            };
            let closed = clients
                .post(&format!("/requests/{id}/{step}"), body, Some(&key(step)))
                .await;
            expect(&closed, 200, step);
            let acted = clients
                .get(&format!("/audit?request={id}&kind=engineer_acted"))
                .await;
            expect(&acted, 200, "audit search");
            acted.1["records"].as_array().map(Vec::len) == Some(1) && closed.1["reason"] == reason
        }
    };
    let shown = clients.get(&format!("/requests/{id}")).await;
    expect(&shown, 200, "show");
    ended && shown.1["state"] == "closed"
}

/// A draft's body for the service, with `justification`.
fn draft_body(justification: &str) -> Value {
    json!({
        "tenant": contoso(),
        "service_request": "2611240010001234",
        "services": ["exchange_online"],
        "access_minutes": 60,
        "justification": justification,
        "engineer": "alex@support.vendor.example",
    })
}

/// Each error class answered with its status, through either node.
async fn errors_are_answered_by_class(clients: &Clients) {
    let unknown = RequestId::new(chrono::Utc::now());
    let answer = clients.get(&format!("/requests/{unknown}")).await;
    expect(&answer, 404, "unknown request");
    assert_eq!(answer.1["class"], "not_found");
    let answer = clients.post("/requests", draft_body(""), None).await;
    expect(&answer, 422, "empty justification");
    assert_eq!(answer.1["class"], "invalid");
    // The engineer approving their own request: forbidden, and on record.
    let drafted = clients
        .post(
            "/requests",
            draft_body("CFO mailbox stopped syncing after migration"),
            None,
        )
        .await;
    expect(&drafted, 201, "draft");
    let id = drafted.1["id"].as_str().unwrap().to_owned();
    let answer = clients
        .post(
            &format!("/requests/{id}/approve"),
            json!({"manager": "ALEX@support.vendor.example"}),
            None,
        )
        .await;
    expect(&answer, 403, "self-approval");
    assert_eq!(answer.1["class"], "forbidden");
    // A grant of a request that is not pending: a conflict with its state.
    let answer = clients
        .post(
            &format!("/requests/{id}/grant"),
            json!({"approver": "megan@contoso.com"}),
            None,
        )
        .await;
    expect(&answer, 409, "grant of a draft");
    assert_eq!(answer.1["class"], "conflict");
    // A key given to another step.
    let answer = clients
        .post(
            &format!("/requests/{id}/approve"),
            json!({"manager": "sam@support.vendor.example"}),
            Some("one-key"),
        )
        .await;
    expect(&answer, 200, "approve");
    let answer = clients
        .post(
            &format!("/requests/{id}/notify"),
            json!({}),
            Some("one-key"),
        )
        .await;
    expect(&answer, 422, "a key reused");
    let listing = clients
        .get(&format!(
            "/requests?tenant={}&state=manager_approved",
            contoso()
        ))
        .await;
    expect(&listing, 200, "listing");
    assert_eq!(listing.1["requests"][0]["id"], id.as_str());
    let answer = clients
        .get(&format!("/requests?tenant={}&state=approved", contoso()))
        .await;
    expect(&answer, 422, "an unknown state");
    let health = clients.get("/health").await;
    expect(&health, 200, "health");
}

/// Two nodes over `stores`: the workflows and the errors, every call on the other node.
async fn two_nodes<B: Backend>(stores: [Store<B>; 2], workflows: usize) -> (usize, usize) {
    let clients = Clients::new(vec![
        serve(stores[0].clone()).await,
        serve(stores[1].clone()).await,
    ]);
    set_policy(&clients).await;
    let mut completed = 0;
    for n in 0..workflows {
        completed += usize::from(workflow(&clients, n).await);
    }
    errors_are_answered_by_class(&clients).await;
    assert!(stores[0].verify_chain(contoso()).await.unwrap().is_intact());
    (completed, clients.next.load(Ordering::SeqCst))
}

fn workflows() -> usize {
    std::env::var("LOCKBOX_SERVICE_WORKFLOWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_nodes_behind_the_service_complete_every_workflow() {
    let (_dir, path) = store_file();
    let first = SqliteStore::open(&path).await.unwrap();
    first.migrate().await.unwrap();
    let second = SqliteStore::open(&path).await.unwrap();
    let workflows = workflows();
    let (completed, calls) = two_nodes([first, second], workflows).await;
    println!(
        "sqlite: {completed} of {workflows} workflows completed over two nodes, {calls} calls"
    );
    assert_eq!(completed, workflows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_behind_the_service_complete_every_workflow() {
    let database = pg::Database::fresh().await;
    let first = PostgresStore::connect(&database).await.unwrap();
    first.migrate().await.unwrap();
    let second = PostgresStore::connect(&database).await.unwrap();
    let workflows = workflows();
    let (completed, calls) = two_nodes([first, second], workflows).await;
    println!(
        "postgres: {completed} of {workflows} workflows completed over two nodes, {calls} calls"
    );
    assert_eq!(completed, workflows);
}

/// Drives running service processes (`LOCKBOX_SERVICE_URLS`, comma-separated), every call on
/// the next one: `cargo run --example axum_service -- --store ... --listen ...` twice over one
/// database, then this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "drives running service processes named by LOCKBOX_SERVICE_URLS"]
async fn two_service_processes_complete_every_workflow() {
    let urls = std::env::var("LOCKBOX_SERVICE_URLS")
        .expect("LOCKBOX_SERVICE_URLS: the running services' base URLs, comma-separated");
    let clients = Clients::new(urls.split(',').map(str::to_owned).collect());
    set_policy(&clients).await;
    let workflows = workflows();
    let started = std::time::Instant::now();
    let mut completed = 0;
    for n in 0..workflows {
        completed += usize::from(workflow(&clients, n).await);
    }
    errors_are_answered_by_class(&clients).await;
    println!(
        "{} processes: {completed} of {workflows} workflows completed, {} calls, in {:.1?}",
        clients.nodes.len(),
        clients.next.load(Ordering::SeqCst),
        started.elapsed()
    );
    assert_eq!(completed, workflows);
}
