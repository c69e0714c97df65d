//! Issue 4: never a duplicate (crash-safe creation), adoption, cheap drift detection,
//! rotation, URL policy.

use auth0_sim::FailAction;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use nexus_crd::AuthClient;
use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test(start_paused = true)]
async fn crash_before_the_post_reaches_auth0() {
    let h = Harness::new().await;
    h.orders_pass_failing_post(FailAction::Drop).await;
    let obj = h.get("orders").await;
    let marker = obj
        .annotations()
        .get(nexus_crd::CREATION_ANNOTATION)
        .cloned()
        .expect("marker written before the POST");
    assert_ne!(
        obj.status.and_then(|s| s.last_creation_attempt),
        Some(marker),
        "not settled: the POST may have reached Auth0"
    );
    assert!(h.sim.clients().is_empty());
    h.settle("orders", 3).await;
    h.assert_one_client_owned_by(&h.get("orders").await, 1);
}

#[tokio::test(start_paused = true)]
async fn crash_after_auth0_created_the_client_but_the_answer_was_lost() {
    let h = Harness::new().await;
    h.orders_pass_failing_post(FailAction::DropAfterProcessing)
        .await;
    assert_eq!(h.sim.clients().len(), 1, "Auth0 created it");
    assert!(
        h.status("orders").await.client_id.is_none(),
        "the operator never heard"
    );
    // Found by its tag, not created again.
    h.assert_recovers_one_client("orders", 3, 1).await;
    assert!(
        h.sim.counters().get("GET /api/v2/clients") >= 1,
        "looked it up in the list"
    );
    assert!(
        h.events()
            .iter()
            .any(|(_, reason, _)| reason == "Recovered")
    );
    let secret = h.secret("orders-auth0").expect("secret");
    assert_eq!(
        unb64(&secret["data"]["AUTH0_CLIENT_SECRET"]),
        h.sim.clients()[0]["client_secret"]
            .as_str()
            .expect("secret"),
        "the secret was read back"
    );
}

#[tokio::test(start_paused = true)]
async fn crash_after_the_answer_before_the_client_id_reached_status() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    // The marker write goes through; the status write with the client id, at the end of the
    // pass, fails.
    h.kube
        .fail_next("PATCH", "/authclients/orders/status", 500, 1);
    assert!(h.reconcile("orders").await.is_err());
    assert_eq!(h.sim.clients().len(), 1);
    assert!(
        h.get("orders")
            .await
            .status
            .and_then(|s| s.client_id)
            .is_none(),
        "no status was written"
    );
    h.assert_recovers_one_client("orders", 3, 1).await;
}

#[tokio::test(start_paused = true)]
async fn crash_after_the_client_id_before_the_secret() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    h.kube
        .fail_next("POST", &format!("/namespaces/{NS}/secrets"), 500, 1);
    assert!(h.reconcile("orders").await.is_err());
    assert!(h.status("orders").await.client_id.is_some());
    h.assert_recovers_one_client("orders", 3, 1).await;
    assert!(h.secret("orders-auth0").is_some());
}

#[tokio::test(start_paused = true)]
async fn crash_at_every_step_in_a_row_still_yields_one_client() {
    let h = Harness::new().await;
    h.orders_pass_failing_post(FailAction::Drop).await;
    h.fail_auth0_once("POST", "/api/v2/clients", FailAction::DropAfterProcessing);
    let _ = h.reconcile("orders").await;
    h.kube
        .fail_next("PATCH", "/authclients/orders/status", 500, 1);
    let _ = h.reconcile("orders").await;
    h.kube
        .fail_next("POST", &format!("/namespaces/{NS}/secrets"), 500, 1);
    let _ = h.reconcile("orders").await;
    h.settle("orders", 4).await;
    h.assert_one_client_owned_by(&h.get("orders").await, 1);
}

#[tokio::test(start_paused = true)]
async fn another_clusters_client_with_the_same_owner_is_not_adopted() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    let uid = h.get("orders").await.uid().expect("uid");
    // Cluster B's client carries the same owner uid (e.g. a restored backup) but B's cluster id.
    let foreign = h.sim.insert_client(json!({
        "name": "Orders", "app_type": "regular_web",
        "client_metadata": {"nexus_cluster": "cluster-b", "nexus_owner_uid": uid, "nexus_owner": "team-a/orders"}
    }));
    // Force the recovery path: a creation marker is present.
    h.fail_auth0_once("POST", "/api/v2/clients", FailAction::Status(503));
    let _ = h.reconcile("orders").await;
    h.settle("orders", 3).await;
    let ours = h.client_id("orders").await;
    assert_ne!(ours, foreign, "cluster B's client was left alone");
    assert_eq!(h.sim.clients().len(), 2);
    assert_eq!(
        h.sim.client(&foreign).expect("foreign")["client_metadata"]["nexus_cluster"],
        json!("cluster-b")
    );
}

