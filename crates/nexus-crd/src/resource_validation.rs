//! Validation of what issue 13 added: the `AuthResourceServer` spec, and an `AuthClient`'s
//! `settings`, `grants` and `connections`. Same conventions as [`crate::validation`]: a value is
//! refused only with evidence that Auth0 (or the Kubernetes API server) refuses it, and field paths
//! relative to `spec` (e.g. `scopes[1].value`, `settings.refreshToken.leewaySeconds`).
//! [`summarize_under`](crate::validation::summarize_under) with `"spec."` turns them into one
//! message.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::printable::is_yaml_printable;
use crate::validation::{FieldError, is_forbidden_char, patterns, shown, utf16_len};
use crate::{
    AuthResourceServerSpec, ClientGrantSpec, ClientSettings, ExpirationType, NexusClient,
    RotationType, SecretSpec, TokenEndpointAuthMethod,
};

/// Longest API identifier Auth0 accepts.
pub const MAX_IDENTIFIER: usize = 600;
/// Longest scope value Auth0 accepts.
pub const MAX_SCOPE_VALUE: usize = 280;
/// Longest scope description Auth0 accepts, in UTF-16 code units.
pub const MAX_SCOPE_DESCRIPTION: usize = 500;
/// Longest API name Auth0 accepts, in UTF-16 code units.
pub const MAX_API_NAME: usize = 200;
/// Longest access-token lifetime of an API (30 days: Auth0's reference, "maximum value of
/// 2592000 seconds", and its dashboard documentation).
pub const MAX_TOKEN_LIFETIME: u32 = 2_592_000;
/// Auth0's default access-token lifetime of an API (and the bound of the browser-flow
/// lifetime when none is set).
pub const DEFAULT_TOKEN_LIFETIME: u32 = 86_400;
/// Longest refresh-token lifetime Auth0 accepts (five years).
pub const MAX_REFRESH_TOKEN_LIFETIME: u32 = 157_788_000;
/// Longest rotation leeway.
pub const MAX_REFRESH_TOKEN_LEEWAY: u32 = 60;
/// Longest connection name Auth0 accepts (its `ConnectionName` schema: `maxLength: 128`, pattern
/// `^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$`).
pub const MAX_CONNECTION_NAME: usize = 128;

static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| compiled(patterns::IDENTIFIER));
static SCOPE: LazyLock<Regex> = LazyLock::new(|| compiled(patterns::SCOPE));
static CONNECTION_NAME: LazyLock<Regex> = LazyLock::new(|| compiled(patterns::CONNECTION_NAME));

fn compiled(pattern: &str) -> Regex {
    // The patterns are constants covered by the tests of this module.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern:?}: {e}"))
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn identifier(&mut self, path: &str, value: &str) {
        if value.is_empty() {
            self.fail(path, "is required and must not be empty");
        } else if value.len() > MAX_IDENTIFIER {
            self.fail(
                path,
                format!(
                    "must be at most {MAX_IDENTIFIER} characters (has {})",
                    value.chars().count()
                ),
            );
        } else if !IDENTIFIER.is_match(value) {
            self.fail(path, "must not contain white space or control characters");
        }
    }

    fn scope(&mut self, path: &str, value: &str) {
        if value.is_empty() {
            self.fail(path, "must not be empty");
        } else if value.chars().count() > MAX_SCOPE_VALUE {
            self.fail(
                path,
                format!("must be at most {MAX_SCOPE_VALUE} characters"),
            );
        } else if !SCOPE.is_match(value) {
            self.fail(
                path,
                format!(
                    "'{}' must not contain white space or control characters (scopes are space separated in tokens)",
                    shown(value)
                ),
            );
        }
    }
}

/// The audience of the Management API of a tenant with `domain`: `https://{domain}/api/v2/`.
pub fn management_audience(domain: &str) -> String {
    format!("https://{domain}/api/v2/")
}

