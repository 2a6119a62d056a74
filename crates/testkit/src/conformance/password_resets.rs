//! [`PasswordResetRepository`]: hashes only, one live token per user (a new
//! one voids the others), redeemed once, before its end, with the password
//! and the notice in one transaction.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Reason, UserId,
    model::PasswordResetToken,
    ports::{NewOutboxMessage, OutboxRepository, PasswordResetRepository, UserRepository},
    secret,
};

use super::{assert_reason, now, outbox::message, race, users::new_user};

pub async fn run(
    users: Arc<dyn UserRepository>,
    resets: Arc<dyn PasswordResetRepository>,
    outbox: Arc<dyn OutboxRepository>,
) {
    issues_with_the_mail_and_finds_by_hash(&*users, &*resets, &*outbox).await;
    a_new_token_voids_the_others(&*users, &*resets).await;
    redeems_once_before_the_end(&*users, &*resets, &*outbox).await;
    one_of_racing_redeems_wins(&*users, resets.clone()).await;
}

/// A token of `user` issued at `at`, for 15 minutes.
pub fn new_token(user: UserId, at: DateTime<Utc>) -> PasswordResetToken {
    let token = secret::random_token(32).expect("randomness");
    PasswordResetToken {
        id: uuid::Uuid::now_v7(),
        user_id: user,
        token_hash: secret::sha256(&token),
        created_at: at,
        expires_at: at + Duration::minutes(15),
        used_at: None,
    }
}

fn mail(key: &str) -> NewOutboxMessage {
    message("test.send_mail", key, now())
}

fn unique_key() -> String {
    format!("password-resets-{}", uuid::Uuid::new_v4().simple())
}

async fn user(users: &dyn UserRepository) -> UserId {
    let new = new_user();
    users.create(&new).await.expect("create");
    new.id
}

async fn issues_with_the_mail_and_finds_by_hash(
    users: &dyn UserRepository,
    resets: &dyn PasswordResetRepository,
    outbox: &dyn OutboxRepository,
) {
    let id = user(users).await;
    let token = new_token(id, now());
    let key = unique_key();
    resets.issue(&token, &[mail(&key)]).await.expect("issue");
    assert_eq!(
        resets.find_by_hash(&token.token_hash).await.expect("find"),
        Some(token.clone())
    );
    assert_eq!(outbox.find_by_key(&key).await.expect("rows").len(), 1);
    assert_eq!(
        resets.find_by_hash(&[0; 32]).await.expect("find unknown"),
        None
    );

    // An unknown user: refused, and the mail is not written either.
    let refused = unique_key();
    assert_reason(
        resets
            .issue(&new_token(UserId::new(), now()), &[mail(&refused)])
            .await,
        Reason::NotFound,
    );
    assert!(outbox.find_by_key(&refused).await.expect("rows").is_empty());
}

async fn a_new_token_voids_the_others(
    users: &dyn UserRepository,
    resets: &dyn PasswordResetRepository,
) {
    let id = user(users).await;
    let other_user = user(users).await;
    let t0 = now();
    let first = new_token(id, t0);
    let second = new_token(id, t0 + Duration::seconds(1));
    let someone_elses = new_token(other_user, t0);
    resets.issue(&first, &[]).await.expect("first");
    resets
        .issue(&someone_elses, &[])
        .await
        .expect("other user's");
    resets.issue(&second, &[]).await.expect("second");
    assert_eq!(
        resets.find_by_hash(&first.token_hash).await.expect("find"),
        None
    );
    assert!(
        resets
            .find_by_hash(&second.token_hash)
            .await
            .expect("find")
            .is_some()
    );
    assert!(
        resets
            .find_by_hash(&someone_elses.token_hash)
            .await
            .expect("find")
            .is_some(),
        "another user's token is not touched"
    );
}

async fn redeems_once_before_the_end(
    users: &dyn UserRepository,
    resets: &dyn PasswordResetRepository,
    outbox: &dyn OutboxRepository,
) {
    let id = user(users).await;
    let t0 = now();

    let expired = new_token(id, t0);
    resets.issue(&expired, &[]).await.expect("issue");
    let late = unique_key();
    assert!(
        !resets
            .redeem(
                &expired,
                expired.expires_at,
                "$argon2id$late",
                &[mail(&late)]
            )
            .await
            .expect("redeem at the end"),
    );
    assert_ne!(
        users
            .get(id)
            .await
            .expect("get")
            .and_then(|u| u.password_hash)
            .as_deref(),
        Some("$argon2id$late")
    );
    assert!(outbox.find_by_key(&late).await.expect("rows").is_empty());

    let token = new_token(id, t0 + Duration::minutes(1));
    let spare = new_token(id, t0 + Duration::minutes(1));
    resets.issue(&spare, &[]).await.expect("issue spare");
    resets.issue(&token, &[]).await.expect("issue");
    let at = t0 + Duration::minutes(2);
    let key = unique_key();
    assert!(
        resets
            .redeem(&token, at, "$argon2id$reset", &[mail(&key)])
            .await
            .expect("redeem")
    );
    let user = users.get(id).await.expect("get").expect("exists");
    assert_eq!(user.password_hash.as_deref(), Some("$argon2id$reset"));
    assert_eq!(user.updated_at, at);
    assert_eq!(outbox.find_by_key(&key).await.expect("rows").len(), 1);
    let used = resets
        .find_by_hash(&token.token_hash)
        .await
        .expect("find")
        .expect("a used token is kept, to be told apart");
    assert_eq!(used.used_at, Some(at));

    let again = unique_key();
    assert!(
        !resets
            .redeem(&token, at, "$argon2id$again", &[mail(&again)])
            .await
            .expect("redeem again")
    );
    assert!(outbox.find_by_key(&again).await.expect("rows").is_empty());
    assert_eq!(
        users
            .get(id)
            .await
            .expect("get")
            .and_then(|u| u.password_hash)
            .as_deref(),
        Some("$argon2id$reset")
    );
}

async fn one_of_racing_redeems_wins(
    users: &dyn UserRepository,
    resets: Arc<dyn PasswordResetRepository>,
) {
    let id = user(users).await;
    let token = new_token(id, now());
    resets.issue(&token, &[]).await.expect("issue");
    let results = race(6, |i| {
        let (resets, token) = (resets.clone(), token.clone());
        async move {
            resets
                .redeem(&token, now(), &format!("$argon2id${i}"), &[])
                .await
        }
    })
    .await;
    let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}
