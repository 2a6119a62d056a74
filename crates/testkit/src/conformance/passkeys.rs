//! [`PasskeyRepository`]: one holder per credential id, every column read
//! back as written, a use recorded only against the counter it was checked
//! with, the first clone mark kept, and never deleting a user's last way to
//! sign in, also when removals race. Unlinking an identity counts the
//! user's passkeys as a way in, and passkeys go with their user.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, UserId,
    model::{ExternalIdentity, PasskeyCredential, PasskeyRemoval, PasskeyUse, Unlinked},
    ports::{
        ExternalIdentityRepository, OutboxRepository, PasskeyRepository, UserAdminRepository,
        UserRepository,
    },
};
use uuid::Uuid;

use super::{assert_reason, now, outbox::message, race, users::new_user};

/// The stores the suite needs, all on one database.
pub struct Stores {
    pub users: Arc<dyn UserRepository>,
    pub admin: Arc<dyn UserAdminRepository>,
    pub identities: Arc<dyn ExternalIdentityRepository>,
    pub passkeys: Arc<dyn PasskeyRepository>,
    pub outbox: Arc<dyn OutboxRepository>,
}

pub async fn run(stores: Stores) {
    adds_and_finds(&stores).await;
    every_column_round_trips(&stores).await;
    one_holder_per_credential_id(&stores).await;
    lists_oldest_first(&stores).await;
    renames_only_own(&stores).await;
    records_a_use_against_its_counter(&stores).await;
    keeps_the_first_clone_mark(&stores).await;
    deletes_only_own(&stores).await;
    keeps_the_last_way_in(&stores).await;
    deletes_beside_another_way_in(&stores).await;
    racing_removals_keep_one(&stores).await;
    a_passkey_lets_the_last_identity_go(&stores).await;
    gone_with_the_user(&stores).await;
    follow_ups_come_only_with_a_change(&stores).await;
}

/// A fresh, random credential id (as authenticators make them).
fn credential_id() -> Vec<u8> {
    Uuid::new_v4().as_bytes().to_vec()
}

/// A passkey with default flags, as most registrations look.
pub fn passkey(user: UserId, name: &str) -> PasskeyCredential {
    PasskeyCredential {
        id: Uuid::now_v7(),
        user_id: user,
        credential_id: credential_id(),
        name: name.to_owned(),
        state: state(0),
        sign_count: 0,
        backup_eligible: false,
        backup_state: false,
        transports: Vec::new(),
        aaguid: None,
        second_factor: false,
        clone_suspected_at: None,
        created_at: now(),
        last_used_at: None,
    }
}

/// A stand-in for the webauthn-rs state: JSON the store must keep whole.
fn state(counter: u32) -> String {
    serde_json::json!({ "cred": { "counter": counter, "key": "pQECAyYgASFYIA" } }).to_string()
}

/// `found` is `expected`: the state as JSON (PostgreSQL's jsonb may
/// reorder keys or drop whitespace), every other field exactly.
#[track_caller]
fn assert_same(found: Option<PasskeyCredential>, expected: &PasskeyCredential) {
    let found = found.expect("the passkey is there");
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("state is JSON");
    assert_eq!(json(&found.state), json(&expected.state), "state");
    let found = PasskeyCredential {
        state: expected.state.clone(),
        ..found
    };
    assert_eq!(&found, expected);
}

/// A user of the same store: with a password (`true`) or without.
async fn user(stores: &Stores, password: bool) -> UserId {
    let mut user = new_user();
    if !password {
        user.password_hash = None;
    }
    stores.users.create(&user).await.expect("create user").id
}

fn identity(user: UserId, subject: &str) -> ExternalIdentity {
    ExternalIdentity {
        id: Uuid::now_v7(),
        user_id: user,
        provider: "corp".to_owned(),
        subject: subject.to_owned(),
        email: None,
        created_at: now(),
        last_used_at: None,
    }
}

async fn ids_of(stores: &Stores, user: UserId) -> Vec<Uuid> {
    let listed = stores.passkeys.list_for_user(user, 100).await;
    listed.expect("list").iter().map(|p| p.id).collect()
}

