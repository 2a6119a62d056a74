//! [`SessionRepository`]: records, paged listing, activity, revocation once
//! (alone and in batches), deletion of ended sessions in batches, the
//! revocation list.
//! The outbox rows written with revocations are [`super::outbox`]'s.

use std::sync::Arc;

use chrono::Duration;
use latch_domain::{
    Reason, SessionId, UserId,
    model::{
        ClientInfo, DeviceInfo, RevocationCursor, Session, SessionCursor, SessionQuery,
        SessionRevocation,
    },
    ports::{SessionRepository, no_follow_up},
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

/// Every stored session of `user`, in listing order.
pub fn everything() -> SessionQuery {
    SessionQuery {
        live_at: None,
        after: None,
        limit: 1_000,
    }
}

/// Starts with cleanup, which counts whole-table results: give it a
/// database of its own.
pub async fn run(repo: Arc<dyn SessionRepository>) {
    deletes_what_ended_in_batches(&*repo).await;
    records_touches_and_revokes_once(&*repo).await;
    lists_live_ones_in_pages(&*repo).await;
    revokes_all_but_one_in_batches(&*repo).await;
    one_of_racing_revocations_wins(repo.clone()).await;
    // Last: its pruning counts every entry the others left.
    lists_revocations_until_pruned(&*repo).await;
}

async fn records_touches_and_revokes_once(repo: &dyn SessionRepository) {
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
        repo.create(session, &[]).await.expect("create");
    }
    assert_reason(repo.create(&older, &[]).await, Reason::AlreadyExists);

    assert_eq!(repo.get(&older.id).await.expect("get"), Some(older.clone()));
    assert_eq!(repo.get(&newer.id).await.expect("get"), Some(newer.clone()));
    let unknown = SessionId::generate().expect("a session id");
    assert_eq!(repo.get(&unknown).await.expect("get"), None);
    assert_eq!(
        repo.list_for_user(user, &everything()).await.expect("list"),
        vec![newer.clone(), older.clone()],
        "most recently active first, only the user's"
    );

    // Activity moves a session to the front of the listing.
    let active = older.last_active_at + Duration::minutes(10);
    assert!(repo.touch(&older.id, active).await.expect("touch"));
    let touched = repo.get(&older.id).await.expect("get").expect("exists");
    assert_eq!(touched.last_active_at, active);
    assert!(!repo.touch(&unknown, active).await.expect("touch unknown"));
    assert_eq!(
        repo.list_for_user(user, &everything()).await.expect("list"),
        vec![touched.clone(), newer.clone()],
    );

    // Revocation happens once and returns the revoked record.
    let at = active + Duration::minutes(1);
    let revoked = repo
        .revoke(&older.id, at, "logout", &no_follow_up)
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
        repo.revoke(&older.id, at, "again", &no_follow_up)
            .await
            .expect("revoke"),
        None
    );
    assert_eq!(
        repo.revoke(&unknown, at, "logout", &no_follow_up)
            .await
            .expect("revoke"),
        None
    );
    assert!(!repo.touch(&older.id, at).await.expect("touch revoked"));
    let live = SessionQuery {
        live_at: Some((at, Duration::days(7))),
        ..everything()
    };
    assert_eq!(
        repo.list_for_user(user, &live).await.expect("list"),
        vec![newer.clone()]
    );
    assert_eq!(
        repo.list_for_user(user, &everything()).await.expect("list"),
        vec![revoked, newer]
    );
}

