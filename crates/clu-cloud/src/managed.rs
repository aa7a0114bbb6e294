//! Managed data stores the cluster's workloads talk to: RDS instances and clusters, ElastiCache
//! cache clusters and replication groups, with what a connectivity or capacity investigation
//! needs (status, engine, endpoint, security groups, subnet group, multi-AZ, storage, tags).

use std::sync::Arc;

use clu_core::error::ToolError;
use clu_core::tool::{Tool, ToolContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{
    Bounded, View, failure_in_place, grant, is_missing, limit, not_found, tag_map, timestamp,
    to_json,
};

const RDS_INSTANCES: &str = "arn:{partition}:rds:{region}:{account}:db:*";
const RDS_CLUSTERS: &str = "arn:{partition}:rds:{region}:{account}:cluster:*";
const CACHE_CLUSTERS: &str = "arn:{partition}:elasticache:{region}:{account}:cluster:*";
const REPLICATION_GROUPS: &str =
    "arn:{partition}:elasticache:{region}:{account}:replicationgroup:*";

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        View::<StoreInput>::tool(
            "rds_describe_db_instances",
            "List RDS DB instances (or one by identifier): status, engine and version, \
             endpoint and port, VPC security groups, subnet group and VPC, multi-AZ, storage \
             type and size, public accessibility, cluster membership and tags. Use it when a \
             workload cannot reach its database or the database is slow or full.",
            vec![grant(&["rds:DescribeDBInstances", "rds:ListTagsForResource"], &[RDS_INSTANCES])],
            |context, input| Box::pin(describe_db_instances(context, input)),
        ),
        View::<StoreInput>::tool(
            "rds_describe_db_clusters",
            "List RDS and Aurora DB clusters (or one by identifier): status, engine and \
             version, writer and reader endpoints and port, members and which one writes, VPC \
             security groups, subnet group, multi-AZ, storage and tags.",
            vec![grant(&["rds:DescribeDBClusters", "rds:ListTagsForResource"], &[RDS_CLUSTERS])],
            |context, input| Box::pin(describe_db_clusters(context, input)),
        ),
        View::<StoreInput>::tool(
            "elasticache_describe_cache_clusters",
            "List ElastiCache cache clusters (or one by id): status, engine and version, node \
             type and count, endpoints of each node, security groups, subnet group, \
             replication group, encryption in transit and at rest, and tags.",
            vec![grant(
                &["elasticache:DescribeCacheClusters", "elasticache:ListTagsForResource"],
                &[CACHE_CLUSTERS],
            )],
            |context, input| Box::pin(describe_cache_clusters(context, input)),
        ),
        View::<StoreInput>::tool(
            "elasticache_describe_replication_groups",
            "List ElastiCache replication groups (or one by id): status, engine, node type, \
             primary, reader and configuration endpoints, node groups and members, automatic \
             failover, multi-AZ, cluster mode, encryption and tags.",
            vec![grant(
                &["elasticache:DescribeReplicationGroups", "elasticache:ListTagsForResource"],
                &[REPLICATION_GROUPS],
            )],
            |context, input| Box::pin(describe_replication_groups(context, input)),
        ),
    ]
}

/// Input of the data store views.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreInput {
    /// Only this instance, cluster or group identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub(crate) identifier: Option<String>,
    /// At most this many (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

/// The RDS DB instances of a region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbInstancesView {
    /// The instances.
    pub db_instances: Vec<DbInstance>,
    /// Whether instances past the bound were left out.
    pub truncated: bool,
}

/// One RDS DB instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbInstance {
    /// The instance identifier.
    pub identifier: Option<String>,
    /// The instance's ARN.
    pub arn: Option<String>,
    /// `available`, `stopped`, `storage-full`, ...
    pub status: Option<String>,
    /// The engine, such as `postgres`.
    pub engine: Option<String>,
    /// The engine version.
    pub engine_version: Option<String>,
    /// The instance class, such as `db.t3.medium`.
    pub class: Option<String>,
    /// The endpoint's DNS name.
    pub endpoint: Option<String>,
    /// The endpoint's port.
    pub port: Option<i32>,
    /// The VPC security groups with their membership status.
    pub security_groups: Vec<SecurityGroupRef>,
    /// The DB subnet group.
    pub subnet_group: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// Whether a standby runs in another availability zone.
    pub multi_az: Option<bool>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// The storage type, such as `gp3`.
    pub storage_type: Option<String>,
    /// The allocated storage, in GiB.
    pub allocated_storage_gib: Option<i32>,
    /// The storage autoscaling ceiling, in GiB.
    pub max_allocated_storage_gib: Option<i32>,
    /// Whether storage is encrypted.
    pub storage_encrypted: Option<bool>,
    /// Whether the endpoint resolves to a public address.
    pub publicly_accessible: Option<bool>,
    /// The Aurora or Multi-AZ cluster the instance belongs to.
    pub cluster: Option<String>,
    /// When the instance was created, RFC 3339.
    pub created: Option<String>,
    /// The tags, or the failure to read them in place.
    pub tags: Value,
}

