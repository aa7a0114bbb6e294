//! EC2 views of the network around a cluster and what runs in it: VPCs, subnets (with how
//! close each is to running out of addresses), route tables, security groups, network ACLs,
//! NAT and internet gateways, instances, network interfaces and EBS volumes.
//!
//! Every view reads its pages up to the input's `limit` and marks the result `truncated` past
//! it. An id that does not exist is a result (`not_found` carries AWS's words), not an error,
//! because "that subnet is gone" is an answer the model can act on. The collectors here are
//! shared with the reachability check and the savings detectors, so those read the same
//! compact shapes.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use clu_core::error::{Result, ToolError};
use clu_core::guard::aws::SdkError;
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
use clu_policy::Grant;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Bounded, grant, timestamp};
use crate::reachability::Cidr;

/// How many items a view returns when the input gives no `limit`.
const DEFAULT_LIMIT: u32 = 200;

/// Below this share of free addresses a subnet is flagged as nearly exhausted, unless the
/// input says otherwise. The VPC CNI gives every pod an address of its node's subnet, so a
/// subnet near exhaustion stops pods from being scheduled long before it is full.
pub const NEARLY_EXHAUSTED_BELOW_PERCENT: f64 = 10.0;

/// A grant of EC2 Describe actions, which IAM takes only on `*`.
pub(crate) fn ec2_describe(actions: &[&str]) -> Grant {
    grant(actions, &["*"])
}

// ---------------------------------------------------------------------------------------------
// Output types.

macro_rules! listing {
    ($(#[$doc:meta])* $name:ident, $field:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// The items found, up to the bound.
            pub $field: Vec<$item>,
            /// Whether more existed past the bound.
            pub truncated: bool,
            /// AWS's words when an id asked for does not exist; the list is then empty.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub not_found: Option<String>,
        }

        impl $name {
            fn from_bounded(found: Bounded<$item>, not_found: Option<String>) -> Self {
                Self { $field: found.items, truncated: found.truncated, not_found }
            }
        }
    };
}

listing!(
    /// The result of `ec2_describe_vpcs`.
    Vpcs, vpcs, Vpc
);
listing!(
    /// The result of `ec2_describe_subnets`.
    Subnets, subnets, Subnet
);
listing!(
    /// The result of `ec2_describe_route_tables`.
    RouteTables, route_tables, RouteTable
);
listing!(
    /// The result of `ec2_describe_security_groups`.
    SecurityGroups, security_groups, SecurityGroup
);
listing!(
    /// The result of `ec2_describe_network_acls`.
    NetworkAcls, network_acls, NetworkAcl
);
listing!(
    /// The result of `ec2_describe_nat_gateways`.
    NatGateways, nat_gateways, NatGateway
);
listing!(
    /// The result of `ec2_describe_internet_gateways`.
    InternetGateways, internet_gateways, InternetGateway
);
listing!(
    /// The result of `ec2_describe_instances`.
    Instances, instances, Instance
);
listing!(
    /// The result of `ec2_describe_network_interfaces`.
    NetworkInterfaces, network_interfaces, NetworkInterface
);
listing!(
    /// The result of `ec2_describe_volumes`.
    Volumes, volumes, Volume
);

/// A VPC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vpc {
    /// The VPC id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The primary IPv4 CIDR block.
    pub cidr: Option<String>,
    /// Every associated IPv4 CIDR block, the primary one first.
    pub cidrs: Vec<String>,
    /// Whether this is the region's default VPC.
    pub is_default: bool,
    /// `pending` or `available`.
    pub state: Option<String>,
}

/// A subnet, with how many addresses it has left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    /// The subnet id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The IPv4 CIDR block.
    pub cidr: Option<String>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// Free IPv4 addresses, as EC2 counts them.
    pub available_ips: Option<i64>,
    /// Usable IPv4 addresses of the block: its size less the five AWS reserves.
    pub usable_ips: Option<i64>,
    /// Free addresses as a percentage of the usable ones.
    pub free_percent: Option<f64>,
    /// Whether the free share is below the threshold: pods on nodes here may fail to get an
    /// address.
    pub nearly_exhausted: bool,
    /// Whether instances launched here get a public address.
    pub map_public_ip_on_launch: bool,
    /// Whether this is the default subnet of its zone.
    pub default_for_az: bool,
}

/// A route table and the subnets it serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteTable {
    /// The route table id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// Whether it is the VPC's main table, which serves every subnet without its own.
    pub main: bool,
    /// The subnets explicitly associated.
    pub subnet_ids: Vec<String>,
    /// The routes.
    pub routes: Vec<Route>,
}

