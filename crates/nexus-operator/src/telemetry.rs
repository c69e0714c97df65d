//! Logging setup: human-readable text or JSON lines, filtered by `RUST_LOG`.

use clap::ValueEnum;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Output format of the logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global tracing subscriber. `RUST_LOG` overrides the default `info` level.
/// `to_stderr`: logs go to standard error (for commands whose output is on stdout).
pub fn init(format: LogFormat, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube_runtime::controller=warn,hyper=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    // A second call (tests) keeps the first subscriber: ignoring the error is intended.
    let _ = match (format, to_stderr) {
        (LogFormat::Text, true) => registry
            .with(fmt::layer().with_target(true).with_writer(std::io::stderr))
            .try_init(),
        (LogFormat::Json, true) => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        (LogFormat::Text, false) => registry.with(fmt::layer().with_target(true)).try_init(),
        (LogFormat::Json, false) => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init(),
    };
}

/// Replaces the default panic hook (which prints the panic message) with one that logs only
/// where the panic happened: a message could carry request data or credentials.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown".into());
        tracing::error!(%location, "panic (its message is not logged, it may hold request data)");
    }));
}
