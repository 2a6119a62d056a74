use latch_domain::{Reason, Result, SessionId, model::ClientInfo, secret::Secret};

use crate::{
    Credentials, IdentityConfig,
    codes::test_support::{assert_refused, mails},
    testing::*,
};

const NEW_PASSWORD: &str = "a brand new passphrase, 2026";

fn secret(value: &str) -> Secret<String> {
    Secret::new(value.to_owned())
}

async fn log_in(h: &Harness, password: &str) -> Result<SessionId> {
    let outcome = h
        .identity
        .login(Credentials {
            email: "ada@example.com".to_owned(),
            password: secret(password),
            client: ClientInfo::default(),
        })
        .await?;
    let crate::LoginOutcome::SignedIn(tokens) = outcome else {
        panic!("signed in")
    };
    Ok(tokens.session_id)
}

fn revoked(h: &Harness) -> Vec<(SessionId, String)> {
    h.sessions.revoked.lock().unwrap().clone()
}

#[tokio::test]
async fn the_current_password_changes_it_and_ends_the_other_sessions() -> Result<()> {
    let h = Harness::new().await;
    let signed_up = h
        .identity
        .sign_up(sign_up_request("ada@example.com"))
        .await?;
    let ada = signed_up.user.id;
    let elsewhere = signed_up.tokens.expect("tokens").session_id;
    let here = log_in(&h, PASSWORD).await?;
    let verifies = h.hasher.verify_count();

    h.identity
        .change_password(ada, &here, &secret(PASSWORD), &secret(NEW_PASSWORD))
        .await?;
    assert_eq!(
        h.hasher.verify_count(),
        verifies + 1,
        "one verify of the current password"
    );
    assert_eq!(revoked(&h), [(elsewhere, "password_changed".to_owned())]);
    assert!(log_in(&h, NEW_PASSWORD).await.is_ok());
    assert_refused(log_in(&h, PASSWORD).await, Reason::InvalidCredentials);
    let notice = mails(&h, ada).await.pop().expect("a notice");
    assert_eq!(notice.to, "ada@example.com");
    assert!(!notice.text.contains(NEW_PASSWORD));
    Ok(())
}

#[tokio::test]
async fn a_wrong_or_weak_password_changes_nothing() -> Result<()> {
    let config = IdentityConfig {
        login_limit_per_email: 3,
        ..IdentityConfig::default()
    };
    let h = Harness::with_config(config).await;
    let ada = h
        .identity
        .sign_up(sign_up_request("ada@example.com"))
        .await?
        .user
        .id;
    let here = SessionId::generate()?;

    let err = h
        .identity
        .change_password(ada, &here, &secret(PASSWORD), &secret("password"))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::WeakPassword);
    assert_eq!(
        err.violation().map(|v| v.field.as_str()),
        Some("new_password")
    );
    assert_refused(
        h.identity
            .change_password(
                ada,
                &here,
                &secret("not my password"),
                &secret(NEW_PASSWORD),
            )
            .await,
        Reason::InvalidCredentials,
    );
    // Guessing the current password is limited per user.
    assert_refused(
        h.identity
            .change_password(ada, &here, &secret("still not it"), &secret(NEW_PASSWORD))
            .await,
        Reason::InvalidCredentials,
    );
    assert_refused(
        h.identity
            .change_password(ada, &here, &secret(PASSWORD), &secret(NEW_PASSWORD))
            .await,
        Reason::RateLimited,
    );
    assert!(revoked(&h).is_empty());
    assert!(mails(&h, ada).await.is_empty());
    assert!(log_in(&h, PASSWORD).await.is_ok());
    Ok(())
}
