//! The AWS guard against real SDK clients: moto for what it serves, a counting stub for the
//! rest. These tests prove that only declared actions leave the process, that secret values
//! are never fetched, and that AWS errors become errors naming the missing permission.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clu_core::guard::Recorder;
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};
use clu_core::{Registry, ToolError};
use clu_policy::Grant;
use clu_testkit::awsstub::{AwsJsonStub, StubReply};
use clu_testkit::moto;
use serde_json::{Value, json};

/// What a probe tool does when invoked.
#[derive(Clone, Copy)]
enum Call {
    DescribeLogStreams,
    GetSecretValue,
}

/// A tool whose declaration and behaviour a test chooses, to see the guard decide.
struct Probe {
    spec: ToolSpec,
    call: Call,
}

#[derive(schemars::JsonSchema, serde::Deserialize)]
struct NoInput {}

impl Probe {
    fn new(declared: &[&str], call: Call) -> Self {
        let grant = Grant::new(declared.iter().copied(), ["*"]).unwrap();
        let permissions = Permissions { iam: vec![grant], rbac: vec![] };
        let spec = ToolSpec::new::<NoInput>(
            "probe",
            "A tool built by the test to exercise the permission guard.",
            Tier::Core,
            Risk::Read,
            permissions,
        );
        Self { spec, call }
    }
}

#[async_trait]
impl Tool for Probe {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, _input: Value) -> clu_core::Result<Value> {
        match self.call {
            Call::DescribeLogStreams => {
                let client = clu_core::aws_client!(context, aws_sdk_cloudwatchlogs)?;
                client
                    .describe_log_streams()
                    .log_group_name("g")
                    .send()
                    .await
                    .map_err(|e| context.aws_error(e))?;
            }
            Call::GetSecretValue => {
                let client = clu_core::aws_client!(context, aws_sdk_secretsmanager)?;
                client
                    .get_secret_value()
                    .secret_id("db-password")
                    .send()
                    .await
                    .map_err(|e| context.aws_error(e))?;
            }
        }
        Ok(json!({}))
    }
}

async fn call(
    registry: &Registry,
    env: ToolEnv,
    tool: &str,
    input: Value,
) -> clu_core::CallOutcome {
    registry.call(&Arc::new(env), tool, input).await
}

fn probe_registry(probe: Probe) -> Registry {
    Registry::new([Arc::new(probe) as Arc<dyn Tool>]).unwrap()
}

#[tokio::test]
async fn an_undeclared_action_is_refused_before_anything_is_sent() {
    let stub = AwsJsonStub::start(|_, _| StubReply::Ok(json!({"logStreams": []}))).await;
    let registry =
        probe_registry(Probe::new(&["logs:DescribeLogGroups"], Call::DescribeLogStreams));
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome = call(&registry, env, "probe", json!({})).await;

    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "undeclared-action");
    assert_eq!(
        error.to_string(),
        "tool `probe` did not declare `logs:DescribeLogStreams`, so the call was refused before \
         it was sent"
    );
    assert!(stub.requests().is_empty(), "the stub received {:?}", stub.requests());
    assert_eq!(outcome.audit.outcome, "undeclared-action");
    assert_eq!(outcome.audit.refused, ["tool `probe` did not declare `logs:DescribeLogStreams`"]);
}

#[tokio::test]
async fn a_declared_action_goes_through_and_is_audited() {
    let stub = AwsJsonStub::start(|_, _| StubReply::Ok(json!({"logStreams": []}))).await;
    let registry =
        probe_registry(Probe::new(&["logs:DescribeLogStreams"], Call::DescribeLogStreams));
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome = call(&registry, env, "probe", json!({})).await;

    outcome.result.unwrap();
    assert_eq!(stub.requests().len(), 1);
    assert_eq!(stub.requests()[0].operation, "DescribeLogStreams");
    assert_eq!(outcome.audit.aws_actions, ["logs:DescribeLogStreams"]);
    assert_eq!(outcome.audit.outcome, "ok");
}

#[tokio::test]
async fn secret_values_are_refused_even_when_declared() {
    let stub = AwsJsonStub::start(|_, _| StubReply::Ok(json!({"SecretString": "hunter2"}))).await;
    let registry =
        probe_registry(Probe::new(&["secretsmanager:GetSecretValue"], Call::GetSecretValue));
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome = call(&registry, env, "probe", json!({})).await;

    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "forbidden-material");
    assert!(error.to_string().contains("secretsmanager:GetSecretValue"), "{error}");
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn access_denied_names_the_action_and_the_declared_resource() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(400, "AccessDeniedException".into(), "User is not authorized".into())
    })
    .await;
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome =
        call(&registry, env, "logs_describe_log_streams", json!({"log_group": "app"})).await;

    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "iam-access-denied");
    assert_eq!(
        error.to_string(),
        "tool `logs_describe_log_streams` needs `logs:DescribeLogStreams` on \
         `arn:aws:logs:*:*:log-group:*:*`: User is not authorized"
    );
}

#[tokio::test]
async fn throttling_after_retries_is_its_own_code() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(400, "ThrottlingException".into(), "Rate exceeded".into())
    })
    .await;
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome = call(&registry, env, "logs_describe_log_groups", json!({})).await;

    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "aws-throttled");
    assert!(error.to_string().contains("logs:DescribeLogGroups"), "{error}");
}

