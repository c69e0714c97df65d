//! Issue 23: a large fleet at start. The AuthClients are reconciled as the initial list pages
//! in (not after it), and Ready AuthClients are revisited by the resync sweep without a
//! scheduled requeue per object.

use std::time::Duration;

use kube_fake::{CostModel, Verb};
use nexus_controller::{self as controller, ControllerConfig};
use nexus_testing::is_ready;

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
