//! Field ownership, as server-side apply keeps it in `metadata.managedFields`.
//!
//! Each manager's entry holds the fields it set, in the API server's `FieldsV1` form
//! (`{"f:spec": {"f:replicas": {}}}`). An apply by one manager conflicts where it would change
//! a field another manager owns, unless it forces, which moves those fields to it; applying the
//! value a field already has shares it. An apply owns exactly what it names, so a field its
//! manager applied before and no longer names, and nobody else owns, is removed. An update
//! (PUT or a non-apply PATCH) with a `fieldManager` takes every field it changes, without
//! conflicts, as the API server does.
//!
//! Lists are owned as a whole (the API server keys some lists by name; the fake does not).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// A field: the keys from the object's root.
type Path = Vec<String>;

/// A conflict: the field, rendered `.spec.replicas`, and the manager that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Conflict {
    pub(super) field: String,
    pub(super) manager: String,
}

/// The fields an object or applied configuration sets: every scalar or list under it, with
/// `apiVersion`, `kind`, `status` and `metadata` left out but for labels and annotations.
fn leaves(value: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(object) = value.as_object() else { return out };
    for (key, value) in object {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for part in ["labels", "annotations"] {
                    if let Some(map) = value.get(part).and_then(Value::as_object) {
                        for (name, _) in map {
                            out.insert(vec!["metadata".into(), part.into(), name.clone()]);
                        }
                    }
                }
            }
            _ => collect(&mut vec![key.clone()], value, &mut out),
        }
    }
    out
}

