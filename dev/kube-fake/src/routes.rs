//! HTTP request handling: request log, injected failures, routing and the verbs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Query;
use http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use super::cost::CostModel;
use super::error::ApiError;
use super::events;
use super::merge::{merge_patch, structural_merge};
use super::patch::apply_json_patch;
use super::path::{self, ApiPath};
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{
    DeleteOpts, FieldValidation, ObjKey, Store, Writer, check_precondition, record_update,
    touch_update, updated_paths,
};
use super::table::{self, IncludeObject};
use super::watch::{self, WatchSpec, partial_metadata};
use super::{Inner, RecordedRequest};
use super::{discovery, openapi, openapi_v2, yaml_reader};

/// Request bodies larger than this are rejected.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A parsed request.
pub(crate) struct Ctx {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    accept: String,
    user_agent: Option<String>,
    /// The RBAC subject of a `client_as` client.
    subject: Option<String>,
    body: Bytes,
}

impl Ctx {
    fn new(parts: &http::request::Parts, body: Bytes) -> Self {
        let header_str = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| pairs.into_iter().collect())
            .unwrap_or_default();
        Self {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            query,
            content_type: header_str(header::CONTENT_TYPE),
            accept: header_str(header::ACCEPT).unwrap_or_default(),
            user_agent: header_str(header::USER_AGENT),
            subject: parts
                .headers
                .get(super::rbac::SUBJECT_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body,
        }
    }

    fn record(&self) -> RecordedRequest {
        RecordedRequest {
            method: self.method.to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            content_type: self.content_type.clone(),
            body: self.body_value(),
        }
    }

    /// The body as JSON (`None` when empty; a JSON string when not JSON).
    fn body_value(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        Some(
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into())),
        )
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }

    fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true" | "1"))
    }

    /// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` asks for).
    fn as_table(&self) -> bool {
        self.accept.contains("as=Table")
    }

    fn metadata_only(&self) -> bool {
        !self.as_table() && self.accept.contains("as=PartialObjectMetadata")
    }

    fn include_object(&self) -> IncludeObject {
        IncludeObject::parse(self.q("includeObject"))
    }

    fn writer(&self, subresource: Option<&str>) -> Result<Writer, ApiError> {
        let manager = self
            .q("fieldManager")
            .map(str::to_string)
            .or_else(|| {
                self.user_agent
                    .as_ref()
                    .and_then(|ua| ua.split('/').next())
                    .map(str::to_string)
            })
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        Ok(Writer {
            manager,
            subresource: subresource.map(str::to_string),
            dry_run: self.q("dryRun") == Some("All"),
            field_validation: FieldValidation::parse(self.q("fieldValidation"))?,
        })
    }

    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), ApiError> {
        Ok((
            LabelSelector::parse(self.q("labelSelector").unwrap_or_default())?,
            FieldSelector::parse(self.q("fieldSelector").unwrap_or_default())?,
        ))
    }
}

