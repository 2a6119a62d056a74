//! TOTP and recovery codes over real gRPC, on both backends: enrolment,
//! the login challenge and its completion, every refusal with its stable
//! reason, and the new-device notice arriving at a real SMTP server.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use latch_domain::Clock;
use latch_proto::latch::{
    common::v1::AuthResult,
    identity::v1::{
        BeginTotpEnrollmentRequest, BeginTotpEnrollmentResponse, CompleteSecondFactorRequest,
        ConfirmTotpEnrollmentRequest, DisableTotpRequest, GetUserRequest, LoginRequest,
        RegenerateRecoveryCodesRequest, SecondFactorChallenge, SecondFactorMethod,
        complete_second_factor_request::Proof, disable_totp_request,
        identity_service_client::IdentityServiceClient, login_response,
    },
};
use latch_runtime::config::MapSource;
use latch_testkit::{ReceivedMail, SmtpSink};
use latch_tests::{
    PASSWORD, TestLatchd, assert_refused, bad_field, bearer, e2e,
    mail::{mails_where, other_than},
    must, password_login, reason, totp_code_at as code_at,
};
use tonic::{Code, Status, transport::Channel};

type Identity = IdentityServiceClient<Channel>;

e2e!(
    enrolment_then_sign_in_with_a_code_or_a_recovery_code,
    wrong_codes_count_tries_and_the_sixth_is_refused,
    an_expired_or_unknown_login_token_is_refused,
    totp_is_turned_off_with_a_code_or_the_password,
    regenerated_recovery_codes_replace_the_old_set,
);

/// A signed-up user with TOTP on.
struct Enrolled {
    email: String,
    secret: String,
    recovery_codes: Vec<String>,
    auth: AuthResult,
}

impl Enrolled {
    fn code(&self, latchd: &TestLatchd) -> String {
        code_at(&self.secret, latchd.clock.now().timestamp())
    }
}

async fn begin(mut identity: Identity, access_token: &str) -> BeginTotpEnrollmentResponse {
    let request = bearer(BeginTotpEnrollmentRequest {}, access_token);
    must(
        identity.begin_totp_enrollment(request).await,
        "begin enrolment",
    )
    .into_inner()
}

async fn confirm(
    mut identity: Identity,
    access_token: &str,
    code: &str,
) -> Result<Vec<String>, Status> {
    let code = code.to_owned();
    let request = bearer(ConfirmTotpEnrollmentRequest { code }, access_token);
    identity
        .confirm_totp_enrollment(request)
        .await
        .map(|r| r.into_inner().recovery_codes)
}

/// Signs `email` up and turns TOTP on; the clock is then one step later,
/// so the next code is not the one that confirmed.
async fn enrolled(latchd: &TestLatchd, email: &str) -> Enrolled {
    let auth = latchd.sign_up(email).await.auth.expect("tokens at sign-up");
    let enrolment = begin(latchd.identity(), &auth.access_token).await;
    let code = code_at(&enrolment.secret, latchd.clock.now().timestamp());
    let confirmed = confirm(latchd.identity(), &auth.access_token, &code).await;
    latchd.clock.advance(ChronoDuration::seconds(30));
    Enrolled {
        email: email.to_owned(),
        secret: enrolment.secret,
        recovery_codes: must(confirmed, "confirm"),
        auth,
    }
}

/// Login with the right password: a challenge, since TOTP is on.
async fn challenge(identity: &Identity, email: &str) -> SecondFactorChallenge {
    let response = must(
        password_login(identity.clone(), email, PASSWORD).await,
        "login",
    );
    match response.result {
        Some(login_response::Result::SecondFactor(challenge)) => challenge,
        other => panic!("expected a second-factor challenge, got {other:?}"),
    }
}

/// Login with the right password signs in at once: no second factor asked.
async fn signs_in_at_once(identity: &Identity, email: &str, what: &str) {
    let response = must(
        password_login(identity.clone(), email, PASSWORD).await,
        what,
    );
    assert!(
        matches!(response.result, Some(login_response::Result::Auth(_))),
        "{what}: {response:?}"
    );
}

async fn complete(
    identity: &mut Identity,
    login_token: &str,
    proof: Proof,
) -> Result<AuthResult, Status> {
    identity
        .complete_second_factor(CompleteSecondFactorRequest {
            login_token: login_token.to_owned(),
            proof: Some(proof),
            client: None,
        })
        .await
        .map(|r| r.into_inner().auth.expect("tokens"))
}

fn totp(code: &str) -> Proof {
    Proof::TotpCode(code.to_owned())
}

fn recovery(code: &str) -> Proof {
    Proof::RecoveryCode(code.to_owned())
}

