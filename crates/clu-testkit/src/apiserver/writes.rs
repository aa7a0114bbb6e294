//! Writes of the fake API server, with the real server's answers: create (`409 AlreadyExists`),
//! replace (`409 Conflict` on a stale `metadata.resourceVersion`), patch (JSON merge, strategic
//! merge with merge semantics and name-keyed lists, server-side apply with field ownership and
//! its conflicts, see `ownership`), delete with a propagation policy, and `dryRun=All` on each,
//! which answers as if applied and stores nothing. Every stored write takes a fresh `resourceVersion`; a create sets `uid` and
//! `creationTimestamp`; a change of `spec` bumps `metadata.generation`.
//!
//! The `scale` and `status` subresources write through to their object, and after each stored
//! write [`super::controllers`] plays the controllers a test needs to watch a rollout.

#![expect(
    clippy::result_large_err,
    reason = "an early refusal is the HTTP response itself, built once per request of a test"
)]

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::ownership;
use super::{
    ObjectKey, Params, ResourcePath, ResourceType, State, bad_request, fixture, json_response,
    not_found, seconds_ago, status_response, timestamp,
};

/// One write request, with what the dispatch already parsed.
pub(super) struct Write<'a> {
    pub(super) method: &'a Method,
    pub(super) resource_type: &'a ResourceType,
    pub(super) path: &'a ResourcePath,
    pub(super) params: &'a Params,
    pub(super) content_type: &'a str,
    pub(super) body: &'a [u8],
}

/// Serves a write, or `None` when the request is not one the fake server writes.
pub(super) fn write(state: &mut State, request: &Write<'_>) -> Option<Response> {
    let dry_run = match dry_run(request) {
        Ok(dry_run) => dry_run,
        Err(response) => return Some(response),
    };
    let path = request.path;
    let response = match (request.method, &path.name, path.subresource.as_deref()) {
        (&Method::POST, None, None) => create(state, request, dry_run),
        (&Method::PUT, Some(name), None) => replace(state, request, name, dry_run),
        (&Method::PATCH, Some(name), None) => patch(state, request, name, dry_run),
        (&Method::DELETE, Some(name), None) => delete(state, request, name, dry_run),
        (method, Some(name), Some(subresource))
            if state.subresource(request.resource_type, subresource).is_some() =>
        {
            match (method, subresource) {
                (&Method::GET, "scale") => get_scale(state, request, name),
                (&Method::PUT | &Method::PATCH, "scale") => {
                    write_scale(state, request, name, dry_run)
                }
                (&Method::PUT | &Method::PATCH, "status") => {
                    write_status(state, request, name, dry_run)
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(response)
}

/// `dryRun=All` from the query, or from a delete's `DeleteOptions` body.
fn dry_run(request: &Write<'_>) -> Result<bool, Response> {
    let mut values: Vec<String> =
        request.params.all("dryRun").into_iter().map(str::to_owned).collect();
    if request.method == Method::DELETE
        && let Ok(options) = serde_json::from_slice::<Value>(request.body)
        && let Some(listed) = options.get("dryRun").and_then(Value::as_array)
    {
        values.extend(listed.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    match values.iter().find(|v| v.as_str() != "All") {
        Some(other) => Err(bad_request(&format!(
            "Invalid dryRun value: \"{other}\": the only valid value is \"All\""
        ))),
        None => Ok(!values.is_empty()),
    }
}

fn key_of(path: &ResourcePath, name: &str) -> ObjectKey {
    ObjectKey {
        group: path.group.clone(),
        version: path.version.clone(),
        resource: path.resource.clone(),
        namespace: path.namespace.clone().unwrap_or_default(),
        name: name.to_owned(),
    }
}

fn qualified(resource_type: &ResourceType) -> String {
    if resource_type.group.is_empty() {
        resource_type.resource.clone()
    } else {
        format!("{}.{}", resource_type.resource, resource_type.group)
    }
}

fn details(resource_type: &ResourceType, name: &str) -> Value {
    let mut details = json!({ "name": name, "kind": resource_type.resource });
    if !resource_type.group.is_empty() {
        details["group"] = json!(resource_type.group);
    }
    details
}

fn conflict(resource_type: &ResourceType, name: &str) -> Response {
    status_response(
        StatusCode::CONFLICT,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            qualified(resource_type)
        ),
        Some(details(resource_type, name)),
    )
}

fn invalid(resource_type: &ResourceType, name: &str, message: &str) -> Response {
    status_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("{} \"{name}\" is invalid: {message}", resource_type.kind),
        Some(details(resource_type, name)),
    )
}

fn parse_body(body: &[u8]) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(bad_request("the request body must be a JSON object")),
        Err(e) => Err(bad_request(&format!("the request body is not valid JSON: {e}"))),
    }
}

/// Checks and completes the identity of an object written to `path`: kind, apiVersion,
/// namespace and name must agree with the request.
fn check_identity(
    object: &mut Value,
    resource_type: &ResourceType,
    path: &ResourcePath,
    name: Option<&str>,
) -> Result<String, Response> {
    let api_version = resource_type.api_version();
    match object.get("apiVersion").and_then(Value::as_str) {
        None => object["apiVersion"] = json!(api_version),
        Some(given) if given == api_version => {}
        Some(given) => {
            return Err(bad_request(&format!(
                "the API version in the data ({given}) does not match the expected API version \
                 ({api_version})"
            )));
        }
    }
    match object.get("kind").and_then(Value::as_str) {
        None => object["kind"] = json!(resource_type.kind),
        Some(given) if given == resource_type.kind => {}
        Some(given) => {
            return Err(bad_request(&format!(
                "the kind in the data ({given}) does not match the expected kind ({})",
                resource_type.kind
            )));
        }
    }
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    let metadata = &mut object["metadata"];
    if let Some(namespace) = &path.namespace {
        match metadata.get("namespace").and_then(Value::as_str) {
            None => metadata["namespace"] = json!(namespace),
            Some(given) if given == namespace => {}
            Some(_) => {
                return Err(bad_request(
                    "the namespace of the provided object does not match the namespace sent on \
                     the request",
                ));
            }
        }
    } else if resource_type.namespaced {
        return Err(bad_request("a namespaced object must be written in a namespace"));
    }
    let given = metadata.get("name").and_then(Value::as_str).map(str::to_owned);
    match (name, given) {
        (Some(expected), None) => {
            metadata["name"] = json!(expected);
            Ok(expected.to_owned())
        }
        (Some(expected), Some(given)) if given == expected => Ok(given),
        (Some(_), Some(_)) => {
            Err(bad_request("the name of the object does not match the name on the URL"))
        }
        (None, Some(given)) if !given.is_empty() => Ok(given),
        (None, _) => match metadata.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let suffix = fixture::uid(&resource_type.kind, prefix, &timestamp(seconds_ago(0)));
                let name = format!("{prefix}{}", &suffix[..5]);
                metadata["name"] = json!(name);
                Ok(name)
            }
            _ => Err(invalid(
                resource_type,
                "",
                "metadata.name: Required value: name or generateName is required",
            )),
        },
    }
}

