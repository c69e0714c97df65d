//! Reading manifests: files, directories (recursively, `*.yaml`, `*.yml`, `*.json`, in name
//! order) or standard input, each holding one or more YAML documents (Kustomize and
//! `helm template` output, `kind: List`). AuthTenants, AuthClients and AuthResourceServers are
//! kept; Namespaces give their labels (for `allowedNamespaces` selectors); every other kind is
//! ignored with a note.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use kube::ResourceExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use nexus_crd::{AuthClient, AuthResourceServer, AuthTenant, GROUP};

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path (`-` for standard input).
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A document is not YAML. Shown with its line and column but without the parser's
    /// source snippet: the files may hold Secrets (a Kustomize or Helm output), and the snippet
    /// would print the lines around the error, a secret's value among them.
    #[error("{path}: not valid YAML: {}", cause.without_snippet())]
    Yaml {
        /// The file.
        path: String,
        /// The cause (deliberately not a `source`: its `Display` quotes the file).
        cause: Box<serde_saphyr::Error>,
    },
    /// A document of a known kind does not match its schema.
    #[error("{path}: {kind} '{name}' does not match its schema: {source}")]
    Schema {
        /// The file.
        path: String,
        /// The kind.
        kind: String,
        /// `metadata.name` (or `namespace/name`).
        name: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A namespaced object without a namespace.
    #[error(
        "{path}: {kind} '{name}' has no metadata.namespace (plan needs it: governance is per namespace)"
    )]
    MissingNamespace {
        /// The file.
        path: String,
        /// The kind.
        kind: String,
        /// `metadata.name`.
        name: String,
    },
    /// The same object twice.
    #[error("{kind} '{name}' appears twice ({first} and {second})")]
    Duplicate {
        /// The kind.
        kind: String,
        /// `namespace/name` or name.
        name: String,
        /// Where it was first read.
        first: String,
        /// Where it was read again.
        second: String,
    },
}

/// Everything read from the manifests.
#[derive(Debug, Default)]
pub struct Manifests {
    /// AuthTenants by name.
    pub tenants: BTreeMap<String, AuthTenant>,
    /// AuthClients by `namespace/name`.
    pub clients: BTreeMap<String, AuthClient>,
    /// AuthResourceServers by `namespace/name`.
    pub servers: BTreeMap<String, AuthResourceServer>,
    /// Labels of the Namespaces found in the manifests.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// One line per ignored document (`path: kind name`).
    pub ignored: Vec<String>,
    /// What the controller recorded in the status of the AuthClients, by `namespace/name`
    /// (from a cluster, [`crate::cluster`]; empty without one).
    pub recorded: BTreeMap<String, nexus_crd::AuthClientStatus>,
    /// What the controller recorded in the status of the AuthResourceServers, by
    /// `namespace/name` (`None` without a cluster: then which API is whose is not known).
    pub recorded_servers: Option<BTreeMap<String, nexus_crd::AuthResourceServerStatus>>,
    origins: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: HeadMeta,
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

#[derive(Default, Deserialize)]
struct HeadMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl Manifests {
    /// Reads every source (`-` is standard input).
    pub fn read(sources: &[PathBuf]) -> Result<Self, ManifestError> {
        let mut manifests = Manifests::default();
        for source in sources {
            if source.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|source| ManifestError::Io {
                        path: "-".into(),
                        source,
                    })?;
                manifests.add_text("-", &text)?;
            } else {
                manifests.add_path(source)?;
            }
        }
        Ok(manifests)
    }

    /// Adds the documents of one file or directory.
    pub fn add_path(&mut self, path: &Path) -> Result<(), ManifestError> {
        let io = |source| ManifestError::Io {
            path: path.display().to_string(),
            source,
        };
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(io)?;
            entries.sort();
            for entry in entries {
                let wanted = entry.is_dir()
                    || entry
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
                if wanted {
                    self.add_path(&entry)?;
                }
            }
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        self.add_text(&path.display().to_string(), &text)
    }

    /// Adds the documents of `text` (read from `path`).
    pub fn add_text(&mut self, path: &str, text: &str) -> Result<(), ManifestError> {
        let documents: Vec<Option<serde_json::Value>> =
            serde_saphyr::from_multiple(text).map_err(|cause| ManifestError::Yaml {
                path: path.to_owned(),
                cause: Box::new(cause),
            })?;
        for document in documents.into_iter().flatten() {
            self.add_document(path, document)?;
        }
        Ok(())
    }

    fn add_document(
        &mut self,
        path: &str,
        document: serde_json::Value,
    ) -> Result<(), ManifestError> {
        if document.is_null() {
            return Ok(());
        }
        let head: Head = match serde_json::from_value(document.clone()) {
            Ok(head) => head,
            Err(_) => {
                self.ignored.push(format!(
                    "{path}: a document that is not a Kubernetes object"
                ));
                return Ok(());
            }
        };
        let ours = head.api_version.split('/').next() == Some(GROUP);
        match (ours, head.kind.as_str()) {
            (_, "List") => {
                for item in head.items {
                    self.add_document(path, item)?;
                }
            }
            (true, "AuthTenant") => {
                let tenant: AuthTenant = typed(path, &head.kind, &head.metadata.name, document)?;
                let name = tenant.name_any();
                self.remember("AuthTenant", &name, path)?;
                self.tenants.insert(name, tenant);
            }
            (true, "AuthClient") => {
                let client: AuthClient = typed(path, &head.kind, &head.metadata.name, document)?;
                let key = self.namespaced("AuthClient", path, &client)?;
                self.clients.insert(key, client);
            }
            (true, "AuthResourceServer") => {
                let server: AuthResourceServer =
                    typed(path, &head.kind, &head.metadata.name, document)?;
                let key = self.namespaced("AuthResourceServer", path, &server)?;
                self.servers.insert(key, server);
            }
            (false, "Namespace") if head.api_version == "v1" => {
                self.namespace_labels
                    .insert(head.metadata.name, head.metadata.labels);
            }
            (_, kind) => self.ignored.push(format!(
                "{path}: {} {} (not an AuthTenant, AuthClient or AuthResourceServer)",
                if kind.is_empty() { "(no kind)" } else { kind },
                head.metadata.name
            )),
        }
        Ok(())
    }

    fn namespaced<K: kube::Resource>(
        &mut self,
        kind: &str,
        path: &str,
        object: &K,
    ) -> Result<String, ManifestError> {
        let name = object.meta().name.clone().unwrap_or_default();
        let Some(namespace) = object.meta().namespace.clone().filter(|n| !n.is_empty()) else {
            return Err(ManifestError::MissingNamespace {
                path: path.to_owned(),
                kind: kind.to_owned(),
                name,
            });
        };
        let key = format!("{namespace}/{name}");
        self.remember(kind, &key, path)?;
        Ok(key)
    }

    fn remember(&mut self, kind: &str, key: &str, path: &str) -> Result<(), ManifestError> {
        let id = format!("{kind} {key}");
        if let Some(first) = self.origins.insert(id, path.to_owned()) {
            return Err(ManifestError::Duplicate {
                kind: kind.to_owned(),
                name: key.to_owned(),
                first,
                second: path.to_owned(),
            });
        }
        Ok(())
    }

    /// The labels of `namespace` (empty when the manifests hold no such Namespace).
    pub fn labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.namespace_labels
            .get(namespace)
            .cloned()
            .unwrap_or_default()
    }
}

