//! Which resources the fake API server knows about: the built-in ones it starts with, and those
//! that installed CustomResourceDefinitions serve (see [`crate::crd`]).

use serde_json::Value;

/// An additional printer column of a custom resource (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// OpenAPI format (`name`, ...), may be empty.
    pub format: String,
    /// Column description.
    pub description: String,
    /// 0 for the default view, higher for `-o wide`.
    pub priority: i64,
    /// Simple JSONPath into the object, e.g. `.status.conditions[?(@.type=="Ready")].status`.
    pub json_path: String,
}

/// Description of one served resource: `(group, version, plural)` and what the server needs to
/// know to serve it.
#[derive(Debug, Clone, PartialEq)]
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
    /// Singular name (discovery's `singularName`), e.g. `secret`.
    pub singular: String,
    /// Short names for kubectl, e.g. `ns`.
    pub short_names: Vec<String>,
    /// Categories for kubectl (`kubectl get all`, `kubectl get nexus`).
    pub categories: Vec<String>,
    /// Printer columns of a custom resource (built-in kinds have their own, in `table`).
    pub printer_columns: Vec<PrinterColumn>,
    /// The structural `openAPIV3Schema` of a custom resource: writes are validated, pruned and
    /// defaulted against it, and it is published in the OpenAPI documents.
    pub schema: Option<Value>,
    /// The CustomResourceDefinition serving this resource (`None` for built-in resources).
    pub crd: Option<String>,
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
            singular: kind.to_lowercase(),
            short_names: Vec::new(),
            categories: Vec::new(),
            printer_columns: Vec::new(),
            schema: None,
            crd: None,
        }
    }

    /// The same resource with these short names.
    pub fn with_short_names(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|n| (*n).to_string()).collect();
        self
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
            ResourceType::new("", "v1", "configmaps", "ConfigMap", true, false)
                .with_short_names(&["cm"]),
            ResourceType::new("", "v1", "events", "Event", true, false).with_short_names(&["ev"]),
            ResourceType::new("", "v1", "namespaces", "Namespace", false, true)
                .with_short_names(&["ns"]),
            ResourceType::new("events.k8s.io", "v1", "events", "Event", true, false)
                .with_short_names(&["ev"]),
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
            )
            .with_short_names(&["crd", "crds"]),
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

    /// Stop serving the resources of a deleted CustomResourceDefinition; returns them.
    pub fn unregister_crd(&mut self, crd: &str) -> Vec<ResourceType> {
        let (gone, kept) = std::mem::take(&mut self.types)
            .into_iter()
            .partition(|t| t.crd.as_deref() == Some(crd));
        self.types = kept;
        gone
    }
}
