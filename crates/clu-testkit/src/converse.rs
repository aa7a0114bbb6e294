//! A Bedrock runtime stub that speaks Converse (JSON) and ConverseStream (event-stream frames)
//! from a script of model turns, so the real SDK and the real agent loop can be tested.
//!
//! Each request takes the next turn of the script. A turn is either a reply in Converse's JSON
//! shape, which the stub also turns into the equivalent ConverseStream events, or an AWS error.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted model turn.
#[derive(Clone, Debug)]
pub enum Turn {
    /// A Converse reply body.
    Reply(Value),
    /// An AWS error: HTTP status, error type and message.
    Error(u16, String, String),
}

impl Turn {
    /// A final answer.
    pub fn answer(text: &str) -> Self {
        Self::reply(vec![json!({"text": text})], "end_turn", 100, 20)
    }

    /// A turn that calls tools: each `(id, tool, input)`, after an optional thought.
    pub fn tool_calls(thought: Option<&str>, calls: &[(&str, &str, Value)]) -> Self {
        let mut content: Vec<Value> = thought.map(|t| json!({"text": t})).into_iter().collect();
        for (id, tool, input) in calls {
            content.push(json!({"toolUse": {"toolUseId": id, "name": tool, "input": input}}));
        }
        Self::reply(content, "tool_use", 200, 30)
    }

    /// A reply with the given content, stop reason and token counts.
    pub fn reply(content: Vec<Value>, stop_reason: &str, input: u64, output: u64) -> Self {
        Self::Reply(json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason,
            "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
            "metrics": {"latencyMs": 5},
        }))
    }

    /// Bedrock's throttling error.
    pub fn throttled() -> Self {
        Self::Error(429, "ThrottlingException".into(), "Too many requests, please wait".into())
    }
}

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct ConverseRequest {
    /// The model id, percent-decoded.
    pub model_id: String,
    /// Whether it was ConverseStream.
    pub stream: bool,
    /// The JSON body.
    pub body: Value,
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<VecDeque<Turn>>>,
    requests: Arc<Mutex<Vec<ConverseRequest>>>,
}

/// A running stub.
pub struct ConverseStub {
    address: SocketAddr,
    shared: Shared,
}

impl ConverseStub {
    /// Starts a stub that answers with `script`, one turn per request.
    pub async fn start(script: Vec<Turn>) -> Self {
        let shared = Shared {
            script: Arc::new(Mutex::new(script.into())),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/model/{model_id}/converse", post(converse))
            .route("/model/{model_id}/converse-stream", post(converse_stream))
            .with_state(shared.clone());
        let address = crate::local::serve(app, "Converse stub").await;
        Self { address, shared }
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ConverseRequest> {
        self.shared.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Turns of the script not yet used.
    pub fn remaining(&self) -> usize {
        self.shared.script.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// An SDK configuration pointing at the stub.
    pub async fn sdk_config(&self) -> aws_types::SdkConfig {
        crate::local::sdk_config(self.url(), "eu-west-1", None).await
    }
}

fn next_turn(shared: &Shared, model_id: String, stream: bool, body: &Bytes) -> Turn {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    shared.requests.lock().unwrap_or_else(PoisonError::into_inner).push(ConverseRequest {
        model_id,
        stream,
        body,
    });
    shared.script.lock().unwrap_or_else(PoisonError::into_inner).pop_front().unwrap_or_else(|| {
        Turn::Error(500, "InternalServerException".into(), "the stub's script is exhausted".into())
    })
}

fn error_response(status: u16, kind: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "message": message }).to_string();
    (status, [("content-type", "application/json"), ("x-amzn-errortype", kind)], body)
        .into_response()
}

async fn converse(
    State(shared): State<Shared>,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    match next_turn(&shared, model_id, false, &body) {
        Turn::Reply(reply) => {
            (StatusCode::OK, [("content-type", "application/json")], reply.to_string())
                .into_response()
        }
        Turn::Error(status, kind, message) => error_response(status, &kind, &message),
    }
}

async fn converse_stream(
    State(shared): State<Shared>,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    match next_turn(&shared, model_id, true, &body) {
        Turn::Reply(reply) => {
            let mut frames = Vec::new();
            for (event, payload) in stream_events(&reply) {
                let message = Message::new(payload.to_string().into_bytes())
                    .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
                    .add_header(Header::new(":event-type", HeaderValue::String(event.into())))
                    .add_header(Header::new(
                        ":content-type",
                        HeaderValue::String("application/json".into()),
                    ));
                if let Err(error) =
                    aws_smithy_eventstream::frame::write_message_to(&message, &mut frames)
                {
                    return error_response(500, "InternalServerException", &error.to_string());
                }
            }
            (
                StatusCode::OK,
                [("content-type", "application/vnd.amazon.eventstream")],
                Body::from(frames),
            )
                .into_response()
        }
        Turn::Error(status, kind, message) => error_response(status, &kind, &message),
    }
}

/// The ConverseStream events equivalent to a Converse reply, as Bedrock sends them: text in
/// two deltas, tool input as one JSON string delta.
pub fn stream_events(reply: &Value) -> Vec<(&'static str, Value)> {
    let message = &reply["output"]["message"];
    let mut events = vec![("messageStart", json!({"role": message["role"]}))];
    let content = message["content"].as_array().cloned().unwrap_or_default();
    for (index, block) in content.iter().enumerate() {
        if let Some(text) = block["text"].as_str() {
            let middle = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i);
            for part in [&text[..middle], &text[middle..]] {
                events.push((
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index, "delta": {"text": part}}),
                ));
            }
        } else if let Some(tool) = block.get("toolUse") {
            events.push((
                "contentBlockStart",
                json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}}),
            ));
            events.push((
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": tool["input"].to_string()}}}),
            ));
        }
        events.push(("contentBlockStop", json!({"contentBlockIndex": index})));
    }
    events.push(("messageStop", json!({"stopReason": reply["stopReason"]})));
    events.push(("metadata", json!({"usage": reply["usage"], "metrics": reply["metrics"]})));
    events
}
