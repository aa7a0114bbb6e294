//! The agent loop against a local Converse/ConverseStream stub, through the real Bedrock SDK
//! and the permission guard: multi-turn tool use, parallel calls, tool errors, throttling,
//! limits and streaming.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clu_core::agent::{AgentEvent, AgentLoop, Investigation, Limits, ModelSettings, Outcome};
use clu_core::guard::Recorder;
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};
use clu_core::{Registry, ToolError};
use clu_testkit::converse::{ConverseStub, Turn};
use serde_json::{Value, json};

const MODEL: &str = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0";

#[derive(schemars::JsonSchema, serde::Deserialize)]
#[expect(dead_code, reason = "the fields exist for the schema the model sees")]
struct PodInput {
    /// The pod.
    name: String,
}

/// A tool that answers from a table, fails on demand, or sleeps, as a test needs.
struct FakeTool {
    spec: ToolSpec,
    delay: Duration,
}

impl FakeTool {
    fn new(name: &'static str, delay: Duration) -> Self {
        let spec = ToolSpec::new::<PodInput>(
            name,
            "A tool of the test that reports the status of a pod by name.",
            Tier::Core,
            Risk::Read,
            Permissions::default(),
        );
        Self { spec, delay }
    }
}

#[async_trait]
impl Tool for FakeTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> clu_core::Result<Value> {
        tokio::time::sleep(self.delay).await;
        let name = input["name"].as_str().unwrap_or_default().to_owned();
        match name.as_str() {
            "broken" => Err(ToolError::failed(context.tool(), "the pod status could not be read")),
            "leaky" => Err(ToolError::failed(
                context.tool(),
                "cannot reach postgres://app:s3cretPassw0rd@db.shop:5432/orders",
            )),
            "secretive" => Ok(json!({"env": [{"name": "DB_PASSWORD", "value": "s3cretPassw0rd"}]})),
            "huge" => Ok(json!({"log": "x".repeat(10_000)})),
            _ => Ok(json!({"pod": name, "phase": "CrashLoopBackOff", "restarts": 7})),
        }
    }
}

fn registry() -> Arc<Registry> {
    let mut tools = clu_core::tools::tools();
    tools.retain(|t| t.spec().name == clu_core::agent::MODEL_TOOL);
    tools.push(Arc::new(FakeTool::new("pod_status", Duration::ZERO)));
    tools.push(Arc::new(FakeTool::new("slow_status", Duration::from_millis(400))));
    Arc::new(Registry::new(tools).unwrap())
}

struct Run {
    report: Investigation,
    events: Vec<AgentEvent>,
    stub: ConverseStub,
}

async fn run(
    script: Vec<Turn>,
    settings: ModelSettings,
    limits: Limits,
    recorder: Option<Recorder>,
) -> Run {
    let stub = ConverseStub::start(script).await;
    let env =
        Arc::new(ToolEnv { aws: Some(stub.sdk_config().await), recorder, ..ToolEnv::default() });
    let agent = AgentLoop::new(registry(), env, settings, limits).unwrap();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let report = agent.investigate("why does checkout crash?", &sender).await;
    drop(sender);
    let mut events = Vec::new();
    while let Some(event) = receiver.recv().await {
        events.push(event);
    }
    Run { report, events, stub }
}

fn converse_settings() -> ModelSettings {
    ModelSettings { stream: false, ..ModelSettings::new(MODEL) }
}

fn fast_limits() -> Limits {
    Limits { model_attempts: 3, model_retry_backoff: Duration::from_millis(5), ..Limits::default() }
}