/// A security group an instance is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRef {
    /// The group id.
    pub id: Option<String>,
    /// The membership status, such as `active`.
    pub status: Option<String>,
}

/// Tags of an RDS resource, or the failure to read them in place.
async fn rds_tags(context: &ToolContext, client: &aws_sdk_rds::Client, arn: Option<&str>) -> Value {
    let Some(arn) = arn else { return Value::Null };
    match client.list_tags_for_resource().resource_name(arn).send().await {
        Ok(output) => json!(tag_map(
            output
                .tag_list
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        )),
        Err(error) => failure_in_place(&context.aws_error(error)),
    }
}

async fn describe_db_instances(
    context: &ToolContext,
    input: StoreInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_rds)?;
    let mut instances = Bounded::new(limit(input.limit, 100));
    let mut pages = client
        .describe_db_instances()
        .set_db_instance_identifier(input.identifier.clone())
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!(
                    "RDS DB instance `{}`",
                    input.identifier.unwrap_or_default()
                )));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for db in page.db_instances.unwrap_or_default() {
            if instances.is_full() {
                instances.truncated = true;
                break 'pages;
            }
            let tags = rds_tags(context, &client, db.db_instance_arn.as_deref()).await;
            let endpoint = db.endpoint.as_ref();
            let subnet_group = db.db_subnet_group.as_ref();
            instances.push(DbInstance {
                identifier: db.db_instance_identifier,
                arn: db.db_instance_arn,
                status: db.db_instance_status,
                engine: db.engine,
                engine_version: db.engine_version,
                class: db.db_instance_class,
                endpoint: endpoint.and_then(|e| e.address.clone()),
                port: endpoint.and_then(|e| e.port).or(db.db_instance_port.filter(|p| *p != 0)),
                security_groups: db
                    .vpc_security_groups
                    .unwrap_or_default()
                    .into_iter()
                    .map(|g| SecurityGroupRef { id: g.vpc_security_group_id, status: g.status })
                    .collect(),
                subnet_group: subnet_group.and_then(|g| g.db_subnet_group_name.clone()),
                vpc_id: subnet_group.and_then(|g| g.vpc_id.clone()),
                multi_az: db.multi_az,
                availability_zone: db.availability_zone,
                storage_type: db.storage_type,
                allocated_storage_gib: db.allocated_storage,
                max_allocated_storage_gib: db.max_allocated_storage,
                storage_encrypted: db.storage_encrypted,
                publicly_accessible: db.publicly_accessible,
                cluster: db.db_cluster_identifier,
                created: timestamp(db.instance_create_time.as_ref()),
                tags,
            });
        }
    }
    to_json(
        context,
        &DbInstancesView { db_instances: instances.items, truncated: instances.truncated },
    )
}

async fn describe_db_clusters(context: &ToolContext, input: StoreInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_rds)?;
    let mut clusters = Bounded::new(limit(input.limit, 100));
    let mut pages = client
        .describe_db_clusters()
        .set_db_cluster_identifier(input.identifier.clone())
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!(
                    "RDS DB cluster `{}`",
                    input.identifier.unwrap_or_default()
                )));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for c in page.db_clusters.unwrap_or_default() {
            if clusters.is_full() {
                clusters.truncated = true;
                break 'pages;
            }
            let tags = rds_tags(context, &client, c.db_cluster_arn.as_deref()).await;
            clusters.push(json!({
                "identifier": c.db_cluster_identifier,
                "arn": c.db_cluster_arn,
                "status": c.status,
                "engine": c.engine,
                "engine_version": c.engine_version,
                "engine_mode": c.engine_mode,
                "endpoint": c.endpoint,
                "reader_endpoint": c.reader_endpoint,
                "port": c.port,
                "members": c.db_cluster_members.unwrap_or_default().into_iter().map(|m| json!({
                    "instance": m.db_instance_identifier,
                    "writer": m.is_cluster_writer,
                })).collect::<Vec<_>>(),
                "security_groups": c.vpc_security_groups.unwrap_or_default().into_iter().map(|g| json!({
                    "id": g.vpc_security_group_id,
                    "status": g.status,
                })).collect::<Vec<_>>(),
                "subnet_group": c.db_subnet_group,
                "multi_az": c.multi_az,
                "storage_type": c.storage_type,
                "allocated_storage_gib": c.allocated_storage,
                "storage_encrypted": c.storage_encrypted,
                "publicly_accessible": c.publicly_accessible,
                "created": timestamp(c.cluster_create_time.as_ref()),
                "tags": tags,
            }));
        }
    }
    Ok(json!({ "db_clusters": clusters.items, "truncated": clusters.truncated }))
}

/// Tags of an ElastiCache resource, or the failure to read them in place.
async fn cache_tags(
    context: &ToolContext,
    client: &aws_sdk_elasticache::Client,
    arn: Option<&str>,
) -> Value {
    let Some(arn) = arn else { return Value::Null };
    match client.list_tags_for_resource().resource_name(arn).send().await {
        Ok(output) => json!(tag_map(
            output
                .tag_list
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        )),
        Err(error) => failure_in_place(&context.aws_error(error)),
    }
}

