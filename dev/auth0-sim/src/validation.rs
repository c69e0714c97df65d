//! Auth0's payload validation of `POST /api/v2/clients` and `PATCH /api/v2/clients/{id}` bodies.
//!
//! Pure functions. The field list is the subset of Auth0's `ClientCreate` / `ClientUpdate` schema
//! this project can plausibly send; anything else is rejected like Auth0 rejects unknown
//! properties (400 `invalid_body`). Lengths are counted in UTF-16 code units, as Auth0 (Node.js)
//! counts them. Messages follow Auth0's `Payload validation error: '...' on property x.` wording.

use http::Uri;
use serde_json::{Map, Value};

use super::error::ApiError;

/// Which request is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POST /api/v2/clients`: `name` is required.
    Create,
    /// `PATCH /api/v2/clients/{id}`: at least one property; `null` allowed where Auth0 allows it.
    Update,
}

/// Largest number of `client_metadata` keys.
pub const METADATA_MAX_KEYS: usize = 10;
/// Largest length of a `client_metadata` key or value.
pub const METADATA_MAX_LEN: usize = 255;
/// Largest length of `description`.
pub const DESCRIPTION_MAX_LEN: usize = 140;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Bool,
    Int,
    StrArray,
    Array,
    Object,
}

/// `(property, kind, nullable in updates)`.
const FIELDS: &[(&str, Kind, bool)] = &[
    ("name", Kind::Str, false),
    ("description", Kind::Str, false),
    ("logo_uri", Kind::Str, false),
    ("callbacks", Kind::StrArray, false),
    ("allowed_origins", Kind::StrArray, false),
    ("web_origins", Kind::StrArray, false),
    ("client_aliases", Kind::StrArray, false),
    ("allowed_clients", Kind::StrArray, false),
    ("allowed_logout_urls", Kind::StrArray, false),
    ("grant_types", Kind::StrArray, false),
    ("token_endpoint_auth_method", Kind::Str, true),
    ("app_type", Kind::Str, false),
    ("is_first_party", Kind::Bool, false),
    ("oidc_conformant", Kind::Bool, false),
    ("jwt_configuration", Kind::Object, false),
    ("encryption_key", Kind::Object, true),
    ("sso", Kind::Bool, false),
    ("cross_origin_authentication", Kind::Bool, false),
    ("cross_origin_auth", Kind::Bool, false),
    ("cross_origin_loc", Kind::Str, true),
    ("sso_disabled", Kind::Bool, false),
    ("custom_login_page_on", Kind::Bool, false),
    ("custom_login_page", Kind::Str, false),
    ("custom_login_page_preview", Kind::Str, false),
    ("form_template", Kind::Str, false),
    ("is_token_endpoint_ip_header_trusted", Kind::Bool, false),
    ("addons", Kind::Object, false),
    ("client_metadata", Kind::Object, false),
    ("mobile", Kind::Object, false),
    ("initiate_login_uri", Kind::Str, false),
    ("native_social_login", Kind::Object, false),
    ("refresh_token", Kind::Object, true),
    ("oidc_logout", Kind::Object, false),
    ("organization_usage", Kind::Str, false),
    ("organization_require_behavior", Kind::Str, false),
    ("default_organization", Kind::Object, true),
    ("client_authentication_methods", Kind::Object, true),
    ("require_pushed_authorization_requests", Kind::Bool, false),
    ("require_proof_of_possession", Kind::Bool, false),
    ("signed_request_object", Kind::Object, true),
    ("token_exchange", Kind::Object, false),
    // Creates only (a `resource_server` client names its API).
    ("resource_server_identifier", Kind::Str, false),
    ("compliance_level", Kind::Str, true),
    ("par_request_expiry", Kind::Int, true),
    (
        "skip_non_verifiable_callback_uri_confirmation_prompt",
        Kind::Bool,
        true,
    ),
    // Updates only: setting the secret by hand.
    ("client_secret", Kind::Str, false),
];

