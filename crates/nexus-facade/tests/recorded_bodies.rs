//! Never stricter than Auth0: every client and resource-server body the real Auth0 answered
//! with a 2xx in the recordings (`<workspace root>/../shared/recordings/auth0/*.yaml`, or
//! `$NEXUS_AUTH0_RECORDINGS`) passes our validation, on both paths:
//!
//! - the AuthClient path: the recorded body mapped to the CRD types (`NexusClient`,
//!   `ClientSettings`, `AuthResourceServerSpec`) where the fields correspond, checked with the
//!   shared validation the controller runs (`nexus_crd::validation`, `resource_validation`);
//! - the facade path: the same fields as a `POST /v1/tenants/{tenantId}/clients` body, checked
//!   with the facade's own validation (`nexus_facade::validate`), which adds the request
//!   schema's rules.
//!
//! Fields our types do not have (Auth0's other settings) are left out; `app_type`, which the
//! Nexus contract requires, is `regular_web` when the recorded body has none, and a recorded
//! PATCH without `name` keeps a fixed valid name: only what Auth0 was sent is judged.

use auth0_sim::recordings::{self, Interaction};
use nexus_crd::resource_validation::{validate_resource_server, validate_settings};
use nexus_crd::validation::{FieldError, validate_client};
use nexus_crd::{AuthResourceServerSpec, ClientSettings, NexusClient};
use serde_json::{Map, Value, json};

/// The recorded tenant's Management API (no recorded body claims it).
const MANAGEMENT_AUDIENCE: &str = "https://terraform-provider-auth0-dev.eu.auth0.com/api/v2/";

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, fields: &[&str]) {
    for field in fields {
        if let Some(v) = from.get(*field).filter(|v| !v.is_null()) {
            to.insert((*field).to_owned(), v.clone());
        }
    }
}

