//! EKS views: clusters, addons and their versions and configuration schemas, nodegroups,
//! Fargate profiles, identity provider configs, Pod Identity associations, access entries and
//! access policies, insights, updates and tags.
//!
//! Every view that reads one cluster takes an optional `cluster` input and otherwise reads the
//! agent's own cluster, when the agent was told its name. The addon read helpers
//! ([`describe_addon`], [`addon_configuration_schema`], [`addon_versions`]) are shared with the
//! addon management tools, which read the same things before they plan a change.

use std::sync::Arc;

use aws_sdk_eks::types::{Category, InsightStatusValue, InsightsFilter};
use clu_core::error::ToolError;
use clu_core::tool::{Tool, ToolContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{Bounded, View, grant, is_missing, limit, not_found, timestamp, to_json};

/// The agent's own cluster.
const CLUSTER: &str = "arn:{partition}:eks:{region}:{account}:cluster/{cluster}";
const NODEGROUPS: &str = "arn:{partition}:eks:{region}:{account}:nodegroup/{cluster}/*";
const ADDONS: &str = "arn:{partition}:eks:{region}:{account}:addon/{cluster}/*";
const FARGATE_PROFILES: &str = "arn:{partition}:eks:{region}:{account}:fargateprofile/{cluster}/*";
const IDENTITY_PROVIDER_CONFIGS: &str =
    "arn:{partition}:eks:{region}:{account}:identityproviderconfig/{cluster}/*";
const POD_IDENTITY_ASSOCIATIONS: &str =
    "arn:{partition}:eks:{region}:{account}:podidentityassociation/{cluster}/*";
const ACCESS_ENTRIES: &str = "arn:{partition}:eks:{region}:{account}:access-entry/{cluster}/*";

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        View::<ListClustersInput>::tool(
            "eks_list_clusters",
            "List the names of the EKS clusters in the region. Use it to find a cluster's exact \
             name before describing it.",
            vec![grant(&["eks:ListClusters"], &["*"])],
            |context, input| Box::pin(list_clusters(context, input)),
        ),
        View::<ClusterInput>::tool(
            "eks_describe_cluster",
            "Describe one EKS cluster: status, Kubernetes and platform version, endpoint and its \
             public/private access, OIDC issuer, VPC, subnets and security groups, \
             authentication mode, enabled control plane logs, health issues, support type and \
             tags. Use it first when investigating a cluster.",
            vec![grant(&["eks:DescribeCluster"], &[CLUSTER])],
            |context, input| Box::pin(describe_cluster_view(context, input)),
        ),
        View::<ClusterListInput>::tool(
            "eks_list_addons",
            "List the EKS addons of a cluster, each described: version, status, health issues, \
             IAM role of its service account, Pod Identity associations and configuration \
             values. Use it when a managed addon (VPC CNI, CoreDNS, kube-proxy, EBS CSI...) is \
             degraded or outdated.",
            vec![grant(&["eks:ListAddons"], &[CLUSTER]), grant(&["eks:DescribeAddon"], &[ADDONS])],
            |context, input| Box::pin(list_addons(context, input)),
        ),
        View::<AddonVersionsInput>::tool(
            "eks_describe_addon_versions",
            "List the versions EKS offers of its addons (optionally one addon, and for one \
             Kubernetes version): per version the compatible cluster versions, whether it is \
             the default there, and whether it requires configuration or IAM permissions. Use \
             it to pick the version to upgrade an addon to.",
            vec![grant(&["eks:DescribeAddonVersions"], &["*"])],
            |context, input| Box::pin(describe_addon_versions(context, input)),
        ),
        View::<AddonConfigurationInput>::tool(
            "eks_describe_addon_configuration",
            "Give the JSON schema of the configuration values one addon version accepts, and \
             the service accounts it recommends Pod Identity roles for with their managed \
             policies. Use it before writing configuration values for an addon.",
            vec![grant(&["eks:DescribeAddonConfiguration"], &["*"])],
            |context, input| Box::pin(describe_addon_configuration(context, input)),
        ),
        View::<ClusterListInput>::tool(
            "eks_list_nodegroups",
            "List the managed nodegroups of a cluster, each described: status, health issues, \
             Kubernetes and AMI release version, instance types, capacity type, scaling sizes, \
             subnets, node role, labels and taints. Use it when nodes are missing, not ready or \
             not scaling.",
            vec![
                grant(&["eks:ListNodegroups"], &[CLUSTER]),
                grant(&["eks:DescribeNodegroup"], &[NODEGROUPS]),
            ],
            |context, input| Box::pin(list_nodegroups(context, input)),
        ),
        View::<ClusterListInput>::tool(
            "eks_list_fargate_profiles",
            "List the Fargate profiles of a cluster, each described: status, pod execution \
             role, subnets and the namespace and label selectors that send pods to Fargate. Use \
             it when pods that should run on Fargate stay Pending.",
            vec![
                grant(&["eks:ListFargateProfiles"], &[CLUSTER]),
                grant(&["eks:DescribeFargateProfile"], &[FARGATE_PROFILES]),
            ],
            |context, input| Box::pin(list_fargate_profiles(context, input)),
        ),
        View::<ClusterListInput>::tool(
            "eks_list_identity_provider_configs",
            "List the OIDC identity provider configs associated with a cluster for user \
             authentication, each described: issuer, client id, username and groups claims \
             and prefixes, required claims, status. Use it when people cannot log in to the \
             cluster through an identity provider.",
            vec![
                grant(&["eks:ListIdentityProviderConfigs"], &[CLUSTER]),
                grant(&["eks:DescribeIdentityProviderConfig"], &[IDENTITY_PROVIDER_CONFIGS]),
            ],
            |context, input| Box::pin(list_identity_provider_configs(context, input)),
        ),
        View::<PodIdentityInput>::tool(
            "eks_list_pod_identity_associations",
            "List the EKS Pod Identity associations of a cluster (optionally of one namespace \
             or service account), each with the IAM role it gives. Use it when a pod using Pod \
             Identity gets no or the wrong AWS credentials.",
            vec![
                grant(&["eks:ListPodIdentityAssociations"], &[CLUSTER]),
                grant(&["eks:DescribePodIdentityAssociation"], &[POD_IDENTITY_ASSOCIATIONS]),
            ],
            |context, input| Box::pin(list_pod_identity_associations(context, input)),
        ),
        View::<AccessEntriesInput>::tool(
            "eks_list_access_entries",
            "List the access entries of a cluster (the IAM principals allowed into the \
             cluster), each with its type, Kubernetes username and groups, and the access \
             policies associated with it and their scope (cluster or namespaces). Use it when \
             an IAM role or user is refused by the cluster.",
            vec![
                grant(&["eks:ListAccessEntries"], &[CLUSTER]),
                grant(
                    &["eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"],
                    &[ACCESS_ENTRIES],
                ),
            ],
            |context, input| Box::pin(list_access_entries(context, input)),
        ),
        View::<ListInput>::tool(
            "eks_list_access_policies",
            "List the EKS access policies that can be associated with access entries (such as \
             AmazonEKSClusterAdminPolicy), with their ARNs.",
            vec![grant(&["eks:ListAccessPolicies"], &["*"])],
            |context, input| Box::pin(list_access_policies(context, input)),
        ),
        View::<InsightsInput>::tool(
            "eks_insights",
            "List the EKS cluster insights (upgrade readiness, misconfiguration) with their \
             status, or with `insight_id` describe one insight: its recommendation, details and \
             the affected resources. Use it before a Kubernetes version upgrade or when EKS \
             flags a problem.",
            vec![grant(&["eks:ListInsights", "eks:DescribeInsight"], &[CLUSTER])],
            |context, input| Box::pin(insights(context, input)),
        ),
        View::<UpdatesInput>::tool(
            "eks_updates",
            "List the updates of a cluster, or of one of its nodegroups or addons, each \
             described (type, status, parameters, errors), or with `update_id` describe one \
             update. Use it to see why a version upgrade or configuration change failed or is \
             still in progress.",
            vec![grant(&["eks:ListUpdates", "eks:DescribeUpdate"], &[CLUSTER, NODEGROUPS, ADDONS])],
            |context, input| Box::pin(updates(context, input)),
        ),
        View::<TagsInput>::tool(
            "eks_list_tags",
            "Give the tags of an EKS resource by ARN: a cluster, nodegroup, addon, Fargate \
             profile or identity provider config.",
            vec![grant(
                &["eks:ListTagsForResource"],
                &[CLUSTER, NODEGROUPS, ADDONS, FARGATE_PROFILES, IDENTITY_PROVIDER_CONFIGS],
            )],
            |context, input| Box::pin(list_tags(context, input)),
        ),
    ]
}

