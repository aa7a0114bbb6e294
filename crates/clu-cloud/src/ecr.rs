//! ECR views: repositories, the images of one repository (tags, digest, push time, size, scan
//! status and findings), and a repository's policy decoded, for image pull failures.

use std::collections::BTreeMap;
use std::sync::Arc;

use clu_core::tool::{Tool, ToolContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{Bounded, View, grant, is_missing, limit, not_found, timestamp};

const REPOSITORIES: &str = "arn:{partition}:ecr:{region}:{account}:repository/*";

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        View::<RepositoriesInput>::tool(
            "ecr_describe_repositories",
            "List ECR repositories (or the named ones): URI, creation, tag mutability, scan on \
             push and encryption. Use it to find the repository an image reference points to.",
            vec![grant(&["ecr:DescribeRepositories"], &[REPOSITORIES])],
            |context, input| Box::pin(describe_repositories(context, input)),
        ),
        View::<ImagesInput>::tool(
            "ecr_list_images",
            "List the images of one ECR repository (optionally only some tags): tags, digest, \
             push time, size, last pull, scan status and finding counts by severity. Use it \
             when a pod cannot pull an image (ErrImagePull, ImagePullBackOff) to see whether \
             the tag exists.",
            vec![grant(&["ecr:DescribeImages"], &[REPOSITORIES])],
            |context, input| Box::pin(list_images(context, input)),
        ),
        View::<RepositoryInput>::tool(
            "ecr_get_repository_policy",
            "Give the policy of one ECR repository decoded and explained statement by \
             statement, or null when it has none. Use it when another account or a node role \
             is refused a pull.",
            vec![grant(&["ecr:GetRepositoryPolicy"], &[REPOSITORIES])],
            |context, input| Box::pin(get_repository_policy(context, input)),
        ),
    ]
}

/// Input of `ecr_describe_repositories`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepositoriesInput {
    /// Only these repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) names: Option<Vec<String>>,
    /// At most this many repositories (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

async fn describe_repositories(
    context: &ToolContext,
    input: RepositoriesInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_ecr)?;
    let mut repositories = Bounded::new(limit(input.limit, 200));
    let mut pages = client
        .describe_repositories()
        .set_repository_names(input.names.clone())
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!(
                    "ECR repository among {:?}",
                    input.names.unwrap_or_default()
                )));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for r in page.repositories.unwrap_or_default() {
            let row = json!({
                "name": r.repository_name,
                "uri": r.repository_uri,
                "arn": r.repository_arn,
                "created": timestamp(r.created_at.as_ref()),
                "tag_mutability": r.image_tag_mutability.map(|m| m.as_str().to_owned()),
                "scan_on_push": r.image_scanning_configuration.map(|s| s.scan_on_push),
                "encryption": r.encryption_configuration.map(|e| json!({
                    "type": e.encryption_type.as_str(),
                    "kms_key": e.kms_key,
                })),
            });
            if !repositories.push(row) {
                break 'pages;
            }
        }
    }
    Ok(json!({ "repositories": repositories.items, "truncated": repositories.truncated }))
}

/// Input of `ecr_list_images`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImagesInput {
    /// The repository's name.
    #[schemars(length(min = 2, max = 256))]
    pub(crate) repository: String,
    /// Only images with these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) tags: Option<Vec<String>>,
    /// At most this many images (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

async fn list_images(context: &ToolContext, input: ImagesInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_ecr)?;
    let image_ids = input.tags.as_ref().map(|tags| {
        tags.iter()
            .map(|tag| aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build())
            .collect()
    });
    let mut images = Bounded::new(limit(input.limit, 100));
    let mut pages = client
        .describe_images()
        .repository_name(&input.repository)
        .set_image_ids(image_ids)
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                // ImageNotFoundException names a missing tag; RepositoryNotFoundException the
                // repository. Both are answers the model needs, not failures.
                let what = match error.as_service_error().map(|e| e.is_image_not_found_exception())
                {
                    Some(true) => format!(
                        "image tagged {:?} in ECR repository `{}`",
                        input.tags.unwrap_or_default(),
                        input.repository
                    ),
                    _ => format!("ECR repository `{}`", input.repository),
                };
                return Ok(not_found(what));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for i in page.image_details.unwrap_or_default() {
            let findings: Option<BTreeMap<String, i32>> = i
                .image_scan_findings_summary
                .and_then(|s| s.finding_severity_counts)
                .map(|counts| {
                    counts
                        .into_iter()
                        .map(|(severity, n)| (severity.as_str().to_owned(), n))
                        .collect()
                });
            let row = json!({
                "tags": i.image_tags.unwrap_or_default(),
                "digest": i.image_digest,
                "pushed": timestamp(i.image_pushed_at.as_ref()),
                "size_bytes": i.image_size_in_bytes,
                "last_pull": timestamp(i.last_recorded_pull_time.as_ref()),
                "media_type": i.image_manifest_media_type,
                "scan_status": i.image_scan_status.as_ref().and_then(|s| s.status.as_ref()).map(|s| s.as_str().to_owned()),
                "scan_findings": findings,
            });
            if !images.push(row) {
                break 'pages;
            }
        }
    }
    Ok(json!({
        "repository": input.repository,
        "images": images.items,
        "truncated": images.truncated,
    }))
}

/// Input of `ecr_get_repository_policy`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepositoryInput {
    /// The repository's name.
    #[schemars(length(min = 2, max = 256))]
    pub(crate) repository: String,
}

async fn get_repository_policy(
    context: &ToolContext,
    input: RepositoryInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_ecr)?;
    let read = client.get_repository_policy().repository_name(&input.repository).send().await;
    match read {
        Ok(output) => {
            let policy = output.policy_text.map(|text| {
                let (document, explanation) = crate::iam::decoded_in_place(&text);
                json!({ "document": document, "explanation": explanation })
            });
            Ok(json!({ "repository": input.repository, "policy": policy }))
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_repository_policy_not_found_exception()) =>
        {
            Ok(json!({ "repository": input.repository, "policy": Value::Null }))
        }
        Err(error) if is_missing(&error) => {
            Ok(not_found(format!("ECR repository `{}`", input.repository)))
        }
        Err(error) => Err(context.aws_error(error)),
    }
}
