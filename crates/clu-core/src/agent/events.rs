//! The typed events an investigation emits, which the CLI, the HTTP API and the MCP server
//! render, and the report it ends with.

use serde::Serialize;

/// Tokens counted over one investigation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Input tokens, cache reads and writes excluded.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: u64,
}

impl Usage {
    /// Input and output tokens, which the token budget counts.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    pub(crate) fn add(&mut self, usage: &aws_sdk_bedrockruntime::types::TokenUsage) {
        let count = |n: i32| u64::try_from(n).unwrap_or_default();
        self.input_tokens += count(usage.input_tokens);
        self.output_tokens += count(usage.output_tokens);
        self.cache_read_tokens += usage.cache_read_input_tokens.map(count).unwrap_or_default();
        self.cache_write_tokens += usage.cache_write_input_tokens.map(count).unwrap_or_default();
    }
}

/// One event of an investigation, in the order it happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentEvent {
    /// The investigation started.
    Started {
        /// The model.
        model: String,
        /// The tools offered.
        tools: Vec<String>,
    },
    /// A piece of the model's text, as it streams.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A tool call started.
    ToolStarted {
        /// The model's id for the call.
        id: String,
        /// The tool.
        tool: String,
        /// The input the model gave.
        input: serde_json::Value,
    },
    /// A tool call finished.
    ToolFinished {
        /// The model's id for the call.
        id: String,
        /// The tool.
        tool: String,
        /// `ok` or the error code.
        outcome: String,
        /// Wall time in milliseconds.
        duration_ms: u64,
        /// Whether the result was cut to the output budget.
        truncated: bool,
    },
    /// Tokens used so far.
    Usage(Usage),
    /// A write verb produced a plan that waits for a human.
    ApprovalRequired {
        /// The plan's id.
        plan_id: String,
        /// What it would do.
        summary: String,
    },
    /// The model's answer.
    Answer {
        /// The text.
        text: String,
    },
    /// The investigation stopped on an error; what was gathered is in the report.
    Error {
        /// The stable code.
        code: String,
        /// What happened.
        message: String,
    },
}

/// How an investigation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The model answered.
    Answered,
    /// The step limit was reached.
    MaxSteps {
        /// The limit.
        limit: u32,
    },
    /// The wall-time limit was reached.
    WallTime {
        /// The limit in seconds.
        limit_secs: u64,
    },
    /// The token budget was used up.
    TokenBudget {
        /// The budget.
        limit: u64,
    },
    /// Bedrock kept throttling after the retries.
    Throttled {
        /// Bedrock's message.
        message: String,
    },
    /// The model stopped for a reason other than an answer (a guardrail, a content filter,
    /// its output limit, a context window overflow).
    Stopped {
        /// Bedrock's stop reason.
        reason: String,
    },
    /// Bedrock refused or failed the call.
    ModelError {
        /// The stable code.
        code: String,
        /// What happened.
        message: String,
    },
}

impl Outcome {
    /// The stable code of the outcome, `answered` or the reason it stopped.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::MaxSteps { .. } => "max-steps",
            Outcome::WallTime { .. } => "wall-time",
            Outcome::TokenBudget { .. } => "token-budget",
            Outcome::Throttled { .. } => "bedrock-throttled",
            Outcome::Stopped { .. } => "model-stopped",
            Outcome::ModelError { .. } => "bedrock-error",
        }
    }
}

/// One tool call of an investigation, as the report keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolCallRecord {
    /// The step (model turn) it belonged to, from 1.
    pub step: u32,
    /// The tool.
    pub tool: String,
    /// SHA-256 of the canonical input.
    pub input_digest: String,
    /// `ok` or the error code.
    pub outcome: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// What an investigation gathered, however it ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Investigation {
    /// The operator's question.
    pub question: String,
    /// The model's answer, or its last text when it did not finish.
    pub answer: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Model turns taken.
    pub steps: u32,
    /// Tokens used.
    pub usage: Usage,
    /// Every tool call, in order.
    pub tool_calls: Vec<ToolCallRecord>,
}