/// The cluster a view reads: the input's, or the agent's own when it is known.
pub(crate) fn cluster_name(context: &ToolContext, input: Option<String>) -> Option<String> {
    input.or_else(|| {
        let own = &context.arn_context().cluster;
        (!own.is_empty() && own != "*").then(|| own.clone())
    })
}

/// The cluster a view reads, or an input error saying it must be given.
pub(crate) fn require_cluster(
    context: &ToolContext,
    input: Option<String>,
) -> clu_core::Result<String> {
    cluster_name(context, input).ok_or_else(|| {
        ToolError::invalid_input(
            context.tool(),
            "`cluster` is required: this agent does not know its own cluster's name",
        )
    })
}

fn text<T: AsRef<str>>(value: Option<&T>) -> Option<String> {
    value.map(|v| v.as_ref().to_owned())
}

/// Input of `eks_list_clusters`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListClustersInput {
    /// At most this many clusters (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

/// The EKS clusters of a region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClustersView {
    /// The cluster names.
    pub clusters: Vec<String>,
    /// Whether clusters past the bound were left out.
    pub truncated: bool,
}

async fn list_clusters(context: &ToolContext, input: ListClustersInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let mut clusters = Bounded::new(limit(input.limit, 100));
    let mut pages = client.list_clusters().into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for name in page.clusters.unwrap_or_default() {
            if !clusters.push(name) {
                break 'pages;
            }
        }
    }
    to_json(context, &ClustersView { clusters: clusters.items, truncated: clusters.truncated })
}

