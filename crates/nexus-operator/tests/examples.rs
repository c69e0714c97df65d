//! The manifests in `examples/` validate against the generated CRD schemas (a structural check
//! of every field: known names, types, enums, required fields, string and number bounds) and
//! deserialize into the operator's own types.

use std::path::{Path, PathBuf};

use nexus_crd::{AuthClient, AuthTenant};
use serde_json::Value;

/// A path relative to the workspace root (this package lives in `crates/nexus-operator`).
fn root(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable");
    text.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("valid YAML"))
        .collect()
}

fn crd_schema(kind: &str) -> Value {
    let file = match kind {
        "AuthClient" => "crds/authclients.yaml",
        "AuthTenant" => "crds/authtenants.yaml",
        other => panic!("no CRD for {other}"),
    };
    let crd = yaml_documents(&root(file)).remove(0);
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Validates `value` against a structural OpenAPI v3 schema; returns every problem found.
fn validate(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            errors.push(format!("{path}: null is not allowed"));
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"] == Value::Bool(true) {
        return;
    }
    let ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        _ => true,
    };
    if !ok {
        errors.push(format!("{path}: expected {}, got {value}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let (Some(s), Some(min)) = (value.as_str(), schema["minLength"].as_u64())
        && (s.chars().count() as u64) < min
    {
        errors.push(format!("{path}: shorter than {min}"));
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && value.as_str().is_some_and(str::is_empty)
    {
        errors.push(format!("{path}: empty, must match {pattern}"));
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema["minimum"].as_f64())
        && n < min
    {
        errors.push(format!("{path}: below {min}"));
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema["maximum"].as_f64())
        && n > max
    {
        errors.push(format!("{path}: above {max}"));
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                errors.push(format!("{path}.{key}: required"));
            }
        }
        let properties = schema["properties"].as_object();
        let additional = &schema["additionalProperties"];
        for (key, child) in object {
            let child_path = format!("{path}.{key}");
            if path.is_empty() && (key == "apiVersion" || key == "kind" || key == "metadata") {
                continue;
            }
            match properties.and_then(|p| p.get(key)) {
                Some(child_schema) => validate(child, child_schema, &child_path, errors),
                None if additional.is_object() => validate(child, additional, &child_path, errors),
                None if schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true) => {}
                None => errors.push(format!(
                    "{child_path}: unknown field (pruned by the API server)"
                )),
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            validate(item, &schema["items"], &format!("{path}[{i}]"), errors);
        }
    }
}

#[test]
fn every_example_validates_against_its_crd_and_the_typed_resource() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        for doc in yaml_documents(&path) {
            let kind = doc["kind"].as_str().expect("kind").to_owned();
            if doc["apiVersion"] != "auth.nexus.dev/v1alpha1" {
                continue;
            }
            let mut errors = Vec::new();
            validate(&doc, &crd_schema(&kind), "", &mut errors);
            assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
            match kind.as_str() {
                "AuthClient" => {
                    drop(serde_json::from_value::<AuthClient>(doc).expect("typed AuthClient"))
                }
                "AuthTenant" => {
                    drop(serde_json::from_value::<AuthTenant>(doc).expect("typed AuthTenant"))
                }
                other => panic!("unexpected kind {other}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "found only {checked} example resources");
}

#[test]
fn the_validator_rejects_what_the_api_server_would() {
    let schema = crd_schema("AuthClient");
    let mut bad: Value = serde_json::json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient", "metadata": {"name": "x"},
        "spec": {"tenant": "acme", "client": {"name": "", "app_type": "spa", "colour": "red", "callbacks": "https://x"},
                 "deletionPolicy": "Sometimes"}
    });
    let mut errors = Vec::new();
    validate(&bad, &schema, "", &mut errors);
    let text = errors.join("\n");
    assert!(text.contains(".spec.client.name: shorter than 1"), "{text}");
    assert!(
        text.contains(".spec.client.colour: unknown field"),
        "{text}"
    );
    assert!(text.contains(".spec.client.callbacks: expected"), "{text}");
    assert!(text.contains(".spec.deletionPolicy"), "{text}");
    bad["spec"].as_object_mut().expect("spec").remove("tenant");
    errors.clear();
    validate(&bad, &schema, "", &mut errors);
    assert!(
        errors.iter().any(|e| e == ".spec.tenant: required"),
        "{errors:?}"
    );
}
