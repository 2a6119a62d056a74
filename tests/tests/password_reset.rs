//! Password reset and password change over gRPC on both backends, with
//! latchd's mail going to a real SMTP sink: the reset token is read out of
//! the mail it received.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use latch_proto::latch::{
    identity::v1::{
        ChangePasswordRequest, GetUserRequest, RequestPasswordResetRequest, ResetPasswordRequest,
        identity_service_client::IdentityServiceClient,
    },
    token::v1::RefreshTokensRequest,
};
use latch_testkit::SmtpSink;
use latch_tests::{
    PASSWORD, TestLatchd, assert_refused, bad_field, bearer, e2e,
    mail::{assert_no_mail_to, mails_to, token_in},
    must, password_login, reason,
};
use tonic::{Code, transport::Channel};

const NEW_PASSWORD: &str = "a brand new passphrase, 2026";

async fn request_reset(
    identity: &mut IdentityServiceClient<Channel>,
    email: &str,
) -> Result<(), tonic::Status> {
    identity
        .request_password_reset(RequestPasswordResetRequest {
            email: email.to_owned(),
            client: None,
        })
        .await
        .map(drop)
}

/// Asks for a reset of `email` (Ada's, written in any case) and reads
/// the token out of the one mail Ada gets.
async fn mailed_token(
    identity: &mut IdentityServiceClient<Channel>,
    smtp: &SmtpSink,
    email: &str,
) -> String {
    must(request_reset(identity, email).await, "request");
    let mail = mails_to(smtp, "ada@example.com", "Reset your password", 1).await;
    assert_eq!(mail.len(), 1, "the token arrives");
    token_in(&mail[0].text())
}

async fn reset(
    identity: &mut IdentityServiceClient<Channel>,
    token: &str,
    password: &str,
) -> Result<(), tonic::Status> {
    identity
        .reset_password(ResetPasswordRequest {
            reset_token: token.to_owned(),
            new_password: password.to_owned(),
            client: None,
        })
        .await
        .map(drop)
}

async fn login(latchd: &TestLatchd, password: &str) -> Result<(), tonic::Status> {
    password_login(latchd.identity(), "ada@example.com", password)
        .await
        .map(drop)
}

async fn session_is_live(latchd: &TestLatchd, access_token: &str) -> bool {
    latchd
        .identity()
        .get_user(bearer(
            GetUserRequest {
                user_id: String::new(),
            },
            access_token,
        ))
        .await
        .is_ok()
}

e2e!(
    mail;
    a_mailed_token_resets_the_password_once_and_ends_every_session,
    an_unknown_address_gets_the_same_answer_and_no_mail,
    bad_expired_and_weak_resets_change_nothing,
    a_password_change_keeps_only_the_callers_session,
);

async fn a_mailed_token_resets_the_password_once_and_ends_every_session(
    latchd: TestLatchd,
    smtp: SmtpSink,
) {
    latchd.sign_up("ada@example.com").await;
    let first = latchd.login("ada@example.com").await;
    let second = latchd.login("ada@example.com").await;
    let mut identity = latchd.identity();

    let token = mailed_token(&mut identity, &smtp, "ADA@example.com").await;

    must(reset(&mut identity, &token, NEW_PASSWORD).await, "reset");
    for auth in [&first, &second] {
        assert!(!session_is_live(&latchd, &auth.access_token).await);
        let refreshed = latchd
            .token()
            .refresh_tokens(RefreshTokensRequest {
                refresh_token: auth.refresh_token.clone(),
                client: None,
            })
            .await;
        assert!(refreshed.is_err(), "the refresh family is revoked too");
    }
    must(
        login(&latchd, NEW_PASSWORD).await,
        "the new password signs in",
    );
    let old = login(&latchd, PASSWORD).await.unwrap_err();
    assert_eq!(reason(&old), "INVALID_CREDENTIALS");
    let notice = mails_to(&smtp, "ada@example.com", "Your password was reset", 1).await;
    assert_eq!(notice.len(), 1, "the owner is told");
    assert!(!notice[0].raw().contains(&token));

    assert_refused(
        reset(&mut identity, &token, "yet another passphrase 77").await,
        Code::Unauthenticated,
        "TOKEN_USED",
    );
    must(login(&latchd, NEW_PASSWORD).await, "unchanged by the reuse");
}

