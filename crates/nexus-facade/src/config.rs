//! Command-line flags of the facade and the configuration built from them.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

pub use crate::server::ServerLimits;
pub use crate::throttle::FailureLimits;

/// Flags of `nexus-operator run --facade` / `nexus-operator facade` (each also read from the
/// environment).
#[derive(clap::Args, Clone, Debug)]
pub struct FacadeArgs {
    /// Address the facade listens on.
    #[arg(
        long = "facade-addr",
        env = "NEXUS_FACADE_ADDR",
        default_value = "0.0.0.0:8081"
    )]
    pub facade_addr: SocketAddr,
    /// Issuer (`iss`) of accepted JWTs, e.g. `https://login.example.com/`. Without it Bearer
    /// authentication is disabled.
    #[arg(long = "facade-issuer", env = "NEXUS_FACADE_ISSUER")]
    pub issuer: Option<String>,
    /// Audience (`aud`) accepted JWTs must carry. Required with `--facade-issuer`.
    #[arg(long = "facade-audience", env = "NEXUS_FACADE_AUDIENCE")]
    pub audience: Option<String>,
    /// JWKS URL of the issuer; defaults to `<issuer>/.well-known/jwks.json`.
    #[arg(long = "facade-jwks-url", env = "NEXUS_FACADE_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// JWT claim listing the tenants a `client.write` caller is bound to.
    #[arg(
        long = "facade-tenant-claim",
        env = "NEXUS_FACADE_TENANT_CLAIM",
        default_value = "tenants"
    )]
    pub tenant_claim: String,
    /// JWT claim listing the caller's permissions (array, or space-separated string).
    #[arg(
        long = "facade-permissions-claim",
        env = "NEXUS_FACADE_PERMISSIONS_CLAIM",
        default_value = "permissions"
    )]
    pub permissions_claim: String,
    /// `namespace/name` of the Secret with `application-tokens` (SHA-256 hex, one a line) and
    /// `users.json` (Basic users with argon2id PHC hashes, permissions and tenants).
    #[arg(
        long = "facade-credentials-secret",
        env = "NEXUS_FACADE_CREDENTIALS_SECRET"
    )]
    pub credentials_secret: Option<String>,
    /// How long a request waits for the operator to make the new AuthClient Ready.
    #[arg(
        long = "facade-ready-timeout-seconds",
        env = "NEXUS_FACADE_READY_TIMEOUT_SECONDS",
        default_value_t = 20
    )]
    pub ready_timeout_seconds: u64,
    /// Largest accepted request body.
    #[arg(
        long = "facade-max-body-bytes",
        env = "NEXUS_FACADE_MAX_BODY_BYTES",
        default_value_t = 64 * 1024
    )]
    pub max_body_bytes: usize,
    /// How long the request body may take to arrive; a body that stalls longer is answered
    /// 408 and the connection closed.
    #[arg(
        long = "facade-body-timeout-seconds",
        env = "NEXUS_FACADE_BODY_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub body_timeout_seconds: u64,
    /// Hard limit of one request; defaults to the ready timeout plus 10 seconds.
    #[arg(
        long = "facade-request-timeout-seconds",
        env = "NEXUS_FACADE_REQUEST_TIMEOUT_SECONDS"
    )]
    pub request_timeout_seconds: Option<u64>,
    /// Most argon2 password verifications at once (each holds ~19 MiB while it runs); Basic
    /// requests beyond them are answered 503 with Retry-After at once, never queued.
    #[arg(
        long = "facade-max-password-checks",
        env = "NEXUS_FACADE_MAX_PASSWORD_CHECKS",
        default_value_t = 2
    )]
    pub max_password_checks: usize,
    /// Failed Basic logins one username may have per window; further attempts get 429 without
    /// a verification. 0 disables the per-user limit.
    #[arg(
        long = "facade-max-failed-logins-per-user",
        env = "NEXUS_FACADE_MAX_FAILED_LOGINS_PER_USER",
        default_value_t = 5
    )]
    pub max_failed_logins_per_user: u32,
    /// Failed Basic logins one source address (IPv6: its /64) may have per window. Behind a
    /// proxy every caller has the proxy's address: raise it, or 0 to disable.
    #[arg(
        long = "facade-max-failed-logins-per-address",
        env = "NEXUS_FACADE_MAX_FAILED_LOGINS_PER_ADDRESS",
        default_value_t = 20
    )]
    pub max_failed_logins_per_address: u32,
    /// Length of the failed-login window.
    #[arg(
        long = "facade-failed-login-window-seconds",
        env = "NEXUS_FACADE_FAILED_LOGIN_WINDOW_SECONDS",
        default_value_t = 60
    )]
    pub failed_login_window_seconds: u64,
    /// Connection limits and timeouts of the facade's HTTP server.
    #[command(flatten)]
    pub http: FacadeHttpArgs,
}

