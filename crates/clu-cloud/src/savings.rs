//! Savings detectors: deterministic findings of money spent on nothing, each with a monthly
//! USD estimate from the dated [`PriceTable`].
//!
//! [`detect`] is a pure function over the volumes and load balancers the views collect, so the
//! `scan` command runs it without a model and a test runs it without AWS. The detectors:
//! unattached EBS volumes (their whole cost), gp2 volumes that would cost less as gp3 at the
//! same baseline performance (the difference), load balancers with no listener, no
//! registered target or no healthy target (their hourly charge), and target groups with no
//! target (free in themselves, so estimated at zero, but a sign of a forgotten deployment).

use std::sync::Arc;

use async_trait::async_trait;
use clu_core::error::{Result, ToolError};
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::elb::{self, LoadBalancers};
use crate::network::{self, Query, Volume};
use crate::prices::{HOURS_PER_MONTH, PriceTable, RegionPrices, round_cents};

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SavingsKind {
    /// An EBS volume attached to nothing.
    UnattachedVolume,
    /// A gp2 volume that would cost less as gp3.
    Gp2Volume,
    /// A load balancer with no listener: it cannot receive traffic.
    LoadBalancerWithoutListeners,
    /// A load balancer whose target groups have no registered target.
    LoadBalancerWithoutTargets,
    /// A load balancer none of whose targets is healthy.
    LoadBalancerWithoutHealthyTargets,
    /// A target group with no registered target.
    TargetGroupWithoutTargets,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavingsFinding {
    /// What it is about.
    pub kind: SavingsKind,
    /// The volume id or load balancer / target group ARN.
    pub resource: String,
    /// The resource's name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The estimated monthly saving in USD.
    pub monthly_usd: f64,
    /// What was found and how the estimate was made.
    pub detail: String,
    /// What to do about it.
    pub action: String,
}

/// Every finding with their total and the prices they used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavingsReport {
    /// The findings, the largest saving first.
    pub findings: Vec<SavingsFinding>,
    /// The sum of the findings' estimates.
    pub total_monthly_usd: f64,
    /// The currency of every estimate.
    pub currency: String,
    /// When the prices were taken.
    pub prices_as_of: String,
    /// The region whose prices were used; differs from `region` when the table has none for it.
    pub priced_as: String,
    /// The region scanned.
    pub region: String,
    /// Whether the scan saw only part of the volumes or load balancers (a bound was reached).
    pub inputs_truncated: bool,
}

/// gp2's baseline IOPS: three per GiB, at least 100, at most 16,000.
fn gp2_baseline_iops(size_gib: i64) -> i64 {
    (size_gib * 3).clamp(100, 16_000)
}

/// gp2's throughput: 128 MiB/s up to 170 GiB, 250 MiB/s above (AWS's published limits,
/// rounded to gp3's granularity).
fn gp2_throughput(size_gib: i64) -> i64 {
    if size_gib > 170 { 250 } else { 125 }
}

fn volume_findings(volume: &Volume, prices: &RegionPrices, findings: &mut Vec<SavingsFinding>) {
    let volume_type = volume.volume_type.as_deref().unwrap_or("unknown");
    let unattached = volume.attached_to.is_empty() && volume.state.as_deref() == Some("available");
    if unattached {
        let cost =
            prices.ebs_volume_month(volume_type, volume.size_gib, volume.iops, volume.throughput);
        let detail = match cost {
            Some(cost) => format!(
                "{} GiB {volume_type} volume attached to nothing, costing about ${cost:.2} a month",
                volume.size_gib
            ),
            None => format!(
                "{} GiB {volume_type} volume attached to nothing; the price table has no price \
                 for {volume_type}",
                volume.size_gib
            ),
        };
        findings.push(SavingsFinding {
            kind: SavingsKind::UnattachedVolume,
            resource: volume.id.clone(),
            name: volume.name.clone(),
            monthly_usd: cost.unwrap_or(0.0),
            detail,
            action: "snapshot the volume if its data matters, then delete it".to_owned(),
        });
        return;
    }
    if volume_type != "gp2" {
        return;
    }
    let size = volume.size_gib;
    let iops = gp2_baseline_iops(size);
    let throughput = gp2_throughput(size);
    let (Some(as_gp2), Some(as_gp3)) = (
        prices.ebs_volume_month("gp2", size, Some(iops), None),
        prices.ebs_volume_month("gp3", size, Some(iops.max(3000)), Some(throughput)),
    ) else {
        return;
    };
    let saving = round_cents(as_gp2 - as_gp3);
    if saving <= 0.0 {
        return;
    }
    findings.push(SavingsFinding {
        kind: SavingsKind::Gp2Volume,
        resource: volume.id.clone(),
        name: volume.name.clone(),
        monthly_usd: saving,
        detail: format!(
            "{size} GiB gp2 volume costs ${as_gp2:.2} a month; as gp3 with the same {iops} IOPS \
             and {throughput} MiB/s it would cost ${as_gp3:.2}"
        ),
        action: format!(
            "modify the volume to gp3 (online, no detach) with {} IOPS and {throughput} MiB/s",
            iops.max(3000)
        ),
    });
}

