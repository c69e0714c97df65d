//! Issue 18: the fake decodes what a real API server decodes, and refuses what it refuses.
//! A real kube-apiserver (v1.28.7) refused the server-side apply of CRDs whose patterns held
//! U+FFFE (`error decoding YAML: error converting YAML to JSON: yaml: control characters are
//! not allowed`), and once such a CRD was installed client-side its `/openapi/v2` protobuf
//! form answered 503. The committed CRDs must apply; the old ones must be refused the same way.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube_fake::FakeKube;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
const REFUSED: &str =
    "error decoding YAML: error converting YAML to JSON: yaml: control characters are not allowed";

fn repo_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The CRDs of `crds/` as the API server's clients see them after reading the files.
fn committed_crds() -> Vec<Value> {
    ["authtenants", "authclients", "authresourceservers"]
        .into_iter()
        .map(|name| {
            serde_saphyr::from_str(&repo_file(&format!("crds/{name}.yaml"))).expect("CRD YAML")
        })
        .collect()
}

/// The AuthClient CRD as it was before the fix: a pattern holding U+FFFE itself.
fn crd_with_raw_fffe() -> Value {
    let mut crd = committed_crds().remove(1);
    let name = crd
        .pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/client/properties/description")
        .expect("description schema");
    name["pattern"] = json!("^[^\\x00-\\x1f\u{2028}\u{fffe}\u{ffff}]*$");
    crd
}

/// A raw request: `(status code, body as JSON)`.
async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .send(request.body(body.into()).expect("request"))
        .await
        .expect("response");
    let code = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await.expect("body");
    (code, bytes.to_vec())
}

/// `GET /openapi/v2` in the form `accept` names.
async fn openapi_v2(client: &kube::Client, accept: &str) -> (u16, Vec<u8>) {
    send(client, "GET", "/openapi/v2", &[("accept", accept)], vec![]).await
}

async fn apply_raw(client: &kube::Client, name: &str, body: Vec<u8>) -> (u16, Value) {
    let (code, bytes) = send(
        client,
        "PATCH",
        &format!(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}?fieldManager=kubectl&force=true"
        ),
        &[("content-type", "application/apply-patch+yaml")],
        body,
    )
    .await;
    (code, serde_json::from_slice(&bytes).expect("JSON answer"))
}

#[tokio::test]
async fn every_committed_crd_applies_server_side() {
    let fake = FakeKube::new();
    let crds: Api<CustomResourceDefinition> = Api::all(fake.client());
    for crd in committed_crds() {
        let name = crd["metadata"]["name"].as_str().expect("name").to_owned();
        // As kube-rs (`nexus-operator dev`) and kubectl send it: JSON, raw UTF-8.
        let applied = crds
            .patch(
                &name,
                &PatchParams::apply("nexus-operator").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(applied.metadata.name.as_deref(), Some(name.as_str()));
    }
    // They are served: their OpenAPI v2 document builds in both forms.
    let client = fake.client();
    let (code, protobuf) = openapi_v2(&client, PROTOBUF).await;
    assert_eq!(code, 200);
    let needle = b"authclients";
    assert!(protobuf.windows(needle.len()).any(|w| w == needle));
}

#[tokio::test]
async fn a_raw_non_printable_character_is_refused_as_the_real_server_refuses_it() {
    let fake = FakeKube::new();
    let client = fake.client();
    let crd = crd_with_raw_fffe();
    let name = crd["metadata"]["name"].as_str().expect("name").to_owned();
    // serde_json (kube-rs) and Go's encoding/json (kubectl) write U+FFFE as raw bytes.
    let body = serde_json::to_vec(&crd).expect("JSON");
    let (code, status) = apply_raw(&client, &name, body).await;
    assert_eq!(code, 400, "{}", status["message"]);
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": REFUSED, "reason": "BadRequest", "code": 400,
        })
    );
    assert!(
        fake.get(&format!(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        ))
        .is_none()
    );

    // Through kube-rs's typed API, the same 400.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let error = crds
        .patch(
            &name,
            &PatchParams::apply("nexus-operator"),
            &Patch::Apply(&crd),
        )
        .await
        .expect_err("refused");
    match error {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
            assert_eq!(status.message, REFUSED);
        }
        other => panic!("{other:?}"),
    }

    // The reader checks the raw stream: the JSON escape `\uFFFE` is decoded after it and passes.
    let escaped = String::from_utf8(serde_json::to_vec(&crd).expect("JSON"))
        .expect("UTF-8")
        .replace('\u{fffe}', "\\ufffe")
        .replace('\u{ffff}', "\\uffff");
    let (code, stored) = apply_raw(&client, &name, escaped.into_bytes()).await;
    assert_eq!(code, 201, "{}", stored["message"]);

    // Other bodies of the same content type: a YAML document, a C1 control, broken UTF-8.
    for (body, message) in [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: \"\u{9f}\"}\n"
                .as_bytes()
                .to_vec(),
            REFUSED.to_owned(),
        ),
        (
            b"{\"a\": \"\xff\"}".to_vec(),
            "error decoding YAML: error converting YAML to JSON: yaml: invalid leading UTF-8 octet"
                .to_owned(),
        ),
    ] {
        let (code, bytes) = send(
            &client,
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c?fieldManager=kubectl",
            &[("content-type", "application/apply-patch+yaml")],
            body,
        )
        .await;
        let status: Value = serde_json::from_slice(&bytes).expect("Status");
        assert_eq!(
            (code, status["message"].as_str()),
            (400, Some(message.as_str()))
        );
    }
    // U+2028, U+1680 and U+0085 are printable: a real server takes them.
    let (code, bytes) = send(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/c?fieldManager=kubectl",
        &[("content-type", "application/apply-patch+yaml")],
        serde_json::to_vec(&json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"k": "a\u{2028}b\u{1680}c\u{85}d"},
        }))
        .expect("JSON"),
    )
    .await;
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&bytes));
}

#[tokio::test]
async fn openapi_v2_protobuf_is_unavailable_while_a_crd_schema_holds_such_a_character() {
    let fake = FakeKube::new();
    let client = fake.client();
    // Installed client-side (JSON decoding does not check the characters).
    fake.insert(crd_with_raw_fffe());
    let (code, body) = openapi_v2(&client, PROTOBUF).await;
    assert_eq!((code, body.len()), (503, 0));
    // The JSON form does not go through YAML and is still served.
    let (code, body) = openapi_v2(&client, "application/json").await;
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        doc["definitions"]["dev.nexus.auth.v1alpha1.AuthClient"].is_object(),
        "{}",
        doc["definitions"]
            .as_object()
            .map(|d| d.keys().cloned().collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    );

    // Replaced by the committed CRD, the document builds again.
    let committed = committed_crds().remove(1);
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            "authclients.auth.nexus.dev",
            &PatchParams::apply("nexus-operator").force(),
            &Patch::Apply(&committed),
        )
        .await
        .expect("the committed CRD applies");
    let (code, _) = openapi_v2(&client, PROTOBUF).await;
    assert_eq!(code, 200);
}
