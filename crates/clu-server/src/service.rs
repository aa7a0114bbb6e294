//! The service as a whole: what it is built from, and [`serve`], which starts it, passes the
//! readiness gates, runs the elected scans and shuts down gracefully.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use clu_core::agent::{AgentLoop, Limits, ModelSettings};
use clu_core::metering::{Backoff, MeteringConfig};
use clu_core::preflight::{self, Preflight, PreflightOptions};
use clu_core::{Registry, ToolEnv};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::error::{Result, ServeError};
use crate::lease::LeaderElector;
use crate::metrics::Metrics;
use crate::readiness::{Gate, Readiness};
use crate::scan::{FindingsStore, ScanContext, ScanSource, SharedFindings};
use crate::settings::{PreflightSettings, ServeSettings};

/// The readiness gate of Marketplace metering.
pub const METERING_GATE: &str = "metering";
/// The readiness gate of the registry's declaration checks.
pub const REGISTRY_GATE: &str = "registry";
/// The readiness gate of preflight, passed once it has run (or when it is switched off): a
/// tool that fails it is held back, which does not keep the rest of the service unready.
pub const PREFLIGHT_GATE: &str = "preflight";

/// Where preflight stands in the service.
#[derive(Clone, Debug)]
pub(crate) enum PreflightState {
    /// Not run yet.
    Pending,
    /// Switched off by `serve.preflight.enabled: false`.
    Disabled,
    /// Ran; the report of the latest run, and when it finished.
    Ran { report: Arc<Preflight>, at: String },
}

impl PreflightState {
    /// Why the latest run holds back `name`, when it does.
    fn holds_back(&self, name: &str) -> Option<&[String]> {
        match self {
            Self::Ran { report, .. } => report
                .tool(name)
                .filter(|check| !check.passed)
                .map(|check| check.reasons.as_slice()),
            Self::Pending | Self::Disabled => None,
        }
    }
}

/// Everything the service is built from.
pub struct ServiceConfig {
    /// The tools of the enabled tiers.
    pub registry: Arc<Registry>,
    /// AWS, the cluster and where the agent runs.
    pub env: Arc<ToolEnv>,
    /// The `serve:` settings.
    pub settings: ServeSettings,
    /// The model for `/v1/ask`; without one, `/v1/ask` answers 503 and the rest works.
    pub model: Option<ModelSettings>,
    /// The limits of one investigation.
    pub limits: Limits,
    /// Metering, which the service requires to be explicit.
    pub metering: MeteringConfig,
    /// How metering retries at start.
    pub backoff: Backoff,
    /// The scheduled scan sources.
    pub scans: Vec<Arc<dyn ScanSource>>,
    /// This replica's Lease holder identity, usually [`crate::holder_identity`].
    pub identity: String,
}

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) registry: Arc<Registry>,
    pub(crate) env: Arc<ToolEnv>,
    pub(crate) model: Option<ModelSettings>,
    pub(crate) limits: Limits,
    pub(crate) auth: Authenticator,
    pub(crate) limiter: Arc<Semaphore>,
    pub(crate) max_in_flight: usize,
    pub(crate) retry_after: Duration,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) readiness: Readiness,
    pub(crate) findings: Arc<FindingsStore>,
    pub(crate) preflight: RwLock<PreflightState>,
    pub(crate) leading: watch::Receiver<bool>,
    pub(crate) identity: String,
}

impl Shared {
    /// Whether the tool `name` is offered to callers: offered to the model and, once preflight
    /// ran, passed it.
    pub(crate) fn is_offered(&self, name: &str) -> bool {
        let to_model = self.registry.get(name).is_some_and(|tool| tool.spec().offered_to_model);
        to_model && self.preflight().holds_back(name).is_none()
    }