async fn lists_live_ones_in_pages(repo: &dyn SessionRepository) {
    let user = UserId::new();
    let start = now();
    // Five live sessions, two of them equally recent (the id breaks the tie).
    let mut live: Vec<Session> = (0..5).map(|i| new_session(user, i)).collect();
    live[3].last_active_at = live[4].last_active_at;
    let mut expired = new_session(user, 10);
    expired.expires_at = start + Duration::minutes(30);
    let mut idle = new_session(user, -60 * 24 * 8);
    idle.expires_at = start + Duration::days(20);
    let revoked = new_session(user, 11);
    for session in live.iter().chain([&expired, &idle, &revoked]) {
        repo.create(session, &[]).await.expect("create");
    }
    let at = start + Duration::hours(1);
    repo.revoke(&revoked.id, at, "logout", &no_follow_up)
        .await
        .expect("revoke");

    // The order of the tie is the database's (its collation), so the pages
    // are compared with one unpaged listing.
    let whole = SessionQuery {
        live_at: Some((at, Duration::days(7))),
        ..everything()
    };
    let expected = repo.list_for_user(user, &whole).await.expect("list");
    let mut ids: Vec<&SessionId> = expected.iter().map(|s| &s.id).collect();
    ids.sort();
    let mut live_ids: Vec<&SessionId> = live.iter().map(|s| &s.id).collect();
    live_ids.sort();
    assert_eq!(ids, live_ids, "expired, idle and revoked left out");
    assert!(
        expected
            .windows(2)
            .all(|w| w[0].last_active_at >= w[1].last_active_at),
        "most recently active first"
    );
    let mut paged = Vec::new();
    let mut after: Option<SessionCursor> = None;
    loop {
        let query = SessionQuery {
            live_at: Some((at, Duration::days(7))),
            after: after.clone(),
            limit: 2,
        };
        let page = repo.list_for_user(user, &query).await.expect("list");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(SessionCursor::after(last));
        paged.extend(page);
    }
    assert_eq!(paged, expected, "every live session once, in order");
    assert_eq!(
        repo.list_for_user(user, &everything())
            .await
            .expect("list")
            .len(),
        8
    );
}

