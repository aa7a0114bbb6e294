//! The service over real HTTP on 127.0.0.1: authentication, the SSE investigation, the bound on
//! in-flight work, MCP, readiness, metrics, graceful shutdown and the elected scans.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clu_core::agent::{Limits, ModelSettings};
use clu_core::metering::{Backoff, MeteringConfig};
use clu_core::plan::{Applied, PlanBody, Verification};
use clu_core::tools::CoreOptions;
use clu_core::{Permissions, RbacRule, Registry, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};
use clu_server::{
    AuthSettings, PreflightSettings, ScanSource, ServeSettings, ServiceConfig, ToolScan,
};
use clu_testkit::apiserver::FakeApiServer;
use clu_testkit::apiserver::fixture::{self, Fixture};
use clu_testkit::awsstub::{AwsJsonStub, StubReply};
use clu_testkit::converse::{ConverseStub, Turn};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

const TOKEN: &str = "s3cr3t-serve-token";
const MODEL: &str = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// What one test's service is built from; every part has a default that fits most tests.
struct Setup {
    aws: Option<aws_types::SdkConfig>,
    kube: Option<kube::Client>,
    model: bool,
    metering: MeteringConfig,
    backoff: Backoff,
    auth: Option<AuthSettings>,
    max_in_flight: usize,
    scans: Vec<Arc<dyn ScanSource>>,
    scan_interval: Duration,
    grace: Duration,
    extra_tools: Vec<Arc<dyn Tool>>,
    plans: bool,
    preflight: PreflightSettings,
    identity: &'static str,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            aws: None,
            kube: None,
            model: false,
            metering: MeteringConfig::Off,
            backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(1), 1),
            auth: None,
            max_in_flight: 4,
            scans: Vec::new(),
            scan_interval: Duration::from_secs(60),
            grace: Duration::from_secs(10),
            extra_tools: Vec::new(),
            plans: false,
            // Preflight runs as in production, but without the Bedrock call, which would spend
            // a scripted model turn; the tests of preflight itself say what they need.
            preflight: PreflightSettings {
                enabled: true,
                bedrock: false,
                interval: Duration::ZERO,
                ..PreflightSettings::default()
            },
            identity: "agent-0",
        }
    }
}

/// A running service and a client for it.
struct Agent {
    url: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<clu_server::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(setup: Setup) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    let options =
        CoreOptions { model: setup.model.then(|| MODEL.to_owned()), ..CoreOptions::default() };
    let mut registry = clu_core::tools::registry_with(&options).unwrap();
    registry.merge(Registry::new(setup.extra_tools).unwrap()).unwrap();
    let registry = Arc::new(registry);
    let plans: Option<Arc<dyn clu_core::plan::PlanStore>> =
        setup.plans.then(|| Arc::new(clu_core::plan::MemoryPlanStore::new()) as _);
    let env = Arc::new(ToolEnv { aws: setup.aws, kube: setup.kube, plans, ..ToolEnv::default() });
    let mut settings =
        ServeSettings::new(setup.auth.unwrap_or(AuthSettings::BearerToken { token_file }));
    settings.max_in_flight = setup.max_in_flight;
    settings.retry_after = Duration::from_secs(7);
    settings.shutdown_grace = setup.grace;
    settings.scans.interval = setup.scan_interval;
    settings.lease.lease_duration = Duration::from_secs(2);
    settings.lease.renew_deadline = Duration::from_millis(1500);
    settings.lease.retry_period = Duration::from_millis(100);
    settings.preflight = setup.preflight;
    let limits = Limits { model_attempts: 1, ..Limits::default() };
    let config = ServiceConfig {
        registry,
        env,
        settings,
        model: setup.model.then(|| ModelSettings::new(MODEL)),
        limits,
        metering: setup.metering,
        backoff: setup.backoff,
        scans: setup.scans,
        identity: setup.identity.into(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(clu_server::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    Agent { url, http: reqwest::Client::new(), stop: Some(stop), task, _dir: dir }
}

impl Agent {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url)).bearer_auth(TOKEN)
    }

    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.url)).bearer_auth(TOKEN).json(&body)
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    async fn metrics(&self) -> String {
        self.http.get(format!("{}/metrics", self.url)).send().await.unwrap().text().await.unwrap()
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = self.http.get(format!("{}/readyz", self.url)).send().await;
            if response.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "the service never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends the shutdown signal and waits for the service to return.
    async fn shut_down(mut self) -> clu_server::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the service stops within its grace period")
            .unwrap()
    }
}

