//! Elastic Load Balancing (v2): load balancers with their listeners, target groups and the
//! health of every registered target, plus the target groups no load balancer uses.
//!
//! One view answers "why does this Service's load balancer return 503": a listener missing,
//! a target group with no targets, or targets failing their health checks. The savings
//! detectors read the same collection to find load balancers that cost money and serve
//! nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use clu_core::error::{Result, ToolError};
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Bounded, grant, timestamp};

/// How many load balancers the view returns when the input gives no `limit`.
const DEFAULT_LIMIT: u32 = 100;

/// How many target groups are read at most, attached or not.
const TARGET_GROUP_LIMIT: usize = 1000;

/// The result of `elb_describe_load_balancers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancers {
    /// The load balancers, each with its listeners and target groups.
    pub load_balancers: Vec<LoadBalancer>,
    /// Target groups attached to no load balancer (only when no names were asked for).
    pub unattached_target_groups: Vec<TargetGroup>,
    /// Whether load balancers or target groups existed past the bounds.
    pub truncated: bool,
    /// AWS's words when a name asked for does not exist; the lists are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_found: Option<String>,
}

/// One load balancer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// The name.
    pub name: String,
    /// The ARN.
    pub arn: String,
    /// `application`, `network` or `gateway`.
    pub kind: Option<String>,
    /// `internet-facing` or `internal`.
    pub scheme: Option<String>,
    /// `provisioning`, `active`, `active_impaired` or `failed`.
    pub state: Option<String>,
    /// Why it is in that state, when AWS says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// The DNS name clients use.
    pub dns_name: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The security groups (application and network load balancers with groups).
    pub security_group_ids: Vec<String>,
    /// When it was created.
    pub created: Option<String>,
    /// The listeners.
    pub listeners: Vec<Listener>,
    /// The target groups attached to it.
    pub target_groups: Vec<TargetGroup>,
}

/// One listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// The port.
    pub port: Option<i32>,
    /// The protocol.
    pub protocol: Option<String>,
    /// The default actions, compactly: `forward:<target group name>`, `redirect`,
    /// `fixed-response:503` and so on.
    pub default_actions: Vec<String>,
}

/// One target group with its targets' health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// The name.
    pub name: String,
    /// The ARN.
    pub arn: String,
    /// The protocol.
    pub protocol: Option<String>,
    /// The port.
    pub port: Option<i32>,
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The health check path (HTTP checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,
    /// The load balancers that use it.
    pub load_balancer_arns: Vec<String>,
    /// The registered targets.
    pub targets: Vec<Target>,
    /// How many targets are healthy.
    pub healthy: usize,
    /// How many are not.
    pub unhealthy: usize,
}

