//! Passkeys over real gRPC, on both backends, with the software
//! authenticator of `latch_testkit::passkey` playing the browser: the
//! registration and sign-in ceremonies (with and without an email), a
//! passkey as the second factor, management, and every refusal with its
//! stable reason and with nothing changed (the user's passkeys and
//! sessions as they were).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::future::Future;

use chrono::Duration;
use latch_domain::Clock;
use latch_proto::latch::{
    common::v1::AuthResult,
    identity::v1::{
        BeginTotpEnrollmentRequest, CompleteSecondFactorRequest, ConfirmTotpEnrollmentRequest,
        DeletePasskeyRequest, FinishPasskeyLoginRequest, FinishPasskeyRegistrationRequest,
        GetUserRequest, ListIdentitiesRequest, ListLoginHistoryRequest, ListPasskeysRequest,
        LoginMethod, Passkey, SecondFactorChallenge, SecondFactorMethod, StartPasskeyLoginRequest,
        StartPasskeyLoginResponse, StartPasskeyRegistrationRequest,
        StartPasskeyRegistrationResponse, UnlinkIdentityRequest,
        complete_second_factor_request::Proof, login_response,
    },
    session::v1::ListSessionsRequest,
};
use latch_runtime::config::MapSource;
use latch_testkit::passkey::{Authenticator, Counter};
use latch_tests::{
    Backend, PASSWORD, TestLatchd, assert_refused, bearer, e2e, must, oidc::OidcProvider,
    password_login, totp_code_at,
};
use serde_json::Value;
use tonic::{Code, Status};

/// The relying party these tests configure: passkeys belong to `RP_ID`,
/// and pages at `ORIGIN` may run the ceremonies.
const RP_ID: &str = "login.example.com";
const ORIGIN: &str = "https://login.example.com";

fn relying_party() -> MapSource {
    MapSource::new()
        .with("LATCH_WEBAUTHN_RP_ID", RP_ID)
        .with("LATCH_WEBAUTHN_RP_NAME", "Example")
        .with("LATCH_WEBAUTHN_ORIGINS", ORIGIN)
}

e2e!(
    settings = relying_party;
    a_registered_passkey_signs_in_with_an_email,
    a_discoverable_passkey_signs_in_without_an_email,
    an_unknown_email_gets_look_alike_options_then_fails,
    a_passkey_is_the_second_factor_after_a_password,
    a_passkey_enrolled_as_second_factor_is_asked_alone,
    another_origin_is_refused,
    another_rp_id_is_refused,
    no_user_verification_is_refused,
    a_ceremony_answers_once,
    an_expired_ceremony_is_refused,
    a_tampered_signature_is_refused,
    a_counter_that_goes_back_marks_the_passkey_and_keeps_it_refused,
    a_credential_of_another_user_is_refused,
    a_deleted_passkey_no_longer_signs_in,
);

// ------------------------------------------------------------ ceremonies

/// StartPasskeyRegistration for the holder of `token`.
async fn start_registration(latchd: &TestLatchd, token: &str) -> StartPasskeyRegistrationResponse {
    let request = bearer(StartPasskeyRegistrationRequest {}, token);
    must(
        latchd.identity().start_passkey_registration(request).await,
        "start registration",
    )
    .into_inner()
}

async fn finish_registration(
    latchd: &TestLatchd,
    token: &str,
    registration_id: &str,
    attestation_json: String,
    second_factor: bool,
) -> Result<Passkey, Status> {
    let request = FinishPasskeyRegistrationRequest {
        registration_id: registration_id.to_owned(),
        attestation_json,
        name: "Laptop".to_owned(),
        second_factor,
    };
    latchd
        .identity()
        .finish_passkey_registration(bearer(request, token))
        .await
        .map(|r| r.into_inner().passkey.expect("a passkey"))
}

/// The whole registration of a new credential of `authenticator`.
async fn register(
    latchd: &TestLatchd,
    token: &str,
    authenticator: &mut Authenticator,
    second_factor: bool,
) -> Passkey {
    let started = start_registration(latchd, token).await;
    let created = must(
        authenticator.create(&started.creation_options_json),
        "authenticator create",
    );
    must(
        finish_registration(
            latchd,
            token,
            &started.registration_id,
            created.json,
            second_factor,
        )
        .await,
        "finish registration",
    )
}

