//! The AWS half of the guard: an SDK interceptor that refuses undeclared operations.

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use clu_policy::Action;

use super::{ALWAYS_REFUSED_ACTIONS, Invocation, Refusal, Use};
use crate::ToolError;
use crate::tool::ToolContext;

/// The SDK's error type for an operation whose error is `E`.
pub type SdkError<E> = aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>;

/// The IAM actions the guard authorized for one operation, kept on the response so an
/// AccessDenied can name the action AWS refused.
#[derive(Clone, Debug)]
struct AuthorizedActions(Vec<Action>);

impl Storable for AuthorizedActions {
    type Storer = StoreReplace<Self>;
}

/// The interceptor every AWS client a tool builds carries. See the [module docs](super).
#[derive(Clone)]
pub struct AwsGuard {
    invocation: Arc<Invocation>,
}

impl fmt::Debug for AwsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsGuard").field("tool", &self.invocation.tool).finish()
    }
}

impl AwsGuard {
    pub(crate) fn new(invocation: Arc<Invocation>) -> Self {
        Self { invocation }
    }

    /// Decides on one operation: the actions it needs, or why it may not run.
    fn authorize(&self, service: &str, operation: &str) -> Result<Vec<Action>, Refusal> {
        let tool = self.invocation.tool;
        let actions =
            clu_policy::sdk::actions_for(service, operation).map_err(|_| Refusal::Unmapped {
                tool: tool.to_owned(),
                service: service.to_owned(),
                operation: operation.to_owned(),
            })?;
        for action in &actions {
            self.invocation.record(Use::Iam(action.clone()));
            if ALWAYS_REFUSED_ACTIONS
                .iter()
                .any(|refused| action.as_str().eq_ignore_ascii_case(refused))
            {
                return Err(Refusal::Forbidden {
                    tool: tool.to_owned(),
                    what: format!("call `{action}`: secret values are never read"),
                });
            }
            if !self.invocation.declared_actions.contains(action) {
                return Err(Refusal::UndeclaredAction {
                    tool: tool.to_owned(),
                    action: action.clone(),
                });
            }
        }
        Ok(actions)
    }
}

impl Intercept for AwsGuard {
    fn name(&self) -> &'static str {
        "CluPermissionGuard"
    }

    // Not `read_before_execution`: the SDK runs a client's interceptors there before the
    // operation's own configuration, which carries its `Metadata`, is applied. This hook runs
    // after that and still before the request is serialized, signed or sent.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(metadata) => (metadata.service().to_owned(), metadata.name().to_owned()),
            None => (String::from("an unknown service"), String::from("an unnamed operation")),
        };
        match self.authorize(&service, &operation) {
            Ok(actions) => {
                tracing::debug!(tool = self.invocation.tool, %service, %operation, "aws call authorized");
                self.invocation.with_log(|log| log.aws_actions.extend(actions.iter().cloned()));
                cfg.interceptor_state().store_put(AuthorizedActions(actions));
                Ok(())
            }
            Err(refusal) => {
                tracing::warn!(tool = self.invocation.tool, %service, %operation, %refusal, "aws call refused");
                self.invocation.with_log(|log| log.refused.push(refusal.to_string()));
                Err(Box::new(refusal))
            }
        }
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(actions) = cfg.load::<AuthorizedActions>() {
            context.response_mut().add_extension(actions.clone());
        }
        Ok(())
    }
}

/// AWS error codes that mean "the principal lacks a permission".
const ACCESS_DENIED_CODES: [&str; 6] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthorizationError",
    "NotAuthorized",
];

/// AWS error codes that mean "slow down".
const THROTTLING_CODES: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// Whether an AWS error code names a missing resource.
fn is_not_found(code: &str) -> bool {
    code.contains("NotFound")
        || code.starts_with("NoSuch")
        || code == "InvalidParameterValue.NotFound"
}

pub(crate) fn map_sdk_error<E>(context: &ToolContext, error: SdkError<E>) -> ToolError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let tool = context.tool().to_owned();
    if let Some(refusal) = Refusal::find(&error) {
        return refusal.clone().into_tool_error();
    }

    let authorized = error.raw_response().and_then(|r| r.extension::<AuthorizedActions>()).cloned();
    let operation = match &authorized {
        Some(AuthorizedActions(actions)) if !actions.is_empty() => {
            actions.iter().map(Action::to_string).collect::<Vec<_>>().join(" + ")
        }
        _ => context
            .invocation
            .with_log(|log| log.aws_actions.last().map(Action::to_string))
            .unwrap_or_else(|| "call".to_owned()),
    };

    let code = error.code().unwrap_or_default().to_owned();
    let message = error.message().map(str::to_owned).unwrap_or_else(|| {
        aws_smithy_types::error::display::DisplayErrorContext(&error).to_string()
    });
    if ACCESS_DENIED_CODES.contains(&code.as_str()) {
        let action = authorized.as_ref().and_then(|a| a.0.first().cloned());
        let resource = action
            .as_ref()
            .map(|a| context.invocation.permissions.resources_for(a, context.arn_context()))
            .unwrap_or_else(|| "*".to_owned());
        return ToolError::IamAccessDenied { tool, action: operation, resource, message };
    }
    if is_not_found(&code) {
        return ToolError::NotFound { what: format!("{operation}: {message}") };
    }
    let throttled = THROTTLING_CODES.contains(&code.as_str());
    let message = if code.is_empty() { message } else { format!("{code}: {message}") };
    ToolError::Aws { tool, operation, message, throttled }
}
