//! Whether an AuthClient may adopt the Auth0 client `spec.client.id` names (issue 17: the
//! tenant decides; ownership never crosses namespaces). Pure.

use super::input::Input;
use crate::ownership::tagged_owner;
use crate::pass::Failure;
use auth0_mgmt::Auth0Client;
use nexus_crd::{AdoptionPolicy, ReadyReason};

/// Why the client `id` may not be adopted, decided without reading it: the tenant does not
/// let the namespace adopt, or `id` is the tenant's own Management API client.
pub fn adoption_not_allowed(input: &Input<'_>, id: &str) -> Option<Failure> {
    let tenant = &input.owner.spec.tenant;
    if id == input.extra.adoption.management_client_id {
        return Some(Failure::permanent(
            ReadyReason::AdoptionNotAllowed,
            format!(
                "spec.client.id '{id}' is the Management API client of AuthTenant '{tenant}' (its credentials Secret); it is never adopted"
            ),
        ));
    }
    if !input.extra.adoption.allowed {
        return Some(Failure::permanent(
            ReadyReason::AdoptionNotAllowed,
            format!(
                "AuthTenant '{tenant}' does not let namespace '{}' adopt existing Auth0 clients; a cluster admin may add it to spec.adoption.allowedNamespaces of the AuthTenant, or remove spec.client.id to create a new client",
                input.extra.governance.namespace
            ),
        ));
    }
    None
}

/// Why the client named by `spec.client.id`, as read (without its secret), may not be
/// adopted: the checks of [`adoption_not_allowed`] again, then its ownership tag. A client
/// tagged by an AuthClient of another namespace of this cluster is never adopted; one tagged
/// by another cluster, or by another AuthClient of this namespace, only with
/// `adoptionPolicy: TakeOver`.
pub fn adoption_refusal(input: &Input<'_>, found: &Auth0Client) -> Option<Failure> {
    if let Some(refused) = adoption_not_allowed(input, &found.client_id) {
        return Some(refused);
    }
    let tagged = tagged_owner(found)?;
    let ours = tagged.cluster == input.tag.cluster && tagged.owner_uid == input.tag.owner_uid;
    if ours {
        return None;
    }
    let namespace = input.extra.governance.namespace;
    if tagged.cluster == input.tag.cluster {
        let owner_namespace = tagged.owner_ref.split_once('/').map(|(ns, _)| ns);
        if owner_namespace != Some(namespace) {
            return Some(Failure::permanent(
                ReadyReason::AdoptionRefused,
                format!(
                    "Auth0 client {} is owned by AuthClient '{}' of another namespace of this cluster; ownership never crosses namespaces, whatever spec.adoptionPolicy says",
                    found.client_id, tagged.owner_ref
                ),
            ));
        }
    }
    if input.owner.spec.adoption_policy == AdoptionPolicy::TakeOver {
        return None;
    }
    Some(Failure::permanent(
        ReadyReason::AdoptionRefused,
        format!(
            "Auth0 client {} is owned by AuthClient '{}' in cluster '{}'; set spec.adoptionPolicy: TakeOver to adopt it anyway",
            found.client_id, tagged.owner_ref, tagged.cluster
        ),
    ))
}
