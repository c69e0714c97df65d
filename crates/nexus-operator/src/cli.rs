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
    /// Show what a sync of these manifests would do to Auth0, object by object (create, adopt,
    /// update with a field-by-field diff, grant and connection changes, refusals, deletes with
    /// --prune), without a cluster and without writing anything. Exit code: 0 no change,
    /// 2 changes, 1 refusals or errors.
    Plan(PlanArgs),
    /// Write AuthClient manifests (adoption by id, driftPolicy Report, deletionPolicy Orphan)
    /// for the Auth0 clients of a tenant that no AuthClient owns, within the tenant's adoption
    /// rules. Reads Auth0 only; never writes a secret.
    Import(ImportArgs),
}

impl Command {
    /// Whether the command's output is on stdout (its logs then go to stderr).
    pub fn prints_to_stdout(&self) -> bool {
        matches!(self, Command::Plan(_) | Command::Import(_) | Command::Crd)
    }
}

/// Output format of `plan`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// Stable, diff-friendly text.
    #[default]
    Text,
    /// JSON.
    Json,
}

/// Flags shared by `plan` and `import`.
#[derive(Debug, Clone, Args)]
pub struct ReviewArgs {
    /// Manifests: a file, a directory (read recursively: *.yaml, *.yml, *.json) or `-` for
    /// standard input (Kustomize or Helm output). Repeatable. The AuthTenants must be among
    /// them: their policies, adoption rules, endpoint and rate limit are read from there.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub files: Vec<std::path::PathBuf>,
    /// `TENANT=FILE`: FILE holds the tenant's credentials Secret as YAML (as `kubectl get
    /// secret -o yaml` prints it, or with stringData). Repeatable. Without it, the variables
    /// NEXUS_TENANT_<TENANT>_CLIENT_ID and NEXUS_TENANT_<TENANT>_CLIENT_SECRET are used
    /// (<TENANT> upper-cased, other characters than letters and digits as `_`). The
    /// credentials must name the Auth0 they belong to: an `endpoint` (or `domain`) key in
    /// FILE, or NEXUS_TENANT_<TENANT>_ENDPOINT (or _DOMAIN). They are sent nowhere else: a
    /// tenant whose AuthTenant in the files points elsewhere, or whose credentials name no
    /// Auth0, is refused (exit 1). With --kubeconfig, the cluster's AuthTenant may name it.
    #[arg(long = "tenant-credentials", value_name = "TENANT=FILE")]
    pub tenant_credentials: Vec<String>,
    /// Identity of the cluster the operator runs with (its --cluster-id): for `plan`, clients
    /// tagged with it are the ones the operator already manages (`import` skips every tagged
    /// client, whatever its cluster).
    #[arg(long, env = "NEXUS_CLUSTER_ID", default_value = "default")]
    pub cluster_id: String,
    /// Timeout of one Auth0 request, in seconds.
    #[arg(long, default_value_t = 15)]
    pub auth0_timeout_seconds: u64,
}

/// Flags of `plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Manifests, credentials, cluster identity.
    #[command(flatten)]
    pub review: ReviewArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// Also read this cluster (read-only lists): the AuthTenants and Namespaces the files do
    /// not hold, and what the controller recorded in the AuthClients' status (so removed
    /// grants and connections are planned).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Also plan the deletion of the Auth0 clients this cluster owns whose AuthClient is not
    /// in the files.
    #[arg(long)]
    pub prune: bool,
}

/// Flags of `import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Manifests, credentials, cluster identity.
    #[command(flatten)]
    pub review: ReviewArgs,
    /// The AuthTenant whose clients are imported.
    #[arg(long)]
    pub tenant: String,
    /// Namespace of every manifest.
    #[arg(
        long,
        conflicts_with = "namespace_from_metadata",
        required_unless_present = "namespace_from_metadata"
    )]
    pub namespace: Option<String>,
    /// Take each client's namespace from this client_metadata key (clients without it are
    /// not imported).
    #[arg(long, value_name = "KEY")]
    pub namespace_from_metadata: Option<String>,
    /// Write DIR/<namespace>/<name>.yaml per client instead of one YAML stream on stdout.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<std::path::PathBuf>,
}

/// Flags of the controller.
#[derive(Debug, Clone, Args)]
pub struct ControllerArgs {
    /// Identity of this cluster, tagged on every Auth0 client it creates, so operators in two
    /// clusters sharing a tenant never adopt each other's clients.
    #[arg(long, env = "NEXUS_CLUSTER_ID", default_value = "default")]
    pub cluster_id: String,
    #[command(flatten)]
    pub watch: WatchArgs,
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

/// Which namespaces are served.
#[derive(Debug, Clone, Default, Args)]
pub struct WatchArgs {
    /// Serve only these namespaces (comma-separated): AuthClients, the Secrets the operator
    /// owns, events and Namespace metadata are watched there only, so Roles in these
    /// namespaces suffice (no cluster-wide Secret access). Default: all namespaces. With the
    /// facade, every tenant's facadeNamespace must be one of them.
    #[arg(
        long = "watch-namespaces",
        env = "NEXUS_WATCH_NAMESPACES",
        value_delimiter = ',',
        value_name = "NAMESPACES"
    )]
    pub watch_namespaces: Vec<String>,
    /// Deprecated alias of --watch-namespaces with one namespace (kept so that upgrades from
    /// versions that had only it keep working).
    #[arg(
        long = "watch-namespace",
        env = "NEXUS_WATCH_NAMESPACE",
        value_name = "NAMESPACE",
        hide = true
    )]
    pub watch_namespace: Option<String>,
}

