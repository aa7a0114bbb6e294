//! Deterministic findings: what is visibly wrong in the cluster, found without a model.
//!
//! [`analyze`] is a pure function of a [`Snapshot`] of the cluster's objects, so every rule is
//! tested on realistic objects without a server; [`Snapshot::read`] lists those objects through
//! a (guarded) client. The `k8s_findings` tool offers both to the model, and `clu-agent scan`
//! uses them on their own.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ContainerStatus, Endpoints, Event, Node, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, ObjectList};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::RbacRule;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Serving is broken or about to be.
    Critical,
    /// Something is degraded or will fail on the next change.
    Warning,
}

/// The object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    /// The kind, such as `Pod`.
    pub kind: String,
    /// The namespace, for namespaced objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

/// One thing visibly wrong, with the evidence that shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable kebab-case code, such as `crash-loop`.
    pub code: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What it is about.
    pub object: ObjectRef,
    /// The status fields, events or messages that show it, quoted.
    pub evidence: Vec<String>,
    /// One line on what it means.
    pub explanation: String,
}

/// Every code [`analyze`] can report, for documentation and tests.
pub const CODES: [&str; 10] = [
    "crash-loop",
    "oom-killed",
    "image-pull",
    "unschedulable",
    "probe-failing",
    "workload-unavailable",
    "service-no-endpoints",
    "pvc-pending",
    "node-not-ready",
    "node-pressure",
];

/// The objects the findings are computed from.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Pods.
    pub pods: Vec<Pod>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Deployments.
    pub deployments: Vec<Deployment>,
    /// StatefulSets.
    pub stateful_sets: Vec<StatefulSet>,
    /// DaemonSets.
    pub daemon_sets: Vec<DaemonSet>,
    /// Services.
    pub services: Vec<Service>,
    /// EndpointSlices.
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Endpoints, read for Services that have no EndpointSlice (mirrored or legacy setups).
    pub endpoints: Vec<Endpoints>,
    /// PersistentVolumeClaims.
    pub claims: Vec<PersistentVolumeClaim>,
    /// Events.
    pub events: Vec<Event>,
    /// Whether a list stopped at the page bound, so the findings may be incomplete.
    pub truncated: bool,
}

/// Pages of one list, at most; with 500 objects a page this reads 10,000 of a kind.
const MAX_PAGES: usize = 20;
const PAGE_SIZE: u32 = 500;

/// The RBAC rules [`Snapshot::read`] needs.
pub fn rbac_rules() -> Vec<RbacRule> {
    vec![
        RbacRule::new(
            "",
            ["pods", "nodes", "services", "endpoints", "persistentvolumeclaims", "events"],
            ["list"],
        ),
        RbacRule::new("apps", ["deployments", "statefulsets", "daemonsets"], ["list"]),
        RbacRule::new("discovery.k8s.io", ["endpointslices"], ["list"]),
    ]
}

impl Snapshot {
    /// Lists the objects of `namespace` (or of the whole cluster) through `client`, every
    /// page up to a bound. Nodes are cluster-wide either way.
    pub async fn read(client: &kube::Client, namespace: Option<&str>) -> Result<Self, kube::Error> {
        let mut snapshot = Snapshot::default();
        snapshot.pods = snapshot.list(scoped(client, namespace)).await?;
        snapshot.nodes = snapshot.list(Api::all(client.clone())).await?;
        snapshot.deployments = snapshot.list(scoped(client, namespace)).await?;
        snapshot.stateful_sets = snapshot.list(scoped(client, namespace)).await?;
        snapshot.daemon_sets = snapshot.list(scoped(client, namespace)).await?;
        snapshot.services = snapshot.list(scoped(client, namespace)).await?;
        snapshot.endpoint_slices = snapshot.list(scoped(client, namespace)).await?;
        snapshot.endpoints = snapshot.list(scoped(client, namespace)).await?;
        snapshot.claims = snapshot.list(scoped(client, namespace)).await?;
        snapshot.events = snapshot.list(scoped(client, namespace)).await?;
        Ok(snapshot)
    }

