//! What a backend relies on: genuine tokens pass, everything else is refused
//! for the right reason, and keys are fetched sparingly.

#![allow(clippy::unwrap_used)]

mod common;

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{AUDIENCE, CountingSource, ISSUER, NOW, TestKey, claims, jwks};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latch_client::{Verifier, VerifyError};

fn verifier(source: &Arc<CountingSource>) -> Verifier {
    Verifier::new(source.clone(), ISSUER, AUDIENCE)
}

fn setup() -> (TestKey, Arc<CountingSource>, Verifier) {
    let key = TestKey::new("k1", 1);
    let source = Arc::new(CountingSource::with(jwks(&[&key])));
    let verifier = verifier(&source);
    (key, source, verifier)
}

#[tokio::test]
async fn a_genuine_token_yields_its_claims() {
    let (key, source, verifier) = setup();
    let token = key.sign(&claims());
    assert_eq!(verifier.verify_at(&token, NOW).await, Ok(claims()));
    assert_eq!(verifier.verify_at(&token, NOW).await, Ok(claims()));
    assert_eq!(source.fetches(), 1, "keys are cached after the first fetch");
}

#[tokio::test]
async fn tokens_expire_at_their_exp_second() {
    let (key, _, verifier) = setup();
    let token = key.sign(&claims());
    let exp = claims().exp;
    assert!(verifier.verify_at(&token, exp - 1).await.is_ok());
    assert_eq!(
        verifier.verify_at(&token, exp).await,
        Err(VerifyError::Expired)
    );
    assert_eq!(
        verifier.verify_at(&token, exp + 3600).await,
        Err(VerifyError::Expired)
    );
}

#[tokio::test]
async fn leeway_and_clock_are_configurable() {
    let key = TestKey::new("k1", 1);
    let source = Arc::new(CountingSource::with(jwks(&[&key])));
    let exp = claims().exp;
    let lenient = verifier(&source)
        .with_leeway(Duration::from_secs(30))
        .with_clock(move || exp + 29);
    let token = key.sign(&claims());
    assert!(lenient.verify(&token).await.is_ok());
    let late = verifier(&source).with_clock(move || exp + 29);
    assert_eq!(late.verify(&token).await, Err(VerifyError::Expired));
}

#[tokio::test]
async fn wrong_issuer_audience_or_type_is_invalid() {
    let (key, _, verifier) = setup();
    let mut other = claims();
    other.iss = "someone-else".to_owned();
    assert!(matches!(
        verifier.verify_at(&key.sign(&other), NOW).await,
        Err(VerifyError::Invalid(_))
    ));

    let mut other = claims();
    other.aud = "another-api".to_owned();
    assert!(matches!(
        verifier.verify_at(&key.sign(&other), NOW).await,
        Err(VerifyError::Invalid(_))
    ));

    for typ in [Some("JWT"), None, Some("id+jwt")] {
        let mut header = key.header();
        header.typ = typ.map(str::to_owned);
        let token = key.sign_with(&header, &claims());
        assert_eq!(
            verifier.verify_at(&token, NOW).await,
            Err(VerifyError::Invalid("not an access token")),
            "typ {typ:?}"
        );
    }
}

