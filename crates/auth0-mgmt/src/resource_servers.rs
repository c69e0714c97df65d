//! Resource servers (APIs): `/api/v2/resource-servers`.
//!
//! Scopes: `read:resource_servers`, `create:resource_servers`, `update:resource_servers`,
//! `delete:resource_servers`.

use std::fmt;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{TenantClient, decode, encode_segment, to_body};
use super::error::Auth0Error;
use super::model::{Page, SecretString};
use super::ratelimit::Priority;

const REDACTED: &str = "[redacted]";

/// Algorithm Auth0 signs an API's access tokens with (`signing_alg`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum SigningAlg {
    /// RSA with SHA-256, verifiable with the tenant's JWKS.
    #[serde(rename = "RS256")]
    Rs256,
    /// RSA with SHA-512.
    #[serde(rename = "RS512")]
    Rs512,
    /// RSA-PSS with SHA-256 (an Auth0 add-on).
    #[serde(rename = "PS256")]
    Ps256,
    /// HMAC with SHA-256 and the API's own `signing_secret`.
    #[serde(rename = "HS256")]
    Hs256,
    /// A value this client does not know (kept as sent).
    #[serde(untagged)]
    Other(String),
}

/// Dialect of an API's access tokens (`token_dialect`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum TokenDialect {
    /// Auth0's JWT claims.
    #[serde(rename = "access_token")]
    AccessToken,
    /// Auth0's claims plus the RBAC `permissions` claim.
    #[serde(rename = "access_token_authz")]
    AccessTokenAuthz,
    /// The IETF JWT access token profile (RFC 9068).
    #[serde(rename = "rfc9068_profile")]
    Rfc9068Profile,
    /// RFC 9068 plus the `permissions` claim.
    #[serde(rename = "rfc9068_profile_authz")]
    Rfc9068ProfileAuthz,
    /// A value this client does not know (kept as sent).
    #[serde(untagged)]
    Other(String),
}

/// One permission an API defines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub struct ResourceServerScope {
    /// The scope, e.g. `read:orders` (no spaces, 1..=280 characters).
    pub value: String,
    /// What it allows, for consent screens (at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A resource server (API) as the Management API returns it. Fields this type does not name are
/// kept in `extra`. `Debug` redacts `signing_secret`.
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ResourceServer {
    /// Auth0's id of the API (not the audience).
    pub id: String,
    /// The audience (`identifier`): unique in the tenant, immutable.
    pub identifier: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `true` for Auth0's own APIs (the Management API): they cannot be changed or deleted.
    #[serde(default)]
    pub is_system: bool,
    /// The permissions the API defines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<ResourceServerScope>>,
    /// Signing algorithm of its access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<SigningAlg>,
    /// HS256 signing secret (present for HS256 APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SecretString>,
    /// Lifetime in seconds of access tokens issued at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<i64>,
    /// Lifetime in seconds of access tokens issued to browser flows (implicit, hybrid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_for_web: Option<i64>,
    /// Whether refresh tokens may be issued for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_offline_access: Option<bool>,
    /// Whether first-party applications skip the consent screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
    /// Whether RBAC policies are enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_policies: Option<bool>,
    /// Access token dialect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_dialect: Option<TokenDialect>,
    /// Every other field Auth0 returned.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceServer")
            .field("id", &self.id)
            .field("identifier", &self.identifier)
            .field("name", &self.name)
            .field("is_system", &self.is_system)
            .field("scopes", &self.scopes)
            .field("signing_alg", &self.signing_alg)
            .field(
                "signing_secret",
                &self.signing_secret.as_ref().map(|_| REDACTED),
            )
            .field("token_lifetime", &self.token_lifetime)
            .field("token_lifetime_for_web", &self.token_lifetime_for_web)
            .field("allow_offline_access", &self.allow_offline_access)
            .field(
                "skip_consent_for_verifiable_first_party_clients",
                &self.skip_consent_for_verifiable_first_party_clients,
            )
            .field("enforce_policies", &self.enforce_policies)
            .field("token_dialect", &self.token_dialect)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Body of `POST /api/v2/resource-servers`. Only `identifier` is required; fields left `None`
/// are not sent (Auth0 applies its defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NewResourceServer {
    /// The audience: unique in the tenant, 1..=600 characters, immutable once created.
    pub identifier: String,
    /// Display name (no `<` or `>`, at most 200 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The permissions the API defines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<ResourceServerScope>>,
    /// Signing algorithm of its access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<SigningAlg>,
    /// Access token lifetime in seconds (Auth0: at most 2592000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<u32>,
    /// Access token lifetime for browser flows, in seconds (not above `token_lifetime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_lifetime_for_web: Option<u32>,
    /// Whether refresh tokens may be issued for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_offline_access: Option<bool>,
    /// Whether first-party applications skip the consent screen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
    /// Whether RBAC policies are enforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_policies: Option<bool>,
    /// Access token dialect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_dialect: Option<TokenDialect>,
}

