//! The in-cluster service of Clu, behind `clu-agent serve`.
//!
//! - An HTTP API ([`api`](crate::api)): investigations streamed as server-sent events, the
//!   tools and direct calls of them, and the latest scheduled findings.
//! - An MCP endpoint at `/mcp` over the same registry, so MCP clients call the same guarded,
//!   redacted and audited tools.
//! - Bearer-token or Kubernetes TokenReview authentication, a bound on in-flight work that
//!   answers 429 instead of queueing, readiness gates, Prometheus metrics, and graceful
//!   shutdown.
//! - Scheduled scans ([`scan`]) on the replica elected by a Lease ([`lease`]).
//!
//! [`serve`] runs it all from a [`ServiceConfig`]; the binary only builds that and maps the
//! outcome to an exit code.

mod api;
mod auth;
pub mod error;
pub mod lease;
mod mcp;
mod metrics;
mod readiness;
pub mod scan;
mod service;
pub mod settings;

pub use error::{ApiError, Result, ServeError};
pub use lease::{LeaderElector, holder_identity};
pub use scan::{ScanContext, ScanReport, ScanSource, ToolScan};
pub use service::{
    METERING_GATE, PREFLIGHT_GATE, REGISTRY_GATE, ServiceConfig, bind, serve, shutdown_signal,
};
pub use settings::{AuthSettings, LeaseSettings, PreflightSettings, ScanSettings, ServeSettings};
