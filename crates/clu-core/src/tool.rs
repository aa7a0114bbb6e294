//! The tool trait: what a tool is, what it declares, and the context it runs in.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use clu_policy::{Action, ArnContext, Grant};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, ToolError};
use crate::guard::{Invocation, Recorder, aws::AwsGuard};
use crate::plan::{Applied, ApprovalPolicy, Clock, PlanError, PlanStore, SharedClock};
use crate::rbac::RbacRule;

/// A tier of Clu: a crate with its own registry, enabled by a cargo feature and a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Tier {
    /// Always on: Bedrock, CloudWatch, metering and Kubernetes reads.
    Core,
    /// Read-only views of the AWS account, plus EKS addon management behind approval.
    Cloud,
    /// Write verbs on the cluster behind a dry-run plan and a human approval.
    CorePlus,
}

impl Tier {
    /// Every tier, in the order their documents are attached.
    pub const ALL: [Tier; 3] = [Tier::Core, Tier::Cloud, Tier::CorePlus];

    /// The tier's name in files and flags: `core`, `cloud`, `coreplus`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Core => "core",
            Tier::Cloud => "cloud",
            Tier::CorePlus => "coreplus",
        }
    }

    /// The tier's name in prose and Sids: `Core`, `Cloud`, `CorePlus`.
    pub fn title(self) -> &'static str {
        match self {
            Tier::Core => "Core",
            Tier::Cloud => "Cloud",
            Tier::CorePlus => "CorePlus",
        }
    }

    /// Parses a tier name as [`Tier::as_str`] gives it.
    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|tier| tier.as_str() == name)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much harm a tool can do, which decides whether it needs an approved plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Risk {
    /// Reads only.
    Read,
    /// Changes something that can be changed back.
    Write,
    /// Removes something.
    Destructive,
}

impl Risk {
    /// Whether a tool of this risk is a write verb: its call makes a plan, and only an
    /// approved plan changes anything.
    pub fn is_write(self) -> bool {
        self != Risk::Read
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Read => "read",
            Risk::Write => "write",
            Risk::Destructive => "destructive",
        })
    }
}

/// What a tool may do: the IAM grants and Kubernetes RBAC rules it declares.
///
/// This declaration is the single source of the derived IAM documents and ClusterRoles, and
/// the guard refuses at run time anything it does not cover.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// IAM grants.
    pub iam: Vec<Grant>,
    /// Kubernetes RBAC rules.
    pub rbac: Vec<RbacRule>,
}

impl Permissions {
    /// Every IAM action the tool declares.
    pub fn actions(&self) -> BTreeSet<Action> {
        self.iam.iter().flat_map(|grant| grant.actions.iter().cloned()).collect()
    }

    /// The rendered resources the tool declares for `action`, joined for a message.
    pub fn resources_for(&self, action: &Action, context: &ArnContext) -> String {
        let resources: BTreeSet<String> = self
            .iam
            .iter()
            .filter(|grant| grant.actions.contains(action))
            .flat_map(|grant| grant.resources.iter().map(|r| r.render(context)))
            .collect();
        if resources.is_empty() {
            "*".to_owned()
        } else {
            resources.into_iter().collect::<Vec<_>>().join("`, `")
        }
    }
}

/// The fixed description of a tool, computed once when the tool is built.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    /// A unique snake_case name, which the model calls.
    pub name: &'static str,
    /// What the tool does and when to use it, for the model and the operator.
    pub description: &'static str,
    /// The tier the tool belongs to.
    pub tier: Tier,
    /// How much harm it can do.
    pub risk: Risk,
    /// The JSON schema of its input.
    pub input_schema: Value,
    /// What it may do.
    pub permissions: Permissions,
    /// Whether the model is offered the tool. The agent's own calls to AWS (Bedrock inference,
    /// Marketplace metering) are internal tools: declared, guarded, audited and derived into
    /// the IAM documents like any other, but never offered to the model.
    pub offered_to_model: bool,
}

impl ToolSpec {
    /// A spec whose input schema is derived from `I`.
    pub fn new<I: schemars::JsonSchema>(
        name: &'static str,
        description: &'static str,
        tier: Tier,
        risk: Risk,
        permissions: Permissions,
    ) -> Self {
        Self {
            name,
            description,
            tier,
            risk,
            input_schema: input_schema::<I>(),
            permissions,
            offered_to_model: true,
        }
    }

    /// Whether a call makes a plan that waits for an approval: a write verb offered to the
    /// model. The agent's own internal calls (Marketplace metering) are writes it makes by
    /// itself under its declaration, never proposed changes.
    pub fn needs_approval(&self) -> bool {
        self.risk.is_write() && self.offered_to_model
    }

    /// Marks the tool as the agent's own, not offered to the model.
    pub fn internal(mut self) -> Self {
        self.offered_to_model = false;
        self
    }
}

/// The JSON schema of a tool input type, inlined so the model sees one self-contained object.
pub fn input_schema<I: schemars::JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<I>();
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    value
}

