//! `k8s_get`: one object of any readable kind.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{object_json, object_namespace, readable_rules, resolve};
use crate::error::Result;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// Input of `k8s_get`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sGetInput {
    /// The kind or resource, as kubectl takes it: `Pod`, `pods`, `po`, `Deployment`,
    /// `deployments.apps`, `apps/v1/Deployment`.
    #[schemars(length(min = 1, max = 253))]
    pub kind: String,
    /// The API version (`apps/v1`) or group (`apps`), when the kind alone is ambiguous; usually
    /// not needed.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The namespace; required for namespaced kinds, ignored for cluster-scoped ones.
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// The object's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Gets one object, with `metadata.managedFields` removed.
pub struct K8sGet {
    spec: ToolSpec,
}

impl K8sGet {
    /// The tool.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<K8sGetInput>(
                "k8s_get",
                "Get one Kubernetes object of any readable kind (pods, deployments, nodes, \
                 services, jobs, ingresses, ...) as JSON, without managedFields. Use it to read \
                 an object's full spec and status; use k8s_describe for its events and owners. \
                 Secrets are never readable.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![], rbac: readable_rules(&["get"]) },
            ),
        }
    }
}

impl Default for K8sGet {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sGet {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sGetInput = context.parse_input(input)?;
        let client = context.kube()?;
        let target = resolve(context, &client, &input.kind, input.api_version.as_deref()).await?;
        let namespace = object_namespace(context.tool(), &target, input.namespace.as_deref())?;
        let object = target
            .api(client, namespace)
            .get(&input.name)
            .await
            .map_err(|e| context.kube_error(e))?;
        Ok(object_json(object, &target.resource))
    }
}
