//! The one validation of a Nexus client spec: used by the controller (an invalid `AuthClient`
//! becomes `Ready=False InvalidSpec`), by the HTTP facade (400 before anything is created), and,
//! where a schema can express a rule, by the CRD schema and the facade's `/openapi.json` (both
//! built from the [`patterns`] and limits of this module).
//!
//! A value is refused only with evidence that Auth0 refuses it (docs/auth0-api.md, "Validation
//! rules and their evidence", names it per rule) or that the Kubernetes API server does:
//! - Auth0's own rules: `name` required, without `<`/`>`; `description` at most 140 and metadata
//!   values at most 255 characters *counted in UTF-16 code units* as Auth0 counts them;
//!   `logo_uri` an absolute URI; https login URIs without fragment; at most 100 web origins
//!   and 100 logout URLs; colon-separated hexadecimal pairs as Android fingerprints; known
//!   application and grant types;
//! - the Kubernetes API server's: no text may contain control characters (C0, DEL, C1), the line
//!   and paragraph separators U+2028/U+2029 or the non-characters U+FFFE/U+FFFF (YAML, which it
//!   speaks for server-side apply, refuses or rewrites them);
//! - URLs are ASCII (RFC 3986 defines URIs over ASCII): an internationalised host must be sent
//!   in its `xn--` form.
//!
//! What Auth0 accepts but is most likely a mistake (a name of white space only) is not refused:
//! [`client_warnings`] names it, and the controller publishes it as a `Warning` event.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

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

