//! What kubectl relies on, checked without kubectl (the real kubectl runs against the fake in
//! `crates/nexus-operator/tests/kubectl.rs`): CRDs that define what is served, discovery, Table
//! responses, OpenAPI documents, schema validation errors, both event APIs, and snapshots.

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube_fake::FakeKube;
use serde_json::{Value, json};

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Colour", "type": "string", "jsonPath": ".spec.colour", "priority": 1},
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "description": "What the widget should be.",
                            "required": ["size"],
                            "properties": {
                                "size": {"type": "integer", "minimum": 1.0},
                                "colour": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                            },
                        },
                        "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                    },
                }},
            }],
        },
    })
}

fn widgets(client: kube::Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(client, "ns", &resource)
}

async fn get_json(client: &kube::Client, path: &str, accept: &str) -> Value {
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .expect("request");
    client.request::<Value>(request).await.expect("response")
}

fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name, "namespace": "ns"}, "spec": spec,
    }))
    .expect("widget")
}

#[tokio::test]
async fn an_installed_crd_is_discovered_printed_published_and_validated() {
    let fake = FakeKube::new();
    let client = fake.client();
    assert!(
        fake.get("/apis/example.com/v1").is_none()
            && get_json(&client, "/apis", "application/json").await["groups"]
                .as_array()
                .is_some_and(|g| !g.iter().any(|g| g["name"] == "example.com")),
        "nothing is served before the CRD"
    );
    fake.insert(widget_crd());

    let list = get_json(&client, "/apis/example.com/v1", "application/json").await;
    assert_eq!(list["resources"][0]["name"], "widgets");
    assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(list["resources"][1]["name"], "widgets/status");

    // Defaulting on create; a schema violation is a 422 with causes.
    let api = widgets(client.clone());
    let created = api
        .create(&PostParams::default(), &widget("w1", json!({"size": 3})))
        .await
        .expect("created");
    assert_eq!(
        created.data["spec"]["colour"], "red",
        "schema default applied"
    );
    let err = api
        .create(
            &PostParams::default(),
            &widget("w2", json!({"size": 0, "colour": "green"})),
        )
        .await
        .expect_err("invalid");
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err}");
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status
            .message
            .starts_with("Widget.example.com \"w2\" is invalid: ["),
        "{}",
        status.message
    );
    assert!(
        status
            .message
            .contains("spec.size in body should be greater than or equal to 1")
    );
    assert!(
        status
            .message
            .contains("supported values: \"red\", \"blue\"")
    );
    assert!(
        fake.get("/apis/example.com/v1/namespaces/ns/widgets/w2")
            .is_none()
    );

    // Unknown fields: pruned (Warn), refused under Strict.
    let params = PatchParams::apply("test");
    let applied = api
        .patch(
            "w3",
            &params,
            &Patch::Apply(&widget("w3", json!({"size": 2, "shape": "round"}))),
        )
        .await
        .expect("applied");
    assert!(
        applied.data["spec"].get("shape").is_none(),
        "unknown field pruned"
    );
    let strict =
        http::Request::post("/apis/example.com/v1/namespaces/ns/widgets?fieldValidation=Strict")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(
                serde_json::to_vec(&widget("w4", json!({"size": 2, "shape": "round"})))
                    .expect("body"),
            )
            .expect("request");
    let err = client.request::<Value>(strict).await.expect_err("strict");
    assert!(
        err.to_string()
            .contains("strict decoding error: unknown field \"spec.shape\""),
        "{err}"
    );

    // Table: the printer columns; priority columns are marked for -o wide.
    let table = get_json(
        &client,
        "/apis/example.com/v1/namespaces/ns/widgets",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    .await;
    assert_eq!(table["kind"], "Table");
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Name", "Size", "Colour"]);
    assert_eq!(table["columnDefinitions"][2]["priority"], 1);
    assert_eq!(table["rows"][0]["cells"], json!(["w1", 3, "red"]));
    assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "w1");

    // OpenAPI v3 (and v2 as protobuf) publish the schema.
    let root = get_json(&client, "/openapi/v3", "application/json").await;
    let url = root["paths"]["apis/example.com/v1"]["serverRelativeURL"]
        .as_str()
        .expect("group version document")
        .to_owned();
    let doc = get_json(&client, &url, "application/json").await;
    assert_eq!(
        doc["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]["description"],
        "What the widget should be."
    );
    let v2 = get_json(&client, "/openapi/v2", "application/json").await;
    assert!(v2["definitions"]["com.example.v1.Widget"].is_object());

    // Deleting the CRD stops serving it and removes its objects.
    let crds = Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(client.clone());
    crds.delete("widgets.example.com", &Default::default())
        .await
        .expect("CRD deleted");
    assert!(fake.list("/apis/example.com/v1/widgets").is_empty());
    assert_eq!(
        api.get("w1")
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) => s.code,
                _ => 0,
            })
            .expect_err("gone"),
        404
    );
}

#[tokio::test]
async fn events_are_served_through_both_event_apis() {
    let fake = FakeKube::new();
    fake.insert(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "hello.1", "namespace": "ns"},
        "regarding": {"kind": "Widget", "name": "hello", "namespace": "ns", "uid": "u1"},
        "note": "made it", "reason": "Created", "type": "Normal",
        "reportingController": "widget-operator", "reportingInstance": "w-1",
        "eventTime": "2024-01-01T00:00:00.000000Z", "action": "Create",
    }));
    let client = fake.client();
    let core = get_json(
        &client,
        "/api/v1/namespaces/ns/events?fieldSelector=involvedObject.name%3Dhello,involvedObject.uid%3Du1",
        "application/json",
    )
    .await;
    assert_eq!(core["items"][0]["message"], "made it", "{core}");
    assert_eq!(core["items"][0]["involvedObject"]["kind"], "Widget");
    let table = get_json(
        &client,
        "/api/v1/namespaces/ns/events",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    .await;
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[1], "Normal");
    assert_eq!(cells[3], "widget/hello");
    assert_eq!(cells[6], "made it");
    assert_eq!(
        fake.list("/api/v1/events").len(),
        0,
        "stored once, under the API it was written to"
    );
}

#[tokio::test]
async fn a_snapshot_restores_objects_crds_and_field_managers() {
    let fake = FakeKube::new();
    fake.insert(widget_crd());
    let api = widgets(fake.client());
    api.patch(
        "w1",
        &PatchParams::apply("owner"),
        &Patch::Apply(&widget("w1", json!({"size": 3}))),
    )
    .await
    .expect("applied");
    let snapshot = fake.snapshot();

    let restored = FakeKube::new();
    assert_eq!(restored.restore(&snapshot), Ok(2));
    assert_eq!(restored.resource_version(), fake.resource_version());
    let api = widgets(restored.client());
    let object = api.get("w1").await.expect("restored widget");
    assert_eq!(object.data["spec"]["size"], 3);
    // The field manager came back: another applier conflicts on the field it owns.
    let err = api
        .patch(
            "w1",
            &PatchParams::apply("other"),
            &Patch::Apply(&widget("w1", json!({"size": 4}))),
        )
        .await
        .expect_err("conflict");
    assert!(err.to_string().contains("conflict with \"owner\""), "{err}");
    assert!(restored.restore(&json!({"kind": "Nope"})).is_err());
}
