//! Registry-wide checks over the Cloud tier, with the network, reachability, load balancer,
//! savings and inventory tools in it.

use clu_core::checks::check_registry;
use clu_core::tool::{Risk, Tier};
use clu_policy::Catalog;

const NETWORK_TOOLS: [&str; 14] = [
    "ec2_describe_vpcs",
    "ec2_describe_subnets",
    "ec2_describe_route_tables",
    "ec2_describe_security_groups",
    "ec2_describe_network_acls",
    "ec2_describe_nat_gateways",
    "ec2_describe_internet_gateways",
    "ec2_describe_instances",
    "ec2_describe_network_interfaces",
    "ec2_describe_volumes",
    "network_check_reachability",
    "elb_describe_load_balancers",
    "savings_scan",
    "cloud_inventory",
];

#[test]
fn every_cloud_tool_follows_the_declaration_rules() {
    let registry = clu_cloud::registry().unwrap();
    let problems = check_registry(&registry, Catalog::embedded());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_network_tools_are_cloud_reads_with_schemas_the_model_can_read() {
    let registry = clu_cloud::registry().unwrap();
    for name in NETWORK_TOOLS {
        let tool = registry.get(name).unwrap_or_else(|| panic!("no tool `{name}`"));
        let spec = tool.spec();
        assert_eq!(spec.tier, Tier::Cloud, "{name}");
        assert_eq!(spec.risk, Risk::Read, "{name}");
        assert!(spec.offered_to_model, "{name}");
        assert!(spec.input_schema.get("$ref").is_none(), "{name}: schema must be inlined");
        assert!(spec.input_schema["properties"].is_object(), "{name}: no properties");
        assert!(!spec.permissions.actions().is_empty(), "{name}: declares nothing");
    }
}

#[test]
fn the_inventory_declares_exactly_what_its_sections_declare() {
    let registry = clu_cloud::registry().unwrap();
    let inventory = registry.get("cloud_inventory").unwrap().spec().permissions.actions();
    let mut sections = std::collections::BTreeSet::new();
    for (_, tool) in clu_cloud::inventory::SECTIONS {
        if let Some(tool) = registry.get(tool) {
            sections.extend(tool.spec().permissions.actions());
        }
    }
    assert_eq!(inventory, sections);
}
