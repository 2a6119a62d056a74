//! [`UserRepository`]'s account changes (password, email, verification,
//! phone, activation): each conditional, and the rows that follow a
//! change (mails, its `user:*` event) written with it or not at all.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, UserId,
    model::UserStatus,
    ports::{NewOutboxMessage, OutboxRepository, UserRepository},
};

use super::{assert_reason, now, outbox::message, race, unique_email, users::new_user};

pub async fn run(users: Arc<dyn UserRepository>, outbox: Arc<dyn OutboxRepository>) {
    password_changes_carry_their_mail(&*users, &*outbox).await;
    email_changes_unverify_and_stay_unique(&*users, &*outbox).await;
    one_of_racing_email_changes_wins(users.clone()).await;
    verification_holds_only_for_the_address_it_names(&*users).await;
    phone_changes_unverify_and_verification_names_the_number(&*users).await;
    follow_ups_come_only_with_a_change(&*users, &*outbox).await;
}

/// A follow-up row under a key of this test's own.
fn mail(key: &str) -> NewOutboxMessage {
    message("test.send_mail", key, now())
}

fn unique_key() -> String {
    format!("user-changes-{}", uuid::Uuid::new_v4().simple())
}

async fn password_changes_carry_their_mail(
    users: &dyn UserRepository,
    outbox: &dyn OutboxRepository,
) {
    let new = new_user();
    users.create(&new).await.expect("create");
    let at = new.created_at + Duration::minutes(1);
    let key = unique_key();
    assert!(
        users
            .change_password(new.id, "$argon2id$changed", at, &[mail(&key)])
            .await
            .expect("change")
    );
    let user = users.get(new.id).await.expect("get").expect("exists");
    assert_eq!(user.password_hash.as_deref(), Some("$argon2id$changed"));
    assert_eq!(user.updated_at, at);
    assert_eq!(outbox.find_by_key(&key).await.expect("rows").len(), 1);

    let nobody = unique_key();
    assert!(
        !users
            .change_password(UserId::new(), "x", at, &[mail(&nobody)])
            .await
            .expect("change of nobody")
    );
    assert!(outbox.find_by_key(&nobody).await.expect("rows").is_empty());
}

async fn email_changes_unverify_and_stay_unique(
    users: &dyn UserRepository,
    outbox: &dyn OutboxRepository,
) {
    let new = new_user();
    users.create(&new).await.expect("create");
    let at = new.created_at + Duration::minutes(1);
    assert!(
        users
            .verify_email(new.id, &new.email, at, &[])
            .await
            .expect("verify")
    );

    let moved = unique_email();
    let key = unique_key();
    assert!(
        users
            .change_email(new.id, &moved, at, &[mail(&key), mail(&key)])
            .await
            .expect("change")
    );
    let user = users.get(new.id).await.expect("get").expect("exists");
    assert_eq!(user.email, moved);
    assert!(!user.email_verified, "a new address starts unverified");
    assert_eq!(outbox.find_by_key(&key).await.expect("rows").len(), 2);
    assert_eq!(
        users
            .find_by_email(&moved)
            .await
            .expect("find")
            .map(|u| u.id),
        Some(new.id)
    );
    assert_eq!(users.find_by_email(&new.email).await.expect("find"), None);

    // Taken: refused, and neither the change nor its mails are written.
    let other = new_user();
    users.create(&other).await.expect("create other");
    let refused = unique_key();
    assert_reason(
        users
            .change_email(new.id, &other.email, at, &[mail(&refused)])
            .await,
        Reason::AlreadyExists,
    );
    assert_eq!(
        users.get(new.id).await.expect("get").map(|u| u.email),
        Some(moved)
    );
    assert!(outbox.find_by_key(&refused).await.expect("rows").is_empty());

    let nobody = unique_key();
    assert!(
        !users
            .change_email(UserId::new(), &unique_email(), at, &[mail(&nobody)])
            .await
            .expect("change of nobody")
    );
    assert!(outbox.find_by_key(&nobody).await.expect("rows").is_empty());
}

