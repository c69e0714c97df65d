//! Integration tests for `kube_fake::FakeKube`, driven through real kube APIs.
//!
//! Every test runs on tokio's paused clock: the fake API is in memory, on the test's runtime, so
//! the clock only moves when every task waits on a timer. The `WAIT` guards then fire only if
//! something is really stuck (never because the machine is busy), and a watch's
//! `timeoutSeconds` ends in virtual time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Client, Resource, ResourceExt};
use kube_fake::{FakeKube, ResourceType};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn configmap(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

/// Creates the ConfigMap `name` with `labels` through `api`.
async fn create(api: &Api<ConfigMap>, name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    api.create(&PostParams::default(), &configmap(name, labels))
        .await
        .expect("create")
}

/// A watcher's initial list of the one object `name`: Init, InitApply, InitDone.
async fn assert_initial_list<S>(stream: &mut S, name: &str)
where
    S: futures::Stream<Item = Result<WatchEvent<ConfigMap>, watcher::Error>> + Unpin,
{
    assert!(matches!(next_event(stream).await, WatchEvent::Init));
    let listed = next_event(stream).await;
    assert!(
        matches!(&listed, WatchEvent::InitApply(cm) if cm.name_any() == name),
        "{listed:?}"
    );
    assert!(matches!(next_event(stream).await, WatchEvent::InitDone));
}

/// The first watch request the fake served.
fn watch_request(kube: &FakeKube) -> kube_fake::RecordedRequest {
    kube.requests()
        .into_iter()
        .find(|r| r.query.contains_key("watch"))
        .expect("watch request")
}

fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

fn api_reason(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.reason.clone(),
        other => format!("not an API error: {other}"),
    }
}

fn authclient_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("auth.nexus.dev", "v1alpha1", "AuthClient"),
        "authclients",
    )
}

#[tokio::test(start_paused = true)]
async fn secret_crud_conflict_and_delete() {
    let kube = FakeKube::new();
    let secrets: Api<Secret> = Api::namespaced(kube.client(), "ns1");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("s".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "a".to_string(),
            ByteString(b"1".to_vec()),
        )])),
        ..Default::default()
    };
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    assert_eq!(created.metadata.namespace.as_deref(), Some("ns1"));
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.creation_timestamp.is_some());

    let err = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect_err("duplicate");
    assert_eq!(
        (api_code(&err), api_reason(&err).as_str()),
        (Some(409), "AlreadyExists")
    );

    let fetched = secrets.get("s").await.expect("get");
    assert_eq!(fetched.data, secret.data);
    assert_eq!(
        kube.get("/api/v1/namespaces/ns1/secrets/s")
            .expect("stored")["data"]["a"],
        "MQ=="
    );

    let mut stale = fetched.clone();
    let mut update = fetched.clone();
    update.data = Some(BTreeMap::from([(
        "a".to_string(),
        ByteString(b"2".to_vec()),
    )]));
    let replaced = secrets
        .replace("s", &PostParams::default(), &update)
        .await
        .expect("replace");
    assert_ne!(replaced.resource_version(), fetched.resource_version());
    stale.data = None;
    let err = secrets
        .replace("s", &PostParams::default(), &stale)
        .await
        .expect_err("stale");
    assert_eq!(
        (api_code(&err), api_reason(&err).as_str()),
        (Some(409), "Conflict")
    );

    assert_eq!(
        fetched.type_.as_deref(),
        Some("Opaque"),
        "type is defaulted"
    );
    let meta = secrets.get_metadata("s").await.expect("metadata only");
    assert_eq!(meta.metadata.uid, created.metadata.uid);
    let metas = secrets
        .list_metadata(&ListParams::default())
        .await
        .expect("list metadata");
    assert_eq!(metas.items.len(), 1);

    let err = secrets.get("missing").await.expect_err("missing");
    assert_eq!(
        (api_code(&err), api_reason(&err).as_str()),
        (Some(404), "NotFound")
    );
    assert!(secrets.get_opt("missing").await.expect("get_opt").is_none());

    let deleted = secrets
        .delete("s", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(
        deleted.is_right(),
        "immediate deletion of a built-in answers a Status"
    );
    assert!(secrets.get_opt("s").await.expect("get_opt").is_none());
    assert!(kube.get("/api/v1/namespaces/ns1/secrets/s").is_none());
}

