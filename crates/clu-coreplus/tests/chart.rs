//! The writer ClusterRole the chart installs for Core Plus, as committed: it holds the verbs'
//! rules and never grants Secrets, RBAC objects, escalation verbs or wildcards.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::ClusterRole;

const WRITER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../charts/clu-ops-agent/templates/clusterrole-writer.yaml"
);

/// The committed ClusterRole, without the generated note and the Helm condition around it.
fn writer() -> ClusterRole {
    let text = std::fs::read_to_string(WRITER).unwrap();
    assert!(text.contains("{{- if .Values.modules.corePlus.enabled }}"), "only with Core Plus");
    let yaml: String = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("{{"))
        .map(|l| format!("{l}\n"))
        .collect();
    serde_saphyr::from_str(&yaml).unwrap()
}

#[test]
fn the_writer_role_grants_no_secret_rbac_object_escalation_or_wildcard() {
    let role = writer();
    assert_eq!(role.metadata.name.as_deref(), Some("clu-ops-agent-writer"));
    let rules = role.rules.unwrap_or_default();
    assert!(!rules.is_empty(), "the write verbs' rules are in the role");
    for rule in &rules {
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        assert!(!groups.iter().any(|g| g == "*" || g == "rbac.authorization.k8s.io"), "{groups:?}");
        assert!(
            !resources.iter().any(|r| r.contains('*') || r.starts_with("secrets")),
            "{resources:?}"
        );
        assert!(
            !rule
                .verbs
                .iter()
                .any(|v| matches!(v.as_str(), "*" | "bind" | "escalate" | "impersonate")),
            "{:?}",
            rule.verbs
        );
        assert!(rule.non_resource_urls.is_none());
    }
}

#[test]
fn the_writer_role_covers_what_the_verbs_declare() {
    let granted: BTreeSet<(String, String, String)> = writer()
        .rules
        .unwrap_or_default()
        .into_iter()
        .flat_map(|rule| {
            let groups = rule.api_groups.unwrap_or_default();
            let resources = rule.resources.unwrap_or_default();
            let verbs = rule.verbs;
            groups.into_iter().flat_map(move |g| {
                let verbs = verbs.clone();
                resources.clone().into_iter().flat_map(move |r| {
                    let g = g.clone();
                    verbs.clone().into_iter().map(move |v| (g.clone(), r.clone(), v))
                })
            })
        })
        .collect();
    for tool in clu_coreplus::tools() {
        for rule in &tool.spec().permissions.rbac {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        let wanted = (group.clone(), resource.clone(), verb.clone());
                        assert!(granted.contains(&wanted), "{}: {wanted:?}", tool.spec().name);
                    }
                }
            }
        }
    }
}
