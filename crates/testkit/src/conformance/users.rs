//! [`UserRepository`]: create, read, updates, delete, unique emails.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, UserId,
    model::{NewUser, User, UserStatus},
    ports::UserRepository,
};

use super::{assert_reason, now, race, unique_email};

/// A pending user with a password, created now.
pub fn new_user() -> NewUser {
    NewUser {
        id: UserId::new(),
        email: unique_email(),
        phone: Some("+15550100".into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        status: UserStatus::Pending,
        created_at: now(),
    }
}

pub async fn run(repo: Arc<dyn UserRepository>) {
    creates_and_reads(&*repo).await;
    refuses_a_taken_email(&*repo).await;
    one_of_racing_sign_ups_wins(repo.clone()).await;
    updates(&*repo).await;
    deletes(&*repo).await;
}

async fn creates_and_reads(repo: &dyn UserRepository) {
    let new = new_user();
    let created = repo.create(&new).await.expect("create");
    let expected = User {
        id: new.id,
        email: new.email.clone(),
        email_verified: false,
        phone: new.phone.clone(),
        phone_verified: false,
        status: UserStatus::Pending,
        password_hash: new.password_hash.clone(),
        totp_enabled: false,
        created_at: new.created_at,
        updated_at: new.created_at,
        last_login_at: None,
    };
    assert_eq!(created, expected);
    assert_eq!(repo.get(new.id).await.expect("get"), Some(expected.clone()));
    assert_eq!(
        repo.find_by_email(&new.email).await.expect("find"),
        Some(expected)
    );
    assert_eq!(repo.get(UserId::new()).await.expect("get unknown"), None);
    assert_eq!(
        repo.find_by_email(&unique_email())
            .await
            .expect("find unknown"),
        None
    );

    let without_password = NewUser {
        password_hash: None,
        phone: None,
        ..new_user()
    };
    let created = repo.create(&without_password).await.expect("create");
    assert_eq!(created.password_hash, None);
    let read = repo.get(without_password.id).await.expect("get");
    assert_eq!(read.and_then(|u| u.password_hash), None);
}

async fn refuses_a_taken_email(repo: &dyn UserRepository) {
    let first = new_user();
    repo.create(&first).await.expect("create");
    let again = NewUser {
        email: first.email.clone(),
        ..new_user()
    };
    assert_reason(repo.create(&again).await, Reason::AlreadyExists);
    assert_eq!(repo.get(again.id).await.expect("get"), None);
}

async fn one_of_racing_sign_ups_wins(repo: Arc<dyn UserRepository>) {
    let email = unique_email();
    let results = race(8, |_| {
        let repo = repo.clone();
        let user = NewUser {
            email: email.clone(),
            ..new_user()
        };
        async move { repo.create(&user).await }
    })
    .await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for result in results.into_iter().filter(|r| r.is_err()) {
        assert_reason(result, Reason::AlreadyExists);
    }
}

async fn updates(repo: &dyn UserRepository) {
    let new = new_user();
    repo.create(&new).await.expect("create");
    let later = new.created_at + Duration::minutes(5);

    assert!(
        repo.set_status(new.id, UserStatus::Active, later, &[])
            .await
            .expect("status")
    );
    let user = repo.get(new.id).await.expect("get").expect("exists");
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.updated_at, later);
    assert_eq!(user.created_at, new.created_at);

    let even_later = later + Duration::minutes(5);
    assert!(
        repo.set_password_hash(new.id, "$argon2id$new", even_later)
            .await
            .expect("password")
    );
    let user = repo.get(new.id).await.expect("get").expect("exists");
    assert_eq!(user.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(user.updated_at, even_later);

    let login = even_later + Duration::seconds(1);
    repo.record_login(new.id, login).await.expect("login");
    let user = repo.get(new.id).await.expect("get").expect("exists");
    assert_eq!(user.last_login_at, Some(login));

    let unknown = UserId::new();
    assert!(
        !repo
            .set_status(unknown, UserStatus::Active, later, &[])
            .await
            .expect("status")
    );
    assert!(
        !repo
            .set_password_hash(unknown, "x", later)
            .await
            .expect("password")
    );
    repo.record_login(unknown, later)
        .await
        .expect("login of nobody");
}

async fn deletes(repo: &dyn UserRepository) {
    let new = new_user();
    repo.create(&new).await.expect("create");
    assert!(repo.delete(new.id).await.expect("delete"));
    assert_eq!(repo.get(new.id).await.expect("get"), None);
    assert!(!repo.delete(new.id).await.expect("delete again"));
    // The email is free again.
    let again = NewUser {
        email: new.email.clone(),
        ..new_user()
    };
    repo.create(&again)
        .await
        .expect("create with the freed email");
}
