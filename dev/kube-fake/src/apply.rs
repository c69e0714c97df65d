//! Server-side apply (`application/apply-patch+yaml`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::error::ApiError;
use super::merge::{
    FieldPath, PathElem, field_paths, remove_path, strip_nulls, structural_merge, value_at,
};
use super::registry::ResourceType;
use super::store::{
    ManagerEntry, ObjKey, Store, Stored, Writer, check_precondition, meta_mut, set_apply,
};

/// Metadata fields the server owns; an applied configuration cannot set them.
const SERVER_OWNED: [&str; 9] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "generateName",
];

impl Store {
    /// Apply `applied` for `writer.manager`; creates the object when absent.
    /// Returns the HTTP code (201 on create, 200 otherwise) and the stored object.
    pub fn apply(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        mut applied: Value,
        writer: &Writer,
        force: bool,
    ) -> Result<(u16, Value), ApiError> {
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "the applied configuration must be an object",
            ));
        }
        strip_nulls(&mut applied);
        let precondition = take_identity(rt, namespace, name, &mut applied)?;
        let scoped = scope(rt, writer.sub(), applied);
        let paths = owned_paths(&scoped);
        let key = ObjKey::new(rt, namespace, name);
        let Some(old) = self.get_stored(&key).cloned() else {
            if writer.subresource.is_some() {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            let mut body = scoped;
            meta_mut(&mut body).insert("name".into(), json!(name));
            let mut managers = Vec::new();
            set_apply(&mut managers, &writer.manager, "", paths);
            return self
                .create(rt, namespace, body, managers, writer)
                .map(|v| (201, v));
        };
        check_precondition(rt, &key, precondition.as_deref(), &old.value)?;
        let forced = conflicts(&old, &scoped, &paths, writer, force)?;
        let mut candidate = old.value.clone();
        for path in released_paths(&old.managers, writer, &paths) {
            remove_path(&mut candidate, &path);
            prune_empty_parents(&mut candidate, &path, &scoped);
        }
        structural_merge(&mut candidate, &scoped);
        let (manager, sub) = (writer.manager.clone(), writer.sub().to_string());
        self.update(rt, &key, candidate, writer, move |managers, _, _| {
            for (other, path) in &forced {
                if let Some(entry) = managers
                    .iter_mut()
                    .find(|e| &e.manager == other && e.operation == "Apply" && e.subresource == sub)
                {
                    entry.fields.remove(path);
                }
            }
            set_apply(managers, &manager, &sub, paths);
        })
        .map(|v| (200, v))
    }
}

/// Validate name/namespace/kind of an applied configuration and strip server-owned metadata.
/// Returns the `resourceVersion` precondition, if one was given.
fn take_identity(
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    applied: &mut Value,
) -> Result<Option<String>, ApiError> {
    let kind = applied
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind {kind:?} does not match the resource kind {:?}",
            rt.kind
        )));
    }
    let meta = meta_mut(applied);
    let body_name = meta.remove("name");
    if let Some(body_name) = body_name.as_ref().and_then(Value::as_str)
        && !body_name.is_empty()
        && body_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_ns = meta.remove("namespace");
    if let (Some(body_ns), Some(path_ns)) = (body_ns.as_ref().and_then(Value::as_str), namespace)
        && rt.namespaced
        && !body_ns.is_empty()
        && body_ns != path_ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let precondition = meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    for field in SERVER_OWNED {
        meta.remove(field);
    }
    Ok(precondition)
}

/// Restrict the applied configuration to what the (sub)resource may change.
fn scope(rt: &ResourceType, subresource: &str, mut applied: Value) -> Value {
    if let Some(map) = applied.as_object_mut() {
        if subresource == "status" {
            map.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind");
        } else if rt.status_subresource {
            map.remove("status");
        }
    }
    applied
}

/// Field paths the manager takes ownership of (type fields and identity excluded).
fn owned_paths(scoped: &Value) -> BTreeSet<FieldPath> {
    let excluded = |p: &FieldPath| match p.as_slice() {
        [PathElem::Field(f)] => matches!(f.as_str(), "apiVersion" | "kind" | "metadata"),
        _ => false,
    };
    field_paths(scoped)
        .into_iter()
        .filter(|p| !excluded(p))
        .collect()
}

fn other_apply_entries<'a>(
    managers: &'a [ManagerEntry],
    writer: &'a Writer,
) -> impl Iterator<Item = &'a ManagerEntry> {
    managers.iter().filter(move |e| {
        e.operation == "Apply" && e.subresource == writer.sub() && e.manager != writer.manager
    })
}

/// Fields another applier owns with a different value. Without `force` these fail the apply
/// with 409; with `force` they are returned so ownership can move to this manager.
fn conflicts(
    old: &Stored,
    scoped: &Value,
    paths: &BTreeSet<FieldPath>,
    writer: &Writer,
    force: bool,
) -> Result<Vec<(String, FieldPath)>, ApiError> {
    let mut found = Vec::new();
    for entry in other_apply_entries(&old.managers, writer) {
        for path in paths.intersection(&entry.fields) {
            let is_leaf = matches!(path.last(), Some(PathElem::Field(_)));
            if is_leaf && value_at(&old.value, path) != value_at(scoped, path) {
                found.push((entry.manager.clone(), path.clone()));
            }
        }
    }
    if found.is_empty() || force {
        return Ok(found);
    }
    let details: Vec<String> = found
        .iter()
        .map(|(manager, path)| format!("conflict with \"{manager}\": {}", display_path(path)))
        .collect();
    Err(ApiError::new(
        409,
        format!(
            "Apply failed with {} conflict(s): {}",
            found.len(),
            details.join("; ")
        ),
    ))
}

/// Like the real API server, which owns every node of a field set: a map (or list) emptied by
/// releasing fields disappears too, unless the applied configuration still sets it.
fn prune_empty_parents(object: &mut Value, released: &[PathElem], applied: &Value) {
    let mut depth = released.len();
    while depth > 1 {
        depth -= 1;
        let parent = &released[..depth];
        let emptied = match value_at(object, parent) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            _ => false,
        };
        if !emptied || value_at(applied, parent).is_some() {
            return;
        }
        remove_path(object, parent);
    }
}

/// Paths this manager applied last time, no longer applies, and nobody else applies.
fn released_paths(
    managers: &[ManagerEntry],
    writer: &Writer,
    paths: &BTreeSet<FieldPath>,
) -> Vec<FieldPath> {
    let previous = managers.iter().find(|e| {
        e.operation == "Apply" && e.subresource == writer.sub() && e.manager == writer.manager
    });
    let Some(previous) = previous else {
        return Vec::new();
    };
    let others: BTreeSet<&FieldPath> = other_apply_entries(managers, writer)
        .flat_map(|e| e.fields.iter())
        .collect();
    previous
        .fields
        .iter()
        .filter(|p| !paths.contains(*p) && !others.contains(p))
        .cloned()
        .collect()
}

/// `.data.key`, `.status.conditions[type="Ready"].status` style.
fn display_path(path: &FieldPath) -> String {
    path.iter()
        .map(|e| match e {
            PathElem::Field(f) => format!(".{f}"),
            PathElem::Key(k, id) => format!("[{k}={id}]"),
            PathElem::Item(v) => format!("[={v}]"),
        })
        .collect()
}
