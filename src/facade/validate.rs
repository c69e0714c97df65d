//! Pure validation of the request body of `POST /v1/tenants/{tenantId}/clients` against the
//! request schema of the contract (plus Auth0's own limits, so that nothing is created in the
//! cluster that Auth0 would refuse anyway).
//!
//! The body is checked as raw JSON first, so every bad field is named (wrong types included),
//! not just the first one serde stumbles on. Strictness choices (documented in
//! `docs/facade.md` and in `/openapi.json`):
//! - unknown members are refused at every level (`additionalProperties: false`);
//! - `null` is accepted exactly where the contract says "nullable" (top-level optional fields);
//! - `id` must be absent, `null` or empty: adopting an existing Auth0 client through the facade
//!   would hand its secret to the caller.

use serde_json::{Map, Value};

use super::problem::FieldErrors;
use crate::crd::NexusClient;

/// Application types Auth0 accepts for `app_type`.
pub const APP_TYPES: &[&str] = &[
    "native",
    "spa",
    "regular_web",
    "non_interactive",
    "resource_server",
    "express_configuration",
    "rms",
    "box",
    "cloudbees",
    "concur",
    "dropbox",
    "mscrm",
    "echosign",
    "egnyte",
    "newrelic",
    "office365",
    "salesforce",
    "sentry",
    "sharepoint",
    "slack",
    "springcm",
    "zendesk",
    "zoom",
    "sso_integration",
    "oag",
];

/// Longest `description` Auth0 accepts.
pub const MAX_DESCRIPTION: usize = 140;
/// Longest `client_metadata` value Auth0 accepts (and the limit of other free strings).
pub const MAX_STRING: usize = 255;
/// Longest URL accepted.
pub const MAX_URL: usize = 2048;
/// Most entries accepted in one list.
pub const MAX_ITEMS: usize = 100;

/// String-list fields of the request.
pub const LIST_FIELDS: &[&str] = &[
    "callbacks",
    "allowed_origins",
    "web_origins",
    "allowed_logout_urls",
    "grant_types",
];

const TOP_LEVEL: &[&str] = &[
    "name",
    "app_type",
    "id",
    "description",
    "logo_uri",
    "callbacks",
    "allowed_origins",
    "web_origins",
    "allowed_logout_urls",
    "grant_types",
    "initiate_login_uri",
    "mobile",
    "client_metadata",
];

/// Parses and validates a request body. On success returns the typed client; otherwise
/// field path -> messages (`$` for the body as a whole).
pub fn parse_request(body: &[u8]) -> Result<NexusClient, FieldErrors> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            // serde_json messages name line/column and the expectation, never echo the input.
            return Err(one("$", format!("malformed JSON: {e}")));
        }
    };
    let errors = validate_value(&value);
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value(value).map_err(|e| one("$", format!("does not match the schema: {e}")))
}

fn one(path: &str, message: String) -> FieldErrors {
    let mut errors = FieldErrors::new();
    errors.insert(path.to_owned(), vec![message]);
    errors
}

struct Errors(FieldErrors);

impl Errors {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0
            .entry(path.to_owned())
            .or_default()
            .push(message.into());
    }
}

