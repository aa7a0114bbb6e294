//! The account inventory against moto: through the library (each section its own guarded
//! call) and as the `cloud_inventory` tool (every section inside one guarded invocation).

mod net_fixtures;

use clu_cloud::inventory::{InventoryOptions, SECTIONS, inventory};
use clu_core::guard::Recorder;
use net_fixtures::{call, ok, seed};
use serde_json::json;

#[tokio::test]
async fn the_library_inventory_counts_every_section_and_records_each_failure() {
    let world = seed("inventory").await;
    let cloud = clu_cloud::Cloud::new(&world.config);
    let taken = inventory(&cloud, &InventoryOptions::default()).await;

    let names: Vec<&str> = taken.sections.iter().map(|s| s.name.as_str()).collect();
    let expected: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected);
    for section in &taken.sections {
        // A section whose tool this build lacks is that section's error, never the whole's.
        match cloud.registry().get(&section.tool) {
            None => {
                let error = section.error.as_ref().unwrap_or_else(|| panic!("{section:?}"));
                assert_eq!(error.code, "unknown-tool", "{section:?}");
            }
            Some(_) => assert!(section.error.is_none(), "{section:?}"),
        }
    }
    let count = |name: &str| taken.section(name).unwrap().count.unwrap();
    assert!(count("vpcs") >= 1);
    assert!(count("subnets") >= 4);
    assert!(count("volumes") >= 2);
    assert!(count("load_balancers") >= 2);
    let subnets = taken.section("subnets").unwrap().output.as_ref().unwrap();
    assert!(
        subnets["subnets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == world.tiny_subnet.as_str()),
        "the library keeps every section's listing"
    );
}

#[tokio::test]
async fn the_tool_counts_sections_and_uses_exactly_what_its_sections_use() {
    let world = seed("inventory-tool").await;
    let recorder = Recorder::new();
    let output = ok(&world.config, &recorder, "cloud_inventory", json!({})).await;

    let sections = output["sections"].as_array().unwrap();
    assert_eq!(sections.len(), SECTIONS.len());
    assert!(sections.iter().all(|s| s.get("output").is_none()), "the tool gives counts only");
    let subnets = sections.iter().find(|s| s["name"] == "subnets").unwrap();
    assert!(subnets["count"].as_u64().unwrap() >= 4, "{subnets}");
    assert!(subnets["elapsed_ms"].is_u64());

    // The sections run inside the inventory's own invocation: every action is recorded under
    // its name, never more than it declares, and every action of the network and load balancer
    // sections (whose fixtures this world seeds) is used. Other sections' actions depend on
    // what else the shared moto holds (a repository's images, a cluster's description).
    let registry = clu_cloud::registry().unwrap();
    let used = recorder.actions_of("cloud_inventory");
    let declared = registry.get("cloud_inventory").unwrap().spec().permissions.actions();
    assert!(used.is_subset(&declared), "used {used:?} beyond declared {declared:?}");
    let seeded: std::collections::BTreeSet<_> = SECTIONS
        .iter()
        .filter(|(_, tool)| tool.starts_with("ec2_") || tool.starts_with("elb_"))
        .flat_map(|(_, tool)| registry.get(tool).unwrap().spec().permissions.actions())
        .collect();
    let used_of_seeded: std::collections::BTreeSet<_> =
        used.iter().filter(|a| seeded.contains(*a)).cloned().collect();
    assert_eq!(used_of_seeded, seeded);
    if SECTIONS.iter().all(|(_, tool)| {
        tool.starts_with("ec2_") || tool.starts_with("elb_") || registry.get(tool).is_none()
    }) {
        assert_eq!(used, declared, "with only the network sections present, used = declared");
    }
    assert_eq!(recorder.tools().into_iter().collect::<Vec<_>>(), ["cloud_inventory"]);
}

#[tokio::test]
async fn the_tool_runs_only_the_chosen_sections_and_refuses_unknown_ones() {
    let world = seed("inventory-some").await;
    let recorder = Recorder::new();
    let output =
        ok(&world.config, &recorder, "cloud_inventory", json!({"sections": ["volumes", "vpcs"]}))
            .await;
    let names: Vec<&str> = output["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["vpcs", "volumes"]);
    assert_eq!(
        recorder.actions_of("cloud_inventory").iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        ["ec2:DescribeVolumes", "ec2:DescribeVpcs"]
    );

    let outcome =
        call(&world.config, &recorder, "cloud_inventory", json!({"sections": ["printers"]})).await;
    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("no inventory section `printers`"), "{error}");
}
