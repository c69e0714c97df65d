//! Recorded traffic of the real Auth0 Management API (go-vcr "cassettes", version 2), read at
//! test time from `<workspace root>/../shared/recordings/auth0/*.yaml`.
//!
//! The recordings are evidence, not part of the project: tests read them where the workspace's
//! checkout has them beside it (CI lays a copy of `shared/` next to the clone) and never copy them
//! into the repository. [`recordings_dir`] finds the folder; [`load_all`] reads every cassette.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variable that overrides the recordings folder.
pub const RECORDINGS_ENV: &str = "NEXUS_AUTH0_RECORDINGS";

/// The value `[REDACTED]` the recorder put in place of secrets.
pub const REDACTED: &str = "[REDACTED]";

/// One cassette: the interactions of one recorded acceptance test, in order.
#[derive(Debug, Clone)]
pub struct Cassette {
    /// The file name without `.yaml` (the test's name, e.g. `TestAccClientMobile`).
    pub name: String,
    /// The request/answer pairs, in the order they happened.
    pub interactions: Vec<Interaction>,
}

/// One recorded request and the real service's answer.
#[derive(Debug, Clone)]
pub struct Interaction {
    /// Position in the cassette (the recorder's `id`).
    pub index: usize,
    /// HTTP method.
    pub method: String,
    /// The full URL as sent (`https://{host}/api/v2/...`).
    pub url: String,
    /// The request body (empty when there was none).
    pub request_body: String,
    /// The answer's status code.
    pub status: u16,
    /// The answer's body (empty when there was none).
    pub response_body: String,
}

impl Interaction {
    /// The host of the recorded tenant.
    pub fn host(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or_default()
    }

    /// Path and query (`/api/v2/...?...`).
    pub fn path_and_query(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        rest.find('/').map_or("/", |i| &rest[i..])
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.split_once('?').map_or(pq, |(p, _)| p)
    }

    /// The request body as JSON, when it is JSON.
    pub fn request_json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.request_body.trim()).ok()
    }

    /// Whether Auth0 accepted the request (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Deserialize)]
struct RawCassette {
    #[serde(default)]
    interactions: Vec<RawInteraction>,
}

#[derive(Deserialize)]
struct RawInteraction {
    #[serde(default)]
    id: Option<usize>,
    request: RawRequest,
    response: RawResponse,
}

#[derive(Deserialize)]
struct RawRequest {
    #[serde(default)]
    body: Option<String>,
    url: String,
    method: String,
}

#[derive(Deserialize)]
struct RawResponse {
    #[serde(default)]
    body: Option<String>,
    code: u16,
}

/// Why the recordings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingsError {
    /// The folder does not exist.
    #[error(
        "the recordings of real Auth0 traffic are missing: {0} does not exist (they live in \
         <workspace root>/../shared/recordings/auth0/, beside the checkout; set {RECORDINGS_ENV} \
         to read them from elsewhere)"
    )]
    Missing(PathBuf),
    /// The folder holds no cassette.
    #[error("no *.yaml cassette in {0}")]
    Empty(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a go-vcr cassette.
    #[error("{path} is not a go-vcr cassette: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// The recordings folder: `$NEXUS_AUTH0_RECORDINGS` when set, else
/// `<workspace root>/../shared/recordings/auth0` (the workspace root is two levels above this
/// crate's manifest).
pub fn recordings_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(RECORDINGS_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/recordings/auth0")
        .components()
        .collect()
}

/// Reads one cassette file.
pub fn load(path: &Path) -> Result<Cassette, RecordingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecordingsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let raw: RawCassette = serde_saphyr::from_str(&text).map_err(|e| RecordingsError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let interactions = raw
        .interactions
        .into_iter()
        .enumerate()
        .map(|(i, r)| Interaction {
            index: r.id.unwrap_or(i),
            method: r.request.method,
            url: r.request.url,
            request_body: r.request.body.unwrap_or_default(),
            status: r.response.code,
            response_body: r.response.body.unwrap_or_default(),
        })
        .collect();
    Ok(Cassette { name, interactions })
}

/// Every `*.yaml` cassette of [`recordings_dir`], sorted by name. A missing or empty folder is
/// an error (CI has the recordings; a test must not pass by reading nothing).
pub fn load_all() -> Result<Vec<Cassette>, RecordingsError> {
    load_dir(&recordings_dir())
}

/// Every `*.yaml` cassette of `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Cassette>, RecordingsError> {
    if !dir.is_dir() {
        return Err(RecordingsError::Missing(dir.to_owned()));
    }
    let entries = std::fs::read_dir(dir).map_err(|source| RecordingsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RecordingsError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(RecordingsError::Empty(dir.to_owned()));
    }
    paths.iter().map(|p| load(p)).collect()
}