/// One route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// The destination: an IPv4 or IPv6 CIDR block or a prefix list id.
    pub destination: String,
    /// Where the route sends traffic: `local`, or a gateway, NAT gateway, peering connection,
    /// transit gateway, instance or network interface id.
    pub target: String,
    /// `active`, or `blackhole` when the target is gone.
    pub state: Option<String>,
}

/// A security group with its rules rendered one peer per rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// The group id.
    pub id: String,
    /// The group name.
    pub name: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Inbound rules.
    pub ingress: Vec<SecurityGroupRule>,
    /// Outbound rules.
    pub egress: Vec<SecurityGroupRule>,
}

/// One security group rule for one peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    /// `tcp`, `udp`, `icmp`, `all`, or another IP protocol number.
    pub protocol: String,
    /// The first port (or ICMP type); none for every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// The last port (or ICMP code); none for every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// Who the rule lets in (ingress) or out to (egress).
    #[serde(flatten)]
    pub peer: Peer,
    /// The rule's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The other side of a security group rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// An IPv4 CIDR block.
    Cidr(String),
    /// An IPv6 CIDR block.
    Ipv6Cidr(String),
    /// Members of another security group.
    SecurityGroup(String),
    /// The CIDR blocks of a managed prefix list.
    PrefixList(String),
}

/// A network ACL with its ordered rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkAcl {
    /// The network ACL id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// Whether it is the VPC's default ACL.
    pub is_default: bool,
    /// The subnets it applies to.
    pub subnet_ids: Vec<String>,
    /// Inbound rules, lowest rule number first.
    pub ingress: Vec<NetworkAclRule>,
    /// Outbound rules, lowest rule number first.
    pub egress: Vec<NetworkAclRule>,
}

/// One network ACL rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAclRule {
    /// The rule number; the lowest matching rule decides. 32767 is the final `*` rule.
    pub rule_number: i32,
    /// `allow` or `deny`.
    pub action: String,
    /// `tcp`, `udp`, `icmp`, `all`, or another IP protocol number.
    pub protocol: String,
    /// The first port; none for every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// The last port; none for every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// The IPv4 or IPv6 CIDR block the rule matches.
    pub cidr: String,
}

/// A NAT gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NatGateway {
    /// The NAT gateway id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The subnet it sits in.
    pub subnet_id: Option<String>,
    /// `pending`, `available`, `failed`, `deleting` or `deleted`.
    pub state: Option<String>,
    /// `public` or `private`.
    pub connectivity: Option<String>,
    /// Its public addresses.
    pub public_ips: Vec<String>,
    /// Its private addresses.
    pub private_ips: Vec<String>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// When it was created.
    pub created: Option<String>,
}

/// An internet gateway and the VPCs it is attached to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InternetGateway {
    /// The internet gateway id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The attached VPCs.
    pub vpc_ids: Vec<String>,
}

/// An EC2 instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The instance id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down` or `terminated`.
    pub state: Option<String>,
    /// The instance type.
    pub instance_type: Option<String>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The subnet of its primary interface.
    pub subnet_id: Option<String>,
    /// The primary private address.
    pub private_ip: Option<String>,
    /// The public address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
    /// The security groups.
    pub security_group_ids: Vec<String>,
    /// The EKS cluster it is a node of, from its `eks:cluster-name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks_cluster: Option<String>,
    /// When it was launched.
    pub launched: Option<String>,
}

/// A network interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkInterface {
    /// The network interface id.
    pub id: String,
    /// `interface`, `nat_gateway`, `load_balancer`, `branch`, `trunk` and so on.
    pub interface_type: Option<String>,
    /// `available` (unattached), `in-use` and so on.
    pub status: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The subnet.
    pub subnet_id: Option<String>,
    /// Its private addresses, the primary one first.
    pub private_ips: Vec<String>,
    /// Its public address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
    /// The security groups.
    pub security_group_ids: Vec<String>,
    /// The instance it is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The description, which names the owner for managed interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An EBS volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// The volume id.
    pub id: String,
    /// The `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size in GiB.
    pub size_gib: i64,
    /// `gp2`, `gp3`, `io1`, `io2`, `st1`, `sc1` or `standard`.
    pub volume_type: Option<String>,
    /// Provisioned (or, for gp2, baseline) IOPS.
    pub iops: Option<i64>,
    /// Provisioned throughput in MiB/s (gp3).
    pub throughput: Option<i64>,
    /// `creating`, `available` (unattached), `in-use` and so on.
    pub state: Option<String>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// The instances it is attached to.
    pub attached_to: Vec<String>,
    /// Whether it is encrypted.
    pub encrypted: bool,
    /// When it was created.
    pub created: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// Input of `ec2_describe_vpcs` and `ec2_describe_volumes`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdsInput {
    /// Only these ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub ids: Vec<String>,
    /// At most this many items (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Input of the views that can be narrowed to one VPC.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VpcInput {
    /// Only these ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub ids: Vec<String>,
    /// Only those in this VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// At most this many items (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Input of `ec2_describe_subnets`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubnetsInput {
    /// Only these subnet ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub ids: Vec<String>,
    /// Only subnets of this VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Flag a subnet as nearly exhausted below this percentage of free addresses (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub nearly_exhausted_below_percent: Option<f64>,
    /// At most this many subnets (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Input of the views that can be narrowed to one VPC or one subnet.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubnetScopedInput {
    /// Only these ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub ids: Vec<String>,
    /// Only those in this VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Only those in (or, for route tables and network ACLs, associated with) this subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// At most this many items (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// What the collectors filter on; built from the inputs above and by the reachability check.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub(crate) ids: Vec<String>,
    pub(crate) filters: Vec<(&'static str, String)>,
    pub(crate) limit: usize,
}

