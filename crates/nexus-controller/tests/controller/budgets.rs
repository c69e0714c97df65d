//! The failure budgets of issue 9, through the whole controller (watches, queue, caches)
//! against the in-memory API (requests counted by verb and resource) and the simulator.
//! Timing and rates are measured by the benchmark (`cargo bench --bench budgets`); these tests
//! assert the counts, waiting for events rather than for time, on the paused clock.

use std::time::Duration;

use auth0_sim::FailAction;
use kube::runtime::reflector::ObjectRef;
use kube_fake::FakeKube;
use nexus_testing::paused::settle;
use nexus_testing::ready_condition;
use serde_json::json;

use crate::harness::*;

/// Guard of every wait, in virtual time.
const WAIT: Duration = Duration::from_secs(600);

#[tokio::test(start_paused = true)]
async fn a_client_auth0_rejects_costs_one_post_and_no_write_after_its_condition() {
    let h = Harness::new().await;
    h.fail_auth0_once("POST", "/api/v2/clients", FailAction::Status(400));
    let running = h.run_controller();
    h.apply("rejected", spec("Rejected"));
    let path = Harness::authclient_path("rejected");
    assert_reaches_reason(&h.kube, WAIT, &path, "Auth0Rejected").await;
    let status = h.kube.get(&path).expect("object")["status"].clone();
    assert!(status["auth0Rejection"]["generation"].is_i64(), "{status}");
    assert!(
        status.get("pendingCreation").is_none(),
        "a 400 created nothing"
    );
    h.kube.clear_requests();
    let posts = h.sim.counters().get("POST /api/v2/clients");

    // Everything that used to start another pass: the tenant's wake-ups, resyncs. Each is
    // a real pass (counted by the metric) that must make no Auth0 call and no write.
    let before = h.reconciles();
    for _ in 0..5 {
        h.ctx.clients.wake(ObjectRef::new("rejected").within(NS));
    }
    h.ctx.wake_tenant(TENANT);
    // A pass that does nothing leaves no trace to await: let everything the wake-ups started
    // run to the end (the runtime idles), then count.
    settle().await;
    assert!(h.reconciles() > before, "the wake-ups ran passes");
    running.stop().await;

    assert_eq!(posts, 1, "<= 2 POSTs in total");
    assert_eq!(h.sim.counters().get("POST /api/v2/clients"), 1);
    let counts = h.kube.request_counts();
    assert_eq!(
        counts.writes(),
        0,
        "no API write after the condition:\n{counts}"
    );
}

#[tokio::test(start_paused = true)]
async fn clients_of_a_tenant_whose_credentials_are_refused_wait_quietly() {
    const CLIENTS: usize = 100;
    let h = Harness::configured(|c| {
        c.base_backoff = Duration::from_millis(20);
        c.max_backoff = Duration::from_millis(200);
    })
    .await;
    // The credentials stop working.
    h.kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "acme-m2m", "namespace": CREDS_NS},
        "data": {"client_id": b64(&h.sim.m2m().client_id), "client_secret": b64("wrong-secret-0123456789")}
    }));
    h.apply_fleet(CLIENTS);
    let running = h.run_controller();
    let collection = authclients_path();
    let all_waiting = |k: &FakeKube| {
        let objects = k.list(&collection);
        objects.len() == CLIENTS
            && objects.iter().all(|o| {
                ready_condition(o).is_some_and(|(s, r, _)| s == "False" && r == "TenantNotReady")
            })
    };
    assert!(h.kube.wait_until(WAIT, all_waiting).await);
    let messages: std::collections::BTreeSet<String> = h
        .kube
        .list(&collection)
        .iter()
        .filter_map(|o| ready_condition(o).map(|r| r.2))
        .collect();
    assert_eq!(messages.len(), 1, "one stable message: {messages:?}");
    let message = messages.into_iter().next().unwrap_or_default();
    assert!(message.contains("CredentialsRejected"), "{message}");

    // The tenant reconciler keeps retrying the credentials with its backoff (the token cache
    // spaces token requests, 1 s doubling); the clients cost the API server nothing meanwhile.
    h.kube.clear_requests();
    let tokens = h.sim.counters().get("POST /oauth/token");
    let retried = tokio::time::timeout(
        WAIT,
        h.sim
            .wait_for_counters(|c| c.get("POST /oauth/token") >= tokens + 2),
    )
    .await;
    assert!(retried.is_ok(), "the tenant retried its credentials");
    let counts = h.kube.request_counts();
    running.stop().await;
    assert_eq!(counts.excluding_watches(), 0, "{counts}");
    assert_eq!(h.sim.counters().get("POST /api/v2/clients"), 0);
}

