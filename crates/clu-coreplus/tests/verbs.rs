//! The Core Plus verbs against the fake API server, through the registry as the agent and the
//! CLI call them: a call makes a plan with a server-side dry-run and changes nothing; the
//! approved apply changes the cluster, verifies, and offers an undo plan that applies too; a
//! change of the live object between plan and apply makes the plan stale; and each verb's RBAC
//! declaration equals what it really sends.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clu_core::guard::{Recorder, Use};
use clu_core::plan::{ManualClock, MemoryPlanStore, SharedClock};
use clu_core::{Plan, Registry, ToolEnv, ToolError};
use clu_testkit::apiserver::fixture::{self, Fixture, NAMESPACE};
use clu_testkit::apiserver::{FakeApiServer, ObjectKey};
use serde_json::{Value, json};

struct Harness {
    server: FakeApiServer,
    registry: Registry,
    env: Arc<ToolEnv>,
    recorder: Recorder,
    clock: Arc<ManualClock>,
}

impl Harness {
    async fn new() -> Self {
        Self::with_registry(clu_coreplus::registry().unwrap()).await
    }

    async fn with_registry(registry: Registry) -> Self {
        let server = FakeApiServer::with_fixture(Fixture::shop()).await;
        let recorder = Recorder::new();
        let clock = Arc::new(ManualClock::new("2026-12-03T10:00:00Z".parse().unwrap()));
        let env = Arc::new(ToolEnv {
            kube: Some(server.client()),
            recorder: Some(recorder.clone()),
            plans: Some(Arc::new(MemoryPlanStore::new())),
            clock: SharedClock(clock.clone()),
            ..ToolEnv::default()
        });
        Self { server, registry, env, recorder, clock }
    }

    async fn plan(&self, tool: &str, input: Value) -> Plan {
        let outcome = self.registry.call(&self.env, tool, input.clone()).await;
        if let Err(error) = &outcome.result {
            panic!("{tool} {input}: [{}] {error}", error.code());
        }
        outcome.plan.unwrap_or_else(|| panic!("{tool} returned no plan"))
    }

    async fn plan_error(&self, tool: &str, input: Value) -> ToolError {
        match self.registry.call(&self.env, tool, input).await.result {
            Ok(value) => panic!("{tool} should fail, returned {value:#}"),
            Err(error) => error,
        }
    }

    async fn approve(&self, plan: &Plan) -> clu_core::ApplyReport {
        self.registry
            .execute(&self.env, &plan.id, &plan.digest, "alice")
            .await
            .unwrap_or_else(|e| panic!("{}: [{}] {e}", plan.tool, e.code()))
    }

    fn object(&self, group: &str, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let version = match group {
            "autoscaling" => "v2",
            _ => "v1",
        };
        self.server.object(&ObjectKey {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
        })
    }

    fn deployment(&self, name: &str) -> Value {
        self.object("apps", "deployments", NAMESPACE, name).expect("the deployment exists")
    }

    /// Writes (not reads) the server received, as `METHOD path?dryRun`.
    fn writes(&self) -> Vec<String> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| {
                let dry = if r.param("dryRun") == Some("All") { " dryRun" } else { "" };
                format!("{} {}{dry}", r.method, r.path)
            })
            .collect()
    }
}

#[tokio::test]
async fn the_registry_follows_the_declaration_rules() {
    let registry = clu_coreplus::registry().unwrap();
    let problems = clu_core::checks::check_registry(&registry, clu_policy::Catalog::embedded());
    assert!(problems.is_empty(), "{problems:#?}");
    for tool in registry.tools() {
        let spec = tool.spec();
        assert!(spec.needs_approval(), "{} must be a write verb", spec.name);
        assert!(spec.permissions.iam.is_empty(), "{} needs no IAM", spec.name);
        for rule in &spec.permissions.rbac {
            assert!(
                !rule.resources.iter().any(|r| r.starts_with("secrets") || r == "serviceaccounts")
            );
        }
    }
}

