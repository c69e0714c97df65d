//! Conformance of the simulator to recorded traffic of the real Auth0 Management API.
//!
//! Every cassette of `<workspace root>/../shared/recordings/auth0/*.yaml` (or
//! `$NEXUS_AUTH0_RECORDINGS`) is replayed, interaction by interaction and in order, against a
//! fresh simulator whose tenant domain stands in for the recorded one. Ids the real service gave
//! (client ids, credential, grant, resource-server and connection ids) are learned from its
//! answers and replaced by the simulator's in later requests and expected answers. Each answer is
//! compared with the recorded one: the status code, the set of fields (recursively), their JSON
//! types and their values, except values that cannot be equal (timestamps: type only; values the
//! recorder replaced by `[REDACTED]`: presence only).
//!
//! Every difference must be listed in `tests/conformance-known-differences.yaml` with its reason,
//! and every listed difference must still occur: a new difference fails, and so does a stale
//! entry, so the list stays short and true.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use auth0_sim::recordings::{self, Cassette, Interaction, REDACTED};
use auth0_sim::{M2mCredential, MANAGEMENT_SCOPES, RateLimit, SimConfig, SimHandle};
use serde::Deserialize;
use serde_json::Value;

/// The simulated tenant's domain (the recorded one is mapped to it).
const SIM_DOMAIN: &str = "conformance.sim.auth0.local";
/// Fields whose recorded value is an id the real service generated: learned, then mapped.
const ID_FIELDS: &[&str] = &["client_id", "id"];
/// Fields that hold the time of the answer: compared by type only.
const TIME_FIELDS: &[&str] = &["created_at", "updated_at", "deleted_at"];

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    /// The status codes differ.
    Status,
    /// Auth0 answered a field the simulator does not.
    Missing,
    /// The simulator answers a field Auth0 did not.
    Extra,
    /// Same field, another JSON type.
    Type,
    /// Same field and type, another value.
    Value,
}

#[derive(Debug, Clone)]
struct Difference {
    cassette: String,
    index: usize,
    /// `METHOD /recorded/path`.
    request: String,
    /// Dotted path in the body (`[]` for array items), `(status)` or `(body)`.
    field: String,
    kind: Kind,
    detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}#{} {} field={} kind={:?}: {}",
            self.cassette, self.index, self.request, self.field, self.kind, self.detail
        )
    }
}

/// One entry of the known-differences file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    /// Cassette name pattern (`*` matches anything).
    cassette: String,
    /// Interaction index; absent = every interaction.
    #[serde(default)]
    interaction: Option<usize>,
    /// `METHOD /path` pattern over the recorded request (`*` matches anything); absent = any.
    #[serde(default)]
    request: Option<String>,
    /// Field path pattern.
    field: String,
    /// The kind of difference.
    kind: Kind,
    /// Why it is accepted.
    reason: String,
}

