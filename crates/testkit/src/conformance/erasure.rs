//! The per-user deletions behind each service's part of DeleteUser:
//! sessions, refresh-token families and role assignments of one user go,
//! in bounded batches, and nobody else's.

use std::sync::Arc;

use latch_domain::{
    UserId,
    model::builtin,
    ports::{RefreshTokenRepository, RoleRepository, SessionRepository},
};

use super::{
    now,
    refresh_tokens::{new_family, new_token},
    sessions::{everything, new_session},
};

pub async fn sessions(repo: Arc<dyn SessionRepository>) {
    let user = UserId::new();
    let other = UserId::new();
    for minutes in 0..5 {
        repo.create(&new_session(user, minutes), &[])
            .await
            .expect("create");
    }
    let revoked = new_session(user, 9);
    repo.create(&revoked, &[]).await.expect("create");
    repo.revoke(
        &revoked.id,
        now(),
        "logout",
        &latch_domain::ports::no_follow_up,
    )
    .await
    .expect("revoke");
    let kept = new_session(other, 0);
    repo.create(&kept, &[]).await.expect("create other");

    assert_eq!(repo.delete_for_user(user, 4).await.expect("batch"), 4);
    assert_eq!(
        repo.delete_for_user(user, 4).await.expect("batch"),
        2,
        "revoked ones too"
    );
    assert_eq!(repo.delete_for_user(user, 4).await.expect("done"), 0);
    assert!(
        repo.list_for_user(user, &everything())
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(repo.get(&kept.id).await.expect("get"), Some(kept));
}

pub async fn refresh_tokens(repo: Arc<dyn RefreshTokenRepository>) {
    let user = UserId::new();
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let family = latch_domain::model::RefreshFamily {
            user_id: user,
            ..new_family(now())
        };
        let first = new_token(&family, None, now());
        repo.create_family(&family, &first).await.expect("family");
        let second = new_token(&family, Some(first.id), now());
        assert!(repo.rotate(first.id, now(), &second).await.expect("rotate"));
        tokens.push((first, second));
    }
    let others = new_family(now());
    let others_token = new_token(&others, None, now());
    repo.create_family(&others, &others_token)
        .await
        .expect("other family");

    assert_eq!(repo.delete_for_user(user, 2).await.expect("batch"), 2);
    assert_eq!(repo.delete_for_user(user, 2).await.expect("batch"), 1);
    assert_eq!(repo.delete_for_user(user, 2).await.expect("done"), 0);
    for (first, second) in &tokens {
        for token in [first, second] {
            assert_eq!(
                repo.find_by_hash(&token.token_hash).await.expect("find"),
                None,
                "every token of the user went with its family"
            );
        }
    }
    assert!(
        repo.find_by_hash(&others_token.token_hash)
            .await
            .expect("find")
            .is_some()
    );
}

pub async fn roles(repo: Arc<dyn RoleRepository>) {
    let user = UserId::new();
    let other = UserId::new();
    for name in [builtin::USER, builtin::ADMIN] {
        let role = repo.find_role(name).await.expect("find").expect("seeded");
        repo.assign(user, role.id, now(), &[])
            .await
            .expect("assign");
        repo.assign(other, role.id, now(), &[])
            .await
            .expect("assign");
    }
    assert_eq!(repo.unassign_all(user, &[]).await.expect("unassign"), 2);
    assert_eq!(repo.unassign_all(user, &[]).await.expect("again"), 0);
    assert!(repo.roles_of_user(user).await.expect("roles").is_empty());
    assert_eq!(repo.roles_of_user(other).await.expect("roles").len(), 2);
}
