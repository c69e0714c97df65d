//! Pure validation of an `AuthClient` spec against the Nexus contract, Auth0's own rules and
//! the tenant's URL policy. Nothing invalid is ever sent to Auth0.

use std::fmt;

use crate::{NexusClient, UrlPolicy};

/// One problem with one field; `path` is relative to `spec.client` (e.g. `callbacks[1]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, e.g. `name`, `client_metadata.owners`, `callbacks[0]`.
    pub path: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

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
/// Longest `client_metadata` value Auth0 accepts.
pub const MAX_METADATA_VALUE: usize = 255;

/// Checks `client` against the contract and Auth0's rules. Empty result = valid.
pub fn validate_client(client: &NexusClient) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut fail = |path: &str, message: String| {
        errors.push(FieldError {
            path: path.to_owned(),
            message,
        })
    };

    if client.name.trim().is_empty() {
        fail("name", "is required and must not be empty".into());
    } else if client.name.contains(['<', '>']) {
        fail("name", "must not contain '<' or '>'".into());
    }
    if client.app_type.trim().is_empty() {
        fail("app_type", "is required and must not be empty".into());
    } else if !APP_TYPES.contains(&client.app_type.as_str()) {
        fail(
            "app_type",
            format!(
                "'{}' is not an Auth0 application type; use one of regular_web, spa, native, non_interactive (or another Auth0 type)",
                client.app_type
            ),
        );
    }
    if let Some(id) = &client.id
        && (id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        fail(
            "id",
            "must be an Auth0 client id (letters, digits, '_' and '-')".into(),
        );
    }
    if let Some(description) = &client.description
        && description.chars().count() > MAX_DESCRIPTION
    {
        fail(
            "description",
            format!(
                "must be at most {MAX_DESCRIPTION} characters (has {})",
                description.chars().count()
            ),
        );
    }
    if let Some(logo) = client.logo_uri.as_deref().filter(|s| !s.is_empty())
        && !is_absolute_uri(logo)
    {
        fail(
            "logo_uri",
            "must be an absolute URI (e.g. https://example.com/logo.png) or empty".into(),
        );
    }
    if let Some(uri) = client
        .initiate_login_uri
        .as_deref()
        .filter(|s| !s.is_empty())
        && !(uri.starts_with("https://") && uri.len() > "https://".len())
    {
        fail(
            "initiate_login_uri",
            "must be an https:// URL or empty".into(),
        );
    }
    for (field, list) in [
        ("callbacks", &client.callbacks),
        ("allowed_origins", &client.allowed_origins),
        ("web_origins", &client.web_origins),
        ("allowed_logout_urls", &client.allowed_logout_urls),
        ("grant_types", &client.grant_types),
    ] {
        for (index, value) in list.iter().flatten().enumerate() {
            if value.trim().is_empty() {
                fail(&format!("{field}[{index}]"), "must not be empty".into());
            } else if value.chars().any(char::is_whitespace) {
                fail(
                    &format!("{field}[{index}]"),
                    "must not contain white space".into(),
                );
            }
        }
    }
    if let Some(metadata) = &client.client_metadata {
        for (key, value) in [
            ("owners", &metadata.owners),
            ("productName", &metadata.product_name),
            ("client_upn_key", &metadata.client_upn_key),
            ("applicationName", &metadata.application_name),
        ] {
            if let Some(value) = value
                && value.chars().count() > MAX_METADATA_VALUE
            {
                fail(
                    &format!("client_metadata.{key}"),
                    format!(
                        "must be at most {MAX_METADATA_VALUE} characters (Auth0 metadata limit)"
                    ),
                );
            }
        }
    }
    if let Some(android) = client.mobile.as_ref().and_then(|m| m.android.as_ref())
        && let Some(hash) = &android.keystore_hash
        && hash.trim().is_empty()
    {
        fail(
            "mobile.android.keystore_hash",
            "must not be empty when given".into(),
        );
    }
    errors
}

