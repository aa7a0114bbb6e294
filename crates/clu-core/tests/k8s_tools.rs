//! The Kubernetes read tools against the fake API server of clu-testkit, through
//! `Registry::call` as the agent calls them: real content from a realistic `shop` namespace,
//! Secrets never requested, the guard refusing what a tool did not declare, and each tool's
//! declaration equal to what it really uses.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use clu_core::guard::{Recorder, Use};
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};
use clu_core::tools::k8s::{K8sList, K8sLogs};
use clu_core::{RbacRule, Registry, ToolError};
use clu_testkit::apiserver::fixture::{self, Fixture, NAMESPACE};
use clu_testkit::apiserver::{FakeApiServer, RecordedRequest};
use serde_json::{Value, json};

const K8S_TOOLS: [&str; 5] = ["k8s_get", "k8s_list", "k8s_describe", "k8s_logs", "k8s_events"];

/// The fake server with the `shop` fixture, the Core registry, and an environment recording
/// what each tool used.
struct Harness {
    server: FakeApiServer,
    registry: Registry,
    env: Arc<ToolEnv>,
    recorder: Recorder,
}

impl Harness {
    async fn new() -> Self {
        Self::with_fixture(Fixture::shop()).await
    }

    async fn with_fixture(fixture: Fixture) -> Self {
        let server = FakeApiServer::with_fixture(fixture).await;
        Self::on(server, clu_core::tools::registry().unwrap())
    }

    fn on(server: FakeApiServer, registry: Registry) -> Self {
        let recorder = Recorder::new();
        let env = Arc::new(ToolEnv {
            kube: Some(server.client()),
            recorder: Some(recorder.clone()),
            ..Default::default()
        });
        Self { server, registry, env, recorder }
    }

    async fn call(&self, tool: &str, input: Value) -> Result<Value, ToolError> {
        self.registry.call(&self.env, tool, input).await.result
    }

    async fn ok(&self, tool: &str, input: Value) -> Value {
        self.call(tool, input.clone())
            .await
            .unwrap_or_else(|error| panic!("{tool} {input}: [{}] {error}", error.code()))
    }

    async fn err(&self, tool: &str, input: Value) -> ToolError {
        match self.call(tool, input.clone()).await {
            Ok(output) => panic!("{tool} {input} should fail, returned {output:#}"),
            Err(error) => error,
        }
    }

    /// Resource requests (not discovery) the server received.
    fn resource_requests(&self) -> Vec<RecordedRequest> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| {
                // `/api/v1/...` and `/apis/GROUP/VERSION/...`; shorter paths are discovery.
                let parts = r.path.trim_matches('/').split('/').count();
                (r.path.starts_with("/api/") && parts >= 3)
                    || (r.path.starts_with("/apis/") && parts >= 4)
            })
            .collect()
    }
}

fn rows(output: &Value) -> &Vec<Value> {
    output["rows"].as_array().unwrap_or_else(|| panic!("no rows in {output:#}"))
}

fn row<'a>(output: &'a Value, name: &str) -> &'a Value {
    rows(output).iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no row {name}"))
}

fn many_pods(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            fixture::running_pod(
                "load",
                &format!("worker-{i:03}"),
                &json!({ "app": "worker", "shard": (i % 4).to_string() }),
                ("ReplicaSet", "worker-5c9d8f7b6"),
                fixture::NODE_READY,
                "busybox:1.36",
            )
        })
        .collect()
}

// k8s_get

#[tokio::test]
async fn get_returns_the_object_without_managed_fields() {
    let h = Harness::new().await;
    let pod = h
        .ok(
            "k8s_get",
            json!({ "kind": "Pod", "namespace": NAMESPACE, "name": fixture::CRASH_LOOP_POD }),
        )
        .await;

    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["apiVersion"], "v1");
    assert_eq!(pod["metadata"]["name"], fixture::CRASH_LOOP_POD);
    assert!(pod["metadata"]["uid"].is_string() && pod["metadata"]["resourceVersion"].is_string());
    assert!(pod["metadata"].get("managedFields").is_none(), "{:#}", pod["metadata"]);
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(status["restartCount"], 7);
    assert_eq!(status["lastState"]["terminated"]["reason"], "Error");

    // The server did hold managedFields, so the tool is what removed them.
    let stored = h.server.objects_of("", "v1", "pods");
    let stored = stored.iter().find(|p| p["metadata"]["name"] == fixture::CRASH_LOOP_POD).unwrap();
    assert!(stored["metadata"]["managedFields"].is_array());
}