/// The Nexus request bodies (the facade's shape, which is also `NexusClient`'s) of a recorded
/// client body: one per Android fingerprint (our `keystore_hash` holds one), else one.
fn nexus_bodies(body: &Map<String, Value>) -> Vec<Value> {
    let mut base = Map::new();
    base.insert(
        "name".into(),
        body.get("name")
            .cloned()
            .unwrap_or_else(|| json!("Recorded client")),
    );
    base.insert(
        "app_type".into(),
        body.get("app_type")
            .cloned()
            .unwrap_or_else(|| json!("regular_web")),
    );
    // The plain members of the request (name, app_type, id and the objects are mapped apart).
    let plain: Vec<&str> = nexus_facade::validate::TOP_LEVEL
        .iter()
        .copied()
        .filter(|f| !["name", "app_type", "id", "mobile", "client_metadata"].contains(f))
        .collect();
    copy(body, &mut base, &plain);
    let mobile = body.get("mobile").and_then(Value::as_object);
    let mut ios = Map::new();
    if let Some(recorded) = mobile.and_then(|m| m.get("ios")).and_then(Value::as_object) {
        copy(recorded, &mut ios, &["team_id", "app_bundle_identifier"]);
    }
    let android = mobile
        .and_then(|m| m.get("android"))
        .and_then(Value::as_object);
    let mut android_base = Map::new();
    if let Some(recorded) = android {
        copy(recorded, &mut android_base, &["app_package_name"]);
    }
    let fingerprints: Vec<Value> = android
        .and_then(|a| a.get("sha256_cert_fingerprints"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let with_android = |hash: Option<&Value>| {
        let mut out = base.clone();
        let mut m = Map::new();
        if !ios.is_empty() {
            m.insert("ios".into(), Value::Object(ios.clone()));
        }
        let mut a = android_base.clone();
        if let Some(hash) = hash {
            a.insert("keystore_hash".into(), hash.clone());
        }
        if !a.is_empty() {
            m.insert("android".into(), Value::Object(a));
        }
        if !m.is_empty() {
            out.insert("mobile".into(), Value::Object(m));
        }
        Value::Object(out)
    };
    if fingerprints.is_empty() {
        vec![with_android(None)]
    } else {
        fingerprints.iter().map(|f| with_android(Some(f))).collect()
    }
}

/// The AuthClient `spec.settings` of a recorded client body, when it has any of them.
fn settings(body: &Map<String, Value>) -> Option<ClientSettings> {
    let mut s = Map::new();
    if let Some(m) = body
        .get("token_endpoint_auth_method")
        .filter(|v| !v.is_null())
    {
        s.insert("tokenEndpointAuthMethod".into(), m.clone());
    }
    if let Some(v) = body.get("cross_origin_authentication") {
        s.insert("crossOriginAuthentication".into(), v.clone());
    }
    if let Some(v) = body
        .get("jwt_configuration")
        .and_then(|j| j.get("lifetime_in_seconds"))
    {
        s.insert("idTokenLifetimeSeconds".into(), v.clone());
    }
    if let Some(rt) = body.get("refresh_token").and_then(Value::as_object) {
        let mut r = Map::new();
        for (from, to) in [
            ("rotation_type", "rotationType"),
            ("expiration_type", "expirationType"),
            ("leeway", "leewaySeconds"),
            ("token_lifetime", "tokenLifetimeSeconds"),
            ("infinite_token_lifetime", "infiniteTokenLifetime"),
            ("idle_token_lifetime", "idleTokenLifetimeSeconds"),
            ("infinite_idle_token_lifetime", "infiniteIdleTokenLifetime"),
        ] {
            if let Some(v) = rt.get(from) {
                r.insert(to.into(), v.clone());
            }
        }
        s.insert("refreshToken".into(), Value::Object(r));
    }
    if s.is_empty() {
        return None;
    }
    Some(serde_json::from_value(Value::Object(s)).expect("recorded settings map to ClientSettings"))
}

/// The AuthResourceServer spec of a recorded resource-server body (`identifier` from the body,
/// else from the request path or the cassette's earlier answers).
fn resource_server_spec(body: &Map<String, Value>, identifier: &str) -> AuthResourceServerSpec {
    let mut spec = Map::new();
    spec.insert("tenant".into(), json!("recorded"));
    spec.insert("identifier".into(), json!(identifier));
    // Our spec requires a name; a recorded create without one keeps the identifier (see
    // docs/auth0-api.md: Auth0 accepts an API without a name).
    spec.insert(
        "name".into(),
        body.get("name")
            .cloned()
            .unwrap_or_else(|| json!(identifier)),
    );
    for (from, to) in [
        ("scopes", "scopes"),
        ("signing_alg", "signingAlg"),
        ("token_lifetime", "tokenLifetimeSeconds"),
        ("token_lifetime_for_web", "tokenLifetimeForWebSeconds"),
        ("allow_offline_access", "allowOfflineAccess"),
        (
            "skip_consent_for_verifiable_first_party_clients",
            "skipConsentForVerifiableFirstPartyClients",
        ),
    ] {
        if let Some(v) = body.get(from) {
            spec.insert(to.into(), v.clone());
        }
    }
    serde_json::from_value(Value::Object(spec))
        .expect("recorded API maps to AuthResourceServerSpec")
}

fn label(cassette: &str, i: &Interaction) -> String {
    format!("{cassette}#{} {} {}", i.index, i.method, i.path())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refused(found: &[FieldError]) -> String {
    found
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn bodies_auth0_accepted_pass_our_validation() {
    let cassettes = recordings::load_all().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let (mut clients, mut apis, mut fingerprints) = (0, 0, 0);
    for cassette in &cassettes {
        // Resource-server id -> identifier, from the answers, for PATCHes by id.
        let mut identifiers = std::collections::HashMap::new();
        for i in &cassette.interactions {
            if let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(&i.response_body)
                && let (Some(Value::String(id)), Some(Value::String(identifier))) =
                    (answer.get("id"), answer.get("identifier"))
            {
                identifiers.insert(id.clone(), identifier.clone());
            }
            if !i.succeeded() || !matches!(i.method.as_str(), "POST" | "PATCH") {
                continue;
            }
            let Some(Value::Object(body)) = i.request_json() else {
                continue;
            };
            let segments: Vec<&str> = i.path().trim_start_matches("/api/v2/").split('/').collect();
            match segments.as_slice() {
                ["clients"] | ["clients", _] => {
                    clients += 1;
                    for nexus in nexus_bodies(&body) {
                        if nexus.pointer("/mobile/android/keystore_hash").is_some() {
                            fingerprints += 1;
                        }
                        // Facade path: the REST body.
                        let facade = nexus_facade::validate::validate_value(&nexus);
                        if !facade.is_empty() {
                            failures.push(format!(
                                "{} (facade): {facade:?} for {nexus}",
                                label(&cassette.name, i)
                            ));
                        }
                        // AuthClient path: the CRD type and the shared validation.
                        let client: NexusClient = serde_json::from_value(nexus.clone())
                            .expect("recorded client maps to NexusClient");
                        let found = validate_client(&client);
                        if !found.is_empty() {
                            failures.push(format!(
                                "{} (AuthClient): {}",
                                label(&cassette.name, i),
                                refused(&found)
                            ));
                        }
                    }
                    if let Some(settings) = settings(&body) {
                        let found = validate_settings(&settings);
                        if !found.is_empty() {
                            failures.push(format!(
                                "{} (AuthClient settings): {}",
                                label(&cassette.name, i),
                                refused(&found)
                            ));
                        }
                    }
                }
                ["resource-servers"] | ["resource-servers", _] => {
                    apis += 1;
                    let identifier = match (body.get("identifier"), segments.get(1)) {
                        (Some(Value::String(identifier)), _) => identifier.clone(),
                        (_, Some(key)) => {
                            let key = percent_decode(key);
                            identifiers.get(&key).cloned().unwrap_or(key)
                        }
                        _ => continue,
                    };
                    let found = validate_resource_server(
                        &resource_server_spec(&body, &identifier),
                        MANAGEMENT_AUDIENCE,
                    );
                    if !found.is_empty() {
                        failures.push(format!(
                            "{} (AuthResourceServer): {}",
                            label(&cassette.name, i),
                            refused(&found)
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    // The recordings hold these; a loader that read nothing must not pass.
    assert!(
        clients >= 20 && apis >= 20 && fingerprints >= 3,
        "too few recorded bodies: {clients} client, {apis} API, {fingerprints} fingerprint bodies"
    );
    assert!(
        failures.is_empty(),
        "our validation refuses {} bodies real Auth0 accepted:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
