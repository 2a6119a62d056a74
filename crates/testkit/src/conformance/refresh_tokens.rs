//! [`RefreshTokenRepository`]: families, rotation that exactly one racer
//! wins and that a revoked or ended family refuses, revocation, cleanup.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    FamilyId, Reason, SessionId, TokenId, UserId,
    model::{RefreshFamily, RefreshToken},
    ports::RefreshTokenRepository,
    secret::Secret,
};

use super::{assert_reason, now, race};

/// A random 32-byte value standing for a SHA-256.
pub fn random_hash() -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash
}

/// A live family of a new session, created at `at`, for 14 days.
pub fn new_family(at: DateTime<Utc>) -> RefreshFamily {
    RefreshFamily {
        id: FamilyId::new(),
        user_id: UserId::new(),
        session_id: SessionId::generate().expect("a session id"),
        created_at: at,
        expires_at: at + Duration::days(14),
        revoked_at: None,
        revoked_reason: None,
    }
}

/// An unspent token of `family`, child of `parent`.
pub fn new_token(
    family: &RefreshFamily,
    parent: Option<TokenId>,
    at: DateTime<Utc>,
) -> RefreshToken {
    RefreshToken {
        id: TokenId::new(),
        family_id: family.id,
        token_hash: random_hash(),
        parent_id: parent,
        user_agent: Some("latch-test/1.0".into()),
        ip_hash: Some(random_hash()),
        created_at: at,
        expires_at: family.expires_at,
        spent_at: None,
        successor_salt: Some(Secret::new(random_hash())),
    }
}

/// Starts with cleanup, which counts whole-table results: give it a
/// database of its own.
pub async fn run(repo: Arc<dyn RefreshTokenRepository>) {
    deletes_what_ended(&*repo).await;
    creates_and_finds(&*repo).await;
    rotates_once(&*repo).await;
    refuses_to_rotate_in_an_ended_family(&*repo).await;
    one_of_racing_rotations_wins(repo.clone()).await;
    revokes(&*repo).await;
}

async fn deletes_what_ended(repo: &dyn RefreshTokenRepository) {
    let t0 = now() - Duration::days(60);
    let expired = RefreshFamily {
        expires_at: t0 + Duration::hours(1),
        ..new_family(t0)
    };
    let revoked = new_family(t0);
    let live = new_family(t0 + Duration::days(59));
    let (expired_token, revoked_token, live_token) = (
        new_token(&expired, None, t0),
        new_token(&revoked, None, t0),
        new_token(&live, None, t0 + Duration::days(59)),
    );
    repo.create_family(&expired, &expired_token)
        .await
        .expect("create");
    repo.create_family(&revoked, &revoked_token)
        .await
        .expect("create");
    repo.create_family(&live, &live_token)
        .await
        .expect("create");
    assert!(
        repo.revoke_family(revoked.id, t0 + Duration::hours(2), "logout", &[])
            .await
            .expect("revoke")
    );
    let read = repo
        .get_family(revoked.id)
        .await
        .expect("get family")
        .expect("exists");
    assert_eq!(read.revoked_reason.as_deref(), Some("logout"));
    assert_eq!(read.revoked_at, Some(t0 + Duration::hours(2)));
    assert_eq!(
        repo.get_family(FamilyId::new()).await.expect("get unknown"),
        None
    );

    let deleted = repo
        .delete_expired(t0 + Duration::hours(3))
        .await
        .expect("delete expired");
    assert_eq!(deleted, 2);
    assert_eq!(
        repo.find_by_hash(&expired_token.token_hash)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        repo.find_by_hash(&revoked_token.token_hash)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        repo.find_by_hash(&live_token.token_hash)
            .await
            .expect("find"),
        Some((live_token, live))
    );
    assert_eq!(
        repo.delete_expired(t0 + Duration::hours(3))
            .await
            .expect("again"),
        0
    );
}