/// The namespace flags disagree or name something that is not a namespace.
#[derive(Debug, thiserror::Error)]
pub enum WatchArgsError {
    /// A name is not a valid namespace name.
    #[error("--watch-namespaces (NEXUS_WATCH_NAMESPACES): {0}")]
    Invalid(#[from] nexus_controller::scope::InvalidNamespace),
    /// Both the list and the deprecated single namespace are set, to different things.
    #[error(
        "--watch-namespace (NEXUS_WATCH_NAMESPACE, deprecated) is '{single}' but --watch-namespaces \
         (NEXUS_WATCH_NAMESPACES) is '{list}'; set only --watch-namespaces"
    )]
    Conflict {
        /// The deprecated single namespace.
        single: String,
        /// The list, comma-separated.
        list: String,
    },
}

impl WatchArgs {
    /// The served namespaces: the list, or the deprecated single namespace, or all.
    pub fn scope(&self) -> Result<nexus_controller::WatchScope, WatchArgsError> {
        use nexus_controller::WatchScope;
        let list = WatchScope::from_names(&self.watch_namespaces)?;
        let single = WatchScope::from_names(self.watch_namespace.iter())?;
        match (&list, &single) {
            (_, WatchScope::All) => Ok(list),
            (WatchScope::All, _) => {
                tracing::warn!(
                    "--watch-namespace / NEXUS_WATCH_NAMESPACE is deprecated; use --watch-namespaces / NEXUS_WATCH_NAMESPACES"
                );
                Ok(single)
            }
            _ if list == single => Ok(list),
            _ => Err(WatchArgsError::Conflict {
                single: self.watch_namespace.clone().unwrap_or_default(),
                list: self.watch_namespaces.join(","),
            }),
        }
    }
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

/// Connection limits and timeouts of the `/metrics`, `/healthz` and `/readyz` server.
#[derive(Debug, Clone, Args)]
pub struct MetricsServerArgs {
    /// Most open connections to the metrics/health server; further ones wait in the kernel's
    /// accept queue.
    #[arg(long = "metrics-max-connections", env = "NEXUS_METRICS_MAX_CONNECTIONS", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub metrics_max_connections: u32,
    /// Time a metrics/health connection has to send a complete request head (from opening or
    /// from its previous response, so it also bounds idle keep-alive connections).
    #[arg(long = "metrics-header-read-timeout-seconds", env = "NEXUS_METRICS_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub metrics_header_read_timeout_seconds: u64,
    /// A metrics/health connection on which nothing is read or written for this long is
    /// closed.
    #[arg(long = "metrics-idle-timeout-seconds", env = "NEXUS_METRICS_IDLE_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub metrics_idle_timeout_seconds: u64,
    /// Also serve `/healthz` and `/readyz` on this address, on a listener of their own with
    /// its own connection cap (`--probe-max-connections`), for the kubelet's probes. Whoever
    /// can reach the metrics port can hold all its connections; with the probes on a port that
    /// a NetworkPolicy opens to no pod (NetworkPolicy always allows traffic from the pod's
    /// node, where the kubelet probes from), doing so no longer fails the liveness probe and
    /// restarts the pod. The metrics address keeps serving both paths too. The Helm chart sets
    /// it; its NetworkPolicy (`networkPolicy.enabled`) is what keeps other pods off it.
    #[arg(long = "probe-addr", env = "NEXUS_PROBE_ADDR")]
    pub probe_addr: Option<SocketAddr>,
    /// Most open connections to the probe listener (`--probe-addr`).
    #[arg(long = "probe-max-connections", env = "NEXUS_PROBE_MAX_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub probe_max_connections: u32,
}

impl MetricsServerArgs {
    /// The server limits of these flags.
    pub fn limits(&self) -> nexus_facade::server::ServerLimits {
        nexus_facade::server::ServerLimits {
            max_connections: self.metrics_max_connections as usize,
            header_read_timeout: std::time::Duration::from_secs(
                self.metrics_header_read_timeout_seconds,
            ),
            idle_timeout: std::time::Duration::from_secs(self.metrics_idle_timeout_seconds),
        }
    }