fn endpoint(endpoint: Option<&aws_sdk_elasticache::types::Endpoint>) -> Value {
    match endpoint {
        Some(e) => json!({ "address": e.address, "port": e.port }),
        None => Value::Null,
    }
}

async fn describe_cache_clusters(
    context: &ToolContext,
    input: StoreInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_elasticache)?;
    let mut clusters = Bounded::new(limit(input.limit, 100));
    let mut pages = client
        .describe_cache_clusters()
        .set_cache_cluster_id(input.identifier.clone())
        .show_cache_node_info(true)
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!(
                    "ElastiCache cache cluster `{}`",
                    input.identifier.unwrap_or_default()
                )));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for c in page.cache_clusters.unwrap_or_default() {
            if clusters.is_full() {
                clusters.truncated = true;
                break 'pages;
            }
            let tags = cache_tags(context, &client, c.arn.as_deref()).await;
            clusters.push(json!({
                "id": c.cache_cluster_id,
                "arn": c.arn,
                "status": c.cache_cluster_status,
                "engine": c.engine,
                "engine_version": c.engine_version,
                "node_type": c.cache_node_type,
                "nodes": c.num_cache_nodes,
                "configuration_endpoint": endpoint(c.configuration_endpoint.as_ref()),
                "node_endpoints": c.cache_nodes.unwrap_or_default().into_iter().map(|n| json!({
                    "id": n.cache_node_id,
                    "status": n.cache_node_status,
                    "endpoint": endpoint(n.endpoint.as_ref()),
                    "availability_zone": n.customer_availability_zone,
                })).collect::<Vec<_>>(),
                "security_groups": c.security_groups.unwrap_or_default().into_iter().map(|g| json!({
                    "id": g.security_group_id,
                    "status": g.status,
                })).collect::<Vec<_>>(),
                "subnet_group": c.cache_subnet_group_name,
                "replication_group": c.replication_group_id,
                "availability_zone": c.preferred_availability_zone,
                "transit_encryption": c.transit_encryption_enabled,
                "at_rest_encryption": c.at_rest_encryption_enabled,
                "auth_token_enabled": c.auth_token_enabled,
                "created": timestamp(c.cache_cluster_create_time.as_ref()),
                "tags": tags,
            }));
        }
    }
    Ok(json!({ "cache_clusters": clusters.items, "truncated": clusters.truncated }))
}

async fn describe_replication_groups(
    context: &ToolContext,
    input: StoreInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_elasticache)?;
    let mut groups = Bounded::new(limit(input.limit, 100));
    let mut pages = client
        .describe_replication_groups()
        .set_replication_group_id(input.identifier.clone())
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!(
                    "ElastiCache replication group `{}`",
                    input.identifier.unwrap_or_default()
                )));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for g in page.replication_groups.unwrap_or_default() {
            if groups.is_full() {
                groups.truncated = true;
                break 'pages;
            }
            let tags = cache_tags(context, &client, g.arn.as_deref()).await;
            groups.push(json!({
                "id": g.replication_group_id,
                "arn": g.arn,
                "description": g.description,
                "status": g.status,
                "engine": g.engine,
                "node_type": g.cache_node_type,
                "configuration_endpoint": endpoint(g.configuration_endpoint.as_ref()),
                "node_groups": g.node_groups.unwrap_or_default().into_iter().map(|n| json!({
                    "id": n.node_group_id,
                    "status": n.status,
                    "primary_endpoint": endpoint(n.primary_endpoint.as_ref()),
                    "reader_endpoint": endpoint(n.reader_endpoint.as_ref()),
                    "members": n.node_group_members.unwrap_or_default().into_iter().map(|m| json!({
                        "cache_cluster": m.cache_cluster_id,
                        "role": m.current_role,
                        "availability_zone": m.preferred_availability_zone,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "member_clusters": g.member_clusters.unwrap_or_default(),
                "automatic_failover": g.automatic_failover.as_ref().map(|a| a.as_str().to_owned()),
                "multi_az": g.multi_az.as_ref().map(|m| m.as_str().to_owned()),
                "cluster_mode": g.cluster_mode.as_ref().map(|m| m.as_str().to_owned()),
                "transit_encryption": g.transit_encryption_enabled,
                "at_rest_encryption": g.at_rest_encryption_enabled,
                "auth_token_enabled": g.auth_token_enabled,
                "created": timestamp(g.replication_group_create_time.as_ref()),
                "tags": tags,
            }));
        }
    }
    Ok(json!({ "replication_groups": groups.items, "truncated": groups.truncated }))
}

impl crate::Cloud {
    /// The region's RDS DB instances with their tags, up to `limit`.
    pub async fn db_instances(&self, limit: Option<u32>) -> Result<DbInstancesView, ToolError> {
        self.call_typed("rds_describe_db_instances", &StoreInput { identifier: None, limit }).await
    }
}
