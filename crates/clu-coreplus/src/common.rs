//! What the Core Plus verbs share: the kinds they may write, the field manager, the diff of a
//! live object against its planned state, and the wait for a rollout.

use std::time::Duration;

use clu_core::{RbacRule, Result, ToolContext, ToolError, Verification};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The field manager of every write, so an operator can tell Clu's changes from others'.
pub const FIELD_MANAGER: &str = "clu-ops-agent";

/// One kind the object verbs (`k8s_apply`, `k8s_delete`) may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writable {
    /// The API group, `""` for core.
    pub group: &'static str,
    /// The version.
    pub version: &'static str,
    /// The plural resource, as RBAC names it.
    pub resource: &'static str,
    /// The kind.
    pub kind: &'static str,
}

const fn writable(
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
) -> Writable {
    Writable { group, version, resource, kind }
}

/// The namespaced kinds the object verbs may write, and so declare RBAC on.
///
/// Secrets, ServiceAccounts, RBAC objects and cluster-scoped kinds are absent on purpose: a
/// write there could hand the agent, or a workload, more authority than the operator meant.
pub const WRITABLE: &[Writable] = &[
    writable("", "v1", "configmaps", "ConfigMap"),
    writable("", "v1", "services", "Service"),
    writable("", "v1", "pods", "Pod"),
    writable("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    writable("apps", "v1", "deployments", "Deployment"),
    writable("apps", "v1", "statefulsets", "StatefulSet"),
    writable("apps", "v1", "daemonsets", "DaemonSet"),
    writable("apps", "v1", "replicasets", "ReplicaSet"),
    writable("batch", "v1", "jobs", "Job"),
    writable("batch", "v1", "cronjobs", "CronJob"),
    writable("networking.k8s.io", "v1", "ingresses", "Ingress"),
    writable("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    writable("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    writable("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
];

impl Writable {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kube resource description of the kind.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.resource,
        )
    }

    /// The kind named by `api_version` (optional) and `kind`, or an error listing the kinds.
    pub fn find(tool: &str, api_version: Option<&str>, kind: &str) -> Result<&'static Writable> {
        WRITABLE
            .iter()
            .find(|w| {
                w.kind.eq_ignore_ascii_case(kind)
                    && api_version.is_none_or(|version| version == w.api_version())
            })
            .ok_or_else(|| {
                let kinds: Vec<String> =
                    WRITABLE.iter().map(|w| format!("{} {}", w.api_version(), w.kind)).collect();
                ToolError::invalid_input(
                    tool,
                    format!(
                        "`{}{kind}` is not a kind Clu writes; it writes {}",
                        api_version.map(|v| format!("{v} ")).unwrap_or_default(),
                        kinds.join(", ")
                    ),
                )
            })
    }

    /// The RBAC rules granting `verbs` on every writable kind, one rule per group.
    pub fn rules(verbs: &[&str]) -> Vec<RbacRule> {
        let mut groups: Vec<&str> = WRITABLE.iter().map(|w| w.group).collect();
        groups.dedup();
        groups
            .into_iter()
            .map(|group| {
                let resources = WRITABLE.iter().filter(|w| w.group == group).map(|w| w.resource);
                RbacRule::new(group, resources, verbs.iter().copied())
            })
            .collect()
    }
}

/// A workload kind whose rollout the verbs drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
}

impl WorkloadKind {
    /// The kind as the API names it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
        }
    }

    /// The plural resource.
    pub fn resource(self) -> &'static str {
        match self {
            Self::Deployment => "deployments",
            Self::StatefulSet => "statefulsets",
            Self::DaemonSet => "daemonsets",
        }
    }

    /// The API of the kind in `namespace`.
    pub fn api(self, client: kube::Client, namespace: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", self.kind()),
            self.resource(),
        );
        Api::namespaced_with(client, namespace, &resource)
    }

    /// How the object is named in plans: `apps/v1 Deployment shop/web`.
    pub fn describe(self, namespace: &str, name: &str) -> String {
        format!("apps/v1 {} {namespace}/{name}", self.kind())
    }
}

/// The object as a JSON value without what the server alone sets, for a diff that shows only
/// what a change does.
pub fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for volatile in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "selfLink",
        ] {
            metadata.remove(volatile);
        }
    }
    object
}

/// A readable line diff of two objects as YAML, with `---`/`+++` headers; empty when equal.
pub fn yaml_diff(live: Option<&Value>, planned: Option<&Value>) -> String {
    let render = |value: Option<&Value>| {
        value
            .map(|v| serde_saphyr::to_string(&comparable(v)).unwrap_or_else(|_| v.to_string()))
            .unwrap_or_default()
    };
    let (before, after) = (render(live), render(planned));
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(4)
        .header("live", "planned")
        .to_string()
}