#[tokio::test]
async fn scale_plans_with_a_dry_run_applies_and_its_undo_restores_the_count() {
    let h = Harness::new().await;
    let input =
        json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web", "replicas": 5 });
    let plan = h.plan("k8s_scale", input).await;
    assert_eq!(h.deployment("web")["spec"]["replicas"], json!(2), "a plan changes nothing");
    assert_eq!(
        h.writes(),
        [format!("PATCH /apis/apps/v1/namespaces/{NAMESPACE}/deployments/web/scale dryRun")]
    );
    assert!(
        plan.diff.contains("-  replicas: 2") && plan.diff.contains("+  replicas: 5"),
        "{}",
        plan.diff
    );
    assert_eq!(plan.summary, "scale apps/v1 Deployment shop/web from 2 to 5 replicas");

    let report = h.approve(&plan).await;
    assert_eq!(h.deployment("web")["spec"]["replicas"], json!(5));
    assert!(report.verification.passed, "{:?}", report.verification);
    let undo = report.undo_plan.expect("the previous count is offered back");
    assert_eq!(undo.input["replicas"], json!(2));
    h.approve(&undo).await;
    assert_eq!(h.deployment("web")["spec"]["replicas"], json!(2));
}

#[tokio::test]
async fn a_live_change_between_plan_and_apply_makes_the_plan_stale() {
    let h = Harness::new().await;
    let input =
        json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web", "replicas": 5 });
    let plan = h.plan("k8s_scale", input).await;

    // Someone else scales it meanwhile.
    let mut deployment = h.deployment("web");
    deployment["spec"]["replicas"] = json!(3);
    h.server.put(deployment);

    let error = h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await.unwrap_err();
    assert_eq!(error.code(), "plan-stale");
    assert_eq!(h.deployment("web")["spec"]["replicas"], json!(3), "nothing was applied");
}

#[tokio::test]
async fn restart_pins_its_timestamp_waits_for_the_rollout_and_undoes_to_the_revision_before() {
    let h = Harness::new().await;
    let input = json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web" });
    let plan = h.plan("k8s_restart_rollout", input).await;
    assert_eq!(plan.input["restartedAt"], json!("2026-12-03T10:00:00Z"), "the plan pins it");
    assert!(plan.diff.contains("kubectl.kubernetes.io/restartedAt"), "{}", plan.diff);

    // Time passes before the approval: the pinned timestamp keeps the diff, so the plan holds.
    h.clock.advance(Duration::from_secs(60));
    let report = h.approve(&plan).await;
    let web = h.deployment("web");
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        json!("2026-12-03T10:00:00Z")
    );
    assert_eq!(web["metadata"]["annotations"]["deployment.kubernetes.io/revision"], json!("4"));
    assert!(report.verification.passed, "{:?}", report.verification);

    let undo = report.undo_plan.expect("a restart is undone by a rollback");
    assert_eq!(undo.tool, "k8s_rollout_undo");
    assert_eq!(undo.input["toRevision"], json!(3));
    let report = h.approve(&undo).await;
    let web = h.deployment("web");
    assert!(web["spec"]["template"]["metadata"].get("annotations").is_none(), "{web:#}");
    assert_eq!(web["metadata"]["annotations"]["deployment.kubernetes.io/revision"], json!("5"));
    assert_eq!(report.undo_plan.unwrap().input["toRevision"], json!(4));
}

#[tokio::test]
async fn a_stalled_rollout_fails_verification_after_the_wait_without_sleeping() {
    let h = Harness::new().await;
    h.server.stall_rollouts(true);
    let input =
        json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web", "waitSeconds": 30 });
    let plan = h.plan("k8s_restart_rollout", input).await;
    let started = Instant::now();
    let report = h.approve(&plan).await;
    assert!(!report.verification.passed);
    assert!(report.verification.message.contains("within 30s"), "{}", report.verification.message);
    assert!(started.elapsed() < Duration::from_secs(10), "the clock is injected");
    assert!(report.undo_plan.is_some(), "a failed rollout can still be rolled back");
}

