//! Pure mapping of an Auth0 client to the 201 response body of the contract (camelCase,
//! renamed fields, flattened metadata).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The Auth0 client fields the response needs (a plain view of the Management API object).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientFacts {
    /// `client_id`.
    pub client_id: String,
    /// `name`.
    pub name: Option<String>,
    /// `app_type`.
    pub app_type: Option<String>,
    /// `logo_uri`.
    pub logo_uri: Option<String>,
    /// `callbacks`.
    pub callbacks: Option<Vec<String>>,
    /// `allowed_origins`.
    pub allowed_origins: Option<Vec<String>>,
    /// `web_origins`.
    pub web_origins: Option<Vec<String>>,
    /// `allowed_logout_urls`.
    pub allowed_logout_urls: Option<Vec<String>>,
    /// `grant_types`.
    pub grant_types: Option<Vec<String>>,
    /// `mobile` in Auth0's shape (`android.sha256_cert_fingerprints`).
    pub mobile: Option<Value>,
    /// `client_metadata` (all values are strings in Auth0).
    pub client_metadata: Option<BTreeMap<String, String>>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: Option<String>,
    /// `jwt_configuration`.
    pub jwt_configuration: Option<Value>,
    /// `refresh_token`.
    pub refresh_token: Option<Value>,
    /// `cross_origin_authentication`.
    pub cross_origin_authentication: Option<bool>,
    /// `cross_origin_auth` (older tenants).
    pub cross_origin_auth: Option<bool>,
}

impl From<&auth0_mgmt::Auth0Client> for ClientFacts {
    fn from(c: &auth0_mgmt::Auth0Client) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            app_type: c.app_type.clone(),
            logo_uri: c.logo_uri.clone(),
            callbacks: c.callbacks.clone(),
            allowed_origins: c.allowed_origins.clone(),
            web_origins: c.web_origins.clone(),
            allowed_logout_urls: c.allowed_logout_urls.clone(),
            grant_types: c.grant_types.clone(),
            mobile: c.mobile.as_ref().and_then(|m| serde_json::to_value(m).ok()),
            client_metadata: c.client_metadata.clone(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
            jwt_configuration: c
                .jwt_configuration
                .as_ref()
                .and_then(|j| serde_json::to_value(j).ok()),
            refresh_token: c
                .refresh_token
                .as_ref()
                .and_then(|r| serde_json::to_value(r).ok()),
            cross_origin_authentication: c.cross_origin_authentication,
            cross_origin_auth: c.cross_origin_auth,
        }
    }
}

/// `mobile` of the response, in the request's shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MobileOut {
    /// iOS identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ios: Option<IosOut>,
    /// Android identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android: Option<AndroidOut>,
}

/// `mobile.ios` of the response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IosOut {
    /// Apple team id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// Bundle identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_bundle_identifier: Option<String>,
}

/// `mobile.android` of the response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AndroidOut {
    /// First of Auth0's `sha256_cert_fingerprints`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keystore_hash: Option<String>,
    /// Package name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_package_name: Option<String>,
}

/// The 201 response body (also the body of `GET .../clients/{clientId}`): every member of the
/// contract is always present. Members are `null` only when Auth0 has no value (Auth0 reports
/// `token_endpoint_auth_method` and `cross_origin_authentication` for every new client, so
/// `clientAuthMethod` and `allowCrossOriginAuthentication` are set); `mobile` is always an
/// object and `manuallyCreated` always a boolean (non-nullable in the contract).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientResponse {
    /// `client_id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `app_type`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// `mobile`.
    pub mobile: MobileOut,
    /// `client_metadata.owners` split on commas.
    pub owners: Option<Vec<String>>,
    /// `client_secret`.
    pub secret: Option<String>,
    /// `logo_uri`.
    pub logo_url: Option<String>,
    /// `grant_types`.
    pub grant_types: Option<Vec<String>>,
    /// `client_metadata.productName`.
    pub product_name: Option<String>,
    /// `callbacks`.
    pub callback_urls: Option<Vec<String>>,
    /// `client_metadata.client_upn_key`.
    #[serde(rename = "client_upn_key")]
    pub client_upn_key: Option<String>,
    /// `client_metadata.applicationName`.
    pub application_name: Option<String>,
    /// `client_metadata.manuallyCreated` parsed from `"true"`/`"false"`.
    pub manually_created: bool,
    /// `token_endpoint_auth_method`.
    pub client_auth_method: Option<String>,
    /// `allowed_logout_urls`.
    pub allowed_logout_urls: Option<Vec<String>>,
    /// `web_origins`.
    pub allowed_web_origins: Option<Vec<String>>,
    /// `allowed_origins`.
    pub allowed_cors_origins: Option<Vec<String>>,
    /// `jwt_configuration.lifetime_in_seconds`.
    pub id_token_expiration: Option<i32>,
    /// `refresh_token.leeway`.
    pub refresh_token_reuse_interval: Option<i32>,
    /// `refresh_token.token_lifetime`.
    pub refresh_token_absolute_lifetime: Option<i32>,
    /// `refresh_token.idle_token_lifetime`.
    pub refresh_token_inactivity_lifetime: Option<i32>,
    /// `refresh_token.rotation_type == "rotating"`.
    pub is_refresh_token_rotation_enabled: Option<bool>,
    /// `expiration_type == "expiring"` and not `infinite_token_lifetime`.
    pub is_refresh_token_absolute_expiration_enabled: Option<bool>,
    /// `expiration_type == "expiring"` and not `infinite_idle_token_lifetime`.
    pub is_refresh_token_inactivity_lifetime_enabled: Option<bool>,
    /// `cross_origin_authentication`, else `cross_origin_auth`.
    pub allow_cross_origin_authentication: Option<bool>,
}

