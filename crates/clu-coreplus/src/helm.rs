//! Helm verbs: install, upgrade, roll back and uninstall a release through the `helm`
//! executable, found on `PATH` or named by `CLU_HELM`.
//!
//! Arguments go to the process as a list, never through a shell, and each is validated first:
//! release and namespace names are DNS labels, a chart reference and a version have a fixed
//! alphabet and never start with `-`, and values are written to a temporary file passed with
//! `-f`. A plan is `helm … --dry-run=server`: the rendered manifest and its line diff against
//! `helm get manifest`.
//!
//! Helm never talks to the API server directly. Each run gets a kubeconfig naming a loopback
//! [`GuardedEndpoint`] with a one-time token, and every request helm sends goes on through the
//! tool's guarded client: it is classified, refused unless the verb declared it, recorded, and
//! sent with the agent's credentials. The verbs declare helm's release storage (ConfigMaps,
//! through `HELM_DRIVER=configmap`, because Clu never touches Secrets, where helm keeps
//! releases by default) and the object verbs' writable kinds, so a chart holding anything else
//! fails at helm's first request for it, with the guard's refusal as the tool's error.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;

use async_trait::async_trait;
use clu_core::plan::Undo;

use crate::common::Writable;
use crate::endpoint::GuardedEndpoint;
use clu_core::{
    Applied, Permissions, PlanBody, RbacRule, Result, Risk, Tier, Tool, ToolContext, ToolError,
    ToolSpec, Verification,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The environment variable naming the helm executable, when it is not `helm` on `PATH`.
pub const HELM_ENV: &str = "CLU_HELM";

/// Which helm executable the verbs run.
#[derive(Clone, Debug, Default)]
pub struct HelmBinary(Option<PathBuf>);

impl HelmBinary {
    /// `CLU_HELM` when set, else `helm` in a `PATH` directory, looked up at each run.
    pub fn from_environment() -> Self {
        Self(None)
    }

    /// This file.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self(Some(path.into()))
    }

    fn path(&self, tool: &str) -> Result<PathBuf> {
        match &self.0 {
            Some(path) => Ok(path.clone()),
            None => helm_path(tool),
        }
    }
}

/// Finds the helm executable: `CLU_HELM`, else `helm` in a `PATH` directory.
fn helm_path(tool: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(HELM_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("helm"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ToolError::NotConfigured {
            tool: tool.to_owned(),
            what: format!("the `helm` executable (on PATH, or named by {HELM_ENV})"),
        })
}

/// Settings by which helm could be pointed past the guarded endpoint; they are removed from its
/// environment.
const HELM_CLUSTER_ENV: &[&str] = &[
    "HELM_KUBEAPISERVER",
    "HELM_KUBETOKEN",
    "HELM_KUBECONTEXT",
    "HELM_KUBEASUSER",
    "HELM_KUBEASGROUPS",
    "HELM_KUBECAFILE",
    "HELM_KUBEINSECURE_SKIP_TLS_VERIFY",
    "HELM_KUBETLS_SERVER_NAME",
];

/// Runs helm with `args` against a guarded endpoint of `context`'s client, and returns its
/// standard output, or an error: the guard's refusal when it refused a request of helm's,
/// else helm's standard error.
async fn helm(bin: &HelmBinary, context: &ToolContext, args: &[OsString]) -> Result<String> {
    let tool = context.tool();
    let executable = bin.path(tool)?;
    let endpoint = GuardedEndpoint::start(context, "default").await?;
    let mut command = tokio::process::Command::new(executable);
    command
        .args(args)
        .env("KUBECONFIG", endpoint.kubeconfig())
        .env("HELM_DRIVER", "configmap")
        .stdin(std::process::Stdio::null());
    for name in HELM_CLUSTER_ENV {
        command.env_remove(name);
    }
    let output = command
        .output()
        .await
        .map_err(|e| ToolError::failed(tool, format!("cannot run helm: {e}")))?;
    if let Some(refusal) = endpoint.take_refusal() {
        return Err(refusal);
    }
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(ToolError::failed(tool, format!("helm failed ({}): {}", output.status, stderr.trim())))
    }
}

fn dns_label(tool: &str, what: &str, value: &str, max: usize) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid_input(
            tool,
            format!(
                "{what} `{value}` is not a DNS label: at most {max} lowercase letters, digits \
                 and `-`, starting and ending with a letter or digit"
            ),
        ))
    }
}

fn chart_reference(tool: &str, chart: &str) -> Result<()> {
    let ok = !chart.is_empty()
        && chart.len() <= 512
        && !chart.starts_with('-')
        && chart
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ':' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid_input(
            tool,
            format!(
                "chart `{chart}` is not a chart reference such as `bitnami/redis` or \
                 `oci://registry/charts/app`"
            ),
        ))
    }
}