/// The tool results the loop sent in the last request, as (text, status).
fn last_tool_results(stub: &ConverseStub) -> Vec<(String, Option<String>)> {
    let requests = stub.requests();
    let messages = requests.last().unwrap().body["messages"].as_array().unwrap().clone();
    let content = messages.last().unwrap()["content"].as_array().unwrap().clone();
    content
        .iter()
        .filter_map(|block| block.get("toolResult"))
        .map(|result| {
            let text = result["content"][0]["text"].as_str().unwrap_or_default().to_owned();
            (text, result["status"].as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::test]
async fn answers_after_a_tool_call_and_hands_the_result_back() {
    let script = vec![
        Turn::tool_calls(
            Some("Let me look at the pod."),
            &[("t1", "pod_status", json!({"name": "checkout-1"}))],
        ),
        Turn::answer("checkout-1 is crash-looping: 7 restarts."),
    ];
    let run = run(script, converse_settings(), fast_limits(), None).await;

    assert_eq!(run.report.outcome, Outcome::Answered);
    assert_eq!(run.report.answer.as_deref(), Some("checkout-1 is crash-looping: 7 restarts."));
    assert_eq!(run.report.steps, 2);
    assert_eq!(run.report.tool_calls.len(), 1);
    assert_eq!(run.report.tool_calls[0].tool, "pod_status");
    assert_eq!(run.report.usage.input_tokens, 300);
    assert_eq!(run.report.usage.output_tokens, 50);

    let results = last_tool_results(&run.stub);
    assert_eq!(results.len(), 1);
    let sent: Value = serde_json::from_str(&results[0].0).unwrap();
    assert_eq!(sent, json!({"pod": "checkout-1", "phase": "CrashLoopBackOff", "restarts": 7}));

    let first = &run.stub.requests()[0];
    assert_eq!(first.model_id, MODEL);
    assert!(first.body["system"][0]["text"].as_str().unwrap().starts_with("You are Clu"));
    let offered: Vec<&str> = first.body["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str())
        .collect();
    assert_eq!(offered, ["pod_status", "slow_status"], "internal tools are never offered");

    assert!(matches!(run.events.first(), Some(AgentEvent::Started { .. })));
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, AgentEvent::ToolStarted { tool, .. } if tool == "pod_status"))
    );
    assert!(matches!(run.events.last(), Some(AgentEvent::Answer { .. })));
}

#[tokio::test]
async fn tool_calls_of_one_turn_run_concurrently() {
    let script = vec![
        Turn::tool_calls(
            None,
            &[
                ("a", "slow_status", json!({"name": "a"})),
                ("b", "slow_status", json!({"name": "b"})),
                ("c", "slow_status", json!({"name": "c"})),
            ],
        ),
        Turn::answer("done"),
    ];
    let started = Instant::now();
    let run = run(script, converse_settings(), fast_limits(), None).await;
    let elapsed = started.elapsed();

    assert_eq!(run.report.tool_calls.len(), 3);
    assert!(elapsed < Duration::from_millis(1100), "three 400 ms calls took {elapsed:?}");
    let order: Vec<&str> = run
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolStarted { .. } => Some("start"),
            AgentEvent::ToolFinished { .. } => Some("finish"),
            _ => None,
        })
        .collect();
    assert_eq!(order[..3], ["start", "start", "start"], "all started before any finished");
    let ids: Vec<String> = last_tool_results(&run.stub).iter().map(|(t, _)| t.clone()).collect();
    assert!(
        ids[0].contains("\"a\"") && ids[1].contains("\"b\"") && ids[2].contains("\"c\""),
        "results keep call order"
    );
}

#[tokio::test]
async fn a_failed_tool_becomes_an_error_result_the_model_reads() {
    let script = vec![
        Turn::tool_calls(
            None,
            &[
                ("t1", "pod_status", json!({"name": "broken"})),
                ("t2", "no_such_tool", json!({})),
                ("t3", "pod_status", json!({"name": 5})),
            ],
        ),
        Turn::answer("the status could not be read"),
    ];
    let run = run(script, converse_settings(), fast_limits(), None).await;

    assert_eq!(run.report.outcome, Outcome::Answered);
    let results = last_tool_results(&run.stub);
    assert_eq!(
        results[0].0,
        "error [tool-failed]: tool `pod_status` failed: the pod status could not be read"
    );
    assert_eq!(results[0].1.as_deref(), Some("error"));
    assert!(
        results[1].0.starts_with("error [unknown-tool]: no tool named `no_such_tool`"),
        "{}",
        results[1].0
    );
    assert!(
        results[2]
            .0
            .starts_with("error [invalid-input]: invalid input for tool `pod_status`: `/name`"),
        "{}",
        results[2].0
    );
}

