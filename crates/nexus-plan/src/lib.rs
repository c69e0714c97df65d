//! `nexus-operator plan` and `nexus-operator import`, without a cluster and without ever
//! writing to Auth0.
//!
//! - [`plan()`]: reads manifests ([`manifests`]), reads each tenant once with paged lists
//!   ([`state`]), and computes what a sync would do to every object with the controller's own
//!   pure planning, validation, governance and adoption functions ([`mod@plan`]); rendered as
//!   stable text or JSON ([`render`]).
//! - [`import()`]: manifests for the clients of a tenant that no AuthClient owns, within the
//!   tenant's adoption rules ([`import`]).
//!
//! Credentials come from files or environment variables ([`credentials`]); no output contains
//! a secret.

pub mod cluster;
pub mod credentials;
pub mod import;
pub mod manifests;
pub mod plan;
pub mod render;
pub mod state;

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde::Serialize;

use auth0_mgmt::Auth0Registry;
use credentials::CredentialSources;
use manifests::Manifests;
use nexus_controller::pass::Failure;
use nexus_crd::ReadyReason;
use plan::{Action, ObjectPlan, PlanOptions, TenantInput};
use state::TenantState;

pub use import::{ImportOptions, ImportReport, NamespaceSource, import};

/// The plan of one tenant.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantPlan {
    /// The AuthTenant's name.
    pub tenant: String,
    /// Its Auth0 domain.
    pub domain: String,
    /// The objects, sorted by kind, namespace and name.
    pub objects: Vec<ObjectPlan>,
    /// List requests this plan sent to read the tenant.
    pub list_calls: u32,
    /// Auth0 requests the sync would send.
    pub sync_calls: u32,
    /// The tenant's `spec.rateLimit.requestsPerSecond`.
    pub requests_per_second: u32,
    /// The tenant's `spec.rateLimit.burst`.
    pub burst: u32,
    /// Seconds the sync's requests take at that rate (the burst is free).
    pub sync_seconds: f64,
    /// Clients this cluster owns that the files do not hold (without `--prune`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undeclared_owned: Option<usize>,
    /// Why the tenant could not be planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The plan of every tenant.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Per tenant, by name.
    pub tenants: Vec<TenantPlan>,
    /// Objects naming a tenant the files do not hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphans: Vec<ObjectPlan>,
    /// Documents that were not planned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

impl Report {
    /// The exit code for CI: 1 refusals or errors, 2 changes, 0 nothing to do.
    pub fn exit_code(&self) -> u8 {
        let objects = || {
            self.tenants
                .iter()
                .flat_map(|t| &t.objects)
                .chain(&self.orphans)
        };
        if self.tenants.iter().any(|t| t.error.is_some())
            || objects().any(|o| o.action == Action::Refused)
        {
            1
        } else if objects().any(|o| o.action != Action::NoChange) {
            2
        } else {
            0
        }
    }
}

/// Plans `manifests` against Auth0 (read-only).
pub async fn plan(
    manifests: &Manifests,
    credentials: &CredentialSources,
    registry: &Auth0Registry,
    options: &PlanOptions,
) -> Report {
    let mut report = Report {
        ignored: manifests.ignored.clone(),
        ..Report::default()
    };
    let servers: Vec<_> = manifests.servers.values().collect();
    for tenant in manifests.tenants.values() {
        let name = tenant.name_any();
        let clients: Vec<_> = manifests
            .clients
            .values()
            .filter(|c| c.spec.tenant == name)
            .collect();
        let rate = &tenant.spec.rate_limit;
        let mut planned = TenantPlan {
            tenant: name.clone(),
            domain: tenant.spec.domain.clone(),
            objects: Vec::new(),
            list_calls: 0,
            sync_calls: 0,
            requests_per_second: rate.requests_per_second,
            burst: rate.burst,
            sync_seconds: 0.0,
            undeclared_owned: None,
            error: None,
        };
        let mut input = TenantInput {
            tenant,
            clients,
            servers: servers.clone(),
            labels: &manifests.namespace_labels,
            recorded: &manifests.recorded,
            recorded_servers: manifests.recorded_servers.as_ref(),
            management_client_id: "",
        };
        if let Some(failure) = plan::tenant_refusal(tenant) {
            planned.objects = plan::refuse_all(&input, &failure);
        } else {
            match credentials.client(registry, tenant) {
                Err(error) => planned.error = Some(error.to_string()),
                Ok(auth0) => {
                    let reads = plan::reads(&input, options);
                    match TenantState::read(&auth0, reads).await {
                        Err(error) => {
                            let error = state::Auth0Failure::from(error);
                            planned.error =
                                Some(format!("reading tenant '{name}' from Auth0: {error}"))
                        }
                        Ok(state) => {
                            input.management_client_id = auth0.client_id();
                            planned.list_calls = state.list_calls;
                            planned.objects = plan::plan_tenant(&input, &state, options);
                            if !options.prune {
                                planned.undeclared_owned = Some(plan::undeclared_owned(
                                    &input,
                                    &state,
                                    &options.cluster_id,
                                ))
                                .filter(|n| *n > 0);
                            }
                        }
                    }
                }
            }
        }
        planned
            .objects
            .sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
        planned.sync_calls = planned.objects.iter().map(|o| o.auth0_calls).sum();
        let paid = planned.sync_calls.saturating_sub(rate.burst);
        planned.sync_seconds = f64::from(paid) / f64::from(rate.requests_per_second.max(1));
        report.tenants.push(planned);
    }
    let known: BTreeMap<&str, ()> = manifests.tenants.keys().map(|k| (k.as_str(), ())).collect();
    let missing = |tenant: &str| {
        Failure::permanent(
            ReadyReason::TenantNotFound,
            format!(
                "AuthTenant '{tenant}' is not in the manifests; add it (plan reads the tenant's policy and endpoint from it)"
            ),
        )
    };
    for client in manifests.clients.values() {
        if !known.contains_key(client.spec.tenant.as_str()) {
            report
                .orphans
                .push(orphan("AuthClient", client, missing(&client.spec.tenant)));
        }
    }
    for server in manifests.servers.values() {
        if !known.contains_key(server.spec.tenant.as_str()) {
            report.orphans.push(orphan(
                "AuthResourceServer",
                server,
                missing(&server.spec.tenant),
            ));
        }
    }
    report
}

fn orphan<K: kube::Resource>(kind: &'static str, object: &K, failure: Failure) -> ObjectPlan {
    ObjectPlan {
        kind,
        namespace: object.meta().namespace.clone().unwrap_or_default(),
        name: object.meta().name.clone().unwrap_or_default(),
        action: Action::Refused,
        auth0_id: None,
        changes: Vec::new(),
        refusal: Some(failure.into()),
        notes: Vec::new(),
        auth0_calls: 0,
    }
}
