//! A stub AWS endpoint for the Smithy RPC v2 CBOR protocol, which recent SDKs use for
//! CloudWatch metrics and which moto does not serve.
//!
//! The SDK sends `POST /service/{Service}/operation/{Operation}` with the header
//! `smithy-protocol: rpc-v2-cbor` and a CBOR map as the body. The stub decodes the body to JSON,
//! hands the operation and the body to the test's handler, and encodes what the handler answers
//! back to CBOR with the headers the protocol requires. Every request is kept, so a test can
//! prove what was, or was not, sent.
//!
//! JSON has no timestamp type and CBOR carries timestamps as tag 1 around epoch seconds, so both
//! directions spell a timestamp as `{"$timestamp": SECONDS}`; [`timestamp`] builds one. A request
//! that does not follow the protocol is answered with an error the SDK reports, so a wire
//! mistake fails the test instead of passing silently.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};

pub use crate::awsstub::StubReply;

/// The key that marks a timestamp in the JSON the stub exchanges with tests.
pub const TIMESTAMP_KEY: &str = "$timestamp";

/// The CBOR tag of a timestamp in epoch seconds (RFC 8949, section 3.4.2).
const EPOCH_TAG: u64 = 1;

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct CborRequest {
    /// The service name from the path, such as `GraniteServiceVersion20100801`.
    pub service: String,
    /// The operation name from the path, such as `GetMetricData`.
    pub operation: String,
    /// The body decoded to JSON, with timestamps as `{"$timestamp": SECONDS}`.
    pub body: Value,
}

type Handler = dyn Fn(&str, &Value) -> StubReply + Send + Sync;

#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<CborRequest>>>,
}

/// A running stub; it stops with the test's runtime.
pub struct CborStub {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<CborRequest>>>,
}

impl CborStub {
    /// Starts a stub on a free loopback port, answering each operation through `handler`.
    pub async fn start(
        handler: impl Fn(&str, &Value) -> StubReply + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { handler: Arc::new(handler), requests: requests.clone() };
        let app = Router::new().fallback(answer).with_state(shared);
        let address = crate::local::serve(app, "CBOR stub").await;
        Self { address, requests }
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request that followed the protocol, in the order received.
    pub fn requests(&self) -> Vec<CborRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The operations received so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.requests().into_iter().map(|request| request.operation).collect()
    }

    /// An SDK configuration pointing at the stub, with one attempt per call so error tests do
    /// not wait on retries.
    pub async fn sdk_config(&self) -> aws_types::SdkConfig {
        crate::local::sdk_config(self.url(), "eu-west-1", Some(1)).await
    }
}

/// A timestamp `seconds` after the Unix epoch, as the stub's JSON spells it.
pub fn timestamp(seconds: i64) -> Value {
    serde_json::json!({ TIMESTAMP_KEY: seconds })
}

async fn answer(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let (service, operation) = match segments.as_slice() {
        ["service", service, "operation", operation] => {
            ((*service).to_owned(), (*operation).to_owned())
        }
        _ => {
            return error_response(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "not an RPC v2 path",
            );
        }
    };
    let protocol = headers.get("smithy-protocol").and_then(|v| v.to_str().ok());
    if protocol != Some("rpc-v2-cbor") {
        return error_response(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the smithy-protocol header must be rpc-v2-cbor",
        );
    }
    let body = match decode(&body) {
        Ok(body) => body,
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, "SerializationException", &message);
        }
    };

    shared.requests.lock().unwrap_or_else(PoisonError::into_inner).push(CborRequest {
        service,
        operation: operation.clone(),
        body: body.clone(),
    });
    match (shared.handler)(&operation, &body) {
        StubReply::Ok(value) => cbor_response(StatusCode::OK, &value, None),
        StubReply::Error(status, kind, message) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            error_response(status, &kind, &message)
        }
    }
}

/// An AWS error as RPC v2 CBOR carries it: the shape in `__type`, the text in `message`, and,
/// because CloudWatch keeps its older query-protocol error codes, the code again in
/// `x-amzn-query-error`.
fn error_response(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": kind, "message": message });
    let fault = if status.is_server_error() { "Receiver" } else { "Sender" };
    cbor_response(status, &body, Some(format!("{kind};{fault}")))
}

fn cbor_response(status: StatusCode, body: &Value, query_error: Option<String>) -> Response {
    let mut bytes = Vec::new();
    if let Err(error) = ciborium::into_writer(&encode(body), &mut bytes) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the reply: {error}"))
            .into_response();
    }
    let mut response =
        (status, [("smithy-protocol", "rpc-v2-cbor"), ("content-type", "application/cbor")], bytes)
            .into_response();
    if let Some(value) = query_error.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

/// JSON to CBOR: integers stay integers, other numbers become floats, and
/// `{"$timestamp": SECONDS}` becomes a tagged timestamp.
pub fn encode(value: &Value) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cbor::Integer(i.into())
            } else if let Some(u) = n.as_u64() {
                Cbor::Integer(u.into())
            } else {
                Cbor::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(items) => Cbor::Array(items.iter().map(encode).collect()),
        Value::Object(fields) => match fields.get(TIMESTAMP_KEY) {
            Some(seconds) if fields.len() == 1 => Cbor::Tag(EPOCH_TAG, Box::new(encode(seconds))),
            _ => {
                Cbor::Map(fields.iter().map(|(k, v)| (Cbor::Text(k.clone()), encode(v))).collect())
            }
        },
    }
}

/// CBOR bytes to JSON, the inverse of [`encode`]; byte strings become arrays of numbers.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: Cbor =
        ciborium::from_reader(bytes).map_err(|e| format!("the body is not CBOR: {e}"))?;
    to_json(value)
}

fn to_json(value: Cbor) -> Result<Value, String> {
    Ok(match value {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            let number = i64::try_from(i)
                .map(Number::from)
                .or_else(|_| u64::try_from(i).map(Number::from))
                .map_err(|_| format!("integer {i} does not fit JSON"))?;
            Value::Number(number)
        }
        Cbor::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(bytes) => Value::Array(bytes.into_iter().map(Value::from).collect()),
        Cbor::Tag(EPOCH_TAG, seconds) => serde_json::json!({ TIMESTAMP_KEY: to_json(*seconds)? }),
        Cbor::Tag(_, inner) => to_json(*inner)?,
        Cbor::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Cbor::Map(entries) => {
            let mut fields = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Cbor::Text(key) => key,
                    other => return Err(format!("a map key is not text: {other:?}")),
                };
                fields.insert(key, to_json(value)?);
            }
            Value::Object(fields)
        }
        other => return Err(format!("unsupported CBOR value: {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_numbers_survive_a_round_trip() {
        let value = serde_json::json!({
            "Id": "cpu",
            "Timestamps": [timestamp(1_700_000_000)],
            "Values": [0.25, 3.0],
            "Period": 60,
            "Empty": null,
        });
        let mut bytes = Vec::new();
        ciborium::into_writer(&encode(&value), &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), value);
    }

    #[test]
    fn a_timestamp_is_tag_one_around_seconds() {
        assert_eq!(encode(&timestamp(5)), Cbor::Tag(1, Box::new(Cbor::Integer(5.into()))));
    }
}