#[tokio::test]
async fn an_identical_repeated_call_is_refused() {
    let call = [("t1", "pod_status", json!({"name": "checkout-1"}))];
    let again = [("t2", "pod_status", json!({"name": "checkout-1"}))];
    let script =
        vec![Turn::tool_calls(None, &call), Turn::tool_calls(None, &again), Turn::answer("ok")];
    let run = run(script, converse_settings(), fast_limits(), None).await;

    let results = last_tool_results(&run.stub);
    assert!(results[0].0.contains("already made in this investigation"), "{}", results[0].0);
    assert_eq!(run.report.tool_calls[1].outcome, "invalid-input");
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_succeeds() {
    let script = vec![Turn::throttled(), Turn::throttled(), Turn::answer("fine")];
    let run = run(script, converse_settings(), fast_limits(), None).await;

    assert_eq!(run.report.outcome, Outcome::Answered);
    assert_eq!(run.stub.requests().len(), 3);
}

#[tokio::test]
async fn throttling_past_the_retries_ends_with_a_typed_outcome_and_keeps_the_gathered_calls() {
    let script = vec![
        Turn::tool_calls(None, &[("t1", "pod_status", json!({"name": "checkout-1"}))]),
        Turn::throttled(),
        Turn::throttled(),
        Turn::throttled(),
    ];
    let run = run(script, converse_settings(), fast_limits(), None).await;

    assert!(matches!(run.report.outcome, Outcome::Throttled { .. }), "{:?}", run.report.outcome);
    assert_eq!(run.report.outcome.code(), "bedrock-throttled");
    assert_eq!(run.report.tool_calls.len(), 1, "what was gathered is kept");
    assert!(
        matches!(run.events.last(), Some(AgentEvent::Error { code, .. }) if code == "bedrock-throttled")
    );
}

#[tokio::test]
async fn the_step_limit_stops_the_investigation() {
    let script = (0..5)
        .map(|i| {
            Turn::tool_calls(None, &[("t", "pod_status", json!({"name": format!("pod-{i}")}))])
        })
        .collect();
    let limits = Limits { max_steps: 2, ..fast_limits() };
    let run = run(script, converse_settings(), limits, None).await;

    assert_eq!(run.report.outcome, Outcome::MaxSteps { limit: 2 });
    assert_eq!(run.report.steps, 2);
    assert_eq!(run.report.tool_calls.len(), 2);
    assert_eq!(run.stub.requests().len(), 2);
}

#[tokio::test]
async fn the_token_budget_stops_the_investigation() {
    let script = (0..5)
        .map(|i| {
            Turn::tool_calls(None, &[("t", "pod_status", json!({"name": format!("pod-{i}")}))])
        })
        .collect();
    let limits = Limits { token_budget: 300, ..fast_limits() };
    let run = run(script, converse_settings(), limits, None).await;

    assert_eq!(run.report.outcome, Outcome::TokenBudget { limit: 300 });
    assert_eq!(run.report.usage.total(), 460);
    assert_eq!(run.stub.requests().len(), 2);
}

#[tokio::test]
async fn a_large_result_is_cut_to_the_output_budget_with_a_note() {
    let script = vec![
        Turn::tool_calls(None, &[("t1", "pod_status", json!({"name": "huge"}))]),
        Turn::answer("ok"),
    ];
    let limits = Limits { tool_output_bytes: 500, ..fast_limits() };
    let run = run(script, converse_settings(), limits, None).await;

    let (text, _) = &last_tool_results(&run.stub)[0];
    assert!(text.contains("[truncated: showing 500 of 10010 bytes"), "{text}");
    assert!(
        run.events.iter().any(|e| matches!(e, AgentEvent::ToolFinished { truncated: true, .. }))
    );
}

#[tokio::test]
async fn prompt_caching_marks_system_and_tools_for_anthropic_only() {
    let run_anthropic =
        run(vec![Turn::answer("a")], converse_settings(), fast_limits(), None).await;
    let body = &run_anthropic.stub.requests()[0].body;
    assert_eq!(body["system"][1], json!({"cachePoint": {"type": "default"}}));
    assert_eq!(
        body["toolConfig"]["tools"].as_array().unwrap().last().unwrap(),
        &json!({"cachePoint": {"type": "default"}})
    );

    let mistral =
        ModelSettings { stream: false, ..ModelSettings::new("mistral.mistral-large-2407-v1:0") };
    let run_mistral = run(vec![Turn::answer("a")], mistral, fast_limits(), None).await;
    let body = &run_mistral.stub.requests()[0].body;
    assert_eq!(body["system"].as_array().unwrap().len(), 1);
    assert!(!body.to_string().contains("cachePoint"));
}

#[tokio::test]
async fn a_guardrail_is_sent_with_every_turn() {
    let settings = ModelSettings {
        guardrail: Some(clu_core::agent::Guardrail { id: "gr-123".into(), version: "2".into() }),
        ..converse_settings()
    };
    let run = run(vec![Turn::answer("a")], settings, fast_limits(), None).await;
    let body = &run.stub.requests()[0].body;
    assert_eq!(body["guardrailConfig"]["guardrailIdentifier"], "gr-123");
    assert_eq!(body["guardrailConfig"]["guardrailVersion"], "2");
}

#[tokio::test]
async fn a_model_outside_the_allowed_families_is_refused_before_any_call() {
    let stub = ConverseStub::start(vec![Turn::answer("never")]).await;
    let env = Arc::new(ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() });
    let settings = ModelSettings::new("amazon.titan-text-express-v1");
    let error = AgentLoop::new(registry(), env, settings, Limits::default()).err().unwrap();
    assert!(error.to_string().contains("outside the allowed model families"), "{error}");
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn converse_stream_streams_text_and_tool_calls() {
    let script = vec![
        Turn::tool_calls(Some("Checking."), &[("t1", "pod_status", json!({"name": "checkout-1"}))]),
        Turn::answer("checkout-1 restarts because its config is missing."),
    ];
    let recorder = Recorder::new();
    let run = run(script, ModelSettings::new(MODEL), fast_limits(), Some(recorder.clone())).await;

    assert_eq!(run.report.outcome, Outcome::Answered);
    assert!(run.stub.requests().iter().all(|r| r.stream));
    let streamed: String = run
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, "Checking.checkout-1 restarts because its config is missing.");
    assert_eq!(run.report.tool_calls.len(), 1);
    assert_eq!(run.report.usage.input_tokens, 300);
    let actions: Vec<String> =
        recorder.actions_of(clu_core::agent::MODEL_TOOL).iter().map(ToString::to_string).collect();
    assert_eq!(actions, ["bedrock:InvokeModelWithResponseStream"]);
}

