//! Lockout with backoff on the identity harness: only failures count, the
//! waits double past the threshold, a sign-in or a reset forgets them, a
//! throttled address answers alike whether or not it has an account, and
//! every attempt lands in the login history.

use std::time::Duration as StdDuration;

use chrono::Duration;
use latch_domain::{
    Reason, Result,
    model::{ClientInfo, LoginEvent},
    ports::{FailureRecords, Failures, Lockout, LoginHistoryRepository, UserRepository},
    secret::Secret,
};

use crate::{
    IdentityConfig, LoginOutcome, SecondFactor, SecondFactorProof,
    codes::test_support::mails,
    testing::{Harness, PASSWORD},
    totp::tests::enrolled,
};

const WRONG: &str = "not the password at all";

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.30".to_owned()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".to_owned(),
        ),
    }
}

async fn log_in(h: &Harness, email: &str, password: &str) -> Result<LoginOutcome> {
    h.log_in(email, password, client()).await
}

#[track_caller]
fn throttled_for(result: Result<LoginOutcome>, wait: StdDuration) -> latch_domain::Error {
    match result {
        Err(err) => {
            assert_eq!(err.reason(), Reason::LoginThrottled, "{err:?}");
            assert_eq!(err.retry_after(), Some(wait), "{err:?}");
            err
        }
        Ok(_) => panic!("expected LOGIN_THROTTLED for {wait:?}, got a sign-in"),
    }
}

#[track_caller]
fn refused(result: Result<LoginOutcome>, reason: Reason) {
    match result {
        Err(err) => assert_eq!(err.reason(), reason, "{err:?}"),
        Ok(_) => panic!("expected {reason:?}, got a sign-in"),
    }
}

/// Five wrong passwords: the threshold, each checked.
async fn five_failures(h: &Harness, email: &str) {
    for n in 1..=5 {
        let err = log_in(h, email, WRONG).await.err();
        assert_eq!(
            err.map(|e| e.reason()),
            Some(Reason::InvalidCredentials),
            "failure {n} is checked"
        );
    }
}