#[tokio::test(start_paused = true)]
async fn list_with_label_and_field_selectors() {
    let kube = FakeKube::new();
    let client = kube.client();
    let ns1: Api<ConfigMap> = Api::namespaced(client.clone(), "ns1");
    let ns2: Api<ConfigMap> = Api::namespaced(client.clone(), "ns2");
    for (api, name, labels) in [
        (&ns1, "a", vec![("app", "x"), ("tier", "web")]),
        (&ns1, "b", vec![("app", "y")]),
        (&ns2, "c", vec![("app", "x")]),
    ] {
        create(api, name, &labels).await;
    }
    let names = |list: kube::core::ObjectList<ConfigMap>| {
        list.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
    };
    // The names `api` lists with the label selector `labels` (empty: none).
    let labelled = async |api: &Api<ConfigMap>, labels: &str| {
        let params = if labels.is_empty() {
            ListParams::default()
        } else {
            ListParams::default().labels(labels)
        };
        names(api.list(&params).await.expect("list"))
    };
    assert_eq!(labelled(&ns1, "").await, ["a", "b"]);
    assert_eq!(labelled(&ns1, "app=x").await, ["a"]);
    assert_eq!(labelled(&ns1, "app!=x").await, ["b"]);
    assert_eq!(labelled(&ns1, "app in (x,y),!tier").await, ["b"]);
    assert_eq!(labelled(&ns1, "tier").await, ["a"]);
    let all: Api<ConfigMap> = Api::all(client);
    assert_eq!(labelled(&all, "app==x").await, ["a", "c"]);
    let by_field = all
        .list(&ListParams::default().fields("metadata.namespace=ns2"))
        .await
        .expect("list");
    assert_eq!(names(by_field), ["c"]);
    let by_name = all
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .expect("list");
    assert!(
        by_name
            .metadata
            .resource_version
            .as_ref()
            .is_some_and(|rv| !rv.is_empty())
    );
    assert_eq!(names(by_name), ["b"]);
    assert_eq!(kube.list("/api/v1/configmaps").len(), 3);
    assert_eq!(kube.list("/api/v1/namespaces/ns2/configmaps").len(), 1);
    let err = ns1
        .list(&ListParams::default().labels("app in x"))
        .await
        .expect_err("bad selector");
    assert_eq!(api_code(&err), Some(400));
}

#[tokio::test(start_paused = true)]
async fn server_side_apply_tracks_fields_per_manager() {
    let kube = FakeKube::new();
    let secrets: Api<Secret> = Api::namespaced(kube.client(), "ns1");
    let pp = PatchParams::apply("nexus").force();
    let first = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "labels": {"a": "1", "b": "2"}},
        "data": {"id": "aWQ=", "secret": "c2VjcmV0"}
    });
    let created = secrets
        .patch("creds", &pp, &Patch::Apply(&first))
        .await
        .expect("apply creates");
    assert_eq!(created.metadata.generation, Some(1));
    let fields = created.metadata.managed_fields.clone().unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f.manager.as_deref() == Some("nexus")
                && f.operation.as_deref() == Some("Apply"))
    );

    // Another manager co-owns the label `b`.
    let other = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "labels": {"b": "2", "c": "3"}}});
    secrets
        .patch("creds", &PatchParams::apply("other"), &Patch::Apply(&other))
        .await
        .expect("other apply");

    let second = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "labels": {"a": "1"}},
        "data": {"id": "aWQ="}
    });
    let applied = secrets
        .patch("creds", &pp, &Patch::Apply(&second))
        .await
        .expect("second apply");
    let data = applied.data.clone().unwrap_or_default();
    assert!(data.contains_key("id"));
    assert!(
        !data.contains_key("secret"),
        "a key the manager stopped applying is removed"
    );
    let labels = applied.labels();
    assert_eq!(labels.get("a").map(String::as_str), Some("1"));
    assert_eq!(
        labels.get("b").map(String::as_str),
        Some("2"),
        "still applied by `other`"
    );
    assert_eq!(labels.get("c").map(String::as_str), Some("3"));
    assert_eq!(applied.metadata.generation, Some(2), "data changed");

    // Re-applying the same configuration is a no-op: same resourceVersion.
    let again = secrets
        .patch("creds", &pp, &Patch::Apply(&second))
        .await
        .expect("idempotent");
    assert_eq!(again.resource_version(), applied.resource_version());

    // A conflicting value without force is rejected; with force it wins.
    let clash = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "labels": {"c": "changed"}}});
    let err = secrets
        .patch("creds", &PatchParams::apply("third"), &Patch::Apply(&clash))
        .await
        .expect_err("conflict");
    assert_eq!(api_code(&err), Some(409));
    let forced = secrets
        .patch(
            "creds",
            &PatchParams::apply("third").force(),
            &Patch::Apply(&clash),
        )
        .await
        .expect("forced");
    assert_eq!(
        forced.labels().get("c").map(String::as_str),
        Some("changed")
    );

    let missing_manager = secrets
        .patch("creds", &PatchParams::default(), &Patch::Apply(&second))
        .await;
    assert_eq!(
        api_code(&missing_manager.expect_err("no fieldManager")),
        Some(400)
    );
}

