//! The object store: objects, resource versions, managed fields, the watch event log and
//! deletion / garbage-collection semantics.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::crd;
use super::error::ApiError;
use super::merge::{FieldPath, PathElem, field_paths, parse_fields_v1, render_fields_v1, value_at};
use super::registry::{Registry, ResourceType};
use super::schema;

/// How many watch events are retained; watches from older resource versions get 410 Expired.
const MAX_LOG: usize = 50_000;

/// Identity of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjKey {
    pub group: String,
    pub plural: String,
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(rt: &ResourceType, namespace: Option<&str>, name: &str) -> Self {
        Self {
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: if rt.namespaced {
                namespace.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// One `metadata.managedFields` entry, with the field set used by server-side apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManagerEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: &'static str,
    /// `""` or `status`.
    pub subresource: String,
    pub time: String,
    pub fields: BTreeSet<FieldPath>,
}

impl ManagerEntry {
    fn is(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

/// Record (or refresh) an `Update` entry for `manager`.
pub(crate) fn touch_update(managers: &mut Vec<ManagerEntry>, manager: &str, subresource: &str) {
    let time = now();
    match managers
        .iter_mut()
        .find(|e| e.is(manager, "Update", subresource))
    {
        Some(entry) => entry.time = time,
        None => managers.push(ManagerEntry {
            manager: manager.to_string(),
            operation: "Update",
            subresource: subresource.to_string(),
            time,
            fields: BTreeSet::new(),
        }),
    }
}

/// The fields a non-apply write sets, as the real server's field manager records them: every
/// leaf (and new list item) of the written object, within what the (sub)resource writes, whose
/// value differs from `old` (`Value::Null` on create: everything it sets).
pub(crate) fn updated_paths(
    rt: &ResourceType,
    subresource: &str,
    old: &Value,
    new: &Value,
) -> BTreeSet<FieldPath> {
    let mut scoped = new.clone();
    if let Some(map) = scoped.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if subresource == "status" {
            map.retain(|k, _| k == "status");
        } else if rt.status_subresource {
            map.remove("status");
        }
        let mut empty_meta = false;
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            meta.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "labels" | "annotations" | "finalizers" | "ownerReferences"
                )
            });
            empty_meta = meta.is_empty();
        }
        if empty_meta {
            map.remove("metadata");
        }
    }
    field_paths(&scoped)
        .into_iter()
        .filter(|path| match path.last() {
            Some(PathElem::Field(_)) => value_at(old, path) != value_at(new, path),
            // A list item is set by the write that added it.
            _ => value_at(old, path).is_none(),
        })
        .collect()
}

/// Records an `Update` by `manager` that set `changed`: it owns them from now on and every other
/// manager loses them; a manager left owning nothing disappears from `managedFields`.
pub(crate) fn record_update(
    managers: &mut Vec<ManagerEntry>,
    manager: &str,
    subresource: &str,
    changed: BTreeSet<FieldPath>,
) {
    for entry in managers.iter_mut() {
        if !entry.is(manager, "Update", subresource) {
            entry.fields.retain(|p| !changed.contains(p));
        }
    }
    touch_update(managers, manager, subresource);
    if let Some(entry) = managers
        .iter_mut()
        .find(|e| e.is(manager, "Update", subresource))
    {
        entry.fields.extend(changed);
    }
    managers.retain(|e| !e.fields.is_empty());
}

/// Record the field set of an `Apply` by `manager`.
pub(crate) fn set_apply(
    managers: &mut Vec<ManagerEntry>,
    manager: &str,
    subresource: &str,
    fields: BTreeSet<FieldPath>,
) {
    let time = now();
    match managers
        .iter_mut()
        .find(|e| e.is(manager, "Apply", subresource))
    {
        Some(entry) => {
            entry.time = time;
            entry.fields = fields;
        }
        None => managers.push(ManagerEntry {
            manager: manager.to_string(),
            operation: "Apply",
            subresource: subresource.to_string(),
            time,
            fields,
        }),
    }
}

/// A stored object plus its field-manager bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub value: Value,
    pub managers: Vec<ManagerEntry>,
}

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One entry of the watch event log.
#[derive(Debug, Clone)]
pub(crate) struct LogEvent {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub kind: EventType,
    pub object: Value,
    /// The object before a MODIFIED event (for selector transitions).
    pub prev: Option<Value>,
}

