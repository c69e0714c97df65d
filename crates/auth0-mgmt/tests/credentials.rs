//! The client-credential calls of `TenantClient` against the embedded simulator: register a
//! public key, list it on the client (the secret stops being answered), clear the methods (it
//! comes back), delete the credential.

mod common;

use auth0_mgmt::{CredentialRef, NewPublicKey, Priority};
use serde_json::json;

const P: Priority = Priority::Normal;
/// A public key (only public material).
const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAj0UJYQBZCpmZ4+GRMkTC
hLk8yfkJstoN9QY58zGHztyFshSneezvrx1lxtHjdgVXpC2a3KNwCBo83p5zeF/Q
YrAUj+dXYfvfWxCev5mM+Zuj39rJ5RdXQv91HO1UDV2Z6bwMc3YZvYSjuyOUOnbC
VjmDfn6evidG6EIb8sUyzUMtlDNRHfcJstywY+oIxfhsK5TzlaX/rF7SBcpLEbAy
jPJBmLkpWCECamrxkm+8W2gTQcm4rbc3jucsCJBVNXoBYOgdk0xUo5nP9z4G/duJ
kVYHvy7jJoyJCXz764Qv+pT5pBpVxMb865Z1meVA8Kfc3gnj6AY6aDRccDALMK6k
wQIDAQAB
-----END PUBLIC KEY-----";

#[tokio::test]
async fn register_list_clear_and_delete_a_public_key() {
    let sim = common::unlimited().await;
    let api = common::client(&sim);
    let created = api
        .create_client(&json!({"name": "signer", "app_type": "non_interactive"}), P)
        .await
        .expect("client");
    let id = created.client_id.clone();
    assert_eq!(created.private_key_jwt_ids(), None);

    let cred = api
        .create_credential(
            &id,
            &NewPublicKey {
                name: "nexus-operator test",
                credential_type: "public_key",
                pem: PUBLIC_PEM,
                alg: "PS256",
            },
            P,
        )
        .await
        .expect("credential");
    assert!(cred.id.starts_with("cred_"), "{cred:?}");
    assert_eq!(cred.alg.as_deref(), Some("PS256"));
    assert_eq!(cred.kid.as_deref().map(str::len), Some(43));
    let listed = api.list_credentials(&id, P).await.expect("list");
    assert_eq!(listed, vec![cred.clone()]);

    let refs = [CredentialRef {
        id: cred.id.clone(),
    }];
    let patched = api
        .set_private_key_jwt(&id, Some(&refs), "client_secret_post", P)
        .await
        .expect("list on client");
    assert_eq!(patched.private_key_jwt_ids(), Some(vec![cred.id.clone()]));
    assert!(patched.client_secret.is_none());
    let cleared = api
        .set_private_key_jwt(&id, None, "client_secret_post", P)
        .await
        .expect("clear");
    assert_eq!(cleared.private_key_jwt_ids(), None);
    assert!(cleared.client_secret.is_some());
    api.delete_credential(&id, &cred.id, P)
        .await
        .expect("delete");
    // Deleting again counts as done.
    api.delete_credential(&id, &cred.id, P)
        .await
        .expect("delete again");
    assert!(api.list_credentials(&id, P).await.expect("list").is_empty());
    sim.shutdown().await;
}