#[tokio::test(start_paused = true)]
async fn an_api_wakes_the_clients_granting_to_it_and_refusals_cost_nothing() {
    const API: &str = "https://orders.example.com/api";
    let h = Harness::new().await;
    h.allow_namespace("team-b", "b");
    h.sync().await;
    let running = h.run_controller();
    // The client and the API arrive together (as in one GitOps sync): the client waits for
    // the API, and the API's Ready transition wakes it; no pass is driven by hand.
    h.apply(
        "worker",
        json!({"tenant": TENANT, "client": {"name": "Worker", "app_type": "non_interactive"},
               "grants": [{"audience": API, "scopes": ["read:orders"]}]}),
    );
    h.apply(
        "intruder",
        json!({"tenant": TENANT, "client": {"name": "Intruder", "app_type": "non_interactive"},
               "grants": [{"audience": API, "scopes": ["write:orders"]}]}),
    );
    h.apply_server(
        "team-b",
        "orders-api",
        json!({"tenant": TENANT, "identifier": API, "name": "Orders",
               "scopes": [{"value": "read:orders"}, {"value": "write:orders"}],
               "grants": {"allowedNamespaces": {"names": [NS]}}}),
    );
    let worker = Harness::authclient_path("worker");
    let intruder = Harness::authclient_path("intruder");
    assert_reaches_reason(&h.kube, WAIT, &worker, "Synced").await;
    // Revoke write for everyone but the API's namespace: the intruder only ever asked for it.
    h.update_server_spec(
        "team-b",
        "orders-api",
        json!({"tenant": TENANT, "identifier": API, "name": "Orders",
               "scopes": [{"value": "read:orders"}],
               "grants": {"allowedNamespaces": {"names": [NS]}}}),
    )
    .await;
    assert_reaches_reason(&h.kube, WAIT, &intruder, "GrantNotAllowed").await;
    assert!(
        h.sim.client_grants().len() == 1,
        "{:?}",
        h.sim.client_grants()
    );

    // Settled: wake-ups of every kind are real passes that cost no Auth0 call and no write.
    let server_path = Harness::server_path("team-b", "orders-api");
    assert!(
        h.kube
            .wait_until(WAIT, |k| k
                .get(&server_path)
                .and_then(|o| ready_condition(&o))
                .is_some_and(|r| r.0 == "True"
                    && k.get(&server_path).is_some_and(
                        |o| o["status"]["observedGeneration"] == o["metadata"]["generation"]
                    )))
            .await
    );
    // The controller's own cache has the settled API too (its watch may lag the store).
    let settled = |h: &Harness| {
        h.ctx.caches.servers().iter().any(|s| {
            nexus_controller::governance::server_ready(s)
                && s.status.as_ref().and_then(|st| st.observed_generation) == s.metadata.generation
        })
    };
    settle().await;
    assert!(settled(&h), "the controller's cache shows the API settled");
    // Two rounds of wake-ups of every kind: the first absorbs a pass that may still have read a
    // cache older than the last write; the second is counted. Each is a real pass (counted by
    // the metric) that must cost no Auth0 call and no write.
    let wake_all = |h: &Harness| {
        for name in ["worker", "intruder"] {
            h.ctx.clients.wake(ObjectRef::new(name).within(NS));
        }
        h.ctx
            .servers
            .wake(ObjectRef::new("orders-api").within("team-b"));
        h.ctx.wake_tenant(TENANT);
    };
    for round in 0..2 {
        if round == 1 {
            h.kube.clear_requests();
            h.sim.reset_counters();
        }
        let before = h.reconciles();
        wake_all(&h);
        settle().await;
        assert!(h.reconciles() >= before + 3, "the wake-ups ran passes");
    }
    running.stop().await;
    assert_eq!(h.sim.counters().total(), 0, "{:?}", h.sim.counters());
    let counts = h.kube.request_counts();
    assert_eq!(counts.writes(), 0, "{counts}");
    assert_eq!(counts.excluding_watches(), 0, "{counts}");
}

/// kube's default watch backoff resets on the `Init` event that starts every relist, so a list
/// that keeps failing was retried every 0.8 s: with the AuthResourceServer CRD missing (an
/// upgrade that did not apply it), 1 list per second for as long as the operator ran. The
/// controller's backoff grows to 30 s between attempts, and the clients keep working.
#[tokio::test(start_paused = true)]
async fn a_missing_crd_costs_a_list_every_30_seconds_not_every_second() {
    let h = Harness::with(Options {
        resource_server_crd: false,
        ..Options::default()
    })
    .await;
    let running = h.run_controller();
    h.apply("app", spec("App"));
    let path = format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients/app");
    let ready = |k: &FakeKube| {
        k.get(&path)
            .is_some_and(|o| ready_condition(&o).is_some_and(|(s, _, _)| s == "True"))
    };
    assert!(h.kube.wait_until(WAIT, ready).await, "the client is served");
    h.kube.clear_requests();
    // Ten minutes of virtual time (the paused clock jumps from timer to timer).
    tokio::time::sleep(Duration::from_secs(600)).await;
    let counts = h.kube.request_counts();
    running.stop().await;
    let lists = counts.get(kube_fake::Verb::List, "authresourceservers");
    // 600 s at 30-60 s a pause (the cap with its jitter): 10 to 20 attempts; every 0.8 s, 750.
    assert!(
        (5..=25).contains(&lists),
        "{lists} lists in 10 minutes:\n{counts}"
    );
}
