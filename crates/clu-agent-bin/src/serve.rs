//! `clu-agent serve`: builds the service's configuration from the agent's and maps how the
//! service ended to an exit code. The service itself lives in `clu-server`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clu_core::Registry;
use clu_core::metering::Backoff;
use clu_server::{ServeError, ServiceConfig, ToolScan};

use crate::config::AgentConfig;
use crate::exit;

/// JSON logs on stdout, one object per line, audit events included: what a log pipeline in the
/// cluster collects. `RUST_LOG` overrides the level, `info` by default.
pub(crate) fn init_json_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_writer(std::io::stdout)
        .init();
}

/// Runs the service until SIGTERM or SIGINT.
pub(crate) async fn run(
    config: AgentConfig,
    registry: Arc<Registry>,
    listen: Option<SocketAddr>,
    region: Option<String>,
) -> anyhow::Result<ExitCode> {
    // An unmetered service must be chosen, never fallen into by a missing setting.
    let metering = config.metering.clone().context(
        "`serve` needs an explicit `metering` setting: `metering.mode: marketplace` with \
         `productCode` and `publicKeyVersion`, or `metering.mode: off`",
    )?;
    let mut settings = config.serve.clone().context(
        "`serve` needs a `serve` section with `serve.auth` (`mode: bearerToken` with \
         `tokenFile`, or `mode: tokenReview` with the allowed callers)",
    )?;
    if let Some(listen) = listen {
        settings.listen = listen;
    }

    let env = Arc::new(crate::environment(&config, region.as_deref()).await);
    let scans: Vec<Arc<dyn clu_server::ScanSource>> =
        vec![Arc::new(ToolScan::core_findings(settings.scans.namespace.as_deref()))];
    let listener = match clu_server::bind(settings.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(code = error.code(), error = %error, "cannot start");
            eprintln!("error [{}]: {:#}", error.code(), anyhow::Error::from(error));
            return Ok(ExitCode::from(exit::FAILED));
        }
    };
    let service = ServiceConfig {
        registry,
        env,
        settings,
        model: config.model.clone(),
        limits: config.limits.clone(),
        metering,
        backoff: Backoff::default(),
        scans,
        identity: clu_server::holder_identity(),
    };
    match clu_server::serve(service, listener, clu_server::shutdown_signal()).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            let code = match &error {
                ServeError::Metering(metering) => metering.exit_code(),
                ServeError::Settings(_) | ServeError::Model(_) => exit::USAGE,
                _ => exit::FAILED,
            };
            eprintln!("error [{}]: {:#}", error.code(), anyhow::Error::from(error));
            Ok(ExitCode::from(code))
        }
    }
}
