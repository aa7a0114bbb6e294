//! The Cloud tier of Clu: read-only views of the AWS account around an EKS cluster.
//!
//! Enabled by the `cloud` feature of the agent and `modules.cloud.enabled` at run time. The
//! tier's tools are listed by [`tools`]; it has none yet, and its derived IAM document says so.

use std::sync::Arc;

use clu_core::registry::{Registry, RegistryError};
use clu_core::tool::Tool;

/// Every Cloud tool, in a fixed order.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    Vec::new()
}

/// The Cloud tier's registry.
pub fn registry() -> Result<Registry, RegistryError> {
    Registry::new(tools())
}
