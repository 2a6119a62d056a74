//! The documents as a gateway fetches them: status, headers, bodies, and
//! conditional requests; the router driven in process (the HTTP port
//! itself is tested in latch-runtime and end to end).

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use chrono::TimeDelta;
use serde_json::Value;
use tower::ServiceExt;

use super::{DISCOVERY_PATH, JWKS_PATH, routes};
use crate::{TokenConfig, testing::Harness};

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn get(
    router: &latch_runtime::http::Router,
    path: &str,
    if_none_match: Option<&str>,
) -> Answer {
    let mut request = Request::get(path);
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_jwks_is_served_cacheable_for_the_cache_ttl() {
    let h = Harness::with_config(TokenConfig {
        jwks_cache_ttl: std::time::Duration::from_secs(300),
        ..TokenConfig::default()
    })
    .await;
    let router = routes(h.tokens.clone(), "https://auth.example.com");
    let answer = get(&router, JWKS_PATH, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header(header::CONTENT_TYPE), "application/json");
    assert_eq!(answer.header(header::CACHE_CONTROL), "public, max-age=300");
    let jwks = answer.json();
    assert_eq!(
        jwks,
        serde_json::from_str::<Value>(&h.tokens.jwks_json()).unwrap()
    );
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "no private part");
}

#[tokio::test]
async fn a_client_holding_the_current_version_gets_304_until_the_keys_change() {
    let h = Harness::new().await;
    let router = routes(h.tokens.clone(), "https://auth.example.com");
    let first = get(&router, JWKS_PATH, None).await;
    let etag = first.header(header::ETAG).to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let again = get(&router, JWKS_PATH, Some(&etag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header(header::ETAG), etag);
    assert_eq!(again.header(header::CACHE_CONTROL), "public, max-age=600");
    let listed = get(&router, JWKS_PATH, Some(&format!("\"other\", W/{etag}"))).await;
    assert_eq!(listed.status, StatusCode::NOT_MODIFIED);
    let stale = get(&router, JWKS_PATH, Some("\"other\"")).await;
    assert_eq!(stale.status, StatusCode::OK);

    // A rotation publishes a key: a new version, served to the same client.
    let kid = h.tokens.rotate_signing_key().await.unwrap();
    let rotated = get(&router, JWKS_PATH, Some(&etag)).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_ne!(rotated.header(header::ETAG), etag);
    assert!(kids(&rotated.json()).contains(&kid));
}

#[tokio::test]
async fn the_served_jwks_follows_another_replica_within_a_minute() {
    let h = Harness::new().await;
    let replica = h.start().await.unwrap();
    let router = routes(replica, "https://auth.example.com");
    let kid = h.tokens.rotate_signing_key().await.unwrap();
    h.advance(TimeDelta::seconds(61));
    let answer = get(&router, JWKS_PATH, None).await;
    assert!(
        kids(&answer.json()).contains(&kid),
        "published before it signs"
    );
}

#[tokio::test]
async fn discovery_names_the_issuer_and_the_jwks_and_nothing_latch_lacks() {
    let h = Harness::with_config(TokenConfig {
        issuer: "https://auth.example.com".into(),
        ..TokenConfig::default()
    })
    .await;
    let router = routes(h.tokens.clone(), "https://auth.example.com/latch");
    let answer = get(&router, DISCOVERY_PATH, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header(header::CONTENT_TYPE), "application/json");
    assert_eq!(answer.header(header::CACHE_CONTROL), "public, max-age=600");
    let document = answer.json();
    assert_eq!(document["issuer"], "https://auth.example.com");
    assert_eq!(
        document["jwks_uri"],
        "https://auth.example.com/latch/.well-known/jwks.json"
    );
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
    assert_eq!(
        document["subject_types_supported"],
        serde_json::json!(["public"])
    );
    for absent in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "response_types_supported",
    ] {
        assert!(document.get(absent).is_none(), "{absent}");
    }
    let etag = answer.header(header::ETAG).to_owned();
    let again = get(&router, DISCOVERY_PATH, Some(&etag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn other_methods_are_refused() {
    let h = Harness::new().await;
    let router = routes(h.tokens.clone(), "https://auth.example.com");
    let response = router
        .oneshot(Request::post(JWKS_PATH).body(Body::from("{}")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}
