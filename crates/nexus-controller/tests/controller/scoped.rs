//! The controller serving a list of namespaces under exactly the namespaced RBAC (FakeKube
//! authorizes its requests): a credentials Secret it may not read is reported, not retried in a
//! tight loop, and picked up once it is granted.

use std::sync::Arc;
use std::time::Duration;

use auth0_sim::{self as sim, RateLimit, SimConfig};
use kube_fake::FakeKube;
use kube_fake::rbac::{PolicyRule, RbacPolicy};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{Context, ControllerConfig, WatchScope};
use nexus_testing::ready_condition as ready;
use serde_json::json;

use crate::harness::{
    CREDS_NS, NS, Running, TENANT, assert_reaches_reason, b64, spec, tenant_object,
};

const SUBJECT: &str = "system:serviceaccount:nexus-system:nexus-operator";
const WAIT: Duration = Duration::from_secs(30);

/// The namespaced mode's grants for serving `NS`, with the credentials Secrets `credentials`.
fn policy(credentials: &[&str]) -> RbacPolicy {
    let mut policy = RbacPolicy::new()
        .cluster(PolicyRule::new(
            &["auth.nexus.dev"],
            &["authtenants"],
            &["list", "watch"],
        ))
        .cluster(PolicyRule::new(
            &["auth.nexus.dev"],
            &["authtenants/status"],
            &["patch"],
        ))
        .cluster(PolicyRule::new(&[""], &["namespaces"], &["list", "watch"]).named(&[NS]))
        .namespaced(
            NS,
            PolicyRule::new(
                &["auth.nexus.dev"],
                &["authclients"],
                &["list", "watch", "patch"],
            ),
        )
        .namespaced(
            NS,
            PolicyRule::new(&["auth.nexus.dev"], &["authclients/status"], &["patch"]),
        )
        .namespaced(
            NS,
            PolicyRule::new(
                &["auth.nexus.dev"],
                &["authresourceservers"],
                &["list", "watch", "patch"],
            ),
        )
        .namespaced(
            NS,
            PolicyRule::new(
                &["auth.nexus.dev"],
                &["authresourceservers/status"],
                &["patch"],
            ),
        )
        .namespaced(
            NS,
            PolicyRule::new(
                &[""],
                &["secrets"],
                &["get", "list", "watch", "create", "patch"],
            ),
        )
        .namespaced(
            NS,
            PolicyRule::new(&["events.k8s.io"], &["events"], &["create", "patch"]),
        );
    if !credentials.is_empty() {
        policy = policy.namespaced(
            CREDS_NS,
            PolicyRule::new(&[""], &["secrets"], &["list", "watch"]).named(credentials),
        );
    }
    policy
}

#[tokio::test(start_paused = true)]
async fn a_credentials_secret_the_operator_may_not_read_is_reported_then_picked_up_once_granted() {
    let sim = sim::start(
        SimConfig {
            rate_limit: RateLimit {
                burst: 1000,
                per_second: 1000,
            },
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let kube = FakeKube::new();
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "acme-m2m", "namespace": CREDS_NS},
        "data": {"client_id": b64(&sim.m2m().client_id), "client_secret": b64(&sim.m2m().client_secret)},
    }));
    kube.insert(tenant_object(TENANT, &sim, 1000, &[NS]));
    kube.insert(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
        "metadata": {"name": "web", "namespace": NS}, "spec": spec("Web"),
    }));
    kube.authorize(SUBJECT, policy(&["other-m2m"]));
    let ctx = Arc::new(Context::new(
        kube.client_as(SUBJECT),
        nexus_testing::world::auth0_registry(Duration::from_secs(5)),
        ControllerConfig {
            cluster_id: "scoped".into(),
            ..ControllerConfig::default()
        },
        ControllerMetrics::default(),
    ));
    let running = Running::start(ctx, WatchScope::from_names([NS]).expect("names"));

    let tenant_path = format!("/apis/auth.nexus.dev/v1alpha1/authtenants/{TENANT}");
    let client_path = format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients/web");
    assert_reaches_reason(&kube, WAIT, &tenant_path, "CredentialsForbidden").await;
    let (status, _, message) = ready(&kube.get(&tenant_path).expect("tenant")).expect("Ready");
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!("{CREDS_NS}/acme-m2m")) && message.contains("credentialsSecrets"),
        "{message}"
    );
    assert_reaches_reason(&kube, WAIT, &client_path, "TenantNotReady").await;
    let denials = kube.denials();
    assert!(!denials.is_empty());
    assert!(
        denials.iter().all(|d| d.attributes.resource == "secrets"
            && d.attributes.name.as_deref() == Some("acme-m2m")),
        "only the ungranted Secret is refused: {denials:?}"
    );
    assert_eq!(
        sim.counters().get("POST /oauth/token"),
        0,
        "no token request with credentials the operator cannot read"
    );

    // The administrator grants it (helm upgrade with the Secret in credentialsSecrets): the
    // credentials watch's next attempt reads it, the tenant becomes Ready, the client follows.
    kube.authorize(SUBJECT, policy(&["other-m2m", "acme-m2m"]));
    assert_reaches_reason(&kube, WAIT, &tenant_path, "CredentialsValid").await;
    assert!(
        sim.counters().get("POST /oauth/token") >= 1,
        "the token is requested now"
    );
    assert_reaches_reason(&kube, WAIT, &client_path, "Synced").await;
    let after = kube.denials().len();
    running.stop().await;
    assert_eq!(kube.denials().len(), after, "nothing refused once granted");
}
