//! Deriving the IAM documents and RBAC ClusterRoles from tool declarations.
//!
//! This is the one place that turns what tools declare into what an operator deploys, shared by
//! `cargo xtask policy` (which writes the committed files) and `clu-agent policy` (which prints
//! the documents of the tiers a binary was built with).

use std::collections::{BTreeMap, BTreeSet};

use clu_policy::build::{BuildOptions, build_documents};
use clu_policy::lint::{LintOptions, lint_document};
use clu_policy::{Action, ArnContext, Catalog, Grant, PolicyDocument};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::rbac::RbacRule;
use crate::registry::Registry;
use crate::tool::{Risk, Tier};

/// The IAM documents of one tier and how to lint them.
#[derive(Clone, Debug)]
pub struct TierPolicy {
    /// The tier.
    pub tier: Tier,
    /// The documents, usually one; more when the tier's statements exceed IAM's size limit.
    pub documents: Vec<PolicyDocument>,
    /// The lint options the documents must pass with zero findings.
    pub lint: LintOptions,
}

impl TierPolicy {
    /// Whether the tier needs no IAM permission at all.
    pub fn is_empty(&self) -> bool {
        self.documents.iter().all(|d| d.statements.is_empty())
    }

    /// The findings of linting every document, `document index: finding`.
    pub fn findings(&self, catalog: &Catalog) -> Vec<String> {
        self.documents
            .iter()
            .enumerate()
            .flat_map(|(i, doc)| {
                lint_document(doc, catalog, &self.lint)
                    .into_iter()
                    .map(move |finding| format!("document {}: {finding}", i + 1))
            })
            .collect()
    }
}

/// Why the documents of a tier could not be built.
#[derive(Debug, thiserror::Error)]
#[error("failed to build the {tier} tier's IAM documents: {source}")]
pub struct DeriveError {
    tier: Tier,
    #[source]
    source: clu_policy::Error,
}

/// Builds the IAM documents of `tier` from the tools of `registry` in that tier.
///
/// Grants of read tools and of write tools are built apart, so the write actions sit in
/// statements of their own (Sids `{Tier}Manage…`) that a reviewer can see and the lint can
/// allow; the two sets share one document when they fit.
pub fn tier_policy(
    registry: &Registry,
    tier: Tier,
    context: &ArnContext,
) -> Result<TierPolicy, DeriveError> {
    let error = |source| DeriveError { tier, source };
    let (mut read, mut write): (Vec<Grant>, Vec<Grant>) = (Vec::new(), Vec::new());
    let mut accepted_wildcards = BTreeSet::new();
    for tool in registry.tier(tier) {
        let spec = tool.spec();
        for grant in &spec.permissions.iam {
            if grant.wildcard_reason.is_some() {
                accepted_wildcards.extend(grant.actions.iter().cloned());
            }
            match spec.risk {
                Risk::Read => read.push(grant.clone()),
                _ => write.push(grant.clone()),
            }
        }
    }

    let options = |prefix: String| BuildOptions {
        sid_prefix: prefix,
        context: context.clone(),
        ..BuildOptions::default()
    };
    let read_documents =
        build_documents(&read, &options(tier.title().to_owned())).map_err(error)?;
    let write_documents =
        build_documents(&write, &options(format!("{}Manage", tier.title()))).map_err(error)?;
    let write_sids: BTreeSet<String> = write_documents
        .iter()
        .flat_map(|d| d.statements.iter().filter_map(|s| s.sid.clone()))
        .collect();

    let mut documents = read_documents;
    let limit = BuildOptions::default().size_limit;
    for write_document in write_documents {
        let joined = documents.last().map(|last| {
            let mut joined = last.clone();
            joined.statements.extend(write_document.statements.iter().cloned());
            joined
        });
        match joined {
            Some(joined) if joined.size_without_whitespace() <= limit => {
                if let Some(last) = documents.last_mut() {
                    *last = joined;
                }
            }
            _ => documents.push(write_document),
        }
    }

    let lint =
        LintOptions { read_only: true, write_sids, accepted_wildcards, ..LintOptions::default() };
    Ok(TierPolicy { tier, documents, lint })
}

