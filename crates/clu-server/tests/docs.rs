//! What the service documents and deploys agrees with what it does.

use std::path::{Path, PathBuf};

use k8s_openapi::api::rbac::v1::PolicyRule;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

#[test]
fn every_code_of_the_service_is_documented() {
    let page = std::fs::read_to_string(workspace_root().join("docs/errors.md")).unwrap();
    for code in clu_server::ServeError::CODES.iter().chain(clu_server::ApiError::CODES) {
        assert!(page.contains(&format!("`{code}`")), "docs/errors.md does not document `{code}`");
    }
}

/// One hand-written chart template's rules, with the release namespace `clu-ops` filled in.
fn rules_of(template: &str) -> Vec<PolicyRule> {
    let path = workspace_root().join("charts/clu-ops-agent/templates").join(template);
    let text =
        std::fs::read_to_string(path).unwrap().replace("{{ .Release.Namespace }}", "clu-ops");
    let object: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    serde_json::from_value(object["rules"].clone()).unwrap()
}

/// Whether `rules` allow `verb` on `resource` in `group`, for the object `name` when given.
fn allows(
    rules: &[PolicyRule],
    group: &str,
    resource: &str,
    verb: &str,
    name: Option<&str>,
) -> bool {
    rules.iter().any(|rule| {
        rule.api_groups.as_ref().is_some_and(|g| g.iter().any(|g| g == group))
            && rule.resources.as_ref().is_some_and(|r| r.iter().any(|r| r == resource))
            && rule.verbs.iter().any(|v| v == verb)
            && match (&rule.resource_names, name) {
                (None, _) => true,
                (Some(names), Some(name)) => names.iter().any(|n| n == name),
                (Some(_), None) => false,
            }
    })
}

/// The chart's hand-written ClusterRole grants what TokenReview sends and nothing namespaced;
/// its Role grants what the Lease election and the shared scan reports send, for the names the
/// settings default to, in the release namespace only.
#[test]
fn the_service_roles_cover_token_review_the_lease_and_the_shared_reports() {
    let cluster = rules_of("clusterrole-auth.yaml");
    assert!(allows(&cluster, "authentication.k8s.io", "tokenreviews", "create", None));
    assert_eq!(cluster.len(), 1, "nothing else at cluster scope: {cluster:?}");

    let role = rules_of("role-service.yaml");
    let lease = clu_server::LeaseSettings::default().name;
    for verb in ["get", "update"] {
        assert!(allows(&role, "coordination.k8s.io", "leases", verb, Some(&lease)), "{verb}");
    }
    assert!(allows(&role, "coordination.k8s.io", "leases", "create", None));
    let reports = clu_server::ScanSettings::default().config_map;
    for verb in ["get", "patch"] {
        assert!(allows(&role, "", "configmaps", verb, Some(&reports)), "{verb} {reports}");
    }
    assert!(allows(&role, "", "configmaps", "create", None));
    assert!(!allows(&role, "", "configmaps", "get", Some("kube-root-ca.crt")), "only its own");
    assert!(!allows(&role, "coordination.k8s.io", "leases", "delete", Some(&lease)));
    let binding = std::fs::read_to_string(
        workspace_root().join("charts/clu-ops-agent/templates/rolebinding-service.yaml"),
    )
    .unwrap();
    assert!(binding.contains("kind: Role\n") && binding.contains("name: clu-ops-agent-service"));
}
