//! Preflight: before the agent offers a tool to the model, check that the tool can work.
//!
//! Three questions, each answered by the systems that decide them rather than guessed from
//! configuration:
//!
//! - **Kubernetes**: a SelfSubjectAccessReview for every group, resource and verb a tool's RBAC
//!   rules name, asked of the API server as the agent's own identity.
//! - **IAM**: `iam:SimulatePrincipalPolicy` on the role the agent runs as, for every grant of
//!   every tool, with the grant's resources rendered for the caller's account. This needs the
//!   Cloud tier's `iam_simulate_principal_policy`; without it the answer is "not checked",
//!   with the reason, and no tool is held back for it.
//! - **Bedrock**: one tiny Converse call through `bedrock_invoke_model`, so the model the
//!   agent is configured with is known to answer.
//!
//! Each request goes through the registry as an internal tool, so the guard sees it and the
//! permissions preflight needs are derived like any other. A tool fails preflight when a check
//! shows it cannot work; [`Preflight::offered_tools`] is what the model may be offered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agent::MODEL_TOOL;
use crate::error::ToolError;
use crate::registry::Registry;
use crate::tool::ToolEnv;
use crate::tools::identity::{
    ACCESS_REVIEW_TOOL, AccessAnswer, AccessQuestion, CALLER_IDENTITY_TOOL,
};

/// The Cloud tier's simulation tool, used when the registry holds it.
pub const SIMULATE_TOOL: &str = "iam_simulate_principal_policy";

/// How one check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The check ran and everything it asked was allowed.
    Passed,
    /// The check ran and found something the agent cannot do, or could not run at all.
    Failed,
    /// The check was not run; the detail says why.
    NotChecked,
}

/// The result of one of the three checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// How it ended.
    pub status: Status,
    /// What was checked, or why it could not be.
    pub detail: String,
}

impl Check {
    fn new(status: Status, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }
}

/// Whether one tool passed, and if not, every reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCheck {
    /// The tool.
    pub tool: String,
    /// Whether the tool may be offered.
    pub passed: bool,
    /// Why it may not, one line per denied permission or missing client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// What preflight found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    /// The principal the agent runs as in AWS, when STS answered.
    pub principal: Option<String>,
    /// Kubernetes RBAC.
    pub kubernetes: Check,
    /// IAM.
    pub iam: Check,
    /// Bedrock model access.
    pub bedrock: Check,
    /// Every tool of the registry, in its order.
    pub tools: Vec<ToolCheck>,
}

impl Preflight {
    /// The tools that passed, which the model may be offered.
    pub fn offered_tools(&self) -> BTreeSet<String> {
        self.tools.iter().filter(|t| t.passed).map(|t| t.tool.clone()).collect()
    }

    /// The check of one tool.
    pub fn tool(&self, name: &str) -> Option<&ToolCheck> {
        self.tools.iter().find(|t| t.tool == name)
    }

    /// Whether no check failed (checks not run do not count against it).
    pub fn passed(&self) -> bool {
        [&self.kubernetes, &self.iam, &self.bedrock].iter().all(|c| c.status != Status::Failed)
            && self.tools.iter().all(|t| t.passed)
    }
}

/// Which checks to run.
#[derive(Clone, Debug)]
pub struct PreflightOptions {
    /// Send the one tiny Converse call; off where a model call must not be spent.
    pub bedrock: bool,
    /// How long one request of a check may take; past it the check fails (or, for the IAM
    /// simulation, is not checked) naming the timeout, so a hung API server or endpoint cannot
    /// hold preflight, and whatever waits on it, forever.
    pub timeout: Duration,
}

impl Default for PreflightOptions {
    fn default() -> Self {
        Self { bedrock: true, timeout: DEFAULT_TIMEOUT }
    }
}

/// The default bound on one request of a check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why one request of a check gave no answer.
#[derive(Debug)]
enum Unanswered {
    /// The tool failed.
    Tool(ToolError),
    /// The request outlived the bound.
    TimedOut(Duration),
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tool(error) => error.fmt(f),
            Self::TimedOut(after) => write!(f, "no answer within {} s", after.as_secs_f64()),
        }
    }
}

/// One call of an internal tool, bounded by the options' timeout.
async fn ask(
    registry: &Registry,
    env: &Arc<ToolEnv>,
    options: &PreflightOptions,
    tool: &str,
    input: Value,
) -> Result<Value, Unanswered> {
    match tokio::time::timeout(options.timeout, registry.call(env, tool, input)).await {
        Ok(outcome) => outcome.result.map_err(Unanswered::Tool),
        Err(_) => Err(Unanswered::TimedOut(options.timeout)),
    }
}