/// What the server fills in on every stored write of `object`, which replaces `previous`.
fn stamp(state: &mut State, object: &mut Value, previous: Option<&Value>, dry_run: bool) {
    let resource_version = if dry_run {
        previous
            .and_then(|p| p["metadata"]["resourceVersion"].as_str())
            .unwrap_or_default()
            .to_owned()
    } else {
        state.next_resource_version()
    };
    let metadata = &mut object["metadata"];
    metadata["resourceVersion"] = json!(resource_version);
    match previous {
        Some(previous) => {
            metadata["uid"] = previous["metadata"]["uid"].clone();
            metadata["creationTimestamp"] = previous["metadata"]["creationTimestamp"].clone();
            let generation = previous["metadata"]["generation"].as_i64().unwrap_or(1);
            let changed = previous.get("spec") != object.get("spec");
            object["metadata"]["generation"] =
                json!(if changed { generation + 1 } else { generation });
        }
        None => {
            let name = metadata["name"].as_str().unwrap_or_default().to_owned();
            let namespace = metadata["namespace"].as_str().unwrap_or_default().to_owned();
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            // A new uid for each object of the name, as a re-created object has.
            let salt = format!("{name}#{}", state.resource_version);
            object["metadata"]["uid"] = json!(fixture::uid(&kind, &namespace, &salt));
            object["metadata"]["creationTimestamp"] = json!(timestamp(seconds_ago(0)));
            object["metadata"]["generation"] = json!(1);
        }
    }
}

/// Stores `object` at `key` (unless a dry run) and runs the controllers.
fn commit(state: &mut State, key: &ObjectKey, object: &Value, dry_run: bool) {
    if !dry_run {
        state.objects.insert(key.clone(), object.clone());
        super::controllers::after_write(state, key);
    }
}

