//! A verifier that remembers verified tokens answers exactly as one that
//! does not: expiry and forgeries included (a dropped key: `verify.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{AUDIENCE, CountingSource, ISSUER, NOW, TestKey, claims, jwks};
use latch_client::{Verifier, VerifyError};

fn setup() -> (TestKey, Arc<CountingSource>, Verifier) {
    let key = TestKey::new("k1", 1);
    let source = Arc::new(CountingSource::with(jwks(&[&key])));
    let verifier = Verifier::new(source.clone(), ISSUER, AUDIENCE).with_cache(16);
    (key, source, verifier)
}

#[tokio::test]
async fn a_remembered_token_still_expires_at_its_exp_second() {
    let (key, _, verifier) = setup();
    let token = key.sign(&claims());
    let exp = claims().exp;
    assert_eq!(verifier.verify_at(&token, NOW).await, Ok(claims()));
    assert_eq!(verifier.verify_at(&token, exp - 1).await, Ok(claims()));
    assert_eq!(
        verifier.verify_at(&token, exp).await,
        Err(VerifyError::Expired)
    );
}

#[tokio::test]
async fn a_forgery_of_a_remembered_token_is_still_checked() {
    let (key, _, verifier) = setup();
    let token = key.sign(&claims());
    verifier.verify_at(&token, NOW).await.unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged.roles = vec!["SUPERADMIN".to_owned()];
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_eq!(
        verifier.verify_at(&tampered, NOW).await,
        Err(VerifyError::Invalid("bad signature"))
    );
    let impostor = TestKey::new("k1", 99);
    assert_eq!(
        verifier.verify_at(&impostor.sign(&claims()), NOW).await,
        Err(VerifyError::Invalid("bad signature"))
    );
}

#[tokio::test]
async fn more_tokens_than_the_capacity_all_verify() {
    let (key, source, verifier) = setup();
    let tokens: Vec<String> = (0..64)
        .map(|i| {
            let mut claims = claims();
            claims.jti = format!("jti-{i}");
            key.sign(&claims)
        })
        .collect();
    for _ in 0..2 {
        for (i, token) in tokens.iter().enumerate() {
            let verified = verifier.verify_at(token, NOW).await.unwrap();
            assert_eq!(verified.jti, format!("jti-{i}"));
        }
    }
    assert_eq!(source.fetches(), 1);
}
