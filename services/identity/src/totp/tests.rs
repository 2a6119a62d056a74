//! RFC 6238 vectors against the code check, and the enrolment flows
//! (begin, confirm, disable, regenerate) on the identity harness.

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Clock, ManualClock, Reason, UserId,
    ports::{FlowState, SecondFactorRepository, UserRepository},
    secret,
};
use serde::Deserialize;
use totp_rs::Algorithm;

use super::*;
use crate::{
    codes::test_support::{Updates, assert_refused, next_update, no_update, updates},
    testing::*,
};

#[derive(Deserialize)]
struct Fixture {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    unix_time: i64,
    algorithm: String,
    secret_ascii: String,
    period: u64,
    digits: u8,
    totp: String,
}

fn rfc6238() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/totp-rfc6238.json"
    );
    let json = std::fs::read_to_string(path).expect("the RFC 6238 fixture");
    serde_json::from_str::<Fixture>(&json)
        .expect("fixture shape")
        .vectors
}

fn algorithm(name: &str) -> Algorithm {
    match name {
        "SHA1" => Algorithm::SHA1,
        "SHA256" => Algorithm::SHA256,
        "SHA512" => Algorithm::SHA512,
        other => panic!("unknown algorithm {other}"),
    }
}

/// The SHA-1 vectors of RFC 6238 (secret, unix time, 8-digit code): the
/// ones whose secret Latch's own parameters can enrol.
pub(crate) fn rfc6238_sha1() -> Vec<(Vec<u8>, i64, String)> {
    rfc6238()
        .into_iter()
        .filter(|v| v.algorithm == "SHA1")
        .map(|v| (v.secret_ascii.into_bytes(), v.unix_time, v.totp))
        .collect()
}

/// A clock standing at `unix_seconds`.
pub(crate) fn clock_at(unix_seconds: i64) -> ManualClock {
    ManualClock::new(DateTime::<Utc>::from_timestamp(unix_seconds, 0).expect("a valid time"))
}

/// Moves `clock` to `unix_seconds` (backwards too).
pub(crate) fn set_clock(clock: &ManualClock, unix_seconds: i64) {
    clock.advance(Duration::seconds(unix_seconds - clock.now().timestamp()));
}

#[test]
fn rfc6238_vectors_are_the_codes_of_their_time_for_every_algorithm() -> Result<()> {
    let vectors = rfc6238();
    assert_eq!(vectors.len(), 18);
    for v in &vectors {
        let params = Params {
            algorithm: algorithm(&v.algorithm),
            digits: v.digits,
            step_seconds: v.period,
        };
        let now = clock_at(v.unix_time).now().timestamp();
        let secret = v.secret_ascii.as_bytes();
        let step = step_at(params, now);
        let label = format!("{} at {}", v.algorithm, v.unix_time);
        assert_eq!(code::code_at(params, secret, now), v.totp, "{label}");
        assert_eq!(
            code::check(params, secret, &v.totp, now, None)?,
            Verdict::Fresh(step),
            "{label}"
        );
        assert_eq!(
            code::check(params, secret, &v.totp, now, Some(step))?,
            Verdict::Replayed,
            "{label}: a step accepted once is not accepted again"
        );
        let mut wrong = v.totp.clone().into_bytes();
        wrong[0] = if wrong[0] == b'9' { b'0' } else { wrong[0] + 1 };
        let wrong = String::from_utf8(wrong).expect("digits");
        assert_eq!(
            code::check(params, secret, &wrong, now, None)?,
            Verdict::Wrong,
            "{label}"
        );
    }
    Ok(())
}

use code::step_at;

#[test]
fn a_code_counts_one_step_either_side_and_no_further() -> Result<()> {
    let secret = code::new_secret();
    assert_eq!(secret.len(), 20, "160 bits");
    let now = 1_700_000_015;
    let step = step_at(Params::LATCH, now);
    let at = |offset: i64| code::code_at(Params::LATCH, &secret, now + offset);
    let check = |typed: &str, last| code::check(Params::LATCH, &secret, typed, now, last);
    assert_eq!(check(&at(0), None)?, Verdict::Fresh(step));
    assert_eq!(check(&at(-30), None)?, Verdict::Fresh(step - 1));
    assert_eq!(check(&at(30), None)?, Verdict::Fresh(step + 1));
    assert_eq!(check(&at(-60), None)?, Verdict::Wrong);
    assert_eq!(check(&at(60), None)?, Verdict::Wrong);
    // After the next step's code was accepted, this step's is a replay.
    assert_eq!(check(&at(0), Some(step + 1))?, Verdict::Replayed);
    assert_eq!(check(&at(30), Some(step))?, Verdict::Fresh(step + 1));
    assert_eq!(check("12345", None)?, Verdict::Wrong);
    assert_eq!(check("１２３４５６", None)?, Verdict::Wrong);
    Ok(())
}

