//! The agent loop: one investigation is a conversation with a Bedrock model that calls tools.
//!
//! The loop sends the system prompt and the specs of the tools it may offer, runs the tool
//! calls of each model turn concurrently (bounded), hands every result, or error, back to the
//! model, and ends when the model answers or a limit is reached. Whatever way it ends, the
//! [`Investigation`] keeps what was gathered.

pub mod document;
pub mod events;
pub mod models;
mod run;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use events::{AgentEvent, Investigation, Outcome, ToolCallRecord, Usage};
pub use models::{AllowedModels, ModelError, ModelId};
pub use run::{AgentLoop, MODEL_TOOL};

/// Which model to use and how to call it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelSettings {
    /// The model or inference profile id.
    pub id: String,
    /// The families the id must belong to; also what the IAM grant allows.
    #[serde(default)]
    pub allowed_families: AllowedModels,
    /// The most tokens of one model turn.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Sampling temperature; the model's default when unset.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// A Bedrock guardrail to apply to every turn.
    #[serde(default)]
    pub guardrail: Option<Guardrail>,
    /// Cache points after the system prompt and the tool specs, where the model supports it.
    #[serde(default = "default_true")]
    pub prompt_caching: bool,
    /// Use ConverseStream and emit text as it arrives.
    #[serde(default = "default_true")]
    pub stream: bool,
}

impl ModelSettings {
    /// Settings for `id` with every default.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            allowed_families: AllowedModels::default(),
            max_tokens: default_max_tokens(),
            temperature: None,
            guardrail: None,
            prompt_caching: true,
            stream: true,
        }
    }
}

fn default_max_tokens() -> u32 {
    4096
}

fn default_true() -> bool {
    true
}

/// A Bedrock guardrail by id and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guardrail {
    /// The guardrail id or ARN.
    pub id: String,
    /// Its version, such as `1` or `DRAFT`.
    pub version: String,
}

/// The limits of one investigation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Limits {
    /// Model turns at most.
    pub max_steps: u32,
    /// Wall time at most.
    #[serde(with = "seconds")]
    pub wall_time: Duration,
    /// Input plus output tokens at most.
    pub token_budget: u64,
    /// Tool calls of one turn that run at once.
    pub tool_concurrency: usize,
    /// Bytes of one tool result handed to the model; longer results are cut with a note.
    pub tool_output_bytes: usize,
    /// Attempts of one model call when Bedrock throttles or fails transiently.
    pub model_attempts: u32,
    /// The first retry delay of a model call; later delays grow exponentially.
    #[serde(with = "seconds")]
    pub model_retry_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_steps: 25,
            wall_time: Duration::from_secs(600),
            token_budget: 500_000,
            tool_concurrency: 4,
            tool_output_bytes: 24 * 1024,
            model_attempts: 5,
            model_retry_backoff: Duration::from_secs(1),
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// The system prompt of every investigation.
pub const SYSTEM_PROMPT: &str = "\
You are Clu, an operations agent running inside an Amazon EKS cluster. An operator asks why \
something is broken or costly. Investigate with the tools you are given: they read the \
cluster, CloudWatch and the AWS account, and every call is permission-checked and audited.

Work like a careful SRE:
- Start broad (findings, events, unhealthy workloads), then narrow to the objects involved.
- Prefer evidence over guesses. Quote the exact status, event, log line or metric that \
supports each claim.
- A tool error tells you what went wrong; read it and adapt (another tool, a narrower input). \
Do not repeat an identical call: reuse its result.
- Secrets are never available to you. Values shown as [redacted:...] were removed on purpose.
- Write verbs only produce plans; a human approves them. Never claim a change was made \
unless a tool result says so.

Answer with: the root cause (or the most likely causes, ranked, if it is not certain), the \
evidence, and the next steps, including the exact command or change to make. Be concise.";
