//! Issue 2: the reconcile flow against the fake Kubernetes API and the Auth0 simulator.

use std::time::Duration;

use auth0_sim::{FailAction, RateLimit};
use kube::runtime::controller::Action;
use serde_json::json;

use crate::harness::*;

#[tokio::test(start_paused = true)]
async fn create_writes_client_secret_and_status_with_ssa() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    let action = h.converge("orders").await;
    assert_eq!(action, Action::await_change());

    h.assert_ready("orders", "True", "Synced").await;
    let obj = h.get("orders").await;
    let st = obj.status.clone().expect("status");
    let client_id = st.client_id.clone().expect("client id in status");
    assert_eq!(st.observed_generation, obj.metadata.generation);
    assert_eq!(st.secret_name.as_deref(), Some("orders-auth0"));
    assert!(st.pending_creation.is_none(), "creation marker cleared");
    assert!(
        obj.metadata
            .finalizers
            .clone()
            .unwrap_or_default()
            .contains(&"auth.nexus.dev/cleanup".to_owned())
    );

    // Exactly one Auth0 client, Auth0-shaped and tagged with this object's identity.
    let clients = h.sim.clients();
    assert_eq!(clients.len(), 1);
    let client = &clients[0];
    assert_eq!(client["client_id"], json!(client_id));
    assert_eq!(client["name"], json!("Orders"));
    assert_eq!(
        client["callbacks"],
        json!(["https://app.example.com/callback"])
    );
    assert_eq!(client["client_metadata"]["manuallyCreated"], json!("false"));
    assert_eq!(
        client["client_metadata"]["nexus_cluster"],
        json!("test-cluster")
    );
    assert_eq!(
        client["client_metadata"]["nexus_owner_uid"],
        json!(obj.metadata.uid.clone().expect("uid"))
    );

    // The Secret: four keys, owner reference, managed-by label, content hash.
    let secret = h.secret("orders-auth0").expect("secret exists");
    assert_eq!(unb64(&secret["data"]["AUTH0_CLIENT_ID"]), client_id);
    assert_eq!(
        unb64(&secret["data"]["AUTH0_CLIENT_SECRET"]),
        client["client_secret"].as_str().expect("secret")
    );
    assert_eq!(unb64(&secret["data"]["AUTH0_DOMAIN"]), h.sim.domain());
    assert_eq!(
        unb64(&secret["data"]["AUTH0_ISSUER_BASE_URL"]),
        format!("https://{}/", h.sim.domain())
    );
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["uid"],
        json!(obj.metadata.uid.clone().expect("uid"))
    );
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["controller"],
        json!(true)
    );
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        json!("nexus-operator")
    );
    assert!(secret["metadata"]["annotations"]["auth.nexus.dev/content-hash"].is_string());

    // The calls at the HTTP boundary: the finalizer and the crash-safety marker in one merge
    // patch of the metadata (conditional on the resourceVersion planned from), status and
    // Secret by SSA with the operator's field manager.
    let requests = h.kube.requests();
    let marker = the_claim(&requests, &Harness::authclient_path("orders"));
    let marker = marker.as_str();
    // One status write, at the end.
    let status_path = format!("{}/status", Harness::authclient_path("orders"));
    let write = the_patch(&requests, &status_path, "application/apply-patch+yaml");
    assert_eq!(
        write.query.get("fieldManager").map(String::as_str),
        Some("nexus-operator")
    );
    assert_eq!(write.query.get("force").map(String::as_str), Some("true"));
    let written = write.body.as_ref().expect("body");
    assert_eq!(written["status"]["clientId"], json!(client_id));
    assert_eq!(
        written["status"]["lastCreationAttempt"],
        json!(marker),
        "the status settles the marker"
    );
    assert!(written["status"].get("pendingCreation").is_none());
    assert_eq!(st.last_creation_attempt.as_deref(), Some(marker));
    let secret_write = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == format!("/api/v1/namespaces/{NS}/secrets"))
        .expect("secret create");
    assert_eq!(
        secret_write.query.get("fieldManager").map(String::as_str),
        Some("nexus-operator")
    );
    // The whole creation: finalizer and marker in one write, Secret, status and one event.
    let writes: Vec<_> = requests.iter().filter(|r| r.method != "GET").collect();
    assert_eq!(writes.len(), 4, "{writes:#?}");
    assert_eq!(h.sim.counters().get("GET /api/v2/clients/{id}"), 0);

    // Events on the transitions.
    let reasons: Vec<String> = h
        .events()
        .into_iter()
        .map(|(_, reason, _)| reason)
        .collect();
    assert_eq!(
        reasons,
        vec!["Created".to_owned()],
        "one event per creation"
    );
}