/// One parsed server-sent event.
#[derive(Debug)]
struct SseEvent {
    name: String,
    data: Value,
}

fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            Some(SseEvent { name: name?, data: serde_json::from_str(&data).unwrap() })
        })
        .collect()
}

/// A TCP endpoint that accepts connections and never answers, to hold requests open.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

fn kube_client(url: &str) -> kube::Client {
    kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
}

/// A proxy that waits `delay` before forwarding each request to `target`, to make a model turn
/// take a while.
async fn slow_proxy(target: String, delay: Duration) -> String {
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let client = client.clone();
        let target = target.clone();
        async move {
            tokio::time::sleep(delay).await;
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut headers = parts.headers.clone();
            headers.remove(axum::http::header::HOST);
            let answer = client
                .request(parts.method, format!("{target}{path}"))
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            let mut response = axum::response::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            response.body(axum::body::Body::from(answer.bytes().await.unwrap())).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn requests_without_a_token_or_with_a_wrong_one_get_401() {
    let agent = start(Setup::default()).await;
    agent.wait_ready().await;

    let bare = agent.http.get(format!("{}/v1/tools", agent.url)).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()["www-authenticate"], "Bearer");
    let body: Value = bare.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(body["error"]["message"].as_str().unwrap().contains("Authorization: Bearer"));

    for path in ["/v1/tools", "/v1/findings", "/mcp"] {
        let wrong = agent
            .http
            .get(format!("{}{path}", agent.url))
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let body: Value = wrong.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated", "{path}");
    }
    let wrong_call = agent
        .http
        .post(format!("{}/v1/tools/k8s_get/call", agent.url))
        .bearer_auth("s3cr3t-serve-tokeN")
        .json(&json!({"input": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_call.status(), 401);

    // The probes stay open for the kubelet, and the right token passes.
    let health = agent.http.get(format!("{}/healthz", agent.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let tools = agent.json("/v1/tools").await;
    assert!(!tools["tools"].as_array().unwrap().is_empty());
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn tools_list_their_permissions_and_calls_map_errors_to_statuses() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let agent = start(Setup { kube: Some(server.client()), ..Setup::default() }).await;
    agent.wait_ready().await;

    let tools = agent.json("/v1/tools").await;
    let rows = tools["tools"].as_array().unwrap();
    let get = rows.iter().find(|t| t["name"] == "k8s_get").unwrap();
    assert_eq!(get["tier"], "core");
    assert_eq!(get["risk"], "read");
    assert_eq!(get["offered"], true);
    assert_eq!(get["preflight"]["status"], "passed");
    assert!(!get["rbac"].as_array().unwrap().is_empty(), "{get}");
    let model = rows.iter().find(|t| t["name"] == "bedrock_invoke_model").unwrap();
    assert_eq!(model["offered"], false);
    assert_eq!(model["preflight"]["status"], "internal");

    let input =
        json!({"kind": "Pod", "namespace": fixture::NAMESPACE, "name": fixture::CRASH_LOOP_POD});
    let ok = agent.post("/v1/tools/k8s_get/call", json!({"input": input})).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let pod: Value = ok.json().await.unwrap();
    assert_eq!(pod["metadata"]["name"], fixture::CRASH_LOOP_POD);

    let cases = [
        ("k8s_get", json!({"input": {"kind": 3}}), 400, "invalid-input"),
        (
            "k8s_get",
            json!({"input": {"kind": "Pod", "namespace": "shop", "name": "gone"}}),
            404,
            "not-found",
        ),
        ("k8s_gett", json!({"input": {}}), 404, "unknown-tool"),
        ("marketplace_register_usage", json!({"input": {}}), 403, "tool-not-offered"),
        ("k8s_get", json!({"inptu": {}}), 400, "invalid-request"),
    ];
    for (tool, body, status, code) in cases {
        let response =
            agent.post(&format!("/v1/tools/{tool}/call"), body.clone()).send().await.unwrap();
        assert_eq!(response.status(), status, "{tool} {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{tool} {body}: {error}");
    }
    let unknown: Value = agent
        .post("/v1/tools/k8s_gett/call", json!({"input": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(unknown["error"]["message"].as_str().unwrap().contains("did you mean `k8s_get`"));
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn ask_streams_every_event_of_the_investigation_and_ends_with_the_answer() {
    let stub = ConverseStub::start(vec![
        Turn::tool_calls(
            Some("Looking at the findings."),
            &[("t1", "k8s_findings", json!({"namespace": "shop"}))],
        ),
        Turn::answer("checkout crash-loops: exit code 1, 7 restarts."),
    ])
    .await;
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let agent = start(Setup {
        aws: Some(stub.sdk_config().await),
        kube: Some(server.client()),
        model: true,
        ..Setup::default()
    })
    .await;
    agent.wait_ready().await;

    let response = agent
        .post("/v1/ask", json!({"question": "why does checkout crash?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = parse_sse(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();

    assert_eq!(names.first(), Some(&"started"), "{names:?}");
    assert_eq!(names.last(), Some(&"answer"), "{names:?}");
    for kind in ["text_delta", "tool_started", "tool_finished", "usage"] {
        assert!(names.contains(&kind), "{kind} missing from {names:?}");
    }
    for event in &events {
        assert_eq!(event.data["type"], event.name.as_str(), "the name is the event's kind");
    }
    let finished = events.iter().find(|e| e.name == "tool_finished").unwrap();
    assert_eq!(finished.data["tool"], "k8s_findings");
    assert_eq!(finished.data["outcome"], "ok");
    assert_eq!(
        events.last().unwrap().data["text"],
        "checkout crash-loops: exit code 1, 7 restarts."
    );
    assert_eq!(stub.requests().len(), 2);

    let metrics = agent.metrics().await;
    assert!(metrics.contains(r#"clu_investigations_total{outcome="answered"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"clu_tool_calls_total{tool="k8s_findings",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"clu_model_tokens_total{direction="input"} 300"#), "{metrics}");
    assert!(metrics.contains(r#"clu_model_tokens_total{direction="output"} 50"#), "{metrics}");
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn ask_without_a_model_or_a_question_is_refused_with_a_code() {
    let agent = start(Setup::default()).await;
    agent.wait_ready().await;
    let response = agent.post("/v1/ask", json!({"question": "why?"})).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model-not-configured");

    let response = agent.post("/v1/ask", json!({"question": "  "})).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let response = agent.post("/v1/ask", json!({"q": "why?"})).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid-request");
    assert!(body["error"]["message"].as_str().unwrap().contains("q"), "{body}");
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn the_request_past_the_limit_gets_429_with_retry_after_at_once() {
    let hole = black_hole().await;
    // Preflight's access reviews would hang on the hole too; this test is about the bound.
    let agent = start(Setup {
        kube: Some(kube_client(&hole)),
        max_in_flight: 2,
        preflight: PreflightSettings { enabled: false, ..PreflightSettings::default() },
        ..Setup::default()
    })
    .await;
    agent.wait_ready().await;

    let input = json!({"input": {"kind": "Pod", "namespace": "shop", "name": "web"}});
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(agent.post("/v1/tools/k8s_get/call", input.clone()).send()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.metrics().await.contains("clu_requests_in_flight 2") {
        assert!(Instant::now() < deadline, "the two calls never ran at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let refused = agent.post("/v1/tools/k8s_get/call", input.clone()).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "a refusal must not queue");
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "7");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    let ask = agent.post("/v1/ask", json!({"question": "why?"})).send().await.unwrap();
    assert_eq!(ask.status(), 429, "investigations share the bound");

    // Reads that do no work are not bounded.
    assert_eq!(agent.get("/v1/tools").send().await.unwrap().status(), 200);

    for call in &held {
        call.abort();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.metrics().await.contains("clu_requests_in_flight 0") {
        assert!(Instant::now() < deadline, "aborted calls must free their slots");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_mcp_client_lists_the_offered_tools_and_calls_one() {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ClientConfig};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let agent = start(Setup { kube: Some(server.client()), ..Setup::default() }).await;
    agent.wait_ready().await;

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", agent.url))
            .auth_header(TOKEN),
    );
    let client = ClientConfig::default().serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"k8s_get") && names.contains(&"k8s_findings"), "{names:?}");
    assert!(!names.contains(&"bedrock_invoke_model"), "internal tools are not offered");
    assert!(!names.contains(&"marketplace_register_usage"), "internal tools are not offered");
    let get = tools.iter().find(|t| t.name == "k8s_get").unwrap();
    assert!(get.input_schema.contains_key("properties"), "{:?}", get.input_schema);

    let arguments =
        json!({"kind": "Pod", "namespace": fixture::NAMESPACE, "name": fixture::CRASH_LOOP_POD});
    let result = client
        .call_tool(
            CallToolRequestParams::new("k8s_get")
                .with_arguments(arguments.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    let pod = result.structured_content.unwrap();
    assert_eq!(pod["metadata"]["name"], fixture::CRASH_LOOP_POD);
    assert!(
        server.requests().iter().any(|r| r.path.ends_with(fixture::CRASH_LOOP_POD)),
        "the call reached the API server"
    );

    let failed = client
        .call_tool(
            CallToolRequestParams::new("k8s_get").with_arguments(
                json!({"kind": "Pod", "namespace": "shop", "name": "gone"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(failed.structured_content.unwrap()["error"]["code"], "not-found");
    let _ = client.cancel().await;

    let metrics = agent.metrics().await;
    assert!(
        metrics.contains(r#"clu_tool_calls_total{tool="k8s_get",outcome="ok"} 1"#),
        "{metrics}"
    );
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn readyz_is_503_until_metering_registered() {
    let answered = Arc::new(AtomicUsize::new(0));
    let stub = AwsJsonStub::start({
        let answered = answered.clone();
        move |_, _| {
            if answered.fetch_add(1, Ordering::SeqCst) == 0 {
                StubReply::Error(400, "ThrottlingException".into(), "slow down".into())
            } else {
                StubReply::Ok(json!({"Signature": "eyJhbGciOiJQUzI1NiJ9.e30.c2ln"}))
            }
        }
    })
    .await;
    // The retry after the throttled attempt waits until the test lets it go.
    let release = Arc::new(Notify::new());
    let backoff =
        Backoff::new(Duration::from_millis(1), Duration::from_millis(1), 3).with_sleeper({
            let release = release.clone();
            move |_| {
                let release = release.clone();
                Box::pin(async move { release.notified().await })
            }
        });
    let agent = start(Setup {
        aws: Some(stub.sdk_config().await),
        metering: MeteringConfig::Marketplace {
            product_code: "abc123".into(),
            public_key_version: 1,
        },
        backoff,
        ..Setup::default()
    })
    .await;

    let deadline = Instant::now() + Duration::from_secs(10);
    while answered.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "metering never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let response = agent.http.get(format!("{}/readyz", agent.url)).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert_eq!(body["gates"]["metering"]["state"], "pending", "{body}");
    let health = agent.http.get(format!("{}/healthz", agent.url)).send().await.unwrap();
    assert_eq!(health.status(), 200, "alive while not ready");
    let early = agent.get("/v1/tools").send().await.unwrap();
    assert_eq!(early.status(), 503, "no work before metering registered");
    let body: Value = early.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not-ready");
    assert!(body["error"]["message"].as_str().unwrap().contains("`metering`"), "{body}");

    release.notify_one();
    agent.wait_ready().await;
    let body: Value =
        agent.http.get(format!("{}/readyz", agent.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["gates"]["metering"]["state"], "passed", "{body}");
    assert_eq!(body["gates"]["registry"]["state"], "passed", "{body}");
    assert_eq!(body["gates"]["preflight"]["state"], "passed", "{body}");
    let registrations = stub.requests().iter().filter(|r| r.operation == "RegisterUsage").count();
    assert_eq!(registrations, 2);
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn a_metering_refusal_stops_the_service_with_its_code() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(400, "CustomerNotEntitledException".into(), "not subscribed".into())
    })
    .await;
    let agent = start(Setup {
        aws: Some(stub.sdk_config().await),
        metering: MeteringConfig::Marketplace {
            product_code: "abc123".into(),
            public_key_version: 1,
        },
        ..Setup::default()
    })
    .await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), agent.task).await.unwrap().unwrap();
    let error = outcome.unwrap_err();
    assert_eq!(error.code(), "not-entitled");
    let clu_server::ServeError::Metering(metering) = error else { panic!("not a metering error") };
    assert_eq!(metering.exit_code(), 10);
}

#[tokio::test]
async fn metrics_count_a_call_by_tool_and_outcome() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let agent = start(Setup { kube: Some(server.client()), ..Setup::default() }).await;
    agent.wait_ready().await;
    let before = agent.metrics().await;
    assert!(!before.contains(r#"tool="k8s_events""#), "{before}");

    let input = json!({"input": {"namespace": fixture::NAMESPACE}});
    let response = agent.post("/v1/tools/k8s_events/call", input).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let metrics = agent.metrics().await;
    assert!(
        metrics.contains(r#"clu_tool_calls_total{tool="k8s_events",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"clu_tool_call_duration_seconds_count{tool="k8s_events"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("clu_requests_in_flight 0"), "{metrics}");
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_investigation_finish_and_refuses_new_connections() {
    let stub = ConverseStub::start(vec![Turn::answer("all good")]).await;
    let slow = slow_proxy(stub.url(), Duration::from_millis(1500)).await;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(slow)
        .credentials_provider(aws_credential_types::Credentials::new("t", "t", None, None, "test"))
        .load()
        .await;
    let mut agent = start(Setup { aws: Some(aws), model: true, ..Setup::default() }).await;
    agent.wait_ready().await;

    let mut response =
        agent.post("/v1/ask", json!({"question": "is it fine?"})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    while !text.contains("event: started") {
        let chunk = response.chunk().await.unwrap().expect("the stream starts");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }

    let stop = agent.stop.take().unwrap();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = reqwest::Client::new().get(format!("{}/healthz", agent.url)).send().await;
    assert!(fresh.is_err(), "a draining service accepts no new connection");

    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events = parse_sse(&text);
    let last = events.last().unwrap();
    assert_eq!(last.name, "answer", "{events:?}");
    assert_eq!(last.data["text"], "all good");
    tokio::time::timeout(Duration::from_secs(10), agent.task).await.unwrap().unwrap().unwrap();
}

/// A Kubernetes API stub that answers TokenReviews: `sa-token` is a ServiceAccount,
/// `alice-token` a user in `devs`, anything else is not authenticated.
async fn token_review_server() -> String {
    let app = axum::Router::new()
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            axum::routing::post(|axum::Json(review): axum::Json<Value>| async move {
                let (authenticated, user) = match review["spec"]["token"].as_str() {
                    Some("sa-token") => {
                        (true, json!({"username": "system:serviceaccount:ops:dashboard", "groups": ["system:serviceaccounts"]}))
                    }
                    Some("alice-token") => (true, json!({"username": "alice", "groups": ["devs"]})),
                    _ => (false, json!({})),
                };
                let mut answer = review.clone();
                answer["status"] = json!({"authenticated": authenticated, "user": user});
                if !authenticated {
                    answer["status"]["error"] = json!("invalid bearer token");
                }
                (axum::http::StatusCode::CREATED, axum::Json(answer))
            }),
        )
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not here"})),
            )
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn token_review_admits_only_the_allowed_callers() {
    let url = token_review_server().await;
    let agent = start(Setup {
        kube: Some(kube_client(&url)),
        auth: Some(AuthSettings::TokenReview {
            allowed_users: vec![],
            allowed_groups: vec!["admins".into()],
            allowed_service_accounts: vec!["ops/dashboard".into()],
            cache_for: Duration::from_secs(60),
        }),
        ..Setup::default()
    })
    .await;
    agent.wait_ready().await;
    let with =
        |token: &str| agent.http.get(format!("{}/v1/tools", agent.url)).bearer_auth(token).send();

    assert_eq!(with("sa-token").await.unwrap().status(), 200);
    let stranger = with("forged").await.unwrap();
    assert_eq!(stranger.status(), 401);
    let body: Value = stranger.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("invalid bearer token"), "{body}");
    let alice = with("alice-token").await.unwrap();
    assert_eq!(alice.status(), 403);
    let body: Value = alice.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not-authorized");
    assert!(body["error"]["message"].as_str().unwrap().contains("`alice`"), "{body}");
    let bare = agent.http.get(format!("{}/v1/tools", agent.url)).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn the_scan_leader_publishes_the_findings_with_their_time() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let agent = start(Setup {
        kube: Some(server.client()),
        scans: vec![Arc::new(ToolScan::core_findings(Some(fixture::NAMESPACE)))],
        scan_interval: Duration::from_millis(200),
        ..Setup::default()
    })
    .await;
    agent.wait_ready().await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let findings = loop {
        let findings = agent.json("/v1/findings").await;
        if findings["sources"]["findings"]["outcome"] == "ok" {
            break findings;
        }
        assert!(Instant::now() < deadline, "no scan was published: {findings}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(findings["leader"], true);
    assert_eq!(findings["identity"], "agent-0");
    let scanned_at = findings["scannedAt"].as_str().unwrap();
    assert!(scanned_at.parse::<k8s_openapi::jiff::Timestamp>().is_ok(), "{scanned_at}");
    let codes: Vec<&str> = findings["sources"]["findings"]["result"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"crash-loop"), "{codes:?}");
    assert!(agent.metrics().await.contains("clu_scan_leader 1"));
    agent.shut_down().await.unwrap();
}

/// A write verb that plans a scale and counts its applies, standing in for a Core Plus verb.
struct ScaleVerb {
    spec: ToolSpec,
    applied: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScaleInput {
    name: String,
    replicas: u32,
}

#[async_trait::async_trait]
impl Tool for ScaleVerb {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> clu_core::Result<Value> {
        let input: ScaleInput = context.parse_input(input)?;
        Ok(PlanBody::new(
            format!("scale deployment shop/{} to {}", input.name, input.replicas),
            format!("-replicas: 1\n+replicas: {}", input.replicas),
            json!({"dryRun": "All"}),
        )
        .namespace("shop")
        .touches(format!("deployments/{}", input.name))
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> clu_core::Result<Applied> {
        let input: ScaleInput = context.parse_input(input)?;
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(Applied {
            result: json!({"replicas": input.replicas}),
            verification: Verification::passed("replicas set"),
            undo: None,
        })
    }
}

#[tokio::test]
async fn a_write_verb_returns_its_plan_which_is_approved_once_by_digest_or_rejected() {
    let applied = Arc::new(AtomicUsize::new(0));
    let verb = ScaleVerb {
        spec: ToolSpec::new::<ScaleInput>(
            "test_scale",
            "Scale a Deployment of shop (a test verb).",
            Tier::CorePlus,
            Risk::Write,
            Permissions {
                iam: vec![],
                rbac: vec![RbacRule::new("apps", ["deployments/scale"], ["get", "patch"])],
            },
        ),
        applied: applied.clone(),
    };
    // The fake API server answers preflight's access review of the verb's rule.
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let agent = start(Setup {
        kube: Some(server.client()),
        extra_tools: vec![Arc::new(verb)],
        plans: true,
        ..Setup::default()
    })
    .await;
    agent.wait_ready().await;

    let call = |replicas: u32| {
        agent.post(
            "/v1/tools/test_scale/call",
            json!({"input": {"name": "web", "replicas": replicas}}),
        )
    };
    let plan: Value = call(3).send().await.unwrap().json().await.unwrap();
    let id = plan["id"].as_str().unwrap().to_owned();
    let digest = plan["digest"].as_str().unwrap().to_owned();
    assert_eq!(plan["state"]["kind"], "pending", "{plan}");
    assert!(plan["next"].as_str().unwrap().contains("approve"), "{plan}");
    assert_eq!(applied.load(Ordering::SeqCst), 0, "a call changes nothing");

    let listed = agent.json("/v1/plans").await;
    assert_eq!(listed["plans"][0]["id"], id.as_str());
    assert_eq!(agent.json(&format!("/v1/plans/{id}")).await["digest"], digest.as_str());
    assert!(agent.metrics().await.contains(r#"clu_plans{state="pending"} 1"#));

    let wrong = agent
        .post(&format!("/v1/plans/{id}/approve"), json!({"digest": "0".repeat(64)}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 409);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"]["code"], "digest-mismatch");
    assert_eq!(applied.load(Ordering::SeqCst), 0);

    let approved = agent
        .post(&format!("/v1/plans/{id}/approve"), json!({"digest": digest}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    let report: Value = approved.json().await.unwrap();
    assert_eq!(report["result"]["replicas"], 3, "{report}");
    assert_eq!(applied.load(Ordering::SeqCst), 1);
    let stored = agent.json(&format!("/v1/plans/{id}")).await;
    assert_eq!(stored["state"]["kind"], "applied");
    assert_eq!(stored["state"]["by"], "bearer-token", "the approver is the caller");

    let again = agent
        .post(&format!("/v1/plans/{id}/approve"), json!({"digest": digest}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error"]["code"], "plan-used");
    assert_eq!(applied.load(Ordering::SeqCst), 1, "an approval is used once");

    let second: Value = call(5).send().await.unwrap().json().await.unwrap();
    let second_id = second["id"].as_str().unwrap();
    let rejected = agent
        .post(&format!("/v1/plans/{second_id}/reject"), json!({"reason": "not now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 200);
    assert_eq!(rejected.json::<Value>().await.unwrap()["state"]["reason"], "not now");
    let late = agent
        .post(&format!("/v1/plans/{second_id}/approve"), json!({"digest": second["digest"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 409);
    assert_eq!(applied.load(Ordering::SeqCst), 1);

    let missing = agent.get("/v1/plans/plan-missing").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"]["code"], "plan-not-found");
    let metrics = agent.metrics().await;
    for line in [
        r#"clu_plans{state="pending"} 0"#,
        r#"clu_plans{state="applied"} 1"#,
        r#"clu_plans{state="rejected"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn preflight_holds_back_what_rbac_denies_names_why_and_sees_a_later_grant() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    server.deny_access("", "pods/log", "get");
    let agent = start(Setup {
        kube: Some(server.client()),
        preflight: PreflightSettings {
            enabled: true,
            bedrock: false,
            interval: Duration::from_millis(200),
            ..PreflightSettings::default()
        },
        ..Setup::default()
    })
    .await;
    agent.wait_ready().await;

    let tools = agent.json("/v1/tools").await;
    let row = |name: &str| {
        tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone()
    };
    let logs = row("k8s_logs");
    assert_eq!(logs["offered"], false, "{logs}");
    assert_eq!(logs["preflight"]["status"], "failed", "{logs}");
    assert_eq!(logs["preflight"]["reasons"][0], "RBAC denies `get pods/log`", "{logs}");
    assert_eq!(row("k8s_get")["preflight"]["status"], "passed");
    // Without AWS, every tool with an IAM grant is held back for that reason.
    let metrics_tool = row("cloudwatch_get_metric_data");
    assert_eq!(metrics_tool["offered"], false);
    assert!(
        metrics_tool["preflight"]["reasons"][0].as_str().unwrap().contains("no AWS configuration"),
        "{metrics_tool}"
    );

    let report = agent.json("/v1/preflight").await;
    assert_eq!(report["state"], "done");
    assert_eq!(report["kubernetes"]["status"], "failed");
    assert!(report["kubernetes"]["detail"].as_str().unwrap().contains("get pods/log"), "{report}");
    assert_eq!(report["bedrock"]["status"], "not-checked");
    assert!(report["checkedAt"].as_str().is_some_and(|at| at.ends_with('Z')), "{report}");

    let input = json!({"input": {"namespace": fixture::NAMESPACE, "pod": fixture::CRASH_LOOP_POD}});
    let refused = agent.post("/v1/tools/k8s_logs/call", input.clone()).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "tool-not-offered");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("preflight failed: RBAC denies `get pods/log`"), "{message}");

    // The operator grants the permission; the next run offers the tool.
    server.allow_access("", "pods/log", "get");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tools = agent.json("/v1/tools").await;
        let logs = tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == "k8s_logs");
        if logs.is_some_and(|t| t["offered"] == true) {
            break;
        }
        assert!(Instant::now() < deadline, "the grant was never seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answered = agent.post("/v1/tools/k8s_logs/call", input).send().await.unwrap();
    assert_ne!(answered.status(), 403, "offered after the grant");
    agent.shut_down().await.unwrap();
}

#[tokio::test]
async fn with_a_model_preflight_asks_it_once_and_reports_the_answer() {
    let stub = ConverseStub::start(vec![Turn::answer("ok")]).await;
    let agent = start(Setup {
        aws: Some(stub.sdk_config().await),
        model: true,
        preflight: PreflightSettings { interval: Duration::ZERO, ..PreflightSettings::default() },
        ..Setup::default()
    })
    .await;
    agent.wait_ready().await;

    let report = agent.json("/v1/preflight").await;
    assert_eq!(report["bedrock"]["status"], "passed", "{report}");
    assert!(report["bedrock"]["detail"].as_str().unwrap().contains(MODEL), "{report}");
    assert_eq!(stub.requests().len(), 1, "one tiny Converse call");
    agent.shut_down().await.unwrap();
}

/// A scan source whose result is far larger than a shared report may hold.
struct HugeScan;

#[async_trait::async_trait]
impl ScanSource for HugeScan {
    fn name(&self) -> &str {
        "huge"
    }

    async fn scan(&self, _: &clu_server::ScanContext) -> clu_core::Result<Value> {
        Ok(json!({ "blob": "x".repeat(clu_server::scan::SHARED_REPORT_LIMIT + 1) }))
    }
}

#[tokio::test]
async fn a_follower_answers_the_findings_the_leader_published() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let scans: Vec<Arc<dyn ScanSource>> =
        vec![Arc::new(ToolScan::core_findings(Some(fixture::NAMESPACE))), Arc::new(HugeScan)];
    let leader = start(Setup {
        kube: Some(server.client()),
        scans: scans.clone(),
        scan_interval: Duration::from_millis(200),
        ..Setup::default()
    })
    .await;
    leader.wait_ready().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while leader.json("/v1/findings").await["sources"]["huge"]["outcome"] != "ok" {
        assert!(Instant::now() < deadline, "the leader never scanned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let follower = start(Setup {
        kube: Some(server.client()),
        scans,
        scan_interval: Duration::from_millis(200),
        identity: "agent-1",
        ..Setup::default()
    })
    .await;
    follower.wait_ready().await;

    let findings = follower.json("/v1/findings").await;
    assert_eq!(findings["leader"], false, "{findings}");
    assert_eq!(findings["identity"], "agent-1");
    assert!(findings.get("sharedError").is_none(), "{findings}");
    let core = &findings["sources"]["findings"];
    assert_eq!(core["outcome"], "ok", "{findings}");
    assert_eq!(core["scanned_by"], "agent-0");
    let codes: Vec<&str> = core["result"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"crash-loop"), "{codes:?}");
    // Too large to share: the follower says so and names the replica that holds it.
    let huge = &findings["sources"]["huge"];
    assert_eq!(huge["outcome"], "ok");
    assert!(huge.get("result").is_none());
    assert!(huge["error"].as_str().unwrap().contains("(agent-0)"), "{huge}");
    // The leader still answers its own full result.
    let own = leader.json("/v1/findings").await;
    let own_huge = &own["sources"]["huge"];
    assert!(
        own_huge["result"]["blob"].is_string(),
        "{} {}",
        own_huge["outcome"],
        own_huge["error"]
    );

    follower.shut_down().await.unwrap();
    leader.shut_down().await.unwrap();
}
