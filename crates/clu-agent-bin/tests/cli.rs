//! `clu-agent` as a process, against moto, the fake API server and the Converse stub.

use std::process::{Command, Output};

use clu_testkit::apiserver::FakeApiServer;
use clu_testkit::apiserver::fixture::{self, Fixture};
use clu_testkit::converse::{ConverseStub, Turn};
use serde_json::{Value, json};

/// A command with a clean AWS environment pointed at `endpoint`, and no cluster unless given.
fn agent(endpoint: &str, kubeconfig: Option<&std::path::Path>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clu-agent"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env(
            "KUBECONFIG",
            kubeconfig.map_or_else(|| "/nonexistent".into(), |p| p.display().to_string()),
        );
    command
}

fn stdout_json(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn kubeconfig(dir: &tempfile::TempDir, server: &FakeApiServer) -> std::path::PathBuf {
    let path = dir.path().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\n",
        server.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn tools_lists_every_tool_with_its_permissions() {
    let output = agent("http://127.0.0.1:9", None).args(["tools", "-o", "json"]).output().unwrap();
    let tools = stdout_json(&output);
    let names: Vec<&str> =
        tools.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"k8s_findings") && names.contains(&"logs_insights_query"), "{names:?}");
    let query =
        tools.as_array().unwrap().iter().find(|t| t["name"] == "logs_insights_query").unwrap();
    assert_eq!(query["tier"], "core");
    assert_eq!(query["actions"], json!(["logs:GetQueryResults", "logs:StartQuery"]));
    let model =
        tools.as_array().unwrap().iter().find(|t| t["name"] == "bedrock_invoke_model").unwrap();
    assert_eq!(model["offered_to_model"], false);
}

