//! The Core tier's tools.

pub mod logs;

use std::sync::Arc;

use crate::registry::{Registry, RegistryError};
use crate::tool::Tool;

/// Every Core tool, in a fixed order.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(logs::DescribeLogGroups::new()),
        Arc::new(logs::DescribeLogStreams::new()),
        Arc::new(logs::InsightsQuery::new()),
        Arc::new(crate::metering::RegisterUsage::new()),
    ]
}

/// The Core tier's registry.
pub fn registry() -> Result<Registry, RegistryError> {
    Registry::new(tools())
}