#[tokio::test]
async fn rollout_undo_of_a_stateful_set_uses_its_controller_revisions() {
    let h = Harness::new().await;
    let restart = h
        .plan(
            "k8s_restart_rollout",
            json!({ "kind": "StatefulSet", "namespace": NAMESPACE, "name": "search" }),
        )
        .await;
    let report = h.approve(&restart).await;
    assert!(report.verification.passed, "{:?}", report.verification);
    let undo = report.undo_plan.expect("the revision before is offered");
    assert_eq!(undo.tool, "k8s_rollout_undo");
    h.approve(&undo).await;
    let search = h.object("apps", "statefulsets", NAMESPACE, "search").unwrap();
    assert!(
        search["spec"]["template"]["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/restartedAt")
            .is_none(),
        "{search:#}"
    );
}

#[tokio::test]
async fn rollout_undo_without_a_previous_revision_says_so() {
    let h = Harness::new().await;
    let error = h
        .plan_error(
            "k8s_rollout_undo",
            json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web" }),
        )
        .await;
    assert!(error.to_string().contains("no revision before 3"), "{error}");
    let error = h
        .plan_error(
            "k8s_rollout_undo",
            json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web", "toRevision": 9 }),
        )
        .await;
    assert!(error.to_string().contains("has no revision 9"), "{error}");
}

#[tokio::test]
async fn delete_plans_a_dry_run_deletes_and_its_undo_recreates() {
    let h = Harness::new().await;
    let input = json!({ "kind": "ConfigMap", "namespace": NAMESPACE, "name": "checkout-config" });
    let plan = h.plan("k8s_delete", input).await;
    assert!(h.object("", "configmaps", NAMESPACE, "checkout-config").is_some());
    assert!(plan.diff.lines().skip(2).all(|l| !l.starts_with('+')), "{}", plan.diff);
    assert_eq!(
        h.writes(),
        [format!("DELETE /api/v1/namespaces/{NAMESPACE}/configmaps/checkout-config")]
    );

    let report = h.approve(&plan).await;
    assert!(h.object("", "configmaps", NAMESPACE, "checkout-config").is_none());
    assert!(report.verification.passed);
    let undo = report.undo_plan.expect("a deleted ConfigMap can be recreated");
    assert_eq!(undo.tool, "k8s_apply");
    h.approve(&undo).await;
    let back = h.object("", "configmaps", NAMESPACE, "checkout-config").unwrap();
    assert!(back["data"].is_object());

    let secret = h
        .plan_error(
            "k8s_delete",
            json!({ "kind": "Secret", "namespace": NAMESPACE, "name": fixture::SECRET }),
        )
        .await;
    assert_eq!(secret.code(), "invalid-input");
    assert!(h.writes().iter().all(|w| !w.contains("secrets")));
}

#[tokio::test]
async fn delete_of_a_controlled_object_offers_no_undo() {
    let h = Harness::new().await;
    let input = json!({ "kind": "Pod", "namespace": NAMESPACE, "name": fixture::CRASH_LOOP_POD, "propagationPolicy": "Foreground" });
    let plan = h.plan("k8s_delete", input).await;
    let report = h.approve(&plan).await;
    assert!(report.undo_plan.is_none() && report.undo_error.is_none());
    let deletes: Vec<_> =
        h.server.requests().into_iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deletes.len(), 3, "plan, replan and apply");
}

