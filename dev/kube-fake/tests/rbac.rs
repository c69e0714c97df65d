//! The opt-in RBAC authorizer of `FakeKube`, driven through real kube APIs (on tokio's paused
//! clock, like the other kube-fake tests).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube_fake::FakeKube;
use kube_fake::rbac::{PolicyRule, RbacPolicy};
use serde_json::json;

const SUBJECT: &str = "system:serviceaccount:ops:operator";
const WAIT: Duration = Duration::from_secs(10);

fn world() -> FakeKube {
    let kube = FakeKube::new();
    for (ns, name) in [("ops", "creds"), ("ops", "other"), ("team", "x")] {
        kube.insert(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns}, "data": {"k": "dg=="},
        }));
    }
    for ns in ["ops", "team", "elsewhere"] {
        kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    kube.authorize(
        SUBJECT,
        RbacPolicy::new()
            .namespaced(
                "ops",
                PolicyRule::new(&[""], &["secrets"], &["get", "list", "watch"]).named(&["creds"]),
            )
            .namespaced(
                "team",
                PolicyRule::new(&[""], &["secrets"], &["list", "watch", "create", "patch"]),
            )
            .cluster(PolicyRule::new(&[""], &["namespaces"], &["list", "watch"]).named(&["team"])),
    );
    kube
}

fn status_of(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("not an API error: {other}"),
    }
}

/// The refusal of a list of `api` with `params` (`what`: the list, for the message).
async fn list_refusal<K>(api: &Api<K>, params: &ListParams, what: &str) -> kube::core::Status
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    status_of(api.list(params).await.expect_err(what))
}

#[tokio::test(start_paused = true)]
async fn resource_names_authorize_get_and_single_object_list_and_watch() {
    let kube = world();
    let ops: Api<Secret> = Api::namespaced(kube.client_as(SUBJECT), "ops");
    assert!(ops.get("creds").await.is_ok());
    let by_name = ListParams::default().fields("metadata.name=creds");
    assert_eq!(
        ops.list(&by_name).await.expect("list by name").items.len(),
        1
    );

    // A watcher by name (its list and its watch) runs through.
    let mut events = watcher::watcher(
        ops.clone(),
        watcher::Config::default().fields("metadata.name=creds"),
    )
    .boxed();
    let mut listed = Vec::new();
    while let Some(event) = tokio::time::timeout(WAIT, events.next())
        .await
        .expect("event")
    {
        match event.expect("no error") {
            Event::InitApply(s) => listed.push(s.metadata.name.unwrap_or_default()),
            Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(listed, ["creds"]);

    let other = status_of(ops.get("other").await.expect_err("other name"));
    assert_eq!((other.code, other.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        other.message,
        format!(
            "secrets \"other\" is forbidden: User \"{SUBJECT}\" cannot get resource \"secrets\" in API group \"\" in the namespace \"ops\""
        )
    );
    let all = list_refusal(&ops, &ListParams::default(), "list without the name").await;
    assert_eq!(all.code, 403);
    assert!(
        all.message.starts_with("secrets is forbidden"),
        "{}",
        all.message
    );
    let all_namespaces = Api::<Secret>::all(kube.client_as(SUBJECT));
    let cluster = list_refusal(
        &all_namespaces,
        &by_name,
        "a Role does not grant the cluster scope",
    )
    .await;
    assert!(
        cluster.message.ends_with("at the cluster scope"),
        "{}",
        cluster.message
    );

    let denials = kube.denials();
    assert_eq!(denials.len(), 3, "{denials:?}");
    assert!(denials.iter().all(|d| d.subject == SUBJECT));
    assert_eq!(denials[0].attributes.name.as_deref(), Some("other"));
}

#[tokio::test(start_paused = true)]
async fn namespaces_by_name_and_roles_only_in_their_namespace() {
    let kube = world();
    let namespaces: Api<Namespace> = Api::all(kube.client_as(SUBJECT));
    let team = namespaces
        .list(&ListParams::default().fields("metadata.name=team"))
        .await
        .expect("the granted namespace by name");
    assert_eq!(team.items.len(), 1);
    assert_eq!(
        list_refusal(&namespaces, &ListParams::default(), "all")
            .await
            .code,
        403
    );
    let elsewhere: Api<Secret> = Api::namespaced(kube.client_as(SUBJECT), "elsewhere");
    assert_eq!(
        list_refusal(&elsewhere, &ListParams::default(), "no Role there")
            .await
            .code,
        403
    );
    // The administrator's client is not restricted.
    assert!(
        Api::<Secret>::all(kube.client())
            .list(&ListParams::default())
            .await
            .is_ok()
    );
    // Discovery is open to everyone.
    assert!(
        kube.client_as(SUBJECT)
            .list_core_api_versions()
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_side_apply_that_creates_needs_create() {
    let kube = world();
    let secret = |name: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"k": "dg=="}});
    let apply = PatchParams::apply("test").force();
    // Patch + create in `team`: applying a new Secret works.
    let team: Api<Secret> = Api::namespaced(kube.client_as(SUBJECT), "team");
    team.patch("fresh", &apply, &Patch::Apply(secret("fresh")))
        .await
        .expect("patch and create are granted");
    team.create(
        &PostParams::default(),
        &serde_json::from_value(secret("posted")).expect("secret"),
    )
    .await
    .expect("create is granted");

    // Only patch: an existing object can be applied, a missing one cannot.
    let patch_only = "patch-only";
    kube.authorize(
        patch_only,
        RbacPolicy::new().namespaced("team", PolicyRule::new(&[""], &["secrets"], &["patch"])),
    );
    let limited: Api<Secret> = Api::namespaced(kube.client_as(patch_only), "team");
    limited
        .patch("fresh", &apply, &Patch::Apply(secret("fresh")))
        .await
        .expect("the object exists: patch suffices");
    let refused = status_of(
        limited
            .patch("new-one", &apply, &Patch::Apply(secret("new-one")))
            .await
            .expect_err("creating needs create"),
    );
    assert_eq!(refused.code, 403);
    assert!(
        refused
            .message
            .contains("cannot create resource \"secrets\""),
        "{}",
        refused.message
    );
    assert!(
        kube.get("/api/v1/namespaces/team/secrets/new-one")
            .is_none(),
        "nothing was created"
    );
    assert_eq!(
        kube.denials().last().map(|d| d.attributes.verb.as_str()),
        Some("create")
    );

    // A subject without a policy may do nothing but discovery.
    let nobody: Api<Secret> = Api::namespaced(kube.client_as("nobody"), "team");
    assert_eq!(
        list_refusal(&nobody, &ListParams::default(), "no policy")
            .await
            .code,
        403
    );
}
