//! S3 views: the account's buckets, and one bucket's location, tags, policy (decoded and
//! explained), default encryption, versioning and public access block.
//!
//! Each part of a bucket is its own read, and a bucket may lack any of them; a missing part is
//! `null` and a part that could not be read carries its error in place, so one refused read
//! never hides the others.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_types::region::Region;
use clu_core::error::ToolError;
use clu_core::tool::{Tool, ToolContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{
    Bounded, View, failure_in_place, grant, is_missing, limit, not_found, timestamp, to_json,
};

const BUCKETS: &str = "arn:{partition}:s3:::*";

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        View::<ListBucketsInput>::tool(
            "s3_list_buckets",
            "List the account's S3 buckets with their creation time and region. Use it to find \
             a bucket's exact name before describing it.",
            vec![grant(&["s3:ListAllMyBuckets"], &["*"])],
            |context, input| Box::pin(list_buckets(context, input)),
        ),
        View::<DescribeBucketInput>::tool(
            "s3_describe_bucket",
            "Describe one S3 bucket: region, tags, bucket policy decoded and explained \
             statement by statement (null when it has none), default encryption, versioning \
             and public access block. Use it when a workload is refused by a bucket or to \
             check how a bucket is protected.",
            vec![grant(
                &[
                    "s3:GetBucketLocation",
                    "s3:GetBucketTagging",
                    "s3:GetBucketPolicy",
                    "s3:GetEncryptionConfiguration",
                    "s3:GetBucketVersioning",
                    "s3:GetBucketPublicAccessBlock",
                ],
                &[BUCKETS],
            )],
            |context, input| Box::pin(describe_bucket(context, input)),
        ),
    ]
}

/// An S3 client that uses path-style addressing under an endpoint override (moto, a custom
/// endpoint), where virtual-host names do not resolve, and `region` when given.
fn s3_client(
    context: &ToolContext,
    region: Option<String>,
) -> clu_core::Result<aws_sdk_s3::Client> {
    let path_style = context.aws_parts()?.0.endpoint_url().is_some();
    clu_core::aws_client!(context, aws_sdk_s3, move |builder: aws_sdk_s3::config::Builder| {
        let builder = builder.force_path_style(path_style);
        match region {
            Some(region) => builder.region(Region::new(region)),
            None => builder,
        }
    })
}

/// Input of `s3_list_buckets`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListBucketsInput {
    /// Only buckets whose name contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub(crate) name_contains: Option<String>,
    /// At most this many buckets (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub(crate) limit: Option<u32>,
}

/// The account's buckets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketsView {
    /// The buckets, by name.
    pub buckets: Vec<BucketSummary>,
    /// Whether buckets past the bound were left out.
    pub truncated: bool,
}

/// One bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSummary {
    /// The bucket's name.
    pub name: String,
    /// When it was created, RFC 3339.
    pub created: Option<String>,
    /// Its region, when S3 reports it in the listing.
    pub region: Option<String>,
}

async fn list_buckets(context: &ToolContext, input: ListBucketsInput) -> clu_core::Result<Value> {
    let client = s3_client(context, None)?;
    let mut buckets = Bounded::new(limit(input.limit, 500));
    let mut pages = client.list_buckets().into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for bucket in page.buckets.unwrap_or_default() {
            let Some(name) = bucket.name else { continue };
            if input.name_contains.as_ref().is_some_and(|n| !name.contains(n.as_str())) {
                continue;
            }
            let summary = BucketSummary {
                name,
                created: timestamp(bucket.creation_date.as_ref()),
                region: bucket.bucket_region,
            };
            if !buckets.push(summary) {
                break 'pages;
            }
        }
    }
    to_json(context, &BucketsView { buckets: buckets.items, truncated: buckets.truncated })
}

/// Input of `s3_describe_bucket`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DescribeBucketInput {
    /// The bucket's name.
    #[schemars(length(min = 3, max = 63))]
    pub(crate) bucket: String,
}

