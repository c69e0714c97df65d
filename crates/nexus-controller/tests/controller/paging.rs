//! Issue 23: tenants past 1,000 clients. The simulator refuses offset paging past record 1,000
//! as Auth0 does, so every listing here must use checkpoint paging: the drift scan (which
//! streams, one page at a time), crash recovery (finding a client by its ownership tag) and
//! shutdown while a long scan is in flight.

use std::time::Duration;

use auth0_sim::{FailAction, Faults, Latency};
use serde_json::json;

use crate::harness::*;

/// Clients already in the tenant, none of them managed by the operator.
const TENANT_SIZE: usize = 1500;

fn fill(h: &Harness) {
    for i in 0..TENANT_SIZE {
        h.sim.insert_client(json!({"name": format!("other-{i}")}));
    }
}

/// Where `client_id` lies in Auth0's list order.
fn position(h: &Harness, client_id: &str) -> usize {
    h.sim
        .clients()
        .iter()
        .position(|c| c["client_id"] == json!(client_id))
        .expect("listed")
}

#[tokio::test(start_paused = true)]
async fn drift_past_the_first_thousand_clients_is_found_and_corrected_page_by_page() {
    let h = Harness::new().await;
    h.apply("early", spec("Early"));
    h.converge("early").await;
    fill(&h);
    for name in ["late", "gone"] {
        h.apply(name, spec(name));
        h.converge(name).await;
    }
    let late = h.client_id("late").await;
    let gone = h.client_id("gone").await;
    assert!(position(&h, &late) >= 1000, "past the offset ceiling");
    assert!(
        h.sim
            .modify_client(&late, json!({"callbacks": ["https://evil.example.com/cb"]}))
    );
    assert!(h.sim.remove_client(&gone));
    let listed = h.sim.clients().len();

    let (report, triggered) = h.assert_scan_finds((3, 2, 1)).await;
    assert_eq!(report.listed, listed, "every client of the tenant was seen");
    assert_eq!(report.pages, listed.div_ceil(100));
    assert!(
        report.peak_held <= 100,
        "the scan held one page at a time, not the tenant: {report:?}"
    );
    assert_eq!(
        h.sim.counters().get("GET /api/v2/clients"),
        listed.div_ceil(100) as u64
    );
    let mut names: Vec<&str> = triggered.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["gone", "late"]);

    h.reconcile("late").await.expect("reconcile");
    assert_eq!(
        h.sim.client(&late).expect("client")["callbacks"],
        json!(["https://app.example.com/callback"]),
        "corrected"
    );
}

#[tokio::test(start_paused = true)]
async fn crash_between_the_post_and_the_status_write_past_the_first_thousand_clients() {
    let h = Harness::new().await;
    fill(&h);
    h.apply("orders", spec("Orders"));
    // The marker write goes through; the status write with the client id, at the end of the
    // pass, fails.
    h.kube
        .fail_next("PATCH", "/authclients/orders/status", 500, 1);
    assert!(h.reconcile("orders").await.is_err());
    assert_eq!(h.sim.clients().len(), TENANT_SIZE + 1, "Auth0 created it");
    let id = h
        .assert_recovers_one_client("orders", 4, TENANT_SIZE + 1)
        .await;
    assert!(position(&h, &id) >= 1000, "found past the offset ceiling");
    assert!(
        h.sim.counters().get("GET /api/v2/clients") > 10,
        "paged past record 1,000"
    );
}

#[tokio::test(start_paused = true)]
async fn lost_answer_to_the_post_past_the_first_thousand_clients() {
    let h = Harness::new().await;
    fill(&h);
    h.orders_pass_failing_post(FailAction::DropAfterProcessing)
        .await;
    h.assert_recovers_one_client("orders", 4, TENANT_SIZE + 1)
        .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_does_not_wait_for_a_drift_scan_in_flight() {
    let h = Harness::configured(|c| c.drift_scan_interval = Duration::from_secs(10)).await;
    fill(&h);
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;
    // Each Management API call now takes 4 s: a scan of this tenant (16 pages) takes over a
    // minute, twice the chart's default grace period (30 s).
    h.sim.set_faults(Faults {
        latency: Latency::Fixed(Duration::from_secs(4)),
        ..Faults::default()
    });
    h.sim.reset_counters();
    let running = h.run_controller();
    // The scan is in flight once its first page was asked for.
    h.sim
        .wait_for_counters(|c| c.get("GET /api/v2/clients") >= 1)
        .await;
    let _ = running.stop.send(());
    let stopped = tokio::time::timeout(Duration::from_secs(30), running.task).await;
    assert!(
        stopped.is_ok(),
        "the controller stopped within the grace period"
    );
    assert!(
        h.sim.counters().get("GET /api/v2/clients") < 16,
        "the scan was abandoned, not finished"
    );
}
