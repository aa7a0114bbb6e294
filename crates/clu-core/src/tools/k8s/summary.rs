//! Compact, kind-aware summaries of objects: one table row per object, and the per-container
//! view of a pod that `k8s_describe` adds.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{age, object_age};

/// One compact row: name, namespace, age, then the status columns of the object's kind.
pub(super) fn row(kind: &str, object: &Value, now: Timestamp) -> Value {
    let metadata = &object["metadata"];
    let mut row = Map::new();
    row.insert("name".into(), metadata["name"].clone());
    if let Some(namespace) = metadata["namespace"].as_str() {
        row.insert("namespace".into(), json!(namespace));
    }
    row.insert("age".into(), json!(object_age(object, now)));
    let columns = match kind {
        "Pod" => pod_columns(object),
        "Deployment" => deployment_columns(object),
        "ReplicaSet" => replica_set_columns(object),
        "StatefulSet" => stateful_set_columns(object),
        "DaemonSet" => daemon_set_columns(object),
        "Node" => node_columns(object),
        "Service" => service_columns(object),
        "Job" => job_columns(object),
        "CronJob" => cron_job_columns(object),
        "PersistentVolumeClaim" => claim_columns(object),
        "PersistentVolume" => volume_columns(object),
        "Namespace" => json!({ "phase": object["status"]["phase"] }),
        "Event" => event_columns(object),
        "Ingress" => ingress_columns(object),
        "ConfigMap" => json!({ "keys": keys(&object["data"]) }),
        "Endpoints" => endpoints_columns(object),
        "EndpointSlice" => endpoint_slice_columns(object),
        "HorizontalPodAutoscaler" => json!({
            "target": object["spec"]["scaleTargetRef"]["name"],
            "min": object["spec"]["minReplicas"],
            "max": object["spec"]["maxReplicas"],
            "current": object["status"]["currentReplicas"],
            "desired": object["status"]["desiredReplicas"],
        }),
        "PodDisruptionBudget" => json!({
            "min_available": object["spec"]["minAvailable"],
            "max_unavailable": object["spec"]["maxUnavailable"],
            "allowed_disruptions": object["status"]["disruptionsAllowed"],
        }),
        _ => json!({}),
    };
    if let Value::Object(columns) = columns {
        row.extend(columns.into_iter().filter(|(_, v)| !v.is_null()));
    }
    Value::Object(row)
}

fn count(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

fn ratio(ready: &Value, desired: &Value) -> String {
    format!("{}/{}", count(ready), count(desired))
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().map(|map| map.keys().cloned().collect()).unwrap_or_default()
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    items(&object["status"]["conditions"]).iter().find(|c| c["type"] == kind)
}

/// A pod's status as kubectl's STATUS column shows it: the reason a container waits or ended
/// with beats the phase, because `Running` hides a crash loop.
///
/// Lists are large and each object a tree of maps scattered over the heap, so the summary
/// reads each field it needs once and looks at the conditions only of a pending pod, the one
/// kind of pod whose `PodScheduled` condition can say why.
fn pod_status_of(pod: &Value, status: &Value, containers: &[Value]) -> String {
    decide_pod_status(
        pod["metadata"]["deletionTimestamp"].is_string(),
        items(&status["initContainerStatuses"]).iter().map(ContainerState::of_json),
        containers.iter().map(ContainerState::of_json),
        status["reason"].as_str(),
        status["phase"].as_str(),
        || {
            items(&status["conditions"])
                .iter()
                .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
                .and_then(|c| c["reason"].as_str())
        },
    )
}

/// A container's state as the STATUS column reads it.
struct ContainerState<'a> {
    /// Why it waits.
    waiting: Option<&'a str>,
    /// Why it ended, and with what code.
    terminated: Option<&'a str>,
    exit_code: Option<i64>,
}

impl ContainerState<'_> {
    fn of_json(container: &Value) -> ContainerState<'_> {
        let state = &container["state"];
        let terminated = &state["terminated"];
        ContainerState {
            waiting: state["waiting"]["reason"].as_str(),
            terminated: terminated["reason"].as_str(),
            exit_code: terminated["exitCode"].as_i64(),
        }
    }

    fn of_typed(container: &ContainerStatus) -> ContainerState<'_> {
        let state = container.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        ContainerState {
            waiting: state.and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref()),
            terminated: terminated.and_then(|t| t.reason.as_deref()),
            exit_code: terminated.map(|t| i64::from(t.exit_code)),
        }
    }
}

