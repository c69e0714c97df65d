//! `spec.credentials.type: privateKeyJwt` end to end: the operator generates the key, registers
//! only its public half, writes the private key into the Secret, and an application holding
//! nothing but that Secret obtains tokens from the simulator's `/oauth/token` with client
//! assertions — through a migration from the client secret and a zero-downtime rotation.

use std::time::{Duration, UNIX_EPOCH};

use auth0_sim::{FailAction, FailNext};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kube::Api;
use kube::api::{Patch, PatchParams};
use nexus_crd::{AuthClient, ROTATE_ANNOTATION};
use serde_json::{Value, json};

use crate::harness::*;

const API: &str = "https://orders.api.test/";
const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The operator reads `now` from tokio's (paused) clock, so a test moves time forward with
/// [`tokio::time::advance`] (the simulator's wall clock follows the same clock).
async fn harness() -> Harness {
    let mut options = Options::default();
    options.sim.app_audience = Some(API.into());
    options.config.clock = nexus_controller::context::Clock::tokio();
    Harness::with(options).await
}

const OVERLAP: Duration = Duration::from_secs(24 * 3600);

fn worker_spec(credentials: Value) -> Value {
    json!({
        "tenant": TENANT,
        "client": {
            "name": "worker",
            "app_type": "non_interactive",
            "grant_types": ["client_credentials"],
        },
        "credentials": credentials,
    })
}

/// The keys the status records (the status must record some).
fn keys(st: &nexus_crd::AuthClientStatus) -> nexus_crd::credentials::CredentialsStatus {
    st.credentials.clone().expect("credentials")
}

/// What an application reads from the Secret.
struct Mounted {
    client_id: String,
    client_secret: String,
    domain: String,
    key: Option<String>,
    kid: Option<String>,
}

fn mounted(h: &Harness, name: &str) -> Mounted {
    let secret = h.secret(&format!("{name}-auth0")).expect("Secret");
    let field = |k: &str| secret["data"].get(k).map(unb64);
    Mounted {
        client_id: field("AUTH0_CLIENT_ID").expect("client id"),
        client_secret: field("AUTH0_CLIENT_SECRET").unwrap_or_default(),
        domain: field("AUTH0_DOMAIN").expect("domain"),
        key: field("AUTH0_CLIENT_ASSERTION_KEY"),
        kid: field("AUTH0_CLIENT_ASSERTION_KID"),
    }
}

async fn post_token(h: &Harness, form: &[(&str, &str)]) -> (u16, Value) {
    let body: serde_json::Map<String, Value> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let res = reqwest::Client::new()
        .post(h.sim.token_url())
        .json(&body)
        .send()
        .await
        .expect("token request");
    (res.status().as_u16(), res.json().await.expect("json"))
}

/// A token request as an application does it with the Secret's key: a fresh assertion each
/// time.
async fn token_with_key(h: &Harness, m: &Mounted) -> (u16, Value) {
    let now = h
        .sim
        .wall_time()
        .duration_since(UNIX_EPOCH)
        .expect("epoch")
        .as_secs();
    let claims = json!({
        "iss": m.client_id, "sub": m.client_id, "aud": format!("https://{}/", m.domain),
        "iat": now, "exp": now + 60, "jti": format!("{}-{}", now, rand::random::<u64>()),
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = m.kid.clone();
    let key = EncodingKey::from_rsa_pem(m.key.as_deref().expect("a key in the Secret").as_bytes())
        .expect("PEM");
    let assertion = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
    post_token(
        h,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", &assertion),
            ("audience", API),
        ],
    )
    .await
}

/// Edits the AuthClient's status as the operator would find it later (time passed).
async fn edit_status(h: &Harness, edit: impl FnOnce(&mut Value)) {
    let api = Api::<AuthClient>::namespaced(h.kube.client(), NS);
    let st = h.status("worker").await;
    let mut value = serde_json::to_value(&st).expect("status json");
    edit(&mut value);
    api.patch_status(
        "worker",
        &PatchParams::apply(nexus_crd::FIELD_MANAGER).force(),
        &Patch::Apply(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient", "status": value,
        })),
    )
    .await
    .expect("status patch");
}

/// Time passes beyond the minimum interval between two keys (10 minutes).
async fn age_the_key(_h: &Harness) {
    tokio::time::advance(Duration::from_secs(11 * 60)).await;
}

/// Once the key is old enough, the team asks for a rotation: the rotate annotation set to
/// `value` (server-side apply, as `kubectl annotate` would).
async fn request_rotation(h: &Harness, value: &str) {
    age_the_key(h).await;
    Api::<AuthClient>::namespaced(h.kube.client(), NS)
        .patch(
            "worker",
            &PatchParams::apply("test"),
            &Patch::Apply(json!({
                "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
                "metadata": {"annotations": {ROTATE_ANNOTATION: value}},
            })),
        )
        .await
        .expect("annotate");
}

