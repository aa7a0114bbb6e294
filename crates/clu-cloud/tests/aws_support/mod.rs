//! What the AWS view tests share: running a Cloud tool as the agent would, and proving that
//! each tool used exactly the IAM actions it declares.

#![allow(dead_code, reason = "each test binary uses part of the support module")]

use std::sync::Arc;

use clu_core::ToolError;
use clu_core::guard::Recorder;
use clu_core::tool::ToolEnv;
use clu_core::{CallOutcome, Registry};
use serde_json::Value;

/// The Cloud registry and an environment over `config` that records every use.
pub(crate) struct Harness {
    pub(crate) registry: Registry,
    pub(crate) env: Arc<ToolEnv>,
    pub(crate) recorder: Recorder,
}

impl Harness {
    pub(crate) fn new(config: aws_types::SdkConfig) -> Self {
        Self::with_cluster(config, "*")
    }

    /// A harness whose agent knows its own cluster's name.
    pub(crate) fn with_cluster(config: aws_types::SdkConfig, cluster: &str) -> Self {
        let recorder = Recorder::new();
        let env = Arc::new(ToolEnv {
            aws: Some(config),
            recorder: Some(recorder.clone()),
            arn_context: clu_policy::ArnContext {
                cluster: cluster.to_owned(),
                ..clu_policy::ArnContext::default()
            },
            ..ToolEnv::default()
        });
        Self { registry: clu_cloud::registry().unwrap(), env, recorder }
    }

    pub(crate) async fn outcome(&self, tool: &str, input: Value) -> CallOutcome {
        self.registry.call(&self.env, tool, input).await
    }

    /// The tool's result, failing the test with the tool's error.
    pub(crate) async fn call(&self, tool: &str, input: Value) -> Value {
        match self.outcome(tool, input).await.result {
            Ok(value) => value,
            Err(error) => panic!("tool `{tool}` failed: {error} ({})", error.code()),
        }
    }

    /// The tool's error, failing the test when it succeeds.
    pub(crate) async fn error(&self, tool: &str, input: Value) -> ToolError {
        match self.outcome(tool, input).await.result {
            Ok(value) => panic!("tool `{tool}` succeeded with {value:#}"),
            Err(error) => error,
        }
    }

    /// Asserts that each of `tools` used exactly the actions it declares.
    pub(crate) fn assert_declared_equals_used(&self, tools: &[&str]) {
        for name in tools {
            let tool = self
                .registry
                .tools()
                .find(|t| t.spec().name == *name)
                .unwrap_or_else(|| panic!("no tool `{name}`"));
            assert_eq!(
                self.recorder.actions_of(name),
                tool.spec().permissions.actions(),
                "tool `{name}` must declare exactly the actions it uses"
            );
        }
    }
}
