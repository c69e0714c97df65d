//! The current state of one tenant, read once, read-only, with paged lists (never one request
//! per object): its clients (checkpoint pages of 100, the drift scan's fields, never a
//! secret), its client grants (checkpoint pages), its connections with the clients enabled on
//! each, and the APIs the manifests name (by identifier, 10 per request) or, for `import`,
//! every API. Every request goes through the tenant's rate limiter, as the operator's do.

use std::collections::{BTreeMap, BTreeSet};

use auth0_mgmt::{Auth0Client, Auth0Error, ClientGrant, Priority, ResourceServer, TenantClient};
use nexus_controller::authclient::desired::SCAN_FIELDS;

/// Identifiers per `GET /resource-servers?identifiers=` (auth0-mgmt sends at most 10).
const IDENTIFIERS_PER_LIST: usize = 10;
/// Page size of the offset-paged connection list.
const CONNECTIONS_PER_PAGE: u32 = 100;
/// Safety stop of the offset-paged connection list (Auth0 refuses offsets past 1,000).
const MAX_CONNECTION_PAGES: u32 = 10;

/// An Auth0 failure as `plan` and `import` show it. A successful answer that does not decode
/// keeps only what was read and where it failed: the decoder's message quotes the value it
/// refused, and an answer may hold a secret (a client secret, a signing secret).
#[derive(Debug, thiserror::Error)]
pub enum Auth0Failure {
    /// A successful answer that is not of the expected shape.
    #[error(
        "could not decode Auth0 {what}: not of the expected shape at line {line} column {column} (the answer is not shown: it may hold a secret)"
    )]
    Undecodable {
        /// What was being decoded.
        what: &'static str,
        /// Where the decoder stopped.
        line: usize,
        /// Where the decoder stopped.
        column: usize,
    },
    /// Any other failure (auth0-mgmt already redacts the secrets of error answers).
    #[error(transparent)]
    Other(Auth0Error),
}

impl From<Auth0Error> for Auth0Failure {
    fn from(error: Auth0Error) -> Self {
        match error {
            Auth0Error::Decode { what, source } => Self::Undecodable {
                what,
                line: source.line(),
                column: source.column(),
            },
            other => Self::Other(other),
        }
    }
}

/// A connection and the clients enabled on it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionState {
    /// Auth0's id.
    pub id: String,
    /// Client ids enabled on it.
    pub enabled: BTreeSet<String>,
}

/// Which APIs to read.
#[derive(Clone, Debug)]
pub enum ApiSelection {
    /// Only these identifiers (`GET /resource-servers?identifiers=`, 10 per request).
    Identifiers(Vec<String>),
    /// Every API of the tenant (offset paging; tenants under 1,000 APIs).
    All,
}

/// What to read besides the clients (each costs list requests).
#[derive(Clone, Debug)]
pub struct Reads {
    /// The client grants (every page).
    pub grants: bool,
    /// The connections, and the clients enabled on these (`None`: on every connection).
    pub connections: Option<BTreeSet<String>>,
    /// Which APIs.
    pub apis: ApiSelection,
}

impl Reads {
    /// Everything (for `import`).
    pub fn all() -> Self {
        Reads {
            grants: true,
            connections: None,
            apis: ApiSelection::All,
        }
    }
}

/// What a tenant holds.
#[derive(Clone, Debug, Default)]
pub struct TenantState {
    /// Clients by id (without secrets).
    pub clients: BTreeMap<String, Auth0Client>,
    /// Grants by client id.
    pub grants: BTreeMap<String, Vec<ClientGrant>>,
    /// Connections by name.
    pub connections: BTreeMap<String, ConnectionState>,
    /// APIs by identifier.
    pub apis: BTreeMap<String, ResourceServer>,
    /// The list requests this read cost.
    pub list_calls: u32,
}

