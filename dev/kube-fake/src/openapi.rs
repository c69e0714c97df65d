//! OpenAPI v3 documents (`/openapi/v3` and `/openapi/v3/{api/v1|apis/GROUP/VERSION}`), as
//! kubectl uses them: `kubectl explain` reads the schemas (found by their
//! `x-kubernetes-group-version-kind`), and `kubectl apply/create` look for the `fieldValidation`
//! parameter of each kind's PATCH operation to decide that the server validates (so kubectl sends
//! `fieldValidation=Strict` instead of validating on the client). Custom resources publish their
//! CRD's structural schema; built-in kinds publish the schemas of `k8s-openapi`.

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::registry::ResourceType;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// `api/v1` or `apis/{group}/{version}`.
pub(crate) fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The `/openapi/v3` discovery document: one entry per served group version.
pub(crate) fn root(types: &[ResourceType]) -> Value {
    let mut paths = Map::new();
    let gvs: BTreeMap<(String, String), ()> = types
        .iter()
        .map(|t| ((t.group.clone(), t.version.clone()), ()))
        .collect();
    for (group, version) in gvs.keys() {
        let doc = group_version(types, group, version);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        doc.to_string().hash(&mut hasher);
        let path = gv_path(group, version);
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", hasher.finish()) }),
        );
    }
    json!({ "paths": paths })
}

/// The schema name the real server gives a kind: the reversed group, the version and the kind
/// (`dev.nexus.auth.v1alpha1.AuthClient`), or the `k8s-openapi` name of a built-in kind.
fn schema_name(rt: &ResourceType) -> String {
    if let Some(name) = builtin_name(rt) {
        return name.to_string();
    }
    let mut parts: Vec<&str> = rt.group.split('.').collect();
    parts.reverse();
    format!("{}.{}.{}", parts.join("."), rt.version, rt.kind)
}

fn builtin_name(rt: &ResourceType) -> Option<&'static str> {
    if rt.crd.is_some() {
        return None;
    }
    Some(
        match (rt.group.as_str(), rt.version.as_str(), rt.plural.as_str()) {
            ("", "v1", "secrets") => "io.k8s.api.core.v1.Secret",
            ("", "v1", "configmaps") => "io.k8s.api.core.v1.ConfigMap",
            ("", "v1", "namespaces") => "io.k8s.api.core.v1.Namespace",
            ("", "v1", "events") => "io.k8s.api.core.v1.Event",
            ("events.k8s.io", "v1", "events") => "io.k8s.api.events.v1.Event",
            ("coordination.k8s.io", "v1", "leases") => "io.k8s.api.coordination.v1.Lease",
            ("apiextensions.k8s.io", "v1", "customresourcedefinitions") => {
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
            }
            _ => return None,
        },
    )
}

/// The schemas of the built-in kinds (and everything they reference), generated once.
fn builtin_definitions() -> &'static Map<String, Value> {
    static DEFINITIONS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFINITIONS.get_or_init(|| {
        use k8s_openapi::api::{coordination, core, events};
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
        let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
        generator.subschema_for::<core::v1::Secret>();
        generator.subschema_for::<core::v1::ConfigMap>();
        generator.subschema_for::<core::v1::Namespace>();
        generator.subschema_for::<core::v1::Event>();
        generator.subschema_for::<events::v1::Event>();
        generator.subschema_for::<coordination::v1::Lease>();
        generator.subschema_for::<apiext::CustomResourceDefinition>();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>();
        let mut definitions = generator.take_definitions(true);
        for schema in definitions.values_mut() {
            refs_as_all_of(schema);
        }
        definitions
    })
}

/// OpenAPI 3.0 ignores the siblings of a `$ref`; the real server wraps such refs in `allOf`,
/// and kubectl reads descriptions from there.
fn refs_as_all_of(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.len() > 1
                && let Some(reference) = map.remove("$ref")
            {
                map.insert("allOf".into(), json!([{ "$ref": reference }]));
            }
            map.values_mut().for_each(refs_as_all_of);
        }
        Value::Array(items) => items.iter_mut().for_each(refs_as_all_of),
        _ => {}
    }
}

fn gvk(rt: &ResourceType) -> Value {
    json!({ "group": rt.group, "version": rt.version, "kind": rt.kind })
}

/// The published schema of a custom resource: its CRD schema with the standard `apiVersion`,
/// `kind` and `metadata` fields, as the real server publishes it.
fn custom_schema(rt: &ResourceType) -> Value {
    let mut schema = rt
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object"}));
    if let Some(map) = schema.as_object_mut() {
        let properties = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("apiVersion".into(), json!({
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
            }));
            properties.insert("kind".into(), json!({
                "type": "string",
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            }));
            properties.insert("metadata".into(), json!({
                "allOf": [{ "$ref": format!("#/components/schemas/{OBJECT_META}") }],
                "default": {},
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            }));
        }
    }
    schema
}