/// One tool: a declaration and the code that does the work.
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// The tool's fixed description.
    fn spec(&self) -> &ToolSpec;

    /// Runs the tool. `input` has already been validated against the spec's schema.
    ///
    /// A write verb (risk other than [`Risk::Read`]) changes nothing here: it returns a
    /// [`PlanBody`](crate::plan::PlanBody) made with a server-side dry-run, which the registry
    /// stores as a plan for a human to approve.
    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value>;

    /// Applies an approved plan's input; only write verbs have something to apply. The
    /// registry calls it after repeating [`Tool::invoke`] and finding the same diff.
    async fn apply(&self, context: &ToolContext, input: Value) -> Result<Applied> {
        let _ = (context, input);
        Err(PlanError::NotAWriteVerb { tool: self.spec().name.to_owned() }.into())
    }
}

/// What every tool call shares: the AWS configuration, the cluster client, where it runs.
#[derive(Clone, Default)]
pub struct ToolEnv {
    /// The AWS configuration, when the agent has one.
    pub aws: Option<aws_types::SdkConfig>,
    /// The unguarded Kubernetes client; tools only ever see a guarded one.
    pub kube: Option<kube::Client>,
    /// The partition, region, account and cluster, for rendering resource templates.
    pub arn_context: ArnContext,
    /// Collects what tools really used, in tests that prove declarations.
    pub recorder: Option<Recorder>,
    /// Where write verbs' plans are kept; without one, calling a write verb fails.
    pub plans: Option<Arc<dyn PlanStore>>,
    /// Who may approve what, and for how long a plan can be approved.
    pub approvals: ApprovalPolicy,
    /// The time of plans and approvals, and of verbs' polling.
    pub clock: SharedClock,
}

impl fmt::Debug for ToolEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolEnv")
            .field("aws", &self.aws.as_ref().map(|c| c.region().map(|r| r.to_string())))
            .field("kube", &self.kube.as_ref().map(|c| c.default_namespace().to_owned()))
            .field("arn_context", &self.arn_context)
            .field("recording", &self.recorder.is_some())
            .field("plans", &self.plans.is_some())
            .field("approvals", &self.approvals)
            .finish()
    }
}

/// The context of one tool call: the only way a tool reaches AWS or the cluster.
pub struct ToolContext {
    pub(crate) env: Arc<ToolEnv>,
    pub(crate) invocation: Arc<Invocation>,
}

impl ToolContext {
    /// The running tool's name.
    pub fn tool(&self) -> &'static str {
        self.invocation.tool
    }

    /// Where the agent runs.
    pub fn arn_context(&self) -> &ArnContext {
        &self.env.arn_context
    }

    /// The clock a verb polls with, so tests of waiting need not sleep.
    pub fn clock(&self) -> &dyn Clock {
        self.env.clock.get()
    }

    /// Deserializes the (already schema-checked) input into the tool's input type.
    pub fn parse_input<T: DeserializeOwned>(&self, input: Value) -> Result<T> {
        serde_json::from_value(input)
            .map_err(|e| ToolError::invalid_input(self.tool(), e.to_string()))
    }

    /// The AWS configuration and this call's guard; use [`aws_client!`](crate::aws_client).
    #[doc(hidden)]
    pub fn aws_parts(&self) -> Result<(&aws_types::SdkConfig, AwsGuard)> {
        let config = self.env.aws.as_ref().ok_or_else(|| ToolError::NotConfigured {
            tool: self.tool().to_owned(),
            what: "an AWS configuration".into(),
        })?;
        Ok((config, AwsGuard::new(self.invocation.clone())))
    }

    /// A Kubernetes client that refuses any request this tool's RBAC rules do not cover.
    pub fn kube(&self) -> Result<kube::Client> {
        let base = self.env.kube.as_ref().ok_or_else(|| ToolError::NotConfigured {
            tool: self.tool().to_owned(),
            what: "a Kubernetes client".into(),
        })?;
        Ok(crate::guard::kube::guarded_client(base.clone(), self.invocation.clone()))
    }

    /// Turns an AWS SDK error into a [`ToolError`] that names the missing permission.
    pub fn aws_error<E>(&self, error: crate::guard::aws::SdkError<E>) -> ToolError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        crate::guard::aws::map_sdk_error(self, error)
    }

    /// Turns a kube error into a [`ToolError`].
    pub fn kube_error(&self, error: kube::Error) -> ToolError {
        crate::guard::kube::map_kube_error(self.tool(), error)
    }
}

/// Builds an AWS SDK client whose every call passes the running tool's permission guard.
///
/// This is the only way code in the workspace constructs an AWS client; a test holds that no
/// other `Client::from_conf` or `Client::new` exists.
///
/// ```ignore
/// let logs = clu_core::aws_client!(context, aws_sdk_cloudwatchlogs)?;
/// let s3 = clu_core::aws_client!(context, aws_sdk_s3, |b| b.force_path_style(true))?;
/// ```
#[macro_export]
macro_rules! aws_client {
    ($context:expr, $sdk:ident) => {
        $crate::aws_client!($context, $sdk, |builder| builder)
    };
    ($context:expr, $sdk:ident, $customize:expr) => {
        $context.aws_parts().map(|(sdk_config, guard)| {
            let builder = $sdk::config::Builder::from(sdk_config).interceptor(guard);
            let customize = $customize;
            $sdk::Client::from_conf(customize(builder).build())
        })
    };
}
