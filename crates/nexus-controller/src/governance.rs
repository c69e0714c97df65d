//! Who may hold what: the pure decisions behind an `AuthClient`'s `spec.grants` and
//! `spec.connections`, from the caches (no I/O).
//!
//! A namespace may hold scopes on an audience when
//! - an `AuthResourceServer` of the same tenant holds that identifier (it created or adopted the
//!   Auth0 API), allows the namespace (its own namespace always; others through
//!   `spec.grants.allowedNamespaces`) and declares the scopes; or
//! - the AuthTenant's `spec.grantableAudiences` lists the audience for the namespace (with any
//!   scope, or the listed ones).
//!
//! The tenant's Management API (`https://{domain}/api/v2/`) is grantable only through the second
//! rule. A new grant (or a new scope) additionally needs the granting AuthResourceServer to be
//! Ready for its current generation; while it is not, the grant waits
//! (`ResourceServerNotReady`). What a namespace may no longer hold is revoked: see
//! [`Governance::may_hold`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::ResourceExt;

use crate::pass::Failure;
use crate::tenant_access::namespaces_match;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::resource_validation::management_audience;
use nexus_crd::{AuthResourceServer, AuthTenant, ClientGrantSpec, GrantStatus, ReadyReason};

/// A set of scopes a namespace may hold on one audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scopes {
    /// Any scope (`grantableAudiences` entry without a scope list).
    Any,
    /// Only these.
    Only(BTreeSet<String>),
}

impl Scopes {
    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        match self {
            Scopes::Any => true,
            Scopes::Only(set) => set.contains(scope),
        }
    }

    /// The union of two sets.
    pub fn union(self, other: Scopes) -> Scopes {
        match (self, other) {
            (Scopes::Any, _) | (_, Scopes::Any) => Scopes::Any,
            (Scopes::Only(mut a), Scopes::Only(b)) => {
                a.extend(b);
                Scopes::Only(a)
            }
        }
    }

    /// The members of `scopes` in this set, in their order.
    pub fn filter<'a>(&self, scopes: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        scopes
            .into_iter()
            .filter(|s| self.contains(s))
            .cloned()
            .collect()
    }
}

fn union(a: Option<Scopes>, b: Option<Scopes>) -> Option<Scopes> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.union(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// What the caches say about one requested grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantDecision {
    /// Every requested scope may be granted now.
    Allowed,
    /// The grant is allowed by an AuthResourceServer that is not Ready yet.
    Pending(String),
    /// Not allowed; the message names the audience and what is missing.
    NotAllowed(String),
}

/// Everything the decisions are made from.
#[derive(Clone, Copy, Debug)]
pub struct Governance<'a> {
    /// The client's tenant.
    pub tenant: &'a AuthTenant,
    /// The client's namespace.
    pub namespace: &'a str,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The cached AuthResourceServers (every tenant; filtered here).
    pub servers: &'a [Arc<AuthResourceServer>],
}

/// Whether an AuthResourceServer is Ready for its current generation and holds its
/// identifier.
pub fn server_ready(server: &AuthResourceServer) -> bool {
    server.holds_identifier()
        && server.status.as_ref().is_some_and(|s| {
            conditions::find(&s.conditions, READY).is_some_and(|c| {
                ConditionStatus::of(c) == Some(ConditionStatus::True)
                    && c.observed_generation == server.metadata.generation
            })
        })
}

fn server_ref(server: &AuthResourceServer) -> String {
    format!(
        "{}/{}",
        server.namespace().unwrap_or_default(),
        server.name_any()
    )
}