#[tokio::test]
async fn apply_creates_with_the_field_manager_and_its_undo_deletes() {
    let h = Harness::new().await;
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "feature-flags", "namespace": NAMESPACE },
        "data": { "checkout.retry": "3" },
    });
    let plan = h.plan("k8s_apply", json!({ "manifest": manifest })).await;
    assert!(plan.summary.starts_with("create v1 ConfigMap shop/feature-flags"), "{}", plan.summary);
    assert!(h.object("", "configmaps", NAMESPACE, "feature-flags").is_none());
    let report = h.approve(&plan).await;
    let created = h.object("", "configmaps", NAMESPACE, "feature-flags").unwrap();
    assert_eq!(created["data"]["checkout.retry"], json!("3"));
    let patches: Vec<_> = h.server.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert!(patches.iter().all(|r| r.param("fieldManager") == Some("clu-ops-agent")));
    assert!(patches.iter().all(|r| r.param("force").is_none()), "force only when asked");

    let undo = report.undo_plan.expect("a new object is undone by deleting it");
    assert_eq!(undo.tool, "k8s_delete");
    h.approve(&undo).await;
    assert!(h.object("", "configmaps", NAMESPACE, "feature-flags").is_none());

    let wrong = h
        .plan_error("k8s_apply", json!({ "manifest": { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": { "name": "x", "namespace": NAMESPACE } } }))
        .await;
    assert_eq!(wrong.code(), "invalid-input");
}

#[tokio::test]
async fn apply_of_a_deployment_change_waits_and_its_undo_restores_the_previous_object() {
    let h = Harness::new().await;
    let manifest = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "namespace": NAMESPACE },
        "spec": { "template": { "spec": { "containers": [{ "name": "web", "image": "nginx:1.28" }] } } },
    });
    let plan = h.plan("k8s_apply", json!({ "manifest": manifest, "force": true })).await;
    assert!(plan.diff.contains("+        image: nginx:1.28"), "{}", plan.diff);
    let report = h.approve(&plan).await;
    assert!(report.verification.passed, "{:?}", report.verification);
    assert!(h.server.requests().iter().any(|r| r.param("force") == Some("true")));
    let undo = report.undo_plan.unwrap();
    h.approve(&undo).await;
    let image = &h.deployment("web")["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, &json!("nginx:1.27"));
}

#[tokio::test]
async fn cordon_marks_the_node_and_its_undo_uncordons() {
    let h = Harness::new().await;
    let plan = h.plan("k8s_cordon", json!({ "node": fixture::NODE_READY })).await;
    assert_eq!(plan.namespace, None, "a node is outside the namespace policy");
    assert!(plan.diff.contains("+  unschedulable: true"), "{}", plan.diff);
    let report = h.approve(&plan).await;
    let node = h.object("", "nodes", "", fixture::NODE_READY).unwrap();
    assert_eq!(node["spec"]["unschedulable"], json!(true));
    let undo = report.undo_plan.unwrap();
    assert_eq!(undo.tool, "k8s_uncordon");
    h.approve(&undo).await;
    let node = h.object("", "nodes", "", fixture::NODE_READY).unwrap();
    assert!(node["spec"].get("unschedulable").is_none(), "{node:#}");
}

#[tokio::test]
async fn kube_system_is_refused_at_approval() {
    let h = Harness::new().await;
    let mut coredns = h.deployment("web");
    coredns["metadata"] = json!({ "name": "coredns", "namespace": "kube-system" });
    h.server.put(coredns);
    let plan = h.plan("k8s_scale", json!({ "kind": "Deployment", "namespace": "kube-system", "name": "coredns", "replicas": 0 })).await;
    let error = h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await.unwrap_err();
    assert_eq!(error.code(), "namespace-denied");
    let coredns = h.object("apps", "deployments", "kube-system", "coredns").unwrap();
    assert_eq!(coredns["spec"]["replicas"], json!(2));
}

/// Every Kubernetes verb is run (plan, apply, undo) and what the guard saw is compared with what the verb
/// declares. The one declared verb a fake server cannot show is `create` for `k8s_apply`: the
/// API server authorizes a server-side apply that creates an object against `create` as well
/// as `patch`, but the request itself is a PATCH.
/// A DaemonSet in `shop`, which the fixture has none of.
fn daemon_set() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": { "name": "log-agent", "namespace": NAMESPACE, "generation": 1 },
        "spec": {
            "selector": { "matchLabels": { "app": "log-agent" } },
            "template": {
                "metadata": { "labels": { "app": "log-agent" } },
                "spec": { "containers": [{ "name": "agent", "image": "fluent-bit:3.1" }] },
            },
        },
        "status": { "observedGeneration": 1, "desiredNumberScheduled": 3, "numberAvailable": 3, "updatedNumberScheduled": 3 },
    })
}

