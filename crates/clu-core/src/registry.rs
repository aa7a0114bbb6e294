//! Registries: the tools of a tier, their union over the enabled tiers, and how a call runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::error::{Result, ToolError};
use crate::guard::{CallLog, Invocation};
use crate::plan::Plan;
use crate::redact::Redactor;
use crate::tool::{Tier, Tool, ToolContext, ToolEnv};

/// Why a registry could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two tools share a name.
    #[error("two tools are named `{0}`")]
    DuplicateName(String),
    /// A tool's input schema is not a valid JSON schema.
    #[error("tool `{tool}` has an invalid input schema: {message}")]
    InvalidSchema {
        /// The tool.
        tool: String,
        /// What the schema compiler said.
        message: String,
    },
}

struct Entry {
    tool: Arc<dyn Tool>,
    validator: jsonschema::Validator,
}

/// A set of tools with unique names, each with its compiled input schema.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<&'static str, Entry>,
    redactor: Redactor,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Registry {
    /// A registry of `tools`, refusing duplicate names and invalid schemas.
    pub fn new(tools: impl IntoIterator<Item = Arc<dyn Tool>>) -> Result<Self, RegistryError> {
        let mut registry = Self::default();
        for tool in tools {
            registry.insert(tool)?;
        }
        Ok(registry)
    }

    fn insert(&mut self, tool: Arc<dyn Tool>) -> Result<(), RegistryError> {
        let spec = tool.spec();
        if self.entries.contains_key(spec.name) {
            return Err(RegistryError::DuplicateName(spec.name.to_owned()));
        }
        let validator = jsonschema::validator_for(&spec.input_schema).map_err(|e| {
            RegistryError::InvalidSchema { tool: spec.name.to_owned(), message: e.to_string() }
        })?;
        self.entries.insert(spec.name, Entry { tool, validator });
        Ok(())
    }

    /// Adds every tool of `other`, as when enabling another tier.
    pub fn merge(&mut self, other: Registry) -> Result<(), RegistryError> {
        for (name, entry) in other.entries {
            if self.entries.contains_key(name) {
                return Err(RegistryError::DuplicateName(name.to_owned()));
            }
            self.entries.insert(name, entry);
        }
        Ok(())
    }

    /// The redactor every result passes before it reaches the model; error messages that
    /// cross to the model pass it too.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The tools, sorted by name.
    pub fn tools(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.entries.values().map(|entry| &entry.tool)
    }

    /// The tools the model may call, sorted by name.
    pub fn offered_to_model(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools().filter(|tool| tool.spec().offered_to_model)
    }

    /// The tools of one tier, sorted by name.
    pub fn tier(&self, tier: Tier) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools().filter(move |tool| tool.spec().tier == tier)
    }

    /// The tiers that have at least one tool here.
    pub fn tiers(&self) -> BTreeSet<Tier> {
        self.tools().map(|tool| tool.spec().tier).collect()
    }

    /// The tool named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.entries.get(name).map(|entry| &entry.tool)
    }

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no tool.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks `input` against the tool's schema, naming every field that is wrong.
    pub fn validate(&self, name: &str, input: &Value) -> Result<()> {
        let entry = self.entry(name)?;
        let problems: Vec<String> = entry
            .validator
            .iter_errors(input)
            .map(|error| {
                let path = error.instance_path().to_string();
                let at = if path.is_empty() { "input".to_owned() } else { format!("`{path}`") };
                format!("{at}: {error}")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ToolError::invalid_input(name, problems.join("; ")))
        }
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        self.entries.get(name).ok_or_else(|| ToolError::UnknownTool {
            name: name.to_owned(),
            suggestion: closest(name, self.entries.keys().copied()),
        })
    }

    /// Runs one tool call: validates the input, builds the guarded context, invokes the tool
    /// inside a span, redacts the secrets of a successful result, and emits the audit event.
    /// The outcome is never a panic.
    pub async fn call(&self, env: &Arc<ToolEnv>, name: &str, input: Value) -> CallOutcome {
        let started = Instant::now();
        let digest = input_digest(&input);
        let Ok(entry) = self.entry(name) else {
            let error =
                self.entry(name).err().unwrap_or_else(|| ToolError::failed(name, "unknown tool"));
            return CallOutcome::finish(
                name,
                None,
                digest,
                started,
                CallLog::default(),
                Err(error),
                0,
            );
        };
        let spec = entry.tool.spec();
        if let Err(error) = self.validate(name, &input) {
            return CallOutcome::finish(
                spec.name,
                Some(spec.tier),
                digest,
                started,
                CallLog::default(),
                Err(error),
                0,
            );
        }

        let invocation =
            Arc::new(Invocation::new(spec.name, spec.permissions.clone(), env.recorder.clone()));
        let context = ToolContext { env: env.clone(), invocation: invocation.clone() };
        let span =
            tracing::info_span!("tool", tool = spec.name, tier = %spec.tier, input = %digest);
        let mut result = entry.tool.invoke(&context, input.clone()).instrument(span).await;
        let redactions = match &mut result {
            Ok(value) => self.redactor.redact_value(value).total(),
            Err(_) => 0,
        };
        let log = invocation.take_log();

        // A write verb's result is a plan: store it, and apply it only if the policy
        // approves this verb without a human.
        let mut plan = None;
        if spec.needs_approval() {
            result = match result {
                Ok(body) => match self.make_plan(env, spec, input, body, None) {
                    Ok(made) if env.approvals.auto_approves(spec.name) => self
                        .execute(env, &made.id, &made.digest, crate::plan::AUTO_APPROVER)
                        .await
                        .map(|report| report.to_value()),
                    Ok(made) => {
                        let value = made.to_value();
                        plan = Some(made);
                        Ok(value)
                    }
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
        }
        let mut outcome = CallOutcome::finish(
            spec.name,
            Some(spec.tier),
            digest,
            started,
            log,
            result,
            redactions,
        );
        outcome.plan = plan;
        outcome
    }
}

/// The result of one tool call with what it did, as audited.
#[derive(Debug)]
pub struct CallOutcome {
    /// What the tool returned.
    pub result: Result<Value>,
    /// The audit record of the call.
    pub audit: AuditRecord,
    /// The plan a write verb made, which waits for a human approval.
    pub plan: Option<Plan>,
}

/// One audit event: emitted as JSON on the `clu::audit` tracing target for every call.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// The tool.
    pub tool: String,
    /// Its tier, when the tool exists.
    pub tier: Option<Tier>,
    /// SHA-256 of the canonical input, so inputs can be matched without being stored.
    pub input_digest: String,
    /// IAM actions of the AWS calls made.
    pub aws_actions: Vec<String>,
    /// Kubernetes requests made, as `verb resource` with the namespace.
    pub kube_requests: Vec<String>,
    /// What the guard refused.
    pub refused: Vec<String>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// How many secrets the redactor replaced in the result before the model saw it.
    pub redactions: usize,
    /// `ok`, or the error code.
    pub outcome: String,
}

