//! Preflight against the real SDK and moto (STS), a local IAM simulator built on clu-policy's
//! evaluator, and the fake API server's access reviews.

use std::sync::Arc;

use async_trait::async_trait;
use clu_core::Registry;
use clu_core::preflight::{self, PreflightOptions, Status};
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};
use clu_policy::eval::{Decision, RequestContext};
use clu_policy::{Action, Grant, PolicyDocument};
use serde_json::{Value, json};

#[derive(schemars::JsonSchema, serde::Deserialize)]
struct SimulateInput {
    principal_arn: String,
    actions: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
}

/// An IAM simulator that evaluates one fixed policy with clu-policy, in the output shape of the
/// Cloud tier's `iam_simulate_principal_policy`.
struct LocalSimulator {
    spec: ToolSpec,
    policy: PolicyDocument,
}

impl LocalSimulator {
    fn new(policy: Value) -> Self {
        let spec = ToolSpec::new::<SimulateInput>(
            preflight::SIMULATE_TOOL,
            "Simulate the agent's role against one fixed policy.",
            Tier::Cloud,
            Risk::Read,
            Permissions::default(),
        );
        Self { spec, policy: serde_json::from_value(policy).unwrap() }
    }
}

#[async_trait]
impl Tool for LocalSimulator {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, _: &ToolContext, input: Value) -> clu_core::Result<Value> {
        let input: SimulateInput = serde_json::from_value(input).unwrap();
        let mut results = Vec::new();
        for action in &input.actions {
            let parsed: Action = action.parse().unwrap();
            for resource in &input.resources {
                let decision = match clu_policy::eval::evaluate(
                    std::slice::from_ref(&self.policy),
                    &parsed,
                    resource,
                    &RequestContext::new(),
                ) {
                    Decision::Allowed { .. } => "allowed",
                    Decision::ExplicitDeny { .. } => "explicitDeny",
                    _ => "implicitDeny",
                };
                results
                    .push(json!({ "action": action, "resource": resource, "decision": decision }));
            }
        }
        Ok(json!({ "principal_arn": input.principal_arn, "results": results, "truncated": false }))
    }
}

/// A Cloud-like tool reading one bucket, to be allowed or denied by the simulator's policy.
struct BucketReader(ToolSpec);

#[derive(schemars::JsonSchema, serde::Deserialize)]
struct NoInput {}

impl BucketReader {
    fn new() -> Self {
        let grant =
            Grant::new(["s3:GetBucketPolicy"], ["arn:{partition}:s3:::{account}-logs"]).unwrap();
        Self(ToolSpec::new::<NoInput>(
            "bucket_reader",
            "Read the policy of the account's log bucket.",
            Tier::Cloud,
            Risk::Read,
            Permissions { iam: vec![grant], rbac: vec![] },
        ))
    }
}

#[async_trait]
impl Tool for BucketReader {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn invoke(&self, _: &ToolContext, _: Value) -> clu_core::Result<Value> {
        Ok(Value::Null)
    }
}

fn core_with(extra: Vec<Arc<dyn Tool>>) -> Registry {
    let mut tools = clu_core::tools::tools();
    tools.extend(extra);
    Registry::new(tools).unwrap()
}

fn no_bedrock() -> PreflightOptions {
    PreflightOptions { bedrock: false, ..PreflightOptions::default() }
}

#[tokio::test]
async fn without_clients_every_tool_that_needs_one_fails_with_the_reason() {
    let registry = clu_core::tools::registry().unwrap();
    let env = Arc::new(ToolEnv::default());
    let report = preflight::run_with(&registry, &env, &no_bedrock()).await;

    assert_eq!(report.kubernetes.status, Status::Failed);
    assert_eq!(report.iam.status, Status::Failed);
    assert_eq!(report.bedrock.status, Status::NotChecked);
    let k8s_get = report.tool("k8s_get").unwrap();
    assert!(!k8s_get.passed);
    assert!(k8s_get.reasons[0].contains("no Kubernetes client"), "{:?}", k8s_get.reasons);
    let logs = report.tool("logs_describe_log_groups").unwrap();
    assert!(logs.reasons.iter().any(|r| r.contains("no AWS configuration")), "{logs:?}");
    assert!(!report.offered_tools().contains("k8s_get"));
    assert!(!report.passed());
}

