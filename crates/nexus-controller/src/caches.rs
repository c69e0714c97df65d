//! The controller's view of the cluster: reflector stores of the AuthTenants, of exactly the
//! credentials Secrets they reference (one watch per referenced Secret, by name), of Namespace
//! metadata (for `allowedNamespaces.selector`) and of the AuthResourceServers (their
//! reconciler's store, and what grant decisions read), and a compact index of the Secrets the
//! operator owns (label-selected: [`crate::owned_secrets`]). A reconcile reads these instead of sending GETs, so a pass that changes
//! nothing costs no API-server request. `managedFields` are stripped before caching.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{ListParams, PartialObjectMeta};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{Lookup, ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use crate::authclient::secret::ObservedSecret;
use crate::locking::lock;
use crate::owned_secrets::{self, OwnedSecrets};
use crate::scope::WatchScope;
use nexus_crd::{AuthResourceServer, AuthTenant, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// One reflector store whose writer the controller drives (from a watch, or a one-shot list).
pub struct Cache<K>
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    writer: Mutex<Writer<K>>,
    reader: Store<K>,
}

impl<K> Default for Cache<K>
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Default,
{
    fn default() -> Self {
        let writer = Writer::default();
        let reader = writer.as_reader();
        Self {
            writer: Mutex::new(writer),
            reader,
        }
    }
}

impl<K> Cache<K>
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    /// Applies one watch event to the store.
    pub fn apply(&self, event: &watcher::Event<K>) {
        lock(&self.writer).apply_watcher_event(event);
    }

    /// Replaces the whole content (what a watch's initial list does).
    pub fn replace(&self, objects: Vec<K>) {
        let mut writer = lock(&self.writer);
        writer.apply_watcher_event(&watcher::Event::Init);
        for object in objects {
            writer.apply_watcher_event(&watcher::Event::InitApply(object));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
    }

    /// A reader of the store.
    pub fn reader(&self) -> Store<K> {
        self.reader.clone()
    }

    /// Whether the store holds the cluster's state: its first list has completed (a watch's
    /// initial list, or [`Cache::replace`]). It stays so through later relists, during which
    /// the store keeps its content until the relist ends.
    pub fn is_ready(&self) -> bool {
        self.reader
            .wait_until_ready()
            .now_or_never()
            .is_some_and(|ready| ready.is_ok())
    }
}

impl<K> Cache<K>
where
    K: Lookup<DynamicType = ()> + Clone + 'static,
{
    /// The cached object `namespace/name` (namespace None for cluster-scoped kinds).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        let mut reference = ObjectRef::<K>::new(name);
        if let Some(namespace) = namespace {
            reference = reference.within(namespace);
        }
        self.reader.get(&reference)
    }
}

/// `namespace/name` of a credentials Secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl SecretKey {
    /// The credentials Secret `tenant` references.
    pub fn of(tenant: &AuthTenant) -> Self {
        let reference = &tenant.spec.credentials_secret_ref;
        Self {
            namespace: reference.namespace.clone(),
            name: reference.name.clone(),
        }
    }
}

/// What the cache knows about one credentials Secret.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// Its watch has not delivered the initial state yet.
    Syncing,
    /// The Secret as last seen.
    Present(Arc<Secret>),
    /// The Secret does not exist.
    Absent,
    /// The API server refuses the operator's list/watch of the Secret (403): the operator's
    /// ServiceAccount lacks the grant. The watch keeps retrying (with backoff), so a grant
    /// added later is picked up.
    Forbidden,
}

/// The credentials Secrets referenced by AuthTenants, each kept current by its own watch
/// (`fieldSelector=metadata.name=<name>` in its namespace), so the operator never lists or
/// caches other Secrets.
#[derive(Default)]
pub struct CredentialsCache {
    entries: Mutex<HashMap<SecretKey, Credentials>>,
}

impl CredentialsCache {
    /// The state of `key`; None when nothing watches it.
    pub fn get(&self, key: &SecretKey) -> Option<Credentials> {
        lock(&self.entries).get(key).cloned()
    }