#[tokio::test]
async fn each_verb_declares_exactly_the_requests_it_makes() {
    let h = Harness::new().await;
    h.server.put(daemon_set());
    let scenarios = [
        (
            "k8s_scale",
            json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web", "replicas": 3 }),
        ),
        (
            "k8s_scale",
            json!({ "kind": "StatefulSet", "namespace": NAMESPACE, "name": "search", "replicas": 2 }),
        ),
        (
            "k8s_scale",
            json!({ "kind": "ReplicaSet", "namespace": NAMESPACE, "name": fixture::CHECKOUT_REPLICA_SET, "replicas": 2, "waitSeconds": 2 }),
        ),
        (
            "k8s_restart_rollout",
            json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web" }),
        ),
        (
            "k8s_restart_rollout",
            json!({ "kind": "StatefulSet", "namespace": NAMESPACE, "name": "search" }),
        ),
        (
            "k8s_restart_rollout",
            json!({ "kind": "DaemonSet", "namespace": NAMESPACE, "name": "log-agent" }),
        ),
        (
            "k8s_restart_rollout",
            json!({ "kind": "DaemonSet", "namespace": NAMESPACE, "name": "log-agent", "restartedAt": "2026-12-03T11:00:00Z" }),
        ),
        (
            "k8s_rollout_undo",
            json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web" }),
        ),
        (
            "k8s_rollout_undo",
            json!({ "kind": "DaemonSet", "namespace": NAMESPACE, "name": "log-agent" }),
        ),
        (
            "k8s_rollout_undo",
            json!({ "kind": "StatefulSet", "namespace": NAMESPACE, "name": "search" }),
        ),
        (
            "k8s_delete",
            json!({ "kind": "ConfigMap", "namespace": NAMESPACE, "name": "checkout-config" }),
        ),
        ("k8s_cordon", json!({ "node": fixture::NODE_READY })),
        ("k8s_uncordon", json!({ "node": fixture::NODE_READY })),
    ];
    let mut manifests = Vec::new();
    for w in clu_coreplus::common::WRITABLE {
        manifests.push(json!({ "manifest": {
            "apiVersion": w.api_version(), "kind": w.kind,
            "metadata": { "name": "clu-declaration-check", "namespace": NAMESPACE },
        }, "waitSeconds": 2 }));
    }
    for (tool, input) in
        scenarios.iter().cloned().chain(manifests.into_iter().map(|m| ("k8s_apply", m)))
    {
        let plan = h.plan(tool, input).await;
        h.approve(&plan).await;
    }
    for w in clu_coreplus::common::WRITABLE {
        let input = json!({ "apiVersion": w.api_version(), "kind": w.kind, "namespace": NAMESPACE, "name": "clu-declaration-check" });
        let plan = h.plan("k8s_delete", input).await;
        h.approve(&plan).await;
    }

    // The helm verbs' requests depend on the chart; their test below holds them to a subset.
    for tool in h.registry.tools().filter(|t| t.spec().name.starts_with("k8s_")) {
        let spec = tool.spec();
        let used = h.recorder.uses_of(spec.name);
        let declared: BTreeSet<Use> = spec
            .permissions
            .rbac
            .iter()
            .flat_map(|rule| {
                rule.api_groups.iter().flat_map(move |group| {
                    rule.resources.iter().flat_map(move |resource| {
                        rule.verbs.iter().map(move |verb| Use::Kube {
                            verb: verb.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                        })
                    })
                })
            })
            .filter(|u| {
                !(spec.name == "k8s_apply"
                    && matches!(u, Use::Kube { verb, .. } if verb == "create"))
            })
            .collect();
        assert_eq!(used, declared, "{}", spec.name);
    }
}