#[tokio::test(start_paused = true)]
async fn adoption_of_an_untagged_client() {
    let h = Harness::new().await;
    h.allow_adoption(&[NS]);
    let id = h.sim.insert_client(
        json!({"name": "Legacy", "app_type": "spa", "callbacks": ["https://old.example.com/cb"]}),
    );
    let mut s = spec("Legacy");
    s["client"]["id"] = json!(id);
    h.apply("legacy", s);
    h.converge("legacy").await;
    assert_eq!(h.ready("legacy").await.1, "Synced");
    let obj = h.get("legacy").await;
    assert_eq!(
        obj.status.clone().expect("status").client_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(h.sim.clients().len(), 1, "no create");
    let client = h.sim.client(&id).expect("client");
    assert_eq!(
        client["app_type"],
        json!("regular_web"),
        "brought in line with the spec"
    );
    assert_eq!(
        client["callbacks"],
        json!(["https://app.example.com/callback"])
    );
    assert_eq!(
        client["client_metadata"]["nexus_owner_uid"],
        json!(obj.uid().expect("uid")),
        "now tagged"
    );
    assert!(h.events().iter().any(|(_, r, _)| r == "Adopted"));
    let secret = h.secret("legacy-auth0").expect("secret");
    assert_eq!(
        unb64(&secret["data"]["AUTH0_CLIENT_SECRET"]),
        client["client_secret"].as_str().expect("secret")
    );
}

#[tokio::test(start_paused = true)]
async fn adoption_refused_when_owned_elsewhere_unless_take_over() {
    let h = Harness::new().await;
    h.allow_adoption(&[NS]);
    let id = h.sim.insert_client(json!({
        "name": "Shared", "app_type": "spa",
        "client_metadata": {"nexus_cluster": "cluster-b", "nexus_owner_uid": "someone-else", "nexus_owner": "team-b/shared"}
    }));
    let mut s = spec("Shared");
    s["client"]["id"] = json!(id);
    h.apply("shared", s.clone());
    h.converge("shared").await;
    let message = h.assert_ready("shared", "False", "AdoptionRefused").await;
    assert!(
        message.contains("team-b/shared") && message.contains("TakeOver"),
        "{message}"
    );
    assert_eq!(h.sim.counters().writes(), 0, "nothing changed in Auth0");

    s["adoptionPolicy"] = json!("TakeOver");
    h.update_spec("shared", s).await;
    h.reconcile("shared").await.expect("reconcile");
    assert_eq!(h.ready("shared").await.1, "Synced");
    let client = h.sim.client(&id).expect("client");
    assert_eq!(
        client["client_metadata"]["nexus_cluster"],
        json!("test-cluster")
    );
}

#[tokio::test(start_paused = true)]
async fn adoption_of_a_missing_client() {
    let h = Harness::new().await;
    h.allow_adoption(&[NS]);
    let mut s = spec("Ghost");
    s["client"]["id"] = json!("doesnotexist123");
    h.apply("ghost", s);
    h.converge("ghost").await;
    let message = h.assert_ready("ghost", "False", "ClientNotFound").await;
    assert!(message.contains("doesnotexist123"));
    assert!(h.sim.clients().is_empty());
}

#[tokio::test(start_paused = true)]
async fn drift_scan_costs_one_list_call_and_corrects_only_drifted_clients() {
    let h = Harness::new().await;
    for i in 0..5 {
        h.apply(&format!("app-{i}"), spec(&format!("App {i}")));
        h.converge(&format!("app-{i}")).await;
    }
    let drifted_id = h.client_id("app-3").await;
    assert!(h.sim.modify_client(
        &drifted_id,
        json!({
            "callbacks": ["https://evil.example.com/cb"],
            "client_metadata": {"owners": "mallory"}
        })
    ));

    let (_, triggered) = h.assert_scan_finds((5, 1, 0)).await;
    assert_eq!(
        h.sim.counters().total(),
        1,
        "one paged list call for five clients"
    );
    assert_eq!(h.sim.counters().get("GET /api/v2/clients"), 1);
    assert_eq!(triggered.len(), 1);
    assert_eq!(triggered[0].name, "app-3");

    h.reconcile("app-3").await.expect("reconcile");
    let counters = h.sim.counters();
    assert_eq!(counters.get("PATCH /api/v2/clients/{id}"), 1);
    assert_eq!(
        counters.get("GET /api/v2/clients/{id}"),
        0,
        "the scanned copy was used"
    );
    let client = h.sim.client(&drifted_id).expect("client");
    assert_eq!(
        client["callbacks"],
        json!(["https://app.example.com/callback"])
    );
    assert_eq!(client["client_metadata"]["owners"], json!("alice,bob"));
    let status = h.status("app-3").await;
    let drifted = condition(&status.conditions, "Drifted");
    assert_eq!(
        (drifted.status.as_str(), drifted.reason.as_str()),
        ("False", "Corrected")
    );
    assert!(
        drifted.message.contains("callbacks") && drifted.message.contains("client_metadata.owners")
    );
    h.assert_event("Warning", "DriftCorrected");
}

#[tokio::test(start_paused = true)]
async fn drift_report_mode_reports_without_overwriting() {
    let h = Harness::new().await;
    let reported = spec_with("Reported", "driftPolicy", json!("Report"));
    let id = h.created("reported", reported).await;
    h.sim
        .modify_client(&id, json!({"name": "Renamed in the dashboard"}));
    h.sim.reset_counters();

    let (_, triggered) = h.scan_drift().await;
    assert_eq!(triggered.len(), 1);
    h.reconcile("reported").await.expect("reconcile");
    assert_eq!(h.sim.counters().writes(), 0, "not overwritten");
    assert_eq!(
        h.sim.client(&id).expect("client")["name"],
        json!("Renamed in the dashboard")
    );
    let obj = h.get("reported").await;
    let conditions = obj.status.expect("status").conditions;
    let drifted = condition(&conditions, "Drifted");
    assert_eq!(drifted.status, "True");
    assert!(drifted.message.contains("name"), "{}", drifted.message);
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );

    // Already reported: the next scan does not trigger again.
    let (_, triggered) = h.scan_drift().await;
    assert!(triggered.is_empty());
}

