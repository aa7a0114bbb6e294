//! EKS addon management against a stateful restJson1 stub of EKS (moto serves no addon
//! operation): plans change nothing, values are checked against the addon's schema before
//! anything is sent, an approved plan applies once, and its undo is proposed.

mod aws_support;

use std::sync::{Arc, Mutex};

use aws_support::Harness;
use clu_core::plan::MemoryPlanStore;
use clu_core::tool::ToolEnv;
use clu_testkit::reststub::{RestReply, RestRequest, RestStub};
use serde_json::{Value, json};

const SCHEMA: &str = r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,"properties":{"replicaCount":{"type":"integer","minimum":1},"resources":{"type":"object"}}}"#;

/// EKS with one cluster `prod` on Kubernetes 1.31 and, optionally, `coredns` installed.
fn eks(addon: Arc<Mutex<Option<Value>>>) -> impl Fn(&RestRequest) -> RestReply + Send + Sync {
    move |request| {
        let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
        let mut addon = addon.lock().unwrap();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["clusters", "prod"]) => RestReply::ok(json!({"cluster": {
                "name": "prod", "version": "1.31", "status": "ACTIVE",
            }})),
            ("GET", ["clusters", "prod", "addons", "coredns"]) => match addon.as_ref() {
                Some(current) => RestReply::ok(json!({ "addon": current })),
                None => RestReply::JsonError(
                    404,
                    "ResourceNotFoundException".into(),
                    "No addon: coredns found in cluster: prod".into(),
                ),
            },
            ("GET", ["addons", "supported-versions"]) => RestReply::ok(json!({"addons": [{
                "addonName": "coredns",
                "addonVersions": [
                    {"addonVersion": "v1.11.4-eksbuild.2", "compatibilities": [{"clusterVersion": "1.31", "defaultVersion": true}]},
                    {"addonVersion": "v1.11.3-eksbuild.1", "compatibilities": [{"clusterVersion": "1.31", "defaultVersion": false}]},
                ],
            }]})),
            ("GET", ["addons", "configuration-schemas"]) => RestReply::ok(json!({
                "addonName": "coredns",
                "addonVersion": request.query_param("addonVersion"),
                "configurationSchema": SCHEMA,
            })),
            ("POST", ["clusters", "prod", "addons"]) => {
                let body = request.json();
                let created = json!({
                    "addonName": body["addonName"], "clusterName": "prod",
                    "addonVersion": body["addonVersion"], "status": "CREATING",
                    "configurationValues": body["configurationValues"],
                });
                *addon = Some(created.clone());
                RestReply::ok(json!({ "addon": created }))
            }
            ("POST", ["clusters", "prod", "addons", "coredns", "update"]) => {
                let body = request.json();
                if let Some(current) = addon.as_mut() {
                    current["addonVersion"] = body["addonVersion"].clone();
                    current["configurationValues"] = body["configurationValues"].clone();
                }
                RestReply::ok(
                    json!({"update": {"id": "u-9", "status": "InProgress", "type": "AddonUpdate"}}),
                )
            }
            ("DELETE", ["clusters", "prod", "addons", "coredns"]) => {
                let removed = addon.take().unwrap_or(Value::Null);
                RestReply::ok(json!({ "addon": removed }))
            }
            _ => RestReply::JsonError(
                404,
                "ResourceNotFoundException".into(),
                format!("no route {}", request.path),
            ),
        }
    }
}

fn installed(version: &str, values: &str) -> Option<Value> {
    Some(json!({
        "addonName": "coredns", "clusterName": "prod", "addonVersion": version,
        "status": "ACTIVE", "configurationValues": values,
    }))
}

async fn harness(addon: Option<Value>) -> (RestStub, Harness, Arc<Mutex<Option<Value>>>) {
    let state = Arc::new(Mutex::new(addon));
    let stub = RestStub::start(eks(state.clone())).await;
    let mut harness = Harness::with_cluster(stub.sdk_config().await, "prod");
    let env = ToolEnv { plans: Some(Arc::new(MemoryPlanStore::new())), ..(*harness.env).clone() };
    harness.env = Arc::new(env);
    (stub, harness, state)
}