/// Connection limits and timeouts of the facade's HTTP server.
#[derive(clap::Args, Clone, Debug)]
pub struct FacadeHttpArgs {
    /// Most open connections; further ones wait in the kernel's accept queue until one closes.
    #[arg(
        long = "facade-max-connections",
        env = "NEXUS_FACADE_MAX_CONNECTIONS",
        default_value_t = 256
    )]
    pub max_connections: usize,
    /// A connection must deliver a complete request head within this time of opening (or of
    /// its previous response: it also bounds idle keep-alive connections); it is closed
    /// otherwise.
    #[arg(
        long = "facade-header-read-timeout-seconds",
        env = "NEXUS_FACADE_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub header_read_timeout_seconds: u64,
    /// A connection on which nothing is read or written for this long is closed (a client
    /// that stops reading its response, a body that stalls). Must exceed the request timeout.
    #[arg(
        long = "facade-idle-timeout-seconds",
        env = "NEXUS_FACADE_IDLE_TIMEOUT_SECONDS",
        default_value_t = 60
    )]
    pub idle_timeout_seconds: u64,
}

impl FacadeHttpArgs {
    /// The server limits of these flags.
    pub fn limits(&self) -> Result<ServerLimits, ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::Zero("--facade-max-connections"));
        }
        if self.header_read_timeout_seconds == 0 {
            return Err(ConfigError::Zero("--facade-header-read-timeout-seconds"));
        }
        if self.idle_timeout_seconds == 0 {
            return Err(ConfigError::Zero("--facade-idle-timeout-seconds"));
        }
        Ok(ServerLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds),
            idle_timeout: Duration::from_secs(self.idle_timeout_seconds),
        })
    }
}

/// Invalid facade configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// `--facade-credentials-secret` is not `namespace/name`.
    #[error("--facade-credentials-secret must be namespace/name, got {0:?}")]
    CredentialsSecret(String),
    /// Issuer without audience (or the reverse).
    #[error("--facade-issuer and --facade-audience must be given together")]
    IssuerWithoutAudience,
    /// The JWKS URL is not usable.
    #[error("JWKS URL {url:?} is invalid: {reason}")]
    JwksUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A limit is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// The body timeout does not fit in the request timeout.
    #[error("--facade-body-timeout-seconds must be shorter than the request timeout")]
    BodyTimeout,
    /// The idle timeout would cut requests that are still within their time.
    #[error("--facade-idle-timeout-seconds must be longer than the request timeout")]
    IdleTimeout,
}

/// Where a Kubernetes object lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// JWT verification settings.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// Accepted `iss`.
    pub issuer: String,
    /// Accepted `aud`.
    pub audience: String,
    /// Where the signing keys are published.
    pub jwks_url: String,
    /// Clock-skew allowance for `exp`/`nbf`.
    pub leeway: Duration,
    /// How long fetched keys are trusted before a background refresh.
    pub jwks_ttl: Duration,
    /// Least time between two fetches caused by unknown `kid`s (stops key-id flooding from
    /// turning into requests to the issuer).
    pub jwks_min_refresh_interval: Duration,
}