    /// Where preflight stands.
    pub(crate) fn preflight(&self) -> PreflightState {
        self.preflight.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Why preflight holds back `name`, when its latest run did.
    pub(crate) fn preflight_reasons(&self, name: &str) -> Option<Vec<String>> {
        self.preflight().holds_back(name).map(<[String]>::to_vec)
    }

    /// Offers what both the registry and `report` allow, and keeps the report. A Bedrock check
    /// skipped on a re-run keeps the answer of the run that made it.
    fn apply_preflight(&self, mut report: Preflight) {
        if report.bedrock.status == preflight::Status::NotChecked
            && let PreflightState::Ran { report: previous, .. } = self.preflight()
        {
            report.bedrock = previous.bedrock.clone();
        }
        for check in report.tools.iter().filter(|check| !check.passed) {
            if self.registry.get(&check.tool).is_some_and(|tool| tool.spec().offered_to_model) {
                tracing::warn!(tool = %check.tool, reasons = ?check.reasons, "preflight holds the tool back");
            }
        }
        let report = Arc::new(report);
        *self.preflight.write().unwrap_or_else(PoisonError::into_inner) = PreflightState::Ran {
            report: report.clone(),
            at: k8s_openapi::jiff::Timestamp::now().to_string(),
        };
        tracing::info!(
            offered = self.offered_tools().len(),
            kubernetes = %report.kubernetes.detail,
            iam = %report.iam.detail,
            bedrock = %report.bedrock.detail,
            "preflight done"
        );
    }

    /// The offered tools, sorted.
    pub(crate) fn offered_tools(&self) -> BTreeSet<String> {
        let state = self.preflight();
        self.registry
            .offered_to_model()
            .map(|tool| tool.spec().name)
            .filter(|name| state.holds_back(name).is_none())
            .map(str::to_owned)
            .collect()
    }

    /// An agent loop over the offered tools, when a model is configured.
    pub(crate) fn agent(&self) -> Option<AgentLoop> {
        let settings = self.model.clone()?;
        let offered = self.offered_tools();
        AgentLoop::new(self.registry.clone(), self.env.clone(), settings, self.limits.clone())
            .ok()
            .map(|agent| agent.restrict_tools(offered.iter().map(String::as_str)))
    }
}

/// Binds `address`, naming it when that fails.
pub async fn bind(address: std::net::SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address: address.to_string(), source })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting connections, lets
/// in-flight requests finish for the grace period, releases the scan Lease and returns.
///
/// Returns an error at once when the configuration cannot run (a model outside the allowed
/// families, an unreadable token file), and after start when metering refuses the agent: the
/// caller exits with that error's exit code.
pub async fn serve(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let ServiceConfig {
        registry,
        env,
        settings,
        model,
        limits,
        metering,
        backoff,
        scans,
        identity,
    } = config;

    if let Some(model) = &model {
        model.allowed_families.check(&model.id).map_err(ServeError::Model)?;
        AgentLoop::new(registry.clone(), env.clone(), model.clone(), limits.clone())
            .map_err(|error| ServeError::Settings(format!("`model`: {error}")))?;
    }
    let auth = Authenticator::new(&settings.auth, env.kube.clone())?;
    let metrics = Arc::new(Metrics::new());

    let stop = CancellationToken::new();
    let (leading, elector) = match env.kube.clone() {
        Some(client) => {
            let elector = LeaderElector::new(client, &settings.lease, identity.clone());
            (elector.subscribe(), Some(elector))
        }
        // Without a cluster there is no Lease to share and no replica to share it with.
        None => (watch::Sender::new(true).subscribe(), None),
    };
    let shared = Arc::new(Shared {
        registry: registry.clone(),
        env: env.clone(),
        model,
        limits,
        auth,
        limiter: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
        max_in_flight: settings.max_in_flight.max(1),
        retry_after: settings.retry_after,
        metrics: metrics.clone(),
        readiness: Readiness::new(&[METERING_GATE, REGISTRY_GATE, PREFLIGHT_GATE]),
        findings: Arc::new(match env.kube.clone() {
            Some(client) => FindingsStore::shared(SharedFindings::new(
                client,
                &settings.lease.namespace,
                &settings.scans.config_map,
            )),
            None => FindingsStore::default(),
        }),
        preflight: RwLock::new(PreflightState::Pending),

        leading: leading.clone(),
        identity,
    });

    let local = listener.local_addr().map_err(ServeError::Serve)?;
    let drain = CancellationToken::new();
    let mcp_stop = CancellationToken::new();
    let app = crate::api::router(shared.clone(), &settings, mcp_stop.clone());
    let server = tokio::spawn({
        let drain = drain.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { drain.cancelled().await })
                .await
        }
    });
    tracing::info!(address = %local, "serving");

    let (fatal_sender, mut fatal) = tokio::sync::mpsc::channel::<ServeError>(1);
    let startup = tokio::spawn({
        let shared = shared.clone();
        let checks = settings.preflight.clone();
        async move {
            if let Err(error) = start_up(&shared, &metering, &backoff, &checks).await {
                let _ = fatal_sender.send(error).await;
                return;
            }
            refresh_preflight(&shared, &checks).await;
        }
    });

    let elector_task = elector.map(|elector| tokio::spawn(elector.run(stop.clone())));
    let leader_gauge = tokio::spawn({
        let mut leading = leading.clone();
        let metrics = metrics.clone();
        async move {
            loop {
                metrics.set_leader(*leading.borrow_and_update());
                if leading.changed().await.is_err() {
                    return;
                }
            }
        }
    });
    let scanner = tokio::spawn(crate::scan::run_scans(
        ScanContext { registry, env, metrics },
        scans,
        shared.findings.clone(),
        leading,
        settings.scans.interval,
        shared.identity.clone(),
        stop.clone(),
    ));

    let outcome = tokio::select! {
        () = shutdown => Ok(()),
        Some(error) = fatal.recv() => {
            tracing::error!(code = error.code(), error = %error, "stopping");
            Err(error)
        }
    };

    // Unready first, so the Service stops routing new requests here while the rest finishes.
    shared.readiness.drain();
    startup.abort();
    stop.cancel();
    drain.cancel();
    match tokio::time::timeout(settings.shutdown_grace, server).await {
        Ok(Ok(Ok(()))) => tracing::info!("in-flight requests finished"),
        Ok(Ok(Err(error))) => tracing::error!(%error, "the HTTP server failed"),
        Ok(Err(error)) => tracing::error!(%error, "the HTTP server task failed"),
        Err(_) => tracing::warn!(
            grace_secs = settings.shutdown_grace.as_secs_f64(),
            "requests still running after the grace period were cut off"
        ),
    }
    mcp_stop.cancel();
    if let Some(task) = elector_task {
        // Releasing the Lease is one request; a hung API server must not hold the exit.
        let _ = tokio::time::timeout(settings.lease.renew_deadline, task).await;
    }
    scanner.abort();
    leader_gauge.abort();
    tracing::info!("stopped");
    outcome
}

