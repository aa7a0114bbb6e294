//! Object verbs: server-side apply of one manifest, and deletion of one namespaced object, on
//! the kinds of [`WRITABLE`](crate::common::WRITABLE).

use async_trait::async_trait;
use clu_core::plan::Undo;
use clu_core::{
    Applied, Permissions, PlanBody, Result, Risk, Tier, Tool, ToolContext, ToolError, ToolSpec,
    Verification,
};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{
    FIELD_MANAGER, WorkloadKind, Writable, get_opt, restorable, to_json, wait_for_rollout, wait_of,
    yaml_diff,
};

/// The input of `k8s_apply`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sApplyInput {
    /// The object to apply: `apiVersion`, `kind`, `metadata.name`, `metadata.namespace` and the
    /// fields Clu should own.
    pub manifest: serde_json::Map<String, Value>,
    /// Take ownership of fields another manager owns; off unless the operator asks.
    #[serde(default)]
    pub force: bool,
    /// For workloads, how long to wait for the rollout, in seconds (default 120, at most 600).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// Where a manifest goes.
struct Target {
    kind: &'static Writable,
    namespace: String,
    name: String,
}

impl Target {
    fn of(tool: &str, manifest: &Value) -> Result<Self> {
        let field = |pointer: &str| {
            manifest.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(
                || ToolError::invalid_input(tool, format!("the manifest needs `{pointer}`")),
            )
        };
        let kind = Writable::find(tool, Some(field("/apiVersion")?), field("/kind")?)?;
        Ok(Self {
            kind,
            namespace: field("/metadata/namespace")?.to_owned(),
            name: field("/metadata/name")?.to_owned(),
        })
    }

    fn api(&self, context: &ToolContext) -> Result<Api<DynamicObject>> {
        Ok(Api::namespaced_with(context.kube()?, &self.namespace, &self.kind.api_resource()))
    }

    fn describe(&self) -> String {
        format!("{} {} {}/{}", self.kind.api_version(), self.kind.kind, self.namespace, self.name)
    }

    fn workload(&self) -> Option<WorkloadKind> {
        match (self.kind.group, self.kind.kind) {
            ("apps", "Deployment") => Some(WorkloadKind::Deployment),
            ("apps", "StatefulSet") => Some(WorkloadKind::StatefulSet),
            ("apps", "DaemonSet") => Some(WorkloadKind::DaemonSet),
            _ => None,
        }
    }
}

/// `k8s_apply`: server-side apply of one manifest with the field manager `clu-ops-agent`.
pub struct K8sApply {
    spec: ToolSpec,
}

impl K8sApply {
    /// The verb.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<K8sApplyInput>(
                "k8s_apply",
                "Creates or updates one namespaced object by server-side apply (field manager \
                 clu-ops-agent; force only when asked). Makes a plan (server-side dry-run and \
                 diff) a human approves; the undo restores the previous object or deletes a \
                 new one.",
                Tier::CorePlus,
                Risk::Write,
                Permissions { iam: Vec::new(), rbac: Writable::rules(&["get", "patch", "create"]) },
            ),
        }
    }

    fn params(force: bool, dry_run: bool) -> PatchParams {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        params.dry_run = dry_run;
        params
    }
}

/// One server-side apply of a manifest, as a dry-run for the plan or for real: the target,
/// its API, the live object before, and what the API server answered.
struct Applying {
    target: Target,
    api: Api<DynamicObject>,
    live: Option<Value>,
    result: Value,
}

impl Applying {
    async fn run(
        context: &ToolContext,
        manifest: serde_json::Map<String, Value>,
        force: bool,
        dry_run: bool,
    ) -> Result<Self> {
        let manifest = Value::Object(manifest);
        let target = Target::of(context.tool(), &manifest)?;
        let api = target.api(context)?;
        let live = get_opt(context, &api, &target.name).await?;
        let result = api
            .patch(&target.name, &K8sApply::params(force, dry_run), &Patch::Apply(&manifest))
            .await
            .map_err(|e| apply_error(context, e))?;
        let result = to_json(context.tool(), &result)?;
        Ok(Self { target, api, live, result })
    }
}

/// A server-side apply's error. A field-ownership conflict says which fields another manager
/// owns and how to proceed; anything else maps as every Kubernetes error does.
fn apply_error(context: &ToolContext, error: kube::Error) -> ToolError {
    match &error {
        kube::Error::Api(status) if status.code == 409 && status.reason == "Conflict" => {
            ToolError::invalid_input(
                context.tool(),
                format!(
                    "{}: those fields belong to another field manager; leave them out of the \
                     manifest, or set `force: true` to take them over",
                    status.message
                ),
            )
        }
        _ => context.kube_error(error),
    }
}