#[tokio::test(start_paused = true)]
async fn second_pass_makes_no_auth0_call_and_no_write() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;
    h.sync().await;
    let before = h.get("orders").await;
    let events_before = h.events().len();
    h.sim.reset_counters();
    h.kube.clear_requests();

    h.pass("orders").await.expect("no-op pass");

    assert_eq!(h.sim.counters().writes(), 0, "zero Auth0 writes");
    assert_eq!(
        h.sim.counters().total(),
        0,
        "not even a read: the client is Ready and unchanged"
    );
    let requests: Vec<_> = h
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api"))
        .collect();
    assert!(
        requests.is_empty(),
        "a pass that changes nothing makes no API-server request: {requests:#?}"
    );
    let after = h.get("orders").await;
    let ready = |o: &nexus_crd::AuthClient| {
        let conditions = o.status.clone().expect("status").conditions;
        condition(&conditions, "Ready").clone()
    };
    assert_eq!(
        ready(&before).last_transition_time,
        ready(&after).last_transition_time
    );
    assert_eq!(
        h.events().len(),
        events_before,
        "no event without a transition"
    );
}

#[tokio::test(start_paused = true)]
async fn spec_change_patches_only_the_changed_fields() {
    let h = Harness::new().await;
    let id = h.created("orders", spec("Orders")).await;
    let mut changed = spec("Orders");
    changed["client"]["callbacks"] = json!(["https://app.example.com/new"]);
    changed["client"]["client_metadata"] = json!({"manuallyCreated": false});
    h.update_spec("orders", changed).await;
    h.sim.reset_counters();

    h.reconcile("orders").await.expect("reconcile");

    let counters = h.sim.counters();
    assert_eq!(counters.get("PATCH /api/v2/clients/{id}"), 1);
    assert_eq!(counters.get("POST /api/v2/clients"), 0);
    let client = h.sim.client(&id).expect("client");
    assert_eq!(client["callbacks"], json!(["https://app.example.com/new"]));
    assert!(
        client["client_metadata"].get("owners").is_none(),
        "removed metadata key deleted with null"
    );
    assert_eq!(
        client["client_metadata"]["nexus_cluster"],
        json!("test-cluster"),
        "tag kept"
    );
    assert_eq!(h.ready("orders").await.1, "Synced");
}