fn collect(path: &mut Path, value: &Value, out: &mut BTreeSet<Path>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (key, value) in map {
                path.push(key.clone());
                collect(path, value, out);
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

fn at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut current = value;
    for key in parents {
        match current.get_mut(key) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(map) = current.as_object_mut() {
        map.remove(last);
    }
}

fn render(path: &[String]) -> String {
    path.iter().map(|key| format!(".{key}")).collect()
}

/// The `FieldsV1` tree of `paths`.
fn tree(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for key in path {
            let entry = node.entry(format!("f:{key}")).or_insert_with(|| json!({}));
            let Some(next) = entry.as_object_mut() else { break };
            node = next;
        }
    }
    Value::Object(root)
}

/// The fields of a `FieldsV1` tree.
fn paths(tree: &Value) -> BTreeSet<Path> {
    fn walk(node: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let Some(map) = node.as_object() else { return };
        if map.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (key, child) in map {
            let Some(key) = key.strip_prefix("f:") else { continue };
            path.push(key.to_owned());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

/// The managers' entries of an object.
fn entries(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"].as_array().cloned().unwrap_or_default()
}

/// Writes `entries` back, without any left owning nothing.
fn store(object: &mut Value, entries: Vec<Value>) {
    let kept: Vec<Value> = entries
        .into_iter()
        .filter(|e| e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()))
        .collect();
    if let Some(metadata) = object["metadata"].as_object_mut() {
        if kept.is_empty() {
            metadata.remove("managedFields");
        } else {
            metadata.insert("managedFields".into(), Value::Array(kept));
        }
    }
}

fn entry(
    manager: &str,
    operation: &str,
    api_version: &Value,
    owned: &BTreeSet<Path>,
    time: &str,
) -> Value {
    json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": tree(owned),
    })
}

fn is(entry: &Value, manager: &str, operation: &str) -> bool {
    entry["manager"] == json!(manager) && entry["operation"] == json!(operation)
}

/// Removes `manager`'s entry for `operation` from `entries`, returning the fields it owned, and
/// takes from every other entry the fields `taken` accepts.
fn take_over(
    entries: &mut Vec<Value>,
    manager: &str,
    operation: &str,
    taken: impl Fn(&Path) -> bool,
) -> BTreeSet<Path> {
    let owned = entries
        .iter()
        .find(|e| is(e, manager, operation))
        .map(|e| paths(&e["fieldsV1"]))
        .unwrap_or_default();
    entries.retain(|e| !is(e, manager, operation));
    for other in entries.iter_mut() {
        let kept: BTreeSet<Path> =
            paths(&other["fieldsV1"]).into_iter().filter(|p| !taken(p)).collect();
        other["fieldsV1"] = tree(&kept);
    }
    owned
}

/// Records an apply by `manager` of `applied` onto `object` (already merged from `previous`):
/// the conflicts when it does not force, else the new ownership, with the fields it dropped
/// removed from `object`.
pub(super) fn apply(
    previous: &Value,
    object: &mut Value,
    applied: &Value,
    manager: &str,
    force: bool,
    time: &str,
) -> Result<(), Vec<Conflict>> {
    let named = leaves(applied);
    let mut entries = entries(previous);
    let mut conflicts = Vec::new();
    for other in entries.iter().filter(|e| !is(e, manager, "Apply")) {
        let owned = paths(&other["fieldsV1"]);
        for field in named.iter().filter(|field| owned.contains(*field)) {
            if at(previous, field) != at(applied, field) {
                conflicts.push(Conflict {
                    field: render(field),
                    manager: other["manager"].as_str().unwrap_or("unknown").to_owned(),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let taken: BTreeSet<String> = conflicts.iter().map(|c| c.field.clone()).collect();
    let before = take_over(&mut entries, manager, "Apply", |p| taken.contains(&render(p)));
    let others: BTreeSet<Path> = entries.iter().flat_map(|e| paths(&e["fieldsV1"])).collect();
    for dropped in before.difference(&named) {
        if !others.contains(dropped) {
            remove(object, dropped);
        }
    }
    entries.push(entry(manager, "Apply", &object["apiVersion"], &named, time));
    store(object, entries);
    Ok(())
}

/// Records an update by `manager` that turned `previous` into `object`: it takes every field
/// whose value it changed or added.
pub(super) fn update(previous: &Value, object: &mut Value, manager: &str, time: &str) {
    let changed: BTreeSet<Path> = leaves(object)
        .into_iter()
        .filter(|field| at(previous, field) != at(object, field))
        .collect();
    let mut entries = entries(previous);
    let mut owned = take_over(&mut entries, manager, "Update", |p| changed.contains(p));
    owned.extend(changed);
    entries.push(entry(manager, "Update", &object["apiVersion"], &owned, time));
    store(object, entries);
}

/// The API server's message for `conflicts`.
pub(super) fn message(conflicts: &[Conflict], api_version: &str) -> String {
    let count = conflicts.len();
    let plural = if count == 1 { "" } else { "s" };
    let list: Vec<String> = conflicts
        .iter()
        .map(|c| format!("conflict with \"{}\" using {api_version}: {}", c.manager, c.field))
        .collect();
    format!("Apply failed with {count} conflict{plural}: {}", list.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_through_the_fields_v1_form() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"app": "a"}}, "data": {"k": "v", "l": "w"}});
        let fields = leaves(&object);
        assert_eq!(
            tree(&fields),
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:data": {"f:k": {}, "f:l": {}}})
        );
        assert_eq!(paths(&tree(&fields)), fields);
    }

    #[test]
    fn an_apply_conflicts_with_another_managers_changed_field_unless_forced() {
        let mut previous =
            json!({"apiVersion": "apps/v1", "metadata": {}, "spec": {"replicas": 2}});
        update(&json!({}), &mut previous, "kubectl-edit", "t");
        let applied = json!({"spec": {"replicas": 5}});
        let mut object = json!({"apiVersion": "apps/v1", "metadata": previous["metadata"].clone(), "spec": {"replicas": 5}});
        let conflicts = apply(&previous, &mut object, &applied, "clu", false, "t").unwrap_err();
        assert_eq!(
            conflicts,
            [Conflict { field: ".spec.replicas".into(), manager: "kubectl-edit".into() }]
        );
        assert_eq!(
            message(&conflicts, "apps/v1"),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
        );
        // The same value is shared, not a conflict; forcing takes the field.
        let same = json!({"spec": {"replicas": 2}});
        assert!(apply(&previous, &mut previous.clone(), &same, "clu", false, "t").is_ok());
        apply(&previous, &mut object, &applied, "clu", true, "t").unwrap();
        let managers: Vec<&str> = object["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["clu"], "kubectl-edit owned nothing else");
    }

    #[test]
    fn a_field_the_manager_stops_applying_is_removed_when_nobody_else_owns_it() {
        let mut first = json!({"apiVersion": "v1", "metadata": {}, "data": {"a": "1", "b": "2"}});
        let applied = first.clone();
        apply(&json!({}), &mut first, &applied, "clu", false, "t").unwrap();
        let mut second = first.clone();
        let applied = json!({"data": {"a": "1"}});
        apply(&first, &mut second, &applied, "clu", false, "t").unwrap();
        assert_eq!(second["data"], json!({"a": "1"}));
    }
}
