//! The errors that abort a pass of an AuthClient: Kubernetes API errors, retried by the
//! error policy. Everything a user can act on is data instead ([`crate::pass::Failure`]).

use crate::compact::DecodeError;
use crate::pass::PassError;

/// Errors that abort a pass and are retried by the error policy. Failures the user can act on
/// (bad spec, Auth0 refusals, throttling) are not errors: they become conditions.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// What aborts a pass of any kind: a Kubernetes API error, no namespace or uid, a cleanup
    /// that cannot finish yet.
    #[error(transparent)]
    Pass(#[from] PassError),
    /// The cached object could not be decoded.
    #[error(transparent)]
    Cache(#[from] DecodeError),
}

impl From<kube::Error> for ReconcileError {
    fn from(error: kube::Error) -> Self {
        ReconcileError::Pass(error.into())
    }
}
