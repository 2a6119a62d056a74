//! The test OIDC provider itself (`tests/oidc`, `latch_tests::oidc`),
//! without Latch: an authorization-code + PKCE flow built by hand, the
//! code exchanged at the token endpoint, and the ID token checked with
//! `jsonwebtoken` against the provider's JWKS. When this fails, the OAuth
//! tests built on the provider cannot be trusted either.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use latch_tests::{
    must,
    oidc::{
        ClientAuth, OidcProvider, UNVERIFIED_EMAIL, UNVERIFIED_USER, VERIFIED_EMAIL, VERIFIED_USER,
    },
};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "latch-test-client";
const SECRET: &str = "test-client-secret";
/// Never loaded: the sign-in stops at the redirect to it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";

/// The S256 challenge of `verifier` (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A fresh random URL-safe value (PKCE verifier, state, nonce).
fn random() -> String {
    let mut bytes = [0u8; 32];
    must(getrandom::fill(&mut bytes), "random");
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn discovery(provider: &OidcProvider) -> Value {
    let url = format!("{}/.well-known/openid-configuration", provider.issuer());
    let response = must(reqwest::get(&url).await, "discovery");
    assert_eq!(response.status(), StatusCode::OK);
    must(response.json().await, "discovery JSON")
}

fn endpoint(discovery: &Value, name: &str) -> String {
    match discovery[name].as_str() {
        Some(url) => url.to_owned(),
        None => panic!("no {name} in {discovery}"),
    }
}

/// What a client sent and must check on the way back.
struct Request {
    url: String,
    state: String,
    nonce: String,
    verifier: String,
}

fn authorization_request(discovery: &Value, with_pkce: bool) -> Request {
    let (state, nonce, verifier) = (random(), random(), random());
    let mut url = must(
        Url::parse(&endpoint(discovery, "authorization_endpoint")),
        "authorization endpoint",
    );
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", "openid email profile")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce);
        if with_pkce {
            query
                .append_pair("code_challenge", &s256(&verifier))
                .append_pair("code_challenge_method", "S256");
        }
    }
    Request {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// The token endpoint's answer to `code` with `verifier`.
async fn exchange(
    discovery: &Value,
    auth: ClientAuth,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    let request = reqwest::Client::new().post(endpoint(discovery, "token_endpoint"));
    let request = match auth {
        ClientAuth::Basic => request.basic_auth(CLIENT_ID, Some(SECRET)),
        ClientAuth::Post => {
            form.extend([("client_id", CLIENT_ID), ("client_secret", SECRET)]);
            request
        }
    };
    must(request.form(&form).send().await, "token request")
}

/// The ID token's claims, its signature checked against the provider's
/// JWKS and its issuer and audience against this client.
async fn verified_claims(provider: &OidcProvider, discovery: &Value, id_token: &str) -> Value {
    let jwks: JwkSet = must(
        must(reqwest::get(endpoint(discovery, "jwks_uri")).await, "jwks")
            .json()
            .await,
        "JWKS JSON",
    );
    let header = must(jsonwebtoken::decode_header(id_token), "ID token header");
    let kid = header.kid.unwrap_or_default();
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let key = must(DecodingKey::from_jwk(jwk), "key from JWK");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[CLIENT_ID]);
    validation.set_issuer(&[provider.issuer()]);
    must(
        jsonwebtoken::decode::<Value>(id_token, &key, &validation),
        "ID token",
    )
    .claims
}

/// Signs `login` in through the whole flow and returns the ID token's
/// checked claims.
async fn id_token_claims(provider: &OidcProvider, auth: ClientAuth, login: &str) -> Value {
    let discovery = discovery(provider).await;
    let request = authorization_request(&discovery, true);
    let callback = provider.sign_in(&request.url, login).await;
    assert_eq!(callback.state, request.state);
    assert_eq!(callback.redirect_uri(), REDIRECT_URI);

    let response = exchange(&discovery, auth, &callback.code, &request.verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = must(response.json().await, "token JSON");
    let id_token = tokens["id_token"].as_str().unwrap_or_default();
    let claims = verified_claims(provider, &discovery, id_token).await;
    assert_eq!(claims["nonce"], request.nonce.as_str());
    claims
}

#[test]
fn s256_matches_rfc_7636() {
    let text = must(
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/pkce-rfc7636.json"
        )),
        "fixture",
    );
    let vector: Value = must(serde_json::from_str(&text), "fixture JSON");
    let verifier = vector["code_verifier"].as_str().unwrap_or_default();
    assert_eq!(s256(verifier), vector["code_challenge"].as_str().unwrap());
}

#[tokio::test]
async fn signs_in_a_verified_user_with_basic_client_auth() {
    let provider = OidcProvider::start(CLIENT_ID, SECRET, &[REDIRECT_URI]).await;
    let claims = id_token_claims(&provider, ClientAuth::Basic, VERIFIED_USER).await;
    assert_eq!(claims["sub"], VERIFIED_USER);
    assert_eq!(claims["email"], VERIFIED_EMAIL);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["given_name"], "Vera");
    assert_eq!(claims["family_name"], "Verified");
}

#[tokio::test]
async fn signs_in_an_unverified_user_with_post_client_auth() {
    let provider =
        OidcProvider::start_with_auth(CLIENT_ID, SECRET, &[REDIRECT_URI], ClientAuth::Post).await;
    let claims = id_token_claims(&provider, ClientAuth::Post, UNVERIFIED_USER).await;
    assert_eq!(claims["sub"], UNVERIFIED_USER);
    assert_eq!(claims["email"], UNVERIFIED_EMAIL);
    assert_eq!(claims["email_verified"], false);
}

#[tokio::test]
async fn requires_pkce_s256_and_the_matching_verifier() {
    let provider = OidcProvider::start(CLIENT_ID, SECRET, &[REDIRECT_URI]).await;
    let discovery = discovery(&provider).await;

    let without = authorization_request(&discovery, false);
    let refused = provider.authorize(&without.url, VERIFIED_USER).await;
    let refused = must(Url::parse(&refused), "callback");
    let error = refused.query_pairs().find(|(k, _)| k == "error");
    assert_eq!(
        error.map(|(_, v)| v.into_owned()).as_deref(),
        Some("invalid_request"),
        "{refused}"
    );

    let request = authorization_request(&discovery, true);
    let callback = provider.sign_in(&request.url, VERIFIED_USER).await;
    let wrong = exchange(&discovery, ClientAuth::Basic, &callback.code, &random()).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let body: Value = must(wrong.json().await, "error JSON");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_stopped_provider_is_down_until_restarted_on_the_same_issuer() {
    let mut provider = OidcProvider::start(CLIENT_ID, SECRET, &[REDIRECT_URI]).await;
    let issuer = provider.issuer().to_owned();
    provider.stop();
    let url = format!("{issuer}/.well-known/openid-configuration");
    assert!(reqwest::get(&url).await.is_err(), "still answering");

    provider.restart().await;
    assert_eq!(provider.issuer(), issuer);
    assert_eq!(discovery(&provider).await["issuer"], issuer.as_str());
}