/// Options of a DELETE.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOpts {
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub orphan: bool,
    pub dry_run: bool,
}

/// What the server does with fields a custom resource's schema does not declare
/// (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (`Warning` header); the server's default.
    #[default]
    Warn,
    /// Refuse the write (400).
    Strict,
}

impl FieldValidation {
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other:?}; supported values are Ignore, Warn and Strict"
            ))),
        }
    }
}

/// Who performs a write and how.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub manager: String,
    pub subresource: Option<String>,
    pub dry_run: bool,
    pub field_validation: FieldValidation,
}

impl Writer {
    pub fn sub(&self) -> &str {
        self.subresource.as_deref().unwrap_or("")
    }
}

/// All objects and the event log.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub registry: Registry,
    objects: BTreeMap<ObjKey, Stored>,
    rv: u64,
    uid_counter: u64,
    log: VecDeque<LogEvent>,
    /// Events with `rv <= trimmed_rv` were dropped from the log.
    trimmed_rv: u64,
    /// Refuse to create namespaced objects in a namespace that has no Namespace object, as the
    /// real API server's NamespaceLifecycle admission does (opt-in: most tests never create
    /// Namespaces).
    pub require_namespaces: bool,
    /// Warnings for the response to the request being served (`Warning` headers).
    pub warnings: Vec<String>,
    /// How many objects paged lists have read from the store (see [`Store::list_after`]).
    examined: AtomicU64,
}

/// The current time in the API server's RFC 3339 format.
pub(crate) fn now() -> String {
    let ts = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", ts)
        .unwrap_or_else(|_| ts.to_string())
}

fn meta(value: &Value) -> Option<&Map<String, Value>> {
    value.get("metadata").and_then(Value::as_object)
}

/// `metadata` as a mutable map, created when missing (a non-object `value` becomes `{}`).
pub(crate) fn meta_mut(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    let meta = &mut value["metadata"];
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(map) => map,
        _ => unreachable!("metadata was just made an object"),
    }
}

fn meta_str<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    meta(value)
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

/// The object's `metadata.finalizers` (empty when absent).
pub(crate) fn finalizers(value: &Value) -> Vec<String> {
    meta(value)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn is_deleting(value: &Value) -> bool {
    meta(value).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|t| !t.is_null()))
}

/// The object without `resourceVersion` and `managedFields`, for no-op detection.
fn content(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(Value::Object(m)) = v.get_mut("metadata") {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

/// Everything outside `metadata` and `status` (and the type fields): changes bump `generation`.
fn spec_part(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(m) = v.as_object_mut() {
        for key in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(key);
        }
    }
    v
}

fn bump_generation(value: &mut Value) {
    let meta = meta_mut(value);
    let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
    meta.insert("generation".into(), json!(generation + 1));
}

/// Secrets: fold `stringData` into base64 `data`, like the real API server.
fn fold_string_data(rt: &ResourceType, value: &mut Value) {
    if !(rt.group.is_empty() && rt.plural == "secrets") {
        return;
    }
    let Some(Value::Object(string_data)) =
        value.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    let Some(map) = value.as_object_mut() else {
        return;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(data) = data {
        for (k, v) in string_data {
            let raw = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            data.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(raw)),
            );
        }
    }
}

/// CustomResourceDefinitions: the real API server's apiextensions controller accepts the names
/// and marks a new CRD `Established` shortly after it is created; the fake does it at once, so
/// clients waiting for the condition (`kubectl wait`, `await_condition`) see it.
fn establish_crd(rt: &ResourceType, value: &mut Value) {
    if rt.group != "apiextensions.k8s.io" || rt.plural != "customresourcedefinitions" {
        return;
    }
    let names = value
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let stored_versions = storage_versions(value.get("spec"));
    let time = now();
    let condition = |type_: &str, reason: &str, message: &str| {
        json!({
            "type": type_,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": time,
        })
    };
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "storedVersions": stored_versions,
                "conditions": [
                    condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                    condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
            }),
        );
    }
}

/// The names of the storage versions of a CRD spec.
fn storage_versions(spec: Option<&Value>) -> Value {
    let versions = spec
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Value::Array(versions)
}