#[test]
fn the_otpauth_uri_names_issuer_account_and_secret() -> Result<()> {
    let secret = b"12345678901234567890".to_vec();
    let uri = code::otpauth_uri(&secret, "Acme Cloud", "ada@example.com")?;
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Cloud:ada%40example.com?"),
        "{uri}"
    );
    assert!(
        uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        "{uri}"
    );
    assert!(uri.contains("issuer=Acme%20Cloud"), "{uri}");
    assert_eq!(code::base32(&secret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    Ok(())
}

/// A user with TOTP on, as enrolment left them.
pub(crate) struct Enrolled {
    pub(crate) user: UserId,
    pub(crate) email: String,
    pub(crate) secret: Vec<u8>,
    pub(crate) recovery_codes: Vec<String>,
}

impl Enrolled {
    /// The code the authenticator shows at the harness's time.
    pub(crate) fn code(&self, h: &Harness) -> String {
        code::code_at(Params::LATCH, &self.secret, h.clock.now().timestamp())
    }
}

/// The secret as the authenticator reads it from the enrolment (base32).
fn secret_of(enrollment: &TotpEnrollment) -> Vec<u8> {
    totp_rs::Secret::try_from_base32(enrollment.secret.expose())
        .expect("base32")
        .as_bytes()
        .to_vec()
}

/// Signs `email` up and turns TOTP on; the clock is then 30 s later, so
/// the next code is not the one that confirmed.
pub(crate) async fn enrolled(h: &Harness, email: &str) -> Enrolled {
    let user = h.sign_up(email).await.expect("sign up").user.id;
    let enrollment = h.identity.begin_totp_enrollment(user).await.expect("begin");
    let secret = secret_of(&enrollment);
    let code = code::code_at(Params::LATCH, &secret, h.clock.now().timestamp());
    let recovery_codes = h
        .identity
        .confirm_totp_enrollment(user, &code)
        .await
        .expect("confirm")
        .into_iter()
        .map(|c| c.expose().clone())
        .collect();
    h.clock.advance(Duration::seconds(30));
    Enrolled {
        user,
        email: email.to_owned(),
        secret,
        recovery_codes,
    }
}

/// A harness where ada@example.com has TOTP on, and her `user:updated`
/// rows after the enrolment's.
async fn ada_enrolled() -> Result<(Harness, Enrolled, Updates)> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let events = updates(&h, ada.user).await?;
    Ok((h, ada, events))
}

fn by_password(password: &str) -> TotpProof {
    TotpProof::Password(Secret::new(password.to_owned()))
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn enrolment_turns_totp_on_with_ten_codes_and_a_sealed_secret() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("ada@example.com").await?.user.id;
    let mut events = updates(&h, user).await?;

    let enrollment = h.identity.begin_totp_enrollment(user).await?;
    assert_eq!(enrollment.secret.expose().len(), 32, "160 bits in base32");
    let uri = enrollment.otpauth_uri.expose();
    assert!(
        uri.starts_with("otpauth://totp/Latch:ada%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains(enrollment.secret.expose().as_str()));
    assert!(
        !h.users.get(user).await?.expect("user").totp_enabled,
        "pending only"
    );
    let secret = secret_of(&enrollment);

    let wrong = h.identity.confirm_totp_enrollment(user, "000000").await;
    let right = code::code_at(Params::LATCH, &secret, h.clock.now().timestamp());
    if right != "000000" {
        assert_eq!(wrong.unwrap_err().reason(), Reason::CodeInvalid);
        no_update(&mut events).await;
    }
    let codes = h.identity.confirm_totp_enrollment(user, &right).await?;
    assert_eq!(codes.len(), 10);
    assert!(h.users.get(user).await?.expect("user").totp_enabled);
    assert_eq!(h.second_factors.recovery_codes_left(user).await?, 10);
    assert_eq!(
        next_update(&mut events).await,
        (user, fields(&["totp_enabled", "recovery_codes"]))
    );

    let stored = h.second_factors.totp(user).await?.expect("on");
    assert!(
        !stored
            .sealed_secret
            .windows(secret.len())
            .any(|w| w == secret),
        "the secret is not stored in clear"
    );
    let key = h.secrets.encryption_key.expose();
    assert_eq!(
        seal::open(key, &totp_aad(user), &stored.sealed_secret),
        Some(secret.clone())
    );
    assert_eq!(
        seal::open(key, &totp_aad(UserId::new()), &stored.sealed_secret),
        None,
        "bound to its user"
    );
    assert_eq!(
        stored.last_step,
        Some(step_at(Params::LATCH, h.clock.now().timestamp())),
        "the confirming code is spent"
    );

    assert_refused(
        h.identity.begin_totp_enrollment(user).await,
        Reason::TotpAlreadyEnabled,
    );
    assert_refused(
        h.identity.confirm_totp_enrollment(user, &right).await,
        Reason::TotpEnrollmentNotStarted,
    );
    Ok(())
}

#[tokio::test]
async fn the_pending_secret_is_sealed_in_the_flow_state() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("ada@example.com").await?.user.id;
    let enrollment = h.identity.begin_totp_enrollment(user).await?;
    let secret = secret_of(&enrollment);
    let key = format!("pending_registration:{user}");
    let stored = h.flow_state.take(&key).await?.expect("pending");
    assert!(!stored.windows(secret.len()).any(|w| w == secret));
    assert!(!String::from_utf8_lossy(&stored).contains(enrollment.secret.expose().as_str()));
    Ok(())
}

#[tokio::test]
async fn an_enrolment_waits_ten_minutes_and_five_wrong_codes() -> Result<()> {
    let h = Harness::new().await;
    let user = h.sign_up("ada@example.com").await?.user.id;

    h.identity.begin_totp_enrollment(user).await?;
    h.clock.advance(Duration::minutes(10));
    assert_refused(
        h.identity.confirm_totp_enrollment(user, "123456").await,
        Reason::TotpEnrollmentNotStarted,
    );

    let enrollment = h.identity.begin_totp_enrollment(user).await?;
    let secret = secret_of(&enrollment);
    let right = code::code_at(Params::LATCH, &secret, h.clock.now().timestamp());
    let wrong = if right == "111111" {
        "222222"
    } else {
        "111111"
    };
    for bad in ["12345", "abcdef", "1234567", ""] {
        let err = h
            .identity
            .confirm_totp_enrollment(user, bad)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument, "{bad:?}");
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("code"));
    }
    for _ in 0..5 {
        assert_refused(
            h.identity.confirm_totp_enrollment(user, wrong).await,
            Reason::CodeInvalid,
        );
    }
    assert_refused(
        h.identity.confirm_totp_enrollment(user, &right).await,
        Reason::TooManyAttempts,
    );
    assert!(!h.users.get(user).await?.expect("user").totp_enabled);
    Ok(())
}

