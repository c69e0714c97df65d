//! Shared by the benchmarks: arguments, the seeded world (tenant, credentials, AuthClients),
//! readiness, and the tables of requests they print.

#![allow(dead_code)] // each bench uses its own part

use std::time::Duration;

use auth0_sim::{RequestCounts as SimCounts, SimHandle};
use kube_fake::{FakeKube, RequestCounts};
pub use nexus_testing::is_ready;
use nexus_testing::world;
use serde_json::{Value, json};

pub const TENANT: &str = "acme";
pub const CREDS_NS: &str = "nexus-system";
pub const CREDS_SECRET: &str = "acme-m2m";

/// `--name VALUE` from the command line, else the environment variable, else `default`
/// (cargo passes `--bench`, which is ignored).
pub fn arg<T: std::str::FromStr>(name: &str, env: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    let flag = format!("--{name}");
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .or_else(|| std::env::var(env).ok().and_then(|v| v.parse().ok()))
        .unwrap_or(default)
}

/// The tenant's credentials Secret (valid for `sim`, or refused when `valid` is false) and
/// the AuthTenant allowing `namespaces` at `rps`/`burst` ([`world::seed_tenant`]).
pub fn seed_tenant(
    kube: &FakeKube,
    sim: &SimHandle,
    rps: u32,
    burst: u32,
    namespaces: &[&str],
    valid: bool,
) {
    world::seed_tenant(
        kube,
        sim,
        TENANT,
        (CREDS_NS, CREDS_SECRET),
        (rps, burst),
        namespaces,
        valid,
    );
}

pub fn client_name(i: usize) -> String {
    format!("app-{i:05}")
}

/// The AuthClient a user would write for client `i`.
pub fn authclient(i: usize, namespace: &str) -> Value {
    json!({
        "apiVersion": world::api_version(),
        "kind": "AuthClient",
        "metadata": {"name": client_name(i), "namespace": namespace},
        "spec": {
            "tenant": TENANT,
            "client": {
                "name": format!("App {i}"),
                "app_type": "regular_web",
                "callbacks": [format!("https://app-{i}.example.com/callback")],
                "allowed_logout_urls": [format!("https://app-{i}.example.com/")],
                "client_metadata": {"owners": "alice,bob"}
            }
        }
    })
}

/// `kubectl apply` of `object` (client-side apply, what most users and Argo CD do): a create
/// by the `kubectl-client-side-apply` field manager with the last-applied annotation, so the
/// stored object carries what a real one carries.
pub async fn kubectl_apply(client: &kube::Client, object: &Value) {
    let mut object = object.clone();
    let last_applied = object.to_string();
    object["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": last_applied});
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    let resource = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(nexus_crd::GROUP, nexus_crd::VERSION, "AuthClient"),
        "authclients",
    );
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), &namespace, &resource);
    let object: kube::api::DynamicObject =
        serde_json::from_value(object).expect("an AuthClient as a dynamic object");
    api.create(
        &kube::api::PostParams {
            field_manager: Some("kubectl-client-side-apply".into()),
            ..Default::default()
        },
        &object,
    )
    .await
    .expect("create the AuthClient");
}

/// Pops the paths of `pending` that are Ready, from the back, up to the first that is not;
/// whether none is left. Each call costs one lookup until the last path is Ready.
pub fn pop_ready(kube: &FakeKube, pending: &mut Vec<String>) -> bool {
    while let Some(path) = pending.last() {
        if kube.get(path).is_some_and(|o| is_ready(&o)) {
            pending.pop();
        } else {
            break;
        }
    }
    pending.is_empty()
}

/// Management API calls (`/api/v2`), token requests excluded.
pub fn management_calls(counts: &SimCounts) -> u64 {
    counts
        .iter()
        .filter(|(key, _)| {
            key.split_once(' ')
                .is_some_and(|(_, p)| p.starts_with("/api/v2"))
        })
        .map(|(_, n)| n)
        .sum()
}

/// Auth0 calls by route, one per line.
pub fn print_auth0(title: &str, counts: &SimCounts) {
    println!("{title}:");
    for (key, n) in counts.iter() {
        println!("  {key:<40} {n}");
    }
}

/// API-server requests by verb and resource, in all and per client (watches are long-lived
/// requests, counted once per connection).
pub fn print_requests(title: &str, counts: &RequestCounts, clients: usize) {
    println!("{title}:");
    println!(
        "  {:<40} {:>8} {:>11}",
        "verb resource", "requests", "per client"
    );
    for (verb, resource, n) in counts.iter() {
        println!(
            "  {:<40} {n:>8} {:>11.3}",
            format!("{verb} {resource}"),
            n as f64 / clients.max(1) as f64
        );
    }
    println!(
        "  {:<40} {:>8} {:>11.3}",
        "all but watches",
        counts.excluding_watches(),
        counts.excluding_watches() as f64 / clients.max(1) as f64
    );
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