async fn adds_and_finds(stores: &Stores) {
    let (owner, other) = (user(stores, true).await, user(stores, true).await);
    let key = passkey(owner, "Laptop");
    stores.passkeys.add(&key, &[]).await.expect("add");

    let repo = &stores.passkeys;
    assert_same(
        repo.find_by_credential_id(&key.credential_id)
            .await
            .expect("find"),
        &key,
    );
    assert_eq!(
        repo.find_by_credential_id(&credential_id())
            .await
            .expect("find unknown"),
        None
    );
    assert_same(repo.get(owner, key.id).await.expect("get"), &key);
    assert_eq!(
        repo.get(other, key.id).await.expect("get as other"),
        None,
        "another user's passkey is not found"
    );
    assert_eq!(
        repo.get(owner, Uuid::now_v7()).await.expect("get unknown"),
        None
    );
}

async fn every_column_round_trips(stores: &Stores) {
    let owner = user(stores, true).await;
    let full = PasskeyCredential {
        sign_count: u32::MAX,
        state: state(u32::MAX),
        backup_eligible: true,
        backup_state: true,
        transports: vec!["usb".into(), "internal".into(), "hybrid".into()],
        aaguid: Some(Uuid::new_v4()),
        second_factor: true,
        clone_suspected_at: Some(now() + Duration::seconds(2)),
        last_used_at: Some(now() + Duration::seconds(1)),
        ..passkey(owner, "Security key with a long name: ünïcode ✓")
    };
    let eligible_only = PasskeyCredential {
        backup_eligible: true,
        transports: vec!["nfc".into()],
        ..passkey(owner, "Phone")
    };
    for key in [&full, &eligible_only] {
        stores.passkeys.add(key, &[]).await.expect("add");
        assert_same(stores.passkeys.get(owner, key.id).await.expect("get"), key);
    }
}

async fn one_holder_per_credential_id(stores: &Stores) {
    let (a, b) = (user(stores, true).await, user(stores, true).await);
    let first = passkey(a, "First");
    stores.passkeys.add(&first, &[]).await.expect("add");
    let again = PasskeyCredential {
        id: Uuid::now_v7(),
        ..first.clone()
    };
    assert_reason(
        stores.passkeys.add(&again, &[]).await,
        Reason::AlreadyExists,
    );
    let elsewhere = PasskeyCredential {
        id: Uuid::now_v7(),
        user_id: b,
        ..first.clone()
    };
    assert_reason(
        stores.passkeys.add(&elsewhere, &[]).await,
        Reason::AlreadyExists,
    );
    assert_reason(
        stores.passkeys.add(&first, &[]).await,
        Reason::AlreadyExists,
    );

    let found = stores.passkeys.find_by_credential_id(&first.credential_id);
    assert_eq!(found.await.expect("find").map(|p| p.id), Some(first.id));
    assert_eq!(ids_of(stores, a).await, vec![first.id]);
    assert!(ids_of(stores, b).await.is_empty());
}

async fn lists_oldest_first(stores: &Stores) {
    let owner = user(stores, true).await;
    let start = now();
    // Added newest first: the order comes from created_at, not insertion.
    let keys: Vec<_> = (0..3)
        .rev()
        .map(|i| PasskeyCredential {
            created_at: start + Duration::seconds(i),
            ..passkey(owner, &format!("Key {i}"))
        })
        .collect();
    for key in &keys {
        stores.passkeys.add(key, &[]).await.expect("add");
    }
    stores
        .passkeys
        .add(&passkey(user(stores, true).await, "Not theirs"), &[])
        .await
        .expect("add other");

    let oldest_first: Vec<Uuid> = keys.iter().rev().map(|k| k.id).collect();
    assert_eq!(ids_of(stores, owner).await, oldest_first);
    let two = stores.passkeys.list_for_user(owner, 2).await.expect("list");
    assert_eq!(
        two.iter().map(|p| p.id).collect::<Vec<_>>(),
        oldest_first[..2]
    );
    assert_same(two.into_iter().next(), &keys[2]);
    assert!(ids_of(stores, UserId::new()).await.is_empty());
}