/// What a handler answers.
enum Reply {
    Json(u16, Value),
    /// 200 with a body of the given media type.
    Bytes(&'static str, Vec<u8>),
    Stream(Body),
    /// A status code with an empty body (what kube-openapi answers when it cannot build a
    /// document).
    Empty(u16),
}

/// Handle one request end to end.
pub(crate) async fn handle(inner: Arc<Inner>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return error_response(&ApiError::new(
                413,
                format!("cannot read request body: {e}"),
            ));
        }
    };
    let ctx = Ctx::new(&parts, bytes);
    let cost = inner.lock().cost;
    let latency = cost.before(ctx.method.as_str());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if cost.is_write(ctx.method.as_str()) {
        // The write lane: one write at a time, in arrival order.
        let served = {
            let mut state = inner.lock();
            let busy = cost.lane_time(state.store.len());
            if busy.is_zero() {
                None
            } else {
                let now = tokio::time::Instant::now();
                let start = state.lane_free.map_or(now, |free| free.max(now));
                let done = start + busy;
                state.lane_free = Some(done);
                Some(done)
            }
        };
        if let Some(done) = served {
            tokio::time::sleep_until(done).await;
        }
    }
    let (reply, warnings) = {
        let mut state = inner.lock();
        state.requests.push(ctx.record());
        let injected = state
            .outage
            .map(|status| ApiError::new(status, outage_message(status)))
            .or_else(|| state.take_failure(ctx.method.as_str(), &ctx.path));
        let reply = match injected {
            Some(err) => Err(err),
            None => authorize(&mut state, &ctx)
                .and_then(|()| dispatch(&inner, &mut state.store, &ctx, cost)),
        };
        (reply, std::mem::take(&mut state.store.warnings))
    };
    inner.notify();
    let objects = match &reply {
        Ok(Reply::Json(_, value)) => value
            .get("items")
            .and_then(Value::as_array)
            .map_or(1, Vec::len),
        _ => 1,
    };
    let mut response = match reply {
        Ok(Reply::Json(code, value)) => json_response(code, &value),
        Ok(Reply::Bytes(media_type, bytes)) => bytes_response(media_type, bytes),
        Ok(Reply::Stream(body)) => stream_response(body),
        Ok(Reply::Empty(code)) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() =
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response
        }
        Err(err) => error_response(&err),
    };
    // A list costs per object and per byte it returns (a watch charges per event it sends).
    let bytes = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .and_then(|n| usize::try_from(n).ok());
    if let Some(bytes) = bytes {
        let transfer = inner.debt.charge(cost.transfer(objects, bytes));
        if !transfer.is_zero() {
            tokio::time::sleep(transfer).await;
        }
    }
    for warning in warnings {
        // RFC 7234 warning: code 299, agent "-", quoted text (what kubectl prints).
        let text = format!("299 - {:?}", warning);
        if let Ok(value) = header::HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

/// The message of an answer during [`FakeKube::set_outage`](super::FakeKube::set_outage), as
/// the real API server (or the load balancer in front of it) words it.
fn outage_message(status: u16) -> String {
    match status {
        429 => "Too many requests, please try again later.".into(),
        503 => "the server is currently unable to handle the request".into(),
        _ => format!("injected outage: every request is answered {status}"),
    }
}

/// The opt-in RBAC check (`FakeKube::authorize`); requests without a subject pass.
fn authorize(state: &mut super::State, ctx: &Ctx) -> Result<(), ApiError> {
    let super::State {
        store, authorizer, ..
    } = state;
    let request = super::rbac::Request {
        subject: ctx.subject.as_deref(),
        method: ctx.method.as_str(),
        path: &ctx.path,
        query: &ctx.query,
        content_type: ctx.content_type.as_deref(),
    };
    authorizer.authorize(&request, || {
        path::parse(&ctx.path).is_some_and(|p| {
            let (Some(rt), Some(name)) = (resolve(store, &p), p.name.as_deref()) else {
                return false;
            };
            store
                .get(&ObjKey::new(&rt, p.namespace.as_deref(), name))
                .is_some()
        })
    })
}

fn json_response(code: u16, value: &Value) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn bytes_response(media_type: &'static str, bytes: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(media_type),
    );
    response
}

fn stream_response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A `Status` error response.
pub(crate) fn error_response(err: &ApiError) -> Response<Body> {
    json_response(err.code, &err.to_status())
}

fn not_served(path: &str) -> ApiError {
    ApiError::new(
        404,
        format!("the server could not find the requested resource ({path})"),
    )
}

