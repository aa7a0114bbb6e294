//! EKS addon management: create, update and delete an addon, never without an approved plan.
//!
//! Each verb is a write tool of the Cloud tier. Called, it changes nothing: it reads the addon
//! as it is, resolves the target (the version EKS recommends for the cluster when none is
//! given), validates the configuration values against the addon version's own configuration
//! schema, and returns a plan with the current and target state side by side. Only after a
//! human approves that plan's digest does `apply` send the change; the plan is made again
//! first, so an addon that changed in between is not overwritten with a stale decision. The
//! undo (the previous version and configuration, or removal of a new addon) is proposed as a
//! plan of its own.

use std::sync::Arc;

use async_trait::async_trait;
use clu_core::plan::{Applied, PlanBody, Undo, Verification};
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
use clu_core::{Result, ToolError};
use clu_policy::Grant;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::grant;
use crate::eks::{AddonView, addon_configuration_schema, describe_addon, require_cluster};

const CLUSTER: &str = "arn:{partition}:eks:{region}:{account}:cluster/{cluster}";
const ADDONS: &str = "arn:{partition}:eks:{region}:{account}:addon/{cluster}/*";

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(AddonVerb::new(Verb::Create)),
        Arc::new(AddonVerb::new(Verb::Update)),
        Arc::new(AddonVerb::new(Verb::Delete)),
    ]
}

/// How EKS resolves fields the addon's own workloads changed since the last apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResolveConflicts {
    /// Fail when a field would be overwritten.
    None,
    /// Overwrite the changed fields.
    Overwrite,
    /// Keep the changed fields (update only).
    Preserve,
}

impl ResolveConflicts {
    fn sdk(self) -> aws_sdk_eks::types::ResolveConflicts {
        match self {
            Self::None => aws_sdk_eks::types::ResolveConflicts::None,
            Self::Overwrite => aws_sdk_eks::types::ResolveConflicts::Overwrite,
            Self::Preserve => aws_sdk_eks::types::ResolveConflicts::Preserve,
        }
    }
}

/// Input of `eks_create_addon` and `eks_update_addon`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonChangeInput {
    /// The cluster; the agent's own when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub cluster: Option<String>,
    /// The addon, such as `vpc-cni`, `coredns` or `aws-ebs-csi-driver`.
    #[schemars(length(min = 1, max = 100))]
    pub addon_name: String,
    /// The target version, such as `v1.19.2-eksbuild.1`. For a new addon, the version EKS
    /// marks as the default for the cluster's Kubernetes version when omitted; for an update,
    /// the current version (a configuration-only change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub addon_version: Option<String>,
    /// The configuration values, checked against the version's configuration schema. For an
    /// update, omitted keeps the current values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_values: Option<Value>,
    /// What to do with fields changed outside EKS (default NONE: fail rather than overwrite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_conflicts: Option<ResolveConflicts>,
}

/// Input of `eks_delete_addon`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonDeleteInput {
    /// The cluster; the agent's own when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub cluster: Option<String>,
    /// The addon.
    #[schemars(length(min = 1, max = 100))]
    pub addon_name: String,
    /// Keep the addon's objects in the cluster and only stop EKS managing them.
    #[serde(default)]
    pub preserve: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Create,
    Update,
    Delete,
}

/// One addon-management verb.
struct AddonVerb {
    spec: ToolSpec,
    verb: Verb,
}

