//! The reconcile loop of `AuthClient`s and `AuthTenant`s.

pub mod mapping;
pub mod secret;
pub mod validate;