fn chart_version(tool: &str, version: &str) -> Result<()> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && !version.starts_with('-')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '^' | '~' | '*'));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid_input(tool, format!("`{version}` is not a chart version")))
    }
}

/// The input of `helm_install` and `helm_upgrade`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmReleaseInput {
    /// The release name.
    pub release: String,
    /// The namespace.
    pub namespace: String,
    /// The chart: `repo/chart`, or an `oci://` reference.
    pub chart: String,
    /// The chart version; the newest when left out.
    #[serde(default)]
    pub version: Option<String>,
    /// Values, as a JSON object.
    #[serde(default)]
    pub values: Option<serde_json::Map<String, Value>>,
}

impl HelmReleaseInput {
    fn validate(&self, tool: &str) -> Result<()> {
        dns_label(tool, "release", &self.release, 53)?;
        dns_label(tool, "namespace", &self.namespace, 63)?;
        chart_reference(tool, &self.chart)?;
        if let Some(version) = &self.version {
            chart_version(tool, version)?;
        }
        Ok(())
    }

    /// `install|upgrade RELEASE CHART --namespace NS [--version V] [-f VALUES]`, with the values
    /// file kept alive by the returned guard.
    fn args(
        &self,
        tool: &str,
        verb: &str,
    ) -> Result<(Vec<OsString>, Option<tempfile::NamedTempFile>)> {
        self.validate(tool)?;
        let mut args: Vec<OsString> = vec![
            verb.into(),
            self.release.clone().into(),
            self.chart.clone().into(),
            "--namespace".into(),
            self.namespace.clone().into(),
        ];
        if let Some(version) = &self.version {
            args.extend([OsString::from("--version"), OsString::from(version)]);
        }
        let values = match &self.values {
            Some(values) => {
                let yaml = serde_saphyr::to_string(values).map_err(|e| {
                    ToolError::invalid_input(tool, format!("values cannot be written as YAML: {e}"))
                })?;
                let mut file = tempfile::Builder::new()
                    .prefix("clu-helm-values-")
                    .suffix(".yaml")
                    .tempfile()
                    .map_err(|e| ToolError::failed(tool, format!("cannot write values: {e}")))?;
                file.write_all(yaml.as_bytes())
                    .map_err(|e| ToolError::failed(tool, format!("cannot write values: {e}")))?;
                args.extend([OsString::from("-f"), file.path().as_os_str().to_owned()]);
                Some(file)
            }
            None => None,
        };
        Ok((args, values))
    }
}

/// What helm sends for a release: its storage (ConfigMaps, under `HELM_DRIVER=configmap`) and
/// the chart's objects, which may only be of the kinds the object verbs write. A chart with a
/// Secret, a ServiceAccount, an RBAC object or a cluster-scoped kind is refused by the guard
/// at helm's first request for it.
fn helm_rules() -> Vec<RbacRule> {
    let mut rules =
        vec![RbacRule::new("", ["configmaps"], ["get", "list", "create", "update", "delete"])];
    rules.extend(Writable::rules(&["get", "list", "watch", "create", "update", "patch", "delete"]));
    rules
}

/// The manifest of a release, empty when there is none.
async fn live_manifest(
    bin: &HelmBinary,
    context: &ToolContext,
    release: &str,
    namespace: &str,
    revision: Option<u64>,
) -> Result<String> {
    let mut args: Vec<OsString> = vec![
        "get".into(),
        "manifest".into(),
        release.into(),
        "--namespace".into(),
        namespace.into(),
    ];
    if let Some(revision) = revision {
        args.extend([OsString::from("--revision"), OsString::from(revision.to_string())]);
    }
    helm(bin, context, &args).await
}

/// The revisions of a release, oldest first, as `helm history -o json` gives them.
async fn history(
    bin: &HelmBinary,
    context: &ToolContext,
    release: &str,
    namespace: &str,
) -> Result<Vec<Value>> {
    let tool = context.tool();
    let args: Vec<OsString> = vec![
        "history".into(),
        release.into(),
        "--namespace".into(),
        namespace.into(),
        "--output".into(),
        "json".into(),
    ];
    let text = helm(bin, context, &args).await?;
    let history: Vec<Value> = serde_json::from_str(&text)
        .map_err(|e| ToolError::failed(tool, format!("helm history is not JSON: {e}")))?;
    Ok(history)
}

fn current_revision(history: &[Value]) -> Option<u64> {
    history.iter().filter_map(|r| r["revision"].as_u64()).max()
}

