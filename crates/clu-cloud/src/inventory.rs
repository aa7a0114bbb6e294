//! The account inventory: every Cloud view that lists a kind of resource, run concurrently
//! with a bound, each section timed and each failure kept as that section's error.
//!
//! A section is one listing tool called by name with a fixed input, so the inventory reads
//! exactly what the views read and needs no permission of its own beyond theirs. A library
//! program calls [`inventory`] with a [`Cloud`](crate::Cloud): every section then goes through
//! the registry and its guard as a call of its own tool. The `cloud_inventory` tool runs the
//! same sections inside its one invocation, so the guard holds them to the union of the
//! sections' declarations, which is what the tool declares.
//!
//! One slow or failing service never fails the whole: a section that errs, times out or names
//! a tool this build does not have records that as its error, and the others go on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clu_core::error::{Result, ToolError};
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Every section: its name in the inventory, the tool that lists it, and the tool's input.
pub const SECTIONS: [(&str, &str); 17] = [
    ("vpcs", "ec2_describe_vpcs"),
    ("subnets", "ec2_describe_subnets"),
    ("security_groups", "ec2_describe_security_groups"),
    ("route_tables", "ec2_describe_route_tables"),
    ("nat_gateways", "ec2_describe_nat_gateways"),
    ("internet_gateways", "ec2_describe_internet_gateways"),
    ("instances", "ec2_describe_instances"),
    ("volumes", "ec2_describe_volumes"),
    ("load_balancers", "elb_describe_load_balancers"),
    ("rds_instances", "rds_describe_db_instances"),
    ("elasticache_clusters", "elasticache_describe_cache_clusters"),
    ("s3_buckets", "s3_list_buckets"),
    ("ecr_repositories", "ecr_describe_repositories"),
    ("eks_clusters", "eks_list_clusters"),
    ("secrets", "secrets_list"),
    ("iam_roles", "iam_list_roles"),
    ("network_acls", "ec2_describe_network_acls"),
];

/// Sections that make several requests in a row (one per load balancer or target group, one
/// per cluster or page), started before the others so the slowest do not begin last.
const RUN_FIRST: [&str; 4] = ["load_balancers", "eks_clusters", "iam_roles", "rds_instances"];

/// How many sections run at once unless the options say otherwise: every section. Each
/// section is one listing on its own API, and one burst of that many Describe and List calls
/// stays far inside AWS's per-account request buckets, while any lower bound makes the last
/// sections wait for the first (measured in `benches/inventory.rs`).
pub const DEFAULT_CONCURRENCY: usize = SECTIONS.len();

/// How long one section may take unless the options say otherwise.
pub const DEFAULT_SECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// How to take the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryOptions {
    /// How many sections run at once (at least one).
    pub concurrency: usize,
    /// How long one section may take before it is recorded as timed out.
    pub section_timeout: Duration,
    /// Only these sections, by name; every section when empty.
    pub sections: Vec<String>,
    /// Keep each section's full listing in [`Section::output`], not only its count.
    pub keep_output: bool,
}

impl Default for InventoryOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            section_timeout: DEFAULT_SECTION_TIMEOUT,
            sections: Vec::new(),
            keep_output: true,
        }
    }
}

/// Why one section has no listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionError {
    /// The stable error code, as in `docs/errors.md`, or `section-timeout`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// One section of the inventory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// The section's name, such as `subnets`.
    pub name: String,
    /// The tool that lists it.
    pub tool: String,
    /// How many items it listed; none when it failed.
    pub count: Option<usize>,
    /// Whether the listing stopped at its bound.
    pub truncated: bool,
    /// How long the section took, in milliseconds.
    pub elapsed_ms: u64,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SectionError>,
    /// The tool's full result, when the options keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// The whole inventory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// The sections, in the fixed order of [`SECTIONS`].
    pub sections: Vec<Section>,
    /// How long the whole inventory took, in milliseconds.
    pub elapsed_ms: u64,
    /// How many sections ran at once.
    pub concurrency: usize,
}