impl AddonVerb {
    fn new(verb: Verb) -> Self {
        // The plan reads the addon, its versions and its configuration schema; the apply
        // writes. Reads and writes land in separate statements of the derived document.
        let reads = |extra: &[&str]| -> Vec<Grant> {
            let mut grants = vec![grant(&["eks:DescribeAddon"], &[ADDONS])];
            if verb == Verb::Create {
                // Only a new addon needs the cluster's Kubernetes version, for its default.
                grants.push(grant(&["eks:DescribeCluster"], &[CLUSTER]));
            }
            if !extra.is_empty() {
                // DescribeAddonVersions and DescribeAddonConfiguration have no resource type:
                // IAM takes only `*` for them.
                grants.push(grant(extra, &["*"]));
            }
            grants
        };
        let (name, description, risk, grants) = match verb {
            Verb::Create => (
                "eks_create_addon",
                "Plan installing an EKS addon (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver, \
                 ...) on the cluster: target version (EKS's default for the cluster when not \
                 given) and configuration values checked against the addon's schema. Returns a \
                 plan for a human to approve; nothing is installed until then.",
                Risk::Write,
                [
                    reads(&["eks:DescribeAddonVersions", "eks:DescribeAddonConfiguration"]),
                    vec![grant(&["eks:CreateAddon"], &[CLUSTER])],
                ]
                .concat(),
            ),
            Verb::Update => (
                "eks_update_addon",
                "Plan changing an installed EKS addon's version or configuration values, \
                 showing the current and target version and configuration, with the values \
                 checked against the target version's schema. Returns a plan for a human to \
                 approve; nothing changes until then.",
                Risk::Write,
                [
                    reads(&["eks:DescribeAddonConfiguration"]),
                    vec![grant(&["eks:UpdateAddon"], &[ADDONS])],
                ]
                .concat(),
            ),
            Verb::Delete => (
                "eks_delete_addon",
                "Plan removing an EKS addon from the cluster (optionally keeping its objects in \
                 the cluster). Returns a plan for a human to approve; nothing is removed until \
                 then.",
                Risk::Destructive,
                [reads(&[]), vec![grant(&["eks:DeleteAddon"], &[ADDONS])]].concat(),
            ),
        };
        let permissions = Permissions { iam: grants, rbac: vec![] };
        let spec = match verb {
            Verb::Delete => {
                ToolSpec::new::<AddonDeleteInput>(name, description, Tier::Cloud, risk, permissions)
            }
            _ => {
                ToolSpec::new::<AddonChangeInput>(name, description, Tier::Cloud, risk, permissions)
            }
        };
        Self { spec, verb }
    }
}

/// The state of an addon a plan compares: what is installed, or what will be.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct AddonState {
    version: Option<String>,
    configuration_values: Option<Value>,
}

impl AddonState {
    fn of(view: &AddonView) -> Self {
        Self {
            version: view.version.clone(),
            configuration_values: view.configuration_values.clone(),
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("version: {}", self.version.as_deref().unwrap_or("(none)"))];
        match &self.configuration_values {
            None => lines.push("configuration: (defaults)".to_owned()),
            Some(values) => {
                let text = serde_json::to_string_pretty(values).unwrap_or_default();
                lines.push("configuration:".to_owned());
                lines.extend(text.lines().map(|line| format!("  {line}")));
            }
        }
        lines
    }
}

/// A line diff of two states: unchanged lines kept with a space, the rest with `-` and `+`.
fn diff(addon: &str, current: Option<&AddonState>, target: Option<&AddonState>) -> String {
    let before = current.map(AddonState::lines).unwrap_or_else(|| vec!["(not installed)".into()]);
    let after = target.map(AddonState::lines).unwrap_or_else(|| vec!["(removed)".into()]);
    let mut out = format!("--- addon {addon} (live)\n+++ addon {addon} (planned)\n");
    for line in &before {
        if after.contains(line) {
            out.push_str(&format!("  {line}\n"));
        } else {
            out.push_str(&format!("- {line}\n"));
        }
    }
    for line in after.iter().filter(|line| !before.contains(line)) {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}

/// The version EKS marks as the default for the cluster's Kubernetes version.
async fn default_version(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    addon: &str,
) -> Result<String> {
    let described =
        client.describe_cluster().name(cluster).send().await.map_err(|e| context.aws_error(e))?;
    let kubernetes = described.cluster.and_then(|c| c.version).ok_or_else(|| {
        ToolError::failed(context.tool(), format!("EKS gave no Kubernetes version for `{cluster}`"))
    })?;
    let versions = client
        .describe_addon_versions()
        .addon_name(addon)
        .kubernetes_version(&kubernetes)
        .send()
        .await
        .map_err(|e| context.aws_error(e))?;
    versions
        .addons
        .unwrap_or_default()
        .into_iter()
        .flat_map(|a| a.addon_versions.unwrap_or_default())
        .find(|v| {
            v.compatibilities.as_deref().unwrap_or_default().iter().any(|c| {
                c.default_version && c.cluster_version.as_deref() == Some(kubernetes.as_str())
            })
        })
        .and_then(|v| v.addon_version)
        .ok_or_else(|| {
            ToolError::invalid_input(
                context.tool(),
                format!(
                    "EKS offers no default version of `{addon}` for Kubernetes {kubernetes}; \
                     give `addon_version`"
                ),
            )
        })
}

/// Checks configuration values against the addon version's schema before anything is sent,
/// naming every value that does not fit.
async fn check_configuration(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    addon: &str,
    version: &str,
    values: &Value,
) -> Result<()> {
    let Some(found) = addon_configuration_schema(context, client, addon, version).await? else {
        return Err(ToolError::invalid_input(
            context.tool(),
            format!("EKS knows no version `{version}` of addon `{addon}`"),
        ));
    };
    let schema = &found["configuration_schema"];
    if schema.is_null() {
        return Err(ToolError::invalid_input(
            context.tool(),
            format!("`{addon}` {version} takes no configuration values"),
        ));
    }
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        ToolError::failed(
            context.tool(),
            format!("the configuration schema of `{addon}` is invalid: {e}"),
        )
    })?;
    let problems: Vec<String> = validator
        .iter_errors(values)
        .map(|error| {
            let path = error.instance_path().to_string();
            let at = if path.is_empty() {
                "configuration_values".to_owned()
            } else {
                format!("configuration_values`{path}`")
            };
            format!("{at}: {error}")
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ToolError::invalid_input(
            context.tool(),
            format!("the values do not fit `{addon}` {version}'s schema: {}", problems.join("; ")),
        ))
    }
}