/// Secrets: `type` defaults to `Opaque`, like the real API server.
fn default_secret_type(rt: &ResourceType, value: &mut Value) {
    if rt.group.is_empty()
        && rt.plural == "secrets"
        && let Some(map) = value.as_object_mut()
    {
        map.entry("type").or_insert_with(|| json!("Opaque"));
    }
}

fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => map.insert(key.to_string(), v),
        None => map.remove(key),
    };
}

impl Store {
    /// The latest resource version handed out.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Drops the event log up to now.
    pub fn compact(&mut self) {
        self.log.clear();
        self.trimmed_rv = self.rv;
    }

    /// The oldest resource version the event log still covers: older watches and continue
    /// tokens are expired (what etcd's compaction does).
    pub fn compacted_rv(&self) -> u64 {
        self.trimmed_rv
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uid_counter)
    }

    /// A stored object.
    /// How many objects are stored (of every kind).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key).map(|s| &s.value)
    }

    /// The stored object with its managers.
    pub fn get_stored(&self, key: &ObjKey) -> Option<&Stored> {
        self.objects.get(key)
    }

    /// Objects of one resource, optionally restricted to a namespace, ordered by namespace/name.
    pub fn list(&self, group: &str, plural: &str, namespace: Option<&str>) -> Vec<&Value> {
        // Keys are ordered by group, plural, namespace, name: one range of the map.
        let from = ObjKey {
            group: group.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: String::new(),
        };
        self.objects
            .range(from..)
            .take_while(|(k, _)| {
                k.group == group
                    && k.plural == plural
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(_, s)| &s.value)
            .collect()
    }

    /// The first key of a collection, or of one namespace of it: where its range of the map
    /// starts.
    fn scope_start(group: &str, plural: &str, namespace: Option<&str>) -> ObjKey {
        ObjKey {
            group: group.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: String::new(),
        }
    }

    /// The keys of a collection (or one namespace of it) that come after `after`, a
    /// `(namespace, name)` position, in list order: a range of the ordered map that starts at
    /// the position (logarithmic in the store) rather than a scan of the collection.
    fn keys_after<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
        after: Option<(&str, &str)>,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Stored)> + 'a {
        let scope = Self::scope_start(group, plural, namespace);
        let lower = match after {
            Some((ns, name)) => {
                let position = ObjKey {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                    ..scope.clone()
                };
                if position >= scope {
                    Bound::Excluded(position)
                } else {
                    Bound::Included(scope)
                }
            }
            None => Bound::Included(scope),
        };
        // The first key after the scope: a string's immediate successor is itself followed by
        // NUL, so no key of the scope reaches it and no key of another scope falls before it.
        let end = match namespace {
            Some(ns) => ObjKey {
                namespace: format!("{ns}\0"),
                ..Self::scope_start(group, plural, None)
            },
            None => ObjKey {
                plural: format!("{plural}\0"),
                ..Self::scope_start(group, plural, None)
            },
        };
        // A position past the scope's end (a token from another list) reads nothing.
        let lower = match lower {
            Bound::Excluded(k) if k >= end => Bound::Included(end.clone()),
            lower => lower,
        };
        self.objects.range((lower, Bound::Excluded(end)))
    }

    /// Objects of one resource (optionally one namespace) after the `(namespace, name)`
    /// position `after`, ordered by namespace/name, read lazily: a page reads only the objects
    /// it examines, each counted by [`Store::examined`].
    pub fn list_after<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
        after: Option<(&str, &str)>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.keys_after(group, plural, namespace, after)
            .map(|(_, s)| {
                self.examined.fetch_add(1, Ordering::Relaxed);
                &s.value
            })
    }

    /// How many objects of one resource (optionally one namespace) come after the position
    /// `after`: a walk over keys only, as etcd counts a range for `remainingItemCount`.
    pub fn count_after(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
    ) -> usize {
        self.keys_after(group, plural, namespace, after).count()
    }

    /// How many objects paged lists have read so far (for tests of what a page costs).
    pub fn examined(&self) -> u64 {
        self.examined.load(Ordering::Relaxed)
    }

    /// Log events after `cursor` for a resource; `Err(oldest)` when `cursor` is too old.
    pub fn events_after(&self, cursor: u64) -> Result<impl Iterator<Item = &LogEvent>, u64> {
        if cursor < self.trimmed_rv {
            return Err(self.trimmed_rv + 1);
        }
        let start = self.log.partition_point(|e| e.rv <= cursor);
        Ok(self.log.range(start..))
    }

    fn log_event(&mut self, key: &ObjKey, kind: EventType, object: Value, prev: Option<Value>) {
        let rv = meta_str(&object, "resourceVersion")
            .and_then(|r| r.parse().ok())
            .unwrap_or(self.rv);
        self.log.push_back(LogEvent {
            rv,
            group: key.group.clone(),
            plural: key.plural.clone(),
            namespace: key.namespace.clone(),
            kind,
            object,
            prev,
        });
        while self.log.len() > MAX_LOG {
            if let Some(dropped) = self.log.pop_front() {
                self.trimmed_rv = dropped.rv;
            }
        }
    }

    fn api_version_of(&self, key: &ObjKey) -> String {
        self.registry
            .all()
            .iter()
            .find(|t| t.group == key.group && t.plural == key.plural)
            .map(ResourceType::api_version)
            .unwrap_or_default()
    }

    /// Render `managedFields` into the object's metadata.
    fn render_managers(&self, key: &ObjKey, stored: &mut Stored) {
        let api_version = self.api_version_of(key);
        let entries: Vec<Value> = stored
            .managers
            .iter()
            .map(|e| {
                let mut entry = json!({
                    "manager": e.manager,
                    "operation": e.operation,
                    "apiVersion": api_version,
                    "time": e.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": render_fields_v1(&e.fields),
                });
                if !e.subresource.is_empty()
                    && let Some(m) = entry.as_object_mut()
                {
                    m.insert("subresource".into(), json!(e.subresource));
                }
                entry
            })
            .collect();
        meta_mut(&mut stored.value).insert("managedFields".into(), Value::Array(entries));
    }

    /// Assign a fresh resourceVersion, store, and log the event. Returns the stored value.
    fn commit(&mut self, key: ObjKey, mut stored: Stored, prev: Option<Value>) -> Value {
        let rv = self.next_rv();
        meta_mut(&mut stored.value).insert("resourceVersion".into(), json!(rv.to_string()));
        self.render_managers(&key, &mut stored);
        let value = stored.value.clone();
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.objects.insert(key.clone(), stored);
        self.log_event(&key, kind, value.clone(), prev);
        if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
            self.serve_crd(&key.name, &value);
        }
        value
    }

    /// Serve what a stored CRD defines (replacing what it defined before).
    fn serve_crd(&mut self, name: &str, crd_object: &Value) {
        self.registry.unregister_crd(name);
        for rt in crd::served_types(crd_object) {
            self.registry.register(rt);
        }
    }

    /// A deleted CRD: its resources are no longer served and their objects are gone.
    fn unserve_crd(&mut self, name: &str) {
        for rt in self.registry.unregister_crd(name) {
            let keys: Vec<ObjKey> = self
                .objects
                .keys()
                .filter(|k| k.group == rt.group && k.plural == rt.plural)
                .cloned()
                .collect();
            for key in keys {
                if let Some(stored) = self.objects.remove(&key) {
                    let mut value = stored.value;
                    let rv = self.next_rv();
                    meta_mut(&mut value).insert("resourceVersion".into(), json!(rv.to_string()));
                    self.log_event(&key, EventType::Deleted, value, None);
                }
            }
        }
    }

    /// Defaulting, pruning and validation against a custom resource's schema.
    fn check_schema(
        &mut self,
        rt: &ResourceType,
        value: &mut Value,
        validation: FieldValidation,
    ) -> Result<(), ApiError> {
        let Some(schema_doc) = rt.schema.as_ref() else {
            return Ok(());
        };
        schema::apply_defaults(value, schema_doc);
        let pruned = schema::prune(value, schema_doc);
        let unknown: Vec<String> = pruned
            .iter()
            .map(|p| format!("unknown field {p:?}"))
            .collect();
        match validation {
            FieldValidation::Strict if !unknown.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                    unknown.join(", "),
                    kind = rt.kind,
                    version = rt.version,
                )));
            }
            FieldValidation::Warn => self.warnings.extend(unknown),
            _ => {}
        }
        let causes = schema::validate(value, schema_doc);
        if causes.is_empty() {
            return Ok(());
        }
        let name = meta_str(value, "name").unwrap_or_default().to_string();
        Err(ApiError::invalid_object(
            &rt.kind, &rt.group, &name, &causes,
        ))
    }

    /// Create an object. `body` must be a JSON object; namespace comes from the path.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        namespace: Option<&str>,
        mut body: Value,
        managers: Vec<ManagerEntry>,
        writer: &Writer,
    ) -> Result<Value, ApiError> {
        let dry_run = writer.dry_run;
        check_type(rt, &body)?;
        if self.require_namespaces
            && rt.namespaced
            && let Some(namespace) = namespace
            && !self.namespace_exists(namespace)
        {
            return Err(ApiError::not_found("", "namespaces", namespace));
        }
        let name = self.prepare_new(rt, namespace, &mut body)?;
        check_name(rt, &name)?;
        self.check_schema(rt, &mut body, writer.field_validation)?;
        establish_crd(rt, &mut body);
        let key = ObjKey::new(rt, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        let mut managers = managers;
        for entry in &mut managers {
            if entry.operation == "Update" && entry.fields.is_empty() {
                entry.fields = updated_paths(rt, &entry.subresource, &Value::Null, &body);
            }
        }
        let uid = self.next_uid();
        let meta = meta_mut(&mut body);
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        let mut stored = Stored {
            value: body,
            managers,
        };
        if dry_run {
            self.render_managers(&key, &mut stored);
            return Ok(stored.value);
        }
        Ok(self.commit(key, stored, None))
    }

    fn namespace_exists(&self, namespace: &str) -> bool {
        self.registry
            .by_kind("v1", "Namespace")
            .is_some_and(|rt| self.objects.contains_key(&ObjKey::new(rt, None, namespace)))
    }

    /// Fill type fields, namespace and name of a new object; strip server-owned metadata.
    fn prepare_new(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        body: &mut Value,
    ) -> Result<String, ApiError> {
        if let Some(map) = body.as_object_mut() {
            map.insert("apiVersion".into(), json!(rt.api_version()));
            map.insert("kind".into(), json!(rt.kind));
            if rt.status_subresource {
                map.remove("status");
            }
        }
        fold_string_data(rt, body);
        default_secret_type(rt, body);
        let meta = meta_mut(body);
        for field in [
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(field);
        }
        match (
            rt.namespaced,
            namespace,
            meta.get("namespace").and_then(Value::as_str),
        ) {
            (true, Some(path_ns), Some(body_ns)) if !body_ns.is_empty() && body_ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (true, Some(path_ns), _) => {
                meta.insert("namespace".into(), json!(path_ns));
            }
            (true, None, _) => {
                return Err(ApiError::bad_request(
                    "a namespace is required for namespaced resources",
                ));
            }
            (false, _, _) => {
                meta.remove("namespace");
            }
        }
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !name.is_empty() {
            return Ok(name);
        }
        let prefix = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if prefix.is_empty() {
            return Err(ApiError::invalid(format!(
                "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                rt.kind
            )));
        }
        let name = self.generate_name(rt, namespace, &prefix);
        meta.insert("name".into(), json!(name));
        Ok(name)
    }

    fn generate_name(&self, rt: &ResourceType, namespace: Option<&str>, prefix: &str) -> String {
        use rand::Rng as _;
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut rng = rand::thread_rng();
        loop {
            let suffix: String = (0..5)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            let name = format!("{prefix}{suffix}");
            if !self
                .objects
                .contains_key(&ObjKey::new(rt, namespace, &name))
            {
                return name;
            }
        }
    }

    /// Write a new version of an existing object (PUT, PATCH, apply), enforcing the status
    /// subresource, immutable metadata, finalizer, generation and deletion rules.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        key: &ObjKey,
        candidate: Value,
        writer: &Writer,
        edit_managers: impl FnOnce(&mut Vec<ManagerEntry>, &Value, &Value),
    ) -> Result<Value, ApiError> {
        check_type(rt, &candidate)?;
        let old = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &key.name))?;
        let mut new = normalize(rt, &old.value, candidate, writer.subresource.as_deref());
        self.check_schema(rt, &mut new, writer.field_validation)?;
        check_new_finalizers(rt, key, &old.value, &new)?;
        let mut managers = old.managers.clone();
        edit_managers(&mut managers, &old.value, &new);
        if content(&old.value) == content(&new) {
            return Ok(self.refresh_managers(key, managers, writer.dry_run));
        }
        if spec_part(&old.value) != spec_part(&new) {
            bump_generation(&mut new);
        }
        if writer.dry_run {
            return Ok(new);
        }
        if is_deleting(&new) && finalizers(&new).is_empty() {
            self.objects.insert(
                key.clone(),
                Stored {
                    value: new,
                    managers,
                },
            );
            return Ok(self.remove_cascading(key.clone(), false));
        }
        Ok(self.commit(
            key.clone(),
            Stored {
                value: new,
                managers,
            },
            Some(old.value),
        ))
    }

    /// A no-op write: keep the object (and resourceVersion), only refresh manager bookkeeping.
    fn refresh_managers(
        &mut self,
        key: &ObjKey,
        managers: Vec<ManagerEntry>,
        dry_run: bool,
    ) -> Value {
        let Some(mut stored) = self.objects.get(key).cloned() else {
            return Value::Null;
        };
        stored.managers = managers;
        self.render_managers(key, &mut stored);
        let value = stored.value.clone();
        if !dry_run {
            self.objects.insert(key.clone(), stored);
        }
        value
    }

    /// DELETE: set deletionTimestamp when finalizers are pending, otherwise remove (and GC).
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        key: &ObjKey,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let old = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &key.name))?;
        let uid_mismatch = opts
            .precondition_uid
            .as_deref()
            .is_some_and(|u| Some(u) != meta_str(&old.value, "uid"));
        let rv_mismatch = opts
            .precondition_rv
            .as_deref()
            .is_some_and(|r| Some(r) != meta_str(&old.value, "resourceVersion"));
        if uid_mismatch || rv_mismatch {
            return Err(ApiError::conflict(&rt.group, &rt.plural, &key.name));
        }
        if !finalizers(&old.value).is_empty() {
            if is_deleting(&old.value) || opts.dry_run {
                return Ok(old.value);
            }
            let mut value = old.value.clone();
            meta_mut(&mut value).insert("deletionTimestamp".into(), json!(now()));
            meta_mut(&mut value).insert("deletionGracePeriodSeconds".into(), json!(0));
            bump_generation(&mut value);
            return Ok(self.commit(
                key.clone(),
                Stored {
                    value,
                    managers: old.managers,
                },
                Some(old.value),
            ));
        }
        if opts.dry_run {
            return Ok(old.value);
        }
        Ok(self.remove_cascading(key.clone(), opts.orphan))
    }

    /// Remove an object, emit DELETED, and garbage-collect its dependents (recursively).
    /// With `orphan`, dependents instead lose their owner reference. Returns the removed object.
    fn remove_cascading(&mut self, key: ObjKey, orphan: bool) -> Value {
        let mut queue = VecDeque::from([key]);
        let mut first = None;
        while let Some(key) = queue.pop_front() {
            let Some(stored) = self.objects.remove(&key) else {
                continue;
            };
            let mut value = stored.value;
            let rv = self.next_rv();
            meta_mut(&mut value).insert("resourceVersion".into(), json!(rv.to_string()));
            self.log_event(&key, EventType::Deleted, value.clone(), None);
            let uid = meta_str(&value, "uid").unwrap_or_default().to_string();
            if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
                self.unserve_crd(&key.name);
            }
            first.get_or_insert(value);
            if uid.is_empty() {
                continue;
            }
            for dependent in self.dependents_of(&uid) {
                if orphan {
                    self.drop_owner_ref(&dependent, &uid);
                } else if let Some(next) = self.collect_dependent(&dependent) {
                    queue.push_back(next);
                }
            }
        }
        first.unwrap_or(Value::Null)
    }

    fn dependents_of(&self, uid: &str) -> Vec<ObjKey> {
        self.objects
            .iter()
            .filter(|(_, s)| {
                meta(&s.value)
                    .and_then(|m| m.get("ownerReferences"))
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                    })
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// GC of one dependent: objects with finalizers get a deletionTimestamp, others are queued.
    fn collect_dependent(&mut self, key: &ObjKey) -> Option<ObjKey> {
        let stored = self.objects.get(key)?.clone();
        if finalizers(&stored.value).is_empty() {
            return Some(key.clone());
        }
        if !is_deleting(&stored.value) {
            let mut value = stored.value.clone();
            meta_mut(&mut value).insert("deletionTimestamp".into(), json!(now()));
            bump_generation(&mut value);
            self.commit(
                key.clone(),
                Stored {
                    value,
                    managers: stored.managers,
                },
                Some(stored.value),
            );
        }
        None
    }

    fn drop_owner_ref(&mut self, key: &ObjKey, uid: &str) {
        let Some(stored) = self.objects.get(key).cloned() else {
            return;
        };
        let mut value = stored.value.clone();
        if let Some(Value::Array(refs)) = meta_mut(&mut value).get_mut("ownerReferences") {
            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
        }
        self.commit(
            key.clone(),
            Stored {
                value,
                managers: stored.managers,
            },
            Some(stored.value),
        );
    }

    /// Every object (with its `managedFields`) and the counters, as JSON: what
    /// [`Store::restore`] reads back.
    pub fn snapshot(&self) -> Value {
        let objects: Vec<Value> = self.objects.values().map(|s| s.value.clone()).collect();
        json!({
            "kind": "KubeFakeSnapshot",
            "version": 1,
            "resourceVersion": self.rv,
            "uidCounter": self.uid_counter,
            "objects": objects,
        })
    }

    /// Replaces the content with a [`Store::snapshot`]: objects keep their uid, resource
    /// version and field managers, CRDs serve their resources again, the watch log starts empty.
    pub fn restore(&mut self, snapshot: &Value) -> Result<usize, String> {
        if snapshot.get("kind").and_then(Value::as_str) != Some("KubeFakeSnapshot") {
            return Err("not a kube-fake snapshot (kind KubeFakeSnapshot)".into());
        }
        let objects = snapshot
            .get("objects")
            .and_then(Value::as_array)
            .ok_or("the snapshot has no objects list")?;
        let is_crd =
            |o: &Value| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition");
        let ordered = objects
            .iter()
            .filter(|o| is_crd(o))
            .chain(objects.iter().filter(|o| !is_crd(o)));
        self.objects.clear();
        self.log.clear();
        let mut max_rv = snapshot
            .get("resourceVersion")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        for object in ordered {
            let api_version = object.get("apiVersion").and_then(Value::as_str);
            let kind = object.get("kind").and_then(Value::as_str);
            let (Some(api_version), Some(kind)) = (api_version, kind) else {
                return Err(format!("an object without apiVersion/kind: {object}"));
            };
            let rt = self
                .registry
                .by_kind(api_version, kind)
                .cloned()
                .ok_or_else(|| format!("no resource serves {api_version} {kind}"))?;
            let name = meta_str(object, "name").unwrap_or_default();
            let key = ObjKey::new(&rt, meta_str(object, "namespace"), name);
            let managers = restored_managers(object);
            if let Some(rv) = meta_str(object, "resourceVersion").and_then(|r| r.parse().ok()) {
                max_rv = max_rv.max(rv);
            }
            self.objects.insert(
                key.clone(),
                Stored {
                    value: object.clone(),
                    managers,
                },
            );
            if is_crd(object) {
                self.serve_crd(&key.name, object);
            }
        }
        self.rv = max_rv;
        self.trimmed_rv = max_rv;
        self.uid_counter = snapshot
            .get("uidCounter")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .max(self.objects.len() as u64);
        Ok(self.objects.len())
    }

    /// Seed an object directly (test helper): upsert, filling server-owned metadata.
    pub fn insert(&mut self, rt: &ResourceType, mut value: Value) -> Value {
        let namespace = meta_str(&value, "namespace").map(str::to_string);
        let name = meta_str(&value, "name").unwrap_or_default().to_string();
        let key = ObjKey::new(rt, namespace.as_deref(), &name);
        fold_string_data(rt, &mut value);
        let old = self.objects.get(&key).cloned();
        let uid = match old.as_ref().and_then(|o| meta_str(&o.value, "uid")) {
            Some(uid) => uid.to_string(),
            None => self.next_uid(),
        };
        let meta = meta_mut(&mut value);
        meta.entry("uid").or_insert_with(|| json!(uid));
        meta.entry("creationTimestamp")
            .or_insert_with(|| json!(now()));
        meta.entry("generation").or_insert_with(|| json!(1));
        if !rt.namespaced {
            meta.remove("namespace");
        }
        let managers = old.as_ref().map(|o| o.managers.clone()).unwrap_or_default();
        self.commit(key, Stored { value, managers }, old.map(|o| o.value))
    }
}

