//! `meta.k8s.io/v1` `Table` responses (what `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the printer columns of a custom
//! resource, evaluated like the apiextensions server does (simple JSONPath, `date` columns as a
//! human-readable age), and the columns the real server prints for the built-in kinds served here.

use serde_json::{Value, json};

use super::registry::{PrinterColumn, ResourceType};
use super::watch::partial_metadata;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub(crate) fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// How one cell is computed.
#[derive(Debug, Clone)]
enum Cell {
    Name,
    /// A JSONPath printed per the column type.
    Path(String),
    /// Number of keys of a map field (`Data` of Secrets and ConfigMaps).
    Count(&'static str),
    /// `creationTimestamp` as a human-readable age.
    Age,
    /// RFC 3339 `creationTimestamp` (the server's default `Created At` column).
    CreatedAt,
    NamespacePhase,
    EventLastSeen,
    EventObject,
    EventSource,
    EventFirstSeen,
    EventCount,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    type_: String,
    format: String,
    description: String,
    priority: i64,
    cell: Cell,
}

fn column(name: &str, type_: &str, priority: i64, cell: Cell) -> Column {
    Column {
        name: name.to_string(),
        type_: type_.to_string(),
        format: String::new(),
        description: String::new(),
        priority,
        cell,
    }
}

fn name_column() -> Column {
    Column {
        format: "name".to_string(),
        description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.".to_string(),
        ..column("Name", "string", 0, Cell::Name)
    }
}

fn age_column() -> Column {
    Column {
        description: "CreationTimestamp is a timestamp representing the server time when this object was created.".to_string(),
        ..column("Age", "date", 0, Cell::Age)
    }
}

fn columns(rt: &ResourceType) -> Vec<Column> {
    let mut columns = vec![name_column()];
    if rt.crd.is_some() {
        if rt.printer_columns.is_empty() {
            columns.push(age_column());
        }
        columns.extend(rt.printer_columns.iter().map(custom_column));
        return columns;
    }
    let builtin = |name: &str, type_: &str, cell: Cell| column(name, type_, 0, cell);
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "secrets") => columns.extend([
            builtin("Type", "string", Cell::Path(".type".into())),
            builtin("Data", "string", Cell::Count("data")),
            age_column(),
        ]),
        ("", "configmaps") => {
            columns.extend([builtin("Data", "string", Cell::Count("data")), age_column()]);
        }
        ("", "namespaces") => columns.extend([
            builtin("Status", "string", Cell::NamespacePhase),
            age_column(),
        ]),
        ("coordination.k8s.io", "leases") => columns.extend([
            builtin(
                "Holder",
                "string",
                Cell::Path(".spec.holderIdentity".into()),
            ),
            age_column(),
        ]),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            columns.push(builtin("Created At", "date", Cell::CreatedAt));
        }
        ("" | "events.k8s.io", "events") => {
            // The real server's event printer: the name column comes last, in the wide view.
            columns = vec![
                builtin("Last Seen", "string", Cell::EventLastSeen),
                builtin("Type", "string", Cell::Path(".type".into())),
                builtin("Reason", "string", Cell::Path(".reason".into())),
                builtin("Object", "string", Cell::EventObject),
                column(
                    "Subobject",
                    "string",
                    1,
                    Cell::Path(".involvedObject.fieldPath".into()),
                ),
                column("Source", "string", 1, Cell::EventSource),
                builtin("Message", "string", Cell::Path(".message".into())),
                column("First Seen", "string", 1, Cell::EventFirstSeen),
                column("Count", "string", 1, Cell::EventCount),
                Column {
                    priority: 1,
                    ..name_column()
                },
            ];
        }
        _ => columns.push(age_column()),
    }
    columns
}

fn custom_column(c: &PrinterColumn) -> Column {
    Column {
        name: c.name.clone(),
        type_: c.type_.clone(),
        format: c.format.clone(),
        description: c.description.clone(),
        priority: c.priority,
        cell: Cell::Path(c.json_path.clone()),
    }
}

