//! nexus-operator: manages Auth0 applications ("clients") declaratively from Kubernetes.
//!
//! Module map: [`crd`] holds the resource types, [`auth0`] the Management API client,
//! [`controller`] the reconcile loop, [`sim`] the embedded Auth0 simulator, [`facade`] the
//! Nexus REST facade and [`testkit`] an in-memory Kubernetes API used by the tests.

pub mod auth0;
pub mod controller;
pub mod crd;
pub mod facade;
pub mod leader;
pub mod sim;
pub mod testkit;