/// Field managers read back from an object's `managedFields`.
fn restored_managers(object: &Value) -> Vec<ManagerEntry> {
    let text = |entry: &Value, key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    meta(object)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|entry| ManagerEntry {
            manager: text(entry, "manager"),
            operation: if text(entry, "operation") == "Apply" {
                "Apply"
            } else {
                "Update"
            },
            subresource: text(entry, "subresource"),
            time: text(entry, "time"),
            fields: entry
                .get("fieldsV1")
                .map(parse_fields_v1)
                .unwrap_or_default(),
        })
        .collect()
}

/// Object names are DNS subdomains (namespaces: DNS labels), as the real server checks them.
fn check_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let label = |part: &str| {
        !part.is_empty()
            && part.len() <= 63
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    };
    let (ok, rule) = if rt.group.is_empty() && rt.plural == "namespaces" {
        (
            label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        )
    } else {
        (
            name.len() <= 253 && name.split('.').all(label),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        )
    };
    if ok {
        return Ok(());
    }
    let cause = schema::Cause {
        reason: "FieldValueInvalid",
        field: "metadata.name".into(),
        message: format!("Invalid value: {name:?}: {rule}"),
    };
    Err(ApiError::invalid_object(
        &rt.kind,
        &rt.group,
        name,
        &[cause],
    ))
}

