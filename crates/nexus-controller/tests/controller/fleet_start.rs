//! Issue 23: a large fleet at start. The AuthClients are reconciled as the initial list pages
//! in (not after it), and Ready AuthClients are revisited by the resync sweep without a
//! scheduled requeue per object.

use std::sync::Arc;
use std::time::Duration;

use auth0_mgmt::{self as auth0, Auth0Metrics, Auth0Registry};
use kube_fake::{CostModel, Verb};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{self as controller, Context, ControllerConfig};
use nexus_testing::is_ready;
use serde_json::Value;

use crate::harness::*;

#[tokio::test(start_paused = true)]
async fn the_first_authclient_is_ready_while_the_initial_list_still_pages_in() {
    const CLIENTS: usize = 500; // five pages of 100
    let h = Harness::new().await;
    h.apply_fleet(CLIENTS);
    // Every object a response carries costs 20 ms: each page of the AuthClient list takes 2 s
    // of virtual time, the whole list 10 s.
    h.kube.set_cost(CostModel {
        per_object: Duration::from_millis(20),
        ..CostModel::FREE
    });
    let running = h.run_controller();
    let first = h
        .kube
        .wait_until(Duration::from_secs(600), |kube| {
            kube.list(&authclients_path()).iter().any(is_ready)
        })
        .await;
    assert!(first, "no AuthClient became Ready");
    // Pages of the AuthClient list requested when the first one was Ready: not all five (kube's
    // reflector shows the controller no object before the last page).
    let pages = h.kube.request_counts().get(Verb::List, "authclients");
    assert!(
        pages < CLIENTS / 100,
        "{pages} list pages before the first Ready"
    );
    // And all of them converge, each created once.
    let all = h.wait_ready(Duration::from_secs(3600), CLIENTS).await;
    assert!(all, "not every AuthClient became Ready");
    assert_eq!(h.sim.clients().len(), CLIENTS, "no duplicate, none lost");
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_served_namespaces_each_is_reconciled_while_it_pages_in() {
    const PER_NAMESPACE: usize = 250; // three pages each (100, 100, 50)
    const TEAM_B: &str = "team-b";
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    h.sync().await;
    for i in 0..PER_NAMESPACE {
        h.apply(&format!("app-{i:03}"), spec(&format!("App {i}")));
        h.apply_in(
            TEAM_B,
            &format!("app-{i:03}"),
            spec(&format!("App B{i}")),
            serde_json::json!({}),
        );
    }
    // Each page of an AuthClient list takes 2 s of virtual time; the two namespaces are
    // listed in parallel.
    h.kube.set_cost(CostModel {
        per_object: Duration::from_millis(20),
        ..CostModel::FREE
    });
    let scope = controller::WatchScope::from_names([NS, TEAM_B]).expect("names");
    let running = Running::start(h.ctx.clone(), scope);
    let ready = |kube: &kube_fake::FakeKube| {
        [NS, TEAM_B]
            .iter()
            .map(|ns| {
                kube.list(&format!(
                    "/apis/auth.nexus.dev/v1alpha1/namespaces/{ns}/authclients"
                ))
                .iter()
                .filter(|o| is_ready(o))
                .count()
            })
            .sum::<usize>()
    };
    let first = h
        .kube
        .wait_until(Duration::from_secs(600), |kube| ready(kube) > 0)
        .await;
    assert!(first, "no AuthClient became Ready");
    // Both namespaces' lists take three pages each; merged into one initial list (before),
    // the first Ready came after all six.
    let pages = h.kube.request_counts().get(Verb::List, "authclients");
    assert!(pages < 6, "{pages} list pages before the first Ready");
    let all = h
        .kube
        .wait_until(Duration::from_secs(3600), |kube| {
            ready(kube) == 2 * PER_NAMESPACE
        })
        .await;
    assert!(all, "not every AuthClient became Ready");
    assert_eq!(
        h.sim.clients().len(),
        2 * PER_NAMESPACE,
        "no duplicate, none lost"
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn ready_authclients_are_revisited_once_per_resync_interval_without_a_requeue_each() {
    const CLIENTS: usize = 30;
    let h = Harness::with(Options {
        config: ControllerConfig {
            cluster_id: "test-cluster".into(),
            resync_interval: Duration::from_secs(600),
            drift_scan_interval: Duration::from_secs(24 * 3600),
            ..ControllerConfig::default()
        },
        ..Options::default()
    })
    .await;
    h.apply_fleet(CLIENTS);
    let running = h.run_controller();
    let converged = h.wait_ready(Duration::from_secs(300), CLIENTS).await;
    assert!(converged);
    let started = tokio::time::Instant::now();
    // Let the passes after the final status writes settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = h.reconciles();
    let requests = h.kube.request_counts().excluding_watches();
    let calls = h.sim.counters().total();
    // One whole interval later (and a step of the sweep more): every Ready AuthClient was
    // revisited once, at no API-server request and no Auth0 call.
    tokio::time::sleep(Duration::from_secs(600) + Duration::from_secs(10) - started.elapsed())
        .await;
    let revisited = h.reconciles() - before;
    assert_eq!(
        revisited, CLIENTS as u64,
        "one revisit per Ready AuthClient"
    );
    assert_eq!(
        h.kube.request_counts().excluding_watches(),
        requests,
        "revisits send no API-server request"
    );
    assert_eq!(
        h.sim.counters().total(),
        calls,
        "revisits call no Auth0 API"
    );
    running.stop().await;
}

/// The configuration of the restart tests: the resync sweep every 600 s, no drift scan.
fn restart_config() -> ControllerConfig {
    ControllerConfig {
        cluster_id: "test-cluster".into(),
        resync_interval: Duration::from_secs(600),
        drift_scan_interval: Duration::from_secs(24 * 3600),
        ..ControllerConfig::default()
    }
}

/// A harness whose `clients` AuthClients were made Ready by a first run of the controller
/// (which has stopped), each with its Secret.
async fn ready_fleet(clients: usize) -> Harness {
    let h = Harness::with(Options {
        config: restart_config(),
        ..Options::default()
    })
    .await;
    h.apply_fleet(clients);
    let running = h.run_controller();
    let all = h.wait_ready(Duration::from_secs(3600), clients).await;
    assert!(all, "the fleet before the restart is Ready");
    running.stop().await;
    assert_eq!(
        h.kube.list(&secrets()).len(),
        clients,
        "one Secret per AuthClient"
    );
    h
}

/// A restarted operator: a new context (empty caches) on the same API server and Auth0.
fn restarted(h: &Harness) -> Arc<Context> {
    Arc::new(Context::new(
        h.kube.client(),
        Auth0Registry::new(
            auth0::default_http_client(Duration::from_secs(5)).expect("http client"),
            Auth0Metrics::new(),
        ),
        restart_config(),
        ControllerMetrics::default(),
    ))
}

fn secrets() -> String {
    format!("/api/v1/namespaces/{NS}/secrets")
}

/// Each Secret of the AuthClients' namespace as `(name, resourceVersion, data)`.
fn secret_states(kube: &kube_fake::FakeKube) -> Vec<(String, String, Value)> {
    kube.list(&secrets())
        .into_iter()
        .map(|s| {
            (
                s["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                s["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                s["data"].clone(),
            )
        })
        .collect()
}

/// The position in the request log of the request that opens the watch of the owned Secrets
/// (label-selected; of all namespaces, or of the served one): sent once their list has
/// completed.
fn owned_secret_watch(kube: &kube_fake::FakeKube) -> Option<usize> {
    kube.requests().iter().position(|r| {
        (r.path == "/api/v1/secrets" || r.path == secrets())
            && r.query.get("watch").is_some_and(|w| w == "true")
            && r.query
                .get("labelSelector")
                .is_some_and(|l| l.contains("managed-by"))
    })
}

/// GETs of one Secret of the AuthClients' namespace.
fn secret_gets(kube: &kube_fake::FakeKube) -> usize {
    kube.requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path
                    .starts_with(&format!("/api/v1/namespaces/{NS}/secrets/"))
        })
        .count()
}

/// Management API requests received by the simulator.
fn management_calls(h: &Harness) -> u64 {
    h.sim
        .counters()
        .iter()
        .filter(|(key, _)| key.contains("/api/v2/"))
        .map(|(_, n)| n)
        .sum()
}

/// Every page of a list costs 2 s of virtual time (100 objects, 20 ms each).
const SLOW_LISTS: CostModel = CostModel {
    per_object: Duration::from_millis(20),
    ..CostModel::FREE
};

/// A restart of the operator on `h`'s fleet: counters cleared, every list slow
/// ([`SLOW_LISTS`]), a fresh context ([`restarted`]) running with `scope`.
fn restart_slowly(
    h: &Harness,
    scope: impl Into<controller::WatchScope>,
) -> (Arc<Context>, Running) {
    h.sim.reset_counters();
    h.kube.clear_requests();
    h.kube.set_cost(SLOW_LISTS);
    let ctx = restarted(h);
    let running = Running::start(ctx.clone(), scope);
    (ctx, running)
}

/// Waits for the first pass or the owned Secrets' watch (which follows their list), and fails
/// unless the pass came first.
async fn assert_first_pass_before_the_secret_list(h: &Harness, ctx: &Context) {
    let first = h
        .kube
        .wait_until(Duration::from_secs(600), |kube| {
            reconciles_of(ctx) > 0 || owned_secret_watch(kube).is_some()
        })
        .await;
    assert!(
        first,
        "neither a pass nor the end of the owned Secrets' list"
    );
    assert!(
        owned_secret_watch(&h.kube).is_none(),
        "the first pass waited for the owned Secrets' list ({} passes)",
        reconciles_of(ctx)
    );
}

/// Waits until every AuthClient had its pass at start and the owned Secrets' list completed
/// (the passes after its end send no request to wait on: 60 s is far more than they take, and
/// less than the resync interval).
async fn assert_settled(h: &Harness, ctx: &Context, clients: usize) {
    let settled = h
        .kube
        .wait_until(Duration::from_secs(60), |kube| {
            reconciles_of(ctx) >= clients as u64 && owned_secret_watch(kube).is_some()
        })
        .await;
    assert!(settled, "{} passes", reconciles_of(ctx));
}

/// Nothing was taken for missing: no Secret and no AuthClient written, no Management API call,
/// every Secret as `before`.
fn assert_nothing_rewritten(h: &Harness, before: &[(String, String, Value)]) {
    let counts = h.kube.request_counts();
    let writes = counts.filtered(|verb, resource| {
        verb.is_write() && (resource == "secrets" || resource.starts_with("authclients"))
    });
    assert_eq!(writes, 0, "writes after the restart: {counts:?}");
    assert_eq!(management_calls(h), 0, "{:?}", h.sim.counters());
    assert_eq!(secret_states(&h.kube), before, "no Secret rewritten");
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_passes_run_before_the_owned_secret_list_ends_and_rewrite_nothing() {
    const CLIENTS: usize = 300; // three pages of owned Secrets: 6 s of virtual time
    let h = ready_fleet(CLIENTS).await;
    let before = secret_states(&h.kube);
    let (ctx, running) = restart_slowly(&h, None);
    // The first AuthClient pass completes while the owned Secrets still page in (before, it
    // waited for all three pages and the watch they precede).
    assert_first_pass_before_the_secret_list(&h, &ctx).await;
    // Every AuthClient is reconciled once at start, and the list completes.
    assert_settled(&h, &ctx, CLIENTS).await;
    // The passes before the list's end read their Secret from the pages listed so far, or by
    // name when its page has not arrived yet: one GET each at most.
    let window_gets = secret_gets(&h.kube);
    assert!(window_gets <= CLIENTS, "{window_gets} GETs of a Secret");
    assert_nothing_rewritten(&h, &before);
    // Once the list is complete the cache alone answers: a whole resync interval revisits
    // every AuthClient without one GET.
    let passes = reconciles_of(&ctx);
    tokio::time::sleep(Duration::from_secs(600 + 20)).await;
    assert!(
        reconciles_of(&ctx) >= passes + CLIENTS as u64,
        "every AuthClient revisited"
    );
    assert_eq!(
        secret_gets(&h.kube),
        window_gets,
        "no GET once the cache is ready"
    );
    assert_eq!(secret_states(&h.kube), before);
    assert_eq!(management_calls(&h), 0);
    // A Secret deleted now: the cache's word that it is missing is taken (no GET), and it is
    // recreated.
    let secrets_api =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(h.kube.client(), NS);
    secrets_api
        .delete("app-005-auth0", &Default::default())
        .await
        .expect("deleted");
    let recreated = h
        .kube
        .wait_until(Duration::from_secs(60), |kube| {
            kube.get(&format!("{}/app-005-auth0", secrets())).is_some()
        })
        .await;
    assert!(recreated, "the deleted Secret is recreated");
    assert_eq!(
        secret_gets(&h.kube),
        window_gets,
        "no GET once the cache is ready, also for a missing Secret"
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_a_pass_before_the_owned_secret_list_ends_recreates_a_missing_secret_and_trusts_no_foreign_one()
 {
    const CLIENTS: usize = 300;
    let h = ready_fleet(CLIENTS).await;
    // app-000's Secret was deleted while the operator was down; app-001's was replaced by a
    // Secret of the same name, with the operator's label, controlled by another AuthClient
    // (another uid), holding the attacker's values.
    let secrets_api =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(h.kube.client(), NS);
    secrets_api
        .delete("app-000-auth0", &Default::default())
        .await
        .expect("deleted");
    h.kube.insert(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": "app-001-auth0", "namespace": NS,
            "labels": {"app.kubernetes.io/managed-by": "nexus-operator"},
            "ownerReferences": [{
                "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
                "name": "app-001", "uid": "not-the-authclients-uid", "controller": true,
            }],
        },
        "data": {"AUTH0_CLIENT_ID": b64("attacker"), "AUTH0_CLIENT_SECRET": b64("attacker")},
    }));
    let foreign = h.secret("app-001-auth0").expect("the foreign Secret");
    let untouched: Vec<_> = secret_states(&h.kube)
        .into_iter()
        .filter(|(name, _, _)| name != "app-001-auth0")
        .collect();
    let app_000 = h.client_id("app-000").await;
    let (ctx, running) = restart_slowly(&h, None);
    let conflict = |kube: &kube_fake::FakeKube| {
        kube.get(&Harness::authclient_path("app-001"))
            .is_some_and(|o| {
                o["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Ready"
                            && c["status"] == "False"
                            && c["reason"] == "SecretConflict"
                    })
                })
            })
    };
    let foreign_path = format!("{}/app-001-auth0", secrets());
    let decided = h
        .kube
        .wait_until(Duration::from_secs(600), |kube| {
            let app_001 = conflict(kube) || kube.get(&foreign_path).as_ref() != Some(&foreign);
            (kube.get(&format!("{}/app-000-auth0", secrets())).is_some() && app_001)
                || owned_secret_watch(kube).is_some()
        })
        .await;
    assert!(decided);
    let version = |secret: Option<&Value>| {
        secret.and_then(|s| s["metadata"]["resourceVersion"].as_str().map(str::to_owned))
    };
    assert_eq!(
        version(h.secret("app-001-auth0").as_ref()),
        version(Some(&foreign)),
        "the foreign Secret was overwritten"
    );
    assert_eq!(h.secret("app-001-auth0").as_ref(), Some(&foreign));
    // Both decided by passes that ran before the owned Secrets' list completed.
    assert!(
        owned_secret_watch(&h.kube).is_none(),
        "decided only after the owned Secrets' list"
    );
    // The missing Secret is recreated (with the client's secret read from Auth0)...
    let recreated = h.secret("app-000-auth0").expect("recreated");
    assert_eq!(unb64(&recreated["data"]["AUTH0_CLIENT_ID"]), app_000);
    let client = h.sim.client(&app_000).expect("the Auth0 client");
    assert_eq!(
        unb64(&recreated["data"]["AUTH0_CLIENT_SECRET"]),
        client["client_secret"].as_str().expect("its secret")
    );
    // ...and the foreign one is not trusted: untouched (above), its AuthClient reports the
    // conflict (what the complete cache decides too).
    assert!(conflict(&h.kube));
    assert_settled(&h, &ctx, CLIENTS).await;
    assert_eq!(h.secret("app-001-auth0"), Some(foreign));
    assert!(conflict(&h.kube), "still the conflict with the cache");
    // Only app-000's Secret was written, once; no other Secret changed, and Auth0 was asked
    // for nothing but app-000's secret.
    let counts = h.kube.request_counts();
    assert_eq!(
        counts.filtered(|verb, resource| verb.is_write() && resource == "secrets"),
        1,
        "{counts:?}"
    );
    let others: Vec<_> = secret_states(&h.kube)
        .into_iter()
        .filter(|(name, _, _)| name != "app-001-auth0" && name != "app-000-auth0")
        .collect();
    assert_eq!(
        others,
        untouched
            .into_iter()
            .filter(|(name, _, _)| name != "app-000-auth0")
            .collect::<Vec<_>>()
    );
    assert_eq!(
        management_calls(&h),
        h.sim.counters().get("GET /api/v2/clients/{id}"),
        "{:?}",
        h.sim.counters()
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_with_served_namespaces_passes_run_before_the_owned_secret_list_ends() {
    const CLIENTS: usize = 300;
    let h = ready_fleet(CLIENTS).await;
    let before = secret_states(&h.kube);
    let scope = controller::WatchScope::from_names([NS]).expect("names");
    let (ctx, running) = restart_slowly(&h, scope);
    // The first pass does not wait for the served namespace's owned Secrets.
    assert_first_pass_before_the_secret_list(&h, &ctx).await;
    assert_settled(&h, &ctx, CLIENTS).await;
    // Each GET (of a Secret whose page has not arrived yet) in the served namespace, by name;
    // nothing written, nothing asked of Auth0.
    let gets = secret_gets(&h.kube);
    assert!(gets <= CLIENTS, "{gets} GETs of a Secret");
    assert_nothing_rewritten(&h, &before);
    running.stop().await;
}
