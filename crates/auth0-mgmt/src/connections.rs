//! Connections (database, social, enterprise login sources) and which applications are enabled
//! on them (`/api/v2/connections`, `/api/v2/connections/{id}/clients`).
//!
//! Scopes: `read:connections` (look-ups and enabled clients), `update:connections` (enabling and
//! disabling clients).
//!
//! Enablement is changed one client at a time with `PATCH /connections/{id}/clients`, never by
//! writing the connection's whole `enabled_clients` list, so that other clients' enablement is
//! never touched.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{TenantClient, decode, decode_page, encode_segment, to_body};
use super::error::Auth0Error;
use super::model::Page;
use super::ratelimit::Priority;

/// Fields requested when looking connections up: never `options`, which can hold a social or
/// enterprise connection's own client secret.
const CONNECTION_FIELDS: &str = "id,name,strategy,display_name,realms";
/// Largest page of `GET /connections/{id}/clients` (Auth0: `take` 1..=1000).
const MAX_TAKE: u32 = 1000;
/// Largest number of clients in one `PATCH /connections/{id}/clients` (Auth0's limit).
pub const MAX_CLIENTS_PER_PATCH: usize = 50;
/// Safety stop for the checkpoint pagination of enabled clients.
const MAX_CHECKPOINT_PAGES: u32 = 1000;

/// A connection, restricted to the fields this client reads (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Connection {
    /// Auth0's id (`con_...`).
    pub id: String,
    /// The connection name (unique in the tenant), e.g. `Username-Password-Authentication`.
    pub name: String,
    /// `auth0`, `google-oauth2`, `samlp`, `oidc`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Name shown on the login page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Realms (for database connections, the connection name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realms: Option<Vec<String>>,
}

/// One application enabled on a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct EnabledClient {
    /// The application's client id.
    pub client_id: String,
}

/// One page of `GET /api/v2/connections/{id}/clients` (checkpoint pagination).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct EnabledClientsPage {
    /// Applications enabled on the connection.
    #[serde(default)]
    pub clients: Vec<EnabledClient>,
    /// Checkpoint of the next page (`from`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Serialize)]
struct EnablementChange<'a> {
    client_id: &'a str,
    status: bool,
}

impl TenantClient {
    /// The connection named exactly `name` (`GET /api/v2/connections?name=`), or `None`.
    pub async fn find_connection(
        &self,
        name: &str,
        p: Priority,
    ) -> Result<Option<Connection>, Auth0Error> {
        let query = [
            ("name", name.to_owned()),
            ("fields", CONNECTION_FIELDS.to_owned()),
            ("include_fields", "true".to_owned()),
        ];
        let bytes = self
            .call(Method::GET, "/connections", &query, None, p)
            .await?;
        let page: Page<Connection> = decode_page(&bytes, "connections", 0, 50, "connection list")?;
        Ok(page.items.into_iter().find(|c| c.name == name))
    }

    /// One page of the tenant's connections (`GET /api/v2/connections?page&per_page`, offset
    /// paging, `per_page` clamped to 1..=100), restricted to the fields of [`Connection`] (never
    /// `options`). Read-only callers (`nexus-operator import`) page through it.
    pub async fn list_connections_page(
        &self,
        page: u32,
        per_page: u32,
        p: Priority,
    ) -> Result<Page<Connection>, Auth0Error> {
        let query = [
            ("fields", CONNECTION_FIELDS.to_owned()),
            ("include_fields", "true".to_owned()),
        ];
        self.list_page(
            "/connections",
            "connections",
            "connection list",
            (page, per_page),
            &query,
            p,
        )
        .await
    }

    /// One page of the applications enabled on connection `id`: start with `from = None`, then
    /// pass the previous page's `next`. `take` is clamped to 1..=1000.
    pub async fn list_connection_clients_page(
        &self,
        id: &str,
        from: Option<&str>,
        take: u32,
        p: Priority,
    ) -> Result<EnabledClientsPage, Auth0Error> {
        let path = format!("/connections/{}/clients", encode_segment(id));
        let mut query = vec![("take", take.clamp(1, MAX_TAKE).to_string())];
        if let Some(from) = from {
            query.push(("from", from.to_owned()));
        }
        let bytes = self.call(Method::GET, &path, &query, None, p).await?;
        decode(&bytes, "connection clients")
    }

    /// The client ids of every application enabled on connection `id`, following the checkpoint
    /// pages (1000 per page) until `next` is absent.
    pub async fn list_connection_clients(
        &self,
        id: &str,
        p: Priority,
    ) -> Result<Vec<String>, Auth0Error> {
        let mut all = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..MAX_CHECKPOINT_PAGES {
            let page = self
                .list_connection_clients_page(id, from.as_deref(), MAX_TAKE, p)
                .await?;
            let empty = page.clients.is_empty();
            all.extend(page.clients.into_iter().map(|c| c.client_id));
            match page.next {
                Some(next)
                    if !next.is_empty() && !empty && from.as_deref() != Some(next.as_str()) =>
                {
                    from = Some(next);
                }
                _ => return Ok(all),
            }
        }
        tracing::warn!(tenant = %self.tenant(), "stopped listing connection clients after {MAX_CHECKPOINT_PAGES} pages");
        Ok(all)
    }

    /// `PATCH /api/v2/connections/{id}/clients`: enables (`true`) or disables (`false`) exactly
    /// the listed clients on connection `id`; every other client keeps its enablement. Sent in
    /// batches of [`MAX_CLIENTS_PER_PATCH`]; nothing is sent for an empty list. Idempotent, so
    /// retried like every PATCH.
    pub async fn set_connection_clients<S: AsRef<str>>(
        &self,
        id: &str,
        changes: &[(S, bool)],
        p: Priority,
    ) -> Result<(), Auth0Error> {
        let path = format!("/connections/{}/clients", encode_segment(id));
        for batch in changes.chunks(MAX_CLIENTS_PER_PATCH) {
            let body: Vec<EnablementChange<'_>> = batch
                .iter()
                .map(|(client_id, status)| EnablementChange {
                    client_id: client_id.as_ref(),
                    status: *status,
                })
                .collect();
            let body = to_body(&body)?;
            self.call(Method::PATCH, &path, &[], Some(&body), p).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_and_connections_decode() {
        let page: EnabledClientsPage =
            serde_json::from_value(json!({"clients": [{"client_id": "a"}], "next": "cp1"}))
                .unwrap();
        assert_eq!(page.clients[0].client_id, "a");
        assert_eq!(page.next.as_deref(), Some("cp1"));
        let last: EnabledClientsPage = serde_json::from_value(json!({"clients": []})).unwrap();
        assert_eq!(last.next, None);
        // Whatever else Auth0 sends (options may hold secrets) is not kept.
        let c: Connection = serde_json::from_value(json!({
            "id": "con_1", "name": "google-oauth2", "strategy": "google-oauth2",
            "options": {"client_secret": "SOCIAL-SECRET"},
        }))
        .unwrap();
        assert!(!format!("{c:?}").contains("SOCIAL-SECRET"));
        assert!(!serde_json::to_string(&c).unwrap().contains("SOCIAL-SECRET"));
    }

    #[test]
    fn enablement_body_is_auth0_shaped() {
        assert_eq!(
            serde_json::to_value(vec![EnablementChange {
                client_id: "a",
                status: false
            }])
            .unwrap(),
            json!([{"client_id": "a", "status": false}])
        );
    }
}
