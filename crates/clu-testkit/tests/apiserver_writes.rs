//! The fake API server's writes through the real kube client: create, replace, patch, delete,
//! `dryRun=All`, the scale subresource and the rollout controllers, answered as the real server
//! answers them.

use clu_testkit::apiserver::fixture::{self, Fixture, NAMESPACE};
use clu_testkit::apiserver::{FakeApiServer, ObjectKey};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::{Value, json};

fn lease(name: &str, holder: &str) -> Lease {
    serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": name, "namespace": "clu" },
        "spec": { "holderIdentity": holder, "leaseDurationSeconds": 15 },
    }))
    .unwrap()
}

fn status_code(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API status, got {other}"),
    }
}

fn resource_version(object: &impl kube::Resource) -> u64 {
    object.meta().resource_version.as_deref().unwrap().parse().unwrap()
}

#[tokio::test]
async fn create_fills_in_identity_and_refuses_a_duplicate() {
    let server = FakeApiServer::start([]).await;
    let leases: Api<Lease> = Api::namespaced(server.client(), "clu");

    let created = leases.create(&PostParams::default(), &lease("leader", "pod-a")).await.unwrap();
    assert!(created.metadata.uid.as_deref().is_some_and(|uid| uid.len() == 36));
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    let first = resource_version(&created);

    let error = leases.create(&PostParams::default(), &lease("leader", "pod-b")).await;
    assert_eq!(status_code(error.unwrap_err()), (409, "AlreadyExists".into()));
    let stored = leases.get("leader").await.unwrap();
    assert_eq!(stored.spec.as_ref().unwrap().holder_identity.as_deref(), Some("pod-a"));
    assert_eq!(resource_version(&stored), first);
}

#[tokio::test]
async fn replace_bumps_the_version_and_conflicts_on_a_stale_one() {
    let server = FakeApiServer::start([]).await;
    let leases: Api<Lease> = Api::namespaced(server.client(), "clu");
    let created = leases.create(&PostParams::default(), &lease("leader", "pod-a")).await.unwrap();

    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().holder_identity = Some("pod-b".into());
    let replaced = leases.replace("leader", &PostParams::default(), &renewed).await.unwrap();
    assert!(resource_version(&replaced) > resource_version(&created));
    assert_eq!(replaced.metadata.uid, created.metadata.uid);
    assert_eq!(replaced.metadata.creation_timestamp, created.metadata.creation_timestamp);

    // Another candidate still holds the old resourceVersion: it loses the race.
    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("pod-c".into());
    let error = leases.replace("leader", &PostParams::default(), &stale).await.unwrap_err();
    assert_eq!(status_code(error), (409, "Conflict".into()));

    // Without a resourceVersion the replace is unconditional.
    stale.metadata.resource_version = None;
    let forced = leases.replace("leader", &PostParams::default(), &stale).await.unwrap();
    assert_eq!(forced.spec.unwrap().holder_identity.as_deref(), Some("pod-c"));

    let error = leases.replace("other", &PostParams::default(), &lease("other", "x")).await;
    assert_eq!(status_code(error.unwrap_err()).0, 404);
}

#[tokio::test]
async fn delete_removes_the_object() {
    let server = FakeApiServer::start([]).await;
    let leases: Api<Lease> = Api::namespaced(server.client(), "clu");
    leases.create(&PostParams::default(), &lease("leader", "pod-a")).await.unwrap();
    leases.delete("leader", &DeleteParams::default()).await.unwrap();
    assert_eq!(status_code(leases.get("leader").await.unwrap_err()).0, 404);
    let error = leases.delete("leader", &DeleteParams::default()).await.unwrap_err();
    assert_eq!(status_code(error).0, 404);
    let recreated = leases.create(&PostParams::default(), &lease("leader", "b")).await.unwrap();
    assert_eq!(recreated.metadata.generation, Some(1));
}

