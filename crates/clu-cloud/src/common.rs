//! What the Cloud views share: bounded collection of pages, fixed grants, timestamps, and the
//! plumbing of a read-only view (its tool, its "not found" result, its in-place failures).

use std::sync::Arc;

use async_trait::async_trait;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use clu_core::error::ToolError;
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
use clu_policy::Grant;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A grant written in the source; a test of the registry proves every such grant valid.
pub(crate) fn grant(actions: &[&str], resources: &[&str]) -> Grant {
    Grant::new(actions.iter().copied(), resources.iter().copied())
        .unwrap_or_else(|error| unreachable!("a fixed grant is valid: {error}"))
}

/// Items gathered from every page up to a bound, with a marker when more existed.
#[derive(Debug, Serialize)]
pub(crate) struct Bounded<T> {
    /// The items kept.
    pub(crate) items: Vec<T>,
    /// Whether items past the bound were left out.
    pub(crate) truncated: bool,
    #[serde(skip)]
    limit: usize,
}

impl<T> Bounded<T> {
    /// An empty collection that keeps at most `limit` items.
    pub(crate) fn new(limit: usize) -> Self {
        Self { items: Vec::new(), truncated: false, limit }
    }

    /// Adds one item; returns `false` once the bound is reached, so the caller stops paging.
    pub(crate) fn push(&mut self, item: T) -> bool {
        if self.items.len() >= self.limit {
            self.truncated = true;
            return false;
        }
        self.items.push(item);
        true
    }

    /// Whether the bound was reached.
    pub(crate) fn is_full(&self) -> bool {
        self.truncated || self.items.len() >= self.limit
    }
}

/// An SDK timestamp as RFC 3339, the form the model reads best.
pub(crate) fn timestamp(time: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    time.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// The code of one view: given the call's context and the parsed input, its JSON result.
pub(crate) type Run<I> =
    for<'a> fn(&'a ToolContext, I) -> BoxFuture<'a, clu_core::Result<serde_json::Value>>;

/// A read-only Cloud view built from a name, a description, its grants and the function that
/// does the work, so each module writes the work and not the plumbing of the [`Tool`] trait.
pub(crate) struct View<I> {
    spec: ToolSpec,
    run: Run<I>,
}

impl<I> View<I>
where
    I: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    /// The view as a tool of the Cloud tier that only reads.
    pub(crate) fn tool(
        name: &'static str,
        description: &'static str,
        grants: Vec<Grant>,
        run: Run<I>,
    ) -> Arc<dyn Tool> {
        let permissions = Permissions { iam: grants, rbac: vec![] };
        let spec = ToolSpec::new::<I>(name, description, Tier::Cloud, Risk::Read, permissions);
        Arc::new(Self { spec, run })
    }
}

#[async_trait]
impl<I> Tool for View<I>
where
    I: DeserializeOwned + Send + Sync + 'static,
{
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(
        &self,
        context: &ToolContext,
        input: serde_json::Value,
    ) -> clu_core::Result<serde_json::Value> {
        let input: I = context.parse_input(input)?;
        (self.run)(context, input).await
    }
}

/// A typed view result as the JSON the registry hands on.
pub(crate) fn to_json<T: Serialize>(
    context: &ToolContext,
    view: &T,
) -> clu_core::Result<serde_json::Value> {
    serde_json::to_value(view).map_err(|e| ToolError::failed(context.tool(), e.to_string()))
}

/// The bound a view reads up to: the input's `limit`, or the view's default.
pub(crate) fn limit(requested: Option<u32>, default: usize) -> usize {
    requested.map_or(default, |n| n as usize).max(1)
}

/// What a view returns when the resource asked for does not exist: a result, not an error, so
/// the model can tell "absent" (often the very fault it is looking for) from "failed".
pub(crate) fn not_found(what: impl Into<String>) -> serde_json::Value {
    serde_json::json!({ "found": false, "what": what.into() })
}

/// Whether an AWS error says the resource asked for does not exist (`NoSuchEntity`,
/// `NoSuchBucket`, `ResourceNotFoundException`, `DBInstanceNotFound`, ...).
pub(crate) fn is_missing<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code().is_some_and(|code| code.contains("NotFound") || code.starts_with("NoSuch"))
}

/// A sub-read's failure, reported in place of its value so the rest of the view still stands.
pub(crate) fn failure_in_place(error: &ToolError) -> serde_json::Value {
    serde_json::json!({ "error": error.to_string(), "code": error.code() })
}

/// Tags as one JSON object, sorted by key, which reads better than a list of pairs.
pub(crate) fn tag_map<K, V>(
    tags: impl IntoIterator<Item = (K, V)>,
) -> std::collections::BTreeMap<String, String>
where
    K: Into<String>,
    V: Into<String>,
{
    tags.into_iter().map(|(key, value)| (key.into(), value.into())).collect()
}

/// A typed view result that may be [`not_found`]: `None` then, else the deserialized view.
pub(crate) fn found<O: DeserializeOwned>(
    tool: &str,
    output: serde_json::Value,
) -> clu_core::Result<Option<O>> {
    if output.get("found") == Some(&serde_json::Value::Bool(false)) {
        return Ok(None);
    }
    serde_json::from_value(output).map(Some).map_err(|e| ToolError::failed(tool, e.to_string()))
}