/// The STATUS column from what decides it, read from a pod as JSON or typed. `unscheduled` is
/// the reason of a false `PodScheduled` condition, asked only of a pending pod.
fn decide_pod_status<'a>(
    terminating: bool,
    init: impl IntoIterator<Item = ContainerState<'a>>,
    containers: impl IntoIterator<Item = ContainerState<'a>>,
    reason: Option<&'a str>,
    phase: Option<&'a str>,
    unscheduled: impl FnOnce() -> Option<&'a str>,
) -> String {
    if terminating {
        return "Terminating".into();
    }
    for init in init {
        if let Some(reason) = init.waiting.filter(|r| *r != "PodInitializing") {
            return format!("Init:{reason}");
        }
        if init.exit_code.is_some_and(|code| code != 0) {
            return "Init:Error".into();
        }
    }
    for container in containers {
        if let Some(reason) = container.waiting.or(container.terminated) {
            return reason.to_owned();
        }
    }
    if let Some(reason) = reason {
        return reason.to_owned();
    }
    if phase.is_none_or(|p| p == "Pending")
        && let Some(reason) = unscheduled()
    {
        return format!("Pending ({reason})");
    }
    phase.unwrap_or("Unknown").to_owned()
}

fn pod_columns(pod: &Value) -> Value {
    let status = &pod["status"];
    let statuses = items(&status["containerStatuses"]);
    let containers = items(&pod["spec"]["containers"]).len();
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_termination = None;
    for container in statuses {
        if container["ready"] == true {
            ready += 1;
        }
        restarts += count(&container["restartCount"]);
        if last_termination.is_none() {
            last_termination = container["lastState"]["terminated"]["reason"].as_str();
        }
    }
    json!({
        "status": pod_status_of(pod, status, statuses),
        "ready": format!("{ready}/{containers}"),
        "restarts": restarts,
        "last_termination": last_termination,
        "node": pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()),
    })
}

fn deployment_columns(deployment: &Value) -> Value {
    let status = &deployment["status"];
    json!({
        "ready": ratio(&status["readyReplicas"], &deployment["spec"]["replicas"]),
        "up_to_date": count(&status["updatedReplicas"]),
        "available": count(&status["availableReplicas"]),
        "unavailable": status["unavailableReplicas"],
    })
}

fn replica_set_columns(replica_set: &Value) -> Value {
    json!({
        "desired": count(&replica_set["spec"]["replicas"]),
        "current": count(&replica_set["status"]["replicas"]),
        "ready": count(&replica_set["status"]["readyReplicas"]),
    })
}

fn stateful_set_columns(stateful_set: &Value) -> Value {
    let status = &stateful_set["status"];
    json!({ "ready": ratio(&status["readyReplicas"], &stateful_set["spec"]["replicas"]) })
}

fn daemon_set_columns(daemon_set: &Value) -> Value {
    let status = &daemon_set["status"];
    json!({
        "desired": count(&status["desiredNumberScheduled"]),
        "current": count(&status["currentNumberScheduled"]),
        "ready": count(&status["numberReady"]),
        "available": count(&status["numberAvailable"]),
        "misscheduled": count(&status["numberMisscheduled"]),
    })
}

fn node_columns(node: &Value) -> Value {
    let ready = condition(node, "Ready").and_then(|c| c["status"].as_str()).unwrap_or("Unknown");
    let pressure: Vec<&str> =
        ["MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"]
            .into_iter()
            .filter(|kind| condition(node, kind).is_some_and(|c| c["status"] == "True"))
            .collect();
    json!({
        "ready": ready,
        "pressure": pressure,
        "unschedulable": node["spec"]["unschedulable"].as_bool().unwrap_or(false),
        "version": node["status"]["nodeInfo"]["kubeletVersion"],
        "instance_type": node["metadata"]["labels"]["node.kubernetes.io/instance-type"],
    })
}

fn service_columns(service: &Value) -> Value {
    let ports: Vec<String> = items(&service["spec"]["ports"])
        .iter()
        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
        .collect();
    json!({
        "type": service["spec"]["type"],
        "cluster_ip": service["spec"]["clusterIP"],
        "ports": ports,
        "selector": service["spec"]["selector"],
    })
}

fn job_columns(job: &Value) -> Value {
    json!({
        "completions": ratio(&job["status"]["succeeded"], &job["spec"]["completions"]),
        "active": count(&job["status"]["active"]),
        "failed": count(&job["status"]["failed"]),
    })
}

