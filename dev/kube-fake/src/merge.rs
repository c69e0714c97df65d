//! Merge semantics: RFC 7386 merge patch, a strategic-merge approximation and the structural
//! merge plus field ownership paths used by server-side apply.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// How a list field merges.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListKind {
    /// Replaced as a whole.
    Atomic,
    /// List of maps merged by the named key field.
    Keyed(&'static str),
    /// List of scalars merged as a set.
    Set,
}

/// Decide how the list stored under `field` merges, from well-known field names and the items.
fn list_kind(field: &str, items: &[Value]) -> ListKind {
    let all_have = |key: &str| {
        !items.is_empty()
            && items
                .iter()
                .all(|i| i.get(key).is_some_and(|k| !k.is_null()))
    };
    match field {
        "finalizers" => ListKind::Set,
        "ownerReferences" if items.is_empty() || all_have("uid") => ListKind::Keyed("uid"),
        "conditions" if items.is_empty() || all_have("type") => ListKind::Keyed("type"),
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "volumeMounts"
            if items.is_empty() || all_have("name") =>
        {
            ListKind::Keyed("name")
        }
        _ if all_have("name") => ListKind::Keyed("name"),
        _ if all_have("type") => ListKind::Keyed("type"),
        _ => ListKind::Atomic,
    }
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Structural merge used for strategic merge patch and server-side apply: maps merge deeply,
/// `null` removes a key, keyed lists merge by key, set lists take the union, other lists are
/// replaced. Honours the `$patch: delete` and `$deleteFromPrimitiveList/<field>` directives.
pub(crate) fn structural_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            delete_from_primitive_list(target_map, field, value);
        } else if key.starts_with('$') {
            // `$setElementOrder`, `$retainKeys`, `$patch` on maps: ignored.
        } else if value.is_null() {
            target_map.remove(key);
        } else {
            match target_map.get_mut(key) {
                Some(existing) => merge_field(key, existing, value),
                None => {
                    let mut fresh = Value::Null;
                    merge_field(key, &mut fresh, value);
                    target_map.insert(key.clone(), fresh);
                }
            }
        }
    }
}

fn delete_from_primitive_list(target: &mut Map<String, Value>, field: &str, values: &Value) {
    let Some(remove) = values.as_array() else {
        return;
    };
    if let Some(Value::Array(items)) = target.get_mut(field) {
        items.retain(|i| !remove.contains(i));
    }
}

fn merge_field(name: &str, existing: &mut Value, incoming: &Value) {
    match incoming {
        Value::Object(_) if existing.is_object() => structural_merge(existing, incoming),
        Value::Object(_) => {
            *existing = Value::Object(Map::new());
            structural_merge(existing, incoming);
        }
        Value::Array(items) => match (list_kind(name, items), existing.as_array_mut()) {
            (ListKind::Keyed(key), Some(current)) => merge_keyed(current, items, key),
            (ListKind::Set, Some(current)) => {
                for item in items {
                    if !current.contains(item) {
                        current.push(item.clone());
                    }
                }
            }
            _ => {
                *existing = Value::Array(
                    items
                        .iter()
                        .filter(|i| !is_delete_directive(i))
                        .cloned()
                        .collect(),
                )
            }
        },
        _ => *existing = incoming.clone(),
    }
}

fn is_delete_directive(item: &Value) -> bool {
    item.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn merge_keyed(current: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let id = item.get(key);
        let position = current.iter().position(|c| c.get(key) == id);
        match (position, is_delete_directive(item)) {
            (Some(i), true) => {
                current.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => structural_merge(&mut current[i], item),
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                structural_merge(&mut fresh, item);
                current.push(fresh);
            }
        }
    }
}

/// Remove every `null` (server-side apply ignores them).
pub(crate) fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathElem {
    /// A map key.
    Field(String),
    /// An item of a keyed list: (key field, JSON of the key value).
    Key(String, String),
    /// An item of a set list: JSON of the value.
    Item(String),
}

/// A path to a field (or a list item) inside an object.
pub(crate) type FieldPath = Vec<PathElem>;

/// The set of field paths an applied configuration sets: leaves plus keyed/set list items.
pub(crate) fn field_paths(value: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Value::Object(map) = value {
        let mut prefix = Vec::new();
        for (k, v) in map {
            collect_child(k, v, &mut prefix, &mut out);
        }
    }
    out
}

fn collect_child(name: &str, value: &Value, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    prefix.push(PathElem::Field(name.to_string()));
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                collect_child(k, v, prefix, out);
            }
        }
        Value::Array(items) => match list_kind(name, items) {
            ListKind::Atomic => {
                out.insert(prefix.clone());
            }
            ListKind::Keyed(key) => {
                for item in items {
                    let id = item.get(key).map(Value::to_string).unwrap_or_default();
                    prefix.push(PathElem::Key(key.to_string(), id));
                    out.insert(prefix.clone());
                    if let Value::Object(map) = item {
                        for (k, v) in map {
                            collect_child(k, v, prefix, out);
                        }
                    }
                    prefix.pop();
                }
            }
            ListKind::Set => {
                for item in items {
                    prefix.push(PathElem::Item(item.to_string()));
                    out.insert(prefix.clone());
                    prefix.pop();
                }
            }
        },
        _ => {
            out.insert(prefix.clone());
        }
    }
    prefix.pop();
}