async fn totp_enabled(latchd: &TestLatchd, access_token: &str) -> bool {
    let request = bearer(GetUserRequest::default(), access_token);
    must(latchd.identity().get_user(request).await, "get user")
        .into_inner()
        .user
        .expect("user")
        .totp_enabled
}

async fn enrolment_then_sign_in_with_a_code_or_a_recovery_code(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("ada@example.com")
        .await
        .auth
        .expect("tokens");
    let token = auth.access_token.as_str();

    let enrolment = begin(latchd.identity(), token).await;
    assert_eq!(enrolment.secret.len(), 32, "160 bits in base32");
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/Latch:ada%40example.com?"),
        "{}",
        enrolment.otpauth_uri
    );
    assert!(enrolment.otpauth_uri.contains(&enrolment.secret));
    assert!(
        !totp_enabled(&latchd, token).await,
        "pending until confirmed"
    );

    let right = code_at(&enrolment.secret, latchd.clock.now().timestamp());
    let wrong = other_than(&right);
    assert_refused(
        confirm(latchd.identity(), token, &wrong).await,
        Code::InvalidArgument,
        "CODE_INVALID",
    );
    let status = confirm(latchd.identity(), token, "12-45")
        .await
        .expect_err("malformed");
    assert_eq!(reason(&status), "INVALID_ARGUMENT");
    assert_eq!(bad_field(&status).as_deref(), Some("code"));
    let recovery_codes = must(confirm(latchd.identity(), token, &right).await, "confirm");
    assert_eq!(recovery_codes.len(), 10);
    assert!(totp_enabled(&latchd, token).await);
    assert_refused(
        confirm(latchd.identity(), token, &right).await,
        Code::FailedPrecondition,
        "TOTP_ENROLLMENT_NOT_STARTED",
    );
    assert_refused(
        latchd
            .identity()
            .begin_totp_enrollment(bearer(BeginTotpEnrollmentRequest {}, token))
            .await,
        Code::FailedPrecondition,
        "TOTP_ALREADY_ENABLED",
    );
    let ada = Enrolled {
        email: "ada@example.com".to_owned(),
        secret: enrolment.secret,
        recovery_codes,
        auth: auth.clone(),
    };

    // A wrong password is refused as ever, with no challenge.
    let mut identity = latchd.identity();
    assert_refused(
        identity
            .login(LoginRequest {
                email: ada.email.clone(),
                password: "not the password at all".to_owned(),
                client: None,
            })
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );

    // The code that confirmed is spent; the next step's signs in.
    let first = challenge(&identity, &ada.email).await;
    assert_eq!(
        first.methods,
        [
            SecondFactorMethod::Totp as i32,
            SecondFactorMethod::RecoveryCode as i32
        ]
    );
    let expires = first.expires_at.expect("expiry");
    assert_eq!(
        expires.seconds,
        (latchd.clock.now() + ChronoDuration::minutes(5)).timestamp()
    );
    let first = first.login_token.as_str();
    assert_refused(
        complete(&mut identity, first, totp(&right)).await,
        Code::FailedPrecondition,
        "CODE_USED",
    );
    latchd.clock.advance(ChronoDuration::seconds(30));
    let code = ada.code(&latchd);
    let signed_in = must(
        complete(&mut identity, first, totp(&code)).await,
        "complete with TOTP",
    );
    assert!(
        totp_enabled(&latchd, &signed_in.access_token).await,
        "a working access token"
    );
    assert_ne!(
        signed_in.session_id, ada.auth.session_id,
        "a session of its own"
    );

    // The token is single use, and so is the code, even with a new token.
    assert_refused(
        complete(&mut identity, first, totp(&code)).await,
        Code::Unauthenticated,
        "TOKEN_USED",
    );
    let second = challenge(&identity, &ada.email).await.login_token;
    assert_refused(
        complete(&mut identity, &second, totp(&code)).await,
        Code::FailedPrecondition,
        "CODE_USED",
    );

    // A recovery code works once.
    let recovery_code = &ada.recovery_codes[0];
    must(
        complete(&mut identity, &second, recovery(recovery_code)).await,
        "complete with a recovery code",
    );
    let third = challenge(&identity, &ada.email).await.login_token;
    assert_refused(
        complete(&mut identity, &third, recovery(recovery_code)).await,
        Code::InvalidArgument,
        "CODE_INVALID",
    );
    let passkey = Proof::PasskeyAssertionJson("{}".to_owned());
    let status = complete(&mut identity, &third, passkey)
        .await
        .expect_err("no passkey offered");
    assert_eq!(
        bad_field(&status).as_deref(),
        Some("passkey_assertion_json")
    );
}

