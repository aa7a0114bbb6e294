//! Every tool call emits exactly one audit event, as JSON, on the `clu::audit` target.

use std::io::Write;
use std::sync::{Arc, Mutex};

use clu_core::registry::AUDIT_TARGET;
use clu_core::{Registry, ToolEnv};
use clu_testkit::awsstub::{AwsJsonStub, StubReply};
use serde_json::{Value, json};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn each_call_emits_one_audit_event_with_what_it_did() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer().json().with_writer(captured.clone()).with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(AUDIT_TARGET, tracing::Level::INFO),
        ),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

    let stub = AwsJsonStub::start(|_, _| StubReply::Ok(json!({"logStreams": []}))).await;
    let env = Arc::new(ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() });
    let registry = Registry::new(clu_core::tools::tools()).unwrap();
    registry
        .call(&env, "logs_describe_log_streams", json!({"log_group": "app"}))
        .await
        .result
        .unwrap();
    let failed = registry.call(&env, "logs_describe_log_streams", json!({"log_group": 3})).await;
    assert!(failed.result.is_err());

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let events: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(events.len(), 2, "{text}");
    for event in &events {
        assert_eq!(event["target"], AUDIT_TARGET);
    }
    let first: Value =
        serde_json::from_str(events[0]["fields"]["event"].as_str().unwrap()).unwrap();
    assert_eq!(first["tool"], "logs_describe_log_streams");
    assert_eq!(first["tier"], "core");
    assert_eq!(first["aws_actions"], json!(["logs:DescribeLogStreams"]));
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["input_digest"].as_str().unwrap().len(), 64);
    let second: Value =
        serde_json::from_str(events[1]["fields"]["event"].as_str().unwrap()).unwrap();
    assert_eq!(second["outcome"], "invalid-input");
    assert_eq!(second["aws_actions"], json!([]));
}