/// Input of a view of one cluster.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterInput {
    /// The cluster's name; the agent's own cluster when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) cluster: Option<String>,
}

/// The cluster's description as the model reads it, or `None` when it does not exist.
pub(crate) async fn describe_cluster(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    name: &str,
) -> clu_core::Result<Option<Value>> {
    let cluster = match client.describe_cluster().name(name).send().await {
        Ok(output) => output.cluster,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    Ok(cluster.map(|c| {
        let vpc = c.resources_vpc_config.as_ref();
        let logs: Vec<String> = c
            .logging
            .as_ref()
            .and_then(|l| l.cluster_logging.as_ref())
            .into_iter()
            .flatten()
            .filter(|setup| setup.enabled == Some(true))
            .flat_map(|setup| setup.types.iter().flatten().map(|t| t.as_str().to_owned()))
            .collect();
        let issues: Vec<Value> = c
            .health
            .as_ref()
            .and_then(|h| h.issues.as_ref())
            .into_iter()
            .flatten()
            .map(|i| {
                json!({
                    "code": text(i.code.as_ref()),
                    "message": i.message,
                    "resources": i.resource_ids,
                })
            })
            .collect();
        json!({
            "name": c.name,
            "arn": c.arn,
            "status": text(c.status.as_ref()),
            "version": c.version,
            "platform_version": c.platform_version,
            "created": timestamp(c.created_at.as_ref()),
            "endpoint": c.endpoint,
            "endpoint_public_access": vpc.map(|v| v.endpoint_public_access),
            "endpoint_private_access": vpc.map(|v| v.endpoint_private_access),
            "public_access_cidrs": vpc.and_then(|v| v.public_access_cidrs.clone()),
            "oidc_issuer": c.identity.as_ref().and_then(|i| i.oidc.as_ref()).and_then(|o| o.issuer.clone()),
            "role_arn": c.role_arn,
            "vpc_id": vpc.and_then(|v| v.vpc_id.clone()),
            "subnets": vpc.and_then(|v| v.subnet_ids.clone()),
            "security_groups": vpc.and_then(|v| v.security_group_ids.clone()),
            "cluster_security_group": vpc.and_then(|v| v.cluster_security_group_id.clone()),
            "service_ipv4_cidr": c.kubernetes_network_config.as_ref().and_then(|k| k.service_ipv4_cidr.clone()),
            "ip_family": c.kubernetes_network_config.as_ref().and_then(|k| text(k.ip_family.as_ref())),
            "authentication_mode": c.access_config.as_ref().and_then(|a| text(a.authentication_mode.as_ref())),
            "enabled_logs": logs,
            "secrets_encrypted": c.encryption_config.as_ref().is_some_and(|e| !e.is_empty()),
            "support_type": c.upgrade_policy.as_ref().and_then(|u| text(u.support_type.as_ref())),
            "health_issues": issues,
            "tags": c.tags.map(|t| t.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
        })
    }))
}

async fn describe_cluster_view(
    context: &ToolContext,
    input: ClusterInput,
) -> clu_core::Result<Value> {
    let name = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    Ok(describe_cluster(context, &client, &name)
        .await?
        .unwrap_or_else(|| not_found(format!("EKS cluster `{name}`"))))
}

/// Input of a view listing one kind of a cluster's components.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterListInput {
    /// The cluster's name; the agent's own cluster when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) cluster: Option<String>,
    /// At most this many items, each described (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub(crate) limit: Option<u32>,
}

/// The addons of a cluster, each described.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddonsView {
    /// The cluster.
    pub cluster: String,
    /// The addons.
    pub addons: Vec<AddonView>,
    /// Whether addons past the bound were left out.
    pub truncated: bool,
}

/// One EKS addon of a cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddonView {
    /// The addon's name, such as `vpc-cni`.
    pub name: String,
    /// The installed version, such as `v1.19.2-eksbuild.1`.
    pub version: Option<String>,
    /// `ACTIVE`, `DEGRADED`, `UPDATE_FAILED`, ...
    pub status: Option<String>,
    /// The health issues EKS reports.
    pub health_issues: Vec<Value>,
    /// The IAM role of the addon's service account (IRSA), if set.
    pub service_account_role_arn: Option<String>,
    /// The Pod Identity associations of the addon.
    pub pod_identity_associations: Vec<String>,
    /// The configuration values, parsed when they are JSON.
    pub configuration_values: Option<Value>,
    /// The publisher.
    pub publisher: Option<String>,
    /// The addon's ARN.
    pub arn: Option<String>,
    /// When it was created, RFC 3339.
    pub created: Option<String>,
    /// When it was last changed, RFC 3339.
    pub modified: Option<String>,
}