/// The user's history once the detached writes of refusals have landed.
async fn history(h: &Harness, user: latch_domain::UserId, at_least: usize) -> Vec<LoginEvent> {
    for _ in 0..200 {
        let rows = h.history.list(user, 100).await.expect("history");
        if rows.len() >= at_least {
            return rows;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("fewer than {at_least} history rows");
}

#[tokio::test]
async fn successes_never_count_only_failures_do() -> Result<()> {
    let h = Harness::new().await;
    h.sign_up("ada@example.com").await?;
    // Before, every attempt counted against a per-email limit, successes
    // included: the eleventh in a minute was refused, whoever made it.
    for _ in 0..10 {
        refused(
            log_in(&h, "ada@example.com", WRONG).await,
            Reason::InvalidCredentials,
        );
        log_in(&h, "ada@example.com", PASSWORD).await?;
    }
    // Four failures since the last sign-in: under the threshold.
    for _ in 0..4 {
        refused(
            log_in(&h, "ada@example.com", WRONG).await,
            Reason::InvalidCredentials,
        );
    }
    log_in(&h, "ada@example.com", PASSWORD).await?;
    Ok(())
}

#[tokio::test]
async fn waits_double_past_the_threshold_up_to_the_cap_and_skip_the_hash() -> Result<()> {
    let h = Harness::with_config(IdentityConfig {
        lockout: Lockout {
            threshold: 5,
            max_delay: StdDuration::from_secs(8),
        },
        ..IdentityConfig::default()
    })
    .await;
    h.sign_up("ada@example.com").await?;
    five_failures(&h, "ada@example.com").await;
    for wait in [1, 2, 4, 8, 8] {
        let wait = StdDuration::from_secs(wait);
        let verifies = h.hasher.verify_count();
        // Even the right password waits: no hash is checked meanwhile.
        throttled_for(log_in(&h, "ada@example.com", PASSWORD).await, wait);
        assert_eq!(
            h.hasher.verify_count(),
            verifies,
            "no verify while throttled"
        );
        h.clock.advance(Duration::from_std(wait).unwrap());
        refused(
            log_in(&h, "ada@example.com", WRONG).await,
            Reason::InvalidCredentials,
        );
    }
    // Never a permanent lock: the wait ends, and the right password signs in.
    h.clock.advance(Duration::seconds(8));
    log_in(&h, "ada@example.com", PASSWORD).await?;
    refused(
        log_in(&h, "ada@example.com", WRONG).await,
        Reason::InvalidCredentials,
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_or_malformed_address_is_throttled_alike() -> Result<()> {
    let h = Harness::new().await;
    h.sign_up("ada@example.com").await?;
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com", "not an address"] {
        let verifies = h.hasher.verify_count();
        five_failures(&h, email).await;
        assert_eq!(
            h.hasher.verify_count(),
            verifies + 5,
            "{email}: one hash each"
        );
        let err = throttled_for(log_in(&h, email, WRONG).await, StdDuration::from_secs(1));
        answers.push((err.reason(), err.message().to_owned(), err.retry_after()));
    }
    assert_eq!(answers[0], answers[1], "a known and an unknown address");
    assert_eq!(answers[0], answers[2], "a known and a malformed address");
    // An address is counted as it is compared: case and spaces aside.
    throttled_for(
        log_in(&h, "ADA@example.com ", PASSWORD).await,
        StdDuration::from_secs(1),
    );
    // Each address has its own counter.
    h.sign_up("bob@example.com").await?;
    log_in(&h, "bob@example.com", PASSWORD).await?;
    Ok(())
}

#[tokio::test]
async fn racing_guesses_pass_the_threshold_once() -> Result<()> {
    let h = Harness::new().await;
    h.sign_up("ada@example.com").await?;
    let verifies = h.hasher.verify_count();
    let guesses = (0..20).map(|_| {
        let identity = h.identity.clone();
        tokio::spawn(async move {
            identity
                .login(crate::Credentials {
                    email: "ada@example.com".to_owned(),
                    password: Secret::new(WRONG.to_owned()),
                    client: client(),
                })
                .await
                .err()
                .map(|e| e.reason())
        })
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|a| matches!(a, Ok(Some(Reason::InvalidCredentials))))
        .count();
    let throttled = answers
        .iter()
        .filter(|a| matches!(a, Ok(Some(Reason::LoginThrottled))))
        .count();
    assert_eq!((checked, throttled), (5, 15), "{answers:?}");
    assert_eq!(h.hasher.verify_count(), verifies + 5);
    Ok(())
}

#[tokio::test]
async fn a_password_reset_forgets_the_failures() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    five_failures(&h, "ada@example.com").await;
    throttled_for(
        log_in(&h, "ada@example.com", PASSWORD).await,
        StdDuration::from_secs(1),
    );
    h.identity
        .request_password_reset("ada@example.com", &client())
        .await?;
    let mail = mails(&h, ada).await.pop().expect("a reset mail");
    let token = mail
        .text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .find(|word| word.len() == 43)
        .expect("a token")
        .to_owned();
    let new_password = "a brand new passphrase 93";
    h.identity
        .reset_password(&token, &Secret::new(new_password.to_owned()), &client())
        .await?;
    // No wait, and five fresh failures before the next one.
    five_failures(&h, "ada@example.com").await;
    throttled_for(
        log_in(&h, "ada@example.com", new_password).await,
        StdDuration::from_secs(1),
    );
    Ok(())
}

#[tokio::test]
async fn the_users_row_keeps_the_count_and_seeds_a_fresh_counter() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    five_failures(&h, "ada@example.com").await;
    let mut copy = Failures::default();
    for _ in 0..200 {
        copy = h.users.failures(ada).await?;
        if copy.count == 5 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert_eq!(copy.count, 5, "written on failure");
    assert_eq!(
        copy.locked_until,
        Some(h.clock_now() + Duration::seconds(1))
    );

    // A counter that lost its state (Redis flushed, or a replica on its
    // per-process fallback) starts from the durable copy.
    let fresh = Harness::on(
        latch_testkit::TestDatabase::sqlite().await,
        IdentityConfig::default(),
    )
    .await;
    let bob = fresh.sign_up("bob@example.com").await?.user.id;
    fresh
        .users
        .record_failures(
            bob,
            Failures {
                count: 14,
                locked_until: Some(fresh.clock_now() - Duration::seconds(1)),
            },
        )
        .await?;
    refused(
        log_in(&fresh, "bob@example.com", WRONG).await,
        Reason::InvalidCredentials,
    );
    throttled_for(
        log_in(&fresh, "bob@example.com", PASSWORD).await,
        StdDuration::from_secs(15 * 60),
    );

    // A sign-in clears the copy.
    h.clock.advance(Duration::seconds(1));
    log_in(&h, "ada@example.com", PASSWORD).await?;
    assert_eq!(h.users.failures(ada).await?, Failures::default());
    Ok(())
}

#[tokio::test]
async fn wrong_codes_count_and_a_right_password_does_not() -> Result<()> {
    let h = Harness::new().await;
    let ada = enrolled(&h, "ada@example.com").await;
    // A right password is no failure, even when no session follows.
    for _ in 0..8 {
        let outcome = log_in(&h, &ada.email, PASSWORD).await?;
        assert!(matches!(outcome, LoginOutcome::SecondFactor(_)));
    }
    let LoginOutcome::SecondFactor(challenge) = log_in(&h, &ada.email, PASSWORD).await? else {
        panic!("a challenge");
    };
    let right = ada.code(&h);
    let wrong = if right == "000000" {
        "000001"
    } else {
        "000000"
    };
    let complete = |code: &str| SecondFactor {
        login_token: challenge.login_token.clone(),
        proof: SecondFactorProof::TotpCode(code.to_owned()),
        client: client(),
    };
    for _ in 0..4 {
        let err = h
            .identity
            .complete_second_factor(complete(wrong))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::CodeInvalid);
    }
    // One wrong password with them: the account's one counter is at five.
    refused(
        log_in(&h, &ada.email, WRONG).await,
        Reason::InvalidCredentials,
    );
    let err = h
        .identity
        .complete_second_factor(complete(&right))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::LoginThrottled);
    assert_eq!(err.retry_after(), Some(StdDuration::from_secs(1)));
    throttled_for(
        log_in(&h, &ada.email, PASSWORD).await,
        StdDuration::from_secs(1),
    );
    // The wait over (and the enrolment's time step past), the right code
    // on the same token signs in and forgets every failure.
    h.clock.advance(Duration::seconds(30));
    let right = ada.code(&h);
    h.identity.complete_second_factor(complete(&right)).await?;
    five_failures(&h, &ada.email).await;

    let rows = history(&h, ada.user, 22).await;
    let reasons = |method: &str, reason: &str| {
        rows.iter()
            .filter(|r| r.method == method && r.failure_reason.as_deref() == Some(reason))
            .count()
    };
    assert_eq!(reasons("password+totp", "CODE_INVALID"), 4);
    assert_eq!(reasons("password+totp", "LOGIN_THROTTLED"), 1);
    assert_eq!(reasons("password", "LOGIN_THROTTLED"), 1);
    assert_eq!(reasons("password", "SECOND_FACTOR_REQUIRED"), 9);
    assert!(
        rows.iter()
            .any(|r| r.method == "password+totp" && r.success)
    );
    Ok(())
}

#[tokio::test]
async fn every_attempt_is_in_the_history_with_its_device() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    log_in(&h, "ada@example.com", PASSWORD).await?;
    five_failures(&h, "ada@example.com").await;
    throttled_for(
        log_in(&h, "ada@example.com", PASSWORD).await,
        StdDuration::from_secs(1),
    );
    h.users
        .set_status(
            ada,
            latch_domain::model::UserStatus::Suspended,
            h.clock_now(),
            &[],
        )
        .await?;
    h.clock.advance(Duration::seconds(1));
    refused(
        log_in(&h, "ada@example.com", PASSWORD).await,
        Reason::AccountInactive,
    );
    // The right password of a suspended account was no failure.
    refused(
        log_in(&h, "ada@example.com", PASSWORD).await,
        Reason::AccountInactive,
    );

    let rows = history(&h, ada, 9).await;
    let results: Vec<(bool, Option<&str>)> = rows
        .iter()
        .rev()
        .map(|r| (r.success, r.failure_reason.as_deref()))
        .collect();
    let mut expected = vec![(true, None)];
    expected.extend([(false, Some("INVALID_CREDENTIALS")); 5]);
    expected.push((false, Some("LOGIN_THROTTLED")));
    expected.extend([(false, Some("ACCOUNT_INACTIVE")); 2]);
    assert_eq!(results, expected);
    for row in &rows {
        assert_eq!(row.method, "password");
        assert_eq!(row.ip.as_deref(), Some("198.51.100.30"));
        assert!(
            row.user_agent
                .as_deref()
                .is_some_and(|ua| ua.contains("Firefox"))
        );
        assert!(row.device.is_some(), "the parsed device of every attempt");
    }
    assert_eq!(
        rows[0].device, rows[8].device,
        "one device, one fingerprint"
    );
    Ok(())
}
