//! The deterministic findings against the fake API server's `shop` fixture.

use std::sync::Arc;

use clu_core::findings::{CODES, Finding, Severity, Snapshot, analyze};
use clu_core::guard::{Recorder, Use};
use clu_core::{Registry, ToolEnv};
use clu_testkit::apiserver::FakeApiServer;
use clu_testkit::apiserver::fixture::{self, Fixture};
use serde_json::json;

async fn shop_findings() -> Vec<Finding> {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let snapshot = Snapshot::read(&server.client(), None).await.unwrap();
    analyze(&snapshot)
}

fn find<'a>(findings: &'a [Finding], code: &str, name: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.code == code && f.object.name == name)
        .unwrap_or_else(|| panic!("no `{code}` finding on `{name}` in {findings:#?}"))
}

#[tokio::test]
async fn finds_every_fault_of_the_fixture_with_its_evidence() {
    let findings = shop_findings().await;

    let crash = find(&findings, "crash-loop", fixture::CRASH_LOOP_POD);
    assert_eq!(crash.severity, Severity::Critical);
    assert!(crash.evidence.contains(&"restartCount: 7".to_owned()), "{:?}", crash.evidence);
    assert!(
        crash.evidence.iter().any(|e| e.starts_with("last termination: reason Error, exit code 1")),
        "{:?}",
        crash.evidence
    );

    let oom = find(&findings, "oom-killed", fixture::OOM_KILLED_POD);
    assert!(
        oom.evidence.iter().any(|e| e.contains("OOMKilled, exit code 137")),
        "{:?}",
        oom.evidence
    );

    let pull = find(&findings, "image-pull", fixture::IMAGE_PULL_POD);
    assert!(
        pull.evidence.contains(&format!("image: {}", fixture::MISSING_IMAGE)),
        "{:?}",
        pull.evidence
    );

    let pending = find(&findings, "unschedulable", fixture::PENDING_POD);
    assert!(
        pending.evidence[0].starts_with("PodScheduled=False (Unschedulable): "),
        "{:?}",
        pending.evidence
    );

    let probe = find(&findings, "probe-failing", fixture::UNREADY_POD);
    assert!(
        probe.evidence.iter().any(|e| e.contains("Readiness probe failed") && e.contains("(42x)")),
        "{:?}",
        probe.evidence
    );

    let degraded = find(&findings, "workload-unavailable", fixture::DEGRADED_DEPLOYMENT);
    assert!(degraded.evidence[0].starts_with("ready "), "{:?}", degraded.evidence);

    let service = find(&findings, "service-no-endpoints", fixture::SERVICE_WITHOUT_ENDPOINTS);
    assert!(service.evidence[0].contains("none ready"), "{:?}", service.evidence);
    assert!(service.evidence[1].contains(fixture::UNREADY_POD), "{:?}", service.evidence);

    find(&findings, "pvc-pending", fixture::PENDING_CLAIM);
    find(&findings, "node-not-ready", fixture::NODE_NOT_READY);
    let pressure = find(&findings, "node-pressure", fixture::NODE_MEMORY_PRESSURE);
    assert!(pressure.evidence[0].starts_with("MemoryPressure=True"), "{:?}", pressure.evidence);
}

#[tokio::test]
async fn healthy_objects_have_no_finding() {
    let findings = shop_findings().await;
    for healthy in [fixture::HEALTHY_DEPLOYMENT, fixture::CHECKOUT_READY_POD, fixture::NODE_READY] {
        assert!(
            findings.iter().all(|f| f.object.name != healthy),
            "unexpected finding on {healthy}: {findings:#?}"
        );
    }
    assert!(findings.iter().all(|f| CODES.contains(&f.code)));
}

#[tokio::test]
async fn findings_are_ordered_most_severe_first() {
    let findings = shop_findings().await;
    let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
}

#[tokio::test]
async fn an_empty_cluster_has_no_finding() {
    let server = FakeApiServer::start(Vec::new()).await;
    let snapshot = Snapshot::read(&server.client(), None).await.unwrap();
    assert!(analyze(&snapshot).is_empty());
}

#[tokio::test]
async fn the_tool_reports_findings_and_uses_exactly_its_rules() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let recorder = Recorder::new();
    let env = Arc::new(ToolEnv {
        kube: Some(server.client()),
        recorder: Some(recorder.clone()),
        ..ToolEnv::default()
    });
    let registry = Registry::new(clu_core::tools::tools()).unwrap();

    let output =
        registry.call(&env, "k8s_findings", json!({"namespace": "shop"})).await.result.unwrap();
    assert!(output["counts"]["critical"].as_u64().unwrap() >= 4, "{output}");
    assert_eq!(output["truncated"], false);

    let critical = registry
        .call(&env, "k8s_findings", json!({"min_severity": "critical"}))
        .await
        .result
        .unwrap();
    let findings = critical["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["severity"] == "critical"));

    let declared: std::collections::BTreeSet<Use> = registry
        .get("k8s_findings")
        .unwrap()
        .spec()
        .permissions
        .rbac
        .iter()
        .flat_map(|rule| {
            rule.resources.iter().flat_map(move |resource| {
                rule.verbs.iter().map(move |verb| Use::Kube {
                    verb: verb.clone(),
                    group: rule.api_groups.iter().next().cloned().unwrap_or_default(),
                    resource: resource.clone(),
                })
            })
        })
        .collect();
    assert_eq!(recorder.uses_of("k8s_findings"), declared);
    assert!(server.requests().iter().all(|r| !r.path.contains("secrets")));
}
