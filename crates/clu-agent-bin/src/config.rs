//! The agent's configuration file and the registry of the tiers it enables.

use std::path::Path;

use anyhow::Context;
use clu_core::agent::{Limits, ModelSettings};
use clu_core::tools::CoreOptions;
use clu_core::{Registry, Tier};
use serde::Deserialize;

/// The configuration file, as the Helm chart mounts it. Every part has a default.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AgentConfig {
    /// The model; `CLU_MODEL_ID` sets the id when the file does not.
    #[serde(default)]
    pub(crate) model: Option<ModelSettings>,
    /// The limits of one investigation.
    #[serde(default)]
    pub(crate) limits: Limits,
    /// The AWS region, when not from the environment.
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// The EKS cluster's name, for rendering resource ARNs.
    #[serde(default)]
    pub(crate) cluster: Option<String>,
    /// Which tiers are on.
    #[serde(default)]
    pub(crate) modules: Modules,
    /// AWS Marketplace metering: `mode: marketplace` with the product code, or `mode: off`
    /// for installs outside Marketplace. When set, investigations register usage first.
    #[serde(default)]
    pub(crate) metering: Option<clu_core::metering::MeteringConfig>,
    /// The in-cluster service (`clu-agent serve`): listen address, authentication, the bound
    /// on in-flight work, scans and their Lease.
    #[serde(default)]
    pub(crate) serve: Option<clu_server::ServeSettings>,
    /// Who may approve the plans of write verbs: `ttl` (seconds), `autoApprove` (verbs,
    /// empty by default), `namespaces.allow` and `namespaces.deny` (`kube-system` by default).
    #[serde(default)]
    pub(crate) approvals: clu_core::plan::ApprovalPolicy,
}

/// The tiers beyond Core, each off unless enabled.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Modules {
    #[serde(default)]
    pub(crate) cloud: Module,
    #[serde(default)]
    pub(crate) core_plus: Module,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Module {
    #[serde(default)]
    pub(crate) enabled: bool,
}

impl AgentConfig {
    /// Reads `path`, or the defaults when there is none.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("failed to read the configuration {}", path.display())
                })?;
                serde_saphyr::from_str(&text)
                    .with_context(|| format!("invalid configuration {}", path.display()))?
            }
            None => AgentConfig::default(),
        };
        if config.model.is_none()
            && let Ok(id) = std::env::var("CLU_MODEL_ID")
        {
            config.model = Some(ModelSettings::new(id));
        }
        Ok(config)
    }
}

/// The tiers this binary was built with.
pub(crate) fn compiled_tiers() -> Vec<Tier> {
    let mut tiers = vec![Tier::Core];
    if cfg!(feature = "cloud") {
        tiers.push(Tier::Cloud);
    }
    if cfg!(feature = "coreplus") {
        tiers.push(Tier::CorePlus);
    }
    tiers
}

/// The registry of every tier the configuration enables, refusing a tier the binary lacks.
pub(crate) fn registry(config: &AgentConfig) -> anyhow::Result<Registry> {
    let options = core_options(config, true);
    #[cfg_attr(
        not(any(feature = "cloud", feature = "coreplus")),
        expect(unused_mut, reason = "only tiers compiled in extend the registry")
    )]
    let mut registry = clu_core::tools::registry_with(&options)?;

    if config.modules.cloud.enabled {
        #[cfg(feature = "cloud")]
        registry.merge(clu_cloud::registry()?)?;
        #[cfg(not(feature = "cloud"))]
        anyhow::bail!(
            "`modules.cloud.enabled` is set, but this clu-agent was built without the cloud tier"
        );
    }
    if config.modules.core_plus.enabled {
        #[cfg(feature = "coreplus")]
        registry.merge(clu_coreplus::registry()?)?;
        #[cfg(not(feature = "coreplus"))]
        anyhow::bail!(
            "`modules.corePlus.enabled` is set, but this clu-agent was built without the coreplus tier"
        );
    }
    Ok(registry)
}