/// Checks the client's URLs against the tenant's URL policy. Empty result = allowed.
pub fn validate_url_policy(client: &NexusClient, policy: &UrlPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, values: &[String], patterns: &[String]| {
        if patterns.is_empty() {
            return;
        }
        for (index, value) in values.iter().enumerate() {
            if !patterns.iter().any(|p| url_matches(p, value)) {
                errors.push(FieldError {
                    path: format!("{field}[{index}]"),
                    message: format!(
                        "'{value}' is not allowed by the tenant's URL policy (allowed: {})",
                        patterns.join(", ")
                    ),
                });
            }
        }
    };
    check(
        "callbacks",
        client.callbacks.as_deref().unwrap_or_default(),
        &policy.callbacks,
    );
    if let Some(uri) = client.initiate_login_uri.as_ref().filter(|u| !u.is_empty()) {
        check(
            "initiate_login_uri",
            std::slice::from_ref(uri),
            &policy.callbacks,
        );
    }
    check(
        "allowed_origins",
        client.allowed_origins.as_deref().unwrap_or_default(),
        &policy.origins,
    );
    check(
        "web_origins",
        client.web_origins.as_deref().unwrap_or_default(),
        &policy.origins,
    );
    check(
        "allowed_logout_urls",
        client.allowed_logout_urls.as_deref().unwrap_or_default(),
        &policy.logout_urls,
    );
    errors
}

/// Glob match: `**` matches anything, `*` matches any run without `/`, everything else is
/// literal (case-sensitive).
pub fn url_matches(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match p {
            [] => v.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=v.len()).any(|i| go(rest, &v[i..])),
            [b'*', rest @ ..] => {
                let stop = v.iter().position(|&c| c == b'/').unwrap_or(v.len());
                (0..=stop).any(|i| go(rest, &v[i..]))
            }
            [c, rest @ ..] => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

fn is_absolute_uri(value: &str) -> bool {
    match value.split_once("://") {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !rest.is_empty()
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// One message listing every error, for a condition or an event.
pub fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("spec.client.{e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMetadata, Mobile, MobileAndroid};

    fn valid() -> NexusClient {
        NexusClient {
            name: "Orders".into(),
            app_type: "regular_web".into(),
            ..Default::default()
        }
    }

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn minimal_client_is_valid() {
        assert!(validate_client(&valid()).is_empty());
    }

    #[test]
    fn required_fields_and_auth0_rules() {
        let client = NexusClient {
            name: "<b>".into(),
            app_type: "".into(),
            description: Some("x".repeat(141)),
            logo_uri: Some("logo.png".into()),
            initiate_login_uri: Some("http://example.com/login".into()),
            callbacks: Some(vec![
                "https://ok.example.com/cb".into(),
                "".into(),
                "https://a b".into(),
            ]),
            client_metadata: Some(ClientMetadata {
                owners: Some("o".repeat(256)),
                ..Default::default()
            }),
            mobile: Some(Mobile {
                android: Some(MobileAndroid {
                    keystore_hash: Some(" ".into()),
                    app_package_name: None,
                }),
                ios: None,
            }),
            ..Default::default()
        };
        let errors = validate_client(&client);
        assert_eq!(
            paths(&errors),
            vec![
                "name",
                "app_type",
                "description",
                "logo_uri",
                "initiate_login_uri",
                "callbacks[1]",
                "callbacks[2]",
                "client_metadata.owners",
                "mobile.android.keystore_hash"
            ]
        );
        assert!(summarize(&errors).contains("spec.client.description: must be at most 140"));
    }

    #[test]
    fn unknown_app_type_is_named() {
        let client = NexusClient {
            app_type: "webapp".into(),
            ..valid()
        };
        let errors = validate_client(&client);
        assert_eq!(paths(&errors), vec!["app_type"]);
        assert!(errors[0].message.contains("'webapp'"));
    }

    #[test]
    fn url_globs() {
        assert!(url_matches(
            "https://*.acme.com/**",
            "https://app.acme.com/cb/x"
        ));
        assert!(!url_matches(
            "https://*.acme.com/**",
            "https://evil.com/.acme.com/x"
        ));
        assert!(url_matches(
            "https://app.acme.com/*",
            "https://app.acme.com/cb"
        ));
        assert!(!url_matches(
            "https://app.acme.com/*",
            "https://app.acme.com/cb/deeper"
        ));
        assert!(url_matches("http://localhost:*", "http://localhost:3000"));
        assert!(!url_matches("https://acme.com", "https://acme.com.evil.io"));
    }

    #[test]
    fn url_policy_applies_per_field() {
        let client = NexusClient {
            callbacks: Some(vec![
                "https://app.acme.com/cb".into(),
                "https://evil.io/cb".into(),
            ]),
            web_origins: Some(vec!["https://app.acme.com".into()]),
            allowed_logout_urls: Some(vec!["https://anything.io".into()]),
            ..valid()
        };
        let policy = UrlPolicy {
            callbacks: vec!["https://*.acme.com/**".into()],
            origins: vec!["https://*.acme.com".into()],
            logout_urls: vec![],
        };
        let errors = validate_url_policy(&client, &policy);
        assert_eq!(paths(&errors), vec!["callbacks[1]"]);
        assert!(errors[0].message.contains("https://evil.io/cb"));
    }
}
