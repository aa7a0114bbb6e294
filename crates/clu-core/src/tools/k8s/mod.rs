//! Kubernetes reads: objects of the kinds an operator inspects, their events and pod logs.
//!
//! The generic tools (`k8s_get`, `k8s_list`, `k8s_describe`) take any kind of [`READABLE`], the
//! explicit list of read-only resources Clu declares RBAC on. A kind is matched there first, so
//! a Secret, or a kind outside the list, is refused before any request leaves the process; the
//! cluster's discovery documents then give its served version and scope.

mod describe;
mod events;
mod get;
mod list;
mod logs;
mod summary;

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use kube::core::GroupVersion;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

use crate::error::{Result, ToolError};
use crate::rbac::RbacRule;
use crate::tool::ToolContext;

pub use describe::{K8sDescribe, K8sDescribeInput};
pub use events::{K8sEvents, K8sEventsInput};
pub use get::{K8sGet, K8sGetInput};
pub use list::{K8sList, K8sListInput};
pub use logs::{K8sLogs, K8sLogsInput};

/// One kind the generic tools may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readable {
    /// The API group, `""` for core.
    pub group: &'static str,
    /// The plural resource, as RBAC names it.
    pub resource: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// The short names kubectl accepts.
    pub short_names: &'static [&'static str],
}

const fn readable(
    group: &'static str,
    resource: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
) -> Readable {
    Readable { group, resource, kind, short_names }
}

/// The kinds `k8s_get`, `k8s_list` and `k8s_describe` may read, and so declare RBAC on.
///
/// Secrets are absent on purpose: Clu never reads them. Where one kind is served by two groups
/// (`Event`), the first entry is the one a bare kind means.
pub const READABLE: &[Readable] = &[
    readable("", "pods", "Pod", &["po"]),
    readable("", "services", "Service", &["svc"]),
    readable("", "endpoints", "Endpoints", &["ep"]),
    readable("", "events", "Event", &["ev"]),
    readable("", "nodes", "Node", &["no"]),
    readable("", "namespaces", "Namespace", &["ns"]),
    readable("", "configmaps", "ConfigMap", &["cm"]),
    readable("", "persistentvolumeclaims", "PersistentVolumeClaim", &["pvc"]),
    readable("", "persistentvolumes", "PersistentVolume", &["pv"]),
    readable("", "serviceaccounts", "ServiceAccount", &["sa"]),
    readable("apps", "deployments", "Deployment", &["deploy"]),
    readable("apps", "replicasets", "ReplicaSet", &["rs"]),
    readable("apps", "statefulsets", "StatefulSet", &["sts"]),
    readable("apps", "daemonsets", "DaemonSet", &["ds"]),
    readable("batch", "jobs", "Job", &[]),
    readable("batch", "cronjobs", "CronJob", &["cj"]),
    readable("events.k8s.io", "events", "Event", &["ev"]),
    readable("networking.k8s.io", "ingresses", "Ingress", &["ing"]),
    readable("networking.k8s.io", "networkpolicies", "NetworkPolicy", &["netpol"]),
    readable("discovery.k8s.io", "endpointslices", "EndpointSlice", &[]),
    readable("coordination.k8s.io", "leases", "Lease", &[]),
    readable("policy", "poddisruptionbudgets", "PodDisruptionBudget", &["pdb"]),
    readable("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", &["hpa"]),
    readable("storage.k8s.io", "storageclasses", "StorageClass", &["sc"]),
];

/// One RBAC rule per API group of [`READABLE`], each over the group's resources with `verbs`.
pub fn readable_rules(verbs: &[&str]) -> Vec<RbacRule> {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for readable in READABLE {
        by_group.entry(readable.group).or_default().push(readable.resource);
    }
    by_group
        .into_iter()
        .map(|(group, resources)| RbacRule::new(group, resources, verbs.iter().copied()))
        .collect()
}