/// `worker` applied with `spec` and converged; returns what its Secret holds.
async fn converged(h: &Harness, spec: Value) -> Mounted {
    h.apply("worker", spec);
    h.converge("worker").await;
    mounted(h, "worker")
}

/// A `privateKeyJwt` worker, converged; returns what its Secret holds.
async fn keyed(h: &Harness) -> Mounted {
    converged(h, worker_spec(json!({"type": "privateKeyJwt"}))).await
}

/// A `privateKeyJwt` worker, converged, then rotated by one pass on the annotation `value`;
/// returns what its Secret held before and after.
async fn rotated(h: &Harness, value: &str) -> (Mounted, Mounted) {
    let first = keyed(h).await;
    request_rotation(h, value).await;
    h.reconcile("worker").await.expect("rotation pass");
    (first, mounted(h, "worker"))
}

/// A `clientSecret` worker, converged, whose spec now asks for a private key (the migration
/// not yet reconciled).
async fn migrating(h: &Harness) {
    h.apply("worker", worker_spec(json!({"type": "clientSecret"})));
    h.converge("worker").await;
    h.update_spec("worker", worker_spec(json!({"type": "privateKeyJwt"})))
        .await;
}

/// The team edits the Secret's data, as `kubectl edit` would.
fn edit_secret(h: &Harness, edit: impl FnOnce(&mut Value)) {
    let mut object = h.secret("worker-auth0").expect("Secret");
    edit(&mut object["data"]);
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    h.kube.insert(object);
}

/// The team writes a key (kid and private key) into the Secret.
fn put_key(h: &Harness, key: &Mounted) {
    edit_secret(h, |data| {
        data["AUTH0_CLIENT_ASSERTION_KID"] = json!(b64(key.kid.as_deref().expect("kid")));
        data["AUTH0_CLIENT_ASSERTION_KEY"] = json!(b64(key.key.as_deref().expect("key")));
    });
}

/// The team deletes the Secret.
async fn delete_secret(h: &Harness) {
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(h.kube.client(), NS)
        .delete("worker-auth0", &Default::default())
        .await
        .expect("delete the Secret");
}

async fn token_with_secret(h: &Harness, m: &Mounted) -> u16 {
    post_token(
        h,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &m.client_id),
            ("client_secret", &m.client_secret),
            ("audience", API),
        ],
    )
    .await
    .0
}

/// The Secret now holds a key other than `old`'s, and a pod signing with it obtains a token.
async fn assert_a_new_working_key(h: &Harness, old: &Mounted, what: &str) -> Mounted {
    let now = mounted(h, "worker");
    assert!(now.kid.is_some(), "{what}: a key in the Secret");
    assert_ne!(now.kid, old.kid, "{what}: a new key in the Secret");
    assert_eq!(token_with_key(h, &now).await.0, 200, "{what}");
    now
}

