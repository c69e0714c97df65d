//! `/openapi/v2`: the Swagger 2.0 document kubectl 1.27 and 1.28 need (their `explain`, and the
//! check whether the server validates fields, read it). kubectl asks for it as protobuf
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`; answered as `...v2.v1.0+protobuf`, which Go can parse; the `openapi.v2.Document`
//! message of gnostic), so this module builds the document as JSON from the v3 one and encodes
//! the parts kubectl reads: definitions (schemas) and paths with their operations' parameters
//! and `x-kubernetes-group-version-kind`.

use serde_json::{Map, Value, json};

use super::openapi;
use super::registry::ResourceType;

/// The media type kubectl asks for.
pub(crate) const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The whole API as one Swagger 2.0 document (JSON).
pub(crate) fn document(types: &[ResourceType]) -> Value {
    let mut definitions = Map::new();
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = types
        .iter()
        .map(|t| (t.group.clone(), t.version.clone()))
        .collect();
    gvs.sort();
    gvs.dedup();
    for (group, version) in gvs {
        let v3 = openapi::group_version(types, &group, &version);
        if let Some(schemas) = v3.pointer("/components/schemas").and_then(Value::as_object) {
            for (name, schema) in schemas {
                definitions.insert(name.clone(), v2_schema(schema));
            }
        }
        if let Some(v3_paths) = v3.get("paths").and_then(Value::as_object) {
            for (path, item) in v3_paths {
                paths.insert(path.clone(), v2_path_item(item));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "definitions": definitions,
    })
}

/// A v3 schema as Swagger 2.0 has it: `#/definitions/` references, a single `allOf` reference
/// as a plain `$ref` (kubectl's v2 reader ignores `allOf`), no `nullable`.
fn v2_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("nullable", _) => {}
                    ("$ref", Value::String(r)) => {
                        out.insert(
                            "$ref".into(),
                            json!(r.replace("#/components/schemas/", "#/definitions/")),
                        );
                    }
                    ("allOf", Value::Array(all))
                        if all.len() == 1 && all[0].get("$ref").is_some() =>
                    {
                        if let Value::Object(inner) = v2_schema(&all[0]) {
                            out.extend(inner);
                        }
                    }
                    ("properties", Value::Object(props)) => {
                        let props: Map<String, Value> = props
                            .iter()
                            .map(|(k, v)| (k.clone(), v2_schema(v)))
                            .collect();
                        out.insert(key.clone(), Value::Object(props));
                    }
                    ("default" | "example" | "enum", _) => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        out.insert(key.clone(), v2_schema(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(v2_schema).collect()),
        other => other.clone(),
    }
}

fn v2_path_item(item: &Value) -> Value {
    let mut out = Map::new();
    for (method, operation) in item.as_object().into_iter().flatten() {
        let parameters: Vec<Value> = operation
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                json!({
                    "name": p["name"], "in": p["in"], "description": p["description"],
                    "type": "string", "uniqueItems": true,
                })
            })
            .collect();
        let schema = operation
            .pointer("/responses/200/content/application~1json/schema")
            .map(v2_schema)
            .unwrap_or_else(|| json!({}));
        out.insert(
            method.clone(),
            json!({
                "description": operation["description"],
                "operationId": operation["operationId"],
                "parameters": parameters,
                "responses": { "200": { "description": "OK", "schema": schema } },
                "x-kubernetes-action": operation["x-kubernetes-action"],
                "x-kubernetes-group-version-kind": operation["x-kubernetes-group-version-kind"],
            }),
        );
    }
    Value::Object(out)
}

/// Protobuf encoding of `openapi.v2.Document` (proto3: default values are omitted).
pub(crate) fn encode(doc: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_string(&mut out, 1, text(doc, "swagger"));
    if let Some(info) = doc.get("info") {
        let mut message = Vec::new();
        put_string(&mut message, 1, text(info, "title"));
        put_string(&mut message, 2, text(info, "version"));
        put_message(&mut out, 2, &message);
    }
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let mut message = Vec::new();
        for (path, item) in paths {
            let named = named(path, &path_item(item));
            put_message(&mut message, 2, &named);
        }
        put_message(&mut out, 8, &message);
    }
    if let Some(definitions) = doc.get("definitions").and_then(Value::as_object) {
        let mut message = Vec::new();
        for (name, schema) in definitions {
            put_message(&mut message, 1, &named(name, &encode_schema(schema)));
        }
        put_message(&mut out, 9, &message);
    }
    out
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn path_item(item: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("patch", 8),
    ] {
        if let Some(operation) = item.get(method) {
            put_message(&mut out, field, &encode_operation(operation));
        }
    }
    out
}

fn encode_operation(operation: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_string(&mut out, 3, text(operation, "description"));
    put_string(&mut out, 5, text(operation, "operationId"));
    for parameter in operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // QueryParameterSubSchema in NonBodyParameter in Parameter in ParametersItem.
        let mut query = Vec::new();
        put_string(&mut query, 2, text(parameter, "in"));
        put_string(&mut query, 3, text(parameter, "description"));
        put_string(&mut query, 4, text(parameter, "name"));
        put_string(&mut query, 6, text(parameter, "type"));
        put_bool(&mut query, 20, true);
        let non_body = wrap(3, &query);
        let parameter = wrap(2, &non_body);
        put_message(&mut out, 8, &wrap(1, &parameter));
    }
    if let Some(schema) = operation.pointer("/responses/200/schema") {
        let mut response = Vec::new();
        put_string(&mut response, 1, "OK");
        put_message(&mut response, 2, &wrap(1, &encode_schema(schema)));
        let named_response = named("200", &wrap(1, &response));
        put_message(&mut out, 9, &wrap(1, &named_response));
    }
    for (key, value) in operation.as_object().into_iter().flatten() {
        if key.starts_with("x-") && !value.is_null() {
            put_message(&mut out, 13, &named_any(key, value));
        }
    }
    out
}