/// Runs every check with the default options.
pub async fn run(registry: &Registry, env: &Arc<ToolEnv>) -> Preflight {
    run_with(registry, env, &PreflightOptions::default()).await
}

/// Runs the checks `options` asks for.
pub async fn run_with(
    registry: &Registry,
    env: &Arc<ToolEnv>,
    options: &PreflightOptions,
) -> Preflight {
    let mut reasons: BTreeMap<&str, Vec<String>> =
        registry.tools().map(|t| (t.spec().name, Vec::new())).collect();

    let kubernetes = kubernetes(registry, env, options, &mut reasons).await;
    let (principal, iam) = iam(registry, env, options, &mut reasons).await;
    let bedrock = if options.bedrock {
        bedrock(registry, env, options).await
    } else {
        Check::new(Status::NotChecked, "skipped: no model call was to be made")
    };

    let tools = registry
        .tools()
        .map(|tool| {
            let name = tool.spec().name;
            let reasons = reasons.remove(name).unwrap_or_default();
            ToolCheck { tool: name.to_owned(), passed: reasons.is_empty(), reasons }
        })
        .collect();
    Preflight { principal, kubernetes, iam, bedrock, tools }
}

async fn kubernetes(
    registry: &Registry,
    env: &Arc<ToolEnv>,
    options: &PreflightOptions,
    reasons: &mut BTreeMap<&str, Vec<String>>,
) -> Check {
    let with_rules: Vec<_> =
        registry.tools().filter(|t| !t.spec().permissions.rbac.is_empty()).collect();
    if with_rules.is_empty() {
        return Check::new(Status::NotChecked, "no tool declares RBAC rules");
    }
    let fail_all = |reasons: &mut BTreeMap<&str, Vec<String>>, why: &str| {
        for tool in &with_rules {
            if let Some(list) = reasons.get_mut(tool.spec().name) {
                list.push(why.to_owned());
            }
        }
    };
    if env.kube.is_none() {
        let why = "no Kubernetes client is configured (KUBECONFIG or in-cluster)";
        fail_all(reasons, why);
        return Check::new(Status::Failed, why);
    }
    if registry.get(ACCESS_REVIEW_TOOL).is_none() {
        return Check::new(
            Status::NotChecked,
            format!("the registry has no `{ACCESS_REVIEW_TOOL}`"),
        );
    }

    let questions =
        AccessQuestion::from_rules(with_rules.iter().flat_map(|t| &t.spec().permissions.rbac));
    let asked = questions.len();
    let outcome =
        ask(registry, env, options, ACCESS_REVIEW_TOOL, json!({ "questions": questions })).await;
    let answers: Vec<AccessAnswer> = match outcome
        .map_err(|e| e.to_string())
        .and_then(|v| serde_json::from_value(v["answers"].clone()).map_err(|e| e.to_string()))
    {
        Ok(answers) => answers,
        Err(error) => {
            let why = format!("the access review failed: {error}");
            fail_all(reasons, &why);
            return Check::new(Status::Failed, why);
        }
    };

    let denied: BTreeSet<&AccessQuestion> =
        answers.iter().filter(|a| !a.allowed).map(|a| &a.question).collect();
    for tool in &with_rules {
        let Some(list) = reasons.get_mut(tool.spec().name) else { continue };
        for question in AccessQuestion::from_rules(&tool.spec().permissions.rbac) {
            if denied.contains(&question) {
                list.push(format!("RBAC denies `{}`", describe(&question)));
            }
        }
    }
    if denied.is_empty() {
        Check::new(Status::Passed, format!("{asked} access reviews allowed"))
    } else {
        let list: Vec<String> = denied.iter().map(|q| describe(q)).collect();
        Check::new(Status::Failed, format!("RBAC denies {}", list.join(", ")))
    }
}

fn describe(question: &AccessQuestion) -> String {
    match question.group.as_str() {
        "" => format!("{} {}", question.verb, question.resource),
        group => format!("{} {}.{group}", question.verb, question.resource),
    }
}

