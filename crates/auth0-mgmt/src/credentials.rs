//! Client credentials for `private_key_jwt`: public keys registered with a client
//! (`/api/v2/clients/{id}/credentials`) and the list of them the client authenticates with
//! (`client_authentication_methods.private_key_jwt.credentials` on the client).
//!
//! Recorded answers of the real service (`shared/recordings/auth0/TestAccClientCredentials*`):
//! the create answers 201 with `id` (`cred_...`), `kid` (RFC 7638 thumbprint of the key),
//! `alg`, `name`, `created_at`, `updated_at` and `expires_at`; the list is a bare array; a
//! credential is used once the client lists it, and deleted after it is no longer listed.
//!
//! Scopes: `create:client_credentials`, `read:client_credentials`, `delete:client_credentials`,
//! `update:clients` (the list on the client).

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{TenantClient, decode, encode_segment, to_body};
use super::error::Auth0Error;
use super::model::Auth0Client;
use super::ratelimit::Priority;

/// One registered credential, as the Management API answers it (never key material: Auth0
/// answers no `pem`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ClientCredential {
    /// `cred_...`.
    pub id: String,
    /// `public_key` for `private_key_jwt` (`x509_cert`, `cert_subject_dn` for mTLS).
    #[serde(default)]
    pub credential_type: String,
    /// RFC 7638 thumbprint of the public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Signing algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Expiry (RFC 3339), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The body of `POST /api/v2/clients/{id}/credentials` for a public key.
#[derive(Clone, Debug, Serialize)]
pub struct NewPublicKey<'a> {
    /// Display name.
    pub name: &'a str,
    /// Always `public_key`.
    pub credential_type: &'static str,
    /// The public key (SPKI PEM). Never a private key.
    pub pem: &'a str,
    /// `RS256`, `RS384` or `PS256`.
    pub alg: &'a str,
}

/// `{"id": ...}`: one entry of a `private_key_jwt` credentials list.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct CredentialRef {
    /// The credential id.
    pub id: String,
}

#[derive(Serialize)]
struct PrivateKeyJwt<'a> {
    credentials: &'a [CredentialRef],
}

#[derive(Serialize)]
struct Methods<'a> {
    private_key_jwt: PrivateKeyJwt<'a>,
}

/// The PATCH that sets or clears the client's authentication methods.
#[derive(Serialize)]
struct MethodsPatch<'a> {
    /// `None` serializes as `null`: clears the methods (back to the client secret).
    client_authentication_methods: Option<Methods<'a>>,
    /// `null` while the methods are set (recorded); the secret method when they are cleared.
    token_endpoint_auth_method: Option<&'a str>,
}

/// `client_authentication_methods` of a client, as Auth0 answers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct AuthenticationMethods {
    /// The `private_key_jwt` method, when set.
    #[serde(default)]
    pub private_key_jwt: Option<ListedCredentials>,
}

/// The credentials a method lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ListedCredentials {
    /// `[{"id": ...}]`.
    #[serde(default)]
    pub credentials: Vec<CredentialRef>,
}

impl Auth0Client {
    /// The ids listed under `client_authentication_methods.private_key_jwt.credentials`, or
    /// `None` when the client does not authenticate with `private_key_jwt` (it uses its secret).
    pub fn private_key_jwt_ids(&self) -> Option<Vec<String>> {
        let methods: AuthenticationMethods =
            serde_json::from_value(self.extra.get("client_authentication_methods")?.clone())
                .ok()?;
        Some(
            methods
                .private_key_jwt?
                .credentials
                .into_iter()
                .map(|c| c.id)
                .collect(),
        )
    }
}

impl TenantClient {
    /// `POST /api/v2/clients/{id}/credentials` with a public key. Never retried on
    /// 5xx/transport errors (a retry could register the key twice).
    pub async fn create_credential(
        &self,
        client_id: &str,
        key: &NewPublicKey<'_>,
        p: Priority,
    ) -> Result<ClientCredential, Auth0Error> {
        let path = format!("/clients/{}/credentials", encode_segment(client_id));
        let body = to_body(key)?;
        let bytes = self.call(Method::POST, &path, &[], Some(&body), p).await?;
        decode(&bytes, "client credential")
    }