/// Builds the response from the Auth0 client and the client secret (read from the Secret the
/// operator wrote). When Auth0 has no `refresh_token` object, the six refresh-token members are
/// `null` (unknown) rather than guessed.
pub fn to_response(facts: &ClientFacts, secret: Option<String>) -> ClientResponse {
    let metadata = facts.client_metadata.as_ref();
    let meta = |key: &str| metadata.and_then(|m| m.get(key)).cloned();
    let refresh = facts.refresh_token.as_ref().filter(|v| v.is_object());
    let rt_i32 = |key: &str| refresh.and_then(|r| r.get(key)).and_then(as_i32);
    let rt_str = |key: &str| refresh.and_then(|r| r.get(key)).and_then(Value::as_str);
    let rt_bool = |key: &str| {
        refresh
            .and_then(|r| r.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let expiring = rt_str("expiration_type") == Some("expiring");

    ClientResponse {
        id: Some(facts.client_id.clone()),
        name: facts.name.clone(),
        type_: facts.app_type.clone(),
        mobile: mobile_out(facts.mobile.as_ref()),
        owners: meta("owners").map(|owners| split_owners(&owners)),
        secret,
        logo_url: facts.logo_uri.clone(),
        grant_types: facts.grant_types.clone(),
        product_name: meta("productName"),
        callback_urls: facts.callbacks.clone(),
        client_upn_key: meta("client_upn_key"),
        application_name: meta("applicationName"),
        manually_created: meta("manuallyCreated")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        client_auth_method: facts.token_endpoint_auth_method.clone(),
        allowed_logout_urls: facts.allowed_logout_urls.clone(),
        allowed_web_origins: facts.web_origins.clone(),
        allowed_cors_origins: facts.allowed_origins.clone(),
        id_token_expiration: facts
            .jwt_configuration
            .as_ref()
            .and_then(|j| j.get("lifetime_in_seconds"))
            .and_then(as_i32),
        refresh_token_reuse_interval: rt_i32("leeway"),
        refresh_token_absolute_lifetime: rt_i32("token_lifetime"),
        refresh_token_inactivity_lifetime: rt_i32("idle_token_lifetime"),
        is_refresh_token_rotation_enabled: refresh
            .map(|_| rt_str("rotation_type") == Some("rotating")),
        is_refresh_token_absolute_expiration_enabled: refresh
            .map(|_| expiring && !rt_bool("infinite_token_lifetime")),
        is_refresh_token_inactivity_lifetime_enabled: refresh
            .map(|_| expiring && !rt_bool("infinite_idle_token_lifetime")),
        allow_cross_origin_authentication: facts
            .cross_origin_authentication
            .or(facts.cross_origin_auth),
    }
}

/// `"a, b,,c "` -> `["a", "b", "c"]`.
pub fn split_owners(owners: &str) -> Vec<String> {
    owners
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn as_i32(value: &Value) -> Option<i32> {
    value.as_i64().and_then(|n| i32::try_from(n).ok())
}

fn mobile_out(mobile: Option<&Value>) -> MobileOut {
    let Some(mobile) = mobile else {
        return MobileOut::default();
    };
    let string = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let ios = mobile
        .get("ios")
        .filter(|v| v.is_object())
        .map(|ios| IosOut {
            team_id: string(ios, "team_id"),
            app_bundle_identifier: string(ios, "app_bundle_identifier"),
        });
    let android = mobile
        .get("android")
        .filter(|v| v.is_object())
        .map(|android| AndroidOut {
            keystore_hash: android
                .get("sha256_cert_fingerprints")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(str::to_owned),
            app_package_name: string(android, "app_package_name"),
        });
    MobileOut { ios, android }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> ClientFacts {
        ClientFacts {
            client_id: "abc123".into(),
            name: Some("Billing".into()),
            app_type: Some("native".into()),
            logo_uri: Some("https://x.io/l.png".into()),
            callbacks: Some(vec!["https://x.io/cb".into()]),
            allowed_origins: Some(vec!["https://cors.io".into()]),
            web_origins: Some(vec!["https://web.io".into()]),
            allowed_logout_urls: Some(vec!["https://x.io/bye".into()]),
            grant_types: Some(vec!["authorization_code".into()]),
            mobile: Some(json!({
                "ios": {"team_id": "TEAM", "app_bundle_identifier": "io.x"},
                "android": {"app_package_name": "io.x.app", "sha256_cert_fingerprints": ["AA:BB", "CC:DD"]}
            })),
            client_metadata: Some(BTreeMap::from([
                ("owners".into(), " alice, bob ,,carol".into()),
                ("productName".into(), "Prod".into()),
                ("client_upn_key".into(), "upn".into()),
                ("applicationName".into(), "App".into()),
                ("manuallyCreated".into(), "true".into()),
            ])),
            token_endpoint_auth_method: Some("client_secret_post".into()),
            jwt_configuration: Some(json!({"lifetime_in_seconds": 36000, "secret_encoded": false})),
            refresh_token: Some(json!({
                "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 3,
                "token_lifetime": 2592000, "infinite_token_lifetime": false,
                "infinite_idle_token_lifetime": true, "idle_token_lifetime": 1296000
            })),
            cross_origin_authentication: None,
            cross_origin_auth: Some(true),
        }
    }

    #[test]
    fn maps_every_field_of_the_contract_table() {
        let body = serde_json::to_value(to_response(&facts(), Some("s3cr3t".into()))).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "abc123", "name": "Billing", "type": "native",
                "mobile": {"ios": {"team_id": "TEAM", "app_bundle_identifier": "io.x"},
                           "android": {"keystore_hash": "AA:BB", "app_package_name": "io.x.app"}},
                "owners": ["alice", "bob", "carol"], "secret": "s3cr3t",
                "logoUrl": "https://x.io/l.png", "grantTypes": ["authorization_code"],
                "productName": "Prod", "callbackUrls": ["https://x.io/cb"],
                "client_upn_key": "upn", "applicationName": "App", "manuallyCreated": true,
                "clientAuthMethod": "client_secret_post",
                "allowedLogoutUrls": ["https://x.io/bye"], "allowedWebOrigins": ["https://web.io"],
                "allowedCorsOrigins": ["https://cors.io"], "idTokenExpiration": 36000,
                "refreshTokenReuseInterval": 3, "refreshTokenAbsoluteLifetime": 2592000,
                "refreshTokenInactivityLifetime": 1296000,
                "isRefreshTokenRotationEnabled": true,
                "isRefreshTokenAbsoluteExpirationEnabled": true,
                "isRefreshTokenInactivityLifetimeEnabled": false,
                "allowCrossOriginAuthentication": true
            })
        );
    }

    #[test]
    fn defaults_of_a_minimal_client() {
        let f = ClientFacts {
            client_id: "id".into(),
            refresh_token: Some(
                json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring",
                "leeway": 0, "token_lifetime": 2592000, "infinite_token_lifetime": true,
                "infinite_idle_token_lifetime": true, "idle_token_lifetime": 1296000}),
            ),
            cross_origin_authentication: Some(false),
            cross_origin_auth: Some(true),
            client_metadata: Some(BTreeMap::from([("manuallyCreated".into(), "false".into())])),
            ..Default::default()
        };
        let r = to_response(&f, None);
        assert!(!r.manually_created);
        assert_eq!(r.owners, None);
        assert_eq!(r.is_refresh_token_rotation_enabled, Some(false));
        assert_eq!(r.is_refresh_token_absolute_expiration_enabled, Some(false));
        assert_eq!(r.is_refresh_token_inactivity_lifetime_enabled, Some(false));
        assert_eq!(r.allow_cross_origin_authentication, Some(false));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["mobile"], json!({}));
        assert_eq!(json["clientAuthMethod"], Value::Null);
        assert_eq!(json.as_object().unwrap().len(), 25, "every contract member");
        assert_eq!(json["idTokenExpiration"], Value::Null);
    }

    #[test]
    fn no_refresh_token_object_means_unknown() {
        let r = to_response(&ClientFacts::default(), None);
        assert_eq!(r.is_refresh_token_rotation_enabled, None);
        assert_eq!(r.refresh_token_absolute_lifetime, None);
    }

    #[test]
    fn out_of_range_numbers_become_null() {
        let f = ClientFacts {
            jwt_configuration: Some(json!({"lifetime_in_seconds": 9_999_999_999i64})),
            ..Default::default()
        };
        assert_eq!(to_response(&f, None).id_token_expiration, None);
    }
}
