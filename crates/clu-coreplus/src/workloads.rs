//! Workload verbs: scale through the `scale` subresource, restart a rollout as `kubectl
//! rollout restart` does, and roll back to a recorded revision as `kubectl rollout undo` does.

use async_trait::async_trait;
use clu_core::plan::Undo;
use clu_core::{
    Applied, Permissions, PlanBody, RbacRule, Result, Risk, Tier, Tool, ToolContext, ToolError,
    ToolSpec, Verification,
};
use k8s_openapi::jiff::Unit;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{
    FIELD_MANAGER, WorkloadKind, get, owned_by, patch_at, string_at, to_json, wait_for_rollout,
    wait_of, yaml_diff,
};

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The annotation a Deployment and its ReplicaSets carry their revision in.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

fn patch_params(dry_run: bool) -> PatchParams {
    PatchParams { dry_run, field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() }
}

/// A kind with a `scale` subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ScalableKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
}

impl ScalableKind {
    fn kind(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::ReplicaSet => "ReplicaSet",
        }
    }

    fn api(self, client: kube::Client, namespace: &str) -> Api<DynamicObject> {
        let resource = match self {
            Self::Deployment => "deployments",
            Self::StatefulSet => "statefulsets",
            Self::ReplicaSet => "replicasets",
        };
        let api_resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", self.kind()),
            resource,
        );
        Api::namespaced_with(client, namespace, &api_resource)
    }
}

/// The input of `k8s_scale`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sScaleInput {
    /// The kind: Deployment, StatefulSet or ReplicaSet.
    pub kind: ScalableKind,
    /// The namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The replica count wanted.
    #[schemars(range(max = 1000))]
    pub replicas: u32,
    /// How long to wait for the replicas after applying, in seconds (default 120, at most 600).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// `k8s_scale`: sets a workload's replica count through its `scale` subresource.
pub struct K8sScale {
    spec: ToolSpec,
}

impl K8sScale {
    /// The verb.
    pub fn new() -> Self {
        let rbac = vec![RbacRule::new(
            "apps",
            ["deployments/scale", "statefulsets/scale", "replicasets/scale"],
            ["get", "patch"],
        )];
        Self {
            spec: ToolSpec::new::<K8sScaleInput>(
                "k8s_scale",
                "Scales a Deployment, StatefulSet or ReplicaSet to a replica count. Makes a plan \
                 (server-side dry-run and diff) that a human approves; the undo restores the \
                 previous count.",
                Tier::CorePlus,
                Risk::Write,
                Permissions { iam: Vec::new(), rbac },
            ),
        }
    }
}

impl Default for K8sScale {
    fn default() -> Self {
        Self::new()
    }
}

async fn scale_of(context: &ToolContext, api: &Api<DynamicObject>, name: &str) -> Result<Value> {
    let scale = api.get_scale(name).await.map_err(|e| context.kube_error(e))?;
    to_json(context.tool(), &scale)
}

#[async_trait]
impl Tool for K8sScale {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sScaleInput = context.parse_input(input)?;
        let api = input.kind.api(context.kube()?, &input.namespace);
        let live = scale_of(context, &api, &input.name).await?;
        let patch = json!({ "spec": { "replicas": input.replicas } });
        let planned = api
            .patch_scale(&input.name, &patch_params(true), &Patch::Merge(&patch))
            .await
            .map_err(|e| context.kube_error(e))?;
        let planned = to_json(context.tool(), &planned)?;
        let from = live.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or_default();
        let target = format!("apps/v1 {} {}/{}", input.kind.kind(), input.namespace, input.name);
        Ok(PlanBody::new(
            format!("scale {target} from {from} to {} replicas", input.replicas),
            yaml_diff(Some(&live), Some(&planned)),
            planned,
        )
        .namespace(&input.namespace)
        .touches(target)
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let input: K8sScaleInput = context.parse_input(input)?;
        let api = input.kind.api(context.kube()?, &input.namespace);
        let live = scale_of(context, &api, &input.name).await?;
        let previous = live.pointer("/spec/replicas").and_then(Value::as_u64).unwrap_or_default();
        let patch = json!({ "spec": { "replicas": input.replicas } });
        let scaled = api
            .patch_scale(&input.name, &patch_params(false), &Patch::Merge(&patch))
            .await
            .map_err(|e| context.kube_error(e))?;
        let scaled = to_json(context.tool(), &scaled)?;

        // The scale's status follows the controller; wait until it reports the new count.
        let clock = context.clock();
        let started = clock.now();
        let wait = wait_of(input.wait_seconds);
        let wanted = i64::from(input.replicas);
        let verification = loop {
            let scale = scale_of(context, &api, &input.name).await?;
            let current = scale.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(-1);
            if current == wanted {
                break Verification::passed(format!("{} reports {current} replicas", input.name));
            }
            if clock.now().duration_since(started).unsigned_abs() >= wait {
                break Verification::failed(format!(
                    "{} reports {current} replicas, not {wanted}, after {}s",
                    input.name,
                    wait.as_secs()
                ));
            }
            clock.sleep(crate::common::POLL_INTERVAL).await;
        };
        let undo = (previous != u64::from(input.replicas)).then(|| Undo {
            tool: "k8s_scale".into(),
            input: json!({
                "kind": input.kind,
                "namespace": input.namespace,
                "name": input.name,
                "replicas": previous,
            }),
        });
        Ok(Applied {
            result: json!({ "replicas": scaled.pointer("/spec/replicas"), "previous": previous }),
            verification,
            undo,
        })
    }
}

