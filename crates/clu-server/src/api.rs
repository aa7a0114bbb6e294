//! The HTTP routes: the API under `/v1`, MCP at `/mcp`, and the open probes and metrics.
//!
//! Authentication covers `/v1` and `/mcp`. `/healthz` and `/readyz` stay open because the
//! kubelet probes them without credentials, and so does `/metrics`, which Prometheus scrapes
//! in-cluster: it carries counts by tool name and outcome, never inputs or results.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use clu_core::ToolError;
use clu_core::agent::AgentEvent;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::readiness::Gate;
use crate::service::{PreflightState, Shared};
use crate::settings::ServeSettings;

/// The router of every route.
pub(crate) fn router(
    shared: Arc<Shared>,
    settings: &ServeSettings,
    mcp_stop: CancellationToken,
) -> Router {
    let limited = Router::new()
        .route("/v1/ask", post(ask))
        .route("/v1/tools/{name}/call", post(call))
        .route("/v1/plans/{id}/approve", post(approve))
        .nest_service("/mcp", crate::mcp::service(shared.clone(), settings, mcp_stop))
        .layer(middleware::from_fn_with_state(shared.clone(), limit));
    let authenticated = Router::new()
        .route("/v1/tools", get(tools))
        .route("/v1/preflight", get(preflight))
        .route("/v1/findings", get(findings))
        .route("/v1/plans", get(plans))
        .route("/v1/plans/{id}", get(plan))
        .route("/v1/plans/{id}/reject", post(reject))
        .merge(limited)
        .layer(middleware::from_fn_with_state(shared.clone(), require_gates))
        .layer(middleware::from_fn_with_state(shared.clone(), authenticate));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(authenticated)
        .fallback(not_found)
        .with_state(shared)
}

async fn authenticate(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    match shared.auth.authenticate(request.headers()).await {
        Ok(caller) => {
            tracing::debug!(caller = %caller.name, path = %request.uri().path(), "authenticated");
            // The caller is who approves or rejects a plan.
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => {
            tracing::info!(code = error.code, path = %request.uri().path(), "refused");
            error.into_response()
        }
    }
}

/// Refuses work until every readiness gate passed: nothing runs before the agent registered
/// with Marketplace, as the container-product contract requires.
async fn require_gates(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    match shared.readiness.blocking_gate() {
        None => next.run(request).await,
        Some((name, gate)) => {
            let state = match gate {
                Gate::Failed(message) => format!("failed: {message}"),
                _ => "pending".to_owned(),
            };
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                format!("the service is not ready: gate `{name}` is {state}"),
            )
            .retry_after(1)
            .into_response()
        }
    }
}

/// Counts a request in flight while it runs, including while its body streams.
struct InFlight {
    _permit: tokio::sync::OwnedSemaphorePermit,
    shared: Arc<Shared>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.metrics.in_flight().dec();
    }
}

/// Admits at most `maxInFlight` requests at once; the next gets 429 at once, never a queue, so
/// a caller learns to back off instead of timing out.
async fn limit(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Ok(permit) = shared.limiter.clone().try_acquire_owned() else {
        let seconds = shared.retry_after.as_secs().max(1);
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            format!(
                "{} investigations and tool calls are already running; retry after {seconds} s",
                shared.max_in_flight
            ),
        )
        .retry_after(seconds)
        .into_response();
    };
    shared.metrics.in_flight().inc();
    let guard = InFlight { _permit: permit, shared: shared.clone() };
    let (parts, body) = next.run(request).await.into_parts();
    // The permit lives as long as the body: an investigation holds it until its stream ends.
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let (ready, draining, gates) = shared.readiness.report();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let gates: BTreeMap<&str, Gate> = gates;
    (status, Json(json!({ "ready": ready, "draining": draining, "gates": gates }))).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    // Plans change state outside any request of this replica (expiry, another approver), so
    // their gauge is counted from the store when scraped.
    if shared.env.plans.is_some()
        && let Ok(plans) = shared.registry.plans(&shared.env)
    {
        let mut counts: BTreeMap<&str, i64> = PLAN_STATES.iter().map(|state| (*state, 0)).collect();
        for plan in &plans {
            *counts.entry(plan.state.name()).or_default() += 1;
        }
        for (state, count) in counts {
            shared.metrics.plans_in_state(state, count);
        }
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        shared.metrics.encode(),
    )
        .into_response()
}

/// Every state a plan can be in, so the gauge reports zeros too.
const PLAN_STATES: [&str; 7] =
    ["pending", "approved", "applying", "applied", "failed", "stale", "rejected"];

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route")
}

async fn tools(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let offered = shared.offered_tools();
    let state = shared.preflight();
    let rows: Vec<Value> = shared
        .registry
        .tools()
        .map(|tool| {
            let spec = tool.spec();
            let preflight = match &state {
                _ if !spec.offered_to_model => json!({ "status": "internal" }),
                PreflightState::Pending => json!({ "status": "pending" }),
                PreflightState::Disabled => json!({ "status": "disabled" }),
                PreflightState::Ran { report, .. } => match report.tool(spec.name) {
                    Some(check) if !check.passed => {
                        json!({ "status": "failed", "reasons": check.reasons })
                    }
                    _ => json!({ "status": "passed" }),
                },
            };
            json!({
                "name": spec.name,
                "description": spec.description,
                "tier": spec.tier,
                "risk": spec.risk,
                "offered": offered.contains(spec.name),
                "preflight": preflight,
                "actions": spec.permissions.actions().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "rbac": spec.permissions.rbac.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "inputSchema": spec.input_schema,
            })
        })
        .collect();
    Json(json!({ "tools": rows }))
}

