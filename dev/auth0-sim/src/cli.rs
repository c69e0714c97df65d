//! The `auth0-sim` subcommand: flags and the serve-until-signal loop.

use std::net::SocketAddr;
use std::time::Duration;

use super::admin::FaultsSpec;
use super::{
    DEFAULT_DOMAIN, DEFAULT_M2M_CLIENT_ID, DEFAULT_M2M_CLIENT_SECRET, DEFAULT_SCOPES,
    M2mCredential, RateLimit, SimConfig, SimError, start,
};

/// Flags of `nexus-operator auth0-sim`. Every flag can also be set from its `NEXUS_SIM_*`
/// environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (plain HTTP). Keep it on loopback.
    #[arg(long, env = "NEXUS_SIM_LISTEN", default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,

    /// Domain of the simulated tenant; the token audience is `https://{domain}/api/v2/`.
    #[arg(long, env = "NEXUS_SIM_DOMAIN", default_value = DEFAULT_DOMAIN)]
    pub domain: String,

    /// Client id of the M2M credential that may obtain management tokens.
    #[arg(long, env = "NEXUS_SIM_CLIENT_ID", default_value = DEFAULT_M2M_CLIENT_ID)]
    pub client_id: String,

    /// Client secret of that M2M credential (the default is public: this is a simulator).
    #[arg(long, env = "NEXUS_SIM_CLIENT_SECRET", default_value = DEFAULT_M2M_CLIENT_SECRET, hide_env_values = true)]
    pub client_secret: String,

    /// Scopes granted to the M2M credential (comma separated). Default: every scope the operator
    /// needs (clients and client keys, resource servers, client grants, `read:connections`,
    /// `update:connections`).
    #[arg(long, env = "NEXUS_SIM_SCOPES", value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,

    /// Lifetime of issued management tokens, in seconds.
    #[arg(long, env = "NEXUS_SIM_TOKEN_TTL_SECONDS", default_value_t = 86400)]
    pub token_ttl_seconds: u64,

    /// Rate-limit bucket size (Auth0 free plan: 2).
    #[arg(long, env = "NEXUS_SIM_RATE_LIMIT_BURST", default_value_t = RateLimit::FREE.burst)]
    pub rate_limit_burst: u32,

    /// Rate-limit refill per second (Auth0 free plan: 2).
    #[arg(long, env = "NEXUS_SIM_RATE_LIMIT_PER_SECOND", default_value_t = RateLimit::FREE.per_second)]
    pub rate_limit_per_second: u32,

    /// Latency added to each Management API request, in milliseconds (the lower bound when
    /// `--latency-max-ms` is set).
    #[arg(long, env = "NEXUS_SIM_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Upper bound of a uniformly random latency, in milliseconds.
    #[arg(long, env = "NEXUS_SIM_LATENCY_MAX_MS")]
    pub latency_max_ms: Option<u64>,

    /// Share (0.0 to 1.0) of Management API requests answered 503.
    #[arg(long, env = "NEXUS_SIM_ERROR_RATE", default_value_t = 0.0)]
    pub error_rate: f64,

    /// Share (0.0 to 1.0) of Management API requests whose connection is closed unanswered.
    #[arg(long, env = "NEXUS_SIM_DROP_RATE", default_value_t = 0.0)]
    pub drop_rate: f64,

    /// Apply latency and faults to every route, not only `/api/v2`.
    #[arg(long, env = "NEXUS_SIM_FAULTS_ALL_PATHS", default_value_t = false)]
    pub faults_all_paths: bool,

    /// Seed for reproducible fault injection.
    #[arg(long, env = "NEXUS_SIM_SEED")]
    pub seed: Option<u64>,

    /// Largest number of clients in the tenant (Auth0's entity limit answer beyond it).
    #[arg(long, env = "NEXUS_SIM_MAX_CLIENTS")]
    pub max_clients: Option<usize>,

    /// Do not serve the `/__sim/` back door.
    #[arg(long, env = "NEXUS_SIM_NO_ADMIN_API", default_value_t = false)]
    pub no_admin_api: bool,

    /// Connections the tenant starts with, as `NAME` or `NAME:STRATEGY` (strategy `auth0` by
    /// default); comma separated or repeated.
    #[arg(
        long = "connection",
        env = "NEXUS_SIM_CONNECTIONS",
        value_delimiter = ','
    )]
    pub connections: Vec<String>,

    /// Enable every new application on every connection (Auth0's tenant flag
    /// `enable_client_connections`).
    #[arg(
        long,
        env = "NEXUS_SIM_ENABLE_CLIENT_CONNECTIONS",
        default_value_t = false
    )]
    pub enable_client_connections: bool,

    /// An API every application gets a client grant (without scopes) for, also the tenant's
    /// default audience (a development convenience).
    #[arg(long, env = "NEXUS_SIM_APP_AUDIENCE")]
    pub app_audience: Option<String>,
}

/// `NAME` or `NAME:STRATEGY` -> (name, strategy).
fn parse_connection(spec: &str) -> Result<(String, String), SimError> {
    let (name, strategy) = spec.split_once(':').unwrap_or((spec, "auth0"));
    let (name, strategy) = (name.trim(), strategy.trim());
    if !crate::connections::is_valid_name(name) {
        return Err(SimError::Config(format!(
            "invalid connection name {name:?} (letters, digits and '-', not at either end)"
        )));
    }
    if !crate::connections::STRATEGIES.contains(&strategy) {
        return Err(SimError::Config(format!(
            "unknown connection strategy {strategy:?}"
        )));
    }
    Ok((name.to_owned(), strategy.to_owned()))
}