/// Reject bodies whose `kind`/`apiVersion` name a different resource.
fn check_type(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind {kind:?} in the body does not match the resource kind {:?}",
            rt.kind
        )));
    }
    Ok(())
}

/// The write as the server stores it: status subresource rules and immutable metadata.
fn normalize(rt: &ResourceType, old: &Value, candidate: Value, subresource: Option<&str>) -> Value {
    let mut new = if subresource == Some("status") {
        let mut merged = old.clone();
        if let Some(map) = merged.as_object_mut() {
            set_or_remove(map, "status", candidate.get("status").cloned());
        }
        merged
    } else {
        let mut new = candidate;
        if rt.status_subresource
            && let Some(map) = new.as_object_mut()
        {
            set_or_remove(map, "status", old.get("status").cloned());
        }
        new
    };
    if let Some(map) = new.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            old.get("apiVersion")
                .cloned()
                .unwrap_or_else(|| json!(rt.api_version())),
        );
        map.insert("kind".into(), json!(rt.kind));
    }
    let old_meta = meta(old).cloned().unwrap_or_default();
    let new_meta = meta_mut(&mut new);
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set_or_remove(new_meta, field, old_meta.get(field).cloned());
    }
    fold_string_data(rt, &mut new);
    new
}

/// Objects being deleted cannot gain finalizers.
fn check_new_finalizers(
    rt: &ResourceType,
    key: &ObjKey,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if !is_deleting(old) {
        return Ok(());
    }
    let existing = finalizers(old);
    if finalizers(new).iter().any(|f| !existing.contains(f)) {
        return Err(ApiError::invalid(format!(
            "{} \"{}\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
            rt.kind, key.name
        )));
    }
    Ok(())
}

/// Optimistic concurrency: a non-empty `resourceVersion` in the write must match the stored one.
pub(crate) fn check_precondition(
    rt: &ResourceType,
    key: &ObjKey,
    candidate_rv: Option<&str>,
    old: &Value,
) -> Result<(), ApiError> {
    match candidate_rv {
        Some(rv) if !rv.is_empty() && Some(rv) != meta_str(old, "resourceVersion") => {
            Err(ApiError::conflict(&rt.group, &rt.plural, &key.name))
        }
        _ => Ok(()),
    }
}