#[test]
fn policy_prints_the_compiled_tiers_documents() {
    let output = agent("http://127.0.0.1:9", None)
        .args(["policy", "--tier", "core", "--account", "123456789012", "-o", "json"])
        .output()
        .unwrap();
    let documents = stdout_json(&output);
    let text = documents.to_string();
    assert!(text.contains("arn:aws:logs:*:123456789012:log-group:*:*"), "{text}");
    assert!(text.contains("bedrock:InvokeModel"));

    let output =
        agent("http://127.0.0.1:9", None).args(["policy", "--tier", "gold"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown tier `gold`"));
}

#[test]
fn a_bad_configuration_is_a_usage_error_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "modules:\n  cloud:\n    enabeld: true\n").unwrap();
    let output =
        agent("http://127.0.0.1:9", None).args(["tools", "--config"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid configuration") && stderr.contains("enabeld"), "{stderr}");
}

#[tokio::test]
async fn call_runs_one_tool_against_moto() {
    let config = clu_testkit::moto::sdk_config("eu-west-1").await;
    let group = format!("/aws/eks/{}", clu_testkit::moto::unique_name("cli"));
    aws_sdk_cloudwatchlogs::Client::new(&config)
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();

    let input = json!({"name_prefix": group}).to_string();
    let output = agent(&clu_testkit::moto::endpoint(), None)
        .args(["call", "logs_describe_log_groups", "--input", &input, "-o", "json"])
        .output()
        .unwrap();
    let result = stdout_json(&output);
    assert_eq!(result["log_groups"][0]["name"], group.as_str());

    let output = agent(&clu_testkit::moto::endpoint(), None)
        .args(["call", "logs_describe_log_streams", "--input", "{\"log_group\": 1}"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("error [invalid-input]"));
}

#[tokio::test]
async fn scan_reports_the_findings_of_the_cluster() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(&dir, &server);
    let output = tokio::task::spawn_blocking(move || {
        agent("http://127.0.0.1:9", Some(&kubeconfig))
            .args(["scan", "--namespace", "shop"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("crash-loop") && text.contains(fixture::CRASH_LOOP_POD), "{text}");
    assert!(text.contains("restartCount: 7"), "{text}");
}

#[tokio::test]
async fn ask_streams_the_investigation_and_its_answer() {
    let stub = ConverseStub::start(vec![
        Turn::tool_calls(
            Some("Looking at the findings."),
            &[("t1", "k8s_findings", json!({"namespace": "shop"}))],
        ),
        Turn::answer("checkout crash-loops: exit code 1, 7 restarts."),
    ])
    .await;
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(&dir, &server);
    let endpoint = stub.url();
    let output = tokio::task::spawn_blocking(move || {
        agent(&endpoint, Some(&kubeconfig))
            .env("CLU_MODEL_ID", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .args(["ask", "why does checkout crash?"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("checkout crash-loops: exit code 1, 7 restarts."), "{stdout}");
    assert!(stderr.contains("→ k8s_findings") && stderr.contains("← k8s_findings: ok"), "{stderr}");
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn ask_stops_with_the_metering_exit_code_when_not_entitled() {
    use clu_testkit::awsstub::{AwsJsonStub, StubReply};
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(400, "CustomerNotEntitledException".into(), "not subscribed".into())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "metering:\n  mode: marketplace\n  productCode: abc123\n  publicKeyVersion: 1\n",
    )
    .unwrap();
    let output = ask_with_config(stub.url(), config).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("error [not-entitled]"), "{stderr}");
    assert_eq!(stub.requests().len(), 1);
    assert_eq!(stub.requests()[0].operation, "RegisterUsage");
}

#[tokio::test]
async fn ask_with_metering_off_says_it_runs_unmetered() {
    let stub = ConverseStub::start(vec![Turn::answer("fine")]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "metering:\n  mode: off\n").unwrap();
    let output = ask_with_config(stub.url(), config).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("unmetered"), "{stderr}");
}

/// Runs `clu-agent ask` with a model and the configuration file `config`, off the runtime.
async fn ask_with_config(endpoint: String, config: std::path::PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        agent(&endpoint, None)
            .env("CLU_MODEL_ID", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .args(["ask", "why?", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn doctor_names_the_tool_rbac_holds_back_and_fails_with_its_exit_code() {
    let server = FakeApiServer::start([]).await;
    server.deny_access("", "pods/log", "get");
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(&dir, &server);

    // The fake API server runs on this test's runtime: run the process off it.
    let run = |args: &'static [&'static str]| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            agent(&clu_testkit::moto::endpoint(), Some(&path)).args(args).output().unwrap()
        })
    };
    let output = run(&["doctor", "--no-model", "-o", "json"]).await.unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["kubernetes"]["status"], "failed");
    let logs = report["tools"].as_array().unwrap().iter().find(|t| t["tool"] == "k8s_logs");
    assert_eq!(logs.unwrap()["reasons"], json!(["RBAC denies `get pods/log`"]));
    assert!(report["principal"].as_str().is_some_and(|p| p.contains("123456789012")));
    assert!(report["metering"].as_str().unwrap().starts_with("not configured"));

    let output = run(&["tools", "-o", "json"]).await.unwrap();
    let tools = stdout_json(&output);
    let row =
        |name: &str| tools.as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap();
    assert_eq!(row("k8s_logs")["preflight"]["passed"], false);
    assert_eq!(row("k8s_get")["preflight"]["passed"], true);
}

#[tokio::test]
async fn scan_adds_the_savings_of_the_account_with_the_cloud_tier() {
    // A region of its own, so other tests' volumes in moto do not show up here.
    let config = clu_testkit::moto::sdk_config("ap-southeast-2").await;
    let volume = aws_sdk_ec2::Client::new(&config)
        .create_volume()
        .availability_zone("ap-southeast-2a")
        .size(500)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp2)
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap();
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig(&dir, &server);
    let config_file = dir.path().join("config.yaml");
    std::fs::write(&config_file, "modules:\n  cloud:\n    enabled: true\n").unwrap();

    let output = tokio::task::spawn_blocking(move || {
        agent(&clu_testkit::moto::endpoint(), Some(&path))
            .env("AWS_REGION", "ap-southeast-2")
            .args(["scan", "--namespace", "shop", "-o", "json", "--config"])
            .arg(&config_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = stdout_json(&output);
    assert!(report["cluster"]["findings"].as_array().is_some_and(|f| !f.is_empty()));
    let savings = report["savings"]["findings"].as_array().unwrap();
    let unattached = savings.iter().find(|f| f["resource"] == volume.as_str()).unwrap();
    assert_eq!(unattached["kind"], "unattached_volume", "{unattached:#}");
    assert!(unattached["monthly_usd"].as_f64().unwrap() > 0.0);
}
