//! A stub AWS endpoint for the protocols that route on the HTTP request itself: restJson1
//! (EKS, which routes on method and path) and awsQuery (IAM, which routes on the form field
//! `Action`), for the operations moto does not serve.
//!
//! A test either gives a handler that sees each [`RestRequest`], or a table of [`Route`]s from
//! method and path pattern to a canned [`RestReply`]; every request is kept so a test can prove
//! what was, or was not, sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct RestRequest {
    /// The HTTP method, such as `GET`.
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The path's segments, each percent-decoded, so an ARN in one segment stays whole.
    pub segments: Vec<String>,
    /// The raw query string, without `?`.
    pub query: String,
    /// The body as text.
    pub body: String,
}

impl RestRequest {
    /// The decoded value of a query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        form_pairs(&self.query).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The decoded value of a field of a form body, as awsQuery sends them.
    pub fn form(&self, key: &str) -> Option<String> {
        form_pairs(&self.body).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The values of an awsQuery list field in order: `ActionNames` gives the values of
    /// `ActionNames.member.1`, `ActionNames.member.2`, ...
    pub fn form_list(&self, key: &str) -> Vec<String> {
        let pairs = form_pairs(&self.body);
        (1..)
            .map_while(|n| {
                let name = format!("{key}.member.{n}");
                pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
            })
            .collect()
    }

    /// The awsQuery operation, from the form field `Action`.
    pub fn action(&self) -> Option<String> {
        self.form("Action")
    }

    /// The body as JSON, or `null` when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What the stub answers.
#[derive(Clone, Debug)]
pub enum RestReply {
    /// A JSON body with this status, as restJson1 answers.
    Json(u16, Value),
    /// An XML body with this status, as awsQuery answers.
    Xml(u16, String),
    /// A restJson1 error: status, error code (`x-amzn-ErrorType`) and message.
    JsonError(u16, String, String),
    /// An awsQuery error: status, error code and message, in an `ErrorResponse` document.
    XmlError(u16, String, String),
}

impl RestReply {
    /// 200 with this JSON body.
    pub fn ok(value: Value) -> Self {
        Self::Json(200, value)
    }

    /// 200 with this XML body.
    pub fn xml(body: impl Into<String>) -> Self {
        Self::Xml(200, body.into())
    }
}

/// One route of a table: a method, a path pattern whose `*` segments match any one segment,
/// and the reply.
#[derive(Clone, Debug)]
pub struct Route {
    method: String,
    pattern: String,
    reply: RestReply,
}

/// A route from `method` and `pattern` (such as `/clusters/*/addons`) to `reply`.
pub fn route(method: &str, pattern: &str, reply: RestReply) -> Route {
    Route { method: method.to_owned(), pattern: pattern.to_owned(), reply }
}

impl Route {
    fn matches(&self, request: &RestRequest) -> bool {
        if !self.method.eq_ignore_ascii_case(&request.method) {
            return false;
        }
        let pattern: Vec<&str> = self.pattern.trim_matches('/').split('/').collect();
        pattern.len() == request.segments.len()
            && pattern.iter().zip(&request.segments).all(|(p, s)| *p == "*" || p == s)
    }
}

type Handler = dyn Fn(&RestRequest) -> RestReply + Send + Sync;

#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<RestRequest>>>,
}

/// A running stub; dropped with the test's runtime.
pub struct RestStub {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<RestRequest>>>,
}

impl RestStub {
    /// Starts a stub answering every request through `handler`.
    pub async fn start(
        handler: impl Fn(&RestRequest) -> RestReply + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { handler: Arc::new(handler), requests: requests.clone() };
        let app = Router::new().fallback(answer).with_state(shared);
        let address = crate::local::serve(app, "REST stub").await;
        Self { address, requests }
    }

    /// Starts a stub answering by the first route that matches; an unrouted request gets a
    /// 404 `ResourceNotFoundException`, as EKS answers for what does not exist.
    pub async fn routes(routes: Vec<Route>) -> Self {
        Self::start(move |request| {
            routes.iter().find(|r| r.matches(request)).map_or_else(
                || {
                    RestReply::JsonError(
                        404,
                        "ResourceNotFoundException".into(),
                        format!("no route for {} {}", request.method, request.path),
                    )
                },
                |r| r.reply.clone(),
            )
        })
        .await
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RestRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// An SDK configuration pointing at the stub, with one attempt per call so error tests
    /// do not wait on retries.
    pub async fn sdk_config(&self) -> aws_types::SdkConfig {
        crate::local::sdk_config(self.url(), "eu-west-1", Some(1)).await
    }
}

async fn answer(State(shared): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let request = RestRequest {
        method: method.as_str().to_owned(),
        path: percent_decode(uri.path(), false),
        segments: uri
            .path()
            .trim_matches('/')
            .split('/')
            .map(|segment| percent_decode(segment, false))
            .collect(),
        query: uri.query().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    shared.requests.lock().unwrap_or_else(PoisonError::into_inner).push(request.clone());
    let status = |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    match (shared.handler)(&request) {
        RestReply::Json(code, value) => {
            (status(code), [("content-type", "application/json")], value.to_string())
                .into_response()
        }
        RestReply::Xml(code, body) => {
            (status(code), [("content-type", "text/xml")], body).into_response()
        }
        RestReply::JsonError(code, kind, message) => {
            let body = serde_json::json!({ "message": message });
            (
                status(code),
                [("content-type", "application/json"), ("x-amzn-errortype", kind.as_str())],
                body.to_string(),
            )
                .into_response()
        }
        RestReply::XmlError(code, kind, message) => {
            let body = format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{kind}</Code>\
                 <Message>{message}</Message></Error><RequestId>stub</RequestId></ErrorResponse>"
            );
            (status(code), [("content-type", "text/xml")], body).into_response()
        }
    }
}

/// The decoded `key=value` pairs of a form or query string.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

/// Decodes percent-escapes, and `+` as a space in forms; a bad escape is kept as written.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[index]) {
            (Some(byte), _) => {
                out.push(byte);
                index += 3;
            }
            (None, b'+') if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            (None, byte) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
