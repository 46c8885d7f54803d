//! A support platform's lockbox service: the handlers an engineer's console, a support
//! manager's queue and the customer's admin center call, over one store handle, each a thin
//! call of the store. Run several of these over one PostgreSQL database and route calls to
//! any of them: the store answers nothing from what one node remembers.
//!
//! ```sh
//! cargo run --example axum_service                     # SQLite in lockbox-service.db, 127.0.0.1:8080
//! cargo run --example axum_service -- --store "host=127.0.0.1 user=postgres dbname=lockbox" --listen 127.0.0.1:8081
//! ```
//!
//! | route | what |
//! |---|---|
//! | `PUT /tenants/{tenant}/policy` | the tenant's administrator sets its policy |
//! | `GET /tenants/{tenant}/policy` | the policy in force |
//! | `POST /requests` | an engineer drafts a request (201) |
//! | `POST /requests/{id}/approve`, `/reject` | a support manager decides |
//! | `POST /requests/{id}/notify` | the approvers are told (the outbox sends the email) |
//! | `POST /requests/{id}/grant`, `/deny`, `/revoke` | a designated approver decides |
//! | `POST /requests/{id}/actions` | the engineer's actions, recorded |
//! | `POST /requests/{id}/withdraw`, `/close` | the engineer withdraws the request, or closes it after the fix |
//! | `GET /requests/{id}` | the request as values |
//! | `GET /requests?tenant=&state=&engineer=&after=` | a listing page |
//! | `GET /audit?tenant=&request=&actor=&kind=&after=` | an audit search page |
//! | `GET /health` | the schema, for a load balancer |
//!
//! Every step takes an `Idempotency-Key` header: a client sends the same key with every retry
//! of one action, and the step is taken once. Errors are JSON `{"class", "message"}` with the
//! status `ErrorClass::http_status` recommends (and `Retry-After` when the call may simply be
//! made again). The service uses the system clock; a step takes `now` from it.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{FromRequest, Json, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use customer_lockbox::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error as the service answers it.
struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
    retry: bool,
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError {
            status: StatusCode::from_u16(err.class().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            retry: err.is_retryable(),
            body: json!(err),
        }
    }
}

impl From<customer_lockbox::Error> for ApiError {
    fn from(err: customer_lockbox::Error) -> Self {
        ApiError::invalid(err.to_string())
    }
}

impl ApiError {
    fn invalid(message: String) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({ "class": ErrorClass::Invalid, "message": message }),
            retry: false,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A JSON body whose rejection is answered like every other error.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// The `Idempotency-Key` header, if the client sent one.
fn key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|value| {
            let text = value
                .to_str()
                .map_err(|_| ApiError::invalid("the idempotency key is not ASCII".to_owned()))?;
            Ok(IdempotencyKey::new(text)?)
        })
        .transpose()
}