async fn start_login(latchd: &TestLatchd, email: Option<&str>) -> StartPasskeyLoginResponse {
    let request = StartPasskeyLoginRequest {
        email: email.map(str::to_owned),
    };
    must(
        latchd.identity().start_passkey_login(request).await,
        "start login",
    )
    .into_inner()
}

async fn finish_login(
    latchd: &TestLatchd,
    login_id: &str,
    assertion_json: String,
) -> Result<AuthResult, Status> {
    let request = FinishPasskeyLoginRequest {
        login_id: login_id.to_owned(),
        assertion_json,
        client: None,
    };
    latchd
        .identity()
        .finish_passkey_login(request)
        .await
        .map(|r| r.into_inner().auth.expect("tokens"))
}

/// A whole passkey sign-in by `authenticator` (for `email`, or
/// discoverable without one).
async fn sign_in(
    latchd: &TestLatchd,
    authenticator: &mut Authenticator,
    email: Option<&str>,
) -> Result<AuthResult, Status> {
    let started = start_login(latchd, email).await;
    let assertion = must(
        authenticator.get(&started.request_options_json),
        "authenticator get",
    );
    finish_login(latchd, &started.login_id, assertion).await
}

// ------------------------------------------------------------ what is seen

async fn passkeys(latchd: &TestLatchd, token: &str) -> Vec<Passkey> {
    let request = bearer(ListPasskeysRequest::default(), token);
    must(
        latchd.identity().list_passkeys(request).await,
        "list passkeys",
    )
    .into_inner()
    .passkeys
}

/// The ids of the user's sessions, revoked ones too.
async fn sessions(latchd: &TestLatchd, token: &str) -> Vec<String> {
    let request = ListSessionsRequest {
        include_revoked: true,
        ..Default::default()
    };
    let listed = must(
        latchd.session().list_sessions(bearer(request, token)).await,
        "list sessions",
    );
    let mut ids: Vec<String> = listed
        .into_inner()
        .sessions
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

/// What a refusal must leave as it was: the passkeys and the sessions.
#[derive(Debug, PartialEq)]
struct Snapshot {
    passkeys: Vec<Passkey>,
    sessions: Vec<String>,
}

async fn snapshot(latchd: &TestLatchd, token: &str) -> Snapshot {
    Snapshot {
        passkeys: passkeys(latchd, token).await,
        sessions: sessions(latchd, token).await,
    }
}

/// The tokens work on a user RPC, for `email`'s account.
async fn assert_signed_in_as(latchd: &TestLatchd, auth: &AuthResult, email: &str) {
    let request = bearer(GetUserRequest::default(), &auth.access_token);
    let user = must(latchd.identity().get_user(request).await, "get user")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.email, email);
    assert_eq!(user.id, auth.user_id);
}

/// A signed-up user with a registered passkey on its own authenticator.
struct Holder {
    email: String,
    auth: AuthResult,
    authenticator: Authenticator,
    passkey: Passkey,
}

impl Holder {
    fn token(&self) -> &str {
        &self.auth.access_token
    }
}

async fn holder(latchd: &TestLatchd, email: &str) -> Holder {
    let auth = latchd.signed_up(email).await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let passkey = register(latchd, &auth.access_token, &mut authenticator, false).await;
    Holder {
        email: email.to_owned(),
        auth,
        authenticator,
        passkey,
    }
}

// ------------------------------------------------------------ sign-in