async fn iam(
    registry: &Registry,
    env: &Arc<ToolEnv>,
    options: &PreflightOptions,
    reasons: &mut BTreeMap<&str, Vec<String>>,
) -> (Option<String>, Check) {
    let with_grants: Vec<_> =
        registry.tools().filter(|t| !t.spec().permissions.iam.is_empty()).collect();
    if with_grants.is_empty() {
        return (None, Check::new(Status::NotChecked, "no tool declares IAM grants"));
    }
    if env.aws.is_none() {
        let why = "no AWS configuration";
        for tool in &with_grants {
            if let Some(list) = reasons.get_mut(tool.spec().name) {
                list.push(why.to_owned());
            }
        }
        return (None, Check::new(Status::Failed, why));
    }

    // Who the agent is decides both the principal to simulate and the account its grants'
    // resources are rendered for. Without an answer from STS no AWS tool can work.
    let identity = ask(registry, env, options, CALLER_IDENTITY_TOOL, json!({})).await;
    let (arn, account) = match identity {
        Ok(value) => (
            value["arn"].as_str().unwrap_or_default().to_owned(),
            value["account"].as_str().unwrap_or_default().to_owned(),
        ),
        Err(error) => {
            let why = format!("the AWS credentials were refused: {error}");
            for tool in &with_grants {
                if let Some(list) = reasons.get_mut(tool.spec().name) {
                    list.push(why.clone());
                }
            }
            return (None, Check::new(Status::Failed, why));
        }
    };
    if registry.get(SIMULATE_TOOL).is_none() {
        return (
            Some(arn),
            Check::new(
                Status::NotChecked,
                format!(
                    "not checked: IAM simulation needs `{SIMULATE_TOOL}` from the Cloud tier, \
                     which is not enabled"
                ),
            ),
        );
    }

    let mut context = env.arn_context.clone();
    if !account.is_empty() {
        context.account = account;
    }
    let mut simulated = 0;
    let mut denied_total = BTreeSet::new();
    let mut resolved = arn.clone();
    for tool in &with_grants {
        let spec = tool.spec();
        for grant in &spec.permissions.iam {
            let actions: Vec<String> = grant.actions.iter().map(ToString::to_string).collect();
            let resources: Vec<String> =
                grant.resources.iter().map(|r| r.render(&context)).collect();
            let input = json!({ "principal_arn": arn, "actions": actions, "resources": resources });
            let answer = match ask(registry, env, options, SIMULATE_TOOL, input).await {
                Ok(answer) => answer,
                Err(error) => {
                    let why = format!("not checked: the simulation failed: {error}");
                    return (Some(arn), Check::new(Status::NotChecked, why));
                }
            };
            simulated += actions.len();
            if let Some(principal) = answer["principal_arn"].as_str() {
                resolved = principal.to_owned();
            }
            for result in answer["results"].as_array().into_iter().flatten() {
                if result["decision"].as_str() == Some("allowed") {
                    continue;
                }
                let action = result["action"].as_str().unwrap_or("?");
                let resource = result["resource"].as_str().unwrap_or("*");
                let decision = result["decision"].as_str().unwrap_or("denied");
                denied_total.insert(format!("{action} on {resource}"));
                if let Some(list) = reasons.get_mut(spec.name) {
                    list.push(format!("IAM {decision}: `{action}` on `{resource}`"));
                }
            }
        }
    }
    let check = if denied_total.is_empty() {
        Check::new(Status::Passed, format!("{simulated} actions allowed for {resolved}"))
    } else {
        let list: Vec<String> = denied_total.into_iter().collect();
        Check::new(Status::Failed, format!("{resolved} is denied {}", list.join(", ")))
    };
    (Some(resolved), check)
}

async fn bedrock(registry: &Registry, env: &Arc<ToolEnv>, options: &PreflightOptions) -> Check {
    if registry.get(MODEL_TOOL).is_none() {
        return Check::new(Status::NotChecked, format!("the registry has no `{MODEL_TOOL}`"));
    }
    if env.aws.is_none() {
        return Check::new(Status::Failed, "no AWS configuration");
    }
    match ask(registry, env, options, MODEL_TOOL, json!({})).await {
        Ok(value) => Check::new(Status::Passed, summary(&value)),
        Err(Unanswered::Tool(error)) if error.code() == "invalid-input" => {
            Check::new(Status::NotChecked, format!("not checked: {error}"))
        }
        Err(error) => Check::new(Status::Failed, error.to_string()),
    }
}

fn summary(value: &Value) -> String {
    match (value["model_id"].as_str(), value["latency_ms"].as_u64()) {
        (Some(model), Some(latency)) => format!("{model} answered in {latency} ms"),
        (Some(model), None) => format!("{model} answered"),
        _ => "the model answered".to_owned(),
    }
}
