//! Which resources the fake API server knows about.

/// Description of one served resource: `(group, version, plural)` and what the server needs to
/// know to serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Plural resource name used in paths, e.g. `secrets`.
    pub plural: String,
    /// Kind, e.g. `Secret`.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether the resource has a `/status` subresource (main-resource writes keep `.status`).
    pub status_subresource: bool,
}

impl ResourceType {
    /// Describe a resource.
    pub fn new(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        status_subresource: bool,
    ) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            kind: kind.to_string(),
            namespaced,
            status_subresource,
        }
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The set of known resources.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        let types = vec![
            ResourceType::new("", "v1", "secrets", "Secret", true, false),
            ResourceType::new("", "v1", "configmaps", "ConfigMap", true, false),
            ResourceType::new("", "v1", "events", "Event", true, false),
            ResourceType::new("", "v1", "namespaces", "Namespace", false, true),
            ResourceType::new("events.k8s.io", "v1", "events", "Event", true, false),
            ResourceType::new("coordination.k8s.io", "v1", "leases", "Lease", true, false),
            ResourceType::new(
                "auth.nexus.dev",
                "v1alpha1",
                "authclients",
                "AuthClient",
                true,
                true,
            ),
            ResourceType::new(
                "auth.nexus.dev",
                "v1alpha1",
                "authtenants",
                "AuthTenant",
                false,
                true,
            ),
            ResourceType::new(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                true,
            ),
        ];
        Self { types }
    }
}

impl Registry {
    /// Add or replace a resource type (keyed by group, version, plural).
    pub fn register(&mut self, rt: ResourceType) {
        self.types
            .retain(|t| !(t.group == rt.group && t.version == rt.version && t.plural == rt.plural));
        self.types.push(rt);
    }

    /// Look up by path components.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Look up by `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
    }

    /// All known types.
    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }
}
