//! Login with a second factor on the identity harness: the challenge, its
//! completion by TOTP or recovery code, and every refusal.

use chrono::Duration;
use latch_domain::{
    Clock, Reason,
    model::{LoginEvent, UserStatus},
    ports::{FlowState, LoginHistoryRepository, SecondFactorRepository, UserRepository},
    seal,
};

use super::*;
use crate::{
    Credentials, LoginOutcome,
    testing::*,
    totp::tests::{Enrolled, enrolled, rfc6238_sha1, set_clock},
};

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.20".to_owned()),
        user_agent: Some("curl/8".to_owned()),
    }
}

async fn challenge(h: &Harness, email: &str) -> SecondFactorChallenge {
    let outcome = h
        .identity
        .login(Credentials {
            email: email.to_owned(),
            password: Secret::new(PASSWORD.to_owned()),
            client: client(),
        })
        .await
        .expect("login");
    match outcome {
        LoginOutcome::SecondFactor(challenge) => challenge,
        LoginOutcome::SignedIn(_) => panic!("signed in without a second factor"),
    }
}

fn with_totp(challenge: &SecondFactorChallenge, code: &str) -> SecondFactor {
    SecondFactor {
        login_token: challenge.login_token.clone(),
        proof: SecondFactorProof::TotpCode(code.to_owned()),
        client: client(),
    }
}

fn with_recovery(challenge: &SecondFactorChallenge, code: &str) -> SecondFactor {
    SecondFactor {
        login_token: challenge.login_token.clone(),
        proof: SecondFactorProof::RecoveryCode(Secret::new(code.to_owned())),
        client: client(),
    }
}

async fn refused(h: &Harness, request: SecondFactor) -> Reason {
    h.identity
        .complete_second_factor(request)
        .await
        .expect_err("refused")
        .reason()
}

/// A code of `ada` that is wrong now.
fn wrong_code(h: &Harness, ada: &Enrolled) -> String {
    let right = ada.code(h);
    if right == "000000" {
        "000001"
    } else {
        "000000"
    }
    .to_owned()
}