fn manifest_of(tool: &str, release_json: &str) -> Result<(String, Value)> {
    let release: Value = serde_json::from_str(release_json).map_err(|e| {
        ToolError::failed(tool, format!("helm did not answer a release as JSON: {e}"))
    })?;
    let manifest = release["manifest"].as_str().unwrap_or_default().to_owned();
    Ok((manifest, release))
}

fn text_diff(live: &str, planned: &str) -> String {
    if live == planned {
        return String::new();
    }
    similar::TextDiff::from_lines(live, planned)
        .unified_diff()
        .context_radius(4)
        .header("live", "planned")
        .to_string()
}

async fn verify(
    bin: &HelmBinary,
    context: &ToolContext,
    release: &str,
    namespace: &str,
) -> Result<Verification> {
    let tool = context.tool();
    let args: Vec<OsString> = vec![
        "status".into(),
        release.into(),
        "--namespace".into(),
        namespace.into(),
        "--output".into(),
        "json".into(),
    ];
    let status: Value = serde_json::from_str(&helm(bin, context, &args).await?)
        .map_err(|e| ToolError::failed(tool, format!("helm status is not JSON: {e}")))?;
    let state = status.pointer("/info/status").and_then(Value::as_str).unwrap_or("unknown");
    let message = format!("release `{release}` is {state}");
    Ok(if state == "deployed" {
        Verification::passed(message)
    } else {
        Verification::failed(message)
    })
}

/// `helm_install` or `helm_upgrade`.
pub struct HelmRelease {
    spec: ToolSpec,
    upgrade: bool,
    bin: HelmBinary,
}

impl HelmRelease {
    /// `helm_install`.
    pub fn install() -> Self {
        Self::new(
            "helm_install",
            "Installs a Helm chart as a new release. Makes a plan (helm install --dry-run=server: \
             the rendered manifest) a human approves; the undo uninstalls it.",
            false,
        )
    }

    /// `helm_upgrade`.
    pub fn upgrade() -> Self {
        Self::new(
            "helm_upgrade",
            "Upgrades a Helm release to a chart version or values. Makes a plan (helm upgrade \
             --dry-run=server, diffed against the live manifest) a human approves; the undo \
             rolls back to the revision before.",
            true,
        )
    }

    fn new(name: &'static str, description: &'static str, upgrade: bool) -> Self {
        let spec = ToolSpec::new::<HelmReleaseInput>(
            name,
            description,
            Tier::CorePlus,
            Risk::Write,
            Permissions { iam: Vec::new(), rbac: helm_rules() },
        );
        Self { spec, upgrade, bin: HelmBinary::from_environment() }
    }

    /// The verb, running `bin`.
    #[must_use]
    pub fn with_binary(mut self, bin: HelmBinary) -> Self {
        self.bin = bin;
        self
    }

    fn verb(&self) -> &'static str {
        if self.upgrade { "upgrade" } else { "install" }
    }
}

#[async_trait]
impl Tool for HelmRelease {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let tool = context.tool();
        let input: HelmReleaseInput = context.parse_input(input)?;
        let (mut args, _values) = input.args(tool, self.verb())?;
        args.extend(["--dry-run=server", "--output", "json"].map(OsString::from));
        let (planned, release) = manifest_of(tool, &helm(&self.bin, context, &args).await?)?;
        let live = if self.upgrade {
            live_manifest(&self.bin, context, &input.release, &input.namespace, None).await?
        } else {
            String::new()
        };
        let version = input.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        Ok(PlanBody::new(
            format!(
                "{} release `{}` in `{}` with chart {}{version}",
                self.verb(),
                input.release,
                input.namespace,
                input.chart
            ),
            text_diff(&live, &planned),
            json!({ "manifest": planned, "chart": release.get("chart").and_then(|c| c.get("metadata")) }),
        )
        .namespace(&input.namespace)
        .touches(format!("helm release {}/{}", input.namespace, input.release))
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let tool = context.tool();
        let input: HelmReleaseInput = context.parse_input(input)?;
        let before = if self.upgrade {
            current_revision(&history(&self.bin, context, &input.release, &input.namespace).await?)
        } else {
            None
        };
        let (mut args, _values) = input.args(tool, self.verb())?;
        args.extend(["--output", "json"].map(OsString::from));
        let (_, release) = manifest_of(tool, &helm(&self.bin, context, &args).await?)?;
        let verification = verify(&self.bin, context, &input.release, &input.namespace).await?;
        let undo = if self.upgrade {
            before.map(|revision| Undo {
                tool: "helm_rollback".into(),
                input: json!({ "release": input.release, "namespace": input.namespace, "revision": revision }),
            })
        } else {
            Some(Undo {
                tool: "helm_uninstall".into(),
                input: json!({ "release": input.release, "namespace": input.namespace }),
            })
        };
        Ok(Applied {
            result: json!({ "release": input.release, "revision": release.get("version") }),
            verification,
            undo,
        })
    }
}

