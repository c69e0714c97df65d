//! Issue 23: the simulator pages as Auth0 does past 1,000 records: offset paging
//! (`page`/`per_page`) is refused from the page that reaches past record 1,000 with Auth0's
//! `400 invalid_paging`, and checkpoint paging (`from`/`take`, `next`) lists every client and
//! every client grant.

use std::collections::HashSet;
mod common;

use common::{Calls, T};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TENANT_SIZE: usize = 1500;

/// Follows `next` from the first page of `path` (which carries `take`); the ids of `key`.
async fn walk(t: &T, path: &str, key: &str, id: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut from: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &from {
            None => path.to_owned(),
            Some(f) => format!("{path}&from={f}"),
        };
        let (status, body) = t.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        let items = body[key].as_array().expect("items");
        assert!(items.len() <= 100, "take is honoured");
        ids.extend(items.iter().map(|c| c[id].as_str().expect("id").to_owned()));
        match body.get("next").and_then(Value::as_str) {
            Some(next) => from = Some(next.to_owned()),
            None => return (ids, pages),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn offset_paging_stops_at_the_thousandth_record_with_auth0s_error() {
    let t = T::new().await;
    let sim = &t.sim;
    for i in 0..TENANT_SIZE {
        sim.insert_client(json!({"name": format!("bulk-{i}")}));
    }
    let (status, body) = t.get("/api/v2/clients?page=9&per_page=100").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(100));
    for path in [
        "/api/v2/clients?page=10&per_page=100&include_totals=true",
        "/api/v2/client-grants?page=10&per_page=100",
        "/api/v2/resource-servers?page=10&per_page=100",
        "/api/v2/connections?page=10&per_page=100",
    ] {
        let (status, body) = t.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            body,
            json!({
                "statusCode": 400,
                "error": "Bad Request",
                "message": "Requesting page 10 exceeds the allowed maximum of 1000 records. To fetch results beyond 1000, use the checkpoint pagination method.",
                "errorCode": "invalid_paging"
            }),
            "{path}"
        );
    }
    // Any page size: the page that would reach past record 1,000 is refused.
    let (status, _) = t.get("/api/v2/clients?page=20&per_page=50").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn checkpoint_paging_lists_every_client_once_in_creation_order() {
    let t = T::new().await;
    let sim = &t.sim;
    let mut created = Vec::new();
    for i in 0..TENANT_SIZE {
        created.push(sim.insert_client(json!({"name": format!("bulk-{i}")})));
    }
    let expected: Vec<String> = sim
        .clients()
        .iter()
        .map(|c| c["client_id"].as_str().expect("id").to_owned())
        .collect();
    assert!(expected.ends_with(&created));
    let (ids, pages) = walk(
        &t,
        "/api/v2/clients?take=100&fields=client_id,name&include_fields=true",
        "clients",
        "client_id",
    )
    .await;
    assert_eq!(ids, expected);
    assert_eq!(pages, expected.len().div_ceil(100));
    // A client deleted between two pages does not break the walk.
    let (_, first) = t.get("/api/v2/clients?take=10").await;
    let last = first["clients"][9]["client_id"].as_str().expect("id");
    assert!(sim.remove_client(last));
    let next = first["next"].as_str().expect("next");
    let (status, second) = t.get(&format!("/api/v2/clients?take=10&from={next}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["clients"][0]["client_id"], json!(expected[10]));
    // take is 1..=100; a foreign checkpoint is refused.
    for bad in ["take=0", "take=101", "take=10&from=not-ours"] {
        let (status, body) = t.get(&format!("/api/v2/clients?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["errorCode"], "invalid_query_string");
    }
}

#[tokio::test(start_paused = true)]
async fn checkpoint_paging_lists_every_client_grant() {
    let t = T::new().await;
    let sim = &t.sim;
    let mut created = HashSet::new();
    for i in 0..1200 {
        created.insert(sim.insert_client_grant(
            &format!("client-{i}"),
            "https://api.example.com",
            &["read"],
        ));
    }
    let (ids, pages) = walk(
        &t,
        "/api/v2/client-grants?take=100&audience=https://api.example.com",
        "client_grants",
        "id",
    )
    .await;
    assert_eq!(pages, 12);
    assert_eq!(ids.len(), 1200);
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), created);
}

/// `GET /resource-servers` has no checkpoint paging: past 1,000 APIs the operator lists by
/// `identifiers` (at most 10 per request), which the simulator serves as a filter whatever the
/// tenant's size.
#[tokio::test(start_paused = true)]
async fn resource_servers_are_found_by_identifier_past_the_thousandth_record() {
    let t = T::new().await;
    let sim = &t.sim;
    for i in 0..TENANT_SIZE {
        sim.insert_resource_server(json!({"identifier": format!("https://api-{i}.example/")}));
    }
    let (status, _) = t.get("/api/v2/resource-servers?page=10&per_page=100").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "offset paging stops at 1,000"
    );
    let wanted = [
        "https://api-1499.example/",
        "https://api-3.example/",
        "https://absent.example/",
    ];
    let query: String = wanted
        .iter()
        .map(|i| format!("identifiers={}&", urlencode(i)))
        .collect();
    let (status, body) = t
        .get(&format!(
            "/api/v2/resource-servers?{query}page=0&per_page=10&include_totals=true"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut found: Vec<&str> = body["resource_servers"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["identifier"].as_str().expect("identifier"))
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        ["https://api-1499.example/", "https://api-3.example/"]
    );
    assert_eq!(body["total"], json!(2));
    let eleven: String = (0..11)
        .map(|i| {
            format!(
                "identifiers={}&",
                urlencode(&format!("https://api-{i}.example/"))
            )
        })
        .collect();
    let (status, body) = t.get(&format!("/api/v2/resource-servers?{eleven}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorCode"], json!("invalid_query_string"), "{body}");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