async fn wrong_codes_count_tries_and_the_sixth_is_refused(latchd: TestLatchd) {
    let ada = enrolled(&latchd, "ada@example.com").await;
    let mut identity = latchd.identity();
    let token = challenge(&identity, &ada.email).await.login_token;
    let right = ada.code(&latchd);
    let wrong = other_than(&right);

    let status = complete(&mut identity, &token, totp("12345"))
        .await
        .expect_err("malformed");
    assert_eq!(
        bad_field(&status).as_deref(),
        Some("totp_code"),
        "no try spent"
    );
    for _ in 0..5 {
        assert_refused(
            complete(&mut identity, &token, totp(&wrong)).await,
            Code::InvalidArgument,
            "CODE_INVALID",
        );
    }
    assert_refused(
        complete(&mut identity, &token, totp(&right)).await,
        Code::FailedPrecondition,
        "TOO_MANY_ATTEMPTS",
    );
    // Nothing was spent by the refusals: the code still signs in anew,
    // once the account's backoff (five failed codes) has passed.
    latchd.clock.advance(ChronoDuration::seconds(1));
    let again = challenge(&identity, &ada.email).await.login_token;
    must(
        complete(&mut identity, &again, totp(&right)).await,
        "the right code on a new login",
    );
}

async fn an_expired_or_unknown_login_token_is_refused(latchd: TestLatchd) {
    let ada = enrolled(&latchd, "ada@example.com").await;
    let mut identity = latchd.identity();
    let token = challenge(&identity, &ada.email).await.login_token;

    latchd.clock.advance(ChronoDuration::minutes(5));
    assert_refused(
        complete(&mut identity, &token, totp(&ada.code(&latchd))).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    assert_refused(
        complete(&mut identity, "not-a-login-token", totp(&ada.code(&latchd))).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    let status = identity
        .complete_second_factor(CompleteSecondFactorRequest {
            login_token: token,
            proof: None,
            client: None,
        })
        .await
        .expect_err("no proof");
    assert_eq!(bad_field(&status).as_deref(), Some("proof"));
}

async fn disable(
    mut identity: Identity,
    access_token: &str,
    proof: disable_totp_request::Proof,
) -> Result<(), Status> {
    let request = bearer(DisableTotpRequest { proof: Some(proof) }, access_token);
    identity.disable_totp(request).await.map(drop)
}

async fn totp_is_turned_off_with_a_code_or_the_password(latchd: TestLatchd) {
    use disable_totp_request::Proof as Off;
    let ada = enrolled(&latchd, "ada@example.com").await;
    let token = ada.auth.access_token.clone();
    let off = |proof: Off| disable(latchd.identity(), &token, proof);

    assert_refused(
        off(Off::Password("not the password at all".into())).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_refused(
        off(Off::TotpCode(other_than(&ada.code(&latchd)))).await,
        Code::InvalidArgument,
        "CODE_INVALID",
    );
    assert!(
        totp_enabled(&latchd, &token).await,
        "refusals change nothing"
    );
    must(off(Off::TotpCode(ada.code(&latchd))).await, "off by code");
    assert!(!totp_enabled(&latchd, &token).await);
    // A password login now signs in at once.
    latchd.login(&ada.email).await;
    assert_refused(
        off(Off::Password(PASSWORD.into())).await,
        Code::FailedPrecondition,
        "TOTP_NOT_ENABLED",
    );

    let again = begin(latchd.identity(), &token).await;
    let code = code_at(&again.secret, latchd.clock.now().timestamp());
    must(
        confirm(latchd.identity(), &token, &code).await,
        "enrol again",
    );
    must(off(Off::Password(PASSWORD.into())).await, "off by password");
    assert!(!totp_enabled(&latchd, &token).await);
    let status = latchd
        .identity()
        .disable_totp(bearer(DisableTotpRequest { proof: None }, &token))
        .await
        .expect_err("no proof");
    assert_eq!(bad_field(&status).as_deref(), Some("proof"));
}

async fn regenerate(latchd: &TestLatchd, access_token: &str) -> Result<Vec<String>, Status> {
    latchd
        .identity()
        .regenerate_recovery_codes(bearer(RegenerateRecoveryCodesRequest {}, access_token))
        .await
        .map(|r| r.into_inner().recovery_codes)
}

async fn regenerated_recovery_codes_replace_the_old_set(latchd: TestLatchd) {
    let ada = enrolled(&latchd, "ada@example.com").await;
    let fresh = must(
        regenerate(&latchd, &ada.auth.access_token).await,
        "regenerate",
    );
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !ada.recovery_codes.contains(c)));

    let mut identity = latchd.identity();
    let token = challenge(&identity, &ada.email).await.login_token;
    assert_refused(
        complete(&mut identity, &token, recovery(&ada.recovery_codes[0])).await,
        Code::InvalidArgument,
        "CODE_INVALID",
    );
    must(
        complete(&mut identity, &token, recovery(&fresh[0])).await,
        "a new code",
    );

    let bob = latchd
        .sign_up("bob@example.com")
        .await
        .auth
        .expect("tokens");
    assert_refused(
        regenerate(&latchd, &bob.access_token).await,
        Code::FailedPrecondition,
        "TOTP_NOT_ENABLED",
    );
    assert_refused(
        latchd
            .identity()
            .regenerate_recovery_codes(RegenerateRecoveryCodesRequest {})
            .await,
        Code::Unauthenticated,
        "AUTHENTICATION_REQUIRED",
    );
}

// ---------------------------------------------------------------- mail

e2e!(mail; new_device_mail_arrives_only_for_a_new_device);

const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";

/// Identity reached through a client whose user agent is a browser's.
fn identity_from_firefox(latchd: &TestLatchd) -> Identity {
    let channel = Channel::from_shared(format!("http://{}", latchd.addr))
        .expect("url")
        .user_agent(FIREFOX_LINUX)
        .expect("user agent")
        .connect_lazy();
    IdentityServiceClient::new(channel)
}

fn is_new_device_notice(mail: &ReceivedMail) -> bool {
    mail.subject().contains("New sign-in")
}

async fn new_device_mail_arrives_only_for_a_new_device(latchd: TestLatchd, smtp: SmtpSink) {
    latchd.sign_up("ada@example.com").await;
    // The first sign-in after sign-up, then the same device again.
    latchd.login("ada@example.com").await;
    latchd.login("ada@example.com").await;

    let firefox = identity_from_firefox(&latchd);
    signs_in_at_once(&firefox, "ada@example.com", "login from a new device").await;

    let notices = mails_where(&smtp, 1, is_new_device_notice).await;
    assert_eq!(notices.len(), 1, "one notice, for the new device only");
    let mail = &notices[0];
    assert_eq!(mail.to, ["ada@example.com"]);
    let text = mail.text();
    assert!(text.contains("Firefox on Linux"), "{text}");
    assert!(text.contains("network 127.0.0.0/24"), "{text}");
    let time = latchd.clock.now().format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(text.contains(&time), "{text}");

    // Known from now on; a little later nothing more has arrived.
    signs_in_at_once(&firefox, "ada@example.com", "login again").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let notices = smtp.messages().into_iter().filter(is_new_device_notice);
    assert_eq!(notices.count(), 1);
}

// ---------------------------------------------------------------- separate servers

/// The identity binary on its own (PostgreSQL, Redis flow state, siblings
/// over gRPC): enrolment, the challenge, a replayed code refused, a
/// recovery code signing in, TOTP turned off. Real time here, so the
/// sign-in uses a recovery code rather than waiting for the next step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_across_five_servers() {
    use latch_domain::SystemClock;
    use latch_tests::{separate::FiveServers, sign_up};

    let smtp = SmtpSink::start().await;
    let settings = MapSource::new()
        .with("LATCH_SMTP_URL", smtp.url())
        .with("LATCH_SMTP_FROM", "latch@example.com");
    let Some(servers) = FiveServers::start(settings).await else {
        return;
    };
    let auth = sign_up(servers.identity(), "split@example.com")
        .await
        .auth
        .expect("tokens");
    let token = auth.access_token.as_str();
    let mut identity = servers.identity();
    let enrolment = begin(identity.clone(), token).await;
    let code = code_at(&enrolment.secret, SystemClock.now().timestamp());
    let recovery_codes = must(confirm(identity.clone(), token, &code).await, "confirm");
    assert_eq!(recovery_codes.len(), 10);

    let login_token = challenge(&identity, "split@example.com").await.login_token;
    assert_refused(
        complete(&mut identity, &login_token, totp(&code)).await,
        Code::FailedPrecondition,
        "CODE_USED",
    );
    let signed_in = must(
        complete(&mut identity, &login_token, recovery(&recovery_codes[0])).await,
        "complete with a recovery code",
    );
    assert_refused(
        complete(&mut identity, &login_token, recovery(&recovery_codes[1])).await,
        Code::Unauthenticated,
        "TOKEN_USED",
    );
    let off = disable_totp_request::Proof::Password(PASSWORD.into());
    let disabled = disable(identity.clone(), &signed_in.access_token, off).await;
    must(disabled, "disable");
    signs_in_at_once(&identity, "split@example.com", "login without TOTP").await;
}
