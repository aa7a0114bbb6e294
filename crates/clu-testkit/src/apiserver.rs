//! A plain-HTTP fake Kubernetes API server, for tests that need the real kube client.
//!
//! No kube-apiserver can run on the build machines, so this one serves the parts of the API that
//! Clu's tools use, with the wire format of the real server: discovery documents, `get` and `list`
//! of any resource it knows (label and field selectors, `limit` and `continue`), pod logs, and
//! errors as `Status` objects. Objects live in memory as JSON, keyed by group, version,
//! resource, namespace and name, so a test can add, replace and remove any kind without a type.
//!
//! Every request is logged, so a test can prove what a tool sent, and what it did not send.
//!
//! Writes are served too (`writes`): create, replace, delete with a propagation policy, merge,
//! strategic-merge and server-side-apply patches, `dryRun=All`, the `scale` and `status`
//! subresources; after a stored write, small controllers (`controllers`) turn a Deployment's
//! template into a ReplicaSet revision and a StatefulSet's or DaemonSet's into a
//! ControllerRevision, with status fields a rollout check can read.
//!
//! To serve another kind, add a [`ResourceType`] with [`FakeApiServer::add_resource_type`]; the
//! storage ([`FakeApiServer::put`], [`FakeApiServer::object`], [`FakeApiServer::remove`]) and
//! the writes are generic.
//!
//! [`fixture`] builds realistic objects for a namespace `shop` with typical failures.

mod controllers;
mod ownership;
mod writes;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// Starts a fake API server holding `objects`, on a free port of 127.0.0.1.
pub async fn start(objects: impl IntoIterator<Item = Value>) -> FakeApiServer {
    FakeApiServer::start(objects).await
}

/// One resource the server serves, as its discovery document describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// The API group, `""` for the core group.
    pub group: String,
    /// The version, such as `v1`.
    pub version: String,
    /// The plural resource name, with `/subresource` for subresources (`pods/log`).
    pub resource: String,
    /// The kind of the objects.
    pub kind: String,
    /// The singular name, such as `pod`; empty for subresources, as the real server has it.
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// The verbs discovery lists for it.
    pub verbs: Vec<String>,
    /// Short names such as `po`.
    pub short_names: Vec<String>,
    /// For subresources of another group and kind, such as `deployments/scale`.
    pub subresource_group_version_kind: Option<(String, String, String)>,
}

impl ResourceType {
    /// A top-level resource with the read and write verbs of a built-in resource.
    pub fn new(group: &str, version: &str, resource: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
            kind: kind.to_owned(),
            singular: kind.to_lowercase(),
            namespaced,
            verbs: [
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
            .map(str::to_owned)
            .to_vec(),
            short_names: Vec::new(),
            subresource_group_version_kind: None,
        }
    }

    /// The same resource with `short_names`.
    pub fn short_names(mut self, short_names: &[&str]) -> Self {
        self.short_names = short_names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// A subresource of this resource with `verbs`, such as `pods/log` with `get`.
    pub fn subresource(&self, name: &str, verbs: &[&str]) -> Self {
        Self {
            resource: format!("{}/{name}", self.resource),
            singular: String::new(),
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            short_names: Vec::new(),
            ..self.clone()
        }
    }

    /// The same subresource, answering with `kind` of `group`/`version` (as `scale` does).
    pub fn answering_with(mut self, group: &str, version: &str, kind: &str) -> Self {
        self.subresource_group_version_kind =
            Some((group.to_owned(), version.to_owned(), kind.to_owned()));
        self
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    fn is_subresource(&self) -> bool {
        self.resource.contains('/')
    }

    fn discovery_entry(&self) -> Value {
        let mut entry = json!({
            "name": self.resource,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
        });
        if !self.short_names.is_empty() {
            entry["shortNames"] = json!(self.short_names);
        }
        if let Some((group, version, kind)) = &self.subresource_group_version_kind {
            entry["group"] = json!(group);
            entry["version"] = json!(version);
            entry["kind"] = json!(kind);
        }
        entry
    }
}

/// The resources of a small EKS cluster: core, apps, batch, networking, discovery, events,
/// coordination, policy, autoscaling and storage, with the subresources tools touch.
pub fn builtin_resource_types() -> Vec<ResourceType> {
    let pods = ResourceType::new("", "v1", "pods", "Pod", true).short_names(&["po"]);
    let services = ResourceType::new("", "v1", "services", "Service", true).short_names(&["svc"]);
    let nodes = ResourceType::new("", "v1", "nodes", "Node", false).short_names(&["no"]);
    let namespaces =
        ResourceType::new("", "v1", "namespaces", "Namespace", false).short_names(&["ns"]);
    let deployments =
        ResourceType::new("apps", "v1", "deployments", "Deployment", true).short_names(&["deploy"]);
    let replicasets =
        ResourceType::new("apps", "v1", "replicasets", "ReplicaSet", true).short_names(&["rs"]);
    let statefulsets =
        ResourceType::new("apps", "v1", "statefulsets", "StatefulSet", true).short_names(&["sts"]);
    let daemonsets =
        ResourceType::new("apps", "v1", "daemonsets", "DaemonSet", true).short_names(&["ds"]);
    let scale = |resource: &ResourceType| {
        resource.subresource("scale", &["get", "patch", "update"]).answering_with(
            "autoscaling",
            "v1",
            "Scale",
        )
    };
    vec![
        pods.subresource("log", &["get"]),
        pods.subresource("status", &["get", "patch", "update"]),
        pods.clone(),
        services.subresource("status", &["get", "patch", "update"]),
        services,
        ResourceType::new("", "v1", "endpoints", "Endpoints", true).short_names(&["ep"]),
        ResourceType::new("", "v1", "events", "Event", true).short_names(&["ev"]),
        nodes.subresource("status", &["get", "patch", "update"]),
        nodes,
        namespaces.subresource("status", &["get", "patch", "update"]),
        namespaces,
        ResourceType::new("", "v1", "configmaps", "ConfigMap", true).short_names(&["cm"]),
        ResourceType::new("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true)
            .short_names(&["pvc"]),
        ResourceType::new("", "v1", "persistentvolumes", "PersistentVolume", false)
            .short_names(&["pv"]),
        ResourceType::new("", "v1", "serviceaccounts", "ServiceAccount", true).short_names(&["sa"]),
        ResourceType::new("", "v1", "secrets", "Secret", true),
        scale(&deployments),
        deployments.subresource("status", &["get", "patch", "update"]),
        deployments,
        scale(&replicasets),
        replicasets,
        scale(&statefulsets),
        statefulsets,
        daemonsets,
        ResourceType::new("apps", "v1", "controllerrevisions", "ControllerRevision", true),
        ResourceType::new("batch", "v1", "jobs", "Job", true),
        ResourceType::new("batch", "v1", "cronjobs", "CronJob", true).short_names(&["cj"]),
        ResourceType::new("events.k8s.io", "v1", "events", "Event", true).short_names(&["ev"]),
        ResourceType::new("networking.k8s.io", "v1", "ingresses", "Ingress", true)
            .short_names(&["ing"]),
        ResourceType::new("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true)
            .short_names(&["netpol"]),
        ResourceType::new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true),
        ResourceType::new("coordination.k8s.io", "v1", "leases", "Lease", true),
        ResourceType::new("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true)
            .short_names(&["pdb"]),
        ResourceType::new(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
        )
        .short_names(&["hpa"]),
        ResourceType::new("storage.k8s.io", "v1", "storageclasses", "StorageClass", false)
            .short_names(&["sc"]),
    ]
}

/// Where one object is stored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The API group, `""` for core.
    pub group: String,
    /// The version it is stored under.
    pub version: String,
    /// The plural resource.
    pub resource: String,
    /// The namespace, `""` for cluster-scoped objects.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

/// One line of a container's log, with the time the kubelet saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When the line was written.
    pub at: Timestamp,
    /// The line, without its newline.
    pub text: String,
}

impl LogLine {
    /// A line written `seconds` ago.
    pub fn ago(seconds: i64, text: impl Into<String>) -> Self {
        Self { at: seconds_ago(seconds), text: text.into() }
    }
}

/// The logs of one container of one pod, current or of its previous run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerLog {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// Whether these are the logs of the previous, terminated run.
    pub previous: bool,
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method, such as `GET`.
    pub method: String,
    /// The path, such as `/api/v1/namespaces/shop/pods`.
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of the query parameter `key`, if it was sent.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    resource_types: Vec<ResourceType>,
    objects: BTreeMap<ObjectKey, Value>,
    logs: BTreeMap<(String, String, String, bool), Vec<LogLine>>,
    requests: Vec<RecordedRequest>,
    resource_version: u64,
    stalled_rollouts: bool,
}

impl State {
    fn resource_type(&self, group: &str, version: &str, resource: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|t| t.group == group && t.version == version && t.resource == resource)
    }

    fn resource_type_of(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = split_api_version(api_version);
        self.resource_types.iter().find(|t| {
            t.group == group && t.version == version && t.kind == kind && !t.is_subresource()
        })
    }

    /// The subresource `name` of `resource_type`, if the server serves it.
    fn subresource(&self, resource_type: &ResourceType, name: &str) -> Option<&ResourceType> {
        let resource = format!("{}/{name}", resource_type.resource);
        self.resource_type(&resource_type.group, &resource_type.version, &resource)
    }

    fn next_resource_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }
}

