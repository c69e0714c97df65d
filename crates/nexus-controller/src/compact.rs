//! The AuthClient as the controller's cache holds it.
//!
//! A typed [`AuthClient`] takes about 2.7 KB in memory (1.3 KB of mostly-`None` fields stored
//! inline, as much again for its strings and vectors); with 10,000 AuthClients the store was
//! the largest part of the operator's heap. [`CachedAuthClient`] keeps what the controller's
//! machinery reads on every event (name, namespace, generation, deletion), the tenant and the
//! trigger hash that wake-ups filter on, and the rest of the object (uid, resourceVersion and
//! finalizers included) as compact JSON, decoded only when the object is reconciled or
//! inspected.
//!
//! The JSON is stored with the keys and defaults every AuthClient repeats (`"apiVersion":...`,
//! the default `secret.keys`, the Ready condition's shape, ...) replaced by one byte each
//! ([`pack`]; a byte below 0x20 never occurs in serde_json's output, control characters in
//! strings are escaped): the fleet benchmark's 1.2 KB become about 0.5 KB, which at 100,000
//! AuthClients is tens of MiB of the operator's memory (docs/scaling.md).

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, ROTATE_ANNOTATION};
use serde::{Deserialize, Deserializer};

use crate::caches::{map_event, strip};

/// An AuthClient in the controller's cache (see the module documentation).
#[derive(Clone, Debug)]
pub struct CachedAuthClient {
    /// The metadata kube's controller and reflector read; the rest is in `encoded`.
    metadata: ObjectMeta,
    tenant: Box<str>,
    trigger: Option<u64>,
    /// `status.clientId` while the AuthClient is Ready: what the drift scan matches listed
    /// clients with, without decoding the object.
    ready_client_id: Option<Box<str>>,
    /// The object without the fields kept in `metadata`, as JSON packed by [`pack`].
    encoded: Box<[u8]>,
    /// The list (or watch) that delivered it ([`crate::eager`]).
    list: u32,
    /// Whether this version starts a pass ([`mark_wake`]).
    wakes: bool,
}

