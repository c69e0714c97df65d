//! An opt-in RBAC authorizer, for tests that prove a component works under exactly a given set
//! of Roles and ClusterRoles.
//!
//! [`crate::FakeKube::authorize`] gives a *subject* an [`RbacPolicy`]; requests of a client made
//! by [`crate::FakeKube::client_as`] carry that subject and are authorized the way the real API
//! server's RBAC authorizer does it: the request's attributes are derived as the API server's
//! `RequestInfo` does ([`Attributes::of`]: the verb from the method, `watch=true` and the name;
//! for list and watch the name of a `metadata.name` field selector, so `resourceNames` can
//! authorize single-object list/watch, as Kubernetes does since 1.11), rules bound in a
//! namespace apply only there, and a server-side apply that would create the object also needs
//! `create`. A refused request gets the real 403 `Forbidden` Status and is recorded
//! ([`crate::FakeKube::denials`]). Non-resource `GET`s (discovery, OpenAPI, version) are
//! allowed to everyone, as the default `system:discovery` binding does.
//!
//! Clients made by [`crate::FakeKube::client`] (and plain HTTP requests without the subject
//! header) are not authorized at all: they are the test's administrator. This is a test
//! device, not security: the subject is a request header anyone on the loopback port can set.

use std::collections::{BTreeMap, HashMap};

use crate::error::ApiError;

/// The request header naming the subject of a [`crate::FakeKube::client_as`] client.
pub const SUBJECT_HEADER: &str = "x-kube-fake-subject";