/// A running fake API server. It stops when dropped.
pub struct FakeApiServer {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    denied: Denied,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    /// Starts a server with the [`builtin_resource_types`] and `objects`, on a free port of
    /// 127.0.0.1.
    ///
    /// Panics when the port cannot be bound or an object has no known kind, because a test
    /// cannot go on without its server.
    pub async fn start(objects: impl IntoIterator<Item = Value>) -> Self {
        let state = Arc::new(Mutex::new(State {
            resource_types: builtin_resource_types(),
            ..State::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the fake API server needs a free port on 127.0.0.1");
        let address = listener.local_addr().expect("a bound listener has an address");
        let shared = state.clone();
        let denied: Denied = Arc::default();
        let reviews = (state.clone(), denied.clone());
        let router = axum::Router::new()
            .route(
                ACCESS_REVIEWS_PATH,
                axum::routing::post(move |body: axum::body::Bytes| {
                    let (state, denied) = reviews.clone();
                    async move { access_review(&state, &denied, &body) }
                }),
            )
            .fallback(move |request: Request| {
                let state = shared.clone();
                async move { handle(&state, request).await }
            });
        let task = tokio::spawn(async move {
            // The server runs until the test drops it; an error here only ends the test's server.
            let _ = axum::serve(listener, router).await;
        });
        let server = Self { address, state, denied, task };
        for object in objects {
            server.put(object);
        }
        server
    }

    /// Starts a server holding a fixture's objects and logs.
    pub async fn with_fixture(fixture: fixture::Fixture) -> Self {
        let server = Self::start(fixture.objects).await;
        for log in fixture.logs {
            server.set_logs(log);
        }
        server
    }

    /// The server's base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A kube client for the server, with the default namespace `default`.
    pub fn client(&self) -> kube::Client {
        let url = self.url().parse().expect("the server's own URL is a valid URI");
        kube::Client::try_from(kube::Config::new(url))
            .expect("a plain-HTTP configuration makes a kube client")
    }

    /// Makes SelfSubjectAccessReviews of `verb` on `resource` (with `/subresource`) in `group`
    /// answer "denied"; every other review is allowed, as for a cluster administrator.
    pub fn deny_access(&self, group: &str, resource: &str, verb: &str) {
        self.denied.lock().unwrap_or_else(PoisonError::into_inner).insert((
            group.to_owned(),
            resource.to_owned(),
            verb.to_owned(),
        ));
    }

    /// Undoes [`Self::deny_access`] for the triple: its reviews answer "allowed" again.
    pub fn allow_access(&self, group: &str, resource: &str, verb: &str) {
        self.denied.lock().unwrap_or_else(PoisonError::into_inner).remove(&(
            group.to_owned(),
            resource.to_owned(),
            verb.to_owned(),
        ));
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Serves another resource, such as a custom resource's kind.
    pub fn add_resource_type(&self, resource_type: ResourceType) {
        let mut state = self.lock();
        state.resource_types.retain(|t| {
            (&t.group, &t.version, &t.resource)
                != (&resource_type.group, &resource_type.version, &resource_type.resource)
        });
        state.resource_types.push(resource_type);
    }

    /// Adds or replaces an object, found by its `apiVersion`, `kind`, namespace and name.
    ///
    /// Fills in what the API server would: `metadata.uid` and `creationTimestamp` when missing,
    /// and a fresh `resourceVersion`. Returns the stored object. Panics on an object the server
    /// cannot store, because that is a mistake in the test.
    pub fn put(&self, mut object: Value) -> Value {
        let mut state = self.lock();
        let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let resource_type = state
            .resource_type_of(&api_version, &kind)
            .unwrap_or_else(|| panic!("the fake API server does not serve {api_version} {kind}"))
            .clone();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("a {kind} needs metadata.name"))
            .to_owned();
        let namespace = if resource_type.namespaced {
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_else(|| panic!("{kind} `{name}` is namespaced and needs a namespace"))
                .to_owned()
        } else {
            String::new()
        };

        let metadata = &mut object["metadata"];
        if metadata.get("uid").is_none() {
            metadata["uid"] = json!(fixture::uid(&kind, &namespace, &name));
        }
        if metadata.get("creationTimestamp").is_none() {
            metadata["creationTimestamp"] = json!(timestamp(seconds_ago(0)));
        }
        object["metadata"]["resourceVersion"] = json!(state.next_resource_version());
        let key = ObjectKey {
            group: resource_type.group,
            version: resource_type.version,
            resource: resource_type.resource,
            namespace,
            name,
        };
        state.objects.insert(key, object.clone());
        object
    }

    /// The stored object at `key`.
    pub fn object(&self, key: &ObjectKey) -> Option<Value> {
        self.lock().objects.get(key).cloned()
    }

    /// Removes the object at `key`, returning it.
    pub fn remove(&self, key: &ObjectKey) -> Option<Value> {
        self.lock().objects.remove(key)
    }

    /// Every stored object of one resource, in the server's list order.
    pub fn objects_of(&self, group: &str, version: &str, resource: &str) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|(k, _)| k.group == group && k.version == version && k.resource == resource)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Makes the rollout controllers leave new ReplicaSets and revisions unready (`true`), as
    /// when a new image does not start, or finish rollouts at once (`false`, the default).
    pub fn stall_rollouts(&self, stalled: bool) {
        self.lock().stalled_rollouts = stalled;
    }

    /// Sets the logs of one container (replacing what it had).
    pub fn set_logs(&self, log: ContainerLog) {
        let key = (log.namespace, log.pod, log.container, log.previous);
        self.lock().logs.insert(key, log.lines);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request path split the way the API server splits it.
#[derive(Debug)]
struct ResourcePath {
    group: String,
    version: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl ResourcePath {
    fn parse(parts: &[&str]) -> Option<Self> {
        let (group, version, rest) = match parts {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, subresource] => (*resource, Some(*name), Some(*subresource)),
            _ => return None,
        };
        Some(Self {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: subresource.map(str::to_owned),
        })
    }
}

/// The largest request body the server reads, far above any object a test writes.
const MAX_BODY: usize = 8 * 1024 * 1024;

async fn handle(state: &Mutex<State>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let query: Vec<(String, String)> =
        Query::try_from_uri(&uri).map(|Query(query)| query).unwrap_or_default();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return bad_request(&format!("the request body could not be read: {e}")),
    };
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.requests.push(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.clone(),
    });

    let parts: Vec<&str> = uri.path().split('/').filter(|p| !p.is_empty()).collect();
    if method == Method::GET
        && let Some(document) = discovery(&state, &parts)
    {
        return json_response(StatusCode::OK, &document);
    }
    let Some(path) = ResourcePath::parse(&parts) else {
        return not_found_path();
    };
    let Some(resource_type) = state.resource_type(&path.group, &path.version, &path.resource)
    else {
        return not_found_path();
    };
    if path.namespace.is_some() && !resource_type.namespaced {
        return not_found_path();
    }
    let resource_type = resource_type.clone();
    let params = Params(query);

    if method != Method::GET || path.subresource.as_deref() == Some("scale") {
        let write = writes::Write {
            method: &method,
            resource_type: &resource_type,
            path: &path,
            params: &params,
            content_type: &content_type,
            body: &body,
        };
        if let Some(response) = writes::write(&mut state, &write) {
            return response;
        }
    }

    // Each arm is one operation of the API; writes and more subresources go here.
    match (&method, &path.name, path.subresource.as_deref()) {
        (&Method::GET, None, None) if params.get("watch").is_none() => {
            list(&state, &resource_type, &path, &params)
        }
        (&Method::GET, Some(name), None) => get(&state, &resource_type, &path, name),
        (&Method::GET, Some(name), Some("log")) if resource_type.resource == "pods" => {
            pod_log(&state, &path, name, &params)
        }
        _ => status_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("the fake API server does not serve {method} {}", uri.path()),
            None,
        ),
    }
}

fn discovery(state: &State, parts: &[&str]) -> Option<Value> {
    let groups = || {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for t in state.resource_types.iter().filter(|t| !t.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) if !versions.contains(&t.version.as_str()) => {
                    versions.push(&t.version);
                }
                Some(_) => {}
                None => groups.push((&t.group, vec![&t.version])),
            }
        }
        groups
    };
    let group_document = |name: &str, versions: &[&str]| {
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| json!({ "groupVersion": format!("{name}/{v}"), "version": v }))
            .collect();
        json!({ "name": name, "versions": versions, "preferredVersion": versions[0] })
    };
    let resource_list = |group: &str, version: &str| {
        let resources: Vec<Value> = state
            .resource_types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .map(ResourceType::discovery_entry)
            .collect();
        (!resources.is_empty()).then(|| {
            json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": api_version(group, version),
                "resources": resources,
            })
        })
    };
    match parts {
        ["version"] => Some(json!({
            "major": "1",
            "minor": "33",
            "gitVersion": "v1.33.1-eks-fake",
            "platform": "linux/amd64",
        })),
        ["api"] => Some(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443" }],
        })),
        ["api", version] => resource_list("", version),
        ["apis"] => {
            let groups: Vec<Value> =
                groups().iter().map(|(name, versions)| group_document(name, versions)).collect();
            Some(json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups }))
        }
        ["apis", group] => {
            groups().iter().find(|(name, _)| name == group).map(|(name, versions)| {
                let mut document = group_document(name, versions);
                document["kind"] = json!("APIGroup");
                document["apiVersion"] = json!("v1");
                document
            })
        }
        ["apis", group, version] => resource_list(group, version),
        _ => None,
    }
}

struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, such as `dryRun`.
    fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// A numeric parameter; the error is the server's message for a malformed one.
    fn number(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| format!("invalid value {text:?} for query parameter {key}")),
        }
    }
}

fn get(state: &State, resource_type: &ResourceType, path: &ResourcePath, name: &str) -> Response {
    let key = ObjectKey {
        group: path.group.clone(),
        version: path.version.clone(),
        resource: path.resource.clone(),
        namespace: path.namespace.clone().unwrap_or_default(),
        name: name.to_owned(),
    };
    match state.objects.get(&key) {
        Some(object) => json_response(StatusCode::OK, object),
        None => not_found(resource_type, name),
    }
}

fn list(
    state: &State,
    resource_type: &ResourceType,
    path: &ResourcePath,
    params: &Params,
) -> Response {
    let labels = match params.get("labelSelector").map(LabelSelector::parse).transpose() {
        Ok(selector) => selector,
        Err(message) => return bad_request(&message),
    };
    let fields = match params
        .get("fieldSelector")
        .map(|s| FieldSelector::parse(s, &resource_type.resource))
        .transpose()
    {
        Ok(selector) => selector,
        Err(message) => return bad_request(&message),
    };
    let limit = match params.number("limit") {
        Ok(limit) => limit.filter(|l| *l > 0).map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        Err(message) => return bad_request(&message),
    };
    let offset = match params.get("continue").filter(|c| !c.is_empty()) {
        None => 0,
        Some(token) => match decode_continue(token) {
            Some(offset) => offset,
            None => {
                return status_response(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "continue key is not valid: the token is malformed",
                    None,
                );
            }
        },
    };

    let matching: Vec<&Value> = state
        .objects
        .iter()
        .filter(|(key, _)| {
            key.group == path.group
                && key.version == path.version
                && key.resource == path.resource
                && path.namespace.as_ref().is_none_or(|ns| &key.namespace == ns)
        })
        .map(|(_, object)| object)
        .filter(|object| labels.as_ref().is_none_or(|s| s.matches(object)))
        .filter(|object| fields.as_ref().is_none_or(|s| s.matches(object)))
        .collect();
    let end = limit.map_or(matching.len(), |l| offset.saturating_add(l).min(matching.len()));
    let items: Vec<Value> =
        matching.get(offset..end).unwrap_or_default().iter().map(|v| (*v).clone()).collect();

    let mut metadata = json!({ "resourceVersion": state.resource_version.to_string() });
    if end < matching.len() {
        metadata["continue"] = json!(encode_continue(end));
        // The real server leaves the count out when selectors narrow the list.
        if labels.is_none() && fields.is_none() {
            metadata["remainingItemCount"] = json!(matching.len() - end);
        }
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", resource_type.kind),
            "apiVersion": resource_type.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    )
}

fn encode_continue(offset: usize) -> String {
    format!("eyJvZmZzZXQi{offset:08x}")
}

fn decode_continue(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix("eyJvZmZzZXQi")?, 16).ok()
}

fn pod_log(state: &State, path: &ResourcePath, name: &str, params: &Params) -> Response {
    let namespace = path.namespace.clone().unwrap_or_default();
    let key = ObjectKey {
        group: String::new(),
        version: path.version.clone(),
        resource: "pods".into(),
        namespace: namespace.clone(),
        name: name.to_owned(),
    };
    let Some(pod) = state.objects.get(&key) else {
        let pods = state.resource_type("", &path.version, "pods");
        return match pods {
            Some(pods) => not_found(pods, name),
            None => not_found_path(),
        };
    };
    let names = |field: &str| -> Vec<String> {
        pod["spec"][field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    };
    let containers = names("containers");
    let init_containers = names("initContainers");
    let container = match params.get("container") {
        Some(container) if !container.is_empty() => container.to_owned(),
        _ if containers.len() == 1 => containers[0].clone(),
        _ => {
            return bad_request(&format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            ));
        }
    };
    if !containers.contains(&container) && !init_containers.contains(&container) {
        return bad_request(&format!("container {container} is not valid for pod {name}"));
    }
    let previous = params.flag("previous");
    let (tail, since, limit_bytes) = match (
        params.number("tailLines"),
        params.number("sinceSeconds"),
        params.number("limitBytes"),
    ) {
        (Ok(tail), Ok(since), Ok(limit_bytes)) => (tail, since, limit_bytes),
        (Err(message), _, _) | (_, Err(message), _) | (_, _, Err(message)) => {
            return bad_request(&message);
        }
    };
    let Some(lines) = state.logs.get(&(namespace, name.to_owned(), container.clone(), previous))
    else {
        if previous {
            return bad_request(&format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ));
        }
        return text_response(String::new());
    };

    let cutoff = since.map(seconds_ago);
    let selected: Vec<&LogLine> =
        lines.iter().filter(|line| cutoff.is_none_or(|cutoff| line.at >= cutoff)).collect();
    let skip = match tail {
        Some(tail) => selected.len().saturating_sub(usize::try_from(tail).unwrap_or(0)),
        None => 0,
    };
    let mut body = String::new();
    for line in &selected[skip..] {
        if params.flag("timestamps") {
            body.push_str(&line.at.to_string());
            body.push(' ');
        }
        body.push_str(&line.text);
        body.push('\n');
    }
    if let Some(limit) = limit_bytes.and_then(|l| usize::try_from(l).ok()) {
        let mut cut = limit.min(body.len());
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    text_response(body)
}

/// One requirement of a label selector.
#[derive(Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector, as `kubectl get -l` writes it.
#[derive(Debug)]
struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_top_level(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(Self::requirement(term)?);
        }
        Ok(Self(requirements))
    }

    fn requirement(term: &str) -> Result<Requirement, String> {
        let invalid = || format!("unable to parse requirement: {term:?}: found unexpected token");
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| {
                    format!("unable to parse requirement: {term:?}: expected a set in parentheses")
                })?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
            if values.iter().any(|v| !valid_label_value(v)) {
                return Err(invalid());
            }
            Ok(values)
        };
        let key = |k: &str| {
            let k = k.trim();
            if valid_label_key(k) { Ok(k.to_owned()) } else { Err(invalid()) }
        };
        if let Some(key_text) = term.strip_prefix('!') {
            return Ok(Requirement::DoesNotExist(key(key_text)?));
        }
        if let Some((k, rest)) = term.split_once(" notin ") {
            return Ok(Requirement::NotIn(key(k)?, set(rest)?));
        }
        if let Some((k, rest)) = term.split_once(" in ") {
            return Ok(Requirement::In(key(k)?, set(rest)?));
        }
        let value = |v: &str| {
            let v = v.trim();
            if valid_label_value(v) { Ok(v.to_owned()) } else { Err(invalid()) }
        };
        if let Some((k, v)) = term.split_once("!=") {
            return Ok(Requirement::NotEquals(key(k)?, value(v)?));
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return Ok(Requirement::Equals(key(k)?, value(v)?));
        }
        Ok(Requirement::Exists(key(term)?))
    }

    fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, values) => label(k).is_some_and(|l| values.iter().any(|v| v == l)),
            Requirement::NotIn(k, values) => label(k).is_none_or(|l| values.iter().all(|v| v != l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::DoesNotExist(k) => label(k).is_none(),
        })
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

fn valid_label_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or_default();
    !name.is_empty()
        && name.len() <= 63
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_label_value(value: &str) -> bool {
    value.len() <= 63
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A parsed field selector over the fields the real server indexes for the resource.
#[derive(Debug)]
struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    fn parse(text: &str, resource: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid selector: '{text}'; can't understand '{term}'"));
            };
            if !field_is_selectable(resource, field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_owned(), equal, value.to_owned()));
        }
        Ok(Self(terms))
    }

    fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            // `source` on events is the reporting component, as the real server indexes it.
            let path = if field == "source" { "source.component" } else { field.as_str() };
            let actual = path
                .split('.')
                .try_fold(object, |node, part| node.get(part))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (actual == *value) == *equal
        })
    }
}

