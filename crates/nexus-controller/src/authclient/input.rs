//! The data of an AuthClient pass that the planning modules share: what a plan is made from
//! ([`Input`], [`SecretView`], [`AdoptionRights`]), what is read from Auth0 ([`Lookup`],
//! [`Auth0View`]) and the steps a plan returns ([`Step`]). Types only (no planning): the
//! planners ([`super::plan`], [`super::access`], [`super::adoption`], [`super::keys`]) import
//! it and never each other in a cycle.

use super::desired::{ClientPatch, DesiredClient};
use super::secret::ObservedSecret;
use crate::context::AccessFinding;
use crate::governance::Governance;
use crate::marker;
use crate::pass::{self, Note};
use auth0_mgmt::Auth0Client;
use nexus_crd::{AuthClient, AuthTenant};

/// The owned Secret as the cache shows it.
#[derive(Clone, Copy, Debug)]
pub enum SecretView<'a> {
    /// A Secret this AuthClient owns (as cached: metadata and digests, no data).
    Owned(&'a ObservedSecret),
    /// A Secret of that name exists and is not owned by this AuthClient.
    Foreign,
    /// Not among the operator's Secrets: absent, or a foreign Secret without the operator's
    /// label (creating it then fails with 409, which is checked at that point).
    NotCached,
}

/// Everything a plan is made from: the [`pass::Input`] of every kind, with the AuthClient's
/// own part ([`ClientInput`]).
pub type Input<'a> = pass::Input<'a, AuthClient, ClientInput<'a>>;

/// What an AuthClient's plan is made from besides what every kind's is.
#[derive(Clone, Copy, Debug)]
pub struct ClientInput<'a> {
    /// The tenant (its advertised domain and issuer go into the Secret).
    pub tenant: &'a AuthTenant,
    /// The observed Secret.
    pub secret: SecretView<'a>,
    /// What was found about the client's grants and connections.
    pub access: &'a AccessFinding,
    /// What the namespace may hold (grants, connections).
    pub governance: Governance<'a>,
    /// What the tenant lets this object adopt.
    pub adoption: AdoptionRights<'a>,
}

/// What the tenant lets an `AuthClient` adopt (issue 17: adoption is the tenant's decision).
#[derive(Clone, Copy, Debug)]
pub struct AdoptionRights<'a> {
    /// The tenant lists the namespace in `spec.adoption.allowedNamespaces`.
    pub allowed: bool,
    /// The client id of the tenant's Management API credentials: never adoptable.
    pub management_client_id: &'a str,
}

impl Input<'_> {
    /// Whether a create may have reached Auth0 without its outcome being recorded (see
    /// [`marker`]).
    pub fn pending(&self) -> bool {
        let key = marker::tag_key(&self.tag.cluster, &self.tag.owner_uid);
        marker::pending(self.owner, &key, self.status)
    }
}

/// What must be read from Auth0 before planning.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// Nothing: the view is already known.
    Known(Auth0View),
    /// `GET /api/v2/clients/{id}`; `adopting` when the id comes from `spec.client.id`.
    Get {
        /// The client id.
        id: String,
        /// Whether this reads the client to adopt.
        adopting: bool,
    },
    /// Page through the tenant's clients for the one carrying this object's tag (a create
    /// was interrupted before its answer was recorded).
    FindByTag,
}

/// What is known about the Auth0 client when planning.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Auth0View {
    /// Not read: the status is trusted (Ready, spec unchanged, no drift finding).
    #[default]
    Trusted,
    /// No client was ever created for this object.
    Absent,
    /// The client as Auth0 returned it (a GET, or the drift scan's listed copy).
    Found(Box<Auth0Client>),
    /// The recorded client no longer exists in Auth0.
    Missing,
    /// The client named by `spec.client.id`, read.
    Adoptable(Box<Auth0Client>),
    /// `spec.client.id` names no client.
    AdoptMissing(String),
    /// After an interrupted create: the client carrying this object's tag, if any.
    Recovered(Option<Box<Auth0Client>>),
}

impl From<pass::View<Auth0Client>> for Auth0View {
    fn from(view: pass::View<Auth0Client>) -> Self {
        match view {
            pass::View::Trusted => Auth0View::Trusted,
            pass::View::Absent => Auth0View::Absent,
            pass::View::Found(client) => Auth0View::Found(client),
            pass::View::Missing => Auth0View::Missing,
        }
    }
}

/// One thing to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// One metadata write before the create request: the crash-safety marker (the
    /// `auth.nexus.dev/creation-attempt` annotation) and the finalizer when it is missing,
    /// conditional on the resourceVersion the pass planned from.
    Mark,
    /// One metadata write of the finalizer alone, before anything in Auth0 becomes this
    /// object's (an adoption, a grant...) when no create marks it; conditional like [`Step::Mark`].
    Finalize,
    /// `POST /api/v2/clients`.
    Create(Box<DesiredClient>),
    /// `PATCH /api/v2/clients/{id}` with only the fields that differ; the event to publish
    /// when it succeeds.
    Patch(Box<ClientPatch>, Option<Note>),
    /// `POST /api/v2/clients/{id}/rotate-secret`.
    Rotate,
    /// `GET /api/v2/clients/{id}` for the client secret (no other source has it).
    FetchSecret,
    /// The client secret the owned Secret holds, read with one GET of that Secret from the
    /// API server (the cache keeps no data), for a rewrite of an intact Secret whose layout
    /// changed (the tenant's domain, say); from Auth0 when that Secret no longer holds it.
    ReadSecret,
    /// Write the credentials Secret: server-side apply when `existing`, else create.
    ApplySecret {
        /// Whether an owned Secret exists (apply) or not (create).
        existing: bool,
    },
    /// `POST /api/v2/client-grants` (a 409 finds the existing grant and adopts it).
    CreateGrant {
        /// The API identifier.
        audience: String,
        /// The scopes.
        scopes: Vec<String>,
        /// The event of this step.
        note: Note,
    },
    /// `PATCH /api/v2/client-grants/{id}` with the full scope list.
    PatchGrant {
        /// The grant.
        grant_id: String,
        /// Its audience.
        audience: String,
        /// The new scopes.
        scopes: Vec<String>,
        /// The event of this step.
        note: Note,
    },
    /// `DELETE /api/v2/client-grants/{id}` (404 counts as done).
    DeleteGrant {
        /// The grant.
        grant_id: String,
        /// Its audience.
        audience: String,
        /// The event of this step.
        note: Note,
    },
    /// `PATCH /api/v2/connections/{id}/clients` enabling only this client.
    EnableConnection {
        /// The connection's name.
        name: String,
        /// Its id.
        connection_id: String,
        /// The event of this step.
        note: Note,
    },
    /// `PATCH /api/v2/connections/{id}/clients` disabling only this client.
    DisableConnection {
        /// The connection's name.
        name: String,
        /// Its id.
        connection_id: String,
        /// The event of this step.
        note: Note,
    },
}
