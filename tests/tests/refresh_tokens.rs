//! Refresh rotation, the grace window, reuse detection and token errors.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use chrono::Duration;
use latch_proto::latch::{
    common::v1::AuthResult,
    profile::v1::GetProfileRequest,
    token::v1::{
        GetJwksRequest, RefreshTokensRequest, RevokeTokenRequest, ValidateAccessTokenRequest,
    },
};
use latch_tests::{TestLatchd, bad_field, bearer, e2e, must, reason};
use tonic::{Code, Status};

e2e!(
    rotation_spends_the_old_token,
    duplicate_inside_grace_gets_the_same_successor,
    reuse_after_grace_revokes_family_and_session,
    revoked_refresh_token_is_dead,
    access_token_errors,
    jwks_is_published
);

async fn refresh(latchd: &TestLatchd, token: &str) -> Result<AuthResult, Status> {
    latchd
        .token()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: token.to_owned(),
            client: None,
        })
        .await
        .map(|r| r.into_inner().auth.expect("auth"))
}

async fn rotation_spends_the_old_token(latchd: TestLatchd) {
    let first = latchd
        .sign_up("rotate@example.com")
        .await
        .auth
        .expect("auth");
    let second = refresh(&latchd, &first.refresh_token)
        .await
        .expect("first rotation");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        second.session_id, first.session_id,
        "same session, same family"
    );
    let third = refresh(&latchd, &second.refresh_token)
        .await
        .expect("second rotation");
    assert_ne!(third.refresh_token, second.refresh_token);
    // The new access token works for user RPCs.
    must(
        latchd
            .profile()
            .get_profile(bearer(GetProfileRequest::default(), &third.access_token))
            .await,
        "rotated access token",
    );
}

async fn duplicate_inside_grace_gets_the_same_successor(latchd: TestLatchd) {
    let first = latchd
        .sign_up("grace@example.com")
        .await
        .auth
        .expect("auth");
    let a = refresh(&latchd, &first.refresh_token)
        .await
        .expect("rotation");
    latchd.clock.advance(Duration::seconds(2));
    let b = refresh(&latchd, &first.refresh_token)
        .await
        .expect("duplicate inside the grace window");
    assert_eq!(
        a.refresh_token, b.refresh_token,
        "one live successor, never two"
    );
    refresh(&latchd, &b.refresh_token)
        .await
        .expect("the successor still rotates");
}

async fn reuse_after_grace_revokes_family_and_session(latchd: TestLatchd) {
    let first = latchd
        .sign_up("reuse@example.com")
        .await
        .auth
        .expect("auth");
    let second = refresh(&latchd, &first.refresh_token)
        .await
        .expect("rotation");
    latchd.clock.advance(Duration::seconds(30));

    let err = refresh(&latchd, &first.refresh_token)
        .await
        .expect_err("reuse");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "REFRESH_TOKEN_REUSED");

    // The thief's (or the victim's) successor is dead too …
    let err = refresh(&latchd, &second.refresh_token)
        .await
        .expect_err("family revoked");
    assert_eq!(err.code(), Code::Unauthenticated);
    // … and so is the session behind every access token of the family.
    let err = latchd
        .profile()
        .get_profile(bearer(GetProfileRequest::default(), &second.access_token))
        .await
        .expect_err("session revoked");
    assert_eq!(reason(&err), "SESSION_REVOKED");
}

async fn revoked_refresh_token_is_dead(latchd: TestLatchd) {
    let first = latchd
        .sign_up("revoke@example.com")
        .await
        .auth
        .expect("auth");
    must(
        latchd
            .token()
            .revoke_token(RevokeTokenRequest {
                token: first.refresh_token.clone(),
                token_type_hint: "refresh_token".into(),
            })
            .await,
        "revoke",
    );
    let err = refresh(&latchd, &first.refresh_token)
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), Code::Unauthenticated);
    // RFC 7009: revoking garbage is fine too.
    must(
        latchd
            .token()
            .revoke_token(RevokeTokenRequest {
                token: "garbage".into(),
                token_type_hint: String::new(),
            })
            .await,
        "revoke garbage",
    );
}

async fn access_token_errors(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("tokens@example.com")
        .await
        .auth
        .expect("auth");
    let validate = |token: String| {
        let mut client = latchd.token();
        async move {
            client
                .validate_access_token(ValidateAccessTokenRequest {
                    access_token: token,
                    check_session: true,
                })
                .await
        }
    };
    let err = validate(String::new()).await.expect_err("missing");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_field(&err).as_deref(), Some("access_token"));
    for bad in ["not.a.jwt".to_owned(), format!("{}x", auth.access_token)] {
        let err = validate(bad.clone())
            .await
            .expect_err("malformed or tampered");
        assert_eq!(err.code(), Code::Unauthenticated, "{bad:?}");
        assert_eq!(reason(&err), "TOKEN_INVALID", "{bad:?}");
    }
    // Swap the payload of a valid token for another: the signature no longer matches.
    let other = latchd
        .sign_up("other@example.com")
        .await
        .auth
        .expect("auth");
    let parts: Vec<&str> = auth.access_token.split('.').collect();
    let other_parts: Vec<&str> = other.access_token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    let err = validate(forged).await.expect_err("forged");
    assert_eq!(reason(&err), "TOKEN_INVALID");

    latchd.clock.advance(Duration::minutes(16));
    let err = validate(auth.access_token.clone())
        .await
        .expect_err("expired");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "TOKEN_EXPIRED");
}

async fn jwks_is_published(latchd: TestLatchd) {
    let jwks = must(latchd.token().get_jwks(GetJwksRequest {}).await, "jwks")
        .into_inner()
        .jwks_json;
    assert!(
        jwks.contains("\"OKP\"") && jwks.contains("\"Ed25519\""),
        "{jwks}"
    );
    assert!(jwks.contains("\"kid\""), "{jwks}");
    assert!(
        !jwks.contains("\"d\""),
        "no private key material in the JWKS"
    );
}