/// Every readable kind, for messages: `Pod, Service, ..., Event (events.k8s.io), ...`.
fn readable_kinds() -> String {
    READABLE
        .iter()
        .map(|r| {
            let core_twin = !r.group.is_empty()
                && READABLE.iter().any(|o| o.group.is_empty() && o.kind == r.kind);
            if core_twin { format!("{} ({})", r.kind, r.group) } else { r.kind.to_owned() }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A kind as the model wrote it, split into its name and the group and version it named.
#[derive(Debug, PartialEq, Eq)]
struct KindQuery {
    name: String,
    group: Option<String>,
    version: Option<String>,
}

/// Splits `kind` (`Pod`, `pods`, `deployments.apps`, `apps/v1/Deployment`, `v1/Secret`) and
/// an optional `api_version` (`v1`, `apps/v1`, or a bare group `apps`).
fn parse_kind(tool: &str, kind: &str, api_version: Option<&str>) -> Result<KindQuery> {
    let kind = kind.trim();
    let (prefix, name) = match kind.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, kind),
    };
    let mut query = KindQuery { name: name.to_ascii_lowercase(), group: None, version: None };
    if query.name.is_empty() {
        return Err(ToolError::invalid_input(tool, "`kind` is empty"));
    }
    for given in
        [prefix, api_version.map(str::trim).filter(|v| !v.is_empty())].into_iter().flatten()
    {
        let (group, version) = split_api_version(given);
        let conflict =
            |field: &Option<String>, value: &str| field.as_deref().is_some_and(|f| f != value);
        if conflict(&query.group, &group) || version.is_some_and(|v| conflict(&query.version, v)) {
            return Err(ToolError::invalid_input(
                tool,
                format!("`api_version` `{given}` disagrees with `kind` `{kind}`"),
            ));
        }
        query.group = Some(group);
        if let Some(version) = version {
            query.version = Some(version.to_owned());
        }
    }
    // kubectl's `resource.group` form, such as `deployments.apps`; a kind has no dots.
    if query.group.is_none()
        && let Some((name, group)) = query.name.clone().split_once('.')
    {
        query.group = Some(group.to_owned());
        query.name = name.to_owned();
    }
    Ok(query)
}

/// `(group, version)` of an apiVersion; a bare group has no version, a bare `vN` is core.
fn split_api_version(api_version: &str) -> (String, Option<&str>) {
    match api_version.split_once('/') {
        Some((group, version)) => (group.to_owned(), Some(version)),
        None if looks_like_version(api_version) => (String::new(), Some(api_version)),
        None => (api_version.to_owned(), None),
    }
}

fn looks_like_version(text: &str) -> bool {
    text.strip_prefix('v').is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn is_secret(name: &str) -> bool {
    matches!(name, "secret" | "secrets")
}

fn names_match(readable: &Readable, name: &str) -> bool {
    readable.kind.eq_ignore_ascii_case(name)
        || readable.resource == name
        || readable.short_names.contains(&name)
}

/// Finds the readable kind the model asked for, refusing Secrets and kinds outside
/// [`READABLE`] before anything is sent.
fn find_readable(
    tool: &str,
    kind: &str,
    api_version: Option<&str>,
) -> Result<(Readable, Option<String>)> {
    let query = parse_kind(tool, kind, api_version)?;
    if is_secret(&query.name) {
        return Err(ToolError::Forbidden { tool: tool.to_owned(), what: "read Secrets".into() });
    }
    let candidates: Vec<&Readable> =
        READABLE.iter().filter(|r| names_match(r, &query.name)).collect();
    let chosen = match &query.group {
        Some(group) => candidates.iter().find(|r| r.group == group),
        None => candidates.first(),
    };
    match (chosen, candidates.first()) {
        (Some(readable), _) => Ok((**readable, query.version)),
        (None, Some(other)) => Err(ToolError::invalid_input(
            tool,
            format!(
                "`kind` `{kind}` is not readable in API group `{}`; Clu reads it in group `{}`",
                query.group.unwrap_or_default(),
                if other.group.is_empty() { "core (\"\")" } else { other.group },
            ),
        )),
        (None, None) => Err(ToolError::invalid_input(
            tool,
            format!(
                "`kind` `{kind}` is not a kind Clu reads; readable kinds: {}",
                readable_kinds()
            ),
        )),
    }
}

/// A readable kind resolved through the cluster's discovery: the served version and scope.
#[derive(Clone, Debug)]
struct Target {
    resource: ApiResource,
    capabilities: ApiCapabilities,
}

impl Target {
    fn namespaced(&self) -> bool {
        self.capabilities.scope == Scope::Namespaced
    }

    /// The API for one namespace, for all namespaces, or for a cluster-scoped kind.
    fn api(&self, client: kube::Client, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        match namespace {
            Some(namespace) if self.namespaced() => {
                kube::Api::namespaced_with(client, namespace, &self.resource)
            }
            _ => kube::Api::all_with(client, &self.resource),
        }
    }
}

/// Resolves `kind` to a served resource: refused or matched in [`READABLE`], then looked up in
/// discovery at the version asked for, or at the group's preferred version.
async fn resolve(
    context: &ToolContext,
    client: &kube::Client,
    kind: &str,
    api_version: Option<&str>,
) -> Result<Target> {
    let (readable, version) = find_readable(context.tool(), kind, api_version)?;
    resolve_readable(context, client, readable, version.as_deref()).await
}

async fn resolve_readable(
    context: &ToolContext,
    client: &kube::Client,
    readable: Readable,
    version: Option<&str>,
) -> Result<Target> {
    let group_name = if readable.group.is_empty() { "core" } else { readable.group };
    let discovered = match version {
        Some(version) => {
            discovery::pinned_group(client, &GroupVersion::gv(readable.group, version)).await
        }
        None => discovery::group(client, readable.group).await,
    };
    let group = discovered.map_err(|error| match error {
        kube::Error::Discovery(_) => {
            ToolError::NotFound { what: format!("API group `{group_name}` in this cluster") }
        }
        kube::Error::Api(status) if status.code == 404 => ToolError::NotFound {
            what: format!(
                "API version `{}` of group `{group_name}` in this cluster",
                version.unwrap_or_default()
            ),
        },
        other => context.kube_error(other),
    })?;
    let resources = match version {
        Some(version) => group.versioned_resources(version),
        None => group.recommended_resources(),
    };
    resources
        .into_iter()
        .find(|(resource, _)| resource.plural == readable.resource)
        .map(|(resource, capabilities)| Target { resource, capabilities })
        .ok_or_else(|| ToolError::NotFound {
            what: format!(
                "resource `{}` in API group `{group_name}` of this cluster",
                readable.resource
            ),
        })
}

/// The namespace a namespaced kind needs for one object; cluster-scoped kinds take none.
fn object_namespace<'a>(
    tool: &str,
    target: &Target,
    namespace: Option<&'a str>,
) -> Result<Option<&'a str>> {
    match namespace.filter(|n| !n.is_empty()) {
        Some(namespace) if target.namespaced() => Ok(Some(namespace)),
        None if target.namespaced() => Err(ToolError::invalid_input(
            tool,
            format!("`namespace` is required: {} is a namespaced kind", target.resource.kind),
        )),
        _ => Ok(None),
    }
}

