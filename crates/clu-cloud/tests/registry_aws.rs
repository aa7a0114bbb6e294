//! Registry-wide checks over every Cloud tool: the declaration rules, the tier, the schemas.

use clu_core::checks::check_registry;
use clu_policy::Catalog;

#[test]
fn every_cloud_tool_follows_the_declaration_rules() {
    let registry = clu_cloud::registry().unwrap();
    assert!(!registry.is_empty());
    let problems = check_registry(&registry, Catalog::embedded());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_cloud_tool_is_in_the_cloud_tier_and_has_a_schema_the_model_can_read() {
    for tool in clu_cloud::tools() {
        let spec = tool.spec();
        assert_eq!(spec.tier, clu_core::Tier::Cloud, "{}", spec.name);
        assert!(spec.input_schema.get("$ref").is_none(), "{}: schema must be inlined", spec.name);
        let properties = spec.input_schema.get("properties");
        assert!(properties.is_some_and(|p| p.is_object()), "{}: no properties", spec.name);
    }
}

#[test]
fn every_aws_view_is_named_after_its_service() {
    let prefixes = ["iam_", "eks_", "rds_", "elasticache_", "s3_", "ecr_", "secrets_", "cost_"];
    let names: Vec<&str> = clu_cloud::tools().iter().map(|t| t.spec().name).collect();
    for prefix in prefixes {
        assert!(names.iter().any(|n| n.starts_with(prefix)), "no tool starts with `{prefix}`");
    }
}