impl Inventory {
    /// The section of that name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// How many sections failed.
    pub fn failures(&self) -> usize {
        self.sections.iter().filter(|s| s.error.is_some()).count()
    }
}

/// Runs one listing tool by name; the inventory does not care how.
#[async_trait]
trait Caller: Sync {
    async fn call(&self, tool: &str, input: Value) -> Result<Value>;
}

#[async_trait]
impl Caller for crate::Cloud {
    async fn call(&self, tool: &str, input: Value) -> Result<Value> {
        crate::Cloud::call(self, tool, input).await
    }
}

/// Runs the section tools' code inside the running tool's own invocation and guard.
struct InPlace<'a> {
    context: &'a ToolContext,
    tools: &'a BTreeMap<&'static str, Arc<dyn Tool>>,
}

#[async_trait]
impl Caller for InPlace<'_> {
    async fn call(&self, tool: &str, input: Value) -> Result<Value> {
        let Some(found) = self.tools.get(tool) else {
            return Err(ToolError::UnknownTool { name: tool.to_owned(), suggestion: None });
        };
        found.invoke(self.context, input).await
    }
}

/// The number of items a listing holds: the length of its first top-level array.
fn count_of(output: &Value) -> Option<usize> {
    output.as_object()?.values().find_map(|v| v.as_array().map(Vec::len))
}

async fn run_section(
    caller: &dyn Caller,
    name: &str,
    tool: &str,
    options: &InventoryOptions,
) -> Section {
    let started = Instant::now();
    let outcome = tokio::time::timeout(options.section_timeout, caller.call(tool, json!({}))).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut section = Section {
        name: name.to_owned(),
        tool: tool.to_owned(),
        count: None,
        truncated: false,
        elapsed_ms,
        error: None,
        output: None,
    };
    match outcome {
        Ok(Ok(output)) => {
            section.count = count_of(&output);
            section.truncated = output.get("truncated").and_then(Value::as_bool).unwrap_or(false);
            if options.keep_output {
                section.output = Some(output);
            }
        }
        Ok(Err(error)) => {
            section.error =
                Some(SectionError { code: error.code().to_owned(), message: error.to_string() });
        }
        Err(_) => {
            section.error = Some(SectionError {
                code: "section-timeout".to_owned(),
                message: format!(
                    "`{tool}` took longer than {}s",
                    options.section_timeout.as_secs_f64()
                ),
            });
        }
    }
    section
}

async fn indexed(
    index: usize,
    caller: &dyn Caller,
    name: &'static str,
    tool: &'static str,
    options: &InventoryOptions,
) -> (usize, Section) {
    (index, run_section(caller, name, tool, options).await)
}

async fn take(caller: &dyn Caller, options: &InventoryOptions) -> Inventory {
    let started = Instant::now();
    let concurrency = options.concurrency.max(1);
    let mut chosen: Vec<(usize, &'static str, &'static str)> = SECTIONS
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| {
            options.sections.is_empty() || options.sections.iter().any(|s| s == name)
        })
        .map(|(index, (name, tool))| (index, *name, *tool))
        .collect();
    chosen.sort_by_key(|(index, name, _)| (!RUN_FIRST.contains(name), *index));
    let mut pending = Vec::with_capacity(chosen.len());
    for (index, name, tool) in chosen {
        pending.push(indexed(index, caller, name, tool, options));
    }
    let mut sections: Vec<(usize, Section)> =
        futures::stream::iter(pending).buffer_unordered(concurrency).collect().await;
    sections.sort_by_key(|(index, _)| *index);
    Inventory {
        sections: sections.into_iter().map(|(_, section)| section).collect(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        concurrency,
    }
}

/// Takes the inventory of the account and region of `cloud`: every section concurrently, at
/// most `options.concurrency` at once. Never fails as a whole; see [`Section::error`].
pub async fn inventory(cloud: &crate::Cloud, options: &InventoryOptions) -> Inventory {
    take(cloud, options).await
}

