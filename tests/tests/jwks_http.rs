//! The JWKS and discovery documents over HTTP, as a gateway fetches them,
//! on both backends: latchd with `LATCH_HTTP_ADDR` on a free port, a real
//! HTTP client, and access tokens checked by an independent verifier (the
//! `jsonwebtoken` crate on its own, none of Latch's code) against the keys
//! served. A rotation publishes the new key before it signs: a gateway
//! that fetched the keys just before keeps accepting every token.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use latch_proto::latch::token::v1::RotateSigningKeyRequest;
use latch_runtime::config::MapSource;
use latch_tests::{TestLatchd, bearer, e2e, must};
use reqwest::{StatusCode, header};
use serde_json::Value;

const ADMIN: &str = "root@example.com";

fn http_settings() -> MapSource {
    MapSource::new()
        .with("LATCH_HTTP_ADDR", "127.0.0.1:0")
        .with("LATCH_BOOTSTRAP_ADMIN_EMAIL", ADMIN)
        .with("LATCH_BOOTSTRAP_ADMIN_PASSWORD", latch_tests::PASSWORD)
}

e2e!(settings = http_settings;
    the_documents_are_served_cacheable_and_verify_issued_tokens,
    after_a_rotation_tokens_verify_against_keys_fetched_before_it,
);

fn base(latchd: &TestLatchd) -> String {
    format!(
        "http://{}",
        latchd.http_addr.expect("the HTTP port is served")
    )
}

async fn fetch(url: &str) -> reqwest::Response {
    must(reqwest::get(url).await, url)
}

async fn fetch_jwks(latchd: &TestLatchd) -> JwkSet {
    let response = fetch(&format!("{}/.well-known/jwks.json", base(latchd))).await;
    assert_eq!(response.status(), StatusCode::OK);
    must(response.json().await, "JWKS JSON")
}

/// The claims a gateway reads, checked by `jsonwebtoken` alone: signature
/// with the key the header names, algorithm EdDSA, `iss`, `aud`, `exp`.
fn verify(token: &str, keys: &JwkSet) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.ok_or("no kid")?;
    let jwk = keys
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["latch"]);
    validation.set_audience(&["latch"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

async fn the_documents_are_served_cacheable_and_verify_issued_tokens(latchd: TestLatchd) {
    let base = base(&latchd);

    let discovery = fetch(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(discovery.status(), StatusCode::OK);
    assert_eq!(
        header_of(&discovery, header::CONTENT_TYPE),
        "application/json"
    );
    assert_eq!(
        header_of(&discovery, header::CACHE_CONTROL),
        "public, max-age=600"
    );
    let document: Value = must(discovery.json().await, "discovery JSON");
    assert_eq!(document["issuer"], "latch");
    let jwks_uri = document["jwks_uri"].as_str().unwrap().to_owned();
    assert_eq!(jwks_uri, format!("{base}/.well-known/jwks.json"));
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
    assert!(document.get("authorization_endpoint").is_none());

    // Found through the discovery document, as a gateway does.
    let response = fetch(&jwks_uri).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, header::CONTENT_TYPE),
        "application/json"
    );
    assert_eq!(
        header_of(&response, header::CACHE_CONTROL),
        "public, max-age=600"
    );
    let etag = header_of(&response, header::ETAG).to_owned();
    let keys: JwkSet = must(response.json().await, "JWKS JSON");
    let unchanged = must(
        reqwest::Client::new()
            .get(&jwks_uri)
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await,
        "conditional GET",
    );
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    latchd.sign_up("ada@example.com").await;
    let auth = latchd.login("ada@example.com").await;
    let claims = verify(&auth.access_token, &keys).expect("verifies against the served JWKS");
    assert_eq!(claims["sub"], auth.user_id);

    // A token of another deployment (other keys) does not.
    let other = TestLatchd::start(latch_tests::Backend::Embedded)
        .await
        .unwrap();
    other.sign_up("eve@example.com").await;
    let foreign = other.login("eve@example.com").await;
    assert!(verify(&foreign.access_token, &keys).is_err());

    let missing = fetch(&format!("{base}/.well-known/nothing")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn after_a_rotation_tokens_verify_against_keys_fetched_before_it(latchd: TestLatchd) {
    latchd.sign_up("ada@example.com").await;
    let before = fetch_jwks(&latchd).await;
    let old_kid = kid_of(&latchd.login("ada@example.com").await.access_token);

    let admin = latchd.login(ADMIN).await;
    let new_kid = must(
        latchd
            .token()
            .rotate_signing_key(bearer(RotateSigningKeyRequest {}, &admin.access_token))
            .await,
        "rotate",
    )
    .into_inner()
    .kid;
    assert_ne!(new_kid, old_kid);

    // The next token still verifies with the keys fetched before ...
    let next = latchd.login("ada@example.com").await;
    assert_eq!(kid_of(&next.access_token), old_kid);
    verify(&next.access_token, &before).expect("verifies against the JWKS cached before");

    // ... while the new key is already published.
    let after = fetch_jwks(&latchd).await;
    assert!(after.find(&new_kid).is_some(), "published before it signs");
    assert!(after.find(&old_kid).is_some());

    // One cache period (10m) and the 2m margin later it signs, and a
    // gateway that refreshed any time since the rotation holds it.
    latchd
        .clock
        .advance(TimeDelta::minutes(12) + TimeDelta::seconds(1));
    let later = latchd.login("ada@example.com").await;
    assert_eq!(kid_of(&later.access_token), new_kid);
    verify(&later.access_token, &after).expect("verifies against the JWKS fetched after");
    assert!(verify(&later.access_token, &before).is_err());
}