fn object_name(cluster: &str, addon: &str) -> String {
    format!("eks addon {cluster}/{addon}")
}

#[async_trait]
impl Tool for AddonVerb {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let client = clu_core::aws_client!(context, aws_sdk_eks)?;
        match self.verb {
            Verb::Delete => {
                let input: AddonDeleteInput = context.parse_input(input)?;
                let cluster = require_cluster(context, input.cluster.clone())?;
                let Some(current) =
                    describe_addon(context, &client, &cluster, &input.addon_name).await?
                else {
                    return Err(ToolError::invalid_input(
                        context.tool(),
                        format!("cluster `{cluster}` has no addon `{}`", input.addon_name),
                    ));
                };
                let current_state = AddonState::of(&current);
                let keep = if input.preserve { ", keeping its objects in the cluster" } else { "" };
                let body = PlanBody::new(
                    format!(
                        "remove addon {} {} from cluster {cluster}{keep}",
                        input.addon_name,
                        current.version.as_deref().unwrap_or("")
                    ),
                    diff(&input.addon_name, Some(&current_state), None),
                    json!({ "current": current, "target": null, "preserve": input.preserve }),
                )
                .touches(object_name(&cluster, &input.addon_name))
                .pinned_input(json!({
                    "cluster": cluster, "addon_name": input.addon_name, "preserve": input.preserve,
                }));
                Ok(body.into_value())
            }
            Verb::Create | Verb::Update => {
                let input: AddonChangeInput = context.parse_input(input)?;
                let cluster = require_cluster(context, input.cluster.clone())?;
                let current = describe_addon(context, &client, &cluster, &input.addon_name).await?;
                let (version, values) = match (self.verb, &current) {
                    (Verb::Create, Some(current)) => {
                        return Err(ToolError::invalid_input(
                            context.tool(),
                            format!(
                                "addon `{}` is already installed on `{cluster}` at {}; use \
                                 eks_update_addon",
                                input.addon_name,
                                current.version.as_deref().unwrap_or("an unknown version")
                            ),
                        ));
                    }
                    (Verb::Update, None) => {
                        return Err(ToolError::invalid_input(
                            context.tool(),
                            format!(
                                "cluster `{cluster}` has no addon `{}`; use eks_create_addon",
                                input.addon_name
                            ),
                        ));
                    }
                    (_, None) => {
                        let version = match &input.addon_version {
                            Some(version) => version.clone(),
                            None => {
                                default_version(context, &client, &cluster, &input.addon_name)
                                    .await?
                            }
                        };
                        (version, input.configuration_values.clone())
                    }
                    (_, Some(current)) => {
                        let version = input
                            .addon_version
                            .clone()
                            .or_else(|| current.version.clone())
                            .unwrap_or_default();
                        let values = input
                            .configuration_values
                            .clone()
                            .or_else(|| current.configuration_values.clone());
                        (version, values)
                    }
                };
                if let Some(values) = &values {
                    check_configuration(context, &client, &input.addon_name, &version, values)
                        .await?;
                }
                let current_state = current.as_ref().map(AddonState::of);
                let target = AddonState {
                    version: Some(version.clone()),
                    configuration_values: values.clone(),
                };
                if current_state.as_ref() == Some(&target) {
                    return Err(ToolError::invalid_input(
                        context.tool(),
                        format!(
                            "addon `{}` already runs {version} with these values: nothing to change",
                            input.addon_name
                        ),
                    ));
                }
                let summary = match &current {
                    None => {
                        format!("install addon {} {version} on cluster {cluster}", input.addon_name)
                    }
                    Some(current) => format!(
                        "update addon {} on cluster {cluster} from {} to {version}",
                        input.addon_name,
                        current.version.as_deref().unwrap_or("an unknown version")
                    ),
                };
                let pinned = AddonChangeInput {
                    cluster: Some(cluster.clone()),
                    addon_version: Some(version),
                    configuration_values: values,
                    ..input.clone()
                };
                let body = PlanBody::new(
                    summary,
                    diff(&input.addon_name, current_state.as_ref(), Some(&target)),
                    json!({ "current": current, "target": target, "schema_checked": target.configuration_values.is_some() }),
                )
                .touches(object_name(&cluster, &input.addon_name))
                .pinned_input(serde_json::to_value(&pinned).unwrap_or(Value::Null));
                Ok(body.into_value())
            }
        }
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let client = clu_core::aws_client!(context, aws_sdk_eks)?;
        match self.verb {
            Verb::Delete => {
                let input: AddonDeleteInput = context.parse_input(input)?;
                let cluster = require_cluster(context, input.cluster.clone())?;
                let previous =
                    describe_addon(context, &client, &cluster, &input.addon_name).await?;
                let output = client
                    .delete_addon()
                    .cluster_name(&cluster)
                    .addon_name(&input.addon_name)
                    .preserve(input.preserve)
                    .send()
                    .await
                    .map_err(|e| context.aws_error(e))?;
                let status = output.addon.and_then(|a| a.status).map(|s| s.as_str().to_owned());
                let undo = previous.map(|previous| Undo {
                    tool: "eks_create_addon".to_owned(),
                    input: serde_json::to_value(AddonChangeInput {
                        cluster: Some(cluster.clone()),
                        addon_name: input.addon_name.clone(),
                        addon_version: previous.version,
                        configuration_values: previous.configuration_values,
                        resolve_conflicts: Some(ResolveConflicts::Overwrite),
                    })
                    .unwrap_or(Value::Null),
                });
                Ok(Applied {
                    result: json!({ "cluster": cluster, "addon": input.addon_name, "status": status }),
                    verification: verify(status.as_deref(), &["DELETING"]),
                    undo,
                })
            }
            Verb::Create | Verb::Update => {
                let input: AddonChangeInput = context.parse_input(input)?;
                let cluster = require_cluster(context, input.cluster.clone())?;
                let values = input
                    .configuration_values
                    .as_ref()
                    .map(|v| serde_json::to_string(v).unwrap_or_default());
                let conflicts = input.resolve_conflicts.unwrap_or(ResolveConflicts::None).sdk();
                let previous =
                    describe_addon(context, &client, &cluster, &input.addon_name).await?;
                let status = if self.verb == Verb::Create {
                    let output = client
                        .create_addon()
                        .cluster_name(&cluster)
                        .addon_name(&input.addon_name)
                        .set_addon_version(input.addon_version.clone())
                        .set_configuration_values(values)
                        .resolve_conflicts(conflicts)
                        .send()
                        .await
                        .map_err(|e| context.aws_error(e))?;
                    output.addon.and_then(|a| a.status).map(|s| s.as_str().to_owned())
                } else {
                    let output = client
                        .update_addon()
                        .cluster_name(&cluster)
                        .addon_name(&input.addon_name)
                        .set_addon_version(input.addon_version.clone())
                        .set_configuration_values(values)
                        .resolve_conflicts(conflicts)
                        .send()
                        .await
                        .map_err(|e| context.aws_error(e))?;
                    output.update.and_then(|u| u.status).map(|s| s.as_str().to_owned())
                };
                let undo = match previous {
                    None => Undo {
                        tool: "eks_delete_addon".to_owned(),
                        input: json!({ "cluster": cluster, "addon_name": input.addon_name, "preserve": false }),
                    },
                    Some(previous) => Undo {
                        tool: "eks_update_addon".to_owned(),
                        input: serde_json::to_value(AddonChangeInput {
                            cluster: Some(cluster.clone()),
                            addon_name: input.addon_name.clone(),
                            addon_version: previous.version,
                            configuration_values: previous.configuration_values,
                            resolve_conflicts: Some(ResolveConflicts::Overwrite),
                        })
                        .unwrap_or(Value::Null),
                    },
                };
                let accepted: &[&str] = if self.verb == Verb::Create {
                    &["CREATING", "ACTIVE"]
                } else {
                    &["InProgress", "Successful"]
                };
                Ok(Applied {
                    result: json!({
                        "cluster": cluster,
                        "addon": input.addon_name,
                        "version": input.addon_version,
                        "status": status,
                    }),
                    verification: verify(status.as_deref(), accepted),
                    undo: Some(undo),
                })
            }
        }
    }
}

/// Whether EKS accepted the change: the status it answered with is one of `accepted`.
fn verify(status: Option<&str>, accepted: &[&str]) -> Verification {
    match status {
        Some(status) if accepted.contains(&status) => {
            Verification::passed(format!("EKS accepted the change: status {status}"))
        }
        Some(status) => Verification::failed(format!("EKS answered with status {status}")),
        None => Verification::failed("EKS answered without a status"),
    }
}