#[tokio::test(start_paused = true)]
async fn auth0_400_becomes_auth0_rejected_and_waits_for_a_change() {
    let h = Harness::new().await;
    h.fail_auth0_once("POST", "/api/v2/clients", FailAction::Status(400));
    h.apply("orders", spec("Orders"));
    let action = h.converge("orders").await;
    assert_eq!(action, Action::await_change());
    let message = h.assert_ready("orders", "False", "Auth0Rejected").await;
    assert!(
        message.contains("400"),
        "Auth0's answer is in the message: {message}"
    );
    let warnings: Vec<_> = h
        .events()
        .into_iter()
        .filter(|(t, r, _)| t == "Warning" && r == "Auth0Rejected")
        .collect();
    assert_eq!(warnings.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_429_requeues_after_the_advertised_reset() {
    let h = Harness::with(Options {
        wait_budget: Some(Duration::ZERO),
        ..Options::default()
    })
    .await;
    h.sim.set_rate_limit(RateLimit {
        burst: 5,
        per_second: 5,
    });
    h.apply("orders", spec("Orders"));
    // The create meets a 429 (as if other callers of the tenant had spent the budget).
    h.fail_auth0_once("POST", "/api/v2/clients", FailAction::Status(429));
    let action = h.reconcile("orders").await.expect("reconcile");
    h.assert_ready("orders", "False", "RateLimited").await;
    assert_ne!(action, Action::await_change());
    let requeue = format!("{action:?}");
    assert!(requeue.contains("requeue_after: Some("), "{requeue}");
    let delay = action_delay(&action).expect("requeue delay");
    // On the paused clock nothing moves between the answer and the requeue: the delay is
    // exactly the simulator's `Retry-After: 1` (not a backoff of its own).
    assert_eq!(
        delay,
        Duration::from_secs(1),
        "waits for the advertised Retry-After, not a long backoff"
    );
    assert!(h.sim.clients().is_empty());
    // The next pass, at the requeue time the operator chose, creates the client.
    tokio::time::sleep(delay).await;
    let action = h.reconcile("orders").await.expect("reconcile");
    assert_eq!(action, Action::await_change());
    assert_eq!(h.sim.clients().len(), 1);
}

fn action_delay(action: &Action) -> Option<Duration> {
    let text = format!("{action:?}");
    let inner = text.split("Some(").nth(1)?.split(')').next()?;
    if let Some(ms) = inner.strip_suffix("ms") {
        return ms
            .parse::<f64>()
            .ok()
            .map(|v| Duration::from_secs_f64(v / 1000.0));
    }
    if let Some(s) = inner.strip_suffix('s') {
        return s.parse::<f64>().ok().map(Duration::from_secs_f64);
    }
    None
}

#[tokio::test(start_paused = true)]
async fn unknown_tenant_and_forbidden_namespace_make_no_auth0_call() {
    let h = Harness::new().await;
    let mut unknown = spec("Orders");
    unknown["tenant"] = json!("nope");
    h.apply("unknown", unknown);
    assert_eq!(h.converge("unknown").await, Action::await_change());
    let message = h.assert_ready("unknown", "False", "TenantNotFound").await;
    assert!(message.contains("'nope'"));

    h.kube
        .insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-x"}}));
    h.apply_in("team-x", "orders", spec("Orders"), json!({}));
    assert_eq!(
        {
            h.reconcile_in("team-x", "orders").await.expect("finalizer");
            h.reconcile_in("team-x", "orders").await.expect("reconcile")
        },
        Action::await_change()
    );
    let obj = h.get_in("team-x", "orders").await;
    assert!(
        obj.metadata.finalizers.is_none(),
        "nothing of it in Auth0: no finalizer to hold its deletion"
    );
    let conditions = obj.status.expect("status").conditions;
    let ready = condition(&conditions, "Ready");
    assert_eq!(ready.reason, "NamespaceNotAllowed");
    assert!(ready.message.contains("team-x"));
    assert_eq!(h.sim.counters().get("POST /api/v2/clients"), 0);
    assert!(h.sim.clients().is_empty());
}

#[tokio::test(start_paused = true)]
async fn namespace_allowed_by_label_selector() {
    let h = Harness::new().await;
    let mut tenant = tenant_object("labelled", &h.sim, 1000, &[]);
    tenant["spec"]["allowedNamespaces"] = json!({"selector": {"matchLabels": {"team": "a"}}});
    h.kube.insert(tenant);
    h.apply("orders", spec_with("Orders", "tenant", json!("labelled")));
    h.converge("orders").await;
    assert_eq!(h.ready("orders").await.1, "Synced");
}

#[tokio::test(start_paused = true)]
async fn invalid_spec_is_reported_without_calling_auth0() {
    let h = Harness::new().await;
    let mut bad = spec("Orders <script>");
    bad["client"]["description"] = json!("x".repeat(141));
    h.apply("bad", bad);
    assert_eq!(h.converge("bad").await, Action::await_change());
    let message = h.assert_ready("bad", "False", "InvalidSpec").await;
    assert!(message.contains("spec.client.name"), "{message}");
    assert!(message.contains("spec.client.description"), "{message}");
    assert_eq!(h.sim.counters().total(), 0, "not even a token request");
}

#[tokio::test(start_paused = true)]
async fn foreign_secret_is_never_overwritten() {
    let h = Harness::new().await;
    h.kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "orders-auth0", "namespace": NS},
        "data": {"mine": b64("do not touch")}
    }));
    h.apply("orders", spec("Orders"));
    assert_eq!(h.converge("orders").await, Action::await_change());
    let message = h.assert_ready("orders", "False", "SecretConflict").await;
    assert!(message.contains("orders-auth0"));
    let secret = h.secret("orders-auth0").expect("still there");
    assert_eq!(unb64(&secret["data"]["mine"]), "do not touch");
    assert!(secret["data"].get("AUTH0_CLIENT_SECRET").is_none());
    assert!(
        !h.kube
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.ends_with("/secrets/orders-auth0")),
        "no write to the foreign Secret"
    );
}