fn parameter(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "description": description,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn operation(rt: &ResourceType, action: &str, writes: bool) -> Value {
    let mut parameters = vec![parameter(
        "pretty",
        "If 'true', then the output is pretty printed.",
    )];
    if writes {
        parameters.push(parameter(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ));
        parameters.push(parameter(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ));
        parameters.push(parameter(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (the default) and Strict.",
        ));
    }
    let reference = json!({ "$ref": format!("#/components/schemas/{}", schema_name(rt)) });
    json!({
        "description": format!("{action} the specified {}", rt.kind),
        "operationId": format!("{action}{}", rt.kind),
        "parameters": parameters,
        "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": reference } } } },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(rt),
    })
}

fn paths_of(rt: &ResourceType) -> Vec<(String, Value)> {
    let prefix = format!("/{}", gv_path(&rt.group, &rt.version));
    let collection = if rt.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{prefix}/{}", rt.plural)
    };
    let item = format!("{collection}/{{name}}");
    let mut paths = vec![
        (
            collection,
            json!({ "get": operation(rt, "list", false), "post": operation(rt, "post", true) }),
        ),
        (
            item.clone(),
            json!({
                "get": operation(rt, "get", false),
                "put": operation(rt, "put", true),
                "patch": operation(rt, "patch", true),
                "delete": operation(rt, "delete", false),
            }),
        ),
    ];
    if rt.status_subresource {
        paths.push((
            format!("{item}/status"),
            json!({
                "get": operation(rt, "get", false),
                "put": operation(rt, "put", true),
                "patch": operation(rt, "patch", true),
            }),
        ));
    }
    paths
}

/// Adds every schema `schema` references (transitively) from `pool` to `out`.
fn collect_refs(schema: &Value, pool: &Map<String, Value>, out: &mut Map<String, Value>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && !out.contains_key(name)
                && let Some(referenced) = pool.get(name)
            {
                out.insert(name.to_string(), referenced.clone());
                collect_refs(referenced, pool, out);
            }
            map.values().for_each(|v| collect_refs(v, pool, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, pool, out)),
        _ => {}
    }
}

/// The OpenAPI v3 document of one group version.
pub(crate) fn group_version(types: &[ResourceType], group: &str, version: &str) -> Value {
    let pool = builtin_definitions();
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for rt in types
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let name = schema_name(rt);
        let mut schema = if builtin_name(rt).is_some() {
            pool.get(&name)
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}))
        } else {
            custom_schema(rt)
        };
        schema["x-kubernetes-group-version-kind"] = json!([gvk(rt)]);
        collect_refs(&schema, pool, &mut schemas);
        schemas.insert(name, schema);
        for (path, item) in paths_of(rt) {
            paths.insert(path, item);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_custom_kinds_are_published_with_their_gvk_and_patch_parameters() {
        let mut widget = ResourceType::new("example.com", "v1", "widgets", "Widget", true, true);
        widget.crd = Some("widgets.example.com".into());
        widget.schema = Some(
            json!({"type": "object", "properties": {"spec": {"type": "object", "description": "Desired state."}}}),
        );
        let secrets = ResourceType::new("", "v1", "secrets", "Secret", true, false);
        let types = vec![widget, secrets];

        let doc = group_version(&types, "example.com", "v1");
        let schema = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            schema["properties"]["spec"]["description"],
            "Desired state."
        );
        assert_eq!(
            schema["x-kubernetes-group-version-kind"][0]["kind"],
            "Widget"
        );
        assert!(
            doc["components"]["schemas"][OBJECT_META]["properties"]["name"].is_object(),
            "metadata's schema travels with the document"
        );
        let patch =
            &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Widget");
        assert!(
            patch["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        assert!(
            doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status"]
                .is_object()
        );

        let core = group_version(&types, "", "v1");
        let secret = &core["components"]["schemas"]["io.k8s.api.core.v1.Secret"];
        assert!(secret["properties"]["data"].is_object());
        assert!(
            secret["properties"]["metadata"]["allOf"].is_array(),
            "{secret}"
        );

        let root = root(&types);
        let url = root["paths"]["apis/example.com/v1"]["serverRelativeURL"]
            .as_str()
            .expect("url");
        assert!(
            url.starts_with("/openapi/v3/apis/example.com/v1?hash="),
            "{url}"
        );
        assert!(root["paths"]["api/v1"].is_object());
    }
}