#[tokio::test]
async fn without_the_cloud_simulator_iam_is_not_checked_and_no_tool_is_held_back_for_it() {
    let registry = clu_core::tools::registry().unwrap();
    let env = Arc::new(ToolEnv {
        aws: Some(clu_testkit::moto::sdk_config("us-east-1").await),
        ..ToolEnv::default()
    });
    let report = preflight::run_with(&registry, &env, &no_bedrock()).await;

    assert_eq!(report.iam.status, Status::NotChecked, "{:?}", report.iam);
    assert!(report.iam.detail.contains("Cloud tier"), "{}", report.iam.detail);
    assert!(report.principal.as_deref().is_some_and(|p| p.starts_with("arn:aws:")));
    assert!(report.tool("logs_describe_log_groups").unwrap().passed);
}

#[tokio::test]
async fn a_simulated_denial_holds_back_exactly_the_tool_that_needs_the_action() {
    // moto's account is 123456789012; the policy allows the logs reads but not the bucket.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Action": ["logs:*", "cloudwatch:*", "bedrock:*", "aws-marketplace:*", "sts:*"], "Resource": "*" },
            { "Effect": "Allow", "Action": "s3:GetBucketPolicy", "Resource": "arn:aws:s3:::someone-else-logs" }
        ]
    });
    let registry =
        core_with(vec![Arc::new(LocalSimulator::new(policy)), Arc::new(BucketReader::new())]);
    let env = Arc::new(ToolEnv {
        aws: Some(clu_testkit::moto::sdk_config("us-east-1").await),
        ..ToolEnv::default()
    });
    let report = preflight::run_with(&registry, &env, &no_bedrock()).await;

    assert_eq!(report.iam.status, Status::Failed, "{:?}", report.iam);
    let bucket = report.tool("bucket_reader").unwrap();
    assert!(!bucket.passed);
    assert_eq!(
        bucket.reasons,
        ["IAM implicitDeny: `s3:GetBucketPolicy` on `arn:aws:s3:::123456789012-logs`"]
    );
    assert!(report.tool("logs_insights_query").unwrap().passed);
    assert!(!report.offered_tools().contains("bucket_reader"));
}

#[tokio::test]
async fn access_reviews_hold_back_the_tools_whose_rules_the_api_server_denies() {
    let server = clu_testkit::apiserver::FakeApiServer::start([]).await;
    server.deny_access("", "pods/log", "get");
    let registry = clu_core::tools::registry().unwrap();
    let env = Arc::new(ToolEnv { kube: Some(server.client()), ..ToolEnv::default() });
    let report = preflight::run_with(&registry, &env, &no_bedrock()).await;

    assert_eq!(report.kubernetes.status, Status::Failed, "{:?}", report.kubernetes);
    assert!(report.kubernetes.detail.contains("get pods/log"), "{}", report.kubernetes.detail);
    let logs = report.tool("k8s_logs").unwrap();
    assert_eq!(logs.reasons, ["RBAC denies `get pods/log`"]);
    assert!(report.tool("k8s_get").unwrap().passed);
    let reviews: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/selfsubjectaccessreviews"))
        .collect();
    assert!(!reviews.is_empty());
}

#[tokio::test]
async fn an_api_server_that_allows_everything_passes_every_kubernetes_tool() {
    let server = clu_testkit::apiserver::FakeApiServer::start([]).await;
    let registry = clu_core::tools::registry().unwrap();
    let env = Arc::new(ToolEnv { kube: Some(server.client()), ..ToolEnv::default() });
    let report = preflight::run_with(&registry, &env, &no_bedrock()).await;
    assert_eq!(report.kubernetes.status, Status::Passed, "{:?}", report.kubernetes);
    assert!(report.tool("k8s_list").unwrap().passed);
}

#[tokio::test]
async fn an_api_server_that_never_answers_fails_the_check_within_the_timeout() {
    // Accepts connections and holds them without a byte of answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let kube = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let registry = clu_core::tools::registry().unwrap();
    let env = Arc::new(ToolEnv { kube: Some(kube), ..ToolEnv::default() });
    let options =
        PreflightOptions { bedrock: false, timeout: std::time::Duration::from_millis(300) };

    let started = std::time::Instant::now();
    let report = preflight::run_with(&registry, &env, &options).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(report.kubernetes.status, Status::Failed);
    assert!(report.kubernetes.detail.contains("no answer within 0.3 s"), "{:?}", report.kubernetes);
    let k8s_get = report.tool("k8s_get").unwrap();
    assert!(!k8s_get.passed);
    assert!(k8s_get.reasons.iter().any(|r| r.contains("no answer within")), "{k8s_get:?}");
}