impl Query {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, ..Self::default() }
    }

    pub(crate) fn ids(mut self, ids: Vec<String>) -> Self {
        self.ids = ids;
        self
    }

    pub(crate) fn filter(mut self, name: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.filters.push((name, value));
        }
        self
    }

    fn sdk_ids(&self) -> Option<Vec<String>> {
        (!self.ids.is_empty()).then(|| self.ids.clone())
    }

    fn sdk_filters(&self) -> Option<Vec<Filter>> {
        (!self.filters.is_empty()).then(|| {
            self.filters
                .iter()
                .map(|(name, value)| Filter::builder().name(*name).values(value).build())
                .collect()
        })
    }
}

fn limit(limit: Option<u32>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT) as usize
}

// ---------------------------------------------------------------------------------------------
// Collectors.

fn name_tag(tags: Option<&[aws_sdk_ec2::types::Tag]>) -> Option<String> {
    tag(tags, "Name")
}

fn tag(tags: Option<&[aws_sdk_ec2::types::Tag]>, key: &str) -> Option<String> {
    tags?.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value().map(str::to_owned))
}

/// A Describe error whose code says an id asked for does not exist becomes `Ok(message)`;
/// any other error is the tool's error.
fn not_found_or_error<E>(context: &ToolContext, error: SdkError<E>) -> Result<String>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let missing = error.code().is_some_and(|code| code.contains("NotFound"));
    if missing {
        let message = error.message().unwrap_or("not found").to_owned();
        return Ok(message);
    }
    Err(context.aws_error(error))
}

/// Pages through one Describe operation into a bounded list; `$items` takes a page and
/// gives the page's items converted.
macro_rules! collect_pages {
    ($context:expr, $limit:expr, $request:expr, $items:expr) => {{
        let mut found = Bounded::new($limit);
        let mut not_found = None;
        let mut pages = $request.into_paginator().send();
        'pages: while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    not_found = Some(not_found_or_error($context, error)?);
                    break;
                }
            };
            for item in $items(page) {
                if !found.push(item) {
                    break 'pages;
                }
            }
        }
        (found, not_found)
    }};
}

fn ec2(context: &ToolContext) -> Result<aws_sdk_ec2::Client> {
    clu_core::aws_client!(context, aws_sdk_ec2)
}

pub(crate) async fn vpcs(context: &ToolContext, query: &Query) -> Result<Vpcs> {
    let client = ec2(context)?;
    let request =
        client.describe_vpcs().set_vpc_ids(query.sdk_ids()).set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput| {
            page.vpcs.unwrap_or_default().into_iter().map(|vpc| {
                let mut cidrs: Vec<String> = vpc.cidr_block.iter().cloned().collect();
                for association in vpc.cidr_block_association_set() {
                    if let Some(block) = association.cidr_block()
                        && !cidrs.iter().any(|c| c == block)
                    {
                        cidrs.push(block.to_owned());
                    }
                }
                Vpc {
                    id: vpc.vpc_id.clone().unwrap_or_default(),
                    name: name_tag(vpc.tags.as_deref()),
                    cidr: vpc.cidr_block.clone(),
                    cidrs,
                    is_default: vpc.is_default.unwrap_or(false),
                    state: vpc.state.as_ref().map(|s| s.as_str().to_owned()),
                }
            })
        }
    );
    Ok(Vpcs::from_bounded(found, not_found))
}

/// Usable addresses of an IPv4 block: its size less the five AWS reserves in every subnet.
fn usable_ips(cidr: &str) -> Option<i64> {
    let block = Cidr::parse(cidr).ok()?;
    Some((block.size() as i64 - 5).max(0))
}