fn cron_job_columns(cron_job: &Value) -> Value {
    json!({
        "schedule": cron_job["spec"]["schedule"],
        "suspend": cron_job["spec"]["suspend"].as_bool().unwrap_or(false),
        "active": items(&cron_job["status"]["active"]).len(),
        "last_schedule": cron_job["status"]["lastScheduleTime"],
    })
}

fn claim_columns(claim: &Value) -> Value {
    json!({
        "phase": claim["status"]["phase"],
        "volume": claim["spec"]["volumeName"],
        "capacity": claim["status"]["capacity"]["storage"],
        "requested": claim["spec"]["resources"]["requests"]["storage"],
        "storage_class": claim["spec"]["storageClassName"],
    })
}

fn volume_columns(volume: &Value) -> Value {
    let claim = &volume["spec"]["claimRef"];
    json!({
        "phase": volume["status"]["phase"],
        "capacity": volume["spec"]["capacity"]["storage"],
        "claim": claim["name"]
            .as_str()
            .map(|name| format!("{}/{name}", claim["namespace"].as_str().unwrap_or_default())),
        "storage_class": volume["spec"]["storageClassName"],
    })
}

fn event_columns(event: &Value) -> Value {
    let object = &event["involvedObject"];
    let regarding = if object.is_object() { object } else { &event["regarding"] };
    json!({
        "type": event["type"],
        "reason": event["reason"],
        "object": format!(
            "{}/{}",
            regarding["kind"].as_str().unwrap_or_default(),
            regarding["name"].as_str().unwrap_or_default()
        ),
        "message": event["message"].as_str().or(event["note"].as_str()).map(|m| truncate(m, 200)),
    })
}

fn ingress_columns(ingress: &Value) -> Value {
    let hosts: Vec<&Value> = items(&ingress["spec"]["rules"]).iter().map(|r| &r["host"]).collect();
    let addresses: Vec<&Value> = items(&ingress["status"]["loadBalancer"]["ingress"])
        .iter()
        .map(|a| if a["hostname"].is_string() { &a["hostname"] } else { &a["ip"] })
        .collect();
    json!({ "class": ingress["spec"]["ingressClassName"], "hosts": hosts, "addresses": addresses })
}

fn endpoints_columns(endpoints: &Value) -> Value {
    let subsets = items(&endpoints["subsets"]);
    let ready: usize = subsets.iter().map(|s| items(&s["addresses"]).len()).sum();
    let not_ready: usize = subsets.iter().map(|s| items(&s["notReadyAddresses"]).len()).sum();
    json!({ "ready_addresses": ready, "not_ready_addresses": not_ready })
}

fn endpoint_slice_columns(slice: &Value) -> Value {
    let endpoints = items(&slice["endpoints"]);
    // A missing `ready` condition means ready, as the EndpointSlice API defines it.
    let ready = endpoints.iter().filter(|e| e["conditions"]["ready"] != false).count();
    json!({
        "service": slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "ready_endpoints": ready,
        "endpoints": endpoints.len(),
    })
}

/// At most `max` characters of `text`, marked when cut.
pub(super) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The conditions of an object's status, as `type`, `status`, `reason`, `message`.
pub(super) fn conditions(object: &Value) -> Vec<Value> {
    items(&object["status"]["conditions"])
        .iter()
        .map(|c| {
            let mut condition = Map::new();
            for (key, field) in [
                ("type", "type"),
                ("status", "status"),
                ("reason", "reason"),
                ("message", "message"),
            ] {
                if let Some(value) = c.get(field).filter(|v| !v.is_null()) {
                    condition.insert(key.into(), value.clone());
                }
            }
            if let Some(at) = c.get("lastTransitionTime").filter(|v| !v.is_null()) {
                condition.insert("since".into(), at.clone());
            }
            Value::Object(condition)
        })
        .collect()
}

/// Each container of a pod (init containers first): image, state, readiness, restarts, and
/// how its last run ended.
pub(super) fn containers(pod: &Value) -> Vec<Value> {
    let mut containers = Vec::new();
    for (spec_field, status_field, init) in [
        ("initContainers", "initContainerStatuses", true),
        ("containers", "containerStatuses", false),
    ] {
        let statuses = items(&pod["status"][status_field]);
        for spec in items(&pod["spec"][spec_field]) {
            let name = spec["name"].as_str().unwrap_or_default();
            let status = statuses.iter().find(|s| s["name"] == name).unwrap_or(&Value::Null);
            containers.push(container(name, spec, status, init));
        }
    }
    containers
}

