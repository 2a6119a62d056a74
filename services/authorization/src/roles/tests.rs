use latch_domain::{Reason, model::permission};

use super::*;
use crate::testing::Harness;

#[tokio::test]
async fn assigning_the_default_role_is_idempotent() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    assert!(h.roles.assign(user, builtin::DEFAULT).await?);
    assert!(!h.roles.assign(user, builtin::DEFAULT).await?);
    assert_eq!(h.roles.role_names(user).await?, ["USER"]);
    Ok(())
}

#[tokio::test]
async fn unknown_roles_are_not_found() {
    let h = Harness::new().await;
    let user = UserId::new();
    let err = h.roles.assign(user, "WIZARD").await.unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    let err = h.roles.unassign(user, "WIZARD").await.unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
}

#[tokio::test]
async fn unassigning_is_idempotent() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.roles.unassign(user, builtin::ADMIN).await?);
    assert!(!h.roles.unassign(user, builtin::ADMIN).await?);
    assert!(h.roles.role_names(user).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn permissions_follow_the_seeded_roles() -> Result<()> {
    let h = Harness::new().await;
    let root = UserId::new();
    let plain = UserId::new();
    h.roles.assign(root, builtin::SUPERADMIN).await?;
    h.roles.assign(plain, builtin::USER).await?;

    assert!(h.roles.has_permission(root, permission::USERS_READ).await?);
    assert!(h.roles.has_permission(root, permission::KEYS_WRITE).await?);
    assert!(
        !h.roles
            .has_permission(plain, permission::USERS_READ)
            .await?
    );
    assert!(
        !h.roles
            .has_permission(UserId::new(), permission::USERS_READ)
            .await?
    );

    let denied = h.roles.check(plain, permission::USERS_READ).await?;
    assert!(!denied.allowed);
    assert!(denied.reason.unwrap_or_default().contains("users.read"));
    assert_eq!(
        h.roles.check(root, permission::USERS_READ).await?,
        Decision {
            allowed: true,
            reason: None
        }
    );
    Ok(())
}

#[tokio::test]
async fn listings_are_sorted_without_duplicates() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.roles.assign(user, builtin::SUPERADMIN).await?;
    h.roles.assign(user, builtin::ADMIN).await?;

    let permissions = h.roles.user_permissions(user).await?;
    let mut expected = permissions.clone();
    expected.sort();
    expected.dedup();
    assert_eq!(permissions, expected);
    assert!(permissions.iter().any(|p| p == permission::ROLES_WRITE));

    let roles = h.roles.user_roles(user).await?;
    let names: Vec<&str> = roles.iter().map(|r| r.role.name.as_str()).collect();
    assert_eq!(names, ["ADMIN", "SUPERADMIN"]);
    assert!(roles.iter().all(|r| r.role.builtin));
    assert!(h.roles.is_superadmin(user).await?);
    Ok(())
}