/// `call` under the client's key, if it sent one.
fn keyed<T>(call: StepCall<'_, T>, key: Option<IdempotencyKey>) -> StepCall<'_, T> {
    match key {
        Some(key) => call.idempotency_key(key),
        None => call,
    }
}

type Answer = Result<Response, ApiError>;

fn ok(value: impl serde::Serialize) -> Answer {
    Ok(Json(value).into_response())
}

#[derive(Deserialize)]
struct ApproverBody {
    id: ApproverId,
    email: EmailAddress,
}

#[derive(Deserialize)]
struct PolicyBody {
    admin: TenantAdminId,
    approvers: Vec<ApproverBody>,
    approvals_required: Option<u32>,
    max_access_minutes: Option<u32>,
}

async fn set_policy<B: Backend>(
    State(store): State<Store<B>>,
    Path(tenant): Path<String>,
    Body(body): Body<PolicyBody>,
) -> Answer {
    let tenant = TenantId::parse(&tenant)?;
    let approvers = body
        .approvers
        .into_iter()
        .map(|approver| DesignatedApprover::new(approver.id, approver.email))
        .collect();
    let mut policy = TenantPolicy::new(tenant, approvers)?;
    if let Some(required) = body.approvals_required {
        policy = policy.with_approvals_required(required)?;
    }
    if let Some(minutes) = body.max_access_minutes {
        policy = policy.with_max_access_duration(AccessDuration::from_minutes(minutes)?);
    }
    let change = store
        .set_policy(&body.admin, policy, SystemClock.now())
        .await?;
    ok(change)
}

async fn policy<B: Backend>(State(store): State<Store<B>>, Path(tenant): Path<String>) -> Answer {
    let tenant = TenantId::parse(&tenant)?;
    ok(store.policy(tenant).await?)
}

#[derive(Deserialize)]
struct DraftBody {
    /// Optional: a client that retries a draft gives its id (and an idempotency key), so the
    /// retry names the same request.
    id: Option<RequestId>,
    tenant: TenantId,
    service_request: ServiceRequestNumber,
    services: Vec<Service>,
    access_minutes: u32,
    justification: Justification,
    engineer: EngineerId,
}

async fn draft<B: Backend>(
    State(store): State<Store<B>>,
    headers: HeaderMap,
    Body(body): Body<DraftBody>,
) -> Answer {
    let now = SystemClock.now();
    let draft = Draft {
        id: body.id.unwrap_or_else(|| RequestId::new(now)),
        tenant: body.tenant,
        service_request: body.service_request,
        services: Services::new(body.services)?,
        access_duration: AccessDuration::from_minutes(body.access_minutes)?,
        justification: body.justification,
        engineer: body.engineer,
    };
    let drafted = keyed(store.draft(draft, now), key(&headers)?).await?;
    Ok((StatusCode::CREATED, Json(drafted.view())).into_response())
}

#[derive(Deserialize)]
struct ManagerBody {
    manager: SupportManagerId,
}

#[derive(Deserialize)]
struct ApproverIdBody {
    approver: ApproverId,
}

#[derive(Deserialize)]
struct EngineerBody {
    engineer: EngineerId,
}

#[derive(Deserialize)]
struct ActionBody {
    service: Service,
    operation: Operation,
    target: Target,
}

#[derive(Deserialize)]
struct ActionsBody {
    engineer: EngineerId,
    actions: Vec<ActionBody>,
}

fn request_id(id: &str) -> Result<RequestId, ApiError> {
    Ok(RequestId::parse(id)?)
}

async fn approve<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<ManagerBody>,
) -> Answer {
    let call = store.approve(request_id(&id)?, &body.manager, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?.view())
}

async fn reject<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<ManagerBody>,
) -> Answer {
    let call = store.reject(request_id(&id)?, &body.manager, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?.view())
}

async fn notify<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let call = store.notify(request_id(&id)?, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?.view())
}

async fn grant<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<ApproverIdBody>,
) -> Answer {
    let call = store.grant(request_id(&id)?, &body.approver, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?)
}

async fn deny<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<ApproverIdBody>,
) -> Answer {
    let call = store.deny(request_id(&id)?, &body.approver, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?)
}

async fn revoke<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<ApproverIdBody>,
) -> Answer {
    let call = store.revoke(request_id(&id)?, &body.approver, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?.view())
}

async fn withdraw<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<EngineerBody>,
) -> Answer {
    let call = store.withdraw(request_id(&id)?, &body.engineer, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?.view())
}

async fn close<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<EngineerBody>,
) -> Answer {
    let call = store.close(request_id(&id)?, &body.engineer, SystemClock.now());
    ok(keyed(call, key(&headers)?).await?.view())
}

async fn actions<B: Backend>(
    State(store): State<Store<B>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<ActionsBody>,
) -> Answer {
    let actions: Vec<EngineerAction> = body
        .actions
        .into_iter()
        .map(|action| EngineerAction::new(action.service, action.operation, action.target))
        .collect();
    let call = store.record_actions(request_id(&id)?, &body.engineer, actions, SystemClock.now());
    // The report says whether every action was taken: a client must not read "200" as that.
    ok(keyed(call, key(&headers)?).await?)
}

async fn show<B: Backend>(State(store): State<Store<B>>, Path(id): Path<String>) -> Answer {
    ok(store.load(request_id(&id)?).await?.view())
}

