//! `nexus-operator import`: one AuthClient manifest per Auth0 client of a tenant that no
//! AuthClient owns (no ownership tag), adopting it by id with `driftPolicy: Report` and
//! `deletionPolicy: Orphan`, its grants and connections as Auth0 holds them, and a header
//! saying what applying it does. The tenant's adoption rules decide which namespaces get
//! manifests; the tenant's own Management API client is never imported; no secret is
//! written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::ResourceExt;
use serde_json::{Value, json};

use crate::credentials::{CredentialSources, CredentialsError};
use crate::manifests::Manifests;
use crate::state::{Reads, TenantState};
use auth0_mgmt::{Auth0Client, Auth0Registry};
use nexus_controller::authclient::resolve::spec_refusal;
use nexus_controller::governance::Governance;
use nexus_controller::ownership::tagged_owner;
use nexus_controller::tenant_access;
use nexus_crd::{AuthClient, AuthResourceServer, AuthTenant};

/// Where an imported client's namespace comes from.
#[derive(Clone, Debug)]
pub enum NamespaceSource {
    /// Every client in this namespace.
    Fixed(String),
    /// The value of this `client_metadata` key of each client.
    Metadata(String),
}

/// Options of an import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The AuthTenant (it must be in the manifests: its adoption rules and endpoint).
    pub tenant: String,
    /// The namespace of the manifests.
    pub namespace: NamespaceSource,
}

/// Why an import failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The AuthTenant is not in the manifests.
    #[error(
        "AuthTenant '{0}' is not in the manifests given with -f; import reads its adoption rules and endpoint from it"
    )]
    TenantNotFound(String),
    /// `--namespace` is not a namespace name (it also names the output folder).
    #[error("--namespace '{0}' is not a Kubernetes namespace name (a DNS-1123 label)")]
    InvalidNamespace(String),
    /// Credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Auth0.
    #[error("reading tenant '{tenant}' from Auth0: {source}")]
    Auth0 {
        /// The tenant.
        tenant: String,
        /// The cause.
        #[source]
        source: crate::state::Auth0Failure,
    },
    /// A folder or file import would write is a symbolic link: writing through it could land
    /// outside the folder given with `-o`.
    #[error(
        "refusing to write {path}: it is a symbolic link (import writes only real files and folders inside the folder given with -o)"
    )]
    SymbolicLink {
        /// The link.
        path: String,
    },
    /// Writing a manifest.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// One manifest to write.
#[derive(Clone, Debug)]
pub struct Imported {
    /// Its namespace.
    pub namespace: String,
    /// The AuthClient's name.
    pub name: String,
    /// The Auth0 client id it adopts.
    pub client_id: String,
    /// The file's text: the header, then the YAML.
    pub text: String,
    /// The controller's refusal of this manifest as written (governance, validation), if any.
    pub warning: Option<String>,
}

/// What an import found.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    /// The manifests, by namespace and name.
    pub written: Vec<Imported>,
    /// One line per client or API not imported, with the reason.
    pub skipped: Vec<String>,
    /// List requests sent.
    pub list_calls: u32,
}

impl ImportReport {
    /// All manifests as one multi-document YAML stream.
    pub fn stream(&self) -> String {
        self.written
            .iter()
            .map(|m| format!("---\n{}", m.text))
            .collect()
    }

