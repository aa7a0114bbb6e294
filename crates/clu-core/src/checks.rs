//! Registry-wide checks of tool declarations, run by every tier's tests and by `cargo xtask`.
//!
//! A declaration is what the derived IAM documents and ClusterRoles are made of, so a mistake
//! here becomes a mistake in a customer's account. These checks hold the rules every tool must
//! follow; each problem names the tool and what to change.

use std::collections::BTreeSet;

use clu_policy::{ArnContext, Catalog};

use crate::guard::{ALWAYS_REFUSED_ACTIONS, ALWAYS_REFUSED_RESOURCES};
use crate::rbac::KNOWN_VERBS;
use crate::registry::Registry;
use crate::tool::{Risk, Tool};

/// One rule a tool's declaration breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The tool.
    pub tool: String,
    /// What is wrong, and what to change.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tool `{}`: {}", self.tool, self.message)
    }
}

/// RBAC verbs that hand out authority over authority; no tool may hold them.
const ESCALATING_VERBS: [&str; 3] = ["bind", "escalate", "impersonate"];

/// API groups of RBAC objects, which no tool may write.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Resources that are questions to the API server rather than objects: creating one changes
/// nothing, so a read tool may `create` them.
const REVIEW_RESOURCES: [(&str, &str); 3] = [
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
];

/// Checks every tool of `registry` against the rules of the module docs.
pub fn check_registry(registry: &Registry, catalog: &Catalog) -> Vec<Problem> {
    let mut problems = Vec::new();
    for tool in registry.tools() {
        check_tool(tool.as_ref(), catalog, &mut problems);
    }
    problems
}

fn check_tool(tool: &dyn Tool, catalog: &Catalog, problems: &mut Vec<Problem>) {
    let spec = tool.spec();
    let mut problem =
        |message: String| problems.push(Problem { tool: spec.name.to_owned(), message });

    let snake = !spec.name.is_empty()
        && spec.name.starts_with(|c: char| c.is_ascii_lowercase())
        && spec.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !spec.name.contains("__")
        && !spec.name.ends_with('_');
    if !snake {
        problem(
            "the name must be snake_case: lowercase letters, digits and single underscores".into(),
        );
    }
    if spec.description.trim().len() < 20 {
        problem("the description must say what the tool does and when to use it".into());
    }
    if spec.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
        problem("the input schema must describe a JSON object".into());
    }

    let context = ArnContext::default();
    for grant in &spec.permissions.iam {
        for action in &grant.actions {
            if ALWAYS_REFUSED_ACTIONS.iter().any(|a| action.as_str().eq_ignore_ascii_case(a)) {
                problem(format!("declares `{action}`, which Clu never performs"));
                continue;
            }
            let Some(info) = catalog.action(action) else {
                let hint = catalog
                    .suggest(action.as_str())
                    .map(|s| format!("; did you mean `{}`?", s.action))
                    .unwrap_or_default();
                problem(format!(
                    "declares `{action}`, which the IAM catalogue does not know{hint}"
                ));
                continue;
            };
            if spec.risk == Risk::Read && !info.access_level.is_read_only() {
                problem(format!(
                    "is a read tool but declares `{action}`, a {} action",
                    info.access_level
                ));
            }
            for resource in &grant.resources {
                if resource.is_any() {
                    if info.supports_resource_scoping() && grant.wildcard_reason.is_none() {
                        problem(format!(
                            "grants `{action}` on `*` although it can be scoped to resources; \
                             scope it or state a wildcard reason"
                        ));
                    }
                    continue;
                }
                let arn = resource.render(&context);
                let fits = info.resource_types.iter().any(|rt| {
                    catalog.resource_type(action.prefix(), &rt.name).is_some_and(|t| t.fits(&arn))
                });
                if !fits {
                    problem(format!(
                        "grants `{action}` on `{resource}`, which fits none of the action's \
                         resource types"
                    ));
                }
            }
        }
        if grant.resources.is_empty() {
            problem("has a grant with no resource".into());
        }
    }

    for rule in &spec.permissions.rbac {
        for verb in &rule.verbs {
            if verb == "*" || !KNOWN_VERBS.contains(&verb.as_str()) {
                problem(format!("RBAC verb `{verb}` is not a single known verb"));
            }
            if ESCALATING_VERBS.contains(&verb.as_str()) {
                problem(format!("RBAC verb `{verb}` would let the agent grant itself more"));
            }
            let review = verb == "create"
                && rule.resources.iter().all(|resource| {
                    rule.api_groups.iter().all(|group| {
                        REVIEW_RESOURCES.contains(&(group.as_str(), resource.as_str()))
                    })
                });
            if spec.risk == Risk::Read
                && !review
                && !matches!(verb.as_str(), "get" | "list" | "watch")
            {
                problem(format!("is a read tool but declares the RBAC verb `{verb}`"));
            }
        }
        for resource in &rule.resources {
            let base = resource.split('/').next().unwrap_or_default();
            if base == "*" || resource.ends_with("/*") {
                problem(format!("RBAC resource `{resource}` is a wildcard"));
            }
            for group in &rule.api_groups {
                if ALWAYS_REFUSED_RESOURCES.contains(&(group.as_str(), base)) {
                    problem(format!("RBAC rule names `{resource}`, which Clu never touches"));
                }
            }
        }
        if rule.api_groups.iter().any(|g| g == "*") {
            problem("RBAC API group `*` is a wildcard".into());
        }
        if rule.api_groups.contains(RBAC_GROUP) && spec.risk != Risk::Read {
            problem("writes RBAC objects, which would let the agent grant itself more".into());
        }
        if rule.verbs.is_empty() || rule.resources.is_empty() || rule.api_groups.is_empty() {
            problem("has an RBAC rule with no verb, resource or API group".into());
        }
    }
}

/// The names that appear more than once across `registries`, for the union over tiers.
pub fn duplicate_names<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    names.into_iter().filter(|name| !seen.insert(*name)).collect()
}
