//! What the fake charges, as a real API server would: latency per request and per write, lists
//! and watches whose cost grows with what they return, paginated lists, `managedFields` with
//! the fields each manager set, and optimistic-concurrency conflicts between concurrent
//! writers. On tokio's paused clock, so delays are asserted exactly (virtual time).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, ObjectList, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kube_fake::{CostModel, FakeKube, Verb};
use serde_json::{Value, json};
use tokio::time::Instant;

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

fn seed(kube: &FakeKube, n: usize) {
    for i in 0..n {
        kube.insert(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:04}"), "namespace": "default"},
            "data": {"k": "v".repeat(100)},
        }));
    }
}

const MODEL: CostModel = CostModel {
    request_latency: Duration::from_millis(2),
    write_latency: Duration::from_millis(3),
    per_object: Duration::from_micros(100),
    per_kib: Duration::from_micros(50),
    write_service: Duration::ZERO,
    write_service_per_thousand: Duration::ZERO,
};

#[tokio::test(start_paused = true)]
async fn requests_pay_latency_and_writes_pay_the_commit() {
    let kube = FakeKube::with_cost(MODEL);
    let api: Api<ConfigMap> = Api::default_namespaced(kube.client());
    let started = Instant::now();
    api.create(&PostParams::default(), &configmap("a"))
        .await
        .expect("create");
    let write = started.elapsed();
    // One object of well under a KiB: the write latency; the object's 100 µs are carried
    // until they add up to a millisecond (the timer's resolution).
    assert_eq!(write, Duration::from_millis(5));
    let started = Instant::now();
    api.get("a").await.expect("get");
    assert_eq!(started.elapsed(), Duration::from_millis(2));

    // Free by default, and the model can be switched.
    assert!(FakeKube::new().cost().is_free());
    kube.set_cost(CostModel::FREE);
    let started = Instant::now();
    api.get("a").await.expect("get");
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_list_costs_more_with_more_objects() {
    let kube = FakeKube::with_cost(MODEL);
    seed(&kube, 10);
    let api: Api<ConfigMap> = Api::default_namespaced(kube.client());
    let started = Instant::now();
    api.list(&ListParams::default()).await.expect("list");
    let small = started.elapsed();
    seed(&kube, 1000);
    let started = Instant::now();
    let list = api.list(&ListParams::default()).await.expect("list");
    let large = started.elapsed();
    assert_eq!(list.items.len(), 1000);
    // 1,000 objects cost 1,000 x per_object plus every KiB of JSON (> 100 bytes each).
    assert!(
        large >= Duration::from_millis(2) + MODEL.per_object * 1000 + MODEL.per_kib * 100,
        "{large:?}"
    );
    assert!(large > small * 10, "{small:?} vs {large:?}");
}

#[tokio::test(start_paused = true)]
async fn a_watch_pays_per_event_it_sends() {
    let kube = FakeKube::with_cost(MODEL);
    seed(&kube, 100);
    let api: Api<ConfigMap> = Api::default_namespaced(kube.client());
    let started = Instant::now();
    let events = initial_events(api, watcher::Config::default().streaming_lists()).await;
    assert_eq!(events.len(), 101, "Init and 100 objects");
    // The watch request's latency plus 100 ADDED events and the bookmark.
    assert!(
        started.elapsed() >= Duration::from_millis(2) + MODEL.per_object * 100,
        "{:?}",
        started.elapsed()
    );
}

/// The events of a kube-rs watcher of `api` with `config` before its InitDone (Init and one
/// per object).
async fn initial_events(
    api: Api<ConfigMap>,
    config: watcher::Config,
) -> Vec<watcher::Event<ConfigMap>> {
    watcher(api, config)
        .take_while(|e| std::future::ready(!matches!(e, Ok(watcher::Event::InitDone))))
        .try_collect()
        .await
        .expect("the initial events")
}

/// One page of at most `limit` ConfigMaps: the first, or the one after `token`.
async fn page(
    api: &Api<ConfigMap>,
    limit: u32,
    token: Option<&str>,
) -> kube::Result<ObjectList<ConfigMap>> {
    let mut params = ListParams::default().limit(limit);
    if let Some(token) = token {
        params = params.continue_token(token);
    }
    api.list(&params).await
}

#[tokio::test(start_paused = true)]
async fn lists_are_paged_like_a_real_server() {
    let kube = FakeKube::new();
    seed(&kube, 25);
    let api: Api<ConfigMap> = Api::default_namespaced(kube.client());
    let first = page(&api, 10, None).await.expect("page 1");
    assert_eq!(first.items.len(), 10);
    assert_eq!(first.metadata.remaining_item_count, Some(15));
    let token = first.metadata.continue_.clone().expect("a continue token");
    // A write between pages does not change the list's resourceVersion.
    kube.insert(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "zz", "namespace": "default"}}));
    let second = page(&api, 10, Some(&token)).await.expect("page 2");
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(second.items[0].name_any(), "cm-0010");
    let third = page(
        &api,
        10,
        Some(second.metadata.continue_.as_deref().expect("token")),
    )
    .await
    .expect("page 3");
    assert_eq!(
        third.items.len(),
        6,
        "5 seeded and the one written between pages"
    );
    assert!(third.metadata.continue_.is_none());

    // "Any version" lists are served from the watch cache, which ignores the limit (kube-rs
    // leaves resourceVersion=0 out when it sets a limit, so the request is made by hand).
    let request =
        http::Request::get("/api/v1/namespaces/default/configmaps?limit=10&resourceVersion=0")
            .body(Vec::new())
            .expect("request");
    let cached: kube::core::ObjectList<ConfigMap> =
        kube.client().request(request).await.expect("cached list");
    assert_eq!(cached.items.len(), 26);
    assert!(cached.metadata.continue_.is_none());

    // kube-rs' watcher pages its initial list (500 a page by default).
    let counts_before = kube.request_counts();
    let listed = initial_events(api.clone(), watcher::Config::default().page_size(10)).await;
    assert_eq!(listed.len(), 27, "Init and 26 objects");
    assert_eq!(
        kube.request_counts()
            .since(&counts_before)
            .get(Verb::List, "configmaps"),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn a_continue_token_older_than_the_event_log_is_expired() {
    let kube = FakeKube::new();
    seed(&kube, 3);
    let api: Api<ConfigMap> = Api::default_namespaced(kube.client());
    let first = page(&api, 1, None).await.expect("page 1");
    let token = first.metadata.continue_.expect("token");
    // Writes, then etcd's compaction.
    seed(&kube, 1);
    kube.compact();
    let err = page(&api, 1, Some(&token)).await.expect_err("expired");
    match err {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("not an API error: {other}"),
    }
}

fn managers(object: &Value) -> Vec<(String, String, Value)> {
    object["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or_default().to_owned(),
                e["operation"].as_str().unwrap_or_default().to_owned(),
                e["fieldsV1"].clone(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn updates_record_the_fields_each_manager_set() {
    let kube = FakeKube::new();
    let client = kube.client();
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(
        &PostParams {
            field_manager: Some("creator".into()),
            ..Default::default()
        },
        &configmap("m"),
    )
    .await
    .expect("create");
    let path = "/api/v1/namespaces/default/configmaps/m";
    let created = kube.get(path).expect("stored");
    assert_eq!(
        managers(&created),
        vec![(
            "creator".into(),
            "Update".into(),
            json!({"f:data": {"f:k": {}}})
        )]
    );

    // Another manager's merge patch owns what it changed and takes it from the creator.
    api.patch(
        "m",
        &PatchParams {
            field_manager: Some("editor".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}, "data": {"k": "w", "x": "1"}})),
    )
    .await
    .expect("patch");
    let patched = kube.get(path).expect("stored");
    assert_eq!(
        managers(&patched),
        vec![(
            "editor".into(),
            "Update".into(),
            json!({"f:data": {"f:k": {}, "f:x": {}}, "f:metadata": {"f:labels": {"f:team": {}}}})
        )],
        "the creator owns nothing any more and is gone"
    );

    // An applier beside the updater: one entry per manager and operation.
    api.patch(
        "m",
        &PatchParams::apply("applier"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"y": "2"}})),
    )
    .await
    .expect("apply");
    let applied = kube.get(path).expect("stored");
    let entries = managers(&applied);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(
        entries[1],
        (
            "applier".into(),
            "Apply".into(),
            json!({"f:data": {"f:y": {}}})
        )
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_conditional_writers_race_and_one_gets_a_conflict() {
    let kube = FakeKube::with_cost(MODEL);
    let client: Client = kube.client();
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &configmap("race"))
        .await
        .expect("create");
    let read = api.get("race").await.expect("get");
    let rv = read.resource_version().expect("rv");
    let write = |value: &'static str| {
        let api = api.clone();
        let rv = rv.clone();
        async move {
            api.patch(
                "race",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"resourceVersion": rv}, "data": {"k": value}})),
            )
            .await
        }
    };
    // Both read the same version and write at the same time: the second commit finds the
    // object changed.
    let (a, b) = tokio::join!(write("a"), write("b"));
    let outcomes = [a.is_ok(), b.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "one wins");
    let loser = a.err().or(b.err()).expect("one loses");
    match loser {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"))
        }
        other => panic!("not an API error: {other}"),
    }
    let counts = kube.request_counts();
    assert_eq!(counts.get(Verb::Patch, "configmaps"), 2);
    assert_eq!(counts.writes(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_write_lane_serves_one_write_at_a_time() {
    // 10 ms per write, plus 0.5 ms per 1,000 objects stored; no latency.
    let model = CostModel {
        write_service: Duration::from_millis(10),
        write_service_per_thousand: Duration::from_micros(500),
        ..CostModel::FREE
    };
    let kube = FakeKube::with_cost(model);
    seed(&kube, 2000);
    let api: Api<ConfigMap> = Api::default_namespaced(kube.client());
    let started = Instant::now();
    let post = PostParams::default();
    let maps: Vec<ConfigMap> = (0..10).map(|i| configmap(&format!("new-{i}"))).collect();
    let writes = futures::future::join_all(maps.iter().map(|map| api.create(&post, map)));
    let read = async {
        api.get("cm-0000").await.expect("get");
        started.elapsed()
    };
    let (created, read_after) = tokio::join!(writes, read);
    assert!(created.iter().all(Result::is_ok));
    let all_written = started.elapsed();
    // Ten writes one after the other, each 10 ms + 0.5 ms per 1,000 of the 2,000 to 2,009
    // objects stored: 110.02 ms, paid at the timer's millisecond resolution (concurrent, they
    // would all be done after 11 ms).
    assert!(
        all_written >= Duration::from_millis(110) && all_written <= Duration::from_millis(112),
        "{all_written:?}"
    );
    // Reads do not queue behind the writes.
    assert_eq!(read_after, Duration::ZERO);
    // Without the lane the same writes are free.
    kube.set_cost(CostModel::FREE);
    let started = Instant::now();
    api.create(&PostParams::default(), &configmap("free"))
        .await
        .expect("create");
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// Every page of a paged list, following continue tokens: `namespace/name` of each item, and
/// the first page's `remainingItemCount`.
async fn page_through(
    api: &Api<ConfigMap>,
    selector: &str,
    limit: u32,
) -> (Vec<String>, Option<i64>) {
    let mut served = Vec::new();
    let mut first_remaining = None;
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().labels(selector).limit(limit);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = api.list(&params).await.expect("a page");
        assert!(page.items.len() <= limit as usize);
        if served.is_empty() {
            first_remaining = page.metadata.remaining_item_count;
        }
        served.extend(
            page.items
                .iter()
                .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any())),
        );
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return (served, first_remaining),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn pages_of_a_large_collection_match_a_filter_over_all_objects() {
    let kube = FakeKube::new();
    // Inserted out of order, across three namespaces, a third of them in each tier.
    let n = 3_000;
    let mut all = Vec::new();
    for i in 0..n {
        let k = (i * 7_919) % n;
        let namespace = ["ns-a", "ns-b", "ns-c"][k % 3];
        let tier = (k / 3 % 3).to_string();
        let name = format!("cm-{k}");
        kube.insert(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {"tier": tier}},
        }));
        all.push((namespace.to_string(), name, tier));
    }
    all.sort();
    let client = kube.client();
    for namespace in [None, Some("ns-b")] {
        let api: Api<ConfigMap> = match namespace {
            None => Api::all(client.clone()),
            Some(ns) => Api::namespaced(client.clone(), ns),
        };
        for (selector, tier_matches) in [
            ("", (|_: &str| true) as fn(&str) -> bool),
            ("tier=1", |t: &str| t == "1"),
            ("tier!=0", |t: &str| t != "0"),
        ] {
            // The naive answer: every object, filtered, in namespace/name order.
            let expected: Vec<String> = all
                .iter()
                .filter(|(ns, _, tier)| {
                    namespace.is_none_or(|want| ns == want) && tier_matches(tier)
                })
                .map(|(ns, name, _)| format!("{ns}/{name}"))
                .collect();
            assert!(expected.len() > 97, "several pages");
            let (served, remaining) = page_through(&api, selector, 97).await;
            assert_eq!(
                served, expected,
                "namespace {namespace:?}, selector {selector:?}"
            );
            // The count of what follows the first page is set only without selectors.
            let want = selector
                .is_empty()
                .then(|| i64::try_from(expected.len() - 97).expect("small"));
            assert_eq!(
                remaining, want,
                "namespace {namespace:?}, selector {selector:?}"
            );
            // The same as the list read in one piece.
            let whole: Vec<String> = api
                .list(&ListParams::default().labels(selector))
                .await
                .expect("whole list")
                .items
                .iter()
                .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
                .collect();
            assert_eq!(served, whole);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_page_reads_as_many_objects_as_the_page_needs_whatever_the_collection() {
    let mut reads = Vec::new();
    for n in [200, 10_000] {
        let kube = FakeKube::new();
        for i in 0..n {
            let parity = if i % 2 == 0 { "even" } else { "odd" };
            kube.insert(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i:05}"), "namespace": "default",
                             "labels": {"parity": parity}},
            }));
            // Another namespace as large, outside a namespaced list's range.
            kube.insert(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i:05}"), "namespace": "other"},
            }));
        }
        let api: Api<ConfigMap> = Api::default_namespaced(kube.client());
        let read = |before: u64| kube.objects_read_by_pages() - before;
        let before = kube.objects_read_by_pages();
        let first = page(&api, 10, None).await.expect("page 1");
        let first_page = read(before);
        // A page from the middle of the collection.
        let half = page(&api, u32::try_from(n / 2).expect("small"), None)
            .await
            .expect("half");
        let token = half.metadata.continue_.expect("more after half");
        let before = kube.objects_read_by_pages();
        let middle = page(&api, 10, Some(&token)).await.expect("middle page");
        let middle_page = read(before);
        let before = kube.objects_read_by_pages();
        let selected = api
            .list(&ListParams::default().labels("parity=even").limit(10))
            .await
            .expect("selected page");
        let selected_page = read(before);
        assert_eq!(first.items.len(), 10);
        assert_eq!(middle.items[0].name_any(), format!("cm-{:05}", n / 2));
        assert_eq!(selected.items.len(), 10);
        reads.push((first_page, middle_page, selected_page));
    }
    // Ten objects and one more (to know that more follow); with a selector that matches every
    // other object, the 21 objects up to the eleventh match.
    assert_eq!(reads, vec![(11, 11, 21), (11, 11, 21)]);
}
