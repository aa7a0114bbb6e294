//! Node verbs: cordon and uncordon, which set `spec.unschedulable` as `kubectl cordon` does.

use async_trait::async_trait;
use clu_core::plan::Undo;
use clu_core::{
    Applied, Permissions, PlanBody, RbacRule, Result, Risk, Tier, Tool, ToolContext, ToolSpec,
    Verification,
};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{FIELD_MANAGER, to_json, yaml_diff};

/// The input of `k8s_cordon` and `k8s_uncordon`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeInput {
    /// The node's name.
    pub node: String,
}

/// `k8s_cordon` (`unschedulable: true`) or `k8s_uncordon` (`false`).
pub struct K8sCordon {
    spec: ToolSpec,
    unschedulable: bool,
}

impl K8sCordon {
    /// `k8s_cordon`: no new pod is scheduled on the node; running pods stay.
    pub fn cordon() -> Self {
        Self::new(
            "k8s_cordon",
            "Marks a node unschedulable (kubectl cordon): no new pod lands on it, running pods \
             stay. Makes a plan a human approves; the undo uncordons it.",
            true,
        )
    }

    /// `k8s_uncordon`: the node takes new pods again.
    pub fn uncordon() -> Self {
        Self::new(
            "k8s_uncordon",
            "Marks a node schedulable again (kubectl uncordon). Makes a plan a human approves; \
             the undo cordons it.",
            false,
        )
    }

    fn new(name: &'static str, description: &'static str, unschedulable: bool) -> Self {
        let rbac = vec![RbacRule::new("", ["nodes"], ["get", "patch"])];
        Self {
            spec: ToolSpec::new::<NodeInput>(
                name,
                description,
                Tier::CorePlus,
                Risk::Write,
                Permissions { iam: Vec::new(), rbac },
            ),
            unschedulable,
        }
    }

    fn patch(&self) -> Value {
        // `false` removes the field, as kubectl leaves an uncordoned node.
        let value = if self.unschedulable { json!(true) } else { Value::Null };
        json!({ "spec": { "unschedulable": value } })
    }

    fn params(dry_run: bool) -> PatchParams {
        PatchParams {
            dry_run,
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        }
    }

    fn verb(&self) -> &'static str {
        if self.unschedulable { "cordon" } else { "uncordon" }
    }
}

fn unschedulable(node: &Value) -> bool {
    node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false)
}

#[async_trait]
impl Tool for K8sCordon {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: NodeInput = context.parse_input(input)?;
        let nodes: Api<Node> = Api::all(context.kube()?);
        let live = nodes.get(&input.node).await.map_err(|e| context.kube_error(e))?;
        let live = to_json(context.tool(), &live)?;
        let planned = nodes
            .patch(&input.node, &Self::params(true), &Patch::Merge(&self.patch()))
            .await
            .map_err(|e| context.kube_error(e))?;
        let planned = to_json(context.tool(), &planned)?;
        let already = if unschedulable(&live) == self.unschedulable {
            " (no change: it already is)"
        } else {
            ""
        };
        Ok(PlanBody::new(
            format!("{} node `{}`{already}", self.verb(), input.node),
            yaml_diff(Some(&live), Some(&planned)),
            planned,
        )
        .touches(format!("v1 Node {}", input.node))
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let input: NodeInput = context.parse_input(input)?;
        let nodes: Api<Node> = Api::all(context.kube()?);
        let live = nodes.get(&input.node).await.map_err(|e| context.kube_error(e))?;
        let before = unschedulable(&to_json(context.tool(), &live)?);
        nodes
            .patch(&input.node, &Self::params(false), &Patch::Merge(&self.patch()))
            .await
            .map_err(|e| context.kube_error(e))?;
        let after = nodes.get(&input.node).await.map_err(|e| context.kube_error(e))?;
        let now = unschedulable(&to_json(context.tool(), &after)?);
        let verification = if now == self.unschedulable {
            Verification::passed(format!("node `{}` reads unschedulable: {now}", input.node))
        } else {
            Verification::failed(format!("node `{}` still reads unschedulable: {now}", input.node))
        };
        let undo = (before != self.unschedulable).then(|| Undo {
            tool: if self.unschedulable { "k8s_uncordon" } else { "k8s_cordon" }.into(),
            input: json!({ "node": input.node }),
        });
        Ok(Applied {
            result: json!({ "node": input.node, "unschedulable": now }),
            verification,
            undo,
        })
    }
}