// Deliberately kept apart from the operator's own list (`controller::validate::APP_TYPES`): the
// simulator stands in for Auth0, so a mistake in the operator's list must not be mirrored here.
const APP_TYPES: &[&str] = &[
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
/// Grant types a client of a tenant created today may have (Auth0's specification-conforming and
/// extension grants; the legacy grants are only kept for old tenants).
const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:openid:params:grant-type:ciba",
    "http://auth0.com/oauth/grant-type/password-realm",
    "http://auth0.com/oauth/grant-type/mfa-oob",
    "http://auth0.com/oauth/grant-type/mfa-otp",
    "http://auth0.com/oauth/grant-type/mfa-recovery-code",
    "http://auth0.com/oauth/grant-type/passwordless/otp",
];
/// URL lists and the name of the format Auth0 checks their entries against.
const URL_LISTS: &[(&str, &str)] = &[
    ("callbacks", "callback-url"),
    ("allowed_logout_urls", "callback-url"),
    ("allowed_origins", "url-or-wildcard"),
    ("web_origins", "url-or-wildcard"),
];
const TOKEN_ENDPOINT_AUTH_METHODS: &[&str] = &["none", "client_secret_post", "client_secret_basic"];
const ORGANIZATION_USAGE: &[&str] = &["deny", "allow", "require"];
const ORGANIZATION_REQUIRE_BEHAVIOR: &[&str] =
    &["no_prompt", "pre_login_prompt", "post_login_prompt"];

/// JSON-schema style type name of a value, as Auth0's validator prints it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

pub(crate) fn payload_error(detail: impl AsRef<str>, property: Option<&str>) -> ApiError {
    let message = match property {
        Some(p) => format!(
            "Payload validation error: '{}' on property {p}.",
            detail.as_ref()
        ),
        None => format!("Payload validation error: '{}'.", detail.as_ref()),
    };
    ApiError::invalid_body(message)
}

pub(crate) fn type_error(expected: &str, found: &Value, property: &str) -> ApiError {
    payload_error(
        format!(
            "Expected type {expected} but found type {}",
            type_name(found)
        ),
        Some(property),
    )
}

pub(crate) fn check_enum(value: &str, allowed: &[&str], property: &str) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(payload_error(
            format!("No enum match for: \"{value}\""),
            Some(property),
        ))
    }
}

fn check_kind(kind: Kind, v: &Value, property: &str) -> Result<(), ApiError> {
    let ok = match kind {
        Kind::Str => v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Int => v.is_i64() || v.is_u64(),
        Kind::Object => v.is_object(),
        Kind::Array => v.is_array(),
        Kind::StrArray => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        return Err(type_error("string", item, &format!("{property}[{i}]")));
                    }
                }
                true
            }
            None => false,
        },
    };
    if ok {
        return Ok(());
    }
    let expected = match kind {
        Kind::Str => "string",
        Kind::Bool => "boolean",
        Kind::Int => "integer",
        Kind::StrArray | Kind::Array => "array",
        Kind::Object => "object",
    };
    Err(type_error(expected, v, property))
}

/// Whether `s` is an absolute URI as RFC 3986 defines it: a scheme (`ALPHA *( ALPHA / DIGIT /
/// "+" / "-" / "." )`), `:`, then URI characters (unreserved, reserved, `%HH`), ASCII only. A
/// host is not required (`urn:...` is absolute too): Auth0's format `absolute-uri-or-empty` is
/// not published, and nothing recorded shows it asking for more.
pub fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.chars();
    if !scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return false;
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// Whether `s` is an absolute `https` URI.
pub fn is_https_uri(s: &str) -> bool {
    match s.parse::<Uri>() {
        Ok(uri) => {
            uri.scheme_str()
                .is_some_and(|sch| sch.eq_ignore_ascii_case("https"))
                && uri.authority().is_some_and(|a| !a.host().is_empty())
        }
        Err(_) => false,
    }
}