fn create(state: &mut State, request: &Write<'_>, dry_run: bool) -> Response {
    let mut object = match parse_body(request.body) {
        Ok(object) => object,
        Err(response) => return response,
    };
    let name = match check_identity(&mut object, request.resource_type, request.path, None) {
        Ok(name) => name,
        Err(response) => return response,
    };
    let key = key_of(request.path, &name);
    if state.objects.contains_key(&key) {
        return status_response(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", qualified(request.resource_type)),
            Some(details(request.resource_type, &name)),
        );
    }
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("resourceVersion");
    }
    stamp(state, &mut object, None, dry_run);
    commit(state, &key, &object, dry_run);
    json_response(StatusCode::CREATED, &stored_or(state, &key, object, dry_run))
}

/// The object as stored after the controllers ran, or `object` for a dry run.
fn stored_or(state: &State, key: &ObjectKey, object: Value, dry_run: bool) -> Value {
    if dry_run { object } else { state.objects.get(key).cloned().unwrap_or(object) }
}

/// Whether the type keeps `status` apart from the main resource, so writes to the object
/// leave it alone.
fn has_status_subresource(state: &State, resource_type: &ResourceType) -> bool {
    state.subresource(resource_type, "status").is_some()
}

/// Stores `object` as the new version of the object at `key`, as a replace or a patch does.
fn update(
    state: &mut State,
    request: &Write<'_>,
    key: &ObjectKey,
    mut object: Value,
    previous: &Value,
    dry_run: bool,
) -> Response {
    let given = object["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty());
    if given.is_some_and(|given| Some(given) != previous["metadata"]["resourceVersion"].as_str()) {
        return conflict(request.resource_type, &key.name);
    }
    if has_status_subresource(state, request.resource_type) {
        match previous.get("status") {
            Some(status) => object["status"] = status.clone(),
            None => {
                if let Some(object) = object.as_object_mut() {
                    object.remove("status");
                }
            }
        }
    }
    stamp(state, &mut object, Some(previous), dry_run);
    commit(state, key, &object, dry_run);
    json_response(StatusCode::OK, &stored_or(state, key, object, dry_run))
}

fn replace(state: &mut State, request: &Write<'_>, name: &str, dry_run: bool) -> Response {
    let mut object = match parse_body(request.body) {
        Ok(object) => object,
        Err(response) => return response,
    };
    if let Err(response) =
        check_identity(&mut object, request.resource_type, request.path, Some(name))
    {
        return response;
    }
    let key = key_of(request.path, name);
    let Some(previous) = state.objects.get(&key).cloned() else {
        return not_found(request.resource_type, name);
    };
    update(state, request, &key, object, &previous, dry_run)
}

/// The patch types the fake server applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatchType {
    Merge,
    StrategicMerge,
    Apply,
}

fn patch_type(content_type: &str) -> Option<PatchType> {
    match content_type.split(';').next().unwrap_or_default().trim() {
        "application/merge-patch+json" => Some(PatchType::Merge),
        "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchType::Apply),
        _ => None,
    }
}

fn parse_patch(request: &Write<'_>) -> Result<(PatchType, Value), Response> {
    let Some(kind) = patch_type(request.content_type) else {
        return Err(status_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/merge-patch+json, application/strategic-merge-patch+json, \
                 application/apply-patch+yaml (not {:?})",
                request.content_type
            ),
            None,
        ));
    };
    if kind == PatchType::Apply && request.params.get("fieldManager").is_none_or(str::is_empty) {
        return Err(bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is \
             required for apply patch",
        ));
    }
    let patch = parse_body(request.body)?;
    Ok((kind, patch))
}

fn patch(state: &mut State, request: &Write<'_>, name: &str, dry_run: bool) -> Response {
    let (kind, mut patch) = match parse_patch(request) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let key = key_of(request.path, name);
    let previous = state.objects.get(&key).cloned();
    if kind == PatchType::Apply {
        if let Err(response) =
            check_identity(&mut patch, request.resource_type, request.path, Some(name))
        {
            return response;
        }
        let manager = request.params.get("fieldManager").unwrap_or_default().to_owned();
        let force = request.params.get("force") == Some("true");
        let time = timestamp(seconds_ago(0));
        let Some(previous) = previous else {
            // Server-side apply creates what does not exist.
            let mut object = patch.clone();
            if let Err(conflicts) =
                ownership::apply(&Value::Null, &mut object, &patch, &manager, force, &time)
            {
                return ownership_conflict(&conflicts, &object);
            }
            stamp(state, &mut object, None, dry_run);
            commit(state, &key, &object, dry_run);
            return json_response(StatusCode::CREATED, &stored_or(state, &key, object, dry_run));
        };
        let mut object = previous.clone();
        apply_merge(&mut object, &patch);
        if let Err(conflicts) =
            ownership::apply(&previous, &mut object, &patch, &manager, force, &time)
        {
            return ownership_conflict(&conflicts, &object);
        }
        return update(state, request, &key, object, &previous, dry_run);
    }
    let Some(previous) = previous else {
        return not_found(request.resource_type, name);
    };
    let mut object = previous.clone();
    match kind {
        PatchType::Merge => merge_patch(&mut object, &patch),
        _ => strategic_merge(&mut object, &patch),
    }
    if let Some(manager) = request.params.get("fieldManager") {
        ownership::update(&previous, &mut object, manager, &timestamp(seconds_ago(0)));
    }
    // A patch that does not name a resourceVersion never conflicts.
    if patch["metadata"]["resourceVersion"].as_str().is_none() {
        object["metadata"]["resourceVersion"] = previous["metadata"]["resourceVersion"].clone();
    }
    if let Err(response) =
        check_identity(&mut object, request.resource_type, request.path, Some(name))
    {
        return response;
    }
    update(state, request, &key, object, &previous, dry_run)
}

