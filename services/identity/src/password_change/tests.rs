use latch_domain::{Reason, Result, SessionId, UserId, model::ClientInfo, secret::Secret};

use crate::{
    codes::test_support::{assert_refused, assert_refused_on, mails},
    testing::*,
};

const NEW_PASSWORD: &str = "a brand new passphrase, 2026";

fn secret(value: &str) -> Secret<String> {
    Secret::new(value.to_owned())
}

async fn log_in(h: &Harness, password: &str) -> Result<SessionId> {
    let outcome = h
        .log_in("ada@example.com", password, ClientInfo::default())
        .await?;
    let crate::LoginOutcome::SignedIn(tokens) = outcome else {
        panic!("signed in")
    };
    Ok(tokens.session_id)
}

/// `user` changes the password from `current` to `new` in the session
/// `here`.
async fn change(
    h: &Harness,
    user: UserId,
    here: &SessionId,
    current: &str,
    new: &str,
) -> Result<()> {
    let (current, new) = (secret(current), secret(new));
    h.identity.change_password(user, here, &current, &new).await
}

fn revoked(h: &Harness) -> Vec<(SessionId, String)> {
    h.sessions.revoked.lock().unwrap().clone()
}

#[tokio::test]
async fn the_current_password_changes_it_and_ends_the_other_sessions() -> Result<()> {
    let h = Harness::new().await;
    let signed_up = h.sign_up("ada@example.com").await?;
    let ada = signed_up.user.id;
    let elsewhere = signed_up.tokens.expect("tokens").session_id;
    let here = log_in(&h, PASSWORD).await?;
    let verifies = h.hasher.verify_count();

    change(&h, ada, &here, PASSWORD, NEW_PASSWORD).await?;
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
    // Written with the change: backends may act on a new password.
    assert_eq!(h.updates_of(ada).await, [["password"]]);
    Ok(())
}

#[tokio::test]
async fn a_wrong_or_weak_password_changes_nothing() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    let here = SessionId::generate()?;

    assert_refused_on(
        change(&h, ada, &here, PASSWORD, "password").await,
        Reason::WeakPassword,
        "new_password",
    );
    let wrong = change(&h, ada, &here, "not my password", NEW_PASSWORD).await;
    assert_refused(wrong, Reason::InvalidCredentials);
    // Guessing the current password is limited per user (ten a minute,
    // the weak attempt above included).
    for _ in 0..8 {
        let wrong = change(&h, ada, &here, "still not it", NEW_PASSWORD).await;
        assert_refused(wrong, Reason::InvalidCredentials);
    }
    let right = change(&h, ada, &here, PASSWORD, NEW_PASSWORD).await;
    assert_refused(right, Reason::RateLimited);
    assert!(revoked(&h).is_empty());
    assert!(mails(&h, ada).await.is_empty());
    assert!(h.updates_of(ada).await.is_empty());
    assert!(log_in(&h, PASSWORD).await.is_ok());
    Ok(())
}
