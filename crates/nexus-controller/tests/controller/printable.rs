//! Issue 18: text the operator sends to the API server stays inside YAML's printable set.
//! kube-fake reads server-side apply bodies with the real YAML reader's rule (a raw U+FFFE, C0
//! or C1 control is a 400), so a status write carrying one fails here as on a real cluster.
//! Every path where outside text enters (a condition message quoting Auth0 or a user, an event
//! note, the rotate-secret annotation copied into the status) is fed such characters.

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use nexus_controller::pass;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::printable::{is_yaml_printable, printable};
use nexus_crd::{AuthClient, ROTATE_ANNOTATION};
use serde_json::json;

use crate::harness::{Harness, NS, spec};

/// C0, DEL, C1 (NEL included), the separators YAML reads as line breaks, the non-characters.
const HOSTILE: &str =
    "a\u{0}b\u{1b}c\u{7f}d\u{80}e\u{85}f\u{9f}g\u{2028}h\u{2029}i\u{fffe}j\u{ffff}k";

fn all_printable(text: &str) -> bool {
    text.chars().all(is_yaml_printable) && !text.contains(['\u{85}', '\u{2028}', '\u{2029}'])
}

/// Every server-side apply body the operator sent passes the real reader's rule.
fn apply_bodies_pass_the_reader(h: &Harness) {
    let applies: Vec<_> = h
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.content_type.as_deref() == Some("application/apply-patch+yaml"))
        .collect();
    assert!(!applies.is_empty());
    for request in applies {
        let raw = serde_json::to_vec(&request.body).expect("JSON");
        assert_eq!(
            kube_fake::yaml_reader::check(&raw),
            Ok(()),
            "{}",
            request.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_text_reaches_the_api_server_escaped() {
    let h = Harness::new().await;
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;

    // 1. The rotate-secret annotation (user text) is copied into the status.
    let api = Api::<AuthClient>::namespaced(h.kube.client(), NS);
    api.patch(
        "orders",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {ROTATE_ANNOTATION: HOSTILE}}})),
    )
    .await
    .expect("annotate");
    h.sim.reset_counters();
    h.kube.clear_requests();
    h.reconcile("orders")
        .await
        .expect("the rotation pass writes its status");
    let rotations = || {
        h.sim
            .counters()
            .get("POST /api/v2/clients/{id}/rotate-secret")
    };
    assert_eq!(rotations(), 1);
    let stored = h.get("orders").await;
    let request = stored
        .status
        .as_ref()
        .and_then(|s| s.rotation_request.clone())
        .expect("recorded");
    assert_eq!(request, printable(HOSTILE));
    assert!(all_printable(&request), "{request:?}");
    apply_bodies_pass_the_reader(&h);
    // Recorded escaped, compared escaped: the same annotation does not rotate again.
    h.reconcile("orders").await.expect("pass");
    assert_eq!(rotations(), 1, "once per new value");

    // 2. A condition message quoting Auth0 or the user goes out escaped.
    let owner = h.get("orders").await;
    let mut next = owner.status.clone().expect("status");
    conditions::merge_condition(
        &mut next.conditions,
        conditions::new_condition(
            READY,
            ConditionStatus::False,
            "Auth0Rejected",
            format!("Auth0 refused the client: Payload validation error: '{HOSTILE}'"),
            owner.metadata.generation,
            Timestamp::now(),
        ),
    );
    h.kube.clear_requests();
    let stored = owner.status.clone().unwrap_or_default();
    pass::Writer::new(&h.ctx, &owner, &stored)
        .record(next)
        .await
        .expect("the API server takes the status");
    apply_bodies_pass_the_reader(&h);
    let (_, reason, message) = h.ready("orders").await;
    assert_eq!(reason, "Auth0Rejected");
    assert!(all_printable(&message), "{message:?}");
    assert!(
        message.ends_with(&format!("'{}'", printable(HOSTILE))),
        "{message}"
    );

    // 3. An event note quoting Auth0.
    h.ctx
        .event(
            &owner,
            EventType::Warning,
            "Auth0Rejected",
            "Create",
            format!("Auth0 said: {HOSTILE}"),
        )
        .await;
    let notes: Vec<String> = h
        .events()
        .into_iter()
        .filter(|(_, reason, _)| reason == "Auth0Rejected")
        .map(|(_, _, note)| note)
        .collect();
    assert_eq!(notes, [format!("Auth0 said: {}", printable(HOSTILE))]);
    assert!(all_printable(&notes[0]));
    assert_eq!(owner.name_any(), "orders");
}
