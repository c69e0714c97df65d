//! What a cluster adds to a plan when a kubeconfig is given (read-only: lists, no watch, no
//! write): the AuthTenants the files do not hold, the labels of the Namespaces the files do
//! not hold, and what the controller recorded in each AuthClient's status (its client id,
//! grants and connections), so that removals from a spec are planned as the controller
//! revokes them.

use std::collections::BTreeMap;
use std::path::Path;

use kube::api::ListParams;
use kube::{Api, ResourceExt};

use k8s_openapi::api::core::v1::Namespace;
use nexus_crd::{
    AuthClient, AuthClientStatus, AuthResourceServer, AuthResourceServerStatus, AuthTenant,
};

use crate::manifests::Manifests;

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig.
    #[error("cannot use the kubeconfig {path}: {message}")]
    Config {
        /// Its path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A list failed.
    #[error("reading the cluster: {0}")]
    Kube(#[from] kube::Error),
}

/// The cluster's part of a plan.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// Every AuthTenant.
    pub tenants: Vec<AuthTenant>,
    /// Labels by Namespace.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// AuthClient statuses by `namespace/name`.
    pub client_status: BTreeMap<String, AuthClientStatus>,
    /// The recorded status of each AuthResourceServer, by `namespace/name` (an object
    /// without a status is absent): which API each one created.
    pub server_status: BTreeMap<String, AuthResourceServerStatus>,
}

/// A client of the cluster the kubeconfig at `path` names (its current context).
pub async fn client(path: &Path) -> Result<kube::Client, ClusterError> {
    let fail = |message: String| ClusterError::Config {
        path: path.display().to_string(),
        message,
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| fail(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| fail(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| fail(e.to_string()))
}

impl ClusterState {
    /// Lists AuthTenants, Namespaces and AuthClients.
    pub async fn read(client: &kube::Client) -> Result<Self, ClusterError> {
        let params = ListParams::default();
        let tenants = Api::<AuthTenant>::all(client.clone())
            .list(&params)
            .await?
            .items;
        let namespace_labels = Api::<Namespace>::all(client.clone())
            .list_metadata(&params)
            .await?
            .items
            .into_iter()
            .map(|n| (n.name_any(), n.metadata.labels.unwrap_or_default()))
            .collect();
        let client_status = Api::<AuthClient>::all(client.clone())
            .list(&params)
            .await?
            .items
            .into_iter()
            .filter_map(|c| {
                let key = format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any());
                c.status.map(|s| (key, s))
            })
            .collect();
        // A cluster without the AuthResourceServer CRD (404) holds none.
        let servers = match Api::<AuthResourceServer>::all(client.clone())
            .list(&params)
            .await
        {
            Ok(list) => list.items,
            Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        let server_status = servers
            .into_iter()
            .filter_map(|s| {
                let key = format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any());
                s.status.map(|status| (key, status))
            })
            .collect();
        Ok(ClusterState {
            tenants,
            namespace_labels,
            client_status,
            server_status,
        })
    }

    /// Adds to `manifests` what the files do not hold: the files win (a pull request may
    /// change an AuthTenant or a Namespace).
    pub fn complete(self, manifests: &mut Manifests) {
        let named: std::collections::BTreeSet<String> = manifests
            .clients
            .values()
            .map(|c| c.spec.tenant.clone())
            .chain(manifests.servers.values().map(|s| s.spec.tenant.clone()))
            .collect();
        for tenant in self.tenants {
            if named.contains(&tenant.name_any()) {
                manifests.tenants.entry(tenant.name_any()).or_insert(tenant);
            }
        }
        for (namespace, labels) in self.namespace_labels {
            manifests
                .namespace_labels
                .entry(namespace)
                .or_insert(labels);
        }
        manifests.recorded = self.client_status;
        manifests.recorded_servers = Some(self.server_status);
    }
}