/// Body of `PATCH /api/v2/resource-servers/{id}`: only the fields set are sent and changed.
/// `scopes` replaces the whole list. The identifier cannot be changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResourceServerPatch {
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The full new list of permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<ResourceServerScope>>,
    /// Signing algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<SigningAlg>,
    /// Access token lifetime in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<u32>,
    /// Access token lifetime for browser flows, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_lifetime_for_web: Option<u32>,
    /// Whether refresh tokens may be issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_offline_access: Option<bool>,
    /// Whether first-party applications skip the consent screen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
    /// Whether RBAC policies are enforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_policies: Option<bool>,
    /// Access token dialect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_dialect: Option<TokenDialect>,
}

impl ResourceServerPatch {
    /// True when nothing would be changed (do not send it: Auth0 refuses an empty PATCH).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn path_of(id_or_identifier: &str) -> String {
    format!("/resource-servers/{}", encode_segment(id_or_identifier))
}

impl TenantClient {
    /// `POST /api/v2/resource-servers`. A 409 (identifier taken) is
    /// [`Auth0Error::is_conflict`]. Never retried on 5xx/transport errors: the caller owns
    /// crash-safe creation (find by identifier with [`get_resource_server`](Self::get_resource_server)).
    pub async fn create_resource_server(
        &self,
        body: &NewResourceServer,
        p: Priority,
    ) -> Result<ResourceServer, Auth0Error> {
        let body = to_body(body)?;
        let bytes = self
            .call(Method::POST, "/resource-servers", &[], Some(&body), p)
            .await?;
        decode(&bytes, "resource server")
    }

    /// `GET /api/v2/resource-servers/{id}`, where `id_or_identifier` is Auth0's id or the
    /// identifier (audience; it is percent-encoded here). 404 `inexistent_resource_server` is
    /// [`Auth0Error::is_not_found`].
    pub async fn get_resource_server(
        &self,
        id_or_identifier: &str,
        p: Priority,
    ) -> Result<ResourceServer, Auth0Error> {
        let bytes = self
            .call(Method::GET, &path_of(id_or_identifier), &[], None, p)
            .await?;
        decode(&bytes, "resource server")
    }

    /// `PATCH /api/v2/resource-servers/{id}` (id or identifier). Only the fields set in `patch`
    /// change; `scopes` replaces the list.
    pub async fn patch_resource_server(
        &self,
        id_or_identifier: &str,
        patch: &ResourceServerPatch,
        p: Priority,
    ) -> Result<ResourceServer, Auth0Error> {
        let body = to_body(patch)?;
        let bytes = self
            .call(
                Method::PATCH,
                &path_of(id_or_identifier),
                &[],
                Some(&body),
                p,
            )
            .await?;
        decode(&bytes, "resource server")
    }

