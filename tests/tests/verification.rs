//! Email and phone verification, and email change, over gRPC on both
//! backends, with latchd's mail going to a real SMTP sink and its SMS to a
//! real HTTP listener: codes are read out of what they received.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failing test should panic

use latch_proto::latch::{
    common::v1::User,
    identity::v1::{
        ChangeEmailRequest, GetUserRequest, SendEmailVerificationRequest,
        SendPhoneVerificationRequest, VerifyEmailRequest, VerifyPhoneRequest,
        identity_service_client::IdentityServiceClient,
    },
};
use latch_runtime::config::MapSource;
use latch_testkit::{SmtpSink, WebhookSink};
use latch_tests::{
    Backend, PASSWORD, TestLatchd, assert_refused, bad_field, bearer, e2e, log_in,
    mail::{WAIT, assert_no_mail_to, code_in, mails_to, other_than},
    must, password_login, reason, start_with_mail,
};
use tonic::{Code, transport::Channel};

async fn send_email_code(
    identity: &mut IdentityServiceClient<Channel>,
    email: &str,
) -> Result<(), tonic::Status> {
    identity
        .send_email_verification(SendEmailVerificationRequest {
            email: email.to_owned(),
            client: None,
        })
        .await
        .map(drop)
}

async fn verify_email(
    identity: &mut IdentityServiceClient<Channel>,
    email: &str,
    code: &str,
) -> Result<User, tonic::Status> {
    identity
        .verify_email(VerifyEmailRequest {
            code: code.to_owned(),
            email: email.to_owned(),
            client: None,
        })
        .await
        .map(|r| r.into_inner().user.expect("a user"))
}

/// Sends a code to `email` (Ada's, written in any case) and reads it out of
/// the one mail Ada gets.
async fn mailed_code(
    identity: &mut IdentityServiceClient<Channel>,
    smtp: &SmtpSink,
    email: &str,
) -> String {
    must(send_email_code(identity, email).await, "send");
    let mail = mails_to(smtp, "ada@example.com", "Verify your email address", 1).await;
    assert_eq!(mail.len(), 1, "the code arrives");
    code_in(&mail[0].text())
}

/// Ada's account as she reads it once signed in.
async fn ada_signed_in(latchd: &TestLatchd) -> User {
    let auth = latchd.login("ada@example.com").await;
    let request = bearer(GetUserRequest::default(), &auth.access_token);
    must(latchd.identity().get_user(request).await, "get user")
        .into_inner()
        .user
        .expect("a user")
}

e2e!(
    mail;
    a_mailed_code_verifies_the_address_without_a_bearer_token,
    an_unknown_address_is_answered_like_a_known_one,
    an_expired_code_is_refused_and_changes_nothing,
    a_changed_email_starts_unverified_and_the_old_address_is_told,
);

async fn a_mailed_code_verifies_the_address_without_a_bearer_token(
    latchd: TestLatchd,
    smtp: SmtpSink,
) {
    let ada = latchd
        .sign_up("ada@example.com")
        .await
        .user
        .expect("a user");
    assert!(!ada.email_verified);
    let mut identity = latchd.identity();
    let code = mailed_code(&mut identity, &smtp, "Ada@Example.com").await;

    assert_refused(
        verify_email(&mut identity, "ada@example.com", &other_than(&code)).await,
        Code::InvalidArgument,
        "CODE_INVALID",
    );
    let malformed = verify_email(&mut identity, "ada@example.com", "12 34")
        .await
        .unwrap_err();
    assert_eq!(reason(&malformed), "INVALID_ARGUMENT");
    assert_eq!(bad_field(&malformed).as_deref(), Some("code"));

    let user = must(
        verify_email(&mut identity, "ada@example.com", &code).await,
        "verify",
    );
    assert!(user.email_verified);
    assert_refused(
        verify_email(&mut identity, "ada@example.com", &code).await,
        Code::FailedPrecondition,
        "CODE_USED",
    );

    assert!(ada_signed_in(&latchd).await.email_verified);
}