#[tokio::test(start_paused = true)]
async fn an_app_with_only_the_secret_obtains_tokens_through_creation_and_rotation() {
    let h = harness().await;
    h.apply("worker", worker_spec(json!({"type": "privateKeyJwt"})));
    h.converge("worker").await;
    h.assert_ready("worker", "True", "Synced").await;

    let first = mounted(&h, "worker");
    let (status, body) = token_with_key(&h, &first).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    // Listed: Auth0 no longer takes the secret.
    assert_eq!(token_with_secret(&h, &first).await, 401);

    // Only the public key reached Auth0; the status names it without key material.
    let creds = h.sim.client_credentials(&first.client_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["kid"].as_str(), first.kid.as_deref());
    let st = h.status("worker").await;
    let active = keys(&st).active.expect("active");
    assert_eq!(Some(active.kid.clone()), first.kid);
    assert_eq!(active.id, creds[0]["id"].as_str().expect("id"));
    let status_text = serde_json::to_string(&st).expect("json");
    assert!(!status_text.contains("PRIVATE KEY"), "{status_text}");

    // Rotation on the annotation: the new key is listed before it is written; the old one
    // keeps working (a pod that has not reloaded the Secret).
    request_rotation(&h, "2026-12-06").await;
    h.reconcile("worker").await.expect("rotation pass");
    let second = assert_a_new_working_key(&h, &first, "rotation").await;
    assert_eq!(
        token_with_key(&h, &first).await.0,
        200,
        "old key still valid"
    );
    assert_eq!(h.sim.client_credentials(&first.client_id).len(), 2);
    let retiring = keys(&h.status("worker").await).retiring.expect("retiring");
    assert_eq!(Some(retiring.kid), first.kid);
    assert!(retiring.until.is_some());

    // Another pass inside the overlap changes nothing.
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("pass");
    assert_eq!(h.sim.client_credentials(&first.client_id).len(), 2);

    // Just before the overlap ends the old key still works; then it is unlisted and deleted.
    tokio::time::advance(OVERLAP - Duration::from_secs(60)).await;
    h.reconcile("worker").await.expect("pass");
    assert_eq!(
        token_with_key(&h, &first).await.0,
        200,
        "inside the overlap"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    h.reconcile("worker").await.expect("retire pass");
    assert_eq!(token_with_key(&h, &first).await.0, 401, "old key retired");
    assert_eq!(token_with_key(&h, &second).await.0, 200);
    let creds = h.sim.client_credentials(&first.client_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["kid"].as_str(), second.kid.as_deref());
    let st = h.status("worker").await;
    assert_eq!(st.credentials.and_then(|c| c.retiring), None);
}

#[tokio::test(start_paused = true)]
async fn a_client_secret_client_migrates_in_place_and_back() {
    let h = harness().await;
    h.apply("worker", worker_spec(json!({"type": "clientSecret"})));
    h.converge("worker").await;
    let before = mounted(&h, "worker");
    assert_eq!(before.key, None);
    assert_eq!(token_with_secret(&h, &before).await, 200);

    h.update_spec(
        "worker",
        worker_spec(json!({"type": "privateKeyJwt", "algorithm": "RS256"})),
    )
    .await;
    h.reconcile("worker").await.expect("migration pass");
    let after = mounted(&h, "worker");
    assert_eq!(after.client_id, before.client_id, "the same client");
    assert_eq!(token_with_key(&h, &after).await.0, 200);
    let (ready, _, message) = h.ready("worker").await;
    assert_eq!(ready, "True", "{message}");

    h.update_spec("worker", worker_spec(json!({"type": "clientSecret"})))
        .await;
    h.reconcile("worker").await.expect("back pass");
    let back = mounted(&h, "worker");
    assert_eq!(back.key, None, "the key left the Secret");
    assert_eq!(
        token_with_secret(&h, &back).await,
        200,
        "the secret works again"
    );
    assert!(h.sim.client_credentials(&back.client_id).is_empty());
    assert_eq!(
        h.get("worker").await.status.and_then(|s| s.credentials),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalid_rotation_is_refused_before_any_auth0_call() {
    let h = harness().await;
    h.apply(
        "worker",
        worker_spec(
            json!({"type": "privateKeyJwt", "rotation": {"every": "12h", "overlap": "24h"}}),
        ),
    );
    h.converge("worker").await;
    let message = h.assert_ready("worker", "False", "InvalidSpec").await;
    assert!(
        message.contains("rotation.overlap") && message.contains("rotation.every"),
        "{message}"
    );
    assert_eq!(h.sim.counters().get("POST /api/v2/clients"), 0);
    assert!(h.sim.clients().is_empty());

    // The operator's floors protect the tenant's shared rate limit.
    h.update_spec(
        "worker",
        worker_spec(json!({"type": "privateKeyJwt", "rotation": {"every": "2s", "overlap": "1s"}})),
    )
    .await;
    h.reconcile("worker").await.expect("pass");
    let message = h.assert_ready("worker", "False", "InvalidSpec").await;
    assert!(
        message.contains("rotation.every") && message.contains("at least 1h"),
        "{message}"
    );
    assert!(h.sim.clients().is_empty());
}

/// The attack: after a rotation, the team puts the old (leaked) key back into the Secret,
/// hoping the operator makes it active again and retires the new one — and repeats it to keep
/// the old key alive. The Secret's kid never decides what Auth0 keeps.
#[tokio::test(start_paused = true)]
async fn the_old_key_put_back_into_the_secret_is_never_revived() {
    let h = harness().await;
    let (first, second) = rotated(&h, "leak").await;
    assert_ne!(second.kid, first.kid);

    put_key(&h, &first);
    h.reconcile("worker").await.expect("pass");
    let st = h.status("worker").await;
    let creds = st.credentials.expect("credentials");
    assert_eq!(
        creds.active.map(|a| a.kid),
        second.kid,
        "the new key stays active"
    );
    assert_eq!(
        creds.retiring.map(|r| r.kid),
        first.kid,
        "the old one retires"
    );
    assert_eq!(token_with_key(&h, &second).await.0, 200);

    // The overlap ends; the team puts the old key back once more: it is deleted all the same,
    // and the Secret gets a working key.
    edit_status(&h, |st| {
        st["credentials"]["retiring"]["until"] = json!("2020-01-01T00:00:00Z");
        st["credentials"]["active"]["since"] = json!("2020-01-01T00:00:00Z");
    })
    .await;
    put_key(&h, &first);
    h.reconcile("worker").await.expect("pass");
    assert_eq!(
        token_with_key(&h, &first).await.0,
        401,
        "the old key is gone"
    );
    let creds = h.sim.client_credentials(&first.client_id);
    assert!(
        creds
            .iter()
            .all(|c| c["kid"].as_str() != first.kid.as_deref())
    );
    assert_a_new_working_key(&h, &first, "the old key gone").await;
}

/// A Secret deleted after the key was listed (so the client secret no longer works) gets a new
/// key instead of leaving every pod without a credential.
#[tokio::test(start_paused = true)]
async fn a_deleted_secret_gets_a_new_key() {
    let h = harness().await;
    let first = keyed(&h).await;
    age_the_key(&h).await;
    delete_secret(&h).await;
    h.reconcile("worker").await.expect("pass");
    assert_a_new_working_key(&h, &first, "the Secret rebuilt").await;
}

/// The key's data keys may not name another value of the Secret (the private key written over
/// the client secret, or the kid over the key).
#[tokio::test(start_paused = true)]
async fn secret_key_names_that_collide_are_refused() {
    let h = harness().await;
    let mut spec = worker_spec(json!({"type": "privateKeyJwt"}));
    spec["secret"] = json!({"keys": {"clientAssertionKey": "AUTH0_CLIENT_SECRET"}});
    h.apply("worker", spec);
    h.converge("worker").await;
    let message = h.assert_ready("worker", "False", "InvalidSpec").await;
    assert!(
        message.contains("secret.keys.clientAssertionKey")
            && message.contains("secret.keys.clientSecret"),
        "{message}"
    );
    assert!(h.sim.clients().is_empty());

    let mut spec = worker_spec(json!({"type": "privateKeyJwt"}));
    spec["secret"] = json!({"keys": {"clientAssertionKid": "AUTH0_CLIENT_ASSERTION_KEY"}});
    h.update_spec("worker", spec).await;
    h.reconcile("worker").await.expect("pass");
    let (_, reason, message) = h.ready("worker").await;
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.contains("secret.keys.clientAssertionKid"),
        "{message}"
    );
    assert!(h.sim.clients().is_empty());
}

/// A credential registered (and listed) in the dashboard, as a team member would add one.
fn add_dashboard_credential(h: &Harness, client_id: &str) -> String {
    let pair = nexus_controller::keypair::generate("RS256").expect("key pair");
    let credential = auth0_sim::credentials::build_created(
        &json!({"credential_type": "public_key", "pem": pair.public_pem, "alg": "RS256",
                "name": "added by hand"}),
        "2026-12-06T00:00:00.000Z",
    )
    .expect("credential");
    let id = credential.id.clone();
    assert!(
        h.sim
            .insert_client_credential(client_id, credential.to_json())
    );
    let mut listed = listed_ids(h, client_id);
    listed.push(id.clone());
    list_in_dashboard(h, client_id, &listed);
    id
}

fn listed_ids(h: &Harness, client_id: &str) -> Vec<String> {
    let client = h.sim.client(client_id).expect("client");
    client["client_authentication_methods"]["private_key_jwt"]["credentials"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn list_in_dashboard(h: &Harness, client_id: &str, ids: &[String]) {
    let refs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    assert!(h.sim.modify_client(
        client_id,
        json!({"client_authentication_methods": {"private_key_jwt": {"credentials": refs}}}),
    ));
}

fn drifted(st: &nexus_crd::AuthClientStatus) -> Option<(String, String, String)> {
    st.conditions
        .iter()
        .find(|c| c.type_ == "Drifted")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test(start_paused = true)]
async fn a_dashboard_credential_is_unlisted_and_deleted_under_correct() {
    let h = harness().await;
    let key = keyed(&h).await;
    let foreign = add_dashboard_credential(&h, &key.client_id);

    let (_, triggered) = h.scan_drift().await;
    assert_eq!(triggered.len(), 1, "the scan sees the listed credential");
    h.reconcile("worker").await.expect("pass");
    let creds = h.sim.client_credentials(&key.client_id);
    assert!(creds.iter().all(|c| c["id"] != foreign.as_str()), "deleted");
    assert!(
        !listed_ids(&h, &key.client_id).contains(&foreign),
        "unlisted"
    );
    assert_eq!(
        token_with_key(&h, &key).await.0,
        200,
        "the Secret's key works"
    );
    let st = h.status("worker").await;
    let (status, reason, message) = drifted(&st).expect("Drifted");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Corrected"));
    assert!(
        message.contains(&format!("credentials[{foreign}]")),
        "{message}"
    );
    assert!(
        h.events()
            .iter()
            .any(|(_, reason, note)| reason == "DriftCorrected" && note.contains(&foreign)),
        "{:?}",
        h.events()
    );
    // Settled: the next scan finds nothing.
    let (_, triggered) = h.scan_drift().await;
    assert!(triggered.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_dashboard_credential_is_reported_once_under_report() {
    let h = harness().await;
    let mut spec = worker_spec(json!({"type": "privateKeyJwt"}));
    spec["driftPolicy"] = json!("Report");
    let key = converged(&h, spec).await;
    let foreign = add_dashboard_credential(&h, &key.client_id);

    let (_, triggered) = h.scan_drift().await;
    assert_eq!(triggered.len(), 1);
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("pass");
    assert!(
        listed_ids(&h, &key.client_id).contains(&foreign),
        "left listed"
    );
    assert_eq!(h.sim.client_credentials(&key.client_id).len(), 2, "left");
    assert_eq!(
        h.sim
            .counters()
            .get("DELETE /api/v2/clients/{id}/credentials/{cred_id}"),
        0
    );
    let st = h.status("worker").await;
    let (status, reason, message) = drifted(&st).expect("Drifted");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ChangedOutsideOperator")
    );
    assert!(
        message.contains(&format!("credentials[{foreign}]")),
        "{message}"
    );
    assert!(
        st.reported_drift
            .contains(&format!("credentials[{foreign}]"))
    );
    assert!(
        h.events()
            .iter()
            .any(|(_, reason, note)| reason == "DriftDetected" && note.contains(&foreign))
    );
    // Reported once: the next scan does not wake the AuthClient again.
    let (_, triggered) = h.scan_drift().await;
    assert!(triggered.is_empty());
    assert_eq!(token_with_key(&h, &key).await.0, 200);
}

/// During a rotation's overlap the dashboard unlists the retiring key (which pods that have
/// not reloaded the Secret still sign with): `Correct` lists it again instead of deleting it.
#[tokio::test(start_paused = true)]
async fn the_retiring_key_unlisted_in_the_dashboard_is_listed_again_until_its_overlap_ends() {
    let h = harness().await;
    let (first, second) = rotated(&h, "now").await;
    let st = h.status("worker").await;
    let retiring = st.credentials.and_then(|c| c.retiring).expect("retiring");
    let active = listed_ids(&h, &first.client_id)
        .into_iter()
        .filter(|id| *id != retiring.id)
        .collect::<Vec<_>>();
    list_in_dashboard(&h, &first.client_id, &active);
    assert_eq!(token_with_key(&h, &first).await.0, 401, "unlisted outside");

    let (_, triggered) = h.scan_drift().await;
    assert_eq!(triggered.len(), 1);
    h.reconcile("worker").await.expect("pass");
    assert!(listed_ids(&h, &first.client_id).contains(&retiring.id));
    assert_eq!(token_with_key(&h, &first).await.0, 200, "listed again");
    assert_eq!(token_with_key(&h, &second).await.0, 200);
    assert_eq!(h.sim.client_credentials(&first.client_id).len(), 2);
}

/// Where a pass of the key machine is killed: the Auth0 call of a step answered never
/// (`after`: Auth0 did it, the operator never heard), or a Kubernetes write refused. Every
/// Auth0 kill also refuses the pass's last status write, so nothing of the pass but what it
/// wrote before the kill is kept (as when the process dies: the in-memory key is lost).
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// The `n`-th status write of the pass (0: the pendingKid mark) is refused.
    StatusWrite(usize),
    /// The Secret write is refused.
    SecretWrite,
    /// The Auth0 call (method, route) is dropped before (`false`) or after (`true`) Auth0
    /// handled it.
    Auth0(&'static str, &'static str, bool),
}

/// A step of a pass of the key machine, as [`kill_points`] lists where to kill it.
#[derive(Clone, Copy)]
enum Step {
    /// The `n`-th status write of the pass.
    Status(usize),
    /// The Secret write.
    Secret,
    /// An Auth0 call (method, route).
    Auth0(&'static str, &'static str),
}

/// The kill points of a pass made of `steps`, in their order: each write refused, each Auth0
/// call dropped both before and after Auth0 handled it.
fn kill_points(steps: &[Step]) -> Vec<Kill> {
    steps
        .iter()
        .flat_map(|step| match *step {
            Step::Status(n) => vec![Kill::StatusWrite(n)],
            Step::Secret => vec![Kill::SecretWrite],
            Step::Auth0(method, path) => vec![
                Kill::Auth0(method, path, false),
                Kill::Auth0(method, path, true),
            ],
        })
        .collect()
}

const CREDENTIALS: &str = "/api/v2/clients/{id}/credentials";
const CREDENTIAL: &str = "/api/v2/clients/{id}/credentials/{cred_id}";
const CLIENT: &str = "/api/v2/clients/{id}";

/// Arms `kill` for the next pass. `marks`: how many status writes the pass makes before its
/// Auth0 calls (1 when it first marks the pending kid), which an Auth0 kill lets through
/// before it refuses the next one.
fn arm(h: &Harness, kill: Kill, marks: usize) {
    let status = "/authclients/worker/status";
    match kill {
        Kill::StatusWrite(n) => h.kube.fail_after("PATCH", status, 500, n),
        Kill::SecretWrite => h.kube.fail_next("PATCH", "/secrets/worker-auth0", 500, 1),
        Kill::Auth0(method, path, after) => {
            let action = if after {
                FailAction::DropAfterProcessing
            } else {
                FailAction::Drop
            };
            // Idempotent calls are retried by the client: every retry dies too.
            h.sim.fail_next(FailNext::new(method, path, 10, action));
            h.kube.fail_after("PATCH", status, 500, marks);
        }
    }
}

/// Arms `kill` (see [`arm`]), runs the pass it kills, then lets Auth0 answer again.
async fn killed_pass(h: &Harness, kill: Kill, marks: usize, what: &str) {
    arm(h, kill, marks);
    assert!(h.reconcile("worker").await.is_err(), "{what}: killed");
    disarm(h);
}

/// An Auth0 kill was reached by the killed pass (counters reset before it).
fn assert_reached(h: &Harness, kill: Kill, what: &str) {
    if let Kill::Auth0(method, path, _) = kill {
        assert!(
            h.sim.counters().get(&format!("{method} {path}")) >= 1,
            "{what}: the step was reached"
        );
    }
}

/// Runs `case` once for each kill point of `steps` (see [`kill_points`]), each on a fresh
/// harness, with the kill's name for the messages.
async fn each_kill_point(steps: &[Step], case: impl AsyncFn(&Harness, Kill, &str)) {
    for kill in kill_points(steps) {
        let what = format!("{kill:?}");
        case(&harness().await, kill, &what).await;
    }
}

/// Auth0 answers again. (A Kubernetes rule left unconsumed would fail the resumed pass: each
/// case proves its kill point was reached by that pass succeeding.)
fn disarm(h: &Harness) {
    h.sim.set_faults(auth0_sim::Faults::none());
}

/// Whether a pod that reads the Secret now obtains a token: with its key, or (no key listed
/// yet, or none in the Secret) with its client secret.
async fn secret_works(h: &Harness) -> bool {
    let m = mounted(h, "worker");
    (m.key.is_some() && token_with_key(h, &m).await.0 == 200)
        || (!m.client_secret.is_empty() && token_with_secret(h, &m).await == 200)
}

/// The Secret's key, when it holds one, is registered with Auth0.
fn secret_key_known(h: &Harness) -> bool {
    let m = mounted(h, "worker");
    m.kid.is_none_or(|kid| {
        h.sim
            .client_credentials(&m.client_id)
            .iter()
            .any(|c| c["kid"].as_str() == Some(kid.as_str()))
    })
}

/// The Secret's key (if any) is registered with Auth0, and a pod reading the Secret obtains a
/// token.
async fn assert_secret_holds(h: &Harness, what: &str) {
    assert!(secret_key_known(h), "{what}");
    assert!(secret_works(h).await, "{what}");
}

/// A fresh pass (a restarted controller) finishes what the killed one began, orphaning nothing.
async fn resume(h: &Harness, what: &str) {
    h.reconcile("worker").await.expect("resumed pass");
    no_orphans(h, what).await;
}

/// After recovery: the operator's credentials are exactly the status's active (and retiring)
/// ones, the Secret holds the active key, and no marker is left.
async fn no_orphans(h: &Harness, what: &str) {
    let st = h.status("worker").await;
    let creds = st.credentials.expect("credentials");
    assert_eq!(creds.pending_kid, None, "{what}");
    let active = creds.active.expect("active");
    let mut known = vec![active.id.clone()];
    known.extend(creds.retiring.map(|r| r.id));
    let m = mounted(h, "worker");
    assert_eq!(m.kid.as_deref(), Some(active.kid.as_str()), "{what}");
    let registered = h.sim.client_credentials(&m.client_id);
    for c in &registered {
        let id = c["id"].as_str().expect("id");
        assert!(known.iter().any(|k| k == id), "{what}: orphan {c}");
    }
    assert_eq!(registered.len(), known.len(), "{what}");
}

/// A rotation killed between any two of its steps (mark, register, list both, write the
/// Secret, record it), then resumed by a fresh pass (a restarted controller): pods holding
/// either key obtain tokens at the kill and after it, and nothing is orphaned.
#[tokio::test(start_paused = true)]
async fn a_rotation_killed_between_any_two_steps_resumes_without_orphans_or_downtime() {
    each_kill_point(
        &[
            Step::Status(0),
            Step::Auth0("POST", CREDENTIALS),
            Step::Auth0("PATCH", CLIENT),
            Step::Secret,
            Step::Status(1),
        ],
        async |h, kill, what| {
            let first = keyed(h).await;
            request_rotation(h, "kill").await;
            h.sim.reset_counters();
            killed_pass(h, kill, 1, what).await;
            assert_reached(h, kill, what);
            // At the kill: the Secret's key is known to Auth0 and works; so does the old one.
            assert_secret_holds(h, what).await;
            assert_eq!(token_with_key(h, &first).await.0, 200, "{what}: old key");

            // A fresh pass finishes the rotation.
            resume(h, what).await;
            assert_a_new_working_key(h, &first, what).await;
            assert_eq!(token_with_key(h, &first).await.0, 200, "{what}: overlap");
        },
    )
    .await;
}

/// The end of an overlap killed between unlisting and deleting the old key (and before its
/// record): the next pass deletes it; the Secret's key works throughout.
#[tokio::test(start_paused = true)]
async fn the_end_of_an_overlap_killed_between_steps_leaves_no_orphan() {
    each_kill_point(
        &[
            Step::Auth0("PATCH", CLIENT),
            Step::Auth0("DELETE", CREDENTIAL),
            Step::Status(0),
        ],
        async |h, kill, what| {
            let first = keyed(h).await;
            request_rotation(h, "overlap").await;
            h.reconcile("worker").await.expect("rotation");
            tokio::time::advance(OVERLAP + Duration::from_secs(1)).await;
            h.sim.reset_counters();
            // The pass writes status once, at its end.
            killed_pass(h, kill, 0, what).await;
            assert_secret_holds(h, what).await;

            resume(h, what).await;
            assert_eq!(
                h.sim.client_credentials(&first.client_id).len(),
                1,
                "{what}"
            );
            assert_eq!(token_with_key(h, &first).await.0, 401, "{what}: retired");
            assert!(secret_works(h).await, "{what}");
        },
    )
    .await;
}

/// A migration from the client secret killed between any two of its steps (mark, register,
/// write the Secret, list the key): a pod reading the Secret obtains a token at each kill
/// (its client secret until the key is listed), and the next pass finishes it.
#[tokio::test(start_paused = true)]
async fn a_migration_killed_between_any_two_steps_never_leaves_the_secret_without_a_credential() {
    each_kill_point(
        &[
            Step::Status(0),
            Step::Auth0("POST", CREDENTIALS),
            Step::Secret,
            Step::Auth0("PATCH", CLIENT),
            Step::Status(1),
        ],
        async |h, kill, what| {
            migrating(h).await;
            killed_pass(h, kill, 1, what).await;
            assert_secret_holds(h, what).await;

            resume(h, what).await;
            let m = mounted(h, "worker");
            assert_eq!(token_with_key(h, &m).await.0, 200, "{what}");
        },
    )
    .await;
}

/// Review finding 5: an Auth0 that answers another kid than the key's thumbprint made each
/// pass register up to 24 keys. Now one register (and the delete of that key) in all, the
/// client held until its spec changes, and the pods keep a working credential.
#[tokio::test(start_paused = true)]
async fn a_credential_named_with_another_kid_is_registered_once_and_removed() {
    let h = harness().await;
    let first = keyed(&h).await;
    request_rotation(&h, "renamed").await;
    h.sim.reset_counters();
    h.sim.misname_next_credential("not-the-thumbprint");
    h.converge("worker").await;
    h.reconcile("worker").await.expect("held pass");
    assert_eq!(h.sim.counters().get(&format!("POST {CREDENTIALS}")), 1);
    assert_eq!(h.sim.counters().get(&format!("DELETE {CREDENTIAL}")), 1);
    let message = h.assert_ready("worker", "False", "Auth0Rejected").await;
    assert!(message.contains("not-the-thumbprint"), "{message}");
    assert!(!message.contains("PRIVATE KEY"));
    // Nothing orphaned, the Secret's key still works.
    assert_eq!(h.sim.client_credentials(&first.client_id).len(), 1);
    assert_eq!(mounted(&h, "worker").kid, first.kid);
    assert_eq!(token_with_key(&h, &first).await.0, 200);
}

fn auth0_key_writes(h: &Harness) -> u64 {
    let c = h.sim.counters();
    c.get(&format!("POST {CREDENTIALS}"))
        + c.get(&format!("PATCH {CLIENT}"))
        + c.get(&format!("DELETE {CREDENTIAL}"))
}

/// The team edits (or removes) the kid entry of the Secret but leaves the key: the entry is
/// rewritten in the next pass, at once and without any Auth0 call (the private key's thumbprint
/// is the active kid, so no new key is needed).
#[tokio::test(start_paused = true)]
async fn an_edited_kid_entry_is_restored_at_once_without_auth0_calls() {
    for removed in [false, true] {
        let h = harness().await;
        let key = keyed(&h).await;
        edit_secret(&h, |data| {
            if removed {
                data.as_object_mut()
                    .expect("data")
                    .remove("AUTH0_CLIENT_ASSERTION_KID");
            } else {
                data["AUTH0_CLIENT_ASSERTION_KID"] = json!(b64("edited"));
            }
        });
        h.sim.reset_counters();
        h.reconcile("worker").await.expect("pass");
        let now = mounted(&h, "worker");
        assert_eq!(now.kid, key.kid, "removed={removed}");
        assert!(now.key == key.key, "the same key, no rotation");
        assert_eq!(auth0_key_writes(&h), 0);
        assert_eq!(token_with_key(&h, &now).await.0, 200);
    }
}

/// The team replaces the private key in the Secret: the operator cannot repair it without a
/// new key (it keeps no copy), so the Secret gets one at most once per 10 minutes since the
/// last key (the bound on what tampering costs the tenant: one rotation, 8 Auth0 calls, per
/// 10 minutes); meanwhile Auth0 keeps the active key and nothing is written.
#[tokio::test(start_paused = true)]
async fn a_replaced_private_key_is_replaced_by_a_new_key_within_the_interval() {
    let h = harness().await;
    let key = keyed(&h).await;
    let other = nexus_controller::keypair::generate("RS256").expect("pair");
    put_key(
        &h,
        &Mounted {
            key: Some(other.private_pem.expose().to_owned()),
            ..mounted(&h, "worker")
        },
    );
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("pass");
    assert_eq!(auth0_key_writes(&h), 0, "within 10 minutes of the last key");
    let st = h.status("worker").await;
    let active = st.credentials.and_then(|c| c.active).expect("active");
    assert_eq!(Some(active.kid), key.kid, "Auth0 keeps the active key");

    age_the_key(&h).await; // the 10 minutes have passed
    h.reconcile("worker").await.expect("repair pass");
    assert_a_new_working_key(&h, &key, "repaired").await;
}

/// Back to the client secret after the Secret was rebuilt while keys were listed (Auth0 hid
/// the secret, so the rebuilt Secret has none): one pass clears the methods, reads the secret
/// Auth0 answers again, writes it into the Secret, then drops the key and its credentials.
#[tokio::test(start_paused = true)]
async fn back_to_the_client_secret_after_the_secret_was_rebuilt_without_it() {
    let h = harness().await;
    h.apply("worker", worker_spec(json!({"type": "privateKeyJwt"})));
    h.converge("worker").await;
    age_the_key(&h).await;
    delete_secret(&h).await;
    h.reconcile("worker").await.expect("rebuild pass");
    let rebuilt = mounted(&h, "worker");
    assert_eq!(rebuilt.client_secret, "", "Auth0 hid the secret");
    assert_eq!(token_with_key(&h, &rebuilt).await.0, 200);

    h.update_spec("worker", worker_spec(json!({"type": "clientSecret"})))
        .await;
    h.reconcile("worker").await.expect("back pass");
    let back = mounted(&h, "worker");
    assert!(back.key.is_none(), "the key left the Secret");
    assert!(!back.client_secret.is_empty(), "the secret is back");
    assert_eq!(token_with_secret(&h, &back).await, 200);
    assert!(h.sim.client_credentials(&back.client_id).is_empty());
    let (ready, _, message) = h.ready("worker").await;
    assert_eq!(ready, "True", "{message}");
}

/// Back to the client secret killed between any two steps (clear the methods, rewrite the
/// Secret without the key, delete the credentials, record): a pod reading the Secret obtains
/// a token at each kill, and the next pass finishes.
#[tokio::test(start_paused = true)]
async fn back_to_the_client_secret_killed_between_any_two_steps_keeps_a_working_secret() {
    each_kill_point(
        &[
            Step::Auth0("PATCH", CLIENT),
            Step::Secret,
            Step::Auth0("DELETE", CREDENTIAL),
            Step::Status(0),
        ],
        async |h, kill, what| {
            migrating(h).await;
            h.reconcile("worker").await.expect("migration");
            assert!(secret_works(h).await);
            h.update_spec("worker", worker_spec(json!({"type": "clientSecret"})))
                .await;
            h.sim.reset_counters();
            killed_pass(h, kill, 0, what).await;
            assert_reached(h, kill, what);
            assert!(secret_works(h).await, "{what}");

            h.reconcile("worker").await.expect("resumed pass");
            let m = mounted(h, "worker");
            assert!(m.key.is_none(), "{what}: the key left the Secret");
            assert_eq!(token_with_secret(h, &m).await, 200, "{what}");
            assert!(h.sim.client_credentials(&m.client_id).is_empty(), "{what}");
        },
    )
    .await;
}

/// The active key unlisted and deleted in the dashboard: `Correct` registers the Secret's key
/// again (the pods keep their key, the Secret is not rewritten); `Report` names it and changes
/// nothing.
#[tokio::test(start_paused = true)]
async fn the_active_key_deleted_in_the_dashboard_is_registered_again_under_correct() {
    for report in [false, true] {
        let h = harness().await;
        let mut spec = worker_spec(json!({"type": "privateKeyJwt"}));
        if report {
            spec["driftPolicy"] = json!("Report");
        }
        let key = converged(&h, spec).await;
        let active = h
            .get("worker")
            .await
            .status
            .and_then(|s| s.credentials)
            .and_then(|c| c.active)
            .expect("active");
        list_in_dashboard(&h, &key.client_id, &[]);
        assert!(h.sim.remove_client_credential(&key.client_id, &active.id));
        assert_eq!(token_with_key(&h, &key).await.0, 401);

        let (_, triggered) = h.scan_drift().await;
        assert_eq!(triggered.len(), 1, "report={report}");
        h.reconcile("worker").await.expect("pass");
        let now = mounted(&h, "worker");
        assert!(
            now.key == key.key && now.kid == key.kid,
            "the Secret is unchanged"
        );
        let st = h.status("worker").await;
        let (_, reason, message) = drifted(&st).expect("Drifted");
        assert!(message.contains(&active.id), "{message}");
        if report {
            assert_eq!(reason, "ChangedOutsideOperator");
            assert_eq!(token_with_key(&h, &key).await.0, 401, "left as it is");
            assert!(h.sim.client_credentials(&key.client_id).is_empty());
        } else {
            assert_eq!(reason, "Corrected");
            assert_eq!(
                token_with_key(&h, &key).await.0,
                200,
                "the pods' key works again"
            );
            let creds = h.sim.client_credentials(&key.client_id);
            assert_eq!(creds.len(), 1);
            assert_eq!(creds[0]["kid"].as_str(), key.kid.as_deref());
        }
    }
}