async fn renames_only_own(stores: &Stores) {
    let (owner, other) = (user(stores, true).await, user(stores, true).await);
    let key = passkey(owner, "Old name");
    stores.passkeys.add(&key, &[]).await.expect("add");

    let renamed = stores.passkeys.rename(owner, key.id, "New name").await;
    let expected = PasskeyCredential {
        name: "New name".to_owned(),
        ..key.clone()
    };
    assert_same(renamed.expect("rename"), &expected);
    assert_same(
        stores.passkeys.get(owner, key.id).await.expect("get"),
        &expected,
    );

    let theirs = stores.passkeys.rename(other, key.id, "Stolen").await;
    assert_eq!(theirs.expect("rename as other"), None);
    let unknown = stores
        .passkeys
        .rename(owner, Uuid::now_v7(), "Nobody")
        .await;
    assert_eq!(unknown.expect("rename unknown"), None);
    assert_same(
        stores.passkeys.get(owner, key.id).await.expect("get"),
        &expected,
    );
}

async fn records_a_use_against_its_counter(stores: &Stores) {
    let owner = user(stores, true).await;
    let key = PasskeyCredential {
        sign_count: 7,
        state: state(7),
        backup_eligible: true,
        ..passkey(owner, "Counter")
    };
    stores.passkeys.add(&key, &[]).await.expect("add");

    let at = now() + Duration::minutes(1);
    let used = PasskeyUse {
        previous_count: 7,
        sign_count: 8,
        backup_state: true,
        state: state(8),
        at,
    };
    assert!(
        stores
            .passkeys
            .record_use(key.id, &used)
            .await
            .expect("use")
    );
    let after = PasskeyCredential {
        sign_count: 8,
        backup_state: true,
        state: state(8),
        last_used_at: Some(at),
        ..key.clone()
    };
    assert_same(
        stores.passkeys.get(owner, key.id).await.expect("get"),
        &after,
    );

    // The same counter again (a racing assertion, a replay): nothing changes.
    let stale = PasskeyUse {
        sign_count: 9,
        backup_state: false,
        state: state(9),
        at: at + Duration::minutes(1),
        ..used.clone()
    };
    assert!(
        !stores
            .passkeys
            .record_use(key.id, &stale)
            .await
            .expect("stale use")
    );
    assert_same(
        stores.passkeys.get(owner, key.id).await.expect("get"),
        &after,
    );
    assert!(
        !stores
            .passkeys
            .record_use(Uuid::now_v7(), &used)
            .await
            .expect("use unknown")
    );
}

async fn keeps_the_first_clone_mark(stores: &Stores) {
    let owner = user(stores, true).await;
    let key = passkey(owner, "Cloned");
    let untouched = passkey(owner, "Fine");
    for k in [&key, &untouched] {
        stores.passkeys.add(k, &[]).await.expect("add");
    }
    let first = now() + Duration::minutes(1);
    stores
        .passkeys
        .mark_clone_suspected(key.id, first)
        .await
        .expect("mark");
    stores
        .passkeys
        .mark_clone_suspected(key.id, first + Duration::minutes(1))
        .await
        .expect("mark again");
    stores
        .passkeys
        .mark_clone_suspected(Uuid::now_v7(), first)
        .await
        .expect("mark unknown");

    let marked = stores.passkeys.get(owner, key.id).await.expect("get");
    assert_eq!(marked.and_then(|p| p.clone_suspected_at), Some(first));
    assert_same(
        stores.passkeys.get(owner, untouched.id).await.expect("get"),
        &untouched,
    );
}

async fn deletes_only_own(stores: &Stores) {
    let (owner, other) = (user(stores, true).await, user(stores, true).await);
    let key = passkey(owner, "Mine");
    stores.passkeys.add(&key, &[]).await.expect("add");
    for (user, id) in [
        (other, key.id),
        (UserId::new(), key.id),
        (owner, Uuid::now_v7()),
    ] {
        assert_eq!(
            stores.passkeys.delete(user, id, &[]).await.expect("delete"),
            PasskeyRemoval::NotFound
        );
    }
    assert_eq!(ids_of(stores, owner).await, vec![key.id]);
    assert_eq!(
        stores
            .passkeys
            .delete(owner, key.id, &[])
            .await
            .expect("delete"),
        PasskeyRemoval::Removed,
        "a user with a password may delete the only passkey"
    );
    assert!(ids_of(stores, owner).await.is_empty());
    assert_eq!(
        stores
            .passkeys
            .find_by_credential_id(&key.credential_id)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        stores
            .passkeys
            .delete(owner, key.id, &[])
            .await
            .expect("delete again"),
        PasskeyRemoval::NotFound
    );
}