/// Passes the readiness gates in order: metering first, as the Marketplace contract wants it
/// before anything else, then the registry's declaration checks, then preflight.
async fn start_up(
    shared: &Shared,
    metering: &MeteringConfig,
    backoff: &Backoff,
    checks: &PreflightSettings,
) -> Result<()> {
    match clu_core::metering::register_at_start(&shared.registry, &shared.env, metering, backoff)
        .await
    {
        Ok(status) => {
            tracing::info!(?status, "metering done");
            shared.readiness.set(METERING_GATE, Gate::Passed);
        }
        Err(error) => {
            shared
                .readiness
                .set(METERING_GATE, Gate::Failed(format!("[{}] {error}", error.code())));
            return Err(error.into());
        }
    }

    let problems =
        clu_core::checks::check_registry(&shared.registry, clu_policy::Catalog::embedded());
    if problems.is_empty() {
        shared.readiness.set(REGISTRY_GATE, Gate::Passed);
    } else {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        tracing::error!(problems = ?text, "the registry breaks the declaration rules");
        shared.readiness.set(REGISTRY_GATE, Gate::Failed(text.join("; ")));
    }

    if checks.enabled {
        let options = PreflightOptions {
            bedrock: checks.bedrock && shared.model.is_some(),
            timeout: checks.timeout,
        };
        let report = preflight::run_with(&shared.registry, &shared.env, &options).await;
        shared.apply_preflight(report);
    } else {
        tracing::warn!("preflight is off: every tool is offered without checking its permissions");
        *shared.preflight.write().unwrap_or_else(PoisonError::into_inner) =
            PreflightState::Disabled;
    }
    shared.readiness.set(PREFLIGHT_GATE, Gate::Passed);

    Ok(())
}

/// Runs preflight again every `checks.interval`, without the Bedrock call, so a permission the
/// operator grants or takes after start changes what is offered. Runs until aborted.
async fn refresh_preflight(shared: &Shared, checks: &PreflightSettings) {
    if !checks.enabled || checks.interval.is_zero() {
        return;
    }
    let options = PreflightOptions { bedrock: false, timeout: checks.timeout };
    loop {
        tokio::time::sleep(checks.interval).await;
        let report = preflight::run_with(&shared.registry, &shared.env, &options).await;
        shared.apply_preflight(report);
    }
}
