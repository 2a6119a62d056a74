//! Listing, renaming and deleting passkeys over the SQL store (SQLite, and
//! PostgreSQL when the run has it). Passkeys are put in through the port:
//! registering one is the ceremony's business, tested there, but for the
//! `user:updated` it writes, which is tested here with the others.

use chrono::Duration;
use latch_domain::{
    Reason, Result, UserId,
    model::{NewUser, PasskeyCredential, UserStatus},
    ports::{PasskeyRepository, UserRepository},
    secret::random_bytes,
};
use uuid::Uuid;

use crate::{
    PasskeyRegistered,
    codes::test_support::{assert_refused, assert_refused_on, next_update, no_update, updates},
    testing::Harness,
};

/// A passkey of `user` named `name`, registered now on the harness clock
/// (not stored yet: a test may change its flags first).
pub(crate) fn credential(h: &Harness, user: UserId, name: &str) -> PasskeyCredential {
    PasskeyCredential {
        id: Uuid::new_v4(),
        user_id: user,
        credential_id: random_bytes(16).expect("random"),
        name: name.to_owned(),
        state: r#"{"cred":{"note":"opaque to identity"}}"#.to_owned(),
        sign_count: 0,
        backup_eligible: false,
        backup_state: false,
        transports: vec!["internal".to_owned()],
        aaguid: None,
        second_factor: false,
        clone_suspected_at: None,
        created_at: h.clock_now(),
        last_used_at: None,
    }
}

/// [`credential`], stored through the port.
pub(crate) async fn add(h: &Harness, user: UserId, name: &str) -> Result<PasskeyCredential> {
    let credential = credential(h, user, name);
    h.passkeys.add(&credential, &[]).await?;
    Ok(credential)
}

/// An active user with no password and no linked identity: one who signs
/// in with passkeys only.
pub(crate) async fn passwordless(h: &Harness, email: &str) -> Result<UserId> {
    let user = h
        .users
        .create(&NewUser {
            id: UserId::new(),
            email: email.to_owned(),
            phone: None,
            password_hash: None,
            status: UserStatus::Active,
            created_at: h.clock_now(),
        })
        .await?;
    Ok(user.id)
}

#[tokio::test]
async fn list_shows_the_users_passkeys_oldest_first_with_their_marks() -> Result<()> {
    for h in Harness::on_every_backend().await {
        let ada = h.sign_up("ada@example.com").await?.user.id;
        let grace = h.sign_up("grace@example.com").await?.user.id;
        assert!(h.identity.list_passkeys(ada).await?.is_empty());

        // Stored newest first: the order is the registration time's.
        let start = h.clock_now();
        h.clock.advance(Duration::minutes(1));
        add(&h, ada, "Phone").await?;
        h.clock.advance(Duration::minutes(1));
        let mut synced = credential(&h, ada, "Synced phone");
        synced.second_factor = true;
        synced.backup_eligible = true;
        synced.backup_state = true;
        h.passkeys.add(&synced, &[]).await?;
        let mut laptop = credential(&h, ada, "Laptop");
        laptop.created_at = start;
        h.passkeys.add(&laptop, &[]).await?;
        add(&h, grace, "Grace's key").await?;
        let suspected = h.clock_now();
        h.passkeys
            .mark_clone_suspected(laptop.id, suspected)
            .await?;

        let listed = h.identity.list_passkeys(ada).await?;
        let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Laptop", "Phone", "Synced phone"]);
        assert_eq!(listed[0].clone_suspected_at, Some(suspected));
        assert!(!listed[0].second_factor && !listed[0].backup_state);
        assert_eq!(listed[1].clone_suspected_at, None);
        assert!(listed[2].second_factor && listed[2].backup_state);

        let err = h.identity.list_passkeys(UserId::new()).await;
        assert_refused(err, Reason::NotFound);
    }
    Ok(())
}

