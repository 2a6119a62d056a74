//! Revocation through the outbox, end to end.
//!
//! - The five services as separate servers on PostgreSQL + Redis: the token
//!   server is stopped, RevokeSession and Logout still succeed, the session
//!   stays dead once every cache has expired, and when a token server is
//!   back the session server's outbox worker revokes the refresh families.
//! - latchd on both backends: the families of a revoked session are revoked
//!   by the outbox worker; ListSessions pages with a cursor; ended sessions
//!   are deleted after the retention.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use latch_domain::{
    model::RefreshFamily,
    ports::{OutboxRepository, OutboxStatus, RefreshTokenRepository},
    secret::sha256,
};
use latch_proto::latch::{
    identity::v1::GetUserRequest,
    session::v1::{
        GetSessionRequest, ListSessionsRequest, RevokeSessionRequest, ValidateSessionRequest,
    },
    token::v1::RefreshTokensRequest,
};
use latch_runtime::config::MapSource;
use latch_store::{
    Database,
    sql::{SqlOutbox, SqlRefreshTokens},
};
use latch_tests::{
    TestLatchd, bearer, e2e, log_in, log_out, must, reason,
    separate::{FiveServers, Service},
    sign_up,
};
use tonic::Code;

/// The family of a refresh token, as stored.
async fn family_of(db: &Database, refresh_token: &str) -> RefreshFamily {
    SqlRefreshTokens::new(db.clone())
        .find_by_hash(&sha256(refresh_token))
        .await
        .expect("read the family")
        .expect("the family exists")
        .1
}

/// Polls until the family of `refresh_token` is revoked.
async fn eventually_revoked(db: &Database, refresh_token: &str, within: Duration) -> RefreshFamily {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let family = family_of(db, refresh_token).await;
        if family.revoked_at.is_some() {
            return family;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the family was not revoked within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_while_the_token_service_is_down_holds_and_completes_later() {
    let settings = MapSource::new()
        // Short caches, so "after the cache TTL" comes in a test's time.
        .with("LATCH_SESSION_CACHE_TTL", "1s")
        .with("LATCH_SESSION_LOCAL_CACHE_TTL", "0")
        .with("LATCH_OUTBOX_POLL_INTERVAL", "50ms")
        .with("LATCH_OUTBOX_RETRY_BACKOFF", "100ms");
    let Some(mut servers) = FiveServers::start(settings).await else {
        return;
    };
    let signed_up = sign_up(servers.identity(), "outbox@example.com")
        .await
        .auth
        .expect("tokens");
    let second = log_in(servers.identity(), "outbox@example.com").await;
    // Identity verifies bearer tokens against the token service's keys:
    // fetched now, while it is up, as a running deployment has them.
    must(
        servers
            .identity()
            .get_user(bearer(GetUserRequest::default(), &second.access_token))
            .await,
        "get user",
    );

    // The token service goes down.
    servers.stop(Service::Token).await;
    let err = servers
        .token()
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: signed_up.refresh_token.clone(),
            client: None,
        })
        .await
        .expect_err("the token service is down");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    // Both revocations succeed without it.
    must(
        servers
            .session()
            .revoke_session(servers.internal(RevokeSessionRequest {
                session_id: signed_up.session_id.clone(),
                reason: "lost phone".into(),
            }))
            .await,
        "RevokeSession with the token service down",
    );
    log_out(servers.identity(), &second.access_token).await;

    // Past the cache TTL the sessions are still dead: the database says so.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for id in [&signed_up.session_id, &second.session_id] {
        let validated = must(
            servers
                .session()
                .validate_session(servers.internal(ValidateSessionRequest {
                    session_id: id.clone(),
                }))
                .await,
            "validate",
        )
        .into_inner();
        assert!(!validated.valid, "revoked for good");
    }
    // The families wait for the token service, with the outbox row retrying.
    for refresh in [&signed_up.refresh_token, &second.refresh_token] {
        assert_eq!(family_of(servers.db(), refresh).await.revoked_at, None);
    }
    let outbox = SqlOutbox::new(servers.db().clone());
    let pending = must(
        outbox.find_by_key(&signed_up.session_id).await,
        "outbox rows",
    );
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, latch_session::follow_up::REVOKE_FAMILIES);
    assert_eq!(pending[0].status, OutboxStatus::Pending);
    assert!(
        pending[0].attempts >= 1 && pending[0].last_error.is_some(),
        "{pending:?}"
    );

    // A token server comes back on the same address: the outbox delivers.
    servers.restart(Service::Token).await;
    for refresh in [&signed_up.refresh_token, &second.refresh_token] {
        let family = eventually_revoked(servers.db(), refresh, Duration::from_secs(20)).await;
        assert!(family.revoked_reason.is_some());
        let err = servers
            .token()
            .refresh_tokens(RefreshTokensRequest {
                refresh_token: refresh.clone(),
                client: None,
            })
            .await
            .expect_err("a revoked session's refresh token is dead");
        assert_eq!(reason(&err), "SESSION_REVOKED");
    }
    let done = must(
        outbox.find_by_key(&signed_up.session_id).await,
        "outbox rows",
    );
    assert_eq!(done[0].status, OutboxStatus::Done);
}