pub(crate) fn subnet_from(subnet: aws_sdk_ec2::types::Subnet, threshold_percent: f64) -> Subnet {
    let available = subnet.available_ip_address_count.map(i64::from);
    let usable = subnet.cidr_block.as_deref().and_then(usable_ips);
    let free_percent = match (available, usable) {
        (Some(available), Some(usable)) if usable > 0 => {
            Some(((available as f64 / usable as f64) * 1000.0).round() / 10.0)
        }
        _ => None,
    };
    Subnet {
        id: subnet.subnet_id.clone().unwrap_or_default(),
        name: name_tag(subnet.tags.as_deref()),
        vpc_id: subnet.vpc_id,
        cidr: subnet.cidr_block,
        availability_zone: subnet.availability_zone,
        available_ips: available,
        usable_ips: usable,
        free_percent,
        nearly_exhausted: free_percent.is_some_and(|free| free < threshold_percent),
        map_public_ip_on_launch: subnet.map_public_ip_on_launch.unwrap_or(false),
        default_for_az: subnet.default_for_az.unwrap_or(false),
    }
}

pub(crate) async fn subnets(
    context: &ToolContext,
    query: &Query,
    threshold_percent: f64,
) -> Result<Subnets> {
    let client = ec2(context)?;
    let request =
        client.describe_subnets().set_subnet_ids(query.sdk_ids()).set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput| {
            page.subnets.unwrap_or_default().into_iter().map(|s| subnet_from(s, threshold_percent))
        }
    );
    Ok(Subnets::from_bounded(found, not_found))
}

fn route_from(route: &aws_sdk_ec2::types::Route) -> Route {
    let destination = route
        .destination_cidr_block
        .clone()
        .or_else(|| route.destination_ipv6_cidr_block.clone())
        .or_else(|| route.destination_prefix_list_id.clone())
        .unwrap_or_default();
    let target = [
        &route.gateway_id,
        &route.nat_gateway_id,
        &route.vpc_peering_connection_id,
        &route.transit_gateway_id,
        &route.egress_only_internet_gateway_id,
        &route.network_interface_id,
        &route.instance_id,
        &route.local_gateway_id,
        &route.carrier_gateway_id,
        &route.core_network_arn,
    ]
    .into_iter()
    .find_map(Clone::clone)
    .unwrap_or_else(|| "unknown".to_owned());
    Route { destination, target, state: route.state.as_ref().map(|s| s.as_str().to_owned()) }
}

pub(crate) async fn route_tables(context: &ToolContext, query: &Query) -> Result<RouteTables> {
    let client = ec2(context)?;
    let request = client
        .describe_route_tables()
        .set_route_table_ids(query.sdk_ids())
        .set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput| {
            page.route_tables.unwrap_or_default().into_iter().map(|table| RouteTable {
                id: table.route_table_id.clone().unwrap_or_default(),
                name: name_tag(table.tags.as_deref()),
                vpc_id: table.vpc_id.clone(),
                main: table.associations().iter().any(|a| a.main == Some(true)),
                subnet_ids: table
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id.clone())
                    .collect(),
                routes: table.routes().iter().map(route_from).collect(),
            })
        }
    );
    Ok(RouteTables::from_bounded(found, not_found))
}

