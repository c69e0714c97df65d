//! Parsing of Kubernetes API paths.

/// A parsed resource path such as `/apis/g/v1/namespaces/ns/plural/name/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiPath {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parse a resource path. Returns `None` for paths that are not resource paths (discovery etc.).
pub(crate) fn parse(path: &str) -> Option<ApiPath> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => (String::new(), (*version).to_string(), rest),
        ["apis", group, version, rest @ ..] => ((*group).to_string(), (*version).to_string(), rest),
        _ => return None,
    };
    let make =
        |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| ApiPath {
            group: group.clone(),
            version: version.clone(),
            plural: plural.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        };
    let parsed = match rest {
        [] => return None,
        // `/api/v1/namespaces/{name}/status|finalize` is the namespace's own subresource.
        ["namespaces", name, sub @ ("status" | "finalize")] => {
            make("namespaces", None, Some(name), Some(sub))
        }
        ["namespaces", ns, plural, tail @ ..] => match tail {
            [] => make(plural, Some(ns), None, None),
            [name] => make(plural, Some(ns), Some(name), None),
            [name, sub] => make(plural, Some(ns), Some(name), Some(sub)),
            _ => return None,
        },
        [plural] => make(plural, None, None, None),
        [plural, name] => make(plural, None, Some(name), None),
        [plural, name, sub] => make(plural, None, Some(name), Some(sub)),
        _ => return None,
    };
    if parsed.plural.is_empty() || parsed.name.as_deref() == Some("") {
        return None;
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_and_group_paths() {
        let p = parse("/api/v1/namespaces/ns1/secrets/s").expect("path");
        assert_eq!((p.group.as_str(), p.plural.as_str()), ("", "secrets"));
        assert_eq!(p.namespace.as_deref(), Some("ns1"));
        assert_eq!(p.name.as_deref(), Some("s"));
        let p = parse("/apis/auth.nexus.dev/v1alpha1/namespaces/ns/authclients/x/status")
            .expect("path");
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let p = parse("/api/v1/secrets").expect("path");
        assert_eq!((p.namespace, p.name), (None, None));
        let p = parse("/api/v1/namespaces/foo").expect("path");
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref()),
            ("namespaces", Some("foo"))
        );
        let p = parse("/api/v1/namespaces/foo/status").expect("path");
        assert_eq!(p.subresource.as_deref(), Some("status"));
        assert!(parse("/version").is_none());
    }
}