/// One addon of a cluster as the model reads it, or `None` when the cluster has no such addon.
pub(crate) async fn describe_addon(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    addon: &str,
) -> clu_core::Result<Option<AddonView>> {
    let described = client.describe_addon().cluster_name(cluster).addon_name(addon).send().await;
    let addon = match described {
        Ok(output) => output.addon,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    Ok(addon.map(|a| AddonView {
        name: a.addon_name.unwrap_or_default(),
        version: a.addon_version,
        status: text(a.status.as_ref()),
        health_issues: a
            .health
            .and_then(|h| h.issues)
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                json!({"code": text(i.code.as_ref()), "message": i.message, "resources": i.resource_ids})
            })
            .collect(),
        service_account_role_arn: a.service_account_role_arn,
        pod_identity_associations: a.pod_identity_associations.unwrap_or_default(),
        configuration_values: a.configuration_values.filter(|v| !v.trim().is_empty()).map(|v| {
            serde_json::from_str(&v).unwrap_or(Value::String(v))
        }),
        publisher: a.publisher,
        arn: a.addon_arn,
        created: timestamp(a.created_at.as_ref()),
        modified: timestamp(a.modified_at.as_ref()),
    }))
}

async fn list_addons(context: &ToolContext, input: ClusterListInput) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let mut addons = Bounded::new(limit(input.limit, 50));
    let mut pages = client.list_addons().cluster_name(&cluster).into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!("EKS cluster `{cluster}`")));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for name in page.addons.unwrap_or_default() {
            if addons.is_full() {
                addons.truncated = true;
                break 'pages;
            }
            // An addon removed between the list and its description is simply gone.
            if let Some(addon) = describe_addon(context, &client, &cluster, &name).await? {
                addons.push(addon);
            }
        }
    }
    to_json(context, &AddonsView { cluster, addons: addons.items, truncated: addons.truncated })
}

/// Input of `eks_describe_addon_versions`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddonVersionsInput {
    /// Only this addon, such as `vpc-cni`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) addon_name: Option<String>,
    /// Only versions compatible with this Kubernetes version, such as `1.31`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10))]
    pub(crate) kubernetes_version: Option<String>,
    /// At most this many versions per addon (default 10, newest first as EKS orders them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub(crate) versions_per_addon: Option<u32>,
    /// At most this many addons (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub(crate) limit: Option<u32>,
}

/// The versions EKS offers of its addons, as the model reads them.
pub(crate) async fn addon_versions(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    input: &AddonVersionsInput,
) -> clu_core::Result<Value> {
    let per_addon = limit(input.versions_per_addon, 10);
    let mut addons = Bounded::new(limit(input.limit, 100));
    let mut pages = client
        .describe_addon_versions()
        .set_addon_name(input.addon_name.clone())
        .set_kubernetes_version(input.kubernetes_version.clone())
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for addon in page.addons.unwrap_or_default() {
            let all = addon.addon_versions.unwrap_or_default();
            let versions_truncated = all.len() > per_addon;
            let versions: Vec<Value> = all
                .into_iter()
                .take(per_addon)
                .map(|v| {
                    let compatibilities = v.compatibilities.unwrap_or_default();
                    json!({
                        "version": v.addon_version,
                        "cluster_versions": compatibilities.iter().filter_map(|c| c.cluster_version.clone()).collect::<Vec<_>>(),
                        "default_for": compatibilities.iter().filter(|c| c.default_version).filter_map(|c| c.cluster_version.clone()).collect::<Vec<_>>(),
                        "requires_configuration": v.requires_configuration,
                        "requires_iam_permissions": v.requires_iam_permissions,
                    })
                })
                .collect();
            let row = json!({
                "name": addon.addon_name,
                "type": addon.r#type,
                "publisher": addon.publisher,
                "owner": addon.owner,
                "default_namespace": addon.default_namespace,
                "versions": versions,
                "versions_truncated": versions_truncated,
            });
            if !addons.push(row) {
                break 'pages;
            }
        }
    }
    Ok(json!({ "addons": addons.items, "truncated": addons.truncated }))
}

async fn describe_addon_versions(
    context: &ToolContext,
    input: AddonVersionsInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    addon_versions(context, &client, &input).await
}

/// Input of `eks_describe_addon_configuration`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddonConfigurationInput {
    /// The addon, such as `coredns`.
    #[schemars(length(min = 1, max = 100))]
    pub(crate) addon_name: String,
    /// The addon version, such as `v1.11.4-eksbuild.2`.
    #[schemars(length(min = 1, max = 100))]
    pub(crate) addon_version: String,
}

/// The configuration schema of one addon version, parsed, with the service accounts it
/// recommends Pod Identity roles for; `None` when EKS knows no such addon or version.
pub(crate) async fn addon_configuration_schema(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    addon: &str,
    version: &str,
) -> clu_core::Result<Option<Value>> {
    let described =
        client.describe_addon_configuration().addon_name(addon).addon_version(version).send().await;
    let output = match described {
        Ok(output) => output,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    let schema = match output.configuration_schema.filter(|s| !s.trim().is_empty()) {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            ToolError::failed(
                context.tool(),
                format!("EKS gave a configuration schema for `{addon}` that is not JSON: {e}"),
            )
        })?,
        None => Value::Null,
    };
    let pod_identity: Vec<Value> = output
        .pod_identity_configuration
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            json!({
                "service_account": p.service_account,
                "recommended_managed_policies": p.recommended_managed_policies.unwrap_or_default(),
            })
        })
        .collect();
    Ok(Some(json!({
        "addon_name": output.addon_name.unwrap_or_else(|| addon.to_owned()),
        "addon_version": output.addon_version.unwrap_or_else(|| version.to_owned()),
        "configuration_schema": schema,
        "pod_identity": pod_identity,
    })))
}