/// The protocol as a name: AWS writes `-1` for every protocol and numbers for some others.
fn protocol_name(protocol: Option<&str>) -> String {
    match protocol.unwrap_or("-1") {
        "-1" | "all" => "all".to_owned(),
        "6" => "tcp".to_owned(),
        "17" => "udp".to_owned(),
        "1" => "icmp".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

/// A port bound as rules keep it: AWS gives `-1` (or nothing) for "every port".
fn port(value: Option<i32>, protocol: &str) -> Option<i32> {
    if protocol == "all" {
        return None;
    }
    value.filter(|v| *v >= 0)
}

fn rules_from(permissions: &[aws_sdk_ec2::types::IpPermission]) -> Vec<SecurityGroupRule> {
    let mut rules = Vec::new();
    for permission in permissions {
        let protocol = protocol_name(permission.ip_protocol.as_deref());
        let from_port = port(permission.from_port, &protocol);
        let to_port = port(permission.to_port, &protocol);
        let mut rule = |peer: Peer, description: Option<&str>| {
            rules.push(SecurityGroupRule {
                protocol: protocol.clone(),
                from_port,
                to_port,
                peer,
                description: description.map(str::to_owned),
            });
        };
        for range in permission.ip_ranges() {
            if let Some(cidr) = &range.cidr_ip {
                rule(Peer::Cidr(cidr.clone()), range.description());
            }
        }
        for range in permission.ipv6_ranges() {
            if let Some(cidr) = &range.cidr_ipv6 {
                rule(Peer::Ipv6Cidr(cidr.clone()), range.description());
            }
        }
        for pair in permission.user_id_group_pairs() {
            if let Some(group) = &pair.group_id {
                rule(Peer::SecurityGroup(group.clone()), pair.description());
            }
        }
        for list in permission.prefix_list_ids() {
            if let Some(id) = &list.prefix_list_id {
                rule(Peer::PrefixList(id.clone()), list.description());
            }
        }
    }
    rules
}

pub(crate) async fn security_groups(
    context: &ToolContext,
    query: &Query,
) -> Result<SecurityGroups> {
    let client = ec2(context)?;
    let request = client
        .describe_security_groups()
        .set_group_ids(query.sdk_ids())
        .set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput| {
            page.security_groups.unwrap_or_default().into_iter().map(|group| SecurityGroup {
                id: group.group_id.clone().unwrap_or_default(),
                name: group.group_name.clone(),
                vpc_id: group.vpc_id.clone(),
                description: group.description.clone(),
                ingress: rules_from(group.ip_permissions()),
                egress: rules_from(group.ip_permissions_egress()),
            })
        }
    );
    Ok(SecurityGroups::from_bounded(found, not_found))
}

fn network_acl_from(acl: aws_sdk_ec2::types::NetworkAcl) -> NetworkAcl {
    let mut ingress = Vec::new();
    let mut egress = Vec::new();
    for entry in acl.entries() {
        let protocol = protocol_name(entry.protocol.as_deref());
        let range = entry.port_range.as_ref();
        let rule = NetworkAclRule {
            rule_number: entry.rule_number.unwrap_or(32767),
            action: entry.rule_action.as_ref().map_or("deny", |a| a.as_str()).to_owned(),
            from_port: port(range.and_then(|r| r.from), &protocol),
            to_port: port(range.and_then(|r| r.to), &protocol),
            protocol,
            cidr: entry
                .cidr_block
                .clone()
                .or_else(|| entry.ipv6_cidr_block.clone())
                .unwrap_or_default(),
        };
        if entry.egress == Some(true) {
            egress.push(rule);
        } else {
            ingress.push(rule);
        }
    }
    ingress.sort_by_key(|r| r.rule_number);
    egress.sort_by_key(|r| r.rule_number);
    NetworkAcl {
        id: acl.network_acl_id.clone().unwrap_or_default(),
        name: name_tag(acl.tags.as_deref()),
        vpc_id: acl.vpc_id.clone(),
        is_default: acl.is_default.unwrap_or(false),
        subnet_ids: acl.associations().iter().filter_map(|a| a.subnet_id.clone()).collect(),
        ingress,
        egress,
    }
}

pub(crate) async fn network_acls(context: &ToolContext, query: &Query) -> Result<NetworkAcls> {
    let client = ec2(context)?;
    let request = client
        .describe_network_acls()
        .set_network_acl_ids(query.sdk_ids())
        .set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_network_acls::DescribeNetworkAclsOutput| {
            page.network_acls.unwrap_or_default().into_iter().map(network_acl_from)
        }
    );
    Ok(NetworkAcls::from_bounded(found, not_found))
}

pub(crate) async fn nat_gateways(context: &ToolContext, query: &Query) -> Result<NatGateways> {
    let client = ec2(context)?;
    let request = client
        .describe_nat_gateways()
        .set_nat_gateway_ids(query.sdk_ids())
        .set_filter(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput| {
            page.nat_gateways.unwrap_or_default().into_iter().map(|nat| NatGateway {
                id: nat.nat_gateway_id.clone().unwrap_or_default(),
                name: name_tag(nat.tags.as_deref()),
                vpc_id: nat.vpc_id.clone(),
                subnet_id: nat.subnet_id.clone(),
                state: nat.state.as_ref().map(|s| s.as_str().to_owned()),
                connectivity: nat.connectivity_type.as_ref().map(|c| c.as_str().to_owned()),
                public_ips: nat
                    .nat_gateway_addresses()
                    .iter()
                    .filter_map(|a| a.public_ip.clone())
                    .collect(),
                private_ips: nat
                    .nat_gateway_addresses()
                    .iter()
                    .filter_map(|a| a.private_ip.clone())
                    .collect(),
                failure: nat.failure_message.clone(),
                created: timestamp(nat.create_time.as_ref()),
            })
        }
    );
    Ok(NatGateways::from_bounded(found, not_found))
}

pub(crate) async fn internet_gateways(
    context: &ToolContext,
    query: &Query,
) -> Result<InternetGateways> {
    let client = ec2(context)?;
    let request = client
        .describe_internet_gateways()
        .set_internet_gateway_ids(query.sdk_ids())
        .set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(context, query.limit, request, |page: aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput| {
        page.internet_gateways.unwrap_or_default().into_iter().map(|gateway| InternetGateway {
            id: gateway.internet_gateway_id.clone().unwrap_or_default(),
            name: name_tag(gateway.tags.as_deref()),
            vpc_ids: gateway.attachments().iter().filter_map(|a| a.vpc_id.clone()).collect(),
        })
    });
    Ok(InternetGateways::from_bounded(found, not_found))
}