/// Checks an `AuthResourceServer` spec. `management_audience` is the identifier of the
/// tenant's Management API, which no AuthResourceServer may claim.
pub fn validate_resource_server(
    spec: &AuthResourceServerSpec,
    management_audience: &str,
) -> Vec<FieldError> {
    let mut errors = Errors::default();
    errors.identifier("identifier", &spec.identifier);
    if spec.identifier.trim_end_matches('/') == management_audience.trim_end_matches('/') {
        errors.fail(
            "identifier",
            format!(
                "'{}' is the tenant's Management API, a system API of Auth0 that cannot be managed; grant it through the AuthTenant's spec.grantableAudiences instead",
                shown(&spec.identifier)
            ),
        );
    }
    // Optional (Auth0 creates an API without a name: TestAccResourceServer#0); empty = unset.
    if !spec.name.is_empty() {
        if spec.name.contains(['<', '>']) {
            errors.fail("name", "must not contain '<' or '>'");
        }
        if spec.name.chars().any(is_forbidden_char) {
            errors.fail("name", NO_CONTROL);
        }
        let len = utf16_len(&spec.name);
        if len > MAX_API_NAME {
            errors.fail(
                "name",
                format!("must be at most {MAX_API_NAME} UTF-16 code units (has {len})"),
            );
        }
    }
    // Scope values are the keys of the list (`x-kubernetes-list-map-keys: [value]`): the API
    // server refuses a duplicate (`Duplicate value`) before the operator sees it, so this
    // check only mirrors a Kubernetes rule (for objects from elsewhere, such as tests).
    let mut seen = BTreeSet::new();
    for (index, scope) in spec.scopes.iter().enumerate() {
        let path = format!("scopes[{index}].value");
        errors.scope(&path, &scope.value);
        if !seen.insert(scope.value.as_str()) {
            errors.fail(&path, format!("'{}' is listed twice", shown(&scope.value)));
        }
        if let Some(description) = &scope.description {
            let path = format!("scopes[{index}].description");
            if description.chars().any(is_forbidden_char) {
                errors.fail(&path, NO_CONTROL);
            }
            let len = utf16_len(description);
            if len > MAX_SCOPE_DESCRIPTION {
                errors.fail(
                    &path,
                    format!(
                        "must be at most {MAX_SCOPE_DESCRIPTION} UTF-16 code units (has {len})"
                    ),
                );
            }
        }
    }
    if let Some(lifetime) = spec.token_lifetime_seconds
        && lifetime > MAX_TOKEN_LIFETIME
    {
        errors.fail(
            "tokenLifetimeSeconds",
            format!(
                "must be at most {MAX_TOKEN_LIFETIME} (30 days, Auth0's maximum); is {lifetime}"
            ),
        );
    }
    if let Some(web) = spec.token_lifetime_for_web_seconds {
        // Auth0: "token_lifetime_for_web cannot be larger than token_lifetime" (its reference);
        // no other upper bound is documented or recorded, so none is imposed.
        let bound = spec
            .token_lifetime_seconds
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        if web == 0 || web > bound {
            errors.fail(
                "tokenLifetimeForWebSeconds",
                format!(
                    "must be between 1 and {bound} (at most tokenLifetimeSeconds, 86400 when unset); is {web}"
                ),
            );
        }
    }
    errors.0
}

const NO_CONTROL: &str = "must not contain control characters, U+2028, U+2029, U+FFFE or U+FFFF";

/// What Auth0 accepts in an `AuthResourceServer` spec but is most likely a mistake: a `name` of
/// white space only, a `tokenLifetimeSeconds` of 0 (Auth0's schema allows it; every token
/// would be expired when issued). Not a refusal: the controller publishes these as a `Warning`
/// event (reason `SpecWarning`) and the API is created. Paths are relative to `spec`.
pub fn resource_server_warnings(spec: &AuthResourceServerSpec) -> Vec<FieldError> {
    let mut warnings = Vec::new();
    if !spec.name.is_empty() && spec.name.trim().is_empty() {
        warnings.push(FieldError {
            path: "name".into(),
            message: "is only white space: Auth0 accepts it, but the API shows without a name in the dashboard".into(),
        });
    }
    if spec.token_lifetime_seconds == Some(0) {
        warnings.push(FieldError {
            path: "tokenLifetimeSeconds".into(),
            message: "is 0: Auth0 accepts it, but the access tokens it issues for this API are expired when issued".into(),
        });
    }
    warnings
}