fn encode_schema(schema: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(map) = schema.as_object() else {
        return out;
    };
    put_string(&mut out, 1, text(schema, "$ref"));
    put_string(&mut out, 2, text(schema, "format"));
    put_string(&mut out, 3, text(schema, "title"));
    put_string(&mut out, 4, text(schema, "description"));
    if let Some(default) = map.get("default") {
        put_message(&mut out, 5, &any(default));
    }
    for (key, field) in [("maximum", 7), ("minimum", 9)] {
        if let Some(n) = map.get(key).and_then(Value::as_f64) {
            put_double(&mut out, field, n);
        }
    }
    for (key, field) in [
        ("exclusiveMaximum", 8),
        ("exclusiveMinimum", 10),
        ("uniqueItems", 16),
    ] {
        if map.get(key).and_then(Value::as_bool) == Some(true) {
            put_bool(&mut out, field, true);
        }
    }
    for (key, field) in [
        ("maxLength", 11),
        ("minLength", 12),
        ("maxItems", 14),
        ("minItems", 15),
        ("maxProperties", 17),
        ("minProperties", 18),
    ] {
        if let Some(n) = map.get(key).and_then(Value::as_u64) {
            put_varint_field(&mut out, field, n);
        }
    }
    put_string(&mut out, 13, text(schema, "pattern"));
    for required in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        put_string(&mut out, 19, required);
    }
    for value in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        put_message(&mut out, 20, &any(value));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => put_message(&mut out, 21, &{
            let mut m = Vec::new();
            put_bool(&mut m, 2, *b);
            m
        }),
        Some(sub @ Value::Object(_)) => put_message(&mut out, 21, &wrap(1, &encode_schema(sub))),
        _ => {}
    }
    if let Some(type_) = map.get("type").and_then(Value::as_str) {
        let mut item = Vec::new();
        put_string(&mut item, 1, type_);
        put_message(&mut out, 22, &item);
    }
    if let Some(items) = map.get("items") {
        put_message(&mut out, 23, &wrap(1, &encode_schema(items)));
    }
    for sub in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        put_message(&mut out, 24, &encode_schema(sub));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let mut message = Vec::new();
        for (name, sub) in properties {
            put_message(&mut message, 1, &named(name, &encode_schema(sub)));
        }
        put_message(&mut out, 25, &message);
    }
    for (key, value) in map {
        if key.starts_with("x-") {
            put_message(&mut out, 31, &named_any(key, value));
        }
    }
    out
}

/// `openapi.v2.Any` carrying a value as YAML (JSON is YAML).
fn any(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_string(&mut out, 2, &value.to_string());
    out
}

fn named_any(name: &str, value: &Value) -> Vec<u8> {
    named(name, &any(value))
}

/// A `Named*` message: `name = 1`, `value = 2`.
fn named(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_string(&mut out, 1, name);
    put_message(&mut out, 2, value);
    out
}

/// A message whose only content is the embedded message `inner` at `field`.
fn wrap(field: u32, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_message(&mut out, field, inner);
    out
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u64) {
    put_varint(out, (u64::from(field) << 3) | wire_type);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_key(out, field, 0);
    put_varint(out, value);
}

fn put_bool(out: &mut Vec<u8>, field: u32, value: bool) {
    if value {
        put_varint_field(out, field, 1);
    }
}

fn put_double(out: &mut Vec<u8>, field: u32, value: f64) {
    put_key(out, field, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_string(out: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        put_bytes(out, field, value.as_bytes());
    }
}

/// An embedded message (written even when empty: presence matters for `oneof`s).
fn put_message(out: &mut Vec<u8>, field: u32, message: &[u8]) {
    put_bytes(out, field, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_encode_like_protobuf() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut out = Vec::new();
        put_string(&mut out, 1, "2.0");
        assert_eq!(out, [0x0a, 3, b'2', b'.', b'0']);
        let mut out = Vec::new();
        put_string(&mut out, 4, "");
        assert!(out.is_empty(), "proto3 omits defaults");
        let mut out = Vec::new();
        put_double(&mut out, 7, 1.0);
        assert_eq!(out[0], (7 << 3) | 1);
        assert_eq!(&out[1..], &1.0f64.to_le_bytes());
    }

    #[test]
    fn the_v2_document_uses_definitions_refs_and_keeps_gvks() {
        let mut widget = ResourceType::new("example.com", "v1", "widgets", "Widget", true, false);
        widget.crd = Some("widgets.example.com".into());
        widget.schema = Some(json!({"type": "object", "properties": {
            "spec": {"type": "object", "nullable": true, "properties": {"size": {"type": "integer"}}}
        }}));
        let doc = document(&[widget]);
        let schema = &doc["definitions"]["com.example.v1.Widget"];
        assert_eq!(
            schema["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(schema["properties"]["spec"].get("nullable").is_none());
        assert_eq!(
            schema["x-kubernetes-group-version-kind"][0]["kind"],
            "Widget"
        );
        let patch =
            &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        let bytes = encode(&doc);
        assert!(bytes.starts_with(&[0x0a, 3, b'2', b'.', b'0']));
        let needle = b"fieldValidation";
        assert!(bytes.windows(needle.len()).any(|w| w == needle));
    }
}