#[tokio::test(start_paused = true)]
async fn delete_policy_removes_the_auth0_client() {
    let h = Harness::new().await;
    let id = h.created("orders", spec("Orders")).await;
    assert!(h.sim.client(&id).is_some());

    kube::Api::<nexus_crd::AuthClient>::namespaced(h.kube.client(), NS)
        .delete("orders", &Default::default())
        .await
        .expect("delete accepted");
    h.reconcile("orders").await.expect("cleanup");

    assert!(h.sim.client(&id).is_none(), "Auth0 client deleted");
    assert!(
        h.kube.get(&Harness::authclient_path("orders")).is_none(),
        "finalizer released, object gone"
    );
    assert!(
        h.events()
            .iter()
            .any(|(_, reason, note)| reason == "Deleted" && note.contains(&id))
    );
}

#[tokio::test(start_paused = true)]
async fn orphan_policy_keeps_the_client_and_releases_its_tag() {
    let h = Harness::new().await;
    let orphan = spec_with("Orders", "deletionPolicy", json!("Orphan"));
    let id = h.created("orders", orphan).await;

    kube::Api::<nexus_crd::AuthClient>::namespaced(h.kube.client(), NS)
        .delete("orders", &Default::default())
        .await
        .expect("delete accepted");
    h.reconcile("orders").await.expect("cleanup");

    let client = h.sim.client(&id).expect("client kept");
    assert!(
        client["client_metadata"].get("nexus_owner_uid").is_none(),
        "tag released: {client}"
    );
    assert_eq!(client["client_metadata"]["owners"], json!("alice,bob"));
    assert!(h.kube.get(&Harness::authclient_path("orders")).is_none());
}

#[tokio::test(start_paused = true)]
async fn client_deleted_out_of_band_is_recreated() {
    let h = Harness::new().await;
    let old = h.created("orders", spec("Orders")).await;
    assert!(h.sim.remove_client(&old));

    // A spec change (or the drift scan) makes the operator look; it finds the client gone.
    let mut changed = spec("Orders");
    changed["client"]["description"] = json!("now with a description");
    h.update_spec("orders", changed).await;
    h.reconcile("orders").await.expect("reconcile");

    let status = h.status("orders").await;
    let new = status.client_id.expect("new id");
    assert_ne!(new, old);
    assert_eq!(h.sim.clients().len(), 1);
    assert_eq!(
        h.sim.client(&new).expect("client")["description"],
        json!("now with a description")
    );
    let secret = h.secret("orders-auth0").expect("secret");
    assert_eq!(
        unb64(&secret["data"]["AUTH0_CLIENT_ID"]),
        new,
        "Secret follows the new client"
    );
    h.assert_event("Warning", "ClientMissing");
}

#[tokio::test(start_paused = true)]
async fn tenant_change_is_refused() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;
    h.kube.insert(tenant_object("other", &h.sim, 1000, &[NS]));
    let mut moved = spec("Orders");
    moved["tenant"] = json!("other");
    h.update_spec("orders", moved).await;
    h.sync().await; // checks the new tenant (a token request of the tenant, not of the client)
    h.sim.reset_counters();
    assert_eq!(
        h.pass("orders").await.expect("reconcile"),
        Action::await_change()
    );
    let message = h.assert_ready("orders", "False", "InvalidSpec").await;
    assert!(message.contains("cannot change"), "{message}");
    assert_eq!(h.sim.counters().total(), 0);
}