    async fn list<K>(&mut self, api: Api<K>) -> Result<Vec<K>, kube::Error>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let mut items = Vec::new();
        let mut params = ListParams::default().limit(PAGE_SIZE);
        for _ in 0..MAX_PAGES {
            let page: ObjectList<K> = api.list(&params).await?;
            items.extend(page.items);
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(items),
            }
        }
        self.truncated = true;
        Ok(items)
    }
}

fn scoped<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

fn object<K: Resource<DynamicType = ()>>(item: &K) -> ObjectRef {
    ObjectRef {
        kind: K::kind(&()).into_owned(),
        namespace: item.meta().namespace.clone(),
        name: item.meta().name.clone().unwrap_or_default(),
    }
}

/// Every finding of `snapshot`, the most severe first, then by object.
pub fn analyze(snapshot: &Snapshot) -> Vec<Finding> {
    let mut findings = Vec::new();
    let events = EventIndex::new(&snapshot.events);
    for pod in &snapshot.pods {
        pod_findings(pod, &events, &mut findings);
    }
    for node in &snapshot.nodes {
        node_findings(node, &mut findings);
    }
    workload_findings(snapshot, &mut findings);
    service_findings(snapshot, &mut findings);
    for claim in &snapshot.claims {
        if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending") {
            let mut evidence = vec!["status.phase: Pending".to_owned()];
            let class = claim.spec.as_ref().and_then(|s| s.storage_class_name.clone());
            evidence.push(format!("storageClassName: {}", class.as_deref().unwrap_or("(default)")));
            evidence.extend(events.warnings("PersistentVolumeClaim", claim.meta()));
            findings.push(Finding {
                code: "pvc-pending",
                severity: Severity::Warning,
                object: object(claim),
                evidence,
                explanation: "the claim is not bound to a volume, so pods that mount it cannot \
                              start; check the storage class's provisioner and its events"
                    .into(),
            });
        }
    }
    findings.sort_by(|a, b| (a.severity, &a.object, a.code).cmp(&(b.severity, &b.object, b.code)));
    findings
}

/// Warning events by involved object, newest first, repeats folded into one line.
struct EventIndex<'a> {
    by_object: BTreeMap<(String, String, String), Vec<&'a Event>>,
}

impl<'a> EventIndex<'a> {
    fn new(events: &'a [Event]) -> Self {
        let mut by_object: BTreeMap<_, Vec<&Event>> = BTreeMap::new();
        for event in events {
            let involved = &event.involved_object;
            let key = (
                involved.kind.clone().unwrap_or_default(),
                involved.namespace.clone().unwrap_or_default(),
                involved.name.clone().unwrap_or_default(),
            );
            by_object.entry(key).or_default().push(event);
        }
        for list in by_object.values_mut() {
            list.sort_by_key(|e| std::cmp::Reverse(last_seen(e)));
        }
        Self { by_object }
    }