#[tokio::test]
async fn dry_run_answers_as_if_applied_and_stores_nothing() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let client = server.client();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "clu");
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    let answered = leases.create(&dry, &lease("leader", "pod-a")).await.unwrap();
    assert_eq!(answered.spec.unwrap().holder_identity.as_deref(), Some("pod-a"));
    assert_eq!(status_code(leases.get("leader").await.unwrap_err()).0, 404);

    let deployments: Api<Deployment> = Api::namespaced(client, NAMESPACE);
    let before = deployments.get("web").await.unwrap();
    let patch = json!({ "spec": { "replicas": 7 } });
    let params = PatchParams { dry_run: true, ..PatchParams::default() };
    let planned = deployments.patch("web", &params, &Patch::Merge(&patch)).await.unwrap();
    assert_eq!(planned.spec.unwrap().replicas, Some(7));
    assert_eq!(deployments.get("web").await.unwrap(), before);

    let params = DeleteParams { dry_run: true, ..DeleteParams::default() };
    deployments.delete("web", &params).await.unwrap();
    assert_eq!(deployments.get("web").await.unwrap(), before);
    let dry_runs: Vec<_> =
        server.requests().into_iter().filter(|r| r.param("dryRun") == Some("All")).collect();
    assert_eq!(dry_runs.len(), 2, "create and patch send dryRun=All in the query");
}

#[tokio::test]
async fn server_side_apply_creates_merges_by_manager_and_needs_a_field_manager() {
    let server = FakeApiServer::start([]).await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), NAMESPACE);
    let applied = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "settings", "namespace": NAMESPACE },
        "data": { "mode": "fast" },
    });
    let params = PatchParams::apply("clu-ops-agent");
    let created = maps.patch("settings", &params, &Patch::Apply(&applied)).await.unwrap();
    assert_eq!(created.data.unwrap()["mode"], "fast");
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|f| (f.manager.unwrap(), f.operation.unwrap()))
        .collect();
    assert_eq!(managers, [("clu-ops-agent".to_owned(), "Apply".to_owned())]);

    let again = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "settings", "namespace": NAMESPACE },
        "data": { "level": "3" },
    });
    // Another manager's apply adds its field and keeps the first manager's.
    let other = PatchParams::apply("platform-team");
    let merged = maps.patch("settings", &other, &Patch::Apply(&again)).await.unwrap();
    let data = merged.data.unwrap();
    assert_eq!((data["mode"].as_str(), data["level"].as_str()), ("fast", "3"));
    // The first manager applying without `mode` gives it up, and nobody else owns it.
    let narrowed = maps.patch("settings", &params, &Patch::Apply(&again)).await.unwrap();
    let data = narrowed.data.unwrap();
    assert_eq!((data.get("mode"), data["level"].as_str()), (None, "3"));

    let error =
        maps.patch("settings", &PatchParams::default(), &Patch::Apply(&again)).await.unwrap_err();
    assert_eq!(status_code(error).0, 400, "an apply without a field manager is refused");
}

#[tokio::test]
async fn strategic_merge_merges_containers_by_name() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let deployments: Api<Deployment> = Api::namespaced(server.client(), NAMESPACE);
    let patch = json!({ "spec": { "template": { "spec": { "containers": [
        { "name": "web", "image": "nginx:1.28" },
        { "name": "sidecar", "image": "envoy:1.30" },
    ] } } } });
    let patched =
        deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&patch)).await.unwrap();
    let containers = patched.spec.unwrap().template.spec.unwrap().containers;
    let images: Vec<_> =
        containers.iter().map(|c| (c.name.as_str(), c.image.as_deref().unwrap())).collect();
    assert_eq!(images, [("web", "nginx:1.28"), ("sidecar", "envoy:1.30")]);
    assert_eq!(patched.metadata.generation, Some(4), "a spec change bumps the generation");
}

#[tokio::test]
async fn the_scale_subresource_reads_and_writes_replicas() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let deployments: Api<Deployment> = Api::namespaced(server.client(), NAMESPACE);
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));

    let patch = json!({ "spec": { "replicas": 5 } });
    let scaled =
        deployments.patch_scale("web", &PatchParams::default(), &Patch::Merge(&patch)).await;
    assert_eq!(scaled.unwrap().spec.unwrap().replicas, Some(5));
    let deployment = deployments.get("web").await.unwrap();
    assert_eq!(deployment.spec.unwrap().replicas, Some(5));
    assert_eq!(deployment.status.unwrap().ready_replicas, Some(5));

    let negative = json!({ "spec": { "replicas": -1 } });
    let error = deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(&negative))
        .await
        .unwrap_err();
    assert_eq!(status_code(error), (422, "Invalid".into()));
}

fn revision(object: &impl kube::Resource) -> Option<String> {
    object.meta().annotations.as_ref()?.get("deployment.kubernetes.io/revision").cloned()
}