/// Grant types Auth0 accepts in `grant_types` (its specification-conforming and extension
/// grants; the legacy grants are refused for tenants created today).
pub const GRANT_TYPES: &[&str] = &[
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

/// Longest `description` Auth0 accepts, in UTF-16 code units.
pub const MAX_DESCRIPTION: usize = 140;
/// Longest `client_metadata` value Auth0 accepts, in UTF-16 code units.
pub const MAX_METADATA_VALUE: usize = 255;
/// Most entries of `web_origins` and of `allowed_logout_urls`: Auth0 documents "You can provide
/// up to 100 URLs" for both fields
/// (<https://auth0.com/docs/get-started/applications/application-settings>). `callbacks`,
/// `allowed_origins` and `grant_types` have no documented limit and none is imposed.
pub const MAX_LIST_ITEMS: usize = 100;
/// Longest `id` (an Auth0 client id has 32 characters).
pub const MAX_ID: usize = 128;
/// Most errors [`summarize`] spells out; the rest are counted.
pub const MAX_SUMMARIZED_ERRORS: usize = 50;

/// Regular expressions of the rules a schema can express, in the dialect Go RE2 (the API
/// server's CRD validation) and Rust `regex` share: `\xHH` and `\x{HHHH}` escapes, classes,
/// `(?:…)`, counted repetitions and `^…$` anchors. The pattern text is printable ASCII: every
/// non-ASCII character is written `\x{HHHH}`, so a CRD carries no character that YAML (which the
/// API server decodes server-side apply bodies and builds its OpenAPI documents with) refuses or
/// rewrites. [`patterns::ecma`] gives the same pattern for ECMA-262 and Python `re` (the facade's
/// `/openapi.json`). Each class is tested against the predicate the code uses, for every Unicode
/// scalar value.
pub mod patterns {
    macro_rules! text_char {
        () => {
            "[^\\x00-\\x1f\\x7f-\\x9f\\x{2028}\\x{2029}\\x{FFFE}\\x{FFFF}]"
        };
    }
    macro_rules! text_char_bmp {
        () => {
            "[\\x20-\\x7e\\xa0-\\x{2027}\\x{202A}-\\x{D7FF}\\x{E000}-\\x{FFFD}]"
        };
    }
    macro_rules! name_char {
        () => {
            "[^<>\\x00-\\x1f\\x7f-\\x9f\\x{2028}\\x{2029}\\x{FFFE}\\x{FFFF}]"
        };
    }
    macro_rules! name_char_bmp {
        () => {
            "[\\x20-\\x3b\\x3d\\x3f-\\x7e\\xa0-\\x{2027}\\x{202A}-\\x{D7FF}\\x{E000}-\\x{FFFD}]"
        };
    }
    macro_rules! solid {
        () => {
            "[^\\x00-\\x20\\x7f-\\xa0\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FFFE}\\x{FFFF}]"
        };
    }
    macro_rules! host {
        () => {
            "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
        };
    }
    macro_rules! port {
        () => {
            "(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
        };
    }
    macro_rules! pchar {
        () => {
            "(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~!$&'()*+,;=:@-])"
        };
    }
    macro_rules! path_query {
        () => {
            concat!(
                "(?:/(?:",
                pchar!(),
                "|/)*)?(?:\\?(?:",
                pchar!(),
                "|[/?])*)?"
            )
        };
    }

    /// Free text: any characters except control characters (C0, DEL, C1), U+2028, U+2029,
    /// U+FFFE and U+FFFF.
    pub const TEXT: &str = concat!("^", text_char!(), "*$");
    /// [`TEXT`] restricted to the Basic Multilingual Plane (where characters and UTF-16 units
    /// agree, so a `maxLength` in characters is exact).
    pub const TEXT_BMP: &str = concat!("^", text_char_bmp!(), "*$");
    /// `name`: free text without `<` and `>`, at least one character (Auth0's `ClientCreate`
    /// schema: pattern `^[^<>]+$`; white space alone is accepted by Auth0, so it is too).
    pub const NAME: &str = concat!("^", name_char!(), "+$");
    /// [`NAME`] restricted to the Basic Multilingual Plane.
    pub const NAME_BMP: &str = concat!("^", name_char_bmp!(), "+$");
    /// `logo_uri`: empty, or an absolute URI (RFC 3986: `scheme:` then URI characters, ASCII;
    /// Auth0's format `absolute-uri-or-empty`). Any scheme, with or without a host.
    pub const LOGO_URI: &str =
        "^(?:[A-Za-z][A-Za-z0-9+.-]*:(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~!$&'()*+,;=:@/?#\\[\\]-])*)?$";
    /// `initiate_login_uri`: empty, or an `https` URL with a host name and no fragment.
    pub const LOGIN_URI: &str = concat!("^(?:https://", host!(), port!(), path_query!(), ")?$");
    /// Entries of `callbacks`, `allowed_origins`, `web_origins` and `allowed_logout_urls`: an
    /// absolute URL `scheme://…` of printable ASCII (`*` wildcards, custom schemes of native
    /// apps and `[…]` IPv6 hosts included).
    pub const URL_ENTRY: &str =
        "^[A-Za-z][A-Za-z0-9+.-]*://(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~!$&'()*+,;=:@/?#\\[\\]-])+$";
    /// `mobile.android.keystore_hash`: hexadecimal pairs separated by colons, one or more (a
    /// SHA-256 certificate fingerprint has 32; Auth0 was recorded accepting `DE:AD:BE:EF`).
    pub const SHA256_FINGERPRINT: &str = "^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*$";
    /// `id`: an Auth0 client id.
    pub const CLIENT_ID: &str = "^[A-Za-z0-9_-]+$";
    /// An API identifier (token audience): at least one character, no white space, no control
    /// characters (nor U+2028, U+2029, U+FFFE, U+FFFF).
    pub const IDENTIFIER: &str = concat!("^", solid!(), "+$");
    /// A scope value: the same characters as [`IDENTIFIER`] (scopes are space separated in
    /// tokens, so a scope has no white space).
    pub const SCOPE: &str = concat!("^", solid!(), "+$");
    /// An Auth0 connection name: letters, digits and single `-` between them.
    pub const CONNECTION_NAME: &str = "^[A-Za-z0-9](?:-[A-Za-z0-9]|[A-Za-z0-9])*$";

    /// Every pattern of this module, for the tests that hold them to their dialect.
    pub const ALL: &[&str] = &[
        TEXT,
        TEXT_BMP,
        NAME,
        NAME_BMP,
        LOGO_URI,
        LOGIN_URI,
        URL_ENTRY,
        SHA256_FINGERPRINT,
        CLIENT_ID,
        IDENTIFIER,
        SCOPE,
        CONNECTION_NAME,
    ];

    /// `pattern` for ECMA-262 and Python `re` (neither knows RE2's `\x{HHHH}`): each
    /// `\x{HHHH}` of the Basic Multilingual Plane becomes `\uHHHH`, which both read (and Rust
    /// `regex` too). The patterns of this module name no character outside that plane.
    pub fn ecma(pattern: &str) -> String {
        let mut out = String::with_capacity(pattern.len());
        let mut rest = pattern;
        while let Some(at) = rest.find("\\x{") {
            let escaped = rest[..at].chars().rev().take_while(|&c| c == '\\').count() % 2 == 1;
            out.push_str(&rest[..at]);
            let tail = &rest[at + 3..];
            let code = tail
                .find('}')
                .map(|end| (&tail[..end], &tail[end + 1..]))
                .filter(|(hex, _)| hex.len() <= 4 && hex.chars().all(|c| c.is_ascii_hexdigit()));
            match code {
                Some((hex, after)) if !escaped => {
                    out.push_str(&format!("\\u{hex:0>4}"));
                    rest = after;
                }
                _ => {
                    out.push_str("\\x{");
                    rest = tail;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn compiled(pattern: &str) -> Regex {
    // The patterns are constants covered by the tests of this module.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern:?}: {e}"))
}

static LOGO_URI: LazyLock<Regex> = LazyLock::new(|| compiled(patterns::LOGO_URI));
static LOGIN_URI: LazyLock<Regex> = LazyLock::new(|| compiled(patterns::LOGIN_URI));
static URL_ENTRY: LazyLock<Regex> = LazyLock::new(|| compiled(patterns::URL_ENTRY));
static SHA256_FINGERPRINT: LazyLock<Regex> =
    LazyLock::new(|| compiled(patterns::SHA256_FINGERPRINT));
static CLIENT_ID: LazyLock<Regex> = LazyLock::new(|| compiled(patterns::CLIENT_ID));

/// Length as Auth0 (JavaScript) counts it: UTF-16 code units.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Characters no text field may hold: control characters (C0, DEL, C1), the line and paragraph
/// separators U+2028/U+2029 and the non-characters U+FFFE/U+FFFF.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}')
}

/// Printable ASCII without white space: what a URL may consist of.
fn is_url_text(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic())
}

/// A value as shown inside a message: at most 64 characters, control and other invisible
/// characters escaped (`\u{85}`), so a message never carries what it complains about.
pub fn shown(value: &str) -> String {
    let mut out = String::new();
    for (index, c) in value.chars().enumerate() {
        if index == 64 {
            out.push('…');
            break;
        }
        if is_forbidden_char(c) || (c.is_whitespace() && c != ' ') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

const NO_CONTROL: &str = "must not contain control characters, U+2028, U+2029, U+FFFE or U+FFFF";
const NOT_ASCII_URL: &str = "must consist of printable ASCII without white space (percent-encode other characters; write an internationalised host in its xn-- form)";

struct Errors(Vec<FieldError>);

impl Errors {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Free text of at most `max` UTF-16 code units without forbidden characters.
    fn text(&mut self, path: &str, value: &str, max: usize) {
        if value.chars().any(is_forbidden_char) {
            self.fail(path, NO_CONTROL);
        }
        let len = utf16_len(value);
        if len > max {
            self.fail(path, too_long(max, len));
        }
    }

    /// A URL (printable ASCII) matching `rule`.
    fn url(&mut self, path: &str, value: &str, rule: &Regex, what: &str) -> bool {
        if !is_url_text(value) {
            self.fail(path, NOT_ASCII_URL);
            false
        } else if !rule.is_match(value) {
            self.fail(path, format!("must be {what} ('{}' is not)", shown(value)));
            false
        } else {
            true
        }
    }
}

fn too_long(max: usize, len: usize) -> String {
    format!(
        "must be at most {max} characters counted in UTF-16 code units, as Auth0 counts them \
         (characters outside the Basic Multilingual Plane, such as emoji, count twice); has {len}"
    )
}

/// Checks `client` against the contract and Auth0's rules. Empty result = valid.
pub fn validate_client(client: &NexusClient) -> Vec<FieldError> {
    let mut errors = Errors(Vec::new());

    if client.name.is_empty() {
        errors.fail("name", "is required and must not be empty");
    } else {
        if client.name.contains(['<', '>']) {
            errors.fail("name", "must not contain '<' or '>'");
        }
        // No length limit: Auth0 documents none for a client name.
        errors.text("name", &client.name, usize::MAX);
    }
    if client.app_type.trim().is_empty() {
        errors.fail("app_type", "is required and must not be empty");
    } else if !APP_TYPES.contains(&client.app_type.as_str()) {
        errors.fail(
            "app_type",
            format!(
                "'{}' is not an Auth0 application type; use one of regular_web, spa, native, non_interactive (or another Auth0 type)",
                shown(&client.app_type)
            ),
        );
    }
    if let Some(id) = &client.id
        && (id.len() > MAX_ID || !CLIENT_ID.is_match(id))
    {
        errors.fail(
            "id",
            format!("must be an Auth0 client id (1 to {MAX_ID} letters, digits, '_' and '-')"),
        );
    }
    if let Some(description) = &client.description {
        errors.text("description", description, MAX_DESCRIPTION);
    }
    if let Some(logo) = client.logo_uri.as_deref().filter(|s| !s.is_empty()) {
        errors.url(
            "logo_uri",
            logo,
            &LOGO_URI,
            "an absolute URI (scheme:..., e.g. https://example.com/logo.png) or empty",
        );
    }
    if let Some(uri) = client
        .initiate_login_uri
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        errors.url(
            "initiate_login_uri",
            uri,
            &LOGIN_URI,
            "an https:// URL with a host name and without a #fragment, or empty",
        );
    }
    for (field, list) in [
        ("callbacks", &client.callbacks),
        ("allowed_origins", &client.allowed_origins),
        ("web_origins", &client.web_origins),
        ("allowed_logout_urls", &client.allowed_logout_urls),
        ("grant_types", &client.grant_types),
    ] {
        let Some(list) = list else { continue };
        // Auth0 documents the limit of these two lists only (see [`MAX_LIST_ITEMS`]).
        let limited = matches!(field, "web_origins" | "allowed_logout_urls");
        if limited && list.len() > MAX_LIST_ITEMS {
            errors.fail(
                field,
                format!(
                    "must have at most {MAX_LIST_ITEMS} entries, Auth0's limit (has {})",
                    list.len()
                ),
            );
        }
        for (index, value) in list.iter().enumerate() {
            let path = format!("{field}[{index}]");
            if value.is_empty() {
                errors.fail(path, "must not be empty");
            } else if field == "grant_types" {
                if !GRANT_TYPES.contains(&value.as_str()) {
                    errors.fail(
                        path,
                        format!(
                            "'{}' is not an Auth0 grant type; use one of {}",
                            shown(value),
                            GRANT_TYPES.join(", ")
                        ),
                    );
                }
            } else {
                errors.url(
                    &path,
                    value,
                    &URL_ENTRY,
                    "an absolute URL such as https://app.example.com/callback (scheme://...)",
                );
            }
        }
    }
    if let Some(mobile) = &client.mobile {
        if let Some(ios) = &mobile.ios {
            for (key, value) in [
                ("team_id", &ios.team_id),
                ("app_bundle_identifier", &ios.app_bundle_identifier),
            ] {
                if let Some(value) = value {
                    errors.text(&format!("mobile.ios.{key}"), value, usize::MAX);
                }
            }
        }
        if let Some(android) = &mobile.android {
            if let Some(package) = &android.app_package_name {
                errors.text("mobile.android.app_package_name", package, usize::MAX);
            }
            if let Some(hash) = &android.keystore_hash
                && !SHA256_FINGERPRINT.is_match(hash)
            {
                errors.fail(
                    "mobile.android.keystore_hash",
                    "must be hexadecimal pairs separated by colons, such as the SHA-256 fingerprint of the signing certificate that `keytool -list -v` prints (AB:CD:...)",
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
            if let Some(value) = value {
                errors.text(&format!("client_metadata.{key}"), value, MAX_METADATA_VALUE);
            }
        }
    }
    errors.0
}

/// What Auth0 accepts in `client` but is most likely a mistake: a `name` of white space only
/// (Auth0's pattern `^[^<>]+$` takes it; the dashboard then lists a blank application). Not a
/// refusal: the controller publishes these as a `Warning` event (reason `SpecWarning`) and the
/// client is created. Paths are relative to `spec.client`.
pub fn client_warnings(client: &NexusClient) -> Vec<FieldError> {
    let mut warnings = Vec::new();
    if !client.name.is_empty() && client.name.trim().is_empty() {
        warnings.push(FieldError {
            path: "name".into(),
            message: "is only white space: Auth0 accepts it, but the application shows without a name in the dashboard and on consent screens".into(),
        });
    }
    warnings
}

/// Checks the client's URLs against the tenant's URL policy. Empty result = allowed.
pub fn validate_url_policy(client: &NexusClient, policy: &UrlPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, values: &[String], patterns: &[String]| {
        if patterns.is_empty() {
            return;
        }
        let allowed = shown_patterns(patterns);
        for (index, value) in values.iter().enumerate() {
            if !patterns.iter().any(|p| url_matches(p, value)) {
                errors.push(FieldError {
                    path: if field == "initiate_login_uri" {
                        field.to_owned()
                    } else {
                        format!("{field}[{index}]")
                    },
                    message: format!(
                        "'{}' is not allowed by the tenant's URL policy (allowed: {allowed})",
                        shown(value)
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

fn shown_patterns(patterns: &[String]) -> String {
    let mut list: Vec<String> = patterns.iter().take(5).map(|p| shown(p)).collect();
    if patterns.len() > 5 {
        list.push(format!("and {} more", patterns.len() - 5));
    }
    list.join(", ")
}

/// Whether the URL `value` matches the URL pattern `pattern`: both parsed, then scheme, host
/// (label-wise), port and path matched separately ([`crate::url_pattern`]); an invalid
/// pattern, an unparsable URL or one with user information matches nothing.
pub fn url_matches(pattern: &str, value: &str) -> bool {
    crate::url_pattern::url_matches(pattern, value)
}

/// Glob match: `**` matches anything, `*` matches any run without `/`, everything else is
/// literal (case-sensitive). Linear in the value: at most `(tokens + 1) * value length` steps,
/// whatever the pattern (a simulation of the pattern's automaton, no backtracking). Used for
/// the path of a URL pattern and within one host label.
pub(crate) fn glob_matches(pattern: &str, value: &str) -> bool {
    glob(pattern.as_bytes(), value.as_bytes()).0
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Byte(u8),
    /// `*`: any run of bytes other than `/`.
    Star,
    /// `**`: any run of bytes.
    AnyRun,
}

fn tokens(pattern: &[u8]) -> Vec<Token> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i..] {
            [b'*', b'*', ..] => {
                out.push(Token::AnyRun);
                i += 2;
            }
            [b'*', ..] => {
                out.push(Token::Star);
                i += 1;
            }
            [byte, ..] => {
                out.push(Token::Byte(byte));
                i += 1;
            }
            [] => break,
        }
    }
    out
}

/// The match and the number of (state, byte) steps it took.
fn glob(pattern: &[u8], value: &[u8]) -> (bool, usize) {
    let tokens = tokens(pattern);
    let accept = tokens.len();
    // A star may match nothing: a state before a star also stands for the state after it.
    let close = |states: &mut [bool]| {
        for i in 0..accept {
            if states[i] && matches!(tokens[i], Token::Star | Token::AnyRun) {
                states[i + 1] = true;
            }
        }
    };
    let mut current = vec![false; accept + 1];
    current[0] = true;
    close(&mut current);
    let mut next = vec![false; accept + 1];
    let mut steps = 0;
    for &byte in value {
        next.fill(false);
        let mut alive = false;
        for (state, token) in tokens.iter().enumerate() {
            if !current[state] {
                continue;
            }
            steps += 1;
            match *token {
                Token::Byte(b) if b == byte => {
                    next[state + 1] = true;
                    alive = true;
                }
                Token::Star if byte != b'/' => {
                    next[state] = true;
                    alive = true;
                }
                Token::AnyRun => {
                    next[state] = true;
                    alive = true;
                }
                _ => {}
            }
        }
        if !alive {
            return (false, steps);
        }
        close(&mut next);
        std::mem::swap(&mut current, &mut next);
    }
    (current[accept], steps)
}

/// One message listing the errors (at most [`MAX_SUMMARIZED_ERRORS`], then a count), for a
/// condition or an event; paths are relative to `spec.client`.
pub fn summarize(errors: &[FieldError]) -> String {
    summarize_under("spec.client.", errors)
}

/// [`summarize`] for errors whose paths are relative to `prefix` (e.g. `spec.`).
pub fn summarize_under(prefix: &str, errors: &[FieldError]) -> String {
    let mut parts: Vec<String> = errors
        .iter()
        .take(MAX_SUMMARIZED_ERRORS)
        .map(|e| format!("{prefix}{e}"))
        .collect();
    if errors.len() > MAX_SUMMARIZED_ERRORS {
        parts.push(format!(
            "and {} more errors",
            errors.len() - MAX_SUMMARIZED_ERRORS
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMetadata, Mobile, MobileAndroid, MobileIos};

    const FINGERPRINT: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

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
    fn minimal_and_full_clients_are_valid() {
        assert!(validate_client(&valid()).is_empty());
        let full = NexusClient {
            name: "Billing (prod) — ü 😀".into(),
            app_type: "native".into(),
            id: Some("AbC_123-x".into()),
            description: Some("é".repeat(140)),
            logo_uri: Some("https://cdn.example.com:8443/a/logo.png?v=1&x=%20#top".into()),
            callbacks: Some(vec![
                "https://*.example.com/callback".into(),
                "http://localhost:3000".into(),
                "com.example.app://tenant.auth0.com/ios/com.example.app/callback".into(),
                "https://[::1]:8443/cb".into(),
            ]),
            allowed_origins: Some(vec![]),
            web_origins: Some(vec!["https://app.example.com".into()]),
            allowed_logout_urls: Some(vec!["https://app.example.com/bye?x=y".into()]),
            grant_types: Some(vec![
                "authorization_code".into(),
                "urn:ietf:params:oauth:grant-type:device_code".into(),
            ]),
            initiate_login_uri: Some("https://app.example.com/login?from=auth0".into()),
            mobile: Some(Mobile {
                ios: Some(MobileIos {
                    team_id: Some("ABCDE12345".into()),
                    app_bundle_identifier: Some("com.example.app".into()),
                }),
                android: Some(MobileAndroid {
                    keystore_hash: Some(FINGERPRINT.to_lowercase()),
                    app_package_name: Some("com.example.app".into()),
                }),
            }),
            client_metadata: Some(ClientMetadata {
                owners: Some("😀".repeat(127)),
                product_name: Some("P".into()),
                client_upn_key: Some("upn".into()),
                application_name: Some("A".into()),
                manually_created: Some(true),
            }),
        };
        assert_eq!(validate_client(&full), vec![]);
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
                "mobile.android.keystore_hash",
                "client_metadata.owners",
            ]
        );
        assert!(summarize(&errors).contains("spec.client.description: must be at most 140"));
    }

    /// Finding 2 of the facade issue: Auth0 counts UTF-16 code units, not code points.
    #[test]
    fn lengths_are_utf16_code_units() {
        let emoji = |n: usize| "😀".repeat(n);
        let with = |description: String, owners: String| NexusClient {
            description: Some(description),
            client_metadata: Some(ClientMetadata {
                owners: Some(owners),
                ..Default::default()
            }),
            ..valid()
        };
        assert!(validate_client(&with(emoji(70), emoji(127) + "x")).is_empty());
        let errors = validate_client(&with(emoji(71), emoji(128)));
        assert_eq!(
            paths(&errors),
            vec!["description", "client_metadata.owners"]
        );
        assert!(errors[0].message.contains("has 142"), "{}", errors[0]);
        // 140 emoji are 140 characters but 280 UTF-16 units.
        assert_eq!(
            paths(&validate_client(&with(emoji(140), String::new()))),
            vec!["description"]
        );
        assert_eq!(utf16_len("a😀é"), 4);
        // Auth0 documents no maximum for a client name: none is imposed.
        let long_name = NexusClient {
            name: emoji(1000),
            ..valid()
        };
        assert!(validate_client(&long_name).is_empty());
    }

    /// Findings 2 and 3: non-ASCII hosts, an empty fingerprint, control characters.
    #[test]
    fn urls_are_ascii_and_text_has_no_control_characters() {
        for (logo, login) in [
            (
                "https://bücher.example/logo.png",
                "https://bücher.example/login",
            ),
            ("https://x.example/a b", "https://x.example/login#fragment"),
            ("https:// x.example/", "https://"),
            ("/relative/logo.png", "https://x.example/\u{85}"),
            ("1https://x.example/", "https://x.example/\"q\""),
            ("https://x.example/%zz", "ftp://x.example/login"),
        ] {
            let client = NexusClient {
                logo_uri: Some(logo.into()),
                initiate_login_uri: Some(login.into()),
                ..valid()
            };
            assert_eq!(
                paths(&validate_client(&client)),
                vec!["logo_uri", "initiate_login_uri"],
                "{logo} / {login}"
            );
        }
        let punycode = NexusClient {
            logo_uri: Some("https://xn--bcher-kva.example/logo.png".into()),
            initiate_login_uri: Some(String::new()),
            ..valid()
        };
        assert!(validate_client(&punycode).is_empty());
        // `logo_uri` is Auth0's `absolute-uri-or-empty`: any scheme, with or without a host
        // (no longer only http(s) with a host name: issue 18).
        for logo in [
            "ftp://x.example/logo.png",
            "https://x.example:70000/",
            "https://-x.example/",
            "data:image/png;base64,iVBORw0KGgo=",
            "urn:isbn:0451450523",
            "https://[2001:db8::1]/logo.png",
        ] {
            let client = NexusClient {
                logo_uri: Some(logo.into()),
                ..valid()
            };
            assert!(validate_client(&client).is_empty(), "{logo}");
        }
        for text in [
            "\u{97}",
            "x\u{85}y",
            "a\u{2028}b",
            "\u{0}",
            "tab\there",
            "\u{ffff}",
        ] {
            let client = NexusClient {
                name: format!("n{text}"),
                description: Some(text.into()),
                mobile: Some(Mobile {
                    ios: Some(MobileIos {
                        team_id: Some(text.into()),
                        app_bundle_identifier: None,
                    }),
                    android: Some(MobileAndroid {
                        keystore_hash: Some(String::new()),
                        app_package_name: Some(text.into()),
                    }),
                }),
                ..valid()
            };
            let errors = validate_client(&client);
            assert_eq!(
                paths(&errors),
                vec![
                    "name",
                    "description",
                    "mobile.ios.team_id",
                    "mobile.android.app_package_name",
                    "mobile.android.keystore_hash"
                ],
                "{text:?}"
            );
            // Messages never carry the offending characters.
            assert!(
                summarize(&errors).chars().all(|c| !is_forbidden_char(c)),
                "{errors:?}"
            );
        }
        let fingerprint = |hash: &str| NexusClient {
            mobile: Some(Mobile {
                ios: None,
                android: Some(MobileAndroid {
                    keystore_hash: Some(hash.into()),
                    app_package_name: None,
                }),
            }),
            ..valid()
        };
        // Auth0 answered 201 to `["DE:AD:BE:EF"]` and 200 to `["DE:AD:BE:EF","CA:DE:FF:AA"]`
        // (recorded, TestAccClientMobile): short fingerprints are accepted.
        for accepted in ["DE:AD:BE:EF", "CA:DE:FF:AA", "ab", FINGERPRINT] {
            assert!(
                validate_client(&fingerprint(accepted)).is_empty(),
                "{accepted}"
            );
        }
        for refused in ["AB:CD:E", "AB-CD", "ABCD", "AB:", ":AB", "GG:00", "AB::CD"] {
            assert_eq!(
                paths(&validate_client(&fingerprint(refused))),
                vec!["mobile.android.keystore_hash"],
                "{refused}"
            );
        }
    }

    #[test]
    fn lists_grant_types_and_ids() {
        let client = NexusClient {
            id: Some(String::new()),
            grant_types: Some(vec!["authorization_code".into(), "magic".into()]),
            web_origins: Some(vec!["*.svc.cluster.local/callback".into()]),
            allowed_logout_urls: Some(vec!["https://x.example/bye".into(); 101]),
            ..valid()
        };
        let errors = validate_client(&client);
        assert_eq!(
            paths(&errors),
            vec![
                "id",
                "web_origins[0]",
                "allowed_logout_urls",
                "grant_types[1]"
            ]
        );
        assert!(errors[2].message.contains("has 101"));
        // Auth0 documents 100 as the limit of web origins and logout URLs only; callbacks,
        // CORS origins and grant types have none, and URLs no length limit (issue 18).
        let long_url = format!("https://x.example/{}", "a".repeat(5000));
        let client = NexusClient {
            callbacks: Some(vec![long_url.clone(); 150]),
            allowed_origins: Some(vec!["https://x.example".into(); 150]),
            web_origins: Some(vec![long_url; 100]),
            allowed_logout_urls: Some(vec!["https://x.example/bye".into(); 100]),
            grant_types: Some(vec!["refresh_token".into(); 150]),
            logo_uri: Some(format!("https://x.example/{}", "l".repeat(3000))),
            ..valid()
        };
        assert!(validate_client(&client).is_empty());
    }

    /// Auth0's name pattern is `^[^<>]+$`: white space only is accepted, with a warning.
    #[test]
    fn a_blank_name_is_a_warning_not_an_error() {
        for blank in [" ", "   ", "\u{3000}", " \u{a0} "] {
            let client = NexusClient {
                name: blank.into(),
                ..valid()
            };
            assert!(validate_client(&client).is_empty(), "{blank:?}");
            assert_eq!(paths(&client_warnings(&client)), vec!["name"], "{blank:?}");
        }
        assert_eq!(client_warnings(&valid()), vec![]);
        let empty = NexusClient {
            name: String::new(),
            ..valid()
        };
        assert_eq!(paths(&validate_client(&empty)), vec!["name"]);
    }

    #[test]
    fn unknown_app_type_is_named_and_escaped() {
        let client = NexusClient {
            app_type: "web\u{97}app".into(),
            ..valid()
        };
        let errors = validate_client(&client);
        assert_eq!(paths(&errors), vec!["app_type"]);
        assert!(
            errors[0].message.contains("'web\\u{97}app'"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn summary_is_capped() {
        let client = NexusClient {
            callbacks: Some(vec![String::new(); 100]),
            ..valid()
        };
        let errors = validate_client(&client);
        assert_eq!(errors.len(), 100);
        let summary = summarize(&errors);
        assert_eq!(summary.matches("must not be empty").count(), 50);
        assert!(summary.ends_with("and 50 more errors"), "{summary}");
    }

    fn class_matches(pattern: &str, c: char) -> bool {
        Regex::new(pattern).unwrap().is_match(&c.to_string())
    }

    /// The schema classes agree with the predicates of the code for every scalar value.
    #[test]
    fn character_classes_agree_with_the_code() {
        let text = Regex::new(patterns::TEXT).unwrap();
        let text_bmp = Regex::new(patterns::TEXT_BMP).unwrap();
        let name = Regex::new(patterns::NAME).unwrap();
        let name_bmp = Regex::new(patterns::NAME_BMP).unwrap();
        let mut buffer = [0u8; 4];
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let s: &str = c.encode_utf8(&mut buffer);
            let allowed = !is_forbidden_char(c);
            let bmp = c.len_utf16() == 1;
            assert_eq!(text.is_match(s), allowed, "TEXT {c:?}");
            assert_eq!(text_bmp.is_match(s), allowed && bmp, "TEXT_BMP {c:?}");
            let name_ok = allowed && c != '<' && c != '>';
            assert_eq!(name.is_match(s), name_ok, "NAME {c:?}");
            assert_eq!(name_bmp.is_match(s), name_ok && bmp, "NAME_BMP {c:?}");
        }
        assert!(name.is_match("  a b  "));
        assert!(name.is_match("   "));
        assert!(!name.is_match(""));
        assert!(class_matches(patterns::NAME, '\u{3000}'));
    }

    /// Issue 18: the pattern text is printable ASCII (non-ASCII characters are `\x{HHHH}`
    /// escapes), so the CRDs carry nothing YAML refuses; the ECMA-262 form has no RE2-only
    /// escape and matches exactly what the RE2 form matches, for every scalar value.
    #[test]
    fn patterns_are_ascii_and_their_ecma_form_agrees() {
        for pattern in patterns::ALL {
            assert!(
                pattern.bytes().all(|b| b.is_ascii_graphic()),
                "not printable ASCII: {pattern}"
            );
            let ecma = patterns::ecma(pattern);
            assert!(!ecma.contains("\\x{"), "{ecma}");
            assert!(ecma.bytes().all(|b| b.is_ascii_graphic()), "{ecma}");
            Regex::new(&ecma).expect("the ECMA form compiles");
        }
        assert_eq!(
            patterns::ecma("[\\x{a0}-\\x{FFFD}]\\\\x{41}"),
            "[\\u00a0-\\uFFFD]\\\\x{41}"
        );
        let mut buffer = [0u8; 4];
        for pattern in [
            patterns::TEXT,
            patterns::TEXT_BMP,
            patterns::NAME,
            patterns::NAME_BMP,
            patterns::IDENTIFIER,
        ] {
            let (re2, ecma) = (
                Regex::new(pattern).unwrap(),
                Regex::new(&patterns::ecma(pattern)).unwrap(),
            );
            for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
                let s: &str = c.encode_utf8(&mut buffer);
                assert_eq!(re2.is_match(s), ecma.is_match(s), "{pattern} {c:?}");
            }
        }
    }

    /// The names the code gives and the schemas agree: a name is valid exactly when it matches
    /// [`patterns::NAME`] and is short enough.
    #[test]
    fn name_rule_equals_its_pattern() {
        let pattern = Regex::new(patterns::NAME).unwrap();
        for name in [
            "a", " a", "a ", "\u{a0}", "a<", ">", "x\u{85}", "\u{2028}", "😀", " \t", "ok name",
        ] {
            let client = NexusClient {
                name: name.into(),
                ..valid()
            };
            assert_eq!(
                validate_client(&client).is_empty(),
                pattern.is_match(name),
                "{name:?}"
            );
        }
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
        assert!(glob_matches("**", ""));
        assert!(glob_matches("a***b", "a/x/b"));
        assert!(!glob_matches("", "a"));
    }

    /// The backtracking matcher this replaced, as the reference for the semantics.
    fn reference(p: &[u8], v: &[u8]) -> bool {
        match p {
            [] => v.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=v.len()).any(|i| reference(rest, &v[i..])),
            [b'*', rest @ ..] => {
                let stop = v.iter().position(|&c| c == b'/').unwrap_or(v.len());
                (0..=stop).any(|i| reference(rest, &v[i..]))
            }
            [c, rest @ ..] => v.first() == Some(c) && reference(rest, &v[1..]),
        }
    }

    #[test]
    fn glob_agrees_with_the_backtracking_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let alphabet = b"ab/*";
        for _ in 0..20_000 {
            let p: Vec<u8> = (0..rng.gen_range(0..7))
                .map(|_| alphabet[rng.gen_range(0..4)])
                .collect();
            let v: Vec<u8> = (0..rng.gen_range(0..8))
                .map(|_| alphabet[rng.gen_range(0..3)])
                .collect();
            assert_eq!(
                glob(&p, &v).0,
                reference(&p, &v),
                "{:?} vs {:?}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&v)
            );
        }
    }

    /// Issue 11: `**a**a**a**a**b` against 50 `a`s took seconds in the backtracking matcher.
    #[test]
    fn glob_is_linear_on_a_pathological_pattern() {
        let pattern = "**a**a**a**a**b";
        let value = "a".repeat(50);
        let (matched, steps) = glob(pattern.as_bytes(), value.as_bytes());
        assert!(!matched);
        let tokens = tokens(pattern.as_bytes()).len();
        assert!(
            steps <= (tokens + 1) * value.len(),
            "{steps} steps for {tokens} tokens and {} bytes",
            value.len()
        );
        let long = format!("https://{}/", "a/".repeat(5_000));
        let (_, steps) = glob(b"https://**a**a**a**a**a**a**b", long.as_bytes());
        assert!(steps <= 30 * long.len(), "{steps}");
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
            initiate_login_uri: Some("https://evil.io/login".into()),
            ..valid()
        };
        let policy = UrlPolicy {
            callbacks: vec!["https://*.acme.com/**".into()],
            origins: vec!["https://*.acme.com".into()],
            logout_urls: vec![],
        };
        let errors = validate_url_policy(&client, &policy);
        assert_eq!(paths(&errors), vec!["callbacks[1]", "initiate_login_uri"]);
        assert!(errors[0].message.contains("https://evil.io/cb"));
    }

    #[test]
    fn url_rules_equal_their_patterns_on_a_corpus() {
        // The code checks ASCII before the pattern; on ASCII strings it is exactly the pattern.
        for (value, logo, login, entry) in [
            ("https://a.example", true, true, true),
            ("http://a.example/x", true, false, true),
            ("https://a.example/x#f", true, false, true),
            ("https://a.example/%zz", false, false, false),
            ("https://a.example/%2F", true, true, true),
            ("https://*.a.example/cb", true, false, true),
            ("myapp://cb", true, false, true),
            ("urn:acme:logo", true, false, false),
            ("https://a.example:0/", true, false, true),
            ("https://a.example:65535/", true, true, true),
            ("https://a.example/{x}", false, false, false),
        ] {
            let check = |field: &str| {
                let mut client = valid();
                match field {
                    "logo" => client.logo_uri = Some(value.into()),
                    "login" => client.initiate_login_uri = Some(value.into()),
                    _ => client.callbacks = Some(vec![value.into()]),
                }
                validate_client(&client).is_empty()
            };
            assert_eq!(check("logo"), logo, "logo {value}");
            assert_eq!(check("login"), login, "login {value}");
            assert_eq!(check("entry"), entry, "entry {value}");
            assert_eq!(LOGO_URI.is_match(value), logo);
            assert_eq!(LOGIN_URI.is_match(value), login);
            assert_eq!(URL_ENTRY.is_match(value), entry);
        }
    }
}