    fn of(
        &self,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> &[&'a Event] {
        let key = (
            kind.to_owned(),
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        self.by_object.get(&key).map_or(&[], Vec::as_slice)
    }

    fn warnings(
        &self,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Vec<String> {
        self.of(kind, meta)
            .iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .take(3)
            .map(|e| describe_event(e))
            .collect()
    }
}

fn last_seen(event: &Event) -> String {
    event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| event.last_timestamp.as_ref().map(|t| t.0.to_string()))
        .or_else(|| event.event_time.as_ref().map(|t| t.0.to_string()))
        .unwrap_or_default()
}

fn event_count(event: &Event) -> i32 {
    event.series.as_ref().and_then(|s| s.count).or(event.count).unwrap_or(1)
}

fn describe_event(event: &Event) -> String {
    format!(
        "event {} ({}x): {}",
        event.reason.as_deref().unwrap_or("?"),
        event_count(event),
        event.message.as_deref().unwrap_or_default().trim()
    )
}

fn pod_findings(pod: &Pod, events: &EventIndex<'_>, findings: &mut Vec<Finding>) {
    let Some(status) = &pod.status else { return };
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in statuses {
        container_findings(pod, container, findings);
    }

    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if status.phase.as_deref() == Some("Pending")
        && let Some(condition) = unschedulable
    {
        findings.push(Finding {
            code: "unschedulable",
            severity: Severity::Warning,
            object: object(pod),
            evidence: vec![format!(
                "PodScheduled=False (Unschedulable): {}",
                condition.message.as_deref().unwrap_or_default()
            )],
            explanation: "no node can take the pod; the scheduler's message says which \
                          requirement (resources, affinity, taints, volumes) no node meets"
                .into(),
        });
    }

    let probe_events: Vec<String> = events
        .of("Pod", pod.meta())
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
        .take(2)
        .map(|e| describe_event(e))
        .collect();
    let not_ready =
        status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "False");
    if !probe_events.is_empty() && not_ready && status.phase.as_deref() == Some("Running") {
        let mut evidence = vec!["Ready=False while Running".to_owned()];
        evidence.extend(probe_events);
        findings.push(Finding {
            code: "probe-failing",
            severity: Severity::Warning,
            object: object(pod),
            evidence,
            explanation: "the pod runs but fails its probe, so it receives no traffic (readiness) \
                          or is restarted (liveness); the probe's response says why"
                .into(),
        });
    }
}

fn container_findings(pod: &Pod, container: &ContainerStatus, findings: &mut Vec<Finding>) {
    let waiting = container.state.as_ref().and_then(|s| s.waiting.as_ref());
    let waiting_reason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or_default();
    let last = container.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let current = container.state.as_ref().and_then(|s| s.terminated.as_ref());
    let name = &container.name;

    if waiting_reason == "CrashLoopBackOff" {
        let mut evidence = vec![
            format!("container `{name}`: waiting CrashLoopBackOff"),
            format!("restartCount: {}", container.restart_count),
        ];
        if let Some(last) = last {
            evidence.push(format!(
                "last termination: reason {}, exit code {}{}",
                last.reason.as_deref().unwrap_or("unknown"),
                last.exit_code,
                last.message.as_deref().map(|m| format!(", message {m:?}")).unwrap_or_default()
            ));
        }
        findings.push(Finding {
            code: "crash-loop",
            severity: Severity::Critical,
            object: object(pod),
            evidence,
            explanation: format!(
                "container `{name}` keeps exiting and Kubernetes backs off restarting it; its \
                 previous logs show why it exits"
            ),
        });
    }

    let oom =
        [last, current].into_iter().flatten().find(|t| t.reason.as_deref() == Some("OOMKilled"));
    if let Some(killed) = oom {
        let limit = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == *name))
            .and_then(|c| c.resources.as_ref())
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory"))
            .map(|q| q.0.clone());
        let mut evidence = vec![format!(
            "container `{name}`: terminated OOMKilled, exit code {}",
            killed.exit_code
        )];
        evidence.push(format!("memory limit: {}", limit.as_deref().unwrap_or("none")));
        evidence.push(format!("restartCount: {}", container.restart_count));
        findings.push(Finding {
            code: "oom-killed",
            severity: Severity::Warning,
            object: object(pod),
            evidence,
            explanation: format!(
                "container `{name}` used more memory than its limit and the kernel killed it; \
                 raise the limit or find what grows"
            ),
        });
    }

    if matches!(waiting_reason, "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName") {
        findings.push(Finding {
            code: "image-pull",
            severity: Severity::Critical,
            object: object(pod),
            evidence: vec![
                format!("container `{name}`: waiting {waiting_reason}"),
                format!("image: {}", container.image),
                format!(
                    "message: {}",
                    waiting.and_then(|w| w.message.as_deref()).unwrap_or_default()
                ),
            ],
            explanation: format!(
                "the image of container `{name}` cannot be pulled: check the tag exists, the \
                 registry is reachable and the node role or pull secret may read it"
            ),
        });
    }
}

