use argon2::Params;
use latch_domain::{
    Reason, UserId,
    model::{NewUser, UserStatus},
    ports::{LoginHistoryRepository, PasswordHasher, UserRepository},
};

use latch_domain::Clock as _;

use super::*;
use crate::{Argon2Hasher, IdentityConfig, testing::*};

fn credentials(email: &str, password: &str) -> Credentials {
    Credentials {
        email: email.to_owned(),
        password: Secret::new(password.to_owned()),
        client: ClientInfo {
            ip: Some("198.51.100.20".to_owned()),
            user_agent: Some("curl/8".to_owned()),
        },
    }
}

/// Refused attempts are recorded after the answer: wait for `n` entries.
async fn history(h: &Harness, user: UserId, n: usize) -> Vec<latch_domain::model::LoginEvent> {
    for _ in 0..500 {
        let entries = h.history.list(user, 50).await.unwrap();
        if entries.len() >= n {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("login history never reached {n} entries");
}

async fn signed_up(h: &Harness, email: &str) -> UserId {
    h.identity
        .sign_up(sign_up_request(email))
        .await
        .unwrap()
        .user
        .id
}

#[tokio::test]
async fn the_right_password_signs_in_and_is_recorded() -> Result<()> {
    let h = Harness::new().await;
    let user = signed_up(&h, "ada@example.com").await;
    h.clock.advance(chrono::Duration::minutes(1));

    let LoginOutcome::SignedIn(tokens) = h
        .identity
        .login(credentials("ADA@example.com ", PASSWORD))
        .await?
    else {
        panic!("no second factor, so tokens");
    };

    assert_eq!(tokens.user_id, user);
    let session = h.sessions.created.lock().unwrap().last().cloned().unwrap();
    assert_eq!(session.id, tokens.session_id);
    assert_eq!(session.client.ip.as_deref(), Some("198.51.100.20"));
    let stored = h.users.get(user).await?.unwrap();
    assert_eq!(stored.last_login_at, Some(h.clock.now()));
    let history = h.history.list(user, 10).await?;
    assert_eq!(history.len(), 1);
    assert!(history[0].success);
    assert_eq!(history[0].method, "password");
    assert_eq!(history[0].user_agent.as_deref(), Some("curl/8"));
    Ok(())
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_one_answer_for_one_verify_each() -> Result<()> {
    let h = Harness::new().await;
    let user = signed_up(&h, "ada@example.com").await;

    let before = h.hasher.verify_count();
    let wrong = h
        .identity
        .login(credentials("ada@example.com", "not the password at all"))
        .await
        .unwrap_err();
    assert_eq!(h.hasher.verify_count(), before + 1);

    let unknown = h
        .identity
        .login(credentials("nobody@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(h.hasher.verify_count(), before + 2);

    let malformed = h
        .identity
        .login(credentials("not an email", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(h.hasher.verify_count(), before + 3);

    for err in [&wrong, &unknown, &malformed] {
        assert_eq!(err.reason(), Reason::InvalidCredentials);
        assert_eq!(err.message(), wrong.message());
        assert!(err.violation().is_none());
    }
    let history = history(&h, user, 1).await;
    assert_eq!(history.len(), 1, "the known user's failed attempt");
    assert!(!history[0].success);
    assert_eq!(
        history[0].failure_reason.as_deref(),
        Some("INVALID_CREDENTIALS")
    );
    Ok(())
}

#[tokio::test]
async fn an_inactive_account_is_told_only_to_the_right_password() -> Result<()> {
    let h = Harness::new().await;
    let user = signed_up(&h, "ada@example.com").await;
    for status in [UserStatus::Suspended, UserStatus::Deactivated] {
        h.users.set_status(user, status, h.clock.now(), &[]).await?;

        let wrong = h
            .identity
            .login(credentials("ada@example.com", "not the password at all"))
            .await
            .unwrap_err();
        assert_eq!(wrong.reason(), Reason::InvalidCredentials, "{status:?}");

        let right = h
            .identity
            .login(credentials("ada@example.com", PASSWORD))
            .await
            .unwrap_err();
        assert_eq!(right.reason(), Reason::AccountInactive, "{status:?}");
    }
    assert_eq!(
        h.sessions.created.lock().unwrap().len(),
        1,
        "only sign-up's"
    );
    let history = history(&h, user, 4).await;
    assert_eq!(
        history
            .iter()
            .filter(|e| e.failure_reason.as_deref() == Some("ACCOUNT_INACTIVE"))
            .count(),
        2
    );
    Ok(())
}

#[tokio::test]
async fn a_pending_user_cannot_sign_in() -> Result<()> {
    let h = Harness::new().await;
    let hash = h.hasher.hash(&Secret::new(PASSWORD.to_owned())).await?;
    h.users
        .create(&NewUser {
            id: UserId::new(),
            email: "ada@example.com".into(),
            phone: None,
            password_hash: Some(hash),
            status: UserStatus::Pending,
            created_at: h.clock.now(),
        })
        .await?;
    let err = h
        .identity
        .login(credentials("ada@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidCredentials);
    Ok(())
}

#[tokio::test]
async fn an_old_hash_is_upgraded_on_login() -> Result<()> {
    let h = Harness::new().await;
    let user = signed_up(&h, "ada@example.com").await;
    let old = Argon2Hasher::new(Params::new(32, 1, 1, None).unwrap(), 1)?;
    let old_hash = old.hash(&Secret::new(PASSWORD.to_owned())).await?;
    h.users
        .set_password_hash(user, &old_hash, h.clock.now())
        .await?;

    h.identity
        .login(credentials("ada@example.com", PASSWORD))
        .await?;

    let stored = h.users.get(user).await?.unwrap().password_hash.unwrap();
    assert!(stored.contains("m=64,t=1,p=1"), "{stored}");
    h.identity
        .login(credentials("ada@example.com", PASSWORD))
        .await?;
    Ok(())
}

#[tokio::test]
async fn an_unverified_email_is_refused_when_the_deployment_requires_it() -> Result<()> {
    let h = Harness::with_config(IdentityConfig {
        require_verified_email: true,
        ..IdentityConfig::default()
    })
    .await;
    signed_up(&h, "ada@example.com").await;
    let err = h
        .identity
        .login(credentials("ada@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::EmailNotVerified);
    Ok(())
}

#[tokio::test]
async fn logout_revokes_the_callers_session() -> Result<()> {
    let h = Harness::new().await;
    signed_up(&h, "ada@example.com").await;
    let LoginOutcome::SignedIn(tokens) = h
        .identity
        .login(credentials("ada@example.com", PASSWORD))
        .await?
    else {
        panic!("no second factor, so tokens");
    };
    h.identity.logout(&tokens.session_id).await?;
    h.identity.logout(&tokens.session_id).await?;
    let revoked = h.sessions.revoked.lock().unwrap().clone();
    assert_eq!(revoked, [(tokens.session_id, "logout".to_owned())]);
    Ok(())
}

/// Every backend keeps the history row of an odd client: a 600-character
/// user agent (PostgreSQL refused it: the column holds 512) and one with
/// control characters (PostgreSQL refuses a NUL in text).
#[tokio::test]
async fn odd_user_agents_still_leave_a_history_row_on_every_backend() -> Result<()> {
    for h in Harness::on_every_backend().await {
        let user = signed_up(&h, "ada@example.com").await;
        let mut long = credentials("ada@example.com", "not the password at all");
        long.client.user_agent = Some("x".repeat(600));
        let mut control = credentials("ada@example.com", PASSWORD);
        control.client.user_agent = Some("\u{1b}[31mcurl/8\0\r\nX-Forged: yes\u{7f}".to_owned());
        control.client.ip = Some(" ::ffff:198.51.100.20 ".to_owned());

        h.identity.login(long).await.unwrap_err();
        h.identity.login(control).await?;

        let entries = history(&h, user, 2).await;
        let failed = entries.iter().find(|e| !e.success).unwrap();
        assert_eq!(
            failed.user_agent.as_deref().map(|ua| ua.chars().count()),
            Some(512)
        );
        let signed_in = entries.iter().find(|e| e.success).unwrap();
        assert_eq!(
            signed_in.user_agent.as_deref(),
            Some("[31mcurl/8X-Forged: yes")
        );
        assert_eq!(signed_in.ip.as_deref(), Some("198.51.100.20"));
    }
    Ok(())
}

/// A history write that fails is an error in the log, naming the attempt
/// but no secret, and the caller's answer is the one it would have been.
#[tokio::test]
async fn a_failed_history_write_is_logged_as_an_error_and_the_login_goes_on() -> Result<()> {
    let h = Harness::new().await;
    let user = signed_up(&h, "ada@example.com").await;
    h.history_fail
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let logs = LogCapture::default();
    let _guard = logs.install();

    h.identity
        .login(credentials("ada@example.com", PASSWORD))
        .await?;
    let wrong = "not the password at all";
    let refused = h
        .identity
        .login(credentials("ada@example.com", wrong))
        .await
        .unwrap_err();
    assert_eq!(refused.reason(), Reason::InvalidCredentials);

    // The refusal's row is written after the answer: wait for its line.
    let mut text = logs.text();
    for _ in 0..500 {
        if text.matches("login attempt not recorded").count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        text = logs.text();
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("login attempt not recorded"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains(&user.to_string()), "{line}");
    }
    for secret in [PASSWORD, wrong] {
        assert!(!text.contains(secret), "{text}");
    }
    Ok(())
}
