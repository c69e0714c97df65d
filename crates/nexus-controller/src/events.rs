//! Kubernetes Events (`events.k8s.io/v1`) about the operator's objects, with bounded memory.
//!
//! Like kube's `Recorder`: an event names its object (`regarding`), the reporting controller
//! and instance, a reason, an action and a note; the same event again within six minutes
//! becomes a series (one PATCH of its count instead of a new Event). Unlike it, what is
//! remembered for series is small and bounded: kube's recorder keeps every published Event for
//! six minutes and scans all of them on each publish, which with a fleet created at once is
//! megabytes of memory and quadratic work (10,000 AuthClients: 10,000 Events held).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Api, ResourceExt};

use crate::locking::lock;

/// How long an event can still become a series (as kube's recorder and the API server's
/// event aggregation).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// How many recent events are remembered for series.
const REMEMBERED: usize = 1024;

/// What makes two events the same (the note aside, as in kube's recorder).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct EventKey {
    warning: bool,
    action: String,
    reason: String,
    /// uid, else `namespace/name` of the object.
    regarding: String,
}

#[derive(Clone, Debug)]
struct Recent {
    name: String,
    count: i32,
    last: Timestamp,
}

/// The recent events, oldest first.
#[derive(Default)]
struct RecentEvents {
    by_key: HashMap<EventKey, Recent>,
    order: VecDeque<EventKey>,
}

impl RecentEvents {
    /// Forgets events outside the series window and the oldest beyond [`REMEMBERED`].
    fn expire(&mut self, now: Timestamp) {
        while let Some(oldest) = self.order.front() {
            let stale = self
                .by_key
                .get(oldest)
                .is_none_or(|r| r.last + SERIES_WINDOW <= now);
            if !stale && self.order.len() <= REMEMBERED {
                break;
            }
            if let Some(key) = self.order.pop_front() {
                self.by_key.remove(&key);
            }
        }
    }

    fn remember(&mut self, key: EventKey, recent: Recent) {
        if self.by_key.insert(key.clone(), recent).is_some() {
            self.order.retain(|k| *k != key);
        }
        self.order.push_back(key);
    }
}

/// Publishes Events for one controller (see the module docs).
pub struct EventPublisher {
    client: kube::Client,
    reporter: Reporter,
    recent: Mutex<RecentEvents>,
}

impl EventPublisher {
    /// A publisher reporting as `reporter`.
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            recent: Mutex::default(),
        }
    }

    /// Creates the Event, or counts a repeat of a recent one in its series.
    ///
    /// # Errors
    /// When the API server refuses the write.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = EventKey {
            warning: matches!(event.type_, EventType::Warning),
            action: event.action.clone(),
            reason: event.reason.clone(),
            regarding: regarding.uid.clone().unwrap_or_else(|| {
                format!(
                    "{}/{}",
                    regarding.namespace.as_deref().unwrap_or_default(),
                    regarding.name.as_deref().unwrap_or_default()
                )
            }),
        };
        let repeat = {
            let mut recent = lock(&self.recent);
            recent.expire(now);
            recent.by_key.get(&key).cloned()
        };
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let recent = match repeat {
            Some(mut recent) => {
                recent.count += 1;
                recent.last = now;
                let series = EventSeries {
                    count: recent.count,
                    last_observed_time: MicroTime(now),
                };
                api.patch(
                    &recent.name,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({ "series": series })),
                )
                .await?;
                recent
            }
            None => {
                let created = api
                    .create(&PostParams::default(), &self.event(event, regarding, now))
                    .await?;
                Recent {
                    name: created.name_any(),
                    count: 1,
                    last: now,
                }
            }
        };
        lock(&self.recent).remember(key, recent);
        Ok(())
    }

    fn event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let controller = &self.reporter.controller;
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            // Notes quote Auth0 and users: nothing the API server's YAML reader refuses.
            note: event
                .note
                .as_deref()
                .map(|note| nexus_crd::printable::printable(note).into_owned()),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_ref().unwrap_or(controller),
                    now.as_nanosecond()
                )),
                ..Default::default()
            },
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            related: event.secondary.clone(),
            ..Default::default()
        }
    }

    /// How many events are remembered for series (bounded by a constant).
    pub fn remembered(&self) -> usize {
        lock(&self.recent).by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> EventKey {
        EventKey {
            warning: false,
            action: "Create".into(),
            reason: "Created".into(),
            regarding: format!("uid-{i}"),
        }
    }

    fn recent(last: Timestamp) -> Recent {
        Recent {
            name: "e".into(),
            count: 1,
            last,
        }
    }

    #[test]
    fn memory_is_bounded_and_old_events_are_forgotten() {
        let now = Timestamp::now();
        let mut events = RecentEvents::default();
        for i in 0..REMEMBERED * 3 {
            events.remember(key(i), recent(now));
            events.expire(now);
        }
        assert_eq!(events.by_key.len(), REMEMBERED);
        assert!(events.by_key.contains_key(&key(REMEMBERED * 3 - 1)));
        assert!(!events.by_key.contains_key(&key(0)));
        events.expire(now + SERIES_WINDOW);
        assert!(events.by_key.is_empty(), "outside the series window");
        assert!(events.order.is_empty());
    }

    #[test]
    fn a_repeat_moves_to_the_back() {
        let now = Timestamp::now();
        let mut events = RecentEvents::default();
        events.remember(key(1), recent(now));
        events.remember(key(2), recent(now));
        events.remember(key(1), recent(now));
        assert_eq!(events.order, VecDeque::from([key(2), key(1)]));
    }
}