    /// Writes `DIR/<namespace>/<name>.yaml` for each manifest; returns the paths. A namespace
    /// folder or a file that is a symbolic link is refused, not followed: the folder is opened
    /// with `O_NOFOLLOW | O_DIRECTORY` and the file is created relative to that open folder
    /// with `O_NOFOLLOW`, so there is no moment between a check and the write in which a link
    /// put there by another process would be followed.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
        let mut paths = Vec::new();
        for manifest in &self.written {
            let file = format!("{}.yaml", manifest.name);
            let path = dir.join(&manifest.namespace).join(&file);
            no_follow::write(dir, &manifest.namespace, &file, manifest.text.as_bytes()).map_err(
                |failure| match failure {
                    no_follow::Failure::Link(link) => ImportError::SymbolicLink {
                        path: link.display().to_string(),
                    },
                    no_follow::Failure::Io(source) => ImportError::Io {
                        path: path.display().to_string(),
                        source,
                    },
                },
            )?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Writing a file two levels below a folder without ever following a symbolic link in those
/// two levels, whatever another process does meanwhile (`openat` on an open folder).
mod no_follow {
    use std::ffi::CString;
    use std::io::Write as _;
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    use std::path::{Path, PathBuf};

    /// Why a write failed.
    pub(super) enum Failure {
        /// This path is a symbolic link.
        Link(PathBuf),
        /// Any other failure.
        Io(std::io::Error),
    }

    impl From<std::io::Error> for Failure {
        fn from(error: std::io::Error) -> Self {
            Self::Io(error)
        }
    }

    /// Writes `text` to `dir/folder/file`, creating `folder` if needed (mode 0755, the file
    /// 0644 before the umask). `folder` and `file` must be single path components.
    pub(super) fn write(dir: &Path, folder: &str, file: &str, text: &[u8]) -> Result<(), Failure> {
        let folder_name = component(folder)?;
        let file_name = component(file)?;
        // `dir` is the folder given with -o: the user's choice, created if missing and
        // followed if it is a link.
        std::fs::create_dir_all(dir)?;
        let out = std::fs::File::open(dir)?;
        // SAFETY: `out` is an open descriptor and `folder_name` a NUL-terminated string.
        let made = unsafe { libc::mkdirat(out.as_raw_fd(), folder_name.as_ptr(), 0o755) };
        if made != 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(Failure::Io(error));
            }
        }
        let folder_fd = open_at(
            &out,
            &folder_name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
        .map_err(|error| link_or(error, dir.join(folder)))?;
        let file_fd = open_at(
            &folder_fd,
            &file_name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
        .map_err(|error| link_or(error, dir.join(folder).join(file)))?;
        std::fs::File::from(file_fd).write_all(text)?;
        Ok(())
    }

    /// `name` as one path component (no `/`, not `.` or `..`, no NUL).
    fn component(name: &str) -> Result<CString, Failure> {
        let invalid = || {
            Failure::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{name:?} is not a single file name"),
            ))
        };
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(invalid());
        }
        CString::new(name).map_err(|_| invalid())
    }

    /// `openat(parent, name, flags, 0644)`.
    fn open_at(
        parent: &impl std::os::fd::AsRawFd,
        name: &CString,
        flags: libc::c_int,
    ) -> std::io::Result<OwnedFd> {
        // SAFETY: `parent` is an open descriptor and `name` a NUL-terminated string; the mode
        // is passed as the variadic argument `openat` reads when `O_CREAT` is set.
        let fd = unsafe {
            libc::openat(
                parent.as_raw_fd(),
                name.as_ptr(),
                flags,
                0o644 as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `openat` returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// A refused link, or the error itself. `O_NOFOLLOW` on a link fails with `ELOOP`, and
    /// with `ENOTDIR` when `O_DIRECTORY` is set too (as for a plain file): the path is looked at
    /// again only to name the failure, the write having been refused already.
    fn link_or(error: std::io::Error, path: PathBuf) -> Failure {
        let is_link =
            || std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink());
        let refused = matches!(error.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR));
        if refused && is_link() {
            Failure::Link(path)
        } else {
            Failure::Io(error)
        }
    }
}

/// The metadata keys of the Nexus contract that map to `spec.client.client_metadata`.
const NEXUS_KEYS: [(&str, &str); 5] = [
    ("owners", "owners"),
    ("productName", "productName"),
    ("client_upn_key", "client_upn_key"),
    ("applicationName", "applicationName"),
    ("manuallyCreated", "manuallyCreated"),
];

/// Imports the unowned clients of `options.tenant` (read-only).
pub async fn import(
    manifests: &Manifests,
    credentials: &CredentialSources,
    registry: &Auth0Registry,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    if let NamespaceSource::Fixed(namespace) = &options.namespace
        && !is_dns_label(namespace)
    {
        return Err(ImportError::InvalidNamespace(one_line(namespace)));
    }
    let tenant = manifests
        .tenants
        .get(&options.tenant)
        .ok_or_else(|| ImportError::TenantNotFound(options.tenant.clone()))?;
    let auth0 = credentials.client(registry, tenant)?;
    let state = TenantState::read(&auth0, Reads::all())
        .await
        .map_err(|source| ImportError::Auth0 {
            tenant: options.tenant.clone(),
            source: source.into(),
        })?;
    Ok(import_state(
        manifests,
        tenant,
        &state,
        auth0.client_id(),
        options,
    ))
}