fn dispatch(
    inner: &Arc<Inner>,
    store: &mut Store,
    ctx: &Ctx,
    cost: CostModel,
) -> Result<Reply, ApiError> {
    if ctx.method == Method::GET {
        if let Some(doc) = discovery::document(store.registry.all(), &ctx.path) {
            return Ok(Reply::Json(200, doc));
        }
        if let Some(doc) = openapi_document(store, &ctx.path) {
            return doc.map(|doc| Reply::Json(200, doc));
        }
        if ctx.path == "/openapi/v2" {
            let doc = openapi_v2::document(store.registry.all());
            if ctx.accept.contains("protobuf") {
                // kube-openapi builds the protobuf form by reading the JSON one with go-yaml:
                // a schema string holding a character YAML refuses makes it fail, and the
                // handler answers 503 (`Error in OpenAPI handler: yaml: control characters are
                // not allowed` in the server's log). The JSON form is still served.
                let json = serde_json::to_vec(&doc).unwrap_or_default();
                if let Err(problem) = yaml_reader::check(&json) {
                    tracing::warn!("Error in OpenAPI handler: yaml: {problem}");
                    return Ok(Reply::Empty(503));
                }
                return Ok(Reply::Bytes(openapi_v2::PROTOBUF, openapi_v2::encode(&doc)));
            }
            return Ok(Reply::Json(200, doc));
        }
    }
    let p = path::parse(&ctx.path).ok_or_else(|| not_served(&ctx.path))?;
    let rt = resolve(store, &p).ok_or_else(|| not_served(&ctx.path))?;
    let name = p.name.clone();
    match (&ctx.method, name) {
        (&Method::GET, Some(name)) => get(store, &rt, &p, &name, ctx),
        (&Method::GET, None) if ctx.flag("watch") => start_watch(inner, store, &rt, &p, ctx, cost),
        (&Method::GET, None) => list(store, &rt, &p, ctx),
        (&Method::POST, None) => create(store, &rt, &p, ctx),
        (&Method::PUT, Some(name)) => replace(store, &rt, &p, &name, ctx),
        (&Method::PATCH, Some(name)) => patch(store, &rt, &p, &name, ctx),
        (&Method::DELETE, Some(name)) => delete(store, &rt, &p, &name, ctx),
        (&Method::DELETE, None) => delete_collection(store, &rt, &p, ctx),
        _ => Err(ApiError::new(
            405,
            format!("method {} not allowed on {}", ctx.method, ctx.path),
        )),
    }
}

/// The resource type for a path, checking scope and subresource.
fn resolve(store: &Store, p: &ApiPath) -> Option<ResourceType> {
    let rt = store
        .registry
        .by_plural(&p.group, &p.version, &p.plural)?
        .clone();
    let scope_ok = !matches!(
        (rt.namespaced, &p.namespace, &p.name),
        (false, Some(_), _) | (true, None, Some(_))
    );
    let sub_ok = match p.subresource.as_deref() {
        None => true,
        Some("status") => rt.status_subresource && p.name.is_some(),
        Some(_) => false,
    };
    (scope_ok && sub_ok).then_some(rt)
}

fn key(rt: &ResourceType, p: &ApiPath, name: &str) -> ObjKey {
    ObjKey::new(rt, p.namespace.as_deref(), name)
}

fn view(ctx: &Ctx, object: &Value) -> Value {
    if ctx.metadata_only() {
        partial_metadata(object)
    } else {
        object.clone()
    }
}

fn get(
    store: &Store,
    rt: &ResourceType,
    p: &ApiPath,
    name: &str,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    let key = key(rt, p, name);
    let peer = events_peer(rt, &key);
    let object = match store.get(&key) {
        Some(object) => object.clone(),
        None => peer
            .and_then(|peer| store.get(&peer))
            .map(|o| events::as_served_by(&rt.group, o))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?,
    };
    if ctx.as_table() {
        return Ok(Reply::Json(
            200,
            table::table(rt, &[&object], ctx.include_object(), None),
        ));
    }
    Ok(Reply::Json(200, view(ctx, &object)))
}

/// For the two event APIs, where the same event may be stored under the other one.
fn events_peer(rt: &ResourceType, key: &ObjKey) -> Option<ObjKey> {
    events::is_events(&rt.group, &rt.plural).then(|| ObjKey {
        group: events::peer_group(&rt.group).to_string(),
        ..key.clone()
    })
}

