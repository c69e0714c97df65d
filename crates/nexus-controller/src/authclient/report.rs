//! What the steps of an AuthClient pass did ([`Report`]): written by the step executors
//! ([`super::act`], [`super::keys`]), read by the status ([`super::status`]). The status
//! writes of the pass are the driver's ([`crate::pass::Writer`]).

use crate::pass::{Auth0Failure, Note, Pending};
use nexus_crd::{ConnectionStatus, GrantStatus};

/// What the steps did.
#[derive(Debug, Default)]
pub struct Report {
    /// The client id after the steps.
    pub client_id: Option<String>,
    /// A client was created.
    pub created: bool,
    /// The secret was rotated.
    pub rotated: bool,
    /// The crash-safety marker: written this pass, settled, or as it was.
    pub pending: Pending<()>,
    /// The crash-safety marker this pass wrote (the annotation value).
    pub marker: Option<String>,
    /// Events of what was done.
    pub notes: Vec<Note>,
    /// The Auth0 failure that stopped the steps.
    pub failure: Option<Auth0Failure>,
    /// A Kubernetes error that stopped the steps (the status is still written, then the pass
    /// fails so the error policy retries).
    pub kube_error: Option<kube::Error>,
    /// The recorded client is gone (a PATCH or rotation answered 404).
    pub client_gone: bool,
    /// The client's grants after the steps.
    pub grants: Vec<GrantStatus>,
    /// The connections the client is enabled on after the steps.
    pub connections: Vec<ConnectionStatus>,
}
