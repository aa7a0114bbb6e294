//! The investigation loop over Bedrock Converse and ConverseStream.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ContentBlockDelta, ContentBlockStart,
    ConversationRole, ConverseOutput, ConverseStreamOutput, GuardrailConfiguration,
    GuardrailStreamConfiguration, InferenceConfiguration, Message, StopReason, SystemContentBlock,
    Tool as BedrockTool, ToolConfiguration, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolResultStatus, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::document::{to_document, to_json};
use super::events::{AgentEvent, Investigation, Outcome, ToolCallRecord, Usage};
use super::models::{ModelError, ModelId};
use super::{Limits, ModelSettings, SYSTEM_PROMPT};
use crate::ToolError;
use crate::guard::Invocation;
use crate::registry::{Registry, input_digest};
use crate::tool::{ToolContext, ToolEnv};

/// The internal tool whose declaration carries the agent's own Bedrock permissions.
pub const MODEL_TOOL: &str = "bedrock_invoke_model";

/// Why an agent loop could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The configured model cannot be used.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The registry lacks the model tool, so the agent has no declared Bedrock permission.
    #[error("the registry has no `{MODEL_TOOL}` tool, which declares the agent's Bedrock access")]
    NoModelTool,
    /// The agent has no AWS configuration.
    #[error("the agent loop needs an AWS configuration to call Bedrock")]
    NoAws,
}

/// One model turn, assembled from Converse or ConverseStream.
struct Turn {
    message: Message,
    stop_reason: StopReason,
    usage: Option<aws_sdk_bedrockruntime::types::TokenUsage>,
}

/// Runs investigations with one model over one registry.
pub struct AgentLoop {
    registry: Arc<Registry>,
    env: Arc<ToolEnv>,
    model: ModelId,
    settings: ModelSettings,
    limits: Limits,
    offered: Vec<String>,
}

impl AgentLoop {
    /// A loop over the tools of `registry` offered to the model. The model is checked against
    /// the allowed families here, before any call is made.
    pub fn new(
        registry: Arc<Registry>,
        env: Arc<ToolEnv>,
        settings: ModelSettings,
        limits: Limits,
    ) -> Result<Self, AgentError> {
        let model = settings.allowed_families.check(&settings.id)?;
        if registry.get(MODEL_TOOL).is_none() {
            return Err(AgentError::NoModelTool);
        }
        if env.aws.is_none() {
            return Err(AgentError::NoAws);
        }
        let offered = registry.offered_to_model().map(|tool| tool.spec().name.to_owned()).collect();
        Ok(Self { registry, env, model, settings, limits, offered })
    }