fn instance_from(instance: aws_sdk_ec2::types::Instance) -> Instance {
    Instance {
        id: instance.instance_id.clone().unwrap_or_default(),
        name: name_tag(instance.tags.as_deref()),
        state: instance.state.as_ref().and_then(|s| s.name.as_ref()).map(|n| n.as_str().to_owned()),
        instance_type: instance.instance_type.as_ref().map(|t| t.as_str().to_owned()),
        availability_zone: instance.placement.as_ref().and_then(|p| p.availability_zone.clone()),
        vpc_id: instance.vpc_id.clone(),
        subnet_id: instance.subnet_id.clone(),
        private_ip: instance.private_ip_address.clone(),
        public_ip: instance.public_ip_address.clone(),
        security_group_ids: instance
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id.clone())
            .collect(),
        eks_cluster: tag(instance.tags.as_deref(), "eks:cluster-name"),
        launched: timestamp(instance.launch_time.as_ref()),
    }
}

pub(crate) async fn instances(context: &ToolContext, query: &Query) -> Result<Instances> {
    let client = ec2(context)?;
    let request = client
        .describe_instances()
        .set_instance_ids(query.sdk_ids())
        .set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput| {
            page.reservations
                .unwrap_or_default()
                .into_iter()
                .flat_map(|r| r.instances.unwrap_or_default())
                .map(instance_from)
        }
    );
    Ok(Instances::from_bounded(found, not_found))
}

pub(crate) async fn network_interfaces(
    context: &ToolContext,
    query: &Query,
) -> Result<NetworkInterfaces> {
    let client = ec2(context)?;
    let request = client
        .describe_network_interfaces()
        .set_network_interface_ids(query.sdk_ids())
        .set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(context, query.limit, request, |page: aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput| {
        page.network_interfaces.unwrap_or_default().into_iter().map(|interface| {
            let mut private_ips: Vec<String> =
                interface.private_ip_address.iter().cloned().collect();
            for address in interface.private_ip_addresses() {
                if let Some(ip) = address.private_ip_address()
                    && !private_ips.iter().any(|p| p == ip)
                {
                    private_ips.push(ip.to_owned());
                }
            }
            NetworkInterface {
                id: interface.network_interface_id.clone().unwrap_or_default(),
                interface_type: interface.interface_type.as_ref().map(|t| t.as_str().to_owned()),
                status: interface.status.as_ref().map(|s| s.as_str().to_owned()),
                vpc_id: interface.vpc_id.clone(),
                subnet_id: interface.subnet_id.clone(),
                private_ips,
                public_ip: interface.association.as_ref().and_then(|a| a.public_ip.clone()),
                security_group_ids: interface.groups().iter().filter_map(|g| g.group_id.clone()).collect(),
                instance_id: interface.attachment.as_ref().and_then(|a| a.instance_id.clone()),
                description: interface.description.clone().filter(|d| !d.is_empty()),
            }
        })
    });
    Ok(NetworkInterfaces::from_bounded(found, not_found))
}

pub(crate) async fn volumes(context: &ToolContext, query: &Query) -> Result<Volumes> {
    let client = ec2(context)?;
    let request =
        client.describe_volumes().set_volume_ids(query.sdk_ids()).set_filters(query.sdk_filters());
    let (found, not_found) = collect_pages!(
        context,
        query.limit,
        request,
        |page: aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput| {
            page.volumes.unwrap_or_default().into_iter().map(|volume| Volume {
                id: volume.volume_id.clone().unwrap_or_default(),
                name: name_tag(volume.tags.as_deref()),
                size_gib: volume.size.map_or(0, i64::from),
                volume_type: volume.volume_type.as_ref().map(|t| t.as_str().to_owned()),
                iops: volume.iops.map(i64::from),
                throughput: volume.throughput.map(i64::from),
                state: volume.state.as_ref().map(|s| s.as_str().to_owned()),
                availability_zone: volume.availability_zone.clone(),
                attached_to: volume
                    .attachments()
                    .iter()
                    .filter_map(|a| a.instance_id.clone())
                    .collect(),
                encrypted: volume.encrypted.unwrap_or(false),
                created: timestamp(volume.create_time.as_ref()),
            })
        }
    );
    Ok(Volumes::from_bounded(found, not_found))
}

// ---------------------------------------------------------------------------------------------
// Tools.

/// Which EC2 view a [`Describe`] tool is.
#[derive(Clone, Copy, Debug)]
enum View {
    Vpcs,
    Subnets,
    RouteTables,
    SecurityGroups,
    NetworkAcls,
    NatGateways,
    InternetGateways,
    Instances,
    NetworkInterfaces,
    Volumes,
}

/// One EC2 Describe view as a tool.
pub struct Describe {
    spec: ToolSpec,
    view: View,
}