#[tokio::test]
async fn get_takes_kinds_as_kubectl_does() {
    let h = Harness::new().await;
    for kind in ["Deployment", "deployments", "deploy", "deployments.apps", "apps/v1/Deployment"] {
        let deployment = h
            .ok("k8s_get", json!({ "kind": kind, "namespace": NAMESPACE, "name": "checkout" }))
            .await;
        assert_eq!(deployment["status"]["unavailableReplicas"], 2, "{kind}");
    }
    let node = h.ok("k8s_get", json!({ "kind": "node", "name": fixture::NODE_NOT_READY })).await;
    assert_eq!(node["kind"], "Node");
    let event = h
        .ok(
            "k8s_get",
            json!({
                "kind": "Event",
                "api_version": "events.k8s.io/v1",
                "namespace": "default",
                "name": "ip-10-0-2-20.ec2.internal.17c2a1f0b3e4d5c6",
            }),
        )
        .await;
    assert_eq!(event["regarding"]["name"], fixture::NODE_NOT_READY);
}

#[tokio::test]
async fn get_of_a_missing_object_is_not_found() {
    let h = Harness::new().await;
    let error =
        h.err("k8s_get", json!({ "kind": "Pod", "namespace": NAMESPACE, "name": "nope" })).await;
    assert_eq!(error.code(), "not-found");
    assert!(error.to_string().contains("pods \"nope\" not found"), "{error}");

    let error = h
        .err("k8s_get", json!({ "kind": "Deployment", "api_version": "apps/v9", "namespace": NAMESPACE, "name": "web" }))
        .await;
    assert_eq!(error.code(), "not-found", "{error}");
}

#[tokio::test]
async fn get_needs_a_namespace_for_a_namespaced_kind() {
    let h = Harness::new().await;
    let error = h.err("k8s_get", json!({ "kind": "Pod", "name": fixture::CRASH_LOOP_POD })).await;
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("`namespace` is required"), "{error}");
}

#[tokio::test]
async fn unknown_kinds_are_refused_with_the_readable_kinds_named() {
    let h = Harness::new().await;
    let error =
        h.err("k8s_get", json!({ "kind": "Rollout", "namespace": NAMESPACE, "name": "x" })).await;
    assert_eq!(error.code(), "invalid-input");
    let message = error.to_string();
    assert!(
        message.contains("`Rollout`") && message.contains("Deployment, ReplicaSet"),
        "{message}"
    );
    assert!(h.server.requests().is_empty(), "nothing is sent for an unknown kind");
}

// Secrets

#[tokio::test]
async fn secrets_are_refused_and_never_requested() {
    let h = Harness::new().await;
    let name = fixture::SECRET;
    let attempts = [
        ("k8s_get", json!({ "kind": "secret", "namespace": NAMESPACE, "name": name })),
        ("k8s_get", json!({ "kind": "Secrets", "namespace": NAMESPACE, "name": name })),
        ("k8s_get", json!({ "kind": "v1/Secret", "namespace": NAMESPACE, "name": name })),
        (
            "k8s_get",
            json!({ "kind": "Secret", "api_version": "v1", "namespace": NAMESPACE, "name": name }),
        ),
        ("k8s_list", json!({ "kind": "secrets" })),
        ("k8s_list", json!({ "kind": "SECRET", "namespace": NAMESPACE, "detail": true })),
        ("k8s_describe", json!({ "kind": "Secret", "namespace": NAMESPACE, "name": name })),
    ];
    for (tool, input) in attempts {
        let error = h.err(tool, input.clone()).await;
        assert_eq!(error.code(), "forbidden-material", "{tool} {input}: {error}");
        assert!(error.to_string().contains("Secrets"), "{error}");
    }

    let requests = h.server.requests();
    assert!(requests.is_empty(), "a refused kind sends nothing, not even discovery: {requests:?}");

    // Listing ConfigMaps and describing pods that mount Secrets never touches Secrets either.
    h.ok("k8s_list", json!({ "kind": "ConfigMap", "namespace": NAMESPACE, "detail": true })).await;
    h.ok(
        "k8s_describe",
        json!({ "kind": "Pod", "namespace": NAMESPACE, "name": fixture::CRASH_LOOP_POD }),
    )
    .await;
    let secret_requests: Vec<_> =
        h.server.requests().into_iter().filter(|r| r.path.contains("secrets")).collect();
    assert!(secret_requests.is_empty(), "{secret_requests:?}");
}

#[test]
fn no_k8s_tool_declares_secrets() {
    for tool in clu_core::tools::tools() {
        for rule in &tool.spec().permissions.rbac {
            assert!(
                !rule.covers("get", "", "secrets", None)
                    && !rule.covers("list", "", "secrets", None),
                "{}: {rule}",
                tool.spec().name
            );
        }
    }
}

// k8s_list