fn field_is_selectable(resource: &str, field: &str) -> bool {
    let extra: &[&str] = match resource {
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "nodes" => &["spec.unschedulable"],
        "namespaces" => &["status.phase"],
        "secrets" => &["type"],
        "replicasets" => &["status.replicas"],
        "jobs" => &["status.successful"],
        _ => &[],
    };
    matches!(field, "metadata.name" | "metadata.namespace") || extra.contains(&field)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text_response(body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn status_response(
    status: StatusCode,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": status.as_u16(),
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    json_response(status, &body)
}

fn not_found(resource_type: &ResourceType, name: &str) -> Response {
    let resource = if resource_type.group.is_empty() {
        resource_type.resource.clone()
    } else {
        format!("{}.{}", resource_type.resource, resource_type.group)
    };
    let mut details = json!({ "name": name, "kind": resource_type.resource });
    if !resource_type.group.is_empty() {
        details["group"] = json!(resource_type.group);
    }
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
        Some(details),
    )
}

fn not_found_path() -> Response {
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn bad_request(message: &str) -> Response {
    status_response(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

fn seconds_ago(seconds: i64) -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second() - seconds).unwrap_or(now)
}

/// A timestamp as the API server writes it: RFC 3339, UTC, whole seconds.
fn timestamp(at: Timestamp) -> String {
    at.round(k8s_openapi::jiff::Unit::Second).unwrap_or(at).to_string()
}

pub mod fixture {
    //! Realistic objects for a namespace `shop` on a three-node cluster, with the failures an
    //! operations agent is asked about, as the real API server returns them.
    //!
    //! Times are relative to when the fixture is built, so ages and `sinceSeconds` behave.

    use std::hash::{DefaultHasher, Hash, Hasher};

    use serde_json::{Value, json};

    use super::{ContainerLog, LogLine, seconds_ago, timestamp};

    /// The namespace of the fixture's workloads.
    pub const NAMESPACE: &str = "shop";

    /// The healthy node.
    pub const NODE_READY: &str = "ip-10-0-1-10.ec2.internal";
    /// The node whose kubelet stopped reporting.
    pub const NODE_NOT_READY: &str = "ip-10-0-2-20.ec2.internal";
    /// The node under memory pressure.
    pub const NODE_MEMORY_PRESSURE: &str = "ip-10-0-3-30.ec2.internal";

    /// The crash-looping pod, owned by `checkout`'s replica set.
    pub const CRASH_LOOP_POD: &str = "checkout-7f9c8b6d5-x2x9q";
    /// The pod whose last run was OOMKilled.
    pub const OOM_KILLED_POD: &str = "checkout-7f9c8b6d5-m4kfz";
    /// The checkout pod that runs fine.
    pub const CHECKOUT_READY_POD: &str = "checkout-7f9c8b6d5-b8rtn";
    /// The pod that cannot pull its image.
    pub const IMAGE_PULL_POD: &str = "payments-5b7d9f8c4-hj2lp";
    /// The image that does not exist.
    pub const MISSING_IMAGE: &str =
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments:v2.3.1-rc0";
    /// The pod no node can take.
    pub const PENDING_POD: &str = "nightly-report-28934120-q8w2z";
    /// The pod failing its readiness probe, owned by the `search` stateful set.
    pub const UNREADY_POD: &str = "search-0";
    /// The healthy deployment.
    pub const HEALTHY_DEPLOYMENT: &str = "web";
    /// The deployment with unavailable replicas.
    pub const DEGRADED_DEPLOYMENT: &str = "checkout";
    /// The replica set of `checkout`.
    pub const CHECKOUT_REPLICA_SET: &str = "checkout-7f9c8b6d5";
    /// The Service whose selector matches no ready pod.
    pub const SERVICE_WITHOUT_ENDPOINTS: &str = "search";
    /// The Pending claim.
    pub const PENDING_CLAIM: &str = "reports-data";
    /// The Secret no tool may read.
    pub const SECRET: &str = "checkout-db";
    /// A value of the Secret, so a test can prove it never left the server.
    pub const SECRET_VALUE: &str = "hunter2-do-not-leak";

    /// Objects and container logs to load into a [`FakeApiServer`](super::FakeApiServer).
    #[derive(Clone, Debug, Default)]
    pub struct Fixture {
        /// The objects, each with `apiVersion` and `kind`.
        pub objects: Vec<Value>,
        /// Container logs.
        pub logs: Vec<ContainerLog>,
    }

    impl Fixture {
        /// An empty fixture.
        pub fn new() -> Self {
            Self::default()
        }

        /// Adds an object.
        pub fn object(mut self, object: Value) -> Self {
            self.objects.push(object);
            self
        }

        /// Adds objects.
        pub fn objects(mut self, objects: impl IntoIterator<Item = Value>) -> Self {
            self.objects.extend(objects);
            self
        }

        /// Adds the logs of one container of a pod in `shop`.
        pub fn logs(
            mut self,
            pod: &str,
            container: &str,
            previous: bool,
            lines: Vec<LogLine>,
        ) -> Self {
            self.logs.push(ContainerLog {
                namespace: NAMESPACE.to_owned(),
                pod: pod.to_owned(),
                container: container.to_owned(),
                previous,
                lines,
            });
            self
        }

        /// The whole `shop` story: three nodes (one NotReady, one under MemoryPressure), a
        /// healthy `web` deployment, a degraded `checkout` deployment with a crash-looping and
        /// an OOMKilled pod, a pod that cannot pull its image, a CronJob's pod nobody can
        /// schedule, a `search` stateful set failing its readiness probe behind a Service
        /// with no ready endpoint, a Pending claim, events, a ConfigMap and a Secret.
        pub fn shop() -> Self {
            let mut fixture = Self::new().objects([
                namespace("default"),
                namespace("kube-system"),
                namespace(NAMESPACE),
                service_account(NAMESPACE, "default"),
                ready_node(),
                not_ready_node(),
                memory_pressure_node(),
            ]);
            fixture = fixture.web().checkout().payments().nightly_report().search();
            fixture.objects([
                pending_claim(),
                config_map(),
                secret(),
                ingress(),
                node_lease(NODE_READY),
                storage_class(),
                disruption_budget(),
                autoscaler(),
                new_api_event(),
                event(EventSpec {
                    name: "ip-10-0-2-20.ec2.internal.17c2a1f0b3e4d5c6",
                    namespace: "default",
                    object: ("v1", "Node", "", NODE_NOT_READY),
                    kind: "Normal",
                    reason: "NodeNotReady",
                    message: "Node ip-10-0-2-20.ec2.internal status is now: NodeNotReady",
                    component: "node-controller",
                    count: 1,
                    first_ago: 1_500,
                    last_ago: 1_500,
                }),
                event(EventSpec {
                    name: "ip-10-0-3-30.ec2.internal.17c2a1f0b3e4aaaa",
                    namespace: "default",
                    object: ("v1", "Node", "", NODE_MEMORY_PRESSURE),
                    kind: "Normal",
                    reason: "NodeHasInsufficientMemory",
                    message: "Node ip-10-0-3-30.ec2.internal status is now: NodeHasInsufficientMemory",
                    component: "kubelet",
                    count: 3,
                    first_ago: 3_000,
                    last_ago: 600,
                }),
            ])
        }

        fn web(self) -> Self {
            let template = "6d4cf56db6";
            let labels = json!({ "app": "web", "tier": "frontend" });
            let replica_set = format!("web-{template}");
            let pods = ["web-6d4cf56db6-2xkqp", "web-6d4cf56db6-7hjlm"];
            let mut lines = Vec::new();
            for i in (0..300).rev() {
                let status = if i % 50 == 0 { 500 } else { 200 };
                lines.push(LogLine::ago(
                    i * 10,
                    format!("{{\"level\":\"info\",\"msg\":\"GET /api/products\",\"status\":{status},\"seq\":{}}}", 300 - i),
                ));
            }
            self.objects([
                deployment(HEALTHY_DEPLOYMENT, &labels, 2, 2, 2, "nginx:1.27", 86_400 * 12),
                replica_set_object(
                    HEALTHY_DEPLOYMENT,
                    template,
                    &labels,
                    2,
                    2,
                    "nginx:1.27",
                    86_400 * 3,
                ),
                running_pod(
                    NAMESPACE,
                    pods[0],
                    &pod_labels(&labels, template),
                    ("ReplicaSet", &replica_set),
                    NODE_READY,
                    "nginx:1.27",
                ),
                running_pod(
                    NAMESPACE,
                    pods[1],
                    &pod_labels(&labels, template),
                    ("ReplicaSet", &replica_set),
                    NODE_MEMORY_PRESSURE,
                    "nginx:1.27",
                ),
                service(HEALTHY_DEPLOYMENT, &json!({ "app": "web" }), 80, 8080),
                endpoints(
                    HEALTHY_DEPLOYMENT,
                    &[
                        ("10.0.1.21", pods[0], NODE_READY),
                        ("10.0.3.22", pods[1], NODE_MEMORY_PRESSURE),
                    ],
                    &[],
                    8080,
                ),
                event(EventSpec {
                    name: "web.17c29d1a2b3c4d5e",
                    namespace: NAMESPACE,
                    object: ("apps/v1", "Deployment", NAMESPACE, HEALTHY_DEPLOYMENT),
                    kind: "Normal",
                    reason: "ScalingReplicaSet",
                    message: "Scaled up replica set web-6d4cf56db6 from 0 to 2",
                    component: "deployment-controller",
                    count: 1,
                    first_ago: 86_400 * 3,
                    last_ago: 86_400 * 3,
                }),
            ])
            .logs(pods[0], "web", false, lines)
        }

        fn checkout(self) -> Self {
            let template = "7f9c8b6d5";
            let labels = json!({ "app": "checkout", "tier": "backend" });
            let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/checkout:v1.8.2";
            let owner = ("ReplicaSet", CHECKOUT_REPLICA_SET);
            let pod_labels = pod_labels(&labels, template);

            let mut crash =
                running_pod(NAMESPACE, CRASH_LOOP_POD, &pod_labels, owner, NODE_READY, image);
            set_container_status(
                &mut crash,
                false,
                7,
                json!({ "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": format!("back-off 5m0s restarting failed container=checkout pod={CRASH_LOOP_POD}_shop(5f1c2d3e-crash)"),
                } }),
                json!({ "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": timestamp(seconds_ago(420)),
                    "finishedAt": timestamp(seconds_ago(400)),
                    "containerID": "containerd://4b1d9c0e7a3f",
                } }),
            );
            set_not_ready(
                &mut crash,
                "ContainersNotReady",
                "containers with unready status: [checkout]",
            );

            let mut oom = running_pod(
                NAMESPACE,
                OOM_KILLED_POD,
                &pod_labels,
                owner,
                NODE_MEMORY_PRESSURE,
                image,
            );
            set_container_status(
                &mut oom,
                false,
                3,
                json!({ "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": format!("back-off 1m20s restarting failed container=checkout pod={OOM_KILLED_POD}_shop(5f1c2d3e-oom)"),
                } }),
                json!({ "terminated": {
                    "exitCode": 137,
                    "reason": "OOMKilled",
                    "startedAt": timestamp(seconds_ago(200)),
                    "finishedAt": timestamp(seconds_ago(90)),
                    "containerID": "containerd://9e8f7a6b5c4d",
                } }),
            );
            set_not_ready(
                &mut oom,
                "ContainersNotReady",
                "containers with unready status: [checkout]",
            );
            oom["spec"]["containers"][0]["resources"] = json!({ "limits": { "memory": "256Mi" }, "requests": { "cpu": "250m", "memory": "256Mi" } });

            let backoff = format!(
                "Back-off restarting failed container checkout in pod {CRASH_LOOP_POD}_shop(5f1c2d3e-crash)"
            );
            self.objects([
                deployment_unavailable(),
                replica_set_object(DEGRADED_DEPLOYMENT, template, &labels, 3, 1, image, 7_200),
                running_pod(NAMESPACE, CHECKOUT_READY_POD, &pod_labels, owner, NODE_READY, image),
                crash,
                oom,
                service(DEGRADED_DEPLOYMENT, &json!({ "app": "checkout" }), 80, 8080),
                // The same object, reason and message in two event objects, as happens when
                // the event recorder's cache is reset: the tools fold them into one row.
                event(EventSpec {
                    name: "checkout-7f9c8b6d5-x2x9q.17c2a0e1f2a3b4c5",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, CRASH_LOOP_POD),
                    kind: "Warning",
                    reason: "BackOff",
                    message: &backoff,
                    component: "kubelet",
                    count: 5,
                    first_ago: 7_000,
                    last_ago: 3_700,
                }),
                event_with_series(EventSpec {
                    name: "checkout-7f9c8b6d5-x2x9q.17c2a4d5e6f7a8b9",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, CRASH_LOOP_POD),
                    kind: "Warning",
                    reason: "BackOff",
                    message: &backoff,
                    component: "kubelet",
                    count: 26,
                    first_ago: 3_500,
                    last_ago: 30,
                }),
                event(EventSpec {
                    name: "checkout-7f9c8b6d5-x2x9q.17c29f0a1b2c3d4e",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, CRASH_LOOP_POD),
                    kind: "Normal",
                    reason: "Pulled",
                    message: &format!("Container image \"{image}\" already present on machine"),
                    component: "kubelet",
                    count: 8,
                    first_ago: 7_100,
                    last_ago: 420,
                }),
                event(EventSpec {
                    name: "checkout-7f9c8b6d5-m4kfz.17c2a5a5a5a5a5a5",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, OOM_KILLED_POD),
                    kind: "Warning",
                    reason: "BackOff",
                    message: &format!("Back-off restarting failed container checkout in pod {OOM_KILLED_POD}_shop(5f1c2d3e-oom)"),
                    component: "kubelet",
                    count: 4,
                    first_ago: 1_000,
                    last_ago: 60,
                }),
                event(EventSpec {
                    name: "checkout.17c2a0000000aaaa",
                    namespace: NAMESPACE,
                    object: ("apps/v1", "Deployment", NAMESPACE, DEGRADED_DEPLOYMENT),
                    kind: "Normal",
                    reason: "ScalingReplicaSet",
                    message: "Scaled up replica set checkout-7f9c8b6d5 from 0 to 3",
                    component: "deployment-controller",
                    count: 1,
                    first_ago: 7_200,
                    last_ago: 7_200,
                }),
            ])
            .logs(CRASH_LOOP_POD, "checkout", false, vec![
                LogLine::ago(25, "checkout v1.8.2 starting"),
                LogLine::ago(24, "loading config from /etc/checkout/config.yaml"),
                LogLine::ago(23, "connecting to postgres at checkout-db.shop.svc:5432"),
            ])
            .logs(CRASH_LOOP_POD, "checkout", true, vec![
                LogLine::ago(420, "checkout v1.8.2 starting"),
                LogLine::ago(419, "loading config from /etc/checkout/config.yaml"),
                LogLine::ago(418, "connecting to postgres at checkout-db.shop.svc:5432"),
                LogLine::ago(401, "error: failed to connect to postgres: dial tcp 10.0.5.12:5432: connect: connection refused"),
                LogLine::ago(400, "fatal: giving up after 3 attempts"),
            ])
            .logs(OOM_KILLED_POD, "checkout", true, vec![
                LogLine::ago(200, "checkout v1.8.2 starting"),
                LogLine::ago(120, "warming product cache: 1200000 entries"),
            ])
        }

        fn payments(self) -> Self {
            let template = "5b7d9f8c4";
            let labels = json!({ "app": "payments" });
            let replica_set = format!("payments-{template}");
            let mut pod = running_pod(
                NAMESPACE,
                IMAGE_PULL_POD,
                &pod_labels(&labels, template),
                ("ReplicaSet", &replica_set),
                NODE_READY,
                MISSING_IMAGE,
            );
            pod["status"]["phase"] = json!("Pending");
            set_container_status(
                &mut pod,
                false,
                0,
                json!({ "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": format!("Back-off pulling image \"{MISSING_IMAGE}\""),
                } }),
                json!({}),
            );
            pod["status"]["containerStatuses"][0]["imageID"] = json!("");
            pod["status"]["containerStatuses"][0].as_object_mut().map(|s| s.remove("started"));
            set_not_ready(
                &mut pod,
                "ContainersNotReady",
                "containers with unready status: [payments]",
            );
            self.objects([
                replica_set_object("payments", template, &labels, 1, 0, MISSING_IMAGE, 900),
                pod,
                event(EventSpec {
                    name: "payments-5b7d9f8c4-hj2lp.17c2a6b6b6b6b6b6",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, IMAGE_PULL_POD),
                    kind: "Warning",
                    reason: "Failed",
                    message: &format!("Failed to pull image \"{MISSING_IMAGE}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{MISSING_IMAGE}\": not found"),
                    component: "kubelet",
                    count: 9,
                    first_ago: 880,
                    last_ago: 100,
                }),
                event(EventSpec {
                    name: "payments-5b7d9f8c4-hj2lp.17c2a6c6c6c6c6c6",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, IMAGE_PULL_POD),
                    kind: "Normal",
                    reason: "BackOff",
                    message: &format!("Back-off pulling image \"{MISSING_IMAGE}\""),
                    component: "kubelet",
                    count: 37,
                    first_ago: 870,
                    last_ago: 20,
                }),
            ])
        }

        fn nightly_report(self) -> Self {
            let job = "nightly-report-28934120";
            let mut pod = running_pod(
                NAMESPACE,
                PENDING_POD,
                &json!({ "batch.kubernetes.io/job-name": job, "job-name": job }),
                ("Job", job),
                "",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/report:2025.06",
            );
            let scheduler_message = concat!(
                "0/3 nodes are available: 1 Insufficient memory, ",
                "1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }, ",
                "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. ",
                "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, ",
                "2 Preemption is not helpful for scheduling.",
            );
            if let Some(spec) = pod["spec"].as_object_mut() {
                spec.remove("nodeName");
            }
            pod["spec"]["containers"][0]["resources"] =
                json!({ "requests": { "cpu": "2", "memory": "12Gi" } });
            pod["spec"]["volumes"] = json!([{ "name": "data", "persistentVolumeClaim": { "claimName": PENDING_CLAIM } }]);
            pod["status"] = json!({
                "phase": "Pending",
                "qosClass": "Burstable",
                "conditions": [{
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": null,
                    "lastTransitionTime": timestamp(seconds_ago(1_700)),
                    "reason": "Unschedulable",
                    "message": scheduler_message,
                }],
            });
            let mut cron_job = base(
                "batch/v1",
                "CronJob",
                Some(NAMESPACE),
                "nightly-report",
                json!({ "app": "nightly-report" }),
                86_400 * 40,
            );
            cron_job["spec"] = json!({
                "schedule": "0 2 * * *",
                "concurrencyPolicy": "Forbid",
                "suspend": false,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": { "spec": { "template": { "spec": pod["spec"].clone() } } },
            });
            cron_job["status"] = json!({
                "active": [{ "kind": "Job", "namespace": NAMESPACE, "name": job, "apiVersion": "batch/v1" }],
                "lastScheduleTime": timestamp(seconds_ago(1_700)),
            });
            let mut job_object = base(
                "batch/v1",
                "Job",
                Some(NAMESPACE),
                job,
                json!({ "batch.kubernetes.io/job-name": job }),
                1_700,
            );
            own(&mut job_object, "batch/v1", "CronJob", "nightly-report");
            job_object["spec"] = json!({
                "parallelism": 1,
                "completions": 1,
                "backoffLimit": 6,
                "selector": { "matchLabels": { "batch.kubernetes.io/controller-uid": uid("Job", NAMESPACE, job) } },
                "template": { "spec": pod["spec"].clone() },
            });
            job_object["status"] =
                json!({ "active": 1, "ready": 0, "startTime": timestamp(seconds_ago(1_700)) });
            self.objects([
                cron_job,
                job_object,
                pod,
                event_with_series(EventSpec {
                    name: "nightly-report-28934120-q8w2z.17c2a7d7d7d7d7d7",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, PENDING_POD),
                    kind: "Warning",
                    reason: "FailedScheduling",
                    message: scheduler_message,
                    component: "default-scheduler",
                    count: 14,
                    first_ago: 1_700,
                    last_ago: 45,
                }),
            ])
        }

        fn search(self) -> Self {
            let labels = json!({ "app": "search" });
            let mut pod_labels = labels.clone();
            pod_labels["statefulset.kubernetes.io/pod-name"] = json!(UNREADY_POD);
            pod_labels["controller-revision-hash"] = json!("search-5d8f7c9b6");
            let image = "opensearchproject/opensearch:2.15.0";
            let mut pod = running_pod(
                NAMESPACE,
                UNREADY_POD,
                &pod_labels,
                ("StatefulSet", "search"),
                NODE_READY,
                image,
            );
            pod["spec"]["containers"][0]["readinessProbe"] = json!({
                "httpGet": { "path": "/_cluster/health", "port": 9200, "scheme": "HTTP" },
                "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3,
            });
            set_container_status(
                &mut pod,
                false,
                0,
                json!({ "running": { "startedAt": timestamp(seconds_ago(5_400)) } }),
                json!({}),
            );
            set_not_ready(
                &mut pod,
                "ContainersNotReady",
                "containers with unready status: [search]",
            );

            let mut stateful_set = base(
                "apps/v1",
                "StatefulSet",
                Some(NAMESPACE),
                "search",
                labels.clone(),
                86_400 * 30,
            );
            stateful_set["spec"] = json!({
                "replicas": 1,
                "serviceName": "search",
                "selector": { "matchLabels": labels },
                "template": { "metadata": { "labels": labels }, "spec": pod["spec"].clone() },
                "podManagementPolicy": "OrderedReady",
            });
            stateful_set["status"] = json!({
                "replicas": 1, "readyReplicas": 0, "currentReplicas": 1, "updatedReplicas": 1,
                "availableReplicas": 0, "currentRevision": "search-5d8f7c9b6", "updateRevision": "search-5d8f7c9b6",
                "observedGeneration": 4,
            });
            // The revision the StatefulSet controller recorded for the current template.
            let mut revision = base(
                "apps/v1",
                "ControllerRevision",
                Some(NAMESPACE),
                "search-5d8f7c9b6",
                json!({ "app": "search", "controller-revision-hash": "search-5d8f7c9b6" }),
                86_400 * 30,
            );
            own(&mut revision, "apps/v1", "StatefulSet", "search");
            let mut recorded = stateful_set["spec"]["template"].clone();
            recorded["$patch"] = json!("replace");
            revision["data"] = json!({ "spec": { "template": recorded } });
            revision["revision"] = json!(4);
            self.objects([
                stateful_set,
                revision,
                pod,
                service(SERVICE_WITHOUT_ENDPOINTS, &labels, 9200, 9200),
                endpoints(
                    SERVICE_WITHOUT_ENDPOINTS,
                    &[],
                    &[("10.0.1.35", UNREADY_POD, NODE_READY)],
                    9200,
                ),
                endpoint_slice(
                    SERVICE_WITHOUT_ENDPOINTS,
                    "10.0.1.35",
                    UNREADY_POD,
                    NODE_READY,
                    9200,
                ),
                event_with_series(EventSpec {
                    name: "search-0.17c2a8e8e8e8e8e8",
                    namespace: NAMESPACE,
                    object: ("v1", "Pod", NAMESPACE, UNREADY_POD),
                    kind: "Warning",
                    reason: "Unhealthy",
                    message: "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    component: "kubelet",
                    count: 42,
                    first_ago: 5_300,
                    last_ago: 8,
                }),
            ])
        }
    }

    /// A uid derived from the object's identity, stable across runs like a real one is stable
    /// across reads.
    pub fn uid(kind: &str, namespace: &str, name: &str) -> String {
        let mut hasher = DefaultHasher::new();
        (kind, namespace, name).hash(&mut hasher);
        let a = hasher.finish();
        name.hash(&mut hasher);
        let b = hasher.finish();
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 52) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    /// The metadata every object has, with a `managedFields` entry as the real server keeps.
    pub fn base(
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        labels: Value,
        age_seconds: i64,
    ) -> Value {
        let mut metadata = json!({
            "name": name,
            "uid": uid(kind, namespace.unwrap_or_default(), name),
            "creationTimestamp": timestamp(seconds_ago(age_seconds)),
            "labels": labels,
            "managedFields": [{
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": api_version,
                "time": timestamp(seconds_ago(age_seconds)),
                "fieldsType": "FieldsV1",
                "fieldsV1": { "f:metadata": { "f:labels": {} }, "f:status": {} },
            }],
        });
        if let Some(namespace) = namespace {
            metadata["namespace"] = json!(namespace);
        }
        if metadata["labels"].as_object().is_some_and(serde_json::Map::is_empty)
            && let Some(metadata) = metadata.as_object_mut()
        {
            metadata.remove("labels");
        }
        json!({ "apiVersion": api_version, "kind": kind, "metadata": metadata })
    }

    /// Makes `object` controlled by the `kind` `name` in the same namespace.
    pub fn own(object: &mut Value, api_version: &str, kind: &str, name: &str) {
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        object["metadata"]["ownerReferences"] = json!([{
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "uid": uid(kind, &namespace, name),
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
    }

    fn pod_labels(labels: &Value, template: &str) -> Value {
        let mut labels = labels.clone();
        labels["pod-template-hash"] = json!(template);
        labels
    }

    /// A running, ready pod with one container named after the pod's `app` label (or `app`),
    /// owned by `owner` (`(kind, name)`, of `apps/v1` unless it is a Job), on `node` (none
    /// when empty).
    pub fn running_pod(
        namespace: &str,
        name: &str,
        labels: &Value,
        owner: (&str, &str),
        node: &str,
        image: &str,
    ) -> Value {
        let container = labels["app"].as_str().unwrap_or("app").to_owned();
        let mut pod = base("v1", "Pod", Some(namespace), name, labels.clone(), 5_400);
        if !owner.1.is_empty() {
            let api_version = if owner.0 == "Job" { "batch/v1" } else { "apps/v1" };
            own(&mut pod, api_version, owner.0, owner.1);
        }
        pod["metadata"]["generateName"] = json!(format!("{}-", owner.1));
        pod["spec"] = json!({
            "containers": [{
                "name": container,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "ports": [{ "containerPort": 8080, "protocol": "TCP" }],
                "resources": { "requests": { "cpu": "100m", "memory": "128Mi" } },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": node,
            "schedulerName": "default-scheduler",
            "tolerations": [
                { "key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
                { "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
            ],
        });
        let condition = |kind: &str| json!({ "type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": timestamp(seconds_ago(5_390)) });
        pod["status"] = json!({
            "phase": "Running",
            "conditions": [
                condition("PodReadyToStartContainers"),
                condition("Initialized"),
                condition("Ready"),
                condition("ContainersReady"),
                condition("PodScheduled"),
            ],
            "hostIP": "10.0.1.10",
            "podIP": "10.0.1.21",
            "podIPs": [{ "ip": "10.0.1.21" }],
            "startTime": timestamp(seconds_ago(5_400)),
            "qosClass": "Burstable",
            "containerStatuses": [{
                "name": container,
                "state": { "running": { "startedAt": timestamp(seconds_ago(5_380)) } },
                "lastState": {},
                "ready": true,
                "restartCount": 0,
                "image": image,
                "imageID": format!("{image}@sha256:3f1d5b0c9e8a7f6e5d4c3b2a19081726354433221100ffeeddccbbaa99887766"),
                "containerID": "containerd://0a1b2c3d4e5f",
                "started": true,
            }],
        });
        pod
    }

    fn set_container_status(
        pod: &mut Value,
        ready: bool,
        restarts: u32,
        state: Value,
        last_state: Value,
    ) {
        let status = &mut pod["status"]["containerStatuses"][0];
        status["ready"] = json!(ready);
        status["started"] = json!(state.get("running").is_some());
        status["restartCount"] = json!(restarts);
        status["state"] = state;
        status["lastState"] = last_state;
    }

    fn set_not_ready(pod: &mut Value, reason: &str, message: &str) {
        if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
            for condition in conditions {
                if matches!(condition["type"].as_str(), Some("Ready" | "ContainersReady")) {
                    condition["status"] = json!("False");
                    condition["reason"] = json!(reason);
                    condition["message"] = json!(message);
                }
            }
        }
    }

    fn deployment(
        name: &str,
        labels: &Value,
        replicas: u32,
        ready: u32,
        available: u32,
        image: &str,
        age_seconds: i64,
    ) -> Value {
        let mut deployment =
            base("apps/v1", "Deployment", Some(NAMESPACE), name, labels.clone(), age_seconds);
        deployment["metadata"]["annotations"] = json!({ "deployment.kubernetes.io/revision": "3" });
        deployment["metadata"]["generation"] = json!(3);
        deployment["spec"] = json!({
            "replicas": replicas,
            "selector": { "matchLabels": { "app": labels["app"] } },
            "template": {
                "metadata": { "labels": labels },
                "spec": { "containers": [{ "name": labels["app"], "image": image }] },
            },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": "25%", "maxSurge": "25%" } },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        });
        let available_condition = if available >= replicas {
            json!({ "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability." })
        } else {
            json!({ "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability." })
        };
        deployment["status"] = json!({
            "observedGeneration": 3,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [
                available_condition,
                { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{name}\" has successfully progressed.") },
            ],
        });
        if available < replicas {
            deployment["status"]["unavailableReplicas"] = json!(replicas - available);
        }
        deployment
    }

    fn deployment_unavailable() -> Value {
        let labels = json!({ "app": "checkout", "tier": "backend" });
        deployment(
            DEGRADED_DEPLOYMENT,
            &labels,
            3,
            1,
            1,
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/checkout:v1.8.2",
            86_400 * 20,
        )
    }

    fn replica_set_object(
        deployment: &str,
        template: &str,
        labels: &Value,
        replicas: u32,
        ready: u32,
        image: &str,
        age_seconds: i64,
    ) -> Value {
        let name = format!("{deployment}-{template}");
        let labels = pod_labels(labels, template);
        let mut replica_set =
            base("apps/v1", "ReplicaSet", Some(NAMESPACE), &name, labels.clone(), age_seconds);
        own(&mut replica_set, "apps/v1", "Deployment", deployment);
        replica_set["metadata"]["annotations"] = json!({
            "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
            "deployment.kubernetes.io/revision": "3",
        });
        replica_set["spec"] = json!({
            "replicas": replicas,
            "selector": { "matchLabels": { "app": labels["app"], "pod-template-hash": template } },
            "template": { "metadata": { "labels": labels }, "spec": { "containers": [{ "name": labels["app"], "image": image }] } },
        });
        replica_set["status"] = json!({
            "replicas": replicas,
            "fullyLabeledReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": 1,
        });
        replica_set
    }

    fn service(name: &str, selector: &Value, port: u16, target_port: u16) -> Value {
        let mut service =
            base("v1", "Service", Some(NAMESPACE), name, json!({ "app": name }), 86_400 * 30);
        service["spec"] = json!({
            "type": "ClusterIP",
            "selector": selector,
            "clusterIP": "172.20.41.7",
            "clusterIPs": ["172.20.41.7"],
            "ports": [{ "name": "http", "port": port, "targetPort": target_port, "protocol": "TCP" }],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        });
        service["status"] = json!({ "loadBalancer": {} });
        service
    }

    fn endpoints(
        name: &str,
        ready: &[(&str, &str, &str)],
        not_ready: &[(&str, &str, &str)],
        port: u16,
    ) -> Value {
        let address = |(ip, pod, node): &(&str, &str, &str)| json!({ "ip": ip, "nodeName": node, "targetRef": { "kind": "Pod", "namespace": NAMESPACE, "name": pod, "uid": uid("Pod", NAMESPACE, pod) } });
        let mut subset = json!({ "ports": [{ "name": "http", "port": port, "protocol": "TCP" }] });
        if !ready.is_empty() {
            subset["addresses"] = ready.iter().map(address).collect();
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = not_ready.iter().map(address).collect();
        }
        let mut endpoints =
            base("v1", "Endpoints", Some(NAMESPACE), name, json!({ "app": name }), 86_400 * 30);
        endpoints["subsets"] = json!([subset]);
        endpoints
    }

    fn endpoint_slice(service: &str, ip: &str, pod: &str, node: &str, port: u16) -> Value {
        let name = format!("{service}-k7x2p");
        let mut slice = base(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            Some(NAMESPACE),
            &name,
            json!({ "kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" }),
            86_400 * 30,
        );
        slice["addressType"] = json!("IPv4");
        slice["endpoints"] = json!([{
            "addresses": [ip],
            "conditions": { "ready": false, "serving": false, "terminating": false },
            "nodeName": node,
            "targetRef": { "kind": "Pod", "namespace": NAMESPACE, "name": pod, "uid": uid("Pod", NAMESPACE, pod) },
        }]);
        slice["ports"] = json!([{ "name": "http", "port": port, "protocol": "TCP" }]);
        slice
    }

    fn namespace(name: &str) -> Value {
        let mut namespace = base(
            "v1",
            "Namespace",
            None,
            name,
            json!({ "kubernetes.io/metadata.name": name }),
            86_400 * 90,
        );
        namespace["spec"] = json!({ "finalizers": ["kubernetes"] });
        namespace["status"] = json!({ "phase": "Active" });
        namespace
    }

    fn service_account(namespace: &str, name: &str) -> Value {
        base("v1", "ServiceAccount", Some(namespace), name, json!({}), 86_400 * 90)
    }

    fn node(name: &str, ready: Value, memory_pressure: bool, taints: Value) -> Value {
        let mut node = base(
            "v1",
            "Node",
            None,
            name,
            json!({
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m6i.large",
                "topology.kubernetes.io/zone": "us-east-1a",
                "eks.amazonaws.com/nodegroup": "general",
            }),
            86_400 * 15,
        );
        node["spec"] = json!({
            "providerID": format!("aws:///us-east-1a/i-0{}", &uid("Node", "", name)[..16].replace('-', "")),
            "taints": taints,
        });
        let condition = |kind: &str, status: bool, reason: &str, message: &str| {
            json!({
                "type": kind,
                "status": if status { "True" } else { "False" },
                "lastHeartbeatTime": timestamp(seconds_ago(20)),
                "lastTransitionTime": timestamp(seconds_ago(86_400)),
                "reason": reason,
                "message": message,
            })
        };
        let memory = if memory_pressure {
            condition(
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            )
        } else {
            condition(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            )
        };
        node["status"] = json!({
            "capacity": { "cpu": "2", "memory": "7936276Ki", "pods": "29", "ephemeral-storage": "83873772Ki" },
            "allocatable": { "cpu": "1930m", "memory": "7246100Ki", "pods": "29", "ephemeral-storage": "76224326324" },
            "conditions": [
                memory,
                condition("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ready,
            ],
            "addresses": [
                { "type": "InternalIP", "address": "10.0.1.10" },
                { "type": "Hostname", "address": name },
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.33.0-eks-802817d",
                "containerRuntimeVersion": "containerd://1.7.27",
                "osImage": "Amazon Linux 2023.7.20250512",
                "kernelVersion": "6.1.134-152.225.amzn2023.x86_64",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        });
        node
    }

    fn ready_condition() -> Value {
        json!({
            "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
            "lastHeartbeatTime": timestamp(seconds_ago(20)), "lastTransitionTime": timestamp(seconds_ago(86_400)),
        })
    }

    fn ready_node() -> Value {
        node(NODE_READY, ready_condition(), false, json!([]))
    }

    fn not_ready_node() -> Value {
        let mut node = node(
            NODE_NOT_READY,
            json!({
                "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.",
                "lastHeartbeatTime": timestamp(seconds_ago(1_560)), "lastTransitionTime": timestamp(seconds_ago(1_500)),
            }),
            false,
            json!([
                { "key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": timestamp(seconds_ago(1_500)) },
                { "key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": timestamp(seconds_ago(1_490)) },
            ]),
        );
        if let Some(conditions) = node["status"]["conditions"].as_array_mut() {
            for condition in conditions.iter_mut().filter(|c| c["type"] != "Ready") {
                condition["status"] = json!("Unknown");
                condition["reason"] = json!("NodeStatusUnknown");
                condition["message"] = json!("Kubelet stopped posting node status.");
            }
        }
        node
    }

    fn memory_pressure_node() -> Value {
        node(
            NODE_MEMORY_PRESSURE,
            ready_condition(),
            true,
            json!([{ "key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule", "timeAdded": timestamp(seconds_ago(3_000)) }]),
        )
    }

    fn pending_claim() -> Value {
        let mut claim = base(
            "v1",
            "PersistentVolumeClaim",
            Some(NAMESPACE),
            PENDING_CLAIM,
            json!({ "app": "nightly-report" }),
            1_800,
        );
        claim["metadata"]["annotations"] = json!({
            "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
            "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
        });
        claim["spec"] = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": { "requests": { "storage": "200Gi" } },
            "storageClassName": "gp3",
            "volumeMode": "Filesystem",
        });
        claim["status"] = json!({ "phase": "Pending" });
        claim
    }

    fn config_map() -> Value {
        let mut config_map = base(
            "v1",
            "ConfigMap",
            Some(NAMESPACE),
            "checkout-config",
            json!({ "app": "checkout" }),
            86_400 * 20,
        );
        config_map["data"] =
            json!({ "config.yaml": "database:\n  host: checkout-db.shop.svc\n  port: 5432\n" });
        config_map
    }

    fn secret() -> Value {
        let mut secret = base(
            "v1",
            "Secret",
            Some(NAMESPACE),
            SECRET,
            json!({ "app": "checkout" }),
            86_400 * 20,
        );
        secret["type"] = json!("Opaque");
        // `hunter2-do-not-leak`, base64-encoded as the API server stores data.
        secret["data"] = json!({ "password": "aHVudGVyMi1kby1ub3QtbGVhaw==" });
        secret["stringData"] = json!({ "plain": SECRET_VALUE });
        secret
    }

    fn ingress() -> Value {
        let mut ingress = base(
            "networking.k8s.io/v1",
            "Ingress",
            Some(NAMESPACE),
            "shop",
            json!({}),
            86_400 * 30,
        );
        ingress["spec"] = json!({
            "ingressClassName": "alb",
            "rules": [{ "host": "shop.example.com", "http": { "paths": [
                { "path": "/", "pathType": "Prefix", "backend": { "service": { "name": "web", "port": { "number": 80 } } } },
            ] } }],
        });
        ingress["status"] = json!({ "loadBalancer": { "ingress": [{ "hostname": "k8s-shop-1234567890.us-east-1.elb.amazonaws.com" }] } });
        ingress
    }

    fn node_lease(node: &str) -> Value {
        let mut lease = base(
            "coordination.k8s.io/v1",
            "Lease",
            Some("kube-node-lease"),
            node,
            json!({}),
            86_400 * 15,
        );
        lease["spec"] = json!({ "holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": "2025-06-01T00:00:00.000000Z" });
        lease
    }

    fn storage_class() -> Value {
        let mut class =
            base("storage.k8s.io/v1", "StorageClass", None, "gp3", json!({}), 86_400 * 90);
        class["metadata"]["annotations"] =
            json!({ "storageclass.kubernetes.io/is-default-class": "true" });
        class["provisioner"] = json!("ebs.csi.aws.com");
        class["parameters"] = json!({ "type": "gp3", "encrypted": "true" });
        class["reclaimPolicy"] = json!("Delete");
        class["volumeBindingMode"] = json!("WaitForFirstConsumer");
        class["allowVolumeExpansion"] = json!(true);
        class
    }

    fn disruption_budget() -> Value {
        let mut budget = base(
            "policy/v1",
            "PodDisruptionBudget",
            Some(NAMESPACE),
            "checkout",
            json!({}),
            86_400 * 20,
        );
        budget["spec"] =
            json!({ "minAvailable": 2, "selector": { "matchLabels": { "app": "checkout" } } });
        budget["status"] = json!({
            "currentHealthy": 1, "desiredHealthy": 2, "disruptionsAllowed": 0, "expectedPods": 3, "observedGeneration": 1,
        });
        budget
    }

    fn autoscaler() -> Value {
        let mut autoscaler = base(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            Some(NAMESPACE),
            "web",
            json!({}),
            86_400 * 12,
        );
        autoscaler["spec"] = json!({
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" },
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } }],
        });
        autoscaler["status"] = json!({ "currentReplicas": 2, "desiredReplicas": 2 });
        autoscaler
    }

    /// The node's NotReady event as the events.k8s.io API serves it.
    fn new_api_event() -> Value {
        let mut event = base(
            "events.k8s.io/v1",
            "Event",
            Some("default"),
            "ip-10-0-2-20.ec2.internal.17c2a1f0b3e4d5c6",
            json!({}),
            1_500,
        );
        event["eventTime"] = json!(format!("{}", seconds_ago(1_500)));
        event["reportingController"] = json!("node-controller");
        event["reportingInstance"] = json!("");
        event["action"] = json!("NodeNotReady");
        event["reason"] = json!("NodeNotReady");
        event["regarding"] = json!({ "kind": "Node", "name": NODE_NOT_READY, "uid": uid("Node", "", NODE_NOT_READY), "apiVersion": "v1" });
        event["note"] = json!("Node ip-10-0-2-20.ec2.internal status is now: NodeNotReady");
        event["type"] = json!("Normal");
        event
    }

    /// What an event is about and how often it happened.
    #[derive(Clone, Copy, Debug)]
    pub struct EventSpec<'a> {
        /// The event object's name, `OBJECT.HEX`.
        pub name: &'a str,
        /// The event's namespace.
        pub namespace: &'a str,
        /// The involved object: apiVersion, kind, namespace, name.
        pub object: (&'a str, &'a str, &'a str, &'a str),
        /// `Normal` or `Warning`.
        pub kind: &'a str,
        /// The reason, such as `BackOff`.
        pub reason: &'a str,
        /// The message.
        pub message: &'a str,
        /// The reporting component.
        pub component: &'a str,
        /// How many times it happened.
        pub count: u32,
        /// Seconds since it first happened.
        pub first_ago: i64,
        /// Seconds since it last happened.
        pub last_ago: i64,
    }

    /// A core v1 event as the kubelet or a controller records it.
    pub fn event(spec: EventSpec<'_>) -> Value {
        let (api_version, kind, namespace, name) = spec.object;
        let mut event =
            base("v1", "Event", Some(spec.namespace), spec.name, json!({}), spec.first_ago);
        let mut involved = json!({ "apiVersion": api_version, "kind": kind, "name": name, "uid": uid(kind, namespace, name) });
        if !namespace.is_empty() {
            involved["namespace"] = json!(namespace);
        }
        if kind == "Pod" {
            involved["fieldPath"] = json!("spec.containers{app}");
        }
        event["involvedObject"] = involved;
        event["reason"] = json!(spec.reason);
        event["message"] = json!(spec.message);
        event["type"] = json!(spec.kind);
        event["source"] = json!({ "component": spec.component });
        event["count"] = json!(spec.count);
        event["firstTimestamp"] = json!(timestamp(seconds_ago(spec.first_ago)));
        event["lastTimestamp"] = json!(timestamp(seconds_ago(spec.last_ago)));
        event["eventTime"] = Value::Null;
        event["reportingComponent"] = json!(spec.component);
        event["reportingInstance"] = json!("");
        event
    }

    /// An event recorded by the newer events API: `eventTime` and a `series` instead of the
    /// legacy timestamps.
    pub fn event_with_series(spec: EventSpec<'_>) -> Value {
        let mut event = event(spec);
        event["eventTime"] = json!(format!("{}", seconds_ago(spec.first_ago)));
        event["series"] = json!({
            "count": spec.count,
            "lastObservedTime": format!("{}", seconds_ago(spec.last_ago)),
        });
        event["firstTimestamp"] = Value::Null;
        event["lastTimestamp"] = Value::Null;
        event["count"] = Value::Null;
        event["action"] = json!(spec.reason);
        event
    }
}

// Access reviews: the API server answers a SelfSubjectAccessReview from its authorizer, stores
// nothing, and returns the review with a status. The fake allows all but what a test denied.

const ACCESS_REVIEWS_PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// Group, `resource[/subresource]` and verb triples whose reviews answer "denied".
type Denied = Arc<Mutex<std::collections::BTreeSet<(String, String, String)>>>;

fn access_review(state: &Mutex<State>, denied: &Denied, body: &[u8]) -> Response {
    state.lock().unwrap_or_else(PoisonError::into_inner).requests.push(RecordedRequest {
        method: "POST".into(),
        path: ACCESS_REVIEWS_PATH.into(),
        query: Vec::new(),
    });
    let Ok(mut review) = serde_json::from_slice::<Value>(body) else {
        return bad_request("the body is not a JSON SelfSubjectAccessReview");
    };
    let Some(attributes) = review.pointer("/spec/resourceAttributes") else {
        return bad_request("spec.resourceAttributes is required by the fake API server");
    };
    let field = |name: &str| attributes[name].as_str().unwrap_or_default().to_owned();
    let resource = match field("subresource").as_str() {
        "" => field("resource"),
        subresource => format!("{}/{subresource}", field("resource")),
    };
    let key = (field("group"), resource, field("verb"));
    let allowed = !denied.lock().unwrap_or_else(PoisonError::into_inner).contains(&key);
    review["status"] = if allowed {
        json!({ "allowed": true, "reason": "allowed by the fake API server" })
    } else {
        json!({ "allowed": false, "reason": "denied by the test" })
    };
    json_response(StatusCode::CREATED, &review)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_parse_like_kubectl() {
        let pod = json!({ "metadata": { "labels": { "app": "web", "tier": "frontend" } } });
        let matches = |s: &str| LabelSelector::parse(s).map(|sel| sel.matches(&pod));
        assert_eq!(matches("app=web"), Ok(true));
        assert_eq!(matches("app==web,tier!=backend"), Ok(true));
        assert_eq!(matches("app in (web, api),tier"), Ok(true));
        assert_eq!(matches("app notin (web)"), Ok(false));
        assert_eq!(matches("!tier"), Ok(false));
        assert_eq!(matches("!release"), Ok(true));
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("app=we b").is_err());
    }

    #[test]
    fn field_selectors_refuse_unindexed_fields() {
        assert!(FieldSelector::parse("status.phase=Running", "pods").is_ok());
        assert_eq!(
            FieldSelector::parse("status.phase=Running", "services").err().as_deref(),
            Some("field label not supported: status.phase")
        );
    }

    #[test]
    fn continue_tokens_round_trip() {
        assert_eq!(decode_continue(&encode_continue(250)), Some(250));
        assert_eq!(decode_continue("garbage"), None);
    }
}
