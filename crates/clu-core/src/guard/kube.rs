//! The Kubernetes half of the guard: a tower service in front of the kube client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use kube::client::Body;
use serde::{Deserialize, Serialize};

use super::{ALWAYS_REFUSED_RESOURCES, Invocation, Refusal, Use};
use crate::ToolError;

/// A Kubernetes API request as RBAC sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KubeRequest {
    /// The RBAC verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// The API group, `""` for the core group.
    pub group: String,
    /// The API version.
    pub version: String,
    /// The resource, with `/subresource` when there is one.
    pub resource: String,
    /// The namespace, for namespaced requests.
    pub namespace: Option<String>,
    /// The object's name, for requests on one object.
    pub name: Option<String>,
}

impl fmt::Display for KubeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() { "core" } else { &self.group };
        write!(f, "`{} {}` (group {group})", self.verb, self.resource)?;
        if let Some(namespace) = &self.namespace {
            write!(f, " in namespace `{namespace}`")?;
        }
        Ok(())
    }
}

/// What a request to the API server is.
#[derive(Debug, PartialEq, Eq)]
pub enum Classified {
    /// Discovery and version paths, which every authenticated user may read.
    Discovery,
    /// A request on resources.
    Resource(KubeRequest),
}

/// Maps a method and URI to what RBAC decides on, as the API server's request-info parser
/// does. `None` when the path is neither discovery nor a resource path.
pub fn classify(method: &Method, uri: &http::Uri) -> Option<Classified> {
    let path = uri.path();
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let watch =
        uri.query().is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));

    let (group, version, rest) = match parts.as_slice() {
        ["version"]
        | ["openapi", ..]
        | ["api"]
        | ["apis"]
        | ["api", _]
        | ["apis", _]
        | ["apis", _, _] => {
            return (*method == Method::GET).then_some(Classified::Discovery);
        }
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };

    let mut rest = rest;
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_owned());
        // `namespaces/NAME/status` and `/finalize` are subresources of the namespace itself.
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, subresource] => (*resource, Some(*name), Some(*subresource)),
        _ => return None,
    };

    let verb = match (method.clone(), name.is_some()) {
        (Method::GET, _) if watch => "watch",
        (Method::GET | Method::HEAD, true) => "get",
        (Method::GET | Method::HEAD, false) => "list",
        (Method::POST, _) => "create",
        (Method::PUT, _) => "update",
        (Method::PATCH, _) => "patch",
        (Method::DELETE, true) => "delete",
        (Method::DELETE, false) => "deletecollection",
        _ => return None,
    };
    let resource = match subresource {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_owned(),
    };
    Some(Classified::Resource(KubeRequest {
        verb: verb.to_owned(),
        group: group.to_owned(),
        version: version.to_owned(),
        resource,
        namespace,
        name: name.map(str::to_owned),
    }))
}

/// A kube client whose requests pass `invocation`'s guard before `base` sends them.
pub(crate) fn guarded_client(base: kube::Client, invocation: Arc<Invocation>) -> kube::Client {
    let namespace = base.default_namespace().to_owned();
    kube::Client::new(KubeGuard { base, invocation }, namespace)
}

#[derive(Clone)]
struct KubeGuard {
    base: kube::Client,
    invocation: Arc<Invocation>,
}

impl KubeGuard {
    fn authorize(&self, method: &Method, uri: &http::Uri) -> Result<Option<KubeRequest>, Refusal> {
        let tool = self.invocation.tool.to_owned();
        let request = match classify(method, uri) {
            Some(Classified::Discovery) => return Ok(None),
            Some(Classified::Resource(request)) => request,
            None => {
                return Err(Refusal::UnknownKubePath {
                    tool,
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                });
            }
        };
        let base_resource = request.resource.split('/').next().unwrap_or_default();
        self.invocation.record(Use::Kube {
            verb: request.verb.clone(),
            group: request.group.clone(),
            resource: request.resource.clone(),
        });
        if ALWAYS_REFUSED_RESOURCES.contains(&(request.group.as_str(), base_resource)) {
            return Err(Refusal::Forbidden {
                tool,
                what: format!("{} {base_resource}", request.verb),
            });
        }
        let covered = self.invocation.permissions.rbac.iter().any(|rule| {
            rule.covers(&request.verb, &request.group, &request.resource, request.name.as_deref())
        });
        if covered {
            Ok(Some(request))
        } else {
            Err(Refusal::UndeclaredKubeRequest { tool, request: Box::new(request) })
        }
    }
}