#[derive(Deserialize)]
struct ListParams {
    tenant: Option<String>,
    state: Option<String>,
    engineer: Option<String>,
    after: Option<String>,
}

async fn list<B: Backend>(
    State(store): State<Store<B>>,
    Query(params): Query<ListParams>,
) -> Answer {
    let mut query = match (params.tenant, params.engineer) {
        (Some(tenant), None) => RequestQuery::tenant(TenantId::parse(&tenant)?),
        (None, Some(engineer)) => RequestQuery::engineer(EngineerId::new(engineer)?),
        _ => {
            return Err(ApiError::invalid(
                "give one of tenant or engineer".to_owned(),
            ));
        }
    };
    if let Some(state) = params.state {
        query = query.state(state.parse()?);
    }
    if let Some(after) = params.after {
        query = query.after(after.parse()?);
    }
    ok(store.requests(&query).await?)
}

#[derive(Deserialize)]
struct AuditParams {
    tenant: Option<String>,
    request: Option<String>,
    actor: Option<String>,
    kind: Option<String>,
    after: Option<String>,
}

async fn audit<B: Backend>(
    State(store): State<Store<B>>,
    Query(params): Query<AuditParams>,
) -> Answer {
    let mut query = AuditQuery::new();
    if let Some(tenant) = params.tenant {
        query = query.tenant(TenantId::parse(&tenant)?);
    }
    if let Some(request) = params.request {
        query = query.request(request_id(&request)?);
    }
    if let Some(actor) = params.actor {
        query = query.actor(actor.parse()?);
    }
    if let Some(kind) = params.kind {
        query = query.kind(kind.parse()?);
    }
    if let Some(after) = params.after {
        query = query.after(after.parse()?);
    }
    ok(store.search(&query).await?)
}

async fn health<B: Backend>(State(store): State<Store<B>>) -> Answer {
    let (found, supported) = store.schema_version().await?;
    let status = if found == supported {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        Json(json!({ "schema": found, "supported": supported })),
    )
        .into_response())
}

/// The service's routes over `store`.
pub fn app<B: Backend>(store: Store<B>) -> Router {
    Router::new()
        .route(
            "/tenants/{tenant}/policy",
            get(policy::<B>).put(set_policy::<B>),
        )
        .route("/requests", post(draft::<B>).get(list::<B>))
        .route("/requests/{id}", get(show::<B>))
        .route("/requests/{id}/approve", post(approve::<B>))
        .route("/requests/{id}/reject", post(reject::<B>))
        .route("/requests/{id}/notify", post(notify::<B>))
        .route("/requests/{id}/grant", post(grant::<B>))
        .route("/requests/{id}/deny", post(deny::<B>))
        .route("/requests/{id}/revoke", post(revoke::<B>))
        .route("/requests/{id}/withdraw", post(withdraw::<B>))
        .route("/requests/{id}/actions", post(actions::<B>))
        .route("/requests/{id}/close", post(close::<B>))
        .route("/audit", get(audit::<B>))
        .route("/health", get(health::<B>))
        .with_state(store)
}

/// Serves `store` on `listener` until ctrl-c.
async fn serve<B: Backend>(
    store: Store<B>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, app(store))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// `--store` and `--listen`, from the command line.
fn arguments() -> Result<(String, SocketAddr), Box<dyn std::error::Error>> {
    let (mut store, mut listen) = (
        "lockbox-service.db".to_owned(),
        "127.0.0.1:8080".parse::<SocketAddr>()?,
    );
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--store" => store = value,
            "--listen" => listen = value.parse()?,
            other => return Err(format!("unknown argument {other}: use --store, --listen").into()),
        }
    }
    Ok((store, listen))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (store, listen) = arguments()?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("lockbox service on http://{}", listener.local_addr()?);
    // A PostgreSQL URL or libpq parameters, else a SQLite file.
    if store.starts_with("postgres") || store.contains("host=") {
        let store = PostgresStore::connect(&store).await?;
        store.migrate().await?;
        serve(store, listener).await?;
    } else {
        let store = SqliteStore::open(&store).await?;
        store.migrate().await?;
        serve(store, listener).await?;
    }
    Ok(())
}