/// [`import`] from a tenant's state already read.
pub fn import_state(
    manifests: &Manifests,
    tenant: &AuthTenant,
    state: &TenantState,
    management_client_id: &str,
    options: &ImportOptions,
) -> ImportReport {
    let tenant_name = tenant.name_any();
    let mut report = ImportReport {
        list_calls: state.list_calls,
        ..ImportReport::default()
    };
    let declared: BTreeMap<&str, String> = manifests
        .clients
        .iter()
        .filter(|(_, c)| c.spec.tenant == tenant_name)
        .filter_map(|(key, c)| c.spec.client.id.as_deref().map(|id| (id, key.clone())))
        .collect();
    let servers: Vec<Arc<AuthResourceServer>> =
        manifests.servers.values().cloned().map(Arc::new).collect();
    let mut taken: BTreeSet<(String, String)> = manifests
        .clients
        .keys()
        .filter_map(|k| k.split_once('/'))
        .map(|(ns, n)| (ns.to_owned(), n.to_owned()))
        .collect();
    // The Management API (a system API; its identifier is `https://{domain}/api/v2/`): a
    // client granted on it holds the keys of the tenant.
    let mut management_audiences: BTreeSet<String> = state
        .apis
        .values()
        .filter(|a| a.is_system)
        .map(|a| a.identifier.clone())
        .collect();
    management_audiences.insert(format!("https://{}/api/v2/", tenant.spec.domain));
    let mut clients: Vec<&Auth0Client> = state.clients.values().collect();
    clients.sort_by(|a, b| (&a.name, &a.client_id).cmp(&(&b.name, &b.client_id)));
    for client in clients {
        let what = format!(
            "client {} ({})",
            one_line(&client.client_id),
            one_line(client.name.as_deref().unwrap_or(""))
        );
        if client.client_id == management_client_id {
            report.skipped.push(format!(
                "{what}: the tenant's own Management API client (the credentials of AuthTenant '{tenant_name}') is never imported"
            ));
            continue;
        }
        if let Some(owner) = tagged_owner(client) {
            report.skipped.push(format!(
                "{what}: already owned by AuthClient '{}' of cluster '{}'",
                owner.owner_ref, owner.cluster
            ));
            continue;
        }
        if let Some(audience) = state
            .grants_of(&client.client_id)
            .into_iter()
            .map(|g| g.audience)
            .find(|a| management_audiences.contains(a))
        {
            report.skipped.push(format!(
                "{what}: holds a grant on the Auth0 Management API ({}); its secret manages the whole tenant, so no namespace is given it by import",
                one_line(&audience)
            ));
            continue;
        }
        if let Some(key) = declared.get(client.client_id.as_str()) {
            report.skipped.push(format!(
                "{what}: already declared by AuthClient {key} in the files"
            ));
            continue;
        }
        let namespace = match &options.namespace {
            NamespaceSource::Fixed(ns) => ns.clone(),
            NamespaceSource::Metadata(key) => match client
                .client_metadata
                .as_ref()
                .and_then(|m| m.get(key))
                .filter(|v| is_dns_label(v))
            {
                Some(ns) => ns.clone(),
                None => {
                    report.skipped.push(format!(
                        "{what}: client_metadata.{key} is absent or not a namespace name"
                    ));
                    continue;
                }
            },
        };
        let labels = manifests.labels(&namespace);
        if !tenant_access::namespace_allowed(tenant, &namespace, &labels) {
            report.skipped.push(format!(
                "{what}: AuthTenant '{tenant_name}' does not allow namespace '{namespace}' (spec.allowedNamespaces); not written"
            ));
            continue;
        }
        let may_adopt = tenant.spec.adoption.as_ref().is_some_and(|a| {
            tenant_access::namespaces_match(&a.allowed_namespaces, &namespace, &labels)
        });
        if !may_adopt {
            report.skipped.push(format!(
                "{what}: AuthTenant '{tenant_name}' does not let namespace '{namespace}' adopt existing Auth0 clients (spec.adoption.allowedNamespaces); not written"
            ));
            continue;
        }
        let Some(app_type) = client.app_type.clone().filter(|t| !t.is_empty()) else {
            report
                .skipped
                .push(format!("{what}: Auth0 returned no app_type; not written"));
            continue;
        };
        let name = unique_name(&mut taken, &namespace, client);
        let document = manifest(&tenant_name, &namespace, &name, client, &app_type, state);
        let object: AuthClient = match serde_json::from_value(document.clone()) {
            Ok(object) => object,
            Err(error) => {
                report.skipped.push(format!(
                    "{what}: cannot be expressed as an AuthClient: {error}"
                ));
                continue;
            }
        };
        let governance = Governance {
            tenant,
            namespace: &namespace,
            labels: &labels,
            servers: &servers,
        };
        let warning = spec_refusal(&object, &Default::default(), &governance)
            .0
            .map(|f| one_line(&format!("{}: {}", f.reason.as_str(), f.message)));
        let mut yaml = serde_saphyr::to_string(&document).unwrap_or_default();
        if !yaml.ends_with('\n') {
            yaml.push('\n');
        }
        let text = format!(
            "{}{}",
            header(tenant, client, &object, warning.as_deref()),
            yaml
        );
        report.written.push(Imported {
            namespace,
            name,
            client_id: client.client_id.clone(),
            text,
            warning,
        });
    }
    let declared_apis: BTreeSet<&str> = manifests
        .servers
        .values()
        .filter(|s| s.spec.tenant == tenant_name)
        .map(|s| s.spec.identifier.as_str())
        .collect();
    for api in state.apis.values() {
        if api.is_system || declared_apis.contains(api.identifier.as_str()) {
            continue;
        }
        report.skipped.push(format!(
            "API {} ({}): an AuthResourceServer cannot adopt an API created elsewhere (the controller refuses an identifier Auth0 already holds: IdentifierInUse); the imported clients' grants to it need the AuthTenant's spec.grantableAudiences to list it",
            one_line(&api.identifier),
            one_line(api.name.as_deref().unwrap_or(""))
        ));
    }
    report
        .written
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    report
}