#[tokio::test(start_paused = true)]
async fn status_subresource_and_generation_rules() {
    let kube = FakeKube::new();
    let ar = authclient_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(kube.client(), "ns1", &ar);
    let obj = DynamicObject::new("app", &ar)
        .data(json!({"spec": {"name": "App"}, "status": {"phase": "ignored"}}));
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create"
    );

    let status = json!({"status": {"phase": "Ready", "observedGeneration": 1}});
    let with_status = api
        .patch_status("app", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(with_status.data["status"]["phase"], "Ready");
    assert_eq!(
        with_status.metadata.generation,
        Some(1),
        "status writes keep generation"
    );

    // Writes to the main resource keep the stored status; a spec change bumps generation.
    let main = json!({"spec": {"name": "Renamed"}, "status": {"phase": "Hacked"}});
    let patched = api
        .patch("app", &PatchParams::default(), &Patch::Merge(&main))
        .await
        .expect("patch");
    assert_eq!(patched.data["status"]["phase"], "Ready");
    assert_eq!(patched.data["spec"]["name"], "Renamed");
    assert_eq!(patched.metadata.generation, Some(2));

    // Metadata-only changes keep generation.
    let labels = json!({"metadata": {"labels": {"x": "y"}}});
    let labelled = api
        .patch("app", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .expect("labels");
    assert_eq!(labelled.metadata.generation, Some(2));

    // Status writes never change spec or metadata.
    let mut replacement = labelled.clone();
    replacement.data["spec"] = json!({"name": "Nope"});
    replacement.data["status"] = json!({"phase": "Degraded"});
    replacement.metadata.labels = None;
    let replaced = api
        .replace_status("app", &PostParams::default(), &replacement)
        .await
        .expect("replace_status");
    assert_eq!(replaced.data["status"]["phase"], "Degraded");
    assert_eq!(replaced.data["spec"]["name"], "Renamed");
    assert_eq!(replaced.labels().get("x").map(String::as_str), Some("y"));

    // Custom resources refuse unconditional updates.
    let mut unconditional = replaced.clone();
    unconditional.metadata.resource_version = None;
    let err = api
        .replace("app", &PostParams::default(), &unconditional)
        .await
        .expect_err("no rv");
    assert_eq!(api_code(&err), Some(422));

    // Server-side apply to /status with conditions merged by type.
    let cond = |t: &str, s: &str| json!({"type": t, "status": s});
    let apply = json!({"apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
        "status": {"conditions": [cond("Ready", "True"), cond("Synced", "True")]}});
    api.patch_status(
        "app",
        &PatchParams::apply("nexus").force(),
        &Patch::Apply(&apply),
    )
    .await
    .expect("apply status");
    let apply = json!({"apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
        "status": {"conditions": [cond("Ready", "False")]}});
    let applied = api
        .patch_status(
            "app",
            &PatchParams::apply("nexus").force(),
            &Patch::Apply(&apply),
        )
        .await
        .expect("apply status");
    assert_eq!(
        applied.data["status"]["conditions"],
        json!([cond("Ready", "False")])
    );
    let entries = applied.metadata.managed_fields.unwrap_or_default();
    assert!(entries.iter().any(
        |e| e.manager.as_deref() == Some("nexus") && e.subresource.as_deref() == Some("status")
    ));

    // Strategic merge patch is not supported for custom resources.
    let smp = api
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {}})),
        )
        .await;
    assert_eq!(api_code(&smp.expect_err("415")), Some(415));

    // Cluster-scoped authtenants; secrets have no status subresource.
    let tenants_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("auth.nexus.dev", "v1alpha1", "AuthTenant"),
        "authtenants",
    );
    let tenants: Api<DynamicObject> = Api::all_with(kube.client(), &tenants_ar);
    tenants
        .create(
            &PostParams::default(),
            &DynamicObject::new("t", &tenants_ar).data(json!({"spec": {}})),
        )
        .await
        .expect("tenant");
    assert!(
        kube.get("/apis/auth.nexus.dev/v1alpha1/authtenants/t")
            .is_some()
    );
    let secrets: Api<Secret> = Api::namespaced(kube.client(), "ns1");
    let err = secrets
        .get_status("x")
        .await
        .expect_err("no status subresource");
    assert_eq!(api_code(&err), Some(404));
}

