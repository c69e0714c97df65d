//! The owned Secret, cached without its data (metadata and value digests): a tampered Secret is
//! repaired with the secret from Auth0, a Secret whose layout changed keeps its own client
//! secret (one GET of the Secret, no Auth0 call), and the running controller notices tampering
//! from its watch.

use std::time::Duration;

use kube_fake::Verb;
use nexus_controller::authclient::secret;
use serde_json::{Value, json};

use crate::harness::*;

const SECRET: &str = "orders-auth0";

fn tamper(h: &Harness, key: &str, value: &str) {
    let mut object = h.secret(SECRET).expect("secret");
    object["data"][key] = json!(b64(value));
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    h.kube.insert(object);
}

fn text(secret: &Value, key: &str) -> String {
    unb64(&secret["data"][key])
}

fn intact(secret: &Value) -> bool {
    let typed: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(secret.clone()).expect("a Secret");
    secret::is_intact(&typed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_client_secret_is_repaired_from_auth0() {
    let h = Harness::new().await;
    let id = h.created("orders", spec("Orders")).await;
    let real = h.sim.client(&id).expect("client")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    tamper(&h, "AUTH0_CLIENT_SECRET", "edited-by-hand");
    h.sim.reset_counters();
    h.kube.clear_requests();

    h.reconcile("orders").await.expect("repair pass");
    let repaired = h.secret(SECRET).expect("secret");
    assert_eq!(
        text(&repaired, "AUTH0_CLIENT_SECRET"),
        real,
        "Auth0's secret, not the edit"
    );
    assert!(intact(&repaired), "the hash matches the data again");
    assert_eq!(h.sim.counters().get("GET /api/v2/clients/{id}"), 1);
    let counts = h.kube.request_counts();
    assert_eq!(counts.get(Verb::Apply, "secrets"), 1, "{counts}");

    h.sim.reset_counters();
    h.kube.clear_requests();
    h.reconcile("orders").await.expect("pass");
    assert_eq!(h.sim.counters().total(), 0);
    assert_eq!(h.kube.request_counts().writes(), 0, "repaired once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_issuer_rewrites_the_secret_with_its_own_client_secret() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;
    let before = h.secret(SECRET).expect("secret");
    let mut tenant = tenant_object(TENANT, &h.sim, 1000, &[NS]);
    tenant["spec"]["issuerBaseUrl"] = json!("https://login.acme.example/");
    h.kube.insert(tenant);
    h.sync().await;
    h.sim.reset_counters();
    h.kube.clear_requests();

    h.pass("orders").await.expect("pass");
    let after = h.secret(SECRET).expect("secret");
    assert_eq!(
        text(&after, "AUTH0_ISSUER_BASE_URL"),
        "https://login.acme.example/"
    );
    assert_eq!(text(&after, "AUTH0_DOMAIN"), "login.acme.example");
    assert_eq!(
        text(&after, "AUTH0_CLIENT_SECRET"),
        text(&before, "AUTH0_CLIENT_SECRET"),
        "the same client secret"
    );
    assert!(intact(&after));
    let calls: u64 = h
        .sim
        .counters()
        .iter()
        .filter(|(k, _)| k.contains("/api/v2"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(calls, 0, "no Auth0 call");
    let counts = h.kube.request_counts();
    assert_eq!(counts.get(Verb::Get, "secrets"), 1, "{counts}");
    assert_eq!(counts.get(Verb::Apply, "secrets"), 1, "{counts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_controller_repairs_a_tampered_secret() {
    let h = Harness::new().await;
    let running = h.run_controller();
    h.apply("orders", spec("Orders"));
    let wait = Duration::from_secs(60);
    assert!(
        h.kube
            .wait_until(wait, |_| h.secret(SECRET).is_some_and(|s| intact(&s)))
            .await
    );
    let original = text(&h.secret(SECRET).expect("secret"), "AUTH0_CLIENT_SECRET");
    tamper(&h, "AUTH0_CLIENT_SECRET", "edited-by-hand");
    assert!(
        h.kube
            .wait_until(wait, |_| h.secret(SECRET).is_some_and(
                |s| intact(&s) && text(&s, "AUTH0_CLIENT_SECRET") == original
            ))
            .await,
        "repaired: {:?}",
        h.secret(SECRET)
    );
    running.stop().await;
}
