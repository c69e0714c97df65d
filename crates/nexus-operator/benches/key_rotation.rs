//! Zero-downtime `private_key_jwt` rotation (issue 20): one AuthClient with
//! `credentials: {type: privateKeyJwt, rotation: {every, overlap}}`, reconciled by the real
//! reconciler against the in-process fake Kubernetes API and the Auth0 simulator, while two
//! "pods" request tokens in a loop with client assertions signed by the key they hold:
//!
//! - `eager` reloads the Secret before every request;
//! - `lagging` reloads it only every `--lag-ms` (as a kubelet refreshing a mounted Secret, or a
//!   pod that restarts on the content-hash annotation, would), so it keeps using the previous
//!   key for a while after each rotation.
//!
//! It reports the failed token requests of each pod (the goal is 0), and the Auth0 Management
//! API calls each rotation cost (reads and writes, by route), through `--rotations` rotations.
//!
//! This bench runs on real time: the controller reads the wall clock to decide that a rotation
//! or the end of an overlap is due. The spec holds the operator's floors (`every: 1h`,
//! `overlap: 5m`: shorter schedules are refused), so the bench compresses time instead: once a
//! key has been in the Secret for `--every-s` (6 s) it moves `status.credentials.active.since`
//! and `until` into the past, and once the old key has been retiring for `--overlap-s` (2 s) it
//! moves `retiring.until` into the past (as the status would stand that much later). The
//! controller is woken every `--tick-ms` (as its requeue would).
//!
//! ```text
//! cargo bench --bench key_rotation
//! cargo bench --bench key_rotation -- --rotations 3 --every-s 6 --overlap-s 2 --lag-ms 1000
//! ```

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use auth0_sim::{self as sim, RateLimit, SimConfig, SimHandle};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube_fake::FakeKube;
use nexus_controller::authclient;
use nexus_controller::authtenant;
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{Context, ControllerConfig};
use nexus_crd::AuthClient;
use serde_json::{Value, json};

const NS: &str = "team-a";
const API: &str = "https://orders.api.bench/";
const NAME: &str = "worker";
const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a pod holds: the Secret's client id, domain, key and kid.
#[derive(Clone)]
struct Held {
    client_id: String,
    domain: String,
    key: String,
    kid: String,
}

/// Edits the status as it would stand later (compressed time).
async fn age(kube: &FakeKube, edit: impl FnOnce(&mut Value)) {
    let api = Api::<AuthClient>::namespaced(kube.client(), NS);
    let Some(status) = api.get(NAME).await.ok().and_then(|o| o.status) else {
        return;
    };
    let mut value = serde_json::to_value(&status).expect("status json");
    edit(&mut value);
    api.patch_status(
        NAME,
        &PatchParams::apply(nexus_crd::FIELD_MANAGER).force(),
        &Patch::Apply(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient", "status": value,
        })),
    )
    .await
    .expect("status patch");
}

const PAST: &str = "2020-01-01T00:00:00Z";

fn read_secret(kube: &FakeKube) -> Option<Held> {
    let secret = kube.get(&format!("/api/v1/namespaces/{NS}/secrets/{NAME}-auth0"))?;
    let field = |k: &str| secret["data"].get(k).map(nexus_testing::unb64);
    Some(Held {
        client_id: field("AUTH0_CLIENT_ID")?,
        domain: field("AUTH0_DOMAIN")?,
        key: field("AUTH0_CLIENT_ASSERTION_KEY")?,
        kid: field("AUTH0_CLIENT_ASSERTION_KID")?,
    })
}