/// A sub-read's value: `Ok(Some)` when set, `Ok(None)` when the bucket lacks it, or the error.
fn part<T, E>(
    context: &ToolContext,
    result: Result<T, clu_core::guard::aws::SdkError<E>>,
    value: impl FnOnce(T) -> Value,
) -> Value
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(output) => value(output),
        Err(error) if is_missing(&error) => Value::Null,
        Err(error) => failure_in_place(&context.aws_error(error)),
    }
}

async fn describe_bucket(
    context: &ToolContext,
    input: DescribeBucketInput,
) -> clu_core::Result<Value> {
    let bucket = input.bucket;
    let client = s3_client(context, None)?;

    let location = match client.get_bucket_location().bucket(&bucket).send().await {
        Ok(output) => output.location_constraint.map(|l| l.as_str().to_owned()),
        Err(error) if is_missing(&error) => {
            return Ok(not_found(format!("S3 bucket `{bucket}`")));
        }
        Err(error) => return Err(context.aws_error(error)),
    };
    // S3 reports us-east-1 as no constraint and eu-west-1 by its old name.
    let region = match location.as_deref() {
        None | Some("") => "us-east-1".to_owned(),
        Some("EU") => "eu-west-1".to_owned(),
        Some(other) => other.to_owned(),
    };
    // Every other read must go to the bucket's own region, or S3 answers with a redirect.
    let regional = s3_client(context, Some(region.clone()))?;

    let tags = part(context, regional.get_bucket_tagging().bucket(&bucket).send().await, |o| {
        json!(o.tag_set.into_iter().map(|t| (t.key, t.value)).collect::<BTreeMap<_, _>>())
    });
    let policy = part(context, regional.get_bucket_policy().bucket(&bucket).send().await, |o| {
        match o.policy {
            Some(text) => {
                let (document, explanation) = crate::iam::decoded_in_place(&text);
                json!({ "document": document, "explanation": explanation })
            }
            None => Value::Null,
        }
    });
    let encryption = part(
        context,
        regional.get_bucket_encryption().bucket(&bucket).send().await,
        |o| {
            let rules = o.server_side_encryption_configuration.map(|c| c.rules).unwrap_or_default();
            json!(
                rules
                    .into_iter()
                    .map(|r| {
                        let default = r.apply_server_side_encryption_by_default;
                        json!({
                            "algorithm": default.as_ref().map(|d| d.sse_algorithm.as_str().to_owned()),
                            "kms_key": default.and_then(|d| d.kms_master_key_id),
                            "bucket_key": r.bucket_key_enabled,
                        })
                    })
                    .collect::<Vec<_>>()
            )
        },
    );
    let versioning = part(
        context,
        regional.get_bucket_versioning().bucket(&bucket).send().await,
        |o| {
            json!({
                "status": o.status.map(|s| s.as_str().to_owned()).unwrap_or_else(|| "Disabled".into()),
                "mfa_delete": o.mfa_delete.map(|m| m.as_str().to_owned()),
            })
        },
    );
    let public_access_block =
        part(context, regional.get_public_access_block().bucket(&bucket).send().await, |o| {
            let c = o.public_access_block_configuration;
            json!({
                "block_public_acls": c.as_ref().and_then(|c| c.block_public_acls),
                "ignore_public_acls": c.as_ref().and_then(|c| c.ignore_public_acls),
                "block_public_policy": c.as_ref().and_then(|c| c.block_public_policy),
                "restrict_public_buckets": c.as_ref().and_then(|c| c.restrict_public_buckets),
            })
        });

    let mut findings = Vec::new();
    if encryption.is_null() {
        findings.push("the bucket has no default encryption configuration".to_owned());
    }
    if public_access_block.is_null() {
        findings.push("the bucket has no public access block of its own".to_owned());
    }
    Ok(json!({
        "bucket": bucket,
        "region": region,
        "tags": tags,
        "policy": policy,
        "encryption": encryption,
        "versioning": versioning,
        "public_access_block": public_access_block,
        "findings": findings,
    }))
}

impl crate::Cloud {
    /// The account's S3 buckets, up to `limit`.
    pub async fn buckets(&self, limit: Option<u32>) -> Result<BucketsView, ToolError> {
        self.call_typed("s3_list_buckets", &ListBucketsInput { name_contains: None, limit }).await
    }
}
