//! `nexus-operator dev`: the simulator as the dev tenant's Auth0, the CRDs and the controller
//! against the current kubeconfig's cluster. Built only with the `dev` feature.

use std::sync::Arc;
use std::time::Duration;

use auth0_sim as sim;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use nexus_controller::{self as controller, Context, ControllerConfig};
use nexus_crd::{AuthTenant, FIELD_MANAGER};
use serde_json::json;

use crate::app::{AppError, Shutdown, common, install_crds};
use crate::cli::DevArgs;

/// Runs dev mode until SIGTERM / Ctrl-C.
pub async fn run(args: DevArgs) -> Result<(), AppError> {
    let shutdown = Shutdown::on_signals();
    let common = common(Duration::from_secs(15)).await?;
    install_crds(&common.kube).await?;
    tracing::info!("CRDs installed");

    let sim_config = sim::SimConfig {
        rate_limit: sim::RateLimit {
            burst: args.rate_limit.max(1),
            per_second: args.rate_limit.max(1),
        },
        ..sim::SimConfig::default()
    };
    let sim = sim::start(sim_config, args.sim_listen).await?;
    let m2m = sim.m2m().clone();
    let secret_name = format!("{}-auth0-sim-credentials", args.tenant);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": args.namespace},
        "stringData": {"client_id": m2m.client_id, "client_secret": m2m.client_secret},
    }))
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Api::<Secret>::namespaced(common.kube.clone(), &args.namespace)
        .patch(&secret_name, &params, &Patch::Apply(&secret))
        .await?;
    let tenant = json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthTenant",
        "metadata": {"name": args.tenant},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": args.namespace, "name": secret_name},
            "rateLimit": {"requestsPerSecond": args.rate_limit.max(1), "burst": args.rate_limit.max(1)},
            "allowedNamespaces": {"names": ["*"]},
            "facadeNamespace": args.namespace,
        }
    });
    Api::<AuthTenant>::all(common.kube.clone())
        .patch(&args.tenant, &params, &Patch::Apply(&tenant))
        .await?;
    tracing::warn!(
        tenant = %args.tenant,
        simulator = %sim.base_url(),
        "dev mode: AuthTenant '{}' points at the embedded Auth0 SIMULATOR, not a real tenant; apply examples/authclient-dev.yaml to try it",
        args.tenant
    );

    let metrics_server = tokio::spawn(crate::health::serve(
        args.metrics_addr,
        common.registry.clone(),
        common.health.clone(),
        shutdown.clone().wait(),
    ));
    common.health.set_ready(true);
    let config = ControllerConfig {
        cluster_id: "dev".into(),
        drift_scan_interval: Duration::from_secs(60),
        ..ControllerConfig::default()
    };
    let ctx = Arc::new(Context::new(
        common.kube.clone(),
        common.auth0.clone(),
        config,
        common.controller_metrics.clone(),
    ));
    controller::run(ctx, None, shutdown.clone().wait()).await;
    sim.shutdown().await;
    if let Ok(Err(error)) = metrics_server.await {
        tracing::error!(%error, "metrics server stopped with an error");
    }
    Ok(())
}
