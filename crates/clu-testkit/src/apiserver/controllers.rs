//! The controllers the fake API server plays after a stored write, so a test can watch a
//! rollout: a Deployment's template becomes a ReplicaSet with a
//! `deployment.kubernetes.io/revision` annotation (an old template's ReplicaSet is reused
//! under a new revision, as on a rollback), and a StatefulSet's or DaemonSet's template becomes
//! a ControllerRevision. Status fields then show the rollout done, or, when the test asked for
//! stalled rollouts, not progressing.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use super::{ObjectKey, State, fixture, seconds_ago, timestamp};

/// The annotation a Deployment and its ReplicaSets carry their revision in.
pub(super) const REVISION: &str = "deployment.kubernetes.io/revision";

/// Runs the controller of the object written at `key`, if it has one.
pub(super) fn after_write(state: &mut State, key: &ObjectKey) {
    match (key.group.as_str(), key.resource.as_str()) {
        ("apps", "deployments") => deployment(state, key),
        ("apps", "statefulsets" | "daemonsets") => revisions(state, key),
        _ => {}
    }
}

/// A short, stable hash of a pod template, like the `pod-template-hash` label.
fn template_hash(template: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    template.to_string().hash(&mut hasher);
    format!("{:010x}", hasher.finish() & 0xff_ffff_ffff)
}

fn owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|owners| owners.iter().any(|o| o["uid"].as_str() == Some(uid)))
}