fn step<'a>(value: &'a Value, elem: &PathElem) -> Option<&'a Value> {
    match elem {
        PathElem::Field(k) => value.get(k),
        PathElem::Key(key, id) => value
            .as_array()?
            .iter()
            .find(|i| i.get(key).map(Value::to_string).as_deref() == Some(id)),
        PathElem::Item(json) => value.as_array()?.iter().find(|i| &i.to_string() == json),
    }
}

fn step_mut<'a>(value: &'a mut Value, elem: &PathElem) -> Option<&'a mut Value> {
    match elem {
        PathElem::Field(k) => value.get_mut(k),
        PathElem::Key(key, id) => value
            .as_array_mut()?
            .iter_mut()
            .find(|i| i.get(key).map(Value::to_string).as_deref() == Some(id)),
        PathElem::Item(json) => value
            .as_array_mut()?
            .iter_mut()
            .find(|i| &i.to_string() == json),
    }
}

/// The value at `path`, if present.
pub(crate) fn value_at<'a>(value: &'a Value, path: &[PathElem]) -> Option<&'a Value> {
    path.iter().try_fold(value, step)
}

/// Remove the field or list item at `path` (no-op when absent).
pub(crate) fn remove_path(value: &mut Value, path: &[PathElem]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let Some(parent) = parent_path.iter().try_fold(value, |v, e| step_mut(v, e)) else {
        return;
    };
    match last {
        PathElem::Field(k) => {
            if let Value::Object(map) = parent {
                map.remove(k);
            }
        }
        PathElem::Key(key, id) => {
            if let Value::Array(items) = parent {
                items.retain(|i| i.get(key).map(Value::to_string).as_deref() != Some(id));
            }
        }
        PathElem::Item(json) => {
            if let Value::Array(items) = parent {
                items.retain(|i| &i.to_string() != json);
            }
        }
    }
}

/// Render field paths as a `fieldsV1` tree (`f:`/`k:`/`v:` keys).
pub(crate) fn render_fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for elem in path {
            let key = match elem {
                PathElem::Field(k) => format!("f:{k}"),
                PathElem::Key(key, id) => format!("k:{{\"{key}\":{id}}}"),
                PathElem::Item(json) => format!("v:{json}"),
            };
            let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            node = match child {
                Value::Object(child_map) => child_map,
                _ => unreachable!("child was just made an object"),
            };
        }
        if matches!(path.last(), Some(PathElem::Key(..))) {
            node.insert(".".into(), Value::Object(Map::new()));
        }
    }
    Value::Object(root)
}

/// The field set of a `fieldsV1` tree (the inverse of [`render_fields_v1`]).
pub(crate) fn parse_fields_v1(fields: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let mut prefix = Vec::new();
    parse_node(fields, &mut prefix, &mut out);
    out
}

fn parse_node(node: &Value, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    let Some(map) = node.as_object() else {
        return;
    };
    if !prefix.is_empty() && (map.is_empty() || map.contains_key(".")) {
        out.insert(prefix.clone());
    }
    for (key, child) in map {
        let elem = if let Some(field) = key.strip_prefix("f:") {
            PathElem::Field(field.to_string())
        } else if let Some(item) = key.strip_prefix("v:") {
            PathElem::Item(item.to_string())
        } else if let Some(Value::Object(id)) = key
            .strip_prefix("k:")
            .and_then(|k| serde_json::from_str::<Value>(k).ok())
            && let Some((name, value)) = id.iter().next()
        {
            PathElem::Key(name.clone(), value.to_string())
        } else {
            continue;
        };
        prefix.push(elem);
        parse_node(child, prefix, out);
        prefix.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trip() {
        let applied = json!({
            "metadata": {"labels": {"a": "1"}, "finalizers": ["x"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            "spec": {"list": [1, 2], "empty": {}},
        });
        let paths = field_paths(&applied);
        assert_eq!(parse_fields_v1(&render_fields_v1(&paths)), paths);
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn structural_merge_keys_conditions_and_sets() {
        let mut doc = json!({
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}]},
            "metadata": {"finalizers": ["a"]},
            "spec": {"args": ["x", "y"]}
        });
        structural_merge(
            &mut doc,
            &json!({
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                "metadata": {"finalizers": ["b"]},
                "spec": {"args": ["z"]}
            }),
        );
        assert_eq!(
            doc["status"]["conditions"][0],
            json!({"type": "Ready", "status": "True"})
        );
        assert_eq!(doc["status"]["conditions"][1]["type"], "Synced");
        assert_eq!(doc["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(doc["spec"]["args"], json!(["z"]));
    }

    #[test]
    fn field_paths_and_removal() {
        let doc = json!({"data": {"a": "1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let paths = field_paths(&doc);
        assert!(paths.contains(&vec![
            PathElem::Field("data".into()),
            PathElem::Field("a".into())
        ]));
        let item = vec![
            PathElem::Field("status".into()),
            PathElem::Field("conditions".into()),
            PathElem::Key("type".into(), "\"Ready\"".into()),
        ];
        assert!(paths.contains(&item));
        let mut copy = doc.clone();
        remove_path(&mut copy, &item);
        assert_eq!(copy["status"]["conditions"], json!([]));
        assert_eq!(
            value_at(&doc, &item).and_then(|v| v.get("status")),
            Some(&json!("True"))
        );
        let rendered = render_fields_v1(&paths);
        assert!(
            rendered["f:status"]["f:conditions"]
                .get("k:{\"type\":\"Ready\"}")
                .is_some()
        );
    }
}
