//! Secrets Manager views that read metadata only: names, ARN, rotation and its schedule, when a
//! secret was last rotated, accessed and changed, its tags and KMS key.
//!
//! A secret's value is never read: these views call only `ListSecrets` and `DescribeSecret`,
//! and the guard refuses `GetSecretValue` and `BatchGetSecretValue` to every tool whatever it
//! declares, which the tier's tests prove for each Cloud tool.

use std::sync::Arc;

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use clu_core::error::ToolError;
use clu_core::tool::{Tool, ToolContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{
    Bounded, View, grant, is_missing, limit, not_found, tag_map, timestamp, to_json,
};

const SECRETS: &str = "arn:{partition}:secretsmanager:{region}:{account}:secret:*";

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        View::<ListSecretsInput>::tool(
            "secrets_list",
            "List Secrets Manager secrets by metadata only (never a value): name, ARN, \
             rotation and its schedule, last rotated, accessed and changed, KMS key and tags, \
             optionally by name prefix. Use it to check that the secret a workload expects \
             exists and is rotated.",
            vec![grant(&["secretsmanager:ListSecrets"], &["*"])],
            |context, input| Box::pin(list_secrets(context, input)),
        ),
        View::<DescribeSecretInput>::tool(
            "secrets_describe",
            "Describe one Secrets Manager secret by name or ARN, metadata only (never its \
             value): rotation, last rotated, accessed and changed, deletion date, KMS key, \
             primary region, the service that owns it, and tags.",
            vec![grant(&["secretsmanager:DescribeSecret"], &[SECRETS])],
            |context, input| Box::pin(describe_secret(context, input)),
        ),
    ]
}

/// Input of `secrets_list`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListSecretsInput {
    /// Only secrets whose name starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub(crate) name_prefix: Option<String>,
    /// At most this many secrets (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

/// Secrets by their metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsView {
    /// The secrets.
    pub secrets: Vec<SecretMetadata>,
    /// Whether secrets past the bound were left out.
    pub truncated: bool,
}

/// What is known about a secret without reading it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMetadata {
    /// The secret's name.
    pub name: Option<String>,
    /// The secret's ARN.
    pub arn: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// The KMS key that encrypts it; `None` means the account's `aws/secretsmanager` key.
    pub kms_key_id: Option<String>,
    /// Whether rotation is on.
    pub rotation_enabled: bool,
    /// The Lambda function that rotates it.
    pub rotation_lambda_arn: Option<String>,
    /// How often it rotates: every N days, or a schedule expression.
    pub rotation_schedule: Option<String>,
    /// When it last rotated, RFC 3339.
    pub last_rotated: Option<String>,
    /// When it was last read (IAM reports the day), RFC 3339.
    pub last_accessed: Option<String>,
    /// When it last changed, RFC 3339.
    pub last_changed: Option<String>,
    /// When it is next due to rotate, RFC 3339.
    pub next_rotation: Option<String>,
    /// When it was scheduled for deletion, RFC 3339.
    pub deleted: Option<String>,
    /// When it was created, RFC 3339.
    pub created: Option<String>,
    /// The region it is replicated from, when it is a replica.
    pub primary_region: Option<String>,
    /// The AWS service that manages it, such as `rds`.
    pub owning_service: Option<String>,
    /// Its tags.
    pub tags: std::collections::BTreeMap<String, String>,
}

fn rotation_schedule(
    rules: Option<&aws_sdk_secretsmanager::types::RotationRulesType>,
) -> Option<String> {
    let rules = rules?;
    rules
        .schedule_expression
        .clone()
        .or_else(|| rules.automatically_after_days.map(|days| format!("every {days} days")))
}

fn tags(
    tags: Option<Vec<aws_sdk_secretsmanager::types::Tag>>,
) -> std::collections::BTreeMap<String, String> {
    tag_map(
        tags.unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default()))),
    )
}

async fn list_secrets(context: &ToolContext, input: ListSecretsInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_secretsmanager)?;
    let filters = input.name_prefix.map(|prefix| {
        vec![Filter::builder().key(FilterNameStringType::Name).values(prefix).build()]
    });
    let mut secrets = Bounded::new(limit(input.limit, 200));
    let mut pages = client.list_secrets().set_filters(filters).into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for s in page.secret_list.unwrap_or_default() {
            let metadata = SecretMetadata {
                rotation_schedule: rotation_schedule(s.rotation_rules.as_ref()),
                name: s.name,
                arn: s.arn,
                description: s.description,
                kms_key_id: s.kms_key_id,
                rotation_enabled: s.rotation_enabled.unwrap_or(false),
                rotation_lambda_arn: s.rotation_lambda_arn,
                last_rotated: timestamp(s.last_rotated_date.as_ref()),
                last_accessed: timestamp(s.last_accessed_date.as_ref()),
                last_changed: timestamp(s.last_changed_date.as_ref()),
                next_rotation: timestamp(s.next_rotation_date.as_ref()),
                deleted: timestamp(s.deleted_date.as_ref()),
                created: timestamp(s.created_date.as_ref()),
                primary_region: s.primary_region,
                owning_service: s.owning_service,
                tags: tags(s.tags),
            };
            if !secrets.push(metadata) {
                break 'pages;
            }
        }
    }
    to_json(context, &SecretsView { secrets: secrets.items, truncated: secrets.truncated })
}

/// Input of `secrets_describe`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DescribeSecretInput {
    /// The secret's name or ARN.
    #[schemars(length(min = 1, max = 2048))]
    pub(crate) secret: String,
}

async fn describe_secret(
    context: &ToolContext,
    input: DescribeSecretInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_secretsmanager)?;
    let s = match client.describe_secret().secret_id(&input.secret).send().await {
        Ok(output) => output,
        Err(error) if is_missing(&error) => {
            return Ok(not_found(format!("secret `{}`", input.secret)));
        }
        Err(error) => return Err(context.aws_error(error)),
    };
    let metadata = SecretMetadata {
        rotation_schedule: rotation_schedule(s.rotation_rules.as_ref()),
        name: s.name,
        arn: s.arn,
        description: s.description,
        kms_key_id: s.kms_key_id,
        rotation_enabled: s.rotation_enabled.unwrap_or(false),
        rotation_lambda_arn: s.rotation_lambda_arn,
        last_rotated: timestamp(s.last_rotated_date.as_ref()),
        last_accessed: timestamp(s.last_accessed_date.as_ref()),
        last_changed: timestamp(s.last_changed_date.as_ref()),
        next_rotation: timestamp(s.next_rotation_date.as_ref()),
        deleted: timestamp(s.deleted_date.as_ref()),
        created: timestamp(s.created_date.as_ref()),
        primary_region: s.primary_region,
        owning_service: s.owning_service,
        tags: tags(s.tags),
    };
    to_json(context, &metadata)
}

impl crate::Cloud {
    /// Secrets Manager secrets by metadata only, optionally by name prefix, up to `limit`.
    pub async fn secrets(
        &self,
        name_prefix: Option<&str>,
        limit: Option<u32>,
    ) -> Result<SecretsView, ToolError> {
        let input = ListSecretsInput { name_prefix: name_prefix.map(str::to_owned), limit };
        self.call_typed("secrets_list", &input).await
    }
}