fn container(name: &str, spec: &Value, status: &Value, init: bool) -> Value {
    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    if init {
        container.insert("init".into(), json!(true));
    }
    container.insert("image".into(), spec["image"].clone());
    let state = &status["state"];
    let (state_name, detail) = if state["running"].is_object() {
        ("running", json!({ "started_at": state["running"]["startedAt"] }))
    } else if state["waiting"].is_object() {
        (
            "waiting",
            json!({ "reason": state["waiting"]["reason"], "message": state["waiting"]["message"] }),
        )
    } else if state["terminated"].is_object() {
        ("terminated", termination(&state["terminated"]))
    } else {
        ("unknown", json!({}))
    };
    container.insert("state".into(), json!(state_name));
    if let Value::Object(detail) = detail {
        let detail: Map<String, Value> = detail.into_iter().filter(|(_, v)| !v.is_null()).collect();
        if !detail.is_empty() {
            container.insert(state_name.into(), Value::Object(detail));
        }
    }
    container.insert("ready".into(), json!(status["ready"].as_bool().unwrap_or(false)));
    container.insert("restarts".into(), json!(count(&status["restartCount"])));
    if status["lastState"]["terminated"].is_object() {
        container
            .insert("last_termination".into(), termination(&status["lastState"]["terminated"]));
    }
    if let Some(resources) =
        spec.get("resources").filter(|r| r.as_object().is_some_and(|m| !m.is_empty()))
    {
        container.insert("resources".into(), resources.clone());
    }
    if let Some(probe) = spec.get("readinessProbe") {
        container.insert("readiness_probe".into(), probe.clone());
    }
    Value::Object(container)
}

fn termination(terminated: &Value) -> Value {
    let mut termination = Map::new();
    for (key, field) in [
        ("reason", "reason"),
        ("exit_code", "exitCode"),
        ("signal", "signal"),
        ("message", "message"),
        ("started_at", "startedAt"),
        ("finished_at", "finishedAt"),
    ] {
        if let Some(value) = terminated.get(field).filter(|v| !v.is_null()) {
            termination.insert(key.into(), value.clone());
        }
    }
    Value::Object(termination)
}

/// The row of a typed pod, equal to [`row`]`("Pod", …)` of the same pod as JSON.
///
/// `k8s_list` reads pods typed: a typed pod's fields sit at fixed places instead of in hashed
/// maps of heap strings, which on a list of thousands is the difference between following a
/// few pointers and missing the cache at every key (`benches/pod_summary.rs` measures both).
pub(super) fn pod_row(pod: &Pod, now: Timestamp) -> Value {
    let metadata = &pod.metadata;
    let mut row = Map::with_capacity(8);
    row.insert("name".into(), metadata.name.clone().map_or(Value::Null, Value::String));
    if let Some(namespace) = &metadata.namespace {
        row.insert("namespace".into(), Value::String(namespace.clone()));
    }
    let age = metadata.creation_timestamp.as_ref().map(|t| age(t.0, now));
    row.insert("age".into(), age.map_or(Value::Null, Value::String));

    let status = pod.status.as_ref();
    let statuses: &[ContainerStatus] =
        status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let containers = pod.spec.as_ref().map_or(0, |spec| spec.containers.len());
    let ready = statuses.iter().filter(|s| s.ready).count();
    let restarts: i64 = statuses.iter().map(|s| i64::from(s.restart_count)).sum();
    let last_termination =
        statuses.iter().find_map(|s| s.last_state.as_ref()?.terminated.as_ref()?.reason.clone());
    row.insert("status".into(), Value::String(typed_pod_status(pod, statuses)));
    row.insert("ready".into(), Value::String(format!("{ready}/{containers}")));
    row.insert("restarts".into(), Value::from(restarts));
    if let Some(reason) = last_termination {
        row.insert("last_termination".into(), Value::String(reason));
    }
    let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty());
    if let Some(node) = node {
        row.insert("node".into(), Value::String(node.to_owned()));
    }
    Value::Object(row)
}

/// [`pod_status_of`] of a typed pod.
fn typed_pod_status(pod: &Pod, containers: &[ContainerStatus]) -> String {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default();
    decide_pod_status(
        pod.metadata.deletion_timestamp.is_some(),
        init.iter().map(ContainerState::of_typed),
        containers.iter().map(ContainerState::of_typed),
        status.and_then(|s| s.reason.as_deref()),
        status.and_then(|s| s.phase.as_deref()),
        || {
            status
                .and_then(|s| s.conditions.as_deref())
                .unwrap_or_default()
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                .and_then(|c| c.reason.as_deref())
        },
    )
}