/// Step by step, an address with no account gets what one with an account
/// gets; only the account's owner receives a mail.
async fn an_unknown_address_is_answered_like_a_known_one(latchd: TestLatchd, smtp: SmtpSink) {
    latchd.sign_up("ada@example.com").await;
    let mut identity = latchd.identity();
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let mut seen = Vec::new();
        let status = |r: Result<(), tonic::Status>| r.err().map(|s| reason(&s));
        seen.push(status(send_email_code(&mut identity, email).await));
        seen.push(status(send_email_code(&mut identity, email).await));
        for _ in 0..6 {
            seen.push(status(
                verify_email(&mut identity, email, "000000").await.map(drop),
            ));
        }
        answers.push(seen);
    }
    let expected: Vec<Option<String>> = [None, Some("RATE_LIMITED")]
        .into_iter()
        .chain(std::iter::repeat_n(Some("CODE_INVALID"), 5))
        .chain([Some("TOO_MANY_ATTEMPTS")])
        .map(|r| r.map(str::to_owned))
        .collect();
    // (A mailed code of 000000 would pass once in a million runs.)
    assert_eq!(answers[0], expected, "a known address");
    assert_eq!(answers[1], expected, "an unknown address");

    let to_ada = mails_to(&smtp, "ada@example.com", "Verify your email address", 1).await;
    assert_eq!(to_ada.len(), 1);
    assert_no_mail_to(&smtp, "nobody@example.com").await;
}

async fn an_expired_code_is_refused_and_changes_nothing(latchd: TestLatchd, smtp: SmtpSink) {
    latchd.sign_up("ada@example.com").await;
    let mut identity = latchd.identity();
    let code = mailed_code(&mut identity, &smtp, "ada@example.com").await;
    latchd.clock.advance(chrono::Duration::minutes(15));
    assert_refused(
        verify_email(&mut identity, "ada@example.com", &code).await,
        Code::FailedPrecondition,
        "CODE_EXPIRED",
    );
    assert!(!ada_signed_in(&latchd).await.email_verified);
}