/// The input of `k8s_restart_rollout`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sRestartRolloutInput {
    /// The kind: Deployment, StatefulSet or DaemonSet.
    pub kind: WorkloadKind,
    /// The namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The restart's timestamp; the plan sets it, leave it out.
    #[serde(default)]
    pub restarted_at: Option<String>,
    /// How long to wait for the rollout after applying, in seconds (default 120, at most 600).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// `k8s_restart_rollout`: restarts every pod of a workload by a rolling update, as `kubectl
/// rollout restart` does.
pub struct K8sRestartRollout {
    spec: ToolSpec,
}

impl K8sRestartRollout {
    /// The verb.
    pub fn new() -> Self {
        let rbac = vec![
            RbacRule::new("apps", ["deployments", "statefulsets", "daemonsets"], ["get", "patch"]),
            RbacRule::new("apps", ["controllerrevisions"], ["list"]),
        ];
        Self {
            spec: ToolSpec::new::<K8sRestartRolloutInput>(
                "k8s_restart_rollout",
                "Restarts the pods of a Deployment, StatefulSet or DaemonSet by a rolling update \
                 (sets the pod template's restartedAt annotation, as kubectl rollout restart). \
                 Makes a plan a human approves; waits for the rollout; the undo rolls back to \
                 the revision before.",
                Tier::CorePlus,
                Risk::Write,
                Permissions { iam: Vec::new(), rbac },
            ),
        }
    }
}

impl Default for K8sRestartRollout {
    fn default() -> Self {
        Self::new()
    }
}

fn restart_patch(restarted_at: &str) -> Value {
    patch_at(
        &["spec", "template", "metadata", "annotations"],
        json!({ RESTARTED_AT: restarted_at }),
    )
}

#[async_trait]
impl Tool for K8sRestartRollout {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let mut input: K8sRestartRolloutInput = context.parse_input(input)?;
        let restarted_at = match &input.restarted_at {
            Some(at) => at.clone(),
            None => {
                let now = context.clock().now();
                now.round(Unit::Second).unwrap_or(now).to_string()
            }
        };
        input.restarted_at = Some(restarted_at.clone());
        let api = input.kind.api(context.kube()?, &input.namespace);
        let live = get(context, &api, input.kind.kind(), &input.name).await?;
        let planned = api
            .patch(
                &input.name,
                &patch_params(true),
                &Patch::Strategic(&restart_patch(&restarted_at)),
            )
            .await
            .map_err(|e| context.kube_error(e))?;
        let planned = to_json(context.tool(), &planned)?;
        let target = input.kind.describe(&input.namespace, &input.name);
        Ok(PlanBody::new(
            format!("restart the pods of {target} by a rolling update"),
            yaml_diff(Some(&live), Some(&planned)),
            planned,
        )
        .namespace(&input.namespace)
        .touches(target)
        .pinned_input(to_json(context.tool(), &input)?)
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let input: K8sRestartRolloutInput = context.parse_input(input)?;
        let restarted_at = input.restarted_at.clone().ok_or_else(|| {
            ToolError::invalid_input(context.tool(), "`restartedAt` is set by the plan")
        })?;
        let client = context.kube()?;
        let api = input.kind.api(client.clone(), &input.namespace);
        let live = get(context, &api, input.kind.kind(), &input.name).await?;
        let before = current_revision(context, input.kind, &input.namespace, &live).await?;
        let restarted = api
            .patch(
                &input.name,
                &patch_params(false),
                &Patch::Strategic(&restart_patch(&restarted_at)),
            )
            .await
            .map_err(|e| context.kube_error(e))?;
        let restarted = to_json(context.tool(), &restarted)?;
        let verification = wait_for_rollout(
            context,
            input.kind,
            &input.namespace,
            &input.name,
            wait_of(input.wait_seconds),
        )
        .await?;
        let undo = before.map(|revision| Undo {
            tool: "k8s_rollout_undo".into(),
            input: json!({
                "kind": input.kind,
                "namespace": input.namespace,
                "name": input.name,
                "toRevision": revision,
            }),
        });
        Ok(Applied {
            result: json!({
                "restartedAt": restarted_at,
                "generation": restarted.pointer("/metadata/generation"),
                "previousRevision": before,
            }),
            verification,
            undo,
        })
    }
}