async fn a_registered_passkey_signs_in_with_an_email(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    assert_eq!(ada.passkey.name, "Laptop");
    assert!(ada.passkey.last_used_at.is_none());
    assert!(ada.passkey.clone_suspected_at.is_none());
    assert!(!ada.passkey.second_factor && !ada.passkey.backed_up);
    assert_eq!(passkeys(&latchd, ada.token()).await, [ada.passkey.clone()]);
    // A new registration excludes the credential Ada has: her
    // authenticator declines, as a browser would.
    let again = start_registration(&latchd, ada.token()).await;
    assert_eq!(
        ada.authenticator.create(&again.creation_options_json),
        Err(latch_testkit::passkey::AuthenticatorError::Excluded)
    );

    // The options name Ada's credential and ask for user verification.
    let started = start_login(&latchd, Some("ada@example.com")).await;
    let options: Value = serde_json::from_str(&started.request_options_json).unwrap();
    let options = &options["publicKey"];
    assert_eq!(options["rpId"], RP_ID);
    assert_eq!(options["userVerification"], "required");
    let allowed = options["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(
        allowed[0]["id"].as_str().unwrap(),
        b64(&ada.authenticator.credential_ids()[0])
    );

    let assertion = must(ada.authenticator.get(&started.request_options_json), "get");
    let auth = must(
        finish_login(&latchd, &started.login_id, assertion).await,
        "passkey login",
    );
    assert_signed_in_as(&latchd, &auth, &ada.email).await;
    assert_ne!(auth.session_id, ada.auth.session_id, "a new session");
    assert!(
        sessions(&latchd, ada.token())
            .await
            .contains(&auth.session_id)
    );

    // The history says how, and the passkey when it was last used.
    let request = bearer(ListLoginHistoryRequest::default(), &auth.access_token);
    let history = must(
        latchd.identity().list_login_history(request).await,
        "history",
    )
    .into_inner()
    .entries;
    let newest = history.first().expect("an entry");
    assert!(newest.success);
    assert_eq!(newest.method, LoginMethod::Passkey as i32);
    assert_eq!(newest.method_name, "passkey");
    let used = passkeys(&latchd, ada.token()).await;
    let now = latchd.clock.now().timestamp();
    assert_eq!(used[0].last_used_at.as_ref().map(|t| t.seconds), Some(now));
}

async fn a_discoverable_passkey_signs_in_without_an_email(latchd: TestLatchd) {
    let _bob = holder(&latchd, "bob@example.com").await;
    let mut ada = holder(&latchd, "ada@example.com").await;

    let started = start_login(&latchd, None).await;
    let options: Value = serde_json::from_str(&started.request_options_json).unwrap();
    assert_eq!(
        options["publicKey"]["allowCredentials"],
        Value::Array(vec![]),
        "any discoverable credential"
    );
    let assertion = must(ada.authenticator.get(&started.request_options_json), "get");
    let auth = must(
        finish_login(&latchd, &started.login_id, assertion).await,
        "usernameless login",
    );
    assert_signed_in_as(&latchd, &auth, &ada.email).await;
}

/// The shape of a JSON value: its object keys and value kinds, not its
/// values.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::Null,
    }
}

