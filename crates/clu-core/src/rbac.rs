//! Kubernetes RBAC rules as tools declare them, and how a request is matched against them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One RBAC rule, in the shape of a ClusterRole's `rules` entry.
///
/// Resources name subresources the way RBAC does (`pods/log`, `deployments/scale`). Empty
/// `resource_names` means every object of the resources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RbacRule {
    /// API groups; `""` is the core group.
    pub api_groups: BTreeSet<String>,
    /// Resources, with `resource/subresource` for subresources.
    pub resources: BTreeSet<String>,
    /// Verbs such as `get`, `list`, `watch`, `patch`.
    pub verbs: BTreeSet<String>,
    /// Object names the rule is limited to; empty for all.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub resource_names: BTreeSet<String>,
}

/// Verbs the API server knows for resource requests; anything else in a rule is a mistake.
pub const KNOWN_VERBS: [&str; 12] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "bind",
    "escalate",
    "impersonate",
    "approve",
];

impl RbacRule {
    /// A rule over `resources` of one API group with `verbs`.
    pub fn new<'a>(
        api_group: &str,
        resources: impl IntoIterator<Item = &'a str>,
        verbs: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Self {
            api_groups: BTreeSet::from([api_group.to_owned()]),
            resources: resources.into_iter().map(str::to_owned).collect(),
            verbs: verbs.into_iter().map(str::to_owned).collect(),
            resource_names: BTreeSet::new(),
        }
    }

    /// Whether this rule allows `verb` on `resource` (with its subresource) in `group`.
    ///
    /// Follows the API server's RBAC authorizer: `*` matches any group, verb or resource,
    /// `*/scale` any resource's scale subresource, and `resource_names` narrows the rule to
    /// named objects (so a list, which names none, is not covered by a named rule).
    pub fn covers(&self, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
        let group_ok = self.api_groups.iter().any(|g| g == "*" || g == group);
        let verb_ok = self.verbs.iter().any(|v| v == "*" || v == verb);
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || r == resource
                || match (r.split_once('/'), resource.split_once('/')) {
                    (Some(("*", sub)), Some((_, wanted))) => sub == wanted,
                    (Some((base, "*")), Some((wanted, _))) => base == wanted,
                    _ => false,
                }
        });
        let name_ok = self.resource_names.is_empty()
            || name.is_some_and(|n| self.resource_names.iter().any(|r| r == n));
        group_ok && verb_ok && resource_ok && name_ok
    }
}

impl fmt::Display for RbacRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |set: &BTreeSet<String>| {
            set.iter()
                .map(|s| if s.is_empty() { "\"\"".to_owned() } else { s.clone() })
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(
            f,
            "{} {} in group {}",
            join(&self.verbs),
            join(&self.resources),
            join(&self.api_groups)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_follows_the_rbac_authorizer() {
        let pods = RbacRule::new("", ["pods", "pods/log"], ["get", "list"]);
        assert!(pods.covers("get", "", "pods", Some("web")));
        assert!(pods.covers("get", "", "pods/log", Some("web")));
        assert!(!pods.covers("get", "", "pods/exec", Some("web")));
        assert!(!pods.covers("delete", "", "pods", Some("web")));
        assert!(!pods.covers("get", "apps", "pods", Some("web")));

        let scale = RbacRule::new("apps", ["*/scale"], ["patch"]);
        assert!(scale.covers("patch", "apps", "deployments/scale", Some("web")));
        assert!(!scale.covers("patch", "apps", "deployments", Some("web")));

        let mut named = RbacRule::new("coordination.k8s.io", ["leases"], ["get"]);
        named.resource_names.insert("clu-leader".into());
        assert!(named.covers("get", "coordination.k8s.io", "leases", Some("clu-leader")));
        assert!(!named.covers("get", "coordination.k8s.io", "leases", Some("other")));
        assert!(!named.covers("get", "coordination.k8s.io", "leases", None));
    }
}