/// Whether `s` is an absolute `https` URI without a fragment (Auth0: "must be https and cannot
/// contain a fragment").
pub fn is_login_uri(s: &str) -> bool {
    is_https_uri(s) && !s.contains('#')
}

/// Whether `s` passes Auth0's check of a callback, origin or logout URL: `scheme://` and
/// something after it, in printable ASCII (`*` wildcards allowed; a scheme-less
/// `*.example.com/callback` is refused).
pub fn is_url_entry(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Validates a request body. The body must already be known to be JSON.
pub fn validate_client_body(body: &Value, mode: Mode) -> Result<(), ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(payload_error(
            format!("Expected type object but found type {}", type_name(body)),
            None,
        ));
    };
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| {
            !FIELDS.iter().any(|(name, _, _)| name == k)
                || (mode == Mode::Create && *k == "client_secret")
                || (mode == Mode::Update && *k == "resource_server_identifier")
        })
        .collect();
    if !unknown.is_empty() {
        return Err(payload_error(
            format!("Additional properties not allowed: {}", unknown.join(",")),
            None,
        ));
    }
    match mode {
        Mode::Create if !obj.contains_key("name") => {
            return Err(payload_error("Missing required property: name", None));
        }
        Mode::Update if obj.is_empty() => {
            return Err(payload_error(
                "Too few properties defined (0), minimum 1",
                None,
            ));
        }
        _ => {}
    }
    for (property, kind, nullable) in FIELDS {
        let Some(v) = obj.get(*property) else {
            continue;
        };
        if v.is_null() && mode == Mode::Update && *nullable {
            continue;
        }
        check_kind(*kind, v, property)?;
        check_property(property, v, mode)?;
    }
    Ok(())
}

