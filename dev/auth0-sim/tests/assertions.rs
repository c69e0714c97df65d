//! `private_key_jwt` at `/oauth/token`: an application that lists a public key obtains tokens with
//! assertions signed by the private key, and every malformed, forged, expired or replayed
//! assertion is refused with a 401 `access_denied` (attack tests: each refusal fails if its check
//! is removed).

mod common;

use auth0_sim::{self as sim, RateLimit, SimConfig, SimHandle};
use common::{http, start};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use serde_json::{Value, json};

const API: &str = "https://api.dev.local/";
const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A simulator with API [`API`] as the applications' audience, not rate limited.
fn app_audience() -> SimConfig {
    SimConfig {
        rate_limit: RateLimit::unlimited(),
        app_audience: Some(API.into()),
        ..SimConfig::default()
    }
}

struct Key {
    encoding: EncodingKey,
    public: rsa::RsaPublicKey,
}

fn key() -> Key {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("key");
    let pem = private.to_pkcs8_pem(Default::default()).expect("pkcs8 pem");
    Key {
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("encoding key"),
        public: rsa::RsaPublicKey::from(&private),
    }
}

struct T {
    sim: SimHandle,
    http: reqwest::Client,
    client: String,
    kid: String,
    domain: String,
}

impl T {
    /// A tenant with API [`API`], an application granted it, and `keys` registered with `alg` and
    /// listed (in that order) under `private_key_jwt`.
    async fn new(keys: &[(&Key, &str)]) -> Self {
        let sim = start(app_audience()).await;
        let client = sim.insert_client(json!({
            "name": "signer", "app_type": "non_interactive", "client_secret": "s3cret",
            "grant_types": ["client_credentials"],
        }));
        let mut listed = Vec::new();
        let mut kid = String::new();
        for (i, (k, alg)) in keys.iter().enumerate() {
            let pem = k.public.to_public_key_pem(Default::default()).expect("pem");
            let parsed = sim::credentials::parse_pem(&pem).expect("parsed");
            let id = format!("cred_{i:0>22}");
            kid = sim::credentials::jwk_thumbprint(&parsed.key);
            assert!(sim.insert_client_credential(
                &client,
                json!({
                    "id": id, "credential_type": "public_key", "kid": kid, "alg": alg,
                    "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
                    "public_jwk": sim::credentials::public_jwk(&parsed.key),
                })
            ));
            listed.push(json!({"id": id}));
        }
        assert!(sim.modify_client(
            &client,
            json!({"client_authentication_methods": {"private_key_jwt": {"credentials": listed}},
                   "token_endpoint_auth_method": null}),
        ));
        let domain = sim.domain().to_owned();
        Self {
            sim,
            http: http(),
            client,
            kid,
            domain,
        }
    }

    fn kid_of(&self, k: &Key) -> String {
        let pem = k.public.to_public_key_pem(Default::default()).expect("pem");
        sim::credentials::jwk_thumbprint(&sim::credentials::parse_pem(&pem).expect("parsed").key)
    }

    fn now(&self) -> u64 {
        self.sim
            .wall_time()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    }

    /// Claims Auth0 accepts.
    fn claims(&self) -> Value {
        let now = self.now();
        json!({
            "iss": self.client, "sub": self.client, "aud": format!("https://{}/", self.domain),
            "iat": now, "exp": now + 60, "jti": format!("jti-{}", rand::random::<u64>()),
        })
    }

    async fn token(&self, assertion: &str) -> (StatusCode, Value) {
        self.token_with(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", assertion),
            ("audience", API),
        ])
        .await
    }

    /// The status of a token request with the client's secret (refused while a key is listed).
    async fn token_with_secret(&self) -> StatusCode {
        self.token_with(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.client),
            ("client_secret", "s3cret"),
            ("audience", API),
        ])
        .await
        .0
    }

    async fn token_with(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .http
            .post(self.sim.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            )
            .send()
            .await
            .expect("request");
        (res.status(), res.json().await.expect("json"))
    }
}

