use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Reason, Result, UserId,
    model::{ClientInfo, UserStatus},
    ports::{MessageComposer, MessageTemplate, NewOutboxMessage, OutboundMessage, UserRepository},
    secret::{self, Secret},
};

use super::TOKEN_TTL;
use crate::{
    Identity, IdentityConfig,
    codes::test_support::{assert_refused, assert_refused_on, mails},
    testing::*,
};

const NEW_PASSWORD: &str = "a brand new passphrase, 2026";

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.9".to_owned()),
        user_agent: Some("test".to_owned()),
    }
}

/// The reset token in a mail's text: 43 base64url characters.
fn token_in(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .find(|word| word.len() == 43)
        .unwrap_or_else(|| panic!("no token in {text:?}"))
        .to_owned()
}

async fn mailed_token(h: &Harness, user: UserId) -> String {
    let mails = mails(h, user).await;
    let mail = mails
        .iter()
        .rev()
        .find(|m| m.subject.to_lowercase().contains("reset"))
        .expect("a reset mail");
    token_in(&mail.text)
}

async fn can_log_in(h: &Harness, password: &str) -> bool {
    h.log_in("ada@example.com", password, client())
        .await
        .is_ok()
}

/// A reset asked for `email`, from [`client`].
async fn request(h: &Harness, email: &str) -> Result<()> {
    h.identity.request_password_reset(email, &client()).await
}

/// A reset with `token` to `password`, from [`client`].
async fn reset(h: &Harness, token: &str, password: &str) -> Result<()> {
    let password = Secret::new(password.to_owned());
    h.identity.reset_password(token, &password, &client()).await
}

/// ada@example.com signed up and asked for a reset: the harness, her id
/// and the mailed token.
async fn ada_with_a_token() -> Result<(Harness, UserId, String)> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    request(&h, "ada@example.com").await?;
    let token = mailed_token(&h, ada).await;
    Ok((h, ada, token))
}

fn revoked_for(h: &Harness, reason: &str) -> usize {
    h.sessions
        .revoked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r == reason)
        .count()
}

#[tokio::test]
async fn a_mailed_token_resets_the_password_once_and_ends_every_session() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user;
    assert!(can_log_in(&h, PASSWORD).await);
    let sessions = h.sessions.created.lock().unwrap().len();
    assert_eq!(sessions, 2);

    request(&h, "Ada@Example.com").await?;
    let mail = mails(&h, ada.id).await.pop().expect("a mail");
    assert_eq!(mail.to, "ada@example.com");
    let token = token_in(&mail.text);
    // Only the hash is stored.
    let stored = h
        .identity
        .deps
        .password_resets
        .find_by_hash(&secret::sha256(&token))
        .await?
        .expect("stored by hash");
    assert_eq!(stored.user_id, ada.id);
    assert_eq!(stored.expires_at - stored.created_at, TOKEN_TTL);

    reset(&h, &token, NEW_PASSWORD).await?;
    assert_eq!(revoked_for(&h, "password_reset"), sessions);
    assert!(can_log_in(&h, NEW_PASSWORD).await);
    assert!(!can_log_in(&h, PASSWORD).await);
    let notice = mails(&h, ada.id).await.pop().expect("the notice");
    assert!(!notice.text.contains(&token));
    assert!(!notice.subject.to_lowercase().contains("reset your"));
    assert_eq!(h.updates_of(ada.id).await, [["password"]]);

    assert_refused(
        reset(&h, &token, "yet another passphrase 77").await,
        Reason::TokenUsed,
    );
    assert!(can_log_in(&h, NEW_PASSWORD).await);
    assert_eq!(
        h.updates_of(ada.id).await.len(),
        1,
        "a used token changes nothing"
    );
    Ok(())
}

/// Counts what the flows ask the composer to render.
struct CountingComposer {
    inner: Arc<dyn MessageComposer>,
    calls: AtomicUsize,
}

impl MessageComposer for CountingComposer {
    fn compose(&self, message: &OutboundMessage, at: DateTime<Utc>) -> Result<NewOutboxMessage> {
        assert_eq!(message.template, MessageTemplate::PasswordReset);
        assert!(message.values.get("token").is_some_and(|t| t.len() == 43));
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.compose(message, at)
    }
}