/// The input of `helm_rollback`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmRollbackInput {
    /// The release name.
    pub release: String,
    /// The namespace.
    pub namespace: String,
    /// The revision to go back to; the one before the current when left out.
    #[serde(default)]
    pub revision: Option<u64>,
}

/// `helm_rollback`: rolls a release back to a revision.
pub struct HelmRollback {
    spec: ToolSpec,
    bin: HelmBinary,
}

impl HelmRollback {
    /// The verb.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<HelmRollbackInput>(
                "helm_rollback",
                "Rolls a Helm release back to a previous revision. Makes a plan (the revision's \
                 manifest diffed against the live one) a human approves; the undo returns to the \
                 revision before.",
                Tier::CorePlus,
                Risk::Write,
                Permissions { iam: Vec::new(), rbac: helm_rules() },
            ),
            bin: HelmBinary::from_environment(),
        }
    }

    /// The verb, running `bin`.
    #[must_use]
    pub fn with_binary(mut self, bin: HelmBinary) -> Self {
        self.bin = bin;
        self
    }

    async fn target(&self, context: &ToolContext, input: &HelmRollbackInput) -> Result<(u64, u64)> {
        let tool = context.tool();
        dns_label(tool, "release", &input.release, 53)?;
        dns_label(tool, "namespace", &input.namespace, 63)?;
        let history = history(&self.bin, context, &input.release, &input.namespace).await?;
        let current = current_revision(&history).ok_or_else(|| ToolError::NotFound {
            what: format!("helm release `{}`", input.release),
        })?;
        let target = match input.revision {
            Some(revision) if history.iter().any(|r| r["revision"].as_u64() == Some(revision)) => {
                revision
            }
            Some(revision) => {
                return Err(ToolError::invalid_input(
                    tool,
                    format!("release `{}` has no revision {revision}", input.release),
                ));
            }
            None => history
                .iter()
                .filter_map(|r| r["revision"].as_u64())
                .filter(|r| *r < current)
                .max()
                .ok_or_else(|| {
                    ToolError::failed(
                        tool,
                        format!("release `{}` has no revision before {current}", input.release),
                    )
                })?,
        };
        Ok((current, target))
    }
}

impl Default for HelmRollback {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for HelmRollback {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let tool = context.tool();
        let mut input: HelmRollbackInput = context.parse_input(input)?;
        let (current, target) = self.target(context, &input).await?;
        input.revision = Some(target);
        let live =
            live_manifest(&self.bin, context, &input.release, &input.namespace, None).await?;
        let planned =
            live_manifest(&self.bin, context, &input.release, &input.namespace, Some(target))
                .await?;
        Ok(PlanBody::new(
            format!("roll release `{}` back from revision {current} to {target}", input.release),
            text_diff(&live, &planned),
            json!({ "manifest": planned }),
        )
        .namespace(&input.namespace)
        .touches(format!("helm release {}/{}", input.namespace, input.release))
        .pinned_input(crate::common::to_json(tool, &input)?)
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let input: HelmRollbackInput = context.parse_input(input)?;
        let (current, target) = self.target(context, &input).await?;
        let args: Vec<OsString> = vec![
            "rollback".into(),
            input.release.clone().into(),
            target.to_string().into(),
            "--namespace".into(),
            input.namespace.clone().into(),
            "--wait".into(),
        ];
        helm(&self.bin, context, &args).await?;
        let verification = verify(&self.bin, context, &input.release, &input.namespace).await?;
        Ok(Applied {
            result: json!({ "release": input.release, "fromRevision": current, "toRevision": target }),
            verification,
            undo: Some(Undo {
                tool: "helm_rollback".into(),
                input: json!({ "release": input.release, "namespace": input.namespace, "revision": current }),
            }),
        })
    }
}

/// The input of `helm_uninstall`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmUninstallInput {
    /// The release name.
    pub release: String,
    /// The namespace.
    pub namespace: String,
}

/// `helm_uninstall`: removes a release and its objects.
pub struct HelmUninstall {
    spec: ToolSpec,
    bin: HelmBinary,
}

