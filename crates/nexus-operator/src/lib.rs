//! The `nexus-operator` binary's wiring: the command line ([`cli`]), the subcommands ([`app`]),
//! the health and metrics server ([`health`]) and logging ([`telemetry`]). Everything else lives
//! in the workspace's library crates (see the README's "Architecture" section).

pub mod app;
pub mod cli;
#[cfg(feature = "dev")]
pub mod dev;
pub mod health;
pub mod review;
pub mod telemetry;