/// Refused attempts are recorded after the answer: wait for `n` entries.
async fn history(h: &Harness, user: UserId, n: usize) -> Vec<LoginEvent> {
    for _ in 0..500 {
        let entries = h.history.list(user, 50).await.expect("history");
        if entries.len() >= n {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("login history never reached {n} entries");
}

#[tokio::test]
async fn the_right_password_gets_a_challenge_and_no_session() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let sessions_before = h.sessions.created.lock().unwrap().len();

    let challenge = challenge(&h, &ada.email).await;

    assert_eq!(
        challenge.methods,
        [SecondFactorMethod::Totp, SecondFactorMethod::RecoveryCode]
    );
    assert_eq!(challenge.expires_at, h.clock.now() + LOGIN_TOKEN_TTL);
    assert!(challenge.login_token.expose().len() >= 43, "256 bits");
    assert_eq!(h.sessions.created.lock().unwrap().len(), sessions_before);
    // Only the token's hash names the record; the token itself is nowhere.
    let token = challenge.login_token.expose();
    assert_eq!(
        h.flow_state.take(&format!("login_attempt:{token}")).await?,
        None
    );
    let entries = history(&h, ada.user, 1).await;
    assert!(!entries[0].success);
    assert_eq!(
        entries[0].failure_reason.as_deref(),
        Some("SECOND_FACTOR_REQUIRED")
    );

    let wrong = h
        .identity
        .login(Credentials {
            email: ada.email.clone(),
            password: Secret::new("not the password at all".to_owned()),
            client: client(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.reason(), Reason::InvalidCredentials);
    Ok(())
}

#[tokio::test]
async fn a_totp_code_signs_in_once_through_the_password_path() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let first = challenge(&h, &ada.email).await;
    let code = ada.code(&h);

    let tokens = h
        .identity
        .complete_second_factor(with_totp(&first, &code))
        .await?;

    assert_eq!(tokens.user_id, ada.user);
    let session = h
        .sessions
        .created
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a session");
    assert_eq!(session.id, tokens.session_id);
    assert_eq!(session.client, client());
    let stored = h.users.get(ada.user).await?.expect("user");
    assert_eq!(stored.last_login_at, Some(h.clock.now()));
    let entries = h.history.list(ada.user, 10).await?;
    assert!(entries[0].success);
    assert_eq!(entries[0].method, "password+totp");
    assert!(entries[0].device.is_some());

    // The token is spent; the code too, even with a new token.
    assert_eq!(
        refused(&h, with_totp(&first, &code)).await,
        Reason::TokenUsed
    );
    let second = challenge(&h, &ada.email).await;
    assert_eq!(
        refused(&h, with_totp(&second, &code)).await,
        Reason::CodeUsed
    );
    h.clock.advance(Duration::seconds(30));
    h.identity
        .complete_second_factor(with_totp(&second, &ada.code(&h)))
        .await?;
    Ok(())
}

#[tokio::test]
async fn racing_completions_sign_in_once() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let challenge = challenge(&h, &ada.email).await;
    let code = ada.code(&h);
    let sessions_before = h.sessions.created.lock().unwrap().len();

    let attempts = (0..8).map(|_| {
        let identity = h.identity.clone();
        let request = with_totp(&challenge, &code);
        tokio::spawn(async move { identity.complete_second_factor(request).await })
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(won, 1);
    assert_eq!(
        h.sessions.created.lock().unwrap().len(),
        sessions_before + 1
    );
    Ok(())
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let code = ada.recovery_codes[3].to_uppercase().replace('-', " ");

    let first = challenge(&h, &ada.email).await;
    let tokens = h
        .identity
        .complete_second_factor(with_recovery(&first, &code))
        .await?;
    assert_eq!(tokens.user_id, ada.user);
    assert_eq!(h.second_factors.recovery_codes_left(ada.user).await?, 9);
    let entries = h.history.list(ada.user, 10).await?;
    assert_eq!(entries[0].method, "password+recovery_code");

    let second = challenge(&h, &ada.email).await;
    assert_eq!(
        refused(&h, with_recovery(&second, &ada.recovery_codes[3])).await,
        Reason::CodeInvalid
    );
    let malformed = h
        .identity
        .complete_second_factor(with_recovery(&second, "not a code"))
        .await
        .unwrap_err();
    assert_eq!(malformed.reason(), Reason::InvalidArgument);
    assert_eq!(
        malformed.violation().map(|v| v.field.as_str()),
        Some("recovery_code")
    );
    Ok(())
}

#[tokio::test]
async fn the_last_recovery_code_leaves_totp_as_the_only_method() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let now = h.clock.now();
    for code in &ada.recovery_codes {
        let hash = crate::recovery_codes::hash_typed("c", code)?;
        assert!(
            h.second_factors
                .use_recovery_code(ada.user, &hash, now)
                .await?
        );
    }
    let challenge = challenge(&h, &ada.email).await;
    assert_eq!(challenge.methods, [SecondFactorMethod::Totp]);
    Ok(())
}

#[tokio::test]
async fn five_wrong_codes_and_the_token_is_spent() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let challenge = challenge(&h, &ada.email).await;
    let wrong = wrong_code(&h, &ada);

    // Malformed proofs are bad input and cost no try.
    for bad in ["12345", "12a456", ""] {
        let err = h
            .identity
            .complete_second_factor(with_totp(&challenge, bad))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument, "{bad:?}");
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("totp_code"));
    }
    for _ in 0..LOGIN_TOKEN_TRIES {
        assert_eq!(
            refused(&h, with_totp(&challenge, &wrong)).await,
            Reason::CodeInvalid
        );
    }
    let right = ada.code(&h);
    assert_eq!(
        refused(&h, with_totp(&challenge, &right)).await,
        Reason::TooManyAttempts
    );
    assert_eq!(
        refused(&h, with_recovery(&challenge, &ada.recovery_codes[0])).await,
        Reason::TooManyAttempts
    );
    // Nothing was spent: the code and the recovery codes still work, once
    // the account's backoff (five failed codes) has passed.
    assert_eq!(h.second_factors.recovery_codes_left(ada.user).await?, 10);
    h.clock.advance(Duration::seconds(1));
    let again = self::challenge(&h, &ada.email).await;
    h.identity
        .complete_second_factor(with_totp(&again, &right))
        .await?;
    let failures = history(&h, ada.user, 5 + 2).await;
    assert!(
        failures
            .iter()
            .filter(|e| e.method == "password+totp" && !e.success)
            .count()
            >= 5
    );
    Ok(())
}

