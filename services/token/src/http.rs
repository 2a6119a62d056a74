//! The token service's documents on the HTTP port, for gateways that
//! verify Latch's access tokens themselves (Envoy `jwt_authn` with
//! `remote_jwks`, Kong, any JWT library that fetches keys by URL):
//!
//! - `GET /.well-known/jwks.json`: the JWKS (RFC 7517), as GetJwks;
//! - `GET /.well-known/openid-configuration`: the issuer, where the JWKS
//!   is, and what signs, as OpenID Connect Discovery 1.0 names them.
//!
//! Both are public and cacheable: `Cache-Control: public, max-age=` the
//! JWKS cache TTL, which is also how long a new key is published before it
//! signs, so a verifier honouring it never meets a key it has not seen.
//! An `ETag` (a hash of the body) answers a conditional request with 304.
//!
//! The discovery document says only what is true of Latch: there is no
//! authorization, token or userinfo endpoint over HTTP and no ID token, so
//! `authorization_endpoint`, `token_endpoint` and `response_types_supported`
//! (required of a full OpenID Provider) are left out: this is the subset
//! gateways read to find and check keys, not a provider's metadata.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use latch_runtime::http::Router;

use crate::{Tokens, keys::ALGORITHM};

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The claims every access token carries.
const CLAIMS: [&str; 8] = ["iss", "aud", "sub", "sid", "roles", "iat", "exp", "jti"];

#[derive(Clone)]
struct Documents {
    tokens: Arc<Tokens>,
    cache_control: HeaderValue,
    /// Fixed for the life of the process: built once.
    discovery: Arc<(String, HeaderValue)>,
}

/// The routes of both documents; `public_url` is the base URL clients
/// reach the HTTP port at (`LATCH_PUBLIC_URL`, or the bound address).
pub fn routes(tokens: Arc<Tokens>, public_url: &str) -> Router {
    let config = tokens.config();
    let cache_control = HeaderValue::from_str(&format!(
        "public, max-age={}",
        config.jwks_cache_ttl.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
    let discovery = discovery_json(&config.issuer, public_url);
    let etag = etag_of(&discovery);
    let documents = Documents {
        tokens,
        cache_control,
        discovery: Arc::new((discovery, etag)),
    };
    Router::new()
        .route(JWKS_PATH, get(serve_jwks))
        .route(DISCOVERY_PATH, get(serve_discovery))
        .with_state(documents)
}

fn discovery_json(issuer: &str, public_url: &str) -> String {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{public_url}{JWKS_PATH}"),
        // Every user has one `sub`, whoever asks.
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "claims_supported": CLAIMS,
    })
    .to_string()
}

async fn serve_jwks(State(documents): State<Documents>, request: HeaderMap) -> Response {
    let body = documents.tokens.current_jwks_json().await;
    let etag = etag_of(&body);
    answer(&request, body, etag, documents.cache_control)
}

async fn serve_discovery(State(documents): State<Documents>, request: HeaderMap) -> Response {
    let (body, etag) = documents.discovery.as_ref().clone();
    answer(&request, body, etag, documents.cache_control)
}

/// 200 with the JSON body, or 304 when the client holds this version.
fn answer(
    request: &HeaderMap,
    body: String,
    etag: HeaderValue,
    cache_control: HeaderValue,
) -> Response {
    let headers = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, cache_control),
    ];
    if holds(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let json = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (StatusCode::OK, headers, [json], body).into_response()
}

/// A strong validator: the first 128 bits of the body's SHA-256.
fn etag_of(body: &str) -> HeaderValue {
    let digest = latch_domain::secret::sha256(body);
    let tag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` names `etag` (weakly, as RFC 9110 compares for
/// it) or is `*`.
fn holds(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests;