/// The object's JSON, or a clear error when the API answered with something else.
pub fn to_json(tool: &str, object: &impl Serialize) -> Result<Value> {
    serde_json::to_value(object).map_err(|e| {
        ToolError::failed(tool, format!("the API answered an object Clu cannot read: {e}"))
    })
}

/// Gets an object, `None` when it does not exist.
pub async fn get_opt(
    context: &ToolContext,
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<Option<Value>> {
    match api.get_opt(name).await {
        Ok(Some(object)) => Ok(Some(to_json(context.tool(), &object)?)),
        Ok(None) => Ok(None),
        Err(error) => Err(context.kube_error(error)),
    }
}

/// Gets an object that must exist.
pub async fn get(
    context: &ToolContext,
    api: &Api<DynamicObject>,
    what: &str,
    name: &str,
) -> Result<Value> {
    get_opt(context, api, name)
        .await?
        .ok_or_else(|| ToolError::NotFound { what: format!("{what} `{name}`") })
}

/// How long a verb waits for a rollout when the input does not say.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// How often it looks.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Whether a workload's rollout is done, as `kubectl rollout status` decides, with what it
/// saw.
pub fn rollout_done(kind: WorkloadKind, object: &Value) -> (bool, String) {
    let number = |path: &str| object.pointer(path).and_then(Value::as_i64).unwrap_or_default();
    let generation = number("/metadata/generation");
    let observed = number("/status/observedGeneration");
    if observed < generation {
        return (false, format!("the controller has not seen generation {generation} yet"));
    }
    match kind {
        WorkloadKind::Deployment => {
            let wanted = object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let updated = number("/status/updatedReplicas");
            let total = number("/status/replicas");
            let available = number("/status/availableReplicas");
            let message = format!(
                "{updated} of {wanted} replicas updated, {available} available, {total} in total"
            );
            (updated >= wanted && total <= updated && available >= updated, message)
        }
        WorkloadKind::StatefulSet => {
            let wanted = object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let updated = number("/status/updatedReplicas");
            let ready = number("/status/readyReplicas");
            let message = format!("{updated} of {wanted} replicas updated, {ready} ready");
            (updated >= wanted && ready >= wanted, message)
        }
        WorkloadKind::DaemonSet => {
            let desired = number("/status/desiredNumberScheduled");
            let updated = number("/status/updatedNumberScheduled");
            let available = number("/status/numberAvailable");
            let message = format!("{updated} of {desired} nodes updated, {available} available");
            (updated >= desired && available >= desired, message)
        }
    }
}

/// Polls the workload until its rollout is done or `wait` passes, on the context's clock.
pub async fn wait_for_rollout(
    context: &ToolContext,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    wait: Duration,
) -> Result<Verification> {
    let api = kind.api(context.kube()?, namespace);
    let clock = context.clock();
    let started = clock.now();
    loop {
        let object = get(context, &api, kind.kind(), name).await?;
        let (done, seen) = rollout_done(kind, &object);
        if done {
            return Ok(Verification::passed(format!(
                "rollout of {} `{name}` finished: {seen}",
                kind.kind()
            )));
        }
        let waited = clock.now().duration_since(started).unsigned_abs();
        if waited >= wait {
            return Ok(Verification::failed(format!(
                "rollout of {} `{name}` did not finish within {}s: {seen}",
                kind.kind(),
                wait.as_secs()
            )));
        }
        clock.sleep(POLL_INTERVAL).await;
    }
}

/// Whether `object` is controlled by the owner with `uid`.
pub fn owned_by(object: &Value, uid: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| owners.iter().any(|o| o["uid"].as_str() == Some(uid)))
}

/// The manifest of a live object to recreate or restore it: without server fields, owner
/// references or status.
pub fn restorable(object: &Value) -> Value {
    let mut manifest = comparable(object);
    if let Some(metadata) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("ownerReferences");
        metadata.remove("deletionTimestamp");
        metadata.remove("deletionGracePeriodSeconds");
        metadata.remove("finalizers");
    }
    manifest
}

/// A string from a JSON value, or a clear error naming the field.
pub fn string_at<'a>(tool: &str, object: &'a Value, pointer: &str) -> Result<&'a str> {
    object.pointer(pointer).and_then(Value::as_str).ok_or_else(|| {
        ToolError::failed(tool, format!("the API answered an object without `{pointer}`"))
    })
}

/// The wait of an input, bounded so a call cannot hang the agent.
pub fn wait_of(seconds: Option<u64>) -> Duration {
    seconds.map_or(DEFAULT_WAIT, |s| Duration::from_secs(s.min(600)))
}

/// A JSON object with one `key`, for building patches.
pub fn patch_at(path: &[&str], leaf: Value) -> Value {
    path.iter().rev().fold(leaf, |inner, key| json!({ *key: inner }))
}
