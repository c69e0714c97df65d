//! Unit-test fixtures shared by the modules of this crate.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use nexus_crd::conditions::{ConditionStatus, READY};
use nexus_crd::{AuthClient, NexusClient, ReadyReason};

use crate::claim::facade_spec;
use crate::idempotency::REQUEST_HASH_ANNOTATION;

/// A valid request body's client: `name`, a single-page app.
pub fn client(name: &str) -> NexusClient {
    NexusClient {
        name: name.into(),
        app_type: "spa".into(),
        ..Default::default()
    }
}

/// An AuthClient with the request-hash annotation `hash`, `generation`, an optional Ready
/// condition (status, reason, observed generation) and client id.
pub fn object(
    hash: &str,
    generation: i64,
    cond: Option<(ConditionStatus, ReadyReason, i64)>,
    client_id: Option<&str>,
) -> AuthClient {
    let mut o = AuthClient::new("n", facade_spec("t1", client("x")));
    o.metadata.generation = Some(generation);
    o.metadata.annotations = Some([(REQUEST_HASH_ANNOTATION.to_owned(), hash.to_owned())].into());
    let mut status = nexus_crd::AuthClientStatus {
        client_id: client_id.map(str::to_owned),
        ..Default::default()
    };
    if let Some((s, reason, observed)) = cond {
        status.conditions.push(Condition {
            type_: READY.into(),
            status: s.as_str().into(),
            reason: reason.as_str().into(),
            message: "Auth0 says no".into(),
            observed_generation: Some(observed),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        });
    }
    o.status = Some(status);
    o
}
