//! Fixtures that the unit tests of several modules share (test builds only).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use nexus_crd::conditions::{ConditionStatus, READY, new_condition};
use nexus_crd::{Auth0Rejection, AuthResourceServer, AuthResourceServerStatus};
use serde_json::json;

/// The AuthResourceServer `name` of tenant `acme` for the API `identifier` (named "Orders"),
/// at `generation`.
pub fn server(name: &str, identifier: &str, generation: i64) -> AuthResourceServer {
    let spec = json!({"tenant": "acme", "identifier": identifier, "name": "Orders"});
    let mut server = AuthResourceServer::new(name, serde_json::from_value(spec).expect("spec"));
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

/// A refusal recorded for `generation` of an object and generation 1 of its tenant: the
/// `auth0Rejection` and the `Ready=False` condition with `reason` and `message`.
pub fn held(
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) -> (Option<Auth0Rejection>, Vec<Condition>) {
    let rejection = Auth0Rejection {
        generation,
        tenant_generation: 1,
    };
    let ready = new_condition(
        READY,
        ConditionStatus::False,
        reason,
        message,
        Some(generation),
        now,
    );
    (Some(rejection), vec![ready])
}