#[tokio::test]
async fn an_old_or_unknown_token_is_refused_for_what_it_is() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let challenge = challenge(&h, &ada.email).await;

    h.clock.advance(LOGIN_TOKEN_TTL);
    assert_eq!(
        refused(&h, with_totp(&challenge, &ada.code(&h))).await,
        Reason::TokenExpired
    );
    h.clock.advance(Duration::minutes(11));
    assert_eq!(
        refused(&h, with_totp(&challenge, &ada.code(&h))).await,
        Reason::TokenInvalid
    );
    let unknown = SecondFactor {
        login_token: Secret::new(secret::random_token(32)?),
        ..with_totp(&challenge, &ada.code(&h))
    };
    assert_eq!(refused(&h, unknown).await, Reason::TokenInvalid);
    let overlong = SecondFactor {
        login_token: Secret::new("x".repeat(10_000)),
        ..with_totp(&challenge, &ada.code(&h))
    };
    assert_eq!(refused(&h, overlong).await, Reason::TokenInvalid);
    Ok(())
}

#[tokio::test]
async fn a_user_suspended_meanwhile_is_not_signed_in() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let challenge = challenge(&h, &ada.email).await;
    h.users
        .set_status(ada.user, UserStatus::Suspended, h.clock.now(), &[])
        .await?;
    assert_eq!(
        refused(&h, with_totp(&challenge, &ada.code(&h))).await,
        Reason::AccountInactive
    );
    Ok(())
}

#[tokio::test]
async fn totp_turned_off_meanwhile_accepts_no_code() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    let challenge = challenge(&h, &ada.email).await;
    h.second_factors
        .disable_totp(ada.user, h.clock.now(), &[])
        .await?;
    assert_eq!(
        refused(&h, with_totp(&challenge, &ada.code(&h))).await,
        Reason::CodeInvalid
    );
    Ok(())
}

/// RFC 6238's SHA-1 secret enrolled directly, the clock at each vector's
/// time: login and the vector's code (its last six digits, the same
/// truncation) complete the sign-in.
#[tokio::test]
async fn rfc6238_sha1_vectors_complete_a_login() -> Result<()> {
    let h = Harness::new().await;
    for (i, (secret, unix_time, code)) in rfc6238_sha1().into_iter().enumerate() {
        set_clock(&h.clock, unix_time);
        let email = format!("rfc{i}@example.com");
        let user = h.identity.sign_up(sign_up_request(&email)).await?.user.id;
        let aad = format!("totp:{user}");
        let sealed = seal::seal(h.secrets.encryption_key.expose(), aad.as_bytes(), &secret)?;
        assert!(
            h.second_factors
                .enable_totp(user, &sealed, 0, &[], h.clock.now(), &[])
                .await?
        );
        let challenge = challenge(&h, &email).await;
        let six = &code[code.len() - 6..];
        let tokens = h
            .identity
            .complete_second_factor(with_totp(&challenge, six))
            .await
            .unwrap_or_else(|e| panic!("vector at {unix_time}: {e}"));
        assert_eq!(tokens.user_id, user);
        let again = self::challenge(&h, &email).await;
        assert_eq!(
            refused(&h, with_totp(&again, six)).await,
            Reason::CodeUsed,
            "vector at {unix_time} replayed"
        );
    }
    Ok(())
}

#[test]
fn codes_and_tokens_do_not_print() {
    let request = SecondFactor {
        login_token: Secret::new("the-login-token".to_owned()),
        proof: SecondFactorProof::TotpCode("123456".to_owned()),
        client: ClientInfo::default(),
    };
    let printed = format!("{request:?}");
    assert!(
        !printed.contains("123456") && !printed.contains("the-login-token"),
        "{printed}"
    );
    let recovery = SecondFactorProof::RecoveryCode(Secret::new("0123-4567".to_owned()));
    assert!(!format!("{recovery:?}").contains("0123"));
    let off = crate::TotpProof::Code("654321".to_owned());
    assert!(!format!("{off:?}").contains("654321"));
}
