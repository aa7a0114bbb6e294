//! Who the agent runs as and what it may do: its AWS caller identity and Kubernetes access
//! reviews. Both are internal tools, so preflight's own requests pass the guard like any other.

use async_trait::async_trait;
use futures::StreamExt as _;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Result, ToolError};
use crate::rbac::RbacRule;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// The name of the caller-identity tool.
pub const CALLER_IDENTITY_TOOL: &str = "sts_get_caller_identity";

/// The name of the access-review tool.
pub const ACCESS_REVIEW_TOOL: &str = "k8s_access_review";

/// Input of `sts_get_caller_identity`: nothing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallerIdentityInput {}

/// Asks STS which principal the agent's credentials belong to.
pub struct CallerIdentity {
    spec: ToolSpec,
}

impl CallerIdentity {
    /// The tool.
    pub fn new() -> Self {
        // GetCallerIdentity has no resource type; IAM takes only `*` for it, and it is allowed
        // to every principal whatever its policies say.
        let grant = clu_policy::Grant::new(["sts:GetCallerIdentity"], ["*"])
            .unwrap_or_else(|error| unreachable!("a fixed grant is valid: {error}"));
        Self {
            spec: ToolSpec::new::<CallerIdentityInput>(
                CALLER_IDENTITY_TOOL,
                "Return the account, user id and ARN of the principal the agent runs as.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![grant], rbac: vec![] },
            )
            .internal(),
        }
    }
}

impl Default for CallerIdentity {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for CallerIdentity {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let _: CallerIdentityInput = context.parse_input(input)?;
        let client = crate::aws_client!(context, aws_sdk_sts)?;
        let identity =
            client.get_caller_identity().send().await.map_err(|e| context.aws_error(e))?;
        Ok(json!({
            "account": identity.account,
            "user_id": identity.user_id,
            "arn": identity.arn,
        }))
    }
}

/// One question to the API server: may the agent do `verb` on `resource`?
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessQuestion {
    /// The API group, `""` for the core group.
    pub group: String,
    /// The resource, with `/subresource` for a subresource (`pods/log`).
    pub resource: String,
    /// The verb.
    pub verb: String,
    /// The namespace; every namespace when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl AccessQuestion {
    /// Every question a set of RBAC rules raises, one per group, resource and verb.
    pub fn from_rules<'a>(rules: impl IntoIterator<Item = &'a RbacRule>) -> Vec<AccessQuestion> {
        let mut questions = std::collections::BTreeSet::new();
        for rule in rules {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        questions.insert(AccessQuestion {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb: verb.clone(),
                            namespace: None,
                        });
                    }
                }
            }
        }
        questions.into_iter().collect()
    }
}

/// Input of `k8s_access_review`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessReviewInput {
    /// The questions, answered together.
    #[schemars(length(min = 1, max = 500))]
    pub questions: Vec<AccessQuestion>,
}

/// The API server's answer to one question.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct AccessAnswer {
    /// The question.
    #[serde(flatten)]
    pub question: AccessQuestion,
    /// Whether the agent may.
    pub allowed: bool,
    /// The authorizer's reason or the review's error, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Asks the API server, with SelfSubjectAccessReviews, what the agent's identity may do.
pub struct AccessReview {
    spec: ToolSpec,
}

impl AccessReview {
    /// The tool.
    pub fn new() -> Self {
        let rule = RbacRule::new("authorization.k8s.io", ["selfsubjectaccessreviews"], ["create"]);
        Self {
            spec: ToolSpec::new::<AccessReviewInput>(
                ACCESS_REVIEW_TOOL,
                "Ask the API server whether the agent's own identity may perform each verb on \
                 each resource (SelfSubjectAccessReview).",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![], rbac: vec![rule] },
            )
            .internal(),
        }
    }
}

impl Default for AccessReview {
    fn default() -> Self {
        Self::new()
    }
}

/// How many reviews are in flight at once: enough to answer a registry's questions in well
/// under a second, few enough not to burst the API server's priority level.
const REVIEW_CONCURRENCY: usize = 8;

#[async_trait]
impl Tool for AccessReview {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: AccessReviewInput = context.parse_input(input)?;
        let api: Api<SelfSubjectAccessReview> = Api::all(context.kube()?);
        let answers: Vec<Result<AccessAnswer>> = futures::stream::iter(input.questions)
            .map(|question| review(context, &api, question))
            .buffered(REVIEW_CONCURRENCY)
            .collect()
            .await;
        let answers = answers.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(json!({ "answers": answers }))
    }
}

async fn review(
    context: &ToolContext,
    api: &Api<SelfSubjectAccessReview>,
    question: AccessQuestion,
) -> Result<AccessAnswer> {
    let (resource, subresource) = match question.resource.split_once('/') {
        Some((resource, subresource)) => (resource.to_owned(), Some(subresource.to_owned())),
        None => (question.resource.clone(), None),
    };
    let request = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(question.group.clone()),
                resource: Some(resource),
                subresource,
                verb: Some(question.verb.clone()),
                namespace: question.namespace.clone(),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer =
        api.create(&PostParams::default(), &request).await.map_err(|e| context.kube_error(e))?;
    let Some(status) = answer.status else {
        return Err(ToolError::failed(
            context.tool(),
            "the API server answered a SelfSubjectAccessReview without a status",
        ));
    };
    let reason = status
        .evaluation_error
        .filter(|e| !e.is_empty())
        .or(status.reason.filter(|r| !r.is_empty()));
    Ok(AccessAnswer {
        question,
        allowed: status.allowed && !status.denied.unwrap_or(false),
        reason,
    })
}
