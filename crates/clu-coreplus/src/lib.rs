//! The Core Plus tier of Clu: write verbs on the cluster behind a dry-run plan and an approval.
//!
//! Enabled by the `coreplus` feature of the agent and `modules.corePlus.enabled` at run time.
//! Every verb is a [`Risk::Write`](clu_core::Risk) (or destructive) tool: its call makes a plan
//! with a server-side dry-run (`dryRun=All`) and a diff of the live against the planned state,
//! which the kernel in [`clu_core::plan`] stores until a human approves it; the approved apply
//! verifies its effect (a rollout's progress) and offers its undo as a new plan.
//!
//! Its authority is granted in the cluster by the writer ClusterRole, derived from the verbs'
//! RBAC rules; it needs no IAM permission.

pub mod common;
pub mod endpoint;
pub mod helm;
pub mod nodes;
pub mod objects;
pub mod workloads;

use std::sync::Arc;

use clu_core::registry::{Registry, RegistryError};
use clu_core::tool::Tool;

/// Every Core Plus verb, in a fixed order.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(objects::K8sApply::new()),
        Arc::new(workloads::K8sScale::new()),
        Arc::new(workloads::K8sRestartRollout::new()),
        Arc::new(workloads::K8sRolloutUndo::new()),
        Arc::new(objects::K8sDelete::new()),
        Arc::new(nodes::K8sCordon::cordon()),
        Arc::new(nodes::K8sCordon::uncordon()),
        Arc::new(helm::HelmRelease::install()),
        Arc::new(helm::HelmRelease::upgrade()),
        Arc::new(helm::HelmRollback::new()),
        Arc::new(helm::HelmUninstall::new()),
    ]
}

/// The Core Plus tier's registry.
pub fn registry() -> Result<Registry, RegistryError> {
    Registry::new(tools())
}