/// Checks `spec.settings`.
pub fn validate_settings(settings: &ClientSettings) -> Vec<FieldError> {
    let mut errors = Errors::default();
    // `idTokenLifetimeSeconds` has no bound: Auth0's schema gives `lifetime_in_seconds` none
    // (the 30-day figure is the dashboard's), and Auth0 was recorded accepting 1
    // (TestAccClientJWTConfiguration).
    let Some(refresh) = &settings.refresh_token else {
        return errors.0;
    };
    let path = |field: &str| format!("settings.refreshToken.{field}");
    if refresh.rotation_type == RotationType::Rotating
        && refresh.expiration_type == ExpirationType::NonExpiring
    {
        errors.fail(
            path("rotationType"),
            "rotating refresh tokens must expire: set expirationType: expiring, or rotationType: non-rotating",
        );
    }
    if let Some(leeway) = refresh.leeway_seconds
        && leeway > MAX_REFRESH_TOKEN_LEEWAY
    {
        errors.fail(
            path("leewaySeconds"),
            format!("must be between 0 and {MAX_REFRESH_TOKEN_LEEWAY}; is {leeway}"),
        );
    }
    for (field, value) in [
        ("tokenLifetimeSeconds", refresh.token_lifetime_seconds),
        (
            "idleTokenLifetimeSeconds",
            refresh.idle_token_lifetime_seconds,
        ),
    ] {
        if let Some(value) = value
            && !(1..=MAX_REFRESH_TOKEN_LIFETIME).contains(&value)
        {
            errors.fail(
                path(field),
                format!(
                    "must be between 1 and {MAX_REFRESH_TOKEN_LIFETIME} (five years); is {value}"
                ),
            );
        }
    }
    if let (Some(idle), Some(absolute)) = (
        refresh.idle_token_lifetime_seconds,
        refresh.token_lifetime_seconds,
    ) && idle > absolute
        && refresh.infinite_token_lifetime != Some(true)
    {
        errors.fail(
            path("idleTokenLifetimeSeconds"),
            format!("must not exceed tokenLifetimeSeconds ({absolute}); is {idle}"),
        );
    }
    // Lifetimes with `expirationType: non-expiring` are not refused: Auth0 answered 201 to
    // `{"expiration_type": "non-expiring", "token_lifetime": 256000, "idle_token_lifetime":
    // 128000, ...}` (recorded: TestAccClientRefreshToken#5) and keeps them.
    errors.0
}

/// Checks `spec.grants` (and what grants need of the rest of the spec: a client that can
/// authenticate with its secret and may use the client-credentials grant).
pub fn validate_grants(
    grants: &[ClientGrantSpec],
    client: &NexusClient,
    settings: Option<&ClientSettings>,
) -> Vec<FieldError> {
    let mut errors = Errors::default();
    // No count limit: Auth0 documents none for the grants of a client. Audiences and scopes
    // are unique because the API server makes them so (`grants` is a list-map keyed by
    // `audience`, `scopes` a set); these checks mirror it for objects from elsewhere.
    let mut audiences = BTreeSet::new();
    for (index, grant) in grants.iter().enumerate() {
        let path = format!("grants[{index}].audience");
        errors.identifier(&path, &grant.audience);
        if !audiences.insert(grant.audience.as_str()) {
            errors.fail(
                &path,
                format!(
                    "'{}' is listed twice; list each audience once with all its scopes",
                    shown(&grant.audience)
                ),
            );
        }
        let mut scopes = BTreeSet::new();
        for (s, scope) in grant.scopes.iter().enumerate() {
            let path = format!("grants[{index}].scopes[{s}]");
            errors.scope(&path, scope);
            if !scopes.insert(scope.as_str()) {
                errors.fail(&path, format!("'{}' is listed twice", shown(scope)));
            }
        }
    }
    if grants.is_empty() {
        return errors.0;
    }
    if let Some(types) = &client.grant_types
        && !types.iter().any(|t| t == "client_credentials")
    {
        errors.fail(
            "client.grant_types",
            "must contain client_credentials: spec.grants authorise the client-credentials grant",
        );
    }
    if settings.and_then(|s| s.token_endpoint_auth_method) == Some(TokenEndpointAuthMethod::None) {
        errors.fail(
            "settings.tokenEndpointAuthMethod",
            "must not be none for a client with spec.grants: the client-credentials grant authenticates with the client secret",
        );
    }
    errors.0
}