/// One token request with a fresh assertion; whether it succeeded.
async fn token(http: &reqwest::Client, sim: &SimHandle, held: &Held) -> bool {
    let now = sim
        .wall_time()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = json!({
        "iss": held.client_id, "sub": held.client_id, "aud": format!("https://{}/", held.domain),
        "iat": now, "exp": now + 60, "jti": format!("{:032x}", rand::random::<u128>()),
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(held.kid.clone());
    let Ok(key) = EncodingKey::from_rsa_pem(held.key.as_bytes()) else {
        return false;
    };
    let Ok(assertion) = jsonwebtoken::encode(&header, &claims, &key) else {
        return false;
    };
    let body = json!({
        "grant_type": "client_credentials", "client_assertion_type": BEARER,
        "client_assertion": assertion, "audience": API,
    });
    match http.post(sim.token_url()).json(&body).send().await {
        Ok(res) => res.status().is_success(),
        Err(_) => false,
    }
}

#[derive(Default)]
struct Pod {
    held: Option<Held>,
    loaded_at: Option<Instant>,
    ok: u64,
    failed: u64,
}

async fn reconcile(kube: &FakeKube, ctx: &Arc<Context>) {
    ctx.caches
        .prime(&kube.client(), None)
        .await
        .expect("caches primed");
    let object: AuthClient = serde_json::from_value(
        kube.get(&format!(
            "/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients/{NAME}"
        ))
        .expect("AuthClient"),
    )
    .expect("an AuthClient");
    if let Err(error) = authclient::reconcile(Arc::new(object), ctx.clone()).await {
        eprintln!("reconcile error: {error}");
    }
}

fn kid_of(kube: &FakeKube) -> Option<String> {
    read_secret(kube).map(|h| h.kid)
}

/// Management API calls by route since the last reset, token requests excluded.
fn calls(sim: &SimHandle) -> Vec<(String, u64)> {
    sim.counters()
        .iter()
        .filter(|(k, _)| k.contains("/api/v2"))
        .map(|(k, n)| (k.to_owned(), n))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rotations: usize = support::arg("rotations", "NEXUS_BENCH_ROTATIONS", 3usize).max(1);
    let every: u64 = support::arg("every-s", "NEXUS_BENCH_EVERY_S", 6u64).max(2);
    let overlap: u64 = support::arg("overlap-s", "NEXUS_BENCH_OVERLAP_S", 2u64).clamp(1, every - 1);
    let lag = Duration::from_millis(support::arg("lag-ms", "NEXUS_BENCH_LAG_MS", 1000u64));
    let tick = Duration::from_millis(support::arg("tick-ms", "NEXUS_BENCH_TICK_MS", 250u64));
    let _ = rustls::crypto::ring::default_provider().install_default();

    let sim = sim::start(
        SimConfig {
            rate_limit: RateLimit::ENTERPRISE,
            app_audience: Some(API.into()),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let kube = FakeKube::new();
    support::seed_tenant(&kube, &sim, 50, 50, &[NS], true);
    let ctx = Arc::new(Context::new(
        kube.client(),
        nexus_testing::world::auth0_registry(Duration::from_secs(15)),
        ControllerConfig {
            cluster_id: "bench".into(),
            ..ControllerConfig::default()
        },
        ControllerMetrics::default(),
    ));
    ctx.caches
        .prime(&kube.client(), None)
        .await
        .expect("caches primed");
    for tenant in ctx.caches.tenants.reader().state() {
        authtenant::reconcile(tenant, ctx.clone())
            .await
            .expect("tenant checked");
    }
    kube.insert(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "tenant": support::TENANT,
            "client": {"name": NAME, "app_type": "non_interactive", "grant_types": ["client_credentials"]},
            "credentials": {"type": "privateKeyJwt",
                            "rotation": {"every": "1h", "overlap": "5m"}},
        },
    }));
    let started = Instant::now();
    while kid_of(&kube).is_none() {
        reconcile(&kube, &ctx).await;
        assert!(started.elapsed() < Duration::from_secs(60), "no first key");
    }
    println!(
        "key_rotation: every {every} s, overlap {overlap} s, lagging pod reloads every {} ms, \
         controller woken every {} ms; first key after {:.1} s",
        lag.as_millis(),
        tick.as_millis(),
        started.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::new();
    let mut eager = Pod::default();
    let mut lagging = Pod::default();
    let mut seen_kids = vec![kid_of(&kube).expect("kid")];
    let mut next_tick = Instant::now();
    sim.reset_counters();
    let mut per_rotation: Vec<Vec<(String, u64)>> = Vec::new();
    let mut retired = 0usize;
    let mut key_since = Instant::now();
    let mut retiring_since: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs((every + overlap) * (rotations as u64 + 2));
    while retired < rotations && Instant::now() < deadline {
        if Instant::now() >= next_tick {
            if key_since.elapsed() >= Duration::from_secs(every) {
                age(&kube, |st| {
                    st["credentials"]["active"]["since"] = json!(PAST);
                    st["credentials"]["active"]["until"] = json!(PAST);
                })
                .await;
            }
            if retiring_since.is_some_and(|t| t.elapsed() >= Duration::from_secs(overlap)) {
                age(&kube, |st| {
                    if st["credentials"]["retiring"].is_object() {
                        st["credentials"]["retiring"]["until"] = json!(PAST);
                    }
                })
                .await;
            }
            reconcile(&kube, &ctx).await;
            next_tick = Instant::now() + tick;
            if let Some(kid) = kid_of(&kube)
                && !seen_kids.contains(&kid)
            {
                seen_kids.push(kid);
                key_since = Instant::now();
                retiring_since = Some(Instant::now());
            }
            // A rotation is complete when its old key is deleted: one credential again.
            let creds = read_secret(&kube)
                .map(|h| sim.client_credentials(&h.client_id).len())
                .unwrap_or_default();
            if creds == 1 && seen_kids.len() > retired + 1 {
                retired += 1;
                retiring_since = None;
                per_rotation.push(calls(&sim));
                sim.reset_counters();
            }
        }
        eager.held = read_secret(&kube);
        if lagging.loaded_at.is_none_or(|at| at.elapsed() >= lag) {
            lagging.held = read_secret(&kube);
            lagging.loaded_at = Some(Instant::now());
        }
        for pod in [&mut eager, &mut lagging] {
            let ok = match &pod.held {
                Some(held) => token(&http, &sim, held).await,
                None => false,
            };
            if ok {
                pod.ok += 1;
            } else {
                pod.failed += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    println!();
    println!("token requests     ok   failed");
    println!("  eager       {:>7} {:>8}", eager.ok, eager.failed);
    println!("  lagging     {:>7} {:>8}", lagging.ok, lagging.failed);
    println!();
    for (i, counts) in per_rotation.iter().enumerate() {
        let total: u64 = counts.iter().map(|(_, n)| n).sum();
        println!("rotation {}: {total} Auth0 Management API calls", i + 1);
        for (route, n) in counts {
            println!("  {route:<48} {n}");
        }
    }
    println!(
        "\n{} rotations, {} keys, bench took {:.1} s",
        per_rotation.len(),
        seen_kids.len(),
        started.elapsed().as_secs_f64()
    );
    if per_rotation.len() < rotations || eager.failed + lagging.failed > 0 {
        eprintln!("FAILED: not every rotation finished, or a token request failed");
        std::process::exit(1);
    }
}
