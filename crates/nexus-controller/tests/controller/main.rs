//! Controller tests: the reconciler against an in-memory Kubernetes API (requests asserted at
//! the HTTP boundary) with Auth0 served by the embedded simulator on a loopback port.

mod apis;
mod attacks;
mod basics;
mod budgets;
mod convergence;
mod fleet_start;
mod harness;
mod paging;
mod printable;
mod private_key_jwt;
mod safety;
mod scoped;
mod secrets;
