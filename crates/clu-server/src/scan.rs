//! Scheduled scans: sources of findings that run on an interval, on the replica that holds the
//! scan Lease, and the latest result of each for `GET /v1/findings`.
//!
//! A source is anything implementing [`ScanSource`]; most are one tool call through the
//! registry ([`ToolScan`]), so the guard, redaction and audit apply to scans as to any call.
//! The Core findings are [`ToolScan::core_findings`]; a Cloud savings scan is another
//! [`ToolScan`] of its tool, added to the list the service is built with.
//!
//! With a cluster, the leader also publishes every report to a ConfigMap in the service's
//! namespace (one key per source), and every replica answers `GET /v1/findings` from it, so
//! whichever replica the Service routes to answers the latest scan, and a new leader starts
//! from what the last one found.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clu_core::{Registry, ToolEnv, ToolError};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// When the scan started, RFC 3339.
    pub scanned_at: String,
    /// Its wall time in milliseconds.
    pub duration_ms: u64,
    /// `ok`, or the error code.
    pub outcome: String,
    /// The result, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error message, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The replica that ran the scan (its Lease holder identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_by: Option<String>,
}

/// The most a report may weigh in the shared ConfigMap; the API server refuses objects over
/// 1 MiB, and the ConfigMap holds every source.
pub const SHARED_REPORT_LIMIT: usize = 256 * 1024;

/// Where the leader publishes its reports: a ConfigMap, one data key per source.
pub(crate) struct SharedFindings {
    api: Api<ConfigMap>,
    name: String,
}

impl SharedFindings {
    /// The ConfigMap `name` in `namespace`.
    pub(crate) fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self { api: Api::namespaced(client, namespace), name: name.to_owned() }
    }

    /// Writes `report` under `source`'s key, creating the ConfigMap the first time. A report
    /// too large to share is published without its result, saying which replica holds it.
    async fn publish(&self, source: &str, report: &ScanReport) -> Result<(), kube::Error> {
        let mut text = serde_json::to_string(report).unwrap_or_default();
        if text.len() > SHARED_REPORT_LIMIT {
            let bytes = text.len();
            let mut slim = report.clone();
            slim.result = None;
            slim.error = Some(format!(
                "the result ({bytes} bytes) is over the {SHARED_REPORT_LIMIT} bytes a shared \
                 report may hold; ask the replica that scanned it ({})",
                report.scanned_by.as_deref().unwrap_or("unknown")
            ));
            text = serde_json::to_string(&slim).unwrap_or_default();
        }
        let key = data_key(source);
        let patch = json!({ "data": { key.clone(): text } });
        match self.api.patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Err(kube::Error::Api(status)) if status.code == 404 => {
                let map = ConfigMap {
                    metadata: kube::api::ObjectMeta {
                        name: Some(self.name.clone()),
                        labels: Some(BTreeMap::from([(
                            "app.kubernetes.io/name".to_owned(),
                            "clu-ops-agent".to_owned(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(key, text)])),
                    ..Default::default()
                };
                match self.api.create(&PostParams::default(), &map).await {
                    // Another replica created it in between: write the key into theirs.
                    Err(kube::Error::Api(status)) if status.code == 409 => self
                        .api
                        .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map(drop),
                    other => other.map(drop),
                }
            }
            other => other.map(drop),
        }
    }

    /// Every report in the ConfigMap; none when it does not exist yet. A key that does not
    /// parse is skipped with a warning rather than failing the answer.
    async fn read(&self) -> Result<BTreeMap<String, ScanReport>, kube::Error> {
        let Some(map) = self.api.get_opt(&self.name).await? else {
            return Ok(BTreeMap::new());
        };
        let mut reports = BTreeMap::new();
        for (key, text) in map.data.unwrap_or_default() {
            let Some(source) = key.strip_suffix(".json") else { continue };
            match serde_json::from_str::<ScanReport>(&text) {
                Ok(report) => {
                    reports.insert(source.to_owned(), report);
                }
                Err(error) => {
                    tracing::warn!(key = %key, %error, "a shared scan report does not parse");
                }
            }
        }
        Ok(reports)
    }
}

/// The ConfigMap key of `source`: its name with every character a key may not hold replaced,
/// and `.json`.
fn data_key(source: &str) -> String {
    let name: String = source
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    format!("{name}.json")
}

/// The latest report of every source: what this replica scanned, and, with a cluster, what
/// the leader published.
#[derive(Default)]
pub(crate) struct FindingsStore {
    reports: RwLock<BTreeMap<String, ScanReport>>,
    shared: Option<SharedFindings>,
}

/// What `GET /v1/findings` answers from.
pub(crate) struct Latest {
    /// The newest report of every source.
    pub(crate) reports: BTreeMap<String, ScanReport>,
    /// Why the shared reports could not be read, when they could not; the answer then holds
    /// only this replica's own.
    pub(crate) shared_error: Option<String>,
}

impl FindingsStore {
    /// A store that publishes to and reads from `shared`.
    pub(crate) fn shared(shared: SharedFindings) -> Self {
        Self { reports: RwLock::default(), shared: Some(shared) }
    }

    async fn record(&self, source: &str, report: ScanReport) {
        // Kept here before it is published: a reader in between would otherwise find the
        // shared copy newer than this replica's previous report, and answer it, which lacks
        // the result when the result is too large to share.
        self.reports
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(source.to_owned(), report.clone());
        if let Some(shared) = &self.shared
            && let Err(error) = shared.publish(source, &report).await
        {
            tracing::warn!(source, %error, "cannot publish the scan to the shared ConfigMap");
        }
    }

    /// Every source's newest report, this replica's or the shared one, whichever is later.
    pub(crate) async fn latest(&self) -> Latest {
        let mut reports =
            self.reports.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut shared_error = None;
        if let Some(shared) = &self.shared {
            match shared.read().await {
                Ok(published) => {
                    for (source, report) in published {
                        let newer = reports
                            .get(&source)
                            .is_none_or(|own| is_later(&report.scanned_at, &own.scanned_at));
                        if newer {
                            reports.insert(source, report);
                        }
                    }
                }
                Err(error) => shared_error = Some(error.to_string()),
            }
        }
        Latest { reports, shared_error }
    }
}

/// Whether RFC 3339 time `a` is after `b`; a time that does not parse is never later.
fn is_later(a: &str, b: &str) -> bool {
    match (a.parse::<Timestamp>(), b.parse::<Timestamp>()) {
        (Ok(a), Ok(b)) => a > b,
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

/// Runs every source each `interval` while `leading` says this replica holds the Lease, until
/// `stop` is cancelled; each report is marked as scanned by `identity`.
pub(crate) async fn run_scans(
    context: ScanContext,
    sources: Vec<Arc<dyn ScanSource>>,
    store: Arc<FindingsStore>,
    mut leading: watch::Receiver<bool>,
    interval: Duration,
    identity: String,
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
            let mut report = scan_once(&context, source.as_ref()).await;
            report.scanned_by = Some(identity.clone());
            context.metrics.scan(source.name(), &report.outcome);
            store.record(source.name(), report).await;
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
            scanned_by: None,
        },
        Err(error) => {
            tracing::warn!(source = source.name(), code = error.code(), %error, "scan failed");
            ScanReport {
                scanned_at,
                duration_ms,
                outcome: error.code().into(),
                result: None,
                error: Some(error.to_string()),
                scanned_by: None,
            }
        }
    }
}
