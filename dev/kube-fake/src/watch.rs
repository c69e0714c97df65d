//! Streaming watch responses (newline-delimited JSON watch events).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Inner;
use super::cost::{CostModel, Debt};
use super::error::ApiError;
use super::events;
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{EventType, LogEvent, Store};
use super::table::{self, IncludeObject};

/// What a watch request asked for.
#[derive(Debug, Clone)]
pub(crate) struct WatchSpec {
    pub group: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub api_version: String,
    pub kind: String,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// `None` (or `"0"`): start with synthetic ADDED events for the current state.
    pub resource_version: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
    pub metadata_only: bool,
    /// Send each object as a one-row `Table` (`kubectl get --watch`).
    pub table: Option<(ResourceType, IncludeObject)>,
    /// Events: the other event API's group, whose events this watch also sees, converted.
    pub peer_group: Option<String>,
    /// What sending each event costs.
    pub cost: CostModel,
}

impl WatchSpec {
    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    fn concerns(&self, event: &LogEvent) -> bool {
        (event.group == self.group || self.peer_group.as_ref() == Some(&event.group))
            && event.plural == self.plural
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| &event.namespace == ns)
    }

    /// The object as this watch serves it (events written through the other event API are
    /// converted).
    fn served(&self, group: &str, object: &Value) -> Value {
        if group == self.group {
            object.clone()
        } else {
            events::as_served_by(&self.group, object)
        }
    }

    /// The event as this watcher sees it, taking selector transitions into account.
    fn translate(&self, event: &LogEvent) -> Option<(&'static str, Value)> {
        if !self.concerns(event) {
            return None;
        }
        let object = self.served(&event.group, &event.object);
        let prev = event.prev.as_ref().map(|p| self.served(&event.group, p));
        let now = self.matches(&object);
        let kind = match event.kind {
            EventType::Added | EventType::Deleted => now.then_some(event.kind)?,
            EventType::Modified => match (prev.as_ref().is_some_and(|p| self.matches(p)), now) {
                (true, true) => EventType::Modified,
                (false, true) => EventType::Added,
                (true, false) => EventType::Deleted,
                (false, false) => return None,
            },
        };
        Some((kind.as_str(), object))
    }

    fn line(&self, event_type: &str, object: &Value) -> Bytes {
        let object = if let Some((rt, include)) = &self.table {
            table::table(rt, &[object], *include, None)
        } else if self.metadata_only {
            partial_metadata(object)
        } else {
            object.clone()
        };
        encode(&json!({ "type": event_type, "object": object }))
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object =
            json!({ "apiVersion": self.api_version, "kind": self.kind, "metadata": metadata });
        encode(&json!({ "type": "BOOKMARK", "object": object }))
    }
}

/// `PartialObjectMetadata` view of an object (for metadata-only requests).
pub(crate) fn partial_metadata(object: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn encode(value: &Value) -> Bytes {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn expired_line(requested: u64, oldest: u64) -> Bytes {
    let status = ApiError::new(
        410,
        format!("too old resource version: {requested} ({oldest})"),
    )
    .to_status();
    encode(&json!({ "type": "ERROR", "object": status }))
}

/// State carried between chunks of one watch response.
struct WatchStream {
    inner: Arc<Inner>,
    changes: watch::Receiver<u64>,
    spec: WatchSpec,
    cursor: u64,
    pending: VecDeque<Bytes>,
    deadline: Option<Instant>,
    finished: bool,
    /// This watch's charges not paid yet (below a millisecond).
    debt: Debt,
}

/// Start a watch: the initial events are computed now (under the store lock), later events are
/// read from the event log as changes are signalled.
pub(crate) fn start(inner: Arc<Inner>, store: &Store, spec: WatchSpec) -> axum::body::Body {
    let changes = inner.changes.subscribe();
    let mut pending = VecDeque::new();
    let cursor = match spec
        .resource_version
        .filter(|rv| *rv > 0 && !spec.send_initial_events)
    {
        Some(rv) => rv,
        None => {
            let mut groups = vec![spec.group.clone()];
            groups.extend(spec.peer_group.clone());
            for group in &groups {
                for object in store.list(group, &spec.plural, spec.namespace.as_deref()) {
                    let object = spec.served(group, object);
                    if spec.matches(&object) {
                        pending.push_back(spec.line("ADDED", &object));
                    }
                }
            }
            if spec.send_initial_events {
                pending.push_back(spec.bookmark(store.current_rv(), true));
            }
            store.current_rv()
        }
    };
    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let state = WatchStream {
        inner,
        changes,
        spec,
        cursor,
        pending,
        deadline,
        finished: false,
        debt: Debt::default(),
    };
    axum::body::Body::from_stream(futures::stream::unfold(state, next_chunk))
}

async fn next_chunk(mut st: WatchStream) -> Option<(Result<Bytes, Infallible>, WatchStream)> {
    loop {
        if let Some(chunk) = st.pending.pop_front() {
            let transfer = st.debt.charge(st.spec.cost.transfer(1, chunk.len()));
            if !transfer.is_zero() {
                tokio::time::sleep(transfer).await;
            }
            return Some((Ok(chunk), st));
        }
        if st.finished {
            return None;
        }
        st.changes.borrow_and_update();
        st.poll_log();
        if !st.pending.is_empty() || st.finished {
            continue;
        }
        let deadline = st.deadline;
        let timeout = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = st.changes.changed() => st.finished = changed.is_err(),
            () = timeout => {
                if st.spec.bookmarks {
                    let bookmark = st.spec.bookmark(st.cursor, false);
                    st.pending.push_back(bookmark);
                }
                st.finished = true;
            }
        }
    }
}

impl WatchStream {
    /// Move events after the cursor into `pending`.
    fn poll_log(&mut self) {
        let state = self.inner.lock();
        match state.store.events_after(self.cursor) {
            Err(oldest) => {
                self.pending.push_back(expired_line(self.cursor, oldest));
                self.finished = true;
            }
            Ok(events) => {
                for event in events {
                    self.cursor = event.rv;
                    if let Some((event_type, object)) = self.spec.translate(event) {
                        self.pending.push_back(self.spec.line(event_type, &object));
                    }
                }
            }
        }
    }
}