/// The compact, model-ready rows of `objects` of `kind`: one row per object with the columns
/// that matter for its kind (for pods: status, ready, restarts, last termination, node, age).
pub fn summary_rows(kind: &str, objects: &[Value]) -> Vec<Value> {
    let now = k8s_openapi::jiff::Timestamp::now();
    objects.iter().map(|object| summary::row(kind, object, now)).collect()
}

/// The rows of typed pods, as `k8s_list` returns them for pods: the same as [`summary_rows`]
/// of the pods as JSON, made without reading them as JSON maps.
pub fn pod_summary_rows(pods: &[k8s_openapi::api::core::v1::Pod]) -> Vec<Value> {
    let now = k8s_openapi::jiff::Timestamp::now();
    pods.iter().map(|pod| summary::pod_row(pod, now)).collect()
}

/// An object as JSON for the model: `apiVersion` and `kind` always set, `managedFields` gone.
fn object_json(object: DynamicObject, resource: &ApiResource) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion").or_insert_with(|| Value::String(resource.api_version.clone()));
        map.entry("kind").or_insert_with(|| Value::String(resource.kind.clone()));
    }
    strip_managed_fields(&mut value);
    value
}

/// Removes `metadata.managedFields`, which is bookkeeping of the API server and can be larger
/// than the rest of the object.
fn strip_managed_fields(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
}

/// Maps a list error, turning the API server's refusal of a selector into an input error.
fn list_error(context: &ToolContext, error: kube::Error, selectors: bool) -> ToolError {
    match error {
        kube::Error::Api(status) if status.code == 400 && selectors => ToolError::invalid_input(
            context.tool(),
            format!("`label_selector` or `field_selector` was refused: {}", status.message),
        ),
        other => context.kube_error(other),
    }
}

/// Parses an RFC 3339 timestamp from the API server.
fn parse_time(value: &Value) -> Option<Timestamp> {
    value.as_str()?.parse().ok()
}

/// How long ago `then` was, the way kubectl prints ages: `45s`, `5m30s`, `3h`, `2d4h`, `40d`.
fn age(then: Timestamp, now: Timestamp) -> String {
    let seconds = (now.as_second() - then.as_second()).max(0);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{minutes}m{}s", s % 60),
        s if s < 3 * 3600 => format!("{minutes}m"),
        s if s < 8 * 3600 => format!("{hours}h{}m", minutes % 60),
        s if s < 48 * 3600 => format!("{hours}h"),
        s if s < 8 * 86_400 => format!("{days}d{}h", hours % 24),
        s if s < 730 * 86_400 => format!("{days}d"),
        _ => format!("{}y{}d", days / 365, days % 365),
    }
}

/// The age of an object from its `metadata.creationTimestamp`.
fn object_age(object: &Value, now: Timestamp) -> Option<String> {
    parse_time(&object["metadata"]["creationTimestamp"]).map(|then| age(then, now))
}

#[cfg(test)]
mod tests;