/// The registry of every tier the binary was built with, whatever the configuration enables:
/// what `clu-agent policy` derives the documents from.
pub(crate) fn compiled_registry(config: &AgentConfig) -> anyhow::Result<Registry> {
    let options = core_options(config, false);
    #[cfg_attr(
        not(any(feature = "cloud", feature = "coreplus")),
        expect(unused_mut, reason = "only tiers compiled in extend the registry")
    )]
    let mut registry = clu_core::tools::registry_with(&options)?;
    #[cfg(feature = "cloud")]
    registry.merge(clu_cloud::registry()?)?;
    #[cfg(feature = "coreplus")]
    registry.merge(clu_coreplus::registry()?)?;
    Ok(registry)
}

/// The Core tools' options from the configuration; `with_model` also hands the configured
/// model to the model check, which deriving documents does not need.
fn core_options(config: &AgentConfig, with_model: bool) -> CoreOptions {
    let model = config.model.as_ref();
    CoreOptions {
        allowed_models: model.map(|m| m.allowed_families.clone()).unwrap_or_default(),
        model: model.filter(|_| with_model).map(|m| m.id.clone()),
    }
}

#[cfg(test)]
mod chart_tests {
    //! The chart's values and templates against the configuration they render: the
    //! configuration the ConfigMap renders (`config` with `modules` merged in, as `clu.config`
    //! does) must be one this agent accepts, and every value a template reads must exist.
    //!
    //! FIXME(no-helm-binary): the chart is never rendered by `helm template` or installed by
    //! `helm install` here: no helm binary can be installed on the build machines (none is in
    //! the registries they reach), so these tests read the files themselves.

    use std::path::PathBuf;

    use super::AgentConfig;

    fn chart() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/clu-ops-agent")
    }

    fn values() -> serde_json::Value {
        let text = std::fs::read_to_string(chart().join("values.yaml")).unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    #[test]
    fn the_rendered_configuration_is_one_the_agent_accepts() {
        let values = values();
        let mut config = values["config"].clone();
        config["modules"] = values["modules"].clone();
        let config: AgentConfig = serde_json::from_value(config).unwrap();
        assert!(!config.modules.cloud.enabled && !config.modules.core_plus.enabled);
        assert!(config.metering.is_some(), "the chart must choose a metering mode");

        let mut enabled = values["config"].clone();
        enabled["modules"] =
            serde_json::json!({"cloud": {"enabled": true}, "corePlus": {"enabled": true}});
        let enabled: AgentConfig = serde_json::from_value(enabled).unwrap();
        assert!(enabled.modules.cloud.enabled && enabled.modules.core_plus.enabled);
    }

    #[test]
    fn every_value_a_template_reads_exists() {
        let values = values();
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(chart().join("templates")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices(".Values.") {
                let reference: String = text[at + ".Values.".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                    .collect();
                let pointer = format!("/{}", reference.trim_end_matches('.').replace('.', "/"));
                if values.pointer(&pointer).is_none() {
                    missing.push(format!("{}: .Values.{reference}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "templates read values that values.yaml lacks: {missing:#?}");
    }

    #[test]
    fn the_deployment_runs_as_non_root_on_a_read_only_root_filesystem() {
        let values = values();
        assert_eq!(values["podSecurityContext"]["runAsNonRoot"], true);
        assert_eq!(values["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(values["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(values["securityContext"]["capabilities"]["drop"], serde_json::json!(["ALL"]));
        let deployment =
            std::fs::read_to_string(chart().join("templates/deployment.yaml")).unwrap();
        for needed in
            ["path: /healthz", "path: /readyz", "toYaml .Values.resources", "serviceAccountName"]
        {
            assert!(deployment.contains(needed), "the Deployment lacks `{needed}`");
        }
    }
}