/// Every IAM action the tools of `tier` declare, with the tools that need each.
pub fn actions_by_tool(registry: &Registry, tier: Tier) -> BTreeMap<Action, Vec<&'static str>> {
    let mut actions: BTreeMap<Action, Vec<&'static str>> = BTreeMap::new();
    for tool in registry.tier(tier) {
        for action in tool.spec().permissions.actions() {
            actions.entry(action).or_default().push(tool.spec().name);
        }
    }
    actions
}

/// Which ClusterRole a rule goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Read tools of every tier.
    Reader,
    /// Write verbs of Core Plus.
    Writer,
}

impl Role {
    /// The ClusterRole's name.
    pub fn cluster_role_name(self) -> &'static str {
        match self {
            Role::Reader => "clu-ops-agent-reader",
            Role::Writer => "clu-ops-agent-writer",
        }
    }
}

/// The ClusterRole holding the RBAC rules of the tools of `registry` that belong to `role`.
///
/// Rules are merged: those with the same API groups, verbs and resource names become one rule
/// with the union of their resources, so the role reads as a reviewer would write it.
pub fn cluster_role(registry: &Registry, role: Role) -> ClusterRole {
    let rules = registry
        .tools()
        .filter(|tool| (tool.spec().risk == Risk::Read) == (role == Role::Reader))
        .flat_map(|tool| tool.spec().permissions.rbac.iter().cloned());
    let merged = merge_rules(rules);
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(role.cluster_role_name().to_owned()),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_owned(), "clu-ops-agent".to_owned()),
                (
                    "app.kubernetes.io/component".to_owned(),
                    match role {
                        Role::Reader => "reader".to_owned(),
                        Role::Writer => "writer".to_owned(),
                    },
                ),
            ])),
            ..ObjectMeta::default()
        },
        rules: Some(
            merged
                .into_iter()
                .map(|rule| PolicyRule {
                    api_groups: Some(rule.api_groups.into_iter().collect()),
                    resources: Some(rule.resources.into_iter().collect()),
                    verbs: rule.verbs.into_iter().collect(),
                    resource_names: (!rule.resource_names.is_empty())
                        .then(|| rule.resource_names.into_iter().collect()),
                    non_resource_urls: None,
                })
                .collect(),
        ),
        aggregation_rule: None,
    }
}

/// Merges rules the way a reviewer would write them: per API group, the resources that share
/// the same verbs (and resource names) become one rule. Sorted, so the output is stable.
pub fn merge_rules(rules: impl IntoIterator<Item = RbacRule>) -> Vec<RbacRule> {
    // First the verbs of every (group, names, resource), then regroup resources by verb set.
    let mut verbs_of: BTreeMap<(String, BTreeSet<String>, String), BTreeSet<String>> =
        BTreeMap::new();
    for rule in rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                verbs_of
                    .entry((group.clone(), rule.resource_names.clone(), resource.clone()))
                    .or_default()
                    .extend(rule.verbs.iter().cloned());
            }
        }
    }
    type Key = (String, BTreeSet<String>, BTreeSet<String>);
    let mut merged: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    for ((group, names, resource), verbs) in verbs_of {
        merged.entry((group, names, verbs)).or_default().insert(resource);
    }
    merged
        .into_iter()
        .map(|((group, resource_names, verbs), resources)| RbacRule {
            api_groups: BTreeSet::from([group]),
            resources,
            verbs,
            resource_names,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_resources_that_share_verbs_per_group() {
        let rules = [
            RbacRule::new("", ["pods", "pods/log"], ["get"]),
            RbacRule::new("", ["pods", "nodes"], ["list"]),
            RbacRule::new("", ["nodes"], ["get"]),
            RbacRule::new("apps", ["deployments"], ["get", "list"]),
        ];
        let merged: Vec<String> = merge_rules(rules).iter().map(ToString::to_string).collect();
        assert_eq!(
            merged,
            [
                "get pods/log in group \"\"",
                "get,list nodes,pods in group \"\"",
                "get,list deployments in group apps",
            ]
        );
    }
}
