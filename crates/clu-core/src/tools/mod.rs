//! The Core tier's tools.

pub mod findings;
pub mod identity;
pub mod k8s;
pub mod logs;
pub mod metrics;
pub mod model;

use std::sync::Arc;

use crate::agent::AllowedModels;
use crate::registry::{Registry, RegistryError};
use crate::tool::Tool;

/// What the Core tools take from the agent's configuration.
#[derive(Clone, Debug, Default)]
pub struct CoreOptions {
    /// The Bedrock model families the agent may use; its Bedrock grant follows from them.
    pub allowed_models: AllowedModels,
    /// The configured model, checked by `bedrock_invoke_model` when called without one.
    pub model: Option<String>,
}

/// Every Core tool with the default options, as the committed IAM documents are derived.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    tools_with(&CoreOptions::default())
}

/// Every Core tool, in a fixed order.
pub fn tools_with(options: &CoreOptions) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(model::InvokeModel::new(options.allowed_models.clone(), options.model.clone())),
        Arc::new(logs::DescribeLogGroups::new()),
        Arc::new(logs::DescribeLogStreams::new()),
        Arc::new(logs::InsightsQuery::new()),
        Arc::new(k8s::K8sGet::new()),
        Arc::new(k8s::K8sList::new()),
        Arc::new(k8s::K8sDescribe::new()),
        Arc::new(k8s::K8sLogs::new()),
        Arc::new(k8s::K8sEvents::new()),
        Arc::new(findings::K8sFindings::new()),
        Arc::new(metrics::GetMetricData::new()),
        Arc::new(metrics::GetMetricStatistics::new()),
        Arc::new(metrics::ListMetrics::new()),
        Arc::new(metrics::DescribeAlarms::new()),
        Arc::new(crate::metering::RegisterUsage::new()),
        Arc::new(identity::CallerIdentity::new()),
        Arc::new(identity::AccessReview::new()),
    ]
}

/// The Core tier's registry with the default options.
pub fn registry() -> Result<Registry, RegistryError> {
    Registry::new(tools())
}

/// The Core tier's registry for `options`.
pub fn registry_with(options: &CoreOptions) -> Result<Registry, RegistryError> {
    Registry::new(tools_with(options))
}