#[tokio::test]
async fn a_tampered_payload_is_invalid() {
    let (key, _, verifier) = setup();
    let token = key.sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged.roles = vec!["SUPERADMIN".to_owned()];
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_eq!(
        verifier.verify_at(&tampered, NOW).await,
        Err(VerifyError::Invalid("bad signature"))
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_invalid() {
    let (_, _, verifier) = setup();
    let impostor = TestKey::new("k1", 99);
    assert_eq!(
        verifier.verify_at(&impostor.sign(&claims()), NOW).await,
        Err(VerifyError::Invalid("bad signature"))
    );
}

#[tokio::test]
async fn alg_none_is_invalid() {
    let (key, _, verifier) = setup();
    let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": key.kid});
    let token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap())
    );
    assert!(matches!(
        verifier.verify_at(&token, NOW).await,
        Err(VerifyError::Invalid(_))
    ));
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_invalid() {
    let (key, _, verifier) = setup();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(key.kid.clone());
    // The classic confusion: the attacker knows the public key and hopes it
    // is used as an HMAC secret, raw or as published.
    let raw = key.signing.verifying_key().to_bytes();
    for secret in [raw.as_slice(), key.public_x().as_bytes()] {
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(
            verifier.verify_at(&token, NOW).await,
            Err(VerifyError::Invalid("algorithm not allowed"))
        );
    }
}

#[tokio::test]
async fn missing_claims_are_invalid() {
    let (key, _, verifier) = setup();
    let mut without_sid = serde_json::to_value(claims()).unwrap();
    without_sid.as_object_mut().unwrap().remove("sid");
    assert!(matches!(
        verifier
            .verify_at(&key.sign_with(&key.header(), &without_sid), NOW)
            .await,
        Err(VerifyError::Invalid(_))
    ));
    let mut empty_sub = claims();
    empty_sub.sub.clear();
    assert_eq!(
        verifier.verify_at(&key.sign(&empty_sub), NOW).await,
        Err(VerifyError::Invalid("missing claim"))
    );
}

#[tokio::test]
async fn garbage_is_invalid_without_fetching_keys() {
    let (_, source, verifier) = setup();
    for token in ["", "abc", "a.b.c", "....", "Bearer x.y.z"] {
        assert!(matches!(
            verifier.verify_at(token, NOW).await,
            Err(VerifyError::Invalid(_))
        ));
    }
    assert_eq!(source.fetches(), 0);
}

#[tokio::test(start_paused = true)]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let (key, source, verifier) = setup();
    verifier.verify_at(&key.sign(&claims()), NOW).await.unwrap();
    assert_eq!(source.fetches(), 1);

    for i in 0..100 {
        let stranger = TestKey::new(&format!("bogus-{i}"), 7);
        assert_eq!(
            verifier.verify_at(&stranger.sign(&claims()), NOW).await,
            Err(VerifyError::Invalid("unknown signing key"))
        );
    }
    // The first bogus kid came just after the initial fetch, inside the interval.
    assert_eq!(source.fetches(), 1);

    tokio::time::advance(Verifier::DEFAULT_REFETCH_INTERVAL).await;
    let stranger = TestKey::new("bogus-late", 7);
    assert!(
        verifier
            .verify_at(&stranger.sign(&claims()), NOW)
            .await
            .is_err()
    );
    assert!(
        verifier
            .verify_at(&stranger.sign(&claims()), NOW)
            .await
            .is_err()
    );
    assert_eq!(source.fetches(), 2, "one refetch per interval");
}

#[tokio::test(start_paused = true)]
async fn a_rotated_key_is_picked_up_with_one_refetch() {
    let (old, source, verifier) = setup();
    verifier.verify_at(&old.sign(&claims()), NOW).await.unwrap();

    tokio::time::advance(Verifier::DEFAULT_REFETCH_INTERVAL).await;
    let new = TestKey::new("k2", 2);
    source.replace(Some(jwks(&[&old, &new])));
    let token = new.sign(&claims());
    assert_eq!(verifier.verify_at(&token, NOW).await, Ok(claims()));
    assert_eq!(verifier.verify_at(&token, NOW).await, Ok(claims()));
    assert!(verifier.verify_at(&old.sign(&claims()), NOW).await.is_ok());
    assert_eq!(source.fetches(), 2);
}

/// Also with a cache of verified tokens: the token verified just before
/// must not be served from it.
#[tokio::test(start_paused = true)]
async fn a_key_dropped_from_the_set_stops_verifying_after_a_refetch() {
    for cache in [0, 16] {
        let (old, source, verifier) = setup();
        let verifier = verifier.with_cache(cache);
        let token = old.sign(&claims());
        verifier.verify_at(&token, NOW).await.unwrap();
        let new = TestKey::new("k2", 2);
        source.replace(Some(jwks(&[&new])));
        verifier.refresh().await.unwrap();
        assert_eq!(
            verifier.verify_at(&token, NOW).await,
            Err(VerifyError::Invalid("unknown signing key")),
            "cache of {cache}"
        );
        assert_eq!(
            verifier.verify_at(&new.sign(&claims()), NOW).await,
            Ok(claims())
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_key_source_is_reported_not_blamed_on_the_token() {
    let (key, source, verifier) = setup();
    source.replace(None);
    let token = key.sign(&claims());
    assert!(matches!(
        verifier.verify_at(&token, NOW).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
    assert!(matches!(
        verifier.verify_at(&token, NOW).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
    assert_eq!(source.fetches(), 1, "failures are rate limited too");

    source.replace(Some(jwks(&[&key])));
    tokio::time::advance(Verifier::DEFAULT_REFETCH_INTERVAL).await;
    assert_eq!(verifier.verify_at(&token, NOW).await, Ok(claims()));
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let key = TestKey::new("k1", 1);
    let source = Arc::new(CountingSource::with(jwks(&[&key])));
    let verifier = Arc::new(verifier(&source));
    let token = key.sign(&claims());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify_at(&token, NOW).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Ok(claims()));
    }
    assert_eq!(source.fetches(), 1);
}