fn typed<T: DeserializeOwned>(
    path: &str,
    kind: &str,
    name: &str,
    document: serde_json::Value,
) -> Result<T, ManifestError> {
    serde_json::from_value(document).map_err(|source| ManifestError::Schema {
        path: path.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
apiVersion: auth.nexus.dev/v1alpha1
kind: AuthClient
metadata: {name: orders, namespace: team-a}
spec:
  tenant: acme
  client: {name: Orders, app_type: spa}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {team: a}}
---
"#;

    #[test]
    fn multi_document_yaml_keeps_our_kinds_and_notes_the_rest() {
        let mut m = Manifests::default();
        m.add_text("x.yaml", TEXT).expect("reads");
        assert_eq!(m.clients.keys().collect::<Vec<_>>(), ["team-a/orders"]);
        assert_eq!(m.ignored.len(), 1, "{:?}", m.ignored);
        assert!(m.ignored[0].contains("ConfigMap other"));
        assert_eq!(
            m.labels("team-a").get("team").map(String::as_str),
            Some("a")
        );
        let again = m.add_text("y.yaml", TEXT).expect_err("duplicate");
        assert!(again.to_string().contains("appears twice"), "{again}");
    }

    #[test]
    fn a_client_without_namespace_is_an_error() {
        let mut m = Manifests::default();
        let error = m
            .add_text(
                "x.yaml",
                "apiVersion: auth.nexus.dev/v1alpha1\nkind: AuthClient\nmetadata: {name: a}\nspec: {tenant: t, client: {name: A, app_type: spa}}\n",
            )
            .expect_err("no namespace");
        assert!(matches!(error, ManifestError::MissingNamespace { .. }));
    }

    /// Attack: a malformed Secret among the files (`plan -f deploy/`, a Helm output piped in)
    /// must not have its value printed in the error quoting the file.
    #[test]
    fn a_yaml_error_never_quotes_the_file() {
        let secret = "s3cr3t-value-of-the-m2m-client";
        for text in [
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: m2m}}\nstringData:\n  client_secret: {secret}\n  client_id: [x\n"
            ),
            format!(
                "apiVersion: v1\nkind: Secret\nstringData:\n  client_secret: \"{secret}\n  other: y\n"
            ),
        ] {
            let error = Manifests::default()
                .add_text("deploy/m2m.yaml", &text)
                .expect_err("malformed");
            let shown = error.to_string();
            assert!(!shown.contains(secret), "{shown}");
            assert!(
                shown.contains("deploy/m2m.yaml: not valid YAML") && shown.contains("line"),
                "{shown}"
            );
            assert!(std::error::Error::source(&error).is_none());
        }
    }
}
