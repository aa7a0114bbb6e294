//! `k8s_events`: events, newest first, with repeats folded into one row.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{age, list_error};
use crate::error::Result;
use crate::rbac::RbacRule;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// Event objects read at most per call; a namespace in trouble can hold thousands.
const MAX_SCANNED: usize = 2000;

/// Event objects per request to the API server.
const PAGE_SIZE: u32 = 500;

/// The type of an event.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something may be wrong.
    Warning,
}

/// Input of `k8s_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sEventsInput {
    /// The namespace; omit it for events across all namespaces (node events are in `default`).
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// Only events about objects of this kind, as the event names it: `Pod`, `Node`,
    /// `Deployment`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 63))]
    pub involved_kind: Option<String>,
    /// Only events about the object of this name.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253))]
    pub involved_name: Option<String>,
    /// Only `Warning` or only `Normal` events.
    #[serde(default, rename = "type")]
    pub event_type: Option<EventType>,
    /// Only events with this reason, such as `BackOff`, `FailedScheduling`, `Unhealthy`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub reason: Option<String>,
    /// At most this many rows (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Lists events with filters, folding repeats.
pub struct K8sEvents {
    spec: ToolSpec,
}

impl K8sEvents {
    /// The tool.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<K8sEventsInput>(
                "k8s_events",
                "List Kubernetes events, newest first, filtered by namespace, involved object \
                 kind and name, type (Warning or Normal) and reason. Repeats of the same object, \
                 reason and message are folded into one row with their count and first and last \
                 seen times. Use it to see what the cluster said about failing pods, nodes or \
                 rollouts.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![], rbac: vec![events_rule()] },
            ),
        }
    }
}

impl Default for K8sEvents {
    fn default() -> Self {
        Self::new()
    }
}

/// Listing core events, which both this tool and `k8s_describe` do.
pub(super) fn events_rule() -> RbacRule {
    RbacRule::new("", ["events"], ["list"])
}

#[async_trait]
impl Tool for K8sEvents {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sEventsInput = context.parse_input(input)?;
        let limit = input.limit.unwrap_or(100) as usize;
        let mut fields = Vec::new();
        if let Some(kind) = &input.involved_kind {
            fields.push(format!("involvedObject.kind={kind}"));
        }
        if let Some(name) = &input.involved_name {
            fields.push(format!("involvedObject.name={name}"));
        }
        if let Some(event_type) = input.event_type {
            fields.push(format!("type={event_type:?}"));
        }
        if let Some(reason) = &input.reason {
            fields.push(format!("reason={reason}"));
        }
        let client = context.kube()?;
        let namespace = input.namespace.as_deref().filter(|n| !n.is_empty());
        let (events, complete) = list_events(context, client, namespace, &fields.join(",")).await?;

        let rows = fold(&events, Timestamp::now());
        let total = rows.len();
        let mut output = json!({
            "namespace": namespace.unwrap_or("(all)"),
            "count": total.min(limit),
            "total": total,
            "truncated": total > limit || !complete,
            "events": rows.into_iter().take(limit).collect::<Vec<_>>(),
        });
        if !complete {
            output["note"] = json!(format!(
                "only the first {MAX_SCANNED} event objects were read; \
                 narrow the filters for the rest"
            ));
        }
        Ok(output)
    }
}

/// Lists core events matching `field_selector`, up to [`MAX_SCANNED`]; `false` when more were
/// left unread.
pub(super) async fn list_events(
    context: &ToolContext,
    client: kube::Client,
    namespace: Option<&str>,
    field_selector: &str,
) -> Result<(Vec<Event>, bool)> {
    let api: kube::Api<Event> = match namespace {
        Some(namespace) => kube::Api::namespaced(client, namespace),
        None => kube::Api::all(client),
    };
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if !field_selector.is_empty() {
            params = params.fields(field_selector);
        }
        params.continue_token = token.take();
        let page = api.list(&params).await.map_err(|e| list_error(context, e, true))?;
        events.extend(page.items);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok((events, true));
        }
        if events.len() >= MAX_SCANNED {
            return Ok((events, false));
        }
    }
}

/// One row of folded events.
struct Folded {
    event_type: String,
    reason: String,
    object: String,
    namespace: Option<String>,
    message: String,
    source: Option<String>,
    count: i64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

fn event_times(event: &Event) -> (Option<Timestamp>, Option<Timestamp>, i64) {
    let created = event.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let event_time = event.event_time.as_ref().map(|t| t.0);
    let first = event.first_timestamp.as_ref().map(|t| t.0).or(event_time).or(created);
    let last = event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(event.last_timestamp.as_ref().map(|t| t.0))
        .or(first);
    let count =
        event.series.as_ref().and_then(|s| s.count).or(event.count).map_or(1, i64::from).max(1);
    (first, last, count)
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Folds events of the same object, reason and message into one row each, newest first.
pub(super) fn fold(events: &[Event], now: Timestamp) -> Vec<Value> {
    let mut folded: BTreeMap<(String, String, String, String, String), Folded> = BTreeMap::new();
    for event in events {
        let object = &event.involved_object;
        let kind = object.kind.clone().unwrap_or_default();
        let name = object.name.clone().unwrap_or_default();
        // The row shows the object's namespace (none for a node); the key also holds the
        // event's own, so events of same-named objects in different namespaces stay apart.
        let namespace = object.namespace.clone();
        let event_namespace = event.metadata.namespace.clone().unwrap_or_default();
        let reason = event.reason.clone().unwrap_or_default();
        let message = event.message.clone().unwrap_or_default();
        let (first, last, count) = event_times(event);
        let key = (
            namespace.clone().unwrap_or(event_namespace),
            format!("{kind}/{name}"),
            reason.clone(),
            message.clone(),
            event.type_.clone().unwrap_or_default(),
        );
        let row = folded.entry(key).or_insert_with(|| Folded {
            event_type: event.type_.clone().unwrap_or_default(),
            reason,
            object: format!("{kind}/{name}"),
            namespace,
            message,
            source: event
                .source
                .as_ref()
                .and_then(|s| s.component.clone())
                .or_else(|| event.reporting_component.clone())
                .filter(|s| !s.is_empty()),
            count: 0,
            first,
            last,
        });
        row.count += count;
        row.first = earliest(row.first, first);
        row.last = row.last.max(last);
    }
    let mut rows: Vec<Folded> = folded.into_values().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.last));
    rows.into_iter()
        .map(|row| {
            let seen = |at: Option<Timestamp>| {
                at.map(|t| json!({ "at": t.to_string(), "ago": age(t, now) }))
            };
            json!({
                "type": row.event_type,
                "reason": row.reason,
                "object": row.object,
                "namespace": row.namespace,
                "message": row.message,
                "count": row.count,
                "first_seen": seen(row.first),
                "last_seen": seen(row.last),
                "source": row.source,
            })
        })
        .collect()
}