impl Describe {
    fn new<I: JsonSchema>(
        view: View,
        name: &'static str,
        action: &str,
        description: &'static str,
    ) -> Self {
        let permissions = Permissions { iam: vec![ec2_describe(&[action])], rbac: vec![] };
        Self {
            spec: ToolSpec::new::<I>(name, description, Tier::Cloud, Risk::Read, permissions),
            view,
        }
    }
}

fn to_value<T: Serialize>(tool: &str, output: &T) -> Result<Value> {
    serde_json::to_value(output).map_err(|e| ToolError::failed(tool, e.to_string()))
}

#[async_trait]
impl Tool for Describe {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let tool = context.tool();
        match self.view {
            View::Vpcs => {
                let input: IdsInput = context.parse_input(input)?;
                let query = Query::new(limit(input.limit)).ids(input.ids);
                to_value(tool, &vpcs(context, &query).await?)
            }
            View::Subnets => {
                let input: SubnetsInput = context.parse_input(input)?;
                let threshold =
                    input.nearly_exhausted_below_percent.unwrap_or(NEARLY_EXHAUSTED_BELOW_PERCENT);
                let query =
                    Query::new(limit(input.limit)).ids(input.ids).filter("vpc-id", input.vpc_id);
                to_value(tool, &subnets(context, &query, threshold).await?)
            }
            View::SecurityGroups => {
                let input: VpcInput = context.parse_input(input)?;
                let query =
                    Query::new(limit(input.limit)).ids(input.ids).filter("vpc-id", input.vpc_id);
                to_value(tool, &security_groups(context, &query).await?)
            }
            View::InternetGateways => {
                let input: VpcInput = context.parse_input(input)?;
                let query = Query::new(limit(input.limit))
                    .ids(input.ids)
                    .filter("attachment.vpc-id", input.vpc_id);
                to_value(tool, &internet_gateways(context, &query).await?)
            }
            View::RouteTables | View::NetworkAcls => {
                let input: SubnetScopedInput = context.parse_input(input)?;
                let query = Query::new(limit(input.limit))
                    .ids(input.ids)
                    .filter("vpc-id", input.vpc_id)
                    .filter("association.subnet-id", input.subnet_id);
                if matches!(self.view, View::RouteTables) {
                    to_value(tool, &route_tables(context, &query).await?)
                } else {
                    to_value(tool, &network_acls(context, &query).await?)
                }
            }
            View::NatGateways | View::Instances | View::NetworkInterfaces => {
                let input: SubnetScopedInput = context.parse_input(input)?;
                let query = Query::new(limit(input.limit))
                    .ids(input.ids)
                    .filter("vpc-id", input.vpc_id)
                    .filter("subnet-id", input.subnet_id);
                match self.view {
                    View::NatGateways => to_value(tool, &nat_gateways(context, &query).await?),
                    View::Instances => to_value(tool, &instances(context, &query).await?),
                    _ => to_value(tool, &network_interfaces(context, &query).await?),
                }
            }
            View::Volumes => {
                let input: IdsInput = context.parse_input(input)?;
                let query = Query::new(limit(input.limit)).ids(input.ids);
                to_value(tool, &volumes(context, &query).await?)
            }
        }
    }
}

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(Describe::new::<IdsInput>(
            View::Vpcs,
            "ec2_describe_vpcs",
            "ec2:DescribeVpcs",
            "List VPCs with their CIDR blocks and whether each is the default VPC. Use it to \
             find the VPC a cluster runs in and its address space.",
        )),
        Arc::new(Describe::new::<SubnetsInput>(
            View::Subnets,
            "ec2_describe_subnets",
            "ec2:DescribeSubnets",
            "List subnets (optionally of one VPC) with zone, CIDR, free and usable IPv4 \
             addresses, the free percentage, and a nearly_exhausted flag. Use it when pods are \
             stuck in ContainerCreating with IP allocation errors: every pod takes an address \
             of its node's subnet.",
        )),
        Arc::new(Describe::new::<SubnetScopedInput>(
            View::RouteTables,
            "ec2_describe_route_tables",
            "ec2:DescribeRouteTables",
            "List route tables (optionally of one VPC, or the one associated with a subnet) \
             with their routes (destination, target such as local, igw-, nat-, pcx-, tgw-, and \
             blackhole state) and associated subnets. Use it to see whether a subnet can reach \
             the internet, a NAT gateway or a peered network.",
        )),
        Arc::new(Describe::new::<VpcInput>(
            View::SecurityGroups,
            "ec2_describe_security_groups",
            "ec2:DescribeSecurityGroups",
            "List security groups (optionally by id or VPC) with their inbound and outbound \
             rules rendered compactly: protocol, ports and one peer per rule (cidr, \
             security_group or prefix_list). Use it to see what a node, pod or database \
             accepts and may send.",
        )),
        Arc::new(Describe::new::<SubnetScopedInput>(
            View::NetworkAcls,
            "ec2_describe_network_acls",
            "ec2:DescribeNetworkAcls",
            "List network ACLs (optionally of one VPC, or the one associated with a subnet) \
             with their inbound and outbound rules in evaluation order (rule number, allow or \
             deny, protocol, ports, CIDR). Use it when traffic between subnets fails although \
             security groups allow it.",
        )),
        Arc::new(Describe::new::<SubnetScopedInput>(
            View::NatGateways,
            "ec2_describe_nat_gateways",
            "ec2:DescribeNatGateways",
            "List NAT gateways (optionally of one VPC or subnet) with state, connectivity, \
             addresses and failure message. Use it when private nodes cannot pull images or \
             reach AWS APIs.",
        )),
        Arc::new(Describe::new::<VpcInput>(
            View::InternetGateways,
            "ec2_describe_internet_gateways",
            "ec2:DescribeInternetGateways",
            "List internet gateways (optionally the one attached to a VPC) with their attached \
             VPCs. Use it to check that public subnets have a way out.",
        )),
        Arc::new(Describe::new::<SubnetScopedInput>(
            View::Instances,
            "ec2_describe_instances",
            "ec2:DescribeInstances",
            "List EC2 instances (optionally by id, VPC or subnet) with state, type, zone, \
             subnet, private and public address, security groups and the EKS cluster they are \
             a node of. Use it to map Kubernetes nodes to their instances and networks.",
        )),
        Arc::new(Describe::new::<SubnetScopedInput>(
            View::NetworkInterfaces,
            "ec2_describe_network_interfaces",
            "ec2:DescribeNetworkInterfaces",
            "List network interfaces (optionally by id, VPC or subnet) with type, status, \
             addresses, security groups and the instance they are attached to. Use it to find \
             who holds an IP address or what consumes a subnet's addresses.",
        )),
        Arc::new(Describe::new::<IdsInput>(
            View::Volumes,
            "ec2_describe_volumes",
            "ec2:DescribeVolumes",
            "List EBS volumes with size, type, IOPS, throughput, state and the instances they \
             are attached to. Use it for persistent volume problems and to find unattached \
             volumes that still cost money.",
        )),
    ]
}