    /// Offers only the tools named in `names`, such as those whose preflight passed.
    pub fn restrict_tools<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        let keep: HashSet<&str> = names.into_iter().collect();
        self.offered.retain(|name| keep.contains(name.as_str()));
        self
    }

    /// The tools the model is offered.
    pub fn offered_tools(&self) -> &[String] {
        &self.offered
    }

    /// Runs one investigation of `question`, emitting events as it goes. Never fails: however
    /// it ends, the returned [`Investigation`] holds what was gathered and why it stopped.
    pub async fn investigate(
        &self,
        question: &str,
        events: &UnboundedSender<AgentEvent>,
    ) -> Investigation {
        let emit = |event: AgentEvent| {
            let _ = events.send(event);
        };
        let started = Instant::now();
        emit(AgentEvent::Started { model: self.model.id.clone(), tools: self.offered.clone() });

        let mut report = Investigation {
            question: question.to_owned(),
            answer: None,
            outcome: Outcome::Answered,
            steps: 0,
            usage: Usage::default(),
            tool_calls: Vec::new(),
        };
        let client = match self.client() {
            Ok(client) => client,
            Err(error) => {
                report.outcome =
                    Outcome::ModelError { code: error.code().into(), message: error.to_string() };
                emit(error_event(&report.outcome));
                return report;
            }
        };

        let mut messages = vec![user_text(question)];
        let mut seen_calls: HashSet<(String, String)> = HashSet::new();
        loop {
            if report.steps >= self.limits.max_steps {
                report.outcome = Outcome::MaxSteps { limit: self.limits.max_steps };
                break;
            }
            if report.usage.total() >= self.limits.token_budget {
                report.outcome = Outcome::TokenBudget { limit: self.limits.token_budget };
                break;
            }
            let Some(remaining) = self.limits.wall_time.checked_sub(started.elapsed()) else {
                report.outcome = Outcome::WallTime { limit_secs: self.limits.wall_time.as_secs() };
                break;
            };
            report.steps += 1;

            let turn =
                match tokio::time::timeout(remaining, self.model_turn(&client, &messages, events))
                    .await
                {
                    Err(_) => {
                        report.outcome =
                            Outcome::WallTime { limit_secs: self.limits.wall_time.as_secs() };
                        break;
                    }
                    Ok(Err(outcome)) => {
                        report.outcome = outcome;
                        break;
                    }
                    Ok(Ok(turn)) => turn,
                };
            if let Some(usage) = &turn.usage {
                report.usage.add(usage);
                emit(AgentEvent::Usage(report.usage));
            }
            let text = message_text(&turn.message);
            if !text.is_empty() {
                report.answer = Some(text.clone());
            }
            let tool_uses: Vec<ToolUseBlock> = turn
                .message
                .content()
                .iter()
                .filter_map(|block| block.as_tool_use().ok().cloned())
                .collect();
            messages.push(turn.message);

            match turn.stop_reason {
                StopReason::EndTurn | StopReason::StopSequence => {
                    emit(AgentEvent::Answer { text });
                    report.outcome = Outcome::Answered;
                    break;
                }
                StopReason::ToolUse if !tool_uses.is_empty() => {
                    let (results, records) =
                        self.run_tools(report.steps, tool_uses, &mut seen_calls, events).await;
                    report.tool_calls.extend(records);
                    messages.push(
                        Message::builder()
                            .role(ConversationRole::User)
                            .set_content(Some(results))
                            .build()
                            .unwrap_or_else(|_| user_text("")),
                    );
                }
                other => {
                    report.outcome = Outcome::Stopped { reason: other.as_str().to_owned() };
                    break;
                }
            }
        }
        if report.outcome != Outcome::Answered {
            emit(error_event(&report.outcome));
        }
        report
    }

    /// A Bedrock client guarded by the model tool's declaration, retrying throttling and
    /// transient failures with exponential backoff.
    fn client(&self) -> crate::Result<aws_sdk_bedrockruntime::Client> {
        let context = self.model_context(self.env.recorder.clone());
        let retry = RetryConfig::standard()
            .with_max_attempts(self.limits.model_attempts.max(1))
            .with_initial_backoff(self.limits.model_retry_backoff);
        crate::aws_client!(
            context,
            aws_sdk_bedrockruntime,
            |builder: aws_sdk_bedrockruntime::config::Builder| builder.retry_config(retry)
        )
    }

    fn system(&self) -> Vec<SystemContentBlock> {
        let mut system = vec![SystemContentBlock::Text(SYSTEM_PROMPT.to_owned())];
        if self.caching() {
            system.push(SystemContentBlock::CachePoint(cache_point()));
        }
        system
    }

    fn caching(&self) -> bool {
        self.settings.prompt_caching && self.model.supports_prompt_caching()
    }

    fn tool_config(&self) -> Option<ToolConfiguration> {
        let mut tools: Vec<BedrockTool> = self
            .offered
            .iter()
            .filter_map(|name| self.registry.get(name))
            .filter_map(|tool| {
                let spec = tool.spec();
                ToolSpecification::builder()
                    .name(spec.name)
                    .description(spec.description)
                    .input_schema(ToolInputSchema::Json(to_document(&spec.input_schema)))
                    .build()
                    .ok()
                    .map(BedrockTool::ToolSpec)
            })
            .collect();
        if tools.is_empty() {
            return None;
        }
        if self.caching() {
            tools.push(BedrockTool::CachePoint(cache_point()));
        }
        ToolConfiguration::builder().set_tools(Some(tools)).build().ok()
    }

    fn inference(&self) -> InferenceConfiguration {
        InferenceConfiguration::builder()
            .max_tokens(i32::try_from(self.settings.max_tokens).unwrap_or(i32::MAX))
            .set_temperature(self.settings.temperature)
            .build()
    }

    async fn model_turn(
        &self,
        client: &aws_sdk_bedrockruntime::Client,
        messages: &[Message],
        events: &UnboundedSender<AgentEvent>,
    ) -> Result<Turn, Outcome> {
        if self.settings.stream {
            return self.model_turn_streamed(client, messages, events).await;
        }
        let guardrail = self.settings.guardrail.as_ref().map(|g| {
            GuardrailConfiguration::builder()
                .guardrail_identifier(&g.id)
                .guardrail_version(&g.version)
                .build()
        });
        let output = client
            .converse()
            .model_id(&self.model.id)
            .set_system(Some(self.system()))
            .set_messages(Some(messages.to_vec()))
            .set_tool_config(self.tool_config())
            .inference_config(self.inference())
            .set_guardrail_config(guardrail)
            .send()
            .await
            .map_err(|error| model_failure(self.model_context(None).aws_error(error)))?;
        let message = match output.output {
            Some(ConverseOutput::Message(message)) => message,
            _ => {
                return Err(Outcome::ModelError {
                    code: "bedrock-error".into(),
                    message: "Converse returned no message".into(),
                });
            }
        };
        Ok(Turn { message, stop_reason: output.stop_reason, usage: output.usage })
    }

    async fn model_turn_streamed(
        &self,
        client: &aws_sdk_bedrockruntime::Client,
        messages: &[Message],
        events: &UnboundedSender<AgentEvent>,
    ) -> Result<Turn, Outcome> {
        let guardrail = self.settings.guardrail.as_ref().map(|g| {
            GuardrailStreamConfiguration::builder()
                .guardrail_identifier(&g.id)
                .guardrail_version(&g.version)
                .build()
        });
        let mut output = client
            .converse_stream()
            .model_id(&self.model.id)
            .set_system(Some(self.system()))
            .set_messages(Some(messages.to_vec()))
            .set_tool_config(self.tool_config())
            .inference_config(self.inference())
            .set_guardrail_config(guardrail)
            .send()
            .await
            .map_err(|error| model_failure(self.model_context(None).aws_error(error)))?;

        let mut blocks: BTreeMap<i32, Partial> = BTreeMap::new();
        let mut stop_reason = None;
        let mut usage = None;
        loop {
            let event = match output.stream.recv().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(error) => return Err(stream_failure(&error)),
            };
            match event {
                ConverseStreamOutput::ContentBlockStart(start) => {
                    if let Some(ContentBlockStart::ToolUse(tool)) = start.start {
                        blocks.insert(
                            start.content_block_index,
                            Partial::Tool {
                                id: tool.tool_use_id,
                                name: tool.name,
                                input: String::new(),
                            },
                        );
                    }
                }
                ConverseStreamOutput::ContentBlockDelta(delta) => {
                    let index = delta.content_block_index;
                    match delta.delta {
                        Some(ContentBlockDelta::Text(text)) => {
                            let _ = events.send(AgentEvent::TextDelta { text: text.clone() });
                            match blocks
                                .entry(index)
                                .or_insert_with(|| Partial::Text(String::new()))
                            {
                                Partial::Text(buffer) => buffer.push_str(&text),
                                Partial::Tool { .. } => {}
                            }
                        }
                        Some(ContentBlockDelta::ToolUse(tool)) => {
                            if let Some(Partial::Tool { input, .. }) = blocks.get_mut(&index) {
                                input.push_str(&tool.input);
                            }
                        }
                        _ => {}
                    }
                }
                ConverseStreamOutput::MessageStop(stop) => stop_reason = Some(stop.stop_reason),
                ConverseStreamOutput::Metadata(metadata) => usage = metadata.usage,
                _ => {}
            }
        }

        let mut content = Vec::with_capacity(blocks.len());
        for partial in blocks.into_values() {
            content.push(partial.into_block()?);
        }
        let message = Message::builder()
            .role(ConversationRole::Assistant)
            .set_content(Some(content))
            .build()
            .map_err(|e| Outcome::ModelError {
                code: "bedrock-error".into(),
                message: e.to_string(),
            })?;
        let stop_reason = stop_reason.ok_or_else(|| Outcome::ModelError {
            code: "bedrock-error".into(),
            message: "the ConverseStream response ended without a stop reason".into(),
        })?;
        Ok(Turn { message, stop_reason, usage })
    }

    /// A context running under the model tool's declaration; the client's carries the
    /// recorder, while the one that only maps errors records nothing.
    fn model_context(&self, recorder: Option<crate::guard::Recorder>) -> ToolContext {
        let permissions =
            self.registry.get(MODEL_TOOL).map(|t| t.spec().permissions.clone()).unwrap_or_default();
        ToolContext {
            env: self.env.clone(),
            invocation: Arc::new(Invocation::new(MODEL_TOOL, permissions, recorder)),
        }
    }

    /// Runs the tool calls of one turn, at most `tool_concurrency` at once, and returns the
    /// tool-result blocks in the order of the calls.
    async fn run_tools(
        &self,
        step: u32,
        uses: Vec<ToolUseBlock>,
        seen: &mut HashSet<(String, String)>,
        events: &UnboundedSender<AgentEvent>,
    ) -> (Vec<ContentBlock>, Vec<ToolCallRecord>) {
        enum Planned {
            Run { id: String, tool: String, input: Value },
            Refuse { id: String, tool: String, error: ToolError },
        }

        let planned: Vec<Planned> = uses
            .into_iter()
            .map(|tool_use| {
                let id = tool_use.tool_use_id;
                let tool = tool_use.name;
                let input = to_json(&tool_use.input);
                if !self.offered.contains(&tool) {
                    let suggestion = self
                        .offered
                        .iter()
                        .find(|n| n.contains(tool.as_str()) || tool.contains(n.as_str()))
                        .cloned();
                    return Planned::Refuse {
                        id,
                        tool: tool.clone(),
                        error: ToolError::UnknownTool { name: tool, suggestion },
                    };
                }
                if !seen.insert((tool.clone(), input_digest(&input))) {
                    let error = ToolError::invalid_input(
                        &tool,
                        "this exact call (same tool, same input) was already made in this \
                         investigation; reuse its result instead of repeating it",
                    );
                    return Planned::Refuse { id, tool, error };
                }
                Planned::Run { id, tool, input }
            })
            .collect();

        let outcomes: Vec<(String, String, crate::Result<Value>, ToolCallRecord)> =
            futures::stream::iter(planned)
                .map(|planned| async move {
                    match planned {
                        Planned::Refuse { id, tool, error } => {
                            let record = ToolCallRecord {
                                step,
                                tool: tool.clone(),
                                input_digest: String::new(),
                                outcome: error.code().into(),
                                duration_ms: 0,
                            };
                            (id, tool, Err(error), record)
                        }
                        Planned::Run { id, tool, input } => {
                            let _ = events.send(AgentEvent::ToolStarted {
                                id: id.clone(),
                                tool: tool.clone(),
                                input: input.clone(),
                            });
                            let outcome = self.registry.call(&self.env, &tool, input).await;
                            if let Some(plan) = &outcome.plan {
                                let _ = events.send(AgentEvent::ApprovalRequired {
                                    plan_id: plan.id.clone(),
                                    summary: plan.summary.clone(),
                                });
                            }
                            let record = ToolCallRecord {
                                step,
                                tool: tool.clone(),
                                input_digest: outcome.audit.input_digest.clone(),
                                outcome: outcome.audit.outcome.clone(),
                                duration_ms: outcome.audit.duration_ms,
                            };
                            (id, tool, outcome.result, record)
                        }
                    }
                })
                .buffered(self.limits.tool_concurrency.max(1))
                .collect()
                .await;

        let mut blocks = Vec::with_capacity(outcomes.len());
        let mut records = Vec::with_capacity(outcomes.len());
        for (id, tool, result, record) in outcomes {
            let (text, failed, truncated) = match &result {
                Ok(value) => {
                    let (text, truncated) =
                        fit_to_budget(value.to_string(), self.limits.tool_output_bytes);
                    (text, false, truncated)
                }
                // AWS and API-server messages can quote what they were given; redact them too.
                Err(error) => {
                    let text = format!("error [{}]: {error}", error.code());
                    (self.registry.redactor().redact_text(&text).into_owned(), true, false)
                }
            };
            let _ = events.send(AgentEvent::ToolFinished {
                id: id.clone(),
                tool,
                outcome: record.outcome.clone(),
                duration_ms: record.duration_ms,
                truncated,
            });
            let status = (failed && self.model.supports_tool_result_status())
                .then_some(ToolResultStatus::Error);
            let block = ToolResultBlock::builder()
                .tool_use_id(id)
                .content(ToolResultContentBlock::Text(text))
                .set_status(status)
                .build();
            if let Ok(block) = block {
                blocks.push(ContentBlock::ToolResult(block));
            }
            records.push(record);
        }
        (blocks, records)
    }
}

