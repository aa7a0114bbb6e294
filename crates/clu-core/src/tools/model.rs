//! The agent's own Bedrock access, declared as an internal tool.
//!
//! The agent loop's inference calls run under this tool's declaration, so its IAM grant, which
//! follows from the allowed model families, is derived and guarded like any tool's. Invoked on
//! its own, the tool checks that the agent can reach a model: `clu-agent doctor` uses it.

use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::agent::{AllowedModels, MODEL_TOOL};
use crate::error::{Result, ToolError};
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// Input of `bedrock_invoke_model`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeModelInput {
    /// The model or inference profile to check; the configured model when omitted.
    #[serde(default)]
    pub model_id: Option<String>,
}

/// Checks access to a Bedrock model with one tiny Converse call; carries the loop's grants.
pub struct InvokeModel {
    spec: ToolSpec,
    allowed: AllowedModels,
    default_model: Option<String>,
}

impl InvokeModel {
    /// The tool for `allowed` families, checking `default_model` when no model is given.
    pub fn new(allowed: AllowedModels, default_model: Option<String>) -> Self {
        let permissions = Permissions { iam: vec![allowed.grant()], rbac: vec![] };
        let spec = ToolSpec::new::<InvokeModelInput>(
            MODEL_TOOL,
            "Invoke an allowed Bedrock model with Converse or ConverseStream. The agent loop \
             runs its inference under this declaration; called on its own it sends one short \
             prompt to check that the model can be reached.",
            Tier::Core,
            Risk::Read,
            permissions,
        )
        .internal();
        Self { spec, allowed, default_model }
    }
}

impl Default for InvokeModel {
    fn default() -> Self {
        Self::new(AllowedModels::default(), None)
    }
}

#[async_trait]
impl Tool for InvokeModel {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: InvokeModelInput = context.parse_input(input)?;
        let Some(id) = input.model_id.or_else(|| self.default_model.clone()) else {
            return Err(ToolError::invalid_input(
                context.tool(),
                "`model_id` is required: no model is configured",
            ));
        };
        let model = self
            .allowed
            .check(&id)
            .map_err(|error| ToolError::invalid_input(context.tool(), error.to_string()))?;
        let client = crate::aws_client!(context, aws_sdk_bedrockruntime)?;

        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text("Reply with the single word OK.".into()))
            .build()
            .map_err(|e| ToolError::failed(context.tool(), e.to_string()))?;
        let started = Instant::now();
        let output = client
            .converse()
            .model_id(&model.id)
            .messages(message)
            .inference_config(InferenceConfiguration::builder().max_tokens(16).build())
            .send()
            .await
            .map_err(|e| context.aws_error(e))?;
        let reply = match &output.output {
            Some(ConverseOutput::Message(message)) => message
                .content()
                .iter()
                .filter_map(|block| block.as_text().ok().cloned())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        };
        Ok(json!({
            "model_id": model.id,
            "reply": reply,
            "stop_reason": output.stop_reason.as_str(),
            "latency_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "input_tokens": output.usage.as_ref().map(|u| u.input_tokens),
            "output_tokens": output.usage.as_ref().map(|u| u.output_tokens),
        }))
    }
}
