//! CustomResourceDefinitions: what a stored CRD makes the server serve, as on the real API
//! server's apiextensions side (names, scope, versions, the status subresource, printer
//! columns and the structural schema).

use serde_json::Value;

use super::registry::{PrinterColumn, ResourceType};

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| PrinterColumn {
            name: text(c, "/name"),
            type_: text(c, "/type"),
            format: text(c, "/format"),
            description: text(c, "/description"),
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
            json_path: text(c, "/jsonPath"),
        })
        .collect()
}

/// The resource types a CRD object serves: one per served version. Empty when the CRD lacks
/// group, names or versions (the real server rejects such a CRD; the fake serves nothing).
pub(crate) fn served_types(crd: &Value) -> Vec<ResourceType> {
    let name = text(crd, "/metadata/name");
    let group = text(crd, "/spec/group");
    let plural = text(crd, "/spec/names/plural");
    let kind = text(crd, "/spec/names/kind");
    if name.is_empty() || group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let namespaced = text(crd, "/spec/scope") != "Cluster";
    let singular = match text(crd, "/spec/names/singular") {
        s if s.is_empty() => kind.to_lowercase(),
        s => s,
    };
    let short_names = strings(crd.pointer("/spec/names/shortNames"));
    let categories = strings(crd.pointer("/spec/names/categories"));
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .filter_map(|v| {
            let version = v.get("name").and_then(Value::as_str)?;
            let status = v.pointer("/subresources/status").is_some();
            let mut rt = ResourceType::new(&group, version, &plural, &kind, namespaced, status);
            rt.singular = singular.clone();
            rt.short_names = short_names.clone();
            rt.categories = categories.clone();
            rt.printer_columns = printer_columns(v);
            rt.schema = v.pointer("/schema/openAPIV3Schema").cloned();
            rt.crd = Some(name.clone());
            Some(rt)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_crd_serves_its_versions_with_names_columns_and_schema() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size", "priority": 1}],
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v0", "served": false, "storage": false},
                ],
            },
        });
        let types = served_types(&crd);
        assert_eq!(types.len(), 1, "unserved versions are not served");
        let rt = &types[0];
        assert_eq!(
            (rt.group.as_str(), rt.version.as_str(), rt.plural.as_str()),
            ("example.com", "v1", "widgets")
        );
        assert!(!rt.namespaced && rt.status_subresource);
        assert_eq!(rt.singular, "widget");
        assert_eq!(rt.short_names, ["wd"]);
        assert_eq!(rt.categories, ["all"]);
        assert_eq!(rt.printer_columns[0].json_path, ".spec.size");
        assert_eq!(rt.printer_columns[0].priority, 1);
        assert_eq!(rt.schema, Some(json!({"type": "object"})));
        assert_eq!(rt.crd.as_deref(), Some("widgets.example.com"));
        assert!(served_types(&json!({"metadata": {"name": "x"}})).is_empty());
    }
}