#[tokio::test]
async fn disabling_takes_the_password_or_a_fresh_code() -> Result<()> {
    let (h, ada, mut events) = ada_enrolled().await?;

    assert_refused(
        h.identity
            .disable_totp(ada.user, by_password("not the password"))
            .await,
        Reason::InvalidCredentials,
    );
    assert_refused(
        h.identity
            .disable_totp(ada.user, TotpProof::Code("12 34".to_owned()))
            .await,
        Reason::InvalidArgument,
    );
    // The code that confirmed the enrolment (30 s ago, still in the window).
    h.clock.advance(Duration::seconds(-30));
    let used = ada.code(&h);
    h.clock.advance(Duration::seconds(30));
    assert_refused(
        h.identity
            .disable_totp(ada.user, TotpProof::Code(used))
            .await,
        Reason::CodeUsed,
    );
    assert!(
        h.users.get(ada.user).await?.expect("user").totp_enabled,
        "refusals change nothing"
    );
    no_update(&mut events).await;

    h.identity
        .disable_totp(ada.user, TotpProof::Code(ada.code(&h)))
        .await?;
    assert!(!h.users.get(ada.user).await?.expect("user").totp_enabled);
    assert_eq!(h.second_factors.totp(ada.user).await?, None);
    assert_eq!(h.second_factors.recovery_codes_left(ada.user).await?, 0);
    assert_eq!(
        next_update(&mut events).await,
        (ada.user, fields(&["totp_enabled", "recovery_codes"]))
    );
    assert_refused(
        h.identity
            .disable_totp(ada.user, by_password(PASSWORD))
            .await,
        Reason::TotpNotEnabled,
    );
    no_update(&mut events).await;

    let bob = enrolled(&h, "bob@example.com").await;
    h.identity
        .disable_totp(bob.user, by_password(PASSWORD))
        .await?;
    assert!(!h.users.get(bob.user).await?.expect("user").totp_enabled);
    Ok(())
}

#[tokio::test]
async fn regenerating_recovery_codes_kills_the_old_set() -> Result<()> {
    let (h, ada, mut events) = ada_enrolled().await?;

    let fresh = h.identity.regenerate_recovery_codes(ada.user).await?;
    assert_eq!(fresh.len(), 10);
    assert_eq!(
        next_update(&mut events).await,
        (ada.user, fields(&["recovery_codes"]))
    );
    let now = h.clock.now();
    let old = crate::recovery_codes::hash_typed("c", &ada.recovery_codes[0])?;
    assert!(
        !h.second_factors
            .use_recovery_code(ada.user, &old, now)
            .await?
    );
    let new = crate::recovery_codes::hash_typed("c", fresh[0].expose())?;
    assert!(
        h.second_factors
            .use_recovery_code(ada.user, &new, now)
            .await?
    );
    assert!(
        fresh
            .iter()
            .all(|c| !ada.recovery_codes.contains(c.expose())),
        "a new set"
    );

    let user = h.sign_up("bob@example.com").await?.user.id;
    assert_refused(
        h.identity.regenerate_recovery_codes(user).await,
        Reason::TotpNotEnabled,
    );
    assert_eq!(h.updates_of(user).await, Vec::<Vec<String>>::new());
    Ok(())
}

#[test]
fn hashes_of_codes_are_stored_not_codes() {
    let code = "0123-4567-89ab-cdef-0123";
    let stored = crate::recovery_codes::hash_typed("c", code).expect("well formed");
    assert_eq!(stored, secret::sha256("0123456789abcdef0123"));
}