/// The cached object could not be decoded (it was encoded from a typed AuthClient, so this is
/// a defect, not a user error).
#[derive(Debug, thiserror::Error)]
#[error("decoding the cached AuthClient: {0}")]
pub struct DecodeError(#[source] serde_json::Error);

impl CachedAuthClient {
    /// Keeps `client`, stripped of what the controller never reads ([`strip`]).
    pub fn new(mut client: AuthClient) -> Self {
        strip(&mut client);
        let trigger = trigger_hash(&client);
        let meta = &mut client.metadata;
        // The uid, resourceVersion and finalizers stay in the JSON: kept in `metadata`, each
        // would be a string of its own, and the uid and resourceVersion a second time in the
        // store's key (kube's object reference copies them).
        let metadata = ObjectMeta {
            name: meta.name.take(),
            namespace: meta.namespace.take(),
            generation: meta.generation.take(),
            deletion_timestamp: meta.deletion_timestamp.take(),
            ..ObjectMeta::default()
        };
        let tenant = client.spec.tenant.as_str().into();
        // Kept once: out of the JSON while Ready, put back by `decode`.
        let ready_client_id = client.status.as_mut().and_then(|s| {
            let ready = conditions::is_true(&s.conditions, READY);
            s.client_id.take_if(|_| ready).map(Box::from)
        });
        // Serialising a typed object cannot fail (all its map keys are strings); if it ever
        // did, decoding the empty body reports it.
        let encoded = pack(&serde_json::to_vec(&client).unwrap_or_default()).into();
        Self {
            metadata,
            tenant,
            trigger,
            ready_client_id,
            encoded,
            list: 0,
            wakes: true,
        }
    }

    /// The whole AuthClient.
    pub fn decode(&self) -> Result<AuthClient, DecodeError> {
        let mut client: AuthClient =
            serde_json::from_slice(&unpack(&self.encoded)).map_err(DecodeError)?;
        let meta = &mut client.metadata;
        meta.name.clone_from(&self.metadata.name);
        meta.namespace.clone_from(&self.metadata.namespace);
        meta.generation = self.metadata.generation;
        meta.deletion_timestamp
            .clone_from(&self.metadata.deletion_timestamp);
        if let (Some(id), Some(status)) = (&self.ready_client_id, client.status.as_mut()) {
            status.client_id = Some(id.to_string());
        }
        Ok(client)
    }

    /// `spec.tenant`.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// `status.clientId` when the AuthClient is Ready (its Auth0 client exists and matched
    /// the spec when last reconciled); `None` otherwise.
    pub fn ready_client_id(&self) -> Option<&str> {
        self.ready_client_id.as_deref()
    }

    /// [`trigger_hash`] of the object: what wakes the controller.
    pub fn trigger(&self) -> Option<u64> {
        self.trigger
    }

    /// Whether this version of the object starts a pass, as [`mark_wake`] decided when the
    /// watch delivered it.
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    /// The reference of the AuthClient (for wake-ups and findings).
    pub fn reference(&self) -> ObjectRef<AuthClient> {
        let client = ObjectRef::new(self.metadata.name.as_deref().unwrap_or_default());
        match &self.metadata.namespace {
            Some(namespace) => client.within(namespace),
            None => client,
        }
    }
}

impl crate::eager::Listed for CachedAuthClient {
    fn set_list(&mut self, list: u32) {
        self.list = list;
    }

    fn list(&self) -> u32 {
        self.list
    }
}

/// What [`pack`] replaces with one byte (the byte is 1 + the index): keys and values that every
/// AuthClient's JSON repeats, in serde_json's field order. Where one token starts another, the
/// longer comes first. Changing the list only changes what a running process stores (the
/// cache is not persisted).
const TOKENS: [&str; 31] = [
    r#"{"apiVersion":"auth.nexus.dev/v1alpha1","kind":"AuthClient","metadata":{"#,
    r#""secret":{"keys":{"clientId":"AUTH0_CLIENT_ID","clientSecret":"AUTH0_CLIENT_SECRET","domain":"AUTH0_DOMAIN","issuerBaseUrl":"AUTH0_ISSUER_BASE_URL","audience":"AUTH0_AUDIENCE"}}"#,
    r#""deletionPolicy":"Delete","driftPolicy":"Correct","adoptionPolicy":"IfUnowned"}"#,
    r#""status":{"observedGeneration":"#,
    r#""conditions":[{"lastTransitionTime":""#,
    r#"","message":"The Auth0 client matches the spec","observedGeneration":"#,
    r#","reason":"Synced","status":"True","type":"Ready"}]"#,
    r#""observedGeneration":"#,
    r#""lastTransitionTime":""#,
    r#""message":""#,
    r#""reason":""#,
    r#""clientId":""#,
    r#""tenant":""#,
    r#""secretName":""#,
    r#""lastSyncTime":""#,
    r#""creationTimestamp":""#,
    r#""annotations":{"#,
    r#""labels":{"#,
    r#""spec":{"#,
    r#""client":{"name":""#,
    r#""app_type":""#,
    r#""callbacks":[""#,
    r#""allowed_logout_urls":[""#,
    r#""allowed_origins":[""#,
    r#""web_origins":[""#,
    r#""client_metadata":{"#,
    r#""grant_types":[""#,
    r#""https://"#,
    r#""auth.nexus.dev/"#,
    r#""grants":[{"audience":""#,
    r#""connections":[""#,
];

/// `json` (serde_json's output) with each [`TOKENS`] entry replaced by its byte; the first
/// (listed earlier) token matching at a position wins.
fn pack(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut rest = json;
    'outer: while let Some((&first, tail)) = rest.split_first() {
        if matches!(first, b'"' | b'{' | b',') {
            for (index, token) in TOKENS.iter().enumerate() {
                if rest.starts_with(token.as_bytes()) {
                    // Fewer than 32 tokens: the byte is 1..=31.
                    out.push(index as u8 + 1);
                    rest = &rest[token.len()..];
                    continue 'outer;
                }
            }
        }
        out.push(first);
        rest = tail;
    }
    out.shrink_to_fit();
    out
}