async fn a_changed_email_starts_unverified_and_the_old_address_is_told(
    latchd: TestLatchd,
    smtp: SmtpSink,
) {
    latchd.sign_up("ada@example.com").await;
    latchd.sign_up("bob@example.com").await;
    let auth = latchd.login("ada@example.com").await;
    let mut identity = latchd.identity();
    let change = |new_email: &str, password: &str| {
        bearer(
            ChangeEmailRequest {
                new_email: new_email.to_owned(),
                current_password: password.to_owned(),
            },
            &auth.access_token,
        )
    };

    assert_refused(
        identity
            .change_email(change("BOB@example.com", PASSWORD))
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    let wrong = identity
        .change_email(change("ada@example.org", "not my password"))
        .await
        .unwrap_err();
    assert_eq!(reason(&wrong), "INVALID_CREDENTIALS");

    let user = must(
        identity
            .change_email(change("Ada@Example.org", PASSWORD))
            .await,
        "change",
    )
    .into_inner()
    .user
    .expect("a user");
    assert_eq!(user.email, "ada@example.org");
    assert!(!user.email_verified);

    let notice = mails_to(
        &smtp,
        "ada@example.com",
        "Your email address was changed",
        1,
    )
    .await;
    assert_eq!(notice.len(), 1, "the old address is told");
    assert!(notice[0].text().contains("ada@example.org"));
    let code_mail = mails_to(&smtp, "ada@example.org", "Verify your email address", 1).await;
    assert_eq!(code_mail.len(), 1, "the new address gets a code");
    let verified = must(
        verify_email(
            &mut identity,
            "ada@example.org",
            &code_in(&code_mail[0].text()),
        )
        .await,
        "verify the new address",
    );
    assert!(verified.email_verified);
    log_in(latchd.identity(), "ada@example.org").await;
}

/// Sign-up with verified email required: no tokens, the first code by
/// mail, login refused until it is used, without any bearer token.
async fn a_person_who_cannot_sign_in_yet_verifies_with_the_mailed_code(
    latchd: TestLatchd,
    smtp: SmtpSink,
) {
    let signed_up = latchd.sign_up("ada@example.com").await;
    assert!(signed_up.auth.is_none());
    let mut identity = latchd.identity();
    let refused = password_login(latchd.identity(), "ada@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "EMAIL_NOT_VERIFIED");

    let mail = mails_to(&smtp, "ada@example.com", "Verify your email address", 1).await;
    assert_eq!(mail.len(), 1, "sign-up mails the first code");
    must(
        verify_email(&mut identity, "ada@example.com", &code_in(&mail[0].text())).await,
        "verify",
    );
    latchd.login("ada@example.com").await;

    // A second sign-up with the address: the same answer, and the owner is told.
    let again = latchd.sign_up("ADA@example.com").await;
    assert!(again.auth.is_none());
    let notice = mails_to(
        &smtp,
        "ada@example.com",
        "Someone tried to sign up with your address",
        1,
    )
    .await;
    assert_eq!(notice.len(), 1);
}

fn verified_email_required() -> MapSource {
    MapSource::new().with("LATCH_REQUIRE_VERIFIED_EMAIL", "true")
}

e2e!(
    mail, settings = verified_email_required;
    a_person_who_cannot_sign_in_yet_verifies_with_the_mailed_code,
);

// ---------------------------------------------------------------- phone

/// latchd with its SMS going to a real HTTP listener.
async fn with_sms<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestLatchd, WebhookSink) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let webhook = WebhookSink::start().await;
    let settings = MapSource::new()
        .with("LATCH_SMS_WEBHOOK_URL", webhook.url())
        .with(
            "LATCH_SMS_WEBHOOK_SECRET",
            "a webhook secret of some length, 42",
        );
    match start_with_mail(backend, settings).await {
        Some((latchd, _smtp)) => scenario(latchd, webhook).await,
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_verification_embedded() {
    with_sms(Backend::Embedded, a_texted_code_verifies_the_phone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_verification_postgres_redis() {
    with_sms(Backend::PostgresRedis, a_texted_code_verifies_the_phone).await;
}

async fn a_texted_code_verifies_the_phone(latchd: TestLatchd, webhook: WebhookSink) {
    latchd.sign_up("ada@example.com").await;
    let auth = latchd.login("ada@example.com").await;
    let mut identity = latchd.identity();
    let send = |phone: Option<&str>| {
        bearer(
            SendPhoneVerificationRequest {
                phone: phone.map(str::to_owned),
            },
            &auth.access_token,
        )
    };
    let verify = |code: &str| {
        bearer(
            VerifyPhoneRequest {
                code: code.to_owned(),
            },
            &auth.access_token,
        )
    };

    let none = identity
        .send_phone_verification(send(None))
        .await
        .unwrap_err();
    assert_eq!(
        (reason(&none), bad_field(&none)),
        ("INVALID_ARGUMENT".to_owned(), Some("phone".to_owned()))
    );
    let malformed = identity
        .send_phone_verification(send(Some("415 555 0100")))
        .await
        .unwrap_err();
    assert_eq!(reason(&malformed), "INVALID_ARGUMENT");

    must(
        identity
            .send_phone_verification(send(Some("+1 (415) 555-0100")))
            .await,
        "send",
    );
    let requests = webhook.wait_for(1, WAIT).await;
    assert_eq!(requests.len(), 1, "the SMS arrives");
    let body = requests[0].json();
    assert_eq!(body["to"], "+14155550100");
    let code = code_in(body["body"].as_str().expect("a body"));

    let wrong = identity
        .verify_phone(verify(&other_than(&code)))
        .await
        .unwrap_err();
    assert_eq!(reason(&wrong), "CODE_INVALID");
    let user = must(identity.verify_phone(verify(&code)).await, "verify")
        .into_inner()
        .user
        .expect("a user");
    assert_eq!(user.phone.as_deref(), Some("+14155550100"));
    assert!(user.phone_verified);
    let again = identity.verify_phone(verify(&code)).await.unwrap_err();
    assert_eq!(reason(&again), "CODE_USED");
    assert_refused(
        identity.send_phone_verification(send(None)).await,
        Code::FailedPrecondition,
        "ALREADY_VERIFIED",
    );
}