/// The revision a workload runs now: a Deployment's revision annotation, or the newest
/// ControllerRevision of a StatefulSet or DaemonSet.
async fn current_revision(
    context: &ToolContext,
    kind: WorkloadKind,
    namespace: &str,
    live: &Value,
) -> Result<Option<u64>> {
    match kind {
        WorkloadKind::Deployment => Ok(live
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION))
            .and_then(Value::as_str)
            .and_then(|r| r.parse().ok())),
        WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => {
            let revisions = controller_revisions(context, namespace, live).await?;
            Ok(revisions.iter().map(|(revision, _)| *revision).max())
        }
    }
}

fn api_of(client: kube::Client, namespace: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", kind), plural);
    Api::namespaced_with(client, namespace, &resource)
}

/// The ControllerRevisions of a StatefulSet or DaemonSet, by revision number.
async fn controller_revisions(
    context: &ToolContext,
    namespace: &str,
    owner: &Value,
) -> Result<Vec<(u64, Value)>> {
    let uid = string_at(context.tool(), owner, "/metadata/uid")?;
    let api = api_of(context.kube()?, namespace, "ControllerRevision", "controllerrevisions");
    let list = api.list(&ListParams::default()).await.map_err(|e| context.kube_error(e))?;
    let mut revisions = Vec::new();
    for item in list.items {
        let item = to_json(context.tool(), &item)?;
        if owned_by(&item, uid)
            && let Some(revision) = item.get("revision").and_then(Value::as_u64)
        {
            revisions.push((revision, item));
        }
    }
    Ok(revisions)
}

/// The ReplicaSets of a Deployment, by revision number.
async fn replica_sets(
    context: &ToolContext,
    namespace: &str,
    owner: &Value,
) -> Result<Vec<(u64, Value)>> {
    let uid = string_at(context.tool(), owner, "/metadata/uid")?;
    let api = api_of(context.kube()?, namespace, "ReplicaSet", "replicasets");
    let list = api.list(&ListParams::default()).await.map_err(|e| context.kube_error(e))?;
    let mut sets = Vec::new();
    for item in list.items {
        let item = to_json(context.tool(), &item)?;
        let revision = item
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION))
            .and_then(Value::as_str)
            .and_then(|r| r.parse().ok());
        if owned_by(&item, uid)
            && let Some(revision) = revision
        {
            sets.push((revision, item));
        }
    }
    Ok(sets)
}

/// The input of `k8s_rollout_undo`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sRolloutUndoInput {
    /// The kind: Deployment, StatefulSet or DaemonSet.
    pub kind: WorkloadKind,
    /// The namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The revision to go back to; the one before the current when left out.
    #[serde(default)]
    pub to_revision: Option<u64>,
    /// How long to wait for the rollout after applying, in seconds (default 120, at most 600).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// `k8s_rollout_undo`: rolls a workload back to a recorded revision, as `kubectl rollout undo`
/// does.
pub struct K8sRolloutUndo {
    spec: ToolSpec,
}

impl K8sRolloutUndo {
    /// The verb.
    pub fn new() -> Self {
        let rbac = vec![
            RbacRule::new("apps", ["deployments", "statefulsets", "daemonsets"], ["get", "patch"]),
            RbacRule::new("apps", ["replicasets", "controllerrevisions"], ["list"]),
        ];
        Self {
            spec: ToolSpec::new::<K8sRolloutUndoInput>(
                "k8s_rollout_undo",
                "Rolls a Deployment (from its ReplicaSets' revisions), StatefulSet or DaemonSet \
                 (from its ControllerRevisions) back to a previous pod template. Makes a plan a \
                 human approves; waits for the rollout; the undo returns to the revision before.",
                Tier::CorePlus,
                Risk::Write,
                Permissions { iam: Vec::new(), rbac },
            ),
        }
    }

