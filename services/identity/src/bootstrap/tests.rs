//! The bootstrap admin on the identity harness (real users, roles and
//! profiles; SQLite, or PostgreSQL when configured): created once,
//! promoted, idempotent, racing itself, refusing what it must; and its
//! settings.

use std::sync::atomic::Ordering;

use latch_domain::{
    Reason, Result,
    model::UserStatus,
    ports::{RoleDirectory, UserRepository},
    secret::Secret,
};
use latch_runtime::config::MapSource;

use super::*;
use crate::testing::{Harness, PASSWORD};

const EMAIL: &str = "root@example.com";

fn admin(password: Option<&str>) -> BootstrapAdmin {
    BootstrapAdmin::new(EMAIL, password.map(|p| (Secret::new(p.to_owned()), "test"))).unwrap()
}

async fn roles_of(h: &Harness, user: UserId) -> Vec<String> {
    let mut roles = h.roles.role_names(user).await.unwrap();
    roles.sort();
    roles
}

#[tokio::test]
async fn creates_a_verified_superadmin_once() -> Result<()> {
    let h = Harness::new().await;
    let done = h.identity.bootstrap_admin(&admin(Some(PASSWORD))).await?;
    let Bootstrapped::Created(id) = done else {
        panic!("{done:?}")
    };
    let user = h.users.get(id).await?.unwrap();
    assert_eq!(
        (user.email.as_str(), user.status, user.email_verified),
        (EMAIL, UserStatus::Active, true)
    );
    assert_eq!(roles_of(&h, id).await, ["SUPERADMIN", "USER"]);
    assert_eq!(h.profiles.get(id).await?.first_name, FIRST_NAME);

    // Again, as at every later start: nothing changes.
    let again = h.identity.bootstrap_admin(&admin(Some(PASSWORD))).await?;
    assert_eq!(again, Bootstrapped::AlreadyAdmin(id));
    assert_eq!(roles_of(&h, id).await, ["SUPERADMIN", "USER"]);
    Ok(())
}

#[tokio::test]
async fn promotes_an_existing_account_and_leaves_its_password() -> Result<()> {
    let h = Harness::new().await;
    let out = h.sign_up(EMAIL).await?;
    let hash_before = h.users.get(out.user.id).await?.unwrap().password_hash;

    // No password is needed to promote; one given is not used.
    assert_eq!(
        h.identity.bootstrap_admin(&admin(None)).await?,
        Bootstrapped::Promoted(out.user.id)
    );
    assert_eq!(
        h.identity
            .bootstrap_admin(&admin(Some("another passphrase, quite long 99")))
            .await?,
        Bootstrapped::AlreadyAdmin(out.user.id)
    );
    assert_eq!(roles_of(&h, out.user.id).await, ["SUPERADMIN", "USER"]);
    let stored = h.users.get(out.user.id).await?.unwrap();
    assert_eq!(stored.password_hash, hash_before);
    Ok(())
}

#[tokio::test]
async fn racing_bootstraps_make_one_user_and_one_assignment() -> Result<()> {
    let h = Harness::new().await;
    let admin = admin(Some(PASSWORD));
    let runs = futures::future::join_all((0..4).map(|_| h.identity.bootstrap_admin(&admin))).await;
    let mut ids = Vec::new();
    let mut created = 0;
    for run in runs {
        let done = run?;
        created += usize::from(matches!(done, Bootstrapped::Created(_)));
        ids.push(done.user_id());
    }
    ids.dedup();
    assert_eq!((ids.len(), created), (1, 1), "one user, created once");
    assert_eq!(roles_of(&h, ids[0]).await, ["SUPERADMIN", "USER"]);
    Ok(())
}

#[tokio::test]
async fn refusals_create_and_assign_nothing() -> Result<()> {
    let h = Harness::new().await;

    // No account and no password.
    let err = h.identity.bootstrap_admin(&admin(None)).await.unwrap_err();
    assert!(err.is(Reason::InvalidArgument), "{err:?}");
    assert_eq!(h.users.find_by_email(EMAIL).await?, None);

    // A sibling down half-way: the saga undoes itself; a rerun succeeds.
    h.roles_fail.fail.store(true, Ordering::SeqCst);
    let err = h
        .identity
        .bootstrap_admin(&admin(Some(PASSWORD)))
        .await
        .unwrap_err();
    assert!(err.is(Reason::Unavailable), "{err:?}");
    assert_eq!(h.users.find_by_email(EMAIL).await?, None);
    h.roles_fail.fail.store(false, Ordering::SeqCst);
    let done = h.identity.bootstrap_admin(&admin(Some(PASSWORD))).await?;
    assert!(matches!(done, Bootstrapped::Created(_)), "{done:?}");

    // A suspended account is not made SUPERADMIN behind the operator's back.
    let other = h.sign_up("ops@example.com").await?;
    h.users
        .set_status(other.user.id, UserStatus::Suspended, h.clock_now(), &[])
        .await?;
    let suspended = BootstrapAdmin::new("ops@example.com", None)?;
    let err = h.identity.bootstrap_admin(&suspended).await.unwrap_err();
    assert!(err.is(Reason::AccountInactive), "{err:?}");
    assert_eq!(roles_of(&h, other.user.id).await, ["USER"]);
    Ok(())
}

#[test]
fn settings_name_the_admin_once_and_refuse_a_weak_password_clearly() {
    let none = BootstrapAdmin::from_source(&MapSource::new()).unwrap();
    assert!(none.is_none());

    let read = BootstrapAdmin::from_source(
        &MapSource::new()
            .with(EMAIL_KEY, " Root@Example.com ")
            .with(PASSWORD_KEY, PASSWORD),
    )
    .unwrap()
    .unwrap();
    assert_eq!(read.email, EMAIL);
    assert_eq!(read.password.unwrap().expose(), PASSWORD);

    for (weak, why) in [
        ("short", "at least 8 characters"),
        ("23WKoa0FP78dk", "known breached password"),
        ("root@example.com1", "too weak"),
    ] {
        let err = BootstrapAdmin::from_source(
            &MapSource::new()
                .with(EMAIL_KEY, EMAIL)
                .with(PASSWORD_KEY, weak),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(PASSWORD_KEY) && err.contains(why), "{err}");
        assert!(
            !err.contains(weak),
            "the password is never in a message: {err}"
        );
    }

    let both = MapSource::new()
        .with(EMAIL_KEY, EMAIL)
        .with(PASSWORD_KEY, PASSWORD)
        .with(PASSWORD_FILE_KEY, "/nonexistent");
    assert!(BootstrapAdmin::from_source(&both).is_err());
    let no_email = MapSource::new().with(PASSWORD_KEY, PASSWORD);
    assert!(BootstrapAdmin::from_source(&no_email).is_err());
    let bad_email = MapSource::new().with(EMAIL_KEY, "root");
    assert!(BootstrapAdmin::from_source(&bad_email).is_err());
}

#[test]
fn a_password_file_loses_only_its_final_line_break() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("  {PASSWORD}\r\n")).unwrap();
    let read = BootstrapAdmin::from_source(
        &MapSource::new()
            .with(EMAIL_KEY, EMAIL)
            .with(PASSWORD_FILE_KEY, file.display().to_string()),
    )
    .unwrap()
    .unwrap();
    assert_eq!(read.password.unwrap().expose(), &format!("  {PASSWORD}"));

    let missing = MapSource::new().with(EMAIL_KEY, EMAIL).with(
        PASSWORD_FILE_KEY,
        dir.path().join("nope").display().to_string(),
    );
    let err = BootstrapAdmin::from_source(&missing)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read"), "{err}");
}