#[tokio::test]
async fn list_shows_pod_status_columns() {
    let h = Harness::new().await;
    let output = h.ok("k8s_list", json!({ "kind": "pods", "namespace": NAMESPACE })).await;
    assert_eq!(output["kind"], "Pod");
    assert_eq!(output["truncated"], false);
    assert_eq!(output["total"], output["count"]);

    let crash = row(&output, fixture::CRASH_LOOP_POD);
    assert_eq!(crash["status"], "CrashLoopBackOff");
    assert_eq!(crash["ready"], "0/1");
    assert_eq!(crash["restarts"], 7);
    assert_eq!(crash["last_termination"], "Error");
    assert_eq!(crash["node"], fixture::NODE_READY);
    assert_eq!(crash["namespace"], NAMESPACE);
    assert!(crash["age"].as_str().is_some_and(|age| age.ends_with('m')), "{crash}");

    assert_eq!(row(&output, fixture::OOM_KILLED_POD)["last_termination"], "OOMKilled");
    assert_eq!(row(&output, fixture::IMAGE_PULL_POD)["status"], "ImagePullBackOff");
    assert_eq!(row(&output, fixture::PENDING_POD)["status"], "Pending (Unschedulable)");
    assert!(row(&output, fixture::PENDING_POD).get("node").is_none());
    assert_eq!(row(&output, fixture::UNREADY_POD)["status"], "Running");
    assert_eq!(row(&output, fixture::UNREADY_POD)["ready"], "0/1");
    assert_eq!(row(&output, fixture::CHECKOUT_READY_POD)["ready"], "1/1");
}

#[tokio::test]
async fn list_shows_deployment_and_node_status() {
    let h = Harness::new().await;
    let deployments = h.ok("k8s_list", json!({ "kind": "deploy", "namespace": NAMESPACE })).await;
    assert_eq!(row(&deployments, "web")["ready"], "2/2");
    assert_eq!(row(&deployments, "checkout")["ready"], "1/3");
    assert_eq!(row(&deployments, "checkout")["unavailable"], 2);

    let nodes = h.ok("k8s_list", json!({ "kind": "nodes", "namespace": "ignored" })).await;
    assert_eq!(nodes["namespace"], Value::Null);
    assert_eq!(nodes["count"], 3);
    assert_eq!(row(&nodes, fixture::NODE_READY)["ready"], "True");
    assert_eq!(row(&nodes, fixture::NODE_NOT_READY)["ready"], "Unknown");
    assert_eq!(row(&nodes, fixture::NODE_MEMORY_PRESSURE)["pressure"], json!(["MemoryPressure"]));
    assert_eq!(row(&nodes, fixture::NODE_READY)["pressure"], json!([]));

    let claims = h.ok("k8s_list", json!({ "kind": "pvc", "namespace": NAMESPACE })).await;
    assert_eq!(row(&claims, fixture::PENDING_CLAIM)["phase"], "Pending");
    let endpoints = h.ok("k8s_list", json!({ "kind": "endpoints", "namespace": NAMESPACE })).await;
    assert_eq!(row(&endpoints, fixture::SERVICE_WITHOUT_ENDPOINTS)["ready_addresses"], 0);
    assert_eq!(row(&endpoints, fixture::SERVICE_WITHOUT_ENDPOINTS)["not_ready_addresses"], 1);
}

#[tokio::test]
async fn list_filters_with_label_and_field_selectors() {
    let h = Harness::new().await;
    let names = |output: &Value| -> BTreeSet<String> {
        rows(output).iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
    };

    let web = h.ok("k8s_list", json!({ "kind": "Pod", "label_selector": "app=web" })).await;
    assert_eq!(
        names(&web),
        BTreeSet::from(["web-6d4cf56db6-2xkqp".into(), "web-6d4cf56db6-7hjlm".into()])
    );
    let backend = h
        .ok("k8s_list", json!({ "kind": "Pod", "namespace": NAMESPACE, "label_selector": "app in (checkout, payments),tier" }))
        .await;
    assert_eq!(backend["count"], 3);

    let pending = h
        .ok("k8s_list", json!({ "kind": "Pod", "namespace": NAMESPACE, "field_selector": "status.phase=Pending" }))
        .await;
    assert_eq!(
        names(&pending),
        BTreeSet::from([fixture::IMAGE_PULL_POD.into(), fixture::PENDING_POD.into()])
    );
    let on_node = h
        .ok("k8s_list", json!({ "kind": "Pod", "field_selector": format!("spec.nodeName={}", fixture::NODE_MEMORY_PRESSURE) }))
        .await;
    assert_eq!(on_node["count"], 2);

    let sent = h.server.requests();
    assert!(
        sent.iter().any(|r| r.param("labelSelector") == Some("app in (checkout, payments),tier"))
    );
    assert!(
        sent.iter()
            .any(|r| r.path == "/api/v1/pods" && r.param("labelSelector") == Some("app=web"))
    );
}