#[tokio::test]
async fn the_model_tool_declares_exactly_what_the_loop_and_the_check_use() {
    let recorder = Recorder::new();
    let streamed = run(
        vec![Turn::answer("a")],
        ModelSettings::new(MODEL),
        fast_limits(),
        Some(recorder.clone()),
    )
    .await;
    assert_eq!(streamed.report.outcome, Outcome::Answered);
    let plain =
        run(vec![Turn::answer("OK")], converse_settings(), fast_limits(), Some(recorder.clone()))
            .await;
    assert_eq!(plain.report.outcome, Outcome::Answered);

    let registry = registry();
    let declared = registry.get(clu_core::agent::MODEL_TOOL).unwrap().spec().permissions.actions();
    assert_eq!(recorder.actions_of(clu_core::agent::MODEL_TOOL), declared);
}

#[tokio::test]
async fn the_model_check_tool_reaches_the_model() {
    let stub = ConverseStub::start(vec![Turn::answer("OK")]).await;
    let env = Arc::new(ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() });
    let outcome =
        registry().call(&env, clu_core::agent::MODEL_TOOL, json!({"model_id": MODEL})).await;
    let output = outcome.result.unwrap();
    assert_eq!(output["reply"], "OK");
    assert_eq!(output["stop_reason"], "end_turn");
    assert_eq!(outcome.audit.aws_actions, ["bedrock:InvokeModel"]);

    let refused = registry()
        .call(&env, clu_core::agent::MODEL_TOOL, json!({"model_id": "cohere.command-r-v1:0"}))
        .await;
    assert_eq!(refused.result.unwrap_err().code(), "invalid-input");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn secrets_in_results_and_errors_are_redacted_before_the_model_sees_them() {
    let script = vec![
        Turn::tool_calls(
            None,
            &[
                ("t1", "pod_status", json!({"name": "leaky"})),
                ("t2", "pod_status", json!({"name": "secretive"})),
            ],
        ),
        Turn::answer("ok"),
    ];
    let run = run(script, converse_settings(), fast_limits(), None).await;

    let results = last_tool_results(&run.stub);
    let sent = format!("{results:?}");
    assert!(!sent.contains("s3cretPassw0rd"), "{sent}");
    assert!(results[0].0.contains("postgres://app:[redacted:"), "{}", results[0].0);
    assert!(results[1].0.contains("[redacted:sensitive-value]"), "{}", results[1].0);
}