    /// The revisions of the workload, its current one and the patch that restores `wanted`
    /// (the one before the current when `None`).
    async fn rollback(
        &self,
        context: &ToolContext,
        input: &K8sRolloutUndoInput,
        live: &Value,
    ) -> Result<(u64, u64, Value)> {
        let (revisions, current) = match input.kind {
            WorkloadKind::Deployment => {
                let sets = replica_sets(context, &input.namespace, live).await?;
                let current = current_revision(context, input.kind, &input.namespace, live)
                    .await?
                    .or_else(|| sets.iter().map(|(r, _)| *r).max())
                    .unwrap_or_default();
                (sets, current)
            }
            _ => {
                let revisions = controller_revisions(context, &input.namespace, live).await?;
                let current = revisions.iter().map(|(r, _)| *r).max().unwrap_or_default();
                (revisions, current)
            }
        };
        let target = match input.to_revision {
            Some(wanted) => wanted,
            None => revisions.iter().map(|(r, _)| *r).filter(|r| *r < current).max().ok_or_else(
                || {
                    ToolError::failed(
                        context.tool(),
                        format!(
                            "{} `{}` has no revision before {current} to roll back to",
                            input.kind.kind(),
                            input.name
                        ),
                    )
                },
            )?,
        };
        let Some((_, recorded)) = revisions.iter().find(|(r, _)| *r == target) else {
            let known: Vec<String> = revisions.iter().map(|(r, _)| r.to_string()).collect();
            return Err(ToolError::invalid_input(
                context.tool(),
                format!(
                    "{} `{}` has no revision {target}; its revisions are {}",
                    input.kind.kind(),
                    input.name,
                    known.join(", ")
                ),
            ));
        };
        let patch = match input.kind {
            WorkloadKind::Deployment => {
                let mut template =
                    recorded.pointer("/spec/template").cloned().ok_or_else(|| {
                        ToolError::failed(
                            context.tool(),
                            format!("revision {target} has no template"),
                        )
                    })?;
                if let Some(labels) =
                    template.pointer_mut("/metadata/labels").and_then(Value::as_object_mut)
                {
                    labels.remove("pod-template-hash");
                }
                template["$patch"] = json!("replace");
                json!({ "spec": { "template": template } })
            }
            _ => recorded.get("data").cloned().ok_or_else(|| {
                ToolError::failed(context.tool(), format!("revision {target} records no data"))
            })?,
        };
        Ok((current, target, patch))
    }
}

impl Default for K8sRolloutUndo {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sRolloutUndo {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let mut input: K8sRolloutUndoInput = context.parse_input(input)?;
        let api = input.kind.api(context.kube()?, &input.namespace);
        let live = get(context, &api, input.kind.kind(), &input.name).await?;
        let (current, target, patch) = self.rollback(context, &input, &live).await?;
        input.to_revision = Some(target);
        let planned = api
            .patch(&input.name, &patch_params(true), &Patch::Strategic(&patch))
            .await
            .map_err(|e| context.kube_error(e))?;
        let planned = to_json(context.tool(), &planned)?;
        let subject = input.kind.describe(&input.namespace, &input.name);
        Ok(PlanBody::new(
            format!("roll {subject} back from revision {current} to revision {target}"),
            yaml_diff(Some(&live), Some(&planned)),
            planned,
        )
        .namespace(&input.namespace)
        .touches(subject)
        .pinned_input(to_json(context.tool(), &input)?)
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let input: K8sRolloutUndoInput = context.parse_input(input)?;
        let api = input.kind.api(context.kube()?, &input.namespace);
        let live = get(context, &api, input.kind.kind(), &input.name).await?;
        let (current, target, patch) = self.rollback(context, &input, &live).await?;
        api.patch(&input.name, &patch_params(false), &Patch::Strategic(&patch))
            .await
            .map_err(|e| context.kube_error(e))?;
        let verification = wait_for_rollout(
            context,
            input.kind,
            &input.namespace,
            &input.name,
            wait_of(input.wait_seconds),
        )
        .await?;
        let undo = Undo {
            tool: "k8s_rollout_undo".into(),
            input: json!({
                "kind": input.kind,
                "namespace": input.namespace,
                "name": input.name,
                "toRevision": current,
            }),
        };
        Ok(Applied {
            result: json!({ "fromRevision": current, "toRevision": target }),
            verification,
            undo: Some(undo),
        })
    }
}