/// Complete facade configuration.
#[derive(Clone, Debug)]
pub struct FacadeConfig {
    /// Listen address (used by the CLI to bind; [`super::serve`] takes a bound listener).
    pub addr: SocketAddr,
    /// Bearer verification; `None` disables Bearer authentication.
    pub jwt: Option<JwtConfig>,
    /// Claim with the caller's tenants.
    pub tenant_claim: String,
    /// Claim with the caller's permissions.
    pub permissions_claim: String,
    /// Secret with application tokens and Basic users; `None` = no tokens, no users.
    pub credentials_secret: Option<ObjectRef>,
    /// How long a cached copy of the credentials Secret is used.
    pub credentials_cache_ttl: Duration,
    /// Wait for Ready at most this long.
    pub ready_timeout: Duration,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Longest time the body may take to arrive (408 after it).
    pub body_timeout: Duration,
    /// Hard limit of one request.
    pub request_timeout: Duration,
    /// Most concurrent argon2 verifications (each costs ~19 MiB and tens of milliseconds);
    /// requests beyond them are answered 503 at once.
    pub max_concurrent_password_checks: usize,
    /// Failed-login limits (429).
    pub failed_logins: FailureLimits,
    /// Connection cap and timeouts of the HTTP server.
    pub server: ServerLimits,
    /// The namespaces the operator serves; a tenant whose facadeNamespace is outside them is
    /// refused (500, naming it) before anything is created.
    pub served: nexus_controller::WatchScope,
}

impl FacadeConfig {
    /// A configuration with the defaults of the flags and the given JWT settings.
    pub fn new(jwt: Option<JwtConfig>, credentials_secret: Option<ObjectRef>) -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 8081)),
            jwt,
            tenant_claim: "tenants".into(),
            permissions_claim: "permissions".into(),
            credentials_secret,
            credentials_cache_ttl: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(20),
            max_body_bytes: 64 * 1024,
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_concurrent_password_checks: 2,
            failed_logins: FailureLimits::default(),
            server: ServerLimits::default(),
            served: nexus_controller::WatchScope::All,
        }
    }

    /// Builds the configuration from the flags.
    pub fn from_args(args: &FacadeArgs) -> Result<Self, super::FacadeError> {
        Ok(Self::build(args)?)
    }

    fn build(args: &FacadeArgs) -> Result<Self, ConfigError> {
        let jwt = match (&args.issuer, &args.audience) {
            (Some(issuer), Some(audience)) if !issuer.is_empty() && !audience.is_empty() => {
                let jwks_url = args.jwks_url.clone().unwrap_or_else(|| {
                    format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
                });
                check_jwks_url(&jwks_url)?;
                Some(JwtConfig::new(issuer.clone(), audience.clone(), jwks_url))
            }
            (None, None) => None,
            _ => return Err(ConfigError::IssuerWithoutAudience),
        };
        let credentials_secret = args
            .credentials_secret
            .as_deref()
            .map(parse_object_ref)
            .transpose()?;
        if args.ready_timeout_seconds == 0 {
            return Err(ConfigError::Zero("--facade-ready-timeout-seconds"));
        }
        if args.max_body_bytes == 0 {
            return Err(ConfigError::Zero("--facade-max-body-bytes"));
        }
        if args.body_timeout_seconds == 0 {
            return Err(ConfigError::Zero("--facade-body-timeout-seconds"));
        }
        let ready_timeout = Duration::from_secs(args.ready_timeout_seconds);
        let request_timeout = match args.request_timeout_seconds {
            Some(0) => return Err(ConfigError::Zero("--facade-request-timeout-seconds")),
            Some(secs) => Duration::from_secs(secs),
            None => ready_timeout + Duration::from_secs(10),
        };
        let body_timeout = Duration::from_secs(args.body_timeout_seconds);
        if body_timeout >= request_timeout {
            return Err(ConfigError::BodyTimeout);
        }
        if args.max_password_checks == 0 {
            return Err(ConfigError::Zero("--facade-max-password-checks"));
        }
        if args.failed_login_window_seconds == 0 {
            return Err(ConfigError::Zero("--facade-failed-login-window-seconds"));
        }
        let server = args.http.limits()?;
        if server.idle_timeout <= request_timeout {
            return Err(ConfigError::IdleTimeout);
        }
        Ok(Self {
            addr: args.facade_addr,
            tenant_claim: args.tenant_claim.clone(),
            permissions_claim: args.permissions_claim.clone(),
            ready_timeout,
            max_body_bytes: args.max_body_bytes,
            body_timeout,
            request_timeout,
            max_concurrent_password_checks: args.max_password_checks,
            failed_logins: FailureLimits {
                per_user: args.max_failed_logins_per_user,
                per_address: args.max_failed_logins_per_address,
                window: Duration::from_secs(args.failed_login_window_seconds),
                ..FailureLimits::default()
            },
            server,
            ..Self::new(jwt, credentials_secret)
        })
    }
}

