//! `k8s_logs`: a pod's container logs, bounded in lines and bytes.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Result, ToolError};
use crate::rbac::RbacRule;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// Lines when the input names none.
const DEFAULT_TAIL_LINES: u32 = 200;

/// Bytes of log text returned at most, by default: about 16k tokens for the model.
const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// The annotation kubectl reads to pick a pod's container when none is named.
const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// Input of `k8s_logs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sLogsInput {
    /// The pod's namespace.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// The pod.
    #[schemars(length(min = 1, max = 253))]
    pub pod: String,
    /// The container; by default the pod's default container, or its first one.
    #[serde(default)]
    #[schemars(length(min = 1, max = 63))]
    pub container: Option<String>,
    /// The last this many lines (default 200).
    #[serde(default)]
    #[schemars(range(min = 1, max = 5000))]
    pub tail_lines: Option<u32>,
    /// Only lines written in the last this many seconds.
    #[serde(default)]
    #[schemars(range(min = 1, max = 2_592_000))]
    pub since_seconds: Option<u32>,
    /// The logs of the previous, terminated run of the container: why a crash-looping
    /// container died.
    #[serde(default)]
    pub previous: bool,
}

/// Reads a container's logs.
pub struct K8sLogs {
    spec: ToolSpec,
    max_bytes: usize,
}

impl K8sLogs {
    /// The tool, returning at most 64 KiB of log text.
    pub fn new() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_BYTES)
    }

    /// The tool, returning at most `max_bytes` of log text (the newest lines are kept).
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Self {
            spec: ToolSpec::new::<K8sLogsInput>(
                "k8s_logs",
                "Read the logs of one container of a pod: the last N lines (default 200, at \
                 most 5000), optionally only the last N seconds, or the previous run's logs to \
                 see why a crash-looping container died. Long output keeps the newest lines \
                 and says how much was cut.",
                Tier::Core,
                Risk::Read,
                Permissions {
                    iam: vec![],
                    rbac: vec![RbacRule::new("", ["pods", "pods/log"], ["get"])],
                },
            ),
            max_bytes: max_bytes.max(1),
        }
    }
}

impl Default for K8sLogs {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for K8sLogs {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: K8sLogsInput = context.parse_input(input)?;
        let tail_lines = input.tail_lines.unwrap_or(DEFAULT_TAIL_LINES);
        let pods: kube::Api<Pod> = kube::Api::namespaced(context.kube()?, &input.namespace);

        // The pod says which containers exist, so a wrong name is answered with the right ones
        // and a pod of several containers gets its default one.
        let pod = pods.get(&input.pod).await.map_err(|e| context.kube_error(e))?;
        let spec = pod.spec.as_ref();
        let names =
            |containers: Option<&Vec<k8s_openapi::api::core::v1::Container>>| -> Vec<String> {
                containers.into_iter().flatten().map(|c| c.name.clone()).collect()
            };
        let containers = names(spec.map(|s| &s.containers));
        let init_containers = names(spec.and_then(|s| s.init_containers.as_ref()));
        let default = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
            .filter(|name| containers.contains(name))
            .or(containers.first())
            .cloned();
        let mut notes = Vec::new();
        let container = match input.container {
            Some(name) if containers.contains(&name) || init_containers.contains(&name) => name,
            Some(name) => {
                return Err(ToolError::invalid_input(
                    context.tool(),
                    format!(
                        "`container` `{name}` is not in pod `{}`; its containers: {}",
                        input.pod,
                        containers
                            .iter()
                            .chain(&init_containers)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            None => {
                let name = default.ok_or_else(|| {
                    ToolError::failed(
                        context.tool(),
                        format!("pod `{}` has no containers", input.pod),
                    )
                })?;
                if containers.len() > 1 {
                    notes.push(format!(
                        "the pod has containers {}; showing `{name}`",
                        containers.join(", ")
                    ));
                }
                name
            }
        };

        let params = LogParams {
            container: Some(container.clone()),
            tail_lines: Some(i64::from(tail_lines)),
            since_seconds: input.since_seconds.map(i64::from),
            previous: input.previous,
            ..LogParams::default()
        };
        let text = pods.logs(&input.pod, &params).await.map_err(|error| match error {
            kube::Error::Api(status) if status.code == 400 => {
                ToolError::failed(context.tool(), status.message.clone())
            }
            other => context.kube_error(other),
        })?;

        let (log, cut) = keep_newest(&text, self.max_bytes);
        let lines = log.lines().count();
        if let Some(cut) = &cut {
            notes.push(format!(
                "output truncated: kept the newest {} of {} bytes, dropping {} older lines; \
                 narrow it with tail_lines or since_seconds",
                log.len(),
                text.len(),
                cut.dropped_lines
            ));
        }
        let mut output = json!({
            "namespace": input.namespace,
            "pod": input.pod,
            "container": container,
            "previous": input.previous,
            "lines": lines,
            "truncated": cut.is_some(),
            "log": log,
        });
        if !notes.is_empty() {
            output["note"] = json!(notes.join("; "));
        }
        Ok(output)
    }
}

/// What [`keep_newest`] cut.
#[derive(Debug, PartialEq, Eq)]
struct Cut {
    dropped_lines: usize,
}

/// The end of `text` within `max_bytes`, starting at a line boundary, and what was cut.
fn keep_newest(text: &str, max_bytes: usize) -> (&str, Option<Cut>) {
    if text.len() <= max_bytes {
        return (text, None);
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // Start after the next newline, so no half line leads; a single huge line is kept cut.
    if let Some(newline) = text[start..].find('\n').filter(|n| start + n + 1 < text.len()) {
        start += newline + 1;
    }
    let dropped_lines = text[..start].lines().count();
    (&text[start..], Some(Cut { dropped_lines }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_newest_cuts_at_a_line_boundary() {
        let text = "one\ntwo\nthree\nfour\n";
        assert_eq!(keep_newest(text, 100), (text, None));
        assert_eq!(keep_newest(text, 12), ("three\nfour\n", Some(Cut { dropped_lines: 2 })));
        assert_eq!(keep_newest("0123456789", 4), ("6789", Some(Cut { dropped_lines: 1 })));
    }
}
