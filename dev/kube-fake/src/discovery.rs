//! Discovery documents: `/version`, `/api`, `/apis`, `/api/v1` and `/apis/{group}/{version}`
//! (the legacy, per-group-version form; kubectl falls back to it when the server answers its
//! aggregated-discovery `Accept` with plain `application/json`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::registry::ResourceType;

/// The Kubernetes version the fake reports.
pub(crate) const MINOR: &str = "33";

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The discovery document at `path`, if `path` is a discovery path.
pub(crate) fn document(types: &[ResourceType], path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => Some(json!({
            "major": "1", "minor": MINOR, "gitVersion": format!("v1.{MINOR}.0-kube-fake"),
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
            "platform": "linux/amd64",
        })),
        ["api"] => Some(json!({
            "kind": "APIVersions", "apiVersion": "v1", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        })),
        ["apis"] => Some(api_group_list(types)),
        ["api", version] => resource_list(types, "", version),
        ["apis", group] => api_group(types, group),
        ["apis", group, version] => resource_list(types, group, version),
        _ => None,
    }
}

fn groups(types: &[ResourceType]) -> BTreeMap<&str, Vec<&str>> {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        let versions = groups.entry(&t.group).or_default();
        if !versions.contains(&t.version.as_str()) {
            versions.push(&t.version);
        }
    }
    groups
}

fn group_json(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

fn api_group_list(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = groups(types)
        .into_iter()
        .map(|(group, versions)| group_json(group, &versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn api_group(types: &[ResourceType], group: &str) -> Option<Value> {
    let groups = groups(types);
    let versions = groups.get(group)?;
    let mut doc = group_json(group, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for t in types
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let mut resource = json!({
            "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
            "kind": t.kind, "verbs": VERBS,
        });
        if !t.short_names.is_empty() {
            resource["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            resource["categories"] = json!(t.categories);
        }
        resources.push(resource);
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural), "singularName": "",
                "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": group_version, "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_groups_resources_short_names_and_subresources() {
        let mut widget = ResourceType::new("example.com", "v1", "widgets", "Widget", false, true)
            .with_short_names(&["wd"]);
        widget.categories = vec!["all".into()];
        let types = vec![
            ResourceType::new("", "v1", "secrets", "Secret", true, false),
            widget,
        ];
        let apis = document(&types, "/apis").expect("apis");
        assert_eq!(apis["groups"][0]["name"], "example.com");
        assert_eq!(
            apis["groups"][0]["preferredVersion"]["groupVersion"],
            "example.com/v1"
        );
        let list = document(&types, "/apis/example.com/v1").expect("list");
        assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
        assert_eq!(list["resources"][0]["categories"], json!(["all"]));
        assert_eq!(list["resources"][1]["name"], "widgets/status");
        assert!(document(&types, "/apis/example.com/v2").is_none());
        assert_eq!(
            document(&types, "/apis/example.com").expect("group")["kind"],
            "APIGroup"
        );
        assert_eq!(
            document(&types, "/api/v1").expect("core")["resources"][0]["name"],
            "secrets"
        );
        assert_eq!(
            document(&types, "/version").expect("version")["minor"],
            MINOR
        );
    }
}