    /// Records the state of `key`; returns whether it changed (data or presence).
    pub fn set(&self, key: &SecretKey, state: Credentials) -> bool {
        let mut entries = lock(&self.entries);
        let changed = match (entries.get(key), &state) {
            (Some(Credentials::Present(old)), Credentials::Present(new)) => old.data != new.data,
            (Some(Credentials::Absent), Credentials::Absent)
            | (Some(Credentials::Syncing), Credentials::Syncing)
            | (Some(Credentials::Forbidden), Credentials::Forbidden) => false,
            _ => true,
        };
        entries.insert(key.clone(), state);
        changed
    }

    /// Forgets `key` (its watch was stopped).
    pub fn remove(&self, key: &SecretKey) {
        lock(&self.entries).remove(key);
    }

    /// Every key currently tracked.
    pub fn keys(&self) -> Vec<SecretKey> {
        lock(&self.entries).keys().cloned().collect()
    }
}

/// The AuthClients as the operator's own metadata writes left them (the API server's answer),
/// passed to the AuthClient cache without waiting for the watch to deliver them
/// ([`crate::eager`]). Nothing is kept unless the controller runs ([`OwnWrites::subscribe`]).
#[derive(Default)]
pub struct OwnWrites {
    tx: Mutex<Option<futures::channel::mpsc::UnboundedSender<nexus_crd::AuthClient>>>,
}

impl OwnWrites {
    /// The stream of the writes observed from now on (replaces an earlier subscriber).
    pub fn subscribe(&self) -> futures::channel::mpsc::UnboundedReceiver<nexus_crd::AuthClient> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        *lock(&self.tx) = Some(tx);
        rx
    }

    /// Passes `client`, as the API server answered a write of the operator, to the subscriber.
    pub fn observe(&self, client: nexus_crd::AuthClient) {
        if let Some(tx) = lock(&self.tx).as_ref() {
            let _ = tx.unbounded_send(client);
        }
    }
}

/// Every cache the reconcilers read.
#[derive(Default)]
pub struct Caches {
    /// AuthTenants (cluster-scoped).
    pub tenants: Cache<AuthTenant>,
    /// Metadata of the served Namespaces (labels for `allowedNamespaces.selector`).
    pub namespaces: Cache<PartialObjectMeta<Namespace>>,
    /// Secrets carrying the operator's managed-by label (in the served namespaces), as
    /// metadata and value digests in a compact index: no credential is kept.
    pub owned_secrets: OwnedSecrets,
    /// AuthResourceServers (in the served namespaces).
    pub resource_servers: Cache<AuthResourceServer>,
    /// The credentials Secrets referenced by AuthTenants.
    pub credentials: CredentialsCache,
    /// The operator's own AuthClient metadata writes, for the AuthClient cache.
    pub own_clients: OwnWrites,
}

/// The label selector of the Secrets the operator owns.
pub fn owned_secret_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

/// The annotation `kubectl apply` (client-side) writes: a copy of the whole applied object.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what the controller never reads from a cached object: `managedFields` (often the
/// largest part of an object), the last-applied copy of client-side `kubectl apply`, and the
/// self link.
pub fn strip<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    meta.self_link = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Objects per page of the initial list of the watches that grow with the fleet (AuthClients,
/// owned Secrets). A page is held twice while it is decoded (the response text and the typed
/// objects, `managedFields` included, before they are stripped); 100 keeps that under a few
/// MiB where kube's default of 500 made it the largest part of the peak, for one list request
/// per 100 objects at (re)start.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The watch configuration of the caches that grow with the fleet.
pub fn fleet_watch() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE_SIZE)
}

/// A watch event of owned Secrets as the cache keeps them ([`ObservedSecret`]).
pub fn observe_secrets(event: watcher::Event<Secret>) -> watcher::Event<ObservedSecret> {
    map_event(event, observe_secret)
}

/// An owned Secret as the cache keeps it: stripped ([`strip`]), then observed
/// ([`ObservedSecret::observe`]: metadata and digests, no value).
pub fn observe_secret(mut secret: Secret) -> ObservedSecret {
    strip(&mut secret);
    ObservedSecret::observe(&secret)
}