/// One registered target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The instance id, IP address or Lambda ARN.
    pub id: String,
    /// The port.
    pub port: Option<i32>,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining` or `unavailable`.
    pub state: Option<String>,
    /// AWS's reason code for a state other than healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// AWS's explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Input of `elb_describe_load_balancers`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancersInput {
    /// Only these load balancer names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub names: Vec<String>,
    /// At most this many load balancers (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 400))]
    pub limit: Option<u32>,
}

fn elbv2(context: &ToolContext) -> Result<aws_sdk_elasticloadbalancingv2::Client> {
    clu_core::aws_client!(context, aws_sdk_elasticloadbalancingv2)
}

fn action_text(
    action: &aws_sdk_elasticloadbalancingv2::types::Action,
    names: &BTreeMap<String, String>,
) -> String {
    let kind = action.r#type.as_ref().map_or("unknown", |t| t.as_str());
    let name_of = |arn: &str| names.get(arn).cloned().unwrap_or_else(|| arn.to_owned());
    let mut groups: Vec<String> = action.target_group_arn.iter().map(|arn| name_of(arn)).collect();
    if let Some(forward) = &action.forward_config {
        for tuple in forward.target_groups() {
            if let Some(arn) = &tuple.target_group_arn {
                let name = name_of(arn);
                if !groups.contains(&name) {
                    groups.push(name);
                }
            }
        }
    }
    if let Some(fixed) = &action.fixed_response_config {
        return format!("{kind}:{}", fixed.status_code.as_deref().unwrap_or("?"));
    }
    if groups.is_empty() { kind.to_owned() } else { format!("{kind}:{}", groups.join(",")) }
}

/// How many DescribeTargetHealth or DescribeListeners calls run at once.
const CONCURRENT_CALLS: usize = 8;

type AwsTargetGroup = aws_sdk_elasticloadbalancingv2::types::TargetGroup;

async fn group_with_health(
    context: &ToolContext,
    client: &aws_sdk_elasticloadbalancingv2::Client,
    group: &AwsTargetGroup,
) -> Result<TargetGroup> {
    let arn = group.target_group_arn.clone().unwrap_or_default();
    let health = client
        .describe_target_health()
        .target_group_arn(&arn)
        .send()
        .await
        .map_err(|e| context.aws_error(e))?;
    let targets: Vec<Target> = health
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let health = d.target_health.as_ref();
            Target {
                id: d.target.as_ref().and_then(|t| t.id.clone()).unwrap_or_default(),
                port: d.target.as_ref().and_then(|t| t.port),
                state: health.and_then(|h| h.state.as_ref()).map(|s| s.as_str().to_owned()),
                reason: health.and_then(|h| h.reason.as_ref()).map(|r| r.as_str().to_owned()),
                description: health.and_then(|h| h.description.clone()),
            }
        })
        .collect();
    let healthy = targets.iter().filter(|t| t.state.as_deref() == Some("healthy")).count();
    Ok(TargetGroup {
        name: group.target_group_name.clone().unwrap_or_default(),
        arn,
        protocol: group.protocol.as_ref().map(|p| p.as_str().to_owned()),
        port: group.port,
        target_type: group.target_type.as_ref().map(|t| t.as_str().to_owned()),
        vpc_id: group.vpc_id.clone(),
        health_check_path: group.health_check_path.clone(),
        load_balancer_arns: group.load_balancer_arns().to_vec(),
        unhealthy: targets.len() - healthy,
        healthy,
        targets,
    })
}

async fn listeners_of(
    context: &ToolContext,
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arn: Option<&str>,
    names_by_arn: &BTreeMap<String, String>,
) -> Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    let Some(arn) = arn else {
        return Ok(listeners);
    };
    let mut pages = client.describe_listeners().load_balancer_arn(arn).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for listener in page.listeners.unwrap_or_default() {
            listeners.push(Listener {
                port: listener.port,
                protocol: listener.protocol.as_ref().map(|p| p.as_str().to_owned()),
                default_actions: listener
                    .default_actions()
                    .iter()
                    .map(|a| action_text(a, names_by_arn))
                    .collect(),
            });
        }
    }
    Ok(listeners)
}

/// Reads load balancers (all, or by name), their listeners, every target group and the health
/// of their targets.
pub(crate) async fn load_balancers(
    context: &ToolContext,
    names: &[String],
    limit: usize,
) -> Result<LoadBalancers> {
    let client = elbv2(context)?;

    let mut found = Bounded::new(limit);
    let request =
        client.describe_load_balancers().set_names((!names.is_empty()).then(|| names.to_vec()));
    let mut pages = request.into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if error.code() == Some("LoadBalancerNotFound") => {
                let message = error.message().unwrap_or("load balancer not found").to_owned();
                return Ok(LoadBalancers { not_found: Some(message), ..LoadBalancers::default() });
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for lb in page.load_balancers.unwrap_or_default() {
            if !found.push(lb) {
                break 'pages;
            }
        }
    }
    let truncated_lbs = found.truncated;

    // Every target group once, so each load balancer's and each unattached group's targets
    // are read with one DescribeTargetHealth per group.
    let mut groups = Bounded::new(TARGET_GROUP_LIMIT);
    let mut pages = client.describe_target_groups().into_paginator().send();
    'groups: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for group in page.target_groups.unwrap_or_default() {
            if !groups.push(group) {
                break 'groups;
            }
        }
    }
    let wanted_arns: Vec<&str> =
        found.items.iter().filter_map(|lb| lb.load_balancer_arn.as_deref()).collect();
    let names_by_arn: BTreeMap<String, String> = groups
        .items
        .iter()
        .filter_map(|g| Some((g.target_group_arn.clone()?, g.target_group_name.clone()?)))
        .collect();

    // One DescribeTargetHealth per group and one DescribeListeners per balancer: run them a
    // few at a time, in order, so an account with many groups is not read one by one.
    let relevant: Vec<&AwsTargetGroup> = groups
        .items
        .iter()
        .filter(|group| {
            names.is_empty()
                || group.load_balancer_arns().iter().any(|arn| wanted_arns.contains(&arn.as_str()))
        })
        .collect();
    let mut pending = Vec::with_capacity(relevant.len());
    for group in relevant {
        pending.push(group_with_health(context, &client, group));
    }
    let target_groups: Vec<TargetGroup> = futures::stream::iter(pending)
        .buffered(CONCURRENT_CALLS)
        .collect::<Vec<Result<TargetGroup>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;

    let mut pending = Vec::with_capacity(found.items.len());
    for lb in &found.items {
        pending.push(listeners_of(context, &client, lb.load_balancer_arn(), &names_by_arn));
    }
    let listeners: Vec<Vec<Listener>> = futures::stream::iter(pending)
        .buffered(CONCURRENT_CALLS)
        .collect::<Vec<Result<Vec<Listener>>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;

    let mut load_balancers = Vec::new();
    for (lb, listeners) in found.items.into_iter().zip(listeners) {
        let arn = lb.load_balancer_arn.clone().unwrap_or_default();
        let attached =
            target_groups.iter().filter(|g| g.load_balancer_arns.contains(&arn)).cloned().collect();
        load_balancers.push(LoadBalancer {
            name: lb.load_balancer_name.clone().unwrap_or_default(),
            arn,
            kind: lb.r#type.as_ref().map(|t| t.as_str().to_owned()),
            scheme: lb.scheme.as_ref().map(|s| s.as_str().to_owned()),
            state: lb.state.as_ref().and_then(|s| s.code.as_ref()).map(|c| c.as_str().to_owned()),
            state_reason: lb.state.as_ref().and_then(|s| s.reason.clone()),
            dns_name: lb.dns_name.clone(),
            vpc_id: lb.vpc_id.clone(),
            security_group_ids: lb.security_groups().to_vec(),
            created: timestamp(lb.created_time.as_ref()),
            listeners,
            target_groups: attached,
        });
    }
    let unattached_target_groups = if names.is_empty() {
        target_groups.into_iter().filter(|g| g.load_balancer_arns.is_empty()).collect()
    } else {
        Vec::new()
    };
    Ok(LoadBalancers {
        load_balancers,
        unattached_target_groups,
        truncated: truncated_lbs || groups.truncated,
        not_found: None,
    })
}

/// Describes load balancers with listeners, target groups and target health.
pub struct DescribeLoadBalancers {
    spec: ToolSpec,
}

/// The ELBv2 actions the view and the savings scan use.
pub(crate) const ELB_DESCRIBE_ACTIONS: [&str; 4] = [
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
];

/// ELBv2 Describe actions take only `*` as their resource in IAM.
pub(crate) fn elb_describe() -> clu_policy::Grant {
    grant(&ELB_DESCRIBE_ACTIONS, &["*"])
}

impl DescribeLoadBalancers {
    /// The tool.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<LoadBalancersInput>(
                "elb_describe_load_balancers",
                "List Application, Network and Gateway Load Balancers (optionally by name) with \
                 state, scheme, DNS name, listeners and their default actions, attached target \
                 groups and each registered target's health with AWS's reason; also target \
                 groups attached to no load balancer. Use it when a Service or Ingress load \
                 balancer returns 502/503 or times out.",
                Tier::Cloud,
                Risk::Read,
                Permissions { iam: vec![elb_describe()], rbac: vec![] },
            ),
        }
    }
}

impl Default for DescribeLoadBalancers {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for DescribeLoadBalancers {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: LoadBalancersInput = context.parse_input(input)?;
        let limit = input.limit.unwrap_or(DEFAULT_LIMIT) as usize;
        let output = load_balancers(context, &input.names, limit).await?;
        serde_json::to_value(output).map_err(|e| ToolError::failed(context.tool(), e.to_string()))
    }
}

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(DescribeLoadBalancers::new())]
}

impl crate::Cloud {
    /// Load balancers with listeners, target groups and target health, as
    /// `elb_describe_load_balancers` gives them.
    pub async fn load_balancers(&self, input: &LoadBalancersInput) -> Result<LoadBalancers> {
        self.call_typed("elb_describe_load_balancers", input).await
    }
}
