//! `clu-agent doctor` and the preflight column of `clu-agent tools`: the checks live in
//! `clu_core::preflight`; this module only runs and prints them.

use std::sync::Arc;

use clu_core::preflight::{self, Preflight, PreflightOptions, Status};
use clu_core::{Registry, ToolEnv};
use serde::Serialize;

use crate::config::AgentConfig;

/// What `doctor` prints: preflight and the metering mode the agent would run under.
#[derive(Serialize)]
pub(crate) struct Report {
    #[serde(flatten)]
    pub(crate) preflight: Preflight,
    pub(crate) metering: String,
}

/// Runs preflight; `model` sends the one tiny Converse call of the Bedrock check.
pub(crate) async fn run(
    registry: &Registry,
    env: &Arc<ToolEnv>,
    config: &AgentConfig,
    model: bool,
) -> Report {
    let preflight = preflight::run_with(
        registry,
        env,
        &PreflightOptions { bedrock: model, ..PreflightOptions::default() },
    )
    .await;
    Report { preflight, metering: metering_mode(config) }
}

fn metering_mode(config: &AgentConfig) -> String {
    use clu_core::metering::MeteringConfig;
    match &config.metering {
        None => "not configured: `ask` runs unmetered, `serve` refuses to start".to_owned(),
        Some(MeteringConfig::Off) => "off: the agent runs unmetered".to_owned(),
        Some(MeteringConfig::Marketplace { product_code, .. }) => {
            format!("marketplace: RegisterUsage for product {product_code} at start")
        }
        Some(other) => format!("{other:?}"),
    }
}

fn status(status: Status) -> &'static str {
    match status {
        Status::Passed => "passed",
        Status::Failed => "FAILED",
        Status::NotChecked => "not checked",
    }
}

/// The report as the terminal table shows it.
pub(crate) fn table(report: &Report, w: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let preflight = &report.preflight;
    if let Some(principal) = &preflight.principal {
        writeln!(w, "{:<12} {principal}", "principal")?;
    }
    for (name, check) in [
        ("kubernetes", &preflight.kubernetes),
        ("iam", &preflight.iam),
        ("bedrock", &preflight.bedrock),
    ] {
        writeln!(w, "{name:<12} {:<12} {}", status(check.status), check.detail)?;
    }
    writeln!(w, "{:<12} {}", "metering", report.metering)?;
    let failed: Vec<_> = preflight.tools.iter().filter(|t| !t.passed).collect();
    if failed.is_empty() {
        writeln!(w, "tools        all {} passed", preflight.tools.len())?;
    } else {
        writeln!(
            w,
            "tools        {} of {} held back from the model:",
            failed.len(),
            preflight.tools.len()
        )?;
        for tool in failed {
            writeln!(w, "  {:<32} {}", tool.tool, tool.reasons.join("; "))?;
        }
    }
    Ok(())
}
