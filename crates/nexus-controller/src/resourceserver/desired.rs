//! The typed desired state of an Auth0 API (from an `AuthResourceServer` spec) and its typed
//! difference to the API as Auth0 returned it: the fields that differ and the minimal PATCH.
//! Pure functions.

use std::collections::BTreeSet;

use auth0_mgmt::{
    NewResourceServer, ResourceServer, ResourceServerPatch, ResourceServerScope, SigningAlg,
    TokenDialect,
};
use nexus_crd::{AuthResourceServerSpec, SigningAlg as SpecAlg, TokenDialect as SpecDialect};

fn signing_alg(alg: SpecAlg) -> SigningAlg {
    match alg {
        SpecAlg::RS256 => SigningAlg::Rs256,
        SpecAlg::HS256 => SigningAlg::Hs256,
        SpecAlg::PS256 => SigningAlg::Ps256,
    }
}

fn token_dialect(dialect: SpecDialect) -> TokenDialect {
    match dialect {
        SpecDialect::AccessToken => TokenDialect::AccessToken,
        SpecDialect::AccessTokenAuthz => TokenDialect::AccessTokenAuthz,
        SpecDialect::Rfc9068Profile => TokenDialect::Rfc9068Profile,
        SpecDialect::Rfc9068ProfileAuthz => TokenDialect::Rfc9068ProfileAuthz,
    }
}

fn scopes(spec: &AuthResourceServerSpec) -> Vec<ResourceServerScope> {
    spec.scopes
        .iter()
        .map(|s| ResourceServerScope {
            value: s.value.clone(),
            description: s.description.clone(),
        })
        .collect()
}

/// The body of `POST /api/v2/resource-servers`: everything the spec manages (name, scopes and
/// signing algorithm always; the other fields when set).
pub fn create_body(spec: &AuthResourceServerSpec) -> NewResourceServer {
    let authorization = spec.authorization.clone().unwrap_or_default();
    NewResourceServer {
        identifier: spec.identifier.clone(),
        // An unset name (empty) is not sent: Auth0 creates the API without one.
        name: (!spec.name.is_empty()).then(|| spec.name.clone()),
        scopes: Some(scopes(spec)),
        signing_alg: Some(signing_alg(spec.signing_alg)),
        token_lifetime: spec.token_lifetime_seconds,
        token_lifetime_for_web: spec.token_lifetime_for_web_seconds,
        allow_offline_access: spec.allow_offline_access,
        skip_consent_for_verifiable_first_party_clients: spec
            .skip_consent_for_verifiable_first_party_clients,
        enforce_policies: authorization.enforce_policies,
        token_dialect: authorization.token_dialect.map(token_dialect),
    }
}

/// The fields that differ and the PATCH that restores them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiDrift {
    /// Auth0 field names that differ (`name`, `scopes`, `token_lifetime`, ...).
    pub fields: Vec<String>,
    /// The PATCH body.
    pub patch: ResourceServerPatch,
}