/// Typed views, for programs that use the Cloud tier as a library.
impl crate::Cloud {
    /// VPCs, as `ec2_describe_vpcs` gives them.
    pub async fn vpcs(&self, input: &IdsInput) -> Result<Vpcs> {
        self.call_typed("ec2_describe_vpcs", input).await
    }

    /// Subnets with their free addresses, as `ec2_describe_subnets` gives them.
    pub async fn subnets(&self, input: &SubnetsInput) -> Result<Subnets> {
        self.call_typed("ec2_describe_subnets", input).await
    }

    /// Route tables, as `ec2_describe_route_tables` gives them.
    pub async fn route_tables(&self, input: &SubnetScopedInput) -> Result<RouteTables> {
        self.call_typed("ec2_describe_route_tables", input).await
    }

    /// Security groups, as `ec2_describe_security_groups` gives them.
    pub async fn security_groups(&self, input: &VpcInput) -> Result<SecurityGroups> {
        self.call_typed("ec2_describe_security_groups", input).await
    }

    /// Network ACLs, as `ec2_describe_network_acls` gives them.
    pub async fn network_acls(&self, input: &SubnetScopedInput) -> Result<NetworkAcls> {
        self.call_typed("ec2_describe_network_acls", input).await
    }

    /// NAT gateways, as `ec2_describe_nat_gateways` gives them.
    pub async fn nat_gateways(&self, input: &SubnetScopedInput) -> Result<NatGateways> {
        self.call_typed("ec2_describe_nat_gateways", input).await
    }

    /// Internet gateways, as `ec2_describe_internet_gateways` gives them.
    pub async fn internet_gateways(&self, input: &VpcInput) -> Result<InternetGateways> {
        self.call_typed("ec2_describe_internet_gateways", input).await
    }

    /// Instances, as `ec2_describe_instances` gives them.
    pub async fn instances(&self, input: &SubnetScopedInput) -> Result<Instances> {
        self.call_typed("ec2_describe_instances", input).await
    }

    /// Network interfaces, as `ec2_describe_network_interfaces` gives them.
    pub async fn network_interfaces(&self, input: &SubnetScopedInput) -> Result<NetworkInterfaces> {
        self.call_typed("ec2_describe_network_interfaces", input).await
    }

    /// EBS volumes, as `ec2_describe_volumes` gives them.
    pub async fn volumes(&self, input: &IdsInput) -> Result<Volumes> {
        self.call_typed("ec2_describe_volumes", input).await
    }
}
