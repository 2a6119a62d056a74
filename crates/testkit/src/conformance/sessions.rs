//! [`SessionRepository`]: records, listing, activity, revocation once.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, SessionId, UserId,
    model::{ClientInfo, DeviceInfo, Session},
    ports::SessionRepository,
};

use super::{assert_reason, now, race};

/// A live session of `user`, created `minutes` from now, for 30 days.
pub fn new_session(user: UserId, minutes: i64) -> Session {
    let at = now() + Duration::minutes(minutes);
    Session {
        id: SessionId::generate().expect("a session id"),
        user_id: user,
        client: ClientInfo {
            ip: Some("198.51.100.4".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into()),
        },
        device: DeviceInfo {
            browser: Some("Firefox".into()),
            os: Some("Linux".into()),
            device: Some("pc".into()),
        },
        location: Some("Lisbon, PT".into()),
        created_at: at,
        last_active_at: at,
        expires_at: at + Duration::days(30),
        revoked_at: None,
        revoked_reason: None,
    }
}

pub async fn run(repo: Arc<dyn SessionRepository>) {
    let user = UserId::new();
    let older = new_session(user, 0);
    let newer = Session {
        client: ClientInfo::default(),
        device: DeviceInfo::default(),
        location: None,
        ..new_session(user, 1)
    };
    let someone_else = new_session(UserId::new(), 2);
    for session in [&older, &newer, &someone_else] {
        repo.create(session).await.expect("create");
    }
    assert_reason(repo.create(&older).await, Reason::AlreadyExists);

    assert_eq!(repo.get(&older.id).await.expect("get"), Some(older.clone()));
    assert_eq!(repo.get(&newer.id).await.expect("get"), Some(newer.clone()));
    let unknown = SessionId::generate().expect("a session id");
    assert_eq!(repo.get(&unknown).await.expect("get"), None);
    assert_eq!(
        repo.list_for_user(user, false).await.expect("list"),
        vec![newer.clone(), older.clone()],
        "newest first, only the user's"
    );

    let active = older.last_active_at + Duration::minutes(10);
    assert!(repo.touch(&older.id, active).await.expect("touch"));
    let touched = repo.get(&older.id).await.expect("get").expect("exists");
    assert_eq!(touched.last_active_at, active);
    assert!(!repo.touch(&unknown, active).await.expect("touch unknown"));

    // Revocation happens once and returns the revoked record.
    let at = active + Duration::minutes(1);
    let revoked = repo
        .revoke(&older.id, at, "logout")
        .await
        .expect("revoke")
        .expect("this call revoked it");
    assert_eq!(
        revoked,
        Session {
            revoked_at: Some(at),
            revoked_reason: Some("logout".into()),
            ..touched
        }
    );
    assert_eq!(
        repo.get(&older.id).await.expect("get"),
        Some(revoked.clone())
    );
    assert_eq!(
        repo.revoke(&older.id, at, "again").await.expect("revoke"),
        None
    );
    assert_eq!(
        repo.revoke(&unknown, at, "logout").await.expect("revoke"),
        None
    );
    assert!(!repo.touch(&older.id, at).await.expect("touch revoked"));
    assert_eq!(
        repo.list_for_user(user, false).await.expect("list"),
        vec![newer.clone()]
    );
    assert_eq!(
        repo.list_for_user(user, true).await.expect("list"),
        vec![newer.clone(), revoked]
    );

    revokes_all_but_one(&*repo).await;
    one_of_racing_revocations_wins(repo).await;
}

async fn revokes_all_but_one(repo: &dyn SessionRepository) {
    let user = UserId::new();
    let keep = new_session(user, 0);
    let a = new_session(user, 1);
    let b = new_session(user, 2);
    let already = new_session(user, 3);
    let other = new_session(UserId::new(), 0);
    for session in [&keep, &a, &b, &already, &other] {
        repo.create(session).await.expect("create");
    }
    let at = now() + Duration::hours(1);
    repo.revoke(&already.id, at, "logout")
        .await
        .expect("revoke");

    let later = at + Duration::minutes(1);
    let mut revoked: Vec<SessionId> = repo
        .revoke_all_for_user(user, Some(&keep.id), later, "password_changed")
        .await
        .expect("revoke all")
        .into_iter()
        .map(|s| {
            assert_eq!(s.revoked_at, Some(later));
            assert_eq!(s.revoked_reason.as_deref(), Some("password_changed"));
            s.id
        })
        .collect();
    revoked.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(revoked, expected, "only live ones, never the kept one");
    assert_eq!(
        repo.list_for_user(user, false).await.expect("list"),
        vec![keep.clone()]
    );
    assert_eq!(
        repo.get(&already.id)
            .await
            .expect("get")
            .and_then(|s| s.revoked_reason),
        Some("logout".into()),
        "an earlier revocation stands"
    );
    assert_eq!(repo.get(&other.id).await.expect("get"), Some(other));

    let all = repo
        .revoke_all_for_user(user, None, later, "admin")
        .await
        .expect("revoke all");
    assert_eq!(
        all.into_iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![keep.id]
    );
    assert!(
        repo.revoke_all_for_user(user, None, later, "admin")
            .await
            .expect("revoke all")
            .is_empty()
    );
}

async fn one_of_racing_revocations_wins(repo: Arc<dyn SessionRepository>) {
    let session = new_session(UserId::new(), 0);
    repo.create(&session).await.expect("create");
    let results = race(8, |i| {
        let repo = repo.clone();
        let id = session.id.clone();
        async move { repo.revoke(&id, now(), &format!("racer {i}")).await }
    })
    .await;
    let won: Vec<Session> = results
        .into_iter()
        .filter_map(|r| r.expect("revoke"))
        .collect();
    assert_eq!(won.len(), 1);
    let stored = repo.get(&session.id).await.expect("get").expect("exists");
    assert_eq!(stored.revoked_reason, won[0].revoked_reason);
}