async fn describe_addon_configuration(
    context: &ToolContext,
    input: AddonConfigurationInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let found =
        addon_configuration_schema(context, &client, &input.addon_name, &input.addon_version)
            .await?;
    Ok(found.unwrap_or_else(|| {
        not_found(format!("addon `{}` version `{}`", input.addon_name, input.addon_version))
    }))
}

/// Runs `$list` over every page for a cluster, describing each name with `$describe` (an
/// async block giving `Result<Option<Value>>`), up to the input's bound.
macro_rules! list_and_describe {
    ($context:expr, $cluster:expr, $bound:expr, $pages:expr, $items:ident, |$name:ident| $describe:expr) => {{
        let mut bounded = Bounded::new($bound);
        let mut pages = $pages;
        'pages: while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(error) if is_missing(&error) => {
                    return Ok(not_found(format!("EKS cluster `{}`", $cluster)));
                }
                Err(error) => return Err($context.aws_error(error)),
            };
            for $name in page.$items.unwrap_or_default() {
                if bounded.is_full() {
                    bounded.truncated = true;
                    break 'pages;
                }
                if let Some(item) = $describe.await? {
                    bounded.push(item);
                }
            }
        }
        bounded
    }};
}

async fn list_nodegroups(
    context: &ToolContext,
    input: ClusterListInput,
) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let pages = client.list_nodegroups().cluster_name(&cluster).into_paginator().send();
    let nodegroups =
        list_and_describe!(context, cluster, limit(input.limit, 50), pages, nodegroups, |name| {
            describe_nodegroup(context, &client, &cluster, name)
        });
    Ok(
        json!({ "cluster": cluster, "nodegroups": nodegroups.items, "truncated": nodegroups.truncated }),
    )
}