async fn an_unknown_email_gets_look_alike_options_then_fails(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    let known = start_login(&latchd, Some("ada@example.com")).await;
    let unknown = start_login(&latchd, Some("nobody@example.com")).await;
    let again = start_login(&latchd, Some("nobody@example.com")).await;

    let parse = |json: &str| -> Value { serde_json::from_str(json).unwrap() };
    let (known, unknown_options) = (
        parse(&known.request_options_json),
        parse(&unknown.request_options_json),
    );
    let without_transports = |v: &Value| {
        let mut v = shape(v);
        if let Some(first) = v["publicKey"]["allowCredentials"].get_mut(0) {
            first.as_object_mut().unwrap().remove("transports");
        }
        v
    };
    assert_eq!(
        without_transports(&known),
        without_transports(&unknown_options),
        "{known} / {unknown_options}"
    );
    assert_eq!(
        known["publicKey"]["rpId"],
        unknown_options["publicKey"]["rpId"]
    );
    assert!(
        !unknown_options["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // An account would offer the same credentials each time.
    assert_eq!(
        parse(&again.request_options_json)["publicKey"]["allowCredentials"],
        unknown_options["publicKey"]["allowCredentials"]
    );

    // No credential answers for nobody: a forged answer with Ada's fails.
    let before = snapshot(&latchd, ada.token()).await;
    let ada_id = ada.authenticator.credential_ids()[0].clone();
    ada.authenticator.answer_with(Some(&ada_id));
    let assertion = must(ada.authenticator.get(&unknown.request_options_json), "get");
    assert_refused(
        finish_login(&latchd, &unknown.login_id, assertion).await,
        Code::Unauthenticated,
        "PASSKEY_INVALID",
    );
    assert_eq!(snapshot(&latchd, ada.token()).await, before);
}

// ------------------------------------------------------------ second factor

/// Turns TOTP on for the holder of `token`; the clock then moves a step
/// on, so the confirming code is not the next one.
async fn enable_totp(latchd: &TestLatchd, token: &str) {
    let begun = must(
        latchd
            .identity()
            .begin_totp_enrollment(bearer(BeginTotpEnrollmentRequest {}, token))
            .await,
        "begin TOTP",
    )
    .into_inner();
    let code = totp_code_at(&begun.secret, latchd.clock.now().timestamp());
    must(
        latchd
            .identity()
            .confirm_totp_enrollment(bearer(ConfirmTotpEnrollmentRequest { code }, token))
            .await,
        "confirm TOTP",
    );
    latchd.clock.advance(Duration::seconds(30));
}

async fn challenge(latchd: &TestLatchd, email: &str) -> SecondFactorChallenge {
    let response = must(
        password_login(latchd.identity(), email, PASSWORD).await,
        "login",
    );
    match response.result {
        Some(login_response::Result::SecondFactor(challenge)) => challenge,
        other => panic!("expected a second-factor challenge, got {other:?}"),
    }
}

async fn complete_with_passkey(
    latchd: &TestLatchd,
    login_token: &str,
    assertion: String,
) -> Result<AuthResult, Status> {
    let request = CompleteSecondFactorRequest {
        login_token: login_token.to_owned(),
        proof: Some(Proof::PasskeyAssertionJson(assertion)),
        client: None,
    };
    latchd
        .identity()
        .complete_second_factor(request)
        .await
        .map(|r| r.into_inner().auth.expect("tokens"))
}

async fn a_passkey_is_the_second_factor_after_a_password(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    enable_totp(&latchd, ada.token()).await;

    let offered = challenge(&latchd, &ada.email).await;
    assert!(offered.methods.contains(&(SecondFactorMethod::Totp as i32)));
    assert!(
        offered
            .methods
            .contains(&(SecondFactorMethod::Passkey as i32)),
        "{offered:?}"
    );
    assert!(!offered.passkey_request_options_json.is_empty());

    // A tampered assertion does not complete it...
    let before = snapshot(&latchd, ada.token()).await;
    ada.authenticator.set_tamper_signature(true);
    let bad = must(
        ada.authenticator.get(&offered.passkey_request_options_json),
        "get",
    );
    assert_refused(
        complete_with_passkey(&latchd, &offered.login_token, bad).await,
        Code::Unauthenticated,
        "PASSKEY_INVALID",
    );
    assert_eq!(snapshot(&latchd, ada.token()).await, before);

    // ...a good one does.
    ada.authenticator.set_tamper_signature(false);
    let offered = challenge(&latchd, &ada.email).await;
    let assertion = must(
        ada.authenticator.get(&offered.passkey_request_options_json),
        "get",
    );
    let auth = must(
        complete_with_passkey(&latchd, &offered.login_token, assertion).await,
        "complete with a passkey",
    );
    assert_signed_in_as(&latchd, &auth, &ada.email).await;
}

async fn a_passkey_enrolled_as_second_factor_is_asked_alone(latchd: TestLatchd) {
    let auth = latchd.signed_up("ada@example.com").await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let passkey = register(&latchd, &auth.access_token, &mut authenticator, true).await;
    assert!(passkey.second_factor);

    let offered = challenge(&latchd, "ada@example.com").await;
    assert_eq!(offered.methods, [SecondFactorMethod::Passkey as i32]);
    let assertion = must(
        authenticator.get(&offered.passkey_request_options_json),
        "get",
    );
    let signed_in = must(
        complete_with_passkey(&latchd, &offered.login_token, assertion).await,
        "complete with a passkey",
    );
    assert_signed_in_as(&latchd, &signed_in, "ada@example.com").await;
}

// ------------------------------------------------------------ refusals

/// A sign-in by `ada`'s authenticator as it is now set is refused with
/// `why`, and changes neither passkeys nor sessions.
async fn refused_sign_in(latchd: &TestLatchd, ada: &mut Holder, why: &str) {
    let before = snapshot(latchd, ada.token()).await;
    let email = ada.email.clone();
    assert_refused(
        sign_in(latchd, &mut ada.authenticator, Some(&email)).await,
        Code::Unauthenticated,
        why,
    );
    assert_eq!(snapshot(latchd, ada.token()).await, before, "{why}");
}

/// A registration by `authenticator` for the holder of `token` is refused
/// with PASSKEY_INVALID and stores nothing.
async fn refused_registration(latchd: &TestLatchd, token: &str, authenticator: &mut Authenticator) {
    let before = passkeys(latchd, token).await;
    let started = start_registration(latchd, token).await;
    let created = must(
        authenticator.create(&started.creation_options_json),
        "create",
    );
    assert_refused(
        finish_registration(latchd, token, &started.registration_id, created.json, false).await,
        Code::Unauthenticated,
        "PASSKEY_INVALID",
    );
    assert_eq!(passkeys(latchd, token).await, before);
}

async fn another_origin_is_refused(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    ada.authenticator.set_origin("https://evil.example");
    refused_sign_in(&latchd, &mut ada, "PASSKEY_INVALID").await;
    let mut other = Authenticator::new("https://evil.example");
    refused_registration(&latchd, ada.token(), &mut other).await;

    ada.authenticator.set_origin(ORIGIN);
    let email = ada.email.clone();
    must(
        sign_in(&latchd, &mut ada.authenticator, Some(&email)).await,
        "the right origin",
    );
}

async fn another_rp_id_is_refused(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    ada.authenticator.set_rp_id(Some("evil.example"));
    refused_sign_in(&latchd, &mut ada, "PASSKEY_INVALID").await;
    let mut other = Authenticator::new(ORIGIN);
    other.set_rp_id(Some("evil.example"));
    refused_registration(&latchd, ada.token(), &mut other).await;
}

async fn no_user_verification_is_refused(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    ada.authenticator.set_user_verified(false);
    refused_sign_in(&latchd, &mut ada, "PASSKEY_INVALID").await;
    let mut other = Authenticator::new(ORIGIN);
    other.set_user_verified(false);
    refused_registration(&latchd, ada.token(), &mut other).await;
}

async fn a_tampered_signature_is_refused(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    ada.authenticator.set_tamper_signature(true);
    refused_sign_in(&latchd, &mut ada, "PASSKEY_INVALID").await;
}

async fn a_ceremony_answers_once(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    let started = start_login(&latchd, Some("ada@example.com")).await;
    let assertion = must(ada.authenticator.get(&started.request_options_json), "get");
    must(
        finish_login(&latchd, &started.login_id, assertion.clone()).await,
        "first answer",
    );
    let before = snapshot(&latchd, ada.token()).await;
    assert_refused(
        finish_login(&latchd, &started.login_id, assertion.clone()).await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    // The same assertion on a new ceremony: its challenge is not this one.
    let fresh = start_login(&latchd, Some("ada@example.com")).await;
    assert_refused(
        finish_login(&latchd, &fresh.login_id, assertion).await,
        Code::Unauthenticated,
        "PASSKEY_INVALID",
    );
    assert_eq!(snapshot(&latchd, ada.token()).await, before);

    // A registration answers once too.
    let token = ada.token().to_owned();
    let started = start_registration(&latchd, &token).await;
    let created = must(
        Authenticator::new(ORIGIN).create(&started.creation_options_json),
        "create",
    );
    must(
        finish_registration(
            &latchd,
            &token,
            &started.registration_id,
            created.json.clone(),
            false,
        )
        .await,
        "first registration",
    );
    assert_refused(
        finish_registration(
            &latchd,
            &token,
            &started.registration_id,
            created.json,
            false,
        )
        .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert_eq!(passkeys(&latchd, &token).await.len(), 2);
}

async fn an_expired_ceremony_is_refused(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    let token = ada.token().to_owned();
    let login = start_login(&latchd, Some("ada@example.com")).await;
    let assertion = must(ada.authenticator.get(&login.request_options_json), "get");
    let registration = start_registration(&latchd, &token).await;
    // Another authenticator: Ada's own is excluded, as she has it already.
    let created = must(
        Authenticator::new(ORIGIN).create(&registration.creation_options_json),
        "create",
    );
    let before = snapshot(&latchd, &token).await;

    latchd
        .clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    assert_refused(
        finish_login(&latchd, &login.login_id, assertion).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    assert_refused(
        finish_registration(
            &latchd,
            &token,
            &registration.registration_id,
            created.json,
            false,
        )
        .await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    assert_eq!(snapshot(&latchd, &token).await, before);
}

async fn a_counter_that_goes_back_marks_the_passkey_and_keeps_it_refused(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    let email = ada.email.clone();
    // The creation counted 1; two sign-ins bring the counter to 3.
    for _ in 0..2 {
        must(
            sign_in(&latchd, &mut ada.authenticator, Some(&email)).await,
            "sign in",
        );
    }
    let sessions_before = sessions(&latchd, ada.token()).await;
    let used = passkeys(&latchd, ada.token()).await;

    ada.authenticator.set_counter(Counter::Fixed(2));
    assert_refused(
        sign_in(&latchd, &mut ada.authenticator, Some(&email)).await,
        Code::Unauthenticated,
        "PASSKEY_CLONE_SUSPECTED",
    );
    let marked = passkeys(&latchd, ada.token()).await;
    assert_eq!(marked.len(), 1);
    assert!(marked[0].clone_suspected_at.is_some(), "{marked:?}");
    assert_eq!(marked[0].last_used_at, used[0].last_used_at);

    // A counter that increases again does not lift the mark.
    ada.authenticator.set_counter(Counter::Increment);
    assert_refused(
        sign_in(&latchd, &mut ada.authenticator, Some(&email)).await,
        Code::Unauthenticated,
        "PASSKEY_CLONE_SUSPECTED",
    );
    assert_eq!(passkeys(&latchd, ada.token()).await, marked);
    assert_eq!(sessions(&latchd, ada.token()).await, sessions_before);
}

async fn a_credential_of_another_user_is_refused(latchd: TestLatchd) {
    let ada = holder(&latchd, "ada@example.com").await;
    let mut bob = holder(&latchd, "bob@example.com").await;
    let ada_before = snapshot(&latchd, ada.token()).await;
    let bob_before = snapshot(&latchd, bob.token()).await;

    let bob_id = bob.authenticator.credential_ids()[0].clone();
    bob.authenticator.answer_with(Some(&bob_id));
    assert_refused(
        sign_in(&latchd, &mut bob.authenticator, Some("ada@example.com")).await,
        Code::Unauthenticated,
        "PASSKEY_INVALID",
    );
    assert_eq!(snapshot(&latchd, ada.token()).await, ada_before);
    assert_eq!(snapshot(&latchd, bob.token()).await, bob_before);
}

// ------------------------------------------------------------ management

async fn delete(latchd: &TestLatchd, token: &str, passkey_id: &str) -> Result<(), Status> {
    let request = DeletePasskeyRequest {
        passkey_id: passkey_id.to_owned(),
        user_id: String::new(),
    };
    latchd
        .identity()
        .delete_passkey(bearer(request, token))
        .await
        .map(drop)
}

async fn a_deleted_passkey_no_longer_signs_in(latchd: TestLatchd) {
    let mut ada = holder(&latchd, "ada@example.com").await;
    let bob = holder(&latchd, "bob@example.com").await;
    let token = ada.token().to_owned();
    let mut phone = Authenticator::new(ORIGIN);
    let second = register(&latchd, &token, &mut phone, false).await;
    assert_eq!(passkeys(&latchd, &token).await.len(), 2);

    // Not Ada's to delete: nothing happens.
    assert_refused(
        delete(&latchd, &token, &bob.passkey.id).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_eq!(
        passkeys(&latchd, bob.token()).await,
        std::slice::from_ref(&bob.passkey)
    );

    must(delete(&latchd, &token, &ada.passkey.id).await, "delete");
    assert_eq!(
        passkeys(&latchd, &token).await,
        std::slice::from_ref(&second)
    );
    assert_refused(
        delete(&latchd, &token, &ada.passkey.id).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    // The deleted credential, offered for a usernameless sign-in, is
    // unknown; the other one still signs in.
    let before = sessions(&latchd, &token).await;
    assert_refused(
        sign_in(&latchd, &mut ada.authenticator, None).await,
        Code::Unauthenticated,
        "PASSKEY_INVALID",
    );
    assert_eq!(sessions(&latchd, &token).await, before);
    must(
        sign_in(&latchd, &mut phone, Some("ada@example.com")).await,
        "the other passkey",
    );

    // Ada has a password: her last passkey may go too.
    must(delete(&latchd, &token, &second.id).await, "delete the last");
    assert!(passkeys(&latchd, &token).await.is_empty());
}

// ------------------------------------------------------------ the last way in

const CLIENT_ID: &str = "latch-e2e-passkeys";
const CLIENT_SECRET: &str = "latch-e2e-passkeys-secret";
/// Never loaded: the provider's redirect to it is where the browser stops.
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";

mod the_last_way_in_cannot_be_deleted {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded() {
        super::with_provider(latch_tests::Backend::Embedded, super::the_last_way_in).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        super::with_provider(latch_tests::Backend::PostgresRedis, super::the_last_way_in).await;
    }
}

/// latchd with the relying party and the test OpenID Connect provider,
/// whose users Latch creates without a password.
async fn with_provider<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestLatchd, OidcProvider) -> Fut,
    Fut: Future<Output = ()>,
{
    let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET, &[REDIRECT_URI]).await;
    let providers = must(
        tempfile::Builder::new()
            .prefix("latch-passkeys-providers-")
            .suffix(".toml")
            .tempfile_in(env!("CARGO_TARGET_TMPDIR")),
        "providers file",
    );
    let text = format!(
        "[[provider]]\nname = \"corp\"\nkind = \"oidc\"\nissuer = \"{}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         redirect_uris = [\"{REDIRECT_URI}\"]\n",
        provider.issuer()
    );
    must(
        std::fs::write(providers.path(), text),
        "write providers file",
    );
    let settings = relying_party().with(
        "LATCH_OAUTH_PROVIDERS",
        providers.path().display().to_string(),
    );
    match TestLatchd::start_with(backend, settings).await {
        Some(latchd) => scenario(latchd, provider).await,
        None => eprintln!("LATCH_TEST_DATABASE_URL unset: PostgreSQL + Redis run skipped"),
    }
}

/// A user created by the provider (no password) adds a passkey, then
/// drops the provider's identity: the passkey is now the only way in, and
/// deleting it is refused.
async fn the_last_way_in(latchd: TestLatchd, provider: OidcProvider) {
    use latch_proto::latch::identity::v1::{CompleteOAuthRequest, StartOAuthRequest};

    let started = must(
        latchd
            .identity()
            .start_o_auth(StartOAuthRequest {
                provider: "corp".to_owned(),
                redirect_uri: REDIRECT_URI.to_owned(),
            })
            .await,
        "start oauth",
    )
    .into_inner();
    let callback = provider.sign_in(&started.authorization_url, "kim").await;
    let completed = must(
        latchd
            .identity()
            .complete_o_auth(CompleteOAuthRequest {
                provider: "corp".to_owned(),
                code: callback.code,
                state: callback.state,
                client: None,
                provider_user_json: String::new(),
            })
            .await,
        "complete oauth",
    )
    .into_inner();
    assert!(completed.user_created);
    let token = completed.auth.expect("tokens").access_token;

    let mut authenticator = Authenticator::new(ORIGIN);
    let passkey = register(&latchd, &token, &mut authenticator, false).await;
    let identities = must(
        latchd
            .identity()
            .list_identities(bearer(ListIdentitiesRequest {}, &token))
            .await,
        "identities",
    )
    .into_inner()
    .identities;
    assert_eq!(identities.len(), 1);
    let request = UnlinkIdentityRequest {
        identity_id: identities[0].id.clone(),
    };
    must(
        latchd
            .identity()
            .unlink_identity(bearer(request, &token))
            .await,
        "unlink: the passkey remains",
    );

    assert_refused(
        delete(&latchd, &token, &passkey.id).await,
        Code::FailedPrecondition,
        "LAST_SIGN_IN_METHOD",
    );
    assert_eq!(passkeys(&latchd, &token).await, [passkey]);
    let auth = must(
        sign_in(&latchd, &mut authenticator, Some("kim@example.com")).await,
        "the passkey still signs in",
    );
    assert_signed_in_as(&latchd, &auth, "kim@example.com").await;
}

fn b64(bytes: &[u8]) -> String {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(bytes)
}