#[tokio::test(start_paused = true)]
async fn merge_json_and_strategic_patches() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "default");
    create(&api, "cm", &[("a", "1"), ("b", "2")]).await;
    let merged = api
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": null, "c": "3"}}})),
        )
        .await
        .expect("merge");
    assert_eq!(
        merged.labels().keys().cloned().collect::<Vec<_>>(),
        ["b", "c"]
    );

    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "replace", "path": "/data/k", "value": "w"}
    ]))
    .expect("patch");
    let patched = api
        .patch("cm", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .expect("json patch");
    assert_eq!(
        patched
            .data
            .unwrap_or_default()
            .get("k")
            .map(String::as_str),
        Some("w")
    );

    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/k", "value": "v"}]))
            .expect("patch");
    let err = api
        .patch("cm", &PatchParams::default(), &Patch::Json::<()>(failing))
        .await
        .expect_err("test op");
    assert_eq!(
        (api_code(&err), api_reason(&err).as_str()),
        (Some(422), "Invalid")
    );

    let stale = json!({"metadata": {"resourceVersion": "1"}, "data": {"k": "x"}});
    let err = api
        .patch("cm", &PatchParams::default(), &Patch::Merge(stale))
        .await
        .expect_err("stale rv");
    assert_eq!(api_code(&err), Some(409));

    let smp = api
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"finalizers": ["x/y"]}})),
        )
        .await
        .expect("strategic");
    assert_eq!(smp.finalizers(), ["x/y"]);
}

#[tokio::test(start_paused = true)]
async fn finalizer_helper_and_deletion() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "ns1");
    create(&api, "cm", &[]).await;
    let run = |obj: ConfigMap| {
        let api = api.clone();
        async move {
            finalizer(
                &api,
                "nexus.dev/cleanup",
                Arc::new(obj),
                |event| async move {
                    match event {
                        FinalizerEvent::Apply(_) | FinalizerEvent::Cleanup(_) => {
                            Ok::<_, kube::Error>(Action::await_change())
                        }
                    }
                },
            )
            .await
        }
    };
    run(api.get("cm").await.expect("get"))
        .await
        .expect("adds finalizer");
    assert_eq!(
        api.get("cm").await.expect("get").finalizers(),
        ["nexus.dev/cleanup"]
    );
    let patch = kube
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .expect("finalizer patch");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/json-patch+json")
    );
    assert_eq!(
        patch.body.as_ref().and_then(|b| b[0]["op"].as_str()),
        Some("test")
    );

    api.delete("cm", &DeleteParams::default())
        .await
        .expect("delete");
    let deleting = api.get("cm").await.expect("still there");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    api.delete("cm", &DeleteParams::default())
        .await
        .expect("second delete is idempotent");

    let adding = json!({"metadata": {"finalizers": ["nexus.dev/cleanup", "other/new"]}});
    let err = api
        .patch("cm", &PatchParams::default(), &Patch::Merge(adding))
        .await
        .expect_err("no new finalizers");
    assert_eq!(api_code(&err), Some(422));

    run(deleting).await.expect("cleanup removes finalizer");
    assert!(
        api.get_opt("cm").await.expect("get_opt").is_none(),
        "deletion completes"
    );
}