/// The 409 of a server-side apply that would change fields other managers own.
fn ownership_conflict(conflicts: &[ownership::Conflict], object: &Value) -> Response {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{}\" using {api_version}", c.manager),
                "field": c.field,
            })
        })
        .collect();
    status_response(
        StatusCode::CONFLICT,
        "Conflict",
        &ownership::message(conflicts, api_version),
        Some(json!({ "causes": causes })),
    )
}

/// RFC 7386: objects merge key by key, `null` removes a key, anything else replaces.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(target) = target.as_object_mut() else { return };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Strategic merge with merge semantics, plus what kubectl relies on: lists of objects that
/// all have a `name` merge by name, `$patch: replace` replaces a map, `$patch: delete` in a
/// named list item removes it, and the other `$` directives are dropped.
pub(super) fn strategic_merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(map) => {
            if map.get("$patch").and_then(Value::as_str) == Some("replace") {
                let mut replacement = patch.clone();
                strip_directives(&mut replacement);
                *target = replacement;
                return;
            }
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Some(object) = target.as_object_mut() else { return };
            for (key, value) in map {
                if key.starts_with('$') {
                    continue;
                }
                if value.is_null() {
                    object.remove(key);
                } else {
                    strategic_merge(object.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        Value::Array(items)
            if named_list(items) && target.as_array().is_some_and(|t| named_list(t)) =>
        {
            let Some(existing) = target.as_array_mut() else { return };
            for item in items {
                let name = &item["name"];
                let position = existing.iter().position(|e| &e["name"] == name);
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (position, delete) {
                    (Some(at), true) => {
                        existing.remove(at);
                    }
                    (None, true) => {}
                    (Some(at), false) => strategic_merge(&mut existing[at], item),
                    (None, false) => {
                        let mut item = item.clone();
                        strip_directives(&mut item);
                        existing.push(item);
                    }
                }
            }
        }
        other => {
            let mut other = other.clone();
            strip_directives(&mut other);
            *target = other;
        }
    }
}

fn named_list(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|item| item.get("name").is_some_and(Value::is_string))
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// Server-side apply's merge: the applied configuration's fields win and lists are replaced;
/// what the manager stopped applying is removed by [`ownership::apply`].
fn apply_merge(target: &mut Value, applied: &Value) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(target), Some(applied)) => {
            for (key, value) in applied {
                if key == "status" || (key == "metadata" && !value.is_object()) {
                    continue;
                }
                apply_merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        _ => *target = applied.clone(),
    }
}

fn delete(state: &mut State, request: &Write<'_>, name: &str, dry_run: bool) -> Response {
    let key = key_of(request.path, name);
    let Some(object) = state.objects.get(&key).cloned() else {
        return not_found(request.resource_type, name);
    };
    let options = serde_json::from_slice::<Value>(request.body).unwrap_or(Value::Null);
    let policy = request
        .params
        .get("propagationPolicy")
        .map(str::to_owned)
        .or_else(|| options["propagationPolicy"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "Background".to_owned());
    if !matches!(policy.as_str(), "Background" | "Foreground" | "Orphan") {
        return bad_request(&format!(
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \
             \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        ));
    }
    if let Some(expected) = options["preconditions"]["resourceVersion"].as_str()
        && Some(expected) != object["metadata"]["resourceVersion"].as_str()
    {
        return conflict(request.resource_type, name);
    }
    if !dry_run {
        state.objects.remove(&key);
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
        if policy == "Orphan" {
            orphan_dependents(state, &uid);
        } else {
            delete_dependents(state, &uid);
        }
        state.next_resource_version();
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": request.resource_type.group,
                "kind": request.resource_type.resource,
                "uid": object["metadata"]["uid"],
            },
        }),
    )
}

