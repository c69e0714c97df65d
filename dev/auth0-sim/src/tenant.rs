//! Everything one simulated tenant stores — clients, resource servers, client grants and
//! connections — behind one lock, so that Auth0's cascades are atomic: deleting a client deletes
//! its grants and its enablement on every connection; deleting a resource server deletes its
//! grants; removing a scope from a resource server removes it from its grants.
//!
//! Also the persistent form of all of it ([`TenantStore::snapshot`] / [`TenantStore::restore`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::connections::{Connection, Connections};
use super::credentials::{Credential, StoredCredential};
use super::grants::{self, ClientGrant, ClientGrants};
use super::resource_servers::{self, ResourceServer, ResourceServers};
use super::store::ClientStore;

/// Version of the snapshot format.
pub const SNAPSHOT_VERSION: u64 = 1;

/// One tenant's objects. `Debug` prints counts only (the objects hold secrets).
#[derive(Default)]
pub struct TenantStore {
    /// Applications.
    pub clients: ClientStore,
    /// APIs, the system Management API first.
    pub resource_servers: ResourceServers,
    /// Client grants.
    pub grants: ClientGrants,
    /// Connections with their enabled clients.
    pub connections: Connections,
    /// Client credentials (public keys for `private_key_jwt`) by `client_id`, in creation
    /// order.
    pub credentials: std::collections::HashMap<String, Vec<Credential>>,
    /// `SimConfig::app_audience`: every new application gets a grant (no scopes) for it.
    pub auto_grant_audience: Option<String>,
    /// Enable every new application on every connection (Auth0's tenant flag
    /// `enable_client_connections`).
    pub enable_new_clients_on_connections: bool,
}

impl std::fmt::Debug for TenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantStore")
            .field("clients", &self.clients.len())
            .field("resource_servers", &self.resource_servers.len())
            .field("grants", &self.grants.len())
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

/// The persistent form of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`].
    #[serde(default)]
    pub version: u64,
    /// Clients as stored (with secrets).
    #[serde(default)]
    pub clients: Vec<Map<String, Value>>,
    /// Resource servers (the system one is re-created, never restored).
    #[serde(default)]
    pub resource_servers: Vec<ResourceServer>,
    /// Client grants.
    #[serde(default)]
    pub client_grants: Vec<ClientGrant>,
    /// Connections with `enabled_clients`.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// Client credentials (`private_key_jwt` public keys) by `client_id`, with the public key
    /// the Management API never answers, so that assertions still verify after a restart.
    /// (`client_authentication_methods` is a field of the clients above.)
    #[serde(default)]
    pub credentials: std::collections::BTreeMap<String, Vec<StoredCredential>>,
}

/// What [`TenantStore::restore`] brought back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Clients.
    pub clients: usize,
    /// Resource servers (without the system one).
    pub resource_servers: usize,
    /// Client grants.
    pub client_grants: usize,
    /// Connections.
    pub connections: usize,
}

impl TenantStore {
    /// A tenant with its system Management API (`https://{domain}/api/v2/`).
    pub fn new(domain: &str, management_token_lifetime: u64) -> Self {
        let mut store = Self::default();
        store
            .resource_servers
            .upsert(resource_servers::management_api(
                domain,
                management_token_lifetime,
            ));
        store
    }

    /// Inserts (or replaces in place) a client; a new one gets the tenant's automatic grant
    /// and connection enablement. Returns its `client_id`.
    pub fn insert_client(&mut self, client: Map<String, Value>) -> String {
        let is_new = client
            .get("client_id")
            .and_then(Value::as_str)
            .is_none_or(|id| self.clients.get(id).is_none());
        let id = self.clients.insert(client);
        if is_new {
            self.on_new_client(&id);
        }
        id
    }

    fn on_new_client(&mut self, client_id: &str) {
        if let Some(audience) = self.auto_grant_audience.clone()
            && self.resource_servers.by_identifier(&audience).is_some()
            && self.grants.find(client_id, &audience).is_none()
        {
            self.grants.insert(ClientGrant {
                id: grants::generate_id(),
                client_id: client_id.to_owned(),
                audience,
                scope: Vec::new(),
                organization_usage: None,
                allow_any_organization: None,
                extra: serde_json::Map::new(),
            });
        }
        if self.enable_new_clients_on_connections {
            for c in self.connections.iter_mut() {
                c.enabled_clients.insert(client_id.to_owned());
            }
        }
    }

