//! Structural-schema handling of custom resources, as the real API server does it on every
//! write: defaulting, pruning of unknown fields (or refusing them with `fieldValidation=Strict`)
//! and validation (types, `required`, `enum`, string, number and list bounds, `pattern`), with
//! the API server's messages and `Status` causes. CEL rules (`x-kubernetes-validations`) are
//! not evaluated.

use serde_json::{Map, Value};

/// One validation failure: a `Status` cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueTooMany`,
    /// `FieldValueTypeInvalid`.
    pub reason: &'static str,
    /// Dotted path, e.g. `spec.client.name`.
    pub field: String,
    /// The message after the field, as the API server words it.
    pub message: String,
}

impl Cause {
    fn new(reason: &'static str, field: &str, message: String) -> Self {
        Self {
            reason,
            field: field.to_string(),
            message,
        }
    }

    /// `field: message`, the form used in the `Status` message.
    pub fn render(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

fn is_true(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Fills `default`s of absent properties, recursively (defaults are themselves defaulted).
pub fn apply_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, child_schema) in properties {
                    if !map.contains_key(key)
                        && let Some(default) = child_schema.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                }
                for (key, child) in map.iter_mut() {
                    if let Some(child_schema) = properties.get(key) {
                        apply_defaults(child, child_schema);
                    }
                }
            } else if let Some(additional) = schema.get("additionalProperties")
                && additional.is_object()
            {
                map.values_mut().for_each(|v| apply_defaults(v, additional));
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                items
                    .iter_mut()
                    .for_each(|i| apply_defaults(i, item_schema));
            }
        }
        _ => {}
    }
}

/// Removes fields the schema does not declare (unless `x-kubernetes-preserve-unknown-fields`);
/// returns their paths. At the root, `apiVersion`, `kind` and `metadata` are always kept.
pub fn prune(value: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_at(value, schema, "", &mut pruned);
    pruned
}