/// Keys and objects of `resource` in `namespace` controlled by `uid`.
fn dependents(
    state: &State,
    resource: &str,
    namespace: &str,
    uid: &str,
) -> Vec<(ObjectKey, Value)> {
    state
        .objects
        .iter()
        .filter(|(k, object)| {
            k.group == "apps"
                && k.resource == resource
                && k.namespace == namespace
                && owned_by(object, uid)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Stores `object` if it differs from what is stored, with a fresh resourceVersion.
fn store_if_changed(state: &mut State, key: &ObjectKey, mut object: Value) {
    if state.objects.get(key) == Some(&object) {
        return;
    }
    object["metadata"]["resourceVersion"] = json!(state.next_resource_version());
    state.objects.insert(key.clone(), object);
}

fn owner_reference(owner: &Value) -> Value {
    json!([{
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

/// The pod template of a ReplicaSet without the hash label the controller adds.
fn template_without_hash(replica_set: &Value) -> Value {
    let mut template = replica_set["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    template
}

fn revision_of(replica_set: &Value) -> u64 {
    replica_set["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or_default()
}

fn deployment(state: &mut State, key: &ObjectKey) {
    let Some(mut deployment) = state.objects.get(key).cloned() else { return };
    let uid = deployment["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
    let template = deployment["spec"]["template"].clone();
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let owned = dependents(state, "replicasets", &key.namespace, &uid);
    let newest = owned.iter().map(|(_, rs)| revision_of(rs)).max().unwrap_or_default();
    let current = owned.iter().find(|(_, rs)| template_without_hash(rs) == template);

    let (current_key, mut current_rs) = match current {
        Some((rs_key, rs)) => {
            let mut rs = rs.clone();
            if revision_of(&rs) < newest {
                // An old template again: its ReplicaSet becomes the newest revision.
                rs["metadata"]["annotations"][REVISION] = json!((newest + 1).to_string());
            }
            (rs_key.clone(), rs)
        }
        None => {
            let hash = template_hash(&template);
            let name = format!("{}-{hash}", key.name);
            let mut labels = template["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels["pod-template-hash"] = json!(hash);
            let mut pod_template = template.clone();
            pod_template["metadata"]["labels"] = labels.clone();
            let mut selector = deployment["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": key.namespace,
                    "uid": fixture::uid("ReplicaSet", &key.namespace, &format!("{name}#{}", state.resource_version)),
                    "creationTimestamp": timestamp(seconds_ago(0)),
                    "generation": 1,
                    "labels": labels,
                    "annotations": { REVISION: (newest + 1).to_string() },
                    "ownerReferences": owner_reference(&deployment),
                },
                "spec": { "replicas": replicas, "selector": selector, "template": pod_template },
                "status": { "replicas": 0, "observedGeneration": 1 },
            });
            let rs_key = ObjectKey {
                group: "apps".into(),
                version: "v1".into(),
                resource: "replicasets".into(),
                namespace: key.namespace.clone(),
                name,
            };
            (rs_key, rs)
        }
    };
    let stalled = state.stalled_rollouts;
    current_rs["spec"]["replicas"] = json!(replicas);
    current_rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(replicas.to_string());
    let ready = if stalled { 0 } else { replicas };
    current_rs["status"] = json!({
        "replicas": ready,
        "fullyLabeledReplicas": ready,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": current_rs["metadata"]["generation"],
    });
    let revision = current_rs["metadata"]["annotations"][REVISION].clone();
    store_if_changed(state, &current_key, current_rs);

    let mut old_replicas = 0;
    for (rs_key, mut rs) in owned.into_iter().filter(|(k, _)| k != &current_key) {
        if stalled {
            old_replicas += rs["status"]["replicas"].as_i64().unwrap_or_default();
            continue;
        }
        rs["spec"]["replicas"] = json!(0);
        rs["status"] = json!({ "replicas": 0, "observedGeneration": rs["metadata"]["generation"] });
        store_if_changed(state, &rs_key, rs);
    }

    deployment["metadata"]["annotations"][REVISION] = revision;
    let available = if stalled {
        deployment["status"]["availableReplicas"].as_i64().unwrap_or_default()
    } else {
        replicas
    };
    let progressing = if stalled {
        json!({ "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{}\" is progressing.", current_key.name) })
    } else {
        json!({ "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{}\" has successfully progressed.", current_key.name) })
    };
    let available_condition = if available >= replicas {
        json!({ "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability." })
    } else {
        json!({ "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability." })
    };
    deployment["status"] = json!({
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": ready + old_replicas,
        "updatedReplicas": ready,
        "readyReplicas": if stalled { available } else { replicas },
        "availableReplicas": available,
        "conditions": [available_condition, progressing],
    });
    if available < replicas {
        deployment["status"]["unavailableReplicas"] = json!(replicas - available);
    }
    store_if_changed(state, key, deployment);
}

/// The template a ControllerRevision records, as kubectl reads it back on an undo.
fn recorded_template(revision: &Value) -> Value {
    let mut template = revision["data"]["spec"]["template"].clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    template
}

fn revisions(state: &mut State, key: &ObjectKey) {
    let Some(mut object) = state.objects.get(key).cloned() else { return };
    let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
    let template = object["spec"]["template"].clone();
    let owned = dependents(state, "controllerrevisions", &key.namespace, &uid);
    let newest = owned.iter().filter_map(|(_, r)| r["revision"].as_u64()).max().unwrap_or_default();
    let previous_name = owned
        .iter()
        .max_by_key(|(_, r)| r["revision"].as_u64().unwrap_or_default())
        .map(|(k, _)| k.name.clone());
    let current = owned.iter().find(|(_, r)| recorded_template(r) == template);

    let (revision_key, mut revision) = match current {
        Some((k, r)) => (k.clone(), r.clone()),
        None => {
            let hash = template_hash(&template);
            let name = format!("{}-{hash}", key.name);
            let mut recorded = template.clone();
            recorded["$patch"] = json!("replace");
            let mut labels = template["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels["controller-revision-hash"] = json!(hash);
            let revision = json!({
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "metadata": {
                    "name": name,
                    "namespace": key.namespace,
                    "uid": fixture::uid("ControllerRevision", &key.namespace, &format!("{name}#{}", state.resource_version)),
                    "creationTimestamp": timestamp(seconds_ago(0)),
                    "labels": labels,
                    "ownerReferences": owner_reference(&object),
                },
                "data": { "spec": { "template": recorded } },
                "revision": 0,
            });
            let revision_key = ObjectKey {
                group: "apps".into(),
                version: "v1".into(),
                resource: "controllerrevisions".into(),
                namespace: key.namespace.clone(),
                name,
            };
            (revision_key, revision)
        }
    };
    if revision["revision"].as_u64().unwrap_or_default() < newest || current.is_none() {
        revision["revision"] = json!(newest + 1);
    }
    store_if_changed(state, &revision_key, revision);

    let stalled = state.stalled_rollouts;
    let generation = object["metadata"]["generation"].clone();
    if key.resource == "statefulsets" {
        let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
        let current_revision = if stalled {
            previous_name.unwrap_or_else(|| revision_key.name.clone())
        } else {
            revision_key.name.clone()
        };
        object["status"] = json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": if stalled { 0 } else { replicas },
            "currentRevision": current_revision,
            "updateRevision": revision_key.name,
        });
    } else {
        let desired = object["status"]["desiredNumberScheduled"].as_i64().unwrap_or(3);
        object["status"] = json!({
            "observedGeneration": generation,
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": desired,
            "numberReady": desired,
            "numberAvailable": desired,
            "updatedNumberScheduled": if stalled { 0 } else { desired },
            "numberMisscheduled": 0,
        });
    }
    store_if_changed(state, key, object);
}