/// The helm verbs running the fake helm in `dir`, which sends helm's requests to the cluster
/// named by the kubeconfig it is given.
fn helm_registry(helm: &std::path::Path) -> Registry {
    use clu_coreplus::helm::{HelmBinary, HelmRelease, HelmRollback, HelmUninstall};
    let bin = HelmBinary::at(helm);
    let tools: Vec<Arc<dyn clu_core::Tool>> = vec![
        Arc::new(HelmRelease::install().with_binary(bin.clone())),
        Arc::new(HelmRelease::upgrade().with_binary(bin.clone())),
        Arc::new(HelmRollback::new().with_binary(bin.clone())),
        Arc::new(HelmUninstall::new().with_binary(bin)),
    ];
    Registry::new(tools).unwrap()
}

fn cache_chart() -> Value {
    json!([
        {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "cache", "labels": { "app": "cache" } },
            "spec": {
                "replicas": 1,
                "selector": { "matchLabels": { "app": "cache" } },
                "template": {
                    "metadata": { "labels": { "app": "cache" } },
                    "spec": { "containers": [{ "name": "redis", "image": "redis:7.2" }] },
                },
            },
        },
        {
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": "cache" },
            "spec": { "selector": { "app": "cache" }, "ports": [{ "port": 6379 }] },
        },
    ])
}

#[tokio::test]
async fn helm_runs_through_the_guard_for_install_upgrade_rollback_and_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let helm = clu_testkit::helm::install(dir.path(), &[("demo/cache", cache_chart())]);
    let h = Harness::with_registry(helm_registry(&helm)).await;
    let install = json!({ "release": "cache", "namespace": NAMESPACE, "chart": "demo/cache" });

    let plan = h.plan("helm_install", install).await;
    assert!(plan.diff.contains("\"name\": \"cache\""), "{}", plan.diff);
    assert!(
        h.object("apps", "deployments", NAMESPACE, "cache").is_none(),
        "a plan changes nothing"
    );
    assert!(
        h.writes().iter().any(|w| w.ends_with("/namespaces/shop/deployments dryRun")),
        "the plan is a server-side dry-run: {:?}",
        h.writes()
    );
    let report = h.approve(&plan).await;
    assert!(report.verification.passed, "{:?}", report.verification);
    assert_eq!(h.deployment("cache")["spec"]["replicas"], json!(1));
    let storage = h.object("", "configmaps", NAMESPACE, "sh.helm.release.v1.cache.v1").unwrap();
    assert_eq!(storage["metadata"]["labels"]["owner"], "helm");
    assert_eq!(report.undo_plan.as_ref().unwrap().tool, "helm_uninstall");

    let upgrade = json!({
        "release": "cache", "namespace": NAMESPACE, "chart": "demo/cache",
        "values": { "replicaCount": 3 },
    });
    let plan = h.plan("helm_upgrade", upgrade).await;
    assert!(plan.diff.contains("+    \"replicas\": 3,"), "{}", plan.diff);
    let report = h.approve(&plan).await;
    assert_eq!(h.deployment("cache")["spec"]["replicas"], json!(3));
    let undo = report.undo_plan.expect("an upgrade's undo is a rollback");
    assert_eq!(undo.tool, "helm_rollback");
    h.approve(&undo).await;
    assert_eq!(h.deployment("cache")["spec"]["replicas"], json!(1), "rolled back");

    let plan =
        h.plan("helm_uninstall", json!({ "release": "cache", "namespace": NAMESPACE })).await;
    let report = h.approve(&plan).await;
    assert!(report.verification.passed, "{:?}", report.verification);
    assert!(h.object("apps", "deployments", NAMESPACE, "cache").is_none());
    assert!(h.object("", "configmaps", NAMESPACE, "sh.helm.release.v1.cache.v1").is_none());

    // Every request helm sent went through the guard, and each is one its verb declared.
    for tool in h.registry.tools() {
        let spec = tool.spec();
        let used = h.recorder.uses_of(spec.name);
        assert!(!used.is_empty(), "{} sent nothing through the guard", spec.name);
        for use_ in &used {
            let Use::Kube { verb, group, resource } = use_ else { continue };
            assert!(
                spec.permissions.rbac.iter().any(|r| r.covers(verb, group, resource, None)),
                "{} sent `{verb} {group}/{resource}`, which it does not declare",
                spec.name
            );
        }
    }
    let subcommands: Vec<String> =
        clu_testkit::helm::runs(&helm).iter().map(|run| run[0].clone()).collect();
    // Each approval makes its plan again before applying, then verifies, then plans the undo.
    let expected = [
        "install", // plan
        "install",
        "install",
        "status", // re-plan, apply, verify
        "uninstall",
        "get", // the undo plan
        "upgrade",
        "get", // plan
        "upgrade",
        "get",
        "history",
        "upgrade",
        "status", // re-plan, apply, verify
        "history",
        "get",
        "get", // the undo plan (a rollback)
        "history",
        "get",
        "get",
        "history",
        "rollback",
        "status", // re-plan, apply, verify
        "history",
        "get",
        "get", // its own undo plan
        "uninstall",
        "get", // plan
        "uninstall",
        "get",
        "uninstall",
        "history", // re-plan, apply, verify
    ];
    assert_eq!(subcommands, expected);
}

