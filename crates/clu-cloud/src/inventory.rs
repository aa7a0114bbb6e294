//! FIXME(in progress): module being written.

use std::sync::Arc;

use clu_core::tool::Tool;

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    Vec::new()
}
