//! The plan commands: `plans` lists the stored plans, `approve` shows a plan's diff and applies
//! it, `reject` refuses it. Plans live in a file store, so `call` (which makes a plan) and
//! `approve` can be separate processes, run by separate people.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clu_core::plan::{FilePlanStore, PlanStore};
use clu_core::{Plan, Registry, ToolEnv};
use serde::Serialize;

use crate::{Format, exit, print};

/// The file store of the CLI, in `$CLU_STATE_DIR/plans` (or the XDG state directory).
pub(crate) fn store() -> anyhow::Result<Arc<dyn PlanStore>> {
    let dir = FilePlanStore::default_dir()
        .context("no state directory for plans: set CLU_STATE_DIR, XDG_STATE_HOME or HOME")?;
    Ok(Arc::new(FilePlanStore::new(dir)?))
}

/// Who approves from this shell: `--approver`, else `$USER`, else `cli`.
pub(crate) fn approver(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "cli".to_owned())
}

#[derive(Serialize)]
struct PlanRow<'a> {
    id: &'a str,
    tool: &'a str,
    summary: &'a str,
    state: &'static str,
    expires_at: String,
    digest: &'a str,
}

/// `clu-agent plans`.
pub(crate) fn list(format: Format, registry: &Registry, env: &ToolEnv) -> anyhow::Result<ExitCode> {
    let plans = match registry.plans(env) {
        Ok(plans) => plans,
        Err(error) => return Ok(failed(&error)),
    };
    let rows: Vec<PlanRow<'_>> = plans
        .iter()
        .map(|plan| PlanRow {
            id: &plan.id,
            tool: &plan.tool,
            summary: &plan.summary,
            state: plan.state.name(),
            expires_at: plan.expires_at.to_string(),
            digest: &plan.digest,
        })
        .collect();
    print(format, &rows, |w| {
        writeln!(w, "{:<22} {:<20} {:<9} {:<21} SUMMARY", "ID", "VERB", "STATE", "EXPIRES")?;
        for row in &rows {
            writeln!(
                w,
                "{:<22} {:<20} {:<9} {:<21} {}",
                row.id, row.tool, row.state, row.expires_at, row.summary
            )?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn failed(error: &clu_core::ToolError) -> ExitCode {
    eprintln!("error [{}]: {error}", error.code());
    ExitCode::from(exit::FAILED)
}

fn show(plan: &Plan) {
    // The diff goes to stderr, so stdout stays the machine-readable result.
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "plan {} ({}): {}", plan.id, plan.tool, plan.summary);
    let _ = writeln!(stderr, "digest {}", plan.digest);
    if plan.diff.is_empty() {
        let _ = writeln!(stderr, "(no change)");
    } else {
        let _ = write!(stderr, "{}", plan.diff);
    }
}

/// `clu-agent approve ID [--digest D]`: shows the diff, approves and applies the plan.
pub(crate) async fn approve(
    format: Format,
    registry: &Registry,
    env: &Arc<ToolEnv>,
    id: &str,
    digest: Option<String>,
    approver: &str,
) -> anyhow::Result<ExitCode> {
    let plan = match registry.plan(env, id) {
        Ok(plan) => plan,
        Err(error) => return Ok(failed(&error)),
    };
    show(&plan);
    // Without `--digest`, the operator approves the diff just shown.
    let digest = digest.unwrap_or_else(|| plan.digest.clone());
    let report = match registry.execute(env, id, &digest, approver).await {
        Ok(report) => report,
        Err(error) => return Ok(failed(&error)),
    };
    let value = report.to_value();
    print(format, &value, |w| {
        writeln!(w, "applied plan {} ({})", report.plan_id, report.tool)?;
        let verdict = if report.verification.passed { "passed" } else { "FAILED" };
        writeln!(w, "verification {verdict}: {}", report.verification.message)?;
        match (&report.undo_plan, &report.undo_error) {
            (Some(undo), _) => writeln!(
                w,
                "undo plan {} ({}): {} — approve with `clu-agent approve {}`",
                undo.id, undo.tool, undo.summary, undo.id
            )?,
            (None, Some(error)) => writeln!(w, "no undo plan: {error}")?,
            (None, None) => writeln!(w, "no undo plan: the change has nothing to take back")?,
        }
        Ok(())
    })?;
    Ok(if report.verification.passed { ExitCode::SUCCESS } else { ExitCode::from(exit::FAILED) })
}

/// `clu-agent reject ID`.
pub(crate) fn reject(
    format: Format,
    registry: &Registry,
    env: &ToolEnv,
    id: &str,
    approver: &str,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    match registry.reject(env, id, approver, reason) {
        Ok(plan) => {
            print(format, &plan, |w| Ok(writeln!(w, "rejected plan {}", plan.id)?))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Ok(failed(&error)),
    }
}