    /// The probe listener's limits: its own cap, the metrics server's timeouts.
    pub fn probe_limits(&self) -> nexus_facade::server::ServerLimits {
        nexus_facade::server::ServerLimits {
            max_connections: self.probe_max_connections as usize,
            ..self.limits()
        }
    }
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
    /// Seconds the controller gets to stop after the lease is lost or shutdown is requested.
    /// Reconciles still running then (waiting on an API server or an Auth0 tenant that does not
    /// answer) are abandoned, which is safe: every Auth0 write is crash-safe. After losing the
    /// lease the process then exits with an error, so that Kubernetes restarts it and it
    /// campaigns again.
    #[arg(long, env = "NEXUS_STOP_GRACE_SECONDS", default_value_t = 5)]
    pub stop_grace_seconds: u64,
    /// `/healthz` (liveness) fails when reconciles are in flight and none has finished for
    /// this many seconds: the controller is stuck, not slow (each Kubernetes request times out
    /// after 295 s, each Auth0 request after --auth0-timeout-seconds).
    #[arg(long, env = "NEXUS_LIVENESS_STALL_SECONDS", default_value_t = 600)]
    pub liveness_stall_seconds: u64,
    #[command(flatten)]
    pub facade_args: nexus_facade::FacadeArgs,
    #[command(flatten)]
    pub metrics_server: MetricsServerArgs,
}

impl RunArgs {
    /// `--stop-grace-seconds`.
    pub fn stop_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.stop_grace_seconds)
    }

    /// The liveness limits: `--liveness-stall-seconds`, and the controller loop's heartbeat
    /// at most a minute old.
    pub fn liveness_limits(&self) -> nexus_controller::LivenessLimits {
        nexus_controller::LivenessLimits {
            stall: std::time::Duration::from_secs(self.liveness_stall_seconds.max(1)),
            ..nexus_controller::LivenessLimits::default()
        }
    }
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
    /// The namespaces the operator serves (the facade refuses tenants whose facadeNamespace
    /// is not one of them).
    #[command(flatten)]
    pub watch: WatchArgs,
    #[command(flatten)]
    pub facade_args: nexus_facade::FacadeArgs,
    #[command(flatten)]
    pub metrics_server: MetricsServerArgs,
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
    #[command(flatten)]
    pub metrics_server: MetricsServerArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_controller::WatchScope;

    fn watch(args: &[&str]) -> Result<WatchScope, String> {
        let mut argv = vec!["nexus-operator", "run"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Command::Run(run) = cli.command else {
            return Err("not run".into());
        };
        run.controller.watch.scope().map_err(|e| e.to_string())
    }

    fn names(list: &[&str]) -> WatchScope {
        WatchScope::from_names(list).expect("valid")
    }

    // The environment variables are read by clap too; these tests pass flags only, and the
    // variables are not set in the test environment (checked here so a set one cannot make a
    // test pass by accident).
    fn no_env() {
        for var in ["NEXUS_WATCH_NAMESPACES", "NEXUS_WATCH_NAMESPACE"] {
            assert!(
                std::env::var_os(var).is_none(),
                "{var} is set in the test environment"
            );
        }
    }

    #[test]
    fn watch_namespaces_is_a_comma_separated_list() {
        no_env();
        assert_eq!(watch(&[]), Ok(WatchScope::All));
        assert_eq!(
            watch(&["--watch-namespaces", "team-b,team-a"]),
            Ok(names(&["team-a", "team-b"]))
        );
        assert_eq!(
            watch(&[
                "--watch-namespaces",
                "team-a",
                "--watch-namespaces",
                "team-c"
            ]),
            Ok(names(&["team-a", "team-c"]))
        );
        let bad = watch(&["--watch-namespaces", "team-a,Team_B"]).expect_err("invalid");
        assert!(bad.contains("'Team_B' is not a namespace name"), "{bad}");
    }

    #[test]
    fn the_old_single_namespace_flag_still_works() {
        no_env();
        assert_eq!(
            watch(&["--watch-namespace", "team-a"]),
            Ok(names(&["team-a"]))
        );
        assert_eq!(
            watch(&[
                "--watch-namespace",
                "team-a",
                "--watch-namespaces",
                "team-a"
            ]),
            Ok(names(&["team-a"]))
        );
        let conflict = watch(&[
            "--watch-namespace",
            "team-a",
            "--watch-namespaces",
            "team-b",
        ])
        .expect_err("conflict");
        assert!(
            conflict.contains("set only --watch-namespaces"),
            "{conflict}"
        );
    }

    /// The facade's and the metrics server's connection flags live side by side in `run` and
    /// `facade`, each with its own default, and 0 is refused.
    #[test]
    fn server_limits_of_each_server() {
        let cli = Cli::try_parse_from([
            "nexus-operator",
            "run",
            "--metrics-max-connections",
            "7",
            "--facade-max-connections",
            "9",
        ])
        .expect("parses");
        let Command::Run(run) = cli.command else {
            panic!("not run");
        };
        assert_eq!(run.metrics_server.limits().max_connections, 7);
        assert_eq!(
            run.metrics_server.limits().header_read_timeout,
            std::time::Duration::from_secs(5)
        );
        assert_eq!(run.facade_args.http.max_connections, 9);
        let cli = Cli::try_parse_from(["nexus-operator", "facade"]).expect("parses");
        let Command::Facade(facade) = cli.command else {
            panic!("not facade");
        };
        assert_eq!(facade.metrics_server.limits().max_connections, 32);
        assert_eq!(facade.facade_args.http.max_connections, 256);
        assert!(
            Cli::try_parse_from(["nexus-operator", "run", "--metrics-max-connections", "0"])
                .is_err()
        );
    }
}