impl Known {
    fn matches(&self, d: &Difference) -> bool {
        glob(&self.cassette, &d.cassette)
            && self.interaction.is_none_or(|i| i == d.index)
            && self.request.as_deref().is_none_or(|r| glob(r, &d.request))
            && glob(&self.field, &d.field)
            && self.kind == d.kind
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Recorded values mapped to the simulator's.
#[derive(Default)]
struct Mapping {
    /// Recorded id -> simulator id.
    ids: BTreeMap<String, String>,
    /// Recorded tenant host -> simulator domain.
    host: Option<String>,
}

impl Mapping {
    /// Rewrites recorded text (a URL or a body) for the simulator.
    fn rewrite(&self, text: &str) -> String {
        let mut out = text.to_owned();
        if let Some(host) = &self.host {
            out = out.replace(host.as_str(), SIM_DOMAIN);
        }
        // Longest first, so an id that contains another is replaced whole.
        let mut ids: Vec<(&String, &String)> = self.ids.iter().collect();
        ids.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (recorded, sim) in ids {
            out = out.replace(recorded.as_str(), sim);
        }
        out
    }

    /// The value the simulator should answer where Auth0 answered `recorded`.
    fn expected(&self, recorded: &str) -> String {
        match self.ids.get(recorded) {
            Some(sim) => sim.clone(),
            None => self.rewrite(recorded),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn last_segment(path: &str) -> &str {
    let path = path.trim_end_matches("[]");
    path.rsplit('.').next().unwrap_or(path)
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Compares a recorded answer with the simulator's, learning ids on the way.
fn compare(
    recorded: &Value,
    sim: &Value,
    path: &str,
    map: &mut Mapping,
    out: &mut Vec<(String, Kind, String)>,
) {
    let field = if path.is_empty() { "(body)" } else { path };
    if recorded.as_str() == Some(REDACTED) {
        // Presence only: the field exists (the caller checked).
        return;
    }
    match (recorded, sim) {
        (Value::Object(r), Value::Object(s)) => {
            for (k, rv) in r {
                match s.get(k) {
                    Some(sv) => compare(rv, sv, &child(path, k), map, out),
                    None => out.push((child(path, k), Kind::Missing, format!("Auth0: {rv}"))),
                }
            }
            for (k, sv) in s {
                if !r.contains_key(k) {
                    out.push((child(path, k), Kind::Extra, format!("simulator: {sv}")));
                }
            }
        }
        (Value::Array(r), Value::Array(s)) => {
            if r.len() != s.len() {
                out.push((
                    field.to_owned(),
                    Kind::Value,
                    format!("{} items, simulator {}: {sim}", r.len(), s.len()),
                ));
                return;
            }
            let item = format!("{path}[]");
            for (rv, sv) in pair_items(r, s, map) {
                compare(rv, sv, &item, map, out);
            }
        }
        (Value::String(r), Value::String(s)) => {
            let name = last_segment(path);
            if TIME_FIELDS.contains(&name) {
                return;
            }
            if ID_FIELDS.contains(&name) && !map.ids.contains_key(r) && r != s {
                map.ids.insert(r.clone(), s.clone());
                return;
            }
            let expected = map.expected(r);
            if expected != *s {
                out.push((
                    field.to_owned(),
                    Kind::Value,
                    format!("Auth0 {expected:?}, simulator {s:?}"),
                ));
            }
        }
        (Value::Number(r), Value::Number(s)) => {
            if r.as_f64() != s.as_f64() {
                out.push((
                    field.to_owned(),
                    Kind::Value,
                    format!("Auth0 {r}, simulator {s}"),
                ));
            }
        }
        (Value::Bool(r), Value::Bool(s)) => {
            if r != s {
                out.push((
                    field.to_owned(),
                    Kind::Value,
                    format!("Auth0 {r}, simulator {s}"),
                ));
            }
        }
        (Value::Null, Value::Null) => {}
        (r, s) => out.push((
            field.to_owned(),
            Kind::Type,
            format!("Auth0 {} {r}, simulator {} {s}", type_name(r), type_name(s)),
        )),
    }
}

/// The key of a list item that names an object (`id`, else `client_id`, or the item itself
/// when it is a string: a list of ids such as a connection's `enabled_clients`).
fn item_key(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| {
        v.get("id")
            .or_else(|| v.get("client_id"))
            .and_then(Value::as_str)
    })
}

/// Pairs the items of two lists of the same length. Items that carry an id are paired by id
/// (mapped): Auth0's order of such lists is not stable (recorded credential lists come newest
/// first in one answer and oldest first in another). Other lists are paired by position.
fn pair_items<'a>(r: &'a [Value], s: &'a [Value], map: &Mapping) -> Vec<(&'a Value, &'a Value)> {
    let by_key: Option<Vec<(&Value, &Value)>> = r
        .iter()
        .map(|rv| {
            let key = map.expected(item_key(rv)?);
            let sv = s.iter().find(|sv| item_key(sv) == Some(key.as_str()))?;
            Some((rv, sv))
        })
        .collect();
    by_key.unwrap_or_else(|| r.iter().zip(s).collect())
}

/// The recorded request, so known-difference patterns read like the recordings.
fn request_label(i: &Interaction) -> String {
    format!("{} {}", i.method, i.path())
}

/// An object the recording reads before anything created it existed before the recorded test
/// (an import test): it is put into the simulator through its back door, from the recorded
/// answer, under the same id.
fn seed_preexisting(sim: &SimHandle, i: &Interaction, map: &mut Mapping) {
    if i.method != "GET" || i.status != 200 {
        return;
    }
    let segments: Vec<&str> = i.path().trim_start_matches("/api/v2/").split('/').collect();
    let Ok(Value::Object(mut answer)) = serde_json::from_str::<Value>(i.response_body.trim())
    else {
        return;
    };
    match segments.as_slice() {
        ["clients", id] if !map.ids.contains_key(*id) => {
            answer.remove("client_secret");
            answer.remove("signing_keys");
            sim.insert_client(Value::Object(answer));
            map.ids.insert((*id).to_owned(), (*id).to_owned());
        }
        ["clients", client, "credentials", id] if !map.ids.contains_key(*id) => {
            let client = map.expected(client);
            assert!(
                sim.insert_client_credential(&client, Value::Object(answer)),
                "seeding credential {id} of {client}"
            );
            map.ids.insert((*id).to_owned(), (*id).to_owned());
        }
        _ => {}
    }
}

async fn start_sim() -> SimHandle {
    let config = SimConfig {
        domain: SIM_DOMAIN.into(),
        m2m_clients: vec![M2mCredential {
            scopes: MANAGEMENT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            ..M2mCredential::default()
        }],
        rate_limit: RateLimit::unlimited(),
        ..SimConfig::default()
    };
    common::start(config).await
}

/// Replays one cassette against a fresh simulator and returns the differences.
async fn replay(cassette: &Cassette, http: &reqwest::Client) -> Vec<Difference> {
    let sim = start_sim().await;
    let token = common::management_token(&sim, http, sim.m2m()).await;
    let mut map = Mapping::default();
    let mut diffs = Vec::new();
    for i in &cassette.interactions {
        if map.host.is_none() {
            map.host = Some(i.host().to_owned());
        }
        seed_preexisting(&sim, i, &mut map);
        let url = format!("{}{}", sim.base_url(), map.rewrite(i.path_and_query()));
        let method = reqwest::Method::from_bytes(i.method.as_bytes()).expect("recorded method");
        let mut req = http.request(method, &url).bearer_auth(&token);
        let body = i.request_body.trim();
        if !body.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(map.rewrite(body));
        }
        let answer = req.send().await.expect("simulator answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.expect("simulator body");
        let mut found = Vec::new();
        if status != i.status {
            found.push((
                "(status)".to_owned(),
                Kind::Status,
                format!("Auth0 {}, simulator {status}: {text}", i.status),
            ));
        } else {
            let recorded = i.response_body.trim();
            let sim_body = text.trim();
            match (recorded.is_empty(), sim_body.is_empty()) {
                (true, true) => {}
                (true, false) => found.push((
                    "(body)".to_owned(),
                    Kind::Extra,
                    format!("simulator: {sim_body}"),
                )),
                (false, true) => found.push((
                    "(body)".to_owned(),
                    Kind::Missing,
                    format!("Auth0: {recorded}"),
                )),
                (false, false) => {
                    let r: Value = serde_json::from_str(recorded).expect("recorded JSON");
                    match serde_json::from_str::<Value>(sim_body) {
                        Ok(s) => compare(&r, &s, "", &mut map, &mut found),
                        Err(_) => found.push((
                            "(body)".to_owned(),
                            Kind::Type,
                            format!("simulator answered non-JSON: {sim_body}"),
                        )),
                    }
                }
            }
        }
        diffs.extend(found.into_iter().map(|(field, kind, detail)| Difference {
            cassette: cassette.name.clone(),
            index: i.index,
            request: request_label(i),
            field,
            kind,
            detail,
        }));
    }
    sim.shutdown().await;
    diffs
}

fn known_differences() -> Vec<Known> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-known-differences.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let known: Vec<Known> = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a list of known differences: {e}", path.display()));
    for k in &known {
        assert!(
            !k.reason.trim().is_empty(),
            "every known difference needs a reason: {k:?}"
        );
    }
    known
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_answers_as_recorded_auth0() {
    let cassettes = recordings::load_all().unwrap_or_else(|e| panic!("{e}"));
    let known = known_differences();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let mut diffs = Vec::new();
    let mut interactions = 0;
    for cassette in &cassettes {
        interactions += cassette.interactions.len();
        diffs.extend(replay(cassette, &http).await);
    }
    assert!(interactions > 0, "the recordings hold no interaction");

    let mut used = vec![0usize; known.len()];
    let mut unexplained = Vec::new();
    for d in &diffs {
        match known.iter().position(|k| k.matches(d)) {
            Some(i) => used[i] += 1,
            None => unexplained.push(d),
        }
    }
    let stale: Vec<&Known> = known
        .iter()
        .zip(&used)
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| k)
        .collect();
    if std::env::var_os("CONFORMANCE_SUMMARY").is_some() {
        let mut summary: BTreeMap<(String, String, Kind), (usize, String)> = BTreeMap::new();
        for d in &unexplained {
            let e = summary
                .entry((d.request.clone(), d.field.clone(), d.kind))
                .or_insert((0, d.to_string()));
            e.0 += 1;
        }
        for ((req, field, kind), (n, example)) in &summary {
            eprintln!("{n:4} {req} {field} {kind:?}\n       e.g. {example}");
        }
    }
    let mut report = String::new();
    for d in unexplained.iter().take(60) {
        report.push_str(&format!("  NEW {d}\n"));
    }
    if unexplained.len() > 60 {
        report.push_str(&format!("  ... and {} more\n", unexplained.len() - 60));
    }
    for k in &stale {
        report.push_str(&format!(
            "  STALE (no longer occurs, remove it): cassette={} request={:?} field={} kind={:?}\n",
            k.cassette, k.request, k.field, k.kind
        ));
    }
    assert!(
        report.is_empty(),
        "the simulator differs from recorded Auth0 ({} cassettes, {interactions} interactions, \
         {} differences, {} unexplained, {} stale known differences); fix the simulator or list \
         the difference with its reason in tests/conformance-known-differences.yaml:\n{report}",
        cassettes.len(),
        diffs.len(),
        unexplained.len(),
        stale.len()
    );
}

#[test]
fn glob_patterns() {
    assert!(glob("*", "anything"));
    assert!(glob("GET /api/v2/clients/*", "GET /api/v2/clients/abc"));
    assert!(!glob("GET /api/v2/clients/*", "PATCH /api/v2/clients/abc"));
    assert!(glob("a*c*e", "abcde"));
    assert!(!glob("a*c*e", "abcdf"));
    assert!(glob("signing_keys", "signing_keys"));
    assert!(!glob("signing_keys", "signing_keys[].cert"));
}

#[test]
fn a_missing_recordings_folder_is_an_error() {
    let err = recordings::load_dir(Path::new("/nonexistent/recordings/auth0"))
        .expect_err("a missing folder fails");
    assert!(
        err.to_string()
            .contains("recordings of real Auth0 traffic are missing")
    );
}