#[tokio::test(start_paused = true)]
async fn garbage_collects_owned_objects() {
    let kube = FakeKube::new();
    let client = kube.client();
    let ar = authclient_resource();
    let clients: Api<DynamicObject> = Api::namespaced_with(client.clone(), "ns1", &ar);
    let owner = clients
        .create(
            &PostParams::default(),
            &DynamicObject::new("app", &ar).data(json!({"spec": {}})),
        )
        .await
        .expect("owner");
    let owner_ref = |name: &str, uid: &str| OwnerReference {
        api_version: "v1".into(),
        kind: "Whatever".into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        ..Default::default()
    };
    let owner_uid = owner.uid().expect("uid");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "ns1");
    let child = Secret {
        metadata: ObjectMeta {
            name: Some("child".into()),
            owner_references: Some(vec![owner_ref("app", &owner_uid)]),
            ..Default::default()
        },
        ..Default::default()
    };
    let child = secrets
        .create(&PostParams::default(), &child)
        .await
        .expect("child");
    let grandchild_uid = child.uid().expect("uid");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "ns1");
    let mut grandchild = configmap("grandchild", &[]);
    grandchild.metadata.owner_references = Some(vec![owner_ref("child", &grandchild_uid)]);
    maps.create(&PostParams::default(), &grandchild)
        .await
        .expect("grandchild");
    maps.create(&PostParams::default(), &configmap("unrelated", &[]))
        .await
        .expect("unrelated");

    let deleted = clients
        .delete("app", &DeleteParams::default())
        .await
        .expect("delete owner");
    assert!(
        deleted.is_left(),
        "custom resources return the deleted object"
    );
    assert!(secrets.get_opt("child").await.expect("get").is_none());
    assert!(maps.get_opt("grandchild").await.expect("get").is_none());
    assert!(maps.get_opt("unrelated").await.expect("get").is_some());
}

async fn next_event<S>(stream: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures::Stream<Item = Result<WatchEvent<ConfigMap>, watcher::Error>> + Unpin,
{
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("watch event in time")
        .expect("stream open")
        .expect("watch ok")
}

#[tokio::test(start_paused = true)]
async fn watcher_sees_changes_after_start() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "ns1");
    create(&api, "existing", &[("app", "x")]).await;
    let mut stream =
        watcher::watcher(api.clone(), watcher::Config::default().labels("app=x")).boxed();
    assert_initial_list(&mut stream, "existing").await;

    // The watch request is only sent when the stream is polled again; it resumes from the
    // list's resourceVersion, so these changes are replayed from the event log.
    create(&api, "new", &[("app", "x")]).await;
    create(&api, "filtered", &[("app", "y")]).await;
    let added = next_event(&mut stream).await;
    assert!(
        matches!(&added, WatchEvent::Apply(cm) if cm.name_any() == "new"),
        "{added:?}"
    );
    api.patch(
        "new",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "changed"}})),
    )
    .await
    .expect("modify");
    let modified = next_event(&mut stream).await;
    assert!(
        matches!(&modified, WatchEvent::Apply(cm) if cm.data.as_ref().and_then(|d| d.get("k")).map(String::as_str) == Some("changed"))
    );
    // Leaving the selector is seen as a deletion.
    api.patch(
        "existing",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "z"}}})),
    )
    .await
    .expect("relabel");
    assert!(
        matches!(next_event(&mut stream).await, WatchEvent::Delete(cm) if cm.name_any() == "existing")
    );
    api.delete("new", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(
        matches!(next_event(&mut stream).await, WatchEvent::Delete(cm) if cm.name_any() == "new")
    );

    let watch = watch_request(&kube);
    assert_eq!(
        watch.query.get("labelSelector").map(String::as_str),
        Some("app=x")
    );
    assert_eq!(
        watch.query.get("allowWatchBookmarks").map(String::as_str),
        Some("true")
    );
    assert!(
        watch
            .query
            .get("resourceVersion")
            .is_some_and(|rv| rv.parse::<u64>().is_ok())
    );
}