impl tower::Service<Request<Body>> for KubeGuard {
    type Response = Response<Body>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let decision = self.authorize(request.method(), request.uri());
        let guard = self.clone();
        Box::pin(async move {
            match decision {
                Ok(classified) => {
                    if let Some(kube_request) = classified {
                        tracing::debug!(tool = guard.invocation.tool, request = %kube_request, "kubernetes request authorized");
                        guard.invocation.with_log(|log| log.kube_requests.push(kube_request));
                    }
                    guard.base.send(request).await.map_err(Into::into)
                }
                Err(refusal) => {
                    tracing::warn!(tool = guard.invocation.tool, %refusal, "kubernetes request refused");
                    guard.invocation.with_log(|log| log.refused.push(refusal.to_string()));
                    // Coerce, not `.into()`: that would box the box, and `Refusal::find`
                    // could no longer see the refusal through it.
                    let error: Box<dyn std::error::Error + Send + Sync> = Box::new(refusal);
                    Err(error)
                }
            }
        })
    }
}

/// Turns a kube error of `tool` into a [`ToolError`]: a guard refusal keeps its own code, the
/// API server's 403 and 404 theirs.
pub fn map_kube_error(tool: &str, error: kube::Error) -> ToolError {
    if let Some(refusal) = Refusal::find(&error) {
        return refusal.clone().into_tool_error();
    }
    match error {
        kube::Error::Api(status) if status.code == 403 => {
            ToolError::KubeForbidden { tool: tool.to_owned(), message: status.message.clone() }
        }
        kube::Error::Api(status) if status.code == 404 => {
            ToolError::NotFound { what: status.message.clone() }
        }
        other => ToolError::Kube { tool: tool.to_owned(), message: error_chain(&other) },
    }
}

/// The error and its sources on one line, for messages that cross to the model.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> KubeRequest {
        match classify(&method, &uri.parse().unwrap()) {
            Some(Classified::Resource(request)) => request,
            other => panic!("{uri}: {other:?}"),
        }
    }

    #[test]
    fn classifies_like_the_api_server() {
        let r = request(Method::GET, "/api/v1/namespaces/shop/pods/web-1/log?container=app");
        assert_eq!(
            (r.verb.as_str(), r.group.as_str(), r.resource.as_str()),
            ("get", "", "pods/log")
        );
        assert_eq!((r.namespace.as_deref(), r.name.as_deref()), (Some("shop"), Some("web-1")));

        let r =
            request(Method::GET, "/apis/apps/v1/namespaces/shop/deployments?labelSelector=a%3Db");
        assert_eq!(
            (r.verb.as_str(), r.group.as_str(), r.resource.as_str()),
            ("list", "apps", "deployments")
        );

        let r = request(Method::GET, "/api/v1/pods?watch=true");
        assert_eq!((r.verb.as_str(), r.namespace), ("watch", None));

        let r = request(Method::PATCH, "/apis/apps/v1/namespaces/shop/deployments/web/scale");
        assert_eq!((r.verb.as_str(), r.resource.as_str()), ("patch", "deployments/scale"));

        let r = request(Method::GET, "/api/v1/namespaces/shop");
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str(), r.name.as_deref()),
            ("get", "namespaces", Some("shop"))
        );

        let r = request(Method::PUT, "/api/v1/namespaces/shop/finalize");
        assert_eq!((r.verb.as_str(), r.resource.as_str()), ("update", "namespaces/finalize"));

        let r = request(Method::DELETE, "/api/v1/namespaces/shop/pods");
        assert_eq!(r.verb, "deletecollection");

        let r = request(Method::GET, "/api/v1/nodes/ip-10-0-0-1");
        assert_eq!((r.verb.as_str(), r.resource.as_str(), r.namespace), ("get", "nodes", None));
    }

    #[test]
    fn discovery_is_not_a_resource_request() {
        for path in
            ["/api", "/apis", "/api/v1", "/apis/apps", "/apis/apps/v1", "/version", "/openapi/v2"]
        {
            assert_eq!(
                classify(&Method::GET, &path.parse().unwrap()),
                Some(Classified::Discovery),
                "{path}"
            );
        }
        assert_eq!(classify(&Method::POST, &"/apis".parse().unwrap()), None);
        assert_eq!(classify(&Method::GET, &"/metrics/x".parse().unwrap()), None);
    }
}