#[tokio::test]
async fn a_missing_log_group_is_not_found() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(
            400,
            "ResourceNotFoundException".into(),
            "The specified log group does not exist.".into(),
        )
    })
    .await;
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome =
        call(&registry, env, "logs_describe_log_streams", json!({"log_group": "gone"})).await;

    assert_eq!(outcome.result.unwrap_err().code(), "not-found");
}

#[tokio::test]
async fn invalid_input_names_the_field_and_sends_nothing() {
    let stub = AwsJsonStub::start(|_, _| StubReply::Ok(json!({}))).await;
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome =
        call(&registry, env, "logs_insights_query", json!({"log_groups": [], "query": 7})).await;

    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "invalid-input");
    let message = error.to_string();
    assert!(message.contains("`/log_groups`") && message.contains("`/query`"), "{message}");
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn an_unknown_tool_suggests_a_close_name() {
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    let outcome = call(&registry, ToolEnv::default(), "logs_insight_query", json!({})).await;
    let error = outcome.result.unwrap_err();
    assert!(matches!(error, ToolError::UnknownTool { .. }));
    assert_eq!(
        error.to_string(),
        "no tool named `logs_insight_query`; did you mean `logs_insights_query`?"
    );
}

#[tokio::test]
async fn a_query_still_running_at_the_deadline_returns_partial_rows_with_a_note() {
    let stub = AwsJsonStub::start(|operation, _| match operation {
        "StartQuery" => StubReply::Ok(json!({"queryId": "q-1"})),
        _ => StubReply::Ok(json!({
            "status": "Running",
            "results": [[{"field": "@message", "value": "boom"}, {"field": "@ptr", "value": "x"}]],
            "statistics": {"recordsMatched": 1.0, "recordsScanned": 10.0, "bytesScanned": 100.0}
        })),
    })
    .await;
    let tool = clu_core::tools::logs::InsightsQuery::with_max_wait(Duration::from_millis(600));
    let registry = Registry::new([Arc::new(tool) as Arc<dyn Tool>]).unwrap();
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome = call(
        &registry,
        env,
        "logs_insights_query",
        json!({"log_groups": ["app"], "query": "fields @message"}),
    )
    .await;

    let output = outcome.result.unwrap();
    assert_eq!(output["status"], "running");
    assert_eq!(output["rows"], json!([{"@message": "boom"}]));
    assert!(output["note"].as_str().unwrap().contains("partial results"));
    let polls = stub.requests().iter().filter(|r| r.operation == "GetQueryResults").count();
    assert!(polls >= 2, "polled {polls} times");
}

#[tokio::test]
async fn a_failed_query_is_an_error_naming_its_status() {
    let stub = AwsJsonStub::start(|operation, _| match operation {
        "StartQuery" => StubReply::Ok(json!({"queryId": "q-2"})),
        _ => StubReply::Ok(json!({"status": "Failed", "results": []})),
    })
    .await;
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    let env = ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() };

    let outcome = call(
        &registry,
        env,
        "logs_insights_query",
        json!({"log_groups": ["app"], "query": "fields @message"}),
    )
    .await;

    let error = outcome.result.unwrap_err();
    assert_eq!(error.to_string(), "tool `logs_insights_query` failed: query `q-2` ended as Failed");
}

/// Seeds moto with a log group and streams through an unguarded client, as a test fixture.
async fn seed_logs(config: &aws_types::SdkConfig, group: &str) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    logs.create_log_group().log_group_name(group).send().await.unwrap();
    logs.put_retention_policy().log_group_name(group).retention_in_days(7).send().await.unwrap();
    for stream in ["web-1", "web-2", "worker-1"] {
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn logs_tools_read_real_data_from_moto_and_use_exactly_what_they_declare() {
    let config = moto::sdk_config("eu-west-1").await;
    let group = format!("/aws/containerinsights/{}", moto::unique_name("logs"));
    seed_logs(&config, &group).await;
    let recorder = Recorder::new();
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    let env = Arc::new(ToolEnv {
        aws: Some(config),
        recorder: Some(recorder.clone()),
        ..ToolEnv::default()
    });

    let groups = registry
        .call(&env, "logs_describe_log_groups", json!({"name_prefix": group}))
        .await
        .result
        .unwrap();
    assert_eq!(groups["log_groups"][0]["name"], group.as_str());
    assert_eq!(groups["log_groups"][0]["retention_days"], 7);
    assert_eq!(groups["truncated"], false);

    let streams = registry
        .call(&env, "logs_describe_log_streams", json!({"log_group": group, "limit": 2}))
        .await
        .result
        .unwrap();
    assert_eq!(streams["log_streams"].as_array().unwrap().len(), 2);
    assert_eq!(streams["truncated"], true);

    let prefixed = registry
        .call(&env, "logs_describe_log_streams", json!({"log_group": group, "name_prefix": "web"}))
        .await
        .result
        .unwrap();
    let names: Vec<&str> = prefixed["log_streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2"]);

    let query = registry
        .call(
            &env,
            "logs_insights_query",
            json!({"log_groups": [group], "query": "fields @message", "since_minutes": 30}),
        )
        .await
        .result
        .unwrap();
    assert_eq!(query["status"], "complete");

    // The other Core tools prove their declarations in their own tests.
    for tool in registry.tools().filter(|t| t.spec().name.starts_with("logs_")) {
        let spec = tool.spec();
        assert_eq!(
            recorder.actions_of(spec.name),
            spec.permissions.actions(),
            "tool `{}` must declare exactly the actions it uses",
            spec.name
        );
    }
}