    /// `DELETE /api/v2/resource-servers/{id}` (id or identifier); a 404 counts as done. Auth0
    /// deletes the API's client grants with it.
    pub async fn delete_resource_server(
        &self,
        id_or_identifier: &str,
        p: Priority,
    ) -> Result<(), Auth0Error> {
        match self
            .call(Method::DELETE, &path_of(id_or_identifier), &[], None, p)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One page of `GET /api/v2/resource-servers` (`per_page` clamped to 1..=100).
    pub async fn list_resource_servers_page(
        &self,
        page: u32,
        per_page: u32,
        p: Priority,
    ) -> Result<Page<ResourceServer>, Auth0Error> {
        self.list_page(
            "/resource-servers",
            "resource_servers",
            "resource server list",
            (page, per_page),
            &[],
            p,
        )
        .await
    }

    /// The resource servers whose identifier is one of `identifiers` (those that do not exist
    /// are simply absent), through `GET /api/v2/resource-servers?identifiers=...`, at most
    /// [`MAX_IDENTIFIERS_PER_LIST`] identifiers per request (Auth0: "may be specified multiple
    /// times (max 10)"). Each answer holds at most 10 records, so no request comes near the
    /// 1,000-record ceiling of offset paging, however many APIs the tenant holds (this list
    /// endpoint has no checkpoint paging). A request also stays under
    /// [`MAX_IDENTIFIER_QUERY_CHARS`] characters of identifiers.
    pub async fn list_resource_servers_by_identifier(
        &self,
        identifiers: &[&str],
        p: Priority,
    ) -> Result<Vec<ResourceServer>, Auth0Error> {
        let mut found = Vec::new();
        for chunk in identifier_chunks(identifiers) {
            let query: Vec<(&str, String)> = chunk
                .iter()
                .map(|identifier| ("identifiers", (*identifier).to_owned()))
                .collect();
            let page: Page<ResourceServer> = self
                .list_page(
                    "/resource-servers",
                    "resource_servers",
                    "resource server list",
                    (0, MAX_IDENTIFIERS_PER_LIST as u32),
                    &query,
                    p,
                )
                .await?;
            found.extend(page.items);
        }
        Ok(found)
    }

    /// Every resource server of the tenant (the system Management API included), 100 per page
    /// by offset: only for tenants under 1,000 APIs (tests, small tenants). Past record 1,000
    /// Auth0 refuses the page (`400 invalid_paging`), and so does this call: an error, never a
    /// silently short list. The operator itself lists by identifier
    /// ([`Self::list_resource_servers_by_identifier`]).
    pub async fn list_all_resource_servers(
        &self,
        p: Priority,
    ) -> Result<Vec<ResourceServer>, Auth0Error> {
        self.list_all(
            "/resource-servers",
            "resource_servers",
            "resource server list",
            &[],
            p,
        )
        .await
    }
}

/// Most `identifiers` one `GET /api/v2/resource-servers` carries (Auth0's documented maximum).
pub const MAX_IDENTIFIERS_PER_LIST: usize = 10;
/// Most characters of identifiers one such request carries (before URL encoding), so that the
/// URL stays far below common request-line limits (an identifier has at most 600 characters,
/// so one always fits).
pub const MAX_IDENTIFIER_QUERY_CHARS: usize = 2000;

/// `identifiers` in groups of at most [`MAX_IDENTIFIERS_PER_LIST`] and
/// [`MAX_IDENTIFIER_QUERY_CHARS`] characters (one identifier longer than that is a group of its
/// own).
fn identifier_chunks<'a>(identifiers: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut chunks: Vec<Vec<&'a str>> = Vec::new();
    let mut chars = 0;
    for identifier in identifiers {
        let full = chunks.last().is_none_or(|last| {
            last.len() == MAX_IDENTIFIERS_PER_LIST
                || chars + identifier.len() > MAX_IDENTIFIER_QUERY_CHARS
        });
        if full {
            chunks.push(Vec::new());
            chars = 0;
        }
        chars += identifier.len();
        if let Some(last) = chunks.last_mut() {
            last.push(identifier);
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_are_listed_ten_at_a_time_and_within_the_character_budget() {
        let many: Vec<String> = (0..25)
            .map(|i| format!("https://api-{i}.example/"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let chunks = identifier_chunks(&refs);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        assert_eq!(chunks.concat(), refs);
        let long: Vec<String> = (0..5).map(|i| format!("{i}{}", "x".repeat(599))).collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        let chunks = identifier_chunks(&refs);
        assert!(
            chunks
                .iter()
                .all(|c| c.iter().map(|i| i.len()).sum::<usize>() <= MAX_IDENTIFIER_QUERY_CHARS)
        );
        assert_eq!(chunks.concat(), refs);
        assert!(identifier_chunks(&[]).is_empty());
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_sends_only_what_is_set() {
        let body = NewResourceServer {
            identifier: "https://orders.example.com/".into(),
            name: Some("Orders".into()),
            scopes: Some(vec![ResourceServerScope {
                value: "read:orders".into(),
                description: None,
            }]),
            signing_alg: Some(SigningAlg::Rs256),
            token_dialect: Some(TokenDialect::AccessTokenAuthz),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({
                "identifier": "https://orders.example.com/",
                "name": "Orders",
                "scopes": [{"value": "read:orders"}],
                "signing_alg": "RS256",
                "token_dialect": "access_token_authz",
            })
        );
        assert!(ResourceServerPatch::default().is_empty());
        let patch = ResourceServerPatch {
            scopes: Some(vec![]),
            ..Default::default()
        };
        assert!(!patch.is_empty());
        assert_eq!(serde_json::to_value(&patch).unwrap(), json!({"scopes": []}));
    }

    #[test]
    fn answers_decode_with_unknown_values_kept_and_the_secret_redacted() {
        let rs: ResourceServer = serde_json::from_value(json!({
            "id": "6457a1b2c3d4e5f6a7b8c9d0",
            "identifier": "https://orders.example.com/",
            "name": "Orders",
            "signing_alg": "ES999",
            "signing_secret": "HS-SECRET-do-not-leak",
            "token_dialect": "rfc9068_profile",
            "token_lifetime": 86400,
            "consent_policy": null,
        }))
        .unwrap();
        assert_eq!(rs.signing_alg, Some(SigningAlg::Other("ES999".into())));
        assert_eq!(rs.token_dialect, Some(TokenDialect::Rfc9068Profile));
        assert!(!rs.is_system);
        assert!(rs.extra.contains_key("consent_policy"));
        let debug = format!("{rs:?}");
        assert!(!debug.contains("HS-SECRET"), "{debug}");
        assert!(debug.contains(REDACTED));
        // Round trip keeps the unknown algorithm as sent.
        assert_eq!(serde_json::to_value(&rs).unwrap()["signing_alg"], "ES999");
    }

    #[test]
    fn identifiers_are_one_path_segment() {
        assert_eq!(
            path_of("https://orders.example.com/v1"),
            "/resource-servers/https%3A%2F%2Forders.example.com%2Fv1"
        );
        assert_eq!(
            path_of("6457a1b2c3d4e5f6a7b8c9d0"),
            "/resource-servers/6457a1b2c3d4e5f6a7b8c9d0"
        );
    }
}
