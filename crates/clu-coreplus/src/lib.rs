//! The Core Plus tier of Clu: write verbs on the cluster behind a dry-run plan and an approval.
//!
//! Enabled by the `coreplus` feature of the agent and `modules.corePlus.enabled` at run time.
//! Its authority is granted in the cluster by the writer ClusterRole, not in IAM. The tier's
//! verbs are listed by [`tools`]; it has none yet, and its derived documents say so.

use std::sync::Arc;

use clu_core::registry::{Registry, RegistryError};
use clu_core::tool::Tool;

/// Every Core Plus verb, in a fixed order.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    Vec::new()
}

/// The Core Plus tier's registry.
pub fn registry() -> Result<Registry, RegistryError> {
    Registry::new(tools())
}
