//! The errors of the service: why it could not start or run ([`ServeError`]), and the JSON
//! error every route answers with ([`ApiError`]), each with a stable code from
//! `docs/errors.md`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clu_core::ToolError;
use clu_core::metering::MeteringError;
use clu_core::plan::PlanError;
use serde_json::json;

/// A `Result` whose error is [`ServeError`].
pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// Why the service could not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("failed to listen on {address}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration cannot run a service, naming the setting.
    #[error("invalid serve settings: {0}")]
    Settings(String),
    /// The configured model cannot be used.
    #[error("the configured model cannot be used")]
    Model(#[source] clu_core::agent::ModelError),
    /// Metering refused the agent at start; the process exits with its exit code.
    #[error(transparent)]
    Metering(#[from] MeteringError),
    /// The HTTP server failed while serving.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
}

impl ServeError {
    /// The stable kebab-case code, listed in `docs/errors.md`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "serve-bind-failed",
            Self::Settings(_) => "invalid-serve-settings",
            Self::Model(_) => "model-invalid",
            Self::Metering(error) => error.code(),
            Self::Serve(_) => "serve-failed",
        }
    }

    /// Every code of the service's own, for the documentation test.
    pub const CODES: &'static [&'static str] =
        &["serve-bind-failed", "invalid-serve-settings", "serve-failed"];
}

/// An error answer of the HTTP API: a status, a stable code and a message, as
/// `{"error": {"code": ..., "message": ...}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code: a [`ToolError`] code or one of [`ApiError::CODES`].
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// The codes the API answers with besides the tool error codes, for the documentation test.
    pub const CODES: &'static [&'static str] = &[
        "unauthenticated",
        "not-authorized",
        "auth-unavailable",
        "overloaded",
        "invalid-request",
        "tool-not-offered",
        "model-not-configured",
        "not-ready",
    ];

    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// 401: no credentials, or wrong ones.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 400: the request body is not what the route takes.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", message)
    }

    /// The answer to a failed tool call, with the status that fits its code.
    pub fn from_tool(error: &ToolError) -> Self {
        let status = match error {
            ToolError::Plan(plan) => match plan {
                PlanError::NotFound { .. } => StatusCode::NOT_FOUND,
                PlanError::NamespaceDenied { .. } => StatusCode::FORBIDDEN,
                PlanError::NotAWriteVerb { .. } => StatusCode::BAD_REQUEST,
                PlanError::Store { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                // Expired, used, a digest that does not match, a stale plan, an approval that
                // is still required: the plan's state conflicts with the request.
                _ => StatusCode::CONFLICT,
            },
            ToolError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            ToolError::UnknownTool { .. } | ToolError::NotFound { .. } => StatusCode::NOT_FOUND,
            ToolError::UndeclaredAction { .. }
            | ToolError::UndeclaredKubeRequest { .. }
            | ToolError::Forbidden { .. }
            | ToolError::IamAccessDenied { .. }
            | ToolError::KubeForbidden { .. } => StatusCode::FORBIDDEN,
            ToolError::Aws { throttled: true, .. } | ToolError::NotConfigured { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ToolError::Aws { .. } | ToolError::Kube { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.code(), error.to_string())
    }

    /// The same error with a `Retry-After` of `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_errors_get_a_fitting_status() {
        let cases = [
            (ToolError::invalid_input("t", "bad"), StatusCode::BAD_REQUEST),
            (ToolError::UnknownTool { name: "x".into(), suggestion: None }, StatusCode::NOT_FOUND),
            (
                ToolError::Forbidden { tool: "t".into(), what: "read Secrets".into() },
                StatusCode::FORBIDDEN,
            ),
            (ToolError::Kube { tool: "t".into(), message: "down".into() }, StatusCode::BAD_GATEWAY),
            (
                ToolError::Aws {
                    tool: "t".into(),
                    operation: "logs:StartQuery".into(),
                    message: "slow down".into(),
                    throttled: true,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (ToolError::failed("t", "broke"), StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (error, status) in cases {
            let api = ApiError::from_tool(&error);
            assert_eq!(api.status, status, "{error}");
            assert_eq!(api.code, error.code());
        }
    }
}
