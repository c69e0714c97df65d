//! The manifests in `examples/` validate against the generated CRD schemas (the structural check
//! the embedded API server applies: known names, types, enums, required fields, string and number
//! bounds, patterns) and deserialize into the operator's own types.

use std::path::{Path, PathBuf};

use nexus_crd::{AuthClient, AuthResourceServer, AuthTenant};
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
        "AuthResourceServer" => "crds/authresourceservers.yaml",
        other => panic!("no CRD for {other}"),
    };
    let crd = yaml_documents(&root(file)).remove(0);
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Every problem the API server would find: fields it would prune, then schema violations
/// (the same validator the embedded API applies to every write).
fn problems(value: &Value, schema: &Value) -> Vec<String> {
    let mut pruned = value.clone();
    let mut errors: Vec<String> = kube_fake::schema::prune(&mut pruned, schema)
        .into_iter()
        .map(|path| format!("{path}: unknown field (pruned by the API server)"))
        .collect();
    errors.extend(
        kube_fake::schema::validate(value, schema)
            .iter()
            .map(kube_fake::schema::Cause::render),
    );
    errors
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
            let errors = problems(&doc, &crd_schema(&kind));
            assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
            match kind.as_str() {
                "AuthClient" => {
                    drop(serde_json::from_value::<AuthClient>(doc).expect("typed AuthClient"))
                }
                "AuthTenant" => {
                    drop(serde_json::from_value::<AuthTenant>(doc).expect("typed AuthTenant"))
                }
                "AuthResourceServer" => drop(
                    serde_json::from_value::<AuthResourceServer>(doc)
                        .expect("typed AuthResourceServer"),
                ),
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
    let text = problems(&bad, &schema).join("\n");
    assert!(
        text.contains("spec.client.name: Invalid value: \"\": spec.client.name in body should be at least 1 chars long"),
        "{text}"
    );
    assert!(text.contains("spec.client.colour: unknown field"), "{text}");
    assert!(
        text.contains("spec.client.callbacks: Invalid value"),
        "{text}"
    );
    assert!(
        text.contains("spec.deletionPolicy: Unsupported value"),
        "{text}"
    );
    bad["spec"].as_object_mut().expect("spec").remove("tenant");
    assert!(
        problems(&bad, &schema)
            .iter()
            .any(|e| e == "spec.tenant: Required value"),
        "{text}"
    );
}