async fn creates_and_finds(repo: &dyn RefreshTokenRepository) {
    let at = now();
    let family = new_family(at);
    // Every optional column empty, as on a row written before salts.
    let first = RefreshToken {
        user_agent: None,
        ip_hash: None,
        successor_salt: None,
        ..new_token(&family, None, at)
    };
    repo.create_family(&family, &first).await.expect("create");
    assert_eq!(
        repo.find_by_hash(&first.token_hash).await.expect("find"),
        Some((first.clone(), family.clone()))
    );
    assert_eq!(repo.find_by_hash(&random_hash()).await.expect("find"), None);

    // Family and first token are written together or not at all: a token
    // whose hash is taken leaves no family behind.
    let orphan = new_family(at);
    let clashing = RefreshToken {
        token_hash: first.token_hash,
        ..new_token(&orphan, None, at)
    };
    assert_reason(
        repo.create_family(&orphan, &clashing).await,
        Reason::AlreadyExists,
    );
    assert!(
        !repo
            .revoke_family(orphan.id, at, "probe", &[])
            .await
            .expect("revoke"),
        "the family was rolled back"
    );
}

async fn rotates_once(repo: &dyn RefreshTokenRepository) {
    let at = now();
    let family = new_family(at);
    let first = new_token(&family, None, at);
    repo.create_family(&family, &first).await.expect("create");

    let later = at + Duration::minutes(15);
    let successor = new_token(&family, Some(first.id), later);
    assert!(
        repo.rotate(first.id, later, &successor)
            .await
            .expect("rotate")
    );
    let (spent, _) = repo
        .find_by_hash(&first.token_hash)
        .await
        .expect("find")
        .expect("still stored");
    assert_eq!(spent.spent_at, Some(later));
    assert_eq!(
        repo.find_by_hash(&successor.token_hash)
            .await
            .expect("find"),
        Some((successor.clone(), family.clone()))
    );

    // The spent token cannot be rotated again, and the loser writes nothing.
    let second_try = new_token(&family, Some(first.id), later);
    assert!(
        !repo
            .rotate(first.id, later, &second_try)
            .await
            .expect("rotate")
    );
    assert_eq!(
        repo.find_by_hash(&second_try.token_hash)
            .await
            .expect("find"),
        None
    );
    let (spent_again, _) = repo
        .find_by_hash(&first.token_hash)
        .await
        .expect("find")
        .expect("still stored");
    assert_eq!(spent_again.spent_at, Some(later), "the first spend stands");

    assert!(
        !repo
            .rotate(TokenId::new(), later, &new_token(&family, None, later))
            .await
            .expect("rotate unknown")
    );
}

/// A family revoked between the lookup of a token and its rotation (a
/// logout racing a refresh), or ended by then, gets no successor.
async fn refuses_to_rotate_in_an_ended_family(repo: &dyn RefreshTokenRepository) {
    let at = now();
    let later = at + Duration::minutes(1);

    let revoked = new_family(at);
    let first = new_token(&revoked, None, at);
    repo.create_family(&revoked, &first).await.expect("create");
    let (looked_up, _) = repo
        .find_by_hash(&first.token_hash)
        .await
        .expect("find")
        .expect("stored");
    assert!(
        repo.revoke_family(revoked.id, at, "logout", &[])
            .await
            .expect("revoke")
    );
    let successor = new_token(&revoked, Some(looked_up.id), later);
    assert!(
        !repo
            .rotate(looked_up.id, later, &successor)
            .await
            .expect("rotate"),
        "a revoked family rotates nothing"
    );
    assert_eq!(
        repo.find_by_hash(&successor.token_hash)
            .await
            .expect("find"),
        None,
        "no successor was written"
    );
    let (unspent, _) = repo
        .find_by_hash(&first.token_hash)
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(unspent.spent_at, None, "the token was not spent either");

    let ending = RefreshFamily {
        expires_at: at + Duration::minutes(1),
        ..new_family(at)
    };
    let first = new_token(&ending, None, at);
    repo.create_family(&ending, &first).await.expect("create");
    let successor = new_token(&ending, Some(first.id), ending.expires_at);
    assert!(
        !repo
            .rotate(first.id, ending.expires_at, &successor)
            .await
            .expect("rotate"),
        "a family rotates nothing at its end"
    );
    assert_eq!(
        repo.find_by_hash(&successor.token_hash)
            .await
            .expect("find"),
        None
    );
    // Just before its end it still rotates, and the salt round-trips.
    let before_end = ending.expires_at - Duration::seconds(1);
    let successor = new_token(&ending, Some(first.id), before_end);
    assert!(
        repo.rotate(first.id, before_end, &successor)
            .await
            .expect("rotate")
    );
    assert_eq!(
        repo.find_by_hash(&successor.token_hash)
            .await
            .expect("find"),
        Some((successor.clone(), ending.clone()))
    );
}