fn check_property(property: &str, v: &Value, mode: Mode) -> Result<(), ApiError> {
    match (property, v) {
        ("name", Value::String(s)) if s.is_empty() || s.contains(['<', '>']) => {
            return Err(payload_error(
                format!("String does not match pattern ^[^<>]+$: {s}"),
                Some("name"),
            ));
        }
        ("description", Value::String(s)) => {
            let len = js_len(s);
            if len > DESCRIPTION_MAX_LEN {
                return Err(payload_error(
                    format!("String is too long ({len} chars), maximum {DESCRIPTION_MAX_LEN}"),
                    Some("description"),
                ));
            }
        }
        ("logo_uri", Value::String(s)) if !s.is_empty() && !is_absolute_uri(s) => {
            return Err(payload_error(
                format!("Object didn't pass validation for format absolute-uri-or-empty: {s}"),
                Some("logo_uri"),
            ));
        }
        ("initiate_login_uri", Value::String(s)) if !s.is_empty() && !is_login_uri(s) => {
            return Err(payload_error(
                format!(
                    "Object didn't pass validation for format absolute-https-uri-or-empty: {s}"
                ),
                Some("initiate_login_uri"),
            ));
        }
        ("app_type", Value::String(s)) => check_enum(s, APP_TYPES, property)?,
        ("grant_types", Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Value::String(s) = item {
                    check_enum(s, GRANT_TYPES, &format!("grant_types[{i}]"))?;
                }
            }
        }
        (list, Value::Array(items)) if URL_LISTS.iter().any(|(name, _)| *name == list) => {
            let format = URL_LISTS
                .iter()
                .find(|(name, _)| *name == list)
                .map_or("url", |(_, format)| format);
            for (i, item) in items.iter().enumerate() {
                if let Value::String(s) = item
                    && !is_url_entry(s)
                {
                    return Err(payload_error(
                        format!("Object didn't pass validation for format {format}: {s}"),
                        Some(&format!("{list}[{i}]")),
                    ));
                }
            }
        }
        ("token_endpoint_auth_method", Value::String(s)) => {
            check_enum(s, TOKEN_ENDPOINT_AUTH_METHODS, property)?;
        }
        ("organization_usage", Value::String(s)) => check_enum(s, ORGANIZATION_USAGE, property)?,
        ("organization_require_behavior", Value::String(s)) => {
            check_enum(s, ORGANIZATION_REQUIRE_BEHAVIOR, property)?;
        }
        ("client_metadata", Value::Object(m)) => validate_metadata(m, mode)?,
        ("mobile", Value::Object(m)) => validate_mobile(m)?,
        ("jwt_configuration", Value::Object(m)) => validate_object(
            m,
            "jwt_configuration",
            &[
                ("lifetime_in_seconds", Kind::Int),
                ("secret_encoded", Kind::Bool),
                ("scopes", Kind::Object),
                ("alg", Kind::Str),
            ],
        )?,
        ("refresh_token", Value::Object(m)) => {
            validate_object(
                m,
                "refresh_token",
                &[
                    ("rotation_type", Kind::Str),
                    ("expiration_type", Kind::Str),
                    ("leeway", Kind::Int),
                    ("token_lifetime", Kind::Int),
                    ("infinite_token_lifetime", Kind::Bool),
                    ("idle_token_lifetime", Kind::Int),
                    ("infinite_idle_token_lifetime", Kind::Bool),
                    ("policies", Kind::Array),
                ],
            )?;
            if let Some(Value::String(s)) = m.get("rotation_type") {
                check_enum(
                    s,
                    &["rotating", "non-rotating"],
                    "refresh_token.rotation_type",
                )?;
            }
            if let Some(Value::String(s)) = m.get("expiration_type") {
                check_enum(
                    s,
                    &["expiring", "non-expiring"],
                    "refresh_token.expiration_type",
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn validate_object(
    m: &Map<String, Value>,
    prefix: &str,
    known: &[(&str, Kind)],
) -> Result<(), ApiError> {
    let unknown: Vec<&str> = m
        .keys()
        .map(String::as_str)
        .filter(|k| !known.iter().any(|(name, _)| name == k))
        .collect();
    if !unknown.is_empty() {
        return Err(payload_error(
            format!("Additional properties not allowed: {}", unknown.join(",")),
            Some(prefix),
        ));
    }
    for (name, kind) in known {
        if let Some(v) = m.get(*name) {
            check_kind(*kind, v, &format!("{prefix}.{name}"))?;
        }
    }
    Ok(())
}

fn validate_mobile(m: &Map<String, Value>) -> Result<(), ApiError> {
    validate_object(
        m,
        "mobile",
        &[("ios", Kind::Object), ("android", Kind::Object)],
    )?;
    if let Some(Value::Object(ios)) = m.get("ios") {
        validate_object(
            ios,
            "mobile.ios",
            &[("team_id", Kind::Str), ("app_bundle_identifier", Kind::Str)],
        )?;
    }
    if let Some(Value::Object(android)) = m.get("android") {
        validate_object(
            android,
            "mobile.android",
            &[
                ("app_package_name", Kind::Str),
                ("sha256_cert_fingerprints", Kind::StrArray),
            ],
        )?;
        // Auth0's schema: `minItems: 1`, items `minLength: 1`.
        if let Some(Value::Array(fingerprints)) = android.get("sha256_cert_fingerprints") {
            let property = "mobile.android.sha256_cert_fingerprints";
            if fingerprints.is_empty() {
                return Err(payload_error(
                    "Array is too short (0), minimum 1",
                    Some(property),
                ));
            }
            for (i, fingerprint) in fingerprints.iter().enumerate() {
                if fingerprint.as_str().is_some_and(str::is_empty) {
                    return Err(payload_error(
                        "String is too short (0 chars), minimum 1",
                        Some(&format!("{property}[{i}]")),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Validates a `client_metadata` object as sent. In updates a `null` value (delete) is allowed.
pub fn validate_metadata(m: &Map<String, Value>, mode: Mode) -> Result<(), ApiError> {
    check_metadata_count(m.len())?;
    for (key, value) in m {
        let klen = js_len(key);
        if klen > METADATA_MAX_LEN {
            return Err(payload_error(
                format!("String is too long ({klen} chars), maximum {METADATA_MAX_LEN}"),
                Some("client_metadata"),
            ));
        }
        let property = format!("client_metadata.{key}");
        match value {
            Value::String(s) => {
                let vlen = js_len(s);
                if vlen > METADATA_MAX_LEN {
                    return Err(payload_error(
                        format!("String is too long ({vlen} chars), maximum {METADATA_MAX_LEN}"),
                        Some(&property),
                    ));
                }
            }
            Value::Null if mode == Mode::Update => {}
            other => return Err(type_error("string", other, &property)),
        }
    }
    Ok(())
}

/// Checks the number of `client_metadata` keys (also used on the merged result of a PATCH).
pub fn check_metadata_count(n: usize) -> Result<(), ApiError> {
    if n > METADATA_MAX_KEYS {
        return Err(payload_error(
            format!("Too many properties defined ({n}), maximum {METADATA_MAX_KEYS}"),
            Some("client_metadata"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Small schema checks shared by the resource-server, client-grant and connection bodies.
// ---------------------------------------------------------------------------------------------

/// The body as an object, or Auth0's "Expected type object" answer.
pub(crate) fn expect_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        payload_error(
            format!("Expected type object but found type {}", type_name(body)),
            None,
        )
    })
}

/// Refuses properties not in `known` ("Additional properties not allowed: a,b").
pub(crate) fn reject_unknown(
    obj: &Map<String, Value>,
    known: &[&str],
    property: Option<&str>,
) -> Result<(), ApiError> {
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(payload_error(
            format!("Additional properties not allowed: {}", unknown.join(",")),
            property,
        ))
    }
}

/// Requires every property of `required` ("Missing required property: x").
pub(crate) fn require(
    obj: &Map<String, Value>,
    required: &[&str],
    property: Option<&str>,
) -> Result<(), ApiError> {
    match required.iter().find(|r| !obj.contains_key(**r)) {
        Some(missing) => Err(payload_error(
            format!("Missing required property: {missing}"),
            property,
        )),
        None => Ok(()),
    }
}

/// A string of `min..=max` characters (UTF-16 units, as Auth0 counts).
pub(crate) fn string_in<'a>(
    v: &'a Value,
    property: &str,
    min: usize,
    max: usize,
) -> Result<&'a str, ApiError> {
    let Value::String(s) = v else {
        return Err(type_error("string", v, property));
    };
    let len = js_len(s);
    if len < min {
        return Err(payload_error(
            format!("String is too short ({len} chars), minimum {min}"),
            Some(property),
        ));
    }
    if len > max {
        return Err(payload_error(
            format!("String is too long ({len} chars), maximum {max}"),
            Some(property),
        ));
    }
    Ok(s)
}

/// A boolean.
pub(crate) fn boolean(v: &Value, property: &str) -> Result<bool, ApiError> {
    v.as_bool()
        .ok_or_else(|| type_error("boolean", v, property))
}

/// An integer in `min..=max`.
pub(crate) fn integer_in(v: &Value, property: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    let n = match v {
        Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or_default(),
        Value::Number(n) if n.is_u64() => i64::MAX,
        other => return Err(type_error("integer", other, property)),
    };
    if n < min {
        return Err(payload_error(
            format!("Value {n} is less than minimum {min}"),
            Some(property),
        ));
    }
    if n > max {
        return Err(payload_error(
            format!("Value {n} is greater than maximum {max}"),
            Some(property),
        ));
    }
    Ok(n)
}

/// An array of strings of `min..=max` characters each.
pub(crate) fn string_array(
    v: &Value,
    property: &str,
    min: usize,
    max: usize,
) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = v else {
        return Err(type_error("array", v, property));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string_in(item, &format!("{property}[{i}]"), min, max).map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_helpers_word_errors_like_auth0() {
        let obj = json!({"a": 1, "b": "x"});
        let obj = expect_object(&obj).expect("object");
        let e = reject_unknown(obj, &["a"], None).expect_err("b is unknown");
        assert_eq!(
            e.message,
            "Payload validation error: 'Additional properties not allowed: b'."
        );
        let e = require(obj, &["a", "c"], None).expect_err("c is missing");
        assert_eq!(
            e.message,
            "Payload validation error: 'Missing required property: c'."
        );
        let e = string_in(&json!(""), "name", 1, 3).expect_err("too short");
        assert_eq!(
            e.message,
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property name."
        );
        assert!(string_in(&json!("abcd"), "name", 1, 3).is_err());
        assert_eq!(string_in(&json!("abc"), "name", 1, 3).ok(), Some("abc"));
        let e = integer_in(&json!(3), "n", 0, 2).expect_err("too big");
        assert_eq!(
            e.message,
            "Payload validation error: 'Value 3 is greater than maximum 2' on property n."
        );
        assert!(integer_in(&json!(-1), "n", 0, 2).is_err());
        assert!(integer_in(&json!(1.5), "n", 0, 2).is_err());
        assert!(integer_in(&json!(u64::MAX), "n", 0, 2).is_err());
        assert!(boolean(&json!("true"), "b").is_err());
        let e = string_array(&json!(["a", 2]), "scope", 1, 5).expect_err("not a string");
        assert_eq!(
            e.message,
            "Payload validation error: 'Expected type string but found type integer' on property scope[1]."
        );
        assert!(expect_object(&json!([])).is_err());
    }

    fn create(v: Value) -> Result<(), ApiError> {
        validate_client_body(&v, Mode::Create)
    }

    fn update(v: Value) -> Result<(), ApiError> {
        validate_client_body(&v, Mode::Update)
    }

    fn code(r: Result<(), ApiError>) -> (u16, String, Option<&'static str>) {
        let e = r.expect_err("expected a validation error");
        (e.status.as_u16(), e.message, e.error_code)
    }

    #[test]
    fn minimal_create_is_valid() {
        assert!(create(json!({"name": "My App"})).is_ok());
    }

    #[test]
    fn full_create_is_valid() {
        let body = json!({
            "name": "Shop (prod)",
            "app_type": "regular_web",
            "description": "x".repeat(140),
            "logo_uri": "https://cdn.example.com/logo.png",
            "callbacks": ["https://shop.example.com/callback"],
            "allowed_origins": [],
            "web_origins": ["https://shop.example.com"],
            "allowed_logout_urls": ["https://shop.example.com/"],
            "grant_types": ["authorization_code", "refresh_token"],
            "initiate_login_uri": "https://shop.example.com/login",
            "token_endpoint_auth_method": "client_secret_post",
            "mobile": {
                "ios": {"team_id": "T", "app_bundle_identifier": "com.example"},
                "android": {"app_package_name": "com.example", "sha256_cert_fingerprints": ["AB:CD"]}
            },
            "client_metadata": {"owners": "a@example.com,b@example.com", "manuallyCreated": "false"},
            "jwt_configuration": {"lifetime_in_seconds": 3600, "alg": "RS256"},
            "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0},
            "cross_origin_authentication": true
        });
        assert_eq!(create(body), Ok(()));
    }

    #[test]
    fn name_is_required_on_create_only() {
        let (status, msg, code_) = code(create(json!({"description": "d"})));
        assert_eq!((status, code_), (400, Some("invalid_body")));
        assert!(msg.contains("Missing required property: name"), "{msg}");
        assert!(update(json!({"description": "d"})).is_ok());
    }

    #[test]
    fn unknown_fields_rejected() {
        let (status, msg, c) = code(create(json!({"name": "a", "keystore_hash": "x", "foo": 1})));
        assert_eq!((status, c), (400, Some("invalid_body")));
        assert!(msg.contains("Additional properties not allowed"), "{msg}");
        assert!(
            msg.contains("keystore_hash") && msg.contains("foo"),
            "{msg}"
        );
        // client_id can never be sent, client_secret only in updates.
        assert!(create(json!({"name": "a", "client_id": "x"})).is_err());
        assert!(create(json!({"name": "a", "client_secret": "x"})).is_err());
        assert!(update(json!({"client_secret": "x"})).is_ok());
    }

    #[test]
    fn name_pattern() {
        for bad in ["", "a<b", "a>b", "<script>"] {
            let (_, msg, c) = code(create(json!({ "name": bad })));
            assert_eq!(c, Some("invalid_body"));
            assert!(
                msg.contains("^[^<>]+$") && msg.contains("property name"),
                "{msg}"
            );
        }
        assert!(create(json!({"name": "a & b \"quoted\" / ü"})).is_ok());
        let (_, msg, _) = code(create(json!({"name": 5})));
        assert!(
            msg.contains("Expected type string but found type integer"),
            "{msg}"
        );
    }

    #[test]
    fn description_length_counts_utf16() {
        assert!(create(json!({"name": "a", "description": "é".repeat(140)})).is_ok());
        let (_, msg, _) = code(create(json!({"name": "a", "description": "x".repeat(141)})));
        assert!(
            msg.contains("String is too long (141 chars), maximum 140"),
            "{msg}"
        );
        // One emoji is two UTF-16 code units.
        assert!(create(json!({"name": "a", "description": "😀".repeat(71)})).is_err());
    }

    #[test]
    fn uris() {
        assert!(create(json!({"name": "a", "initiate_login_uri": ""})).is_ok());
        assert!(create(json!({"name": "a", "initiate_login_uri": "HTTPS://x.example/l"})).is_ok());
        for bad in [
            "http://x.example/login",
            "x.example/login",
            "/login",
            "https://",
        ] {
            let (_, msg, c) = code(create(json!({"name": "a", "initiate_login_uri": bad})));
            assert_eq!(c, Some("invalid_body"));
            assert!(msg.contains("initiate_login_uri"), "{msg}");
        }
        assert!(create(json!({"name": "a", "logo_uri": ""})).is_ok());
        assert!(create(json!({"name": "a", "logo_uri": "http://x.example/l.png"})).is_ok());
        for good in [
            "urn:acme:logo",
            "data:image/png;base64,iVBORw0KGgo=",
            "ftp://x/l%20.png",
        ] {
            assert!(
                create(json!({"name": "a", "logo_uri": good})).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "logo.png",
            "/img/logo.png",
            "not a uri",
            "1a:x",
            ":x",
            "https://x.example/%zz",
            "https://x.example/a b",
        ] {
            let (_, msg, _) = code(create(json!({"name": "a", "logo_uri": bad})));
            assert!(msg.contains("logo_uri"), "{msg}");
        }
    }

    #[test]
    fn metadata_rules() {
        let ten: Map<String, Value> = (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(create(json!({"name": "a", "client_metadata": ten})).is_ok());
        let eleven: Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
        let (_, msg, _) = code(create(json!({"name": "a", "client_metadata": eleven})));
        assert!(
            msg.contains("Too many properties defined (11), maximum 10"),
            "{msg}"
        );

        let (_, msg, _) = code(create(
            json!({"name": "a", "client_metadata": {"manuallyCreated": true}}),
        ));
        assert!(
            msg.contains("Expected type string but found type boolean")
                && msg.contains("client_metadata.manuallyCreated"),
            "{msg}"
        );
        assert!(create(json!({"name": "a", "client_metadata": {"k": "v".repeat(255)}})).is_ok());
        assert!(create(json!({"name": "a", "client_metadata": {"k": "v".repeat(256)}})).is_err());
        assert!(create(json!({"name": "a", "client_metadata": {"k".repeat(256): "v"}})).is_err());
        // null deletes a key in updates, but is not a value on create.
        assert!(create(json!({"name": "a", "client_metadata": {"k": null}})).is_err());
        assert!(update(json!({"client_metadata": {"k": null}})).is_ok());
        assert!(create(json!({"name": "a", "client_metadata": []})).is_err());
    }

    #[test]
    fn arrays_and_nested_objects() {
        let (_, msg, _) = code(create(json!({"name": "a", "callbacks": "https://x"})));
        assert!(
            msg.contains("Expected type array but found type string"),
            "{msg}"
        );
        let (_, msg, _) = code(create(json!({"name": "a", "callbacks": ["https://x", 3]})));
        assert!(msg.contains("callbacks[1]"), "{msg}");
        let (_, msg, _) = code(create(
            json!({"name": "a", "mobile": {"android": {"keystore_hash": "x"}}}),
        ));
        assert!(
            msg.contains("mobile.android") && msg.contains("keystore_hash"),
            "{msg}"
        );
        assert!(create(json!({"name": "a", "app_type": "webapp"})).is_err());
        assert!(
            create(json!({"name": "a", "refresh_token": {"rotation_type": "sometimes"}})).is_err()
        );
    }

    #[test]
    fn url_lists_grant_types_login_fragment_and_fingerprints() {
        assert!(
            create(json!({"name": "a", "callbacks": [
                "https://*.example.com/cb", "com.example.app://x/callback", "http://localhost:3000"
            ]}))
            .is_ok()
        );
        for (body, property) in [
            (
                json!({"name": "a", "callbacks": ["*.svc.cluster.local/callback"]}),
                "callbacks[0]",
            ),
            (
                json!({"name": "a", "web_origins": ["https://ok.example", "https://a b"]}),
                "web_origins[1]",
            ),
            (
                json!({"name": "a", "allowed_logout_urls": [""]}),
                "allowed_logout_urls[0]",
            ),
            (
                json!({"name": "a", "allowed_origins": ["https://bücher.example"]}),
                "allowed_origins[0]",
            ),
            (
                json!({"name": "a", "grant_types": ["authorization_code", "magic"]}),
                "grant_types[1]",
            ),
            (
                json!({"name": "a", "initiate_login_uri": "https://x.example/login#f"}),
                "initiate_login_uri",
            ),
            (
                json!({"name": "a", "logo_uri": "https://bücher.example/l.png"}),
                "logo_uri",
            ),
            (
                json!({"name": "a", "mobile": {"android": {"sha256_cert_fingerprints": []}}}),
                "mobile.android.sha256_cert_fingerprints",
            ),
            (
                json!({"name": "a", "mobile": {"android": {"sha256_cert_fingerprints": [""]}}}),
                "mobile.android.sha256_cert_fingerprints[0]",
            ),
        ] {
            let (status, msg, c) = code(create(body.clone()));
            assert_eq!((status, c), (400, Some("invalid_body")), "{body}");
            assert!(
                msg.contains(&format!("on property {property}")),
                "{body}: {msg}"
            );
        }
        // The same rules guard updates.
        assert!(update(json!({"callbacks": ["nope"]})).is_err());
        assert!(update(json!({"grant_types": ["client_credentials"]})).is_ok());
    }

    #[test]
    fn update_rules() {
        assert!(update(json!({})).is_err());
        assert!(update(json!({"refresh_token": null})).is_ok());
        assert!(update(json!({"name": null})).is_err());
        assert!(update(json!({"callbacks": []})).is_ok());
        let (status, msg, _) = code(update(json!([1, 2])));
        assert_eq!(status, 400);
        assert!(
            msg.contains("Expected type object but found type array"),
            "{msg}"
        );
    }
}