#[tokio::test]
async fn a_chart_with_a_secret_or_a_cluster_scoped_object_is_refused_at_helms_request() {
    let dir = tempfile::tempdir().unwrap();
    let leaky = json!([
        { "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "settings" } },
        { "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "creds" },
          "stringData": { "password": "hunter2" } },
    ]);
    let cluster =
        json!([{ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "owned" } }]);
    let helm =
        clu_testkit::helm::install(dir.path(), &[("demo/leaky", leaky), ("demo/cluster", cluster)]);
    let h = Harness::with_registry(helm_registry(&helm)).await;

    let error = h
        .plan_error(
            "helm_install",
            json!({ "release": "leaky", "namespace": NAMESPACE, "chart": "demo/leaky" }),
        )
        .await;
    assert_eq!(error.code(), "forbidden-material", "{error}");
    assert!(error.to_string().contains("secrets"), "{error}");
    assert!(
        !h.server.requests().iter().any(|r| r.path.contains("/secrets")),
        "no Secret request reached the API server"
    );

    let error = h
        .plan_error(
            "helm_install",
            json!({ "release": "cluster", "namespace": NAMESPACE, "chart": "demo/cluster" }),
        )
        .await;
    assert_eq!(error.code(), "undeclared-k8s-request", "{error}");
    assert!(error.to_string().contains("namespaces"), "{error}");
    assert!(h.object("", "namespaces", "", "owned").is_none());
}

/// A tool that starts a guarded endpoint and sends it raw HTTP requests, reporting each status.
struct EndpointProbe(clu_core::ToolSpec);

#[async_trait::async_trait]
impl clu_core::Tool for EndpointProbe {
    fn spec(&self) -> &clu_core::ToolSpec {
        &self.0
    }

