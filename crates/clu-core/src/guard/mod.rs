//! The permission guard: only what a tool declared can leave the process.
//!
//! Every AWS client a tool gets carries [`aws::AwsGuard`], an SDK interceptor that maps the
//! operation to its IAM actions and refuses, before anything is signed or sent, an action the
//! tool did not declare. Every Kubernetes client carries [`kube::guarded_client`]'s service,
//! which maps the HTTP request to an RBAC (verb, group, resource) and refuses what the tool's
//! rules do not cover. Both log what was used for the audit event, and can record it for the
//! tests that prove each declaration equals what the tool really uses.

pub mod aws;
pub mod kube;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use clu_policy::Action;

use crate::tool::Permissions;
use kube::KubeRequest;

/// AWS actions no tool may perform, whatever it declares: Clu never reads a secret value.
pub const ALWAYS_REFUSED_ACTIONS: [&str; 2] =
    ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"];

/// Kubernetes resources no tool may touch, whatever it declares.
pub const ALWAYS_REFUSED_RESOURCES: [(&str, &str); 1] = [("", "secrets")];

/// One thing a tool really used, as the recorder saw it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Use {
    /// An IAM action.
    Iam(Action),
    /// A Kubernetes request, reduced to what RBAC decides on.
    Kube {
        /// The RBAC verb.
        verb: String,
        /// The API group, `""` for core.
        group: String,
        /// The resource with its subresource, such as `pods/log`.
        resource: String,
    },
}

/// Collects (tool, use) pairs across calls, for declaration tests.
#[derive(Clone, Debug, Default)]
pub struct Recorder(Arc<Mutex<BTreeSet<(String, Use)>>>);

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn record(&self, tool: &str, used: Use) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert((tool.to_owned(), used));
    }

    /// What `tool` used so far.
    pub fn uses_of(&self, tool: &str) -> BTreeSet<Use> {
        let uses = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        uses.iter().filter(|(t, _)| t == tool).map(|(_, u)| u.clone()).collect()
    }

    /// The IAM actions `tool` used so far.
    pub fn actions_of(&self, tool: &str) -> BTreeSet<Action> {
        self.uses_of(tool)
            .into_iter()
            .filter_map(|u| match u {
                Use::Iam(action) => Some(action),
                Use::Kube { .. } => None,
            })
            .collect()
    }

    /// Every tool that used anything.
    pub fn tools(&self) -> BTreeSet<String> {
        let uses = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        uses.iter().map(|(t, _)| t.clone()).collect()
    }
}

/// What one tool call did, for its audit event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallLog {
    /// IAM actions of the AWS operations the call made, in order.
    pub aws_actions: Vec<Action>,
    /// Kubernetes requests the call made, in order.
    pub kube_requests: Vec<KubeRequest>,
    /// What the guard refused.
    pub refused: Vec<String>,
}

/// The running tool as the guards see it.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) tool: &'static str,
    pub(crate) permissions: Permissions,
    pub(crate) declared_actions: BTreeSet<Action>,
    pub(crate) recorder: Option<Recorder>,
    pub(crate) log: Mutex<CallLog>,
}

impl Invocation {
    pub(crate) fn new(
        tool: &'static str,
        permissions: Permissions,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            tool,
            declared_actions: permissions.actions(),
            permissions,
            recorder,
            log: Mutex::new(CallLog::default()),
        }
    }

    pub(crate) fn record(&self, used: Use) {
        if let Some(recorder) = &self.recorder {
            recorder.record(self.tool, used);
        }
    }

    pub(crate) fn with_log<T>(&self, f: impl FnOnce(&mut CallLog) -> T) -> T {
        f(&mut self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn take_log(&self) -> CallLog {
        self.with_log(std::mem::take)
    }
}

/// Why the guard stopped a request. Carried as the source of the SDK or kube error, and found
/// again by [`ToolContext::aws_error`](crate::tool::ToolContext::aws_error).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The tool did not declare the IAM action.
    #[error("tool `{tool}` did not declare `{action}`")]
    UndeclaredAction {
        /// The tool.
        tool: String,
        /// The action.
        action: Action,
    },
    /// The tool's RBAC rules do not cover the request.
    #[error("tool `{tool}` did not declare {request}")]
    UndeclaredKubeRequest {
        /// The tool.
        tool: String,
        /// The request.
        request: Box<KubeRequest>,
    },
    /// No tool may do this.
    #[error("tool `{tool}` may not {what}")]
    Forbidden {
        /// The tool.
        tool: String,
        /// What it tried.
        what: String,
    },
    /// The guard cannot tell which IAM action an operation needs, so it does not let it pass.
    #[error("tool `{tool}` called {service} `{operation}`, which Clu cannot map to an IAM action")]
    Unmapped {
        /// The tool.
        tool: String,
        /// The SDK's service id.
        service: String,
        /// The operation.
        operation: String,
    },
    /// The request could not be understood as a Kubernetes API request.
    #[error("tool `{tool}` sent a request the guard cannot classify: {method} {path}")]
    UnknownKubePath {
        /// The tool.
        tool: String,
        /// The HTTP method.
        method: String,
        /// The path.
        path: String,
    },
}

impl Refusal {
    /// Finds a refusal in an error's source chain.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(refusal) = error.downcast_ref::<Refusal>() {
                return Some(refusal);
            }
            current = error.source();
        }
        None
    }

    pub(crate) fn into_tool_error(self) -> crate::ToolError {
        use crate::ToolError;
        match self {
            Refusal::UndeclaredAction { tool, action } => {
                ToolError::UndeclaredAction { tool, action }
            }
            Refusal::UndeclaredKubeRequest { tool, request } => {
                ToolError::UndeclaredKubeRequest { tool, request }
            }
            Refusal::Forbidden { tool, what } => ToolError::Forbidden { tool, what },
            other @ (Refusal::Unmapped { .. } | Refusal::UnknownKubePath { .. }) => {
                let tool = match &other {
                    Refusal::Unmapped { tool, .. } | Refusal::UnknownKubePath { tool, .. } => {
                        tool.clone()
                    }
                    _ => String::new(),
                };
                ToolError::Failed { tool, message: other.to_string() }
            }
        }
    }
}