#[tokio::test(start_paused = true)]
async fn drift_scan_finds_a_client_deleted_out_of_band() {
    let h = Harness::new().await;
    let old = h.created("orders", spec("Orders")).await;
    h.sim.remove_client(&old);
    let (report, triggered) = h.scan_drift().await;
    assert_eq!(report.missing, 1);
    assert_eq!(triggered.len(), 1);
    h.reconcile("orders").await.expect("reconcile");
    let new = h.client_id("orders").await;
    assert_ne!(new, old);
    assert_eq!(h.sim.clients().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn rotation_by_annotation_updates_secret_hash_and_status() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;
    let secret_before = h.secret("orders-auth0").expect("secret");
    let hash_before =
        secret_before["metadata"]["annotations"]["auth.nexus.dev/content-hash"].clone();
    let rotated_before = h.status("orders").await.last_rotation_time;

    let api = Api::<AuthClient>::namespaced(h.kube.client(), NS);
    api.patch(
        "orders",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"auth.nexus.dev/rotate-secret": "2026-11-27"}}}),
        ),
    )
    .await
    .expect("annotate");
    assert_eq!(rotations_in_a_pass(&h).await, 1);
    let secret = h.secret("orders-auth0").expect("secret");
    let id = h.client_id("orders").await;
    let current = h.sim.client(&id).expect("client")["client_secret"].clone();
    assert_eq!(
        unb64(&secret["data"]["AUTH0_CLIENT_SECRET"]),
        current.as_str().expect("secret")
    );
    assert_ne!(
        secret["data"]["AUTH0_CLIENT_SECRET"],
        secret_before["data"]["AUTH0_CLIENT_SECRET"]
    );
    assert_ne!(
        secret["metadata"]["annotations"]["auth.nexus.dev/content-hash"], hash_before,
        "consumers can roll"
    );
    let status = h.status("orders").await;
    assert_eq!(status.rotation_request.as_deref(), Some("2026-11-27"));
    assert!(status.last_rotation_time.is_some() && status.last_rotation_time >= rotated_before);

    assert_eq!(rotations_in_a_pass(&h).await, 0, "once per new value");
}

/// The secret rotations Auth0 saw in one pass of `orders`.
async fn rotations_in_a_pass(h: &Harness) -> u64 {
    h.sim.reset_counters();
    h.reconcile("orders").await.expect("reconcile");
    h.sim
        .counters()
        .get("POST /api/v2/clients/{id}/rotate-secret")
}

#[tokio::test(start_paused = true)]
async fn rotation_by_age() {
    let h = Harness::new().await;
    let mut s = spec("Orders");
    s["secret"] = json!({"rotateAfter": "720h"});
    h.apply("orders", s);
    h.converge("orders").await;
    assert_eq!(rotations_in_a_pass(&h).await, 0, "young secret kept");

    // Make the last rotation old.
    let api = Api::<AuthClient>::namespaced(h.kube.client(), NS);
    let mut status: Value = serde_json::to_value(h.status("orders").await).expect("json");
    status["lastRotationTime"] = json!("2020-01-01T00:00:00Z");
    api.patch_status("orders", &PatchParams::apply("test").force(), &Patch::Apply(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient", "status": {"lastRotationTime": status["lastRotationTime"]}
    })))
    .await
    .expect("status patch");
    assert_eq!(rotations_in_a_pass(&h).await, 1);
}

#[tokio::test(start_paused = true)]
async fn url_policy_is_checked_before_any_auth0_call() {
    let h = Harness::new().await;
    let mut tenant = tenant_object(TENANT, &h.sim, 1000, &[NS]);
    tenant["spec"]["urlPolicy"] = json!({"callbacks": ["https://*.example.com/**"]});
    h.kube.insert(tenant);
    let mut s = spec("Orders");
    s["client"]["callbacks"] = json!(["https://app.example.com/cb", "https://evil.io/cb"]);
    h.apply("orders", s);
    h.converge("orders").await;
    let message = h.assert_ready("orders", "False", "InvalidSpec").await;
    assert!(
        message.contains("spec.client.callbacks[1]") && message.contains("https://evil.io/cb"),
        "{message}"
    );
    assert_eq!(h.sim.counters().total(), 0);
}