/// A content block being assembled from stream deltas.
enum Partial {
    Text(String),
    Tool { id: String, name: String, input: String },
}

impl Partial {
    fn into_block(self) -> Result<ContentBlock, Outcome> {
        match self {
            Partial::Text(text) => Ok(ContentBlock::Text(text)),
            Partial::Tool { id, name, input } => {
                // A tool call with no input streams no delta at all; that is an empty object.
                let value: Value = if input.trim().is_empty() {
                    Value::Object(serde_json::Map::new())
                } else {
                    serde_json::from_str(&input).unwrap_or_else(|_| Value::String(input.clone()))
                };
                ToolUseBlock::builder()
                    .tool_use_id(id)
                    .name(name)
                    .input(to_document(&value))
                    .build()
                    .map(ContentBlock::ToolUse)
                    .map_err(|e| Outcome::ModelError {
                        code: "bedrock-error".into(),
                        message: e.to_string(),
                    })
            }
        }
    }
}

fn cache_point() -> CachePointBlock {
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .build()
        .unwrap_or_else(|error| unreachable!("a cache point has its one field: {error}"))
}

fn user_text(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .unwrap_or_else(|error| unreachable!("a message with a role and content is valid: {error}"))
}

fn message_text(message: &Message) -> String {
    message
        .content()
        .iter()
        .filter_map(|block| block.as_text().ok().map(String::as_str))
        .collect::<Vec<_>>()
        .join("")
}