/// The objects of a collection; for events, those stored under either event API, as this one
/// serves them. Borrowed where stored as served: a list clones only the page it returns.
fn collection<'a>(
    store: &'a Store,
    rt: &ResourceType,
    namespace: Option<&str>,
) -> Vec<Cow<'a, Value>> {
    let mut items: Vec<Cow<'a, Value>> = store
        .list(&rt.group, &rt.plural, namespace)
        .into_iter()
        .map(Cow::Borrowed)
        .collect();
    if events::is_events(&rt.group, &rt.plural) {
        let peer = events::peer_group(&rt.group);
        let own: std::collections::BTreeSet<_> = items.iter().map(|o| identity(o)).collect();
        for other in store.list(peer, &rt.plural, namespace) {
            if !own.contains(&identity(other)) {
                items.push(Cow::Owned(events::as_served_by(&rt.group, other)));
            }
        }
        items.sort_by_cached_key(|o| identity(o));
    }
    items
}

/// `/openapi/v3` and its group-version documents.
fn openapi_document(store: &Store, path: &str) -> Option<Result<Value, ApiError>> {
    let rest = path.strip_prefix("/openapi/v3")?;
    let types = store.registry.all();
    let rest = rest.trim_matches('/');
    if rest.is_empty() {
        return Some(Ok(openapi::root(types)));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let (group, version) = match segments.as_slice() {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return Some(Err(not_served(path))),
    };
    if !types
        .iter()
        .any(|t| t.group == group && t.version == version)
    {
        return Some(Err(not_served(path)));
    }
    Some(Ok(openapi::group_version(types, group, version)))
}

fn list(store: &Store, rt: &ResourceType, p: &ApiPath, ctx: &Ctx) -> Result<Reply, ApiError> {
    let (labels, fields) = ctx.selectors()?;
    let params = page_params(store, ctx)?;
    let selected = !labels.is_empty() || !fields.is_empty();
    let namespace = p.namespace.as_deref();
    let (matching, page) = match params.limit {
        // A page of a stored collection: a range of the ordered store from the token's
        // position, read until `limit` objects match (and one more, to know whether more
        // follow), so it costs in proportion to the page, not to the collection.
        Some(limit) if !events::is_events(&rt.group, &rt.plural) => {
            let after = params
                .after
                .as_ref()
                .map(|(ns, n)| (ns.as_str(), n.as_str()));
            let mut matching: Vec<Cow<'_, Value>> = store
                .list_after(&rt.group, &rt.plural, namespace, after)
                .filter(|o| labels.matches(o) && fields.matches(o))
                .take(limit.saturating_add(1))
                .map(Cow::Borrowed)
                .collect();
            let more = matching.len() > limit;
            matching.truncate(limit);
            let page = match (more, matching.last()) {
                (true, Some(last)) => {
                    let (last_ns, last_name) = identity(last);
                    // Without selectors the rest is counted over keys only (as etcd counts a
                    // range); with selectors the real server leaves the count unset.
                    let remaining = (!selected).then(|| {
                        store.count_after(
                            &rt.group,
                            &rt.plural,
                            namespace,
                            Some((&last_ns, &last_name)),
                        )
                    });
                    Page {
                        resource_version: params.resource_version,
                        continue_token: Some(continue_token(params.resource_version, last)),
                        remaining,
                    }
                }
                _ => Page::last(params.resource_version),
            };
            (matching, page)
        }
        // Everything (no limit, or served from the watch cache), and the event APIs, whose
        // collections merge two stored resources.
        _ => {
            let mut matching: Vec<Cow<'_, Value>> = collection(store, rt, namespace)
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
                .collect();
            let page = paginate(&params, selected, &mut matching);
            (matching, page)
        }
    };
    let mut metadata = json!({ "resourceVersion": page.resource_version.to_string() });
    if let Some(token) = page.continue_token {
        metadata["continue"] = json!(token);
        if let Some(remaining) = page.remaining {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    if ctx.as_table() {
        let refs: Vec<&Value> = matching.iter().map(|o| o.as_ref()).collect();
        let mut table = table::table(rt, &refs, ctx.include_object(), Some(page.resource_version));
        table["metadata"] = metadata;
        return Ok(Reply::Json(200, table));
    }
    let items: Vec<Value> = matching.iter().map(|o| view(ctx, o)).collect();
    let (api_version, kind) = if ctx.metadata_only() {
        (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadataList".to_string(),
        )
    } else {
        (rt.api_version(), format!("{}List", rt.kind))
    };
    Ok(Reply::Json(
        200,
        json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": metadata,
            "items": items,
        }),
    ))
}

/// One page of a list.
struct Page {
    /// The list's resourceVersion (that of the first page, for every page).
    resource_version: u64,
    /// The token of the next page, when objects remain.
    continue_token: Option<String>,
    /// How many objects remain after this page: unset when the list has label or field
    /// selectors, as on the real server (`ListMeta.remainingItemCount`).
    remaining: Option<usize>,
}

impl Page {
    /// The last (or only) page.
    fn last(resource_version: u64) -> Self {
        Self {
            resource_version,
            continue_token: None,
            remaining: None,
        }
    }
}

/// The position a continue token encodes: the list's resourceVersion and the last
/// `namespace/name` served (what the real server's base64 JSON token holds).
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

/// The token of the page after the one ending with `last`.
fn continue_token(resource_version: u64, last: &Value) -> String {
    let (namespace, name) = identity(last);
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv: resource_version,
        start: format!("{namespace}/{name}"),
    };
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// `(namespace, name)`: the order of a list (and of the store's keys).
fn identity(object: &Value) -> (String, String) {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("/metadata/namespace"), text("/metadata/name"))
}

