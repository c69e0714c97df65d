//! The errors that abort a pass of an AuthResourceServer: Kubernetes API errors, retried by the
//! error policy. Everything a user can act on is data instead ([`crate::pass::Failure`]).

/// Errors that abort a pass and are retried by the error policy.
#[derive(Debug, thiserror::Error)]
pub enum ResourceServerError {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// The object is missing a namespace (impossible for a namespaced resource).
    #[error("AuthResourceServer has no namespace")]
    MissingNamespace,
    /// The object has no uid yet (it was never stored by the API server).
    #[error("AuthResourceServer has no uid")]
    MissingUid,
    /// The cleanup could not finish yet (its condition says why).
    #[error("cleanup pending: {0}")]
    CleanupPending(String),
}
