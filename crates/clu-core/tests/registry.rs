//! Registry-wide checks over every Core tool.

use clu_core::checks::check_registry;
use clu_policy::Catalog;

#[test]
fn every_core_tool_follows_the_declaration_rules() {
    let registry = clu_core::tools::registry().unwrap();
    assert!(!registry.is_empty());
    let problems = check_registry(&registry, Catalog::embedded());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_core_tool_is_in_the_core_tier_and_has_a_schema_the_model_can_read() {
    for tool in clu_core::tools::tools() {
        let spec = tool.spec();
        assert_eq!(spec.tier, clu_core::Tier::Core, "{}", spec.name);
        assert!(spec.input_schema.get("$ref").is_none(), "{}: schema must be inlined", spec.name);
        let properties = spec.input_schema.get("properties");
        assert!(properties.is_some_and(|p| p.is_object()), "{}: no properties", spec.name);
    }
}