fn quoted(scopes: &BTreeSet<&str>) -> String {
    scopes
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Governance<'_> {
    fn tenant_name(&self) -> String {
        self.tenant.name_any()
    }

    /// The Management API audience of the tenant.
    pub fn management_audience(&self) -> String {
        management_audience(&self.tenant.spec.domain)
    }

    fn is_management(&self, audience: &str) -> bool {
        audience.trim_end_matches('/') == self.management_audience().trim_end_matches('/')
    }

    /// The AuthResourceServers of this tenant with identifier `audience` (not being deleted).
    fn servers_for<'s>(
        &'s self,
        audience: &'s str,
    ) -> impl Iterator<Item = &'s AuthResourceServer> {
        let tenant = self.tenant_name();
        self.servers.iter().map(|s| &**s).filter(move |s| {
            s.spec.tenant == tenant
                && s.spec.identifier == audience
                && s.metadata.deletion_timestamp.is_none()
        })
    }

    /// Whether `server` lets this namespace request grants.
    pub fn server_allows(&self, server: &AuthResourceServer) -> bool {
        server.namespace().as_deref() == Some(self.namespace)
            || namespaces_match(
                &server.spec.grants.allowed_namespaces,
                self.namespace,
                self.labels,
            )
    }

    /// What the tenant's `grantableAudiences` let the namespace hold on `audience`.
    fn tenant_grantable(&self, audience: &str) -> Option<Scopes> {
        self.tenant
            .spec
            .grantable_audiences
            .iter()
            .filter(|g| g.audience == audience)
            .filter(|g| namespaces_match(&g.namespaces, self.namespace, self.labels))
            .map(|g| match &g.scopes {
                None => Scopes::Any,
                Some(list) => Scopes::Only(list.iter().cloned().collect()),
            })
            .reduce(Scopes::union)
    }

    /// What the namespace may hold on `audience` now, whether or not the granting
    /// AuthResourceServer is Ready: the scopes an existing grant may keep. `None`: nothing (the
    /// grant must go).
    pub fn may_hold(&self, audience: &str) -> Option<Scopes> {
        let by_server = if self.is_management(audience) {
            None
        } else {
            self.servers_for(audience)
                .filter(|s| s.holds_identifier() && self.server_allows(s))
                .map(|s| Scopes::Only(s.scope_values().map(str::to_owned).collect()))
                .reduce(Scopes::union)
        };
        union(by_server, self.tenant_grantable(audience))
    }

    /// Decides one requested grant.
    pub fn decide(&self, grant: &ClientGrantSpec) -> GrantDecision {
        let audience = grant.audience.as_str();
        let requested: BTreeSet<&str> = grant.scopes.iter().map(String::as_str).collect();
        let by_tenant = self.tenant_grantable(audience);
        let covers = |scopes: &Option<Scopes>| {
            scopes
                .as_ref()
                .is_some_and(|s| requested.iter().all(|r| s.contains(r)))
        };
        let missing = |scopes: &Option<Scopes>| -> BTreeSet<&str> {
            requested
                .iter()
                .copied()
                .filter(|r| !scopes.as_ref().is_some_and(|s| s.contains(r)))
                .collect()
        };
        if self.is_management(audience) {
            if covers(&by_tenant) {
                return GrantDecision::Allowed;
            }
            return GrantDecision::NotAllowed(match by_tenant {
                Some(_) => format!(
                    "grant to '{audience}': scopes {} of the Management API are not listed for namespace '{}' in the AuthTenant's spec.grantableAudiences",
                    quoted(&missing(&by_tenant)),
                    self.namespace
                ),
                None => format!(
                    "grant to '{audience}': the tenant's Management API is grantable only when the AuthTenant's spec.grantableAudiences lists it for namespace '{}'",
                    self.namespace
                ),
            });
        }
        let servers: Vec<&AuthResourceServer> = self.servers_for(audience).collect();
        let allowing: Vec<&&AuthResourceServer> =
            servers.iter().filter(|s| self.server_allows(s)).collect();
        let declared = |list: &mut dyn Iterator<Item = &&&AuthResourceServer>| {
            list.map(|s| Scopes::Only(s.scope_values().map(str::to_owned).collect()))
                .reduce(Scopes::union)
        };
        let ready_now = union(
            by_tenant.clone(),
            declared(&mut allowing.iter().filter(|s| server_ready(s))),
        );
        if covers(&ready_now) {
            return GrantDecision::Allowed;
        }
        let eventually = union(by_tenant.clone(), declared(&mut allowing.iter()));
        if covers(&eventually) {
            let waiting: Vec<String> = allowing
                .iter()
                .filter(|s| !server_ready(s))
                .map(|s| {
                    let reason = s
                        .status
                        .as_ref()
                        .and_then(|st| conditions::find(&st.conditions, READY))
                        .map(|c| c.reason.clone())
                        .unwrap_or_else(|| "not reconciled yet".to_owned());
                    format!("AuthResourceServer {} ({reason})", server_ref(s))
                })
                .collect();
            return GrantDecision::Pending(format!(
                "grant to '{audience}' waits for {} to be Ready",
                waiting.join(", ")
            ));
        }
        if servers.is_empty() && by_tenant.is_none() {
            return GrantDecision::NotAllowed(format!(
                "grant to '{audience}': no AuthResourceServer of tenant '{}' has this identifier, and the AuthTenant's spec.grantableAudiences does not list it for namespace '{}'",
                self.tenant_name(),
                self.namespace
            ));
        }
        if allowing.is_empty() && by_tenant.is_none() {
            let names: Vec<String> = servers.iter().map(|s| server_ref(s)).collect();
            return GrantDecision::NotAllowed(format!(
                "grant to '{audience}': namespace '{}' is not in spec.grants.allowedNamespaces of AuthResourceServer {}",
                self.namespace,
                names.join(", ")
            ));
        }
        let mut sources: Vec<String> = allowing
            .iter()
            .map(|s| {
                let values: Vec<&str> = s.scope_values().collect();
                format!(
                    "AuthResourceServer {} declares: {}",
                    server_ref(s),
                    if values.is_empty() {
                        "none".to_owned()
                    } else {
                        values.join(", ")
                    }
                )
            })
            .collect();
        if let Some(Scopes::Only(listed)) = &by_tenant {
            sources.push(format!(
                "the AuthTenant's spec.grantableAudiences allows: {}",
                listed.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        GrantDecision::NotAllowed(format!(
            "grant to '{audience}': scopes {} are not allowed ({})",
            quoted(&missing(&eventually)),
            sources.join("; ")
        ))
    }

    /// Whether `held` has exactly the requested grant, and the namespace may keep it.
    fn holds_as_requested(&self, grant: &ClientGrantSpec, held: &[GrantStatus]) -> bool {
        let requested: BTreeSet<&String> = grant.scopes.iter().collect();
        held.iter().any(|h| {
            h.audience == grant.audience && h.scopes.iter().collect::<BTreeSet<_>>() == requested
        }) && self
            .may_hold(&grant.audience)
            .is_some_and(|may| grant.scopes.iter().all(|s| may.contains(s)))
    }

    /// Whether the namespace may enable its clients on connection `name`.
    pub fn connection_allowed(&self, name: &str) -> bool {
        match &self.tenant.spec.allowed_connections {
            None => true,
            Some(list) => list.iter().any(|c| {
                c.name == name && namespaces_match(&c.namespaces, self.namespace, self.labels)
            }),
        }
    }

    /// The refusal of a spec whose grants or connections are not (yet) allowed: one failure
    /// naming every problem, in spec order. `None`: everything is allowed. A grant that waits
    /// for its AuthResourceServer but is already `held` exactly as requested does not wait
    /// (an API being updated does not disturb its clients).
    pub fn refusal(
        &self,
        grants: &[ClientGrantSpec],
        connections: &[String],
        held: &[GrantStatus],
    ) -> Option<Failure> {
        let mut denied = Vec::new();
        let mut pending = Vec::new();
        for grant in grants {
            match self.decide(grant) {
                GrantDecision::Allowed => {}
                GrantDecision::Pending(_) if self.holds_as_requested(grant, held) => {}
                GrantDecision::Pending(message) => pending.push(message),
                GrantDecision::NotAllowed(message) => denied.push(message),
            }
        }
        let grants_denied = !denied.is_empty();
        for name in connections {
            if !self.connection_allowed(name) {
                denied.push(format!(
                    "connection '{name}' is not allowed for namespace '{}' by the AuthTenant's spec.allowedConnections",
                    self.namespace
                ));
            }
        }
        let reason = if grants_denied {
            ReadyReason::GrantNotAllowed
        } else if !denied.is_empty() {
            ReadyReason::ConnectionNotAllowed
        } else if !pending.is_empty() {
            ReadyReason::ResourceServerNotReady
        } else {
            return None;
        };
        denied.extend(pending);
        Some(Failure::permanent(reason, denied.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
    use k8s_openapi::jiff::Timestamp;
    use nexus_crd::conditions::new_condition;
    use serde_json::json;

    fn tenant(extra: serde_json::Value) -> AuthTenant {
        let mut spec = json!({
            "domain": "acme.eu.auth0.com",
            "credentialsSecretRef": {"namespace": "ops", "name": "m2m"},
            "allowedNamespaces": {"names": ["*"]},
        });
        if let (Some(spec), serde_json::Value::Object(extra)) = (spec.as_object_mut(), extra) {
            spec.extend(extra);
        }
        AuthTenant::new("acme", serde_json::from_value(spec).expect("tenant spec"))
    }

    /// An API of team-b, Ready and holding its identifier unless `ready` is false.
    fn api(allowed: serde_json::Value, scopes: &[&str], ready: bool) -> Arc<AuthResourceServer> {
        let mut server = crate::testing::orders_api(
            2,
            json!({
                "scopes": scopes.iter().map(|s| json!({"value": s})).collect::<Vec<_>>(),
                "grants": {"allowedNamespaces": allowed},
            }),
        );
        server.status = Some(nexus_crd::AuthResourceServerStatus {
            resource_server_id: Some("rs1".into()),
            identifier: Some("https://orders/api".into()),
            tenant: Some("acme".into()),
            conditions: vec![new_condition(
                READY,
                if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                if ready { "Synced" } else { "RateLimited" },
                "",
                Some(2),
                Timestamp::from_second(1_800_000_000).expect("time"),
            )],
            ..Default::default()
        });
        Arc::new(server)
    }

    fn grant(audience: &str, scopes: &[&str]) -> ClientGrantSpec {
        ClientGrantSpec {
            audience: audience.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn labels(team: &str) -> BTreeMap<String, String> {
        [("team".to_owned(), team.to_owned())].into()
    }

    /// What namespace `namespace` (its `labels`) may hold in tenant `t` with `servers`.
    fn governance<'a>(
        t: &'a AuthTenant,
        namespace: &'a str,
        labels: &'a BTreeMap<String, String>,
        servers: &'a [Arc<AuthResourceServer>],
    ) -> Governance<'a> {
        Governance {
            tenant: t,
            namespace,
            labels,
            servers,
        }
    }

    #[test]
    fn an_api_grants_what_it_declares_to_the_namespaces_it_allows() {
        let t = tenant(json!({}));
        let servers = [api(json!({"names": ["team-a"]}), &["read", "write"], true)];
        let a = labels("a");
        let gov = governance(&t, "team-a", &a, &servers);
        assert_eq!(
            gov.decide(&grant("https://orders/api", &["read"])),
            GrantDecision::Allowed
        );
        let GrantDecision::NotAllowed(message) =
            gov.decide(&grant("https://orders/api", &["read", "delete"]))
        else {
            panic!("delete is not declared");
        };
        assert!(
            message.contains("'delete'")
                && message.contains("team-b/orders-api declares: read, write"),
            "{message}"
        );
        assert_eq!(
            gov.may_hold("https://orders/api"),
            Some(Scopes::Only(["read".into(), "write".into()].into()))
        );

        let c = labels("c");
        let other = Governance {
            namespace: "team-c",
            labels: &c,
            ..gov
        };
        let GrantDecision::NotAllowed(message) =
            other.decide(&grant("https://orders/api", &["read"]))
        else {
            panic!("team-c is not allowed");
        };
        assert!(
            message.contains("namespace 'team-c'") && message.contains("team-b/orders-api"),
            "{message}"
        );
        assert_eq!(other.may_hold("https://orders/api"), None, "revoked");

        let own = Governance {
            namespace: "team-b",
            ..gov
        };
        assert_eq!(
            own.decide(&grant("https://orders/api", &["write"])),
            GrantDecision::Allowed,
            "the API's own namespace is the same team"
        );
    }

    #[test]
    fn selectors_and_unknown_audiences() {
        let t = tenant(json!({}));
        let selector = serde_json::to_value(LabelSelector {
            match_labels: Some(labels("a")),
            match_expressions: None,
        })
        .expect("selector");
        let servers = [api(json!({"selector": selector}), &["read"], true)];
        let a = labels("a");
        let gov = governance(&t, "team-x", &a, &servers);
        assert_eq!(
            gov.decide(&grant("https://orders/api", &["read"])),
            GrantDecision::Allowed
        );
        let GrantDecision::NotAllowed(message) = gov.decide(&grant("https://billing/api", &[]))
        else {
            panic!("no such API");
        };
        assert!(
            message.contains("no AuthResourceServer of tenant 'acme'"),
            "{message}"
        );
    }

    #[test]
    fn a_grant_waits_for_an_api_that_is_not_ready_but_keeps_what_it_holds() {
        let t = tenant(json!({}));
        let servers = [api(json!({"names": ["team-a"]}), &["read"], false)];
        let a = labels("a");
        let gov = governance(&t, "team-a", &a, &servers);
        let GrantDecision::Pending(message) = gov.decide(&grant("https://orders/api", &["read"]))
        else {
            panic!("pending");
        };
        assert!(
            message.contains("team-b/orders-api (RateLimited)"),
            "{message}"
        );
        assert!(gov.may_hold("https://orders/api").is_some());
        let refusal = gov
            .refusal(&[grant("https://orders/api", &["read"])], &[], &[])
            .expect("refusal");
        assert_eq!(refusal.reason, ReadyReason::ResourceServerNotReady);
        let held = [GrantStatus {
            audience: "https://orders/api".into(),
            grant_id: "g1".into(),
            scopes: vec!["read".into()],
        }];
        assert_eq!(
            gov.refusal(&[grant("https://orders/api", &["read"])], &[], &held),
            None,
            "a grant held as requested does not wait for an API being updated"
        );
        assert!(
            gov.refusal(&[grant("https://orders/api", &["read", "x"])], &[], &held)
                .is_some(),
            "a change does"
        );

        // An API another tenant declares, or one being deleted, grants nothing.
        let mut deleting = (*servers[0]).clone();
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let servers = [Arc::new(deleting)];
        let gov = Governance {
            servers: &servers,
            ..gov
        };
        assert_eq!(gov.may_hold("https://orders/api"), None);
    }

    #[test]
    fn the_tenant_lists_grantable_audiences_and_the_management_api_only_there() {
        let t = tenant(json!({"grantableAudiences": [
            {"audience": "https://partner/api", "namespaces": {"names": ["team-a"]}},
            {"audience": "https://acme.eu.auth0.com/api/v2/", "namespaces": {"names": ["ops"]}, "scopes": ["read:users"]},
        ]}));
        let a = labels("a");
        let servers = [];
        let gov = governance(&t, "team-a", &a, &servers);
        assert_eq!(
            gov.decide(&grant("https://partner/api", &["anything"])),
            GrantDecision::Allowed
        );
        assert_eq!(gov.may_hold("https://partner/api"), Some(Scopes::Any));
        let GrantDecision::NotAllowed(message) =
            gov.decide(&grant("https://acme.eu.auth0.com/api/v2/", &["read:users"]))
        else {
            panic!("team-a may not use the Management API");
        };
        assert!(message.contains("Management API"), "{message}");
        let ops = Governance {
            namespace: "ops",
            ..gov
        };
        assert_eq!(
            ops.decide(&grant("https://acme.eu.auth0.com/api/v2/", &["read:users"])),
            GrantDecision::Allowed
        );
        assert!(matches!(
            ops.decide(&grant(
                "https://acme.eu.auth0.com/api/v2/",
                &["delete:users"]
            )),
            GrantDecision::NotAllowed(_)
        ));

        // An AuthResourceServer cannot make the Management API grantable.
        let mut mgmt = (*api(json!({"names": ["*"]}), &["read:users"], true)).clone();
        mgmt.spec.identifier = "https://acme.eu.auth0.com/api/v2/".into();
        let servers = [Arc::new(mgmt)];
        let gov = Governance {
            servers: &servers,
            ..gov
        };
        assert!(matches!(
            gov.decide(&grant("https://acme.eu.auth0.com/api/v2/", &[])),
            GrantDecision::NotAllowed(_)
        ));
    }

    #[test]
    fn connections_are_all_allowed_unless_the_tenant_lists_them() {
        let open = tenant(json!({}));
        let a = labels("a");
        let gov = governance(&open, "team-a", &a, &[]);
        assert!(gov.connection_allowed("anything"));
        let closed = tenant(json!({"allowedConnections": [
            {"name": "google-oauth2", "namespaces": {"selector": {"matchLabels": {"team": "a"}}}},
            {"name": "corp-saml", "namespaces": {"names": ["team-b"]}},
        ]}));
        let gov = Governance {
            tenant: &closed,
            ..gov
        };
        assert!(gov.connection_allowed("google-oauth2"));
        assert!(!gov.connection_allowed("corp-saml"));
        assert!(!gov.connection_allowed("github"));
        let refusal = gov
            .refusal(&[], &["google-oauth2".into(), "corp-saml".into()], &[])
            .expect("refused");
        assert_eq!(refusal.reason, ReadyReason::ConnectionNotAllowed);
        assert!(
            refusal.message.contains("'corp-saml'"),
            "{}",
            refusal.message
        );
        assert!(!refusal.message.contains("google"), "{}", refusal.message);
    }

    #[test]
    fn one_refusal_names_every_problem_and_is_stable() {
        let t = tenant(json!({}));
        let servers = [api(json!({"names": ["team-a"]}), &["read"], true)];
        let a = labels("a");
        let gov = governance(&t, "team-a", &a, &servers);
        let grants = [
            grant("https://orders/api", &["read"]),
            grant("https://orders/api/v2", &[]),
        ];
        let first = gov.refusal(&grants, &[], &[]).expect("refused");
        assert_eq!(first.reason, ReadyReason::GrantNotAllowed);
        assert!(first.message.contains("https://orders/api/v2"));
        assert_eq!(gov.refusal(&grants, &[], &[]), Some(first));
        assert_eq!(gov.refusal(&grants[..1], &[], &[]), None);
    }
}
