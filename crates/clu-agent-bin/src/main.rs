//! The `clu-agent` binary: flags, configuration, wiring and exit codes. Everything else lives
//! in the tier libraries.

mod config;
mod doctor;
mod plans;
mod serve;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use clu_core::agent::{AgentEvent, AgentLoop};
use clu_core::derive::tier_policy;
use clu_core::{Tier, ToolEnv};
use clu_policy::{ArnContext, Catalog, PolicyDocument};
use serde::Serialize;

use config::AgentConfig;

/// Exit codes, documented in docs/errors.md.
mod exit {
    /// A tool call or an investigation failed.
    pub(crate) const FAILED: u8 = 1;
    /// Bad flags, configuration or input.
    pub(crate) const USAGE: u8 = 2;
    /// An investigation ended without an answer (a limit, throttling, a model error).
    pub(crate) const NO_ANSWER: u8 = 3;
    /// `doctor` found a check that failed.
    pub(crate) const PREFLIGHT_FAILED: u8 = 4;
}

#[derive(Parser)]
#[command(name = "clu-agent", version, about = "Clu, the operations agent for Amazon EKS")]
struct Cli {
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// The agent's configuration file (YAML).
    #[arg(long, global = true, env = "CLU_CONFIG")]
    config: Option<PathBuf>,
    /// The AWS region; the standard AWS environment otherwise.
    #[arg(long, global = true)]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Yaml,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// List every tool of the enabled tiers with its tier, risk, permissions and preflight.
    Tools {
        /// Do not run preflight (no request to the cluster or AWS).
        #[arg(long)]
        offline: bool,
    },
    /// Check that the agent can work: RBAC, IAM, Bedrock, metering; tools that fail are
    /// held back from the model.
    Doctor {
        /// Skip the one tiny Bedrock call of the model check.
        #[arg(long)]
        no_model: bool,
    },
    /// Print the IAM documents of the tiers this binary was built with.
    Policy {
        /// Only this tier: core, cloud or coreplus.
        #[arg(long)]
        tier: Option<String>,
        /// Render resources for this account id.
        #[arg(long)]
        account: Option<String>,
        /// Render resources for this EKS cluster.
        #[arg(long)]
        cluster: Option<String>,
        #[command(subcommand)]
        lint: Option<PolicyLint>,
    },
    /// Run one tool directly, without a model, and print its JSON result.
    Call {
        /// The tool.
        tool: String,
        /// Its input as JSON.
        #[arg(long, default_value = "{}")]
        input: String,
    },
    /// Report the deterministic findings of the cluster, without a model.
    Scan {
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Investigate a question with the model, streaming tool steps and the answer.
    Ask {
        /// The question.
        question: String,
    },
    /// Run the in-cluster service: the HTTP API, MCP, scheduled scans (see docs/http-api.md).
    Serve {
        /// The address to listen on, overriding `serve.listen`.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    // The plan commands of write verbs; their logic is in plans.rs.
    /// List the stored plans of write verbs with their state and expiry.
    Plans,
    /// Show a plan's diff, approve it and apply it; prints the verification and the undo plan.
    Approve {
        /// The plan's id.
        id: String,
        /// The digest the approval binds; the shown plan's when left out.
        #[arg(long)]
        digest: Option<String>,
        /// Who approves; `$USER` when left out.
        #[arg(long)]
        approver: Option<String>,
    },
    /// Reject a plan, which can then never be applied.
    Reject {
        /// The plan's id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Who rejects; `$USER` when left out.
        #[arg(long)]
        approver: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyLint {
    /// Lint IAM policy JSON files.
    Lint {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve { .. }) {
        serve::init_json_logs();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = AgentConfig::load(cli.config.as_deref())?;
    let registry = Arc::new(config::registry(&config)?);
    match cli.command {
        Command::Tools { offline } => {
            let preflight = if offline {
                None
            } else {
                let env = Arc::new(environment(&config, cli.region.as_deref()).await);
                Some(doctor::run(&registry, &env, &config, false).await.preflight)
            };
            let rows: Vec<ToolRow> = registry
                .tools()
                .map(|tool| {
                    let check = preflight.as_ref().and_then(|p| p.tool(tool.spec().name));
                    ToolRow::of(tool.spec(), check)
                })
                .collect();
            print(cli.output, &rows, |w| {
                for row in &rows {
                    let preflight = match &row.preflight {
                        None => "-".to_owned(),
                        Some(check) if check.passed => "ok".to_owned(),
                        Some(check) => format!("held back: {}", check.reasons.join("; ")),
                    };
                    writeln!(
                        w,
                        "{:<32} {:<9} {:<6} {:<40} {}",
                        row.name,
                        row.tier,
                        row.risk,
                        row.actions.join(" "),
                        preflight
                    )?;
                }
                Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { no_model } => {
            let env = Arc::new(environment(&config, cli.region.as_deref()).await);
            let report = doctor::run(&registry, &env, &config, !no_model).await;
            print(cli.output, &report, |w| doctor::table(&report, w))?;
            Ok(if report.preflight.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::PREFLIGHT_FAILED)
            })
        }
        Command::Policy { lint: Some(PolicyLint::Lint { files }), .. } => Ok(lint(&files)),
        Command::Policy { tier, account, cluster, lint: None } => {
            let context = ArnContext {
                region: cli.region.clone().unwrap_or_else(|| "*".into()),
                account: account.unwrap_or_else(|| "*".into()),
                cluster: cluster.unwrap_or_else(|| "*".into()),
                ..ArnContext::default()
            };
            let tiers: Vec<Tier> = match tier {
                Some(name) => {
                    let tier = Tier::parse(&name).with_context(|| {
                        format!("unknown tier `{name}`; the tiers are core, cloud and coreplus")
                    })?;
                    if !config::compiled_tiers().contains(&tier) {
                        bail!("this clu-agent was built without the {tier} tier");
                    }
                    vec![tier]
                }
                None => config::compiled_tiers(),
            };
            let compiled = config::compiled_registry(&config)?;
            let mut documents: Vec<(Tier, PolicyDocument)> = Vec::new();
            for tier in tiers {
                let policy = tier_policy(&compiled, tier, &context)?;
                documents.extend(policy.documents.into_iter().map(|d| (tier, d)));
            }
            let values: Vec<serde_json::Value> =
                documents.iter().map(|(_, d)| d.to_value()).collect();
            print(cli.output, &values, |w| {
                for (tier, document) in &documents {
                    writeln!(w, "# {tier}")?;
                    write!(w, "{}", document.to_pretty_json())?;
                }
                Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Call { tool, input } => {
            let input: serde_json::Value =
                serde_json::from_str(&input).context("`--input` is not valid JSON")?;
            let env = Arc::new(plan_environment(&config, cli.region.as_deref()).await?);
            let outcome = registry.call(&env, &tool, input).await;
            match outcome.result {
                Ok(value) => {
                    print(cli.output, &value, |w| {
                        Ok(writeln!(w, "{}", serde_json::to_string_pretty(&value)?)?)
                    })?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("error [{}]: {error}", error.code());
                    Ok(ExitCode::from(exit::FAILED))
                }
            }
        }
        Command::Scan { namespace } => {
            let env = Arc::new(environment(&config, cli.region.as_deref()).await);
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let step = |what: &str| {
                if progress {
                    eprintln!("scanning {what}...");
                }
            };
            step("the cluster");
            let input = serde_json::json!({ "namespace": namespace });
            let outcome = registry.call(&env, "k8s_findings", input).await;
            let value = match outcome.result {
                Ok(value) => value,
                Err(error) => {
                    eprintln!("error [{}]: {error}", error.code());
                    return Ok(ExitCode::from(exit::FAILED));
                }
            };
            // With the Cloud tier, the savings detectors run too; a failure there is reported
            // beside the cluster's findings rather than hiding them.
            let savings = if registry.get("savings_scan").is_some() {
                step("the account for savings");
                Some(
                    match registry.call(&env, "savings_scan", serde_json::json!({})).await.result {
                        Ok(report) => report,
                        Err(error) => {
                            serde_json::json!({ "error": error.to_string(), "code": error.code() })
                        }
                    },
                )
            } else {
                None
            };
            let report = serde_json::json!({ "cluster": value, "savings": savings });
            print(cli.output, &report, |w| {
                for finding in value["findings"].as_array().into_iter().flatten() {
                    let object = &finding["object"];
                    let namespace =
                        object["namespace"].as_str().map(|n| format!("{n}/")).unwrap_or_default();
                    writeln!(
                        w,
                        "{:<9} {:<22} {}{}/{}",
                        finding["severity"].as_str().unwrap_or_default(),
                        finding["code"].as_str().unwrap_or_default(),
                        namespace,
                        object["kind"].as_str().unwrap_or_default(),
                        object["name"].as_str().unwrap_or_default()
                    )?;
                    for evidence in finding["evidence"].as_array().into_iter().flatten() {
                        writeln!(w, "          {}", evidence.as_str().unwrap_or_default())?;
                    }
                }
                if let Some(savings) = &savings {
                    if let Some(error) = savings["error"].as_str() {
                        writeln!(w, "savings   not scanned: {error}")?;
                    }
                    for finding in savings["findings"].as_array().into_iter().flatten() {
                        writeln!(
                            w,
                            "savings   {:>9} /month  {:<38} {}",
                            format!("${:.2}", finding["monthly_usd"].as_f64().unwrap_or(0.0)),
                            finding["kind"].as_str().unwrap_or_default(),
                            finding["resource"].as_str().unwrap_or_default()
                        )?;
                        writeln!(
                            w,
                            "          {}",
                            finding["detail"].as_str().unwrap_or_default()
                        )?;
                    }
                    if let Some(total) = savings["total_monthly_usd"].as_f64() {
                        writeln!(
                            w,
                            "savings   ${total:.2} a month in all (prices as of {})",
                            savings["prices_as_of"].as_str().unwrap_or("?")
                        )?;
                    }
                }
                Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plans => {
            let env = plan_environment(&config, cli.region.as_deref()).await?;
            plans::list(cli.output, &registry, &env)
        }
        Command::Approve { id, digest, approver } => {
            let env = Arc::new(plan_environment(&config, cli.region.as_deref()).await?);
            let approver = plans::approver(approver);
            plans::approve(cli.output, &registry, &env, &id, digest, &approver).await
        }
        Command::Reject { id, reason, approver } => {
            let env = plan_environment(&config, cli.region.as_deref()).await?;
            let approver = plans::approver(approver);
            plans::reject(cli.output, &registry, &env, &id, &approver, reason.as_deref())
        }
        Command::Ask { question } => {
            let settings = config.model.clone().context(
                "`ask` needs a model: set `model.id` in the configuration or CLU_MODEL_ID",
            )?;
            let env = Arc::new(environment(&config, cli.region.as_deref()).await);
            if let Some(metering) = &config.metering {
                let backoff = clu_core::metering::Backoff::default();
                if let Err(error) =
                    clu_core::metering::register_at_start(&registry, &env, metering, &backoff).await
                {
                    eprintln!("error [{}]: {error}", error.code());
                    return Ok(ExitCode::from(error.exit_code()));
                }
            }
            // Tools that cannot work are not offered: the model would only collect errors.
            let preflight = doctor::run(&registry, &env, &config, false).await.preflight;
            let agent = AgentLoop::new(registry.clone(), env, settings, config.limits.clone())?;
            let offered = preflight.offered_tools();
            let agent = agent.restrict_tools(offered.iter().map(String::as_str));
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
            let format = cli.output;
            let printer = tokio::spawn(async move {
                while let Some(event) = receiver.recv().await {
                    render_event(format, &event);
                }
            });
            let report = agent.investigate(&question, &sender).await;
            drop(sender);
            let _ = printer.await;
            if !matches!(format, Format::Table) {
                print(format, &report, |_| Ok(()))?;
            }
            Ok(if report.outcome == clu_core::agent::Outcome::Answered {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::NO_ANSWER)
            })
        }
        Command::Serve { listen } => serve::run(config, registry, listen, cli.region).await,
    }
}

/// Streams an event: tool steps on stderr, the answer's text on stdout as it arrives.
fn render_event(format: Format, event: &AgentEvent) {
    if !matches!(format, Format::Table) {
        return;
    }
    match event {
        AgentEvent::TextDelta { text } => {
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
        AgentEvent::ToolStarted { tool, input, .. } => eprintln!("\n→ {tool} {input}"),
        AgentEvent::ToolFinished { tool, outcome, duration_ms, truncated, .. } => {
            let cut = if *truncated { " (truncated)" } else { "" };
            eprintln!("← {tool}: {outcome} in {duration_ms} ms{cut}");
        }
        AgentEvent::Answer { .. } => println!(),
        AgentEvent::Error { code, message } => eprintln!("\nstopped [{code}]: {message}"),
        _ => {}
    }
}

/// The AWS configuration from the standard environment, and the cluster from KUBECONFIG or
/// the pod's service account; a part that cannot be had is left out, and tools that need it
/// say so.
async fn environment(config: &AgentConfig, region: Option<&str>) -> ToolEnv {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::v2026_11_17());
    if let Some(region) = region.map(str::to_owned).or_else(|| config.region.clone()) {
        loader = loader.region(aws_config::Region::new(region));
    }
    let aws = loader.load().await;
    let kube = match kube::Client::try_default().await {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::warn!(%error, "no Kubernetes client: cluster tools will report not-configured");
            None
        }
    };
    let arn_context = ArnContext {
        region: aws.region().map(|r| r.to_string()).unwrap_or_else(|| "*".into()),
        cluster: config.cluster.clone().unwrap_or_else(|| "*".into()),
        ..ArnContext::default()
    };
    // Write verbs keep their plans on disk, so `clu-agent approve` in a later process (or the
    // service after a restart) finds the plan a call made.
    let plans = clu_core::plan::FilePlanStore::default_dir().and_then(|dir| {
        match clu_core::plan::FilePlanStore::new(dir.clone()) {
            Ok(store) => Some(Arc::new(store) as Arc<dyn clu_core::plan::PlanStore>),
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "no plan store: write verbs will refuse");
                None
            }
        }
    });
    ToolEnv { aws: Some(aws), kube, arn_context, recorder: None, plans, ..ToolEnv::default() }
}

/// The environment of commands that make or decide plans: the file plan store and the
/// configured approval policy. Without a state directory, `call` still runs read tools, and a
/// write verb says it has no plan store.
async fn plan_environment(config: &AgentConfig, region: Option<&str>) -> anyhow::Result<ToolEnv> {
    let env = environment(config, region).await;
    let plans = match plans::store() {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "no plan store: write verbs cannot plan");
            None
        }
    };
    Ok(ToolEnv { plans, approvals: config.approvals.clone(), ..env })
}

#[derive(Serialize)]
struct ToolRow {
    name: &'static str,
    tier: Tier,
    risk: String,
    offered_to_model: bool,
    actions: Vec<String>,
    rbac: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preflight: Option<clu_core::preflight::ToolCheck>,
}

impl ToolRow {
    fn of(spec: &clu_core::ToolSpec, preflight: Option<&clu_core::preflight::ToolCheck>) -> Self {
        Self {
            name: spec.name,
            tier: spec.tier,
            risk: spec.risk.to_string(),
            offered_to_model: spec.offered_to_model,
            actions: spec.permissions.actions().iter().map(ToString::to_string).collect(),
            rbac: spec.permissions.rbac.iter().map(ToString::to_string).collect(),
            preflight: preflight.cloned(),
        }
    }
}

fn print<T: Serialize>(
    format: Format,
    value: &T,
    table: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(value)?)?,
        Format::Yaml => write!(stdout, "{}", serde_saphyr::to_string(value)?)?,
        Format::Table => table(&mut stdout)?,
    }
    Ok(())
}

fn lint(files: &[PathBuf]) -> ExitCode {
    let catalog = Catalog::embedded();
    let mut worst = 0u8;
    for file in files {
        let shown = file.display();
        let document = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|text| PolicyDocument::parse(&text).map_err(|e| e.to_string()));
        match document {
            Err(error) => {
                eprintln!("{shown}: {error}");
                worst = 2;
            }
            Ok(document) => {
                for finding in
                    clu_policy::lint::lint_document(&document, catalog, &Default::default())
                {
                    println!("{shown}: {finding}");
                    worst = worst.max(1);
                }
            }
        }
    }
    ExitCode::from(worst)
}