    /// Deletes a client with its grants and its enablement on every connection.
    pub fn remove_client(&mut self, client_id: &str) -> bool {
        let existed = self.clients.remove(client_id);
        self.credentials.remove(client_id);
        self.grants.remove_where(|g| g.client_id == client_id);
        self.connections.forget_client(client_id);
        existed
    }

    /// One credential of a client.
    pub fn credential(&self, client_id: &str, id: &str) -> Option<&Credential> {
        self.credentials.get(client_id)?.iter().find(|c| c.id == id)
    }

    /// One credential of a client, mutable.
    pub fn credential_mut(&mut self, client_id: &str, id: &str) -> Option<&mut Credential> {
        self.credentials
            .get_mut(client_id)?
            .iter_mut()
            .find(|c| c.id == id)
    }

    /// Deletes a resource server (by id or identifier) with its grants.
    pub fn remove_resource_server(&mut self, id_or_identifier: &str) -> Option<ResourceServer> {
        let rs = self.resource_servers.remove(id_or_identifier)?;
        self.grants.remove_where(|g| g.audience == rs.identifier);
        Some(rs)
    }

    /// Replaces a resource server (same id); scopes it no longer defines leave its grants.
    pub fn replace_resource_server(&mut self, rs: ResourceServer) {
        for g in self.grants.iter_mut() {
            if g.audience == rs.identifier {
                g.scope.retain(|s| rs.defines(s));
            }
        }
        self.resource_servers.upsert(rs);
    }