/// One resource rule of a Role or ClusterRole (`rbac.authorization.k8s.io/v1` PolicyRule).
/// `"*"` matches every group, resource or verb; `"*/status"` every resource's status
/// subresource; empty `resource_names` every name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRule {
    /// API groups (`""` is the core group).
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource` for subresources.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Object names the rule is limited to (empty: all).
    pub resource_names: Vec<String>,
}

impl PolicyRule {
    /// A rule for `verbs` on `resources` of `api_groups`, every name.
    pub fn new(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> Self {
        let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        Self {
            api_groups: owned(api_groups),
            resources: owned(resources),
            verbs: owned(verbs),
            resource_names: Vec::new(),
        }
    }

    /// The same rule limited to `names`.
    pub fn named(mut self, names: &[&str]) -> Self {
        self.resource_names = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Whether the rule allows the request (namespaces aside).
    pub fn allows(&self, request: &Attributes) -> bool {
        let any = |items: &[String], value: &str| items.iter().any(|i| i == "*" || i == value);
        let resource_matches = self.resources.iter().any(|r| {
            r == "*"
                || *r == request.resource_path()
                || request
                    .subresource
                    .as_deref()
                    .is_some_and(|sub| *r == format!("*/{sub}"))
        });
        any(&self.verbs, &request.verb)
            && any(&self.api_groups, &request.api_group)
            && resource_matches
            && (self.resource_names.is_empty()
                || request
                    .name
                    .as_deref()
                    .is_some_and(|n| self.resource_names.iter().any(|r| r == n)))
    }
}

/// What one subject may do: rules bound cluster-wide (a ClusterRole with a ClusterRoleBinding)
/// and rules bound in one namespace (a Role, or a ClusterRole, with a RoleBinding there).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RbacPolicy {
    cluster: Vec<PolicyRule>,
    namespaced: Vec<(String, PolicyRule)>,
}

impl RbacPolicy {
    /// An empty policy (everything but discovery is refused).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule bound cluster-wide.
    pub fn cluster(mut self, rule: PolicyRule) -> Self {
        self.cluster.push(rule);
        self
    }

    /// Adds a rule bound in `namespace` only.
    pub fn namespaced(mut self, namespace: &str, rule: PolicyRule) -> Self {
        self.namespaced.push((namespace.to_owned(), rule));
        self
    }

    /// Whether the policy allows the request.
    pub fn allows(&self, request: &Attributes) -> bool {
        self.cluster.iter().any(|rule| rule.allows(request))
            || self.namespaced.iter().any(|(namespace, rule)| {
                request.namespace.as_deref() == Some(namespace.as_str()) && rule.allows(request)
            })
    }
}

/// The authorization attributes of a resource request, derived as the API server does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// API group (`""` for core).
    pub api_group: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource (`status`), if any.
    pub subresource: Option<String>,
    /// Namespace of the request (`None`: cluster scope). A request for a Namespace object
    /// (`/api/v1/namespaces/x`) is in namespace `x`, as in the API server.
    pub namespace: Option<String>,
    /// The object's name: from the path, or for list and watch from a `metadata.name` field
    /// selector (`fieldSelector=metadata.name=x`).
    pub name: Option<String>,
}

impl Attributes {
    /// The attributes of a request; `None` for a non-resource request (discovery, OpenAPI,
    /// `/version`) or a method no verb maps to.
    pub fn of(method: &str, path: &str, query: &BTreeMap<String, String>) -> Option<Self> {
        let p = crate::path::parse(path)?;
        let namespace = match (&p.namespace, p.plural.as_str(), &p.name) {
            (Some(ns), _, _) => Some(ns.clone()),
            (None, "namespaces", Some(name)) => Some(name.clone()),
            _ => None,
        };
        let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
        let verb = match (method.to_ascii_uppercase().as_str(), p.name.is_some()) {
            ("GET" | "HEAD", true) => "get",
            ("GET" | "HEAD", false) if watch => "watch",
            ("GET" | "HEAD", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => return None,
        };
        let name = match (&p.name, verb) {
            (Some(name), _) => Some(name.clone()),
            (None, "list" | "watch") => query
                .get("fieldSelector")
                .and_then(|selector| exact_name(selector)),
            _ => None,
        };
        Some(Self {
            verb: verb.to_owned(),
            api_group: p.group,
            resource: p.plural,
            subresource: p.subresource,
            namespace,
            name,
        })
    }

    /// `resource` or `resource/subresource`.
    pub fn resource_path(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// The same request with another verb (a server-side apply that creates also needs
    /// `create`).
    pub fn with_verb(&self, verb: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            ..self.clone()
        }
    }

    /// The API server's message for refusing this request to `subject`.
    pub fn forbidden_message(&self, subject: &str) -> String {
        let qualified = if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        };
        let target = match &self.name {
            Some(name) => format!("{qualified} {name:?}"),
            None => qualified,
        };
        let scope = match &self.namespace {
            Some(ns) => format!("in the namespace {ns:?}"),
            None => "at the cluster scope".to_owned(),
        };
        format!(
            "{target} is forbidden: User {subject:?} cannot {} resource {:?} in API group {:?} {scope}",
            self.verb,
            self.resource_path(),
            self.api_group
        )
    }
}

/// The name a field selector requires exactly (`metadata.name=x` or `metadata.name==x`, alone
/// or among other terms), as the API server's `RequiresExactMatch("metadata.name")`.
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        if term.contains("!=") {
            return None;
        }
        let (field, value) = term.split_once("==").or_else(|| term.split_once('='))?;
        (field.trim() == "metadata.name" && !value.is_empty()).then(|| value.trim().to_owned())
    })
}

/// A request the authorizer refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The subject.
    pub subject: String,
    /// HTTP method.
    pub method: String,
    /// Path (without the query).
    pub path: String,
    /// What was refused (for a creating server-side apply: the `create`).
    pub attributes: Attributes,
}

/// The policies and the refusals, behind the server's lock.
#[derive(Debug, Default)]
pub(crate) struct Authorizer {
    policies: HashMap<String, RbacPolicy>,
    pub(crate) denials: Vec<Denial>,
}

/// One request, as the authorizer sees it.
pub(crate) struct Request<'a> {
    pub subject: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a BTreeMap<String, String>,
    pub content_type: Option<&'a str>,
}

impl Authorizer {
    pub(crate) fn set(&mut self, subject: &str, policy: RbacPolicy) {
        self.policies.insert(subject.to_owned(), policy);
    }

    /// Authorizes `request`; `exists` tells whether the named object exists (a server-side
    /// apply of a missing object creates it, which needs `create` too).
    pub(crate) fn authorize(
        &mut self,
        request: &Request<'_>,
        exists: impl FnOnce() -> bool,
    ) -> Result<(), ApiError> {
        let Some(subject) = request.subject else {
            return Ok(());
        };
        let Some(attributes) = Attributes::of(request.method, request.path, request.query) else {
            if request.method.eq_ignore_ascii_case("GET") {
                return Ok(());
            }
            return Err(ApiError::new(
                403,
                format!(
                    "forbidden: User {subject:?} cannot {} path {:?}",
                    request.method.to_ascii_lowercase(),
                    request.path
                ),
            ));
        };
        let policy = self.policies.get(subject);
        let allowed = |a: &Attributes| policy.is_some_and(|p| p.allows(a));
        let refused = if !allowed(&attributes) {
            Some(attributes)
        } else {
            let apply = request.method.eq_ignore_ascii_case("PATCH")
                && request
                    .content_type
                    .is_some_and(|c| c.starts_with("application/apply-patch"));
            let create = attributes.with_verb("create");
            (apply && attributes.subresource.is_none() && !exists() && !allowed(&create))
                .then_some(create)
        };
        let Some(attributes) = refused else {
            return Ok(());
        };
        let mut error = ApiError::new(403, attributes.forbidden_message(subject));
        error.details = Some(serde_json::json!({
            "name": attributes.name.clone().unwrap_or_default(),
            "group": attributes.api_group,
            "kind": attributes.resource,
        }));
        self.denials.push(Denial {
            subject: subject.to_owned(),
            method: request.method.to_owned(),
            path: request.path.to_owned(),
            attributes,
        });
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Attributes::of(method, path, &query).expect("resource request")
    }

    #[test]
    fn attributes_as_the_api_server_derives_them() {
        let a = attrs("GET", "/api/v1/namespaces/ns/secrets", &[]);
        assert_eq!((a.verb.as_str(), a.name.as_deref()), ("list", None));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/ns/secrets",
            &[("watch", "true"), ("fieldSelector", "metadata.name=creds")],
        );
        assert_eq!(a.verb, "watch");
        assert_eq!(a.name.as_deref(), Some("creds"));
        assert_eq!(a.namespace.as_deref(), Some("ns"));
        let a = attrs(
            "GET",
            "/api/v1/secrets",
            &[("fieldSelector", "type=x,metadata.name==creds")],
        );
        assert_eq!((a.name.as_deref(), a.namespace), (Some("creds"), None));
        let a = attrs(
            "GET",
            "/api/v1/secrets",
            &[("fieldSelector", "metadata.name!=creds")],
        );
        assert_eq!(a.name, None);
        let a = attrs("GET", "/api/v1/namespaces/team-a", &[]);
        assert_eq!(
            (
                a.resource.as_str(),
                a.namespace.as_deref(),
                a.name.as_deref()
            ),
            ("namespaces", Some("team-a"), Some("team-a"))
        );
        let a = attrs(
            "PATCH",
            "/apis/auth.nexus.dev/v1alpha1/namespaces/ns/authclients/x/status",
            &[],
        );
        assert_eq!(a.resource_path(), "authclients/status");
        assert_eq!(a.api_group, "auth.nexus.dev");
        assert_eq!(
            attrs("POST", "/api/v1/namespaces/ns/secrets", &[]).verb,
            "create"
        );
        assert_eq!(
            attrs("DELETE", "/api/v1/namespaces/ns/secrets", &[]).verb,
            "deletecollection"
        );
        assert!(Attributes::of("GET", "/apis", &BTreeMap::new()).is_none());
    }

    #[test]
    fn rules_match_like_rbac() {
        let watch_one = attrs(
            "GET",
            "/api/v1/namespaces/ns/secrets",
            &[("watch", "1"), ("fieldSelector", "metadata.name=creds")],
        );
        let watch_all = attrs("GET", "/api/v1/namespaces/ns/secrets", &[("watch", "1")]);
        let named =
            PolicyRule::new(&[""], &["secrets"], &["get", "list", "watch"]).named(&["creds"]);
        assert!(named.allows(&watch_one));
        assert!(
            !named.allows(&watch_all),
            "resourceNames need the field selector"
        );
        let policy = RbacPolicy::new().namespaced("ns", named.clone());
        assert!(policy.allows(&watch_one));
        let elsewhere = attrs(
            "GET",
            "/api/v1/namespaces/other/secrets",
            &[("watch", "1"), ("fieldSelector", "metadata.name=creds")],
        );
        assert!(
            !policy.allows(&elsewhere),
            "a Role applies in its namespace only"
        );
        let cluster = RbacPolicy::new().cluster(named);
        assert!(
            cluster.allows(&elsewhere),
            "a ClusterRoleBinding applies everywhere"
        );
        let status = attrs(
            "PATCH",
            "/apis/auth.nexus.dev/v1alpha1/namespaces/ns/authclients/x/status",
            &[],
        );
        assert!(
            !PolicyRule::new(&["auth.nexus.dev"], &["authclients"], &["patch"]).allows(&status)
        );
        assert!(PolicyRule::new(&["auth.nexus.dev"], &["*/status"], &["patch"]).allows(&status));
        assert!(PolicyRule::new(&["*"], &["*"], &["*"]).allows(&status));
        let create = attrs("POST", "/api/v1/namespaces/ns/secrets", &[]);
        assert!(
            !PolicyRule::new(&[""], &["secrets"], &["create"])
                .named(&["x"])
                .allows(&create),
            "create cannot be limited by name"
        );
        assert_eq!(
            watch_all.forbidden_message("system:serviceaccount:ops:op"),
            "secrets is forbidden: User \"system:serviceaccount:ops:op\" cannot watch resource \"secrets\" in API group \"\" in the namespace \"ns\""
        );
        assert_eq!(
            attrs("GET", "/apis/auth.nexus.dev/v1alpha1/authtenants/acme", &[])
                .forbidden_message("u"),
            "authtenants.auth.nexus.dev \"acme\" is forbidden: User \"u\" cannot get resource \"authtenants\" in API group \"auth.nexus.dev\" at the cluster scope"
        );
    }
}
