//! Known breached passwords over gRPC on both backends: sign-up, reset
//! and change refuse one (`WEAK_PASSWORD`, saying why) even when zxcvbn
//! alone would let it through, and accept a strong one. The reset token
//! is read out of the mail a real SMTP sink received.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use std::time::Duration;

use latch_proto::latch::identity::v1::{
    ChangePasswordRequest, LoginRequest, RequestPasswordResetRequest, ResetPasswordRequest,
};
use latch_testkit::SmtpSink;
use latch_tests::{PASSWORD, TestLatchd, bad_field, bearer, e2e, must, reason, sign_up_request};
use tonic::{Code, Status};

/// Among the 100,000 most common passwords of breach dumps, yet scored 4
/// (the best) by zxcvbn: only the list refuses them.
const BREACHED: [&str; 2] = ["23WKoa0FP78dk", "NE_E_POD_CHEHYL"];
const STRONG: &str = "a brand new passphrase, 2026";

fn assert_breached(status: &Status, field: &str) {
    assert_eq!(
        (status.code(), reason(status), bad_field(status)),
        (
            Code::InvalidArgument,
            "WEAK_PASSWORD".to_owned(),
            Some(field.to_owned())
        ),
        "{status:?}"
    );
    assert!(
        status.message().contains("known breached password"),
        "the refusal says why: {status:?}"
    );
}

async fn login(latchd: &TestLatchd, password: &str) -> Result<(), Status> {
    latchd
        .identity()
        .login(LoginRequest {
            email: "ada@example.com".to_owned(),
            password: password.to_owned(),
            client: None,
        })
        .await
        .map(drop)
}

e2e!(
    mail;
    sign_up_refuses_a_breached_password_and_takes_a_strong_one,
    reset_and_change_refuse_a_breached_password_and_change_nothing,
);

async fn sign_up_refuses_a_breached_password_and_takes_a_strong_one(
    latchd: TestLatchd,
    _smtp: SmtpSink,
) {
    let mut identity = latchd.identity();
    for breached in BREACHED {
        let mut request = sign_up_request("ada@example.com");
        request.password = breached.to_owned();
        let refused = identity.sign_up(request).await.unwrap_err();
        assert_breached(&refused, "password");
    }
    // Nothing was created: the address is still free.
    let mut request = sign_up_request("ada@example.com");
    request.password = STRONG.to_owned();
    must(identity.sign_up(request).await, "a strong password");
    must(login(&latchd, STRONG).await, "and it signs in");
}

async fn reset_and_change_refuse_a_breached_password_and_change_nothing(
    latchd: TestLatchd,
    smtp: SmtpSink,
) {
    latchd.sign_up("ada@example.com").await;
    let signed_in = latchd.login("ada@example.com").await;
    let mut identity = latchd.identity();

    // Change.
    let change = |new: &str| {
        bearer(
            ChangePasswordRequest {
                current_password: PASSWORD.to_owned(),
                new_password: new.to_owned(),
            },
            &signed_in.access_token,
        )
    };
    for breached in BREACHED {
        let refused = identity
            .change_password(change(breached))
            .await
            .unwrap_err();
        assert_breached(&refused, "new_password");
        assert!(login(&latchd, breached).await.is_err());
    }
    must(login(&latchd, PASSWORD).await, "the password is unchanged");

    // Reset, with the token the mail carries.
    must(
        identity
            .request_password_reset(RequestPasswordResetRequest {
                email: "ada@example.com".to_owned(),
                client: None,
            })
            .await,
        "request a reset",
    );
    smtp.wait_for(1, Duration::from_secs(15)).await;
    let mail = smtp
        .messages()
        .into_iter()
        .find(|m| m.subject() == "Reset your password")
        .expect("the reset mail");
    let token = mail
        .text()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .find(|word| word.len() == 43)
        .expect("a token in the mail")
        .to_owned();
    let reset = |password: &str| ResetPasswordRequest {
        reset_token: token.clone(),
        new_password: password.to_owned(),
        client: None,
    };
    for breached in BREACHED {
        let refused = identity.reset_password(reset(breached)).await.unwrap_err();
        assert_breached(&refused, "new_password");
    }
    must(login(&latchd, PASSWORD).await, "the password is unchanged");
    // The refusals left the token usable.
    must(
        identity.reset_password(reset(STRONG)).await,
        "a strong password",
    );
    must(login(&latchd, STRONG).await, "the new password signs in");
}