/// Whether the owned-Secret cache would hold `secret`: it carries the label its list and watch
/// select by ([`owned_secret_selector`]).
pub fn is_selected_as_owned(secret: &Secret) -> bool {
    secret.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// `event` with its object, if it carries one, converted by `convert` (kube's `Event::modify`
/// changes an object in place; a cache that keeps another type needs this).
pub fn map_event<K, T>(
    event: watcher::Event<K>,
    mut convert: impl FnMut(K) -> T,
) -> watcher::Event<T> {
    match event {
        watcher::Event::Apply(obj) => watcher::Event::Apply(convert(obj)),
        watcher::Event::Delete(obj) => watcher::Event::Delete(convert(obj)),
        watcher::Event::InitApply(obj) => watcher::Event::InitApply(convert(obj)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

impl Caches {
    /// Fills every cache with one list of each resource over `scope` (and one list by name of
    /// each referenced credentials Secret), as the watches' initial lists do. For callers that
    /// reconcile without running the watches (one-shot tools, tests that drive single passes).
    /// `scope` is a [`WatchScope`] or the old `Option<String>` (None: all namespaces).
    pub async fn prime(
        &self,
        kube: &kube::Client,
        scope: impl Into<WatchScope>,
    ) -> Result<(), kube::Error> {
        let scope = scope.into();
        let tenants = Api::<AuthTenant>::all(kube.clone())
            .list(&ListParams::default())
            .await?
            .items;
        let namespaces_api = Api::<Namespace>::all(kube.clone());
        let owned_params = ListParams::default().labels(&owned_secret_selector());
        let (namespaces, owned) = match scope.namespaces() {
            None => (
                namespaces_api
                    .list_metadata(&ListParams::default())
                    .await?
                    .items,
                Api::<Secret>::all(kube.clone())
                    .list(&owned_params)
                    .await?
                    .items,
            ),
            Some(served) => {
                let mut namespaces = Vec::new();
                let mut owned = Vec::new();
                for ns in served {
                    let by_name = ListParams::default().fields(&format!("metadata.name={ns}"));
                    namespaces.extend(namespaces_api.list_metadata(&by_name).await?.items);
                    owned.extend(
                        Api::<Secret>::namespaced(kube.clone(), ns)
                            .list(&owned_params)
                            .await?
                            .items,
                    );
                }
                (namespaces, owned)
            }
        };
        let servers = match list_servers(kube, &scope).await {
            Ok(servers) => servers,
            // The AuthResourceServer CRD is not installed: there is none.
            Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
            Err(error) => return Err(error),
        };
        let mut keys: Vec<SecretKey> = tenants.iter().map(SecretKey::of).collect();
        keys.sort();
        keys.dedup();
        for key in &keys {
            // A list by name, as the credentials watch's initial list: the same grant suffices.
            let secret = Api::<Secret>::namespaced(kube.clone(), &key.namespace)
                .list(&ListParams::default().fields(&format!("metadata.name={}", key.name)))
                .await
                .map(|list| list.items.into_iter().next());
            let state = match secret {
                Ok(Some(mut secret)) => {
                    strip(&mut secret);
                    Credentials::Present(Arc::new(secret))
                }
                Ok(None) => Credentials::Absent,
                Err(kube::Error::Api(status)) if status.code == 403 => Credentials::Forbidden,
                Err(error) => return Err(error),
            };
            self.credentials.set(key, state);
        }
        for stale in self.credentials.keys() {
            if !keys.contains(&stale) {
                self.credentials.remove(&stale);
            }
        }
        self.tenants.replace(stripped(tenants));
        self.namespaces.replace(stripped(namespaces));
        self.owned_secrets
            .replace(scope.partitions(), owned.into_iter().map(observe_secret));
        self.resource_servers.replace(stripped(servers));
        Ok(())
    }

    /// The owned Secret `namespace/name` as the owned-Secret cache shows it, also before that
    /// cache has listed the namespace (a restart with 100,000 owned Secrets lists them in
    /// 1,000 pages; AuthClient passes do not wait for them). The one way a pass reads its
    /// Secret.
    ///
    /// A Secret the cache holds is answered from it (it holds what the list delivered so far,
    /// and every change since), and so is any Secret once a list covering its namespace has
    /// completed: no request is sent (both read under one lock: `OwnedSecrets::lookup`). Before
    /// that, a Secret the cache does not hold yet is
    /// read with one GET by name in its namespace, and kept only if the cache would hold it
    /// (the label the cache selects by, [`is_selected_as_owned`]), observed as the cache
    /// observes it ([`observe_secret`]): the caller applies the same ownership check to either
    /// answer (the controlling owner reference names its AuthClient's uid). So a pass that
    /// starts while the list still pages in never takes a Secret that exists for missing, and
    /// trusts no Secret it would not trust from the cache. Cost: at most one GET per pass
    /// before the list completes, none after.
    pub async fn owned_secret(
        &self,
        kube: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObservedSecret>, kube::Error> {
        match self.owned_secrets.lookup(namespace, name) {
            owned_secrets::Lookup::Cached(cached) => return Ok(Some(cached)),
            owned_secrets::Lookup::Absent => return Ok(None),
            owned_secrets::Lookup::Unknown => {}
        }
        let found = Api::<Secret>::namespaced(kube.clone(), namespace)
            .get_opt(name)
            .await?;
        Ok(found.filter(is_selected_as_owned).map(observe_secret))
    }

    /// The labels of namespace `name` (empty when it is not cached).
    pub fn namespace_labels(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        self.namespaces
            .get(None, name)
            .and_then(|ns| ns.metadata.labels.clone())
            .unwrap_or_default()
    }

    /// Every cached AuthResourceServer.
    pub fn servers(&self) -> Vec<Arc<AuthResourceServer>> {
        self.resource_servers.reader().state()
    }

    /// The cached tenant `name`.
    pub fn tenant(&self, name: &str) -> Option<Arc<AuthTenant>> {
        self.tenants.get(None, name)
    }

    /// Names of the tenants whose credentials Secret is `key`.
    pub fn tenants_using(&self, key: &SecretKey) -> Vec<ObjectRef<AuthTenant>> {
        self.tenants
            .reader()
            .state()
            .iter()
            .filter(|t| SecretKey::of(t) == *key)
            .map(|t| ObjectRef::new(&t.name_any()))
            .collect()
    }
}

/// The AuthResourceServers of the served namespaces.
async fn list_servers(
    kube: &kube::Client,
    scope: &WatchScope,
) -> Result<Vec<AuthResourceServer>, kube::Error> {
    let Some(served) = scope.namespaces() else {
        return Ok(Api::<AuthResourceServer>::all(kube.clone())
            .list(&ListParams::default())
            .await?
            .items);
    };
    let mut servers = Vec::new();
    for ns in served {
        servers.extend(
            Api::<AuthResourceServer>::namespaced(kube.clone(), ns)
                .list(&ListParams::default())
                .await?
                .items,
        );
    }
    Ok(servers)
}

fn stripped<K: Resource>(mut objects: Vec<K>) -> Vec<K> {
    objects.iter_mut().for_each(strip);
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_fake::{FakeKube, Verb};

    /// The Secret the operator writes for the AuthClient `owner` of team-a.
    fn written(owner: &str) -> Secret {
        crate::testing::written_secret(&crate::testing::owner("team-a", owner), "s3cr3t")
    }

    #[tokio::test]
    async fn a_secret_not_cached_before_its_namespace_is_listed_is_read_once_by_name() {
        let kube = FakeKube::new();
        let client = kube.client();
        let owned = written("orders");
        let mut unlabelled = written("billing");
        unlabelled.metadata.labels = None;
        for secret in [&owned, &unlabelled] {
            kube.insert(serde_json::to_value(secret).expect("json"));
        }
        let caches = Caches::default();
        let other = ObservedSecret::observe(&written("other"));
        for event in [watcher::Event::Init, watcher::Event::InitApply(other)] {
            caches.owned_secrets.apply("team-a", &event);
        }
        let gets = || kube.request_counts().get(Verb::Get, "secrets");
        let before = gets();
        let found = caches
            .owned_secret(&client, "team-a", "orders-auth0")
            .await
            .expect("read");
        assert_eq!(found, Some(ObservedSecret::observe(&owned)));
        assert_eq!(gets() - before, 1, "one GET by name");
        let found = caches
            .owned_secret(&client, "team-a", "billing-auth0")
            .await
            .expect("read");
        assert_eq!(
            found, None,
            "a Secret the cache would not hold is not taken"
        );
        caches
            .owned_secrets
            .apply("team-a", &watcher::Event::InitDone);
        let listed = gets();
        let found = caches
            .owned_secret(&client, "team-a", "orders-auth0")
            .await
            .expect("read");
        assert_eq!(found, None, "once listed, the cache alone answers");
        assert_eq!(gets(), listed, "no further GET");
    }
}
