//! The Core tier of Clu and the kernel every tier builds on.
//!
//! The kernel is the [`Tool`](tool::Tool) trait, the [`Registry`](registry::Registry) of a
//! tier's tools, the [`guard`] that lets only what a tool declared leave the process, and the
//! [`Redactor`](redact::Redactor) every result passes before the model reads it. The Core
//! tier's own tools (CloudWatch, Kubernetes reads) live in [`tools`].

pub mod agent;
pub mod checks;
pub mod derive;
pub mod error;
pub mod findings;
pub mod guard;
pub mod metering;
pub mod plan;
pub mod rbac;
pub mod redact;
pub mod registry;
pub mod tool;
pub mod tools;

pub use error::{Result, ToolError};
pub use plan::{Applied, ApplyReport, Plan, PlanBody, PlanState, PlanStore, Verification};
pub use rbac::RbacRule;
pub use redact::{Redactions, Redactor};
pub use registry::{CallOutcome, Registry};
pub use tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};