/// What `limit`, `continue` and `resourceVersion` ask of a list.
struct PageParams {
    /// The list's resourceVersion: the token's, or the current one for a first page.
    resource_version: u64,
    /// The page size; `None` for "everything".
    limit: Option<usize>,
    /// The `(namespace, name)` position the page starts after (from the continue token).
    after: Option<(String, String)>,
}

/// `limit` and `continue`, as the real API server pages a list read from storage. A list with
/// an explicit `resourceVersion` (such as `0`: "any version") is served from the watch cache,
/// which (like kube-apiserver before 1.33's snapshots) ignores `limit` and returns everything.
/// Later pages carry the first page's resourceVersion; a token older than the event log
/// (etcd's compaction) is `410 Expired`.
fn page_params(store: &Store, ctx: &Ctx) -> Result<PageParams, ApiError> {
    let from_cache = ctx.q("resourceVersion").is_some_and(|rv| !rv.is_empty());
    let limit = match ctx.q("limit") {
        None | Some("") | Some("0") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {n:?}")))?,
        ),
    };
    let token = match ctx.q("continue").filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .and_then(|raw| serde_json::from_slice::<ContinueToken>(&raw).ok())
                .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
            if token.rv < store.compacted_rv() {
                return Err(ApiError::new(
                    410,
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                )
                .with_reason("Expired"));
            }
            Some(token)
        }
    };
    let resource_version = token.as_ref().map_or(store.current_rv(), |t| t.rv);
    let after = token.map(|t| {
        t.start
            .split_once('/')
            .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
            .unwrap_or_default()
    });
    Ok(PageParams {
        resource_version,
        limit: limit.filter(|_| !from_cache),
        after,
    })
}

/// A page cut from a whole (filtered) collection in list order: `objects` becomes the page.
/// Used where the collection is not one range of the store (the event APIs) and for lists
/// without a limit.
fn paginate(params: &PageParams, selected: bool, objects: &mut Vec<Cow<'_, Value>>) -> Page {
    let Some(limit) = params.limit else {
        return Page::last(params.resource_version);
    };
    // Objects are in (namespace, name) order: the page starts after the token's position.
    if let Some(after) = &params.after {
        let first = objects.partition_point(|o| identity(o) <= *after);
        objects.drain(..first);
    }
    if objects.len() <= limit {
        return Page::last(params.resource_version);
    }
    let remaining = objects.len() - limit;
    objects.truncate(limit);
    match objects.last() {
        Some(last) => Page {
            resource_version: params.resource_version,
            continue_token: Some(continue_token(params.resource_version, last)),
            remaining: (!selected).then_some(remaining),
        },
        None => Page::last(params.resource_version),
    }
}