#[tokio::test]
async fn a_template_change_makes_a_new_revision_and_an_old_template_reuses_its_replica_set() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let client = server.client();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client, NAMESPACE);
    let owned = |all: Vec<ReplicaSet>| -> Vec<(String, Option<String>, i32)> {
        let mut owned: Vec<_> = all
            .into_iter()
            .filter(|rs| rs.metadata.name.as_deref().unwrap().starts_with("web-"))
            .map(|rs| {
                (
                    rs.metadata.name.clone().unwrap(),
                    revision(&rs),
                    rs.spec.unwrap().replicas.unwrap(),
                )
            })
            .collect();
        owned.sort_by(|a, b| a.1.cmp(&b.1));
        owned
    };

    let image = json!({ "spec": { "template": { "spec": { "containers": [
        { "name": "web", "image": "nginx:1.28" },
    ] } } } });
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&image)).await.unwrap();
    let deployment = deployments.get("web").await.unwrap();
    assert_eq!(revision(&deployment).as_deref(), Some("4"));
    let status = deployment.status.unwrap();
    assert_eq!((status.updated_replicas, status.observed_generation), (Some(2), Some(4)));
    let sets = owned(replica_sets.list(&Default::default()).await.unwrap().items);
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert_eq!((sets[0].0.as_str(), sets[0].2), ("web-6d4cf56db6", 0));
    assert_eq!((sets[1].1.as_deref(), sets[1].2), (Some("4"), 2));

    let back = json!({ "spec": { "template": { "spec": { "containers": [
        { "name": "web", "image": "nginx:1.27" },
    ] } } } });
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&back)).await.unwrap();
    let sets = owned(replica_sets.list(&Default::default()).await.unwrap().items);
    assert_eq!(sets.len(), 2, "the old template's ReplicaSet is reused: {sets:?}");
    assert_eq!(
        (sets[1].0.as_str(), sets[1].1.as_deref(), sets[1].2),
        ("web-6d4cf56db6", Some("5"), 2)
    );
}

#[tokio::test]
async fn stalled_rollouts_leave_the_new_replica_set_unready() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    server.stall_rollouts(true);
    let deployments: Api<Deployment> = Api::namespaced(server.client(), NAMESPACE);
    let image = json!({ "spec": { "template": { "spec": { "containers": [
        { "name": "web", "image": "nginx:broken" },
    ] } } } });
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&image)).await.unwrap();
    let status = deployments.get("web").await.unwrap().status.unwrap();
    assert_eq!(status.updated_replicas, Some(0));
    assert_eq!(status.available_replicas, Some(2), "the old pods keep serving");
}

#[tokio::test]
async fn delete_propagates_to_dependents_or_orphans_them() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let deployments: Api<Deployment> = Api::namespaced(server.client(), NAMESPACE);
    let rs_key = |name: &str| ObjectKey {
        group: "apps".into(),
        version: "v1".into(),
        resource: "replicasets".into(),
        namespace: NAMESPACE.into(),
        name: name.into(),
    };

    let orphan = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    deployments.delete("web", &orphan).await.unwrap();
    let kept = server.object(&rs_key("web-6d4cf56db6")).expect("an orphan stays");
    assert_eq!(kept["metadata"]["ownerReferences"], json!([]));

    deployments.delete(fixture::DEGRADED_DEPLOYMENT, &DeleteParams::background()).await.unwrap();
    assert!(server.object(&rs_key(fixture::CHECKOUT_REPLICA_SET)).is_none());
    let pod = ObjectKey {
        group: String::new(),
        version: "v1".into(),
        resource: "pods".into(),
        namespace: NAMESPACE.into(),
        name: fixture::CRASH_LOOP_POD.into(),
    };
    assert!(server.object(&pod).is_none(), "the ReplicaSet's pods go too");
}

#[tokio::test]
async fn a_stateful_set_template_change_records_a_controller_revision() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let sets: Api<StatefulSet> = Api::namespaced(server.client(), NAMESPACE);
    let image = json!({ "spec": { "template": { "metadata": { "annotations": { "a": "1" } } } } });
    sets.patch("search", &PatchParams::default(), &Patch::Strategic(&image)).await.unwrap();
    let revisions = server.objects_of("apps", "v1", "controllerrevisions");
    let newest: Vec<&Value> =
        revisions.iter().filter(|r| r["revision"].as_u64().is_some()).collect();
    assert!(!newest.is_empty());
    let status = sets.get("search").await.unwrap().status.unwrap();
    let update = status.update_revision.unwrap();
    let recorded = revisions.iter().find(|r| r["metadata"]["name"] == json!(update)).unwrap();
    assert_eq!(recorded["data"]["spec"]["template"]["metadata"]["annotations"]["a"], json!("1"));
    assert_eq!(recorded["data"]["spec"]["template"]["$patch"], json!("replace"));
}
