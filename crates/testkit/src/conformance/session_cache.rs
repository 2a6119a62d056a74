//! [`SessionCache`]: fill never overwrites, a tombstone always does.

use std::{sync::Arc, time::Duration};

use latch_domain::{
    UserId,
    ports::{CachedSession, SessionCache},
};

use super::{Time, sessions::new_session};

const LONG: Duration = Duration::from_secs(300);

fn valid(session: &latch_domain::model::Session) -> Option<CachedSession> {
    Some(CachedSession::Valid(Box::new(session.clone())))
}

pub async fn run(cache: Arc<dyn SessionCache>, time: Time) {
    let session = new_session(UserId::new(), 0);
    assert_eq!(cache.get(&session.id).await.expect("get"), None);

    cache.fill(&session, LONG).await.expect("fill");
    assert_eq!(cache.get(&session.id).await.expect("get"), valid(&session));

    // SET NX: a second fill leaves the first copy.
    let touched = latch_domain::model::Session {
        location: Some("elsewhere".into()),
        ..session.clone()
    };
    cache.fill(&touched, LONG).await.expect("fill again");
    assert_eq!(cache.get(&session.id).await.expect("get"), valid(&session));

    cache.tombstone(&session.id, LONG).await.expect("tombstone");
    assert_eq!(
        cache.get(&session.id).await.expect("get"),
        Some(CachedSession::Revoked)
    );
    cache
        .fill(&session, LONG)
        .await
        .expect("fill over a tombstone");
    assert_eq!(
        cache.get(&session.id).await.expect("get"),
        Some(CachedSession::Revoked),
        "a fill never re-caches a revoked session as valid"
    );

    // A tombstone for a session never cached still blocks later fills.
    let unseen = new_session(UserId::new(), 0);
    cache.tombstone(&unseen.id, LONG).await.expect("tombstone");
    cache.fill(&unseen, LONG).await.expect("fill");
    assert_eq!(
        cache.get(&unseen.id).await.expect("get"),
        Some(CachedSession::Revoked)
    );

    expires(&*cache, &time).await;
    a_racing_fill_never_outlives_a_tombstone(cache).await;
}

async fn expires(cache: &dyn SessionCache, time: &Time) {
    let short = new_session(UserId::new(), 0);
    cache.fill(&short, Time::SHORT_TTL).await.expect("fill");
    let revoked = new_session(UserId::new(), 0);
    cache
        .tombstone(&revoked.id, Time::SHORT_TTL)
        .await
        .expect("tombstone");
    let lasting = new_session(UserId::new(), 0);
    cache.fill(&lasting, LONG).await.expect("fill");

    time.pass_beyond_short_ttl().await;
    assert_eq!(cache.get(&short.id).await.expect("get"), None);
    assert_eq!(cache.get(&revoked.id).await.expect("get"), None);
    assert_eq!(cache.get(&lasting.id).await.expect("get"), valid(&lasting));

    // Once the tombstone is gone, the slot can be filled again.
    cache.fill(&revoked, LONG).await.expect("fill");
    assert_eq!(cache.get(&revoked.id).await.expect("get"), valid(&revoked));
}

async fn a_racing_fill_never_outlives_a_tombstone(cache: Arc<dyn SessionCache>) {
    for _ in 0..20 {
        let session = new_session(UserId::new(), 0);
        let filler = {
            let cache = cache.clone();
            let session = session.clone();
            tokio::spawn(async move { cache.fill(&session, LONG).await })
        };
        let revoker = {
            let cache = cache.clone();
            let id = session.id.clone();
            tokio::spawn(async move { cache.tombstone(&id, LONG).await })
        };
        filler.await.expect("fill task").expect("fill");
        revoker.await.expect("tombstone task").expect("tombstone");
        assert_eq!(
            cache.get(&session.id).await.expect("get"),
            Some(CachedSession::Revoked)
        );
    }
}