impl SimArgs {
    /// The simulator configuration these flags describe.
    pub fn to_config(&self) -> Result<SimConfig, SimError> {
        let faults = FaultsSpec {
            latency_ms: self.latency_ms,
            latency_max_ms: self.latency_max_ms,
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            all_paths: self.faults_all_paths,
            fail_next: Vec::new(),
        }
        .to_faults()
        .map_err(SimError::Config)?;
        let scopes = self
            .scopes
            .clone()
            .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect());
        Ok(SimConfig {
            domain: self.domain.clone(),
            m2m_clients: vec![M2mCredential {
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
                scopes,
            }],
            token_ttl: Duration::from_secs(self.token_ttl_seconds),
            rate_limit: RateLimit {
                burst: self.rate_limit_burst,
                per_second: self.rate_limit_per_second,
            },
            faults,
            seed: self.seed,
            max_clients: self.max_clients,
            admin_api: !self.no_admin_api,
            app_audience: self.app_audience.clone(),
            enable_client_connections: self.enable_client_connections,
        })
    }

    /// The connections of `--connection`, checked.
    pub fn seed_connections(&self) -> Result<Vec<(String, String)>, SimError> {
        self.connections
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_connection(s))
            .collect()
    }
}

async fn shutdown_signal() -> Result<(), SimError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(SimError::Signal),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(SimError::Signal)
    }
}

/// Runs the simulator until Ctrl-C or SIGTERM. Prints where it listens and the M2M credentials.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let config = args.to_config()?;
    let seeds = args.seed_connections()?;
    let mut handle = start(config, args.listen).await?;
    for (name, strategy) in &seeds {
        handle.insert_connection(name, strategy);
    }
    let m2m = handle.m2m();
    println!(
        "Auth0 SIMULATOR (not Auth0!) for domain {domain} listening on {base}\n  \
         token endpoint: {base}/oauth/token\n  audience:       {aud}\n  \
         client_id:      {id}\n  client_secret:  {secret}\n  scopes:         {scopes}\n  \
         jwks:           {jwks}\n  back door:      {admin}",
        domain = handle.domain(),
        base = handle.base_url(),
        aud = handle.audience(),
        id = m2m.client_id,
        secret = m2m.client_secret,
        scopes = m2m.scopes.join(" "),
        jwks = handle.jwks_url(),
        admin = if args.no_admin_api {
            "disabled".to_owned()
        } else {
            format!("{}/__sim/", handle.base_url())
        },
    );
    let outcome = tokio::select! {
        signal = shutdown_signal() => signal,
        served = handle.wait() => served,
    };
    tracing::info!("auth0 simulator shutting down");
    handle.shutdown().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let cli = Cli::try_parse_from(["x"]).expect("parses");
        let config = cli.sim.to_config().expect("valid");
        assert_eq!(cli.sim.listen.to_string(), "127.0.0.1:8089");
        assert_eq!(config.domain, DEFAULT_DOMAIN);
        assert_eq!(config.m2m_clients[0].client_id, DEFAULT_M2M_CLIENT_ID);
        assert_eq!(config.m2m_clients[0].scopes.len(), DEFAULT_SCOPES.len());
        assert!(
            config.m2m_clients[0]
                .scopes
                .iter()
                .any(|s| s == "create:client_grants")
        );
        assert!(cli.sim.seed_connections().expect("none").is_empty());
        assert!(!config.enable_client_connections);
        assert_eq!(config.rate_limit, RateLimit::FREE);
        assert_eq!(config.token_ttl, Duration::from_secs(86400));
        assert!(config.admin_api);
    }

    #[test]
    fn flags_build_faults_and_reject_bad_shares() {
        let cli = Cli::try_parse_from([
            "x",
            "--latency-ms",
            "5",
            "--latency-max-ms",
            "10",
            "--error-rate",
            "0.25",
            "--scopes",
            "read:clients,create:clients",
        ])
        .expect("parses");
        let config = cli.sim.to_config().expect("valid");
        assert_eq!(config.faults.error_rate, 0.25);
        assert_eq!(
            config.m2m_clients[0].scopes,
            ["read:clients", "create:clients"]
        );
        let cli = Cli::try_parse_from(["x", "--drop-rate", "2"]).expect("parses");
        assert!(matches!(cli.sim.to_config(), Err(SimError::Config(_))));
        let cli = Cli::try_parse_from([
            "x",
            "--connection",
            "Username-Password-Authentication,google-oauth2:google-oauth2",
            "--connection",
            "corp:samlp",
        ])
        .expect("parses");
        assert_eq!(
            cli.sim.seed_connections().expect("valid"),
            [
                (
                    "Username-Password-Authentication".to_owned(),
                    "auth0".to_owned()
                ),
                ("google-oauth2".to_owned(), "google-oauth2".to_owned()),
                ("corp".to_owned(), "samlp".to_owned()),
            ]
        );
        let cli = Cli::try_parse_from(["x", "--connection", "bad name"]).expect("parses");
        assert!(cli.sim.seed_connections().is_err());
        let cli = Cli::try_parse_from(["x", "--connection", "x:pigeon"]).expect("parses");
        assert!(cli.sim.seed_connections().is_err());
    }
}
