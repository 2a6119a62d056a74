//! [`SecondFactorRepository`]: TOTP on and off with its recovery codes,
//! each time step and each code accepted once, also under races.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    UserId,
    model::TotpRecord,
    ports::{OutboxRepository, SecondFactorRepository, UserRepository},
};

use super::{now, outbox::message, race, users::new_user};

fn codes(seed: u8, n: u8) -> Vec<[u8; 32]> {
    (0..n).map(|i| [seed.wrapping_add(i); 32]).collect()
}

/// The rows need their user (identity keeps both), so the suite takes the
/// user repository of the same store, and its outbox for the follow-ups.
pub async fn run(
    users: Arc<dyn UserRepository>,
    repo: Arc<dyn SecondFactorRepository>,
    outbox: Arc<dyn OutboxRepository>,
) {
    let user = new_user();
    users.create(&user).await.expect("create user");

    off_by_default(&*repo, user.id).await;
    enables_once(&*repo, &*users, user.id).await;
    steps_only_move_forward(&*repo, user.id).await;
    one_of_racing_steps_wins(repo.clone(), user.id).await;
    recovery_codes_are_single_use(&*repo, user.id).await;
    one_of_racing_code_uses_wins(repo.clone(), user.id).await;
    regenerating_kills_the_old_set(&*repo, user.id).await;
    disabling_clears_everything(&*repo, user.id).await;
    gone_with_the_user(&*repo, &*users).await;
    follow_ups_come_only_with_a_change(&*repo, &*users, &*outbox).await;
}

async fn off_by_default(repo: &dyn SecondFactorRepository, user: UserId) {
    assert_eq!(repo.totp(user).await.expect("totp"), None);
    assert!(
        !repo
            .accept_totp_step(user, 1)
            .await
            .expect("step while off")
    );
    assert!(
        !repo
            .replace_recovery_codes(user, &codes(1, 2), now(), &[])
            .await
            .expect("codes while off")
    );
    assert!(
        !repo
            .disable_totp(user, now(), &[])
            .await
            .expect("disable while off")
    );
    assert_eq!(repo.recovery_codes_left(user).await.expect("left"), 0);
    let nobody = UserId::new();
    assert_eq!(repo.totp(nobody).await.expect("totp"), None);
    assert!(
        !repo
            .enable_totp(nobody, b"sealed", 1, &codes(1, 2), now(), &[])
            .await
            .expect("enable nobody")
    );
}

async fn enables_once(repo: &dyn SecondFactorRepository, users: &dyn UserRepository, user: UserId) {
    let at = now() + Duration::minutes(1);
    assert!(
        repo.enable_totp(user, b"sealed secret", 100, &codes(10, 10), at, &[])
            .await
            .expect("enable")
    );
    assert_eq!(
        repo.totp(user).await.expect("totp"),
        Some(TotpRecord {
            sealed_secret: b"sealed secret".to_vec(),
            last_step: Some(100),
        })
    );
    let stored = users.get(user).await.expect("get").expect("user");
    assert!(stored.totp_enabled);
    assert_eq!(stored.updated_at, at);
    assert_eq!(repo.recovery_codes_left(user).await.expect("left"), 10);

    // A second enrolment racing the first loses and writes nothing.
    assert!(
        !repo
            .enable_totp(user, b"other secret", 5, &codes(50, 3), at, &[])
            .await
            .expect("enable again")
    );
    let totp = repo.totp(user).await.expect("totp").expect("on");
    assert_eq!(totp.sealed_secret, b"sealed secret");
    assert_eq!(repo.recovery_codes_left(user).await.expect("left"), 10);
}

async fn steps_only_move_forward(repo: &dyn SecondFactorRepository, user: UserId) {
    assert!(!repo.accept_totp_step(user, 100).await.expect("same step"));
    assert!(!repo.accept_totp_step(user, 99).await.expect("older step"));
    assert!(repo.accept_totp_step(user, 101).await.expect("next step"));
    assert!(!repo.accept_totp_step(user, 101).await.expect("replay"));
    assert!(repo.accept_totp_step(user, 105).await.expect("later step"));
    let totp = repo.totp(user).await.expect("totp").expect("on");
    assert_eq!(totp.last_step, Some(105));
}

async fn one_of_racing_steps_wins(repo: Arc<dyn SecondFactorRepository>, user: UserId) {
    let results = race(8, |_| {
        let repo = repo.clone();
        async move { repo.accept_totp_step(user, 200).await.expect("step") }
    })
    .await;
    assert_eq!(results.iter().filter(|won| **won).count(), 1, "{results:?}");
}

