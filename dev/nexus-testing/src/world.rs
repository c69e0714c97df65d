//! The world of the tests and benchmarks that run the operator or the facade: the Auth0
//! simulator on a loopback port, and the objects seeded into the in-memory API server
//! (`kube_fake::FakeKube`) that point at it: Namespaces, the simulator's M2M credentials Secret,
//! an `AuthTenant` and `AuthClient`s.

use std::time::Duration;

use auth0_sim::{Faults, Latency, RateLimit, SimConfig, SimHandle};
use kube_fake::FakeKube;
use nexus_crd::{GROUP, VERSION};
use serde_json::{Value, json};

use crate::b64;

/// `apiVersion` of the operator's resources (`auth.nexus.dev/v1alpha1`).
pub fn api_version() -> String {
    format!("{GROUP}/{VERSION}")
}

/// The API path of the AuthClients of `namespace` (what `FakeKube::list` takes).
pub fn authclients_path(namespace: &str) -> String {
    format!("/apis/{GROUP}/{VERSION}/namespaces/{namespace}/authclients")
}

/// The API path of the AuthTenant `name`.
pub fn authtenant_path(name: &str) -> String {
    format!("/apis/{GROUP}/{VERSION}/authtenants/{name}")
}

/// A simulator configuration limited to `per_second` Management API requests per second
/// (burst the same); the other settings are the simulator's defaults.
pub fn sim_config(per_second: u32) -> SimConfig {
    SimConfig {
        rate_limit: RateLimit {
            burst: per_second,
            per_second,
        },
        ..SimConfig::default()
    }
}

/// Auth0's latency as the benchmarks model it: 20 to 80 ms per request, uniformly.
pub fn auth0_latency() -> Faults {
    Faults {
        latency: Latency::Uniform {
            min: Duration::from_millis(20),
            max: Duration::from_millis(80),
        },
        ..Faults::default()
    }
}

/// A Management API registry (as the operator builds it) whose HTTP requests time out after
/// `timeout`.
pub fn auth0_registry(timeout: Duration) -> auth0_mgmt::Auth0Registry {
    auth0_mgmt::Auth0Registry::new(
        auth0_mgmt::default_http_client(timeout).expect("http client"),
        auth0_mgmt::Auth0Metrics::new(),
    )
}

/// The simulator with `config`, listening on a loopback port.
pub async fn start_sim(config: SimConfig) -> SimHandle {
    auth0_sim::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

/// A Namespace.
pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// A tenant's credentials Secret `namespace/name` holding `client_id` and `client_secret` (the
/// keys an AuthTenant's `credentialsSecretRef` names by default).
pub fn m2m_secret(namespace: &str, name: &str, client_id: &str, client_secret: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"client_id": b64(client_id), "client_secret": b64(client_secret)}
    })
}

/// The Secret `namespace/name` holding the simulator's first M2M credentials.
pub fn sim_m2m_secret(sim: &SimHandle, namespace: &str, name: &str) -> Value {
    let m2m = sim.m2m();
    m2m_secret(namespace, name, &m2m.client_id, &m2m.client_secret)
}

/// An AuthTenant `name` served by `sim`: its credentials Secret `credentials` (namespace,
/// name), its Auth0 rate limit `rate` (requests per second, burst) and the namespaces it
/// allows. Callers add what their test needs (`facadeNamespace`, `urlPolicy`...).
pub fn tenant(
    name: &str,
    sim: &SimHandle,
    credentials: (&str, &str),
    rate: (u32, u32),
    allowed: &[&str],
) -> Value {
    json!({
        "apiVersion": api_version(),
        "kind": "AuthTenant",
        "metadata": {"name": name},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": credentials.0, "name": credentials.1},
            "rateLimit": {"requestsPerSecond": rate.0, "burst": rate.1},
            "allowedNamespaces": {"names": allowed},
        }
    })
}

/// An AuthClient `namespace/name` of `tenant` for a `regular_web` client named `client_name`
/// with one callback.
pub fn authclient(namespace: &str, name: &str, tenant: &str, client_name: &str) -> Value {
    json!({
        "apiVersion": api_version(),
        "kind": "AuthClient",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "tenant": tenant,
            "client": {
                "name": client_name,
                "app_type": "regular_web",
                "callbacks": ["https://app.example.com/callback"],
            }
        }
    })
}

/// Seeds the namespaces (but `*`), the credentials Secret `credentials` (`sim`'s M2M client;
/// with a secret Auth0 refuses when `valid` is false) and the AuthTenant `name` allowing
/// `namespaces` at `rate`.
pub fn seed_tenant(
    kube: &FakeKube,
    sim: &SimHandle,
    name: &str,
    credentials: (&str, &str),
    rate: (u32, u32),
    namespaces: &[&str],
    valid: bool,
) {
    for ns in namespaces.iter().filter(|ns| **ns != "*") {
        kube.insert(namespace(ns));
    }
    let m2m = sim.m2m();
    let secret = if valid {
        m2m.client_secret.as_str()
    } else {
        "refused-secret-0123456789abcdef"
    };
    kube.insert(m2m_secret(
        credentials.0,
        credentials.1,
        &m2m.client_id,
        secret,
    ));
    kube.insert(tenant(name, sim, credentials, rate, namespaces));
}

/// Inserts the CRD of `AuthResourceServer` (FakeKube serves the other kinds without one).
pub fn serve_resource_servers(kube: &FakeKube) {
    for crd in nexus_crd::crds() {
        if crd.spec.names.kind == "AuthResourceServer" {
            kube.insert(serde_json::to_value(&crd).expect("CRD as JSON"));
        }
    }
}