async fn an_unknown_address_gets_the_same_answer_and_no_mail(latchd: TestLatchd, smtp: SmtpSink) {
    latchd.sign_up("ada@example.com").await;
    let mut identity = latchd.identity();
    for email in ["ada@example.com", "nobody@example.com"] {
        must(request_reset(&mut identity, email).await, email);
        let again = request_reset(&mut identity, email).await.unwrap_err();
        assert_eq!(reason(&again), "RATE_LIMITED", "{email}");
    }
    let malformed = request_reset(&mut identity, "not an address")
        .await
        .unwrap_err();
    assert_eq!(
        (reason(&malformed), bad_field(&malformed)),
        ("INVALID_ARGUMENT".to_owned(), Some("email".to_owned()))
    );
    assert_eq!(
        mails_to(&smtp, "ada@example.com", "Reset your password", 1)
            .await
            .len(),
        1
    );
    assert_no_mail_to(&smtp, "nobody@example.com").await;
}

async fn bad_expired_and_weak_resets_change_nothing(latchd: TestLatchd, smtp: SmtpSink) {
    latchd.sign_up("ada@example.com").await;
    let session = latchd.login("ada@example.com").await;
    let mut identity = latchd.identity();
    let token = mailed_token(&mut identity, &smtp, "ada@example.com").await;

    let malformed = reset(&mut identity, "not-a-token", NEW_PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(
        (reason(&malformed), bad_field(&malformed)),
        (
            "INVALID_ARGUMENT".to_owned(),
            Some("reset_token".to_owned())
        )
    );
    let unknown = reset(
        &mut identity,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        NEW_PASSWORD,
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&unknown), "TOKEN_INVALID");
    let weak = reset(&mut identity, &token, "password").await.unwrap_err();
    assert_eq!(
        (reason(&weak), bad_field(&weak)),
        ("WEAK_PASSWORD".to_owned(), Some("new_password".to_owned()))
    );

    latchd.clock.advance(chrono::Duration::minutes(15));
    let expired = reset(&mut identity, &token, NEW_PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(reason(&expired), "TOKEN_EXPIRED");

    // (Its access token has expired meanwhile; its refresh token works.)
    must(
        latchd
            .token()
            .refresh_tokens(RefreshTokensRequest {
                refresh_token: session.refresh_token.clone(),
                client: None,
            })
            .await,
        "the session was not touched",
    );
    must(login(&latchd, PASSWORD).await, "the password is unchanged");
}

async fn a_password_change_keeps_only_the_callers_session(latchd: TestLatchd, smtp: SmtpSink) {
    latchd.sign_up("ada@example.com").await;
    let elsewhere = latchd.login("ada@example.com").await;
    let here = latchd.login("ada@example.com").await;
    let mut identity = latchd.identity();
    let change = |current: &str, new: &str| {
        bearer(
            ChangePasswordRequest {
                current_password: current.to_owned(),
                new_password: new.to_owned(),
            },
            &here.access_token,
        )
    };

    assert_refused(
        identity
            .change_password(change("not my password", NEW_PASSWORD))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let weak = identity
        .change_password(change(PASSWORD, "password"))
        .await
        .unwrap_err();
    assert_eq!(reason(&weak), "WEAK_PASSWORD");
    assert!(session_is_live(&latchd, &elsewhere.access_token).await);

    must(
        identity
            .change_password(change(PASSWORD, NEW_PASSWORD))
            .await,
        "change",
    );
    assert!(session_is_live(&latchd, &here.access_token).await);
    assert!(!session_is_live(&latchd, &elsewhere.access_token).await);
    must(
        login(&latchd, NEW_PASSWORD).await,
        "the new password signs in",
    );
    let notice = mails_to(&smtp, "ada@example.com", "Your password was changed", 1).await;
    assert_eq!(notice.len(), 1, "the owner is told");
}
