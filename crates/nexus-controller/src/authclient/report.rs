//! What the steps of an AuthClient pass did ([`Report`]): written by the step executors
//! ([`super::act`], [`super::keys`]), read by the status ([`super::status`]). The status
//! writes of the pass are the driver's ([`crate::pass::Writer`]).

use crate::marker::Outcome;
use crate::pass::{Auth0Failure, Note};
use nexus_crd::{ConnectionStatus, GrantStatus};

/// What the steps did.
#[derive(Debug, Default)]
pub struct Report {
    /// The client (its id, whether it is gone) and the crash-safety marker after the steps.
    pub outcome: Outcome,
    /// A client was created.
    pub created: bool,
    /// The secret was rotated.
    pub rotated: bool,
    /// Events of what was done.
    pub notes: Vec<Note>,
    /// The Auth0 failure that stopped the steps.
    pub failure: Option<Auth0Failure>,
    /// A Kubernetes error that stopped the steps (the status is still written, then the pass
    /// fails so the error policy retries).
    pub kube_error: Option<kube::Error>,
    /// The client's grants after the steps.
    pub grants: Vec<GrantStatus>,
    /// The connections the client is enabled on after the steps.
    pub connections: Vec<ConnectionStatus>,
}