impl Default for K8sApply {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sApply {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sApplyInput = context.parse_input(input)?;
        let Applying { target, live, result: planned, .. } =
            Applying::run(context, input.manifest, input.force, true).await?;
        let verb = if live.is_some() { "update" } else { "create" };
        let force = if input.force { " (forcing field ownership)" } else { "" };
        Ok(PlanBody::new(
            format!("{verb} {} by server-side apply{force}", target.describe()),
            yaml_diff(live.as_ref(), Some(&planned)),
            planned,
        )
        .namespace(&target.namespace)
        .touches(target.describe())
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let input: K8sApplyInput = context.parse_input(input)?;
        let Applying { target, api, live, result: applied } =
            Applying::run(context, input.manifest, input.force, false).await?;
        let verification = match target.workload() {
            Some(kind) => {
                wait_for_rollout(
                    context,
                    kind,
                    &target.namespace,
                    &target.name,
                    wait_of(input.wait_seconds),
                )
                .await?
            }
            None => match get_opt(context, &api, &target.name).await? {
                Some(stored) => Verification::passed(format!(
                    "{} is stored at resourceVersion {}",
                    target.describe(),
                    stored
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                )),
                None => Verification::failed(format!("{} is not stored", target.describe())),
            },
        };
        let undo = match &live {
            Some(previous) => Undo {
                tool: "k8s_apply".into(),
                input: json!({ "manifest": restorable(previous), "force": true }),
            },
            None => Undo {
                tool: "k8s_delete".into(),
                input: json!({
                    "apiVersion": target.kind.api_version(),
                    "kind": target.kind.kind,
                    "namespace": target.namespace,
                    "name": target.name,
                }),
            },
        };
        Ok(Applied {
            result: json!({
                "object": target.describe(),
                "created": live.is_none(),
                "resourceVersion": applied.pointer("/metadata/resourceVersion"),
            }),
            verification,
            undo: Some(undo),
        })
    }
}

/// How a deletion treats the object's dependents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Propagation {
    /// Dependents are deleted after the object, by the garbage collector (the default).
    Background,
    /// Dependents are deleted before the object.
    Foreground,
    /// Dependents are kept, without the owner reference.
    Orphan,
}

/// The input of `k8s_delete`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sDeleteInput {
    /// The API version, such as `apps/v1`; the kind's usual one when left out.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The kind, such as `Deployment`.
    pub kind: String,
    /// The namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// What happens to the object's dependents (default Background).
    #[serde(default)]
    pub propagation_policy: Option<Propagation>,
}

/// `k8s_delete`: deletes one namespaced object.
pub struct K8sDelete {
    spec: ToolSpec,
}

impl K8sDelete {
    /// The verb.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<K8sDeleteInput>(
                "k8s_delete",
                "Deletes one namespaced object, with a propagation policy for its dependents. \
                 Makes a plan (server-side dry-run and the object's content) a human approves; \
                 the undo recreates the object when nothing owns it.",
                Tier::CorePlus,
                Risk::Destructive,
                Permissions { iam: Vec::new(), rbac: Writable::rules(&["get", "delete"]) },
            ),
        }
    }

    fn params(input: &K8sDeleteInput, dry_run: bool) -> DeleteParams {
        let propagation_policy = input.propagation_policy.map(|p| match p {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        });
        DeleteParams { dry_run, propagation_policy, ..DeleteParams::default() }
    }

    fn target(context: &ToolContext, input: &K8sDeleteInput) -> Result<Target> {
        let kind = Writable::find(context.tool(), input.api_version.as_deref(), &input.kind)?;
        Ok(Target { kind, namespace: input.namespace.clone(), name: input.name.clone() })
    }
}

impl Default for K8sDelete {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sDelete {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sDeleteInput = context.parse_input(input)?;
        let target = Self::target(context, &input)?;
        let api = target.api(context)?;
        let live = get_opt(context, &api, &target.name)
            .await?
            .ok_or_else(|| ToolError::NotFound { what: target.describe() })?;
        let answer = api
            .delete(&target.name, &Self::params(&input, true))
            .await
            .map_err(|e| context.kube_error(e))?;
        let dry_run = answer.either(
            |object| to_json(context.tool(), &object),
            |status| to_json(context.tool(), &status),
        )?;
        let policy = input.propagation_policy.unwrap_or(Propagation::Background);
        Ok(PlanBody::new(
            format!("delete {} (dependents: {policy:?})", target.describe()),
            yaml_diff(Some(&live), None),
            dry_run,
        )
        .namespace(&target.namespace)
        .touches(target.describe())
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let input: K8sDeleteInput = context.parse_input(input)?;
        let target = Self::target(context, &input)?;
        let api = target.api(context)?;
        let live = get_opt(context, &api, &target.name)
            .await?
            .ok_or_else(|| ToolError::NotFound { what: target.describe() })?;
        api.delete(&target.name, &Self::params(&input, false))
            .await
            .map_err(|e| context.kube_error(e))?;
        let verification = match get_opt(context, &api, &target.name).await? {
            None => Verification::passed(format!("{} is gone", target.describe())),
            Some(object) if object.pointer("/metadata/deletionTimestamp").is_some() => {
                Verification::passed(format!(
                    "{} is being deleted (finalizers remain)",
                    target.describe()
                ))
            }
            Some(_) => Verification::failed(format!("{} still exists", target.describe())),
        };
        // An object a controller owns comes back by itself, or should not come back alone.
        let owned = live
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty());
        let undo = (!owned).then(|| Undo {
            tool: "k8s_apply".into(),
            input: json!({ "manifest": restorable(&live) }),
        });
        Ok(Applied { result: json!({ "deleted": target.describe() }), verification, undo })
    }
}