/// A `Table` of `objects` of `rt`; `resource_version` goes into the list metadata.
pub(crate) fn table(
    rt: &ResourceType,
    objects: &[&Value],
    include: IncludeObject,
    resource_version: Option<u64>,
) -> Value {
    let columns = columns(rt);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "type": c.type_, "format": c.format,
                "description": c.description, "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let events_view = rt.plural == "events";
            let source = if events_view && rt.group == "events.k8s.io" {
                super::events::to_core(object)
            } else {
                (*object).clone()
            };
            let cells: Vec<Value> = columns.iter().map(|c| cell(c, &source)).collect();
            let mut row = json!({ "cells": cells });
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial_metadata(object),
                IncludeObject::Object => row["object"] = (*object).clone(),
            }
            row
        })
        .collect();
    let mut metadata = json!({});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv.to_string());
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn text_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn cell(column: &Column, object: &Value) -> Value {
    match &column.cell {
        Cell::Name => json!(text_at(object, "/metadata/name").unwrap_or_default()),
        Cell::Path(path) => match first_result(path, object) {
            None => Value::Null,
            Some(value) => typed_cell(&column.type_, value),
        },
        Cell::Count(field) => json!(
            object
                .get(*field)
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
        ),
        Cell::Age => age_of(text_at(object, "/metadata/creationTimestamp")),
        Cell::CreatedAt => {
            json!(text_at(object, "/metadata/creationTimestamp").unwrap_or_default())
        }
        Cell::NamespacePhase => json!(text_at(object, "/status/phase").unwrap_or("Active")),
        Cell::EventLastSeen => age_of(
            text_at(object, "/series/lastObservedTime")
                .or_else(|| text_at(object, "/lastTimestamp"))
                .or_else(|| text_at(object, "/eventTime")),
        ),
        Cell::EventFirstSeen => {
            age_of(text_at(object, "/firstTimestamp").or_else(|| text_at(object, "/eventTime")))
        }
        Cell::EventObject => json!(format!(
            "{}/{}",
            text_at(object, "/involvedObject/kind")
                .unwrap_or_default()
                .to_lowercase(),
            text_at(object, "/involvedObject/name").unwrap_or_default()
        )),
        Cell::EventSource => json!(
            text_at(object, "/source/component")
                .or_else(|| text_at(object, "/reportingComponent"))
                .unwrap_or_default()
        ),
        Cell::EventCount => json!(
            object
                .pointer("/series/count")
                .or_else(|| object.get("count"))
                .and_then(Value::as_i64)
                .unwrap_or(1)
        ),
    }
}

/// A cell as the apiextensions table convertor renders it.
fn typed_cell(type_: &str, value: &Value) -> Value {
    match (type_, value) {
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => value.clone(),
        ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => value.clone(),
        ("date", Value::String(s)) => age_of(Some(s)),
        ("integer" | "number" | "boolean" | "date", _) => Value::Null,
        (_, Value::String(s)) => json!(s),
        (_, other) => json!(other.to_string()),
    }
}

fn age_of(timestamp: Option<&str>) -> Value {
    let Some(timestamp) = timestamp else {
        return json!("<unknown>");
    };
    match timestamp.parse::<k8s_openapi::jiff::Timestamp>() {
        Ok(then) => {
            let seconds = k8s_openapi::jiff::Timestamp::now().as_second() - then.as_second();
            json!(human_duration(seconds))
        }
        Err(_) => json!("<invalid>"),
    }
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// One step of the JSONPath subset printer columns use.
#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    /// `[?(@.key=="value")]` (also `!=`).
    Filter {
        path: Vec<String>,
        value: String,
        negated: bool,
    },
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut steps = Vec::new();
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end > 0 {
                steps.push(Step::Field(after[..end].to_string()));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = &after[..end];
            rest = &after[end + 1..];
            steps.push(parse_bracket(inner)?);
        } else {
            return None;
        }
    }
    Some(steps)
}

