//! Test support shared by the workspace's test suites and benchmarks: the simulator and
//! in-memory API server world ([`world`]), the facade's callers ([`facade`]), log capture
//! ([`logs`]), an application's token requests ([`tokens`]), unique names, scratch directories,
//! kubeconfig files for a plain-HTTP API server, base64 helpers, secret detectors and a bare
//! HTTP GET. Never a dependency of a production crate.

pub mod facade;
pub mod logs;
pub mod paused;
pub mod process;
pub mod tokens;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine as _;

/// A name unique to this run, valid as a Kubernetes name (`prefix-xxxxxxxx`).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A fresh scratch directory under the system temporary directory.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes a kubeconfig naming the plain-HTTP API server at `addr` (no credentials) and
/// returns its path.
pub fn write_kubeconfig(dir: &std::path::Path, addr: SocketAddr) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://{addr}
users:
- name: fake
  user: {{}}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// Builds a client from a kubeconfig file, like `kubectl --kubeconfig`.
pub async fn client_from_kubeconfig(path: &std::path::Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("cannot read kubeconfig {}: {e}", path.display()));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("unusable kubeconfig {}: {e}", path.display()));
    kube::Client::try_from(config).expect("kube client")
}

/// Encodes a Secret value as base64.
pub fn b64(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// Decodes a base64 Secret value.
pub fn unb64(value: &serde_json::Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("base64 string"))
        .expect("valid base64");
    String::from_utf8(bytes).expect("utf8")
}

/// Status, reason and message of the `Ready` condition of `object` (an object as JSON).
pub fn ready_condition(object: &serde_json::Value) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

/// A reflector store filled from one list of `api`, as a controller's cache is after its
/// watch's initial list (one API request; no watch keeps it current afterwards).
pub async fn reflector_store<K>(api: &kube::Api<K>) -> kube::runtime::reflector::Store<K>
where
    K: kube::Resource
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    use kube::runtime::watcher::Event;
    let mut writer = kube::runtime::reflector::store::Writer::<K>::default();
    let reader = writer.as_reader();
    let list = api.list(&Default::default()).await.expect("list");
    writer.apply_watcher_event(&Event::Init);
    for obj in list.items {
        writer.apply_watcher_event(&Event::InitApply(obj));
    }
    writer.apply_watcher_event(&Event::InitDone);
    reader
}

/// Whether `object` (an object as JSON) is Ready=True.
pub fn is_ready(object: &serde_json::Value) -> bool {
    ready_condition(object).is_some_and(|(status, _, _)| status == "True")
}

/// A free loopback port (bound, then released: only for addresses a child process must bind).
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Whether `text` contains something shaped like a JWT (`eyJ...` `.` `eyJ...` `.`): the
/// header and payload of every JWT, such as a Management API access token, start with `eyJ`.
pub fn contains_jwt(text: &str) -> bool {
    let is_b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(pos) = text[start..].find("eyJ") {
        let header = start + pos;
        let mut i = header;
        while i < bytes.len() && is_b64url(bytes[i]) {
            i += 1;
        }
        if i + 4 <= bytes.len() && bytes[i] == b'.' && &text[i + 1..i + 4] == "eyJ" {
            let mut j = i + 1;
            while j < bytes.len() && is_b64url(bytes[j]) {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'.' {
                return true;
            }
        }
        start = header + 3;
    }
    false
}

/// A plain HTTP/1.1 GET on loopback; returns `(status code, body)`.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}