#[tokio::test]
async fn bad_selectors_are_input_errors() {
    let h = Harness::new().await;
    let error = h.err("k8s_list", json!({ "kind": "Pod", "label_selector": "app in web" })).await;
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("`label_selector` or `field_selector`"), "{error}");

    let error = h
        .err("k8s_list", json!({ "kind": "Service", "field_selector": "status.phase=Running" }))
        .await;
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("field label not supported: status.phase"), "{error}");
}

#[tokio::test]
async fn a_big_list_is_a_compact_table_and_detail_comes_on_request() {
    let h = Harness::with_fixture(Fixture::shop().objects(many_pods(200))).await;

    let table = h.ok("k8s_list", json!({ "kind": "Pod", "namespace": "load" })).await;
    assert_eq!((table["count"].clone(), table["total"].clone()), (json!(200), json!(200)));
    assert_eq!(table["truncated"], false);
    assert!(table.get("items").is_none());
    let first = &rows(&table)[0];
    assert_eq!(first["name"], "worker-000");
    assert_eq!(first["status"], "Running");
    assert!(first.get("spec").is_none() && first.get("metadata").is_none(), "{first}");
    let table_bytes = table.to_string().len();

    let detail =
        h.ok("k8s_list", json!({ "kind": "Pod", "namespace": "load", "detail": true })).await;
    let items = detail["items"].as_array().unwrap();
    assert_eq!(items.len(), 50, "full detail is bounded");
    assert_eq!(detail["truncated"], true);
    assert_eq!(detail["total"], 200);
    assert!(items.iter().all(|item| item["metadata"].get("managedFields").is_none()));
    assert_eq!(items[0]["spec"]["containers"][0]["image"], "busybox:1.36");
    assert!(detail.to_string().len() > table_bytes, "four times fewer objects, still larger");

    let token = detail["continue_token"].as_str().unwrap();
    let next = h
        .ok(
            "k8s_list",
            json!({ "kind": "Pod", "namespace": "load", "detail": true, "continue_token": token }),
        )
        .await;
    assert_eq!(next["items"][0]["metadata"]["name"], "worker-050");
}

#[tokio::test]
async fn lists_are_read_page_by_page_up_to_the_limit() {
    let server = FakeApiServer::start(many_pods(200)).await;
    let registry = Registry::new([Arc::new(K8sList::with_page_size(40)) as Arc<dyn Tool>]).unwrap();
    let h = Harness::on(server, registry);

    let first = h.ok("k8s_list", json!({ "kind": "Pod", "namespace": "load", "limit": 150 })).await;
    assert_eq!(first["count"], 150);
    assert_eq!(first["total"], 200);
    assert_eq!(first["truncated"], true);
    assert!(first["note"].as_str().unwrap().contains("continue_token"));
    let pages: Vec<RecordedRequest> = h.resource_requests();
    let limits: Vec<Option<&str>> = pages.iter().map(|r| r.param("limit")).collect();
    assert_eq!(limits, [Some("40"), Some("40"), Some("40"), Some("30")]);
    assert_eq!(pages[0].param("continue"), None);
    assert!(pages[1..].iter().all(|r| r.param("continue").is_some()), "{pages:?}");
    assert!(pages.iter().all(|r| r.path == "/api/v1/namespaces/load/pods"));

    let token = first["continue_token"].as_str().unwrap();
    let rest = h
        .ok("k8s_list", json!({ "kind": "Pod", "namespace": "load", "continue_token": token }))
        .await;
    assert_eq!(rest["count"], 50);
    assert_eq!(rest["truncated"], false);
    assert_eq!(rows(&rest)[0]["name"], "worker-150");
    assert_eq!(rows(&rest)[49]["name"], "worker-199");
}

#[tokio::test]
async fn a_truncated_list_with_selectors_says_the_total_is_unknown() {
    let h = Harness::with_fixture(Fixture::new().objects(many_pods(120))).await;
    let output =
        h.ok("k8s_list", json!({ "kind": "Pod", "label_selector": "shard=1", "limit": 10 })).await;
    assert_eq!(output["count"], 10);
    assert_eq!(output["total"], "more than 10");
}

// k8s_describe

