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