/// The tracing target of audit events.
pub const AUDIT_TARGET: &str = "clu::audit";

impl CallOutcome {
    fn finish(
        tool: &str,
        tier: Option<Tier>,
        input_digest: String,
        started: Instant,
        log: CallLog,
        result: Result<Value>,
        redactions: usize,
    ) -> Self {
        let audit = AuditRecord {
            tool: tool.to_owned(),
            tier,
            input_digest,
            aws_actions: log.aws_actions.iter().map(ToString::to_string).collect(),
            kube_requests: log.kube_requests.iter().map(ToString::to_string).collect(),
            refused: log.refused,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            redactions,
            outcome: match &result {
                Ok(_) => "ok".to_owned(),
                Err(error) => error.code().to_owned(),
            },
        };
        let event = serde_json::to_string(&audit).unwrap_or_default();
        tracing::info!(target: AUDIT_TARGET, tool = %audit.tool, outcome = %audit.outcome, event = %event);
        Self { result, audit, plan: None }
    }
}

/// A hex SHA-256 of the input's canonical JSON (object keys sorted).
pub fn input_digest(input: &Value) -> String {
    let canonical = canonical_json(input);
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical_json(v))).collect();
            let body: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => {
            format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(","))
        }
        other => other.to_string(),
    }
}

/// The candidate nearest to `name` by edit distance, if it is close enough to be a typo.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 3.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate.to_owned())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_key_order() {
        let a = serde_json::json!({"b": 1, "a": [1, {"y": 2, "x": 1}]});
        let b = serde_json::json!({"a": [1, {"x": 1, "y": 2}], "b": 1});
        assert_eq!(input_digest(&a), input_digest(&b));
        assert_ne!(input_digest(&a), input_digest(&serde_json::json!({"b": 2})));
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["k8s_get", "k8s_list", "logs_insights_query"];
        assert_eq!(closest("k8s_lst", names.into_iter()), Some("k8s_list".into()));
        assert_eq!(closest("deploy_everything", names.into_iter()), None);
    }
}