/// An unknown address, a suspended account and a live one take the same
/// steps (a token, its hash, the composed mail) and get the same answers;
/// only the live account's mail is written.
#[tokio::test]
async fn any_address_gets_the_same_answer_after_the_same_work() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user;
    let bob = h.sign_up("bob@example.com").await?.user;
    h.users
        .set_status(
            bob.id,
            UserStatus::Suspended,
            latch_domain::Clock::now(&h.clock),
            &[],
        )
        .await?;
    let counting = Arc::new(CountingComposer {
        inner: h.identity.deps.messages.clone(),
        calls: AtomicUsize::new(0),
    });
    let mut deps = h.identity.deps.clone();
    deps.messages = counting.clone();
    let identity = Identity::new(deps, IdentityConfig::default());

    for (n, email) in ["ada@example.com", "bob@example.com", "nobody@example.com"]
        .into_iter()
        .enumerate()
    {
        identity.request_password_reset(email, &client()).await?;
        assert_eq!(counting.calls.load(Ordering::SeqCst), n + 1, "{email}");
        // Throttled alike, whoever owns the address.
        assert_refused(
            identity.request_password_reset(email, &client()).await,
            Reason::RateLimited,
        );
        assert_eq!(counting.calls.load(Ordering::SeqCst), n + 1, "{email}");
    }
    assert_eq!(mails(&h, ada.id).await.len(), 1);
    assert!(
        mails(&h, bob.id).await.is_empty(),
        "a suspended account gets no token"
    );
    assert_refused(
        identity
            .request_password_reset("not an address", &client())
            .await,
        Reason::InvalidArgument,
    );
    Ok(())
}

#[tokio::test]
async fn bad_expired_voided_and_weak_attempts_change_nothing() -> Result<()> {
    let (h, ada, first) = ada_with_a_token().await?;

    for malformed in ["", "short", &format!("{first}x"), "!!!!"] {
        let err = reset(&h, malformed, NEW_PASSWORD).await.unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument, "{malformed}");
        assert_eq!(
            err.violation().map(|v| v.field.as_str()),
            Some("reset_token")
        );
    }
    let unknown = secret::random_token(32)?;
    assert_refused(
        reset(&h, &unknown, NEW_PASSWORD).await,
        Reason::TokenInvalid,
    );
    assert_refused_on(
        reset(&h, &first, "password").await,
        Reason::WeakPassword,
        "new_password",
    );

    // A newer request voids the first token.
    h.clock.advance(Duration::seconds(61));
    request(&h, "ada@example.com").await?;
    let second = mailed_token(&h, ada).await;
    assert_ne!(first, second);
    assert_refused(reset(&h, &first, NEW_PASSWORD).await, Reason::TokenInvalid);

    // Past its time.
    h.clock.advance(TOKEN_TTL);
    assert_refused(reset(&h, &second, NEW_PASSWORD).await, Reason::TokenExpired);

    assert_eq!(
        revoked_for(&h, "password_reset"),
        0,
        "no session was touched"
    );
    assert!(can_log_in(&h, PASSWORD).await);
    assert_eq!(
        mails(&h, ada).await.len(),
        2,
        "no notice for a refused reset"
    );
    assert!(h.updates_of(ada).await.is_empty(), "no user:updated either");
    Ok(())
}

#[tokio::test]
async fn a_token_survives_a_refused_reset_and_an_inactive_account_is_told() -> Result<()> {
    let (h, ada, token) = ada_with_a_token().await?;

    // The session service is down: refused before the password changes.
    h.sessions.revoke_all_fails.store(true, Ordering::SeqCst);
    assert_refused(reset(&h, &token, NEW_PASSWORD).await, Reason::Unavailable);
    assert!(can_log_in(&h, PASSWORD).await);
    h.sessions.revoke_all_fails.store(false, Ordering::SeqCst);

    let now = latch_domain::Clock::now(&h.clock);
    h.users
        .set_status(ada, UserStatus::Suspended, now, &[])
        .await?;
    assert_refused(
        reset(&h, &token, NEW_PASSWORD).await,
        Reason::AccountInactive,
    );
    h.users
        .set_status(ada, UserStatus::Active, now, &[])
        .await?;

    reset(&h, &token, NEW_PASSWORD).await?;
    assert!(can_log_in(&h, NEW_PASSWORD).await);
    Ok(())
}