fn load_balancer_findings(
    balancers: &LoadBalancers,
    prices: &RegionPrices,
    findings: &mut Vec<SavingsFinding>,
) {
    for lb in &balancers.load_balancers {
        let kind_name = lb.kind.as_deref().unwrap_or("application");
        let hourly = prices.load_balancer_hour(kind_name);
        let monthly = hourly.map_or(0.0, |h| round_cents(h * HOURS_PER_MONTH));
        let priced = hourly.map_or_else(
            || format!("the price table has no hourly price for {kind_name} load balancers"),
            |h| format!("${h} an hour, about ${monthly:.2} a month before usage charges"),
        );
        let targets: usize = lb.target_groups.iter().map(|g| g.targets.len()).sum();
        let healthy: usize = lb.target_groups.iter().map(|g| g.healthy).sum();
        let (kind, what, action) = if lb.listeners.is_empty() {
            (
                SavingsKind::LoadBalancerWithoutListeners,
                "has no listener, so it cannot receive traffic".to_owned(),
                "delete the load balancer, or add the listener it was meant to have",
            )
        } else if targets == 0 {
            (
                SavingsKind::LoadBalancerWithoutTargets,
                format!(
                    "has {} listener(s) but no registered target in {} target group(s)",
                    lb.listeners.len(),
                    lb.target_groups.len()
                ),
                "delete the load balancer if its Service or Ingress is gone, or register targets",
            )
        } else if healthy == 0 {
            (
                SavingsKind::LoadBalancerWithoutHealthyTargets,
                format!("has {targets} registered target(s), none healthy"),
                "fix the targets' health checks, or delete the load balancer if it is unused",
            )
        } else {
            continue;
        };
        findings.push(SavingsFinding {
            kind,
            resource: lb.arn.clone(),
            name: Some(lb.name.clone()),
            monthly_usd: monthly,
            detail: format!("{kind_name} load balancer {} {what}; {priced}", lb.name),
            action: action.to_owned(),
        });
    }

    let groups = balancers
        .load_balancers
        .iter()
        .flat_map(|lb| lb.target_groups.iter())
        .chain(balancers.unattached_target_groups.iter());
    let mut seen = std::collections::BTreeSet::new();
    for group in groups {
        if !group.targets.is_empty() || !seen.insert(group.arn.clone()) {
            continue;
        }
        let attached = if group.load_balancer_arns.is_empty() {
            "is attached to no load balancer and "
        } else {
            ""
        };
        findings.push(SavingsFinding {
            kind: SavingsKind::TargetGroupWithoutTargets,
            resource: group.arn.clone(),
            name: Some(group.name.clone()),
            monthly_usd: 0.0,
            detail: format!(
                "target group {} {attached}has no registered target; target groups carry no \
                 charge of their own",
                group.name
            ),
            action: "delete the target group if nothing registers targets in it".to_owned(),
        });
    }
}

/// Runs every detector over what the views collected. Deterministic: the same inputs and
/// table give the same report.
pub fn detect(
    volumes: &[Volume],
    balancers: &LoadBalancers,
    prices: &PriceTable,
    region: &str,
) -> SavingsReport {
    let chosen = prices.for_region(region);
    let mut findings = Vec::new();
    for volume in volumes {
        volume_findings(volume, chosen.region, &mut findings);
    }
    load_balancer_findings(balancers, chosen.region, &mut findings);
    findings.sort_by(|a, b| {
        b.monthly_usd
            .total_cmp(&a.monthly_usd)
            .then(a.kind.cmp(&b.kind))
            .then(a.resource.cmp(&b.resource))
    });
    let total = round_cents(findings.iter().map(|f| f.monthly_usd).sum());
    SavingsReport {
        findings,
        total_monthly_usd: total,
        currency: prices.currency.clone(),
        prices_as_of: prices.as_of.clone(),
        priced_as: chosen.priced_as.to_owned(),
        region: region.to_owned(),
        inputs_truncated: balancers.truncated,
    }
}

/// Input of `savings_scan`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SavingsScanInput {
    /// Read at most this many volumes and this many load balancers (default 1000 and 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub limit: Option<u32>,
}