impl crate::Cloud {
    /// The account inventory; see [`inventory`](crate::inventory::inventory).
    pub async fn inventory(&self, options: &InventoryOptions) -> Inventory {
        take(self, options).await
    }
}

/// Input of `cloud_inventory`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryInput {
    /// Only these sections (such as `subnets`, `load_balancers`, `rds_instances`); every
    /// section when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<String>,
}

/// Counts every kind of resource in the account and region.
pub struct CloudInventory {
    spec: ToolSpec,
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
    options: InventoryOptions,
}

/// The listing tools of the tier, from the modules that define them; the inventory is not
/// among them, so building it does not recurse.
fn section_tools() -> BTreeMap<&'static str, Arc<dyn Tool>> {
    let wanted: Vec<&str> = SECTIONS.iter().map(|(_, tool)| *tool).collect();
    [
        crate::iam::tools(),
        crate::eks::tools(),
        crate::managed::tools(),
        crate::s3::tools(),
        crate::ecr::tools(),
        crate::secrets::tools(),
        crate::network::tools(),
        crate::elb::tools(),
    ]
    .into_iter()
    .flatten()
    .filter(|tool| wanted.contains(&tool.spec().name))
    .map(|tool| (tool.spec().name, tool))
    .collect()
}

impl CloudInventory {
    /// The tool, with the default options and without the sections' full listings.
    pub fn new() -> Self {
        let options = InventoryOptions { keep_output: false, ..InventoryOptions::default() };
        Self::with_options(options)
    }

    /// The tool with `options`; the model may still narrow the sections.
    pub fn with_options(options: InventoryOptions) -> Self {
        let tools = section_tools();
        let iam = tools.values().flat_map(|tool| tool.spec().permissions.iam.clone()).collect();
        Self {
            spec: ToolSpec::new::<InventoryInput>(
                "cloud_inventory",
                "Count every kind of resource in the account and region at once: VPCs, \
                 subnets, security groups, route tables, NAT and internet gateways, network \
                 ACLs, instances, EBS volumes, load balancers, RDS instances, ElastiCache \
                 clusters, S3 buckets, ECR repositories, EKS clusters, secrets and IAM roles, \
                 each with how long it took and its error if it failed. Use it first to get a \
                 picture of an account, then the specific views for details.",
                Tier::Cloud,
                Risk::Read,
                Permissions { iam, rbac: vec![] },
            ),
            tools,
            options,
        }
    }
}