/// The JSON [`pack`] packed.
fn unpack(packed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed.len() * 2);
    for &byte in packed {
        match TOKENS.get(usize::from(byte).wrapping_sub(1)) {
            Some(token) if byte < 0x20 => out.extend_from_slice(token.as_bytes()),
            _ => out.push(byte),
        }
    }
    out
}

/// The same object reference, typed for the cache.
pub fn cached_ref(reference: ObjectRef<AuthClient>) -> ObjectRef<CachedAuthClient> {
    let cached = ObjectRef::new(&reference.name);
    match reference.namespace {
        Some(namespace) => cached.within(&namespace),
        None => cached,
    }
}

/// A watch event of AuthClients as the cache keeps them: stripped, then compacted.
pub fn cache_event(event: watcher::Event<AuthClient>) -> watcher::Event<CachedAuthClient> {
    map_event(event, CachedAuthClient::new)
}

impl Resource for CachedAuthClient {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        AuthClient::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        AuthClient::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        AuthClient::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        AuthClient::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<'de> Deserialize<'de> for CachedAuthClient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AuthClient::deserialize(deserializer).map(Self::new)
    }
}

/// Decides whether the object `event` applies starts a pass ([`CachedAuthClient::wakes`]),
/// comparing it with the version `store` holds, which it is about to replace: it does when
/// the store has no version of it (a new object, or the first list), and when its
/// [`trigger_hash`] differs (which covers the uid: deleted and created again). Called just before the
/// reflector that writes `store` applies `event` (the only writer of the store, so the stored
/// version is the one replaced).
///
/// What kube's `predicate_filter` decides, without its cache: that keeps a hash entry per
/// object (name, namespace and uid as three strings, about 250 bytes with the table) beside
/// the store, which already holds the previous version and its trigger.
pub fn mark_wake(store: &Store<CachedAuthClient>, event: &mut watcher::Event<CachedAuthClient>) {
    if let watcher::Event::Apply(object) | watcher::Event::InitApply(object) = event {
        let reference =
            ObjectRef::<CachedAuthClient>::new(object.metadata.name.as_deref().unwrap_or_default());
        let reference = match object.metadata.namespace.as_deref() {
            Some(namespace) => reference.within(namespace),
            None => reference,
        };
        object.wakes = match (store.get(&reference), object.trigger) {
            (Some(stored), Some(trigger)) => stored.trigger != Some(trigger),
            _ => true,
        };
    }
}

/// The AuthClient cache fed by `events` (the watches' events, each with its partition, and the
/// operator's own writes: [`crate::eager`]), as the controller's trigger stream: every event
/// is applied to the store of `writer` (whose reader is `store`) as soon as it arrives, and the
/// objects that start a pass ([`mark_wake`]) come out.
pub fn cache_and_trigger<S>(
    events: S,
    store: Store<CachedAuthClient>,
    writer: Writer<CachedAuthClient>,
) -> impl futures::Stream<Item = Result<CachedAuthClient, watcher::Error>> + Send + 'static
where
    S: futures::Stream<Item = (Arc<str>, watcher::Result<watcher::Event<CachedAuthClient>>)>
        + Send
        + 'static,
{
    use futures::TryStreamExt as _;
    use kube::runtime::WatchStreamExt as _;
    crate::eager::eager(events, store.clone())
        .map_ok(move |mut event| {
            mark_wake(&store, &mut event);
            event
        })
        .reflect(writer)
        .applied_objects()
        .try_filter(|client| std::future::ready(client.wakes()))
}