async fn keeps_the_last_way_in(stores: &Stores) {
    let owner = user(stores, false).await;
    let key = passkey(owner, "Only way in");
    stores.passkeys.add(&key, &[]).await.expect("add");
    assert_eq!(
        stores
            .passkeys
            .delete(owner, key.id, &[])
            .await
            .expect("delete"),
        PasskeyRemoval::LastSignInMethod
    );
    assert_same(stores.passkeys.get(owner, key.id).await.expect("get"), &key);
}

async fn deletes_beside_another_way_in(stores: &Stores) {
    // Another passkey: one of the two may go, then not the other.
    let owner = user(stores, false).await;
    let (first, second) = (passkey(owner, "First"), passkey(owner, "Second"));
    for key in [&first, &second] {
        stores.passkeys.add(key, &[]).await.expect("add");
    }
    assert_eq!(
        stores
            .passkeys
            .delete(owner, first.id, &[])
            .await
            .expect("delete"),
        PasskeyRemoval::Removed
    );
    assert_eq!(
        stores
            .passkeys
            .delete(owner, second.id, &[])
            .await
            .expect("delete"),
        PasskeyRemoval::LastSignInMethod
    );
    assert_eq!(ids_of(stores, owner).await, vec![second.id]);

    // A linked identity.
    let owner = user(stores, false).await;
    let key = passkey(owner, "Beside an identity");
    stores.passkeys.add(&key, &[]).await.expect("add");
    stores
        .identities
        .link(&identity(owner, &format!("pk-{}", owner.0)))
        .await
        .expect("link");
    assert_eq!(
        stores
            .passkeys
            .delete(owner, key.id, &[])
            .await
            .expect("delete"),
        PasskeyRemoval::Removed
    );
    assert!(ids_of(stores, owner).await.is_empty());
}

async fn racing_removals_keep_one(stores: &Stores) {
    // Two passkeys, both deleted at once.
    let owner = user(stores, false).await;
    let keys = [passkey(owner, "Race 1"), passkey(owner, "Race 2")];
    for key in &keys {
        stores.passkeys.add(key, &[]).await.expect("add");
    }
    let ids = [keys[0].id, keys[1].id];
    let repo = stores.passkeys.clone();
    let results = race(2, |i| {
        let repo = repo.clone();
        async move { repo.delete(owner, ids[i], &[]).await }
    })
    .await;
    // A loser may also be told to retry (a busy SQLite writer).
    let removed = results
        .iter()
        .filter(|r| matches!(r, Ok(PasskeyRemoval::Removed)))
        .count();
    assert_eq!(removed, 1, "{results:?}");
    assert_eq!(ids_of(stores, owner).await.len(), 1);

    // A passkey deleted while the only identity is unlinked.
    let owner = user(stores, false).await;
    let key = passkey(owner, "Race with an identity");
    let linked = identity(owner, &format!("race-{}", owner.0));
    stores.passkeys.add(&key, &[]).await.expect("add");
    stores.identities.link(&linked).await.expect("link");
    let (passkeys, identities) = (stores.passkeys.clone(), stores.identities.clone());
    let results = race(2, |i| {
        let (passkeys, identities) = (passkeys.clone(), identities.clone());
        async move {
            if i == 0 {
                passkeys
                    .delete(owner, key.id, &[])
                    .await
                    .map(|r| r == PasskeyRemoval::Removed)
            } else {
                identities
                    .unlink(owner, linked.id)
                    .await
                    .map(|r| r == Unlinked::Unlinked)
            }
        }
    })
    .await;
    let removed = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(removed, 1, "{results:?}");
    let left = ids_of(stores, owner).await.len()
        + stores
            .identities
            .list_for_user(owner, 10)
            .await
            .expect("list")
            .len();
    assert_eq!(left, 1);
}

