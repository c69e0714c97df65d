//! Command line: every flag can also be set with the environment variable named in `--help`.

use std::net::SocketAddr;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Kubernetes operator that manages Auth0 applications declaratively.
#[derive(Debug, Parser)]
#[command(name = "nexus-operator", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "NEXUS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (and, with --facade, the HTTP facade) against the current cluster.
    Run(RunArgs),
    /// Run only the HTTP facade (no reconciling).
    Facade(FacadeOnlyArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Run the embedded Auth0 Management API simulator (for development and tests only).
    #[cfg(feature = "dev")]
    #[command(name = "auth0-sim")]
    Auth0Sim(auth0_sim::SimArgs),
    /// Development sandbox: the Auth0 simulator, a dev AuthTenant pointing at it, the controller
    /// and the REST facade, against the current kubeconfig's cluster or, when there is none (or
    /// with --embedded), an in-memory Kubernetes API that kubectl can use.
    #[cfg(feature = "dev")]
    Dev(DevArgs),
}

/// Flags of the controller.
#[derive(Debug, Clone, Args)]
pub struct ControllerArgs {
    /// Identity of this cluster, tagged on every Auth0 client it creates, so operators in two
    /// clusters sharing a tenant never adopt each other's clients.
    #[arg(long, env = "NEXUS_CLUSTER_ID", default_value = "default")]
    pub cluster_id: String,
    /// Watch AuthClients in this namespace only (default: all namespaces).
    #[arg(long, env = "NEXUS_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Seconds between revisits of a Ready AuthClient (no Auth0 call is made for them).
    #[arg(long, env = "NEXUS_RESYNC_INTERVAL_SECONDS", default_value_t = 3600)]
    pub resync_interval_seconds: u64,
    /// Seconds between drift scans of each tenant (one paged list per 100 clients).
    #[arg(long, env = "NEXUS_DRIFT_SCAN_INTERVAL_SECONDS", default_value_t = 600)]
    pub drift_scan_interval_seconds: u64,
    /// Timeout of one Auth0 request, in seconds.
    #[arg(long, env = "NEXUS_AUTH0_TIMEOUT_SECONDS", default_value_t = 15)]
    pub auth0_timeout_seconds: u64,
    /// AuthClients reconciled concurrently.
    #[arg(long, env = "NEXUS_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
}

/// Flags of leader election.
#[derive(Debug, Clone, Args)]
pub struct LeaderArgs {
    /// Elect a leader with a Lease so that only one replica reconciles.
    #[arg(long, env = "NEXUS_LEADER_ELECTION", default_value_t = true, action = ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the Lease.
    #[arg(long, env = "NEXUS_LEASE_NAME", default_value = "nexus-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace).
    #[arg(long, env = "NEXUS_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity (the pod name).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// The pod's namespace (downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
}

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "NEXUS_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Also serve the HTTP facade from this process.
    #[arg(long, env = "NEXUS_FACADE", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub facade: bool,
    #[command(flatten)]
    pub controller: ControllerArgs,
    #[command(flatten)]
    pub leader: LeaderArgs,
    #[command(flatten)]
    pub facade_args: nexus_facade::FacadeArgs,
}

/// Flags of `facade`.
#[derive(Debug, Args)]
pub struct FacadeOnlyArgs {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "NEXUS_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Timeout of one Auth0 request, in seconds.
    #[arg(long, env = "NEXUS_AUTH0_TIMEOUT_SECONDS", default_value_t = 15)]
    pub auth0_timeout_seconds: u64,
    #[command(flatten)]
    pub facade_args: nexus_facade::FacadeArgs,
}

/// Flags of `dev`.
#[cfg(feature = "dev")]
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Use the embedded, in-memory Kubernetes API even if a kubeconfig or in-cluster
    /// configuration is found (without one, dev mode uses it anyway).
    #[arg(long, env = "NEXUS_DEV_EMBEDDED", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub embedded: bool,
    /// Address of the embedded Kubernetes API (plain HTTP, loopback; port 0 picks a free one).
    #[arg(long, env = "NEXUS_DEV_KUBE_LISTEN", default_value = "127.0.0.1:0")]
    pub kube_listen: SocketAddr,
    /// Directory that keeps the sandbox across restarts: the embedded API's objects, the
    /// simulated Auth0 clients, the kubeconfig and the facade credentials. Without it they live
    /// in a fresh temporary directory and are gone when dev mode stops.
    #[arg(long, env = "NEXUS_DEV_STATE_DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    /// Address of the embedded simulator (the dev AuthTenant points at it).
    #[arg(long, env = "NEXUS_DEV_SIM_LISTEN", default_value = "127.0.0.1:8089")]
    pub sim_listen: SocketAddr,
    /// Address of the Nexus REST facade.
    #[arg(long, env = "NEXUS_DEV_FACADE_ADDR", default_value = "127.0.0.1:8081")]
    pub facade_addr: SocketAddr,
    /// Name of the dev AuthTenant.
    #[arg(long, env = "NEXUS_DEV_TENANT", default_value = "dev")]
    pub tenant: String,
    /// Namespace for the simulator's credentials Secret and the facade's AuthClients.
    #[arg(long, env = "NEXUS_DEV_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "NEXUS_METRICS_ADDR", default_value = "127.0.0.1:8080")]
    pub metrics_addr: SocketAddr,
    /// Requests per second the simulator allows (Auth0 free plan: 2).
    #[arg(long, env = "NEXUS_DEV_RATE_LIMIT", default_value_t = 2)]
    pub rate_limit: u32,
}
