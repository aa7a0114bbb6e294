//! What the service documents and deploys agrees with what it does.

use std::path::{Path, PathBuf};

use k8s_openapi::api::rbac::v1::ClusterRole;

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

/// The chart's hand-written ClusterRole grants what TokenReview and the Lease election send,
/// for the Lease name the settings default to.
#[test]
fn the_service_cluster_role_covers_token_review_and_the_default_lease() {
    let path = workspace_root().join("charts/clu-ops-agent/templates/clusterrole-auth.yaml");
    let role: ClusterRole =
        serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rules = role.rules.unwrap();
    let allows = |group: &str, resource: &str, verb: &str, name: Option<&str>| {
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
    };
    assert!(allows("authentication.k8s.io", "tokenreviews", "create", None));
    let lease = clu_server::LeaseSettings::default().name;
    for verb in ["get", "update"] {
        assert!(allows("coordination.k8s.io", "leases", verb, Some(&lease)), "{verb} {lease}");
    }
    assert!(allows("coordination.k8s.io", "leases", "create", None));
    assert!(
        !allows("coordination.k8s.io", "leases", "delete", Some(&lease)),
        "no more than needed"
    );
}
