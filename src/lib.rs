//! nexus-operator: manages Auth0 applications ("clients") declaratively from Kubernetes.
//!
//! Module map: [`crd`] holds the resource types, [`auth0`] the Management API client,
//! [`controller`] the reconcile loop, [`sim`] the embedded Auth0 simulator, [`facade`] the
//! Nexus REST facade, [`leader`] leader election, [`metrics`] and [`telemetry`] operations,
//! [`cli`] and [`app`] the command line, and [`testkit`] an in-memory Kubernetes API for tests.

pub mod app;
pub mod auth0;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod facade;
pub mod leader;
pub mod metrics;
pub mod sim;
pub mod telemetry;
pub mod testkit;
