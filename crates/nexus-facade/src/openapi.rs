//! The OpenAPI 3.0 document served at `/openapi.json`: exactly the Nexus contract as this
//! facade implements it (including its stricter choices and the extra status codes it uses),
//! so contract-testing tools can be pointed at it.

use serde_json::{Value, json};

use crate::validate::{APP_TYPES, MAX_DESCRIPTION, MAX_ITEMS, MAX_STRING, MAX_URL};

/// Builds the document.
pub fn document() -> Value {
    let string_list = |description: &str| {
        json!({
            "type": "array", "nullable": true, "maxItems": MAX_ITEMS, "description": description,
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_URL, "pattern": "^\\S+$"}
        })
    };
    let meta_string = |description: &str| json!({"type": "string", "maxLength": MAX_STRING, "pattern": "^[^\\x00-\\x1f\\x7f]*$", "description": description});
    let problem_ref = json!({"$ref": "#/components/schemas/Problem"});
    let problem = |description: &str| json!({"description": description, "content": {"application/problem+json": {"schema": problem_ref.clone()}}});
    let problem_with_headers = |description: &str, headers: Value| {
        json!({"description": description, "headers": headers,
               "content": {"application/problem+json": {"schema": problem_ref.clone()}}})
    };
    let retry_after = json!({"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}});

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Nexus clients API (nexus-operator facade)",
            "version": "1.0.0",
            "description": "Creates Auth0 clients through AuthClient resources managed by nexus-operator."
        },
        "paths": {
            "/v1/tenants/{tenantId}/clients": {
                "post": {
                    "operationId": "createClient",
                    "summary": "Creates a new auth client for the tenant.",
                    "description": "Requires the client.write or client.write.all permission. Retries with the same Idempotency-Key (or, without one, the same client name) return the same client.",
                    "parameters": [
                        {"name": "tenantId", "in": "path", "required": true,
                         "description": "The ID of the tenant where the client will be created",
                         "schema": {"type": "string", "minLength": 1, "maxLength": 253}},
                        {"name": "Idempotency-Key", "in": "header", "required": false,
                         "description": "Makes retries safe: the same key (per caller and tenant) always designates the same client.",
                         "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}}
                    ],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientRequest"}}}
                    },
                    "responses": {
                        "201": {
                            "description": "The client was created (or already existed for this Idempotency-Key / name).",
                            "headers": {
                                "Location": {"schema": {"type": "string"}, "description": "URI of the created client."},
                                "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}}
                            },
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientResponse"}}}
                        },
                        "400": problem("The body is invalid (errors names each field), or Auth0 rejected the client."),
                        "401": problem_with_headers("Credentials missing or invalid.",
                            json!({"WWW-Authenticate": {"schema": {"type": "string"}}})),
                        "403": problem("The caller lacks client.write / client.write.all, or may not act on this tenant."),
                        "404": problem("No tenant with this tenantId is served by this API."),
                        "409": problem("A different client already uses this name in the tenant, or it is being deleted."),
                        "413": problem("The body is larger than the server accepts."),
                        "415": problem("The body is not application/json."),
                        "422": problem("The Idempotency-Key was already used with a different body."),
                        "500": problem("Unexpected failure; safe to retry."),
                        "503": problem_with_headers("A dependency (Kubernetes, token issuer, Auth0) is unavailable; retry later.", retry_after.clone()),
                        "504": problem_with_headers("The client is still being created; retry the same request to get it (no duplicate is created). The authClient member names the AuthClient resource.", retry_after)
                    },
                    "security": [
                        {"bearerAuth": [], "applicationToken": []},
                        {"basicAuth": []}
                    ]
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "applicationToken": {"type": "apiKey", "in": "header", "name": "ApplicationToken"},
                "basicAuth": {"type": "http", "scheme": "basic"}
            },
            "schemas": {
                "ClientRequest": {
                    "type": "object",
                    "required": ["name", "app_type"],
                    "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": MAX_STRING,
                                 "pattern": "^[^<>\\x00-\\x1f\\x7f]*[^<>\\s][^<>\\x00-\\x1f\\x7f]*$",
                                 "description": "The name of the client application."},
                        "app_type": {"type": "string", "minLength": 1, "enum": APP_TYPES,
                                     "description": "The type of application (e.g., \"regular_web\", \"spa\", \"native\", \"non_interactive\")."},
                        "id": {"type": "string", "nullable": true, "maxLength": 0,
                               "description": "The unique identifier for the client (generated by Auth0). This API refuses a non-empty id: existing clients cannot be adopted through it."},
                        "description": {"type": "string", "nullable": true, "maxLength": MAX_DESCRIPTION,
                                        "description": "Optional description of the client."},
                        "logo_uri": {"type": "string", "nullable": true, "maxLength": MAX_URL,
                                     "pattern": "^(https?://[^\\s/?#]+[^\\s]*)?$",
                                     "description": "A URI to a logo for the client (absolute http(s) URL, or empty)."},
                        "callbacks": string_list("Callback URLs for the OAuth2 authentication process."),
                        "allowed_origins": string_list("Additional origins allowed to make cross-origin resource sharing (CORS) requests."),
                        "web_origins": string_list("Allowed origins for use with Cross-Origin Authentication, Device Flow, and web message response mode."),
                        "allowed_logout_urls": string_list("A set of URLs that are valid to redirect to after logout from Auth0."),
                        "grant_types": string_list("The grant types this client supports."),
                        "initiate_login_uri": {"type": "string", "nullable": true, "maxLength": MAX_URL,
                                               "pattern": "^(https://[^\\s/?#]+[^\\s]*)?$",
                                               "description": "The initiate login URI for the application (https, or empty)."},
                        "mobile": {
                            "type": "object", "additionalProperties": false,
                            "description": "Mobile device settings for Auth0 client applications.",
                            "properties": {
                                "ios": {"type": "object", "additionalProperties": false, "properties": {
                                    "team_id": meta_string("Apple team id."),
                                    "app_bundle_identifier": meta_string("App bundle identifier.")}},
                                "android": {"type": "object", "additionalProperties": false, "properties": {
                                    "keystore_hash": meta_string("SHA-256 fingerprint of the signing keystore."),
                                    "app_package_name": meta_string("Android package name.")}}
                            }
                        },
                        "client_metadata": {
                            "type": "object", "additionalProperties": false,
                            "description": "Custom metadata for Auth0 clients.",
                            "properties": {
                                "owners": meta_string("Owners, comma separated."),
                                "productName": meta_string("Product name."),
                                "client_upn_key": meta_string("Client UPN key."),
                                "applicationName": meta_string("Application name."),
                                "manuallyCreated": {"type": "boolean"}
                            }
                        }
                    }
                },
                "ClientResponse": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "nullable": true},
                        "name": {"type": "string", "nullable": true},
                        "type": {"type": "string", "nullable": true},
                        "mobile": {"type": "object", "properties": {
                            "ios": {"type": "object", "properties": {
                                "team_id": {"type": "string"}, "app_bundle_identifier": {"type": "string"}}},
                            "android": {"type": "object", "properties": {
                                "keystore_hash": {"type": "string"}, "app_package_name": {"type": "string"}}}
                        }},
                        "owners": {"type": "array", "nullable": true, "items": {"type": "string"}},
                        "secret": {"type": "string", "nullable": true},
                        "logoUrl": {"type": "string", "nullable": true},
                        "grantTypes": {"type": "array", "nullable": true, "items": {"type": "string"}},
                        "productName": {"type": "string", "nullable": true},
                        "callbackUrls": {"type": "array", "nullable": true, "items": {"type": "string"}},
                        "client_upn_key": {"type": "string", "nullable": true},
                        "applicationName": {"type": "string", "nullable": true},
                        "manuallyCreated": {"type": "boolean"},
                        "clientAuthMethod": {"type": "string"},
                        "allowedLogoutUrls": {"type": "array", "nullable": true, "items": {"type": "string"}},
                        "allowedWebOrigins": {"type": "array", "nullable": true, "items": {"type": "string"}},
                        "allowedCorsOrigins": {"type": "array", "nullable": true, "items": {"type": "string"}},
                        "idTokenExpiration": {"type": "integer", "format": "int32", "nullable": true},
                        "refreshTokenReuseInterval": {"type": "integer", "format": "int32", "nullable": true},
                        "refreshTokenAbsoluteLifetime": {"type": "integer", "format": "int32", "nullable": true},
                        "refreshTokenInactivityLifetime": {"type": "integer", "format": "int32", "nullable": true},
                        "isRefreshTokenRotationEnabled": {"type": "boolean", "nullable": true},
                        "isRefreshTokenAbsoluteExpirationEnabled": {"type": "boolean", "nullable": true},
                        "isRefreshTokenInactivityLifetimeEnabled": {"type": "boolean", "nullable": true},
                        "allowCrossOriginAuthentication": {"type": "boolean", "nullable": true}
                    }
                },
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details.",
                    "properties": {
                        "type": {"type": "string", "nullable": true},
                        "title": {"type": "string", "nullable": true},
                        "status": {"type": "integer", "format": "int32", "nullable": true},
                        "detail": {"type": "string", "nullable": true},
                        "instance": {"type": "string", "nullable": true},
                        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                                   "description": "Field path -> messages (400 for invalid input)."},
                        "authClient": {"type": "object", "description": "Where the AuthClient being created lives (504).",
                                       "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}}}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_describes_the_contract() {
        let doc = document();
        let op = &doc["paths"]["/v1/tenants/{tenantId}/clients"]["post"];
        for status in ["201", "400", "401", "403", "404"] {
            assert!(op["responses"][status].is_object(), "{status}");
        }
        let req = &doc["components"]["schemas"]["ClientRequest"];
        assert_eq!(req["required"], json!(["name", "app_type"]));
        assert_eq!(req["properties"].as_object().unwrap().len(), 13);
        let resp = &doc["components"]["schemas"]["ClientResponse"];
        assert_eq!(resp["properties"].as_object().unwrap().len(), 25);
    }
}