impl ApiDrift {
    /// True when Auth0 matches the spec.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Compares the spec with the API Auth0 holds. Scopes are compared as a set of
/// (value, description); fields the spec leaves unset are not compared.
pub fn diff(spec: &AuthResourceServerSpec, actual: &ResourceServer) -> ApiDrift {
    let want = create_body(spec);
    let mut drift = ApiDrift::default();
    let mut differs = |name: &str, different: bool| {
        if different {
            drift.fields.push(name.to_owned());
        }
        different
    };
    if !spec.name.is_empty() && differs("name", actual.name.as_deref() != Some(spec.name.as_str()))
    {
        drift.patch.name = want.name.clone();
    }
    let have: BTreeSet<(&str, Option<&str>)> = actual
        .scopes
        .iter()
        .flatten()
        .map(|s| (s.value.as_str(), s.description.as_deref()))
        .collect();
    let wanted: BTreeSet<(&str, Option<&str>)> = spec
        .scopes
        .iter()
        .map(|s| (s.value.as_str(), s.description.as_deref()))
        .collect();
    // Auth0 may store an absent description as an empty one.
    let normalise = |set: &BTreeSet<(&str, Option<&str>)>| -> BTreeSet<(String, String)> {
        set.iter()
            .map(|(v, d)| ((*v).to_owned(), d.unwrap_or_default().to_owned()))
            .collect()
    };
    if differs("scopes", normalise(&have) != normalise(&wanted)) {
        drift.patch.scopes = want.scopes.clone();
    }
    if differs("signing_alg", actual.signing_alg != want.signing_alg) {
        drift.patch.signing_alg = want.signing_alg.clone();
    }
    macro_rules! managed_number {
        ($($f:ident),*) => {$(
            if let Some(value) = want.$f
                && differs(stringify!($f), actual.$f != Some(i64::from(value)))
            {
                drift.patch.$f = Some(value);
            }
        )*};
    }
    managed_number!(token_lifetime, token_lifetime_for_web);
    macro_rules! managed {
        ($($f:ident),*) => {$(
            if want.$f.is_some() && differs(stringify!($f), actual.$f != want.$f) {
                drift.patch.$f = want.$f.clone();
            }
        )*};
    }
    managed!(
        allow_offline_access,
        skip_consent_for_verifiable_first_party_clients,
        enforce_policies,
        token_dialect
    );
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> AuthResourceServerSpec {
        serde_json::from_value(json!({
            "tenant": "acme",
            "identifier": "https://orders/api",
            "name": "Orders",
            "scopes": [{"value": "read:orders", "description": "Read"}, {"value": "write:orders"}],
            "tokenLifetimeSeconds": 3600,
            "authorization": {"tokenDialect": "rfc9068_profile"},
        }))
        .expect("spec")
    }

    /// The API as Auth0 would hold it after the create, with its own defaults.
    fn created(spec: &AuthResourceServerSpec) -> ResourceServer {
        let mut value = serde_json::to_value(create_body(spec)).expect("json");
        value["id"] = json!("rs1");
        value["token_lifetime_for_web"] = json!(7200);
        value["enforce_policies"] = json!(false);
        value["scopes"] = json!([{"value": "write:orders", "description": ""}, {"value": "read:orders", "description": "Read"}]);
        serde_json::from_value(value).expect("resource server")
    }

    #[test]
    fn the_create_body_sends_what_the_spec_manages() {
        let body = serde_json::to_value(create_body(&spec())).expect("json");
        assert_eq!(
            body,
            json!({
                "identifier": "https://orders/api",
                "name": "Orders",
                "scopes": [{"value": "read:orders", "description": "Read"}, {"value": "write:orders"}],
                "signing_alg": "RS256",
                "token_lifetime": 3600,
                "token_dialect": "rfc9068_profile",
            })
        );
    }

    #[test]
    fn auth0_defaults_and_scope_order_are_not_drift() {
        assert_eq!(diff(&spec(), &created(&spec())), ApiDrift::default());
    }

    #[test]
    fn differences_patch_only_what_differs() {
        let mut actual = created(&spec());
        actual.name = Some("Renamed".into());
        actual.scopes = Some(vec![ResourceServerScope {
            value: "read:orders".into(),
            description: Some("Read".into()),
        }]);
        actual.token_lifetime = Some(86400);
        actual.signing_alg = Some(SigningAlg::Hs256);
        let drift = diff(&spec(), &actual);
        assert_eq!(
            drift.fields,
            vec!["name", "scopes", "signing_alg", "token_lifetime"]
        );
        let patch = serde_json::to_value(&drift.patch).expect("json");
        assert_eq!(
            patch,
            json!({
                "name": "Orders",
                "scopes": [{"value": "read:orders", "description": "Read"}, {"value": "write:orders"}],
                "signing_alg": "RS256",
                "token_lifetime": 3600,
            })
        );
    }

    /// Auth0 creates an API without a name (TestAccResourceServer#0): a spec without one
    /// sends none and leaves the name Auth0 holds (one given in the dashboard) alone.
    #[test]
    fn an_unset_name_is_not_sent_nor_compared() {
        let mut value = serde_json::to_value(spec()).expect("json");
        value.as_object_mut().expect("object").remove("name");
        let mut unnamed: AuthResourceServerSpec =
            serde_json::from_value(value).expect("a spec without a name");
        assert_eq!(unnamed.name, "");
        let body = serde_json::to_value(create_body(&unnamed)).expect("json");
        assert_eq!(body.get("name"), None, "{body}");
        let mut actual = created(&unnamed);
        actual.name = Some("Named in the dashboard".into());
        assert_eq!(diff(&unnamed, &actual), ApiDrift::default());
        unnamed.name = "Orders".into();
        assert_eq!(diff(&unnamed, &actual).fields, vec!["name"]);
    }
}