async fn a_passkey_lets_the_last_identity_go(stores: &Stores) {
    let owner = user(stores, false).await;
    let linked = identity(owner, &format!("only-{}", owner.0));
    stores.identities.link(&linked).await.expect("link");
    let key = passkey(owner, "Stays");
    stores.passkeys.add(&key, &[]).await.expect("add");
    assert_eq!(
        stores
            .identities
            .unlink(owner, linked.id)
            .await
            .expect("unlink"),
        Unlinked::Unlinked
    );
    assert_eq!(ids_of(stores, owner).await, vec![key.id]);
    // Now the passkey is the last way in.
    assert_eq!(
        stores
            .passkeys
            .delete(owner, key.id, &[])
            .await
            .expect("delete"),
        PasskeyRemoval::LastSignInMethod
    );
}

async fn gone_with_the_user(stores: &Stores) {
    // Deleted outright (ON DELETE CASCADE).
    let owner = user(stores, true).await;
    let key = passkey(owner, "Leaving");
    stores.passkeys.add(&key, &[]).await.expect("add");
    assert!(stores.users.delete(owner).await.expect("delete user"));
    let found = stores.passkeys.find_by_credential_id(&key.credential_id);
    assert_eq!(found.await.expect("find"), None);

    // Tombstoned (DeleteUser): the passkeys go at once, and the purge of
    // the tombstone later finds nothing in its way.
    let owner = user(stores, false).await;
    let key = passkey(owner, "Erased");
    stores.passkeys.add(&key, &[]).await.expect("add");
    stores
        .admin
        .tombstone(owner, now(), &[], &[])
        .await
        .expect("tombstone");
    let found = stores.passkeys.find_by_credential_id(&key.credential_id);
    assert_eq!(found.await.expect("find"), None);
    assert!(ids_of(stores, owner).await.is_empty());
    assert!(stores.admin.purge(owner).await.expect("purge"));
    // The credential id is free again (a new account may register it).
    let again = passkey(user(stores, true).await, "Re-registered");
    let again = PasskeyCredential {
        credential_id: key.credential_id.clone(),
        ..again
    };
    stores.passkeys.add(&again, &[]).await.expect("add again");
}

/// Adding and deleting write their follow-up (the `user:updated`) in their
/// transaction; a refused add or delete writes none.
async fn follow_ups_come_only_with_a_change(stores: &Stores) {
    let rows = async |key: &str| stores.outbox.find_by_key(key).await.expect("rows").len();
    let unique_key = || format!("passkeys-{}", Uuid::new_v4().simple());
    let owner = user(stores, false).await;
    let key = passkey(owner, "Followed");

    let added = unique_key();
    let follow_up = [message("test.event", &added, now())];
    stores.passkeys.add(&key, &follow_up).await.expect("add");
    assert_eq!(rows(&added).await, 1);

    let duplicate = unique_key();
    let follow_up = [message("test.event", &duplicate, now())];
    assert_reason(
        stores.passkeys.add(&key, &follow_up).await,
        Reason::AlreadyExists,
    );
    assert_eq!(rows(&duplicate).await, 0, "a refused add writes nothing");

    let mut seen = Vec::new();
    for id in [Uuid::now_v7(), key.id] {
        let deleted = unique_key();
        let follow_up = [message("test.event", &deleted, now())];
        let removal = stores.passkeys.delete(owner, id, &follow_up).await;
        seen.push((removal.expect("delete"), rows(&deleted).await));
    }
    assert_eq!(
        seen,
        [
            (PasskeyRemoval::NotFound, 0),
            (PasskeyRemoval::LastSignInMethod, 0),
        ]
    );

    let spare = passkey(owner, "Spare");
    stores.passkeys.add(&spare, &[]).await.expect("add");
    let deleted = unique_key();
    let follow_up = [message("test.event", &deleted, now())];
    assert_eq!(
        stores
            .passkeys
            .delete(owner, key.id, &follow_up)
            .await
            .expect("delete"),
        PasskeyRemoval::Removed
    );
    assert_eq!(rows(&deleted).await, 1);
}
