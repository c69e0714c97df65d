//! Fixtures that the unit tests of several modules share (test builds only).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use nexus_crd::conditions::{ConditionStatus, READY, new_condition};
use nexus_crd::{
    Auth0Rejection, AuthClient, AuthClientSpec, AuthResourceServer, AuthResourceServerStatus,
    NexusClient, PendingResourceServer,
};
use serde_json::json;

use crate::ownership::OwnershipTag;
use crate::pass::Kind;

/// The AuthClient `orders` (uid `uid-1`) in namespace `team-a`: an SPA named "Orders" in
/// tenant `acme`, every policy at its default.
pub fn client() -> AuthClient {
    let app = NexusClient {
        name: "Orders".into(),
        app_type: "spa".into(),
        ..Default::default()
    };
    let mut client = AuthClient::new("orders", AuthClientSpec::new("acme", app));
    client.metadata.namespace = Some("team-a".into());
    client.metadata.uid = Some("uid-1".into());
    client
}

/// [`client`] named `name` in `namespace`, with uid `uid-<name>`.
pub fn owner(namespace: &str, name: &str) -> AuthClient {
    let mut client = client();
    client.metadata.name = Some(name.into());
    client.metadata.namespace = Some(namespace.into());
    client.metadata.uid = Some(format!("uid-{name}"));
    client
}

/// The Secret the operator writes for `owner`: client id `id-<name>`, `client_secret`, the
/// tenant `acme.eu.auth0.com`.
pub fn written_secret(
    owner: &AuthClient,
    client_secret: &str,
) -> k8s_openapi::api::core::v1::Secret {
    let credentials = crate::authclient::secret::Credentials {
        client_id: format!("id-{}", owner.metadata.name.as_deref().unwrap_or_default()),
        client_secret: client_secret.into(),
        domain: "acme.eu.auth0.com".into(),
        issuer_base_url: "https://acme.eu.auth0.com/".into(),
        assertion: None,
    };
    crate::authclient::secret::build_secret(owner, &credentials).expect("secret")
}

/// An ownership tag: cluster `prod-eu`, owner uid `0b7c-uid`, owner `team-a/orders`.
pub fn tag() -> OwnershipTag {
    OwnershipTag {
        cluster: "prod-eu".into(),
        owner_uid: "0b7c-uid".into(),
        owner_ref: "team-a/orders".into(),
    }
}

/// The AuthResourceServer `name` of tenant `acme` for the API `identifier` (named "Orders"),
/// at `generation`.
pub fn server(name: &str, identifier: &str, generation: i64) -> AuthResourceServer {
    let spec = json!({"tenant": "acme", "identifier": identifier, "name": "Orders"});
    let mut server = AuthResourceServer::new(name, serde_json::from_value(spec).expect("spec"));
    server.metadata.generation = Some(generation);
    server
}

/// The AuthResourceServer `orders-api` in namespace `team-b` of tenant `acme` for the API
/// `https://orders/api` (named "Orders"), at `generation`, with the spec fields `more`.
pub fn orders_api(generation: i64, more: serde_json::Value) -> AuthResourceServer {
    let mut spec = json!({"tenant": "acme", "identifier": "https://orders/api", "name": "Orders"});
    if let (Some(spec), serde_json::Value::Object(more)) = (spec.as_object_mut(), more) {
        spec.extend(more);
    }
    let mut server =
        AuthResourceServer::new("orders-api", serde_json::from_value(spec).expect("spec"));
    server.metadata.namespace = Some("team-b".into());
    server.metadata.generation = Some(generation);
    server
}

/// The status of an AuthResourceServer that holds the API `rs1` for `identifier` in tenant
/// `acme`, with `Ready` `status` (reason Synced) for `generation`.
pub fn server_status(
    identifier: &str,
    generation: i64,
    status: ConditionStatus,
    now: Timestamp,
) -> AuthResourceServerStatus {
    AuthResourceServerStatus {
        observed_generation: Some(generation),
        resource_server_id: Some("rs1".into()),
        identifier: Some(identifier.into()),
        tenant: Some("acme".into()),
        conditions: vec![new_condition(
            READY,
            status,
            "Synced",
            "",
            Some(generation),
            now,
        )],
        ..Default::default()
    }
}

/// The status of an AuthResourceServer with an older operator's crash-safety marker
/// (`pendingCreation`) of a create of `identifier` whose identifier was probed free.
pub fn server_pending(identifier: &str) -> AuthResourceServerStatus {
    AuthResourceServerStatus {
        pending_creation: Some(PendingResourceServer {
            identifier: identifier.into(),
            started_at: Time(Timestamp::UNIX_EPOCH),
            probed: true,
        }),
        ..Default::default()
    }
}

/// The status of an object of kind `K` whose refusal is recorded for its `generation` and
/// generation 1 of its tenant: the `auth0Rejection` and `Ready=False` with `reason` and
/// `message`.
pub fn held<K: Kind>(reason: &str, message: &str, generation: i64, now: Timestamp) -> K::Status {
    let mut status = K::Status::default();
    let parts = K::parts(&mut status);
    *parts.observed_generation = Some(generation);
    *parts.auth0_rejection = Some(Auth0Rejection {
        generation,
        tenant_generation: 1,
    });
    parts.conditions.push(new_condition(
        READY,
        ConditionStatus::False,
        reason,
        message,
        Some(generation),
        now,
    ));
    status
}