/// Runs every savings detector over the account's region.
pub struct SavingsScan {
    spec: ToolSpec,
    prices: Arc<PriceTable>,
}

impl SavingsScan {
    /// The tool, estimating with the embedded price table.
    pub fn new() -> Self {
        Self::with_prices(PriceTable::embedded())
    }

    /// The tool, estimating with `prices`.
    pub fn with_prices(prices: PriceTable) -> Self {
        let permissions = Permissions {
            iam: vec![network::ec2_describe(&["ec2:DescribeVolumes"]), elb::elb_describe()],
            rbac: vec![],
        };
        Self {
            spec: ToolSpec::new::<SavingsScanInput>(
                "savings_scan",
                "Find money spent on nothing in the region: unattached EBS volumes, gp2 volumes \
                 cheaper as gp3, load balancers with no listener, no target or no healthy \
                 target, and target groups with no target. Each finding has a monthly USD \
                 estimate from a dated price table (its date is in the output) and what to do; \
                 the total is given. Use it for cost questions and clean-up after \
                 decommissioned workloads.",
                Tier::Cloud,
                Risk::Read,
                permissions,
            ),
            prices: Arc::new(prices),
        }
    }
}

impl Default for SavingsScan {
    fn default() -> Self {
        Self::new()
    }
}

/// The region a tool call is scoped to: the agent's, or its SDK configuration's.
pub(crate) fn region_of(context: &ToolContext) -> String {
    let region = &context.arn_context().region;
    if region != "*" && !region.is_empty() {
        return region.clone();
    }
    context
        .aws_parts()
        .ok()
        .and_then(|(config, _)| config.region().map(ToString::to_string))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[async_trait]
impl Tool for SavingsScan {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: SavingsScanInput = context.parse_input(input)?;
        let volume_limit = input.limit.unwrap_or(1000) as usize;
        let balancer_limit = input.limit.unwrap_or(400) as usize;

        let volumes = network::volumes(context, &Query::new(volume_limit)).await?;
        let balancers = elb::load_balancers(context, &[], balancer_limit).await?;
        let mut report = detect(&volumes.volumes, &balancers, &self.prices, &region_of(context));
        report.inputs_truncated |= volumes.truncated;
        serde_json::to_value(report).map_err(|e| ToolError::failed(context.tool(), e.to_string()))
    }
}

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(SavingsScan::new())]
}

