//! A loopback API-server endpoint for a child process, such as `helm`, whose every request goes
//! through the running tool's guarded kube client.
//!
//! The child gets a kubeconfig naming `http://127.0.0.1:PORT` and a one-time bearer token. The
//! endpoint refuses any other caller, strips the token and sends the request on with the
//! guarded client, which classifies it as the API server would, refuses what the tool did not
//! declare (and Secrets, always), records it for the declared = used tests, and adds the
//! agent's own credentials. A refusal answers the child with a Kubernetes `Status` of 403 that
//! names the missing rule, and is kept so the tool can report it whatever the child prints.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clu_core::{Result, ToolContext, ToolError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The most a child's request body may weigh; larger manifests are not sent by helm.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// A running endpoint; dropping it stops it.
pub struct GuardedEndpoint {
    address: SocketAddr,
    token: String,
    refusals: Arc<Mutex<Vec<ToolError>>>,
    stop: CancellationToken,
    kubeconfig: tempfile::NamedTempFile,
}

#[derive(Clone)]
struct Forward {
    client: kube::Client,
    expected: HeaderValue,
    refusals: Arc<Mutex<Vec<ToolError>>>,
    context_tool: String,
}

impl GuardedEndpoint {
    /// Starts an endpoint forwarding through `context`'s guarded client, with `namespace` as the
    /// kubeconfig's default namespace.
    pub async fn start(context: &ToolContext, namespace: &str) -> Result<Self> {
        let tool = context.tool().to_owned();
        let client = context.kube()?;
        let failed = |what: &str, error: std::io::Error| {
            ToolError::failed(
                &tool,
                format!("cannot start the guarded API endpoint: {what}: {error}"),
            )
        };
        let token = one_time_token().map_err(|e| failed("no random token", e))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| failed("cannot bind 127.0.0.1", e))?;
        let address = listener.local_addr().map_err(|e| failed("no local address", e))?;
        let expected = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| failed("bad token", std::io::Error::other(e)))?;
        let refusals = Arc::new(Mutex::new(Vec::new()));
        let state =
            Forward { client, expected, refusals: refusals.clone(), context_tool: tool.clone() };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(error) = served {
                    tracing::warn!(%error, "the guarded API endpoint stopped");
                }
            }
        });
        let kubeconfig = write_kubeconfig(address, &token, namespace)
            .map_err(|e| failed("cannot write the kubeconfig", e))?;
        Ok(Self { address, token, refusals, stop, kubeconfig })
    }

    /// The endpoint's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The kubeconfig file the child is to use (`KUBECONFIG`).
    pub fn kubeconfig(&self) -> &Path {
        self.kubeconfig.path()
    }

    /// The bearer token the kubeconfig carries.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Takes the first request the guard refused, as the tool's error.
    pub fn take_refusal(&self) -> Option<ToolError> {
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        (!refusals.is_empty()).then(|| refusals.remove(0))
    }
}

impl Drop for GuardedEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// 32 random bytes from the kernel, hex-encoded.
fn one_time_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_kubeconfig(
    address: SocketAddr,
    token: &str,
    namespace: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "clu", "cluster": { "server": format!("http://{address}") } }],
        "users": [{ "name": "clu", "user": { "token": token } }],
        "contexts": [{
            "name": "clu",
            "context": { "cluster": "clu", "user": "clu", "namespace": namespace },
        }],
        "current-context": "clu",
    });
    // Created readable by this user only, as a kubeconfig should be.
    let mut file = tempfile::Builder::new().prefix("clu-kubeconfig-").suffix(".json").tempfile()?;
    file.write_all(config.to_string().as_bytes())?;
    file.flush()?;
    Ok(file)
}

/// A Kubernetes `Status` answer, which clients print as the error.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn forward(State(state): State<Forward>, request: Request) -> Response {
    if request.headers().get(header::AUTHORIZATION) != Some(&state.expected) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "not the agent's child process");
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(error) => {
            return status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("the request body could not be read: {error}"),
            );
        }
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut outgoing = http::Request::builder().method(parts.method.clone()).uri(&path);
    if let Some(headers) = outgoing.headers_mut() {
        *headers = passed_headers(&parts.headers);
    }
    let outgoing = match outgoing.body(kube::client::Body::from(body.to_vec())) {
        Ok(outgoing) => outgoing,
        Err(error) => {
            return status(StatusCode::BAD_REQUEST, "BadRequest", &format!("bad request: {error}"));
        }
    };
    match state.client.send(outgoing).await {
        Ok(answer) => {
            let (parts, body) = answer.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
        Err(error) => {
            let refused = clu_core::guard::Refusal::find(&error).is_some();
            let error = clu_core::guard::kube::map_kube_error(&state.context_tool, error);
            let (code, reason) = if refused {
                (StatusCode::FORBIDDEN, "Forbidden")
            } else {
                (StatusCode::BAD_GATEWAY, "ServiceUnavailable")
            };
            let message = error.to_string();
            if refused {
                state.refusals.lock().unwrap_or_else(PoisonError::into_inner).push(error);
            }
            tracing::info!(method = %parts.method, path, %message, "guarded endpoint refused a request");
            status(code, reason, &message)
        }
    }
}

/// The child's headers, without its token, the host or hop-by-hop headers; the guarded client
/// adds the agent's own credentials.
fn passed_headers(incoming: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in incoming {
        let dropped = [
            header::AUTHORIZATION,
            header::HOST,
            header::CONNECTION,
            header::TRANSFER_ENCODING,
            header::CONTENT_LENGTH,
            header::UPGRADE,
        ];
        if !dropped.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}