async fn revokes_all_but_one_in_batches(repo: &dyn SessionRepository) {
    let user = UserId::new();
    let keep = new_session(user, 0);
    let others: Vec<Session> = (1..=5).map(|i| new_session(user, i)).collect();
    let already = new_session(user, 6);
    let stranger = new_session(UserId::new(), 0);
    for session in [&keep, &already, &stranger].into_iter().chain(&others) {
        repo.create(session, &[]).await.expect("create");
    }
    let at = now() + Duration::hours(1);
    repo.revoke(&already.id, at, "logout", &no_follow_up)
        .await
        .expect("revoke");

    let later = at + Duration::minutes(1);
    let mut revoked: Vec<SessionId> = Vec::new();
    loop {
        let batch = repo
            .revoke_all_for_user(
                user,
                Some(&keep.id),
                later,
                "password_changed",
                2,
                &no_follow_up,
            )
            .await
            .expect("revoke all");
        assert!(batch.len() <= 2, "a batch is bounded");
        if batch.is_empty() {
            break;
        }
        for session in batch {
            assert_eq!(session.revoked_at, Some(later));
            assert_eq!(session.revoked_reason.as_deref(), Some("password_changed"));
            revoked.push(session.id);
        }
    }
    revoked.sort();
    let mut expected: Vec<SessionId> = others.iter().map(|s| s.id.clone()).collect();
    expected.sort();
    assert_eq!(
        revoked, expected,
        "only live ones, each once, never the kept one"
    );
    let live = SessionQuery {
        live_at: Some((later, Duration::days(7))),
        ..everything()
    };
    assert_eq!(
        repo.list_for_user(user, &live).await.expect("list"),
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
    assert_eq!(repo.get(&stranger.id).await.expect("get"), Some(stranger));

    let all = repo
        .revoke_all_for_user(user, None, later, "admin", 100, &no_follow_up)
        .await
        .expect("revoke all");
    assert_eq!(
        all.into_iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![keep.id]
    );
    assert!(
        repo.revoke_all_for_user(user, None, later, "admin", 100, &no_follow_up)
            .await
            .expect("revoke all")
            .is_empty()
    );
}

async fn one_of_racing_revocations_wins(repo: Arc<dyn SessionRepository>) {
    let session = new_session(UserId::new(), 0);
    repo.create(&session, &[]).await.expect("create");
    let results = race(8, |i| {
        let repo = repo.clone();
        let id = session.id.clone();
        async move {
            repo.revoke(&id, now(), &format!("racer {i}"), &no_follow_up)
                .await
        }
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

/// Sessions revoked, past their end or idle before the cut-offs go, a
/// bounded batch at a time; the rest stays.
async fn deletes_what_ended_in_batches(repo: &dyn SessionRepository) {
    let t0 = now();
    let cutoff = t0 + Duration::days(60);
    let idle_cutoff = cutoff - Duration::days(7);
    let user = UserId::new();
    let mut doomed = Vec::new();
    // Revoked long ago, though its absolute end is far away.
    for _ in 0..3 {
        let mut s = new_session(user, 0);
        s.expires_at = t0 + Duration::days(365);
        s.last_active_at = cutoff;
        repo.create(&s, &[]).await.expect("create");
        repo.revoke(&s.id, t0, "logout", &no_follow_up)
            .await
            .expect("revoke");
        doomed.push(s.id);
    }
    // Past its absolute end.
    let ended = new_session(user, 0);
    repo.create(&ended, &[]).await.expect("create");
    doomed.push(ended.id);
    // Idle for too long, its absolute end still ahead.
    let mut idle = new_session(user, 0);
    idle.expires_at = t0 + Duration::days(365);
    repo.create(&idle, &[]).await.expect("create");
    doomed.push(idle.id);

    let mut kept = Vec::new();
    // Live, active after the idle cut-off.
    let mut live = new_session(user, 0);
    live.expires_at = t0 + Duration::days(365);
    live.last_active_at = idle_cutoff + Duration::minutes(1);
    repo.create(&live, &[]).await.expect("create");
    kept.push(live.id.clone());
    // Revoked after the cut-off.
    let mut recent = live.clone();
    recent.id = SessionId::generate().expect("a session id");
    repo.create(&recent, &[]).await.expect("create");
    repo.revoke(
        &recent.id,
        cutoff + Duration::minutes(1),
        "logout",
        &no_follow_up,
    )
    .await
    .expect("revoke");
    kept.push(recent.id);

    let mut batches = Vec::new();
    loop {
        let deleted = repo
            .delete_ended(cutoff, idle_cutoff, 2)
            .await
            .expect("delete ended");
        batches.push(deleted);
        if deleted < 2 {
            break;
        }
    }
    assert_eq!(batches.iter().sum::<u64>(), 5, "batches {batches:?}");
    assert!(batches.iter().all(|&n| n <= 2), "batches {batches:?}");
    for id in &doomed {
        assert_eq!(repo.get(id).await.expect("get"), None, "deleted");
    }
    for id in &kept {
        assert!(repo.get(id).await.expect("get").is_some(), "kept");
    }
    assert_eq!(
        repo.delete_ended(cutoff, idle_cutoff, 2)
            .await
            .expect("again"),
        0,
        "idempotent"
    );
}

/// Every revocation enters the list once, with its time; the list reads
/// oldest first from a time on, in pages; an entry outlives its session
/// row and goes when pruned, a bounded batch at a time.
async fn lists_revocations_until_pruned(repo: &dyn SessionRepository) {
    // After every revocation the other checks made.
    let base = now() + Duration::days(1000);
    let later = base + Duration::minutes(1);
    let user = UserId::new();
    let sessions: Vec<Session> = (0..3).map(|i| new_session(user, i)).collect();
    for session in &sessions {
        repo.create(session, &[]).await.expect("create");
    }
    repo.revoke(&sessions[0].id, base, "logout", &no_follow_up)
        .await
        .expect("revoke");
    let batch = repo
        .revoke_all_for_user(user, None, later, "admin", 10, &no_follow_up)
        .await
        .expect("revoke all");
    assert_eq!(batch.len(), 2);
    let again = repo
        .revoke(&sessions[0].id, later, "logout", &no_follow_up)
        .await
        .expect("revoke again");
    assert_eq!(again, None, "revoked once, listed once");

    let entry = |session: &Session, at| SessionRevocation {
        session_id: session.id.clone(),
        revoked_at: at,
    };
    let mut together = vec![entry(&sessions[1], later), entry(&sessions[2], later)];
    together.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let mut expected = vec![entry(&sessions[0], base)];
    expected.extend(together);
    let list = |since, after: Option<RevocationCursor>, limit| async move {
        repo.list_revocations(since, after.as_ref(), limit)
            .await
            .expect("list revocations")
    };
    assert_eq!(list(base, None, 10).await, expected);
    assert_eq!(list(later, None, 10).await, expected[1..], "from a time on");
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = list(base, after, 1).await;
        assert!(page.len() <= 1, "a page is bounded");
        let Some(last) = page.last() else { break };
        after = Some(RevocationCursor::after(last));
        paged.extend(page);
    }
    assert_eq!(paged, expected, "pages neither repeat nor skip");

    assert_eq!(repo.delete_for_user(user, 100).await.expect("delete"), 3);
    assert_eq!(
        list(base, None, 10).await,
        expected,
        "the list outlives the rows"
    );

    loop {
        let deleted = repo
            .delete_revocations(later, 2)
            .await
            .expect("delete revocations");
        assert!(deleted <= 2, "a batch is bounded");
        if deleted < 2 {
            break;
        }
    }
    assert_eq!(
        list(now() - Duration::days(1), None, 10).await,
        expected[1..]
    );
}