async fn describe_nodegroup(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    name: String,
) -> clu_core::Result<Option<Value>> {
    let described =
        client.describe_nodegroup().cluster_name(cluster).nodegroup_name(&name).send().await;
    let nodegroup = match described {
        Ok(output) => output.nodegroup,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    Ok(nodegroup.map(|n| {
        let scaling = n.scaling_config.as_ref();
        json!({
            "name": n.nodegroup_name,
            "status": text(n.status.as_ref()),
            "health_issues": n.health.and_then(|h| h.issues).unwrap_or_default().into_iter().map(|i| {
                json!({"code": text(i.code.as_ref()), "message": i.message, "resources": i.resource_ids})
            }).collect::<Vec<_>>(),
            "version": n.version,
            "release_version": n.release_version,
            "ami_type": text(n.ami_type.as_ref()),
            "capacity_type": text(n.capacity_type.as_ref()),
            "instance_types": n.instance_types,
            "min_size": scaling.and_then(|s| s.min_size),
            "max_size": scaling.and_then(|s| s.max_size),
            "desired_size": scaling.and_then(|s| s.desired_size),
            "subnets": n.subnets,
            "node_role": n.node_role,
            "labels": n.labels.map(|l| l.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
            "taints": n.taints.unwrap_or_default().into_iter().map(|t| {
                json!({"key": t.key, "value": t.value, "effect": text(t.effect.as_ref())})
            }).collect::<Vec<_>>(),
            "launch_template": n.launch_template.and_then(|l| l.name.or(l.id)),
            "autoscaling_groups": n.resources.and_then(|r| r.auto_scaling_groups).unwrap_or_default()
                .into_iter().filter_map(|g| g.name).collect::<Vec<_>>(),
            "created": timestamp(n.created_at.as_ref()),
            "modified": timestamp(n.modified_at.as_ref()),
            "arn": n.nodegroup_arn,
        })
    }))
}

async fn list_fargate_profiles(
    context: &ToolContext,
    input: ClusterListInput,
) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let pages = client.list_fargate_profiles().cluster_name(&cluster).into_paginator().send();
    let profiles = list_and_describe!(
        context,
        cluster,
        limit(input.limit, 50),
        pages,
        fargate_profile_names,
        |name| { describe_fargate_profile(context, &client, &cluster, name) }
    );
    Ok(
        json!({ "cluster": cluster, "fargate_profiles": profiles.items, "truncated": profiles.truncated }),
    )
}

async fn describe_fargate_profile(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    name: String,
) -> clu_core::Result<Option<Value>> {
    let described = client
        .describe_fargate_profile()
        .cluster_name(cluster)
        .fargate_profile_name(&name)
        .send()
        .await;
    let profile = match described {
        Ok(output) => output.fargate_profile,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    Ok(profile.map(|p| {
        json!({
            "name": p.fargate_profile_name,
            "status": text(p.status.as_ref()),
            "pod_execution_role_arn": p.pod_execution_role_arn,
            "subnets": p.subnets,
            "selectors": p.selectors.unwrap_or_default().into_iter().map(|s| json!({
                "namespace": s.namespace,
                "labels": s.labels.map(|l| l.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
            })).collect::<Vec<_>>(),
            "health_issues": p.health.and_then(|h| h.issues).unwrap_or_default().into_iter().map(|i| {
                json!({"code": text(i.code.as_ref()), "message": i.message, "resources": i.resource_ids})
            }).collect::<Vec<_>>(),
            "created": timestamp(p.created_at.as_ref()),
            "arn": p.fargate_profile_arn,
        })
    }))
}

async fn list_identity_provider_configs(
    context: &ToolContext,
    input: ClusterListInput,
) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let pages =
        client.list_identity_provider_configs().cluster_name(&cluster).into_paginator().send();
    let configs = list_and_describe!(
        context,
        cluster,
        limit(input.limit, 50),
        pages,
        identity_provider_configs,
        |config| { describe_identity_provider_config(context, &client, &cluster, config) }
    );
    Ok(json!({
        "cluster": cluster,
        "identity_provider_configs": configs.items,
        "truncated": configs.truncated,
    }))
}

async fn describe_identity_provider_config(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    config: aws_sdk_eks::types::IdentityProviderConfig,
) -> clu_core::Result<Option<Value>> {
    let (kind, name) = (config.r#type.clone(), config.name.clone());
    let described = client
        .describe_identity_provider_config()
        .cluster_name(cluster)
        .identity_provider_config(config)
        .send()
        .await;
    let response = match described {
        Ok(output) => output.identity_provider_config,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    let oidc = response.and_then(|r| r.oidc);
    Ok(Some(match oidc {
        Some(o) => json!({
            "name": name,
            "type": kind,
            "status": text(o.status.as_ref()),
            "issuer_url": o.issuer_url,
            "client_id": o.client_id,
            "username_claim": o.username_claim,
            "username_prefix": o.username_prefix,
            "groups_claim": o.groups_claim,
            "groups_prefix": o.groups_prefix,
            "required_claims": o.required_claims.map(|c| c.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
            "arn": o.identity_provider_config_arn,
        }),
        None => json!({ "name": name, "type": kind }),
    }))
}

/// Input of `eks_list_pod_identity_associations`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodIdentityInput {
    /// The cluster's name; the agent's own cluster when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) cluster: Option<String>,
    /// Only associations in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub(crate) namespace: Option<String>,
    /// Only associations of this service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub(crate) service_account: Option<String>,
    /// At most this many associations, each described (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub(crate) limit: Option<u32>,
}

async fn list_pod_identity_associations(
    context: &ToolContext,
    input: PodIdentityInput,
) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let pages = client
        .list_pod_identity_associations()
        .cluster_name(&cluster)
        .set_namespace(input.namespace)
        .set_service_account(input.service_account)
        .into_paginator()
        .send();
    let associations = list_and_describe!(
        context,
        cluster,
        limit(input.limit, 100),
        pages,
        associations,
        |summary| { describe_pod_identity_association(context, &client, &cluster, summary) }
    );
    Ok(json!({
        "cluster": cluster,
        "associations": associations.items,
        "truncated": associations.truncated,
    }))
}

async fn describe_pod_identity_association(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    summary: aws_sdk_eks::types::PodIdentityAssociationSummary,
) -> clu_core::Result<Option<Value>> {
    let Some(id) = summary.association_id.clone() else { return Ok(None) };
    let described = client
        .describe_pod_identity_association()
        .cluster_name(cluster)
        .association_id(&id)
        .send()
        .await;
    let association = match described {
        Ok(output) => output.association,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    Ok(association.map(|a| {
        json!({
            "namespace": a.namespace,
            "service_account": a.service_account,
            "role_arn": a.role_arn,
            "target_role_arn": a.target_role_arn,
            "association_id": a.association_id,
            "owner_arn": a.owner_arn,
            "session_tags_disabled": a.disable_session_tags,
            "created": timestamp(a.created_at.as_ref()),
            "modified": timestamp(a.modified_at.as_ref()),
        })
    }))
}

/// Input of `eks_list_access_entries`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessEntriesInput {
    /// The cluster's name; the agent's own cluster when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) cluster: Option<String>,
    /// Only the entry of this IAM principal ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048))]
    pub(crate) principal_arn: Option<String>,
    /// At most this many entries, each described (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub(crate) limit: Option<u32>,
}

async fn list_access_entries(
    context: &ToolContext,
    input: AccessEntriesInput,
) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let wanted = input.principal_arn;
    let pages = client.list_access_entries().cluster_name(&cluster).into_paginator().send();
    let entries = list_and_describe!(
        context,
        cluster,
        limit(input.limit, 50),
        pages,
        access_entries,
        |principal| {
            describe_access_entry(context, &client, &cluster, principal, wanted.as_deref())
        }
    );
    Ok(
        json!({ "cluster": cluster, "access_entries": entries.items, "truncated": entries.truncated }),
    )
}

async fn describe_access_entry(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    principal: String,
    wanted: Option<&str>,
) -> clu_core::Result<Option<Value>> {
    if wanted.is_some_and(|w| w != principal) {
        return Ok(None);
    }
    let described =
        client.describe_access_entry().cluster_name(cluster).principal_arn(&principal).send().await;
    let entry = match described {
        Ok(output) => output.access_entry,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    let Some(entry) = entry else { return Ok(None) };

    let mut policies = Vec::new();
    let mut pages = client
        .list_associated_access_policies()
        .cluster_name(cluster)
        .principal_arn(&principal)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for policy in page.associated_access_policies.unwrap_or_default() {
            let scope = policy.access_scope.as_ref();
            policies.push(json!({
                "policy_arn": policy.policy_arn,
                "scope": scope.and_then(|s| text(s.r#type.as_ref())),
                "namespaces": scope.and_then(|s| s.namespaces.clone()).unwrap_or_default(),
                "associated": timestamp(policy.associated_at.as_ref()),
            }));
        }
    }
    Ok(Some(json!({
        "principal_arn": entry.principal_arn,
        "type": entry.r#type,
        "username": entry.username,
        "kubernetes_groups": entry.kubernetes_groups.unwrap_or_default(),
        "access_policies": policies,
        "created": timestamp(entry.created_at.as_ref()),
        "modified": timestamp(entry.modified_at.as_ref()),
    })))
}

/// Input of a view listing account-wide items.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListInput {
    /// At most this many items (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

async fn list_access_policies(context: &ToolContext, input: ListInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let mut policies = Bounded::new(limit(input.limit, 100));
    let mut pages = client.list_access_policies().into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for policy in page.access_policies.unwrap_or_default() {
            if !policies.push(json!({ "name": policy.name, "arn": policy.arn })) {
                break 'pages;
            }
        }
    }
    Ok(json!({ "access_policies": policies.items, "truncated": policies.truncated }))
}

/// Input of `eks_insights`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InsightsInput {
    /// The cluster's name; the agent's own cluster when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) cluster: Option<String>,
    /// Describe this insight instead of listing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) insight_id: Option<String>,
    /// Only insights of this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) category: Option<InsightCategory>,
    /// Only insights with these statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) statuses: Option<Vec<InsightStatus>>,
    /// At most this many insights (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub(crate) limit: Option<u32>,
}

/// An insight category, as EKS names it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) enum InsightCategory {
    /// Readiness for the next Kubernetes version.
    #[serde(rename = "UPGRADE_READINESS")]
    UpgradeReadiness,
    /// Configuration that keeps the cluster from working as intended.
    #[serde(rename = "MISCONFIGURATION")]
    Misconfiguration,
}

/// An insight status, as EKS names it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) enum InsightStatus {
    /// No problem found.
    #[serde(rename = "PASSING")]
    Passing,
    /// Something needs attention.
    #[serde(rename = "WARNING")]
    Warning,
    /// Something must be fixed.
    #[serde(rename = "ERROR")]
    Error,
    /// EKS could not tell.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

fn insight_status(status: Option<&aws_sdk_eks::types::InsightStatus>) -> Value {
    json!({
        "status": status.and_then(|s| text(s.status.as_ref())),
        "reason": status.and_then(|s| s.reason.clone()),
    })
}

async fn insights(context: &ToolContext, input: InsightsInput) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster)?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;

    if let Some(id) = input.insight_id {
        let described = client.describe_insight().cluster_name(&cluster).id(&id).send().await;
        let insight = match described {
            Ok(output) => output.insight,
            Err(error) if is_missing(&error) => None,
            Err(error) => return Err(context.aws_error(error)),
        };
        let Some(i) = insight else {
            return Ok(not_found(format!("insight `{id}` of EKS cluster `{cluster}`")));
        };
        let resources: Vec<Value> = i
            .resources
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                json!({
                    "kubernetes_resource": r.kubernetes_resource_uri,
                    "arn": r.arn,
                    "status": insight_status(r.insight_status.as_ref()),
                })
            })
            .collect();
        let deprecations: Vec<Value> = i
            .category_specific_summary
            .and_then(|s| s.deprecation_details)
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                json!({
                    "usage": d.usage,
                    "replaced_with": d.replaced_with,
                    "stop_serving_version": d.stop_serving_version,
                    "start_serving_replacement_version": d.start_serving_replacement_version,
                    "clients": d.client_stats.unwrap_or_default().into_iter().map(|c| json!({
                        "user_agent": c.user_agent,
                        "requests_last_30_days": c.number_of_requests_last30_days,
                        "last_request": timestamp(c.last_request_time.as_ref()),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return Ok(json!({
            "cluster": cluster,
            "id": i.id,
            "name": i.name,
            "category": text(i.category.as_ref()),
            "kubernetes_version": i.kubernetes_version,
            "status": insight_status(i.insight_status.as_ref()),
            "description": i.description,
            "recommendation": i.recommendation,
            "additional_info": i.additional_info.map(|a| a.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
            "resources": resources,
            "deprecations": deprecations,
            "last_refresh": timestamp(i.last_refresh_time.as_ref()),
        }));
    }

    let categories = input.category.map(|c| {
        vec![match c {
            InsightCategory::UpgradeReadiness => Category::UpgradeReadiness,
            InsightCategory::Misconfiguration => Category::Misconfiguration,
        }]
    });
    let statuses = input.statuses.map(|statuses| {
        statuses
            .into_iter()
            .map(|s| match s {
                InsightStatus::Passing => InsightStatusValue::Passing,
                InsightStatus::Warning => InsightStatusValue::Warning,
                InsightStatus::Error => InsightStatusValue::Error,
                InsightStatus::Unknown => InsightStatusValue::from("UNKNOWN"),
            })
            .collect()
    });
    let filter = (categories.is_some() || statuses.is_some()).then(|| {
        InsightsFilter::builder().set_categories(categories).set_statuses(statuses).build()
    });
    let mut insights = Bounded::new(limit(input.limit, 100));
    let mut pages =
        client.list_insights().cluster_name(&cluster).set_filter(filter).into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!("EKS cluster `{cluster}`")));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for i in page.insights.unwrap_or_default() {
            let row = json!({
                "id": i.id,
                "name": i.name,
                "category": text(i.category.as_ref()),
                "kubernetes_version": i.kubernetes_version,
                "status": insight_status(i.insight_status.as_ref()),
                "description": i.description,
                "last_refresh": timestamp(i.last_refresh_time.as_ref()),
            });
            if !insights.push(row) {
                break 'pages;
            }
        }
    }
    Ok(json!({ "cluster": cluster, "insights": insights.items, "truncated": insights.truncated }))
}

/// Input of `eks_updates`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdatesInput {
    /// The cluster's name; the agent's own cluster when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) cluster: Option<String>,
    /// The updates of this nodegroup instead of the cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) nodegroup: Option<String>,
    /// The updates of this addon instead of the cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) addon: Option<String>,
    /// Describe only this update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) update_id: Option<String>,
    /// At most this many updates, each described (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub(crate) limit: Option<u32>,
}