fn writes(stub: &RestStub) -> Vec<String> {
    stub.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn a_create_plan_resolves_the_default_version_and_changes_nothing_until_approved() {
    let (stub, harness, state) = harness(None).await;
    let plan = harness
        .call(
            "eks_create_addon",
            json!({"addon_name": "coredns", "configuration_values": {"replicaCount": 3}}),
        )
        .await;

    assert_eq!(plan["state"]["kind"], "pending", "{plan:#}");
    let diff = plan["diff"].as_str().unwrap();
    assert!(diff.contains("- (not installed)"), "{diff}");
    assert!(diff.contains("+ version: v1.11.4-eksbuild.2"), "{diff}");
    assert!(diff.contains("\"replicaCount\": 3"), "{diff}");
    assert!(writes(&stub).is_empty(), "a plan sent {:?}", writes(&stub));

    let id = plan["id"].as_str().unwrap();
    let digest = plan["digest"].as_str().unwrap();
    let report = harness.registry.execute(&harness.env, id, digest, "alice").await.unwrap();
    assert!(report.verification.passed, "{:?}", report.verification);
    assert_eq!(writes(&stub), ["POST /clusters/prod/addons"]);
    let sent = state.lock().unwrap().clone().unwrap();
    assert_eq!(sent["addonVersion"], "v1.11.4-eksbuild.2");
    assert_eq!(sent["configurationValues"], r#"{"replicaCount":3}"#);

    let undo = report.undo_plan.expect("an undo plan");
    assert_eq!(undo.tool, "eks_delete_addon");
    assert!(undo.diff.contains("+ (removed)"), "{}", undo.diff);
    harness.assert_declared_equals_used(&["eks_create_addon"]);
}

#[tokio::test]
async fn values_outside_the_addon_schema_are_refused_before_anything_is_sent() {
    let (stub, harness, _) = harness(installed("v1.11.3-eksbuild.1", "")).await;
    let error = harness
        .error(
            "eks_update_addon",
            json!({"addon_name": "coredns", "configuration_values": {"replicaCount": 0, "color": "blue"}}),
        )
        .await;
    assert_eq!(error.code(), "invalid-input");
    let message = error.to_string();
    assert!(message.contains("replicaCount") && message.contains("color"), "{message}");
    assert!(writes(&stub).is_empty());
}

#[tokio::test]
async fn an_update_plan_shows_current_and_target_and_a_tampered_digest_is_refused() {
    let (stub, harness, _) =
        harness(installed("v1.11.3-eksbuild.1", r#"{"replicaCount":2}"#)).await;
    let plan = harness
        .call(
            "eks_update_addon",
            json!({"addon_name": "coredns", "addon_version": "v1.11.4-eksbuild.2"}),
        )
        .await;
    let diff = plan["diff"].as_str().unwrap();
    assert!(diff.contains("- version: v1.11.3-eksbuild.1"), "{diff}");
    assert!(diff.contains("+ version: v1.11.4-eksbuild.2"), "{diff}");
    assert!(diff.contains("  configuration:"), "unchanged values are shown as kept: {diff}");

    let id = plan["id"].as_str().unwrap();
    let error = harness.registry.execute(&harness.env, id, "0000", "mallory").await.unwrap_err();
    assert_eq!(error.code(), "digest-mismatch", "{error}");
    assert!(writes(&stub).is_empty());

    let digest = plan["digest"].as_str().unwrap();
    let report = harness.registry.execute(&harness.env, id, digest, "alice").await.unwrap();
    assert_eq!(writes(&stub), ["POST /clusters/prod/addons/coredns/update"]);
    let undo = report.undo_plan.expect("an undo plan");
    assert_eq!(undo.input["addon_version"], "v1.11.3-eksbuild.1");
    harness.assert_declared_equals_used(&["eks_update_addon"]);
}

#[tokio::test]
async fn an_addon_changed_after_the_plan_makes_the_approval_stale() {
    let (stub, harness, state) = harness(installed("v1.11.3-eksbuild.1", "")).await;
    let plan = harness.call("eks_delete_addon", json!({"addon_name": "coredns"})).await;
    *state.lock().unwrap() = installed("v1.11.4-eksbuild.2", "");

    let id = plan["id"].as_str().unwrap();
    let digest = plan["digest"].as_str().unwrap();
    let error = harness.registry.execute(&harness.env, id, digest, "alice").await.unwrap_err();
    assert_eq!(error.code(), "plan-stale", "{error}");
    assert!(writes(&stub).is_empty(), "{:?}", writes(&stub));
}

#[tokio::test]
async fn creating_an_installed_addon_points_to_the_update_verb() {
    let (_stub, harness, _) = harness(installed("v1.11.3-eksbuild.1", "")).await;
    let error = harness.error("eks_create_addon", json!({"addon_name": "coredns"})).await;
    assert!(error.to_string().contains("eks_update_addon"), "{error}");
}