impl crate::Cloud {
    /// Every savings finding of the region, as `savings_scan` gives them.
    pub async fn savings(&self, input: &SavingsScanInput) -> Result<SavingsReport> {
        self.call_typed("savings_scan", input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elb::{Listener, LoadBalancer, Target, TargetGroup};

    fn volume(id: &str, volume_type: &str, size: i64, attached: bool) -> Volume {
        Volume {
            id: id.to_owned(),
            name: None,
            size_gib: size,
            volume_type: Some(volume_type.to_owned()),
            iops: None,
            throughput: None,
            state: Some(if attached { "in-use" } else { "available" }.to_owned()),
            availability_zone: Some("us-east-1a".to_owned()),
            attached_to: if attached { vec!["i-1".to_owned()] } else { vec![] },
            encrypted: true,
            created: None,
        }
    }

    fn group(name: &str, targets: &[&str], healthy: usize, attached_to: &[&str]) -> TargetGroup {
        TargetGroup {
            name: name.to_owned(),
            arn: format!("arn:tg/{name}"),
            protocol: Some("HTTP".to_owned()),
            port: Some(80),
            target_type: Some("instance".to_owned()),
            vpc_id: None,
            health_check_path: None,
            load_balancer_arns: attached_to.iter().map(|s| (*s).to_owned()).collect(),
            targets: targets
                .iter()
                .map(|id| Target {
                    id: (*id).to_owned(),
                    port: Some(80),
                    state: None,
                    reason: None,
                    description: None,
                })
                .collect(),
            healthy,
            unhealthy: targets.len() - healthy,
        }
    }

    fn balancer(
        name: &str,
        kind: &str,
        listeners: usize,
        groups: Vec<TargetGroup>,
    ) -> LoadBalancer {
        LoadBalancer {
            name: name.to_owned(),
            arn: format!("arn:lb/{name}"),
            kind: Some(kind.to_owned()),
            scheme: None,
            state: Some("active".to_owned()),
            state_reason: None,
            dns_name: None,
            vpc_id: None,
            security_group_ids: vec![],
            created: None,
            listeners: (0..listeners)
                .map(|_| Listener {
                    port: Some(80),
                    protocol: Some("HTTP".to_owned()),
                    default_actions: vec![],
                })
                .collect(),
            target_groups: groups,
        }
    }

    fn kinds(report: &SavingsReport) -> Vec<(SavingsKind, &str, f64)> {
        report.findings.iter().map(|f| (f.kind, f.resource.as_str(), f.monthly_usd)).collect()
    }

    #[test]
    fn unattached_volumes_cost_their_whole_price() {
        let volumes = [volume("vol-free", "st1", 500, false), volume("vol-used", "st1", 500, true)];
        let report =
            detect(&volumes, &LoadBalancers::default(), &PriceTable::embedded(), "us-east-1");
        // 500 GiB of st1 at 0.045.
        assert_eq!(kinds(&report), [(SavingsKind::UnattachedVolume, "vol-free", 22.5)]);
        assert_eq!(report.total_monthly_usd, 22.5);
    }

    #[test]
    fn gp2_volumes_save_the_difference_to_gp3_at_equal_performance() {
        // 100 GiB: gp2 10.00, gp3 8.00 (baseline covers 300 IOPS and 128 MiB/s).
        // 2000 GiB: gp2 200.00; gp3 160.00 + 3000 IOPS over baseline * 0.005 + 125 MiB/s over
        // baseline * 0.04 = 160 + 15 + 5 = 180.00.
        let volumes = [volume("vol-small", "gp2", 100, true), volume("vol-big", "gp2", 2000, true)];
        let report =
            detect(&volumes, &LoadBalancers::default(), &PriceTable::embedded(), "us-east-1");
        assert_eq!(
            kinds(&report),
            [(SavingsKind::Gp2Volume, "vol-big", 20.0), (SavingsKind::Gp2Volume, "vol-small", 2.0)]
        );
        assert_eq!(report.total_monthly_usd, 22.0);
        assert!(
            report.findings[0].action.contains("6000 IOPS and 250 MiB/s"),
            "{:?}",
            report.findings[0]
        );
    }

    #[test]
    fn an_unattached_gp2_volume_is_counted_once() {
        let report = detect(
            &[volume("vol-1", "gp2", 100, false)],
            &LoadBalancers::default(),
            &PriceTable::embedded(),
            "us-east-1",
        );
        assert_eq!(kinds(&report), [(SavingsKind::UnattachedVolume, "vol-1", 10.0)]);
    }

    #[test]
    fn idle_load_balancers_cost_their_hours() {
        let balancers = LoadBalancers {
            load_balancers: vec![
                balancer("no-listener", "application", 0, vec![]),
                balancer(
                    "no-target",
                    "network",
                    1,
                    vec![group("empty", &[], 0, &["arn:lb/no-target"])],
                ),
                balancer(
                    "sick",
                    "application",
                    1,
                    vec![group("sick-tg", &["i-1"], 0, &["arn:lb/sick"])],
                ),
                balancer(
                    "fine",
                    "application",
                    1,
                    vec![group("fine-tg", &["i-2"], 1, &["arn:lb/fine"])],
                ),
            ],
            unattached_target_groups: vec![group("orphan", &[], 0, &[])],
            truncated: false,
            not_found: None,
        };
        let report = detect(&[], &balancers, &PriceTable::embedded(), "us-east-1");
        // 0.0225 an hour for 730 hours.
        assert_eq!(
            kinds(&report),
            [
                (SavingsKind::LoadBalancerWithoutListeners, "arn:lb/no-listener", 16.43),
                (SavingsKind::LoadBalancerWithoutTargets, "arn:lb/no-target", 16.43),
                (SavingsKind::LoadBalancerWithoutHealthyTargets, "arn:lb/sick", 16.43),
                (SavingsKind::TargetGroupWithoutTargets, "arn:tg/empty", 0.0),
                (SavingsKind::TargetGroupWithoutTargets, "arn:tg/orphan", 0.0),
            ]
        );
        assert_eq!(report.total_monthly_usd, 49.29);
        assert!(report.findings[4].detail.contains("attached to no load balancer"));
    }

    #[test]
    fn the_report_names_the_prices_it_used() {
        let report = detect(
            &[volume("vol-1", "gp2", 10, false)],
            &LoadBalancers::default(),
            &PriceTable::embedded(),
            "sa-east-1",
        );
        assert_eq!(report.prices_as_of, crate::prices::EMBEDDED_AS_OF);
        assert_eq!(report.priced_as, "us-east-1");
        assert_eq!(report.region, "sa-east-1");
        assert_eq!(report.currency, "USD");

        let report = detect(
            &[volume("vol-1", "gp2", 10, false)],
            &LoadBalancers::default(),
            &PriceTable::embedded(),
            "eu-west-1",
        );
        assert_eq!(report.priced_as, "eu-west-1");
        assert_eq!(report.total_monthly_usd, 1.1);
    }
}