impl HelmUninstall {
    /// The verb.
    pub fn new() -> Self {
        Self {
            spec: ToolSpec::new::<HelmUninstallInput>(
                "helm_uninstall",
                "Uninstalls a Helm release and the objects it made. Makes a plan (the manifest \
                 that goes away) a human approves; there is no undo, because the chart's source \
                 is not recorded in the release.",
                Tier::CorePlus,
                Risk::Destructive,
                Permissions { iam: Vec::new(), rbac: helm_rules() },
            ),
            bin: HelmBinary::from_environment(),
        }
    }

    /// The verb, running `bin`.
    #[must_use]
    pub fn with_binary(mut self, bin: HelmBinary) -> Self {
        self.bin = bin;
        self
    }

    fn args(tool: &str, input: &HelmUninstallInput, dry_run: bool) -> Result<Vec<OsString>> {
        dns_label(tool, "release", &input.release, 53)?;
        dns_label(tool, "namespace", &input.namespace, 63)?;
        let mut args: Vec<OsString> = vec![
            "uninstall".into(),
            input.release.clone().into(),
            "--namespace".into(),
            input.namespace.clone().into(),
        ];
        if dry_run {
            args.push("--dry-run".into());
        }
        Ok(args)
    }
}

impl Default for HelmUninstall {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for HelmUninstall {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let tool = context.tool();
        let input: HelmUninstallInput = context.parse_input(input)?;
        let answer = helm(&self.bin, context, &Self::args(tool, &input, true)?).await?;
        let live =
            live_manifest(&self.bin, context, &input.release, &input.namespace, None).await?;
        Ok(PlanBody::new(
            format!("uninstall release `{}` from `{}`", input.release, input.namespace),
            text_diff(&live, ""),
            json!({ "helm": answer.trim() }),
        )
        .namespace(&input.namespace)
        .touches(format!("helm release {}/{}", input.namespace, input.release))
        .into_value())
    }

    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let tool = context.tool();
        let input: HelmUninstallInput = context.parse_input(input)?;
        let answer = helm(&self.bin, context, &Self::args(tool, &input, false)?).await?;
        let verification = match history(&self.bin, context, &input.release, &input.namespace).await
        {
            Err(_) => Verification::passed(format!("release `{}` is gone", input.release)),
            Ok(history) if history.is_empty() => {
                Verification::passed(format!("release `{}` is gone", input.release))
            }
            Ok(_) => Verification::failed(format!("release `{}` still has history", input.release)),
        };
        Ok(Applied { result: json!({ "helm": answer.trim() }), verification, undo: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(chart: &str, release: &str, version: Option<&str>) -> HelmReleaseInput {
        HelmReleaseInput {
            release: release.into(),
            namespace: "shop".into(),
            chart: chart.into(),
            version: version.map(str::to_owned),
            values: Some(serde_json::from_value(json!({ "replicaCount": 2 })).unwrap()),
        }
    }

    #[test]
    fn arguments_are_a_validated_list_with_values_in_a_file() {
        let (args, values) = input("bitnami/redis", "cache", Some("19.6.4"))
            .args("helm_install", "install")
            .unwrap();
        let values = values.unwrap();
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let mut expected: Vec<String> = [
            "install",
            "cache",
            "bitnami/redis",
            "--namespace",
            "shop",
            "--version",
            "19.6.4",
            "-f",
        ]
        .map(str::to_owned)
        .to_vec();
        expected.push(values.path().display().to_string());
        assert_eq!(text, expected);
        assert_eq!(std::fs::read_to_string(values.path()).unwrap().trim(), "replicaCount: 2");
    }

    #[test]
    fn names_references_and_versions_that_could_be_flags_or_shell_are_refused() {
        let long = "a".repeat(54);
        for (chart, release, version) in [
            ("--post-renderer=/bin/sh", "cache", None),
            ("bitnami/redis; rm -rf /", "cache", None),
            ("bitnami/redis", "Cache", None),
            ("bitnami/redis", "-cache", None),
            ("bitnami/redis", long.as_str(), None),
            ("bitnami/redis", "cache", Some("--devel")),
            ("bitnami/redis", "cache", Some("1.0 2.0")),
        ] {
            let error = input(chart, release, version).args("helm_install", "install").unwrap_err();
            assert_eq!(error.code(), "invalid-input", "{chart} {release} {version:?}");
        }
        assert!(
            input("oci://registry.example/charts/app", "app-1", Some("1.2.3-rc.1+b5"))
                .args("helm_install", "install")
                .is_ok()
        );
    }

    #[test]
    fn the_diff_is_a_line_diff_of_manifests() {
        let diff = text_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n");
        assert!(diff.contains("-b: 2") && diff.contains("+b: 3"), "{diff}");
        assert_eq!(text_diff("same\n", "same\n"), "");
    }
}