fn sign(key: &Key, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

fn assert_refused(what: &str, (status, body): (StatusCode, Value), needle: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_eq!(body["error"], "access_denied", "{what}: {body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains(needle), "{what}: {body}");
}

#[tokio::test]
async fn an_assertion_signed_with_a_listed_key_obtains_a_token() {
    let k = key();
    let t = T::new(&[(&k, "RS256")]).await;
    // With and without kid, and the token endpoint URL as audience (accepted, deprecated).
    let a = sign(&k, Algorithm::RS256, Some(&t.kid), &t.claims());
    let (status, body) = t.token(&a).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jwt = body["access_token"].as_str().expect("access_token");
    let claims: Value = {
        use base64::Engine;
        let payload = jwt.split('.').nth(1).expect("payload");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("b64"),
        )
        .expect("claims")
    };
    assert_eq!(claims["sub"], format!("{}@clients", t.client));
    assert_eq!(claims["aud"], API);

    let mut c = t.claims();
    c["aud"] = json!(format!("https://{}/oauth/token", t.domain));
    let (status, body) = t.token(&sign(&k, Algorithm::RS256, None, &c)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The secret no longer works for this client.
    assert_eq!(t.token_with_secret().await, StatusCode::UNAUTHORIZED);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn ps256_and_rs384_credentials_verify_and_the_alg_must_match() {
    let (k1, k2) = (key(), key());
    let t = T::new(&[(&k1, "PS256"), (&k2, "RS384")]).await;
    let (status, body) = t
        .token(&sign(&k1, Algorithm::PS256, None, &t.claims()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = t
        .token(&sign(&k2, Algorithm::RS384, None, &t.claims()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // k1 registered for PS256 signing RS256: no credential has that alg.
    assert_refused(
        "alg mismatch",
        t.token(&sign(&k1, Algorithm::RS256, None, &t.claims()))
            .await,
        "alg",
    );
    // ES256 is not an alg of a public_key credential.
    let header = r#"{"alg":"ES256","typ":"JWT"}"#;
    let forged = format!(
        "{}.{}.sig",
        b64(header.as_bytes()),
        b64(t.claims().to_string().as_bytes())
    );
    assert_refused("ES256", t.token(&forged).await, "unsupported alg");
    t.sim.shutdown().await;
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn every_bad_assertion_is_refused() {
    let (k, stranger) = (key(), key());
    let t = T::new(&[(&k, "RS256")]).await;
    let good = |c: &Value| sign(&k, Algorithm::RS256, None, c);

    assert_refused(
        "signed by a key the client does not list",
        t.token(&sign(&stranger, Algorithm::RS256, None, &t.claims()))
            .await,
        "signature",
    );
    let tampered = {
        let a = good(&t.claims());
        let mut parts: Vec<String> = a.split('.').map(str::to_owned).collect();
        let mut c = t.claims();
        c["jti"] = json!("tampered");
        parts[1] = b64(c.to_string().as_bytes());
        parts.join(".")
    };
    assert_refused(
        "payload changed after signing",
        t.token(&tampered).await,
        "signature",
    );
    assert_refused(
        "unknown kid",
        t.token(&sign(&k, Algorithm::RS256, Some("nope"), &t.claims()))
            .await,
        "kid",
    );
    for (what, field, value, needle) in [
        (
            "iss is another client",
            "iss",
            json!("someone-else"),
            "iss and sub",
        ),
        ("aud is the API", "aud", json!(API), "aud"),
        (
            "aud is another tenant",
            "aud",
            json!("https://other.auth0.com/"),
            "aud",
        ),
        ("expired", "exp", json!(t.now() - 1), "expired"),
        ("lives too long", "exp", json!(t.now() + 3600), "5 minutes"),
        ("issued in the future", "iat", json!(t.now() + 60), "future"),
        ("jti too long", "jti", json!("x".repeat(65)), "jti"),
    ] {
        let mut c = t.claims();
        c[field] = value;
        assert_refused(what, t.token(&good(&c)).await, needle);
    }
    for (what, field, needle) in [
        ("no exp", "exp", "exp"),
        ("no jti", "jti", "jti"),
        ("no aud", "aud", "aud"),
    ] {
        let mut c = t.claims();
        c.as_object_mut().expect("object").remove(field);
        assert_refused(what, t.token(&good(&c)).await, needle);
    }
    // Both iss and sub of a client that does not list any key.
    let other = t
        .sim
        .insert_client(json!({"name": "plain", "client_secret": "x",
        "grant_types": ["client_credentials"]}));
    let mut c = t.claims();
    c["iss"] = json!(other);
    c["sub"] = json!(other);
    assert_refused(
        "client without private_key_jwt",
        t.token(&good(&c)).await,
        "private_key_jwt",
    );
    // A client_id parameter that is not the assertion's.
    let (status, _) = t
        .token_with(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", &good(&t.claims())),
            ("client_id", &other),
            ("audience", API),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A secret beside the assertion, or another assertion type: invalid_request.
    let (status, body) = t
        .token_with(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", &good(&t.claims())),
            ("client_secret", "s3cret"),
            ("audience", API),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _) = t
        .token_with(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &good(&t.claims())),
            ("audience", API),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Longer than 2048 bytes.
    let mut c = t.claims();
    c["padding"] = json!("p".repeat(2048));
    assert_refused("too long", t.token(&good(&c)).await, "2048");
    t.sim.shutdown().await;
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let k = key();
    let t = T::new(&[(&k, "RS256")]).await;
    let a = sign(&k, Algorithm::RS256, None, &t.claims());
    assert_eq!(t.token(&a).await.0, StatusCode::OK);
    assert_refused("replay", t.token(&a).await, "already been used");
    // A fresh jti works again.
    let b = sign(&k, Algorithm::RS256, None, &t.claims());
    assert_eq!(t.token(&b).await.0, StatusCode::OK);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn an_unlisted_or_expired_credential_no_longer_authenticates() {
    let (k1, k2) = (key(), key());
    let t = T::new(&[(&k1, "RS256"), (&k2, "RS256")]).await;
    assert_eq!(
        t.token(&sign(&k1, Algorithm::RS256, None, &t.claims()))
            .await
            .0,
        StatusCode::OK
    );
    // Unlist the first credential: its key stops working, the second still works.
    let creds = t.sim.client_credentials(&t.client);
    let second = creds[1]["id"].clone();
    assert!(t.sim.modify_client(
        &t.client,
        json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": second}]}}}),
    ));
    assert_refused(
        "unlisted",
        t.token(&sign(&k1, Algorithm::RS256, None, &t.claims()))
            .await,
        "signature",
    );
    assert_eq!(
        t.token(&sign(&k2, Algorithm::RS256, None, &t.claims()))
            .await
            .0,
        StatusCode::OK
    );
    // The first key again, listed, but past its expires_at.
    let mut expired = creds[0].clone();
    expired["id"] = json!("cred_expired0000000000000");
    expired["expires_at"] = json!("2001-01-01T00:00:00.000Z");
    let pem = k1
        .public
        .to_public_key_pem(Default::default())
        .expect("pem");
    let parsed = sim::credentials::parse_pem(&pem).expect("parsed");
    expired["public_jwk"] = sim::credentials::public_jwk(&parsed.key);
    assert!(t.sim.insert_client_credential(&t.client, expired));
    assert!(t.sim.modify_client(
        &t.client,
        json!({"client_authentication_methods": {"private_key_jwt": {"credentials":
            [{"id": second}, {"id": "cred_expired0000000000000"}]}}}),
    ));
    assert_refused(
        "expired credential",
        t.token(&sign(
            &k1,
            Algorithm::RS256,
            Some(&t.kid_of(&k1)),
            &t.claims(),
        ))
        .await,
        "expired",
    );
    t.sim.shutdown().await;
}

/// `nexus-operator dev --state-dir` keeps the tenant as a snapshot: a restarted simulator
/// restored from it still knows the client's credentials, their public keys and
/// `client_authentication_methods`, so the application's key keeps obtaining tokens.
#[tokio::test]
async fn a_listed_key_still_authenticates_after_a_restart_from_the_snapshot() {
    let k = key();
    let t = T::new(&[(&k, "RS256")]).await;
    let saved = serde_json::to_string(&t.sim.snapshot()).expect("serialises");
    t.sim.shutdown().await;

    let restarted = start(app_audience()).await;
    restarted.restore(serde_json::from_str(&saved).expect("snapshot"));
    let t = T {
        domain: restarted.domain().to_owned(),
        sim: restarted,
        http: http(),
        client: t.client,
        kid: t.kid,
    };
    assert_eq!(t.sim.client_credentials(&t.client).len(), 1);
    let (status, body) = t
        .token(&sign(&k, Algorithm::RS256, Some(&t.kid), &t.claims()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Still listed: the secret still does not work.
    assert_eq!(t.token_with_secret().await, StatusCode::UNAUTHORIZED);
    t.sim.shutdown().await;
}
