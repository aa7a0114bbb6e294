//! The Cloud tier of Clu: read-only views of the AWS account around an EKS cluster.
//!
//! Enabled by the `cloud` feature of the agent and `modules.cloud.enabled` at run time. Every
//! view is a [`Tool`] with its IAM grants declared beside its code; [`tools`] lists them and
//! `cargo xtask policy` derives the tier's IAM document from them. The one write statement of
//! the tier is EKS addon management, which never runs without an approved plan.
//!
//! # As a library
//!
//! [`Cloud`] runs the same views from any Rust program, given an [`aws_types::SdkConfig`]. Each
//! call passes the same permission guard as in the agent, so a program embedding the views
//! needs exactly the IAM actions the views declare, and gets the same compact, redacted
//! results.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let cloud = clu_cloud::Cloud::new(&config);
//! let roles = cloud.call("iam_list_roles", serde_json::json!({})).await?;
//! println!("{roles:#}");
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use clu_core::error::ToolError;
use clu_core::registry::{Registry, RegistryError};
use clu_core::tool::{Tool, ToolEnv};
use clu_policy::ArnContext;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod common;

pub mod addons;
pub mod cost;
pub mod ecr;
pub mod eks;
pub mod elb;
pub mod iam;
pub mod inventory;
pub mod managed;
pub mod network;
pub mod prices;
pub mod reachability;
pub mod s3;
pub mod savings;
pub mod secrets;

/// Every Cloud tool, in a fixed order.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    [
        iam::tools(),
        eks::tools(),
        managed::tools(),
        s3::tools(),
        ecr::tools(),
        secrets::tools(),
        network::tools(),
        reachability::tools(),
        elb::tools(),
        savings::tools(),
        cost::tools(),
        inventory::tools(),
        addons::tools(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The Cloud tier's registry.
pub fn registry() -> Result<Registry, RegistryError> {
    Registry::new(tools())
}

/// The Cloud views as a library: every call goes through the tier's registry and its guard.
#[derive(Clone)]
pub struct Cloud {
    registry: Arc<Registry>,
    env: Arc<ToolEnv>,
}

impl Cloud {
    /// The views over one AWS configuration; resources are scoped to its region.
    pub fn new(config: &aws_types::SdkConfig) -> Self {
        let arn_context = ArnContext {
            region: config.region().map_or_else(|| "*".to_owned(), ToString::to_string),
            ..ArnContext::default()
        };
        Self::with_arn_context(config, arn_context)
    }

    /// The views with an explicit partition, region, account and cluster for resource ARNs.
    pub fn with_arn_context(config: &aws_types::SdkConfig, arn_context: ArnContext) -> Self {
        let registry = registry().unwrap_or_else(|error| {
            unreachable!("the Cloud registry is checked by tests: {error}")
        });
        let env = ToolEnv { aws: Some(config.clone()), arn_context, ..ToolEnv::default() };
        Self { registry: Arc::new(registry), env: Arc::new(env) }
    }

    /// The registry the views run through.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs one view by tool name with a JSON input, as the agent would.
    pub async fn call(&self, tool: &str, input: Value) -> Result<Value, ToolError> {
        self.registry.call(&self.env, tool, input).await.result
    }

    /// Runs one view with a typed input and deserializes its result.
    pub async fn call_typed<I: Serialize, O: DeserializeOwned>(
        &self,
        tool: &str,
        input: &I,
    ) -> Result<O, ToolError> {
        let input = serde_json::to_value(input)
            .map_err(|e| ToolError::invalid_input(tool, e.to_string()))?;
        let output = self.call(tool, input).await?;
        serde_json::from_value(output).map_err(|e| ToolError::failed(tool, e.to_string()))
    }
}