fn node_findings(node: &Node, findings: &mut Vec<Finding>) {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    for condition in conditions.into_iter().flatten() {
        let detail = || {
            format!(
                "{}={} ({}): {}",
                condition.type_,
                condition.status,
                condition.reason.as_deref().unwrap_or_default(),
                condition.message.as_deref().unwrap_or_default()
            )
        };
        match (condition.type_.as_str(), condition.status.as_str()) {
            ("Ready", "True") => {}
            ("Ready", _) => findings.push(Finding {
                code: "node-not-ready",
                severity: Severity::Critical,
                object: object(node),
                evidence: vec![detail()],
                explanation: "the node's kubelet is not reporting healthy; its pods are evicted \
                              after the toleration period and nothing new lands on it"
                    .into(),
            }),
            ("MemoryPressure" | "DiskPressure" | "PIDPressure" | "NetworkUnavailable", "True") => {
                findings.push(Finding {
                    code: "node-pressure",
                    severity: Severity::Warning,
                    object: object(node),
                    evidence: vec![detail()],
                    explanation: format!(
                        "the node reports {}; the kubelet evicts pods and the scheduler avoids it",
                        condition.type_
                    ),
                });
            }
            _ => {}
        }
    }
}

fn workload_findings(snapshot: &Snapshot, findings: &mut Vec<Finding>) {
    let mut push = |object: ObjectRef, desired: i32, ready: i32, extra: Vec<String>| {
        if desired > ready {
            let mut evidence = vec![format!("ready {ready} of {desired} replicas")];
            evidence.extend(extra);
            findings.push(Finding {
                code: "workload-unavailable",
                severity: if ready == 0 { Severity::Critical } else { Severity::Warning },
                object,
                evidence,
                explanation: "some replicas are not ready; the pod findings of this workload \
                              say why"
                    .into(),
            });
        }
    };
    for deployment in &snapshot.deployments {
        let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = deployment.status.as_ref();
        let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
        let conditions: Vec<String> = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.status != "True")
            .map(|c| {
                format!("{}={}: {}", c.type_, c.status, c.message.as_deref().unwrap_or_default())
            })
            .collect();
        push(object(deployment), desired, ready, conditions);
    }
    for set in &snapshot.stateful_sets {
        let desired = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let ready = set.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
        push(object(set), desired, ready, vec![]);
    }
    for set in &snapshot.daemon_sets {
        let status = set.status.as_ref();
        let desired = status.map_or(0, |s| s.desired_number_scheduled);
        let ready = status.map_or(0, |s| s.number_ready);
        push(object(set), desired, ready, vec![]);
    }
}

fn service_findings(snapshot: &Snapshot, findings: &mut Vec<Finding>) {
    for service in &snapshot.services {
        let Some(spec) = &service.spec else { continue };
        let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let namespace = service.namespace();
        let name = service.name_any();
        let slices: Vec<&EndpointSlice> = snapshot
            .endpoint_slices
            .iter()
            .filter(|slice| slice.namespace() == namespace)
            .filter(|slice| slice.labels().get("kubernetes.io/service-name") == Some(&name))
            .collect();
        let ready_endpoints: usize = if slices.is_empty() {
            snapshot
                .endpoints
                .iter()
                .filter(|e| e.namespace() == namespace && e.name_any() == name)
                .flat_map(|e| e.subsets.iter().flatten())
                .map(|subset| subset.addresses.as_ref().map_or(0, Vec::len))
                .sum()
        } else {
            slices
                .iter()
                .flat_map(|slice| slice.endpoints.iter())
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
                .count()
        };
        if ready_endpoints > 0 {
            continue;
        }
        let matching: Vec<&Pod> = snapshot
            .pods
            .iter()
            .filter(|pod| pod.namespace() == namespace)
            .filter(|pod| selector.iter().all(|(k, v)| pod.labels().get(k) == Some(v)))
            .collect();
        let selector_text: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let names: BTreeSet<String> = matching.iter().map(|p| p.name_any()).collect();
        findings.push(Finding {
            code: "service-no-endpoints",
            severity: Severity::Critical,
            object: object(service),
            evidence: vec![
                format!(
                    "selector {} matches {} pod(s), none ready",
                    selector_text.join(","),
                    matching.len()
                ),
                format!(
                    "pods: {}",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.into_iter().collect::<Vec<_>>().join(", ")
                    }
                ),
            ],
            explanation: "traffic to the Service has nowhere to go: no ready pod matches its \
                          selector, so clients get connection errors or 503s"
                .into(),
        });
    }
}
