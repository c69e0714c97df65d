//! `nexus-operator`: see `nexus-operator --help`.

use clap::Parser;
use nexus_operator::{app, cli::Cli, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    telemetry::install_panic_hook();
    match app::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "nexus-operator stopped");
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
