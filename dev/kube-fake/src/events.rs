//! Events are one resource with two APIs on the real server: `events.k8s.io/v1` (what event
//! recorders such as kube-rs write) and core `v1` (what `kubectl describe` and `kubectl get
//! events` read). The fake stores each event where it was written and serves it through both
//! APIs, converted like the real server converts between the versions.

use serde_json::{Map, Value, json};

/// Field renames between `events.k8s.io/v1` and core `v1` (`(events.k8s.io, core)`).
const RENAMES: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// Whether `group`/`plural` is one of the two event APIs.
pub(crate) fn is_events(group: &str, plural: &str) -> bool {
    plural == "events" && (group.is_empty() || group == "events.k8s.io")
}

/// The other API's group for events (`""` <-> `events.k8s.io`).
pub(crate) fn peer_group(group: &str) -> &'static str {
    if group.is_empty() {
        "events.k8s.io"
    } else {
        ""
    }
}

fn convert(event: &Value, api_version: &str, to_core: bool) -> Value {
    let Some(source) = event.as_object() else {
        return event.clone();
    };
    let mut out = Map::new();
    for (key, value) in source {
        let renamed = RENAMES.iter().find_map(|(v1, core)| {
            if to_core && key == v1 {
                Some(*core)
            } else if !to_core && key == core {
                Some(*v1)
            } else {
                None
            }
        });
        out.insert(renamed.unwrap_or(key).to_string(), value.clone());
    }
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event as core `v1` shows it.
pub(crate) fn to_core(event: &Value) -> Value {
    if event.get("apiVersion").and_then(Value::as_str) == Some("v1") {
        return event.clone();
    }
    let mut core = convert(event, "v1", true);
    // Core events always have a count and timestamps; kubectl prints them.
    if core.get("count").is_none() {
        let count = event.pointer("/series/count").cloned().unwrap_or(json!(1));
        core["count"] = count;
    }
    if core.get("lastTimestamp").is_none_or(Value::is_null)
        && let Some(time) = event.get("eventTime").cloned()
    {
        core["lastTimestamp"] = time.clone();
        if core.get("firstTimestamp").is_none_or(Value::is_null) {
            core["firstTimestamp"] = time;
        }
    }
    core
}

/// A core `v1` Event as `events.k8s.io/v1` shows it.
pub(crate) fn to_events_v1(event: &Value) -> Value {
    if event.get("apiVersion").and_then(Value::as_str) == Some("events.k8s.io/v1") {
        return event.clone();
    }
    convert(event, "events.k8s.io/v1", false)
}

/// `event` as the API of `group` serves it.
pub(crate) fn as_served_by(group: &str, event: &Value) -> Value {
    if group.is_empty() {
        to_core(event)
    } else {
        to_events_v1(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_convert_both_ways() {
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns"},
            "regarding": {"kind": "AuthClient", "name": "hello", "uid": "u"},
            "note": "Created the Auth0 client", "reason": "Created", "type": "Normal",
            "reportingController": "nexus-operator", "eventTime": "2024-01-01T00:00:00.000000Z",
        });
        let core = to_core(&v1);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "hello");
        assert_eq!(core["message"], "Created the Auth0 client");
        assert_eq!(core["reportingComponent"], "nexus-operator");
        assert_eq!(core["count"], 1);
        assert_eq!(core["lastTimestamp"], "2024-01-01T00:00:00.000000Z");
        let back = to_events_v1(&core);
        assert_eq!(back["regarding"], v1["regarding"]);
        assert_eq!(back["note"], v1["note"]);
        assert_eq!(back["apiVersion"], "events.k8s.io/v1");
        assert!(is_events("", "events") && is_events("events.k8s.io", "events"));
        assert!(!is_events("", "secrets"));
    }
}
