//! `savings_scan` against moto: the fixture's unattached and gp2 volumes, idle load balancers
//! and empty target groups are found and priced from the dated table.

mod net_fixtures;

use clu_cloud::prices::{EMBEDDED_AS_OF, PriceTable};
use clu_cloud::savings::{SavingsKind, SavingsReport, detect};
use clu_core::guard::Recorder;
use net_fixtures::{assert_declared_equals_used, ok, seed};
use serde_json::json;

fn finding<'a>(
    report: &'a SavingsReport,
    resource: &str,
) -> &'a clu_cloud::savings::SavingsFinding {
    report
        .findings
        .iter()
        .find(|f| f.resource == resource)
        .unwrap_or_else(|| panic!("no finding for {resource} in {report:#?}"))
}

#[tokio::test]
async fn the_scan_finds_and_prices_every_fault_of_the_fixture() {
    let world = seed("savings").await;
    let recorder = Recorder::new();
    let output = ok(&world.config, &recorder, "savings_scan", json!({})).await;
    let report: SavingsReport = serde_json::from_value(output).unwrap();

    assert_eq!(report.prices_as_of, EMBEDDED_AS_OF);
    assert_eq!(report.priced_as, "us-east-1");
    assert_eq!(report.currency, "USD");

    // 10 GiB of gp2 at 0.10, attached to nothing.
    let unattached = finding(&report, &world.unattached_volume);
    assert_eq!(unattached.kind, SavingsKind::UnattachedVolume);
    assert_eq!(unattached.monthly_usd, 1.0);

    // 500 GiB gp2 (1500 baseline IOPS, 250 MiB/s): 50.00 as gp2; as gp3 40.00 storage plus
    // 125 MiB/s over the baseline at 0.04 = 45.00.
    let gp2 = finding(&report, &world.attached_volume);
    assert_eq!(gp2.kind, SavingsKind::Gp2Volume);
    assert_eq!(gp2.monthly_usd, 5.0);

    let idle = finding(&report, &world.idle_lb_arn);
    assert_eq!(idle.kind, SavingsKind::LoadBalancerWithoutListeners);
    assert_eq!(idle.monthly_usd, 16.43);
    let empty = finding(&report, &world.no_target_lb_arn);
    assert_eq!(empty.kind, SavingsKind::LoadBalancerWithoutTargets);

    let empty_group = finding(&report, &world.empty_group_arn);
    assert_eq!(empty_group.kind, SavingsKind::TargetGroupWithoutTargets);
    assert_eq!(empty_group.monthly_usd, 0.0);
    let orphan = finding(&report, &world.orphan_group_arn);
    assert!(orphan.detail.contains("attached to no load balancer"), "{orphan:?}");

    // moto's account holds other tests' worlds too, so the total is at least this world's.
    assert!(report.total_monthly_usd >= 1.0 + 5.0 + 16.43 * 2.0, "{}", report.total_monthly_usd);
    let sum: f64 = report.findings.iter().map(|f| f.monthly_usd).sum();
    assert!((report.total_monthly_usd - sum).abs() < 0.01);
    assert_declared_equals_used(&recorder, "savings_scan");
}

#[tokio::test]
async fn detect_runs_over_the_library_views_with_another_price_table() {
    let world = seed("savings-lib").await;
    let cloud = clu_cloud::Cloud::new(&world.config);
    let volumes = cloud
        .volumes(&clu_cloud::network::IdsInput {
            ids: vec![world.unattached_volume.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let balancers = cloud
        .load_balancers(&clu_cloud::elb::LoadBalancersInput {
            names: vec![world.idle_lb.clone()],
            ..Default::default()
        })
        .await
        .unwrap();

    let mut table = PriceTable::embedded();
    table.as_of = "2031-01-01".to_owned();
    if let Some(prices) = table.regions.get_mut("us-east-1") {
        prices.ebs_gb_month.gp2 = 0.5;
        prices.alb_hour = 0.1;
    }
    let table = PriceTable::from_json(&serde_json::to_string(&table).unwrap()).unwrap();
    let report = detect(&volumes.volumes, &balancers, &table, "us-east-1");

    assert_eq!(report.prices_as_of, "2031-01-01");
    assert_eq!(finding(&report, &world.unattached_volume).monthly_usd, 5.0);
    assert_eq!(finding(&report, &world.idle_lb_arn).monthly_usd, 73.0);
    assert_eq!(report.total_monthly_usd, 78.0);
    assert_eq!(report.findings.len(), 2, "{report:#?}");
}