/// Validates an already parsed JSON body. Empty result = valid.
pub fn validate_value(value: &Value) -> FieldErrors {
    let mut errors = Errors(FieldErrors::new());
    let Some(object) = value.as_object() else {
        errors.add("$", format!("must be a JSON object, not {}", kind(value)));
        return errors.0;
    };
    unknown_members(object, TOP_LEVEL, "", &mut errors);

    // name
    match object.get("name") {
        None => errors.add("name", "is required"),
        Some(Value::String(name)) => {
            if name.trim().is_empty() {
                errors.add("name", "must not be empty");
            } else if name.contains(['<', '>']) {
                errors.add("name", "must not contain '<' or '>'");
            } else if name.chars().count() > MAX_STRING {
                errors.add("name", format!("must be at most {MAX_STRING} characters"));
            } else if name.chars().any(char::is_control) {
                errors.add("name", "must not contain control characters");
            }
        }
        Some(other) => errors.add("name", expected("a string", other)),
    }

    // app_type
    match object.get("app_type") {
        None => errors.add("app_type", "is required"),
        Some(Value::String(app_type)) => {
            if app_type.trim().is_empty() {
                errors.add("app_type", "must not be empty");
            } else if !APP_TYPES.contains(&app_type.as_str()) {
                errors.add(
                    "app_type",
                    "is not an Auth0 application type; use one of regular_web, spa, native, non_interactive (or another Auth0 type)",
                );
            }
        }
        Some(other) => errors.add("app_type", expected("a string", other)),
    }

    // id: refused (see module docs)
    match object.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) if id.is_empty() => {}
        Some(Value::String(_)) => errors.add(
            "id",
            "must be null or absent: the client id is generated by Auth0 and existing clients cannot be adopted through this API",
        ),
        Some(other) => errors.add("id", expected("a string or null", other)),
    }

    if let Some(description) = nullable_string(object, "description", &mut errors)
        && description.chars().count() > MAX_DESCRIPTION
    {
        errors.add(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        );
    }

    if let Some(logo) = nullable_string(object, "logo_uri", &mut errors)
        && !logo.is_empty()
        && !is_web_url(logo, false)
    {
        errors.add(
            "logo_uri",
            "must be an absolute http(s) URL (e.g. https://example.com/logo.png) or empty",
        );
    }

    if let Some(uri) = nullable_string(object, "initiate_login_uri", &mut errors)
        && !uri.is_empty()
        && !is_web_url(uri, true)
    {
        errors.add("initiate_login_uri", "must be an https:// URL or empty");
    }

    for field in LIST_FIELDS {
        match object.get(*field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if items.len() > MAX_ITEMS {
                    errors.add(field, format!("must have at most {MAX_ITEMS} entries"));
                }
                for (index, item) in items.iter().enumerate() {
                    let path = format!("{field}[{index}]");
                    match item {
                        Value::String(s) if s.is_empty() => errors.add(&path, "must not be empty"),
                        Value::String(s) if s.len() > MAX_URL => {
                            errors.add(&path, format!("must be at most {MAX_URL} bytes"))
                        }
                        Value::String(s)
                            if s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                        {
                            errors.add(&path, "must not contain white space or control characters")
                        }
                        Value::String(_) => {}
                        other => errors.add(&path, expected("a string", other)),
                    }
                }
            }
            Some(other) => errors.add(field, expected("an array of strings or null", other)),
        }
    }

    match object.get("mobile") {
        None => {}
        Some(Value::Object(mobile)) => {
            unknown_members(mobile, &["ios", "android"], "mobile", &mut errors);
            for (platform, fields) in [
                ("ios", &["team_id", "app_bundle_identifier"]),
                ("android", &["keystore_hash", "app_package_name"]),
            ] {
                let path = format!("mobile.{platform}");
                match mobile.get(platform) {
                    None => {}
                    Some(Value::Object(inner)) => {
                        unknown_members(inner, fields, &path, &mut errors);
                        for field in fields {
                            plain_string(inner, field, &format!("{path}.{field}"), &mut errors);
                        }
                    }
                    Some(other) => errors.add(&path, expected("an object", other)),
                }
            }
        }
        Some(other) => errors.add("mobile", expected("an object", other)),
    }

    match object.get("client_metadata") {
        None => {}
        Some(Value::Object(metadata)) => {
            let strings = ["owners", "productName", "client_upn_key", "applicationName"];
            let mut allowed = strings.to_vec();
            allowed.push("manuallyCreated");
            unknown_members(metadata, &allowed, "client_metadata", &mut errors);
            for field in strings {
                plain_string(
                    metadata,
                    field,
                    &format!("client_metadata.{field}"),
                    &mut errors,
                );
            }
            match metadata.get("manuallyCreated") {
                None | Some(Value::Bool(_)) => {}
                Some(other) => errors.add(
                    "client_metadata.manuallyCreated",
                    expected("a boolean", other),
                ),
            }
        }
        Some(other) => errors.add("client_metadata", expected("an object", other)),
    }

    errors.0
}

fn unknown_members(
    object: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
    errors: &mut Errors,
) {
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            let shown: String = key.chars().take(64).collect();
            let path = if prefix.is_empty() {
                shown
            } else {
                format!("{prefix}.{shown}")
            };
            errors.add(&path, "is not a member of the request schema");
        }
    }
}

/// A nullable string member: returns it when it is a string, records an error for other types.
fn nullable_string<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    errors: &mut Errors,
) -> Option<&'a str> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.chars().count() > MAX_URL {
                errors.add(field, format!("must be at most {MAX_URL} characters"));
                None
            } else {
                Some(s)
            }
        }
        Some(other) => {
            errors.add(field, expected("a string or null", other));
            None
        }
    }
}

/// A non-nullable optional string member of at most [`MAX_STRING`] characters.
fn plain_string(object: &Map<String, Value>, field: &str, path: &str, errors: &mut Errors) {
    match object.get(field) {
        None => {}
        Some(Value::String(s)) => {
            if s.chars().count() > MAX_STRING {
                errors.add(path, format!("must be at most {MAX_STRING} characters"));
            } else if s.chars().any(char::is_control) {
                errors.add(path, "must not contain control characters");
            }
        }
        Some(other) => errors.add(path, expected("a string", other)),
    }
}