#[tokio::test]
async fn describe_a_crash_looping_pod() {
    let h = Harness::new().await;
    let output = h
        .ok(
            "k8s_describe",
            json!({ "kind": "pod", "namespace": NAMESPACE, "name": fixture::CRASH_LOOP_POD }),
        )
        .await;

    let container = &output["containers"][0];
    assert_eq!(container["name"], "checkout");
    assert_eq!(container["state"], "waiting");
    assert_eq!(container["waiting"]["reason"], "CrashLoopBackOff");
    assert!(container["waiting"]["message"].as_str().unwrap().contains("back-off 5m0s"));
    assert_eq!(container["ready"], false);
    assert_eq!(container["restarts"], 7);
    assert_eq!(container["last_termination"]["reason"], "Error");
    assert_eq!(container["last_termination"]["exit_code"], 1);

    let owners = output["owners"].as_array().unwrap();
    let chain: Vec<(&str, &str)> =
        owners.iter().map(|o| (o["kind"].as_str().unwrap(), o["name"].as_str().unwrap())).collect();
    assert_eq!(chain, [("ReplicaSet", fixture::CHECKOUT_REPLICA_SET), ("Deployment", "checkout")]);
    assert_eq!(owners[1]["summary"]["ready"], "1/3");

    // Two event objects with the same reason and message fold into one row of 5 + 26, and
    // the newest comes first.
    let events = output["events"].as_array().unwrap();
    assert_eq!(events[0]["reason"], "BackOff");
    assert_eq!(events[0]["count"], 31);
    assert_eq!(events[0]["type"], "Warning");
    assert!(events[0]["first_seen"]["ago"].as_str().unwrap().ends_with('m'));
    assert!(events[0]["last_seen"]["ago"].as_str().unwrap().ends_with('s'));
    assert_eq!(events[1]["reason"], "Pulled");
    assert_eq!(output["events_total"], 2);
    assert_eq!(output["summary"]["status"], "CrashLoopBackOff");
    assert!(output["object"]["metadata"].get("managedFields").is_none());
}

