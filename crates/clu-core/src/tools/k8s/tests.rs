use super::*;

fn found(kind: &str, api_version: Option<&str>) -> (&'static str, &'static str, Option<String>) {
    let (readable, version) = find_readable("k8s_get", kind, api_version)
        .unwrap_or_else(|error| panic!("{kind}: {error}"));
    (readable.group, readable.resource, version)
}

#[test]
fn kinds_are_found_the_way_kubectl_takes_them() {
    assert_eq!(found("Pod", None), ("", "pods", None));
    assert_eq!(found("pods", None), ("", "pods", None));
    assert_eq!(found("po", None), ("", "pods", None));
    assert_eq!(found("deploy", None), ("apps", "deployments", None));
    assert_eq!(found("deployments.apps", None), ("apps", "deployments", None));
    assert_eq!(found("apps/v1/Deployment", None), ("apps", "deployments", Some("v1".into())));
    assert_eq!(found("Deployment", Some("apps/v1")), ("apps", "deployments", Some("v1".into())));
    assert_eq!(found("Event", None), ("", "events", None));
    assert_eq!(found("Event", Some("events.k8s.io")), ("events.k8s.io", "events", None));
    assert_eq!(found("v1/Node", None), ("", "nodes", Some("v1".into())));
}

#[test]
fn secrets_are_refused_however_they_are_named() {
    for kind in ["secret", "Secret", "SECRETS", "v1/Secret", "secrets.", " Secrets "] {
        let error = find_readable("k8s_get", kind, None).expect_err(kind);
        assert_eq!(error.code(), "forbidden-material", "{kind}");
    }
    let error = find_readable("k8s_get", "Secret", Some("v1")).expect_err("v1 Secret");
    assert_eq!(error.code(), "forbidden-material");
}

#[test]
fn unknown_kinds_name_the_readable_ones() {
    let error = find_readable("k8s_get", "Widget", None).expect_err("Widget");
    assert_eq!(error.code(), "invalid-input");
    let message = error.to_string();
    assert!(message.contains("`Widget`") && message.contains("Deployment"), "{message}");
    assert!(message.contains("Event (events.k8s.io)"), "{message}");
    assert!(!message.contains("Secret"), "{message}");

    let error = find_readable("k8s_get", "Deployment", Some("batch/v1")).expect_err("wrong group");
    assert!(error.to_string().contains("group `apps`"), "{error}");

    let error =
        find_readable("k8s_get", "apps/v1/Deployment", Some("batch/v1")).expect_err("conflict");
    assert!(error.to_string().contains("disagrees"), "{error}");
}

#[test]
fn readable_rules_cover_no_secret_and_no_wildcard() {
    for rule in readable_rules(&["get", "list"]) {
        assert!(!rule.resources.iter().any(|r| r == "secrets" || r.contains('*')), "{rule}");
        assert!(!rule.api_groups.contains("*"), "{rule}");
    }
}

#[test]
fn ages_read_like_kubectl() {
    let now = Timestamp::from_second(1_750_000_000).unwrap();
    let ago = |seconds: i64| age(Timestamp::from_second(1_750_000_000 - seconds).unwrap(), now);
    assert_eq!(ago(45), "45s");
    assert_eq!(ago(330), "5m30s");
    assert_eq!(ago(3_600), "60m");
    assert_eq!(ago(5 * 3_600 + 120), "5h2m");
    assert_eq!(ago(30 * 3_600), "30h");
    assert_eq!(ago(3 * 86_400 + 4 * 3_600), "3d4h");
    assert_eq!(ago(40 * 86_400), "40d");
}

#[test]
fn typed_pod_rows_equal_the_rows_of_the_same_pods_as_json() {
    let pods: Vec<Value> = clu_testkit::apiserver::fixture::Fixture::shop()
        .objects
        .into_iter()
        .filter(|o| o["kind"] == "Pod")
        .collect();
    assert!(pods.len() >= 5, "the shop fixture has pods of every kind of trouble");
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut statuses = std::collections::BTreeSet::new();
    for pod in &pods {
        let typed: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod.clone()).unwrap();
        let from_json = summary::row("Pod", pod, now);
        assert_eq!(summary::pod_row(&typed, now), from_json, "{}", pod["metadata"]["name"]);
        statuses.insert(from_json["status"].as_str().unwrap_or_default().to_owned());
    }
    // The comparison covers more than the healthy case.
    assert!(statuses.len() >= 3, "{statuses:?}");
}