fn is_web_url(value: &str, https_only: bool) -> bool {
    match url::Url::parse(value) {
        Ok(url) => {
            let scheme_ok = url.scheme() == "https" || (!https_only && url.scheme() == "http");
            scheme_ok
                && url.host_str().is_some_and(|h| !h.is_empty())
                && !value.chars().any(char::is_whitespace)
        }
        Err(_) => false,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(what: &str, got: &Value) -> String {
    format!("must be {what}, not {}", kind(got))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(value: Value) -> Vec<String> {
        validate_value(&value).into_keys().collect()
    }

    #[test]
    fn minimal_and_full_bodies_are_valid() {
        assert!(paths(json!({"name": "a", "app_type": "spa"})).is_empty());
        let full = json!({
            "id": null, "name": "Billing", "app_type": "native", "description": "d",
            "logo_uri": "https://x.io/l.png", "callbacks": ["https://x.io/cb"],
            "allowed_origins": null, "web_origins": [], "allowed_logout_urls": ["https://x.io"],
            "grant_types": ["authorization_code"], "initiate_login_uri": "https://x.io/login",
            "mobile": {"ios": {"team_id": "T", "app_bundle_identifier": "b"},
                       "android": {"keystore_hash": "AB:CD", "app_package_name": "p"}},
            "client_metadata": {"owners": "a, b", "productName": "P", "client_upn_key": "upn",
                                "applicationName": "A", "manuallyCreated": false}
        });
        assert!(
            paths(full.clone()).is_empty(),
            "{:?}",
            validate_value(&full)
        );
        let client = parse_request(full.to_string().as_bytes()).unwrap();
        assert_eq!(client.name, "Billing");
        assert_eq!(
            client.client_metadata.unwrap().manually_created,
            Some(false)
        );
    }

    #[test]
    fn required_fields() {
        assert_eq!(paths(json!({})), vec!["app_type", "name"]);
        assert_eq!(
            paths(json!({"name": "", "app_type": " "})),
            vec!["app_type", "name"]
        );
        assert_eq!(
            paths(json!({"name": null, "app_type": 3})),
            vec!["app_type", "name"]
        );
        assert_eq!(
            paths(json!({"name": "a<b", "app_type": "webapp"})),
            vec!["app_type", "name"]
        );
    }

    #[test]
    fn wrong_types_are_named() {
        let errors = validate_value(&json!({
            "name": "a", "app_type": "spa", "callbacks": "https://x", "grant_types": [1],
            "description": 5, "mobile": {"ios": {"team_id": 1}, "android": null},
            "client_metadata": {"manuallyCreated": "yes", "owners": ["a"]}
        }));
        let keys: Vec<_> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            vec![
                "callbacks",
                "client_metadata.manuallyCreated",
                "client_metadata.owners",
                "description",
                "grant_types[0]",
                "mobile.android",
                "mobile.ios.team_id"
            ]
        );
    }

    #[test]
    fn unknown_members_and_id_are_refused() {
        assert_eq!(
            paths(
                json!({"name": "a", "app_type": "spa", "client_secret": "x", "id": "abc",
                         "mobile": {"windows": {}}, "client_metadata": {"extra": "1"}})
            ),
            vec![
                "client_metadata.extra",
                "client_secret",
                "id",
                "mobile.windows"
            ]
        );
    }

    #[test]
    fn auth0_limits() {
        let long = "x".repeat(141);
        assert_eq!(
            paths(json!({"name": "a", "app_type": "spa", "description": long,
                         "logo_uri": "javascript:alert(1)", "initiate_login_uri": "http://x.io",
                         "callbacks": ["", "a b"], "client_metadata": {"owners": "o".repeat(256)}})),
            vec![
                "callbacks[0]",
                "callbacks[1]",
                "client_metadata.owners",
                "description",
                "initiate_login_uri",
                "logo_uri"
            ]
        );
        assert!(
            paths(
                json!({"name": "a", "app_type": "spa", "logo_uri": "", "initiate_login_uri": ""})
            )
            .is_empty()
        );
    }

    #[test]
    fn malformed_and_non_object_bodies() {
        assert!(parse_request(b"{").unwrap_err().contains_key("$"));
        assert!(parse_request(b"[]").unwrap_err().contains_key("$"));
        assert!(parse_request(b"").unwrap_err().contains_key("$"));
        assert!(parse_request(b"null").unwrap_err().contains_key("$"));
    }
}