impl Default for CloudInventory {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for CloudInventory {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: InventoryInput = context.parse_input(input)?;
        if let Some(unknown) =
            input.sections.iter().find(|s| !SECTIONS.iter().any(|(name, _)| name == s))
        {
            let known: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
            return Err(ToolError::invalid_input(
                context.tool(),
                format!("no inventory section `{unknown}`; the sections are {}", known.join(", ")),
            ));
        }
        let options = InventoryOptions { sections: input.sections, ..self.options.clone() };
        let caller = InPlace { context, tools: &self.tools };
        let inventory = take(&caller, &options).await;
        serde_json::to_value(inventory)
            .map_err(|e| ToolError::failed(context.tool(), e.to_string()))
    }
}

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(CloudInventory::new())]
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers every tool after a pause, counting how many calls are in flight at once.
    struct Counting {
        in_flight: AtomicUsize,
        most: AtomicUsize,
        calls: Mutex<Vec<String>>,
        pause: Duration,
    }

    impl Counting {
        fn new(pause: Duration) -> Self {
            Self {
                in_flight: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                calls: Mutex::new(Vec::new()),
                pause,
            }
        }
    }

    #[async_trait]
    impl Caller for Counting {
        async fn call(&self, tool: &str, input: Value) -> Result<Value> {
            assert_eq!(input, json!({}));
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.calls.lock().unwrap().push(tool.to_owned());
            let pause = if tool == "eks_list_clusters" { self.pause * 20 } else { self.pause };
            tokio::time::sleep(pause).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            match tool {
                "s3_list_buckets" => Err(ToolError::failed(tool, "the bucket listing broke")),
                "secrets_list" => {
                    Err(ToolError::UnknownTool { name: tool.to_owned(), suggestion: None })
                }
                _ => Ok(json!({"items": [1, 2, 3], "truncated": tool == "ec2_describe_subnets"})),
            }
        }
    }

    #[tokio::test]
    async fn sections_run_concurrently_within_the_bound_and_keep_their_order() {
        let caller = Counting::new(Duration::from_millis(20));
        let options = InventoryOptions { concurrency: 3, ..InventoryOptions::default() };
        let inventory = take(&caller, &options).await;

        assert_eq!(caller.most.load(Ordering::SeqCst), 3);
        let started: Vec<String> = caller.calls.lock().unwrap()[..2].to_vec();
        assert_eq!(started, ["elb_describe_load_balancers", "rds_describe_db_instances"]);
        assert_eq!(caller.calls.lock().unwrap().len(), SECTIONS.len());
        let names: Vec<&str> = inventory.sections.iter().map(|s| s.name.as_str()).collect();
        let expected: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, expected);
        assert_eq!(inventory.concurrency, 3);
        let vpcs = inventory.section("vpcs").unwrap();
        assert_eq!((vpcs.count, vpcs.truncated, vpcs.error.is_none()), (Some(3), false, true));
        assert!(inventory.section("subnets").unwrap().truncated);
        assert!(vpcs.elapsed_ms >= 20, "{vpcs:?}");
    }

    #[tokio::test]
    async fn a_failing_timed_out_or_unknown_section_is_recorded_and_the_rest_go_on() {
        let caller = Counting::new(Duration::from_millis(10));
        let options = InventoryOptions {
            concurrency: 16,
            section_timeout: Duration::from_millis(100),
            ..InventoryOptions::default()
        };
        let inventory = take(&caller, &options).await;

        let error = |name: &str| inventory.section(name).unwrap().error.clone().unwrap();
        assert_eq!(error("s3_buckets").code, "tool-failed");
        assert_eq!(
            error("s3_buckets").message,
            "tool `s3_list_buckets` failed: the bucket listing broke"
        );
        assert_eq!(error("secrets").code, "unknown-tool");
        assert_eq!(error("eks_clusters").code, "section-timeout");
        assert_eq!(error("eks_clusters").message, "`eks_list_clusters` took longer than 0.1s");
        assert_eq!(inventory.failures(), 3);
        assert_eq!(inventory.section("volumes").unwrap().count, Some(3));
        assert!(inventory.elapsed_ms < 1000, "{}", inventory.elapsed_ms);
    }

    #[tokio::test]
    async fn only_the_chosen_sections_run_and_output_is_kept_or_dropped() {
        let caller = Counting::new(Duration::from_millis(1));
        let options = InventoryOptions {
            sections: vec!["volumes".to_owned(), "vpcs".to_owned()],
            keep_output: false,
            ..InventoryOptions::default()
        };
        let inventory = take(&caller, &options).await;
        let names: Vec<&str> = inventory.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["vpcs", "volumes"]);
        assert!(inventory.sections.iter().all(|s| s.output.is_none()));

        let options =
            InventoryOptions { sections: vec!["vpcs".to_owned()], ..InventoryOptions::default() };
        let inventory = take(&caller, &options).await;
        assert_eq!(
            inventory.sections[0].output,
            Some(json!({"items": [1, 2, 3], "truncated": false}))
        );
    }

    #[test]
    fn a_count_is_the_length_of_the_first_list() {
        assert_eq!(count_of(&json!({"truncated": false, "vpcs": [1, 2]})), Some(2));
        assert_eq!(count_of(&json!({"roles": [], "other": [1]})), Some(0));
        assert_eq!(count_of(&json!({"message": "none"})), None);
        assert_eq!(count_of(&json!([1, 2])), None);
    }
}
