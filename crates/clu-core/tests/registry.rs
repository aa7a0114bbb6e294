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

mod rules {
    use std::sync::Arc;

    use async_trait::async_trait;
    use clu_core::checks::check_registry;
    use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
    use clu_core::{RbacRule, Registry};
    use clu_policy::{Catalog, Grant};
    use serde_json::Value;

    #[derive(schemars::JsonSchema, serde::Deserialize)]
    struct NoInput {}

    struct Declared(ToolSpec);

    #[async_trait]
    impl Tool for Declared {
        fn spec(&self) -> &ToolSpec {
            &self.0
        }

        async fn invoke(&self, _: &ToolContext, _: Value) -> clu_core::Result<Value> {
            Ok(Value::Null)
        }
    }

    fn problems(name: &'static str, risk: Risk, permissions: Permissions) -> Vec<String> {
        let spec = ToolSpec::new::<NoInput>(
            name,
            "A tool of the test whose declaration breaks a rule.",
            Tier::Core,
            risk,
            permissions,
        );
        let registry = Registry::new([Arc::new(Declared(spec)) as Arc<dyn Tool>]).unwrap();
        check_registry(&registry, Catalog::embedded()).iter().map(ToString::to_string).collect()
    }

    fn iam(actions: &[&str], resources: &[&str]) -> Permissions {
        let grant = Grant::new(actions.iter().copied(), resources.iter().copied()).unwrap();
        Permissions { iam: vec![grant], rbac: vec![] }
    }

    #[test]
    fn an_unknown_action_is_named_with_a_suggestion() {
        let found = problems("typo", Risk::Read, iam(&["logs:StartQeury"], &["*"]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`logs:StartQeury`, which the IAM catalogue does not know; did you mean `logs:StartQuery`?"), "{found:?}");
    }

    #[test]
    fn a_read_tool_may_not_declare_a_write_action() {
        let found = problems(
            "sneaky",
            Risk::Read,
            iam(&["eks:CreateAddon"], &["arn:{partition}:eks:{region}:{account}:cluster/*"]),
        );
        assert!(
            found.iter().any(
                |p| p.contains("is a read tool but declares `eks:CreateAddon`, a Write action")
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_scopable_action_on_star_needs_a_reason() {
        let found = problems("broad", Risk::Read, iam(&["logs:StartQuery"], &["*"]));
        assert!(
            found
                .iter()
                .any(|p| p
                    .contains("can be scoped to resources; scope it or state a wildcard reason")),
            "{found:?}"
        );

        let mut justified = iam(&["logs:StartQuery"], &["*"]);
        justified.iam[0].wildcard_reason = Some("queries may name any log group".into());
        assert!(problems("broad", Risk::Read, justified).is_empty());
    }

    #[test]
    fn a_resource_that_fits_no_resource_type_is_named() {
        let found = problems(
            "wrong_arn",
            Risk::Read,
            iam(&["logs:StartQuery"], &["arn:{partition}:ec2:{region}:{account}:vpc/*"]),
        );
        assert!(
            found.iter().any(|p| p.contains("fits none of the action's resource types")),
            "{found:?}"
        );
    }

    #[test]
    fn secret_values_may_never_be_declared() {
        let found = problems("peek", Risk::Read, iam(&["secretsmanager:GetSecretValue"], &["*"]));
        assert!(found.iter().any(|p| p.contains("which Clu never performs")), "{found:?}");
    }

    #[test]
    fn rbac_rules_may_not_touch_secrets_escalate_or_use_wildcards() {
        let rbac = vec![
            RbacRule::new("", ["secrets"], ["get"]),
            RbacRule::new("rbac.authorization.k8s.io", ["clusterroles"], ["bind", "escalate"]),
            RbacRule::new("*", ["*"], ["*"]),
        ];
        let found = problems("power", Risk::Write, Permissions { iam: vec![], rbac });
        for expected in [
            "names `secrets`, which Clu never touches",
            "RBAC verb `bind` would let the agent grant itself more",
            "RBAC verb `escalate` would let the agent grant itself more",
            "writes RBAC objects",
            "RBAC resource `*` is a wildcard",
            "RBAC API group `*` is a wildcard",
            "RBAC verb `*` is not a single known verb",
        ] {
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "missing {expected:?} in {found:?}"
            );
        }
    }

    #[test]
    fn names_must_be_snake_case() {
        for name in ["K8sGet", "k8s-get", "k8s__get", "_k8s", "k8s_"] {
            let found = problems(name, Risk::Read, Permissions::default());
            assert!(found.iter().any(|p| p.contains("snake_case")), "{name}: {found:?}");
        }
    }
}
