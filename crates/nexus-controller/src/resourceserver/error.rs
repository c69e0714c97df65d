//! The errors that abort a pass of an AuthResourceServer: Kubernetes API errors, retried by the
//! error policy. Everything a user can act on is data instead ([`crate::pass::Failure`]).

/// Errors that abort a pass and are retried by the error policy.
#[derive(Debug, thiserror::Error)]
pub enum ResourceServerError {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// What aborts a pass of any kind: no namespace, a cleanup that cannot finish yet.
    #[error(transparent)]
    Pass(#[from] crate::pass::PassError),
    /// The object has no uid yet (it was never stored by the API server).
    #[error("AuthResourceServer has no uid")]
    MissingUid,
}