fn start_watch(
    inner: &Arc<Inner>,
    store: &Store,
    rt: &ResourceType,
    p: &ApiPath,
    ctx: &Ctx,
    cost: CostModel,
) -> Result<Reply, ApiError> {
    let (labels, fields) = ctx.selectors()?;
    let resource_version = match ctx.q("resourceVersion").filter(|rv| !rv.is_empty()) {
        None => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = match ctx.q("timeoutSeconds") {
        None | Some("0") => None,
        Some(t) => Some(Duration::from_secs(t.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds {t:?}"))
        })?)),
    };
    let spec = WatchSpec {
        group: rt.group.clone(),
        plural: rt.plural.clone(),
        namespace: p.namespace.clone(),
        api_version: rt.api_version(),
        kind: rt.kind.clone(),
        labels,
        fields,
        resource_version,
        send_initial_events: ctx.flag("sendInitialEvents"),
        bookmarks: ctx.flag("allowWatchBookmarks"),
        timeout,
        metadata_only: ctx.metadata_only(),
        table: ctx.as_table().then(|| (rt.clone(), ctx.include_object())),
        peer_group: events::is_events(&rt.group, &rt.plural)
            .then(|| events::peer_group(&rt.group).to_string()),
        cost,
    };
    Ok(Reply::Stream(watch::start(inner.clone(), store, spec)))
}

fn create(store: &mut Store, rt: &ResourceType, p: &ApiPath, ctx: &Ctx) -> Result<Reply, ApiError> {
    let body = ctx.json_body()?;
    let writer = ctx.writer(None)?;
    let mut managers = Vec::new();
    touch_update(&mut managers, &writer.manager, "");
    let created = store.create(rt, p.namespace.as_deref(), body, managers, &writer)?;
    Ok(Reply::Json(201, created))
}

fn check_body_name(body: &Value, name: &str) -> Result<(), ApiError> {
    match body.pointer("/metadata/name").and_then(Value::as_str) {
        Some(body_name) if !body_name.is_empty() && body_name != name => {
            Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )))
        }
        _ => Ok(()),
    }
}

fn replace(
    store: &mut Store,
    rt: &ResourceType,
    p: &ApiPath,
    name: &str,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    let body = ctx.json_body()?;
    check_body_name(&body, name)?;
    let body_rv = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    if !is_builtin(rt) && body_rv.is_none_or(str::is_empty) {
        // Custom resources do not allow unconditional updates.
        return Err(ApiError::invalid(format!(
            "{}.{} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: \
             must be specified for an update",
            rt.plural, rt.group
        )));
    }
    let key = key(rt, p, name);
    let old = store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    check_precondition(
        rt,
        &key,
        body.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str),
        old,
    )?;
    update_with(store, rt, p, &key, body, ctx)
}

/// A non-apply write of a whole candidate object, recorded as an `Update` by the field manager.
fn update_with(
    store: &mut Store,
    rt: &ResourceType,
    p: &ApiPath,
    key: &ObjKey,
    candidate: Value,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    let writer = ctx.writer(p.subresource.as_deref())?;
    let (manager, sub) = (writer.manager.clone(), writer.sub().to_string());
    let updated = store.update(rt, key, candidate, &writer, |m, old, new| {
        record_update(m, &manager, &sub, updated_paths(rt, &sub, old, new));
    })?;
    Ok(Reply::Json(200, updated))
}

/// Custom resources do not support strategic merge patch on the real API server.
fn is_builtin(rt: &ResourceType) -> bool {
    !rt.group.contains('.') || rt.group.ends_with(".k8s.io")
}

fn patch(
    store: &mut Store,
    rt: &ResourceType,
    p: &ApiPath,
    name: &str,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    let content_type = ctx.content_type.as_deref().unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media == "application/apply-patch+yaml" {
        return server_side_apply(store, rt, p, name, ctx);
    }
    let key = key(rt, p, name);
    let old = store
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    let body = ctx.json_body()?;
    let mut candidate = old.clone();
    match media {
        "application/merge-patch+json" => merge_patch(&mut candidate, &body),
        "application/strategic-merge-patch+json" if is_builtin(rt) => {
            structural_merge(&mut candidate, &body)
        }
        "application/json-patch+json" => apply_json_patch(&mut candidate, &body)?,
        _ => {
            return Err(ApiError::new(
                415,
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
                ),
            ));
        }
    }
    let rv = candidate
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    check_precondition(rt, &key, rv, &old)?;
    update_with(store, rt, p, &key, candidate, ctx)
}