#[tokio::test]
async fn rename_takes_a_trimmed_name_and_only_the_users_own_passkey() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    let grace = h.sign_up("grace@example.com").await?.user.id;
    let key = add(&h, ada, "Laptop").await?;

    let renamed = h
        .identity
        .rename_passkey(ada, key.id, "  Work key ")
        .await?;
    assert_eq!((renamed.id, renamed.name.as_str()), (key.id, "Work key"));
    // 100 characters, not bytes.
    let long = "é".repeat(100);
    let renamed = h.identity.rename_passkey(ada, key.id, &long).await?;
    assert_eq!(renamed.name, long);

    for bad in ["", "   ", &"x".repeat(101), "tab\there", "bell\u{7}"] {
        let refused = h.identity.rename_passkey(ada, key.id, bad).await;
        assert_refused_on(refused, Reason::InvalidArgument, "name");
    }
    let refused = h.identity.rename_passkey(grace, key.id, "Mine now").await;
    assert_refused(refused, Reason::NotFound);
    let refused = h
        .identity
        .rename_passkey(ada, Uuid::new_v4(), "Ghost")
        .await;
    assert_refused(refused, Reason::NotFound);

    let listed = h.identity.list_passkeys(ada).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, long, "no refusal changed the name");
    Ok(())
}

#[tokio::test]
async fn delete_removes_the_passkey_and_says_so() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    let grace = h.sign_up("grace@example.com").await?.user.id;
    let laptop = add(&h, ada, "Laptop").await?;
    let phone = add(&h, ada, "Phone").await?;
    let mut events = updates(&h, ada).await?;

    let refused = h.identity.delete_passkey(grace, laptop.id).await;
    assert_refused(refused, Reason::NotFound);
    assert_eq!(h.identity.list_passkeys(ada).await?.len(), 2);
    no_update(&mut events).await;

    h.identity.delete_passkey(ada, laptop.id).await?;
    assert_eq!(
        next_update(&mut events).await,
        (ada, vec!["passkeys".to_owned()])
    );
    let left: Vec<Uuid> = h
        .identity
        .list_passkeys(ada)
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(left, [phone.id]);
    assert!(
        h.passkeys
            .find_by_credential_id(&laptop.credential_id)
            .await?
            .is_none()
    );

    let again = h.identity.delete_passkey(ada, laptop.id).await;
    assert_refused(again, Reason::NotFound);
    no_update(&mut events).await;

    // With a password, the last passkey is not the last way in.
    h.identity.delete_passkey(ada, phone.id).await?;
    assert!(h.identity.list_passkeys(ada).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn delete_keeps_the_last_way_to_sign_in() -> Result<()> {
    for h in Harness::on_every_backend().await {
        let ada = passwordless(&h, "ada@example.com").await?;
        let first = add(&h, ada, "First").await?;
        let mut events = updates(&h, ada).await?;

        let refused = h.identity.delete_passkey(ada, first.id).await;
        assert_refused(refused, Reason::LastSignInMethod);
        assert_eq!(h.identity.list_passkeys(ada).await?, vec![first.clone()]);
        no_update(&mut events).await;

        let second = add(&h, ada, "Second").await?;
        h.identity.delete_passkey(ada, first.id).await?;
        assert_eq!(next_update(&mut events).await.0, ada);
        let refused = h.identity.delete_passkey(ada, second.id).await;
        assert_refused(refused, Reason::LastSignInMethod);
        assert_eq!(h.identity.list_passkeys(ada).await?, vec![second]);
    }
    Ok(())
}

/// A registration writes `user:updated` (`passkeys`) with the passkey; one
/// that fails (the ceremony spent) stores and writes nothing.
#[tokio::test]
async fn registering_a_passkey_writes_its_update_with_it() -> Result<()> {
    let h = Harness::new().await;
    let ada = h.sign_up("ada@example.com").await?.user.id;
    let mut events = updates(&h, ada).await?;
    let mut authenticator = latch_testkit::passkey::Authenticator::new("http://localhost:8080");
    let start = h.identity.start_passkey_registration(ada).await?;
    let created = authenticator
        .create(&start.creation_options_json)
        .expect("the authenticator creates a credential");
    let request = PasskeyRegistered {
        registration_id: start.registration_id.clone(),
        attestation_json: created.json,
        name: String::new(),
        second_factor: false,
    };

    h.identity
        .finish_passkey_registration(ada, request.clone())
        .await?;
    assert_eq!(
        next_update(&mut events).await,
        (ada, vec!["passkeys".to_owned()])
    );

    let again = h.identity.finish_passkey_registration(ada, request).await;
    assert_refused(again, Reason::TokenInvalid);
    assert_eq!(h.identity.list_passkeys(ada).await?.len(), 1);
    no_update(&mut events).await;
    Ok(())
}