#[tokio::test]
async fn describe_an_oom_killed_and_an_unschedulable_pod() {
    let h = Harness::new().await;
    let oom = h
        .ok(
            "k8s_describe",
            json!({ "kind": "Pod", "namespace": NAMESPACE, "name": fixture::OOM_KILLED_POD }),
        )
        .await;
    assert_eq!(oom["containers"][0]["last_termination"]["reason"], "OOMKilled");
    assert_eq!(oom["containers"][0]["last_termination"]["exit_code"], 137);
    assert_eq!(oom["containers"][0]["resources"]["limits"]["memory"], "256Mi");

    let pull = h
        .ok(
            "k8s_describe",
            json!({ "kind": "Pod", "namespace": NAMESPACE, "name": fixture::IMAGE_PULL_POD }),
        )
        .await;
    let waiting = &pull["containers"][0]["waiting"];
    assert_eq!(waiting["reason"], "ImagePullBackOff");
    assert!(waiting["message"].as_str().unwrap().contains(fixture::MISSING_IMAGE));
    // Its replica set has no deployment in the fixture: the chain says so.
    assert_eq!(pull["owners"][1]["note"], "not found: the owner was deleted");

    let pending = h
        .ok(
            "k8s_describe",
            json!({ "kind": "Pod", "namespace": NAMESPACE, "name": fixture::PENDING_POD }),
        )
        .await;
    let scheduled = pending["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap();
    assert_eq!(
        (scheduled["status"].as_str(), scheduled["reason"].as_str()),
        (Some("False"), Some("Unschedulable"))
    );
    assert!(scheduled["message"].as_str().unwrap().starts_with("0/3 nodes are available"));
    let chain: Vec<&str> =
        pending["owners"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(chain, ["Job", "CronJob"]);
    assert_eq!(pending["events"][0]["reason"], "FailedScheduling");
    assert_eq!(pending["events"][0]["count"], 14, "an event series counts its repeats");
}

#[tokio::test]
async fn describe_a_pod_failing_readiness_and_a_not_ready_node() {
    let h = Harness::new().await;
    let search = h
        .ok(
            "k8s_describe",
            json!({ "kind": "Pod", "namespace": NAMESPACE, "name": fixture::UNREADY_POD }),
        )
        .await;
    assert_eq!(search["containers"][0]["state"], "running");
    assert_eq!(search["containers"][0]["ready"], false);
    assert!(search["containers"][0]["readiness_probe"]["httpGet"].is_object());
    let ready =
        search["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(search["events"][0]["reason"], "Unhealthy");
    assert!(
        search["events"][0]["message"].as_str().unwrap().starts_with("Readiness probe failed:")
    );
    assert_eq!(search["owners"][0]["kind"], "StatefulSet");
    assert_eq!(search["owners"][0]["summary"]["ready"], "0/1");

    // A node's events live in `default`; a cluster-scoped object's are looked for everywhere.
    let node =
        h.ok("k8s_describe", json!({ "kind": "Node", "name": fixture::NODE_NOT_READY })).await;
    assert_eq!(node["summary"]["ready"], "Unknown");
    assert_eq!(node["events"][0]["reason"], "NodeNotReady");
    assert_eq!(node["owners"], json!([]));
    assert!(node.get("containers").is_none());
    assert!(h.server.requests().iter().any(|r| r.path == "/api/v1/events"
        && r.param("fieldSelector")
            == Some(&*format!(
                "involvedObject.kind=Node,involvedObject.name={}",
                fixture::NODE_NOT_READY
            ))));
}

// k8s_events

#[tokio::test]
async fn events_are_newest_first_with_repeats_folded() {
    let h = Harness::new().await;
    let output = h.ok("k8s_events", json!({ "namespace": NAMESPACE, "type": "Warning" })).await;
    let events = output["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["type"] == "Warning"));
    let last_seen: Vec<&str> =
        events.iter().map(|e| e["last_seen"]["at"].as_str().unwrap()).collect();
    let mut sorted = last_seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(last_seen, sorted, "newest first");
    assert_eq!(events[0]["reason"], "Unhealthy");
    assert_eq!(events[0]["count"], 42);

    let backoff: Vec<&Value> = events
        .iter()
        .filter(|e| e["object"] == format!("Pod/{}", fixture::CRASH_LOOP_POD))
        .collect();
    assert_eq!(backoff.len(), 1, "two event objects, one row");
    assert_eq!(backoff[0]["count"], 31);
    assert_eq!(backoff[0]["source"], "kubelet");
    assert!(backoff[0]["first_seen"]["at"].as_str() < backoff[0]["last_seen"]["at"].as_str());

    let sent = h.server.requests();
    assert!(sent.iter().any(|r| r.path == "/api/v1/namespaces/shop/events"
        && r.param("fieldSelector") == Some("type=Warning")));
}

#[tokio::test]
async fn events_filter_by_object_and_reason() {
    let h = Harness::new().await;
    let output = h
        .ok(
            "k8s_events",
            json!({ "involved_kind": "Pod", "involved_name": fixture::IMAGE_PULL_POD }),
        )
        .await;
    let reasons: Vec<&str> = output["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["BackOff", "Failed"]);

    let output = h.ok("k8s_events", json!({ "reason": "NodeNotReady" })).await;
    assert_eq!(output["count"], 1);
    assert_eq!(
        output["events"][0]["namespace"],
        Value::Null,
        "a node's event has no object namespace"
    );

    let limited = h.ok("k8s_events", json!({ "namespace": NAMESPACE, "limit": 2 })).await;
    assert_eq!(limited["count"], 2);
    assert_eq!(limited["truncated"], true);
}

// k8s_logs

#[tokio::test]
async fn logs_current_previous_and_tail() {
    let h = Harness::new().await;
    let current =
        h.ok("k8s_logs", json!({ "namespace": NAMESPACE, "pod": fixture::CRASH_LOOP_POD })).await;
    assert_eq!(current["container"], "checkout");
    assert_eq!(current["lines"], 3);
    assert!(current["log"].as_str().unwrap().ends_with("checkout-db.shop.svc:5432\n"));

    let previous = h
        .ok(
            "k8s_logs",
            json!({ "namespace": NAMESPACE, "pod": fixture::CRASH_LOOP_POD, "previous": true }),
        )
        .await;
    assert_eq!(previous["previous"], true);
    assert!(previous["log"].as_str().unwrap().contains("connect: connection refused"));

    let tail = h
        .ok(
            "k8s_logs",
            json!({ "namespace": NAMESPACE, "pod": "web-6d4cf56db6-2xkqp", "tail_lines": 5 }),
        )
        .await;
    assert_eq!(tail["lines"], 5);
    assert!(tail["log"].as_str().unwrap().trim_end().ends_with("\"seq\":300}"));
    let default =
        h.ok("k8s_logs", json!({ "namespace": NAMESPACE, "pod": "web-6d4cf56db6-2xkqp" })).await;
    assert_eq!(default["lines"], 200, "200 lines by default");

    // The web pod writes a line every 10 seconds.
    let recent = h
        .ok(
            "k8s_logs",
            json!({ "namespace": NAMESPACE, "pod": "web-6d4cf56db6-2xkqp", "since_seconds": 95 }),
        )
        .await;
    let lines = recent["lines"].as_u64().unwrap();
    assert!((9..=11).contains(&lines), "{lines} lines in 95 seconds");

    let sent: Vec<RecordedRequest> =
        h.resource_requests().into_iter().filter(|r| r.path.ends_with("/log")).collect();
    assert_eq!(sent[0].param("tailLines"), Some("200"));
    assert_eq!(sent[0].param("container"), Some("checkout"));
    assert_eq!(sent[1].param("previous"), Some("true"));
    assert_eq!(sent[4].param("sinceSeconds"), Some("95"));
}

#[tokio::test]
async fn long_logs_keep_the_newest_lines_with_a_note() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let registry =
        Registry::new([Arc::new(K8sLogs::with_max_bytes(1_000)) as Arc<dyn Tool>]).unwrap();
    let h = Harness::on(server, registry);
    let output = h
        .ok(
            "k8s_logs",
            json!({ "namespace": NAMESPACE, "pod": "web-6d4cf56db6-2xkqp", "tail_lines": 100 }),
        )
        .await;
    let log = output["log"].as_str().unwrap();
    assert!(log.len() <= 1_000);
    assert!(log.starts_with("{\"level\""), "starts at a line boundary: {log}");
    assert!(log.trim_end().ends_with("\"seq\":300}"), "keeps the newest line");
    assert_eq!(output["truncated"], true);
    let note = output["note"].as_str().unwrap();
    assert!(
        note.starts_with("output truncated: kept the newest") && note.contains("tail_lines"),
        "{note}"
    );
}

#[tokio::test]
async fn logs_errors_name_what_is_wrong() {
    let h = Harness::new().await;
    let error = h
        .err("k8s_logs", json!({ "namespace": NAMESPACE, "pod": fixture::CRASH_LOOP_POD, "container": "sidecar" }))
        .await;
    assert_eq!(error.code(), "invalid-input");
    assert!(
        error.to_string().contains("`container` `sidecar`")
            && error.to_string().contains("checkout"),
        "{error}"
    );

    let error = h
        .err(
            "k8s_logs",
            json!({ "namespace": NAMESPACE, "pod": "web-6d4cf56db6-2xkqp", "previous": true }),
        )
        .await;
    assert_eq!(error.code(), "tool-failed");
    assert!(error.to_string().contains("previous terminated container \"web\""), "{error}");

    let error = h.err("k8s_logs", json!({ "namespace": NAMESPACE, "pod": "gone" })).await;
    assert_eq!(error.code(), "not-found");
}

// Input validation and the guard

#[tokio::test]
async fn invalid_input_is_rejected_with_the_field_named() {
    let h = Harness::new().await;
    let cases = [
        (
            "k8s_logs",
            json!({ "namespace": NAMESPACE, "pod": "x", "tail_lines": 10_000 }),
            "`/tail_lines`",
        ),
        ("k8s_logs", json!({ "pod": "x" }), "namespace"),
        ("k8s_list", json!({ "kind": "Pod", "limit": 0 }), "`/limit`"),
        (
            "k8s_get",
            json!({ "kind": "Pod", "namespace": NAMESPACE, "name": "x", "labels": "a" }),
            "labels",
        ),
        ("k8s_events", json!({ "type": "Error" }), "`/type`"),
        ("k8s_describe", json!({ "kind": "", "name": "x" }), "`/kind`"),
    ];
    for (tool, input, field) in cases {
        let error = h.err(tool, input.clone()).await;
        assert_eq!(error.code(), "invalid-input", "{tool} {input}: {error}");
        assert!(error.to_string().contains(field), "{tool} {input}: {error}");
    }
    assert!(h.server.requests().is_empty(), "invalid input sends nothing");
}

/// A tool that declares `get` on pods but lists them, to see the guard refuse it.
struct ListsWithoutDeclaring {
    spec: ToolSpec,
}

#[derive(schemars::JsonSchema, serde::Deserialize)]
struct NoInput {}

#[async_trait]
impl Tool for ListsWithoutDeclaring {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, _input: Value) -> clu_core::Result<Value> {
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(context.kube()?, NAMESPACE);
        let list = pods.list(&Default::default()).await.map_err(|e| context.kube_error(e))?;
        Ok(json!(list.items.len()))
    }
}

#[tokio::test]
async fn the_guard_refuses_a_request_the_tool_did_not_declare() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let tool = ListsWithoutDeclaring {
        spec: ToolSpec::new::<NoInput>(
            "lists_without_declaring",
            "A test tool that lists pods while declaring only get.",
            Tier::Core,
            Risk::Read,
            Permissions { iam: vec![], rbac: vec![RbacRule::new("", ["pods"], ["get"])] },
        ),
    };
    let h = Harness::on(server, Registry::new([Arc::new(tool) as Arc<dyn Tool>]).unwrap());
    let outcome = h.registry.call(&h.env, "lists_without_declaring", json!({})).await;
    let error = outcome.result.expect_err("an undeclared list is refused");
    assert_eq!(error.code(), "undeclared-k8s-request", "{error:?}");
    assert!(error.to_string().contains("did not declare `list pods`"), "{error}");
    assert_eq!(outcome.audit.refused.len(), 1);
    assert!(h.server.requests().is_empty(), "the refused request never reached the server");
}

// Declared = used

/// Every (verb, group, resource) a set of rules declares.
fn declared(rules: &[RbacRule]) -> BTreeSet<Use> {
    let mut uses = BTreeSet::new();
    for rule in rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    uses.insert(Use::Kube {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    uses
}

/// Inputs that take every tool through each of its paths: one object of each API group for
/// the generic tools, owner chains, cluster-scoped kinds, errors after resolution.
fn covering_calls() -> Vec<(&'static str, Value)> {
    let ns = NAMESPACE;
    let one_per_group = [
        ("Pod", ns, fixture::CRASH_LOOP_POD),
        ("Node", "", fixture::NODE_READY),
        ("Deployment", ns, "checkout"),
        ("Job", ns, "nightly-report-28934120"),
        ("events.k8s.io/v1/Event", "default", "ip-10-0-2-20.ec2.internal.17c2a1f0b3e4d5c6"),
        ("Ingress", ns, "shop"),
        ("EndpointSlice", ns, "search-k7x2p"),
        ("Lease", "kube-node-lease", fixture::NODE_READY),
        ("PodDisruptionBudget", ns, "checkout"),
        ("HorizontalPodAutoscaler", ns, "web"),
        ("StorageClass", "", "gp3"),
    ];
    let mut calls = Vec::new();
    for (kind, namespace, name) in one_per_group {
        let namespace = (!namespace.is_empty()).then_some(namespace);
        calls.push(("k8s_get", json!({ "kind": kind, "namespace": namespace, "name": name })));
        calls.push(("k8s_describe", json!({ "kind": kind, "namespace": namespace, "name": name })));
        calls.push(("k8s_list", json!({ "kind": kind, "namespace": namespace })));
    }
    calls.extend([
        ("k8s_describe", json!({ "kind": "Pod", "namespace": ns, "name": fixture::PENDING_POD })),
        ("k8s_describe", json!({ "kind": "Pod", "namespace": ns, "name": fixture::UNREADY_POD })),
        ("k8s_get", json!({ "kind": "Pod", "namespace": ns, "name": "missing" })),
        ("k8s_list", json!({ "kind": "Pod", "detail": true, "label_selector": "app=web" })),
        ("k8s_logs", json!({ "namespace": ns, "pod": fixture::CRASH_LOOP_POD })),
        ("k8s_logs", json!({ "namespace": ns, "pod": fixture::CRASH_LOOP_POD, "previous": true, "tail_lines": 10 })),
        ("k8s_logs", json!({ "namespace": ns, "pod": "web-6d4cf56db6-2xkqp", "since_seconds": 60 })),
        ("k8s_events", json!({})),
        ("k8s_events", json!({ "namespace": ns, "involved_kind": "Pod", "type": "Warning", "reason": "BackOff" })),
    ]);
    calls
}

#[tokio::test]
async fn each_k8s_tool_uses_what_it_declares() {
    let h = Harness::new().await;
    for (tool, input) in covering_calls() {
        // Some calls end in not-found on purpose; what matters is what they sent.
        let _ = h.call(tool, input).await;
    }

    for name in K8S_TOOLS {
        let tool = h.registry.get(name).unwrap();
        let rules = &tool.spec().permissions.rbac;
        let used = h.recorder.uses_of(name);
        assert!(!used.is_empty(), "{name} used nothing");
        for used in &used {
            let Use::Kube { verb, group, resource } = used else {
                panic!("{name} used AWS: {used:?}")
            };
            assert!(
                rules.iter().any(|rule| rule.covers(verb, group, resource, None)),
                "{name} used `{verb} {resource}` in group `{group}`, which it does not declare"
            );
        }

        match name {
            // These read fixed resources, so what they declare and what they use are the same
            // set, resource by resource.
            "k8s_logs" | "k8s_events" => assert_eq!(used, declared(rules), "{name}"),
            // The generic tools declare every readable kind because the model may ask for any
            // of them, while one test run reads the kinds it was given; equality per resource
            // would only test the list of inputs. So: every use is covered (above), and every
            // rule — one per API group, plus describe's events list — was exercised with each
            // of its verbs on at least one of its resources, which catches a rule or a verb
            // that the tool never needs.
            _ => {
                for rule in rules {
                    for verb in &rule.verbs {
                        let exercised = used.iter().any(|u| {
                            matches!(u, Use::Kube { verb: v, group, resource }
                                if v == verb && rule.api_groups.contains(group) && rule.resources.contains(resource))
                        });
                        assert!(
                            exercised,
                            "{name} declares `{verb}` in rule {rule} but never used it"
                        );
                    }
                }
            }
        }
    }
}

#[tokio::test]
#[ignore = "needs cluster"]
async fn list_pods_against_the_cluster_of_kubeconfig() {
    let client = kube::Client::try_default().await.expect("a cluster from KUBECONFIG");
    let env = Arc::new(ToolEnv {
        kube: Some(client),
        recorder: Some(Recorder::new()),
        ..Default::default()
    });
    let registry = clu_core::tools::registry().unwrap();
    let output = registry
        .call(&env, "k8s_list", json!({ "kind": "pods", "namespace": "kube-system" }))
        .await
        .result
        .expect("listing kube-system pods");
    assert_eq!(output["kind"], "Pod");
    assert!(output["count"].as_u64().is_some_and(|n| n > 0), "{output:#}");
}
