//! Access tokens as a backend sees them: headers, claims, and refusals.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use latch_client::{StaticKeySource, Verifier};
use latch_domain::{Reason, Result, ports::SessionDirectory};
use serde_json::Value;

use crate::testing::Harness;

fn part(token: &str, index: usize) -> Value {
    let encoded = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

#[tokio::test]
async fn access_tokens_have_the_required_header_and_claims() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;

    let header = part(&pair.access_token, 0);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let kid = header["kid"].as_str().unwrap();
    assert!(h.tokens.jwks_json().contains(kid), "the kid is published");

    let claims = part(&pair.access_token, 1);
    assert_eq!(claims["iss"], "latch");
    assert_eq!(claims["aud"], "latch");
    assert_eq!(claims["sub"], pair.user_id.to_string());
    assert_eq!(claims["sid"], pair.session_id.as_str());
    assert_eq!(claims["roles"], serde_json::json!(["USER"]));
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 22));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(iat, h.clock_now().timestamp());
    assert_eq!(exp - iat, 15 * 60);
    assert_eq!(pair.access_token_expires_at.timestamp(), exp);

    let other = h.issue().await;
    assert_ne!(part(&other.access_token, 1)["jti"], claims["jti"]);
    Ok(())
}

#[tokio::test]
async fn a_valid_token_validates_until_it_expires() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let claims = h.tokens.validate(&pair.access_token, true).await?;
    assert_eq!(claims.user_id, pair.user_id);
    assert_eq!(claims.session_id, pair.session_id);
    assert_eq!(claims.expires_at, pair.access_token_expires_at);

    h.advance(TimeDelta::seconds(15 * 60 - 1));
    h.tokens.validate(&pair.access_token, false).await?;
    h.advance(TimeDelta::seconds(1));
    let err = h
        .tokens
        .validate(&pair.access_token, false)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::TokenExpired);
    Ok(())
}

#[tokio::test]
async fn tampered_and_foreign_tokens_are_invalid() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let mut parts: Vec<String> = pair.access_token.split('.').map(str::to_owned).collect();
    let mut claims = part(&pair.access_token, 1);
    claims["roles"] = serde_json::json!(["SUPERADMIN"]);
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");

    for token in [tampered.as_str(), "", "garbage", "a.b.c"] {
        let err = h.tokens.validate(token, false).await.unwrap_err();
        assert_eq!(err.reason(), Reason::TokenInvalid, "{token}");
    }

    // A token of another Latch deployment (its own keys) is foreign here.
    let elsewhere = Harness::new().await.issue().await;
    let err = h
        .tokens
        .validate(&elsewhere.access_token, false)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::TokenInvalid);
    Ok(())
}

#[tokio::test]
async fn checking_the_session_catches_a_logout_at_once() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    h.sessions.revoke(&pair.session_id, "logout").await?;
    h.tokens.validate(&pair.access_token, false).await?;
    let err = h
        .tokens
        .validate(&pair.access_token, true)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::SessionRevoked);
    Ok(())
}

#[tokio::test]
async fn a_backend_verifies_with_the_published_jwks() -> Result<()> {
    let h = Harness::new().await;
    let pair = h.issue().await;
    let jwks = serde_json::from_str(&h.tokens.jwks_json()).unwrap();
    let verifier = Verifier::new(Arc::new(StaticKeySource(jwks)), "latch", "latch");
    let claims = verifier
        .verify_at(&pair.access_token, h.clock_now().timestamp())
        .await
        .unwrap();
    assert_eq!(claims.sub, pair.user_id.to_string());
    let wrong_audience = Verifier::new(
        Arc::new(StaticKeySource(
            serde_json::from_str(&h.tokens.jwks_json()).unwrap(),
        )),
        "latch",
        "billing",
    );
    assert!(
        wrong_audience
            .verify_at(&pair.access_token, h.clock_now().timestamp())
            .await
            .is_err()
    );
    Ok(())
}
