//! `k8s_list`: the objects of one readable kind, as a compact table or in full.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{list_error, object_json, readable_rules, resolve};
use crate::error::Result;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// Objects per call when the input names no `limit`.
const DEFAULT_LIMIT: u32 = 500;

/// Objects per call in full detail: whole objects are large, and the model reads every byte.
const DETAIL_LIMIT: u32 = 50;

/// Objects per request to the API server.
const DEFAULT_PAGE_SIZE: u32 = 250;

/// Input of `k8s_list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sListInput {
    /// The kind or resource, as kubectl takes it: `Pod`, `pods`, `deploy`, `nodes`, `events`.
    #[schemars(length(min = 1, max = 253))]
    pub kind: String,
    /// The API version (`apps/v1`) or group (`apps`), when the kind alone is ambiguous.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The namespace; omit it to list across all namespaces.
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// A label selector such as `app=web,tier!=cache` or `env in (prod,staging)`.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub label_selector: Option<String>,
    /// A field selector such as `status.phase=Pending` or `spec.nodeName=ip-10-0-1-10`.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub field_selector: Option<String>,
    /// At most this many objects (default 500; at most 50 with `detail`).
    #[serde(default)]
    #[schemars(range(min = 1, max = 5000))]
    pub limit: Option<u32>,
    /// The `continue_token` of a previous, truncated call, to get the next objects.
    #[serde(default)]
    #[schemars(length(max = 4096))]
    pub continue_token: Option<String>,
    /// Whole objects (without managedFields) instead of a compact table of status columns.
    #[serde(default)]
    pub detail: bool,
}

/// Lists objects of one kind with selectors and pagination.
pub struct K8sList {
    spec: ToolSpec,
    page_size: u32,
}

impl K8sList {
    /// The tool, reading 250 objects per request.
    pub fn new() -> Self {
        Self::with_page_size(DEFAULT_PAGE_SIZE)
    }

    /// The tool, reading `page_size` objects per request to the API server.
    pub fn with_page_size(page_size: u32) -> Self {
        Self {
            spec: ToolSpec::new::<K8sListInput>(
                "k8s_list",
                "List Kubernetes objects of one readable kind, in a namespace or across all, \
                 with label and field selectors. Returns a compact table (name, namespace, age \
                 and the kind's status: pod phase/ready/restarts/node, deployment ready/desired, \
                 node Ready/pressure, ...) with the total count; set detail for whole objects. \
                 A truncated answer carries a continue_token for the next page. Secrets are \
                 never readable.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![], rbac: readable_rules(&["list"]) },
            ),
            page_size: page_size.max(1),
        }
    }
}

impl Default for K8sList {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sList {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sListInput = context.parse_input(input)?;
        let mut limit = input.limit.unwrap_or(DEFAULT_LIMIT);
        if input.detail {
            limit = limit.min(DETAIL_LIMIT);
        }
        let client = context.kube()?;
        let target = resolve(context, &client, &input.kind, input.api_version.as_deref()).await?;
        let namespace = input.namespace.as_deref().filter(|n| !n.is_empty());
        let selectors = input.label_selector.is_some() || input.field_selector.is_some();

        let pages = Paging {
            limit,
            page_size: self.page_size,
            label_selector: input.label_selector.clone(),
            field_selector: input.field_selector.clone(),
            token: input.continue_token.filter(|t| !t.is_empty()),
        };
        // Pods, the longest lists, are read typed for their rows (see `summary::pod_row`).
        let is_pod = target.resource.group.is_empty() && target.resource.kind == "Pod";
        if is_pod && !input.detail {
            let pods: kube::Api<Pod> = match namespace {
                Some(namespace) => kube::Api::namespaced(client, namespace),
                None => kube::Api::all(client),
            };
            let (pods, token, remaining) =
                pages.read(&pods).await.map_err(|e| list_error(context, e, selectors))?;
            let rows = json!(super::pod_summary_rows(&pods));
            return Ok(listing(&target, namespace, pods.len(), token, remaining, "rows", rows));
        }
        let api = target.api(client, namespace);
        let (objects, token, remaining) =
            pages.read(&api).await.map_err(|e| list_error(context, e, selectors))?;
        let count = objects.len();
        let objects: Vec<Value> =
            objects.into_iter().map(|o| object_json(o, &target.resource)).collect();
        let (field, value) = if input.detail {
            ("items", json!(objects))
        } else {
            ("rows", json!(super::summary_rows(&target.resource.kind, &objects)))
        };
        Ok(listing(&target, namespace, count, token, remaining, field, value))
    }
}

/// How `k8s_list` reads pages: each request asks for no more than is still wanted, so the
/// server's continue token points exactly after the last object returned.
struct Paging {
    limit: u32,
    page_size: u32,
    label_selector: Option<String>,
    field_selector: Option<String>,
    token: Option<String>,
}

impl Paging {
    /// The objects, the continue token when more remain, and the server's count of the rest.
    async fn read<K>(
        self,
        api: &kube::Api<K>,
    ) -> std::result::Result<(Vec<K>, Option<String>, Option<i64>), kube::Error>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let mut objects = Vec::new();
        let mut token = self.token;
        let remaining = loop {
            let wanted = self.limit - u32::try_from(objects.len()).unwrap_or(self.limit);
            let mut params = ListParams::default().limit(wanted.min(self.page_size));
            params.label_selector = self.label_selector.clone();
            params.field_selector = self.field_selector.clone();
            params.continue_token = token.take();
            let page = api.list(&params).await?;
            objects.extend(page.items);
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() || objects.len() >= self.limit as usize {
                break page.metadata.remaining_item_count;
            }
        };
        Ok((objects, token, remaining))
    }
}

/// The answer: what was listed, how much of it, how to go on, and `field` holding `value`.
fn listing(
    target: &super::Target,
    namespace: Option<&str>,
    count: usize,
    token: Option<String>,
    remaining: Option<i64>,
    field: &str,
    value: Value,
) -> Value {
    let truncated = token.is_some();
    let mut output = json!({
        "kind": target.resource.kind,
        "api_version": target.resource.api_version,
        "namespace": target.namespaced().then(|| namespace.unwrap_or("(all)")),
        "count": count,
        "truncated": truncated,
    });
    match (truncated, remaining) {
        (false, _) => output["total"] = json!(count),
        (true, Some(remaining)) => {
            output["total"] = json!(count as i64 + remaining);
        }
        // The API server gives no count for lists narrowed by selectors.
        (true, None) => output["total"] = json!(format!("more than {count}")),
    }
    if let Some(token) = &token {
        output["continue_token"] = json!(token);
        output["note"] = json!(format!(
            "only the first {count} objects are shown; pass continue_token for the next ones, \
             or narrow the list with a namespace or selectors"
        ));
    }
    output[field] = value;
    output
}