/// Checks `spec.connections`.
pub fn validate_connections(connections: &[String]) -> Vec<FieldError> {
    let mut errors = Errors::default();
    // No count limit (Auth0 documents none); names are unique because `connections` is a
    // set for the API server.
    let mut seen = BTreeSet::new();
    for (index, name) in connections.iter().enumerate() {
        let path = format!("connections[{index}]");
        if name.len() > MAX_CONNECTION_NAME || !CONNECTION_NAME.is_match(name) {
            errors.fail(
                &path,
                format!(
                    "'{}' is not a connection name (1 to {MAX_CONNECTION_NAME} letters, digits and single '-' between them)",
                    shown(name)
                ),
            );
        } else if !seen.insert(name.as_str()) {
            errors.fail(&path, format!("'{name}' is listed twice"));
        }
    }
    errors.0
}

/// Checks `spec.secret`'s extra labels and annotations: the operator copies them into the
/// Secret it applies, and the Kubernetes API server refuses a server-side apply body that holds a
/// character outside YAML's printable set (`yaml: control characters are not allowed`). Refusing
/// them here names the field instead of failing every Secret write.
pub fn validate_secret_metadata(secret: &SecretSpec) -> Vec<FieldError> {
    let mut errors = Errors::default();
    for (what, map) in [
        ("labels", &secret.labels),
        ("annotations", &secret.annotations),
    ] {
        for (key, value) in map {
            let path = format!("secret.{what}[{}]", shown(key));
            if !key.chars().chain(value.chars()).all(is_yaml_printable) {
                errors.fail(
                    path,
                    "holds a character the Kubernetes API server refuses (control characters, U+FFFE or U+FFFF)",
                );
            }
        }
    }
    errors.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::summarize_under;
    use crate::{RefreshTokenSettings, ResourceServerScope};

    fn api() -> AuthResourceServerSpec {
        serde_json::from_value(serde_json::json!({
            "tenant": "acme",
            "identifier": "https://orders.acme.com/api",
            "name": "Orders API",
            "scopes": [{"value": "read:orders", "description": "Read orders"}, {"value": "write:orders"}],
        }))
        .expect("spec")
    }

    const MGMT: &str = "https://acme.eu.auth0.com/api/v2/";

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn a_valid_api_passes_and_defaults_are_auth0s() {
        let spec = api();
        assert_eq!(validate_resource_server(&spec, MGMT), vec![]);
        assert_eq!(spec.signing_alg.as_str(), "RS256");
        assert!(
            spec.grants.allowed_namespaces.names.is_empty(),
            "deny by default"
        );
    }

    #[test]
    fn api_rules() {
        let mut spec = api();
        spec.identifier = "https://acme.eu.auth0.com/api/v2".into();
        spec.name = "<Orders>".into();
        spec.scopes.push(ResourceServerScope {
            value: "read orders".into(),
            description: Some("x".repeat(501)),
        });
        spec.scopes.push(ResourceServerScope {
            value: "read:orders".into(),
            description: None,
        });
        spec.token_lifetime_seconds = Some(3600);
        spec.token_lifetime_for_web_seconds = Some(7200);
        let errors = validate_resource_server(&spec, MGMT);
        assert_eq!(
            paths(&errors),
            vec![
                "identifier",
                "name",
                "scopes[2].value",
                "scopes[2].description",
                "scopes[3].value",
                "tokenLifetimeForWebSeconds"
            ],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("Management API"), "{errors:?}");
        let mut long = api();
        long.token_lifetime_seconds = Some(604_800);
        long.token_lifetime_for_web_seconds = Some(172_800);
        assert!(
            validate_resource_server(&long, MGMT).is_empty(),
            "no 86400 cap on browser-flow tokens: Auth0 bounds them by token_lifetime only"
        );
        assert!(errors[4].message.contains("listed twice"));
        let summary = summarize_under("spec.", &errors);
        assert!(summary.starts_with("spec.identifier: "), "{summary}");

        let mut long = api();
        long.identifier = format!("https://{}", "a".repeat(600));
        long.token_lifetime_seconds = Some(MAX_TOKEN_LIFETIME + 1);
        assert_eq!(
            paths(&validate_resource_server(&long, MGMT)),
            vec!["identifier", "tokenLifetimeSeconds"]
        );
        long.identifier = "urn:orders\tapi".into();
        long.token_lifetime_seconds = None;
        assert_eq!(
            paths(&validate_resource_server(&long, MGMT)),
            vec!["identifier"]
        );
    }

    /// The values Auth0 accepts without evidence of a refusal pass (issue 18): no name (Auth0
    /// created an API without one, TestAccResourceServer#0), a name of white space only (its
    /// pattern allows it), a token lifetime of 0 (its schema's minimum); the likely mistakes
    /// among them are warnings, not errors.
    #[test]
    fn what_auth0_accepts_passes_and_the_likely_mistakes_are_warnings() {
        let mut spec = api();
        spec.name = String::new();
        assert_eq!(validate_resource_server(&spec, MGMT), vec![]);
        assert_eq!(resource_server_warnings(&spec), vec![]);
        spec.name = "   ".into();
        spec.token_lifetime_seconds = Some(0);
        assert_eq!(validate_resource_server(&spec, MGMT), vec![]);
        assert_eq!(
            paths(&resource_server_warnings(&spec)),
            vec!["name", "tokenLifetimeSeconds"]
        );
        assert_eq!(resource_server_warnings(&api()), vec![]);
        // A name Auth0 refuses ('<', more than 200 units) is still refused when set.
        spec.name = "a".repeat(MAX_API_NAME + 1);
        assert_eq!(paths(&validate_resource_server(&spec, MGMT)), vec!["name"]);
    }

    /// Auth0 documents no limit on a client's grants or connections: 150 of each pass.
    #[test]
    fn grants_and_connections_have_no_count_limit() {
        let client = NexusClient {
            name: "Worker".into(),
            app_type: "non_interactive".into(),
            ..Default::default()
        };
        let grants: Vec<ClientGrantSpec> = (0..150)
            .map(|i| ClientGrantSpec {
                audience: format!("https://api-{i}.example.com/"),
                scopes: (0..1500).map(|s| format!("scope:{s}")).collect(),
            })
            .collect();
        assert_eq!(validate_grants(&grants, &client, None), vec![]);
        let connections: Vec<String> = (0..150).map(|i| format!("db-{i}")).collect();
        assert_eq!(validate_connections(&connections), vec![]);
    }

    #[test]
    fn patterns_agree_with_the_rules() {
        let identifier = Regex::new(patterns::IDENTIFIER).unwrap();
        let mut buffer = [0u8; 4];
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let s: &str = c.encode_utf8(&mut buffer);
            let ok = !is_forbidden_char(c) && !c.is_whitespace();
            assert_eq!(identifier.is_match(s), ok, "IDENTIFIER {c:?}");
        }
        assert_eq!(patterns::IDENTIFIER, patterns::SCOPE);
        let connection = Regex::new(patterns::CONNECTION_NAME).unwrap();
        for (name, ok) in [
            ("Username-Password-Authentication", true),
            ("google-oauth2", true),
            ("a", true),
            ("-a", false),
            ("a-", false),
            ("a--b", false),
            ("a_b", false),
            ("", false),
        ] {
            assert_eq!(connection.is_match(name), ok, "{name}");
            assert_eq!(
                validate_connections(&[name.to_owned()]).is_empty(),
                ok,
                "{name}"
            );
        }
    }

    #[test]
    fn settings_rules() {
        let mut settings = ClientSettings {
            // No bound without evidence: the 30-day figure is the dashboard's only.
            id_token_lifetime_seconds: Some(u32::MAX),
            refresh_token: Some(RefreshTokenSettings {
                rotation_type: RotationType::Rotating,
                expiration_type: ExpirationType::NonExpiring,
                leeway_seconds: Some(61),
                token_lifetime_seconds: Some(100),
                idle_token_lifetime_seconds: Some(200),
                ..Default::default()
            }),
            ..Default::default()
        };
        let errors = validate_settings(&settings);
        assert_eq!(
            paths(&errors),
            vec![
                "settings.refreshToken.rotationType",
                "settings.refreshToken.leewaySeconds",
                "settings.refreshToken.idleTokenLifetimeSeconds",
            ],
            "{errors:?}"
        );
        // Auth0 accepts lifetimes with non-expiring tokens (recorded:
        // TestAccClientRefreshToken#5): not refused.
        let recorded = ClientSettings {
            refresh_token: Some(RefreshTokenSettings {
                rotation_type: RotationType::NonRotating,
                expiration_type: ExpirationType::NonExpiring,
                leeway_seconds: Some(60),
                token_lifetime_seconds: Some(256_000),
                infinite_token_lifetime: Some(true),
                idle_token_lifetime_seconds: Some(128_000),
                infinite_idle_token_lifetime: Some(true),
            }),
            ..Default::default()
        };
        assert_eq!(validate_settings(&recorded), vec![]);
        settings.id_token_lifetime_seconds = Some(0);
        settings.refresh_token = Some(RefreshTokenSettings {
            rotation_type: RotationType::Rotating,
            expiration_type: ExpirationType::Expiring,
            leeway_seconds: Some(0),
            token_lifetime_seconds: Some(2_592_000),
            idle_token_lifetime_seconds: Some(1_296_000),
            ..Default::default()
        });
        assert_eq!(validate_settings(&settings), vec![]);
    }

    #[test]
    fn grant_rules() {
        let client = NexusClient {
            name: "Worker".into(),
            app_type: "non_interactive".into(),
            ..Default::default()
        };
        let grant = |audience: &str, scopes: &[&str]| ClientGrantSpec {
            audience: audience.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(
            validate_grants(
                &[grant("https://orders/api", &["read:orders"])],
                &client,
                None
            ),
            vec![]
        );
        let errors = validate_grants(
            &[
                grant("https://orders/api", &["read:orders", "read:orders", "a b"]),
                grant("https://orders/api", &[]),
                grant("", &[]),
            ],
            &client,
            None,
        );
        assert_eq!(
            paths(&errors),
            vec![
                "grants[0].scopes[1]",
                "grants[0].scopes[2]",
                "grants[1].audience",
                "grants[2].audience"
            ],
            "{errors:?}"
        );
        let mut interactive = client.clone();
        interactive.grant_types = Some(vec!["authorization_code".into()]);
        let public = ClientSettings {
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            ..Default::default()
        };
        let errors = validate_grants(&[grant("https://a", &[])], &interactive, Some(&public));
        assert_eq!(
            paths(&errors),
            vec!["client.grant_types", "settings.tokenEndpointAuthMethod"]
        );
        assert!(
            validate_grants(&[], &interactive, Some(&public)).is_empty(),
            "without grants nothing is required"
        );
    }

    #[test]
    fn connection_names_are_unique() {
        let errors = validate_connections(&["github".into(), "github".into()]);
        assert_eq!(paths(&errors), vec!["connections[1]"]);
    }

    #[test]
    fn secret_metadata_must_be_printable_for_the_api_server() {
        let mut secret = SecretSpec::default();
        secret.labels.insert("team".into(), "a".into());
        secret
            .annotations
            .insert("note".into(), "caf\u{e9} \u{1f600}\ttab".into());
        assert!(validate_secret_metadata(&secret).is_empty());
        secret
            .annotations
            .insert("evil".into(), "a\u{fffe}b".into());
        secret.labels.insert("k\u{1b}".into(), "v".into());
        let errors = validate_secret_metadata(&secret);
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["secret.labels[k\\u{1b}]", "secret.annotations[evil]"],
            "{errors:?}"
        );
        assert!(
            errors.iter().all(|e| !e.message.contains('\u{fffe}')),
            "the message never carries the character it complains about"
        );
    }
}
