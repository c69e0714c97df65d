//! Client grants: which application may obtain client-credentials tokens for which API, with
//! which scopes (`/api/v2/client-grants`). One grant per (client, audience).
//!
//! Scopes: `read:client_grants`, `create:client_grants`, `update:client_grants`,
//! `delete:client_grants`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{TenantClient, decode, encode_segment, to_body};
use super::error::Auth0Error;
use super::model::Page;
use super::ratelimit::Priority;

/// A client grant as the Management API returns it. Fields this type does not name are kept in
/// `extra`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ClientGrant {
    /// Auth0's id of the grant (`cgr_...`).
    pub id: String,
    /// The application.
    pub client_id: String,
    /// The API's identifier.
    pub audience: String,
    /// The granted scopes.
    #[serde(default)]
    pub scope: Vec<String>,
    /// Every other field Auth0 returned (`organization_usage`, `subject_type`, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct NewGrantBody<'a> {
    client_id: &'a str,
    audience: &'a str,
    scope: &'a [String],
}

#[derive(Serialize)]
struct ScopeBody<'a> {
    scope: &'a [String],
}

impl TenantClient {
    /// `POST /api/v2/client-grants`: grants `client_id` the `scope`s of the API `audience`.
    /// Auth0 answers 404 when the client or the API does not exist, 400 when a scope is not
    /// defined by the API, and 409 ([`Auth0Error::is_conflict`]) when the (client, audience) pair
    /// already has a grant: find it with [`list_client_grants`](Self::list_client_grants).
    /// Never retried on 5xx/transport errors.
    pub async fn create_client_grant(
        &self,
        client_id: &str,
        audience: &str,
        scope: &[String],
        p: Priority,
    ) -> Result<ClientGrant, Auth0Error> {
        let body = to_body(&NewGrantBody {
            client_id,
            audience,
            scope,
        })?;
        let bytes = self
            .call(Method::POST, "/client-grants", &[], Some(&body), p)
            .await?;
        decode(&bytes, "client grant")
    }

    /// Every client grant matching the filters (each `None` = no filter), collected from the
    /// checkpoint pages (100 per page) of [`TenantClient::client_grant_pages`]. With both set
    /// the answer has at most one grant.
    pub async fn list_client_grants(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        p: Priority,
    ) -> Result<Vec<ClientGrant>, Auth0Error> {
        let mut all = Vec::new();
        let mut pages = self.client_grant_pages(client_id, audience, p);
        while let Some(page) = pages.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// One offset page of `GET /api/v2/client-grants` with the same filters (Auth0 serves
    /// offset pages only within the first 1,000 grants).
    pub async fn list_client_grants_page(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        (page, per_page): (u32, u32),
        p: Priority,
    ) -> Result<Page<ClientGrant>, Auth0Error> {
        let mut query = Vec::new();
        if let Some(c) = client_id {
            query.push(("client_id", c.to_owned()));
        }
        if let Some(a) = audience {
            query.push(("audience", a.to_owned()));
        }
        self.list_page(
            "/client-grants",
            "client_grants",
            "client grant list",
            (page, per_page),
            &query,
            p,
        )
        .await
    }

    /// `PATCH /api/v2/client-grants/{id}`: replaces the grant's scopes with `scope`.
    pub async fn patch_client_grant(
        &self,
        id: &str,
        scope: &[String],
        p: Priority,
    ) -> Result<ClientGrant, Auth0Error> {
        let path = format!("/client-grants/{}", encode_segment(id));
        let body = to_body(&ScopeBody { scope })?;
        let bytes = self.call(Method::PATCH, &path, &[], Some(&body), p).await?;
        decode(&bytes, "client grant")
    }

    /// `DELETE /api/v2/client-grants/{id}`; a 404 counts as done. Tokens already issued stay
    /// valid until they expire.
    pub async fn delete_client_grant(&self, id: &str, p: Priority) -> Result<(), Auth0Error> {
        let path = format!("/client-grants/{}", encode_segment(id));
        match self.call(Method::DELETE, &path, &[], None, p).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_and_answers() {
        let scope = vec!["read:orders".to_owned()];
        assert_eq!(
            serde_json::to_value(NewGrantBody {
                client_id: "c",
                audience: "https://a/",
                scope: &scope,
            })
            .unwrap(),
            json!({"client_id": "c", "audience": "https://a/", "scope": ["read:orders"]})
        );
        assert_eq!(
            serde_json::to_value(ScopeBody { scope: &[] }).unwrap(),
            json!({"scope": []})
        );
        let g: ClientGrant = serde_json::from_value(json!({
            "id": "cgr_1", "client_id": "c", "audience": "https://a/",
            "scope": ["read:orders"], "subject_type": "client",
        }))
        .unwrap();
        assert_eq!(g.scope, scope);
        assert_eq!(g.extra["subject_type"], "client");
        let no_scope: ClientGrant =
            serde_json::from_value(json!({"id": "cgr_2", "client_id": "c", "audience": "a"}))
                .unwrap();
        assert!(no_scope.scope.is_empty());
    }
}
