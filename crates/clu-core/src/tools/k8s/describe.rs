//! `k8s_describe`: an object with its events and its chain of owners, and for a pod the state
//! of each container.

use async_trait::async_trait;
use k8s_openapi::jiff::Timestamp;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::events::{events_rule, fold, list_events};
use super::{
    READABLE, Target, object_json, object_namespace, readable_rules, resolve, resolve_readable,
    split_api_version, summary,
};
use crate::error::Result;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// How far up the owner chain to walk; pod → replica set → deployment is the usual depth.
const MAX_OWNER_DEPTH: usize = 5;

/// Input of `k8s_describe`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sDescribeInput {
    /// The kind or resource, as kubectl takes it: `Pod`, `deploy`, `Node`, `jobs`.
    #[schemars(length(min = 1, max = 253))]
    pub kind: String,
    /// The API version (`apps/v1`) or group (`apps`), when the kind alone is ambiguous.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The namespace; required for namespaced kinds.
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// The object's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// At most this many (folded) events, newest first (default 20).
    #[serde(default)]
    #[schemars(range(min = 0, max = 200))]
    pub events_limit: Option<u32>,
}

/// Describes one object as `kubectl describe` does, plus its owners.
pub struct K8sDescribe {
    spec: ToolSpec,
}

impl K8sDescribe {
    /// The tool.
    pub fn new() -> Self {
        let mut rbac = readable_rules(&["get"]);
        rbac.push(events_rule());
        Self {
            spec: ToolSpec::new::<K8sDescribeInput>(
                "k8s_describe",
                "Describe one Kubernetes object: the object (without managedFields), a status \
                 summary and conditions, its events newest first with repeats folded, and its \
                 owner chain (pod → replica set → deployment, pod → job → cron job). For \
                 pods, each container's state, readiness, restarts, waiting reason and \
                 message, and last termination reason and exit code. Start here when a \
                 workload misbehaves.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![], rbac },
            ),
        }
    }
}

impl Default for K8sDescribe {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sDescribe {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sDescribeInput = context.parse_input(input)?;
        let events_limit = input.events_limit.unwrap_or(20) as usize;
        let client = context.kube()?;
        let target = resolve(context, &client, &input.kind, input.api_version.as_deref()).await?;
        let namespace = object_namespace(context.tool(), &target, input.namespace.as_deref())?;
        let object = target
            .api(client.clone(), namespace)
            .get(&input.name)
            .await
            .map_err(|e| context.kube_error(e))?;
        let object = object_json(object, &target.resource);
        let kind = target.resource.kind.as_str();
        let now = Timestamp::now();

        let mut output = json!({
            "summary": summary::row(kind, &object, now),
            "conditions": summary::conditions(&object),
        });
        if kind == "Pod" {
            output["containers"] = json!(summary::containers(&object));
        }
        output["owners"] = json!(owner_chain(context, &client, &object, now).await?);

        // Events name their object by kind and name; in its namespace, or anywhere for a
        // cluster-scoped object (node events live in `default`).
        let selector = format!("involvedObject.kind={kind},involvedObject.name={}", input.name);
        let (events, complete) = list_events(context, client, namespace, &selector).await?;
        let rows = fold(&events, now);
        output["events_total"] = json!(rows.len());
        if !complete || rows.len() > events_limit {
            output["events_truncated"] = json!(true);
        }
        output["events"] = json!(rows.into_iter().take(events_limit).collect::<Vec<_>>());
        output["object"] = object;
        Ok(output)
    }
}

/// The owners of `object`, nearest first, following each controller reference up.
///
/// Stops at an owner that is gone (garbage collection may be pending), or of a kind Clu does
/// not read (such as a custom controller's resource), saying so in the last entry.
async fn owner_chain(
    context: &ToolContext,
    client: &kube::Client,
    object: &Value,
    now: Timestamp,
) -> Result<Vec<Value>> {
    let mut chain = Vec::new();
    let mut current = object.clone();
    while chain.len() < MAX_OWNER_DEPTH {
        let Some(owner) = controller_of(&current) else { break };
        let api_version = owner["apiVersion"].as_str().unwrap_or_default();
        let kind = owner["kind"].as_str().unwrap_or_default();
        let name = owner["name"].as_str().unwrap_or_default();
        let mut entry = json!({ "kind": kind, "name": name, "api_version": api_version });
        let (group, version) = split_api_version(api_version);
        let Some(readable) = READABLE.iter().find(|r| r.group == group && r.kind == kind) else {
            entry["note"] = json!("not a kind Clu reads, so the chain stops here");
            chain.push(entry);
            break;
        };
        let target: Target = resolve_readable(context, client, *readable, version).await?;
        let namespace = current["metadata"]["namespace"].as_str();
        match target.api(client.clone(), namespace).get(name).await {
            Ok(found) => {
                let found = object_json(found, &target.resource);
                entry["summary"] = summary::row(kind, &found, now);
                chain.push(entry);
                current = found;
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                entry["note"] = json!("not found: the owner was deleted");
                chain.push(entry);
                break;
            }
            Err(error) => return Err(context.kube_error(error)),
        }
    }
    if chain.len() == MAX_OWNER_DEPTH && controller_of(&current).is_some() {
        chain.push(json!({
            "note": format!(
                "the chain goes on past {MAX_OWNER_DEPTH} owners; describe the last one"
            )
        }));
    }
    Ok(chain)
}

/// The owner reference marked as controller, else the first one.
fn controller_of(object: &Value) -> Option<&Value> {
    let owners = object["metadata"]["ownerReferences"].as_array()?;
    owners.iter().find(|o| o["controller"] == true).or_else(|| owners.first())
}