/// `text` on one line of a YAML comment or a terminal: every control character (line breaks,
/// escape sequences), U+2028/U+2029 and what YAML refuses written as `\u{..}`. Text from
/// Auth0 (a client's name, id, a refusal quoting it) goes through this before it enters a
/// comment, so a name like `x\n---\nkind: AuthClient` cannot end the comment and add a document.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}')
            || !nexus_crd::printable::is_yaml_printable(c)
        {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `value` is a Kubernetes namespace name (a DNS-1123 label).
pub fn is_dns_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// A DNS-1123 name from the client's name, unique in its namespace (the client id's start
/// appended on a collision).
fn unique_name(
    taken: &mut BTreeSet<(String, String)>,
    namespace: &str,
    client: &Auth0Client,
) -> String {
    let mut slug = String::new();
    for c in client.name.as_deref().unwrap_or("client").chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.truncate(40);
    let mut slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() {
        slug = "client".to_owned();
    }
    let suffix: String = client
        .client_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    let mut name = slug.clone();
    if taken.contains(&(namespace.to_owned(), name.clone())) {
        name = format!("{slug}-{suffix}");
    }
    taken.insert((namespace.to_owned(), name.clone()));
    name
}

/// The AuthClient document (only what Auth0 holds, nothing defaulted).
fn manifest(
    tenant: &str,
    namespace: &str,
    name: &str,
    client: &Auth0Client,
    app_type: &str,
    state: &TenantState,
) -> Value {
    let mut spec_client = serde_json::Map::new();
    spec_client.insert(
        "name".into(),
        json!(client.name.clone().unwrap_or_default()),
    );
    spec_client.insert("app_type".into(), json!(app_type));
    spec_client.insert("id".into(), json!(client.client_id));
    let optional = [
        ("description", client.description.as_ref().map(|v| json!(v))),
        ("logo_uri", client.logo_uri.as_ref().map(|v| json!(v))),
        (
            "initiate_login_uri",
            client.initiate_login_uri.as_ref().map(|v| json!(v)),
        ),
        ("callbacks", client.callbacks.as_ref().map(|v| json!(v))),
        (
            "allowed_origins",
            client.allowed_origins.as_ref().map(|v| json!(v)),
        ),
        ("web_origins", client.web_origins.as_ref().map(|v| json!(v))),
        (
            "allowed_logout_urls",
            client.allowed_logout_urls.as_ref().map(|v| json!(v)),
        ),
        ("grant_types", client.grant_types.as_ref().map(|v| json!(v))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            spec_client.insert(key.into(), value);
        }
    }
    let mut metadata = serde_json::Map::new();
    if let Some(have) = &client.client_metadata {
        for (auth0_key, spec_key) in NEXUS_KEYS {
            let Some(value) = have.get(auth0_key) else {
                continue;
            };
            if auth0_key == "manuallyCreated" {
                // A boolean in the spec; only a value the operator writes back identically.
                match value.as_str() {
                    "true" => metadata.insert(spec_key.into(), json!(true)),
                    "false" => metadata.insert(spec_key.into(), json!(false)),
                    _ => None,
                };
            } else {
                metadata.insert(spec_key.into(), json!(value));
            }
        }
    }
    if !metadata.is_empty() {
        spec_client.insert("client_metadata".into(), Value::Object(metadata));
    }
    let mut grants: Vec<Value> = state
        .grants_of(&client.client_id)
        .into_iter()
        .map(|g| json!({"audience": g.audience, "scopes": g.scope}))
        .collect();
    grants.sort_by_key(|g| g["audience"].as_str().map(str::to_owned));
    let connections: Vec<String> = state
        .connections_of(&client.client_id)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut spec = json!({
        "tenant": tenant,
        "client": Value::Object(spec_client),
        "driftPolicy": "Report",
        "deletionPolicy": "Orphan",
    });
    if !grants.is_empty() {
        spec["grants"] = Value::Array(grants);
    }
    if !connections.is_empty() {
        spec["connections"] = json!(connections);
    }
    json!({
        "apiVersion": format!("{}/{}", nexus_crd::GROUP, nexus_crd::VERSION),
        "kind": "AuthClient",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

fn header(
    tenant: &AuthTenant,
    client: &Auth0Client,
    object: &AuthClient,
    warning: Option<&str>,
) -> String {
    let namespace = object.namespace().unwrap_or_default();
    let mut text = format!(
        "# Imported by `nexus-operator import` from Auth0 tenant {} (AuthTenant {}):\n\
         # client {} \"{}\".\n\
         #\n\
         # Applying this AuthClient ADOPTS that existing Auth0 client (spec.client.id): the\n\
         # operator tags it as owned by {namespace}/{}, writes its client id and secret into the\n\
         # Secret {namespace}/{}, and from then on manages what this file lists: the fields of\n\
         # spec.client, the grants (spec.grants is the complete list: a grant added later in the\n\
         # dashboard is deleted) and the connections it is enabled on.\n\
         # - driftPolicy: Report: changes made in the dashboard are reported (condition Drifted),\n\
         #   not undone. Set Correct once changes go through this file.\n\
         # - deletionPolicy: Orphan: deleting this AuthClient leaves the Auth0 client in place.\n\
         #   Set Delete to let the operator delete it with the AuthClient.\n\
         # Fields absent here (mobile, token and refresh-token settings...) are left as they are.\n\
         # Check before applying: `nexus-operator plan -f <this file and the AuthTenant>` shows\n\
         # \"adopt\" and nothing else to change.\n",
        one_line(&tenant.spec.domain),
        one_line(&tenant.name_any()),
        one_line(&client.client_id),
        one_line(client.name.as_deref().unwrap_or("")),
        object.name_any(),
        one_line(&object.secret_name()),
    );
    if let Some(warning) = warning {
        text.push_str(&format!(
            "#\n# WARNING: the operator refuses this manifest as written ({warning}).\n# Fix the AuthTenant or this file before applying it.\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_and_unique() {
        let mut taken = BTreeSet::new();
        let client = |id: &str, name: &str| Auth0Client {
            client_id: id.into(),
            name: Some(name.into()),
            ..Default::default()
        };
        let a = unique_name(&mut taken, "ns", &client("AbC123xyz9", "My App (Prod)"));
        let b = unique_name(&mut taken, "ns", &client("Zz99yyXX77", "My App -- Prod"));
        assert_eq!(a, "my-app-prod");
        assert_eq!(b, "my-app-prod-zz99yyxx");
        assert!(is_dns_label(&a) && is_dns_label(&b));
        assert_eq!(unique_name(&mut taken, "ns", &client("q", "***")), "client");
    }

    /// Attack: a manifest whose namespace or name is not one path component (built by a caller
    /// of `write_to` that skipped import's DNS-label check) would write outside the folder.
    #[cfg(unix)]
    #[test]
    fn import_never_writes_outside_the_folder_by_name() {
        let out = nexus_testing::scratch_dir("import-out");
        std::fs::create_dir_all(out.join("inner")).expect("mkdir");
        for (namespace, name) in [
            ("..", "web"),
            ("a/b", "web"),
            ("team-a", "../x"),
            ("", "web"),
        ] {
            let report = ImportReport {
                written: vec![Imported {
                    namespace: namespace.into(),
                    name: name.into(),
                    client_id: "abc".into(),
                    text: "imported\n".into(),
                    warning: None,
                }],
                ..ImportReport::default()
            };
            let error = report
                .write_to(&out.join("inner"))
                .expect_err("a name that is not one component is refused");
            assert!(
                matches!(&error, ImportError::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput),
                "{namespace}/{name}: {error}"
            );
        }
        let written: Vec<_> = walk(&out);
        assert_eq!(written, Vec::<PathBuf>::new(), "no file written");
    }

    /// Every file below `dir`.
    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    /// Attack: the output folder (a checkout a pull request controls) holds symbolic links
    /// where import writes; following them would write outside it. There is no check before
    /// the write: the refusal comes from the opens themselves (`O_NOFOLLOW`), so a link another
    /// process creates at any moment is refused the same way.
    #[cfg(unix)]
    #[test]
    fn import_never_writes_through_a_symbolic_link() {
        let report = ImportReport {
            written: vec![Imported {
                namespace: "team-a".into(),
                name: "web".into(),
                client_id: "abc".into(),
                text: "imported\n".into(),
                warning: None,
            }],
            ..ImportReport::default()
        };
        let outside = nexus_testing::scratch_dir("import-outside");
        let victim = outside.join("victim");
        std::fs::write(&victim, "keep\n").expect("write");

        // The manifest's file is a link to a file outside.
        let out = nexus_testing::scratch_dir("import-out");
        std::fs::create_dir_all(out.join("team-a")).expect("mkdir");
        std::os::unix::fs::symlink(&victim, out.join("team-a/web.yaml")).expect("symlink");
        let error = report.write_to(&out).expect_err("a linked file is refused");
        assert!(
            matches!(&error, ImportError::SymbolicLink { path } if path.ends_with("team-a/web.yaml")),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep\n");

        // The namespace folder is a link to a folder outside.
        let out = nexus_testing::scratch_dir("import-out");
        std::os::unix::fs::symlink(&outside, out.join("team-a")).expect("symlink");
        let error = report
            .write_to(&out)
            .expect_err("a linked folder is refused");
        assert!(
            matches!(&error, ImportError::SymbolicLink { path } if path.ends_with("team-a")),
            "{error}"
        );
        assert!(
            !outside.join("web.yaml").exists(),
            "nothing written outside"
        );

        // A plain folder is written as before, and a missing one is created (`-o imported/`).
        let out = nexus_testing::scratch_dir("import-out").join("imported");
        let paths = report.write_to(&out).expect("written");
        assert_eq!(paths, [out.join("team-a/web.yaml")]);
        assert_eq!(
            std::fs::read_to_string(&paths[0]).expect("read"),
            "imported\n"
        );
    }
}