impl JwtConfig {
    /// JWT settings with the default leeway (30 s), key TTL (10 min) and refresh interval (10 s).
    pub fn new(issuer: String, audience: String, jwks_url: String) -> Self {
        Self {
            issuer,
            audience,
            jwks_url,
            leeway: Duration::from_secs(30),
            jwks_ttl: Duration::from_secs(600),
            jwks_min_refresh_interval: Duration::from_secs(10),
        }
    }
}

/// Parses `namespace/name`.
pub fn parse_object_ref(value: &str) -> Result<ObjectRef, ConfigError> {
    match value.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok(ObjectRef {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
        }
        _ => Err(ConfigError::CredentialsSecret(value.to_owned())),
    }
}

/// The JWKS must come over https, except from a loopback host (tests, local simulators).
fn check_jwks_url(value: &str) -> Result<(), ConfigError> {
    let err = |reason: &str| ConfigError::JwksUrl {
        url: value.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(value).map_err(|e| err(&e.to_string()))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url.host_str().unwrap_or_default()) => Ok(()),
        _ => Err(err("must be https (http only for loopback hosts)")),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        facade: FacadeArgs,
    }

    #[test]
    fn defaults_and_derived_values() {
        let cli = Cli::parse_from([
            "x",
            "--facade-issuer",
            "https://issuer.example/",
            "--facade-audience",
            "nexus",
            "--facade-credentials-secret",
            "ops/facade-creds",
        ]);
        let config = FacadeConfig::from_args(&cli.facade).unwrap();
        let jwt = config.jwt.unwrap();
        assert_eq!(jwt.jwks_url, "https://issuer.example/.well-known/jwks.json");
        assert_eq!(config.ready_timeout, Duration::from_secs(20));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.max_body_bytes, 65536);
        assert_eq!(config.body_timeout, Duration::from_secs(10));
        assert_eq!(config.tenant_claim, "tenants");
        assert_eq!(config.max_concurrent_password_checks, 2);
        assert_eq!(config.failed_logins.per_user, 5);
        assert_eq!(config.failed_logins.per_address, 20);
        assert_eq!(config.server.max_connections, 256);
        assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.server.idle_timeout, Duration::from_secs(60));
        assert_eq!(
            config.credentials_secret.unwrap(),
            ObjectRef {
                namespace: "ops".into(),
                name: "facade-creds".into()
            }
        );
    }

    #[test]
    fn refuses_bad_settings() {
        let parse = |args: &[&str]| {
            let mut all = vec!["x"];
            all.extend_from_slice(args);
            FacadeConfig::from_args(&Cli::parse_from(all).facade)
        };
        assert!(parse(&["--facade-issuer", "https://i/"]).is_err());
        assert!(parse(&["--facade-credentials-secret", "nope"]).is_err());
        assert!(
            parse(&[
                "--facade-body-timeout-seconds",
                "30",
                "--facade-request-timeout-seconds",
                "30"
            ])
            .is_err()
        );
        assert!(parse(&["--facade-max-password-checks", "0"]).is_err());
        assert!(parse(&["--facade-max-connections", "0"]).is_err());
        assert!(parse(&["--facade-idle-timeout-seconds", "30"]).is_err());
        assert!(
            parse(&[
                "--facade-issuer",
                "http://evil.example/",
                "--facade-audience",
                "a"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "--facade-issuer",
                "http://127.0.0.1:9/",
                "--facade-audience",
                "a"
            ])
            .is_ok()
        );
    }
}