#[tokio::test(start_paused = true)]
async fn streaming_list_watcher_gets_initial_events() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "ns1");
    create(&api, "one", &[]).await;
    let mut stream =
        watcher::watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    assert_initial_list(&mut stream, "one").await;
    create(&api, "two", &[]).await;
    assert!(
        matches!(next_event(&mut stream).await, WatchEvent::Apply(cm) if cm.name_any() == "two")
    );
    let watch = watch_request(&kube);
    assert_eq!(
        watch.query.get("sendInitialEvents").map(String::as_str),
        Some("true")
    );
}

#[tokio::test(start_paused = true)]
async fn raw_watch_replays_from_resource_version_and_times_out() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "ns1");
    let first = api
        .create(&PostParams::default(), &configmap("a", &[]))
        .await
        .expect("create");
    create(&api, "b", &[]).await;
    let rv = first.resource_version().expect("rv");
    let params = kube::api::WatchParams::default().timeout(1);
    let events: Vec<_> = api
        .watch(&params, &rv)
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("events");
    let names: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            kube::api::WatchEvent::Added(cm) => Some(cm.name_any()),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        ["b"],
        "replays only events after the resourceVersion, then ends at timeoutSeconds"
    );
}

#[tokio::test(start_paused = true)]
async fn fail_next_injects_errors_before_state_changes() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "ns1");
    kube.fail_next("POST", "/namespaces/ns1/configmaps", 500, 1);
    let err = api
        .create(&PostParams::default(), &configmap("cm", &[]))
        .await
        .expect_err("injected");
    assert_eq!(
        (api_code(&err), api_reason(&err).as_str()),
        (Some(500), "InternalError")
    );
    assert!(kube.get("/api/v1/namespaces/ns1/configmaps/cm").is_none());
    api.create(&PostParams::default(), &configmap("cm", &[]))
        .await
        .expect("second try succeeds");

    kube.fail_next("PATCH", "/status", 503, 2);
    let ar = authclient_resource();
    let clients: Api<DynamicObject> = Api::namespaced_with(kube.client(), "ns1", &ar);
    clients
        .create(
            &PostParams::default(),
            &DynamicObject::new("app", &ar).data(json!({"spec": {}})),
        )
        .await
        .expect("create");
    let status = Patch::Merge(json!({"status": {"phase": "Ready"}}));
    for _ in 0..2 {
        let err = clients
            .patch_status("app", &PatchParams::default(), &status)
            .await
            .expect_err("injected");
        assert_eq!(api_code(&err), Some(503));
    }
    clients
        .patch_status("app", &PatchParams::default(), &status)
        .await
        .expect("then succeeds");
    assert_eq!(
        kube.requests()
            .iter()
            .filter(|r| r.path.ends_with("/status"))
            .count(),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn wait_until_reacts_to_changes() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "ns1");
    let writer = tokio::spawn(async move {
        for name in ["a", "b", "c"] {
            create(&api, name, &[]).await;
        }
    });
    assert!(
        kube.wait_until(WAIT, |k| k.list("/api/v1/namespaces/ns1/configmaps").len()
            == 3)
            .await
    );
    writer.await.expect("writer");
    assert!(
        !kube
            .wait_until(Duration::from_millis(50), |k| k
                .list("/api/v1/secrets")
                .len()
                == 1)
            .await
    );

    kube.insert(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "seeded", "namespace": "ns2"}}));
    let seeded = kube
        .get("/api/v1/namespaces/ns2/secrets/seeded")
        .expect("seeded");
    assert!(seeded["metadata"]["uid"].is_string());
    assert!(seeded["metadata"]["resourceVersion"].is_string());
    assert_eq!(seeded["metadata"]["generation"], 1);
}

