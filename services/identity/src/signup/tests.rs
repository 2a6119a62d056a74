use std::sync::{Arc, atomic::Ordering};

use chrono::{DateTime, Utc};

use latch_domain::{
    Reason, UserId,
    events::EventPayload,
    model::{NewUser, UserStatus},
    ports::{NewOutboxMessage, ProfileDirectory, RoleDirectory, UserRepository},
};

use latch_domain::Clock as _;

use super::*;
use crate::{IdentityConfig, testing::*};

fn field_of(err: &Error) -> Option<&str> {
    err.violation().map(|v| v.field.as_str())
}

async fn count_users(h: &Harness, email: &str) -> usize {
    usize::from(h.users.find_by_email(email).await.unwrap().is_some())
}

#[tokio::test]
async fn sign_up_creates_an_active_user_with_profile_and_default_role() -> Result<()> {
    let h = Harness::new().await;

    let out = h.sign_up("  Ada@Example.COM ").await?;

    assert_eq!(out.user.email, "ada@example.com");
    assert_eq!(out.user.status, UserStatus::Active);
    let stored = h.users.get(out.user.id).await?.unwrap();
    assert_eq!(stored.status, UserStatus::Active);
    assert_ne!(stored.password_hash.as_deref(), Some(PASSWORD));
    let profile = h.profiles.get(out.user.id).await?;
    assert_eq!(
        (profile.first_name.as_str(), profile.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(h.roles.role_names(out.user.id).await?, ["USER"]);
    let tokens = out.tokens.expect("signed in");
    assert_eq!(tokens.user_id, out.user.id);
    assert_eq!(h.sessions.created.lock().unwrap().len(), 1);

    // Written with the activation, the only event of the sign-up.
    assert_eq!(
        h.events_of(out.user.id).await,
        [EventPayload::UserCreated {
            user_id: out.user.id,
            email: "ada@example.com".to_owned()
        }]
    );
    Ok(())
}

#[tokio::test]
async fn an_address_in_use_in_any_case_is_taken_and_nothing_changes() -> Result<()> {
    let h = Harness::new().await;
    let first = h.sign_up("ada@example.com").await?;
    let hashes = h.hasher.hash_count();

    let mut again = sign_up_request("ADA@example.com");
    again.first_name = "Mallory".to_owned();
    let err = h.identity.sign_up(again).await.unwrap_err();

    assert_eq!(err.reason(), Reason::EmailTaken);
    assert_eq!(
        h.hasher.hash_count(),
        hashes + 1,
        "a taken address costs the one hash a new one does"
    );
    let stored = h.users.find_by_email("ada@example.com").await?.unwrap();
    assert_eq!(stored.id, first.user.id);
    assert_eq!(h.profiles.get(first.user.id).await?.first_name, "Ada");
    assert_eq!(h.sessions.created.lock().unwrap().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_failing_profile_step_undoes_the_sign_up() -> Result<()> {
    let h = Harness::new().await;
    h.profiles_fail.fail.store(true, Ordering::SeqCst);

    let err = h.sign_up("ada@example.com").await.unwrap_err();

    assert_eq!(err.reason(), Reason::Unavailable, "the original error");
    let user = h.profiles_fail.last_user().unwrap();
    assert_eq!(h.users.get(user).await?, None, "user deleted");
    assert!(h.events_of(user).await.is_empty(), "no user:created");
    assert!(
        h.profiles
            .get(user)
            .await
            .is_err_and(|e| e.is(Reason::NotFound))
    );
    assert!(h.roles.role_names(user).await?.is_empty());
    assert!(h.sessions.created.lock().unwrap().is_empty());

    h.profiles_fail.fail.store(false, Ordering::SeqCst);
    h.sign_up("ada@example.com").await?;
    Ok(())
}

#[tokio::test]
async fn a_failing_role_step_undoes_profile_and_user() -> Result<()> {
    let h = Harness::new().await;
    h.roles_fail.fail.store(true, Ordering::SeqCst);

    let err = h.sign_up("ada@example.com").await.unwrap_err();

    assert_eq!(err.reason(), Reason::Unavailable);
    let user = h.profiles_fail.last_user().unwrap();
    assert_eq!(h.users.get(user).await?, None);
    assert!(h.events_of(user).await.is_empty(), "no user:created");
    assert!(
        h.profiles
            .get(user)
            .await
            .is_err_and(|e| e.is(Reason::NotFound))
    );
    assert_eq!(count_users(&h, "ada@example.com").await, 0);
    Ok(())
}

#[tokio::test]
async fn weak_or_overlong_passwords_are_refused_before_anything_is_written() {
    let h = Harness::new().await;
    for password in [
        "short",
        "password123",
        "ada@example.com1",
        &"Zq9!".repeat(33),
    ] {
        let mut request = sign_up_request("ada@example.com");
        request.password = Secret::new(password.to_owned());
        let err = h.identity.sign_up(request).await.unwrap_err();
        assert_eq!(err.reason(), Reason::WeakPassword, "{password:?}");
        assert_eq!(field_of(&err), Some("password"));
    }
    assert_eq!(count_users(&h, "ada@example.com").await, 0);
    assert_eq!(h.hasher.hash_count(), 0);
}

#[tokio::test]
async fn malformed_fields_are_named_and_nothing_is_written() {
    let h = Harness::new().await;
    type Edit = fn(&mut SignUp);
    let cases: [(&str, Edit); 6] = [
        ("email", |r| r.email = "not-an-email".into()),
        ("email", |r| r.email = "  ".into()),
        ("first_name", |r| r.first_name = "   ".into()),
        ("last_name", |r| r.last_name = "x".repeat(101)),
        ("first_name", |r| r.first_name = "Ada\u{7}".into()),
        ("phone", |r| r.phone = Some("12345".into())),
    ];
    for (field, edit) in cases {
        let mut request = sign_up_request("ada@example.com");
        edit(&mut request);
        let err = h.identity.sign_up(request).await.unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument, "{field}");
        assert_eq!(field_of(&err), Some(field));
    }
    assert_eq!(count_users(&h, "ada@example.com").await, 0);
    assert!(
        h.profiles_fail.last_user().is_none(),
        "no profile attempted"
    );
}

#[tokio::test]
async fn a_deployment_requiring_verified_email_signs_nobody_in() -> Result<()> {
    let h = Harness::with_config(IdentityConfig {
        require_verified_email: true,
        ..IdentityConfig::default()
    })
    .await;
    let out = h.sign_up("ada@example.com").await?;
    assert!(out.tokens.is_none());
    assert_eq!(out.user.status, UserStatus::Active);
    assert!(h.sessions.created.lock().unwrap().is_empty());
    Ok(())
}

#[tokio::test]
async fn an_abandoned_pending_sign_up_is_reclaimed_only_when_stale() -> Result<()> {
    let h = Harness::new().await;
    let stale = h
        .users
        .create(&NewUser {
            id: UserId::new(),
            email: "ada@example.com".into(),
            phone: None,
            password_hash: None,
            status: UserStatus::Pending,
            created_at: h.clock.now(),
        })
        .await?;
    h.profiles.create(stale.id, "Old", "Attempt").await?;

    let err = h.sign_up("ada@example.com").await.unwrap_err();
    assert_eq!(
        err.reason(),
        Reason::EmailTaken,
        "a sign-up may still be running"
    );

    h.clock.advance(chrono::Duration::minutes(11));
    let out = h.sign_up("ada@example.com").await?;
    assert_ne!(out.user.id, stale.id);
    assert_eq!(h.users.get(stale.id).await?, None);
    assert!(
        h.profiles
            .get(stale.id)
            .await
            .is_err_and(|e| e.is(Reason::NotFound))
    );
    Ok(())
}

/// Users as a sign-up racing another sees them: the address still free
/// when it looked, taken by the time it inserts.
struct Racing(Arc<latch_store::sql::SqlUsers>);

#[async_trait::async_trait]
impl UserRepository for Racing {
    async fn create(&self, user: &NewUser) -> Result<User> {
        self.0.create(user).await
    }
    async fn get(&self, id: UserId) -> Result<Option<User>> {
        self.0.get(id).await
    }
    async fn find_by_email(&self, _: &str) -> Result<Option<User>> {
        Ok(None)
    }
    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.0.set_status(id, status, at, follow_up).await
    }
    async fn set_password_hash(&self, id: UserId, hash: &str, at: DateTime<Utc>) -> Result<bool> {
        self.0.set_password_hash(id, hash, at).await
    }
    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<()> {
        self.0.record_login(id, at).await
    }
    async fn delete(&self, id: UserId) -> Result<bool> {
        self.0.delete(id).await
    }
    async fn change_password(
        &self,
        id: UserId,
        hash: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.0.change_password(id, hash, at, follow_up).await
    }
    async fn change_email(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.0.change_email(id, email, at, follow_up).await
    }
    async fn verify_email(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.0.verify_email(id, email, at, follow_up).await
    }
    async fn set_phone(
        &self,
        id: UserId,
        phone: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.0.set_phone(id, phone, at, follow_up).await
    }
    async fn verify_phone(
        &self,
        id: UserId,
        phone: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        self.0.verify_phone(id, phone, at, follow_up).await
    }
}

#[tokio::test]
async fn a_racing_duplicate_whose_insert_fails_is_taken() -> Result<()> {
    let h = Harness::new().await;
    let first = h.sign_up("ada@example.com").await?;
    let mut deps = h.identity.deps.clone();
    deps.users = Arc::new(Racing(h.users.clone()));
    let racer = Identity::new(deps, IdentityConfig::default());

    let err = racer
        .sign_up(sign_up_request("Ada@Example.com"))
        .await
        .unwrap_err();

    assert_eq!(err.reason(), Reason::EmailTaken);
    assert_eq!(
        h.profiles_fail.last_user(),
        Some(first.user.id),
        "no saga ran"
    );
    let stored = h.users.find_by_email("ada@example.com").await?.unwrap();
    assert_eq!(
        (stored.id, stored.status),
        (first.user.id, UserStatus::Active)
    );
    Ok(())
}

fn requiring_verified_email() -> IdentityConfig {
    IdentityConfig {
        require_verified_email: true,
        ..IdentityConfig::default()
    }
}

/// With verified email required, a taken address gets the answer a new one
/// gets, for the same one hash, and nothing is written or sent.
#[tokio::test]
async fn with_verified_email_required_a_taken_address_looks_new() -> Result<()> {
    let h = Harness::with_config(requiring_verified_email()).await;
    let fresh = h.sign_up("grace@example.com").await?;
    let first = h.sign_up("ada@example.com").await?;
    let hashes = h.hasher.hash_count();
    let logs = LogCapture::default();
    let guard = logs.install();

    let mut again = sign_up_request("ADA@example.com");
    again.first_name = "Mallory".to_owned();
    again.phone = Some("+14155550123".to_owned());
    let out = h.identity.sign_up(again).await?;
    drop(guard);

    assert_eq!(
        h.hasher.hash_count(),
        hashes + 1,
        "one hash, as for a new address"
    );
    // The shape of a new account's answer: an active, unverified user and
    // no tokens; only the values the request gave differ.
    assert!(out.tokens.is_none() && fresh.tokens.is_none());
    let seen = (&out.user.email, out.user.email_verified, out.user.status);
    assert_eq!(
        seen,
        (&"ada@example.com".to_owned(), false, UserStatus::Active)
    );
    assert_eq!(
        (
            fresh.user.email_verified,
            fresh.user.status,
            fresh.user.last_login_at
        ),
        (false, UserStatus::Active, None)
    );
    assert_eq!(out.user.phone.as_deref(), Some("+14155550123"));
    assert_eq!(out.user.password_hash, None);
    assert_eq!(
        out.user.id.0.get_version_num(),
        first.user.id.0.get_version_num()
    );
    // Nothing about the owner leaks, and nothing is written.
    assert_ne!(out.user.id, first.user.id);
    assert_eq!(
        h.users.get(out.user.id).await?,
        None,
        "the id is never stored"
    );
    let stored = h.users.find_by_email("ada@example.com").await?.unwrap();
    assert_eq!(stored.id, first.user.id);
    assert_eq!(stored.phone, None);
    assert_eq!(h.profiles.get(first.user.id).await?.first_name, "Ada");
    assert_eq!(
        h.events_of(out.user.id).await,
        [],
        "no user:created for the stand-in"
    );
    assert_eq!(
        h.events_of(first.user.id).await.len(),
        1,
        "the owner's own user:created only"
    );
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("address in use"))
        .unwrap_or_else(|| panic!("logged: {text}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains(&first.user.id.to_string()), "{line}");
    assert!(!text.contains(PASSWORD), "{text}");
    Ok(())
}

#[tokio::test]
async fn with_verified_email_required_a_racing_duplicate_looks_new_too() -> Result<()> {
    let h = Harness::with_config(requiring_verified_email()).await;
    let first = h.sign_up("ada@example.com").await?;
    let mut deps = h.identity.deps.clone();
    deps.users = Arc::new(Racing(h.users.clone()));
    let racer = Identity::new(deps, requiring_verified_email());
    let hashes = h.hasher.hash_count();

    let out = racer.sign_up(sign_up_request("Ada@Example.com")).await?;

    assert_eq!(h.hasher.hash_count(), hashes + 1);
    assert!(out.tokens.is_none());
    assert_ne!(out.user.id, first.user.id);
    assert_eq!(h.users.get(out.user.id).await?, None);
    assert_eq!(
        h.profiles_fail.last_user(),
        Some(first.user.id),
        "no saga ran"
    );
    Ok(())
}

#[tokio::test]
async fn a_new_address_costs_exactly_one_hash_too() -> Result<()> {
    for config in [IdentityConfig::default(), requiring_verified_email()] {
        let h = Harness::with_config(config).await;
        h.sign_up("ada@example.com").await?;
        assert_eq!(h.hasher.hash_count(), 1);
    }
    Ok(())
}

/// With verified email required, both answers queue one mail: a new
/// account its first code, the owner of a taken address a notice (at most
/// one an hour, however many sign-ups try).
#[tokio::test]
async fn with_verified_email_required_each_answer_queues_one_mail() -> Result<()> {
    use crate::codes::test_support::{code_in, mails};

    // Captured here too: tracing caches per call site whether anyone
    // listens, and the test beside this one listens to the same lines.
    let logs = LogCapture::default();
    let _guard = logs.install();
    let h = Harness::with_config(requiring_verified_email()).await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    let first = mails(&h, ada).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].to, "ada@example.com");
    let code = code_in(&first[0].text);

    for _ in 0..3 {
        h.sign_up("ADA@example.com").await?;
    }
    let sent = mails(&h, ada).await;
    assert_eq!(sent.len(), 2, "one notice for three attempts");
    assert_eq!(sent[1].to, "ada@example.com");
    assert!(!sent[1].text.contains(&code));
    assert!(!sent[1].text.contains(PASSWORD));
    assert!(!logs.text().contains(&code), "the code is never logged");

    // The code the new account got verifies it, and then it may sign in.
    h.identity
        .verify_email("ada@example.com", &code, &Default::default())
        .await?;
    assert!(h.identity.get_user(ada).await?.email_verified);
    Ok(())
}
