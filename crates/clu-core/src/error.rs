//! Errors of tool calls, each with a stable, documented code an operator can search for.

use clu_policy::Action;

use crate::guard::kube::KubeRequest;

/// A `Result` whose error is [`ToolError`].
pub type Result<T, E = ToolError> = std::result::Result<T, E>;

/// Why a tool call failed. The model reads the message; operators read the code.
///
/// Messages are lowercase fragments that name what was wrong and never repeat their source, so
/// a chain printed with `{:#}` reads once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The registry has no tool of that name.
    #[error("no tool named `{name}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// A close name the registry does have.
        suggestion: Option<String>,
    },
    /// The input does not fit the tool's schema.
    #[error("invalid input for tool `{tool}`: {message}")]
    InvalidInput {
        /// The tool.
        tool: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The tool tried an AWS operation its declaration does not cover; nothing was sent.
    #[error("tool `{tool}` did not declare `{action}`, so the call was refused before it was sent")]
    UndeclaredAction {
        /// The tool.
        tool: String,
        /// The IAM action the operation needs.
        action: Action,
    },
    /// The tool tried a Kubernetes request its RBAC rules do not cover; nothing was sent.
    #[error(
        "tool `{tool}` did not declare {request}, so the request was refused before it was sent"
    )]
    UndeclaredKubeRequest {
        /// The tool.
        tool: String,
        /// The request as RBAC sees it.
        request: Box<KubeRequest>,
    },
    /// Some material is never read by any tool, whatever its declaration.
    #[error("tool `{tool}` may not {what}: Clu never reads it")]
    Forbidden {
        /// The tool.
        tool: String,
        /// What it tried, such as "read Secrets".
        what: String,
    },
    /// AWS refused the call for lack of permission.
    #[error("tool `{tool}` needs `{action}` on `{resource}`: {message}")]
    IamAccessDenied {
        /// The tool.
        tool: String,
        /// The action AWS refused.
        action: String,
        /// The resources the tool declared for it.
        resource: String,
        /// AWS's own words.
        message: String,
    },
    /// The Kubernetes API server refused the request for lack of RBAC permission.
    #[error("tool `{tool}` is forbidden by the cluster: {message}")]
    KubeForbidden {
        /// The tool.
        tool: String,
        /// The API server's message.
        message: String,
    },
    /// The object or resource asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// AWS answered with an error other than a refusal.
    #[error("tool `{tool}`: AWS {operation} failed: {message}")]
    Aws {
        /// The tool.
        tool: String,
        /// The operation, as `service:Action`.
        operation: String,
        /// The error code and message AWS gave, or the transport failure.
        message: String,
        /// Whether AWS throttled the call after the SDK's own retries.
        throttled: bool,
    },
    /// The Kubernetes API server answered with an error, or could not be reached.
    #[error("tool `{tool}`: Kubernetes request failed: {message}")]
    Kube {
        /// The tool.
        tool: String,
        /// What the API server or the transport said.
        message: String,
    },
    /// The tool needs a service that this agent was not given.
    #[error("tool `{tool}` needs {what}, which this agent is not configured with")]
    NotConfigured {
        /// The tool.
        tool: String,
        /// What is missing, such as "an AWS configuration".
        what: String,
    },
    /// A plan could not be made, approved or applied.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// The tool failed for a reason of its own.
    #[error("tool `{tool}` failed: {message}")]
    Failed {
        /// The tool.
        tool: String,
        /// What went wrong.
        message: String,
    },
}

impl ToolError {
    /// The stable kebab-case code of the error, listed in `docs/errors.md`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTool { .. } => "unknown-tool",
            Self::InvalidInput { .. } => "invalid-input",
            Self::UndeclaredAction { .. } => "undeclared-action",
            Self::UndeclaredKubeRequest { .. } => "undeclared-k8s-request",
            Self::Forbidden { .. } => "forbidden-material",
            Self::IamAccessDenied { .. } => "iam-access-denied",
            Self::KubeForbidden { .. } => "k8s-forbidden",
            Self::NotFound { .. } => "not-found",
            Self::Aws { throttled: true, .. } => "aws-throttled",
            Self::Aws { .. } => "aws-error",
            Self::Kube { .. } => "k8s-error",
            Self::NotConfigured { .. } => "not-configured",
            Self::Plan(error) => error.code(),
            Self::Failed { .. } => "tool-failed",
        }
    }

    /// Every code [`ToolError::code`] can return, for the documentation test.
    pub const CODES: &'static [&'static str] = &[
        "unknown-tool",
        "invalid-input",
        "undeclared-action",
        "undeclared-k8s-request",
        "forbidden-material",
        "iam-access-denied",
        "k8s-forbidden",
        "not-found",
        "aws-throttled",
        "aws-error",
        "k8s-error",
        "not-configured",
        "tool-failed",
        "approval-required",
        "plan-not-found",
        "plan-expired",
        "plan-used",
        "digest-mismatch",
        "plan-stale",
        "namespace-denied",
        "not-a-write-verb",
        "plan-store-failed",
    ];

    /// A tool failure with a message of the tool's own.
    pub fn failed(tool: &str, message: impl Into<String>) -> Self {
        Self::Failed { tool: tool.to_owned(), message: message.into() }
    }

    /// An input error naming what is wrong.
    pub fn invalid_input(tool: &str, message: impl Into<String>) -> Self {
        Self::InvalidInput { tool: tool.to_owned(), message: message.into() }
    }
}