fn prune_at(value: &mut Value, schema: &Value, path: &str, pruned: &mut Vec<String>) {
    if is_true(schema, "x-kubernetes-preserve-unknown-fields") && schema.get("properties").is_none()
    {
        return;
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let preserve = is_true(schema, "x-kubernetes-preserve-unknown-fields")
                || schema.get("additionalProperties") == Some(&Value::Bool(true));
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let child_schema = properties.and_then(|p| p.get(&key)).or(additional);
                match (child_schema, map.get_mut(&key)) {
                    (Some(child_schema), Some(child)) => {
                        prune_at(child, child_schema, &child_path, pruned);
                    }
                    (None, _) if preserve => {}
                    (None, _) => {
                        map.remove(&key);
                        pruned.push(child_path);
                    }
                    (Some(_), None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_at(item, item_schema, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

/// Validates `value` against the structural schema; returns every failure.
pub fn validate(value: &Value, schema: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    validate_at(value, schema, "", &mut causes);
    causes
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The value as the API server quotes it in messages.
fn quoted(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) | Value::Array(_) | Value::Null => format!("{:?}", type_name(value)),
        other => other.to_string(),
    }
}

fn validate_at(value: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let shown = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if !is_true(schema, "nullable") && schema.get("type").is_some() {
            let expected = schema["type"].as_str().unwrap_or_default();
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                shown,
                format!(
                    "Invalid value: \"null\": {shown} in body must be of type {expected}: \"null\""
                ),
            ));
        }
        return;
    }
    if is_true(schema, "x-kubernetes-int-or-string") {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                shown,
                format!(
                    "Invalid value: {}: {shown} in body must be of type integer or string: {:?}",
                    quoted(value),
                    type_name(value)
                ),
            ));
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = actual == expected || (expected == "number" && actual == "integer");
        if !ok {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                shown,
                format!(
                    "Invalid value: {}: {shown} in body must be of type {expected}: {actual:?}",
                    quoted(value)
                ),
            ));
            return;
        }
    }
    check_scalar(value, schema, shown, causes);
    match value {
        Value::Object(map) => check_object(map, schema, path, causes),
        Value::Array(items) => {
            check_list(items, schema, shown, causes);
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_at(item, item_schema, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

fn check_scalar(value: &Value, schema: &Value, shown: &str, causes: &mut Vec<Cause>) {
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(quoted).collect();
        causes.push(Cause::new(
            "FieldValueNotSupported",
            shown,
            format!(
                "Unsupported value: {}: supported values: {}",
                quoted(value),
                list.join(", ")
            ),
        ));
    }
    if let Some(s) = value.as_str() {
        let length = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && length < min
        {
            causes.push(invalid(
                value,
                shown,
                &format!("should be at least {min} chars long"),
            ));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && length > max
        {
            causes.push(Cause::new(
                "FieldValueTooLong",
                shown,
                format!("Too long: may not be more than {max} bytes"),
            ));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && !pattern_matches(pattern, s)
        {
            causes.push(invalid(value, shown, &format!("should match '{pattern}'")));
        }
    }
    if let Some(n) = value.as_f64() {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        let show = |b: f64| {
            if b.fract() == 0.0 {
                format!("{}", b as i64)
            } else {
                b.to_string()
            }
        };
        if let Some(min) = bound("minimum")
            && n < min
        {
            causes.push(invalid(
                value,
                shown,
                &format!("should be greater than or equal to {}", show(min)),
            ));
        }
        if let Some(max) = bound("maximum")
            && n > max
        {
            causes.push(invalid(
                value,
                shown,
                &format!("should be less than or equal to {}", show(max)),
            ));
        }
    }
}

/// Whether `text` matches the schema's (ECMA-262-like) pattern; a pattern this engine cannot
/// compile counts as matching (the real server would have refused the CRD).
fn pattern_matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).map_or(true, |re| re.is_match(text))
}

fn invalid(value: &Value, shown: &str, rule: &str) -> Cause {
    Cause::new(
        "FieldValueInvalid",
        shown,
        format!("Invalid value: {}: {shown} in body {rule}", quoted(value)),
    )
}

fn check_list(items: &[Value], schema: &Value, shown: &str, causes: &mut Vec<Cause>) {
    let count = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && count > max
    {
        causes.push(Cause::new(
            "FieldValueTooMany",
            shown,
            format!("Too many: {count}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && count < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            shown,
            format!("Invalid value: {count}: {shown} in body should have at least {min} items"),
        ));
    }
}

fn check_object(map: &Map<String, Value>, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(required) {
            causes.push(Cause::new(
                "FieldValueRequired",
                &join(path, required),
                "Required value".to_string(),
            ));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (key, child) in map {
        if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) {
            validate_at(child, child_schema, &join(path, key), causes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["tenant"],
                    "properties": {
                        "tenant": {"type": "string", "minLength": 1},
                        "policy": {"type": "string", "enum": ["Delete", "Orphan"], "default": "Delete"},
                        "limit": {"type": "object", "default": {}, "properties": {
                            "burst": {"type": "integer", "minimum": 1.0, "maximum": 1000.0, "default": 2}
                        }},
                        "domain": {"type": "string", "pattern": "^[a-z.]+$"},
                        "urls": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "note": {"type": "string", "nullable": true},
                    }
                },
                "status": {"type": "object", "nullable": true}
            }
        })
    }

    #[test]
    fn defaults_fill_absent_fields_recursively() {
        let mut value = json!({"spec": {"tenant": "a"}});
        apply_defaults(&mut value, &schema());
        assert_eq!(value["spec"]["policy"], "Delete");
        assert_eq!(value["spec"]["limit"], json!({"burst": 2}));
        let mut explicit =
            json!({"spec": {"tenant": "a", "policy": "Orphan", "limit": {"burst": 5}}});
        apply_defaults(&mut explicit, &schema());
        assert_eq!(explicit["spec"]["policy"], "Orphan");
        assert_eq!(explicit["spec"]["limit"]["burst"], 5);
    }

    #[test]
    fn unknown_fields_are_pruned_except_where_preserved() {
        let mut value = json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"},
            "extra": 1,
            "spec": {"tenant": "a", "colour": "red", "labels": {"any": "thing"}, "free": {"any": {"deep": 1}}},
        });
        let pruned = prune(&mut value, &schema());
        assert_eq!(pruned, ["extra", "spec.colour"]);
        assert_eq!(value["spec"]["labels"]["any"], "thing");
        assert_eq!(value["spec"]["free"]["any"]["deep"], 1);
        assert_eq!(value["metadata"]["name"], "n");
    }

    #[test]
    fn validation_reports_every_failure_like_the_api_server() {
        let value = json!({"spec": {
            "policy": "Sometimes", "limit": {"burst": 0}, "domain": "A B",
            "urls": ["a", "b", "c"], "labels": {"k": 1}, "note": null, "tenant": null,
        }});
        let causes: Vec<String> = validate(&value, &schema())
            .iter()
            .map(Cause::render)
            .collect();
        let expected = [
            "spec.tenant: Invalid value: \"null\": spec.tenant in body must be of type string: \"null\"",
            "spec.policy: Unsupported value: \"Sometimes\": supported values: \"Delete\", \"Orphan\"",
            "spec.limit.burst: Invalid value: 0: spec.limit.burst in body should be greater than or equal to 1",
            "spec.domain: Invalid value: \"A B\": spec.domain in body should match '^[a-z.]+$'",
            "spec.urls: Too many: 3: must have at most 2 items",
            "spec.labels.k: Invalid value: 1: spec.labels.k in body must be of type string: \"integer\"",
        ];
        for e in expected {
            assert!(
                causes.iter().any(|c| c == e),
                "missing {e:?} in {causes:#?}"
            );
        }
        assert_eq!(causes.len(), expected.len(), "{causes:#?}");
        let missing = validate(&json!({"spec": {}}), &schema());
        assert_eq!(missing[0].render(), "spec.tenant: Required value");
        assert_eq!(missing[0].reason, "FieldValueRequired");
        assert!(
            validate(
                &json!({"spec": {"tenant": "a", "domain": "a.b"}}),
                &schema()
            )
            .is_empty()
        );
    }
}