async fn recovery_codes_are_single_use(repo: &dyn SecondFactorRepository, user: UserId) {
    let [first, second] = [codes(10, 1)[0], codes(11, 1)[0]];
    assert!(
        repo.use_recovery_code(user, &first, now())
            .await
            .expect("use")
    );
    assert!(
        !repo
            .use_recovery_code(user, &first, now())
            .await
            .expect("reuse")
    );
    assert!(
        !repo
            .use_recovery_code(user, &[0xee; 32], now())
            .await
            .expect("unknown code")
    );
    assert!(
        !repo
            .use_recovery_code(UserId::new(), &second, now())
            .await
            .expect("another user's code")
    );
    assert_eq!(repo.recovery_codes_left(user).await.expect("left"), 9);
}

async fn one_of_racing_code_uses_wins(repo: Arc<dyn SecondFactorRepository>, user: UserId) {
    let code = codes(12, 1)[0];
    let results = race(8, |_| {
        let repo = repo.clone();
        async move {
            repo.use_recovery_code(user, &code, now())
                .await
                .expect("use")
        }
    })
    .await;
    assert_eq!(results.iter().filter(|won| **won).count(), 1, "{results:?}");
    assert_eq!(repo.recovery_codes_left(user).await.expect("left"), 8);
}

async fn regenerating_kills_the_old_set(repo: &dyn SecondFactorRepository, user: UserId) {
    let fresh = codes(100, 10);
    assert!(
        repo.replace_recovery_codes(user, &fresh, now(), &[])
            .await
            .expect("replace")
    );
    assert_eq!(repo.recovery_codes_left(user).await.expect("left"), 10);
    let old = codes(13, 1)[0];
    assert!(
        !repo
            .use_recovery_code(user, &old, now())
            .await
            .expect("old code")
    );
    assert!(
        repo.use_recovery_code(user, &fresh[3], now())
            .await
            .expect("new code")
    );
    // The TOTP itself is untouched.
    let totp = repo.totp(user).await.expect("totp").expect("on");
    assert_eq!(totp.last_step, Some(200));
}

async fn disabling_clears_everything(repo: &dyn SecondFactorRepository, user: UserId) {
    assert!(repo.disable_totp(user, now(), &[]).await.expect("disable"));
    assert_eq!(repo.totp(user).await.expect("totp"), None);
    assert_eq!(repo.recovery_codes_left(user).await.expect("left"), 0);
    assert!(
        !repo
            .accept_totp_step(user, 10_000)
            .await
            .expect("step while off")
    );
    assert!(
        !repo
            .disable_totp(user, now(), &[])
            .await
            .expect("disable again")
    );

    // On again: a new secret, steps start over from the confirming one.
    assert!(
        repo.enable_totp(user, b"new secret", 7, &codes(200, 10), now(), &[])
            .await
            .expect("enable again")
    );
    let totp = repo.totp(user).await.expect("totp").expect("on");
    assert_eq!(totp.sealed_secret, b"new secret");
    assert_eq!(totp.last_step, Some(7));
    assert!(repo.accept_totp_step(user, 8).await.expect("step"));
}

async fn gone_with_the_user(repo: &dyn SecondFactorRepository, users: &dyn UserRepository) {
    let user = new_user();
    users.create(&user).await.expect("create user");
    assert!(
        repo.enable_totp(user.id, b"sealed", 1, &codes(1, 10), now(), &[])
            .await
            .expect("enable")
    );
    assert!(users.delete(user.id).await.expect("delete user"));
    assert_eq!(repo.recovery_codes_left(user.id).await.expect("left"), 0);
    assert_eq!(repo.totp(user.id).await.expect("totp"), None);
}

/// Each change writes its follow-up (its `user:updated`) in its
/// transaction when it changed the factor, and nothing when its guard
/// refused it.
async fn follow_ups_come_only_with_a_change(
    repo: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
    outbox: &dyn OutboxRepository,
) {
    let user = new_user();
    users.create(&user).await.expect("create user");
    let user = user.id;
    let (first, second, third) = (codes(1, 2), codes(3, 2), codes(5, 2));
    let mut seen = Vec::new();
    for step in 0..7 {
        let key = format!("second-factors-{}", uuid::Uuid::new_v4().simple());
        let follow_up = [message("test.event", &key, now())];
        let changed = match step {
            0 => repo.replace_recovery_codes(user, &first, now(), &follow_up),
            1 => repo.disable_totp(user, now(), &follow_up),
            2 => repo.enable_totp(user, b"sealed", 1, &first, now(), &follow_up),
            3 => repo.enable_totp(user, b"again", 1, &second, now(), &follow_up),
            4 => repo.replace_recovery_codes(user, &third, now(), &follow_up),
            5 => repo.disable_totp(user, now(), &follow_up),
            _ => repo.disable_totp(user, now(), &follow_up),
        }
        .await
        .expect("change");
        let rows = outbox.find_by_key(&key).await.expect("rows").len();
        seen.push((changed, rows));
    }
    assert_eq!(
        seen,
        [
            (false, 0), // codes while off
            (false, 0), // off while off
            (true, 1),  // on
            (false, 0), // on again
            (true, 1),  // new codes
            (true, 1),  // off
            (false, 0), // off again
        ]
    );
}