async fn one_of_racing_rotations_wins(repo: Arc<dyn RefreshTokenRepository>) {
    const RACERS: usize = 16;
    let at = now();
    let family = new_family(at);
    let first = new_token(&family, None, at);
    repo.create_family(&family, &first).await.expect("create");

    let successors: Vec<RefreshToken> = (0..RACERS)
        .map(|_| new_token(&family, Some(first.id), at))
        .collect();
    let results = race(RACERS, |i| {
        let repo = repo.clone();
        let successor = successors[i].clone();
        async move { repo.rotate(first.id, at, &successor).await }
    })
    .await;
    let winners: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.expect("a losing rotation is false, not an error")
                .then_some(i)
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins");

    for (i, successor) in successors.iter().enumerate() {
        let stored = repo
            .find_by_hash(&successor.token_hash)
            .await
            .expect("find");
        assert_eq!(stored.is_some(), i == winners[0], "successor {i}");
    }
}

async fn revokes(repo: &dyn RefreshTokenRepository) {
    let at = now();
    let family = new_family(at);
    repo.create_family(&family, &new_token(&family, None, at))
        .await
        .expect("create");
    assert!(
        repo.revoke_family(family.id, at, "refresh_token_reused", &[])
            .await
            .expect("revoke")
    );
    assert!(
        !repo
            .revoke_family(family.id, at, "again", &[])
            .await
            .expect("revoke")
    );
    assert!(
        !repo
            .revoke_family(FamilyId::new(), at, "unknown", &[])
            .await
            .expect("revoke")
    );

    // Two families of one session (a re-issue), one of another session of
    // the same user.
    let session = new_family(at);
    let sibling = RefreshFamily {
        id: FamilyId::new(),
        ..session.clone()
    };
    let other_session = RefreshFamily {
        id: FamilyId::new(),
        session_id: SessionId::generate().expect("a session id"),
        ..session.clone()
    };
    let tokens: Vec<RefreshToken> = [&session, &sibling, &other_session]
        .iter()
        .map(|f| new_token(f, None, at))
        .collect();
    for (family, token) in [&session, &sibling, &other_session].iter().zip(&tokens) {
        repo.create_family(family, token).await.expect("create");
    }

    let later = at + Duration::minutes(1);
    assert_eq!(
        repo.revoke_families_of_session(&session.session_id, later, "logout")
            .await
            .expect("revoke session"),
        2
    );
    assert_eq!(
        repo.revoke_families_of_session(&session.session_id, later, "logout")
            .await
            .expect("revoke session again"),
        0
    );
    let (_, revoked) = repo
        .find_by_hash(&tokens[0].token_hash)
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(revoked.revoked_at, Some(later));
    assert_eq!(revoked.revoked_reason.as_deref(), Some("logout"));
    let (_, untouched) = repo
        .find_by_hash(&tokens[2].token_hash)
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(untouched.revoked_at, None);

    assert_eq!(
        repo.revoke_families_of_user(session.user_id, later, "password_reset")
            .await
            .expect("revoke user"),
        1,
        "only the one still live"
    );
    assert_eq!(
        repo.revoke_families_of_user(session.user_id, later, "password_reset")
            .await
            .expect("revoke user again"),
        0
    );
}