impl TenantState {
    /// Reads the tenant.
    pub async fn read(auth0: &TenantClient, reads: Reads) -> Result<Self, Auth0Error> {
        let mut state = TenantState::default();
        let p = Priority::Background;
        let mut pages = auth0.client_pages(SCAN_FIELDS, p);
        while let Some(page) = pages.next_page().await? {
            for mut client in page {
                client.client_secret = None;
                state.clients.insert(client.client_id.clone(), client);
            }
        }
        state.list_calls += pages.pages();
        if reads.grants {
            let mut pages = auth0.client_grant_pages(None, None, p);
            while let Some(page) = pages.next_page().await? {
                for grant in page {
                    state
                        .grants
                        .entry(grant.client_id.clone())
                        .or_default()
                        .push(grant);
                }
            }
            state.list_calls += pages.pages();
        }
        let wanted = match &reads.connections {
            Some(names) if names.is_empty() => return state.read_apis(auth0, reads.apis).await,
            other => other.clone(),
        };
        for page in 0..MAX_CONNECTION_PAGES {
            let listed = auth0
                .list_connections_page(page, CONNECTIONS_PER_PAGE, p)
                .await?;
            state.list_calls += 1;
            let n = listed.items.len();
            for connection in listed.items {
                state.connections.insert(
                    connection.name,
                    ConnectionState {
                        id: connection.id,
                        enabled: BTreeSet::new(),
                    },
                );
            }
            if n < CONNECTIONS_PER_PAGE as usize || state.connections.len() as u64 >= listed.total {
                break;
            }
        }
        for (name, connection) in state.connections.iter_mut() {
            if wanted.as_ref().is_some_and(|w| !w.contains(name)) {
                continue;
            }
            let mut from: Option<String> = None;
            loop {
                let page = auth0
                    .list_connection_clients_page(&connection.id, from.as_deref(), 1000, p)
                    .await?;
                state.list_calls += 1;
                let empty = page.clients.is_empty();
                connection
                    .enabled
                    .extend(page.clients.into_iter().map(|c| c.client_id));
                match page.next {
                    Some(next) if !next.is_empty() && !empty && from.as_deref() != Some(&next) => {
                        from = Some(next);
                    }
                    _ => break,
                }
            }
        }
        state.read_apis(auth0, reads.apis).await
    }

    async fn read_apis(
        mut self,
        auth0: &TenantClient,
        apis: ApiSelection,
    ) -> Result<Self, Auth0Error> {
        let state = &mut self;
        let p = Priority::Background;
        match apis {
            ApiSelection::Identifiers(identifiers) if identifiers.is_empty() => {}
            ApiSelection::Identifiers(identifiers) => {
                let wanted: Vec<&str> = identifiers.iter().map(String::as_str).collect();
                for mut api in auth0
                    .list_resource_servers_by_identifier(&wanted, p)
                    .await?
                {
                    api.signing_secret = None;
                    state.apis.insert(api.identifier.clone(), api);
                }
                state.list_calls += wanted.len().div_ceil(IDENTIFIERS_PER_LIST) as u32;
            }
            ApiSelection::All => {
                for mut api in auth0.list_all_resource_servers(p).await? {
                    api.signing_secret = None;
                    state.apis.insert(api.identifier.clone(), api);
                }
                // Offset paging, 100 per page, stopping at the total.
                state.list_calls += (state.apis.len() as u32).div_ceil(100).max(1);
            }
        }
        Ok(self)
    }

    /// The grants of `client_id`.
    pub fn grants_of(&self, client_id: &str) -> Vec<ClientGrant> {
        self.grants.get(client_id).cloned().unwrap_or_default()
    }

    /// The names of the connections `client_id` is enabled on, sorted.
    pub fn connections_of(&self, client_id: &str) -> Vec<(String, String)> {
        self.connections
            .iter()
            .filter(|(_, c)| c.enabled.contains(client_id))
            .map(|(name, c)| (name.clone(), c.id.clone()))
            .collect()
    }
}