#[tokio::test]
async fn the_wall_time_limit_stops_the_investigation_and_keeps_what_was_gathered() {
    let script = (0..5)
        .map(|i| {
            Turn::tool_calls(None, &[("t", "slow_status", json!({"name": format!("pod-{i}")}))])
        })
        .collect();
    let limits = Limits { wall_time: Duration::from_millis(600), ..fast_limits() };
    let started = Instant::now();
    let run = run(script, converse_settings(), limits, None).await;

    assert_eq!(run.report.outcome, Outcome::WallTime { limit_secs: 0 });
    assert!(!run.report.tool_calls.is_empty(), "what was gathered is kept");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(
        matches!(run.events.last(), Some(AgentEvent::Error { code, .. }) if code == "wall-time")
    );
}

/// A write verb of the test, which only plans.
struct RestartPod(ToolSpec);

#[async_trait]
impl Tool for RestartPod {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn invoke(&self, _context: &ToolContext, input: Value) -> clu_core::Result<Value> {
        let name = input["name"].as_str().unwrap_or_default();
        Ok(clu_core::PlanBody::new(
            format!("restart pod {name}"),
            format!("-pod {name}\n"),
            json!({}),
        )
        .namespace("shop")
        .into_value())
    }
}

#[tokio::test]
async fn a_write_verb_call_emits_approval_required_and_changes_nothing() {
    let script = vec![
        Turn::tool_calls(None, &[("t1", "restart_pod", json!({"name": "checkout-1"}))]),
        Turn::answer("I proposed a restart; it waits for your approval."),
    ];
    let stub = ConverseStub::start(script).await;
    let plans = Arc::new(clu_core::plan::MemoryPlanStore::new());
    let env = Arc::new(ToolEnv {
        aws: Some(stub.sdk_config().await),
        plans: Some(plans.clone()),
        ..ToolEnv::default()
    });
    let mut tools = clu_core::tools::tools();
    tools.retain(|t| t.spec().name == clu_core::agent::MODEL_TOOL);
    tools.push(Arc::new(RestartPod(ToolSpec::new::<PodInput>(
        "restart_pod",
        "A write verb of the test that plans the restart of a pod.",
        Tier::CorePlus,
        Risk::Write,
        Permissions::default(),
    ))));
    let registry = Arc::new(Registry::new(tools).unwrap());
    let agent = AgentLoop::new(registry, env, converse_settings(), fast_limits()).unwrap();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let report = agent.investigate("restart checkout-1", &sender).await;
    drop(sender);
    let mut events = Vec::new();
    while let Some(event) = receiver.recv().await {
        events.push(event);
    }

    assert_eq!(report.outcome, Outcome::Answered);
    let stored = clu_core::PlanStore::list(plans.as_ref()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, clu_core::PlanState::Pending);
    let approval: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ApprovalRequired { plan_id, summary } => Some((plan_id, summary)),
            _ => None,
        })
        .collect();
    assert_eq!(approval, [(&stored[0].id, &"restart pod checkout-1".to_owned())]);
    let results = last_tool_results(&stub);
    assert!(results[0].0.contains(&stored[0].digest), "the model sees the plan: {}", results[0].0);
}
