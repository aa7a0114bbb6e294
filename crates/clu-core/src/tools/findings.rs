//! `k8s_findings`: the deterministic findings, offered to the model as a starting point.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::Result;
use crate::findings::{Severity, Snapshot, analyze, rbac_rules};
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// The least severity to report.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MinSeverity {
    /// Only critical findings.
    Critical,
    /// Critical and warning findings.
    #[default]
    Warning,
}

/// Input of `k8s_findings`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsInput {
    /// Only this namespace (nodes are always checked); every namespace when omitted.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The least severity to report (default warning, which reports everything).
    #[serde(default)]
    pub min_severity: MinSeverity,
}

/// Scans the cluster for what is visibly wrong, without a model.
pub struct K8sFindings {
    spec: ToolSpec,
}

impl K8sFindings {
    /// The tool.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<FindingsInput>(
                "k8s_findings",
                "Scan the cluster (or one namespace) for what is visibly wrong: crash loops with \
                 the last exit reason, OOM kills, image pull failures, unschedulable pods with \
                 the scheduler's message, failing probes, workloads with unavailable replicas, \
                 Services with no ready endpoint, Pending claims, and nodes NotReady or under \
                 pressure. Start an investigation here.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![], rbac: rbac_rules() },
            ),
        }
    }
}

impl Default for K8sFindings {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sFindings {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: FindingsInput = context.parse_input(input)?;
        let client = context.kube()?;
        let snapshot = Snapshot::read(&client, input.namespace.as_deref())
            .await
            .map_err(|e| context.kube_error(e))?;
        let findings: Vec<_> = analyze(&snapshot)
            .into_iter()
            .filter(|f| match input.min_severity {
                MinSeverity::Critical => f.severity == Severity::Critical,
                MinSeverity::Warning => true,
            })
            .collect();
        let critical = findings.iter().filter(|f| f.severity == Severity::Critical).count();
        Ok(json!({
            "counts": { "critical": critical, "warning": findings.len() - critical },
            "findings": findings,
            "scanned": {
                "pods": snapshot.pods.len(),
                "nodes": snapshot.nodes.len(),
                "workloads": snapshot.deployments.len() + snapshot.stateful_sets.len() + snapshot.daemon_sets.len(),
                "services": snapshot.services.len(),
                "claims": snapshot.claims.len(),
            },
            "truncated": snapshot.truncated,
        }))
    }
}
