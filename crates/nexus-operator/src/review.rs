//! `plan` and `import`: builds the Auth0 registry and hands the flags to `nexus-plan`, which
//! does the work; prints its output and returns the exit code.

use std::time::Duration;

use auth0_mgmt::{Auth0Metrics, Auth0Registry};
use nexus_plan::credentials::CredentialSources;
use nexus_plan::manifests::Manifests;
use nexus_plan::plan::PlanOptions;
use nexus_plan::render::{Format, render};
use nexus_plan::{ImportOptions, NamespaceSource};

use crate::cli::{ImportArgs, PlanArgs, PlanFormat, ReviewArgs};

/// Why `plan` or `import` could not run (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The manifests.
    #[error(transparent)]
    Manifests(#[from] nexus_plan::manifests::ManifestError),
    /// The credentials flags.
    #[error(transparent)]
    Credentials(#[from] nexus_plan::credentials::CredentialsError),
    /// The import.
    #[error(transparent)]
    Import(#[from] nexus_plan::import::ImportError),
    /// The HTTP client.
    #[error("Auth0 client: {0}")]
    Auth0(#[from] auth0_mgmt::Auth0Error),
    /// The cluster of --kubeconfig.
    #[error(transparent)]
    Cluster(#[from] nexus_plan::cluster::ClusterError),
}

fn setup(args: &ReviewArgs) -> Result<(Manifests, CredentialSources, Auth0Registry), ReviewError> {
    let manifests = Manifests::read(&args.files)?;
    let credentials = CredentialSources::from_flags(&args.tenant_credentials)?;
    let http = auth0_mgmt::default_http_client(Duration::from_secs(args.auth0_timeout_seconds))?;
    Ok((
        manifests,
        credentials,
        Auth0Registry::new(http, Auth0Metrics::new()),
    ))
}

/// `nexus-operator plan`: prints the plan, returns 0 (no change), 2 (changes) or 1.
pub async fn plan(args: PlanArgs) -> Result<u8, ReviewError> {
    let (mut manifests, mut credentials, registry) = setup(&args.review)?;
    if let Some(path) = &args.kubeconfig {
        let client = nexus_plan::cluster::client(path).await?;
        let cluster = nexus_plan::cluster::ClusterState::read(&client).await?;
        // The cluster's AuthTenants (not the files') may say where their credentials go.
        credentials = credentials.trust_cluster(&cluster.tenants);
        cluster.complete(&mut manifests);
    }
    let options = PlanOptions {
        cluster_id: args.review.cluster_id.clone(),
        prune: args.prune,
    };
    let report = nexus_plan::plan(&manifests, &credentials, &registry, &options).await;
    let format = match args.output {
        PlanFormat::Text => Format::Text,
        PlanFormat::Json => Format::Json,
    };
    print!("{}", render(&report, format));
    Ok(report.exit_code())
}

/// `nexus-operator import`: writes the manifests (stdout or a directory) and says on stderr
/// what was not imported and why.
pub async fn import(args: ImportArgs) -> Result<u8, ReviewError> {
    let (manifests, credentials, registry) = setup(&args.review)?;
    let namespace = match (args.namespace, args.namespace_from_metadata) {
        (Some(ns), _) => NamespaceSource::Fixed(ns),
        (None, Some(key)) => NamespaceSource::Metadata(key),
        (None, None) => NamespaceSource::Fixed("default".to_owned()),
    };
    let options = ImportOptions {
        tenant: args.tenant,
        namespace,
    };
    let report = nexus_plan::import(&manifests, &credentials, &registry, &options).await?;
    match &args.output_dir {
        Some(dir) => {
            for path in report.write_to(dir)? {
                eprintln!("wrote {}", path.display());
            }
        }
        None => print!("{}", report.stream()),
    }
    for manifest in report.written.iter().filter(|m| m.warning.is_some()) {
        eprintln!(
            "warning: {}/{}: {}",
            manifest.namespace,
            manifest.name,
            manifest.warning.as_deref().unwrap_or_default()
        );
    }
    for line in &report.skipped {
        eprintln!("not imported: {line}");
    }
    eprintln!(
        "{} manifest(s), {} not imported, {} list request(s)",
        report.written.len(),
        report.skipped.len(),
        report.list_calls
    );
    Ok(0)
}