async fn one_of_racing_email_changes_wins(users: Arc<dyn UserRepository>) {
    let mut ids = Vec::new();
    for _ in 0..4 {
        let new = new_user();
        users.create(&new).await.expect("create");
        ids.push(new.id);
    }
    let target = unique_email();
    let results = race(ids.len(), |i| {
        let users = users.clone();
        let (id, target) = (ids[i], target.clone());
        async move { users.change_email(id, &target, now(), &[]).await }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for result in results.into_iter().filter(|r| r.is_err()) {
        assert_reason(result, Reason::AlreadyExists);
    }
}

async fn verification_holds_only_for_the_address_it_names(users: &dyn UserRepository) {
    let new = new_user();
    users.create(&new).await.expect("create");
    let at = new.created_at + Duration::minutes(1);
    assert!(
        !users
            .verify_email(new.id, &unique_email(), at, &[])
            .await
            .expect("another address"),
        "a code for an address the user left proves nothing"
    );
    assert!(
        !users
            .get(new.id)
            .await
            .expect("get")
            .expect("exists")
            .email_verified
    );

    assert!(
        users
            .verify_email(new.id, &new.email, at, &[])
            .await
            .expect("verify")
    );
    let user = users.get(new.id).await.expect("get").expect("exists");
    assert!(user.email_verified);
    assert_eq!(user.updated_at, at);
    assert!(
        !users
            .verify_email(new.id, &new.email, at, &[])
            .await
            .expect("again"),
        "only the first verification changes the user"
    );
    assert!(
        !users
            .verify_email(UserId::new(), &new.email, at, &[])
            .await
            .expect("nobody")
    );
}

async fn phone_changes_unverify_and_verification_names_the_number(users: &dyn UserRepository) {
    let new = new_user();
    users.create(&new).await.expect("create");
    let at = new.created_at + Duration::minutes(1);
    let first = new.phone.clone().expect("a phone");
    assert!(
        !users
            .set_phone(new.id, &first, at, &[])
            .await
            .expect("same"),
        "setting the number it has changes nothing"
    );
    assert!(
        !users
            .verify_phone(new.id, "+442079460958", at, &[])
            .await
            .expect("other")
    );
    assert!(
        users
            .verify_phone(new.id, &first, at, &[])
            .await
            .expect("verify")
    );
    assert!(
        users
            .get(new.id)
            .await
            .expect("get")
            .expect("exists")
            .phone_verified
    );
    assert!(
        !users
            .verify_phone(new.id, &first, at, &[])
            .await
            .expect("again")
    );
    assert!(
        !users
            .set_phone(new.id, &first, at, &[])
            .await
            .expect("same again")
    );
    assert!(
        users
            .get(new.id)
            .await
            .expect("get")
            .expect("exists")
            .phone_verified,
        "the same number stays verified"
    );

    assert!(
        users
            .set_phone(new.id, "+442079460958", at, &[])
            .await
            .expect("new number")
    );
    let user = users.get(new.id).await.expect("get").expect("exists");
    assert_eq!(user.phone.as_deref(), Some("+442079460958"));
    assert!(!user.phone_verified, "a new number starts unverified");

    // A user without a phone gets one.
    let bare = latch_domain::model::NewUser {
        phone: None,
        ..new_user()
    };
    users.create(&bare).await.expect("create");
    assert!(
        users
            .set_phone(bare.id, &first, at, &[])
            .await
            .expect("first phone")
    );
    assert_eq!(
        users.get(bare.id).await.expect("get").and_then(|u| u.phone),
        Some(first)
    );
    assert!(
        !users
            .set_phone(UserId::new(), "+14155550100", at, &[])
            .await
            .expect("nobody")
    );
}

/// Each change takes its follow-up (the event it causes) and writes it in
/// its transaction exactly when it changed the user: a call that changed
/// nothing, or found no user, leaves no row.
async fn follow_ups_come_only_with_a_change(
    users: &dyn UserRepository,
    outbox: &dyn OutboxRepository,
) {
    let new = new_user();
    users.create(&new).await.expect("create");
    let at = new.created_at + Duration::minutes(1);
    let phone = new.phone.clone().expect("a phone");
    let other_phone = "+442079460958";
    let elsewhere = unique_email();
    let rows = async |key: &str| outbox.find_by_key(key).await.expect("rows").len();

    // (what the call returned, how many rows it left under its key)
    let mut seen = Vec::new();
    for step in 0..9 {
        let key = unique_key();
        let follow_up = [mail(&key)];
        let changed = match step {
            0 => users.set_status(new.id, UserStatus::Active, at, &follow_up),
            1 => users.set_status(UserId::new(), UserStatus::Active, at, &follow_up),
            2 => users.verify_email(new.id, &elsewhere, at, &follow_up),
            3 => users.verify_email(new.id, &new.email, at, &follow_up),
            4 => users.verify_email(new.id, &new.email, at, &follow_up),
            5 => users.verify_phone(new.id, &phone, at, &follow_up),
            6 => users.verify_phone(new.id, &phone, at, &follow_up),
            7 => users.set_phone(new.id, &phone, at, &follow_up),
            _ => users.set_phone(new.id, other_phone, at, &follow_up),
        }
        .await
        .expect("change");
        seen.push((changed, rows(&key).await));
    }
    assert_eq!(
        seen,
        [
            (true, 1),  // activated
            (false, 0), // nobody
            (false, 0), // an address the user does not have
            (true, 1),  // verified
            (false, 0), // verified already
            (true, 1),  // phone verified
            (false, 0), // phone verified already
            (false, 0), // the number it has
            (true, 1),  // a new number
        ]
    );
}