/// A short cleanup interval and the shortest retention.
fn fast_follow_up() -> MapSource {
    MapSource::new()
        .with("LATCH_OUTBOX_POLL_INTERVAL", "20ms")
        .with("LATCH_SESSION_RETENTION", "1m")
        .with("LATCH_SESSION_CLEANUP_INTERVAL", "1s")
}

e2e!(settings = fast_follow_up;
    revoking_a_session_revokes_its_families_through_the_outbox,
    list_sessions_pages_with_a_cursor,
    ended_sessions_are_deleted_after_the_retention,
);

async fn revoking_a_session_revokes_its_families_through_the_outbox(latchd: TestLatchd) {
    let auth = latchd
        .sign_up("outbox-latchd@example.com")
        .await
        .auth
        .expect("auth");
    latchd.logout(&auth.access_token).await;
    let family = eventually_revoked(
        &latchd.infra.db,
        &auth.refresh_token,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(family.revoked_reason.as_deref(), Some("logout"));
    let rows = must(
        SqlOutbox::new(latchd.infra.db.clone())
            .find_by_key(&auth.session_id)
            .await,
        "outbox",
    );
    assert_eq!(rows.len(), 1);
    // Done is written just after the families are revoked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = must(
            SqlOutbox::new(latchd.infra.db.clone())
                .find_by_key(&auth.session_id)
                .await,
            "outbox",
        );
        if rows[0].status == OutboxStatus::Done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn list_sessions_pages_with_a_cursor(latchd: TestLatchd) {
    let email = "pages@example.com";
    let first = latchd.sign_up(email).await.auth.expect("auth");
    let mut ids = vec![first.session_id.clone()];
    for _ in 0..4 {
        // Each later session is more recently active.
        latchd.clock.advance(chrono::Duration::seconds(1));
        ids.push(latchd.login(email).await.session_id);
    }
    ids.reverse();

    let mut listed = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = must(
            latchd
                .session()
                .list_sessions(bearer(
                    ListSessionsRequest {
                        page_size: 2,
                        page_token: page_token.clone(),
                        ..Default::default()
                    },
                    &first.access_token,
                ))
                .await,
            "list sessions",
        )
        .into_inner();
        assert!(page.sessions.len() <= 2);
        listed.extend(page.sessions.into_iter().map(|s| s.id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed, ids, "most recently active first, each once");
    assert_eq!(pages, 3);

    let err = latchd
        .session()
        .list_sessions(bearer(
            ListSessionsRequest {
                page_token: "o2".into(),
                ..Default::default()
            },
            &first.access_token,
        ))
        .await
        .expect_err("not a token this server issued");
    assert_eq!(err.code(), Code::InvalidArgument);
}

async fn ended_sessions_are_deleted_after_the_retention(latchd: TestLatchd) {
    let email = "retention@example.com";
    let keeper = latchd.sign_up(email).await.auth.expect("auth");
    let gone = latchd.login(email).await;
    must(
        latchd
            .session()
            .revoke_session(bearer(
                RevokeSessionRequest {
                    session_id: gone.session_id.clone(),
                    reason: String::new(),
                },
                &keeper.access_token,
            ))
            .await,
        "revoke",
    );
    let get = |id: String| {
        let mut client = latchd.session();
        let request = bearer(GetSessionRequest { session_id: id }, &keeper.access_token);
        async move { client.get_session(request).await }
    };
    // Kept through the retention, for GetSession and incidents.
    let revoked = must(get(gone.session_id.clone()).await, "get").into_inner();
    assert!(revoked.session.and_then(|s| s.revoked_at).is_some());

    latchd.clock.advance(chrono::Duration::minutes(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match get(gone.session_id.clone()).await {
            Err(status) if status.code() == Code::NotFound => break,
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still there: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    must(
        get(keeper.session_id.clone()).await,
        "the live session stays",
    );
}