fn server_side_apply(
    store: &mut Store,
    rt: &ResourceType,
    p: &ApiPath,
    name: &str,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    if ctx.q("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager parameter",
        ));
    }
    // The real server reads the body with go-yaml (JSON included), whose reader refuses a raw
    // character outside YAML's printable set before anything is parsed.
    if let Err(problem) = yaml_reader::check(&ctx.body) {
        return Err(ApiError::bad_request(format!(
            "error decoding YAML: error converting YAML to JSON: yaml: {problem}"
        )));
    }
    let applied = serde_json::from_slice::<Value>(&ctx.body).or_else(|_| {
        let text = String::from_utf8_lossy(&ctx.body);
        serde_saphyr::from_str::<Value>(&text)
            .map_err(|e| ApiError::bad_request(format!("invalid apply body: {e}")))
    })?;
    let writer = ctx.writer(p.subresource.as_deref())?;
    let (code, object) = store.apply(
        rt,
        p.namespace.as_deref(),
        name,
        applied,
        &writer,
        ctx.flag("force"),
    )?;
    Ok(Reply::Json(code, object))
}

fn delete_opts(ctx: &Ctx) -> DeleteOpts {
    let body = ctx.body_value().unwrap_or(Value::Null);
    let text = |ptr: &str| {
        body.pointer(ptr)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let body_dry_run = body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    DeleteOpts {
        precondition_uid: text("/preconditions/uid"),
        precondition_rv: text("/preconditions/resourceVersion"),
        orphan: text("/propagationPolicy").as_deref() == Some("Orphan")
            || ctx.q("propagationPolicy") == Some("Orphan")
            || body.get("orphanDependents") == Some(&Value::Bool(true)),
        dry_run: body_dry_run || ctx.q("dryRun") == Some("All"),
    }
}

fn delete(
    store: &mut Store,
    rt: &ResourceType,
    p: &ApiPath,
    name: &str,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    if p.subresource.is_some() {
        return Err(ApiError::new(405, "DELETE is not allowed on subresources"));
    }
    let key = key(rt, p, name);
    let deleted = store.delete(rt, &key, &delete_opts(ctx))?;
    let removed = store.get(&key).is_none();
    // Like the real API server: built-in resources answer an immediate deletion with a
    // `Status`; custom resources (and namespaces) return the deleted object.
    if removed && is_builtin(rt) && rt.plural != "namespaces" {
        return Ok(Reply::Json(200, deleted_status(rt, name, &deleted)));
    }
    Ok(Reply::Json(200, deleted))
}

fn deleted_status(rt: &ResourceType, name: &str, deleted: &Value) -> Value {
    let uid = deleted
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": { "name": name, "group": rt.group, "kind": rt.plural, "uid": uid },
    })
}

fn delete_collection(
    store: &mut Store,
    rt: &ResourceType,
    p: &ApiPath,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    let (labels, fields) = ctx.selectors()?;
    let names: Vec<(Option<String>, String)> = store
        .list(&rt.group, &rt.plural, p.namespace.as_deref())
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .map(|o| {
            let ns = o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            let name = o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (ns, name)
        })
        .collect();
    let opts = delete_opts(ctx);
    let mut items = Vec::new();
    for (ns, name) in names {
        if let Ok(object) = store.delete(rt, &ObjKey::new(rt, ns.as_deref(), &name), &opts) {
            items.push(object);
        }
    }
    let list = json!({
        "apiVersion": rt.api_version(),
        "kind": format!("{}List", rt.kind),
        "metadata": { "resourceVersion": store.current_rv().to_string() },
        "items": items,
    });
    Ok(Reply::Json(200, list))
}
