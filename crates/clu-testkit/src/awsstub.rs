//! A stub AWS endpoint for the awsJson protocols, for what moto does not serve or cannot be
//! made to do (errors on demand, queries that stay running, throttling).
//!
//! The stub answers `POST /` by the `X-Amz-Target` header (`Logs_20140328.StartQuery` arrives
//! as operation `StartQuery`) through a handler the test gives, and keeps every request so a
//! test can prove what was, or was not, sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct StubRequest {
    /// The operation name, from the part of `X-Amz-Target` after the dot.
    pub operation: String,
    /// The JSON body.
    pub body: Value,
}

/// What the handler answers: a status and a JSON body, or an AWS error.
#[derive(Clone, Debug)]
pub enum StubReply {
    /// 200 with this body.
    Ok(Value),
    /// An AWS error: status, error type (`__type`) and message.
    Error(u16, String, String),
}

type Handler = dyn Fn(&str, &Value) -> StubReply + Send + Sync;

#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<StubRequest>>>,
}

/// A running stub; dropped with the test's runtime.
pub struct AwsJsonStub {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<StubRequest>>>,
}

impl AwsJsonStub {
    /// Starts a stub on a free loopback port.
    pub async fn start(
        handler: impl Fn(&str, &Value) -> StubReply + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { handler: Arc::new(handler), requests: requests.clone() };
        let app = Router::new().fallback(answer).with_state(shared);
        let address = crate::local::serve(app, "AWS stub").await;
        Self { address, requests }
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<StubRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// An SDK configuration pointing at the stub, with one attempt per call so error tests
    /// do not wait on retries.
    pub async fn sdk_config(&self) -> aws_types::SdkConfig {
        crate::local::sdk_config(self.url(), "eu-west-1", Some(1)).await
    }
}

async fn answer(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(StubRequest { operation: operation.clone(), body: body.clone() });
    let content_type = [("content-type", "application/x-amz-json-1.1")];
    match (shared.handler)(&operation, &body) {
        StubReply::Ok(value) => (StatusCode::OK, content_type, value.to_string()).into_response(),
        StubReply::Error(status, kind, message) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = serde_json::json!({ "__type": kind, "message": message });
            (status, content_type, [("x-amzn-errortype", kind)], body.to_string()).into_response()
        }
    }
}