/// What wakes the AuthClient controller: the uid (an object deleted and created again), the
/// spec (generation, which the API server also bumps when it sets `deletionTimestamp`), the
/// deletion and the rotate annotation. The operator's
/// own writes (the finalizer and crash-safety marker, the status) change none of these, so
/// they never start another pass; a finalizer removed by hand is put back by the resync.
pub fn trigger_hash(obj: &AuthClient) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    obj.metadata.uid.hash(&mut hasher);
    obj.metadata.generation.hash(&mut hasher);
    obj.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    obj.annotations().get(ROTATE_ANNOTATION).hash(&mut hasher);
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> AuthClient {
        serde_json::from_value(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
            "metadata": {
                "name": "web", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42",
                "generation": 3, "finalizers": ["auth.nexus.dev/cleanup"],
                "labels": {"app": "web"}, "annotations": {"auth.nexus.dev/rotate-secret": "1"},
                "creationTimestamp": "2026-12-01T00:00:00Z"
            },
            "spec": {"tenant": "acme", "client": {"name": "Web", "app_type": "spa",
                     "callbacks": ["https://web.example/cb"]}},
            "status": {"observedGeneration": 3, "clientId": "abc", "conditions": [
                {"type": "Ready", "status": "True", "reason": "Synced", "message": "in sync",
                 "lastTransitionTime": "2026-12-01T00:00:00Z", "observedGeneration": 3}]}
        }))
        .expect("a valid AuthClient")
    }

    #[test]
    fn decoding_gives_back_the_object() {
        let original = client();
        let cached = CachedAuthClient::new(original.clone());
        let decoded = cached.decode().expect("decodes");
        assert_eq!(
            serde_json::to_value(&decoded).expect("json"),
            serde_json::to_value(&original).expect("json")
        );
        assert_eq!(cached.tenant(), "acme");
        assert_eq!(cached.meta().name.as_deref(), Some("web"));
        assert_eq!(cached.meta().resource_version, None, "kept in the JSON");
        assert_eq!(decoded.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(decoded.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(cached.reference(), ObjectRef::from_obj(&original));
    }

    #[test]
    fn the_client_id_is_kept_only_while_ready() {
        assert_eq!(
            CachedAuthClient::new(client()).ready_client_id(),
            Some("abc")
        );
        let mut not_ready = client();
        if let Some(status) = not_ready.status.as_mut() {
            status.conditions[0].status = "False".into();
        }
        assert_eq!(CachedAuthClient::new(not_ready).ready_client_id(), None);
        let mut no_id = client();
        if let Some(status) = no_id.status.as_mut() {
            status.client_id = None;
        }
        assert_eq!(CachedAuthClient::new(no_id).ready_client_id(), None);
    }

    #[test]
    fn the_trigger_is_the_objects_trigger_hash() {
        let original = client();
        let cached = CachedAuthClient::new(original.clone());
        assert_eq!(cached.trigger(), trigger_hash(&original));
        let mut rotated = original.clone();
        rotated
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(nexus_crd::ROTATE_ANNOTATION.into(), "2".into());
        assert_ne!(CachedAuthClient::new(rotated).trigger(), cached.trigger());
        let mut status_only = original;
        status_only.status = None;
        assert_eq!(
            CachedAuthClient::new(status_only).trigger(),
            cached.trigger()
        );
    }

    #[test]
    fn packing_gives_back_the_json_and_shrinks_it() {
        let json = serde_json::to_vec(&client()).expect("json");
        let packed = pack(&json);
        assert_eq!(unpack(&packed), json);
        assert!(
            packed.len() * 10 < json.len() * 7,
            "{} of {}",
            packed.len(),
            json.len()
        );
        // Strings holding the tokens' text, escapes and control characters survive.
        let mut tricky = client();
        tricky.spec.client.name =
            "\"spec\":{ \"https:// \n \u{1} \u{1f} {\"apiVersion\":\"auth.nexus.dev/v1alpha1\""
                .into();
        let json = serde_json::to_vec(&tricky).expect("json");
        assert!(
            json.iter().all(|b| *b >= 0x20),
            "serde_json escapes control characters"
        );
        assert_eq!(unpack(&pack(&json)), json);
        let decoded = CachedAuthClient::new(tricky.clone())
            .decode()
            .expect("decodes");
        assert_eq!(decoded.spec.client.name, tricky.spec.client.name);
    }

    #[test]
    fn the_cached_entry_is_smaller_than_the_typed_object() {
        let cached = CachedAuthClient::new(client());
        let typed = std::mem::size_of::<AuthClient>();
        let compact = std::mem::size_of::<CachedAuthClient>() + cached.encoded.len();
        assert!(compact < typed, "{compact} >= {typed}");
    }
}