    /// `GET /api/v2/clients/{id}/credentials` (a bare array).
    pub async fn list_credentials(
        &self,
        client_id: &str,
        p: Priority,
    ) -> Result<Vec<ClientCredential>, Auth0Error> {
        let path = format!("/clients/{}/credentials", encode_segment(client_id));
        let bytes = self.call(Method::GET, &path, &[], None, p).await?;
        decode(&bytes, "client credentials")
    }

    /// `DELETE /api/v2/clients/{id}/credentials/{cred_id}`; a 404 counts as done.
    pub async fn delete_credential(
        &self,
        client_id: &str,
        credential_id: &str,
        p: Priority,
    ) -> Result<(), Auth0Error> {
        let path = format!(
            "/clients/{}/credentials/{}",
            encode_segment(client_id),
            encode_segment(credential_id)
        );
        match self.call(Method::DELETE, &path, &[], None, p).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /api/v2/clients/{id}` setting `client_authentication_methods.private_key_jwt`
    /// to `ids` (with `token_endpoint_auth_method: null`, as recorded), or, with `None`,
    /// clearing the methods and going back to `client_secret_method`.
    pub async fn set_private_key_jwt(
        &self,
        client_id: &str,
        ids: Option<&[CredentialRef]>,
        client_secret_method: &str,
        p: Priority,
    ) -> Result<Auth0Client, Auth0Error> {
        let body = match ids {
            Some(credentials) => MethodsPatch {
                client_authentication_methods: Some(Methods {
                    private_key_jwt: PrivateKeyJwt { credentials },
                }),
                token_endpoint_auth_method: None,
            },
            None => MethodsPatch {
                client_authentication_methods: None,
                token_endpoint_auth_method: Some(client_secret_method),
            },
        };
        self.patch_client(client_id, &body, p).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_the_recordings() {
        let ids = [
            CredentialRef {
                id: "cred_A".into(),
            },
            CredentialRef {
                id: "cred_B".into(),
            },
        ];
        let set = MethodsPatch {
            client_authentication_methods: Some(Methods {
                private_key_jwt: PrivateKeyJwt { credentials: &ids },
            }),
            token_endpoint_auth_method: None,
        };
        assert_eq!(
            serde_json::to_value(&set).expect("json"),
            serde_json::json!({"client_authentication_methods":{"private_key_jwt":{"credentials":[{"id":"cred_A"},{"id":"cred_B"}]}},
                               "token_endpoint_auth_method":null})
        );
        let cleared = MethodsPatch {
            client_authentication_methods: None,
            token_endpoint_auth_method: Some("client_secret_post"),
        };
        assert_eq!(
            serde_json::to_value(&cleared).expect("json"),
            serde_json::json!({"client_authentication_methods": null, "token_endpoint_auth_method": "client_secret_post"})
        );
        let answer: ClientCredential = serde_json::from_str(
            r#"{"id":"cred_1","credential_type":"public_key","kid":"abc","alg":"RS256","name":"n",
                "created_at":"2026-05-08T16:00:56.685Z","updated_at":"2026-05-08T16:00:56.685Z"}"#,
        )
        .expect("credential");
        assert_eq!(answer.kid.as_deref(), Some("abc"));
        let client: Auth0Client = serde_json::from_value(serde_json::json!({"client_id": "c",
            "client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_A"}]}}}))
        .expect("client");
        assert_eq!(
            client.private_key_jwt_ids(),
            Some(vec!["cred_A".to_owned()])
        );
        let plain: Auth0Client =
            serde_json::from_value(serde_json::json!({"client_id": "c"})).expect("client");
        assert_eq!(plain.private_key_jwt_ids(), None);
    }
}