#[tokio::test(start_paused = true)]
async fn request_log_records_method_path_query_and_body() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "ns1");
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"x": "1"}});
    api.patch(
        "cm",
        &PatchParams::apply("nexus-operator").force(),
        &Patch::Apply(&body),
    )
    .await
    .expect("apply");
    api.get("cm").await.expect("get");
    let requests = kube.requests();
    assert_eq!(requests.len(), 2);
    let apply = &requests[0];
    assert_eq!(apply.method, "PATCH");
    assert_eq!(apply.path, "/api/v1/namespaces/ns1/configmaps/cm");
    assert_eq!(
        apply.query.get("fieldManager").map(String::as_str),
        Some("nexus-operator")
    );
    assert_eq!(apply.query.get("force").map(String::as_str), Some("true"));
    assert_eq!(
        apply.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(apply.body.as_ref(), Some(&body));
    assert_eq!(
        (requests[1].method.as_str(), requests[1].body.as_ref()),
        ("GET", None)
    );
    kube.clear_requests();
    assert!(kube.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn leases_and_event_recorder() {
    let kube = FakeKube::new();
    let client = kube.client();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "ns1");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("leader".into()),
            ..Default::default()
        },
        spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let created = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create lease");
    let mut takeover = created.clone();
    takeover.spec.as_mut().expect("spec").holder_identity = Some("b".into());
    leases
        .replace("leader", &PostParams::default(), &takeover)
        .await
        .expect("replace");
    let err = leases
        .replace("leader", &PostParams::default(), &created)
        .await
        .expect_err("stale");
    assert_eq!(api_code(&err), Some(409));

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "ns1");
    let cm = maps
        .create(&PostParams::default(), &configmap("cm", &[]))
        .await
        .expect("create");
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "nexus".into(),
            instance: None,
        },
    );
    let event = KubeEvent {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("ok".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &cm.object_ref(&()))
        .await
        .expect("publish");
    let events = kube.list("/apis/events.k8s.io/v1/namespaces/ns1/events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["reason"], "Synced");
    recorder
        .publish(&event, &cm.object_ref(&()))
        .await
        .expect("publish again (series patch)");
    let events = kube.list("/apis/events.k8s.io/v1/namespaces/ns1/events");
    assert_eq!(events[0]["series"]["count"], 2);
}

#[tokio::test(start_paused = true)]
async fn serves_the_api_over_http() {
    let kube = FakeKube::new();
    let addr = kube
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let url: http::Uri = format!("http://{addr}").parse().expect("uri");
    let client = Client::try_from(kube::Config::new(url)).expect("client");
    let api: Api<ConfigMap> = Api::namespaced(client, "ns1");
    create(&api, "cm", &[("app", "x")]).await;
    assert_eq!(api.get("cm").await.expect("get").name_any(), "cm");
    assert_eq!(
        api.list(&ListParams::default().labels("app=x"))
            .await
            .expect("list")
            .items
            .len(),
        1
    );
    let err = api.get("missing").await.expect_err("missing");
    assert_eq!(api_code(&err), Some(404));

    let mut stream = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(next_event(&mut stream).await, WatchEvent::Init));
    assert!(matches!(
        next_event(&mut stream).await,
        WatchEvent::InitApply(_)
    ));
    assert!(matches!(
        next_event(&mut stream).await,
        WatchEvent::InitDone
    ));
    create(&api, "streamed", &[]).await;
    assert!(
        matches!(next_event(&mut stream).await, WatchEvent::Apply(cm) if cm.name_any() == "streamed")
    );
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(cm: Arc<ConfigMap>, client: Arc<Client>) -> Result<Action, ReconcileError> {
    let api: Api<ConfigMap> =
        Api::namespaced((*client).clone(), &cm.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": cm.name_any(), "annotations": {"nexus.dev/reconciled": "true"}}
    });
    api.patch(
        &cm.name_any(),
        &PatchParams::apply("testkit-controller").force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(Action::await_change())
}

#[tokio::test(start_paused = true)]
async fn controller_converges_against_the_fake() {
    let kube = FakeKube::new();
    let client = kube.client();
    let api: Api<ConfigMap> = Api::all(client.clone());
    let ns1: Api<ConfigMap> = Api::namespaced(client.clone(), "ns1");
    ns1.create(&PostParams::default(), &configmap("before", &[]))
        .await
        .expect("create");
    let controller = Controller::new(api, watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            Arc::new(client),
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    let annotated = |k: &FakeKube| {
        let items = k.list("/api/v1/configmaps");
        items.len() == 2
            && items
                .iter()
                .all(|cm| cm["metadata"]["annotations"]["nexus.dev/reconciled"] == "true")
    };
    assert!(
        kube.wait_until(WAIT, |k| k
            .list("/api/v1/configmaps")
            .iter()
            .any(|cm| cm["metadata"]["annotations"].is_object()))
            .await
    );
    ns1.create(&PostParams::default(), &configmap("after", &[]))
        .await
        .expect("create");
    assert!(
        kube.wait_until(WAIT, annotated).await,
        "{:#?}",
        kube.list("/api/v1/configmaps")
    );

    // Converged: re-applying is a no-op (no new resourceVersion, no watch event), so the
    // controller goes quiet instead of looping on its own writes.
    let patches = |k: &FakeKube| k.requests().iter().filter(|r| r.method == "PATCH").count();
    let baseline = patches(&kube);
    assert!(
        !kube
            .wait_until(Duration::from_millis(500), |k| patches(k) > baseline + 2)
            .await
    );
    handle.abort();
}

#[tokio::test(start_paused = true)]
async fn register_more_resources_and_unknown_is_404() {
    let kube = FakeKube::new();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(kube.client(), "ns1", &ar);
    let widget = DynamicObject::new("w", &ar).data(json!({"spec": {"size": 1}}));
    assert_eq!(
        api_code(
            &api.create(&PostParams::default(), &widget)
                .await
                .expect_err("unknown")
        ),
        Some(404)
    );
    kube.register(ResourceType::new(
        "example.com",
        "v1",
        "widgets",
        "Widget",
        true,
        false,
    ));
    let created = api
        .create(&PostParams::default(), &widget)
        .await
        .expect("registered");
    assert_eq!(created.metadata.generation, Some(1));

    let generated = DynamicObject {
        metadata: ObjectMeta {
            generate_name: Some("w-".into()),
            ..Default::default()
        },
        ..DynamicObject::new("", &ar)
    };
    let created = api
        .create(&PostParams::default(), &generated)
        .await
        .expect("generateName");
    assert!(created.name_any().starts_with("w-") && created.name_any().len() == 7);
}

#[tokio::test]
async fn required_namespaces_refuse_creates_in_missing_namespaces() {
    let kube = FakeKube::new();
    let api: Api<ConfigMap> = Api::namespaced(kube.client(), "missing");
    // Off by default: tests that never create Namespaces keep working.
    api.create(&PostParams::default(), &configmap("before", &[]))
        .await
        .expect("created without a Namespace");
    kube.require_namespaces();
    let err = api
        .create(&PostParams::default(), &configmap("after", &[]))
        .await
        .expect_err("namespace missing");
    assert_eq!(api_code(&err), Some(404));
    assert_eq!(api_reason(&err), "NotFound");
    let applied = api
        .patch(
            "applied",
            &PatchParams::apply("test"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}}),
            ),
        )
        .await
        .expect_err("apply that would create");
    assert_eq!(api_code(&applied), Some(404));
    // Existing objects stay writable; a created Namespace makes creates work.
    api.patch(
        "before",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .expect("update in place");
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "missing"}}));
    api.create(&PostParams::default(), &configmap("after", &[]))
        .await
        .expect("namespace now exists");
}