    /// Everything but the system resource server, for persistence.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            clients: self.clients.iter().cloned().collect(),
            resource_servers: self
                .resource_servers
                .iter()
                .filter(|r| !r.is_system)
                .cloned()
                .collect(),
            client_grants: self.grants.iter().cloned().collect(),
            connections: self.connections.iter().cloned().collect(),
            credentials: self
                .credentials
                .iter()
                .map(|(client, list)| {
                    (
                        client.clone(),
                        list.iter().cloned().map(StoredCredential::from).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Replaces the tenant's objects with a snapshot's (the system resource server stays).
    /// Grants whose client or API is missing, and enablement of missing clients, are dropped,
    /// as Auth0's cascades would have. No automatic grant or enablement is added.
    pub fn restore(&mut self, snapshot: Snapshot) -> Restored {
        let system: Vec<ResourceServer> = self
            .resource_servers
            .iter()
            .filter(|r| r.is_system)
            .cloned()
            .collect();
        let mut clients = ClientStore::default();
        for c in snapshot.clients {
            clients.insert(c);
        }
        let mut rss = ResourceServers::default();
        for rs in system {
            rss.upsert(rs);
        }
        let mut restored = Restored {
            clients: clients.len(),
            ..Restored::default()
        };
        for rs in snapshot
            .resource_servers
            .into_iter()
            .filter(|r| !r.is_system)
        {
            if rss.by_identifier(&rs.identifier).is_none() {
                rss.upsert(rs);
                restored.resource_servers += 1;
            }
        }
        let mut grants = ClientGrants::default();
        for g in snapshot.client_grants {
            if clients.get(&g.client_id).is_some()
                && rss.by_identifier(&g.audience).is_some()
                && grants.find(&g.client_id, &g.audience).is_none()
            {
                grants.insert(g);
                restored.client_grants += 1;
            }
        }
        let mut connections = Connections::default();
        for mut c in snapshot.connections {
            c.enabled_clients.retain(|id| clients.get(id).is_some());
            if connections.by_name(&c.name).is_none() {
                connections.upsert(c);
                restored.connections += 1;
            }
        }
        self.credentials = snapshot
            .credentials
            .into_iter()
            .filter(|(client, _)| clients.get(client).is_some())
            .map(|(client, list)| (client, list.into_iter().map(Credential::from).collect()))
            .collect();
        self.clients = clients;
        self.resource_servers = rss;
        self.grants = grants;
        self.connections = connections;
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn tenant() -> (TenantStore, String, String) {
        let mut t = TenantStore::new("t.local", 86400);
        let rs = resource_servers::build_created(
            &json!({"identifier": "https://api/", "scopes": [{"value": "a"}, {"value": "b"}]}),
        )
        .expect("valid");
        t.resource_servers.upsert(rs);
        let client = t.insert_client(obj(json!({"name": "app"})));
        let mut c = Connection::new("db", "auth0");
        c.enabled_clients.insert(client.clone());
        c.enabled_clients.insert("other".into());
        t.connections.upsert(c);
        t.grants.insert(ClientGrant {
            id: "cgr_1".into(),
            client_id: client.clone(),
            audience: "https://api/".into(),
            scope: vec!["a".into(), "b".into()],
            organization_usage: None,
            allow_any_organization: None,
            extra: serde_json::Map::new(),
        });
        (t, client, "https://api/".into())
    }

    #[test]
    fn deleting_a_client_cascades() {
        let (mut t, client, _) = tenant();
        assert!(t.remove_client(&client));
        assert!(t.grants.is_empty());
        let c = t.connections.by_name("db").expect("connection");
        assert_eq!(c.enabled_clients.iter().collect::<Vec<_>>(), ["other"]);
        assert!(!t.remove_client(&client));
    }

    #[test]
    fn deleting_or_narrowing_a_resource_server_cascades_to_grants() {
        let (mut t, _, api) = tenant();
        let mut rs = t.resource_servers.by_identifier(&api).cloned().expect("rs");
        if let Some(scopes) = rs.scopes.as_mut() {
            scopes.retain(|s| s.value == "b");
        }
        t.replace_resource_server(rs);
        assert_eq!(
            t.grants.get("cgr_1").map(|g| g.scope.clone()),
            Some(vec!["b".to_owned()])
        );
        assert!(t.remove_resource_server(&api).is_some());
        assert!(t.grants.is_empty());
        assert_eq!(t.resource_servers.len(), 1, "the system API stays");
    }

    #[test]
    fn snapshots_round_trip_and_drop_dangling_references() {
        let (t, client, api) = tenant();
        let snap = t.snapshot();
        assert_eq!(
            snap.resource_servers.len(),
            1,
            "the system API is not saved"
        );
        let text = serde_json::to_string(&snap).expect("json");
        let mut back = TenantStore::new("t.local", 86400);
        let restored = back.restore(serde_json::from_str(&text).expect("snapshot"));
        assert_eq!(
            restored,
            Restored {
                clients: 1,
                resource_servers: 1,
                client_grants: 1,
                connections: 1
            }
        );
        assert!(back.grants.find(&client, &api).is_some());
        assert_eq!(back.resource_servers.len(), 2);
        assert!(
            back.resource_servers
                .iter()
                .next()
                .is_some_and(|r| r.is_system)
        );
        // "other" is not a client of the snapshot: its enablement is dropped.
        assert_eq!(
            back.connections
                .by_name("db")
                .map(|c| c.enabled_clients.len()),
            Some(1)
        );
        let mut dangling = snap.clone();
        dangling.clients.clear();
        let mut empty = TenantStore::new("t.local", 86400);
        assert_eq!(empty.restore(dangling).client_grants, 0);
    }

    #[test]
    fn new_clients_get_the_automatic_grant_and_connections() {
        let (mut t, _, api) = tenant();
        t.auto_grant_audience = Some(api.clone());
        t.enable_new_clients_on_connections = true;
        let id = t.insert_client(obj(json!({"name": "second"})));
        assert_eq!(t.grants.find(&id, &api).map(|g| g.scope.len()), Some(0));
        assert!(
            t.connections
                .by_name("db")
                .is_some_and(|c| c.enabled_clients.contains(&id))
        );
        // Replacing an existing client adds nothing.
        let before = t.grants.len();
        t.insert_client(obj(json!({"client_id": id, "name": "again"})));
        assert_eq!(t.grants.len(), before);
        assert!(!format!("{t:?}").contains("client_secret"));
    }
}