fn parse_bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::All);
    }
    if let Ok(index) = inner.parse::<usize>() {
        return Some(Step::Index(index));
    }
    if let Some(quoted) = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
    {
        return Some(Step::Field(quoted.to_string()));
    }
    let filter = inner.strip_prefix("?(")?.strip_suffix(')')?;
    let (lhs, rhs, negated) = match filter.split_once("!=") {
        Some((l, r)) => (l, r, true),
        None => {
            let (l, r) = filter.split_once("==")?;
            (l, r, false)
        }
    };
    let path = lhs
        .trim()
        .strip_prefix("@.")?
        .split('.')
        .map(str::to_string)
        .collect();
    let value = rhs
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_string();
    Some(Step::Filter {
        path,
        value,
        negated,
    })
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first value a (simple) JSONPath selects, like the apiextensions table convertor.
pub(crate) fn first_result<'a>(path: &str, object: &'a Value) -> Option<&'a Value> {
    let steps = parse_path(path)?;
    let mut current: Vec<&Value> = vec![object];
    for step in &steps {
        let mut next = Vec::new();
        for value in current {
            match step {
                Step::Field(name) => next.extend(value.get(name)),
                Step::Index(i) => next.extend(value.get(*i)),
                Step::All => match value {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
                Step::Filter {
                    path,
                    value: expected,
                    negated,
                } => {
                    for item in value.as_array().into_iter().flatten() {
                        let actual = path.iter().try_fold(item, |v, key| v.get(key));
                        let equal = actual.is_some_and(|a| &scalar_text(a) == expected);
                        if equal != *negated {
                            next.push(item);
                        }
                    }
                }
            }
        }
        current = next;
    }
    current.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset_of_printer_columns() {
        let object = json!({
            "spec": {"tenant": "acme", "urls": ["a", "b"], "n": 3},
            "status": {"conditions": [
                {"type": "Drifted", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "Synced"},
            ]},
        });
        let at = |p: &str| first_result(p, &object).cloned();
        assert_eq!(at(".spec.tenant"), Some(json!("acme")));
        assert_eq!(
            at(".status.conditions[?(@.type==\"Ready\")].reason"),
            Some(json!("Synced"))
        );
        assert_eq!(
            at(".status.conditions[?(@.type!=\"Ready\")].type"),
            Some(json!("Drifted"))
        );
        assert_eq!(at(".spec.urls[1]"), Some(json!("b")));
        assert_eq!(at(".spec.urls[*]"), Some(json!("a")));
        assert_eq!(at("{.spec.n}"), Some(json!(3)));
        assert_eq!(at(".status.missing"), None);
        assert_eq!(typed_cell("string", &json!(["a"])), json!("[\"a\"]"));
        assert_eq!(typed_cell("integer", &json!("x")), Value::Null);
    }

    #[test]
    fn durations_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (9 * 3600, "9h"),
            (50 * 3600, "2d2h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn crd_columns_with_priorities_and_builtin_secret_columns() {
        let mut rt = ResourceType::new("example.com", "v1", "widgets", "Widget", true, true);
        rt.crd = Some("widgets.example.com".into());
        rt.printer_columns = vec![PrinterColumn {
            name: "Ready".into(),
            type_: "string".into(),
            format: String::new(),
            description: String::new(),
            priority: 1,
            json_path: ".status.ready".into(),
        }];
        let object =
            json!({"metadata": {"name": "w", "namespace": "ns"}, "status": {"ready": true}});
        let t = table(&rt, &[&object], IncludeObject::Metadata, Some(7));
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        assert_eq!(t["columnDefinitions"][0]["name"], "Name");
        assert_eq!(t["columnDefinitions"][1]["priority"], 1);
        assert_eq!(t["rows"][0]["cells"], json!(["w", "true"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");

        let secrets = ResourceType::new("", "v1", "secrets", "Secret", true, false);
        let secret = json!({"metadata": {"name": "s", "creationTimestamp": "2020-01-01T00:00:00Z"},
                            "type": "Opaque", "data": {"a": "", "b": ""}});
        let t = table(&secrets, &[&secret], IncludeObject::None, None);
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["Name", "Type", "Data", "Age"]);
        assert_eq!(
            t["rows"][0]["cells"].as_array().expect("cells")[..3],
            [json!("s"), json!("Opaque"), json!(2)]
        );
        assert!(t["rows"][0].get("object").is_none());
    }
}
