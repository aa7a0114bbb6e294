//! Scheduled scans: sources of findings that run on an interval, on the replica that holds the
//! scan Lease, and the latest result of each for `GET /v1/findings`.
//!
//! A source is anything implementing [`ScanSource`]; most are one tool call through the
//! registry ([`ToolScan`]), so the guard, redaction and audit apply to scans as to any call.
//! The Core findings are [`ToolScan::core_findings`]; a Cloud savings scan is another
//! [`ToolScan`] of its tool, added to the list the service is built with.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clu_core::{Registry, ToolEnv, ToolError};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What a scan runs with: the registry and environment of the service.
pub struct ScanContext {
    pub(crate) registry: Arc<Registry>,
    pub(crate) env: Arc<ToolEnv>,
    pub(crate) metrics: Arc<Metrics>,
}

impl ScanContext {
    /// Calls `tool` through the registry, so the call is guarded, redacted, audited and
    /// counted in the metrics like any other.
    pub async fn call_tool(&self, tool: &str, input: Value) -> Result<Value, ToolError> {
        let outcome = self.registry.call(&self.env, tool, input).await;
        self.metrics.tool_call(
            &outcome.audit.tool,
            &outcome.audit.outcome,
            outcome.audit.duration_ms,
        );
        outcome.result
    }
}

/// One source of scheduled findings.
#[async_trait]
pub trait ScanSource: Send + Sync + 'static {
    /// A stable name, the key of its result in `GET /v1/findings`.
    fn name(&self) -> &str;

    /// Runs one scan.
    async fn scan(&self, context: &ScanContext) -> Result<Value, ToolError>;
}

/// A scan that is one call of a registry tool with a fixed input.
pub struct ToolScan {
    name: String,
    tool: String,
    input: Value,
}

impl ToolScan {
    /// A source named `name` calling `tool` with `input`.
    pub fn new(name: impl Into<String>, tool: impl Into<String>, input: Value) -> Self {
        Self { name: name.into(), tool: tool.into(), input }
    }

    /// The deterministic findings of the cluster (`k8s_findings`), of one namespace or all.
    pub fn core_findings(namespace: Option<&str>) -> Self {
        Self::new("findings", "k8s_findings", json!({ "namespace": namespace }))
    }
}

#[async_trait]
impl ScanSource for ToolScan {
    fn name(&self) -> &str {
        &self.name
    }

    async fn scan(&self, context: &ScanContext) -> Result<Value, ToolError> {
        context.call_tool(&self.tool, self.input.clone()).await
    }
}

/// The latest result of one source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScanReport {
    /// When the scan started, RFC 3339.
    pub scanned_at: String,
    /// Its wall time in milliseconds.
    pub duration_ms: u64,
    /// `ok`, or the error code.
    pub outcome: String,
    /// The result, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error message, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The latest report of every source.
///
/// FIXME(findings-shared): a follower answers only what it scanned while it led; the leader
/// should publish each round where every replica reads it (a ConfigMap in the release
/// namespace), so any replica behind the Service answers the latest scan.
#[derive(Default)]
pub(crate) struct FindingsStore {
    reports: RwLock<BTreeMap<String, ScanReport>>,
}

impl FindingsStore {
    fn record(&self, source: &str, report: ScanReport) {
        self.reports
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(source.to_owned(), report);
    }

    /// Every source's latest report.
    pub(crate) fn latest(&self) -> BTreeMap<String, ScanReport> {
        self.reports.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Runs every source each `interval` while `leading` says this replica holds the Lease, until
/// `stop` is cancelled.
pub(crate) async fn run_scans(
    context: ScanContext,
    sources: Vec<Arc<dyn ScanSource>>,
    store: Arc<FindingsStore>,
    mut leading: watch::Receiver<bool>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        // Waiting for leadership, not polling, keeps a follower idle.
        let became_leader = tokio::select! {
            () = stop.cancelled() => return,
            changed = leading.wait_for(|leading| *leading) => changed.is_ok(),
        };
        if !became_leader {
            return;
        }
        for source in &sources {
            let report = scan_once(&context, source.as_ref()).await;
            context.metrics.scan(source.name(), &report.outcome);
            store.record(source.name(), report);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

async fn scan_once(context: &ScanContext, source: &dyn ScanSource) -> ScanReport {
    let scanned_at = Timestamp::now().to_string();
    let started = Instant::now();
    let result = source.scan(context).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(value) => ScanReport {
            scanned_at,
            duration_ms,
            outcome: "ok".into(),
            result: Some(value),
            error: None,
        },
        Err(error) => {
            tracing::warn!(source = source.name(), code = error.code(), %error, "scan failed");
            ScanReport {
                scanned_at,
                duration_ms,
                outcome: error.code().into(),
                result: None,
                error: Some(error.to_string()),
            }
        }
    }
}
