//! Sign-up, login and logout over real gRPC, with the errors a client sees.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use latch_proto::latch::{
    authorization::v1::ListUserRolesRequest,
    identity::v1::LoginRequest,
    profile::v1::GetProfileRequest,
    token::v1::{RefreshTokensRequest, ValidateAccessTokenRequest},
};
use latch_tests::{PASSWORD, TestLatchd, bad_field, bearer, e2e, must, reason, sign_up_request};
use tonic::Code;

e2e!(
    sign_up_creates_user_profile_role_and_tokens,
    login_then_logout_ends_the_session,
    bad_sign_up_input_changes_nothing,
    wrong_password_and_unknown_email_look_the_same
);

async fn sign_up_creates_user_profile_role_and_tokens(latchd: TestLatchd) {
    let response = latchd.sign_up("  Ada@Example.COM ").await;
    let user = response.user.expect("user");
    assert_eq!(user.email, "ada@example.com", "email normalised");
    let auth = response.auth.expect("tokens at sign-up");
    assert_eq!(auth.user_id, user.id);

    let profile = must(
        latchd
            .profile()
            .get_profile(bearer(GetProfileRequest::default(), &auth.access_token))
            .await,
        "get profile",
    )
    .into_inner()
    .profile
    .expect("profile");
    assert_eq!(
        (profile.first_name.as_str(), profile.last_name.as_str()),
        ("Ada", "Lovelace")
    );

    let roles = must(
        latchd
            .authorization()
            .list_user_roles(bearer(ListUserRolesRequest::default(), &auth.access_token))
            .await,
        "roles",
    )
    .into_inner()
    .roles;
    assert_eq!(
        roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["USER"]
    );

    let claims = must(
        latchd
            .token()
            .validate_access_token(ValidateAccessTokenRequest {
                access_token: auth.access_token.clone(),
                check_session: true,
            })
            .await,
        "validate",
    )
    .into_inner()
    .claims
    .expect("claims");
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.sid, auth.session_id);
    assert_eq!(claims.roles, ["USER"]);
}

async fn login_then_logout_ends_the_session(latchd: TestLatchd) {
    latchd.sign_up("grace@example.com").await;
    let auth = latchd.login("GRACE@example.com").await;
    latchd.logout(&auth.access_token).await;

    // The access token is still signed and unexpired, but its session is gone.
    let err = latchd
        .profile()
        .get_profile(bearer(GetProfileRequest::default(), &auth.access_token))
        .await
        .expect_err("a logged-out token must not work");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "SESSION_REVOKED");

    let err = latchd
        .token()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: auth.refresh_token,
            client: None,
        })
        .await
        .expect_err("the family dies with the session");
    assert_eq!(err.code(), Code::Unauthenticated);
}

async fn bad_sign_up_input_changes_nothing(latchd: TestLatchd) {
    let cases = [
        (
            sign_up_request("not-an-email"),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("email"),
        ),
        (
            latch_proto::latch::identity::v1::SignUpRequest {
                password: "password1".into(),
                ..sign_up_request("weak@example.com")
            },
            Code::InvalidArgument,
            "WEAK_PASSWORD",
            Some("password"),
        ),
        (
            latch_proto::latch::identity::v1::SignUpRequest {
                password: "x".repeat(129),
                ..sign_up_request("long@example.com")
            },
            Code::InvalidArgument,
            "WEAK_PASSWORD",
            Some("password"),
        ),
        (
            latch_proto::latch::identity::v1::SignUpRequest {
                first_name: "  ".into(),
                ..sign_up_request("noname@example.com")
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("first_name"),
        ),
        (
            latch_proto::latch::identity::v1::SignUpRequest {
                last_name: "x".repeat(101),
                ..sign_up_request("longname@example.com")
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("last_name"),
        ),
    ];
    for (request, code, expected_reason, field) in cases {
        let email = request.email.clone();
        let err = latchd
            .identity()
            .sign_up(request)
            .await
            .expect_err("bad input refused");
        assert_eq!(err.code(), code, "{email}");
        assert_eq!(reason(&err), expected_reason, "{email}");
        assert_eq!(bad_field(&err).as_deref(), field, "{email}");
        // Nothing was created: the address is still free.
        if email.contains('@') && !email.starts_with("not") {
            let retry = latchd.identity().sign_up(sign_up_request(&email)).await;
            assert!(retry.is_ok(), "{email} was left taken: {retry:?}");
        }
    }

    latchd.sign_up("taken@example.com").await;
    let err = latchd
        .identity()
        .sign_up(sign_up_request("TAKEN@Example.com"))
        .await
        .expect_err("duplicate");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(reason(&err), "EMAIL_TAKEN");
}

async fn wrong_password_and_unknown_email_look_the_same(latchd: TestLatchd) {
    latchd.sign_up("known@example.com").await;
    let attempt = |email: &str, password: &str| LoginRequest {
        email: email.into(),
        password: password.into(),
        client: None,
    };
    let wrong = latchd
        .identity()
        .login(attempt("known@example.com", "not the password at all"))
        .await
        .expect_err("wrong password");
    let unknown = latchd
        .identity()
        .login(attempt("nobody@example.com", PASSWORD))
        .await
        .expect_err("unknown email");
    for err in [&wrong, &unknown] {
        assert_eq!(err.code(), Code::Unauthenticated);
        assert_eq!(reason(err), "INVALID_CREDENTIALS");
    }
    assert_eq!(
        wrong.message(),
        unknown.message(),
        "no enumeration through the message"
    );
}