/// The latest preflight: the principal, the three checks and every tool's answer.
async fn preflight(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(match shared.preflight() {
        PreflightState::Pending => json!({ "state": "pending" }),
        PreflightState::Disabled => json!({ "state": "disabled" }),
        PreflightState::Ran { report, at } => json!({
            "state": "done",
            "checkedAt": at,
            "principal": report.principal,
            "kubernetes": report.kubernetes,
            "iam": report.iam,
            "bedrock": report.bedrock,
            "tools": report.tools,
        }),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    #[serde(default)]
    input: Option<Value>,
}

async fn call(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Result<Json<CallRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
    if shared.registry.get(&name).is_some() && !shared.is_offered(&name) {
        return Err(not_offered(&shared, &name));
    }
    let input = request.input.unwrap_or_else(|| json!({}));
    let outcome = shared.registry.call(&shared.env, &name, input).await;
    shared.metrics.tool_call(
        &outcome.audit.tool,
        &outcome.audit.outcome,
        outcome.audit.duration_ms,
    );
    outcome.result.map(Json).map_err(|error| ApiError::from_tool(&error))
}

/// The refusal of a tool the registry has but does not offer to callers, with preflight's
/// reasons when that is why.
pub(crate) fn not_offered(shared: &Shared, name: &str) -> ApiError {
    let why = match shared.preflight_reasons(name) {
        Some(reasons) => format!("its preflight failed: {}", reasons.join("; ")),
        None => "it is internal to the agent".to_owned(),
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "tool-not-offered",
        format!("tool `{name}` is not offered: {why} (see GET /v1/preflight)"),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    question: String,
}

/// Aborts the investigation when the caller goes away, so no model tokens are spent on an
/// answer nobody reads.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn ask(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<AskRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
    let question = request.question.trim().to_owned();
    if question.is_empty() {
        return Err(ApiError::invalid_request("`question` is empty"));
    }
    let agent = shared.agent().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model-not-configured",
            "this agent has no model: set `model.id` in its configuration",
        )
    })?;

    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<AgentEvent>();
    let investigation = tokio::spawn({
        let shared = shared.clone();
        async move {
            let report = agent.investigate(&question, &sender).await;
            shared.metrics.investigation(
                report.outcome.code(),
                report.usage.input_tokens,
                report.usage.output_tokens,
            );
        }
    });
    let guard = AbortOnDrop(investigation);
    let events =
        futures::stream::poll_fn(move |context| receiver.poll_recv(context)).map(move |event| {
            let _held = &guard;
            if let AgentEvent::ToolFinished { tool, outcome, duration_ms, .. } = &event {
                shared.metrics.tool_call(tool, outcome, *duration_ms);
            }
            Ok::<Event, std::convert::Infallible>(sse_event(&event))
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// One SSE event: the event's kind as its name, its JSON as data.
fn sse_event(event: &AgentEvent) -> Event {
    let value = serde_json::to_value(event).unwrap_or_else(|error| {
        json!({ "type": "error", "code": "serialize-failed", "message": error.to_string() })
    });
    let kind = value["type"].as_str().unwrap_or("event").to_owned();
    Event::default().event(kind).data(value.to_string())
}

async fn findings(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let latest = shared.findings.latest().await;
    let scanned_at = latest.reports.values().map(|report| report.scanned_at.clone()).max();
    let leading = *shared.leading.borrow();
    let mut answer = json!({
        "scannedAt": scanned_at,
        "leader": leading,
        "identity": shared.identity,
        "sources": latest.reports,
    });
    if let Some(error) = latest.shared_error {
        answer["sharedError"] = json!(format!(
            "the shared reports could not be read, so these are only this replica's: {error}"
        ));
    }
    Json(answer)
}

async fn plans(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let plans = shared.registry.plans(&shared.env).map_err(|e| ApiError::from_tool(&e))?;
    Ok(Json(
        json!({ "plans": plans.iter().map(clu_core::plan::Plan::to_value).collect::<Vec<_>>() }),
    ))
}

async fn plan(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let plan = shared.registry.plan(&shared.env, &id).map_err(|e| ApiError::from_tool(&e))?;
    Ok(Json(plan.to_value()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveRequest {
    digest: String,
}

/// Approves a plan by its digest and applies it, as `clu-agent approve` does: the approval is
/// the authenticated caller's, single-use, and the registry repeats the dry-run first.
async fn approve(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<ApproveRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) =
        body.map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
    let report = shared
        .registry
        .execute(&shared.env, &id, &request.digest, &caller.name)
        .await
        .map_err(|e| ApiError::from_tool(&e))?;
    Ok(Json(report.to_value()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RejectRequest {
    #[serde(default)]
    reason: Option<String>,
}

async fn reject(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Option<Json<RejectRequest>>,
) -> Result<Json<Value>, ApiError> {
    let request = body.map(|Json(request)| request).unwrap_or_default();
    let plan = shared
        .registry
        .reject(&shared.env, &id, &caller.name, request.reason.as_deref())
        .map_err(|e| ApiError::from_tool(&e))?;
    Ok(Json(plan.to_value()))
}

/// Turns a tool error into the MCP-facing text the model or client reads.
pub(crate) fn tool_error_value(error: &ToolError) -> Value {
    json!({ "error": { "code": error.code(), "message": error.to_string() } })
}