fn owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|owners| owners.iter().any(|o| o["uid"].as_str() == Some(uid)))
}

/// Removes every object owned by `uid`, and theirs, as the garbage collector does.
fn delete_dependents(state: &mut State, uid: &str) {
    let dependents: Vec<(ObjectKey, String)> = state
        .objects
        .iter()
        .filter(|(_, object)| owned_by(object, uid))
        .map(|(key, object)| {
            (key.clone(), object["metadata"]["uid"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    for (key, dependent_uid) in dependents {
        state.objects.remove(&key);
        delete_dependents(state, &dependent_uid);
    }
}

fn orphan_dependents(state: &mut State, uid: &str) {
    for object in state.objects.values_mut() {
        if let Some(owners) = object["metadata"]["ownerReferences"].as_array_mut() {
            owners.retain(|o| o["uid"].as_str() != Some(uid));
        }
    }
}

/// The `autoscaling/v1` Scale of an object with `spec.replicas`.
fn scale_of(object: &Value) -> Value {
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let metadata = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": { "replicas": object["spec"]["replicas"].as_i64().unwrap_or(1) },
        "status": {
            "replicas": object["status"]["replicas"].as_i64().unwrap_or_default(),
            "selector": selector,
        },
    })
}

fn get_scale(state: &State, request: &Write<'_>, name: &str) -> Response {
    match state.objects.get(&key_of(request.path, name)) {
        Some(object) => json_response(StatusCode::OK, &scale_of(object)),
        None => not_found(request.resource_type, name),
    }
}

fn write_scale(state: &mut State, request: &Write<'_>, name: &str, dry_run: bool) -> Response {
    let key = key_of(request.path, name);
    let Some(previous) = state.objects.get(&key).cloned() else {
        return not_found(request.resource_type, name);
    };
    let mut scale = scale_of(&previous);
    if request.method == Method::PUT {
        match parse_body(request.body) {
            Ok(body) => {
                let given = body["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty());
                if given
                    .is_some_and(|g| Some(g) != previous["metadata"]["resourceVersion"].as_str())
                {
                    return conflict(request.resource_type, name);
                }
                scale = body;
            }
            Err(response) => return response,
        }
    } else {
        match parse_patch(request) {
            Ok((PatchType::Apply, patch)) => apply_merge(&mut scale, &patch),
            Ok((PatchType::Merge, patch)) => merge_patch(&mut scale, &patch),
            Ok((PatchType::StrategicMerge, patch)) => strategic_merge(&mut scale, &patch),
            Err(response) => return response,
        }
    }
    let Some(replicas) = scale["spec"]["replicas"].as_i64() else {
        return invalid(request.resource_type, name, "spec.replicas: Required value");
    };
    if replicas < 0 {
        return invalid(
            request.resource_type,
            name,
            &format!(
                "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
            ),
        );
    }
    let mut object = previous.clone();
    object["spec"]["replicas"] = json!(replicas);
    stamp(state, &mut object, Some(&previous), dry_run);
    commit(state, &key, &object, dry_run);
    let object = stored_or(state, &key, object, dry_run);
    json_response(StatusCode::OK, &scale_of(&object))
}

fn write_status(state: &mut State, request: &Write<'_>, name: &str, dry_run: bool) -> Response {
    let key = key_of(request.path, name);
    let Some(previous) = state.objects.get(&key).cloned() else {
        return not_found(request.resource_type, name);
    };
    let mut updated = previous.clone();
    if request.method == Method::PUT {
        match parse_body(request.body) {
            Ok(body) => {
                let given = body["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty());
                if given
                    .is_some_and(|g| Some(g) != previous["metadata"]["resourceVersion"].as_str())
                {
                    return conflict(request.resource_type, name);
                }
                updated = body;
            }
            Err(response) => return response,
        }
    } else {
        match parse_patch(request) {
            Ok((PatchType::Apply, patch)) => apply_merge(&mut updated, &patch),
            Ok((PatchType::Merge, patch)) => merge_patch(&mut updated, &patch),
            Ok((PatchType::StrategicMerge, patch)) => strategic_merge(&mut updated, &patch),
            Err(response) => return response,
        }
    }
    // Only the status changes through the status subresource.
    let mut object = previous.clone();
    object["status"] = updated.get("status").cloned().unwrap_or(Value::Null);
    let resource_version = object["metadata"]["resourceVersion"].clone();
    stamp(state, &mut object, Some(&previous), dry_run);
    if dry_run {
        object["metadata"]["resourceVersion"] = resource_version;
    }
    commit(state, &key, &object, dry_run);
    json_response(StatusCode::OK, &stored_or(state, &key, object, dry_run))
}