/// Cuts `text` to at most `budget` bytes on a character boundary, with a note saying so.
fn fit_to_budget(text: String, budget: usize) -> (String, bool) {
    if text.len() <= budget {
        return (text, false);
    }
    let mut end = budget;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let note = format!(
        "\n[truncated: showing {end} of {} bytes; narrow the query (a selector, a limit, a \
         shorter window) to see the rest]",
        text.len()
    );
    (format!("{}{note}", &text[..end]), true)
}

fn model_failure(error: ToolError) -> Outcome {
    match error {
        ToolError::Aws { throttled: true, message, .. } => Outcome::Throttled { message },
        other => Outcome::ModelError { code: other.code().into(), message: other.to_string() },
    }
}

fn stream_failure<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().unwrap_or_default();
    let message = error.message().map(str::to_owned).unwrap_or_else(|| {
        aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
    });
    if code.contains("Throttl") || code == "ServiceUnavailableException" {
        Outcome::Throttled { message }
    } else {
        Outcome::ModelError { code: "bedrock-error".into(), message: format!("{code}: {message}") }
    }
}

fn error_event(outcome: &Outcome) -> AgentEvent {
    let message = match outcome {
        Outcome::MaxSteps { limit } => format!("stopped after {limit} model turns"),
        Outcome::WallTime { limit_secs } => format!("stopped after {limit_secs}s of wall time"),
        Outcome::TokenBudget { limit } => {
            format!("stopped: the budget of {limit} tokens is used up")
        }
        Outcome::Throttled { message } => format!("Bedrock kept throttling: {message}"),
        Outcome::Stopped { reason } => format!("the model stopped: {reason}"),
        Outcome::ModelError { message, .. } => message.clone(),
        Outcome::Answered => String::new(),
    };
    AgentEvent::Error { code: outcome.code().to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::fit_to_budget;

    #[test]
    fn cuts_on_a_character_boundary_with_a_note() {
        let (text, cut) = fit_to_budget("héllo wörld".to_owned(), 2);
        assert!(cut);
        assert!(text.starts_with("h\n[truncated: showing 1 of 13 bytes"), "{text}");
        assert_eq!(fit_to_budget("ok".to_owned(), 2), ("ok".to_owned(), false));
    }
}