    async fn invoke(&self, context: &clu_core::ToolContext, _: Value) -> clu_core::Result<Value> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let endpoint = clu_coreplus::endpoint::GuardedEndpoint::start(context, "shop").await?;
        let address = endpoint.url().trim_start_matches("http://").to_owned();
        let mut statuses = Vec::new();
        for (path, token) in [
            ("/api", None),
            ("/api", Some("not-the-token".to_owned())),
            ("/api", Some(endpoint.token().to_owned())),
            ("/api/v1/namespaces/shop/pods", Some(endpoint.token().to_owned())),
        ] {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            statuses.push(answer.split_whitespace().nth(1).unwrap_or_default().to_owned());
        }
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(endpoint.kubeconfig()).unwrap()).unwrap();
        Ok(json!({ "statuses": statuses, "kubeconfig": config }))
    }
}

#[tokio::test]
async fn the_guarded_endpoint_admits_only_its_child_and_refuses_what_the_tool_did_not_declare() {
    #[derive(schemars::JsonSchema, serde::Deserialize)]
    struct NoInput {}
    let probe = EndpointProbe(clu_core::ToolSpec::new::<NoInput>(
        "endpoint_probe",
        "Probe a guarded endpoint.",
        clu_core::Tier::Core,
        clu_core::Risk::Read,
        clu_core::Permissions::default(),
    ));
    let h = Harness::with_registry(
        Registry::new(vec![Arc::new(probe) as Arc<dyn clu_core::Tool>]).unwrap(),
    )
    .await;
    let outcome = h.registry.call(&h.env, "endpoint_probe", json!({})).await.result.unwrap();
    // No token, a wrong one: 401. The token: discovery passes. Pods, undeclared: 403.
    assert_eq!(outcome["statuses"], json!(["401", "401", "200", "403"]));
    assert_eq!(outcome["kubeconfig"]["contexts"][0]["context"]["namespace"], "shop");
    assert!(
        outcome["kubeconfig"]["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
}

#[tokio::test]
async fn apply_over_another_managers_field_is_refused_naming_it_and_force_takes_it() {
    let h = Harness::new().await;
    // Someone scales by hand: `kubectl edit` owns `spec.replicas` from then on.
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(h.server.client(), NAMESPACE);
    let by_hand =
        kube::api::PatchParams { field_manager: Some("kubectl-edit".into()), ..Default::default() };
    api.patch("web", &by_hand, &kube::api::Patch::Merge(json!({ "spec": { "replicas": 4 } })))
        .await
        .unwrap();
    let manifest = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "namespace": NAMESPACE },
        "spec": { "replicas": 2 },
    });

    let error = h.plan_error("k8s_apply", json!({ "manifest": manifest.clone() })).await;
    assert_eq!(error.code(), "invalid-input", "{error}");
    let message = error.to_string();
    assert!(message.contains("conflict with \"kubectl-edit\""), "{message}");
    assert!(message.contains(".spec.replicas") && message.contains("force: true"), "{message}");
    assert_eq!(h.deployment("web")["spec"]["replicas"], json!(4), "nothing changed");

    // Applying the value it already has shares the field: no conflict.
    let same = json!({ "manifest": { "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web", "namespace": NAMESPACE }, "spec": { "replicas": 4 } } });
    h.plan("k8s_apply", same).await;

    let plan = h.plan("k8s_apply", json!({ "manifest": manifest, "force": true })).await;
    assert!(plan.diff.contains("+  replicas: 2"), "{}", plan.diff);
    h.approve(&plan).await;
    let deployment = h.deployment("web");
    assert_eq!(deployment["spec"]["replicas"], json!(2));
    let owners: Vec<(&str, &str)> = deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["manager"].as_str().unwrap(), e["operation"].as_str().unwrap()))
        .collect();
    assert!(owners.contains(&("clu-ops-agent", "Apply")), "{owners:?}");
    assert!(
        !owners.contains(&("kubectl-edit", "Update")),
        "the forced field was kubectl-edit's only one: {owners:?}"
    );
}