async fn describe_update(
    context: &ToolContext,
    client: &aws_sdk_eks::Client,
    cluster: &str,
    input: &UpdatesInput,
    id: String,
) -> clu_core::Result<Option<Value>> {
    let described = client
        .describe_update()
        .name(cluster)
        .update_id(&id)
        .set_nodegroup_name(input.nodegroup.clone())
        .set_addon_name(input.addon.clone())
        .send()
        .await;
    let update = match described {
        Ok(output) => output.update,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(context.aws_error(error)),
    };
    Ok(update.map(|u| {
        json!({
            "id": u.id,
            "type": text(u.r#type.as_ref()),
            "status": text(u.status.as_ref()),
            "created": timestamp(u.created_at.as_ref()),
            "params": u.params.unwrap_or_default().into_iter().map(|p| {
                json!({"type": text(p.r#type.as_ref()), "value": p.value})
            }).collect::<Vec<_>>(),
            "errors": u.errors.unwrap_or_default().into_iter().map(|e| json!({
                "code": text(e.error_code.as_ref()),
                "message": e.error_message,
                "resources": e.resource_ids,
            })).collect::<Vec<_>>(),
        })
    }))
}

async fn updates(context: &ToolContext, input: UpdatesInput) -> clu_core::Result<Value> {
    let cluster = require_cluster(context, input.cluster.clone())?;
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;

    if let Some(id) = input.update_id.clone() {
        return Ok(describe_update(context, &client, &cluster, &input, id.clone())
            .await?
            .unwrap_or_else(|| not_found(format!("update `{id}` of EKS cluster `{cluster}`"))));
    }
    let pages = client
        .list_updates()
        .name(&cluster)
        .set_nodegroup_name(input.nodegroup.clone())
        .set_addon_name(input.addon.clone())
        .into_paginator()
        .send();
    let updates =
        list_and_describe!(context, cluster, limit(input.limit, 20), pages, update_ids, |id| {
            describe_update(context, &client, &cluster, &input, id)
        });
    Ok(json!({ "cluster": cluster, "updates": updates.items, "truncated": updates.truncated }))
}

/// Input of `eks_list_tags`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TagsInput {
    /// The resource's ARN.
    #[schemars(length(min = 20, max = 2048))]
    pub(crate) resource_arn: String,
}

async fn list_tags(context: &ToolContext, input: TagsInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_eks)?;
    let listed = client.list_tags_for_resource().resource_arn(&input.resource_arn).send().await;
    match listed {
        Ok(output) => Ok(json!({
            "resource_arn": input.resource_arn,
            "tags": output.tags.unwrap_or_default().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        })),
        Err(error) if is_missing(&error) => {
            Ok(not_found(format!("EKS resource `{}`", input.resource_arn)))
        }
        Err(error) => Err(context.aws_error(error)),
    }
}

impl crate::Cloud {
    /// The names of the region's EKS clusters, up to `limit`.
    pub async fn clusters(&self, limit: Option<u32>) -> Result<ClustersView, ToolError> {
        self.call_typed("eks_list_clusters", &ListClustersInput { limit }).await
    }

    /// The addons of `cluster`, each described; `None` when the cluster does not exist.
    pub async fn addons(&self, cluster: &str) -> Result<Option<AddonsView>, ToolError> {
        let input = ClusterListInput { cluster: Some(cluster.to_owned()), limit: None };
        let output = self.call_typed::<_, Value>("eks_list_addons", &input).await?;
        crate::common::found("eks_list_addons", output)
    }
}
