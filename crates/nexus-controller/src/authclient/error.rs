//! The errors that abort a pass of an AuthClient: Kubernetes API errors, retried by the
//! error policy. Everything a user can act on is data instead ([`crate::pass::Failure`]).

use crate::compact::DecodeError;

/// Errors that abort a pass and are retried by the error policy. Failures the user can act on
/// (bad spec, Auth0 refusals, throttling) are not errors: they become conditions.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// What aborts a pass of any kind: no namespace, a cleanup that cannot finish yet.
    #[error(transparent)]
    Pass(#[from] crate::pass::PassError),
    /// The object has no uid yet (it was never stored by the API server).
    #[error("AuthClient has no uid")]
    MissingUid,
    /// The cached object could not be decoded.
    #[error(transparent)]
    Cache(#[from] DecodeError),
}
